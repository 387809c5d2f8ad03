/* objsource.h - the files of a bucket dataset, for the mount: each read
 * through the bounded local cache (objcache.h), a miss streamed from the
 * bucket with If-Match on the ETag the import recorded, so a sample is
 * always the bytes its import saw or an error.  In an unversioned bucket
 * an object changed since the import gives -ESTALE (a re-import picks the
 * change up); in a versioned one the import also recorded the version id
 * and the read asks for that version (?versionId=), so a replica whose
 * store is older than an overwrite still serves its own version (-ENOENT
 * only once that version is deleted).
 *
 * The cache hands out plain file descriptors, so the mount serves cached
 * samples as it serves a folder's files (kernel passthrough included), at
 * local speed.
 *
 * Threads: any thread may open files at once; misses run on a pool of
 * OBJSOURCE_READERS S3 connections (s3_pool); the cache makes concurrent
 * misses of one object wait for one download.  Ownership: the caller owns
 * the struct objsource and every fd it returns.
 */
#ifndef CURATE_OBJSOURCE_H
#define CURATE_OBJSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "awsconf.h"
#include "objcache.h"

#define OBJSOURCE_READERS 8

struct objsource;

/* Whether a dataset root names a bucket ("s3://..."). */
int objsource_is_bucket(const char *root);

/* The files under root ("s3://bucket/prefix/", as the import recorded it)
 * with the settings conf, cached in cache_dir (created 0700) up to
 * cache_bytes.  0, or -EINVAL / -ENOMEM / the cache folder's errno, with
 * the reason in err. */
int objsource_open(const char *root, const struct aws_conf *conf,
                   const char *cache_dir, uint64_t cache_bytes,
                   struct objsource **ret, char *err, size_t errlen);
void objsource_close(struct objsource *o);

/* A read-only fd of the file relpath, version etag (the srcver record:
 * "ETAG" or "ETAG VERSIONID"), size bytes.  Errors: -ESTALE (changed in
 * the bucket), -ENOENT (gone, or that version deleted),
 * -EACCES, -EIO, ... with the reason in err (never a credential). */
int objsource_open_file(struct objsource *o, const char *relpath,
                        const char *etag, uint64_t size, int *fd, char *err,
                        size_t errlen);

void objsource_stats(struct objsource *o, struct objcache_stats *st);

/* The length of the ETag part of a srcver record ("ETAG" or "ETAG
 * VERSIONID"): what a listing's ETag is compared with. */
size_t objsource_etag_len(const char *version);

#endif
