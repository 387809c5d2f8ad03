/* bench_group - the near-duplicate grouping at scale, and how soon it
 * gives up when asked to stop (scripts/bench.sh group).  Not a test: it
 * prints figures and ratios against a baseline measured in the same run.
 *
 *   bench_group [--small]
 *
 * Data: 100,000 rows of 16 floats (--small: 30,000), in clusters of 65
 * near-identical rows, so that every row has 64 others within the
 * threshold: 6.4 million directed pairs to collect, sort and group, the
 * densest case the grouping meets (a folder of bursts, or of frames).
 * No thumbnails: the grouping's own work, not the pixel check.
 *
 * 1. neardup_near_in() at the default threshold against its baseline,
 *    knn_exact() of the same rows for the 64 nearest (the search the
 *    grouping starts with), both on 2 threads: the grouping's cost beyond
 *    the search.
 * 2. The wait after a stop: the same grouping run again nine times with
 *    the stop flag (knn_opts.stop, what an unmount raises) set at 10 %,
 *    20 %, ... 90 % of the full run's time; the time from the flag to the
 *    return, at most and in the middle.  Goal: at most 0.5 s, an
 *    unmount's wait.
 */
#include "knn.h"
#include "neardup.h"
#include "testlib.h"   /* tl_now_s, tl_raise_later */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 16, CLUSTER = 65, K = 64 };

static float *gen(size_t n)
{
  float *x = malloc(n * D * sizeof(*x)), c[D];
  uint32_t s = 1;

  if (!x)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < D; k++) {
      s = s * 1103515245u + 12345u;
      if (i % CLUSTER == 0)
        c[k] = (float)((s >> 8) % 20001) / 10000.0f - 1.0f;
      s = s * 1103515245u + 12345u;
      x[i * D + k] = c[k] + (float)((s >> 8) % 1001) * 1e-6f;
    }
  }
  return x;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

/* One grouping with the stop flag raised after `after` s (< 0: never):
 * its wall time into *took; 0, -ECANCELED or another error. */
static int group(const struct neardup_input *in, double after,
                 double *took)
{
  int stop = 0;
  struct knn_opts ko = { .nthreads = 2, .stop = &stop };
  struct tl_raiser rs = { &stop, after };
  struct neardup_groups g;
  pthread_t tid;
  double t0;
  int r;

  if (after >= 0 && pthread_create(&tid, NULL, tl_raise_later, &rs) != 0)
    return -EAGAIN;
  t0 = tl_now_s();
  r = neardup_near_in(in, 0.09, &ko, &g);
  *took = tl_now_s() - t0;
  if (after >= 0)
    pthread_join(tid, NULL);
  if (r == 0)
    neardup_groups_free(&g);
  return r;
}

int main(int argc, char **argv)
{
  int small = argc > 1 && strcmp(argv[1], "--small") == 0;
  size_t n = small ? 30000 : 100000;
  float *x = gen(n), *dist = malloc(n * K * sizeof(*dist));
  uint64_t *ids = malloc(n * sizeof(*ids));
  uint32_t *idx = malloc(n * K * sizeof(*idx));
  struct knn_opts ko = { .nthreads = 2 };
  struct neardup_input in = { .x = x, .n = n, .d = D, .ids = ids };
  double tk, tg, wait[9];
  int r;

  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && !small) {
    fprintf(stderr, "usage: bench_group [--small]\n");
    return 2;
  }
  if (!x || !dist || !ids || !idx) {
    fprintf(stderr, "bench_group: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < n; i++)
    ids[i] = i + 1;
  tk = tl_now_s();
  r = knn_exact(x, n, D, K, &ko, idx, dist);
  tk = tl_now_s() - tk;
  if (r == 0)
    r = group(&in, -1, &tg);
  if (r < 0) {
    fprintf(stderr, "bench_group: %s\n", strerror(-r));
    return 1;
  }
  printf("group  n=%zu d=%d clusters of %d (%zu pairs): grouping %.2f s, "
         "exact %d-NN %.2f s\n", n, D, CLUSTER, n / CLUSTER * CLUSTER *
         (CLUSTER - 1), tg, K, tk);
  printf("group  RATIO grouping / exact k-NN = %.2f (info)\n", tg / tk);
  for (int i = 0; i < 9; i++) {
    double after = tg * (i + 1) / 10, took;
    r = group(&in, after, &took);
    if (r != -ECANCELED && r != 0) {
      fprintf(stderr, "bench_group: %s\n", strerror(-r));
      return 1;
    }
    wait[i] = r == 0 ? 0 : took - after;
    printf("group  stop at %.2f s (%d %%): returned after %.2f s, wait "
           "%.3f s%s\n", after, (i + 1) * 10, took, wait[i],
           r == 0 ? " (had finished)" : "");
  }
  qsort(wait, 9, sizeof(*wait), cmp_double);
  printf("group  WAIT after a stop: at most %.3f s, median %.3f s "
         "(goal <= 0.5 s)\n", wait[8], wait[4]);
  free(x);
  free(dist);
  free(ids);
  free(idx);
  return 0;
}
