/* hnsw.h - approximate nearest neighbours: a hierarchical navigable
 * small-world graph (HNSW) over float rows, for the cosine distance on
 * mean-centred, L2-normalised rows (docs/ALGORITHMS.md §1, §8).
 *
 * Metric: rows must already be centred and normalised (knn_center_normalize()
 * in knn.h); the distance is then 1 - dot(a, b), clamped to [0, 2], exactly
 * as knn_exact() reports it.  Nothing here checks the normalisation.
 *
 * Ownership: the index BORROWS the rows (x): it keeps the pointer, never
 * copies or frees them, and x must stay valid and unchanged until
 * hnsw_free().  The index owns only its graph.
 *
 * Memory (graph only, beyond the caller's n × d floats): per row 4·(1 + 2M)
 * bytes of layer-0 links, 1 byte of level, 4 bytes of upper-layer offset,
 * 8 bytes of duplicate grouping (group id, member list), plus on average
 * 4·(1 + M)/(M - 1) bytes of upper-layer links: with the default M = 16
 * about 150 bytes per row (measured 153 B/row on clustered data: 153 MB at
 * 1,000,000 rows, while the 128-d rows themselves are 512 MB).  A build
 * also holds, per worker, one 4-byte visited tag per row (4 MB per worker
 * at 1M) and small batch buffers, and briefly 20 bytes per row for the
 * duplicate grouping; hnsw_size() reports the graph's bytes.
 *
 * Exact duplicates (rows with identical bytes) are grouped: only the
 * lowest row of each group is linked into the graph, and every answer
 * expands a group into its rows (same distance, ascending row).
 *
 * Build: rows are inserted in index order, in batches.  Every row of a
 * batch is searched against the graph as it was before the batch (read
 * only, so workers need no locks) and also compared with every other row
 * of its batch, then chooses its links; the reverse links are then added,
 * grouped by target row, each target owned by one worker.  Neither phase
 * depends on which worker does what, so the graph is identical for any
 * number of threads, and is fully determined by (x, params incl. seed).
 * Levels are drawn from a hash of (seed, row), not from a shared stream.
 *
 * Distances use SIMD dot products chosen once per index from what the CPU
 * offers (AVX2+FMA or the SSE2 baseline on x86-64, generic vectors
 * elsewhere).  Results are reproducible on a given machine; two machines
 * with different instruction sets may differ in the last bit.
 *
 * Threads: an index is read-only after hnsw_build(); hnsw_search() and
 * hnsw_knn_all() may run concurrently on one index.
 *
 * Recall (scripts/bench.sh compute, clustered 128-d data, defaults):
 * recall@10 1.00 at 100,000 rows and 0.984 at 1,000,000 (ef 64: 0.959);
 * on unstructured, high intrinsic dimension data it collapses
 * (docs/ALGORITHMS.md §8).  Verify on a sample with knn_exact_rows() (knn.h)
 * where it matters.
 */
#ifndef CURATE_HNSW_H
#define CURATE_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Index stored where fewer than k other rows exist (same as KNN_NONE). */
#define HNSW_NONE UINT32_MAX

#define HNSW_DEF_M 16
#define HNSW_DEF_EF_CONSTRUCTION 100
#define HNSW_DEF_EF_SEARCH 96
#define HNSW_MAX_M 64
#define HNSW_MAX_EF 4096
#define HNSW_SAVE_HDR 56

/* Build parameters; a NULL pointer or a zero field means the default. */
struct hnsw_params {
  unsigned m;               /* links per row on upper layers, 2M on layer
                               0: default 16, range 2..HNSW_MAX_M */
  unsigned ef_construction; /* candidate list while inserting: default 100,
                               max HNSW_MAX_EF */
  unsigned nthreads;        /* workers including the caller: default 2,
                               max 64 */
  uint64_t seed;            /* level draws; 0 is a valid seed */
  /* When set, read (atomically) before each batch of at most 128 rows:
   * once nonzero the build gives up with -ECANCELED, as knn_opts.stop
   * makes an exact k-NN do (knn.h).  A build over a million rows is
   * minutes of work; its owner (a daemon being unmounted) gets it back
   * within one batch.  Borrowed: it must outlive the call. */
  const int *stop;
};

struct hnsw; /* opaque */

/* Build an index over n rows of d floats (row-major, normalised, borrowed:
 * see above).  *ret_index is owned by the caller (hnsw_free()).
 * Returns 0, -EINVAL (x NULL with n > 0, d == 0, n >= HNSW_NONE, bad
 * params, ret_index NULL), -ENOMEM, -ECANCELED (params->stop);
 * *ret_index is NULL on failure. */
int hnsw_build(const float *x, size_t n, size_t d,
               const struct hnsw_params *params, struct hnsw **ret_index);

/* Frees the graph (not the rows); NULL is fine. */
void hnsw_free(struct hnsw *h);

/* Bytes held by the graph (links, levels, offsets); excludes the rows. */
size_t hnsw_size(const struct hnsw *h);

/* The k approximate nearest rows of one query vector q (d floats,
 * normalised the same way as the rows; it need not be a row).  Searches with
 * a candidate list of max(ef, k) (ef 0 = HNSW_DEF_EF_SEARCH).
 * ret_idx / ret_dist (k each, caller-allocated): ascending distance, ties by
 * lower index; *ret_found (may be NULL) is the number of entries filled, the
 * tail holds HNSW_NONE / INFINITY.  Allocates a per-call visited set of
 * 4·n bytes, so for the rows themselves use hnsw_knn_all().
 * Returns 0, -EINVAL (NULL arguments, k == 0 or > HNSW_MAX_EF, ef too
 * large), -ENOMEM. */
int hnsw_search(const struct hnsw *h, const float *q, size_t k, size_t ef,
                uint32_t *ret_idx, float *ret_dist, size_t *ret_found);

/* For every row i of the index, its k nearest OTHER rows (self excluded,
 * duplicates of i kept with distance 0), like knn_exact() but approximate:
 * ret_idx / ret_dist are n × k, row-major, caller-allocated, ascending
 * distance, ties by lower index; when n - 1 < k the tail of each row holds
 * HNSW_NONE / INFINITY.  A row whose search reaches fewer than
 * min(k, n - 1) other rows (a graph region cut off from the entry point;
 * rare) is answered by a scan of all rows instead, so every row is full.
 * ef as for hnsw_search(); nthreads 0 = 2.  Results do not depend on
 * nthreads.  stop (NULL or borrowed) is read atomically before each
 * chunk of 32 rows, as hnsw_params.stop in a build.
 * Returns 0, -EINVAL, -ENOMEM, -ECANCELED (stop); outputs may be partly
 * written on failure. */
int hnsw_knn_all(const struct hnsw *h, size_t k, size_t ef,
                 unsigned nthreads, const int *stop, uint32_t *ret_idx,
                 float *ret_dist);

/* Serialise the graph (not the rows) into out (appended; out's own limit
 * applies).  Layout (host byte order; a cache, to be loaded on the same
 * kind of machine): a HNSW_SAVE_HDR-byte header (magic, version, n, d, M,
 * ef_construction, seed, entry row, top level, upper-list length), the n
 * levels as bytes, the layer-0 lists (n × (1 + 2M) uint32: count, links),
 * then the pooled upper-layer lists (uint32).
 * Returns 0, -EINVAL, -ENOMEM / -E2BIG from buf_append(). */
int hnsw_save(const struct hnsw *h, struct buf *out);

/* Rebuild an index from hnsw_save() bytes over the same rows x (borrowed as
 * for hnsw_build()).  Every field and link is checked against n and d, so
 * stale or corrupt bytes give -EBADMSG, never a bad graph; the rows
 * themselves cannot be checked, so the caller keys the cache by a version
 * of its data.  Returns 0, -EINVAL, -EBADMSG, -ENOMEM. */
int hnsw_load(const float *x, size_t n, size_t d, const void *bytes,
              size_t len, struct hnsw **ret_index);

#endif
