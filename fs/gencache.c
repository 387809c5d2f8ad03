/* gencache.c - generated file content, cached per (path, key) (see
 * vtree.h), within a bound in bytes.
 *
 * Content is streamed by the provider into a sink that keeps up to
 * GEN_MEM_MAX bytes in memory and spills anything larger into an unlinked
 * temporary file of the store directory of its own, so a generated export
 * of a million boxes costs the daemon a 1 MiB buffer, not the whole
 * document.
 *
 * The cache is bounded by bytes, in two tiers, one LRU list:
 *   - memory: small content (and every entry's bookkeeping, ~GEN_ENTRY_COST
 *     bytes plus its path) up to mem_max.  Beyond it, the least recently
 *     used small content moves to the spill file: one unlinked temporary
 *     file of the store directory shared by all small entries, each at its
 *     own offset, a multiple of the file's block size, so that punching
 *     an evicted entry's blocks out gives them back to the filesystem (a
 *     filesystem frees no block only partly punched: entries packed end
 *     to end left every block allocated, and listing 100,000 crops under
 *     a 1 MiB bound grew the file to 259 MB).  A spilled entry is charged
 *     its whole blocks.
 *   - disk: spilled small content and large content's own files, up to
 *     disk_max.  Beyond it, the least recently used entries leave the cache
 *     (a spilled entry's range is punched out of the spill file once no
 *     reader holds it, then reused by a later spill, and cut off when it
 *     ends the file: struct spill_file).
 * The defaults come from the machine (cache_defaults()); -o cache_size
 * sets the total.  Exports, views, evaluations and plots all share it.
 *
 * Entries are reference-counted, so an open file keeps its version after
 * the cache has moved on; an entry only moves from memory to the spill file
 * while the cache holds its only reference, so readers never see its bytes
 * move.  A second request for content that is being generated waits for
 * the first instead of generating it again.  A provider may offer content
 * of other paths it made along the way (sink.offer: the other crops of
 * one decoded photo), which enters the cache as ready.
 *
 * Each entry has a birth time, the mtime its files report (born_locked),
 * kept per path in a table of births and taken when the content is first
 * shown (gen_born_ns), so that content a generation offered along the way
 * and nobody looked at moves nothing: content with the bytes its path
 * showed last (whatever its key; volatile content, made again at each
 * stat and open, too) keeps the time it was first shown; new content of a
 * path is born then, and at least in the whole second after the birth of
 * the content it replaces.  So a file whose content changes gets an
 * mtime newer in whole seconds, even when its size stays (a YOLO row
 * moved by a pixel), and rsync's quick check, make and backup tools,
 * which compare size and whole seconds, see the change, while content
 * that does not change keeps its time for the mount's life.  A birth is
 * ahead of the clock only where content changed and was shown again
 * within the second of the latest birth of its set (4 paths of 16,384
 * sets by path hash), by a second per such birth; the floor is the set's
 * (see born_locked).  A path that lost its way in a full set only makes
 * its next content look new (a needless copy).
 *
 * Locking: one mutex (gen_cache.mu) for the list, the tiers' counters and
 * every reference count; the spill file's writes happen under it (small,
 * into the page cache).  Generation runs unlocked.  Functions named
 * *_locked assert (debug builds) that the caller holds it.
 *
 * Ownership: the cache (c->gc) is created by state_init() before the
 * session and freed by state_free() after it, once no thread can take or
 * drop a reference; each entry points to its cache for the lock.  Content
 * still referenced then (a handle the kernel never released) is left with
 * its references, as the process exits.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "import_hash.h"
#include "vtree.h"

#define GEN_MEM_MAX (1u << 20)
/* Bookkeeping of one entry counted against the memory tier: the struct,
 * its path and the allocator's rounding. */
#define GEN_ENTRY_COST 160u

/* Births by path (born_locked): 16,384 sets of 4 paths by path hash
 * (1.5 MB, touched only where paths fall), each set's oldest birth giving
 * way to a new path. */
#define BIRTH_SETS 16384u
#define BIRTH_WAYS 4u

struct birth {
  uint64_t path_h;
  uint64_t what;        /* the content's key, or its bytes' hash */
  int64_t born_ns;
};

/* A free range of the spill file: [off, off + len), whole blocks. */
struct spill_ext {
  uint64_t off, len;
};

/* The shared file of spilled small content; each spilled entry holds a
 * reference, so the descriptor outlives the cache while readers need it.
 * Its ranges are reused: a freed range (punched, so its blocks are given
 * back) goes to `fr` and the next spill that fits takes it, and a free
 * tail is cut off (ftruncate), so the file's apparent size follows what
 * it holds instead of growing with every spill (it grew by a block per
 * crop, 400 MB over a listing of 100,000 crops under a 1 MiB bound). */
struct spill_file {
  int fd;
  unsigned refs;         /* guarded by gen_cache.mu, and so is the rest */
  uint64_t end;          /* the file's size: everything past is free */
  uint64_t block;        /* the file's block size: entries start on one */
  /* Free ranges below end, by offset, none adjacent to another or to
   * end: at most one more than the spilled entries (16 bytes each, next
   * to an entry's GEN_ENTRY_COST).  A spill walks them for the first that
   * fits; entries leave in about the order they came, so ranges join up
   * and the first fit is found early (a random order of 3 million spills
   * and evictions over 100,000 live entries: 11,000 ranges, 0.65 us per
   * operation, the file 6 % over what it held). */
  struct spill_ext *fr;
  size_t nfr, capfr;
};

/* The bytes an entry of `size` takes in the spill file: whole blocks. */
static uint64_t spill_span(const struct spill_file *sf, uint64_t size)
{
  return (size + sf->block - 1) / sf->block * sf->block;
}

struct gen_content {
  struct gen_content *prev, *next;   /* LRU list, most recent first */
  struct gen_content *hnext;         /* hash chain of (path, key) */
  struct gen_content *mprev, *mnext; /* LRU list of content in memory */
  bool in_mlist;
  uint64_t hash;
  struct gen_cache *gc;              /* the cache it belongs to (lock) */
  unsigned refs;                     /* guarded by gc->mu */
  bool ready, cached;
  int err;
  char *path;
  uint64_t key;
  uint64_t size;
  uint64_t charge_mem, charge_disk;  /* what it counts in the tiers */
  int fd;                            /* own cache file, or -1 */
  struct spill_file *sf;             /* spilled small content, or NULL */
  uint64_t sf_off;
  struct buf mem;
  uint64_t bytes_h;                  /* its bytes' hash, taken while they
                                        were made (bytes_hash_end) */
  int64_t born_ns;                   /* birth time: the files' mtime */
};

struct gen_cache {
  pthread_mutex_t mu;                /* guards everything below and the
                                        entries' refs, lists and charges */
  pthread_cond_t cv;                 /* an entry became ready */
  struct gen_content *head, *tail;
  struct gen_content *mhead, *mtail; /* cached entries with content in
                                        memory, most recent first */
  struct gen_content **tab;          /* by (path, key); cap a power of 2 */
  size_t n, cap;
  uint64_t mem_used, disk_used;
  uint64_t mem_max, disk_max;
  uint64_t hits, misses, evicted, spilled;
  struct spill_file *sf;
  bool no_spill;                     /* the store's filesystem cannot punch
                                        holes: spilling would never give
                                        the disk back, so entries stay in
                                        memory or are evicted */
  const char *dir;
  struct birth births[BIRTH_SETS][BIRTH_WAYS];  /* born_locked */
};

static uint64_t hash_of(const char *path, uint64_t key)
{
  uint64_t h = 1469598103934665603ULL ^ key;  /* FNV-1a */
  for (; *path; path++)
    h = (h ^ (unsigned char)*path) * 1099511628211ULL;
  return h ^ (h >> 29);
}

static void cache_defaults(const char *dir, uint64_t *mem_max,
                           uint64_t *disk_max)
{
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  uint64_t phys = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz
                                       : (uint64_t)1 << 30;
  struct statvfs sv;
  uint64_t avail = (uint64_t)1 << 30;

  /* Memory: 1/1024 of RAM within [2, 4] MiB, so the daemon's resident
   * size stays within its goals and comes back near its idle level after
   * a burst (the rest goes to the spill file, in the page cache). */
  *mem_max = phys / 1024;
  if (*mem_max < (2u << 20))
    *mem_max = 2u << 20;
  if (*mem_max > (4u << 20))
    *mem_max = 4u << 20;
  /* Disk: an eighth of the free space of the store's filesystem, within
   * [64 MiB, 8 GiB]: an epoch of crops of a large export fits, and the
   * cache never fills the disk. */
  if (dir && statvfs(dir, &sv) == 0)
    avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
  *disk_max = avail / 8;
  if (*disk_max < (64u << 20))
    *disk_max = 64u << 20;
  if (*disk_max > ((uint64_t)8 << 30))
    *disk_max = (uint64_t)8 << 30;
}

int gen_cache_new(struct fs_ctx *c)
{
  struct gen_cache *g = calloc(1, sizeof(*g));

  if (!g)
    return -ENOMEM;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->dir = c->store_dir;
  cache_defaults(g->dir, &g->mem_max, &g->disk_max);
  if (c->cache_max) {
    /* The total asked for: a quarter of it (at most the default) in
     * memory, the rest on disk. */
    if (g->mem_max > c->cache_max / 4)
      g->mem_max = c->cache_max / 4;
    g->disk_max = c->cache_max - g->mem_max;
  }
  c->gc = g;
  return 0;
}

static void spill_put_locked(struct gen_cache *gc, struct spill_file *sf)
{
  VTREE_ASSERT_HELD(&gc->mu);
  assert(!sf || sf->refs > 0);
  if (sf && --sf->refs == 0) {
    close(sf->fd);
    free(sf->fr);
    free(sf);
  }
}

/* A range of `span` bytes (whole blocks) for a spilled entry: the first
 * free range it fits in, else the end of the file, unless that would take
 * the file past `limit`.  false then. */
static bool spill_take_locked(struct gen_cache *gc, struct spill_file *sf,
                              uint64_t span, uint64_t limit, uint64_t *off)
{
  VTREE_ASSERT_HELD(&gc->mu);
  for (size_t i = 0; i < sf->nfr; i++) {
    struct spill_ext *e = &sf->fr[i];
    if (e->len < span)
      continue;
    *off = e->off;
    e->off += span;
    e->len -= span;
    if (e->len == 0) {
      memmove(e, e + 1, (sf->nfr - i - 1) * sizeof(*e));
      sf->nfr--;
    }
    return true;
  }
  if (sf->end + span > limit)
    return false;
  *off = sf->end;
  sf->end += span;
  return true;
}

/* Gives a spilled entry's range back (already punched, or never
 * written): joined to its free neighbours, and the file cut short when
 * the range ends it. */
static void spill_give_locked(struct gen_cache *gc, struct spill_file *sf,
                              uint64_t off, uint64_t len)
{
  size_t lo = 0, hi = sf->nfr;

  VTREE_ASSERT_HELD(&gc->mu);
  if (!len)
    return;
  while (lo < hi) {               /* the first range after off */
    size_t mid = lo + (hi - lo) / 2;
    if (sf->fr[mid].off < off)
      lo = mid + 1;
    else
      hi = mid;
  }
  struct spill_ext *pv = lo ? &sf->fr[lo - 1] : NULL;
  struct spill_ext *nx = lo < sf->nfr ? &sf->fr[lo] : NULL;
  /* A range given back twice, or one the file never had, would be taken
   * by two entries. */
  assert(off + len <= sf->end);
  assert(!pv || pv->off + pv->len <= off);
  assert(!nx || off + len <= nx->off);
  if (pv && pv->off + pv->len == off) {
    pv->len += len;
    if (nx && pv->off + pv->len == nx->off) {
      pv->len += nx->len;
      memmove(nx, nx + 1, (sf->nfr - lo - 1) * sizeof(*nx));
      sf->nfr--;
    }
  } else if (nx && off + len == nx->off) {
    nx->off = off;
    nx->len += len;
  } else if (off + len == sf->end) {
    sf->end = off;                /* the tail: cut below */
  } else {
    if (sf->nfr == sf->capfr) {
      size_t nc = sf->capfr ? sf->capfr * 2 : 16;
      struct spill_ext *p = realloc(sf->fr, nc * sizeof(*p));
      if (p) {
        sf->fr = p;
        sf->capfr = nc;
      }
    }
    if (sf->nfr == sf->capfr)
      return;  /* no memory: not reused, though its blocks are freed */
    memmove(sf->fr + lo + 1, sf->fr + lo, (sf->nfr - lo) * sizeof(*sf->fr));
    sf->fr[lo].off = off;
    sf->fr[lo].len = len;
    sf->nfr++;
  }
  if (sf->nfr && sf->fr[sf->nfr - 1].off + sf->fr[sf->nfr - 1].len ==
                     sf->end) {
    sf->end = sf->fr[sf->nfr - 1].off;
    sf->nfr--;
  }
  if (off + len >= sf->end) {
    /* The free tail leaves the file (its blocks were punched already;
     * this gives back the apparent size).  Nothing is read past end. */
    if (ftruncate(sf->fd, (off_t)sf->end) != 0)
      log_msg(LOG_LVL_WARN, "content cache: cannot shorten its spill "
              "file: %s", strerror(errno));
  }
}

static void content_free(struct gen_content *g)
{
  if (g->fd >= 0)
    close(g->fd);
  if (g->sf) {
    /* Give the range's blocks back to the filesystem, then the range to
     * the file for reuse (no reader holds it: this was the last
     * reference). */
    if (g->size)
      fallocate(g->sf->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                (off_t)g->sf_off, (off_t)spill_span(g->sf, g->size));
    pthread_mutex_lock(&g->gc->mu);
    spill_give_locked(g->gc, g->sf, g->sf_off, spill_span(g->sf, g->size));
    spill_put_locked(g->gc, g->sf);
    pthread_mutex_unlock(&g->gc->mu);
  }
  buf_free(&g->mem);
  free(g->path);
  free(g);
}

struct spill {
  struct gen_content *g;
  struct fs_ctx *c;
  const struct provider *p;
  const char *dir;
  struct import_hasher hs;  /* g's bytes so far, as the sink takes them */
};

/* The hash a birth compares (born_locked): the import's XXH3 of the
 * bytes, fed while they are made, and their length.  Taken as the
 * provider writes each piece (sink_write) or offers a whole file, while
 * the bytes are still in the processor's cache: no second pass over
 * content, which may by then be in a file on disk. */
static uint64_t bytes_hash_end(struct import_hasher *hs, uint64_t size)
{
  uint8_t out[16];
  uint64_t h;

  import_hasher_end(hs, out);
  memcpy(&h, out, sizeof(h));
  return h ^ size;
}

static int sink_write(void *ud, const void *p, size_t n)
{
  struct spill *sp = ud;
  struct gen_content *g = sp->g;
  int r;

  import_hasher_add(&sp->hs, p, n);  /* a failure drops the content */
  if (g->fd < 0 && g->mem.len + n <= GEN_MEM_MAX) {
    r = buf_append(&g->mem, p, n);
    if (r == 0)
      g->size += n;
    return r;
  }
  if (g->fd < 0) {
    /* Too big for memory: move what we have into a temporary file. */
    g->fd = open(sp->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (g->fd < 0)
      return -errno;
    r = fd_write_all(g->fd, g->mem.data, g->mem.len, -1);
    buf_free(&g->mem);
    if (r < 0)
      return r;
  }
  r = fd_write_all(g->fd, p, n, -1);
  if (r == 0)
    g->size += n;
  return r;
}

static void mlist_remove(struct gen_cache *gc, struct gen_content *g)
{
  if (!g->in_mlist)
    return;
  if (g->mprev)
    g->mprev->mnext = g->mnext;
  else
    gc->mhead = g->mnext;
  if (g->mnext)
    g->mnext->mprev = g->mprev;
  else
    gc->mtail = g->mprev;
  g->mprev = g->mnext = NULL;
  g->in_mlist = false;
}

static void mlist_front(struct gen_cache *gc, struct gen_content *g)
{
  mlist_remove(gc, g);
  g->mprev = NULL;
  g->mnext = gc->mhead;
  if (gc->mhead)
    gc->mhead->mprev = g;
  else
    gc->mtail = g;
  gc->mhead = g;
  g->in_mlist = true;
}

static void unlink_entry(struct gen_cache *gc, struct gen_content *g)
{
  if (g->prev)
    g->prev->next = g->next;
  else
    gc->head = g->next;
  if (g->next)
    g->next->prev = g->prev;
  else
    gc->tail = g->prev;
  g->prev = g->next = NULL;
  for (struct gen_content **pp = &gc->tab[g->hash & (gc->cap - 1)]; *pp;
       pp = &(*pp)->hnext)
    if (*pp == g) {
      *pp = g->hnext;
      break;
    }
  g->hnext = NULL;
  mlist_remove(gc, g);
  g->cached = false;
  gc->mem_used -= g->charge_mem;
  gc->disk_used -= g->charge_disk;
  g->charge_mem = g->charge_disk = 0;
  gc->n--;
}

/* Adds a new entry to the list and the index (false: out of memory). */
static bool insert_locked(struct gen_cache *gc, struct gen_content *g);

static void push_front(struct gen_cache *gc, struct gen_content *g)
{
  g->prev = NULL;
  g->next = gc->head;
  if (gc->head)
    gc->head->prev = g;
  else
    gc->tail = g;
  gc->head = g;
}

static bool insert_locked(struct gen_cache *gc, struct gen_content *g)
{
  VTREE_ASSERT_HELD(&gc->mu);
  if (gc->n + 1 > gc->cap / 2) {
    size_t ncap = gc->cap ? gc->cap * 2 : 1024;
    struct gen_content **nt = calloc(ncap, sizeof(*nt));
    if (!nt && !gc->tab)
      return false;
    if (nt) {
      for (size_t i = 0; i < gc->cap; i++)
        for (struct gen_content *e = gc->tab[i], *nx; e; e = nx) {
          nx = e->hnext;
          e->hnext = nt[e->hash & (ncap - 1)];
          nt[e->hash & (ncap - 1)] = e;
        }
      free(gc->tab);
      gc->tab = nt;
      gc->cap = ncap;
    }
  }
  g->hash = hash_of(g->path, g->key);
  g->hnext = gc->tab[g->hash & (gc->cap - 1)];
  gc->tab[g->hash & (gc->cap - 1)] = g;
  push_front(gc, g);
  gc->n++;
  g->cached = true;
  return true;
}

/* Charges a ready entry to its tier. */
static void charge_locked(struct gen_cache *gc, struct gen_content *g)
{
  VTREE_ASSERT_HELD(&gc->mu);
  g->charge_mem = GEN_ENTRY_COST + strlen(g->path);
  g->charge_disk = 0;
  if (g->fd >= 0 || g->sf) {
    g->charge_disk = g->sf ? spill_span(g->sf, g->size) : g->size;
  } else {
    g->charge_mem += g->mem.cap;
    if (g->mem.cap)
      mlist_front(gc, g);
  }
  gc->mem_used += g->charge_mem;
  gc->disk_used += g->charge_disk;
}

/* Moves an entry's small content from memory into the spill file (the
 * cache holds its only reference).  false when it cannot. */
static bool spill_locked(struct gen_cache *gc, struct gen_content *g)
{
  struct spill_file *sf = gc->sf;

  VTREE_ASSERT_HELD(&gc->mu);
  assert(g->refs == 1);  /* the cache's only: no reader sees it move */
  if (!sf) {
    if (gc->no_spill)
      return false;
    sf = calloc(1, sizeof(*sf));
    if (!sf)
      return false;
    sf->fd = open(gc->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (sf->fd < 0) {
      free(sf);
      return false;
    }
    /* The allocation unit (f_frsize), not st_blksize: that is the
     * preferred I/O size, 128 KiB on some filesystems, and would charge
     * each small crop that much.  Clamped to a sane range. */
    struct statvfs sv;
    uint64_t blk = fstatvfs(sf->fd, &sv) == 0 && sv.f_frsize > 0
                     ? (uint64_t)sv.f_frsize : 4096;
    sf->block = blk < 512 ? 512 : blk > 65536 ? 65536 : blk;
    /* Eviction gives space back by punching holes; without them the file
     * would only grow while the accounting says it shrank. */
    if (fallocate(sf->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  (off_t)sf->block) != 0) {
      close(sf->fd);
      free(sf);
      gc->no_spill = true;
      return false;
    }
    sf->refs = 1;  /* the cache's */
    gc->sf = sf;
  }
  /* The file's apparent size is held to twice the disk bound (with
   * room for one entry): reuse keeps it near what the disk tier holds, and
   * past that limit (ranges too fragmented for the entry) the entry
   * leaves the cache instead. */
  uint64_t span = spill_span(sf, g->size), off;
  if (!spill_take_locked(gc, sf, span, 2 * gc->disk_max + GEN_MEM_MAX, &off))
    return false;
  if (g->size && fd_write_all(sf->fd, g->mem.data, g->size, (off_t)off) < 0) {
    fallocate(sf->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
              (off_t)span);
    spill_give_locked(gc, sf, off, span);
    return false;
  }
  g->sf = sf;
  sf->refs++;
  g->sf_off = off;
  gc->mem_used -= g->mem.cap;
  g->charge_mem -= g->mem.cap;
  buf_free(&g->mem);
  mlist_remove(gc, g);
  g->charge_disk = spill_span(sf, g->size);
  gc->disk_used += g->charge_disk;
  gc->spilled++;
  return true;
}

/* Drops an entry from the cache (its readers keep it). */
static void evict_locked(struct gen_cache *gc, struct gen_content *g,
                         struct gen_content **freed)
{
  VTREE_ASSERT_HELD(&gc->mu);
  assert(g->refs > 0 && g->cached);
  unlink_entry(gc, g);
  gc->evicted++;
  if (--g->refs == 0) {
    /* Freed after unlocking (content_free takes the lock for the spill
     * file). */
    g->next = *freed;
    *freed = g;
  }
}

/* Brings both tiers within their bounds, least recently used first;
 * `keep` (being handed out) stays.  Entries being generated are skipped. */
static void trim_locked(struct gen_cache *gc, struct gen_content *keep,
                        struct gen_content **freed)
{
  struct gen_content *g, *pv;

  VTREE_ASSERT_HELD(&gc->mu);
  /* Memory: first move small content to disk, least recently used
   * first; only if bookkeeping alone is over the bound do entries leave
   * (a disk entry evicted for its bookkeeping frees little). */
  for (g = gc->mtail; g && gc->mem_used > gc->mem_max; g = pv) {
    pv = g->mprev;
    if (!g->ready || g == keep || g->refs > 1)
      continue;  /* in use: moves later */
    if (!spill_locked(gc, g))
      evict_locked(gc, g, freed);  /* cannot spill: leave the cache */
  }
  for (g = gc->tail; g && gc->mem_used > gc->mem_max; g = pv) {
    pv = g->prev;
    if (!g->ready || g == keep)
      continue;
    evict_locked(gc, g, freed);
  }
  for (g = gc->tail; g && gc->disk_used > gc->disk_max; g = pv) {
    pv = g->prev;
    if (!g->ready || g == keep || !g->charge_disk)
      continue;
    evict_locked(gc, g, freed);
  }
}

static void free_list(struct gen_content *g)
{
  for (struct gen_content *nx; g; g = nx) {
    nx = g->next;
    g->next = NULL;
    content_free(g);
  }
}

static struct gen_content *new_entry(struct gen_cache *gc,
                                     const char *fullpath, uint64_t key)
{
  struct gen_content *g = calloc(1, sizeof(*g));

  if (g && fullpath && !(g->path = strdup(fullpath))) {
    free(g);
    return NULL;
  }
  if (g) {
    g->gc = gc;
    g->fd = -1;
    g->key = key;
    buf_init(&g->mem, GEN_MEM_MAX);
  }
  return g;
}

/* After a generation into memory: give back the buffer's slack, since
 * small entries stay for long. */
static void shrink(struct gen_content *g)
{
  if (g->fd < 0 && g->mem.data && g->mem.cap > g->mem.len + 64) {
    char *p = realloc(g->mem.data, g->mem.len + 1);
    if (p) {
      g->mem.data = p;
      g->mem.cap = g->mem.len + 1;
    }
  }
}

static int offer(void *ud, const char *ppath, uint64_t key, const void *data,
                 size_t n);

static int generate(struct fs_ctx *c, const struct provider *p,
                    struct store_txn *t, const char *ppath,
                    struct gen_content *g, uint64_t key)
{
  struct spill sp = { g, c, p, store_dir(c->store), { { 0 }, false } };
  struct sink sink = { sink_write, &sp, key ? offer : NULL };
  int r;

  import_hasher_begin(&sp.hs);
  r = p->generate ? p->generate(c, t, ppath, &sink) : -EIO;
  g->bytes_h = bytes_hash_end(&sp.hs, g->size);
  shrink(g);
  return r < 0 ? r : 0;
}

static struct gen_content *find_locked(struct gen_cache *gc,
                                       const char *fullpath, uint64_t key)
{
  uint64_t h = hash_of(fullpath, key);
  struct gen_content *g;

  VTREE_ASSERT_HELD(&gc->mu);
  if (!gc->tab)
    return NULL;
  for (g = gc->tab[h & (gc->cap - 1)]; g; g = g->hnext)
    if (g->hash == h && g->key == key && strcmp(g->path, fullpath) == 0)
      break;
  return g;
}

/* With gc->mu held: a reference to the cached content of (path, key),
 * once it is ready, and moved to the front of the LRU list; NULL if it is
 * not cached.  The caller unlocks. */
static struct gen_content *take_locked(struct gen_cache *gc,
                                       const char *fullpath, uint64_t key)
{
  struct gen_content *g = find_locked(gc, fullpath, key);

  if (!g)
    return NULL;
  assert(g->refs > 0);  /* the cache's, at least */
  g->refs++;
  while (!g->ready)
    pthread_cond_wait(&gc->cv, &gc->mu);
  /* A failed generation has left the list meanwhile. */
  if (g->cached && gc->head != g) {
    g->prev->next = g->next;
    if (g->next)
      g->next->prev = g->prev;
    else
      gc->tail = g->prev;
    push_front(gc, g);
  }
  if (g->in_mlist)
    mlist_front(gc, g);
  return g;
}

/* Hands out a reference from take_locked() (unlocking gc->mu): 0, or its
 * generation's error (the reference then dropped). */
static int hand_out(struct gen_content *g, struct gen_content **ret)
{
  int r = g->err;

  pthread_mutex_unlock(&g->gc->mu);
  if (r < 0) {
    gen_put(g);
    return r;
  }
  *ret = g;
  return 0;
}

int gen_find(struct fs_ctx *c, const char *fullpath, uint64_t key,
             struct gen_content **ret)
{
  struct gen_cache *gc = c->gc;
  struct gen_content *g;

  *ret = NULL;
  pthread_mutex_lock(&gc->mu);
  g = take_locked(gc, fullpath, key);
  if (!g) {
    pthread_mutex_unlock(&gc->mu);
    return -ENOENT;
  }
  gc->hits++;
  return hand_out(g, ret);
}

bool gen_cached(struct fs_ctx *c, const char *fullpath, uint64_t key)
{
  struct gen_cache *gc = c->gc;
  bool r;

  pthread_mutex_lock(&gc->mu);
  r = find_locked(gc, fullpath, key) != NULL;
  pthread_mutex_unlock(&gc->mu);
  return r;
}

/* sink.offer: content of another path of the same provider made along
 * the way, under its own content key (a provider's content key of a file
 * with a version of its own is that version), or 0: the key of the
 * content being generated.  Cached as ready unless already there. */
static int offer(void *ud, const char *ppath, uint64_t key, const void *data,
                 size_t n)
{
  struct spill *sp = ud;
  struct gen_cache *gc = sp->c->gc;
  struct gen_content *g, *freed = NULL;
  struct import_hasher hs;
  char full[4200];
  int r;

  if (!key)
    key = sp->g->key;
  if (n > GEN_MEM_MAX)
    return 0;  /* only small content; the rest is generated when asked */
  if ((size_t)snprintf(full, sizeof(full), "%s/%s", sp->p->name, ppath) >=
      sizeof(full))
    return 0;
  pthread_mutex_lock(&gc->mu);
  g = find_locked(gc, full, key);
  pthread_mutex_unlock(&gc->mu);
  if (g)
    return 0;
  g = new_entry(gc, full, key);
  if (!g)
    return -ENOMEM;
  r = buf_append(&g->mem, data, n);
  if (r < 0) {
    content_free(g);
    return r;
  }
  g->size = n;
  import_hasher_begin(&hs);
  import_hasher_add(&hs, data, n);
  g->bytes_h = bytes_hash_end(&hs, n);
  shrink(g);
  g->ready = true;
  pthread_mutex_lock(&gc->mu);
  if (find_locked(gc, full, g->key)) {
    pthread_mutex_unlock(&gc->mu);
    content_free(g);
    return 0;
  }
  g->refs = 1;  /* the cache's */
  if (!insert_locked(gc, g)) {
    pthread_mutex_unlock(&gc->mu);
    content_free(g);
    return -ENOMEM;
  }
  charge_locked(gc, g);
  trim_locked(gc, NULL, &freed);
  pthread_mutex_unlock(&gc->mu);
  free_list(freed);
  return 0;
}

/* The birth time of content `what` (its bytes' hash) of path, shown now
 * (see the head comment).  A new birth comes in the whole second after
 * the latest birth of its set, not only of its path: births of a set
 * never go back, so a path's new birth is later in whole seconds than
 * any earlier one of that path, also one its set has since let go (a
 * floor by path alone lost it there, and rsync could miss a change). */
static int64_t born_locked(struct gen_cache *gc, const char *path,
                           uint64_t what)
{
  const int64_t sec = 1000000000LL;
  uint64_t ph = hash_of(path, 0);
  struct birth *set = gc->births[ph % BIRTH_SETS], *e = NULL;
  int64_t now = time_now_ns(), latest = 0;

  VTREE_ASSERT_HELD(&gc->mu);
  for (unsigned w = 0; w < BIRTH_WAYS; w++) {
    struct birth *b = &set[w];
    if (b->born_ns && b->path_h == ph) {
      if (b->what == what)
        return b->born_ns;
      e = b;
    }
    if (b->born_ns > latest)
      latest = b->born_ns;
  }
  if (!e) {  /* a path new to its set takes the oldest (or a free) way */
    e = &set[0];
    for (unsigned w = 1; w < BIRTH_WAYS; w++)
      if (set[w].born_ns < e->born_ns)
        e = &set[w];
  }
  if (latest && now < (latest / sec + 1) * sec)
    now = (latest / sec + 1) * sec;
  e->path_h = ph;
  e->what = what;
  e->born_ns = now;
  return now;
}

static int64_t text_born(struct gen_cache *gc, const char *path,
                         uint64_t text_h)
{
  int64_t born;

  pthread_mutex_lock(&gc->mu);
  born = born_locked(gc, path, text_h);
  pthread_mutex_unlock(&gc->mu);
  return born;
}

int64_t gen_text_born(struct fs_ctx *c, const char *path, uint64_t text_hash)
{
  return text_born(c->gc, path, text_hash);
}

int gen_get(struct fs_ctx *c, const struct provider *p, struct store_txn *t,
            const char *fullpath, const char *ppath, uint64_t key,
            struct gen_content **ret)
{
  struct gen_cache *gc = c->gc;
  struct gen_content *g, *freed = NULL;
  int r;

  *ret = NULL;
  if (key == 0) {
    g = new_entry(gc, NULL, 0);
    if (!g)
      return -ENOMEM;
    g->refs = 1;
    r = generate(c, p, t, ppath, g, 0);
    if (r < 0) {
      content_free(g);
      return r;
    }
    /* Volatile content is born when its path first gave these bytes. */
    g->born_ns = text_born(gc, fullpath, g->bytes_h);
    g->ready = true;
    *ret = g;
    return 0;
  }

  pthread_mutex_lock(&gc->mu);
  g = take_locked(gc, fullpath, key);
  if (g) {
    gc->hits++;
    return hand_out(g, ret);
  }
  gc->misses++;
  g = new_entry(gc, fullpath, key);
  if (!g) {
    pthread_mutex_unlock(&gc->mu);
    return -ENOMEM;
  }
  g->refs = 2;           /* the cache's and the caller's */
  if (!insert_locked(gc, g)) {
    pthread_mutex_unlock(&gc->mu);
    content_free(g);
    return -ENOMEM;
  }
  pthread_mutex_unlock(&gc->mu);

  r = generate(c, p, t, ppath, g, key);

  pthread_mutex_lock(&gc->mu);
  g->err = r;
  g->ready = true;
  if (r < 0 && g->cached) {
    /* Do not keep failures: the next request tries again. */
    unlink_entry(gc, g);
    g->refs--;
  } else if (g->cached) {
    charge_locked(gc, g);
    trim_locked(gc, g, &freed);
  }
  pthread_cond_broadcast(&gc->cv);
  pthread_mutex_unlock(&gc->mu);
  free_list(freed);
  if (r < 0) {
    gen_put(g);
    return r;
  }
  *ret = g;
  return 0;
}

struct gen_content *gen_ref(struct gen_content *g)
{
  pthread_mutex_lock(&g->gc->mu);
  assert(g->refs > 0);  /* the caller holds one */
  g->refs++;
  pthread_mutex_unlock(&g->gc->mu);
  return g;
}

void gen_put(struct gen_content *g)
{
  bool last;

  if (!g)
    return;
  pthread_mutex_lock(&g->gc->mu);
  assert(g->refs > 0);
  last = --g->refs == 0;
  pthread_mutex_unlock(&g->gc->mu);
  if (last)
    content_free(g);
}

uint64_t gen_size(const struct gen_content *g)
{
  return g->size;
}

int64_t gen_born_ns(struct gen_content *g)
{
  int64_t born;

  /* Keyed content is born when first shown, by what it says: content
   * offered along the way and never looked at moves nothing, and a new
   * key over the same bytes (every file keyed by the store's version,
   * after an edit of one sample) keeps its path's time.  The bytes were
   * hashed as they were made: a table lookup under the lock. */
  pthread_mutex_lock(&g->gc->mu);
  if (!g->born_ns && g->path)
    g->born_ns = born_locked(g->gc, g->path, g->bytes_h);
  born = g->born_ns;
  pthread_mutex_unlock(&g->gc->mu);
  return born;
}

int gen_fd(const struct gen_content *g)
{
  return g->fd;
}

int gen_file(const struct gen_content *g, uint64_t *base)
{
  if (g->fd >= 0) {
    *base = 0;
    return g->fd;
  }
  if (g->sf) {
    *base = g->sf_off;
    return g->sf->fd;
  }
  return -1;
}

const char *gen_mem(const struct gen_content *g)
{
  return g->mem.data ? g->mem.data : "";
}

void gen_cache_stats(struct fs_ctx *c, struct gen_cache_stats *s)
{
  struct gen_cache *gc = c->gc;

  memset(s, 0, sizeof(*s));
  pthread_mutex_lock(&gc->mu);
  s->files = gc->n;
  s->mem_used = gc->mem_used;
  s->mem_max = gc->mem_max;
  s->disk_used = gc->disk_used;
  s->disk_max = gc->disk_max;
  s->hits = gc->hits;
  s->misses = gc->misses;
  s->evicted = gc->evicted;
  s->spilled = gc->spilled;
  pthread_mutex_unlock(&gc->mu);
}

void gen_cache_free(struct fs_ctx *c)
{
  struct gen_cache *gc = c->gc;
  struct gen_content *freed = NULL;

  if (!gc)
    return;  /* never created (state_init() failed or did not run) */
  pthread_mutex_lock(&gc->mu);
  while (gc->head)
    evict_locked(gc, gc->head, &freed);
  spill_put_locked(gc, gc->sf);
  pthread_mutex_unlock(&gc->mu);
  free_list(freed);
  free(gc->tab);
  pthread_cond_destroy(&gc->cv);
  pthread_mutex_destroy(&gc->mu);
  free(gc);
  c->gc = NULL;
}
