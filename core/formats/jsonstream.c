/* jsonstream.c - a structural JSON scanner over a sliding window (see
 * jsonstream.h).  The window holds the bytes from `keep` (the start of an
 * element or token still needed) to the end of the last read; without a
 * keep it is refilled from empty, so a document of any size costs one
 * read's worth plus the largest element.  Values are only checked here;
 * elements handed to a callback are parsed by jansson from their bytes,
 * so their values are exactly what jansson makes of them. */
#include "jsonstream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define CHUNK (1u << 20)
#define MAX_DEPTH 2048   /* jansson's JSON_PARSER_MAX_DEPTH */
#define NONE SIZE_MAX
#define END (-1)         /* byte readers: end of the document */
#define FAILED (-2)      /* byte readers: s->err is set */

struct jstream {
  int fd;                  /* -1: bytes in memory */
  unsigned char *buf;      /* file: the window (owned); memory: borrowed */
  size_t cap;              /* file: bytes allocated for buf */
  size_t chunk;            /* file: bytes a read asks for */
  size_t pos, end;         /* next byte; bytes held */
  uint64_t base;           /* offset in the document of buf[0] */
  size_t keep;             /* first byte to keep on refill, or NONE */
  int line;
  int err;                 /* first error, a negative errno, or 0 */
  char *why;
  size_t whylen;
  off_t size;              /* file: size and modification time at open, */
  struct timespec mtime;   /* to tell a file changed between passes */
};

static int bad(struct jstream *s, int e, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records the first error as "line N: TEXT"; returns it. */
static int bad(struct jstream *s, int e, int line, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (s->err)
    return s->err;
  s->err = e;
  n = snprintf(s->why, s->whylen, "line %d: ", line);
  if (n >= 0 && (size_t)n < s->whylen) {
    va_start(ap, fmt);
    vsnprintf(s->why + n, s->whylen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return e;
}

/* More bytes into the window: 1, 0 at the end, FAILED. */
static int refill(struct jstream *s)
{
  size_t from, n;
  ssize_t k;

  if (s->fd < 0 || s->err)
    return s->err ? FAILED : 0;
  from = s->keep == NONE ? s->end : s->keep;
  n = s->end - from;
  if (n > JSTREAM_ELEM_MAX) {
    bad(s, -EFBIG, s->line, "a value larger than %u MiB",
        JSTREAM_ELEM_MAX >> 20);
    return FAILED;
  }
  if (from) {
    /* Once the kept bytes start the window, later refills only grow it:
     * an element is moved at most once. */
    memmove(s->buf, s->buf + from, n);
    s->base += from;
    s->pos -= from;
    s->end = n;
    if (s->keep != NONE)
      s->keep -= from;
  }
  if (s->cap - n < s->chunk) {
    size_t nc = s->cap * 2 > n + s->chunk ? s->cap * 2 : n + s->chunk;
    unsigned char *p = realloc(s->buf, nc);
    if (!p) {
      s->err = -ENOMEM;
      snprintf(s->why, s->whylen, "%s", strerror(ENOMEM));
      return FAILED;
    }
    s->buf = p;
    s->cap = nc;
  }
  do
    k = read(s->fd, s->buf + n, s->chunk);
  while (k < 0 && errno == EINTR);
  if (k < 0) {
    s->err = -errno;
    snprintf(s->why, s->whylen, "%s", strerror(errno));
    return FAILED;
  }
  s->end += (size_t)k;
  return k > 0;
}

/* The next byte, not consumed: 0..255, END or FAILED. */
static inline int peek(struct jstream *s)
{
  int r;

  if (s->pos < s->end)
    return s->buf[s->pos];
  r = refill(s);
  return r > 0 ? s->buf[s->pos] : r == 0 ? END : FAILED;
}

static inline int next(struct jstream *s)
{
  int c = peek(s);

  if (c >= 0)
    s->pos++;
  return c;
}

/* The next byte after whitespace, not consumed. */
static int ws(struct jstream *s)
{
  for (;;) {
    while (s->pos < s->end) {
      unsigned char c = s->buf[s->pos];
      if (c == '\n')
        s->line++;
      else if (c != ' ' && c != '\t' && c != '\r')
        return c;
      s->pos++;
    }
    int r = refill(s);
    if (r <= 0)
      return r == 0 ? END : FAILED;
  }
}

/* An error for byte c where `what` was expected. */
static int unexpected(struct jstream *s, int c, const char *what)
{
  if (c == FAILED)
    return s->err;
  if (c == END)
    return bad(s, -EINVAL, s->line, "premature end of input (%s)", what);
  return bad(s, -EINVAL, s->line, "%s", what);
}

static int hex4(struct jstream *s)
{
  int v = 0;

  for (int i = 0; i < 4; i++) {
    int c = next(s);
    if (c >= '0' && c <= '9')
      v = v * 16 + c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      v = v * 16 + (c | 0x20) - 'a' + 10;
    else
      return c == FAILED ? FAILED : -1;
  }
  return v;
}

/* After a backslash in a string: one escape, as jansson accepts them. */
static int escape(struct jstream *s)
{
  int c = next(s), v = -1, w;

  if (c < 0)
    return unexpected(s, c, "invalid escape");
  if (strchr("\"\\/bfnrt", c) && c)
    return 0;
  if (c == 'u')
    v = hex4(s);
  if (v < 0)
    return v == FAILED ? s->err : bad(s, -EINVAL, s->line, "invalid escape");
  if (v == 0)
    return bad(s, -EINVAL, s->line,
               "\\u0000 is not allowed without JSON_ALLOW_NUL");
  if (v >= 0xDC00 && v <= 0xDFFF)
    return bad(s, -EINVAL, s->line, "invalid Unicode '\\u%04X'", v);
  if (v >= 0xD800 && v <= 0xDBFF) {
    /* A high surrogate: a low one must follow. */
    if (next(s) != '\\' || next(s) != 'u' || (w = hex4(s)) < 0xDC00 ||
        w > 0xDFFF)
      return s->err ? s->err
                    : bad(s, -EINVAL, s->line,
                          "invalid Unicode '\\u%04X'", v);
  }
  return 0;
}

/* The rest of a UTF-8 sequence led by byte c: well-formed, shortest
 * form, no surrogate, at most U+10FFFF (jansson's rules). */
static int utf8(struct jstream *s, int c)
{
  int n;
  uint32_t v;

  if (c >= 0xC2 && c <= 0xDF)
    n = 2, v = (uint32_t)c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, v = (uint32_t)c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, v = (uint32_t)c & 0x07;
  else
    return bad(s, -EINVAL, s->line, "unable to decode byte 0x%x", c);
  for (int i = 1; i < n; i++) {
    int b = next(s);
    if (b < 0)
      return unexpected(s, b, "a string");
    if ((b & 0xC0) != 0x80)
      return bad(s, -EINVAL, s->line, "unable to decode byte 0x%x", c);
    v = v << 6 | ((uint32_t)b & 0x3F);
  }
  if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
      (v >= 0xD800 && v <= 0xDFFF))
    return bad(s, -EINVAL, s->line, "unable to decode byte 0x%x", c);
  return 0;
}

/* A string after its opening quote, up to and with its closing one. */
static int skip_string(struct jstream *s)
{
  for (;;) {
    while (s->pos < s->end) {
      unsigned char c = s->buf[s->pos];
      if (c == '"') {
        s->pos++;
        return 0;
      }
      if (c == '\\' || c < 0x20 || c >= 0x80)
        break;
      s->pos++;
    }
    int c = next(s), r = 0;
    if (c < 0)
      return unexpected(s, c, "unterminated string");
    if (c == '"')
      return 0;
    if (c == '\\')
      r = escape(s);
    else if (c < 0x20)
      r = bad(s, -EINVAL, s->line, "control character 0x%x", c);
    else if (c >= 0x80)
      r = utf8(s, c);
    if (r < 0)
      return r;
  }
}

static int digits(struct jstream *s, long *ret_val)
{
  int n = 0, c;
  long v = 0;

  while ((c = peek(s)) >= '0' && c <= '9') {
    s->pos++;
    n++;
    if (v < 100000)
      v = v * 10 + c - '0';
  }
  if (c == FAILED)
    return FAILED;
  if (ret_val)
    *ret_val = v;
  return n;
}

/* A number whose value may not fit (rare): its text through the C
 * library, as jansson reads it. */
static int check_range(struct jstream *s, uint64_t start, bool real)
{
  size_t at = (size_t)(start - s->base), n = s->pos - at;
  char *t = malloc(n + 1);
  int r = 0;

  if (!t)
    return bad(s, -ENOMEM, s->line, "%s", strerror(ENOMEM));
  memcpy(t, s->buf + at, n);
  t[n] = '\0';
  errno = 0;
  if (real) {
    double d = strtod(t, NULL);
    if (errno == ERANGE && (d > 1 || d < -1))
      r = bad(s, -EINVAL, s->line, "real number overflow");
  } else {
    (void)strtoll(t, NULL, 10);
    if (errno == ERANGE)
      r = bad(s, -EINVAL, s->line, t[0] == '-' ? "too big negative integer"
                                               : "too big integer");
  }
  free(t);
  return r;
}

/* A number in JSON's grammar; one whose value jansson could not hold
 * fails as it would. */
static int skip_number(struct jstream *s)
{
  uint64_t start = s->base + s->pos;
  size_t saved = s->keep;
  bool real = false;
  long ex = 0;
  int nint = 0, c, r = 0;

  /* The text stays in the window for check_range: from here, or from
   * the element being cut out (whose start a refill may move). */
  if (saved == NONE)
    s->keep = s->pos;
  if (peek(s) == '-')
    s->pos++;
  c = peek(s);
  if (c == '0') {
    s->pos++;
    nint = 1;
    c = peek(s);
    if (c >= '0' && c <= '9')
      r = bad(s, -EINVAL, s->line, "invalid token");
  } else if (c >= '1' && c <= '9') {
    nint = digits(s, NULL);
  } else {
    r = unexpected(s, c, "invalid token");
  }
  if (r == 0 && nint == FAILED)
    r = s->err;
  if (r == 0 && (c = peek(s)) == '.') {
    s->pos++;
    real = true;
    c = digits(s, NULL);
    r = c == FAILED ? s->err
        : c == 0    ? bad(s, -EINVAL, s->line, "invalid token") : 0;
  }
  if (r == 0 && ((c = peek(s)) == 'e' || c == 'E')) {
    bool neg = false;
    s->pos++;
    real = true;
    c = peek(s);
    if (c == '+' || c == '-') {
      neg = c == '-';
      s->pos++;
    }
    c = digits(s, &ex);
    r = c == FAILED ? s->err
        : c == 0    ? bad(s, -EINVAL, s->line, "invalid token") : 0;
    if (neg)
      ex = -ex;
  }
  if (r == 0 && c == FAILED)
    r = s->err;
  /* Only long numbers can leave the range of long long or double. */
  if (r == 0 && (real ? nint + ex > 300 : nint >= 19))
    r = check_range(s, start, real);
  if (saved == NONE)
    s->keep = NONE;
  return r;
}

static int literal(struct jstream *s, const char *word)
{
  for (const char *w = word; *w; w++) {
    int c = next(s);
    if (c != *w)
      return unexpected(s, c, "invalid token");
  }
  return 0;
}

static int skip_value(struct jstream *s, int depth);

/* An object or array at the next byte (`open`), nested `depth` deep. */
static int skip_container(struct jstream *s, int open, int depth)
{
  int close = open == '{' ? '}' : ']', c, r;

  if (depth > MAX_DEPTH)
    return bad(s, -EINVAL, s->line, "maximum parsing depth reached");
  s->pos++;
  if ((c = ws(s)) == close) {
    s->pos++;
    return 0;
  }
  for (;;) {
    if (open == '{') {
      if ((c = ws(s)) != '"')
        return unexpected(s, c, "string or '}' expected");
      s->pos++;
      if ((r = skip_string(s)) < 0)
        return r;
      if ((c = ws(s)) != ':')
        return unexpected(s, c, "':' expected");
      s->pos++;
    }
    if ((r = skip_value(s, depth)) < 0)
      return r;
    c = ws(s);
    if (c == ',') {
      s->pos++;
      continue;
    }
    if (c == close) {
      s->pos++;
      return 0;
    }
    return unexpected(s, c, open == '{' ? "'}' expected" : "']' expected");
  }
}

/* One value, inside `depth` containers. */
static int skip_value(struct jstream *s, int depth)
{
  int c = ws(s);

  switch (c) {
  case '{':
  case '[':
    return skip_container(s, c, depth + 1);
  case '"':
    s->pos++;
    return skip_string(s);
  case 't':
    return literal(s, "true");
  case 'f':
    return literal(s, "false");
  case 'n':
    return literal(s, "null");
  default:
    if (c == '-' || (c >= '0' && c <= '9'))
      return skip_number(s);
    return unexpected(s, c, "invalid token");
  }
}

/* The array at the next byte, `depth` deep (1: the root), each element
 * parsed and handed to fn when `each`. */
static int elements(struct jstream *s, int k, bool each, int depth,
                    jstream_fn fn, void *ud)
{
  int c, r;

  if (!each)
    return skip_value(s, depth - 1);
  s->pos++;
  if ((c = ws(s)) == ']') {
    s->pos++;
    return 0;
  }
  for (size_t i = 0;; i++) {
    json_error_t je;
    json_t *e;
    int line;

    if ((c = ws(s)) < 0)
      return unexpected(s, c, "']' expected");
    s->keep = s->pos;
    line = s->line;
    if ((r = skip_value(s, depth)) < 0)
      return r;
    e = json_loadb((const char *)s->buf + s->keep, s->pos - s->keep,
                   JSON_DECODE_ANY, &je);
    s->keep = NONE;
    if (!e) {
      char jt[160];
      return bad(s, -EINVAL, line + je.line - 1, "%s",
                 json_err_text(je.text, jt, sizeof(jt)));
    }
    r = fn(ud, k, i, e);
    json_decref(e);
    if (r)
      return r;
    c = ws(s);
    if (c == ',') {
      s->pos++;
      continue;
    }
    if (c == ']') {
      s->pos++;
      return 0;
    }
    return unexpected(s, c, "']' expected");
  }
}

/* Back to the document's byte `offset` on line `line`. */
static int seek(struct jstream *s, uint64_t offset, int line)
{
  s->keep = NONE;
  s->line = line;
  s->err = 0;
  if (s->fd < 0) {
    s->pos = (size_t)offset;
    return 0;
  }
  if (lseek(s->fd, (off_t)offset, SEEK_SET) < 0) {
    s->err = -errno;
    snprintf(s->why, s->whylen, "%s", strerror(errno));
    return s->err;
  }
  s->base = offset;
  s->pos = s->end = 0;
  return 0;
}

/* The key of an object at the top (its opening quote next): the index of
 * the key asked for that it is, or -1. */
static int top_key(struct jstream *s, const char *const *keys, int nkeys,
                   int *ret)
{
  size_t at;
  int r;

  s->keep = s->pos;
  s->pos++;
  if ((r = skip_string(s)) < 0)
    return r;
  at = s->keep;
  s->keep = NONE;
  *ret = -1;
  const char *raw = (const char *)s->buf + at + 1;
  size_t n = s->pos - at - 2;
  if (!memchr(raw, '\\', n)) {
    for (int j = 0; j < nkeys; j++)
      if (strlen(keys[j]) == n && memcmp(keys[j], raw, n) == 0)
        *ret = j;
    return 0;
  }
  /* Escapes: the key as jansson reads it. */
  json_t *str = json_loadb(raw - 1, n + 2, JSON_DECODE_ANY, NULL);
  if (!str)
    return bad(s, -ENOMEM, s->line, "%s", strerror(ENOMEM));
  for (int j = 0; j < nkeys; j++)
    if (strcmp(keys[j], json_string_value(str)) == 0)
      *ret = j;
  json_decref(str);
  return 0;
}

/* -EIO, said in why, when the file is no longer the one opened (another
 * size or modification time): the passes would read two documents. */
static int unchanged(struct jstream *s)
{
  struct stat st;

  if (s->fd < 0)
    return 0;
  if (fstat(s->fd, &st) < 0) {
    s->err = -errno;
    snprintf(s->why, s->whylen, "%s", strerror(errno));
    return s->err;
  }
  if (st.st_size == s->size && st.st_mtim.tv_sec == s->mtime.tv_sec &&
      st.st_mtim.tv_nsec == s->mtime.tv_nsec)
    return 0;
  snprintf(s->why, s->whylen, "the file changed while it was read");
  return s->err = -EIO;
}

int jstream_scan(struct jstream *s, const char *const *keys,
                 const enum jstream_mode *modes, int nkeys, int root_each,
                 jstream_fn fn, void *ud, struct jstream_root *ret,
                 char *why, size_t whylen)
{
  int c, r = 0;

  memset(ret, 0, sizeof(*ret));
  why[0] = '\0';
  s->why = why;
  s->whylen = whylen;
  if (nkeys > JSTREAM_KEYS_MAX)
    return -EINVAL;
  if ((r = seek(s, 0, 1)) < 0)
    return r;
  c = ws(s);
  if (c == '[') {
    ret->type = '[';
    ret->at[0] = (struct jstream_at){ '[', s->base + s->pos, s->line };
    r = elements(s, -1, root_each, 1, fn, ud);
  } else if (c == '{') {
    ret->type = '{';
    s->pos++;
    c = ws(s);
    if (c == '}')
      s->pos++;
    while (c != '}') {
      int j;
      if ((c = ws(s)) != '"')
        return unexpected(s, c, "string or '}' expected");
      if ((r = top_key(s, keys, nkeys, &j)) < 0)
        return r;
      if ((c = ws(s)) != ':')
        return unexpected(s, c, "':' expected");
      s->pos++;
      if ((c = ws(s)) < 0)
        return unexpected(s, c, "invalid token");
      if (j >= 0 && ret->at[j].type)
        return bad(s, -EINVAL, s->line, "duplicate key \"%s\"", keys[j]);
      if (j >= 0)
        ret->at[j] = (struct jstream_at){ (char)c, s->base + s->pos,
                                          s->line };
      if (j >= 0 && c == '[' && modes[j] == JSTREAM_EACH)
        r = elements(s, j, true, 2, fn, ud);
      else
        r = skip_value(s, 1);
      if (r)
        return r;
      c = ws(s);
      if (c == ',') {
        s->pos++;
        c = 0;
      } else if (c == '}') {
        s->pos++;
      } else {
        return unexpected(s, c, "'}' expected");
      }
    }
  } else {
    return unexpected(s, c, "'[' or '{' expected");
  }
  if (r)
    return r;
  c = ws(s);
  if (c != END)
    return unexpected(s, c, "end of file expected");
  return unchanged(s);
}

int jstream_each(struct jstream *s, const struct jstream_at *at, int k,
                 jstream_fn fn, void *ud, char *why, size_t whylen)
{
  int r;

  why[0] = '\0';
  s->why = why;
  s->whylen = whylen;
  if ((r = seek(s, at->offset, at->line)) < 0 || (r = unchanged(s)) < 0)
    return r;
  if (at->type != '[' || peek(s) != '[') {
    if (s->err)
      return s->err;
    snprintf(why, whylen, "the file changed while it was read");
    return -EIO;
  }
  /* The root array is 1 deep, a top-level key's 2. */
  r = elements(s, k, true, k < 0 ? 1 : 2, fn, ud);
  return r ? r : unchanged(s);
}

struct jstream *jstream_fdopen(int fd, int *ret_err, char *why,
                               size_t whylen)
{
  struct jstream *s;
  struct stat st;

  why[0] = '\0';
  *ret_err = 0;
  if (fd < 0) {
    *ret_err = fd;
    snprintf(why, whylen, "%s", fd == -EINVAL ? "not a regular file"
                                              : strerror(-fd));
    return NULL;
  }
  s = calloc(1, sizeof(*s));
  if (!s || fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
    *ret_err = s ? -errno : -ENOMEM;
    snprintf(why, whylen, "%s", strerror(-*ret_err));
    close(fd);
    free(s);
    return NULL;
  }
  s->fd = fd;
  s->size = st.st_size;
  s->mtime = st.st_mtim;
  s->keep = NONE;
  s->chunk = CHUNK;
  return s;
}

struct jstream *jstream_open(const char *path, int *ret_err, char *why,
                             size_t whylen)
{
  return jstream_fdopen(open_regular(path), ret_err, why, whylen);
}

struct jstream *jstream_mem(const char *data, size_t len)
{
  struct jstream *s = calloc(1, sizeof(*s));

  if (!s)
    return NULL;
  s->fd = -1;
  s->buf = (unsigned char *)data;
  s->end = len;
  s->keep = NONE;
  return s;
}

void jstream_set_read_size(struct jstream *s, size_t n)
{
  s->chunk = n < 1 ? 1 : n > CHUNK ? CHUNK : n;
}

void jstream_close(struct jstream *s)
{
  if (!s)
    return;
  if (s->fd >= 0) {
    close(s->fd);
    free(s->buf);
  }
  free(s);
}
