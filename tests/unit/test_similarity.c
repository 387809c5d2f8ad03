/* test_similarity.c - the facade: backend choice by size, identity with
 * knn_exact() on the exact path, uniqueness from one call (against
 * uniq_scores() over knn_exact() distances), forced HNSW against exact,
 * the stop flag on the HNSW path, the n <= 3 rule, k > n - 1, and bad
 * input.
 */
#include "testlib.h"
#include "knn.h"
#include "similarity.h"
#include "uniqueness.h"
#include "gen/vecgen.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define SMALL 1
#else
#define SMALL 0
#endif

static float *clustered(size_t n, size_t d, uint64_t seed)
{
  float *x = malloc(n * d * sizeof(*x));

  /* not unit length, not centred: the facade must do both */
  if (x && vecgen_clustered(x, n, d, n / 40 + 1, 0.6, seed) == 0) {
    for (size_t e = 0; e < n * d; e++)
      x[e] = x[e] * 3 + 0.25f;
    return x;
  }
  free(x);
  return NULL;
}

TEST(choice_by_size)
{
  struct sim_opts o = { .exact_max = 10 };

  CHECK_INT_EQ(sim_choose(0, NULL), SIM_EXACT);
  CHECK_INT_EQ(sim_choose(SIM_EXACT_MAX, NULL), SIM_EXACT);
  CHECK_INT_EQ(sim_choose(SIM_EXACT_MAX + 1, NULL), SIM_HNSW);
  CHECK_INT_EQ(sim_choose(10, &o), SIM_EXACT);
  CHECK_INT_EQ(sim_choose(11, &o), SIM_HNSW);
  o.method = SIM_EXACT;
  CHECK_INT_EQ(sim_choose(1000000, &o), SIM_EXACT);
  o.method = SIM_HNSW;
  CHECK_INT_EQ(sim_choose(5, &o), SIM_HNSW);
}

/* Below the threshold sim_knn() is knn_center_normalize() + knn_exact(),
 * bit for bit, and leaves the caller's vectors alone. */
TEST(exact_path_identical)
{
  size_t n = 3000, d = 40, k = 7;
  float *x = clustered(n, d, 1), *y = malloc(n * d * sizeof(*y));
  float *keep = malloc(n * d * sizeof(*keep));
  uint32_t *si = malloc(n * k * 4), *ei = malloc(n * k * 4);
  float *sd = malloc(n * k * 4), *ed = malloc(n * k * 4);

  CHECK(x && y && keep && si && ei && sd && ed);
  if (!x || !y || !keep || !si || !ei || !sd || !ed)
    goto out;
  CHECK_INT_EQ(sim_choose(n, NULL), SIM_EXACT);
  memcpy(y, x, n * d * sizeof(*y));
  memcpy(keep, x, n * d * sizeof(*y));
  CHECK_INT_EQ(sim_knn(x, n, d, k, si, sd, NULL), 0);
  CHECK(memcmp(x, keep, n * d * sizeof(*x)) == 0);
  CHECK_INT_EQ(knn_center_normalize(y, n, d), 0);
  CHECK_INT_EQ(knn_exact(y, n, d, k, NULL, ei, ed), 0);
  CHECK(memcmp(si, ei, n * k * 4) == 0);
  CHECK(memcmp(sd, ed, n * k * 4) == 0);
out:
  free(x);
  free(y);
  free(keep);
  free(si);
  free(ei);
  free(sd);
  free(ed);
}

/* sim_uniqueness() = uniq_scores() over the exact 3-NN distances; the
 * most isolated row scores 1. */
TEST(uniqueness_one_call)
{
  size_t n = 2500, d = 32;
  float *x = clustered(n, d, 2), *y = malloc(n * d * sizeof(*y));
  double *s = malloc(n * sizeof(*s)), *want = malloc(n * sizeof(*want));
  uint32_t *ei = malloc(n * 3 * 4);
  float *ed = malloc(n * 3 * 4);
  double mx = 0;

  CHECK(x && y && s && want && ei && ed);
  if (!x || !y || !s || !want || !ei || !ed)
    goto out;
  memcpy(y, x, n * d * sizeof(*y));
  CHECK_INT_EQ(sim_uniqueness(x, n, d, s, NULL), 0);
  CHECK_INT_EQ(knn_center_normalize(y, n, d), 0);
  CHECK_INT_EQ(knn_exact(y, n, d, 3, NULL, ei, ed), 0);
  CHECK_INT_EQ(uniq_scores(ed, n, 3, want), 0);
  for (size_t i = 0; i < n; i++) {
    CHECK(s[i] == want[i]);
    CHECK(s[i] > 0 && s[i] <= 1);
    if (s[i] > mx)
      mx = s[i];
  }
  CHECK(mx == 1.0);
out:
  free(x);
  free(y);
  free(s);
  free(want);
  free(ei);
  free(ed);
}

/* Forced HNSW through the facade: neighbours mostly the exact ones, scores
 * close to the exact scores. */
TEST(hnsw_path_close_to_exact)
{
  size_t n = SMALL ? 3000 : 12000, d = 48, k = 10;
  float *x = clustered(n, d, 3);
  uint32_t *hi = malloc(n * k * 4), *ei = malloc(n * k * 4);
  float *hd = malloc(n * k * 4), *ed = malloc(n * k * 4);
  double *hs = malloc(n * sizeof(*hs)), *es = malloc(n * sizeof(*es));
  struct sim_opts oh = { .method = SIM_HNSW, .seed = 9 };
  size_t hit = 0;
  double err = 0;

  CHECK(x && hi && ei && hd && ed && hs && es);
  if (!x || !hi || !ei || !hd || !ed || !hs || !es)
    goto out;
  CHECK_INT_EQ(sim_knn(x, n, d, k, hi, hd, &oh), 0);
  CHECK_INT_EQ(sim_knn(x, n, d, k, ei, ed, NULL), 0);
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < k; a++)
      for (size_t b = 0; b < k; b++)
        if (hi[i * k + a] == ei[i * k + b]) {
          hit++;
          break;
        }
  printf("# forced HNSW, n=%zu: recall@10 %.4f\n", n,
         (double)hit / (double)(n * k));
  CHECK((double)hit / (double)(n * k) >= 0.95);
  CHECK_INT_EQ(sim_uniqueness(x, n, d, hs, &oh), 0);
  CHECK_INT_EQ(sim_uniqueness(x, n, d, es, NULL), 0);
  for (size_t i = 0; i < n; i++)
    err += fabs(hs[i] - es[i]);
  printf("# mean |score difference| %.5f\n", err / (double)n);
  CHECK(err / (double)n < 0.01);
out:
  free(x);
  free(hi);
  free(ei);
  free(hd);
  free(ed);
  free(hs);
  free(es);
}

TEST(few_rows)
{
  float x[4 * 3] = { 1, 2, 3, 4, 5, 6, -1, 0, 2, 7, 7, 1 };
  double s[4] = { -1, -1, -1, -1 };
  uint32_t ai[4 * 6];
  float ad[4 * 6];
  struct sim_opts oh = { .method = SIM_HNSW };

  for (size_t n = 1; n <= 3; n++) {
    CHECK_INT_EQ(sim_uniqueness(x, n, 3, s, NULL), 0);
    for (size_t i = 0; i < n; i++)
      CHECK(s[i] == 1.0);
  }
  CHECK_INT_EQ(sim_uniqueness(x, 0, 3, NULL, NULL), 0);
  /* n = 4: scores are real now, max exactly 1 */
  CHECK_INT_EQ(sim_uniqueness(x, 4, 3, s, NULL), 0);
  CHECK(s[0] <= 1 && s[1] <= 1 && s[2] <= 1 && s[3] <= 1);
  CHECK(s[0] == 1 || s[1] == 1 || s[2] == 1 || s[3] == 1);

  /* k = 6 > n - 1 = 3, both backends: 3 neighbours then padding */
  for (int b = 0; b < 2; b++) {
    CHECK_INT_EQ(sim_knn(x, 4, 3, 6, ai, ad, b ? &oh : NULL), 0);
    for (size_t i = 0; i < 4; i++) {
      for (size_t a = 0; a < 3; a++)
        CHECK(ai[i * 6 + a] < 4 && ai[i * 6 + a] != i);
      for (size_t a = 3; a < 6; a++)
        CHECK(ai[i * 6 + a] == SIM_NONE && isinf(ad[i * 6 + a]));
    }
  }
}

TEST(bad_input)
{
  float x[6] = { 1, 2, 3, 4, 5, 6 };
  uint32_t ai[4];
  float ad[4];
  double s[3];
  struct sim_opts bad = { .method = (enum sim_method)7 };

  CHECK_INT_EQ(sim_knn(NULL, 3, 2, 1, ai, ad, NULL), -EINVAL);
  CHECK_INT_EQ(sim_knn(x, 3, 0, 1, ai, ad, NULL), -EINVAL);
  CHECK_INT_EQ(sim_knn(x, 3, 2, 0, ai, ad, NULL), -EINVAL);
  CHECK_INT_EQ(sim_knn(x, 3, 2, 1, NULL, ad, NULL), -EINVAL);
  CHECK_INT_EQ(sim_knn(x, 3, 2, 1, ai, ad, &bad), -EINVAL);
  CHECK_INT_EQ(sim_uniqueness(x, 3, 2, s, &bad), -EINVAL);
  CHECK_INT_EQ(sim_uniqueness(NULL, 3, 2, s, NULL), -EINVAL);
  x[3] = NAN;
  CHECK_INT_EQ(sim_knn(x, 3, 2, 1, ai, ad, NULL), -EINVAL);
  CHECK_INT_EQ(sim_uniqueness(x, 3, 2, s, NULL), -EINVAL);
  x[3] = INFINITY;
  CHECK_INT_EQ(sim_uniqueness(x, 3, 2, s, NULL), -EINVAL);
}

/* The HNSW path gives up when its owner raises the stop flag, as the
 * exact path does: a flag raised before the call, and one raised 0.2 s
 * into a build of 100,000 rows (tens of seconds of work, which the
 * daemon's unmount waited for) returns -ECANCELED within a second. */
TEST(hnsw_path_stops)
{
  size_t n = SMALL ? 30000 : 100000, d = 32, k = 10;
  float *x = clustered(n, d, 5);
  uint32_t *idx = malloc(n * k * sizeof(*idx));
  float *dist = malloc(n * k * sizeof(*dist));
  int stop = 1;
  struct sim_opts o = { .method = SIM_HNSW, .seed = 2, .stop = &stop };
  struct tl_raiser rs = { &stop, 0.2 };
  pthread_t th;
  double t0, took;

  CHECK(x && idx && dist);
  if (!x || !idx || !dist)
    goto out;
  CHECK_INT_EQ(sim_knn(x, n, d, k, idx, dist, &o), -ECANCELED);
  stop = 0;
  CHECK_INT_EQ(pthread_create(&th, NULL, tl_raise_later, &rs), 0);
  t0 = tl_now_s();
  CHECK_INT_EQ(sim_knn(x, n, d, k, idx, dist, &o), -ECANCELED);
  took = tl_now_s() - t0;
  pthread_join(th, NULL);
  printf("# HNSW over %zu rows, stopped at 0.2 s: returned after %.2f s\n",
         n, took);
  CHECK(took < 1.2);
out:
  free(x);
  free(idx);
  free(dist);
}

TEST_MAIN(T(choice_by_size), T(exact_path_identical),
          T(uniqueness_one_call), T(hnsw_path_close_to_exact),
          T(hnsw_path_stops), T(few_rows),
          T(bad_input))
