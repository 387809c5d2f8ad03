/* neardup_i.h - what the grouping (neardup.c) shares with the search
 * for pairs (neardup_pairs.c): the rows the search compares and the pairs
 * of samples within the threshold, made into a graph.  Internal to
 * core/compute.  Ownership: rows_build() allocates rw->z, freed by the
 * caller; the pairs' array p is the caller's to free; pairs_graph() fills
 * a knn_graph the caller frees with knn_graph_free(). */
#ifndef CURATE_NEARDUP_I_H
#define CURATE_NEARDUP_I_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "knn.h"
#include "neardup.h"

/* The rows the search runs on, nu * (1 + nsub) of them: main vectors of
 * the distinct rows first, then the sub-window vectors of distinct row u
 * at nu + u * nsub + k; each centred on the origin and scaled to unit
 * norm (in double, row by row, so a row's values depend on nothing else
 * when the origin is fixed). */
struct rows {
  float *z;
  size_t nu, nsub, d, nr;
};

struct pair {
  uint32_t a, b;
  float d;
};

struct pairs {
  struct pair *p;
  size_t n, cap;
};

/* How many pairs (or graph entries) the long passes over them handle
 * between two looks at the stop flag. */
#define PAIRS_STOP_EVERY (1u << 16)

/* 0, or -ECANCELED once opts->stop is raised: between the steps of the
 * grouping, and within the sort of the pairs every PAIRS_STOP_EVERY
 * pairs. */
static inline int step_ok(const struct knn_opts *opts)
{
  return opts && opts->stop && __atomic_load_n(opts->stop, __ATOMIC_RELAXED)
             ? -ECANCELED : 0;
}

/* The distinct rows src[0..nu) of in, centred and normalised (with their
 * sub-window rows): 0 or -ENOMEM. */
int rows_build(const struct neardup_input *in, const size_t *src, size_t nu,
               struct rows *rw);

/* Step A: each main row's NEARDUP_K nearest rows, the pairs within the
 * threshold into ps (each sample's nearest distance beyond it into nn);
 * the rows whose list ends within the threshold, which may have more
 * neighbours, into capped (*ncapped of them) for step B.  0, -ENOMEM or
 * -ECANCELED. */
int pairs_knn(const struct rows *rw, double thresh,
              const struct knn_opts *opts, struct pairs *ps, double *nn,
              size_t *capped, size_t *ncapped);

/* Step B: every row within the threshold of the capped rows, under the
 * pair bound; 1 when the bound was hit (the capped rows keep their
 * NEARDUP_K nearest). */
int pairs_radius(const struct rows *rw, double thresh,
                 const struct knn_opts *opts, const size_t *capped,
                 size_t nc, size_t max_pairs, struct pairs *ps, double *nn);

/* The pairs (both directions, possibly repeated) as a graph of samples:
 * each pair once per side at its smallest distance, each list sorted by
 * distance then sample id.  -ECANCELED (opts), -ENOMEM. */
int pairs_graph(struct pairs *ps, size_t nu, const uint64_t *uid,
                const struct knn_opts *opts, struct knn_graph *g);

#endif
