/* s3.c - the S3 client (see s3.h): request building, listing pages,
 * ranged reads, and S3's error documents turned into errnos.
 *
 * Canonical requests: SigV4 signs the path and the query string.  S3's
 * canonical form percent-encodes every byte but A-Z a-z 0-9 - _ . ~ (the
 * path keeps its '/'), and sorts the query parameters by name.  libcurl
 * 7.88 signs the URL as given, so both are built here in that form and a
 * server recomputing the signature gets the same bytes.
 */
#define _GNU_SOURCE   /* asprintf, strndup */
#include "s3.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xmltree.h"

/* The hash of an empty payload: every request here is a GET without a
 * body, and S3 wants x-amz-content-sha256 on each signed request. */
#define S3_EMPTY_SHA256 \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_LIST_MAX (32u << 20)   /* one listing page, generous */

struct s3 {
  struct http_client *http;
  char *bucket;
  bool path_style;
  char *provider;            /* "aws:amz:REGION:s3" */
  struct aws_creds *creds;   /* an expiring key's source, or NULL */
  uint64_t gen;              /* the generation of the key in use */
};

/* With an expiring key: a new one, when the source has one, signs from
 * now on.  0, or the source's error. */
static int fresh_key(struct s3 *s, char *err, size_t errlen)
{
  char *id, *key, *tok;
  uint64_t gen;
  int r;

  if (!s->creds)
    return 0;
  if ((r = aws_creds_get(s->creds, &gen, &id, &key, &tok, err, errlen)) < 0)
    return r;
  if (gen != s->gen) {
    r = http_client_sigv4(s->http, s->provider, id, key);
    if (r == 0)
      r = http_client_header(s->http, "x-amz-security-token", tok, true);
    if (r == 0)
      s->gen = gen;
    else
      errf(err, errlen, r, "out of memory");
  }
  secret_free(id);
  secret_free(key);
  secret_free(tok);
  return r;
}

static bool bucket_ok(const char *b)
{
  size_t n = strlen(b);

  if (n < 3 || n > 63 || b[strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789"
                                      ".-")])
    return false;
  return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-' &&
         !strstr(b, "..");
}

/* A prefix names a folder of keys: no empty, "." or ".." part (a
 * trailing '/' is fine), so it reads as the same path everywhere. */
static bool prefix_ok(const char *p)
{
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') ||
        (n == 2 && p[0] == '.' && p[1] == '.'))
      return false;
    if (!slash)
      break;
    p = slash + 1;
  }
  return true;
}

int s3_url_parse(const char *url, char **bucket, char **prefix, char *err,
                 size_t errlen)
{
  const char *b, *slash;

  *bucket = *prefix = NULL;
  if (strncmp(url, "s3://", 5) != 0)
    return errf(err, errlen, -EINVAL, "expected s3://BUCKET[/PREFIX]");
  b = url + 5;
  slash = strchr(b, '/');
  *bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
  *prefix = strdup(slash ? slash + 1 : "");
  if (!*bucket || !*prefix) {
    free(*bucket);
    free(*prefix);
    *bucket = *prefix = NULL;
    return errf(err, errlen, -ENOMEM, "out of memory");
  }
  if (!bucket_ok(*bucket) || strlen(*prefix) >= S3_KEY_MAX ||
      !prefix_ok(*prefix)) {
    int r = errf(err, errlen, -EINVAL, "'%.80s': not a valid S3 bucket name "
                 "(3-63 of a-z 0-9 . -) or key prefix (no empty, '.' or "
                 "'..' part)", *bucket);
    free(*bucket);
    free(*prefix);
    *bucket = *prefix = NULL;
    return r;
  }
  return 0;
}

int s3_url_parse_folder(const char *url, char **bucket, char **prefix,
                        char *err, size_t errlen)
{
  char *p, *folder;
  int r = s3_url_parse(url, bucket, &p, err, errlen);

  if (r < 0)
    return r;
  if (asprintf(&folder, "%s%s", p, *p && p[strlen(p) - 1] != '/' ? "/" : "")
      < 0) {
    free(p);
    free(*bucket);
    *bucket = NULL;
    return errf(err, errlen, -ENOMEM, "out of memory");
  }
  free(p);
  *prefix = folder;
  return 0;
}

/* Appends s percent-encoded as S3's canonical form wants; keep_slash for
 * a path, not for a query value. */
static int enc(struct buf *out, const char *s, bool keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";
  int r = 0;

  for (; *s && r == 0; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
        ch == '~' || (keep_slash && ch == '/')) {
      r = buf_append(out, s, 1);
    } else {
      char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
      r = buf_append(out, e, 3);
    }
  }
  return r;
}

int s3_open(const struct aws_conf *conf, const char *bucket, struct s3 **ret,
            char *err, size_t errlen)
{
  struct http_opts o = { .max_retries = 6, .retry_base_s = 0.2 };
  struct s3 *s;
  char *base = NULL, *provider = NULL;
  const char *host = strstr(conf->endpoint, "://");
  int r;

  *ret = NULL;
  if (!bucket_ok(bucket) || !host)
    return errf(err, errlen, -EINVAL, "'%.80s': not a valid S3 bucket name",
                bucket);
  s = calloc(1, sizeof(*s));
  if (!s)
    return errf(err, errlen, -ENOMEM, "out of memory");
  s->path_style = conf->path_style;
  s->bucket = strdup(bucket);
  if (conf->creds) {
    s->creds = aws_creds_ref(conf->creds);
    s->gen = 0;   /* the key below is conf's copy: fresh_key() checks */
  }
  if (s->path_style)
    base = strdup(conf->endpoint);
  else if (asprintf(&base, "%.*s%s.%s", (int)(host + 3 - conf->endpoint),
                    conf->endpoint, bucket, host + 3) < 0)
    base = NULL;
  if (asprintf(&provider, "aws:amz:%s:s3", conf->region) < 0)
    provider = NULL;
  r = !s->bucket || !base || !provider ? -ENOMEM
      : http_client_new(base, &o, &s->http);
  if (r == 0)
    r = http_client_sigv4(s->http, provider, conf->key_id, conf->secret);
  if (r == 0 && conf->token)
    r = http_client_header(s->http, "x-amz-security-token", conf->token,
                           true);
  if (r == 0)
    r = http_client_header(s->http, "x-amz-content-sha256", S3_EMPTY_SHA256,
                           false);
  free(base);
  s->provider = provider;
  if (r < 0) {
    s3_close(s);
    return errf(err, errlen, r, "S3 client for '%s': %s", bucket,
                strerror(-r));
  }
  *ret = s;
  return 0;
}

void s3_close(struct s3 *s)
{
  if (!s)
    return;
  http_client_free(s->http);
  free(s->bucket);
  free(s->provider);
  aws_creds_unref(s->creds);
  free(s);
}

/* "/bucket" (path style) or "" (virtual-hosted), then "/" + the encoded
 * key (object) or nothing (bucket). */
static int req_path(const struct s3 *s, const char *key, struct buf *out)
{
  int r = 0;

  buf_reset(out);
  if (s->path_style)
    r = buf_puts(out, "/") < 0 || enc(out, s->bucket, false) < 0 ? -ENOMEM
                                                                 : 0;
  if (r == 0 && key)
    r = buf_puts(out, "/") < 0 || enc(out, key, true) < 0 ? -ENOMEM : 0;
  if (r == 0 && out->len == 0)
    r = buf_puts(out, "/");
  return r;
}

/* S3's error codes as errnos (the ones a reader meets). */
static int code_errno(long status, const char *code)
{
  static const struct { const char *code; int err; } map[] = {
    { "NoSuchBucket", -ENOENT }, { "NoSuchKey", -ENOENT },
    { "NoSuchVersion", -ENOENT },
    { "AccessDenied", -EACCES }, { "InvalidAccessKeyId", -EACCES },
    { "SignatureDoesNotMatch", -EACCES }, { "AllAccessDisabled", -EACCES },
    { "RequestTimeTooSkewed", -EACCES },
    { "ExpiredToken", -EKEYEXPIRED }, { "InvalidToken", -EKEYEXPIRED },
    { "TokenRefreshRequired", -EKEYEXPIRED },
    { "AuthorizationHeaderMalformed", -EINVAL },
    { "PermanentRedirect", -EINVAL }, { "InvalidBucketName", -EINVAL },
    { "PreconditionFailed", -ESTALE }, { "InvalidRange", -ERANGE },
    { "SlowDown", -EAGAIN }, { "ServiceUnavailable", -EAGAIN },
  };

  for (size_t i = 0; code && i < sizeof(map) / sizeof(map[0]); i++)
    if (strcmp(code, map[i].code) == 0)
      return map[i].err;
  switch (status) {
  case 301: case 400: return -EINVAL;
  case 403: return -EACCES;
  case 404: return -ENOENT;
  case 412: return -ESTALE;
  case 416: return -ERANGE;
  case 503: return -EAGAIN;
  default: return -EIO;
  }
}

/* An answer other than 200/206: its errno, and "what: STATUS Code:
 * Message" in err.  S3's Message never holds a credential; the extra
 * fields of some errors (the canonical request, the string to sign) are
 * not shown. */
static int s3_error(const struct http_resp *rs, const char *what, char *err,
                    size_t errlen)
{
  struct xmltree_node root = { 0 };
  char xerr[128];
  const char *code = NULL, *msg = "";
  const struct xmltree_node *e = NULL;
  int r;

  if (rs->body.len && xmltree_parse(rs->body.data, rs->body.len, &root,
                                     xerr, sizeof(xerr)) == 0) {
    e = &root;
    if (e->name && strcmp(e->name, "Error") == 0) {
      code = xmltree_child(e, "Code") ? xmltree_text(xmltree_child(e, "Code"))
                               : NULL;
      msg = xmltree_text(xmltree_child(e, "Message"));
    }
  }
  r = code_errno(rs->status, code);
  errf(err, errlen, r, "%s: %ld %s%s%.200s", what, rs->status,
       code ? code : "error", *msg ? ": " : "", msg);
  xmltree_free(&root);
  return r;
}

static int64_t parse_time(const char *t)
{
  struct tm tm = { 0 };

  if (sscanf(t, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm);
}

/* Decodes a key S3 sent with encoding-type=url (form encoding: '+' is a
 * space, %XX a byte) into out (S3_KEY_MAX + 1 bytes).  -1 when malformed
 * or too long. */
static int key_decode(const char *in, char *out)
{
  size_t n = 0;

  for (; *in; in++) {
    int ch = (unsigned char)*in;
    if (ch == '%') {
      unsigned v;
      if (!isxdigit((unsigned char)in[1]) || !isxdigit((unsigned char)in[2]) ||
          sscanf(in + 1, "%2x", &v) != 1)
        return -1;
      ch = (int)v;
      in += 2;
    } else if (ch == '+') {
      ch = ' ';
    }
    if (ch == 0 || n >= S3_KEY_MAX)
      return -1;
    out[n++] = (char)ch;
  }
  out[n] = '\0';
  return 0;
}

/* Calls cb for each <Contents> of one page. */
static int list_page_objects(const struct xmltree_node *res,
                             int (*cb)(const struct s3_object *, void *),
                             void *ud, const char *what, char *err,
                             size_t errlen)
{
  for (size_t i = 0; i < res->n; i++) {
    struct xmltree_node *c = &res->kids[i];
    struct s3_object o = { 0 };
    char key[S3_KEY_MAX + 1];
    const char *size, *etag;
    char *end;
    int r;
    if (strcmp(c->name, "Contents") != 0)
      continue;
    /* Keys come URL-encoded (encoding-type=url): a key with characters
     * XML cannot carry would otherwise spoil the whole page. */
    if (key_decode(xmltree_text(xmltree_child(c, "Key")), key) < 0)
      return errf(err, errlen, -EIO, "%s: malformed key in the listing",
                  what);
    o.key = key;
    size = xmltree_text(xmltree_child(c, "Size"));
    etag = xmltree_text(xmltree_child(c, "ETag"));
    errno = 0;
    o.size = strtoull(size, &end, 10);
    if (!*o.key || !*size || *end || errno || strlen(etag) >= S3_ETAG_MAX)
      return errf(err, errlen, -EIO, "%s: malformed listing entry", what);
    strcpy(o.etag, etag);
    o.mtime = parse_time(xmltree_text(xmltree_child(c, "LastModified")));
    if ((r = cb(&o, ud)) != 0)
      return r;
  }
  return 0;
}

/* The query of one page, parameters in canonical (sorted) order. */
static int list_query(struct buf *q, const char *prefix, const char *token)
{
  int r = 0;

  if (token)
    r = buf_puts(q, "?continuation-token=") < 0 || enc(q, token, false) < 0;
  if (r == 0)
    r = buf_puts(q, token ? "&encoding-type=url&list-type=2&max-keys=1000"
                            "&prefix="
                          : "?encoding-type=url&list-type=2&max-keys=1000"
                            "&prefix=") < 0 ||
        enc(q, prefix, false) < 0;
  return r ? -ENOMEM : 0;
}

int s3_list(struct s3 *s, const char *prefix,
            int (*cb)(const struct s3_object *o, void *ud), void *ud,
            char *err, size_t errlen)
{
  struct buf path, what;
  struct http_resp rs;
  char *token = NULL, *last = NULL;
  int r = 0;

  buf_init(&path, 1u << 20);
  buf_init(&what, 4096);
  http_resp_init(&rs);
  if (buf_printf(&what, "list s3://%s/%s", s->bucket, prefix) < 0)
    r = -ENOMEM;
  while (r == 0) {
    struct xmltree_node root = { 0 };
    const struct xmltree_node *res;
    struct http_req rq = { .method = "GET", .max_response = S3_LIST_MAX };
    r = req_path(s, NULL, &path);
    if (r == 0)
      r = list_query(&path, prefix, token);
    if (r < 0)
      break;
    rq.path = path.data;
    r = fresh_key(s, err, errlen);
    if (r == 0)
      r = http_do(s->http, &rq, &rs, err, errlen);
    if (r < 0)
      break;
    if (rs.status != 200) {
      r = s3_error(&rs, what.data, err, errlen);
      break;
    }
    r = xmltree_parse(rs.body.data, rs.body.len, &root, err, errlen);
    res = r == 0 && root.name ? &root : NULL;
    if (!res || strcmp(res->name, "ListBucketResult") != 0) {
      xmltree_free(&root);
      r = errf(err, errlen, -EIO, "%s: not a ListBucketResult", what.data);
      break;
    }
    r = list_page_objects(res, cb, ud, what.data, err, errlen);
    free(last);
    last = token;   /* a server repeating it would loop us forever */
    token = NULL;
    if (r == 0 && strcmp(xmltree_text(xmltree_child(res, "IsTruncated")),
                         "true") == 0) {
      const char *t = xmltree_text(xmltree_child(res, "NextContinuationToken"));
      if (!*t || (last && strcmp(t, last) == 0))
        r = errf(err, errlen, -EIO, "%s: truncated page without a new "
                 "continuation token", what.data);
      else if (!(token = strdup(t)))
        r = -ENOMEM;
      xmltree_free(&root);
      continue;
    }
    xmltree_free(&root);
    break;
  }
  free(token);
  free(last);
  http_resp_free(&rs);
  buf_free(&path);
  buf_free(&what);
  return r;
}

/* The Range and If-Match header lines of rd into hdrs (3 slots). */
static int read_headers(const struct s3_read *rd, char *range, size_t rlen,
                        char *match, size_t mlen, const char **hdrs)
{
  size_t nh = 0;

  if (rd->off || rd->len) {
    if (rd->len)
      snprintf(range, rlen, "Range: bytes=%llu-%llu",
               (unsigned long long)rd->off,
               (unsigned long long)(rd->off + rd->len - 1));
    else
      snprintf(range, rlen, "Range: bytes=%llu-",
               (unsigned long long)rd->off);
    hdrs[nh++] = range;
  }
  if (rd->if_match) {
    if (strlen(rd->if_match) >= S3_ETAG_MAX ||
        strpbrk(rd->if_match, "\r\n"))
      return -EINVAL;
    snprintf(match, mlen, "If-Match: %s", rd->if_match);
    hdrs[nh++] = match;
  }
  return 0;
}

int s3_read(struct s3 *s, struct s3_read *rd, char *err, size_t errlen)
{
  char range[64], match[S3_ETAG_MAX + 16], what[S3_KEY_MAX + 80];
  const char *hdrs[3] = { NULL };
  struct http_req rq = { .method = "GET", .headers = hdrs,
                         .max_response = rd->max,
                         .body_to_fd = !rd->out, .body_fd = rd->fd };
  struct http_resp rs;
  struct buf path;
  bool ranged = rd->off || rd->len;
  int r;

  snprintf(what, sizeof(what), "s3://%s/%s", s->bucket, rd->key);
  if (read_headers(rd, range, sizeof(range), match, sizeof(match), hdrs) < 0)
    return errf(err, errlen, -EINVAL, "%s: bad ETag", what);
  if ((r = fresh_key(s, err, errlen)) < 0)
    return r;
  buf_init(&path, 16 * 1024);
  http_resp_init(&rs);
  r = req_path(s, rd->key, &path);
  /* The only query parameter: already canonical. */
  if (r == 0 && rd->version_id && *rd->version_id &&
      (buf_puts(&path, "?versionId=") < 0 ||
       enc(&path, rd->version_id, false) < 0))
    r = -ENOMEM;
  if (r == 0) {
    rq.path = path.data;
    r = http_do(s->http, &rq, &rs, err, errlen);
  }
  if (r == 0 && rs.status != 200 && rs.status != 206)
    r = s3_error(&rs, what, err, errlen);
  if (r == 0 && ranged && rs.status != 206 && rd->off)
    r = errf(err, errlen, -EIO, "%s: the server ignored the range", what);
  if (r == 0 && rs.header_cut)
    r = errf(err, errlen, -EOVERFLOW, "%s: the server sent an ETag over %d "
             "or a version id over %d bytes", what, S3_ETAG_MAX - 1,
             S3_VERSION_ID_MAX);
  if (r == 0) {
    snprintf(rd->etag, S3_ETAG_MAX, "%s", rs.etag);
    snprintf(rd->got_version, sizeof(rd->got_version), "%s", rs.version_id);
    rd->got = rd->out ? (uint64_t)rs.body.len : rs.fd_bytes;
    rd->total = rs.range_total >= 0 ? (uint64_t)rs.range_total : rd->got;
    if (rd->out) {
      struct buf t = *rd->out;   /* hand the body over without a copy */
      *rd->out = rs.body;
      rs.body = t;
    }
  } else if (r == -E2BIG) {
    errf(err, errlen, r, "%s: larger than the read limit", what);
  }
  http_resp_free(&rs);
  buf_free(&path);
  return r;
}

int s3_get(struct s3 *s, const char *key, uint64_t off, uint64_t len,
           const char *if_match, size_t max, struct buf *out, char *etag,
           uint64_t *total, char *err, size_t errlen)
{
  struct s3_read rd = { .key = key, .if_match = if_match, .off = off,
                        .len = len, .max = max, .out = out, .fd = -1 };
  int r = s3_read(s, &rd, err, errlen);

  if (r == 0 && etag)
    snprintf(etag, S3_ETAG_MAX, "%s", rd.etag);
  if (r == 0 && total)
    *total = rd.total;
  return r;
}

struct s3_pool {
  pthread_mutex_t mu;   /* guards busy[] */
  pthread_cond_t cv;    /* signalled when a client comes back */
  struct s3 **cli;
  bool *busy;
  int n;
};

int s3_pool_open(const struct aws_conf *conf, const char *bucket, int n,
                 struct s3_pool **ret, char *err, size_t errlen)
{
  struct s3_pool *p = calloc(1, sizeof(*p));
  int r = 0;

  *ret = NULL;
  if (!p || n <= 0)
    return errf(err, errlen, p ? -EINVAL : -ENOMEM, "S3 pool of %d", n);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->n = n;
  p->cli = calloc((size_t)n, sizeof(*p->cli));
  p->busy = calloc((size_t)n, sizeof(*p->busy));
  if (!p->cli || !p->busy)
    r = errf(err, errlen, -ENOMEM, "out of memory");
  for (int i = 0; r == 0 && i < n; i++)
    r = s3_open(conf, bucket, &p->cli[i], err, errlen);
  if (r < 0) {
    s3_pool_close(p);
    return r;
  }
  *ret = p;
  return 0;
}

void s3_pool_close(struct s3_pool *p)
{
  if (!p)
    return;
  for (int i = 0; p->cli && i < p->n; i++)
    s3_close(p->cli[i]);
  free(p->cli);
  free(p->busy);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

struct s3 *s3_pool_borrow(struct s3_pool *p, int *slot)
{
  int k = -1;

  pthread_mutex_lock(&p->mu);
  while (k < 0) {
    for (int i = 0; i < p->n && k < 0; i++)
      if (!p->busy[i])
        k = i;
    if (k < 0)
      pthread_cond_wait(&p->cv, &p->mu);
  }
  p->busy[k] = true;
  pthread_mutex_unlock(&p->mu);
  *slot = k;
  return p->cli[k];
}

void s3_pool_return(struct s3_pool *p, int slot)
{
  pthread_mutex_lock(&p->mu);
  assert(p->busy[slot]);
  p->busy[slot] = false;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

