/* cvat_client.c - CVAT REST calls (see cvat_client.h) over http.c, with
 * jansson for the JSON.
 *
 * Every call goes through api(): it sends the vendor Accept header, maps
 * the status to an errno, and turns CVAT's error body (a {"detail"}
 * object, field errors, a bare list or string, or plain text) into the
 * one-line reason of cvat_client_error().  A 401 in the middle of a session
 * that logged in with a password (the key was deleted by a logout
 * elsewhere, or expired) triggers one new login and one repeat.
 *
 * It does not decide anything about runs or labels: that is cvat_sync.c.
 */
#include "cvat_client.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "http.h"

struct cvat_client {
  atomic_uint refs;            /* references: the owner's, the session's */
  struct cvat_session *sess;   /* borrowed (outlives the client), or NULL */
  struct http_client *h;
  struct cvat_config cfg;      /* a private copy */
  char version[32];
  bool relogin_ok;             /* username + password available */
  pthread_mutex_t mu;          /* guards err */
  char err[CVAT_ERR_MAX];
};

/* ---------------------------------------------------------------- config */

void cvat_config_init(struct cvat_config *c)
{
  memset(c, 0, sizeof(*c));
  c->segment_size = 100;
  c->image_quality = 70;
  c->batch_bytes = 64ull << 20;
  c->connect_timeout_s = 10;
  c->timeout_s = 600;
  c->retries = 6;
  c->wait_timeout_s = 3600;
  c->poll_s = 0.2;
}

static void free_assignees(struct cvat_config *c)
{
  for (size_t i = 0; i < c->n_assignees; i++)
    free(c->assignees[i]);
  free(c->assignees);
  c->assignees = NULL;
  c->n_assignees = 0;
}

void cvat_config_free(struct cvat_config *c)
{
  if (!c)
    return;
  free(c->url);
  free(c->username);
  secret_free(c->password);
  secret_free(c->token);
  free(c->org);
  free(c->ca_bundle);
  free(c->project);
  free(c->field);
  free_assignees(c);
  cvat_config_init(c);
}

static int dup_str(char **dst, const char *src)
{
  *dst = NULL;
  if (!src)
    return 0;
  *dst = strdup(src);
  return *dst ? 0 : -ENOMEM;
}

int cvat_config_copy(struct cvat_config *dst, const struct cvat_config *src)
{
  int r = 0;

  cvat_config_free(dst);
  *dst = *src;
  r |= dup_str(&dst->url, src->url);
  r |= dup_str(&dst->username, src->username);
  r |= dup_str(&dst->password, src->password);
  r |= dup_str(&dst->token, src->token);
  r |= dup_str(&dst->org, src->org);
  r |= dup_str(&dst->ca_bundle, src->ca_bundle);
  r |= dup_str(&dst->project, src->project);
  r |= dup_str(&dst->field, src->field);
  dst->assignees = NULL;
  dst->n_assignees = 0;
  if (src->n_assignees) {
    dst->assignees = calloc(src->n_assignees, sizeof(char *));
    if (!dst->assignees)
      r = -ENOMEM;
    for (size_t i = 0; dst->assignees && i < src->n_assignees; i++) {
      r |= dup_str(&dst->assignees[i], src->assignees[i]);
      dst->n_assignees++;
    }
  }
  if (r) {
    cvat_config_free(dst);
    return -ENOMEM;
  }
  return 0;
}

static int set_string(char **dst, const char *v, bool secret)
{
  char *n = *v ? strdup(v) : NULL;

  if (*v && !n)
    return -ENOMEM;
  if (secret)
    secret_free(*dst);
  else
    free(*dst);
  *dst = n;
  return 0;
}

/* A checked list of user names, split at commas, spaces trimmed. */
static int set_assignees(struct cvat_config *c, const char *value)
{
  char **list = NULL;
  size_t n = 0;

  for (const char *p = value; *p;) {
    const char *e;
    size_t l;
    char **nl;

    while (*p == ' ')
      p++;
    e = strchr(p, ',');
    l = e ? (size_t)(e - p) : strlen(p);
    while (l && p[l - 1] == ' ')
      l--;
    nl = realloc(list, (n + 1) * sizeof(*nl));
    if (nl)
      list = nl;
    if (!nl || !(list[n] = strndup(p, l))) {
      for (size_t i = 0; i < n; i++)
        free(list[i]);
      free(list);
      return -ENOMEM;
    }
    n++;
    if (!e)
      break;
    p = e + 1;
  }
  free_assignees(c);
  c->assignees = list;
  c->n_assignees = n;
  return 0;
}

/* Where each key goes in struct cvat_config.  The rules are the keys'
 * validators (core/store/config_cvat.c), shared with the mount. */
enum cfg_kind { K_STR, K_SECRET, K_U32, K_SIZE, K_DOUBLE, K_LIST };

static const struct {
  const char *key;
  enum cfg_kind kind;
  size_t off;
} cfg_fields[] = {
#define F(k, kind, m) { k, kind, offsetof(struct cvat_config, m) }
  F("url", K_STR, url), F("username", K_STR, username),
  F("password", K_SECRET, password), F("token", K_SECRET, token),
  F("org", K_STR, org), F("ca_bundle", K_STR, ca_bundle),
  F("project", K_STR, project), F("field", K_STR, field),
  F("assignees", K_LIST, assignees), F("segment_size", K_U32, segment_size),
  F("image_quality", K_U32, image_quality),
  F("batch_bytes", K_SIZE, batch_bytes),
  F("connect_timeout", K_U32, connect_timeout_s),
  F("timeout", K_U32, timeout_s), F("retries", K_U32, retries),
  F("wait_timeout", K_U32, wait_timeout_s),
  F("poll_interval", K_DOUBLE, poll_s),
#undef F
};

int cvat_config_set(struct cvat_config *c, const char *key,
                    const char *value, char *err, size_t errlen)
{
  const struct config_key *k = config_cvat_key(key);
  const char *shortk = k ? k->name + 5 : "";
  char *at = (char *)c;
  uint64_t x = 0;
  int r;

  for (size_t i = 0; k && i < ARRAY_SIZE(cfg_fields); i++) {
    if (strcmp(cfg_fields[i].key, shortk) != 0)
      continue;
    r = config_check_set(k, value, err, errlen);
    if (r < 0)
      return r;
    at += cfg_fields[i].off;
    switch (cfg_fields[i].kind) {
    case K_STR: return set_string((char **)at, value, false);
    case K_SECRET: return set_string((char **)at, value, true);
    case K_LIST: return set_assignees(c, value);
    case K_U32: *(uint32_t *)at = (uint32_t)strtoul(value, NULL, 10);
      return 0;
    case K_SIZE: config_parse_size(value, UINT64_MAX, &x);
      *(uint64_t *)at = x;
      return 0;
    case K_DOUBLE: *(double *)at = strtod(value, NULL);
      return 0;
    }
  }
  return errf(err, errlen, -ENOENT, "unknown setting '%.64s' (known: "
                  "url, username, password, token, org, ca_bundle, project, "
                  "field, assignees, segment_size, image_quality, "
                  "batch_bytes, connect_timeout, timeout, retries, "
                  "wait_timeout, poll_interval)", key);
}

int cvat_config_from_env(struct cvat_config *c, char *err, size_t errlen)
{
  static const struct { const char *env, *key; } map[] = {
    { "CVAT_URL", "url" }, { "CVAT_USERNAME", "username" },
    { "CVAT_PASSWORD", "password" }, { "CVAT_TOKEN", "token" },
    { "CVAT_ORG", "org" }, { "CVAT_CA_BUNDLE", "ca_bundle" },
    { "CVAT_PROJECT", "project" }, { "CVAT_FIELD", "field" },
    { "CVAT_ASSIGNEES", "assignees" }, { "CVAT_SEGMENT_SIZE", "segment_size" },
    { "CVAT_BATCH_BYTES", "batch_bytes" }, { "CVAT_TIMEOUT", "timeout" },
    { "CVAT_RETRIES", "retries" },
  };

  for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
    const char *v = getenv(map[i].env);
    int r;
    if (!v)
      continue;
    r = cvat_config_set(c, map[i].key, v, err, errlen);
    if (r < 0)
      return r;
  }
  return 0;
}

int cvat_config_render(const struct cvat_config *c, struct buf *out)
{
  int r = 0;

  r |= buf_printf(out, "url = %s\n", c->url ? c->url : "");
  r |= buf_printf(out, "username = %s\n", c->username ? c->username : "");
  r |= buf_printf(out, "password = %s\n", c->password ? "(set)" : "(unset)");
  r |= buf_printf(out, "token = %s\n", c->token ? "(set)" : "(unset)");
  r |= buf_printf(out, "org = %s\n", c->org ? c->org : "");
  r |= buf_printf(out, "ca_bundle = %s\n", c->ca_bundle ? c->ca_bundle : "");
  r |= buf_printf(out, "project = %s\n", c->project ? c->project
                                                    : "curatefs");
  r |= buf_printf(out, "field = %s\n", c->field ? c->field : "ground_truth");
  r |= buf_puts(out, "assignees = ");
  for (size_t i = 0; i < c->n_assignees; i++)
    r |= buf_printf(out, "%s%s", i ? "," : "", c->assignees[i]);
  r |= buf_printf(out, "\nsegment_size = %u\nimage_quality = %u\n"
                  "batch_bytes = %llu\nconnect_timeout = %u\ntimeout = %u\n"
                  "retries = %u\nwait_timeout = %u\npoll_interval = %g\n",
                  c->segment_size, c->image_quality,
                  (unsigned long long)c->batch_bytes, c->connect_timeout_s,
                  c->timeout_s, c->retries, c->wait_timeout_s, c->poll_s);
  return r ? -E2BIG : 0;
}

/* ---------------------------------------------------------------- errors */

static int fail(struct cvat_client *c, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct cvat_client *c, int r, const char *fmt, ...)
{
  char tmp[CVAT_ERR_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  http_redact(c->h, tmp);
  pthread_mutex_lock(&c->mu);
  memcpy(c->err, tmp, sizeof(tmp));
  pthread_mutex_unlock(&c->mu);
  return r;
}

const char *cvat_client_error(const struct cvat_client *c)
{
  return c->err;
}

static int status_errno(long st)
{
  switch (st) {
  case 400: return -EINVAL;
  case 401: return -EACCES;
  case 403: return -EPERM;
  case 404: return -ENOENT;
  case 406: return -EPROTO;
  case 409: return -EEXIST;
  case 410: return -EPROTONOSUPPORT;
  case 413: return -E2BIG;
  case 429: return -EAGAIN;
  default: return st >= 500 ? -EIO : -EPROTO;
  }
}

/* CVAT's own message from an error body, into out. */
static void error_message(const char *body, size_t len, char *out,
                          size_t outlen)
{
  json_t *j;
  const char *s = NULL;
  char tmp[300];

  out[0] = '\0';
  while (len && (body[0] == ' ' || body[0] == '\n')) {
    body++;
    len--;
  }
  if (!len)
    return;
  if (body[0] == '<') {
    /* Django's or nginx's HTML page: its <title> says enough. */
    const char *t = strstr(body, "<title>"), *e;
    if (t && (e = strstr(t, "</title>")) && e - t - 7 < 200)
      snprintf(out, outlen, "%.*s", (int)(e - t - 7), t + 7);
    return;
  }
  j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
  if (!j) {
    size_t n = strcspn(body, "\r\n");
    snprintf(out, outlen, "%.*s", (int)MIN(n, 200), body);
    return;
  }
  if (json_is_string(j)) {
    s = json_string_value(j);
  } else if (json_is_array(j) && json_is_string(json_array_get(j, 0))) {
    s = json_string_value(json_array_get(j, 0));
  } else if (json_is_object(j)) {
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
      json_t *first = json_is_array(v) ? json_array_get(v, 0) : v;
      /* Nested field errors: [{"name": ["..."]}] */
      while (json_is_object(first) || json_is_array(first)) {
        const char *k2;
        json_t *v2, *next = NULL;
        if (json_is_array(first)) {
          next = json_array_get(first, 0);
        } else {
          json_object_foreach(first, k2, v2) {
            next = json_is_array(v2) ? json_array_get(v2, 0) : v2;
            break;
          }
        }
        first = next;
      }
      if (!json_is_string(first))
        continue;
      if (strcmp(key, "detail") == 0 || strcmp(key, "non_field_errors") == 0)
        snprintf(tmp, sizeof(tmp), "%s", json_string_value(first));
      else
        snprintf(tmp, sizeof(tmp), "%s: %s", key, json_string_value(first));
      s = tmp;
      break;
    }
  }
  if (s)
    snprintf(out, outlen, "%s", s);
  json_decref(j);
}

/* ---------------------------------------------------------------- calls */

struct call {
  const char *method;
  const char *path;
  json_t *body;                  /* borrowed */
  const struct http_part *parts;
  size_t nparts;
  const char *const *headers;
  bool no_retry;
  bool no_relogin;
};

static int login(struct cvat_client *c);

/* Performs a call.  2xx: 0 and the parsed body in *ret (when wanted and
 * not empty; owned).  Otherwise a negative errno and the reason. */
static int call(struct cvat_client *c, const struct call *k, long *ret_status,
                json_t **ret)
{
  struct http_req rq = { .method = k->method, .path = k->path,
                         .parts = k->parts, .nparts = k->nparts,
                         .headers = k->headers, .no_retry = k->no_retry };
  struct http_resp resp;
  char herr[HTTP_ERR_MAX], msg[300];
  char *body = NULL;
  int r;

  if (ret)
    *ret = NULL;
  if (ret_status)
    *ret_status = 0;
  if (k->body) {
    body = json_dumps(k->body, JSON_COMPACT);
    if (!body)
      return fail(c, -ENOMEM, "out of memory");
    rq.body = body;
    rq.body_len = strlen(body);
  }
  http_resp_init(&resp);
  r = http_do(c->h, &rq, &resp, herr, sizeof(herr));
  if (r == 0 && resp.status == 401 && c->relogin_ok && !k->no_relogin) {
    /* The key went away (logout elsewhere, expiry): log in again once. */
    r = login(c);
    if (r == 0)
      r = http_do(c->h, &rq, &resp, herr, sizeof(herr));
    else
      goto out;
  }
  if (r < 0) {
    fail(c, r, "%s", herr);
    goto out;
  }
  if (ret_status)
    *ret_status = resp.status;
  if (resp.status < 200 || resp.status > 299) {
    error_message(resp.body.data ? resp.body.data : "", resp.body.len, msg,
                  sizeof(msg));
    r = fail(c, status_errno(resp.status), "%s %s: HTTP %ld%s%s%s",
             k->method, k->path, resp.status,
             resp.status == 429 || resp.status >= 500 ? " (after retries)"
                                                      : "",
             msg[0] ? ": " : "", msg);
    goto out;
  }
  if (ret && resp.body.len) {
    json_error_t je;
    *ret = json_loadb(resp.body.data, resp.body.len, JSON_DECODE_ANY, &je);
    if (!*ret)
      r = fail(c, -EPROTO, "%s %s: the answer is not JSON: %s", k->method,
               k->path, je.text);
  }
out:
  free(body);
  http_resp_free(&resp);
  return r;
}

static int get_json(struct cvat_client *c, const char *path, json_t **ret)
{
  struct call k = { .method = "GET", .path = path };
  return call(c, &k, NULL, ret);
}

static int send_json(struct cvat_client *c, const char *method,
                     const char *path, json_t *body, bool no_retry,
                     json_t **ret)
{
  struct call k = { .method = method, .path = path, .body = body,
                    .no_retry = no_retry };
  return call(c, &k, NULL, ret);
}

/* GETs every page of a list (path has a '?') into one array (owned). */
static int get_list(struct cvat_client *c, const char *path, json_t **ret)
{
  json_t *all = json_array();
  struct buf p;
  int r = 0;

  *ret = NULL;
  buf_init(&p, 1 << 16);
  if (!all || buf_printf(&p, "%s&page_size=500", path) < 0) {
    json_decref(all);
    return fail(c, -ENOMEM, "out of memory");
  }
  for (int pages = 0; pages < 100000; pages++) {
    json_t *page, *res, *next;
    const char *ns, *api;

    r = get_json(c, p.data, &page);
    if (r < 0)
      break;
    res = json_object_get(page, "results");
    if (!json_is_array(res)) {
      json_decref(page);
      r = fail(c, -EPROTO, "GET %s: not a paginated list", path);
      break;
    }
    json_array_extend(all, res);
    next = json_object_get(page, "next");
    ns = json_string_value(next);
    /* `next` is an absolute URL built from the server's view of the host;
     * keep our own host and follow only its path. */
    api = ns ? strstr(ns, "/api/") : NULL;
    buf_reset(&p);
    if (api)
      r = buf_puts(&p, api);
    json_decref(page);
    if (!api || r < 0)
      break;
  }
  buf_free(&p);
  if (r < 0) {
    json_decref(all);
    return r;
  }
  *ret = all;
  return 0;
}

static int64_t jint(json_t *o, const char *key)
{
  json_t *v = json_object_get(o, key);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static const char *jstr(json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

/* ---------------------------------------------------------------- session */

static int login(struct cvat_client *c)
{
  json_t *body, *res = NULL;
  struct call k = { .method = "POST", .path = "/api/auth/login",
                    .no_relogin = true };
  struct buf hv;
  const char *key;
  long st;
  int r;

  http_client_header(c->h, "Authorization", NULL, false);
  body = json_pack("{s:s, s:s}", "username", c->cfg.username,
                   "password", c->cfg.password);
  if (!body)
    return fail(c, -ENOMEM, "out of memory");
  k.body = body;
  r = call(c, &k, &st, &res);
  json_decref(body);
  if (r < 0) {
    /* CVAT answers bad credentials with 400 non_field_errors. */
    if (st == 400 || st == 401 || st == 403) {
      char tmp[CVAT_ERR_MAX];
      snprintf(tmp, sizeof(tmp), "%s", c->err);
      return fail(c, -EACCES, "login as '%s' failed: %s", c->cfg.username,
                  tmp);
    }
    return r;
  }
  key = json_string_value(json_object_get(res, "key"));
  if (!key || !*key) {
    json_decref(res);
    return fail(c, -EPROTO, "login: no key in the answer");
  }
  buf_init(&hv, 4096);
  r = buf_printf(&hv, "Token %s", key);
  if (r == 0)
    r = http_client_header(c->h, "Authorization", hv.data, true);
  secret_wipe(hv.data, hv.len);
  buf_free(&hv);
  json_decref(res);
  return r < 0 ? fail(c, r, "out of memory") : 0;
}

static int parse_version(const char *v, int *maj, int *min)
{
  return sscanf(v, "%d.%d", maj, min) == 2 ? 0 : -EINVAL;
}

/* ---- sessions: a logged-in client reused by later connects ----
 *
 * Logging in costs anonymous requests (server/about, auth/login), which
 * CVAT throttles per minute; a daemon that connects for every job file it
 * shows would soon wait out 429s.  So a session, owned by its caller (the
 * mount's cvat/ provider), keeps the last connected client and hands it out
 * again to connects with identical settings for SESSION_TTL seconds.  A
 * client is reference-counted; free drops one reference. */
#define SESSION_TTL 600.0

struct cvat_session {
  pthread_mutex_t mu;          /* guards kept, kept_at */
  struct cvat_client *kept;    /* holds a reference of its own */
  double kept_at;
  atomic_uint clients;         /* live clients connected through it */
  atomic_bool cancel;          /* cvat_request_wait() gives up */
};

int cvat_session_new(struct cvat_session **ret)
{
  struct cvat_session *s = calloc(1, sizeof(*s));

  *ret = NULL;
  if (!s)
    return -ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  atomic_init(&s->clients, 0);
  atomic_init(&s->cancel, false);
  *ret = s;
  return 0;
}

void cvat_session_cancel_waits(struct cvat_session *s, bool on)
{
  if (s)
    atomic_store(&s->cancel, on);
}

void cvat_session_free(struct cvat_session *s)
{
  struct cvat_client *old;

  if (!s)
    return;
  pthread_mutex_lock(&s->mu);
  old = s->kept;
  s->kept = NULL;
  pthread_mutex_unlock(&s->mu);
  cvat_client_free(old);
  /* Every client connected through the session has been freed: they
   * point at it. */
  assert(atomic_load(&s->clients) == 0);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static bool str_eq(const char *a, const char *b)
{
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool cfg_equal(const struct cvat_config *a, const struct cvat_config *b)
{
  if (!str_eq(a->url, b->url) || !str_eq(a->username, b->username) ||
      !str_eq(a->password, b->password) || !str_eq(a->token, b->token) ||
      !str_eq(a->org, b->org) || !str_eq(a->ca_bundle, b->ca_bundle) ||
      !str_eq(a->project, b->project) || !str_eq(a->field, b->field) ||
      a->n_assignees != b->n_assignees || a->segment_size != b->segment_size ||
      a->image_quality != b->image_quality ||
      a->batch_bytes != b->batch_bytes ||
      a->connect_timeout_s != b->connect_timeout_s ||
      a->timeout_s != b->timeout_s || a->retries != b->retries ||
      a->wait_timeout_s != b->wait_timeout_s || a->poll_s != b->poll_s)
    return false;
  for (size_t i = 0; i < a->n_assignees; i++)
    if (!str_eq(a->assignees[i], b->assignees[i]))
      return false;
  return true;
}

static int connect_new(const struct cvat_config *cfg, struct cvat_client **ret,
                       char *err, size_t errlen);

static void client_ref(struct cvat_client *c)
{
  unsigned old = atomic_fetch_add(&c->refs, 1);

  assert(old > 0);
  (void)old;
}

int cvat_connect(const struct cvat_config *cfg, struct cvat_client **ret,
                 char *err, size_t errlen)
{
  struct cvat_session *s = cfg->session;
  struct cvat_client *old = NULL;
  int r;

  if (s) {
    pthread_mutex_lock(&s->mu);
    if (s->kept && time_mono() - s->kept_at < SESSION_TTL &&
        cfg_equal(&s->kept->cfg, cfg)) {
      client_ref(s->kept);
      *ret = s->kept;
      pthread_mutex_unlock(&s->mu);
      return 0;
    }
    pthread_mutex_unlock(&s->mu);
  }
  r = connect_new(cfg, ret, err, errlen);
  if (r < 0 || !s)
    return r;
  (*ret)->sess = s;
  atomic_fetch_add(&s->clients, 1);
  pthread_mutex_lock(&s->mu);
  old = s->kept;
  s->kept = *ret;
  client_ref(s->kept);
  s->kept_at = time_mono();
  pthread_mutex_unlock(&s->mu);
  cvat_client_free(old);
  return 0;
}

static int connect_new(const struct cvat_config *cfg, struct cvat_client **ret,
                       char *err, size_t errlen)
{
  struct http_opts ho = { 0 };
  struct cvat_client *c;
  json_t *about = NULL, *self = NULL;
  int r, maj, min;

  *ret = NULL;
  if (!cfg->url)
    return errf(err, errlen, -EINVAL, "no CVAT server configured "
                    "(set url or CVAT_URL)");
  if (!cfg->token && !(cfg->username && cfg->password))
    return errf(err, errlen, -EINVAL, "no CVAT credentials configured "
                    "(set token, or username and password)");
  c = calloc(1, sizeof(*c));
  if (!c)
    return -ENOMEM;
  atomic_init(&c->refs, 1);
  pthread_mutex_init(&c->mu, NULL);
  cvat_config_init(&c->cfg);
  r = cvat_config_copy(&c->cfg, cfg);
  ho.ca_bundle = cfg->ca_bundle;
  ho.connect_timeout_ms = (long)cfg->connect_timeout_s * 1000;
  ho.timeout_ms = (long)cfg->timeout_s * 1000;
  ho.max_retries = (int)cfg->retries;
  if (r == 0)
    r = http_client_new(cfg->url, &ho, &c->h);
  if (r < 0) {
    cvat_client_free(c);
    return errf(err, errlen, r, "cannot set up the CVAT client: %s",
                    strerror(-r));
  }
  http_client_secret(c->h, cfg->password);
  http_client_secret(c->h, cfg->token);
  r = http_client_header(c->h, "Accept",
                         "application/vnd.cvat+json; version=2.0", false);
  if (r == 0 && cfg->org)
    r = http_client_header(c->h, "X-Organization", cfg->org, false);
  if (r < 0)
    goto out;
  long about_status = 0;
  {
    struct call k = { .method = "GET", .path = "/api/server/about",
                      .no_relogin = true };
    r = call(c, &k, &about_status, &about);
  }
  if (r < 0) {
    /* An answer that is not CVAT's (404, 406, not JSON) means another
     * server; no answer at all (TLS failed: -EPROTO from the transport)
     * keeps its own errno. */
    if (about_status != 0 && (r == -ENOENT || r == -EPROTO))
      r = fail(c, -EPROTONOSUPPORT, "%s does not look like a CVAT server "
               "(GET /api/server/about failed)", cfg->url);
    goto out;
  }
  snprintf(c->version, sizeof(c->version), "%s", jstr(about, "version"));
  if (parse_version(c->version, &maj, &min) < 0 || maj < CVAT_MIN_MAJOR ||
      (maj == CVAT_MIN_MAJOR && min < CVAT_MIN_MINOR)) {
    r = fail(c, -EPROTONOSUPPORT, "CVAT server version '%s' is not "
             "supported (2.16 or newer needed)", c->version);
    goto out;
  }
  if (cfg->token) {
    struct buf hv;
    buf_init(&hv, 8192);
    r = buf_printf(&hv, "Bearer %s", cfg->token);
    if (r == 0)
      r = http_client_header(c->h, "Authorization", hv.data, true);
    secret_wipe(hv.data, hv.len);
    buf_free(&hv);
  } else {
    c->relogin_ok = true;
    r = login(c);
  }
  if (r < 0)
    goto out;
  {
    struct call k = { .method = "GET", .path = "/api/users/self",
                      .no_relogin = true };
    long st;
    r = call(c, &k, &st, &self);
    if (r < 0 && st == 401) {
      char tmp[CVAT_ERR_MAX];
      snprintf(tmp, sizeof(tmp), "%s", c->err);
      r = fail(c, -EACCES, "CVAT refused the credentials: %s", tmp);
    } else if (r < 0 && st == 404 && cfg->org) {
      r = fail(c, -ENOENT, "organization '%s' does not exist", cfg->org);
    }
  }
out:
  json_decref(about);
  json_decref(self);
  if (r < 0) {
    errf(err, errlen, r, "%s", c->err[0] ? c->err : strerror(-r));
    cvat_client_free(c);
    return r;
  }
  *ret = c;
  return 0;
}

void cvat_client_free(struct cvat_client *c)
{
  unsigned old;

  if (!c)
    return;
  old = atomic_fetch_sub(&c->refs, 1);
  assert(old > 0);
  if (old != 1)
    return;
  if (c->sess) {
    unsigned n = atomic_fetch_sub(&c->sess->clients, 1);
    assert(n > 0);
    (void)n;
  }
  /* No logout: it would delete the user's key for every other client. */
  http_client_free(c->h);
  cvat_config_free(&c->cfg);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* ---------------------------------------------------------------- labels */

void cvat_labels_free(struct cvat_labels *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i].name);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

const struct cvat_label *cvat_labels_by_id(const struct cvat_labels *l,
                                           int64_t id)
{
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i].id == id)
      return &l->v[i];
  return NULL;
}

const struct cvat_label *cvat_labels_by_name(const struct cvat_labels *l,
                                             const char *name)
{
  /* A skeleton's points may share a name with a top-level label (CVAT
   * keeps names unique per level only); only top-level ones are ours. */
  for (size_t i = 0; i < l->n; i++)
    if (!l->v[i].parent_id && strcmp(l->v[i].name, name) == 0)
      return &l->v[i];
  return NULL;
}

int cvat_labels_get(struct cvat_client *c, int64_t project_id,
                    struct cvat_labels *ret)
{
  char path[96];
  json_t *arr, *lab;
  size_t i;
  int r;

  ret->n = 0;
  ret->v = NULL;
  snprintf(path, sizeof(path), "/api/labels?project_id=%lld",
           (long long)project_id);
  r = get_list(c, path, &arr);
  if (r < 0)
    return r;
  ret->v = calloc(json_array_size(arr) + 1, sizeof(*ret->v));
  if (!ret->v) {
    json_decref(arr);
    return fail(c, -ENOMEM, "out of memory");
  }
  json_array_foreach(arr, i, lab) {
    struct cvat_label *l = &ret->v[ret->n];
    json_t *attrs = json_object_get(lab, "attributes"), *a;
    size_t j;

    l->id = jint(lab, "id");
    l->parent_id = jint(lab, "parent_id");
    l->name = strdup(jstr(lab, "name"));
    if (!l->name) {
      json_decref(arr);
      cvat_labels_free(ret);
      return fail(c, -ENOMEM, "out of memory");
    }
    json_array_foreach(attrs, j, a)
      if (strcmp(jstr(a, "name"), "label_id") == 0)
        l->label_id_spec = jint(a, "id");
    ret->n++;
  }
  json_decref(arr);
  return 0;
}

static json_t *label_id_attr(void)
{
  /* A text attribute: values [""] and an empty default, so that a box
   * drawn in CVAT reads back with label_id "" (= none of ours). */
  return json_pack("{s:s, s:b, s:s, s:[s], s:s}", "name", "label_id",
                   "mutable", 0, "input_type", "text", "values", "",
                   "default_value", "");
}

/* Finds the highest id among the objects of a list endpoint whose `key`
 * equals name exactly: `query` is the list path with its filters, ending
 * in "<key>=" (CVAT filters by substring, so the exact match is ours).
 * -ENOENT if none. */
static int find_by_name(struct cvat_client *c, const char *query,
                        const char *key, const char *name, const char *what,
                        int64_t *ret_id)
{
  struct buf p;
  json_t *arr, *o;
  size_t i;
  int r;

  *ret_id = 0;
  buf_init(&p, 4096);
  r = buf_puts(&p, query);
  if (r == 0)
    r = http_escape(&p, name);
  if (r < 0) {
    buf_free(&p);
    return fail(c, -ENAMETOOLONG, "%s name too long", what);
  }
  r = get_list(c, p.data, &arr);
  buf_free(&p);
  if (r < 0)
    return r;
  json_array_foreach(arr, i, o)
    if (strcmp(jstr(o, key), name) == 0 && jint(o, "id") > *ret_id)
      *ret_id = jint(o, "id");
  json_decref(arr);
  return *ret_id ? 0 : -ENOENT;
}

static int project_find(struct cvat_client *c, const char *name,
                        int64_t *ret_id)
{
  return find_by_name(c, "/api/projects?name=", "name", name, "project",
                      ret_id);
}

int cvat_project_ensure(struct cvat_client *c, const char *name,
                        const char *const *classes, size_t n,
                        int64_t *ret_id, struct cvat_labels *ret_labels)
{
  json_t *patch = NULL, *labs;
  int64_t pid;
  int r;

  ret_labels->n = 0;
  ret_labels->v = NULL;
  r = project_find(c, name, &pid);
  if (r == -ENOENT) {
    json_t *body = json_pack("{s:s, s:[]}", "name", name, "labels"), *res;
    labs = json_object_get(body, "labels");
    for (size_t i = 0; body && i < n; i++)
      json_array_append_new(labs, json_pack("{s:s, s:s, s:[o]}", "name",
                                            classes[i], "type", "rectangle",
                                            "attributes", label_id_attr()));
    if (!body)
      return fail(c, -ENOMEM, "out of memory");
    /* Sent once; if the answer is lost, the project is looked up again. */
    r = send_json(c, "POST", "/api/projects", body, true, &res);
    json_decref(body);
    if (r == 0) {
      pid = jint(res, "id");
      json_decref(res);
    } else if (r != -EINVAL && r != -EACCES && r != -EPERM) {
      r = project_find(c, name, &pid);
    }
  }
  if (r < 0)
    return r;
  r = cvat_labels_get(c, pid, ret_labels);
  if (r < 0)
    return r;
  /* Add missing classes and the label_id attribute where it is missing. */
  patch = json_pack("{s:[]}", "labels");
  if (!patch)
    return fail(c, -ENOMEM, "out of memory");
  labs = json_object_get(patch, "labels");
  for (size_t i = 0; i < n; i++)
    if (!cvat_labels_by_name(ret_labels, classes[i]))
      json_array_append_new(labs, json_pack("{s:s, s:s, s:[o]}", "name",
                                            classes[i], "type", "rectangle",
                                            "attributes", label_id_attr()));
  /* Skeleton point labels (parent_id) are changed only through their
   * parent, and carry no box of ours. */
  for (size_t i = 0; i < ret_labels->n; i++)
    if (!ret_labels->v[i].label_id_spec && !ret_labels->v[i].parent_id)
      json_array_append_new(labs, json_pack("{s:I, s:[o]}", "id",
                                            (json_int_t)ret_labels->v[i].id,
                                            "attributes", label_id_attr()));
  if (json_array_size(labs)) {
    char path[64];
    snprintf(path, sizeof(path), "/api/projects/%lld", (long long)pid);
    r = send_json(c, "PATCH", path, patch, false, NULL);
    if (r == 0) {
      cvat_labels_free(ret_labels);
      r = cvat_labels_get(c, pid, ret_labels);
    }
  }
  json_decref(patch);
  if (r < 0)
    cvat_labels_free(ret_labels);
  else
    *ret_id = pid;
  return r;
}

/* ---------------------------------------------------------------- tasks */

int cvat_task_find(struct cvat_client *c, const char *name,
                   int64_t project_id, int64_t *ret_id)
{
  char q[96];

  snprintf(q, sizeof(q), "/api/tasks?project_id=%lld&name=",
           (long long)project_id);
  return find_by_name(c, q, "name", name, "task", ret_id);
}

int cvat_task_create(struct cvat_client *c, const char *name,
                     int64_t project_id, uint32_t segment_size,
                     int64_t *ret_id)
{
  json_t *body, *res;
  int r;

  body = json_pack("{s:s, s:I, s:I}", "name", name, "project_id",
                   (json_int_t)project_id, "segment_size",
                   (json_int_t)segment_size);
  if (!body)
    return fail(c, -ENOMEM, "out of memory");
  r = send_json(c, "POST", "/api/tasks", body, true, &res);
  json_decref(body);
  if (r < 0)
    return r;
  *ret_id = jint(res, "id");
  json_decref(res);
  return *ret_id > 0 ? 0 : fail(c, -EPROTO, "POST /api/tasks: no task id");
}

int cvat_task_get(struct cvat_client *c, int64_t id, struct cvat_task *ret)
{
  char path[64];
  json_t *o;
  int r;

  snprintf(path, sizeof(path), "/api/tasks/%lld", (long long)id);
  r = get_json(c, path, &o);
  if (r < 0)
    return r;
  memset(ret, 0, sizeof(*ret));
  ret->id = jint(o, "id");
  ret->project_id = jint(o, "project_id");
  ret->size = jint(o, "size");
  snprintf(ret->status, sizeof(ret->status), "%s", jstr(o, "status"));
  json_decref(o);
  return 0;
}

int cvat_task_delete(struct cvat_client *c, int64_t id)
{
  char path[64];
  struct call k = { .method = "DELETE", .path = path };

  snprintf(path, sizeof(path), "/api/tasks/%lld", (long long)id);
  return call(c, &k, NULL, NULL);
}

/* Sends files [from, to) as one Upload-Multiple request. */
static int upload_batch(struct cvat_client *c, const char *path,
                        const struct cvat_file *f, size_t from, size_t to)
{
  static const char *const hdr[] = { "Upload-Multiple: true", NULL };
  struct http_part *parts;
  char (*names)[48];
  char q[16];
  struct call k = { .method = "POST", .path = path, .headers = hdr };
  size_t n = to - from;
  int r;

  parts = calloc(n + 1, sizeof(*parts));
  names = calloc(n, sizeof(*names));
  if (!parts || !names) {
    free(parts);
    free(names);
    return fail(c, -ENOMEM, "out of memory");
  }
  snprintf(q, sizeof(q), "%u", c->cfg.image_quality);
  parts[0].name = "image_quality";
  parts[0].data = q;
  parts[0].len = strlen(q);
  for (size_t i = 0; i < n; i++) {
    snprintf(names[i], sizeof(names[i]), "client_files[%zu]", i);
    parts[i + 1].name = names[i];
    parts[i + 1].filename = f[from + i].name;
    parts[i + 1].path = f[from + i].path;
  }
  k.parts = parts;
  k.nparts = n + 1;
  r = call(c, &k, NULL, NULL);
  free(parts);
  free(names);
  return r;
}

int cvat_task_upload(struct cvat_client *c, int64_t task_id,
                     const struct cvat_file *f, size_t n,
                     cvat_upload_fn progress, void *ud, char **ret_rq_id)
{
  static const char *const start[] = { "Upload-Start: true", NULL };
  static const char *const finish[] = { "Upload-Finish: true", NULL };
  char path[64];
  struct call k = { .method = "POST", .path = path, .headers = start };
  uint64_t limit = c->cfg.batch_bytes, done_bytes = 0;
  json_t *body, *res = NULL, *order;
  size_t i = 0;
  int r;

  *ret_rq_id = NULL;
  snprintf(path, sizeof(path), "/api/tasks/%lld/data", (long long)task_id);
  r = call(c, &k, NULL, NULL);
  if (r < 0)
    return r;
  while (i < n) {
    /* A batch: as many files as fit under the limit (at least one; a
     * multipart envelope adds a few hundred bytes per file). */
    uint64_t bytes = f[i].size + 512;
    size_t j = i + 1;
    while (j < n && bytes + f[j].size + 512 <= limit) {
      bytes += f[j].size + 512;
      j++;
    }
    r = upload_batch(c, path, f, i, j);
    if (r == -E2BIG && j - i > 1) {
      /* The server (or a proxy) has a smaller body limit: halve. */
      limit = MAX(bytes / 2, 4096);
      continue;
    }
    if (r < 0)
      return r;
    for (; i < j; i++)
      done_bytes += f[i].size;
    if (progress)
      progress(i, done_bytes, ud);
  }
  body = json_pack("{s:I, s:s, s:[]}", "image_quality",
                   (json_int_t)c->cfg.image_quality, "sorting_method",
                   "predefined", "upload_file_order");
  if (!body)
    return fail(c, -ENOMEM, "out of memory");
  order = json_object_get(body, "upload_file_order");
  for (i = 0; i < n; i++)
    json_array_append_new(order, json_string(f[i].name));
  k.headers = finish;
  k.body = body;
  r = call(c, &k, NULL, &res);
  json_decref(body);
  if (r < 0)
    return r;
  if (!json_string_value(json_object_get(res, "rq_id"))) {
    json_decref(res);
    return fail(c, -EPROTO, "POST %s: no rq_id in the answer", path);
  }
  *ret_rq_id = strdup(json_string_value(json_object_get(res, "rq_id")));
  json_decref(res);
  return *ret_rq_id ? 0 : fail(c, -ENOMEM, "out of memory");
}

int cvat_request_find(struct cvat_client *c, int64_t task_id,
                      char **ret_rq_id, char ret_status[16])
{
  char path[96];
  json_t *arr, *o, *best = NULL;
  size_t i;
  int r;

  *ret_rq_id = NULL;
  snprintf(path, sizeof(path), "/api/requests?action=create&task_id=%lld",
           (long long)task_id);
  r = get_list(c, path, &arr);
  if (r < 0)
    return r;
  json_array_foreach(arr, i, o)
    if (!best || strcmp(jstr(o, "created_date"),
                        jstr(best, "created_date")) > 0)
      best = o;
  if (best) {
    *ret_rq_id = strdup(jstr(best, "id"));
    snprintf(ret_status, 16, "%s", jstr(best, "status"));
  }
  json_decref(arr);
  if (!best)
    return -ENOENT;
  return *ret_rq_id ? 0 : fail(c, -ENOMEM, "out of memory");
}

int cvat_request_wait(struct cvat_client *c, const char *rq_id)
{
  struct buf p;
  double t0 = time_mono();
  int r;

  buf_init(&p, 4096);
  r = buf_puts(&p, "/api/requests/");
  if (r == 0)
    r = http_escape(&p, rq_id);
  if (r < 0) {
    buf_free(&p);
    return fail(c, -ENAMETOOLONG, "request id too long");
  }
  for (;;) {
    json_t *o;
    char st[16];
    struct timespec ts;

    r = get_json(c, p.data, &o);
    if (r < 0)
      break;
    /* A copy: the messages below outlive o. */
    snprintf(st, sizeof(st), "%s", jstr(o, "status"));
    if (strcmp(st, "finished") == 0) {
      json_decref(o);
      break;
    }
    if (strcmp(st, "failed") == 0) {
      r = fail(c, -EIO, "CVAT could not create the task: %s",
               jstr(o, "message"));
      json_decref(o);
      break;
    }
    json_decref(o);
    if (time_mono() - t0 > c->cfg.wait_timeout_s) {
      r = fail(c, -ETIMEDOUT, "task creation still %s after %u s", st,
               c->cfg.wait_timeout_s);
      break;
    }
    if (c->sess && atomic_load(&c->sess->cancel)) {
      r = fail(c, -ECANCELED, "interrupted while CVAT creates the task "
               "(still %s); it continues at the next push or mount", st);
      break;
    }
    ts.tv_sec = (time_t)c->cfg.poll_s;
    ts.tv_nsec = (long)((c->cfg.poll_s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
  }
  buf_free(&p);
  return r;
}

int cvat_task_frames(struct cvat_client *c, int64_t task_id,
                     char ***ret_names, size_t *ret_n)
{
  char path[64];
  json_t *o, *frames, *fr;
  char **names;
  size_t i, n;
  int r;

  *ret_names = NULL;
  *ret_n = 0;
  snprintf(path, sizeof(path), "/api/tasks/%lld/data/meta",
           (long long)task_id);
  r = get_json(c, path, &o);
  if (r < 0)
    return r;
  frames = json_object_get(o, "frames");
  n = json_array_size(frames);
  names = calloc(n + 1, sizeof(*names));
  if (!names) {
    json_decref(o);
    return fail(c, -ENOMEM, "out of memory");
  }
  json_array_foreach(frames, i, fr) {
    names[i] = strdup(jstr(fr, "name"));
    if (!names[i]) {
      for (size_t j = 0; j < i; j++)
        free(names[j]);
      free(names);
      json_decref(o);
      return fail(c, -ENOMEM, "out of memory");
    }
  }
  json_decref(o);
  *ret_names = names;
  *ret_n = n;
  return 0;
}

/* ---------------------------------------------------------------- jobs */

bool cvat_stage_valid(const char *s)
{
  return strcmp(s, "annotation") == 0 || strcmp(s, "validation") == 0 ||
         strcmp(s, "acceptance") == 0;
}

bool cvat_state_valid(const char *s)
{
  return strcmp(s, "new") == 0 || strcmp(s, "in progress") == 0 ||
         strcmp(s, "completed") == 0 || strcmp(s, "rejected") == 0;
}

static void job_from_json(json_t *o, struct cvat_job *j)
{
  json_t *as = json_object_get(o, "assignee");

  memset(j, 0, sizeof(*j));
  j->id = jint(o, "id");
  j->start_frame = jint(o, "start_frame");
  j->stop_frame = jint(o, "stop_frame");
  snprintf(j->assignee, sizeof(j->assignee), "%s",
           json_is_object(as) ? jstr(as, "username") : "");
  snprintf(j->stage, sizeof(j->stage), "%s", jstr(o, "stage"));
  snprintf(j->state, sizeof(j->state), "%s", jstr(o, "state"));
  j->issues = jint(json_object_get(o, "issues"), "count");
}

static int cmp_job(const void *a, const void *b)
{
  const struct cvat_job *x = a, *y = b;
  return x->start_frame < y->start_frame ? -1 :
         x->start_frame > y->start_frame ? 1 : (x->id > y->id) - (x->id < y->id);
}

int cvat_jobs_list(struct cvat_client *c, int64_t task_id,
                   struct cvat_job **ret, size_t *ret_n)
{
  char path[96];
  json_t *arr, *o;
  size_t i;
  int r;

  *ret = NULL;
  *ret_n = 0;
  snprintf(path, sizeof(path), "/api/jobs?task_id=%lld&type=annotation",
           (long long)task_id);
  r = get_list(c, path, &arr);
  if (r < 0)
    return r;
  *ret = calloc(json_array_size(arr) + 1, sizeof(**ret));
  if (!*ret) {
    json_decref(arr);
    return fail(c, -ENOMEM, "out of memory");
  }
  json_array_foreach(arr, i, o)
    job_from_json(o, &(*ret)[i]);
  *ret_n = json_array_size(arr);
  qsort(*ret, *ret_n, sizeof(**ret), cmp_job);
  json_decref(arr);
  return 0;
}

int cvat_job_get(struct cvat_client *c, int64_t job_id, struct cvat_job *ret)
{
  char path[64];
  json_t *o;
  int r;

  snprintf(path, sizeof(path), "/api/jobs/%lld", (long long)job_id);
  r = get_json(c, path, &o);
  if (r < 0)
    return r;
  job_from_json(o, ret);
  json_decref(o);
  return 0;
}

static int user_id(struct cvat_client *c, const char *name, int64_t *ret)
{
  int r = find_by_name(c, "/api/users?username=", "username", name, "user",
                       ret);

  return r == -ENOENT ? fail(c, -ENOENT, "no CVAT user named '%s'", name)
                      : r;
}

int cvat_job_update(struct cvat_client *c, int64_t job_id,
                    const char *assignee, const char *stage,
                    const char *state)
{
  char path[64];
  json_t *body;
  int r = 0;

  if (stage && !cvat_stage_valid(stage))
    return fail(c, -EINVAL, "stage '%.40s' is not one of annotation, "
                "validation, acceptance", stage);
  if (state && !cvat_state_valid(state))
    return fail(c, -EINVAL, "state '%.40s' is not one of new, in progress, "
                "completed, rejected", state);
  if (!assignee && !stage && !state)
    return 0;
  body = json_object();
  if (!body)
    return fail(c, -ENOMEM, "out of memory");
  if (assignee) {
    int64_t uid = 0;
    if (*assignee)
      r = user_id(c, assignee, &uid);
    if (r == 0)
      json_object_set_new(body, "assignee",
                          uid ? json_integer(uid) : json_null());
  }
  if (r == 0 && stage)
    json_object_set_new(body, "stage", json_string(stage));
  if (r == 0 && state)
    json_object_set_new(body, "state", json_string(state));
  snprintf(path, sizeof(path), "/api/jobs/%lld", (long long)job_id);
  if (r == 0)
    r = send_json(c, "PATCH", path, body, false, NULL);
  json_decref(body);
  return r;
}

/* ---------------------------------------------------------------- shapes */

void cvat_shapes_free(struct cvat_shape *s, size_t n)
{
  for (size_t i = 0; s && i < n; i++)
    free(s[i].label_id);
  free(s);
}

/* Bounding rectangle of the corners (x, y) rotated by deg degrees
 * clockwise about (cx, cy) (image coordinates, y down). */
static void rotated_bounds(const double *x, const double *y, size_t n,
                           double cx, double cy, double deg, double out[4])
{
  double a = deg * M_PI / 180.0, c = cos(a), s = sin(a);

  for (size_t i = 0; i < n; i++) {
    double rx = cx + c * (x[i] - cx) - s * (y[i] - cy);
    double ry = cy + s * (x[i] - cx) + c * (y[i] - cy);
    if (i == 0 || rx < out[0]) out[0] = rx;
    if (i == 0 || ry < out[1]) out[1] = ry;
    if (i == 0 || rx > out[2]) out[2] = rx;
    if (i == 0 || ry > out[3]) out[3] = ry;
  }
}

/* The box of a shape where one is well defined: a rectangle (its bounding
 * rectangle when rotated), and the bounding rectangle of a polygon (all its
 * points), an ellipse (points: centre, then the point at the right end of
 * the x radius and the top of the y radius) or a mask (points: the
 * run-length code, then left, top, right, bottom, inclusive pixel
 * indices).  Returns false for the other types. */
static bool shape_box(const char *type, json_t *pts, double rot,
                      double out[4])
{
  size_t n = json_array_size(pts);
  double p[8];

  for (size_t i = 0; i < n; i++)
    if (!json_is_number(json_array_get(pts, i)))
      return false;
  for (size_t i = 0; i < n && i < 8; i++)
    p[i] = json_number_value(json_array_get(pts, i));
  if (strcmp(type, "rectangle") == 0 && n == 4) {
    double xs[4] = { p[0], p[2], p[2], p[0] }, ys[4] = { p[1], p[1], p[3],
                                                           p[3] };
    if (rot == 0.0) {
      memcpy(out, p, 4 * sizeof(double));
      return true;
    }
    rotated_bounds(xs, ys, 4, (p[0] + p[2]) / 2, (p[1] + p[3]) / 2, rot,
                   out);
    return true;
  }
  if (strcmp(type, "polygon") == 0 && n >= 6 && n % 2 == 0) {
    for (size_t i = 0; i < n; i += 2) {
      double x = json_number_value(json_array_get(pts, i));
      double y = json_number_value(json_array_get(pts, i + 1));
      if (i == 0 || x < out[0]) out[0] = x;
      if (i == 0 || y < out[1]) out[1] = y;
      if (i == 0 || x > out[2]) out[2] = x;
      if (i == 0 || y > out[3]) out[3] = y;
    }
    return true;
  }
  if (strcmp(type, "ellipse") == 0 && n == 4) {
    double rx = fabs(p[2] - p[0]), ry = fabs(p[1] - p[3]);
    double a = rot * M_PI / 180.0, c = cos(a), s = sin(a);
    double hx = sqrt(rx * rx * c * c + ry * ry * s * s);
    double hy = sqrt(rx * rx * s * s + ry * ry * c * c);
    out[0] = p[0] - hx;
    out[1] = p[1] - hy;
    out[2] = p[0] + hx;
    out[3] = p[1] + hy;
    return true;
  }
  if (strcmp(type, "mask") == 0 && n >= 5) {
    for (size_t i = 0; i < 4; i++)
      p[i] = json_number_value(json_array_get(pts, n - 4 + i));
    if (p[2] < p[0] || p[3] < p[1])
      return false;
    out[0] = p[0];
    out[1] = p[1];
    out[2] = p[2] + 1;
    out[3] = p[3] + 1;
    return true;
  }
  return false;
}

/* Appends the objects of one array of the annotations (kind "shapes",
 * "tags" or "tracks") to v. */
static int objects_from_json(struct cvat_client *c, json_t *arr,
                             const char *kind,
                             const struct cvat_labels *labels,
                             struct cvat_shape *v, size_t *n)
{
  json_t *o;
  size_t i;

  json_array_foreach(arr, i, o) {
    struct cvat_shape *s = &v[(*n)++];
    json_t *pts = json_object_get(o, "points"), *a;
    const struct cvat_label *l;
    double box[4] = { 0, 0, 0, 0 };
    size_t j;

    s->id = jint(o, "id");
    s->frame = jint(o, "frame");
    s->label = jint(o, "label_id");
    if (kind[1] == 'a') {
      snprintf(s->type, sizeof(s->type), "tag");
    } else if (kind[1] == 'r') {
      snprintf(s->type, sizeof(s->type), "track");
    } else {
      snprintf(s->type, sizeof(s->type), "%s", jstr(o, "type"));
      if (shape_box(s->type, pts,
                    json_number_value(json_object_get(o, "rotation")),
                    box)) {
        s->rect = true;
        s->converted = strcmp(s->type, "rectangle") != 0;
        s->x1 = box[0];
        s->y1 = box[1];
        s->x2 = box[2];
        s->y2 = box[3];
      }
    }
    l = cvat_labels_by_id(labels, s->label);
    if (!l || !l->label_id_spec)
      continue;
    json_array_foreach(json_object_get(o, "attributes"), j, a) {
      const char *val = jstr(a, "value");
      if (jint(a, "spec_id") == l->label_id_spec && *val) {
        free(s->label_id);
        s->label_id = strdup(val);
        if (!s->label_id)
          return fail(c, -ENOMEM, "out of memory");
      }
    }
  }
  return 0;
}

/* Shapes (and, with all, tags and tracks) of a LabeledData answer. */
static int shapes_from_json(struct cvat_client *c, json_t *res, bool all,
                            const struct cvat_labels *labels,
                            struct cvat_shape **ret, size_t *ret_n)
{
  json_t *shapes = json_object_get(res, "shapes");
  json_t *tags = json_object_get(res, "tags");
  json_t *tracks = json_object_get(res, "tracks");
  size_t n = 0, cap = json_array_size(shapes) +
                      (all ? json_array_size(tags) + json_array_size(tracks)
                           : 0);
  struct cvat_shape *v = calloc(cap + 1, sizeof(*v));
  int r;

  if (!v)
    return fail(c, -ENOMEM, "out of memory");
  r = objects_from_json(c, shapes, "shapes", labels, v, &n);
  if (r == 0 && all)
    r = objects_from_json(c, tags, "tags", labels, v, &n);
  if (r == 0 && all)
    r = objects_from_json(c, tracks, "tracks", labels, v, &n);
  if (r < 0) {
    cvat_shapes_free(v, n);
    return r;
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

int cvat_annotations_put(struct cvat_client *c, int64_t task_id,
                         const struct cvat_shape *s, size_t n,
                         const struct cvat_labels *labels,
                         struct cvat_shape **ret, size_t *ret_n)
{
  char path[64];
  json_t *body, *arr, *res = NULL;
  int r;

  if (ret) {
    *ret = NULL;
    *ret_n = 0;
  }
  body = json_pack("{s:i, s:[], s:[], s:[]}", "version", 0, "shapes",
                   "tags", "tracks");
  if (!body)
    return fail(c, -ENOMEM, "out of memory");
  arr = json_object_get(body, "shapes");
  for (size_t i = 0; i < n; i++) {
    const struct cvat_label *l = cvat_labels_by_id(labels, s[i].label);
    json_t *o = json_pack("{s:s, s:I, s:I, s:[f,f,f,f], s:b, s:i, s:f, "
                          "s:i, s:s, s:[]}", "type", "rectangle", "frame",
                          (json_int_t)s[i].frame, "label_id",
                          (json_int_t)s[i].label, "points", s[i].x1, s[i].y1,
                          s[i].x2, s[i].y2, "occluded", 0, "z_order", 0,
                          "rotation", 0.0, "group", 0, "source", "manual",
                          "attributes");
    if (!o) {
      json_decref(body);
      return fail(c, -ENOMEM, "out of memory");
    }
    if (l && l->label_id_spec && s[i].label_id)
      json_array_append_new(json_object_get(o, "attributes"),
                            json_pack("{s:I, s:s}", "spec_id",
                                      (json_int_t)l->label_id_spec, "value",
                                      s[i].label_id));
    json_array_append_new(arr, o);
  }
  snprintf(path, sizeof(path), "/api/tasks/%lld/annotations",
           (long long)task_id);
  r = send_json(c, "PUT", path, body, false, ret ? &res : NULL);
  json_decref(body);
  if (r == 0 && ret)
    r = shapes_from_json(c, res, false, labels, ret, ret_n);
  json_decref(res);
  return r;
}

int cvat_annotations_get(struct cvat_client *c, int64_t task_id,
                         const struct cvat_labels *labels,
                         struct cvat_shape **ret, size_t *ret_n)
{
  char path[64];
  json_t *res;
  int r;

  *ret = NULL;
  *ret_n = 0;
  snprintf(path, sizeof(path), "/api/tasks/%lld/annotations",
           (long long)task_id);
  r = get_json(c, path, &res);
  if (r < 0)
    return r;
  r = shapes_from_json(c, res, true, labels, ret, ret_n);
  json_decref(res);
  return r;
}

/* ---------------------------------------------------------------- review */

int cvat_issues_text(struct cvat_client *c, int64_t job_id,
                     const char *(*frame_name)(int64_t frame, void *ud),
                     void *ud, struct buf *out)
{
  char path[96];
  json_t *issues, *is;
  size_t i;
  int r;

  snprintf(path, sizeof(path), "/api/issues?job_id=%lld&sort=id",
           (long long)job_id);
  r = get_list(c, path, &issues);
  if (r < 0)
    return r;
  if (json_array_size(issues) == 0)
    r = buf_puts(out, "no issues\n");
  json_array_foreach(issues, i, is) {
    json_t *pos = json_object_get(is, "position"), *owner, *as, *comments, *cm;
    const char *fn = frame_name ? frame_name(jint(is, "frame"), ud) : NULL;
    size_t j;

    if (r < 0)
      break;
    owner = json_object_get(is, "owner");
    as = json_object_get(is, "assignee");
    r |= buf_printf(out, "issue %lld: frame %lld", (long long)jint(is, "id"),
                    (long long)jint(is, "frame"));
    if (fn)
      r |= buf_printf(out, " (%s)", fn);
    r |= buf_printf(out, ", %s, at [",
                    json_is_true(json_object_get(is, "resolved"))
                      ? "resolved" : "open");
    for (j = 0; j < json_array_size(pos); j++) {
      r |= buf_puts(out, j ? ", " : "");
      r |= buf_json_double(out, json_number_value(json_array_get(pos, j)));
    }
    r |= buf_printf(out, "], by %s",
                    json_is_object(owner) ? jstr(owner, "username") : "?");
    if (json_is_object(as))
      r |= buf_printf(out, ", assigned to %s", jstr(as, "username"));
    r |= buf_puts(out, "\n");
    snprintf(path, sizeof(path), "/api/comments?issue_id=%lld&sort=id",
             (long long)jint(is, "id"));
    if (r == 0)
      r = get_list(c, path, &comments);
    else
      break;
    if (r < 0)
      break;
    json_array_foreach(comments, j, cm) {
      json_t *co = json_object_get(cm, "owner");
      const char *m = jstr(cm, "message");
      r |= buf_printf(out, "  %s: ",
                      json_is_object(co) ? jstr(co, "username") : "?");
      /* One comment per line: fold line breaks. */
      for (; *m && r == 0; m++)
        r = buf_append(out, *m == '\n' ? " " : m, 1);
      r |= buf_puts(out, "\n");
    }
    json_decref(comments);
  }
  json_decref(issues);
  return r;
}
