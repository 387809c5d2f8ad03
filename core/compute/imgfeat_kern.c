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
 * 3e-7 radians; the hue enters in units of 30 degrees, so a vote moves by
 * under 1e-6) and otherwise computes what the scalar bins did.
 */
#include "imgfeat_i.h"

#include <math.h>
#include <string.h>

#if defined(__SSE__)
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

static inline v4f splat(float a)
{
  return (v4f){ a, a, a, a };
}

void imgfeat_dct_luma(const float in[G][G], float out[NU][NU])
{
  float tmp[G][NUP];

  for (int y = 0; y < G; y++) {
    v4f a0 = splat(0), a1 = splat(0), a2 = splat(0);
    for (int x = 0; x < G; x++) {
      v4f p = splat(in[y][x]);
      a0 += p * ld(&cos_txp[x][0]);
      a1 += p * ld(&cos_txp[x][4]);
      a2 += p * ld(&cos_txp[x][8]);
    }
    st(&tmp[y][0], a0);
    st(&tmp[y][4], a1);
    st(&tmp[y][8], a2);
  }
  for (int v = 0; v < NU; v++) {
    v4f a0 = splat(0), a1 = splat(0), a2 = splat(0);
    float row[NUP];
    for (int y = 0; y < G; y++) {
      v4f c = splat(cos_tab[v][y]);
      a0 += ld(&tmp[y][0]) * c;
      a1 += ld(&tmp[y][4]) * c;
      a2 += ld(&tmp[y][8]) * c;
    }
    st(&row[0], a0);
    st(&row[4], a1);
    st(&row[8], a2);
    memcpy(out[v], row, sizeof(out[v]));
  }
}

void imgfeat_dct_chroma(const float cb[G][G], const float cr[G][G],
                        float dcb[NU][NU], float dcr[NU][NU])
{
  float tb[G][4], tr[G][4];

  for (int y = 0; y < G; y++) {
    v4f ab = splat(0), ar = splat(0);
    for (int x = 0; x < G; x++) {
      v4f c = ld(&cos_txp[x][0]);
      ab += splat(cb[y][x]) * c;
      ar += splat(cr[y][x]) * c;
    }
    st(tb[y], ab);
    st(tr[y], ar);
  }
  for (int v = 0; v <= CHROMA_MAX; v++) {
    v4f ab = splat(0), ar = splat(0);
    for (int y = 0; y < G; y++) {
      v4f c = splat(cos_tab[v][y]);
      ab += ld(tb[y]) * c;
      ar += ld(tr[y]) * c;
    }
    st(&dcb[v][0], ab);
    st(&dcr[v][0], ar);
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
  return vsel(a < b, a, b);
}

static inline v4f vmax(v4f a, v4f b)
{
  return vsel(a > b, a, b);
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

/* Four cells' votes, added in cell order (the bins a cell does not reach
 * get +0, which changes no sum). */
static inline void votes4(v4f y, v4f cb, v4f cr, float ym1, float *hist)
{
  v4f s = vsqrt(cb * cb + cr * cr) / (y + 16.0f);    /* rel. saturation */
  v4f sw = vmin(vmax((s - 0.05f) / 0.10f, splat(0)), splat(1));
  v4f hue = vatan2(cr, cb) * (float)(N_HUE / (2 * M_PI));
  v4f sb = vmin(vmax((s - 0.15f) / 0.2f, splat(0)), splat(2));
  v4f gt = vmin(vmax(y / ym1 * (float)(N_GRAY - 1) / 2.0f, splat(0)),
                splat(N_GRAY - 1));
  v4i hi = vfloor_i(hue), si, gi;
  v4f hf = hue - __builtin_convertvector(hi, v4f), sf, gf;
  v4f hw0, hw1, sw0, sw1, g0, g1;

  si = __builtin_convertvector(sb, v4i);
  si += (si > 1);                      /* 2 -> 1: the top bin as weight 1 */
  sf = sb - __builtin_convertvector(si, v4f);
  gi = __builtin_convertvector(gt, v4i);
  gi += (gi > N_GRAY - 2);            /* 6 -> 5 likewise */
  gf = gt - __builtin_convertvector(gi, v4f);
  hi += (hi < 0) & N_HUE;
  hw0 = 1 - hf;
  hw1 = hf;
  sw0 = 1 - sf;
  sw1 = sf;
  g0 = (1 - sw) * (1 - gf);
  g1 = (1 - sw) * gf;
  hw0 *= sw;
  hw1 *= sw;
  for (int k = 0; k < 4; k++) {
    int h0 = hi[k], h1 = h0 + 1 == N_HUE ? 0 : h0 + 1, s0 = si[k];
    float *gh = hist + N_HUE * N_SAT + gi[k];
    hist[h0 * N_SAT + s0] += hw0[k] * sw0[k];
    hist[h0 * N_SAT + s0 + 1] += hw0[k] * sw1[k];
    hist[h1 * N_SAT + s0] += hw1[k] * sw0[k];
    hist[h1 * N_SAT + s0 + 1] += hw1[k] * sw1[k];
    gh[0] += g0[k];
    gh[1] += g1[k];
  }
}

void imgfeat_hist_votes(const float yy[G][G], const float cb[G][G],
                        const float cr[G][G], float ymean, float *hist)
{
  float ym1 = ymean + 1.0f;

  for (int y = 0; y < G; y++)
    for (int x = 0; x < G; x += 4)
      votes4(ld(&yy[y][x]), ld(&cb[y][x]), ld(&cr[y][x]), ym1, hist);
}
