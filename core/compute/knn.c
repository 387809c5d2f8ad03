/* knn.c - exact k-NN and radius search by tiled sgemm.
 *
 * The similarity of a tile of query rows against a tile of database rows
 * is one cblas_sgemm (Q · Bᵀ) into a per-worker buffer; distances are
 * 1 - similarity.  For k-NN each query row keeps a sorted top-k list across
 * all database tiles; for radius search each row collects the entries
 * within t.  Both scan a tile row in chunks of CHUNK columns with a
 * branch-free vector test ("could anything here qualify?") and only fall
 * back to scalar code for chunks that pass it, which for k-NN is rare once
 * the lists are full: selection then costs a fraction of the sgemm.
 *
 * Determinism: every query row meets the database rows in ascending index
 * order (tiles in order, columns in order), and a candidate enters a full
 * top-k list only if strictly closer than its last entry, so equal
 * distances keep the lower index.  Which worker handles a block changes
 * nothing: each tile is the same sgemm call whoever runs it.
 *
 * Not here: approximate indexes (HNSW), other metrics, reading or storing
 * vectors, and the symmetric half-matrix trick (each ordered pair is
 * computed once per direction; it would halve the sgemm work but force
 * workers to update each other's lists).
 */
#include "knn.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dynlib.h"
#include "util.h"

#define DEF_THREADS 2
#define MAX_THREADS 64
#define DEF_QBLOCK 512
#define DEF_DBLOCK 2048
#define MAX_TILE ((size_t)1 << 24)
/* Columns tested at once before scalar selection.  64 keeps the chance that
 * a random chunk holds a top-k candidate low while the test stays cheap. */
#define CHUNK 64

/* GCC/Clang generic vectors: lowered to SSE2 on x86-64 and NEON on arm64
 * without -ffast-math or target flags.  The comparisons below are exact
 * IEEE operations, so no fast-math is needed for vectorisation. */
typedef float v4sf __attribute__((vector_size(16)));
typedef int32_t v4si __attribute__((vector_size(16)));

/* ---- OpenBLAS, loaded by the first search (dynlib.h) ----------------- */

/* OpenBLAS is loaded by the first search, not with the program: its load
 * costs ~3 ms of relocations and starts its server threads, which every
 * command and the daemon would pay for nothing when they search no
 * neighbours (a header-only import runs in ~100 ms).  Without it a search
 * fails with -ELIBACC.  BLAS_SONAME is the soname of the OpenBLAS this
 * build links tests against (meson.build finds it; OpenBLAS keeps it
 * across its pthread, OpenMP and serial builds). */
#ifndef BLAS_SONAME
#error "BLAS_SONAME comes from meson.build (the soname this build links against)"
#endif

/* Each function called through ob: its name and its slot. */
#define OB_FUNCS(X, t) \
  X(t, cblas_sgemm, sgemm) \
  X(t, openblas_set_num_threads, set_num_threads)
DYNLIB_TABLE(ob, OB_FUNCS);

/* Makes the loaded OpenBLAS single-threaded.  Its pthread build starts
 * server threads when it is loaded, and each spins on sched_yield for
 * about 2^28 cycles (~0.1 s) before it sleeps: a short process on two
 * cores loses a large part of one to them.  With one BLAS thread they are
 * never used, so they are stopped; blas_thread_shutdown_ exists in that
 * build only (a serial OpenBLAS has no threads to stop). */
static int ob_loaded(struct dynlib *l)
{
  int (*shutdown)(void) =
      (int (*)(void))dynlib_sym(l, "blas_thread_shutdown_");

  ob.set_num_threads(1);
  if (shutdown)
    shutdown();
  return 0;
}
static struct dynlib ob_lib = DYNLIB_INIT_LOADED(BLAS_SONAME, ob_syms,
                                                 ob_loaded);

/* ---- options and checks ----------------------------------------------- */

struct tiling {
  unsigned nthreads;
  size_t qblock, dblock;
  const int *stop;    /* knn_opts.stop, borrowed */
};

static int tiling_get(const struct knn_opts *o, size_t n, struct tiling *t)
{
  unsigned nt = o && o->nthreads ? o->nthreads : DEF_THREADS;
  size_t qb = o && o->qblock ? o->qblock : DEF_QBLOCK;
  size_t db = o && o->dblock ? o->dblock : DEF_DBLOCK;

  if (nt > MAX_THREADS || qb > MAX_TILE || db > MAX_TILE ||
      qb * db > MAX_TILE)
    return -EINVAL;
  t->stop = NULL;
  if (n == 0) {
    t->nthreads = 1;
    t->qblock = t->dblock = 1;
    return 0;
  }
  /* Small inputs: no tile larger than the data, no idle threads. */
  if (qb > n)
    qb = n;
  if (db > n)
    db = n;
  if (nt > (n + qb - 1) / qb)
    nt = (unsigned)((n + qb - 1) / qb);
  t->nthreads = nt ? nt : 1;
  t->qblock = qb;
  t->dblock = db;
  t->stop = o ? o->stop : NULL;
  return 0;
}

static int check_dims(const float *x, size_t n, size_t d)
{
  if (n >= KNN_NONE || d == 0 || d > INT_MAX)
    return -EINVAL;
  if (n > 0 && (!x || n > SIZE_MAX / d))
    return -EINVAL;
  return 0;
}

/* ---- normalisation ---------------------------------------------------- */

int knn_center_normalize(float *x, size_t n, size_t d)
{
  double *mean;

  if (n == 0)
    return 0;
  if (d == 0 || !x || n > SIZE_MAX / d)
    return -EINVAL;
  mean = calloc(d, sizeof(*mean));
  if (!mean)
    return -ENOMEM;

  /* First pass only reads, so invalid input leaves x untouched. */
  for (size_t i = 0; i < n; i++) {
    const float *row = x + i * d;

    for (size_t c = 0; c < d; c++) {
      if (!isfinite(row[c])) {
        free(mean);
        return -EINVAL;
      }
      mean[c] += row[c];
    }
  }
  for (size_t c = 0; c < d; c++)
    mean[c] /= (double)n;

  for (size_t i = 0; i < n; i++) {
    float *row = x + i * d;
    double ss = 0, inv;

    for (size_t c = 0; c < d; c++) {
      double v = row[c] - mean[c];

      ss += v * v;
    }
    inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
    for (size_t c = 0; c < d; c++)
      row[c] = (float)((row[c] - mean[c]) * inv);
  }
  free(mean);
  return 0;
}

/* ---- the tiled driver ------------------------------------------------- */

enum job_kind { JOB_KNN, JOB_RADIUS };

/* Radius results of one query block: row-sorted, then (dist, idx)-sorted. */
struct piece {
  uint32_t *idx;
  float *dist;
  size_t len;
};

struct job {
  enum job_kind kind;
  const float *x;
  size_t n, d;
  /* Query rows: rows[0 .. nq) when rows is set (knn_exact_rows()), else
   * all n rows in order. */
  const size_t *rows;
  size_t nq;
  struct tiling tl;
  size_t nblocks;
  atomic_size_t next; /* next query block to take */
  atomic_int err;     /* first failure; workers stop when set */

  /* JOB_KNN */
  size_t k;
  uint32_t *out_idx;
  float *out_dist;

  /* JOB_RADIUS */
  double t;
  float t_hi;         /* smallest float >= t; INFINITY if t >= 2 */
  size_t max_pairs;
  atomic_size_t npairs;
  struct piece *pieces; /* one per query block */
  size_t *rowcnt;       /* entries per row */
};

struct trip {
  uint32_t row; /* within the query block */
  uint32_t j;
  float dist;
};

struct worker {
  struct job *job;
  float *tile;
  float *qbuf; /* gathered query rows (knn_exact_rows()) */
  /* JOB_KNN: running lists, qblock × k */
  float *topd;
  uint32_t *topi;
  /* JOB_RADIUS: entries of the current query block */
  struct trip *tr;
  size_t ntr, captr;
  pthread_t thread;
};

static void job_fail(struct job *job, int r)
{
  int zero = 0;

  atomic_compare_exchange_strong(&job->err, &zero, r);
}

static inline float sim_to_dist(float s)
{
  float v = 1.0f - s;

  /* Rounding can push 1 - s just outside [0, 2]; the true value is not. */
  if (v < 0)
    v = 0;
  if (v > 2)
    v = 2;
  return v;
}

/* True if any 1 - s[c] in the chunk is < lim.  Conservative for the clamped
 * distance: a clamped value < lim implies the unclamped one is, whenever
 * lim <= 2 or lim is INFINITY, which is all the callers use. */
static inline bool chunk_any_lt(const float *s, float lim)
{
  const v4sf one = { 1, 1, 1, 1 };
  const v4sf l = { lim, lim, lim, lim };
  v4si acc = { 0, 0, 0, 0 };

  for (int u = 0; u < CHUNK; u += 4) {
    v4sf v;

    memcpy(&v, s + u, sizeof(v)); /* unaligned-safe load */
    acc |= (one - v) < l;
  }
  return (acc[0] | acc[1] | acc[2] | acc[3]) != 0;
}

static inline bool chunk_any_le(const float *s, float lim)
{
  const v4sf one = { 1, 1, 1, 1 };
  const v4sf l = { lim, lim, lim, lim };
  v4si acc = { 0, 0, 0, 0 };

  for (int u = 0; u < CHUNK; u += 4) {
    v4sf v;

    memcpy(&v, s + u, sizeof(v));
    acc |= (one - v) <= l;
  }
  return (acc[0] | acc[1] | acc[2] | acc[3]) != 0;
}

/* Offer column j (global index gj) to a sorted list of k entries. */
static inline void topk_offer(float *td, uint32_t *ti, size_t k, float dist,
                              uint32_t gj)
{
  size_t p = k - 1;

  if (!(dist < td[p]))
    return;
  /* Strict > keeps an equal earlier (lower-index) entry in front. */
  while (p > 0 && td[p - 1] > dist) {
    td[p] = td[p - 1];
    ti[p] = ti[p - 1];
    p--;
  }
  td[p] = dist;
  ti[p] = gj;
}

static void knn_row(const float *s, size_t bn, size_t b0, size_t self,
                    float *td, uint32_t *ti, size_t k)
{
  size_t c = 0;

  for (; c + CHUNK <= bn; c += CHUNK) {
    if (!chunk_any_lt(s + c, td[k - 1]))
      continue;
    for (size_t j = c; j < c + CHUNK; j++)
      if (b0 + j != self)
        topk_offer(td, ti, k, sim_to_dist(s[j]), (uint32_t)(b0 + j));
  }
  for (size_t j = c; j < bn; j++)
    if (b0 + j != self)
      topk_offer(td, ti, k, sim_to_dist(s[j]), (uint32_t)(b0 + j));
}

static int trip_push(struct worker *w, uint32_t row, uint32_t j, float dist)
{
  if (w->ntr == w->captr) {
    size_t cap = w->captr ? 2 * w->captr : 4096;
    struct trip *p;

    if (cap > SIZE_MAX / sizeof(*p))
      return -ENOMEM;
    p = realloc(w->tr, cap * sizeof(*p));
    if (!p)
      return -ENOMEM;
    w->tr = p;
    w->captr = cap;
  }
  w->tr[w->ntr].row = row;
  w->tr[w->ntr].j = j;
  w->tr[w->ntr].dist = dist;
  w->ntr++;
  return 0;
}

static int radius_row(struct worker *w, const float *s, size_t bn,
                      size_t b0, size_t self, uint32_t row)
{
  const struct job *job = w->job;
  size_t c = 0;
  int r;

  for (; c < bn; c += CHUNK) {
    size_t end = c + CHUNK <= bn ? c + CHUNK : bn;

    if (end - c == CHUNK && !chunk_any_le(s + c, job->t_hi))
      continue;
    for (size_t j = c; j < end; j++) {
      float dist = sim_to_dist(s[j]);

      if (b0 + j == self || !((double)dist <= job->t))
        continue;
      r = trip_push(w, row, (uint32_t)(b0 + j), dist);
      if (r < 0)
        return r;
    }
  }
  return 0;
}

static int cmp_entry(const void *pa, const void *pb)
{
  const struct trip *a = pa, *b = pb;

  if (a->dist != b->dist)
    return a->dist < b->dist ? -1 : 1;
  return a->j < b->j ? -1 : a->j > b->j;
}

/* Turn the block's triples into a piece: counting sort by row (rows are
 * contiguous afterwards), then sort each row by (dist, idx). */
static int radius_finish_block(struct worker *w, size_t q0, size_t qn,
                               struct piece *pc)
{
  struct job *job = w->job;
  size_t *start = calloc(qn + 1, sizeof(*start));
  struct trip *sorted = NULL;
  int r = -ENOMEM;

  pc->len = w->ntr;
  pc->idx = malloc((w->ntr ? w->ntr : 1) * sizeof(*pc->idx));
  pc->dist = malloc((w->ntr ? w->ntr : 1) * sizeof(*pc->dist));
  sorted = malloc((w->ntr ? w->ntr : 1) * sizeof(*sorted));
  if (!start || !pc->idx || !pc->dist || !sorted)
    goto out;

  for (size_t e = 0; e < w->ntr; e++)
    start[w->tr[e].row + 1]++;
  for (size_t q = 0; q < qn; q++) {
    job->rowcnt[q0 + q] = start[q + 1];
    start[q + 1] += start[q];
  }
  for (size_t e = 0; e < w->ntr; e++)
    sorted[start[w->tr[e].row]++] = w->tr[e];
  /* start[q] now points at the end of row q. */
  for (size_t q = 0, b = 0; q < qn; q++) {
    size_t e = start[q];

    qsort(sorted + b, e - b, sizeof(*sorted), cmp_entry);
    b = e;
  }
  for (size_t e = 0; e < w->ntr; e++) {
    pc->idx[e] = sorted[e].j;
    pc->dist[e] = sorted[e].dist;
  }
  r = 0;
out:
  free(sorted);
  free(start);
  w->ntr = 0;
  return r;
}

static int run_block(struct worker *w, size_t blk)
{
  struct job *job = w->job;
  const size_t n = job->n, d = job->d, k = job->k;
  size_t q0 = blk * job->tl.qblock;
  size_t qn = job->tl.qblock;
  const float *qx = job->x + q0 * d;
  int r;

  if (qn > job->nq - q0)
    qn = job->nq - q0;
  if (job->rows) {
    for (size_t q = 0; q < qn; q++)
      memcpy(w->qbuf + q * d, job->x + job->rows[q0 + q] * d,
             d * sizeof(*qx));
    qx = w->qbuf;
  }
  if (job->kind == JOB_KNN)
    for (size_t e = 0; e < qn * k; e++) {
      w->topd[e] = INFINITY;
      w->topi[e] = KNN_NONE;
    }

  for (size_t b0 = 0; b0 < n; b0 += job->tl.dblock) {
    size_t bn = job->tl.dblock;
    size_t before = w->ntr;

    if (bn > n - b0)
      bn = n - b0;
    if (atomic_load_explicit(&job->err, memory_order_relaxed))
      return 0;
    if (job->tl.stop && __atomic_load_n(job->tl.stop, __ATOMIC_RELAXED))
      return -ECANCELED;
    ob.sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qn, (int)bn,
             (int)d, 1.0f, qx, (int)d, job->x + b0 * d,
             (int)d, 0.0f, w->tile, (int)bn);

    for (size_t q = 0; q < qn; q++) {
      const float *s = w->tile + q * bn;

      if (job->kind == JOB_KNN) {
        knn_row(s, bn, b0, job->rows ? job->rows[q0 + q] : q0 + q,
                w->topd + q * k, w->topi + q * k, k);
      } else {
        r = radius_row(w, s, bn, b0, job->rows ? job->rows[q0 + q] : q0 + q,
                       (uint32_t)q);
        if (r < 0)
          return r;
      }
    }
    /* Check the pair budget per tile so a too-large t fails after at
     * most one tile's worth of extra entries, not after the whole run. */
    if (job->kind == JOB_RADIUS && job->max_pairs) {
      size_t add = w->ntr - before;
      size_t tot = atomic_fetch_add(&job->npairs, add) + add;

      if (tot > job->max_pairs)
        return -E2BIG;
    }
  }

  if (job->kind == JOB_KNN) {
    memcpy(job->out_idx + q0 * k, w->topi, qn * k * sizeof(*w->topi));
    memcpy(job->out_dist + q0 * k, w->topd, qn * k * sizeof(*w->topd));
    return 0;
  }
  return radius_finish_block(w, q0, qn, &job->pieces[blk]);
}

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  struct job *job = w->job;

  for (;;) {
    size_t blk;
    int r;

    if (atomic_load(&job->err))
      break;
    blk = atomic_fetch_add(&job->next, 1);
    if (blk >= job->nblocks)
      break;
    r = run_block(w, blk);
    if (r < 0) {
      job_fail(job, r);
      break;
    }
  }
  return NULL;
}

static void worker_free(struct worker *w)
{
  free(w->tr);
  free(w->topi);
  free(w->topd);
  free(w->tile);
  free(w->qbuf);
}

/* Allocates every worker's buffers up front (so a k-NN worker cannot fail
 * later), runs worker 0 in the calling thread and the rest as pthreads.  If
 * a pthread cannot be created the remaining workers simply take its blocks.
 */
static int job_run(struct job *job)
{
  struct worker w[MAX_THREADS];
  bool started[MAX_THREADS] = { false };
  unsigned nt = job->tl.nthreads;
  size_t tile = job->tl.qblock * job->tl.dblock;
  int r = 0;

  if ((r = dynlib_get(&ob_lib)) < 0)
    return r;
  memset(w, 0, sizeof(w));
  for (unsigned i = 0; i < nt; i++) {
    w[i].job = job;
    w[i].tile = malloc(tile * sizeof(*w[i].tile));
    if (!w[i].tile) {
      r = -ENOMEM;
      goto out;
    }
    if (job->rows) {
      w[i].qbuf = malloc(job->tl.qblock * job->d * sizeof(*w[i].qbuf));
      if (!w[i].qbuf) {
        r = -ENOMEM;
        goto out;
      }
    }
    if (job->kind == JOB_KNN) {
      w[i].topd = malloc(job->tl.qblock * job->k * sizeof(*w[i].topd));
      w[i].topi = malloc(job->tl.qblock * job->k * sizeof(*w[i].topi));
      if (!w[i].topd || !w[i].topi) {
        r = -ENOMEM;
        goto out;
      }
    }
  }
  for (unsigned i = 1; i < nt; i++)
    started[i] = pthread_create(&w[i].thread, NULL, worker_main, &w[i]) == 0;
  worker_main(&w[0]);
  for (unsigned i = 1; i < nt; i++)
    if (started[i])
      pthread_join(w[i].thread, NULL);
  r = atomic_load(&job->err);
out:
  for (unsigned i = 0; i < nt; i++)
    worker_free(&w[i]);
  return r;
}

static void job_init(struct job *job, enum job_kind kind, const float *x,
                     size_t n, size_t d, const struct tiling *tl)
{
  memset(job, 0, sizeof(*job));
  job->kind = kind;
  job->x = x;
  job->n = n;
  job->d = d;
  job->tl = *tl;
  job->nq = n;
  job->nblocks = (n + tl->qblock - 1) / tl->qblock;
  atomic_init(&job->next, 0);
  atomic_init(&job->err, 0);
  atomic_init(&job->npairs, 0);
}

/* ---- public entry points ---------------------------------------------- */

/* The checks and tiling shared by the k-NN entry points. */
static int knn_prepare(const float *x, size_t n, size_t d, size_t k,
                       const struct knn_opts *opts, struct tiling *tl)
{
  int r;

  if (k == 0 || k > KNN_MAX_K)
    return -EINVAL;
  r = check_dims(x, n, d);
  return r < 0 ? r : tiling_get(opts, n, tl);
}

int knn_exact(const float *x, size_t n, size_t d, size_t k,
              const struct knn_opts *opts, uint32_t *ret_idx,
              float *ret_dist)
{
  struct tiling tl;
  struct job job;
  int r;

  r = knn_prepare(x, n, d, k, opts, &tl);
  if (r < 0)
    return r;
  if (n == 0)
    return 0;
  if (!ret_idx || !ret_dist || n > SIZE_MAX / k)
    return -EINVAL;

  job_init(&job, JOB_KNN, x, n, d, &tl);
  job.k = k;
  job.out_idx = ret_idx;
  job.out_dist = ret_dist;
  return job_run(&job);
}

int knn_exact_rows(const float *x, size_t n, size_t d, const size_t *rows,
                   size_t nrows, size_t k, const struct knn_opts *opts,
                   uint32_t *ret_idx, float *ret_dist)
{
  struct tiling tl, tq;
  struct job job;
  int r;

  r = knn_prepare(x, n, d, k, opts, &tl);
  if (r < 0)
    return r;
  if (nrows == 0)
    return 0;
  if (!rows || !ret_idx || !ret_dist || nrows > SIZE_MAX / k ||
      nrows >= KNN_NONE)
    return -EINVAL;
  for (size_t q = 0; q < nrows; q++)
    if (rows[q] >= n)
      return -EINVAL;
  /* Query blocks and threads sized by the query rows, database tiles by
   * the database. */
  r = tiling_get(opts, nrows, &tq);
  if (r < 0)
    return r;
  tl.qblock = tq.qblock;
  tl.nthreads = tq.nthreads;

  job_init(&job, JOB_KNN, x, n, d, &tl);
  job.rows = rows;
  job.nq = nrows;
  job.nblocks = (nrows + tl.qblock - 1) / tl.qblock;
  job.k = k;
  job.out_idx = ret_idx;
  job.out_dist = ret_dist;
  return job_run(&job);
}

/* The float threshold the tiles compare clamped distances with: the
 * smallest float >= t, so that no pair within t is lost to rounding; every
 * pair qualifies from t = 2 on (clamped distances are <= 2). */
static float radius_threshold(double t)
{
  float t_hi;

  if (t >= 2)
    return INFINITY;
  t_hi = (float)t;
  if ((double)t_hi < t)
    t_hi = nextafterf(t_hi, INFINITY);
  return t_hi;
}

/* Joins the per-block pieces of a finished radius job into g's CSR
 * arrays (g->off[0] = 0 already), taking ownership of nothing: the pieces
 * are freed as they are copied. */
static int radius_gather(struct job *job, const struct tiling *tl,
                         struct knn_graph *g)
{
  size_t n = g->n;

  for (size_t i = 0; i < n; i++)
    g->off[i + 1] = g->off[i] + job->rowcnt[i];
  g->idx = malloc((g->off[n] ? g->off[n] : 1) * sizeof(*g->idx));
  g->dist = malloc((g->off[n] ? g->off[n] : 1) * sizeof(*g->dist));
  if (!g->idx || !g->dist)
    return -ENOMEM;
  /* Blocks are consecutive row ranges, so their pieces concatenate. */
  for (size_t b = 0; b < job->nblocks; b++) {
    struct piece *pc = &job->pieces[b];
    size_t at = g->off[b * tl->qblock];

    memcpy(g->idx + at, pc->idx, pc->len * sizeof(*g->idx));
    memcpy(g->dist + at, pc->dist, pc->len * sizeof(*g->dist));
    free(pc->idx);
    free(pc->dist);
    pc->idx = NULL;
    pc->dist = NULL;
  }
  return 0;
}

/* knn_radius() for the query rows rows[0 .. nq) (all n rows in order when
 * rows is NULL); the graph has one list per query row. */
static int radius_run(const float *x, size_t n, size_t d, const size_t *rows,
                      size_t nq, double t, size_t max_pairs,
                      const struct knn_opts *opts, struct knn_graph *ret_graph)
{
  struct knn_graph g = { 0 };
  struct tiling tl, tq;
  struct job job;
  int r;

  if (!ret_graph)
    return -EINVAL;
  memset(ret_graph, 0, sizeof(*ret_graph));
  if (isnan(t))
    return -EINVAL;
  r = check_dims(x, n, d);
  if (r < 0)
    return r;
  r = tiling_get(opts, n, &tl);
  if (r < 0)
    return r;
  if (rows) {
    if (nq >= KNN_NONE)
      return -EINVAL;
    for (size_t q = 0; q < nq; q++)
      if (rows[q] >= n)
        return -EINVAL;
    /* Query blocks and threads sized by the query rows. */
    r = tiling_get(opts, nq, &tq);
    if (r < 0)
      return r;
    tl.qblock = tq.qblock;
    tl.nthreads = tq.nthreads;
  }

  g.n = nq;
  g.off = calloc(nq + 1, sizeof(*g.off));
  if (!g.off)
    return -ENOMEM;
  if (nq == 0 || n == 0) {
    /* An empty graph still has (one-element) arrays: NULL means no graph. */
    g.idx = malloc(sizeof(*g.idx));
    g.dist = malloc(sizeof(*g.dist));
    if (!g.idx || !g.dist) {
      knn_graph_free(&g);
      return -ENOMEM;
    }
    *ret_graph = g;
    return 0;
  }

  job_init(&job, JOB_RADIUS, x, n, d, &tl);
  job.rows = rows;
  job.nq = nq;
  job.nblocks = (nq + tl.qblock - 1) / tl.qblock;
  job.t = t;
  job.max_pairs = max_pairs;
  job.t_hi = radius_threshold(t);
  job.pieces = calloc(job.nblocks, sizeof(*job.pieces));
  job.rowcnt = calloc(nq, sizeof(*job.rowcnt));
  if (!job.pieces || !job.rowcnt)
    r = -ENOMEM;
  else if ((r = job_run(&job)) == 0 && (r = radius_gather(&job, &tl, &g)) == 0) {
    *ret_graph = g;
    g = (struct knn_graph){ 0 };
  }
  if (job.pieces)
    for (size_t b = 0; b < job.nblocks; b++) {
      free(job.pieces[b].idx);
      free(job.pieces[b].dist);
    }
  free(job.pieces);
  free(job.rowcnt);
  knn_graph_free(&g);
  return r;
}

int knn_radius(const float *x, size_t n, size_t d, double t,
               size_t max_pairs, const struct knn_opts *opts,
               struct knn_graph *ret_graph)
{
  return radius_run(x, n, d, NULL, n, t, max_pairs, opts, ret_graph);
}

int knn_radius_rows(const float *x, size_t n, size_t d, const size_t *rows,
                    size_t nrows, double t, size_t max_pairs,
                    const struct knn_opts *opts, struct knn_graph *ret_graph)
{
  if (nrows > 0 && !rows) {
    if (ret_graph)
      memset(ret_graph, 0, sizeof(*ret_graph));
    return -EINVAL;
  }
  return radius_run(x, n, d, rows, nrows, t, max_pairs, opts, ret_graph);
}

int knn_graph_from_lists(const uint32_t *idx, const float *dist, size_t n,
                         size_t k, struct knn_graph *ret_graph)
{
  struct knn_graph g = { 0 };
  size_t m = 0, cap;

  if (!ret_graph)
    return -EINVAL;
  memset(ret_graph, 0, sizeof(*ret_graph));
  if (n >= KNN_NONE || (n > 0 && (k == 0 || !idx || !dist)) ||
      (k && n > SIZE_MAX / k))
    return -EINVAL;
  for (size_t e = 0; e < n * k; e++)
    if (idx[e] != KNN_NONE && idx[e] >= n)
      return -EINVAL;

  cap = n * k > 0 ? n * k : 1;
  g.n = n;
  g.off = calloc(n + 1, sizeof(*g.off));
  g.idx = malloc(cap * sizeof(*g.idx));
  g.dist = malloc(cap * sizeof(*g.dist));
  if (!g.off || !g.idx || !g.dist) {
    knn_graph_free(&g);
    return -ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t p = 0; p < k; p++) {
      size_t e = i * k + p;

      if (idx[e] == KNN_NONE)
        continue;
      g.idx[m] = idx[e];
      g.dist[m] = dist[e];
      m++;
    }
    g.off[i + 1] = m;
  }
  *ret_graph = g;
  return 0;
}

void knn_graph_free(struct knn_graph *g)
{
  if (!g)
    return;
  free(g->dist);
  free(g->idx);
  free(g->off);
  memset(g, 0, sizeof(*g));
}
