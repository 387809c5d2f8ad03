/* test_evaluate.c - hand-built cases for core/compute/evaluate.h, one or more
 * per rule of pycocotools' COCOeval.
 *
 * Every number below is worked out by hand in a comment.  Per threshold,
 * the predictions of a class are ordered by confidence (ties: image order,
 * then input order), ignored ones stay in the sequence without counting,
 * precision = tp / (tp + fp + eps) with eps = DBL_EPSILON (so a single tp
 * has precision 1 / (1 + eps), one ulp below 1: "~1" below), made monotone
 * from the right and sampled at recall 0, 0.01, ..., 1 (first index whose
 * recall reaches the point; 0 past the last recall reached); AP is the mean
 * over the 10 thresholds numpy.linspace(.5, .95, 10) and the 101 points.
 * Mistakenness cases follow docs/ALGORITHMS.md §4.  The randomized cross-check
 * against an independent Python implementation lives in tests/eval/.
 */
#include "testlib.h"
#include "evaluate.h"

#include <errno.h>
#include <float.h>
#include <time.h>

#define MAXB 160

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
  b->gts[b->ng++] = (struct eval_gt){ { x, y, w, h }, label, crowd, NAN };
  b->gs[b->ni] = b->ng;
}

/* The last GT added gets a COCO area. */
static void tb_area(struct tb *b, double area)
{
  b->gts[b->ng - 1].area = area;
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

/* A single tp: precision 1 / (1 + eps). */
#define ONE (1.0 / (1.0 + DBL_EPSILON))

/* One GT, one identical prediction (30 x 40 = 1200 px: medium): every
 * threshold's curve is a single tp -> AP ~1 everywhere medium and "all";
 * small and large have no GT -> -1. */
TEST(perfect_match)
{
  struct tb b;
  struct eval_result res;

  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 10, 20, 30, 40, 0, false);
  tb_pred(&b, 10, 20, 30, 40, 0, 0.7);
  if (run(&b, NULL, &res))
    return;
  CHECK(ONE < 1.0);
  CHECK_NEAR(res.map, ONE, 1e-15);
  CHECK_NEAR(res.stats[EVAL_AP], ONE, 1e-15);
  CHECK_NEAR(res.stats[EVAL_AP50], ONE, 1e-15);
  CHECK_NEAR(res.stats[EVAL_AP75], ONE, 1e-15);
  CHECK_NEAR(res.stats[EVAL_APS], -1, 0);
  CHECK_NEAR(res.stats[EVAL_APM], ONE, 1e-15);
  CHECK_NEAR(res.stats[EVAL_APL], -1, 0);
  CHECK_NEAR(res.stats[EVAL_AR1], 1, 0);
  CHECK_NEAR(res.stats[EVAL_AR100], 1, 0);
  CHECK_NEAR(res.stats[EVAL_ARS], -1, 0);
  CHECK_NEAR(res.stats[EVAL_ARM], 1, 0);
  CHECK_NEAR(res.stats[EVAL_ARL], -1, 0);
  CHECK_NEAR(res.classes[0].ap50, ONE, 1e-15);
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_TP);
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_TP);
  CHECK_INT_EQ(res.classes[0].support, 1);
  CHECK_INT_EQ(res.n_iou_threshs, 10);
  /* numpy.linspace(.5, .95, 10): the 9th value is not 0.9. */
  CHECK(res.iou_threshs[8] == 0.8999999999999999);
  CHECK(res.iou_threshs[5] == 0.75);
  eval_result_free(&res);
}

/* Equal confidences across images keep image order.  Class 0, one GT per
 * image; image A's prediction (0.5) misses, image B's (0.5) hits.
 *   A first: [fp, tp] -> precision [0, 1/2], recall [0, 1/2]; monotone
 *   [1/2, 1/2]; points 0 .. 0.50 (51 of them) give 1/2, the rest 0:
 *   AP = 51 * 0.5 / 101 = 0.252475...
 *   B first: [tp, fp] -> precision [~1, 1/2], recall [1/2, 1/2]:
 *   AP = 51 * ~1 / 101 = 0.504950...  (A "tp first" rule would give this
 *   in both orders.) */
TEST(ties_across_images)
{
  for (int order = 0; order < 2; order++) {
    struct tb b;
    struct eval_result res;
    tb_init(&b, 1);
    for (int k = 0; k < 2; k++) {
      bool hit = (k == 1) == (order == 0);
      tb_image(&b);
      tb_gt(&b, 0, 0, 10, 10, 0, false);
      tb_pred(&b, hit ? 0 : 50, 0, 10, 10, 0, 0.5);
    }
    if (run(&b, NULL, &res))
      return;
    CHECK_NEAR(res.map, order == 0 ? 51 * 0.5 / 101 : 51 * ONE / 101, 1e-15);
    eval_result_free(&res);
  }
}

/* Ties inside one image keep input order: the miss listed first ranks
 * first -> [fp, tp] against one GT: AP = 51 * 0.5 / 101 as above. */
TEST(ties_within_image)
{
  struct tb b;
  struct eval_result res;
  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_gt(&b, 100, 0, 10, 10, 0, false);
  tb_pred(&b, 50, 50, 10, 10, 0, 0.5);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.5);
  if (run(&b, NULL, &res))
    return;
  /* Two GT: [fp, tp] -> precision [0, 1/2], recall [0, 1/2]. */
  CHECK_NEAR(res.map, 51 * 0.5 / 101, 1e-15);
  eval_result_free(&res);
}

/* A prediction matched to a crowd is ignored (neither tp nor fp).
 * Class 0: GT g, a crowd C, p1 (0.95) inside C (IoU = inter / p1 area =
 * 1), p2 (0.9) on g, p3 (0.7) nowhere.
 *   Sequence [ignored, tp, fp]: tp 0,1,1; fp 0,0,1 -> precision
 *   [0, ~1, 1/2], recall [0, 1, 1]; monotone [~1, ~1, 1/2]; every point
 *   -> ~1: AP ~1 (counting p1 as fp would give 1/2, as tp 2 GT-side
 *   events).  Counts at 0.5: tp 1, fp 1, fn 0, support 1. */
TEST(crowd_match_ignored)
{
  struct tb b;
  struct eval_result res;
  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_gt(&b, 100, 100, 50, 50, 0, true);
  tb_pred(&b, 110, 110, 10, 10, 0, 0.95);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.9);
  tb_pred(&b, 300, 300, 10, 10, 0, 0.7);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.map, ONE, 1e-15);
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_IGNORED);
  CHECK_INT_EQ(res.preds[0].other, 1);
  CHECK_NEAR(res.preds[0].iou, 1, 0);
  CHECK_INT_EQ(res.preds[1].outcome, EVAL_TP);
  CHECK_INT_EQ(res.preds[2].outcome, EVAL_FP);
  CHECK_INT_EQ(res.gts[1].outcome, EVAL_IGNORED);
  CHECK_INT_EQ(res.gts[1].other, 0);
  CHECK_INT_EQ(res.classes[0].tp, 1);
  CHECK_INT_EQ(res.classes[0].fp, 1);
  CHECK_INT_EQ(res.classes[0].fn, 0);
  CHECK_INT_EQ(res.classes[0].support, 1);
  CHECK_INT_EQ(res.classes[0].num_gt, 1);
  eval_result_free(&res);
}

/* An unmatched crowd is not a miss: fn 0, recall 1, AR 1; and it is not
 * "possibly spurious" either. */
TEST(unmatched_crowd_not_counted)
{
  struct tb b;
  struct eval_result res;
  struct eval_mistakes mk;
  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 200, 200, 50, 50, 0, true);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.6);
  if (run(&b, NULL, &res))
    return;
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_IGNORED);
  CHECK_INT_EQ(res.gts[0].other, -1);
  CHECK_INT_EQ(res.classes[0].fn, 0);
  CHECK_INT_EQ(res.images[0].fn, 0);
  CHECK_NEAR(res.classes[0].recall, 1, 0);
  CHECK_NEAR(res.stats[EVAL_AR100], 1, 0);
  CHECK_NEAR(res.map, ONE, 1e-15);
  eval_result_free(&res);
  struct eval_input in = tb_input(&b);
  CHECK_INT_EQ(eval_mistakenness(&in, 1, &mk), 0);
  CHECK(!mk.gt_possible_spurious[0]);
  CHECK_INT_EQ(mk.image_spurious[0], 0);
  eval_mistakes_free(&mk);
}

/* IoU exactly at a threshold matches (>=).  Three classes, one pair each:
 *   class 0: GT 10 x 10, prediction 10 x 5 -> IoU 50/100 = 0.5: matched at
 *     0.5 only -> AP = 1/10 * ~1;
 *   class 1: prediction 10 x 7.5 -> IoU 0.75: matched at 0.50 .. 0.75
 *     (6 thresholds) -> AP 6/10 * ~1, AP75 ~1;
 *   class 2: GT 10 x 0.7, prediction 9 x 0.7 -> IoU computes to
 *     0.8999999999999999, exactly the 9th threshold: matched at 9 of 10
 *     -> AP 9/10 * ~1 (thresholds k/100 would give 8/10). */
TEST(iou_at_threshold)
{
  struct tb b;
  struct eval_result res;
  tb_init(&b, 3);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 0, 0, 10, 5, 0, 0.9);
  tb_gt(&b, 100, 0, 10, 10, 1, false);
  tb_pred(&b, 100, 0, 10, 7.5, 1, 0.9);
  tb_gt(&b, 200, 0, 10, 0.7, 2, false);
  tb_pred(&b, 200, 0, 9, 0.7, 2, 0.9);
  if (run(&b, NULL, &res))
    return;
  CHECK(res.preds[2].iou == 0.8999999999999999);
  CHECK_NEAR(res.classes[0].ap, 0.1 * ONE, 1e-15);
  CHECK_NEAR(res.classes[0].ap50, ONE, 1e-15);
  CHECK_NEAR(res.classes[0].ap75, 0, 0);
  CHECK_NEAR(res.classes[1].ap, 0.6 * ONE, 1e-15);
  CHECK_NEAR(res.classes[1].ap75, ONE, 1e-15);
  CHECK_NEAR(res.classes[2].ap, 0.9 * ONE, 1e-15);
  /* Per-box threshold 0.9 itself is above 0.8999999999999999. */
  struct eval_config cfg;
  eval_config_default(&cfg);
  cfg.iou = 0.9;
  eval_result_free(&res);
  if (run(&b, &cfg, &res))
    return;
  CHECK_INT_EQ(res.preds[2].outcome, EVAL_FP);
  CHECK_INT_EQ(res.gts[2].outcome, EVAL_FN);
  eval_result_free(&res);
}

/* Only the first 100 predictions of an (image, class) are scored.  One GT
 * and 100 misses at 0.9, then the hit at 0.5 (the 101st): the hit is not
 * scored -> AP 0, AR100 0, the GT is fn and the hit's outcome is "none".
 * With 99 misses the hit is the 100th: precision 1/100 at recall 1 ->
 * AP = 1 / (100 + eps) = 0.01 (to 1e-17); AR1 = AR10 = 0, AR100 = 1. */
TEST(max_dets_per_image_and_class)
{
  for (int n_miss = 100; n_miss >= 99; n_miss--) {
    struct tb b;
    struct eval_result res;
    tb_init(&b, 2);
    tb_image(&b);
    tb_gt(&b, 0, 0, 10, 10, 0, false);
    for (int k = 0; k < n_miss; k++)
      tb_pred(&b, 20 + k, 20, 5, 5, 0, 0.9);
    tb_pred(&b, 0, 0, 10, 10, 0, 0.5);
    /* Another class does not use up class 0's 100. */
    tb_gt(&b, 0, 0, 10, 10, 1, false);
    tb_pred(&b, 0, 0, 10, 10, 1, 0.1);
    if (run(&b, NULL, &res))
      return;
    size_t hit = (size_t)n_miss;
    if (n_miss == 100) {
      CHECK_NEAR(res.classes[0].ap, 0, 0);
      CHECK_INT_EQ(res.preds[hit].outcome, EVAL_NONE);
      CHECK_INT_EQ(res.gts[0].outcome, EVAL_FN);
      CHECK_INT_EQ(res.classes[0].fp, 100);
    } else {
      CHECK_NEAR(res.classes[0].ap, 1 / (100 + DBL_EPSILON), 1e-17);
      CHECK_INT_EQ(res.preds[hit].outcome, EVAL_TP);
    }
    CHECK_INT_EQ(res.preds[hit + 1].outcome, EVAL_TP);
    CHECK_NEAR(res.classes[1].ap, ONE, 1e-15);
    /* AR1 / AR10: class 0 recalls nothing in its first 1 or 10. */
    CHECK_NEAR(res.stats[EVAL_AR1], 0.5, 0);
    CHECK_NEAR(res.stats[EVAL_AR10], 0.5, 0);
    CHECK_NEAR(res.stats[EVAL_AR100], n_miss == 100 ? 0.5 : 1, 0);
    eval_result_free(&res);
  }
}

/* Area ranges use the GT's COCO area, predictions their w * h.
 * Image 1, class 0: GT 10 x 10 with area 5000 (medium, though w * h =
 * 100 is small); p1 (0.95) misses, 10 x 10 = small; p2 (0.9) hits.
 *   all: [fp, tp] -> AP 1/2 (monotone [1/2, 1/2], every point reached).
 *   medium: p1 is unmatched and outside the range -> ignored: [ig, tp]
 *     -> APm ~1.  small, large: no GT -> -1.
 *   AR1: only p1 (rank 0) counts -> 0; AR10 1; ARm 1.
 * Image 2, class 1: GT 32 x 32 with no area (w * h = 1024, on the border:
 * in small and medium) and a hit -> APs and APm of class 1 ~1; a 100 x 100
 * GT of class 2 (no area, 10000: large), missed -> APl 0. */
TEST(area_ranges)
{
  struct tb b;
  struct eval_result res;
  tb_init(&b, 3);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_area(&b, 5000);
  tb_pred(&b, 50, 50, 10, 10, 0, 0.95);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.9);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.stats[EVAL_AP], 0.5, 1e-15);
  CHECK_NEAR(res.stats[EVAL_APM], ONE, 1e-15);
  CHECK_NEAR(res.stats[EVAL_APS], -1, 0);
  CHECK_NEAR(res.stats[EVAL_APL], -1, 0);
  CHECK_NEAR(res.stats[EVAL_AR1], 0, 0);
  CHECK_NEAR(res.stats[EVAL_AR10], 1, 0);
  CHECK_NEAR(res.stats[EVAL_ARM], 1, 0);
  CHECK_NEAR(res.stats[EVAL_ARS], -1, 0);
  eval_result_free(&res);

  tb_image(&b);
  tb_gt(&b, 0, 0, 32, 32, 1, false);
  tb_pred(&b, 0, 0, 32, 32, 1, 0.8);
  tb_gt(&b, 100, 100, 100, 100, 2, false);
  if (run(&b, NULL, &res))
    return;
  /* small: class 1 only (~1); medium: classes 0 and 1 (~1 each); large:
   * class 2 only (0). */
  CHECK_NEAR(res.stats[EVAL_APS], ONE, 1e-15);
  CHECK_NEAR(res.stats[EVAL_APM], ONE, 1e-15);
  CHECK_NEAR(res.stats[EVAL_APL], 0, 0);
  CHECK_NEAR(res.stats[EVAL_ARL], 0, 0);
  /* all: class 0 1/2, class 1 ~1, class 2 0. */
  CHECK_NEAR(res.map, (0.5 + ONE + 0) / 3, 1e-15);
  eval_result_free(&res);
}

/* A prediction holding a non-ignored GT never moves to a crowd, even a
 * better one; equal IoU goes to the later GT.  Class 0: GT g1 and g2 both
 * identical to p (IoU 1 each) -> p takes g2 (later); then a crowd covering
 * q's box entirely, and non-crowd g3 with IoU 0.6 with q -> q keeps g3
 * (tp) instead of the crowd's IoU 1. */
TEST(match_preferences)
{
  struct tb b;
  struct eval_result res;
  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.9);
  tb_gt(&b, 100, 100, 100, 100, 0, true);
  tb_gt(&b, 100, 100, 10, 10, 0, false);
  tb_pred(&b, 100, 100, 10, 6, 0, 0.8);
  if (run(&b, NULL, &res))
    return;
  CHECK_INT_EQ(res.preds[0].other, 1);
  CHECK_INT_EQ(res.preds[1].other, 3);
  CHECK_INT_EQ(res.preds[1].outcome, EVAL_TP);
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_FN);
  eval_result_free(&res);
}

/* Boxes are scored as given: a prediction sticking out of the frame keeps
 * its size.  GT (0, 0, 10, 10), prediction (-10, 0, 20, 10): IoU = 100 /
 * 200 = 0.5 (clipped to x >= 0 it would be 1). */
TEST(unclipped)
{
  struct tb b;
  struct eval_result res;
  tb_init(&b, 1);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, -10, 0, 20, 10, 0, 0.9);
  if (run(&b, NULL, &res))
    return;
  CHECK_NEAR(res.preds[0].iou, 0.5, 0);
  CHECK_NEAR(res.classes[0].ap, 0.1 * ONE, 1e-15);
  eval_result_free(&res);
}

/* classwise = false (used by mistakenness): a class-1 prediction on a
 * class-0 GT matches it: pred fp, GT fn.  The sweep needs classwise. */
TEST(not_classwise)
{
  struct tb b;
  struct eval_result res;
  struct eval_config cfg;
  tb_init(&b, 2);
  tb_image(&b);
  tb_gt(&b, 0, 0, 10, 10, 0, false);
  tb_pred(&b, 0, 0, 10, 10, 1, 0.9);
  tb_pred(&b, 0, 0, 10, 10, 0, 0.8);
  eval_config_default(&cfg);
  cfg.classwise = false;
  struct eval_input in = tb_input(&b);
  CHECK_INT_EQ(eval_run(&in, &cfg, &res), -EINVAL);
  cfg.compute_map = false;
  if (run(&b, &cfg, &res))
    return;
  CHECK_INT_EQ(res.preds[0].outcome, EVAL_FP);
  CHECK_INT_EQ(res.preds[0].other, 0);
  CHECK_INT_EQ(res.gts[0].outcome, EVAL_FN);
  CHECK_INT_EQ(res.preds[1].outcome, EVAL_FP);
  CHECK_INT_EQ(res.preds[1].other, -1);
  eval_result_free(&res);
}

/* Mistakenness (docs/ALGORITHMS.md §4), matching at 0.5, not classwise.
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
  b.gts[0].area = -1; /* COCO areas are >= 0 */
  CHECK_INT_EQ(eval_run(&in, NULL, &res), -EINVAL);
  b.gts[0].area = INFINITY;
  CHECK_INT_EQ(eval_run(&in, NULL, &res), -EINVAL);
  b.gts[0].area = NAN;
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
      gt->area = rng_next(&s) % 4 ? NAN : gt->box.w * gt->box.h * 0.5;
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
    cfg.compute_map = cfg.classwise; /* the sweep is classwise */
    cfg.n_threads = 1;
    CHECK_INT_EQ(eval_run(&in, &cfg, &r1), 0);
    cfg.n_threads = 3;
    CHECK_INT_EQ(eval_run(&in, &cfg, &r3), 0);
    CHECK(!cfg.compute_map || (r1.map > 0 && r1.map < 1));
    CHECK(r1.map == r3.map);
    CHECK(memcmp(r1.stats, r3.stats, sizeof(r1.stats)) == 0);
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
    CHECK(!cfg.compute_map ||
          memcmp(r1.precision, r3.precision,
                 10 * 4 * EVAL_RECALL_POINTS * sizeof(double)) == 0);
    eval_result_free(&r1);
    eval_result_free(&r3);
  }
  gen_free(&g);
}

/* CPU seconds of one single-threaded evaluation of a perfect match in
 * class 0 among nc classes; checks class 0's AP and that an unused
 * class has none. */
static double cpu_of_classes(int32_t nc)
{
  struct tb b;
  struct eval_result res;
  struct eval_config cfg;
  struct timespec t0, t1;

  tb_init(&b, nc);
  tb_image(&b);
  tb_gt(&b, 10, 20, 30, 40, 0, false);
  tb_pred(&b, 10, 20, 30, 40, 0, 0.7);
  eval_config_default(&cfg);
  cfg.n_threads = 1;
  struct eval_input in = tb_input(&b);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  int r = eval_run(&in, &cfg, &res);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
  CHECK_INT_EQ(r, 0);
  if (r)
    return -1;
  CHECK_NEAR(res.classes[0].ap, ONE, 1e-15);
  CHECK_NEAR(res.classes[nc - 1].ap, -1, 0);
  CHECK_NEAR(res.map, ONE, 1e-15);
  eval_result_free(&res);
  return (double)(t1.tv_sec - t0.tv_sec) +
         (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

/* The per-class AP of each class walks that class only: 20 times the
 * classes cost about 20 times the CPU (it was about 75 times: each
 * class's numbers walked every class, 2 s at 1,200 classes in a store). */
TEST(many_classes_linear)
{
  double small = cpu_of_classes(100), big = cpu_of_classes(2000);

  if (small < 0 || big < 0)
    return;
  if (big > 40 * small) {
    fprintf(stderr, "2000 classes: %.3f s of CPU, 100 classes: %.3f s\n",
            big, small);
    CHECK(big <= 40 * small);
  }
}

TEST_MAIN(T(perfect_match), T(ties_across_images), T(ties_within_image),
          T(crowd_match_ignored), T(unmatched_crowd_not_counted),
          T(iou_at_threshold), T(max_dets_per_image_and_class),
          T(area_ranges), T(match_preferences), T(unclipped),
          T(not_classwise), T(mistakenness), T(errors), T(empty),
          T(threads_agree), T(many_classes_linear))
