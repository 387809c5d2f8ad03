/* evalrun.c - named evaluations in the store (see evalrun.h): running one
 * and reading it back.
 *
 * evalrun_run() loads the two fields of every present sample
 * (evalrun_load.c), runs eval_run() and eval_mistakenness() of
 * core/compute/evaluate.h, and writes the records (evalrun_write.c), all in
 * one write transaction.  The record layout and the helpers shared by
 * the evalrun*.c files are in evalrun_rec.h; the renderers of eval/<name>/
 * are evalrun_report.c, the drawn images evalrun_draw.c.
 *
 * What it does not do: evaluation maths (evaluate.c), drawing (draw.c,
 * plot.c), deciding when to re-run (the daemon asks evalrun_fresh()).
 */
#include "evalrun.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalrun_rec.h"
#include "labels.h"
#include "predictions.h"

/*---- Running --------------------------------------------------------------*/

/* Fills in the defaults of o and checks it; err gets the reason. */
static int run_opts(struct store *s, const char *name, struct evalrun_opts *o,
                    char *err, size_t errlen)
{
  if (!o->gt_field)
    o->gt_field = "ground_truth";
  if (!o->pred_field)
    o->pred_field = PRED_DEFAULT_FIELD;
  if (o->iou == 0)
    o->iou = 0.5;
  if (!o->n_threads)
    o->n_threads = 2;
  if (!s || !evalrun_name_valid(name)) {
    snprintf(err, errlen, "invalid evaluation name (1..64 of A-Z a-z 0-9 _ . -)");
    return -EINVAL;
  }
  if (!labels_field_name_valid(o->gt_field) ||
      !labels_field_name_valid(o->pred_field)) {
    snprintf(err, errlen, "invalid field name");
    return -EINVAL;
  }
  if (!(o->iou > 0 && o->iou <= 1) || o->n_threads < 1 || o->n_threads > 64) {
    snprintf(err, errlen, "IoU threshold must be in (0, 1] and threads in "
             "1..64");
    return -EINVAL;
  }
  if (!strcmp(o->gt_field, o->pred_field)) {
    snprintf(err, errlen, "ground truth and predictions are the same field");
    return -EINVAL;
  }
  return 0;
}

/* Relabels the boxes of l with dense class indexes 1..k, in class-id
 * order, and records the way back in l->cls.  The evaluation keeps about
 * 100 KB of curves per class it is given: with every class of the store
 * (ncls), a store of 20,000 classes took 2 GB for a run on one class, and
 * 200,000 classes (one COCO categories list) more than this machine has.
 * A class no box uses adds nothing to any mean, and the order of the
 * others is kept, so every number comes out the same.  A label outside
 * 1..ncls stays out of range (k + 1), for eval_run() to refuse. */
static int compact_classes(struct evalrun_loaded *l, uint32_t ncls,
                           int32_t *ret_n)
{
  uint32_t *dense = calloc((size_t)ncls + 2, sizeof(*dense));
  uint32_t k = 0;

  if (!dense)
    return -ENOMEM;
  for (size_t i = 0; i < l->n_gts; i++)
    if (l->gts[i].label >= 1 && (uint32_t)l->gts[i].label <= ncls)
      dense[l->gts[i].label] = 1;
  for (size_t i = 0; i < l->n_preds; i++)
    if (l->preds[i].label >= 1 && (uint32_t)l->preds[i].label <= ncls)
      dense[l->preds[i].label] = 1;
  for (uint32_t c = 1; c <= ncls; c++)
    k += dense[c];
  free(l->cls);
  l->cls = calloc((size_t)k + 1, sizeof(*l->cls));
  if (!l->cls) {
    free(dense);
    return -ENOMEM;
  }
  k = 0;
  for (uint32_t c = 1; c <= ncls; c++)
    if (dense[c]) {
      dense[c] = ++k;
      l->cls[k] = c;
    }
  for (size_t i = 0; i < l->n_gts; i++) {
    int32_t c = l->gts[i].label;
    l->gts[i].label = c >= 1 && (uint32_t)c <= ncls ? (int32_t)dense[c]
                                                    : (int32_t)k + 1;
  }
  for (size_t i = 0; i < l->n_preds; i++) {
    int32_t c = l->preds[i].label;
    l->preds[i].label = c >= 1 && (uint32_t)c <= ncls ? (int32_t)dense[c]
                                                      : (int32_t)k + 1;
  }
  free(dense);
  *ret_n = (int32_t)k + 1;
  return 0;
}

/* core/compute/evaluate.h over the loaded boxes: COCOeval and
 * mistakenness. */
static int run_evaluate(struct store_txn *t, const struct evalrun_opts *o,
                        struct evalrun_loaded *l,
                        struct eval_result *ev, struct eval_mistakes *mk,
                        char *err, size_t errlen)
{
  struct eval_config cfg;
  uint32_t ncls = 0;
  int r;

  if (l->n_gts == 0 && l->n_preds == 0) {
    snprintf(err, errlen, "no boxes in fields \"%s\" and \"%s\"",
             o->gt_field, o->pred_field);
    return -EINVAL;
  }
  int32_t nc = 0;
  r = store_class_count(t, &ncls);
  if (r == 0)
    r = compact_classes(l, ncls, &nc);
  if (r < 0)
    return r;
  struct eval_input in = { l->gts, l->n_gts, l->preds, l->n_preds, l->gs,
                           l->ps, l->n_images, nc };
  eval_config_default(&cfg);
  cfg.iou = o->iou;
  cfg.n_threads = o->n_threads;
  r = eval_run(&in, &cfg, ev);
  if (r == 0)
    r = eval_mistakenness(&in, o->n_threads, mk);
  if (r < 0)
    snprintf(err, errlen, "evaluation failed: %s", strerror(-r));
  return r;
}

/* Load, evaluate and write in one write transaction. */
static int run_in_txn(struct store *s, const char *name,
                      const struct evalrun_opts *o, char *err, size_t errlen)
{
  struct store_txn *t = NULL;
  struct evalrun_loaded l;
  struct eval_result ev;
  struct eval_mistakes mk;
  double t0 = time_mono();
  int r;

  memset(&l, 0, sizeof(l));
  memset(&ev, 0, sizeof(ev));
  memset(&mk, 0, sizeof(mk));
  r = store_txn_begin(s, true, &t);
  if (r == 0)
    r = evalrun_load(t, o->gt_field, o->pred_field, &l, err, errlen);
  if (r == 0)
    r = run_evaluate(t, o, &l, &ev, &mk, err, errlen);
  if (r == 0)
    r = evalrun_write(t, name, o, &l, &ev, &mk, t0);
  if (r == 0) {
    r = store_txn_commit(t);
    t = NULL;
  }
  store_txn_abort(t);
  eval_mistakes_free(&mk);
  eval_result_free(&ev);
  evalrun_loaded_free(&l);
  return r;
}

int evalrun_run(struct store *s, const char *name,
                const struct evalrun_opts *opts, struct evalrun_info *ret,
                char *err, size_t errlen)
{
  struct evalrun_opts o = { 0 };
  char dummy[1];
  int r;

  if (!err || !errlen) {
    err = dummy;
    errlen = sizeof(dummy);
  }
  err[0] = 0;
  if (opts)
    o = *opts;
  r = run_opts(s, name, &o, err, errlen);
  if (r < 0)
    return r;
  r = run_in_txn(s, name, &o, err, errlen);
  if (r == 0 && ret) {
    struct store_txn *rt;
    if (store_txn_begin(s, false, &rt) == 0) {
      evalrun_get(rt, name, ret);
      store_txn_abort(rt);
    }
  }
  if (r < 0 && !err[0] && errlen > 1)
    snprintf(err, errlen, "%s", strerror(-r));
  return r;
}

int evalrun_get(struct store_txn *t, const char *name,
                struct evalrun_info *ret)
{
  struct sum_rec sr;
  int r = evalrun_rec_sum(t, name, &sr, NULL, NULL);
  if (r == 0)
    evalrun_rec_info(&sr, name, ret);
  return r;
}

struct each_ctx {
  int (*fn)(const char *, void *);
  void *ud;
};

static int each_cb(const void *key, size_t klen, const void *val, size_t vlen,
                   void *ud)
{
  struct each_ctx *c = ud;
  char name[EVALRUN_MAX_NAME + 1];
  (void)val;
  (void)vlen;
  if (klen > EVALRUN_MAX_NAME)
    return 0;
  memcpy(name, key, klen);
  name[klen] = 0;
  return c->fn(name, c->ud);
}

int evalrun_each(struct store_txn *t, int (*fn)(const char *, void *),
                 void *ud)
{
  struct each_ctx c = { fn, ud };
  return store_rec_each(t, NS_SUM, "", 0, false, each_cb, &c);
}

int evalrun_fresh(struct store_txn *t, const char *name)
{
  struct sum_rec sr;
  uint64_t ver = 0, fp = 0, next = 1;
  struct store_iter *it;
  struct sample s;
  int r = evalrun_rec_sum(t, name, &sr, NULL, NULL);

  if (r < 0)
    return r;
  /* A summary of an earlier version was computed with earlier rules
   * (version 1: crowds counted, k/100 thresholds, clipped predictions;
   * version 2: predictions on samples outside the ground truth's COCO
   * file counted as false positives): its numbers are not COCOeval's, so
   * it is stale whatever the labels did. */
  if (sr.version != SUM_VERSION)
    return 0;
  r = store_version(t, &ver);
  if (r < 0)
    return r;
  if (ver == sr.store_version)
    return 1;
  r = store_iter_new(t, &it);
  while (r == 0 && (r = store_iter_samples(it, next, &s)) == 0) {
    next = s.id + 1;
    if (!(s.flags & SAMPLE_MISSING))
      fp = evalrun_rec_fp_step(fp, s.id, s.labels_version);
  }
  store_iter_free(it);
  if (r != -ENOENT && r != 0)
    return r;
  sr.gt_field[LABELS_MAX_FIELD_NAME] = 0;
  r = evalrun_rec_coco_fp(t, sr.gt_field, &fp);
  if (r < 0)
    return r;
  return fp == sr.labels_fp;
}

int evalrun_refresh(struct store *s, const char *name, char *err,
                    size_t errlen)
{
  struct store_txn *t;
  struct sum_rec sr;
  int r = store_txn_begin(s, false, &t);
  if (r < 0)
    return r;
  r = evalrun_rec_sum(t, name, &sr, NULL, NULL);
  int fresh = r == 0 ? evalrun_fresh(t, name) : r;
  store_txn_abort(t);
  if (fresh < 0)
    return fresh;
  if (fresh)
    return 0;
  struct evalrun_opts o = { sr.gt_field, sr.pred_field, sr.iou, 0 };
  sr.gt_field[LABELS_MAX_FIELD_NAME] = 0;
  sr.pred_field[LABELS_MAX_FIELD_NAME] = 0;
  r = evalrun_run(s, name, &o, NULL, err, errlen);
  return r < 0 ? r : 1;
}

/* The latest refresh check per process: one evaluation is shown at a time
 * (the newest), so one slot is enough. */
static pthread_mutex_t recent_mu = PTHREAD_MUTEX_INITIALIZER;
static char recent_name[EVALRUN_MAX_NAME + 1];
static const struct store *recent_store;
static double recent_at = -1e9;

int evalrun_refresh_recent(struct store *s, const char *name,
                           double max_age_s, char *err, size_t errlen)
{
  double now = time_mono();
  bool recent;
  int r;

  pthread_mutex_lock(&recent_mu);
  recent = max_age_s > 0 && recent_store == s &&
           strcmp(recent_name, name) == 0 && now - recent_at < max_age_s;
  pthread_mutex_unlock(&recent_mu);
  if (recent)
    return 0;
  r = evalrun_refresh(s, name, err, errlen);
  if (r >= 0) {
    /* From when this check began: later changes are not covered. */
    pthread_mutex_lock(&recent_mu);
    snprintf(recent_name, sizeof(recent_name), "%s", name);
    recent_store = s;
    recent_at = now;
    pthread_mutex_unlock(&recent_mu);
  }
  return r;
}

int evalrun_delete(struct store *s, const char *name)
{
  struct store_txn *t;
  struct sum_rec sr;
  int r = store_txn_begin(s, true, &t);
  if (r < 0)
    return r;
  r = evalrun_rec_sum(t, name, &sr, NULL, NULL);
  if (r == 0)
    r = evalrun_rec_delete_all(t, name);
  if (r < 0) {
    store_txn_abort(t);
    return r;
  }
  return store_txn_commit(t);
}

/*---- Lists and samples ----------------------------------------------------*/

int evalrun_ranked(struct store_txn *t, const char *name,
                   enum evalrun_list which, size_t offset, size_t max,
                   struct evalrun_entry *out, size_t *ret_n,
                   size_t *ret_total)
{
  uint8_t key[EVALRUN_MAX_NAME + 3], kind = (uint8_t)which;
  const void *v;
  size_t n;
  int r;

  if ((int)which < 0 || which > EVALRUN_SPURIOUS || !evalrun_name_valid(name) ||
      !ret_n || (max && !out))
    return -EINVAL;
  size_t kl = evalrun_rec_key(key, name, &kind, 1);
  r = store_rec_get(t, NS_RANK, key, kl, &v, &n);
  if (r < 0)
    return r;
  if (n % sizeof(struct rank_rec))
    return -EIO;
  size_t total = n / sizeof(struct rank_rec);
  size_t k = 0;
  for (size_t i = offset; i < total && k < max; i++, k++) {
    struct rank_rec rr;
    memcpy(&rr, (const uint8_t *)v + i * sizeof(rr), sizeof(rr));
    out[k] = (struct evalrun_entry){ rr.sample_id, rr.score };
  }
  *ret_n = k;
  if (ret_total)
    *ret_total = total;
  return 0;
}

int evalrun_sample(struct store_txn *t, const char *name, uint64_t sample_id,
                   struct evalrun_sample *ret)
{
  struct sum_rec sum;
  struct samp_rec sr;
  const uint8_t *v;
  int r = evalrun_rec_sum(t, name, &sum, NULL, NULL);
  if (r < 0)
    return r;
  memset(ret, 0, sizeof(*ret));
  ret->mistakenness = -1;
  r = evalrun_rec_sample(t, name, sample_id, &sr, &v);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  ret->labels_version = sr.labels_version;
  ret->tp = sr.tp;
  ret->fp = sr.fp;
  ret->fn = sr.fn;
  ret->mistakenness = sr.mistakenness;
  ret->n_missing = sr.n_missing;
  ret->n_spurious = sr.n_spurious;
  ret->n_gt = sr.n_gt;
  ret->n_pred = sr.n_pred;
  return 0;
}

int evalrun_box(struct store_txn *t, const char *name, uint64_t sample_id,
                uint64_t label_id, struct evalrun_box *ret)
{
  struct samp_rec sr;
  const uint8_t *v;
  int r = evalrun_rec_sample(t, name, sample_id, &sr, &v);
  if (r < 0)
    return r;
  const uint8_t *p = v + sizeof(sr);
  for (uint32_t j = 0; j < sr.n_gt; j++, p += sizeof(struct gbox_rec)) {
    struct gbox_rec g;
    memcpy(&g, p, sizeof(g));
    if (g.label_id != label_id)
      continue;
    *ret = (struct evalrun_box){ true, g.outcome, g.match_label_id, g.iou,
                                 false, g.spurious != 0, g.mistakenness,
                                 g.mistakenness_loc };
    return 0;
  }
  for (uint32_t i = 0; i < sr.n_pred; i++, p += sizeof(struct pbox_rec)) {
    struct pbox_rec b;
    memcpy(&b, p, sizeof(b));
    if (b.label_id != label_id)
      continue;
    *ret = (struct evalrun_box){ false, b.outcome, b.match_label_id, b.iou,
                                 b.missing != 0, false, NAN, NAN };
    return 0;
  }
  return -ENOENT;
}

