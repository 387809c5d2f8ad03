/* test_iou.c - box IoU, max IoU within a set, duplicate boxes.
 *
 * Expected values are worked out by hand in the comments, or come from a
 * brute-force reference written here independently of core/compute/iou.c (full
 * pair matrix, its own overlap arithmetic).
 */
#include "testlib.h"
#include "iou.h"

#include <errno.h>
#include <stdbool.h>
#include <time.h>

#define R(x, y, w, h) ((struct iou_rect){ (x), (y), (w), (h) })

static double iou2(struct iou_rect a, struct iou_rect b, bool crowd)
{
  return iou_box(&a, &b, crowd);
}

/* ---- independent reference -------------------------------------------- */

static double ref_iou(const struct iou_rect *a, const struct iou_rect *b)
{
  double l = a->x > b->x ? a->x : b->x;
  double rr = a->x + a->w < b->x + b->w ? a->x + a->w : b->x + b->w;
  double t = a->y > b->y ? a->y : b->y;
  double bt = a->y + a->h < b->y + b->h ? a->y + a->h : b->y + b->h;
  double inter, uni;

  if (rr <= l || bt <= t)
    return 0;
  inter = (rr - l) * (bt - t);
  uni = a->w * a->h + b->w * b->h - inter;
  return uni > 0 ? (inter / uni > 1 ? 1 : inter / uni) : 0;
}

static unsigned long long rng_state = 88172645463325252ull;

static double rnd(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* ---- iou_box ------------------------------------------------------------ */

TEST(identical)
{
  CHECK_NEAR(iou2(R(3, 4, 10, 20), R(3, 4, 10, 20), false), 1.0, 0);
  CHECK_NEAR(iou2(R(0.5, 0.5, 0.25, 0.25), R(0.5, 0.5, 0.25, 0.25), false),
             1.0, 0);
}

TEST(disjoint)
{
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(20, 0, 10, 10), false), 0, 0);
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(0, 30, 10, 10), false), 0, 0);
  /* overlapping in x only */
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(5, 11, 10, 10), false), 0, 0);
}

TEST(touching_edges)
{
  /* No +1 convention: [0,10) and [10,20) share no area. */
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(10, 0, 10, 10), false), 0, 0);
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(0, 10, 10, 10), false), 0, 0);
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(10, 10, 5, 5), false), 0, 0);
  /* one pixel of overlap: inter 1 × 10 = 10, union 100 + 100 - 10 */
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(9, 0, 10, 10), false), 10.0 / 190,
             1e-15);
}

TEST(partial_and_contained)
{
  /* inter 5×5 = 25, union 175 */
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(5, 5, 10, 10), false), 25.0 / 175,
             1e-15);
  /* contained: inter 16, union 100 */
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(2, 2, 4, 4), false), 0.16, 1e-15);
  CHECK_NEAR(iou2(R(2, 2, 4, 4), R(0, 0, 10, 10), false), 0.16, 1e-15);
  /* half: inter 50, union 100 */
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(0, 0, 10, 5), false), 0.5, 0);
}

TEST(zero_area)
{
  CHECK_NEAR(iou2(R(0, 0, 0, 10), R(0, 0, 10, 10), false), 0, 0);
  CHECK_NEAR(iou2(R(0, 0, 10, 0), R(0, 0, 10, 10), false), 0, 0);
  /* union 0: defined as 0, not NaN */
  CHECK_NEAR(iou2(R(5, 5, 0, 0), R(5, 5, 0, 0), false), 0, 0);
  CHECK_NEAR(iou2(R(5, 5, 0, 0), R(5, 5, 0, 0), true), 0, 0);
  /* negative extent and NaN behave as empty */
  CHECK_NEAR(iou2(R(10, 0, -5, 10), R(0, 0, 10, 10), false), 0, 0);
  CHECK_NEAR(iou2(R(NAN, 0, 5, 5), R(0, 0, 10, 10), false), 0, 0);
}

TEST(crowd)
{
  /* gt crowd: union = area of the prediction (b) */
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(2, 2, 4, 4), true), 1.0, 0);
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(5, 5, 10, 10), true), 0.25, 1e-15);
  CHECK_NEAR(iou2(R(2, 2, 4, 4), R(0, 0, 10, 10), true), 0.16, 1e-15);
  CHECK_NEAR(iou2(R(0, 0, 10, 10), R(20, 20, 5, 5), true), 0, 0);
}

TEST(relative_equals_pixel)
{
  /* IoU is invariant under scaling x by W and y by H. */
  struct iou_rect a = R(0.1, 0.2, 0.3, 0.4), b = R(0.25, 0.3, 0.3, 0.2);
  struct iou_rect pa = R(64, 96, 192, 192), pb = R(160, 144, 192, 96);

  CHECK_NEAR(iou_box(&a, &b, false), iou_box(&pa, &pb, false), 1e-12);
  CHECK(iou_box(&a, &b, false) > 0.1);
}

/* ---- max IoU ------------------------------------------------------------ */

/* A=(0,0,10,10) c0, B=(5,0,10,10) c1, C=(0,0,10,5) c0:
 * IoU(A,B) = 50/150, IoU(A,C) = 50/100, IoU(B,C) = 25/125. */
TEST(max_classwise_vs_all)
{
  struct iou_rect bx[3] = { R(0, 0, 10, 10), R(5, 0, 10, 10),
                            R(0, 0, 10, 5) };
  int cls[3] = { 0, 1, 0 };
  double m[3];
  ptrdiff_t p[3];

  CHECK_INT_EQ(iou_max_within(bx, cls, 3, 0, m, p), 0);
  CHECK_NEAR(m[0], 0.5, 1e-15);
  CHECK_INT_EQ(p[0], 2);
  CHECK_NEAR(m[1], 0, 0);
  CHECK_INT_EQ(p[1], -1);
  CHECK_NEAR(m[2], 0.5, 1e-15);
  CHECK_INT_EQ(p[2], 0);

  CHECK_INT_EQ(iou_max_within(bx, cls, 3, IOU_ALL_CLASSES, m, p), 0);
  CHECK_NEAR(m[0], 0.5, 1e-15);
  CHECK_INT_EQ(p[0], 2);
  CHECK_NEAR(m[1], 1.0 / 3, 1e-15);
  CHECK_INT_EQ(p[1], 0);
  CHECK_NEAR(m[2], 0.5, 1e-15);
  CHECK_INT_EQ(p[2], 0);

  /* NULL classes = one class; partner output optional */
  CHECK_INT_EQ(iou_max_within(bx, NULL, 3, 0, m, NULL), 0);
  CHECK_NEAR(m[1], 1.0 / 3, 1e-15);
}

/* Box 2 = (0,0,10,10) overlaps box 0 = (-5,0,10,10) and box 1 =
 * (5,0,10,10) with the same IoU 50/150; boxes 0 and 1 only touch.  The
 * partner must be the lower index, both in the double loop (3 boxes) and
 * in the sweep (same boxes plus far-away fillers, listed first so that the
 * sweep meets the pairs in a different order). */
TEST(max_ties)
{
  struct iou_rect bx[40];
  double m[40];
  ptrdiff_t p[40];
  size_t nf = 30;

  bx[0] = R(-5, 0, 10, 10);
  bx[1] = R(5, 0, 10, 10);
  bx[2] = R(0, 0, 10, 10);
  CHECK_INT_EQ(iou_max_within(bx, NULL, 3, 0, m, p), 0);
  CHECK_NEAR(m[2], 1.0 / 3, 1e-15);
  CHECK_INT_EQ(p[2], 0);
  CHECK_INT_EQ(p[0], 2);
  CHECK_INT_EQ(p[1], 2);

  /* Same geometry, indices reversed and shifted behind fillers. */
  for (size_t i = 0; i < nf; i++)
    bx[i] = R(1000 + 20.0 * (double)i, 0, 10, 10);
  bx[nf + 0] = R(0, 0, 10, 10);
  bx[nf + 1] = R(5, 0, 10, 10);
  bx[nf + 2] = R(-5, 0, 10, 10);
  CHECK_INT_EQ(iou_max_within(bx, NULL, nf + 3, 0, m, p), 0);
  CHECK_NEAR(m[nf], 1.0 / 3, 1e-15);
  CHECK_INT_EQ(p[nf], (ptrdiff_t)nf + 1);
  CHECK_INT_EQ(p[nf + 1], (ptrdiff_t)nf);
  CHECK_INT_EQ(p[nf + 2], (ptrdiff_t)nf);
  for (size_t i = 0; i < nf; i++) {
    CHECK_NEAR(m[i], 0, 0);
    CHECK_INT_EQ(p[i], -1);
  }
}

TEST(max_fewer_than_two)
{
  struct iou_rect one = R(0, 0, 5, 5);
  double m = 123;
  ptrdiff_t p = 7;

  CHECK_INT_EQ(iou_max_within(&one, NULL, 1, 0, &m, &p), 0);
  CHECK_NEAR(m, IOU_NONE, 0);
  CHECK_INT_EQ(p, -1);
  CHECK_INT_EQ(iou_max_within(NULL, NULL, 0, 0, NULL, NULL), 0);
  CHECK_INT_EQ(iou_max_within(NULL, NULL, 2, 0, &m, &p), -EINVAL);
}

/* Boxes flush with the borders of a 640×480 image, plus one hanging over
 * the left edge (negative x is kept as is, not clipped). */
TEST(max_image_edge)
{
  struct iou_rect bx[5] = {
    R(0, 0, 50, 50),      /* top-left corner */
    R(0, 0, 50, 40),      /* inside box 0: 2000/2500 */
    R(590, 430, 50, 50),  /* bottom-right corner */
    R(600, 440, 40, 40),  /* inside box 2: 1600/2500 */
    R(-10, 100, 20, 20),  /* over the left edge, alone */
  };
  double m[5];
  ptrdiff_t p[5];

  CHECK_INT_EQ(iou_max_within(bx, NULL, 5, 0, m, p), 0);
  CHECK_NEAR(m[0], 0.8, 1e-15);
  CHECK_INT_EQ(p[0], 1);
  CHECK_NEAR(m[1], 0.8, 1e-15);
  CHECK_INT_EQ(p[1], 0);
  CHECK_NEAR(m[2], 0.64, 1e-15);
  CHECK_INT_EQ(p[3], 2);
  CHECK_NEAR(m[4], 0, 0);
  CHECK_INT_EQ(p[4], -1);
}

static void brute_max(const struct iou_rect *bx, const int *cls, size_t n,
                      bool all, double *m, ptrdiff_t *p)
{
  for (size_t i = 0; i < n; i++) {
    m[i] = 0;
    p[i] = -1;
    for (size_t j = 0; j < n; j++) {
      double v;

      if (j == i || (!all && cls[i] != cls[j]))
        continue;
      v = ref_iou(&bx[i], &bx[j]);
      if (v > m[i]) {
        m[i] = v;
        p[i] = (ptrdiff_t)j;
      }
    }
  }
}

TEST(max_random_vs_bruteforce)
{
  enum { N = 400 };
  static struct iou_rect bx[N];
  static int cls[N];
  static double m[N], bm[N];
  static ptrdiff_t p[N], bp[N];

  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < N; i++) {
      bx[i] = R(rnd() * 600, rnd() * 440, 5 + rnd() * 60, 5 + rnd() * 60);
      cls[i] = (int)(rnd() * 3);
    }
    for (int all = 0; all < 2; all++) {
      CHECK_INT_EQ(iou_max_within(bx, cls, N, all ? IOU_ALL_CLASSES : 0, m,
                                  p), 0);
      brute_max(bx, cls, N, all, bm, bp);
      for (size_t i = 0; i < N; i++) {
        CHECK_NEAR(m[i], bm[i], 1e-12);
        CHECK_INT_EQ(p[i], bp[i]);
      }
    }
  }
}

static double cpu_seconds(void)
{
  return (double)clock() / CLOCKS_PER_SEC;
}

/* CPU seconds of iou_max_within() on a G x G grid of disjoint boxes, the
 * least of three runs; NAN if a run fails or any result is not 0. */
static double grid_cpu(size_t G)
{
  struct iou_rect *bx = malloc(sizeof(*bx) * G * G);
  double *m = malloc(sizeof(*m) * G * G);
  double best = NAN;

  if (!bx || !m)
    goto out;
  for (size_t i = 0; i < G; i++)
    for (size_t j = 0; j < G; j++)
      bx[i * G + j] = R(10.0 * (double)j, 10.0 * (double)i, 9, 9);
  for (int run = 0; run < 3; run++) {
    double t0 = cpu_seconds();
    if (iou_max_within(bx, NULL, G * G, 0, m, NULL) != 0) {
      best = NAN;
      goto out;
    }
    t0 = cpu_seconds() - t0;
    for (size_t i = 0; i < G * G; i++)
      if (m[i] != 0) {
        best = NAN;
        goto out;
      }
    if (run == 0 || t0 < best)
      best = t0;
  }
out:
  free(bx);
  free(m);
  return best;
}

/* 90,000 disjoint boxes on a grid: the sweep looks at ~300 candidates per
 * box; a full double loop would test 4e9 pairs.  Rather than a time limit
 * (which depends on the build and the machine's load), the cost must grow
 * like n^1.5 at most: 4x the boxes may cost at most 10x the CPU time
 * (8x for n^1.5, 16x for a double loop), plus 20 ms of clock granularity. */
TEST(max_many_disjoint_is_fast)
{
  double small = grid_cpu(150), big = grid_cpu(300);

  CHECK(!isnan(small) && !isnan(big));
  printf("# disjoint boxes: 22500 in %.3f s, 90000 in %.3f s CPU\n", small,
         big);
  CHECK(big <= 10.0 * small + 0.02);
}

/* ---- duplicates --------------------------------------------------------- */

/* Chain A=(0,0,10,10), B=(3,0,10,10), C=(6,0,10,10): IoU(A,B) = IoU(B,C) =
 * 70/130 > 0.5, IoU(A,C) = 40/160.  simple: later elements {1, 2};
 * greedy: B is in 2 pairs, dropping it clears everything: {1}. */
TEST(dup_chain)
{
  struct iou_rect bx[3] = { R(0, 0, 10, 10), R(3, 0, 10, 10),
                            R(6, 0, 10, 10) };
  size_t d[3], nd = 99;

  CHECK_INT_EQ(iou_find_duplicates(bx, NULL, 3, 0.5, IOU_DUP_SIMPLE, 0, d,
                                   &nd), 0);
  CHECK_INT_EQ(nd, 2);
  CHECK_INT_EQ(d[0], 1);
  CHECK_INT_EQ(d[1], 2);
  CHECK_INT_EQ(iou_find_duplicates(bx, NULL, 3, 0.5, IOU_DUP_GREEDY, 0, d,
                                   &nd), 0);
  CHECK_INT_EQ(nd, 1);
  CHECK_INT_EQ(d[0], 1);
}

/* One pair: simple drops the later box, greedy the lower index (tie). */
TEST(dup_pair_tie)
{
  struct iou_rect bx[3] = { R(50, 50, 10, 10), R(0, 0, 10, 10),
                            R(50, 50, 10, 10) };
  size_t d[3], nd;

  CHECK_INT_EQ(iou_find_duplicates(bx, NULL, 3, 0.999, IOU_DUP_SIMPLE, 0, d,
                                   &nd), 0);
  CHECK_INT_EQ(nd, 1);
  CHECK_INT_EQ(d[0], 2);
  CHECK_INT_EQ(iou_find_duplicates(bx, NULL, 3, 0.999, IOU_DUP_GREEDY, 0, d,
                                   &nd), 0);
  CHECK_INT_EQ(nd, 1);
  CHECK_INT_EQ(d[0], 0);
}

TEST(dup_strict_threshold_and_classes)
{
  /* IoU exactly 0.5 and exactly 1 */
  struct iou_rect bx[2] = { R(0, 0, 10, 10), R(0, 0, 10, 5) };
  struct iou_rect same[2] = { R(1, 1, 4, 4), R(1, 1, 4, 4) };
  int cls[2] = { 3, 4 };
  size_t d[2], nd;

  CHECK_INT_EQ(iou_find_duplicates(bx, NULL, 2, 0.5, IOU_DUP_SIMPLE, 0, d,
                                   &nd), 0);
  CHECK_INT_EQ(nd, 0);
  CHECK_INT_EQ(iou_find_duplicates(bx, NULL, 2, 0.49, IOU_DUP_SIMPLE, 0, d,
                                   &nd), 0);
  CHECK_INT_EQ(nd, 1);
  CHECK_INT_EQ(iou_find_duplicates(same, NULL, 2, 1.0, IOU_DUP_SIMPLE, 0, d,
                                   &nd), 0);
  CHECK_INT_EQ(nd, 0);
  /* classwise by default: different classes never duplicate */
  CHECK_INT_EQ(iou_find_duplicates(same, cls, 2, 0.999, IOU_DUP_SIMPLE, 0,
                                   d, &nd), 0);
  CHECK_INT_EQ(nd, 0);
  CHECK_INT_EQ(iou_find_duplicates(same, cls, 2, 0.999, IOU_DUP_SIMPLE,
                                   IOU_ALL_CLASSES, d, &nd), 0);
  CHECK_INT_EQ(nd, 1);
  CHECK_INT_EQ(d[0], 1);

  CHECK_INT_EQ(iou_find_duplicates(bx, NULL, 2, -0.1, IOU_DUP_SIMPLE, 0, d,
                                   &nd), -EINVAL);
  CHECK_INT_EQ(iou_find_duplicates(bx, NULL, 2, NAN, IOU_DUP_SIMPLE, 0, d,
                                   &nd), -EINVAL);
  CHECK_INT_EQ(iou_find_duplicates(bx, NULL, 2, 0.5, _IOU_DUP_MAX, 0, d,
                                   &nd), -EINVAL);
}

/* Reference greedy on the full matrix, straight from the description. */
static size_t brute_dups(const struct iou_rect *bx, size_t n, double th,
                         bool greedy, size_t *out)
{
  static bool a[64][64];
  bool dup[64] = { false };
  size_t nd = 0;

  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      a[i][j] = i < j && ref_iou(&bx[i], &bx[j]) > th;
  if (!greedy) {
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < n; j++)
        if (a[i][j])
          dup[j] = true;
  } else {
    for (;;) {
      size_t cnt[64] = { 0 }, best = 0, top = 0;

      for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
          if (a[i][j]) {
            cnt[i]++;
            cnt[j]++;
          }
      for (size_t i = 0; i < n; i++)
        if (cnt[i] > best) {
          best = cnt[i];
          top = i;
        }
      if (!best)
        break;
      dup[top] = true;
      for (size_t i = 0; i < n; i++)
        a[top][i] = a[i][top] = false;
    }
  }
  for (size_t i = 0; i < n; i++)
    if (dup[i])
      out[nd++] = i;
  return nd;
}

TEST(dup_random_vs_bruteforce)
{
  enum { N = 60 };
  struct iou_rect bx[N];
  size_t d[N], bd[N], nd;

  for (int round = 0; round < 20; round++) {
    /* a few clusters of jittered boxes, so many pairs exceed 0.6 */
    for (size_t i = 0; i < N; i++) {
      double cx = 100.0 * (double)(i % 5), cy = 50.0 * (double)(i % 3);

      bx[i] = R(cx + rnd() * 6, cy + rnd() * 6, 30 + rnd() * 6,
                30 + rnd() * 6);
    }
    for (int g = 0; g < 2; g++) {
      size_t bnd = brute_dups(bx, N, 0.6, g, bd);

      CHECK_INT_EQ(iou_find_duplicates(bx, NULL, N, 0.6,
                                       g ? IOU_DUP_GREEDY : IOU_DUP_SIMPLE,
                                       0, d, &nd), 0);
      CHECK_INT_EQ(nd, bnd);
      for (size_t i = 0; i < nd && i < bnd; i++)
        CHECK_INT_EQ(d[i], bd[i]);
    }
  }
}

TEST_MAIN(T(identical), T(disjoint), T(touching_edges),
          T(partial_and_contained), T(zero_area), T(crowd),
          T(relative_equals_pixel), T(max_classwise_vs_all), T(max_ties),
          T(max_fewer_than_two), T(max_image_edge),
          T(max_random_vs_bruteforce), T(max_many_disjoint_is_fast),
          T(dup_chain), T(dup_pair_tie), T(dup_strict_threshold_and_classes),
          T(dup_random_vs_bruteforce))
