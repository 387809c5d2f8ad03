/* warm.c - prepares expensive generated files before anyone asks.
 *
 * Some generated files take a while: the COCO JSON of a large dataset is
 * a second or more of work.  A training job that opens it right after a
 * curation step should not wait for that, so this thread watches the store
 * version and, once it has been still for WARM_QUIET seconds (a burst of
 * tag moves is one change, not a thousand), asks each provider with a
 * ->warm hook to generate what it knows readers will want.  The content
 * lands in the content cache (gencache.c), where the next open finds it; a
 * reader arriving during the work waits for it instead of starting again.
 *
 * Each hook decides what it prepares (`export.prewarm` turns the exports
 * off).  Views are computed
 * ahead the same way (prov_views.c), which also keeps `ls views/unique`
 * after an import from waiting for the k-NN.  The thread holds no
 * lock while it works and stops at unmount.
 *
 * File sets that readers walk (the crops of export/imagenet, the drawn
 * images of small views) are prepared with warm_dir(): one file after the
 * other, in a read transaction renewed every few files, stopping when the
 * store moves on (the next quiet period starts over), at unmount, or when
 * the content cache is three quarters full (warming must not evict what
 * readers use).  The thread runs at nice 19, one thread: a reader's own
 * generation always has a core before it.
 *
 * Ownership: struct warm is the generated tree's (vtree_state.warm),
 * created and freed with it; the thread runs between warm_start() and
 * warm_stop_join().  Locking: mu guards on, stop and seen0; the thread
 * waits on cv between ticks and holds no lock while it works.  It finds
 * the providers in vtree_state.providers, so this file does not depend on
 * the registry (vtree.c), which starts it.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "node.h"
#include "vtree.h"

#define WARM_QUIET 1.0      /* seconds without a change before warming */
#define WARM_TICK_NS 200000000L
#define WARM_NICE 19
#define WARM_BATCH 32       /* files per read transaction */

struct warm {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;   /* while on */
  bool on, stop;      /* under mu */
  uint64_t seen0;     /* under mu: the version at start */
  uint64_t target;    /* under mu: the version warm_all() prepares */
};

int warm_new(struct warm **ret)
{
  struct warm *w = calloc(1, sizeof(*w));

  *ret = w;
  if (!w)
    return -ENOMEM;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  w->seen0 = UINT64_MAX;
  return 0;
}

void warm_free(struct warm *w)
{
  if (!w)
    return;
  assert(!w->on);  /* warm_stop_join() came first */
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

static bool warm_cancelled(struct warm *wm)
{
  bool r;

  pthread_mutex_lock(&wm->mu);
  r = wm->stop;
  pthread_mutex_unlock(&wm->mu);
  return r;
}

/* The version being prepared, or UINT64_MAX once unmount asked to stop. */
static uint64_t warm_target(struct warm *wm)
{
  uint64_t v;

  pthread_mutex_lock(&wm->mu);
  v = wm->stop ? UINT64_MAX : wm->target;
  pthread_mutex_unlock(&wm->mu);
  return v;
}

bool warm_should_stop(struct fs_ctx *c)
{
  uint64_t want = warm_target(c->vs->warm);

  return want == UINT64_MAX || provlib_store_version(c) != want;
}

struct warm_items {
  char **name;
  uint64_t *key;
  size_t n, cap, max;
  bool over;
};

static int collect(const char *name, const struct vent *e, uint64_t cookie,
                   void *ud)
{
  struct warm_items *w = ud;

  (void)cookie;
  if (e->kind != VENT_FILE || !e->key)
    return 0;
  if (w->n >= w->max) {
    w->over = true;
    return 1;
  }
  if (w->n == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 64;
    char **nn = realloc(w->name, nc * sizeof(*nn));
    uint64_t *nk = nn ? realloc(w->key, nc * sizeof(*nk)) : NULL;
    if (nn)
      w->name = nn;
    if (!nk)
      return 1;
    w->key = nk;
    w->cap = nc;
  }
  if (!(w->name[w->n] = strdup(name)))
    return 1;
  w->key[w->n++] = e->key;
  return 0;
}

/* Whether the content cache has room for more prepared content. */
static bool cache_has_room(struct fs_ctx *c)
{
  struct gen_cache_stats s;

  gen_cache_stats(c, &s);
  return s.mem_used + s.disk_used < (s.mem_max + s.disk_max) / 4 * 3;
}

int warm_dir(struct fs_ctx *c, const struct provider *p, const char *dir,
             size_t max_files)
{
  struct warm_items w = { .max = max_files };
  struct store_txn *t = NULL;
  uint64_t want = warm_target(c->vs->warm);
  size_t made = 0;
  double t0 = time_mono();
  int r;

  if (want == UINT64_MAX)
    return -ECANCELED;
  r = store_txn_begin(c->store, false, &t);
  if (r < 0)
    return r;
  /* Prepared for the version the quiet period settled on, or not at all:
   * a hook's later directories must not go on at a newer one (the next
   * quiet period starts over). */
  r = provlib_version_key(t) == want ? p->list(c, t, dir, 0, collect, &w) : -ECANCELED;
  if (r == 0 && w.over)
    log_msg(LOG_LVL_INFO, "not preparing %s/%s: more than %zu files",
            p->name, dir, max_files);
  for (size_t i = 0; r == 0 && !w.over && i < w.n; i++) {
    char full[4200], rel[4200];  /* rel: full below the provider's top */
    struct gen_content *g;

    /* Unmount waits for this thread: it gives up before each file (a
     * crop may be the decode of a large photo), not only between
     * batches. */
    if (i && warm_cancelled(c->vs->warm)) {
      r = -ECANCELED;
      break;
    }
    if (i % WARM_BATCH == 0 && i) {
      store_txn_abort(t);
      t = NULL;
      if (!cache_has_room(c)) {
        r = -ENOSPC;
        break;
      }
      r = store_txn_begin(c->store, false, &t);
      if (r < 0)
        break;
      if (provlib_version_key(t) != want) {
        r = -ECANCELED;  /* the store moved on */
        break;
      }
    }
    int nf = snprintf(full, sizeof(full), "%s/%s/%s", p->name, dir,
                      w.name[i]);
    if (nf < 0 || (size_t)nf >= sizeof(full))
      continue;
    snprintf(rel, sizeof(rel), "%s", full + strlen(p->name) + 1);
    if (gen_cached(c, full, w.key[i]))
      continue;
    if (gen_get(c, p, t, full, rel, w.key[i], &g) == 0) {
      made++;
      gen_put(g);
    }
  }
  store_txn_abort(t);
  if (made)
    log_msg(LOG_LVL_INFO, "prepared %zu files of %s/%s (%.2f s)", made,
            p->name, dir, time_mono() - t0);
  for (size_t i = 0; i < w.n; i++)
    free(w.name[i]);
  free(w.name);
  free(w.key);
  return r;
}

/* Each tags/<t>/ listing: an import next to the mount marks members
 * missing or restores them without a membership change the kernel saw. */
static void notify_tag_dirs(struct fs_ctx *c)
{
  struct store_txn *t;
  struct store_iter *it;
  uint64_t tid, from = 1;
  const char *name;

  if (store_txn_begin(c->store, false, &t) < 0)
    return;
  if (store_iter_new(t, &it) == 0) {
    while (store_iter_tags(it, from, &tid, &name) == 0) {
      notify_inode(c, node_ino(NODE_TAG, tid, 0), true);
      from = tid + 1;
    }
    store_iter_free(it);
  }
  store_txn_abort(t);
}

/* Asks each provider with a ->warm hook to prepare its files, then gives
 * the memory a burst of requests freed back to the system. */
static void warm_all(struct fs_ctx *c, uint64_t v)
{
  const struct provider *const *pv = c->vs->providers;
  struct warm *wm = c->vs->warm;

  /* glibc keeps freed memory in each thread's arena otherwise, and the
   * daemon stayed at 200 MB after a burst that peaked at 460 MB with
   * nothing left in use.  Once before the work, since on a busy machine
   * this nice-19 thread may take long to finish it, and once after. */
  malloc_trim(0);
  pthread_mutex_lock(&wm->mu);
  wm->target = v;
  pthread_mutex_unlock(&wm->mu);
  for (size_t i = 0; pv[i] && !warm_should_stop(c); i++)
    if (pv[i]->warm)
      pv[i]->warm(c);
  malloc_trim(0);
}

/* Whoever changed the store (this mount or a `curate` next to it): the
 * fixed listings are asked again. */
static void notify_fixed_dirs(struct fs_ctx *c)
{
  notify_inode(c, node_ino(NODE_DIR, DIR_SAMPLES, 0), true);
  notify_inode(c, node_ino(NODE_DIR, DIR_LABELS, 0), true);
  notify_inode(c, node_ino(NODE_DIR, DIR_TAGS, 0), true);
  notify_tag_dirs(c);
}

static void tick_deadline(struct timespec *ts)
{
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_nsec += WARM_TICK_NS;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static void *warm_main(void *arg)
{
  struct fs_ctx *c = arg;
  struct warm *wm = c->vs->warm;
  uint64_t warmed = UINT64_MAX, seen;
  double seen_at = time_mono();

  /* Background work: below every reader (Linux nice is per thread). */
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WARM_NICE);

  pthread_mutex_lock(&wm->mu);
  seen = wm->seen0;
  while (!wm->stop) {
    struct timespec ts;
    uint64_t v;

    tick_deadline(&ts);
    pthread_cond_timedwait(&wm->cv, &wm->mu, &ts);
    if (wm->stop)
      break;
    pthread_mutex_unlock(&wm->mu);
    v = provlib_store_version(c);
    if (v != seen) {
      if (seen != UINT64_MAX)
        notify_fixed_dirs(c);
      seen = v;
      seen_at = time_mono();
    } else if (v != warmed && time_mono() - seen_at >= WARM_QUIET) {
      warm_all(c, v);
      warmed = v;
    }
    pthread_mutex_lock(&wm->mu);
  }
  pthread_mutex_unlock(&wm->mu);
  return NULL;
}

void warm_start(struct fs_ctx *c)
{
  struct warm *wm = c->vs->warm;

  pthread_mutex_lock(&wm->mu);
  /* The version the kernel's first listings will show: a change made
   * next to the mount before the thread's first tick is then noticed
   * (and the listings invalidated) like any later one. */
  wm->seen0 = provlib_store_version(c);
  wm->stop = false;
  if (!wm->on && pthread_create(&wm->thread, NULL, warm_main, c) == 0)
    wm->on = true;
  pthread_mutex_unlock(&wm->mu);
}

void warm_stop_join(struct fs_ctx *c)
{
  struct warm *wm = c->vs->warm;

  pthread_mutex_lock(&wm->mu);
  if (!wm->on) {
    pthread_mutex_unlock(&wm->mu);
    return;
  }
  wm->stop = true;
  pthread_cond_broadcast(&wm->cv);
  pthread_mutex_unlock(&wm->mu);
  pthread_join(wm->thread, NULL);
  pthread_mutex_lock(&wm->mu);
  wm->on = false;
  pthread_mutex_unlock(&wm->mu);
}
