/* killshim.c - an LD_PRELOAD library for the fs tests: a process dies
 * while it writes a view list kept in the store's folder (viewsave.c), as
 * one killed by the OOM killer or a power cut would, at a point the test
 * chooses instead of one it would have to time.
 *
 *   KILLSHIM_VIEWS=1      the write() of a kept view list's bytes (they
 *                         start with the file's magic) kills the process
 *                         with SIGKILL before anything is written
 *   KILLSHIM_NOTMPFILE=1  openat() with O_TMPFILE fails with EOPNOTSUPP,
 *                         as on a filesystem without nameless files
 *
 * Without the variables the library does nothing.  It wraps write,
 * openat and openat64 (which of the two a caller binds to depends on its
 * headers).  Test-only: built for the test suite, never installed.
 */
#define _GNU_SOURCE
/* Both names defined here: with 64-bit offsets the headers would make
 * openat another name of openat64. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* The magic a kept view list starts with (core/views/viewsave.c). */
static const char magic[16] = "curatefs-views\0";

static int on(const char *name)
{
  const char *v = getenv(name);
  return v && strcmp(v, "1") == 0;
}

ssize_t write(int fd, const void *p, size_t n)
{
  static ssize_t (*real)(int, const void *, size_t);

  if (n >= sizeof(magic) && memcmp(p, magic, sizeof(magic)) == 0 &&
      on("KILLSHIM_VIEWS"))
    raise(SIGKILL);
  if (!real)
    real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  return real(fd, p, n);
}

/* The mode argument, present when the flags create a file. */
static mode_t mode_of(int flags, va_list ap)
{
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE
             ? (mode_t)va_arg(ap, int) : 0;
}

static int refused(int flags)
{
  if ((flags & O_TMPFILE) != O_TMPFILE || !on("KILLSHIM_NOTMPFILE"))
    return 0;
  errno = EOPNOTSUPP;
  return 1;
}

/* The shared body of both names: refuse, or call the next library's
 * `sym` (looked up once into *real). */
static int open_next(void **real, const char *sym, int dirfd,
                     const char *path, int flags, mode_t mode)
{
  if (refused(flags))
    return -1;
  if (!*real)
    *real = dlsym(RTLD_NEXT, sym);
  return ((int (*)(int, const char *, int, ...))*real)(dirfd, path, flags,
                                                       mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
  static void *real;
  va_list ap;
  mode_t mode;

  va_start(ap, flags);
  mode = mode_of(flags, ap);
  va_end(ap);
  return open_next(&real, "openat", dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
  static void *real;
  va_list ap;
  mode_t mode;

  va_start(ap, flags);
  mode = mode_of(flags, ap);
  va_end(ap);
  return open_next(&real, "openat64", dirfd, path, flags, mode);
}
