/* fuzz_yolo.c - a YOLO folder through limport_run(): the input up to
 * the first line "---" is data.yaml, the rest labels/img_000000.txt (no
 * separator: the whole input is the txt file, with a fixed data.yaml). */
#include "fuzzlib.h"

#include "labelimport.h"

static const uint8_t *find_sep(const uint8_t *d, size_t n)
{
  for (size_t i = 0; i + 4 <= n; i++)
    if ((i == 0 || d[i - 1] == '\n') && memcmp(d + i, "---\n", 4) == 0)
      return d + i;
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char yaml[] = "names:\n  0: cat\n  1: dog\n";
  const uint8_t *sep = find_sep(data, size);
  struct limport_stats st;
  char err[256];

  if (sep) {
    fz_file("yolo/data.yaml", data, (size_t)(sep - data));
    fz_file("yolo/labels/img_000000.txt", sep + 4,
            size - (size_t)(sep - data) - 4);
  } else {
    fz_file("yolo/data.yaml", (const uint8_t *)yaml, sizeof(yaml) - 1);
    fz_file("yolo/labels/img_000000.txt", data, size);
  }
  limport_run(fz_store(), LIMPORT_YOLO, fz_path("yolo"), NULL, IMG_FRAME_AUTO,
              LIMPORT_CVAT_ZIP, NULL, NULL, err, sizeof(err), &st);
  return 0;
}
