/* test_nemb.c - core/compute/nemb.h: the neighbour-embedding map.
 *
 * A clustered synthetic set (tests/gen/vecgen.h: 1,000 rows of 32-d, 24
 * clusters) whose exact neighbour ranking is known from sim_knn() over
 * every other row, so trustworthiness is computed exactly.  The map must
 * keep neighbourhoods (trustworthiness >= 0.9), do better than the PCA
 * projection it starts from, and be the same on every run.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nemb.h"
#include "plot.h"
#include "similarity.h"
#include "testlib.h"
#include "gen/vecgen.h"

#define N 1000
#define D 32

static float X[N * D];
static uint32_t full[N * (N - 1)];
static float fdist[N * (N - 1)];
static uint32_t nbr[N * NEMB_K];

static void setup(void)
{
  static int done;
  if (done)
    return;
  done = 1;
  if (vecgen_clustered(X, N, D, 24, 0.6, 11) < 0)
    abort();
  struct sim_opts o = { .method = SIM_EXACT };
  if (sim_knn(X, N, D, N - 1, full, fdist, &o) < 0)
    abort();
  for (size_t i = 0; i < N; i++)
    memcpy(nbr + i * NEMB_K, full + i * (N - 1), NEMB_K * sizeof(*nbr));
}

TEST(map_keeps_neighbourhoods)
{
  static float y[N * 2], pca[N * 2];
  setup();
  CHECK_INT_EQ(nemb_map(X, N, D, nbr, NEMB_K, y, NULL), 0);
  CHECK_INT_EQ(plot_pca2(X, N, D, pca, NULL), 0);
  double t = nemb_trustworthiness(y, N, full, N - 1, 10);
  double tp = nemb_trustworthiness(pca, N, full, N - 1, 10);
  fprintf(stderr, "trustworthiness@10: map %.4f, PCA %.4f\n", t, tp);
  CHECK(t >= 0.9);
  CHECK(t > tp);
  for (size_t i = 0; i < 2 * N; i++)
    CHECK(isfinite(y[i]));
}

TEST(map_is_deterministic)
{
  static float a[N * 2], b[N * 2];
  setup();
  CHECK_INT_EQ(nemb_map(X, N, D, nbr, NEMB_K, a, NULL), 0);
  CHECK_INT_EQ(nemb_map(X, N, D, nbr, NEMB_K, b, NULL), 0);
  CHECK(memcmp(a, b, sizeof(a)) == 0);
}

TEST(trustworthiness_bounds)
{
  /* The identity map of a line is perfectly trustworthy; a reversed
   * neighbour list makes the same map untrustworthy. */
  enum { M = 40 };
  static float y[M * 2];
  static uint32_t nb[M * (M - 1)], rev[M * (M - 1)];
  for (size_t i = 0; i < M; i++) {
    y[2 * i] = (float)i, y[2 * i + 1] = 0;
    size_t c = 0;
    /* Others by distance along the line, ties to the lower index. */
    for (size_t d = 1; d < M; d++) {
      if (i >= d)
        nb[i * (M - 1) + c++] = (uint32_t)(i - d);
      if (i + d < M)
        nb[i * (M - 1) + c++] = (uint32_t)(i + d);
    }
    for (size_t k = 0; k < M - 1; k++)
      rev[i * (M - 1) + k] = nb[i * (M - 1) + (M - 2 - k)];
  }
  CHECK(fabs(nemb_trustworthiness(y, M, nb, M - 1, 5) - 1.0) < 1e-9);
  CHECK(nemb_trustworthiness(y, M, rev, M - 1, 5) < 0.5);
  CHECK(isnan(nemb_trustworthiness(y, M, nb, M - 1, 30)));
}

TEST(bad_input)
{
  float y[8] = { 0 };
  uint32_t nb[4] = { 1, 0, 3, 2 };
  CHECK_INT_EQ(nemb_layout(NULL, 4, 1, y, NULL), -EINVAL);
  CHECK_INT_EQ(nemb_layout(nb, 4, 2000, y, NULL), -EINVAL);
  /* Out-of-range and self entries are skipped, not followed. */
  uint32_t odd[4] = { UINT32_MAX, 1, 99, 3 };
  CHECK_INT_EQ(nemb_layout(odd, 4, 1, y, NULL), 0);
  for (int i = 0; i < 8; i++)
    CHECK(isfinite(y[i]));
  /* Tiny sets: the PCA projection alone. */
  float x3[3 * 2] = { 0, 0, 1, 0, 0, 1 }, o3[6];
  CHECK_INT_EQ(nemb_map(x3, 3, 2, NULL, 0, o3, NULL), 0);
}

/* The layout gives up once the stop flag is raised (an unmount while
 * plots/ computes its map).  ST_N points in a random start with random
 * neighbour lists (a cache miss at nearly every edge), ST_EPOCHS epochs:
 * several seconds of the plain build without the check.  Raised at
 * STOP_AT_S, the layout returns -ECANCELED within a few thousand points
 * of it. */
enum { ST_N = 100000, ST_EPOCHS = 60 };
#define STOP_AT_S 0.3

TEST(layout_stops)
{
  float *y = malloc(ST_N * 2 * sizeof(*y));
  uint32_t *nb = malloc((size_t)ST_N * NEMB_K * sizeof(*nb));
  uint64_t s = 7;
  int stop = 0;
  struct nemb_opts o = { .epochs = ST_EPOCHS, .stop = &stop };
  struct tl_raiser rs = { &stop, STOP_AT_S };
  pthread_t tid;
  double t0, took;

  CHECK(y && nb);
  if (!y || !nb)
    goto out;
  for (size_t i = 0; i < (size_t)ST_N * NEMB_K; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    nb[i] = (uint32_t)((s >> 33) % ST_N);
  }
  for (size_t i = 0; i < ST_N * 2; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    y[i] = (float)((s >> 40) % 20001) / 1000.0f - 10.0f;
  }
  CHECK_INT_EQ(pthread_create(&tid, NULL, tl_raise_later, &rs), 0);
  t0 = tl_now_s();
  CHECK_INT_EQ(nemb_layout(nb, ST_N, NEMB_K, y, &o), -ECANCELED);
  took = tl_now_s() - t0;
  pthread_join(tid, NULL);
  printf("# layout of %d points, stopped at %.1f s: returned after %.2f s\n",
         ST_N, STOP_AT_S, took);
  CHECK(took < STOP_AT_S + 1.5);   /* the old code: about 4 s of CPU */
out:
  free(y);
  free(nb);
}

TEST_MAIN(T(map_keeps_neighbourhoods), T(map_is_deterministic),
          T(trustworthiness_bounds), T(bad_input), T(layout_stops))
