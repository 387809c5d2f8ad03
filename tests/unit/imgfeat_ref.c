/* imgfeat_ref.c - the reference computation of the image features, for
 * tests/unit/test_imgfeat.c: imgfeat.c as it was before its per-window
 * kernels were vectorised (plain loops, atan2f and sqrtf per cell, the DCT
 * with a variable number of frequencies, a zeroed integral image), kept
 * unchanged as the measure the fast path is compared with.  Not built into
 * the library.
 *
 * Steps: area-average RGB to a 32x32 grid (no allocation: source rows are
 * summed into one 32-cell row and spread over the output rows they
 * overlap), convert the grid to Y/Cb/Cr, take a separable DCT-II of the
 * low frequencies only, and assemble the vector and the hash.  Knows
 * nothing about files, JPEG or the store.
 */
#include "imgfeat.h"
#include "imgfeat_ref.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define G 32          /* grid side */
#define NU 11         /* DCT frequencies kept per axis: 0..10 */
#define LUMA_MAX 10   /* luma terms: 1 <= u+v <= LUMA_MAX */
#define LUMA_LOW 6    /* terms above this at FEAT_W_LUMA_HI */
#define CHROMA_MAX 3  /* chroma terms: u+v <= CHROMA_MAX */
#define N_LUMA 65
#define N_CHROMA 20
#define N_HUE 12
#define N_SAT 3
#define N_GRAY 7
#define N_HIST (N_HUE * N_SAT + N_GRAY)

/* Block weights before the final normalisation: luma structure dominates;
 * the histogram only nudges (it ignores layout, so on its own it would
 * pair unrelated pictures of similar colours). */
#define FEAT_W_LUMA 1.0f
/* Luma terms of 7 <= u+v <= 10 at half weight: a rotation or crop moves
 * them most, yet without them different pictures with the same coarse
 * layout come too close (measured: tests/quality). */
#define FEAT_W_LUMA_HI 0.5f
#define FEAT_W_CHROMA 0.3f
#define FEAT_W_HIST 0.15f

/* Luma weights for the structure: halfway between BT.601 and Rec. 709,
 * because grey copies are made with either, and on saturated colours the
 * two give visibly different pictures. */
#define W_R 0.2558f
#define W_G 0.6511f
#define W_B 0.0931f

_Static_assert(N_LUMA + N_CHROMA + N_HIST == IMGFEAT_DIM, "layout");

/* A window of the image: columns [x0, x1), rows [y0, y1). */
struct box {
  int x0, y0, x1, y1;
};

/* Border removal: a line (row or column) belongs to a border when all but
 * TRIM_OUTLIERS of its pixels are within TRIM_TOL (per channel) of the
 * median colour of the outermost line of that side.  The four sides are
 * trimmed in turn, up to TRIM_PASSES rounds, each round starting from a
 * new outermost line: a padded copy of a photo whose own edge is a flat
 * sky or wall then loses its padding and that flat edge, as the original
 * loses the flat edge, so both describe the same window.  The tolerance
 * is tight for the same reason (a flat edge of the photo itself should
 * rarely count).  The few outliers allowed cover JPEG ringing and the
 * corners a small rotation brings in.  At most TRIM_MAX of the width or
 * height goes per side, so a uniform image keeps its centre. */
#define TRIM_TOL 8
#define TRIM_OUTLIERS 0.05
#define TRIM_MAX 0.35
#define TRIM_PASSES 4

/* The features describe the central FEAT_CENTRE of the content box (of
 * its width and of its height): the corners a small rotation brings in
 * and the edges a crop removes stay outside. */
#define FEAT_CENTRE 0.9

/* The sub-windows (imgfeat.h) leave out SUB_CROP of the content box's
 * width and height: the most a crop of up to 10 % removes. */
#define SUB_CROP 0.1

static float cos_tab[NU][G];
static float cos_tx[G][NU];     /* cos_tab transposed */
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tab_init(void)
{


  for (int u = 0; u < NU; u++)
    for (int x = 0; x < G; x++)
      cos_tx[x][u] = cos_tab[u][x] =
          (float)cos(M_PI * (2 * x + 1) * u / (2.0 * G));
}

/* Area average of the window b of the image into g (R, G, B means per
 * grid cell). */
static void grid_rgb(const struct image *im, const struct box *bx,
                     float g[3][G][G])
{
  float row[3][G];
  int bw = bx->x1 - bx->x0, bh = bx->y1 - bx->y0;
  double sx = (double)G / bw, sy = (double)G / bh;
  int ch = im->channels;

  memset(g, 0, sizeof(float) * 3 * G * G);
  for (int y = 0; y < bh; y++) {
    const uint8_t *p = im->px +
        ((size_t)(y + bx->y0) * (size_t)im->w + (size_t)bx->x0) * (size_t)ch;
    double y0 = y * sy, y1 = (y + 1) * sy;

    memset(row, 0, sizeof(row));
    /* Source pixel x covers grid columns [x*sx, (x+1)*sx). */
    for (int x = 0; x < bw; x++) {
      double x0 = x * sx, x1 = (x + 1) * sx;
      int c0 = (int)x0, c1 = (int)ceil(x1) - 1;
      float r = p[x * ch], gg = p[x * ch + (ch == 3)],
            b = p[x * ch + 2 * (ch == 3)];
      if (c1 >= G)
        c1 = G - 1;
      for (int c = c0; c <= c1; c++) {
        double lo = x0 > c ? x0 : c, hi = x1 < c + 1 ? x1 : c + 1;
        float wgt = (float)(hi - lo);
        row[0][c] += wgt * r;
        row[1][c] += wgt * gg;
        row[2][c] += wgt * b;
      }
    }
    {
      int r0 = (int)y0, r1 = (int)ceil(y1) - 1;
      if (r1 >= G)
        r1 = G - 1;
      for (int rr = r0; rr <= r1; rr++) {
        double lo = y0 > rr ? y0 : rr, hi = y1 < rr + 1 ? y1 : rr + 1;
        float wgt = (float)(hi - lo);
        for (int k = 0; k < 3; k++)
          for (int c = 0; c < G; c++)
            g[k][rr][c] += wgt * row[k][c];
      }
    }
  }
}

/* The integral image of a box of the picture: for 0 <= y <= h, 0 <= x <=
 * w (the box's size), v[(y * (w + 1) + x) * 3 + k] is the sum of
 * channel k over the box's rows < y and columns < x.  Built once per
 * image, it gives the area average of any window (of the content box) in
 * O(G^2), so the six windows cost little more than one. */
struct sat {
  int32_t *v;
  int x0, y0, w, h;     /* the box it covers */
};

/* Largest box (pixels) with an integral image: 12 MB at most, and sums
 * below 2^31 (int32 converts to double in one instruction).  The import's
 * reduced decodes are far smaller. */
#define SAT_MAX_PIXELS (1u << 20)

static int sat_build(const struct image *im, const struct box *b,
                     struct sat *s)
{
  int w = b->x1 - b->x0, h = b->y1 - b->y0, ch = im->channels;
  size_t row = (size_t)(w + 1) * 3;

  s->x0 = b->x0;
  s->y0 = b->y0;
  s->w = w;
  s->h = h;
  s->v = calloc(row * (size_t)(h + 1), sizeof(*s->v));
  if (!s->v)
    return -ENOMEM;
  for (int y = 0; y < h; y++) {
    const uint8_t *p = im->px +
        ((size_t)(y + b->y0) * (size_t)im->w + (size_t)b->x0) * (size_t)ch;
    int32_t acc[3] = { 0, 0, 0 };
    int32_t *up = s->v + (size_t)y * row, *out = up + row;
    for (int x = 0; x < w; x++) {
      acc[0] += p[x * ch];
      acc[1] += p[x * ch + (ch == 3)];
      acc[2] += p[x * ch + 2 * (ch == 3)];
      for (int k = 0; k < 3; k++)
        out[(size_t)(x + 1) * 3 + k] = up[(size_t)(x + 1) * 3 + k] + acc[k];
    }
  }
  return 0;
}

/* Where a coordinate t (in pixels of the box, 0..len) falls: the integral
 * value before it, *i (clamped so that i + 1 <= len), and the fraction. */
static void sat_pos(double t, int len, int *i, double *f)
{
  int k = (int)t;

  if (k >= len)
    k = len - 1;
  *i = k;
  *f = t - k;
}

/* grid_rgb() through the integral image: the same area averages.  The
 * integral at a fractional point is bilinear in the four integral values
 * around it, which is exact for an image constant over each pixel. */
static void grid_sat(const struct sat *s, const struct box *bx,
                     float g[3][G][G])
{
  double f[G + 1][G + 1][3], fx[G + 1], fy;
  int ix[G + 1], iy;
  double cw = (double)(bx->x1 - bx->x0) / G, chh = (double)(bx->y1 - bx->y0) / G;
  double inv_area = 1.0 / (cw * chh);
  size_t row = (size_t)(s->w + 1) * 3;

  for (int i = 0; i <= G; i++)
    sat_pos(bx->x0 - s->x0 + i * cw, s->w, &ix[i], &fx[i]);
  for (int j = 0; j <= G; j++) {
    sat_pos(bx->y0 - s->y0 + j * chh, s->h, &iy, &fy);
    const int32_t *r0 = s->v + (size_t)iy * row, *r1 = r0 + row;
    for (int i = 0; i <= G; i++) {
      const int32_t *a = r0 + ix[i] * 3, *c = r1 + ix[i] * 3;
      double gx = fx[i];
      for (int k = 0; k < 3; k++) {
        double top = a[k] + gx * (a[3 + k] - a[k]);
        double bot = c[k] + gx * (c[3 + k] - c[k]);
        f[j][i][k] = top + fy * (bot - top);
      }
    }
  }
  for (int j = 0; j < G; j++)
    for (int i = 0; i < G; i++)
      for (int k = 0; k < 3; k++)
        g[k][j][i] = (float)((f[j + 1][i + 1][k] - f[j][i + 1][k] -
                              f[j + 1][i][k] + f[j][i][k]) * inv_area);
}

/* Low-frequency DCT-II (unnormalised sums): out[v][u] for u, v < nu
 * (<= NU; only those are written), where u is the horizontal frequency.
 * The loops run over u innermost, which the compiler vectorises. */
static void dct_low(const float in[G][G], float out[NU][NU], int nu)
{
  float tmp[G][NU];

  for (int y = 0; y < G; y++) {
    float acc[NU] = { 0 };
    for (int x = 0; x < G; x++) {
      float p = in[y][x];
      for (int u = 0; u < nu; u++)
        acc[u] += p * cos_tx[x][u];
    }
    memcpy(tmp[y], acc, sizeof(acc));
  }
  for (int v = 0; v < nu; v++) {
    float acc[NU] = { 0 };
    for (int y = 0; y < G; y++) {
      float c = cos_tab[v][y];
      for (int u = 0; u < nu; u++)
        acc[u] += tmp[y][u] * c;
    }
    memcpy(out[v], acc, sizeof(acc));
  }
}

/* Scales v to unit norm; a vector of norm <= floor (nothing but rounding
 * noise, as the structure of a flat image) becomes all zero instead. */
static void normalize_above(float *v, int n, double floor)
{
  double ss = 0;

  for (int i = 0; i < n; i++)
    ss += (double)v[i] * v[i];
  if (ss <= floor * floor) {
    memset(v, 0, sizeof(float) * (size_t)n);
  } else {
    float k = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < n; i++)
      v[i] *= k;
  }
}

static void normalize(float *v, int n)
{
  normalize_above(v, n, 0);
}

/* Soft assignment of value t (in bin units) to a linear (clamped) or
 * circular set of n bins: bins *i0 and *i1 get weights *w0 and *w1. */
static inline void bins2(int n, float t, int circular, int *i0, int *i1,
                         float *w0, float *w1)
{
  int i = (int)floorf(t);
  float f = t - (float)i;

  if (circular) {
    while (i < 0)
      i += n;
    while (i >= n)
      i -= n;
    *i0 = i;
    *i1 = i + 1 == n ? 0 : i + 1;
  } else if (t <= 0 || t >= n - 1) {
    *i0 = *i1 = t <= 0 ? 0 : n - 1;
    f = 0;
  } else {
    *i0 = i;
    *i1 = i + 1;
  }
  *w0 = 1 - f;
  *w1 = f;
}

static float median(float *a, int n)
{
  /* n <= 64: insertion sort is enough. */
  for (int i = 1; i < n; i++) {
    float x = a[i];
    int j = i;
    for (; j > 0 && a[j - 1] > x; j--)
      a[j] = a[j - 1];
    a[j] = x;
  }
  return n % 2 ? a[n / 2] : 0.5f * (a[n / 2 - 1] + a[n / 2]);
}

static uint64_t hash_from(const float dy[NU][NU])
{
  float even[64], odd[64], te[64], to[64];
  int ne = 0, no = 0, bit = 0;
  float me, mo;
  uint64_t h = 0;

  /* Terms: u, v < 8 without DC, then (u=8, v=0): 64 in all. */
  for (int v = 0; v < 8; v++)
    for (int u = 0; u < 9; u++) {
      if ((u == 0 && v == 0) || (u == 8 && v != 0))
        continue;
      if (u % 2)
        odd[no++] = fabsf(dy[v][u]);
      else
        even[ne++] = dy[v][u];
    }
  memcpy(te, even, sizeof(float) * (size_t)ne);
  memcpy(to, odd, sizeof(float) * (size_t)no);
  me = median(te, ne);
  mo = median(to, no);
  ne = no = 0;
  for (int v = 0; v < 8; v++)
    for (int u = 0; u < 9; u++) {
      if ((u == 0 && v == 0) || (u == 8 && v != 0))
        continue;
      if (u % 2 ? odd[no++] > mo : even[ne++] > me)
        h |= 1ull << bit;
      bit++;
    }
  return h;
}

/* Median colour of n pixels from p, step bytes apart (per channel, by
 * counting: n may be thousands for a full-size decode). */
static void line_median(const uint8_t *p, size_t step, int n, int ch,
                        int ref[3])
{
  for (int k = 0; k < ch; k++) {
    int cnt[256] = { 0 }, acc = 0, v = 0;
    for (int i = 0; i < n; i++)
      cnt[p[(size_t)i * step + (size_t)k]]++;
    while (v < 255 && (acc += cnt[v]) * 2 < n)
      v++;
    ref[k] = v;
  }
}

/* Whether the n pixels from p (step bytes apart) are, all but a few, of
 * colour ref. */
static int line_is(const uint8_t *p, size_t step, int n, int ch,
                   const int ref[3])
{
  int bad = 0, allow = (int)(n * TRIM_OUTLIERS);

  for (int i = 0; i < n; i++) {
    const uint8_t *q = p + (size_t)i * step;
    for (int k = 0; k < ch; k++)
      if (abs(q[k] - ref[k]) > TRIM_TOL) {
        if (++bad > allow)
          return 0;
        break;
      }
  }
  return 1;
}

/* Moves one side of b inward over the border lines of that side.  side:
 * 0 top, 1 bottom, 2 left, 3 right. */
static int trim_side(const struct image *im, struct box *b, int side)
{
  int ch = im->channels, vert = side < 2, far = side & 1;
  int len = vert ? b->x1 - b->x0 : b->y1 - b->y0;
  int depth = vert ? im->h : im->w;
  int done = side == 0 ? b->y0 : side == 1 ? im->h - b->y1
             : side == 2 ? b->x0 : im->w - b->x1;
  int max = (int)(depth * TRIM_MAX) - done;
  size_t step = vert ? (size_t)ch : (size_t)im->w * (size_t)ch;
  int ref[3] = { 0 }, t;

  for (t = 0; t < max; t++) {
    int line = far ? (vert ? b->y1 : b->x1) - 1 - t
                   : (vert ? b->y0 : b->x0) + t;
    const uint8_t *p = im->px + (vert
        ? ((size_t)line * (size_t)im->w + (size_t)b->x0) * (size_t)ch
        : ((size_t)b->y0 * (size_t)im->w + (size_t)line) * (size_t)ch);
    if (t == 0)
      line_median(p, step, len, ch, ref);
    if (!line_is(p, step, len, ch, ref))
      break;
  }
  if (side == 0)
    b->y0 += t;
  else if (side == 1)
    b->y1 -= t;
  else if (side == 2)
    b->x0 += t;
  else
    b->x1 -= t;
  return t;
}

/* The picture inside its solid borders (letterbox, pillarbox, padding). */
static void find_content(const struct image *im, struct box *b)
{
  b->x0 = b->y0 = 0;
  b->x1 = im->w;
  b->y1 = im->h;
  for (int pass = 0; pass < TRIM_PASSES; pass++) {
    int moved = 0;
    for (int side = 0; side < 4; side++)
      moved += trim_side(im, b, side);
    if (!moved)
      break;
  }
}

/* The central FEAT_CENTRE of b (at least one pixel each way). */
static void centre_of(struct box *b)
{
  int w = b->x1 - b->x0, h = b->y1 - b->y0;
  int cw = (int)(w * FEAT_CENTRE + 0.5), chh = (int)(h * FEAT_CENTRE + 0.5);

  if (cw < 1)
    cw = 1;
  if (chh < 1)
    chh = 1;
  b->x0 += (w - cw) / 2;
  b->y0 += (h - chh) / 2;
  b->x1 = b->x0 + cw;
  b->y1 = b->y0 + chh;
}

/* The grid in Y/Cb/Cr; returns the mean luma.  The grid weights are
 * overlaps in grid units, so each cell's weights sum to 1 and the sums are
 * already means. */
static float grid_ycc(const struct image *im, const struct sat *sat,
                      const struct box *bx, float yy[G][G], float cb[G][G],
                      float cr[G][G])
{
  float rgb[3][G][G];
  double ysum = 0;

  if (sat)
    grid_sat(sat, bx, rgb);
  else
    grid_rgb(im, bx, rgb);
  for (int y = 0; y < G; y++)
    for (int x = 0; x < G; x++) {
      float r = rgb[0][y][x], gg = rgb[1][y][x], b = rgb[2][y][x];
      yy[y][x] = W_R * r + W_G * gg + W_B * b;
      cb[y][x] = -0.168736f * r - 0.331264f * gg + 0.5f * b;
      cr[y][x] = 0.5f * r - 0.418688f * gg - 0.081312f * b;
      ysum += yy[y][x];
    }
  return (float)(ysum / (G * G));
}

/* Luma structure (N_LUMA values into v); odd horizontal frequencies as
 * magnitudes, so that a mirrored picture gives the same values. */
static void luma_block(float dy[NU][NU], float *v)
{
  int k = 0;

  for (int v2 = 0; v2 < NU; v2++)
    for (int u = 0; u < NU; u++) {
      if (u + v2 < 1 || u + v2 > LUMA_MAX)
        continue;
      v[k++] = u % 2 ? fabsf(dy[v2][u]) : dy[v2][u];
    }
  /* The terms are sums over G*G cells: a contrast of one grey level over
   * the picture gives hundreds, float noise on a flat image 1e-3. */
  normalize_above(v, N_LUMA, 1.0);
  k = 0;
  for (int v2 = 0; v2 < NU; v2++)
    for (int u = 0; u < NU; u++) {
      if (u + v2 < 1 || u + v2 > LUMA_MAX)
        continue;
      v[k++] *= u + v2 > LUMA_LOW ? FEAT_W_LUMA_HI : FEAT_W_LUMA;
    }
}

/* Chroma layout relative to mean luma (N_CHROMA values into v; +16 keeps
 * near-black images from blowing up). */
static void chroma_block(float dcb[NU][NU], float dcr[NU][NU], float ymean,
                         float *v)
{
  float cnorm = 1.0f / ((float)(G * G) * (ymean + 16.0f));
  int k = 0;

  for (int v2 = 0; v2 <= CHROMA_MAX; v2++)
    for (int u = 0; u + v2 <= CHROMA_MAX; u++) {
      float a = dcb[v2][u] * cnorm, b = dcr[v2][u] * cnorm;
      v[k++] = FEAT_W_CHROMA * (u % 2 ? fabsf(a) : a);
      v[k++] = FEAT_W_CHROMA * (u % 2 ? fabsf(b) : b);
    }
}

/* Colour histogram over the grid cells (N_HIST values into hist, zeroed
 * by the caller): saturated cells vote for hue x saturation, grey ones for
 * a luma bin, cells in between for both by their saturation weight. */
static void colour_hist(float yy[G][G], float cb[G][G], float cr[G][G],
                        float ymean, float *hist)
{
  for (int y = 0; y < G; y++)
    for (int x = 0; x < G; x++) {
      float c = sqrtf(cb[y][x] * cb[y][x] + cr[y][x] * cr[y][x]);
      float s = c / (yy[y][x] + 16.0f);       /* relative saturation */
      float sw = s < 0.05f ? 0 : s > 0.15f ? 1 : (s - 0.05f) / 0.10f;
      int h0, h1, s0, s1;
      float hw0, hw1, sw0, sw1;
      if (sw > 0) {
        float hue = atan2f(cr[y][x], cb[y][x]) * (float)(N_HUE / (2 * M_PI));
        float sb = s < 0.15f ? 0 : s > 0.55f ? 2 : (s - 0.15f) / 0.2f;
        bins2(N_HUE, hue, 1, &h0, &h1, &hw0, &hw1);
        bins2(N_SAT, sb, 0, &s0, &s1, &sw0, &sw1);
        hist[h0 * N_SAT + s0] += hw0 * sw * sw0;
        hist[h0 * N_SAT + s1] += hw0 * sw * sw1;
        hist[h1 * N_SAT + s0] += hw1 * sw * sw0;
        hist[h1 * N_SAT + s1] += hw1 * sw * sw1;
      }
      if (sw < 1) {
        float t = yy[y][x] / (ymean + 1.0f) * (N_GRAY - 1) / 2.0f;
        bins2(N_GRAY, t, 0, &h0, &h1, &hw0, &hw1);
        hist[N_HUE * N_SAT + h0] += (1 - sw) * hw0;
        hist[N_HUE * N_SAT + h1] += (1 - sw) * hw1;
      }
    }
  for (int i = 0; i < N_HIST; i++)
    hist[i] = sqrtf(hist[i] / (G * G));
  normalize(hist, N_HIST);
  for (int i = 0; i < N_HIST; i++)
    hist[i] *= FEAT_W_HIST;
}

/* The vector of one window (its central FEAT_CENTRE is described), and
 * the hash when ret_hash is set. */
static void describe(const struct image *im, const struct sat *sat,
                     struct box b, float *v, uint64_t *ret_hash)
{
  float yy[G][G], cb[G][G], cr[G][G], dy[NU][NU], dcb[NU][NU], dcr[NU][NU];
  float ymean;

  centre_of(&b);
  ymean = grid_ycc(im, sat, &b, yy, cb, cr);
  dct_low(yy, dy, NU);
  dct_low(cb, dcb, CHROMA_MAX + 1);   /* chroma uses u + v <= CHROMA_MAX */
  dct_low(cr, dcr, CHROMA_MAX + 1);
  luma_block(dy, v);
  chroma_block(dcb, dcr, ymean, v + N_LUMA);
  colour_hist(yy, cb, cr, ymean, v + N_LUMA + N_CHROMA);
  normalize(v, IMGFEAT_DIM);
  if (ret_hash)
    *ret_hash = hash_from((const float(*)[NU])dy);
}

/* Sub-window k of the content box c: k = 0 drops SUB_CROP / 2 on every
 * side (the window a centred crop keeps), k = 1..4 drop SUB_CROP off two
 * adjacent sides (the window a crop towards one corner keeps: top-left,
 * top-right, bottom-left, bottom-right cut).  A window that would be
 * empty stays the whole box. */
static struct box sub_window(const struct box *c, int k)
{
  int w = c->x1 - c->x0, h = c->y1 - c->y0;
  int dx = (int)(w * SUB_CROP + 0.5), dy = (int)(h * SUB_CROP + 0.5);
  struct box b = *c;

  if (dx >= w || dy >= h)
    return b;
  if (k == 0) {
    b.x0 += dx / 2;
    b.y0 += dy / 2;
    b.x1 -= dx - dx / 2;
    b.y1 -= dy - dy / 2;
    return b;
  }
  if (k == 1 || k == 3)
    b.x0 += dx;
  else
    b.x1 -= dx;
  if (k <= 2)
    b.y0 += dy;
  else
    b.y1 -= dy;
  return b;
}

int imgfeat_ref_compute(const struct image *im, struct imgfeat *ret)
{
  struct sat sat = { 0 };
  struct box b;
  bool use_sat;

  memset(ret, 0, sizeof(*ret));
  if (!im || !im->px || im->w < 1 || im->h < 1 ||
      (im->channels != 1 && im->channels != 3))
    return -EINVAL;
  pthread_once(&tab_once, tab_init);
  find_content(im, &b);
  /* Larger boxes (a full-size picture, not the import's reduced decode)
   * are averaged window by window, with no allocation. */
  use_sat = (uint64_t)(b.x1 - b.x0) * (uint64_t)(b.y1 - b.y0) <=
                SAT_MAX_PIXELS &&
            sat_build(im, &b, &sat) == 0;
  describe(im, use_sat ? &sat : NULL, b, ret->v, &ret->phash);
  for (int k = 0; k < IMGFEAT_NSUB; k++)
    describe(im, use_sat ? &sat : NULL, sub_window(&b, k), ret->sub[k],
             NULL);
  free(sat.v);
  return 0;
}

