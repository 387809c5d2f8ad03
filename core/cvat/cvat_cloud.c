/* cvat_cloud.c - CVAT cloud storages: an S3 bucket that the CVAT server
 * reads itself, and tasks whose images come from one (cvat_client.h).
 *
 * CVAT keeps a cloud storage as a record: provider, bucket ("resource"),
 * credentials (never shown again) and "specific attributes", a query
 * string with the region, the endpoint and an optional key prefix.  When
 * one is created CVAT first checks the bucket with the credentials given
 * (a HEAD of the bucket) and refuses the record with a 400 naming
 * "credentials" or "resource".  A task created with cloud_storage_id and
 * server_files (object keys) gets its frames from the bucket; the frame
 * names CVAT reports are the keys.
 *
 * Secrets: the key, secret and token go into the body of one POST only;
 * no error text carries them (CVAT's messages name the bucket only).
 */
#include "cvat_client_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Decodes one application/x-www-form-urlencoded value (as Python's
 * parse_qsl, which CVAT uses) into out. */
static void form_decode(const char *s, size_t n, char *out, size_t size)
{
  size_t o = 0;

  for (size_t i = 0; i < n && o + 1 < size; i++) {
    unsigned v;
    if (s[i] == '+') {
      out[o++] = ' ';
    } else if (s[i] == '%' && i + 2 < n &&
               sscanf(s + i + 1, "%2x", &v) == 1) {
      out[o++] = (char)v;
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
}

static void strip_slashes(char *s)
{
  size_t n = strlen(s);

  while (n > 0 && s[n - 1] == '/')
    s[--n] = '\0';
}

/* region, endpoint_url and prefix out of specific_attributes. */
static void parse_attrs(const char *sa, struct cvat_cloud *cs)
{
  for (const char *p = sa; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    const char *eq = memchr(p, '=', len);

    if (eq) {
      size_t kl = (size_t)(eq - p), vl = len - kl - 1;
      if (kl == 6 && strncmp(p, "region", 6) == 0)
        form_decode(eq + 1, vl, cs->region, sizeof(cs->region));
      else if (kl == 12 && strncmp(p, "endpoint_url", 12) == 0)
        form_decode(eq + 1, vl, cs->endpoint, sizeof(cs->endpoint));
      else if (kl == 6 && strncmp(p, "prefix", 6) == 0)
        form_decode(eq + 1, vl, cs->prefix, sizeof(cs->prefix));
    }
    p = amp ? amp + 1 : NULL;
  }
  strip_slashes(cs->endpoint);
}

static void cloud_from_json(json_t *o, struct cvat_cloud *cs)
{
  memset(cs, 0, sizeof(*cs));
  cs->id = cvat_jint(o, "id");
  snprintf(cs->provider, sizeof(cs->provider), "%s",
           cvat_jtext(o, "provider_type"));
  snprintf(cs->resource, sizeof(cs->resource), "%s",
           cvat_jtext(o, "resource"));
  parse_attrs(cvat_jtext(o, "specific_attributes"), cs);
}

int cvat_cloud_get(struct cvat_client *c, int64_t id, struct cvat_cloud *ret)
{
  char path[64];
  json_t *o;
  int r;

  snprintf(path, sizeof(path), "/api/cloudstorages/%lld", (long long)id);
  r = cvat_get_json(c, path, &o);
  if (r < 0)
    return r;
  cloud_from_json(o, ret);
  json_decref(o);
  return ret->id > 0 ? 0 : cvat_fail(c, -EPROTO, "GET %s: no id", path);
}

int cvat_cloud_list(struct cvat_client *c, const char *bucket,
                    struct cvat_cloud **ret, size_t *ret_n)
{
  struct buf q;
  json_t *arr = NULL, *o;
  struct cvat_cloud *v;
  size_t i, n = 0;
  int r;

  *ret = NULL;
  *ret_n = 0;
  buf_init(&q, 1024);
  r = buf_puts(&q, "/api/cloudstorages?provider_type=AWS_S3_BUCKET&"
               "resource=");
  if (r == 0)
    r = http_escape(&q, bucket);
  if (r == 0)
    r = cvat_get_list(c, q.data, &arr);
  else
    r = cvat_fail(c, -ENOMEM, "out of memory");
  buf_free(&q);
  if (r < 0)
    return r;
  v = calloc(json_array_size(arr) + 1, sizeof(*v));
  if (!v) {
    json_decref(arr);
    return cvat_fail(c, -ENOMEM, "out of memory");
  }
  /* The filters are the server's; the bucket is checked again here. */
  json_array_foreach(arr, i, o) {
    cloud_from_json(o, &v[n]);
    if (strcmp(v[n].resource, bucket) == 0 &&
        strcmp(v[n].provider, "AWS_S3_BUCKET") == 0)
      n++;
  }
  json_decref(arr);
  *ret = v;
  *ret_n = n;
  return 0;
}

bool cvat_cloud_serves(const struct cvat_cloud *cs, const char *bucket,
                       const char *endpoint, const char *region,
                       const char *key_prefix)
{
  char want[256];

  snprintf(want, sizeof(want), "%s", endpoint);
  strip_slashes(want);
  if (strcmp(cs->provider, "AWS_S3_BUCKET") != 0 ||
      strcmp(cs->resource, bucket) != 0 ||
      strcasecmp(cs->endpoint, want) != 0)
    return false;
  if (cs->region[0] && strcmp(cs->region, region) != 0)
    return false;
  return strncmp(key_prefix, cs->prefix, strlen(cs->prefix)) == 0;
}

int cvat_cloud_status(struct cvat_client *c, int64_t id, char st[16])
{
  char path[80];
  json_t *o;
  int r;

  snprintf(path, sizeof(path), "/api/cloudstorages/%lld/status",
           (long long)id);
  r = cvat_get_json(c, path, &o);
  if (r < 0)
    return r;
  if (!json_is_string(o)) {
    json_decref(o);
    return cvat_fail(c, -EPROTO, "GET %s: not a status", path);
  }
  snprintf(st, 16, "%s", json_string_value(o));
  json_decref(o);
  return 0;
}

/* specific_attributes of a new cloud storage.  The values are written as
 * they are: CVAT splits the text on '&' and '=' before decoding it, so a
 * value holding either cannot be said at all. */
static int new_attrs(struct cvat_client *c, const struct cvat_cloud_new *n,
                     struct buf *out)
{
  int r;

  if (strpbrk(n->region, "&=%+ ") || strpbrk(n->endpoint, "&=%+ "))
    return cvat_fail(c, -EINVAL, "the region or endpoint holds a character "
                     "CVAT's specific attributes cannot carry (& = %% + or "
                     "a space)");
  r = buf_printf(out, "region=%s", n->region);
  if (r == 0 && n->endpoint[0])
    r = buf_printf(out, "&endpoint_url=%s", n->endpoint);
  return r < 0 ? cvat_fail(c, -ENOMEM, "out of memory") : 0;
}

int cvat_cloud_create(struct cvat_client *c, const struct cvat_cloud_new *n,
                      int64_t *ret_id)
{
  struct buf sa;
  json_t *body = NULL, *res = NULL;
  const char *why;
  int r;

  *ret_id = 0;
  buf_init(&sa, 512);
  r = new_attrs(c, n, &sa);
  if (r == 0)
    body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[]}", "provider_type",
                     "AWS_S3_BUCKET", "resource", n->bucket, "display_name",
                     n->display_name, "credentials_type",
                     n->key ? "KEY_SECRET_KEY_PAIR" : "ANONYMOUS_ACCESS",
                     "specific_attributes", sa.data, "manifests");
  buf_free(&sa);
  if (r < 0)
    return r;
  if (!body)
    return cvat_fail(c, -ENOMEM, "out of memory");
  if (n->key) {
    json_object_set_new(body, "key", json_string(n->key));
    json_object_set_new(body, "secret_key", json_string(n->secret));
    if (n->token)
      json_object_set_new(body, "session_token", json_string(n->token));
  }
  r = cvat_send_json(c, "POST", "/api/cloudstorages", body, true, &res);
  json_object_clear(body);   /* the secrets leave memory with the body */
  json_decref(body);
  if (r == -EINVAL) {
    /* CVAT's 400 names the field: "credentials" when its check of the
     * bucket was forbidden, "resource" when the bucket was not found. */
    why = cvat_client_error(c);
    if (strstr(why, "Access forbidden"))
      return cvat_fail(c, -EACCES, "CVAT cannot read bucket %s with the "
                       "credentials given (%s)", n->bucket, why);
    if (strstr(why, "not found"))
      return cvat_fail(c, -ENOENT, "CVAT does not find bucket %s at %s "
                       "(%s)", n->bucket, n->endpoint[0] ? n->endpoint
                                                         : "AWS", why);
  }
  if (r < 0)
    return r;
  *ret_id = cvat_jint(res, "id");
  json_decref(res);
  return *ret_id > 0 ? 0 : cvat_fail(c, -EPROTO, "POST /api/cloudstorages: "
                                     "no id in the answer");
}

int cvat_task_data_cloud(struct cvat_client *c, int64_t task_id,
                         int64_t cloud_id, const char *const *keys, size_t n,
                         char **ret_rq_id)
{
  char path[64];
  json_t *body, *res = NULL, *files;
  const char *rq;
  int r;

  *ret_rq_id = NULL;
  snprintf(path, sizeof(path), "/api/tasks/%lld/data", (long long)task_id);
  body = json_pack("{s:I, s:I, s:s, s:b, s:[]}", "image_quality",
                   (json_int_t)c->cfg.image_quality, "cloud_storage_id",
                   (json_int_t)cloud_id, "sorting_method", "predefined",
                   "use_cache", 1, "server_files");
  if (!body)
    return cvat_fail(c, -ENOMEM, "out of memory");
  files = json_object_get(body, "server_files");
  for (size_t i = 0; i < n; i++)
    json_array_append_new(files, json_string(keys[i]));
  /* Sent once: a lost answer is found again as the task's request. */
  r = cvat_send_json(c, "POST", path, body, true, &res);
  json_decref(body);
  if (r < 0)
    return r;
  rq = json_string_value(json_object_get(res, "rq_id"));
  if (!rq) {
    json_decref(res);
    return cvat_fail(c, -EPROTO, "POST %s: no rq_id in the answer", path);
  }
  *ret_rq_id = strdup(rq);
  json_decref(res);
  return *ret_rq_id ? 0 : cvat_fail(c, -ENOMEM, "out of memory");
}
