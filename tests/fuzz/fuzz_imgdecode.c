/* fuzz_imgdecode.c - every image format's header reader and full decoder
 * (imgfmt.c, imgcodec.c and the codec_*.c behind it) on arbitrary bytes:
 * full size, reduced to a small short side, with and without the EXIF
 * orientation.  A decode must either fail with one of the documented
 * errnos or return a picture of sane size, and the stream decode
 * (img_stream_open, for the layouts that stream) must give the same
 * result and pixels as img_decode: also when its callback reads come
 * short, and when the file it opened had one byte other than the bytes
 * it ends with (a file changed between the stream's open and the read).  The pixel limit of the
 * library (IMG_MAX_PIXELS) is a compile-time bomb guard far above what a
 * fuzzer should spend its time allocating, so inputs whose header
 * declares more than FZ_MAX_PIXELS are only header-read.  Seeds: small
 * variants of every format from tests/gen/mkimg in
 * tests/fuzz/corpus/imgdecode/. */
#include "fuzzlib.h"

#include "imgcodec.h"
#include "imgfmt.h"

#define FZ_MAX_PIXELS (1u << 20)

struct fz_mem {
  const uint8_t *d;
  size_t n;
};

/* The stream's view of the file: d, but with the low bit of byte `flip`
 * inverted (none when flip >= n), and every third read cut to 7 bytes
 * when `cut`. */
struct fz_view {
  const uint8_t *d;
  size_t n, flip;
  bool cut;
  unsigned reads;
};

static long fz_view_read(void *ud, uint64_t off, void *buf, size_t n)
{
  struct fz_view *v = ud;

  if (off >= v->n)
    return 0;
  if (n > v->n - off)
    n = (size_t)(v->n - off);
  if (v->cut && n > 7 && ++v->reads % 3 == 0)
    n = 7;
  memcpy(buf, v->d + off, n);
  if (v->flip >= off && v->flip - off < n)
    ((uint8_t *)buf)[v->flip - off] ^= 0x01;
  return (long)n;
}

static long fz_read(void *ud, uint64_t off, void *buf, size_t n)
{
  const struct fz_mem *m = ud;

  if (off >= m->n)
    return 0;
  if (n > m->n - off)
    n = (size_t)(m->n - off);
  memcpy(buf, m->d + off, n);
  return (long)n;
}

static void check_decode(const uint8_t *d, size_t n, int min_short,
                         unsigned flags, const struct img_info *info)
{
  struct image im;
  int fmt = -1;
  int r;

  memset(&im, 0, sizeof(im));
  r = img_decode(d, n, min_short, flags, &im, &fmt);
  if (r < 0) {
    if (r != -EBADMSG && r != -EFBIG && r != -ENOMEM)
      abort();  /* only the documented errnos */
    return;
  }
  if (im.w <= 0 || im.h <= 0 || !im.px || fmt != (int)info->format)
    abort();
  if (min_short == 0 && !(flags & IMG_DECODE_ORIENT) &&
      ((uint32_t)im.w != info->width ||
       (uint32_t)im.h != info->height))
    abort();  /* a full decode has the header's size */
  /* Touch every byte so a short buffer shows under ASan. */
  {
    unsigned sum = 0;
    size_t total = (size_t)im.w * (size_t)im.h * 3;
    for (size_t i = 0; i < total; i++)
      sum += im.px[i];
    if (sum == 0xffffffffu)
      fprintf(stderr, "%u\n", sum);
  }
  image_free(&im);
}

/* The stream decode (img_stream_open, the import's path for the layouts
 * that stream) of the bytes d, fed in pieces of `piece` bytes, must give
 * what img_decode gives on them: the same result and the same pixels,
 * whatever the stream read while it opened (fz_view: flip, cut). */
static void check_stream(const uint8_t *d, size_t n, size_t piece,
                         int min_short, unsigned flags, size_t flip, bool cut)
{
  struct fz_view m = { d, n, flip, cut, 0 };
  struct img_stream *st;
  struct image a, b;
  uint8_t *buf;
  int ra, rb;

  if (img_stream_open(n, fz_view_read, &m, min_short, flags, &st) != 0)
    return;
  if (!(buf = malloc(n ? n : 1))) {
    img_stream_free(st);
    return;
  }
  for (size_t got = 0; got < n; got += piece) {
    size_t k = n - got < piece ? n - got : piece;
    memcpy(buf + got, d + got, k);
    img_stream_data(st, buf, got + k);
  }
  rb = img_stream_end(st, buf, n, &b);
  ra = img_decode(d, n, min_short, flags, &a, NULL);
  if (ra != rb || (ra == 0 && (a.w != b.w || a.h != b.h ||
                               memcmp(a.px, b.px, (size_t)a.w * a.h * 3))))
    abort();
  image_free(&a);
  image_free(&b);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct fz_mem m = { data, size };
  struct img_src src = { data, size < 64 ? size : 64, size, fz_read, &m };
  struct img_info info;
  const char *reason = NULL;
  int r = img_header_read(&src, &info, &reason);

  if (r < 0 && !reason)
    abort();  /* every refusal has its reason */
  if (r < 0)
    return 0;
  if (info.width == 0 || info.height == 0)
    abort();
  if ((uint64_t)info.width * info.height > FZ_MAX_PIXELS)
    return 0;
  check_decode(data, size, 0, 0, &info);
  check_decode(data, size, 0, IMG_DECODE_ORIENT, &info);
  check_decode(data, size, 8, 0, &info);
  check_decode(data, size, 8, IMG_DECODE_ORIENT, &info);
  check_stream(data, size, 1 + size % 997, 8, IMG_DECODE_ORIENT, SIZE_MAX,
               false);
  check_stream(data, size, size, 0, 0, SIZE_MAX, true);
  /* One bit changed under the stream, at a few places that follow from
   * the size (in pixels, a header or a directory): the result is still
   * img_decode's of the bytes the stream ends with. */
  for (size_t k = 1; k <= 9; k += 2)
    check_stream(data, size, 4096, 8, 0,
                 k < 9 ? size / 8 * k + k : size - 1 - size % 64, k == 3);
  return 0;
}
