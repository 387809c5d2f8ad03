/* evaluate.c - COCO-style detection evaluation (algorithms.md §5) and
 * detection mistakenness (algorithms.md §4).
 *
 * How it works.  Phase 1 walks the images; worker threads pull chunks of
 * images from an atomic counter and write only to the slots of their own
 * boxes and images, so no locks are needed.  Inside an image, predictions
 * are ordered once by (class group, confidence descending, input index) and
 * GT by (group, crowd last, input index); each group is then matched
 * greedily, highest confidence first.  A prediction's IoU row against the
 * group's GT is computed once and reused for the per-box threshold and for
 * every threshold of the mAP sweep, so the sweep costs one IoU row per
 * prediction, and the work is O(P x G) per (image, group) as in the
 * reference's dense IoU matrix.  Each prediction's sweep outcome is kept as
 * two bitmasks (tp, counted).  Phase 2 buckets predictions by class, sorts
 * each bucket by confidence once and derives the PR curve of every sweep
 * threshold from the bitmasks; threads pull classes, largest first.
 *
 * What it does not do: I/O, logging, label names, non-box geometries, area
 * ranges.  The matching follows the reference literally, including its
 * quirks (ties, crowd order, max_preds per class group); each is called out
 * where it happens.  On targets with fused multiply-add the compiler may
 * contract some products, which can move results by an ulp relative to the
 * Python reference; x86-64 without -march flags has no FMA.
 */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Images per work unit: large enough to make the atomic counter cheap,
 * small enough to balance images of very different sizes. */
#define IMAGE_CHUNK 64
/* gbits bit for the per-box pass; bits 0..15 are the sweep thresholds. */
#define SINGLE_BIT (UINT32_C(1) << 31)
#define MAX_THREADS 64
/* Insertion sort below this size: most (image, group) lists are tiny. */
#define SMALL_SORT 16

void eval_config_default(struct eval_config *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->iou = 0.5;
  cfg->classwise = true;
  cfg->compute_map = true;
  cfg->n_iou_threshs = 10;
  /* k / 100 exactly as the reference builds them: 0.55 is 55/100, which
   * is not the same double as 0.5 + 0.05. */
  for (int k = 0; k < 10; k++)
    cfg->iou_threshs[k] = (double)(50 + 5 * k) / 100;
  cfg->max_preds = 100;
  cfg->n_threads = 2;
}

/*---- Boxes ----------------------------------------------------------------*/

/* IoU with the reference's operation order (algorithms.md §3), so that
 * values land on exactly the same doubles as the Python reference and
 * matches at a threshold boundary agree. */
static double box_iou(const struct eval_box *p, double p_area,
                      const struct eval_box *g, double g_area, bool crowd)
{
  double w = fmin(p->x + p->w, g->x + g->w) - fmax(p->x, g->x);
  if (!(w > 0))
    return 0;
  double h = fmin(p->y + p->h, g->y + g->h) - fmax(p->y, g->y);
  if (!(h > 0))
    return 0;
  double inter = h * w;
  /* A crowd region is measured against the prediction only: a small box
   * fully inside a crowd has IoU 1 with it. */
  double uni = crowd ? p_area : p_area + g_area - inter;
  if (!(uni > 0))
    return 0;
  double v = inter / uni;
  return v < 1 ? v : 1;
}

/* The reference sorts by `confidence or -1`: a missing (None) or zero
 * confidence both sort as -1. */
static double match_key(double conf)
{
  return (isnan(conf) || conf == 0) ? -1.0 : conf;
}

/*---- Scratch memory -------------------------------------------------------*/

/* Returns p, moved if needed, with room for `need` elements of `elem`
 * bytes.  On failure returns p unchanged and sets *r = -ENOMEM. */
static void *grow(void *p, size_t *cap, size_t need, size_t elem, int *r)
{
  if (need <= *cap)
    return p;
  size_t n = *cap ? *cap : 16;
  while (n < need) {
    if (n > SIZE_MAX / 2) {
      *r = -ENOMEM;
      return p;
    }
    n *= 2;
  }
  if (n > SIZE_MAX / elem) {
    *r = -ENOMEM;
    return p;
  }
  void *q = realloc(p, n * elem);
  if (!q) {
    *r = -ENOMEM;
    return p;
  }
  *cap = n;
  return q;
}

/* calloc that never returns NULL for a zero count, so that "NULL" always
 * means out of memory. */
static void *zalloc(size_t n, size_t elem)
{
  return calloc(n ? n : 1, elem);
}

/*---- Shared state ---------------------------------------------------------*/

/* Sort keys of one image. */
struct pkey {
  double key;    /* match_key(confidence) */
  size_t idx;    /* global prediction index; makes the order total */
  int32_t group; /* label if classwise, else 0 */
};

struct gkey {
  size_t idx;
  int32_t group;
  int32_t crowd;
};

/* GT of the current (image, group), copied for locality. */
struct gt_local {
  struct eval_box box;
  double area;
  size_t idx;
  int32_t label;
  bool crowd;
};

/* Not classwise only: a sweep match between different classes, which the
 * reference files as an fp under the GT's class (not the prediction's). */
struct extra {
  double conf;
  int32_t cls;
  int32_t t;
};

/* Phase 2: one counted prediction of a class. */
struct pr_entry {
  double conf;
  uint16_t tp;  /* bit t: true positive at sweep threshold t */
  uint16_t cnt; /* bit t: part of the PR curve at t (not crowd-matched,
                 * within max_preds, not re-filed as an extra) */
};

struct class_size {
  size_t n;
  int32_t c;
};

struct run {
  const struct eval_input *in;
  const struct eval_config *cfg;
  double single_thr; /* cfg->iou capped at 1 - 1e-10 like the reference */
  int n_thr;         /* sweep thresholds, 0 when mAP is off */
  struct eval_match *pm, *gm;
  struct eval_image_stats *img;
  uint16_t *sw_tp, *sw_cnt; /* per prediction, NULL when mAP is off */
  atomic_size_t next;       /* next image chunk (phase 1) or class slot */
  atomic_int failed;        /* set by a worker on error: others stop */
  /* phase 2, read only while workers run */
  const int64_t *num_gt;
  struct pr_entry *ent;     /* grouped by class; each worker sorts its own */
  const size_t *ent_off;    /* [n_classes + 1] */
  const struct extra *ex;   /* sorted by (t, class, confidence desc) */
  const size_t *ex_off;     /* [n_thr * n_classes + 1] */
  const struct class_size *order;
  double *precision;        /* result array */
  double *ap;               /* [n_classes] */
};

struct worker {
  struct run *run;
  pthread_t tid;
  bool started;
  int err;
  struct pkey *pk;
  size_t pk_cap;
  struct gkey *gk;
  size_t gk_cap;
  struct gt_local *gl;
  size_t gl_cap;
  uint32_t *gbits; /* per local GT: matched at SINGLE_BIT / sweep bit t */
  size_t gbits_cap;
  double *row;     /* IoU of the current prediction with each local GT */
  size_t row_cap;
  int64_t *cls_cnt; /* [3 * n_classes]: tp, fp, fn per class */
  struct extra *ex;
  size_t ex_n, ex_cap;
  double *pre, *rec;
  size_t pre_cap, rec_cap;
};

static void worker_done(struct worker *w)
{
  free(w->pk);
  free(w->gk);
  free(w->gl);
  free(w->gbits);
  free(w->row);
  free(w->cls_cnt);
  free(w->ex);
  free(w->pre);
  free(w->rec);
}

/* Runs fn on n workers: the calling thread is worker 0.  Work is pulled
 * from run->next, so if a thread cannot be created the others simply do
 * its share.  Returns the first worker error. */
static int run_workers(struct worker *ws, int n, void *(*fn)(void *))
{
  int r = 0;

  for (int k = 1; k < n; k++)
    ws[k].started = pthread_create(&ws[k].tid, NULL, fn, &ws[k]) == 0;
  fn(&ws[0]);
  for (int k = 1; k < n; k++) {
    if (ws[k].started)
      pthread_join(ws[k].tid, NULL);
    ws[k].started = false;
  }
  for (int k = 0; k < n && !r; k++)
    r = ws[k].err;
  return r;
}

/*---- Phase 1: matching ----------------------------------------------------*/

static int cmp_pkey(const void *a, const void *b)
{
  const struct pkey *x = a, *y = b;
  if (x->group != y->group)
    return x->group < y->group ? -1 : 1;
  if (x->key != y->key)
    return x->key > y->key ? -1 : 1; /* highest confidence first */
  /* Python's sort is stable (also with reverse=True): ties keep input
   * order. */
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_gkey(const void *a, const void *b)
{
  const struct gkey *x = a, *y = b;
  if (x->group != y->group)
    return x->group < y->group ? -1 : 1;
  if (x->crowd != y->crowd)
    return x->crowd < y->crowd ? -1 : 1; /* crowds last */
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

_Static_assert(sizeof(struct pkey) <= 32 && sizeof(struct gkey) <= 32,
               "sort_any() buffer too small");

static void sort_any(void *base, size_t n, size_t elem,
                     int (*cmp)(const void *, const void *))
{
  if (n > SMALL_SORT) {
    qsort(base, n, elem, cmp);
    return;
  }
  /* Insertion sort through a byte buffer big enough for any key type. */
  unsigned char tmp[32], *a = base;
  for (size_t i = 1; i < n; i++) {
    memcpy(tmp, a + i * elem, elem);
    size_t j = i;
    while (j > 0 && cmp(a + (j - 1) * elem, tmp) > 0) {
      memcpy(a + j * elem, a + (j - 1) * elem, elem);
      j--;
    }
    memcpy(a + j * elem, tmp, elem);
  }
}

/* The reference's greedy choice for one prediction at threshold thr, among
 * GT not yet matched at `bit`: the highest IoU >= thr.  Returns the local
 * GT index or -1. */
static ptrdiff_t best_gt(const double *row, const struct gt_local *gl,
                         size_t ng, const uint32_t *gbits, uint32_t bit,
                         int32_t label, double thr)
{
  ptrdiff_t best = -1;
  double best_iou = thr;

  for (size_t j = 0; j < ng; j++) {
    bool crowd = gl[j].crowd;
    /* Only crowds can be matched more than once. */
    if (!crowd && (gbits[j] & bit))
      continue;
    /* Crowds absorb only their own class (matters when not classwise). */
    if (crowd && gl[j].label != label)
      continue;
    /* Crowds sort last: once a non-crowd matched, no crowd can win. */
    if (crowd && best >= 0 && !gl[best].crowd)
      break;
    if (row[j] < best_iou)
      continue;
    /* ">=": on equal IoU the later GT wins, as in the reference. */
    best_iou = row[j];
    best = (ptrdiff_t)j;
  }
  return best;
}

static int push_extra(struct worker *w, double conf, int32_t cls, int t)
{
  int r = 0;
  w->ex = grow(w->ex, &w->ex_cap, w->ex_n + 1, sizeof(*w->ex), &r);
  if (r)
    return r;
  w->ex[w->ex_n++] = (struct extra){ conf, cls, t };
  return 0;
}

/* Matches one (image, group): np predictions in matching order against ng
 * GT in (non-crowd, crowd) order. */
static int match_group(struct worker *w, size_t im, const struct pkey *pk,
                       size_t np, const struct gkey *gk, size_t ng)
{
  struct run *run = w->run;
  const struct eval_input *in = run->in;
  const struct eval_config *cfg = run->cfg;
  struct eval_image_stats *is = &run->img[im];
  int64_t *ctp = w->cls_cnt, *cfp = ctp + in->n_classes,
          *cfn = cfp + in->n_classes;
  int r = 0;

  w->gl = grow(w->gl, &w->gl_cap, ng, sizeof(*w->gl), &r);
  w->gbits = grow(w->gbits, &w->gbits_cap, ng, sizeof(*w->gbits), &r);
  w->row = grow(w->row, &w->row_cap, ng, sizeof(*w->row), &r);
  if (r)
    return r;

  struct gt_local *gl = w->gl;
  uint32_t *gbits = w->gbits;
  double *row = w->row;
  for (size_t j = 0; j < ng; j++) {
    const struct eval_gt *g = &in->gts[gk[j].idx];
    gl[j].box = g->box;
    gl[j].area = g->box.h * g->box.w;
    gl[j].idx = gk[j].idx;
    gl[j].label = g->label;
    gl[j].crowd = g->iscrowd;
    gbits[j] = 0;
  }

  /* The sweep sees only the first max_preds predictions of the group. */
  size_t n_use = cfg->max_preds && cfg->max_preds < np ? cfg->max_preds : np;

  for (size_t i = 0; i < np; i++) {
    size_t pi = pk[i].idx;
    const struct eval_pred *p = &in->preds[pi];
    double pa = p->box.h * p->box.w;
    double rmax = -1; /* no GT: nothing matches, not even at IoU 0 */

    for (size_t j = 0; j < ng; j++) {
      row[j] = box_iou(&p->box, pa, &gl[j].box, gl[j].area, gl[j].crowd);
      if (row[j] > rmax)
        rmax = row[j];
    }

    /* Per-box pass at cfg->iou. */
    ptrdiff_t j = rmax >= run->single_thr
                      ? best_gt(row, gl, ng, gbits, SINGLE_BIT, p->label,
                                run->single_thr)
                      : -1;
    struct eval_match *m = &run->pm[pi];
    if (j >= 0) {
      bool same = gl[j].label == p->label;
      m->other = (int64_t)gl[j].idx;
      m->iou = row[j];
      m->outcome = same ? EVAL_TP : EVAL_FP;
      /* A crowd keeps its first (highest-ranked) match only. */
      if (!(gbits[j] & SINGLE_BIT)) {
        gbits[j] |= SINGLE_BIT;
        struct eval_match *gm = &run->gm[gl[j].idx];
        gm->other = (int64_t)pi;
        gm->iou = row[j];
        gm->outcome = same ? EVAL_TP : EVAL_FN;
      }
    } else {
      m->other = -1;
      m->iou = NAN;
      m->outcome = EVAL_FP;
    }
    if (m->outcome == EVAL_TP) {
      is->tp++;
      ctp[p->label]++;
    } else {
      is->fp++;
      cfp[p->label]++;
    }

    if (!run->n_thr)
      continue;
    uint16_t tp = 0, cnt = 0;
    for (int t = 0; i < n_use && t < run->n_thr; t++) {
      uint16_t bit = (uint16_t)(1u << t);
      double thr = cfg->iou_threshs[t];
      ptrdiff_t jt = rmax >= thr
                         ? best_gt(row, gl, ng, gbits, bit, p->label, thr)
                         : -1;
      if (jt < 0) {
        cnt |= bit; /* unmatched: fp */
        continue;
      }
      gbits[jt] |= bit;
      if (gl[jt].crowd)
        continue; /* crowd matches are left out of AP entirely */
      if (gl[jt].label == p->label) {
        tp |= bit;
        cnt |= bit;
        continue;
      }
      r = push_extra(w, p->confidence, gl[jt].label, t);
      if (r)
        return r;
    }
    run->sw_tp[pi] = tp;
    run->sw_cnt[pi] = cnt;
  }

  /* Leftover GT are false negatives; so are GT first matched by another
   * class (already marked above). */
  for (size_t j = 0; j < ng; j++) {
    struct eval_match *gm = &run->gm[gl[j].idx];
    if (!(gbits[j] & SINGLE_BIT)) {
      gm->other = -1;
      gm->iou = NAN;
      gm->outcome = EVAL_FN;
    }
    if (gm->outcome == EVAL_FN) {
      is->fn++;
      cfn[gl[j].label]++;
    }
  }
  return 0;
}

static int match_image(struct worker *w, size_t im)
{
  const struct eval_input *in = w->run->in;
  bool classwise = w->run->cfg->classwise;
  size_t g0 = in->gt_start[im], ng = in->gt_start[im + 1] - g0;
  size_t p0 = in->pred_start[im], np = in->pred_start[im + 1] - p0;
  int r = 0;

  w->pk = grow(w->pk, &w->pk_cap, np, sizeof(*w->pk), &r);
  w->gk = grow(w->gk, &w->gk_cap, ng, sizeof(*w->gk), &r);
  if (r)
    return r;
  for (size_t i = 0; i < np; i++) {
    const struct eval_pred *p = &in->preds[p0 + i];
    w->pk[i] = (struct pkey){ match_key(p->confidence), p0 + i,
                              classwise ? p->label : 0 };
  }
  for (size_t j = 0; j < ng; j++) {
    const struct eval_gt *g = &in->gts[g0 + j];
    w->gk[j] = (struct gkey){ g0 + j, classwise ? g->label : 0,
                              g->iscrowd ? 1 : 0 };
  }
  sort_any(w->pk, np, sizeof(*w->pk), cmp_pkey);
  sort_any(w->gk, ng, sizeof(*w->gk), cmp_gkey);

  /* Walk the groups present in either list, in group order. */
  size_t a = 0, b = 0;
  while (a < np || b < ng) {
    int32_t grp = (a < np && (b >= ng || w->pk[a].group <= w->gk[b].group))
                      ? w->pk[a].group
                      : w->gk[b].group;
    size_t a1 = a, b1 = b;
    while (a1 < np && w->pk[a1].group == grp)
      a1++;
    while (b1 < ng && w->gk[b1].group == grp)
      b1++;
    r = match_group(w, im, w->pk + a, a1 - a, w->gk + b, b1 - b);
    if (r)
      return r;
    a = a1;
    b = b1;
  }
  return 0;
}

static void *phase1(void *arg)
{
  struct worker *w = arg;
  struct run *run = w->run;
  size_t n = run->in->n_images;

  while (!atomic_load(&run->failed)) {
    size_t s = atomic_fetch_add(&run->next, IMAGE_CHUNK);
    if (s >= n)
      break;
    size_t e = n - s > IMAGE_CHUNK ? s + IMAGE_CHUNK : n;
    for (size_t im = s; im < e; im++) {
      int r = match_image(w, im);
      if (r) {
        w->err = r;
        atomic_store(&run->failed, 1);
        return NULL;
      }
    }
  }
  return NULL;
}

/*---- Phase 2: PR curves and AP --------------------------------------------*/

static int cmp_entry(const void *a, const void *b)
{
  double x = ((const struct pr_entry *)a)->conf;
  double y = ((const struct pr_entry *)b)->conf;
  return (x < y) - (x > y); /* confidence descending */
}

static int cmp_extra(const void *a, const void *b)
{
  const struct extra *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  if (x->cls != y->cls)
    return x->cls < y->cls ? -1 : 1;
  return (x->conf < y->conf) - (x->conf > y->conf);
}

static int cmp_class_size(const void *a, const void *b)
{
  const struct class_size *x = a, *y = b;
  if (x->n != y->n)
    return x->n > y->n ? -1 : 1; /* largest first */
  return x->c < y->c ? -1 : x->c > y->c;
}

/* Builds the raw (pre, rec) sequence of one class at sweep threshold bit
 * from its sorted entries plus the extras filed under it.  Returns its
 * length. */
static size_t build_curve(const struct pr_entry *e, size_t ne, uint16_t bit,
                          const struct extra *x, size_t nx, double num_gt,
                          double *pre, double *rec)
{
  size_t n = 0, a = 0, b = 0;
  double tp_sum = 0;

  for (;;) {
    while (a < ne && !(e[a].cnt & bit))
      a++;
    bool ha = a < ne, hb = b < nx;
    if (!ha && !hb)
      break;
    double level = ha && hb ? fmax(e[a].conf, x[b].conf)
                   : ha     ? e[a].conf
                            : x[b].conf;
    size_t ntp = 0, nfp = 0;
    for (; a < ne && e[a].conf == level; a++) {
      if (e[a].cnt & bit) {
        if (e[a].tp & bit)
          ntp++;
        else
          nfp++;
      }
    }
    for (; b < nx && x[b].conf == level; b++)
      nfp++;
    /* The reference stable-sorts the list [all tp..., all fp...] by
     * confidence, so among equal confidences every tp comes first. */
    for (size_t k = 0; k < ntp + nfp; k++) {
      if (k < ntp)
        tp_sum += 1;
      n++;
      pre[n - 1] = tp_sum / (double)n;
      rec[n - 1] = tp_sum / num_gt;
    }
  }
  return n;
}

static int class_ap(struct worker *w, int32_t c)
{
  struct run *run = w->run;
  int32_t nc = run->in->n_classes;
  int n_thr = run->n_thr;
  int64_t num_gt = run->num_gt[c];
  int r = 0;

  if (num_gt == 0) {
    run->ap[c] = -1; /* precision rows stay -1, as in the reference */
    return 0;
  }

  struct pr_entry *e = run->ent + run->ent_off[c];
  size_t ne = run->ent_off[c + 1] - run->ent_off[c];
  qsort(e, ne, sizeof(*e), cmp_entry);

  size_t max_nx = 0;
  for (int t = 0; run->ex && t < n_thr; t++) {
    size_t k = (size_t)t * (size_t)nc + (size_t)c;
    size_t nx = run->ex_off[k + 1] - run->ex_off[k];
    if (nx > max_nx)
      max_nx = nx;
  }
  w->pre = grow(w->pre, &w->pre_cap, ne + max_nx, sizeof(double), &r);
  w->rec = grow(w->rec, &w->rec_cap, ne + max_nx, sizeof(double), &r);
  if (r)
    return r;

  /* numpy.linspace(0, 1, 101) is i * (1/100) with the last point set to
   * exactly 1; it differs from i/100 at ten points (0.35, 0.41, ...), and
   * the recall sampling below compares with ==. */
  const double step = 1.0 / (EVAL_RECALL_POINTS - 1);
  double sum = 0;
  for (int t = 0; t < n_thr; t++) {
    const struct extra *x = NULL;
    size_t nx = 0;
    if (run->ex) {
      size_t k = (size_t)t * (size_t)nc + (size_t)c;
      x = run->ex + run->ex_off[k];
      nx = run->ex_off[k + 1] - run->ex_off[k];
    }
    size_t n = build_curve(e, ne, (uint16_t)(1u << t), x, nx,
                           (double)num_gt, w->pre, w->rec);
    /* Interpolated precision: running maximum from the right. */
    for (size_t i = n; i-- > 1;)
      if (w->pre[i] > w->pre[i - 1])
        w->pre[i - 1] = w->pre[i];
    /* Sample at the first index whose recall reaches each recall point
     * (searchsorted, side="left"); past the last recall reached: 0. */
    double *q = run->precision +
                ((size_t)t * (size_t)nc + (size_t)c) * EVAL_RECALL_POINTS;
    size_t k = 0;
    for (int ri = 0; ri < EVAL_RECALL_POINTS; ri++) {
      double rp = ri == EVAL_RECALL_POINTS - 1 ? 1.0 : ri * step;
      while (k < n && w->rec[k] < rp)
        k++;
      q[ri] = k < n ? w->pre[k] : 0;
      sum += q[ri];
    }
  }
  run->ap[c] = sum / ((double)n_thr * EVAL_RECALL_POINTS);
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
    int r = class_ap(w, run->order[s].c);
    if (r) {
      w->err = r;
      atomic_store(&run->failed, 1);
      break;
    }
  }
  return NULL;
}

/* Builds the phase-2 inputs from the phase-1 bitmasks and runs phase 2:
 * fills res->precision, res->classes[].ap and res->map. */
static int sweep_ap(struct run *run, struct worker *ws, int nt,
                    struct eval_result *res)
{
  const struct eval_input *in = run->in;
  size_t nc = (size_t)in->n_classes;
  size_t n_thr = (size_t)run->n_thr;
  size_t n_ex = 0;
  int r = -ENOMEM;

  for (int k = 0; k < nt; k++)
    n_ex += ws[k].ex_n;

  size_t *ent_off = zalloc(nc + 1, sizeof(*ent_off));
  size_t *ex_off = zalloc(n_thr * nc + 1, sizeof(*ex_off));
  struct class_size *order = zalloc(nc, sizeof(*order));
  double *ap = zalloc(nc, sizeof(*ap));
  struct extra *ex = n_ex ? malloc(n_ex * sizeof(*ex)) : NULL;
  struct pr_entry *ent = NULL;
  if (!ent_off || !ex_off || !order || !ap || (n_ex && !ex))
    goto out;

  /* Bucket counted predictions by class (counting sort, input order). */
  for (size_t i = 0; i < in->n_preds; i++)
    if (run->sw_cnt[i])
      ent_off[in->preds[i].label + 1]++;
  for (size_t c = 0; c < nc; c++)
    ent_off[c + 1] += ent_off[c];
  ent = zalloc(ent_off[nc], sizeof(*ent));
  if (!ent)
    goto out;
  for (size_t c = 0; c < nc; c++)
    order[c] = (struct class_size){ ent_off[c + 1] - ent_off[c], (int32_t)c };
  {
    size_t *fill = zalloc(nc, sizeof(*fill));
    if (!fill)
      goto out;
    for (size_t i = 0; i < in->n_preds; i++) {
      if (!run->sw_cnt[i])
        continue;
      size_t c = (size_t)in->preds[i].label;
      ent[ent_off[c] + fill[c]++] = (struct pr_entry){
        in->preds[i].confidence, run->sw_tp[i], run->sw_cnt[i] };
    }
    free(fill);
  }

  /* Extras (not classwise only), ordered by (threshold, class, conf). */
  n_ex = 0;
  for (int k = 0; k < nt; k++) {
    if (ws[k].ex_n)
      memcpy(ex + n_ex, ws[k].ex, ws[k].ex_n * sizeof(*ex));
    n_ex += ws[k].ex_n;
  }
  if (n_ex) {
    qsort(ex, n_ex, sizeof(*ex), cmp_extra);
    for (size_t i = 0; i < n_ex; i++) {
      size_t k = (size_t)ex[i].t * nc + (size_t)ex[i].cls;
      ex_off[k + 1]++;
      order[ex[i].cls].n++;
    }
    for (size_t k = 0; k < n_thr * nc; k++)
      ex_off[k + 1] += ex_off[k];
  }
  qsort(order, nc, sizeof(*order), cmp_class_size);

  run->ent = ent;
  run->ent_off = ent_off;
  run->ex = n_ex ? ex : NULL;
  run->ex_off = ex_off;
  run->order = order;
  run->precision = res->precision;
  run->ap = ap;
  atomic_store(&run->next, 0);
  r = run_workers(ws, nt, phase2);
  if (r)
    goto out;

  /* mAP: mean over classes that have an AP (> -1). */
  double sum = 0;
  size_t n = 0;
  for (size_t c = 0; c < nc; c++) {
    res->classes[c].ap = ap[c];
    if (ap[c] > -1) {
      sum += ap[c];
      n++;
    }
  }
  res->map = n ? sum / (double)n : -1;
  r = 0;
out:
  free(ent);
  free(ex);
  free(ap);
  free(order);
  free(ex_off);
  free(ent_off);
  return r;
}

/*---- Validation -----------------------------------------------------------*/

static int check_starts(const size_t *st, size_t n_images, size_t n)
{
  if (!st)
    return n_images == 0 && n == 0 ? 0 : -EINVAL;
  if (st[0] != 0 || st[n_images] != n)
    return -EINVAL;
  for (size_t i = 0; i < n_images; i++)
    if (st[i + 1] < st[i])
      return -EINVAL;
  return 0;
}

static bool box_finite(const struct eval_box *b)
{
  return isfinite(b->x) && isfinite(b->y) && isfinite(b->w) &&
         isfinite(b->h);
}

/* Also counts non-crowd GT per class into num_gt[n_classes]. */
static int check_input(const struct eval_input *in, bool need_conf,
                       int64_t *num_gt)
{
  if (in->n_classes < 0 || (in->n_gts && !in->gts) ||
      (in->n_preds && !in->preds))
    return -EINVAL;
  if (check_starts(in->gt_start, in->n_images, in->n_gts) ||
      check_starts(in->pred_start, in->n_images, in->n_preds))
    return -EINVAL;
  for (size_t j = 0; j < in->n_gts; j++) {
    const struct eval_gt *g = &in->gts[j];
    if (g->label < 0 || g->label >= in->n_classes || !box_finite(&g->box))
      return -EINVAL;
    if (!g->iscrowd)
      num_gt[g->label]++;
  }
  for (size_t i = 0; i < in->n_preds; i++) {
    const struct eval_pred *p = &in->preds[i];
    if (p->label < 0 || p->label >= in->n_classes || !box_finite(&p->box))
      return -EINVAL;
    if (isinf(p->confidence) || (need_conf && isnan(p->confidence)))
      return -EINVAL;
  }
  return 0;
}

static bool unit_interval(double v)
{
  return v >= 0 && v <= 1; /* false for NaN */
}

static int check_config(const struct eval_config *cfg)
{
  if (!unit_interval(cfg->iou) || cfg->n_threads < 1)
    return -EINVAL;
  if (!cfg->compute_map)
    return 0;
  if (cfg->n_iou_threshs < 1 || cfg->n_iou_threshs > EVAL_MAX_THRESHS)
    return -EINVAL;
  for (int t = 0; t < cfg->n_iou_threshs; t++)
    if (!unit_interval(cfg->iou_threshs[t]))
      return -EINVAL;
  return 0;
}

/*---- Entry points ---------------------------------------------------------*/

void eval_result_free(struct eval_result *r)
{
  if (!r)
    return;
  free(r->preds);
  free(r->gts);
  free(r->images);
  free(r->classes);
  free(r->precision);
  memset(r, 0, sizeof(*r));
}

int eval_run(const struct eval_input *in, const struct eval_config *cfg,
             struct eval_result *ret)
{
  struct eval_config def;
  struct eval_result res;
  struct run run;
  struct worker *ws = NULL;
  int64_t *num_gt = NULL;
  int nt = 0, r;

  if (!cfg) {
    eval_config_default(&def);
    cfg = &def;
  }
  if (!in || !ret)
    return -EINVAL;
  r = check_config(cfg);
  if (r)
    return r;
  size_t nc = in->n_classes > 0 ? (size_t)in->n_classes : 0;
  num_gt = zalloc(nc, sizeof(*num_gt));
  if (!num_gt)
    return -ENOMEM;
  r = check_input(in, cfg->compute_map, num_gt);
  if (r) {
    free(num_gt);
    return r;
  }

  memset(&res, 0, sizeof(res));
  memset(&run, 0, sizeof(run));
  res.n_preds = in->n_preds;
  res.n_gts = in->n_gts;
  res.n_images = in->n_images;
  res.n_classes = in->n_classes;
  res.map = -1;
  r = -ENOMEM;
  res.preds = zalloc(in->n_preds, sizeof(*res.preds));
  res.gts = zalloc(in->n_gts, sizeof(*res.gts));
  res.images = zalloc(in->n_images, sizeof(*res.images));
  res.classes = zalloc(nc, sizeof(*res.classes));
  if (!res.preds || !res.gts || !res.images || !res.classes)
    goto out;

  run.in = in;
  run.cfg = cfg;
  run.single_thr = fmin(cfg->iou, 1 - 1e-10);
  run.pm = res.preds;
  run.gm = res.gts;
  run.img = res.images;
  run.num_gt = num_gt;
  atomic_init(&run.next, 0);
  atomic_init(&run.failed, 0);
  if (cfg->compute_map) {
    run.n_thr = cfg->n_iou_threshs;
    res.n_iou_threshs = cfg->n_iou_threshs;
    memcpy(res.iou_threshs, cfg->iou_threshs, sizeof(res.iou_threshs));
    run.sw_tp = zalloc(in->n_preds, sizeof(*run.sw_tp));
    run.sw_cnt = zalloc(in->n_preds, sizeof(*run.sw_cnt));
    size_t np = (size_t)run.n_thr * nc * EVAL_RECALL_POINTS;
    res.precision = zalloc(np, sizeof(*res.precision));
    if (!run.sw_tp || !run.sw_cnt || !res.precision)
      goto out;
    for (size_t k = 0; k < np; k++)
      res.precision[k] = -1;
  }

  nt = cfg->n_threads < MAX_THREADS ? cfg->n_threads : MAX_THREADS;
  ws = calloc((size_t)nt, sizeof(*ws));
  if (!ws)
    goto out;
  for (int k = 0; k < nt; k++) {
    ws[k].run = &run;
    ws[k].cls_cnt = zalloc(3 * nc, sizeof(*ws[k].cls_cnt));
    if (!ws[k].cls_cnt)
      goto out;
  }

  r = run_workers(ws, nt, phase1);
  if (r)
    goto out;

  for (size_t c = 0; c < nc; c++) {
    struct eval_class_stats *cs = &res.classes[c];
    for (int k = 0; k < nt; k++) {
      cs->tp += ws[k].cls_cnt[c];
      cs->fp += ws[k].cls_cnt[nc + c];
      cs->fn += ws[k].cls_cnt[2 * nc + c];
    }
    cs->support = cs->tp + cs->fn;
    cs->num_gt = num_gt[c];
    cs->precision = cs->tp + cs->fp ? (double)cs->tp / (double)(cs->tp + cs->fp) : 0;
    cs->recall = cs->support ? (double)cs->tp / (double)cs->support : 0;
    cs->ap = -1;
    res.tp += cs->tp;
    res.fp += cs->fp;
    res.fn += cs->fn;
  }

  if (cfg->compute_map) {
    r = sweep_ap(&run, ws, nt, &res);
    if (r)
      goto out;
  }

  *ret = res;
  memset(&res, 0, sizeof(res));
  r = 0;
out:
  for (int k = 0; ws && k < nt; k++)
    worker_done(&ws[k]);
  free(ws);
  free(run.sw_tp);
  free(run.sw_cnt);
  free(num_gt);
  eval_result_free(&res);
  return r;
}

void eval_mistakes_free(struct eval_mistakes *m)
{
  if (!m)
    return;
  free(m->gt_mistakenness);
  free(m->gt_mistakenness_loc);
  free(m->gt_possible_spurious);
  free(m->pred_possible_missing);
  free(m->image_mistakenness);
  free(m->image_missing);
  free(m->image_spurious);
  memset(m, 0, sizeof(*m));
}

int eval_mistakenness(const struct eval_input *in, int n_threads,
                      struct eval_mistakes *ret)
{
  struct eval_config cfg;
  struct eval_result ev;
  struct eval_mistakes mk;
  int r;

  if (!in || !ret)
    return -EINVAL;
  /* The reference requires a confidence on every prediction. */
  for (size_t i = 0; in->preds && i < in->n_preds; i++)
    if (isnan(in->preds[i].confidence))
      return -EINVAL;

  /* The reference runs evaluate_detections(iou=0.5, classwise=False)
   * under a temporary key (crowds handled as usual), without mAP. */
  eval_config_default(&cfg);
  cfg.iou = EVAL_MISTAKE_IOU;
  cfg.classwise = false;
  cfg.compute_map = false;
  cfg.n_threads = n_threads;
  r = eval_run(in, &cfg, &ev);
  if (r)
    return r;

  memset(&mk, 0, sizeof(mk));
  mk.n_preds = in->n_preds;
  mk.n_gts = in->n_gts;
  mk.n_images = in->n_images;
  mk.gt_mistakenness = zalloc(in->n_gts, sizeof(double));
  mk.gt_mistakenness_loc = zalloc(in->n_gts, sizeof(double));
  mk.gt_possible_spurious = zalloc(in->n_gts, sizeof(bool));
  mk.pred_possible_missing = zalloc(in->n_preds, sizeof(bool));
  mk.image_mistakenness = zalloc(in->n_images, sizeof(double));
  mk.image_missing = zalloc(in->n_images, sizeof(int64_t));
  mk.image_spurious = zalloc(in->n_images, sizeof(int64_t));
  if (!mk.gt_mistakenness || !mk.gt_mistakenness_loc ||
      !mk.gt_possible_spurious || !mk.pred_possible_missing ||
      !mk.image_mistakenness || !mk.image_missing || !mk.image_spurious) {
    eval_mistakes_free(&mk);
    eval_result_free(&ev);
    return -ENOMEM;
  }

  for (size_t im = 0; im < in->n_images; im++) {
    double best = -1;
    bool any = false;

    for (size_t i = in->pred_start[im]; i < in->pred_start[im + 1]; i++) {
      /* Unmatched (never paired with any GT) and confident: the object
       * may be missing from the GT.  Strict ">". */
      if (ev.preds[i].other < 0 &&
          in->preds[i].confidence > EVAL_MISSED_CONFIDENCE) {
        mk.pred_possible_missing[i] = true;
        mk.image_missing[im]++;
      }
    }
    for (size_t j = in->gt_start[im]; j < in->gt_start[im + 1]; j++) {
      const struct eval_match *gm = &ev.gts[j];
      if (gm->other < 0) {
        /* No prediction at all: the GT object may be spurious. */
        mk.gt_possible_spurious[j] = true;
        mk.image_spurious[im]++;
        mk.gt_mistakenness[j] = NAN;
        mk.gt_mistakenness_loc[j] = NAN;
        continue;
      }
      const struct eval_pred *p = &in->preds[gm->other];
      double conf = p->confidence;
      /* Written with the reference's operations: m = 1 if labels agree,
       * mapped to s = -1 (agree) / +1 (disagree). */
      double agree = p->label == in->gts[j].label ? 1.0 : 0.0;
      double s = agree * -2.0 + 1.0;
      double mc = (s * conf + 1.0) / 2.0;
      /* i = 0 at IoU 1, 1 at the 0.5 threshold. */
      double li = (1.0 / (1.0 - EVAL_MISTAKE_IOU)) * (1.0 - gm->iou);
      mk.gt_mistakenness[j] = mc;
      mk.gt_mistakenness_loc[j] = (conf * ((2.0 * li) - 1.0) + 1.0) / 2.0;
      if (!any || mc > best)
        best = mc;
      any = true;
    }
    mk.image_mistakenness[im] = any ? best : -1;
  }

  eval_result_free(&ev);
  *ret = mk;
  return 0;
}
