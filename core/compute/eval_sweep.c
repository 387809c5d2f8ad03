/* eval_sweep.c - phase 2 of the evaluation (eval_i.h): per class, the
 * precision/recall curves of every (threshold, area range, maxDets) from
 * the phase-1 sweep bits, then COCOeval's summary and each class's AP.
 *
 * Each class goes to one worker (largest classes first, so the long ones
 * start early); a worker writes only its class's curves.  The summary
 * means use numpy's summation order (pairwise, in blocks of 8192) so that
 * they land on the same doubles as numpy.mean in COCOeval.
 */
#include "eval_i.h"

#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

static const size_t MAX_DETS[EVAL_N_MAXDETS] = { 1, 10, EVAL_MAX_DETS };

/* numpy's pairwise summation of n contiguous doubles (the inner loop of
 * numpy.add.reduce): plain below 8, eight accumulators up to 128, else
 * split in halves rounded down to a multiple of 8. */
static double pairwise_sum(const double *a, size_t n)
{
  if (n < 8) {
    double res = 0.;
    for (size_t i = 0; i < n; i++)
      res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    size_t i;
    for (int j = 0; j < 8; j++)
      r[j] = a[j];
    for (i = 8; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; j++)
        r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) +
                 ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++)
      res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* numpy.mean of a contiguous array: the reduction runs buffer by buffer
 * from 0, then divides by the count.  -1 for an empty array, as COCOeval's
 * summary does when nothing is > -1. */
static double np_mean(const double *a, size_t n)
{
  if (!n)
    return -1;
  double s = 0.;
  for (size_t k = 0; k < n; k += NP_BUFSIZE)
    s += pairwise_sum(a + k, n - k < NP_BUFSIZE ? n - k : NP_BUFSIZE);
  return s / (double)n;
}

/* COCOeval concatenates each image's list (images in order, each list in
 * rank order) and stable-sorts by descending confidence: the same as
 * sorting by (confidence descending, image, rank). */
static int cmp_entry(const void *a, const void *b)
{
  const struct pr_entry *x = a, *y = b;
  if (x->conf != y->conf)
    return x->conf > y->conf ? -1 : 1;
  if (x->image != y->image)
    return x->image < y->image ? -1 : 1;
  return (x->rank > y->rank) - (x->rank < y->rank);
}

static size_t prec_index(const struct run *run, int t, int32_t c, int a,
                         int m)
{
  size_t nc = (size_t)run->in->n_classes;
  return ((((size_t)t * nc + (size_t)c) * EVAL_N_AREAS + (size_t)a) *
              EVAL_N_MAXDETS + (size_t)m);
}

/* One curve: class c, area a, maxDets index m, threshold t. */
static void curve(struct worker *w, const struct pr_entry *e, size_t ne,
                  int32_t c, int a, int m, int t, int64_t npig)
{
  struct run *run = w->run;
  size_t md = MAX_DETS[m];
  uint16_t bit = (uint16_t)(1u << t);
  double tps = 0, fps = 0;
  size_t n = 0;

  for (size_t i = 0; i < ne; i++) {
    if (e[i].rank >= md)
      continue;
    /* Ignored predictions stay in the sequence (repeating the previous
     * values), as in COCOeval's cumulative sums. */
    if (!(e[i].sw.ig[a] & bit)) {
      if (e[i].sw.tp[a] & bit)
        tps += 1;
      else
        fps += 1;
    }
    w->pre[n] = tps / (fps + tps + DBL_EPSILON); /* np.spacing(1) */
    w->rc[n] = tps / (double)npig;
    n++;
  }
  size_t k = prec_index(run, t, c, a, m);
  run->rec[k] = n ? w->rc[n - 1] : 0;
  /* Interpolated precision: running maximum from the right. */
  for (size_t i = n; i-- > 1;)
    if (w->pre[i] > w->pre[i - 1])
      w->pre[i - 1] = w->pre[i];
  /* At each recall point, the precision at the first recall reaching it
   * (searchsorted, side "left"); 0 past the last recall reached.  The
   * points are numpy.linspace(0, 1, 101): i * 0.01, the last exactly 1. */
  double *q = run->prec + k * EVAL_RECALL_POINTS;
  const double step = 1.0 / (EVAL_RECALL_POINTS - 1);
  size_t i = 0;
  for (int ri = 0; ri < EVAL_RECALL_POINTS; ri++) {
    double rp = ri == EVAL_RECALL_POINTS - 1 ? 1.0 : ri * step;
    while (i < n && w->rc[i] < rp)
      i++;
    q[ri] = i < n ? w->pre[i] : 0;
  }
}

static int class_curves(struct worker *w, int32_t c)
{
  struct run *run = w->run;
  size_t nc = (size_t)run->in->n_classes;
  struct pr_entry *e = run->ent + run->ent_off[c];
  size_t ne = run->ent_off[c + 1] - run->ent_off[c];
  int r = 0;

  qsort(e, ne, sizeof(*e), cmp_entry);
  size_t cap = w->pre_cap;
  w->pre = eval_grow(w->pre, &cap, ne, sizeof(double), &r);
  cap = w->pre_cap;
  w->rc = eval_grow(w->rc, &cap, ne, sizeof(double), &r);
  if (r)
    return r;
  w->pre_cap = cap;
  for (int a = 0; a < EVAL_N_AREAS; a++) {
    int64_t npig = run->npig[(size_t)a * nc + (size_t)c];
    if (!npig)
      continue; /* no GT to recall: stays -1 and out of every mean */
    for (int m = 0; m < EVAL_N_MAXDETS; m++)
      for (int t = 0; t < run->n_thr; t++)
        curve(w, e, ne, c, a, m, t, npig);
  }
  return 0;
}

static void *phase2(void *arg)
{
  struct worker *w = arg;
  struct run *run = w->run;
  size_t n = (size_t)run->in->n_classes;

  while (!atomic_load(&run->failed)) {
    size_t s = atomic_fetch_add(&run->next, 1);
    if (s >= n)
      break;
    int r = class_curves(w, run->order[s]);
    if (r) {
      w->err = r;
      atomic_store(&run->failed, 1);
      break;
    }
  }
  return NULL;
}

struct class_size {
  size_t n;
  int32_t c;
};

static int cmp_class_size(const void *a, const void *b)
{
  const struct class_size *x = a, *y = b;
  if (x->n != y->n)
    return x->n > y->n ? -1 : 1; /* largest first */
  return x->c < y->c ? -1 : x->c > y->c;
}

/* COCOeval's summarize() for one number: the mean of the precision (ap)
 * or recall values > -1 at area a and maxDets index m, over thresholds t
 * (or only t_only >= 0) and classes (or only c_only >= 0), taken in numpy's
 * flattening order of its arrays: precision [T][R][K], recall [T][K]. */
static double summarize(const struct run *run, double *buf, bool ap, int a,
                        int m, int t_only, int32_t c_only)
{
  /* One class: walk only it.  Skipping the others inside the loop made
   * the per-class numbers cost n_classes squared (2 s at 1,200 classes,
   * minutes at 20,000, with the evaluation's write transaction open). */
  int32_t c0 = c_only >= 0 ? c_only : 0;
  int32_t c1 = c_only >= 0 ? c_only + 1 : run->in->n_classes;
  size_t n = 0;

  for (int t = 0; t < run->n_thr; t++) {
    if (t_only >= 0 && t != t_only)
      continue;
    for (int ri = 0; ri < (ap ? EVAL_RECALL_POINTS : 1); ri++)
      for (int32_t c = c0; c < c1; c++) {
        size_t k = prec_index(run, t, c, a, m);
        double v = ap ? run->prec[k * EVAL_RECALL_POINTS + (size_t)ri]
                      : run->rec[k];
        if (v > -1)
          buf[n++] = v;
      }
  }
  return np_mean(buf, n);
}

/* Index of the sweep threshold exactly equal to v (as COCOeval's
 * np.where(iouThr == p.iouThrs)), or -1. */
static int thr_index(const struct eval_config *cfg, double v)
{
  for (int t = 0; t < cfg->n_iou_threshs; t++)
    if (cfg->iou_threshs[t] == v)
      return t;
  return -1;
}

/* Phase-2 input: the scored predictions bucketed by class in (image,
 * input) order (*ret_ent, ent_off[n_classes + 1] filled here), and the
 * classes largest first (order[n_classes]). */
static int bucket_classes(const struct run *run, size_t *ent_off,
                          int32_t *order, struct pr_entry **ret_ent)
{
  const struct eval_input *in = run->in;
  size_t nc = (size_t)in->n_classes;
  struct class_size *cs = eval_zalloc(nc, sizeof(*cs));
  size_t *fill = eval_zalloc(nc, sizeof(*fill));
  struct pr_entry *ent = NULL;

  if (!cs || !fill)
    goto fail;
  for (size_t i = 0; i < in->n_preds; i++)
    if (run->rank[i] != RANK_NONE)
      ent_off[in->preds[i].label + 1]++;
  for (size_t c = 0; c < nc; c++)
    ent_off[c + 1] += ent_off[c];
  ent = eval_zalloc(ent_off[nc], sizeof(*ent));
  if (!ent)
    goto fail;
  for (size_t c = 0; c < nc; c++)
    cs[c] = (struct class_size){ ent_off[c + 1] - ent_off[c], (int32_t)c };
  for (size_t im = 0; im < in->n_images; im++)
    for (size_t i = in->pred_start[im]; i < in->pred_start[im + 1]; i++) {
      if (run->rank[i] == RANK_NONE)
        continue;
      size_t c = (size_t)in->preds[i].label;
      ent[ent_off[c] + fill[c]++] = (struct pr_entry){
        in->preds[i].confidence, im, run->rank[i], run->sw[i] };
    }
  qsort(cs, nc, sizeof(*cs), cmp_class_size);
  for (size_t c = 0; c < nc; c++)
    order[c] = cs[c].c;
  free(fill);
  free(cs);
  *ret_ent = ent;
  return 0;
fail:
  free(fill);
  free(cs);
  return -ENOMEM;
}

/* The result's PR curves: area all, 100 detections. */
static void copy_curves(const struct run *run, struct eval_result *res)
{
  size_t nc = (size_t)run->in->n_classes;

  for (size_t t = 0; t < (size_t)run->n_thr; t++)
    for (size_t c = 0; c < nc; c++)
      memcpy(res->precision + (t * nc + c) * EVAL_RECALL_POINTS,
             run->prec + prec_index(run, (int)t, (int32_t)c, 0, 2) *
                             EVAL_RECALL_POINTS,
             EVAL_RECALL_POINTS * sizeof(double));
}

/* COCOeval's 12 summary numbers, the mAP and each class's AP, AP50 and
 * AP75; buf holds the values of one mean. */
static void summary(const struct run *run, double *buf,
                    struct eval_result *res)
{
  const struct eval_config *cfg = run->cfg;
  int t50 = thr_index(cfg, 0.5), t75 = thr_index(cfg, 0.75);
  double *st = res->stats;

  st[EVAL_AP] = summarize(run, buf, true, 0, 2, -1, -1);
  st[EVAL_AP50] = t50 < 0 ? -1 : summarize(run, buf, true, 0, 2, t50, -1);
  st[EVAL_AP75] = t75 < 0 ? -1 : summarize(run, buf, true, 0, 2, t75, -1);
  st[EVAL_APS] = summarize(run, buf, true, 1, 2, -1, -1);
  st[EVAL_APM] = summarize(run, buf, true, 2, 2, -1, -1);
  st[EVAL_APL] = summarize(run, buf, true, 3, 2, -1, -1);
  st[EVAL_AR1] = summarize(run, buf, false, 0, 0, -1, -1);
  st[EVAL_AR10] = summarize(run, buf, false, 0, 1, -1, -1);
  st[EVAL_AR100] = summarize(run, buf, false, 0, 2, -1, -1);
  st[EVAL_ARS] = summarize(run, buf, false, 1, 2, -1, -1);
  st[EVAL_ARM] = summarize(run, buf, false, 2, 2, -1, -1);
  st[EVAL_ARL] = summarize(run, buf, false, 3, 2, -1, -1);
  res->map = st[EVAL_AP];
  for (size_t c = 0; c < (size_t)run->in->n_classes; c++) {
    struct eval_class_stats *k = &res->classes[c];
    int32_t ci = (int32_t)c;
    k->ap = summarize(run, buf, true, 0, 2, -1, ci);
    k->ap50 = t50 < 0 ? -1 : summarize(run, buf, true, 0, 2, t50, ci);
    k->ap75 = t75 < 0 ? -1 : summarize(run, buf, true, 0, 2, t75, ci);
  }
}

int eval_sweep_ap(struct run *run, struct worker *ws, int nt,
                  struct eval_result *res)
{
  size_t nc = (size_t)run->in->n_classes;
  size_t n_thr = (size_t)run->n_thr;
  size_t ncurve = n_thr * nc * EVAL_N_AREAS * EVAL_N_MAXDETS;
  size_t *ent_off = eval_zalloc(nc + 1, sizeof(*ent_off));
  int32_t *order = eval_zalloc(nc, sizeof(*order));
  double *prec = malloc((ncurve ? ncurve : 1) * EVAL_RECALL_POINTS *
                        sizeof(double));
  double *rec = malloc((ncurve ? ncurve : 1) * sizeof(double));
  double *buf = eval_zalloc(n_thr * nc * EVAL_RECALL_POINTS, sizeof(double));
  struct pr_entry *ent = NULL;
  int r = -ENOMEM;

  if (!ent_off || !order || !prec || !rec || !buf ||
      bucket_classes(run, ent_off, order, &ent) < 0)
    goto out;
  for (size_t k = 0; k < ncurve * EVAL_RECALL_POINTS; k++)
    prec[k] = -1;
  for (size_t k = 0; k < ncurve; k++)
    rec[k] = -1;
  run->ent = ent;
  run->ent_off = ent_off;
  run->order = order;
  run->prec = prec;
  run->rec = rec;
  atomic_store(&run->next, 0);
  r = eval_run_workers(ws, nt, phase2);
  if (r == 0) {
    copy_curves(run, res);
    summary(run, buf, res);
  }
out:
  free(ent);
  free(buf);
  free(rec);
  free(prec);
  free(order);
  free(ent_off);
  return r;
}
