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
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "node.h"
#include "vtree.h"

#define WARM_QUIET 1.0      /* seconds without a change before warming */
#define WARM_TICK_NS 200000000L

static pthread_t warm_thread;
static pthread_mutex_t warm_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t warm_cv = PTHREAD_COND_INITIALIZER;
static bool warm_on, warm_stop;

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

static uint64_t warm_seen0 = UINT64_MAX;  /* under warm_mu */

static void *warm_main(void *arg)
{
  struct fs_ctx *c = arg;
  uint64_t warmed = UINT64_MAX, seen = warm_seen0;
  double seen_at = time_mono();

  pthread_mutex_lock(&warm_mu);
  while (!warm_stop) {
    struct timespec ts;
    uint64_t v;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += WARM_TICK_NS;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&warm_cv, &warm_mu, &ts);
    if (warm_stop)
      break;
    pthread_mutex_unlock(&warm_mu);
    v = vtree_store_version(c);
    if (v != seen) {
      /* Whoever changed the store (this mount or a `curate` next to it):
       * the fixed listings are asked again. */
      if (seen != UINT64_MAX) {
        notify_inode(c, node_ino(NODE_DIR, DIR_SAMPLES, 0), true);
        notify_inode(c, node_ino(NODE_DIR, DIR_LABELS, 0), true);
        notify_inode(c, node_ino(NODE_DIR, DIR_TAGS, 0), true);
        notify_tag_dirs(c);
      }
      seen = v;
      seen_at = time_mono();
    } else if (v != warmed && time_mono() - seen_at >= WARM_QUIET) {
      for (size_t i = 0; vtree_providers[i]; i++)
        if (vtree_providers[i]->warm)
          vtree_providers[i]->warm(c);
      warmed = v;
      /* A burst of requests is over: give the memory its worker threads
       * freed back to the system.  glibc keeps freed memory in each
       * thread's arena otherwise, and the daemon stayed at 200 MB after a
       * burst that peaked at 460 MB with nothing left in use. */
      malloc_trim(0);
    }
    pthread_mutex_lock(&warm_mu);
  }
  pthread_mutex_unlock(&warm_mu);
  return NULL;
}

void warm_start(struct fs_ctx *c)
{
  pthread_mutex_lock(&warm_mu);
  /* The version the kernel's first listings will show: a change made
   * next to the mount before the thread's first tick is then noticed
   * (and the listings invalidated) like any later one. */
  warm_seen0 = vtree_store_version(c);
  warm_stop = false;
  if (!warm_on && pthread_create(&warm_thread, NULL, warm_main, c) == 0)
    warm_on = true;
  pthread_mutex_unlock(&warm_mu);
}

void warm_stop_join(struct fs_ctx *c)
{
  (void)c;
  pthread_mutex_lock(&warm_mu);
  if (!warm_on) {
    pthread_mutex_unlock(&warm_mu);
    return;
  }
  warm_stop = true;
  pthread_cond_broadcast(&warm_cv);
  pthread_mutex_unlock(&warm_mu);
  pthread_join(warm_thread, NULL);
  warm_on = false;
}
