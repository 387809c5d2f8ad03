/* fuzz_config.c - a document written to the mount's `config` file:
 * config_apply() in a write transaction that is aborted afterwards. */
#include "fuzzlib.h"

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct store_txn *t;
  unsigned changed = 0;
  char err[256];

  if (store_txn_begin(fz_store(), true, &t) < 0)
    abort();
  if (config_apply(t, (const char *)data, size, err, sizeof(err),
                   &changed) < 0 && !err[0])
    abort();  /* a refusal names its line */
  store_txn_abort(t);
  config_secret_clear();
  return 0;
}
