/* test_selection.c - selections by name (core/views/selection.h) and the
 * view cache's sharing (views.h) on a real LMDB store, without a mount.
 *
 * What could break in the split of the selection code: a selection must
 * read through the caller's transaction (so a transaction begun before a
 * change still sees the old membership and a later one the new), must
 * never write (a stale evaluation is left alone by selection_ids(), and
 * re-run by selection_prepare() only), and the cached lists must be
 * shared with correct reference counts.
 *
 * Every test gets a fresh store under $TMPDIR.
 */
#include "testlib.h"
#include "evallatest.h"
#include "evalrun.h"
#include "selection.h"
#include "views.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fx {
  char dir[64];
  struct store *s;
  struct views *v;
  uint64_t ids[4];
  uint32_t cat;
};

/* Writes sample i's labels: a ground-truth box at (0,0) and a prediction
 * at (px,0) with confidence 0.99; with dupes, two equal boxes in field
 * "other". */
static void put_labels(struct fx *f, struct store_txn *t, int i, double px,
                       bool dupes)
{
  struct labels l;
  struct detection d = { .class_id = f->cat, .x = 0, .y = 0, .w = 10,
                         .h = 10, .confidence = NAN };

  labels_init(&l);
  CHECK_INT_EQ(labels_field_add(labels_field(&l, "ground_truth", true), &d),
               0);
  if (dupes) {
    struct label_field *o = labels_field(&l, "other", true);
    CHECK_INT_EQ(labels_field_add(o, &d), 0);
    CHECK_INT_EQ(labels_field_add(o, &d), 0);
  }
  d.x = px;
  d.confidence = 0.99;
  CHECK_INT_EQ(labels_field_add(labels_field(&l, "predictions", true), &d),
               0);
  CHECK_INT_EQ(store_labels_put(t, f->ids[i], &l), 0);
  labels_free(&l);
}

/* Four samples; sample 3 is missing.  Tag "t" on 0, 2 and 3.  Sample 1's
 * prediction misses its ground truth (a possible-spurious and a
 * possible-missing sample); sample 2 has two equal boxes (views/dupes). */
static void fx_init(struct fx *f)
{
  struct store_opts o = { .nosync = true };
  struct store_txn *t;
  uint64_t tag;
  char p[128];

  CHECK_INT_EQ(tl_tmpdir(f->dir, sizeof(f->dir), "test-selection"), 0);
  snprintf(p, sizeof(p), "%s/store", f->dir);
  CHECK_INT_EQ(mkdir(p, 0755), 0);
  CHECK_INT_EQ(store_open(p, &o, &f->s), 0);
  CHECK_INT_EQ(views_new(f->s, &f->v), 0);
  CHECK_INT_EQ(store_txn_begin(f->s, true, &t), 0);
  CHECK_INT_EQ(store_class_id(t, "cat", true, &f->cat), 0);
  for (int i = 0; i < 4; i++) {
    struct sample smp = { 0 };
    char name[16], path[32];
    snprintf(name, sizeof(name), "s%d", i);
    snprintf(path, sizeof(path), "s%d.jpg", i);
    smp.size = 1000;
    smp.width = 64;
    smp.height = 48;
    smp.name = name;
    smp.relpath = path;
    smp.flags = i == 3 ? SAMPLE_MISSING : 0;
    CHECK_INT_EQ(store_sample_put(t, &smp, &f->ids[i]), 0);
  }
  CHECK_INT_EQ(store_tag_create(t, "t", &tag), 0);
  for (int i = 0; i < 4; i += 2)
    CHECK(store_tag_add(t, tag, f->ids[i]) >= 0);
  CHECK(store_tag_add(t, tag, f->ids[3]) >= 0);
  for (int i = 0; i < 3; i++)
    put_labels(f, t, i, i == 1 ? 50 : 0, i == 2);
  CHECK_INT_EQ(store_txn_commit(t), 0);
}

static void fx_done(struct fx *f)
{
  views_free(f->v);
  store_close(f->s);
  tl_rm_rf(f->dir);
}

/* The selection as "i,j,..." of fixture indices (or "?" for another id),
 * read within t. */
static int sel(struct fx *f, struct store_txn *t, const char *spec,
               char *out, size_t outlen)
{
  uint64_t *ids;
  size_t n, len = 0;
  char err[200];
  int r = selection_ids(f->v, t, spec, &ids, &n, err, sizeof(err));

  out[0] = '\0';
  if (r < 0)
    return r;
  for (size_t i = 0; i < n; i++) {
    int k = -1;
    for (int j = 0; j < 4; j++)
      if (f->ids[j] == ids[i])
        k = j;
    len += (size_t)snprintf(out + len, outlen - len, "%s%c", i ? "," : "",
                            k < 0 ? '?' : '0' + k);
  }
  free(ids);
  return 0;
}

static uint64_t version(struct fx *f)
{
  struct store_txn *t;
  uint64_t v = 0;

  CHECK_INT_EQ(store_txn_begin(f->s, false, &t), 0);
  CHECK_INT_EQ(store_version(t, &v), 0);
  store_txn_abort(t);
  return v;
}

TEST(samples_and_tags)
{
  struct fx f;
  struct store_txn *t;
  uint64_t *ids;
  size_t n;
  char got[64], err[200];

  fx_init(&f);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(sel(&f, t, "samples", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "0,1,2");          /* the missing sample left out */
  CHECK_INT_EQ(sel(&f, t, "tags/t", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "0,2");
  CHECK_INT_EQ(sel(&f, t, "tags/t/", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "0,2");
  CHECK_INT_EQ(selection_ids(f.v, t, "tags/none", &ids, &n, err,
                             sizeof(err)), -ENOENT);
  CHECK(strstr(err, "no such selection 'tags/none'") != NULL);
  CHECK(ids == NULL && n == 0);
  CHECK_INT_EQ(selection_ids(f.v, t, "views/nope", &ids, &n, err,
                             sizeof(err)), -ENOENT);
  CHECK_INT_EQ(selection_ids(f.v, t, "sample", &ids, &n, err, sizeof(err)),
               -ENOENT);
  CHECK_INT_EQ(selection_ids(f.v, t, "views/", &ids, &n, err, sizeof(err)),
               -ENOENT);
  store_txn_abort(t);
  fx_done(&f);
}

/* A transaction begun before a change keeps seeing the selection as it
 * was; the caller's write transaction sees its own change. */
TEST(within_callers_txn)
{
  struct fx f;
  struct store_txn *before, *w, *after;
  uint64_t tag;
  char got[64];

  fx_init(&f);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &before), 0);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &w), 0);
  CHECK_INT_EQ(store_tag_lookup(w, "t", &tag), 0);
  CHECK(store_tag_add(w, tag, f.ids[1]) >= 0);
  CHECK_INT_EQ(sel(&f, w, "tags/t", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "0,1,2");
  CHECK_INT_EQ(store_txn_commit(w), 0);
  CHECK_INT_EQ(sel(&f, before, "tags/t", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "0,2");
  CHECK_INT_EQ(store_txn_begin(f.s, false, &after), 0);
  CHECK_INT_EQ(sel(&f, after, "tags/t", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "0,1,2");
  store_txn_abort(after);
  store_txn_abort(before);
  fx_done(&f);
}

/* views/dupes through the cache, in the caller's transaction; the list
 * is shared: two gets give one list with a reference each. */
TEST(computed_view_shared)
{
  struct fx f;
  struct store_txn *t;
  struct view_list *a, *b;
  char got[64];

  fx_init(&f);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(sel(&f, t, "views/dupes", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "2");
  CHECK_INT_EQ(views_get_txn(f.v, t, VIEW_DUPES, &a), 0);
  CHECK_INT_EQ(views_get(f.v, VIEW_DUPES, &b), 0);
  CHECK(a == b);
  CHECK_INT_EQ(a->refs, 3);            /* the cache's, a's and b's */
  view_list_put(b);
  CHECK_INT_EQ(a->refs, 2);
  view_list_put(a);
  CHECK_INT_EQ(views_get_txn(f.v, t, (enum view_kind)VIEW_KINDS, &a),
               -EINVAL);
  store_txn_abort(t);
  fx_done(&f);
}

/* Evaluation views: empty without an evaluation; selection_ids() never
 * re-runs a stale one (no write: the store version stays), and
 * selection_prepare() does, so a transaction begun after it sees the new
 * lists. */
TEST(eval_views_refresh_in_a_separate_step)
{
  struct fx f;
  struct store_txn *t;
  char got[64], err[200], ev[EVALRUN_MAX_NAME + 1];
  uint64_t v0;

  fx_init(&f);
  CHECK_INT_EQ(evallatest_find(f.s, ev, sizeof(ev)), -ENOENT);
  CHECK_INT_EQ(selection_prepare(f.s, "views/mistakes", err, sizeof(err)),
               0);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(sel(&f, t, "views/mistakes", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "");
  store_txn_abort(t);

  CHECK_INT_EQ(evalrun_run(f.s, "e", NULL, NULL, err, sizeof(err)), 0);
  CHECK_INT_EQ(evallatest_find(f.s, ev, sizeof(ev)), 0);
  CHECK_STR_EQ(ev, "e");
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(sel(&f, t, "views/possible-spurious", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "1");
  CHECK_INT_EQ(sel(&f, t, "views/possible-missing/", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "1");
  store_txn_abort(t);

  /* Sample 1's prediction now matches: the evaluation is stale. */
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  put_labels(&f, t, 1, 0, false);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  v0 = version(&f);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(evalrun_fresh(t, "e"), 0);
  CHECK_INT_EQ(sel(&f, t, "views/possible-spurious", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "1");              /* the stored run, as t sees it */
  store_txn_abort(t);
  CHECK(version(&f) == v0);            /* selection_ids() wrote nothing */

  CHECK_INT_EQ(selection_prepare(f.s, "views/possible-spurious/", err,
                                 sizeof(err)), 0);
  CHECK(version(&f) > v0);             /* the re-run committed */
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(evalrun_fresh(t, "e"), 1);
  CHECK_INT_EQ(sel(&f, t, "views/possible-spurious", got, sizeof(got)), 0);
  CHECK_STR_EQ(got, "");
  store_txn_abort(t);

  /* Other selections have nothing to prepare and write nothing. */
  v0 = version(&f);
  CHECK_INT_EQ(selection_prepare(f.s, "tags/t", err, sizeof(err)), 0);
  CHECK_INT_EQ(selection_prepare(f.s, "nonsense", err, sizeof(err)), 0);
  CHECK(version(&f) == v0);
  fx_done(&f);
}

/* selection_get(): both steps for callers without a transaction. */
TEST(get_does_both_steps)
{
  struct fx f;
  struct store_txn *t;
  uint64_t *ids;
  size_t n;
  char err[200];

  fx_init(&f);
  /* Another name than the test before: evalrun_refresh_recent() skips a
   * check of the same (store, name) within a second, and this store may
   * get the address of the one before. */
  CHECK_INT_EQ(evalrun_run(f.s, "e5", NULL, NULL, err, sizeof(err)), 0);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  put_labels(&f, t, 1, 0, false);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(selection_get(f.v, "views/possible-missing", &ids, &n, err,
                             sizeof(err)), 0);
  CHECK(n == 0);
  free(ids);
  CHECK_INT_EQ(selection_get(f.v, "tags/t", &ids, &n, err, sizeof(err)), 0);
  CHECK(n == 2 && ids[0] == f.ids[0] && ids[1] == f.ids[2]);
  free(ids);
  CHECK_INT_EQ(selection_get(f.v, "tags/x", &ids, &n, err, sizeof(err)),
               -ENOENT);
  CHECK(strstr(err, "no such selection") != NULL);
  fx_done(&f);
}

TEST_MAIN(T(samples_and_tags), T(within_callers_txn), T(computed_view_shared),
          T(eval_views_refresh_in_a_separate_step), T(get_does_both_steps))
