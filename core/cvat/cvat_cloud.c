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
 * Which cloud storage a push of bucket samples uses is decided here too
 * (cvat_cloud_pick), so that the push only records the answer.
 *
 * What CVAT keeps (facts of its serializers and cloud_provider.py): of an
 * S3 cloud storage's credentials only the access key and secret; a
 * session token serves the check of the bucket made when the record is
 * created, and is then dropped, so a temporary key fails every later use
 * (FORBIDDEN).  Such a key is therefore never sent.  A record's key can
 * be replaced (PATCH, checked against the bucket first), which is how a
 * push mends a cloud storage whose key was rotated away.
 *
 * Secrets: the key, secret and token go into the body of one POST or
 * PATCH only; no error text carries them (CVAT's messages name the bucket
 * only).
 */
#include "cvat_client_i.h"

#include "awsconf.h"

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
  snprintf(cs->credentials_type, sizeof(cs->credentials_type), "%s",
           cvat_jtext(o, "credentials_type"));
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

/* Zeroes the text of the secret members of a request body before it is
 * freed, so they are not left in freed memory (or a core dump). */
static void wipe_strings(json_t *body)
{
  static const char *const keys[] = { "secret_key", "session_token" };

  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    json_t *v = json_object_get(body, keys[i]);
    const char *t = json_string_value(v);

    if (t)
      secret_wipe((char *)t, json_string_length(v));
  }
}

/* CVAT's 400 names the field: "credentials" when its check of the bucket
 * was forbidden, "resource" when the bucket was not found. */
static int check_refusal(struct cvat_client *c, int r, const char *bucket,
                         const char *endpoint, const char *verb)
{
  const char *why = cvat_client_error(c);

  if (r != -EINVAL)
    return r;
  if (strstr(why, "Access forbidden"))
    return cvat_fail(c, -EACCES, "CVAT cannot read bucket %s with the "
                     "credentials %s (%s)", bucket, verb, why);
  if (strstr(why, "not found"))
    return cvat_fail(c, -ENOENT, "CVAT does not find bucket %s at %s (%s)",
                     bucket, endpoint[0] ? endpoint : "AWS", why);
  return r;
}

/* Registers the secrets of a request body for redaction, so a server
 * echoing them back in an error cannot put them into cvat/status or the
 * log. */
static int register_secrets(struct cvat_client *c, const char *secret,
                            const char *token)
{
  int r = http_client_secret(c->h, secret);

  if (r == 0 && token)
    r = http_client_secret(c->h, token);
  return r < 0 ? cvat_fail(c, r, "out of memory") : 0;
}

int cvat_cloud_create(struct cvat_client *c, const struct cvat_cloud_new *n,
                      int64_t *ret_id, bool *ret_unsure)
{
  struct cvat_call k = { .method = "POST", .path = "/api/cloudstorages",
                         .no_retry = true };
  struct buf sa;
  json_t *body = NULL, *res = NULL;
  long status = 0;
  int r;

  *ret_id = 0;
  *ret_unsure = false;
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
  if (n->key && (r = register_secrets(c, n->secret, n->token)) < 0) {
    json_decref(body);
    return r;
  }
  if (n->key) {
    json_object_set_new(body, "key", json_string(n->key));
    json_object_set_new(body, "secret_key", json_string(n->secret));
    if (n->token)
      json_object_set_new(body, "session_token", json_string(n->token));
  }
  k.body = body;
  r = cvat_call(c, &k, &status, &res);
  wipe_strings(body);   /* the secrets do not outlive the request */
  json_decref(body);
  /* No answer, or a server error after the request was sent: whether
   * CVAT made the record is unknown. */
  *ret_unsure = r < 0 && r != -ENOMEM && (status == 0 || status >= 500);
  r = check_refusal(c, r, n->bucket, n->endpoint, "given");
  if (r < 0)
    return r;
  *ret_id = cvat_jint(res, "id");
  json_decref(res);
  return *ret_id > 0 ? 0 : cvat_fail(c, -EPROTO, "POST /api/cloudstorages: "
                                     "no id in the answer");
}

int cvat_cloud_set_key(struct cvat_client *c, int64_t id, const char *key,
                       const char *secret)
{
  struct cvat_cloud cs;
  char path[64];
  json_t *cur = NULL, *man, *body, *res = NULL;
  int r;

  snprintf(path, sizeof(path), "/api/cloudstorages/%lld", (long long)id);
  r = cvat_get_json(c, path, &cur);
  if (r < 0)
    return r;
  cloud_from_json(cur, &cs);
  /* CVAT's partial update replaces the manifests with those given, none
   * when the field is absent: the current ones are sent back. */
  man = json_object_get(cur, "manifests");
  man = json_is_array(man) ? json_incref(man) : json_array();
  body = json_pack("{s:s, s:s, s:s, s:o}", "credentials_type",
                   "KEY_SECRET_KEY_PAIR", "key", key, "secret_key", secret,
                   "manifests", man);
  json_decref(cur);
  if (!body)
    return cvat_fail(c, -ENOMEM, "out of memory");
  r = register_secrets(c, secret, NULL);
  if (r == 0)
    r = cvat_send_json(c, "PATCH", path, body, false, &res);
  wipe_strings(body);
  json_decref(body);
  json_decref(res);
  return check_refusal(c, r, cs.resource, cs.endpoint, "of the current "
                       "AWS key");
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

/* ------------------------------------------------- which one a push uses */

/* A failed call: what was asked and CVAT's reason. */
static int pick_fail(struct cvat_client *c, int r, const char *what,
                     char *msg, size_t msglen)
{
  return errf(msg, msglen, r, "%s: %s", what, cvat_client_error(c));
}

/* The endpoint CVAT reaches the bucket at: cvat.cloud_endpoint, else
 * ours; "" for AWS itself (CVAT's default, the region picks the host). */
static void cvat_endpoint(const struct cvat_cloud_use *u,
                          const struct aws_conf *aws, char *out, size_t n)
{
  const char *e = u->endpoint ? u->endpoint : aws->endpoint;
  size_t l = strlen(e);

  while (l > 0 && e[l - 1] == '/')
    l--;
  if (!u->endpoint && l > 14 && strncmp(e + l - 14, ".amazonaws.com", 14) == 0)
    l = 0;
  snprintf(out, n, "%.*s", (int)l, e);
}

/* The newest cloud storage of CVAT that serves our keys; -ENOENT none. */
static int pick_find(struct cvat_client *c, const struct cvat_cloud_use *u,
                     const char *endpoint, const char *region, int64_t *id,
                     char *msg, size_t msglen)
{
  struct cvat_cloud *v;
  size_t n;
  int r = cvat_cloud_list(c, u->bucket, &v, &n);

  if (r < 0)
    return pick_fail(c, r, "cloud storages", msg, msglen);
  *id = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i].id > *id && cvat_cloud_serves(&v[i], u->bucket, endpoint,
                                           region, u->prefix))
      *id = v[i].id;
  free(v);
  return *id ? 0 : -ENOENT;
}

/* A temporary AWS key is refused before CVAT sees it: CVAT would drop its
 * session token and keep a key that fails every use. */
static int key_refused(const struct aws_conf *aws, char *msg, size_t msglen)
{
  return errf(msg, msglen, -EKEYREJECTED, "the AWS key (from %s) is "
              "temporary (it has a session token), and CVAT keeps only the "
              "access key and secret of a cloud storage, so CVAT could not "
              "read the bucket with it: give CVAT a long-term key (an "
              "AWS_PROFILE holding one), set up the cloud storage in CVAT, "
              "or upload the images (cvat.cloud_storage=off)", aws->from);
}

/* The key "aws" sends: long-term, within CVAT's limits. */
static int key_usable(const struct aws_conf *aws, char *msg, size_t msglen)
{
  if (aws->token)
    return key_refused(aws, msg, msglen);
  if (strlen(aws->key_id) > 40 || strlen(aws->secret) > 64)
    return errf(msg, msglen, -E2BIG, "the AWS credentials (from %s) are "
                "longer than CVAT keeps (access key 40, secret 64 "
                "characters)", aws->from);
  return 0;
}

/* A new cloud storage, with the AWS key for "aws" (checked first), or
 * anonymous. */
static int pick_create(struct cvat_client *c, const struct cvat_cloud_use *u,
                       const struct aws_conf *aws, const char *endpoint,
                       bool with_key, int64_t *id, char *msg, size_t msglen)
{
  struct cvat_cloud_new n = { .bucket = u->bucket, .endpoint = endpoint,
                              .region = aws->region };
  char dn[64];
  bool unsure;
  int r;

  snprintf(dn, sizeof(dn), "curatefs %s", u->bucket);
  n.display_name = dn;
  if (with_key) {
    if ((r = key_usable(aws, msg, msglen)) < 0)
      return r;
    n.key = aws->key_id;
    n.secret = aws->secret;
  }
  r = cvat_cloud_create(c, &n, id, &unsure);
  /* A lost answer (the request may have reached CVAT), or one made
   * meanwhile (CVAT's 500): listed again, never doubled. */
  if (r < 0 && unsure) {
    char why[CVAT_ERR_MAX];
    int f;

    snprintf(why, sizeof(why), "%s", cvat_client_error(c));
    f = pick_find(c, u, endpoint, aws->region, id, msg, msglen);
    if (f == 0) {
      log_msg(LOG_LVL_INFO, "cvat: run %s: cloud storage %lld found after "
              "its creation got no answer (%s)", u->run ? u->run : "?",
              (long long)*id, why);
      return 0;
    }
    if (f != -ENOENT)
      return f;      /* the listing failed too: the next push looks again */
    return errf(msg, msglen, r, "cloud storage: %s (no cloud storage of "
                "bucket %s is listed after it)", why, u->bucket);
  }
  if (r < 0)
    return pick_fail(c, r, "cloud storage", msg, msglen);
  log_msg(LOG_LVL_INFO, "cvat: run %s: cloud storage %lld created for "
          "bucket %s (%s)", u->run ? u->run : "?", (long long)*id, u->bucket,
          with_key ? "with the AWS key" : "anonymous");
  return 0;
}

/* Named, recorded, found or created (see cvat_cloud_pick). */
static int pick_id(struct cvat_client *c, const struct cvat_cloud_use *u,
                   const struct aws_conf *aws, const char *endpoint,
                   int64_t *id, char *msg, size_t msglen)
{
  const char *cred = u->credentials ? u->credentials : "none";
  bool named = u->storage && strcmp(u->storage, "auto") != 0;
  struct cvat_cloud cs;
  int r;

  *id = named ? strtoll(u->storage, NULL, 10) : u->recorded;
  if (*id) {
    r = cvat_cloud_get(c, *id, &cs);
    if (r == 0 && cvat_cloud_serves(&cs, u->bucket, endpoint, aws->region,
                                    u->prefix))
      return 0;
    if (named && r < 0)
      return pick_fail(c, r, "cloud storage", msg, msglen);
    if (named)
      return errf(msg, msglen, -EINVAL, "CVAT cloud storage %lld is for "
                  "bucket %.80s at %.80s (region %.30s, prefix '%.60s'), not "
                  "for %.120s at %.80s", (long long)*id, cs.resource,
                  cs.endpoint[0] ? cs.endpoint : "AWS",
                  cs.region[0] ? cs.region : "any", cs.prefix, u->root,
                  endpoint[0] ? endpoint : "AWS");
    if (r < 0 && r != -ENOENT)
      return pick_fail(c, r, "cloud storage", msg, msglen);
  }
  r = pick_find(c, u, endpoint, aws->region, id, msg, msglen);
  if (r != -ENOENT)
    return r;
  if (strcmp(cred, "none") == 0)
    return errf(msg, msglen, -ENOENT, "CVAT has no cloud storage for bucket "
                "%.80s at %.80s: create one in CVAT, or let the push create "
                "it (cvat.cloud_credentials=anonymous, or aws to send the "
                "AWS key), or upload the images (cvat.cloud_storage=off)",
                u->bucket, endpoint[0] ? endpoint : "AWS");
  return pick_create(c, u, aws, endpoint, strcmp(cred, "aws") == 0, id,
                     msg, msglen);
}

/* A FORBIDDEN cloud storage holding an access key, with "aws": CVAT's
 * key no longer works (rotated, deactivated, or a temporary one whose
 * token CVAT dropped), so it is given the current key, once.  1 when the
 * record holds no key (nothing of ours to mend), 0 when it was given
 * one, or an errno. */
static int pick_rekey(struct cvat_client *c, const struct cvat_cloud_use *u,
                      const struct aws_conf *aws, int64_t id, char *msg,
                      size_t msglen)
{
  struct cvat_cloud cs;
  int r = cvat_cloud_get(c, id, &cs);

  if (r < 0)
    return pick_fail(c, r, "cloud storage", msg, msglen);
  if (strcmp(cs.credentials_type, "KEY_SECRET_KEY_PAIR") != 0)
    return 1;
  if ((r = key_usable(aws, msg, msglen)) < 0)
    return r;
  r = cvat_cloud_set_key(c, id, aws->key_id, aws->secret);
  if (r < 0)
    return errf(msg, msglen, r, "CVAT cannot read bucket %.80s through its "
                "cloud storage %lld (status FORBIDDEN), and giving it the "
                "current AWS key (from %s) failed: %s", u->bucket,
                (long long)id, aws->from, cvat_client_error(c));
  log_msg(LOG_LVL_INFO, "cvat: run %s: cloud storage %lld could no longer "
          "read bucket %s; it was given the current AWS key (from %s)",
          u->run ? u->run : "?", (long long)id, u->bucket, aws->from);
  return 0;
}

/* The newest cloud storage of the bucket but `skip` that serves our keys
 * and that CVAT can read (status AVAILABLE); 0 with *id, -ENOENT none,
 * or the listing's errno.  A candidate whose status cannot be had is
 * passed over. */
static int pick_other(struct cvat_client *c, const struct cvat_cloud_use *u,
                      const char *endpoint, const char *region, int64_t skip,
                      int64_t *id, char *msg, size_t msglen)
{
  struct cvat_cloud *v;
  char st[16];
  size_t n;
  int r = cvat_cloud_list(c, u->bucket, &v, &n);

  *id = 0;
  if (r < 0)
    return pick_fail(c, r, "cloud storages", msg, msglen);
  for (size_t i = 0; i < n; i++)
    if (v[i].id != skip && v[i].id > *id &&
        cvat_cloud_serves(&v[i], u->bucket, endpoint, region, u->prefix) &&
        cvat_cloud_status(c, v[i].id, st) == 0 &&
        strcmp(st, "AVAILABLE") == 0)
      *id = v[i].id;
  free(v);
  return *id ? 0 : -ENOENT;
}

/* CVAT's status of the cloud storage *id must be AVAILABLE.  A FORBIDDEN
 * one that was not named is first replaced by another of the bucket that
 * CVAT can read: CVAT keeps one record per bucket and key, so when one
 * already holds the current key, giving it to this one too is refused by
 * CVAT's database (a server error).  Else the one mending attempt of
 * pick_rekey. */
static int pick_check(struct cvat_client *c, const struct cvat_cloud_use *u,
                      const struct aws_conf *aws, const char *endpoint,
                      int64_t *id, char *msg, size_t msglen)
{
  bool named = u->storage && strcmp(u->storage, "auto") != 0;
  char st[16] = "";
  bool rekeyed = false;
  int64_t other;
  int r = cvat_cloud_status(c, *id, st);

  if (r == 0 && strcmp(st, "FORBIDDEN") == 0 && aws->key_id) {
    if (!named && pick_other(c, u, endpoint, aws->region, *id, &other, msg,
                             msglen) == 0) {
      log_msg(LOG_LVL_INFO, "cvat: run %s: cloud storage %lld cannot read "
              "bucket %s; cloud storage %lld can, and is used",
              u->run ? u->run : "?", (long long)*id, u->bucket,
              (long long)other);
      *id = other;
      return 0;
    }
    r = pick_rekey(c, u, aws, *id, msg, msglen);
    if (r < 0)
      return r;
    rekeyed = r == 0;
    r = rekeyed ? cvat_cloud_status(c, *id, st) : 0;
  }
  if (r < 0)
    return pick_fail(c, r, "cloud storage status", msg, msglen);
  if (strcmp(st, "AVAILABLE") != 0)
    return errf(msg, msglen, strcmp(st, "FORBIDDEN") == 0 ? -EACCES
                : -ENOENT, "CVAT cannot read bucket %.80s through its cloud "
                "storage %lld (status %s%s)", u->bucket, (long long)*id, st,
                rekeyed ? ", after it was given the current AWS key" : "");
  return 0;
}

int cvat_cloud_pick(struct cvat_client *c, const struct cvat_cloud_use *u,
                    int64_t *ret_id, char *msg, size_t msglen)
{
  bool with_key = u->credentials && strcmp(u->credentials, "aws") == 0;
  struct aws_conf aws;
  char endpoint[256];
  int64_t id = 0;
  /* The key only when it may be sent: a push that reuses or creates an
   * anonymous cloud storage needs none of curatefs' credentials. */
  int r = with_key ? aws_conf_load(&aws, msg, msglen)
                   : aws_conf_load_place(&aws, msg, msglen);

  *ret_id = 0;
  if (r < 0)
    return r;
  cvat_endpoint(u, &aws, endpoint, sizeof(endpoint));
  r = pick_id(c, u, &aws, endpoint, &id, msg, msglen);
  if (r == 0)
    r = pick_check(c, u, &aws, endpoint, &id, msg, msglen);
  aws_conf_free(&aws);
  if (r == 0)
    *ret_id = id;
  return r;
}
