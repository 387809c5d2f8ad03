/* vnode.c - inode numbers for provider paths (see vtree.h).
 *
 * Two chained hash tables over one set of records: by inode and by full
 * path.  A record lives while the kernel holds a lookup reference; inode
 * numbers are never reused within a mount, so a stale handle can never
 * reach another path.  Memory is bounded by what the kernel caches.
 *
 * A generated file whose content follows the store has one record per
 * version (vtree.h, "Versions"): only the newest is reachable by path,
 * and each keeps its version's attributes (and its cache file) until the
 * kernel forgets it.
 * Each record also says how the kernel reads its open handles: through
 * the page cache, or by passthrough from the content's cache file (the
 * backing id registered at its first open, closed at its last release).
 * The table also notes the opens it refused as superseded, until the
 * kernel's retry of each opens (vtree.h, vnode_refused).
 *
 * Ownership: the table (c->vt) is created by state_init() before the
 * session and freed by state_free() after it (dropping the content
 * references its records hold).  Locking: t->mu guards the tables and
 * every record; the lookup helpers assert it (debug builds).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "passthrough.h"
#include "vtree.h"

struct vnode {
  struct vnode *next_ino, *next_path;
  uint64_t ino;
  uint64_t nlookup;
  uint64_t key;          /* the one content version it stands for, or 0 */
  uint64_t size;         /* ... its size (VNODE_SIZE_UNKNOWN until known) */
  int64_t mtime_ns;      /* ... and modification time */
  struct gen_content *pin;  /* ... the content if in a cache file */
  uint64_t verified;     /* store version (+1) at which a lookup found
                            `key` current for the path, or 0 */
  unsigned opened;       /* handles open on it */
  int backing;           /* while opened: passthrough backing id, or 0 */
  bool attached;         /* reachable by path */
  bool dir;              /* a directory (vnode_set_dir) */
  char path[];
};

/* Retries of opens refused as superseded, one per thread and path: the
 * thread's id, the path's hash, the inode the thread's latest lookup of
 * the path gave since the refusal (0: none yet) with a reference to its
 * content when the inode holds none (small content, which the cache may
 * drop before the OPEN comes), and an age for eviction (seq; 0: a free
 * slot).  No clock: the kernel's retry may reach us any time later on a
 * loaded machine (vtree.h). */
#define VNODE_RETRIES 256

struct vnode_retry {
  uint64_t path_hash;
  uint64_t ino;
  uint64_t seq;
  struct gen_content *g;
  uint32_t pid;
};

struct vnode_table {
  pthread_mutex_t mu;
  struct vnode **by_ino, **by_path;
  size_t cap, n;
  uint64_t next;
  struct vnode_retry retry[VNODE_RETRIES];
  unsigned nretry;       /* slots in use */
  uint64_t retry_seq;    /* the latest refusal's seq */
  /* The store version last read by an open's check, and the commit its
   * transaction saw (+1; 0: none yet): while no commit came after it,
   * the version is known without a transaction (vnode_verified_now). */
  uint64_t seen_commit, seen_ver;
};

static size_t ino_slot(const struct vnode_table *t, uint64_t ino)
{
  return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 17) & (t->cap - 1);
}

int vnode_table_new(struct fs_ctx *c)
{
  struct vnode_table *t = calloc(1, sizeof(*t));

  t->cap = 1024;
  t->by_ino = calloc(t->cap, sizeof(*t->by_ino));
  t->by_path = calloc(t->cap, sizeof(*t->by_path));
  if (!t->by_ino || !t->by_path) {
    free(t->by_ino);
    free(t->by_path);
    free(t);
    return -ENOMEM;
  }
  pthread_mutex_init(&t->mu, NULL);
  t->next = 1;
  c->vt = t;
  return 0;
}

static void grow(struct vnode_table *t)
{
  size_t ncap = t->cap * 2;
  struct vnode **bi = calloc(ncap, sizeof(*bi)), **bp = calloc(ncap, sizeof(*bp));
  struct vnode **obi = t->by_ino, **obp = t->by_path;
  size_t ocap = t->cap;

  VTREE_ASSERT_HELD(&t->mu);
  if (!bi || !bp) {
    free(bi);
    free(bp);
    return;  /* keep the old, longer chains */
  }
  t->by_ino = bi;
  t->by_path = bp;
  t->cap = ncap;
  for (size_t i = 0; i < ocap; i++) {
    for (struct vnode *v = obi[i], *nx; v; v = nx) {
      size_t s = ino_slot(t, v->ino);
      nx = v->next_ino;
      v->next_ino = bi[s];
      bi[s] = v;
    }
    for (struct vnode *v = obp[i], *nx; v; v = nx) {
      size_t s = hash_str_fnv1a(v->path) & (ncap - 1);
      nx = v->next_path;
      v->next_path = bp[s];
      bp[s] = v;
    }
  }
  free(obi);
  free(obp);
}

static struct vnode *find_ino(struct vnode_table *t, uint64_t ino)
{
  struct vnode *v = t->by_ino[ino_slot(t, ino)];

  VTREE_ASSERT_HELD(&t->mu);  while (v && v->ino != ino)
    v = v->next_ino;
  return v;
}

static struct vnode *find_path(struct vnode_table *t, const char *path)
{
  struct vnode *v = t->by_path[hash_str_fnv1a(path) & (t->cap - 1)];

  VTREE_ASSERT_HELD(&t->mu);  while (v && strcmp(v->path, path) != 0)
    v = v->next_path;
  return v;
}

static void unlink_path(struct vnode_table *t, struct vnode *v)
{
  struct vnode **pp = &t->by_path[hash_str_fnv1a(v->path) & (t->cap - 1)];

  VTREE_ASSERT_HELD(&t->mu);  while (*pp && *pp != v)
    pp = &(*pp)->next_path;
  if (*pp)
    *pp = v->next_path;
  v->attached = false;
}

uint64_t vnode_ino(struct fs_ctx *c, const char *path, uint64_t key)
{
  struct vnode_table *t = c->vt;
  struct vnode *v;
  uint64_t ino = 0;
  size_t pl = strlen(path);

  pthread_mutex_lock(&t->mu);
  v = find_path(t, path);
  if (v && v->key != key) {
    /* Another version: this name now leads to a fresh inode, and the old
     * one stays with its readers until the kernel forgets it. */
    unlink_path(t, v);
    v = NULL;
  }
  if (!v) {
    v = calloc(1, sizeof(*v) + pl + 1);
    if (v) {
      size_t s;
      if (t->n + 1 > t->cap)
        grow(t);
      memcpy(v->path, path, pl + 1);
      v->key = key;
      v->size = VNODE_SIZE_UNKNOWN;
      v->ino = node_ino(NODE_VNODE, t->next++, 0);
      v->attached = true;
      s = ino_slot(t, v->ino);
      v->next_ino = t->by_ino[s];
      t->by_ino[s] = v;
      s = hash_str_fnv1a(path) & (t->cap - 1);
      v->next_path = t->by_path[s];
      t->by_path[s] = v;
      t->n++;
    }
  }
  if (v) {
    v->nlookup++;
    ino = v->ino;
  }
  pthread_mutex_unlock(&t->mu);
  return ino;
}

uint64_t vnode_lookup_verified(struct fs_ctx *c, const char *path,
                               uint64_t ver)
{
  struct vnode_table *t = c->vt;
  struct vnode *v;
  uint64_t ino = 0;

  if (!ver)
    return 0;
  pthread_mutex_lock(&t->mu);
  v = find_path(t, path);
  if (v && v->key && v->verified == ver && v->size != VNODE_SIZE_UNKNOWN) {
    v->nlookup++;
    ino = v->ino;
  }
  pthread_mutex_unlock(&t->mu);
  return ino;
}

void vnode_set_verified(struct fs_ctx *c, uint64_t ino, uint64_t ver)
{
  struct vnode_table *t = c->vt;
  struct vnode *v;

  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  if (v && v->attached)
    v->verified = ver;
  pthread_mutex_unlock(&t->mu);
}

bool vnode_is_verified(struct fs_ctx *c, uint64_t ino, uint64_t ver)
{
  struct vnode_table *t = c->vt;
  struct vnode *v;
  bool ok;

  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  ok = ver && v && v->attached && v->verified == ver;
  pthread_mutex_unlock(&t->mu);
  return ok;
}

void vnode_note_version(struct fs_ctx *c, uint64_t commit, uint64_t ver)
{
  struct vnode_table *t = c->vt;

  pthread_mutex_lock(&t->mu);
  t->seen_commit = commit + 1;
  t->seen_ver = ver;
  pthread_mutex_unlock(&t->mu);
}

bool vnode_verified_now(struct fs_ctx *c, uint64_t ino, uint64_t commit)
{
  struct vnode_table *t = c->vt;
  struct vnode *v;
  bool ok;

  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  ok = t->seen_commit == commit + 1 && t->seen_ver && v && v->attached &&
       v->verified == t->seen_ver;
  pthread_mutex_unlock(&t->mu);
  return ok;
}

/* The note of thread pid's retry of the path whose hash is h, or NULL. */
static struct vnode_retry *retry_of(struct vnode_table *t, uint32_t pid,
                                    uint64_t h)
{
  VTREE_ASSERT_HELD(&t->mu);
  if (t->nretry == 0)
    return NULL;  /* the usual case: no open was refused */
  for (unsigned i = 0; i < VNODE_RETRIES; i++)
    if (t->retry[i].seq && t->retry[i].pid == pid &&
        t->retry[i].path_hash == h)
      return &t->retry[i];
  return NULL;
}

static void retry_free(struct vnode_table *t, struct vnode_retry *r)
{
  VTREE_ASSERT_HELD(&t->mu);
  gen_put(r->g);
  memset(r, 0, sizeof(*r));
  t->nretry--;
}

void vnode_refused(struct fs_ctx *c, uint64_t ino, uint32_t pid)
{
  struct vnode_table *t = c->vt;
  struct vnode_retry *r;
  struct vnode *v;
  uint64_t h;

  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  if (v) {
    h = hash_str_fnv1a(v->path);
    r = retry_of(t, pid, h);
    if (!r) {
      /* A free slot, else the oldest: a retry still in progress is lost
       * only after VNODE_RETRIES later refusals. */
      r = &t->retry[0];
      for (unsigned i = 0; i < VNODE_RETRIES && r->seq; i++)
        if (!t->retry[i].seq || t->retry[i].seq < r->seq)
          r = &t->retry[i];
      if (r->seq)
        retry_free(t, r);
      t->nretry++;
    }
    gen_put(r->g);
    r->g = NULL;
    r->pid = pid;
    r->path_hash = h;
    r->ino = 0;  /* armed by the retry's lookup */
    r->seq = ++t->retry_seq;
  }
  pthread_mutex_unlock(&t->mu);
}

bool vnode_take_retry_grace(struct fs_ctx *c, uint64_t ino, uint32_t pid,
                            struct gen_content **held)
{
  struct vnode_table *t = c->vt;
  struct vnode_retry *r;
  struct vnode *v;
  bool g = false;

  if (held)
    *held = NULL;
  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  if (v && t->nretry && (r = retry_of(t, pid, hash_str_fnv1a(v->path)))) {
    g = r->ino == ino;  /* the inode its latest lookup gave */
    if (g && held) {
      *held = r->g;
      r->g = NULL;
    }
    retry_free(t, r);   /* one open takes it */
  }
  pthread_mutex_unlock(&t->mu);
  return g;
}

void vnode_retry_looked_up(struct fs_ctx *c, uint64_t ino, uint32_t pid)
{
  struct vnode_table *t = c->vt;
  struct gen_content *g = NULL;
  struct vnode_retry *r;
  struct vnode *v;
  char path[4096];
  uint64_t key = 0, h = 0;

  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  if (v && t->nretry && (r = retry_of(t, pid, h = hash_str_fnv1a(v->path)))) {
    r->ino = ino;  /* the retry's OPEN will be of this inode */
    gen_put(r->g);
    r->g = NULL;
    /* Its content is kept for the OPEN, unless a cache file the inode
     * holds has it already. */
    size_t l = strlen(v->path);
    if (v->key && !v->pin && l < sizeof(path)) {
      key = v->key;
      memcpy(path, v->path, l + 1);
    }
  }
  pthread_mutex_unlock(&t->mu);
  /* Found unlocked: gen_find() waits for content being generated (the
   * lookup has just made it, but the cache may have dropped it since). */
  if (!key || gen_find(c, path, key, &g) < 0)
    return;
  pthread_mutex_lock(&t->mu);
  r = t->nretry ? retry_of(t, pid, h) : NULL;
  if (r && r->ino == ino && !r->g) {
    r->g = g;
    g = NULL;
  }
  pthread_mutex_unlock(&t->mu);
  gen_put(g);
}

void vnode_set_dir(struct fs_ctx *c, uint64_t ino)
{
  struct vnode_table *t = c->vt;
  struct vnode *v;

  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  if (v)
    v->dir = true;
  pthread_mutex_unlock(&t->mu);
}

bool vnode_is_dir(const struct fs_ctx *c, uint64_t ino)
{
  struct vnode_table *t = c->vt;
  struct vnode *v;
  bool d;

  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  d = v && v->dir;
  pthread_mutex_unlock(&t->mu);
  return d;
}

uint64_t vnode_dirent_ino(struct fs_ctx *c, const char *path)
{
  struct vnode_table *t = c->vt;
  struct vnode *v = NULL;
  uint64_t ino;

  pthread_mutex_lock(&t->mu);
  v = find_path(t, path);
  ino = v ? v->ino : 0;
  pthread_mutex_unlock(&t->mu);
  if (v)
    return ino;
  /* Upper half of the table numbers: never handed out by vnode_ino(). */
  return node_ino(NODE_VNODE, (1ULL << 55) | (hash_str_fnv1a(path) >> 9), 0);
}

int vnode_path(struct fs_ctx *c, uint64_t ino, char *out, size_t outlen)
{
  struct vnode_table *t = c->vt;
  struct vnode *v;
  int r = -ENOENT;

  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  if (v) {
    size_t l = strlen(v->path);
    r = l < outlen ? 0 : -ENAMETOOLONG;
    if (r == 0)
      memcpy(out, v->path, l + 1);
  }
  pthread_mutex_unlock(&t->mu);
  return r;
}

void vnode_forget(struct fs_ctx *c, uint64_t ino, uint64_t nlookup)
{
  struct vnode_table *t = c->vt;
  struct vnode *v, **pp;

  pthread_mutex_lock(&t->mu);
  v = find_ino(t, ino);
  if (v) {
    /* The kernel forgets at most the lookups it was answered. */
    assert(nlookup <= v->nlookup);
    v->nlookup = v->nlookup > nlookup ? v->nlookup - nlookup : 0;
    if (v->nlookup == 0) {
      /* Normally closed at the last release; a FORGET handled before
       * that RELEASE must not leak the backing id (no open can come for
       * a forgotten inode). */
      if (v->backing)
        pt_backing_close(c->pt, v->backing);
      gen_put(v->pin);
      if (v->attached)
        unlink_path(t, v);
      pp = &t->by_ino[ino_slot(t, ino)];
      while (*pp != v)
        pp = &(*pp)->next_ino;
      *pp = v->next_ino;
      t->n--;
      free(v);
    }
  }
  pthread_mutex_unlock(&t->mu);
}

void vnode_detach(struct fs_ctx *c, const char *path)
{
  struct vnode_table *t = c->vt;
  struct vnode *v;

  pthread_mutex_lock(&t->mu);
  v = find_path(t, path);
  if (v)
    unlink_path(t, v);
  pthread_mutex_unlock(&t->mu);
}

/* Locks the table (*tp) and finds the record of ino (NULL if none). */
static struct vnode *lock_ino(const struct fs_ctx *c, uint64_t ino,
                              struct vnode_table **tp)
{
  struct vnode_table *t = c->vt;

  *tp = t;
  pthread_mutex_lock(&t->mu);
  return find_ino(t, ino);
}

uint64_t vnode_key(const struct fs_ctx *c, uint64_t ino)
{
  struct vnode_table *t;
  struct vnode *v = lock_ino(c, ino, &t);
  uint64_t key = 0;

  if (v)
    key = v->key;
  pthread_mutex_unlock(&t->mu);
  return key;
}

void vnode_pin(struct fs_ctx *c, uint64_t ino, uint64_t key,
               struct gen_content *g, int64_t mtime_ns)
{
  struct vnode_table *t;
  struct vnode *v = lock_ino(c, ino, &t);

  if (v && key && v->key == key && v->size == VNODE_SIZE_UNKNOWN) {
    v->size = gen_size(g);
    v->mtime_ns = mtime_ns;
    /* A cache file costs an open descriptor; memory content is not held
     * (it would be, for every small file the kernel has looked up). */
    if (gen_fd(g) >= 0)
      v->pin = gen_ref(g);
  }
  pthread_mutex_unlock(&t->mu);
}

int vnode_attrs(struct fs_ctx *c, uint64_t ino, uint64_t *size,
                int64_t *mtime_ns)
{
  struct vnode_table *t;
  struct vnode *v = lock_ino(c, ino, &t);
  int r = -ENOENT;

  if (v && v->size != VNODE_SIZE_UNKNOWN) {
    *size = v->size;
    *mtime_ns = v->mtime_ns;
    r = 0;
  }
  pthread_mutex_unlock(&t->mu);
  return r;
}

struct gen_content *vnode_pinned(struct fs_ctx *c, uint64_t ino)
{
  struct vnode_table *t;
  struct vnode *v = lock_ino(c, ino, &t);
  struct gen_content *g = NULL;

  if (v && v->pin)
    g = gen_ref(v->pin);
  pthread_mutex_unlock(&t->mu);
  return g;
}

int vnode_open(struct fs_ctx *c, uint64_t ino, int fd)
{
  struct vnode_table *t;
  struct vnode *v = lock_ino(c, ino, &t);
  int r;

  if (!v) {
    pthread_mutex_unlock(&t->mu);
    return -ESTALE;  /* forgotten meanwhile: look the name up again */
  }
  if (v->opened == 0 && fd >= 0 && pt_active(c->pt)) {
    /* The first open chooses: passthrough if the kernel takes the file
     * (a refusal leaves the page cache). */
    int id = pt_backing_open(c->pt, fd);
    v->backing = id > 0 ? id : 0;
  }
  v->opened++;
  r = v->backing;
  pthread_mutex_unlock(&t->mu);
  return r;
}

void vnode_closed(struct fs_ctx *c, uint64_t ino)
{
  struct vnode_table *t;
  struct vnode *v = lock_ino(c, ino, &t);

  assert(!v || v->opened > 0);  /* a release of a registered open */
  if (v && v->opened > 0 && --v->opened == 0 && v->backing) {
    pt_backing_close(c->pt, v->backing);
    v->backing = 0;
  }
  pthread_mutex_unlock(&t->mu);
}

void vnode_free_all(struct fs_ctx *c)
{
  struct vnode_table *t = c->vt;

  if (!t)
    return;  /* never created */
  for (size_t i = 0; i < t->cap; i++)
    for (struct vnode *v = t->by_ino[i], *nx; v; v = nx) {
      nx = v->next_ino;
      gen_put(v->pin);
      free(v);
    }
  for (unsigned i = 0; i < VNODE_RETRIES; i++)
    gen_put(t->retry[i].g);
  free(t->by_ino);
  free(t->by_path);
  pthread_mutex_destroy(&t->mu);
  free(t);
  c->vt = NULL;
}
