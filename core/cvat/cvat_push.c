/* cvat_push.c - the push of a run: cvat_push_begin() checks and records
 * it, cvat_push_run() does it as a table of steps (see cvat_sync.h).
 *
 * The steps, in order, with the phase a run is in while each runs:
 *
 *   step      phase     does                                   records
 *   load      -         reads the store: record, classes,      error cleared
 *                       files; connects
 *   project   project   project and labels                     project id
 *   cloud     task      bucket samples: the CVAT cloud storage cloud storage
 *                       of the bucket (recorded, named, found  id
 *                       or, if allowed, created)
 *   task      task      the recorded task, or the one of the   task id
 *                       same name, or a new one
 *   upload    upload    images, unless CVAT has them; bucket   -
 *                       samples: the object keys (CVAT reads
 *                       the bucket itself)
 *   process   processing waits for CVAT's frames and jobs      -
 *   frames    processing frame order and jobs from CVAT        samples, jobs
 *   assign    boxes     round-robin assignees                  -
 *   boxes     boxes     the run's boxes and the identity map   map, ready
 *
 * The loop runs "load", then the steps from the one the stored phase
 * names, and records after each step, in one store transaction, the phase
 * of the next step together with what the step wrote.  The stored phase
 * numbers are those of every earlier version (enum cvat_phase never
 * changes), so a run recorded by an older build resumes the same way:
 *
 *   stored phase                     resumes at
 *   accepted, project, failed, gone  project (from the start)
 *   task, upload, processing         cloud (a recorded cloud storage or
 *                                    task may have been deleted in CVAT:
 *                                    found or made again)
 *   boxes                            assign
 *   ready                            nothing to do
 *
 * Every step can run again without harm: a task is never created twice
 * (looked up by its name first), nor a cloud storage (the recorded one,
 * then CVAT's list, is asked first), images go up only to a task without
 * data, a pending creation request is found and waited on again, and the
 * boxes are PUT (replacing).  Network I/O never happens inside a store
 * transaction.
 */
#define _GNU_SOURCE   /* strerrorname_np */
#include "cvat_sync_i.h"

#include "classes.h"
#include "imgcodec.h"
#include "objsource.h"
#include "s3.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#define NO_CLASSES_MSG                                                     \
  "the store has no classes, so annotators would have no label to draw "   \
  "with: name them in the push (e.g. 'views/unique classes=cat,dog'), or "  \
  "add them first ('add cat' into the classes file, or curate classes add)"

static const char *field_of(const struct cvat_config *cfg)
{
  return cfg->field ? cfg->field : "ground_truth";
}

/* ---------------------------------------------------------------- begin */

static int store_uid(struct store_txn *t, char out[17])
{
  char *v = NULL;
  uint64_t x = 0;
  int r = store_setting_get(t, "cvat.uid", &v);

  if (r == 0) {
    snprintf(out, 17, "%s", v);
    free(v);
    return 0;
  }
  if (r != -ENOENT)
    return r;
  if (getrandom(&x, sizeof(x), 0) != sizeof(x))
    x = (uint64_t)time_now_ns() * 6364136223846793005ull;
  snprintf(out, 17, "%016" PRIx64, x);
  return store_setting_set(t, "cvat.uid", out);
}

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

/* ids without duplicates, first occurrence kept, into *ret (owned). */
static int dedup_ids(const uint64_t *ids, size_t n, uint64_t **ret,
                     size_t *ret_n)
{
  uint64_t *uniq = malloc(n * sizeof(*uniq));
  uint64_t *sorted = malloc(n * sizeof(*sorted));
  bool *used = calloc(n, sizeof(*used));
  size_t nu = 0;

  if (!uniq || !sorted || !used) {
    free(uniq);
    free(sorted);
    free(used);
    return -ENOMEM;
  }
  memcpy(sorted, ids, n * sizeof(*ids));
  qsort(sorted, n, sizeof(*sorted), cmp_u64);
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
  free(sorted);
  free(used);
  *ret = uniq;
  *ret_n = nu;
  return 0;
}

/* The classes named in the push: valid class names CVAT accepts. */
static int check_classes(char *const *classes, size_t n, char *err,
                         size_t errlen)
{
  for (size_t i = 0; i < n; i++) {
    if (!labels_class_name_valid(classes[i]))
      return errf(err, errlen, -EINVAL, "bad class name '%.*s'",
                  (int)utf8_cut(classes[i], 80), classes[i]);
    if (!label_name_fits(classes[i]))
      return errf(err, errlen, -EINVAL, "class name '%.*s' is longer than "
                  "the %d characters CVAT allows for a label name",
                  (int)utf8_cut(classes[i], 80), classes[i],
                  CVAT_LABEL_NAME_MAX);
  }
  return 0;
}

/* What can be checked in the store before anything is recorded: the
 * samples exist, there will be labels, every class can be a CVAT label.
 * Returns 0, or an error with its reason in err. */
static int begin_check(struct store *s, const uint64_t *ids, size_t n,
                       char *const *classes, size_t n_classes, char *err,
                       size_t errlen)
{
  struct label_check lc = { "" };
  struct store_txn *t;
  size_t nc = 0;
  int r = store_txn_begin(s, false, &t);

  for (size_t i = 0; r == 0 && i < n; i++) {
    struct sample sm;
    r = store_sample_get(t, ids[i], &sm);
    if (r == -ENOENT)
      r = errf(err, errlen, r, "sample %" PRIu64 " does not exist", ids[i]);
  }
  if (r == 0 && n_classes == 0 && (r = classes_count(t, &nc)) == 0 &&
      nc == 0)
    r = errf(err, errlen, -EINVAL, NO_CLASSES_MSG);
  if (r == 0)
    r = check_classes(classes, n_classes, err, errlen);
  /* Every class of the store becomes a label of the project: one that
   * CVAT would refuse fails the push now, before anything is recorded. */
  if (r == 0) {
    int k = store_classes_each(t, check_label_name, &lc);
    if (k == 1)
      r = errf(err, errlen, -EINVAL, "class '%.*s' cannot be a CVAT label "
               "(CVAT wants at most %d characters of UTF-8): rename it "
               "first ('rename OLD -> NEW' into the classes file)",
               (int)utf8_cut(lc.bad, 80), lc.bad, CVAT_LABEL_NAME_MAX);
    else if (k < 0)
      r = k;
  }
  if (r < 0 && errlen && !err[0])
    errf(err, errlen, r, "cannot read the store: %s", strerror(-r));
  store_txn_abort(t);
  return r;
}

/* Same name again: an unfinished push of the same samples resumes. */
static int begin_same_run(json_t *old, const char *name, const uint64_t *ids,
                          size_t n, char *err, size_t errlen)
{
  json_t *os = json_object_get(old, "samples"), *e;
  size_t i;
  bool same = json_array_size(os) == n;

  json_array_foreach(os, i, e) {
    bool found = false;
    for (size_t k = 0; same && k < n && !found; k++)
      found = (uint64_t)json_integer_value(e) == ids[k];
    same = same && found;
  }
  if (cvat_jint(old, "phase") == CVAT_PHASE_READY || !same)
    return errf(err, errlen, -EEXIST, "run '%s' exists%s", name,
                same ? " and is pushed (pull it, or push under another name)"
                     : " with other samples");
  return 0;
}

/* A new run record, phase "accepted". */
static int begin_new_run(struct store_txn *t, const struct cvat_config *cfg,
                         const char *name, const char *source,
                         const uint64_t *ids, size_t n)
{
  char uid[17], tn[128];
  json_t *o, *arr;
  int r = store_uid(t, uid);

  if (r < 0)
    return r;
  o = json_pack("{s:i, s:s, s:s, s:s, s:i, s:I, s:s, s:[]}", "v", 1, "name",
                name, "source", source, "field", field_of(cfg), "phase",
                CVAT_PHASE_ACCEPTED, "created", (json_int_t)time_now_ns(),
                "project_name", cfg->project ? cfg->project : "curatefs",
                "samples");
  if (!o)
    return -ENOMEM;
  snprintf(tn, sizeof(tn), "curatefs-%s-%s", uid, name);
  json_object_set_new(o, "task_name", json_string(tn));
  json_object_set_new(o, "url", json_string(cfg->url));
  json_object_set_new(o, "frame", json_string("view"));
  arr = json_object_get(o, "samples");
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, json_integer((json_int_t)ids[i]));
  cvat_jset(o, "total", (int64_t)n);
  r = cvat_run_save(t, name, o);
  json_decref(o);
  return r;
}

/* Records the run (new, or the same one resumed) in one transaction. */
static int begin_record(struct store *s, const struct cvat_config *cfg,
                        const char *source, const uint64_t *ids, size_t n,
                        char *const *classes, size_t n_classes,
                        const char *run_name, char name[CVAT_RUN_NAME_MAX + 1],
                        char *err, size_t errlen)
{
  struct store_txn *t;
  json_t *old = NULL;
  int r = store_txn_begin(s, true, &t);

  /* The classes to annotate join the store's schema with the run. */
  if (r == 0)
    r = classes_ensure(t, classes, n_classes, NULL, err, errlen);
  if (r < 0)
    goto out;
  if (run_name)
    snprintf(name, CVAT_RUN_NAME_MAX + 1, "%s", run_name);
  for (unsigned i = 1; !run_name; i++) {
    const void *v;
    size_t vl;
    snprintf(name, CVAT_RUN_NAME_MAX + 1, "run-%u", i);
    if (store_rec_get(t, CVAT_NS_RUN, name, strlen(name), &v, &vl) ==
        -ENOENT)
      break;
  }
  r = cvat_run_load(t, name, &old);
  if (r == 0)
    r = begin_same_run(old, name, ids, n, err, errlen);
  else if (r == -ENOENT)
    r = begin_new_run(t, cfg, name, source, ids, n);
  if (r == 0) {
    r = store_txn_commit(t);
    t = NULL;
  }
  if (r < 0 && r != -EEXIST)
    errf(err, errlen, r, "cannot record the run: %s", strerror(-r));
out:
  json_decref(old);
  if (t)
    store_txn_abort(t);
  return r;
}

int cvat_push_begin(struct store *s, const struct cvat_config *cfg,
                    const char *source, const uint64_t *ids, size_t n,
                    char *const *classes, size_t n_classes,
                    const char *run_name, char **ret_name, char *err,
                    size_t errlen)
{
  struct cvat_client *c = NULL;
  uint64_t *uniq = NULL;
  size_t nu = 0;
  char name[CVAT_RUN_NAME_MAX + 1];
  int r;

  *ret_name = NULL;
  if (errlen)
    err[0] = '\0';
  if (!source || !*source)
    return errf(err, errlen, -EINVAL, "no source given");
  if (n == 0)
    return errf(err, errlen, -EINVAL, "%s has no samples to push", source);
  if (run_name && !cvat_run_name_valid(run_name))
    return errf(err, errlen, -EINVAL, "bad run name '%.80s' (1-64 "
                "characters of [A-Za-z0-9_.-])", run_name);
  r = dedup_ids(ids, n, &uniq, &nu);
  if (r == 0)
    r = begin_check(s, uniq, nu, classes, n_classes, err, errlen);
  /* Server reachable and credentials good, before anything is recorded. */
  if (r == 0)
    r = cvat_connect(cfg, &c, err, errlen);
  if (r == 0)
    r = begin_record(s, cfg, source, uniq, nu, classes, n_classes, run_name,
                     name, err, errlen);
  if (r == 0 && !(*ret_name = strdup(name)))
    r = -ENOMEM;
  cvat_client_free(c);
  free(uniq);
  return r;
}

/* ---------------------------------------------------------------- files */

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

/* The box of d as CVAT shows it: the image turned by its EXIF
 * orientation (labels keep the stored frame), unless the run was recorded
 * in the stored frame (see struct cvat_run). */
static void shape_box_set(struct cvat_shape *s, const struct detection *d,
                          const struct sample *sm, bool view_frame)
{
  double b[4] = { d->x, d->y, d->x + d->w, d->y + d->h };

  img_orient_box(view_frame ? sm->orientation : 1, sm->width, sm->height,
                  true, b);
  s->x1 = b[0];
  s->y1 = b[1];
  s->x2 = b[2];
  s->y2 = b[3];
  s->rect = true;
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
    struct sample sm;

    labels_init(&l);
    r = store_sample_get(t, run->samples[i], &sm);
    if (r == 0)
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
      shape_box_set(&v[n], d, &sm, run->view_frame);
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

/* Writes the identity map from the server's copies of uploaded shapes,
 * inside t. */
static int map_from_upload(struct store_txn *t, const struct cvat_run *run,
                           const struct cvat_shape *sh, size_t n)
{
  size_t *cnt = calloc(run->n_samples + 1, sizeof(size_t));
  size_t *start = calloc(run->n_samples + 2, sizeof(size_t));
  struct cvat_pair *sorted = malloc((n + 1) * sizeof(*sorted));
  int r = 0;

  if (!cnt || !start || !sorted)
    r = -ENOMEM;
  for (size_t i = 0; r == 0 && i < n; i++)
    if (sh[i].frame >= 0 && (size_t)sh[i].frame < run->n_samples)
      cnt[sh[i].frame]++;
  for (size_t i = 0; r == 0 && i < run->n_samples; i++)
    start[i + 1] = start[i] + cnt[i];
  if (r == 0)
    memset(cnt, 0, run->n_samples * sizeof(size_t));
  for (size_t i = 0; r == 0 && i < n; i++) {
    uint64_t lid;
    size_t fr = (size_t)sh[i].frame;
    if (sh[i].frame < 0 || fr >= run->n_samples ||
        cvat_parse_id(sh[i].label_id, &lid) < 0)
      continue;
    sorted[start[fr] + cnt[fr]].shape = sh[i].id;
    sorted[start[fr] + cnt[fr]].label = lid;
    cnt[fr]++;
  }
  for (size_t i = 0; r == 0 && i < run->n_samples; i++)
    r = cvat_map_put(t, run->name, run->samples[i], sorted + start[i],
                     cnt[i]);
  free(cnt);
  free(start);
  free(sorted);
  return r;
}

/* ---------------------------------------------------------------- steps */

/* What the steps of one push share.  Owned by cvat_push_run(). */
struct push {
  struct store *s;
  const struct cvat_config *cfg;
  const char *name;
  const char *dataset_root;
  cvat_progress_fn fn;
  void *ud;
  struct cvat_client *c;
  struct cvat_run run;           /* the record, re-read when it changes */
  json_t *rec;                   /* its JSON (project and task names) */
  json_t *set;                   /* keys recorded after the step */
  char **classes;
  size_t nclasses;
  struct push_files fs;
  struct push_src src;                /* where the samples are (step_load) */
  char *root;                    /* the dataset root, owned */
  int64_t csid;                  /* the cloud storage (SRC_CLOUD) */
  bool prep_failed;              /* a batch's samples could not be read */
  struct cvat_labels labels;     /* of the project, loaded when needed */
  int64_t tid;
  char *rq;                      /* creation request to wait on */
  struct cvat_job *jobs;
  size_t njobs;
  struct cvat_shape *sh, *back;  /* boxes sent, their server copies */
  size_t nsh, nback;
  int next_phase;                /* recorded after the step; -1 none */
  int64_t done, total;           /* progress recorded with it; -1 keep */
  char msg[CVAT_ERR_MAX];        /* the failure's reason */
};

static void push_free(struct push *p)
{
  cvat_shapes_free(p->sh, p->nsh);
  cvat_shapes_free(p->back, p->nback);
  free(p->jobs);
  cvat_names_free(p->classes, p->nclasses);
  cvat_labels_free(&p->labels);
  cvat_files_free(&p->fs);
  free(p->src.bucket);
  free(p->src.prefix);
  free(p->root);
  free(p->rq);
  json_decref(p->rec);
  json_decref(p->set);
  cvat_run_free(&p->run);
  cvat_client_free(p->c);
}

/* A failed CVAT call: the step's name and CVAT's reason. */
static int step_cfail(struct push *p, int r, const char *what)
{
  snprintf(p->msg, sizeof(p->msg), "%s: %s", what, cvat_client_error(p->c));
  return r;
}

static void report(struct push *p, int phase, int64_t done, int64_t total)
{
  struct cvat_upd u = { .phase = phase, .done = done, .total = total };
  struct cvat_run r;

  if (cvat_run_update(p->s, p->name, &u, p->fn ? &r : NULL) == 0 && p->fn) {
    p->fn(&r, p->ud);
    cvat_run_free(&r);
  }
}

static void on_batch(size_t files, uint64_t bytes, void *ud)
{
  (void)bytes;
  report(ud, CVAT_PHASE_UPLOAD, (int64_t)files, -1);
}

/* Before a batch goes up: the descriptors its files are sent from. */
static int on_prepare(size_t from, size_t to, void *ud)
{
  struct push *p = ud;
  int r;

  r = cvat_files_open_batch(&p->fs, &p->src, from, to, p->msg,
                            sizeof(p->msg));
  p->prep_failed = r < 0;
  return r;
}

/* How CVAT gets the samples under p->root: a folder's are uploaded; a
 * bucket's are read by CVAT through a cloud storage, or with
 * cvat.cloud_storage=off uploaded from the mount's object cache. */
static int src_open(struct push *p)
{
  const char *want = p->cfg->cloud_storage ? p->cfg->cloud_storage : "auto";
  int r;

  p->src.root = p->root;
  p->src.mode = SRC_FOLDER;
  if (!objsource_is_bucket(p->root))
    return 0;
  r = s3_url_parse_folder(p->root, &p->src.bucket, &p->src.prefix, p->msg,
                          sizeof(p->msg));
  if (r < 0)
    return r;
  if (strcmp(want, "off") != 0) {
    p->src.mode = SRC_CLOUD;
    return 0;
  }
  if (!p->cfg->objsrc) {
    snprintf(p->msg, sizeof(p->msg), "the samples are in %s and "
             "cvat.cloud_storage is off, but this push has no object cache "
             "to read them through: push through the mount or curate cvat, "
             "or let CVAT read the bucket (cvat.cloud_storage=auto)",
             p->root);
    return -EOPNOTSUPP;
  }
  p->src.mode = SRC_BUCKET_UP;
  p->src.objsrc = p->cfg->objsrc;
  return 0;
}

/* load: what the push needs from the store, read once, and a connection;
 * clears the last error.  A push from the start (fresh) checks its files
 * here, before any request to CVAT; a resumed one checks them only if it
 * still has to make a task or upload (step_task, step_upload): CVAT holds
 * the bytes of a finished upload. */
static int step_load(struct push *p, bool fresh)
{
  struct store_txn *t;
  char *root = NULL;
  int r = store_txn_begin(p->s, false, &t);

  if (r == 0)
    r = cvat_run_load(t, p->name, &p->rec);
  if (r == 0)
    r = classes_all(t, &p->classes, &p->nclasses);
  if (r == 0 && p->nclasses == 0) {
    store_txn_abort(t);
    snprintf(p->msg, sizeof(p->msg), "%s", NO_CLASSES_MSG);
    return -EINVAL;
  }
  if (r == 0 && !p->dataset_root &&
      (r = store_setting_get(t, "root", &root)) == -ENOENT)
    r = -EINVAL;
  if (r == 0 && !(p->root = strdup(p->dataset_root ? p->dataset_root
                                                    : root)))
    r = -ENOMEM;
  if (r < 0)
    snprintf(p->msg, sizeof(p->msg), "cannot read the store: %s",
             strerror(-r));
  else if ((r = src_open(p)) == 0)
    r = cvat_files_build(t, &p->run, &p->src, &p->fs, p->msg,
                         sizeof(p->msg));
  store_txn_abort(t);
  free(root);
  if (r == 0 && fresh)
    r = cvat_files_check(&p->fs, &p->src, p->msg, sizeof(p->msg));
  if (r == 0)
    r = cvat_connect(p->cfg, &p->c, p->msg, sizeof(p->msg));
  return r;
}

/* project: the project with a label for every class of the store. */
static int step_project(struct push *p)
{
  int64_t pid;
  int r;

  cvat_labels_free(&p->labels);
  r = cvat_project_ensure(p->c, cvat_jstr(p->rec, "project_name"),
                          (const char *const *)p->classes, p->nclasses, &pid,
                          &p->labels);
  if (r < 0)
    return step_cfail(p, r, "project");
  cvat_jset(p->set, "project", pid);
  p->run.project_id = pid;
  return 0;
}

/* cloud: for bucket samples, the CVAT cloud storage CVAT reads them
 * through (cvat_cloud_pick: named, recorded, found, or created if
 * allowed), checked readable by CVAT now and recorded before the task
 * gets its data, so a push resumed after a crash makes no second one. */
static int step_cloud(struct push *p)
{
  const struct cvat_config *cfg = p->cfg;
  struct cvat_cloud_use u = {
    .bucket = p->src.bucket, .prefix = p->src.prefix, .root = p->root,
    .storage = cfg->cloud_storage, .credentials = cfg->cloud_credentials,
    .endpoint = cfg->cloud_endpoint,
    .recorded = cvat_jint(p->rec, "cloud_storage"), .run = p->name };
  int64_t id;
  int r;

  if (p->src.mode != SRC_CLOUD)
    return 0;
  r = cvat_cloud_pick(p->c, &u, &id, p->msg, sizeof(p->msg));
  if (r < 0)
    return r;
  p->csid = id;
  cvat_jset(p->set, "cloud_storage", id);
  return 0;
}

/* task: the recorded task, or one of the same name (a creation whose
 * answer was lost), or a new one; recorded before any upload. */
static int step_task(struct push *p)
{
  const char *tn = cvat_jstr(p->rec, "task_name");
  int64_t pid = p->run.project_id;
  struct cvat_task task;
  int r = 0;

  p->tid = 0;
  for (int tries = 0; tries < 3 && !p->tid; tries++) {
    if (p->run.task_id && tries == 0) {
      r = cvat_task_get(p->c, p->run.task_id, &task);
      if (r == 0) {
        p->tid = p->run.task_id;
        break;
      }
      if (r != -ENOENT)
        return step_cfail(p, r, "task");
    }
    r = cvat_task_find(p->c, tn, pid, &p->tid);
    if (r == -ENOENT) {
      /* A changed sample fails the push before CVAT gets a task. */
      int c = cvat_files_check(&p->fs, &p->src, p->msg, sizeof(p->msg));
      if (c < 0)
        return c;
      r = cvat_task_create(p->c, tn, pid, p->cfg->segment_size, &p->tid);
    }
    if (r < 0 && (r == -EINVAL || r == -EACCES || r == -EPERM ||
                  r == -ENOENT || tries == 2))
      return step_cfail(p, r, "task");
  }
  cvat_jset(p->set, "task", p->tid);
  p->run.task_id = p->tid;
  p->done = 0;
  p->total = (int64_t)p->fs.n;
  return 0;
}

/* A task whose creation failed is deleted (as CVAT's UI does) and the run
 * forgets it: the next push starts over with a fresh one. */
static void forget_task(struct push *p, int phase)
{
  struct cvat_upd u = { .phase = phase, .done = -1, .total = -1,
                        .set = p->set };

  cvat_task_delete(p->c, p->tid);
  json_object_set_new(p->set, "task", json_integer(0));
  cvat_run_update(p->s, p->name, &u, NULL);
}

/* upload: the images, unless the task has its data or a creation request
 * is pending (then that request is waited on). */
static int step_upload(struct push *p)
{
  struct cvat_task task;
  char st[16] = "";
  int r = cvat_task_get(p->c, p->tid, &task);

  if (r < 0)
    return step_cfail(p, r, "task");
  if (task.size != 0)
    return 0;
  r = cvat_request_find(p->c, p->tid, &p->rq, st);
  if (r == 0 && strcmp(st, "failed") == 0) {
    forget_task(p, CVAT_PHASE_FAILED);
    snprintf(p->msg, sizeof(p->msg), "CVAT failed to create the task; it "
             "was deleted, push again to retry");
    return -EIO;
  }
  if (r == -ENOENT || (r == 0 && st[0] == 0)) {
    free(p->rq);
    p->rq = NULL;
    if (p->src.mode == SRC_CLOUD &&
        (r = cvat_files_check_versions(&p->fs, &p->src, p->msg,
                                       sizeof(p->msg))) < 0)
      return r;
    if ((r = cvat_files_check(&p->fs, &p->src, p->msg, sizeof(p->msg))) < 0)
      return r;
    r = p->src.mode == SRC_CLOUD
        ? cvat_task_data_cloud(p->c, p->tid, p->csid,
                               (const char *const *)p->fs.names, p->fs.n,
                               &p->rq)
        : cvat_task_upload(p->c, p->tid, p->fs.f, p->fs.n, on_prepare,
                           on_batch, p, &p->rq);
  }
  if (r < 0 && p->prep_failed)
    return r;   /* a sample could not be read: the reason is in msg */
  if (r < 0)
    return step_cfail(p, r, "upload");
  p->next_phase = CVAT_PHASE_PROCESS;
  p->done = (int64_t)p->fs.n;
  return 0;
}

/* process: CVAT builds the frames and jobs. */
static int step_process(struct push *p)
{
  int r;

  if (!p->rq)
    return 0;   /* the task had its data already */
  r = cvat_request_wait(p->c, p->rq);
  if (r == -ECANCELED) {
    /* Not a failure: the run stays in its phase and resumes. */
    snprintf(p->msg, sizeof(p->msg), "%s", cvat_client_error(p->c));
    return r;
  }
  if (r == -EIO)
    forget_task(p, -1);
  return r < 0 ? step_cfail(p, r, "task creation") : 0;
}

/* FNV-1a of a name, for the frame lookup. */
static size_t name_hash(const char *s)
{
  return (size_t)hash_str_fnv1a(s);
}

/* Frame i of CVAT's data/meta is the sample whose upload name it has
 * (never assumed from the upload order).  The names are looked up in a
 * hash table of the uploaded names. */
static int frames_to_samples(struct push *p, char **frames, size_t nframes,
                             json_t *samples)
{
  size_t cap = 16, n = p->fs.n;
  size_t *tab;
  bool ok = nframes == n;

  while (cap < 2 * n)
    cap *= 2;
  tab = calloc(cap, sizeof(*tab));   /* index + 1; 0 = empty */
  if (!tab)
    return -ENOMEM;
  for (size_t i = n; i-- > 0;) {     /* the first of equal names wins */
    size_t h = name_hash(p->fs.names[i]) & (cap - 1);
    while (tab[h] && strcmp(p->fs.names[tab[h] - 1], p->fs.names[i]) != 0)
      h = (h + 1) & (cap - 1);
    tab[h] = i + 1;
  }
  for (size_t i = 0; ok && i < nframes; i++) {
    size_t h = name_hash(frames[i]) & (cap - 1);
    while (tab[h] && strcmp(p->fs.names[tab[h] - 1], frames[i]) != 0)
      h = (h + 1) & (cap - 1);
    ok = tab[h] != 0;
    if (ok)
      json_array_append_new(samples, json_integer((json_int_t)
                                                  p->run.samples[tab[h] - 1]));
  }
  free(tab);
  if (!ok) {
    snprintf(p->msg, sizeof(p->msg), "CVAT's frames (%zu) do not match the "
             "%zu uploaded images", nframes, n);
    return -EPROTO;
  }
  return 0;
}

/* frames: the frame order and the jobs, as CVAT made them. */
static int step_frames(struct push *p)
{
  char **frames = NULL;
  size_t nframes = 0;
  json_t *samples = json_array(), *ja = json_array();
  int r = samples && ja ? 0 : -ENOMEM;

  if (r == 0 && (r = cvat_task_frames(p->c, p->tid, &frames, &nframes)) < 0)
    step_cfail(p, r, "frames");
  if (r == 0)
    r = frames_to_samples(p, frames, nframes, samples);
  cvat_names_free(frames, nframes);
  if (r == 0 && (r = cvat_jobs_list(p->c, p->tid, &p->jobs, &p->njobs)) < 0)
    step_cfail(p, r, "jobs");
  for (size_t i = 0; r == 0 && i < p->njobs; i++)
    json_array_append_new(ja, json_pack("[I,I,I]", (json_int_t)p->jobs[i].id,
                                        (json_int_t)p->jobs[i].start_frame,
                                        (json_int_t)p->jobs[i].stop_frame));
  if (r == 0) {
    json_object_set(p->set, "samples", samples);
    json_object_set(p->set, "jobs", ja);
    p->done = 0;
  }
  json_decref(samples);
  json_decref(ja);
  return r;
}

/* assign: round-robin assignment of jobs nobody has yet. */
static int step_assign(struct push *p)
{
  const struct cvat_config *cfg = p->cfg;
  int r;

  if (!cfg->n_assignees)
    return 0;
  if (!p->jobs && (r = cvat_jobs_list(p->c, p->tid, &p->jobs,
                                      &p->njobs)) < 0)
    return step_cfail(p, r, "jobs");
  for (size_t i = 0; i < p->njobs; i++) {
    if (p->jobs[i].assignee[0])
      continue;
    r = cvat_job_update(p->c, p->jobs[i].id,
                        cfg->assignees[i % cfg->n_assignees], NULL, NULL);
    if (r < 0)
      return step_cfail(p, r, "job assignment");
  }
  return 0;
}

/* boxes: the run's boxes with their label ids.  The identity map is
 * written by the loop with the phase "ready", in one transaction. */
static int step_boxes(struct push *p)
{
  struct store_txn *t;
  int r;

  if (!p->labels.n &&
      (r = cvat_labels_get(p->c, p->run.project_id, &p->labels)) < 0)
    return step_cfail(p, r, "labels");
  r = store_txn_begin(p->s, false, &t);
  if (r == 0)
    r = shapes_build(t, &p->run, &p->labels, &p->sh, &p->nsh);
  store_txn_abort(t);
  if (r < 0) {
    snprintf(p->msg, sizeof(p->msg), "cannot read labels: %s",
             strerror(-r));
    return r;
  }
  report(p, CVAT_PHASE_BOXES, 0, (int64_t)p->nsh);
  r = cvat_annotations_put(p->c, p->tid, p->sh, p->nsh, &p->labels,
                           &p->back, &p->nback);
  if (r < 0)
    return step_cfail(p, r, "boxes");
  p->done = p->total = (int64_t)p->nsh;
  return 0;
}

struct push_step {
  const char *name;
  enum cvat_phase phase;         /* the run's phase while it runs */
  int (*fn)(struct push *p);
  bool always;                   /* also runs when resuming past it */
};

/* The project step always runs: the labels must cover the store's classes
 * as they are now (a class added since the interruption gets its label). */
static const struct push_step push_steps[] = {
  { "project", CVAT_PHASE_PROJECT, step_project, true },
  { "cloud", CVAT_PHASE_TASK, step_cloud, false },
  { "task", CVAT_PHASE_TASK, step_task, false },
  { "upload", CVAT_PHASE_UPLOAD, step_upload, false },
  { "process", CVAT_PHASE_PROCESS, step_process, false },
  { "frames", CVAT_PHASE_PROCESS, step_frames, false },
  { "assign", CVAT_PHASE_BOXES, step_assign, false },
  { "boxes", CVAT_PHASE_BOXES, step_boxes, false },
};

/* The step a stored phase resumes at (the table atop this file). */
static size_t push_resume_step(enum cvat_phase ph)
{
  switch (ph) {
  case CVAT_PHASE_TASK:
  case CVAT_PHASE_UPLOAD:
  case CVAT_PHASE_PROCESS:
    return 1;
  case CVAT_PHASE_BOXES:
    return 6;
  default:
    return 0;
  }
}

/* Records the end of step i in one transaction: the phase of the step to
 * run next (next), the progress, the keys the step set, and for the last
 * step the identity map.  The run is re-read so later steps see the new
 * frame order. */
static int push_record(struct push *p, size_t i, size_t next)
{
  bool last = next == ARRAY_SIZE(push_steps);
  int phase = p->next_phase >= 0 ? p->next_phase
              : last ? CVAT_PHASE_READY : (int)push_steps[next].phase;
  struct cvat_upd u = { .phase = phase, .done = p->done, .total = p->total,
                        .set = p->set };
  struct store_txn *t;
  int r = store_txn_begin(p->s, true, &t);

  if (r == 0 && last)
    r = map_from_upload(t, &p->run, p->back, p->nback);
  if (r == 0) {
    cvat_run_free(&p->run);
    r = cvat_run_update_txn(t, p->name, &u, &p->run);
  }
  if (r == 0)
    r = store_txn_commit(t);
  else if (t)
    store_txn_abort(t);
  if (r < 0)
    snprintf(p->msg, sizeof(p->msg), "cannot record the %s step: %s",
             push_steps[i].name, strerror(-r));
  else if (p->fn)
    p->fn(&p->run, p->ud);
  json_object_clear(p->set);
  p->next_phase = -1;
  p->done = p->total = -1;
  return r;
}

static int push_fail(struct push *p, int r, char *err, size_t errlen)
{
  struct cvat_upd u = { .phase = CVAT_PHASE_FAILED, .done = -1, .total = -1,
                        .error = p->msg };
  struct cvat_run run;

  errf(err, errlen, r, "%s", p->msg);
  if (cvat_run_update(p->s, p->name, &u, p->fn ? &run : NULL) == 0 &&
      p->fn) {
    p->fn(&run, p->ud);
    cvat_run_free(&run);
  }
  log_msg(LOG_LVL_WARN, "cvat: push of run %s failed (%s): %s", p->name,
          strerrorname_np(-r) ? strerrorname_np(-r) : "?", p->msg);
  return r;
}

/* The resume loop: load, then the steps from the stored phase on (and
 * those that always run). */
static int push_steps_run(struct push *p, char *err, size_t errlen)
{
  size_t start = push_resume_step(p->run.phase);
  struct cvat_upd u = { .phase = (int)push_steps[start].phase, .done = 0,
                        .total = -1, .error = "" };
  /* A failed run resumes from the start too (push_resume_step), but its
   * recorded task may hold the images already: it checks the files only
   * before it makes a task or uploads (step_task, step_upload). */
  int r = step_load(p, start == 0 && !p->run.task_id);

  if (r < 0)
    return push_fail(p, r, err, errlen);
  cvat_run_update(p->s, p->name, &u, NULL);
  p->tid = p->run.task_id;
  for (size_t i = 0; i < ARRAY_SIZE(push_steps); i++) {
    if (i < start && !push_steps[i].always)
      continue;
    r = push_steps[i].fn(p);
    if (r == 0)
      r = push_record(p, i, MAX(i + 1, start));
    if (r == -ECANCELED)
      return errf(err, errlen, r, "%s", p->msg);
    if (r < 0)
      return push_fail(p, r, err, errlen);
  }
  log_msg(LOG_LVL_INFO, "cvat: run %s pushed: task %lld, %zu images, %zu "
          "boxes, %zu jobs", p->name, (long long)p->tid, p->fs.n, p->nsh,
          p->njobs);
  return 0;
}

int cvat_push_run(struct store *s, const struct cvat_config *cfg,
                  const char *runname, const char *dataset_root,
                  cvat_progress_fn fn, void *ud, char *err, size_t errlen)
{
  struct push p = { .s = s, .cfg = cfg, .name = runname,
                    .dataset_root = dataset_root, .fn = fn, .ud = ud,
                    .next_phase = -1, .done = -1, .total = -1 };
  int r = cvat_run_get(s, runname, &p.run);

  if (r < 0)
    return errf(err, errlen, r, "run '%s': %s", runname,
                r == -ENOENT ? "no such run" : strerror(-r));
  if (p.run.phase == CVAT_PHASE_READY) {
    cvat_run_free(&p.run);
    return 0;
  }
  p.set = json_object();
  r = p.set ? push_steps_run(&p, err, errlen) : -ENOMEM;
  push_free(&p);
  return r;
}
