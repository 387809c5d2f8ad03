/* imgverify.c - the thumbnail and the aligned detail correlation of
 * imgverify.h.  Every buffer lives on the stack (a few 32x32 float
 * planes); nothing is shared between calls.
 */
#include "imgverify.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define N IMGVERIFY_SIDE
#define LEVELS 3                   /* pyramid levels at most */

/* Luma weights halfway between BT.601 and Rec. 709, as imgfeat.c: grey
 * copies are made with either. */
#define W_R 0.2558
#define W_G 0.6511
#define W_B 0.0931
/* An identity score this high needs no alignment. */
#define EARLY_ACCEPT 0.9
/* The frame of a's thumbnail left out of every comparison: the corners a
 * rotation brings in (black or white triangles, with edges as strong as
 * any detail: two copies rotated alike would match on them) and the
 * edges a crop takes away. */
#define MARGIN (N / 8)
/* A pair whose best coarse alignment correlates below this is not
 * refined: no copy of the quality sets came below 0.28 there, while most
 * pairs of different pictures do, and the fine level is two thirds of
 * an alignment's cost. */
#define COARSE_MIN 0.2
/* The share of pixels that must stay inside both after the warp. */
#define MIN_OVERLAP 0.4
/* A picture whose thumbnail cells span fewer grey levels is flat: it has
 * no detail to compare. */
#define FLAT_RANGE 4.0
/* Below this detail energy (per pixel, in stretched levels squared) a
 * thumbnail counts as flat. */
#define FLAT_ENERGY 0.25

/* ---- thumbnail ---- */

/* Regions up to this many pixels each way take the fast path (weights
 * per axis on the stack). */
#define THUMB_FAST_MAX 4096

/* Adds v over the cells [s, e) (cell units, fractional) of row, weighted
 * by overlap. */
static void spread(double *row, double s, double e, double v)
{
  int c0 = (int)floor(s), c1 = (int)ceil(e);

  for (int c = c0 < 0 ? 0 : c0; c < c1 && c < N; c++) {
    double lo = s > c ? s : c, hi = e < c + 1 ? e : c + 1;
    if (hi > lo)
      row[c] += v * (hi - lo);
  }
}

static double luma_at(const uint8_t *p, int ch)
{
  return ch == 1 ? p[0] : W_R * p[0] + W_G * p[1] + W_B * p[2];
}

/* Where source pixel i of a line of len (>= N) pixels goes: cells
 * cell[i] (weight w0[i]) and cell[i] + 1 (weight w1[i], often 0); the
 * weights are overlaps in cell units. */
static void axis_weights(int len, int *cell, float *w0, float *w1)
{
  double f = (double)N / len;

  for (int i = 0; i < len; i++) {
    double s = i * f, e = (i + 1) * f;
    int c = (int)s < N ? (int)s : N - 1;
    cell[i] = c;
    w0[i] = (float)((e < c + 1 || c == N - 1 ? e : c + 1) - s);
    w1[i] = (float)(e > c + 1 && c < N - 1 ? e - (c + 1) : 0);
  }
}

typedef float thumb_v4f __attribute__((vector_size(16)));
typedef int32_t thumb_v4i __attribute__((vector_size(16)));

/* Lane k: sample o of row p[k], as a float. */
static inline thumb_v4f lanes(const uint8_t *const p[4], size_t o)
{
  thumb_v4i v = { p[0][o], p[1][o], p[2][o], p[3][o] };

  return __builtin_convertvector(v, thumb_v4f);
}

/* The cell sums of four rows p[0..3] of w pixels (lane k: row k) into
 * line[0..N]: pixel x adds its luma times ax[x] to cell cx[x] and times
 * bx[x] to cell cx[x] + 1.  cx[] never decreases, so the two cells a
 * pixel feeds are summed in registers (a: cell c, b: cell c + 1) and
 * stored when the pixels move on; a cell past c + 1 has had nothing
 * added yet.  Each lane makes the same float operations in the same
 * order as a loop over one row adding into line[] directly; four rows
 * share the loop's branches (a cell spans two or three pixels, so a
 * row alone would mispredict about once per cell). */
static void lines4(const uint8_t *const p[4], int w, int ch, const int *cx,
                   const float *ax, const float *bx, thumb_v4f line[N + 1])
{
  thumb_v4f a = { 0, 0, 0, 0 }, b = a, zero = a;
  int c = cx[0];

  for (int i = 0; i <= N; i++)
    line[i] = zero;
  for (int x = 0; x < w; x++) {
    size_t o = (size_t)x * (size_t)ch;
    thumb_v4f v = ch == 1 ? lanes(p, o)
                          : (float)W_R * lanes(p, o) +
                                (float)W_G * lanes(p, o + 1) +
                                (float)W_B * lanes(p, o + 2);
    if (cx[x] != c) {
      line[c] = a;
      line[c + 1] = b;
      a = cx[x] == c + 1 ? b : zero;
      b = zero;
      c = cx[x];
    }
    a += ax[x] * v;
    b += bx[x] * v;
  }
  line[c] = a;
  line[c + 1] = b;
}

/* Cell sums of a region at least N pixels each way and at most
 * THUMB_FAST_MAX: the weights are computed once per axis, and rows go
 * four at a time (the last group repeats its last row in the lanes left
 * over, which are not used). */
static void cells_fast(const struct image *im, int x0, int y0, int x1,
                       int y1, double acc[N][N])
{
  int cx[THUMB_FAST_MAX], cy[THUMB_FAST_MAX];
  float ax[THUMB_FAST_MAX], bx[THUMB_FAST_MAX];
  float ay[THUMB_FAST_MAX], by[THUMB_FAST_MAX];
  int w = x1 - x0, ch = im->channels;

  axis_weights(w, cx, ax, bx);
  axis_weights(y1 - y0, cy, ay, by);
  for (int y = y0; y < y1; y += 4) {
    const uint8_t *p[4];
    thumb_v4f line[N + 1];
    int rows = y1 - y < 4 ? y1 - y : 4;
    for (int k = 0; k < 4; k++)
      p[k] = im->px + ((size_t)(k < rows ? y + k : y + rows - 1) *
                           (size_t)im->w + (size_t)x0) * (size_t)ch;
    lines4(p, w, ch, cx, ax, bx, line);
    /* rows in order, as one row at a time would add them */
    for (int k = 0; k < rows; k++) {
      int r = cy[y + k - y0];
      float wa = ay[y + k - y0], wb = by[y + k - y0];
      for (int c = 0; c < N; c++)
        acc[r][c] += wa * line[c][k];
      if (wb > 0)
        for (int c = 0; c < N; c++)
          acc[r + 1][c] += wb * line[c][k];
    }
  }
}

/* The same for any region (one smaller than N: a pixel covers several
 * cells). */
static void cells_any(const struct image *im, int x0, int y0, int x1,
                      int y1, double acc[N][N])
{
  double line[N];
  double fx = (double)N / (x1 - x0), fy = (double)N / (y1 - y0);

  for (int y = y0; y < y1; y++) {
    const uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x0) *
                                    (size_t)im->channels;
    memset(line, 0, sizeof(line));
    for (int x = 0; x < x1 - x0; x++, p += im->channels)
      spread(line, x * fx, (x + 1) * fx, luma_at(p, im->channels));
    for (int r = (int)floor((y - y0) * fy);
         r < N && r < (int)ceil((y + 1 - y0) * fy); r++) {
      double lo = (y - y0) * fy, hi = (y + 1 - y0) * fy;
      double w = (hi < r + 1 ? hi : r + 1) - (lo > r ? lo : r);
      for (int c = 0; w > 0 && c < N; c++)
        acc[r][c] += w * line[c];
    }
  }
}

int imgverify_thumb(const struct image *im, int x0, int y0, int x1, int y1,
                    uint8_t out[IMGVERIFY_BYTES])
{
  double acc[N][N];
  double vmin = 1e9, vmax = -1e9;

  memset(out, 0, IMGVERIFY_BYTES);
  if (!im || !im->px || im->w < 1 || im->h < 1 ||
      (im->channels != 1 && im->channels != 3) || x0 < 0 || y0 < 0 ||
      x1 > im->w || y1 > im->h || x1 <= x0 || y1 <= y0)
    return -EINVAL;
  memset(acc, 0, sizeof(acc));
  if (x1 - x0 >= N && y1 - y0 >= N && x1 - x0 <= THUMB_FAST_MAX &&
      y1 - y0 <= THUMB_FAST_MAX)
    cells_fast(im, x0, y0, x1, y1, acc);
  else
    cells_any(im, x0, y0, x1, y1, acc);
  /* Each source pixel gave each cell its overlap in cell units (fx fy
   * at most), so a cell's weights sum to 1: acc holds means.  The range
   * is then stretched to 0..255, so
   * that the detail of a dark or hazy picture survives the rounding to
   * bytes (the score is blind to a gain and an offset); a picture whose
   * cells span less than FLAT_RANGE levels is stored flat, all zeros. */
  for (int r = 0; r < N; r++)
    for (int c = 0; c < N; c++) {
      vmin = acc[r][c] < vmin ? acc[r][c] : vmin;
      vmax = acc[r][c] > vmax ? acc[r][c] : vmax;
    }
  if (vmax - vmin < FLAT_RANGE)
    return 0;
  for (int r = 0; r < N; r++)
    for (int c = 0; c < N; c++)
      out[r * N + c] =
          (uint8_t)((acc[r][c] - vmin) * 255 / (vmax - vmin) + 0.5);
  return 0;
}

/* ---- planes ---- */

typedef float plane[N][N];

/* Separable 1-4-6-4-1 smoothing, edges clamped. */
static void smooth(const plane in, plane out)
{
  static const float k[5] = { 1 / 16.f, 4 / 16.f, 6 / 16.f, 4 / 16.f,
                              1 / 16.f };
  plane t;

  for (int y = 0; y < N; y++)
    for (int x = 0; x < N; x++) {
      float s = 0;
      for (int i = -2; i <= 2; i++) {
        int xx = x + i < 0 ? 0 : x + i >= N ? N - 1 : x + i;
        s += k[i + 2] * in[y][xx];
      }
      t[y][x] = s;
    }
  for (int y = 0; y < N; y++)
    for (int x = 0; x < N; x++) {
      float s = 0;
      for (int i = -2; i <= 2; i++) {
        int yy = y + i < 0 ? 0 : y + i >= N ? N - 1 : y + i;
        s += k[i + 2] * t[yy][x];
      }
      out[y][x] = s;
    }
}

/* Each pixel minus the mean of its 5x5 neighbourhood (clipped at the
 * edges): the layout cancels, the detail stays. */
static void detail(const plane in, plane out)
{
  for (int y = 0; y < N; y++)
    for (int x = 0; x < N; x++) {
      float s = 0;
      int cnt = 0;
      for (int j = y - 2; j <= y + 2; j++)
        for (int i = x - 2; i <= x + 2; i++)
          if (j >= 0 && j < N && i >= 0 && i < N) {
            s += in[j][i];
            cnt++;
          }
      out[y][x] = in[y][x] - s / (float)cnt;
    }
}

static void load(const uint8_t *b, plane out)
{
  for (int y = 0; y < N; y++)
    for (int x = 0; x < N; x++)
      out[y][x] = b[y * N + x];
}

/* Normalised correlation of two planes over the pixels m or more from
 * the edge; *ea, *eb the energies (sum of squares about the mean) per
 * pixel. */
static double ncc_plain(const plane a, const plane b, int m, double *ea,
                        double *eb)
{
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  double n = (double)(N - 2 * m) * (N - 2 * m);

  for (int y = m; y < N - m; y++)
    for (int x = m; x < N - m; x++) {
      sa += a[y][x];
      sb += b[y][x];
      saa += (double)a[y][x] * a[y][x];
      sbb += (double)b[y][x] * b[y][x];
      sab += (double)a[y][x] * b[y][x];
    }
  saa -= sa * sa / n;
  sbb -= sb * sb / n;
  sab -= sa * sb / n;
  if (ea)
    *ea = saa / n;
  if (eb)
    *eb = sbb / n;
  return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
}

/* ---- alignment ---- */

/* The bilinear cell of (x, y) in an n x n plane (row stride N): the
 * offset of its top-left sample and the fractions within it; false
 * outside [0, n-1]. */
static bool cell(int n, double x, double y, int *off, double *fx,
                 double *fy)
{
  int ix, iy;

  if (!(x >= 0 && y >= 0 && x <= n - 1 && y <= n - 1))
    return false;
  ix = (int)x;
  iy = (int)y;
  if (ix > n - 2)
    ix = n - 2;
  if (iy > n - 2)
    iy = n - 2;
  *fx = x - ix;
  *fy = y - iy;
  *off = iy * N + ix;
  return true;
}

/* Bilinear sample of an n x n plane (row stride N) at (x, y) in pixel
 * units; false outside [0, n-1]. */
static bool sample(const float *p, int n, double x, double y, double *v)
{
  int off;
  double fx, fy;

  if (!cell(n, x, y, &off, &fx, &fy))
    return false;
  p += off;
  *v = (1 - fy) * ((1 - fx) * p[0] + fx * p[1]) +
       fy * ((1 - fx) * p[N] + fx * p[N + 1]);
  return true;
}

/* b and its two gradients, interleaved per pixel (b, gx, gy, 0), so that
 * a bilinear sample of all three is four 16-byte loads. */
typedef float v4f __attribute__((vector_size(16)));
/* Four doubles: GCC's generic vectors, lowered to what the target has
 * (two SSE2 registers, one AVX register); every lane is the scalar
 * IEEE operation, so each clone gives the same bits. */
typedef double v4d __attribute__((vector_size(32)));
typedef long long v4l __attribute__((vector_size(32)));
typedef int v4i __attribute__((vector_size(16)));

/* The warp: a's centred pixel (x, y) -> b's centred
 * ((1+p0) x + p1 y + p4, p2 x + (1+p3) y + p5); p6, p7 gain - 1 and
 * offset of a's intensities in the residual. */
#define NP 8

static void warp(const double *p, double x, double y, double *u, double *v)
{
  *u = (1 + p[0]) * x + p[1] * y + p[4];
  *v = p[2] * x + (1 + p[3]) * y + p[5];
}

/* Solves the NP x NP system m x = r (partial pivoting; r becomes x);
 * false when singular.  Each row is two vectors: eliminating a row
 * updates all NP entries, where scalar code starts at the pivot's
 * column; the entries left of it are never read again (the pivot search
 * and the elimination read columns right of the pivot, the back
 * substitution entries right of the diagonal), and every entry that is
 * read gets the same operations in the same order. */
__attribute__((target_clones("avx2", "default")))
static bool solve(double m[NP][NP], double *r)
{
  v4d row[NP][2];

  memcpy(row, m, sizeof(row));
  for (int c = 0; c < NP; c++) {
    int piv = c;
    for (int i = c + 1; i < NP; i++)
      if (fabs(row[i][c / 4][c % 4]) > fabs(row[piv][c / 4][c % 4]))
        piv = i;
    if (fabs(row[piv][c / 4][c % 4]) < 1e-12)
      return false;
    if (piv != c) {
      double t = r[c];
      v4d t0 = row[c][0], t1 = row[c][1];
      r[c] = r[piv];
      r[piv] = t;
      row[c][0] = row[piv][0];
      row[c][1] = row[piv][1];
      row[piv][0] = t0;
      row[piv][1] = t1;
    }
    for (int i = c + 1; i < NP; i++) {
      double f = row[i][c / 4][c % 4] / row[c][c / 4][c % 4];
      row[i][0] -= f * row[c][0];
      row[i][1] -= f * row[c][1];
      r[i] -= f * r[c];
    }
  }
  for (int c = NP - 1; c >= 0; c--) {
    for (int j = c + 1; j < NP; j++)
      r[c] -= row[c][j / 4][j % 4] * r[j];
    r[c] /= row[c][c / 4][c % 4];
  }
  return true;
}

/* cell() of the four points (u, v) of row pixels x0 .. x0+3 at once,
 * lane by lane (the same arithmetic): *in false for a lane outside
 * [0, n-1] or at xend and beyond (its cell is then 0).  Pointers, not
 * vector values, cross the call: no vector ABI between clones. */
static inline void cells4(const v4d *u, const v4d *v, int n, int x0,
                          int xend, v4l *in, v4i *off, v4d *fx, v4d *fy)
{
  v4i ix, iy;

  *in = (*u >= 0) & (*v >= 0) & (*u <= n - 1) & (*v <= n - 1) &
        ((v4l){ x0, x0 + 1, x0 + 2, x0 + 3 } < xend);
  ix = __builtin_convertvector((v4d)((v4l)*u & *in), v4i);
  iy = __builtin_convertvector((v4d)((v4l)*v & *in), v4i);
  ix -= (ix > n - 2) & (ix - (n - 2));
  iy -= (iy > n - 2) & (iy - (n - 2));
  *fx = *u - __builtin_convertvector(ix, v4d);
  *fy = *v - __builtin_convertvector(iy, v4d);
  *off = iy * N + ix;
}

/* One level of the alignment: n x n planes a (reference) and bq (b and
 * its gradients, above; both stride N).  Gauss-Newton on
 * r(x) = b(W(x)) - (1 + p6) a(x) - p7, at most iters steps.
 *
 * The normal equations are accumulated in vector registers: row k of the
 * upper triangle of J'J takes j[k] times the vector of j, lane by lane,
 * pixel after pixel, so every entry is the same sum of the same products
 * in the same order as entry-by-entry scalar code (and the three samples
 * share their bilinear weights).  The result is bit for bit that of the
 * scalar form (tests/unit/imgverify_ref.c); only the time changes (the
 * entry loop was two thirds of a failing pair's cost).  No FMA: the AVX2
 * clone would round a fused multiply-add differently. */
__attribute__((target_clones("avx2", "default")))
static void align_level(const float *a, const v4f *bq, int n, int iters,
                        double *p)
{
  double c = (n - 1) / 2.0;
  int mg = MARGIN * n / N;

  for (int it = 0; it < iters; it++) {
    double h[NP][NP], g[NP], step = 0;
    v4d hlo[4], hhi[NP], glo = { 0 }, ghi = { 0 };
    int cnt = 0;
    memset(hlo, 0, sizeof(hlo));
    memset(hhi, 0, sizeof(hhi));
    for (int y = mg; y < n - mg; y++)
      for (int x0 = mg; x0 < n - mg; x0 += 4) {
        /* Four pixels' warp and bilinear cells at once (cell(), lane by
         * lane), then each pixel's samples and terms in order. */
        double yc = y - c;
        v4d xc = (v4d){ x0, x0 + 1, x0 + 2, x0 + 3 } - c, fx, fy;
        v4d u = (1 + p[0]) * xc + p[1] * yc + p[4] + c;
        v4d v = p[2] * xc + (1 + p[3]) * yc + p[5] + c;
        v4i off;
        v4l in;
        cells4(&u, &v, n, x0, n - mg, &in, &off, &fx, &fy);
        for (int l = 0; l < 4; l++) {
          double av = a[y * N + x0 + l], r;
          v4d s, jl, jh;
          if (!in[l])
            continue;
          s = (1 - fy[l]) * (1 - fx[l]) *
                  __builtin_convertvector(bq[off[l]], v4d) +
              (1 - fy[l]) * fx[l] *
                  __builtin_convertvector(bq[off[l] + 1], v4d) +
              fy[l] * (1 - fx[l]) *
                  __builtin_convertvector(bq[off[l] + N], v4d) +
              fy[l] * fx[l] *
                  __builtin_convertvector(bq[off[l] + N + 1], v4d);
          r = s[0] - (1 + p[6]) * av - p[7];
          /* j = (bx xc, bx yc, by xc, by yc | bx, by, -av, -1) */
          jl = (v4d){ s[1], s[1], s[2], s[2] } *
               (v4d){ xc[l], yc, xc[l], yc };
          jh = (v4d){ s[1], s[2], -av, -1 };
          glo -= jl * r;
          ghi -= jh * r;
          for (int k = 0; k < 4; k++) {
            hlo[k] += jl[k] * jl;
            hhi[k] += jl[k] * jh;
            hhi[4 + k] += jh[k] * jh;
          }
          cnt++;
        }
      }
    if (cnt < MIN_OVERLAP * (n - 2 * mg) * (n - 2 * mg))
      return;
    for (int k = 0; k < NP; k++) {
      g[k] = k < 4 ? glo[k] : ghi[k - 4];
      for (int l = k; l < NP; l++)
        h[k][l] = l < 4 ? hlo[k][l] : hhi[k][l - 4];
    }
    for (int k = 0; k < NP; k++) {
      for (int l = 0; l < k; l++)
        h[k][l] = h[l][k];
      h[k][k] *= 1.01;           /* a little damping */
      h[k][k] += 1e-6;
    }
    if (!solve(h, g))
      return;
    for (int k = 0; k < NP; k++) {
      p[k] += g[k];
      step += fabs(g[k]) * (k < 6 ? 1 : 0);
    }
    /* Beyond a few degrees and a 25 % scale it is another picture. */
    for (int k = 0; k < 4; k++)
      if (fabs(p[k]) > 0.25)
        return;
    if (step < 1e-3)
      return;
  }
}

/* Central-difference gradients of an n x n plane b (stride N), with b,
 * into q (stride N). */
static void gradients(const float *b, int n, v4f *q)
{
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++) {
      int xl = x > 0 ? x - 1 : x, xr = x < n - 1 ? x + 1 : x;
      int yu = y > 0 ? y - 1 : y, yd = y < n - 1 ? y + 1 : y;
      q[y * N + x] = (v4f){
        b[y * N + x],
        (b[y * N + xr] - b[y * N + xl]) / (float)(xr - xl),
        (b[yd * N + x] - b[yu * N + x]) / (float)(yd - yu), 0 };
    }
}

/* 2x2 block means of the top-left n x n of in into the top-left
 * n/2 x n/2 of out (both stride N). */
static void halve(const float *in, int n, float *out)
{
  for (int y = 0; y < n / 2; y++)
    for (int x = 0; x < n / 2; x++)
      out[y * N + x] = (in[2 * y * N + 2 * x] + in[2 * y * N + 2 * x + 1] +
                        in[(2 * y + 1) * N + 2 * x] +
                        in[(2 * y + 1) * N + 2 * x + 1]) / 4;
}

/* The two levels of the alignment of a's smoothed plane to b's: 2x2
 * means down to 16 x 16, and b with its gradients at each; built once
 * per pair and shared by every start.  The full level (0) is only
 * refined, for the few pairs whose coarse alignment is good enough, so
 * its planes are filled then (pyr_full()). */
struct pyr {
  plane a[LEVELS];
  v4f bq[LEVELS][N * N];
  int nl;
};

static void pyr_build(const plane sa, const plane sb, struct pyr *py)
{
  plane b[LEVELS];
  int n;

  py->nl = 1;
  memcpy(py->a[0], sa, sizeof(plane));
  memcpy(b[0], sb, sizeof(plane));
  for (n = N; py->nl < LEVELS && n / 2 >= 12; py->nl++, n /= 2) {
    halve(&py->a[py->nl - 1][0][0], n, &py->a[py->nl][0][0]);
    halve(&b[py->nl - 1][0][0], n, &b[py->nl][0][0]);
  }
  for (int l = py->nl > 1 ? 1 : 0; l < py->nl; l++)
    gradients(&b[l][0][0], N >> l, py->bq[l]);
}

/* The full level's b and gradients, from b's smoothed plane sb. */
static void pyr_full(const plane sb, struct pyr *py)
{
  if (py->nl > 1)
    gradients(&sb[0][0], N, py->bq[0]);
}

/* Gauss-Newton on the levels hi down to lo of the pyramid, from p (in
 * the coordinates of level hi); p ends in those of level lo. */
static void align_levels(const struct pyr *py, int hi, int lo, double *p)
{
  for (int l = hi; l >= lo; l--) {
    align_level(&py->a[l][0][0], py->bq[l], N >> l,
                l == py->nl - 1 ? 12 : 6, p);
    if (l > lo) {   /* centred coordinates double at the next level */
      p[4] *= 2;
      p[5] *= 2;
    }
  }
}

/* Correlation of a's detail with b's detail under the warp, over the
 * pixels of a's centre (MARGIN) it keeps inside b; -1 below
 * MIN_OVERLAP. */
__attribute__((target_clones("avx2", "default")))
static double ncc_warped(const plane da, const plane db, const double *p)
{
  double c = (N - 1) / 2.0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  const float *d = &db[0][0];
  int n = 0;

  /* Four pixels' warps, cells and sample() values at once (the same
   * arithmetic, lane by lane), then the sums pixel after pixel in the
   * scalar order. */
  for (int y = MARGIN; y < N - MARGIN; y++)
    for (int x0 = MARGIN; x0 < N - MARGIN; x0 += 4) {
      double yc = y - c;
      v4d xc = (v4d){ x0, x0 + 1, x0 + 2, x0 + 3 } - c, fx, fy, bv;
      v4d u = (1 + p[0]) * xc + p[1] * yc + p[4] + c;
      v4d v = p[2] * xc + (1 + p[3]) * yc + p[5] + c;
      v4d p00, p01, p10, p11;
      v4i o;
      v4l in;
      cells4(&u, &v, N, x0, N - MARGIN, &in, &o, &fx, &fy);
      p00 = (v4d){ d[o[0]], d[o[1]], d[o[2]], d[o[3]] };
      p01 = (v4d){ d[o[0] + 1], d[o[1] + 1], d[o[2] + 1], d[o[3] + 1] };
      p10 = (v4d){ d[o[0] + N], d[o[1] + N], d[o[2] + N], d[o[3] + N] };
      p11 = (v4d){ d[o[0] + N + 1], d[o[1] + N + 1], d[o[2] + N + 1],
                   d[o[3] + N + 1] };
      bv = (1 - fy) * ((1 - fx) * p00 + fx * p01) +
           fy * ((1 - fx) * p10 + fx * p11);
      for (int l = 0; l < 4; l++) {
        double av = da[y][x0 + l];
        if (!in[l])
          continue;
        sa += av;
        sb += bv[l];
        saa += av * av;
        sbb += bv[l] * bv[l];
        sab += av * bv[l];
        n++;
      }
    }
  if (n < MIN_OVERLAP * (N - 2 * MARGIN) * (N - 2 * MARGIN))
    return -1;
  saa -= sa * sa / n;
  sbb -= sb * sb / n;
  sab -= sa * sb / n;
  return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : -1;
}

/* ---- the score ---- */

/* The mirror image of a plane (left-right): the 5x5 mean and the
 * smoothing are symmetric, so the detail and smoothed planes of a
 * mirrored thumbnail are these planes mirrored. */
static void flip(const plane in, plane out)
{
  for (int y = 0; y < N; y++)
    for (int x = 0; x < N; x++)
      out[y][x] = in[y][N - 1 - x];
}

/* The worst quadrant of the centre under the warp (NULL: the identity,
 * where every sample() lands on a pixel of b with weight 1 and is that
 * pixel exactly, so it is read directly): a's and b's detail,
 * each scaled to unit energy over the pixels the warp keeps, and per
 * quadrant their squared difference over their energy (plus half the
 * mean quadrant energy, so that a quadrant with little detail on both
 * sides, a blank canvas, does not count).  0 for identical detail, about
 * 1 where one side has detail the other lacks or the two disagree. */
static double quad_worst(const plane da, const plane db, const double *p)
{
  enum { Q = (N - 2 * MARGIN) / 2 };
  double c = (N - 1) / 2.0, saa = 0, sbb = 0, ga, gb, tot = 0, worst = 0;
  double r[2][2] = { { 0 } }, e[2][2] = { { 0 } };
  float bw[N][N];
  bool in[N][N];

  for (int y = MARGIN; y < N - MARGIN; y++)
    for (int x = MARGIN; x < N - MARGIN; x++) {
      double u, v, b = db[y][x];
      in[y][x] = true;
      if (p) {
        warp(p, x - c, y - c, &u, &v);
        in[y][x] = sample(&db[0][0], N, u + c, v + c, &b);
      }
      bw[y][x] = (float)b;
      if (in[y][x]) {
        saa += (double)da[y][x] * da[y][x];
        sbb += b * b;
      }
    }
  if (!(saa > 0 && sbb > 0))
    return 1;
  ga = 1 / sqrt(saa);
  gb = 1 / sqrt(sbb);
  for (int y = MARGIN; y < N - MARGIN; y++)
    for (int x = MARGIN; x < N - MARGIN; x++) {
      int qy = (y - MARGIN) / Q, qx = (x - MARGIN) / Q;
      double a = da[y][x] * ga, b = bw[y][x] * gb;
      if (!in[y][x])
        continue;
      r[qy][qx] += (a - b) * (a - b);
      e[qy][qx] += a * a + b * b;
      tot += a * a + b * b;
    }
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      double v = r[i][j] / (e[i][j] + tot / 8);
      worst = v > worst ? v : worst;
    }
  return worst;
}

/* A candidate alignment (NULL: the identity) scoring corr: it counts
 * only if no quadrant disagrees; the better of it and best. */
static double consider(const plane da, const plane db, const double *p,
                       double corr, double best)
{
  if (corr <= best || quad_worst(da, db, p) > IMGVERIFY_QUAD_MAX)
    return best;
  return corr;
}

void imgverify_prepare(const uint8_t t[IMGVERIFY_BYTES],
                       struct imgverify_prep *out)
{
  plane raw;

  load(t, raw);
  detail(raw, out->detail);
  smooth(raw, out->smooth);
  ncc_plain(out->detail, out->detail, MARGIN, &out->energy, NULL);
}

double imgverify_score_prep(const struct imgverify_prep *a,
                            const struct imgverify_prep *b, double enough)
{
  plane dbm, sbm;
  const float (*db)[N], (*sb)[N];
  struct pyr py;
  double best = -1, p[3][NP], c[3];
  bool mir;

  if (a->energy < FLAT_ENERGY || b->energy < FLAT_ENERGY)
    return 1;   /* no detail to compare: the features decide alone */
  /* Only what each step needs, in order: most pairs of a large group of
   * copies end at the first comparison. */
  best = consider(a->detail, b->detail, NULL,
                  ncc_plain(a->detail, b->detail, MARGIN, NULL, NULL), best);
  if (best >= enough)
    return best;
  flip(b->detail, dbm);
  best = consider(a->detail, dbm, NULL,
                  ncc_plain(a->detail, dbm, MARGIN, NULL, NULL), best);
  if (best >= EARLY_ACCEPT || best >= enough)
    return best;
  flip(b->smooth, sbm);
  /* The mirror whose coarse picture fits better is aligned. */
  mir = ncc_plain(a->smooth, sbm, 0, NULL, NULL) >
        ncc_plain(a->smooth, b->smooth, 0, NULL, NULL);
  db = mir ? dbm : b->detail;
  sb = mir ? sbm : b->smooth;
  pyr_build(a->smooth, sb, &py);
  /* From the identity, and from b a central crop of a or a of b: a
   * start near the answer converges where the identity may not.  Each
   * start is aligned on the coarse level; only the best of them, by the
   * detail correlation there, is refined on the full one (the fine level
   * is two thirds of an alignment's cost). */
  for (int k = 0; k < 3; k++) {
    static const double start[3] = { 0, 1 / 0.9 - 1, 0.9 - 1 };
    memset(p[k], 0, sizeof(p[k]));
    p[k][0] = p[k][3] = start[k];
    align_levels(&py, py.nl - 1, py.nl > 1 ? 1 : 0, p[k]);
    if (py.nl > 1) {
      p[k][4] *= 2;
      p[k][5] *= 2;
    }
    c[k] = ncc_warped(a->detail, db, p[k]);
  }
  {
    int k = c[1] > c[0] ? 1 : 0;
    k = c[2] > c[k] ? 2 : k;
    if (c[k] < COARSE_MIN)
      return best;
    if (py.nl > 1) {
      pyr_full(sb, &py);
      align_levels(&py, 0, 0, p[k]);
    }
    best = consider(a->detail, db, p[k], ncc_warped(a->detail, db, p[k]),
                    best);
  }
  return best;
}

double imgverify_score(const uint8_t a[IMGVERIFY_BYTES],
                       const uint8_t b[IMGVERIFY_BYTES], double enough)
{
  struct imgverify_prep pa, pb;

  imgverify_prepare(a, &pa);
  imgverify_prepare(b, &pb);
  return imgverify_score_prep(&pa, &pb, enough);
}
