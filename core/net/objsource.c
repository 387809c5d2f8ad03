/* objsource.c - bucket files through the local cache (see objsource.h). */
#define _GNU_SOURCE   /* asprintf */
#include "objsource.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

struct objsource {
  struct s3_pool *pool;
  struct objcache *cache;
  char *prefix;             /* "" or ending in '/' */
  char *place;              /* "ENDPOINT\nBUCKET\n": the start of every
                               object's cache identity */
};

int objsource_is_bucket(const char *root)
{
  return root && strncmp(root, "s3://", 5) == 0;
}

int objsource_open(const char *root, const struct aws_conf *conf,
                   const char *cache_dir, uint64_t cache_bytes,
                   struct objsource **ret, char *err, size_t errlen)
{
  struct objsource *o;
  char *bucket = NULL, *prefix = NULL;
  int r;

  *ret = NULL;
  if ((r = s3_url_parse_folder(root, &bucket, &prefix, err, errlen)) < 0)
    return r;
  o = calloc(1, sizeof(*o));
  if (!o) {
    free(bucket);
    free(prefix);
    return errf(err, errlen, -ENOMEM, "out of memory");
  }
  o->prefix = prefix;
  /* AWS itself (no endpoint): bucket names are unique in a region's
   * partition, the region tells the partition. */
  if (asprintf(&o->place, "%s%s\n%s\n", conf->endpoint ? "" : "aws:",
               conf->endpoint ? conf->endpoint : conf->region, bucket) < 0) {
    o->place = NULL;
    free(bucket);
    objsource_close(o);
    return errf(err, errlen, -ENOMEM, "out of memory");
  }
  r = s3_pool_open(conf, bucket, OBJSOURCE_READERS, &o->pool, err, errlen);
  if (r == 0)
    r = objcache_open(cache_dir, cache_bytes, &o->cache, err, errlen);
  free(bucket);
  if (r < 0) {
    objsource_close(o);
    return r;
  }
  *ret = o;
  return 0;
}

void objsource_close(struct objsource *o)
{
  if (!o)
    return;
  objcache_close(o->cache);
  s3_pool_close(o->pool);
  free(o->prefix);
  free(o->place);
  free(o);
}

struct fetch {
  struct objsource *o;
  const char *relpath, *etag, *vid;
  uint64_t size;
};

/* The cache's miss: the whole object streamed into fd, only if it is
 * still etag (and, in a versioned bucket, that version). */
static int fetch_whole(void *ud, int fd, char *err, size_t errlen)
{
  struct fetch *f = ud;
  char key[S3_KEY_MAX + 1];
  struct s3_read rd = { .key = key, .version_id = f->vid,
                        .if_match = f->etag, .fd = fd,
                        /* one byte over tells a longer object */
                        .max = (size_t)f->size + 1 };
  struct s3 *cli;
  int slot, r;

  if ((size_t)snprintf(key, sizeof(key), "%s%s", f->o->prefix, f->relpath) >=
      sizeof(key))
    return errf(err, errlen, -ENAMETOOLONG, "key too long");
  cli = s3_pool_borrow(f->o->pool, &slot);
  r = s3_read(cli, &rd, err, errlen);
  if (r == -ENOENT && f->vid && *f->vid) {
    /* The recorded version is gone (NoSuchVersion).  An object uploaded
     * again unchanged has a newer version with the same ETag, and a
     * re-import keeps the old record (same ETag, same size): read the
     * current version, held to the recorded ETag by If-Match.  Any other
     * outcome keeps the first error and its reason. */
    char first[512];
    snprintf(first, sizeof(first), "%s", err);
    rd.version_id = NULL;
    if (s3_read(cli, &rd, err, errlen) < 0) {
      snprintf(err, errlen, "%s", first);
      r = -ENOENT;
    } else {
      r = 0;
    }
  }
  s3_pool_return(f->o->pool, slot);
  if (r == -E2BIG)
    r = errf(err, errlen, -EIO, "%s: longer than its recorded %llu bytes: "
             "the object changed", f->relpath, (unsigned long long)f->size);
  /* If-Match already holds the server to the ETag; a server that ignores
   * it still cannot slip other bytes into the cache. */
  if (r == 0 && rd.etag[0] && strcmp(rd.etag, f->etag) != 0)
    r = errf(err, errlen, -ESTALE, "%s: ETag %s, expected %s", f->relpath,
             rd.etag, f->etag);
  return r;
}

int objsource_open_file(struct objsource *o, const char *relpath,
                        const char *version, uint64_t size, int *fd,
                        char *err, size_t errlen)
{
  char etag[S3_ETAG_MAX];
  size_t n = objsource_etag_len(version);
  struct fetch f = { o, relpath, etag, version[n] ? version + n + 1 : NULL,
                     size };
  char *id;
  int r;

  /* "ETAG" or "ETAG VERSIONID" (s3src.h). */
  if (n >= sizeof(etag) || (f.vid && strlen(f.vid) > S3_VERSION_ID_MAX))
    return errf(err, errlen, -EINVAL, "bad recorded version");
  snprintf(etag, sizeof(etag), "%.*s", (int)n, version);
  /* The cache identity: where the object lives, which version, which
   * bytes (objcache.h). */
  if (asprintf(&id, "%s%s%s\n%s\n%s", o->place, o->prefix, relpath,
               f.vid ? f.vid : "", etag) < 0)
    return errf(err, errlen, -ENOMEM, "out of memory");
  r = objcache_get(o->cache, id, size, fetch_whole, &f, fd, err, errlen);
  free(id);
  return r;
}

size_t objsource_etag_len(const char *version)
{
  return strcspn(version, " ");
}

void objsource_stats(struct objsource *o, struct objcache_stats *st)
{
  objcache_stats(o->cache, st);
}
