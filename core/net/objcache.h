/* objcache.h - a bounded local cache of remote objects (bucket samples),
 * addressed by each object's identity - where it lives (endpoint, bucket,
 * key, version id) and its ETag - and size, least recently used out
 * first.
 *
 * Layout under the cache folder (docs/OBJECT-STORAGE.md §4):
 *   lock             flock()ed by whoever changes objects/; holds an
 *                    8-byte generation, bumped at every change
 *   objects/<NAME>   one file per object, NAME = "k", the 128-bit content
 *                    hash of the store (import_hash128) of the identity in
 *                    32 hex digits, ".", the size in bytes
 *                    (objcache_name())
 *   tmp/             downloads in progress
 * The identity holds the place and not only the ETag because one folder
 * may serve mounts of several buckets and endpoints: an ETag says nothing
 * outside its own bucket (multipart ETags, and other servers' ETags, can
 * be equal for other bytes).  Files named otherwise (the first layout,
 * keyed by the ETag alone) are removed when a daemon opens the folder.
 * A miss streams the body into a file under tmp/ as it arrives (memory per
 * download stays at the HTTP receive buffer), fsyncs it once whole and of
 * the right size, and renames it into objects/: a crash never leaves a
 * partial file under a final name.  A download whose writer died (its
 * lock gone with it) is removed by the next miss of any daemon on the
 * folder, or at the next open, so its bytes never stay beyond the bound.
 *
 * Last use: a hit sets the file's mtime, at most once per
 * OBJCACHE_TOUCH_S seconds per entry, so the eviction order (oldest mtime
 * first at open) survives a restart.
 *
 * A folder shared by several daemons (two mounts with one object_cache):
 * every change of objects/ (a rename in, an eviction, the scan at open)
 * runs under an exclusive flock() of `lock`; a daemon that finds the
 * generation moved since its own last change re-reads the folder's names
 * (sizes are in them) before it counts, so the byte total it bounds is
 * the folder's, not only its own.  The rule for files in use: a
 * download holds an exclusive flock() on its tmp/ file, and tmp/ is
 * emptied (at open) only of files nobody holds, so no daemon ever removes
 * another's download; every fd objcache_get() hands out holds a shared
 * flock() on its file for as long as it (or a duplicate) stays open, and
 * eviction takes the files nobody holds first.  Only when that is not
 * enough to stay within the bound does it unlink open files too: their
 * readers keep reading the whole object through the fd (an unlinked file
 * lives until its last close), and a daemon that then finds the name gone
 * fetches it again.  Nothing ever truncates or rewrites a file in
 * objects/, so a reader never sees other bytes.  A file whose mtime moved
 * since this daemon last used it (another daemon's hit) goes back to the
 * front instead of out.
 *
 * Ownership and locking: a struct objcache owns its index; one mutex
 * guards the index, the byte total and the counters, and is taken before
 * the folder lock; a download runs without either, and concurrent misses
 * of one object in one daemon wait for the first download instead of
 * starting their own.
 */
#ifndef CURATE_OBJCACHE_H
#define CURATE_OBJCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct objcache;

struct objcache_stats {
  uint64_t max_bytes;   /* the bound */
  uint64_t bytes;       /* held now */
  uint64_t files;
  uint64_t hits, misses, evictions;
};

#define OBJCACHE_TOUCH_S 60
#define OBJCACHE_NAME_MAX 64   /* "k" + 32 + "." + 20 digits + NUL */

/* The file name under objects/ of the object id of size bytes. */
void objcache_name(const char *id, uint64_t size, char *out);

/* Writes the whole object into fd (an empty file opened for reading and
 * writing), from offset 0, as it arrives.  0 or a negative errno with the
 * reason in err. */
typedef int (*objcache_fetch_fn)(void *ud, int fd, char *err, size_t errlen);

/* Opens (creating 0700 folders as needed) the cache in dir, bounded to
 * max_bytes, and indexes what is there, oldest use first by mtime.
 * 0, -EINVAL (max_bytes 0), or the errno of a folder that cannot be made
 * or read. */
int objcache_open(const char *dir, uint64_t max_bytes, struct objcache **ret,
                  char *err, size_t errlen);
void objcache_close(struct objcache *c);

/* A read-only fd of the object id (its identity, see above: any string
 * that names one content) of size bytes, fetched through fetch on a
 * miss.  The caller closes the fd; while it is open the file is evicted
 * only when nothing else can be (see above).  Errors: fetch's own, -EIO
 * when the fetched length is not `size` (the object changed: nothing is
 * cached), -EFBIG when size alone exceeds the bound, the errno of the
 * write, or that of opening a cached copy other than "gone" (-EMFILE,
 * -ENFILE...: the copy stays, and is not fetched again). */
int objcache_get(struct objcache *c, const char *id, uint64_t size,
                 objcache_fetch_fn fetch, void *ud, int *fd_out, char *err,
                 size_t errlen);

void objcache_stats(struct objcache *c, struct objcache_stats *st);

#endif
