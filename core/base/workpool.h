/* workpool.h - an ordered parallel loop: worker threads process items
 * 0..n-1 in chunks, in any order, while the calling thread consumes the
 * finished chunks strictly in order.  import.c uses it so that file reads,
 * header parsing, hashing and decoding run on every core while a single
 * thread does all store writes (LMDB allows one writer) in a deterministic
 * order.
 *
 * Memory is bounded by `window`: a worker does not start chunk c until
 * chunk c - window has been consumed.  So per-item results can live in a
 * ring of chunk * window slots, item i in slot i % (chunk * window).
 *
 * No globals; each call creates and joins its own threads.
 */
#ifndef CURATE_WORKPOOL_H
#define CURATE_WORKPOOL_H

#include <stddef.h>

struct workpool {
  size_t n;          /* items */
  size_t chunk;      /* items per chunk, >= 1 */
  size_t window;     /* chunks done but not yet consumed, at most; >= 1 */
  int nthreads;      /* worker threads, 1..64 */
  /* Processes items [first, first + count) on worker w (0..nthreads-1);
   * called from worker threads, concurrently for different chunks. */
  void (*work)(void *ud, int w, size_t first, size_t count);
  /* Consumes items [first, first + count), in order, on the calling
   * thread.  A negative return stops the loop and is returned. */
  int (*consume)(void *ud, size_t first, size_t count);
  /* When non-NULL and set non-zero, the loop stops before the next
   * consume and returns -ECANCELED. */
  const volatile int *cancel;
  void *ud;
};

/* Runs the loop; returns 0, consume's error, -ECANCELED or -EINVAL.  If no
 * thread can be created, the calling thread does the work itself. */
int workpool_run(const struct workpool *p);

#endif
