/* fuzz_voc.c - one XML document imported through limport_run() twice:
 * as a Pascal VOC annotation file (Annotations/img_000000.xml, the
 * folder layout VOC uses) and as CVAT's annotations.xml ("CVAT for
 * images 1.1", read element by element). */
#include "fuzzlib.h"

#include "labelimport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct limport_stats st;
  char err[256];

  fz_file("voc/Annotations/img_000000.xml", data, size);
  limport_run(fz_store(), LIMPORT_VOC, fz_path("voc"), NULL, IMG_FRAME_AUTO,
              LIMPORT_CVAT_ZIP, NULL, NULL, err, sizeof(err), &st);
  fz_file("cvat/annotations.xml", data, size);
  limport_run(fz_store(), LIMPORT_CVAT_XML, fz_path("cvat/annotations.xml"),
              NULL, IMG_FRAME_AUTO, LIMPORT_CVAT_ZIP, NULL, NULL, err,
              sizeof(err), &st);
  return 0;
}
