/* fuzz_zip.c - the ZIP reader (core/formats/zipread.c) on an archive file:
 * open, list, read every member with a cap into memory and inflate it
 * into a file with no name (zipr_extract, as label imports read CVAT's
 * XML and COCO JSON): where both succeed the bytes are the same. */
#include "fuzzlib.h"

#include <string.h>
#include <unistd.h>

#include "util.h"
#include "zipread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int fd = -1;   /* one file for the whole run, emptied per member */
  struct zipr *z;
  struct buf b;

  if (fd < 0 && (fd = tmpfile_anon()) < 0)
    abort();
  if (zipr_open(fz_file("in.zip", data, size), &z) < 0)
    return 0;
  buf_init(&b, 1u << 20);
  for (size_t i = 0; i < zipr_count(z); i++) {
    const char *name = zipr_name(z, i);
    uint8_t *got = NULL;
    size_t n = 0;
    int r, e;
    if (!name)
      abort();
    buf_reset(&b);
    r = zipr_read(z, i, 1u << 20, &b);
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
      abort();
    e = zipr_extract(z, i, 1u << 20, fd);
    if ((r == 0) != (e == 0))
      abort();   /* one way read it, the other did not */
    if (r == 0 && b.len) {
      if (fd_read_all(fd, &got, &n) < 0 || n != b.len ||
          memcmp(got, b.data, n) != 0)
        abort();
      free(got);
    }
  }
  buf_free(&b);
  zipr_close(z);
  return 0;
}
