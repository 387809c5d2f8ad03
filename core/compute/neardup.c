/* neardup.c - duplicate groups (see neardup.h): sort-and-scan for equal
 * hashes, knn_radius() + centre-based grouping for embeddings, then one
 * routine that turns (row -> label) labels into ordered groups.  No store,
 * no I/O.
 */
#define _GNU_SOURCE /* qsort_r */
#include "neardup.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void neardup_groups_free(struct neardup_groups *g)
{
  if (!g)
    return;
  free(g->off);
  free(g->ids);
  memset(g, 0, sizeof(*g));
}

/* (label, id) pairs sorted by label then id give each group's members in
 * order; groups are then ordered by their first (smallest) id. */
struct lab {
  size_t label;
  uint64_t id;
};

static int cmp_lab(const void *a, const void *b)
{
  const struct lab *x = a, *y = b;

  if (x->label != y->label)
    return x->label < y->label ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

struct grp {
  uint64_t first;
  size_t start, len;
};

static int cmp_grp(const void *a, const void *b)
{
  const struct grp *x = a, *y = b;

  return x->first < y->first ? -1 : x->first > y->first;
}

/* Builds groups from labels[i] (any size_t; equal labels = one group). */
static int groups_from_labels(const size_t *labels, const uint64_t *ids,
                              size_t n, struct neardup_groups *ret)
{
  struct lab *l = NULL;
  struct grp *g = NULL;
  size_t ng = 0, nm = 0;
  int r = -ENOMEM;

  if (n == 0)
    return 0;
  l = malloc(n * sizeof(*l));
  g = malloc((n / 2 + 1) * sizeof(*g));
  if (!l || !g)
    goto out;
  for (size_t i = 0; i < n; i++) {
    l[i].label = labels[i];
    l[i].id = ids[i];
  }
  qsort(l, n, sizeof(*l), cmp_lab);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && l[j].label == l[i].label)
      j++;
    if (j - i >= 2) {
      g[ng].first = l[i].id;
      g[ng].start = i;
      g[ng].len = j - i;
      ng++;
      nm += j - i;
    }
    i = j;
  }
  if (ng == 0) {
    r = 0;
    goto out;
  }
  qsort(g, ng, sizeof(*g), cmp_grp);
  ret->off = malloc((ng + 1) * sizeof(*ret->off));
  ret->ids = malloc(nm * sizeof(*ret->ids));
  if (!ret->off || !ret->ids) {
    neardup_groups_free(ret);
    goto out;
  }
  ret->off[0] = 0;
  for (size_t k = 0; k < ng; k++) {
    for (size_t m = 0; m < g[k].len; m++)
      ret->ids[ret->off[k] + m] = l[g[k].start + m].id;
    ret->off[k + 1] = ret->off[k] + g[k].len;
  }
  ret->ngroups = ng;
  r = 0;
out:
  free(l);
  free(g);
  return r;
}

/* Hash ordering for the exact pass. */
struct hrow {
  const uint8_t *h;
  size_t row;
};

static int cmp_hrow(const void *a, const void *b)
{
  const struct hrow *x = a, *y = b;
  int c = memcmp(x->h, y->h, 16);

  return c ? c : (x->row < y->row ? -1 : x->row > y->row);
}

int neardup_exact(const uint64_t *ids, const uint8_t (*hash)[16], size_t n,
                  struct neardup_groups *ret)
{
  struct hrow *h;
  size_t *labels;
  int r;

  memset(ret, 0, sizeof(*ret));
  if (n > 0 && (!ids || !hash))
    return -EINVAL;
  if (n == 0)
    return 0;
  h = malloc(n * sizeof(*h));
  labels = malloc(n * sizeof(*labels));
  if (!h || !labels) {
    free(h);
    free(labels);
    return -ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    h[i].h = hash[i];
    h[i].row = i;
  }
  qsort(h, n, sizeof(*h), cmp_hrow);
  for (size_t i = 0, lab = 0; i < n; i++) {
    if (i > 0 && memcmp(h[i].h, h[i - 1].h, 16) != 0)
      lab = i;
    labels[h[i].row] = lab;
  }
  r = groups_from_labels(labels, ids, n, ret);
  free(h);
  free(labels);
  return r;
}

/* The centre-based grouping of neardup.h, on the radius graph gr.
 * A max-heap of (free_weight, -id) picks the next centre; an entry whose
 * weight went down since it was pushed is pushed again with the current
 * weight (weights only go down), so each pop is either final or one of at
 * most (pairs) re-pushes. */
struct hent {
  double deg;       /* free_weight() when pushed */
  uint64_t id;
  size_t row;
};

static int hent_before(const struct hent *a, const struct hent *b)
{
  return a->deg != b->deg ? a->deg > b->deg : a->id < b->id;
}

static void heap_push(struct hent *h, size_t *n, struct hent e)
{
  size_t i = (*n)++;

  while (i > 0 && hent_before(&e, &h[(i - 1) / 2])) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = e;
}

static struct hent heap_pop(struct hent *h, size_t *n)
{
  struct hent top = h[0], last = h[--(*n)];
  size_t i = 0;

  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n)
      break;
    if (c + 1 < *n && hent_before(&h[c + 1], &h[c]))
      c++;
    if (!hent_before(&h[c], &last))
      break;
    h[i] = h[c];
    i = c;
  }
  if (*n)
    h[i] = last;
  return top;
}

#define UNSET SIZE_MAX

/* A candidate centre's weight: the sum of (thresh - distance) over its
 * ungrouped neighbours, plus a tiny term per neighbour so that a pair at
 * exactly the threshold still counts.  A pair near the threshold weighs
 * almost nothing, so a small change of distances (another sample set's
 * mean) rarely changes which centre comes first. */
static double free_weight(const struct knn_graph *gr, const size_t *lab,
                          size_t i, double thresh)
{
  double d = 0;

  for (size_t k = gr->off[i]; k < gr->off[i + 1]; k++)
    if (lab[gr->idx[k]] == UNSET)
      d += thresh - gr->dist[k] + 1e-9;
  return d;
}

/* Step 1: centres and their members (labels = the centre's row). */
static int pick_centres(const struct knn_graph *gr, const uint64_t *ids,
                        size_t n, double thresh, size_t *lab)
{
  size_t cap = n + gr->off[n], hn = 0;
  struct hent *h = malloc(cap * sizeof(*h));

  if (!h)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    lab[i] = UNSET;
  for (size_t i = 0; i < n; i++) {
    struct hent e = { free_weight(gr, lab, i, thresh), ids[i], i };
    if (e.deg > 0)
      heap_push(h, &hn, e);
  }
  while (hn) {
    struct hent e = heap_pop(h, &hn);
    double d;
    if (lab[e.row] != UNSET)
      continue;
    d = free_weight(gr, lab, e.row, thresh);
    if (d > 0 && d < e.deg) {   /* weaker now: back in line */
      e.deg = d;
      heap_push(h, &hn, e);
      continue;
    }
    if (d <= 0)
      continue;          /* every neighbour is taken: step 2 */
    lab[e.row] = e.row;
    for (size_t k = gr->off[e.row]; k < gr->off[e.row + 1]; k++)
      if (lab[gr->idx[k]] == UNSET)
        lab[gr->idx[k]] = e.row;
  }
  free(h);
  return 0;
}

/* Step 2: a sample left over with a neighbour joins the group of its
 * nearest neighbour (ties: smallest id).  A leftover's neighbours all
 * belong to groups of step 1 (it would have been a centre otherwise), so
 * this reads labels step 2 never writes: the order does not matter, and a
 * leftover never joins two groups.  Step 3: the rest are alone. */
static void attach_leftovers(const struct knn_graph *gr, const uint64_t *ids,
                             size_t n, size_t *lab)
{
  for (size_t i = 0; i < n; i++) {
    size_t best = UNSET;
    if (lab[i] != UNSET)
      continue;
    for (size_t k = gr->off[i]; k < gr->off[i + 1]; k++)
      if (best == UNSET || gr->dist[k] < gr->dist[best] ||
          (gr->dist[k] == gr->dist[best] &&
           ids[gr->idx[k]] < ids[gr->idx[best]]))
        best = k;
    lab[i] = best != UNSET ? lab[gr->idx[best]] : i;
  }
}

/* Rows with identical vectors (a few thousand blank frames all have the
 * features of a flat picture) would make a clique of n^2 pairs and exceed
 * the pair bound whatever the threshold.  They are collapsed first: the
 * graph is built on one row per distinct vector, kept at the position of
 * its first copy with the smallest id of its copies, and every copy then
 * takes its row's label.  Without copies nothing changes. */
struct urow {
  const float *v;
  size_t row;
};

static int cmp_urow(const void *a, const void *b, void *dim)
{
  const struct urow *x = a, *y = b;
  int c = memcmp(x->v, y->v, *(const size_t *)dim * sizeof(float));

  return c ? c : (x->row < y->row ? -1 : x->row > y->row);
}

/* rep[i] = the distinct row of row i (0..*nu), uid[u] its smallest id;
 * ux gets the distinct vectors in the order of their first copies. */
static int collapse(const float *x, size_t n, size_t d, const uint64_t *ids,
                    size_t *rep, float *ux, uint64_t *uid, size_t *nu)
{
  struct urow *u = malloc(n * sizeof(*u));
  size_t *first = malloc(n * sizeof(*first)), k = 0;

  if (!u || !first) {
    free(u);
    free(first);
    return -ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    u[i] = (struct urow){ x + i * d, i };
  qsort_r(u, n, sizeof(*u), cmp_urow, &d);
  /* first[i]: the first copy (in row order) of row i's vector. */
  for (size_t i = 0, g = 0; i < n; i++) {
    if (i > 0 && memcmp(u[i].v, u[i - 1].v, d * sizeof(float)) != 0)
      g = i;
    first[u[i].row] = u[g].row;
  }
  for (size_t i = 0; i < n; i++)
    if (first[i] == i) {
      memcpy(ux + k * d, x + i * d, d * sizeof(float));
      uid[k] = ids[i];
      rep[i] = k++;
    }
  for (size_t i = 0; i < n; i++) {
    rep[i] = rep[first[i]];
    if (ids[i] < uid[rep[i]])
      uid[rep[i]] = ids[i];
  }
  *nu = k;
  free(u);
  free(first);
  return 0;
}

int neardup_near(const float *x, size_t n, size_t d, const uint64_t *ids,
                 double thresh, const struct knn_opts *opts,
                 struct neardup_groups *ret)
{
  struct knn_graph gr = { 0 };
  float *c = NULL;
  size_t *lab = NULL, *rep = NULL, *ulab = NULL, max_pairs, nu = 0;
  uint64_t *uid = NULL;
  int r;

  memset(ret, 0, sizeof(*ret));
  if ((n > 0 && (!x || !ids || d == 0)) || !(thresh >= 0 && thresh <= 2))
    return -EINVAL;
  if (n < 2)
    return 0;
  if (n > SIZE_MAX / d / sizeof(float))
    return -ENOMEM;
  c = malloc(n * d * sizeof(float));
  lab = malloc(n * sizeof(*lab));
  rep = malloc(n * sizeof(*rep));
  ulab = malloc(n * sizeof(*ulab));
  uid = malloc(n * sizeof(*uid));
  if (!c || !lab || !rep || !ulab || !uid) {
    r = -ENOMEM;
    goto out;
  }
  r = collapse(x, n, d, ids, rep, c, uid, &nu);
  if (r < 0)
    goto out;
  if (nu >= 2) {
    r = knn_center_normalize(c, nu, d);
    if (r < 0)
      goto out;
    max_pairs = 64 * n > ((size_t)1 << 22) ? 64 * n : ((size_t)1 << 22);
    r = knn_radius(c, nu, d, thresh, max_pairs, opts, &gr);
    if (r < 0)
      goto out;
    r = pick_centres(&gr, uid, nu, thresh, ulab);
    if (r < 0)
      goto out;
    attach_leftovers(&gr, uid, nu, ulab);
  } else {
    ulab[0] = 0;
  }
  for (size_t i = 0; i < n; i++)
    lab[i] = ulab[rep[i]];
  r = groups_from_labels(lab, ids, n, ret);
out:
  knn_graph_free(&gr);
  free(c);
  free(lab);
  free(rep);
  free(ulab);
  free(uid);
  return r;
}
