/* fuzz_viewsave.c - a file of views.<view>.cache in the store's folder
 * (viewsave.h): viewsave_parse() with the view and fingerprint the input
 * itself names, so that inputs reach past the header; a list it accepts
 * is indexed and every lookup a reader makes is tried. */
#include "fuzzlib.h"

#include "viewsave.h"

/* Inputs whose byte 271 (the note's last, NUL in real files) is odd get
 * this build's name and VIEWCOMPUTE_VERSION in their header (the seeds
 * come from another build) and their last 8 bytes made the checksum of
 * the rest, which random mutation never hits; the others are parsed as
 * they are. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct view_list *l;
  uint64_t fp = 0;
  double secs;
  enum view_kind kind = VIEW_UNIQUE;
  uint8_t *b = malloc(size ? size : 1);
  int r;

  if (!b)
    return 0;
  memcpy(b, data, size);
  if (size >= 40) {
    memcpy(&fp, b + 32, 8);
    kind = (enum view_kind)(b[24] % VIEW_KINDS);
  }
  if (size >= 312 && (b[271] & 1)) {
    uint32_t cv = VIEWCOMPUTE_VERSION;
    char id[32];
    viewsave_build_id(id);
    memcpy(b + 272, id, 32);
    memcpy(b + 28, &cv, 4);
    uint64_t sum = viewsave_checksum(b, size - 8);
    memcpy(b + size - 8, &sum, 8);
  }
  r = viewsave_parse(b, size, kind, fp, &l, &secs);
  free(b);
  if (r < 0)
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
