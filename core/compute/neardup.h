/* neardup.h - exact duplicates (equal content hashes) and near-duplicate
 * groups (embeddings within a cosine distance), as lists of sample ids.
 *
 * Pure compute over arrays the caller loaded (featstore_load_matrix() and
 * featstore_load_sub() for the embeddings; the samples' hash field for
 * content hashes): no store, no I/O.
 *
 * Distance of two samples: every vector is centred on an origin (a fixed
 * one, imgfeat_origin for computed features, so that a pair's distance
 * depends on its two images only; else the column mean of the set's main
 * vectors) and scaled to unit norm; the distance of two vectors is
 * 1 - cosine (docs/ALGORITHMS.md §1-2), and that of two samples the
 * smallest of: main against main, and NEARDUP_SUB_FACTOR times that of
 * one's main vector against any of the other's sub-window vectors
 * (imgfeat.h: a cropped copy's main vector meets its original's matching
 * sub-window).  The factor: a true crop meets its sub-window about as
 * closely as a re-encode meets its original (every 10 % crop of the
 * quality set within 0.045), while ten more comparisons per pair at the
 * full threshold would find far more unrelated pictures (the false pairs
 * of the quality set: 911 at factor 1, 31 at 2, against 31 for main
 * vectors alone).  The float search
 * (knn_exact_rows(), knn_radius_rows()) only proposes pairs; each is then
 * measured again in double, and that decides.
 *
 * Pairs: each sample's NEARDUP_K nearest vectors (own sub-windows left
 * out); a sample whose list ends within the threshold (it may have more)
 * is searched again by radius, under a pair bound of max(2^22, 64 n)
 * entries.  Past the bound (a dense cluster: thousands of near-blank
 * frames with noise) those samples keep their NEARDUP_K nearest vectors:
 * the result says how many (capped), the groups stay valid (every rule
 * below holds on the pairs found) but such a cluster is split into
 * several groups.  Memory: the rows (6 n d floats with sub-windows), n K
 * list entries, and the pairs.
 *
 * Verification: pairs found within the threshold are checked on the
 * samples' thumbnails (imgverify.h: the detail correlation after an
 * affine alignment), when the caller gives them; a pair scoring below
 * the verify level is no pair.  The global vectors keep edited copies
 * close, but different photographs of one layout (night landscapes,
 * screenshots of one program) come close too: the detail inside the
 * layout tells them apart.  A pair is scored at most once, with the
 * smaller sample id's thumbnail first, so its verdict depends on the two
 * images alone.  Scoring every pair would cost n^2 / 2 scores on a set of
 * n mutually close pictures that fail (frames of a static camera where
 * something moves, near-blank screenshots), so pairs are scored when the
 * grouping needs them, and each sample's neighbours are walked nearest
 * first (ties: the smaller id):
 *   0. Each sample's NEARDUP_VERIFY_K nearest pairs are scored first, on
 *      up to opts->nthreads threads (default 2).
 * Each sample's thumbnail is prepared once (imgverify_prepare(), 8 KB)
 * for all its pairs, for up to 128 MB of samples in pairs; beyond, per
 * pair.  Every other score is taken one at a time by the steps below.
 *
 * Groups are formed around centres, so that they do not chain:
 *   1. The next centre is the ungrouped sample with the largest weight:
 *      the sum of (threshold - distance) over its ungrouped neighbours
 *      whose pair is not known to fail (ties: the smaller id).  Its pairs
 *      with ungrouped neighbours not yet scored are scored now, nearest
 *      first, until NEARDUP_VERIFY_K times (1 + those that pass) of them
 *      are known to fail; it takes every ungrouped neighbour whose pair
 *      passes (none: it is no centre, and not weighed again).  Repeat
 *      while any ungrouped sample has weight.
 *   2. A sample left ungrouped joins the group of its nearest neighbour
 *      grouped in step 1 whose pair passes, scoring no more than
 *      NEARDUP_VERIFY_K failing pairs (past them, the nearest already
 *      known to pass).
 *   3. Every other sample is alone.
 * When every sample has at most NEARDUP_VERIFY_K neighbours, or when
 * every pair passes, every pair the rule reads is known when it is read,
 * and this is the rule on the graph of the pairs that pass, as when every
 * pair was scored.  Scores, at most: NEARDUP_VERIFY_K a sample in step 0;
 * in step 1 NEARDUP_VERIFY_K failing ones a sample, NEARDUP_VERIFY_K more
 * and one for each pass (a pass makes a member: n in all); in step 2 and
 * for nn_dist, NEARDUP_VERIFY_K + 1 a sample.  So linear in n whatever
 * the pairs; on a set where every pair fails, step 0 alone (the pairs are
 * shared: about 20 scores a sample).  A sample with one passing pair in
 * NEARDUP_VERIFY_K failing ones keeps looking, so a passing part of a
 * large failing set stays one group.
 * So every member passes with its centre or (step 2) with a member the
 * centre took; one borderline pair adds at most one sample to a group
 * and never merges two groups.  Every decision on a sample depends only
 * on the pairs within the threshold of the connected part it lies in
 * and their scores, so with a fixed origin, samples added with no pair
 * within the threshold of an existing sample leave every existing group
 * exactly as it was (the quality test checks it).  The result does not
 * depend on the input order or on thread counts.  A sample is in a
 * group exactly when its nn_dist is <= the threshold: for a sample in a
 * group, nn_dist is its nearest passing pair (walked as in step 2 over
 * every neighbour; past the failing pairs it may score, the nearest
 * known to pass once the groups are made); a sample alone has no pair
 * known to pass and scores no more: its nn_dist is the nearest sample
 * beyond the threshold, NaN when every candidate was within it.
 *
 * Output order is deterministic and independent of the input order and of
 * thread counts: members ascending by sample id, groups ascending by their
 * smallest member.  Only groups of two or more are listed.
 *
 * Default threshold (NEARDUP_THRESH_DEFAULT 0.09): measured on the quality
 * set of tests/quality/test_neardup_quality.c (synthetic photographs, 300
 * originals x 19 edits) and on real photographs with
 * tests/bench/bench_neardup.py; see docs/ARCHITECTURE.md "Image features
 * and near duplicates".
 */
#ifndef CURATE_NEARDUP_H
#define CURATE_NEARDUP_H

#include <stddef.h>
#include <stdint.h>

#include "knn.h"

#define NEARDUP_THRESH_DEFAULT 0.09
/* A sub-window match counts at this multiple of its distance (above). */
#define NEARDUP_SUB_FACTOR 2
/* Nearest vectors listed per sample before the radius search. */
#define NEARDUP_K 64
/* Verification: the nearest pairs of each sample scored first, and the
 * failing pairs (per pass found, plus one) after which a sample stops
 * scoring more (above). */
#define NEARDUP_VERIFY_K 32

/* Groups in CSR form: members of group g are ids[off[g] .. off[g+1]).
 * All arrays owned by the struct; free with neardup_groups_free(). */
struct neardup_groups {
  size_t ngroups;
  size_t *off;       /* ngroups + 1 entries (NULL when ngroups == 0) */
  uint64_t *ids;
  /* neardup_near*(): per input row, the distance to the nearest other
   * sample whose pair passed verification (0 for identical vectors, NaN
   * for a single row, or when every candidate within the threshold
   * failed verification); beyond the threshold it is the nearest from
   * this sample's side (its main vector against the others' vectors).
   * NULL from neardup_exact(). */
  float *nn_dist;
  /* Samples whose neighbours were cut at NEARDUP_K (pair bound hit). */
  size_t capped;
  /* Pairs of distinct vectors within the threshold found, and how many
   * of them were scored on their thumbnails (verification). */
  size_t pairs, checked;
};

/* The vectors neardup_near_in() compares. */
struct neardup_input {
  const float *x;         /* n main vectors, n x d row-major */
  size_t n, d;
  const uint64_t *ids;    /* ids[i]: the sample of row i */
  const float *sub;       /* NULL, or n x nsub vectors: (i * nsub + k) is
                             sub-window k of row i */
  size_t nsub;
  const float *mean;      /* NULL (the set's column mean), or the fixed
                             origin, d values */
  /* Verification (imgverify.h): NULL, or n thumbnails of IMGVERIFY_BYTES
   * (row i at i * IMGVERIFY_BYTES), with thumb_ok[i] 0 where row i has
   * none (its pairs are kept unverified).  A pair within the threshold
   * whose two thumbnails score below verify is dropped; verify <= 0
   * verifies nothing. */
  const uint8_t *thumbs;
  const uint8_t *thumb_ok;
  double verify;
};

/* Samples whose 16-byte content hashes are equal.  ids[i] and hash[i]
 * describe one sample (callers pass only samples with SAMPLE_HASHED set).
 * Returns 0 with *ret filled (owned by the caller), -EINVAL (NULL arrays
 * with n > 0), -ENOMEM; on failure *ret is empty. */
int neardup_exact(const uint64_t *ids, const uint8_t (*hash)[16], size_t n,
                  struct neardup_groups *ret);

/* Near-duplicate groups of the vectors of *in (not modified: centred
 * copies are made).  thresh: the distance above, in [0, 2];
 * NEARDUP_THRESH_DEFAULT is a good start.  opts: knn tuning (NULL =
 * defaults).  Rows with identical main vectors are one row for the pair
 * search (one neighbour when centres are weighed, with the sub-windows
 * and thumbnail of the copy with the smallest id) and all land in that
 * row's group, so thousands of copies (blank frames) are no clique of n^2
 * pairs.  A dense cluster past the pair bound is split, not refused
 * (ret->capped, above).
 * Returns 0 with *ret filled (owned: free it with neardup_groups_free()
 * even when it has no group, nn_dist is allocated for n >= 1), -EINVAL
 * (bad arguments, a NaN or infinite value, n * (1 + nsub) >= 2^32),
 * -ENOMEM, -ECANCELED (opts->stop, read by the k-NN and between the
 * thumbnail checks and grouping steps of each sample); on failure *ret
 * is empty. */
int neardup_near_in(const struct neardup_input *in, double thresh,
                    const struct knn_opts *opts, struct neardup_groups *ret);

/* neardup_near_in() on main vectors only, centred on the set's mean. */
int neardup_near(const float *x, size_t n, size_t d, const uint64_t *ids,
                 double thresh, const struct knn_opts *opts,
                 struct neardup_groups *ret);

/* Frees the arrays and empties *g; NULL and empty groups are fine. */
void neardup_groups_free(struct neardup_groups *g);

#endif
