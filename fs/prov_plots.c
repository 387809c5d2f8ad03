/* prov_plots.c - plots/: charts of the whole dataset.
 *
 *   plots/embeddings.jpg   every sample's embedding projected to 2-D
 *                          (core/plot's PCA), one colour per tag or per
 *                          class (config plots.color_by), so clusters and
 *                          outliers show at a glance
 *
 * Embeddings come from core/featstore (imported ones when present); the
 * chart is regenerated when the store changes (tags, labels, embeddings).
 *
 * State: none (no ->init); the chart is cached by the content cache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "featstore.h"
#include "labels.h"
#include "plot.h"
#include "vtree.h"

#define MAX_KEYS 40

struct keys {
  char *names[MAX_KEYS + 1];
  uint64_t ids[MAX_KEYS];     /* tag or class id of each key */
  size_t n;
};

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
  } else {
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
}

static int p_stat(struct fs_ctx *c, struct store_txn *t, const char *path,
                  struct vent *ret)
{
  (void)c;
  memset(ret, 0, sizeof(*ret));
  if (!*path) {
    ret->kind = VENT_DIR;
    return 0;
  }
  if (strcmp(path, "embeddings.jpg") != 0)
    return -ENOENT;
  ret->kind = VENT_FILE;
  ret->key = provlib_version_key(t);
  return 0;
}

static int p_list(struct fs_ctx *c, struct store_txn *t, const char *path,
                  uint64_t from, vent_fn fn, void *ud)
{
  struct vent f = { .kind = VENT_FILE };

  (void)c;
  if (*path)
    return -ENOTDIR;
  f.key = provlib_version_key(t);
  if (from < 1)
    fn("embeddings.jpg", &f, 1, ud);
  return 0;
}

static int p_generate(struct fs_ctx *c, struct store_txn *t, const char *path,
                      const struct sink *out)
{
  struct feat_matrix m;
  struct keys k = { .n = 0 };
  uint32_t *key = NULL;
  uint8_t *jpg = NULL;
  size_t jl = 0;
  char by[16];
  int r;

  if (strcmp(path, "embeddings.jpg") != 0)
    return -EISDIR;
  config_get_str(t, "plots.color_by", by, sizeof(by));
  r = featstore_load_matrix(t, &m);
  if (r < 0)
    return r;
  if (m.n && !(key = malloc(m.n * sizeof(*key))))
    r = -ENOMEM;
  for (size_t i = 0; r == 0 && i < m.n; i++)
    key[i] = sample_key(t, m.ids[i], strcmp(by, "class") == 0, &k);
  if (k.n == MAX_KEYS - 1)
    k.names[k.n++] = strdup("other");
  if (r == 0)
    r = plot_embeddings_jpeg(m.x, m.n, m.dim, key,
                             (const char *const *)k.names, k.n, 0, 0, &jpg,
                             &jl);
  if (r == 0)
    r = out->write(out->ud, jpg, jl);
  else
    fs_error(c, "plots/embeddings.jpg: %s", strerror(-r));
  for (size_t i = 0; i < k.n; i++)
    free(k.names[i]);
  free(jpg);
  free(key);
  featstore_matrix_free(&m);
  return r;
}

const struct provider prov_plots = {
  .name = "plots",
  .stat = p_stat,
  .list = p_list,
  .generate = p_generate,
};
