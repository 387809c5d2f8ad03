/* fuzz_store_records.c - the store's record decoders (sample, tag, label
 * field, class name) on arbitrary bytes, through store_record_check(),
 * which decodes exactly as the readers do.  Byte 0 picks the table, byte
 * 1 the key length; the rest is key then value. */
#include "fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const tables[] = { "samples", "tagids", "labels",
                                        "classids" };
  const char *table;
  size_t kl;

  if (size < 2)
    return 0;
  table = tables[data[0] % 4];
  kl = data[1] % 17;
  if (kl > size - 2)
    kl = size - 2;
  store_record_check(table, data + 2, kl, data + 2 + kl, size - 2 - kl);
  return 0;
}
