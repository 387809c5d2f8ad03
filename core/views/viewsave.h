/* viewsave.h - computed view lists kept in the store's folder between
 * processes, so that a new mount or `curate table` reads the lists of
 * views/unique and views/near-duplicates instead of computing them again:
 * at 100,000 samples that k-NN takes minutes, while the file reads in
 * milliseconds.
 *
 * One file per view, `views.<name>.cache` beside the LMDB files, holding
 * the list, the fingerprint of the inputs it was computed from
 * (viewcompute_inputs_fp), VIEWCOMPUTE_VERSION, the build's version and
 * the id of the sources that compute the lists (a hash of them made at
 * build time: core/meson.build, scripts/source_id.py).
 * A list is taken only when all three match and the file checks whole
 * (size, checksum, every count and index in range); anything else is as
 * if there were no file and the caller computes.  The file is derived
 * data: deleting it costs one computation, never data.
 *
 * The folder is named by a descriptor the caller opened once, so a link
 * put in the store's place later leads nowhere else.
 *
 * Writes replace the file by rename, so readers in other processes see
 * the old file or the new one, never a mix; the bytes are written into a
 * file with no name first (O_TMPFILE), so a writer killed meanwhile
 * leaves nothing behind (viewsave_sweep() for the rare cases that leave
 * a temporary name).  A folder that cannot be
 * written (a read-only snapshot, another user's store) only means no file
 * is kept: the error is returned for the caller to show, not acted on.
 *
 * No locking: the functions touch no shared state.  The list passed to
 * viewsave_put() is only read.
 */
#ifndef CURATE_VIEWSAVE_H
#define CURATE_VIEWSAVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "viewcompute.h"
#include "viewlist.h"

/* The list of `kind` kept in the folder open as dirfd, if it was computed from inputs
 * with fingerprint fp by a build that computes as this one: a new list
 * (one reference, not indexed: call view_list_index()) in *ret and the
 * seconds its computation took in *ret_seconds.  -ENOENT when there is
 * no such file or it was computed from other inputs or by other code,
 * -EBADMSG when it does not check, -ENOMEM, or another -errno of reading
 * it.  In every failure *ret is NULL. */
int viewsave_get(int dirfd, enum view_kind kind, uint64_t fp,
                 struct view_list **ret, double *ret_seconds);

/* The parsing of viewsave_get(), on a file's bytes b of length n (for the
 * fuzzing harness): the same results. */
int viewsave_parse(const uint8_t *b, size_t n, enum view_kind kind,
                   uint64_t fp, struct view_list **ret, double *ret_seconds);

/* The 32 bytes that name this build in a file's header (its version and
 * the id of its sources; for the fuzzing harness, whose seeds come from
 * another build). */
void viewsave_build_id(char out[32]);

/* The checksum a file of n bytes ends with, over its first n - 8 bytes
 * (for the fuzzing harness, which makes it right so that its inputs reach
 * the body). */
uint64_t viewsave_checksum(const uint8_t *b, size_t n);

/* Keeps list l of `kind`, computed from inputs fp in `seconds`, as the
 * file of that view in the folder open as dirfd (replacing the previous one).  0, or -errno
 * (EROFS, EACCES, ENOSPC...; no file is left half written). */
int viewsave_put(int dirfd, enum view_kind kind, uint64_t fp,
                 const struct view_list *l, double seconds);

/* Removes the temporary files `views.<view>.cache.tmp-<pid>` a writer
 * left in the folder open as dirfd when it died between writing and
 * renaming (viewsave_put() leaves none unless the filesystem refuses
 * O_TMPFILE, or the crash falls between its link and its rename), or
 * that older builds left: only names of exactly that form, of views this
 * build knows, naming a process that no longer exists (kill(pid, 0) says
 * ESRCH; not this process), and only regular files owned by `owner` (the
 * identity the lists are written with).  A process of another pid
 * namespace sharing the folder looks gone: its rename then fails and it
 * keeps nothing that time, nothing worse.  Run with the writer's rights.
 * The number of files removed, or -errno of opening the folder. */
int viewsave_sweep(int dirfd, uid_t owner);

#endif
