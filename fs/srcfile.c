/* srcfile.c - opening a sample's source file (srcfile.h).
 *
 * A folder's files are opened through dataset_open(), which resolves the
 * stored relative path beneath the dataset root and refuses a path that
 * leaves it, and are served only if the store's owner may read them: the
 * daemon (root, for another user's store) may be able to read what the
 * owner may not, and only while they are the files the import recorded
 * (import_file_current(): the size and time, or else the bytes).  A
 * bucket's files come from the local object cache (core/net/objsource.h),
 * as a plain descriptor too, at the version (ETag) the import recorded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "import.h"
#include "imgfmt.h"
#include "srcfile.h"

/* A bucket sample: its recorded ETag, then the cached copy. */
static int open_bucket_source(struct fs_ctx *c, const struct sample *s,
                              int *ret_fd)
{
  char etag[IMPORT_VERSION_MAX] = "", err[600] = "";
  struct store_txn *t;
  const void *v;
  uint8_t key[8];
  size_t n;
  int r;

  store_key_u64(key, s->id);
  r = store_txn_begin(c->store, false, &t);
  if (r == 0) {
    r = store_rec_get(t, IMPORT_REC_VERSION, key, sizeof(key), &v, &n);
    if (r == 0)
      snprintf(etag, sizeof(etag), "%.*s", (int)n, (const char *)v);
    store_txn_abort(t);
  }
  if (r == 0)
    r = objsource_open_file(c->objsrc, s->relpath, etag, s->size, ret_fd,
                            err, sizeof(err));
  if (r < 0)
    fs_error(c, "%s%s: cannot read %s%s: %s", s->name, img_ext_of(s->format),
             c->root, s->relpath, r == -ESTALE
             ? "it changed in the bucket since the import; import again"
             : r == -ENOENT && !err[0] ? "no version recorded; import again"
             : err[0] ? err : strerror(-r));
  return r;
}

/* Whether the store's owner may read the open file fd by its mode bits
 * (owner, then group, then others; the owner's supplementary groups are
 * not counted, which errs on the side of refusing).  Root owns everything
 * it may read. */
static bool owner_may_read(const struct fs_ctx *c, int fd)
{
  struct stat st;

  if (c->uid == 0)
    return true;
  if (fstat(fd, &st) < 0)
    return false;
  if (st.st_uid == c->uid)
    return (st.st_mode & S_IRUSR) != 0;
  if (st.st_gid == c->gid)
    return (st.st_mode & S_IRGRP) != 0;
  return (st.st_mode & S_IROTH) != 0;
}

/* ---- sources touched since the import, their bytes checked ---- */

/* One file whose modification time moved since the import while its
 * bytes stayed the recorded ones (import_file_current() hashed it):
 * while its inode, size and times are still these, it is that file, and
 * is not read again (a write moves the change time, which no program can
 * set).  Direct-mapped by sample id: a collision costs a hash, never a
 * wrong answer. */
#define SRCMEMO_SLOTS 4096

struct srcmemo_slot {
  uint64_t sample;          /* 0 = empty */
  uint64_t rec_size;        /* the record checked against */
  int64_t rec_mtime_ns;
  struct stat st;           /* the file's, at the check */
};

struct srcmemo {
  pthread_mutex_t mu;       /* guards s[] and the counts */
  struct srcmemo_slot s[SRCMEMO_SLOTS];
  uint64_t hashed;          /* touched files read whole to check them */
  uint64_t refused;         /* sources refused as changed */
};

void srcmemo_stats(struct fs_ctx *c, uint64_t *hashed, uint64_t *refused)
{
  *hashed = *refused = 0;
  if (!c->srcmemo)
    return;
  pthread_mutex_lock(&c->srcmemo->mu);
  *hashed = c->srcmemo->hashed;
  *refused = c->srcmemo->refused;
  pthread_mutex_unlock(&c->srcmemo->mu);
}

int srcmemo_new(struct fs_ctx *c)
{
  c->srcmemo = calloc(1, sizeof(*c->srcmemo));
  if (!c->srcmemo)
    return -ENOMEM;
  pthread_mutex_init(&c->srcmemo->mu, NULL);
  return 0;
}

void srcmemo_free(struct fs_ctx *c)
{
  if (!c->srcmemo)
    return;
  pthread_mutex_destroy(&c->srcmemo->mu);
  free(c->srcmemo);
  c->srcmemo = NULL;
}

static bool slot_is(const struct srcmemo_slot *m, const struct sample *s,
                    const struct stat *st)
{
  return m->sample == s->id && m->rec_size == s->size &&
         m->rec_mtime_ns == s->mtime_ns && stat_same_state(&m->st, st);
}

/* import_file_current() of fd for s, but a touched file whose bytes were
 * checked already is not read again while it stays as it was then.  *ret:
 * fd's fstat taken before the check, so that a change made during or
 * after it shows as another state. */
static int source_current(struct fs_ctx *c, int fd, const struct sample *s,
                          struct stat *ret)
{
  struct srcmemo *mm = c->srcmemo;
  struct srcmemo_slot *m;
  struct stat st;
  bool known;
  int r;

  if (fstat(fd, &st) < 0)
    return -errno;
  *ret = st;
  if ((uint64_t)st.st_size == s->size &&
      timespec_ns(st.st_mtim) == s->mtime_ns)
    return 0;   /* as imported: the usual case, no lock */
  if (!mm)
    return import_file_current(fd, s);
  if ((uint64_t)st.st_size != s->size) {   /* changed: no need to read it */
    pthread_mutex_lock(&mm->mu);
    mm->refused++;
    pthread_mutex_unlock(&mm->mu);
    return -ESTALE;
  }
  m = &mm->s[s->id % SRCMEMO_SLOTS];
  pthread_mutex_lock(&mm->mu);
  known = slot_is(m, s, &st);
  pthread_mutex_unlock(&mm->mu);
  if (known)
    return 0;
  r = import_file_current(fd, s);
  pthread_mutex_lock(&mm->mu);
  if (r == 0)
    *m = (struct srcmemo_slot){ s->id, s->size, s->mtime_ns, st };
  mm->hashed += r == 0 || r == -ESTALE;   /* read whole, either way */
  mm->refused += r == -ESTALE;
  pthread_mutex_unlock(&mm->mu);
  return r;
}

int open_sample_source(struct fs_ctx *c, const struct sample *s, int *ret_fd)
{
  struct stat st;

  return open_sample_source_st(c, s, ret_fd, &st);
}

int open_sample_source_st(struct fs_ctx *c, const struct sample *s,
                          int *ret_fd, struct stat *ret_st)
{
  int r;

  if (c->objsrc) {
    /* the object cache's file of the recorded version: never changed */
    r = open_bucket_source(c, s, ret_fd);
    if (r == 0 && fstat(*ret_fd, ret_st) < 0) {
      r = -errno;
      close(*ret_fd);
      *ret_fd = -1;
    }
    return r;
  }
  r = dataset_open(c->root, s->relpath);

  *ret_fd = r < 0 ? -1 : r;
  if (r == -EXDEV) {
    /* A link that leads out of the dataset folder. */
    fs_error(c, "%s%s: source %s leads out of the dataset folder "
             "(a symbolic link?): refused", s->name, img_ext_of(s->format),
             s->relpath);
    return -EACCES;
  }
  if (r < 0) {
    fs_error(c, "%s%s: cannot open source %s: %s", s->name,
             img_ext_of(s->format), s->relpath, strerror(-r));
    return r;
  }
  if (!owner_may_read(c, *ret_fd)) {
    /* A daemon running as root for another user's store could read what
     * that user cannot: a hard link to a root-only file placed in the
     * dataset folder (possible where protected_hardlinks is off) would
     * otherwise be served. */
    fs_error(c, "%s%s: source %s is not readable by the store's owner "
             "(uid %u): refused", s->name, img_ext_of(s->format), s->relpath,
             (unsigned)c->uid);
    close(*ret_fd);
    *ret_fd = -1;
    return -EACCES;
  }
  r = source_current(c, *ret_fd, s, ret_st);
  if (r < 0) {
    /* Its bytes under the recorded size, dimensions and boxes would be a
     * cut or padded file, or boxes on another picture. */
    if (r == -ESTALE)
      fs_error(c, "%s%s: source %s changed since the import (another "
               "size or other bytes): import again", s->name,
               img_ext_of(s->format), s->relpath);
    else
      fs_error(c, "%s%s: cannot check source %s: %s", s->name,
               img_ext_of(s->format), s->relpath, strerror(-r));
    close(*ret_fd);
    *ret_fd = -1;
    return r;
  }
  return 0;
}
