/* objcache.c - the bounded object cache (see objcache.h): an index of
 * entries in a chained hash table and a least-recently-used list, files
 * under objects/, downloads under tmp/, the folder lock and its
 * generation in `lock`.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "import.h"   /* import_hash128 */

#define OC_NAME_MAX OBJCACHE_NAME_MAX

struct oc_entry {
  char name[OC_NAME_MAX];
  uint64_t size;
  int64_t used;                 /* last use, ns of CLOCK_REALTIME (the
                                   file's mtime once touched) */
  bool fetching;                /* a download is in flight */
  bool seen;                    /* resync(): still in the folder */
  struct oc_entry *hnext;       /* hash chain */
  struct oc_entry *prev, *next; /* LRU list, most recent first */
};

struct objcache {
  pthread_mutex_t mu;           /* guards everything below */
  pthread_cond_t cv;            /* signalled when a download ends */
  int objfd, tmpfd;             /* objects/ and tmp/ */
  int lockfd;                   /* `lock` */
  uint64_t gen;                 /* the folder generation last seen */
  struct oc_entry **tab;
  size_t ntab, n;
  struct oc_entry *head, *tail;
  struct objcache_stats st;
};

void objcache_name(const char *id, uint64_t size, char *out)
{
  uint8_t h[16];

  import_hash128(id, strlen(id), h);
  out[0] = 'k';
  for (int i = 0; i < 16; i++)
    snprintf(out + 1 + 2 * i, 3, "%02x", h[i]);
  snprintf(out + 33, OBJCACHE_NAME_MAX - 33, ".%llu",
           (unsigned long long)size);
}

/* Whether name is an object's file name in the current layout ("k", 32
 * hex digits, ".", the size); anything else under objects/ is a leftover
 * of the old layout, keyed by the ETag alone. */
static bool name_ok(const char *name)
{
  if (name[0] != 'k' || strspn(name + 1, "0123456789abcdef") != 32 ||
      name[33] != '.' || !name[34])
    return false;
  return strspn(name + 34, "0123456789") == strlen(name + 34) &&
         strlen(name) < OC_NAME_MAX;
}

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
  e->used = now_ns();
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

/* Evicts e, unless (first pass, !force) its file is in use - someone
 * holds a lock on it - or was used by another daemon since this one last
 * did (then it moves to the front).  A file already gone is only dropped
 * from the index.  True when e is gone.  Caller holds c->mu and the
 * folder lock. */
static bool try_evict(struct objcache *c, struct oc_entry *e, bool force)
{
  int fd = openat(c->objfd, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;

  if (fd < 0 && errno == ENOENT) {
    drop(c, e, false);
    return true;
  }
  if (fd < 0 && !force)
    return false;   /* EMFILE and the like: cannot tell, keep it */
  if (fd >= 0 && !force && flock(fd, LOCK_EX | LOCK_NB) < 0) {
    close(fd);
    return false;
  }
  if (fd >= 0 && !force && fstat(fd, &st) == 0) {
    int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (m > e->used + 1000000000) {
      e->used = m;
      lru_unlink(c, e);
      lru_front(c, e);
      close(fd);
      return false;
    }
  }
  drop(c, e, true);
  if (fd >= 0)
    close(fd);   /* after the unlink: nobody could lock it in between */
  c->st.evictions++;
  return true;
}

/* Evicts from the tail until `need` more bytes fit: first the files
 * nobody has open, visiting each entry once; then, if that is not
 * enough, open ones too (their readers keep reading the whole object
 * through their fds; the space comes back when they close).  Caller
 * holds c->mu and the folder lock.  True when something was evicted. */
static bool make_room(struct objcache *c, uint64_t need)
{
  bool changed = false;

  for (int pass = 0; pass < 2; pass++) {
    struct oc_entry *e = c->tail;
    size_t left = c->n;
    while (e && left-- && c->st.bytes + need > c->st.max_bytes) {
      struct oc_entry *prev = e->prev;
      if (!e->fetching && try_evict(c, e, pass == 1))
        changed = true;
      e = prev;
    }
  }
  return changed;
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
  rewinddir(d);
  while (r == 0 && (de = readdir(d))) {
    struct stat st;
    struct oc_entry *e;
    const char *dot = strrchr(de->d_name, '.');
    if (de->d_name[0] == '.' || !dot ||
        fstatat(c->objfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(st.st_mode) || strlen(de->d_name) >= OC_NAME_MAX)
      continue;
    if (!name_ok(de->d_name) ||
        (uint64_t)st.st_size != strtoull(dot + 1, NULL, 10)) {
      /* Cut short (see objcache.h), or named by the old layout. */
      unlinkat(c->objfd, de->d_name, 0);
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
      e->used = all[i]->used;
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

/* Removes the leftovers of crashed downloads: the files of tmp/ nobody
 * holds locked (a live download of another daemon holds its own). */
static void empty_tmp(struct objcache *c)
{
  DIR *d = fdopendir(dup(c->tmpfd));
  struct dirent *de;

  if (!d)
    return;
  rewinddir(d);   /* the dup shares the offset of an earlier walk */
  while ((de = readdir(d))) {
    int fd;
    if (de->d_name[0] == '.')
      continue;
    fd = openat(c->tmpfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
      unlinkat(c->tmpfd, de->d_name, 0);
    if (fd >= 0)
      close(fd);
  }
  closedir(d);
}

/* Takes the folder lock and returns the generation in the lock file. */
static uint64_t folder_lock(struct objcache *c)
{
  uint8_t b[8] = { 0 };
  uint64_t g = 0;

  while (flock(c->lockfd, LOCK_EX) < 0 && errno == EINTR)
    ;
  if (pread(c->lockfd, b, sizeof(b), 0) == (ssize_t)sizeof(b))
    for (int i = 7; i >= 0; i--)
      g = g << 8 | b[i];
  return g;
}

/* Releases the folder lock; with changed, first records a new generation
 * (gen, what folder_lock() returned, plus one) as the last one seen. */
static void folder_unlock(struct objcache *c, uint64_t gen, bool changed)
{
  if (changed) {
    uint8_t b[8];
    gen++;
    for (int i = 0; i < 8; i++)
      b[i] = (uint8_t)(gen >> (8 * i));
    if (pwrite(c->lockfd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
      gen = 0;   /* others will resync; so will we, next time */
  }
  c->gen = gen;
  flock(c->lockfd, LOCK_UN);
}

/* The folder changed under another daemon: index the files it added (as
 * just used: it added them for a reason) and forget the ones it removed,
 * from the names alone.  Caller holds c->mu and the folder lock. */
static void resync(struct objcache *c)
{
  DIR *d = fdopendir(dup(c->objfd));
  struct dirent *de;

  if (!d)
    return;
  rewinddir(d);   /* the dup shares the offset of an earlier walk */
  for (struct oc_entry *e = c->head; e; e = e->next)
    e->seen = e->fetching;
  while ((de = readdir(d))) {
    const char *dot = strrchr(de->d_name, '.');
    struct oc_entry *e;
    if (!dot || !name_ok(de->d_name))
      continue;
    if ((e = *slot(c, de->d_name))) {
      e->seen = true;
    } else if ((e = insert(c, de->d_name, strtoull(dot + 1, NULL, 10)))) {
      e->seen = true;
      c->st.bytes += e->size;
      c->st.files++;
    }
  }
  closedir(d);
  for (struct oc_entry *e = c->head, *nx; e; e = nx) {
    nx = e->next;
    if (!e->seen)
      drop(c, e, false);
  }
}

/* folder_lock(), then resync() when another daemon changed the folder. */
static uint64_t folder_enter(struct objcache *c)
{
  uint64_t g = folder_lock(c);

  if (g != c->gen)
    resync(c);
  return g;
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
  c->lockfd = openat(top, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                     0600);
  if (c->lockfd < 0)
    c->lockfd = -errno;
  close(top);
  r = c->objfd < 0 ? c->objfd : c->tmpfd < 0 ? c->tmpfd
      : c->lockfd < 0 ? c->lockfd : grow(c);
  if (r == 0) {
    pthread_mutex_lock(&c->mu);
    uint64_t g = folder_lock(c);
    empty_tmp(c);
    r = scan(c);
    /* The bound may have shrunk since the last run; the scan itself may
     * have dropped files cut short. */
    make_room(c, 0);
    folder_unlock(c, g, true);
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
  if (c->lockfd >= 0)
    close(c->lockfd);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* Streams the object into a new file under tmp/ (locked against other
 * daemons' cleanup), checks its length and makes it durable.  The fd
 * (read-write) or a negative errno; *tmp gets the file's name.  No lock
 * held. */
static int download(struct objcache *c, const char *name, uint64_t size,
                    objcache_fetch_fn fetch, void *ud, char *tmp,
                    size_t tmplen, char *err, size_t errlen)
{
  struct stat st;
  int fd, r;

  snprintf(tmp, tmplen, "%s.%ld.%lx", name, (long)getpid(),
           (unsigned long)pthread_self());
  for (int tries = 0;; tries++) {
    fd = openat(c->tmpfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
      return errf(err, errlen, -errno, "cache write: %s", strerror(errno));
    /* Another daemon opening the folder removes the files of tmp/ nobody
     * holds: it may take this one between the create and the lock.  Wait
     * for its lock, then make sure the file still has its name. */
    while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
      ;
    if (fstat(fd, &st) == 0 && st.st_nlink > 0)
      break;
    close(fd);
    if (tries == 8)
      return errf(err, errlen, -EAGAIN, "cache write: the download file "
                  "keeps being removed");
  }
  r = fetch(ud, fd, err, errlen);
  if (r == 0 && fstat(fd, &st) < 0)
    r = errf(err, errlen, -errno, "cache write: %s", strerror(errno));
  if (r == 0 && (uint64_t)st.st_size != size)
    r = errf(err, errlen, -EIO, "fetched %llu bytes, expected %llu: the "
             "object changed", (unsigned long long)st.st_size,
             (unsigned long long)size);
  /* Durable before it gets its final name: a power loss must not leave
   * a short file there. */
  if (r == 0 && fdatasync(fd) < 0)
    r = errf(err, errlen, -errno, "cache write: %s", strerror(errno));
  if (r < 0) {
    unlinkat(c->tmpfd, tmp, 0);
    close(fd);
    return r;
  }
  return fd;
}

/* A miss: download, rename into place, account, and open the result for
 * the caller (*fd_out, read-only, share-locked).  Called with c->mu held
 * and e->fetching set; returns with c->mu held, e->fetching cleared once
 * the file has its name (the caller drops an entry still fetching). */
static int fill(struct objcache *c, struct oc_entry *e, uint64_t size,
                objcache_fetch_fn fetch, void *ud, int *fd_out, char *err,
                size_t errlen)
{
  char name[OC_NAME_MAX], tmp[OC_NAME_MAX + 48];
  uint64_t g;
  int wfd, fd, r = 0;

  snprintf(name, sizeof(name), "%s", e->name);
  pthread_mutex_unlock(&c->mu);
  wfd = download(c, name, size, fetch, ud, tmp, sizeof(tmp), err, errlen);
  pthread_mutex_lock(&c->mu);
  if (wfd < 0)
    return wfd;
  g = folder_enter(c);
  /* A download whose writer died (kill -9, power loss) holds no lock:
   * its bytes go now, not at the next start of a daemon on this folder,
   * so the folder stays within the bound while daemons keep running. */
  empty_tmp(c);
  make_room(c, size);      /* skips e: it is still fetching */
  if (renameat(c->tmpfd, tmp, c->objfd, name) < 0) {
    r = errf(err, errlen, -errno, "cache write: %s", strerror(errno));
    unlinkat(c->tmpfd, tmp, 0);
  }
  close(wfd);   /* its exclusive lock would refuse the shared one below */
  if (r == 0) {
    /* In objects/ now: counted even if the open below fails. */
    e->fetching = false;
    e->used = now_ns();
    c->st.bytes += size;
    c->st.files++;
  }
  /* Opened under the folder lock: no eviction, here or in another
   * daemon, can come between the rename and the lock on the file. */
  fd = r < 0 ? -1 : openat(c->objfd, name, O_RDONLY | O_CLOEXEC |
                                           O_NOFOLLOW);
  if (r == 0 && fd < 0)
    r = errf(err, errlen, -errno, "cache read: %s", strerror(errno));
  if (fd >= 0)
    flock(fd, LOCK_SH | LOCK_NB);
  folder_unlock(c, g, true);
  if (r == 0)
    *fd_out = fd;
  return r;
}

/* A hit on e: an fd of its file, share-locked, the use recorded (and the
 * file's mtime set at most every OBJCACHE_TOUCH_S seconds).  -ENOENT when
 * the file is gone or cut short, else the errno of the open (-EMFILE...):
 * only -ENOENT means fetch again.  Caller holds c->mu. */
static int hit(struct objcache *c, struct oc_entry *e, uint64_t size)
{
  int fd = openat(c->objfd, e->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  int64_t now = now_ns();
  struct stat st;

  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
    int r = (uint64_t)st.st_size != size ? -ENOENT : -errno;
    close(fd);
    return r;
  }
  /* Fails only while an evictor holds the file: it is then unlinked, and
   * this fd still reads the whole object. */
  flock(fd, LOCK_SH | LOCK_NB);
  if (now - e->used >= (int64_t)OBJCACHE_TOUCH_S * 1000000000)
    futimens(fd, NULL);
  e->used = now;
  lru_unlink(c, e);
  lru_front(c, e);
  c->st.hits++;
  return fd;
}

int objcache_get(struct objcache *c, const char *id, uint64_t size,
                 objcache_fetch_fn fetch, void *ud, int *fd_out, char *err,
                 size_t errlen)
{
  char name[OC_NAME_MAX];
  struct oc_entry *e;
  bool synced = false;
  int r = 0;

  *fd_out = -1;
  if (size > c->st.max_bytes)
    return errf(err, errlen, -EFBIG, "object of %llu bytes exceeds the "
                "cache bound", (unsigned long long)size);
  objcache_name(id, size, name);
  pthread_mutex_lock(&c->mu);
  for (;;) {
    e = *slot(c, name);
    if (e && e->fetching) {
      pthread_cond_wait(&c->cv, &c->mu);
      continue;
    }
    if (!e && !synced) {
      /* Another daemon may have fetched it: look at the folder first. */
      folder_unlock(c, folder_enter(c), false);
      synced = true;
      continue;
    }
    if (!e)
      break;
    if ((r = hit(c, e, size)) == -ENOENT) {
      /* Gone or cut short: look again with the folder's current state
       * (another daemon may have evicted or replaced it), else fetch it
       * again. */
      uint64_t g = folder_enter(c);
      bool bad = (e = *slot(c, name)) && !e->fetching &&
                 (r = hit(c, e, size)) == -ENOENT;
      if (bad)
        drop(c, e, true);
      folder_unlock(c, g, bad);
      if (!e || e->fetching || bad)
        continue;
    }
    pthread_mutex_unlock(&c->mu);
    /* Out of descriptors (-EMFILE, -ENFILE) or the like: the cached copy
     * is still good.  Neither dropped nor fetched again: the reader gets
     * the errno, and the next open, once descriptors are free, a hit. */
    if (r < 0)
      return errf(err, errlen, r, "cache read: %s", strerror(-r));
    *fd_out = r;
    return 0;
  }
  c->st.misses++;
  e = insert(c, name, size);
  if (!e) {
    pthread_mutex_unlock(&c->mu);
    return errf(err, errlen, -ENOMEM, "out of memory");
  }
  e->fetching = true;
  r = fill(c, e, size, fetch, ud, fd_out, err, errlen);
  if (r < 0 && e->fetching)
    drop(c, e, false);
  pthread_cond_broadcast(&c->cv);   /* waiters look again */
  pthread_mutex_unlock(&c->mu);
  return r < 0 ? r : 0;
}

void objcache_stats(struct objcache *c, struct objcache_stats *st)
{
  pthread_mutex_lock(&c->mu);
  *st = c->st;
  pthread_mutex_unlock(&c->mu);
}
