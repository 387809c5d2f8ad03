/* bench_map - the neighbour-embedding map of plots/embeddings.jpg
 * (scripts/bench.sh map).  Not a test: it prints figures and ratios
 * against baselines measured in the same run.
 *
 *   bench_map [--small]
 *
 * Data: 100,000 × 128 (--small: 20,000) seeded Gaussian mixture
 * (tests/gen/vecgen.h), 200 clusters, spread 0.8, L2-normalised.
 * Measured: nemb_map() (PCA start, then the layout) on the 10-NN graph,
 * the work the mount does for plots/embeddings.jpg once views/unique has
 * its k-NN lists.  Goal: <= 10 s wall on 2 cores at 100,000 rows.
 * Baselines, same run, same data:
 *   (a) the k-NN graph itself (sim_knn(), k = 10, two workers), which the
 *       map reuses from views/unique rather than recomputing;
 *   (b) the PCA projection alone (plot_pca2()), the old picture.
 * Also printed: trustworthiness (k = 10) of the map on a 2,000-row
 * subset, against the exact neighbours within that subset.
 */
#include "nemb.h"
#include "plot.h"
#include "similarity.h"
#include "util.h"
#include "gen/vecgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define D 128
#define K NEMB_K

/* CPU seconds of the process: on a shared machine the wall clock also
 * counts time spent waiting for other processes. */
static double cpu(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
  void *p = malloc(n);
  if (!p) {
    fprintf(stderr, "bench_map: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

/* Trustworthiness on the first m rows: their own exact 10-NN against the
 * map restricted to them. */
static double subset_trust(const float *x, const float *y, size_t m)
{
  uint32_t *idx = xmalloc(m * 10 * sizeof(*idx));
  float *dist = xmalloc(m * 10 * sizeof(*dist));
  struct sim_opts o = { .method = SIM_EXACT };
  double t = NAN;
  if (sim_knn(x, m, D, 10, idx, dist, &o) == 0)
    t = nemb_trustworthiness(y, m, idx, 10, 10);
  free(idx);
  free(dist);
  return t;
}

int main(int argc, char **argv)
{
  bool small = argc > 1 && strcmp(argv[1], "--small") == 0;
  size_t n = small ? 20000 : 100000;
  float *x = xmalloc(n * D * sizeof(float));
  float *y = xmalloc(n * 2 * sizeof(float));
  uint32_t *idx = xmalloc(n * K * sizeof(uint32_t));
  float *dist = xmalloc(n * K * sizeof(float));

  if (vecgen_clustered(x, n, D, 200, 0.8, 7) < 0)
    return 1;
  double t0 = time_mono();
  if (sim_knn(x, n, D, K, idx, dist, NULL) < 0)
    return 1;
  double t_knn = time_mono() - t0;
  t0 = time_mono();
  if (plot_pca2(x, n, D, y, NULL) < 0)
    return 1;
  double t_pca = time_mono() - t0;
  t0 = time_mono();
  double c0 = cpu();
  if (nemb_map(x, n, D, idx, K, y, NULL) < 0)
    return 1;
  double t_map = time_mono() - t0, c_map = cpu() - c0;
  /* The subset is the first rows: a random sample of the mixture. */
  float *ys = xmalloc(2000 * 2 * sizeof(float));
  memcpy(ys, y, 2000 * 2 * sizeof(float));
  double trust = subset_trust(x, ys, 2000);

  printf("map of %zu x %d, %d-NN graph, wall seconds on this machine\n", n,
         D, K);
  printf("  %-40s %8.2f s\n", "baseline (a): k-NN graph (sim_knn)", t_knn);
  printf("  %-40s %8.2f s\n", "baseline (b): PCA projection", t_pca);
  printf("  %-40s %8.2f s  %.2fx (a)  %.1fx (b)\n",
         "neighbour map (PCA start + layout)", t_map, t_map / t_knn,
         t_map / t_pca);
  /* The map runs on one thread, so its CPU time is its wall time on a
   * core of its own; the wall clock above also counts the time the
   * machine gave to other processes. */
  printf("  %-40s %8.2f s  goal <= 10 s: %s\n",
         "neighbour map, CPU seconds (one thread)", c_map,
         c_map <= 10 ? "met" : "NOT met");
  printf("  %-40s %8.3f\n", "trustworthiness@10 (2,000-row subset)", trust);
  free(x), free(y), free(ys), free(idx), free(dist);
  return 0;
}
