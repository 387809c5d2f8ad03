/* cvatcache.c - the last bytes of the CVAT job files and whether the
 * server answers (see cvatcache.h).  The entries are a plain array in the
 * order they were last written, searched linearly: a mount shows a few
 * runs of a few dozen jobs, and each lookup goes with a request to the
 * server anyway.
 */
#define _GNU_SOURCE   /* strerrorname_np */
#include "cvatcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

struct centry {
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
  char url[1100];       /* the server that failed */
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

bool cvatcache_answered(struct cvatcache *cc)
{
  bool was;

  pthread_mutex_lock(&cc->mu);
  was = cc->down;
  cc->down = false;
  pthread_mutex_unlock(&cc->mu);
  return was;
}

bool cvatcache_failed(struct cvatcache *cc, const char *url, int r,
                      const char *reason)
{
  bool was;

  if (!url)
    url = "";
  pthread_mutex_lock(&cc->mu);
  was = cc->down && strcmp(cc->url, url) == 0;
  if (!was)
    cc->down_since = time(NULL);
  snprintf(cc->url, sizeof(cc->url), "%s", url);
  cc->down = true;
  cc->down_err = r;
  cc->last_fail = time_mono();
  snprintf(cc->reason, sizeof(cc->reason), "%s", reason ? reason : "");
  pthread_mutex_unlock(&cc->mu);
  return !was;
}

int cvatcache_skip(struct cvatcache *cc, const char *url)
{
  int r = 0;

  pthread_mutex_lock(&cc->mu);
  if (cc->down && time_mono() - cc->last_fail < CVATCACHE_DOWN_S &&
      strcmp(cc->url, url ? url : "") == 0)
    r = cc->down_err;
  pthread_mutex_unlock(&cc->mu);
  return r;
}

/* The entry of path, or -1.  Caller holds cc->mu. */
static ssize_t find_locked(struct cvatcache *cc, const char *path)
{
  for (size_t i = 0; i < cc->n; i++)
    if (strcmp(cc->v[i].path, path) == 0)
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

void cvatcache_drop(struct cvatcache *cc, const char *path)
{
  ssize_t i;

  pthread_mutex_lock(&cc->mu);
  i = find_locked(cc, path);
  if (i >= 0)
    remove_locked(cc, (size_t)i);
  pthread_mutex_unlock(&cc->mu);
}

int cvatcache_put(struct cvatcache *cc, const char *path, const void *data,
                  size_t len)
{
  struct centry e = { .len = len };
  ssize_t i;

  if (len > CVATCACHE_MAX_ONE) {
    cvatcache_drop(cc, path);
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
  i = find_locked(cc, path);
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

int cvatcache_get(struct cvatcache *cc, const char *path, struct buf *out)
{
  ssize_t i;
  int r = -ENOENT;

  pthread_mutex_lock(&cc->mu);
  i = find_locked(cc, path);
  if (i >= 0)
    r = buf_append(out, cc->v[i].data, cc->v[i].len);
  pthread_mutex_unlock(&cc->mu);
  return r;
}

int cvatcache_status(struct cvatcache *cc, struct buf *out)
{
  struct tm tm;
  const char *name;
  int r = 0;

  pthread_mutex_lock(&cc->mu);
  if (cc->down) {
    localtime_r(&cc->down_since, &tm);
    name = strerrorname_np(-cc->down_err);
    r = buf_printf(out, "\nserver unreachable since %02d:%02d:%02d: %s (%s): "
                   "%s\nthe jobs' files show what they showed last (%zu "
                   "kept); a job file never read since the mount is not "
                   "listed; reads ask the server again %g s after a "
                   "failure\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                   name ? name : "?", strerror(-cc->down_err), cc->reason,
                   cc->n, CVATCACHE_DOWN_S);
  }
  pthread_mutex_unlock(&cc->mu);
  return r;
}
