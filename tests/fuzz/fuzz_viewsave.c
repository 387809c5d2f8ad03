/* fuzz_viewsave.c - a file of views.<view>.cache in the store's folder
 * (viewsave.h): viewsave_parse() with the view and fingerprint the input
 * itself names, so that inputs reach past the header; a list it accepts
 * is indexed and every lookup a reader makes is tried. */
#include "fuzzlib.h"

#include "viewsave.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct view_list *l;
  uint64_t fp = 0;
  double secs;
  enum view_kind kind = VIEW_UNIQUE;

  if (size >= 40) {
    memcpy(&fp, data + 32, 8);
    kind = (enum view_kind)(data[24] % VIEW_KINDS);
  }
  if (viewsave_parse(data, size, kind, fp, &l, &secs) < 0)
    return 0;
  if (view_list_index(l) < 0)
    abort();
  for (size_t i = 0; i < l->n; i++)
    if (view_list_find(l, l->items[i].sample_id) < 0)
      abort();
  for (size_t i = 0; i < l->n_scored; i++) {
    double s, d;
    if (view_list_score(l, l->scored_ids[i], &s, &d) < 0)
      abort();
    for (size_t j = 0; j < l->nbr_k; j++) {
      uint32_t k = l->nbr[i * l->nbr_k + j];
      if (k != UINT32_MAX && k >= l->n_scored)
        abort();
    }
  }
  if (!memchr(l->note, '\0', sizeof(l->note)))
    abort();
  view_list_put(l);
  return 0;
}
