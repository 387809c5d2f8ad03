/* s3src.h - a bucket as an import source (import.h): `curate import
 * s3://bucket/prefix`.
 *
 * The listing (ListObjectsV2, every page) gives each object's key, size
 * and ETag; the objects under the prefix named as images become the
 * import's files, named by their key below the prefix.  A file's mtime_ns
 * is a 63-bit hash of its ETag, so the import's size-and-mtime change
 * detection compares size and ETag; the ETag itself is the file's version
 * (recorded with the sample).  Headers come from ranged GETs of the first
 * 64 KiB (more only when a header needs it); the content pass reads each
 * object whole.  Every read carries If-Match with the listed ETag, so an
 * object changed after the listing is skipped (-ESTALE) and picked up by
 * the next import, never imported with other bytes than its ETag says.
 *
 * Threads: the import's workers read in parallel, each through its own
 * connection from a pool of `readers` S3 clients (S3SRC_READERS by
 * default): network waits, not the CPU, bound a bucket import.
 *
 * Ownership: s3src_open() fills *src with pointers into the returned
 * struct s3src, which must outlive the import; s3src_close() frees it.
 * The last listing or read error is kept for the caller's message
 * (s3src_error()), never with a credential.
 */
#ifndef CURATE_S3SRC_H
#define CURATE_S3SRC_H

#include <stddef.h>

#include "awsconf.h"
#include "import.h"

#define S3SRC_READERS 16

struct s3src;

/* A source over url ("s3://bucket[/prefix]") with the settings conf
 * (copied).  0, or -EINVAL (bad URL) / -ENOMEM with the reason in err. */
int s3src_open(const char *url, const struct aws_conf *conf, int readers,
               struct s3src **ret, struct import_source *src, char *err,
               size_t errlen);
void s3src_close(struct s3src *s);

/* The reason of the last failure of a listing or read ("" if none). */
const char *s3src_error(struct s3src *s);

/* The 63-bit hash of an ETag that stands for a bucket object's mtime_ns
 * (see above). */
int64_t s3src_etag_hash(const char *etag);

#endif
