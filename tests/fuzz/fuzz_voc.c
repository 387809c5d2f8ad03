/* fuzz_voc.c - one Pascal VOC annotation file, Annotations/img_000000.xml,
 * imported through limport_run() (the folder layout VOC uses). */
#include "fuzzlib.h"

#include "labelimport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct limport_stats st;
  char err[256];

  fz_file("voc/Annotations/img_000000.xml", data, size);
  limport_run(fz_store(), LIMPORT_VOC, fz_path("voc"), NULL, IMG_FRAME_AUTO, NULL,
              NULL, err, sizeof(err), &st);
  return 0;
}
