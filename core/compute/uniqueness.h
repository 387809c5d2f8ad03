/* uniqueness.h - uniqueness scores, greedy near-duplicate removal at a
 * distance threshold and the find_unique(count) bisection
 * (docs/ALGORITHMS.md §1, §2).
 *
 * Everything here works on distances that someone else computed (knn.h for
 * the exact cosine distance); nothing here touches vectors.  Pure compute,
 * no globals, thread-safe for distinct outputs.
 *
 * Neighbour abstraction for the greedy removal: a callback (uniq_nbr_fn)
 * that hands back, for one sample, a list of (neighbour index, distance).
 * A callback rather than a fixed structure so the same greedy runs on exact
 * radius lists (knn_radius()), on k-NN lists (knn_graph_from_lists(), which
 * makes the result approximate: only each sample's k nearest are seen), or
 * on anything an approximate index produces, possibly computed lazily for
 * the threshold asked.  uniq_nbr_graph() is the ready-made callback over a
 * struct knn_graph.
 *
 * The greedy result at threshold t is exact when every neighbour within t
 * of each kept sample is reported.  A knn_radius() graph built at radius R
 * is exact for every t <= R; for t > R it behaves as if the distances
 * beyond R were infinite.  uniq_find_unique() probes thresholds from 1 (or
 * init_thresh) upwards and downwards, so it is exact only if R covers
 * every probe; a graph with R >= 1 holds about half of all pairs, which is
 * fine for a few thousand samples.  For large N, build the graph at the
 * largest affordable R, pass init_thresh <= R, and treat probes above R
 * (taken only when even R keeps too many) as approximate.
 */
#ifndef CURATE_UNIQUENESS_H
#define CURATE_UNIQUENESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct knn_graph;

/* Number of neighbours in the score and their weights, nearest first. */
#define UNIQ_K 3
#define UNIQ_W1 0.6
#define UNIQ_W2 0.3
#define UNIQ_W3 0.1

/* Bisection guard: the reference loop has no cap; see uniq_find_unique(). */
#define UNIQ_BISECT_MAX_ITER 256

/* Uniqueness of each of n samples from the distances to its 3 nearest OTHER
 * samples (self excluded), ascending.
 *
 * nn_dist: n rows of at least UNIQ_K floats, row stride `ld` (>= UNIQ_K), so
 *   the n × k output of knn_exact() with k >= 3 can be passed directly with
 *   ld = k.  Not read when n <= UNIQ_K (may be NULL then).
 * ret_scores (n, caller-allocated):
 *   - n <= 3: every score is 1 (the reference rule);
 *   - else raw_i = (0.6·d1 + 0.3·d2 + 0.1·d3) / 3 and score_i = raw_i / max
 *     raw, in (0, 1], the most isolated sample scoring exactly 1;
 *   - if max raw is 0 (every sample has 3 exact duplicates) every score is
 *     1: all samples tie as the most isolated, and a constant keeps the
 *     "max score is 1" property instead of dividing 0 by 0.
 * Returns 0, or -EINVAL (NULL arrays, ld < 3, a distance that is negative,
 * NaN or infinite, or a row that is not ascending); ret_scores is
 * unspecified on failure. */
int uniq_scores(const float *nn_dist, size_t n, size_t ld,
                double *ret_scores);

/* Neighbour query: set *ret_idx / *ret_dist / *ret_n to a list of sample
 * i's neighbours.  The list must contain every known neighbour j of i with
 * distance <= t; it may contain more (entries with j <= i or dist > t are
 * skipped by the caller), in any order.  The arrays are borrowed until the
 * next call with the same `ud`.  Return 0 or a negative errno, which the
 * caller passes on. */
typedef int (*uniq_nbr_fn)(void *ud, size_t i, double t,
                           const uint32_t **ret_idx, const float **ret_dist,
                           size_t *ret_n);

/* uniq_nbr_fn over a struct knn_graph (knn.h) passed as `ud`; returns row
 * i's whole list, does not modify the graph, -EINVAL if i is out of range. */
int uniq_nbr_graph(void *ud, size_t i, double t, const uint32_t **ret_idx,
                   const float **ret_dist, size_t *ret_n);

/* uniq_nbr_graph() that gives up: ud is a struct uniq_graph_stop, whose
 * graph's lists it returns until *stop (NULL: never; read atomically
 * every UNIQ_STOP_EVERY calls) is nonzero, then -ECANCELED, which
 * uniq_greedy() and uniq_find_unique() pass on.  How an unmount ends the
 * bisection of views/unique, up to UNIQ_BISECT_MAX_ITER greedy passes
 * over every sample (seconds at a few hundred thousand samples). */
#define UNIQ_STOP_EVERY 1024u
struct uniq_graph_stop {
  const struct knn_graph *g;   /* borrowed */
  const int *stop;             /* borrowed, or NULL */
  unsigned calls;              /* 0 at the start */
};
int uniq_nbr_graph_stop(void *ud, size_t i, double t,
                        const uint32_t **ret_idx, const float **ret_dist,
                        size_t *ret_n);

/* Greedy removal at threshold t, in index order: all samples start kept;
 * for i = 0..n-1, if i is still kept, every neighbour j > i with distance
 * <= t is removed.  Equivalently, j is kept iff no kept sample before it
 * lies within t, so the earlier index always wins.
 * ret_keep (n, caller-allocated): true for kept samples.
 * *ret_kept (may be NULL): number kept.
 * Returns 0, -EINVAL (NULL arguments with n > 0, t NaN, n >= 2^32 - 1, a
 * neighbour index >= n), or the callback's error; ret_keep is then
 * unspecified.  Calls nbr once per kept sample, in ascending order. */
int uniq_greedy(size_t n, uniq_nbr_fn nbr, void *ud, double t,
                bool *ret_keep, size_t *ret_kept);

/* Target keep count for find_duplicates(fraction): round(clamp(1 -
 * fraction, 0, 1) · n), rounding halves to even as Python's round() does.
 * NaN fraction gives n. */
size_t uniq_keep_count(size_t n, double fraction);

/* find_unique(count): bisect the greedy threshold to keep `num_keep`
 * samples (remove_duplicates_count in the reference).
 *   - num_keep <= 0: keeps none; num_keep >= n: keeps all.  *ret_thresh is
 *     NAN ("no threshold") in both cases and the callback is not called.
 *   - Otherwise thresh = init_thresh (1 when init_thresh is NaN or <= 0),
 *     lower = 0, upper unknown; loop: kept = greedy(thresh); stop if kept ==
 *     num_keep, or if kept equals the previous iteration's kept while upper
 *     is known and upper - lower < 1e-6; if kept < num_keep: upper = thresh,
 *     thresh = (lower + thresh) / 2; else lower = thresh, thresh = (thresh +
 *     upper) / 2 if upper is known, else thresh · 2.
 *   - Beyond the reference: the loop also stops after UNIQ_BISECT_MAX_ITER
 *     greedy runs or when thresh stops being finite.  Neither can happen
 *     with complete neighbour lists of cosine distances (<= 2): there the
 *     reference loop ends in well under 100 iterations (thresh 2 keeps one
 *     sample, then the interval halves each time).  Both guard incomplete
 *     lists (k-NN graphs, radius graphs), where kept may never fall below
 *     num_keep and the reference would double thresh forever.
 * The result may miss num_keep (plateaus: kept jumps over the target).
 * The kept set is the greedy result at the last threshold tried, reported
 * in index order in ret_keep (n flags); *ret_kept its size and *ret_thresh
 * that threshold.  Use uniq_rank() to order it "most unique first".
 * Returns 0, -EINVAL (NULL outputs), or uniq_greedy()'s errors (outputs
 * unspecified then). */
int uniq_find_unique(size_t n, uniq_nbr_fn nbr, void *ud, int64_t num_keep,
                     double init_thresh, bool *ret_keep, size_t *ret_kept,
                     double *ret_thresh);

/* Order samples "most unique first": the indices i with keep[i] (all n
 * samples when keep is NULL) sorted by scores[i] descending, ties by lower
 * index; NaN scores sort last.  A fixed, reproducible order for presenting
 * a find_unique() result, with scores from uniq_scores().
 * ret_order: capacity n, caller-allocated; *ret_count: entries written.
 * Returns 0, -EINVAL, -ENOMEM. */
int uniq_rank(const double *scores, const bool *keep, size_t n,
              size_t *ret_order, size_t *ret_count);

#endif
