/* cvat_sync.c - runs: push, pull, undo and the per-run texts (see
 * cvat_sync.h).
 *
 * Records this module owns (all in the store's records table):
 *   cvat.run   <run>                     JSON object, the run (version 1)
 *   cvat.map   <run> 0 <sample u64be>    pairs (CVAT shape id i64, label
 *                                        id u64), host order
 *   cvat.undo  <run> 0 <seq u64be>       labels + map of the run's samples
 *                                        before pull number seq, then the
 *                                        classes that pull created ("CVU2")
 * A run's JSON is small (ids, not labels); the identity map is split per
 * sample so a pull rewrites only what it touches.
 *
 * Network I/O never happens inside a store transaction: a push writes the
 * record between steps, and a pull downloads everything first, then merges
 * in one write transaction.
 */
#include "cvat_sync.h"

#include "classes.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include "imgfmt.h"
#include "labels_json.h"

#define NS_RUN "cvat.run"
#define NS_MAP "cvat.map"
#define NS_UNDO "cvat.undo"
#define UNDO_MAGIC 0x43565531u  /* "CVU1": labels and maps */
#define UNDO_MAGIC2 0x43565532u /* "CVU2": then the classes the pull made */

const char *cvat_phase_name(enum cvat_phase p)
{
  static const char *const n[] = { "accepted", "project", "task", "upload",
                                   "processing", "boxes", "ready", "failed",
                                   "task deleted in CVAT" };
  return (unsigned)p < ARRAY_SIZE(n) ? n[p] : "?";
}

bool cvat_run_name_valid(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > CVAT_RUN_NAME_MAX || name[0] == '.')
    return false;
  return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789_.-") == n;
}

static const char *field_of(const struct cvat_config *cfg)
{
  return cfg->field ? cfg->field : "ground_truth";
}

/* ---------------------------------------------------------------- records */

static int run_load(struct store_txn *t, const char *name, json_t **ret)
{
  const void *v;
  size_t n;
  int r;

  *ret = NULL;
  r = store_rec_get(t, NS_RUN, name, strlen(name), &v, &n);
  if (r < 0)
    return r;
  *ret = json_loadb(v, n, 0, NULL);
  return *ret && json_is_object(*ret) ? 0 : -EBADMSG;
}

static int run_save(struct store_txn *t, const char *name, json_t *run)
{
  char *s = json_dumps(run, JSON_COMPACT);
  int r;

  if (!s)
    return -ENOMEM;
  r = store_rec_put(t, NS_RUN, name, strlen(name), s, strlen(s));
  free(s);
  return r;
}

static int64_t jget(json_t *o, const char *k)
{
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static const char *jgets(json_t *o, const char *k)
{
  return json_string_value(json_object_get(o, k));
}

static void jset(json_t *o, const char *k, int64_t v)
{
  json_object_set_new(o, k, json_integer(v));
}

void cvat_run_free(struct cvat_run *r)
{
  if (!r)
    return;
  free(r->name);
  free(r->source);
  free(r->field);
  free(r->error);
  free(r->samples);
  free(r->jobs);
  free(r->last_pull);
  free(r->url);
  memset(r, 0, sizeof(*r));
}

static char *sdup(const char *s)
{
  return s ? strdup(s) : NULL;
}

static int run_from_json(json_t *o, struct cvat_run *r)
{
  json_t *arr, *e;
  size_t i;

  memset(r, 0, sizeof(*r));
  r->name = sdup(jgets(o, "name"));
  r->source = sdup(jgets(o, "source"));
  r->field = sdup(jgets(o, "field"));
  r->error = sdup(jgets(o, "error"));
  r->last_pull = sdup(jgets(o, "last_pull"));
  r->url = sdup(jgets(o, "url"));
  r->phase = (enum cvat_phase)jget(o, "phase");
  r->done = (uint64_t)jget(o, "done");
  r->total = (uint64_t)jget(o, "total");
  r->created_ns = jget(o, "created");
  r->project_id = jget(o, "project");
  r->task_id = jget(o, "task");
  r->pulls = (uint64_t)jget(o, "pulls");
  r->undo_depth = (uint64_t)jget(o, "undo");
  arr = json_object_get(o, "samples");
  r->samples = calloc(json_array_size(arr) + 1, sizeof(uint64_t));
  arr = json_object_get(o, "jobs");
  r->jobs = calloc(json_array_size(arr) + 1, sizeof(*r->jobs));
  if (!r->name || !r->source || !r->field || !r->samples || !r->jobs) {
    cvat_run_free(r);
    return -ENOMEM;
  }
  json_array_foreach(json_object_get(o, "samples"), i, e)
    r->samples[r->n_samples++] = (uint64_t)json_integer_value(e);
  json_array_foreach(arr, i, e) {
    for (size_t k = 0; k < 3; k++)
      r->jobs[r->n_jobs][k] = json_integer_value(json_array_get(e, k));
    r->n_jobs++;
  }
  return 0;
}

int cvat_run_get(struct store *s, const char *name, struct cvat_run *ret)
{
  struct store_txn *t;
  json_t *o = NULL;
  int r;

  memset(ret, 0, sizeof(*ret));
  if (!cvat_run_name_valid(name))
    return -ENOENT;
  r = store_txn_begin(s, false, &t);
  if (r < 0)
    return r;
  r = run_load(t, name, &o);
  store_txn_abort(t);
  if (r == 0)
    r = run_from_json(o, ret);
  json_decref(o);
  return r;
}

struct name_list {
  char **v;
  size_t n;
};

static int collect_name(const void *key, size_t klen, const void *val,
                        size_t vlen, void *ud)
{
  struct name_list *l = ud;
  char **p = realloc(l->v, (l->n + 1) * sizeof(*p));

  (void)val;
  (void)vlen;
  if (!p)
    return -ENOMEM;
  l->v = p;
  l->v[l->n] = strndup(key, klen);
  if (!l->v[l->n])
    return -ENOMEM;
  l->n++;
  return 0;
}

void cvat_names_free(char **names, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

int cvat_runs_list(struct store *s, char ***ret_names, size_t *ret_n)
{
  struct name_list l = { NULL, 0 };
  struct store_txn *t;
  int r;

  *ret_names = NULL;
  *ret_n = 0;
  r = store_txn_begin(s, false, &t);
  if (r < 0)
    return r;
  r = store_rec_each(t, NS_RUN, "", 0, false, collect_name, &l);
  store_txn_abort(t);
  if (r < 0) {
    cvat_names_free(l.v, l.n);
    return r;
  }
  *ret_names = l.v;
  *ret_n = l.n;
  return 0;
}

/* Applies a change to the run record in a write transaction of its own. */
struct upd {
  int phase;            /* -1 = unchanged */
  int64_t done, total;  /* -1 = unchanged */
  const char *error;    /* NULL = unchanged, "" = clear */
  json_t *set;          /* other keys to set (borrowed), or NULL */
};

static int run_update(struct store *s, const char *name, const struct upd *u,
                      struct cvat_run *ret)
{
  struct store_txn *t;
  json_t *o;
  int r;

  r = store_txn_begin(s, true, &t);
  if (r < 0)
    return r;
  r = run_load(t, name, &o);
  if (r == 0) {
    if (u->phase >= 0)
      jset(o, "phase", u->phase);
    if (u->done >= 0)
      jset(o, "done", u->done);
    if (u->total >= 0)
      jset(o, "total", u->total);
    if (u->error && *u->error)
      json_object_set_new(o, "error", json_string(u->error));
    else if (u->error)
      json_object_del(o, "error");
    if (u->set)
      json_object_update(o, u->set);
    r = run_save(t, name, o);
    if (r == 0 && ret)
      r = run_from_json(o, ret);
  }
  json_decref(o);
  if (r < 0) {
    store_txn_abort(t);
    return r;
  }
  return store_txn_commit(t);
}

/* Map keys: run 0 sample. */
static size_t map_key(uint8_t *k, const char *run, uint64_t sample)
{
  size_t n = strlen(run);

  memcpy(k, run, n);
  k[n] = 0;
  store_key_u64(k + n + 1, sample);
  return n + 9;
}

struct pair {
  int64_t shape;
  uint64_t label;
};

static int map_get(struct store_txn *t, const char *run, uint64_t sample,
                   struct pair **ret, size_t *ret_n)
{
  uint8_t k[CVAT_RUN_NAME_MAX + 9];
  const void *v;
  size_t n;
  int r;

  *ret = NULL;
  *ret_n = 0;
  r = store_rec_get(t, NS_MAP, k, map_key(k, run, sample), &v, &n);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  if (n % sizeof(struct pair))
    return -EBADMSG;
  *ret = malloc(n + 1);
  if (!*ret)
    return -ENOMEM;
  memcpy(*ret, v, n);
  *ret_n = n / sizeof(struct pair);
  return 0;
}

static int map_put(struct store_txn *t, const char *run, uint64_t sample,
                   const struct pair *p, size_t n)
{
  uint8_t k[CVAT_RUN_NAME_MAX + 9];
  size_t kl = map_key(k, run, sample);

  if (n == 0) {
    int r = store_rec_del(t, NS_MAP, k, kl);
    return r == -ENOENT ? 0 : r;
  }
  return store_rec_put(t, NS_MAP, k, kl, p, n * sizeof(*p));
}

/* ---------------------------------------------------------------- begin */

static int store_uid(struct store_txn *t, char out[17])
{
  char *v = NULL;
  int r = store_setting_get(t, "cvat.uid", &v);

  if (r == 0) {
    snprintf(out, 17, "%s", v);
    free(v);
    return 0;
  }
  if (r != -ENOENT)
    return r;
  {
    uint64_t x = 0;
    if (getrandom(&x, sizeof(x), 0) != sizeof(x))
      x = (uint64_t)time_now_ns() * 6364136223846793005ull;
    snprintf(out, 17, "%016" PRIx64, x);
  }
  return store_setting_set(t, "cvat.uid", out);
}

#define NO_CLASSES_MSG                                                     \
  "the store has no classes, so annotators would have no label to draw "   \
  "with: name them in the push (e.g. 'views/unique classes=cat,dog'), or "  \
  "add them first ('add cat' into the classes file, or curate classes add)"

/* CVAT's limit is in characters (code points), not bytes. */
static bool label_name_fits(const char *name)
{
  size_t chars = 0;

  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if ((*p & 0xc0) != 0x80)
      chars++;
  return chars <= CVAT_LABEL_NAME_MAX;
}

struct label_check {
  char bad[LABELS_MAX_CLASS_NAME + 1];
};

static int check_label_name(const struct store_class *c, void *ud)
{
  struct label_check *lc = ud;

  if (label_name_fits(c->name) && labels_class_name_valid(c->name))
    return 0;
  snprintf(lc->bad, sizeof(lc->bad), "%s", c->name);
  return 1;
}

int cvat_push_begin(struct store *s, const struct cvat_config *cfg,
                    const char *source, const uint64_t *ids, size_t n,
                    char *const *classes, size_t n_classes,
                    const char *run_name, char **ret_name, char *err,
                    size_t errlen)
{
  struct cvat_client *c = NULL;
  struct store_txn *t = NULL;
  uint64_t *uniq = NULL, *sorted = NULL;
  bool *used = NULL;
  size_t nu = 0;
  char name[CVAT_RUN_NAME_MAX + 1], uid[17];
  struct label_check lc = { "" };
  json_t *o = NULL, *old = NULL, *arr;
  int r;

  *ret_name = NULL;
  if (!source || !*source)
    return errf(err, errlen, -EINVAL, "no source given");
  if (n == 0)
    return errf(err, errlen, -EINVAL, "%s has no samples to push", source);
  if (run_name && !cvat_run_name_valid(run_name))
    return errf(err, errlen, -EINVAL, "bad run name '%.80s' (1-64 "
                "characters of [A-Za-z0-9_.-])", run_name);
  /* Duplicates dropped, first occurrence kept. */
  uniq = malloc(n * sizeof(*uniq));
  sorted = malloc(n * sizeof(*sorted));
  if (!uniq || !sorted) {
    r = -ENOMEM;
    goto out;
  }
  memcpy(sorted, ids, n * sizeof(*ids));
  qsort(sorted, n, sizeof(*sorted), cmp_u64);
  used = calloc(n, sizeof(*used));
  if (!used) {
    r = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t *hit = bsearch(&ids[i], sorted, n, sizeof(*sorted), cmp_u64);
    size_t at = (size_t)(hit - sorted);
    while (at > 0 && sorted[at - 1] == ids[i])
      at--;
    if (!used[at]) {
      used[at] = true;
      uniq[nu++] = ids[i];
    }
  }
  /* Every sample must exist. */
  r = store_txn_begin(s, false, &t);
  for (size_t i = 0; r == 0 && i < nu; i++) {
    struct sample sm;
    r = store_sample_get(t, uniq[i], &sm);
    if (r == -ENOENT) {
      errf(err, errlen, r, "sample %" PRIu64 " does not exist", uniq[i]);
      goto out;
    }
  }
  if (r == 0 && n_classes == 0) {
    size_t nc = 0;
    r = classes_count(t, &nc);
    if (r == 0 && nc == 0) {
      r = errf(err, errlen, -EINVAL, NO_CLASSES_MSG);
      goto out;
    }
  }
  for (size_t i = 0; r == 0 && i < n_classes; i++) {
    if (!labels_class_name_valid(classes[i])) {
      r = errf(err, errlen, -EINVAL, "bad class name '%.80s'", classes[i]);
      goto out;
    }
    if (!label_name_fits(classes[i])) {
      r = errf(err, errlen, -EINVAL, "class name '%.80s' is longer than "
               "the %d characters CVAT allows for a label name",
               classes[i], CVAT_LABEL_NAME_MAX);
      goto out;
    }
  }
  /* Every class of the store becomes a label of the project: one that
   * CVAT would refuse fails the push now, before anything is recorded. */
  if (r == 0)
    r = store_classes_each(t, check_label_name, &lc);
  if (r == 1) {
    r = errf(err, errlen, -EINVAL, "class '%.80s' cannot be a CVAT label "
             "(CVAT wants at most %d characters of UTF-8): rename it "
             "first ('rename OLD -> NEW' into the classes file)", lc.bad,
             CVAT_LABEL_NAME_MAX);
    goto out;
  }
  store_txn_abort(t);
  t = NULL;
  if (r < 0) {
    errf(err, errlen, r, "cannot read the store: %s", strerror(-r));
    goto out;
  }
  /* Server reachable and credentials good, before anything is recorded. */
  r = cvat_connect(cfg, &c, err, errlen);
  if (r < 0)
    goto out;
  r = store_txn_begin(s, true, &t);
  if (r < 0)
    goto out;
  /* The classes to annotate join the store's schema with the run. */
  r = classes_ensure(t, classes, n_classes, NULL, err, errlen);
  if (r < 0)
    goto out;
  if (run_name) {
    snprintf(name, sizeof(name), "%s", run_name);
  } else {
    for (unsigned i = 1;; i++) {
      const void *v;
      size_t vl;
      snprintf(name, sizeof(name), "run-%u", i);
      if (store_rec_get(t, NS_RUN, name, strlen(name), &v, &vl) == -ENOENT)
        break;
    }
  }
  r = run_load(t, name, &old);
  if (r == 0) {
    /* Same name again: resume an unfinished push of the same samples. */
    json_t *os = json_object_get(old, "samples"), *e;
    size_t i, same = json_array_size(os) == nu;
    json_array_foreach(os, i, e) {
      bool found = false;
      for (size_t k = 0; same && k < nu && !found; k++)
        found = (uint64_t)json_integer_value(e) == uniq[k];
      same = same && found;
    }
    if (jget(old, "phase") == CVAT_PHASE_READY || !same) {
      r = errf(err, errlen, -EEXIST, "run '%s' exists%s", name,
               same ? " and is pushed (pull it, or push under another name)"
                    : " with other samples");
      goto out;
    }
    r = 0;
    goto accepted;
  }
  if (r != -ENOENT)
    goto out;
  r = store_uid(t, uid);
  o = json_pack("{s:i, s:s, s:s, s:s, s:i, s:I, s:s, s:[]}", "v", 1, "name",
                name, "source", source, "field", field_of(cfg), "phase",
                CVAT_PHASE_ACCEPTED, "created", (json_int_t)time_now_ns(),
                "project_name", cfg->project ? cfg->project : "curatefs",
                "samples");
  if (!o) {
    r = -ENOMEM;
    goto out;
  }
  {
    char tn[128];
    snprintf(tn, sizeof(tn), "curatefs-%s-%s", uid, name);
    json_object_set_new(o, "task_name", json_string(tn));
    json_object_set_new(o, "url", json_string(cfg->url));
  }
  arr = json_object_get(o, "samples");
  for (size_t i = 0; i < nu; i++)
    json_array_append_new(arr, json_integer((json_int_t)uniq[i]));
  jset(o, "total", (int64_t)nu);
  if (r == 0)
    r = run_save(t, name, o);
accepted:
  if (r == 0) {
    r = store_txn_commit(t);
    t = NULL;
  }
  if (r < 0) {
    errf(err, errlen, r, "cannot record the run: %s", strerror(-r));
    goto out;
  }
  *ret_name = strdup(name);
  if (!*ret_name)
    r = -ENOMEM;
out:
  store_txn_abort(t);
  json_decref(o);
  json_decref(old);
  cvat_client_free(c);
  free(uniq);
  free(sorted);
  free(used);
  return r;
}

/* ---------------------------------------------------------------- push */

struct pushctx {
  struct store *s;
  const char *run;
  cvat_progress_fn fn;
  void *ud;
};

static void report(struct pushctx *p, int phase, int64_t done, int64_t total)
{
  struct upd u = { .phase = phase, .done = done, .total = total };
  struct cvat_run r;

  if (run_update(p->s, p->run, &u, p->fn ? &r : NULL) == 0 && p->fn) {
    p->fn(&r, p->ud);
    cvat_run_free(&r);
  }
}

static void on_batch(size_t files, uint64_t bytes, void *ud)
{
  (void)bytes;
  report(ud, CVAT_PHASE_UPLOAD, (int64_t)files, -1);
}

/* Upload name of a sample: its display name, flattened to a base name
 * (CVAT keeps only base names) with the extension of its format (.jpg,
 * .png ...): the bytes uploaded are the original file's. */
static char *upload_name(const char *name, int format)
{
  size_t n = strlen(name);
  const char *ext = img_ext_of(format);
  char *s = malloc(n + strlen(ext) + 1);

  if (!s)
    return NULL;
  for (size_t i = 0; i < n; i++)
    s[i] = name[i] == '/' || name[i] == '\\' ? '_' : name[i];
  memcpy(s + n, ext, strlen(ext) + 1);
  return s;
}

struct name_vec {
  char **v;
  size_t n;
};

static int add_class_name(const struct store_class *c, void *ud)
{
  struct name_vec *nv = ud;
  char **p = realloc(nv->v, (nv->n + 2) * sizeof(*p));

  if (!p)
    return -ENOMEM;
  nv->v = p;
  if (!(nv->v[nv->n] = strdup(c->name)))
    return -ENOMEM;
  nv->n++;
  return 0;
}

/* Every class of the store, in id order: the project's labels. */
static int classes_all(struct store_txn *t, char ***ret, size_t *ret_n)
{
  struct name_vec nv = { NULL, 0 };
  int r = store_classes_each(t, add_class_name, &nv);

  if (r < 0) {
    cvat_names_free(nv.v, nv.n);
    return r;
  }
  *ret = nv.v;
  *ret_n = nv.n;
  return 0;
}

struct files {
  struct cvat_file *f;
  char **names, **paths;
  size_t n;
};

static void files_free(struct files *f)
{
  cvat_names_free(f->names, f->n);
  cvat_names_free(f->paths, f->n);
  free(f->f);
  memset(f, 0, sizeof(*f));
}

static int files_build(struct store_txn *t, const struct cvat_run *run,
                       const char *root, struct files *fs, char *err,
                       size_t errlen)
{
  size_t n = run->n_samples;
  int r = 0;

  fs->f = calloc(n + 1, sizeof(*fs->f));
  fs->names = calloc(n + 1, sizeof(char *));
  fs->paths = calloc(n + 1, sizeof(char *));
  if (!fs->f || !fs->names || !fs->paths)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    struct sample sm;
    r = store_sample_get(t, run->samples[i], &sm);
    if (r < 0)
      return errf(err, errlen, r, "sample %" PRIu64 ": %s", run->samples[i],
                  strerror(-r));
    if (sm.flags & SAMPLE_MISSING)
      return errf(err, errlen, -ENOENT, "sample %s: its file is missing",
                  sm.name);
    {
      /* Nothing outside the dataset folder is uploaded (util.h). */
      int fd = dataset_open(root, sm.relpath);
      if (fd < 0)
        return errf(err, errlen, fd == -EXDEV ? -EACCES : fd, "sample %s: "
                    "%s", sm.name, fd == -EXDEV ? "its file leads out of "
                    "the dataset folder (a symbolic link?)" : strerror(-fd));
      close(fd);
    }
    fs->names[i] = upload_name(sm.name, sm.format);
    fs->paths[i] = path_join(root, sm.relpath);
    fs->n++;
    if (!fs->names[i] || !fs->paths[i])
      return -ENOMEM;
    fs->f[i].name = fs->names[i];
    fs->f[i].path = fs->paths[i];
    fs->f[i].size = sm.size;
  }
  return 0;
}

/* The run's boxes as shapes (frame i = samples[i]). */
static int shapes_build(struct store_txn *t, const struct cvat_run *run,
                        const struct cvat_labels *labels,
                        struct cvat_shape **ret, size_t *ret_n)
{
  struct cvat_shape *v = NULL;
  size_t n = 0, cap = 0;
  int r = 0;

  for (size_t i = 0; r == 0 && i < run->n_samples; i++) {
    struct labels l;
    struct label_field *f;

    labels_init(&l);
    r = store_labels_get(t, run->samples[i], &l);
    f = r == 0 ? labels_field(&l, run->field, false) : NULL;
    for (size_t j = 0; f && r == 0 && j < f->n; j++) {
      const struct detection *d = &f->d[j];
      const char *cname = d->label;
      const struct cvat_label *cl;
      char idbuf[24];

      if (!cname && store_class_name(t, d->class_id, &cname) < 0)
        continue;
      cl = cvat_labels_by_name(labels, cname);
      if (!cl)
        continue;
      if (n == cap) {
        struct cvat_shape *p;
        cap = cap ? cap * 2 : 256;
        p = realloc(v, cap * sizeof(*p));
        if (!p) {
          r = -ENOMEM;
          break;
        }
        v = p;
      }
      memset(&v[n], 0, sizeof(v[n]));
      v[n].frame = (int64_t)i;
      v[n].label = cl->id;
      v[n].x1 = d->x;
      v[n].y1 = d->y;
      v[n].x2 = d->x + d->w;
      v[n].y2 = d->y + d->h;
      v[n].rect = true;
      snprintf(idbuf, sizeof(idbuf), "%" PRIu64, d->id);
      v[n].label_id = strdup(idbuf);
      if (!v[n].label_id)
        r = -ENOMEM;
      n++;
    }
    labels_free(&l);
  }
  if (r < 0) {
    cvat_shapes_free(v, n);
    return r;
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

static int parse_id(const char *s, uint64_t *ret)
{
  char *end;
  unsigned long long v;

  if (!s || !*s || *s < '0' || *s > '9')
    return -EINVAL;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v == 0)
    return -EINVAL;
  *ret = v;
  return 0;
}

/* Writes the identity map from the server's copies of uploaded shapes. */
static int map_from_upload(struct store *s, const struct cvat_run *run,
                           const struct cvat_shape *sh, size_t n)
{
  struct store_txn *t;
  struct pair *p = malloc((n + 1) * sizeof(*p));
  size_t *cnt = calloc(run->n_samples + 1, sizeof(size_t));
  size_t *start = calloc(run->n_samples + 2, sizeof(size_t));
  struct pair *sorted = malloc((n + 1) * sizeof(*sorted));
  int r;

  if (!p || !cnt || !start || !sorted) {
    r = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (sh[i].frame >= 0 && (size_t)sh[i].frame < run->n_samples)
      cnt[sh[i].frame]++;
  for (size_t i = 0; i < run->n_samples; i++)
    start[i + 1] = start[i] + cnt[i];
  memset(cnt, 0, run->n_samples * sizeof(size_t));
  for (size_t i = 0; i < n; i++) {
    uint64_t lid;
    size_t fr = (size_t)sh[i].frame;
    if (sh[i].frame < 0 || fr >= run->n_samples ||
        parse_id(sh[i].label_id, &lid) < 0)
      continue;
    sorted[start[fr] + cnt[fr]].shape = sh[i].id;
    sorted[start[fr] + cnt[fr]].label = lid;
    cnt[fr]++;
  }
  r = store_txn_begin(s, true, &t);
  for (size_t i = 0; r == 0 && i < run->n_samples; i++)
    r = map_put(t, run->name, run->samples[i], sorted + start[i], cnt[i]);
  if (r == 0)
    r = store_txn_commit(t);
  else
    store_txn_abort(t);
out:
  free(p);
  free(cnt);
  free(start);
  free(sorted);
  return r;
}

static int push_fail(struct pushctx *p, int r, char *err, size_t errlen,
                     const char *msg)
{
  struct upd u = { .phase = CVAT_PHASE_FAILED, .done = -1, .total = -1,
                   .error = msg };
  struct cvat_run run;

  errf(err, errlen, r, "%s", msg);
  if (run_update(p->s, p->run, &u, p->fn ? &run : NULL) == 0 && p->fn) {
    p->fn(&run, p->ud);
    cvat_run_free(&run);
  }
  log_msg(LOG_LVL_WARN, "cvat: push of run %s failed: %s", p->run, msg);
  return r;
}

int cvat_push_run(struct store *s, const struct cvat_config *cfg,
                  const char *runname, const char *dataset_root,
                  cvat_progress_fn fn, void *ud, char *err, size_t errlen)
{
  struct pushctx pc = { s, runname, fn, ud };
  struct cvat_client *c = NULL;
  struct cvat_run run;
  struct cvat_labels labels = { 0, NULL };
  struct cvat_task task;
  struct files fs = { 0 };
  struct cvat_shape *sh = NULL, *back = NULL;
  size_t nsh = 0, nback = 0;
  struct cvat_job *jobs = NULL;
  size_t njobs = 0;
  char **classes = NULL, **frames = NULL, *root = NULL, *rq = NULL;
  size_t nclasses = 0, nframes = 0;
  char msg[CVAT_ERR_MAX];
  struct store_txn *t = NULL;
  json_t *rec = NULL, *set = NULL;
  int64_t pid, tid = 0;
  int r;

  r = cvat_run_get(s, runname, &run);
  if (r < 0)
    return errf(err, errlen, r, "run '%s': %s", runname,
                r == -ENOENT ? "no such run" : strerror(-r));
  if (run.phase == CVAT_PHASE_READY) {
    cvat_run_free(&run);
    return 0;
  }
  /* What the push needs from the store, read once. */
  r = store_txn_begin(s, false, &t);
  if (r == 0)
    r = run_load(t, runname, &rec);
  if (r == 0)
    r = classes_all(t, &classes, &nclasses);
  if (r == 0 && nclasses == 0) {
    store_txn_abort(t);
    t = NULL;
    r = push_fail(&pc, -EINVAL, err, errlen, NO_CLASSES_MSG);
    goto out;
  }
  if (r == 0 && !dataset_root) {
    r = store_setting_get(t, "root", &root);
    if (r == -ENOENT)
      r = -EINVAL;
  }
  if (r == 0)
    r = files_build(t, &run, dataset_root ? dataset_root : root, &fs, msg,
                    sizeof(msg));
  else
    snprintf(msg, sizeof(msg), "cannot read the store: %s", strerror(-r));
  store_txn_abort(t);
  t = NULL;
  if (r < 0) {
    r = push_fail(&pc, r, err, errlen, msg);
    goto out;
  }
  {
    struct upd u = { .phase = CVAT_PHASE_PROJECT, .done = 0, .total = -1,
                     .error = "" };
    run_update(s, runname, &u, NULL);
  }
  r = cvat_connect(cfg, &c, msg, sizeof(msg));
  if (r < 0) {
    r = push_fail(&pc, r, err, errlen, msg);
    goto out;
  }
#define CFAIL(what)                                                          \
  do {                                                                       \
    snprintf(msg, sizeof(msg), "%s: %s", what, cvat_client_error(c));        \
    r = push_fail(&pc, r, err, errlen, msg);                                 \
    goto out;                                                                \
  } while (0)
  r = cvat_project_ensure(c, jgets(rec, "project_name"),
                          (const char *const *)classes, nclasses, &pid,
                          &labels);
  if (r < 0)
    CFAIL("project");
  set = json_object();
  jset(set, "project", pid);
  {
    struct upd u = { .phase = CVAT_PHASE_TASK, .done = -1, .total = -1,
                     .set = set };
    run_update(s, runname, &u, NULL);
  }
  /* The task: the recorded one, or one of the same name (a creation whose
   * answer was lost), or a new one; recorded before any upload. */
  for (int tries = 0; tries < 3 && !tid; tries++) {
    if (run.task_id && tries == 0) {
      r = cvat_task_get(c, run.task_id, &task);
      if (r == 0) {
        tid = run.task_id;
        break;
      }
      if (r != -ENOENT)
        CFAIL("task");
    }
    r = cvat_task_find(c, jgets(rec, "task_name"), pid, &tid);
    if (r == -ENOENT)
      r = cvat_task_create(c, jgets(rec, "task_name"), pid, cfg->segment_size,
                           &tid);
    if (r < 0 && (r == -EINVAL || r == -EACCES || r == -EPERM ||
                  r == -ENOENT || tries == 2))
      CFAIL("task");
  }
  jset(set, "task", tid);
  {
    struct upd u = { .phase = CVAT_PHASE_UPLOAD, .done = 0,
                     .total = (int64_t)fs.n, .set = set };
    run_update(s, runname, &u, NULL);
  }
  r = cvat_task_get(c, tid, &task);
  if (r < 0)
    CFAIL("task");
  if (task.size == 0) {
    char st[16] = "";
    r = cvat_request_find(c, tid, &rq, st);
    if (r == 0 && strcmp(st, "failed") == 0) {
      /* A failed creation leaves an unusable task: start over with a
       * fresh one (as CVAT's UI does). */
      cvat_task_delete(c, tid);
      free(rq);
      rq = NULL;
      json_object_set_new(set, "task", json_integer(0));
      {
        struct upd u = { .phase = CVAT_PHASE_FAILED, .done = -1,
                         .total = -1, .set = set };
        run_update(s, runname, &u, NULL);
      }
      r = -EIO;
      snprintf(msg, sizeof(msg), "CVAT failed to create the task; it was "
               "deleted, push again to retry");
      r = push_fail(&pc, r, err, errlen, msg);
      goto out;
    }
    if (r == -ENOENT || (r == 0 && st[0] == 0)) {
      free(rq);
      rq = NULL;
      r = cvat_task_upload(c, tid, fs.f, fs.n, on_batch, &pc, &rq);
      if (r < 0)
        CFAIL("upload");
    } else if (r < 0) {
      CFAIL("upload");
    }
    report(&pc, CVAT_PHASE_PROCESS, (int64_t)fs.n, -1);
    r = cvat_request_wait(c, rq);
    if (r == -ECANCELED) {
      /* Not a failure: the run stays in its phase and resumes. */
      errf(err, errlen, r, "%s", cvat_client_error(c));
      goto out;
    }
    if (r == -EIO) {
      cvat_task_delete(c, tid);
      json_object_set_new(set, "task", json_integer(0));
      {
        struct upd u = { .phase = -1, .done = -1, .total = -1, .set = set };
        run_update(s, runname, &u, NULL);
      }
    }
    if (r < 0)
      CFAIL("task creation");
  }
  /* Frame order from data/meta, never assumed from the upload order. */
  r = cvat_task_frames(c, tid, &frames, &nframes);
  if (r < 0)
    CFAIL("frames");
  {
    json_t *samples = json_array();
    bool ok = nframes == fs.n;
    for (size_t i = 0; ok && i < nframes; i++) {
      size_t k = 0;
      while (k < fs.n && strcmp(fs.names[k], frames[i]) != 0)
        k++;
      ok = k < fs.n;
      if (ok)
        json_array_append_new(samples, json_integer((json_int_t)
                                                    run.samples[k]));
    }
    if (!ok) {
      json_decref(samples);
      r = -EPROTO;
      snprintf(msg, sizeof(msg), "CVAT's frames (%zu) do not match the %zu "
               "uploaded images", nframes, fs.n);
      r = push_fail(&pc, r, err, errlen, msg);
      goto out;
    }
    json_object_set_new(set, "samples", samples);
  }
  r = cvat_jobs_list(c, tid, &jobs, &njobs);
  if (r < 0)
    CFAIL("jobs");
  {
    json_t *ja = json_array();
    for (size_t i = 0; i < njobs; i++)
      json_array_append_new(ja, json_pack("[I,I,I]", (json_int_t)jobs[i].id,
                                          (json_int_t)jobs[i].start_frame,
                                          (json_int_t)jobs[i].stop_frame));
    json_object_set_new(set, "jobs", ja);
  }
  {
    struct upd u = { .phase = CVAT_PHASE_BOXES, .done = 0, .total = -1,
                     .set = set };
    cvat_run_free(&run);
    r = run_update(s, runname, &u, &run);
    if (r < 0) {
      snprintf(msg, sizeof(msg), "cannot record the frames: %s",
               strerror(-r));
      r = push_fail(&pc, r, err, errlen, msg);
      goto out;
    }
  }
  /* Round-robin assignment of jobs nobody has yet. */
  for (size_t i = 0; cfg->n_assignees && i < njobs; i++) {
    if (jobs[i].assignee[0])
      continue;
    r = cvat_job_update(c, jobs[i].id, cfg->assignees[i % cfg->n_assignees],
                        NULL, NULL);
    if (r < 0)
      CFAIL("job assignment");
  }
  r = store_txn_begin(s, false, &t);
  if (r == 0)
    r = shapes_build(t, &run, &labels, &sh, &nsh);
  store_txn_abort(t);
  t = NULL;
  if (r < 0) {
    snprintf(msg, sizeof(msg), "cannot read labels: %s", strerror(-r));
    r = push_fail(&pc, r, err, errlen, msg);
    goto out;
  }
  report(&pc, CVAT_PHASE_BOXES, 0, (int64_t)nsh);
  r = cvat_annotations_put(c, tid, sh, nsh, &labels, &back, &nback);
  if (r < 0)
    CFAIL("boxes");
  r = map_from_upload(s, &run, back, nback);
  if (r < 0) {
    snprintf(msg, sizeof(msg), "cannot record the boxes: %s", strerror(-r));
    r = push_fail(&pc, r, err, errlen, msg);
    goto out;
  }
  report(&pc, CVAT_PHASE_READY, (int64_t)nsh, (int64_t)nsh);
  log_msg(LOG_LVL_INFO, "cvat: run %s pushed: task %lld, %zu images, %zu "
          "boxes, %zu jobs", runname, (long long)tid, fs.n, nsh, njobs);
#undef CFAIL
out:
  cvat_shapes_free(sh, nsh);
  cvat_shapes_free(back, nback);
  free(jobs);
  cvat_names_free(frames, nframes);
  cvat_names_free(classes, nclasses);
  cvat_labels_free(&labels);
  files_free(&fs);
  free(root);
  free(rq);
  json_decref(rec);
  json_decref(set);
  cvat_run_free(&run);
  cvat_client_free(c);
  return r;
}

/* ---------------------------------------------------------------- undo */

static int put_bytes(struct buf *b, const void *p, size_t n)
{
  return buf_append(b, p, n);
}

/* Appends one sample's labels and map to an undo snapshot. */
static int snap_sample(struct store_txn *t, const char *run, uint64_t id,
                       struct buf *b)
{
  struct labels l;
  struct pair *p = NULL;
  size_t np = 0;
  uint32_t nf;
  int r;

  labels_init(&l);
  r = store_labels_get(t, id, &l);
  if (r == 0)
    r = map_get(t, run, id, &p, &np);
  nf = (uint32_t)l.n;
  if (r == 0)
    r = put_bytes(b, &id, 8);
  if (r == 0)
    r = put_bytes(b, &nf, 4);
  for (size_t i = 0; r == 0 && i < l.n; i++) {
    uint16_t nl = (uint16_t)strlen(l.f[i].name);
    size_t at;
    uint32_t bl;
    r = put_bytes(b, &nl, 2);
    if (r == 0)
      r = put_bytes(b, l.f[i].name, nl);
    at = b->len;
    bl = 0;
    if (r == 0)
      r = put_bytes(b, &bl, 4);
    if (r == 0)
      r = labels_field_encode(&l.f[i], b);
    if (r == 0) {
      bl = (uint32_t)(b->len - at - 4);
      memcpy(b->data + at, &bl, 4);
    }
  }
  if (r == 0) {
    uint32_t n32 = (uint32_t)np;
    r = put_bytes(b, &n32, 4);
    if (r == 0 && np)
      r = put_bytes(b, p, np * sizeof(*p));
  }
  free(p);
  labels_free(&l);
  return r;
}

struct rd {
  const uint8_t *p, *end;
};

static int take(struct rd *d, void *out, size_t n)
{
  if ((size_t)(d->end - d->p) < n)
    return -EBADMSG;
  if (out)
    memcpy(out, d->p, n);
  d->p += n;
  return 0;
}

/* Restores every sample of a snapshot. */
static int snap_restore(struct store_txn *t, const char *run, const void *v,
                        size_t n)
{
  struct rd d = { v, (const uint8_t *)v + n };
  uint32_t magic, ns;
  int r;

  r = take(&d, &magic, 4);
  if (r == 0 && magic != UNDO_MAGIC && magic != UNDO_MAGIC2)
    r = -EBADMSG;
  if (r == 0)
    r = take(&d, &ns, 4);
  for (uint32_t i = 0; r == 0 && i < ns; i++) {
    uint64_t id;
    uint32_t nf, np;
    struct labels l;

    labels_init(&l);
    r = take(&d, &id, 8);
    if (r == 0)
      r = take(&d, &nf, 4);
    for (uint32_t k = 0; r == 0 && k < nf; k++) {
      uint16_t nl;
      uint32_t bl;
      char name[LABELS_MAX_FIELD_NAME + 1];
      struct label_field *f;

      r = take(&d, &nl, 2);
      if (r == 0 && nl > LABELS_MAX_FIELD_NAME)
        r = -EBADMSG;
      if (r == 0)
        r = take(&d, name, nl);
      if (r < 0)
        break;
      name[nl] = 0;
      r = take(&d, &bl, 4);
      if (r == 0 && (size_t)(d.end - d.p) < bl)
        r = -EBADMSG;
      if (r < 0)
        break;
      f = labels_field(&l, name, true);
      if (!f) {
        r = -ENOMEM;
        break;
      }
      r = labels_field_decode(d.p, bl, f);
      d.p += bl;
    }
    if (r == 0)
      r = take(&d, &np, 4);
    if (r == 0 && (size_t)(d.end - d.p) / sizeof(struct pair) < np)
      r = -EBADMSG;
    if (r == 0) {
      struct pair *p = malloc((size_t)np * sizeof(*p) + 1);
      if (!p)
        r = -ENOMEM;
      if (r == 0) {
        memcpy(p, d.p, (size_t)np * sizeof(*p));
        d.p += (size_t)np * sizeof(*p);
        r = map_put(t, run, id, p, np);
      }
      free(p);
    }
    if (r == 0)
      r = store_labels_put(t, id, &l);
    labels_free(&l);
  }
  /* Then the classes that pull created, unless boxes use them again. */
  if (r == 0 && magic == UNDO_MAGIC2) {
    uint32_t nc, next;
    r = take(&d, &next, 4);
    if (r == 0)
      r = take(&d, &nc, 4);
    for (uint32_t i = 0; r == 0 && i < nc; i++) {
      uint32_t cid;
      uint64_t boxes = 0;
      const char *name;
      char copy[LABELS_MAX_CLASS_NAME + 1];

      r = take(&d, &cid, 4);
      if (r == 0 && store_class_name(t, cid, &name) == 0) {
        snprintf(copy, sizeof(copy), "%s", name);   /* borrowed */
        r = store_class_boxes(t, cid, &boxes);
        if (r == 0 && boxes == 0)
          r = store_class_delete(t, copy);
      }
    }
    /* Their ids go back too when nothing newer exists, so the schema is
     * the one before the pull, next id included. */
    if (r == 0 && nc && store_class_reset_next(t, next) == -EBUSY)
      r = 0;
  }
  return r;
}

static size_t undo_key(uint8_t *k, const char *run, uint64_t seq)
{
  return map_key(k, run, seq);
}

struct last {
  uint64_t seq;
};

static int find_last(const void *key, size_t klen, const void *val,
                     size_t vlen, void *ud)
{
  struct last *l = ud;

  (void)val;
  (void)vlen;
  if (klen >= 8)
    l->seq = store_key_rd_u64((const uint8_t *)key + klen - 8);
  return 0;
}

int cvat_undo(struct store *s, const char *run, char *err, size_t errlen)
{
  struct store_txn *t;
  uint8_t k[CVAT_RUN_NAME_MAX + 9];
  size_t kl = strlen(run) + 1;
  struct last last = { 0 };
  const void *v;
  size_t vn;
  json_t *o = NULL;
  int r;

  if (!cvat_run_name_valid(run))
    return errf(err, errlen, -ENOENT, "no run '%.80s'", run);
  r = store_txn_begin(s, true, &t);
  if (r < 0)
    return errf(err, errlen, r, "cannot open the store: %s", strerror(-r));
  r = run_load(t, run, &o);
  if (r == -ENOENT) {
    errf(err, errlen, r, "no run '%s'", run);
    goto fail;
  }
  memcpy(k, run, kl);
  if (r == 0)
    r = store_rec_each(t, NS_UNDO, k, kl, false, find_last, &last);
  if (r == 0 && last.seq == 0) {
    r = errf(err, errlen, -ENOENT, "run '%s' has no pull to undo", run);
    goto fail;
  }
  kl = undo_key(k, run, last.seq);
  if (r == 0)
    r = store_rec_get(t, NS_UNDO, k, kl, &v, &vn);
  if (r == 0) {
    /* v points into the map: copy before writing. */
    void *copy = malloc(vn + 1);
    if (!copy) {
      r = -ENOMEM;
    } else {
      memcpy(copy, v, vn);
      r = snap_restore(t, run, copy, vn);
      free(copy);
    }
  }
  if (r == 0)
    r = store_rec_del(t, NS_UNDO, k, kl);
  if (r == 0) {
    jset(o, "undo", jget(o, "undo") > 0 ? jget(o, "undo") - 1 : 0);
    json_object_set_new(o, "last_pull", json_string("undone"));
    r = run_save(t, run, o);
  }
  json_decref(o);
  o = NULL;
  if (r < 0) {
    errf(err, errlen, r, "undo of run '%s' failed: %s; labels unchanged",
         run, strerror(-r));
    goto fail;
  }
  r = store_txn_commit(t);
  if (r < 0)
    return errf(err, errlen, r, "undo of run '%s' failed: %s", run,
                strerror(-r));
  return 0;
fail:
  json_decref(o);
  store_txn_abort(t);
  return r;
}

/* ---------------------------------------------------------------- pull */

/* Adds name to a comma-separated list unless it is there. */
static void note_name(char *list, size_t size, const char *name)
{
  size_t n = strlen(list), l = strlen(name);
  const char *p = list;

  while ((p = strstr(p, name)) != NULL) {
    if ((p == list || p[-1] == ',') && (p[l] == ',' || p[l] == 0))
      return;
    p += l;
  }
  /* Keep room for ",..." so a cut list says it was cut. */
  if (strcmp(list, "...") == 0 ||
      (n >= 4 && strcmp(list + n - 4, ",...") == 0))
    return;
  if (n + l + 2 + 4 < size)
    snprintf(list + n, size - n, "%s%s", n ? "," : "", name);
  else
    snprintf(list + n, size - n, "%s...", n ? "," : "");
}

static void note_unknown(struct cvat_pull_report *rep, const char *name)
{
  note_name(rep->unknown_classes, sizeof(rep->unknown_classes), name);
}

static void clip_box(struct detection *d, double x1, double y1, double x2,
                     double y2, uint32_t w, uint32_t h, uint64_t *clipped)
{
  double a, b;

  if (x2 < x1) {
    a = x1; x1 = x2; x2 = a;
  }
  if (y2 < y1) {
    b = y1; y1 = y2; y2 = b;
  }
  if (w && h && (x1 < 0 || y1 < 0 || x2 > w || y2 > h)) {
    /* Rotated shapes carry float noise (cos 90 is not 0 in doubles): a
     * box out by less than that is clamped but not reported. */
    const double eps = 1e-6;
    if (x1 < -eps || y1 < -eps || x2 > w + eps || y2 > h + eps)
      (*clipped)++;
    x1 = x1 < 0 ? 0 : x1 > w ? w : x1;
    x2 = x2 < 0 ? 0 : x2 > w ? w : x2;
    y1 = y1 < 0 ? 0 : y1 > h ? h : y1;
    y2 = y2 < 0 ? 0 : y2 > h ? h : y2;
  }
  d->x = x1;
  d->y = y1;
  d->w = x2 - x1;
  d->h = y2 - y1;
}

struct frame_shapes {
  size_t start, n;
};

/* Counts by name (shape types, classes) for the report. */
struct tally {
  struct tally_ent {
    char name[LABELS_MAX_CLASS_NAME + 1];
    uint32_t id;
    uint64_t n, added;
  } *v;
  size_t n;
};

static struct tally_ent *tally_get(struct tally *t, const char *name,
                                   uint32_t id)
{
  struct tally_ent *p;

  for (size_t i = 0; i < t->n; i++)
    if (name ? strcmp(t->v[i].name, name) == 0 : t->v[i].id == id)
      return &t->v[i];
  p = realloc(t->v, (t->n + 1) * sizeof(*p));
  if (!p)
    return NULL;
  t->v = p;
  p = &t->v[t->n++];
  memset(p, 0, sizeof(*p));
  p->id = id;
  snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
  return p;
}

static int tally_add(struct tally *t, const char *name, uint32_t id,
                     uint64_t n, uint64_t added)
{
  struct tally_ent *e = tally_get(t, name, id);

  if (!e)
    return -ENOMEM;
  e->n += n;
  e->added += added;
  return 0;
}

/* "2 polyline, 1 tag" into out (cut with "..." when it does not fit). */
static void tally_text(const struct tally *t, char *out, size_t n)
{
  size_t at = 0;

  out[0] = 0;
  for (size_t i = 0; i < t->n && at < n; i++) {
    int w = snprintf(out + at, n - at, "%s%" PRIu64 " %s", i ? ", " : "",
                     t->v[i].n, t->v[i].name);
    if (w < 0 || (size_t)w >= n - at) {
      snprintf(out + (n > 4 ? n - 4 : 0), n > 4 ? 4 : n, "...");
      return;
    }
    at += (size_t)w;
  }
}

struct merge {
  struct store_txn *t;
  const char *run;
  const char *field;
  const struct cvat_labels *labels;
  struct cvat_pull_report *rep;
  struct tally other, converted, per_class;
};

static bool uploaded(const struct pair *p, size_t n, uint64_t label)
{
  for (size_t i = 0; i < n; i++)
    if (p[i].label == label)
      return true;
  return false;
}

/* Merges the shapes of one frame into one sample. */
static int merge_sample(struct merge *m, uint64_t sid,
                        const struct cvat_shape *sh, size_t nsh)
{
  struct labels l;
  struct label_field *f, nf = { 0 };
  struct pair *map = NULL, *nmap = NULL;
  size_t nmap_n = 0, nm = 0, n0;
  int *match = NULL;               /* per old detection: shape index or -1 */
  int *bind = NULL;                /* per shape: old index, -1 new, -2 skip */
  uint32_t *cls = NULL;
  struct sample smp;
  bool changed = false, map_changed = false;
  int r;

  labels_init(&l);
  r = store_sample_get(m->t, sid, &smp);
  if (r == 0)
    r = store_labels_get(m->t, sid, &l);
  if (r == 0)
    r = map_get(m->t, m->run, sid, &map, &nm);
  if (r < 0)
    goto out;
  f = labels_field(&l, m->field, false);
  n0 = f ? f->n : 0;
  match = malloc((n0 + 1) * sizeof(int));
  bind = malloc((nsh + 1) * sizeof(int));
  cls = calloc(nsh + 1, sizeof(uint32_t));
  nmap = malloc((nsh + 1) * sizeof(*nmap));
  if (!match || !bind || !cls || !nmap) {
    r = -ENOMEM;
    goto out;
  }
  for (size_t k = 0; k < n0; k++)
    match[k] = -1;
  for (size_t i = 0; i < nsh; i++) {
    const struct cvat_label *cl = cvat_labels_by_id(m->labels, sh[i].label);
    uint64_t lid = 0;
    int k = -1;
    bool known;

    bind[i] = -2;
    if (!sh[i].rect) {
      /* No box: counted and named, by type and label. */
      char what[LABELS_MAX_CLASS_NAME + 24];
      m->rep->other_shapes++;
      snprintf(what, sizeof(what), "%s (%s)", sh[i].type,
               cl ? cl->name : "?");
      r = tally_add(&m->other, what, 0, 1, 0);
      if (r < 0)
        goto out;
      continue;
    }
    if (sh[i].converted) {
      m->rep->converted++;
      r = tally_add(&m->converted, sh[i].type, 0, 1, 0);
      if (r < 0)
        goto out;
    }
    known = cl && store_class_id(m->t, cl->name, false, &cls[i]) == 0;
    if (!known) {
      m->rep->unknown++;
      note_unknown(m->rep, cl ? cl->name : "?");
    }
    /* Identity: our label_id attribute, then the shape id map. */
    if (parse_id(sh[i].label_id, &lid) == 0)
      for (size_t j = 0; j < n0 && k < 0; j++)
        if (f->d[j].id == lid && match[j] < 0)
          k = (int)j;
    for (size_t p = 0; k < 0 && p < nm; p++)
      if (map[p].shape == sh[i].id)
        for (size_t j = 0; j < n0 && k < 0; j++)
          if (f->d[j].id == map[p].label && match[j] < 0)
            k = (int)j;
    if (k >= 0) {
      match[k] = (int)i;
      bind[i] = known ? k : -3;   /* -3: kept unchanged, class unknown */
    } else if (known) {
      bind[i] = -1;
    }
  }
  if (r < 0)
    goto out;
  /* The new field: old detections in order (updated or deleted), then the
   * new ones. */
  for (size_t k = 0; r == 0 && k < n0; k++) {
    struct detection d = f->d[k];
    int i = match[k];

    if (i < 0 && uploaded(map, nm, d.id)) {
      m->rep->deleted++;
      changed = true;
      continue;
    }
    if (i >= 0 && bind[i] >= 0) {
      const struct cvat_shape *s = &sh[i];
      if (s->x1 == d.x && s->y1 == d.y && s->x2 == d.x + d.w &&
          s->y2 == d.y + d.h && cls[i] == d.class_id) {
        m->rep->unchanged++;
      } else {
        clip_box(&d, s->x1, s->y1, s->x2, s->y2, smp.width, smp.height,
                 &m->rep->clipped);
        d.class_id = cls[i];
        d.label = NULL;   /* resolved from class_id */
        m->rep->updated++;
        changed = true;
      }
    }
    if (i >= 0) {
      nmap[nmap_n].shape = sh[i].id;
      nmap[nmap_n++].label = d.id;
    }
    r = labels_field_add(&nf, &d);
  }
  for (size_t i = 0; r == 0 && i < nsh; i++) {
    struct detection d;
    if (bind[i] != -1)
      continue;
    memset(&d, 0, sizeof(d));
    d.confidence = NAN;
    d.class_id = cls[i];
    clip_box(&d, sh[i].x1, sh[i].y1, sh[i].x2, sh[i].y2, smp.width,
             smp.height, &m->rep->clipped);
    r = labels_field_add(&nf, &d);
    nmap[nmap_n].shape = sh[i].id;
    nmap[nmap_n++].label = 0;      /* filled after the put */
    m->rep->added++;
    if (r == 0)
      r = tally_add(&m->per_class, NULL, cls[i], 0, 1);
    changed = true;
  }
  for (size_t k = 0; r == 0 && k < nf.n; k++)
    r = tally_add(&m->per_class, NULL, nf.d[k].class_id, 1, 0);
  if (r < 0)
    goto out;
  if (changed) {
    if (!f) {
      f = labels_field(&l, m->field, true);
      if (!f) {
        r = -ENOMEM;
        goto out;
      }
    }
    /* Swap the new detections in; the old ones are freed with nf. */
    {
      struct label_field tmp = *f;
      f->n = nf.n;
      f->cap = nf.cap;
      f->d = nf.d;
      nf.n = tmp.n;
      nf.cap = tmp.cap;
      nf.d = tmp.d;
    }
    r = store_labels_put(m->t, sid, &l);
    if (r < 0)
      goto out;
    /* New boxes got ids: they follow the kept ones, in order. */
    f = labels_field(&l, m->field, false);
    {
      size_t nid = 0;
      for (size_t i = 0; i < nmap_n; i++)
        if (nmap[i].label == 0)
          nid++;
      for (size_t i = 0, j = f->n - nid; i < nmap_n; i++)
        if (nmap[i].label == 0)
          nmap[i].label = f->d[j++].id;
    }
    m->rep->samples++;
  }
  map_changed = nmap_n != nm ||
                (nm && memcmp(map, nmap, nm * sizeof(*map)) != 0);
  if (map_changed || changed)
    r = map_put(m->t, m->run, sid, nmap, nmap_n);
out:
  nf.name = NULL;
  for (size_t i = 0; i < nf.n; i++)
    detection_clear(&nf.d[i]);
  free(nf.d);
  labels_free(&l);
  free(map);
  free(nmap);
  free(match);
  free(bind);
  free(cls);
  return r;
}

/* Creates a class for every top-level label of the project that the store
 * lacks, appending to the undo snapshot the next class id before them and
 * their ids (u32 next, u32 count, u32 ids). */
static int classes_from_labels(struct store_txn *t,
                               const struct cvat_labels *labels,
                               struct cvat_pull_report *rep, struct buf *snap)
{
  size_t at;
  uint32_t n = 0, next = 0;
  int r = store_class_count(t, &next);

  next++;   /* the next id before this pull */
  if (r == 0)
    r = buf_append(snap, &next, 4);
  at = snap->len;
  if (r == 0)
    r = buf_append(snap, &n, 4);

  for (size_t i = 0; r == 0 && i < labels->n; i++) {
    const struct cvat_label *l = &labels->v[i];
    uint32_t id;

    if (l->parent_id || !labels_class_name_valid(l->name))
      continue;   /* a skeleton's point, or a name no class can have */
    r = store_class_id(t, l->name, false, &id);
    if (r != -ENOENT)
      continue;
    r = store_class_id(t, l->name, true, &id);
    if (r == 0)
      r = buf_append(snap, &id, 4);
    if (r == 0) {
      n++;
      rep->new_class_n++;
      note_name(rep->new_classes, sizeof(rep->new_classes), l->name);
    }
  }
  if (r == 0)
    memcpy(snap->data + at, &n, 4);
  return r < 0 ? r : 0;
}

/* The per-class tally (by class id) as "cat 5 (+2 new), dog 3". */
static int per_class_text(struct store_txn *t, struct tally *pc,
                          struct cvat_pull_report *rep)
{
  char *out = rep->per_class;
  size_t n = sizeof(rep->per_class), at = 0;

  out[0] = 0;
  for (size_t i = 0; i < pc->n; i++) {
    const char *name = "?";
    int w;

    if (!pc->v[i].n)
      continue;
    store_class_name(t, pc->v[i].id, &name);
    if (pc->v[i].added)
      w = snprintf(out + at, n - at, "%s%s %" PRIu64 " (+%" PRIu64 " new)",
                   at ? ", " : "", name, pc->v[i].n, pc->v[i].added);
    else
      w = snprintf(out + at, n - at, "%s%s %" PRIu64, at ? ", " : "", name,
                   pc->v[i].n);
    if (w < 0 || (size_t)w >= n - at) {
      snprintf(out + n - 4, 4, "...");
      break;
    }
    at += (size_t)w;
  }
  return 0;
}

void cvat_pull_text(const struct cvat_pull_report *rep, char *out, size_t n)
{
  size_t at;

  snprintf(out, n, "%" PRIu64 " samples changed: %" PRIu64 " updated, %"
           PRIu64 " deleted, %" PRIu64 " added, %" PRIu64 " unchanged",
           rep->samples, rep->updated, rep->deleted, rep->added,
           rep->unchanged);
#define MORE(...)                                                            \
  do {                                                                       \
    at = strlen(out);                                                        \
    if (at < n)                                                              \
      snprintf(out + at, n - at, __VA_ARGS__);                               \
  } while (0)
  if (rep->per_class[0])
    MORE("; by class: %s", rep->per_class);
  if (rep->new_class_n)
    MORE("; new classes from CVAT labels: %s", rep->new_classes);
  if (rep->converted)
    MORE("; boxes from other shapes: %s", rep->converted_kinds);
  if (rep->other_shapes)
    MORE("; NOT imported (no box): %s", rep->other_kinds);
  if (rep->unknown)
    MORE("; NOT imported (label is no valid class name): %" PRIu64 " (%s)",
         rep->unknown, rep->unknown_classes);
  if (rep->clipped)
    MORE("; clipped to the image: %" PRIu64, rep->clipped);
#undef MORE
}

static int cmp_shape_frame(const void *a, const void *b)
{
  const struct cvat_shape *x = a, *y = b;
  if (x->frame != y->frame)
    return x->frame < y->frame ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

int cvat_pull(struct store *s, const struct cvat_config *cfg, const char *run,
              struct cvat_pull_report *rep, char *err, size_t errlen)
{
  struct cvat_client *c = NULL;
  struct cvat_run rn;
  struct cvat_labels labels = { 0, NULL };
  struct cvat_task task;
  struct cvat_shape *sh = NULL;
  size_t nsh = 0;
  struct store_txn *t = NULL;
  struct buf snap;
  json_t *o = NULL;
  int r;

  memset(rep, 0, sizeof(*rep));
  buf_init(&snap, (size_t)4 << 30);
  r = cvat_run_get(s, run, &rn);
  if (r < 0)
    return errf(err, errlen, r, "no run '%.80s'", run);
  if (rn.phase == CVAT_PHASE_GONE) {
    r = errf(err, errlen, -EIDRM, "task %lld of run '%s' was deleted in "
             "CVAT; labels unchanged", (long long)rn.task_id, run);
    goto out;
  }
  if (rn.phase != CVAT_PHASE_READY) {
    r = errf(err, errlen, -EAGAIN, "run '%s' is not pushed yet (%s)", run,
             cvat_phase_name(rn.phase));
    goto out;
  }
  r = cvat_connect(cfg, &c, err, errlen);
  if (r < 0)
    goto out;
  r = cvat_task_get(c, rn.task_id, &task);
  if (r == -ENOENT) {
    struct upd u = { .phase = CVAT_PHASE_GONE, .done = -1, .total = -1,
                     .error = "the task was deleted in CVAT" };
    run_update(s, run, &u, NULL);
    r = errf(err, errlen, -EIDRM, "task %lld of run '%s' was deleted in "
             "CVAT; labels unchanged", (long long)rn.task_id, run);
    goto out;
  }
  if (r == 0)
    r = cvat_labels_get(c, rn.project_id, &labels);
  if (r == 0)
    r = cvat_annotations_get(c, rn.task_id, &labels, &sh, &nsh);
  if (r < 0) {
    errf(err, errlen, r, "pull of run '%s': %s; labels unchanged", run,
         cvat_client_error(c));
    goto out;
  }
  qsort(sh, nsh, sizeof(*sh), cmp_shape_frame);
  /* Everything is here: merge in one transaction. */
  r = store_txn_begin(s, true, &t);
  if (r == 0)
    r = run_load(t, run, &o);
  if (r == 0) {
    uint32_t magic = UNDO_MAGIC2, ns = (uint32_t)rn.n_samples;
    r = buf_append(&snap, &magic, 4);
    if (r == 0)
      r = buf_append(&snap, &ns, 4);
  }
  for (size_t i = 0; r == 0 && i < rn.n_samples; i++)
    r = snap_sample(t, run, rn.samples[i], &snap);
  /* Every label of the project is a class of the store, also those added
   * in CVAT after the push; the ones made here are listed for undo. */
  if (r == 0)
    r = classes_from_labels(t, &labels, rep, &snap);
  {
    struct merge m = { t, run, rn.field, &labels, rep, { NULL, 0 },
                       { NULL, 0 }, { NULL, 0 } };
    size_t a = 0;
    for (size_t i = 0; r == 0 && i < rn.n_samples; i++) {
      size_t b = a;
      while (a < nsh && sh[a].frame < (int64_t)i)
        a++;   /* frames outside the run (should not exist) */
      b = a;
      while (b < nsh && sh[b].frame == (int64_t)i)
        b++;
      r = merge_sample(&m, rn.samples[i], sh + a, b - a);
      a = b;
    }
    tally_text(&m.other, rep->other_kinds, sizeof(rep->other_kinds));
    tally_text(&m.converted, rep->converted_kinds,
               sizeof(rep->converted_kinds));
    if (r == 0)
      r = per_class_text(t, &m.per_class, rep);
    free(m.other.v);
    free(m.converted.v);
    free(m.per_class.v);
  }
  if (r == 0) {
    uint8_t k[CVAT_RUN_NAME_MAX + 9];
    uint64_t seq = (uint64_t)jget(o, "pulls") + 1;
    char sum[2048];

    r = store_rec_put(t, NS_UNDO, k, undo_key(k, run, seq), snap.data,
                      snap.len);
    cvat_pull_text(rep, sum, sizeof(sum));
    jset(o, "pulls", (int64_t)seq);
    jset(o, "undo", jget(o, "undo") + 1);
    json_object_set_new(o, "last_pull", json_string(sum));
    json_object_del(o, "error");
    if (r == 0)
      r = run_save(t, run, o);
  }
  if (r < 0) {
    store_txn_abort(t);
    t = NULL;
    errf(err, errlen, r, "merge of run '%s' failed: %s; labels unchanged",
         run, strerror(-r));
    goto out;
  }
  r = store_txn_commit(t);
  t = NULL;
  if (r < 0)
    errf(err, errlen, r, "merge of run '%s' failed: %s; labels unchanged",
         run, strerror(-r));
  else
    log_msg(LOG_LVL_INFO, "cvat: pulled run %s: %" PRIu64 " updated, %"
            PRIu64 " deleted, %" PRIu64 " added", run, rep->updated,
            rep->deleted, rep->added);
out:
  store_txn_abort(t);
  json_decref(o);
  buf_free(&snap);
  cvat_shapes_free(sh, nsh);
  cvat_labels_free(&labels);
  cvat_client_free(c);
  cvat_run_free(&rn);
  return r;
}

/* ---------------------------------------------------------------- texts */

int cvat_run_info(struct store *s, const struct cvat_config *cfg,
                  const char *run, struct buf *out)
{
  struct cvat_run r;
  const char *base;
  int rc;

  rc = cvat_run_get(s, run, &r);
  if (rc < 0)
    return rc;
  /* Links use the server the run was pushed to. */
  base = r.url ? r.url : cfg && cfg->url ? cfg->url : "";
  rc = buf_printf(out, "run: %s\nsource: %s\nfield: %s\nsamples: %zu\n"
                  "phase: %s\n", r.name, r.source, r.field, r.n_samples,
                  cvat_phase_name(r.phase));
  if (rc == 0 && r.phase != CVAT_PHASE_READY && r.total)
    rc = buf_printf(out, "progress: %" PRIu64 "/%" PRIu64 "\n", r.done,
                    r.total);
  if (rc == 0 && r.project_id)
    rc = buf_printf(out, "project: %lld  %s/projects/%lld\n",
                    (long long)r.project_id, base, (long long)r.project_id);
  if (rc == 0 && r.task_id)
    rc = buf_printf(out, "task: %lld  %s/tasks/%lld\n", (long long)r.task_id,
                    base, (long long)r.task_id);
  for (size_t i = 0; rc == 0 && i < r.n_jobs; i++)
    rc = buf_printf(out, "job: %lld  frames %lld-%lld  %s/tasks/%lld/jobs/"
                    "%lld\n", (long long)r.jobs[i][0], (long long)r.jobs[i][1],
                    (long long)r.jobs[i][2], base,
                    (long long)r.task_id, (long long)r.jobs[i][0]);
  if (rc == 0)
    rc = buf_printf(out, "pulls: %" PRIu64 "\nundo: %" PRIu64 "\n", r.pulls,
                    r.undo_depth);
  if (rc == 0 && r.last_pull)
    rc = buf_printf(out, "last pull: %s\n", r.last_pull);
  if (rc == 0 && r.error)
    rc = buf_printf(out, "error: %s\n", r.error);
  cvat_run_free(&r);
  return rc;
}

int cvat_run_labels_json(struct store *s, const char *run, struct buf *out)
{
  struct cvat_run rn;
  struct store_txn *t;
  int r;

  r = cvat_run_get(s, run, &rn);
  if (r < 0)
    return r;
  r = store_txn_begin(s, false, &t);
  for (size_t i = 0; r == 0 && i < rn.n_samples; i++) {
    struct sample sm;
    struct labels l;

    labels_init(&l);
    r = store_sample_get(t, rn.samples[i], &sm);
    if (r == 0)
      r = store_labels_get(t, rn.samples[i], &l);
    if (r == 0)
      r = labels_to_json(&l, sm.name, sm.width, sm.height, out);
    labels_free(&l);
  }
  store_txn_abort(t);
  cvat_run_free(&rn);
  return r;
}

static int job_check(struct store *s, const char *run, int64_t job_id,
                     struct cvat_run *ret, char *err, size_t errlen)
{
  int r = cvat_run_get(s, run, ret);

  if (r < 0)
    return errf(err, errlen, r, "no run '%.80s'", run);
  for (size_t i = 0; i < ret->n_jobs; i++)
    if (ret->jobs[i][0] == job_id)
      return 0;
  cvat_run_free(ret);
  return errf(err, errlen, -ENOENT, "run '%s' has no job %lld", run,
              (long long)job_id);
}

/* What the job attribute files share: a known attribute, a job of the
 * run, a connection (owned by the caller). */
static int job_connect(struct store *s, const struct cvat_config *cfg,
                       const char *run, int64_t job_id, const char *what,
                       struct cvat_client **ret, char *err, size_t errlen)
{
  struct cvat_run rn;
  int r;

  if (strcmp(what, "assignee") && strcmp(what, "stage") &&
      strcmp(what, "state"))
    return errf(err, errlen, -EINVAL, "no job attribute '%.40s'", what);
  r = job_check(s, run, job_id, &rn, err, errlen);
  if (r < 0)
    return r;
  cvat_run_free(&rn);
  return cvat_connect(cfg, ret, err, errlen);
}

int cvat_job_attr_get(struct store *s, const struct cvat_config *cfg,
                      const char *run, int64_t job_id, const char *what,
                      struct buf *out, char *err, size_t errlen)
{
  struct cvat_client *c;
  struct cvat_job j;
  int r;

  r = job_connect(s, cfg, run, job_id, what, &c, err, errlen);
  if (r < 0)
    return r;
  r = cvat_job_get(c, job_id, &j);
  if (r < 0)
    errf(err, errlen, r, "%s", cvat_client_error(c));
  else
    r = buf_printf(out, "%s\n", what[0] == 'a' ? j.assignee :
                   what[1] == 't' && what[2] == 'a' && what[3] == 'g'
                     ? j.stage : j.state);
  cvat_client_free(c);
  return r;
}

int cvat_job_attr_set(struct store *s, const struct cvat_config *cfg,
                      const char *run, int64_t job_id, const char *what,
                      const char *value, char *err, size_t errlen)
{
  struct cvat_client *c;
  char v[160];
  size_t n = strlen(value);
  int r;

  if (n && value[n - 1] == '\n')
    n--;
  if (n >= sizeof(v))
    return errf(err, errlen, -EINVAL, "value too long");
  memcpy(v, value, n);
  v[n] = 0;
  if (strcmp(what, "stage") == 0 && !cvat_stage_valid(v))
    return errf(err, errlen, -EINVAL, "stage must be annotation, "
                "validation or acceptance");
  if (strcmp(what, "state") == 0 && !cvat_state_valid(v))
    return errf(err, errlen, -EINVAL, "state must be new, in progress, "
                "completed or rejected");
  r = job_connect(s, cfg, run, job_id, what, &c, err, errlen);
  if (r < 0)
    return r;
  r = cvat_job_update(c, job_id, what[0] == 'a' ? v : NULL,
                      strcmp(what, "stage") == 0 ? v : NULL,
                      strcmp(what, "state") == 0 ? v : NULL);
  if (r < 0)
    errf(err, errlen, r, "%s", cvat_client_error(c));
  cvat_client_free(c);
  return r;
}

struct frame_names {
  struct store *s;
  struct cvat_run *run;
  char name[256];
};

static const char *frame_name(int64_t frame, void *ud)
{
  struct frame_names *fn = ud;
  struct store_txn *t;
  struct sample sm;

  if (frame < 0 || (size_t)frame >= fn->run->n_samples)
    return NULL;
  if (store_txn_begin(fn->s, false, &t) < 0)
    return NULL;
  fn->name[0] = 0;
  if (store_sample_get(t, fn->run->samples[frame], &sm) == 0)
    snprintf(fn->name, sizeof(fn->name), "%s", sm.name);
  store_txn_abort(t);
  return fn->name[0] ? fn->name : NULL;
}

int cvat_job_issues(struct store *s, const struct cvat_config *cfg,
                    const char *run, int64_t job_id, struct buf *out,
                    char *err, size_t errlen)
{
  struct cvat_client *c;
  struct cvat_run rn;
  struct frame_names fn;
  int r;

  r = job_check(s, run, job_id, &rn, err, errlen);
  if (r < 0)
    return r;
  r = cvat_connect(cfg, &c, err, errlen);
  if (r == 0) {
    fn.s = s;
    fn.run = &rn;
    r = cvat_issues_text(c, job_id, frame_name, &fn, out);
    if (r < 0)
      errf(err, errlen, r, "%s", cvat_client_error(c));
    cvat_client_free(c);
  }
  cvat_run_free(&rn);
  return r;
}
