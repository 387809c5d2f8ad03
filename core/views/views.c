/* views.c - computes and caches the lists behind views/ (see views.h).
 * Reads the store, settings (config.h), labels and embeddings; knows
 * nothing of files or FUSE. */
#include "views.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "evalrun.h"
#include "iou.h"
#include "featstore.h"
#include "knn.h"
#include "neardup.h"
#include "similarity.h"
#include "uniqueness.h"
#include "labels.h"

struct view_slot {
  struct view_list *cur;   /* last result, or NULL */
  uint64_t fp;             /* the inputs it was computed from */
  uint64_t fp_version;     /* store version fp_seen was computed at ... */
  uint64_t fp_seen;        /* ... (walking the inputs is O(samples)) */
  bool busy;               /* a computation is running */
  uint64_t done, total;    /* its progress */
  double seconds;          /* how long the last computation took */
};

struct views {
  struct store *s;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct view_slot slot[VIEW_KINDS];
};

/* Every view of views/: the computed ones (enum view_kind order), then
 * the evaluation ones. */
static const char *const all_views[] = {
  "unique", "near-duplicates", "dupes",
  "mistakes", "possible-missing", "possible-spurious",
};

const char *views_kind_name(enum view_kind k)
{
  return (unsigned)k < VIEW_KINDS ? all_views[k] : "?";
}

int views_kind_parse(const char *name, enum view_kind *ret)
{
  size_t l = strlen(name);

  if (l && name[l - 1] == '/')
    l--;  /* "views/dupes/" as a shell completes it */
  for (int i = 0; i < VIEW_KINDS; i++)
    if (strlen(all_views[i]) == l && strncmp(all_views[i], name, l) == 0) {
      *ret = (enum view_kind)i;
      return 0;
    }
  return -ENOENT;
}

int views_new(struct store *s, struct views **ret)
{
  struct views *v = calloc(1, sizeof(*v));

  if (!v)
    return -ENOMEM;
  v->s = s;
  pthread_mutex_init(&v->mu, NULL);
  pthread_cond_init(&v->cv, NULL);
  *ret = v;
  return 0;
}

static void list_free(struct view_list *l)
{
  if (!l)
    return;
  free(l->items);
  free(l->by_sample);
  free(l->pos);
  free(l->scored_ids);
  free(l->score);
  free(l->nn_dist);
  free(l);
}

void view_list_put(struct view_list *l)
{
  if (l && __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) == 0)
    list_free(l);
}

void views_free(struct views *v)
{
  if (!v)
    return;
  for (int i = 0; i < VIEW_KINDS; i++)
    view_list_put(v->slot[i].cur);
  pthread_mutex_destroy(&v->mu);
  pthread_cond_destroy(&v->cv);
  free(v);
}

/* ---- list helpers ---- */

static struct view_list *list_new(void)
{
  struct view_list *l = calloc(1, sizeof(*l));
  if (l)
    l->refs = 1;
  return l;
}

static int list_add(struct view_list *l, size_t *cap, uint64_t sid,
                    uint32_t rank)
{
  if (l->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    struct view_item *ni = realloc(l->items, nc * sizeof(*ni));
    if (!ni)
      return -ENOMEM;
    l->items = ni;
    *cap = nc;
  }
  l->items[l->n].sample_id = sid;
  l->items[l->n].rank = rank;
  l->n++;
  return 0;
}

static const struct view_list *sort_ctx;

static int cmp_pos(const void *a, const void *b)
{
  uint64_t x = sort_ctx->items[*(const uint32_t *)a].sample_id;
  uint64_t y = sort_ctx->items[*(const uint32_t *)b].sample_id;
  return x < y ? -1 : x > y;
}

/* Builds the sample -> position index. */
static int list_index(struct view_list *l)
{
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

  if (l->n == 0)
    return 0;
  l->pos = malloc(l->n * sizeof(*l->pos));
  l->by_sample = malloc(l->n * sizeof(*l->by_sample));
  if (!l->pos || !l->by_sample)
    return -ENOMEM;
  for (size_t i = 0; i < l->n; i++)
    l->pos[i] = (uint32_t)i;
  /* qsort has no context argument; the sort is short, so serialise. */
  pthread_mutex_lock(&mu);
  sort_ctx = l;
  qsort(l->pos, l->n, sizeof(*l->pos), cmp_pos);
  pthread_mutex_unlock(&mu);
  for (size_t i = 0; i < l->n; i++)
    l->by_sample[i] = l->items[l->pos[i]].sample_id;
  return 0;
}

ptrdiff_t view_list_find(const struct view_list *l, uint64_t sid)
{
  size_t lo = 0, hi = l->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (l->by_sample[mid] < sid)
      lo = mid + 1;
    else if (l->by_sample[mid] > sid)
      hi = mid;
    else
      return (ptrdiff_t)l->pos[mid];
  }
  return -1;
}

int view_list_score(const struct view_list *l, uint64_t sid,
                    double *ret_score, double *ret_nn_dist)
{
  size_t lo = 0, hi = l->n_scored;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (l->scored_ids[mid] < sid) {
      lo = mid + 1;
    } else if (l->scored_ids[mid] > sid) {
      hi = mid;
    } else {
      *ret_score = l->score[mid];
      *ret_nn_dist = l->nn_dist[mid];
      return 0;
    }
  }
  return -ENOENT;
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

struct iou_settings {
  double thresh;
  bool all_classes;
  char field[LABELS_MAX_FIELD_NAME + 1];
};

static void iou_settings(struct store_txn *t, struct iou_settings *is)
{
  char cls[16];

  is->thresh = config_get_float(t, "dupes.iou");
  config_get_str(t, "dupes.classes", cls, sizeof(cls));
  is->all_classes = strcmp(cls, "all") == 0;
  config_get_str(t, "dupes.field", is->field, sizeof(is->field));
}

/* Max IoU within each field of l, flattened. */
static int max_iou_flat(const struct labels *l, bool all_classes,
                        double *iou, ptrdiff_t *partner_flat)
{
  size_t base = 0;

  for (size_t f = 0; f < l->n; f++) {
    const struct label_field *lf = &l->f[f];
    struct iou_rect *rects;
    int *cls;
    ptrdiff_t *part;
    int r;
    if (lf->n == 0)
      continue;
    rects = malloc(lf->n * sizeof(*rects));
    cls = malloc(lf->n * sizeof(*cls));
    part = malloc(lf->n * sizeof(*part));
    if (!rects || !cls || !part) {
      free(rects);
      free(cls);
      free(part);
      return -ENOMEM;
    }
    for (size_t i = 0; i < lf->n; i++) {
      rects[i] = (struct iou_rect){ lf->d[i].x, lf->d[i].y, lf->d[i].w,
                                    lf->d[i].h };
      cls[i] = (int)lf->d[i].class_id;
    }
    r = iou_max_within(rects, cls, lf->n, all_classes ? IOU_ALL_CLASSES : 0,
                       iou + base, part);
    for (size_t i = 0; r == 0 && i < lf->n; i++)
      partner_flat[base + i] = part[i] < 0 ? -1 : (ptrdiff_t)base + part[i];
    free(rects);
    free(cls);
    free(part);
    if (r < 0)
      return r;
    base += lf->n;
  }
  return 0;
}

static size_t count_boxes(const struct labels *l)
{
  size_t n = 0;
  for (size_t f = 0; f < l->n; f++)
    n += l->f[f].n;
  return n;
}

static const struct detection *flat_det(const struct labels *l, size_t i)
{
  for (size_t f = 0; f < l->n; f++) {
    if (i < l->f[f].n)
      return &l->f[f].d[i];
    i -= l->f[f].n;
  }
  return NULL;
}

int views_max_iou(struct store_txn *t, const struct labels *l,
                  double **ret_iou, uint64_t **ret_partner, size_t *ret_n)
{
  struct iou_settings is;
  size_t n = count_boxes(l);
  double *iou = malloc((n ? n : 1) * sizeof(*iou));
  ptrdiff_t *part = malloc((n ? n : 1) * sizeof(*part));
  uint64_t *pid = malloc((n ? n : 1) * sizeof(*pid));
  int r;

  *ret_iou = NULL;
  *ret_partner = NULL;
  *ret_n = 0;
  if (!iou || !part || !pid) {
    free(iou);
    free(part);
    free(pid);
    return -ENOMEM;
  }
  iou_settings(t, &is);
  r = max_iou_flat(l, is.all_classes, iou, part);
  for (size_t i = 0; r == 0 && i < n; i++)
    pid[i] = part[i] < 0 ? 0 : flat_det(l, (size_t)part[i])->id;
  free(part);
  if (r < 0) {
    free(iou);
    free(pid);
    return r;
  }
  *ret_iou = iou;
  *ret_partner = pid;
  *ret_n = n;
  return 0;
}

int views_dupe_flags(struct store_txn *t, const struct labels *l,
                     bool **ret_flags, double **ret_iou, size_t *ret_n)
{
  struct iou_settings is;
  uint64_t *partner;
  double *iou;
  bool *flags;
  size_t n, base = 0;
  int r = views_max_iou(t, l, &iou, &partner, &n);

  *ret_flags = NULL;
  if (ret_iou)
    *ret_iou = NULL;
  *ret_n = 0;
  if (r < 0)
    return r;
  free(partner);
  flags = calloc(n ? n : 1, sizeof(*flags));
  if (!flags) {
    free(iou);
    return -ENOMEM;
  }
  iou_settings(t, &is);
  for (size_t f = 0; f < l->n; f++) {
    bool field_on = !is.field[0] || strcmp(is.field, l->f[f].name) == 0;
    for (size_t i = 0; i < l->f[f].n; i++)
      flags[base + i] = field_on && iou[base + i] > is.thresh;
    base += l->f[f].n;
  }
  if (ret_iou)
    *ret_iou = iou;
  else
    free(iou);
  *ret_flags = flags;
  *ret_n = n;
  return 0;
}

static int compute_dupes(struct views *v, struct store_txn *t,
                         struct view_list *out)
{
  struct view_slot *sl = &v->slot[VIEW_DUPES];
  struct store_iter *it;
  struct sample s;
  uint64_t from = 1, total = 0;
  size_t cap = 0;
  int r;

  store_sample_count(t, &total);
  pthread_mutex_lock(&v->mu);
  sl->total = total;
  pthread_mutex_unlock(&v->mu);
  r = store_iter_new(t, &it);
  if (r < 0)
    return r;
  while ((r = store_iter_samples(it, from, &s)) == 0) {
    struct labels l;
    bool *flags;
    size_t n;
    bool any = false;
    from = s.id + 1;
    if (s.flags & SAMPLE_MISSING)
      continue;
    r = store_labels_get(t, s.id, &l);
    if (r < 0)
      break;
    r = views_dupe_flags(t, &l, &flags, NULL, &n);
    labels_free(&l);
    if (r < 0)
      break;
    for (size_t i = 0; i < n; i++)
      any |= flags[i];
    free(flags);
    if (any && (r = list_add(out, &cap, s.id, 0)) < 0)
      break;
    if ((from & 1023) == 0) {
      pthread_mutex_lock(&v->mu);
      sl->done = from;
      pthread_mutex_unlock(&v->mu);
    }
  }
  store_iter_free(it);
  if (r == -ENOENT)
    r = 0;
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
 * records.  A walk over the records' keys and sizes plus a few bytes of
 * each, much cheaper than the k-NN it guards. */
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
  /* The record starts with its version, file size and mtime: a changed
   * file changes them. */
  for (size_t i = 0; i < vlen && i < 32; i++)
    f->h = mix(f->h, v[i]);
  return 0;
}

static uint64_t views_embedding_fp(struct store_txn *t)
{
  struct fp_ctx f = { 0x5eed };
  uint64_t n = 0;

  store_rec_each(t, FEATSTORE_NS_EXT, NULL, 0, false, fp_rec, &f);
  f.h = mix(f.h, 0xe47);
  store_rec_each(t, FEATSTORE_NS, NULL, 0, false, fp_rec, &f);
  /* Missing samples leave the matrix. */
  store_sample_count(t, &n);
  return mix(f.h, n);
}

/* Neighbours per sample kept for find_unique: its greedy removal only
 * needs pairs within the bisected threshold, and with a few dozen nearest
 * neighbours per sample every count the view is asked for in practice is
 * reachable (the incomplete lists are guarded in uniq_find_unique). */
#define UNIQUE_K 32

static int compute_unique(struct views *v, struct store_txn *t,
                          struct view_list *out)
{
  struct store_txn *txn = t;
  struct view_slot *sl = &v->slot[VIEW_UNIQUE];
  struct feat_matrix m = { 0 };
  float *dist = NULL;
  uint32_t *idx = NULL;
  double *scores = NULL, thresh;
  bool *keep = NULL;
  size_t *order = NULL, n, k, kept, cnt;
  struct knn_graph g = { 0 };
  int64_t want = config_get_int(t, "unique.count");
  size_t cap = 0;
  int r = load_embeddings(t, &m);

  if (r == -ENODATA) {
    snprintf(out->note, sizeof(out->note), "no embeddings yet (import "
             "computes them; see status)");
    return 0;
  }
  if (r < 0)
    return r;
  n = m.n;
  pthread_mutex_lock(&v->mu);
  sl->total = n;
  pthread_mutex_unlock(&v->mu);
  k = n > 1 ? MIN(n - 1, (size_t)UNIQUE_K) : 1;
  scores = malloc(n * sizeof(*scores));
  keep = malloc(n * sizeof(*keep));
  order = malloc(n * sizeof(*order));
  idx = malloc(n * k * sizeof(*idx));
  dist = malloc(n * k * sizeof(*dist));
  if (!scores || !keep || !order || !idx || !dist) {
    r = -ENOMEM;
    goto out;
  }
  if (n > UNIQ_K) {
    /* One k-NN pass serves both: its first 3 columns give the scores,
     * the whole lists the greedy removal of find_unique. */
    r = sim_knn(m.x, n, m.dim, k, idx, dist, NULL);
    if (r == 0)
      r = uniq_scores(dist, n, k, scores);
  } else {
    for (size_t i = 0; i < n; i++)
      scores[i] = 1.0;
  }
  if (r < 0)
    goto out;
  if (want > 0 && (size_t)want < n) {
    r = knn_graph_from_lists(idx, dist, n, k, &g);
    if (r == 0)
      r = uniq_find_unique(n, uniq_nbr_graph, &g, want, NAN, keep, &kept,
                           &thresh);
  } else {
    for (size_t i = 0; i < n; i++)
      keep[i] = true;
  }
  /* Every sample's score and nearest distance, for the table (rows of
   * the matrix are in id order already). */
  if (r == 0) {
    out->scored_ids = malloc(n * sizeof(*out->scored_ids));
    out->score = malloc(n * sizeof(*out->score));
    out->nn_dist = malloc(n * sizeof(*out->nn_dist));
    if (!out->scored_ids || !out->score || !out->nn_dist) {
      r = -ENOMEM;
    } else {
      out->n_scored = n;
      memcpy(out->scored_ids, m.ids, n * sizeof(*m.ids));
      memcpy(out->score, scores, n * sizeof(*scores));
      for (size_t i = 0; i < n; i++)
        out->nn_dist[i] = n > UNIQ_K && idx[i * k] != SIM_NONE
                              ? dist[i * k] : NAN;
    }
  }
  if (r == 0)
    r = uniq_rank(scores, keep, n, order, &cnt);
  /* Near-copies share low scores, so a plain score order can list two
   * copies of one picture before a copy of another.  So representatives
   * first: walking the ranked list, a sample within neardup.threshold of
   * an earlier representative (in its k-NN list) waits for the second
   * tier; both tiers keep the score order. */
  if (r == 0 && n > UNIQ_K) {
    double thr = config_get_float(txn, "neardup.threshold");
    bool *rep = calloc(n, sizeof(*rep)), *seen = calloc(n, sizeof(*seen));
    size_t *tiered = malloc(cnt * sizeof(*tiered)), nt = 0;
    if (!rep || !seen || !tiered) {
      r = -ENOMEM;
    } else {
      for (size_t i = 0; i < cnt; i++) {
        size_t a = order[i];
        bool near_rep = false;
        for (size_t j = 0; j < k && !near_rep; j++) {
          uint32_t b = idx[a * k + j];
          near_rep = b != SIM_NONE && dist[a * k + j] <= thr && rep[b];
        }
        /* Neighbour lists are not symmetric: also look from the other
         * side through `seen` (marked below for a representative's
         * neighbours). */
        if (!near_rep && !seen[a]) {
          rep[a] = true;
          for (size_t j = 0; j < k; j++) {
            uint32_t b = idx[a * k + j];
            if (b != SIM_NONE && dist[a * k + j] <= thr)
              seen[b] = true;
          }
        }
      }
      for (size_t i = 0; i < cnt; i++)
        if (rep[order[i]])
          tiered[nt++] = order[i];
      for (size_t i = 0; i < cnt; i++)
        if (!rep[order[i]])
          tiered[nt++] = order[i];
      memcpy(order, tiered, cnt * sizeof(*order));
    }
    free(rep);
    free(seen);
    free(tiered);
  }
  /* The bisection works on k-NN lists, not on every pair: greedy removal
   * cannot go below about n / (k + 1) kept samples, so a small count can
   * be out of its reach.  The ranked order (representatives first) then
   * decides which `count` samples the view shows. */
  if (r == 0 && want > 0 && cnt > (size_t)want) {
    snprintf(out->note, sizeof(out->note), "find_unique kept %zu on the "
             "k-NN graph; showing the first %lld by rank", cnt,
             (long long)want);
    cnt = (size_t)want;
  }
  for (size_t i = 0; r == 0 && i < cnt; i++)
    r = list_add(out, &cap, m.ids[order[i]], (uint32_t)(i + 1));
  pthread_mutex_lock(&v->mu);
  sl->done = n;
  pthread_mutex_unlock(&v->mu);
out:
  knn_graph_free(&g);
  featstore_matrix_free(&m);
  free(idx);
  free(dist);
  free(scores);
  free(keep);
  free(order);
  return r;
}

/* ---- near-duplicate groups: embeddings within the threshold, or equal
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

static int compute_neardup(struct views *v, struct store_txn *t,
                           struct view_list *out)
{
  struct view_slot *sl = &v->slot[VIEW_NEARDUP];
  struct feat_matrix m = { 0 };
  struct neardup_groups near = { 0 }, exact = { 0 };
  struct store_iter *it = NULL;
  uint64_t *hid = NULL, next = 1, total = 0;
  uint8_t (*hash)[16] = NULL;
  struct uf u = { 0 };
  uint32_t *gno = NULL, ng = 0;
  size_t nh = 0, cap = 0, lcap = 0;
  struct sample s;
  int r;

  /* Every present sample: the universe of the union-find, and hashes. */
  store_sample_count(t, &total);
  pthread_mutex_lock(&v->mu);
  sl->total = total;
  pthread_mutex_unlock(&v->mu);
  r = store_iter_new(t, &it);
  while (r == 0 && store_iter_samples(it, next, &s) == 0) {
    next = s.id + 1;
    if (s.flags & SAMPLE_MISSING)
      continue;
    if (u.n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      uint64_t *a = realloc(u.id, nc * sizeof(*a));
      uint64_t *b = a ? realloc(hid, nc * sizeof(*b)) : NULL;
      uint8_t (*c)[16] = b ? realloc(hash, nc * sizeof(*c)) : NULL;
      if (a)
        u.id = a;
      if (b)
        hid = b;
      if (c)
        hash = c;
      if (!a || !b || !c) {
        r = -ENOMEM;
        break;
      }
      cap = nc;
    }
    u.id[u.n++] = s.id;
    if (s.flags & SAMPLE_HASHED) {
      hid[nh] = s.id;
      memcpy(hash[nh], s.hash, 16);
      nh++;
    }
  }
  store_iter_free(it);
  if (r == 0)
    r = neardup_exact(hid, (const uint8_t (*)[16])hash, nh, &exact);
  if (r == 0) {
    r = load_embeddings(t, &m);
    if (r == -ENODATA) {
      r = 0;
      snprintf(out->note, sizeof(out->note), "no embeddings yet: exact "
               "copies only");
    } else if (r == 0) {
      r = neardup_near(m.x, m.n, m.dim, m.ids,
                       config_get_float(t, "neardup.threshold"), NULL, &near);
      if (r == -E2BIG)
        snprintf(out->note, sizeof(out->note), "neardup.threshold links "
                 "too many pairs: lower it");
    }
  }
  if (r == 0 && u.n) {
    u.parent = malloc(u.n * sizeof(*u.parent));
    gno = calloc(u.n, sizeof(*gno));
    if (!u.parent || !gno)
      r = -ENOMEM;
  }
  if (r == 0) {
    for (size_t i = 0; i < u.n; i++)
      u.parent[i] = (uint32_t)i;
    uf_join_groups(&u, &exact);
    uf_join_groups(&u, &near);
    /* Groups numbered by their smallest member (the root: unions keep
     * the smaller index), members in id order; singletons are no group. */
    for (size_t i = 0; i < u.n; i++) {
      uint32_t root = uf_root(&u, (uint32_t)i);
      if (root != i)
        gno[root] = 1;          /* has a second member */
    }
    for (size_t i = 0; i < u.n; i++)
      gno[i] = uf_root(&u, (uint32_t)i) == i && gno[i] ? ++ng : 0;
    /* Counting sort by group: members stay in id order within one. */
    if (ng) {
      size_t *start = calloc((size_t)ng + 2, sizeof(*start));
      uint64_t *slot = NULL;
      size_t members = 0;
      if (!start)
        r = -ENOMEM;
      for (size_t i = 0; r == 0 && i < u.n; i++) {
        uint32_t g = gno[uf_root(&u, (uint32_t)i)];
        if (g) {
          start[g + 1]++;
          members++;
        }
      }
      if (r == 0 && !(slot = malloc(members * sizeof(*slot))))
        r = -ENOMEM;
      for (uint32_t g = 1; r == 0 && g <= ng; g++)
        start[g + 1] += start[g];
      for (size_t i = 0; r == 0 && i < u.n; i++) {
        uint32_t g = gno[uf_root(&u, (uint32_t)i)];
        if (g)
          slot[start[g]++] = u.id[i];
      }
      /* start[g] now ends group g; walk again from the beginning. */
      for (uint32_t g = 1, j = 0; r == 0 && g <= ng; g++)
        for (; r == 0 && j < start[g]; j++)
          r = list_add(out, &lcap, slot[j], g);
      free(slot);
      free(start);
    }
  }
  pthread_mutex_lock(&v->mu);
  sl->done = total;
  pthread_mutex_unlock(&v->mu);
  neardup_groups_free(&near);
  neardup_groups_free(&exact);
  featstore_matrix_free(&m);
  free(u.id);
  free(u.parent);
  free(gno);
  free(hid);
  free(hash);
  return r;
}

/* Fingerprint of a view's inputs: recompute when it changes. */
static int inputs_fp(struct store_txn *t, enum view_kind k, uint64_t *ret)
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
  *ret = mix(h, views_embedding_fp(t));
  config_get_str(t, k == VIEW_UNIQUE ? "unique.count" : "neardup.threshold",
                 sv, sizeof(sv));
  *ret = mix_str(*ret, sv);
  return 0;
}

int views_get(struct views *v, enum view_kind kind, struct view_list **ret)
{
  struct view_slot *sl = &v->slot[kind];
  struct store_txn *t;
  struct view_list *l;
  uint64_t fp, ver = 0;
  double t0;
  int r;

  *ret = NULL;
  r = store_txn_begin(v->s, false, &t);
  if (r < 0)
    return r;
  /* The inputs can only change with the store version: fingerprint them
   * once per version, not once per lookup. */
  r = store_version(t, &ver);
  pthread_mutex_lock(&v->mu);
  bool known = r == 0 && sl->fp_version == ver + 1;
  fp = sl->fp_seen;
  pthread_mutex_unlock(&v->mu);
  if (r == 0 && !known) {
    r = inputs_fp(t, kind, &fp);
    if (r == 0) {
      pthread_mutex_lock(&v->mu);
      sl->fp_version = ver + 1;
      sl->fp_seen = fp;
      pthread_mutex_unlock(&v->mu);
    }
  }
  if (r < 0) {
    store_txn_abort(t);
    return r;
  }
  pthread_mutex_lock(&v->mu);
  for (;;) {
    if (sl->cur && sl->fp == fp) {
      __atomic_add_fetch(&sl->cur->refs, 1, __ATOMIC_ACQ_REL);
      *ret = sl->cur;
      pthread_mutex_unlock(&v->mu);
      store_txn_abort(t);
      return 0;
    }
    if (!sl->busy)
      break;
    pthread_cond_wait(&v->cv, &v->mu);
  }
  sl->busy = true;
  sl->done = sl->total = 0;
  pthread_mutex_unlock(&v->mu);

  t0 = time_mono();
  l = list_new();
  r = l ? 0 : -ENOMEM;
  if (r == 0) {
    l->key = fp ? fp : 1;
    r = kind == VIEW_DUPES    ? compute_dupes(v, t, l)
        : kind == VIEW_UNIQUE ? compute_unique(v, t, l)
                              : compute_neardup(v, t, l);
  }
  if (r == 0)
    r = list_index(l);
  store_txn_abort(t);

  pthread_mutex_lock(&v->mu);
  sl->busy = false;
  sl->seconds = time_mono() - t0;
  if (r == 0) {
    struct view_list *old = sl->cur;
    sl->cur = l;
    sl->fp = fp;
    __atomic_add_fetch(&l->refs, 1, __ATOMIC_ACQ_REL);  /* the slot's */
    *ret = l;
    pthread_mutex_unlock(&v->mu);
    view_list_put(old);
  } else {
    pthread_mutex_unlock(&v->mu);
    list_free(l);
  }
  pthread_mutex_lock(&v->mu);
  pthread_cond_broadcast(&v->cv);
  pthread_mutex_unlock(&v->mu);
  return r;
}

void views_progress(struct views *v, struct buf *out)
{
  pthread_mutex_lock(&v->mu);
  for (int i = 0; i < VIEW_KINDS; i++) {
    struct view_slot *sl = &v->slot[i];
    if (sl->busy)
      buf_printf(out, "  %-16s computing %" PRIu64 "/%" PRIu64 "\n",
                 all_views[i], sl->done, sl->total);
    else if (sl->cur)
      buf_printf(out, "  %-16s %zu samples (computed in %.2f s)%s%s\n",
                 all_views[i], sl->cur->n, sl->seconds,
                 sl->cur->note[0] ? ": " : "", sl->cur->note);
    else
      buf_printf(out, "  %-16s not computed yet (computed when listed)\n",
                 all_views[i]);
  }
  pthread_mutex_unlock(&v->mu);
}

/* ---- selections ---- */

struct latest_ctx {
  struct store_txn *t;
  char *out;
  size_t outlen;
  int64_t best;
};

static int pick_latest(const char *name, void *ud)
{
  struct latest_ctx *l = ud;
  struct evalrun_info info;

  if (evalrun_get(l->t, name, &info) == 0 && info.created_ns >= l->best) {
    l->best = info.created_ns;
    snprintf(l->out, l->outlen, "%s", name);
  }
  return 0;
}

int views_eval_latest(struct store *s, char *out, size_t outlen)
{
  struct latest_ctx l = { NULL, out, outlen, INT64_MIN };
  int r = store_txn_begin(s, false, &l.t);

  if (r < 0)
    return r;
  out[0] = '\0';
  r = evalrun_each(l.t, pick_latest, &l);
  store_txn_abort(l.t);
  if (r < 0)
    return r;
  return out[0] ? 0 : -ENOENT;
}

static int push_id(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 256;
    uint64_t *p = realloc(*v, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    *v = p;
    *cap = nc;
  }
  (*v)[(*n)++] = id;
  return 0;
}

const char *const *views_all_names(size_t *ret_n)
{
  *ret_n = ARRAY_SIZE(all_views);
  return all_views;
}

/* The evaluation list of a view name ("mistakes", ...), or -ENOENT. */
static int eval_list_of(const char *name, size_t l)
{
  const char *const *names = all_views + VIEW_KINDS;
  static const enum evalrun_list lists[] = { EVALRUN_MISTAKES,
                                             EVALRUN_MISSING,
                                             EVALRUN_SPURIOUS };

  for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
    if (strlen(names[i]) == l && strncmp(names[i], name, l) == 0)
      return (int)lists[i];
  return -ENOENT;
}

static int eval_selection(struct views *v, enum evalrun_list which,
                          uint64_t **ids, size_t *n, size_t *cap, char *err,
                          size_t errlen)
{
  char ev[EVALRUN_MAX_NAME + 1];
  struct evalrun_entry chunk[256];
  struct store_txn *t = NULL;
  size_t got, total, from = 0;
  int r = views_eval_latest(v->s, ev, sizeof(ev));

  if (r == -ENOENT)
    return 0;  /* no evaluation yet: an empty selection */
  /* Exports of an evaluation view look their selection up at each name:
   * the names of one listing share a run (evalrun.h). */
  if (r == 0 && (r = evalrun_refresh_recent(v->s, ev, EVALRUN_LOOKUP_AGE,
                                            err, errlen)) > 0)
    r = 0;
  if (r == 0)
    r = store_txn_begin(v->s, false, &t);
  while (r == 0) {
    r = evalrun_ranked(t, ev, which, from, ARRAY_SIZE(chunk), chunk, &got,
                       &total);
    if (r < 0 || got == 0)
      break;
    for (size_t i = 0; r == 0 && i < got; i++)
      r = push_id(ids, n, cap, chunk[i].sample_id);
    from += got;
  }
  store_txn_abort(t);
  return r;
}

int views_selection(struct views *v, const char *spec, uint64_t **ret,
                    size_t *ret_n, char *err, size_t errlen)
{
  struct store_txn *t = NULL;
  struct store_iter *it = NULL;
  uint64_t *ids = NULL;
  size_t n = 0, cap = 0, l = strlen(spec);
  int r;

  *ret = NULL;
  *ret_n = 0;
  if (errlen)
    err[0] = '\0';
  if (l && spec[l - 1] == '/')
    l--;  /* "tags/t/" as a shell completes it */
  if (l > 6 && strncmp(spec, "views/", 6) == 0) {
    int which = eval_list_of(spec + 6, l - 6);
    if (which >= 0) {
      r = eval_selection(v, (enum evalrun_list)which, &ids, &n, &cap, err,
                         errlen);
    } else {
      char name[64];
      enum view_kind k;
      struct view_list *vl = NULL;
      snprintf(name, sizeof(name), "%.*s", (int)(l - 6), spec + 6);
      r = views_kind_parse(name, &k);
      if (r == 0)
        r = views_get(v, k, &vl);
      for (size_t i = 0; r == 0 && i < vl->n; i++)
        r = push_id(&ids, &n, &cap, vl->items[i].sample_id);
      view_list_put(vl);
    }
  } else if ((l == 7 && strncmp(spec, "samples", 7) == 0) ||
             (l > 5 && strncmp(spec, "tags/", 5) == 0)) {
    bool all = spec[0] == 's';
    uint64_t tid = 0, next = 1, sid;
    char tag[256];
    struct sample s;
    r = store_txn_begin(v->s, false, &t);
    if (r == 0 && !all) {
      snprintf(tag, sizeof(tag), "%.*s", (int)(l - 5), spec + 5);
      r = store_tag_lookup(t, tag, &tid);
    }
    if (r == 0)
      r = store_iter_new(t, &it);
    while (r == 0) {
      if (all) {
        if (store_iter_samples(it, next, &s) < 0)
          break;
        sid = s.id;
      } else {
        if (store_iter_tag(it, tid, next, &sid) < 0)
          break;
        if (store_sample_get(t, sid, &s) < 0)
          s.flags = SAMPLE_MISSING;
      }
      next = sid + 1;
      if (!(s.flags & SAMPLE_MISSING))
        r = push_id(&ids, &n, &cap, sid);
    }
    store_iter_free(it);
    store_txn_abort(t);
  } else {
    r = -ENOENT;
  }
  if (r == -ENOENT && errlen && !err[0])
    snprintf(err, errlen, "no such selection '%s' (samples, tags/<tag>, "
             "views/<view>)", spec);
  if (r < 0) {
    free(ids);
    return r;
  }
  *ret = ids;
  *ret_n = n;
  return 0;
}
