/* neardup.c - duplicate groups (see neardup.h): sort-and-scan for equal
 * hashes; for embeddings, identical rows collapsed, main and sub-window
 * rows centred on the origin, pairs proposed by knn_exact_rows() (and
 * knn_radius_rows() where a list is full) and measured again in double,
 * then centre-based grouping, which asks for the thumbnail check of a
 * pair when it needs its verdict (scored once, kept per pair); one
 * routine turns (row -> label) labels into ordered groups.  No store, no
 * I/O.
 */
#define _GNU_SOURCE /* qsort_r */
#include "neardup.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "imgverify.h"
#include "neardup_i.h"

void neardup_groups_free(struct neardup_groups *g)
{
  if (!g)
    return;
  free(g->off);
  free(g->ids);
  free(g->nn_dist);
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

/* Rows with identical vectors (a few thousand blank frames all have the
 * features of a flat picture) would make a clique of n^2 pairs and exceed
 * the pair bound whatever the threshold.  They are collapsed first: the
 * graph is built on one row per distinct vector, kept at the position of
 * its first copy with the smallest id of its copies and that copy's
 * sub-windows and thumbnail, and every copy then takes its row's label.
 * Without copies nothing changes. */
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

/* rep[i] = the distinct row of row i (0..*nu), uid[u] its smallest id,
 * src[u] the row of that copy; copies[u] how many rows share it. */
static int collapse(const float *x, size_t n, size_t d, const uint64_t *ids,
                    size_t *rep, size_t *src, uint64_t *uid, size_t *copies,
                    size_t *nu)
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
      src[k] = i;
      uid[k] = ids[i];
      copies[k] = 0;
      rep[i] = k++;
    }
  /* The copy with the smallest id gives the row its sub-windows and
   * thumbnail (src), not the first in row order: copies may differ there
   * (one without a thumbnail), and the result must not follow the input
   * order. */
  for (size_t i = 0; i < n; i++) {
    rep[i] = rep[first[i]];
    copies[rep[i]]++;
    if (ids[i] < uid[rep[i]]) {
      uid[rep[i]] = ids[i];
      src[rep[i]] = i;
    }
  }
  *nu = k;
  free(u);
  free(first);
  return 0;
}

/* ---- verification (imgverify.h) and grouping ---- */

/* What is known of a pair: each directed entry k of the graph has a
 * verdict, the same as its reverse entry rev[k].  Pairs are checked when
 * the grouping needs them (neardup.h): first each sample's
 * NEARDUP_VERIFY_K nearest, on up to opts->nthreads threads, then a few
 * more one at a time.  Each pair is scored at most once, with the
 * thumbnail of the smaller sample id first, so its verdict depends on
 * its two images only. */
enum { V_UNKNOWN, V_PASS, V_FAIL, V_QUEUED };

struct vstate {
  const struct knn_graph *gr;
  const struct neardup_input *in;   /* NULL: nothing to check */
  const size_t *src;
  const uint64_t *uid;
  size_t *row;           /* row[k]: the sample whose list holds entry k */
  size_t *rev;           /* rev[k]: the same pair from the other side */
  uint8_t *vd;           /* verdict of entry k */
  /* The prepared thumbnails: prep[pidx[u]] for distinct row u
   * (NULL: every pair prepares its two, past VERIFY_PREP_MAX). */
  struct imgverify_prep *prep;
  size_t *pidx;
  size_t *prow;          /* the rows to prepare, nprep of them */
  size_t nprep;
  size_t checked;        /* pairs scored */
  const int *stop;       /* knn_opts.stop, borrowed: read between pairs */
};

/* Whether the owner asked the grouping to give up (knn_opts.stop): the
 * thumbnail checks of a large run take as long as its k-NN. */
static bool stopped(const struct vstate *st)
{
  return st->stop && __atomic_load_n(st->stop, __ATOMIC_RELAXED);
}

/* The parallel part: prepare the thumbnails, or score the entries e[0 ..
 * n) into keep[]. */
struct vjob {
  struct vstate *st;
  const size_t *e;
  uint8_t *keep;
  size_t n;
  atomic_size_t next;
};

#define VERIFY_CHUNK 32
/* Bytes of prepared thumbnails kept for one grouping run (about 16,000
 * samples in pairs); a larger run prepares per pair instead. */
#define VERIFY_PREP_MAX ((size_t)128 << 20)

/* Whether the pair of distinct rows ua, ub scores at the verify level
 * (both have a thumbnail). */
static bool pair_passes(const struct vstate *st, size_t ua, size_t ub)
{
  const struct neardup_input *in = st->in;
  double sc;

  if (st->uid[ub] < st->uid[ua]) {
    size_t t = ua;
    ua = ub;
    ub = t;
  }
  if (st->prep)
    sc = imgverify_score_prep(&st->prep[st->pidx[ua]],
                              &st->prep[st->pidx[ub]], in->verify);
  else
    sc = imgverify_score(in->thumbs + st->src[ua] * IMGVERIFY_BYTES,
                         in->thumbs + st->src[ub] * IMGVERIFY_BYTES,
                         in->verify);
  return sc >= in->verify;
}

/* Both rows of entry k have a thumbnail (else the pair is kept
 * unchecked). */
static bool entry_has_thumbs(const struct vstate *st, size_t k)
{
  return st->in->thumb_ok[st->src[st->row[k]]] &&
         st->in->thumb_ok[st->src[st->gr->idx[k]]];
}

static void *prepare_worker(void *arg)
{
  struct vjob *j = arg;
  const struct vstate *st = j->st;
  size_t s;

  while ((s = atomic_fetch_add(&j->next, VERIFY_CHUNK)) < st->nprep &&
         !stopped(st))
    for (size_t i = s; i < st->nprep && i < s + VERIFY_CHUNK; i++)
      imgverify_prepare(st->in->thumbs + st->src[st->prow[i]] *
                                             IMGVERIFY_BYTES,
                        &st->prep[i]);
  return NULL;
}

static void *verify_worker(void *arg)
{
  struct vjob *j = arg;
  const struct vstate *st = j->st;
  size_t s;

  while ((s = atomic_fetch_add(&j->next, VERIFY_CHUNK)) < j->n &&
         !stopped(st))
    for (size_t i = s; i < j->n && i < s + VERIFY_CHUNK; i++)
      j->keep[i] = pair_passes(st, st->row[j->e[i]], st->gr->idx[j->e[i]]);
  return NULL;
}

/* Runs fn over the n items of j on nthreads threads (the caller is
 * one). */
static void verify_run(struct vjob *j, void *(*fn)(void *), size_t n,
                       unsigned nthreads)
{
  pthread_t th[16];
  unsigned nt = 0;

  atomic_init(&j->next, 0);
  if (nthreads > 16)
    nthreads = 16;
  while (nt + 1 < nthreads && (size_t)(nt + 1) * VERIFY_CHUNK < n &&
         pthread_create(&th[nt], NULL, fn, j) == 0)
    nt++;
  fn(j);
  for (unsigned i = 0; i < nt; i++)
    pthread_join(th[i], NULL);
}

static void set_verdict(struct vstate *st, size_t k, uint8_t v)
{
  st->vd[k] = v;
  st->vd[st->rev[k]] = v;
}

/* The verdict of entry k, scoring the pair now if it is not known. */
static uint8_t verdict(struct vstate *st, size_t k)
{
  if (st->vd[k] == V_UNKNOWN) {
    bool pass = true;
    if (entry_has_thumbs(st, k)) {
      pass = pair_passes(st, st->row[k], st->gr->idx[k]);
      st->checked++;
    }
    set_verdict(st, k, pass ? V_PASS : V_FAIL);
  }
  return st->vd[k];
}

/* Entries keyed by their pair, to find each one's reverse. */
struct ekey {
  uint32_t hi;
  size_t k;
};

/* Within one lo: by hi, then entry. */
static int cmp_ekey(const void *x, const void *y)
{
  const struct ekey *a = x, *b = y;

  if (a->hi != b->hi)
    return a->hi < b->hi ? -1 : 1;
  return a->k < b->k ? -1 : a->k > b->k;
}

/* st->row and st->rev (the graph holds every pair from both sides, once
 * each): each entry keyed by its pair (lo, hi), the keys placed by lo
 * straight from the graph (a counting pass), then each lo's few sorted
 * on their own, so that a stop is seen every PAIRS_STOP_EVERY entries
 * rather than after one sort of millions.  0, -ENOMEM or -ECANCELED. */
static int vstate_index(struct vstate *st)
{
  const struct knn_graph *gr = st->gr;
  size_t m = gr->off[gr->n], since = 0;
  struct ekey *e = malloc((m ? m : 1) * sizeof(*e));
  size_t *pos = calloc(gr->n + 1, sizeof(*pos));

  st->row = malloc((m ? m : 1) * sizeof(*st->row));
  st->rev = malloc((m ? m : 1) * sizeof(*st->rev));
  if (!e || !pos || !st->row || !st->rev) {
    free(e);
    free(pos);
    return -ENOMEM;
  }
  for (size_t u = 0; u < gr->n; u++)
    for (size_t k = gr->off[u]; k < gr->off[u + 1]; k++)
      pos[(u < gr->idx[k] ? u : gr->idx[k]) + 1]++;
  for (size_t u = 0; u < gr->n; u++)
    pos[u + 1] += pos[u];
  for (size_t u = 0; u < gr->n; u++)
    for (size_t k = gr->off[u]; k < gr->off[u + 1]; k++) {
      uint32_t v = gr->idx[k];
      st->row[k] = u;
      e[pos[u < v ? u : v]++] = (struct ekey){ u < v ? v : (uint32_t)u, k };
    }
  /* pos[lo] is now where lo's keys end, the start of lo + 1's */
  for (size_t lo = 0, i = 0; lo < gr->n; lo++) {
    size_t end = pos[lo];
    since += end - i;
    if (end - i > 1)
      qsort(e + i, end - i, sizeof(*e), cmp_ekey);
    while (i < end)
      if (i + 1 < end && e[i].hi == e[i + 1].hi) {
        st->rev[e[i].k] = e[i + 1].k;
        st->rev[e[i + 1].k] = e[i].k;
        i += 2;
      } else {              /* not expected: a pair seen from one side */
        st->rev[e[i].k] = e[i].k;
        i++;
      }
    if (since >= PAIRS_STOP_EVERY) {
      since = 0;
      if (stopped(st)) {
        free(e);
        free(pos);
        return -ECANCELED;
      }
    }
  }
  free(e);
  free(pos);
  return 0;
}

/* The rows of the graph in a pair with a thumbnail, each to be prepared
 * once (prow, pidx, prep); none when they would take more than
 * VERIFY_PREP_MAX (then each pair prepares its own).  0 or -ENOMEM. */
static int vstate_prepare(struct vstate *st)
{
  const struct knn_graph *gr = st->gr;
  size_t np = 0;

  for (size_t u = 0; u < gr->n; u++)
    np += gr->off[u + 1] > gr->off[u] && st->in->thumb_ok[st->src[u]];
  if (np == 0 || np > VERIFY_PREP_MAX / sizeof(struct imgverify_prep))
    return 0;
  st->pidx = malloc(gr->n * sizeof(*st->pidx));
  st->prow = malloc(np * sizeof(*st->prow));
  st->prep = malloc(np * sizeof(*st->prep));
  if (!st->pidx || !st->prow || !st->prep) {
    free(st->prep);
    st->prep = NULL;
    return -ENOMEM;
  }
  np = 0;
  for (size_t u = 0; u < gr->n; u++)
    if (gr->off[u + 1] > gr->off[u] && st->in->thumb_ok[st->src[u]]) {
      st->pidx[u] = np;
      st->prow[np++] = u;
    } else {
      st->pidx[u] = SIZE_MAX;
    }
  st->nprep = np;
  return 0;
}

/* The first pass: the pairs among each sample's NEARDUP_VERIFY_K nearest,
 * each once, scored on nthreads threads. */
static int vstate_first(struct vstate *st, unsigned nthreads)
{
  const struct knn_graph *gr = st->gr;
  struct vjob j = { .st = st };
  size_t *e, n = 0;
  int r;

  e = malloc((gr->off[gr->n] ? gr->off[gr->n] : 1) * sizeof(*e));
  if (!e)
    return -ENOMEM;
  for (size_t u = 0; u < gr->n; u++)
    for (size_t k = gr->off[u];
         k < gr->off[u + 1] && k < gr->off[u] + NEARDUP_VERIFY_K; k++)
      if (st->vd[k] == V_UNKNOWN) {
        if (entry_has_thumbs(st, k)) {
          set_verdict(st, k, V_QUEUED);
          e[n++] = k;
        } else {
          set_verdict(st, k, V_PASS);
        }
      }
  j.e = e;
  j.n = n;
  j.keep = malloc(n ? n : 1);
  r = j.keep ? vstate_prepare(st) : -ENOMEM;
  if (r == 0) {
    if (st->nprep)
      verify_run(&j, prepare_worker, st->nprep, nthreads);
    if (!stopped(st))
      verify_run(&j, verify_worker, n, nthreads);
    r = stopped(st) ? -ECANCELED : 0;   /* keep[] is partly written */
  }
  if (r == 0) {
    for (size_t i = 0; i < n; i++)
      set_verdict(st, e[i], j.keep[i] ? V_PASS : V_FAIL);
    st->checked += n;
  }
  free(j.keep);
  free(e);
  return r;
}

/* Sets up st for the graph: every verdict a pass when nothing is to be
 * checked, else the first pass done. */
static int vstate_init(struct vstate *st, const struct knn_graph *gr,
                       const struct neardup_input *in, const size_t *src,
                       const uint64_t *uid, const struct knn_opts *opts)
{
  size_t m = gr->off[gr->n];
  bool check = in->thumbs && in->verify > 0;
  int r;

  memset(st, 0, sizeof(*st));
  st->stop = opts ? opts->stop : NULL;
  st->gr = gr;
  st->in = check ? in : NULL;
  st->src = src;
  st->uid = uid;
  st->vd = malloc(m ? m : 1);
  if (!st->vd)
    return -ENOMEM;
  memset(st->vd, check ? V_UNKNOWN : V_PASS, m);
  if (!check)
    return 0;
  if ((r = vstate_index(st)) < 0)
    return r;
  if (stopped(st))
    return -ECANCELED;
  return vstate_first(st, opts && opts->nthreads ? opts->nthreads : 2);
}

static void vstate_free(struct vstate *st)
{
  free(st->row);
  free(st->rev);
  free(st->vd);
  free(st->prep);
  free(st->pidx);
  free(st->prow);
}

#define UNSET SIZE_MAX

/* Walks row u's list in order (distance, then id), over the neighbours
 * labelled in lab[] when lab is given: the first entry whose pair passes,
 * checking pairs not yet known, until NEARDUP_VERIFY_K of them are known
 * to fail; SIZE_MAX if none. */
static size_t walk(struct vstate *st, size_t u, const size_t *lab)
{
  const struct knn_graph *gr = st->gr;
  size_t fails = 0;

  for (size_t k = gr->off[u]; k < gr->off[u + 1]; k++) {
    if (lab && lab[gr->idx[k]] == UNSET)
      continue;
    if (verdict(st, k) == V_PASS)
      return k;
    if (++fails >= NEARDUP_VERIFY_K)
      break;
  }
  return SIZE_MAX;
}

/* The centre-based grouping of neardup.h.
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

/* A candidate centre's weight: the sum of (thresh - distance) over its
 * ungrouped neighbours whose pair is not known to fail, plus a tiny term
 * per neighbour so that a pair at exactly the threshold still counts.  A
 * pair near the threshold weighs almost nothing, so a small change of
 * distances (another sample set's mean) rarely changes which centre comes
 * first. */
static double free_weight(const struct vstate *st, const size_t *lab,
                          size_t i, double thresh)
{
  const struct knn_graph *gr = st->gr;
  double d = 0;

  for (size_t k = gr->off[i]; k < gr->off[i + 1]; k++)
    if (lab[gr->idx[k]] == UNSET && st->vd[k] != V_FAIL)
      d += thresh - gr->dist[k] + 1e-9;
  return d;
}

/* Checks the pairs of row u with its ungrouped neighbours not yet known,
 * in order, until NEARDUP_VERIFY_K times (1 + the pairs that pass) of
 * those pairs are known to fail.  The pairs that pass become members, so
 * the checks of every call together stay within (2 NEARDUP_VERIFY_K + 1)
 * per sample, while a sample with a passing pair for every
 * NEARDUP_VERIFY_K failing ones takes all of them. */
static void resolve(struct vstate *st, size_t u, const size_t *lab)
{
  const struct knn_graph *gr = st->gr;
  size_t fails = 0, passes = 0;

  for (size_t k = gr->off[u]; k < gr->off[u + 1]; k++) {
    if (lab[gr->idx[k]] != UNSET)
      continue;
    if (verdict(st, k) == V_PASS)
      passes++;
    else if (++fails >= NEARDUP_VERIFY_K * (1 + passes))
      break;
  }
}

/* Step 1: centres and their members (labels = the centre's row). */
static int pick_centres(struct vstate *st, size_t n, double thresh,
                        size_t *lab)
{
  const struct knn_graph *gr = st->gr;
  size_t cap = n + gr->off[n], hn = 0;
  struct hent *h = malloc(cap * sizeof(*h));

  if (!h)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    lab[i] = UNSET;
  for (size_t i = 0; i < n; i++) {
    struct hent e = { free_weight(st, lab, i, thresh), st->uid[i], i };
    if (e.deg > 0)
      heap_push(h, &hn, e);
  }
  while (hn && !stopped(st)) {
    struct hent e = heap_pop(h, &hn);
    double d;
    bool any = false;
    if (lab[e.row] != UNSET)
      continue;
    d = free_weight(st, lab, e.row, thresh);
    if (d > 0 && d < e.deg) {   /* weaker now: back in line */
      e.deg = d;
      heap_push(h, &hn, e);
      continue;
    }
    if (d <= 0)
      continue;          /* every neighbour is taken: step 2 */
    /* The first: its pairs beyond the first pass are checked now, and it
     * takes those that pass (none: it is no centre). */
    resolve(st, e.row, lab);
    for (size_t k = gr->off[e.row]; k < gr->off[e.row + 1] && !any; k++)
      any = lab[gr->idx[k]] == UNSET && st->vd[k] == V_PASS;
    if (!any)
      continue;
    lab[e.row] = e.row;
    for (size_t k = gr->off[e.row]; k < gr->off[e.row + 1]; k++)
      if (lab[gr->idx[k]] == UNSET && st->vd[k] == V_PASS)
        lab[gr->idx[k]] = e.row;
  }
  free(h);
  return stopped(st) ? -ECANCELED : 0;
}

/* The first entry of row u's list (over the neighbours labelled in lab[]
 * when lab is given) whose pair is known to pass; SIZE_MAX if none. */
static size_t first_known_pass(const struct vstate *st, size_t u,
                               const size_t *lab)
{
  const struct knn_graph *gr = st->gr;

  for (size_t k = gr->off[u]; k < gr->off[u + 1]; k++)
    if ((!lab || lab[gr->idx[k]] != UNSET) && st->vd[k] == V_PASS)
      return k;
  return SIZE_MAX;
}

/* Step 2: a sample left over joins the group of its nearest neighbour
 * grouped in step 1 whose pair passes (ties: smallest id): the walk
 * above, and past it the nearest whose pair is already known to pass.
 * It reads the labels of step 1 only (step1[]), and the pairs it scores
 * are its own with grouped samples, which no other leftover scores, so
 * the order does not matter, and a leftover never joins two groups.
 * Step 3: the rest are alone (alone[u] = 1). */
static int attach_leftovers(struct vstate *st, size_t n, size_t *lab,
                            uint8_t *alone)
{
  size_t *step1 = malloc(n * sizeof(*step1));

  if (!step1)
    return -ENOMEM;
  memcpy(step1, lab, n * sizeof(*step1));
  for (size_t i = 0; i < n && !stopped(st); i++) {
    size_t k;
    alone[i] = 0;
    if (step1[i] != UNSET)
      continue;
    k = walk(st, i, step1);
    if (k == SIZE_MAX)
      k = first_known_pass(st, i, step1);
    lab[i] = k != SIZE_MAX ? step1[st->gr->idx[k]] : i;
    alone[i] = k == SIZE_MAX;
  }
  free(step1);
  return stopped(st) ? -ECANCELED : 0;
}

/* nn[u]: the distance of the nearest sample within the threshold whose
 * pair passes, -1 if none.  For a sample in a group: the walk over its
 * list; when it gives up, the nearest pair known to pass once the groups
 * were made (taken before any walk here, so that no walk depends on
 * another).  A sample alone has no pair known to pass then (it would
 * have been taken or joined a group) and scores none: -1. */
static int nearest_passing(struct vstate *st, const uint8_t *alone,
                           double *nn)
{
  const struct knn_graph *gr = st->gr;
  size_t *known = malloc((gr->n ? gr->n : 1) * sizeof(*known));

  if (!known)
    return -ENOMEM;
  for (size_t u = 0; u < gr->n; u++)
    known[u] = first_known_pass(st, u, NULL);
  for (size_t u = 0; u < gr->n && !stopped(st); u++) {
    size_t k = alone[u] ? SIZE_MAX : walk(st, u, NULL);
    if (k == SIZE_MAX)
      k = known[u];
    nn[u] = k != SIZE_MAX ? gr->dist[k] : -1;
  }
  free(known);
  return stopped(st) ? -ECANCELED : 0;
}

static int check_input(const struct neardup_input *in, double thresh)
{
  size_t n = in ? in->n : 0, d = in ? in->d : 0;

  if (!in || (n > 0 && (!in->x || !in->ids || d == 0)) ||
      !(thresh >= 0 && thresh <= 2) || (in->sub && in->nsub == 0) ||
      n >= KNN_NONE / (1 + (in->sub ? in->nsub : 0)))
    return -EINVAL;
  for (size_t i = 0; i < n * d; i++)
    if (!isfinite(in->x[i]))
      return -EINVAL;
  for (size_t i = 0; in->sub && i < n * in->nsub * d; i++)
    if (!isfinite(in->sub[i]))
      return -EINVAL;
  if (in->thumbs && !in->thumb_ok)
    return -EINVAL;
  for (size_t i = 0; in->mean && i < d; i++)
    if (!isfinite(in->mean[i]))
      return -EINVAL;
  return 0;
}

/* Search, pairs and grouping on the distinct rows: ulab[u] the label of
 * distinct row u, unn[u] its nearest other sample's distance. */
static int near_distinct(const struct neardup_input *in, const size_t *src,
                         const uint64_t *uid, size_t nu, double thresh,
                         const struct knn_opts *opts, size_t *ulab,
                         double *unn, size_t *ret_capped,
                         size_t *ret_pairs, size_t *ret_checked)
{
  struct vstate st = { 0 };
  struct rows rw = { 0 };
  struct pairs ps = { 0 };
  struct knn_graph gr = { 0 };
  size_t *capped = malloc(nu * sizeof(*capped)), nc = 0;
  uint8_t *alone = malloc(nu);
  double *pnn = malloc(nu * sizeof(*pnn));
  size_t max_pairs = 64 * in->n > ((size_t)1 << 22) ? 64 * in->n
                                                     : ((size_t)1 << 22);
  int r = capped && alone && pnn ? rows_build(in, src, nu, &rw) : -ENOMEM;

  if (r == 0)
    r = pairs_knn(&rw, thresh, opts, &ps, unn, capped, &nc);
  if (r == 0 && nc > 0) {
    r = pairs_radius(&rw, thresh, opts, capped, nc, max_pairs, &ps, unn);
    if (r == 1) {
      *ret_capped = nc;
      r = 0;
    }
  }
  if (r == 0)
    r = step_ok(opts);
  if (r == 0)
    r = pairs_graph(&ps, nu, uid, opts, &gr);
  /* The graph holds them now: the raw pairs (repeated, both sides) go
   * before the verdicts and indexes are allocated. */
  free(ps.p);
  ps.p = NULL;
  if (r == 0)
    r = step_ok(opts);
  if (r == 0)
    r = vstate_init(&st, &gr, in, src, uid, opts);
  if (r == 0)
    r = pick_centres(&st, nu, thresh, ulab);
  if (r == 0)
    r = attach_leftovers(&st, nu, ulab, alone);
  if (r == 0)
    r = nearest_passing(&st, alone, pnn);
  if (r == 0) {
    /* The nearest sample within the threshold whose pair passes (a pair
     * may have been found from the other side only, its sub-window
     * against my main vector); without one, the nearest beyond, NaN when
     * every candidate was within the threshold and none passed. */
    for (size_t u = 0; u < nu; u++)
      if (pnn[u] >= 0)
        unn[u] = pnn[u];
      else if (isinf(unn[u]))
        unn[u] = NAN;
    *ret_pairs = gr.off[nu] / 2;
    *ret_checked = st.checked;
  }
  vstate_free(&st);
  knn_graph_free(&gr);
  free(ps.p);
  free(rw.z);
  free(capped);
  free(alone);
  free(pnn);
  return r;
}

int neardup_near_in(const struct neardup_input *in, double thresh,
                    const struct knn_opts *opts, struct neardup_groups *ret)
{
  size_t n, *lab = NULL, *rep = NULL, *ulab = NULL, *src = NULL;
  size_t *copies = NULL, nu = 0;
  uint64_t *uid = NULL;
  double *unn = NULL;
  int r;

  memset(ret, 0, sizeof(*ret));
  r = check_input(in, thresh);
  if (r < 0)
    return r;
  n = in->n;
  if (n == 0)
    return 0;
  ret->nn_dist = malloc(n * sizeof(*ret->nn_dist));
  if (!ret->nn_dist)
    return -ENOMEM;
  if (n < 2) {
    ret->nn_dist[0] = NAN;
    return 0;
  }
  lab = malloc(n * sizeof(*lab));
  rep = malloc(n * sizeof(*rep));
  ulab = malloc(n * sizeof(*ulab));
  src = malloc(n * sizeof(*src));
  copies = malloc(n * sizeof(*copies));
  uid = malloc(n * sizeof(*uid));
  unn = malloc(n * sizeof(*unn));
  if (!lab || !rep || !ulab || !src || !copies || !uid || !unn) {
    r = -ENOMEM;
    goto out;
  }
  r = collapse(in->x, n, in->d, in->ids, rep, src, uid, copies, &nu);
  if (r < 0)
    goto out;
  if (nu >= 2) {
    r = near_distinct(in, src, uid, nu, thresh, opts, ulab, unn,
                      &ret->capped, &ret->pairs, &ret->checked);
    if (r < 0)
      goto out;
  } else {
    ulab[0] = 0;
    unn[0] = INFINITY;
  }
  for (size_t i = 0; i < n; i++) {
    lab[i] = ulab[rep[i]];
    ret->nn_dist[i] = copies[rep[i]] > 1 ? 0.0f : (float)unn[rep[i]];
  }
  r = groups_from_labels(lab, in->ids, n, ret);
out:
  if (r < 0)
    neardup_groups_free(ret);
  free(lab);
  free(rep);
  free(ulab);
  free(src);
  free(copies);
  free(uid);
  free(unn);
  return r;
}

int neardup_near(const float *x, size_t n, size_t d, const uint64_t *ids,
                 double thresh, const struct knn_opts *opts,
                 struct neardup_groups *ret)
{
  struct neardup_input in = { .x = x, .n = n, .d = d, .ids = ids };

  return neardup_near_in(&in, thresh, opts, ret);
}
