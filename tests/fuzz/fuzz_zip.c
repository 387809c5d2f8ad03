/* fuzz_zip.c - the ZIP reader (core/formats/zipread.c) on an archive file: open,
 * list, read every member with a cap. */
#include "fuzzlib.h"

#include "util.h"
#include "zipread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct zipr *z;
  struct buf b;

  if (zipr_open(fz_file("in.zip", data, size), &z) < 0)
    return 0;
  buf_init(&b, 1u << 20);
  for (size_t i = 0; i < zipr_count(z); i++) {
    const char *name = zipr_name(z, i);
    if (!name)
      abort();
    buf_reset(&b);
    zipr_read(z, i, 1u << 20, &b);
  }
  buf_free(&b);
  zipr_close(z);
  return 0;
}
