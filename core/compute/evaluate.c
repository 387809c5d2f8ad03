/* evaluate.c - COCO detection evaluation with the rules of pycocotools'
 * COCOeval (listed in evaluate.h): the entry point eval_run(), its
 * validation, the result and worker set-up and the per-class totals.  The
 * phases are in eval_match.c and eval_sweep.c, mistakenness in
 * eval_mistakes.c, the scratch memory and thread helpers of both phases in
 * eval_work.c; how they fit together is in eval_i.h.
 *
 * What it does not do: I/O, logging, label names, non-box geometries.  On
 * targets with fused multiply-add the compiler may contract some products,
 * which can move results by an ulp relative to pycocotools; x86-64 without
 * -march flags has no FMA.
 */
#include "eval_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const eval_stat_names[EVAL_N_STATS] = {
  "AP", "AP50", "AP75", "APs", "APm", "APl",
  "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
};


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

/*---- Workers ------------------------------------------------------------*/

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

/*---- Entry point ----------------------------------------------------------*/

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

/* Checks cfg and in, and counts per area range and class the GT that are
 * not ignored (*ret_npig, [EVAL_N_AREAS][n_classes], owned by the caller
 * on success). */
static int validate(const struct eval_input *in, const struct eval_config *cfg,
                    int64_t **ret_npig)
{
  size_t nc = in->n_classes > 0 ? (size_t)in->n_classes : 0;
  int64_t *npig;
  int r = check_config(cfg);

  if (r)
    return r;
  npig = eval_zalloc(EVAL_N_AREAS * nc, sizeof(*npig));
  if (!npig)
    return -ENOMEM;
  r = check_input(in, cfg->compute_map, npig);
  if (r) {
    free(npig);
    return r;
  }
  *ret_npig = npig;
  return 0;
}

/* The result's arrays for in's boxes, images and classes, every number
 * undefined (-1) until computed. */
static int result_init(struct eval_result *res, const struct eval_input *in,
                       size_t nc)
{
  memset(res, 0, sizeof(*res));
  res->n_preds = in->n_preds;
  res->n_gts = in->n_gts;
  res->n_images = in->n_images;
  res->n_classes = in->n_classes;
  res->map = -1;
  for (int k = 0; k < EVAL_N_STATS; k++)
    res->stats[k] = -1;
  res->preds = eval_zalloc(in->n_preds, sizeof(*res->preds));
  res->gts = eval_zalloc(in->n_gts, sizeof(*res->gts));
  res->images = eval_zalloc(in->n_images, sizeof(*res->images));
  res->classes = eval_zalloc(nc, sizeof(*res->classes));
  if (!res->preds || !res->gts || !res->images || !res->classes)
    return -ENOMEM;
  return 0;
}

/* The shared state of both phases (*run zeroed by the caller); with the
 * sweep, also its per-prediction bits and the result's PR curves. */
static int run_init(struct run *run, struct eval_result *res,
                    const struct eval_input *in, const struct eval_config *cfg,
                    const int64_t *npig)
{
  size_t nc = in->n_classes > 0 ? (size_t)in->n_classes : 0;

  run->rank = eval_zalloc(in->n_preds, sizeof(*run->rank));
  if (!run->rank)
    return -ENOMEM;
  run->in = in;
  run->cfg = cfg;
  run->pm = res->preds;
  run->gm = res->gts;
  run->img = res->images;
  run->npig = npig;
  run->n_areas = 1;
  atomic_init(&run->next, 0);
  atomic_init(&run->failed, 0);
  if (cfg->compute_map) {
    run->n_thr = cfg->n_iou_threshs;
    run->n_areas = EVAL_N_AREAS;
    res->n_iou_threshs = cfg->n_iou_threshs;
    memcpy(res->iou_threshs, cfg->iou_threshs, sizeof(res->iou_threshs));
    run->sw = eval_zalloc(in->n_preds, sizeof(*run->sw));
    size_t np = (size_t)run->n_thr * nc * EVAL_RECALL_POINTS;
    res->precision = eval_zalloc(np, sizeof(*res->precision));
    if (!run->sw || !res->precision)
      return -ENOMEM;
  }
  return 0;
}

/* nt workers on run, each with its per-class counters; NULL on ENOMEM. */
static struct worker *workers_new(struct run *run, int nt, size_t nc)
{
  struct worker *ws = calloc((size_t)nt, sizeof(*ws));

  if (!ws)
    return NULL;
  for (int k = 0; k < nt; k++) {
    ws[k].run = run;
    ws[k].cls_cnt = eval_zalloc(3 * nc, sizeof(*ws[k].cls_cnt));
    if (!ws[k].cls_cnt) {
      for (int j = 0; j <= k; j++)
        worker_done(&ws[j]);
      free(ws);
      return NULL;
    }
  }
  return ws;
}

/* Per-class and total counts at cfg->iou, summed over the workers. */
static void class_totals(struct eval_result *res, const struct worker *ws,
                         int nt, const int64_t *npig)
{
  size_t nc = res->n_classes > 0 ? (size_t)res->n_classes : 0;

  for (size_t c = 0; c < nc; c++) {
    struct eval_class_stats *cs = &res->classes[c];
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
    res->tp += cs->tp;
    res->fp += cs->fp;
    res->fn += cs->fn;
  }
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
  r = validate(in, cfg, &npig);
  if (r)
    return r;
  size_t nc = in->n_classes > 0 ? (size_t)in->n_classes : 0;
  memset(&run, 0, sizeof(run));
  if ((r = result_init(&res, in, nc)) < 0 ||
      (r = run_init(&run, &res, in, cfg, npig)) < 0)
    goto out;
  nt = cfg->n_threads < MAX_THREADS ? cfg->n_threads : MAX_THREADS;
  ws = workers_new(&run, nt, nc);
  if (!ws) {
    r = -ENOMEM;
    goto out;
  }
  r = eval_run_workers(ws, nt, eval_match_worker);
  if (r)
    goto out;
  class_totals(&res, ws, nt, npig);
  if (cfg->compute_map) {
    r = eval_sweep_ap(&run, ws, nt, &res);
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
