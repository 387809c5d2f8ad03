/* awscreds.c - expiring AWS credentials from a credential_process or a
 * container endpoint (see awscreds.h).  Both answer the same JSON shape
 * but for one name: AccessKeyId, SecretAccessKey, a token
 * (SessionToken from a process, Token from a container endpoint) and an
 * optional Expiration in ISO 8601 UTC.  The answer is wiped as soon as
 * it is parsed.
 */
#define _GNU_SOURCE   /* asprintf */
#include "awscreds.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "http.h"
#include "util.h"

enum src_kind { SRC_PROCESS, SRC_CONTAINER };

struct aws_creds {
  pthread_mutex_t mu;        /* guards everything below but kind, what */
  int refs;
  enum src_kind kind;
  char *what;                /* the command or the URL */
  char *key_id, *secret, *token;
  int64_t expires;           /* unix seconds; 0 = never */
  int64_t next_try;          /* no refresh before this after a failure */
  uint64_t gen;
};

static void clear_key(struct aws_creds *c)
{
  free(c->key_id);
  secret_free(c->secret);
  secret_free(c->token);
  c->key_id = c->secret = c->token = NULL;
}

/* "2026-12-05T05:00:00Z", with optional fractions and "+00:00". */
static int64_t parse_iso(const char *t)
{
  struct tm tm = { 0 };

  if (sscanf(t, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm);
}

static const char *jstr(json_t *o, const char *k)
{
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Takes the key out of a helper's answer (wiped by the caller). */
static int parse_answer(struct aws_creds *c, const char *text, size_t len,
                        char *err, size_t errlen)
{
  const char *src = c->kind == SRC_PROCESS ? "credential_process"
                                           : "container credentials";
  json_t *o = json_loadb(text, len, 0, NULL);
  const char *id, *key, *tok, *exp;
  int64_t when = 0;
  int r = 0;

  if (!json_is_object(o)) {
    json_decref(o);
    return errf(err, errlen, -EBADMSG, "%s: the answer is not a JSON "
                "object", src);
  }
  id = jstr(o, "AccessKeyId");
  key = jstr(o, "SecretAccessKey");
  tok = jstr(o, c->kind == SRC_PROCESS ? "SessionToken" : "Token");
  exp = jstr(o, "Expiration");
  if (c->kind == SRC_PROCESS &&
      json_integer_value(json_object_get(o, "Version")) != 1)
    r = errf(err, errlen, -EBADMSG, "%s: \"Version\": 1 expected", src);
  else if (!id || !*id || !key || !*key)
    r = errf(err, errlen, -EBADMSG, "%s: AccessKeyId and SecretAccessKey "
             "expected", src);
  else if (exp && (when = parse_iso(exp)) < 0)
    r = errf(err, errlen, -EBADMSG, "%s: Expiration is not an ISO 8601 "
             "time", src);
  else if (exp && when <= (int64_t)time(NULL))
    r = errf(err, errlen, -EKEYEXPIRED, "%s: the key it gave has already "
             "expired", src);
  if (r == 0) {
    clear_key(c);
    c->key_id = strdup(id);
    c->secret = strdup(key);
    c->token = tok && *tok ? strdup(tok) : NULL;
    if (!c->key_id || !c->secret || (tok && *tok && !c->token)) {
      clear_key(c);
      r = errf(err, errlen, -ENOMEM, "out of memory");
    }
    c->expires = exp ? when : 0;
    c->gen++;
  }
  /* The object holds the secret too: wipe its strings before freeing. */
  if (key)
    secret_wipe((char *)key, strlen(key));
  if (tok)
    secret_wipe((char *)tok, strlen(tok));
  json_decref(o);
  return r;
}

static int fetch_process(struct aws_creds *c, char *err, size_t errlen)
{
  struct buf out;
  char chunk[4096];
  size_t n;
  FILE *p;
  int st, r = 0;

  fflush(NULL);
  p = popen(c->what, "re");
  if (!p)
    return errf(err, errlen, -errno, "credential_process: %s",
                strerror(errno));
  buf_init(&out, AWS_CREDS_OUT_MAX);
  while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
    if (r == 0 && buf_append(&out, chunk, n) < 0)
      r = errf(err, errlen, -EBADMSG, "credential_process: answer over "
               "%u bytes", AWS_CREDS_OUT_MAX);
  secret_wipe(chunk, sizeof(chunk));
  st = pclose(p);
  if (r == 0 && (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0))
    r = errf(err, errlen, -EACCES, "credential_process: the command "
             "failed (%s %d)", st != -1 && WIFEXITED(st) ? "exit status"
             : "wait status", st != -1 && WIFEXITED(st) ? WEXITSTATUS(st)
             : st);
  if (r == 0)
    r = parse_answer(c, out.data ? out.data : "", out.len, err, errlen);
  if (out.data)
    secret_wipe(out.data, out.len);
  buf_free(&out);
  return r;
}

/* The Authorization value for the endpoint, or NULL: the token file is
 * read at every fetch (the agent rotates it). */
static char *container_auth(char *err, size_t errlen, int *r)
{
  const char *file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  char line[4096];
  char *v = NULL;
  FILE *f;

  *r = 0;
  if (file && *file) {
    if (!(f = fopen(file, "re"))) {
      *r = errf(err, errlen, -errno, "AWS_CONTAINER_AUTHORIZATION_TOKEN_"
                "FILE: %s", strerror(errno));
      return NULL;
    }
    if (fgets(line, sizeof(line), f)) {
      line[strcspn(line, "\r\n")] = '\0';
      v = strdup(line);
    }
    fclose(f);
    secret_wipe(line, sizeof(line));
  } else if (tok && *tok) {
    v = strdup(tok);
  }
  if (v && strpbrk(v, "\r\n")) {
    secret_free(v);
    v = NULL;
  }
  return v;
}

static int fetch_container(struct aws_creds *c, char *err, size_t errlen)
{
  const char *host = strstr(c->what, "://") + 3;
  const char *path = strchr(host, '/');
  struct http_opts o = { .max_retries = 3, .timeout_ms = 10000 };
  struct http_req rq = { .method = "GET", .path = path ? path : "/",
                         .max_response = AWS_CREDS_OUT_MAX };
  struct http_client *h = NULL;
  struct http_resp rs;
  char *base = strndup(c->what, (size_t)((path ? path : host +
                                          strlen(host)) - c->what));
  char *auth = NULL;
  int r;

  http_resp_init(&rs);
  auth = container_auth(err, errlen, &r);
  if (r == 0 && !base)
    r = -ENOMEM;
  if (r == 0)
    r = http_client_new(base, &o, &h);
  if (r == 0 && auth)
    r = http_client_header(h, "Authorization", auth, true);
  if (r == 0 && (r = http_do(h, &rq, &rs, err, errlen)) == 0) {
    if (rs.status != 200)
      r = errf(err, errlen, rs.status == 401 || rs.status == 403 ? -EACCES
               : -EIO, "container credentials: HTTP %ld", rs.status);
    else
      r = parse_answer(c, rs.body.data ? rs.body.data : "", rs.body.len, err,
                       errlen);
  } else if (r < 0 && r != -ENOMEM && (!err || !err[0])) {
    errf(err, errlen, r, "container credentials: %s", strerror(-r));
  }
  if (rs.body.data)
    secret_wipe(rs.body.data, rs.body.len);
  http_resp_free(&rs);
  http_client_free(h);
  secret_free(auth);
  free(base);
  return r;
}

static int fetch(struct aws_creds *c, char *err, size_t errlen)
{
  return c->kind == SRC_PROCESS ? fetch_process(c, err, errlen)
                                : fetch_container(c, err, errlen);
}

static int create(enum src_kind kind, const char *what,
                  struct aws_creds **ret, char *err, size_t errlen)
{
  struct aws_creds *c = calloc(1, sizeof(*c));
  int r;

  *ret = NULL;
  if (!c || !(c->what = strdup(what))) {
    free(c);
    return errf(err, errlen, -ENOMEM, "out of memory");
  }
  pthread_mutex_init(&c->mu, NULL);
  c->refs = 1;
  c->kind = kind;
  if ((r = fetch(c, err, errlen)) < 0) {
    aws_creds_unref(c);
    return r;
  }
  *ret = c;
  return 0;
}

int aws_creds_process(const char *cmd, struct aws_creds **ret, char *err,
                      size_t errlen)
{
  return create(SRC_PROCESS, cmd, ret, err, errlen);
}

/* Whether host (of "scheme://host[:port]/...") is a loopback address or
 * one of the container agents' link-local ones, where plain http is
 * allowed (as the AWS SDKs allow it). */
static bool local_host(const char *host)
{
  static const char *const ok[] = { "localhost", "127.", "[::1]",
                                    "169.254.170.2", "169.254.170.23",
                                    "[fd00:ec2::23]" };
  size_t n = strcspn(host, ":/");

  if (host[0] == '[')
    n = strcspn(host, "]") + 1;
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    size_t k = strlen(ok[i]);
    if (ok[i][k - 1] == '.' ? n > k && strncmp(host, ok[i], k) == 0
                            : n == k && strncmp(host, ok[i], k) == 0)
      return true;
  }
  return false;
}

int aws_creds_container(const char *url, struct aws_creds **ret, char *err,
                        size_t errlen)
{
  *ret = NULL;
  if (strncmp(url, "https://", 8) != 0 &&
      (strncmp(url, "http://", 7) != 0 || !local_host(url + 7)))
    return errf(err, errlen, -EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI: "
                "https, or http on a loopback address, expected");
  return create(SRC_CONTAINER, url, ret, err, errlen);
}

struct aws_creds *aws_creds_ref(struct aws_creds *c)
{
  pthread_mutex_lock(&c->mu);
  c->refs++;
  pthread_mutex_unlock(&c->mu);
  return c;
}

void aws_creds_unref(struct aws_creds *c)
{
  int left;

  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  left = --c->refs;
  pthread_mutex_unlock(&c->mu);
  if (left > 0)
    return;
  clear_key(c);
  free(c->what);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

int aws_creds_get(struct aws_creds *c, uint64_t *gen, char **key_id,
                  char **secret, char **token, char *err, size_t errlen)
{
  int64_t now = (int64_t)time(NULL);
  int r = 0;

  *key_id = *secret = *token = NULL;
  pthread_mutex_lock(&c->mu);
  if (c->expires && now >= c->expires - AWS_CREDS_EARLY_S &&
      (now >= c->next_try || now >= c->expires)) {
    r = fetch(c, err, errlen);
    if (r < 0) {
      c->next_try = now + AWS_CREDS_RETRY_S;
      if (now < c->expires && c->key_id)
        r = 0;          /* still valid: keep it, try again later */
    }
  }
  if (r == 0 && !c->key_id)
    r = errf(err, errlen, -EKEYEXPIRED, "no valid AWS key");
  if (r == 0) {
    *key_id = strdup(c->key_id);
    *secret = strdup(c->secret);
    *token = c->token ? strdup(c->token) : NULL;
    *gen = c->gen;
    if (!*key_id || !*secret || (c->token && !*token))
      r = -ENOMEM;
  }
  pthread_mutex_unlock(&c->mu);
  if (r == -ENOMEM) {
    secret_free(*key_id);
    secret_free(*secret);
    secret_free(*token);
    *key_id = *secret = *token = NULL;
  }
  return r;
}
