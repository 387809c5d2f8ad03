/* test_snap.c - kept read snapshots (core/store/snap.h) on a real LMDB
 * store: a snapshot keeps showing the store as it was while writers
 * commit; a renewal shows the newest version and keeps the one before;
 * a third renewal drops the oldest; a snapshot taken and given back from
 * another thread (MDB_NOTLS) reads the same; freeing the set ends its
 * transactions, so the store closes.
 */
#include "testlib.h"
#include "snap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fx {
  char dir[64];
  struct store *s;
};

static void fx_init(struct fx *f)
{
  struct store_opts o = { .nosync = true };
  char p[128];

  CHECK_INT_EQ(tl_tmpdir(f->dir, sizeof(f->dir), "test-snap"), 0);
  snprintf(p, sizeof(p), "%s/store", f->dir);
  CHECK_INT_EQ(mkdir(p, 0755), 0);
  CHECK_INT_EQ(store_open(p, &o, &f->s), 0);
}

static void fx_done(struct fx *f)
{
  store_close(f->s);
  tl_rm_rf(f->dir);
}

/* One committed change: setting "snap.v" = val. */
static void set_value(struct fx *f, const char *val)
{
  struct store_txn *t;

  CHECK_INT_EQ(store_txn_begin(f->s, true, &t), 0);
  CHECK_INT_EQ(store_setting_set(t, "snap.v", val), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
}

/* The value snapshot i shows ("" when unset, NULL when no snapshot); its
 * version in *ver.  Owned string. */
static char *snap_value(struct store_snaps *ss, unsigned i, uint64_t *ver)
{
  struct store_txn *t = store_snaps_take(ss, i, ver);
  char *v = NULL;

  if (t && store_setting_get(t, "snap.v", &v) == -ENOENT)
    v = strdup("");
  store_snaps_give_back(ss);
  return v;
}

TEST(keeps_versions)
{
  struct store_snaps *ss;
  struct fx f;
  uint64_t v1 = 0, v2 = 0, v3 = 0, got = 0;
  char *s;

  fx_init(&f);
  set_value(&f, "one");
  CHECK_INT_EQ(store_snaps_new(f.s, &ss), 0);
  s = snap_value(ss, 0, NULL);
  CHECK(s == NULL);  /* nothing taken yet */
  free(s);
  CHECK_INT_EQ(store_snaps_renew(ss, &v1), 0);
  set_value(&f, "two");
  s = snap_value(ss, 0, &got);
  CHECK_STR_EQ(s, "one");  /* as it was, with a commit since */
  CHECK(got == v1);
  free(s);
  CHECK_INT_EQ(store_snaps_renew(ss, &v2), 0);
  CHECK(v2 == v1 + 1);
  s = snap_value(ss, 0, NULL);
  CHECK_STR_EQ(s, "two");
  free(s);
  s = snap_value(ss, 1, &got);
  CHECK_STR_EQ(s, "one");  /* the one before stays */
  CHECK(got == v1);
  free(s);
  set_value(&f, "three");
  CHECK_INT_EQ(store_snaps_renew(ss, &v3), 0);
  s = snap_value(ss, 1, NULL);
  CHECK_STR_EQ(s, "two");  /* "one" is gone */
  free(s);
  s = snap_value(ss, STORE_SNAPS, NULL);
  CHECK(s == NULL);
  free(s);
  store_snaps_free(ss);  /* ends both transactions: the store closes */
  fx_done(&f);
}

struct other {
  struct store_snaps *ss;
  char *val;
};

static void *read_other(void *arg)
{
  struct other *o = arg;

  o->val = snap_value(o->ss, 0, NULL);
  return NULL;
}

TEST(other_thread)
{
  struct store_snaps *ss;
  struct other o;
  pthread_t th;
  struct fx f;

  fx_init(&f);
  set_value(&f, "kept");
  CHECK_INT_EQ(store_snaps_new(f.s, &ss), 0);
  CHECK_INT_EQ(store_snaps_renew(ss, NULL), 0);
  set_value(&f, "later");
  o.ss = ss;
  o.val = NULL;
  CHECK_INT_EQ(pthread_create(&th, NULL, read_other, &o), 0);
  CHECK_INT_EQ(pthread_join(th, NULL), 0);
  CHECK_STR_EQ(o.val, "kept");
  free(o.val);
  store_snaps_free(ss);
  fx_done(&f);
}

TEST_MAIN(T(keeps_versions), T(other_thread))
