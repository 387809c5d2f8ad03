/* viewlist.h - struct view_list: one computed list of views/ (which samples
 * a view shows, in which order), shared read-only by reference.
 *
 * Ownership: a list is built by one thread (viewcompute.c, through
 * view_list_new/add/index) and is immutable once published in the view
 * cache (views.c).  From then on it is shared: every holder owns one
 * reference and drops it with view_list_put(); the last put frees it.
 * The reference count is atomic, so puts need no lock; a count that would
 * go below zero is a bug and fails an assert in debug builds.
 *
 * Lookups (view_list_find, view_list_score) read only immutable fields and
 * need no lock.
 */
#ifndef CURATE_VIEWLIST_H
#define CURATE_VIEWLIST_H

#include <stddef.h>
#include <stdint.h>

struct view_item {
  uint64_t sample_id;
  uint32_t rank;        /* 1-based rank (unique) or group number (neardup);
                           0 for dupes */
};

/* A computed list (shared, read-only, reference-counted). */
struct view_list {
  unsigned refs;        /* atomic; see the ownership note above */
  uint64_t key;         /* changes whenever the content may have changed */
  size_t n;
  struct view_item *items;   /* in listing order */
  uint64_t *by_sample;       /* sorted sample ids ... */
  uint32_t *pos;             /* ... and their index in items */
  char note[200];            /* why the list is empty, if it is */
  /* VIEW_UNIQUE only: every sample with an embedding (not only the listed
   * ones), in id order, with its uniqueness score and the distance to its
   * nearest neighbour (NaN when there are too few samples for a k-NN).
   * The per-sample table (table.h) and the xattrs show these. */
  size_t n_scored;
  uint64_t *scored_ids;
  double *score;
  float *nn_dist;
  /* ... and the first nbr_k entries of each one's k-NN list (rows of
   * scored_ids, SIM_NONE where fewer exist): the graph the map of
   * plots/embeddings.jpg is laid out on.  NULL, nbr_k 0 for <= 3 rows. */
  uint32_t *nbr;
  size_t nbr_k;
};

/* ---- building (one thread, before the list is shared) ---- */

/* A new empty list holding one reference; NULL when out of memory. */
struct view_list *view_list_new(void);
/* Appends an item; *cap is the caller's record of the items' capacity. */
int view_list_add(struct view_list *l, size_t *cap, uint64_t sample_id,
                  uint32_t rank);
/* Builds the sample -> position index view_list_find() uses. */
int view_list_index(struct view_list *l);
/* Frees a list that was never shared (any reference count). */
void view_list_free(struct view_list *l);

/* ---- shared use ---- */

/* Takes one more reference (the caller already holds one, or holds the
 * lock of the cache that does). */
void view_list_ref(struct view_list *l);
/* Drops one reference; frees the list with the last.  NULL is a no-op. */
void view_list_put(struct view_list *l);
/* Index of a sample in the list, or -1. */
ptrdiff_t view_list_find(const struct view_list *l, uint64_t sample_id);
/* A VIEW_UNIQUE list's score and nearest-neighbour distance of a sample;
 * -ENOENT when it has no embedding (or l is another view's list). */
int view_list_score(const struct view_list *l, uint64_t sample_id,
                    double *ret_score, double *ret_nn_dist);

#endif
