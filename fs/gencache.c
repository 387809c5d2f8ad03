/* gencache.c - generated file content, cached per (path, key) (see
 * vtree.h).
 *
 * Content is streamed by the provider into a sink that keeps up to
 * GEN_MEM_MAX bytes in memory and spills anything larger into an unlinked
 * temporary file of the store directory, so a generated export of a million
 * boxes costs the daemon a 1 MiB buffer, not the whole document.  The cache
 * holds at most GEN_CACHE_N entries (least recently used dropped first);
 * entries are reference-counted, so an open file keeps its version after
 * the cache has moved on.  A second request for content that is being
 * generated waits for the first instead of generating it again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vtree.h"

#define GEN_MEM_MAX (1u << 20)
#define GEN_CACHE_N 64

struct gen_content {
  struct gen_content *prev, *next;   /* LRU list, most recent first */
  unsigned refs;                     /* guarded by the cache mutex */
  bool ready, cached;
  int err;
  char *path;
  uint64_t key;
  uint64_t size;
  int fd;                            /* -1 unless spilled */
  struct buf mem;
};

struct gen_cache {
  struct gen_content *head;
  size_t n;
};

/* One lock for the list and every reference count (one mount per
 * process). */
static pthread_mutex_t gen_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gen_cv = PTHREAD_COND_INITIALIZER;

static struct gen_cache *cache(struct fs_ctx *c)
{
  pthread_mutex_lock(&c->mu);
  if (!c->gc) {
    struct gen_cache *g = calloc(1, sizeof(*g));
    if (g)
      c->gc = g;
  }
  pthread_mutex_unlock(&c->mu);
  return c->gc;
}

static void content_free(struct gen_content *g)
{
  if (g->fd >= 0)
    close(g->fd);
  buf_free(&g->mem);
  free(g->path);
  free(g);
}

struct spill {
  struct gen_content *g;
  const char *dir;
};

static int write_all(int fd, const void *p, size_t n)
{
  const char *s = p;
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -errno;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

static int sink_write(void *ud, const void *p, size_t n)
{
  struct spill *sp = ud;
  struct gen_content *g = sp->g;
  int r;

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
    r = write_all(g->fd, g->mem.data, g->mem.len);
    buf_free(&g->mem);
    if (r < 0)
      return r;
  }
  r = write_all(g->fd, p, n);
  if (r == 0)
    g->size += n;
  return r;
}

static void unlink_entry(struct gen_cache *gc, struct gen_content *g)
{
  if (g->prev)
    g->prev->next = g->next;
  else
    gc->head = g->next;
  if (g->next)
    g->next->prev = g->prev;
  g->prev = g->next = NULL;
  g->cached = false;
  gc->n--;
}

static int generate(struct fs_ctx *c, const struct provider *p,
                    struct store_txn *t, const char *ppath,
                    struct gen_content *g)
{
  struct spill sp = { g, store_dir(c->store) };
  struct gen_sink sink = { sink_write, &sp };
  int r = p->generate ? p->generate(c, t, ppath, &sink) : -EIO;

  return r < 0 ? r : 0;
}

static struct gen_content *find_locked(struct gen_cache *gc,
                                       const char *fullpath, uint64_t key)
{
  struct gen_content *g;

  for (g = gc->head; g; g = g->next)
    if (g->key == key && strcmp(g->path, fullpath) == 0)
      break;
  return g;
}

/* With gen_mu held: a reference to the cached content of (path, key),
 * once it is ready, and moved to the front of the LRU list; NULL if it is
 * not cached.  The caller unlocks. */
static struct gen_content *take_locked(struct gen_cache *gc,
                                       const char *fullpath, uint64_t key)
{
  struct gen_content *g = find_locked(gc, fullpath, key);

  if (!g)
    return NULL;
  g->refs++;
  while (!g->ready)
    pthread_cond_wait(&gen_cv, &gen_mu);
  /* A failed generation has left the list meanwhile. */
  if (g->cached && gc->head != g) {
    g->prev->next = g->next;
    if (g->next)
      g->next->prev = g->prev;
    g->prev = NULL;
    g->next = gc->head;
    gc->head->prev = g;
    gc->head = g;
  }
  return g;
}

/* Hands out a reference from take_locked() (unlocking gen_mu): 0, or its
 * generation's error (the reference then dropped). */
static int hand_out(struct gen_content *g, struct gen_content **ret)
{
  int r = g->err;

  pthread_mutex_unlock(&gen_mu);
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
  struct gen_cache *gc = cache(c);
  struct gen_content *g;

  *ret = NULL;
  if (!gc)
    return -ENOMEM;
  pthread_mutex_lock(&gen_mu);
  g = take_locked(gc, fullpath, key);
  if (!g) {
    pthread_mutex_unlock(&gen_mu);
    return -ENOENT;
  }
  return hand_out(g, ret);
}

int gen_get(struct fs_ctx *c, const struct provider *p, struct store_txn *t,
            const char *fullpath, const char *ppath, uint64_t key,
            struct gen_content **ret)
{
  struct gen_cache *gc = cache(c);
  struct gen_content *g;
  int r;

  *ret = NULL;
  if (!gc)
    return -ENOMEM;
  if (key == 0) {
    g = calloc(1, sizeof(*g));
    if (!g)
      return -ENOMEM;
    g->fd = -1;
    buf_init(&g->mem, GEN_MEM_MAX);
    g->refs = 1;
    r = generate(c, p, t, ppath, g);
    if (r < 0) {
      content_free(g);
      return r;
    }
    g->ready = true;
    *ret = g;
    return 0;
  }

  pthread_mutex_lock(&gen_mu);
  g = take_locked(gc, fullpath, key);
  if (g)
    return hand_out(g, ret);
  g = calloc(1, sizeof(*g));
  if (g)
    g->path = strdup(fullpath);
  if (!g || !g->path) {
    pthread_mutex_unlock(&gen_mu);
    free(g);
    return -ENOMEM;
  }
  g->fd = -1;
  buf_init(&g->mem, GEN_MEM_MAX);
  g->key = key;
  g->refs = 2;           /* the cache's and the caller's */
  g->cached = true;
  g->next = gc->head;
  if (gc->head)
    gc->head->prev = g;
  gc->head = g;
  gc->n++;
  /* Evict the least recently used finished entries beyond the limit. */
  if (gc->n > GEN_CACHE_N) {
    struct gen_content *tail = gc->head, *pv;
    while (tail->next)
      tail = tail->next;
    for (; gc->n > GEN_CACHE_N && tail && tail != g; tail = pv) {
      pv = tail->prev;
      if (!tail->ready)
        continue;
      unlink_entry(gc, tail);
      if (--tail->refs == 0)
        content_free(tail);
    }
  }
  pthread_mutex_unlock(&gen_mu);

  r = generate(c, p, t, ppath, g);

  pthread_mutex_lock(&gen_mu);
  g->err = r;
  g->ready = true;
  if (r < 0 && g->cached) {
    /* Do not keep failures: the next request tries again. */
    unlink_entry(gc, g);
    g->refs--;
  }
  pthread_cond_broadcast(&gen_cv);
  pthread_mutex_unlock(&gen_mu);
  if (r < 0) {
    gen_put(g);
    return r;
  }
  *ret = g;
  return 0;
}

struct gen_content *gen_ref(struct gen_content *g)
{
  pthread_mutex_lock(&gen_mu);
  g->refs++;
  pthread_mutex_unlock(&gen_mu);
  return g;
}

void gen_put(struct gen_content *g)
{
  bool last;

  if (!g)
    return;
  pthread_mutex_lock(&gen_mu);
  last = --g->refs == 0;
  pthread_mutex_unlock(&gen_mu);
  if (last)
    content_free(g);
}

uint64_t gen_size(const struct gen_content *g)
{
  return g->size;
}

int gen_fd(const struct gen_content *g)
{
  return g->fd;
}

const char *gen_mem(const struct gen_content *g)
{
  return g->mem.data ? g->mem.data : "";
}

void gen_cache_free(struct fs_ctx *c)
{
  struct gen_cache *gc = c->gc;

  if (!gc)
    return;
  for (struct gen_content *g = gc->head, *nx; g; g = nx) {
    nx = g->next;
    content_free(g);
  }
  free(gc);
  c->gc = NULL;
}
