/* http.c - the HTTP client behind cvat_client.c, over libcurl.
 *
 * One easy handle per client: curl_easy_reset() between requests clears
 * the options but keeps the connection cache, so a push of thousands of
 * images or a pull of many pages runs over one kept-alive connection.
 * Retries, backoff and redaction are described in http.h.  This module
 * never logs: all it knows goes back to the caller as a status or a
 * redacted error text.
 */
#include "http.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dynlib.h"

/* ---- libcurl, loaded by the first client (dynlib.h) ----
 *
 * libcurl and what it links (TLS, SSH, LDAP, Kerberos: 25 libraries) cost
 * every program ~5 ms of loading and relocation at start-up, which a
 * command that makes no HTTP request (an import from a folder, an export)
 * would pay for nothing.  So the programs are not linked with it: the
 * first client loads it (dynlib_get(), which also runs curl_global_init
 * once, in lc_loaded), and the libcurl functions this file calls are
 * defined here as forwarders to the loaded library, so the code below is
 * written against libcurl's own API.  Each forwarder is reached only
 * through a client, which exists only after the load succeeded (and
 * dynlib_get() orders the table's writes before every use).  Without the
 * library http_client_new() fails with -ELIBACC (and the library is named
 * in the log by dynlib.c, the one message that is not this module's).
 * The soname, CURL_SONAME, is that of the libcurl this build links
 * against (meson.build finds it). */
#ifndef CURL_SONAME
#error "CURL_SONAME comes from meson.build (the soname this build links against)"
#endif

/* Each function called through lc: its name and its slot. */
#define LC_FUNCS(X, t) \
  X(t, curl_global_init, global_init) \
  X(t, curl_easy_init, easy_init) \
  X(t, curl_easy_cleanup, easy_cleanup) \
  X(t, curl_easy_reset, easy_reset) \
  X(t, curl_easy_perform, easy_perform) \
  X(t, curl_easy_setopt, easy_setopt) \
  X(t, curl_easy_getinfo, easy_getinfo) \
  X(t, curl_easy_header, easy_header) \
  X(t, curl_easy_strerror, easy_strerror) \
  X(t, curl_slist_append, slist_append) \
  X(t, curl_slist_free_all, slist_free_all) \
  X(t, curl_mime_init, mime_init) \
  X(t, curl_mime_free, mime_free) \
  X(t, curl_mime_addpart, mime_addpart) \
  X(t, curl_mime_name, mime_name) \
  X(t, curl_mime_data, mime_data) \
  X(t, curl_mime_data_cb, mime_data_cb) \
  X(t, curl_mime_filename, mime_filename) \
  X(t, curl_mime_type, mime_type)
DYNLIB_TABLE(lc, LC_FUNCS);

/* libcurl's global set-up, once, before the first handle: -ENOMEM,
 * remembered, when it fails. */
static int lc_loaded(struct dynlib *l)
{
  (void)l;
  return lc.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}
static struct dynlib lc_lib = DYNLIB_INIT_LOADED(CURL_SONAME, lc_syms,
                                                 lc_loaded);

CURL *curl_easy_init(void) { return lc.easy_init(); }
void curl_easy_cleanup(CURL *h) { lc.easy_cleanup(h); }
void curl_easy_reset(CURL *h) { lc.easy_reset(h); }
CURLcode curl_easy_perform(CURL *h) { return lc.easy_perform(h); }
const char *curl_easy_strerror(CURLcode c) { return lc.easy_strerror(c); }

/* The one variadic argument, read by its type as libcurl reads it: a long
 * below CURLOPTTYPE_OBJECTPOINT, a curl_off_t from CURLOPTTYPE_OFF_T to
 * CURLOPTTYPE_BLOB, a pointer (object or function) otherwise. */
CURLcode (curl_easy_setopt)(CURL *h, CURLoption opt, ...)
{
  va_list ap;
  CURLcode rc;

  va_start(ap, opt);
  if (opt < CURLOPTTYPE_OBJECTPOINT)
    rc = lc.easy_setopt(h, opt, va_arg(ap, long));
  else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)
    rc = lc.easy_setopt(h, opt, va_arg(ap, curl_off_t));
  else
    rc = lc.easy_setopt(h, opt, va_arg(ap, void *));
  va_end(ap);
  return rc;
}

/* Every CURLINFO takes a pointer to the result. */
CURLcode (curl_easy_getinfo)(CURL *h, CURLINFO info, ...)
{
  va_list ap;
  CURLcode rc;

  va_start(ap, info);
  rc = lc.easy_getinfo(h, info, va_arg(ap, void *));
  va_end(ap);
  return rc;
}

CURLHcode curl_easy_header(CURL *h, const char *name, size_t index,
                           unsigned int origin, int request,
                           struct curl_header **hout)
{
  return lc.easy_header(h, name, index, origin, request, hout);
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
  return lc.slist_append(l, s);
}

void curl_slist_free_all(struct curl_slist *l) { lc.slist_free_all(l); }
curl_mime *curl_mime_init(CURL *h) { return lc.mime_init(h); }
void curl_mime_free(curl_mime *m) { lc.mime_free(m); }
curl_mimepart *curl_mime_addpart(curl_mime *m) { return lc.mime_addpart(m); }

CURLcode curl_mime_name(curl_mimepart *p, const char *name)
{
  return lc.mime_name(p, name);
}

CURLcode curl_mime_data(curl_mimepart *p, const char *data, size_t n)
{
  return lc.mime_data(p, data, n);
}

CURLcode curl_mime_data_cb(curl_mimepart *p, curl_off_t size,
                           curl_read_callback rd, curl_seek_callback sk,
                           curl_free_callback fr, void *arg)
{
  return lc.mime_data_cb(p, size, rd, sk, fr, arg);
}

CURLcode curl_mime_filename(curl_mimepart *p, const char *name)
{
  return lc.mime_filename(p, name);
}

CURLcode curl_mime_type(curl_mimepart *p, const char *type)
{
  return lc.mime_type(p, type);
}

struct hdr {
  char *name;
  char *value;
};

struct http_client {
  pthread_mutex_t mu;
  CURL *curl;
  char *base;
  struct http_opts o;
  char *ca_pem;     /* the CA file's bytes, read once (http_client_new) */
  size_t ca_len;
  struct hdr *hdrs;
  size_t nhdrs;
  char **secrets;
  size_t nsecrets;
  char *sigv4;      /* CURLOPT_AWS_SIGV4 provider, or NULL */
  char *sigv4_id;   /* access key id */
  char *sigv4_key;  /* secret access key (also in secrets) */
};

/* The CA file's bytes, read from the one descriptor that was checked: a
 * regular file (open_regular never blocks on a FIFO), non-empty, at most
 * HTTP_CA_MAX; opened by o->open_file when given, so with the rights of
 * whoever named it.  libcurl gets these bytes, never the path, so what
 * was checked is what verifies the peer. */
static int read_ca(const struct http_opts *o, char **ret, size_t *ret_len)
{
  struct stat st;
  char *data;
  size_t got = 0;
  int fd = o->open_file ? o->open_file(o->open_file_arg, o->ca_bundle)
                        : open_regular(o->ca_bundle), r = 0;

  *ret = NULL;
  *ret_len = 0;
  if (fd < 0)
    return fd;           /* -EINVAL: not a regular file */
  if (fstat(fd, &st) < 0)
    r = -errno;
  else if (st.st_size <= 0)
    r = -EBADMSG;
  else if ((uint64_t)st.st_size > HTTP_CA_MAX)
    r = -EFBIG;
  data = r == 0 ? malloc((size_t)st.st_size) : NULL;
  if (r == 0 && !data)
    r = -ENOMEM;
  while (r == 0 && got < (size_t)st.st_size) {
    ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      r = -errno;
    else if (n == 0)
      break;              /* the file shrank: what is there */
    else
      got += (size_t)n;
  }
  close(fd);
  if (r == 0 && got == 0)
    r = -EBADMSG;
  if (r < 0) {
    free(data);
    return r;
  }
  *ret = data;
  *ret_len = got;
  return 0;
}

int http_client_new(const char *base_url, const struct http_opts *o,
                    struct http_client **ret)
{
  struct http_client *c;
  size_t n;
  int r;

  *ret = NULL;
  if (!base_url || (strncmp(base_url, "http://", 7) != 0 &&
                    strncmp(base_url, "https://", 8) != 0))
    return -EINVAL;
  if ((r = dynlib_get(&lc_lib)) < 0)
    return r;
  c = calloc(1, sizeof(*c));
  if (!c)
    return -ENOMEM;
  pthread_mutex_init(&c->mu, NULL);
  if (o)
    c->o = *o;
  if (c->o.connect_timeout_ms <= 0)
    c->o.connect_timeout_ms = 10000;
  if (c->o.timeout_ms <= 0)
    c->o.timeout_ms = 600000;
  if (c->o.max_retries < 0)
    c->o.max_retries = 6;
  if (c->o.retry_base_s <= 0)
    c->o.retry_base_s = 0.25;
  if (c->o.retry_max_s <= 0)
    c->o.retry_max_s = 30;
  c->base = strdup(base_url);
  c->o.ca_bundle = NULL;
  c->o.open_file = NULL;
  c->o.open_file_arg = NULL;
  c->curl = curl_easy_init();
  if (!c->base || !c->curl) {
    http_client_free(c);
    return -ENOMEM;
  }
  if (o && o->ca_bundle) {
    r = read_ca(o, &c->ca_pem, &c->ca_len);
    if (r < 0) {
      http_client_free(c);
      return r;
    }
  }
  n = strlen(c->base);
  while (n > 0 && c->base[n - 1] == '/')
    c->base[--n] = '\0';
  *ret = c;
  return 0;
}

void http_client_free(struct http_client *c)
{
  if (!c)
    return;
  if (c->curl)
    curl_easy_cleanup(c->curl);
  for (size_t i = 0; i < c->nhdrs; i++) {
    free(c->hdrs[i].name);
    secret_free(c->hdrs[i].value);
  }
  free(c->hdrs);
  for (size_t i = 0; i < c->nsecrets; i++)
    secret_free(c->secrets[i]);
  free(c->secrets);
  free(c->sigv4);
  free(c->sigv4_id);
  secret_free(c->sigv4_key);
  free(c->base);
  free(c->ca_pem);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

int http_client_sigv4(struct http_client *c, const char *provider,
                      const char *key_id, const char *secret)
{
  char *p = strdup(provider), *i = strdup(key_id), *k = strdup(secret);

  if (!p || !i || !k || http_client_secret(c, secret) < 0) {
    free(p);
    free(i);
    secret_free(k);
    return -ENOMEM;
  }
  pthread_mutex_lock(&c->mu);
  free(c->sigv4);
  free(c->sigv4_id);
  secret_free(c->sigv4_key);
  c->sigv4 = p;
  c->sigv4_id = i;
  c->sigv4_key = k;
  pthread_mutex_unlock(&c->mu);
  return 0;
}

int http_client_secret(struct http_client *c, const char *secret)
{
  char **p, *s;

  if (!secret || !*secret)
    return 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->nsecrets; i++)
    if (strcmp(c->secrets[i], secret) == 0) {
      pthread_mutex_unlock(&c->mu);
      return 0;
    }
  p = realloc(c->secrets, (c->nsecrets + 1) * sizeof(*p));
  s = strdup(secret);
  if (p)
    c->secrets = p;
  if (!p || !s) {
    free(s);
    pthread_mutex_unlock(&c->mu);
    return -ENOMEM;
  }
  c->secrets[c->nsecrets++] = s;
  pthread_mutex_unlock(&c->mu);
  return 0;
}

int http_client_header(struct http_client *c, const char *name,
                       const char *value, bool secret)
{
  int r = 0;

  if (secret && value) {
    r = http_client_secret(c, value);
    if (r < 0)
      return r;
  }
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->nhdrs; i++) {
    if (strcasecmp(c->hdrs[i].name, name) != 0)
      continue;
    if (value) {
      char *v = strdup(value);
      if (!v) {
        r = -ENOMEM;
      } else {
        secret_free(c->hdrs[i].value);
        c->hdrs[i].value = v;
      }
    } else {
      free(c->hdrs[i].name);
      secret_free(c->hdrs[i].value);
      c->hdrs[i] = c->hdrs[--c->nhdrs];
    }
    pthread_mutex_unlock(&c->mu);
    return r;
  }
  if (value) {
    struct hdr *p = realloc(c->hdrs, (c->nhdrs + 1) * sizeof(*p));
    char *n = strdup(name), *v = strdup(value);
    if (p)
      c->hdrs = p;
    if (!p || !n || !v) {
      free(n);
      secret_free(v);
      r = -ENOMEM;
    } else {
      c->hdrs[c->nhdrs].name = n;
      c->hdrs[c->nhdrs++].value = v;
    }
  }
  pthread_mutex_unlock(&c->mu);
  return r;
}

/* Caller holds c->mu (or owns c exclusively). */
static void redact_locked(const struct http_client *c, char *s)
{
  for (size_t i = 0; i < c->nsecrets; i++) {
    const char *sec = c->secrets[i];
    size_t sl = strlen(sec);
    char *p;

    while ((p = strstr(s, sec)) != NULL) {
      /* "***" is never longer than a non-empty secret of >= 3 bytes; for
       * shorter ones, blank the bytes instead of growing the string. */
      if (sl >= 3) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + sl, strlen(p + sl) + 1);
      } else {
        memset(p, '*', sl);
        break;  /* '*' cannot match again unless the secret is '*' */
      }
    }
  }
}

void http_redact(const struct http_client *c, char *s)
{
  if (!c || !s)
    return;
  pthread_mutex_lock((pthread_mutex_t *)&c->mu);
  redact_locked(c, s);
  pthread_mutex_unlock((pthread_mutex_t *)&c->mu);
}

void http_resp_init(struct http_resp *r)
{
  memset(r, 0, sizeof(*r));
  buf_init(&r->body, 1u << 30);
  r->range_total = -1;
}

void http_resp_free(struct http_resp *r)
{
  if (r)
    buf_free(&r->body);
}

/* Where an attempt's body goes: memory (b), or the file fd for a 2xx
 * answer (see http_req.body_to_fd). */
struct sink {
  CURL *h;
  struct buf *b;
  size_t max;
  bool over;
  int fd;          /* -1: always memory */
  int to_file;     /* 0 not known yet (no byte yet), 1 file, -1 memory */
  uint64_t off;    /* bytes written to fd */
  int werr;        /* a failed write's negative errno */
};

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
  struct sink *s = ud;
  size_t n = sz * nm;

  if (s->to_file == 0) {
    long st = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &st);
    s->to_file = s->fd >= 0 && st >= 200 && st < 300 ? 1 : -1;
  }
  if (s->to_file > 0) {
    if (s->off + n > s->max) {
      s->over = true;
      return 0;
    }
    if ((s->werr = fd_write_all(s->fd, p, n, (off_t)s->off)) < 0)
      return 0;
    s->off += n;
    return n;
  }
  if (s->b->len + n > s->max || buf_append(s->b, p, n) < 0) {
    s->over = true;
    return 0;  /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  return n;
}

static int map_curl(CURLcode rc, bool over)
{
  switch (rc) {
  case CURLE_OK: return 0;
  case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
  case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
  case CURLE_GOT_NOTHING:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM: return -ECONNRESET;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_ENGINE_NOTFOUND: return -EPROTO;
  case CURLE_WRITE_ERROR: return over ? -E2BIG : -EIO;
  case CURLE_READ_ERROR: return -ENOENT;
  case CURLE_OUT_OF_MEMORY: return -ENOMEM;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT: return -EINVAL;
  default: return -EIO;
  }
}

static bool retryable_status(long st)
{
  return st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

static bool retryable_errno(int r)
{
  /* A refused connection means nothing listens: the server is down, and
   * waiting a minute would only delay the error. */
  return r == -ECONNRESET || r == -ETIMEDOUT;
}

static void sleep_s(double s)
{
  struct timespec ts;

  if (s <= 0)
    return;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* Builds the header list of one attempt.  Caller holds c->mu. */
static struct curl_slist *build_headers(struct http_client *c,
                                        const struct http_req *rq)
{
  struct curl_slist *l = NULL, *t;
  struct buf b;
  bool fail = false;

  buf_init(&b, 64 * 1024);
  for (size_t i = 0; i < c->nhdrs && !fail; i++) {
    buf_reset(&b);
    fail = buf_printf(&b, "%s: %s", c->hdrs[i].name, c->hdrs[i].value) < 0 ||
           !(t = curl_slist_append(l, b.data));
    if (!fail)
      l = t;
  }
  if (!fail && rq->body && !rq->parts) {
    buf_reset(&b);
    fail = buf_printf(&b, "Content-Type: %s", rq->content_type ?
                      rq->content_type : "application/json") < 0 ||
           !(t = curl_slist_append(l, b.data));
    if (!fail)
      l = t;
  }
  for (const char *const *h = rq->headers; h && *h && !fail; h++) {
    fail = !(t = curl_slist_append(l, *h));
    if (!fail)
      l = t;
  }
  if (b.data) {
    secret_wipe(b.data, b.len);  /* held an Authorization value */
    buf_free(&b);
  }
  if (fail) {
    curl_slist_free_all(l);
    return NULL;
  }
  return l;
}

/* The response headers callers may need: ETag and the total size of a
 * Content-Range. */
static void resp_headers(CURL *h, struct http_resp *resp)
{
  struct curl_header *hd;

  if (curl_easy_header(h, "ETag", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK) {
    if (strlen(hd->value) < sizeof(resp->etag))
      strcpy(resp->etag, hd->value);
    else
      resp->header_cut = true;
  }
  if (curl_easy_header(h, "x-amz-version-id", 0, CURLH_HEADER, -1, &hd) ==
      CURLHE_OK) {
    if (strlen(hd->value) < sizeof(resp->version_id))
      strcpy(resp->version_id, hd->value);
    else
      resp->header_cut = true;
  }
  if (curl_easy_header(h, "Content-Range", 0, CURLH_HEADER, -1, &hd) ==
      CURLHE_OK) {
    const char *t = strrchr(hd->value, '/');
    char *end;
    long long v;
    if (t && t[1] >= '0' && t[1] <= '9') {
      errno = 0;
      v = strtoll(t + 1, &end, 10);
      if (errno == 0 && *end == '\0' && v >= 0)
        resp->range_total = v;
    }
  }
}

/* Why a file part ended its request, for the attempt's error: the
 * errno (-ESTALE: the file changed) and the part's file name.  On the
 * attempt's stack. */
struct part_fail {
  int err;
  const char *name;
};

/* A file part's reader: the descriptor, how far it has been sent, and the
 * file as it is to be sent (size and modification time).  Owned by its
 * mime part (freed with it). */
struct fd_part {
  int fd;
  curl_off_t off, size;
  struct timespec mtime;
  bool fixed;                   /* http_part.fixed: mtime not compared */
  const char *name;
  struct part_fail *fail;
};

static bool same_time(struct timespec a, struct timespec b)
{
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Records why the part ends the request (the first reason only) and
 * returns libcurl's abort. */
static size_t part_abort(struct fd_part *fp, int err)
{
  if (!fp->fail->err) {
    fp->fail->err = err;
    fp->fail->name = fp->name;
  }
  return CURL_READFUNC_ABORT;
}

static size_t fd_part_read(char *out, size_t size, size_t nitems, void *arg)
{
  struct fd_part *fp = arg;
  size_t want = size * nitems;
  struct stat st;
  ssize_t n;

  if ((curl_off_t)want > fp->size - fp->off)
    want = (size_t)(fp->size - fp->off);
  if (want == 0)
    return 0;
  do
    n = pread(fp->fd, out, want, (off_t)fp->off);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return part_abort(fp, -errno);
  /* Shorter than its size: it shrank under the upload (libcurl would
   * otherwise wait for the bytes the part's size promised). */
  if (n == 0)
    return part_abort(fp, -ESTALE);
  fp->off += n;
  /* Read whole: were these bytes one version of it?  A file rewritten or
   * grown meanwhile has another time or size by now. */
  if (fp->off == fp->size &&
      (fstat(fp->fd, &st) < 0 || st.st_size != (off_t)fp->size ||
       (!fp->fixed && !same_time(st.st_mtim, fp->mtime))))
    return part_abort(fp, -ESTALE);
  return (size_t)n;
}

/* libcurl rewinds a part to send it again (a redirect, an auth retry). */
static int fd_part_seek(void *arg, curl_off_t offset, int origin)
{
  struct fd_part *fp = arg;

  if (origin != SEEK_SET || offset < 0 || offset > fp->size)
    return CURL_SEEKFUNC_CANTSEEK;
  fp->off = offset;
  return CURL_SEEKFUNC_OK;
}

/* The file of a part as it is to be sent: as the caller opened it, and
 * as it is now, which must agree.  0, -ESTALE (fail filled in), or the
 * errno of fstat; not a regular file: -EINVAL. */
static int part_stat(const struct http_part *p, struct stat *ret,
                     struct part_fail *fail)
{
  if (fstat(p->fd, ret) < 0)
    return -errno;
  if (!S_ISREG(ret->st_mode))
    return -EINVAL;
  if (p->opened && (ret->st_size != p->opened->st_size ||
                    (!p->fixed &&
                     !same_time(ret->st_mtim, p->opened->st_mtim)))) {
    fail->err = -ESTALE;
    fail->name = p->filename;
    return -ESTALE;
  }
  if (p->opened)
    *ret = *p->opened;
  return 0;
}

/* The part's data read from p->fd, of the size the caller opened it at
 * (else its size now). */
static int part_from_fd(curl_mimepart *mp, const struct http_part *p,
                        struct part_fail *fail)
{
  struct fd_part *fp;
  struct stat st;
  int r = part_stat(p, &st, fail);

  if (r < 0)
    return r;
  fp = malloc(sizeof(*fp));
  if (!fp)
    return -ENOMEM;
  *fp = (struct fd_part){ p->fd, 0, (curl_off_t)st.st_size, st.st_mtim,
                          p->fixed, p->filename ? p->filename : "file",
                          fail };
  if (curl_mime_data_cb(mp, fp->size, fd_part_read, fd_part_seek, free,
                        fp) != CURLE_OK) {
    free(fp);
    return -ENOMEM;
  }
  return 0;
}

/* The multipart body of a request on *ret; 0 or a negative errno. */
static int build_mime(CURL *h, const struct http_req *rq,
                      struct part_fail *fail, curl_mime **ret)
{
  curl_mime *mime = curl_mime_init(h);
  int r = mime ? 0 : -ENOMEM;

  for (size_t i = 0; r == 0 && i < rq->nparts; i++) {
    const struct http_part *p = &rq->parts[i];
    curl_mimepart *mp = curl_mime_addpart(mime);
    if (!mp || curl_mime_name(mp, p->name) != CURLE_OK ||
        (p->filename && curl_mime_filename(mp, p->filename) != CURLE_OK)) {
      r = -ENOMEM;
    } else if (p->from_fd) {
      r = part_from_fd(mp, p, fail);
      if (r == 0 && curl_mime_type(mp, "application/octet-stream") !=
          CURLE_OK)
        r = -ENOMEM;
    } else if (curl_mime_data(mp, p->data ? p->data : "", p->len) !=
               CURLE_OK) {
      r = -ENOMEM;
    }
  }
  if (r < 0) {
    curl_mime_free(mime);
    mime = NULL;
  }
  *ret = mime;
  return r;
}

/* The reason a file part gave for ending the request, in cerr. */
static void part_reason(const struct part_fail *f, char *cerr)
{
  const char *name = f->name ? f->name : "file";

  if (f->err == -ESTALE)
    snprintf(cerr, CURL_ERROR_SIZE, "source changed during upload: %s",
             name);
  else
    snprintf(cerr, CURL_ERROR_SIZE, "cannot read %s: %s", name,
             strerror(-f->err));
}

/* The method and body of a request on the handle. */
static void set_method(CURL *h, const struct http_req *rq, curl_mime *mime)
{
  bool post = strcmp(rq->method, "POST") == 0;

  if (mime) {
    curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
  } else if (rq->body || post) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(rq->body ? rq->body_len : 0));
  } else if (strcmp(rq->method, "HEAD") == 0) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    return;
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (strcmp(rq->method, "GET") != 0)
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    return;
  }
  if (!post)
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
}

/* The options every attempt sets on the (reset) handle. */
static void set_common(struct http_client *c, const char *url,
                       struct curl_slist *hl, char *cerr, struct sink *sink,
                       bool fresh)
{
  CURL *h = c->curl;

  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->o.timeout_ms);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  /* Verification stays on; only the CA file can change. */
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (c->ca_pem) {
    /* The bytes read and checked once (read_ca), kept for the client's
     * life: no copy needed. */
    struct curl_blob blob = { c->ca_pem, c->ca_len, CURL_BLOB_NOCOPY };
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
  }
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
  /* Objects are read as stored: decoding a Content-Encoding would change
   * their bytes and sizes (S3); JSON APIs (CVAT) may compress. */
  if (!c->sigv4)
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  if (c->sigv4) {
    /* An object store that accepts and then stalls ends the attempt (and
     * is retried) instead of holding a reader for the whole timeout.
     * Not for CVAT, whose server may think for a while before it
     * answers. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, HTTP_LOW_SPEED_BYTES);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, HTTP_LOW_SPEED_SECONDS);
    /* The path as given: libcurl would otherwise fold "a/../b" into
     * "b" and read another object than the key names. */
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->sigv4_id);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->sigv4_key);
  }
  /* libcurl silently re-sends a request once when a reused connection
   * dies before any answer.  For a request that must not be repeated (it
   * may have been handled), start on a fresh connection, where it does
   * not. */
  if (fresh)
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
}

static int attempt(struct http_client *c, const struct http_req *rq,
                   const char *url, struct http_resp *resp, char *cerr,
                   curl_off_t *ret_retry_after)
{
  CURL *h = c->curl;
  struct sink sink = { h, &resp->body, rq->max_response ? rq->max_response
                                                        : (size_t)1 << 30,
                       false, rq->body_to_fd ? rq->body_fd : -1, 0, 0, 0 };
  struct curl_slist *hl;
  struct part_fail fail = { 0, NULL };
  curl_mime *mime = NULL;
  CURLcode rc;
  int r;

  /* The handle and the header table are c->mu's (a debug check: the
   * lock is taken, by this thread as the callers do). */
  assert(pthread_mutex_trylock(&c->mu) == EBUSY);
  buf_reset(&resp->body);
  resp->status = 0;
  resp->etag[0] = '\0';
  resp->range_total = -1;
  resp->fd_bytes = 0;
  resp->version_id[0] = '\0';
  resp->header_cut = false;
  *ret_retry_after = 0;
  if (sink.fd >= 0 && ftruncate(sink.fd, 0) < 0)
    return -errno;
  hl = build_headers(c, rq);
  if (!hl && (c->nhdrs || rq->headers))
    return -ENOMEM;
  set_common(c, url, hl, cerr, &sink, rq->no_retry);
  if (rq->parts && (r = build_mime(h, rq, &fail, &mime)) < 0) {
    if (fail.err)
      part_reason(&fail, cerr);
    curl_slist_free_all(hl);
    return r;
  }
  set_method(h, rq, mime);
  rc = curl_easy_perform(h);
  r = sink.werr ? sink.werr : map_curl(rc, sink.over);
  resp->fd_bytes = sink.off;
  if (fail.err) {
    /* A file part ended it: its reason, not libcurl's "aborted by
     * callback" (nor an answer the server gave to a cut body). */
    r = fail.err;
    part_reason(&fail, cerr);
  } else if (r == 0) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, ret_retry_after);
    resp_headers(h, resp);
  } else if (!cerr[0]) {
    snprintf(cerr, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
  }
  /* The options point at these; drop them before they are freed. */
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(h, CURLOPT_MIMEPOST, NULL);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
  curl_mime_free(mime);
  curl_slist_free_all(hl);
  return r;
}

/* The file parts of rq pinned to the file as its caller opened it, or
 * else as it is now, so every attempt sends the same version (a copy of
 * the parts in *ret and their fstat in *st, both freed by the caller);
 * 0, or an errno with the reason in err. */
static int pin_parts(const struct http_req *rq, struct http_part **ret,
                     struct stat **st, char *err, size_t errlen)
{
  struct part_fail fail = { 0, NULL };
  char cerr[CURL_ERROR_SIZE];
  int r = 0;

  *ret = calloc(rq->nparts ? rq->nparts : 1, sizeof(**ret));
  *st = calloc(rq->nparts ? rq->nparts : 1, sizeof(**st));
  if (!*ret || !*st)
    return -ENOMEM;
  for (size_t i = 0; r == 0 && i < rq->nparts; i++) {
    const struct http_part *p = &rq->parts[i];
    (*ret)[i] = *p;
    if (!p->from_fd)
      continue;
    r = part_stat(p, &(*st)[i], &fail);
    (*ret)[i].opened = &(*st)[i];
    if (r == -ESTALE) {
      part_reason(&fail, cerr);
      if (err)
        snprintf(err, errlen, "%s", cerr);
    } else if (r < 0 && err) {
      snprintf(err, errlen, "cannot read '%s': %s",
               p->filename ? p->filename : "file",
               r == -EINVAL ? "not a regular file" : strerror(-r));
    }
  }
  return r;
}

int http_do(struct http_client *c, const struct http_req *orig,
            struct http_resp *resp, char *err, size_t errlen)
{
  struct http_req pinned = *orig, *rq = &pinned;
  struct http_part *parts = NULL;
  struct stat *st = NULL;
  char cerr[CURL_ERROR_SIZE];
  struct buf url;
  int r = 0;

  if (err && errlen)
    err[0] = '\0';
  if (orig->nparts) {
    r = pin_parts(orig, &parts, &st, err, errlen);
    if (r < 0) {
      free(parts);
      free(st);
      return r;
    }
    pinned.parts = parts;
  }
  buf_init(&url, 64 * 1024);
  if (buf_puts(&url, c->base) < 0 || buf_puts(&url, rq->path) < 0) {
    buf_free(&url);
    free(parts);
    free(st);
    return -ENOMEM;
  }
  pthread_mutex_lock(&c->mu);
  resp->attempts = 0;
  for (int a = 0;; a++) {
    curl_off_t ra = 0;
    double wait;

    cerr[0] = '\0';
    resp->attempts++;
    r = attempt(c, rq, url.data, resp, cerr, &ra);
    if (r == 0 && !retryable_status(resp->status))
      break;
    if (r < 0 && !retryable_errno(r))
      break;
    if (rq->no_retry || a >= c->o.max_retries)
      break;
    wait = c->o.retry_base_s * (double)(1u << (a < 16 ? a : 16));
    if (ra > 0)
      wait = (double)ra;
    if (wait > c->o.retry_max_s)
      wait = c->o.retry_max_s;
    /* Other threads may use the client while this one waits. */
    pthread_mutex_unlock(&c->mu);
    sleep_s(wait);
    pthread_mutex_lock(&c->mu);
  }
  if (r < 0 && err) {
    snprintf(err, errlen, "%s %s: %s", rq->method, url.data, cerr);
    redact_locked(c, err);
  }
  pthread_mutex_unlock(&c->mu);
  buf_free(&url);
  free(parts);
  free(st);
  return r;
}

int http_escape(struct buf *out, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  int r = 0;

  for (; *s && r == 0; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
        ch == '~') {
      r = buf_append(out, s, 1);
    } else {
      char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
      r = buf_append(out, e, 3);
    }
  }
  return r;
}

