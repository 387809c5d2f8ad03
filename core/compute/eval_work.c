/* eval_work.c - scratch memory and the worker pool of the evaluation
 * (eval_i.h).  They sit below evaluate.c and both phases, so that the
 * phases never call back into the file that runs them. */
#include "eval_i.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

void *eval_grow(void *p, size_t *cap, size_t need, size_t elem, int *r)
{
  if (need <= *cap)
    return p;
  size_t n = *cap ? *cap : 16;
  while (n < need) {
    if (n > SIZE_MAX / 2) {
      *r = -ENOMEM;
      return p;
    }
    n *= 2;
  }
  if (n > SIZE_MAX / elem) {
    *r = -ENOMEM;
    return p;
  }
  void *q = realloc(p, n * elem);
  if (!q) {
    *r = -ENOMEM;
    return p;
  }
  *cap = n;
  return q;
}

void *eval_zalloc(size_t n, size_t elem)
{
  return calloc(n ? n : 1, elem);
}

/* Runs fn on n workers: the calling thread is worker 0.  Work is pulled
 * from run->next, so if a thread cannot be created the others simply do
 * its share.  Returns the first worker error. */
int eval_run_workers(struct worker *ws, int n, void *(*fn)(void *))
{
  int r = 0;

  for (int k = 1; k < n; k++)
    ws[k].started = pthread_create(&ws[k].tid, NULL, fn, &ws[k]) == 0;
  fn(&ws[0]);
  for (int k = 1; k < n; k++) {
    if (ws[k].started)
      pthread_join(ws[k].tid, NULL);
    ws[k].started = false;
  }
  for (int k = 0; k < n && !r; k++)
    r = ws[k].err;
  return r;
}
