/* config.c - the settings table, one validator per key, and the text form
 * (see config.h).  Stored values live in store settings under "cfg:<key>";
 * secrets live in a mutex-guarded table in memory only.  CVAT's keys are in
 * config_cvat.c. */
#include "config.h"
#include "config_i.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The type's own rule: the range of a number, the words of an enum. */
static int check_type(const struct config_key *k, const char *val, char *err,
                      size_t errlen)
{
  char *end;

  switch (k->type) {
  case CFG_INT: {
    long long v;
    errno = 0;
    v = strtoll(val, &end, 10);
    if (!*val || *end || errno || v < k->min || v > k->max)
      return errf(err, errlen, -EINVAL, "%s: \"%s\" is not an integer in "
                  "[%.0f, %.0f]", k->name, val, k->min, k->max);
    return 0;
  }
  case CFG_FLOAT: {
    double v = strtod(val, &end);
    if (!*val || *end || !isfinite(v) || v < k->min || v > k->max)
      return errf(err, errlen, -EINVAL, "%s: \"%s\" is not a number in "
                  "[%g, %g]", k->name, val, k->min, k->max);
    return 0;
  }
  case CFG_BOOL:
    if (strcmp(val, "true") && strcmp(val, "false"))
      return errf(err, errlen, -EINVAL, "%s: \"%s\" is not true or false",
                  k->name, val);
    return 0;
  case CFG_ENUM: {
    size_t vl = strlen(val);
    for (const char *p = k->choices; *p;) {
      const char *e = strchr(p, '|');
      size_t l = e ? (size_t)(e - p) : strlen(p);
      if (l == vl && strncmp(p, val, l) == 0)
        return 0;
      p += l + (e ? 1 : 0);
    }
    return errf(err, errlen, -EINVAL, "%s: \"%s\" is not one of %s",
                k->name, val, k->choices);
  }
  case CFG_STRING:
  case CFG_SECRET:
    return 0;
  }
  return -EINVAL;
}

static int check_tag(const struct config_key *k, const char *val, char *err,
                     size_t errlen)
{
  if (!store_tag_name_valid(val))
    return errf(err, errlen, -EINVAL, "%s: \"%s\" is not a valid tag name "
                "(as for mkdir tags/)", k->name, val);
  return 0;
}

/* Every key of the mount but CVAT's (config_cvat.c), in the order `config`
 * shows them.  Defaults are documented in docs/USER-GUIDE.md; the
 * near-duplicate threshold comes from the measurement in
 * core/compute/neardup.h. */
static const struct config_key keys[] = {
  { "unique.count", CFG_INT, "100", 0, 10000000, NULL,
    "samples in views/unique (0 = all, ranked)", NULL, 0 },
  { "neardup.threshold", CFG_FLOAT, "0.09", 0, 2, NULL,
    "cosine distance at or below which two images are near-duplicates",
    NULL, 0 },
  { "neardup.verify", CFG_FLOAT, "0.7", 0, 1, NULL,
    "detail correlation two aligned thumbnails must reach to be "
    "near-duplicates (0 = no check)", NULL, 0 },
  { "dupes.iou", CFG_FLOAT, "0.75", 0, 1, NULL,
    "IoU above which two boxes of one sample count as duplicates", NULL, 0 },
  { "dupes.classes", CFG_ENUM, "same", 0, 0, "same|all",
    "compare boxes of the same class only, or of all classes", NULL, 0 },
  { "dupes.field", CFG_STRING, "", 0, 0, NULL,
    "label field searched for duplicate boxes (empty = every field)",
    config_check_field, 0 },
  { "export.field", CFG_STRING, "ground_truth", 0, 0, NULL,
    "label field written by export/", config_check_field, 0 },
  { "export.train", CFG_STRING, "train", 0, 0, NULL,
    "tag that makes the train subset of exports", check_tag, 0 },
  { "export.val", CFG_STRING, "val", 0, 0, NULL,
    "tag that makes the val subset of exports", check_tag, 0 },
  { "export.test", CFG_STRING, "test", 0, 0, NULL,
    "tag that makes the test subset of exports", check_tag, 0 },
  { "export.frame", CFG_ENUM, "auto", 0, 0, "auto|stored|viewer",
    "frame of sizes, boxes and crops for EXIF-turned photos: auto (COCO, "
    "VOC stored; YOLO, ImageNet as a viewer shows them), stored, viewer",
    NULL, 0 },
  { "export.prewarm", CFG_BOOL, "true", 0, 0, NULL,
    "generate the COCO JSON of export/coco/ ahead, after each change",
    NULL, 0 },
  { "eval.gt_field", CFG_STRING, "ground_truth", 0, 0, NULL,
    "ground-truth field of evaluations", config_check_field, 0 },
  { "eval.pred_field", CFG_STRING, "predictions", 0, 0, NULL,
    "prediction field of evaluations", config_check_field, 0 },
  { "eval.iou", CFG_FLOAT, "0.5", 0.05, 0.95, NULL,
    "IoU at which a prediction matches a ground-truth box", NULL, 0 },
  { "plots.color_by", CFG_ENUM, "tag", 0, 0, "tag|class|uniqueness|group",
    "colour of points in plots/embeddings.jpg", NULL, 0 },
  { "plots.sheet_count", CFG_INT, "0", 0, 1000, NULL,
    "images per contact sheet plots/views/<v>.jpg (0 = unique.count, at "
    "most 400)", NULL, 0 },
};

/* Key i of the mount's table: ours, then CVAT's shown ones. */
static const struct config_key *key_at(size_t i)
{
  size_t nc;
  const struct config_key *c = config_cvat_keys(&nc);

  if (i < ARRAY_SIZE(keys))
    return &keys[i];
  i -= ARRAY_SIZE(keys);
  return i < nc && !(c[i].flags & CFG_F_HIDDEN) ? &c[i] : NULL;
}

const struct config_key *config_key_find(const char *name)
{
  const struct config_key *k;

  for (size_t i = 0; (k = key_at(i)) != NULL; i++)
    if (strcmp(k->name, name) == 0)
      return k;
  return NULL;
}

int config_check(const struct config_key *k, const char *val, char *err,
                 size_t errlen)
{
  int r;

  if (strlen(val) > 1000)
    return errf(err, errlen, -EINVAL, "%s: value too long (at most 1000 "
                "bytes)", k->name);
  if (!utf8_valid(val, strlen(val)) || !no_control_chars(val, strlen(val)))
    return errf(err, errlen, -EINVAL, "%s: control character or invalid "
                "UTF-8 in value", k->name);
  r = check_type(k, val, err, errlen);
  if (r == 0 && k->check && *val)
    r = k->check(k, val, err, errlen);
  return r;
}

int config_check_set(const struct config_key *k, const char *val, char *err,
                     size_t errlen)
{
  int r = config_check(k, val, err, errlen);

  if (r == 0 && *val && (k->flags & CFG_F_FILE)) {
    /* Set by whoever writes it, readable by them (the mount carries the
     * write out with the writer's rights).  A regular file only: a FIFO
     * named here would block the thread that checks it. */
    int fd = open_regular(val);
    if (fd < 0)
      return errf(err, errlen, -EINVAL, "%s: %s: %s", k->name, val,
                  fd == -EINVAL ? "not a regular file" : strerror(-fd));
    close(fd);
  }
  return r;
}

static void setting_key(const char *name, char *out, size_t outlen)
{
  snprintf(out, outlen, "cfg:%s", name);
}

int config_get(struct store_txn *t, const char *name, char **ret)
{
  const struct config_key *k = config_key_find(name);
  char sk[128];
  int r;

  *ret = NULL;
  if (!k)
    return -ENOENT;
  if (k->type == CFG_SECRET)
    return -EPERM;
  setting_key(name, sk, sizeof(sk));
  r = store_setting_get(t, sk, ret);
  if (r == 0 && config_check(k, *ret, NULL, 0) < 0) {
    free(*ret);  /* damaged or from an older build: fall back */
    *ret = NULL;
    r = -ENOENT;
  }
  if (r == -ENOENT) {
    *ret = strdup(k->def);
    return *ret ? 0 : -ENOMEM;
  }
  return r;
}

bool config_is_set(struct store_txn *t, const char *name)
{
  char sk[128], *v = NULL;
  bool set;

  setting_key(name, sk, sizeof(sk));
  set = store_setting_get(t, sk, &v) == 0;
  free(v);
  return set;
}

int64_t config_get_int(struct store_txn *t, const char *name)
{
  char *v = NULL;
  int64_t x = 0;

  if (config_get(t, name, &v) == 0)
    x = strtoll(v, NULL, 10);
  free(v);
  return x;
}

double config_get_float(struct store_txn *t, const char *name)
{
  char *v = NULL;
  double x = 0;

  if (config_get(t, name, &v) == 0)
    x = strtod(v, NULL);
  free(v);
  return x;
}

bool config_get_bool(struct store_txn *t, const char *name)
{
  char *v = NULL;
  bool x = false;

  if (config_get(t, name, &v) == 0)
    x = strcmp(v, "true") == 0;
  free(v);
  return x;
}

void config_get_str(struct store_txn *t, const char *name, char *out,
                    size_t outlen)
{
  char *v = NULL;

  if (outlen)
    out[0] = '\0';
  if (config_get(t, name, &v) == 0 && outlen)
    snprintf(out, outlen, "%s", v);
  free(v);
}

int config_render(struct store_txn *t, struct buf *out)
{
  int r = buf_puts(out,
    "# curatefs settings: write \"key = value\" lines to change them\n"
    "# (a bad line refuses the whole write; \"key =\" restores the default).\n"
    "\n");

  const struct config_key *k;

  for (size_t i = 0; r >= 0 && (k = key_at(i)) != NULL; i++) {
    char *v = NULL;
    char sv[8];
    if (k->type == CFG_SECRET) {
      r = buf_printf(out, "%s = %s  # %s\n", k->name,
                     config_secret_get(k->name, sv, sizeof(sv)) ? "(set)"
                                                                 : "(unset)",
                     k->comment);
      continue;
    }
    r = config_get(t, k->name, &v);
    if (r >= 0)
      r = buf_printf(out, "%s = %s  # %s\n", k->name, v, k->comment);
    free(v);
  }
  return r < 0 ? r : 0;
}

/* One parsed line. */
struct cfg_line {
  const struct config_key *k;
  char *val;
};

struct cfg_doc {
  struct cfg_line *v;
  size_t n, cap;
};

/* Parses and checks one line (edited in place); a line to apply goes into
 * d.  0 (also for blank and comment lines) or -EINVAL with the reason. */
static int parse_line(char *line, size_t lineno, struct cfg_doc *d,
                      char *err, size_t errlen)
{
  char *eq, *name, *val, *hash;
  const struct config_key *k;
  int r;

  line = str_trim(line);
  if (!*line || *line == '#')
    return 0;
  eq = strchr(line, '=');
  if (!eq)
    return errf(err, errlen, -EINVAL, "line %zu: expected \"key = value\"",
                lineno);
  *eq = '\0';
  name = str_trim(line);
  val = eq + 1;
  /* A trailing "  # comment" (as `config` shows) is not part of the
   * value; a '#' inside a value needs no space before it. */
  hash = strstr(val, " #");
  if (!hash)
    hash = strstr(val, "\t#");
  if (hash)
    *hash = '\0';
  val = str_trim(val);
  k = config_key_find(name);
  if (!k)
    return errf(err, errlen, -EINVAL, "line %zu: unknown key \"%.100s\"",
                lineno, name);
  /* Reading `config` and writing it back must work: a rendered secret
   * placeholder leaves the secret as it is. */
  if (k->type == CFG_SECRET &&
      (strcmp(val, "(set)") == 0 || strcmp(val, "(unset)") == 0))
    return 0;
  if (*val && (r = config_check_set(k, val, err, errlen)) < 0) {
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "line %zu: %s", lineno, err);
    snprintf(err, errlen, "%s", tmp);
    return r;
  }
  if (d->n == d->cap) {
    struct cfg_line *nv;
    d->cap = d->cap ? d->cap * 2 : 16;
    nv = realloc(d->v, d->cap * sizeof(*nv));
    if (!nv)
      return -ENOMEM;
    d->v = nv;
  }
  d->v[d->n].k = k;
  d->v[d->n++].val = val;
  return 0;
}

/* Stores the checked lines in t; secrets wait (config_apply). */
static int store_lines(struct store_txn *t, const struct cfg_doc *d,
                       unsigned *changed)
{
  int r = 0;

  for (size_t i = 0; r == 0 && i < d->n; i++) {
    const struct config_key *k = d->v[i].k;
    const char *val = d->v[i].val;
    char sk[128], *old = NULL;
    if (k->type == CFG_SECRET) {
      char cur[8];
      if (config_secret_get(k->name, cur, sizeof(cur)) || *val)
        (*changed)++;
      continue;  /* applied after the transaction is known good */
    }
    if (config_get(t, k->name, &old) == 0 &&
        strcmp(old, *val ? val : k->def))
      (*changed)++;
    free(old);
    setting_key(k->name, sk, sizeof(sk));
    r = *val ? store_setting_set(t, sk, val) : store_setting_del(t, sk);
  }
  return r;
}

int config_apply(struct store_txn *t, const char *doc, size_t len,
                 char *err, size_t errlen, unsigned *ret_changed)
{
  struct cfg_doc d = { NULL, 0, 0 };
  size_t lineno = 0;
  char *copy, *p, *save = NULL;
  unsigned changed = 0;
  int r = 0;

  *ret_changed = 0;
  if (memchr(doc, '\0', len))
    return errf(err, errlen, -EINVAL, "NUL byte in config text");
  copy = malloc(len + 1);
  if (!copy)
    return -ENOMEM;
  memcpy(copy, doc, len);
  copy[len] = '\0';
  /* Pass 1: parse and check every line; nothing is applied yet. */
  for (p = copy; r == 0 && p; p = save) {
    save = strchr(p, '\n');
    if (save)
      *save++ = '\0';
    r = parse_line(p, ++lineno, &d, err, errlen);
  }
  /* Pass 2: store. */
  if (r == 0)
    r = store_lines(t, &d, &changed);
  for (size_t i = 0; r == 0 && i < d.n; i++)
    if (d.v[i].k->type == CFG_SECRET)
      config_secret_set(d.v[i].k->name, d.v[i].val);
  free(d.v);
  /* The copy held the values, secrets included: wipe before freeing. */
  secret_wipe(copy, len);
  free(copy);
  *ret_changed = changed;
  return r;
}

/* ---- secrets ---- */

/* The secret keys are CVAT's; their values are indexed like its table. */
#define SECRET_SLOTS 32
static pthread_mutex_t secret_mu = PTHREAD_MUTEX_INITIALIZER;
static char *secret_vals[SECRET_SLOTS];   /* guarded by secret_mu */
static uint64_t secret_gen;               /* guarded by secret_mu */

static ptrdiff_t secret_index(const char *name)
{
  size_t n;
  const struct config_key *c = config_cvat_keys(&n);

  for (size_t i = 0; i < n && i < SECRET_SLOTS; i++)
    if (c[i].type == CFG_SECRET && strcmp(c[i].name, name) == 0)
      return (ptrdiff_t)i;
  return -1;
}

void config_secret_set(const char *name, const char *val)
{
  ptrdiff_t i = secret_index(name);

  if (i < 0)
    return;
  pthread_mutex_lock(&secret_mu);
  secret_free(secret_vals[i]);
  secret_vals[i] = val && *val ? strdup(val) : NULL;
  secret_gen++;
  pthread_mutex_unlock(&secret_mu);
}

bool config_secret_get(const char *name, char *out, size_t outlen)
{
  ptrdiff_t i = secret_index(name);
  bool set = false;

  if (outlen)
    out[0] = '\0';
  if (i < 0)
    return false;
  pthread_mutex_lock(&secret_mu);
  if (secret_vals[i]) {
    set = true;
    if (outlen)
      snprintf(out, outlen, "%s", secret_vals[i]);
  }
  pthread_mutex_unlock(&secret_mu);
  return set;
}

uint64_t config_secret_generation(void)
{
  uint64_t g;

  pthread_mutex_lock(&secret_mu);
  g = secret_gen;
  pthread_mutex_unlock(&secret_mu);
  return g;
}

void config_secret_clear(void)
{
  pthread_mutex_lock(&secret_mu);
  for (size_t i = 0; i < SECRET_SLOTS; i++) {
    secret_free(secret_vals[i]);
    secret_vals[i] = NULL;
  }
  pthread_mutex_unlock(&secret_mu);
}
