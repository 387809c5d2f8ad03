/* evaluate.h - COCO detection evaluation, as pycocotools' COCOeval
 * (iouType "bbox") computes it, and detection mistakenness.
 *
 * What it does: matches predicted boxes to ground-truth (GT) boxes image by
 * image with COCOeval's rules and reports per-box outcomes (tp/fp/fn),
 * per-image and per-class counts, per-class AP, AP50 and AP75, the PR
 * curves, and COCOeval's 12-number summary (AP, AP50, AP75, APs, APm, APl,
 * AR1, AR10, AR100, ARs, ARm, ARl).  The rules, all from COCOeval:
 *   - IoU thresholds numpy.linspace(.5, .95, 10) (the 9th is
 *     0.8999999999999999), recall points numpy.linspace(0, 1, 101);
 *   - per (image, class), predictions in descending confidence, equal
 *     confidences in input order (a stable sort), cut to the first 100;
 *     GT ignored in the current area range (crowds, or an area outside it)
 *     sorted after the others;
 *   - each prediction in turn takes the still-unmatched GT of highest IoU
 *     >= min(threshold, 1 - 1e-10), the later GT winning equal IoUs; once
 *     it holds a non-ignored GT it never moves to an ignored one; crowds may
 *     be taken many times;
 *   - a prediction matched to an ignored GT is ignored (neither tp nor fp),
 *     so is an unmatched one whose own area (w * h) is outside the range;
 *     ignored GT are not in the recall denominator;
 *   - per class, the predictions of all images (image order = input order)
 *     are sorted again by confidence with a stable sort; AP is the mean of
 *     the interpolated precision over thresholds and recall points; recall
 *     is the last recall reached; AR1/AR10/AR100 use the first 1/10/100
 *     predictions of each (image, class); classes without non-ignored GT
 *     are left out of every mean (-1).
 * Area ranges: all [0, 1e10], small [0, 32^2], medium [32^2, 96^2], large
 * [96^2, 1e10], on the GT's `area` (struct eval_gt) and on w * h for
 * predictions.  eval_mistakenness() derives FiftyOne Brain's detection
 * mistakenness, possible-missing and possible-spurious values from the
 * same matching (docs/ALGORITHMS.md §4).
 *
 * What it does not do: no I/O, no class names (class ids only), no masks,
 * polylines or keypoints, no video frames (flatten frames into images
 * first), no clipping: boxes are scored with the coordinates given.
 *
 * Box convention: PIXEL space, struct eval_box = top-left corner (x, y)
 * plus size (w, h), continuous coordinates: no "+1" inclusive edges, no
 * rounding.  IoU = inter / union computed with COCO's operation order,
 * with union = predicted area when the GT is a crowd, and IoU = 0 when the
 * boxes do not overlap.
 *
 * Threading: no globals; every function is re-entrant and inputs are only
 * read, so concurrent calls may share them.  eval_run() itself uses up to
 * cfg->n_threads POSIX threads internally and joins them before returning.
 *
 * Errors: negative errno (-EINVAL for malformed input or config, -ENOMEM);
 * on failure the output struct is left untouched.
 */
#ifndef CURATE_EVALUATE_H
#define CURATE_EVALUATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most IoU thresholds in one sweep. */
#define EVAL_MAX_THRESHS 16
/* COCO area ranges (all, small, medium, large) and maxDets (1, 10, 100). */
#define EVAL_N_AREAS 4
#define EVAL_N_MAXDETS 3
/* Predictions scored per (image, class): the largest maxDets. */
#define EVAL_MAX_DETS 100
/* Recall points of the interpolated PR curve: 0, 0.01, ..., 1. */
#define EVAL_RECALL_POINTS 101
/* Mistakenness constants of the reference (docs/ALGORITHMS.md §4). */
#define EVAL_MISTAKE_IOU 0.5
#define EVAL_MISSED_CONFIDENCE 0.95

struct eval_box {
  double x, y, w, h; /* pixels; top-left corner and size */
};

struct eval_gt {
  struct eval_box box;
  int32_t label; /* class id in [0, n_classes) */
  bool iscrowd;  /* crowd region: ignored, may absorb many predictions */
  /* COCO `area` (decides the area range); NaN = w * h.  Must be >= 0. */
  double area;
};

struct eval_pred {
  struct eval_box box;
  int32_t label;     /* class id in [0, n_classes) */
  /* NaN = missing: sorts after every confidence when ordering predictions
   * for matching.  AP needs every confidence, so NaN is rejected (-EINVAL)
   * when cfg->compute_map is set and by eval_mistakenness(). */
  double confidence;
};

/* Boxes grouped by image in CSR form: image i owns
 * gts[gt_start[i] .. gt_start[i+1]) and preds[pred_start[i] ..
 * pred_start[i+1]).  Both start arrays have n_images + 1 entries, begin at
 * 0, never decrease and end at n_gts / n_preds (they may be NULL only when
 * n_images is 0).  Image order is COCOeval's image-id order: it breaks
 * confidence ties across images.  Everything is borrowed for the duration
 * of the call. */
struct eval_input {
  const struct eval_gt *gts;
  size_t n_gts;
  const struct eval_pred *preds;
  size_t n_preds;
  const size_t *gt_start;
  const size_t *pred_start;
  size_t n_images;
  int32_t n_classes; /* labels are 0 .. n_classes-1 */
};

struct eval_config {
  /* Per-box matching threshold in [0, 1] for the tp/fp/fn outcomes (area
   * range "all", first 100 predictions per image and class); capped at
   * 1 - 1e-10 like COCOeval's thresholds, so that IoU 1 still matches. */
  double iou;
  /* true: only same-class boxes are matched (COCOeval's useCats = 1).
   * false: one group per image (useCats = 0): a prediction may then match
   * a GT of another class (pred fp, GT fn), and the first 100 predictions
   * of the image are scored.  The sweep needs classwise. */
  bool classwise;
  /* Run the IoU sweep that gives AP, AR, the summary and PR curves. */
  bool compute_map;
  /* Sweep thresholds in [0, 1], used as given (capped like cfg->iou).
   * AP50 / AP75 are the thresholds exactly equal to 0.5 / 0.75. */
  int n_iou_threshs;
  double iou_threshs[EVAL_MAX_THRESHS];
  /* Worker threads, >= 1.  Results do not depend on it. */
  int n_threads;
};

/* COCOeval's defaults: iou 0.5, classwise, mAP on with thresholds
 * numpy.linspace(.5, .95, 10), 2 threads. */
void eval_config_default(struct eval_config *cfg);

enum eval_outcome {
  EVAL_NONE = 0, /* pred: not scored (past the 100th of its image/class) */
  EVAL_TP,  /* pred: matched a same-class non-ignored GT; GT: matched by a
             * same-class prediction */
  EVAL_FP,  /* pred: unmatched, or matched a GT of another class */
  EVAL_FN,  /* GT: unmatched non-crowd, or matched by another class */
  EVAL_IGNORED, /* pred: matched a crowd (or an ignored GT), or unmatched
                 * with an area outside the range; GT: crowd (matched or
                 * not).  Counted nowhere, as in COCOeval. */
};

/* Summary numbers, in COCOeval's order and with its names. */
enum eval_stat {
  EVAL_AP, EVAL_AP50, EVAL_AP75, EVAL_APS, EVAL_APM, EVAL_APL,
  EVAL_AR1, EVAL_AR10, EVAL_AR100, EVAL_ARS, EVAL_ARM, EVAL_ARL,
  EVAL_N_STATS
};
extern const char *const eval_stat_names[EVAL_N_STATS];

/* Outcome of one box at cfg->iou.  For a crowd GT matched several times,
 * `other` is its first (highest-ranked) match. */
struct eval_match {
  int64_t other; /* index into the other box array, -1 if unmatched */
  double iou;    /* IoU of that match, NaN if unmatched */
  int outcome;   /* enum eval_outcome */
};

struct eval_image_stats {
  int64_t tp, fp, fn; /* per-box outcomes of this image's boxes */
};

struct eval_class_stats {
  /* At cfg->iou: predictions with this label marked tp / fp, and GT with
   * this label marked fn. */
  int64_t tp, fp, fn;
  /* tp + fn: the class's non-ignored GT boxes (crowds are not counted). */
  int64_t support;
  /* Non-crowd GT boxes of this class in the "all" range: the recall
   * denominator (equal to support when classwise). */
  int64_t num_gt;
  double precision; /* tp / (tp + fp); 0 when there are no predictions */
  double recall;    /* tp / support; 0 when support is 0 */
  /* Mean interpolated precision over the sweep thresholds and the 101
   * recall points (area all, 100 detections); ap50 / ap75 at those
   * thresholds alone.  -1 when num_gt is 0, compute_map is off, or (for
   * ap50 / ap75) the threshold is not in the sweep. */
  double ap, ap50, ap75;
};

/* Owned by the caller; release the arrays with eval_result_free(). */
struct eval_result {
  size_t n_preds, n_gts, n_images;
  int32_t n_classes;
  int n_iou_threshs;                /* 0 when compute_map is off */
  double iou_threshs[EVAL_MAX_THRESHS];
  struct eval_match *preds;         /* [n_preds], input order; pred->gt */
  struct eval_match *gts;           /* [n_gts], input order; gt->pred */
  struct eval_image_stats *images;  /* [n_images] */
  struct eval_class_stats *classes; /* [n_classes] */
  /* [n_iou_threshs][n_classes][EVAL_RECALL_POINTS] interpolated precision
   * at area all and 100 detections, -1 rows for classes without non-crowd
   * GT; NULL when mAP is off. */
  double *precision;
  /* COCOeval's summary (enum eval_stat); -1 where undefined or off. */
  double stats[EVAL_N_STATS];
  double map; /* = stats[EVAL_AP] */
  int64_t tp, fp, fn; /* totals over all images */
};

/* Evaluates `in` with `cfg` (NULL = eval_config_default()).  On success
 * fills *ret (previous contents are overwritten, not freed) and returns 0.
 * Errors: -EINVAL (NULL arguments, bad start arrays, label out of range,
 * non-finite box coordinate, infinite confidence, NaN confidence with
 * compute_map, negative or NaN-free non-finite GT area, bad config),
 * -ENOMEM.  Memory is O(n_preds + n_gts + n_classes * n_threshs * 1212)
 * plus O(largest image) per thread; there is no allocation per box.  Time
 * is O(sum over (image, class group) of P x G x areas x thresholds) for
 * the matching plus one sort of each class's predictions. */
int eval_run(const struct eval_input *in, const struct eval_config *cfg,
             struct eval_result *ret);

/* Frees the arrays of *r and zeroes it; accepts a zeroed struct or NULL. */
void eval_result_free(struct eval_result *r);

/* Detection mistakenness (docs/ALGORITHMS.md §4), from the matching above at
 * IoU 0.5 with classwise = false.  Crowds are never possibly spurious (an
 * unmatched crowd is not a miss).  Owned by the caller; release
 * with eval_mistakes_free(). */
struct eval_mistakes {
  size_t n_preds, n_gts, n_images;
  /* [n_gts] class term (s * conf + 1) / 2 of the GT's matched prediction,
   * s = +1 if labels differ, -1 if equal; NaN for unmatched GT. */
  double *gt_mistakenness;
  /* [n_gts] localisation term (conf * (2i - 1) + 1) / 2 with
   * i = (1 - IoU) / (1 - 0.5); NaN for unmatched GT. */
  double *gt_mistakenness_loc;
  bool *gt_possible_spurious;  /* [n_gts] unmatched GT (no threshold) */
  bool *pred_possible_missing; /* [n_preds] unmatched and conf > 0.95 */
  /* [n_images] max class term over the image's matched GT, -1 if none. */
  double *image_mistakenness;
  int64_t *image_missing;  /* [n_images] count of possible_missing */
  int64_t *image_spurious; /* [n_images] count of possible_spurious */
};

/* Computes mistakenness for `in` using `n_threads` (>= 1) workers.  Every
 * prediction needs a confidence (NaN -> -EINVAL).  Returns 0 and fills
 * *ret, or a negative errno as eval_run() and leaves *ret untouched. */
int eval_mistakenness(const struct eval_input *in, int n_threads,
                      struct eval_mistakes *ret);

/* Frees the arrays of *m and zeroes it; accepts a zeroed struct or NULL. */
void eval_mistakes_free(struct eval_mistakes *m);

#endif
