/* fdcache.c - open source files kept for reads without an open request.
 *
 * On a read-only mount (-o readonly) the kernel opens files without asking
 * the daemon (no-open mode), so reads arrive with no handle.  Opening the
 * source image for every 128 KiB read would cost more than the read; this
 * small direct-mapped cache keeps the file descriptors of recently read
 * samples.  Entries are reference-counted: a descriptor being spliced to
 * the kernel is never closed under the reply; a slot in use by another
 * sample makes the caller use a descriptor of its own for that read.
 * A kept descriptor serves only while it is the file that was checked
 * (open_sample_source(): still the file the import recorded): each hit
 * compares the file's size and times with those taken at that check, and
 * the record with the one checked against, so a file changed in place
 * or a re-import makes the next read open and check the file again
 * (fstat per read; the content hash only then, once).
 *
 * Ownership: the cache (c->fdc) is created by state_init() and freed by
 * state_free().  Locking: f->mu guards every slot (sample, fd, refs); the
 * source file is opened unlocked.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vtree.h"

#define FDCACHE_SLOTS 512

struct fd_slot {
  uint64_t sample;   /* 0 = empty */
  int fd;
  unsigned refs;
  uint64_t size;     /* the record checked against (size, time) */
  int64_t mtime_ns;
  struct stat st;    /* fd's, taken before its check */
};

/* Whether the slot's descriptor is still the file checked for s's record:
 * the same record (no import since) and, per fstat, the file in the
 * same state as at the check (stat_same_state). */
static bool slot_current(const struct fd_slot *sl, const struct sample *s)
{
  struct stat st;

  if (sl->size != s->size || sl->mtime_ns != s->mtime_ns ||
      fstat(sl->fd, &st) < 0)
    return false;
  return stat_same_state(&st, &sl->st);
}

struct fdcache {
  pthread_mutex_t mu;
  struct fd_slot slot[FDCACHE_SLOTS];
};

int fdcache_new(struct fs_ctx *c)
{
  struct fdcache *f = calloc(1, sizeof(*f));

  if (!f)
    return -ENOMEM;
  pthread_mutex_init(&f->mu, NULL);
  c->fdc = f;
  return 0;
}

int fdcache_get(struct fs_ctx *c, const struct sample *s, struct fd_ref *ret)
{
  struct fdcache *f = c->fdc;
  struct fd_slot *sl;
  struct stat st;
  int fd, r;

  ret->slot = NULL;
  ret->fd = -1;
  sl = &f->slot[(s->id * 0x9E3779B97F4A7C15ULL) >> 55 & (FDCACHE_SLOTS - 1)];
  pthread_mutex_lock(&f->mu);
  if (sl->sample == s->id) {
    if (slot_current(sl, s)) {
      sl->refs++;
      ret->slot = sl;
      ret->fd = sl->fd;
      pthread_mutex_unlock(&f->mu);
      return 0;
    }
    /* Changed since its check, or another record: opened and checked
     * again below; dropped now unless a read still splices from it. */
    if (sl->refs == 0) {
      close(sl->fd);
      sl->sample = 0;
    }
  }
  pthread_mutex_unlock(&f->mu);
  /* st is taken before the check: one taken after it would record a
   * file changed between the two as the file checked, and serve it */
  r = open_sample_source_st(c, s, &fd, &st);
  if (r < 0)
    return r;
  pthread_mutex_lock(&f->mu);
  if (sl->refs == 0 && sl->sample != s->id) {
    /* Take the slot: the previous sample's descriptor is idle. */
    if (sl->sample)
      close(sl->fd);
    sl->sample = s->id;
    sl->fd = fd;
    sl->refs = 1;
    sl->size = s->size;
    sl->mtime_ns = s->mtime_ns;
    sl->st = st;
    ret->slot = sl;
  }
  pthread_mutex_unlock(&f->mu);
  ret->fd = fd;  /* not cached when the slot was busy: closed at put */
  return 0;
}

void fdcache_put(struct fs_ctx *c, struct fd_ref *ref)
{
  struct fdcache *f = c->fdc;

  if (ref->slot) {
    struct fd_slot *sl = ref->slot;
    pthread_mutex_lock(&f->mu);
    assert(sl->refs > 0);  /* the reference this get took */
    sl->refs--;
    pthread_mutex_unlock(&f->mu);
  } else if (ref->fd >= 0) {
    close(ref->fd);
  }
  ref->slot = NULL;
  ref->fd = -1;
}

void fdcache_free(struct fs_ctx *c)
{
  struct fdcache *f = c->fdc;

  if (!f)
    return;
  for (size_t i = 0; i < FDCACHE_SLOTS; i++) {
    assert(f->slot[i].refs == 0);  /* every read replied */
    if (f->slot[i].sample)
      close(f->slot[i].fd);
  }
  pthread_mutex_destroy(&f->mu);
  free(f);
  c->fdc = NULL;
}
