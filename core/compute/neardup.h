/* neardup.h - exact duplicates (equal content hashes) and near-duplicate
 * groups (embeddings within a cosine distance), as lists of sample ids.
 *
 * Pure compute over arrays the caller loaded (featstore_load_matrix() for
 * the embeddings; the samples' hash field for content hashes): no store,
 * no I/O.  Near duplicates use knn_radius() (knn.h) on mean-centred,
 * L2-normalised rows, i.e. the cosine distance of docs/ALGORITHMS.md §1-2
 * (the reference's metric), and group the pairs within the threshold
 * around centres, so that groups do not chain:
 *   1. The next centre is the ungrouped sample with the largest sum of
 *      (threshold - distance) over its ungrouped neighbours (ties: the
 *      smaller id); it takes all of them.  Repeat while any ungrouped
 *      sample has an ungrouped neighbour.
 *   2. A sample left with neighbours (all taken by step 1) joins the group
 *      of its nearest one (ties: the smaller id).
 *   3. Every other sample is alone.
 * So every member is within the threshold of its centre or of a member
 * the centre took; one borderline pair adds at most one sample to a
 * group and never merges two groups.  The result depends neither on the
 * input order nor on ids beyond ties, and samples with no pair within
 * the threshold of a group change nothing in it, except through the
 * column mean the metric subtracts (a borderline pair can cross the
 * threshold when many samples are added).  Every sample with a neighbour
 * within the threshold is in a group (nn_distance in the table agrees).
 *
 * Output order is deterministic and independent of the input order and of
 * thread counts: members ascending by sample id, groups ascending by their
 * smallest member.  Only groups of two or more are listed.
 *
 * Default threshold (NEARDUP_THRESH_DEFAULT 0.09): measured on the quality
 * set of tests/quality/test_neardup_quality.c (synthetic photographs, 300
 * originals x 19 edits: recall >= 0.99 for every edit but crops, no false
 * pair) and on real photographs with tests/bench/bench_neardup.py; see
 * docs/ARCHITECTURE.md "Image features and near duplicates".  Distances
 * depend on the whole set (the column mean is subtracted), so a threshold
 * is a property of the data set as much as of the pair.
 */
#ifndef CURATE_NEARDUP_H
#define CURATE_NEARDUP_H

#include <stddef.h>
#include <stdint.h>

#include "knn.h"

#define NEARDUP_THRESH_DEFAULT 0.09

/* Groups in CSR form: members of group g are ids[off[g] .. off[g+1]).
 * All arrays owned by the struct; free with neardup_groups_free(). */
struct neardup_groups {
  size_t ngroups;
  size_t *off;       /* ngroups + 1 entries (NULL when ngroups == 0) */
  uint64_t *ids;
};

/* Samples whose 16-byte content hashes are equal.  ids[i] and hash[i]
 * describe one sample (callers pass only samples with SAMPLE_HASHED set).
 * Returns 0 with *ret filled (owned by the caller), -EINVAL (NULL arrays
 * with n > 0), -ENOMEM; on failure *ret is empty. */
int neardup_exact(const uint64_t *ids, const uint8_t (*hash)[16], size_t n,
                  struct neardup_groups *ret);

/* Near-duplicate groups of n embeddings x (n rows x d, row-major, not
 * modified: a centred copy is made), ids[i] the sample of row i.
 * thresh: cosine distance on mean-centred rows, in [0, 2];
 * NEARDUP_THRESH_DEFAULT is a good start.  opts: knn tuning (NULL =
 * defaults).  Rows with identical vectors are one row for the pair search
 * (one neighbour when centres are weighed) and all land in that row's
 * group, so thousands of copies (blank frames) are no clique of n^2 pairs.
 * Pair lists are bounded (max(2^22, 64 n) entries): a threshold that links
 * far more pairs than that returns -E2BIG.
 * Returns 0 with *ret filled (owned), -EINVAL (bad arguments, NaN in x),
 * -E2BIG, -ENOMEM; on failure *ret is empty. */
int neardup_near(const float *x, size_t n, size_t d, const uint64_t *ids,
                 double thresh, const struct knn_opts *opts,
                 struct neardup_groups *ret);

/* Frees the arrays and empties *g; NULL and empty groups are fine. */
void neardup_groups_free(struct neardup_groups *g);

#endif
