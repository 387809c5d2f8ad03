/* test_knn.c - exact k-NN and radius search against hand cases and a
 * double-precision brute force written here (centre, normalise, all dot
 * products, sort), plus greedy removal on knn_radius() output.
 */
#include "testlib.h"
#include "knn.h"
#include "uniqueness.h"

#include <errno.h>
#include <stdbool.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;

static double rnd(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* roughly Gaussian, mean 0 */
static float gauss(void)
{
  double s = 0;

  for (int i = 0; i < 6; i++)
    s += rnd();
  return (float)(s - 3);
}

/* ---- brute force -------------------------------------------------------- */

struct bf {
  size_t n, d;
  double *u; /* centred, unit rows */
};

static void bf_init(struct bf *b, const float *raw, size_t n, size_t d)
{
  double *mean = calloc(d, sizeof(*mean));

  b->n = n;
  b->d = d;
  b->u = malloc(n * d * sizeof(*b->u));
  for (size_t i = 0; i < n; i++)
    for (size_t c = 0; c < d; c++)
      mean[c] += raw[i * d + c];
  for (size_t i = 0; i < n; i++) {
    double ss = 0;

    for (size_t c = 0; c < d; c++) {
      b->u[i * d + c] = raw[i * d + c] - mean[c] / (double)n;
      ss += b->u[i * d + c] * b->u[i * d + c];
    }
    for (size_t c = 0; c < d; c++)
      b->u[i * d + c] = ss > 0 ? b->u[i * d + c] / sqrt(ss) : 0;
  }
  free(mean);
}

static double bf_dist(const struct bf *b, size_t i, size_t j)
{
  double s = 0;

  for (size_t c = 0; c < b->d; c++)
    s += b->u[i * b->d + c] * b->u[j * b->d + c];
  return 1 - s;
}

struct cand {
  double d;
  size_t j;
};

static int cmp_cand(const void *pa, const void *pb)
{
  const struct cand *a = pa, *b = pb;

  if (a->d != b->d)
    return a->d < b->d ? -1 : 1;
  return a->j < b->j ? -1 : a->j > b->j;
}

/* Sorted distances from row i to every other row; returns n - 1. */
static size_t bf_row(const struct bf *b, size_t i, struct cand *out)
{
  size_t m = 0;

  for (size_t j = 0; j < b->n; j++)
    if (j != i) {
      out[m].d = bf_dist(b, i, j);
      out[m].j = j;
      m++;
    }
  qsort(out, m, sizeof(*out), cmp_cand);
  return m;
}

/* ---- hand cases --------------------------------------------------------- */

/* Rows (2,0) (1,0) (-1,0) (-2,0) (0,1) (0,-1): mean 0, so the unit rows are
 * ±e1 (0..3) and ±e2 (4, 5).  Distances: same direction 0, orthogonal 1,
 * opposite 2.  Magnitude does not matter (rows 0 and 1 are duplicates). */
static const float HAND[12] = { 2, 0, 1, 0, -1, 0, -2, 0, 0, 1, 0, -1 };

TEST(hand_normalize)
{
  float x[12];
  const float want[12] = { 1, 0, 1, 0, -1, 0, -1, 0, 0, 1, 0, -1 };

  memcpy(x, HAND, sizeof(x));
  CHECK_INT_EQ(knn_center_normalize(x, 6, 2), 0);
  for (int i = 0; i < 12; i++)
    CHECK_NEAR(x[i], want[i], 0);

  /* centring: (10,1) (10,2) (10,0) (10,3) become (0,∓1)-like rows */
  {
    float y[8] = { 10, 1, 10, 2, 10, 0, 10, 3 };
    const float wy[8] = { 0, -1, 0, 1, 0, -1, 0, 1 };

    CHECK_INT_EQ(knn_center_normalize(y, 4, 2), 0);
    for (int i = 0; i < 8; i++)
      CHECK_NEAR(y[i], wy[i], 1e-7);
  }
  /* invalid input leaves the data alone */
  {
    float z[4] = { 1, 2, NAN, 4 };

    CHECK_INT_EQ(knn_center_normalize(z, 2, 2), -EINVAL);
    CHECK_NEAR(z[0], 1, 0);
    CHECK_NEAR(z[3], 4, 0);
    CHECK_INT_EQ(knn_center_normalize(z, 2, 0), -EINVAL);
  }
}

TEST(hand_knn)
{
  float x[12];
  uint32_t idx[18];
  float dist[18];
  static const uint32_t wi[18] = {
    1, 4, 5,  0, 4, 5,  3, 4, 5,  2, 4, 5,  0, 1, 2,  0, 1, 2,
  };
  static const float wd[18] = {
    0, 1, 1,  0, 1, 1,  0, 1, 1,  0, 1, 1,  1, 1, 1,  1, 1, 1,
  };

  memcpy(x, HAND, sizeof(x));
  CHECK_INT_EQ(knn_center_normalize(x, 6, 2), 0);
  CHECK_INT_EQ(knn_exact(x, 6, 2, 3, NULL, idx, dist), 0);
  for (int e = 0; e < 18; e++) {
    CHECK_INT_EQ(idx[e], wi[e]);
    CHECK_NEAR(dist[e], wd[e], 0);
  }
  /* tiny tiles and three workers: same answer */
  {
    struct knn_opts o = { .nthreads = 3, .qblock = 1, .dblock = 4 };

    CHECK_INT_EQ(knn_exact(x, 6, 2, 3, &o, idx, dist), 0);
    for (int e = 0; e < 18; e++)
      CHECK_INT_EQ(idx[e], wi[e]);
  }
}

/* Rows (1,0) (-1,0) (0,0): the last one equals the mean, stays zero and is
 * at distance 1 from everything.  k = 3 > n - 1 pads with KNN_NONE. */
TEST(hand_zero_row_and_padding)
{
  float x[6] = { 1, 0, -1, 0, 0, 0 };
  uint32_t idx[9];
  float dist[9];

  CHECK_INT_EQ(knn_center_normalize(x, 3, 2), 0);
  CHECK_NEAR(x[4], 0, 0);
  CHECK_NEAR(x[5], 0, 0);
  CHECK_INT_EQ(knn_exact(x, 3, 2, 3, NULL, idx, dist), 0);
  CHECK_INT_EQ(idx[0], 2);
  CHECK_NEAR(dist[0], 1, 0);
  CHECK_INT_EQ(idx[1], 1);
  CHECK_NEAR(dist[1], 2, 0);
  CHECK_INT_EQ(idx[2], KNN_NONE);
  CHECK(isinf(dist[2]));
  CHECK_INT_EQ(idx[6], 0); /* row 2: 0 and 1 tie at 1, lower index first */
  CHECK_INT_EQ(idx[7], 1);
  CHECK_NEAR(dist[6], 1, 0);
  CHECK_NEAR(dist[7], 1, 0);
  CHECK_INT_EQ(idx[8], KNN_NONE);

  /* a single row has no neighbours at all */
  CHECK_INT_EQ(knn_exact(x, 1, 2, 2, NULL, idx, dist), 0);
  CHECK_INT_EQ(idx[0], KNN_NONE);
  CHECK_INT_EQ(idx[1], KNN_NONE);
}

TEST(bad_args)
{
  float x[4] = { 1, 0, 0, 1 };
  uint32_t idx[4];
  float dist[4];
  struct knn_opts many = { .nthreads = 1000 };
  struct knn_opts huge = { .qblock = 1 << 20, .dblock = 1 << 20 };
  struct knn_graph g;

  CHECK_INT_EQ(knn_exact(x, 2, 2, 0, NULL, idx, dist), -EINVAL);
  CHECK_INT_EQ(knn_exact(x, 2, 2, KNN_MAX_K + 1, NULL, idx, dist), -EINVAL);
  CHECK_INT_EQ(knn_exact(x, 2, 0, 1, NULL, idx, dist), -EINVAL);
  CHECK_INT_EQ(knn_exact(NULL, 2, 2, 1, NULL, idx, dist), -EINVAL);
  CHECK_INT_EQ(knn_exact(x, 2, 2, 1, NULL, NULL, dist), -EINVAL);
  CHECK_INT_EQ(knn_exact(x, 2, 2, 1, &many, idx, dist), -EINVAL);
  CHECK_INT_EQ(knn_exact(x, 2, 2, 1, &huge, idx, dist), -EINVAL);
  CHECK_INT_EQ(knn_exact(x, 0, 2, 1, NULL, NULL, NULL), 0);
  CHECK_INT_EQ(knn_radius(x, 2, 2, NAN, 0, NULL, &g), -EINVAL);
  CHECK(g.off == NULL && g.n == 0);
  knn_graph_free(&g);
  knn_graph_free(NULL);
}

/* ---- random data vs brute force ----------------------------------------- */

enum { RN = 1000, RD = 128, RK = 4 };

static float *random_rows(size_t n, size_t d)
{
  float *x = malloc(n * d * sizeof(*x));

  for (size_t e = 0; e < n * d; e++)
    x[e] = gauss() + 0.5f; /* offset so centring matters */
  return x;
}

/* Checks one k-NN result against the brute force.  Distances must agree
 * to 1e-5 rank by rank; each reported index must really be at its
 * reported distance; and where the true ranks are separated by more than
 * 1e-4 the indices must be exactly the true ones. */
static void check_knn(const struct bf *b, size_t k, const uint32_t *idx,
                      const float *dist, size_t *ret_exact_rows)
{
  struct cand *c = malloc(b->n * sizeof(*c));
  size_t exact_rows = 0;

  for (size_t i = 0; i < b->n; i++) {
    size_t m = bf_row(b, i, c);
    bool clear = true;

    for (size_t p = 0; p < k; p++) {
      uint32_t j = idx[i * k + p];
      float dv = dist[i * k + p];

      if (p >= m) {
        CHECK_INT_EQ(j, KNN_NONE);
        continue;
      }
      CHECK(j < b->n && j != i);
      if (j >= b->n)
        continue;
      CHECK_NEAR(dv, c[p].d, 1e-5);
      CHECK_NEAR(bf_dist(b, i, j), dv, 1e-5);
      for (size_t q = 0; q < p; q++)
        CHECK(idx[i * k + q] != j);
      /* clamped into [0, 2] even where float rounding overshoots */
      CHECK(dv >= 0 && dv <= 2);
      if (p > 0)
        CHECK(dist[i * k + p - 1] <= dv);
      /* rank p is unambiguous if it is well apart from ranks p +- 1 */
      if (p + 1 < m && c[p + 1].d - c[p].d < 1e-4)
        clear = false;
    }
    if (clear) {
      exact_rows++;
      for (size_t p = 0; p < k && p < m; p++)
        CHECK_INT_EQ(idx[i * k + p], c[p].j);
    }
  }
  if (ret_exact_rows)
    *ret_exact_rows = exact_rows;
  free(c);
}

TEST(random_vs_bruteforce)
{
  float *x = random_rows(RN, RD);
  uint32_t *idx = malloc(RN * RK * sizeof(*idx));
  uint32_t *idx2 = malloc(RN * RK * sizeof(*idx2));
  float *dist = malloc(RN * RK * sizeof(*dist));
  float *dist2 = malloc(RN * RK * sizeof(*dist2));
  struct bf b;
  size_t exact_rows = 0;
  const struct knn_opts cfg[] = {
    { 0, 0, 0, NULL },    /* defaults: one query block, one tile */
    { 1, 64, 128, NULL }, /* many tiles, one thread */
    { 2, 37, 53, NULL },  /* odd tiles, chunk tails, two threads */
    { 3, 100, 1000, NULL },
  };

  bf_init(&b, x, RN, RD);
  CHECK_INT_EQ(knn_center_normalize(x, RN, RD), 0);
  for (size_t c = 0; c < NELEM(cfg); c++) {
    CHECK_INT_EQ(knn_exact(x, RN, RD, RK, &cfg[c], idx, dist), 0);
    check_knn(&b, RK, idx, dist, &exact_rows);
    /* most rows have clear gaps, so the index check is not vacuous */
    CHECK(exact_rows > RN * 9 / 10);
  }
  /* The thread count never changes anything, bit for bit. */
  {
    struct knn_opts one = { 1, 37, 53, NULL }, two = { 2, 37, 53, NULL };

    CHECK_INT_EQ(knn_exact(x, RN, RD, RK, &one, idx, dist), 0);
    CHECK_INT_EQ(knn_exact(x, RN, RD, RK, &two, idx2, dist2), 0);
    CHECK(memcmp(idx, idx2, RN * RK * sizeof(*idx)) == 0);
    CHECK(memcmp(dist, dist2, RN * RK * sizeof(*dist)) == 0);
  }
  free(b.u);
  free(dist2);
  free(dist);
  free(idx2);
  free(idx);
  free(x);
}

/* Three copies of one row among random rows: each copy's two nearest are
 * the other copies at (near) zero distance, lower index first on ties. */
TEST(duplicates_in_random)
{
  enum { N = 300, D = 32, K = 4 };
  float *x = random_rows(N, D);
  uint32_t idx[N * K];
  float dist[N * K];
  struct bf b;
  static const size_t cp[3] = { 10, 150, 299 };

  memcpy(x + 150 * D, x + 10 * D, D * sizeof(*x));
  memcpy(x + 299 * D, x + 10 * D, D * sizeof(*x));
  /* 60 more duplicate pairs: some of their float dot products round above
   * 1, which must still come out as distance 0, not below */
  memcpy(x + 200 * D, x + 20 * D, 60 * D * sizeof(*x));
  bf_init(&b, x, N, D);
  CHECK_INT_EQ(knn_center_normalize(x, N, D), 0);
  CHECK_INT_EQ(knn_exact(x, N, D, K, NULL, idx, dist), 0);
  check_knn(&b, K, idx, dist, NULL);
  for (int c = 0; c < 3; c++) {
    const uint32_t *r = idx + cp[c] * K;
    const float *rd = dist + cp[c] * K;
    size_t o1 = cp[(c + 1) % 3], o2 = cp[(c + 2) % 3];
    size_t lo = o1 < o2 ? o1 : o2, hi = o1 < o2 ? o2 : o1;

    CHECK(rd[0] < 1e-6 && rd[1] < 1e-6);
    CHECK((r[0] == lo && r[1] == hi) || (r[0] == hi && r[1] == lo));
    if (rd[0] == rd[1])
      CHECK_INT_EQ(r[0], lo);
    CHECK(rd[2] > 0.1);
  }
  free(b.u);
  free(x);
}

/* ---- radius ------------------------------------------------------------- */

static void check_radius(const struct bf *b, const struct knn_graph *g,
                         double t)
{
  struct cand *c = malloc(b->n * sizeof(*c));

  CHECK_INT_EQ(g->n, b->n);
  CHECK_INT_EQ(g->off[0], 0);
  for (size_t i = 0; i < b->n; i++) {
    size_t m = bf_row(b, i, c);
    size_t lo = g->off[i], hi = g->off[i + 1];
    size_t want_min = 0, want_max = 0;

    /* certain members: d < t - 1e-5; possible members: d <= t + 1e-5 */
    for (size_t q = 0; q < m; q++) {
      if (c[q].d < t - 1e-5)
        want_min++;
      if (c[q].d <= t + 1e-5)
        want_max++;
    }
    CHECK(hi - lo >= want_min && hi - lo <= want_max);
    for (size_t e = lo; e < hi; e++) {
      uint32_t j = g->idx[e];

      CHECK(j < b->n && j != i);
      if (j >= b->n)
        continue;
      CHECK((double)g->dist[e] <= t);
      CHECK_NEAR(bf_dist(b, i, j), g->dist[e], 1e-5);
      if (e > lo)
        CHECK(g->dist[e - 1] < g->dist[e] ||
              (g->dist[e - 1] == g->dist[e] && g->idx[e - 1] < j));
    }
    /* the certain ones are all there */
    for (size_t q = 0; q < want_min; q++) {
      bool found = false;

      for (size_t e = lo; e < hi; e++)
        found = found || g->idx[e] == c[q].j;
      CHECK(found);
    }
  }
  free(c);
}

TEST(radius_vs_bruteforce)
{
  enum { N = 600, D = 16 };
  float *x = random_rows(N, D);
  struct bf b;
  struct knn_graph g;
  const struct knn_opts cfg[] = { { 0, 0, 0, NULL }, { 2, 37, 53, NULL },
                                  { 1, 600, 7, NULL } };

  bf_init(&b, x, N, D);
  CHECK_INT_EQ(knn_center_normalize(x, N, D), 0);
  for (size_t c = 0; c < NELEM(cfg); c++) {
    CHECK_INT_EQ(knn_radius(x, N, D, 0.5, 0, &cfg[c], &g), 0);
    CHECK(g.off[N] > N); /* non-trivial: several neighbours per row */
    check_radius(&b, &g, 0.5);
    knn_graph_free(&g);
  }
  /* t < 0: nothing; t >= 2: everything */
  CHECK_INT_EQ(knn_radius(x, N, D, -0.1, 0, NULL, &g), 0);
  CHECK_INT_EQ(g.off[N], 0);
  knn_graph_free(&g);
  CHECK_INT_EQ(knn_radius(x, N, D, 2.0, 0, NULL, &g), 0);
  CHECK_INT_EQ(g.off[N], (size_t)N * (N - 1));
  knn_graph_free(&g);
  /* pair budget */
  CHECK_INT_EQ(knn_radius(x, N, D, 1.0, 1000, NULL, &g), -E2BIG);
  CHECK(g.off == NULL);
  knn_graph_free(&g);
  free(b.u);
  free(x);
}

/* k-NN lists wrapped as a graph: KNN_NONE entries dropped. */
TEST(graph_from_lists)
{
  const uint32_t idx[6] = { 2, 1, 2, KNN_NONE, 0, 1 };
  const float dist[6] = { .1f, .5f, .2f, INFINITY, .1f, .2f };
  const uint32_t bad[2] = { 0, 3 };
  struct knn_graph g;

  CHECK_INT_EQ(knn_graph_from_lists(idx, dist, 3, 2, &g), 0);
  CHECK_INT_EQ(g.off[1], 2);
  CHECK_INT_EQ(g.off[2], 3);
  CHECK_INT_EQ(g.off[3], 5);
  CHECK_INT_EQ(g.idx[2], 2);
  CHECK_INT_EQ(g.idx[3], 0);
  CHECK_NEAR(g.dist[4], 0.2f, 0);
  knn_graph_free(&g);
  CHECK_INT_EQ(knn_graph_from_lists(bad, dist, 2, 1, &g), -EINVAL);
}

/* Greedy removal on an exact radius graph equals greedy removal with a
 * brute-force neighbour provider, for thresholds up to the graph radius. */
struct bf_provider {
  const struct bf *b;
  uint32_t *idx;
  float *dist;
};

static int bf_nbrs(void *ud, size_t i, double t, const uint32_t **ret_idx,
                   const float **ret_dist, size_t *ret_n)
{
  struct bf_provider *p = ud;
  size_t m = 0;

  for (size_t j = 0; j < p->b->n; j++) {
    double d = bf_dist(p->b, i, j);

    if (j != i && d <= t) {
      p->idx[m] = (uint32_t)j;
      p->dist[m] = (float)d;
      m++;
    }
  }
  *ret_idx = p->idx;
  *ret_dist = p->dist;
  *ret_n = m;
  return 0;
}

TEST(greedy_on_radius_graph)
{
  enum { N = 400, D = 8 };
  float *x = random_rows(N, D);
  struct bf b;
  struct bf_provider p;
  struct knn_graph g;
  bool k1[N], k2[N];
  size_t n1, n2, agree = 0;
  const double ts[3] = { 0.05, 0.1, 0.2 };

  bf_init(&b, x, N, D);
  p.b = &b;
  p.idx = malloc(N * sizeof(*p.idx));
  p.dist = malloc(N * sizeof(*p.dist));
  CHECK_INT_EQ(knn_center_normalize(x, N, D), 0);
  CHECK_INT_EQ(knn_radius(x, N, D, 0.2, 0, NULL, &g), 0);
  for (int s = 0; s < 3; s++) {
    CHECK_INT_EQ(uniq_greedy(N, uniq_nbr_graph, &g, ts[s], k1, &n1), 0);
    CHECK_INT_EQ(uniq_greedy(N, bf_nbrs, &p, ts[s], k2, &n2), 0);
    CHECK(n1 < N); /* something was removed */
    /* float vs double distances may flip a pair sitting on t itself */
    agree += n1 == n2 && memcmp(k1, k2, sizeof(k1)) == 0;
    CHECK(n1 + 2 >= n2 && n2 + 2 >= n1);
  }
  CHECK(agree >= 2);
  knn_graph_free(&g);
  free(p.idx);
  free(p.dist);
  free(b.u);
  free(x);
}

/* knn_exact_rows(): the listed rows (out of order, repeated, spanning
 * several query blocks) get the same neighbours as in knn_exact(). */
TEST(exact_rows_subset)
{
  enum { N = 1300, D = 24, K = 5, NR = 9 };
  static const size_t rows[NR] = { 1299, 0, 700, 700, 5, 1024, 511, 512, 13 };
  struct knn_opts o = { .qblock = 4, .dblock = 300 };
  float *x = random_rows(N, D);
  uint32_t *ai = malloc(N * K * sizeof(*ai)), ri[NR * K];
  float *ad = malloc(N * K * sizeof(*ad)), rd[NR * K];

  CHECK_INT_EQ(knn_center_normalize(x, N, D), 0);
  CHECK_INT_EQ(knn_exact(x, N, D, K, NULL, ai, ad), 0);
  CHECK_INT_EQ(knn_exact_rows(x, N, D, rows, NR, K, &o, ri, rd), 0);
  for (size_t q = 0; q < NR; q++)
    for (size_t a = 0; a < K; a++) {
      CHECK_INT_EQ(ri[q * K + a], ai[rows[q] * K + a]);
      CHECK_NEAR(rd[q * K + a], ad[rows[q] * K + a], 1e-6);
    }
  CHECK_INT_EQ(knn_exact_rows(x, N, D, rows, 0, K, NULL, ri, rd), 0);
  {
    size_t bad = N;

    CHECK_INT_EQ(knn_exact_rows(x, N, D, &bad, 1, K, NULL, ri, rd),
                 -EINVAL);
    CHECK_INT_EQ(knn_exact_rows(x, N, D, NULL, 1, K, NULL, ri, rd),
                 -EINVAL);
  }
  free(ai);
  free(ad);
  free(x);
}

/* knn_opts.stop: a raised flag ends every entry point with -ECANCELED
 * before its first tile (a daemon being unmounted must not wait for a
 * minutes-long exact run); a lowered one changes nothing. */
TEST(stop_flag)
{
  enum { N = 900, D = 16, K = 4 };
  static const size_t rows[3] = { 0, 450, 899 };
  int up = 1, down = 0;
  struct knn_opts stop = { .qblock = 64, .dblock = 128, .stop = &up };
  struct knn_opts go = { .qblock = 64, .dblock = 128, .stop = &down };
  struct knn_opts plain = { .qblock = 64, .dblock = 128 };
  float *x = random_rows(N, D);
  uint32_t *ai = malloc(N * K * sizeof(*ai)), *bi = malloc(N * K * sizeof(*bi));
  float *ad = malloc(N * K * sizeof(*ad)), *bd = malloc(N * K * sizeof(*bd));
  struct knn_graph g;

  CHECK_INT_EQ(knn_center_normalize(x, N, D), 0);
  CHECK_INT_EQ(knn_exact(x, N, D, K, &stop, ai, ad), -ECANCELED);
  CHECK_INT_EQ(knn_exact_rows(x, N, D, rows, 3, K, &stop, ai, ad),
               -ECANCELED);
  CHECK_INT_EQ(knn_radius(x, N, D, 0.5, 0, &stop, &g), -ECANCELED);
  CHECK(g.n == 0 && !g.off && !g.idx && !g.dist);
  CHECK_INT_EQ(knn_radius_rows(x, N, D, rows, 3, 0.5, 0, &stop, &g),
               -ECANCELED);
  CHECK_INT_EQ(knn_exact(x, N, D, K, &plain, ai, ad), 0);
  CHECK_INT_EQ(knn_exact(x, N, D, K, &go, bi, bd), 0);
  CHECK(memcmp(ai, bi, N * K * sizeof(*ai)) == 0);
  CHECK(memcmp(ad, bd, N * K * sizeof(*ad)) == 0);
  free(ai);
  free(bi);
  free(ad);
  free(bd);
  free(x);
}

TEST_MAIN(T(hand_normalize), T(hand_knn), T(hand_zero_row_and_padding),
          T(bad_args), T(random_vs_bruteforce), T(duplicates_in_random),
          T(radius_vs_bruteforce), T(graph_from_lists),
          T(greedy_on_radius_graph), T(exact_rows_subset), T(stop_flag))
