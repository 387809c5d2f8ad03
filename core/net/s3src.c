/* s3src.c - a bucket as an import source (see s3src.h): the listing kept
 * as a sorted table, a pool of S3 clients lent to the workers, and reads
 * through a per-file window of bytes (one ranged GET serves every header
 * read that falls inside it).
 */
#define _GNU_SOURCE   /* asprintf */
#include "s3src.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgfmt.h"
#include "s3.h"

/* The first read of a file fetches at least this much: enough for the
 * header of every format in one request. */
#define S3SRC_WINDOW (64u << 10)

struct s3entry {
  char *rel;                 /* key below the prefix */
  uint64_t size;
  char etag[S3_ETAG_MAX];
};

struct s3src {
  char *bucket, *prefix;     /* prefix empty or ending in '/' */
  char *root;                /* "s3://bucket/prefix" */
  struct s3entry *e;         /* the listing, sorted by rel */
  size_t n, cap;
  struct s3_pool *pool;
  int ncli;
  pthread_mutex_t mu;        /* guards err */
  char err[512];
};

struct s3file {
  const struct s3entry *e;
  struct s3 *cli;            /* borrowed from the pool */
  int slot;
  struct buf win;            /* bytes [woff, woff + win.len) */
  uint64_t woff;
  char vid[S3_VERSION_ID_MAX + 1];  /* the version the first read met,
                                      or "" */
};

/* A version record "ETAG VERSIONID" always fits import_file.version. */
_Static_assert(IMPORT_VERSION_MAX >= S3_ETAG_MAX + 1 + S3_VERSION_ID_MAX + 1,
               "import.h's version room is below S3's limits");

int64_t s3src_etag_hash(const char *etag)
{
  return (int64_t)(hash_str_fnv1a(etag) & INT64_MAX);
}

const char *s3src_error(struct s3src *s)
{
  return s->err;
}

static void set_error(struct s3src *s, const char *msg)
{
  pthread_mutex_lock(&s->mu);
  snprintf(s->err, sizeof(s->err), "%s", msg);
  pthread_mutex_unlock(&s->mu);
}

/* A key below the prefix that can be a dataset path: no empty, "." or
 * ".." component; hidden ones (".x") are skipped like a folder's. */
enum key_kind { KEY_OK, KEY_HIDDEN, KEY_BAD };

static enum key_kind key_kind(const char *rel)
{
  const char *p = rel;

  if (!*rel || strlen(rel) > STORE_PATH_MAX)
    return KEY_BAD;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') ||
        (n == 2 && p[0] == '.' && p[1] == '.'))
      return KEY_BAD;
    if (p[0] == '.')
      return KEY_HIDDEN;
    if (!slash)
      return KEY_OK;
    p = slash + 1;
  }
}

struct list_ctx {
  struct s3src *s;
  int (*add)(void *ud, const char *rel);
  void *ud;
  const struct import_opts *o;
  struct import_stats *st;
  int r;
};

static void lreport(struct list_ctx *l, const char *rel, const char *why)
{
  if (l->o->report)
    l->o->report(rel, why, l->o->ud);
}

static int keep_entry(struct s3src *s, const char *rel,
                      const struct s3_object *obj)
{
  struct s3entry *e;

  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 1024;
    struct s3entry *p = realloc(s->e, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    s->e = p;
    s->cap = nc;
  }
  e = &s->e[s->n];
  if (!(e->rel = strdup(rel)))
    return -ENOMEM;
  e->size = obj->size;
  snprintf(e->etag, sizeof(e->etag), "%s", obj->etag);
  s->n++;
  return 0;
}

static int on_object(const struct s3_object *obj, void *ud)
{
  struct list_ctx *l = ud;
  const char *rel = obj->key + strlen(l->s->prefix);
  const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
  enum key_kind k;
  int r;

  if (!*rel || rel[strlen(rel) - 1] == '/')
    return 0;                         /* a "folder" marker */
  k = key_kind(rel);
  if (k == KEY_HIDDEN)
    return 0;
  if (k == KEY_BAD) {
    lreport(l, rel, "key is not usable as a dataset path (empty, '.' or "
            "'..' part, or over 500 bytes)");
    l->st->skipped++;
    l->st->skip_kind[IMPORT_SKIP_UNREADABLE]++;
    return 0;
  }
  if (img_format_of_name(base) < 0) {
    if (import_unsupported_name(base)) {
      lreport(l, rel, "only JPEG, PNG, WebP, TIFF, BMP and GIF are "
              "imported");
      l->st->skip_kind[IMPORT_SKIP_UNSUPPORTED]++;
    } else {
      l->st->ignored++;
    }
    return 0;
  }
  if ((r = keep_entry(l->s, rel, obj)) < 0)
    return r;
  return l->add(l->ud, rel);
}

static int s3src_list(const struct import_source *src,
                      int (*add)(void *ud, const char *rel), void *ud,
                      const struct import_opts *o, struct import_stats *st)
{
  struct s3src *s = src->ctx;
  struct list_ctx l = { s, add, ud, o, st, 0 };
  char err[512] = "";
  int r;

  int slot;
  struct s3 *cli = s3_pool_borrow(s->pool, &slot);

  r = s3_list(cli, s->prefix, on_object, &l, err, sizeof(err));
  s3_pool_return(s->pool, slot);
  if (r < 0)
    set_error(s, err[0] ? err : strerror(-r));
  return r;
}

static const struct s3entry *lookup(const struct s3src *s, const char *rel)
{
  size_t lo = 0, hi = s->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->e[mid].rel, rel);
    if (c == 0)
      return &s->e[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static int s3src_file_open(const struct import_source *src, const char *rel,
                           struct import_file *f)
{
  struct s3src *s = src->ctx;
  const struct s3entry *e = lookup(s, rel);
  struct s3file *h;

  f->fd = -1;
  f->h = NULL;
  if (!e)
    return -ENOENT;
  h = calloc(1, sizeof(*h));
  if (!h)
    return -ENOMEM;
  h->e = e;
  h->cli = s3_pool_borrow(s->pool, &h->slot);
  buf_init(&h->win, (size_t)1 << 31);
  f->h = h;
  f->size = e->size;
  f->mtime_ns = s3src_etag_hash(e->etag);
  snprintf(f->version, sizeof(f->version), "%s", e->etag);
  return 0;
}

/* One ranged read of h's object, pinned to the version the first read
 * met (a versioned bucket), else to the listed ETag alone.  The first
 * read of a versioned object records "ETAG VERSIONID" as f's version. */
static int read_range(struct s3src *s, struct import_file *f, uint64_t off,
                      uint64_t len, struct buf *out)
{
  struct s3file *h = f->h;
  char key[S3_KEY_MAX + 1], err[512] = "";
  struct s3_read rd = { .key = key, .version_id = h->vid,
                        .if_match = h->e->etag, .off = off, .len = len,
                        .out = out, .fd = -1 };
  int r;

  snprintf(key, sizeof(key), "%s%s", s->prefix, h->e->rel);
  r = s3_read(h->cli, &rd, err, sizeof(err));
  if (r == 0 && !h->vid[0] && rd.got_version[0]) {
    /* Both fit (s3.h's limits, import.h's room): a record cut short
     * would pin the sample to no version or to another one. */
    if (strlen(rd.got_version) >= sizeof(h->vid) ||
        (size_t)snprintf(f->version, sizeof(f->version), "%s %s",
                         h->e->etag, rd.got_version) >= sizeof(f->version)) {
      snprintf(f->version, sizeof(f->version), "%s", h->e->etag);
      r = errf(err, sizeof(err), -EOVERFLOW, "%s: version id of %zu bytes: "
               "too long to record", key, strlen(rd.got_version));
    } else {
      snprintf(h->vid, sizeof(h->vid), "%s", rd.got_version);
    }
  }
  if (r < 0 && r != -ESTALE && r != -ENOMEM)
    set_error(s, err[0] ? err : strerror(-r));
  return r;
}

/* Fetches the window that starts at off: at least n bytes, at least
 * S3SRC_WINDOW, the whole object when it starts at 0 and reaches its
 * end. */
static int fetch_window(struct s3src *s, struct import_file *f, uint64_t off,
                        size_t n)
{
  struct s3file *h = f->h;
  uint64_t len = n > S3SRC_WINDOW ? n : S3SRC_WINDOW;
  int r;

  if (len > h->e->size - off)
    len = h->e->size - off;
  if (off == 0 && len == h->e->size)
    len = 0;                          /* whole: no Range */
  r = read_range(s, f, off, len, &h->win);
  if (r < 0) {
    buf_reset(&h->win);
    return r;
  }
  h->woff = off;
  return 0;
}

/* Extends the window to reach at least byte end, fetching only the bytes
 * it lacks, and at least doubling it: a header reader that asks for a
 * little more each time (JPEG segments) costs a few requests, and every
 * byte is fetched once. */
static int grow_window(struct s3src *s, struct import_file *f, uint64_t end)
{
  struct s3file *h = f->h;
  uint64_t have = h->woff + h->win.len, want = h->woff + 2 * h->win.len;
  struct buf more;
  int r;

  if (want < end)
    want = end;
  if (want > h->e->size)
    want = h->e->size;
  buf_init(&more, (size_t)1 << 31);
  r = read_range(s, f, have, want - have, &more);
  if (r == 0 && buf_append(&h->win, more.data, more.len) < 0)
    r = -ENOMEM;
  buf_free(&more);
  return r;
}

static long s3src_pread(const struct import_source *src,
                        struct import_file *f, uint64_t off, void *buf,
                        size_t n)
{
  struct s3src *s = src->ctx;
  struct s3file *h = f->h;
  int r;

  if (off >= h->e->size)
    return 0;
  if (n > h->e->size - off)
    n = (size_t)(h->e->size - off);
  if (off < h->woff || off + n > h->woff + h->win.len) {
    if (h->win.len && off >= h->woff && off <= h->woff + h->win.len)
      r = grow_window(s, f, off + n);   /* a header that needs more */
    else
      r = fetch_window(s, f, off, n);
    if (r < 0)
      return r;
    if (off + n > h->woff + h->win.len)
      n = h->win.len > off - h->woff ? (size_t)(h->woff + h->win.len - off)
                                     : 0;
  }
  memcpy(buf, h->win.data + (off - h->woff), n);
  return (long)n;
}

static void s3src_file_close(const struct import_source *src,
                             struct import_file *f)
{
  struct s3file *h = f->h;

  if (!h)
    return;
  s3_pool_return(((struct s3src *)src->ctx)->pool, h->slot);
  buf_free(&h->win);
  free(h);
  f->h = NULL;
}

int s3src_open(const char *url, const struct aws_conf *conf, int readers,
               struct s3src **ret, struct import_source *src, char *err,
               size_t errlen)
{
  struct s3src *s;
  char *bucket = NULL, *prefix = NULL;
  int r;

  *ret = NULL;
  if ((r = s3_url_parse_folder(url, &bucket, &prefix, err, errlen)) < 0)
    return r;
  s = calloc(1, sizeof(*s));
  if (!s) {
    free(bucket);
    free(prefix);
    return errf(err, errlen, -ENOMEM, "out of memory");
  }
  pthread_mutex_init(&s->mu, NULL);
  s->bucket = bucket;
  s->prefix = prefix;   /* "a/b" and "a/b/" both mean a/b/ */
  if (asprintf(&s->root, "s3://%s/%s", bucket, s->prefix) < 0)
    s->root = NULL;
  s->ncli = readers > 0 ? readers : S3SRC_READERS;
  r = !s->root ? errf(err, errlen, -ENOMEM, "out of memory")
      : s3_pool_open(conf, bucket, s->ncli, &s->pool, err, errlen);
  if (r < 0) {
    s3src_close(s);
    return r;
  }
  *src = (struct import_source){ .root = s->root, .nthreads = s->ncli,
                                 .ctx = s, .list = s3src_list,
                                 .open = s3src_file_open,
                                 .pread = s3src_pread,
                                 .close = s3src_file_close };
  *ret = s;
  return 0;
}

void s3src_close(struct s3src *s)
{
  if (!s)
    return;
  s3_pool_close(s->pool);
  for (size_t i = 0; i < s->n; i++)
    free(s->e[i].rel);
  free(s->e);
  free(s->bucket);
  free(s->prefix);
  free(s->root);
  pthread_mutex_destroy(&s->mu);
  free(s);
}
