/* viewcompute.c - the computations behind views/ (see viewcompute.h).
 * Reads the store, settings (config.h), labels and embeddings through the
 * caller's transaction; the maths is core/compute's (uniqueness.h,
 * similarity.h, knn.h, neardup.h).  Knows nothing of the cache, files or
 * FUSE. */
#include "viewcompute.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "featstore.h"
#include "imgfeat.h"
#include "knn.h"
#include "labels.h"
#include "maxiou.h"
#include "nemb.h"
#include "neardup.h"
#include "similarity.h"
#include "uniqueness.h"
#include "util.h"

static void progress_set(const struct viewcompute_progress *p, uint64_t *at,
                         uint64_t v)
{
  pthread_mutex_lock(p->mu);
  *at = v;
  pthread_mutex_unlock(p->mu);
}

static uint64_t mix(uint64_t h, uint64_t x)
{
  h ^= x + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdULL;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
  for (; *s; s++)
    h = mix(h, (unsigned char)*s);
  return h;
}

/* ---- duplicate boxes ---- */

/* 1 when some box of sample `id` is flagged by maxiou_dupe_flags(). */
static int sample_has_dupes(struct store_txn *t, uint64_t id)
{
  struct labels l;
  bool *flags, any = false;
  size_t n;
  int r = store_labels_get(t, id, &l);

  if (r < 0)
    return r;
  r = maxiou_dupe_flags(t, &l, &flags, NULL, &n);
  labels_free(&l);
  if (r < 0)
    return r;
  for (size_t i = 0; i < n; i++)
    any |= flags[i];
  free(flags);
  return any;
}

void dupes_memo_free(struct dupes_memo *m)
{
  free(m->v);
  memset(m, 0, sizeof(*m));
}

static uint64_t dupes_settings_fp(struct store_txn *t)
{
  static const char *const keys[] = { "dupes.iou", "dupes.classes",
                                      "dupes.field" };
  uint64_t h = 0xd0b5;
  char sv[300];

  for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
    config_get_str(t, keys[i], sv, sizeof(sv));
    h = mix(mix_str(h, sv), i);
  }
  return h;
}

/* The verdicts of this run, built beside the memo of the last one. */
struct dupes_run {
  struct dupes_memo *old;
  size_t at;                /* next entry of old to compare */
  struct dupes_memo now;
  size_t cap;
};

static int run_add(struct dupes_run *d, uint64_t id, uint64_t ver, int flag)
{
  if (d->now.n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 1024;
    struct dupes_verdict *nv = realloc(d->now.v, nc * sizeof(*nv));
    if (!nv)
      return -ENOMEM;
    d->now.v = nv;
    d->cap = nc;
  }
  d->now.v[d->now.n++] = (struct dupes_verdict){ id, ver, flag != 0 };
  return 0;
}

/* Sample s's verdict: the last run's when its labels are the same. */
static int dupes_verdict(struct store_txn *t, struct dupes_run *d,
                         const struct sample *s)
{
  const struct dupes_memo *o = d->old;
  int r;

  while (o && d->at < o->n && o->v[d->at].id < s->id)
    d->at++;
  if (o && d->at < o->n && o->v[d->at].id == s->id &&
      o->v[d->at].labels_version == s->labels_version)
    r = o->v[d->at].dupes;
  else if ((r = sample_has_dupes(t, s->id)) < 0)
    return r;
  if (d->old && run_add(d, s->id, s->labels_version, r) < 0)
    return -ENOMEM;
  return r;
}

int viewcompute_dupes(struct store_txn *t,
                      const struct viewcompute_progress *p,
                      struct dupes_memo *memo, struct view_list *out)
{
  struct store_iter *it;
  struct sample s;
  uint64_t from = 1, total = 0, settings = dupes_settings_fp(t);
  struct dupes_run d = { 0 };
  size_t cap = 0;
  int r;

  /* The last run's verdicts hold only under the same settings. */
  if (memo && memo->settings == settings) {
    d.old = memo;
  } else if (memo) {
    dupes_memo_free(memo);
    d.old = memo;   /* empty: every sample is judged, and remembered */
  }
  store_sample_count(t, &total);
  progress_set(p, p->total, total);
  r = store_iter_new(t, &it);
  if (r < 0)
    return r;
  while ((r = store_iter_samples(it, from, &s)) == 0) {
    from = s.id + 1;
    if (s.flags & SAMPLE_MISSING)
      continue;
    r = dupes_verdict(t, &d, &s);
    if (r < 0)
      break;
    if (r > 0 && (r = view_list_add(out, &cap, s.id, 0)) < 0)
      break;
    if ((from & 1023) == 0)
      progress_set(p, p->done, from);
  }
  store_iter_free(it);
  if (r == -ENOENT)
    r = 0;
  if (memo) {
    /* A run that failed leaves the old memo as it was. */
    if (r == 0) {
      dupes_memo_free(memo);
      *memo = d.now;
      memo->settings = settings;
    } else {
      dupes_memo_free(&d.now);
    }
  }
  if (r == 0 && out->n == 0)
    snprintf(out->note, sizeof(out->note),
             "no sample has two boxes with IoU above dupes.iou");
  return r;
}

/* ---- embedding views ---- */

/* The embedding matrix of all listed samples (rows in sample-id order),
 * owned by the caller; -ENODATA when there are none yet. */
static int load_embeddings(struct store_txn *t, struct feat_matrix *m)
{
  int r = featstore_load_matrix(t, m);

  if (r == 0 && m->n == 0)
    r = -ENODATA;
  return r;
}

/* Fingerprint of the embedding set: which samples have which feature
 * records and verification thumbnails (the groups depend on both, and an
 * import can write thumbnails beside unchanged feature records).  A walk
 * over the records' keys and sizes plus a few bytes of each, much cheaper
 * than the k-NN it guards. */
struct fp_ctx {
  uint64_t h;
};

static int fp_rec(const void *key, size_t klen, const void *val, size_t vlen,
                  void *ud)
{
  struct fp_ctx *f = ud;
  const uint8_t *k = key, *v = val;

  for (size_t i = 0; i < klen; i++)
    f->h = mix(f->h, k[i]);
  f->h = mix(f->h, vlen);
  /* A feature record starts with its version, file size and mtime: a
   * changed file changes them.  A thumbnail's first 32 bytes hold its
   * version and the start of its pixels. */
  for (size_t i = 0; i < vlen && i < 32; i++)
    f->h = mix(f->h, v[i]);
  return 0;
}

/* An external embedding's record has no file size, mtime or hash in its
 * head (its vector is all it holds), so a second .npy of the same shape
 * would leave the head alone: every byte counts, eight at a time. */
static int fp_rec_whole(const void *key, size_t klen, const void *val,
                        size_t vlen, void *ud)
{
  struct fp_ctx *f = ud;
  const uint8_t *v = val;
  size_t i = 0;

  fp_rec(key, klen, val, 0, ud);
  for (; i + 8 <= vlen; i += 8) {
    uint64_t w;
    memcpy(&w, v + i, 8);
    f->h = mix(f->h, w);
  }
  for (; i < vlen; i++)
    f->h = mix(f->h, v[i]);
  return 0;
}

/* What of each sample the lists depend on besides its features: whether
 * it is missing (missing samples leave the matrix), its content hash
 * (equal hashes group) and the size and mtime its features must match to
 * count.  Not its labels, tags or name: an annotator's edits must not
 * make the views compute again. */
static int samples_fp(struct store_txn *t, struct fp_ctx *f)
{
  struct store_iter *it;
  struct sample s;
  uint64_t from = 1;
  int r = store_iter_new(t, &it);

  if (r < 0)
    return r;
  while ((r = store_iter_samples(it, from, &s)) == 0) {
    from = s.id + 1;
    f->h = mix(f->h, s.id);
    f->h = mix(f->h, s.flags & (SAMPLE_MISSING | SAMPLE_HASHED));
    f->h = mix(f->h, s.size);
    f->h = mix(f->h, (uint64_t)s.mtime_ns);
    if (s.flags & SAMPLE_HASHED) {
      uint64_t w[2];
      memcpy(w, s.hash, 16);
      f->h = mix(mix(f->h, w[0]), w[1]);
    }
  }
  store_iter_free(it);
  return r == -ENOENT ? 0 : r;
}

int viewcompute_embedding_fp(struct store_txn *t, uint64_t *ret)
{
  struct fp_ctx f = { 0x5eed };
  const void *stamp;
  size_t sl;
  int r;

  /* Which records count, and how they are read, is this build's. */
  f.h = mix(mix(mix(f.h, IMGFEAT_VERSION), IMGFEAT_DIM), IMGVERIFY_VERSION);
  /* External embeddings: the stamp of their import names the set, with
   * keys and sizes; a store from before stamps pays for every byte. */
  if (store_rec_get(t, FEATSTORE_NS_EXT_STAMP, "set", 3, &stamp, &sl) == 0) {
    fp_rec("set", 3, stamp, sl, &f);
    r = store_rec_each(t, FEATSTORE_NS_EXT, NULL, 0, false, fp_rec, &f);
  } else {
    r = store_rec_each(t, FEATSTORE_NS_EXT, NULL, 0, false, fp_rec_whole,
                       &f);
  }
  f.h = mix(f.h, 0xe47);
  if (r == 0)
    r = store_rec_each(t, FEATSTORE_NS, NULL, 0, false, fp_rec, &f);
  f.h = mix(f.h, 0x7b);
  if (r == 0)
    r = store_rec_each(t, FEATSTORE_NS_THUMB, NULL, 0, false, fp_rec, &f);
  if (r == 0)
    r = samples_fp(t, &f);
  *ret = f.h;
  return r;
}

int viewcompute_inputs_fp(struct store_txn *t, enum view_kind k,
                          uint64_t emb, uint64_t *ret)
{
  uint64_t h = 0x1234567ULL + (uint64_t)k;
  char sv[64];

  if (k == VIEW_DUPES) {
    uint64_t ver = 0;
    int r = store_version(t, &ver);
    *ret = mix(h, ver);
    return r;
  }
  /* Embedding views: the embedding set plus their settings. */
  *ret = mix(h, emb);
  if (k == VIEW_UNIQUE) {   /* its tiers are the near-duplicate groups */
    config_get_str(t, "unique.count", sv, sizeof(sv));
    *ret = mix_str(*ret, sv);
  }
  config_get_str(t, "neardup.threshold", sv, sizeof(sv));
  *ret = mix_str(*ret, sv);
  config_get_str(t, "neardup.verify", sv, sizeof(sv));
  *ret = mix_str(*ret, sv);
  return 0;
}

/* ---- views/unique ---- */

/* Neighbours per sample kept for find_unique: its greedy removal only
 * needs pairs within the bisected threshold, and with a few dozen nearest
 * neighbours per sample every count the view is asked for in practice is
 * reachable (the incomplete lists are guarded in uniq_find_unique). */
#define UNIQUE_K 32

/* The working set of one views/unique computation. */
struct uniq_work {
  struct feat_matrix m;
  size_t n, k;           /* samples, neighbours per sample */
  float *dist;           /* [n][k] k-NN distances ... */
  uint32_t *idx;         /* ... and indices (rows of m) */
  double *scores;        /* [n] uniqueness */
  bool *keep;            /* [n] kept by find_unique */
  size_t *order, cnt;    /* the kept samples, best first */
  struct knn_graph g;
  const int *stop;       /* viewcompute_progress.stop */
  const struct view_list *near; /* the near-duplicate view, or NULL */
};

static void uniq_work_free(struct uniq_work *w)
{
  knn_graph_free(&w->g);
  featstore_matrix_free(&w->m);
  free(w->idx);
  free(w->dist);
  free(w->scores);
  free(w->keep);
  free(w->order);
}

static int uniq_alloc(struct uniq_work *w)
{
  w->n = w->m.n;
  w->k = w->n > 1 ? MIN(w->n - 1, (size_t)UNIQUE_K) : 1;
  w->scores = malloc(w->n * sizeof(*w->scores));
  w->keep = malloc(w->n * sizeof(*w->keep));
  w->order = malloc(w->n * sizeof(*w->order));
  w->idx = malloc(w->n * w->k * sizeof(*w->idx));
  w->dist = malloc(w->n * w->k * sizeof(*w->dist));
  return w->scores && w->keep && w->order && w->idx && w->dist ? 0
                                                              : -ENOMEM;
}

/* One k-NN pass serves both the scores (its first 3 columns) and the
 * greedy removal of find_unique (the whole lists). */
static int uniq_score(struct uniq_work *w)
{
  int r;

  if (w->n <= UNIQ_K) {
    for (size_t i = 0; i < w->n; i++)
      w->scores[i] = 1.0;
    return 0;
  }
  struct sim_opts so = { .stop = w->stop };
  r = sim_knn(w->m.x, w->n, w->m.dim, w->k, w->idx, w->dist, &so);
  return r == 0 ? uniq_scores(w->dist, w->n, w->k, w->scores) : r;
}

/* Which samples find_unique keeps for a count of `want` (all for 0).
 * With UNIQ_K samples or fewer there are no k-NN lists (every score is
 * 1): all are kept, and the ranked order (representatives first) cuts. */
static int uniq_keep(struct uniq_work *w, int64_t want)
{
  struct uniq_graph_stop gs = { &w->g, w->stop, 0 };
  size_t kept;
  double thresh;
  int r;

  if (!(want > 0 && (size_t)want < w->n) || w->n <= UNIQ_K) {
    for (size_t i = 0; i < w->n; i++)
      w->keep[i] = true;
    return 0;
  }
  r = knn_graph_from_lists(w->idx, w->dist, w->n, w->k, &w->g);
  if (r == 0)
    r = uniq_find_unique(w->n, uniq_nbr_graph_stop, &gs, want, NAN, w->keep,
                         &kept, &thresh);
  return r;
}

/* Allocates out's scored arrays for n samples and copies their ids (in id
 * order) in; the caller fills the scores and distances.  On -ENOMEM what
 * was allocated stays in out, freed with the list. */
static int scored_alloc(struct view_list *out, const uint64_t *ids, size_t n)
{
  out->scored_ids = malloc(n * sizeof(*out->scored_ids));
  out->score = malloc(n * sizeof(*out->score));
  out->nn_dist = malloc(n * sizeof(*out->nn_dist));
  if (!out->scored_ids || !out->score || !out->nn_dist)
    return -ENOMEM;
  out->n_scored = n;
  memcpy(out->scored_ids, ids, n * sizeof(*ids));
  return 0;
}

/* Every sample's score and nearest distance, for the table (rows of the
 * matrix are in id order already). */
static int uniq_record_scores(const struct uniq_work *w,
                              struct view_list *out)
{
  size_t n = w->n;
  int r = scored_alloc(out, w->m.ids, n);

  if (r < 0)
    return r;
  memcpy(out->score, w->scores, n * sizeof(*w->scores));
  for (size_t i = 0; i < n; i++)
    out->nn_dist[i] = n > UNIQ_K && w->idx[i * w->k] != SIM_NONE
                          ? w->dist[i * w->k] : NAN;
  /* The first NEMB_K neighbours of each row, for the map of plots/ (the
   * same graph, not a second search). */
  if (n <= UNIQ_K)
    return 0;
  size_t kk = MIN(w->k, (size_t)NEMB_K);
  out->nbr = malloc(n * kk * sizeof(*out->nbr));
  if (!out->nbr)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    memcpy(out->nbr + i * kk, w->idx + i * w->k, kk * sizeof(*out->nbr));
  out->nbr_k = kk;
  return 0;
}

/* Near-copies share low scores, so a plain score order can list two
 * copies of one picture before a copy of another.  So representatives
 * first: the best-ranked member of each group of views/near-duplicates
 * (and every sample in none) forms the first tier, the other members the
 * second; both tiers keep the score order. */
static int uniq_tier(struct uniq_work *w, struct store_txn *t);

/* The first `want` of the ranked order into the list.  The bisection
 * works on k-NN lists, not on every pair: greedy removal cannot go below
 * about n / (k + 1) kept samples, so a small count can be out of its
 * reach; the ranked order (representatives first) then decides. */
static int uniq_emit(const struct uniq_work *w, int64_t want,
                     struct view_list *out)
{
  size_t cnt = w->cnt, cap = 0;
  int r = 0;

  if (want > 0 && cnt > (size_t)want) {
    if (w->n <= UNIQ_K)
      snprintf(out->note, sizeof(out->note), "%zu samples, every score 1: "
               "showing the first %lld by rank", cnt, (long long)want);
    else
      snprintf(out->note, sizeof(out->note), "find_unique kept %zu on the "
               "k-NN graph; showing the first %lld by rank", cnt,
               (long long)want);
    cnt = (size_t)want;
  }
  for (size_t i = 0; r == 0 && i < cnt; i++)
    r = view_list_add(out, &cap, w->m.ids[w->order[i]], (uint32_t)(i + 1));
  return r;
}

int viewcompute_unique(struct store_txn *t,
                       const struct viewcompute_progress *p,
                       const struct view_list *near, struct view_list *out)
{
  struct uniq_work w = { .stop = p->stop, .near = near };
  int64_t want = config_get_int(t, "unique.count");
  int r = load_embeddings(t, &w.m);

  if (r == -ENODATA) {
    snprintf(out->note, sizeof(out->note), "no embeddings yet (import "
             "computes them; see status)");
    return 0;
  }
  if (r < 0)
    return r;
  progress_set(p, p->total, w.m.n);
  r = uniq_alloc(&w);
  if (r == 0)
    r = uniq_score(&w);
  if (r == 0)
    r = uniq_keep(&w, want);
  if (r == 0)
    r = uniq_record_scores(&w, out);
  if (r == 0)
    r = uniq_rank(w.scores, w.keep, w.n, w.order, &w.cnt);
  if (r == 0 && w.n > 1)
    r = uniq_tier(&w, t);
  if (r == 0)
    r = uniq_emit(&w, want, out);
  progress_set(p, p->done, w.n);
  uniq_work_free(&w);
  return r;
}

/* ---- views/near-duplicates: embeddings within the threshold, or equal
 * content hashes, joined by union-find over sample ids ---- */

struct uf {
  uint64_t *id;     /* sorted sample ids */
  uint32_t *parent;
  size_t n;
};

static size_t uf_find_idx(const struct uf *u, uint64_t id)
{
  size_t lo = 0, hi = u->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (u->id[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static uint32_t uf_root(struct uf *u, uint32_t i)
{
  while (u->parent[i] != i) {
    u->parent[i] = u->parent[u->parent[i]];
    i = u->parent[i];
  }
  return i;
}

static void uf_join_groups(struct uf *u, const struct neardup_groups *g)
{
  for (size_t k = 0; k < g->ngroups; k++)
    for (size_t j = g->off[k] + 1; j < g->off[k + 1]; j++) {
      uint32_t a = uf_root(u, (uint32_t)uf_find_idx(u, g->ids[g->off[k]]));
      uint32_t b = uf_root(u, (uint32_t)uf_find_idx(u, g->ids[j]));
      if (a != b)
        u->parent[a > b ? a : b] = a < b ? a : b;  /* smallest id is root */
    }
}

/* The working set of one views/near-duplicates computation. */
struct nd_work {
  struct uf u;                /* every present sample */
  size_t cap;
  uint64_t *hid;              /* the hashed ones ... */
  uint8_t (*hash)[16];        /* ... and their content hashes */
  size_t nh;
  struct neardup_groups near, exact;
  uint64_t *nn_ids;           /* the samples with embeddings, by id ... */
  size_t n_nn;                /* ... (near.nn_dist is theirs) */
  uint32_t *gno, ng;          /* group number per root (0: none), count */
  const int *stop;            /* viewcompute_progress.stop */
};

static void nd_work_free(struct nd_work *w)
{
  neardup_groups_free(&w->near);
  neardup_groups_free(&w->exact);
  free(w->u.id);
  free(w->u.parent);
  free(w->gno);
  free(w->hid);
  free(w->hash);
  free(w->nn_ids);
}

static int nd_grow(struct nd_work *w)
{
  size_t nc = w->cap ? w->cap * 2 : 1024;
  uint64_t *a = realloc(w->u.id, nc * sizeof(*a));
  uint64_t *b = a ? realloc(w->hid, nc * sizeof(*b)) : NULL;
  uint8_t (*c)[16] = b ? realloc(w->hash, nc * sizeof(*c)) : NULL;

  if (a)
    w->u.id = a;
  if (b)
    w->hid = b;
  if (c)
    w->hash = c;
  if (!a || !b || !c)
    return -ENOMEM;
  w->cap = nc;
  return 0;
}

/* Every present sample (the universe of the union-find), and hashes. */
static int nd_collect(struct store_txn *t, struct nd_work *w)
{
  struct store_iter *it = NULL;
  struct sample s;
  uint64_t next = 1;
  int r = store_iter_new(t, &it);

  while (r == 0 && store_iter_samples(it, next, &s) == 0) {
    next = s.id + 1;
    if (s.flags & SAMPLE_MISSING)
      continue;
    if (w->u.n == w->cap && (r = nd_grow(w)) < 0)
      break;
    w->u.id[w->u.n++] = s.id;
    if (s.flags & SAMPLE_HASHED) {
      w->hid[w->nh] = s.id;
      memcpy(w->hash[w->nh], s.hash, 16);
      w->nh++;
    }
  }
  store_iter_free(it);
  return r;
}

/* The near groups of the embedding matrix m: computed features with
 * their sub-windows, measured from the fixed origin, and their pairs
 * verified on the thumbnails (neardup.h); imported embeddings on their
 * own, from the set's mean, unverified. */
static int nd_near(struct store_txn *t, const struct feat_matrix *m,
                   struct nd_work *w, struct view_list *out)
{
  struct neardup_input in = { .x = m->x, .n = m->n, .d = m->dim,
                              .ids = m->ids };
  float *sub = NULL;
  uint8_t *thumbs = NULL, *ok = NULL;
  int r = featstore_load_sub(t, m, &sub);

  if (r == 0) {
    in.sub = sub;
    in.nsub = IMGFEAT_NSUB;
    in.mean = imgfeat_origin;
    r = featstore_load_thumbs(t, m, &thumbs, &ok);
    if (r == 0) {
      in.thumbs = thumbs;
      in.thumb_ok = ok;
      in.verify = config_get_float(t, "neardup.verify");
    }
  }
  if (r < 0 && r != -ENODATA) {
    free(sub);
    return r;
  }
  struct knn_opts ko = { .stop = w->stop };
  r = neardup_near_in(&in, config_get_float(t, "neardup.threshold"), &ko,
                      &w->near);
  free(sub);
  free(thumbs);
  free(ok);
  if (r == 0 && w->near.capped)
    snprintf(out->note, sizeof(out->note), "%zu samples have more than "
             "%d near neighbours within neardup.threshold: their groups "
             "are split", w->near.capped, NEARDUP_K);
  return r;
}

/* The exact-copy groups (hashes) and the near ones (embeddings). */
static int nd_groups(struct store_txn *t, struct nd_work *w,
                     struct view_list *out)
{
  struct feat_matrix m = { 0 };
  int r = neardup_exact(w->hid, (const uint8_t (*)[16])w->hash, w->nh,
                        &w->exact);

  if (r < 0)
    return r;
  r = load_embeddings(t, &m);
  if (r == -ENODATA) {
    r = 0;
    snprintf(out->note, sizeof(out->note), "no embeddings yet: exact "
             "copies only");
  } else if (r == 0) {
    r = nd_near(t, &m, w, out);
    if (r == 0) {
      w->nn_ids = m.ids;       /* kept for the nearest distances */
      w->n_nn = m.n;
      m.ids = NULL;
    }
  }
  featstore_matrix_free(&m);
  return r;
}

/* Joins the groups and numbers them by their smallest member (the root:
 * unions keep the smaller index); singletons are no group. */
static int nd_number(struct nd_work *w)
{
  struct uf *u = &w->u;

  if (!u->n)
    return 0;
  u->parent = malloc(u->n * sizeof(*u->parent));
  w->gno = calloc(u->n, sizeof(*w->gno));
  if (!u->parent || !w->gno)
    return -ENOMEM;
  for (size_t i = 0; i < u->n; i++)
    u->parent[i] = (uint32_t)i;
  uf_join_groups(u, &w->exact);
  uf_join_groups(u, &w->near);
  for (size_t i = 0; i < u->n; i++) {
    uint32_t root = uf_root(u, (uint32_t)i);
    if (root != i)
      w->gno[root] = 1;          /* has a second member */
  }
  for (size_t i = 0; i < u->n; i++)
    w->gno[i] = uf_root(u, (uint32_t)i) == i && w->gno[i] ? ++w->ng : 0;
  return 0;
}

/* The groups into the list, by a counting sort on the group number:
 * members stay in id order within one. */
static int nd_emit(struct nd_work *w, struct view_list *out)
{
  struct uf *u = &w->u;
  size_t *start = calloc((size_t)w->ng + 2, sizeof(*start));
  uint64_t *slot = NULL;
  size_t members = 0, lcap = 0;
  int r = start ? 0 : -ENOMEM;

  for (size_t i = 0; r == 0 && i < u->n; i++) {
    uint32_t g = w->gno[uf_root(u, (uint32_t)i)];
    if (g) {
      start[g + 1]++;
      members++;
    }
  }
  if (r == 0 && !(slot = malloc(members * sizeof(*slot))))
    r = -ENOMEM;
  for (uint32_t g = 1; r == 0 && g <= w->ng; g++)
    start[g + 1] += start[g];
  for (size_t i = 0; r == 0 && i < u->n; i++) {
    uint32_t g = w->gno[uf_root(u, (uint32_t)i)];
    if (g)
      slot[start[g]++] = u->id[i];
  }
  /* start[g] now ends group g; walk again from the beginning. */
  for (uint32_t g = 1, j = 0; r == 0 && g <= w->ng; g++)
    for (; r == 0 && j < start[g]; j++)
      r = view_list_add(out, &lcap, slot[j], g);
  free(slot);
  free(start);
  return r;
}

/* Each sample's nearest distance (neardup.h) for the table: the list's
 * scored arrays, with no score. */
static int nd_record_nn(struct nd_work *w, struct view_list *out)
{
  size_t n = w->n_nn;
  int r;

  if (!n || !w->near.nn_dist)
    return 0;
  if ((r = scored_alloc(out, w->nn_ids, n)) < 0)
    return r;
  memcpy(out->nn_dist, w->near.nn_dist, n * sizeof(*out->nn_dist));
  for (size_t i = 0; i < n; i++)
    out->score[i] = NAN;
  return 0;
}

/* The joined groups of every present sample into w (what the view lists
 * and the tiers of views/unique use). */
static int nd_compute(struct store_txn *t, struct nd_work *w,
                      struct view_list *out)
{
  int r = nd_collect(t, w);

  if (r == 0)
    r = nd_groups(t, w, out);
  if (r == 0)
    r = nd_number(w);
  return r;
}

int viewcompute_neardup(struct store_txn *t,
                        const struct viewcompute_progress *p,
                        struct view_list *out)
{
  struct nd_work w = { .stop = p->stop };
  uint64_t total = 0;
  int r;

  store_sample_count(t, &total);
  progress_set(p, p->total, total);
  r = nd_compute(t, &w, out);
  if (r == 0 && w.ng)
    r = nd_emit(&w, out);
  if (r == 0)
    r = nd_record_nn(&w, out);
  progress_set(p, p->done, total);
  nd_work_free(&w);
  return r;
}

/* The near-duplicate group of sample id in w (0: none). */
static uint32_t nd_group_of(struct nd_work *w, uint64_t id)
{
  size_t i = uf_find_idx(&w->u, id);

  if (i >= w->u.n || w->u.id[i] != id || !w->gno)
    return 0;
  return w->gno[uf_root(&w->u, (uint32_t)i)];
}

/* The group of sample id for the tiers: its rank in the near-duplicate
 * view's list when the caller gave it (the same numbers nd_group_of()
 * gives, as nd_emit() wrote them), else from nd. */
static uint32_t tier_group(const struct uniq_work *w, struct nd_work *nd,
                           uint64_t id)
{
  ptrdiff_t pos;

  if (!w->near)
    return nd_group_of(nd, id);
  pos = view_list_find(w->near, id);
  return pos < 0 ? 0 : w->near->items[pos].rank;
}

static int uniq_tier(struct uniq_work *w, struct store_txn *t)
{
  struct nd_work nd = { .stop = w->stop };
  struct view_list scratch = { 0 };
  bool *seen = NULL, *rep = calloc(w->cnt, sizeof(*rep));
  size_t *tiered = malloc(w->cnt * sizeof(*tiered)), nt = 0;
  int r = rep && tiered ? 0 : -ENOMEM;

  /* The groups come from the near-duplicate view when given: computing
   * them again here doubled the work (its own exact k-NN), 300 s of the
   * 600 s views/unique took over 100,000 photos. */
  if (w->near && w->near->n && !w->near->by_sample)
    w->near = NULL;   /* not indexed: cannot be searched */
  if (r == 0 && w->near)
    nd.ng = w->near->n ? w->near->items[w->near->n - 1].rank : 0;
  else if (r == 0)
    r = nd_compute(t, &nd, &scratch);
  if (r == 0 && !(seen = calloc((size_t)nd.ng + 1, sizeof(*seen))))
    r = -ENOMEM;
  for (size_t i = 0; r == 0 && i < w->cnt; i++) {
    uint32_t g = tier_group(w, &nd, w->m.ids[w->order[i]]);
    rep[i] = g == 0 || !seen[g];
    if (g)
      seen[g] = true;
  }
  if (r == 0) {
    for (size_t i = 0; i < w->cnt; i++)
      if (rep[i])
        tiered[nt++] = w->order[i];
    for (size_t i = 0; i < w->cnt; i++)
      if (!rep[i])
        tiered[nt++] = w->order[i];
    memcpy(w->order, tiered, w->cnt * sizeof(*w->order));
  }
  nd_work_free(&nd);
  free(rep);
  free(seen);
  free(tiered);
  return r;
}
