/* evaluate.c - COCO detection evaluation with the rules of pycocotools'
 * COCOeval (listed in evaluate.h) and detection mistakenness
 * (docs/ALGORITHMS.md §4).
 *
 * How it works.  Phase 1 walks the images; worker threads pull chunks of
 * images from an atomic counter and write only to the slots of their own
 * boxes and images, so no locks are needed.  Inside an image, predictions
 * are ordered once by (class group, confidence descending, class, input
 * index) and GT by (group, class, input index); in each (image, group) the
 * first EVAL_MAX_DETS predictions are scored.  Their IoU matrix with the
 * group's GT is computed once and reused by every pass: the per-box pass at
 * cfg->iou and, for each of the four area ranges (each with its own GT
 * order, ignored GT last), one greedy pass per sweep threshold.  A scored
 * prediction keeps its rank in the group and, per area range, two
 * threshold bitmasks (tp, ignored).  Phase 2 gives each class to one
 * worker: its predictions are sorted by (confidence descending, image,
 * rank), which is exactly the order of COCOeval's stable sort of the
 * concatenated per-image lists, and every (area, maxDets, threshold) curve
 * is one walk over that list.  The summary means use numpy's summation
 * order (pairwise, in blocks of 8192) so that they land on the same
 * doubles as numpy.mean.
 *
 * What it does not do: I/O, logging, label names, non-box geometries.  On
 * targets with fused multiply-add the compiler may contract some products,
 * which can move results by an ulp relative to pycocotools; x86-64 without
 * -march flags has no FMA.
 */
#include "evaluate.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Images per work unit: large enough to make the atomic counter cheap,
 * small enough to balance images of very different sizes. */
#define IMAGE_CHUNK 64
#define MAX_THREADS 64
/* Insertion sort below this size: most (image, group) lists are tiny. */
#define SMALL_SORT 16
/* rank of a prediction that is not scored (past EVAL_MAX_DETS). */
#define RANK_NONE UINT8_MAX
/* numpy reduces contiguous doubles in buffers of this many elements. */
#define NP_BUFSIZE 8192

_Static_assert(EVAL_MAX_DETS < RANK_NONE, "rank must fit in a byte");
_Static_assert(EVAL_MAX_THRESHS <= 16, "threshold bits are 16-bit masks");

const char *const eval_stat_names[EVAL_N_STATS] = {
  "AP", "AP50", "AP75", "APs", "APm", "APl",
  "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
};

/* COCOeval's area ranges: all, small, medium, large (1e5 ** 2 = 1e10). */
static const double AREA_LO[EVAL_N_AREAS] = { 0, 0, 32 * 32, 96 * 96 };
static const double AREA_HI[EVAL_N_AREAS] = { 1e10, 32 * 32, 96 * 96, 1e10 };
static const size_t MAX_DETS[EVAL_N_MAXDETS] = { 1, 10, EVAL_MAX_DETS };

void eval_config_default(struct eval_config *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->iou = 0.5;
  cfg->classwise = true;
  cfg->compute_map = true;
  cfg->n_iou_threshs = 10;
  /* numpy.linspace(.5, .95, 10): start + k * ((stop - start) / 9), the
   * last point set to stop.  The 9th is 0.8999999999999999, not 0.9. */
  double step = (0.95 - 0.5) / 9;
  for (int k = 0; k < 9; k++)
    cfg->iou_threshs[k] = (double)k * step + 0.5;
  cfg->iou_threshs[9] = 0.95;
  cfg->n_threads = 2;
}

/*---- Boxes ----------------------------------------------------------------*/

/* IoU with the operation order of COCO's bbIou(), so that values land on
 * the same doubles and matches at a threshold boundary agree.  p_area and
 * g_area are the boxes' w * h (not the GT's `area`). */
static double box_iou(const struct eval_box *p, double p_area,
                      const struct eval_box *g, double g_area, bool crowd)
{
  double w = fmin(p->w + p->x, g->w + g->x) - fmax(p->x, g->x);
  if (w <= 0)
    return 0;
  double h = fmin(p->h + p->y, g->h + g->y) - fmax(p->y, g->y);
  if (h <= 0)
    return 0;
  double inter = w * h;
  /* A crowd region is measured against the prediction only: a small box
   * fully inside a crowd has IoU 1 with it. */
  double uni = crowd ? p_area : p_area + g_area - inter;
  return inter / uni;
}

/* Missing confidences (allowed without the sweep) sort after all others. */
static double match_key(double conf)
{
  return isnan(conf) ? -INFINITY : conf;
}

static bool out_of_range(double area, int a)
{
  return area < AREA_LO[a] || area > AREA_HI[a];
}

static double gt_area(const struct eval_gt *g)
{
  return isnan(g->area) ? g->box.w * g->box.h : g->area;
}

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
  int32_t cls;   /* label: COCOeval without classes concatenates by class */
};

struct gkey {
  size_t idx;
  int32_t group;
  int32_t cls;
};

/* GT of the current (image, group), copied for locality. */
struct gt_local {
  struct eval_box box;
  double barea; /* box w * h, for the IoU */
  double area;  /* COCO area, for the ranges */
  size_t idx;
  int32_t label;
  bool crowd;
};

/* Sweep outcome of one scored prediction, per area range: bit t set when
 * it is a tp / ignored at threshold t. */
struct sweep {
  uint16_t tp[EVAL_N_AREAS];
  uint16_t ig[EVAL_N_AREAS];
};

/* Phase 2: one scored prediction of a class. */
struct pr_entry {
  double conf;
  size_t image;
  uint8_t rank; /* position in its (image, class) list, < EVAL_MAX_DETS */
  struct sweep sw;
};

struct run {
  const struct eval_input *in;
  const struct eval_config *cfg;
  int n_thr;                /* sweep thresholds, 0 when mAP is off */
  int n_areas;              /* 4 with the sweep, else 1 ("all") */
  struct eval_match *pm, *gm;
  struct eval_image_stats *img;
  uint8_t *rank;            /* per prediction, RANK_NONE if not scored */
  struct sweep *sw;         /* per prediction, NULL when mAP is off */
  atomic_size_t next;       /* next image chunk (phase 1) or class slot */
  atomic_int failed;        /* set by a worker on error: others stop */
  /* phase 2, read only while workers run (except each class's own
   * slots) */
  const int64_t *npig;      /* [EVAL_N_AREAS][n_classes] non-ignored GT */
  struct pr_entry *ent;     /* grouped by class; each worker sorts its own */
  const size_t *ent_off;    /* [n_classes + 1] */
  const int32_t *order;     /* classes, largest first */
  double *prec;             /* [T][K][A][M][R], -1 = undefined */
  double *rec;              /* [T][K][A][M], -1 = undefined */
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
  double *iou;       /* scored predictions x GT of the group */
  size_t iou_cap;
  uint32_t *perm;    /* GT order of the current area range */
  uint8_t *igs;      /* [EVAL_N_AREAS][GT]: ignored in that range */
  uint8_t *gtm;      /* per GT: matched in the current pass */
  int32_t *first;    /* per GT: first matching prediction (per-box pass) */
  size_t g_cap;
  int32_t *dtm;      /* per-box pass: matched local GT or -1 */
  /* Sweep passes, [area][threshold][rank]: areas whose GT ignore flags
   * equal an earlier area's reuse its matching (same flags, same result). */
  int32_t sdtm[EVAL_N_AREAS][EVAL_MAX_THRESHS][EVAL_MAX_DETS];
  double *parea;     /* per scored prediction: w * h */
  size_t d_cap;
  int64_t *cls_cnt;  /* [3 * n_classes]: tp, fp, fn per class */
  double *pre, *rc;
  size_t pre_cap;
};

static void worker_done(struct worker *w)
{
  free(w->pk);
  free(w->gk);
  free(w->gl);
  free(w->iou);
  free(w->perm);
  free(w->igs);
  free(w->gtm);
  free(w->first);
  free(w->dtm);
  free(w->parea);
  free(w->cls_cnt);
  free(w->pre);
  free(w->rc);
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
  /* COCOeval's sort is stable over a list in (class, input) order. */
  if (x->cls != y->cls)
    return x->cls < y->cls ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_gkey(const void *a, const void *b)
{
  const struct gkey *x = a, *y = b;
  if (x->group != y->group)
    return x->group < y->group ? -1 : 1;
  if (x->cls != y->cls)
    return x->cls < y->cls ? -1 : 1;
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

/* One greedy pass of COCOeval at threshold thr: each scored prediction in
 * order takes the best GT still free (crowds stay free), walking the GT in
 * `perm` order (ignored last).  Fills dtm[] with local GT indices or -1. */
static void match_pass(const struct worker *w, size_t nd, size_t ng,
                       double thr, const uint8_t *ig, int32_t *dtm)
{
  const double cap = fmin(thr, 1 - 1e-10);
  const uint32_t *perm = w->perm;
  uint8_t *gtm = w->gtm;

  if (ng) /* gtm may be NULL for an empty group */
    memset(gtm, 0, ng);
  for (size_t d = 0; d < nd; d++) {
    const double *row = w->iou + d * ng;
    double best = cap;
    int32_t m = -1;
    for (size_t k = 0; k < ng; k++) {
      uint32_t j = perm[k];
      if (gtm[j] && !w->gl[j].crowd)
        continue; /* taken; only crowds can be taken again */
      /* Holding a non-ignored GT, never move to an ignored one. */
      if (m >= 0 && !ig[m] && ig[j])
        break;
      if (row[j] < best)
        continue;
      best = row[j]; /* equal IoU: the later GT wins */
      m = (int32_t)j;
    }
    dtm[d] = m;
    if (m >= 0)
      gtm[m] = 1;
  }
}

/* GT order and ignore flags of area range a: non-ignored first, each part
 * in group order (COCOeval's stable argsort of the ignore flags). */
static void area_order(struct worker *w, size_t ng, int a, uint8_t *ig)
{
  size_t k = 0;
  for (size_t j = 0; j < ng; j++) {
    ig[j] = w->gl[j].crowd || out_of_range(w->gl[j].area, a);
    if (!ig[j])
      w->perm[k++] = (uint32_t)j;
  }
  for (size_t j = 0; j < ng; j++)
    if (ig[j])
      w->perm[k++] = (uint32_t)j;
}

/* The per-box pass at cfg->iou (area range "all"): outcomes and counts. */
static void box_outcomes(struct worker *w, size_t im, const struct pkey *pk,
                         size_t nd, size_t ng, const uint8_t *ig)
{
  struct run *run = w->run;
  const struct eval_input *in = run->in;
  struct eval_image_stats *is = &run->img[im];
  int64_t *ctp = w->cls_cnt, *cfp = ctp + in->n_classes,
          *cfn = cfp + in->n_classes;

  for (size_t j = 0; j < ng; j++)
    w->first[j] = -1;
  for (size_t d = 0; d < nd; d++) {
    size_t pi = pk[d].idx;
    const struct eval_pred *p = &in->preds[pi];
    struct eval_match *m = &run->pm[pi];
    int32_t j = w->dtm[d];
    if (j >= 0) {
      m->other = (int64_t)w->gl[j].idx;
      m->iou = w->iou[d * ng + (size_t)j];
      if (ig[j])
        m->outcome = EVAL_IGNORED;
      else
        m->outcome = w->gl[j].label == p->label ? EVAL_TP : EVAL_FP;
      if (w->first[j] < 0)
        w->first[j] = (int32_t)d;
    } else {
      m->other = -1;
      m->iou = NAN;
      m->outcome = out_of_range(w->parea[d], 0) ? EVAL_IGNORED : EVAL_FP;
    }
    if (m->outcome == EVAL_TP) {
      is->tp++;
      ctp[p->label]++;
    } else if (m->outcome == EVAL_FP) {
      is->fp++;
      cfp[p->label]++;
    }
  }
  for (size_t j = 0; j < ng; j++) {
    struct eval_match *gm = &run->gm[w->gl[j].idx];
    int32_t d = w->first[j];
    if (d >= 0) {
      size_t pi = pk[d].idx;
      gm->other = (int64_t)pi;
      gm->iou = w->iou[(size_t)d * ng + j];
    } else {
      gm->other = -1;
      gm->iou = NAN;
    }
    if (ig[j])
      gm->outcome = EVAL_IGNORED;
    else if (d >= 0 && in->preds[pk[d].idx].label == w->gl[j].label)
      gm->outcome = EVAL_TP;
    else
      gm->outcome = EVAL_FN;
    if (gm->outcome == EVAL_FN) {
      is->fn++;
      cfn[w->gl[j].label]++;
    }
  }
}

/* Matches one (image, group): np predictions in matching order against ng
 * GT in group order. */
static int match_group(struct worker *w, size_t im, const struct pkey *pk,
                       size_t np, const struct gkey *gk, size_t ng)
{
  struct run *run = w->run;
  const struct eval_input *in = run->in;
  const struct eval_config *cfg = run->cfg;
  size_t nd = np < EVAL_MAX_DETS ? np : EVAL_MAX_DETS;
  int r = 0;

  w->gl = grow(w->gl, &w->gl_cap, ng, sizeof(*w->gl), &r);
  size_t gc = w->g_cap;
  w->perm = grow(w->perm, &gc, ng, sizeof(*w->perm), &r);
  gc = w->g_cap;
  w->igs = grow(w->igs, &gc, ng * EVAL_N_AREAS, 1, &r);
  gc = w->g_cap;
  w->gtm = grow(w->gtm, &gc, ng, 1, &r);
  gc = w->g_cap;
  w->first = grow(w->first, &gc, ng, sizeof(*w->first), &r);
  if (r)
    return r;
  w->g_cap = gc;
  size_t dc = w->d_cap;
  w->dtm = grow(w->dtm, &dc, nd, sizeof(*w->dtm), &r);
  dc = w->d_cap;
  w->parea = grow(w->parea, &dc, nd, sizeof(*w->parea), &r);
  if (r)
    return r;
  w->d_cap = dc;
  if (nd && ng > SIZE_MAX / sizeof(double) / nd)
    return -ENOMEM;
  w->iou = grow(w->iou, &w->iou_cap, nd * ng, sizeof(*w->iou), &r);
  if (r)
    return r;

  struct gt_local *gl = w->gl;
  for (size_t j = 0; j < ng; j++) {
    const struct eval_gt *g = &in->gts[gk[j].idx];
    gl[j].box = g->box;
    gl[j].barea = g->box.w * g->box.h;
    gl[j].area = gt_area(g);
    gl[j].idx = gk[j].idx;
    gl[j].label = g->label;
    gl[j].crowd = g->iscrowd;
  }
  /* Predictions past the first EVAL_MAX_DETS are not scored at all. */
  for (size_t i = nd; i < np; i++) {
    size_t pi = pk[i].idx;
    run->pm[pi] = (struct eval_match){ -1, NAN, EVAL_NONE };
    run->rank[pi] = RANK_NONE;
  }
  for (size_t d = 0; d < nd; d++) {
    const struct eval_pred *p = &in->preds[pk[d].idx];
    double pa = p->box.w * p->box.h;
    w->parea[d] = pa;
    run->rank[pk[d].idx] = (uint8_t)d;
    for (size_t j = 0; j < ng; j++)
      w->iou[d * ng + j] =
          box_iou(&p->box, pa, &gl[j].box, gl[j].barea, gl[j].crowd);
  }

  for (int a = 0; a < run->n_areas; a++) {
    uint8_t *ig = w->igs + (size_t)a * ng;
    area_order(w, ng, a, ig);
    int same = -1;
    for (int b = 0; b < a && same < 0; b++)
      if (!ng || !memcmp(w->igs + (size_t)b * ng, ig, ng))
        same = b;
    for (int t = 0; t < run->n_thr; t++) {
      uint16_t bit = (uint16_t)(1u << t);
      int32_t *dtm = w->sdtm[a][t];
      if (same >= 0) {
        if (nd)
          memcpy(dtm, w->sdtm[same][t], nd * sizeof(*dtm));
      } else {
        match_pass(w, nd, ng, cfg->iou_threshs[t], ig, dtm);
      }
      for (size_t d = 0; d < nd; d++) {
        struct sweep *s = &run->sw[pk[d].idx];
        int32_t j = dtm[d];
        /* The sweep is classwise: a match is always the same class. */
        if (j >= 0 ? ig[j] : out_of_range(w->parea[d], a))
          s->ig[a] |= bit;
        else if (j >= 0)
          s->tp[a] |= bit;
      }
    }
    if (a == 0) {
      /* The per-box pass equals a sweep pass at the same threshold. */
      int t1 = -1;
      for (int t = 0; t < run->n_thr && t1 < 0; t++)
        if (cfg->iou_threshs[t] == cfg->iou)
          t1 = t;
      if (t1 < 0)
        match_pass(w, nd, ng, cfg->iou, ig, w->dtm);
      else if (nd) /* w->dtm may be NULL without predictions */
        memcpy(w->dtm, w->sdtm[0][t1], nd * sizeof(*w->dtm));
      box_outcomes(w, im, pk, nd, ng, ig);
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
                              classwise ? p->label : 0, p->label };
  }
  for (size_t j = 0; j < ng; j++) {
    const struct eval_gt *g = &in->gts[g0 + j];
    w->gk[j] = (struct gkey){ g0 + j, classwise ? g->label : 0, g->label };
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

/*---- Phase 2: accumulation ------------------------------------------------*/

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
  w->pre = grow(w->pre, &cap, ne, sizeof(double), &r);
  cap = w->pre_cap;
  w->rc = grow(w->rc, &cap, ne, sizeof(double), &r);
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
  int32_t nc = run->in->n_classes;
  size_t n = 0;

  for (int t = 0; t < run->n_thr; t++) {
    if (t_only >= 0 && t != t_only)
      continue;
    for (int ri = 0; ri < (ap ? EVAL_RECALL_POINTS : 1); ri++)
      for (int32_t c = 0; c < nc; c++) {
        if (c_only >= 0 && c != c_only)
          continue;
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

/* Builds the phase-2 inputs from the phase-1 results, runs phase 2, and
 * fills res->precision, res->stats, res->map and the classes' AP. */
static int sweep_ap(struct run *run, struct worker *ws, int nt,
                    struct eval_result *res)
{
  const struct eval_input *in = run->in;
  size_t nc = (size_t)in->n_classes;
  size_t n_thr = (size_t)run->n_thr;
  size_t ncurve = n_thr * nc * EVAL_N_AREAS * EVAL_N_MAXDETS;
  int r = -ENOMEM;

  size_t *ent_off = zalloc(nc + 1, sizeof(*ent_off));
  struct class_size *cs = zalloc(nc, sizeof(*cs));
  int32_t *order = zalloc(nc, sizeof(*order));
  double *prec = malloc((ncurve ? ncurve : 1) * EVAL_RECALL_POINTS *
                        sizeof(double));
  double *rec = malloc((ncurve ? ncurve : 1) * sizeof(double));
  size_t nbuf = n_thr * nc * EVAL_RECALL_POINTS;
  double *buf = zalloc(nbuf, sizeof(double));
  struct pr_entry *ent = NULL;
  if (!ent_off || !cs || !order || !prec || !rec || !buf)
    goto out;
  for (size_t k = 0; k < ncurve * EVAL_RECALL_POINTS; k++)
    prec[k] = -1;
  for (size_t k = 0; k < ncurve; k++)
    rec[k] = -1;

  /* Bucket scored predictions by class, in (image, input) order. */
  for (size_t i = 0; i < in->n_preds; i++)
    if (run->rank[i] != RANK_NONE)
      ent_off[in->preds[i].label + 1]++;
  for (size_t c = 0; c < nc; c++)
    ent_off[c + 1] += ent_off[c];
  ent = zalloc(ent_off[nc], sizeof(*ent));
  if (!ent)
    goto out;
  for (size_t c = 0; c < nc; c++)
    cs[c] = (struct class_size){ ent_off[c + 1] - ent_off[c], (int32_t)c };
  {
    size_t *fill = zalloc(nc, sizeof(*fill));
    if (!fill)
      goto out;
    for (size_t im = 0; im < in->n_images; im++)
      for (size_t i = in->pred_start[im]; i < in->pred_start[im + 1]; i++) {
        if (run->rank[i] == RANK_NONE)
          continue;
        size_t c = (size_t)in->preds[i].label;
        ent[ent_off[c] + fill[c]++] = (struct pr_entry){
          in->preds[i].confidence, im, run->rank[i], run->sw[i] };
      }
    free(fill);
  }
  qsort(cs, nc, sizeof(*cs), cmp_class_size);
  for (size_t c = 0; c < nc; c++)
    order[c] = cs[c].c;

  run->ent = ent;
  run->ent_off = ent_off;
  run->order = order;
  run->prec = prec;
  run->rec = rec;
  atomic_store(&run->next, 0);
  r = run_workers(ws, nt, phase2);
  if (r)
    goto out;

  /* PR curves of the result: area all, 100 detections. */
  for (size_t t = 0; t < n_thr; t++)
    for (size_t c = 0; c < nc; c++)
      memcpy(res->precision + (t * nc + c) * EVAL_RECALL_POINTS,
             prec + prec_index(run, (int)t, (int32_t)c, 0, 2) *
                        EVAL_RECALL_POINTS,
             EVAL_RECALL_POINTS * sizeof(double));

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
  for (size_t c = 0; c < nc; c++) {
    struct eval_class_stats *k = &res->classes[c];
    int32_t ci = (int32_t)c;
    k->ap = summarize(run, buf, true, 0, 2, -1, ci);
    k->ap50 = t50 < 0 ? -1 : summarize(run, buf, true, 0, 2, t50, ci);
    k->ap75 = t75 < 0 ? -1 : summarize(run, buf, true, 0, 2, t75, ci);
  }
  r = 0;
out:
  free(ent);
  free(buf);
  free(rec);
  free(prec);
  free(order);
  free(cs);
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

/* Also counts, per area range and class, the GT that are not ignored:
 * npig[EVAL_N_AREAS * n_classes]. */
static int check_input(const struct eval_input *in, bool need_conf,
                       int64_t *npig)
{
  size_t nc = in->n_classes > 0 ? (size_t)in->n_classes : 0;
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
    if (!isnan(g->area) && !(isfinite(g->area) && g->area >= 0))
      return -EINVAL;
    double area = gt_area(g);
    for (int a = 0; a < EVAL_N_AREAS; a++)
      if (!g->iscrowd && !out_of_range(area, a))
        npig[(size_t)a * nc + (size_t)g->label]++;
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
  if (!cfg->classwise)
    return -EINVAL; /* COCO's AP is per class */
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
  int64_t *npig = NULL;
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
  npig = zalloc(EVAL_N_AREAS * nc, sizeof(*npig));
  if (!npig)
    return -ENOMEM;
  r = check_input(in, cfg->compute_map, npig);
  if (r) {
    free(npig);
    return r;
  }

  memset(&res, 0, sizeof(res));
  memset(&run, 0, sizeof(run));
  res.n_preds = in->n_preds;
  res.n_gts = in->n_gts;
  res.n_images = in->n_images;
  res.n_classes = in->n_classes;
  res.map = -1;
  for (int k = 0; k < EVAL_N_STATS; k++)
    res.stats[k] = -1;
  r = -ENOMEM;
  res.preds = zalloc(in->n_preds, sizeof(*res.preds));
  res.gts = zalloc(in->n_gts, sizeof(*res.gts));
  res.images = zalloc(in->n_images, sizeof(*res.images));
  res.classes = zalloc(nc, sizeof(*res.classes));
  run.rank = zalloc(in->n_preds, sizeof(*run.rank));
  if (!res.preds || !res.gts || !res.images || !res.classes || !run.rank)
    goto out;

  run.in = in;
  run.cfg = cfg;
  run.pm = res.preds;
  run.gm = res.gts;
  run.img = res.images;
  run.npig = npig;
  run.n_areas = 1;
  atomic_init(&run.next, 0);
  atomic_init(&run.failed, 0);
  if (cfg->compute_map) {
    run.n_thr = cfg->n_iou_threshs;
    run.n_areas = EVAL_N_AREAS;
    res.n_iou_threshs = cfg->n_iou_threshs;
    memcpy(res.iou_threshs, cfg->iou_threshs, sizeof(res.iou_threshs));
    run.sw = zalloc(in->n_preds, sizeof(*run.sw));
    size_t np = (size_t)run.n_thr * nc * EVAL_RECALL_POINTS;
    res.precision = zalloc(np, sizeof(*res.precision));
    if (!run.sw || !res.precision)
      goto out;
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
    cs->num_gt = npig[c]; /* area range "all" */
    cs->precision = cs->tp + cs->fp ? (double)cs->tp / (double)(cs->tp + cs->fp) : 0;
    cs->recall = cs->support ? (double)cs->tp / (double)cs->support : 0;
    cs->ap = cs->ap50 = cs->ap75 = -1;
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
  free(run.sw);
  free(run.rank);
  free(npig);
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

  /* The reference matches at IoU 0.5 across classes, without mAP; the
   * matching itself is COCOeval's (evaluate.h). */
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
      if (gm->other < 0 && in->gts[j].iscrowd) {
        /* An unmatched crowd is no miss in COCO: nothing to flag. */
        mk.gt_mistakenness[j] = NAN;
        mk.gt_mistakenness_loc[j] = NAN;
        continue;
      }
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
