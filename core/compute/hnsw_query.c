/* hnsw_query.c - the queries of an HNSW index (hnsw.h): one vector
 * (hnsw_search()) or every row against the others (hnsw_knn_all()).
 *
 * The graph answers with duplicate groups' leaders; each stands for its
 * group's rows at the same distance.  A row whose graph search reaches
 * fewer neighbours than it should (a region cut off from the entry point)
 * is answered by a scan of all rows, so hnsw_knn_all() never returns a
 * short row.  Queries only read the index, so any number may run at once.
 */
#include "hnsw_i.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Rows per work item in hnsw_knn_all(). */
#define QCHUNK 32

/* Exact top-k of q over all rows except `self` (HNSW_NONE for none): the
 * fallback for a row the graph search could not fill. */
static size_t scan_all(const struct hnsw *h, const float *q, uint32_t self,
                       size_t k, uint32_t *oi, float *od)
{
  size_t cnt = 0;

  for (uint32_t j = 0; j < h->n; j++) {
    struct cand e;
    size_t p;

    if (j == self)
      continue;
    e.d = dist_vec(h, q, j);
    e.id = j;
    if (cnt == k && !(e.d < od[k - 1]))
      continue; /* j ascends: an equal distance keeps the lower index */
    p = cnt < k ? cnt++ : k - 1;
    while (p > 0 && od[p - 1] > e.d) {
      od[p] = od[p - 1];
      oi[p] = oi[p - 1];
      p--;
    }
    od[p] = e.d;
    oi[p] = e.id;
  }
  return cnt;
}

/* Offers (dd, j) to the sorted list oi/od of *cnt <= k entries. */
static inline void offer(uint32_t *oi, float *od, size_t k, size_t *cnt,
                         float dd, uint32_t j)
{
  size_t p;

  if (*cnt == k &&
      !(dd < od[k - 1] || (dd == od[k - 1] && j < oi[k - 1])))
    return;
  p = *cnt < k ? (*cnt)++ : k - 1;
  while (p > 0 && (od[p - 1] > dd || (od[p - 1] == dd && oi[p - 1] > j))) {
    od[p] = od[p - 1];
    oi[p] = oi[p - 1];
    p--;
  }
  od[p] = dd;
  oi[p] = j;
}

/* One query: fills oi/od (k) and *ret_found.  The graph answers with group
 * leaders; each stands for its group's rows, at the same distance (the
 * bytes are identical), ascending by row, `self` left out. */
static int query_one(const struct hnsw *h, struct scratch *s,
                     const float *q, uint32_t self, size_t k, size_t ef,
                     uint32_t *oi, float *od, size_t *ret_found)
{
  size_t want = h->n - (self != HNSW_NONE);
  size_t nres = 0, got = 0;
  int r;

  if (want > k)
    want = k;
  if (h->n > 0) {
    struct cand ep = hnsw_descend(h, q, h->entry, h->maxlevel, 0);

    r = hnsw_search_layer(h, s, q, ep, ef, 0, &nres);
    if (r < 0)
      return r;
  }
  for (size_t t = 0; t < nres; t++) {
    uint32_t g = h->grp[s->res[t].id];
    size_t taken = 0;

    if (got == k && s->res[t].d > od[k - 1])
      break; /* results ascend: nothing later can enter */
    /* at most k rows of a group can be among the k nearest */
    for (uint32_t u = h->goff[g]; u < h->goff[g + 1] && taken < k; u++) {
      if (h->gmem[u] == self)
        continue;
      offer(oi, od, k, &got, s->res[t].d, h->gmem[u]);
      taken++;
    }
  }
  if (got < want)
    got = scan_all(h, q, self, k, oi, od);
  for (size_t t = got; t < k; t++) {
    oi[t] = HNSW_NONE;
    od[t] = INFINITY;
  }
  if (ret_found)
    *ret_found = got;
  return 0;
}

int hnsw_search(const struct hnsw *h, const float *q, size_t k, size_t ef,
                uint32_t *ret_idx, float *ret_dist, size_t *ret_found)
{
  struct scratch s;
  int r;

  if (!h || !q || !ret_idx || !ret_dist || k == 0 || k > HNSW_MAX_EF ||
      ef > HNSW_MAX_EF)
    return -EINVAL;
  if (ef == 0)
    ef = HNSW_DEF_EF_SEARCH;
  if (ef < k)
    ef = k;
  r = hnsw_scratch_init(&s, h, ef, 0, 0);
  if (r < 0)
    return r;
  r = query_one(h, &s, q, HNSW_NONE, k, ef, ret_idx, ret_dist, ret_found);
  hnsw_scratch_free(&s);
  return r;
}

struct qjob {
  const struct hnsw *h;
  size_t k, ef;
  uint32_t *oi;
  float *od;
  struct scratch *sc;
  const int *stop;     /* hnsw_knn_all()'s, borrowed */
  atomic_size_t next;
  atomic_int err;
};

static void phase_query(void *ctx, unsigned w)
{
  struct qjob *j = ctx;
  const struct hnsw *h = j->h;

  for (;;) {
    size_t c0 = atomic_fetch_add(&j->next, 1) * QCHUNK;

    if (c0 >= h->n || atomic_load(&j->err))
      return;
    if (j->stop && __atomic_load_n(j->stop, __ATOMIC_RELAXED)) {
      int zero = 0;

      atomic_compare_exchange_strong(&j->err, &zero, -ECANCELED);
      return;
    }
    for (size_t i = c0; i < c0 + QCHUNK && i < h->n; i++) {
      int r = query_one(h, &j->sc[w], row_of(h, (uint32_t)i), (uint32_t)i,
                        j->k, j->ef, j->oi + i * j->k, j->od + i * j->k,
                        NULL);

      if (r < 0) {
        int zero = 0;

        atomic_compare_exchange_strong(&j->err, &zero, r);
        return;
      }
    }
  }
}

int hnsw_knn_all(const struct hnsw *h, size_t k, size_t ef,
                 unsigned nthreads, const int *stop, uint32_t *ret_idx,
                 float *ret_dist)
{
  struct qjob j;
  unsigned nt = nthreads ? nthreads : DEF_THREADS;
  int r = 0;

  if (!h || k == 0 || k >= HNSW_MAX_EF || ef > HNSW_MAX_EF ||
      nt > MAX_THREADS || (h->n && (!ret_idx || !ret_dist)) ||
      (h->n && k > SIZE_MAX / h->n))
    return -EINVAL;
  if (h->n == 0)
    return 0;
  if (ef == 0)
    ef = HNSW_DEF_EF_SEARCH;
  if (ef < k + 1)
    ef = k + 1; /* room for the row itself */
  if (nt > (h->n + QCHUNK - 1) / QCHUNK)
    nt = (unsigned)((h->n + QCHUNK - 1) / QCHUNK);

  memset(&j, 0, sizeof(j));
  j.h = h;
  j.k = k;
  j.ef = ef;
  j.oi = ret_idx;
  j.od = ret_dist;
  j.stop = stop;
  atomic_init(&j.next, 0);
  atomic_init(&j.err, 0);
  j.sc = calloc(nt, sizeof(*j.sc));
  if (!j.sc)
    return -ENOMEM;
  for (unsigned w = 0; w < nt; w++) {
    r = hnsw_scratch_init(&j.sc[w], h, ef, 0, 0);
    if (r < 0)
      goto out;
  }
  hnsw_par_run(nt, phase_query, &j);
  r = atomic_load(&j.err);
out:
  for (unsigned w = 0; w < nt; w++)
    hnsw_scratch_free(&j.sc[w]);
  free(j.sc);
  return r;
}
