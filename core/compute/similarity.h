/* similarity.h - the one entry point the rest of the program uses for
 * nearest neighbours and uniqueness scores over embedding vectors.
 *
 * Both functions take raw vectors (n rows × dim floats, row-major; the
 * caller's array is only read), centre and L2-normalise a private copy
 * (knn_center_normalize(), cosine distance on mean-centred vectors,
 * docs/ALGORITHMS.md §1), then search with one of two backends:
 *   - exact: knn_exact() (knn.h), tiled OpenBLAS sgemm, two workers;
 *   - approximate: an HNSW graph (hnsw.h) built for this call and freed
 *     before returning.
 * SIM_AUTO takes the exact path up to SIM_EXACT_MAX rows and HNSW above.
 * The threshold is the measured crossover (scripts/bench.sh compute,
 * 128-d clustered data, CPU seconds over both workers): exact uniqueness
 * costs ~3 ns per ordered pair (8.5 cpu-s at 50,000 rows, 118.5 cpu-s at
 * 200,000; it grows as n²), while HNSW build + one query per row costs
 * ~0.38-0.40 ms per row (383 cpu-s at 1,000,000 rows, 40 at 100,000;
 * ~n·log n).  The two meet near 130,000 rows (~50 cpu-s, ~25 s on 2
 * cores); below that exact is both cheaper and exact.  Above it the
 * results are approximate: recall@10 0.984 at 1,000,000 clustered rows with
 * the defaults, worse on unstructured vectors (docs/ALGORITHMS.md §8).
 *
 * Memory beyond the caller's arrays: the normalised copy (n·dim·4 bytes),
 * plus ~153 bytes per row for the HNSW graph (default M = 16) or ~10 MB of
 * tiles for the exact path.  At 1,000,000 × 128: ~512 MB + ~153 MB.
 *
 * Threads: no globals (beyond knn.c's one-time OpenBLAS setting);
 * concurrent calls on different outputs are safe.  Results are
 * deterministic for given inputs and options (the HNSW seed included) on a
 * given machine, and do not depend on nthreads.
 */
#ifndef CURATE_SIMILARITY_H
#define CURATE_SIMILARITY_H

#include <stddef.h>
#include <stdint.h>

/* Index stored where fewer than k other rows exist (= KNN_NONE). */
#define SIM_NONE UINT32_MAX

/* SIM_AUTO: exact k-NN up to this many rows, HNSW above (see above). */
#define SIM_EXACT_MAX 130000

enum sim_method {
  SIM_AUTO = 0, /* by size: exact up to exact_max rows */
  SIM_EXACT,    /* always exact (the reference mode; O(n²)) */
  SIM_HNSW,     /* always approximate */
};

/* Options; a NULL pointer or a zero field means the default. */
struct sim_opts {
  enum sim_method method;
  size_t exact_max;             /* SIM_AUTO threshold; 0 = SIM_EXACT_MAX */
  unsigned nthreads;            /* workers: default 2 */
  unsigned hnsw_m;              /* hnsw.h defaults: 16 */
  unsigned hnsw_ef_construction; /* 100 */
  unsigned hnsw_ef_search;      /* 96 */
  uint64_t seed;                /* HNSW level draws */
  const int *stop;              /* knn_opts.stop (knn.h) on the exact
                                   path, hnsw_params.stop and
                                   hnsw_knn_all()'s on the other */
};

/* The backend sim_knn() uses for n rows with these options. */
enum sim_method sim_choose(size_t n, const struct sim_opts *opts);

/* For every row i of X, its k nearest OTHER rows (self excluded; exact
 * duplicates of i are neighbours at distance 0) by cosine distance on
 * mean-centred vectors, in [0, 2].
 * ret_idx / ret_dist: n × k, row-major, caller-allocated; ascending
 * distance, ties by lower index; when n - 1 < k the tail of each row holds
 * SIM_NONE / INFINITY.  On the exact path the output is identical to
 * knn_center_normalize() + knn_exact() with the default tiling.
 * Returns 0, -EINVAL (X NULL with n > 0, dim == 0, k == 0 or > 1024,
 * n >= 2^32 - 1, NULL outputs, a NaN or infinite entry in X, bad opts),
 * -ENOMEM, -ECANCELED (opts->stop); the outputs may be partly written on
 * failure. */
int sim_knn(const float *X, size_t n, size_t dim, size_t k,
            uint32_t *ret_idx, float *ret_dist,
            const struct sim_opts *opts);

/* Uniqueness score of every row (docs/ALGORITHMS.md §1): the 3 nearest other
 * rows by sim_knn(), weighted 0.6 / 0.3 / 0.1 and divided by the largest
 * such value (uniq_scores() in uniqueness.h), so scores are in (0, 1] and
 * the most isolated row scores 1; n <= 3 gives 1 for every row.
 * ret_scores: n doubles, caller-allocated.
 * Returns 0, -EINVAL (as sim_knn()), -ENOMEM; ret_scores unspecified on
 * failure. */
int sim_uniqueness(const float *X, size_t n, size_t dim, double *ret_scores,
                   const struct sim_opts *opts);

#endif
