/* selection.h - sample ids of a selection named as in the mount:
 * "samples", "tags/<t>" or "views/<v>" for every view, including the
 * evaluation views "mistakes", "possible-missing" and "possible-spurious"
 * of the latest evaluation (evallatest.h).  What exports of a tag or view
 * (export/tags/<t>/, export/views/<v>/, `curate export --tag/--view`) and
 * CVAT pushes (`cvat/push`, `curate cvat push`) take.
 *
 * Two steps, because one of them may write:
 *
 *   selection_prepare()  brings what the selection shows up to date: for
 *                        an evaluation view, re-runs the latest evaluation
 *                        if its labels changed (evalrun_refresh_recent(),
 *                        a write transaction of its own).  Call it with no
 *                        transaction open in this thread, before the read
 *                        transaction of step 2 begins (a snapshot taken
 *                        earlier would not see the re-run).  A no-op for
 *                        other selections.
 *   selection_ids()      reads the ids within the caller's transaction t
 *                        (read or write), and only there: it never opens a
 *                        transaction of its own, so what it returns is
 *                        consistent with everything else the caller reads
 *                        through t.
 *
 * selection_get() does both with a read transaction of its own, for
 * callers (the tools) that have none.
 *
 * Order: views in their listed order, the others by id; missing samples
 * are left out.  Ownership: *ret is malloc'd and owned by the caller
 * (NULL with *ret_n 0 for an empty selection).  Locking: none of its
 * own; the view cache (views.h) locks itself.
 *
 * Errors: -ENOENT for an unknown tag, view or form of name; err (errlen
 * may be 0) gets a one-line reason.
 */
#ifndef CURATE_SELECTION_H
#define CURATE_SELECTION_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "views.h"

int selection_prepare(struct store *s, const char *spec, char *err,
                      size_t errlen);
int selection_ids(struct views *v, struct store_txn *t, const char *spec,
                  uint64_t **ret, size_t *ret_n, char *err, size_t errlen);
int selection_get(struct views *v, const char *spec, uint64_t **ret,
                  size_t *ret_n, char *err, size_t errlen);

#endif
