/* nemb.h - a 2-D neighbour embedding (the map of plots/embeddings.jpg):
 * points that are near neighbours in the k-NN graph land near each other.
 *
 * What it does: a UMAP-style layout by stochastic gradient descent on the
 * given k-NN graph (docs/ALGORITHMS.md §9).  Every epoch pulls each edge's
 * two ends together with a Cauchy kernel, 1 / (1 + d²), and pushes each
 * point away from a few points drawn at random (negative sampling), with a
 * learning rate falling linearly to zero.  The start is the PCA projection
 * (plot_pca2() of plot.h), scaled to [-10, 10], so the global arrangement
 * of the clusters follows the main directions of variance and the run has
 * no random start.  Cost: O(epochs · n · (k + negatives)), one thread;
 * the k-NN graph comes from the caller (the one views/unique computes).
 *
 * What it does not do: no k-NN search, no fuzzy-set weights (every edge
 * weighs the same), no parallel updates (they would make the result depend
 * on thread timing).
 *
 * Determinism: the random draws come from a fixed-seed generator and the
 * loop order is fixed, so a given input gives the same coordinates on a
 * given machine and build.
 *
 * Ownership: inputs are borrowed for the call; outputs are caller-allocated.
 * Thread-safety: no globals.
 */
#ifndef CURATE_NEMB_H
#define CURATE_NEMB_H

#include <stddef.h>
#include <stdint.h>

/* Neighbours per point the map uses (the first columns of the lists). */
#define NEMB_K 10

/* Options; a NULL pointer or a zero field means the default. */
struct nemb_opts {
  unsigned epochs;    /* 500 up to 10,000 points, 200 up to 50,000, 120 */
  unsigned negatives; /* random pushes per edge: 3 */
  uint64_t seed;      /* 0 = a fixed constant */
  /* NULL, or a flag read atomically every few thousand points (borrowed):
   * once nonzero the layout gives up with -ECANCELED, y then half moved
   * (how an unmount ends a layout of seconds; as knn_opts.stop). */
  const int *stop;
};

/* Lays out n points in 2-D: y[2i], y[2i + 1] hold the start on entry and
 * the map on return.  nbr: n rows of `k` neighbour indices (row-major;
 * entries >= n, e.g. UINT32_MAX, and self-edges are skipped).
 * Returns 0, -EINVAL (NULL arrays with n > 0, k > 1024), -ENOMEM,
 * -ECANCELED (opts->stop). */
int nemb_layout(const uint32_t *nbr, size_t n, size_t k, float *y,
                const struct nemb_opts *opts);

/* The whole map: PCA start of the embeddings X (n × dim, row-major) and
 * nemb_layout() on nbr (n × k); out: n × 2 floats.  n < 4 or k == 0
 * gives the PCA projection alone.  Errors as nemb_layout() and
 * plot_pca2(). */
int nemb_map(const float *X, size_t n, size_t dim, const uint32_t *nbr,
             size_t k, float *out, const struct nemb_opts *opts);

/* Trustworthiness (Venna & Kaski) of a 2-D map at neighbourhood size
 * kt, against the high-dimensional neighbour lists nbr (n × k, k >= kt,
 * nearest first): 1 - 2 / (n kt (2n - 3kt - 1)) · Σ_i Σ_{j ∈ U_i}
 * (r(i, j) - kt), where U_i are the kt nearest of i in the map that are
 * not among its kt nearest in nbr and r(i, j) is j's rank among i's
 * neighbours in the original space; ranks beyond the k listed count as
 * k + 1 (a lower bound on the penalty, so the result is an upper bound).
 * O(n²) time: meant for tests and small sets.  Returns a value in [0, 1]
 * or NaN for bad input (n < 2kt + 2, kt > k). */
double nemb_trustworthiness(const float *y, size_t n, const uint32_t *nbr,
                            size_t k, size_t kt);

#endif
