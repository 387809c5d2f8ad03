/* cvat_client.c - the connection to CVAT (see cvat_client.h) over http.c,
 * with jansson for the JSON: sessions, connect and login, and the one path
 * of every REST call.
 *
 * Every call goes through cvat_call(): it sends the vendor Accept header,
 * maps the status to an errno, and turns CVAT's error body (a {"detail"}
 * object, field errors, a bare list or string, or plain text) into the
 * one-line reason of cvat_client_error().  A 401 in the middle of a session
 * that logged in with a password (the key was deleted by a logout
 * elsewhere, or expired) triggers one new login and one repeat.
 *
 * It does not decide anything about runs or labels: that is cvat_sync.h's.
 */
#include "cvat_client_i.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */

int cvat_fail(struct cvat_client *c, int r, const char *fmt, ...)
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

static int login(struct cvat_client *c);

/* Performs a call.  2xx: 0 and the parsed body in *ret (when wanted and
 * not empty; owned).  Otherwise a negative errno and the reason. */
int cvat_call(struct cvat_client *c, const struct cvat_call *k,
              long *ret_status, json_t **ret)
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
      return cvat_fail(c, -ENOMEM, "out of memory");
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
    cvat_fail(c, r, "%s", herr);
    goto out;
  }
  if (ret_status)
    *ret_status = resp.status;
  if (resp.status < 200 || resp.status > 299) {
    error_message(resp.body.data ? resp.body.data : "", resp.body.len, msg,
                  sizeof(msg));
    r = cvat_fail(c, status_errno(resp.status), "%s %s: HTTP %ld%s%s%s",
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
      r = cvat_fail(c, -EPROTO, "%s %s: the answer is not JSON: %s", k->method,
               k->path, je.text);
  }
out:
  secret_free(body);   /* a login or cloud-storage body carries secrets */
  http_resp_free(&resp);
  return r;
}

int cvat_get_json(struct cvat_client *c, const char *path, json_t **ret)
{
  struct cvat_call k = { .method = "GET", .path = path };
  return cvat_call(c, &k, NULL, ret);
}

int cvat_send_json(struct cvat_client *c, const char *method,
                     const char *path, json_t *body, bool no_retry,
                     json_t **ret)
{
  struct cvat_call k = { .method = method, .path = path, .body = body,
                    .no_retry = no_retry };
  return cvat_call(c, &k, NULL, ret);
}

/* GETs every page of a list (path has a '?') into one array (owned). */
int cvat_get_list(struct cvat_client *c, const char *path, json_t **ret)
{
  json_t *all = json_array();
  struct buf p;
  int r = 0;

  *ret = NULL;
  buf_init(&p, 1 << 16);
  if (!all || buf_printf(&p, "%s&page_size=500", path) < 0) {
    json_decref(all);
    return cvat_fail(c, -ENOMEM, "out of memory");
  }
  for (int pages = 0; pages < 100000; pages++) {
    json_t *page, *res, *next;
    const char *ns, *api;

    r = cvat_get_json(c, p.data, &page);
    if (r < 0)
      break;
    res = json_object_get(page, "results");
    if (!json_is_array(res)) {
      json_decref(page);
      r = cvat_fail(c, -EPROTO, "GET %s: not a paginated list", path);
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

/* ---------------------------------------------------------------- session */

static int login(struct cvat_client *c)
{
  json_t *body, *res = NULL;
  struct cvat_call k = { .method = "POST", .path = "/api/auth/login",
                    .no_relogin = true };
  struct buf hv;
  const char *key;
  long st;
  int r;

  http_client_header(c->h, "Authorization", NULL, false);
  body = json_pack("{s:s, s:s}", "username", c->cfg.username,
                   "password", c->cfg.password);
  if (!body)
    return cvat_fail(c, -ENOMEM, "out of memory");
  k.body = body;
  r = cvat_call(c, &k, &st, &res);
  json_decref(body);
  if (r < 0) {
    /* CVAT answers bad credentials with 400 non_field_errors. */
    if (st == 400 || st == 401 || st == 403) {
      char tmp[CVAT_ERR_MAX];
      snprintf(tmp, sizeof(tmp), "%s", c->err);
      return cvat_fail(c, -EACCES, "login as '%s' failed: %s", c->cfg.username,
                  tmp);
    }
    return r;
  }
  key = json_string_value(json_object_get(res, "key"));
  if (!key || !*key) {
    json_decref(res);
    return cvat_fail(c, -EPROTO, "login: no key in the answer");
  }
  buf_init(&hv, 4096);
  r = buf_printf(&hv, "Token %s", key);
  if (r == 0)
    r = http_client_header(c->h, "Authorization", hv.data, true);
  secret_wipe(hv.data, hv.len);
  buf_free(&hv);
  json_decref(res);
  return r < 0 ? cvat_fail(c, r, "out of memory") : 0;
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

bool cvat_session_cancelled(struct cvat_session *s)
{
  return s && atomic_load(&s->cancel);
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

/* A client with its HTTP connection set up (not yet used). */
static int client_alloc(const struct cvat_config *cfg, struct cvat_client **ret)
{
  struct http_opts ho = { 0 };
  struct cvat_client *c = calloc(1, sizeof(*c));
  int r;

  *ret = NULL;
  if (!c)
    return -ENOMEM;
  atomic_init(&c->refs, 1);
  pthread_mutex_init(&c->mu, NULL);
  cvat_config_init(&c->cfg);
  r = cvat_config_copy(&c->cfg, cfg);
  c->cfg.session = NULL;   /* the client's session is c->sess */
  ho.ca_bundle = cfg->ca_bundle;
  ho.open_file = cfg->open_file;
  ho.open_file_arg = cfg->open_file_arg;
  ho.connect_timeout_ms = (long)cfg->connect_timeout_s * 1000;
  ho.timeout_ms = (long)cfg->timeout_s * 1000;
  ho.max_retries = (int)cfg->retries;
  if (r == 0)
    r = http_client_new(cfg->url, &ho, &c->h);
  if (r == 0)
    r = http_client_secret(c->h, cfg->password);
  if (r == 0)
    r = http_client_secret(c->h, cfg->token);
  if (r == 0)
    r = http_client_header(c->h, "Accept",
                           "application/vnd.cvat+json; version=2.0", false);
  if (r == 0 && cfg->org)
    r = http_client_header(c->h, "X-Organization", cfg->org, false);
  if (r < 0) {
    cvat_client_free(c);
    return r;
  }
  *ret = c;
  return 0;
}

/* GET /api/server/about: a CVAT server, new enough. */
static int check_server(struct cvat_client *c)
{
  struct cvat_call k = { .method = "GET", .path = "/api/server/about",
                         .no_relogin = true };
  long st = 0;
  json_t *about = NULL;
  int maj, min, r = cvat_call(c, &k, &st, &about);

  if (r < 0) {
    /* An answer that is not CVAT's (404, 406, not JSON) means another
     * server; no answer at all (TLS failed: -EPROTO from the transport)
     * keeps its own errno. */
    if (st != 0 && (r == -ENOENT || r == -EPROTO))
      r = cvat_fail(c, -EPROTONOSUPPORT, "%s does not look like a CVAT "
                    "server (GET /api/server/about failed)", c->cfg.url);
    return r;
  }
  snprintf(c->version, sizeof(c->version), "%s",
           cvat_jtext(about, "version"));
  json_decref(about);
  if (parse_version(c->version, &maj, &min) < 0 || maj < CVAT_MIN_MAJOR ||
      (maj == CVAT_MIN_MAJOR && min < CVAT_MIN_MINOR))
    return cvat_fail(c, -EPROTONOSUPPORT, "CVAT server version '%s' is not "
                     "supported (2.16 or newer needed)", c->version);
  return 0;
}

/* A token as `Authorization: Bearer`, else a password login; then GET
 * /api/users/self checks the credentials (and the organization). */
static int authenticate(struct cvat_client *c)
{
  struct cvat_call k = { .method = "GET", .path = "/api/users/self",
                         .no_relogin = true };
  json_t *self = NULL;
  long st = 0;
  int r;

  if (c->cfg.token) {
    struct buf hv;
    buf_init(&hv, 8192);
    r = buf_printf(&hv, "Bearer %s", c->cfg.token);
    if (r == 0)
      r = http_client_header(c->h, "Authorization", hv.data, true);
    secret_wipe(hv.data, hv.len);
    buf_free(&hv);
  } else {
    c->relogin_ok = true;
    r = login(c);
  }
  if (r < 0)
    return r;
  r = cvat_call(c, &k, &st, &self);
  json_decref(self);
  if (r < 0 && st == 401) {
    char tmp[CVAT_ERR_MAX];
    snprintf(tmp, sizeof(tmp), "%s", c->err);
    r = cvat_fail(c, -EACCES, "CVAT refused the credentials: %s", tmp);
  } else if (r < 0 && st == 404 && c->cfg.org) {
    r = cvat_fail(c, -ENOENT, "organization '%s' does not exist",
                  c->cfg.org);
  }
  return r;
}

static int connect_new(const struct cvat_config *cfg, struct cvat_client **ret,
                       char *err, size_t errlen)
{
  struct cvat_client *c;
  int r;

  *ret = NULL;
  if (!cfg->url)
    return errf(err, errlen, -EINVAL, "no CVAT server configured "
                "(set url or CVAT_URL)");
  if (!cfg->token && !(cfg->username && cfg->password))
    return errf(err, errlen, -EINVAL, "no CVAT credentials configured "
                "(set token, or username and password)");
  r = client_alloc(cfg, &c);
  if (r < 0 && r != -ENOMEM && cfg->ca_bundle)
    /* The URL was checked when it was set: what failed is the CA file,
     * read now (http_client_new), not when it was set. */
    return errf(err, errlen, r, "cvat.ca_bundle: %.200s: %s", cfg->ca_bundle,
                r == -EINVAL ? "not a regular file" :
                r == -EBADMSG ? "empty file" : strerror(-r));
  if (r < 0)
    return errf(err, errlen, r, "cannot set up the CVAT client: %s",
                strerror(-r));
  r = check_server(c);
  if (r == 0)
    r = authenticate(c);
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

