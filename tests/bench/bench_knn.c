/* bench_knn - compute benchmark for the k-NN / uniqueness paths
 * (scripts/bench.sh compute).  Not a test: it prints figures and ratios
 * against baselines measured in the same run, on the same 2 threads.
 *
 *   bench_knn [--small]
 *
 * 1. Exact path.  sim_uniqueness() with SIM_EXACT (copy, centre, normalise,
 *    exact 3-NN by tiled sgemm, scores) at 50,000 and 200,000 rows × 128
 *    (--small: 20,000 and 50,000), against the bare n × n × 128 product
 *    by OpenBLAS sgemm on the same rows, two ways:
 *      (a) "one sgemm": the product as full-width sgemm calls of 512 rows ×
 *          n columns (the whole n × n output cannot be held; 512-row panels
 *          are the closest to one call that fits), two threads each taking
 *          panels with a single-threaded sgemm;
 *      (b) "tiled": the same 512 × 2048 tiles knn.c uses, with no
 *          selection: the floor for any sgemm-based exact k-NN.
 *    Goal: exact k-NN + uniqueness <= 1.3 × (a).
 * 2. Approximate path.  HNSW (defaults: M 16, ef_construction 100, seed 1)
 *    at 1,000,000 × 128 (--small: 100,000): build, then every row queried
 *    for its k = 10 nearest others (default ef, HNSW_DEF_EF_SEARCH) - the
 *    k-NN-graph workload;
 *    uniqueness needs only k = 3, so this is the harder case.  Recall@10
 *    against knn_exact_rows() on 1,000 sampled rows.  Baseline: the exact
 *    search of those sampled rows, scaled to all n rows (exact cost is
 *    linear in the number of query rows).  Goal: build + queries <= 300 s
 *    and recall@10 >= 0.95.
 * Data: seeded Gaussian mixture (tests/gen/vecgen.h), 2,000 clusters,
 * spread 0.8, L2-normalised - the clustered regime of real embeddings.
 * Times are wall clock; best of one run (the exact runs are long enough).
 *
 * The baselines call OpenBLAS directly: measuring the bare product is
 * their purpose.  Everything measured goes through core's own API.
 */
#include "hnsw.h"
#include "util.h"
#include "knn.h"
#include "similarity.h"
#include "gen/vecgen.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define D 128
#define PANEL 512
#define TQ 512
#define TD 2048
#define NSAMPLE 1000

/* CPU seconds of the whole process (all threads): on a shared machine the
 * wall clock includes time spent waiting for other processes, CPU time does
 * not.  Two busy workers use 2 CPU seconds per wall second. */
static double cpu(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct tm2 {
  double wall, cpu;
};

static struct tm2 t_start(void)
{
  struct tm2 t = { time_mono(), cpu() };

  return t;
}

static struct tm2 t_end(struct tm2 t)
{
  t.wall = time_mono() - t.wall;
  t.cpu = cpu() - t.cpu;
  return t;
}

static void *xmalloc(size_t n)
{
  void *p = malloc(n);

  if (!p) {
    fprintf(stderr, "bench_knn: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

/* ---- sgemm baselines ------------------------------------------------------ */

struct gemm_job {
  const float *x;
  size_t n;
  int tiled;
  atomic_size_t next;
  float checksum[2];
};

struct gemm_worker {
  struct gemm_job *j;
  int id;
};

static void *gemm_main(void *arg)
{
  struct gemm_worker *w = arg;
  struct gemm_job *j = w->j;
  size_t n = j->n;
  size_t rows = j->tiled ? TQ : PANEL;
  float *c = xmalloc((j->tiled ? (size_t)TQ * TD : (size_t)PANEL * n) *
                     sizeof(*c));
  float sum = 0;

  for (;;) {
    size_t p0 = atomic_fetch_add(&j->next, 1) * rows;
    size_t pn = rows;

    if (p0 >= n)
      break;
    if (pn > n - p0)
      pn = n - p0;
    if (!j->tiled) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)pn, (int)n,
                  D, 1.0f, j->x + p0 * D, D, j->x, D, 0.0f, c, (int)n);
      sum += c[0];
      continue;
    }
    for (size_t b0 = 0; b0 < n; b0 += TD) {
      size_t bn = n - b0 < TD ? n - b0 : TD;

      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)pn, (int)bn,
                  D, 1.0f, j->x + p0 * D, D, j->x + b0 * D, D, 0.0f, c,
                  (int)bn);
      sum += c[0];
    }
  }
  j->checksum[w->id] = sum; /* keeps the products observable */
  free(c);
  return NULL;
}

static struct tm2 time_gemm(const float *x, size_t n, int tiled)
{
  struct gemm_job j = { .x = x, .n = n, .tiled = tiled };
  struct gemm_worker w[2] = { { &j, 0 }, { &j, 1 } };
  pthread_t th;
  struct tm2 t0;

  atomic_init(&j.next, 0);
  openblas_set_num_threads(1);
  t0 = t_start();
  if (pthread_create(&th, NULL, gemm_main, &w[1]) != 0) {
    fprintf(stderr, "bench_knn: pthread_create failed\n");
    exit(1);
  }
  gemm_main(&w[0]);
  pthread_join(th, NULL);
  return t_end(t0);
}

/* ---- parts ------------------------------------------------------------------ */

static float *gen(size_t n, uint64_t seed)
{
  float *x = xmalloc(n * D * sizeof(*x));

  if (vecgen_clustered(x, n, D, 2000, 0.8, seed) < 0) {
    fprintf(stderr, "bench_knn: out of memory\n");
    exit(1);
  }
  return x;
}

static int exact_part(size_t n)
{
  float *x = gen(n, n);
  double *s = xmalloc(n * sizeof(*s));
  struct sim_opts o = { .method = SIM_EXACT };
  struct tm2 tu, ta, tb;
  int r;

  tu = t_start();
  r = sim_uniqueness(x, n, D, s, &o);
  tu = t_end(tu);
  if (r < 0) {
    fprintf(stderr, "bench_knn: sim_uniqueness: %s\n", strerror(-r));
    return 1;
  }
  ta = time_gemm(x, n, 0);
  tb = time_gemm(x, n, 1);
  printf("exact  n=%-7zu d=%d  uniqueness (exact 3-NN + scores) wall "
         "%.2f s cpu %.2f s | sgemm n*n*d: one-call panels wall %.2f s cpu "
         "%.2f s (%.0f GFLOP/s per cpu-s), tiled wall %.2f s cpu %.2f s\n",
         n, D, tu.wall, tu.cpu, ta.wall, ta.cpu,
         2.0 * n * n * D / ta.cpu * 1e-9, tb.wall, tb.cpu);
  printf("exact  n=%-7zu RATIO uniqueness / one-call sgemm = %.2f cpu "
         "(%.2f wall) (goal <= 1.3); vs tiled sgemm floor = %.2f cpu\n",
         n, tu.cpu / ta.cpu, tu.wall / ta.wall, tu.cpu / tb.cpu);
  free(s);
  free(x);
  return 0;
}

static int hnsw_part(size_t n)
{
  const size_t k = 10, ef = HNSW_DEF_EF_SEARCH;
  float *x = gen(n, 77);
  uint32_t *ai = xmalloc(n * k * sizeof(*ai));
  float *ad = xmalloc(n * k * sizeof(*ad));
  uint32_t ei[NSAMPLE * 10];
  float ed[NSAMPLE * 10];
  size_t rows[NSAMPLE], hit = 0;
  struct hnsw_params p = { .seed = 1 };
  struct hnsw *h;
  struct tm2 tn, tb, tq, te;
  double tot, totc;
  int r;

  tn = t_start();
  r = knn_center_normalize(x, n, D);
  tn = t_end(tn);
  tb = t_start();
  if (r == 0)
    r = hnsw_build(x, n, D, &p, &h);
  tb = t_end(tb);
  if (r < 0) {
    fprintf(stderr, "bench_knn: hnsw_build: %s\n", strerror(-r));
    return 1;
  }
  tq = t_start();
  r = hnsw_knn_all(h, k, ef, 2, NULL, ai, ad);
  tq = t_end(tq);
  if (r < 0) {
    fprintf(stderr, "bench_knn: hnsw_knn_all: %s\n", strerror(-r));
    return 1;
  }
  for (size_t q = 0; q < NSAMPLE; q++)
    rows[q] = (size_t)((q * 2654435761u) % n);
  te = t_start();
  r = knn_exact_rows(x, n, D, rows, NSAMPLE, k, NULL, ei, ed);
  te = t_end(te);
  if (r < 0) {
    fprintf(stderr, "bench_knn: knn_exact_rows: %s\n", strerror(-r));
    return 1;
  }
  for (size_t q = 0; q < NSAMPLE; q++)
    for (size_t a = 0; a < k; a++)
      for (size_t b = 0; b < k; b++)
        if (ei[q * k + a] == ai[rows[q] * k + b]) {
          hit++;
          break;
        }
  tot = tb.wall + tq.wall;
  totc = tb.cpu + tq.cpu;
  printf("hnsw   n=%-7zu d=%d  M=16 efC=100 ef=%zu k=%zu: normalise %.2f "
         "s; build wall %.1f s cpu %.1f s; all-rows queries wall %.1f s cpu "
         "%.1f s; graph %zu bytes/row\n", n, D, ef, k, tn.wall, tb.wall,
         tb.cpu, tq.wall, tq.cpu, hnsw_size(h) / n);
  printf("hnsw   n=%-7zu TOTAL build + queries: wall %.1f s, cpu/2 %.1f s "
         "(goal <= 300 s on 2 cores)\n", n, tot, totc / 2);
  printf("hnsw   n=%-7zu RECALL@10 on %d sampled rows = %.4f (goal >= "
         "0.95)\n", n, NSAMPLE, (double)hit / (NSAMPLE * k));
  printf("hnsw   n=%-7zu exact search of the sample cpu %.2f s -> all rows "
         "~%.0f cpu-s; RATIO hnsw / exact = %.3f cpu\n", n, te.cpu,
         te.cpu * n / NSAMPLE, totc / (te.cpu * n / NSAMPLE));
  hnsw_free(h);
  free(ad);
  free(ai);
  free(x);
  return 0;
}

int main(int argc, char **argv)
{
  int small = argc > 1 && strcmp(argv[1], "--small") == 0;
  int only_hnsw = argc > 2 && strcmp(argv[2], "hnsw") == 0;
  size_t ex[2] = { small ? 20000 : 50000, small ? 50000 : 200000 };
  int r = 0;

  setvbuf(stdout, NULL, _IOLBF, 0); /* figures appear as they are measured */
  if (argc > 1 && !small && strcmp(argv[1], "--full") != 0) {
    fprintf(stderr, "usage: bench_knn [--small|--full] [hnsw]\n");
    return 2;
  }
  for (int i = 0; i < 2 && !only_hnsw && r == 0; i++)
    r = exact_part(ex[i]);
  if (r == 0)
    r = hnsw_part(small ? 100000 : 1000000);
  return r;
}
