/* fuzz_imghdr.c - the image header readers on the first bytes of a file.
 * Each reader is one row of `readers`; a new format's header reader is
 * one more row (and a few seed files in tests/fuzz/corpus/imghdr/). */
#include "fuzzlib.h"

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

static const struct {
  const char *name;
  void (*fn)(const uint8_t *d, size_t n);
} readers[] = {
  { "jpeg", jpeg },
  { "exif", exif },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  for (size_t i = 0; i < sizeof(readers) / sizeof(readers[0]); i++)
    readers[i].fn(data, size);
  return 0;
}
