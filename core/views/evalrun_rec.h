/* evalrun_rec.h - private to the evalrun*.c files: the layout of the
 * stored records of an evaluation and the helpers that read and write
 * them.  Nothing outside core/views/evalrun*.c includes it; the public
 * interface is evalrun.h.
 *
 * The files:
 *   evalrun.c         running (options, evaluate, commit), reading back
 *                     (summaries, freshness, ranked lists, samples, boxes)
 *                     and the record helpers below
 *   evalrun_load.c    loading both label fields of every present sample
 *                     into the arrays of core/compute/evaluate.h, in
 *                     COCOeval's order
 *   evalrun_write.c   writing the per-sample, ranked-list and summary
 *                     records of one run
 *   evalrun_report.c  report.txt, metrics.json and pr-curves.jpg
 *   evalrun_draw.c    a sample's JPEG with the boxes of one view drawn
 *
 * Records ("eval" namespaces of the store's records API):
 *
 *   "eval"   <name>                 struct sum_rec, then n_classes x
 *                                   struct cls_rec, then the PR curves as
 *                                   float [n_thr][n_classes][101], then
 *                                   (version 2) struct coco_rec and
 *                                   n_classes x double[2] (AP50, AP75),
 *                                   then (version 3) struct out_rec
 *   "eval.s" <name> NUL be64(id)    struct samp_rec, then n_gt x
 *                                   struct gbox_rec, then n_pred x
 *                                   struct pbox_rec (label order of the
 *                                   fields at the run)
 *   "eval.r" <name> NUL <list>      n x struct rank_rec, best first
 *
 * Records are fixed-layout native structs with a version number first;
 * LMDB values are only 2-byte aligned, so every read memcpy's into an
 * aligned struct.  Records are rebuilt whole by every run.
 *
 * Ownership: pointers into records (ret_val) are borrowed from the
 * transaction and valid until it ends.  Locking: none; a transaction
 * belongs to one thread.
 */
#ifndef CURATE_EVALRUN_REC_H
#define CURATE_EVALRUN_REC_H

#include <stdint.h>

#include "evalrun.h"
#include "evaluate.h"

#define NS_SUM "eval"
#define NS_SAMPLE "eval.s"
#define NS_RANK "eval.r"
/* Summary records: version 1 has no COCO trailer (read as "not
 * available"); version 2 adds it; version 3 adds struct out_rec after it
 * (version 2 counted predictions on samples outside the ground truth's
 * COCO file as false positives: stale, evalrun_fresh).  Sample and rank
 * records stay 1. */
#define REC_VERSION 1
#define SUM_VERSION 3
/* The first summary version with the COCO trailer. */
#define SUM_VERSION_COCO 2

struct sum_rec {
  uint32_t version;
  uint32_t n_classes;
  int32_t n_thr;
  int32_t pad;
  double iou;
  double thr[EVAL_MAX_THRESHS];
  uint64_t store_version, labels_fp;
  int64_t created_ns;
  double seconds;
  uint64_t n_samples, n_gt, n_pred;
  int64_t tp, fp, fn;
  double map;
  uint64_t n_mistakes, n_missing, n_spurious;
  char gt_field[LABELS_MAX_FIELD_NAME + 1];
  char pred_field[LABELS_MAX_FIELD_NAME + 1];
};

/* COCOeval's 12-number summary (enum eval_stat order), -1 = undefined. */
struct coco_rec {
  double stats[EVAL_N_STATS];
};

/* Version 3: the predictions left out because their samples are not
 * images of the ground truth's COCO file, and those samples. */
struct out_rec {
  uint64_t preds, images;
};

struct cls_rec {
  uint32_t class_id;
  uint32_t pad;
  int64_t tp, fp, fn, support, num_gt;
  double precision, recall, ap;
};

struct samp_rec {
  uint32_t version;
  uint32_t n_gt, n_pred;
  uint32_t n_missing, n_spurious;
  uint32_t pad;
  uint64_t labels_version;
  int64_t tp, fp, fn;
  double mistakenness;
};

struct gbox_rec {
  uint64_t label_id, match_label_id;
  float iou, mistakenness, mistakenness_loc;
  uint8_t outcome, spurious, pad[2];
};

struct pbox_rec {
  uint64_t label_id, match_label_id;
  float iou;
  uint8_t outcome, missing, pad[2];
};

struct rank_rec {
  uint64_t sample_id;
  double score;
  double tie; /* secondary key (higher first), not exposed */
};

/* Both fields of every present sample, as the CSR arrays of
 * core/compute/evaluate.h. */
struct evalrun_loaded {
  struct eval_gt *gts;
  struct eval_pred *preds;
  uint64_t *gt_lid, *pred_lid; /* label ids parallel to gts / preds */
  size_t n_gts, n_preds, cap_g, cap_p;
  size_t *gs, *ps;             /* [n_images + 1] */
  uint64_t *sid, *sver;        /* [n_images] sample id, labels version */
  size_t n_images, cap_i, cap_s;
  uint64_t fp;                 /* fingerprint over all present samples */
  uint64_t n_present;          /* present samples evaluated */
  /* The ground-truth field came from a COCO file: only its images are
   * evaluated (evalrun_load.c, in_gt_set); the predictions of the other
   * samples are left out and counted here. */
  bool gt_listed;
  uint64_t out_preds, out_images;
  /* After run_evaluate() (evalrun.c): the boxes' labels are dense class
   * indexes 1..k in class-id order, cls[i] the class id of index i. */
  uint32_t *cls;
};

/* Key "<name>\0<suffix>" into out (EVALRUN_MAX_NAME + 2 + slen bytes);
 * returns its length. */
size_t evalrun_rec_key(uint8_t *out, const char *name, const void *suffix,
                       size_t slen);
/* The fingerprint of the samples' label versions, one sample at a time
 * in id order, from 0. */
uint64_t evalrun_rec_fp_step(uint64_t h, uint64_t id, uint64_t ver);
/* Steps *fp, after the samples, over the ground truth kept for COCO
 * images not on disk (coco.h COCO_NS_MISSING) and over the COCO image ids
 * of gt_field's samples (coco_image_id_each): evaluation breaks score ties
 * by those ids, and an import that changes only ids writes no labels (the
 * samples' label versions stay). */
int evalrun_rec_coco_fp(struct store_txn *t, const char *gt_field,
                        uint64_t *fp);
/* Reads and checks the summary record; *ret_val (may be NULL) points to
 * the whole record.  -ENOENT for none, -EIO for a malformed one. */
int evalrun_rec_sum(struct store_txn *t, const char *name, struct sum_rec *sr,
                    const uint8_t **ret_val, size_t *ret_len);
/* Reads and checks a sample record; *ret_val points to the whole record. */
int evalrun_rec_sample(struct store_txn *t, const char *name, uint64_t sid,
                       struct samp_rec *sr, const uint8_t **ret_val);
/* The public summary of a summary record. */
void evalrun_rec_info(const struct sum_rec *sr, const char *name,
                      struct evalrun_info *ret);
/* Deletes every record of an evaluation. */
int evalrun_rec_delete_all(struct store_txn *t, const char *name);

/* evalrun_load.c: reads fields gtf and pf of every present sample (err
 * gets the reason of -EINVAL: a prediction without a confidence) and
 * orders the images as COCOeval would (by COCO image id). */
int evalrun_load(struct store_txn *t, const char *gtf, const char *pf,
                 struct evalrun_loaded *l, char *err, size_t errlen);
void evalrun_loaded_free(struct evalrun_loaded *l);

/* evalrun_write.c: replaces the records of evaluation `name` with those
 * of one run (o with its defaults filled in; t0 its start, time_mono()). */
int evalrun_write(struct store_txn *t, const char *name,
                  const struct evalrun_opts *o,
                  const struct evalrun_loaded *l,
                  const struct eval_result *ev,
                  const struct eval_mistakes *mk, double t0);

#endif
