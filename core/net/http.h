/* http.h - a small HTTP client for talking to one server (CVAT, S3): one
 * connection kept alive across requests, timeouts, retries with backoff,
 * JSON bodies and multipart uploads.
 *
 * What it does: each struct http_client owns one libcurl easy handle, so
 * consecutive requests reuse the TCP (and TLS) connection.  TLS peer and
 * host verification are always on; `ca_bundle` points at another CA file
 * (there is deliberately no "insecure" switch).  A request is retried, with
 * exponential backoff and honouring `Retry-After`, when the server answers
 * 429, 500, 502, 503 or 504 or when the connection drops before a response
 * arrives - unless the request says `no_retry` (a POST whose repetition
 * could create a second object: the caller decides how to recover).
 *
 * What it does not do: it never logs or returns request headers or
 * bodies.  Header values given with http_client_header(..., secret=true)
 * and strings registered with http_client_secret() are replaced by "***"
 * in every error text this module produces (http_redact() does the same for
 * callers), so an Authorization header, a password or a token never leaks
 * into logs or errors.  It knows nothing about CVAT; status codes are
 * returned, not interpreted (see cvat_client.c).
 *
 * Thread-safety: a client may be shared; requests on one client are
 * serialised by an internal mutex.
 *
 * Users: the CVAT client (cvat/) and the S3 client (net/s3.c).
 *
 * This is the only file (with http.c) that includes curl/curl.h.
 */
#ifndef CURATE_HTTP_H
#define CURATE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util.h"

#define HTTP_ERR_MAX 512
/* The largest CA file taken (Debian's whole bundle is about 200 KB). */
#define HTTP_CA_MAX (4u << 20)
/* A signed (S3) attempt that moves less than this many bytes a second
 * for this many seconds ends as a timeout (and is retried): a stalled
 * object store must not hold a reader for the whole attempt timeout. */
#define HTTP_LOW_SPEED_BYTES 1024L
#define HTTP_LOW_SPEED_SECONDS 30L

struct http_opts {
  const char *ca_bundle;     /* CA file for TLS; NULL = the system's.  Read
                              * once by http_client_new() (see there). */
  /* Opens ca_bundle as open_regular() does (util.h), but with the rights
   * of whoever the setting belongs to: the mount passes one that takes on
   * the store owner's identity for the open.  A descriptor or -errno.
   * NULL = open_regular() with the process's own rights. */
  int (*open_file)(void *arg, const char *path);
  void *open_file_arg;
  long connect_timeout_ms;   /* 0 = 10 s */
  long timeout_ms;           /* whole attempt; 0 = 600 s */
  int max_retries;           /* retries after the first attempt; <0 = 6 */
  double retry_base_s;       /* first backoff; 0 = 0.25 s, doubling */
  double retry_max_s;        /* cap of one wait (also Retry-After); 0 = 30 s */
};

/* One part of a multipart/form-data body: either in-memory data (data,
 * len) or, with from_fd, the regular file open as fd, streamed from its
 * offset 0 with pread (the descriptor is never closed nor moved).  There
 * is no part read by path on purpose: what is sent is the file that was
 * opened and checked (a root daemon reopening a path the store owner
 * controls would follow a link swapped in meanwhile).  filename
 * (optional) is the part's file name.  All strings are borrowed for the
 * call.
 *
 * A file part sends the file as it was when the caller opened it
 * (`opened`, its fstat then; NULL: as it is at the call), every attempt
 * the same size: a file whose size or modification time differs when a
 * request starts, that ends before that size while it is sent, or whose
 * size or time moved by the time its last byte is read, ends the request
 * with -ESTALE and "source changed during upload: FILENAME" (`fixed`:
 * the size alone is compared; a read
 * error: its errno, "cannot read FILENAME: ..."), never retried: a short
 * or mixed file never reaches the server as if whole. */
struct http_part {
  const char *name;
  const char *filename;
  bool from_fd;
  int fd;
  const struct stat *opened;
  /* The file's bytes never change in place (an object cache file: a new
   * version is a new file renamed into place), while its modification
   * time may move (the cache records a read there, objcache.h): only its
   * size is checked. */
  bool fixed;
  const void *data;
  size_t len;
};

struct http_req {
  const char *method;        /* "GET", "POST", ... */
  const char *path;          /* appended to the base URL ("/api/tasks?x=1") */
  const char *const *headers;/* extra "Name: value" lines, NULL-terminated */
  const char *content_type;  /* of body; NULL = application/json */
  const void *body;          /* NULL = no body */
  size_t body_len;
  const struct http_part *parts;  /* multipart body instead of `body` */
  size_t nparts;
  bool no_retry;             /* never repeat this request */
  size_t max_response;       /* response body limit; 0 = 1 GiB */
  /* With body_to_fd, a 2xx response body is written to the file body_fd
   * as it arrives (from offset 0; each attempt truncates it first, so a
   * retried download never leaves a mix of two attempts) instead of to
   * resp->body, which still gets the body of any other status (an
   * error's XML).  Memory stays at libcurl's receive buffer whatever the
   * size.  max_response bounds the file as it bounds memory. */
  bool body_to_fd;
  int body_fd;
};

#define HTTP_ETAG_MAX 128
#define HTTP_VERSION_ID_MAX 1025   /* S3's limit, 1024 bytes, and a NUL */

struct http_resp {
  long status;               /* HTTP status of the last attempt */
  struct buf body;           /* owned; NUL-terminated */
  int attempts;              /* how many attempts were made */
  char etag[HTTP_ETAG_MAX];  /* the ETag header as sent ("" if none or
                                longer than HTTP_ETAG_MAX - 1) */
  int64_t range_total;       /* the total of a Content-Range "a-b/total";
                                -1 if absent */
  uint64_t fd_bytes;         /* body_to_fd: bytes written by the last
                                attempt */
  char version_id[HTTP_VERSION_ID_MAX]; /* x-amz-version-id, "" if none */
  bool header_cut;           /* an ETag or x-amz-version-id too long for
                                the fields above was sent (they are ""):
                                "" then does not mean "none" */
};

struct http_client;

/* Creates a client for base_url ("https://host:port", no trailing path
 * needed).  Options are copied.  A ca_bundle is opened and read here, once:
 * the descriptor is checked to be a regular file of at most HTTP_CA_MAX
 * bytes and those bytes are what libcurl verifies peers with for the
 * client's whole life (CURLOPT_CAINFO_BLOB), so a path swapped after it was
 * checked (a symlink, a FIFO, another file) is never read by libcurl.
 * It is opened with o->open_file when one is given.
 * Returns 0, -EINVAL (not an http(s) URL), -ENOMEM, or for the CA file
 * -EINVAL (not a regular file: a directory, FIFO, device), -EFBIG (over
 * HTTP_CA_MAX), -EBADMSG (empty) or the errno of open/read; -ELIBACC when
 * libcurl cannot be loaded (see http.c). */
int http_client_new(const char *base_url, const struct http_opts *o,
                    struct http_client **ret);
/* Frees the client and closes its connection; NULL is fine. */
void http_client_free(struct http_client *c);
/* Sets (value != NULL) or removes a header sent with every request.  With
 * secret, the value is also registered for redaction.  0 or -ENOMEM. */
int http_client_header(struct http_client *c, const char *name,
                       const char *value, bool secret);
/* Signs every request with AWS Signature Version 4 (libcurl's own signer,
 * CURLOPT_AWS_SIGV4): provider is e.g. "aws:amz:eu-west-1:s3", key_id and
 * secret the access key.  The secret is registered for redaction.  The
 * caller must send a query string already in canonical form (parameters
 * sorted by name, values percent-encoded): libcurl 7.88 signs it as
 * given.  0 or -ENOMEM. */
int http_client_sigv4(struct http_client *c, const char *provider,
                      const char *key_id, const char *secret);
/* Registers a string that must never appear in error texts.  0 or
 * -ENOMEM.  Empty strings are ignored. */
int http_client_secret(struct http_client *c, const char *secret);
/* Replaces every registered secret inside s (NUL-terminated, edited in
 * place) with "***".  NULL client: nothing to do. */
void http_redact(const struct http_client *c, char *s);

/* Performs a request, retrying as described above.  Returns 0 when a
 * response arrived (whatever its status: check resp->status), or a
 * negative errno when none did after the retries: -ECONNREFUSED (nothing
 * listening), -EHOSTUNREACH (name or route), -ETIMEDOUT, -ECONNRESET
 * (connection dropped), -EPROTO (TLS failure, bad certificate), -E2BIG
 * (response over max_response), the errno of a body_fd write (-ENOSPC),
 * -ENOENT (a multipart file is missing), -ENOMEM or -EIO.  On failure
 * err (if given) gets a one-line, redacted reason.  resp must be
 * initialised with http_resp_init() and is overwritten; free it with
 * http_resp_free(). */
int http_do(struct http_client *c, const struct http_req *rq,
            struct http_resp *resp, char *err, size_t errlen);

void http_resp_init(struct http_resp *r);
void http_resp_free(struct http_resp *r);

/* Appends s percent-encoded (RFC 3986 unreserved kept) to out. */
int http_escape(struct buf *out, const char *s);



#endif
