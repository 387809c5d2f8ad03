/* bench_group - the near-duplicate grouping at scale, and how soon it
 * gives up when asked to stop (scripts/bench.sh group).  Not a test: it
 * prints figures and ratios against a baseline measured in the same run.
 *
 *   bench_group [--small]
 *
 * Data: 100,000 rows of 16 floats (--small: 30,000), in clusters of 64
 * near-identical rows whose centres lie far apart (0.3 or more in the
 * grouping's distance, against its threshold of 0.09), so that every row
 * has its 63 cluster mates within the threshold and no other: 6.3 million
 * directed pairs to collect, sort and group, all from the first search
 * (no row's list of NEARDUP_K is full, so none is capped), the densest
 * case that path meets (a folder of bursts, or of frames).  The run
 * fails if the grouping reports a capped row or another number of pairs.
 * Every row has a thumbnail slot but none is marked present (thumb_ok
 * 0): the grouping indexes its pairs for the pixel check as an import's
 * does, but scores none, so what is timed is the grouping's own work.
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
#include "imgverify.h"
#include "knn.h"
#include "neardup.h"
#include "testlib.h"   /* tl_now_s, tl_raise_later */

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 16, CLUSTER = 64, K = 64 };

/* 1 - cos of two vectors of D floats. */
static double cos_dist(const float *a, const float *b)
{
  double ab = 0, aa = 0, bb = 0;

  for (int k = 0; k < D; k++) {
    ab += (double)a[k] * b[k];
    aa += (double)a[k] * a[k];
    bb += (double)b[k] * b[k];
  }
  return 1 - ab / sqrt(aa * bb);
}

/* n rows in clusters of CLUSTER around centres drawn until each lies at
 * 0.3 or more from every earlier one (uniform in [-1, 1]^D, whose mean,
 * the origin the grouping centres on, is near 0). */
static float *gen(size_t n)
{
  size_t nc = (n + CLUSTER - 1) / CLUSTER;
  float *x = malloc(n * D * sizeof(*x)), *c = malloc(nc * D * sizeof(*c));
  uint32_t s = 1;

  if (!x || !c) {
    free(x);
    free(c);
    return NULL;
  }
  for (size_t j = 0; j < nc; j++) {
    bool far;
    do {
      far = true;
      for (int k = 0; k < D; k++) {
        s = s * 1103515245u + 12345u;
        c[j * D + k] = (float)((s >> 8) % 20001) / 10000.0f - 1.0f;
      }
      for (size_t i = 0; i < j && far; i++)
        far = cos_dist(c + j * D, c + i * D) >= 0.3;
    } while (!far);
  }
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < D; k++) {
      s = s * 1103515245u + 12345u;
      x[i * D + k] = c[i / CLUSTER * D + k] +
                     (float)((s >> 8) % 1001) * 1e-6f;
    }
  free(c);
  return x;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

/* One grouping with the stop flag raised after `after` s (< 0: never):
 * its wall time into *took and, when it ran to its end, the pairs it
 * found and the rows it capped into ret[0] and ret[1]; 0, -ECANCELED or
 * another error. */
static int group(const struct neardup_input *in, double after,
                 double *took, size_t ret[2])
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
  if (r == 0) {
    ret[0] = g.pairs;
    ret[1] = g.capped;
    neardup_groups_free(&g);
  }
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
  uint8_t *th = calloc(n, IMGVERIFY_BYTES), *ok = calloc(n, 1);
  struct neardup_input in = { .x = x, .n = n, .d = D, .ids = ids,
                              .thumbs = th, .thumb_ok = ok,
                              .verify = IMGVERIFY_ACCEPT_DEFAULT };
  size_t got[2] = { 0, 0 }, rest = n % CLUSTER, want;
  double tk, tg, wait[9];
  int r;

  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && !small) {
    fprintf(stderr, "usage: bench_group [--small]\n");
    return 2;
  }
  if (!x || !dist || !ids || !idx || !th || !ok) {
    fprintf(stderr, "bench_group: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < n; i++)
    ids[i] = i + 1;
  tk = tl_now_s();
  r = knn_exact(x, n, D, K, &ko, idx, dist);
  tk = tl_now_s() - tk;
  if (r == 0)
    r = group(&in, -1, &tg, got);
  if (r < 0) {
    fprintf(stderr, "bench_group: %s\n", strerror(-r));
    return 1;
  }
  /* each pair of cluster mates, once */
  want = n / CLUSTER * (CLUSTER * (CLUSTER - 1) / 2) + rest * (rest - 1) / 2;
  printf("group  n=%zu d=%d clusters of %d: %zu pairs (%zu capped rows), "
         "grouping %.2f s, exact %d-NN %.2f s\n", n, D, CLUSTER, got[0],
         got[1], tg, K, tk);
  if (got[0] != want || got[1] != 0) {
    fprintf(stderr, "bench_group: the data is not what it should be: %zu "
            "pairs (want %zu), %zu capped rows (want 0)\n", got[0], want,
            got[1]);
    return 1;
  }
  printf("group  RATIO grouping / exact k-NN = %.2f (info)\n", tg / tk);
  for (int i = 0; i < 9; i++) {
    double after = tg * (i + 1) / 10, took;
    r = group(&in, after, &took, got);
    if (r != -ECANCELED && r != 0) {
      fprintf(stderr, "bench_group: %s\n", strerror(-r));
      return 1;
    }
    /* a run that went on past the flag waited too, stopped or not */
    wait[i] = took > after ? took - after : 0;
    printf("group  stop at %.2f s (%d %%): returned after %.2f s, wait "
           "%.3f s%s\n", after, (i + 1) * 10, took, wait[i],
           took <= after ? " (had finished)" : r == 0 ? " (ran to its end)"
                                                    : "");
  }
  qsort(wait, 9, sizeof(*wait), cmp_double);
  printf("group  WAIT after a stop: at most %.3f s, median %.3f s "
         "(goal <= 0.5 s)\n", wait[8], wait[4]);
  free(x);
  free(dist);
  free(ids);
  free(idx);
  free(th);
  free(ok);
  return 0;
}
