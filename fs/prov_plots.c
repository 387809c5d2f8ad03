/* prov_plots.c - plots/: pictures of the whole dataset.
 *
 *   plots/embeddings.jpg         the neighbour map of every sample's
 *                                embedding (core/compute/nemb.h on the
 *                                k-NN graph of views/unique), coloured
 *                                by tag, class, uniqueness or
 *                                near-duplicate group (config
 *                                plots.color_by)
 *   plots/embeddings-thumbs.jpg  the same map with small images at their
 *                                positions (one per cell of a grid)
 *   plots/embeddings.csv         the map's coordinates: name,x,y
 *   plots/views/<view>.jpg       contact sheet of a view's first N images
 *                                (plots.sheet_count, 0 = unique.count)
 *
 * Embeddings come from core/store/featstore.h (imported ones when present);
 * the pictures are regenerated when the store changes (tags, labels,
 * embeddings, settings).
 *
 * State (slot PROV_SLOT_PLOTS): the last map computed, keyed by the key of
 * the views/unique list it was laid out on (which changes when the
 * embeddings do), so the three map files and a tag change cost one layout.
 * Its mutex is held while a map is computed, so concurrent readers wait
 * for that one computation instead of repeating it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "evallatest.h"
#include "evalrun.h"
#include "featstore.h"
#include "imgcodec.h"
#include "labels.h"
#include "nemb.h"
#include "plot.h"
#include "views.h"
#include "viewlist.h"
#include "vtree.h"

#define MAX_KEYS 40

/* The cached map (guarded by mu). */
struct plots_state {
  pthread_mutex_t mu;
  bool valid;
  uint64_t key;     /* views/unique list key the map was laid out on */
  size_t n;
  uint64_t *ids;    /* sample ids, id order */
  float *xy;        /* n x 2 */
};

/* A map handed to one request: copies, owned by the request. */
struct map {
  size_t n;
  uint64_t *ids;
  float *xy;
  struct view_list *uniq;  /* one reference: scores for the colours */
};

static void map_free(struct map *m)
{
  free(m->ids);
  free(m->xy);
  view_list_put(m->uniq);
  memset(m, 0, sizeof(*m));
}

static int p_init(struct fs_ctx *c, void **state)
{
  struct plots_state *s = calloc(1, sizeof(*s));
  (void)c;
  if (!s)
    return -ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  *state = s;
  return 0;
}

static void p_destroy(struct fs_ctx *c, void *state)
{
  struct plots_state *s = state;
  (void)c;
  if (!s)
    return;
  pthread_mutex_destroy(&s->mu);
  free(s->ids);
  free(s->xy);
  free(s);
}

/* Lays the map out from the store into the state (mu held). */
static int map_compute(struct fs_ctx *c, struct store_txn *t,
                       struct plots_state *s, const struct view_list *u)
{
  struct feat_matrix m;
  int r = featstore_load_matrix(t, &m);
  if (r < 0)
    return r;
  float *xy = malloc((m.n ? m.n : 1) * 2 * sizeof(float));
  if (!xy) {
    featstore_matrix_free(&m);
    return -ENOMEM;
  }
  /* The graph's rows are the same samples in the same order, read in the
   * same transaction; anything else falls back to the PCA start. */
  bool same = u->nbr && u->n_scored == m.n &&
              memcmp(u->scored_ids, m.ids, m.n * sizeof(*m.ids)) == 0;
  r = nemb_map(m.x, m.n, m.dim, same ? u->nbr : NULL, same ? u->nbr_k : 0,
               xy, &(struct nemb_opts){ .stop = views_stop_flag(c->views) });
  if (r < 0) {
    free(xy);
    featstore_matrix_free(&m);
    return r;
  }
  free(s->ids);
  free(s->xy);
  s->ids = m.ids;
  m.ids = NULL;
  s->xy = xy;
  s->n = m.n;
  s->key = u->key;
  s->valid = true;
  featstore_matrix_free(&m);
  return 0;
}

/* The map for the store as t sees it: from the state when the embeddings
 * are unchanged, else computed. */
static int map_get(struct fs_ctx *c, struct store_txn *t, struct map *out)
{
  struct plots_state *s = vtree_state(c, PROV_SLOT_PLOTS);
  memset(out, 0, sizeof(*out));
  int r = views_get_txn(c->views, t, VIEW_UNIQUE, &out->uniq);
  if (r < 0)
    return r;
  pthread_mutex_lock(&s->mu);
  if (!s->valid || s->key != out->uniq->key)
    r = map_compute(c, t, s, out->uniq);
  if (r == 0) {
    out->n = s->n;
    out->ids = malloc((s->n ? s->n : 1) * sizeof(*out->ids));
    out->xy = malloc((s->n ? s->n : 1) * 2 * sizeof(*out->xy));
    if (out->ids && out->xy) {
      memcpy(out->ids, s->ids, s->n * sizeof(*out->ids));
      memcpy(out->xy, s->xy, s->n * 2 * sizeof(*out->xy));
    } else {
      r = -ENOMEM;
    }
  }
  pthread_mutex_unlock(&s->mu);
  if (r < 0)
    map_free(out);
  return r;
}

/*---- colours --------------------------------------------------------------*/

struct keys {
  char *names[MAX_KEYS + 1];
  uint64_t ids[MAX_KEYS];     /* tag, class or group id of each key */
  size_t n;
};

static void keys_free(struct keys *k)
{
  for (size_t i = 0; i < k->n; i++)
    free(k->names[i]);
  k->n = 0;
}

/* Key index of a tag or class id, adding it while there is room; the
 * last key is "other". */
static uint32_t key_of(struct keys *k, uint64_t id, const char *name)
{
  for (size_t i = 0; i < k->n; i++)
    if (k->ids[i] == id)
      return (uint32_t)i;
  if (k->n < MAX_KEYS - 1) {
    k->ids[k->n] = id;
    k->names[k->n] = strdup(name);
    return (uint32_t)k->n++;
  }
  return MAX_KEYS - 1;
}

static int first_tag(uint64_t tag_id, void *ud)
{
  uint64_t *out = ud;
  if (!*out)
    *out = tag_id;
  return 1;
}

/* Key of one sample: its first tag, or its most frequent ground-truth
 * class. */
static uint32_t sample_key(struct store_txn *t, uint64_t sid, bool by_class,
                           struct keys *k)
{
  if (!by_class) {
    uint64_t tid = 0;
    const char *name = NULL;
    store_sample_tags(t, sid, first_tag, &tid);
    if (!tid)
      return key_of(k, 0, "untagged");
    store_tag_get(t, tid, &name, NULL, NULL);
    return key_of(k, tid, name ? name : "?");
  }
  struct labels l;
  uint32_t best = 0, best_n = 0;
  const char *name = NULL;
  if (store_labels_get(t, sid, &l) < 0)
    return key_of(k, 0, "no boxes");
  struct label_field *f = labels_field(&l, "ground_truth", false);
  for (size_t i = 0; f && i < f->n; i++) {
    uint32_t cnt = 0;
    for (size_t j = 0; j < f->n; j++)
      cnt += f->d[j].class_id == f->d[i].class_id;
    if (cnt > best_n) {
      best_n = cnt;
      best = f->d[i].class_id;
    }
  }
  labels_free(&l);
  if (!best)
    return key_of(k, 0, "no boxes");
  store_class_name(t, best, &name);
  return key_of(k, best, name ? name : "?");
}

/* Keys by near-duplicate group: groups in view order, samples in no
 * group beyond every key (grey, "other"). */
static int group_keys(struct fs_ctx *c, struct store_txn *t,
                      const struct map *m, uint32_t *key, struct keys *k)
{
  struct view_list *g = NULL;
  int r = views_get_txn(c->views, t, VIEW_NEARDUP, &g);
  if (r < 0)
    return r;
  for (size_t i = 0; i < m->n; i++) {
    ptrdiff_t at = view_list_find(g, m->ids[i]);
    char name[32];
    if (at < 0) {
      key[i] = UINT32_MAX;
      continue;
    }
    uint32_t grp = g->items[at].rank;
    if (k->n >= MAX_KEYS - 2)
      snprintf(name, sizeof(name), "more groups");
    else
      snprintf(name, sizeof(name), "group %u", grp);
    key[i] = key_of(k, k->n >= MAX_KEYS - 2 ? UINT64_MAX : grp, name);
  }
  view_list_put(g);
  return 0;
}

/* Fills the colouring of pm for plots.color_by; *value / *key are the
 * arrays it points to (freed by the caller). */
static int colour_map(struct fs_ctx *c, struct store_txn *t,
                      const struct map *m, struct keys *k,
                      struct plot_map *pm, double **value, uint32_t **key)
{
  char by[16];
  int r = 0;
  config_get_str(t, "plots.color_by", by, sizeof(by));
  if (strcmp(by, "uniqueness") == 0) {
    if (!(*value = malloc((m->n ? m->n : 1) * sizeof(**value))))
      return -ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
      double sc = NAN, nn;
      if (view_list_score(m->uniq, m->ids[i], &sc, &nn) < 0)
        sc = NAN;
      (*value)[i] = sc;
    }
    pm->value = *value;
    pm->value_name = "uniqueness";
    return 0;
  }
  if (!(*key = malloc((m->n ? m->n : 1) * sizeof(**key))))
    return -ENOMEM;
  if (strcmp(by, "group") == 0)
    r = group_keys(c, t, m, *key, k);
  else
    for (size_t i = 0; i < m->n; i++)
      (*key)[i] = sample_key(t, m->ids[i], strcmp(by, "class") == 0, k);
  if (k->n == MAX_KEYS - 1 && strcmp(by, "group") != 0)
    k->names[k->n++] = strdup("other");
  pm->key = *key;
  pm->key_names = (const char *const *)k->names;
  pm->n_keys = k->n;
  return r;
}

/*---- thumbnails -----------------------------------------------------------*/

struct thumbs {
  struct fs_ctx *c;
  struct store_txn *t;
  const uint64_t *ids;
};

/* The sample's image decoded at about max_side (DCT scaling for JPEG). */
static int thumb(void *ud, size_t i, int max_side, struct image *ret)
{
  struct thumbs *th = ud;
  struct sample s;
  uint8_t *src = NULL;
  size_t len = 0;
  int fd = -1;
  int r = store_sample_get(th->t, th->ids[i], &s);
  if (r == 0 && (s.flags & SAMPLE_MISSING))
    r = -ENOENT;
  if (r == 0)
    r = open_sample_source(th->c, &s, &fd);
  if (r == 0)
    r = provlib_read_whole(fd, s.size, &src, &len);
  if (fd >= 0)
    close(fd);
  if (r == 0)
    r = img_decode(src, len, max_side, 0, ret, NULL);
  if (r == 0 && s.orientation > 1)
    img_orient(ret, s.orientation);
  free(src);
  return r;
}

/*---- the map files --------------------------------------------------------*/

/* embeddings.csv: RFC 4180, CRLF, names quoted when they need it. */
static int write_csv(const struct map *m, struct store_txn *t,
                     const struct sink *out)
{
  struct buf b;
  buf_init(&b, 1 << 20); /* flushed at 60,000 bytes, so never reached */
  int r = buf_printf(&b, "name,x,y\r\n");
  for (size_t i = 0; r == 0 && i < m->n; i++) {
    struct sample s;
    if (store_sample_get(t, m->ids[i], &s) < 0)
      continue;
    bool q = strpbrk(s.name, ",\"\r\n") != NULL;
    r = buf_printf(&b, "%s", q ? "\"" : "");
    for (const char *p = s.name; r == 0 && *p; p++)
      r = *p == '"' ? buf_printf(&b, "\"\"") : buf_printf(&b, "%c", *p);
    if (r == 0)
      r = buf_printf(&b, "%s,%.6g,%.6g\r\n", q ? "\"" : "",
                     (double)m->xy[2 * i], (double)m->xy[2 * i + 1]);
    if (r == 0 && b.len > 60000) {
      r = out->write(out->ud, b.data, b.len);
      b.len = 0;
    }
  }
  if (r == 0 && b.len)
    r = out->write(out->ud, b.data, b.len);
  buf_free(&b);
  return r;
}

static int gen_map(struct fs_ctx *c, struct store_txn *t, const char *path,
                   const struct sink *out)
{
  struct map m;
  struct keys k = { .n = 0 };
  struct plot_map pm = { 0 };
  double *value = NULL;
  uint32_t *key = NULL;
  uint8_t *jpg = NULL;
  size_t jl = 0;
  char title[160];
  int r = map_get(c, t, &m);

  if (r == 0 && strcmp(path, "embeddings.csv") == 0) {
    r = write_csv(&m, t, out);
    map_free(&m);
    return r;
  }
  if (r == 0)
    r = colour_map(c, t, &m, &k, &pm, &value, &key);
  if (r == 0) {
    snprintf(title, sizeof(title), "Neighbour map of %zu embeddings "
             "(each point near its nearest neighbours)", m.n);
    pm.xy = m.xy, pm.n = m.n, pm.title = title;
    if (strcmp(path, "embeddings.jpg") == 0) {
      r = plot_map_jpeg(&pm, 0, 0, &jpg, &jl);
    } else {
      struct thumbs th = { c, t, m.ids };
      r = plot_map_thumbs_jpeg(&pm, thumb, &th, 0, 0, &jpg, &jl);
    }
  }
  if (r == 0)
    r = out->write(out->ud, jpg, jl);
  else
    fs_error(c, "plots/%s: %s", path, strerror(-r));
  keys_free(&k);
  free(jpg);
  free(key);
  free(value);
  map_free(&m);
  return r;
}

/*---- contact sheets -------------------------------------------------------*/

/* A view's name from "views/<v>.jpg", or NULL; *index its place in
 * views_all_names(). */
static const char *sheet_view(const char *path, size_t *index)
{
  size_t n;
  const char *const *names = views_all_names(&n);
  if (strncmp(path, "views/", 6) != 0)
    return NULL;
  path += 6;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(names[i]);
    if (strncmp(path, names[i], l) == 0 && strcmp(path + l, ".jpg") == 0) {
      *index = i;
      return names[i];
    }
  }
  return NULL;
}

/* Up to max entries of a view with their captions. */
static int sheet_items(struct fs_ctx *c, struct store_txn *t, size_t vi,
                       size_t max, uint64_t *ids, char (*cap)[64],
                       size_t *ret_n)
{
  *ret_n = 0;
  if (vi < VIEWS_EVAL_FIRST) {
    struct view_list *l = NULL;
    int r = views_get_txn(c->views, t, (enum view_kind)vi, &l);
    if (r < 0)
      return r;
    for (size_t i = 0; i < l->n && *ret_n < max; i++) {
      double sc = NAN, nn;
      uint64_t id = l->items[i].sample_id;
      char *o = cap[*ret_n];
      if (vi == VIEW_UNIQUE && view_list_score(l, id, &sc, &nn) == 0)
        snprintf(o, 64, "#%u  score %.3f", l->items[i].rank, sc);
      else if (vi == VIEW_NEARDUP)
        snprintf(o, 64, "group %u", l->items[i].rank);
      else
        snprintf(o, 64, "#%zu", i + 1);
      ids[(*ret_n)++] = id;
    }
    view_list_put(l);
    return 0;
  }
  char ev[EVALRUN_MAX_NAME + 1];
  struct evalrun_entry *e = malloc(max * sizeof(*e));
  size_t n = 0;
  int r = e ? evallatest_name(t, ev, sizeof(ev)) : -ENOMEM;
  if (r == 0)
    r = evalrun_ranked(t, ev, (enum evalrun_list)(vi - VIEWS_EVAL_FIRST), 0,
                       max, e, &n, NULL);
  for (size_t i = 0; r == 0 && i < n; i++) {
    snprintf(cap[i], 64, vi == VIEWS_EVAL_FIRST ? "#%zu  mistake %.3f"
                                                : "#%zu  boxes %.0f",
             i + 1, e[i].score);
    ids[i] = e[i].sample_id;
  }
  *ret_n = r == 0 ? n : 0;
  free(e);
  return r == -ENOENT ? 0 : r; /* no evaluation yet: an empty sheet */
}

static int gen_sheet(struct fs_ctx *c, struct store_txn *t, const char *view,
                     size_t vi, const struct sink *out)
{
  int64_t want = config_get_int(t, "plots.sheet_count");
  if (want <= 0)
    want = config_get_int(t, "unique.count");
  size_t max = want <= 0 || want > PLOT_SHEET_MAX ? PLOT_SHEET_MAX
                                                  : (size_t)want;
  uint64_t *ids = malloc(max * sizeof(*ids));
  char (*cap)[64] = calloc(max, sizeof(*cap));
  const char **caps = calloc(max, sizeof(*caps));
  uint8_t *jpg = NULL;
  size_t n = 0, jl = 0;
  char title[128];
  int r = ids && cap && caps ? sheet_items(c, t, vi, max, ids, cap, &n)
                             : -ENOMEM;
  for (size_t i = 0; r == 0 && i < n; i++)
    caps[i] = cap[i];
  snprintf(title, sizeof(title), "views/%s: the first %zu", view, n);
  struct thumbs th = { c, t, ids };
  if (r == 0)
    r = plot_sheet_jpeg(n, caps, title, "(empty view)", thumb, &th, &jpg,
                        &jl);
  if (r == 0)
    r = out->write(out->ud, jpg, jl);
  else
    fs_error(c, "plots/views/%s.jpg: %s", view, strerror(-r));
  free(jpg);
  free(ids);
  free(cap);
  free(caps);
  return r;
}

/*---- the provider ---------------------------------------------------------*/

static const char *const MAP_FILES[] = { "embeddings.jpg",
                                         "embeddings-thumbs.jpg",
                                         "embeddings.csv" };
#define N_MAP_FILES 3

static bool is_map_file(const char *path)
{
  for (size_t i = 0; i < N_MAP_FILES; i++)
    if (strcmp(path, MAP_FILES[i]) == 0)
      return true;
  return false;
}

static int p_stat(struct fs_ctx *c, struct store_txn *t, const char *path,
                  struct vent *ret)
{
  size_t vi;
  (void)c;
  memset(ret, 0, sizeof(*ret));
  if (!*path || strcmp(path, "views") == 0) {
    ret->kind = VENT_DIR;
    return 0;
  }
  if (!is_map_file(path) && !sheet_view(path, &vi))
    return -ENOENT;
  ret->kind = VENT_FILE;
  ret->key = provlib_version_key(t);
  return 0;
}

static int p_list(struct fs_ctx *c, struct store_txn *t, const char *path,
                  uint64_t from, vent_fn fn, void *ud)
{
  struct vent f = { .kind = VENT_FILE }, d = { .kind = VENT_DIR };
  size_t nv;
  const char *const *names = views_all_names(&nv);

  (void)c;
  f.key = provlib_version_key(t);
  if (!*path) {
    for (uint64_t i = from; i < N_MAP_FILES; i++)
      if (fn(MAP_FILES[i], &f, i + 1, ud))
        return 0;
    if (from <= N_MAP_FILES)
      fn("views", &d, N_MAP_FILES + 1, ud);
    return 0;
  }
  if (strcmp(path, "views") != 0)
    return is_map_file(path) ? -ENOTDIR : -ENOENT;
  for (uint64_t i = from; i < nv; i++) {
    char name[64];
    snprintf(name, sizeof(name), "%s.jpg", names[i]);
    if (fn(name, &f, i + 1, ud))
      break;
  }
  return 0;
}

static int p_generate(struct fs_ctx *c, struct store_txn *t, const char *path,
                      const struct sink *out)
{
  size_t vi;
  const char *view = sheet_view(path, &vi);
  if (view)
    return gen_sheet(c, t, view, vi, out);
  if (!is_map_file(path))
    return -EISDIR;
  return gen_map(c, t, path, out);
}

/* A contact sheet of an evaluation view shows a fresh evaluation: a
 * stale one is re-run here, outside the request's read transaction. */
static int p_prepare(struct fs_ctx *c, const char *path)
{
  size_t vi;
  const char *view = sheet_view(path, &vi);
  char spec[64];
  if (!view || vi < VIEWS_EVAL_FIRST)
    return 0;
  snprintf(spec, sizeof(spec), "views/%s", view);
  return provlib_selection_prepare(c, spec);
}

const struct provider prov_plots = {
  .name = "plots",
  .slot = PROV_SLOT_PLOTS,
  .init = p_init,
  .destroy = p_destroy,
  .stat = p_stat,
  .list = p_list,
  .generate = p_generate,
  .prepare = p_prepare,
};
