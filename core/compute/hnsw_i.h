/* hnsw_i.h - the private side of hnsw.h, shared by the files of the HNSW
 * index (core/compute/hnsw*.c); nothing outside them includes it.
 *
 *   hnsw.c        the graph: distances, layer search, link selection,
 *                 duplicate grouping, allocation, the parallel helper
 *   hnsw_build.c  hnsw_build(): insertion in deterministic batches
 *   hnsw_query.c  hnsw_search() and hnsw_knn_all()
 *   hnsw_save.c   hnsw_save() and hnsw_load()
 *
 * Ownership: struct hnsw owns its graph arrays (hnsw_free()) and borrows
 * the rows x.  A struct scratch belongs to one worker for the length of
 * one call.  Locking: none; the graph is written only by hnsw_build() and
 * hnsw_load() before the index is returned, and read-only after.
 */
#ifndef CURATE_HNSW_I_H
#define CURATE_HNSW_I_H

#include "hnsw.h"

#include <stdbool.h>
#include <string.h>

#define DEF_THREADS 2   /* workers when the caller says 0 */
#define MAX_THREADS 64
/* Highest layer a row may get; P(level > 31) is M^-32, never drawn in
 * practice, and a level fits in a byte. */
#define MAX_LEVEL 31

/* A dot product of two d-float rows, picked once per index (hnsw.c) from
 * what the CPU offers. */
typedef float (*dot_fn)(const float *a, const float *b, size_t d);

/* The index: the graph it owns and the rows it borrows. */
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

/* A candidate row at distance d from the current query; ordered by
 * (d, id) everywhere, so ties never depend on timing. */
struct cand {
  float d;
  uint32_t id;
};

static inline bool cand_lt(struct cand a, struct cand b)
{
  return a.d < b.d || (a.d == b.d && a.id < b.id);
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

/* One worker's buffers for searches and link selection; owned by that
 * worker for one call (hnsw_scratch_init() / hnsw_scratch_free()). */
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

/* ---- hnsw.c ---- */

/* qsort comparator of struct cand: ascending (distance, row). */
int hnsw_cmp_cand(const void *pa, const void *pb);

/* A worker's scratch for searches with result lists up to res_cap, link
 * selection over pool_cap candidates and batches of `batch` rows
 * (0, 0 for queries only).  0 or -ENOMEM; free with hnsw_scratch_free(). */
int hnsw_scratch_init(struct scratch *s, const struct hnsw *h,
                      size_t res_cap, size_t pool_cap, size_t batch);
void hnsw_scratch_free(struct scratch *s);

/* Best-first search on layer l from ep with a result list of ef.  On
 * return s->res[0 .. *ret_n) holds the results, ascending.  Returns 0 or
 * -ENOMEM. */
int hnsw_search_layer(const struct hnsw *h, struct scratch *s,
                      const float *q, struct cand ep, size_t ef, unsigned l,
                      size_t *ret_n);

/* Descends from the entry row to layer `stop` + 1 greedily; returns the
 * entry point for layer `stop`. */
struct cand hnsw_descend(const struct hnsw *h, const float *q,
                         uint32_t entry, unsigned maxlevel, unsigned stop);

/* The selection heuristic over c[0 .. nc) (ascending): at most mmax
 * entries into out, returns how many. */
size_t hnsw_select_links(const struct hnsw *h, const struct cand *c,
                         size_t nc, size_t mmax, struct cand *out);
/* Replaces row i's list on layer l with sel[0 .. nsel). */
void hnsw_set_links(const struct hnsw *h, uint32_t i, unsigned l,
                    const struct cand *sel, size_t nsel);

/* Runs fn(ctx, 0..nt-1), worker 0 in the calling thread (nt <=
 * MAX_THREADS).  Work must be handed out through a shared counter, so that
 * a worker whose thread could not be started leaves its share to the
 * others. */
void hnsw_par_run(unsigned nt, void (*fn)(void *, unsigned), void *ctx);

/* SplitMix64's finaliser: level draws and row hashes. */
uint64_t hnsw_mix64(uint64_t z);

/* An index over x with no links yet: parameters set, levels zero,
 * duplicates grouped.  NULL on ENOMEM. */
struct hnsw *hnsw_alloc(const float *x, size_t n, size_t d, unsigned m,
                        unsigned efc, uint64_t seed);
/* Allocates the lists for the levels already in h->level, empty.  0 or
 * -ENOMEM. */
int hnsw_alloc_graph(struct hnsw *h);

#endif
