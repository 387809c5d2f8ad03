/* fuzz_predictions.c - a COCO results document (a list of detections)
 * imported as predictions through pred_import(), which reads a file. */
#include "fuzzlib.h"

#include "predictions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct pred_opts o = { .format = PRED_FORMAT_COCO };
  struct pred_stats st;
  char err[256];

  pred_import(fz_store(), fz_file("results.json", data, size), &o, &st, err,
              sizeof(err));
  return 0;
}
