/* similarity.c - the k-NN / uniqueness facade: copy, centre and normalise,
 * pick the exact or the HNSW backend, and hand back plain arrays.
 *
 * It owns no state between calls and keeps no index: a call builds what it
 * needs and frees it.  Not here: the distance kernels (knn.c, hnsw.c), the
 * score formula (uniqueness.c), caching an index in the store (a caller
 * can keep hnsw_save() bytes with store_rec_put()).
 */
#include "similarity.h"

#include "hnsw.h"
#include "knn.h"
#include "uniqueness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(SIM_NONE == KNN_NONE && SIM_NONE == HNSW_NONE,
               "one 'no neighbour' index for every backend");

enum sim_method sim_choose(size_t n, const struct sim_opts *o)
{
  size_t lim = o && o->exact_max ? o->exact_max : SIM_EXACT_MAX;

  if (o && o->method != SIM_AUTO)
    return o->method;
  return n <= lim ? SIM_EXACT : SIM_HNSW;
}

static int check_opts(const struct sim_opts *o)
{
  if (!o)
    return 0;
  if (o->method != SIM_AUTO && o->method != SIM_EXACT &&
      o->method != SIM_HNSW)
    return -EINVAL;
  if (o->hnsw_ef_search > HNSW_MAX_EF)
    return -EINVAL;
  return 0;
}

/* Runs the chosen backend on already-normalised rows. */
static int knn_normalised(const float *x, size_t n, size_t dim, size_t k,
                          uint32_t *ret_idx, float *ret_dist,
                          const struct sim_opts *o)
{
  unsigned nt = o ? o->nthreads : 0;

  if (sim_choose(n, o) == SIM_EXACT) {
    struct knn_opts ko = { .nthreads = nt, .stop = o ? o->stop : NULL };

    return knn_exact(x, n, dim, k, &ko, ret_idx, ret_dist);
  } else {
    struct hnsw_params hp = {
      .m = o ? o->hnsw_m : 0,
      .ef_construction = o ? o->hnsw_ef_construction : 0,
      .nthreads = nt,
      .seed = o ? o->seed : 0,
      .stop = o ? o->stop : NULL,
    };
    struct hnsw *h;
    int r = hnsw_build(x, n, dim, &hp, &h);

    if (r < 0)
      return r;
    r = hnsw_knn_all(h, k, o ? o->hnsw_ef_search : 0, nt,
                     o ? o->stop : NULL, ret_idx, ret_dist);
    hnsw_free(h);
    return r;
  }
}

int sim_knn(const float *X, size_t n, size_t dim, size_t k,
            uint32_t *ret_idx, float *ret_dist, const struct sim_opts *o)
{
  float *x;
  int r;

  if (dim == 0 || k == 0 || k > KNN_MAX_K || n >= SIM_NONE ||
      (n > 0 && (!X || !ret_idx || !ret_dist)) ||
      (n && dim > SIZE_MAX / sizeof(float) / n) || (n && k > SIZE_MAX / n))
    return -EINVAL;
  r = check_opts(o);
  if (r < 0 || n == 0)
    return r;
  if (o && o->nthreads > 64)
    return -EINVAL;

  /* Private copy: the caller's vectors stay untouched and the backends
   * get centred unit rows. */
  x = malloc(n * dim * sizeof(*x));
  if (!x)
    return -ENOMEM;
  memcpy(x, X, n * dim * sizeof(*x));
  r = knn_center_normalize(x, n, dim);
  if (r == 0)
    r = knn_normalised(x, n, dim, k, ret_idx, ret_dist, o);
  free(x);
  return r;
}

int sim_uniqueness(const float *X, size_t n, size_t dim, double *ret_scores,
                   const struct sim_opts *o)
{
  uint32_t *idx;
  float *dist;
  int r;

  if (dim == 0 || n >= SIM_NONE || (n > 0 && (!X || !ret_scores)) ||
      (n && dim > SIZE_MAX / sizeof(float) / n))
    return -EINVAL;
  r = check_opts(o);
  if (r < 0 || n == 0)
    return r;
  if (n <= UNIQ_K) {
    /* The reference rule: too few samples to compare, all score 1.  The
     * input is still checked so bad vectors fail the same way at any n. */
    for (size_t e = 0; e < n * dim; e++)
      if (!isfinite(X[e]))
        return -EINVAL;
    return uniq_scores(NULL, n, UNIQ_K, ret_scores);
  }

  idx = malloc(n * UNIQ_K * sizeof(*idx));
  dist = malloc(n * UNIQ_K * sizeof(*dist));
  if (!idx || !dist) {
    r = -ENOMEM;
    goto out;
  }
  r = sim_knn(X, n, dim, UNIQ_K, idx, dist, o);
  if (r == 0)
    r = uniq_scores(dist, n, UNIQ_K, ret_scores);
out:
  free(dist);
  free(idx);
  return r;
}
