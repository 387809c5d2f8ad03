/* evalrun.c - named evaluations in the store (see evalrun.h).
 *
 * evalrun_run() loads the two fields of every present sample into the CSR
 * arrays of core/evaluate (one image per sample, in sample-id order), runs
 * eval_run() and eval_mistakenness(), and writes three kinds of records:
 *
 *   "eval"   <name>                 struct sum_rec, then n_classes x
 *                                   struct cls_rec, then the PR curves as
 *                                   float [n_thr][n_classes][101], then
 *                                   (version 2) struct coco_rec and
 *                                   n_classes x double[2] (AP50, AP75)
 *   "eval.s" <name> NUL be64(id)    struct samp_rec, then n_gt x
 *                                   struct gbox_rec, then n_pred x
 *                                   struct pbox_rec (label order of the
 *                                   fields at the run)
 *   "eval.r" <name> NUL <list>      n x struct rank_rec, best first
 *
 * Records are fixed-layout native structs with a version number first; LMDB
 * values are only 2-byte aligned, so every read memcpy's into an aligned
 * struct.  Records are rebuilt whole by every run.
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
#include <time.h>

#include "coco.h"
#include "draw.h"
#include "evaluate.h"
#include "plot.h"
#include "predictions.h"

#define NS_SUM "eval"
#define NS_SAMPLE "eval.s"
#define NS_RANK "eval.r"
/* Summary records: version 1 has no COCO trailer (read as "not
 * available"); version 2 adds it.  Sample and rank records stay 1. */
#define REC_VERSION 1
#define SUM_VERSION 2

static const struct rgb GT_COLOUR = { 0, 200, 0 };
static const struct rgb PRED_COLOUR = { 230, 40, 200 };

struct sum_rec {
  uint32_t version;
  uint32_t n_classes;
  int32_t n_thr;
  int32_t pad;
  double iou;
  double thr[EVAL_MAX_THRESHS];
  uint64_t store_version, labels_fp;
  int64_t created_ns;
  double seconds;
  uint64_t n_samples, n_gt, n_pred;
  int64_t tp, fp, fn;
  double map;
  uint64_t n_mistakes, n_missing, n_spurious;
  char gt_field[LABELS_MAX_FIELD_NAME + 1];
  char pred_field[LABELS_MAX_FIELD_NAME + 1];
};

/* COCOeval's 12-number summary (enum eval_stat order), -1 = undefined. */
struct coco_rec {
  double stats[EVAL_N_STATS];
};

struct cls_rec {
  uint32_t class_id;
  uint32_t pad;
  int64_t tp, fp, fn, support, num_gt;
  double precision, recall, ap;
};

struct samp_rec {
  uint32_t version;
  uint32_t n_gt, n_pred;
  uint32_t n_missing, n_spurious;
  uint32_t pad;
  uint64_t labels_version;
  int64_t tp, fp, fn;
  double mistakenness;
};

struct gbox_rec {
  uint64_t label_id, match_label_id;
  float iou, mistakenness, mistakenness_loc;
  uint8_t outcome, spurious, pad[2];
};

struct pbox_rec {
  uint64_t label_id, match_label_id;
  float iou;
  uint8_t outcome, missing, pad[2];
};

struct rank_rec {
  uint64_t sample_id;
  double score;
  double tie; /* secondary key (higher first), not exposed */
};

bool evalrun_name_valid(const char *name)
{
  size_t n = name ? strlen(name) : 0;
  if (n < 1 || n > EVALRUN_MAX_NAME || !strcmp(name, ".") ||
      !strcmp(name, ".."))
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

/* splitmix64 finaliser: spreads (id, labels_version) pairs so that the
 * fingerprint changes whenever any of them does. */
static uint64_t mix(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t fp_step(uint64_t h, uint64_t id, uint64_t ver)
{
  return mix(h ^ mix(id * 0x100000001b3ull + ver));
}

/* Key "<name>\0<suffix>". */
static size_t make_key(uint8_t *out, const char *name, const void *suffix,
                       size_t slen)
{
  size_t n = strlen(name);
  memcpy(out, name, n);
  out[n] = 0;
  if (slen)
    memcpy(out + n + 1, suffix, slen);
  return n + 1 + slen;
}

/*---- Loading --------------------------------------------------------------*/

struct loaded {
  struct eval_gt *gts;
  struct eval_pred *preds;
  uint64_t *gt_lid, *pred_lid; /* label ids parallel to gts / preds */
  size_t n_gts, n_preds, cap_g, cap_p;
  size_t *gs, *ps;             /* [n_images + 1] */
  uint64_t *sid, *sver;        /* [n_images] sample id, labels version */
  size_t n_images, cap_i, cap_s;
  uint64_t fp;                 /* fingerprint over all present samples */
  uint64_t n_present;
};

static void loaded_free(struct loaded *l)
{
  free(l->gts);
  free(l->preds);
  free(l->gt_lid);
  free(l->pred_lid);
  free(l->gs);
  free(l->ps);
  free(l->sid);
  free(l->sver);
  memset(l, 0, sizeof(*l));
}

static int grow2(void **a, void **b, size_t *cap, size_t need, size_t ea,
                 size_t eb)
{
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap * 2 : 1024;
  while (n < need)
    n *= 2;
  void *pa = realloc(*a, n * ea);
  if (!pa)
    return -ENOMEM;
  *a = pa;
  void *pb = realloc(*b, n * eb);
  if (!pb)
    return -ENOMEM;
  *b = pb;
  *cap = n;
  return 0;
}

/* Reads both fields of every present sample.  Samples with neither field
 * are counted in the fingerprint but get no image slot. */
static int load(struct store_txn *t, const char *gtf, const char *pf,
                struct loaded *l, char *err, size_t errlen)
{
  struct store_iter *it = NULL;
  struct sample s;
  uint64_t next = 1;
  int r = store_iter_new(t, &it);

  memset(l, 0, sizeof(*l));
  l->gs = malloc(sizeof(size_t));
  l->ps = malloc(sizeof(size_t));
  if (!l->gs || !l->ps) {
    store_iter_free(it);
    return -ENOMEM;
  }
  l->gs[0] = l->ps[0] = 0;
  while (r == 0 && (r = store_iter_samples(it, next, &s)) == 0) {
    next = s.id + 1;
    if (s.flags & SAMPLE_MISSING)
      continue;
    l->n_present++;
    l->fp = fp_step(l->fp, s.id, s.labels_version);
    if (!s.labels_version)
      continue; /* never labelled */
    uint64_t sid = s.id, sver = s.labels_version;
    struct labels lab;
    r = store_labels_get(t, sid, &lab);
    if (r < 0)
      break;
    struct label_field *g = labels_field(&lab, gtf, false);
    struct label_field *p = labels_field(&lab, pf, false);
    size_t ng = g ? g->n : 0, np = p ? p->n : 0;
    if (ng + np == 0) {
      labels_free(&lab);
      continue;
    }
    if ((r = grow2((void **)&l->sid, (void **)&l->sver, &l->cap_s,
                   l->n_images + 1, 8, 8)) < 0 ||
        (r = grow2((void **)&l->gs, (void **)&l->ps, &l->cap_i,
                   l->n_images + 2, sizeof(size_t), sizeof(size_t))) < 0) {
      labels_free(&lab);
      break;
    }
    if ((r = grow2((void **)&l->gts, (void **)&l->gt_lid, &l->cap_g,
                   l->n_gts + ng, sizeof(struct eval_gt), 8)) < 0 ||
        (r = grow2((void **)&l->preds, (void **)&l->pred_lid, &l->cap_p,
                   l->n_preds + np, sizeof(struct eval_pred), 8)) < 0) {
      labels_free(&lab);
      break;
    }
    for (size_t j = 0; j < ng; j++) {
      const struct detection *d = &g->d[j];
      l->gts[l->n_gts] = (struct eval_gt){
        { d->x, d->y, d->w, d->h }, (int32_t)d->class_id, d->iscrowd,
        d->has_area ? d->area : NAN };
      l->gt_lid[l->n_gts++] = d->id;
    }
    for (size_t j = 0; j < np; j++) {
      const struct detection *d = &p->d[j];
      if (isnan(d->confidence)) {
        snprintf(err, errlen, "sample \"%s\": a box of field \"%s\" has no "
                 "confidence; predictions need one", s.name, pf);
        labels_free(&lab);
        r = -EINVAL;
        break;
      }
      l->preds[l->n_preds] = (struct eval_pred){
        { d->x, d->y, d->w, d->h }, (int32_t)d->class_id, d->confidence };
      l->pred_lid[l->n_preds++] = d->id;
    }
    labels_free(&lab);
    if (r < 0)
      break;
    l->sid[l->n_images] = sid;
    l->sver[l->n_images] = sver;
    l->n_images++;
    l->gs[l->n_images] = l->n_gts;
    l->ps[l->n_images] = l->n_preds;
  }
  store_iter_free(it);
  return r == -ENOENT ? 0 : r;
}

/* COCOeval walks the images in image-id order, and that order breaks
 * confidence ties across images.  Samples matched by a COCO import carry
 * their COCO image id (coco.h); they go first in id order, the others
 * after them in sample-id order. */
struct img_key {
  int64_t coco_id;
  uint64_t sid;
  size_t im;
  bool has;
};

static int cmp_img_key(const void *a, const void *b)
{
  const struct img_key *x = a, *y = b;
  if (x->has != y->has)
    return x->has ? -1 : 1;
  if (x->has && x->coco_id != y->coco_id)
    return x->coco_id < y->coco_id ? -1 : 1;
  return x->sid < y->sid ? -1 : x->sid > y->sid;
}

static int order_by_coco_id(struct store_txn *t, struct loaded *l)
{
  size_t n = l->n_images;
  struct img_key *k = calloc(n ? n : 1, sizeof(*k));
  struct loaded o = { 0 };
  bool sorted = true;
  int r = 0;

  if (!k)
    return -ENOMEM;
  for (size_t im = 0; im < n; im++) {
    k[im].sid = l->sid[im];
    k[im].im = im;
    r = coco_image_id(t, l->sid[im], &k[im].coco_id);
    if (r < 0 && r != -ENOENT)
      goto out;
    k[im].has = r == 0;
    r = 0;
    if (im && cmp_img_key(&k[im - 1], &k[im]) > 0)
      sorted = false;
  }
  if (sorted)
    goto out;
  qsort(k, n, sizeof(*k), cmp_img_key);
  o.gts = malloc((l->n_gts ? l->n_gts : 1) * sizeof(*o.gts));
  o.gt_lid = malloc((l->n_gts ? l->n_gts : 1) * 8);
  o.preds = malloc((l->n_preds ? l->n_preds : 1) * sizeof(*o.preds));
  o.pred_lid = malloc((l->n_preds ? l->n_preds : 1) * 8);
  o.gs = malloc((n + 1) * sizeof(size_t));
  o.ps = malloc((n + 1) * sizeof(size_t));
  o.sid = malloc(n * 8);
  o.sver = malloc(n * 8);
  if (!o.gts || !o.gt_lid || !o.preds || !o.pred_lid || !o.gs || !o.ps ||
      !o.sid || !o.sver) {
    r = -ENOMEM;
    goto out;
  }
  o.gs[0] = o.ps[0] = 0;
  for (size_t j = 0; j < n; j++) {
    size_t im = k[j].im;
    size_t g0 = l->gs[im], ng = l->gs[im + 1] - g0;
    size_t p0 = l->ps[im], np = l->ps[im + 1] - p0;
    memcpy(o.gts + o.gs[j], l->gts + g0, ng * sizeof(*o.gts));
    memcpy(o.gt_lid + o.gs[j], l->gt_lid + g0, ng * 8);
    memcpy(o.preds + o.ps[j], l->preds + p0, np * sizeof(*o.preds));
    memcpy(o.pred_lid + o.ps[j], l->pred_lid + p0, np * 8);
    o.gs[j + 1] = o.gs[j] + ng;
    o.ps[j + 1] = o.ps[j] + np;
    o.sid[j] = l->sid[im];
    o.sver[j] = l->sver[im];
  }
  o.n_gts = o.cap_g = l->n_gts;
  o.n_preds = o.cap_p = l->n_preds;
  o.n_images = o.cap_s = n;
  o.cap_i = n + 1;
  o.fp = l->fp;
  o.n_present = l->n_present;
  loaded_free(l);
  *l = o;
  memset(&o, 0, sizeof(o));
out:
  loaded_free(&o);
  free(k);
  return r;
}

/*---- Running --------------------------------------------------------------*/

static int cmp_rank(const void *a, const void *b)
{
  const struct rank_rec *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  if (x->tie != y->tie)
    return x->tie > y->tie ? -1 : 1;
  return x->sample_id < y->sample_id ? -1 : x->sample_id > y->sample_id;
}

static int del_all(struct store_txn *t, const char *name)
{
  uint8_t key[EVALRUN_MAX_NAME + 2];
  size_t kl = make_key(key, name, NULL, 0);
  int r = store_rec_each(t, NS_SAMPLE, key, kl, true, NULL, NULL);
  if (r == 0)
    r = store_rec_each(t, NS_RANK, key, kl, true, NULL, NULL);
  if (r == 0) {
    r = store_rec_del(t, NS_SUM, name, strlen(name));
    if (r == -ENOENT)
      r = 0;
  }
  return r;
}

static float f32(double v)
{
  return (float)v;
}

/* Writes the per-sample records and collects the ranked lists. */
static int write_samples(struct store_txn *t, const char *name,
                         const struct loaded *l, const struct eval_result *ev,
                         const struct eval_mistakes *mk,
                         struct rank_rec *lists[3], size_t nlist[3])
{
  struct buf b;
  int r = 0;

  buf_init(&b, SIZE_MAX);
  for (size_t im = 0; im < l->n_images && r == 0; im++) {
    size_t g0 = l->gs[im], g1 = l->gs[im + 1];
    size_t p0 = l->ps[im], p1 = l->ps[im + 1];
    struct samp_rec sr = { 0 };
    sr.version = REC_VERSION;
    sr.n_gt = (uint32_t)(g1 - g0);
    sr.n_pred = (uint32_t)(p1 - p0);
    sr.n_missing = (uint32_t)mk->image_missing[im];
    sr.n_spurious = (uint32_t)mk->image_spurious[im];
    sr.labels_version = l->sver[im];
    sr.tp = ev->images[im].tp;
    sr.fp = ev->images[im].fp;
    sr.fn = ev->images[im].fn;
    sr.mistakenness = mk->image_mistakenness[im];
    buf_reset(&b);
    r = buf_append(&b, &sr, sizeof(sr));
    for (size_t j = g0; j < g1 && r == 0; j++) {
      const struct eval_match *m = &ev->gts[j];
      struct gbox_rec gb = { 0 };
      gb.label_id = l->gt_lid[j];
      gb.match_label_id = m->other >= 0 ? l->pred_lid[m->other] : 0;
      gb.iou = f32(m->iou);
      gb.mistakenness = f32(mk->gt_mistakenness[j]);
      gb.mistakenness_loc = f32(mk->gt_mistakenness_loc[j]);
      gb.outcome = (uint8_t)m->outcome;
      gb.spurious = mk->gt_possible_spurious[j];
      r = buf_append(&b, &gb, sizeof(gb));
    }
    double maxconf = 0;
    for (size_t i = p0; i < p1 && r == 0; i++) {
      const struct eval_match *m = &ev->preds[i];
      struct pbox_rec pb = { 0 };
      pb.label_id = l->pred_lid[i];
      pb.match_label_id = m->other >= 0 ? l->gt_lid[m->other] : 0;
      pb.iou = f32(m->iou);
      pb.outcome = (uint8_t)m->outcome;
      pb.missing = mk->pred_possible_missing[i];
      if (pb.missing && l->preds[i].confidence > maxconf)
        maxconf = l->preds[i].confidence;
      r = buf_append(&b, &pb, sizeof(pb));
    }
    if (r < 0)
      break;
    uint8_t key[EVALRUN_MAX_NAME + 10], be[8];
    store_key_u64(be, l->sid[im]);
    size_t kl = make_key(key, name, be, 8);
    r = store_rec_put(t, NS_SAMPLE, key, kl, b.data, b.len);
    if (sr.mistakenness > -1)
      lists[EVALRUN_MISTAKES][nlist[EVALRUN_MISTAKES]++] =
          (struct rank_rec){ l->sid[im], sr.mistakenness, 0 };
    if (sr.n_missing)
      lists[EVALRUN_MISSING][nlist[EVALRUN_MISSING]++] =
          (struct rank_rec){ l->sid[im], sr.n_missing, maxconf };
    if (sr.n_spurious)
      lists[EVALRUN_SPURIOUS][nlist[EVALRUN_SPURIOUS]++] =
          (struct rank_rec){ l->sid[im], sr.n_spurious, 0 };
  }
  buf_free(&b);
  return r;
}

static int write_summary(struct store_txn *t, const char *name,
                         const struct evalrun_opts *o, const struct loaded *l,
                         const struct eval_result *ev, const size_t nlist[3],
                         double t0, struct evalrun_info *info)
{
  struct sum_rec sr;
  struct buf b;
  uint64_t ver = 0;
  int r;

  memset(&sr, 0, sizeof(sr));
  r = store_version(t, &ver);
  if (r < 0)
    return r;
  sr.version = SUM_VERSION;
  sr.n_thr = ev->n_iou_threshs;
  memcpy(sr.thr, ev->iou_threshs, sizeof(sr.thr));
  sr.iou = o->iou;
  /* This transaction writes, so its commit makes the version ver + 1. */
  sr.store_version = ver + 1;
  sr.labels_fp = l->fp;
  sr.created_ns = time_now_ns();
  sr.n_samples = l->n_present;
  sr.n_gt = l->n_gts;
  sr.n_pred = l->n_preds;
  sr.tp = ev->tp;
  sr.fp = ev->fp;
  sr.fn = ev->fn;
  sr.map = ev->map;
  sr.n_mistakes = nlist[0];
  sr.n_missing = nlist[1];
  sr.n_spurious = nlist[2];
  snprintf(sr.gt_field, sizeof(sr.gt_field), "%s", o->gt_field);
  snprintf(sr.pred_field, sizeof(sr.pred_field), "%s", o->pred_field);
  /* Only classes that occur in either field. */
  for (int32_t c = 1; c < ev->n_classes; c++) {
    const struct eval_class_stats *cs = &ev->classes[c];
    if (cs->tp || cs->fp || cs->fn || cs->num_gt)
      sr.n_classes++;
  }
  sr.seconds = time_mono() - t0;

  buf_init(&b, SIZE_MAX);
  r = buf_append(&b, &sr, sizeof(sr));
  for (int32_t c = 1; c < ev->n_classes && r == 0; c++) {
    const struct eval_class_stats *cs = &ev->classes[c];
    if (!(cs->tp || cs->fp || cs->fn || cs->num_gt))
      continue;
    struct cls_rec cr = { (uint32_t)c, 0, cs->tp, cs->fp, cs->fn,
                          cs->support, cs->num_gt, cs->precision, cs->recall,
                          cs->ap };
    r = buf_append(&b, &cr, sizeof(cr));
  }
  for (int th = 0; th < ev->n_iou_threshs && r == 0; th++)
    for (int32_t c = 1; c < ev->n_classes && r == 0; c++) {
      const struct eval_class_stats *cs = &ev->classes[c];
      if (!(cs->tp || cs->fp || cs->fn || cs->num_gt))
        continue;
      const double *q = ev->precision +
                        ((size_t)th * (size_t)ev->n_classes + (size_t)c) *
                            EVAL_RECALL_POINTS;
      float f[EVAL_RECALL_POINTS];
      for (int k = 0; k < EVAL_RECALL_POINTS; k++)
        f[k] = (float)q[k];
      r = buf_append(&b, f, sizeof(f));
    }
  struct coco_rec co;
  memcpy(co.stats, ev->stats, sizeof(co.stats));
  if (r == 0)
    r = buf_append(&b, &co, sizeof(co));
  for (int32_t c = 1; c < ev->n_classes && r == 0; c++) {
    const struct eval_class_stats *cs = &ev->classes[c];
    if (!(cs->tp || cs->fp || cs->fn || cs->num_gt))
      continue;
    double v[2] = { cs->ap50, cs->ap75 };
    r = buf_append(&b, v, sizeof(v));
  }
  if (r == 0)
    r = store_rec_put(t, NS_SUM, name, strlen(name), b.data, b.len);
  buf_free(&b);
  if (r == 0 && info) {
    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", name);
  }
  return r;
}

static void fill_info(const struct sum_rec *sr, const char *name,
                      struct evalrun_info *ret)
{
  memset(ret, 0, sizeof(*ret));
  snprintf(ret->name, sizeof(ret->name), "%s", name);
  memcpy(ret->gt_field, sr->gt_field, sizeof(ret->gt_field));
  memcpy(ret->pred_field, sr->pred_field, sizeof(ret->pred_field));
  ret->gt_field[LABELS_MAX_FIELD_NAME] = 0;
  ret->pred_field[LABELS_MAX_FIELD_NAME] = 0;
  ret->iou = sr->iou;
  ret->store_version = sr->store_version;
  ret->labels_fp = sr->labels_fp;
  ret->created_ns = sr->created_ns;
  ret->seconds = sr->seconds;
  ret->n_samples = sr->n_samples;
  ret->n_gt = sr->n_gt;
  ret->n_pred = sr->n_pred;
  ret->tp = sr->tp;
  ret->fp = sr->fp;
  ret->fn = sr->fn;
  ret->precision = sr->tp + sr->fp ? (double)sr->tp / (double)(sr->tp + sr->fp)
                                   : 0;
  ret->recall = sr->tp + sr->fn ? (double)sr->tp / (double)(sr->tp + sr->fn)
                                : 0;
  ret->map = sr->map;
  ret->n_classes = sr->n_classes;
  ret->n_mistakes = sr->n_mistakes;
  ret->n_missing = sr->n_missing;
  ret->n_spurious = sr->n_spurious;
}

/* Reads the summary record; *ret_val points to the whole record
 * (borrowed). */
static int get_sum(struct store_txn *t, const char *name, struct sum_rec *sr,
                   const uint8_t **ret_val, size_t *ret_len)
{
  const void *v;
  size_t n;
  if (!evalrun_name_valid(name))
    return -ENOENT;
  int r = store_rec_get(t, NS_SUM, name, strlen(name), &v, &n);
  if (r < 0)
    return r;
  if (n < sizeof(*sr))
    return -EIO;
  memcpy(sr, v, sizeof(*sr));
  size_t need = sizeof(*sr) + (size_t)sr->n_classes * sizeof(struct cls_rec) +
                (size_t)sr->n_thr * sr->n_classes * EVAL_RECALL_POINTS *
                    sizeof(float);
  size_t trailer = sizeof(struct coco_rec) +
                   (size_t)sr->n_classes * 2 * sizeof(double);
  if (sr->n_thr < 0 || sr->n_thr > EVAL_MAX_THRESHS ||
      !((sr->version == REC_VERSION && n == need) ||
        (sr->version == SUM_VERSION && n == need + trailer)))
    return -EIO;
  if (ret_val)
    *ret_val = v;
  if (ret_len)
    *ret_len = n;
  return 0;
}

int evalrun_run(struct store *s, const char *name,
                const struct evalrun_opts *opts, struct evalrun_info *ret,
                char *err, size_t errlen)
{
  struct evalrun_opts o = { 0 };
  struct store_txn *t = NULL;
  struct loaded l;
  struct eval_result ev;
  struct eval_mistakes mk;
  struct rank_rec *lists[3] = { NULL, NULL, NULL };
  size_t nlist[3] = { 0, 0, 0 };
  char dummy[1];
  double t0 = time_mono();
  int r;

  if (!err || !errlen) {
    err = dummy;
    errlen = sizeof(dummy);
  }
  err[0] = 0;
  memset(&l, 0, sizeof(l));
  memset(&ev, 0, sizeof(ev));
  memset(&mk, 0, sizeof(mk));
  if (opts)
    o = *opts;
  if (!o.gt_field)
    o.gt_field = "ground_truth";
  if (!o.pred_field)
    o.pred_field = PRED_DEFAULT_FIELD;
  if (o.iou == 0)
    o.iou = 0.5;
  if (!o.n_threads)
    o.n_threads = 2;
  if (!s || !evalrun_name_valid(name)) {
    snprintf(err, errlen, "invalid evaluation name (1..64 of A-Z a-z 0-9 _ . -)");
    return -EINVAL;
  }
  if (!labels_field_name_valid(o.gt_field) ||
      !labels_field_name_valid(o.pred_field)) {
    snprintf(err, errlen, "invalid field name");
    return -EINVAL;
  }
  if (!(o.iou > 0 && o.iou <= 1) || o.n_threads < 1 || o.n_threads > 64) {
    snprintf(err, errlen, "IoU threshold must be in (0, 1] and threads in "
             "1..64");
    return -EINVAL;
  }
  if (!strcmp(o.gt_field, o.pred_field)) {
    snprintf(err, errlen, "ground truth and predictions are the same field");
    return -EINVAL;
  }

  r = store_txn_begin(s, true, &t);
  if (r < 0)
    goto out;
  r = load(t, o.gt_field, o.pred_field, &l, err, errlen);
  if (r == 0)
    r = order_by_coco_id(t, &l);
  if (r < 0)
    goto out;
  if (l.n_gts == 0 && l.n_preds == 0) {
    snprintf(err, errlen, "no boxes in fields \"%s\" and \"%s\"",
             o.gt_field, o.pred_field);
    r = -EINVAL;
    goto out;
  }
  uint32_t ncls = 0;
  r = store_class_count(t, &ncls);
  if (r < 0)
    goto out;
  struct eval_input in = { l.gts, l.n_gts, l.preds, l.n_preds, l.gs, l.ps,
                           l.n_images, (int32_t)ncls + 1 };
  struct eval_config cfg;
  eval_config_default(&cfg);
  cfg.iou = o.iou;
  cfg.n_threads = o.n_threads;
  r = eval_run(&in, &cfg, &ev);
  if (r == 0)
    r = eval_mistakenness(&in, o.n_threads, &mk);
  if (r < 0) {
    snprintf(err, errlen, "evaluation failed: %s", strerror(-r));
    goto out;
  }
  for (int k = 0; k < 3; k++) {
    lists[k] = malloc((l.n_images ? l.n_images : 1) * sizeof(**lists));
    if (!lists[k]) {
      r = -ENOMEM;
      goto out;
    }
  }
  r = del_all(t, name);
  if (r == 0)
    r = write_samples(t, name, &l, &ev, &mk, lists, nlist);
  for (int k = 0; k < 3 && r == 0; k++) {
    uint8_t key[EVALRUN_MAX_NAME + 3], kind = (uint8_t)k;
    qsort(lists[k], nlist[k], sizeof(**lists), cmp_rank);
    size_t kl = make_key(key, name, &kind, 1);
    r = store_rec_put(t, NS_RANK, key, kl, lists[k],
                      nlist[k] * sizeof(**lists));
  }
  if (r == 0)
    r = write_summary(t, name, &o, &l, &ev, nlist, t0, NULL);
  if (r == 0) {
    r = store_txn_commit(t);
    t = NULL;
  }
  if (r == 0 && ret) {
    struct store_txn *rt;
    if (store_txn_begin(s, false, &rt) == 0) {
      evalrun_get(rt, name, ret);
      store_txn_abort(rt);
    }
  }
out:
  if (r < 0 && !err[0] && errlen > 1)
    snprintf(err, errlen, "%s", strerror(-r));
  store_txn_abort(t);
  for (int k = 0; k < 3; k++)
    free(lists[k]);
  eval_mistakes_free(&mk);
  eval_result_free(&ev);
  loaded_free(&l);
  return r;
}

int evalrun_get(struct store_txn *t, const char *name,
                struct evalrun_info *ret)
{
  struct sum_rec sr;
  int r = get_sum(t, name, &sr, NULL, NULL);
  if (r == 0)
    fill_info(&sr, name, ret);
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
  int r = get_sum(t, name, &sr, NULL, NULL);

  if (r < 0)
    return r;
  /* A version-1 summary was computed with the earlier matching rules
   * (crowds counted, k/100 thresholds, clipped predictions): its numbers
   * are not COCOeval's, so it is stale whatever the labels did. */
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
      fp = fp_step(fp, s.id, s.labels_version);
  }
  store_iter_free(it);
  if (r != -ENOENT && r != 0)
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
  r = get_sum(t, name, &sr, NULL, NULL);
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
  r = get_sum(t, name, &sr, NULL, NULL);
  if (r == 0)
    r = del_all(t, name);
  if (r < 0) {
    store_txn_abort(t);
    return r;
  }
  return store_txn_commit(t);
}

/*---- Renderers ------------------------------------------------------------*/

struct classes {
  struct sum_rec sr;
  struct cls_rec *c;   /* [sr.n_classes] */
  const uint8_t *curves; /* borrowed floats, unaligned */
  /* COCO summary; all -1 for a version-1 record (run before it existed). */
  struct coco_rec co;
  double *ap5075;      /* [sr.n_classes][2]: AP50, AP75 (-1 = undefined) */
};

static int get_classes(struct store_txn *t, const char *name,
                       struct classes *cl)
{
  const uint8_t *v;
  size_t n;
  int r = get_sum(t, name, &cl->sr, &v, &n);
  if (r < 0)
    return r;
  cl->c = malloc((cl->sr.n_classes ? cl->sr.n_classes : 1) *
                 sizeof(struct cls_rec));
  if (!cl->c)
    return -ENOMEM;
  memcpy(cl->c, v + sizeof(cl->sr), cl->sr.n_classes * sizeof(struct cls_rec));
  cl->curves = v + sizeof(cl->sr) + cl->sr.n_classes * sizeof(struct cls_rec);
  size_t nc = cl->sr.n_classes;
  cl->ap5075 = malloc((nc ? nc : 1) * 2 * sizeof(double));
  if (!cl->ap5075) {
    free(cl->c);
    return -ENOMEM;
  }
  if (cl->sr.version == SUM_VERSION) {
    const uint8_t *tr = cl->curves + (size_t)cl->sr.n_thr * nc *
                                         EVAL_RECALL_POINTS * sizeof(float);
    memcpy(&cl->co, tr, sizeof(cl->co));
    memcpy(cl->ap5075, tr + sizeof(cl->co), nc * 2 * sizeof(double));
  } else {
    for (int k = 0; k < EVAL_N_STATS; k++)
      cl->co.stats[k] = -1;
    for (size_t k = 0; k < nc * 2; k++)
      cl->ap5075[k] = -1;
  }
  return 0;
}

static void classes_free(struct classes *cl)
{
  free(cl->c);
  free(cl->ap5075);
}

static const char *class_name(struct store_txn *t, uint32_t id)
{
  const char *n = NULL;
  return store_class_name(t, id, &n) == 0 && n ? n : "?";
}

/* "0.1234", or "-" for an undefined (-1) value. */
static const char *fmt_metric(char *buf, size_t n, double v)
{
  if (v > -1)
    snprintf(buf, n, "%.4f", v);
  else
    snprintf(buf, n, "-");
  return buf;
}

/* The conditions of each summary number (enum eval_stat order). */
static const char *const STAT_WHAT[EVAL_N_STATS] = {
  "IoU 0.50:0.95  area all     maxDets 100",
  "IoU 0.50       area all     maxDets 100",
  "IoU 0.75       area all     maxDets 100",
  "IoU 0.50:0.95  area small   maxDets 100",
  "IoU 0.50:0.95  area medium  maxDets 100",
  "IoU 0.50:0.95  area large   maxDets 100",
  "IoU 0.50:0.95  area all     maxDets 1",
  "IoU 0.50:0.95  area all     maxDets 10",
  "IoU 0.50:0.95  area all     maxDets 100",
  "IoU 0.50:0.95  area small   maxDets 100",
  "IoU 0.50:0.95  area medium  maxDets 100",
  "IoU 0.50:0.95  area large   maxDets 100",
};

int evalrun_report_txt(struct store_txn *t, const char *name, struct buf *out)
{
  struct classes cl;
  char a0[16], a1[16], a2[16];
  int r = get_classes(t, name, &cl);
  if (r < 0)
    return r;
  const struct sum_rec *s = &cl.sr;
  struct evalrun_info info;
  fill_info(s, name, &info);
  r = buf_printf(out,
                 "evaluation %s: field \"%s\" against ground truth \"%s\"\n"
                 "method: pycocotools COCOeval (bbox); counts at IoU >= %.2f, "
                 "same class, first 100 predictions per image and class, "
                 "crowds ignored\n"
                 "%" PRIu64 " samples, %" PRIu64 " ground-truth boxes, %" PRIu64
                 " predicted boxes; dataset version %" PRIu64 "\n\n",
                 name, s->pred_field, s->gt_field, s->iou, s->n_samples,
                 s->n_gt, s->n_pred, s->store_version);
  if (r == 0 && s->version == SUM_VERSION) {
    r = buf_puts(out, "COCO summary:\n");
    for (int k = 0; k < EVAL_N_STATS && r == 0; k++)
      r = buf_printf(out, "  %-6s %7s   %s\n", eval_stat_names[k],
                     fmt_metric(a0, sizeof(a0), cl.co.stats[k]),
                     STAT_WHAT[k]);
    r = r ? r : buf_puts(out, "\n");
  }
  if (r == 0)
    r = buf_printf(out, "%-24s %9s %7s %7s %7s %7s %8s %8s %8s %8s\n",
                   "class", "precision", "recall", "AP", "AP50", "AP75",
                   "support", "tp", "fp", "fn");
  for (uint32_t k = 0; k < s->n_classes && r == 0; k++) {
    const struct cls_rec *c = &cl.c[k];
    r = buf_printf(out, "%-24.24s %9.4f %7.4f %7s %7s %7s %8" PRId64
                   " %8" PRId64 " %8" PRId64 " %8" PRId64 "\n",
                   class_name(t, c->class_id), c->precision, c->recall,
                   fmt_metric(a0, sizeof(a0), c->ap),
                   fmt_metric(a1, sizeof(a1), cl.ap5075[2 * k]),
                   fmt_metric(a2, sizeof(a2), cl.ap5075[2 * k + 1]),
                   c->support, c->tp, c->fp, c->fn);
  }
  if (r == 0)
    r = buf_printf(out, "%-24s %9.4f %7.4f %7s %7s %7s %8" PRId64 " %8" PRId64
                   " %8" PRId64 " %8" PRId64 "\n\n",
                   "all (AP columns: COCO)", info.precision, info.recall,
                   fmt_metric(a0, sizeof(a0), s->map),
                   fmt_metric(a1, sizeof(a1), cl.co.stats[EVAL_AP50]),
                   fmt_metric(a2, sizeof(a2), cl.co.stats[EVAL_AP75]),
                   s->tp + s->fn, s->tp, s->fp, s->fn);
  if (r == 0)
    r = buf_printf(out,
                   "samples ranked by mistakenness: %" PRIu64 "\n"
                   "samples with possible missing ground truth: %" PRIu64 "\n"
                   "samples with possible spurious ground truth: %" PRIu64
                   "\n",
                   s->n_mistakes, s->n_missing, s->n_spurious);
  classes_free(&cl);
  return r;
}

static int json_num(struct buf *b, const char *key, double v, bool comma)
{
  int r = buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
  if (r == 0)
    r = isfinite(v) ? buf_json_double(b, v) : buf_puts(b, "null");
  return r;
}

int evalrun_metrics_json(struct store_txn *t, const char *name,
                         struct buf *out)
{
  struct classes cl;
  int r = get_classes(t, name, &cl);
  if (r < 0)
    return r;
  const struct sum_rec *s = &cl.sr;
  struct evalrun_info info;
  fill_info(s, name, &info);
  r = buf_puts(out, "{\"name\":");
  if (r == 0)
    r = buf_json_str(out, name, strlen(name));
  if (r == 0)
    r = buf_puts(out, ",\"gt_field\":");
  if (r == 0)
    r = buf_json_str(out, s->gt_field, strlen(s->gt_field));
  if (r == 0)
    r = buf_puts(out, ",\"pred_field\":");
  if (r == 0)
    r = buf_json_str(out, s->pred_field, strlen(s->pred_field));
  if (r == 0)
    r = json_num(out, "iou", s->iou, true);
  if (r == 0)
    r = buf_puts(out, ",\"method\":\"pycocotools\",\"classwise\":true,"
                 "\"iou_thresholds\":[");
  for (int k = 0; k < s->n_thr && r == 0; k++) {
    if (k)
      r = buf_puts(out, ",");
    if (r == 0)
      r = buf_json_double(out, s->thr[k]);
  }
  if (r == 0)
    r = buf_printf(out, "],\"dataset_version\":%" PRIu64
                   ",\"created_ns\":%" PRId64 ",\"samples\":%" PRIu64
                   ",\"gt_boxes\":%" PRIu64 ",\"pred_boxes\":%" PRIu64
                   ",\"tp\":%" PRId64 ",\"fp\":%" PRId64 ",\"fn\":%" PRId64,
                   s->store_version, s->created_ns, s->n_samples, s->n_gt,
                   s->n_pred, s->tp, s->fp, s->fn);
  if (r == 0)
    r = json_num(out, "precision", info.precision, true);
  if (r == 0)
    r = json_num(out, "recall", info.recall, true);
  if (r == 0)
    r = json_num(out, "map", s->map > -1 ? s->map : NAN, true);
  /* COCOeval's summary under its names; null when undefined. */
  for (int k = 0; k < EVAL_N_STATS && r == 0; k++)
    r = json_num(out, eval_stat_names[k],
                 cl.co.stats[k] > -1 ? cl.co.stats[k] : NAN, true);
  if (r == 0)
    r = buf_printf(out, ",\"possible_mistakes\":%" PRIu64
                   ",\"possible_missing\":%" PRIu64
                   ",\"possible_spurious\":%" PRIu64 ",\"classes\":[",
                   s->n_mistakes, s->n_missing, s->n_spurious);
  for (uint32_t k = 0; k < s->n_classes && r == 0; k++) {
    const struct cls_rec *c = &cl.c[k];
    const char *cn = class_name(t, c->class_id);
    r = buf_printf(out, "%s{\"id\":%" PRIu32 ",\"name\":", k ? "," : "",
                   c->class_id);
    if (r == 0)
      r = buf_json_str(out, cn, strlen(cn));
    if (r == 0)
      r = buf_printf(out, ",\"tp\":%" PRId64 ",\"fp\":%" PRId64
                     ",\"fn\":%" PRId64 ",\"support\":%" PRId64
                     ",\"num_gt\":%" PRId64,
                     c->tp, c->fp, c->fn, c->support, c->num_gt);
    if (r == 0)
      r = json_num(out, "precision", c->precision, true);
    if (r == 0)
      r = json_num(out, "recall", c->recall, true);
    if (r == 0)
      r = json_num(out, "ap", c->ap > -1 ? c->ap : NAN, true);
    if (r == 0)
      r = json_num(out, "ap50", cl.ap5075[2 * k] > -1 ? cl.ap5075[2 * k] : NAN,
                   true);
    if (r == 0)
      r = json_num(out, "ap75",
                   cl.ap5075[2 * k + 1] > -1 ? cl.ap5075[2 * k + 1] : NAN,
                   true);
    if (r == 0)
      r = buf_puts(out, "}");
  }
  if (r == 0)
    r = buf_puts(out, "]}\n");
  classes_free(&cl);
  return r;
}

struct order_ent {
  int64_t support;
  uint32_t k;
};

static int cmp_order(const void *a, const void *b)
{
  const struct order_ent *x = a, *y = b;
  if (x->support != y->support)
    return x->support > y->support ? -1 : 1;
  return x->k < y->k ? -1 : x->k > y->k;
}

int evalrun_pr_curves_jpeg(struct store_txn *t, const char *name, int w,
                           int h, uint8_t **ret_data, size_t *ret_len)
{
  struct classes cl;
  int r = get_classes(t, name, &cl);
  if (r < 0)
    return r;
  const struct sum_rec *s = &cl.sr;
  uint32_t nc = s->n_classes;
  int th = 0;
  for (int k = 1; k < s->n_thr; k++)
    if (fabs(s->thr[k] - s->iou) < fabs(s->thr[th] - s->iou))
      th = k;
  double *xs = malloc(EVAL_RECALL_POINTS * sizeof(double));
  double *ys = malloc(((size_t)nc + 1) * EVAL_RECALL_POINTS * sizeof(double));
  struct plot_series *ser = calloc((size_t)nc + 1, sizeof(*ser));
  struct order_ent *ord = calloc((size_t)nc + 1, sizeof(*ord));
  char *labels = calloc((size_t)nc + 1, 64);
  size_t ns = 0;
  if (!xs || !ys || !ser || !ord || !labels) {
    r = -ENOMEM;
    goto out;
  }
  for (int k = 0; k < EVAL_RECALL_POINTS; k++)
    xs[k] = k / (double)(EVAL_RECALL_POINTS - 1);
  size_t no = 0;
  for (uint32_t k = 0; k < nc; k++)
    if (cl.c[k].num_gt > 0 && s->n_thr > 0)
      ord[no++] = (struct order_ent){ cl.c[k].support, k };
  qsort(ord, no, sizeof(*ord), cmp_order);
  for (size_t i = 0; i < no; i++) {
    uint32_t k = ord[i].k;
    double *y = ys + ns * EVAL_RECALL_POINTS;
    const uint8_t *src = cl.curves + (((size_t)th * nc + k) *
                                      EVAL_RECALL_POINTS) * sizeof(float);
    for (int q = 0; q < EVAL_RECALL_POINTS; q++) {
      float f;
      memcpy(&f, src + (size_t)q * sizeof(float), sizeof(f));
      y[q] = f < 0 ? NAN : f;
    }
    char *lab = labels + ns * 64;
    snprintf(lab, 64, "%.40s AP %.3f", class_name(t, cl.c[k].class_id),
             cl.c[k].ap);
    ser[ns] = (struct plot_series){ xs, y, EVAL_RECALL_POINTS,
                                    draw_palette(cl.c[k].class_id), lab };
    ns++;
  }
  char title[160];
  snprintf(title, sizeof(title), "%.64s: precision-recall at IoU %.2f, mAP %.3f",
           name, s->n_thr ? s->thr[th] : s->iou, s->map);
  r = plot_lines_jpeg(ser, ns, title, "recall", "precision", w, h, ret_data,
                      ret_len);
out:
  free(xs);
  free(ys);
  free(ser);
  free(ord);
  free(labels);
  classes_free(&cl);
  return r;
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
  size_t kl = make_key(key, name, &kind, 1);
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

/* Reads a sample record; *ret_val borrowed. */
static int get_samp(struct store_txn *t, const char *name, uint64_t sid,
                    struct samp_rec *sr, const uint8_t **ret_val)
{
  uint8_t key[EVALRUN_MAX_NAME + 10], be[8];
  const void *v;
  size_t n;

  if (!evalrun_name_valid(name))
    return -ENOENT;
  store_key_u64(be, sid);
  size_t kl = make_key(key, name, be, 8);
  int r = store_rec_get(t, NS_SAMPLE, key, kl, &v, &n);
  if (r < 0)
    return r;
  if (n < sizeof(*sr))
    return -EIO;
  memcpy(sr, v, sizeof(*sr));
  if (sr->version != REC_VERSION ||
      n != sizeof(*sr) + sr->n_gt * sizeof(struct gbox_rec) +
               sr->n_pred * sizeof(struct pbox_rec))
    return -EIO;
  *ret_val = v;
  return 0;
}

int evalrun_sample(struct store_txn *t, const char *name, uint64_t sample_id,
                   struct evalrun_sample *ret)
{
  struct sum_rec sum;
  struct samp_rec sr;
  const uint8_t *v;
  int r = get_sum(t, name, &sum, NULL, NULL);
  if (r < 0)
    return r;
  memset(ret, 0, sizeof(*ret));
  ret->mistakenness = -1;
  r = get_samp(t, name, sample_id, &sr, &v);
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
  int r = get_samp(t, name, sample_id, &sr, &v);
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

int evalrun_sample_jpeg(struct store_txn *t, const char *name,
                        uint64_t sample_id, enum evalrun_list view,
                        const void *jpeg, size_t len, uint8_t **ret_data,
                        size_t *ret_len)
{
  struct sum_rec sum;
  struct samp_rec sr;
  struct sample smp;
  struct labels lab;
  const uint8_t *v;
  int r;

  if ((int)view < 0 || view > EVALRUN_SPURIOUS || !jpeg || !ret_data ||
      !ret_len)
    return -EINVAL;
  r = get_sum(t, name, &sum, NULL, NULL);
  if (r < 0)
    return r;
  r = store_sample_get(t, sample_id, &smp);
  if (r < 0)
    return r;
  uint64_t ver = smp.labels_version;
  r = get_samp(t, name, sample_id, &sr, &v);
  if (r == -ENOENT)
    return draw_boxes_jpeg(jpeg, len, NULL, 0, 90, ret_data, ret_len);
  if (r < 0)
    return r;
  if (sr.labels_version != ver)
    return -ESTALE;
  sum.gt_field[LABELS_MAX_FIELD_NAME] = 0;
  sum.pred_field[LABELS_MAX_FIELD_NAME] = 0;
  r = store_labels_get(t, sample_id, &lab);
  if (r < 0)
    return r;
  struct label_field *g = labels_field(&lab, sum.gt_field, false);
  struct label_field *p = labels_field(&lab, sum.pred_field, false);
  size_t ng = g ? g->n : 0, np = p ? p->n : 0;
  if (ng != sr.n_gt || np != sr.n_pred) {
    labels_free(&lab);
    return -ESTALE;
  }
  struct draw_box *boxes = calloc(ng + np + 1, sizeof(*boxes));
  char *caps = calloc(ng + np + 1, 80);
  size_t nb = 0;
  if (!boxes || !caps) {
    r = -ENOMEM;
    goto out;
  }
  const uint8_t *q = v + sizeof(sr);
  for (size_t j = 0; j < ng; j++, q += sizeof(struct gbox_rec)) {
    struct gbox_rec gb;
    memcpy(&gb, q, sizeof(gb));
    const struct detection *d = &g->d[j];
    if (gb.label_id != d->id) {
      r = -ESTALE;
      goto out;
    }
    bool show = view == EVALRUN_MISTAKES ? gb.outcome == EVAL_FN
                : view == EVALRUN_SPURIOUS ? gb.spurious
                                           : true;
    if (!show)
      continue;
    char *c = caps + nb * 80;
    snprintf(c, 80, "GT: %.60s", d->label ? d->label : "?");
    boxes[nb++] = (struct draw_box){ d->x, d->y, d->w, d->h, GT_COLOUR, c };
  }
  for (size_t i = 0; i < np; i++, q += sizeof(struct pbox_rec)) {
    struct pbox_rec pb;
    memcpy(&pb, q, sizeof(pb));
    const struct detection *d = &p->d[i];
    if (pb.label_id != d->id) {
      r = -ESTALE;
      goto out;
    }
    bool confident = d->confidence >= EVALRUN_DRAW_MIN_CONF;
    bool show = view == EVALRUN_MISTAKES ? pb.outcome == EVAL_FP && confident
                : view == EVALRUN_MISSING ? pb.missing
                                          : confident;
    if (!show)
      continue;
    char *c = caps + nb * 80;
    snprintf(c, 80, "%.60s %.2f", d->label ? d->label : "?", d->confidence);
    boxes[nb++] = (struct draw_box){ d->x, d->y, d->w, d->h, PRED_COLOUR, c };
  }
  r = draw_boxes_jpeg(jpeg, len, boxes, nb, 90, ret_data, ret_len);
out:
  free(boxes);
  free(caps);
  labels_free(&lab);
  return r;
}
