/* evalrun.h - named evaluations of a prediction field against a
 * ground-truth field, kept in the store, and what the mount shows of them.
 *
 * What it does: evalrun_run() reads both label fields of every present
 * sample of the ground truth (one image per sample, in sample-id order:
 * COCOeval's image order on our COCO export), runs eval_run() of
 * core/compute/evaluate.h
 * (pycocotools' COCOeval rules: tp/fp/fn at the run's IoU, AP/AR and the
 * 12-number summary over IoU linspace(.5, .95, 10)) and
 * eval_mistakenness() (docs/ALGORITHMS.md §4), and
 * stores, in one transaction: the summary with the COCO numbers,
 * per-class metrics (AP, AP50, AP75) and PR curves, a per-sample record
 * (tp/fp/fn counts, mistakenness, per-box outcome and matched label ids),
 * and three ranked sample lists.  The renderers below turn a stored
 * evaluation into report.txt, metrics.json, pr-curves.jpg, ranked lists
 * for views/mistakes, views/possible-missing and views/possible-spurious,
 * and a sample's JPEG with the boxes of interest drawn.
 *
 * The ground truth's samples: when the ground-truth field came from a
 * COCO file (a sample holds a COCO image id in it, or an image of the
 * file is not on disk), the samples that file listed and those with boxes
 * in the field; else every present sample.  Predictions on the others
 * are left out, as pycocotools refuses results on image ids its ground
 * truth lacks, and counted in the summary (report.txt, metrics.json).
 *
 * What it does not do: it never re-runs by itself.  A stored evaluation
 * describes the labels at the time it ran; evalrun_fresh() says whether
 * labels changed since (the daemon then calls evalrun_refresh()).
 *
 * Files: evalrun.c (running, reading back), evalrun_load.c and
 * evalrun_write.c (a run's input and records), evalrun_report.c (the
 * eval/<name>/ renderers), evalrun_draw.c (evalrun_sample_jpeg),
 * evalrun_rec.[ch] (the private record layouts and their helpers).
 *
 * Store layout (records API; formats private to the evalrun*.c files, see
 * evalrun_rec.h and docs/STORE-FORMAT.md): namespace "eval" key <name> = summary;
 * "eval.s" key <name> NUL be64(sample id) = per-sample record (only samples
 * with boxes in either field); "eval.r" key <name> NUL <list byte> = ranked
 * list.  Deleting or re-running an evaluation replaces all three.
 *
 * Classes: class ids of the store (labels.h class_id); names come from the
 * store's class table.  Box coordinates are pixels (labels.h).
 *
 * Errors: negative errno.  -ENOENT: no evaluation of that name (or sample
 * not evaluated); -EINVAL: bad name or options, or a prediction without a
 * confidence (reason in err); -ESTALE: evalrun_sample_jpeg() on a sample
 * whose labels changed since the run.
 *
 * Ownership and locking: like the store, a transaction belongs to one
 * thread; the functions taking a store_txn read (and evalrun_run,
 * evalrun_refresh, evalrun_delete write) only through their own or the
 * caller's transaction.  evalrun_run() opens its own write transaction:
 * call it (and the refreshes) with no transaction open in the thread.
 * Returned buffers (*ret_data, out) belong to the caller.  The one
 * process-wide state, the last refresh check of evalrun_refresh_recent(),
 * is guarded by a mutex of its own.
 */
#ifndef CURATE_EVALRUN_H
#define CURATE_EVALRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

#define EVALRUN_MAX_NAME 64
/* Predictions below this confidence are not drawn in views/mistakes
 * images: low-confidence false positives would bury the real mistakes. */
#define EVALRUN_DRAW_MIN_CONF 0.3

struct evalrun_opts {
  const char *gt_field;   /* NULL = "ground_truth" */
  const char *pred_field; /* NULL = "predictions" */
  double iou;             /* per-box matching threshold; 0 = 0.5 */
  int n_threads;          /* 0 = 2 */
};

/* Summary of a stored evaluation (all fields owned, no pointers). */
struct evalrun_info {
  char name[EVALRUN_MAX_NAME + 1];
  char gt_field[LABELS_MAX_FIELD_NAME + 1];
  char pred_field[LABELS_MAX_FIELD_NAME + 1];
  double iou;
  uint64_t store_version;  /* dataset version right after the run */
  uint64_t labels_fp;      /* fingerprint of the samples' label versions
                            * and the ground truth's COCO image ids */
  int64_t created_ns;
  double seconds;          /* wall time of the run */
  uint64_t n_samples;      /* present samples evaluated */
  uint64_t n_gt, n_pred;   /* boxes */
  int64_t tp, fp, fn;      /* at `iou` */
  double precision, recall;/* micro: tp/(tp+fp), tp/(tp+fn); 0 if empty */
  double map;              /* -1 when no class has ground truth */
  uint32_t n_classes;      /* classes with boxes in either field */
  uint64_t n_mistakes, n_missing, n_spurious; /* ranked list lengths */
};

/* Evaluation names: 1..64 bytes of [A-Za-z0-9_.-], not "." or "..". */
bool evalrun_name_valid(const char *name);

/* Runs (or re-runs, replacing) evaluation `name`.  One write transaction.
 * On failure nothing changes; err (errlen > 0) gets a one-line reason.
 * *ret may be NULL. */
int evalrun_run(struct store *s, const char *name,
                const struct evalrun_opts *o, struct evalrun_info *ret,
                char *err, size_t errlen);
/* Re-runs `name` with its stored options if evalrun_fresh() says it is
 * stale.  Returns 1 if it re-ran, 0 if it was fresh. */
int evalrun_refresh(struct store *s, const char *name, char *err,
                    size_t errlen);
/* evalrun_refresh(), unless a refresh check of `name` began less than
 * max_age_s seconds ago in this process (then 0: that one stands).  For
 * lookups of the names an evaluation's lists show: while labels are being
 * written, a check per name would re-run the whole evaluation for each
 * name (`ls -l views/mistakes` quadratic in the dataset).  max_age_s 0 is
 * evalrun_refresh().  Thread-safe. */
int evalrun_refresh_recent(struct store *s, const char *name,
                           double max_age_s, char *err, size_t errlen);
/* How long names looked up in an evaluation's lists may follow a run that
 * began before the latest label change. */
#define EVALRUN_LOOKUP_AGE 1.0
/* Deletes an evaluation and all its records. */
int evalrun_delete(struct store *s, const char *name);

int evalrun_get(struct store_txn *t, const char *name,
                struct evalrun_info *ret);
/* Calls fn for each stored evaluation in name order; stops when fn returns
 * non-zero and returns that value.  `name` is borrowed for the call. */
int evalrun_each(struct store_txn *t,
                 int (*fn)(const char *name, void *ud), void *ud);
/* 1 if the labels of the evaluated samples are unchanged since the run
 * (equal dataset version, or else equal label fingerprint: an O(samples)
 * walk over the samples' label versions, the ground truth of COCO images
 * not on disk and the ground-truth field's COCO image ids, which break
 * score ties), 0 if stale.  A summary of an earlier record version (computed
 * with earlier rules) is always stale. */
int evalrun_fresh(struct store_txn *t, const char *name);

/* ---- renderers for eval/<name>/ ---- */

/* The COCO summary, per-class precision, recall, AP, AP50, AP75, support
 * and counts, plus totals. */
int evalrun_report_txt(struct store_txn *t, const char *name,
                       struct buf *out);
/* The same as JSON: summary under pycocotools' names (AP, AP50, ...,
 * ARl), per-class ap/ap50/ap75; null where undefined. */
int evalrun_metrics_json(struct store_txn *t, const char *name,
                         struct buf *out);
/* pr-curves.jpg (plot_pr_jpeg()): the dataset-wide precision-recall
 * curves at IoU 0.50, 0.75 and their mean over the sweep 0.50:0.95 (each
 * the mean of the classes' curves, labelled with its 101-point AP), and
 * every class with ground truth as a bar of its AP, worst first, the
 * worst five also listed under the curves.  w, h are ignored (the size is
 * plot_pr_width() x plot_pr_height(classes with ground truth)).
 * *ret_data malloc'd, owned by the caller. */
int evalrun_pr_curves_jpeg(struct store_txn *t, const char *name, int w,
                           int h, uint8_t **ret_data, size_t *ret_len);

/* ---- ranked sample lists for views/ ---- */

enum evalrun_list {
  /* samples with a matched ground-truth box, by sample mistakenness
   * (max class term over its matched GT) descending */
  EVALRUN_MISTAKES,
  /* samples with unmatched predictions of confidence > 0.95, by their
   * count descending (then highest such confidence) */
  EVALRUN_MISSING,
  /* samples with unmatched ground truth, by their count descending */
  EVALRUN_SPURIOUS,
};

struct evalrun_entry {
  uint64_t sample_id;
  double score; /* mistakenness, or the count for the other two lists */
};

/* Copies up to `max` entries from rank `offset` on into out; *ret_n gets
 * the number copied and *ret_total (may be NULL) the list length.  Ties
 * are broken by sample id, so ranks are stable. */
int evalrun_ranked(struct store_txn *t, const char *name,
                   enum evalrun_list which, size_t offset, size_t max,
                   struct evalrun_entry *out, size_t *ret_n,
                   size_t *ret_total);

/* Per-sample results (zeros and mistakenness -1 for samples without
 * boxes: they have no record and this returns 0 for them). */
struct evalrun_sample {
  uint64_t labels_version; /* of the sample at the run */
  int64_t tp, fp, fn;
  double mistakenness;     /* -1 when no GT was matched */
  uint32_t n_missing, n_spurious;
  uint32_t n_gt, n_pred;
};
int evalrun_sample(struct store_txn *t, const char *name, uint64_t sample_id,
                   struct evalrun_sample *ret);

/* Box outcome of one label id at the run (for tests and tools). */
struct evalrun_box {
  bool is_gt;
  int outcome;            /* enum eval_outcome (evaluate.h) */
  uint64_t match_label_id;/* 0 if unmatched */
  double iou;             /* NaN if unmatched */
  bool possible_missing;  /* predictions only */
  bool possible_spurious; /* GT only */
  double mistakenness, mistakenness_loc; /* GT only; NaN if unmatched */
};
int evalrun_box(struct store_txn *t, const char *name, uint64_t sample_id,
                uint64_t label_id, struct evalrun_box *ret);

/* The sample's JPEG (`jpeg`, the original bytes, read by the caller) with
 * the boxes of one view drawn, ground truth in green ("GT: class") and
 * predictions in magenta ("class 0.87"):
 *   EVALRUN_MISTAKES: GT marked fn and predictions marked fp (confidence
 *     >= EVALRUN_DRAW_MIN_CONF) at the run's IoU;
 *   EVALRUN_MISSING: the possible-missing predictions, with all GT;
 *   EVALRUN_SPURIOUS: the possible-spurious GT, with all predictions of
 *     confidence >= EVALRUN_DRAW_MIN_CONF.
 * Turned by the sample's recorded EXIF orientation, as a viewer shows
 * the original (draw_boxes_jpeg()): the original's size, width and height
 * swapped for orientations 5..8.  -ESTALE if the sample's labels changed
 * since the run. */
int evalrun_sample_jpeg(struct store_txn *t, const char *name,
                        uint64_t sample_id, enum evalrun_list view,
                        const void *jpeg, size_t len, uint8_t **ret_data,
                        size_t *ret_len);

#endif
