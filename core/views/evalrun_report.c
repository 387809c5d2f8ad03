/* evalrun_report.c - what eval/<name>/ shows of a stored evaluation:
 * report.txt (evalrun_report_txt), metrics.json (evalrun_metrics_json)
 * and pr-curves.jpg (evalrun_pr_curves_jpeg), all read from the summary
 * record (evalrun_rec.h) within the caller's transaction. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "evalrun_rec.h"
#include "plot.h"

struct classes {
  struct sum_rec sr;
  struct cls_rec *c;   /* [sr.n_classes] */
  const uint8_t *curves; /* borrowed floats, unaligned */
  /* COCO summary; all -1 for a version-1 record (run before it existed). */
  struct coco_rec co;
  /* Predictions left out (not on the ground truth's images); zero before
   * version 3. */
  struct out_rec out;
  double *ap5075;      /* [sr.n_classes][2]: AP50, AP75 (-1 = undefined) */
};

static int get_classes(struct store_txn *t, const char *name,
                       struct classes *cl)
{
  const uint8_t *v;
  size_t n;
  int r = evalrun_rec_sum(t, name, &cl->sr, &v, &n);
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
  memset(&cl->out, 0, sizeof(cl->out));
  if (cl->sr.version >= SUM_VERSION_COCO) {
    const uint8_t *tr = cl->curves + (size_t)cl->sr.n_thr * nc *
                                         EVAL_RECALL_POINTS * sizeof(float);
    memcpy(&cl->co, tr, sizeof(cl->co));
    memcpy(cl->ap5075, tr + sizeof(cl->co), nc * 2 * sizeof(double));
    if (cl->sr.version >= SUM_VERSION)
      memcpy(&cl->out, tr + sizeof(cl->co) + nc * 2 * sizeof(double),
             sizeof(cl->out));
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

/* The first column of a class row: the whole class name, padded with
 * spaces to NAME_COL characters.  Never cut: a cut at a byte count can end
 * inside a multi-byte character (report.txt would not be UTF-8), and two
 * long names that share their first bytes would read alike.  Padding
 * counts characters (code points), so UTF-8 names line up as ASCII ones
 * do; a longer name pushes only its own row to the right. */
#define NAME_COL 24
static int put_name_col(struct buf *out, const char *name)
{
  size_t chars = 0;
  for (const char *p = name; *p; p++)
    chars += ((unsigned char)*p & 0xC0) != 0x80;
  int r = buf_puts(out, name);
  for (; r == 0 && chars < NAME_COL; chars++)
    r = buf_puts(out, " ");
  return r;
}

int evalrun_report_txt(struct store_txn *t, const char *name, struct buf *out)
{
  struct classes cl;
  char a0[16], a1[16], a2[16];
  int r = get_classes(t, name, &cl);
  if (r < 0)
    return r;
  const struct sum_rec *s = &cl.sr;
  struct evalrun_info info;
  evalrun_rec_info(s, name, &info);
  r = buf_printf(out,
                 "evaluation %s: field \"%s\" against ground truth \"%s\"\n"
                 "method: pycocotools COCOeval (bbox); counts at IoU >= %.2f, "
                 "same class, first 100 predictions per image and class, "
                 "crowds ignored\n"
                 "%" PRIu64 " samples, %" PRIu64 " ground-truth boxes, %" PRIu64
                 " predicted boxes; dataset version %" PRIu64 "\n\n",
                 name, s->pred_field, s->gt_field, s->iou, s->n_samples,
                 s->n_gt, s->n_pred, s->store_version);
  if (r == 0 && cl.out.preds)
    r = buf_printf(out, "%" PRIu64 " predictions on %" PRIu64 " images the "
                   "ground truth does not list: left out\n\n",
                   cl.out.preds, cl.out.images);
  if (r == 0 && s->version >= SUM_VERSION_COCO) {
    r = buf_puts(out, "COCO summary:\n");
    for (int k = 0; k < EVAL_N_STATS && r == 0; k++)
      r = buf_printf(out, "  %-6s %7s   %s\n", eval_stat_names[k],
                     fmt_metric(a0, sizeof(a0), cl.co.stats[k]),
                     STAT_WHAT[k]);
    r = r ? r : buf_puts(out, "\n");
  }
  if (r == 0)
    r = buf_printf(out, "%-*s %9s %7s %7s %7s %7s %8s %8s %8s %8s\n", NAME_COL,
                   "class", "precision", "recall", "AP", "AP50", "AP75",
                   "support", "tp", "fp", "fn");
  for (uint32_t k = 0; k < s->n_classes && r == 0; k++) {
    const struct cls_rec *c = &cl.c[k];
    r = put_name_col(out, class_name(t, c->class_id));
    r = r ? r : buf_printf(out, " %9.4f %7.4f %7s %7s %7s %8" PRId64
                   " %8" PRId64 " %8" PRId64 " %8" PRId64 "\n",
                   c->precision, c->recall,
                   fmt_metric(a0, sizeof(a0), c->ap),
                   fmt_metric(a1, sizeof(a1), cl.ap5075[2 * k]),
                   fmt_metric(a2, sizeof(a2), cl.ap5075[2 * k + 1]),
                   c->support, c->tp, c->fp, c->fn);
  }
  if (r == 0)
    r = buf_printf(out, "%-*s %9.4f %7.4f %7s %7s %7s %8" PRId64 " %8" PRId64
                   " %8" PRId64 " %8" PRId64 "\n\n",
                   NAME_COL, "all (AP columns: COCO)", info.precision, info.recall,
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

/* The run-wide members of metrics.json, after "{". */
static int json_head(const char *name, const struct classes *cl,
                     struct buf *out)
{
  const struct sum_rec *s = &cl->sr;
  struct evalrun_info info;
  int r;

  evalrun_rec_info(s, name, &info);
  r = buf_puts(out, "\"name\":");
  r = r ? r : buf_json_str(out, name, strlen(name));
  r = r ? r : buf_puts(out, ",\"gt_field\":");
  r = r ? r : buf_json_str(out, s->gt_field, strlen(s->gt_field));
  r = r ? r : buf_puts(out, ",\"pred_field\":");
  r = r ? r : buf_json_str(out, s->pred_field, strlen(s->pred_field));
  r = r ? r : json_num(out, "iou", s->iou, true);
  r = r ? r : buf_puts(out, ",\"method\":\"pycocotools\",\"classwise\":true,"
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
  r = r ? r : json_num(out, "precision", info.precision, true);
  r = r ? r : json_num(out, "recall", info.recall, true);
  r = r ? r : json_num(out, "map", s->map > -1 ? s->map : NAN, true);
  /* COCOeval's summary under its names; null when undefined. */
  for (int k = 0; k < EVAL_N_STATS && r == 0; k++)
    r = json_num(out, eval_stat_names[k],
                 cl->co.stats[k] > -1 ? cl->co.stats[k] : NAN, true);
  if (r == 0)
    r = buf_printf(out, ",\"left_out_preds\":%" PRIu64
                   ",\"left_out_images\":%" PRIu64,
                   cl->out.preds, cl->out.images);
  if (r == 0)
    r = buf_printf(out, ",\"possible_mistakes\":%" PRIu64
                   ",\"possible_missing\":%" PRIu64
                   ",\"possible_spurious\":%" PRIu64,
                   s->n_mistakes, s->n_missing, s->n_spurious);
  return r;
}

/* One object of the "classes" array of metrics.json. */
static int json_class(struct store_txn *t, const struct classes *cl,
                      uint32_t k, struct buf *out)
{
  const struct cls_rec *c = &cl->c[k];
  const char *cn = class_name(t, c->class_id);
  double ap50 = cl->ap5075[2 * k], ap75 = cl->ap5075[2 * k + 1];
  int r = buf_printf(out, "%s{\"id\":%" PRIu32 ",\"name\":", k ? "," : "",
                     c->class_id);

  r = r ? r : buf_json_str(out, cn, strlen(cn));
  if (r == 0)
    r = buf_printf(out, ",\"tp\":%" PRId64 ",\"fp\":%" PRId64
                   ",\"fn\":%" PRId64 ",\"support\":%" PRId64
                   ",\"num_gt\":%" PRId64,
                   c->tp, c->fp, c->fn, c->support, c->num_gt);
  r = r ? r : json_num(out, "precision", c->precision, true);
  r = r ? r : json_num(out, "recall", c->recall, true);
  r = r ? r : json_num(out, "ap", c->ap > -1 ? c->ap : NAN, true);
  r = r ? r : json_num(out, "ap50", ap50 > -1 ? ap50 : NAN, true);
  r = r ? r : json_num(out, "ap75", ap75 > -1 ? ap75 : NAN, true);
  return r ? r : buf_puts(out, "}");
}

int evalrun_metrics_json(struct store_txn *t, const char *name,
                         struct buf *out)
{
  struct classes cl;
  int r = get_classes(t, name, &cl);

  if (r < 0)
    return r;
  r = buf_puts(out, "{");
  r = r ? r : json_head(name, &cl, out);
  r = r ? r : buf_puts(out, ",\"classes\":[");
  for (uint32_t k = 0; k < cl.sr.n_classes && r == 0; k++)
    r = json_class(t, &cl, k, out);
  if (r == 0)
    r = buf_puts(out, "]}\n");
  classes_free(&cl);
  return r;
}

/* The dataset-wide curve at threshold index th (or the mean over every
 * threshold for th < 0): at each recall point the mean precision of the
 * classes with ground truth that define it.  Returns its AP, the mean
 * of the defined points (COCO's 101-point AP), NaN when none is. */
static double mean_curve(const struct classes *cl, int th, double *y)
{
  const struct sum_rec *s = &cl->sr;
  uint32_t nc = s->n_classes;
  double ap = 0;
  int defined = 0;
  for (int q = 0; q < EVAL_RECALL_POINTS; q++) {
    double sum = 0;
    size_t cnt = 0;
    for (int t = th < 0 ? 0 : th; t < (th < 0 ? s->n_thr : th + 1); t++)
      for (uint32_t k = 0; k < nc; k++) {
        float f;
        if (cl->c[k].num_gt <= 0)
          continue;
        memcpy(&f, cl->curves + ((((size_t)t * nc + k) * EVAL_RECALL_POINTS) +
                                 (size_t)q) * sizeof(float), sizeof(f));
        if (f >= 0)
          sum += f, cnt++;
      }
    y[q] = cnt ? sum / (double)cnt : NAN;
    if (cnt)
      ap += y[q], defined++;
  }
  return defined ? ap / defined : NAN;
}

/* Index of the threshold nearest v. */
static int thr_index(const struct sum_rec *s, double v)
{
  int best = 0;
  for (int k = 1; k < s->n_thr; k++)
    if (fabs(s->thr[k] - v) < fabs(s->thr[best] - v))
      best = k;
  return best;
}

int evalrun_pr_curves_jpeg(struct store_txn *t, const char *name, int w,
                           int h, uint8_t **ret_data, size_t *ret_len)
{
  struct classes cl;
  (void)w, (void)h;
  int r = get_classes(t, name, &cl);
  if (r < 0)
    return r;
  const struct sum_rec *s = &cl.sr;
  uint32_t nc = s->n_classes;
  double *xs = malloc(EVAL_RECALL_POINTS * sizeof(double));
  double *ys = malloc(3 * EVAL_RECALL_POINTS * sizeof(double));
  double *ap = calloc((size_t)nc + 1, sizeof(double));
  const char **names = calloc((size_t)nc + 1, sizeof(*names));
  struct plot_pr p = { 0 };
  char title[200];
  if (!xs || !ys || !ap || !names) {
    r = -ENOMEM;
    goto out;
  }
  for (int k = 0; k < EVAL_RECALL_POINTS; k++)
    xs[k] = k / (double)(EVAL_RECALL_POINTS - 1);
  if (s->n_thr > 0) {
    static const char *const lab[3] = { "IoU 0.50", "IoU 0.75",
                                        "IoU 0.50:0.95 (mean)" };
    int idx[3] = { thr_index(s, 0.5), thr_index(s, 0.75), -1 };
    for (int c = 0; c < 3; c++) {
      p.curve[c] = ys + (size_t)c * EVAL_RECALL_POINTS;
      p.curve_ap[c] = mean_curve(&cl, idx[c], ys + (size_t)c *
                                                   EVAL_RECALL_POINTS);
      p.curve_label[c] = lab[c];
    }
    p.n_curves = 3;
  }
  for (uint32_t k = 0; k < nc; k++) {
    names[k] = class_name(t, cl.c[k].class_id);
    ap[k] = cl.c[k].num_gt > 0 ? cl.c[k].ap : NAN;
  }
  snprintf(title, sizeof(title), "%.64s: precision-recall of all classes, "
           "mAP %.3f (COCO, IoU 0.50:0.95)", name, s->map);
  p.title = title;
  p.recall = xs;
  p.n_points = EVAL_RECALL_POINTS;
  p.class_names = names;
  p.class_ap = ap;
  p.n_classes = nc;
  r = plot_pr_jpeg(&p, ret_data, ret_len);
out:
  free(xs);
  free(ys);
  free(ap);
  free(names);
  classes_free(&cl);
  return r;
}

/*---- Lists and samples ----------------------------------------------------*/
