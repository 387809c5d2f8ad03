/* views.h - the view cache: the current list of each computed view of
 * views/, shared by reference.  No FUSE here: fs/prov_views.c turns the
 * lists into directories.
 *
 *   VIEW_UNIQUE           find_unique(unique.count) over the embeddings,
 *                         most unique first (uniqueness.h, similarity.h)
 *   VIEW_NEARDUP          near-duplicate groups: same content hash, or
 *                         embeddings within neardup.threshold (neardup.h)
 *   VIEW_DUPES            samples with a pair of boxes whose IoU exceeds
 *                         dupes.iou (maxiou.h), per label field
 *
 * The lists themselves are struct view_list (viewlist.h), computed by
 * viewcompute.h.  The evaluation views (mistakes, possible-missing,
 * possible-spurious) are not cached here: they are ranked lists stored
 * by evalrun.h.  Selections by name ("views/<v>", "tags/<t>") are
 * selection.h.
 *
 * Caching: the embedding-based views are recomputed only when the
 * embeddings or their settings change (a fingerprint of the embedding
 * set), the label-based one when the store version changes.  The
 * fingerprint of a view's inputs is taken once per store version.
 *
 * Ownership and locking: struct views owns one reference to the current
 * list of each view (a slot) and shares it: views_get() hands out a new
 * reference, which the caller drops with view_list_put().  One mutex
 * (views.mu) guards every slot field; it is never held while computing
 * or while calling into the store, and debug builds assert it is held
 * where slot fields change.  Computation runs in the caller's thread,
 * one computation per view at a time: others wait for it on a condition
 * variable, and its progress is readable (views_progress) for `status`.
 * views_free() must come after every other use has returned.
 */
#ifndef CURATE_VIEWS_H
#define CURATE_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"
#include "viewcompute.h"
#include "viewlist.h"

struct views;

/* Kind of a computed view from its directory name ("unique",
 * "near-duplicates", "dupes", a trailing '/' allowed); -ENOENT for
 * another name. */
int views_kind_parse(const char *name, enum view_kind *ret);
/* The names of every view (views/<name>/), evaluation views included, in
 * this order: the enum view_kind ones, then "mistakes",
 * "possible-missing", "possible-spurious" (VIEWS_EVAL_FIRST on).  Static,
 * borrowed. */
const char *const *views_all_names(size_t *ret_n);
#define VIEWS_EVAL_FIRST VIEW_KINDS

int views_new(struct store *s, struct views **ret);
void views_free(struct views *v);
/* Whether lists computed from now on are written to the store's folder
 * for later processes (viewsave.h); on by default.  Off for a reader that
 * promised not to write (`curate table --read-only`): lists kept there
 * are still read.  Call before the first views_get*(). */
void views_keep(struct views *v, bool on);
/* The store the cache computes from (borrowed). */
struct store *views_store(const struct views *v);

/* The current list of a view, computed if needed, as the read or write
 * transaction t sees the store.  Returns a reference in *ret (drop it
 * with view_list_put()) or -errno. */
int views_get_txn(struct views *v, struct store_txn *t, enum view_kind kind,
                  struct view_list **ret);
/* The same in a read transaction of its own. */
int views_get(struct views *v, enum view_kind kind, struct view_list **ret);

/* Makes every computation running now or later give up: the exact k-NN
 * under it returns -ECANCELED within one tile, and so does views_get().
 * For shutdown: an exact k-NN over 100,000 samples runs for minutes, and
 * unmount waits for the thread computing ahead (fs/warm.c).  Cannot be
 * undone. */
void views_stop(struct views *v);

/* The flag views_stop() raises (read it atomically; valid until
 * views_free()), for computations beside the views that must give up with
 * them: the map of plots/ (nemb_opts.stop). */
const int *views_stop_flag(const struct views *v);

/* One line of progress per view for `status`. */
void views_progress(struct views *v, struct buf *out);

#endif
