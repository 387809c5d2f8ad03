/* eval_i.h - the private side of evaluate.h, shared by the five files of
 * the evaluation (core/compute/eval*.c); nothing outside them includes it.
 *
 *   evaluate.c      entry point eval_run(): validation, result and worker
 *                   set-up, per-class totals
 *   eval_match.c    phase 1: COCOeval's matching, image by image
 *   eval_sweep.c    phase 2: PR curves per class, AP/AR and the summary,
 *                   with numpy's summation order
 *   eval_mistakes.c eval_mistakenness() on top of eval_run()
 *   eval_work.c     scratch memory and the worker pool, below all of them
 *
 * How it works.  Phase 1 walks the images; worker threads pull chunks of
 * images from an atomic counter and write only to the slots of their own
 * boxes and images, so no locks are needed.  Inside an image, predictions
 * are ordered once by (class group, confidence descending, class, input
 * index) and GT by (group, class, input index); in each (image, group) the
 * first EVAL_MAX_DETS predictions are scored.  Their IoU matrix with the
 * group's GT is computed once and reused by every pass: the per-box pass at
 * cfg->iou and, for each of the four area ranges (each with its own GT
 * order, ignored GT last), one greedy pass per sweep threshold.  A scored
 * prediction keeps its rank in the group and, per area range, two
 * threshold bitmasks (tp, ignored).  Phase 2 gives each class to one
 * worker: its predictions are sorted by (confidence descending, image,
 * rank), which is exactly the order of COCOeval's stable sort of the
 * concatenated per-image lists, and every (area, maxDets, threshold) curve
 * is one walk over that list.
 *
 * Ownership: struct run lives on eval_run()'s stack and owns nothing but
 * what eval_run() frees; each struct worker owns its scratch arrays
 * (eval_worker_done()).  Locking: none.  While workers run, a worker
 * writes only its own struct worker and the run's slots of the boxes,
 * images (phase 1) or class (phase 2) it pulled from run->next.
 */
#ifndef CURATE_EVAL_I_H
#define CURATE_EVAL_I_H

#include "evaluate.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

/* Images per work unit: large enough to make the atomic counter cheap,
 * small enough to balance images of very different sizes. */
#define IMAGE_CHUNK 64
#define MAX_THREADS 64
/* Insertion sort below this size: most (image, group) lists are tiny. */
#define SMALL_SORT 16
/* rank of a prediction that is not scored (past EVAL_MAX_DETS). */
#define RANK_NONE UINT8_MAX
/* numpy reduces contiguous doubles in buffers of this many elements. */
#define NP_BUFSIZE 8192

_Static_assert(EVAL_MAX_DETS < RANK_NONE, "rank must fit in a byte");
_Static_assert(EVAL_MAX_THRESHS <= 16, "threshold bits are 16-bit masks");


/* COCOeval's area ranges: all, small, medium, large (1e5 ** 2 = 1e10). */
static const double EVAL_AREA_LO[EVAL_N_AREAS] = { 0, 0, 32 * 32, 96 * 96 };
static const double EVAL_AREA_HI[EVAL_N_AREAS] = { 1e10, 32 * 32, 96 * 96,
                                                   1e10 };

static inline bool out_of_range(double area, int a)
{
  return area < EVAL_AREA_LO[a] || area > EVAL_AREA_HI[a];
}

/* The GT's COCO `area`, or w * h when it has none. */
static inline double gt_area(const struct eval_gt *g)
{
  return isnan(g->area) ? g->box.w * g->box.h : g->area;
}

/* Sort keys of one image. */
struct pkey {
  double key;    /* match_key(confidence) */
  size_t idx;    /* global prediction index; makes the order total */
  int32_t group; /* label if classwise, else 0 */
  int32_t cls;   /* label: COCOeval without classes concatenates by class */
};

struct gkey {
  size_t idx;
  int32_t group;
  int32_t cls;
};

/* GT of the current (image, group), copied for locality. */
struct gt_local {
  struct eval_box box;
  double barea; /* box w * h, for the IoU */
  double area;  /* COCO area, for the ranges */
  size_t idx;
  int32_t label;
  bool crowd;
};

/* Sweep outcome of one scored prediction, per area range: bit t set when
 * it is a tp / ignored at threshold t. */
struct sweep {
  uint16_t tp[EVAL_N_AREAS];
  uint16_t ig[EVAL_N_AREAS];
};

/* Phase 2: one scored prediction of a class. */
struct pr_entry {
  double conf;
  size_t image;
  uint8_t rank; /* position in its (image, class) list, < EVAL_MAX_DETS */
  struct sweep sw;
};

/* The state of one eval_run(), shared by its workers (see the top of this
 * file for who writes what). */
struct run {
  const struct eval_input *in;
  const struct eval_config *cfg;
  int n_thr;                /* sweep thresholds, 0 when mAP is off */
  int n_areas;              /* 4 with the sweep, else 1 ("all") */
  struct eval_match *pm, *gm;
  struct eval_image_stats *img;
  uint8_t *rank;            /* per prediction, RANK_NONE if not scored */
  struct sweep *sw;         /* per prediction, NULL when mAP is off */
  atomic_size_t next;       /* next image chunk (phase 1) or class slot */
  atomic_int failed;        /* set by a worker on error: others stop */
  /* phase 2, read only while workers run (except each class's own
   * slots) */
  const int64_t *npig;      /* [EVAL_N_AREAS][n_classes] non-ignored GT */
  struct pr_entry *ent;     /* grouped by class; each worker sorts its own */
  const size_t *ent_off;    /* [n_classes + 1] */
  const int32_t *order;     /* classes, largest first */
  double *prec;             /* [T][K][A][M][R], -1 = undefined */
  double *rec;              /* [T][K][A][M], -1 = undefined */
};

/* One worker: its thread and its scratch arrays, grown as needed and
 * reused from group to group; freed by evaluate.c after the run. */
struct worker {
  struct run *run;
  pthread_t tid;
  bool started;
  int err;
  struct pkey *pk;
  size_t pk_cap;
  struct gkey *gk;
  size_t gk_cap;
  struct gt_local *gl;
  size_t gl_cap;
  double *iou;       /* scored predictions x GT of the group */
  size_t iou_cap;
  uint32_t *perm;    /* GT order of the current area range */
  uint8_t *igs;      /* [EVAL_N_AREAS][GT]: ignored in that range */
  uint8_t *gtm;      /* per GT: matched in the current pass */
  int32_t *first;    /* per GT: first matching prediction (per-box pass) */
  size_t g_cap;
  int32_t *dtm;      /* per-box pass: matched local GT or -1 */
  /* Sweep passes, [area][threshold][rank]: areas whose GT ignore flags
   * equal an earlier area's reuse its matching (same flags, same result). */
  int32_t sdtm[EVAL_N_AREAS][EVAL_MAX_THRESHS][EVAL_MAX_DETS];
  double *parea;     /* per scored prediction: w * h */
  size_t d_cap;
  int64_t *cls_cnt;  /* [3 * n_classes]: tp, fp, fn per class */
  double *pre, *rc;
  size_t pre_cap;
};

/* Scratch memory (eval_work.c).  eval_grow() returns p, moved if needed,
 * with room for `need` elements of `elem` bytes; on failure it returns p
 * unchanged and sets *r = -ENOMEM.  eval_zalloc() is calloc that never
 * returns NULL for a zero count, so that NULL always means out of memory. */
void *eval_grow(void *p, size_t *cap, size_t need, size_t elem, int *r);
void *eval_zalloc(size_t n, size_t elem);

/* Runs fn on n workers, the calling thread being worker 0, and returns the
 * first worker error (eval_work.c).  Work is pulled from run->next. */
int eval_run_workers(struct worker *ws, int n, void *(*fn)(void *));

/* Phase 1 body of a worker (eval_match.c): matches image chunks pulled
 * from run->next until none are left or a worker failed. */
void *eval_match_worker(void *arg);

/* Phase 2 and the summary (eval_sweep.c): from the phase-1 ranks and sweep
 * bits, fills res->precision, res->stats, res->map and the classes' AP.
 * Uses the nt workers ws; 0 or -ENOMEM. */
int eval_sweep_ap(struct run *run, struct worker *ws, int nt,
                  struct eval_result *res);

#endif
