/* nemb.c - the neighbour-embedding map (see nemb.h).
 *
 * The gradient is UMAP's with a = b = 1, i.e. the low-dimensional
 * similarity 1 / (1 + d²): no pow() in the inner loop, which is what keeps
 * 100,000 points within a few seconds on one core.  Per step and
 * coordinate the move is clipped to ±4, as UMAP does, so a point that
 * lands on top of another (d² ≈ 0) cannot be thrown across the map.
 * Repulsion moves only the point being updated; attraction moves both
 * ends of the edge.
 */
#include "nemb.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

#define CLIP 4.0f
#define START_SPAN 10.0f

static float clip(float v)
{
  return v > CLIP ? CLIP : v < -CLIP ? -CLIP : v;
}

/* xorshift64*: fast, fixed sequence for a given seed. */
static inline uint64_t rnd(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* Rows between two reads of the stop flag: about a millisecond of the
 * loop below at k = 10 and 3 negatives, so a raised flag is seen at once
 * and the read costs nothing. */
#define STOP_ROWS 4096

/* One epoch at learning rate alpha: 0, or -ECANCELED once *stop (NULL:
 * never) is nonzero, the epoch then left partly done. */
static int epoch(const uint32_t *nbr, size_t n, size_t k, float *y,
                 unsigned negatives, float alpha, uint64_t *rs,
                 const int *stop)
{
  for (size_t i = 0; i < n; i++) {
    float *yi = y + 2 * i;
    if (stop && i % STOP_ROWS == 0 &&
        __atomic_load_n(stop, __ATOMIC_RELAXED))
      return -ECANCELED;
    for (size_t c = 0; c < k; c++) {
      uint32_t j = nbr[i * k + c];
      if (j >= n || j == i)
        continue;
      float *yj = y + 2 * (size_t)j;
      float dx = yi[0] - yj[0], dy = yi[1] - yj[1];
      float d2 = dx * dx + dy * dy;
      /* d/dy of log(1 / (1 + d²)): -2 (yi - yj) / (1 + d²). */
      float g = -2.0f / (1.0f + d2);
      float mx = clip(g * dx) * alpha, my = clip(g * dy) * alpha;
      yi[0] += mx, yi[1] += my;
      yj[0] -= mx, yj[1] -= my;
      for (unsigned s = 0; s < negatives; s++) {
        /* Multiply-shift instead of a 64-bit division: the draw is
         * uniform to within n / 2^32. */
        size_t m = (size_t)(((rnd(rs) >> 32) * (uint64_t)n) >> 32);
        if (m == i)
          continue;
        const float *ym = y + 2 * m;
        dx = yi[0] - ym[0], dy = yi[1] - ym[1];
        d2 = dx * dx + dy * dy;
        /* d/dy of log(1 - 1 / (1 + d²)): 2 (yi - ym) / (d² (1 + d²)),
         * with UMAP's 0.001 keeping it finite at d = 0. */
        g = 2.0f / ((0.001f + d2) * (1.0f + d2));
        yi[0] += clip(g * dx) * alpha;
        yi[1] += clip(g * dy) * alpha;
      }
    }
  }
  return 0;
}

int nemb_layout(const uint32_t *nbr, size_t n, size_t k, float *y,
                const struct nemb_opts *opts)
{
  if (n && (!y || (k && !nbr)))
    return -EINVAL;
  if (k > 1024)
    return -EINVAL;
  if (n < 2 || k == 0)
    return 0;
  /* Small maps get more epochs (cheap, and they settle slower); large
   * ones fewer, which keeps 100,000 points within the time budget. */
  unsigned epochs = opts && opts->epochs ? opts->epochs
                    : n <= 10000        ? 500
                    : n <= 50000        ? 200
                                        : 120;
  unsigned neg = opts && opts->negatives ? opts->negatives : 3;
  uint64_t rs = opts && opts->seed ? opts->seed : 0x9E3779B97F4A7C15ULL;
  const int *stop = opts ? opts->stop : NULL;
  int r = 0;
  for (unsigned e = 0; e < epochs && r == 0; e++)
    r = epoch(nbr, n, k, y, neg, 1.0f - (float)e / (float)epochs, &rs, stop);
  return r;
}

/* Scales the start so its largest coordinate is START_SPAN: the gradient
 * steps are sized for a map about this wide. */
static void scale_start(float *y, size_t n)
{
  float m = 0;
  for (size_t i = 0; i < 2 * n; i++)
    m = fmaxf(m, fabsf(y[i]));
  float f = m > 0 ? START_SPAN / m : 1;
  for (size_t i = 0; i < 2 * n; i++)
    y[i] *= f;
}

int nemb_map(const float *X, size_t n, size_t dim, const uint32_t *nbr,
             size_t k, float *out, const struct nemb_opts *opts)
{
  int r = plot_pca2(X, n, dim, out, NULL);
  if (r < 0 || n < 4 || k == 0)
    return r;
  scale_start(out, n);
  return nemb_layout(nbr, n, k, out, opts);
}

/*---- trustworthiness --------------------------------------------------------*/

struct dj {
  float d;
  uint32_t j;
};

static int cmp_dj(const void *a, const void *b)
{
  const struct dj *x = a, *y = b;
  if (x->d != y->d)
    return x->d < y->d ? -1 : 1;
  return x->j < y->j ? -1 : x->j > y->j;
}

double nemb_trustworthiness(const float *y, size_t n, const uint32_t *nbr,
                            size_t k, size_t kt)
{
  if (!y || !nbr || kt == 0 || kt > k || n < 2 * kt + 2)
    return NAN;
  struct dj *row = malloc((n - 1) * sizeof(*row));
  if (!row)
    return NAN;
  double pen = 0;
  for (size_t i = 0; i < n; i++) {
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
      if (j == i)
        continue;
      float dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      row[m++] = (struct dj){ dx * dx + dy * dy, (uint32_t)j };
    }
    qsort(row, m, sizeof(*row), cmp_dj);
    for (size_t a = 0; a < kt; a++) {
      size_t rank = k + 1; /* beyond the listed neighbours */
      for (size_t c = 0; c < k; c++)
        if (nbr[i * k + c] == row[a].j) {
          rank = c + 1;
          break;
        }
      if (rank > kt)
        pen += (double)(rank - kt);
    }
  }
  free(row);
  double nn = (double)n, kk = (double)kt;
  return 1.0 - 2.0 / (nn * kk * (2 * nn - 3 * kk - 1)) * pen;
}
