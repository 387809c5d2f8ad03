/* test_uniqueness.c - uniqueness scores, greedy removal, find_unique
 * bisection and ranking on hand-made inputs.
 *
 * Neighbours come from a brute-force provider over points on a line
 * (distance |p_i - p_j|) or over a fixed distance matrix, both written
 * here.  Points are dyadic so every distance is exact and the hand traces
 * in the comments hold bit for bit.
 */
#include "testlib.h"
#include "knn.h"
#include "uniqueness.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- scores ------------------------------------------------------------- */

/* raw = (0.6 d1 + 0.3 d2 + 0.1 d3) / 3:
 *   [1,1,1] -> 1/3, [0,0,3] -> 0.1, [2,2,2] -> 2/3, [0.5,1,2] -> 0.8/3.
 * Divided by max 2/3: 0.5, 0.15, 1, 0.4.  Rows have a 4th column (ld = 4,
 * as knn_exact() with k = 4 returns) that must be ignored. */
TEST(scores_known)
{
  const float d[4 * 4] = {
    1, 1, 1, -7,
    0, 0, 3, NAN,
    2, 2, 2, 0,
    0.5f, 1, 2, 99,
  };
  double s[4];

  CHECK_INT_EQ(uniq_scores(d, 4, 4, s), 0);
  CHECK_NEAR(s[0], 0.5, 1e-12);
  CHECK_NEAR(s[1], 0.15, 1e-12);
  CHECK_NEAR(s[2], 1.0, 0);
  CHECK_NEAR(s[3], 0.4, 1e-12);
}

TEST(scores_small_n)
{
  double s[3] = { 0, 0, 0 };
  const float bad[3] = { -1, -1, -1 };

  /* n <= 3: all 1, distances not read (NULL or garbage are fine) */
  CHECK_INT_EQ(uniq_scores(NULL, 3, 3, s), 0);
  CHECK_NEAR(s[0], 1, 0);
  CHECK_NEAR(s[1], 1, 0);
  CHECK_NEAR(s[2], 1, 0);
  s[0] = 0;
  CHECK_INT_EQ(uniq_scores(bad, 1, 3, s), 0);
  CHECK_NEAR(s[0], 1, 0);
  CHECK_INT_EQ(uniq_scores(NULL, 0, 3, NULL), 0);
}

TEST(scores_ties_and_zero_max)
{
  const float tie[5 * 3] = {
    0.2f, 0.4f, 0.4f,
    0.1f, 0.1f, 0.1f,
    0.2f, 0.4f, 0.4f,
    0, 0, 0,
    0.1f, 0.1f, 0.1f,
  };
  const float zero[4 * 3] = { 0 };
  double s[5];

  CHECK_INT_EQ(uniq_scores(tie, 5, 3, s), 0);
  CHECK_NEAR(s[0], 1, 0);
  CHECK_NEAR(s[2], 1, 0);
  CHECK_NEAR(s[1], s[4], 0);
  /* 0.1·(0.6+0.3+0.1) / (0.12+0.12+0.04) */
  CHECK_NEAR(s[1], 0.1 / 0.28, 1e-6);
  CHECK_NEAR(s[3], 0, 0);

  /* every sample has 3 exact duplicates: max raw 0 -> all 1 */
  CHECK_INT_EQ(uniq_scores(zero, 4, 3, s), 0);
  for (int i = 0; i < 4; i++)
    CHECK_NEAR(s[i], 1, 0);
}

TEST(scores_invalid)
{
  float d[4 * 3] = { 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3 };
  double s[4];

  CHECK_INT_EQ(uniq_scores(d, 4, 3, s), 0);
  CHECK_INT_EQ(uniq_scores(d, 4, 2, s), -EINVAL);
  CHECK_INT_EQ(uniq_scores(NULL, 4, 3, s), -EINVAL);
  d[4] = 5; /* row 1 = 1, 5, 3: not ascending */
  CHECK_INT_EQ(uniq_scores(d, 4, 3, s), -EINVAL);
  d[4] = 2;
  d[9] = -0.5f;
  CHECK_INT_EQ(uniq_scores(d, 4, 3, s), -EINVAL);
  d[9] = 1;
  d[11] = NAN;
  CHECK_INT_EQ(uniq_scores(d, 4, 3, s), -EINVAL);
  d[11] = INFINITY;
  CHECK_INT_EQ(uniq_scores(d, 4, 3, s), -EINVAL);
}

/* ---- neighbour providers ------------------------------------------------ */

/* Points on a line; returns every other point (the greedy filters). */
struct line {
  const double *p;
  size_t n;
  uint32_t idx[64];
  float dist[64];
  size_t calls;
};

static int line_nbrs(void *ud, size_t i, double t, const uint32_t **ret_idx,
                     const float **ret_dist, size_t *ret_n)
{
  struct line *l = ud;
  size_t m = 0;

  (void)t;
  l->calls++;
  for (size_t j = 0; j < l->n; j++) {
    if (j == i)
      continue;
    l->idx[m] = (uint32_t)j;
    l->dist[m] = (float)fabs(l->p[i] - l->p[j]);
    m++;
  }
  *ret_idx = l->idx;
  *ret_dist = l->dist;
  *ret_n = m;
  return 0;
}

static int fail_nbrs(void *ud, size_t i, double t, const uint32_t **ret_idx,
                     const float **ret_dist, size_t *ret_n)
{
  return -EIO;
}

static int empty_nbrs(void *ud, size_t i, double t, const uint32_t **ret_idx,
                      const float **ret_dist, size_t *ret_n)
{
  size_t *calls = ud;

  (*calls)++;
  *ret_n = 0;
  return 0;
}

/* dyadic points: pairwise 0-1 .125, 0-2 .25, 1-2 .125, 3-4 .0625,
 * 0-3 1, 0-4 1.0625, 2-3 .75, 4-5 1.9375, 0-5 3 */
static const double P[6] = { 0, 0.125, 0.25, 1.0, 1.0625, 3.0 };

static size_t keep_mask(const bool *k, size_t n)
{
  size_t m = 0;

  for (size_t i = 0; i < n; i++)
    if (k[i])
      m |= (size_t)1 << i;
  return m;
}

#define BITS(...) bits_of((const int[]){ __VA_ARGS__, -1 })
static size_t bits_of(const int *v)
{
  size_t m = 0;

  for (; *v >= 0; v++)
    m |= (size_t)1 << *v;
  return m;
}

/* ---- greedy ------------------------------------------------------------- */

TEST(greedy_line)
{
  struct line l = { .p = P, .n = 6 };
  bool k[6];
  size_t kept;

  /* t=.2: 0 drops 1; 2 is .25 from 0 and stays; 3 drops 4 */
  CHECK_INT_EQ(uniq_greedy(6, line_nbrs, &l, 0.2, k, &kept), 0);
  CHECK_INT_EQ(kept, 4);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 2, 3, 5));
  /* t=.125 (inclusive): 0 drops 1; 1 is gone, so it cannot drop 2 */
  CHECK_INT_EQ(uniq_greedy(6, line_nbrs, &l, 0.125, k, &kept), 0);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 2, 3, 5));
  /* t=.12: only 3-4 is close enough */
  CHECK_INT_EQ(uniq_greedy(6, line_nbrs, &l, 0.12, k, &kept), 0);
  CHECK_INT_EQ(kept, 5);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 1, 2, 3, 5));
  /* t=.3: 0 drops 1 and 2, 3 drops 4 */
  CHECK_INT_EQ(uniq_greedy(6, line_nbrs, &l, 0.3, k, &kept), 0);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 3, 5));
  /* t=-1: nothing is that close */
  CHECK_INT_EQ(uniq_greedy(6, line_nbrs, &l, -1, k, &kept), 0);
  CHECK_INT_EQ(kept, 6);
}

/* A hand-built CSR graph of the pairs of P within 0.3, through the
 * ready-made adapter; lists sorted by distance as knn_radius() makes them. */
TEST(greedy_graph_adapter)
{
  size_t off[7] = { 0, 2, 4, 6, 7, 8, 8 };
  uint32_t idx[8] = { 1, 2, 0, 2, 1, 0, 4, 3 };
  float dist[8] = { .125f, .25f, .125f, .125f, .125f, .25f, .0625f, .0625f };
  struct knn_graph g = { .n = 6, .off = off, .idx = idx, .dist = dist };
  bool k[7];
  size_t kept;

  CHECK_INT_EQ(uniq_greedy(6, uniq_nbr_graph, &g, 0.2, k, &kept), 0);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 2, 3, 5));
  CHECK_INT_EQ(uniq_greedy(6, uniq_nbr_graph, &g, 0.3, k, &kept), 0);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 3, 5));
  /* graph with fewer rows than asked for */
  CHECK_INT_EQ(uniq_greedy(7, uniq_nbr_graph, &g, 0.3, k, &kept), -EINVAL);
  /* a neighbour index out of range is rejected */
  idx[0] = 6;
  CHECK_INT_EQ(uniq_greedy(6, uniq_nbr_graph, &g, 0.3, k, &kept), -EINVAL);
}

/* k-NN lists need not be symmetric: here 1 lists 0 as a neighbour but 0
 * does not list 1.  Only later samples are removed, so 0 (processed first,
 * seeing nothing) and 1 (whose only neighbour is earlier) both stay; 2 is
 * removed by 1. */
TEST(greedy_asymmetric_lists)
{
  size_t off[4] = { 0, 0, 2, 2 };
  uint32_t idx[2] = { 0, 2 };
  float dist[2] = { 0.01f, 0.02f };
  struct knn_graph g = { .n = 3, .off = off, .idx = idx, .dist = dist };
  bool k[3];
  size_t kept;

  CHECK_INT_EQ(uniq_greedy(3, uniq_nbr_graph, &g, 0.5, k, &kept), 0);
  CHECK_INT_EQ(kept, 2);
  CHECK_INT_EQ(keep_mask(k, 3), BITS(0, 1));
}

TEST(greedy_errors)
{
  bool k[3];
  size_t kept;

  CHECK_INT_EQ(uniq_greedy(3, fail_nbrs, NULL, 0.5, k, &kept), -EIO);
  CHECK_INT_EQ(uniq_greedy(3, NULL, NULL, 0.5, k, &kept), -EINVAL);
  CHECK_INT_EQ(uniq_greedy(3, fail_nbrs, NULL, NAN, k, &kept), -EINVAL);
  CHECK_INT_EQ(uniq_greedy(0, NULL, NULL, 0.5, NULL, &kept), 0);
  CHECK_INT_EQ(kept, 0);
}

/* ---- find_unique -------------------------------------------------------- */

TEST(find_unique_line)
{
  struct line l = { .p = P, .n = 6 };
  bool k[6];
  size_t kept;
  double th;

  /* target 2: t=1 keeps {0,4,5} (3 >= 2) -> lower=1, t=2 keeps {0,5} */
  CHECK_INT_EQ(uniq_find_unique(6, line_nbrs, &l, 2, 0, k, &kept, &th), 0);
  CHECK_INT_EQ(kept, 2);
  CHECK_NEAR(th, 2, 0);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 5));

  /* target 4: t=1 -> 3, t=.5 -> 3, t=.25 -> 3 ({0,3,5}), t=.125 -> 4 */
  CHECK_INT_EQ(uniq_find_unique(6, line_nbrs, &l, 4, 0, k, &kept, &th), 0);
  CHECK_INT_EQ(kept, 4);
  CHECK_NEAR(th, 0.125, 0);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 2, 3, 5));

  /* target 5: ... t=.125 -> 4 < 5 -> t=.0625 keeps all but 4 */
  CHECK_INT_EQ(uniq_find_unique(6, line_nbrs, &l, 5, 0, k, &kept, &th), 0);
  CHECK_INT_EQ(kept, 5);
  CHECK_NEAR(th, 0.0625, 0);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 1, 2, 3, 5));

  /* init 0.3: t=.3 -> 3 < 4 -> t=.15 keeps {0,2,3,5} */
  CHECK_INT_EQ(uniq_find_unique(6, line_nbrs, &l, 4, 0.3, k, &kept, &th),
               0);
  CHECK_INT_EQ(kept, 4);
  CHECK_NEAR(th, 0.15, 0);
}

TEST(find_unique_extremes)
{
  struct line l = { .p = P, .n = 6 };
  bool k[6];
  size_t kept;
  double th = 0;

  CHECK_INT_EQ(uniq_find_unique(6, line_nbrs, &l, 0, 0, k, &kept, &th), 0);
  CHECK_INT_EQ(kept, 0);
  CHECK_INT_EQ(keep_mask(k, 6), 0);
  CHECK(isnan(th));
  CHECK_INT_EQ(uniq_find_unique(6, line_nbrs, &l, -3, 0, k, &kept, &th), 0);
  CHECK_INT_EQ(kept, 0);
  CHECK_INT_EQ(uniq_find_unique(6, line_nbrs, &l, 6, 0, k, &kept, &th), 0);
  CHECK_INT_EQ(kept, 6);
  CHECK_INT_EQ(keep_mask(k, 6), BITS(0, 1, 2, 3, 4, 5));
  CHECK(isnan(th));
  CHECK_INT_EQ(uniq_find_unique(6, line_nbrs, &l, 100, 0, k, &kept, &th), 0);
  CHECK_INT_EQ(kept, 6);
  CHECK_INT_EQ(l.calls, 0); /* no greedy run in these cases */
  CHECK_INT_EQ(uniq_find_unique(6, fail_nbrs, NULL, 3, 0, k, &kept, &th),
               -EIO);
}

/* Plateau from above: {0,0,0,5} keeps 2 for every 0 <= t < 5, so 3 is
 * unreachable.  Trace: t_i = 2^-i, kept 2 < 3 each time, upper = t_i.  The
 * stop rule (kept unchanged, upper - lower < 1e-6) first holds at i = 21,
 * where upper = 2^-20 = 9.5e-7: 22 greedy runs, each querying the 2 kept
 * samples. */
TEST(find_unique_plateau_below)
{
  static const double q[4] = { 0, 0, 0, 5 };
  struct line l = { .p = q, .n = 4 };
  bool k[4];
  size_t kept;
  double th;

  CHECK_INT_EQ(uniq_find_unique(4, line_nbrs, &l, 3, 0, k, &kept, &th), 0);
  CHECK_INT_EQ(kept, 2);
  CHECK_INT_EQ(keep_mask(k, 4), BITS(0, 3));
  CHECK_NEAR(th, ldexp(1, -21), 0);
  CHECK_INT_EQ(l.calls, 22 * 2);
}

/* Plateau around 1: three points at mutual distance 1 (a fixed matrix
 * through a CSR graph) keep 3 for t < 1 and 1 for t >= 1; target 2 is
 * unreachable and lower climbs towards 1 until the gap is < 1e-6. */
TEST(find_unique_plateau_above)
{
  size_t off[4] = { 0, 2, 4, 6 };
  uint32_t idx[6] = { 1, 2, 0, 2, 0, 1 };
  float dist[6] = { 1, 1, 1, 1, 1, 1 };
  struct knn_graph g = { .n = 3, .off = off, .idx = idx, .dist = dist };
  bool k[3];
  size_t kept;
  double th;

  CHECK_INT_EQ(uniq_find_unique(3, uniq_nbr_graph, &g, 2, 0, k, &kept, &th),
               0);
  CHECK_INT_EQ(kept, 3);
  CHECK(th < 1);
  CHECK(th > 1 - 2e-6);
}

/* No neighbours at all: kept never drops, the reference would double t
 * forever; here the loop ends after UNIQ_BISECT_MAX_ITER runs. */
TEST(find_unique_iteration_cap)
{
  size_t calls = 0;
  bool k[5];
  size_t kept;
  double th;

  CHECK_INT_EQ(uniq_find_unique(5, empty_nbrs, &calls, 2, 0, k, &kept, &th),
               0);
  CHECK_INT_EQ(kept, 5);
  CHECK_INT_EQ(calls, (size_t)UNIQ_BISECT_MAX_ITER * 5);
  CHECK_NEAR(th, ldexp(1, UNIQ_BISECT_MAX_ITER - 1), 0);
}

TEST(keep_count)
{
  CHECK_INT_EQ(uniq_keep_count(5, 0.5), 2);   /* 2.5 -> even */
  CHECK_INT_EQ(uniq_keep_count(7, 0.5), 4);   /* 3.5 -> even */
  CHECK_INT_EQ(uniq_keep_count(10, 0.25), 8); /* 7.5 -> even */
  CHECK_INT_EQ(uniq_keep_count(10, 0.34), 7); /* 6.6 */
  CHECK_INT_EQ(uniq_keep_count(10, -1), 10);
  CHECK_INT_EQ(uniq_keep_count(10, 2), 0);
  CHECK_INT_EQ(uniq_keep_count(10, NAN), 10);
}

TEST(rank)
{
  const double s[5] = { 0.5, 1, 0.5, 0.9, NAN };
  const bool keep[5] = { true, false, true, true, false };
  size_t o[5], m;

  CHECK_INT_EQ(uniq_rank(s, NULL, 5, o, &m), 0);
  CHECK_INT_EQ(m, 5);
  CHECK_INT_EQ(o[0], 1);
  CHECK_INT_EQ(o[1], 3);
  CHECK_INT_EQ(o[2], 0);
  CHECK_INT_EQ(o[3], 2);
  CHECK_INT_EQ(o[4], 4);
  CHECK_INT_EQ(uniq_rank(s, keep, 5, o, &m), 0);
  CHECK_INT_EQ(m, 3);
  CHECK_INT_EQ(o[0], 3);
  CHECK_INT_EQ(o[1], 0);
  CHECK_INT_EQ(o[2], 2);
  CHECK_INT_EQ(uniq_rank(NULL, NULL, 5, o, &m), -EINVAL);
}

/* ---- stopping ------------------------------------------------------------ */

/* uniq_find_unique() over uniq_nbr_graph_stop() gives up once the flag is
 * raised.  A graph where every list holds only the sample itself: every
 * greedy pass keeps all ST_N, the target of half is never reached and
 * the threshold doubles for all UNIQ_BISECT_MAX_ITER passes: about 4 s
 * of CPU in the plain build without the check.  Raised at
 * STOP_AT_S, it returns -ECANCELED within a pass of it. */
enum { ST_N = 4000000 };
#define STOP_AT_S 0.3

TEST(find_unique_stops)
{
  struct knn_graph g = { .n = ST_N };
  bool *keep = malloc(ST_N * sizeof(*keep));
  int stop = 0;
  struct uniq_graph_stop gs = { &g, &stop, 0 };
  struct tl_raiser rs = { &stop, STOP_AT_S };
  pthread_t tid;
  size_t kept = 0;
  double thresh = 0, t0, took;

  g.off = malloc((ST_N + 1) * sizeof(*g.off));
  g.idx = malloc(ST_N * sizeof(*g.idx));
  g.dist = malloc(ST_N * sizeof(*g.dist));
  CHECK(keep && g.off && g.idx && g.dist);
  if (!keep || !g.off || !g.idx || !g.dist)
    goto out;
  for (size_t i = 0; i < ST_N; i++) {
    g.off[i] = i;
    g.idx[i] = (uint32_t)i;
    g.dist[i] = 0;
  }
  g.off[ST_N] = ST_N;
  /* Without a flag the same graph runs to the end. */
  gs.stop = NULL;
  CHECK_INT_EQ(uniq_find_unique(1000, uniq_nbr_graph_stop, &gs, 500, NAN,
                                keep, &kept, &thresh), 0);
  CHECK_INT_EQ(kept, 1000);
  gs.stop = &stop;
  CHECK_INT_EQ(pthread_create(&tid, NULL, tl_raise_later, &rs), 0);
  t0 = tl_now_s();
  CHECK_INT_EQ(uniq_find_unique(ST_N, uniq_nbr_graph_stop, &gs, ST_N / 2,
                                NAN, keep, &kept, &thresh), -ECANCELED);
  took = tl_now_s() - t0;
  pthread_join(tid, NULL);
  printf("# find_unique of %d samples, stopped at %.1f s: returned after "
         "%.2f s\n", ST_N, STOP_AT_S, took);
  CHECK(took < STOP_AT_S + 1.5);   /* the old code: about 4 s of CPU */
out:
  free(keep);
  knn_graph_free(&g);
}

TEST_MAIN(T(scores_known), T(scores_small_n), T(scores_ties_and_zero_max),
          T(scores_invalid), T(greedy_line), T(greedy_graph_adapter),
          T(greedy_asymmetric_lists), T(greedy_errors), T(find_unique_line),
          T(find_unique_extremes), T(find_unique_plateau_below),
          T(find_unique_plateau_above), T(find_unique_iteration_cap),
          T(keep_count), T(rank), T(find_unique_stops))
