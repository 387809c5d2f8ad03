/* viewcompute.h - computing the lists of views/ from the store: what the
 * view cache (views.h) runs when a view's inputs changed.
 *
 *   viewcompute_unique   find_unique(unique.count) over the embeddings,
 *                        representatives of near-copy groups first
 *   viewcompute_neardup  near-duplicate groups: equal content hashes or
 *                        embeddings within neardup.threshold
 *   viewcompute_dupes    samples with two boxes of a field whose IoU
 *                        exceeds dupes.iou (maxiou.h)
 *
 * Each fills a fresh list (viewlist.h) owned by the caller, reading only
 * through the caller's transaction t.  Progress goes to the counters of
 * struct viewcompute_progress, written under its mutex, which the caller
 * (the view cache) owns and never holds while calling in here.
 */
#ifndef CURATE_VIEWCOMPUTE_H
#define CURATE_VIEWCOMPUTE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "viewlist.h"

enum view_kind { VIEW_UNIQUE, VIEW_NEARDUP, VIEW_DUPES, VIEW_KINDS };

/* The lists kept between processes (viewsave.h) are taken only from the
 * same inputs and this same number: raise it with any change here or in
 * what these functions call (neardup.h, uniqueness.h, similarity.h,
 * imgverify.h's check) that can give another list from the same
 * inputs. */
#define VIEWCOMPUTE_VERSION 1

/* Where a computation reports how far it got (for `status`). */
struct viewcompute_progress {
  pthread_mutex_t *mu;   /* guards done and total; not held by callers */
  uint64_t *done, *total;
  /* NULL, or a flag read atomically during the k-NN (knn_opts.stop): once
   * nonzero the computation returns -ECANCELED within one tile. */
  const int *stop;
};

/* near: the near-duplicate view's list (indexed, as the view cache keeps
 * it), whose groups make the tiers; NULL computes them here. */
int viewcompute_unique(struct store_txn *t,
                       const struct viewcompute_progress *p,
                       const struct view_list *near, struct view_list *out);
int viewcompute_neardup(struct store_txn *t,
                        const struct viewcompute_progress *p,
                        struct view_list *out);
/* What viewcompute_dupes() keeps between its runs: each sample's verdict
 * with the labels_version it was drawn from, in sample-id order, and the
 * dupes.* settings they hold under.  A run reads the labels only of the
 * samples whose labels_version moved, so a label edit next to thousands
 * of samples costs one sample's work, not a walk over every label.
 * Zero-initialise; owned by the caller (the view cache), used by one
 * computation at a time; free with dupes_memo_free(). */
struct dupes_verdict {
  uint64_t id, labels_version;
  bool dupes;
};
struct dupes_memo {
  uint64_t settings;       /* fingerprint of the dupes.* settings */
  size_t n;
  struct dupes_verdict *v; /* in sample-id order */
};
void dupes_memo_free(struct dupes_memo *m);

/* memo may be NULL (every sample's labels are read). */
int viewcompute_dupes(struct store_txn *t,
                      const struct viewcompute_progress *p,
                      struct dupes_memo *memo, struct view_list *out);

/* Fingerprint of what both embedding views are computed from, as t sees
 * it: the feature and thumbnail records (keys, sizes, heads; imported
 * embeddings by the stamp of their import), and each sample's missing
 * flag, content hash, size and mtime; not labels, tags or names.  A walk
 * over every sample and record (O(samples)): the caller keeps it per
 * store version.  0 or -errno. */
int viewcompute_embedding_fp(struct store_txn *t, uint64_t *ret);

/* Fingerprint of a view's inputs as t sees them: the list must be
 * recomputed when it changes.  The embedding views mix emb (from
 * viewcompute_embedding_fp()) with their settings; the dupes view uses
 * the store version (emb unused). */
int viewcompute_inputs_fp(struct store_txn *t, enum view_kind k,
                          uint64_t emb, uint64_t *ret);

#endif
