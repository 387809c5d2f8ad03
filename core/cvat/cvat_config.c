/* cvat_config.c - struct cvat_config: defaults, copies, the environment,
 * one setting at a time, the text form (see cvat_client.h).  The rules of
 * every key are the validators of core/store/config_cvat.c, the same the
 * mount's config file uses; this file only stores checked values.
 * Secrets are freed with secret_free().
 */
#include "cvat_client.h"
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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
  free(c->cloud_storage);
  free(c->cloud_credentials);
  free(c->cloud_endpoint);
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
  r |= dup_str(&dst->cloud_storage, src->cloud_storage);
  r |= dup_str(&dst->cloud_credentials, src->cloud_credentials);
  r |= dup_str(&dst->cloud_endpoint, src->cloud_endpoint);
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
  F("cloud_storage", K_STR, cloud_storage),
  F("cloud_credentials", K_STR, cloud_credentials),
  F("cloud_endpoint", K_STR, cloud_endpoint),
#undef F
};

int cvat_config_set(struct cvat_config *c, const char *key,
                    const char *value, char *err, size_t errlen)
{
  const struct config_key *k = config_cvat_key(key);
  const char *shortk = k ? k->name + 5 : "";
  char abs[PATH_MAX];
  char *at = (char *)c;
  uint64_t x = 0;
  int r;

  /* The tool and the environment name a CA file relative to where the
   * user is, as curl would; the rule (an absolute path, a readable
   * regular file) applies to what that names. */
  if (k && strcmp(k->name, "cvat.ca_bundle") == 0 && value[0] &&
      value[0] != '/') {
    if (!realpath(value, abs))
      return errf(err, errlen, -errno, "cvat.ca_bundle: %.200s: %s", value,
                  strerror(errno));
    value = abs;
  }
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
                  "wait_timeout, poll_interval, cloud_storage, "
                  "cloud_credentials, cloud_endpoint)", key);
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
    { "CVAT_CLOUD_STORAGE", "cloud_storage" },
    { "CVAT_CLOUD_CREDENTIALS", "cloud_credentials" },
    { "CVAT_CLOUD_ENDPOINT", "cloud_endpoint" },
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

bool cvat_config_can_login(const struct cvat_config *c)
{
  return c->url && (c->token || (c->username && c->password));
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
  r |= buf_printf(out, "cloud_storage = %s\ncloud_credentials = %s\n"
                  "cloud_endpoint = %s\n",
                  c->cloud_storage ? c->cloud_storage : "auto",
                  c->cloud_credentials ? c->cloud_credentials : "none",
                  c->cloud_endpoint ? c->cloud_endpoint : "");
  return r ? -E2BIG : 0;
}

