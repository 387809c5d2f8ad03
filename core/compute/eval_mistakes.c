/* eval_mistakes.c - detection mistakenness (docs/ALGORITHMS.md §4): FiftyOne
 * Brain's per-GT class and localisation terms, possibly missing and
 * possibly spurious objects, derived from eval_run()'s matching at IoU 0.5
 * across classes (evaluate.h).  The terms are written with the reference's
 * operations so that they land on the same doubles.
 */
#include "eval_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* The arrays of *mk for in's boxes and images, zeroed. */
static int mistakes_alloc(struct eval_mistakes *mk,
                          const struct eval_input *in)
{
  memset(mk, 0, sizeof(*mk));
  mk->n_preds = in->n_preds;
  mk->n_gts = in->n_gts;
  mk->n_images = in->n_images;
  mk->gt_mistakenness = eval_zalloc(in->n_gts, sizeof(double));
  mk->gt_mistakenness_loc = eval_zalloc(in->n_gts, sizeof(double));
  mk->gt_possible_spurious = eval_zalloc(in->n_gts, sizeof(bool));
  mk->pred_possible_missing = eval_zalloc(in->n_preds, sizeof(bool));
  mk->image_mistakenness = eval_zalloc(in->n_images, sizeof(double));
  mk->image_missing = eval_zalloc(in->n_images, sizeof(int64_t));
  mk->image_spurious = eval_zalloc(in->n_images, sizeof(int64_t));
  if (!mk->gt_mistakenness || !mk->gt_mistakenness_loc ||
      !mk->gt_possible_spurious || !mk->pred_possible_missing ||
      !mk->image_mistakenness || !mk->image_missing || !mk->image_spurious) {
    eval_mistakes_free(mk);
    return -ENOMEM;
  }
  return 0;
}

/* The values of image im from the matching ev. */
static void mistakes_image(struct eval_mistakes *mk,
                           const struct eval_input *in,
                           const struct eval_result *ev, size_t im)
{
  double best = -1;
  bool any = false;

  for (size_t i = in->pred_start[im]; i < in->pred_start[im + 1]; i++) {
    /* Unmatched (never paired with any GT) and confident: the object
     * may be missing from the GT.  Strict ">". */
    if (ev->preds[i].other < 0 &&
        in->preds[i].confidence > EVAL_MISSED_CONFIDENCE) {
      mk->pred_possible_missing[i] = true;
      mk->image_missing[im]++;
    }
  }
  for (size_t j = in->gt_start[im]; j < in->gt_start[im + 1]; j++) {
    const struct eval_match *gm = &ev->gts[j];
    if (gm->other < 0) {
      /* An unmatched crowd is no miss in COCO: nothing to flag.  Any
       * other GT without a prediction may be spurious. */
      if (!in->gts[j].iscrowd) {
        mk->gt_possible_spurious[j] = true;
        mk->image_spurious[im]++;
      }
      mk->gt_mistakenness[j] = NAN;
      mk->gt_mistakenness_loc[j] = NAN;
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
    mk->gt_mistakenness[j] = mc;
    mk->gt_mistakenness_loc[j] = (conf * ((2.0 * li) - 1.0) + 1.0) / 2.0;
    if (!any || mc > best)
      best = mc;
    any = true;
  }
  mk->image_mistakenness[im] = any ? best : -1;
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
  r = mistakes_alloc(&mk, in);
  if (r == 0) {
    for (size_t im = 0; im < in->n_images; im++)
      mistakes_image(&mk, in, &ev, im);
    *ret = mk;
  }
  eval_result_free(&ev);
  return r;
}
