/* eval_match.c - phase 1 of the evaluation (eval_i.h): COCOeval's
 * matching of predictions to GT, image by image, and the per-box outcomes.
 *
 * Within one (image, class group) the IoU matrix is computed once and every
 * pass reuses it: the per-box pass at cfg->iou and, per area range, one
 * greedy pass per sweep threshold.  Area ranges whose GT ignore flags equal
 * an earlier range's reuse its matching, and the per-box pass reuses the
 * sweep pass at the same threshold: same inputs, same result, less work.
 * The IoU follows COCO's operation order so that values, and therefore
 * matches at a threshold boundary, land on the same doubles.
 */
#include "eval_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* Room in w's scratch arrays for a group of nd scored predictions and ng
 * GT. */
static int group_scratch(struct worker *w, size_t nd, size_t ng)
{
  int r = 0;

  w->gl = eval_grow(w->gl, &w->gl_cap, ng, sizeof(*w->gl), &r);
  size_t gc = w->g_cap;
  w->perm = eval_grow(w->perm, &gc, ng, sizeof(*w->perm), &r);
  gc = w->g_cap;
  w->igs = eval_grow(w->igs, &gc, ng * EVAL_N_AREAS, 1, &r);
  gc = w->g_cap;
  w->gtm = eval_grow(w->gtm, &gc, ng, 1, &r);
  gc = w->g_cap;
  w->first = eval_grow(w->first, &gc, ng, sizeof(*w->first), &r);
  if (r)
    return r;
  w->g_cap = gc;
  size_t dc = w->d_cap;
  w->dtm = eval_grow(w->dtm, &dc, nd, sizeof(*w->dtm), &r);
  dc = w->d_cap;
  w->parea = eval_grow(w->parea, &dc, nd, sizeof(*w->parea), &r);
  if (r)
    return r;
  w->d_cap = dc;
  if (nd && ng > SIZE_MAX / sizeof(double) / nd)
    return -ENOMEM;
  w->iou = eval_grow(w->iou, &w->iou_cap, nd * ng, sizeof(*w->iou), &r);
  return r;
}

/* Copies the group's GT for locality, marks the predictions past the
 * first nd as not scored, ranks the scored ones and computes their IoU
 * matrix with the GT. */
static void group_load(struct worker *w, const struct pkey *pk, size_t np,
                       size_t nd, const struct gkey *gk, size_t ng)
{
  struct run *run = w->run;
  const struct eval_input *in = run->in;
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
}

/* The sweep passes of area range a (GT ignore flags ig): one greedy pass
 * per threshold, or a copy of the passes of an earlier range with the same
 * flags; then the tp / ignored bits of each scored prediction. */
static void sweep_area(struct worker *w, const struct pkey *pk, size_t nd,
                       size_t ng, int a, const uint8_t *ig)
{
  struct run *run = w->run;
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
      match_pass(w, nd, ng, run->cfg->iou_threshs[t], ig, dtm);
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
}

/* The per-box pass at cfg->iou, area range "all" (flags ig): equal to a
 * sweep pass at the same threshold when there is one. */
static void box_pass(struct worker *w, size_t im, const struct pkey *pk,
                     size_t nd, size_t ng, const uint8_t *ig)
{
  const struct run *run = w->run;
  const struct eval_config *cfg = run->cfg;
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

/* Matches one (image, group): np predictions in matching order against ng
 * GT in group order. */
static int match_group(struct worker *w, size_t im, const struct pkey *pk,
                       size_t np, const struct gkey *gk, size_t ng)
{
  struct run *run = w->run;
  size_t nd = np < EVAL_MAX_DETS ? np : EVAL_MAX_DETS;
  int r = group_scratch(w, nd, ng);

  if (r)
    return r;
  group_load(w, pk, np, nd, gk, ng);
  for (int a = 0; a < run->n_areas; a++) {
    uint8_t *ig = w->igs + (size_t)a * ng;
    area_order(w, ng, a, ig);
    sweep_area(w, pk, nd, ng, a, ig);
    if (a == 0)
      box_pass(w, im, pk, nd, ng, ig);
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

  w->pk = eval_grow(w->pk, &w->pk_cap, np, sizeof(*w->pk), &r);
  w->gk = eval_grow(w->gk, &w->gk_cap, ng, sizeof(*w->gk), &r);
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

void *eval_match_worker(void *arg)
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
