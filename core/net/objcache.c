/* objcache.c - the bounded object cache (see objcache.h): an index of
 * entries in a chained hash table and a least-recently-used list, files
 * under objects/, downloads under tmp/.
 */
#define _GNU_SOURCE   /* asprintf */
#include "objcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OC_NAME_MAX 160

struct oc_entry {
  char name[OC_NAME_MAX];
  uint64_t size;
  int64_t used;                 /* for the initial order only */
  bool fetching;                /* a download is in flight */
  struct oc_entry *hnext;       /* hash chain */
  struct oc_entry *prev, *next; /* LRU list, most recent first */
};

struct objcache {
  pthread_mutex_t mu;           /* guards everything below */
  pthread_cond_t cv;            /* signalled when a download ends */
  int objfd, tmpfd;             /* objects/ and tmp/ */
  struct oc_entry **tab;
  size_t ntab, n;
  struct oc_entry *head, *tail;
  struct objcache_stats st;
};

/* The file name of (etag, size); see objcache.h. */
static void oc_name(const char *etag, uint64_t size, char *out)
{
  char hex[OC_NAME_MAX];
  size_t n = 0;
  bool plain = *etag != '\0';

  for (const char *p = etag; *p && plain; p++) {
    if (*p == '"')
      continue;
    if (!strchr("0123456789abcdefABCDEF-", *p) || n >= 100)
      plain = false;
    else
      hex[n++] = *p;
  }
  hex[n] = '\0';
  /* At most 100 + 1 + 20 bytes: always fits (OC_NAME_MAX). */
  if (plain && n &&
      snprintf(out, OC_NAME_MAX, "%s.%llu", hex, (unsigned long long)size) <
          OC_NAME_MAX)
    return;
  snprintf(out, OC_NAME_MAX, "h%016llx.%llu",
           (unsigned long long)hash_str_fnv1a(etag), (unsigned long long)size);
}

static struct oc_entry **slot(struct objcache *c, const char *name)
{
  struct oc_entry **p = &c->tab[hash_str_fnv1a(name) % c->ntab];

  while (*p && strcmp((*p)->name, name) != 0)
    p = &(*p)->hnext;
  return p;
}

static int grow(struct objcache *c)
{
  size_t nn = c->ntab ? c->ntab * 2 : 1024;
  struct oc_entry **t = calloc(nn, sizeof(*t));

  if (!t)
    return -ENOMEM;
  for (size_t i = 0; i < c->ntab; i++)
    for (struct oc_entry *e = c->tab[i], *nx; e; e = nx) {
      size_t k = hash_str_fnv1a(e->name) % nn;
      nx = e->hnext;
      e->hnext = t[k];
      t[k] = e;
    }
  free(c->tab);
  c->tab = t;
  c->ntab = nn;
  return 0;
}

static void lru_unlink(struct objcache *c, struct oc_entry *e)
{
  if (e->prev)
    e->prev->next = e->next;
  else
    c->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_front(struct objcache *c, struct oc_entry *e)
{
  e->next = c->head;
  e->prev = NULL;
  if (c->head)
    c->head->prev = e;
  c->head = e;
  if (!c->tail)
    c->tail = e;
}

/* A new entry, in the index and at the front of the list.  Caller holds
 * c->mu. */
static struct oc_entry *insert(struct objcache *c, const char *name,
                               uint64_t size)
{
  struct oc_entry *e;

  if ((c->n + 1) * 2 > c->ntab && grow(c) < 0)
    return NULL;
  e = calloc(1, sizeof(*e));
  if (!e)
    return NULL;
  snprintf(e->name, sizeof(e->name), "%s", name);
  e->size = size;
  e->hnext = *slot(c, name);
  *slot(c, name) = e;
  lru_front(c, e);
  c->n++;
  return e;
}

/* Drops e from the index (and its file, when unlink_file).  Caller holds
 * c->mu. */
static void drop(struct objcache *c, struct oc_entry *e, bool unlink_file)
{
  struct oc_entry **p = slot(c, e->name);

  *p = e->hnext;
  lru_unlink(c, e);
  if (!e->fetching) {
    c->st.bytes -= e->size;
    c->st.files--;
  }
  if (unlink_file)
    unlinkat(c->objfd, e->name, 0);
  c->n--;
  free(e);
}

/* Evicts from the tail until `need` more bytes fit.  Caller holds c->mu. */
static void make_room(struct objcache *c, uint64_t need)
{
  struct oc_entry *e = c->tail;

  while (e && c->st.bytes + need > c->st.max_bytes) {
    struct oc_entry *prev = e->prev;
    if (!e->fetching) {
      drop(c, e, true);
      c->st.evictions++;
    }
    e = prev;
  }
}

static int by_used(const void *a, const void *b)
{
  const struct oc_entry *x = *(struct oc_entry *const *)a;
  const struct oc_entry *y = *(struct oc_entry *const *)b;
  return x->used < y->used ? -1 : x->used > y->used;
}

/* Indexes objects/ (oldest use last in the list) and empties tmp/. */
static int scan(struct objcache *c)
{
  DIR *d = fdopendir(dup(c->objfd));
  struct oc_entry **all = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  int r = 0;

  if (!d)
    return -errno;
  while (r == 0 && (de = readdir(d))) {
    struct stat st;
    struct oc_entry *e;
    const char *dot = strrchr(de->d_name, '.');
    if (de->d_name[0] == '.' || !dot ||
        fstatat(c->objfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(st.st_mode) || strlen(de->d_name) >= OC_NAME_MAX)
      continue;
    if ((uint64_t)st.st_size != strtoull(dot + 1, NULL, 10)) {
      unlinkat(c->objfd, de->d_name, 0);   /* cut short: see objcache.h */
      continue;
    }
    if (n == cap) {
      struct oc_entry **t = realloc(all, (cap = cap ? cap * 2 : 256) *
                                    sizeof(*t));
      if (!t) {
        r = -ENOMEM;
        break;
      }
      all = t;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
      r = -ENOMEM;
      break;
    }
    memcpy(e->name, de->d_name, strlen(de->d_name) + 1);  /* < OC_NAME_MAX */
    e->size = (uint64_t)st.st_size;
    e->used = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    all[n++] = e;
  }
  closedir(d);
  if (r == 0 && n > 1)
    qsort(all, n, sizeof(*all), by_used);   /* all is NULL when n is 0 */
  for (size_t i = 0; i < n; i++) {
    struct oc_entry *e = r == 0 ? insert(c, all[i]->name, all[i]->size)
                                : NULL;
    if (e) {
      c->st.bytes += e->size;
      c->st.files++;
    } else if (r == 0) {
      r = -ENOMEM;
    }
    free(all[i]);
  }
  free(all);
  return r;
}

static void empty_tmp(struct objcache *c)
{
  DIR *d = fdopendir(dup(c->tmpfd));
  struct dirent *de;

  if (!d)
    return;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.')
      unlinkat(c->tmpfd, de->d_name, 0);
  closedir(d);
}

static int open_dir(int at, const char *name)
{
  int fd;

  if (mkdirat(at, name, 0700) < 0 && errno != EEXIST)
    return -errno;
  fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int objcache_open(const char *dir, uint64_t max_bytes, struct objcache **ret,
                  char *err, size_t errlen)
{
  struct objcache *c;
  int top, r;

  *ret = NULL;
  if (max_bytes == 0)
    return errf(err, errlen, -EINVAL, "cache size must be above 0");
  top = open_dir(AT_FDCWD, dir);
  if (top < 0)
    return errf(err, errlen, top, "cache folder %s: %s", dir,
                strerror(-top));
  c = calloc(1, sizeof(*c));
  if (!c) {
    close(top);
    return errf(err, errlen, -ENOMEM, "out of memory");
  }
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  c->st.max_bytes = max_bytes;
  c->objfd = open_dir(top, "objects");
  c->tmpfd = open_dir(top, "tmp");
  close(top);
  r = c->objfd < 0 ? c->objfd : c->tmpfd < 0 ? c->tmpfd : grow(c);
  if (r == 0) {
    empty_tmp(c);
    r = scan(c);
  }
  if (r == 0) {
    pthread_mutex_lock(&c->mu);
    make_room(c, 0);   /* the bound may have shrunk since the last run */
    pthread_mutex_unlock(&c->mu);
  }
  if (r < 0) {
    objcache_close(c);
    return errf(err, errlen, r, "cache folder %s: %s", dir, strerror(-r));
  }
  *ret = c;
  return 0;
}

void objcache_close(struct objcache *c)
{
  if (!c)
    return;
  for (struct oc_entry *e = c->head, *nx; e; e = nx) {
    nx = e->next;
    free(e);
  }
  free(c->tab);
  if (c->objfd >= 0)
    close(c->objfd);
  if (c->tmpfd >= 0)
    close(c->tmpfd);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* Writes b to tmp/ and renames it to objects/<name>.  No lock held. */
static int store_file(struct objcache *c, const char *name,
                      const struct buf *b)
{
  char tmp[OC_NAME_MAX + 32];
  size_t off = 0;
  int fd, r = 0;

  snprintf(tmp, sizeof(tmp), "%s.%ld.%lx", name, (long)getpid(),
           (unsigned long)pthread_self());
  fd = openat(c->tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  while (r == 0 && off < b->len) {
    ssize_t w = write(fd, b->data + off, b->len - off);
    if (w < 0 && errno != EINTR)
      r = -errno;
    else if (w > 0)
      off += (size_t)w;
  }
  if (close(fd) < 0 && r == 0)
    r = -errno;
  if (r == 0 && renameat(c->tmpfd, tmp, c->objfd, name) < 0)
    r = -errno;
  if (r < 0)
    unlinkat(c->tmpfd, tmp, 0);
  return r;
}

/* A miss: fetch, check the length, store, and account.  Called with
 * c->mu held and e->fetching set; returns with c->mu held, e->fetching
 * cleared on success only (the caller drops a failed entry). */
static int fill(struct objcache *c, struct oc_entry *e, uint64_t size,
                objcache_fetch_fn fetch, void *ud, char *err, size_t errlen)
{
  struct buf b;
  char name[OC_NAME_MAX];
  int r;

  snprintf(name, sizeof(name), "%s", e->name);
  pthread_mutex_unlock(&c->mu);
  buf_init(&b, (size_t)size + 1);
  r = fetch(ud, &b, err, errlen);
  if (r == 0 && b.len != size)
    r = errf(err, errlen, -EIO, "fetched %zu bytes, expected %llu: the "
             "object changed", b.len, (unsigned long long)size);
  if (r == 0 && (r = store_file(c, name, &b)) < 0)
    errf(err, errlen, r, "cache write: %s", strerror(-r));
  buf_free(&b);
  pthread_mutex_lock(&c->mu);
  if (r == 0) {
    make_room(c, size);      /* skips e: it is still fetching */
    e->fetching = false;
    c->st.bytes += size;
    c->st.files++;
  }
  return r;
}

int objcache_get(struct objcache *c, const char *etag, uint64_t size,
                 objcache_fetch_fn fetch, void *ud, int *fd_out, char *err,
                 size_t errlen)
{
  char name[OC_NAME_MAX];
  struct oc_entry *e;
  int r = 0, fd;

  *fd_out = -1;
  if (size > c->st.max_bytes)
    return errf(err, errlen, -EFBIG, "object of %llu bytes exceeds the "
                "cache bound", (unsigned long long)size);
  oc_name(etag, size, name);
  pthread_mutex_lock(&c->mu);
  for (;;) {
    e = *slot(c, name);
    if (e && e->fetching) {
      pthread_cond_wait(&c->cv, &c->mu);
      continue;
    }
    if (e) {
      fd = openat(c->objfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      struct stat st;
      if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_size == size) {
        lru_unlink(c, e);
        lru_front(c, e);
        c->st.hits++;
        pthread_mutex_unlock(&c->mu);
        *fd_out = fd;
        return 0;
      }
      if (fd >= 0)
        close(fd);
      drop(c, e, true);   /* gone or cut short: fetch it again */
      continue;
    }
    break;
  }
  c->st.misses++;
  e = insert(c, name, size);
  if (!e) {
    pthread_mutex_unlock(&c->mu);
    return errf(err, errlen, -ENOMEM, "out of memory");
  }
  e->fetching = true;
  r = fill(c, e, size, fetch, ud, err, errlen);
  if (r < 0)
    drop(c, e, false);
  /* Opened before the mutex goes: another thread's make_room() could
   * otherwise evict the file between its rename and our open. */
  fd = r < 0 ? -1 : openat(c->objfd, name, O_RDONLY | O_CLOEXEC |
                                           O_NOFOLLOW);
  if (r == 0 && fd < 0)
    r = errf(err, errlen, -errno, "cache read: %s", strerror(errno));
  pthread_cond_broadcast(&c->cv);   /* waiters look again */
  pthread_mutex_unlock(&c->mu);
  if (r < 0)
    return r;
  *fd_out = fd;
  return 0;
}

void objcache_stats(struct objcache *c, struct objcache_stats *st)
{
  pthread_mutex_lock(&c->mu);
  *st = c->st;
  pthread_mutex_unlock(&c->mu);
}
