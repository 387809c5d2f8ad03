/* awscreds.c - expiring AWS credentials from a credential_process, a
 * container endpoint or the EC2 instance metadata service (see
 * awscreds.h).  All answer the same JSON shape but for one name:
 * AccessKeyId, SecretAccessKey, a token (SessionToken from a process,
 * Token from the two endpoints) and an Expiration in ISO 8601 UTC
 * (optional but for instance metadata).  The answer is wiped as soon as
 * it is parsed.
 */
#define _GNU_SOURCE   /* asprintf */
#include "awscreds.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "util.h"

enum src_kind { SRC_PROCESS, SRC_CONTAINER, SRC_IMDS };

struct aws_creds {
  pthread_mutex_t mu;        /* guards everything below but kind, what */
  int refs;
  enum src_kind kind;
  char *what;                /* the command or the URL */
  long timeout_ms;           /* instance metadata: of each attempt */
  int attempts;              /* instance metadata: of each request */
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

/* "2026-12-05T05:00:00Z", with optional fractions and a "Z" or a UTC
 * offset ("+02:00", "-0500"), as a helper of ours may print its local
 * time; none is read as UTC.  Fields out of ISO 8601's ranges are refused
 * (-1), not normalized by timegm (month 13 is not next January) nor
 * overflowed on the way (a year of -2^31). */
static int64_t parse_iso(const char *t)
{
  struct tm tm = { 0 };
  int n = 0, oh = 0, om = 0, sign;
  const char *p;

  if (sscanf(t, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
    return -1;
  if (tm.tm_year < 1 || tm.tm_year > 9999 || tm.tm_mon < 1 ||
      tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour < 0 || tm.tm_hour > 24 || tm.tm_min < 0 || tm.tm_min > 59 ||
      tm.tm_sec < 0 || tm.tm_sec > 60)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  p = t + n;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      ;
  if (*p != '+' && *p != '-')
    return (int64_t)timegm(&tm);
  sign = *p == '-' ? -1 : 1;
  p++;
  if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9'))
    return -1;
  oh = (p[0] - '0') * 10 + (p[1] - '0');
  p += 2 + (p[2] == ':');
  if (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9')
    om = (p[0] - '0') * 10 + (p[1] - '0');
  if (oh > 23 || om > 59)
    return -1;
  return (int64_t)timegm(&tm) - sign * (int64_t)(oh * 3600 + om * 60);
}

static const char *jstr(json_t *o, const char *k)
{
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* How long an expired instance metadata key stays in use: uniformly in
 * AWS_IMDS_EXTEND_MIN_S..MAX_S (CURATE_TEST_IMDS_EXTEND_S in tests). */
static int64_t extension_s(void)
{
  const char *t = getenv("CURATE_TEST_IMDS_EXTEND_S");
  uint32_t v = 0;

  if (t && *t && atoi(t) > 0)
    return atoi(t);
  if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
    v = (uint32_t)time_now_ns();  /* no entropy yet: spread is enough */
  return AWS_IMDS_EXTEND_MIN_S +
         v % (AWS_IMDS_EXTEND_MAX_S - AWS_IMDS_EXTEND_MIN_S + 1);
}

/* The key's end of use: its Expiration, or for an instance metadata key
 * that arrives expired (the service cannot renew keys now and hands out
 * its last one), a while from now (awscreds.h), after which it is asked
 * again; the refresh margin is added so that the attempt falls due at the
 * end of that while and a failed one still leaves the usual retries. */
static int64_t usable_until(const struct aws_creds *c, int64_t when)
{
  int64_t now = (int64_t)time(NULL), ext;

  if (c->kind != SRC_IMDS || when > now)
    return when;
  ext = extension_s();
  log_msg(LOG_LVL_WARN, "instance metadata: the key it gave expired %lld s "
          "ago (the service cannot renew it now); kept in use, asking again "
          "in %lld s", (long long)(now - when), (long long)ext);
  return now + ext + AWS_CREDS_EARLY_S;
}

/* Takes the key out of a helper's answer (wiped by the caller). */
static int parse_answer(struct aws_creds *c, const char *text, size_t len,
                        char *err, size_t errlen)
{
  const char *src = c->kind == SRC_PROCESS ? "credential_process"
                    : c->kind == SRC_IMDS ? "instance metadata"
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
  else if (c->kind == SRC_IMDS && (!tok || !*tok || !exp))
    r = errf(err, errlen, -EBADMSG, "%s: Token and Expiration expected",
             src);
  else if (exp && (when = parse_iso(exp)) < 0)
    r = errf(err, errlen, -EBADMSG, "%s: Expiration is not an ISO 8601 "
             "time", src);
  else if (exp && c->kind != SRC_IMDS && when <= (int64_t)time(NULL))
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
    c->expires = exp ? usable_until(c, when) : 0;
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

/* Starts "/bin/sh -c cmd" in a process group of its own, with no input
 * (a daemon has no one to answer a prompt) and its output on a pipe. */
static int spawn_helper(const char *cmd, pid_t *pid, int *out_fd)
{
  char *argv[] = { "sh", "-c", (char *)cmd, NULL };
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  int p[2], r;

  if (pipe2(p, O_CLOEXEC) < 0)
    return -errno;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  r = posix_spawn(pid, "/bin/sh", &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(p[1]);
  if (r != 0) {
    close(p[0]);
    return -r;
  }
  *out_fd = p[0];
  return 0;
}

/* Reads the helper's whole output into out, within the time limit. */
static int read_helper(int fd, struct buf *out, char *err, size_t errlen)
{
  double end = time_mono() + AWS_CREDS_PROCESS_TIMEOUT_S;
  char chunk[4096];
  int r = 0;

  for (;;) {
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    int left = (int)((end - time_mono()) * 1000);
    ssize_t n;

    if (left <= 0)
      return errf(err, errlen, -ETIMEDOUT, "credential_process: no answer "
                  "within %d s", AWS_CREDS_PROCESS_TIMEOUT_S);
    int pr = poll(&pf, 1, left);
    if (pr < 0 && errno != EINTR)
      return errf(err, errlen, -errno, "credential_process: %s",
                  strerror(errno));
    if (pr <= 0)
      continue;              /* interrupted, or the time is up */
    n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0)
      break;
    if (r == 0 && buf_append(out, chunk, (size_t)n) < 0)
      r = errf(err, errlen, -EBADMSG, "credential_process: answer over "
               "%u bytes", AWS_CREDS_OUT_MAX);
  }
  secret_wipe(chunk, sizeof(chunk));
  return r;
}

static int fetch_process(struct aws_creds *c, char *err, size_t errlen)
{
  struct buf out;
  pid_t pid;
  int fd, st = 0, r;

  r = spawn_helper(c->what, &pid, &fd);
  if (r < 0)
    return errf(err, errlen, r, "credential_process: %s", strerror(-r));
  buf_init(&out, AWS_CREDS_OUT_MAX);
  r = read_helper(fd, &out, err, errlen);
  close(fd);
  if (r < 0)
    kill(-pid, SIGKILL);     /* the shell and whatever it started */
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (r == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
    r = errf(err, errlen, -EACCES, "credential_process: the command "
             "failed (%s %d)", WIFEXITED(st) ? "exit status" : "signal",
             WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
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

/* ------------------------------------------------ EC2 instance metadata */

/* One request to the metadata service; 0 with the answer in rs (any
 * status), or the transport's errno with the reason in err. */
static int imds_do(struct http_client *h, const char *method,
                   const char *path, const char *const *hdrs,
                   struct http_resp *rs, char *err, size_t errlen)
{
  struct http_req rq = { .method = method, .path = path, .headers = hdrs,
                         .max_response = AWS_CREDS_OUT_MAX };
  char why[HTTP_ERR_MAX] = "";
  int r = http_do(h, &rq, rs, why, sizeof(why));

  if (r < 0)
    errf(err, errlen, r, "instance metadata: %s %s: %s", method, path,
         why[0] ? why : strerror(-r));
  return r;
}

/* IMDSv2's session token, sent with every later request of this fetch.
 * As botocore does, a service that answers the PUT with anything but 200
 * or 400 (a 400 is an error), or lets it time out (a container behind a
 * hop limit of 1 never sees the answer), is asked without a token
 * (IMDSv1). */
static int imds_token(struct http_client *h, char *err, size_t errlen)
{
  static const char *const hdrs[] = {
    "X-aws-ec2-metadata-token-ttl-seconds: " AWS_IMDS_TOKEN_TTL_S, NULL };
  struct http_resp rs;
  int r;

  http_resp_init(&rs);
  r = imds_do(h, "PUT", "/latest/api/token", hdrs, &rs, err, errlen);
  if (r == -ETIMEDOUT)
    r = 0;
  else if (r == 0 && rs.status == 200 && rs.body.len > 0 &&
           !strpbrk(rs.body.data, "\r\n"))
    r = http_client_header(h, "X-aws-ec2-metadata-token", rs.body.data,
                           true);
  else if (r == 0 && rs.status == 400)
    r = errf(err, errlen, -EPROTO, "instance metadata: PUT "
             "/latest/api/token: HTTP 400");
  if (rs.body.data)
    secret_wipe(rs.body.data, rs.body.len);
  http_resp_free(&rs);
  return r;
}

#define IMDS_ROLES "/latest/meta-data/iam/security-credentials/"

/* The instance's role: the first line of the listing. */
static int imds_role(struct http_client *h, char *path, size_t size,
                     char *err, size_t errlen)
{
  struct http_resp rs;
  const char *b;
  size_t n = 0;
  int r;

  http_resp_init(&rs);
  r = imds_do(h, "GET", IMDS_ROLES, NULL, &rs, err, errlen);
  b = rs.body.data ? rs.body.data : "";
  if (r == 0 && (rs.status != 200 || rs.body.len == 0))
    r = errf(err, errlen, -ENOKEY, "instance metadata: no IAM role "
             "(HTTP %ld)", rs.status);
  if (r == 0)
    n = strcspn(b, "\r\n");
  if (r == 0 && (n == 0 || n > 128 || strcspn(b, "/?#% ") < n))
    r = errf(err, errlen, -EBADMSG, "instance metadata: not a role name");
  if (r == 0)
    snprintf(path, size, IMDS_ROLES "%.*s", (int)n, b);
  http_resp_free(&rs);
  return r;
}

/* The role's key. */
static int imds_key(struct aws_creds *c, struct http_client *h, char *err,
                    size_t errlen)
{
  struct http_resp rs;
  char path[256];
  int r = imds_role(h, path, sizeof(path), err, errlen);

  http_resp_init(&rs);
  if (r == 0)
    r = imds_do(h, "GET", path, NULL, &rs, err, errlen);
  if (r == 0 && rs.status != 200)
    r = errf(err, errlen, rs.status == 401 || rs.status == 403 ? -EACCES
             : -EIO, "instance metadata: the role's key: HTTP %ld",
             rs.status);
  if (r == 0)
    r = parse_answer(c, rs.body.data ? rs.body.data : "", rs.body.len, err,
                     errlen);
  if (rs.body.data)
    secret_wipe(rs.body.data, rs.body.len);
  http_resp_free(&rs);
  return r;
}

/* A fresh client per fetch: the session token serves this fetch only. */
static int fetch_imds(struct aws_creds *c, char *err, size_t errlen)
{
  struct http_opts o = { .connect_timeout_ms = c->timeout_ms,
                         .timeout_ms = c->timeout_ms,
                         .max_retries = c->attempts - 1,
                         .retry_base_s = 0.1, .retry_max_s = 1 };
  struct http_client *h = NULL;
  int r = http_client_new(c->what, &o, &h);

  if (r < 0)
    r = errf(err, errlen, r, "instance metadata: %s", strerror(-r));
  if (r == 0)
    r = imds_token(h, err, errlen);
  if (r == 0)
    r = imds_key(c, h, err, errlen);
  http_client_free(h);
  return r;
}

/* With the next attempt put off after a failure, and after an answer
 * whose key is already inside the refresh margin: otherwise every reader
 * would ask the source again (a process, or three requests to the
 * metadata service) before each request it signs. */
static int fetch(struct aws_creds *c, char *err, size_t errlen)
{
  int r = c->kind == SRC_PROCESS ? fetch_process(c, err, errlen)
          : c->kind == SRC_IMDS ? fetch_imds(c, err, errlen)
                                : fetch_container(c, err, errlen);
  int64_t now = (int64_t)time(NULL);

  if (r < 0 || (c->expires && now >= c->expires - AWS_CREDS_EARLY_S))
    c->next_try = now + AWS_CREDS_RETRY_S;
  return r;
}

static int create(enum src_kind kind, const char *what, long timeout_ms,
                  int attempts, struct aws_creds **ret, char *err,
                  size_t errlen)
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
  c->timeout_ms = timeout_ms;
  c->attempts = attempts;
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
  return create(SRC_PROCESS, cmd, 0, 0, ret, err, errlen);
}

/* Whether the authority of "http://AUTHORITY/..." is a loopback address or
 * one of the container agents' link-local ones, where plain http is
 * allowed (as the AWS SDKs allow it).  The whole host is compared: a name
 * such as 127.example.com, or user info ("127.0.0.1@host"), would send the
 * token in clear text to another machine. */
static bool local_host(const char *auth)
{
  static const char *const ok[] = { "localhost", "[::1]", "169.254.170.2",
                                    "169.254.170.23", "[fd00:ec2::23]" };
  size_t alen = strcspn(auth, "/?#");
  size_t n = auth[0] == '[' ? strcspn(auth, "]") + 1 : strcspn(auth, ":/?#");

  if (memchr(auth, '@', alen) || n > alen ||
      (auth[n] != ':' && n != alen))
    return false;
  if (n > 4 && strncmp(auth, "127.", 4) == 0 &&
      strspn(auth, "0123456789.") == n)
    return true;
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    if (n == strlen(ok[i]) && strncmp(auth, ok[i], n) == 0)
      return true;
  return false;
}

int aws_creds_container(const char *url, struct aws_creds **ret, char *err,
                        size_t errlen)
{
  const char *a = strstr(url, "://");

  *ret = NULL;
  if (a && memchr(a + 3, '@', strcspn(a + 3, "/?#")))
    return errf(err, errlen, -EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI: "
                "user info in the URL is not accepted (https, or http on a "
                "loopback address, expected)");
  if (strncmp(url, "https://", 8) != 0 &&
      (strncmp(url, "http://", 7) != 0 || !local_host(url + 7)))
    return errf(err, errlen, -EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI: "
                "https, or http on a loopback address, expected");
  return create(SRC_CONTAINER, url, 0, 0, ret, err, errlen);
}

int aws_creds_container_relative(const char *rel, struct aws_creds **ret,
                                 char *err, size_t errlen)
{
  char url[2048];

  *ret = NULL;
  /* Appended to the agent's address: anything but a path could name
   * another host ("@host/...") and get the token. */
  if (rel[0] != '/' || strpbrk(rel, "@\\ \t\r\n") ||
      strlen(rel) > sizeof(url) - 32)
    return errf(err, errlen, -EINVAL, "AWS_CONTAINER_CREDENTIALS_RELATIVE_"
                "URI: a path starting with '/' expected");
  snprintf(url, sizeof(url), "http://" AWS_CONTAINER_HOST "%s", rel);
  return create(SRC_CONTAINER, url, 0, 0, ret, err, errlen);
}

/* A setting: the environment variable if set and not empty, else the
 * profile's value (botocore's order), else NULL; *from names the place,
 * for messages. */
static const char *setting(const char *env, const char *prof,
                           const char *prof_name, const char **from)
{
  const char *v = getenv(env);

  if (v && *v) {
    *from = env;
    return v;
  }
  *from = prof_name;
  return prof && *prof ? prof : NULL;
}

/* A positive number of a setting (at most an hour), else def. */
static double num_setting(const char *env, const char *prof, double def)
{
  const char *from, *v = setting(env, prof, "", &from);
  char *end;
  double d;

  if (!v)
    return def;
  d = strtod(v, &end);
  return *end || !(d > 0) || d > 3600 ? def : d;
}

/* The service's address: the endpoint (environment, else profile), else
 * by the endpoint mode (environment, else profile; else imds_use_ipv6
 * true) the IPv6 or the IPv4 one, as botocore chooses. */
static int imds_base(const struct aws_imds_conf *pc, char *base, size_t size,
                     char *err, size_t errlen)
{
  const char *from, *mfrom, *ufrom;
  const char *ep = setting("AWS_EC2_METADATA_SERVICE_ENDPOINT",
                           pc->endpoint, "ec2_metadata_service_endpoint",
                           &from);
  const char *mode = setting("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                             pc->endpoint_mode,
                             "ec2_metadata_service_endpoint_mode", &mfrom);
  const char *v6 = setting("AWS_IMDS_USE_IPV6", pc->use_ipv6,
                           "imds_use_ipv6", &ufrom);
  bool ipv6 = v6 && strcasecmp(v6, "true") == 0;
  size_t n;

  if (mode && strcasecmp(mode, "ipv4") != 0 && strcasecmp(mode, "ipv6") != 0)
    return errf(err, errlen, -EINVAL, "%s: ipv4 or ipv6 expected", mfrom);
  if (mode)
    ipv6 = strcasecmp(mode, "ipv6") == 0;
  if (ep)
    snprintf(base, size, "%s", ep);
  else
    snprintf(base, size, "%s", ipv6 ? AWS_IMDS_ENDPOINT_V6
                                    : AWS_IMDS_ENDPOINT);
  n = strlen(base);
  while (n > 0 && base[n - 1] == '/')
    base[--n] = '\0';
  if ((strncmp(base, "http://", 7) != 0 &&
       strncmp(base, "https://", 8) != 0) ||
      strpbrk(strstr(base, "://") + 3, "/?#@"))
    return errf(err, errlen, -EINVAL, "%s: an http(s) URL without a path "
                "expected", from);
  return 0;
}

int aws_creds_imds(const struct aws_imds_conf *conf, struct aws_creds **ret,
                   char *err, size_t errlen)
{
  static const struct aws_imds_conf none;
  const struct aws_imds_conf *pc = conf ? conf : &none;
  const char *off = getenv("AWS_EC2_METADATA_DISABLED");
  char base[512];
  int r;

  *ret = NULL;
  if (off && strcasecmp(off, "true") == 0)
    return errf(err, errlen, -ENOKEY, "instance metadata: disabled by "
                "AWS_EC2_METADATA_DISABLED");
  if ((r = imds_base(pc, base, sizeof(base), err, errlen)) < 0)
    return r;
  return create(SRC_IMDS, base,
                (long)(num_setting("AWS_METADATA_SERVICE_TIMEOUT",
                                   pc->timeout, AWS_IMDS_TIMEOUT_S) * 1000),
                (int)num_setting("AWS_METADATA_SERVICE_NUM_ATTEMPTS",
                                 pc->attempts, AWS_IMDS_ATTEMPTS),
                ret, err, errlen);
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
