/* test_hnsw.c - the HNSW index against exact search (knn.h): recall on a
 * clustered set, determinism across runs and thread counts, tiny sets
 * (k > n - 1), exact duplicates, queries from outside the index,
 * save/load, the stop flag and bad arguments.
 */
#include "testlib.h"
#include "hnsw.h"
#include "util.h"
#include "knn.h"
#include "gen/vecgen.h"

#include <errno.h>
#include <time.h>

/* Sanitizer builds run ~10x slower (and -O0), so the recall test uses a
 * smaller set there: 5,000 rows instead of 20,000, still 100 clusters of
 * 50 and the same 200 queries and recall bar.  Detected only through the
 * compilers' own sanitizer macros. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

#define RECALL_N (UNDER_SANITIZER ? 5000 : 20000)
#define RECALL_D 64
#define NQ 200
#define K 10

static float *clustered(size_t n, size_t d, uint64_t seed)
{
  float *x = malloc(n * d * sizeof(*x));

  if (!x || vecgen_clustered(x, n, d, n / 50 ? n / 50 : 1, 0.8, seed) < 0 ||
      knn_center_normalize(x, n, d) < 0) {
    free(x);
    return NULL;
  }
  return x;
}

/* Fraction of the exact k nearest (by index) that the approximate lists
 * contain, over the sampled rows. */
static double recall(const uint32_t *ai, const uint32_t *ei,
                     const size_t *rows, size_t nq, size_t k)
{
  size_t hit = 0, tot = 0;

  for (size_t q = 0; q < nq; q++)
    for (size_t a = 0; a < k; a++) {
      const uint32_t want = ei[q * k + a];

      if (want == KNN_NONE)
        continue;
      tot++;
      for (size_t b = 0; b < k; b++)
        if (ai[rows[q] * k + b] == want) {
          hit++;
          break;
        }
    }
  return tot ? (double)hit / (double)tot : 0;
}

static void sample_rows(size_t *rows, size_t nq, size_t n)
{
  for (size_t q = 0; q < nq; q++)
    rows[q] = (q * 7919u + 13u) % n;
}

TEST(recall_clustered)
{
  size_t n = RECALL_N, d = RECALL_D;
  float *x = clustered(n, d, 42);
  uint32_t *ai = malloc(n * K * sizeof(*ai));
  float *ad = malloc(n * K * sizeof(*ad));
  uint32_t ei[NQ * K];
  float ed[NQ * K];
  size_t rows[NQ];
  struct hnsw *h = NULL;
  double t0 = time_mono(), rc;

  CHECK(x && ai && ad);
  if (!x || !ai || !ad)
    goto out;
  CHECK_INT_EQ(hnsw_build(x, n, d, NULL, &h), 0);
  CHECK_INT_EQ(hnsw_knn_all(h, K, 0, 0, NULL, ai, ad), 0);
  sample_rows(rows, NQ, n);
  CHECK_INT_EQ(knn_exact_rows(x, n, d, rows, NQ, K, NULL, ei, ed), 0);
  rc = recall(ai, ei, rows, NQ, K);
  printf("# n=%zu d=%zu%s: recall@10 %.4f, build+query %.2f s, graph %zu "
         "bytes/row\n", n, d, UNDER_SANITIZER ? " (sanitizer build)" : "",
         rc, time_mono() - t0, hnsw_size(h) / n);
  CHECK(rc >= 0.95);
  /* Each row: ascending, no self, no repeats, distances match the rows. */
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < K; a++) {
      uint32_t j = ai[i * K + a];
      double dot = 0;

      CHECK(j < n && j != i);
      if (j >= n)
        goto out;
      if (a)
        CHECK(ad[i * K + a - 1] <= ad[i * K + a]);
      for (size_t b = 0; b < a; b++)
        CHECK(ai[i * K + b] != j);
      for (size_t c = 0; c < d; c++)
        dot += (double)x[i * d + c] * x[j * d + c];
      CHECK_NEAR(ad[i * K + a], 1 - dot, 1e-5);
    }
out:
  hnsw_free(h);
  free(ad);
  free(ai);
  free(x);
}

/* Same rows and seed: the same graph (saved bytes) and answers, whether
 * built and queried on 1 or 2 threads.  Another seed: another graph. */
TEST(deterministic)
{
  size_t n = UNDER_SANITIZER ? 2000 : 6000, d = 32;
  float *x = clustered(n, d, 7);
  struct hnsw_params p1 = { .nthreads = 1, .seed = 5 };
  struct hnsw_params p2 = { .nthreads = 2, .seed = 5 };
  struct hnsw_params p3 = { .nthreads = 2, .seed = 6 };
  struct hnsw *h1 = NULL, *h2 = NULL, *h3 = NULL;
  struct buf b1, b2, b3;
  uint32_t *i1 = malloc(n * K * sizeof(*i1)), *i2 = malloc(n * K * 4);
  float *d1 = malloc(n * K * sizeof(*d1)), *d2 = malloc(n * K * 4);

  buf_init(&b1, SIZE_MAX);
  buf_init(&b2, SIZE_MAX);
  buf_init(&b3, SIZE_MAX);
  CHECK(x && i1 && i2 && d1 && d2);
  if (!x || !i1 || !i2 || !d1 || !d2)
    goto out;
  CHECK_INT_EQ(hnsw_build(x, n, d, &p1, &h1), 0);
  CHECK_INT_EQ(hnsw_build(x, n, d, &p2, &h2), 0);
  CHECK_INT_EQ(hnsw_build(x, n, d, &p3, &h3), 0);
  CHECK_INT_EQ(hnsw_save(h1, &b1), 0);
  CHECK_INT_EQ(hnsw_save(h2, &b2), 0);
  CHECK_INT_EQ(hnsw_save(h3, &b3), 0);
  CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
  CHECK(b1.len != b3.len || memcmp(b1.data, b3.data, b1.len) != 0);
  CHECK_INT_EQ(hnsw_knn_all(h1, K, 32, 1, NULL, i1, d1), 0);
  CHECK_INT_EQ(hnsw_knn_all(h2, K, 32, 2, NULL, i2, d2), 0);
  CHECK(memcmp(i1, i2, n * K * 4) == 0);
  CHECK(memcmp(d1, d2, n * K * 4) == 0);
out:
  buf_free(&b1);
  buf_free(&b2);
  buf_free(&b3);
  hnsw_free(h1);
  hnsw_free(h2);
  hnsw_free(h3);
  free(i1);
  free(i2);
  free(d1);
  free(d2);
  free(x);
}

/* n - 1 < k: every other row, in exact order, then NONE / INFINITY; the
 * single-row and empty indexes work too. */
TEST(k_above_n)
{
  enum { N = 5, D = 4, KK = 8 };
  float x[N * D];
  uint32_t ai[N * KK], ei[N * KK];
  float ad[N * KK], ed[N * KK];
  struct hnsw *h = NULL;
  struct vecgen_rng r;

  vecgen_seed(&r, 3);
  for (size_t e = 0; e < N * D; e++)
    x[e] = (float)vecgen_gauss(&r);
  CHECK_INT_EQ(knn_center_normalize(x, N, D), 0);
  CHECK_INT_EQ(hnsw_build(x, N, D, NULL, &h), 0);
  CHECK_INT_EQ(hnsw_knn_all(h, KK, 0, 0, NULL, ai, ad), 0);
  CHECK_INT_EQ(knn_exact(x, N, D, KK, NULL, ei, ed), 0);
  for (size_t i = 0; i < N; i++)
    for (size_t a = 0; a < KK; a++) {
      CHECK_INT_EQ(ai[i * KK + a], ei[i * KK + a]);
      if (a < N - 1)
        CHECK_NEAR(ad[i * KK + a], ed[i * KK + a], 1e-6);
      else
        CHECK(isinf(ad[i * KK + a]) && ai[i * KK + a] == HNSW_NONE);
    }
  hnsw_free(h);

  /* One row: no neighbours at all. */
  CHECK_INT_EQ(hnsw_build(x, 1, D, NULL, &h), 0);
  CHECK_INT_EQ(hnsw_knn_all(h, 3, 0, 0, NULL, ai, ad), 0);
  CHECK(ai[0] == HNSW_NONE && ai[2] == HNSW_NONE && isinf(ad[1]));
  hnsw_free(h);
  /* No rows: nothing to do, nothing written. */
  CHECK_INT_EQ(hnsw_build(NULL, 0, D, NULL, &h), 0);
  CHECK_INT_EQ(hnsw_knn_all(h, 3, 0, 0, NULL, NULL, NULL), 0);
  CHECK_INT_EQ(hnsw_search(h, x, 2, 0, ai, ad, NULL), 0);
  CHECK(ai[0] == HNSW_NONE && isinf(ad[1]));
  hnsw_free(h);
}

/* Exact duplicates: every row of a clustered set appears twice, and 60
 * copies of one vector sit at the end.  Each twin must come first at
 * distance 0 (up to float rounding), and the copies must find each other. */
TEST(duplicates)
{
  size_t half = 1500, d = 16, n = 2 * half + 60;
  float *x = malloc(n * d * sizeof(*x));
  uint32_t *ai = malloc(n * K * sizeof(*ai));
  float *ad = malloc(n * K * sizeof(*ad));
  struct hnsw *h = NULL;

  CHECK(x && ai && ad);
  if (!x || !ai || !ad)
    goto out;
  CHECK_INT_EQ(vecgen_clustered(x, half, d, 30, 0.8, 11), 0);
  memcpy(x + half * d, x, half * d * sizeof(*x));
  for (size_t i = 2 * half; i < n; i++)
    memcpy(x + i * d, x + 17 * d, d * sizeof(*x));
  CHECK_INT_EQ(knn_center_normalize(x, n, d), 0);
  CHECK_INT_EQ(hnsw_build(x, n, d, NULL, &h), 0);
  CHECK_INT_EQ(hnsw_knn_all(h, K, 0, 0, NULL, ai, ad), 0);
  for (size_t i = 0; i < half; i++) {
    if (i == 17)
      continue; /* has 61 copies; checked below */
    CHECK_INT_EQ(ai[i * K], i + half);
    CHECK_INT_EQ(ai[(i + half) * K], i);
    CHECK(ad[i * K] < 1e-6 && ad[(i + half) * K] < 1e-6);
  }
  for (size_t i = 2 * half; i < n; i++)
    for (size_t a = 0; a < K; a++) {
      uint32_t j = ai[i * K + a];

      CHECK(ad[i * K + a] < 1e-6);
      CHECK(j != i && (j == 17 || j == 17 + half || j >= 2 * half));
    }
out:
  hnsw_free(h);
  free(ad);
  free(ai);
  free(x);
}

/* A query that is not a row: hnsw_search() against the exact answer,
 * computed here by hand. */
TEST(search_outside_query)
{
  size_t n = 3000, d = 24;
  float *x = clustered(n, d, 99);
  float q[24];
  uint32_t ai[K];
  float ad[K];
  size_t found = 0, hit = 0;
  struct hnsw *h = NULL;

  CHECK(x != NULL);
  if (!x)
    return;
  /* midpoint of rows 10 and 11, normalised */
  {
    double ss = 0;

    for (size_t c = 0; c < d; c++) {
      q[c] = x[10 * d + c] + x[11 * d + c];
      ss += (double)q[c] * q[c];
    }
    for (size_t c = 0; c < d; c++)
      q[c] = (float)(q[c] / sqrt(ss));
  }
  CHECK_INT_EQ(hnsw_build(x, n, d, NULL, &h), 0);
  CHECK_INT_EQ(hnsw_search(h, q, K, 64, ai, ad, &found), 0);
  CHECK_INT_EQ(found, K);
  /* brute force: count rows strictly closer than the K-th returned */
  for (size_t j = 0; j < n; j++) {
    double dot = 0;

    for (size_t c = 0; c < d; c++)
      dot += (double)q[c] * x[j * d + c];
    if (1 - dot < ad[K - 1] - 1e-5)
      hit++;
  }
  CHECK(hit <= K - 1);
  CHECK(ad[0] <= ad[1]);
  hnsw_free(h);
  free(x);
}

/* hnsw_save() + hnsw_load() answer exactly like the original; damaged or
 * mismatched bytes are refused. */
TEST(save_load)
{
  size_t n = 2000, d = 16;
  float *x = clustered(n, d, 5);
  struct hnsw *h = NULL, *g = NULL;
  struct buf b;
  uint32_t *i1 = malloc(n * K * 4), *i2 = malloc(n * K * 4);
  float *d1 = malloc(n * K * 4), *d2 = malloc(n * K * 4);

  buf_init(&b, SIZE_MAX);
  CHECK(x && i1 && i2 && d1 && d2);
  if (!x || !i1 || !i2 || !d1 || !d2)
    goto out;
  CHECK_INT_EQ(hnsw_build(x, n, d, NULL, &h), 0);
  CHECK_INT_EQ(hnsw_save(h, &b), 0);
  CHECK_INT_EQ(hnsw_load(x, n, d, b.data, b.len, &g), 0);
  CHECK_INT_EQ(hnsw_knn_all(h, K, 0, 0, NULL, i1, d1), 0);
  CHECK_INT_EQ(hnsw_knn_all(g, K, 0, 0, NULL, i2, d2), 0);
  CHECK(memcmp(i1, i2, n * K * 4) == 0 && memcmp(d1, d2, n * K * 4) == 0);
  hnsw_free(g);
  g = NULL;

  CHECK_INT_EQ(hnsw_load(x, n - 1, d, b.data, b.len, &g), -EBADMSG);
  CHECK_INT_EQ(hnsw_load(x, n, d + 1, b.data, b.len, &g), -EBADMSG);
  CHECK_INT_EQ(hnsw_load(x, n, d, b.data, b.len - 1, &g), -EBADMSG);
  CHECK_INT_EQ(hnsw_load(x, n, d, b.data, 10, &g), -EBADMSG);
  CHECK(g == NULL);
  /* a link pointing outside the rows, in the last row's layer-0 list */
  {
    uint32_t bad = (uint32_t)n + 5, cnt = 1;
    size_t m0 = 2 * HNSW_DEF_M, lvl = HNSW_SAVE_HDR + n;
    size_t at = lvl + (n - 1) * (1 + m0) * 4;

    memcpy(b.data + at, &cnt, 4);
    memcpy(b.data + at + 4, &bad, 4);
    CHECK_INT_EQ(hnsw_load(x, n, d, b.data, b.len, &g), -EBADMSG);
    CHECK(g == NULL);
  }
out:
  buf_free(&b);
  hnsw_free(h);
  free(i1);
  free(i2);
  free(d1);
  free(d2);
  free(x);
}

TEST(bad_args)
{
  float x[8] = { 1, 0, 0, 1, -1, 0, 0, -1 };
  struct hnsw *h = (struct hnsw *)1;
  struct hnsw_params bad_m = { .m = 1 }, big_m = { .m = HNSW_MAX_M + 1 };
  uint32_t ai[4];
  float ad[4];

  CHECK_INT_EQ(hnsw_build(x, 4, 2, NULL, NULL), -EINVAL);
  CHECK_INT_EQ(hnsw_build(NULL, 4, 2, NULL, &h), -EINVAL);
  CHECK(h == NULL);
  CHECK_INT_EQ(hnsw_build(x, 4, 0, NULL, &h), -EINVAL);
  CHECK_INT_EQ(hnsw_build(x, 4, 2, &bad_m, &h), -EINVAL);
  CHECK_INT_EQ(hnsw_build(x, 4, 2, &big_m, &h), -EINVAL);
  CHECK_INT_EQ(hnsw_build(x, 4, 2, NULL, &h), 0);
  CHECK_INT_EQ(hnsw_knn_all(h, 0, 0, 0, NULL, ai, ad), -EINVAL);
  CHECK_INT_EQ(hnsw_knn_all(h, 1, HNSW_MAX_EF + 1, 0, NULL, ai, ad), -EINVAL);
  CHECK_INT_EQ(hnsw_knn_all(h, 1, 0, 0, NULL, NULL, ad), -EINVAL);
  CHECK_INT_EQ(hnsw_search(h, NULL, 1, 0, ai, ad, NULL), -EINVAL);
  CHECK_INT_EQ(hnsw_search(h, x, 0, 0, ai, ad, NULL), -EINVAL);
  CHECK_INT_EQ(hnsw_knn_all(h, 1, 0, 0, NULL, ai, ad), 0);
  /* opposite unit vectors: 0's nearest other rows are 1 and 3 (d = 1) */
  CHECK(ai[0] == 1 || ai[0] == 3);
  CHECK_NEAR(ad[0], 1, 1e-6);
  hnsw_free(h);
  hnsw_free(NULL);
}

/* A raised stop flag: the build gives up before its first batch, the
 * queries before their first chunk (test_similarity.c stops both halfway
 * through a large set). */
TEST(stop_flag)
{
  size_t n = 2000, d = 16;
  float *x = clustered(n, d, 4);
  uint32_t *ai = malloc(n * K * sizeof(*ai));
  float *ad = malloc(n * K * sizeof(*ad));
  int stop = 1;
  struct hnsw_params p = { .stop = &stop };
  struct hnsw *h = (struct hnsw *)&stop;

  CHECK(x && ai && ad);
  if (!x || !ai || !ad)
    goto out;
  CHECK_INT_EQ(hnsw_build(x, n, d, &p, &h), -ECANCELED);
  CHECK(h == NULL);
  stop = 0;
  CHECK_INT_EQ(hnsw_build(x, n, d, &p, &h), 0);
  stop = 1;
  CHECK_INT_EQ(hnsw_knn_all(h, K, 0, 0, &stop, ai, ad), -ECANCELED);
  stop = 0;
  CHECK_INT_EQ(hnsw_knn_all(h, K, 0, 0, &stop, ai, ad), 0);
  hnsw_free(h);
out:
  free(x);
  free(ai);
  free(ad);
}

TEST_MAIN(T(recall_clustered), T(deterministic), T(k_above_n),
          T(duplicates), T(search_outside_query), T(save_load), T(stop_flag),
          T(bad_args))
