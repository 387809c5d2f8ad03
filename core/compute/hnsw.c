/* hnsw.c - hierarchical navigable small-world graph, built in deterministic
 * parallel batches (see hnsw.h for the contract).
 *
 * Graph: every row has a level L drawn from a geometric distribution
 * (P(L >= l) = M^-l) and one link list per layer 0..L.  Layer 0 lists hold
 * up to 2M links and live in one n × (1 + 2M) array (count first); upper
 * lists hold up to M links and live in one pooled array, each row's lists
 * consecutive from up_off[row].  Search descends greedily from the entry
 * row (the first row with the highest level) through the upper layers and
 * runs a best-first search with a candidate list of ef on the layer below.
 *
 * Link choice is the neighbour-selection heuristic of the HNSW paper
 * (Malkov & Yashunin): walk candidates nearest first and keep one only if
 * it is strictly closer to the base row than to every link kept so far, up
 * to the limit.  This keeps links pointing in different directions, which
 * is what keeps clustered data navigable.
 *
 * Exact duplicates (rows with identical bytes) are grouped before the
 * build and only each group's lowest row enters the graph; a search
 * result stands for its whole group.  Why: many copies of one vector are
 * all at distance 0 from each other, so they fill each other's link
 * lists, and the copies become a closed clique that searches cannot leave
 * (observed with 60 copies in a few thousand rows).  Grouping costs a hash
 * per row and 8 bytes per row, and makes duplicates exact.  Equal values
 * with different bytes (0.0 / -0.0) are not grouped; they are merely two
 * rows at distance 0.
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
 *
 * Not here: deletion or incremental insertion after the build, metrics
 * other than the normalised dot product, quantised storage, reading or
 * storing vectors (hnsw_save() serialises the graph only).
 */
#include "hnsw.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DEF_THREADS 2
#define MAX_THREADS 64
#define MAX_LEVEL 31
/* Rows per batch at most: larger batches mean fewer thread start-ups but
 * more rows that see each other only by the in-batch scan (B - 1 extra
 * distances per row). */
#define BATCH_MAX 128
/* Below this many items a phase runs in the calling thread only. */
#define PAR_MIN 16
/* Rows per work item in hnsw_knn_all(). */
#define QCHUNK 32

/* ---- distances ---------------------------------------------------------- */

typedef float (*dot_fn)(const float *a, const float *b, size_t d);
typedef float v4sf __attribute__((vector_size(16)));

static float dot_base(const float *a, const float *b, size_t d)
{
  v4sf s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
  size_t c = 0;
  float r;

  for (; c + 16 <= d; c += 16) {
    v4sf a0, a1, a2, a3, b0, b1, b2, b3;

    memcpy(&a0, a + c, 16);
    memcpy(&a1, a + c + 4, 16);
    memcpy(&a2, a + c + 8, 16);
    memcpy(&a3, a + c + 12, 16);
    memcpy(&b0, b + c, 16);
    memcpy(&b1, b + c + 4, 16);
    memcpy(&b2, b + c + 8, 16);
    memcpy(&b3, b + c + 12, 16);
    s0 += a0 * b0;
    s1 += a1 * b1;
    s2 += a2 * b2;
    s3 += a3 * b3;
  }
  for (; c + 4 <= d; c += 4) {
    v4sf a0, b0;

    memcpy(&a0, a + c, 16);
    memcpy(&b0, b + c, 16);
    s0 += a0 * b0;
  }
  s0 = (s0 + s1) + (s2 + s3);
  r = (s0[0] + s0[1]) + (s0[2] + s0[3]);
  for (; c < d; c++)
    r += a[c] * b[c];
  return r;
}

#if defined(__x86_64__) && defined(__GNUC__)
typedef float v8sf __attribute__((vector_size(32)));

__attribute__((target("avx2,fma"))) static float
dot_avx2(const float *a, const float *b, size_t d)
{
  v8sf s0 = { 0 }, s1 = { 0 };
  size_t c = 0;
  float r;

  for (; c + 16 <= d; c += 16) {
    v8sf a0, a1, b0, b1;

    memcpy(&a0, a + c, 32);
    memcpy(&a1, a + c + 8, 32);
    memcpy(&b0, b + c, 32);
    memcpy(&b1, b + c + 8, 32);
    s0 += a0 * b0;
    s1 += a1 * b1;
  }
  for (; c + 8 <= d; c += 8) {
    v8sf a0, b0;

    memcpy(&a0, a + c, 32);
    memcpy(&b0, b + c, 32);
    s0 += a0 * b0;
  }
  s0 += s1;
  r = ((s0[0] + s0[4]) + (s0[1] + s0[5])) + ((s0[2] + s0[6]) + (s0[3] + s0[7]));
  for (; c < d; c++)
    r += a[c] * b[c];
  return r;
}
#endif

static dot_fn pick_dot(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return dot_avx2;
#endif
  return dot_base;
}

/* ---- the index ------------------------------------------------------------ */

struct hnsw {
  const float *x; /* borrowed rows */
  size_t n, d;
  unsigned m, m0, efc;
  uint64_t seed;
  uint32_t entry;
  unsigned maxlevel;
  uint8_t *level;   /* n */
  uint32_t *l0;     /* n × (1 + m0): count, links */
  uint32_t *up_off; /* n: start of the row's layer-1 list in up */
  uint32_t *up;     /* (1 + m) per upper layer per row */
  size_t up_len;
  /* Exact duplicates: rows with identical bytes form a group; only the
   * group's leader (its lowest row) is in the graph.  grp: group of each
   * row; gmem[goff[g] .. goff[g + 1]): the rows of group g, ascending.
   * Groups are numbered in leader order. */
  uint32_t *grp;  /* n */
  uint32_t *goff; /* ngroups + 1 */
  uint32_t *gmem; /* n */
  size_t ngroups;
  dot_fn dot;
};

static inline uint32_t leader(const struct hnsw *h, size_t g)
{
  return h->gmem[h->goff[g]];
}

static inline const float *row_of(const struct hnsw *h, uint32_t i)
{
  return h->x + (size_t)i * h->d;
}

static inline uint32_t *links(const struct hnsw *h, uint32_t i, unsigned l)
{
  if (l == 0)
    return h->l0 + (size_t)i * (1 + h->m0);
  return h->up + h->up_off[i] + (size_t)(l - 1) * (1 + h->m);
}

/* 1 - dot clamped to [0, 2], as knn.c reports it: clamping before any
 * comparison keeps "ties by lower index" true for the reported values. */
static inline float dist_vec(const struct hnsw *h, const float *q,
                             uint32_t j)
{
  float v = 1.0f - h->dot(q, row_of(h, j), h->d);

  if (v < 0)
    v = 0;
  if (v > 2)
    v = 2;
  return v;
}

static inline void prefetch_row(const struct hnsw *h, uint32_t j)
{
  const char *p = (const char *)row_of(h, j);
  size_t bytes = h->d * sizeof(float);

  for (size_t o = 0; o < bytes; o += 64)
    __builtin_prefetch(p + o);
}

/* ---- candidates and heaps ----------------------------------------------- */

struct cand {
  float d;
  uint32_t id;
};

static inline bool cand_lt(struct cand a, struct cand b)
{
  return a.d < b.d || (a.d == b.d && a.id < b.id);
}

static int cmp_cand(const void *pa, const void *pb)
{
  const struct cand *a = pa, *b = pb;

  return cand_lt(*a, *b) ? -1 : cand_lt(*b, *a);
}

/* Binary heap; top = smallest (max false) or largest (max true). */
static inline bool hp_above(struct cand a, struct cand b, bool max)
{
  return max ? cand_lt(b, a) : cand_lt(a, b);
}

static inline void hp_push(struct cand *hp, size_t *n, struct cand c,
                           bool max)
{
  size_t i = (*n)++;

  while (i > 0) {
    size_t p = (i - 1) / 2;

    if (!hp_above(c, hp[p], max))
      break;
    hp[i] = hp[p];
    i = p;
  }
  hp[i] = c;
}

static inline void hp_pop(struct cand *hp, size_t *n, bool max)
{
  struct cand last = hp[--(*n)];
  size_t i = 0, cnt = *n;

  if (cnt == 0)
    return;
  for (;;) {
    size_t c = 2 * i + 1;

    if (c >= cnt)
      break;
    if (c + 1 < cnt && hp_above(hp[c + 1], hp[c], max))
      c++;
    if (!hp_above(hp[c], last, max))
      break;
    hp[i] = hp[c];
    i = c;
  }
  hp[i] = last;
}

/* ---- per-worker scratch --------------------------------------------------- */

struct scratch {
  uint32_t *vis; /* nvis visited tags */
  size_t nvis;
  uint32_t tag;
  struct cand *cq; /* candidate min-heap, grows */
  size_t cq_cap;
  struct cand *res; /* result max-heap, then sorted; cap res_cap */
  size_t res_cap;
  struct cand *pool; /* selection input */
  struct cand *sel;  /* selection output */
  size_t pool_cap;
  struct cand *bd; /* distances to the other rows of the batch */
  uint32_t *tmp;   /* unvisited links of one row */
};

static void scratch_free(struct scratch *s)
{
  free(s->tmp);
  free(s->bd);
  free(s->sel);
  free(s->pool);
  free(s->res);
  free(s->cq);
  free(s->vis);
  memset(s, 0, sizeof(*s));
}

static int scratch_init(struct scratch *s, const struct hnsw *h,
                        size_t res_cap, size_t pool_cap, size_t batch)
{
  memset(s, 0, sizeof(*s));
  s->nvis = h->n ? h->n : 1;
  s->vis = calloc(s->nvis, sizeof(*s->vis));
  s->cq_cap = 256;
  s->cq = malloc(s->cq_cap * sizeof(*s->cq));
  s->res_cap = res_cap;
  s->res = malloc((res_cap + 1) * sizeof(*s->res));
  s->pool_cap = pool_cap;
  s->pool = malloc((pool_cap ? pool_cap : 1) * sizeof(*s->pool));
  s->sel = malloc((pool_cap ? pool_cap : 1) * sizeof(*s->sel));
  s->bd = malloc((batch ? batch : 1) * sizeof(*s->bd));
  s->tmp = malloc((1 + (size_t)h->m0) * sizeof(*s->tmp));
  if (!s->vis || !s->cq || !s->res || !s->pool || !s->sel || !s->bd ||
      !s->tmp) {
    scratch_free(s);
    return -ENOMEM;
  }
  return 0;
}

static uint32_t next_tag(struct scratch *s)
{
  if (++s->tag == 0) {
    /* Wrapped after 2^32 searches: forget every old mark. */
    memset(s->vis, 0, s->nvis * sizeof(*s->vis));
    s->tag = 1;
  }
  return s->tag;
}

/* ---- searching ------------------------------------------------------------ */

/* Greedy walk on layer l from *cur towards q (candidate list of one). */
static void greedy(const struct hnsw *h, const float *q, unsigned l,
                   struct cand *cur)
{
  bool moved = true;

  while (moved) {
    const uint32_t *lk = links(h, cur->id, l);

    moved = false;
    for (uint32_t t = 1; t <= lk[0]; t++) {
      struct cand e = { dist_vec(h, q, lk[t]), lk[t] };

      if (cand_lt(e, *cur)) {
        *cur = e;
        moved = true;
      }
    }
  }
}

/* Best-first search on layer l from ep with a result list of ef.  On
 * return s->res[0 .. *ret_n) holds the results, ascending.  Returns 0 or
 * -ENOMEM. */
static int search_layer(const struct hnsw *h, struct scratch *s,
                        const float *q, struct cand ep, size_t ef,
                        unsigned l, size_t *ret_n)
{
  uint32_t tag = next_tag(s);
  size_t ncq = 0, nres = 0;

  s->vis[ep.id] = tag;
  hp_push(s->cq, &ncq, ep, false);
  hp_push(s->res, &nres, ep, true);

  while (ncq) {
    struct cand c = s->cq[0];
    const uint32_t *lk;
    size_t nu = 0;

    if (nres == ef && cand_lt(s->res[0], c))
      break; /* nearest open candidate is worse than every result */
    hp_pop(s->cq, &ncq, false);

    lk = links(h, c.id, l);
    for (uint32_t t = 1; t <= lk[0]; t++) {
      uint32_t j = lk[t];

      if (s->vis[j] == tag)
        continue;
      s->vis[j] = tag;
      s->tmp[nu++] = j;
      prefetch_row(h, j);
    }
    for (size_t u = 0; u < nu; u++) {
      struct cand e = { dist_vec(h, q, s->tmp[u]), s->tmp[u] };

      if (nres == ef && !cand_lt(e, s->res[0]))
        continue;
      if (ncq == s->cq_cap) {
        size_t cap = 2 * s->cq_cap;
        struct cand *p = realloc(s->cq, cap * sizeof(*p));

        if (!p)
          return -ENOMEM;
        s->cq = p;
        s->cq_cap = cap;
      }
      hp_push(s->cq, &ncq, e, false);
      hp_push(s->res, &nres, e, true);
      if (nres > ef)
        hp_pop(s->res, &nres, true);
    }
  }
  qsort(s->res, nres, sizeof(*s->res), cmp_cand);
  *ret_n = nres;
  return 0;
}

/* Descend from the entry row to layer `stop` + 1 greedily; returns the
 * entry point for layer `stop`. */
static struct cand descend(const struct hnsw *h, const float *q,
                           uint32_t entry, unsigned maxlevel, unsigned stop)
{
  struct cand cur = { dist_vec(h, q, entry), entry };

  for (unsigned l = maxlevel; l > stop; l--)
    greedy(h, q, l, &cur);
  return cur;
}

/* The selection heuristic over c[0 .. nc) (ascending): at most mmax
 * entries into out, returns how many.  With nc <= mmax every candidate is
 * kept: a short list loses nothing by holding them all. */
static size_t select_links(const struct hnsw *h, const struct cand *c,
                           size_t nc, size_t mmax, struct cand *out)
{
  size_t no = 0;

  if (nc <= mmax) {
    memcpy(out, c, nc * sizeof(*c));
    return nc;
  }
  for (size_t i = 0; i < nc && no < mmax; i++) {
    const float *ci = row_of(h, c[i].id);
    bool keep = true;

    for (size_t r = 0; r < no; r++)
      if (dist_vec(h, ci, out[r].id) <= c[i].d) {
        keep = false;
        break;
      }
    if (keep)
      out[no++] = c[i];
  }
  return no;
}

static void set_links(const struct hnsw *h, uint32_t i, unsigned l,
                      const struct cand *sel, size_t nsel)
{
  uint32_t *lk = links(h, i, l);

  lk[0] = (uint32_t)nsel;
  for (size_t t = 0; t < nsel; t++)
    lk[1 + t] = sel[t].id;
}

/* ---- parallel helper -------------------------------------------------------- */

struct par_worker {
  void (*fn)(void *ctx, unsigned w);
  void *ctx;
  unsigned w;
  pthread_t th;
};

static void *par_main(void *arg)
{
  struct par_worker *pw = arg;

  pw->fn(pw->ctx, pw->w);
  return NULL;
}

/* Runs fn(ctx, 0..nt-1), worker 0 in the calling thread.  Work must be
 * handed out through a shared counter, so that a worker whose thread
 * could not be started simply leaves its share to the others. */
static void par_run(unsigned nt, void (*fn)(void *, unsigned), void *ctx)
{
  struct par_worker pw[MAX_THREADS];
  bool started[MAX_THREADS] = { false };

  for (unsigned w = 0; w < nt; w++) {
    pw[w].fn = fn;
    pw[w].ctx = ctx;
    pw[w].w = w;
  }
  for (unsigned w = 1; w < nt; w++)
    started[w] = pthread_create(&pw[w].th, NULL, par_main, &pw[w]) == 0;
  fn(ctx, 0);
  for (unsigned w = 1; w < nt; w++)
    if (started[w])
      pthread_join(pw[w].th, NULL);
}

/* ---- build ------------------------------------------------------------------ */

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

static uint64_t mix64(uint64_t z)
{
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static unsigned draw_level(uint64_t seed, size_t i, double ml)
{
  uint64_t z = mix64(seed ^ mix64((uint64_t)i));
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

    qsort(s->pool, np, sizeof(*s->pool), cmp_cand);
    set_links(h, i, l, s->sel, select_links(h, s->pool, np, h->m, s->sel));
  }
  if (b->empty) {
    for (unsigned l = li + 1; l-- > 0;) {
      size_t np = add_batch_cands(b, s, l, s->pool, 0);

      qsort(s->pool, np, sizeof(*s->pool), cmp_cand);
      set_links(h, i, l, s->sel, select_links(h, s->pool, np, h->m, s->sel));
    }
    return 0;
  }

  {
    unsigned top = li < b->maxlevel ? li : b->maxlevel;
    struct cand ep = descend(h, q, b->entry, b->maxlevel, top);

    for (unsigned l = top + 1; l-- > 0;) {
      size_t nres, np;

      r = search_layer(h, s, q, ep, h->efc, l, &nres);
      if (r < 0)
        return r;
      memcpy(s->pool, s->res, nres * sizeof(*s->pool));
      np = add_batch_cands(b, s, l, s->pool, nres);
      qsort(s->pool, np, sizeof(*s->pool), cmp_cand);
      if (np > h->efc)
        np = h->efc;
      set_links(h, i, l, s->sel, select_links(h, s->pool, np, h->m, s->sel));
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
    qsort(s->pool, np, sizeof(*s->pool), cmp_cand);
    set_links(h, j, l, s->sel, select_links(h, s->pool, np, mmax, s->sel));
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

/* ---- exact duplicates ------------------------------------------------------ */

struct hrow {
  uint64_t hash;
  uint32_t row;
};

static int cmp_hrow(const void *pa, const void *pb)
{
  const struct hrow *a = pa, *b = pb;

  if (a->hash != b->hash)
    return a->hash < b->hash ? -1 : 1;
  return a->row < b->row ? -1 : a->row > b->row;
}

static uint64_t hash_row(const float *r, size_t d)
{
  uint64_t hv = 0x84222325CBF29CE4ull;

  for (size_t c = 0; c < d; c++) {
    uint32_t w;

    memcpy(&w, r + c, 4);
    hv = (hv ^ w) * 0x100000001B3ull;
    hv ^= hv >> 29;
  }
  return mix64(hv);
}

/* Fills grp / goff / gmem / ngroups: rows sorted by a hash of their bytes,
 * then equal-hash runs split by memcmp, so a collision never merges
 * different rows.  Returns 0 or -ENOMEM. */
static int group_rows(struct hnsw *h)
{
  size_t n = h->n, rowb = h->d * sizeof(float);
  struct hrow *a = malloc((n ? n : 1) * sizeof(*a));
  uint32_t *lead = malloc((n ? n : 1) * sizeof(*lead));
  int r = -ENOMEM;

  h->grp = malloc((n ? n : 1) * sizeof(*h->grp));
  h->gmem = malloc((n ? n : 1) * sizeof(*h->gmem));
  if (!a || !lead || !h->grp || !h->gmem)
    goto out;
  for (size_t i = 0; i < n; i++) {
    a[i].hash = hash_row(row_of(h, (uint32_t)i), h->d);
    a[i].row = (uint32_t)i;
  }
  qsort(a, n, sizeof(*a), cmp_hrow);
  for (size_t s0 = 0, e; s0 < n; s0 = e) {
    for (e = s0 + 1; e < n && a[e].hash == a[s0].hash; e++)
      ;
    /* Rows ascend within the run: each joins the first earlier leader of
     * the run with the same bytes, or leads a group of its own. */
    for (size_t t = s0; t < e; t++) {
      lead[a[t].row] = a[t].row;
      for (size_t u = s0; u < t; u++)
        if (lead[a[u].row] == a[u].row &&
            memcmp(row_of(h, a[u].row), row_of(h, a[t].row), rowb) == 0) {
          lead[a[t].row] = a[u].row;
          break;
        }
    }
  }
  h->ngroups = 0;
  for (size_t i = 0; i < n; i++)
    h->grp[i] = lead[i] == i ? (uint32_t)h->ngroups++ : h->grp[lead[i]];
  h->goff = calloc(h->ngroups + 1, sizeof(*h->goff));
  if (!h->goff)
    goto out;
  for (size_t i = 0; i < n; i++)
    h->goff[h->grp[i] + 1]++;
  for (size_t g = 0; g < h->ngroups; g++)
    h->goff[g + 1] += h->goff[g];
  /* lead[] is reused as each group's fill position */
  for (size_t g = 0; g < h->ngroups; g++)
    lead[g] = h->goff[g];
  for (size_t i = 0; i < n; i++)
    h->gmem[lead[h->grp[i]]++] = (uint32_t)i;
  r = 0;
out:
  free(lead);
  free(a);
  return r;
}

/* Allocates the graph for n rows with the given levels already drawn
 * into h->level; lists start empty. */
static int alloc_graph(struct hnsw *h)
{
  size_t up = 0;

  h->l0 = calloc(h->n ? h->n * (1 + (size_t)h->m0) : 1, sizeof(*h->l0));
  h->up_off = calloc(h->n ? h->n : 1, sizeof(*h->up_off));
  if (!h->l0 || !h->up_off)
    return -ENOMEM;
  for (size_t i = 0; i < h->n; i++) {
    if (up > UINT32_MAX)
      return -ENOMEM;
    h->up_off[i] = (uint32_t)up;
    up += (size_t)h->level[i] * (1 + h->m);
  }
  h->up_len = up;
  h->up = calloc(up ? up : 1, sizeof(*h->up));
  return h->up ? 0 : -ENOMEM;
}

static struct hnsw *hnsw_alloc(const float *x, size_t n, size_t d,
                               unsigned m, unsigned efc, uint64_t seed)
{
  struct hnsw *h = calloc(1, sizeof(*h));

  if (!h)
    return NULL;
  h->x = x;
  h->n = n;
  h->d = d;
  h->m = m;
  h->m0 = 2 * m;
  h->efc = efc;
  h->seed = seed;
  h->dot = pick_dot();
  h->level = calloc(n ? n : 1, 1);
  if (!h->level || group_rows(h) < 0) {
    hnsw_free(h);
    return NULL;
  }
  return h;
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
  r = alloc_graph(h);
  if (r < 0)
    goto fail;

  memset(&b, 0, sizeof(b));
  b.h = h;
  b.nt = nt;
  atomic_init(&b.next, 0);
  atomic_init(&b.err, 0);
  b.sc = calloc(nt, sizeof(*b.sc));
  if (!b.sc) {
    r = -ENOMEM;
    goto fail;
  }
  for (unsigned w = 0; w < nt; w++) {
    r = scratch_init(&b.sc[w], h, efc,
                     (size_t)efc + BATCH_MAX + 2 * (size_t)h->m0 + 2,
                     BATCH_MAX);
    if (r < 0)
      goto out;
  }

  b.empty = true;
  for (size_t done = 0; done < h->ngroups;) {
    size_t bn = done == 0 ? 1 : done;
    unsigned pn;

    if (bn > BATCH_MAX)
      bn = BATCH_MAX;
    if (bn > h->ngroups - done)
      bn = h->ngroups - done;
    b.b0 = done;
    b.bn = bn;
    pn = bn >= PAR_MIN ? nt : 1;

    atomic_store(&b.next, 0);
    par_run(pn, phase_insert, &b);
    r = atomic_load(&b.err);
    if (r < 0)
      goto out;
    if (!b.empty) {
      r = gather_edges(&b);
      if (r < 0)
        goto out;
      atomic_store(&b.next, 0);
      par_run(b.ngroups >= PAR_MIN ? nt : 1, phase_link, &b);
    }
    for (size_t t = 0; t < bn; t++) {
      uint32_t i = leader(h, done + t);

      if (b.empty || h->level[i] > b.maxlevel) {
        b.entry = i;
        b.maxlevel = h->level[i];
        b.empty = false;
      }
    }
    done += bn;
  }
  h->entry = b.entry;
  h->maxlevel = b.maxlevel;
  r = 0;
out:
  for (unsigned w = 0; b.sc && w < nt; w++)
    scratch_free(&b.sc[w]);
  free(b.sc);
  free(b.edges);
  free(b.groups);
  if (r == 0) {
    *ret_index = h;
    return 0;
  }
fail:
  hnsw_free(h);
  return r;
}

void hnsw_free(struct hnsw *h)
{
  if (!h)
    return;
  free(h->gmem);
  free(h->goff);
  free(h->grp);
  free(h->up);
  free(h->up_off);
  free(h->l0);
  free(h->level);
  free(h);
}

size_t hnsw_size(const struct hnsw *h)
{
  if (!h)
    return 0;
  return sizeof(*h) + h->n * (1 + (1 + (size_t)h->m0) * 4 + 4 + 8) +
         h->up_len * 4 + (h->ngroups + 1) * 4;
}

/* ---- queries ---------------------------------------------------------------- */

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
    struct cand ep = descend(h, q, h->entry, h->maxlevel, 0);

    r = search_layer(h, s, q, ep, ef, 0, &nres);
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
  r = scratch_init(&s, h, ef, 0, 0);
  if (r < 0)
    return r;
  r = query_one(h, &s, q, HNSW_NONE, k, ef, ret_idx, ret_dist, ret_found);
  scratch_free(&s);
  return r;
}

struct qjob {
  const struct hnsw *h;
  size_t k, ef;
  uint32_t *oi;
  float *od;
  struct scratch *sc;
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
                 unsigned nthreads, uint32_t *ret_idx, float *ret_dist)
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
  atomic_init(&j.next, 0);
  atomic_init(&j.err, 0);
  j.sc = calloc(nt, sizeof(*j.sc));
  if (!j.sc)
    return -ENOMEM;
  for (unsigned w = 0; w < nt; w++) {
    r = scratch_init(&j.sc[w], h, ef, 0, 0);
    if (r < 0)
      goto out;
  }
  par_run(nt, phase_query, &j);
  r = atomic_load(&j.err);
out:
  for (unsigned w = 0; w < nt; w++)
    scratch_free(&j.sc[w]);
  free(j.sc);
  return r;
}

/* ---- serialisation ---------------------------------------------------------- */

#define SAVE_MAGIC 0x57534e48u /* "HNSW" little-endian */
#define SAVE_VERSION 1u

struct save_hdr {
  uint32_t magic, version;
  uint64_t n, d;
  uint32_t m, efc;
  uint64_t seed;
  uint32_t entry, maxlevel;
  uint64_t up_len;
};
_Static_assert(sizeof(struct save_hdr) == HNSW_SAVE_HDR, "save header");

int hnsw_save(const struct hnsw *h, struct buf *out)
{
  struct save_hdr hd;
  int r;

  if (!h || !out)
    return -EINVAL;
  memset(&hd, 0, sizeof(hd));
  hd.magic = SAVE_MAGIC;
  hd.version = SAVE_VERSION;
  hd.n = h->n;
  hd.d = h->d;
  hd.m = h->m;
  hd.efc = h->efc;
  hd.seed = h->seed;
  hd.entry = h->entry;
  hd.maxlevel = h->maxlevel;
  hd.up_len = h->up_len;
  r = buf_append(out, &hd, sizeof(hd));
  if (r == 0)
    r = buf_append(out, h->level, h->n);
  if (r == 0)
    r = buf_append(out, h->l0, h->n * (1 + (size_t)h->m0) * 4);
  if (r == 0)
    r = buf_append(out, h->up, h->up_len * 4);
  return r;
}

/* Every list: count within its limit, links in range, not the row
 * itself, and only to rows present on that layer. */
static bool lists_valid(const struct hnsw *h)
{
  for (size_t i = 0; i < h->n; i++)
    for (unsigned l = 0; l <= h->level[i]; l++) {
      const uint32_t *lk = links(h, (uint32_t)i, l);

      if (lk[0] > (l ? h->m : h->m0))
        return false;
      if (lk[0] && leader(h, h->grp[i]) != i)
        return false;
      for (uint32_t t = 1; t <= lk[0]; t++)
        if (lk[t] >= h->n || lk[t] == i || h->level[lk[t]] < l ||
            leader(h, h->grp[lk[t]]) != lk[t])
          return false;
    }
  return true;
}

int hnsw_load(const float *x, size_t n, size_t d, const void *bytes,
              size_t len, struct hnsw **ret_index)
{
  const unsigned char *p = bytes;
  struct save_hdr hd;
  struct hnsw *h;
  size_t need;
  unsigned maxl = 0;
  int r;

  if (!ret_index)
    return -EINVAL;
  *ret_index = NULL;
  if ((!bytes && len) || d == 0 || n >= HNSW_NONE || (n > 0 && !x))
    return -EINVAL;
  if (len < sizeof(hd))
    return -EBADMSG;
  memcpy(&hd, p, sizeof(hd));
  if (hd.magic != SAVE_MAGIC || hd.version != SAVE_VERSION || hd.n != n ||
      hd.d != d || hd.m < 2 || hd.m > HNSW_MAX_M || hd.efc > HNSW_MAX_EF ||
      hd.maxlevel > MAX_LEVEL || (n && hd.entry >= n))
    return -EBADMSG;
  h = hnsw_alloc(x, n, d, hd.m, hd.efc, hd.seed);
  if (!h)
    return -ENOMEM;
  r = -EBADMSG;
  need = sizeof(hd) + n;
  if (len < need)
    goto fail;
  memcpy(h->level, p + sizeof(hd), n);
  for (size_t i = 0; i < n; i++) {
    if (h->level[i] > MAX_LEVEL ||
        (h->level[i] && leader(h, h->grp[i]) != i))
      goto fail;
    if (h->level[i] > maxl)
      maxl = h->level[i];
  }
  if (n && (maxl != hd.maxlevel || h->level[hd.entry] != maxl ||
            leader(h, h->grp[hd.entry]) != hd.entry))
    goto fail;
  r = alloc_graph(h);
  if (r < 0)
    goto fail;
  r = -EBADMSG;
  if (h->up_len != hd.up_len ||
      len != need + n * (1 + (size_t)h->m0) * 4 + h->up_len * 4)
    goto fail;
  memcpy(h->l0, p + need, n * (1 + (size_t)h->m0) * 4);
  memcpy(h->up, p + need + n * (1 + (size_t)h->m0) * 4, h->up_len * 4);
  if (!lists_valid(h))
    goto fail;
  h->entry = hd.entry;
  h->maxlevel = hd.maxlevel;
  *ret_index = h;
  return 0;
fail:
  hnsw_free(h);
  return r;
}
