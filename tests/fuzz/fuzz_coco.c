/* fuzz_coco.c - a COCO detection document imported into a label field of
 * a real store (coco_import_txn), in a write transaction that is aborted
 * afterwards so every input starts from the same store. */
#include "fuzzlib.h"

#include "coco.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct store_txn *t;
  struct coco_stats st = { 0 };

  if (store_txn_begin(fz_store(), true, &t) < 0)
    abort();
  coco_import_txn(t, (const char *)data, size, "fuzz.json", "ground_truth",
                  NULL, NULL, NULL, &st);
  store_txn_abort(t);
  return 0;
}
