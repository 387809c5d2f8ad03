/* evalsel.h - which stored evaluation the mount shows, kept fresh.
 *
 * eval/<name>/ shows any evaluation; views/mistakes, views/possible-missing
 * and views/possible-spurious show the most recent one.  Before either is
 * served, evalsel_refresh() re-runs the evaluation if the labels changed
 * since (the freshness check of core/views/evalrun.h), so what is shown
 * always follows label edits.  A refresh is a write transaction of its own,
 * so callers must call it before they open the read transaction they serve
 * from.
 *
 * Its state (the last evaluation found fresh) is created with the
 * generated tree's (vtree_init()) and is thread-safe.
 */
#ifndef CURATE_EVALSEL_H
#define CURATE_EVALSEL_H

#include <stdbool.h>
#include <stddef.h>

#include "fs.h"

struct evalsel;

int evalsel_new(struct evalsel **ret);
void evalsel_free(struct evalsel *e);

/* Name of the most recently created evaluation into out; -ENOENT if none. */
int evalsel_latest(struct fs_ctx *c, char *out, size_t outlen);
/* Re-runs `name` if stale (errors are logged and returned).  max_age_s 0:
 * always check; otherwise a check begun less than that long ago stands
 * (lookups of listed names: evalrun_refresh_recent()).  On a read-only
 * mount, nothing: a re-run is a write to the store, and such a mount
 * shows the run as it was last stored (as `curate table --read-only`). */
int evalsel_refresh(struct fs_ctx *c, const char *name, double max_age_s);

#endif
