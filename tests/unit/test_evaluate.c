/* test_evaluate.c - hand-built cases for core/evaluate.
 *
 * Every AP below is worked out by hand in a comment, following
 * algorithms.md §5: per threshold, the counted predictions of a class are
 * ordered by confidence (tp before fp on ties), precision is made monotone
 * from the right and sampled at recall 0, 0.01, ..., 1 (first index whose
 * recall reaches the point; 0 past the last recall reached); AP is the mean
 * over the 10 thresholds 0.50:0.05:0.95 and the 101 points.  Mistakenness
 * cases follow §4.  The randomized cross-check against an independent
 * Python implementation lives in tests/eval/.
 */
#include "testlib.h"
#include "evaluate.h"

#include <errno.h>

#define MAXB 64

/* A tiny input builder: call tb_image() before adding an image's boxes. */
struct tb {
  struct eval_gt gts[MAXB];
  struct eval_pred preds[MAXB];
  size_t gs[MAXB + 1], ps[MAXB + 1];
  size_t ng, np, ni;
  int32_t nc;
};

static void tb_init(struct tb *b, int32_t nc)
{
  memset(b, 0, sizeof(*b));
  b->nc = nc;
}

static void tb_image(struct tb *b)
{
  b->ni++;
  b->gs[b->ni] = b->ng;
  b->ps[b->ni] = b->np;
}

static void tb_gt(struct tb *b, double x, double y, double w, double h,
                  int32_t label, bool crowd)
{
  b->gts[b->ng++] = (struct eval_gt){ { x, y, w, h }, label, crowd };
  b->gs[b->ni] = b->ng;
}

static void tb_pred(struct tb *b, double x, double y, double w, double h,
                    int32_t label, double conf)
{
  b->preds[b->np++] = (struct eval_pred){ { x, y, w, h }, label, conf };
  b->ps[b->ni] = b->np;
}

static struct eval_input tb_input(const struct tb *b)
{
  return (struct eval_input){ b->gts, b->ng, b->preds, b->np,
                              b->gs,  b->ps, b->ni,    b->nc };
}

/* Runs with the reference defaults (optionally adjusted) and checks rc. */
static int run(const struct tb *b, const struct eval_config *cfg,
               struct eval_result *res)
{
  struct eval_input in = tb_input(b);
  int r = eval_run(&in, cfg, res);
  CHECK_INT_EQ(r, 0);
  return r;
}

/* One GT, one identical prediction: IoU 1 >= every threshold, so each
 * threshold's curve is a single tp (precision 1, recall 1) -> AP 1. */
TEST(perfect_match)
{
  struct tb b;
  struct eval_result res;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 10, 20, 30, 40, 0, false);
  tb_pred(&b, 10, 20, 30, 40, 0, 0.9);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, 1.0, 1e-12);
  CHECK_NEAR(res.map, 1.0, 1e-12);
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_TP);
  CHECK_INT_EQ(res.preds[0].other, 0);
  CHECK_NEAR(res.preds[0].iou, 1.0, 1e-12);
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_TP);
  CHECK_INT_EQ(res.gts[0].other, 0);
  CHECK_INT_EQ(res.classes[0].tp, 1);
  CHECK_INT_EQ(res.classes[0].fp, 0);
  CHECK_INT_EQ(res.classes[0].fn, 0);
  CHECK_INT_EQ(res.classes[0].support, 1);
  CHECK_INT_EQ(res.classes[0].num_gt, 1);
  CHECK_NEAR(res.classes[0].precision, 1.0, 0);
  CHECK_NEAR(res.classes[0].recall, 1.0, 0);
  CHECK_INT_EQ(res.images[0].tp, 1);
  CHECK_INT_EQ(res.n_iou_threshs, 10);
  CHECK_NEAR(res.precision[0], 1.0, 0);
  eval_result_free(&res);
}

/* One GT.  An fp at conf 0.9 (no overlap) ranked above the tp at 0.8:
 * sequence fp, tp -> precision [0, 1/2], recall [0, 1]; monotone
 * precision [1/2, 1/2]; recall point 0 samples index 0, the others index 1:
 * all 101 points are 1/2 -> AP 0.5.  Swapped confidences: tp, fp ->
 * precision [1, 1/2], recall [1, 1]; every point samples index 0 -> AP 1. */
TEST(fp_ranked_above_tp)
{
  struct tb b;
  struct eval_result res;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 50, 50, 10, 10, 0, 0.9);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.8);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, 0.5, 1e-12);
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_FP);
  CHECK_INT_EQ(res.preds[0].other, -1);
  CHECK(isnan(res.preds[0].iou));
  CHECK_INT_EQ(res.preds[1].outcome, EVAL_TP);
  CHECK_NEAR(res.classes[0].precision, 0.5, 1e-15);
  eval_result_free(&res);

  b.preds[0].confidence = 0.7;
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, 1.0, 1e-12);
  eval_result_free(&res);
}

/* Two GT, A at the origin and B far away.  Predictions: A (0.9), a
 * duplicate of A (0.8), B (0.7).  The duplicate finds A taken -> fp.
 * Sequence tp, fp, tp: precision [1, 1/2, 2/3], recall [1/2, 1/2, 1];
 * monotone [1, 2/3, 2/3].  Recall points 0..0.50 (51 points; 50 * 0.01 is
 * exactly 0.5) sample index 0 -> 1; 0.51..1 (50 points) sample index 2 ->
 * 2/3.  AP = (51 + 50 * 2/3) / 101 = 0.834983498... at every threshold. */
TEST(duplicates_matched_once)
{
  struct tb b;
  struct eval_result res;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_gt(&b, 100, 100, 10, 10, 0, false);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.9);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.8);
  tb_pred(&b, 100, 100, 10, 10, 0, 0.7);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, (51 + 50 * 2.0 / 3) / 101, 1e-12);
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_TP);
  CHECK_INT_EQ(res.preds[1].outcome, EVAL_FP);
  CHECK_INT_EQ(res.preds[1].other, -1);
  CHECK_INT_EQ(res.preds[2].outcome, EVAL_TP);
  CHECK_INT_EQ(res.preds[2].other, 1);
  CHECK_INT_EQ(res.classes[0].tp, 2);
  CHECK_INT_EQ(res.classes[0].fp, 1);
  CHECK_NEAR(res.classes[0].precision, 2.0 / 3, 1e-15);
  CHECK_NEAR(res.classes[0].recall, 1.0, 0);
  CHECK_INT_EQ(res.images[0].fp, 1);
  eval_result_free(&res);
}

/* A crowd region (listed first on purpose: crowds sort last) and one
 * normal GT inside it.  Two predictions elsewhere inside the crowd (0.9,
 * 0.8) have crowd IoU = inter / pred area = 1 and are absorbed: tp per box,
 * left out of AP.  The third (0.7) sits exactly on the normal GT, whose IoU
 * is also 1: the non-crowd wins.  AP counts one tp over num_gt 1 -> 1.
 * Without the crowd flag the big box is an ordinary GT (IoU 0.01 with the
 * small boxes): fp, fp, tp over num_gt 2 -> precision [0, 0, 1/3], recall
 * [0, 0, 1/2], monotone 1/3 everywhere; points 0..0.50 (51) -> 1/3, the
 * rest 0 -> AP = 51 / 303. */
TEST(crowd_absorbs_predictions)
{
  struct tb b;
  struct eval_result res;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 100, 100, 0, true);
  tb_gt(&b, 10, 10, 10, 10, 0, false);
  tb_pred(&b, 50, 50, 10, 10, 0, 0.9);
  tb_pred(&b, 70, 70, 10, 10, 0, 0.8);
  tb_pred(&b, 10, 10, 10, 10, 0, 0.7);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, 1.0, 1e-12);
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_TP);
  CHECK_INT_EQ(res.preds[0].other, 0);
  CHECK_NEAR(res.preds[0].iou, 1.0, 0);
  CHECK_INT_EQ(res.preds[1].outcome, EVAL_TP);
  CHECK_INT_EQ(res.preds[1].other, 0);
  CHECK_INT_EQ(res.preds[2].other, 1);
  /* The crowd records its first (highest-confidence) match. */
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_TP);
  CHECK_INT_EQ(res.gts[0].other, 0);
  CHECK_INT_EQ(res.gts[1].other, 2);
  CHECK_INT_EQ(res.classes[0].tp, 3);
  CHECK_INT_EQ(res.classes[0].fn, 0);
  CHECK_INT_EQ(res.classes[0].support, 3);
  CHECK_INT_EQ(res.classes[0].num_gt, 1);
  eval_result_free(&res);

  b.gts[0].iscrowd = false;
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, 51.0 / 303, 1e-12);
  CHECK_INT_EQ(res.classes[0].fp, 2);
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_FN);
  eval_result_free(&res);

  /* An unmatched crowd is an fn per box but not part of num_gt. */
  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 100, 100, 0, true);
  if (run(&b, NULL, &res))
    return;
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_FN);
  CHECK_INT_EQ(res.classes[0].num_gt, 0);
  CHECK_NEAR(res.classes[0].ap, -1, 0);
  CHECK_NEAR(res.map, -1, 0);
  eval_result_free(&res);
}

/* Class 0 perfect (AP 1).  Class 1 has a GT and no prediction: its curve
 * is empty, every point samples past the end -> AP 0.  Class 2 has only a
 * prediction: no GT -> AP -1, excluded from mAP.  mAP = (1 + 0) / 2. */
TEST(classes_without_predictions_or_gt)
{
  struct tb b;
  struct eval_result res;

  tb_init(&b, 3);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_gt(&b, 20, 20, 10, 10, 1, false);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.9);
  tb_pred(&b, 40, 40, 10, 10, 2, 0.9);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, 1.0, 1e-12);
  CHECK_NEAR(res.classes[1].ap, 0.0, 0);
  CHECK_NEAR(res.classes[2].ap, -1.0, 0);
  CHECK_NEAR(res.map, 0.5, 1e-12);
  CHECK_INT_EQ(res.classes[1].fn, 1);
  CHECK_NEAR(res.classes[1].precision, 0, 0);
  CHECK_NEAR(res.classes[1].recall, 0, 0);
  CHECK_INT_EQ(res.classes[2].fp, 1);
  CHECK_INT_EQ(res.classes[2].support, 0);
  CHECK_INT_EQ(res.images[0].tp, 1);
  CHECK_INT_EQ(res.images[0].fp, 1);
  CHECK_INT_EQ(res.images[0].fn, 1);
  CHECK_INT_EQ(res.tp, 1);
  /* Class 2's precision rows stay -1. */
  CHECK_NEAR(res.precision[2 * EVAL_RECALL_POINTS], -1, 0);
  eval_result_free(&res);
}

/* GT 10x10, prediction 10x20 on top of it: inter 100, union 200, IoU
 * exactly 0.5.  Matching is ">=": a match at 0.5, none at 0.55 and up.
 * Threshold 0.5 gives AP 1; the other nine see one fp (precision 0) -> 0.
 * AP = 1/10. */
TEST(iou_threshold_boundary)
{
  struct tb b;
  struct eval_result res;
  struct eval_config cfg;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 0, 0, 10, 20, 0, 0.9);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.preds[0].iou, 0.5, 0);
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_TP);
  CHECK_NEAR(res.classes[0].ap, 0.1, 1e-12);
  eval_result_free(&res);

  eval_config_default(&cfg);
  cfg.iou = 0.55;
  if (run(&b, &cfg, &res))
    return;
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_FP);
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_FN);
  eval_result_free(&res);

  /* Just below 0.5. */
  b.preds[0].box.h = 20.000001;
  if (run(&b, NULL, &res))
    return;
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_FP);
  CHECK_NEAR(res.classes[0].ap, 0.0, 0);
  eval_result_free(&res);

  /* iou = 1 is capped at 1 - 1e-10, so an exact box still matches. */
  cfg.iou = 1;
  b.preds[0].box.h = 10;
  if (run(&b, &cfg, &res))
    return;
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_TP);
  eval_result_free(&res);
}

/* Equal confidences: the fp is listed (and matched) first, but the
 * reference stable-sorts [tp..., fp...], so the tp ranks first: precision
 * [1, 1/2], recall [1, 1] -> AP 1 (input order would give 0.5). */
TEST(confidence_tie_puts_tp_first)
{
  struct tb b;
  struct eval_result res;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 50, 50, 10, 10, 0, 0.5);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.5);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, 1.0, 1e-12);
  eval_result_free(&res);
}

/* Equal IoU: the later GT in (non-crowd, crowd) order wins. */
TEST(equal_iou_later_gt_wins)
{
  struct tb b;
  struct eval_result res;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.9);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.8);
  if (run(&b, NULL, &res))
    return;
  CHECK_INT_EQ(res.preds[0].other, 1);
  CHECK_INT_EQ(res.preds[1].other, 0);
  eval_result_free(&res);
}

/* max_preds truncates each (image, class) list in the sweep only.  Three
 * fp (0.9, 0.8, 0.7) and a tp (0.6).  max_preds 3: the tp is cut, the
 * curve is fp, fp, fp -> AP 0 (the per-box pass still has the tp).  No
 * limit: fp, fp, fp, tp -> precision [0, 0, 0, 1/4] -> monotone 1/4,
 * recall reaches 1 only at index 3, every point samples 1/4 -> AP 0.25. */
TEST(max_preds_truncates_sweep)
{
  struct tb b;
  struct eval_result res;
  struct eval_config cfg;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 50, 50, 10, 10, 0, 0.9);
  tb_pred(&b, 60, 60, 10, 10, 0, 0.8);
  tb_pred(&b, 70, 70, 10, 10, 0, 0.7);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.6);
  eval_config_default(&cfg);
  cfg.max_preds = 3;
  if (run(&b, &cfg, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, 0.0, 0);
  CHECK_INT_EQ(res.preds[3].outcome, EVAL_TP);
  eval_result_free(&res);

  cfg.max_preds = 0;
  if (run(&b, &cfg, &res))
    return;
  CHECK_NEAR(res.classes[0].ap, 0.25, 1e-12);
  eval_result_free(&res);
}

/* Missing (NaN) and zero confidences both rank as -1, below 0.1, and tie
 * with each other (input order).  Two identical GT: the 0.1 prediction
 * takes the later one (equal IoU), the NaN one (listed first) takes the
 * other, the zero one is left over. */
TEST(missing_confidence_ranks_last)
{
  struct tb b;
  struct eval_result res;
  struct eval_config cfg;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 0, 0, 10, 10, 0, NAN);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.0);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.1);
  eval_config_default(&cfg);
  cfg.compute_map = false;
  if (run(&b, &cfg, &res))
    return;
  CHECK_INT_EQ(res.preds[2].outcome, EVAL_TP);
  CHECK_INT_EQ(res.preds[2].other, 1);
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_TP);
  CHECK_INT_EQ(res.preds[0].other, 0);
  CHECK_INT_EQ(res.preds[1].outcome, EVAL_FP);
  CHECK(res.precision == NULL);
  CHECK_NEAR(res.classes[0].ap, -1, 0);
  CHECK_NEAR(res.map, -1, 0);
  eval_result_free(&res);
}

/* classwise = false: a class-1 prediction on a class-0 GT matches it:
 * pred fp, GT fn, linked both ways.  For AP the fp is filed under the GT's
 * class: class 0 sees one fp over num_gt 1 -> 0; class 1 has no GT -> -1.
 * A crowd never absorbs another class's prediction. */
TEST(not_classwise)
{
  struct tb b;
  struct eval_result res;
  struct eval_config cfg;

  tb_init(&b, 2);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_gt(&b, 100, 100, 50, 50, 0, true);
  tb_pred(&b, 0, 0, 10, 10, 1, 0.9);
  tb_pred(&b, 110, 110, 10, 10, 1, 0.8);
  eval_config_default(&cfg);
  cfg.classwise = false;
  if (run(&b, &cfg, &res))
    return;
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_FP);
  CHECK_INT_EQ(res.preds[0].other, 0);
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_FN);
  CHECK_INT_EQ(res.gts[0].other, 0);
  CHECK_INT_EQ(res.preds[1].outcome, EVAL_FP);
  CHECK_INT_EQ(res.preds[1].other, -1);
  CHECK_INT_EQ(res.classes[0].fn, 2);
  CHECK_INT_EQ(res.classes[0].support, 2);
  CHECK_INT_EQ(res.classes[1].fp, 2);
  CHECK_NEAR(res.classes[0].ap, 0, 0);
  CHECK_NEAR(res.classes[1].ap, -1, 0);
  CHECK_NEAR(res.map, 0, 0);
  CHECK_INT_EQ(res.images[0].fn, 2);
  eval_result_free(&res);
}

/* Mistakenness (algorithms.md §4), matching at 0.5, not classwise.
 * Image 0:
 *   GT0 (class 0) + exact class-0 prediction, conf 0.9: agree, s = -1:
 *     (-0.9 + 1) / 2 = 0.05; IoU 1 -> i = 0 -> loc (0.9 * -1 + 1) / 2 = 0.05.
 *   GT1 (class 0) + class-1 prediction 10x6 inside it, conf 0.8: IoU 0.6,
 *     disagree, s = +1: (0.8 + 1) / 2 = 0.9; i = 2 * (1 - 0.6) = 0.8 ->
 *     loc (0.8 * 0.6 + 1) / 2 = 0.74.
 *   GT2 alone -> possible spurious.  Lone predictions at 0.96 -> possible
 *   missing; at exactly 0.95 -> not (strict >).  Image value max = 0.9.
 * Image 1: one prediction at 0.99 -> missing; no matched GT -> -1.
 * Image 2: a crowd absorbs two class-0 predictions (0.97 first): they are
 *   matched, so not missing; the crowd takes its first match:
 *   (-0.97 + 1) / 2 = 0.015 and loc 0.015. */
TEST(mistakenness)
{
  struct tb b;
  struct eval_mistakes mk;

  tb_init(&b, 2);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_gt(&b, 100, 100, 10, 10, 0, false);
  tb_gt(&b, 200, 200, 10, 10, 1, false);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.9);
  tb_pred(&b, 100, 100, 10, 6, 1, 0.8);
  tb_pred(&b, 300, 300, 10, 10, 0, 0.96);
  tb_pred(&b, 400, 400, 10, 10, 0, 0.95);
  tb_image(&b);
  tb_pred(&b, 0, 0, 10, 10, 1, 0.99);
  tb_image(&b);
  tb_gt(&b, 0, 0, 100, 100, 0, true);
  tb_pred(&b, 10, 10, 10, 10, 0, 0.8);
  tb_pred(&b, 50, 50, 10, 10, 0, 0.97);

  struct eval_input in = tb_input(&b);
  int r = eval_mistakenness(&in, 2, &mk);
  CHECK_INT_EQ(r, 0);
  if (r)
    return;
  CHECK_NEAR(mk.gt_mistakenness[0], 0.05, 1e-12);
  CHECK_NEAR(mk.gt_mistakenness_loc[0], 0.05, 1e-12);
  CHECK_NEAR(mk.gt_mistakenness[1], 0.9, 1e-12);
  CHECK_NEAR(mk.gt_mistakenness_loc[1], 0.74, 1e-12);
  CHECK(isnan(mk.gt_mistakenness[2]));
  CHECK(mk.gt_possible_spurious[2]);
  CHECK(!mk.gt_possible_spurious[0] && !mk.gt_possible_spurious[1]);
  CHECK(!mk.pred_possible_missing[0] && !mk.pred_possible_missing[1]);
  CHECK(mk.pred_possible_missing[2]);
  CHECK(!mk.pred_possible_missing[3]);
  CHECK_NEAR(mk.image_mistakenness[0], 0.9, 1e-12);
  CHECK_INT_EQ(mk.image_missing[0], 1);
  CHECK_INT_EQ(mk.image_spurious[0], 1);
  CHECK(mk.pred_possible_missing[4]);
  CHECK_NEAR(mk.image_mistakenness[1], -1, 0);
  CHECK_INT_EQ(mk.image_missing[1], 1);
  CHECK_INT_EQ(mk.image_spurious[1], 0);
  CHECK(!mk.pred_possible_missing[5] && !mk.pred_possible_missing[6]);
  CHECK_NEAR(mk.gt_mistakenness[3], 0.015, 1e-12);
  CHECK_NEAR(mk.gt_mistakenness_loc[3], 0.015, 1e-12);
  CHECK_NEAR(mk.image_mistakenness[2], 0.015, 1e-12);
  CHECK_INT_EQ(mk.image_missing[2], 0);
  eval_mistakes_free(&mk);
}

/* Malformed input or config: -EINVAL and the output is left alone. */
TEST(errors)
{
  struct tb b;
  struct eval_result res;
  struct eval_mistakes mk;
  struct eval_config cfg;
  struct eval_input in;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.5);
  memset(&res, 0xab, sizeof(res));
  in = tb_input(&b);

  in.n_classes = 0; /* label 0 out of range */
  CHECK_INT_EQ(eval_run(&in, NULL, &res), -EINVAL);
  in = tb_input(&b);
  b.gs[0] = 1;
  CHECK_INT_EQ(eval_run(&in, NULL, &res), -EINVAL);
  b.gs[0] = 0;
  b.ps[1] = 2; /* does not end at n_preds */
  CHECK_INT_EQ(eval_run(&in, NULL, &res), -EINVAL);
  b.ps[1] = 1;
  b.preds[0].confidence = NAN; /* AP needs confidences */
  CHECK_INT_EQ(eval_run(&in, NULL, &res), -EINVAL);
  CHECK_INT_EQ(eval_mistakenness(&in, 1, &mk), -EINVAL);
  b.preds[0].confidence = INFINITY;
  eval_config_default(&cfg);
  cfg.compute_map = false;
  CHECK_INT_EQ(eval_run(&in, &cfg, &res), -EINVAL);
  b.preds[0].confidence = 0.5;
  b.gts[0].box.w = NAN;
  CHECK_INT_EQ(eval_run(&in, NULL, &res), -EINVAL);
  b.gts[0].box.w = 10;
  cfg.iou = 1.5;
  CHECK_INT_EQ(eval_run(&in, &cfg, &res), -EINVAL);
  eval_config_default(&cfg);
  cfg.n_threads = 0;
  CHECK_INT_EQ(eval_run(&in, &cfg, &res), -EINVAL);
  eval_config_default(&cfg);
  cfg.n_iou_threshs = EVAL_MAX_THRESHS + 1;
  CHECK_INT_EQ(eval_run(&in, &cfg, &res), -EINVAL);
  CHECK_INT_EQ(eval_run(NULL, NULL, &res), -EINVAL);
  CHECK_INT_EQ(eval_run(&in, NULL, NULL), -EINVAL);

  unsigned char junk[sizeof(res)];
  memset(junk, 0xab, sizeof(junk));
  CHECK(memcmp(&res, junk, sizeof(res)) == 0);

  /* Still fine after all that. */
  CHECK_INT_EQ(eval_run(&in, NULL, &res), 0);
  eval_result_free(&res);
  eval_result_free(NULL);
  eval_mistakes_free(NULL);
}

/* No images at all, and images without boxes. */
TEST(empty)
{
  struct eval_input in = { 0 };
  struct eval_result res;

  CHECK_INT_EQ(eval_run(&in, NULL, &res), 0);
  CHECK_NEAR(res.map, -1, 0);
  CHECK_INT_EQ(res.n_images, 0);
  eval_result_free(&res);

  size_t st[4] = { 0, 0, 0, 0 };
  in = (struct eval_input){ NULL, 0, NULL, 0, st, st, 3, 5 };
  CHECK_INT_EQ(eval_run(&in, NULL, &res), 0);
  CHECK_NEAR(res.classes[4].ap, -1, 0);
  CHECK_INT_EQ(res.images[2].fn, 0);
  eval_result_free(&res);
}

/*---- Thread independence on generated data ------------------------------*/

static uint64_t rng_next(uint64_t *s)
{
  /* xorshift64*: fixed seed, so the data set is the same every run. */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

static double rng_unit(uint64_t *s)
{
  return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

struct gen {
  struct eval_gt *gts;
  struct eval_pred *preds;
  size_t *gs, *ps;
  size_t ng, np, ni;
};

static void gen_free(struct gen *g)
{
  free(g->gts);
  free(g->preds);
  free(g->gs);
  free(g->ps);
}

/* Images of up to 9 GT over 4 classes, ~10% crowds, jittered and
 * relabelled predictions, duplicates, background fps, 2-digit confidences
 * (many ties). */
static int gen_data(struct gen *g, size_t n_images, uint64_t seed)
{
  uint64_t s = seed;
  size_t cap = n_images * 40;

  memset(g, 0, sizeof(*g));
  g->gts = calloc(cap, sizeof(*g->gts));
  g->preds = calloc(cap, sizeof(*g->preds));
  g->gs = calloc(n_images + 1, sizeof(size_t));
  g->ps = calloc(n_images + 1, sizeof(size_t));
  if (!g->gts || !g->preds || !g->gs || !g->ps)
    return -ENOMEM;
  for (size_t im = 0; im < n_images; im++) {
    size_t k = rng_next(&s) % 10;
    for (size_t j = 0; j < k; j++) {
      struct eval_gt *gt = &g->gts[g->ng++];
      gt->box = (struct eval_box){ rng_unit(&s) * 600, rng_unit(&s) * 440,
                                   5 + rng_unit(&s) * 120,
                                   5 + rng_unit(&s) * 120 };
      gt->label = (int32_t)(rng_next(&s) % 4);
      gt->iscrowd = rng_next(&s) % 10 == 0;
      size_t copies = rng_next(&s) % 3;
      for (size_t c = 0; c < copies; c++) {
        struct eval_pred *p = &g->preds[g->np++];
        double jit = rng_unit(&s) * 0.4;
        p->box = gt->box;
        p->box.x += (rng_unit(&s) - 0.5) * jit * gt->box.w;
        p->box.y += (rng_unit(&s) - 0.5) * jit * gt->box.h;
        p->box.w *= 1 + (rng_unit(&s) - 0.5) * jit;
        p->box.h *= 1 + (rng_unit(&s) - 0.5) * jit;
        p->label = rng_next(&s) % 8 ? gt->label : (int32_t)(rng_next(&s) % 4);
        p->confidence = (double)(rng_next(&s) % 100) / 100;
      }
    }
    size_t bg = rng_next(&s) % 3;
    for (size_t j = 0; j < bg; j++) {
      struct eval_pred *p = &g->preds[g->np++];
      p->box = (struct eval_box){ rng_unit(&s) * 600, rng_unit(&s) * 440,
                                  5 + rng_unit(&s) * 80,
                                  5 + rng_unit(&s) * 80 };
      p->label = (int32_t)(rng_next(&s) % 4);
      p->confidence = (double)(rng_next(&s) % 100) / 100;
    }
    g->ni++;
    g->gs[g->ni] = g->ng;
    g->ps[g->ni] = g->np;
  }
  return 0;
}

static bool match_eq(const struct eval_match *a, const struct eval_match *b)
{
  return a->other == b->other && a->outcome == b->outcome &&
         (a->iou == b->iou || (isnan(a->iou) && isnan(b->iou)));
}

/* Results must not depend on the number of threads (bit for bit). */
TEST(threads_agree)
{
  struct gen g;
  struct eval_result r1, r3;
  struct eval_config cfg;

  if (gen_data(&g, 3000, 0x9e3779b97f4a7c15u)) {
    CHECK(0);
    gen_free(&g);
    return;
  }
  struct eval_input in = { g.gts, g.ng, g.preds, g.np, g.gs, g.ps, g.ni, 4 };
  for (int cw = 0; cw < 2; cw++) {
    eval_config_default(&cfg);
    cfg.classwise = cw == 0;
    cfg.n_threads = 1;
    CHECK_INT_EQ(eval_run(&in, &cfg, &r1), 0);
    cfg.n_threads = 3;
    CHECK_INT_EQ(eval_run(&in, &cfg, &r3), 0);
    CHECK(r1.map > 0 && r1.map < 1);
    CHECK(r1.map == r3.map);
    for (int c = 0; c < 4; c++) {
      CHECK(r1.classes[c].ap == r3.classes[c].ap);
      CHECK_INT_EQ(r1.classes[c].tp, r3.classes[c].tp);
      CHECK_INT_EQ(r1.classes[c].fp, r3.classes[c].fp);
      CHECK_INT_EQ(r1.classes[c].fn, r3.classes[c].fn);
    }
    size_t bad = 0;
    for (size_t i = 0; i < g.np; i++)
      bad += !match_eq(&r1.preds[i], &r3.preds[i]);
    for (size_t j = 0; j < g.ng; j++)
      bad += !match_eq(&r1.gts[j], &r3.gts[j]);
    for (size_t im = 0; im < g.ni; im++)
      bad += r1.images[im].tp != r3.images[im].tp ||
             r1.images[im].fp != r3.images[im].fp ||
             r1.images[im].fn != r3.images[im].fn;
    CHECK_INT_EQ(bad, 0);
    CHECK(memcmp(r1.precision, r3.precision,
                 10 * 4 * EVAL_RECALL_POINTS * sizeof(double)) == 0);
    eval_result_free(&r1);
    eval_result_free(&r3);
  }
  gen_free(&g);
}

TEST_MAIN(T(perfect_match), T(fp_ranked_above_tp),
          T(duplicates_matched_once), T(crowd_absorbs_predictions),
          T(classes_without_predictions_or_gt), T(iou_threshold_boundary),
          T(confidence_tie_puts_tp_first), T(equal_iou_later_gt_wins),
          T(max_preds_truncates_sweep), T(missing_confidence_ranks_last),
          T(not_classwise), T(mistakenness), T(errors), T(empty),
          T(threads_agree))
