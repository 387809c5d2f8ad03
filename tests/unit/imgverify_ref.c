/* imgverify_ref.c - the reference pair check, for the tests that compare
 * decisions (tests/unit/test_imgverify.c, tests/quality): the score of
 * core/compute/imgverify.c as it was before its alignment was vectorised
 * (plain scalar loops: bilinear sampling of three separate planes, the
 * normal equations accumulated entry by entry), kept unchanged as the
 * measure the fast path is compared with.  Not built into the library.
 * Same constants and steps as imgverify.h describes; the thumbnail
 * itself (imgverify_thumb()) is not duplicated.
 */
#include "imgverify_ref.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define N IMGVERIFY_SIDE
#define LEVELS 3                   /* pyramid levels at most */
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
/* Below this detail energy (per pixel, in stretched levels squared) a
 * thumbnail counts as flat. */
#define FLAT_ENERGY 0.25

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

/* sample() of b and its two gradient planes at one point: the weights
 * are computed once (the alignment's inner loop). */
static bool sample3(const float *b, const float *gx, const float *gy,
                    int n, double x, double y, double v[3])
{
  int off;
  double fx, fy, w00, w01, w10, w11;
  const float *pl[3] = { b, gx, gy };

  if (!cell(n, x, y, &off, &fx, &fy))
    return false;
  w00 = (1 - fy) * (1 - fx);
  w01 = (1 - fy) * fx;
  w10 = fy * (1 - fx);
  w11 = fy * fx;
  for (int k = 0; k < 3; k++) {
    const float *p = pl[k] + off;
    v[k] = w00 * p[0] + w01 * p[1] + w10 * p[N] + w11 * p[N + 1];
  }
  return true;
}

/* The warp: a's centred pixel (x, y) -> b's centred
 * ((1+p0) x + p1 y + p4, p2 x + (1+p3) y + p5); p6, p7 gain - 1 and
 * offset of a's intensities in the residual. */
#define NP 8

static void warp(const double *p, double x, double y, double *u, double *v)
{
  *u = (1 + p[0]) * x + p[1] * y + p[4];
  *v = p[2] * x + (1 + p[3]) * y + p[5];
}

/* Solves the n x n system m x = r in place (partial pivoting); false when
 * singular. */
static bool solve(double m[NP][NP], double *r, int n)
{
  for (int c = 0; c < n; c++) {
    int piv = c;
    for (int i = c + 1; i < n; i++)
      if (fabs(m[i][c]) > fabs(m[piv][c]))
        piv = i;
    if (fabs(m[piv][c]) < 1e-12)
      return false;
    if (piv != c) {
      double t = r[c];
      r[c] = r[piv];
      r[piv] = t;
      for (int j = 0; j < n; j++) {
        t = m[c][j];
        m[c][j] = m[piv][j];
        m[piv][j] = t;
      }
    }
    for (int i = c + 1; i < n; i++) {
      double f = m[i][c] / m[c][c];
      for (int j = c; j < n; j++)
        m[i][j] -= f * m[c][j];
      r[i] -= f * r[c];
    }
  }
  for (int c = n - 1; c >= 0; c--) {
    for (int j = c + 1; j < n; j++)
      r[c] -= m[c][j] * r[j];
    r[c] /= m[c][c];
  }
  return true;
}

/* One level of the alignment: n x n planes a (reference), b and b's
 * gradients gx, gy (all stride N).  Gauss-Newton on
 * r(x) = b(W(x)) - (1 + p6) a(x) - p7, at most iters steps. */
static void align_level(const float *a, const float *b, const float *gx,
                        const float *gy, int n, int iters, double *p)
{
  double c = (n - 1) / 2.0;
  int mg = MARGIN * n / N;

  for (int it = 0; it < iters; it++) {
    double h[NP][NP], g[NP], step = 0;
    int cnt = 0;
    memset(h, 0, sizeof(h));
    memset(g, 0, sizeof(g));
    for (int y = mg; y < n - mg; y++)
      for (int x = mg; x < n - mg; x++) {
        double xc = x - c, yc = y - c, u, v, s[3], bv, bx, by, j[NP], r;
        double av = a[y * N + x];
        warp(p, xc, yc, &u, &v);
        if (!sample3(b, gx, gy, n, u + c, v + c, s))
          continue;
        bv = s[0];
        bx = s[1];
        by = s[2];
        r = bv - (1 + p[6]) * av - p[7];
        j[0] = bx * xc;
        j[1] = bx * yc;
        j[2] = by * xc;
        j[3] = by * yc;
        j[4] = bx;
        j[5] = by;
        j[6] = -av;
        j[7] = -1;
        for (int k = 0; k < NP; k++) {
          g[k] -= j[k] * r;
          for (int l = k; l < NP; l++)
            h[k][l] += j[k] * j[l];
        }
        cnt++;
      }
    if (cnt < MIN_OVERLAP * (n - 2 * mg) * (n - 2 * mg))
      return;
    for (int k = 0; k < NP; k++) {
      for (int l = 0; l < k; l++)
        h[k][l] = h[l][k];
      h[k][k] *= 1.01;           /* a little damping */
      h[k][k] += 1e-6;
    }
    if (!solve(h, g, NP))
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

/* Central-difference gradients of an n x n plane (stride N). */
static void gradients(const float *b, int n, float *gx, float *gy)
{
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++) {
      int xl = x > 0 ? x - 1 : x, xr = x < n - 1 ? x + 1 : x;
      int yu = y > 0 ? y - 1 : y, yd = y < n - 1 ? y + 1 : y;
      gx[y * N + x] = (b[y * N + xr] - b[y * N + xl]) / (float)(xr - xl);
      gy[y * N + x] = (b[yd * N + x] - b[yu * N + x]) / (float)(yd - yu);
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
 * means down to 16 x 16, and b's gradients at each; built once per pair
 * and shared by every start. */
struct pyr {
  plane a[LEVELS], b[LEVELS], gx[LEVELS], gy[LEVELS];
  int nl;
};

static void pyr_build(const plane sa, const plane sb, struct pyr *py)
{
  int n;

  py->nl = 1;
  memcpy(py->a[0], sa, sizeof(plane));
  memcpy(py->b[0], sb, sizeof(plane));
  for (n = N; py->nl < LEVELS && n / 2 >= 12; py->nl++, n /= 2) {
    halve(&py->a[py->nl - 1][0][0], n, &py->a[py->nl][0][0]);
    halve(&py->b[py->nl - 1][0][0], n, &py->b[py->nl][0][0]);
  }
  for (int l = 0; l < py->nl; l++)
    gradients(&py->b[l][0][0], N >> l, &py->gx[l][0][0], &py->gy[l][0][0]);
}

/* Gauss-Newton on the levels hi down to lo of the pyramid, from p (in
 * the coordinates of level hi); p ends in those of level lo. */
static void align_levels(const struct pyr *py, int hi, int lo, double *p)
{
  for (int l = hi; l >= lo; l--) {
    align_level(&py->a[l][0][0], &py->b[l][0][0], &py->gx[l][0][0],
                &py->gy[l][0][0], N >> l, l == py->nl - 1 ? 12 : 6, p);
    if (l > lo) {   /* centred coordinates double at the next level */
      p[4] *= 2;
      p[5] *= 2;
    }
  }
}

/* Correlation of a's detail with b's detail under the warp, over the
 * pixels of a's centre (MARGIN) it keeps inside b; -1 below
 * MIN_OVERLAP. */
static double ncc_warped(const plane da, const plane db, const double *p)
{
  double c = (N - 1) / 2.0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  int n = 0;

  for (int y = MARGIN; y < N - MARGIN; y++)
    for (int x = MARGIN; x < N - MARGIN; x++) {
      double u, v, bv, av = da[y][x];
      warp(p, x - c, y - c, &u, &v);
      if (!sample(&db[0][0], N, u + c, v + c, &bv))
        continue;
      sa += av;
      sb += bv;
      saa += av * av;
      sbb += bv * bv;
      sab += av * bv;
      n++;
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

/* The worst quadrant of the centre under the warp: a's and b's detail,
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
      double u, v, b = 0;
      warp(p, x - c, y - c, &u, &v);
      in[y][x] = sample(&db[0][0], N, u + c, v + c, &b);
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

/* A candidate alignment scoring corr: it counts only if no quadrant
 * disagrees; the better of it and best. */
static double consider(const plane da, const plane db, const double *p,
                       double corr, double best)
{
  if (corr <= best || quad_worst(da, db, p) > IMGVERIFY_QUAD_MAX)
    return best;
  return corr;
}

void imgverify_ref_prepare(const uint8_t t[IMGVERIFY_BYTES],
                       struct imgverify_prep *out)
{
  plane raw;

  load(t, raw);
  detail(raw, out->detail);
  smooth(raw, out->smooth);
  ncc_plain(out->detail, out->detail, MARGIN, &out->energy, NULL);
}

double imgverify_ref_score_prep(const struct imgverify_prep *a,
                            const struct imgverify_prep *b, double enough)
{
  static const double ident[NP] = { 0 };
  plane dbm, sbm;
  const float (*db)[N];
  struct pyr py;
  double best = -1, p[3][NP], c[3];
  bool mir;

  if (a->energy < FLAT_ENERGY || b->energy < FLAT_ENERGY)
    return 1;   /* no detail to compare: the features decide alone */
  /* Only what each step needs, in order: most pairs of a large group of
   * copies end at the first comparison. */
  best = consider(a->detail, b->detail, ident,
                  ncc_plain(a->detail, b->detail, MARGIN, NULL, NULL), best);
  if (best >= enough)
    return best;
  flip(b->detail, dbm);
  best = consider(a->detail, dbm, ident,
                  ncc_plain(a->detail, dbm, MARGIN, NULL, NULL), best);
  if (best >= EARLY_ACCEPT || best >= enough)
    return best;
  flip(b->smooth, sbm);
  /* The mirror whose coarse picture fits better is aligned. */
  mir = ncc_plain(a->smooth, sbm, 0, NULL, NULL) >
        ncc_plain(a->smooth, b->smooth, 0, NULL, NULL);
  db = mir ? dbm : b->detail;
  pyr_build(a->smooth, mir ? sbm : b->smooth, &py);
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
    if (py.nl > 1)
      align_levels(&py, 0, 0, p[k]);
    best = consider(a->detail, db, p[k], ncc_warped(a->detail, db, p[k]),
                    best);
  }
  return best;
}

double imgverify_ref_score(const uint8_t a[IMGVERIFY_BYTES],
                           const uint8_t b[IMGVERIFY_BYTES], double enough)
{
  struct imgverify_prep pa, pb;

  imgverify_ref_prepare(a, &pa);
  imgverify_ref_prepare(b, &pb);
  return imgverify_ref_score_prep(&pa, &pb, enough);
}
