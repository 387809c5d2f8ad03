/* config_cvat.c - CVAT's settings: the cvat.* keys and their rules, in one
 * place.  The mount's `config` file shows the keys without CFG_F_HIDDEN;
 * `curate cvat` (its --config file, the environment, -o) sets all of them
 * by their short name through cvat_config_set(), which checks with
 * config_check_set() as the mount does, so a value is refused at set time
 * with the same message on both paths, never only at push.
 *
 * The rules are CVAT's own limits where the server has one (user names of
 * at most 150 characters, organization slugs), and ours otherwise.
 */
#include "config.h"
#include "config_i.h"
#include "url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int check_url(const struct config_key *k, const char *val, char *err,
                     size_t errlen)
{
  char why[200];

  (void)k;
  if (url_check(val, why, sizeof(why)) < 0)
    return errf(err, errlen, -EINVAL, "cvat.%s", why);
  return 0;
}

/* A CVAT user name: 1-150 characters, no spaces, commas or controls. */
static bool user_name_ok(const char *s, size_t n)
{
  if (n == 0 || n > 150)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || s[i] == ',' || s[i] == 0x7f)
      return false;
  return true;
}

static int check_user(const struct config_key *k, const char *val,
                      char *err, size_t errlen)
{
  if (!user_name_ok(val, strlen(val)))
    return errf(err, errlen, -EINVAL, "%s: 1-150 characters, no spaces or "
                "commas", k->name);
  return 0;
}

static int check_assignees(const struct config_key *k, const char *val,
                           char *err, size_t errlen)
{
  for (const char *p = val; *p;) {
    const char *e;
    size_t l;

    while (*p == ' ')
      p++;
    e = strchr(p, ',');
    l = e ? (size_t)(e - p) : strlen(p);
    while (l && p[l - 1] == ' ')
      l--;
    if (!user_name_ok(p, l))
      return errf(err, errlen, -EINVAL, "%s: a comma-separated list of "
                  "user names", k->name);
    if (!e)
      break;
    p = e + 1;
  }
  return 0;
}

static int check_token(const struct config_key *k, const char *val,
                       char *err, size_t errlen)
{
  if (strchr(val, ' '))
    return errf(err, errlen, -EINVAL, "%s: must not contain spaces",
                k->name);
  return 0;
}

static int check_org(const struct config_key *k, const char *val, char *err,
                     size_t errlen)
{
  if (strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789_-") != strlen(val))
    return errf(err, errlen, -EINVAL, "%s: an organization slug "
                "([A-Za-z0-9_-])", k->name);
  return 0;
}

static int check_path(const struct config_key *k, const char *val,
                      char *err, size_t errlen)
{
  if (val[0] != '/')
    return errf(err, errlen, -EINVAL, "%s: give an absolute path", k->name);
  return 0;
}

static int check_project(const struct config_key *k, const char *val,
                         char *err, size_t errlen)
{
  if (strlen(val) > 256)
    return errf(err, errlen, -EINVAL, "%s: at most 256 characters",
                k->name);
  return 0;
}

static int check_size(const struct config_key *k, const char *val,
                      char *err, size_t errlen)
{
  uint64_t x;

  if (config_parse_size(val, (uint64_t)k->max, &x) < 0 || x < k->min)
    return errf(err, errlen, -EINVAL, "%s: a size of at least %.0f (K, M, "
                "G suffixes allowed)", k->name, k->min);
  return 0;
}

/* An S3 endpoint for CVAT: a URL by the rule of cvat.url, without the
 * characters CVAT's specific attributes cannot carry. */
static int check_endpoint(const struct config_key *k, const char *val,
                          char *err, size_t errlen)
{
  char why[200];

  if (url_check(val, why, sizeof(why)) < 0)
    return errf(err, errlen, -EINVAL, "%s: %s", k->name,
                strncmp(why, "url: ", 5) == 0 ? why + 5 : why);
  if (strpbrk(val, "&=%+#?"))
    return errf(err, errlen, -EINVAL, "%s: no & = %% + # ? (CVAT keeps the "
                "endpoint in a query string)", k->name);
  return 0;
}

/* auto, off, or the id of a CVAT cloud storage. */
static int check_cloud_storage(const struct config_key *k, const char *val,
                               char *err, size_t errlen)
{
  if (strcmp(val, "auto") == 0 || strcmp(val, "off") == 0 ||
      (val[0] >= '1' && val[0] <= '9' && strlen(val) <= 18 &&
       strspn(val, "0123456789") == strlen(val)))
    return 0;
  return errf(err, errlen, -EINVAL, "%s: auto, off, or the id of a CVAT "
              "cloud storage", k->name);
}

static int check_cloud_credentials(const struct config_key *k,
                                   const char *val, char *err, size_t errlen)
{
  if (strcmp(val, "none") == 0 || strcmp(val, "anonymous") == 0 ||
      strcmp(val, "aws") == 0)
    return 0;
  return errf(err, errlen, -EINVAL, "%s: none, anonymous or aws", k->name);
}

/* Shown keys first, in the order `config` lists them; the secrets' slots
 * in config.c follow this table's indexes. */
static const struct config_key cvat_keys[] = {
  { "cvat.url", CFG_STRING, "", 0, 0, NULL,
    "CVAT server, e.g. https://app.cvat.ai (or CVAT_URL)", check_url, 0 },
  { "cvat.username", CFG_STRING, "", 0, 0, NULL,
    "CVAT user for password login (or CVAT_USERNAME)", check_user, 0 },
  { "cvat.password", CFG_SECRET, "", 0, 0, NULL,
    "write-only, kept in memory only (or CVAT_PASSWORD)", NULL, 0 },
  { "cvat.token", CFG_SECRET, "", 0, 0, NULL,
    "personal access token, write-only, memory only (or CVAT_TOKEN)",
    check_token, 0 },
  { "cvat.org", CFG_STRING, "", 0, 0, NULL,
    "CVAT organization slug (empty = personal workspace)", check_org, 0 },
  { "cvat.ca_bundle", CFG_STRING, "", 0, 0, NULL,
    "CA bundle file for TLS verification (empty = system CAs)", check_path,
    CFG_F_FILE },
  { "cvat.project", CFG_STRING, "curatefs", 0, 0, NULL,
    "CVAT project that receives pushed tasks", check_project, 0 },
  { "cvat.segment_size", CFG_INT, "100", 0, 1000000, NULL,
    "frames per CVAT job (0 = one job)", NULL, 0 },
  { "cvat.assignees", CFG_STRING, "", 0, 0, NULL,
    "comma-separated CVAT users, jobs assigned round-robin",
    check_assignees, 0 },
  { "cvat.field", CFG_STRING, "ground_truth", 0, 0, NULL,
    "label field pushed to and pulled from CVAT", config_check_field, 0 },
  { "cvat.cloud_storage", CFG_STRING, "auto", 0, 0, NULL,
    "bucket samples: auto (a CVAT cloud storage of the bucket), off "
    "(upload the images), or a cloud storage id", check_cloud_storage, 0 },
  { "cvat.cloud_credentials", CFG_STRING, "none", 0, 0, NULL,
    "may a push create the cloud storage: none (reuse only), anonymous, "
    "aws (sends the AWS key to CVAT)", check_cloud_credentials, 0 },
  { "cvat.cloud_endpoint", CFG_STRING, "", 0, 0, NULL,
    "S3 endpoint as CVAT reaches it (empty = the one curatefs uses)",
    check_endpoint, 0 },
  /* `curate cvat` only. */
  { "cvat.image_quality", CFG_INT, "70", 1, 100, NULL,
    "JPEG quality of CVAT's compressed chunks", NULL, CFG_F_HIDDEN },
  { "cvat.batch_bytes", CFG_STRING, "64M", 4096, 1099511627776.0, NULL,
    "request size limit of one upload batch", check_size, CFG_F_HIDDEN },
  { "cvat.connect_timeout", CFG_INT, "10", 1, 604800, NULL,
    "seconds to connect", NULL, CFG_F_HIDDEN },
  { "cvat.timeout", CFG_INT, "600", 1, 604800, NULL,
    "seconds of one HTTP attempt", NULL, CFG_F_HIDDEN },
  { "cvat.retries", CFG_INT, "6", 0, 100, NULL,
    "retries of a failed request", NULL, CFG_F_HIDDEN },
  { "cvat.wait_timeout", CFG_INT, "3600", 1, 604800, NULL,
    "seconds to wait for task creation", NULL, CFG_F_HIDDEN },
  { "cvat.poll_interval", CFG_FLOAT, "0.2", 0.01, 60, NULL,
    "seconds between polls of a request", NULL, CFG_F_HIDDEN },
};

const struct config_key *config_cvat_keys(size_t *ret_n)
{
  *ret_n = ARRAY_SIZE(cvat_keys);
  return cvat_keys;
}

const struct config_key *config_cvat_key(const char *name)
{
  if (strncmp(name, "cvat.", 5) == 0)
    name += 5;
  for (size_t i = 0; i < ARRAY_SIZE(cvat_keys); i++)
    if (strcmp(cvat_keys[i].name + 5, name) == 0)
      return &cvat_keys[i];
  return NULL;
}
