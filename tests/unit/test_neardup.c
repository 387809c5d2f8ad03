/* test_neardup.c - image features (unit norm, flip invariance, different
 * pictures far apart) and duplicate grouping (exact hashes, near groups,
 * deterministic order whatever the input order, bad arguments, the stop
 * flag during the checks). */
#include "testlib.h"
#include "imgfeat.h"
#include "imgverify.h"
#include "neardup.h"

#include "../gen/paint.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

static void picture(struct image *im, uint64_t seed)
{
  CHECK_INT_EQ(image_alloc(im, 160, 120, 3), 0);
  rng = seed * 0x9E3779B97F4A7C15ull | 1;
  paint(im->px, 160, 120);
}

static double dist(const struct imgfeat *a, const struct imgfeat *b)
{
  double d = 0;

  for (int i = 0; i < IMGFEAT_DIM; i++)
    d += (double)a->v[i] * b->v[i];
  return 1 - d;
}

TEST(features_basic)
{
  struct image a, b, f;
  struct imgfeat fa, fb, ff;
  double n = 0;

  picture(&a, 1);
  picture(&b, 2);
  CHECK_INT_EQ(image_alloc(&f, 160, 120, 3), 0);
  for (int y = 0; y < 120; y++)
    for (int x = 0; x < 160; x++)
      memcpy(f.px + ((size_t)y * 160 + x) * 3,
             a.px + ((size_t)y * 160 + 159 - x) * 3, 3);
  CHECK_INT_EQ(imgfeat_compute(&a, &fa), 0);
  CHECK_INT_EQ(imgfeat_compute(&b, &fb), 0);
  CHECK_INT_EQ(imgfeat_compute(&f, &ff), 0);
  for (int i = 0; i < IMGFEAT_DIM; i++)
    n += (double)fa.v[i] * fa.v[i];
  CHECK_NEAR(n, 1.0, 1e-5);
  CHECK(dist(&fa, &ff) < 1e-4);                  /* flip: same terms */
  CHECK(imgfeat_hamming(fa.phash, ff.phash) <= 2);
  CHECK(dist(&fa, &fb) > 0.05);                  /* another picture */
  CHECK(imgfeat_hamming(fa.phash, fb.phash) > 10);
  image_free(&a);
  image_free(&b);
  image_free(&f);
}

TEST(features_bad_and_tiny)
{
  struct image im = { 0 }, one;
  struct imgfeat f;

  CHECK_INT_EQ(imgfeat_compute(&im, &f), -EINVAL);
  CHECK_INT_EQ(imgfeat_compute(NULL, &f), -EINVAL);
  CHECK_INT_EQ(image_alloc(&one, 1, 1, 1), 0);   /* 1x1 gray: defined */
  one.px[0] = 77;
  CHECK_INT_EQ(imgfeat_compute(&one, &f), 0);
  for (int i = 0; i < IMGFEAT_DIM; i++)
    CHECK(isfinite(f.v[i]));
  image_free(&one);
}

TEST(exact_groups)
{
  uint8_t h[6][16] = { { 0 } };
  uint64_t ids[6] = { 50, 10, 40, 30, 20, 60 };
  struct neardup_groups g;

  /* 50, 30 share hash A; 10, 20, 60 share hash B; 40 alone. */
  h[0][0] = h[3][0] = 0xAA;
  h[1][0] = h[4][0] = h[5][0] = 0xBB;
  h[2][0] = 0xCC;
  CHECK_INT_EQ(neardup_exact(ids, (const uint8_t(*)[16])h, 6, &g), 0);
  CHECK_INT_EQ(g.ngroups, 2);
  if (g.ngroups == 2) {
    CHECK_INT_EQ(g.off[1] - g.off[0], 3);      /* smallest id 10 first */
    CHECK_INT_EQ(g.ids[0], 10);
    CHECK_INT_EQ(g.ids[1], 20);
    CHECK_INT_EQ(g.ids[2], 60);
    CHECK_INT_EQ(g.ids[3], 30);
    CHECK_INT_EQ(g.ids[4], 50);
    CHECK_INT_EQ(g.off[2], 5);
  }
  neardup_groups_free(&g);
  CHECK_INT_EQ(neardup_exact(NULL, NULL, 0, &g), 0);
  CHECK_INT_EQ(g.ngroups, 0);
  CHECK_INT_EQ(neardup_exact(NULL, NULL, 3, &g), -EINVAL);
}

/* Three clusters of 4 (tight noise around a centre) plus 8 loners, fed in
 * two different orders: same groups, same order. */
TEST(near_groups_order)
{
  enum { D = 16, N = 20 };
  float x[N][D], y[N][D];
  uint64_t ids[N], ids2[N];
  struct neardup_groups a, b;
  uint64_t s = 12345;

  for (int i = 0; i < N; i++) {
    int c = i < 12 ? i / 4 : 3 + i;
    for (int k = 0; k < D; k++) {
      uint64_t z = (uint64_t)(c + 1) * 2654435761u * (uint64_t)(k + 7);
      s = s * 6364136223846793005ull + 1;
      x[i][k] = (float)((z % 1000) / 500.0 - 1.0) +
                (float)((s >> 40) % 1000) * 1e-5f;
    }
    ids[i] = 100 + (uint64_t)((i * 7) % N);   /* scrambled ids */
  }
  for (int i = 0; i < N; i++) {             /* reversed input */
    memcpy(y[i], x[N - 1 - i], sizeof(y[i]));
    ids2[i] = ids[N - 1 - i];
  }
  CHECK_INT_EQ(neardup_near(&x[0][0], N, D, ids, 0.01, NULL, &a), 0);
  CHECK_INT_EQ(neardup_near(&y[0][0], N, D, ids2, 0.01, NULL, &b), 0);
  CHECK_INT_EQ(a.ngroups, 3);
  CHECK_INT_EQ(b.ngroups, a.ngroups);
  if (a.ngroups == 3 && b.ngroups == 3) {
    CHECK_INT_EQ(a.off[3], 12);
    for (size_t i = 0; i < 12; i++)
      CHECK_INT_EQ(a.ids[i], b.ids[i]);
    for (size_t g = 0; g < 3; g++) {
      CHECK_INT_EQ(a.off[g + 1] - a.off[g], 4);
      for (size_t k = a.off[g] + 1; k < a.off[g + 1]; k++)
        CHECK(a.ids[k] > a.ids[k - 1]);
      if (g)
        CHECK(a.ids[a.off[g]] > a.ids[a.off[g - 1]]);
    }
  }
  neardup_groups_free(&a);
  neardup_groups_free(&b);
  x[3][2] = NAN;
  CHECK_INT_EQ(neardup_near(&x[0][0], N, D, ids, 0.1, NULL, &a), -EINVAL);
  CHECK_INT_EQ(neardup_near(&y[0][0], N, D, ids2, -1, NULL, &a), -EINVAL);
  CHECK_INT_EQ(neardup_near(&y[0][0], 1, D, ids2, 0.1, NULL, &a), 0);
  CHECK_INT_EQ(a.ngroups, 0);
  CHECK(a.nn_dist && isnan(a.nn_dist[0]));   /* no other sample */
  neardup_groups_free(&a);
  neardup_groups_free(NULL);
}

/* A solid border (letterbox bars, padding on four sides) is removed
 * before the features: the padded copies land next to the original and
 * far from another picture; a uniform image is well defined whatever its
 * size. */
TEST(features_borders)
{
  static const uint8_t black[3] = { 0, 0, 0 }, mid[3] = { 120, 130, 100 };
  struct image a, b, p1, p2, u1, u2;
  struct imgfeat fa, fb, f1, f2, g1, g2;

  picture(&a, 3);
  picture(&b, 4);
  CHECK_INT_EQ(image_alloc(&p1, 160 + 32, 120 + 24, 3), 0);  /* 4 sides */
  CHECK_INT_EQ(image_alloc(&p2, 160, 120 + 36, 3), 0);       /* bars */
  for (size_t i = 0; i < (size_t)p1.w * p1.h; i++)
    memcpy(p1.px + 3 * i, black, 3);
  for (size_t i = 0; i < (size_t)p2.w * p2.h; i++)
    memcpy(p2.px + 3 * i, mid, 3);
  for (int y = 0; y < 120; y++) {
    memcpy(p1.px + ((size_t)(y + 12) * p1.w + 16) * 3,
           a.px + (size_t)y * 160 * 3, 160 * 3);
    memcpy(p2.px + (size_t)(y + 18) * 160 * 3, a.px + (size_t)y * 160 * 3,
           160 * 3);
  }
  CHECK_INT_EQ(imgfeat_compute(&a, &fa), 0);
  CHECK_INT_EQ(imgfeat_compute(&b, &fb), 0);
  CHECK_INT_EQ(imgfeat_compute(&p1, &f1), 0);
  CHECK_INT_EQ(imgfeat_compute(&p2, &f2), 0);
  CHECK(dist(&fa, &f1) < 0.01);
  CHECK(dist(&fa, &f2) < 0.01);
  CHECK(dist(&fa, &fb) > 0.05);
  CHECK(imgfeat_hamming(fa.phash, f1.phash) <= 4);
  CHECK(imgfeat_hamming(fa.phash, f2.phash) <= 4);
  CHECK_INT_EQ(image_alloc(&u1, 64, 48, 3), 0);
  CHECK_INT_EQ(image_alloc(&u2, 300, 20, 3), 0);
  memset(u1.px, 90, (size_t)64 * 48 * 3);
  memset(u2.px, 90, (size_t)300 * 20 * 3);
  CHECK_INT_EQ(imgfeat_compute(&u1, &g1), 0);
  CHECK_INT_EQ(imgfeat_compute(&u2, &g2), 0);
  for (int i = 0; i < IMGFEAT_DIM; i++) {
    CHECK(isfinite(g1.v[i]));
    CHECK_NEAR(g1.v[i], g2.v[i], 1e-5);
  }
  image_free(&a);
  image_free(&b);
  image_free(&p1);
  image_free(&p2);
  image_free(&u1);
  image_free(&u2);
}

/* Borders on one side and on two adjacent sides, of a colour with noise
 * within the tolerance (+-6 per channel, as JPEG or a sensor leaves a
 * flat colour):
 * the content box is the picture exactly and the features are the
 * original's.  The same border with noise of +-40 is part of the picture
 * (nothing is removed). */
static void noisy_border(const struct image *src, int left, int top,
                         int amp, uint64_t seed, struct image *out)
{
  static const int col[3] = { 200, 40, 60 };

  CHECK_INT_EQ(image_alloc(out, src->w + left, src->h + top, 3), 0);
  for (size_t i = 0; i < (size_t)out->w * out->h * 3; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    int v = col[i % 3] + (int)((seed >> 33) % (2 * amp + 1)) - amp;
    out->px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
  }
  for (int y = 0; y < src->h; y++)
    memcpy(out->px + ((size_t)(y + top) * out->w + left) * 3,
           src->px + (size_t)y * src->w * 3, (size_t)src->w * 3);
}

TEST(features_border_sides_and_tolerance)
{
  struct image a, p;
  struct imgfeat fa, fp;
  int box[4];
  static const int sides[3][2] = { { 40, 0 }, { 0, 30 }, { 24, 18 } };

  picture(&a, 5);
  CHECK_INT_EQ(imgfeat_compute(&a, &fa), 0);
  for (int k = 0; k < 3; k++) {
    noisy_border(&a, sides[k][0], sides[k][1], 6, 11 + (uint64_t)k, &p);
    CHECK_INT_EQ(imgfeat_content(&p, box), 0);
    CHECK_INT_EQ(box[0], sides[k][0]);
    CHECK_INT_EQ(box[1], sides[k][1]);
    CHECK_INT_EQ(box[2], p.w);
    CHECK_INT_EQ(box[3], p.h);
    CHECK_INT_EQ(imgfeat_compute(&p, &fp), 0);
    CHECK(dist(&fa, &fp) < 0.01);
    CHECK(imgfeat_hamming(fa.phash, fp.phash) <= 4);
    image_free(&p);
    noisy_border(&a, sides[k][0], sides[k][1], 40, 21 + (uint64_t)k, &p);
    CHECK_INT_EQ(imgfeat_content(&p, box), 0);
    CHECK_INT_EQ(box[0], 0);
    CHECK_INT_EQ(box[1], 0);
    image_free(&p);
  }
  image_free(&a);
}

/* Groups do not chain: six points 6 degrees apart on an arc (neighbours
 * within the threshold, points two steps apart not), and their mirror
 * images (so the column mean is zero).  Union-find would put each arc in
 * one group; here each arc splits in two: a centre with its neighbours,
 * plus at most one leftover point next to one of them (three steps). */
TEST(near_groups_no_chain)
{
  enum { N = 12 };
  float x[N][2];
  uint64_t ids[N];
  struct neardup_groups g;

  for (int i = 0; i < N; i++) {
    double t = (i % 6) * 6.0 * M_PI / 180 + (i >= 6 ? M_PI : 0);
    x[i][0] = (float)cos(t);
    x[i][1] = (float)sin(t);
    ids[i] = 10 + (uint64_t)i;
  }
  CHECK_INT_EQ(neardup_near(&x[0][0], N, 2, ids, 0.01, NULL, &g), 0);
  CHECK(g.ngroups >= 4);
  for (size_t k = 0; k < g.ngroups; k++) {
    uint64_t lo = g.ids[g.off[k]], hi = g.ids[g.off[k + 1] - 1];
    CHECK(g.off[k + 1] - g.off[k] <= 4);
    CHECK(hi - lo <= 3);            /* members listed ascending */
  }
  neardup_groups_free(&g);
}

/* One borderline pair between two groups: A (four points within half a
 * degree of 0 degrees, plus a1 at 17 degrees) and B (four near 52
 * degrees, plus b1 at 35).  a1 and b1 are 18 degrees apart (cosine
 * distance 0.049, within 0.09), so the pairs link all ten points and
 * union-find would make one group; A's and B's cores are 52 degrees apart
 * (0.38).  Centres keep two groups, each core with its own edge point,
 * whatever the input order, and a far point added changes nothing. */
static void bridge(float x[][3], uint64_t *ids, size_t n)
{
  static const double deg[11] = { 0, 0.4, -0.4, 0.2, 17,
                                  52, 52.4, 51.6, 51.8, 35, 140 };

  for (size_t i = 0; i < n; i++) {
    double t = deg[i] * M_PI / 180;
    x[i][0] = (float)cos(t);
    x[i][1] = (float)sin(t);
    x[i][2] = 0;
    ids[i] = 100 + i;
  }
}

static void check_bridge(const struct neardup_groups *g, size_t n)
{
  CHECK_INT_EQ(g->ngroups, 2);
  if (g->ngroups != 2)
    return;
  CHECK_INT_EQ(g->off[1], 5);      /* A with a1: ids 100..104 */
  CHECK_INT_EQ(g->off[2], 10);     /* B with b1: ids 105..109 */
  for (size_t k = 0; k < 10; k++)
    CHECK_INT_EQ(g->ids[k], 100 + k);
  for (size_t i = 0; i < 10; i++)  /* everyone has a near neighbour */
    CHECK(g->nn_dist[i] >= 0 && g->nn_dist[i] <= 0.09);
  if (n > 10)
    CHECK(g->nn_dist[10] > 0.09);
}

TEST(near_groups_bridge)
{
  enum { N = 11 };
  float x[N][3], y[N][3], zero[3] = { 0 };
  uint64_t ids[N], ids2[N];
  struct neardup_groups g;
  struct neardup_input in = { .x = &x[0][0], .d = 3, .ids = ids,
                              .mean = zero };

  bridge(x, ids, N);
  /* the bridge is a real pair: a1 and b1 within the threshold */
  CHECK(1 - cos(18 * M_PI / 180) < 0.09);
  CHECK(1 - cos(35 * M_PI / 180) > 0.09);
  for (size_t n = 10; n <= N; n++) {
    in.n = n;
    CHECK_INT_EQ(neardup_near_in(&in, 0.09, NULL, &g), 0);
    check_bridge(&g, n);
    neardup_groups_free(&g);
  }
  for (size_t i = 0; i < N; i++) {            /* reversed input */
    memcpy(y[i], x[N - 1 - i], sizeof(y[i]));
    ids2[i] = ids[N - 1 - i];
  }
  in.x = &y[0][0];
  in.ids = ids2;
  CHECK_INT_EQ(neardup_near_in(&in, 0.09, NULL, &g), 0);
  CHECK_INT_EQ(g.ngroups, 2);
  if (g.ngroups == 2)
    for (size_t k = 0; k < 10; k++)
      CHECK_INT_EQ(g.ids[k], 100 + k);
  neardup_groups_free(&g);
}

/* Thousands of samples with one feature vector (blank frames all have
 * the features of a flat picture) are one group, in either input order:
 * as a clique they would be 2200^2 pairs, past the pair bound
 * (max(2^22, 64 n)) whatever the threshold, and the whole view failed
 * with -E2BIG. */
TEST(near_groups_many_copies)
{
  enum { D = 16, N = 2500, COPIES = 2200 };
  float *x = malloc(sizeof(float) * N * D), *y = malloc(sizeof(float) * N * D);
  uint64_t *ids = malloc(sizeof(uint64_t) * N), *ids2 = malloc(8 * N);
  uint64_t s = 777;
  struct neardup_groups a, b;

  CHECK(x && y && ids && ids2);
  for (int i = 0; i < N; i++) {
    for (int k = 0; k < D; k++) {
      s = s * 6364136223846793005ull + 1;
      x[i * D + k] = i < COPIES ? (float)(k % 3) - 1.0f
                                : (float)((s >> 33) % 2001) / 1000.0f - 1.0f;
    }
    ids[i] = 1 + (uint64_t)((i * 7919) % N);
  }
  for (int i = 0; i < N; i++) {
    memcpy(y + i * D, x + (N - 1 - i) * D, sizeof(float) * D);
    ids2[i] = ids[N - 1 - i];
  }
  CHECK_INT_EQ(neardup_near(x, N, D, ids, 0.09, NULL, &a), 0);
  CHECK_INT_EQ(neardup_near(y, N, D, ids2, 0.09, NULL, &b), 0);
  CHECK_INT_EQ(a.ngroups, 1);
  CHECK_INT_EQ(b.ngroups, 1);
  if (a.ngroups == 1 && b.ngroups == 1) {
    CHECK_INT_EQ(a.off[1], COPIES);
    CHECK_INT_EQ(b.off[1], COPIES);
    for (size_t i = 0; i < a.off[1] && i < b.off[1]; i++)
      CHECK_INT_EQ(a.ids[i], b.ids[i]);
  }
  neardup_groups_free(&a);
  neardup_groups_free(&b);
  free(x);
  free(y);
  free(ids);
  free(ids2);
}

/* A dense cluster of close but different vectors (near-blank frames with
 * noise) and a few ordinary pairs.  Measured from a fixed origin (zero),
 * every frame is within the threshold of every other.  BIG frames link
 * BIG^2 pairs, past the pair bound (2^22): the call still succeeds, says
 * how many samples were cut to their NEARDUP_K nearest, groups every frame
 * with frames only (in groups of at most NEARDUP_K + leftovers), and the
 * ordinary pairs are found as if the cluster were not there.  SMALL frames
 * (more than NEARDUP_K, within the bound) are searched by radius: one
 * group, nothing cut. */
static void cluster(float *x, uint64_t *ids, size_t frames, size_t pairs,
                    size_t d)
{
  uint64_t s = 99;

  for (size_t i = 0; i < frames + 2 * pairs; i++) {
    for (size_t k = 0; k < d; k++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      float noise = (float)((s >> 40) % 1000) / 1000.0f - 0.5f;
      if (i < frames)            /* all near (1, 1, ..., 1) */
        x[i * d + k] = 1.0f + 0.02f * noise;
      else                       /* pair p: its own direction, +- noise */
        x[i * d + k] = (k == (i - frames) / 2 % d ? 3.0f : 0.0f) +
                       (k == ((i - frames) / 2 + 1) % d ? -2.0f : 0.0f) +
                       0.001f * noise;
    }
    ids[i] = 10 + i;
  }
}

static void check_cluster(size_t frames, size_t pairs, bool want_capped)
{
  enum { D = 16 };
  size_t n = frames + 2 * pairs, pairs_found = 0, grouped = 0;
  float *x = malloc(n * D * sizeof(float)), zero[D] = { 0 };
  uint64_t *ids = malloc(n * sizeof(*ids));
  struct neardup_groups g;
  struct neardup_input in = { .n = n, .d = D, .mean = zero };

  cluster(x, ids, frames, pairs, D);
  in.x = x;
  in.ids = ids;
  CHECK_INT_EQ(neardup_near_in(&in, 0.09, NULL, &g), 0);
  if (want_capped)
    CHECK(g.capped >= frames / 2);
  else
    CHECK_INT_EQ(g.capped, 0);
  for (size_t k = 0; k < g.ngroups; k++) {
    size_t m = g.off[k + 1] - g.off[k];
    uint64_t first = g.ids[g.off[k]];
    bool is_frames = first < 10 + frames;
    for (size_t j = g.off[k]; j < g.off[k + 1]; j++)
      CHECK((g.ids[j] < 10 + frames) == is_frames);   /* never mixed */
    if (is_frames) {
      grouped += m;
    } else {
      CHECK_INT_EQ(m, 2);
      CHECK_INT_EQ((first - 10 - frames) % 2, 0);
      CHECK_INT_EQ(g.ids[g.off[k] + 1], first + 1);
      pairs_found++;
    }
  }
  CHECK_INT_EQ(grouped, frames);           /* every frame has a group */
  CHECK_INT_EQ(pairs_found, pairs);
  if (!want_capped)
    CHECK_INT_EQ(g.ngroups, pairs + 1);    /* the frames: one group */
  for (size_t i = 0; i < n; i++)
    CHECK(g.nn_dist[i] >= 0 && g.nn_dist[i] <= 0.09);
  neardup_groups_free(&g);
  free(x);
  free(ids);
}

TEST(near_dense_cluster)
{
  check_cluster(3000, 8, true);
  check_cluster(300, 8, false);
}

/* Sub-window vectors: sample 1's main vector meets sample 2's second
 * sub-window; a sub-window match counts at NEARDUP_SUB_FACTOR times its
 * distance, so it groups at raw distance thresh / 2 and not at 0.8 thresh.
 * nn_dist reports the factored distance (from both sides when within the
 * threshold). */
TEST(near_sub_windows)
{
  enum { D = 8, NS = 2 };
  float x[3][D] = { { 0 } }, sub[3][NS][D] = { { { 0 } } }, zero[D] = { 0 };
  uint64_t ids[3] = { 1, 2, 3 };
  struct neardup_groups g;
  struct neardup_input in = { .x = &x[0][0], .n = 3, .d = D, .ids = ids,
                              .sub = &sub[0][0][0], .nsub = NS,
                              .mean = zero };
  double thr = 0.09;

  for (int rep = 0; rep < 2; rep++) {
    /* cos(a) = 1 - d: the angle whose cosine distance is d. */
    double d = rep == 0 ? 0.4 * thr : 0.8 * thr, ang = acos(1 - d);
    memset(x, 0, sizeof(x));
    memset(sub, 0, sizeof(sub));
    x[0][0] = 1;                      /* sample 1 */
    x[1][1] = 1;                      /* sample 2: elsewhere ... */
    sub[1][0][2] = 1;
    sub[1][1][0] = (float)cos(ang);   /* ... but its window 1 near 1 */
    sub[1][1][3] = (float)sin(ang);
    x[2][4] = 1;                      /* sample 3: far from both */
    sub[2][0][5] = sub[2][1][6] = 1;
    sub[0][0][7] = sub[0][1][7] = 1;
    CHECK_INT_EQ(neardup_near_in(&in, thr, NULL, &g), 0);
    CHECK_INT_EQ(g.ngroups, rep == 0 ? 1 : 0);
    if (g.ngroups == 1) {
      CHECK_INT_EQ(g.ids[0], 1);
      CHECK_INT_EQ(g.ids[1], 2);
    }
    CHECK(fabs(g.nn_dist[0] - NEARDUP_SUB_FACTOR * d) < 1e-5);
    /* Sample 2 sees the match only through sample 1's list: within the
     * threshold it is its nearest too; beyond, its own side (far). */
    if (rep == 0)
      CHECK(fabs(g.nn_dist[1] - NEARDUP_SUB_FACTOR * d) < 1e-5);
    else
      CHECK(g.nn_dist[1] > thr);
    CHECK(g.nn_dist[2] > thr);
    neardup_groups_free(&g);
  }
  in.nsub = 0;     /* sub without a count */
  CHECK_INT_EQ(neardup_near_in(&in, thr, NULL, &g), -EINVAL);
  in.nsub = NS;
  sub[2][1][3] = NAN;
  CHECK_INT_EQ(neardup_near_in(&in, thr, NULL, &g), -EINVAL);
}

/* Verification on a large set of mutually close samples (every pair
 * within the threshold, as frames of a static camera are): the pairs
 * scored on thumbnails stay near NEARDUP_VERIFY_K a sample whether they
 * fail or pass, where every pair within the threshold was scored before
 * (N (N - 1) / 2 of them, 44,850: 4.5 to 4.7 times the bounds below).
 * The groups are those of the rule when every pair is scored: none, one
 * of every sample, one of the passing third.  Thumbnails: kind 0 passes with kind 0 (one
 * noise picture, each copy with a little noise of its own); kind 1 is
 * noise of its own per sample, failing against everything.  Vectors as
 * in cluster(), with the kind unrelated to the vector. */
enum { VB_N = 300, VB_D = 16 };
/* The bounds, in pairs a sample: NEARDUP_VERIFY_K as chosen (a number
 * here, so that raising the constant towards checking every pair fails
 * the test). */
enum { VB_BUDGET = 32 };

static uint64_t vb_rng(uint64_t *s)
{
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 33;
}

/* Sample i of kind kind[i] into row r: vector, thumbnail, id. */
static void vb_sample(float *x, uint8_t *th, uint64_t *ids, size_t r,
                      size_t i, int kind)
{
  uint64_t sv = 99 + i * 7919, st = kind == 0 ? 5 : 1000 + i;
  uint64_t sn = 77 + i;

  for (size_t k = 0; k < VB_D; k++)
    x[r * VB_D + k] = 1.0f + 0.02f * ((float)(vb_rng(&sv) % 1000) / 1000.0f -
                                      0.5f);
  for (size_t p = 0; p < IMGVERIFY_BYTES; p++) {
    int v = (int)(vb_rng(&st) % 256);
    if (kind == 0)
      v += (int)(vb_rng(&sn) % 9) - 4;
    th[r * IMGVERIFY_BYTES + p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
  }
  ids[r] = 1000 + i;
}

/* The groups of the n samples with kinds kind[], fed in the order
 * order[] (a permutation of 0 .. n). */
static void vb_run(size_t n, const int *kind, const size_t *order,
                   struct neardup_groups *g)
{
  float *x = malloc(n * VB_D * sizeof(float)), zero[VB_D] = { 0 };
  uint8_t *th = malloc(n * IMGVERIFY_BYTES), *ok = malloc(n);
  uint64_t *ids = malloc(n * sizeof(*ids));
  struct neardup_input in = { .x = x, .n = n, .d = VB_D, .ids = ids,
                              .mean = zero, .thumbs = th, .thumb_ok = ok,
                              .verify = IMGVERIFY_ACCEPT_DEFAULT };

  for (size_t r = 0; r < n; r++) {
    vb_sample(x, th, ids, r, order[r], kind[order[r]]);
    ok[r] = 1;
  }
  CHECK_INT_EQ(neardup_near_in(&in, 0.09, NULL, g), 0);
  free(x);
  free(th);
  free(ok);
  free(ids);
}

TEST(near_verify_bounded)
{
  int kind[VB_N];
  size_t order[VB_N], rev[VB_N];
  struct neardup_groups g, h;

  for (size_t i = 0; i < VB_N; i++) {
    order[i] = i;
    rev[i] = VB_N - 1 - i;
  }
  /* All failing: no group, no passing neighbour. */
  for (size_t i = 0; i < VB_N; i++)
    kind[i] = 1;
  vb_run(VB_N, kind, order, &g);
  CHECK_INT_EQ(g.pairs, VB_N * (VB_N - 1) / 2);
  CHECK(g.checked <= (size_t)VB_BUDGET * VB_N);
  CHECK_INT_EQ(g.ngroups, 0);
  for (size_t i = 0; i < VB_N; i++)
    CHECK(isnan(g.nn_dist[i]));
  neardup_groups_free(&g);
  /* All passing: one group, every sample's nearest within the
   * threshold. */
  for (size_t i = 0; i < VB_N; i++)
    kind[i] = 0;
  vb_run(VB_N, kind, order, &g);
  CHECK(g.checked <= (size_t)(VB_BUDGET + 1) * VB_N);
  CHECK_INT_EQ(g.ngroups, 1);
  CHECK_INT_EQ(g.off[1], VB_N);
  for (size_t i = 0; i < VB_N; i++)
    CHECK(g.nn_dist[i] >= 0 && g.nn_dist[i] <= 0.09);
  neardup_groups_free(&g);
  /* A third passing among failing ones: groups of kind 0 only, the same
   * whatever the input order. */
  for (size_t i = 0; i < VB_N; i++)
    kind[i] = i % 3 != 0;
  vb_run(VB_N, kind, order, &g);
  vb_run(VB_N, kind, rev, &h);
  CHECK(g.checked <= (size_t)2 * VB_BUDGET * VB_N);
  CHECK_INT_EQ(g.ngroups, 1);
  CHECK_INT_EQ(g.off[1], VB_N / 3);
  CHECK_INT_EQ(g.ngroups, h.ngroups);
  for (size_t i = 0; i < VB_N; i++) {   /* in a group: nn within */
    CHECK(kind[i] ? isnan(g.nn_dist[i]) : g.nn_dist[i] <= 0.09);
    CHECK(memcmp(&g.nn_dist[i], &h.nn_dist[VB_N - 1 - i], sizeof(float)) ==
          0);
  }
  for (size_t k = 0; k < g.ngroups && g.ngroups == h.ngroups; k++) {
    CHECK_INT_EQ(g.off[k + 1], h.off[k + 1]);
    for (size_t j = g.off[k]; j < g.off[k + 1]; j++) {
      CHECK_INT_EQ(g.ids[j], h.ids[j]);
      CHECK_INT_EQ((g.ids[j] - 1000) % 3, 0);
    }
  }
  neardup_groups_free(&g);
  neardup_groups_free(&h);
}

/* Copies (identical main vectors) are one row for the search, and that
 * row's thumbnail and sub-windows are one copy's.  Which copy must not
 * follow the input order: here the copy without a thumbnail (a record
 * from before thumbnails) would keep a pair unchecked that the other
 * copy's thumbnail fails, and the third sample would join the copies or
 * not depending on which copy came first. */
TEST(near_copies_order)
{
  float x[3 * VB_D], zero[VB_D] = { 0 };
  uint8_t th[3 * IMGVERIFY_BYTES], ok[3];
  uint64_t ids[3];
  struct neardup_input in = { .x = x, .n = 3, .d = VB_D, .ids = ids,
                              .mean = zero, .thumbs = th, .thumb_ok = ok,
                              .verify = IMGVERIFY_ACCEPT_DEFAULT };
  size_t want = 0;

  for (int order = 0; order < 2; order++) {
    struct neardup_groups g;
    size_t a = order ? 1 : 0, b = order ? 0 : 1;   /* the copies' rows */
    vb_sample(x, th, ids, a, 0, 0);          /* id 1000, a thumbnail */
    ok[a] = 1;
    memcpy(x + b * VB_D, x + a * VB_D, VB_D * sizeof(float));
    memset(th + b * IMGVERIFY_BYTES, 0, IMGVERIFY_BYTES);
    ids[b] = 1005;                           /* a copy without one */
    ok[b] = 0;
    vb_sample(x, th, ids, 2, 1, 1);          /* id 1001: fails the first */
    ok[2] = 1;
    CHECK_INT_EQ(neardup_near_in(&in, 0.09, NULL, &g), 0);
    CHECK_INT_EQ(g.ngroups, 1);
    if (order == 0)
      want = g.ngroups ? g.off[1] : 0;
    else
      CHECK_INT_EQ(g.ngroups ? g.off[1] : 0, want);
    neardup_groups_free(&g);
  }
}

/* Random sets of mutually close samples in six clusters, each sample
 * showing one of three pictures of its cluster (pairs of one picture
 * pass, of two fail), a tenth of them copies of an earlier sample's
 * vector with a thumbnail of their own, a few without a thumbnail: the
 * groups and every nn_dist are the same, bit for bit, for a shuffled
 * input on another thread count, and a sample is in a group exactly when
 * its nn_dist is within the threshold. */
enum { RZ_N = 500, RZ_D = 16 };

struct rz_set {
  float x[RZ_N * RZ_D];
  uint8_t th[RZ_N * IMGVERIFY_BYTES], ok[RZ_N];
  uint64_t ids[RZ_N];
};

static void rz_make(struct rz_set *z, uint64_t seed)
{
  uint64_t s = seed;

  for (size_t i = 0; i < RZ_N; i++) {
    uint64_t c = vb_rng(&s) % 6, pic = vb_rng(&s) % 3;
    uint64_t sv = 1000 + c * 77, st = 5000 + c * 10 + pic, sn = vb_rng(&s);
    for (size_t k = 0; k < RZ_D; k++)
      z->x[i * RZ_D + k] = (float)(vb_rng(&sv) % 1000) / 500.0f - 1.0f +
                           0.25f * ((float)(vb_rng(&s) % 1000) / 1000.0f -
                                    0.5f);
    if (i > 0 && vb_rng(&s) % 10 == 0)
      memcpy(z->x + i * RZ_D, z->x + (vb_rng(&s) % i) * RZ_D,
             RZ_D * sizeof(float));
    for (size_t p = 0; p < IMGVERIFY_BYTES; p++) {
      int v = (int)(vb_rng(&st) % 256) + (int)(vb_rng(&sn) % 9) - 4;
      z->th[i * IMGVERIFY_BYTES + p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    z->ok[i] = vb_rng(&s) % 100 != 0;
    z->ids[i] = 10 + i * 3;
  }
}

static void rz_run(const struct rz_set *z, unsigned nt, double thr,
                   struct neardup_groups *g)
{
  float zero[RZ_D] = { 0 };
  struct knn_opts o = { .nthreads = nt };
  struct neardup_input in = { .x = z->x, .n = RZ_N, .d = RZ_D,
                              .ids = z->ids, .mean = zero, .thumbs = z->th,
                              .thumb_ok = z->ok,
                              .verify = IMGVERIFY_ACCEPT_DEFAULT };

  CHECK_INT_EQ(neardup_near_in(&in, thr, &o, g), 0);
}

/* lab[sample]: the first id of its group, 0 when alone. */
static void rz_label(const struct neardup_groups *g, uint64_t *lab)
{
  memset(lab, 0, RZ_N * sizeof(*lab));
  for (size_t k = 0; k < g->ngroups; k++)
    for (size_t j = g->off[k]; j < g->off[k + 1]; j++)
      lab[(g->ids[j] - 10) / 3] = g->ids[g->off[k]];
}

TEST(near_random_order)
{
  static const double thrs[] = { 0.02, 0.09 };
  static struct rz_set a, b;
  uint64_t la[RZ_N], lb[RZ_N];
  size_t perm[RZ_N];

  for (uint64_t seed = 1; seed <= 1; seed++)
    for (size_t ti = 0; ti < 2; ti++) {
      struct neardup_groups ga, gb;
      uint64_t s = seed * 99;
      rz_make(&a, seed);
      for (size_t i = 0; i < RZ_N; i++)
        perm[i] = i;
      for (size_t i = RZ_N - 1; i > 0; i--) {
        size_t j = vb_rng(&s) % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
      }
      for (size_t r = 0; r < RZ_N; r++) {
        size_t i = perm[r];
        memcpy(b.x + r * RZ_D, a.x + i * RZ_D, RZ_D * sizeof(float));
        memcpy(b.th + r * IMGVERIFY_BYTES, a.th + i * IMGVERIFY_BYTES,
               IMGVERIFY_BYTES);
        b.ok[r] = a.ok[i];
        b.ids[r] = a.ids[i];
      }
      rz_run(&a, 1, thrs[ti], &ga);
      rz_run(&b, 3, thrs[ti], &gb);
      CHECK(ga.ngroups >= 6);   /* pictures of a cluster come apart */
      rz_label(&ga, la);
      rz_label(&gb, lb);
      CHECK(memcmp(la, lb, sizeof(la)) == 0);
      for (size_t r = 0; r < RZ_N; r++) {
        size_t i = perm[r];
        CHECK(memcmp(&ga.nn_dist[i], &gb.nn_dist[r], sizeof(float)) == 0);
        CHECK((la[i] != 0) == (ga.nn_dist[i] <= thrs[ti]));
      }
      neardup_groups_free(&ga);
      neardup_groups_free(&gb);
    }
}

/* The grouping and its thumbnail checks give up when the stop flag of
 * knn_opts is raised, as the k-NN does: 1,500 samples of 3-d vectors
 * spread in a cube, each with about 70 others within the threshold, and
 * thumbnails that fail every check.  The k-NN takes milliseconds, the
 * checks and the grouping about 5 s (which an unmount waited for); the
 * flag raised at 1 s returns -ECANCELED within a second of it. */
enum { ST_N = 1500, ST_D = 3 };
#define STOP_AT_S 1.0

TEST(near_stops)
{
  float *x = malloc(ST_N * ST_D * sizeof(float)), zero[ST_D] = { 0 };
  uint8_t *th = malloc((size_t)ST_N * IMGVERIFY_BYTES), *ok = malloc(ST_N);
  uint64_t *ids = malloc(ST_N * sizeof(*ids)), s = 1;
  int stop = 0;
  struct knn_opts ko = { .stop = &stop };
  struct tl_raiser rs = { &stop, STOP_AT_S };
  struct neardup_input in = { .x = x, .n = ST_N, .d = ST_D, .ids = ids,
                              .mean = zero, .thumbs = th, .thumb_ok = ok,
                              .verify = IMGVERIFY_ACCEPT_DEFAULT };
  struct neardup_groups g;
  pthread_t tid;
  double t0, took;

  CHECK(x && th && ok && ids);
  if (!x || !th || !ok || !ids)
    goto out;
  for (size_t i = 0; i < ST_N; i++) {
    for (size_t k = 0; k < ST_D; k++)
      x[i * ST_D + k] = (float)(vb_rng(&s) % 20001) / 10000.0f - 1.0f;
    for (size_t p = 0; p < IMGVERIFY_BYTES; p++)
      th[i * IMGVERIFY_BYTES + p] = (uint8_t)(vb_rng(&s) % 256);
    ok[i] = 1;
    ids[i] = 1000 + i;
  }
  CHECK_INT_EQ(pthread_create(&tid, NULL, tl_raise_later, &rs), 0);
  t0 = tl_now_s();
  CHECK_INT_EQ(neardup_near_in(&in, 0.09, &ko, &g), -ECANCELED);
  took = tl_now_s() - t0;
  pthread_join(tid, NULL);
  printf("# grouping of %d samples, stopped at %.1f s: returned after "
         "%.2f s\n", ST_N, STOP_AT_S, took);
  CHECK(took < STOP_AT_S + 1.0);
out:
  free(x);
  free(th);
  free(ok);
  free(ids);
}

TEST_MAIN(T(features_basic), T(features_bad_and_tiny), T(features_borders),
          T(features_border_sides_and_tolerance),
          T(exact_groups), T(near_groups_order), T(near_groups_no_chain),
          T(near_groups_bridge), T(near_groups_many_copies),
          T(near_dense_cluster), T(near_sub_windows),
          T(near_verify_bounded), T(near_copies_order), T(near_random_order),
          T(near_stops))
