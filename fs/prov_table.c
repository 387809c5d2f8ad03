/* prov_table.c - `samples.csv` at the root: the per-sample table of
 * core/views/table.h (one row per present sample, RFC 4180 CSV), generated
 * into the content cache (gencache.c) like an export, so its size is exact at
 * lookup, an open file keeps its version and the next open after a change
 * (tags, labels, embeddings, settings, an evaluation) sees the new one.
 *
 * The eval_* columns show the latest evaluation, re-run first when labels
 * changed since (evalsel.h), as views/mistakes does.
 *
 * Once the table has been read in this mount, the warm thread (warm.c)
 * prepares each new version after the store settles, so `ls -l` of the
 * root (which sizes samples.csv) and the next read do not wait for it.
 *
 * State: one flag (PROV_SLOT_TABLE), set by any request thread and read
 * by the warm thread, atomically; no lock.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "evalrun.h"
#include "evalsel.h"
#include "table.h"
#include "vtree.h"

struct table_state {
  /* Set at the first generation: someone uses the table, keep it warm. */
  bool used;   /* atomic */
};

static int t_init(struct fs_ctx *c, void **state)
{
  (void)c;
  *state = calloc(1, sizeof(struct table_state));
  return *state ? 0 : -ENOMEM;
}

static void t_destroy(struct fs_ctx *c, void *state)
{
  (void)c;
  free(state);
}

static struct table_state *t_state(struct fs_ctx *c)
{
  return vtree_state(c, PROV_SLOT_TABLE);
}

/* The latest evaluation, refreshed, into name ("" if none).  A refresh is
 * a write transaction of its own. */
static void latest_eval(struct fs_ctx *c, char *name, size_t len)
{
  if (evalsel_latest(c, name, len) < 0 || evalsel_refresh(c, name, 0) < 0)
    name[0] = '\0';
}

static int t_stat(struct fs_ctx *c, struct store_txn *t, const char *path,
                  struct vent *ret)
{
  char ev[EVALRUN_MAX_NAME + 1];

  if (*path)
    return -ENOTDIR;
  latest_eval(c, ev, sizeof(ev));
  memset(ret, 0, sizeof(*ret));
  ret->kind = VENT_FILE;
  /* The version of t: if the refresh above re-ran the evaluation, the
   * content generated below (from a newer snapshot) is newer than this
   * key, and the next lookup sees the new version's key. */
  ret->key = provlib_version_key(t);
  return 0;
}

static int t_generate(struct fs_ctx *c, struct store_txn *t, const char *path,
                      const struct sink *out)
{
  char ev[EVALRUN_MAX_NAME + 1];
  struct store_txn *own = NULL;
  struct table *tb = NULL;
  int r;

  (void)t;
  if (*path)
    return -ENOTDIR;
  __atomic_store_n(&t_state(c)->used, true, __ATOMIC_RELAXED);
  latest_eval(c, ev, sizeof(ev));
  /* A snapshot taken after the refresh, so the eval columns are those of
   * the current labels. */
  r = store_txn_begin(c->store, false, &own);
  if (r == 0)
    r = table_new(c->views, own, ev[0] ? ev : NULL, &tb);
  if (r == 0)
    r = table_write(tb, own, TABLE_CSV, out->write, out->ud);
  if (r < 0)
    fs_error(c, "samples.csv: %s", strerror(-r));
  table_free(tb);
  if (own)
    store_txn_abort(own);
  return r;
}

static void t_warm(struct fs_ctx *c)
{
  struct store_txn *t;
  struct gen_content *g;
  struct vent e;

  if (!__atomic_load_n(&t_state(c)->used, __ATOMIC_RELAXED) ||
      store_txn_begin(c->store, false, &t) < 0)
    return;
  if (t_stat(c, t, "", &e) == 0 &&
      gen_get(c, &prov_table, t, "samples.csv", "", e.key, &g) == 0)
    gen_put(g);
  store_txn_abort(t);
}

const struct provider prov_table = {
  .name = "samples.csv",
  .slot = PROV_SLOT_TABLE,
  .init = t_init,
  .destroy = t_destroy,
  .stat = t_stat,
  .list = provlib_list_none,
  .generate = t_generate,
  .warm = t_warm,
};
