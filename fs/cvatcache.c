/* cvatcache.c - the last bytes of the CVAT job files and whether the
 * server answers (see cvatcache.h).  The entries are a plain array in the
 * order they were last written, searched linearly: a mount shows a few
 * runs of a few dozen jobs, and each lookup goes with a request to the
 * server anyway.  Each entry carries the identity of the server and login
 * that gave it, compared with the path: kept bytes of another server are
 * never found.
 */
#define _GNU_SOURCE   /* strerrorname_np */
#include "cvatcache.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

struct centry {
  uint64_t server;      /* cvatcache_server_id() of who gave the bytes */
  char *path;
  char *data;
  size_t len;
};

struct cvatcache {
  pthread_mutex_t mu;   /* guards the fields below */
  struct centry *v;     /* oldest first */
  size_t n, cap;
  size_t bytes;         /* sum of the entries' len */
  bool down;            /* the last attempt found no server */
  int down_err;         /* its error, negative */
  time_t down_since;    /* wall clock of the first failure, for status */
  double last_fail;     /* time_mono() of the latest failure */
  uint64_t url;         /* cvatcache_url_id() of the server that failed */
  char reason[400];
};

int cvatcache_new(struct cvatcache **ret)
{
  struct cvatcache *cc = calloc(1, sizeof(*cc));

  if (!cc)
    return -ENOMEM;
  pthread_mutex_init(&cc->mu, NULL);
  *ret = cc;
  return 0;
}

static void entry_free(struct centry *e)
{
  free(e->path);
  free(e->data);
}

void cvatcache_free(struct cvatcache *cc)
{
  if (!cc)
    return;
  for (size_t i = 0; i < cc->n; i++)
    entry_free(&cc->v[i]);
  free(cc->v);
  pthread_mutex_destroy(&cc->mu);
  free(cc);
}

bool cvatcache_unreachable(int r)
{
  return r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ENETUNREACH ||
         r == -ETIMEDOUT || r == -ECONNRESET || r == -EIO || r == -EAGAIN;
}

uint64_t cvatcache_url_id(const char *url)
{
  const char *sep, *host_end, *end;
  uint64_t h = HASH_FNV1A_INIT;

  if (!url)
    url = "";
  /* Scheme and host are case-insensitive (the path is not); slashes at
   * the end name the same API root, as requests append "/api/...". */
  sep = strstr(url, "://");
  host_end = sep ? sep + 3 + strcspn(sep + 3, "/") : url;
  end = url + strlen(url);
  while (end > url && end[-1] == '/')
    end--;
  for (const char *p = url; p < end; p++) {
    unsigned char ch = (unsigned char)*p;
    if (p < host_end)
      ch = (unsigned char)tolower(ch);
    h = hash_bytes_fnv1a(h, &ch, 1);
  }
  return h;
}

uint64_t cvatcache_server_id(const char *url, const char *org,
                             const char *username, const char *token)
{
  const char *part[3] = { org, username, token };
  uint64_t h = cvatcache_url_id(url);

  for (size_t i = 0; i < 3; i++) {
    /* A missing part and an empty one differ: a tag byte before each,
     * and each ends with its NUL, so parts cannot run together. */
    char tag = part[i] ? 1 : 0;
    h = hash_bytes_fnv1a(h, &tag, 1);
    if (part[i])
      h = hash_bytes_fnv1a(h, part[i], strlen(part[i]) + 1);
  }
  return h;
}

bool cvatcache_answered(struct cvatcache *cc, uint64_t url)
{
  bool was;

  pthread_mutex_lock(&cc->mu);
  was = cc->down && cc->url == url;
  if (was)
    cc->down = false;
  pthread_mutex_unlock(&cc->mu);
  return was;
}

bool cvatcache_failed(struct cvatcache *cc, uint64_t url, int r,
                      const char *reason)
{
  bool was;

  pthread_mutex_lock(&cc->mu);
  was = cc->down && cc->url == url;
  if (!was)
    cc->down_since = time(NULL);
  cc->url = url;
  cc->down = true;
  cc->down_err = r;
  cc->last_fail = time_mono();
  snprintf(cc->reason, sizeof(cc->reason), "%s", reason ? reason : "");
  pthread_mutex_unlock(&cc->mu);
  return !was;
}

int cvatcache_skip(struct cvatcache *cc, uint64_t url)
{
  int r = 0;

  pthread_mutex_lock(&cc->mu);
  if (cc->down && time_mono() - cc->last_fail < CVATCACHE_DOWN_S &&
      cc->url == url)
    r = cc->down_err;
  pthread_mutex_unlock(&cc->mu);
  return r;
}

/* The entry of path from server, or -1.  Caller holds cc->mu. */
static ssize_t find_locked(struct cvatcache *cc, uint64_t server,
                           const char *path)
{
  for (size_t i = 0; i < cc->n; i++)
    if (cc->v[i].server == server && strcmp(cc->v[i].path, path) == 0)
      return (ssize_t)i;
  return -1;
}

/* Removes entry i, keeping the order of the rest.  Caller holds cc->mu. */
static void remove_locked(struct cvatcache *cc, size_t i)
{
  cc->bytes -= cc->v[i].len;
  entry_free(&cc->v[i]);
  memmove(&cc->v[i], &cc->v[i + 1], (cc->n - i - 1) * sizeof(cc->v[0]));
  cc->n--;
}

void cvatcache_drop(struct cvatcache *cc, uint64_t server, const char *path)
{
  ssize_t i;

  pthread_mutex_lock(&cc->mu);
  i = find_locked(cc, server, path);
  if (i >= 0)
    remove_locked(cc, (size_t)i);
  pthread_mutex_unlock(&cc->mu);
}

int cvatcache_put(struct cvatcache *cc, uint64_t server, const char *path,
                  const void *data, size_t len)
{
  struct centry e = { .server = server, .len = len };
  ssize_t i;

  if (len > CVATCACHE_MAX_ONE) {
    cvatcache_drop(cc, server, path);
    return 0;
  }
  e.path = strdup(path);
  e.data = malloc(len ? len : 1);
  if (!e.path || !e.data) {
    entry_free(&e);
    return -ENOMEM;
  }
  memcpy(e.data, data, len);
  pthread_mutex_lock(&cc->mu);
  i = find_locked(cc, server, path);
  if (i >= 0)
    remove_locked(cc, (size_t)i);
  while (cc->n && (cc->n >= CVATCACHE_MAX_ENTRIES ||
                   cc->bytes + len > CVATCACHE_MAX_BYTES))
    remove_locked(cc, 0);
  if (cc->n == cc->cap) {
    size_t cap = cc->cap ? cc->cap * 2 : 16;
    struct centry *v = realloc(cc->v, cap * sizeof(*v));
    if (!v) {
      pthread_mutex_unlock(&cc->mu);
      entry_free(&e);
      return -ENOMEM;
    }
    cc->v = v;
    cc->cap = cap;
  }
  cc->v[cc->n++] = e;
  cc->bytes += len;
  pthread_mutex_unlock(&cc->mu);
  return 0;
}

int cvatcache_get(struct cvatcache *cc, uint64_t server, const char *path,
                  struct buf *out)
{
  ssize_t i;
  int r = -ENOENT;

  pthread_mutex_lock(&cc->mu);
  i = find_locked(cc, server, path);
  if (i >= 0)
    r = buf_append(out, cc->v[i].data, cc->v[i].len);
  pthread_mutex_unlock(&cc->mu);
  return r;
}

int cvatcache_status(struct cvatcache *cc, uint64_t url, uint64_t server,
                     struct buf *out)
{
  struct tm tm;
  const char *name;
  size_t kept = 0;
  int r = 0;

  pthread_mutex_lock(&cc->mu);
  if (cc->down && cc->url == url) {
    for (size_t i = 0; i < cc->n; i++)
      kept += cc->v[i].server == server;
    localtime_r(&cc->down_since, &tm);
    name = strerrorname_np(-cc->down_err);
    r = buf_printf(out, "\nserver unreachable since %02d:%02d:%02d: %s (%s): "
                   "%s\nthe jobs' files show what they showed last (%zu "
                   "kept); a job file never read since the mount is not "
                   "listed; reads ask the server again %g s after a "
                   "failure\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                   name ? name : "?", strerror(-cc->down_err), cc->reason,
                   kept, CVATCACHE_DOWN_S);
  }
  pthread_mutex_unlock(&cc->mu);
  return r;
}
