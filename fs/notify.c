/* notify.c - kernel cache invalidation on a dedicated thread.
 *
 * libfuse forbids sending a notification from the thread of a "related"
 * request (the kernel may hold the directory lock that the notification
 * waits for, while the request waits for us).  So operations reply first
 * and queue invalidations here; this thread sends them in order, holding no
 * lock while it talks to the kernel.  -ENOENT from the kernel ("never saw
 * that inode") is normal and ignored.
 *
 * Only inode invalidations are sent, never entry invalidations: those wait
 * for the parent directory's lock, which a rename in flight holds while it
 * waits for us, and if the daemon is then killed neither side can finish
 * (the mount hangs until aborted through fusectl).  Dentries stay right by
 * other means (see node.h).
 *
 * Ownership: the queue (c->nq) is created by notify_start() and freed by
 * notify_stop() (main.c, around the session).  Locking: the queue's
 * mutex guards its entries; the thread sends with no lock held.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "node.h"

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
      q->busy = false;
      pthread_cond_broadcast(&q->idle);
      pthread_cond_wait(&q->cv, &q->mu);
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
