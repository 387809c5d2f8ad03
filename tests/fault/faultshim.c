/* faultshim.c - an LD_PRELOAD library that makes chosen calls fail, or
 * stop, for the fault-injection tests (tests/fault/).
 *
 * It wraps open/openat, write/pwrite/writev, pread, fsync/fdatasync and
 * malloc/calloc/realloc.  Nothing changes unless FAULT_OP is set; then the
 * calls of that kind that match are counted, and the ones selected by
 * count fail with a chosen errno, or (FAULT_PAUSE_DIR) stop the process at
 * that point until the test lets it go or kills it:
 *
 *   FAULT_OP      open | write | pread | fsync | malloc
 *                 (pread covers read, pread and splice from a file, as
 *                 libfuse reads a file it hands to the kernel; write covers
 *                 write, pwrite and writev; fsync covers
 *                 fsync and fdatasync; malloc covers calloc and realloc,
 *                 and only in the build of this file with FAULT_MALLOC,
 *                 libfaultmalloc.so)
 *   FAULT_PATH    only calls on a file whose path contains this text (the
 *                 path given to open, else /proc/self/fd/N); not for malloc
 *   FAULT_MIN     malloc: only requests of at least this many bytes;
 *                 write: only writes at a file offset below this (pwrite),
 *                 to pick LMDB's meta-page writes
 *   FAULT_SKIP    let this many matching calls through first (default 0)
 *   FAULT_COUNT   then fail this many (default 1; 0 = every later one)
 *   FAULT_ERRNO   EIO, ENOSPC or ENOMEM (default EIO)
 *   FAULT_PAUSE_DIR  instead of failing, stop at the selected call: open
 *                 DIR/paused (a FIFO the test reads: the process's pid is
 *                 written to it), then wait on DIR/go (a FIFO the test
 *                 opens for writing to resume).  FAULT_WHEN=after stops
 *                 after the real call returned instead of before it.
 *   FAULT_ARM     count nothing while this file does not exist, so a test
 *                 selects calls made after a moment of its choosing
 *   FAULT_LOG     append one line per matching call ("op n arg pid") to
 *                 this file, so a test can see how many there are (with a
 *                 FAULT_SKIP larger than that, calls are only logged).
 *
 * Threads: the counter is atomic; the selected call is the same whichever
 * thread makes it.  The wrapped functions reach the real ones through
 * dlsym(RTLD_NEXT); the allocations dlsym itself makes are served from a
 * small static arena and never freed (free() ignores them).  Test-only: this
 * library is built for the test suite and never installed.
 */
#define _GNU_SOURCE
/* Declare open, pread etc. under their own names (the project builds with
 * 64-bit offsets, which renames them to the *64 forms we alias below). */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum op { OP_NONE, OP_OPEN, OP_WRITE, OP_PREAD, OP_FSYNC, OP_MALLOC };

static enum op cfg_op;
static const char *cfg_path, *cfg_pause, *cfg_log, *cfg_arm;
static long long cfg_min = -1, cfg_skip, cfg_count = 1;
static int cfg_errno = EIO;
static bool cfg_after;
static atomic_llong calls;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_splice)(int, loff_t *, int, loff_t *, size_t,
                              unsigned);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
#ifdef FAULT_MALLOC
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

/* dlsym() may allocate before real_calloc is known. */
static _Alignas(16) char arena[8192];
static size_t arena_used;

static void *arena_alloc(size_t n)
{
  void *p;

  n = (n + 15) & ~(size_t)15;
  if (arena_used + n > sizeof(arena))
    return NULL;
  p = arena + arena_used;
  arena_used += n;
  return p;
}

static bool in_arena(const void *p)
{
  return (const char *)p >= arena && (const char *)p < arena + sizeof(arena);
}
#endif

static int resolving, resolved;

static void resolve(void)
{
  if (resolved || resolving)
    return;
  resolving = 1;
#ifdef FAULT_MALLOC
  real_malloc = dlsym(RTLD_NEXT, "malloc");
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
#endif
  real_open = dlsym(RTLD_NEXT, "open");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_pread = dlsym(RTLD_NEXT, "pread");
  real_read = dlsym(RTLD_NEXT, "read");
  real_splice = dlsym(RTLD_NEXT, "splice");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
#ifdef FAULT_MALLOC
  real_free = dlsym(RTLD_NEXT, "free");
#endif
  resolving = 0;
  resolved = 1;
}

static long long num_env(const char *name, long long def)
{
  const char *v = getenv(name);

  return v && *v ? strtoll(v, NULL, 10) : def;
}

__attribute__((constructor)) static void setup(void)
{
  const char *op = getenv("FAULT_OP"), *e = getenv("FAULT_ERRNO");

  resolve();
  if (!op || !*op)
    return;
  cfg_op = !strcmp(op, "open")    ? OP_OPEN
           : !strcmp(op, "write") ? OP_WRITE
           : !strcmp(op, "pread") ? OP_PREAD
           : !strcmp(op, "fsync") ? OP_FSYNC
           : !strcmp(op, "malloc") ? OP_MALLOC
                                   : OP_NONE;
  cfg_path = getenv("FAULT_PATH");
  cfg_pause = getenv("FAULT_PAUSE_DIR");
  cfg_log = getenv("FAULT_LOG");
  cfg_arm = getenv("FAULT_ARM");
  cfg_min = num_env("FAULT_MIN", -1);
  cfg_skip = num_env("FAULT_SKIP", 0);
  cfg_count = num_env("FAULT_COUNT", 1);
  cfg_after = getenv("FAULT_WHEN") && !strcmp(getenv("FAULT_WHEN"), "after");
  if (e && !strcmp(e, "ENOSPC"))
    cfg_errno = ENOSPC;
  else if (e && !strcmp(e, "ENOMEM"))
    cfg_errno = ENOMEM;
}

static bool fd_matches(int fd)
{
  char link[64], path[4096];
  ssize_t n;

  if (!cfg_path || !*cfg_path)
    return true;
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  n = readlink(link, path, sizeof(path) - 1);
  if (n < 0)
    return false;
  path[n] = 0;
  return strstr(path, cfg_path) != NULL;
}

static void log_call(const char *what, long long n, long long arg)
{
  char line[256];
  int fd, len;

  if (!cfg_log)
    return;
  len = snprintf(line, sizeof(line), "%s %lld %lld %d\n", what, n, arg,
                 (int)getpid());
  fd = real_open(cfg_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    real_write(fd, line, (size_t)len);
    close(fd);
  }
}

/* Blocks at the selected call: the test learns where by reading the pid
 * from DIR/paused, then kills the process or opens DIR/go. */
static void pause_here(void)
{
  char p[4096], pid[32], c;
  int fd, len;

  snprintf(p, sizeof(p), "%s/paused", cfg_pause);
  fd = real_open(p, O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    real_write(fd, pid, (size_t)len);
    close(fd);
  }
  snprintf(p, sizeof(p), "%s/go", cfg_pause);
  fd = real_open(p, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    while (real_read(fd, &c, 1) > 0)
      ;
    close(fd);
  }
}

/* Counts a matching call; true if this one is selected. */
static bool selected(const char *what, long long arg)
{
  long long n = atomic_fetch_add(&calls, 1);

  log_call(what, n, arg);
  return n >= cfg_skip && (cfg_count == 0 || n < cfg_skip + cfg_count);
}

/* The common path: -1 with errno set if the call must fail (and not run),
 * 0 to run it (after a pause, if pausing before). *post: pause after. */
static int gate(enum op op, int fd, const char *path, const char *what,
                long long arg, bool *post)
{
  *post = false;
  if (cfg_op != op || resolving)
    return 0;
  if (cfg_arm && access(cfg_arm, F_OK) != 0)
    return 0;
  if (path ? (cfg_path && *cfg_path && !strstr(path, cfg_path))
           : (fd >= 0 && !fd_matches(fd)))
    return 0;
  if (!selected(what, arg))
    return 0;
  if (cfg_pause) {
    if (cfg_after)
      *post = true;
    else
      pause_here();
    return 0;
  }
  errno = cfg_errno;
  return -1;
}

#define AFTER(post) \
  do {              \
    if (post) {     \
      int e_ = errno; \
      pause_here(); \
      errno = e_;   \
    }               \
  } while (0)

static int do_open(int dirfd, const char *path, int flags, mode_t mode)
{
  bool post;
  int r;

  resolve();
  if (gate(OP_OPEN, -1, path, "open", 0, &post) < 0)
    return -1;
  r = dirfd == AT_FDCWD ? real_open(path, flags, mode)
                        : real_openat(dirfd, path, flags, mode);
  AFTER(post);
  return r;
}

static mode_t mode_arg(int flags, va_list ap)
{
  return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE
             ? (mode_t)va_arg(ap, int)
             : 0;
}

int open(const char *path, int flags, ...)
{
  va_list ap;
  mode_t m;

  va_start(ap, flags);
  m = mode_arg(flags, ap);
  va_end(ap);
  return do_open(AT_FDCWD, path, flags, m);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...)
{
  va_list ap;
  mode_t m;

  va_start(ap, flags);
  m = mode_arg(flags, ap);
  va_end(ap);
  if (dirfd == AT_FDCWD || path[0] == '/')
    return do_open(AT_FDCWD, path, flags, m);
  return do_open(dirfd, path, flags, m);
}

int openat64(int dirfd, const char *path, int flags, ...)
    __attribute__((alias("openat")));

/* With FAULT_MIN set, only pwrite() at a low offset is selected. */
ssize_t write(int fd, const void *buf, size_t n)
{
  bool post = false;
  ssize_t r;

  resolve();
  if (cfg_min < 0 && gate(OP_WRITE, fd, NULL, "write", -1, &post) < 0)
    return -1;
  r = real_write(fd, buf, n);
  AFTER(post);
  return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
  bool post = false;
  ssize_t r;

  resolve();
  if ((cfg_min < 0 || off < cfg_min) &&
      gate(OP_WRITE, fd, NULL, "pwrite", (long long)off, &post) < 0)
    return -1;
  r = real_pwrite(fd, buf, n, off);
  AFTER(post);
  return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
    __attribute__((alias("pwrite")));

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
  bool post = false;
  ssize_t r;

  resolve();
  if (cfg_min < 0 && gate(OP_WRITE, fd, NULL, "writev", -1, &post) < 0)
    return -1;
  r = real_writev(fd, iov, cnt);
  AFTER(post);
  return r;
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
  bool post;
  ssize_t r;

  resolve();
  if (gate(OP_PREAD, fd, NULL, "pread", (long long)off, &post) < 0)
    return -1;
  r = real_pread(fd, buf, n, off);
  AFTER(post);
  return r;
}

ssize_t pread64(int fd, void *buf, size_t n, off_t off)
    __attribute__((alias("pread")));

ssize_t read(int fd, void *buf, size_t n)
{
  bool post;
  ssize_t r;

  resolve();
  if (gate(OP_PREAD, fd, NULL, "read", -1, &post) < 0)
    return -1;
  r = real_read(fd, buf, n);
  AFTER(post);
  return r;
}

ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out,
               size_t len, unsigned flags)
{
  bool post;
  ssize_t r;

  resolve();
  if (gate(OP_PREAD, fd_in, NULL, "splice", off_in ? (long long)*off_in : -1,
           &post) < 0)
    return -1;
  r = real_splice(fd_in, off_in, fd_out, off_out, len, flags);
  AFTER(post);
  return r;
}

int fsync(int fd)
{
  bool post;
  int r;

  resolve();
  if (gate(OP_FSYNC, fd, NULL, "fsync", -1, &post) < 0)
    return -1;
  r = real_fsync(fd);
  AFTER(post);
  return r;
}

int fdatasync(int fd)
{
  bool post;
  int r;

  resolve();
  if (gate(OP_FSYNC, fd, NULL, "fdatasync", -1, &post) < 0)
    return -1;
  r = real_fdatasync(fd);
  AFTER(post);
  return r;
}

#ifdef FAULT_MALLOC
/* Built as a second library (libfaultmalloc.so): replacing malloc hides the
 * dynamic loader's own allocations from LeakSanitizer, so only the tests of
 * allocation failures preload it, with leak checking off. */
static bool malloc_fails(size_t n)
{
  bool post;

  if (cfg_op != OP_MALLOC || resolving || cfg_min < 0 ||
      n < (size_t)cfg_min)
    return false;
  return gate(OP_MALLOC, -1, NULL, "malloc", (long long)n, &post) < 0;
}

void *malloc(size_t n)
{
  if (!real_malloc) {
    resolve();
    if (!real_malloc)
      return arena_alloc(n);
  }
  if (malloc_fails(n))
    return NULL;
  return real_malloc(n);
}

void *calloc(size_t k, size_t n)
{
  if (!real_calloc) {
    resolve();
    if (!real_calloc)
      return arena_alloc(k * n); /* the arena is zeroed */
  }
  if (n && k > SIZE_MAX / n)
    return real_calloc(k, n);
  if (malloc_fails(k * n))
    return NULL;
  return real_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
  if (in_arena(p)) {
    size_t room = (size_t)(arena + sizeof(arena) - (char *)p);
    void *q = malloc(n);

    if (q)
      memcpy(q, p, n < room ? n : room);
    return q;
  }
  if (!real_realloc)
    resolve();
  if (malloc_fails(n))
    return NULL;
  return real_realloc(p, n);
}

void free(void *p)
{
  if (!p || in_arena(p))
    return;
  if (!real_free)
    resolve();
  real_free(p);
}
#endif /* FAULT_MALLOC */
