/* evalrun_write.c - the records of one evaluation run (layout in
 * evalrun_rec.h): per-sample records, the three ranked lists and the
 * summary with per-class metrics, PR curves and the COCO numbers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalrun_rec.h"

static int cmp_rank(const void *a, const void *b)
{
  const struct rank_rec *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  if (x->tie != y->tie)
    return x->tie > y->tie ? -1 : 1;
  return x->sample_id < y->sample_id ? -1 : x->sample_id > y->sample_id;
}

static float f32(double v)
{
  return (float)v;
}

/* Writes the per-sample records and collects the ranked lists. */
static int write_samples(struct store_txn *t, const char *name,
                         const struct evalrun_loaded *l, const struct eval_result *ev,
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
    if (!l->sid[im])
      continue;   /* a COCO image not on disk: counted in the summary only */
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
    size_t kl = evalrun_rec_key(key, name, be, 8);
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

/* Sorts and stores the three ranked lists. */
static int write_ranked(struct store_txn *t, const char *name,
                        struct rank_rec *lists[3], const size_t nlist[3])
{
  int r = 0;

  for (int k = 0; k < 3 && r == 0; k++) {
    uint8_t key[EVALRUN_MAX_NAME + 3], kind = (uint8_t)k;
    size_t kl = evalrun_rec_key(key, name, &kind, 1);
    qsort(lists[k], nlist[k], sizeof(**lists), cmp_rank);
    r = store_rec_put(t, NS_RANK, key, kl, lists[k],
                      nlist[k] * sizeof(**lists));
  }
  return r;
}

/* Only classes that occur in either field have a summary entry. */
static bool class_occurs(const struct eval_class_stats *cs)
{
  return cs->tp || cs->fp || cs->fn || cs->num_gt;
}

/* The fixed part of the summary record. */
static int summary_head(struct store_txn *t, const struct evalrun_opts *o,
                        const struct evalrun_loaded *l,
                        const struct eval_result *ev, const size_t nlist[3],
                        double t0, struct sum_rec *sr)
{
  uint64_t ver = 0;
  int r = store_version(t, &ver);

  memset(sr, 0, sizeof(*sr));
  if (r < 0)
    return r;
  sr->version = SUM_VERSION;
  sr->n_thr = ev->n_iou_threshs;
  memcpy(sr->thr, ev->iou_threshs, sizeof(sr->thr));
  sr->iou = o->iou;
  /* This transaction writes, so its commit makes the version ver + 1. */
  sr->store_version = ver + 1;
  sr->labels_fp = l->fp;
  sr->created_ns = time_now_ns();
  sr->n_samples = l->n_present;
  sr->n_gt = l->n_gts;
  sr->n_pred = l->n_preds;
  sr->tp = ev->tp;
  sr->fp = ev->fp;
  sr->fn = ev->fn;
  sr->map = ev->map;
  sr->n_mistakes = nlist[0];
  sr->n_missing = nlist[1];
  sr->n_spurious = nlist[2];
  snprintf(sr->gt_field, sizeof(sr->gt_field), "%s", o->gt_field);
  snprintf(sr->pred_field, sizeof(sr->pred_field), "%s", o->pred_field);
  for (int32_t c = 1; c < ev->n_classes; c++)
    if (class_occurs(&ev->classes[c]))
      sr->n_classes++;
  sr->seconds = time_mono() - t0;
  return 0;
}

/* The per-class entries and the PR curves after the head; the result's
 * class indexes are l's dense ones (l->cls gives the class id). */
static int summary_classes(const struct evalrun_loaded *l,
                           const struct eval_result *ev, struct buf *b)
{
  int r = 0;

  for (int32_t c = 1; c < ev->n_classes && r == 0; c++) {
    const struct eval_class_stats *cs = &ev->classes[c];
    if (!class_occurs(cs))
      continue;
    struct cls_rec cr = { l->cls[c], 0, cs->tp, cs->fp, cs->fn,
                          cs->support, cs->num_gt, cs->precision, cs->recall,
                          cs->ap };
    r = buf_append(b, &cr, sizeof(cr));
  }
  for (int th = 0; th < ev->n_iou_threshs && r == 0; th++)
    for (int32_t c = 1; c < ev->n_classes && r == 0; c++) {
      if (!class_occurs(&ev->classes[c]))
        continue;
      const double *q = ev->precision +
                        ((size_t)th * (size_t)ev->n_classes + (size_t)c) *
                            EVAL_RECALL_POINTS;
      float f[EVAL_RECALL_POINTS];
      for (int k = 0; k < EVAL_RECALL_POINTS; k++)
        f[k] = (float)q[k];
      r = buf_append(b, f, sizeof(f));
    }
  return r;
}

/* The version-2 trailer: the COCO summary and per-class AP50, AP75. */
static int summary_coco(const struct eval_result *ev, struct buf *b)
{
  struct coco_rec co;
  int r;

  memcpy(co.stats, ev->stats, sizeof(co.stats));
  r = buf_append(b, &co, sizeof(co));
  for (int32_t c = 1; c < ev->n_classes && r == 0; c++) {
    const struct eval_class_stats *cs = &ev->classes[c];
    if (!class_occurs(cs))
      continue;
    double v[2] = { cs->ap50, cs->ap75 };
    r = buf_append(b, v, sizeof(v));
  }
  return r;
}

static int write_summary(struct store_txn *t, const char *name,
                         const struct evalrun_opts *o,
                         const struct evalrun_loaded *l,
                         const struct eval_result *ev, const size_t nlist[3],
                         double t0)
{
  struct sum_rec sr;
  struct buf b;
  int r = summary_head(t, o, l, ev, nlist, t0, &sr);

  if (r < 0)
    return r;
  buf_init(&b, SIZE_MAX);
  r = buf_append(&b, &sr, sizeof(sr));
  if (r == 0)
    r = summary_classes(l, ev, &b);
  if (r == 0)
    r = summary_coco(ev, &b);
  if (r == 0) {
    struct out_rec out = { l->out_preds, l->out_images };
    r = buf_append(&b, &out, sizeof(out));
  }
  if (r == 0)
    r = store_rec_put(t, NS_SUM, name, strlen(name), b.data, b.len);
  buf_free(&b);
  return r;
}

int evalrun_write(struct store_txn *t, const char *name,
                  const struct evalrun_opts *o,
                  const struct evalrun_loaded *l,
                  const struct eval_result *ev,
                  const struct eval_mistakes *mk, double t0)
{
  struct rank_rec *lists[3] = { NULL, NULL, NULL };
  size_t nlist[3] = { 0, 0, 0 };
  int r = 0;

  for (int k = 0; k < 3 && r == 0; k++) {
    lists[k] = malloc((l->n_images ? l->n_images : 1) * sizeof(**lists));
    if (!lists[k])
      r = -ENOMEM;
  }
  if (r == 0)
    r = evalrun_rec_delete_all(t, name);
  if (r == 0)
    r = write_samples(t, name, l, ev, mk, lists, nlist);
  if (r == 0)
    r = write_ranked(t, name, lists, nlist);
  if (r == 0)
    r = write_summary(t, name, o, l, ev, nlist, t0);
  for (int k = 0; k < 3; k++)
    free(lists[k]);
  return r;
}
