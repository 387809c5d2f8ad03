/* awsconf.c - S3 settings from the environment and the shared AWS files
 * (see awsconf.h for the order).  The two files are INI text: "[section]"
 * headers, "key = value" lines, '#' and ';' comments, and nested keys
 * (an indented "key = value" under a line "s3 =").  Values are kept
 * verbatim after trimming; nothing here is ever logged, because a line of
 * the credentials file may hold a secret.
 */
#define _GNU_SOURCE   /* asprintf, strndup */
#include "awsconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"
#include "util.h"

/* The longest line the files may have; longer ones are refused, so a
 * binary file given by mistake ends in a clear error. */
#define AWSCONF_LINE_MAX 4096

/* Wipes and frees *s (the one secret wipe, util.h), and forgets it. */
static void wipe_str(char **s)
{
  secret_free(*s);
  *s = NULL;
}

void aws_conf_free(struct aws_conf *c)
{
  free(c->key_id);
  wipe_str(&c->secret);
  wipe_str(&c->token);
  free(c->region);
  free(c->endpoint);
  aws_creds_unref(c->creds);
  memset(c, 0, sizeof(*c));
}

static char *trim(char *s)
{
  char *e;

  while (*s == ' ' || *s == '\t')
    s++;
  e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
                   e[-1] == '\r'))
    *--e = '\0';
  return s;
}

/* What one profile says, from one file.  Strings owned; `found` tells
 * whether the section exists at all. */
struct profile {
  bool found;
  char *key_id, *secret, *token, *region, *endpoint, *addressing;
  char *process;   /* credential_process */
  /* instance metadata: ec2_metadata_service_endpoint, _endpoint_mode,
   * imds_use_ipv6, metadata_service_timeout, _num_attempts */
  char *imds_endpoint, *imds_mode, *imds_ipv6, *imds_timeout, *imds_attempts;
};

static void profile_free(struct profile *p)
{
  free(p->key_id);
  wipe_str(&p->secret);
  wipe_str(&p->token);
  free(p->region);
  free(p->endpoint);
  free(p->addressing);
  free(p->process);
  free(p->imds_endpoint);
  free(p->imds_mode);
  free(p->imds_ipv6);
  free(p->imds_timeout);
  free(p->imds_attempts);
  memset(p, 0, sizeof(*p));
}

static int set_once(char **dst, const char *v)
{
  if (*dst)
    return 0;   /* the first occurrence wins, as in botocore */
  *dst = strdup(v);
  return *dst ? 0 : -ENOMEM;
}

/* One "key = value" line of the wanted section (nested under "s3" when
 * `in_s3`). */
static int profile_line(struct profile *p, const char *k, const char *v,
                        bool in_s3)
{
  if (in_s3)
    return strcmp(k, "addressing_style") == 0 ? set_once(&p->addressing, v)
                                               : 0;
  if (strcmp(k, "aws_access_key_id") == 0)
    return set_once(&p->key_id, v);
  if (strcmp(k, "aws_secret_access_key") == 0)
    return set_once(&p->secret, v);
  if (strcmp(k, "aws_session_token") == 0)
    return set_once(&p->token, v);
  if (strcmp(k, "region") == 0)
    return set_once(&p->region, v);
  if (strcmp(k, "endpoint_url") == 0)
    return set_once(&p->endpoint, v);
  if (strcmp(k, "credential_process") == 0)
    return set_once(&p->process, v);
  if (strcmp(k, "ec2_metadata_service_endpoint") == 0)
    return set_once(&p->imds_endpoint, v);
  if (strcmp(k, "ec2_metadata_service_endpoint_mode") == 0)
    return set_once(&p->imds_mode, v);
  if (strcmp(k, "imds_use_ipv6") == 0)
    return set_once(&p->imds_ipv6, v);
  if (strcmp(k, "metadata_service_timeout") == 0)
    return set_once(&p->imds_timeout, v);
  if (strcmp(k, "metadata_service_num_attempts") == 0)
    return set_once(&p->imds_attempts, v);
  return 0;
}

/* Reads section `want` of file `path` into p (fields not yet set only).
 * A missing file is not an error. */
static int read_profile(const char *path, const char *want,
                        struct profile *p, char *err, size_t errlen)
{
  char line[AWSCONF_LINE_MAX];
  bool in = false, in_s3 = false;
  unsigned lineno = 0;
  FILE *f = fopen(path, "re");
  int r = 0;

  if (!f)
    return errno == ENOENT ? 0 : errf(err, errlen, -errno, "%s: %s", path,
                                      strerror(errno));
  while (r == 0 && fgets(line, sizeof(line), f)) {
    bool indented = line[0] == ' ' || line[0] == '\t';
    char *s, *eq;
    lineno++;
    if (!strchr(line, '\n') && !feof(f)) {
      r = errf(err, errlen, -EINVAL, "%s:%u: line too long", path, lineno);
      break;
    }
    s = trim(line);
    if (!*s || *s == '#' || *s == ';')
      continue;
    if (*s == '[') {
      char *e = strchr(s, ']');
      if (!e) {
        r = errf(err, errlen, -EINVAL, "%s:%u: unterminated section", path,
                 lineno);
        break;
      }
      *e = '\0';
      in = strcmp(trim(s + 1), want) == 0;
      in_s3 = false;
      p->found |= in;
      continue;
    }
    if (!in)
      continue;
    eq = strchr(s, '=');
    if (!eq)
      continue;   /* botocore skips such lines too */
    *eq = '\0';
    if (!indented)
      in_s3 = strcmp(trim(s), "s3") == 0 && !*trim(eq + 1);
    if (!indented || in_s3)
      r = profile_line(p, trim(s), trim(eq + 1), indented && in_s3);
  }
  fclose(f);
  secret_wipe(line, sizeof(line));
  return r;
}

/* $NAME if set and not empty, else $HOME/.aws/<leaf>. */
static char *file_path(const char *env, const char *leaf)
{
  const char *v = getenv(env), *home = getenv("HOME");
  char *s = NULL;

  if (v && *v)
    return strdup(v);
  if (!home || !*home)
    return NULL;
  if (asprintf(&s, "%s/.aws/%s", home, leaf) < 0)
    return NULL;
  return s;
}

static const char *env(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* Both files' view of the profile: the credentials file first, then the
 * config file's "[profile NAME]" (or "[default]"). */
static int load_profile(const char *name, struct profile *p, char *err,
                        size_t errlen)
{
  char *cred = file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  char *conf = file_path("AWS_CONFIG_FILE", "config");
  char *section = NULL;
  int r = 0;

  if (strcmp(name, "default") == 0)
    section = strdup("default");
  else if (asprintf(&section, "profile %s", name) < 0)
    section = NULL;
  if (!section)
    r = -ENOMEM;
  if (r == 0 && cred)
    r = read_profile(cred, name, p, err, errlen);
  if (r == 0 && conf)
    r = read_profile(conf, section, p, err, errlen);
  free(cred);
  free(conf);
  free(section);
  return r;
}

static int take(char **dst, const char *a, const char *b, const char *c)
{
  const char *v = a ? a : b ? b : c;
  if (!v)
    return 0;
  *dst = strdup(v);
  return *dst ? 0 : -ENOMEM;
}

/* The first key of an expiring source into c. */
static int take_creds(struct aws_conf *c, struct aws_creds *cr, char *err,
                      size_t errlen)
{
  uint64_t gen;

  c->creds = cr;
  return aws_creds_get(cr, &gen, &c->key_id, &c->secret, &c->token, err,
                       errlen);
}

/* The last place: the instance metadata service.  No service (none
 * answers, as off EC2), no role, or turned off: no credentials, the
 * reason kept for the message; an answer that is wrong is an error. */
static int load_imds(struct aws_conf *c, const struct profile *p, char *err,
                     size_t errlen)
{
  const struct aws_imds_conf ic = {
    .endpoint = p->imds_endpoint, .endpoint_mode = p->imds_mode,
    .use_ipv6 = p->imds_ipv6, .timeout = p->imds_timeout,
    .attempts = p->imds_attempts };
  struct aws_creds *cr;
  int r = aws_creds_imds(&ic, &cr, c->imds_why, sizeof(c->imds_why));

  if (r == -ENOKEY || r == -ECONNREFUSED || r == -ETIMEDOUT ||
      r == -EHOSTUNREACH || r == -ENETUNREACH || r == -ECONNRESET ||
      r == -EIO)
    return -ENOKEY;
  if (r < 0)
    return errf(err, errlen, r, "%s", c->imds_why);
  snprintf(c->from, sizeof(c->from), "instance metadata");
  return take_creds(c, cr, err, errlen);
}

static int load_credentials(struct aws_conf *c, struct profile *p,
                            const char *name, char *err, size_t errlen)
{
  struct aws_creds *cr;
  int r;

  if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
    snprintf(c->from, sizeof(c->from), "the environment");
    if ((r = take(&c->key_id, env("AWS_ACCESS_KEY_ID"), NULL, NULL)) < 0 ||
        (r = take(&c->secret, env("AWS_SECRET_ACCESS_KEY"), NULL, NULL)) < 0)
      return r;
    return take(&c->token, env("AWS_SESSION_TOKEN"), NULL, NULL);
  }
  if (p->key_id && p->secret) {
    snprintf(c->from, sizeof(c->from), "profile '%.60s'", name);
    if ((r = take(&c->key_id, p->key_id, NULL, NULL)) < 0 ||
        (r = take(&c->secret, p->secret, NULL, NULL)) < 0)
      return r;
    return take(&c->token, p->token, NULL, NULL);
  }
  if (p->process) {
    snprintf(c->from, sizeof(c->from), "credential_process of profile "
             "'%.40s'", name);
    if ((r = aws_creds_process(p->process, &cr, err, errlen)) < 0)
      return r;
    return take_creds(c, cr, err, errlen);
  }
  /* The relative URI wins over the full one, as in botocore. */
  if (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ||
      env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    snprintf(c->from, sizeof(c->from), "container credentials");
    r = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ?
        aws_creds_container_relative(
            env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), &cr, err, errlen)
        : aws_creds_container(env("AWS_CONTAINER_CREDENTIALS_FULL_URI"), &cr,
                              err, errlen);
    return r < 0 ? r : take_creds(c, cr, err, errlen);
  }
  return load_imds(c, p, err, errlen);
}

static int load_endpoint(struct aws_conf *c, const struct profile *p,
                         char *err, size_t errlen)
{
  const char *style = p->addressing ? p->addressing : "auto";
  char why[256];
  bool custom;
  size_t n;
  int r;

  if ((r = take(&c->endpoint, env("AWS_ENDPOINT_URL_S3"),
                env("AWS_ENDPOINT_URL"), p->endpoint)) < 0)
    return r;
  custom = c->endpoint != NULL;
  if (!custom && asprintf(&c->endpoint, "https://s3.%s.amazonaws.com",
                          c->region) < 0) {
    c->endpoint = NULL;
    return -ENOMEM;
  }
  if ((r = url_check(c->endpoint, why, sizeof(why))) < 0)
    return errf(err, errlen, r, "S3 endpoint: %s", why);
  n = strlen(c->endpoint);
  while (n > 0 && c->endpoint[n - 1] == '/')
    c->endpoint[--n] = '\0';
  if (strchr(strstr(c->endpoint, "://") + 3, '/'))
    return errf(err, errlen, -EINVAL, "S3 endpoint: a URL without a path "
                "is expected");
  if (strcmp(style, "path") == 0)
    c->path_style = true;
  else if (strcmp(style, "virtual") == 0)
    c->path_style = false;
  else if (strcmp(style, "auto") == 0)
    c->path_style = custom;
  else
    return errf(err, errlen, -EINVAL, "addressing_style: expected path, "
                "virtual or auto");
  return 0;
}

static int load(struct aws_conf *c, bool with_key, char *err, size_t errlen)
{
  const char *name = env("AWS_PROFILE");
  struct profile p = { 0 };
  int r;

  memset(c, 0, sizeof(*c));
  if (err && errlen)
    err[0] = '\0';
  r = load_profile(name ? name : "default", &p, err, errlen);
  if (r == 0 && name && !p.found)
    r = errf(err, errlen, -ENOENT, "AWS_PROFILE: no profile '%.60s' in the "
             "credentials or config file", name);
  if (r == 0 && with_key) {
    r = load_credentials(c, &p, name ? name : "default", err, errlen);
    if (r == -ENOKEY)
      errf(err, errlen, r, "no AWS credentials: set AWS_ACCESS_KEY_ID and "
           "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials "
           "(keys or credential_process), or "
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, or run "
           "where instance metadata gives a role (%s)", c->imds_why);
  }
  if (r == 0)
    r = take(&c->region, env("AWS_REGION"), env("AWS_DEFAULT_REGION"),
             p.region ? p.region : "us-east-1");
  if (r == 0 && (!c->region[0] || c->region[strspn(c->region,
      "abcdefghijklmnopqrstuvwxyz0123456789-")] || strlen(c->region) > 40))
    r = errf(err, errlen, -EINVAL, "AWS region '%.40s': letters, digits and "
             "'-' expected", c->region);
  if (r == 0)
    r = load_endpoint(c, &p, err, errlen);
  profile_free(&p);
  if (r == -ENOMEM)
    errf(err, errlen, r, "out of memory");
  if (r < 0)
    aws_conf_free(c);
  return r;
}

int aws_conf_load(struct aws_conf *c, char *err, size_t errlen)
{
  return load(c, true, err, errlen);
}

int aws_conf_load_place(struct aws_conf *c, char *err, size_t errlen)
{
  return load(c, false, err, errlen);
}
