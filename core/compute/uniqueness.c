/* uniqueness.c - uniqueness scores from k-NN distances, greedy removal of
 * near duplicates, the keep-count bisection and a stable ranking.
 *
 * Follows the reference formulas (docs/ALGORITHMS.md §1, §2) literally, with
 * the corner cases the reference leaves to numpy (0/0, endless doubling) given
 * a defined result; each such choice is stated in uniqueness.h.
 *
 * Does not compute distances (knn.c does) and does not decide which
 * samples are exact duplicates by content hash (the store does).
 */
#include "uniqueness.h"

#include "knn.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int uniq_scores(const float *nn_dist, size_t n, size_t ld,
                double *ret_scores)
{
  double max = 0;

  if (n > 0 && !ret_scores)
    return -EINVAL;
  if (n <= UNIQ_K) {
    for (size_t i = 0; i < n; i++)
      ret_scores[i] = 1;
    return 0;
  }
  if (!nn_dist || ld < UNIQ_K)
    return -EINVAL;

  for (size_t i = 0; i < n; i++) {
    const float *d = nn_dist + i * ld;

    /* !(x >= 0) also rejects NaN; ascending order matters because the
     * weights are attached to ranks. */
    if (!(d[0] >= 0) || !isfinite(d[2]) || !(d[0] <= d[1]) ||
        !(d[1] <= d[2]))
      return -EINVAL;
    ret_scores[i] = (UNIQ_W1 * d[0] + UNIQ_W2 * d[1] + UNIQ_W3 * d[2]) /
                    UNIQ_K;
    if (ret_scores[i] > max)
      max = ret_scores[i];
  }
  for (size_t i = 0; i < n; i++)
    ret_scores[i] = max > 0 ? ret_scores[i] / max : 1;
  return 0;
}

int uniq_nbr_graph(void *ud, size_t i, double t, const uint32_t **ret_idx,
                   const float **ret_dist, size_t *ret_n)
{
  const struct knn_graph *g = ud;

  (void)t; /* lists are sorted, but the caller filters anyway */
  if (!g || i >= g->n)
    return -EINVAL;
  *ret_idx = g->idx + g->off[i];
  *ret_dist = g->dist + g->off[i];
  *ret_n = g->off[i + 1] - g->off[i];
  return 0;
}

int uniq_nbr_graph_stop(void *ud, size_t i, double t,
                        const uint32_t **ret_idx, const float **ret_dist,
                        size_t *ret_n)
{
  struct uniq_graph_stop *gs = ud;

  if (gs->stop && gs->calls++ % UNIQ_STOP_EVERY == 0 &&
      __atomic_load_n(gs->stop, __ATOMIC_RELAXED))
    return -ECANCELED;
  return uniq_nbr_graph((void *)gs->g, i, t, ret_idx, ret_dist, ret_n);
}

int uniq_greedy(size_t n, uniq_nbr_fn nbr, void *ud, double t,
                bool *ret_keep, size_t *ret_kept)
{
  size_t kept = n;

  if (isnan(t) || n >= UINT32_MAX)
    return -EINVAL;
  if (n > 0 && (!nbr || !ret_keep))
    return -EINVAL;
  for (size_t i = 0; i < n; i++)
    ret_keep[i] = true;

  for (size_t i = 0; i < n; i++) {
    const uint32_t *idx;
    const float *dist;
    size_t m;
    int r;

    if (!ret_keep[i])
      continue;
    r = nbr(ud, i, t, &idx, &dist, &m);
    if (r < 0)
      return r;
    for (size_t e = 0; e < m; e++) {
      size_t j = idx[e];

      if (j >= n)
        return -EINVAL;
      /* Only later samples: an earlier one was either kept (and already
       * removed i if close) or removed (and removes nothing). */
      if (j > i && (double)dist[e] <= t && ret_keep[j]) {
        ret_keep[j] = false;
        kept--;
      }
    }
  }
  if (ret_kept)
    *ret_kept = kept;
  return 0;
}

size_t uniq_keep_count(size_t n, double fraction)
{
  double keep;

  if (isnan(fraction))
    return n;
  keep = fmin(fmax(1.0 - fraction, 0.0), 1.0);
  /* nearbyint() in the default rounding mode rounds halves to even, the
   * rule of Python's round() used by the reference. */
  return (size_t)nearbyint(keep * (double)n);
}

int uniq_find_unique(size_t n, uniq_nbr_fn nbr, void *ud, int64_t num_keep,
                     double init_thresh, bool *ret_keep, size_t *ret_kept,
                     double *ret_thresh)
{
  double thresh, lower = 0, upper = NAN;
  size_t kept = 0, prev = 0, target;
  bool have_prev = false;
  int r;

  if (!ret_kept || !ret_thresh || (n > 0 && !ret_keep))
    return -EINVAL;
  if (num_keep <= 0 || (uint64_t)num_keep >= n) {
    bool all = num_keep > 0;

    for (size_t i = 0; i < n; i++)
      ret_keep[i] = all;
    *ret_kept = all ? n : 0;
    *ret_thresh = NAN;
    return 0;
  }
  target = (size_t)num_keep;
  thresh = init_thresh > 0 ? init_thresh : 1; /* NaN > 0 is false */

  for (int iter = 0;; iter++) {
    r = uniq_greedy(n, nbr, ud, thresh, ret_keep, &kept);
    if (r < 0)
      return r;
    if (kept == target)
      break;
    if (have_prev && kept == prev && !isnan(upper) && upper - lower < 1e-6)
      break;
    /* Not in the reference: see UNIQ_BISECT_MAX_ITER in the header. */
    if (iter + 1 >= UNIQ_BISECT_MAX_ITER)
      break;
    prev = kept;
    have_prev = true;
    if (kept < target) {
      upper = thresh;
      thresh = (lower + thresh) / 2;
    } else {
      lower = thresh;
      thresh = isnan(upper) ? thresh * 2 : (thresh + upper) / 2;
    }
    if (!isfinite(thresh)) {
      /* Undo the step so the reported threshold matches ret_keep. */
      thresh = lower;
      break;
    }
  }
  *ret_kept = kept;
  *ret_thresh = thresh;
  return 0;
}

struct rank_item {
  double score;
  size_t i;
};

static int cmp_rank(const void *pa, const void *pb)
{
  const struct rank_item *a = pa, *b = pb;
  bool na = isnan(a->score), nb = isnan(b->score);

  if (na != nb)
    return na ? 1 : -1;
  if (!na && a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

int uniq_rank(const double *scores, const bool *keep, size_t n,
              size_t *ret_order, size_t *ret_count)
{
  struct rank_item *it;
  size_t m = 0;

  if (!ret_count || (n > 0 && (!scores || !ret_order)))
    return -EINVAL;
  *ret_count = 0;
  if (n == 0)
    return 0;
  it = malloc(n * sizeof(*it));
  if (!it)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (!keep || keep[i]) {
      it[m].score = scores[i];
      it[m].i = i;
      m++;
    }
  qsort(it, m, sizeof(*it), cmp_rank);
  for (size_t k = 0; k < m; k++)
    ret_order[k] = it[k].i;
  *ret_count = m;
  free(it);
  return 0;
}
