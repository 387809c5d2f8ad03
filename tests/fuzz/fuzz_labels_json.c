/* fuzz_labels_json.c - labels/<name>.json as a user writes it: parsed and
 * validated by labels_from_json(); what it accepts (once the store would
 * have numbered its new boxes) must render and parse back to the same
 * document. */
#include "fuzzlib.h"

#include "labels.h"
#include "labels_json.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct labels l, again;
  struct buf out, out2;
  char err[256];

  if (labels_from_json((const char *)data, size, 640, 480, &l, err,
                       sizeof(err)) < 0)
    return 0;
  /* The store numbers new boxes; rendered documents always carry ids. */
  for (size_t i = 0, id = 1; i < l.n; i++)
    for (size_t j = 0; j < l.f[i].n; j++)
      if (!l.f[i].d[j].id)
        l.f[i].d[j].id = 1000000 + id++;
  buf_init(&out, 64u << 20);
  buf_init(&out2, 64u << 20);
  if (labels_to_json(&l, "img", 640, 480, &out) == 0) {
    if (labels_from_json(out.data, out.len, 640, 480, &again, err,
                         sizeof(err)) < 0)
      abort();  /* what we write must read back */
    if (labels_to_json(&again, "img", 640, 480, &out2) != 0 ||
        out2.len != out.len || memcmp(out.data, out2.data, out.len) != 0)
      abort();  /* and render to the same bytes */
    labels_free(&again);
  }
  buf_free(&out);
  buf_free(&out2);
  labels_free(&l);
  return 0;
}
