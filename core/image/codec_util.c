/* codec_util.c - helpers the per-format decoders share (codec_i.h).  They
 * sit below the codecs and imgcodec.c, so no codec calls back into the
 * facade that dispatches to it.  Most of the file is the averaging down
 * (codec_shrink), whose kernels are vectorised: for an uncompressed TIFF
 * or BMP it is most of the decode. */
#include "codec_i.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define CODEC_X86 1
#include <immintrin.h>
#else
#define CODEC_X86 0
#endif

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
  size_t n;
  int r;

  memset(s, 0, sizeof(*s));
  if (f < 1 || w < f || h < f || ch < 1)
    return -EINVAL;
  if ((r = image_alloc(out, w / f, h / f, ch)) < 0)
    return r;
  n = (size_t)(w / f) * f * ch;
  if (f > 1 && f <= 257)
    s->sum16 = malloc(n * sizeof(*s->sum16));
  else if (f > 1)
    s->sum = malloc(n * sizeof(*s->sum));
  if (f > 1 && f <= 16 && ch <= 16)
    s->blk16 = malloc(n * sizeof(*s->blk16));
  if (f > 1 && ((!s->sum16 && !s->sum) ||
                (f <= 16 && ch <= 16 && !s->blk16))) {
    codec_shrink_end(s);
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

/* The band kernels below come twice: in portable C with GCC's vector
 * types (memcpy makes the unaligned loads and stores), and written out
 * for AVX2, taken at run time where the processor has it
 * (__builtin_cpu_supports), 16 lanes of 16 bits per add. */
typedef uint8_t codec_v16b __attribute__((vector_size(16)));
typedef uint16_t codec_v16w __attribute__((vector_size(32)));

/* Block sums of small blocks (f <= 16: at most 255 * 16 * 16 < 2^16,
 * so they stay in 16 bits): t[i] = s[i] + s[i + ch] + ... +
 * s[i + (f - 1) * ch] for every i < m, 16 neighbouring i at a time in a
 * register.  Only every f-th pixel's sums are wanted, but a pass over a
 * band that sits in the first level cache costs far less than the
 * strided scalar adds that would pick just those. */
static void block_sums16_c(uint16_t *restrict t, const uint16_t *restrict s,
                           size_t m, size_t ch, int f, size_t i)
{
  for (; i + 16 <= m; i += 16) {
    codec_v16w a, b;
    memcpy(&a, s + i, sizeof(a));
    for (int j = 1; j < f; j++) {
      memcpy(&b, s + i + j * ch, sizeof(b));
      a += b;
    }
    memcpy(t + i, &a, sizeof(a));
  }
  for (; i < m; i++) {
    uint16_t a = 0;
    for (int j = 0; j < f; j++)
      a = (uint16_t)(a + s[i + j * ch]);
    t[i] = a;
  }
}

#if CODEC_X86
__attribute__((target("avx2")))
static void block_sums16_avx2(uint16_t *restrict t,
                              const uint16_t *restrict s, size_t m,
                              size_t ch, int f)
{
  size_t i = 0;

  for (; i + 32 <= m; i += 32) {
    const uint16_t *q = s + i;
    __m256i a0 = _mm256_loadu_si256((const __m256i *)q);
    __m256i a1 = _mm256_loadu_si256((const __m256i *)(q + 16));
    for (int j = 1; j < f; j++) {
      q += ch;
      a0 = _mm256_add_epi16(a0, _mm256_loadu_si256((const __m256i *)q));
      a1 = _mm256_add_epi16(a1,
                            _mm256_loadu_si256((const __m256i *)(q + 16)));
    }
    _mm256_storeu_si256((__m256i *)(t + i), a0);
    _mm256_storeu_si256((__m256i *)(t + i + 16), a1);
  }
  block_sums16_c(t, s, m, ch, f, i);
}
#endif

static void block_sums16(uint16_t *t, const uint16_t *s, size_t m,
                         size_t ch, int f)
{
#if CODEC_X86
  if (__builtin_cpu_supports("avx2")) {
    block_sums16_avx2(t, s, m, ch, f);
    return;
  }
#endif
  block_sums16_c(t, s, m, ch, f, 0);
}

/* The rounded mean of a block of d = f * f samples from its sum a, for
 * f <= 16 (see shrink_emit). */
static inline uint8_t mean16(uint16_t a, uint32_t half, uint64_t m)
{
  return (uint8_t)((((uint64_t)a + half) * m) >> 48);
}

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

  if (s->blk16) {   /* f <= 16, ch <= 16 */
    block_sums16(s->blk16, s->sum16, n - (size_t)(f - 1) * ch, (size_t)ch,
                 f);
    const uint16_t *t = s->blk16;
    uint32_t half = (uint32_t)(div / 2);
    if (ch == 3) {   /* RGB, or BGR turned */
      int r = s->bgr ? 2 : 0, b = 2 - r;
      for (size_t i = 0; i < n; i += step, o += 3) {
        o[r] = mean16(t[i], half, m);
        o[1] = mean16(t[i + 1], half, m);
        o[b] = mean16(t[i + 2], half, m);
      }
    } else if (ch == 1) {
      for (size_t i = 0; i < n; i += step)
        *o++ = mean16(t[i], half, m);
    } else {
      for (size_t i = 0; i < n; i += step, o += ch)
        for (int k = 0; k < ch; k++)
          o[k] = mean16(t[i + k], half, m);
    }
    return;
  }
  for (size_t i = 0; i < n; i += step, o += ch) {
    /* Blocks of f >= 1024 (a minimum short side far below the picture's:
     * f * f * 255 passes 2^32 from f = 4105 on) are summed in 64 bits,
     * and so are more than 16 channels (no such image). */
    if (ch > 16 || f >= 1024) {
      for (int k = 0; k < ch; k++) {
        uint64_t t = 0;
        for (size_t j = i + k; j < i + step; j += ch)
          t += s->sum16 ? s->sum16[j] : s->sum[j];
        o[s->bgr ? 2 - k : k] = (uint8_t)div_round(t, div, inv);
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
      o[k] = (uint8_t)(((a[k] + div / 2) * m) >> 48);
  }
}

/* Straight column sums: loops the compiler vectorises, built for AVX2
 * too (chosen at load time where the processor has it: twice the lanes
 * per add).  The first row of a band is stored rather than added, so no
 * pass clears the sums between bands. */
__attribute__((target_clones("avx2", "default")))
static void add_row16(uint16_t *restrict sum, const uint8_t *restrict row,
                      size_t n, bool first)
{
  if (first) {
    for (size_t i = 0; i < n; i++)
      sum[i] = row[i];
    return;
  }
  for (size_t i = 0; i < n; i++)
    sum[i] = (uint16_t)(sum[i] + row[i]);
}

__attribute__((target_clones("avx2", "default")))
static void add_row32(uint32_t *restrict sum, const uint8_t *restrict row,
                      size_t n, bool first)
{
  if (first) {
    for (size_t i = 0; i < n; i++)
      sum[i] = row[i];
    return;
  }
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
    add_row16(s->sum16, row, n, y % f == 0);
  else
    add_row32(s->sum, row, n, y % f == 0);
  if (y % f == f - 1)
    shrink_emit(s, y / f);
}

/* A whole band at once: sum[i] = the sum of p[i + j * stride] over its f
 * rows (f <= 257, so 16 bits hold it), each 16 columns added up in a
 * register and stored once, where add_row16 loads and stores the sums
 * again for every row. */
static void add_band16_c(uint16_t *restrict sum, const uint8_t *restrict p,
                         ptrdiff_t stride, int f, size_t n, size_t i)
{
  /* Rows are reached by stepping a pointer: stride may be negative, and
   * i + j * stride in size_t would wrap. */
  for (; i + 16 <= n; i += 16) {
    const uint8_t *q = p + i;
    codec_v16b b;
    codec_v16w a;
    memcpy(&b, q, sizeof(b));
    a = __builtin_convertvector(b, codec_v16w);
    for (int j = 1; j < f; j++) {
      q += stride;
      memcpy(&b, q, sizeof(b));
      a += __builtin_convertvector(b, codec_v16w);
    }
    memcpy(sum + i, &a, sizeof(a));
  }
  for (; i < n; i++) {
    const uint8_t *q = p + i;
    uint16_t a = *q;
    for (int j = 1; j < f; j++) {
      q += stride;
      a = (uint16_t)(a + *q);
    }
    sum[i] = a;
  }
}

#if CODEC_X86
/* The same with AVX2 written out: GCC widens a generic vector of bytes
 * through two halves and an insert, where one vpmovzxbw from memory does
 * it; two accumulators keep two additions in flight. */
__attribute__((target("avx2")))
static void add_band16_avx2(uint16_t *restrict sum, const uint8_t *restrict p,
                            ptrdiff_t stride, int f, size_t n)
{
  size_t i = 0;

  for (; i + 32 <= n; i += 32) {
    const uint8_t *q = p + i;
    __m256i a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)q));
    __m256i a1 =
        _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(q + 16)));
    for (int j = 1; j < f; j++) {
      q += stride;
      a0 = _mm256_add_epi16(a0, _mm256_cvtepu8_epi16(
                                    _mm_loadu_si128((const __m128i *)q)));
      a1 = _mm256_add_epi16(a1, _mm256_cvtepu8_epi16(_mm_loadu_si128(
                                    (const __m128i *)(q + 16))));
    }
    _mm256_storeu_si256((__m256i *)(sum + i), a0);
    _mm256_storeu_si256((__m256i *)(sum + i + 16), a1);
  }
  add_band16_c(sum, p, stride, f, n, i);
}
#endif

static void add_band16(uint16_t *sum, const uint8_t *p, ptrdiff_t stride,
                       int f, size_t n)
{
#if CODEC_X86
  if (__builtin_cpu_supports("avx2")) {
    add_band16_avx2(sum, p, stride, f, n);
    return;
  }
#endif
  add_band16_c(sum, p, stride, f, n, 0);
}

void codec_shrink_rows(struct codec_shrink *s, const uint8_t *row,
                       size_t rows, ptrdiff_t stride)
{
  int f = s->f;

  /* row only ever points at a row that is there: it is stepped before
   * use, never past the last one (a bottom-up BMP's last row is the
   * file's first). */
  while (rows > 0) {
    size_t k = 1;
    if (s->sum16 && s->y % f == 0 && rows >= (size_t)f &&
        s->y / f < s->out->h) {
      add_band16(s->sum16, row, stride, f, (size_t)s->out->w * f * s->ch);
      shrink_emit(s, s->y / f);
      s->y += f;
      k = (size_t)f;
    } else {
      codec_shrink_row(s, row);
    }
    rows -= k;
    if (rows > 0)
      row += (ptrdiff_t)k * stride;
  }
}

void codec_shrink_end(struct codec_shrink *s)
{
  free(s->sum);
  free(s->sum16);
  free(s->blk16);
  s->sum = NULL;
  s->sum16 = NULL;
  s->blk16 = NULL;
}
