/* util.c - logging sink, bounded buffers, JSON scalar formatting, time, UTF-8
 * checks and opening dataset files beneath their folder.
 * Nothing here knows about the store, images or FUSE. */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static log_sink_fn g_sink;
static void *g_sink_ud;
static enum log_level g_min = LOG_LVL_WARN;

void log_set_sink(log_sink_fn fn, void *ud, enum log_level min_level)
{
  g_sink = fn;
  g_sink_ud = ud;
  g_min = min_level;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
  char line[1024];
  va_list ap;

  if (lvl < g_min)
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (g_sink)
    g_sink(lvl, line, g_sink_ud);
  else
    fprintf(stderr, "%s\n", line);
}

void buf_init(struct buf *b, size_t max)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void buf_free(struct buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void buf_reset(struct buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

int buf_reserve(struct buf *b, size_t extra)
{
  size_t need, ncap;
  char *p;

  if (extra > b->max || b->len > b->max - extra)
    return -E2BIG;
  need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  ncap = b->cap ? b->cap : 256;
  while (ncap < need)
    ncap *= 2;
  p = realloc(b->data, ncap);
  if (!p)
    return -ENOMEM;
  b->data = p;
  b->cap = ncap;
  return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
  int r = buf_reserve(b, n);

  if (r < 0)
    return r;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int buf_puts(struct buf *b, const char *s)
{
  return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
  va_list ap;
  int n, r;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -EINVAL;
  r = buf_reserve(b, (size_t)n);
  if (r < 0)
    return r;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

char *buf_steal(struct buf *b, size_t *ret_len)
{
  char *p = b->data;

  if (!p)
    p = calloc(1, 1);
  if (ret_len)
    *ret_len = b->len;
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  return p;
}

int64_t timespec_ns(struct timespec ts)
{
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t time_now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return timespec_ns(ts);
}

bool stat_same_state(const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
         a->st_size == b->st_size &&
         timespec_ns(a->st_mtim) == timespec_ns(b->st_mtim) &&
         timespec_ns(a->st_ctim) == timespec_ns(b->st_ctim);
}

double time_mono(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *path_join(const char *dir, const char *rel)
{
  size_t a = strlen(dir), c = strlen(rel);
  char *p = malloc(a + c + 2);

  if (!p)
    return NULL;
  memcpy(p, dir, a);
  if (a && dir[a - 1] != '/')
    p[a++] = '/';
  memcpy(p + a, rel, c + 1);
  return p;
}

int buf_json_str(struct buf *b, const char *s, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  int r = buf_append(b, "\"", 1);
  size_t i, start = 0;

  for (i = 0; r == 0 && i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[7];
    const char *e = NULL;
    size_t elen = 2;

    if (c == '"')
      e = "\\\"";
    else if (c == '\\')
      e = "\\\\";
    else if (c == '\n')
      e = "\\n";
    else if (c == '\r')
      e = "\\r";
    else if (c == '\t')
      e = "\\t";
    else if (c < 0x20) {
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      esc[6] = 0;
      e = esc;
      elen = 6;
    }
    if (!e)
      continue;
    r = buf_append(b, s + start, i - start);
    if (r == 0)
      r = buf_append(b, e, elen);
    start = i + 1;
  }
  if (r == 0)
    r = buf_append(b, s + start, n - start);
  if (r == 0)
    r = buf_append(b, "\"", 1);
  return r;
}

size_t fmt_double_shortest(char *out, double v, int min_prec)
{
  char *e;
  int prec;

  /* Shortest representation that round-trips: try increasing precision. */
  for (prec = min_prec; prec < 17; prec++) {
    snprintf(out, 32, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      break;
  }
  if (prec == 17)
    snprintf(out, 32, "%.17g", v);
  /* printf writes a '+' and at least two exponent digits ("1e-07",
   * "1e+21"); JSON needs neither, so drop them: "1e-7", "1e21". */
  e = strchr(out, 'e');
  if (e) {
    char *d = e + 1, *s = e + 1;
    if (*s == '+')
      s++;
    else if (*s == '-')
      *d++ = *s++;
    while (*s == '0' && s[1])
      s++;
    memmove(d, s, strlen(s) + 1);
  }
  return strlen(out);
}

int buf_json_double(struct buf *b, double v)
{
  char tmp[40];

  if (!isfinite(v))
    return buf_puts(b, "null");
  /* -0.0 would print "-0", which JSON readers take as the integer 0: a
   * document read back would not render the same.  Zero is zero. */
  if (v == 0)
    v = 0.0;
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(tmp, sizeof(tmp), "%.1f", v);
    /* "12.0" reads as a real in every JSON reader; keep integers short. */
    tmp[strlen(tmp) - 2] = '\0';
    return buf_puts(b, tmp);
  }
  fmt_double_shortest(tmp, v, 6);
  return buf_puts(b, tmp);
}

int errf(char *err, size_t errlen, int r, const char *fmt, ...)
{
  va_list ap;

  if (err && errlen) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return r;
}

int cmp_u64(const void *a, const void *b)
{
  uint64_t x, y;

  memcpy(&x, a, sizeof(x));
  memcpy(&y, b, sizeof(y));
  return x < y ? -1 : x > y;
}

const char *json_err_text(const char *text, char *out, size_t outlen)
{
  const char *near = strstr(text, " near ");
  size_t n = near ? (size_t)(near - text) : strlen(text);

  snprintf(out, outlen, "%.*s", (int)n, text);
  return out;
}

size_t utf8_cut(const char *str, size_t max)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strnlen(str, max + 1);

  if (n <= max)
    return n;
  /* s[max] is the first byte left out: back off while it continues the
   * character the prefix would end in. */
  n = max;
  while (n > 0 && (s[n] & 0xC0) == 0x80)
    n--;
  return n;
}

bool utf8_valid(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;

  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  /* continuation byte, overlong lead, or > U+10FFFF */
    }
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
      return false;
    i += len;
  }
  return true;
}

char *str_trim(char *s)
{
  char *e;

  while (*s == ' ' || *s == '\t')
    s++;
  e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
    *--e = '\0';
  return s;
}

bool no_control_chars(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;

  for (size_t i = 0; i < n; i++) {
    if (s[i] < 0x20 || s[i] == 0x7f)
      return false;
    /* U+0080..U+009F are encoded C2 80..C2 9F. */
    if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
      return false;
  }
  return true;
}

/* Without openat2 (before Linux 5.6): open normally, then check where the
 * descriptor really points.  Not racy: the check is of the file opened. */
static int open_then_check(const char *root, const char *relpath)
{
  char *full = path_join(root, relpath), *real_root = NULL;
  char link[64], real[PATH_MAX];
  ssize_t n;
  size_t rl;
  int fd, r = 0;

  if (!full)
    return -ENOMEM;
  fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  free(full);
  if (fd < 0)
    return -errno;
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  n = readlink(link, real, sizeof(real) - 1);
  real_root = realpath(root, NULL);
  if (n < 0 || !real_root) {
    r = -errno;
  } else {
    real[n] = '\0';
    rl = strlen(real_root);
    if (strncmp(real, real_root, rl) != 0 ||
        (real[rl] != '/' && strcmp(real_root, "/") != 0))
      r = -EXDEV;
  }
  free(real_root);
  if (r < 0) {
    close(fd);
    return r;
  }
  return fd;
}

int fd_regular(int fd)
{
  struct stat st;
  int fl, e;

  if (fd < 0)
    return fd;
  if (fstat(fd, &st) < 0) {
    e = errno;
    close(fd);
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    /* A FIFO, device, socket or directory: not a file to read. */
    close(fd);
    return -EINVAL;
  }
  fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int open_regular(const char *path)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

  return fd < 0 ? -errno : fd_regular(fd);
}

FILE *fopen_regular(const char *path)
{
  int fd = open_regular(path);
  FILE *f;

  if (fd < 0) {
    errno = -fd;
    return NULL;
  }
  f = fdopen(fd, "rb");
  if (!f) {
    int e = errno;

    close(fd);
    errno = e;
  }
  return f;
}

int dataset_open(const char *root, const char *relpath)
{
  struct open_how how = {
    .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };
  int dfd, fd, e;

  dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return -errno;
  fd = (int)syscall(SYS_openat2, dfd, relpath, &how, sizeof(how));
  e = errno;
  close(dfd);
  if (fd >= 0)
    return fd_regular(fd);
  if (e == ENOSYS)
    return fd_regular(open_then_check(root, relpath));
  return -e;
}

int fd_write_all(int fd, const void *p, size_t n, off_t off)
{
  const char *s = p;

  while (n) {
    ssize_t w = off < 0 ? write(fd, s, n) : pwrite(fd, s, n, off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -errno;
    s += w;
    n -= (size_t)w;
    if (off >= 0)
      off += w;
  }
  return 0;
}

int fd_pread_all(int fd, void *p, size_t n, off_t off)
{
  char *d = p;

  while (n) {
    ssize_t k = pread(fd, d, n, off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return k < 0 ? -errno : -EBADMSG;
    d += k;
    n -= (size_t)k;
    off += k;
  }
  return 0;
}

int fd_read_all(int fd, uint8_t **ret, size_t *ret_len)
{
  struct stat st;
  uint8_t *data;
  size_t got = 0;

  *ret = NULL;
  *ret_len = 0;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (st.st_size <= 0)
    return -EBADMSG;
  data = malloc((size_t)st.st_size);
  if (!data)
    return -ENOMEM;
  while (got < (size_t)st.st_size) {
    ssize_t n = pread(fd, data + got, (size_t)st.st_size - got, (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int r = -errno;
      free(data);
      return r;
    }
    if (n == 0)
      break;                          /* the file shrank: what is there */
    got += (size_t)n;
  }
  *ret = data;
  *ret_len = got;
  return 0;
}

int file_read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC), r;

  *ret = NULL;
  *ret_len = 0;
  if (fd < 0)
    return -errno;
  r = fd_read_all(fd, ret, ret_len);
  close(fd);
  return r;
}

void secret_wipe(void *p, size_t n)
{
  if (p && n)
    explicit_bzero(p, n);
}

void secret_free(char *s)
{
  if (s) {
    secret_wipe(s, strlen(s));
    free(s);
  }
}

uint64_t hash_bytes_fnv1a(uint64_t h, const void *p, size_t n)
{
  const unsigned char *c = p;

  for (size_t i = 0; i < n; i++)
    h = (h ^ c[i]) * 1099511628211ULL;
  return h;
}

uint64_t hash_str_fnv1a(const char *s)
{
  uint64_t h = HASH_FNV1A_INIT;

  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

/* The size of a transparent huge page on x86-64 and arm64 (4 KiB base
 * pages); elsewhere the advice is only a larger alignment. */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t huge_len(size_t n)
{
  return n > SIZE_MAX - HUGE_PAGE ? 0 : (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

void *huge_alloc(size_t n)
{
  size_t len = huge_len(n ? n : 1), lead;
  uint8_t *p;

  if (len == 0 || len > SIZE_MAX - HUGE_PAGE)
    return NULL;
  /* One huge page more than needed, then the unaligned ends given back:
   * the kernel backs only aligned 2 MiB ranges with huge pages. */
  p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  lead = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
  if (lead)
    munmap(p, lead);
  munmap(p + lead + len, HUGE_PAGE - lead);
  p += lead;
  (void)madvise(p, len, MADV_HUGEPAGE);   /* advice: may be refused */
  return p;
}

void huge_free(void *p, size_t n)
{
  if (p)
    munmap(p, huge_len(n ? n : 1));
}

/* One place of tmpfile_anon(). */
static int tmpfile_in(const char *dir)
{
  char path[PATH_MAX];
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

  if (fd >= 0)
    return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR)
    return -errno;
  if ((size_t)snprintf(path, sizeof(path), "%s/curate-XXXXXX", dir) >=
      sizeof(path))
    return -ENAMETOOLONG;
  fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0)
    return -errno;
  unlink(path);
  return fd;
}

int tmpfile_anon(void)
{
  const char *env = getenv("TMPDIR");
  int fd = -ENOENT;

  if (env && env[0] == '/')
    fd = tmpfile_in(env);
  if (fd < 0)
    fd = tmpfile_in("/var/tmp");
  if (fd < 0)
    fd = tmpfile_in("/tmp");
  return fd;
}
