/* imgfeat_kern.c - the per-window kernels of imgfeat.c (imgfeat_i.h):
 * the low-frequency DCTs and the colour histogram votes, written with
 * GCC/Clang vector extensions (4 floats), because at -O2 the compiler
 * vectorises neither: the DCT loops have a variable trip count there and
 * the histogram calls atan2f and sqrtf per cell.  Each image runs them for
 * six windows, so they were most of the feature cost.
 *
 * The DCTs sum every coefficient in the same order as the plain loops
 * (over x, then over y), only four coefficients at a time, so they give
 * the same floats.  The histogram replaces atan2f by a polynomial (within
 * 6e-7 radians; the hue enters in units of 30 degrees, so a vote moves by
 * about 1e-6) and otherwise computes what the scalar bins did.
 *
 * The histogram's cell loop and the grid sums also come eight lanes wide
 * for processors with AVX2 (votes_row8, sat_grid8, chosen at run time by
 * imgfeat_wide): the same operations per lane in the same order, so the
 * same bits as the four-lane code; only the width changes.
 */
#include "imgfeat_i.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static float cos_tab[NU][G];       /* cos_tab[u][x] */
static float cos_txp[G][NUP];      /* transposed, u padded with zeros */

void imgfeat_tables_init(void)
{
  memset(cos_txp, 0, sizeof(cos_txp));
  for (int u = 0; u < NU; u++)
    for (int x = 0; x < G; x++)
      cos_txp[x][u] = cos_tab[u][x] =
          (float)cos(M_PI * (2 * x + 1) * u / (2.0 * G));
}

static inline v4f ld(const float *p)
{
  v4f v;

  memcpy(&v, p, sizeof(v));
  return v;
}

static inline void st(float *p, v4f v)
{
  memcpy(p, &v, sizeof(v));
}

static inline void sti(int32_t *p, v4i v)
{
  memcpy(p, &v, sizeof(v));
}

static inline v4f splat(float a)
{
  return (v4f){ a, a, a, a };
}

/* Rows (and output frequencies) go in pairs: six independent sums in
 * flight instead of three, so the adds do not wait on each other; each
 * coefficient is still summed in order. */
void imgfeat_dct_luma(const float in[G][G], float out[NU][NU])
{
  float tmp[G][NUP], row[2][NUP];

  for (int y = 0; y < G; y += 2) {
    v4f a0 = splat(0), a1 = splat(0), a2 = splat(0);
    v4f b0 = splat(0), b1 = splat(0), b2 = splat(0);
    for (int x = 0; x < G; x++) {
      v4f p = splat(in[y][x]), q = splat(in[y + 1][x]);
      v4f c0 = ld(&cos_txp[x][0]), c1 = ld(&cos_txp[x][4]),
          c2 = ld(&cos_txp[x][8]);
      a0 += p * c0;
      a1 += p * c1;
      a2 += p * c2;
      b0 += q * c0;
      b1 += q * c1;
      b2 += q * c2;
    }
    st(&tmp[y][0], a0);
    st(&tmp[y][4], a1);
    st(&tmp[y][8], a2);
    st(&tmp[y + 1][0], b0);
    st(&tmp[y + 1][4], b1);
    st(&tmp[y + 1][8], b2);
  }
  for (int v = 0; v < NU; v += 2) {
    int w = v + 1 < NU ? v + 1 : v;   /* NU is odd: the last pair is one */
    v4f a0 = splat(0), a1 = splat(0), a2 = splat(0);
    v4f b0 = splat(0), b1 = splat(0), b2 = splat(0);
    for (int y = 0; y < G; y++) {
      v4f c = splat(cos_tab[v][y]), d = splat(cos_tab[w][y]);
      v4f t0 = ld(&tmp[y][0]), t1 = ld(&tmp[y][4]), t2 = ld(&tmp[y][8]);
      a0 += t0 * c;
      a1 += t1 * c;
      a2 += t2 * c;
      b0 += t0 * d;
      b1 += t1 * d;
      b2 += t2 * d;
    }
    st(&row[0][0], a0);
    st(&row[0][4], a1);
    st(&row[0][8], a2);
    st(&row[1][0], b0);
    st(&row[1][4], b1);
    st(&row[1][8], b2);
    memcpy(out[v], row[0], sizeof(out[v]));
    memcpy(out[w], row[1], sizeof(out[w]));
  }
}

void imgfeat_dct_chroma(const float cb[G][G], const float cr[G][G],
                        float dcb[NU][NU], float dcr[NU][NU])
{
  float tb[G][4], tr[G][4];

  for (int y = 0; y < G; y += 2) {
    v4f ab = splat(0), ar = splat(0), bb = splat(0), br = splat(0);
    for (int x = 0; x < G; x++) {
      v4f c = ld(&cos_txp[x][0]);
      ab += splat(cb[y][x]) * c;
      ar += splat(cr[y][x]) * c;
      bb += splat(cb[y + 1][x]) * c;
      br += splat(cr[y + 1][x]) * c;
    }
    st(tb[y], ab);
    st(tr[y], ar);
    st(tb[y + 1], bb);
    st(tr[y + 1], br);
  }
  for (int v = 0; v <= CHROMA_MAX; v += 2) {
    v4f ab = splat(0), ar = splat(0), bb = splat(0), br = splat(0);
    for (int y = 0; y < G; y++) {
      v4f c = splat(cos_tab[v][y]), d = splat(cos_tab[v + 1][y]);
      v4f t = ld(tb[y]), r = ld(tr[y]);
      ab += t * c;
      ar += r * c;
      bb += t * d;
      br += r * d;
    }
    st(&dcb[v][0], ab);
    st(&dcr[v][0], ar);
    st(&dcb[v + 1][0], bb);
    st(&dcr[v + 1][0], br);
  }
}

/* ---- integral image ---- */

static inline v4i ldi(const int32_t *p)
{
  v4i v;

  memcpy(&v, p, sizeof(v));
  return v;
}

int imgfeat_sat_build(const struct image *im, int x0, int y0, int x1,
                      int y1, struct imgfeat_sat *s)
{
  int w = x1 - x0, h = y1 - y0, ch = im->channels, c1 = ch == 3, c2 = 2 * c1;
  size_t row = (size_t)(w + 1) * 4;

  s->x0 = x0;
  s->y0 = y0;
  s->w = w;
  s->h = h;
  /* Not zeroed: every point but row 0 and column 0 is written below. */
  s->v = malloc(row * (size_t)(h + 1) * sizeof(*s->v));
  if (!s->v)
    return -ENOMEM;
  memset(s->v, 0, row * sizeof(*s->v));
  for (int y = 0; y < h; y++) {
    const uint8_t *p = im->px +
        ((size_t)(y + y0) * (size_t)im->w + (size_t)x0) * (size_t)ch;
    const int32_t *up = s->v + (size_t)y * row;
    int32_t *out = s->v + (size_t)(y + 1) * row;
    v4i acc = { 0, 0, 0, 0 };

    sti(out, acc);
    int x = 0;
#if defined(__SSE2__)
    /* RGB: four bytes at a time widened to int32 lanes, the fourth (the
     * next pixel's red) masked off; the last pixel of the picture is
     * left to the loop below, so nothing past it is read. */
    if (ch == 3) {
      const __m128i zero = _mm_setzero_si128();
      const v4i rgb = { -1, -1, -1, 0 };
      int last = y + y0 == im->h - 1 && x1 == im->w ? w - 1 : w;
      for (; x < last; x++, p += 3) {
        uint32_t word;
        memcpy(&word, p, 4);
        __m128i b = _mm_cvtsi32_si128((int)word);
        b = _mm_unpacklo_epi16(_mm_unpacklo_epi8(b, zero), zero);
        acc += (v4i)b & rgb;
        sti(out + 4 * (x + 1), ldi(up + 4 * (x + 1)) + acc);
      }
    }
#endif
    for (; x < w; x++, p += ch) {
      acc += (v4i){ p[0], p[c1], p[c2], 0 };
      sti(out + 4 * (x + 1), ldi(up + 4 * (x + 1)) + acc);
    }
  }
  return 0;
}

/* Where a coordinate t (in pixels of the box, 0..len) falls: the integral
 * point before it, *i (clamped so that i + 1 <= len), and the fraction. */
static void sat_pos(double t, int len, int *i, float *f)
{
  int k = (int)t;

  if (k >= len)
    k = len - 1;
  *i = k;
  *f = (float)(t - k);
}

#if defined(__x86_64__) || defined(__i386__)
static void sat_grid8(const struct imgfeat_sat *s, int x0, int y0, int x1,
                      int y1, float rgb[3][G][G]);
#endif

void imgfeat_sat_grid(const struct imgfeat_sat *s, int x0, int y0, int x1,
                      int y1, float rgb[3][G][G])
{
  /* corner (j, i) of the grid: whole part base[j & 1][i] (the integral
   * at the pixel corner before it), fraction part rest[j & 1][i] */
  v4i base[2][G + 1];
  v4f rest[2][G + 1], fx[G + 1];
  int ix[G + 1];
  double cw = (double)(x1 - x0) / G, chh = (double)(y1 - y0) / G;
  float inv_area = (float)(1.0 / (cw * chh));
  size_t row = (size_t)(s->w + 1) * 4;

#if defined(__x86_64__) || defined(__i386__)
  if (imgfeat_wide > 0 ||
      (imgfeat_wide < 0 && __builtin_cpu_supports("avx2"))) {
    sat_grid8(s, x0, y0, x1, y1, rgb);
    return;
  }
#endif
  for (int i = 0; i <= G; i++) {
    float f;
    sat_pos(x0 - s->x0 + i * cw, s->w, &ix[i], &f);
    fx[i] = splat(f);
  }
  for (int j = 0; j <= G; j++) {
    int iy, cur = j & 1;
    float fyf;
    sat_pos(y0 - s->y0 + j * chh, s->h, &iy, &fyf);
    const int32_t *r0 = s->v + (size_t)iy * row, *r1 = r0 + row;
    v4f fy = splat(fyf);
    for (int i = 0; i <= G; i++) {
      const int32_t *a = r0 + 4 * ix[i], *c = r1 + 4 * ix[i];
      v4i s00 = ldi(a), d01 = ldi(a + 4) - s00, d10 = ldi(c) - s00;
      v4i d11 = ldi(c + 4) - ldi(c) - d01;
      /* f = s00 + fx d01 + fy d10 + fx fy d11 */
      base[cur][i] = s00;
      rest[cur][i] = fy * __builtin_convertvector(d10, v4f) +
                     fx[i] * (__builtin_convertvector(d01, v4f) +
                              fy * __builtin_convertvector(d11, v4f));
    }
    if (j == 0)
      continue;
    for (int i = 0; i < G; i++) {
      int pre = cur ^ 1;
      v4i ib = (base[cur][i + 1] - base[cur][i]) -
               (base[pre][i + 1] - base[pre][i]);
      v4f fr = (rest[cur][i + 1] - rest[cur][i]) -
               (rest[pre][i + 1] - rest[pre][i]);
      v4f m = (__builtin_convertvector(ib, v4f) + fr) * inv_area;
      rgb[0][j - 1][i] = m[0];
      rgb[1][j - 1][i] = m[1];
      rgb[2][j - 1][i] = m[2];
    }
  }
}

/* ---- histogram ---- */

/* atan(a) = a P(a^2) on [0, 1]: a least-squares fit with the largest
 * errors levelled (2.5e-7 at most). */
#define AT0 0.999996112f
#define AT1 -0.333173681f
#define AT2 0.198078159f
#define AT3 -0.132333425f
#define AT4 0.0796236702f
#define AT5 -0.0336042139f
#define AT6 0.00681179005f
#define HALF_PI 1.57079632679489662f
#define PI_F 3.14159265358979324f

static inline v4f vsel(v4i m, v4f a, v4f b)
{
  return (v4f)(((v4i)a & m) | ((v4i)b & ~m));
}

static inline v4f vmin(v4f a, v4f b)
{
#if defined(__SSE__)
  return (v4f)_mm_min_ps((__m128)a, (__m128)b);
#else
  return vsel(a < b, a, b);
#endif
}

static inline v4f vmax(v4f a, v4f b)
{
#if defined(__SSE__)
  return (v4f)_mm_max_ps((__m128)a, (__m128)b);
#else
  return vsel(a > b, a, b);
#endif
}

static inline v4f vsqrt(v4f a)
{
#if defined(__SSE__)
  return (v4f)_mm_sqrt_ps((__m128)a);
#else
  return (v4f){ sqrtf(a[0]), sqrtf(a[1]), sqrtf(a[2]), sqrtf(a[3]) };
#endif
}

/* floor() of values well inside the int range, exactly. */
static inline v4i vfloor_i(v4f a)
{
  v4i t = __builtin_convertvector(a, v4i);   /* towards zero */

  return t + (v4i)(__builtin_convertvector(t, v4f) > a);   /* -1 if above */
}

static inline v4f vatan2(v4f y, v4f x)
{
  const v4i abs_mask = { 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff };
  v4f ax = (v4f)((v4i)x & abs_mask), ay = (v4f)((v4i)y & abs_mask);
  v4f mx = vmax(ax, ay), mn = vmin(ax, ay);
  v4f a = mn / vsel(mx > splat(0), mx, splat(1));
  v4f s = a * a;
  v4f p = a * (AT0 + s * (AT1 + s * (AT2 + s * (AT3 + s * (AT4 + s * (AT5 +
              s * AT6))))));

  p = vsel(ay > ax, HALF_PI - p, p);
  p = vsel(x < splat(0), PI_F - p, p);
  return (v4f)((v4i)p | ((v4i)y & ~abs_mask));   /* the sign of y */
}

float imgfeat_atan2(float y, float x)
{
  v4f r = vatan2(splat(y), splat(x));

  return r[0];
}

/* Where one row of G cells votes: cell x adds the pair wt[0][x] to the
 * hue x saturation bins ix[0][x], ix[0][x] + 1 (its lower hue), the pair
 * wt[1][x] to ix[1][x], ix[1][x] + 1 (its upper hue) and the pair
 * wt[2][x] to the grey bins ix[2][x], ix[2][x] + 1.  A bin a cell does not
 * reach gets weight 0.  The cells are independent, so the long chain of
 * each (square root, divisions, the polynomial) overlaps with the next
 * cells'. */
struct row_votes {
  int32_t ix[3][G];
  float wt[3][G][2];
};

/* Stores the votes a (first bin) and b (second bin) of four cells as the
 * pairs w[0..3]. */
static inline void st_pairs(float w[4][2], v4f a, v4f b)
{
#if defined(__SSE__)
  st(w[0], (v4f)_mm_unpacklo_ps((__m128)a, (__m128)b));
  st(w[2], (v4f)_mm_unpackhi_ps((__m128)a, (__m128)b));
#else
  for (int k = 0; k < 4; k++) {
    w[k][0] = a[k];
    w[k][1] = b[k];
  }
#endif
}

static void votes_row(const float *yr, const float *cbr, const float *crr,
                      v4f gscale, struct row_votes *o)
{
  for (int x = 0; x < G; x += 4) {
    v4f y = ld(yr + x), cb = ld(cbr + x), cr = ld(crr + x);
    v4f s = vsqrt(cb * cb + cr * cr) / (y + 16.0f);    /* rel. saturation */
    v4f sw = vmin(vmax((s - 0.05f) * 10.0f, splat(0)), splat(1));
    v4f hue = vatan2(cr, cb) * (float)(N_HUE / (2 * M_PI));
    v4f sb = vmin(vmax((s - 0.15f) * 5.0f, splat(0)), splat(2));
    v4f gt = vmin(y * gscale, splat(N_GRAY - 1));
    v4i hi = vfloor_i(hue), si, gi, h1;
    v4f hf = hue - __builtin_convertvector(hi, v4f), sf, gf, hw0, hw1;

    si = __builtin_convertvector(sb, v4i);
    si += (si > 1);                    /* 2 -> 1: the top bin as weight 1 */
    sf = sb - __builtin_convertvector(si, v4f);
    gi = __builtin_convertvector(gt, v4i);
    gi += (gi > N_GRAY - 2);          /* 6 -> 5 likewise */
    gf = gt - __builtin_convertvector(gi, v4f);
    hi += (hi < 0) & N_HUE;
    h1 = (hi + 1) & ~(hi + 1 == N_HUE);
    hw0 = (1 - hf) * sw;
    hw1 = hf * sw;
    sti(&o->ix[0][x], hi * N_SAT + si);
    sti(&o->ix[1][x], h1 * N_SAT + si);
    sti(&o->ix[2][x], N_HUE * N_SAT + gi);
    st_pairs(&o->wt[0][x], hw0 * (1 - sf), hw0 * sf);
    st_pairs(&o->wt[1][x], hw1 * (1 - sf), hw1 * sf);
    st_pairs(&o->wt[2][x], (1 - sw) * (1 - gf), (1 - sw) * gf);
  }
}

#if defined(__x86_64__) || defined(__i386__)
/* votes_row eight cells at a time, for processors with AVX2 (chosen at
 * run time): the same operations on every cell in the same order, only
 * twice the lanes, so the same floats.  No FMA: "avx2" alone does not
 * let the compiler fuse a multiply and an add, which would round once
 * where the 4-lane code rounds twice. */
#define VOTES8 1
#include <immintrin.h>

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
#define AVX2 __attribute__((target("avx2")))

static inline AVX2 v8f ld8(const float *p)
{
  v8f v;

  memcpy(&v, p, sizeof(v));
  return v;
}

static inline AVX2 void st8(float *p, v8f v)
{
  memcpy(p, &v, sizeof(v));
}

static inline AVX2 void sti8(int32_t *p, v8i v)
{
  memcpy(p, &v, sizeof(v));
}

static inline AVX2 v8f splat8(float a)
{
  return (v8f){ a, a, a, a, a, a, a, a };
}

static inline AVX2 v8f vsel8(v8i m, v8f a, v8f b)
{
  return (v8f)(((v8i)a & m) | ((v8i)b & ~m));
}

static inline AVX2 v8f vmin8(v8f a, v8f b)
{
  return (v8f)_mm256_min_ps((__m256)a, (__m256)b);
}

static inline AVX2 v8f vmax8(v8f a, v8f b)
{
  return (v8f)_mm256_max_ps((__m256)a, (__m256)b);
}

static inline AVX2 v8i vfloor_i8(v8f a)
{
  v8i t = __builtin_convertvector(a, v8i);

  return t + (v8i)(__builtin_convertvector(t, v8f) > a);
}

static inline AVX2 v8f vatan2_8(v8f y, v8f x)
{
  const v8i abs_mask = { 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff,
                         0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff };
  v8f ax = (v8f)((v8i)x & abs_mask), ay = (v8f)((v8i)y & abs_mask);
  v8f mx = vmax8(ax, ay), mn = vmin8(ax, ay);
  v8f a = mn / vsel8(mx > splat8(0), mx, splat8(1));
  v8f s = a * a;
  v8f p = a * (AT0 + s * (AT1 + s * (AT2 + s * (AT3 + s * (AT4 + s * (AT5 +
              s * AT6))))));

  p = vsel8(ay > ax, HALF_PI - p, p);
  p = vsel8(x < splat8(0), PI_F - p, p);
  return (v8f)((v8i)p | ((v8i)y & ~abs_mask));
}

/* The pairs (a[k], b[k]) of eight cells into w[0..7]. */
static inline AVX2 void st_pairs8(float w[8][2], v8f a, v8f b)
{
  __m256 lo = _mm256_unpacklo_ps((__m256)a, (__m256)b);   /* 0 1 | 4 5 */
  __m256 hi = _mm256_unpackhi_ps((__m256)a, (__m256)b);   /* 2 3 | 6 7 */

  st8(w[0], (v8f)_mm256_permute2f128_ps(lo, hi, 0x20));
  st8(w[4], (v8f)_mm256_permute2f128_ps(lo, hi, 0x31));
}

static AVX2 void votes_row8(const float *yr, const float *cbr,
                            const float *crr, float gs, struct row_votes *o)
{
  v8f gscale = splat8(gs);

  for (int x = 0; x < G; x += 8) {
    v8f y = ld8(yr + x), cb = ld8(cbr + x), cr = ld8(crr + x);
    v8f s = (v8f)_mm256_sqrt_ps((__m256)(cb * cb + cr * cr)) / (y + 16.0f);
    v8f sw = vmin8(vmax8((s - 0.05f) * 10.0f, splat8(0)), splat8(1));
    v8f hue = vatan2_8(cr, cb) * (float)(N_HUE / (2 * M_PI));
    v8f sb = vmin8(vmax8((s - 0.15f) * 5.0f, splat8(0)), splat8(2));
    v8f gt = vmin8(y * gscale, splat8(N_GRAY - 1));
    v8i hi = vfloor_i8(hue), si, gi, h1;
    v8f hf = hue - __builtin_convertvector(hi, v8f), sf, gf, hw0, hw1;

    si = __builtin_convertvector(sb, v8i);
    si += (si > 1);
    sf = sb - __builtin_convertvector(si, v8f);
    gi = __builtin_convertvector(gt, v8i);
    gi += (gi > N_GRAY - 2);
    gf = gt - __builtin_convertvector(gi, v8f);
    hi += (hi < 0) & N_HUE;
    h1 = (hi + 1) & ~(hi + 1 == N_HUE);
    hw0 = (1 - hf) * sw;
    hw1 = hf * sw;
    sti8(&o->ix[0][x], hi * N_SAT + si);
    sti8(&o->ix[1][x], h1 * N_SAT + si);
    sti8(&o->ix[2][x], N_HUE * N_SAT + gi);
    st_pairs8(&o->wt[0][x], hw0 * (1 - sf), hw0 * sf);
    st_pairs8(&o->wt[1][x], hw1 * (1 - sf), hw1 * sf);
    st_pairs8(&o->wt[2][x], (1 - sw) * (1 - gf), (1 - sw) * gf);
  }
}

/* Two int32[4] (or float[4]) points, p[0..3] and q[0..3], as one vector. */
static inline AVX2 v8i ldi2(const int32_t *p, const int32_t *q)
{
  return (v8i)_mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
      _mm_loadu_si128((const __m128i *)q), 1);
}

/* imgfeat_sat_grid two grid corners (and then two cells) at a time: the
 * same integer and float operations per lane, in the same order, as the
 * four-lane loop, so the same floats. */
static AVX2 void sat_grid8(const struct imgfeat_sat *s, int x0, int y0,
                           int x1, int y1, float rgb[3][G][G])
{
  /* corner i of row parity p: base[p][4 i .. 4 i + 3], rest likewise */
  int32_t base[2][(G + 1) * 4];
  float rest[2][(G + 1) * 4], fx[G + 1];
  int ix[G + 1];
  double cw = (double)(x1 - x0) / G, chh = (double)(y1 - y0) / G;
  float inv_area = (float)(1.0 / (cw * chh));
  size_t row = (size_t)(s->w + 1) * 4;

  for (int i = 0; i <= G; i++)
    sat_pos(x0 - s->x0 + i * cw, s->w, &ix[i], &fx[i]);
  for (int j = 0; j <= G; j++) {
    int iy, cur = j & 1, pre = cur ^ 1;
    float fyf;
    sat_pos(y0 - s->y0 + j * chh, s->h, &iy, &fyf);
    const int32_t *r0 = s->v + (size_t)iy * row, *r1 = r0 + row;
    v8f fy = splat8(fyf);
    int i = 0;
    for (; i + 2 <= G + 1; i += 2) {
      const int32_t *a = r0 + 4 * ix[i], *c = r1 + 4 * ix[i];
      const int32_t *a2 = r0 + 4 * ix[i + 1], *c2 = r1 + 4 * ix[i + 1];
      v8i s00 = ldi2(a, a2), d01 = ldi2(a + 4, a2 + 4) - s00;
      v8i d10 = ldi2(c, c2) - s00;
      v8i d11 = ldi2(c + 4, c2 + 4) - ldi2(c, c2) - d01;
      v8f f = { fx[i], fx[i], fx[i], fx[i], fx[i + 1], fx[i + 1],
                fx[i + 1], fx[i + 1] };
      v8f r = fy * __builtin_convertvector(d10, v8f) +
              f * (__builtin_convertvector(d01, v8f) +
                   fy * __builtin_convertvector(d11, v8f));
      memcpy(&base[cur][4 * i], &s00, sizeof(s00));
      memcpy(&rest[cur][4 * i], &r, sizeof(r));
    }
    for (; i <= G; i++) {   /* the last corner (G + 1 is odd) */
      const int32_t *a = r0 + 4 * ix[i], *c = r1 + 4 * ix[i];
      v4i s00 = ldi(a), d01 = ldi(a + 4) - s00, d10 = ldi(c) - s00;
      v4i d11 = ldi(c + 4) - ldi(c) - d01;
      v4f f = splat(fx[i]), fy4 = splat(fyf);
      v4f r = fy4 * __builtin_convertvector(d10, v4f) +
              f * (__builtin_convertvector(d01, v4f) +
                   fy4 * __builtin_convertvector(d11, v4f));
      sti(&base[cur][4 * i], s00);
      st(&rest[cur][4 * i], r);
    }
    if (j == 0)
      continue;
    for (i = 0; i < G; i += 2) {
      v8i b0, b1, p0, p1;
      v8f q0, q1, u0, u1;
      memcpy(&b0, &base[cur][4 * i], sizeof(b0));
      memcpy(&b1, &base[cur][4 * i + 4], sizeof(b1));
      memcpy(&p0, &base[pre][4 * i], sizeof(p0));
      memcpy(&p1, &base[pre][4 * i + 4], sizeof(p1));
      memcpy(&q0, &rest[cur][4 * i], sizeof(q0));
      memcpy(&q1, &rest[cur][4 * i + 4], sizeof(q1));
      memcpy(&u0, &rest[pre][4 * i], sizeof(u0));
      memcpy(&u1, &rest[pre][4 * i + 4], sizeof(u1));
      v8i ib = (b1 - b0) - (p1 - p0);
      v8f fr = (q1 - q0) - (u1 - u0);
      v8f m = (__builtin_convertvector(ib, v8f) + fr) * inv_area;
      rgb[0][j - 1][i] = m[0];
      rgb[1][j - 1][i] = m[1];
      rgb[2][j - 1][i] = m[2];
      rgb[0][j - 1][i + 1] = m[4];
      rgb[1][j - 1][i + 1] = m[5];
      rgb[2][j - 1][i + 1] = m[6];
    }
  }
}
#else
#define VOTES8 0
#endif

int imgfeat_wide = -1;

typedef float v2f __attribute__((vector_size(8)));

/* h[0..1] += w[0..1] */
static inline void add_pair(float *h, const float *w)
{
  v2f a, b;

  memcpy(&a, h, sizeof(a));
  memcpy(&b, w, sizeof(b));
  a += b;
  memcpy(h, &a, sizeof(a));
}

/* Each cell x adds into copy x % 4 of the histogram, so that a run of
 * cells voting for the same bins does not make every add wait for the
 * previous one's store; the copies are summed at the end. */
void imgfeat_hist_votes(const float yy[G][G], const float cb[G][G],
                        const float cr[G][G], float ymean, float *hist)
{
  float hist4[4][N_HIST];
  struct row_votes rv;
  /* luma relative to the mean, in grey bins: a cell at the mean lands in
   * the middle one */
  v4f gscale = splat((float)(N_GRAY - 1) / 2.0f / (ymean + 1.0f));

#if VOTES8
  bool wide = imgfeat_wide >= 0 ? imgfeat_wide
                                : __builtin_cpu_supports("avx2");
#endif

  memset(hist4, 0, sizeof(hist4));
  for (int y = 0; y < G; y++) {
#if VOTES8
    if (wide)
      votes_row8(yy[y], cb[y], cr[y], gscale[0], &rv);
    else
#endif
      votes_row(yy[y], cb[y], cr[y], gscale, &rv);
    for (int x = 0; x < G; x++) {
      float *h = hist4[x & 3];
      add_pair(h + rv.ix[0][x], rv.wt[0][x]);
      add_pair(h + rv.ix[1][x], rv.wt[1][x]);
      add_pair(h + rv.ix[2][x], rv.wt[2][x]);
    }
  }
  for (int i = 0; i < N_HIST; i++)
    hist[i] += (hist4[0][i] + hist4[1][i]) + (hist4[2][i] + hist4[3][i]);
}
