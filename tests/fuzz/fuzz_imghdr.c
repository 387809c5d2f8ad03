/* fuzz_imghdr.c - the image header readers on the first bytes of a file.
 * Each reader is one row of `readers`; a new format's header reader is
 * one more row (and a few seed files in tests/fuzz/corpus/imghdr/). */
#include "fuzzlib.h"

#include "imgfmt.h"
#include "jpeghdr.h"

static void jpeg(const uint8_t *d, size_t n)
{
  struct jpeg_info ji;
  size_t need = 0;
  const char *reason = NULL;
  int r = jpeg_header_parse(d, n, &ji, &need, &reason);

  if (r == -EBADMSG && !reason)
    abort();  /* every refusal has its reason */
  if (r == 0 && (ji.width == 0 || ji.height == 0 || ji.scan_offset > n))
    abort();
  jpeg_tail_has_eoi(d, n);
  jpeg_scan_has_eoi(d, n);
}

/* An EXIF block (TIFF structure) read for its Orientation as Pillow reads
 * it: always 1..8. */
static void exif(const uint8_t *d, size_t n)
{
  uint8_t o = jpeg_tiff_orientation(d, n);

  if (o < 1 || o > 8)
    abort();
}

/* The whole header read of every format (imgfmt.h) on the input as a
 * file: its first 4 KiB in hand, the rest read on demand, as the import
 * hands a file over (the PNG tail walk, a TIFF directory past the head,
 * WebP chunks). */
static const uint8_t *file_p;
static size_t file_n;

static long file_read(void *ud, uint64_t off, void *buf, size_t n)
{
  (void)ud;
  if (off >= file_n)
    return 0;
  if (n > file_n - off)
    n = file_n - (size_t)off;
  memcpy(buf, file_p + off, n);
  return (long)n;
}

static void header(const uint8_t *d, size_t n)
{
  struct img_src s = { d, n < 4096 ? n : 4096, n, file_read, NULL };
  struct img_info in;
  const char *reason = NULL;
  int r;

  file_p = d;
  file_n = n;
  r = img_header_read(&s, &in, &reason);
  if (r < 0 && !reason)
    abort();  /* every refusal has its reason */
  if (r == 0 && (in.orientation < 1 || in.orientation > 8))
    abort();
}

static const struct {
  const char *name;
  void (*fn)(const uint8_t *d, size_t n);
} readers[] = {
  { "jpeg", jpeg },
  { "exif", exif },
  { "header", header },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  for (size_t i = 0; i < sizeof(readers) / sizeof(readers[0]); i++)
    readers[i].fn(data, size);
  return 0;
}
