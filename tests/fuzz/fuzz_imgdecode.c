/* fuzz_imgdecode.c - every image format's header reader and full decoder
 * (imgfmt.c, imgcodec.c and the codec_*.c behind it) on arbitrary bytes:
 * full size, reduced to a small short side, with and without the EXIF
 * orientation.  A decode must either fail with one of the documented
 * errnos or return a picture of sane size.  The pixel limit of the
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
  return 0;
}
