/* evalrun_load.c - the input of one evaluation run: both label fields of
 * every evaluated sample in the CSR arrays of core/compute/evaluate.h, one
 * image per sample with boxes, in COCOeval's image order (see
 * evalrun_rec.h).  The evaluated samples are those of the ground truth's
 * COCO file when it came from one (in_gt_set() below), else every present
 * sample. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco.h"
#include "evalrun_rec.h"
#include "labels.h"

void evalrun_loaded_free(struct evalrun_loaded *l)
{
  free(l->gts);
  free(l->preds);
  free(l->gt_lid);
  free(l->pred_lid);
  free(l->gs);
  free(l->ps);
  free(l->sid);
  free(l->sver);
  free(l->cls);
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

/* Makes room for one more image with ng ground-truth and np predicted
 * boxes. */
static int grow_image(struct evalrun_loaded *l, size_t ng, size_t np)
{
  int r = grow2((void **)&l->sid, (void **)&l->sver, &l->cap_s,
                l->n_images + 1, 8, 8);

  if (r == 0)
    r = grow2((void **)&l->gs, (void **)&l->ps, &l->cap_i, l->n_images + 2,
              sizeof(size_t), sizeof(size_t));
  if (r == 0)
    r = grow2((void **)&l->gts, (void **)&l->gt_lid, &l->cap_g,
              l->n_gts + ng, sizeof(struct eval_gt), 8);
  if (r == 0)
    r = grow2((void **)&l->preds, (void **)&l->pred_lid, &l->cap_p,
              l->n_preds + np, sizeof(struct eval_pred), 8);
  return r;
}

/* Appends sample s as one image: its boxes of field g (ground truth) and
 * p (predictions, each with a confidence), either may be NULL. */
static int add_image(struct evalrun_loaded *l, const struct sample *s,
                     const struct label_field *g, const struct label_field *p,
                     const char *pf, char *err, size_t errlen)
{
  size_t ng = g ? g->n : 0, np = p ? p->n : 0;
  int r = grow_image(l, ng, np);

  if (r < 0)
    return r;
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
               "confidence; predictions need one", s->name, pf);
      return -EINVAL;
    }
    l->preds[l->n_preds] = (struct eval_pred){
      { d->x, d->y, d->w, d->h }, (int32_t)d->class_id, d->confidence };
    l->pred_lid[l->n_preds++] = d->id;
  }
  l->sid[l->n_images] = s->id;
  l->sver[l->n_images] = s->labels_version;
  l->n_images++;
  l->gs[l->n_images] = l->n_gts;
  l->ps[l->n_images] = l->n_preds;
  return 0;
}

/* Whether sample s is one of the ground truth's images.  pycocotools
 * evaluates the image ids of its ground-truth JSON and refuses results on
 * any other id (loadRes), so when the ground-truth field came from a COCO
 * file (l->gt_listed), a sample that file did not list is left out with
 * its predictions: a model run over the whole folder against a val-split
 * file would otherwise have its predictions on the other pictures counted
 * as false positives.  A sample with boxes in the field stays in: its
 * ground truth was given another way (a label write, another format).
 * Without a COCO file there is no list: every sample is evaluated. */
static int in_gt_set(struct store_txn *t, const struct sample *s,
                     const char *gtf, const struct label_field *g,
                     const struct evalrun_loaded *l)
{
  int64_t id;
  int r;

  if (!l->gt_listed || (g && g->n))
    return 1;
  r = coco_image_id(t, s->id, gtf, &id);
  return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

/* One present sample: into the fingerprint, and an image when it is one
 * of the ground truth's and has a box in either field. */
static int load_sample(struct store_txn *t, const struct sample *s,
                       const char *gtf, const char *pf,
                       struct evalrun_loaded *l, char *err, size_t errlen)
{
  struct labels lab;
  const struct label_field *g = NULL, *p = NULL;
  int r;

  l->fp = evalrun_rec_fp_step(l->fp, s->id, s->labels_version);
  memset(&lab, 0, sizeof(lab));
  if (s->labels_version) {   /* else never labelled */
    r = store_labels_get(t, s->id, &lab);
    if (r < 0)
      return r;
    g = labels_field(&lab, gtf, false);
    p = labels_field(&lab, pf, false);
  }
  r = in_gt_set(t, s, gtf, g, l);
  if (r == 0) {
    l->out_preds += p ? p->n : 0;
    l->out_images += p && p->n;
  } else if (r > 0) {
    l->n_present++;
    r = (g ? g->n : 0) + (p ? p->n : 0) > 0
            ? add_image(l, s, g, p, pf, err, errlen)
            : 0;
  }
  if (s->labels_version)
    labels_free(&lab);
  return r;
}

static int stop_at_first_id(uint64_t sample_id, int64_t coco_id, void *ud)
{
  (void)sample_id;
  (void)coco_id;
  (void)ud;
  return 1;
}

static int stop_at_first_missing(int64_t coco_id, const char *file_name,
                                 const struct label_field *f, void *ud)
{
  (void)coco_id;
  (void)file_name;
  (void)f;
  (void)ud;
  return 1;
}

/* Whether field gtf holds the ground truth of a COCO file: a sample
 * with a COCO image id in it, or an image of the file not on disk. */
static int gt_listed(struct store_txn *t, const char *gtf, bool *ret)
{
  int r = coco_image_id_each(t, gtf, stop_at_first_id, NULL);

  if (r == 0)
    r = coco_missing_each(t, gtf, stop_at_first_missing, NULL);
  if (r < 0)
    return r;
  *ret = r == 1;
  return 0;
}

/* Reads both fields of every present sample of the ground truth's set.
 * Samples with neither field, and those outside the set, are counted in
 * the fingerprint but get no image slot. */
static int load_fields(struct store_txn *t, const char *gtf, const char *pf,
                       struct evalrun_loaded *l, char *err, size_t errlen)
{
  struct store_iter *it = NULL;
  struct sample s;
  uint64_t next = 1;
  int r = store_iter_new(t, &it);

  memset(l, 0, sizeof(*l));
  if (r == 0)
    r = gt_listed(t, gtf, &l->gt_listed);
  if (r < 0) {
    store_iter_free(it);
    return r;
  }
  l->gs = malloc(sizeof(size_t));
  l->ps = malloc(sizeof(size_t));
  if (!l->gs || !l->ps) {
    store_iter_free(it);
    return -ENOMEM;
  }
  l->gs[0] = l->ps[0] = 0;
  while (r == 0 && (r = store_iter_samples(it, next, &s)) == 0) {
    next = s.id + 1;
    if (!(s.flags & SAMPLE_MISSING))
      r = load_sample(t, &s, gtf, pf, l, err, errlen);
  }
  store_iter_free(it);
  return r == -ENOENT ? 0 : r;
}

/* An image of the COCO ground truth whose file is not on disk (coco.h,
 * COCO_NS_MISSING): an image with sample id 0, its boxes and no
 * prediction, so they count as misses, as in pycocotools, which
 * evaluates every image of the ground-truth file.  No per-sample record
 * is written for it (evalrun_write.c). */
static int add_missing(int64_t coco_id, const char *file_name,
                       const struct label_field *f, void *ud)
{
  struct evalrun_loaded *l = ud;
  struct sample s = { .id = 0, .name = file_name };

  (void)coco_id;
  return f->n ? add_image(l, &s, f, NULL, "", NULL, 0) : 0;
}

/* The ground truth of images not on disk, after the samples; their
 * records and the ground truth's COCO image ids join the fingerprint
 * (evalrun_rec_coco_fp). */
static int load_missing(struct store_txn *t, const char *gtf,
                        struct evalrun_loaded *l)
{
  int r = coco_missing_each(t, gtf, add_missing, l);

  return r ? r : evalrun_rec_coco_fp(t, gtf, &l->fp);
}

/* COCOeval walks the images in image-id order, and that order breaks
 * confidence ties across images.  Samples matched by a COCO import into
 * the ground-truth field carry their COCO image id for it (coco.h; an
 * import into another field has its own ids and changes nothing here);
 * they go first in id order, the others after them in sample-id order. */
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

static int order_by_coco_id(struct store_txn *t, const char *gtf,
                            struct evalrun_loaded *l)
{
  size_t n = l->n_images;
  struct img_key *k = calloc(n ? n : 1, sizeof(*k));
  struct evalrun_loaded o = { 0 };
  bool sorted = true;
  int r = 0;

  if (!k)
    return -ENOMEM;
  for (size_t im = 0; im < n; im++) {
    k[im].sid = l->sid[im];
    k[im].im = im;
    r = coco_image_id(t, l->sid[im], gtf, &k[im].coco_id);
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
  o.gt_listed = l->gt_listed;
  o.out_preds = l->out_preds;
  o.out_images = l->out_images;
  evalrun_loaded_free(l);
  *l = o;
  memset(&o, 0, sizeof(o));
out:
  evalrun_loaded_free(&o);
  free(k);
  return r;
}


int evalrun_load(struct store_txn *t, const char *gtf, const char *pf,
                 struct evalrun_loaded *l, char *err, size_t errlen)
{
  int r = load_fields(t, gtf, pf, l, err, errlen);

  r = r ? r : load_missing(t, gtf, l);
  return r ? r : order_by_coco_id(t, gtf, l);
}
