/* node_vnode.c - the provider paths (NODE_VNODE: config, views/,
 * export/, cvat/, eval/, plots/, ...; nodeops.h).  The provider of each
 * top-level name answers in path terms (vtree.h); this file turns its
 * answers into nodes, attributes, handles and reads:
 *
 *   lookup     provider stat -> vnode_ino (vnode.c), a versioned file
 *              pinned to its content at the lookup (gencache.c)
 *   stat       the inode's version's attributes, or provider stat and
 *              the content's size
 *   readdir    provider list
 *   open/read  VENT_SAMPLE: the source file (node_samples.c);
 *              VENT_FILE, VENT_CTL read: generated content (gen_fh);
 *              VENT_CTL written: the document for provider check/write
 *              (ctl_fh), run with the requester's identity (access.h)
 *
 * Handles: gen_fh holds a reference to one version of generated content
 * (and, while open, the inode's open count in vnode.c); ctl_fh owns the
 * document written so far.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "nodeops.h"

/* Attribute and entry lifetime of provider paths: their content follows
 * store changes without per-inode invalidations, so keep it short. */
#define VNODE_TTL 1.0
#define VPATH_MAX 4096

/* A provider path: the vnode's full path, its provider and the rest. */
struct vres {
  char path[VPATH_MAX];
  const struct provider *p;
  const char *rest;
};

/* Generated content being read: one version.  Owns a reference to gen. */
struct gen_fh {
  struct nh h;
  struct gen_content *gen;
  uint64_t vino;      /* inode counted open (vnode_open), or 0 */
};

/* A control file being written.  Owns vpath and buf. */
struct ctl_fh {
  struct nh h;
  const struct provider *prov;
  char *vpath;        /* path below the provider's top */
  struct buf buf;     /* the document written so far */
  bool dirty;         /* written since the last run */
  bool ctl_done;      /* the command was already carried out */
  int bad;            /* a write was refused: later writes are too */
  size_t ctl_off;     /* provider->lines: bytes already run */
};

static int vresolve(struct fs_ctx *c, uint64_t ino, struct vres *v)
{
  int r = vnode_path(c, ino, v->path, sizeof(v->path));

  if (r < 0)
    return -ENOENT;  /* forgotten: a stale handle */
  v->p = vtree_provider_of(v->path, &v->rest);
  return v->p ? 0 : -ENOENT;
}

/* v for the entry `name` of directory inode dir. */
static int vresolve_child(struct fs_ctx *c, uint64_t dir, const char *name,
                          struct vres *v)
{
  int r = vresolve(c, dir, v);
  size_t l;

  if (r < 0)
    return r;
  l = strlen(v->path);
  if (l + 1 + strlen(name) >= sizeof(v->path))
    return -ENAMETOOLONG;
  v->path[l] = '/';
  strcpy(v->path + l + 1, name);
  v->p = vtree_provider_of(v->path, &v->rest);
  return v->p ? 0 : -ENOENT;
}

/* Version `key` of path v generated again from a kept store snapshot
 * (notify.c) that shows it: a read-only mount's kernel may read an inode
 * it reached through a name kept until the epoch moved, and the content
 * cache may have dropped that version meanwhile.  -ESTALE when no
 * snapshot shows it any more (a descriptor held across two changes). */
static int snapshot_content(struct fs_ctx *c, const struct vres *v,
                            uint64_t key, struct gen_content **g)
{
  int r = -ESTALE;

  for (unsigned i = 0; i < STORE_SNAPS && r == -ESTALE; i++) {
    struct store_txn *st = store_snaps_take(c->snaps, i, NULL);
    struct vent e;

    memset(&e, 0, sizeof(e));
    if (st && v->p->stat(c, st, v->rest, &e) == 0 && e.kind == VENT_FILE &&
        e.key == key)
      r = gen_get(c, v->p, st, v->path, v->rest, key, g);
    store_snaps_give_back(c->snaps);
  }
  return r;
}

/* The content inode ino (path v, current entry e) stands for.  An inode
 * of a versioned generated file (vtree.h, "Versions") is of one version:
 * the one it holds (a cache file), the current one (then recorded on it,
 * with the mtime its attributes report: mtime_ns, or when 0 the
 * content's birth time, gen_born_ns()), or an older one while the
 * content cache has it; -ESTALE after that. */
static int inode_content(struct fs_ctx *c, struct store_txn *t, uint64_t ino,
                         const struct vres *v, const struct vent *e,
                         int64_t mtime_ns, struct gen_content **g)
{
  uint64_t key;
  int r;

  if (e->kind != VENT_FILE || e->key == 0)
    return gen_get(c, v->p, t, v->path, v->rest, e->key, g);
  *g = vnode_pinned(c, ino);
  if (*g)
    return 0;
  key = vnode_key(c, ino);
  if (key != e->key) {
    r = gen_find(c, v->path, key, g);
    if (r == -ENOENT && c->snaps)
      return snapshot_content(c, v, key, g);
    return r == -ENOENT ? -ESTALE : r;
  }
  r = gen_get(c, v->p, t, v->path, v->rest, e->key, g);
  if (r == 0)
    vnode_pin(c, ino, e->key, *g, mtime_ns ? mtime_ns : gen_born_ns(*g));
  return r;
}

/* The content of the version inode ino stands for, when the content
 * cache still has it: no need to ask the provider (an open or a read of an
 * unchanged generated file costs a cache lookup). */
static bool own_version(struct fs_ctx *c, uint64_t ino, const struct vres *v,
                        struct gen_content **g)
{
  uint64_t key = vnode_key(c, ino);
  uint64_t size;
  int64_t mt;

  *g = NULL;
  if (!key || vnode_attrs(c, ino, &size, &mt) < 0)
    return false;
  return gen_find(c, v->path, key, g) == 0;
}

/* ---- lookup ---- */

/* A versioned file's inode stands for this version: it holds its content
 * from now on, whatever changes before the attributes and the open.  (An
 * inode looked up before already has its attributes: the lookup at each
 * open then costs no content, and the kernel keeps serving the pages it
 * has.) */
static int pin_version(struct fs_ctx *c, struct store_txn *t,
                       const struct provider *pv, const char *path,
                       const char *rest, const struct vent *e, uint64_t ino)
{
  struct gen_content *g;
  uint64_t vsize;
  int64_t vmtime;
  int r;

  if (vnode_attrs(c, ino, &vsize, &vmtime) == 0)
    return 0;
  r = gen_get(c, pv, t, path, rest, e->key, &g);
  if (r < 0)
    return r;
  vnode_pin(c, ino, e->key, g, e->mtime_ns ? e->mtime_ns : gen_born_ns(g));
  gen_put(g);
  return 0;
}

bool vent_uncached(struct fs_ctx *c, const struct vent *e)
{
  if (e->recheck)
    return true;
  /* A versioned file's name leads to a new inode after a change.  A
   * mount that writes is asked to open every file: the open of an inode
   * whose version is no longer current fails with ESTALE
   * (vnode_node_open), and the kernel then walks the path again with
   * every name looked up (LOOKUP_REVAL), so the name may be kept.  A
   * read-only mount opens files without asking: there the name is kept
   * only while every store change drops the kernel's names (notify.c,
   * epoch) and the store snapshots cover what a kept name may still
   * lead to (snapshot_content). */
  if (e->kind == VENT_FILE && e->key != 0)
    return c->readonly && !notify_epoch_on(c);
  /* A file showing a sample can be moved into a tag, and its dentry
   * moves along under the provider's name, which the tag does not list
   * (read-only mounts have no renames): safe only with the epoch. */
  if (e->kind == VENT_SAMPLE && !c->readonly)
    return !notify_epoch_on(c);
  return false;
}

int vpath_lookup(struct fs_ctx *c, struct store_txn *t, const char *path,
                 struct node *ret, bool *versioned)
{
  const char *rest;
  const struct provider *pv = vtree_provider_of(path, &rest);
  struct vent e;
  uint64_t ino, ver = 0;
  bool vers;
  int r;

  memset(ret, 0, sizeof(*ret));
  *versioned = false;
  if (!pv)
    return -ENOENT;
  if (c->snaps && store_version(t, &ver) == 0) {
    /* Before a name of a version the kept snapshots may not show is
     * handed out (notify.c). */
    notify_seen_version(c, ver);
    ver = 0;
  }
  if (pv->by_version && store_version(t, &ver) == 0) {
    /* A file found current at this store version: the same inode,
     * without asking the provider again. */
    ino = vnode_lookup_verified(c, path, ++ver);
    if (ino) {
      /* Only a versioned VENT_FILE without recheck is ever verified. */
      *versioned = c->readonly && !notify_epoch_on(c);
      node_from_ino(ino, ret);
      return 0;
    }
  }
  memset(&e, 0, sizeof(e));
  r = pv->stat(c, t, rest, &e);
  if (r < 0)
    return r;
  vers = e.kind == VENT_FILE && e.key != 0;
  ino = vnode_ino(c, path, vers ? e.key : 0);
  if (!ino)
    return -ENOMEM;
  if (vers && (r = pin_version(c, t, pv, path, rest, &e, ino)) < 0) {
    vnode_forget(c, ino, 1);
    return r;
  }
  /* A name that may change without a store change is never answered
   * from the table. */
  if (vers && ver && !e.recheck)
    vnode_set_verified(c, ino, ver);
  *versioned = vent_uncached(c, &e);
  node_from_ino(ino, ret);
  return 0;
}

static int vnode_lookup_child(struct fs_ctx *c, struct store_txn *t,
                              const struct node *dir, const char *name,
                              struct node *ret, bool *versioned)
{
  struct vres v;
  int r = vresolve_child(c, node_ino_of(dir), name, &v);

  *versioned = false;
  if (r == 0)
    r = vpath_lookup(c, t, v.path, ret, versioned);
  return r;
}

/* ---- listings ---- */

int vpath_list_tops(struct dir_fill *d, off_t off, uint64_t first_cookie)
{
  d->vbase = "";
  for (size_t i = 0; vtree_providers[i]; i++) {
    uint64_t cookie = first_cookie + i;
    struct vent e;
    if ((uint64_t)off >= cookie + 2 ||
        vtree_providers[i]->stat(d->c, d->t, "", &e) < 0)
      continue;
    if (d->add_vent(vtree_providers[i]->name, &e, cookie, d))
      break;
  }
  return 0;
}

static int vnode_readdir(struct dir_fill *d, const struct node *dir,
                         off_t off)
{
  struct vres v;
  int r = vresolve(d->c, node_ino_of(dir), &v);

  if (r < 0)
    return r;
  d->vbase = v.path;
  r = v.p->list(d->c, d->t, v.rest, off <= 2 ? 0 : (uint64_t)off - 2,
                d->add_vent, d);
  d->vbase = NULL;
  return r < 0 ? r : 0;
}

/* ---- attributes ---- */

static int vnode_stat(struct fs_ctx *c, struct store_txn *t,
                      const struct node *n, struct stat *st, int64_t *mt)
{
  uint64_t ino = node_ino_of(n), size;
  struct gen_content *g;
  struct vres v;
  struct vent e;
  int r;

  st->st_nlink = 1;
  st->st_mode = S_IFREG | 0444;
  if (vnode_attrs(c, ino, &size, mt) == 0) {
    /* A version of a generated file: its attributes never change, and
     * stay answerable after its path is gone. */
    st->st_size = (off_t)size;
    return 0;
  }
  r = vresolve(c, ino, &v);
  if (r == 0)
    r = v.p->stat(c, t, v.rest, &e);
  if (r < 0)
    return r;
  if (e.mtime_ns)
    *mt = e.mtime_ns;
  if (e.kind == VENT_DIR) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    vnode_set_dir(c, ino);
    return 0;
  }
  if (e.kind == VENT_SAMPLE) {
    r = sample_file_stat(t, e.sample_id, st, mt);
    if (e.mtime_ns)
      *mt = e.mtime_ns;
    return r;
  }
  st->st_mode = S_IFREG | (e.kind == VENT_CTL ? 0644 : 0444);
  r = inode_content(c, t, ino, &v, &e, e.mtime_ns, &g);
  if (r < 0)
    return r;
  /* Volatile content: when the path last changed what it says, so two
   * copies of an unchanged status copy nothing the second time. */
  if (e.key == 0)
    *mt = gen_born_ns(g);
  else if (vnode_attrs(c, ino, &size, mt) < 0 && !e.mtime_ns)
    *mt = gen_born_ns(g);
  st->st_size = (off_t)gen_size(g);
  gen_put(g);
  return 0;
}

static double vnode_ttl(const struct fs_ctx *c, const struct node *n)
{
  /* A version's attributes never change (vnode_attrs).  Nor do a
   * directory's while the kernel keeps its name: with the name epoch,
   * every store change has it looked up again, and the lookup's reply
   * brings its attributes (else, with default_permissions, each walk
   * through it after a second asks for them: requests in a warm pass on
   * a read-only mount). */
  if (vnode_key(c, node_ino_of(n)) != 0 ||
      (notify_epoch_on(c) && vnode_is_dir(c, node_ino_of(n))))
    return c->ttl;
  return MIN(VNODE_TTL, c->ttl);
}

/* ---- generated content: gen_fh ---- */

static int gen_read(struct nh *nh, size_t size, off_t off, struct read_out *o)
{
  struct gen_fh *h = (struct gen_fh *)nh;
  uint64_t gs = gen_size(h->gen), base;
  int gfd;

  o->fd = -1;
  o->mem = NULL;
  o->len = 0;
  if (off < 0 || (uint64_t)off >= gs)
    return 0;
  o->len = MIN(size, gs - (uint64_t)off);
  gfd = gen_file(h->gen, &base);
  if (gfd >= 0) {
    o->fd = gfd;
    o->pos = (off_t)base + off;
  } else {
    o->mem = gen_mem(h->gen) + off;
  }
  return 0;
}

/* Undoes what open counted, at release (or when the open reply failed). */
static void gen_close(struct fs_ctx *c, struct nh *nh)
{
  struct gen_fh *h = (struct gen_fh *)nh;

  if (h->vino)
    vnode_closed(c, h->vino);
  h->vino = 0;
}

static void gen_free(struct nh *nh)
{
  struct gen_fh *h = (struct gen_fh *)nh;

  assert(h->vino == 0);  /* closed before its last reference goes */
  gen_put(h->gen);
  free(h);
}

static const struct fh_ops gen_fh_ops = {
  .read = gen_read,
  .close = gen_close,
  .free = gen_free,
};

/* A handle on content g (its reference passes to the handle, also on
 * error). */
static int gen_fh_new(const struct node *n, struct gen_content *g,
                      struct gen_fh **ret)
{
  struct gen_fh *h = calloc(1, sizeof(*h));

  if (!h) {
    gen_put(g);
    return -ENOMEM;
  }
  nh_init(&h->h, &gen_fh_ops, n);
  h->gen = g;
  *ret = h;
  return 0;
}

/* An open of a generated file's version g: how the kernel reads it.
 * Large content is read by the kernel from its cache file where
 * passthrough is on (o->backing).  Source images are not: every open would
 * set up a backing file, and warm reads of 10,000 photos on a normal mount
 * fell from 0.30x to 0.20x of the native speed with it. */
static int open_version(struct fs_ctx *c, const struct node *n, uint64_t ino,
                        struct gen_content *g, struct nh **ret,
                        struct open_out *o)
{
  struct gen_fh *h;
  int r = gen_fh_new(n, g, &h);

  if (r < 0)
    return r;
  r = vnode_open(c, ino, gen_fd(h->gen));
  if (r < 0) {
    nh_put(&h->h);
    return r;
  }
  h->vino = ino;
  o->backing = r;
  o->noflush = true;
  /* The inode's pages can only be of its own version. */
  o->keep_cache = true;
  *ret = &h->h;
  return 0;
}

/* ---- control files being written: ctl_fh ---- */

static int ctl_read(struct nh *nh, size_t size, off_t off, struct read_out *o)
{
  struct ctl_fh *h = (struct ctl_fh *)nh;

  read_slice(h->buf.data, h->buf.len, size, off, o);
  return 0;
}

/* Runs the provider's check or write on `n` bytes of the document with
 * the requester's identity (access.h), so that any file a command names
 * is opened with the requester's rights, never the daemon's. */
static int ctl_apply(struct fs_ctx *c, struct fuse_req *req,
                     struct ctl_fh *h, bool check_only, const char *data,
                     size_t n)
{
  struct acc_saved sv;
  int r = acc_become(req, &sv);

  if (r < 0) {
    fs_error(c, "%s: cannot take on the requester's identity: %s",
             h->prov->name, strerror(-r));
    return r;
  }
  r = (check_only ? h->prov->check : h->prov->write)(c, h->vpath, data, n);
  acc_restore(&sv);
  return r;
}

/* provider->lines: runs the complete lines written since the last run. */
static int ctl_run_lines(struct fs_ctx *c, struct fuse_req *req,
                         struct ctl_fh *h)
{
  const char *from = h->buf.data + h->ctl_off;
  size_t n = h->buf.len - h->ctl_off;
  int r;

  while (n && from[n - 1] != '\n')
    n--;                          /* up to the last complete line */
  if (!n)
    return 0;
  r = ctl_apply(c, req, h, false, from, n);
  h->ctl_off += n;
  /* A last line without its newline still runs at close. */
  h->dirty = h->ctl_off < h->buf.len;
  if (r < 0)
    h->bad = fs_report_full(c, r, h->prov->name, "");
  return r;
}

/* Control files take a whole document.  A command file (cvat/push, ...)
 * acts on the first write that ends a line, so `echo x > file` gets its
 * answer from write(2); other documents (config) are checked there and
 * applied at close. */
static int ctl_write(struct fs_ctx *c, struct fuse_req *req, struct nh *nh,
                     const char *data, size_t size, off_t off)
{
  struct ctl_fh *h = (struct ctl_fh *)nh;
  const char *doc;
  int r;

  if (h->ctl_done || h->bad)
    return h->bad ? h->bad : -EBUSY;
  if (off < 0 || (size_t)off != h->buf.len)
    return -EINVAL;  /* documents are written front to back */
  r = buf_append(&h->buf, data, size);
  if (r < 0)
    return r == -E2BIG ? -EFBIG : r;
  h->dirty = true;
  doc = h->buf.data ? h->buf.data : "";
  if (h->prov->command && h->prov->lines) {
    r = ctl_run_lines(c, req, h);
  } else if (h->buf.len && doc[h->buf.len - 1] == '\n' && h->prov->command) {
    r = ctl_apply(c, req, h, false, doc, h->buf.len);
    h->ctl_done = true;
    h->dirty = false;
    /* A writer that retries (buffered I/O flushing again at close) gets
     * the same answer, not a new one. */
    if (r < 0)
      h->bad = fs_report_full(c, r, h->prov->name, "");
  } else if (h->buf.len && doc[h->buf.len - 1] == '\n' && h->prov->check) {
    r = ctl_apply(c, req, h, true, doc, h->buf.len);
    if (r < 0)
      h->bad = r;
  }
  return r < 0 ? r : (int)size;
}

static int ctl_flush(struct fs_ctx *c, struct fuse_req *req, struct nh *nh)
{
  struct ctl_fh *h = (struct ctl_fh *)nh;
  int r = 0;

  if (h->bad) {
    r = h->bad;  /* already rejected and logged at write */
    h->dirty = false;
  } else if (h->dirty) {
    h->dirty = false;
    h->ctl_done = true;
    r = ctl_apply(c, req, h, false,
                  h->buf.data ? h->buf.data + h->ctl_off : "",
                  h->buf.len - h->ctl_off);
    fs_report_full(c, r, h->prov->name, "");
  }
  return r;
}

static int ctl_truncate(struct nh *nh, uint64_t size)
{
  struct ctl_fh *h = (struct ctl_fh *)nh;

  if (size != 0)
    return -EINVAL;
  buf_reset(&h->buf);
  h->ctl_off = 0;
  return 0;
}

static void ctl_free(struct nh *nh)
{
  struct ctl_fh *h = (struct ctl_fh *)nh;

  buf_free(&h->buf);
  free(h->vpath);
  free(h);
}

static const struct fh_ops ctl_fh_ops = {
  .read = ctl_read,
  .write = ctl_write,
  .flush = ctl_flush,
  .truncate = ctl_truncate,
  .free = ctl_free,
};

static int ctl_open(const struct node *n, const struct vres *v,
                    struct nh **ret, struct open_out *o)
{
  struct ctl_fh *h;

  if (!v->p->write)
    return -EACCES;
  h = calloc(1, sizeof(*h));
  if (!h)
    return -ENOMEM;
  nh_init(&h->h, &ctl_fh_ops, n);
  buf_init(&h->buf, 1 << 20);
  h->prov = v->p;
  h->vpath = strdup(v->rest);
  if (!h->vpath) {
    nh_put(&h->h);
    return -ENOMEM;
  }
  o->direct_io = true;
  *ret = &h->h;
  return 0;
}

/* ---- open and reads without a handle ---- */

/* Opens the current entry e of path v. */
static int open_entry(struct fs_ctx *c, struct store_txn *t,
                      const struct node *n, uint64_t ino, int flags,
                      const struct vres *v, const struct vent *e,
                      struct nh **ret, struct open_out *o)
{
  bool rdonly = (flags & O_ACCMODE) == O_RDONLY;
  struct gen_content *g;
  struct sample s;
  struct gen_fh *h;
  int r;

  if (e->kind == VENT_DIR)
    return -EISDIR;
  if (e->kind == VENT_CTL && !rdonly)
    return ctl_open(n, v, ret, o);
  if (!rdonly)
    return -EACCES;
  if (e->kind == VENT_SAMPLE) {
    r = visible_sample(t, e->sample_id, &s);
    return r < 0 ? r : sample_open(c, &s, n, flags, ret, o);
  }
  /* VENT_FILE, or reading a control file: its generated text. */
  o->noflush = true;
  if (e->key == 0 || e->kind == VENT_CTL) {
    /* Volatile content: each open reads what it generates, directly. */
    o->direct_io = true;
    r = gen_get(c, v->p, t, v->path, v->rest, e->key, &g);
    if (r == 0 && (r = gen_fh_new(n, g, &h)) == 0)
      *ret = &h->h;
    return r;
  }
  r = inode_content(c, t, ino, v, e, e->mtime_ns, &g);
  return r < 0 ? r : open_version(c, n, ino, g, ret, o);
}

/* On a mount that writes, whether version inode ino (content key) is
 * still what its path shows: 0, or -ESTALE.  Its name is kept in the
 * kernel across changes (vent_uncached), so an open through it may come
 * after a change; ESTALE makes the kernel walk the path again, looking
 * every name up (LOOKUP_REVAL), and open the new version's inode.  A
 * file found current at this store version costs no provider call. */
static int still_current(struct fs_ctx *c, struct store_txn *t, uint64_t ino,
                         uint64_t key, uint32_t pid, struct gen_content **held)
{
  /* Taken by the thread's next open of the path, current or not; *held:
   * the version's content kept for it, if any (the caller's). */
  bool grace = vnode_take_retry_grace(c, ino, pid, held);
  uint64_t ver = 0;
  struct vres v;
  struct vent e;
  int r;

  if (store_version(t, &ver) == 0) {
    vnode_note_version(c, store_txn_id(t), ++ver);  /* vnode_open_quick */
    if (vnode_is_verified(c, ino, ver))
      return 0;
  }
  if (vresolve(c, ino, &v) < 0)
    return -ESTALE;  /* no provider has its path now */
  memset(&e, 0, sizeof(e));
  r = v.p->stat(c, t, v.rest, &e);
  if (r == -ENOENT || (r == 0 && (e.kind != VENT_FILE || e.key != key))) {
    /* The kernel's second walk after a refusal opens the version its
     * lookup found, as an open that raced the change would, however long
     * after that lookup its OPEN came: the kernel retries only once
     * (vtree.h, vnode_refused). */
    if (grace)
      return 0;
    vnode_refused(c, ino, pid);
    return -ESTALE;  /* the walk again then finds what is there now */
  }
  if (r == 0 && v.p->by_version && !e.recheck && ver)
    vnode_set_verified(c, ino, ver);
  return r;
}

static int vnode_node_open(struct fs_ctx *c, struct store_txn *t,
                           const struct node *n, uint64_t ino, int flags,
                           struct nh **ret, struct open_out *o)
{
  uint64_t key = vnode_key(c, ino);
  struct gen_content *g, *held = NULL;
  struct vres v;
  struct vent e;
  int r = 0;

  if (key && !c->readonly &&
      (r = still_current(c, t, ino, key, o->pid, &held)) < 0) {
    gen_put(held);
    return r;
  }
  g = vnode_pinned(c, ino);
  /* A retry's version kept since its lookup, which the cache may have
   * dropped since. */
  if (g)
    gen_put(held);
  else
    g = held;

  /* A version of a generated file, whatever the store says now, or the
   * content of the inode's version still in the cache. */
  if (!g && (r = vresolve(c, ino, &v)) == 0 && !own_version(c, ino, &v, &g)) {
    r = v.p->stat(c, t, v.rest, &e);
    return r < 0 ? r : open_entry(c, t, n, ino, flags, &v, &e, ret, o);
  }
  if (r < 0)
    return r;
  if ((flags & O_ACCMODE) != O_RDONLY) {
    gen_put(g);
    return -EACCES;
  }
  return open_version(c, n, ino, g, ret, o);
}

int vnode_open_quick(struct fs_ctx *c, const struct node *n, uint64_t ino,
                     int flags, uint32_t pid, struct nh **ret,
                     struct open_out *o)
{
  uint64_t commit;
  struct gen_content *g;
  struct vres v;
  int r;

  if (c->readonly || (flags & O_ACCMODE) != O_RDONLY || !vnode_key(c, ino))
    return 0;
  /* The content first: nothing below may be undone once the retry's
   * grace is taken (the full open would find it gone). */
  g = vnode_pinned(c, ino);
  if (!g && (vresolve(c, ino, &v) < 0 || !own_version(c, ino, &v, &g)))
    return 0;
  if (store_last_commit(c->store, &commit) < 0 ||
      !vnode_verified_now(c, ino, commit)) {
    gen_put(g);
    return 0;
  }
  /* Current: the grace of a retry is not needed, but taken, as
   * still_current() takes it (one open takes it). */
  vnode_take_retry_grace(c, ino, pid, NULL);
  o->pid = pid;
  r = open_version(c, n, ino, g, ret, o);
  return r < 0 ? r : 1;
}

static int vnode_read_ino(struct fs_ctx *c, struct store_txn *t,
                          const struct node *n, uint64_t ino,
                          struct ino_read *o)
{
  struct vres v;
  struct vent e;
  int r;

  (void)n;
  o->gen = vnode_pinned(c, ino);
  if (o->gen)
    return 0;  /* a version of a generated file */
  r = vresolve(c, ino, &v);
  if (r < 0 || own_version(c, ino, &v, &o->gen))
    return r;
  r = v.p->stat(c, t, v.rest, &e);
  if (r == -ENOENT && c->snaps && vnode_key(c, ino))
    return snapshot_content(c, &v, vnode_key(c, ino), &o->gen);
  if (r < 0)
    return r;
  if (e.kind == VENT_SAMPLE) {
    o->sample = e.sample_id;
    return 0;
  }
  if (e.kind == VENT_DIR)
    return -EISDIR;
  return inode_content(c, t, ino, &v, &e, e.mtime_ns, &o->gen);
}

/* ---- moves out of a provider directory ---- */

int vpath_sample_of(struct fs_ctx *c, struct store_txn *t, uint64_t dir_ino,
                    const char *name, struct sample *s, char **path)
{
  struct vres v;
  struct vent e;
  int r = vresolve_child(c, dir_ino, name, &v);

  *path = NULL;
  if (r == 0)
    r = v.p->stat(c, t, v.rest, &e);
  if (r == 0 && (e.kind == VENT_DIR || e.kind == VENT_CTL || !e.sample_id))
    r = -EPERM;
  if (r == 0)
    r = visible_sample(t, e.sample_id, s);
  if (r == 0 && !(*path = strdup(v.path)))
    r = -ENOMEM;
  return r;
}

const struct node_ops nodeops_vnode = {
  .lookup = vnode_lookup_child,
  .stat = vnode_stat,
  .readdir = vnode_readdir,
  .open = vnode_node_open,
  .read_ino = vnode_read_ino,
  .ttl = vnode_ttl,
};
