/* viewlist.c - building, sharing and searching the lists of views/ (see
 * viewlist.h).  Pure data structure: no store, no settings. */
#define _GNU_SOURCE   /* qsort_r */
#include "viewlist.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

struct view_list *view_list_new(void)
{
  struct view_list *l = calloc(1, sizeof(*l));

  if (l)
    l->refs = 1;
  return l;
}

void view_list_free(struct view_list *l)
{
  if (!l)
    return;
  free(l->items);
  free(l->by_sample);
  free(l->pos);
  free(l->scored_ids);
  free(l->score);
  free(l->nn_dist);
  free(l->nbr);
  free(l);
}

void view_list_ref(struct view_list *l)
{
  unsigned old = __atomic_fetch_add(&l->refs, 1, __ATOMIC_ACQ_REL);

  assert(old > 0 && "a reference taken on a freed view list");
  (void)old;
}

void view_list_put(struct view_list *l)
{
  unsigned old;

  if (!l)
    return;
  old = __atomic_fetch_sub(&l->refs, 1, __ATOMIC_ACQ_REL);
  assert(old > 0 && "view list reference count below zero");
  if (old == 1)
    view_list_free(l);
}

int view_list_add(struct view_list *l, size_t *cap, uint64_t sid,
                  uint32_t rank)
{
  if (l->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    struct view_item *ni = realloc(l->items, nc * sizeof(*ni));
    if (!ni)
      return -ENOMEM;
    l->items = ni;
    *cap = nc;
  }
  l->items[l->n].sample_id = sid;
  l->items[l->n].rank = rank;
  l->n++;
  return 0;
}

static int cmp_pos(const void *a, const void *b, void *ud)
{
  const struct view_list *l = ud;
  uint64_t x = l->items[*(const uint32_t *)a].sample_id;
  uint64_t y = l->items[*(const uint32_t *)b].sample_id;

  return x < y ? -1 : x > y;
}

int view_list_index(struct view_list *l)
{
  if (l->n == 0)
    return 0;
  l->pos = malloc(l->n * sizeof(*l->pos));
  l->by_sample = malloc(l->n * sizeof(*l->by_sample));
  if (!l->pos || !l->by_sample)
    return -ENOMEM;
  for (size_t i = 0; i < l->n; i++)
    l->pos[i] = (uint32_t)i;
  qsort_r(l->pos, l->n, sizeof(*l->pos), cmp_pos, l);
  for (size_t i = 0; i < l->n; i++)
    l->by_sample[i] = l->items[l->pos[i]].sample_id;
  return 0;
}

ptrdiff_t view_list_find(const struct view_list *l, uint64_t sid)
{
  size_t lo = 0, hi = l->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (l->by_sample[mid] < sid)
      lo = mid + 1;
    else if (l->by_sample[mid] > sid)
      hi = mid;
    else
      return (ptrdiff_t)l->pos[mid];
  }
  return -1;
}

int view_list_score(const struct view_list *l, uint64_t sid,
                    double *ret_score, double *ret_nn_dist)
{
  size_t lo = 0, hi = l->n_scored;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (l->scored_ids[mid] < sid) {
      lo = mid + 1;
    } else if (l->scored_ids[mid] > sid) {
      hi = mid;
    } else {
      *ret_score = l->score[mid];
      *ret_nn_dist = l->nn_dist[mid];
      return 0;
    }
  }
  return -ENOENT;
}
