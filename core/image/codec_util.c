/* codec_util.c - helpers the per-format decoders share (codec_i.h).  They
 * sit below the codecs and imgcodec.c, so no codec calls back into the
 * facade that dispatches to it. */
#include "codec_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void codec_rgba_to_rgb(const uint8_t *s, struct image *dst)
{
  uint8_t *d = dst->px;

  for (size_t i = 0; i < (size_t)dst->w * dst->h; i++, s += 4, d += 3) {
    unsigned a = s[3];
    if (a == 255) {   /* opaque, the common case: no arithmetic */
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
      continue;
    }
    for (int c = 0; c < 3; c++)
      d[c] = codec_over_white(s[c], a);
  }
}

int codec_shrink_factor(int w, int h, int min_short)
{
  int f = min_short > 0 ? (w < h ? w : h) / min_short : 1;

  return f >= 2 ? f : 1;
}

int codec_shrink_begin(struct codec_shrink *s, int w, int h, int ch, int f,
                       struct image *out)
{
  int r;

  memset(s, 0, sizeof(*s));
  if (f < 1 || w < f || h < f || ch < 1)
    return -EINVAL;
  if ((r = image_alloc(out, w / f, h / f, ch)) < 0)
    return r;
  if (f > 1 && f <= 257)
    s->sum16 = calloc((size_t)(w / f) * f * ch, sizeof(*s->sum16));
  else if (f > 1)
    s->sum = calloc((size_t)(w / f) * f * ch, sizeof(*s->sum));
  if (f > 1 && !s->sum16 && !s->sum) {
    image_free(out);
    return -ENOMEM;
  }
  s->out = out;
  s->f = f;
  s->w = w;
  s->ch = ch;
  return 0;
}

/* a / d rounded to nearest (halves up), exactly, without a division
 * instruction per sample: an estimate through the reciprocal, then
 * corrected by one step.  a and d are far below 2^53. */
static inline uint32_t div_round(uint64_t a, uint64_t d, double inv)
{
  uint64_t n = a + d / 2, q = (uint64_t)((double)n * inv);

  if (q * d > n)
    q--;
  else if ((q + 1) * d <= n)
    q++;
  return (uint32_t)q;
}

/* Sums of one block's f pixels, channel by channel, into a[0..ch). */
#define BLOCK_SUMS(T)                                                       \
  static void block_sums_##T(const T *p, int f, int ch, uint32_t *a)        \
  {                                                                         \
    if (ch == 3) {                                                          \
      uint32_t a0 = 0, a1 = 0, a2 = 0;                                      \
      for (int j = 0; j < f; j++, p += 3) {                                 \
        a0 += p[0];                                                         \
        a1 += p[1];                                                         \
        a2 += p[2];                                                         \
      }                                                                     \
      a[0] = a0; a[1] = a1; a[2] = a2;                                      \
      return;                                                               \
    }                                                                       \
    for (int k = 0; k < ch; k++)                                            \
      a[k] = 0;                                                             \
    for (int j = 0; j < f; j++, p += ch)                                    \
      for (int k = 0; k < ch; k++)                                          \
        a[k] += p[k];                                                       \
  }
BLOCK_SUMS(uint16_t)
BLOCK_SUMS(uint32_t)

/* The band of f rows summed in s->sum16 or s->sum into output row oy: the
 * f neighbouring columns of each block added, then divided by f * f and
 * rounded.  Up to f = 1023 the division is a multiply by a 48-bit
 * reciprocal, exact there: with n = a + d / 2 < 256 d and
 * m = ceil(2^48 / d), n * m / 2^48 exceeds n / d by less than
 * n / 2^48 <= 1 / d, too little to reach the next whole number. */
static void shrink_emit(struct codec_shrink *s, int oy)
{
  int f = s->f, ch = s->ch, ow = s->out->w;
  uint64_t div = (uint64_t)f * f, m = ((1ull << 48) + div - 1) / div;
  double inv = 1.0 / (double)div;
  uint8_t *o = s->out->px + (size_t)oy * ow * ch;
  size_t n = (size_t)ow * f * ch, step = (size_t)f * ch;
  uint32_t a[16];

  for (size_t i = 0; i < n; i += step, o += ch) {
    if (ch > 16) {   /* no such image; kept exact all the same */
      for (int k = 0; k < ch; k++) {
        uint64_t t = 0;
        for (size_t j = i + k; j < i + step; j += ch)
          t += s->sum16 ? s->sum16[j] : s->sum[j];
        o[k] = (uint8_t)div_round(t, div, inv);
      }
      continue;
    }
    if (s->sum16)
      block_sums_uint16_t(s->sum16 + i, f, ch, a);
    else
      block_sums_uint32_t(s->sum + i, f, ch, a);
    if (s->bgr) {   /* ch == 3 */
      uint32_t t = a[0];
      a[0] = a[2];
      a[2] = t;
    }
    for (int k = 0; k < ch; k++)
      o[k] = f < 1024 ? (uint8_t)(((a[k] + div / 2) * m) >> 48)
                      : (uint8_t)div_round(a[k], div, inv);
  }
  if (s->sum16)
    memset(s->sum16, 0, n * sizeof(*s->sum16));
  else
    memset(s->sum, 0, n * sizeof(*s->sum));
}

/* Straight column sums: loops the compiler vectorises, built for AVX2
 * too (chosen at load time where the processor has it: twice the lanes
 * per add). */
__attribute__((target_clones("avx2", "default")))
static void add_row16(uint16_t *sum, const uint8_t *row, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sum[i] = (uint16_t)(sum[i] + row[i]);
}

__attribute__((target_clones("avx2", "default")))
static void add_row32(uint32_t *sum, const uint8_t *row, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sum[i] += row[i];
}

void codec_shrink_row(struct codec_shrink *s, const uint8_t *row)
{
  int y = s->y++, f = s->f;
  size_t n;

  if (y / f >= s->out->h)
    return;   /* the h % f rows past the last band */
  n = (size_t)s->out->w * f * s->ch;
  if (f == 1 && s->bgr) {
    uint8_t *d = s->out->px + (size_t)y * n;
    for (size_t i = 0; i < n; i += 3) {
      d[i] = row[i + 2]; d[i + 1] = row[i + 1]; d[i + 2] = row[i];
    }
    return;
  }
  if (f == 1) {
    memcpy(s->out->px + (size_t)y * n, row, n);
    return;
  }
  if (s->sum16)
    add_row16(s->sum16, row, n);
  else
    add_row32(s->sum, row, n);
  if (y % f == f - 1)
    shrink_emit(s, y / f);
}

void codec_shrink_end(struct codec_shrink *s)
{
  free(s->sum);
  free(s->sum16);
  s->sum = NULL;
  s->sum16 = NULL;
}
