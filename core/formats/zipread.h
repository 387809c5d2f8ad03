/* zipread.h - read-only access to the members of a ZIP archive (CVAT's
 * export zips).  The only module that uses libzip.
 *
 * Member names are as stored, with each '\' read as '/' (zips written on
 * Windows; see zipread.c); names that are absolute or contain ".."
 * components are hidden (never listed), so callers cannot be led outside
 * the archive's own tree.  Errors: -EBADMSG for a file that is not a
 * readable ZIP, -ENOTSUP for a member compressed with a method this
 * build's libzip cannot inflate (zipr_method_name says which), -EFBIG for
 * a member larger than the caller's limit, -ENOMEM,
 * -errno from opening the file, -ELIBACC when libzip cannot be loaded (it
 * is loaded by the first zipr_open()).
 */
#ifndef CURATE_ZIPREAD_H
#define CURATE_ZIPREAD_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct zipr;

/* Opens the archive; *ret owned (zipr_close). */
int zipr_open(const char *path, struct zipr **ret);
void zipr_close(struct zipr *z);   /* NULL is fine */
/* Number of members (directories included, hidden names excluded). */
size_t zipr_count(const struct zipr *z);
/* Name of member i (borrowed until zipr_close). */
const char *zipr_name(const struct zipr *z, size_t i);
/* The compression method of member i, for a reason: "LZMA", "bzip2",
 * "zstd" ... where it has a name, else "method <n>", into buf. */
void zipr_method_name(struct zipr *z, size_t i, char *buf, size_t cap);
/* Appends the uncompressed bytes of member i to out; -EFBIG when they
 * exceed max bytes, -EBADMSG when they exceed the member's declared size
 * (stopped there, never inflated further) or are broken, -ENOTSUP when
 * its compression method cannot be read. */
int zipr_read(struct zipr *z, size_t i, size_t max, struct buf *out);
/* Writes the uncompressed bytes of member i to fd at its offset; -EFBIG
 * when they exceed max bytes, -EBADMSG past its declared size (what was
 * written stays), -ENOTSUP as zipr_read, or the write's -errno (-ENOSPC
 * ...). */
int zipr_extract(struct zipr *z, size_t i, uint64_t max, int fd);

#endif
