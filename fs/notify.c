/* notify.c - kernel cache invalidation on a dedicated thread.
 *
 * libfuse forbids sending a notification from the thread of a "related"
 * request (the kernel may hold the directory lock that the notification
 * waits for, while the request waits for us).  So operations reply first
 * and queue invalidations here; this thread sends them in order, holding no
 * lock while it talks to the kernel.  -ENOENT from the kernel ("never saw
 * that inode") is normal and ignored.
 *
 * No entry invalidation is sent: one waits for the parent directory's
 * lock, which a rename in flight holds while it waits for us, and if the
 * daemon is then killed neither side can finish (the mount hangs until
 * aborted through fusectl).  Names are dropped instead by moving the
 * kernel's epoch (FUSE_NOTIFY_INC_EPOCH, Linux 6.16): an atomic increment
 * in the kernel, no lock, so it is sent synchronously from the thread of
 * the request that changed the store, before that request's reply.  Every
 * name the kernel looked up before it is looked up again at its next use.
 * Without it, dentries stay right by other means (see node.h), and names
 * a store change can alter are never cached.
 *
 * The same thread looks at the store version every 200 ms, so a change
 * made next to the mount (`curate`) or by a background thread of the
 * daemon also moves the epoch.
 *
 * Ownership: the queue (c->nq) is created by notify_start() and freed by
 * notify_stop() (main.c, around the session).  Locking: the queue's
 * mutex guards its entries; the thread sends with no lock held.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "node.h"

/* Protocol 7.44 (Linux 6.16); Debian 12's <linux/fuse.h> is 7.38 and
 * libfuse 3.14 has no call for it, so the daemon writes the notification
 * itself: a bare header whose error field is the code, unique 0. */
#define NOTIFY_INC_EPOCH 8
#define EPOCH_MIN_MINOR 44
/* How often the thread looks for store changes made by others. */
#define EPOCH_TICK_NS 200000000L

struct nq_item {
  struct nq_item *next;
  uint64_t ino;
  bool data;           /* drop cached data too, not only attributes */
};

struct notify_queue {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_cond_t idle;
  struct nq_item *head, *tail;
  bool stop, busy;
};

static void *notify_main(void *arg)
{
  struct fs_ctx *c = arg;
  struct notify_queue *q = c->nq;

  pthread_mutex_lock(&q->mu);
  for (;;) {
    struct nq_item *it;

    while (!q->head && !q->stop) {
      struct timespec ts;
      q->busy = false;
      pthread_cond_broadcast(&q->idle);
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += EPOCH_TICK_NS;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) == ETIMEDOUT) {
        /* A change no request of this mount acknowledged (`curate` next
         * to the mount, a background thread): names within a tick. */
        pthread_mutex_unlock(&q->mu);
        notify_store_changed(c);
        pthread_mutex_lock(&q->mu);
      }
    }
    if (!q->head && q->stop)
      break;
    it = q->head;
    q->head = it->next;
    if (!q->head)
      q->tail = NULL;
    q->busy = true;
    pthread_mutex_unlock(&q->mu);
    if (c->se)
      fuse_lowlevel_notify_inval_inode(c->se, it->ino, it->data ? 0 : -1, 0);
    free(it);
    pthread_mutex_lock(&q->mu);
  }
  q->busy = false;
  pthread_cond_broadcast(&q->idle);
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

int notify_start(struct fs_ctx *c)
{
  struct notify_queue *q = calloc(1, sizeof(*q));

  if (!q)
    return -ENOMEM;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
  pthread_cond_init(&q->idle, NULL);
  c->nq = q;
  if (pthread_create(&q->thread, NULL, notify_main, c) != 0) {
    c->nq = NULL;
    free(q);
    return -EAGAIN;
  }
  return 0;
}

void notify_stop(struct fs_ctx *c)
{
  struct notify_queue *q = c->nq;

  if (!q)
    return;
  pthread_mutex_lock(&q->mu);
  q->stop = true;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  pthread_join(q->thread, NULL);
  while (q->head) {
    struct nq_item *n = q->head->next;
    free(q->head);
    q->head = n;
  }
  c->nq = NULL;
  free(q);
}

void notify_inode(struct fs_ctx *c, uint64_t ino, bool data)
{
  struct notify_queue *q = c->nq;
  struct nq_item *it;

  if (!q)
    return;
  it = malloc(sizeof(*it));
  if (!it)
    return;  /* the TTL still bounds staleness */
  it->next = NULL;
  it->ino = ino;
  it->data = data;
  pthread_mutex_lock(&q->mu);
  if (q->tail)
    q->tail->next = it;
  else
    q->head = it;
  q->tail = it;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

void notify_labels(struct fs_ctx *c, const uint64_t *ids, size_t n)
{
  struct store_txn *t;
  struct store_iter *it;
  struct sample s;
  uint64_t next = 1;

  if (ids) {
    for (size_t i = 0; i < n; i++)
      notify_inode(c, node_ino(NODE_LABEL, ids[i], 0), true);
    return;
  }
  if (store_txn_begin(c->store, false, &t) < 0)
    return;
  if (store_iter_new(t, &it) == 0) {
    while (store_iter_samples(it, next, &s) == 0) {
      next = s.id + 1;
      notify_inode(c, node_ino(NODE_LABEL, s.id, 0), true);
    }
    store_iter_free(it);
  }
  store_txn_abort(t);
}

/* ---- the kernel's name epoch ---- */

/* Writes one FUSE_NOTIFY_INC_EPOCH to /dev/fuse.  0, or -errno (-EINVAL:
 * the kernel does not know the code). */
static int send_inc_epoch(struct fs_ctx *c)
{
  struct fuse_out_header h = { .len = sizeof(h), .error = NOTIFY_INC_EPOCH };
  int fd = c->se ? fuse_session_fd(c->se) : -1;
  ssize_t n;

  if (fd < 0)
    return -ENOTCONN;
  do
    n = write(fd, &h, sizeof(h));
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  return n == (ssize_t)sizeof(h) ? 0 : -EIO;
}

/* The store version + 1 (0 on failure). */
static uint64_t version_now(struct fs_ctx *c)
{
  struct store_txn *t;
  uint64_t v = 0;
  int r;

  if (store_txn_begin(c->store, false, &t) < 0)
    return 0;
  r = store_version(t, &v);
  store_txn_abort(t);
  return r < 0 ? 0 : v + 1;
}

void notify_epoch_init(struct fs_ctx *c, unsigned kernel_minor)
{
  uint64_t v0 = version_now(c);
  int r;

  /* Asked at INIT, before any name is given an entry time that relies on
   * the answer; the probe moves an epoch nothing was stamped with yet. */
  if (c->noepoch)
    r = -EPERM;
  else if (kernel_minor < EPOCH_MIN_MINOR)
    r = -ENOSYS;
  else
    r = send_inc_epoch(c);
  /* A read-only mount's kernel reads a kept name's inode without asking
   * us first: the snapshot that inode's version can be made again from
   * (see notify_store_changed). */
  if (r == 0 && c->readonly && store_snaps_new(c->store, &c->snaps) == 0 &&
      store_snaps_renew(c->snaps, &v0) == 0)
    v0++;
  if (r == 0)  /* what the probe covered (read before it was sent) */
    __atomic_store_n(&c->epoch_ver, v0, __ATOMIC_RELEASE);
  __atomic_store_n(&c->epoch, r == 0 ? 1 : -1, __ATOMIC_RELEASE);
  if (r < 0 && r != -EPERM)
    log_msg(LOG_LVL_INFO, "kernel name epoch: unavailable (protocol 7.%u: "
            "%s); generated files are looked up at every open",
            kernel_minor, strerror(-r));
}

bool notify_epoch_on(const struct fs_ctx *c)
{
  return __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE) > 0;
}

void notify_seen_version(struct fs_ctx *c, uint64_t ver)
{
  if (notify_epoch_on(c) &&
      ver + 1 > __atomic_load_n(&c->epoch_ver, __ATOMIC_ACQUIRE))
    notify_store_changed(c);
}

/* Sends the epoch move for a change to store version v (+1) or later;
 * with snapshots, takes the snapshot of the store first, and records the
 * version it shows.  Called with c->notice_mu held. */
static void notice(struct fs_ctx *c, uint64_t v)
{
  uint64_t had = __atomic_load_n(&c->epoch_ver, __ATOMIC_ACQUIRE), sv;
  int r;

  if (v <= had)
    return;  /* noticed meanwhile */
  /* The snapshot before the move: a lookup that begins after the move
   * reads the store at the snapshot's version or later, so every name the
   * kernel keeps leads to a version the snapshot (or a later one a lookup
   * noticed) shows.  If it cannot be taken, the old snapshots stay and
   * the kernel's names still go. */
  if (c->snaps && store_snaps_renew(c->snaps, &sv) == 0 && sv + 1 > v)
    v = sv + 1;
  /* Sent before it is recorded: a thread that finds its version recorded
   * knows the kernel already dropped the names. */
  r = send_inc_epoch(c);
  if (r < 0) {
    if (r != -ENODEV && r != -ENOTCONN)  /* unmounting */
      log_msg(LOG_LVL_WARN, "kernel name epoch: notification failed: %s",
              strerror(-r));
    return;
  }
  __atomic_store_n(&c->epoch_ver, v, __ATOMIC_RELEASE);
}

void notify_store_changed(struct fs_ctx *c)
{
  uint64_t v;

  if (!notify_epoch_on(c))
    return;  /* no name relies on it (before INIT, or unavailable) */
  v = version_now(c);
  if (!v || v == __atomic_load_n(&c->epoch_ver, __ATOMIC_ACQUIRE))
    return;
  pthread_mutex_lock(&c->notice_mu);
  notice(c, v);
  pthread_mutex_unlock(&c->notice_mu);
}
