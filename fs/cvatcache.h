/* cvatcache.h - what the files of a CVAT job's folder
 * (cvat/runs/<run>/jobs/<id>/assignee, stage, state, issues.txt) fall
 * back on when the CVAT server does not answer: the bytes each gave last,
 * and whether the server is believed unreachable.
 *
 * Those files ask the server at every stat and read (prov_cvat.c).  When
 * it does not answer (cvatcache_unreachable()), a stat or read gives the
 * bytes the path gave last, and for CVATCACHE_DOWN_S seconds after the
 * failure no read asks again: a copy of the whole mount (`ls -lR`,
 * `rsync -a`) waits for at most one bounded attempt per period, not one
 * per file.  The listing of a job's folder shows only the files that have
 * bytes to give (prov_cvat.c), so whatever it lists stats.  What this
 * module does not do: talk to the server, or decide which errors to show
 * (prov_cvat.c logs a change of the server's state once).
 *
 * Whose bytes: every kept entry is keyed by the path and by the identity
 * of the server and login that gave it (cvatcache_server_id(): the
 * normalised URL, the organisation, the user name and the token, hashed,
 * so no secret is copied).  After `cvat.url` (or the login) names another
 * server, a path shows only what that server gave, never what the one
 * before gave: while the new one is down its files are not listed and
 * fail with its error; named back, the first server's kept bytes show
 * again.  Keyed rather than dropped when the settings change, because a
 * request started under the old settings may end after the change: its
 * bytes land under the old identity, where they belong, with no hook on
 * settings writes.  The down state is the server's alone
 * (cvatcache_url_id(), the login plays no part in reachability): one
 * server at a time is remembered as down, and a failure or an answer of
 * another server neither starts nor ends its period.  The identities are
 * 64-bit FNV-1a hashes: not cryptographic, so two settings could collide
 * only if chosen to, and the one who chooses them is the mount's user.
 *
 * Bounded: at most CVATCACHE_MAX_ENTRIES paths and CVATCACHE_MAX_BYTES
 * bytes of content, the oldest path dropped first; a path whose bytes
 * alone exceed CVATCACHE_MAX_ONE is not kept.  Memory is in memory only:
 * a remount starts empty (its reads ask the server first).
 *
 * Ownership: cvatcache_new() returns an owned cache, freed with
 * cvatcache_free().  Strings passed in are copied.  Thread-safe: one mutex
 * in the cache guards every field.
 */
#ifndef CURATE_CVATCACHE_H
#define CURATE_CVATCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Seconds after a failed attempt during which reads do not ask the server
 * again: long enough that a bulk walk of the mount meets one timeout, not
 * one per file, short enough that a server back up is seen at once by
 * someone who looks again. */
#define CVATCACHE_DOWN_S 15.0
/* A run of a few thousand jobs keeps each of its four files' bytes. */
#define CVATCACHE_MAX_ENTRIES 16384
#define CVATCACHE_MAX_BYTES (16u << 20)
#define CVATCACHE_MAX_ONE (1u << 20)

struct cvatcache;

int cvatcache_new(struct cvatcache **ret);
void cvatcache_free(struct cvatcache *cc);

/* Whether error r of a request means the server did not answer: refused,
 * no route or name, timed out, reset, a 5xx (-EIO) or a 429 (-EAGAIN:
 * busy, which a stat should not wait out). */
bool cvatcache_unreachable(int r);

/* The identity of the server at url (NULL: none) for the down state:
 * scheme and host compared without case, slashes at the end ignored. */
uint64_t cvatcache_url_id(const char *url);
/* The identity of the server and login whose bytes are kept: the
 * url's, with the organisation, user name and token (each may be NULL).
 * The password is left out: the same user's bytes stay theirs after a
 * password change. */
uint64_t cvatcache_server_id(const char *url, const char *org,
                             const char *username, const char *token);

/* The server url (cvatcache_url_id()) answered: its down state ends.
 * True if it was down (the caller says so once). */
bool cvatcache_answered(struct cvatcache *cc, uint64_t url);
/* An attempt to reach the server url found it unreachable with error r
 * (negative) and reason (one line, no secret): a down period starts now.
 * True if that server was not down before (the caller says so once). */
bool cvatcache_failed(struct cvatcache *cc, uint64_t url, int r,
                      const char *reason);
/* While a down period of the server url lasts, its error (negative, as
 * returned by the failed attempt); 0 when reads may ask it (also when the
 * down server was another one). */
int cvatcache_skip(struct cvatcache *cc, uint64_t url);

/* Keeps data as the bytes path gave last from server
 * (cvatcache_server_id()), a copy.  0 or -ENOMEM; a path too large to
 * keep is dropped instead (0). */
int cvatcache_put(struct cvatcache *cc, uint64_t server, const char *path,
                  const void *data, size_t len);
/* Forgets what server gave for path (it said the path is gone, or a
 * write changed it). */
void cvatcache_drop(struct cvatcache *cc, uint64_t server, const char *path);
/* Appends the bytes server gave last for path to out: 0, -ENOENT if none
 * are kept (also when only another server's are), or buf's error. */
int cvatcache_get(struct cvatcache *cc, uint64_t server, const char *path,
                  struct buf *out);

/* While the server url is believed unreachable, a paragraph for
 * cvat/status saying since when, why (the errno's name and the reason)
 * and what the job files show meanwhile (how many of server's are kept);
 * nothing otherwise, also when the down server is another one. */
int cvatcache_status(struct cvatcache *cc, uint64_t url, uint64_t server,
                     struct buf *out);

#endif
