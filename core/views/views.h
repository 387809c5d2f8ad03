/* views.h - the content of views/: which samples each view lists, in which
 * order, computed from the store.  No FUSE here: fs/prov_views.c turns the
 * lists into directories.
 *
 *   VIEW_UNIQUE           find_unique(unique.count) over the embeddings,
 *                         most unique first (uniqueness.h, similarity.h)
 *   VIEW_NEARDUP          near-duplicate groups: same content hash, or
 *                         embeddings within neardup.threshold (neardup.h)
 *   VIEW_DUPES            samples with a pair of boxes whose IoU exceeds
 *                         dupes.iou (iou.h), per label field
 *
 * Results are cached in struct views and shared by reference: the
 * embedding-based views are recomputed only when the embeddings or their
 * settings change (a fingerprint of the embedding set), the label-based
 * one when the store version changes.  Computation runs in the caller's
 * thread, one computation per view at a time; others wait for it, and its
 * progress is readable (views_progress) for `status`.
 */
#ifndef CURATE_VIEWS_H
#define CURATE_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

enum view_kind { VIEW_UNIQUE, VIEW_NEARDUP, VIEW_DUPES, VIEW_KINDS };

struct view_item {
  uint64_t sample_id;
  uint32_t rank;        /* 1-based rank (unique) or group number (neardup);
                           0 for dupes */
};

/* A computed list (shared, read-only, reference-counted). */
struct view_list {
  unsigned refs;
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
};

struct views;

/* Directory name of a view ("unique", "near-duplicates", "dupes") and
 * back; -ENOENT for an unknown name. */
const char *views_kind_name(enum view_kind k);
int views_kind_parse(const char *name, enum view_kind *ret);
/* The names of every view (views/<name>/), evaluation views included:
 * what views_selection() takes after "views/".  Static, borrowed. */
const char *const *views_all_names(size_t *ret_n);

int views_new(struct store *s, struct views **ret);
void views_free(struct views *v);

/* The current list of a view (computed if needed).  Returns a reference
 * in *ret (view_list_put() when done) or -errno. */
int views_get(struct views *v, enum view_kind kind, struct view_list **ret);
void view_list_put(struct view_list *l);
/* Index of a sample in the list, or -1. */
ptrdiff_t view_list_find(const struct view_list *l, uint64_t sample_id);
/* A VIEW_UNIQUE list's score and nearest-neighbour distance of a sample;
 * -ENOENT when it has no embedding (or l is another view's list). */
int view_list_score(const struct view_list *l, uint64_t sample_id,
                    double *ret_score, double *ret_nn_dist);

/* Sample ids of a selection named as in the mount: "samples", "tags/<t>"
 * or "views/<v>" for every view, including the evaluation views
 * "mistakes", "possible-missing" and "possible-spurious" of the latest
 * evaluation (re-run first if its labels changed).  Views come in their
 * listed order, the others by id; missing samples are left out.  *ret is
 * owned by the caller (NULL with *ret_n 0 for an empty selection).
 * -ENOENT for an unknown tag, view or form; err gets a reason. */
int views_selection(struct views *v, const char *spec, uint64_t **ret,
                    size_t *ret_n, char *err, size_t errlen);

/* Name of the most recently created evaluation; -ENOENT if none. */
int views_eval_latest(struct store *s, char *out, size_t outlen);

/* One line of progress per view for `status`. */
void views_progress(struct views *v, struct buf *out);

/* The duplicate box pairs of one sample under the current settings:
 * for each box of `l` whose max IoU with another box of its field exceeds
 * the threshold, dup[i] = true (fields flattened in order).  With ret_iou
 * (may be NULL) also the max IoU of every box, owned by the caller.  Also
 * used to draw views/dupes images. */
struct labels;
int views_dupe_flags(struct store_txn *t, const struct labels *l,
                     bool **ret_flags, double **ret_iou, size_t *ret_n);

/* Max IoU of every box with another box of its field, and that partner's
 * label id, under the current settings (dupes.classes); IOU_NONE (-1) and
 * 0 when a field has fewer than two boxes.  Arrays are flattened over the
 * fields in order, owned by the caller. */
int views_max_iou(struct store_txn *t, const struct labels *l,
                  double **ret_iou, uint64_t **ret_partner, size_t *ret_n);

#endif
