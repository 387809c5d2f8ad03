/* neardup_pairs.c - the search for pairs of near duplicates
 * (neardup_i.h): the distinct rows centred and normalised, the pairs
 * proposed by knn_exact_rows() (and knn_radius_rows() where a list is
 * full) measured again in double, then sorted into a graph of samples.
 * No store, no I/O. */
#define _GNU_SOURCE /* qsort_r */
#include "neardup_i.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- the compared rows ---- */

static size_t sample_of(const struct rows *rw, size_t j)
{
  return j < rw->nu ? j : (j - rw->nu) / rw->nsub;
}

static void centre_row(float *dst, const float *v, const double *mean,
                       size_t d)
{
  double ss = 0;

  for (size_t i = 0; i < d; i++) {
    double c = (double)v[i] - mean[i];
    ss += c * c;
  }
  for (size_t i = 0; i < d; i++)
    dst[i] = ss > 0 ? (float)(((double)v[i] - mean[i]) / sqrt(ss)) : 0.0f;
}

int rows_build(const struct neardup_input *in, const size_t *src,
               size_t nu, struct rows *rw)
{
  size_t d = in->d, ns = in->sub ? in->nsub : 0;
  double *mean = calloc(d, sizeof(*mean));

  rw->nu = nu;
  rw->nsub = ns;
  rw->d = d;
  rw->nr = nu * (1 + ns);
  rw->z = rw->nr <= SIZE_MAX / d / sizeof(float)
              ? malloc(rw->nr * d * sizeof(float)) : NULL;
  if (!mean || !rw->z) {
    free(mean);
    return -ENOMEM;
  }
  if (in->mean) {
    for (size_t i = 0; i < d; i++)
      mean[i] = in->mean[i];
  } else {
    for (size_t u = 0; u < nu; u++)
      for (size_t i = 0; i < d; i++)
        mean[i] += in->x[src[u] * d + i];
    for (size_t i = 0; i < d; i++)
      mean[i] /= (double)nu;
  }
  for (size_t u = 0; u < nu; u++) {
    centre_row(rw->z + u * d, in->x + src[u] * d, mean, d);
    for (size_t k = 0; k < ns; k++)
      centre_row(rw->z + (nu + u * ns + k) * d,
                 in->sub + (src[u] * ns + k) * d, mean, d);
  }
  free(mean);
  return 0;
}

/* The distance of two rows, in double: the search (float sgemm, whose
 * rounding depends on tiles) only proposes pairs, this decides, so that
 * a pair's fate depends on its two rows alone. */
static double row_dist(const struct rows *rw, size_t a, size_t b)
{
  const float *p = rw->z + a * rw->d, *q = rw->z + b * rw->d;
  double s = 0, v;

  for (size_t i = 0; i < rw->d; i++)
    s += (double)p[i] * q[i];
  v = 1 - s;
  return v < 0 ? 0 : v > 2 ? 2 : v;
}

/* ---- pairs of samples ---- */


static int pair_add(struct pairs *ps, size_t a, size_t b, double d)
{
  if (ps->n + 2 > ps->cap) {
    size_t nc = ps->cap ? 2 * ps->cap : 4096;
    struct pair *p = realloc(ps->p, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    ps->p = p;
    ps->cap = nc;
  }
  ps->p[ps->n++] = (struct pair){ (uint32_t)a, (uint32_t)b, (float)d };
  ps->p[ps->n++] = (struct pair){ (uint32_t)b, (uint32_t)a, (float)d };
  return 0;
}

/* Row a's candidates j[0 .. m) (rows of rw; KNN_NONE skipped): the pairs
 * within thresh, and the nearest other sample's distance beyond it into
 * *nn (those within it are the pairs, which verification may drop). */
static int take_row(const struct rows *rw, size_t a, const uint32_t *j,
                    size_t m, double thresh, struct pairs *ps, double *nn)
{
  for (size_t e = 0; e < m; e++) {
    size_t b;
    double dd;
    if (j[e] == KNN_NONE || (b = sample_of(rw, j[e])) == a)
      continue;
    dd = row_dist(rw, a, j[e]) * (j[e] < rw->nu ? 1 : NEARDUP_SUB_FACTOR);
    if (dd > thresh && dd < *nn)
      *nn = dd;
    if (dd <= thresh) {
      int r = pair_add(ps, a, b, dd);
      if (r < 0)
        return r;
    }
  }
  return 0;
}

/* Margin over the threshold for the float search, so that no pair within
 * it in double is lost to float rounding. */
#define SEARCH_MARGIN 1e-4

/* Step A: each main row's NEARDUP_K nearest rows.  A row whose list ends
 * within the threshold may have more neighbours: those rows (capped[])
 * are searched again by radius below. */
int pairs_knn(const struct rows *rw, double thresh,
              const struct knn_opts *opts, struct pairs *ps,
              double *nn, size_t *capped, size_t *ncapped)
{
  size_t k = NEARDUP_K < rw->nr - 1 ? NEARDUP_K : rw->nr - 1;
  size_t *q = malloc(rw->nu * sizeof(*q));
  uint32_t *idx = malloc(rw->nu * k * sizeof(*idx));
  float *dist = malloc(rw->nu * k * sizeof(*dist));
  int r = -ENOMEM;

  *ncapped = 0;
  if (!q || !idx || !dist)
    goto out;
  for (size_t a = 0; a < rw->nu; a++)
    q[a] = a;
  r = knn_exact_rows(rw->z, rw->nr, rw->d, q, rw->nu, k, opts, idx, dist);
  for (size_t a = 0; r == 0 && a < rw->nu; a++) {
    /* every row's candidates measured again in double: a stop is seen
     * every 1,024 rows (about 64,000 candidates) */
    if (a % 1024 == 1023 && (r = step_ok(opts)) < 0)
      break;
    nn[a] = INFINITY;
    r = take_row(rw, a, idx + a * k, k, thresh, ps, &nn[a]);
    if (k == NEARDUP_K && dist[a * k + k - 1] <= thresh + SEARCH_MARGIN)
      capped[(*ncapped)++] = a;
  }
out:
  free(q);
  free(idx);
  free(dist);
  return r;
}

/* Step B: every row within the threshold of the capped rows, under the
 * pair bound; 1 when the bound was hit (the capped rows keep their
 * NEARDUP_K nearest). */
int pairs_radius(const struct rows *rw, double thresh,
                 const struct knn_opts *opts, const size_t *capped,
                 size_t nc, size_t max_pairs, struct pairs *ps,
                 double *nn)
{
  struct knn_graph g = { 0 };
  int r = knn_radius_rows(rw->z, rw->nr, rw->d, capped, nc,
                          thresh + SEARCH_MARGIN, max_pairs, opts, &g);

  if (r == -E2BIG)
    return 1;
  for (size_t q = 0; r == 0 && q < nc; q++)
    r = take_row(rw, capped[q], g.idx + g.off[q], g.off[q + 1] - g.off[q],
                 thresh, ps, &nn[capped[q]]);
  knn_graph_free(&g);
  return r;
}

/* Within one row: by the other row, then distance. */
static int cmp_pair(const void *x, const void *y)
{
  const struct pair *a = x, *b = y;

  if (a->b != b->b)
    return a->b < b->b ? -1 : 1;
  return a->d < b->d ? -1 : a->d > b->d;
}

/* Within one row: by distance, then the other sample's id (not its row,
 * which follows the input order): the order in which a sample's pairs
 * are checked and walked below. */
static int cmp_pair_dist(const void *x, const void *y, void *arg)
{
  const struct pair *a = x, *b = y;
  const uint64_t *uid = arg;

  if (a->d != b->d)
    return a->d < b->d ? -1 : 1;
  return uid[a->b] < uid[b->b] ? -1 : uid[a->b] > uid[b->b];
}


/* Puts the pairs in order of their first row, in place: each pair is
 * swapped straight into its row's range (an American flag sort), one
 * pass of n swaps, with no second array of pairs at the moment they are
 * at their peak.  off (nu + 1 entries, zeroed) gets the ranges: row a's
 * pairs are [off[a], off[a + 1]); next is nu entries of scratch. */
static int bucket_by_row(struct pair *p, size_t n, size_t nu, size_t *off,
                         size_t *next, const struct knn_opts *opts)
{
  size_t moved = 0;

  for (size_t i = 0; i < n; i++)
    off[p[i].a + 1]++;
  for (size_t a = 0; a < nu; a++)
    off[a + 1] += off[a];
  memcpy(next, off, nu * sizeof(*next));
  for (size_t a = 0; a < nu; a++) {
    while (next[a] < off[a + 1]) {
      struct pair x = p[next[a]];
      size_t j;
      if (x.a == a) {
        next[a]++;
        continue;
      }
      j = next[x.a]++;   /* x's place; what was there comes here */
      p[next[a]] = p[j];
      p[j] = x;
      if (++moved % PAIRS_STOP_EVERY == 0 && step_ok(opts) < 0)
        return -ECANCELED;
    }
  }
  return 0;
}

/* The pairs (both directions, possibly repeated) as a graph of samples:
 * each pair once per side at its smallest distance, each list sorted by
 * distance then sample id.  Sorted row by row, so that a stop (opts) is
 * seen every PAIRS_STOP_EVERY pairs: one sort of millions of pairs took
 * over a second that an unmount waited for.  -ECANCELED then. */
int pairs_graph(struct pairs *ps, size_t nu, const uint64_t *uid,
                const struct knn_opts *opts, struct knn_graph *g)
{
  size_t m = 0, start = 0, since = 0, *next = malloc((nu ? nu : 1) *
                                                      sizeof(*next));
  int r;

  g->n = nu;
  g->off = calloc(nu + 1, sizeof(*g->off));
  if (!next || !g->off) {
    free(next);
    return -ENOMEM;
  }
  r = bucket_by_row(ps->p, ps->n, nu, g->off, next, opts);
  free(next);
  if (r < 0)
    return r;
  /* Row by row: by other row and distance, the repeats dropped (the
   * first, nearest, kept), then by distance and sample id; the rows
   * close up towards the front as they go. */
  for (size_t a = 0; a < nu; a++) {
    size_t end = g->off[a + 1], k = m;
    if (end > start) {
      struct pair *row = ps->p + start;
      qsort(row, end - start, sizeof(*row), cmp_pair);
      for (size_t i = 0; i < end - start; i++)
        if (k == m || row[i].b != ps->p[k - 1].b)
          ps->p[k++] = row[i];
    }
    if (k > m)
      qsort_r(ps->p + m, k - m, sizeof(*ps->p), cmp_pair_dist, (void *)uid);
    since += end - start;
    start = end;
    g->off[a + 1] = m = k;
    if (since >= PAIRS_STOP_EVERY) {
      since = 0;
      if ((r = step_ok(opts)) < 0)
        return r;
    }
  }
  g->idx = malloc((m ? m : 1) * sizeof(*g->idx));
  g->dist = malloc((m ? m : 1) * sizeof(*g->dist));
  if (!g->idx || !g->dist)
    return -ENOMEM;
  for (size_t i = 0; i < m; i++) {
    g->idx[i] = ps->p[i].b;
    g->dist[i] = ps->p[i].d;
  }
  return 0;
}

