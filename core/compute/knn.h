/* knn.h - exact k-nearest-neighbour and radius search over float vectors
 * with cosine distance on mean-centred vectors (docs/ALGORITHMS.md §1, §8).
 *
 * Metric: knn_center_normalize() subtracts the column mean from every row
 * and scales each row to unit L2 norm, in place.  On such rows the distance
 * is 1 - dot(a, b), computed in float by OpenBLAS sgemm and clamped to
 * [0, 2] (rounding can otherwise give -1e-7 for duplicates).  knn_exact()
 * and knn_radius() take already-normalised rows: normalise once, query as
 * often as needed, and no second copy of the data is ever made.
 *
 * Memory: never O(N^2).  Each worker holds one qblock × dblock float tile
 * (4 MB with the defaults) plus its running top-k lists; at 200,000 × 128
 * that is ~10 MB beyond the caller's input and output arrays.  knn_radius()
 * additionally holds its result (bounded by max_pairs) and, while it is
 * being assembled, a second copy of it.
 *
 * Threads: the query rows are cut into blocks of qblock rows; the calling
 * thread plus (nthreads - 1) pthreads take whole blocks from a shared
 * counter, and each computes its block against every database block with
 * its own single-threaded sgemm.  OpenBLAS is loaded by the first search
 * (core/base/dynlib.h; a program that searches nothing never loads it, and
 * a search without it fails with -ELIBACC), which also does
 * openblas_set_num_threads(1) once for the process (in the load's once): two
 * workers each driving a multi-threaded sgemm would oversubscribe the cores,
 * and letting OpenBLAS thread one sgemm makes its threads spin while the
 * selection runs (docs/ALGORITHMS.md §8).  knn.c is the only OpenBLAS user
 * in the project, so this process-wide setting is left in place on purpose.
 * The load also stops the server threads OpenBLAS starts (they would spin
 * for ~0.1 s first).
 *
 * Apart from that one-time setting there are no globals: concurrent calls
 * on different outputs are safe.  Results do not depend on the number of
 * threads, bit for bit.  Different tile sizes (knn_opts) run different
 * sgemm edge kernels and can change distances in the last bit, and hence
 * the order of neighbours whose distances are that close.
 *
 * Indices are uint32_t: N must be < KNN_NONE.
 */
#ifndef CURATE_KNN_H
#define CURATE_KNN_H

#include <stddef.h>
#include <stdint.h>

/* Index stored where fewer than k other rows exist (its distance is
 * INFINITY). */
#define KNN_NONE UINT32_MAX
/* Upper bound on k; a top-k list is kept per query row of a block. */
#define KNN_MAX_K 1024

/* Tuning; a NULL pointer or a zero field means the default. */
struct knn_opts {
  unsigned nthreads; /* workers including the caller: default 2, max 64 */
  size_t qblock;     /* query rows per tile: default 512 */
  size_t dblock;     /* database rows per tile: default 2048; tiles are
                        limited to 2^24 floats (64 MB) */
  /* When set, read (atomically, by every worker) before each tile: once it
   * is nonzero the call gives up and returns -ECANCELED, its outputs
   * partly written.  An exact run over 100,000 rows is minutes of work;
   * this is how its owner (a daemon being unmounted) gets it back within
   * one tile.  Borrowed: it must outlive the call. */
  const int *stop;
};

/* Centre the columns of x (n rows × d, row-major) and scale every row to
 * unit L2 norm, in place.  Means and norms are accumulated in double.  A row
 * equal to the mean has no direction and is left all zero: its distance to
 * every row (itself included) is then 1.
 * Returns 0, or -EINVAL (x NULL with n·d > 0, d == 0 with n > 0, a NaN or
 * infinite entry; x is unchanged then), -ENOMEM. */
int knn_center_normalize(float *x, size_t n, size_t d);

/* For every row i of x, its k nearest OTHER rows.  x must have been through
 * knn_center_normalize() (not checked: other rows give 1 - dot, clamped).
 * ret_idx / ret_dist (n × k, row-major, caller-allocated): neighbour
 * indices and distances, ascending distance, ties broken by lower index.
 * Self (j == i) is excluded; duplicates of row i are not (distance 0).
 * When n - 1 < k the tail of each row holds KNN_NONE / INFINITY.
 * Returns 0, -EINVAL (NULL arrays, k == 0 or > KNN_MAX_K, d == 0 or
 * > INT_MAX, n >= KNN_NONE, bad opts), -ENOMEM, -ELIBACC (OpenBLAS cannot
 * be loaded), -ECANCELED (opts->stop); on failure the outputs may be
 * partly written. */
int knn_exact(const float *x, size_t n, size_t d, size_t k,
              const struct knn_opts *opts, uint32_t *ret_idx,
              float *ret_dist);

/* knn_exact() for some rows only: for each rows[q] (q < nrows, each < n,
 * repeats allowed), its k nearest OTHER rows of all n, written to row q of
 * ret_idx / ret_dist (nrows × k).  Same ordering, ties and tail rules as
 * knn_exact(), and the same values it gives for those rows up to the last
 * bit (query tiles are gathered copies, so sgemm may round differently).
 * Used to measure an approximate index's recall on a sample.
 * Returns 0, -EINVAL (as knn_exact(), rows NULL or out of range), -ENOMEM,
 * -ELIBACC, -ECANCELED.
 */
int knn_exact_rows(const float *x, size_t n, size_t d, const size_t *rows,
                   size_t nrows, size_t k, const struct knn_opts *opts,
                   uint32_t *ret_idx, float *ret_dist);

/* Sparse neighbour lists in CSR form: the neighbours of row i are
 * idx[off[i] .. off[i+1]) with distances dist[same range], sorted by
 * ascending distance then index.  All three arrays are owned by the
 * graph; release with knn_graph_free(). */
struct knn_graph {
  size_t n;       /* rows; off has n + 1 entries */
  size_t *off;
  uint32_t *idx;
  float *dist;
};

/* Every pair of distinct rows with distance <= t: each row's list holds all
 * j != i whose float distance (as knn_exact() reports it) is <= t.  Computed
 * tile by tile like knn_exact(); no N × N matrix.
 * max_pairs bounds the number of stored entries (each unordered pair is
 * stored twice, once per row); 0 means no bound.  Choose t with care: at
 * t = 1 about half of all pairs of centred vectors qualify.
 * On success *ret_graph is filled (owned by the caller); on failure it is
 * left empty (safe to knn_graph_free()).
 * Returns 0, -EINVAL (as knn_exact(), or t NaN), -E2BIG (more than
 * max_pairs entries), -ENOMEM, -ELIBACC, -ECANCELED (opts->stop). */
int knn_radius(const float *x, size_t n, size_t d, double t,
               size_t max_pairs, const struct knn_opts *opts,
               struct knn_graph *ret_graph);

/* knn_radius() for some rows only: list q of the graph (q < nrows) holds
 * every row j != rows[q] of all n within t of row rows[q] (repeats
 * allowed); max_pairs bounds the entries of all lists together.
 * Returns as knn_radius(), and -EINVAL for rows NULL or out of range. */
int knn_radius_rows(const float *x, size_t n, size_t d, const size_t *rows,
                    size_t nrows, double t, size_t max_pairs,
                    const struct knn_opts *opts, struct knn_graph *ret_graph);

/* Wrap k-NN lists (as returned by knn_exact()) as a graph, copying them and
 * dropping KNN_NONE entries.  Used to run the greedy duplicate removal on
 * k-NN results, which then only sees each row's k nearest neighbours.
 * Returns 0, -EINVAL, -ENOMEM; *ret_graph as for knn_radius(). */
int knn_graph_from_lists(const uint32_t *idx, const float *dist, size_t n,
                         size_t k, struct knn_graph *ret_graph);

/* Frees the arrays and empties the graph; NULL and empty graphs are fine. */
void knn_graph_free(struct knn_graph *g);

#endif
