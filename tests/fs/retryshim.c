/* retryshim.c - an LD_PRELOAD library for the fs tests: the daemon takes
 * the kernel's retry of a refused OPEN as late as the test wants, as it
 * may on a machine whose CPUs are busy elsewhere.
 *
 * When the daemon answers an OPEN with ESTALE, the kernel looks the path
 * up again and sends a second OPEN from the same thread.  This library
 * watches the daemon's /dev/fuse traffic: it notes the requester of each
 * OPEN it reads, and the requester of each OPEN answered with ESTALE.  The
 * first such requester's next OPEN stops in the read() that fetched it,
 * before the daemon sees it:
 *
 *   RETRYSHIM_PAUSE_DIR  the requester's thread id is written to
 *                        DIR/paused (a FIFO the test reads), then the read
 *                        waits until the test opens DIR/go (a FIFO) for
 *                        writing (tests/fault/faultlib.py, Pause)
 *
 * Later retries pass at once; nothing else is changed.  Without the
 * variable the library does nothing.  It wraps read (how libfuse 3
 * fetches requests when it does not splice) and writev (how it sends a
 * reply without data).  Threads: the tables are under one mutex.
 * Test-only: built for the test suite, never installed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#define SLOTS 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t open_unique[SLOTS];  /* OPENs read: request id ... */
static uint32_t open_pid[SLOTS];     /* ... and requester */
static unsigned open_next;
static uint32_t refused_pid[SLOTS];  /* requesters refused with ESTALE */
static unsigned refused_next;

/* Whether fd is a FUSE device (/dev/fuse, 10:229). */
static int is_fuse_dev(int fd)
{
  struct stat st;

  return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
         major(st.st_rdev) == 10 && minor(st.st_rdev) == 229;
}

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int paused;                   /* the one pause was taken */

/* Blocks until the test opens DIR/go, after writing pid to DIR/paused. */
static void pause_here(const char *dir, uint32_t pid)
{
  char p[4096], line[32], c;
  int fd, len;

  snprintf(p, sizeof(p), "%s/paused", dir);
  fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    len = snprintf(line, sizeof(line), "%u\n", (unsigned)pid);
    if (write(fd, line, (size_t)len) != len)
      abort();
    close(fd);
  }
  snprintf(p, sizeof(p), "%s/go", dir);
  fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    while (real_read(fd, &c, 1) > 0)
      ;
    close(fd);
  }
}

/* An OPEN read from the device: noted; true if it is the first refused
 * requester's next one. */
static int note_open(const struct fuse_in_header *in)
{
  int retry = 0;

  pthread_mutex_lock(&mu);
  for (unsigned i = 0; i < SLOTS; i++)
    if (refused_pid[i] && refused_pid[i] == in->pid) {
      refused_pid[i] = 0;
      retry = !paused;
      paused = 1;
    }
  open_unique[open_next % SLOTS] = in->unique;
  open_pid[open_next++ % SLOTS] = in->pid;
  pthread_mutex_unlock(&mu);
  return retry;
}

/* A reply with error ESTALE: if it answers an OPEN, its requester's next
 * OPEN is the kernel's retry. */
static void note_refusal(uint64_t unique)
{
  pthread_mutex_lock(&mu);
  for (unsigned i = 0; i < SLOTS; i++)
    if (open_unique[i] == unique && open_pid[i]) {
      refused_pid[refused_next++ % SLOTS] = open_pid[i];
      open_unique[i] = 0;
      open_pid[i] = 0;
    }
  pthread_mutex_unlock(&mu);
}

ssize_t read(int fd, void *buf, size_t n)
{
  const char *dir = getenv("RETRYSHIM_PAUSE_DIR");
  struct fuse_in_header in;
  ssize_t r;

  if (!real_read)
    real_read = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
  r = real_read(fd, buf, n);
  if (!dir || r < (ssize_t)sizeof(in))
    return r;
  memcpy(&in, buf, sizeof(in));
  if (in.len == (uint32_t)r && in.opcode == FUSE_OPEN && is_fuse_dev(fd) &&
      note_open(&in)) {
    int saved = errno;
    pause_here(dir, in.pid);
    errno = saved;
  }
  return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
  struct fuse_out_header out;

  if (!real_writev)
    real_writev = (ssize_t (*)(int, const struct iovec *, int))dlsym(
        RTLD_NEXT, "writev");
  if (getenv("RETRYSHIM_PAUSE_DIR") && cnt > 0 &&
      iov[0].iov_len >= sizeof(out)) {
    memcpy(&out, iov[0].iov_base, sizeof(out));
    if (out.error == -ESTALE && is_fuse_dev(fd))
      note_refusal(out.unique);
  }
  return real_writev(fd, iov, cnt);
}
