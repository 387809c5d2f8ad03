/* hnsw.c - hierarchical navigable small-world graph, built in deterministic
 * parallel batches (see hnsw.h for the contract): the graph itself and the
 * operations the build and the queries share (files: hnsw_i.h).
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
 * Not here: the build (hnsw_build.c), the queries (hnsw_query.c), saving
 * and loading (hnsw_save.c).  Also not done at all: deletion or
 * incremental insertion after the build, metrics other than the
 * normalised dot product, quantised storage, reading or storing vectors.
 */
#include "hnsw_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

/* ---- distances ---------------------------------------------------------- */

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


int hnsw_cmp_cand(const void *pa, const void *pb)
{
  const struct cand *a = pa, *b = pb;

  return cand_lt(*a, *b) ? -1 : cand_lt(*b, *a);
}

/* ---- per-worker scratch --------------------------------------------------- */

void hnsw_scratch_free(struct scratch *s)
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

int hnsw_scratch_init(struct scratch *s, const struct hnsw *h,
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
    hnsw_scratch_free(s);
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

int hnsw_search_layer(const struct hnsw *h, struct scratch *s,
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
  qsort(s->res, nres, sizeof(*s->res), hnsw_cmp_cand);
  *ret_n = nres;
  return 0;
}

struct cand hnsw_descend(const struct hnsw *h, const float *q,
                           uint32_t entry, unsigned maxlevel, unsigned stop)
{
  struct cand cur = { dist_vec(h, q, entry), entry };

  for (unsigned l = maxlevel; l > stop; l--)
    greedy(h, q, l, &cur);
  return cur;
}

/* With nc <= mmax every candidate is
 * kept: a short list loses nothing by holding them all. */
size_t hnsw_select_links(const struct hnsw *h, const struct cand *c,
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

void hnsw_set_links(const struct hnsw *h, uint32_t i, unsigned l,
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

void hnsw_par_run(unsigned nt, void (*fn)(void *, unsigned), void *ctx)
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

/* ---- exact duplicates ------------------------------------------------------ */

uint64_t hnsw_mix64(uint64_t z)
{
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

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
  return hnsw_mix64(hv);
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

/* ---- the index ---------------------------------------------------------------- */

int hnsw_alloc_graph(struct hnsw *h)
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

struct hnsw *hnsw_alloc(const float *x, size_t n, size_t d,
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
