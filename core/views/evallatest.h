/* evallatest.h - which stored evaluation is "the latest": the one the
 * evaluation views (views/mistakes, possible-missing, possible-spurious),
 * the eval_* columns of the sample table and their selections show.  The
 * latest is the one created last (evalrun_info.created_ns; a tie goes to
 * the later name).
 *
 * Ownership: out is the caller's buffer.  Locking: none; a transaction
 * belongs to one thread.
 */
#ifndef CURATE_EVALLATEST_H
#define CURATE_EVALLATEST_H

#include <stddef.h>

#include "store.h"

/* Name of the most recently created evaluation as t sees the store;
 * -ENOENT if there is none. */
int evallatest_name(struct store_txn *t, char *out, size_t outlen);
/* The same in a read transaction of its own. */
int evallatest_find(struct store *s, char *out, size_t outlen);

#endif
