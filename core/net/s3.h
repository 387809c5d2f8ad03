/* s3.h - a client of one bucket of S3-compatible object storage (AWS S3,
 * MinIO, Ceph RGW, GCS in its S3 mode): list a prefix, read an object or a
 * byte range of it.  Only reads: curatefs never writes to a bucket.
 *
 * Requests are signed with AWS Signature Version 4 by libcurl (through
 * http.c); the query strings are built here already in canonical order,
 * which libcurl 7.88 needs (docs/OBJECT-STORAGE.md §3).  Retries with
 * backoff on 500, 503 SlowDown and dropped connections are http.c's.
 * Errors map S3's codes to errnos (s3_get, s3_list) and carry S3's code
 * and message, never a credential.
 *
 * Ownership and threads: a struct s3 owns one HTTP connection; requests on
 * one handle are serialised, so parallel readers open one handle each
 * (s3_open() is cheap, the settings are copied; an expiring key's source,
 * conf->creds, is shared by reference, and each request first asks it for
 * the current key, re-signing with a new one).  No global state.
 */
#ifndef CURATE_S3_H
#define CURATE_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "awsconf.h"
#include "http.h"
#include "util.h"

#define S3_KEY_MAX 1024          /* S3's limit on a key, in bytes */
#define S3_ETAG_MAX HTTP_ETAG_MAX
#define S3_VERSION_ID_MAX 1024   /* S3's limit on a version id, in bytes */

/* One object of a listing.  key is borrowed for the callback. */
struct s3_object {
  const char *key;
  uint64_t size;
  char etag[S3_ETAG_MAX];        /* as S3 sends it, with its quotes */
  int64_t mtime;                 /* LastModified, seconds since the epoch */
};

struct s3;

/* Splits "s3://bucket/prefix" into its bucket and (possibly empty) key
 * prefix, both owned by the caller.  -EINVAL (with the reason) for
 * another scheme or a bucket name S3 would refuse. */
int s3_url_parse(const char *url, char **bucket, char **prefix, char *err,
                 size_t errlen);

/* s3_url_parse() for a dataset root: the prefix names a folder, so "a/b"
 * and "a/b/" both give "a/b/" (an empty prefix stays empty). */
int s3_url_parse_folder(const char *url, char **bucket, char **prefix,
                        char *err, size_t errlen);

/* A client of `bucket` with the settings of conf (copied).  0, -EINVAL or
 * -ENOMEM. */
int s3_open(const struct aws_conf *conf, const char *bucket, struct s3 **ret,
            char *err, size_t errlen);
void s3_close(struct s3 *s);

/* Calls cb for every object under prefix, in key order, page by page
 * (ListObjectsV2, continuation tokens).  A non-zero return of cb stops the
 * walk and is returned.  Errors: -ENOENT (no such bucket), -EACCES
 * (refused: key, signature or policy), -EKEYEXPIRED (session token
 * expired), -EINVAL (wrong region, bad request), -EAGAIN (still slowed
 * down after the retries), -EIO (server error, malformed answer), or
 * http_do()'s connection errors; the reason in err. */
int s3_list(struct s3 *s, const char *prefix,
            int (*cb)(const struct s3_object *o, void *ud), void *ud,
            char *err, size_t errlen);

/* Reads object `key`: bytes [off, off + len) (len 0 = to the end) into out
 * (reset first).  With if_match (an ETag from a listing), an object that
 * has changed since gives -ESTALE.  *etag (if given, S3_ETAG_MAX bytes)
 * gets the object's ETag and *total (if given) its whole size.  Errors as
 * s3_list, plus -ENOENT for a missing key, -E2BIG over max bytes (0 = no
 * limit beyond http.c's) and -ERANGE when off is past the end. */
int s3_get(struct s3 *s, const char *key, uint64_t off, uint64_t len,
           const char *if_match, size_t max, struct buf *out, char *etag,
           uint64_t *total, char *err, size_t errlen);

/* One read of an object, the general form of s3_get(): a version
 * (versioned buckets), a condition, a range, and the body into memory or
 * streamed into a file. */
struct s3_read {
  const char *key;
  const char *version_id;   /* NULL or "": the current version */
  const char *if_match;     /* NULL: no condition */
  uint64_t off, len;        /* len 0 = to the end */
  size_t max;               /* 0 = http.c's limit */
  struct buf *out;          /* the body (reset first), or with out NULL */
  int fd;                   /* ... written into this file from offset 0 */
  /* Filled on success: */
  char etag[S3_ETAG_MAX];
  char got_version[S3_VERSION_ID_MAX + 1]; /* x-amz-version-id, ""
                                               unversioned */
  uint64_t total;           /* the object's whole size */
  uint64_t got;             /* body bytes received */
};

/* Reads as rd says.  Errors as s3_get(); a version that does not exist
 * (any more) is -ENOENT, one this client may not read -EACCES; an ETag
 * over S3_ETAG_MAX - 1 or a version id over S3_VERSION_ID_MAX bytes
 * (past S3's own limits) -EOVERFLOW, never taken for "none". */
int s3_read(struct s3 *s, struct s3_read *rd, char *err, size_t errlen);

/* A pool of clients of one bucket, for readers on several threads: each
 * borrows a client for a request or a file and gives it back.  One mutex
 * and condition variable guard the busy flags; a borrower waits while all
 * are lent. */
struct s3_pool;

/* n clients of bucket (n > 0).  0, or the errors of s3_open(). */
int s3_pool_open(const struct aws_conf *conf, const char *bucket, int n,
                 struct s3_pool **ret, char *err, size_t errlen);
void s3_pool_close(struct s3_pool *p);
/* A client, waiting for one to be free; give it back with its index. */
struct s3 *s3_pool_borrow(struct s3_pool *p, int *slot);
void s3_pool_return(struct s3_pool *p, int slot);

#endif
