/* evaluate.h - COCO-style detection evaluation and detection mistakenness.
 *
 * What it does: matches predicted boxes to ground-truth (GT) boxes image by
 * image and reports per-box outcomes (tp/fp/fn), per-image and per-class
 * counts, 101-point interpolated AP per class and mAP over an IoU sweep,
 * following FiftyOne's evaluate_detections(method="coco")
 * (docs: algorithms.md §5).  eval_mistakenness() derives FiftyOne Brain's
 * detection mistakenness, possible-missing and possible-spurious values from
 * the same matching (algorithms.md §4).
 *
 * What it does not do: no I/O, no class names (class ids only), no masks,
 * polylines or keypoints, no COCO area ranges or maxDets-per-image (the
 * reference has neither; its max_preds is per image *and* class group), no
 * video frames (flatten frames into images first).  Logits-based
 * mistakenness is not supported: predictions carry a confidence only.
 *
 * Box convention (same as core/iou.h is meant to use): PIXEL space, struct
 * eval_box = top-left corner (x, y) plus size (w, h), continuous
 * coordinates: no "+1" inclusive edges, no rounding.  IoU = inter / union,
 * with union = predicted area when the GT is a crowd, and IoU = 0 when the
 * boxes do not overlap.  IoU is scale-invariant, so results equal those on
 * relative [0,1] boxes up to float rounding (algorithms.md §3).
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
/* Recall points of the interpolated PR curve: 0, 0.01, ..., 1. */
#define EVAL_RECALL_POINTS 101
/* Mistakenness constants of the reference (algorithms.md §4). */
#define EVAL_MISTAKE_IOU 0.5
#define EVAL_MISSED_CONFIDENCE 0.95

struct eval_box {
  double x, y, w, h; /* pixels; top-left corner and size */
};

struct eval_gt {
  struct eval_box box;
  int32_t label; /* class id in [0, n_classes) */
  bool iscrowd;  /* crowd region: may absorb many predictions (see below) */
};

struct eval_pred {
  struct eval_box box;
  int32_t label;     /* class id in [0, n_classes) */
  /* NaN = missing.  Like the reference, a missing or zero confidence sorts
   * as -1 when ordering predictions for matching.  AP needs every
   * confidence, so NaN is rejected (-EINVAL) when cfg->compute_map is set
   * and by eval_mistakenness(). */
  double confidence;
};

/* Boxes grouped by image in CSR form: image i owns
 * gts[gt_start[i] .. gt_start[i+1]) and preds[pred_start[i] ..
 * pred_start[i+1]).  Both start arrays have n_images + 1 entries, begin at
 * 0, never decrease and end at n_gts / n_preds (they may be NULL only when
 * n_images is 0).  Everything is borrowed for the duration of the call. */
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
  /* Per-box matching threshold in [0, 1] (reference default 0.50; like the
   * reference it is capped at 1 - 1e-10 so that IoU 1 still matches). */
  double iou;
  /* true: only same-class boxes are matched.  false: one group per image;
   * a prediction may then match a GT of another class (pred fp, GT fn), but
   * crowds only absorb same-class predictions. */
  bool classwise;
  /* Run the IoU sweep that gives AP, mAP and PR curves. */
  bool compute_map;
  /* Sweep thresholds in [0, 1], used as given (not capped). */
  int n_iou_threshs;
  double iou_threshs[EVAL_MAX_THRESHS];
  /* Sweep only: keep the first max_preds predictions of each (image, class
   * group) in matching order; 0 = no limit.  Reference default 100. */
  size_t max_preds;
  /* Worker threads, >= 1.  Results do not depend on it. */
  int n_threads;
};

/* Reference defaults: iou 0.5, classwise, mAP on with thresholds
 * 0.50:0.05:0.95 (computed as k/100 like the reference), max_preds 100,
 * 2 threads. */
void eval_config_default(struct eval_config *cfg);

enum eval_outcome {
  EVAL_NONE = 0,
  EVAL_TP,  /* pred: matched a same-class GT (crowds included); GT: first
             * matched by a same-class prediction */
  EVAL_FP,  /* pred: unmatched, or matched a GT of another class */
  EVAL_FN,  /* GT: unmatched, or first matched by another class */
};

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
  /* tp + fn: GT-side events, as in the reference's report (a crowd matched
   * by k predictions counts k times).  Not the number of GT boxes. */
  int64_t support;
  /* Non-crowd GT boxes of this class: the AP recall denominator. */
  int64_t num_gt;
  double precision; /* tp / (tp + fp); 0 when there are no predictions */
  double recall;    /* tp / support; 0 when support is 0 */
  /* Mean interpolated precision over the sweep thresholds and the 101
   * recall points; -1 when num_gt is 0 or compute_map is off. */
  double ap;
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
  /* [n_iou_threshs][n_classes][EVAL_RECALL_POINTS] interpolated precision,
   * -1 rows for classes without non-crowd GT; NULL when mAP is off. */
  double *precision;
  double map; /* mean AP over classes with AP > -1; -1 if none or off */
  int64_t tp, fp, fn; /* totals over all images */
};

/* Evaluates `in` with `cfg` (NULL = eval_config_default()).  On success
 * fills *ret (previous contents are overwritten, not freed) and returns 0.
 * Errors: -EINVAL (NULL arguments, bad start arrays, label out of range,
 * non-finite box coordinate, infinite confidence, NaN confidence with
 * compute_map, bad config), -ENOMEM.  Memory is O(n_preds + n_gts +
 * n_classes * n_threads) plus O(largest image) per thread; there is no
 * allocation per box.  Time is O(sum over (image, class group) of P x G)
 * for the matching plus one sort of the predictions; measured: 1,000,000
 * predictions against 500,000 GT (100,000 images, 80 classes, mAP on) take
 * about 0.35 s on 2 threads of a 2-core VM. */
int eval_run(const struct eval_input *in, const struct eval_config *cfg,
             struct eval_result *ret);

/* Frees the arrays of *r and zeroes it; accepts a zeroed struct or NULL. */
void eval_result_free(struct eval_result *r);

/* Detection mistakenness (algorithms.md §4), from a matching at IoU 0.5
 * with classwise = false and crowd handling.  Owned by the caller; release
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
