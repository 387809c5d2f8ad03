/* srcfile.h - a sample's original file, beneath the dataset root.
 *
 * The one place the daemon opens source images (samples/, tags/, the
 * provider files that show a sample, the crops and drawn views, and the
 * descriptor cache of read-only mounts).  Stateless: the descriptor
 * returned belongs to the caller.
 */
#ifndef CURATE_SRCFILE_H
#define CURATE_SRCFILE_H

#include <sys/stat.h>

#include "fs.h"

/* Opens s's source file read-only into *ret_fd (-1 on error), refusing
 * one that leads out of the dataset folder or that the store's owner may
 * not read (-EACCES), and one that changed since the import (-ESTALE: a
 * folder's file of another size, or another modification time and other
 * bytes; a bucket's object of another ETag).  Failures are reported
 * through fs_error(). */
int open_sample_source(struct fs_ctx *c, const struct sample *s, int *ret_fd);
/* The same, and *ret_st: the file's fstat taken before its check (a
 * folder's file), so that a later fstat that equals it shows the file
 * checked, never one changed during or right after the check. */
int open_sample_source_st(struct fs_ctx *c, const struct sample *s,
                          int *ret_fd, struct stat *ret_st);

/* The memo of sources touched since the import whose bytes were found
 * unchanged (c->srcmemo), so that such a file is read whole once, not at
 * every open: made by state_init(), freed by state_free().  Its lock is
 * its own, held only to look up or fill one slot. */
int srcmemo_new(struct fs_ctx *c);
void srcmemo_free(struct fs_ctx *c);
/* For status: how many times a touched file was read whole to check it,
 * and how many source opens were refused as changed since the import. */
void srcmemo_stats(struct fs_ctx *c, uint64_t *hashed, uint64_t *refused);

#endif
