/* workpool.c - the ordered parallel loop of workpool.h: one mutex, one
 * condition for "a chunk finished" (consumer waits) and one for "window
 * space freed" (workers wait). */
#include "workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct run {
  const struct workpool *p;
  size_t nchunks, next, consumed;
  unsigned char *done;    /* window flags, chunk c at c % window */
  bool stop;
  pthread_mutex_t mu;
  pthread_cond_t chunk_done, space;
};

struct worker {
  struct run *run;
  int w;
};

static void *worker_main(void *arg)
{
  struct worker *wk = arg;
  struct run *rn = wk->run;
  const struct workpool *p = rn->p;

  pthread_mutex_lock(&rn->mu);
  for (;;) {
    size_t c, first, count;
    while (!rn->stop && rn->next < rn->nchunks &&
           rn->next >= rn->consumed + p->window)
      pthread_cond_wait(&rn->space, &rn->mu);
    if (rn->stop || rn->next >= rn->nchunks)
      break;
    c = rn->next++;
    pthread_mutex_unlock(&rn->mu);
    first = c * p->chunk;
    count = p->n - first < p->chunk ? p->n - first : p->chunk;
    p->work(p->ud, wk->w, first, count);
    pthread_mutex_lock(&rn->mu);
    rn->done[c % p->window] = 1;
    pthread_cond_signal(&rn->chunk_done);
  }
  pthread_mutex_unlock(&rn->mu);
  return NULL;
}

int workpool_run(const struct workpool *p)
{
  struct run rn = { .p = p };
  pthread_t tid[64];
  struct worker wk[64];
  int started = 0, r = 0;

  if (!p->work || !p->consume || p->chunk == 0 || p->window == 0 ||
      p->nthreads < 1 || p->nthreads > 64)
    return -EINVAL;
  if (p->n == 0)
    return 0;
  rn.nchunks = (p->n + p->chunk - 1) / p->chunk;
  rn.done = calloc(p->window, 1);
  if (!rn.done)
    return -ENOMEM;
  pthread_mutex_init(&rn.mu, NULL);
  pthread_cond_init(&rn.chunk_done, NULL);
  pthread_cond_init(&rn.space, NULL);
  for (int i = 0; i < p->nthreads; i++) {
    wk[i].run = &rn;
    wk[i].w = i;
    if (pthread_create(&tid[started], NULL, worker_main, &wk[i]) != 0)
      break;
    started++;
  }
  for (size_t c = 0; c < rn.nchunks; c++) {
    size_t first = c * p->chunk;
    size_t count = p->n - first < p->chunk ? p->n - first : p->chunk;

    if (started == 0) {
      p->work(p->ud, 0, first, count);   /* no threads: work inline */
    } else {
      pthread_mutex_lock(&rn.mu);
      while (!rn.done[c % p->window])
        pthread_cond_wait(&rn.chunk_done, &rn.mu);
      rn.done[c % p->window] = 0;
      pthread_mutex_unlock(&rn.mu);
    }
    if (p->cancel && *p->cancel) {
      r = -ECANCELED;
      break;
    }
    r = p->consume(p->ud, first, count);
    if (r < 0)
      break;
    pthread_mutex_lock(&rn.mu);
    rn.consumed = c + 1;
    pthread_cond_broadcast(&rn.space);
    pthread_mutex_unlock(&rn.mu);
  }
  pthread_mutex_lock(&rn.mu);
  rn.stop = true;
  pthread_cond_broadcast(&rn.space);
  pthread_mutex_unlock(&rn.mu);
  for (int i = 0; i < started; i++)
    pthread_join(tid[i], NULL);
  pthread_cond_destroy(&rn.space);
  pthread_cond_destroy(&rn.chunk_done);
  pthread_mutex_destroy(&rn.mu);
  free(rn.done);
  return r;
}
