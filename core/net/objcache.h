/* objcache.h - a bounded local cache of remote objects (bucket samples),
 * content-addressed by ETag and size, least recently used out first.
 *
 * Layout under the cache folder (docs/OBJECT-STORAGE.md §4):
 *   objects/<NAME>   one file per object, NAME = the ETag's hex digits and
 *                    '-' (quotes dropped) + "." + the size in bytes; an
 *                    ETag with other characters is named by its 64-bit
 *                    FNV-1a hash instead, prefixed "h"
 *   tmp/             downloads in progress
 * A download is written under tmp/ and renamed into objects/ only once
 * complete, so a crash never leaves a partial file under a final name; a
 * file whose length is not the size in its name (a power loss after the
 * rename) counts as a miss and is replaced.  tmp/ is emptied on open.
 * Two keys with the same content (same ETag and size) share one file.
 *
 * Ownership and locking: a struct objcache owns its index; one mutex
 * guards the index, the byte total and the counters; a download runs
 * without the mutex, and concurrent misses of one object wait for the
 * first download instead of starting their own.  Eviction unlinks files
 * that readers may still hold open, which POSIX allows.
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

/* Fills out with the whole object.  0 or a negative errno with the reason
 * in err. */
typedef int (*objcache_fetch_fn)(void *ud, struct buf *out, char *err,
                                 size_t errlen);

/* Opens (creating 0700 folders as needed) the cache in dir, bounded to
 * max_bytes, and indexes what is there, oldest use first by mtime.
 * 0, -EINVAL (max_bytes 0), or the errno of a folder that cannot be made
 * or read. */
int objcache_open(const char *dir, uint64_t max_bytes, struct objcache **ret,
                  char *err, size_t errlen);
void objcache_close(struct objcache *c);

/* A read-only fd of the object (etag, size), fetched through fetch on a
 * miss.  The caller closes the fd.  Errors: fetch's own, -EIO when the
 * fetched length is not `size` (the object changed: nothing is cached),
 * -EFBIG when size alone exceeds the bound, or the errno of the write. */
int objcache_get(struct objcache *c, const char *etag, uint64_t size,
                 objcache_fetch_fn fetch, void *ud, int *fd_out, char *err,
                 size_t errlen);

void objcache_stats(struct objcache *c, struct objcache_stats *st);

#endif
