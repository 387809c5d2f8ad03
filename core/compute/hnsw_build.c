/* hnsw_build.c - hnsw_build(): inserts the rows (duplicate groups'
 * leaders) into the graph in deterministic parallel batches (hnsw_i.h).
 *
 * Build in batches (why: a lock-free, thread-count-independent scheme).
 * Rows are inserted in index order, B at a time (B doubles from 1 up to
 * BATCH_MAX, never more than the rows already in the graph):
 *   phase A (parallel over the batch's rows): search the frozen graph (no
 *     row of the batch is linked from it yet, so nobody writes what others
 *     read), add the other batch rows as candidates (so rows of one batch
 *     can link to each other, which matters when similar rows are adjacent
 *     in the input), choose this row's own links with the heuristic;
 *   phase B (parallel over target rows): the reverse links (j <- i for
 *     every link i -> j of the batch) are sorted by (layer, j, i); each
 *     (layer, j) group is handled by one worker, which appends the new
 *     sources, or re-runs the heuristic over old + new when the list would
 *     overflow;
 *   then the entry row is updated serially.
 * Every step is a pure function of the graph before the batch, so the
 * result does not depend on thread timing.  Candidates are ordered by
 * (distance, index), so ties are deterministic too.
 */
#include "hnsw_i.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Rows per batch at most: larger batches mean fewer thread start-ups but
 * more rows that see each other only by the in-batch scan (B - 1 extra
 * distances per row). */
#define BATCH_MAX 128
/* Below this many items a phase runs in the calling thread only. */
#define PAR_MIN 16

struct edge {
  uint32_t j; /* target */
  uint32_t i; /* source */
  uint32_t l;
};

struct build {
  struct hnsw *h;
  unsigned nt;
  struct scratch *sc; /* one per worker */
  /* current batch [b0, b0 + bn) and the graph it is inserted into */
  size_t b0, bn;
  uint32_t entry;
  unsigned maxlevel;
  bool empty;
  /* phase B */
  struct edge *edges;
  size_t nedges, edges_cap;
  size_t *groups; /* start of each (l, j) group in edges; ngroups + 1 */
  size_t ngroups;
  atomic_size_t next;
  atomic_int err;
};

static void build_fail(struct build *b, int r)
{
  int zero = 0;

  atomic_compare_exchange_strong(&b->err, &zero, r);
}

static unsigned draw_level(uint64_t seed, size_t i, double ml)
{
  uint64_t z = hnsw_mix64(seed ^ hnsw_mix64((uint64_t)i));
  double u = ((double)(z >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
  double lv = floor(-log(u) * ml);

  return lv > MAX_LEVEL ? MAX_LEVEL : (unsigned)lv;
}

/* Candidates for row i on layer l from the other rows of its batch (those
 * with a list on layer l), appended to pool. */
static size_t add_batch_cands(const struct build *b, const struct scratch *s,
                              unsigned l, struct cand *pool, size_t np)
{
  for (size_t t = 0; t + 1 < b->bn; t++)
    if (b->h->level[s->bd[t].id] >= l)
      pool[np++] = s->bd[t];
  return np;
}

static int insert_one(struct build *b, struct scratch *s, uint32_t i)
{
  struct hnsw *h = b->h;
  const float *q = row_of(h, i);
  unsigned li = h->level[i];
  size_t nb = 0;
  int r;

  /* Distances to the rest of the batch. */
  for (size_t t = 0; t < b->bn; t++) {
    uint32_t j = leader(h, b->b0 + t);

    if (j != i) {
      s->bd[nb].d = dist_vec(h, q, j);
      s->bd[nb].id = j;
      nb++;
    }
  }

  /* Layers above the current graph: only batch rows are there. */
  for (unsigned l = li; !b->empty && l > b->maxlevel; l--) {
    size_t np = add_batch_cands(b, s, l, s->pool, 0);

    qsort(s->pool, np, sizeof(*s->pool), hnsw_cmp_cand);
    hnsw_set_links(h, i, l, s->sel, hnsw_select_links(h, s->pool, np, h->m, s->sel));
  }
  if (b->empty) {
    for (unsigned l = li + 1; l-- > 0;) {
      size_t np = add_batch_cands(b, s, l, s->pool, 0);

      qsort(s->pool, np, sizeof(*s->pool), hnsw_cmp_cand);
      hnsw_set_links(h, i, l, s->sel, hnsw_select_links(h, s->pool, np, h->m, s->sel));
    }
    return 0;
  }

  {
    unsigned top = li < b->maxlevel ? li : b->maxlevel;
    struct cand ep = hnsw_descend(h, q, b->entry, b->maxlevel, top);

    for (unsigned l = top + 1; l-- > 0;) {
      size_t nres, np;

      r = hnsw_search_layer(h, s, q, ep, h->efc, l, &nres);
      if (r < 0)
        return r;
      memcpy(s->pool, s->res, nres * sizeof(*s->pool));
      np = add_batch_cands(b, s, l, s->pool, nres);
      qsort(s->pool, np, sizeof(*s->pool), hnsw_cmp_cand);
      if (np > h->efc)
        np = h->efc;
      hnsw_set_links(h, i, l, s->sel, hnsw_select_links(h, s->pool, np, h->m, s->sel));
      ep = s->res[0];
    }
  }
  return 0;
}

static void phase_insert(void *ctx, unsigned w)
{
  struct build *b = ctx;

  for (;;) {
    size_t t = atomic_fetch_add(&b->next, 1);
    int r;

    if (t >= b->bn || atomic_load(&b->err))
      return;
    r = insert_one(b, &b->sc[w], leader(b->h, b->b0 + t));
    if (r < 0) {
      build_fail(b, r);
      return;
    }
  }
}

/* Adds the sources of one (layer, target) group to the target's list. */
static void link_back(struct build *b, struct scratch *s, size_t g)
{
  struct hnsw *h = b->h;
  const struct edge *e = b->edges + b->groups[g];
  size_t ne = b->groups[g + 1] - b->groups[g];
  uint32_t j = e[0].j;
  unsigned l = e[0].l;
  size_t mmax = l ? h->m : h->m0;
  uint32_t *lk = links(h, j, l);
  size_t cnt = lk[0], np = 0, add = 0;

  /* Sources already linked (j may itself be a batch row that chose i)
   * are skipped. */
  for (size_t t = 0; t < ne; t++) {
    bool have = false;

    for (size_t u = 1; u <= cnt; u++)
      if (lk[u] == e[t].i) {
        have = true;
        break;
      }
    add += !have;
  }
  if (add == 0)
    return;
  if (cnt + add <= mmax) {
    size_t a = 0;

    for (size_t t = 0; t < ne; t++) {
      bool have = false;

      for (size_t u = 1; u <= cnt + a; u++)
        if (lk[u] == e[t].i) {
          have = true;
          break;
        }
      if (!have)
        lk[1 + cnt + a++] = e[t].i;
    }
    lk[0] = (uint32_t)(cnt + a);
    return;
  }

  /* Overflow: heuristic over old + new links, as seen from j. */
  {
    const float *qj = row_of(h, j);

    for (size_t u = 1; u <= cnt; u++) {
      s->pool[np].id = lk[u];
      s->pool[np].d = dist_vec(h, qj, lk[u]);
      np++;
    }
    for (size_t t = 0; t < ne; t++) {
      bool have = false;

      for (size_t u = 1; u <= cnt; u++)
        if (lk[u] == e[t].i) {
          have = true;
          break;
        }
      if (have)
        continue;
      s->pool[np].id = e[t].i;
      s->pool[np].d = dist_vec(h, qj, e[t].i);
      np++;
    }
    qsort(s->pool, np, sizeof(*s->pool), hnsw_cmp_cand);
    hnsw_set_links(h, j, l, s->sel, hnsw_select_links(h, s->pool, np, mmax, s->sel));
  }
}

static void phase_link(void *ctx, unsigned w)
{
  struct build *b = ctx;

  for (;;) {
    size_t g = atomic_fetch_add(&b->next, 1);

    if (g >= b->ngroups)
      return;
    link_back(b, &b->sc[w], g);
  }
}

static int cmp_edge(const void *pa, const void *pb)
{
  const struct edge *a = pa, *b = pb;

  if (a->l != b->l)
    return a->l < b->l ? -1 : 1;
  if (a->j != b->j)
    return a->j < b->j ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

/* Gathers the batch's links as reverse edges, sorted and grouped. */
static int gather_edges(struct build *b)
{
  struct hnsw *h = b->h;

  b->nedges = 0;
  for (size_t t = 0; t < b->bn; t++) {
    uint32_t i = leader(h, b->b0 + t);

    for (unsigned l = 0; l <= h->level[i]; l++) {
      const uint32_t *lk = links(h, i, l);

      if (b->nedges + lk[0] > b->edges_cap) {
        size_t cap = 2 * (b->nedges + lk[0]);
        struct edge *p = realloc(b->edges, cap * sizeof(*p));
        size_t *g = realloc(b->groups, (cap + 1) * sizeof(*g));

        if (p)
          b->edges = p;
        if (g)
          b->groups = g;
        if (!p || !g)
          return -ENOMEM;
        b->edges_cap = cap;
      }
      for (uint32_t u = 1; u <= lk[0]; u++) {
        struct edge *e = &b->edges[b->nedges++];

        e->j = lk[u];
        e->i = i;
        e->l = l;
      }
    }
  }
  qsort(b->edges, b->nedges, sizeof(*b->edges), cmp_edge);
  b->ngroups = 0;
  for (size_t t = 0; t < b->nedges; t++)
    if (t == 0 || b->edges[t].j != b->edges[t - 1].j ||
        b->edges[t].l != b->edges[t - 1].l)
      b->groups[b->ngroups++] = t;
  b->groups[b->ngroups] = b->nedges;
  return 0;
}

static int params_get(const struct hnsw_params *p, unsigned *m,
                      unsigned *efc, unsigned *nt, uint64_t *seed)
{
  *m = p && p->m ? p->m : HNSW_DEF_M;
  *efc = p && p->ef_construction ? p->ef_construction
                                 : HNSW_DEF_EF_CONSTRUCTION;
  *nt = p && p->nthreads ? p->nthreads : DEF_THREADS;
  *seed = p ? p->seed : 0;
  if (*m < 2 || *m > HNSW_MAX_M || *efc > HNSW_MAX_EF || *nt > MAX_THREADS)
    return -EINVAL;
  return 0;
}

/* One worker's scratch per build thread. */
static int build_scratch(struct build *b, unsigned nt)
{
  unsigned efc = b->h->efc;
  int r;

  b->nt = nt;
  b->sc = calloc(nt, sizeof(*b->sc));
  if (!b->sc)
    return -ENOMEM;
  for (unsigned w = 0; w < nt; w++) {
    r = hnsw_scratch_init(&b->sc[w], b->h, efc,
                     (size_t)efc + BATCH_MAX + 2 * (size_t)b->h->m0 + 2,
                     BATCH_MAX);
    if (r < 0)
      return r;
  }
  return 0;
}

static void build_done(struct build *b)
{
  for (unsigned w = 0; b->sc && w < b->nt; w++)
    hnsw_scratch_free(&b->sc[w]);
  free(b->sc);
  free(b->edges);
  free(b->groups);
}

/* Inserts the batch of groups [done, done + bn): phase A (each row's own
 * links), phase B (the reverse links), then the entry row. */
static int insert_batch(struct build *b, size_t done, size_t bn)
{
  struct hnsw *h = b->h;
  int r;

  b->b0 = done;
  b->bn = bn;
  atomic_store(&b->next, 0);
  hnsw_par_run(bn >= PAR_MIN ? b->nt : 1, phase_insert, b);
  r = atomic_load(&b->err);
  if (r < 0)
    return r;
  if (!b->empty) {
    r = gather_edges(b);
    if (r < 0)
      return r;
    atomic_store(&b->next, 0);
    hnsw_par_run(b->ngroups >= PAR_MIN ? b->nt : 1, phase_link, b);
  }
  for (size_t t = 0; t < bn; t++) {
    uint32_t i = leader(h, done + t);

    if (b->empty || h->level[i] > b->maxlevel) {
      b->entry = i;
      b->maxlevel = h->level[i];
      b->empty = false;
    }
  }
  return 0;
}

int hnsw_build(const float *x, size_t n, size_t d,
               const struct hnsw_params *params, struct hnsw **ret_index)
{
  unsigned m, efc, nt;
  uint64_t seed;
  struct build b;
  struct hnsw *h;
  double ml;
  int r;

  if (!ret_index)
    return -EINVAL;
  *ret_index = NULL;
  r = params_get(params, &m, &efc, &nt, &seed);
  if (r < 0)
    return r;
  if (d == 0 || n >= HNSW_NONE || (n > 0 && !x) || (n && d > SIZE_MAX / n))
    return -EINVAL;
  if (efc < m)
    efc = m; /* fewer candidates than links would starve the lists */

  h = hnsw_alloc(x, n, d, m, efc, seed);
  if (!h)
    return -ENOMEM;
  ml = 1.0 / log((double)m);
  for (size_t g = 0; g < h->ngroups; g++)
    h->level[leader(h, g)] = (uint8_t)draw_level(seed, leader(h, g), ml);
  r = hnsw_alloc_graph(h);
  if (r < 0) {
    hnsw_free(h);
    return r;
  }
  memset(&b, 0, sizeof(b));
  b.h = h;
  b.empty = true;
  atomic_init(&b.next, 0);
  atomic_init(&b.err, 0);
  r = build_scratch(&b, nt);
  /* Batches double from 1 up to BATCH_MAX, never more than the rows
   * already in the graph. */
  for (size_t done = 0, bn; r == 0 && done < h->ngroups; done += bn) {
    if (params && params->stop &&
        __atomic_load_n(params->stop, __ATOMIC_RELAXED)) {
      r = -ECANCELED;
      break;
    }
    bn = done == 0 ? 1 : done;
    if (bn > BATCH_MAX)
      bn = BATCH_MAX;
    if (bn > h->ngroups - done)
      bn = h->ngroups - done;
    r = insert_batch(&b, done, bn);
  }
  build_done(&b);
  if (r < 0) {
    hnsw_free(h);
    return r;
  }
  h->entry = b.entry;
  h->maxlevel = b.maxlevel;
  *ret_index = h;
  return 0;
}
