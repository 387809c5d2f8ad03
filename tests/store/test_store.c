/* test_store.c - the LMDB dataset store (core/store/store.h) on real files.
 *
 * Every test gets a fresh store directory made with mkdtemp() under $TMPDIR and
 * removes it afterwards.  Covered: open/create and the stored schema version
 * (read back with LMDB itself; a newer one is refused with -EPROTO),
 * samples (put, get, lookup by name and path, "~<id>" on name collisions,
 * replace keeping name and path, delete), id-ordered iteration with resume,
 * tags (create, invalid names, membership with its 1/0 results, counts,
 * rename, delete, per-sample listing), classes with stable ids from 1,
 * labels (ids assigned and written back, per-class box counts across
 * replace and sample delete), the sticky transaction error (a failed step
 * makes commit fail and nothing of the transaction is visible), a tiny map
 * filled to -ENOSPC with everything committed before intact afterwards,
 * read-only opening, reopening, settings, and the debug assert that no
 * transaction is open when the store closes.
 *
 * The store is the only core module that includes lmdb.h; this test also
 * does, but only to look at (and once tamper with) the on-disk schema key
 * the way another build of the program would.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coco.h"
#include "store.h"
#include "testlib.h"

/* ---- fixture ---- */

struct fx {
  char dir[64];
  struct store *s;
};

static const struct store_opts fast = { .nosync = true };

/* Makes a fresh directory; opens a store in it unless opts is NULL. */
static int fx_init(struct fx *f, const struct store_opts *opts)
{
  int r;

  f->s = NULL;
  r = tl_tmpdir(f->dir, sizeof(f->dir), "test-store");
  if (r < 0) {
    fprintf(stderr, "mkdtemp: %s\n", strerror(-r));
    tl_failed = 1;
    return r;
  }
  if (!opts)
    return 0;
  r = store_open(f->dir, opts, &f->s);
  CHECK_INT_EQ(r, 0);
  return r;
}

static int fx_reopen(struct fx *f, const struct store_opts *opts)
{
  int r;

  store_close(f->s);
  f->s = NULL;
  r = store_open(f->dir, opts, &f->s);
  CHECK_INT_EQ(r, 0);
  return r;
}

static void fx_done(struct fx *f)
{
  store_close(f->s);
  f->s = NULL;
  tl_rm_rf(f->dir);
}

static struct store_txn *wbegin(struct fx *f)
{
  struct store_txn *t = NULL;
  CHECK_INT_EQ(store_txn_begin(f->s, true, &t), 0);
  return t;
}

static struct store_txn *rbegin(struct fx *f)
{
  struct store_txn *t = NULL;
  CHECK_INT_EQ(store_txn_begin(f->s, false, &t), 0);
  return t;
}

static struct sample mk(const char *name, const char *relpath, uint32_t w,
                        uint32_t h)
{
  struct sample s;

  memset(&s, 0, sizeof(s));
  s.name = name;
  s.relpath = relpath;
  s.width = w;
  s.height = h;
  s.precision = 8;
  s.components = 3;
  s.orientation = 1;
  s.size = 1000 + w;
  s.mtime_ns = 1600000000123456789LL;
  return s;
}

/* Inserts a sample in its own transaction and returns its id (0 on
 * failure). */
static uint64_t add_sample(struct fx *f, const char *name, const char *rel)
{
  struct store_txn *t = wbegin(f);
  struct sample s = mk(name, rel, 64, 48);
  uint64_t id = 0;

  if (!t)
    return 0;
  CHECK_INT_EQ(store_sample_put(t, &s, &id), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  return id;
}

static uint64_t count_samples(struct fx *f)
{
  struct store_txn *t = rbegin(f);
  uint64_t n = 12345;

  if (!t)
    return n;
  CHECK_INT_EQ(store_sample_count(t, &n), 0);
  store_txn_abort(t);
  return n;
}

/* Opens the store's LMDB environment in `dir` the way another build of
 * the program would (read-only or not) and begins a transaction on the
 * named database.  0 or an LMDB error; on success the caller ends the
 * transaction and closes *env. */
static int raw_begin(const char *dir, bool rdonly, const char *db,
                     MDB_env **env, MDB_txn **txn, MDB_dbi *dbi)
{
  unsigned flags = rdonly ? MDB_RDONLY : 0;
  int rc;

  if ((rc = mdb_env_create(env)))
    return rc;
  mdb_env_set_maxdbs(*env, 32);
  rc = mdb_env_open(*env, dir, flags, 0644);
  if (rc == 0)
    rc = mdb_txn_begin(*env, NULL, flags, txn);
  if (rc == 0 && (rc = mdb_dbi_open(*txn, db, 0, dbi)))
    mdb_txn_abort(*txn);
  if (rc)
    mdb_env_close(*env);
  return rc;
}

/* Writes db[key] behind the store's back, in one transaction.  With
 * at < 0 the value becomes data/len; otherwise the stored value is kept
 * and len bytes of data overwrite it at offset `at` (a stray write). */
static int raw_write(const char *dir, const char *db, const void *key,
                     size_t klen, long at, const void *data, size_t len)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  MDB_val k = { klen, (void *)key }, v = { len, (void *)data };
  uint8_t rec[4096];
  int rc;

  if ((rc = raw_begin(dir, false, db, &env, &txn, &dbi)))
    return rc;
  if (at >= 0) {
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0 && (v.mv_size > sizeof(rec) || (size_t)at + len > v.mv_size))
      rc = EINVAL;
    if (rc == 0) {
      memcpy(rec, v.mv_data, v.mv_size);
      memcpy(rec + at, data, len);
      v.mv_data = rec;
    }
  }
  if (rc == 0)
    rc = mdb_put(txn, dbi, &k, &v, 0);
  if (rc == 0)
    rc = mdb_txn_commit(txn);
  else
    mdb_txn_abort(txn);
  mdb_env_close(env);
  return rc;
}

/* x big-endian at p, as the store's integer keys are. */
static void put_be64(uint8_t *p, uint64_t x)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(x >> (56 - 8 * i));
}

/* Reads meta/"schema" with LMDB directly; -1 if absent or unreadable. */
static long long read_schema(const char *dir)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  MDB_val k = { 6, "schema" }, v;
  long long ret = -1;

  if (raw_begin(dir, true, "meta", &env, &txn, &dbi))
    return -1;
  if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8) {
    uint64_t x;
    memcpy(&x, v.mv_data, 8);
    ret = (long long)x;
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return ret;
}

static int write_schema(const char *dir, uint64_t version)
{
  return raw_write(dir, "meta", "schema", 6, -1, &version, 8);
}

/* ---- open ---- */

TEST(open_create_and_schema)
{
  struct fx f;
  struct store *s2 = NULL;
  char path[128];
  struct stat st;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK_STR_EQ(store_dir(f.s), f.dir);
  snprintf(path, sizeof(path), "%s/data.mdb", f.dir);
  CHECK(stat(path, &st) == 0);
  CHECK_INT_EQ(count_samples(&f), 0);
  store_close(f.s);
  f.s = NULL;

  CHECK_INT_EQ(read_schema(f.dir), STORE_SCHEMA_VERSION);
  CHECK_INT_EQ(STORE_SCHEMA_VERSION, 2);
  /* Reopening keeps the version. */
  CHECK_INT_EQ(store_open(f.dir, &fast, &s2), 0);
  store_close(s2);
  CHECK_INT_EQ(read_schema(f.dir), 2);
  /* A version 1 store opens: read-only as it is, writable upgraded. */
  CHECK_INT_EQ(write_schema(f.dir, 1), 0);
  {
    struct store_opts ro = { .readonly = true };
    CHECK_INT_EQ(store_open(f.dir, &ro, &s2), 0);
    store_close(s2);
    CHECK_INT_EQ(read_schema(f.dir), 1);
  }
  CHECK_INT_EQ(store_open(f.dir, &fast, &s2), 0);
  store_close(s2);
  CHECK_INT_EQ(read_schema(f.dir), 2);

  /* A store written by a newer build is refused, read-only or not. */
  CHECK_INT_EQ(write_schema(f.dir, STORE_SCHEMA_VERSION + 1), 0);
  s2 = NULL;
  CHECK_INT_EQ(store_open(f.dir, &fast, &s2), -EPROTO);
  CHECK(!s2);
  {
    struct store_opts ro = { .readonly = true };
    CHECK_INT_EQ(store_open(f.dir, &ro, &s2), -EPROTO);
  }
  /* Refusing did not rewrite it. */
  CHECK_INT_EQ(read_schema(f.dir), STORE_SCHEMA_VERSION + 1);
  fx_done(&f);
}

TEST(open_errors)
{
  struct fx f;
  struct store *s = NULL;
  char path[128];
  FILE *fp;

  if (fx_init(&f, NULL) < 0)
    return;
  snprintf(path, sizeof(path), "%s/missing", f.dir);
  CHECK_INT_EQ(store_open(path, &fast, &s), -ENOENT);
  snprintf(path, sizeof(path), "%s/file", f.dir);
  fp = fopen(path, "w");
  CHECK(fp);
  if (fp)
    fclose(fp);
  CHECK_INT_EQ(store_open(path, &fast, &s), -ENOTDIR);
  CHECK(!s);
  fx_done(&f);
}

/* ---- samples ---- */

TEST(sample_put_get)
{
  struct fx f;
  struct store_txn *t;
  struct sample a = mk("img_001", "dir/img_001.jpg", 640, 480), got;
  uint64_t id1 = 0, id2 = 0, n;

  if (fx_init(&f, &fast) < 0)
    return;
  a.flags = SAMPLE_PROGRESSIVE | SAMPLE_HASHED;
  a.orientation = 6;
  a.components = 1;
  for (int i = 0; i < 16; i++)
    a.hash[i] = (uint8_t)(0xA0 + i);
  t = wbegin(&f);
  CHECK_INT_EQ(store_sample_put(t, &a, &id1), 0);
  {
    struct sample b = mk("img_002", "dir/img_002.jpg", 10, 20);
    CHECK_INT_EQ(store_sample_put(t, &b, &id2), 0);
  }
  /* Ids start at 1 and count up. */
  CHECK(id1 == 1);
  CHECK(id2 == 2);
  /* Visible inside the writing transaction. */
  CHECK_INT_EQ(store_sample_get(t, id1, &got), 0);
  CHECK_STR_EQ(got.name, "img_001");
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_get(t, 1, &got), 0);
  CHECK(got.id == 1);
  CHECK_STR_EQ(got.name, "img_001");
  CHECK_STR_EQ(got.relpath, "dir/img_001.jpg");
  CHECK_INT_EQ(got.width, 640);
  CHECK_INT_EQ(got.height, 480);
  CHECK(got.size == 1640);
  CHECK(got.mtime_ns == 1600000000123456789LL);
  CHECK_INT_EQ(got.precision, 8);
  CHECK_INT_EQ(got.components, 1);
  CHECK_INT_EQ(got.orientation, 6);
  CHECK_INT_EQ(got.flags, SAMPLE_PROGRESSIVE | SAMPLE_HASHED);
  CHECK(got.hash[0] == 0xA0 && got.hash[15] == 0xAF);
  CHECK(got.labels_version == 0);

  CHECK_INT_EQ(store_sample_by_name(t, "img_002", &got), 0);
  CHECK(got.id == 2);
  CHECK_STR_EQ(got.relpath, "dir/img_002.jpg");
  CHECK_INT_EQ(got.width, 10);
  CHECK_INT_EQ(store_sample_by_path(t, "dir/img_001.jpg", &got), 0);
  CHECK(got.id == 1);
  CHECK_INT_EQ(store_sample_count(t, &n), 0);
  CHECK(n == 2);

  CHECK_INT_EQ(store_sample_get(t, 3, &got), -ENOENT);
  CHECK_INT_EQ(store_sample_get(t, 0, &got), -ENOENT);
  CHECK_INT_EQ(store_sample_by_name(t, "img_003", &got), -ENOENT);
  CHECK_INT_EQ(store_sample_by_name(t, "", &got), -ENOENT);
  /* Names and paths are separate indexes. */
  CHECK_INT_EQ(store_sample_by_name(t, "dir/img_001.jpg", &got), -ENOENT);
  CHECK_INT_EQ(store_sample_by_path(t, "img_001", &got), -ENOENT);
  /* Writes on a read transaction are refused. */
  CHECK_INT_EQ(store_sample_put(t, &a, NULL), -EROFS);
  CHECK_INT_EQ(store_sample_delete(t, 1), -EROFS);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  fx_done(&f);
}

TEST(sample_put_refusals)
{
  struct fx f;
  struct store_txn *t;
  struct sample s;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "a", "a.jpg") == 1);

  /* A second sample for the same source path. */
  t = wbegin(&f);
  s = mk("other", "a.jpg", 1, 1);
  CHECK_INT_EQ(store_sample_put(t, &s, NULL), -EEXIST);
  store_txn_abort(t);
  /* Missing name or path. */
  t = wbegin(&f);
  s = mk("", "b.jpg", 1, 1);
  CHECK_INT_EQ(store_sample_put(t, &s, NULL), -EINVAL);
  store_txn_abort(t);
  t = wbegin(&f);
  s = mk("b", "", 1, 1);
  CHECK_INT_EQ(store_sample_put(t, &s, NULL), -EINVAL);
  store_txn_abort(t);
  /* Replacing a sample that does not exist. */
  t = wbegin(&f);
  s = mk("b", "b.jpg", 1, 1);
  s.id = 42;
  CHECK_INT_EQ(store_sample_put(t, &s, NULL), -ENOENT);
  store_txn_abort(t);

  CHECK_INT_EQ(count_samples(&f), 1);
  fx_done(&f);
}

TEST(sample_name_collision)
{
  struct fx f;
  struct store_txn *t;
  struct sample got;
  uint64_t a, b, c;

  if (fx_init(&f, &fast) < 0)
    return;
  a = add_sample(&f, "cat", "x/cat.jpg");
  b = add_sample(&f, "cat", "y/cat.jpg");
  c = add_sample(&f, "cat", "z/cat.jpg");
  CHECK(a == 1 && b == 2 && c == 3);
  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_get(t, 1, &got), 0);
  CHECK_STR_EQ(got.name, "cat");
  CHECK_INT_EQ(store_sample_get(t, 2, &got), 0);
  CHECK_STR_EQ(got.name, "cat~2");
  CHECK_STR_EQ(got.relpath, "y/cat.jpg");
  CHECK_INT_EQ(store_sample_by_name(t, "cat~3", &got), 0);
  CHECK(got.id == 3);
  CHECK_INT_EQ(store_sample_by_name(t, "cat", &got), 0);
  CHECK(got.id == 1);
  store_txn_abort(t);

  /* Once "cat" is deleted, the name is free again for a new sample. */
  t = wbegin(&f);
  CHECK_INT_EQ(store_sample_delete(t, 1), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK(add_sample(&f, "cat", "w/cat.jpg") == 4);
  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_by_name(t, "cat", &got), 0);
  CHECK(got.id == 4);
  store_txn_abort(t);
  fx_done(&f);
}

/* A taken name whose "~<id>" is taken too (a file named "dog~4.jpg"
 * imported before the fourth sample, another "dog"): the new sample gets
 * the first free "dog~4~<k>" from k = 2, and the import goes on instead of
 * failing with EEXIST. */
TEST(sample_name_suffix_taken)
{
  struct fx f;
  struct store_txn *t;
  struct sample got;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "dog", "dog.jpg") == 1);
  CHECK(add_sample(&f, "dog~4", "dog~4.jpg") == 2);
  CHECK(add_sample(&f, "dog~4~2", "dog~4~2.jpg") == 3);
  CHECK(add_sample(&f, "dog", "dog.png") == 4);
  CHECK(add_sample(&f, "dog", "b/dog.jpg") == 5);
  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_get(t, 4, &got), 0);
  CHECK_STR_EQ(got.name, "dog~4~3");
  CHECK_STR_EQ(got.relpath, "dog.png");
  CHECK_INT_EQ(store_sample_by_name(t, "dog~4~3", &got), 0);
  CHECK(got.id == 4);
  CHECK_INT_EQ(store_sample_get(t, 5, &got), 0);
  CHECK_STR_EQ(got.name, "dog~5");
  store_txn_abort(t);
  fx_done(&f);
}

TEST(sample_replace_keeps_name)
{
  struct fx f;
  struct store_txn *t;
  struct sample s, got;
  uint64_t id = 0, n;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "keep", "orig/keep.jpg") == 1);
  t = wbegin(&f);
  s = mk("renamed", "moved/keep.jpg", 1024, 768);
  s.id = 1;
  s.size = 99999;
  s.flags = SAMPLE_MISSING;
  s.labels_version = 5;
  CHECK_INT_EQ(store_sample_put(t, &s, &id), 0);
  CHECK(id == 1);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_get(t, 1, &got), 0);
  CHECK_STR_EQ(got.name, "keep");
  CHECK_STR_EQ(got.relpath, "orig/keep.jpg");
  CHECK_INT_EQ(got.width, 1024);
  CHECK_INT_EQ(got.height, 768);
  CHECK(got.size == 99999);
  CHECK_INT_EQ(got.flags, SAMPLE_MISSING);
  CHECK(got.labels_version == 5);
  CHECK_INT_EQ(store_sample_by_name(t, "renamed", &got), -ENOENT);
  CHECK_INT_EQ(store_sample_by_path(t, "moved/keep.jpg", &got), -ENOENT);
  CHECK_INT_EQ(store_sample_by_name(t, "keep", &got), 0);
  CHECK_INT_EQ(store_sample_count(t, &n), 0);
  CHECK(n == 1);
  store_txn_abort(t);

  /* Replacing from a record read in the same transaction (borrowed
   * strings) works too. */
  t = wbegin(&f);
  CHECK_INT_EQ(store_sample_get(t, 1, &s), 0);
  s.width = 1;
  CHECK_INT_EQ(store_sample_put(t, &s, NULL), 0);
  CHECK_INT_EQ(store_sample_get(t, 1, &got), 0);
  CHECK_INT_EQ(got.width, 1);
  CHECK_STR_EQ(got.name, "keep");
  CHECK_INT_EQ(store_txn_commit(t), 0);
  fx_done(&f);
}

TEST(sample_iteration)
{
  struct fx f;
  struct store_txn *t;
  struct store_iter *it = NULL;
  struct sample s;
  static const char *const names[] = { "e", "d", "c", "b", "a" };
  uint64_t want[] = { 1, 2, 4, 5 }, next;
  size_t k = 0;

  if (fx_init(&f, &fast) < 0)
    return;
  t = wbegin(&f);
  for (size_t i = 0; i < 5; i++) {
    char rel[16];
    snprintf(rel, sizeof(rel), "%s.jpg", names[i]);
    s = mk(names[i], rel, 1, 1);
    CHECK_INT_EQ(store_sample_put(t, &s, NULL), 0);
  }
  CHECK_INT_EQ(store_sample_delete(t, 3), 0);
  CHECK_INT_EQ(store_sample_delete(t, 3), -ENOENT);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = rbegin(&f);
  CHECK_INT_EQ(store_iter_new(t, &it), 0);
  /* Id order, not name order; a deleted id leaves a gap. */
  for (next = 0; store_iter_samples(it, next, &s) == 0; next = s.id + 1) {
    CHECK(k < 4 && s.id == want[k]);
    if (k < 4)
      CHECK_STR_EQ(s.name, names[want[k] - 1]);
    k++;
    if (k > 10)
      break;
  }
  CHECK_INT_EQ(k, 4);
  /* Resume from any id. */
  CHECK_INT_EQ(store_iter_samples(it, 3, &s), 0);
  CHECK(s.id == 4);
  CHECK_INT_EQ(store_iter_samples(it, 5, &s), 0);
  CHECK(s.id == 5);
  CHECK_INT_EQ(store_iter_samples(it, 6, &s), -ENOENT);
  CHECK_INT_EQ(store_iter_samples(it, UINT64_MAX, &s), -ENOENT);
  /* Going back works with the same iterator. */
  CHECK_INT_EQ(store_iter_samples(it, 0, &s), 0);
  CHECK(s.id == 1);
  store_iter_free(it);
  store_iter_free(NULL);
  store_txn_abort(t);

  /* A deleted id is never reused. */
  CHECK(add_sample(&f, "f", "f.jpg") == 6);
  fx_done(&f);
}

/* ---- tags ---- */

struct tag_list {
  uint64_t ids[8];
  size_t n;
  size_t stop_after;  /* 0 = never stop */
};

static int collect_tag(uint64_t tag_id, void *ud)
{
  struct tag_list *l = ud;

  if (l->n < 8)
    l->ids[l->n] = tag_id;
  l->n++;
  return l->stop_after && l->n >= l->stop_after ? 1 : 0;
}

TEST(tags_create_and_names)
{
  struct fx f;
  struct store_txn *t;
  uint64_t id = 0, id2 = 0, cnt = 9;
  const char *name = NULL;
  int64_t mtime = 0;
  char longname[210];

  if (fx_init(&f, &fast) < 0)
    return;
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_create(t, "good", &id), 0);
  CHECK(id == 1);
  CHECK_INT_EQ(store_tag_create(t, "bad ones", &id2), 0);
  CHECK(id2 == 2);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_create(t, "good", &id), -EEXIST);
  store_txn_abort(t);

  /* Invalid names. */
  {
    static const char *const bad[] = { "", ".", "..", "a/b", "/", "x\ny",
                                       "tab\there", "...", ".hidden",
                                       "del\x7f", "c1\xc2\x85",
                                       "bad\xffutf8", "over\xc0\xaflong",
                                       "surrogate\xed\xa0\x80",
                                       "cut\xc3" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
      t = wbegin(&f);
      CHECK_INT_EQ(store_tag_create(t, bad[i], &id), -EINVAL);
      store_txn_abort(t);
      CHECK(!store_tag_name_valid(bad[i]));
    }
  }
  memset(longname, 'x', 201);
  longname[201] = '\0';
  CHECK(!store_tag_name_valid(longname));
  longname[200] = '\0';
  CHECK(store_tag_name_valid(longname));
  CHECK(store_tag_name_valid("a.b."));
  CHECK(store_tag_name_valid("caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80"));

  t = rbegin(&f);
  CHECK_INT_EQ(store_tag_lookup(t, "good", &id), 0);
  CHECK(id == 1);
  CHECK_INT_EQ(store_tag_lookup(t, "bad ones", &id), 0);
  CHECK(id == 2);
  CHECK_INT_EQ(store_tag_lookup(t, "Good", &id), -ENOENT);
  CHECK_INT_EQ(store_tag_get(t, 1, &name, &cnt, &mtime), 0);
  CHECK_STR_EQ(name, "good");
  CHECK(cnt == 0);
  CHECK(mtime > 0);
  CHECK_INT_EQ(store_tag_get(t, 3, &name, &cnt, &mtime), -ENOENT);
  CHECK_INT_EQ(store_tag_create(t, "new", &id), -EROFS);
  store_txn_abort(t);
  fx_done(&f);
}

TEST(tags_membership)
{
  struct fx f;
  struct store_txn *t;
  struct store_iter *it = NULL;
  uint64_t tg = 0, tg2 = 0, cnt = 0, sid = 0;
  struct tag_list tl;
  const char *name;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "s1", "s1.jpg") == 1);
  CHECK(add_sample(&f, "s2", "s2.jpg") == 2);
  CHECK(add_sample(&f, "s3", "s3.jpg") == 3);

  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_create(t, "keep", &tg), 0);
  CHECK_INT_EQ(store_tag_create(t, "later", &tg2), 0);
  CHECK_INT_EQ(store_tag_add(t, tg, 1), 1);
  CHECK_INT_EQ(store_tag_add(t, tg, 1), 0);  /* already tagged */
  CHECK_INT_EQ(store_tag_add(t, tg, 3), 1);
  CHECK_INT_EQ(store_tag_add(t, tg2, 3), 1);
  CHECK_INT_EQ(store_tag_has(t, tg, 1), 1);
  CHECK_INT_EQ(store_tag_has(t, tg, 2), 0);
  CHECK_INT_EQ(store_tag_get(t, tg, NULL, &cnt, NULL), 0);
  CHECK(cnt == 2);
  CHECK_INT_EQ(store_tag_remove(t, tg, 2), 0);  /* was not tagged */
  CHECK_INT_EQ(store_tag_get(t, tg, NULL, &cnt, NULL), 0);
  CHECK(cnt == 2);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = rbegin(&f);
  CHECK_INT_EQ(store_tag_has(t, tg, 3), 1);
  CHECK_INT_EQ(store_tag_has(t, tg2, 1), 0);
  CHECK_INT_EQ(store_tag_has(t, 99, 1), 0);
  /* Members in sample-id order, resumable. */
  CHECK_INT_EQ(store_iter_new(t, &it), 0);
  CHECK_INT_EQ(store_iter_tag(it, tg, 0, &sid), 0);
  CHECK(sid == 1);
  CHECK_INT_EQ(store_iter_tag(it, tg, 2, &sid), 0);
  CHECK(sid == 3);
  CHECK_INT_EQ(store_iter_tag(it, tg, 4, &sid), -ENOENT);
  CHECK_INT_EQ(store_iter_tag(it, tg2, 0, &sid), 0);
  CHECK(sid == 3);
  CHECK_INT_EQ(store_iter_tag(it, tg2, 4, &sid), -ENOENT);
  CHECK_INT_EQ(store_iter_tag(it, 77, 0, &sid), -ENOENT);
  /* Tags in id order. */
  CHECK_INT_EQ(store_iter_tags(it, 0, &sid, &name), 0);
  CHECK(sid == tg);
  CHECK_STR_EQ(name, "keep");
  CHECK_INT_EQ(store_iter_tags(it, tg + 1, &sid, &name), 0);
  CHECK(sid == tg2);
  CHECK_STR_EQ(name, "later");
  CHECK_INT_EQ(store_iter_tags(it, tg2 + 1, &sid, &name), -ENOENT);
  store_iter_free(it);
  /* Tags of one sample, in tag-id order; early stop. */
  memset(&tl, 0, sizeof(tl));
  CHECK_INT_EQ(store_sample_tags(t, 3, collect_tag, &tl), 0);
  CHECK_INT_EQ(tl.n, 2);
  CHECK(tl.ids[0] == tg && tl.ids[1] == tg2);
  memset(&tl, 0, sizeof(tl));
  tl.stop_after = 1;
  CHECK_INT_EQ(store_sample_tags(t, 3, collect_tag, &tl), 0);
  CHECK_INT_EQ(tl.n, 1);
  memset(&tl, 0, sizeof(tl));
  CHECK_INT_EQ(store_sample_tags(t, 2, collect_tag, &tl), 0);
  CHECK_INT_EQ(tl.n, 0);
  /* Membership changes need a write transaction. */
  CHECK_INT_EQ(store_tag_add(t, tg, 2), -EROFS);
  store_txn_abort(t);

  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_remove(t, tg, 1), 1);
  CHECK_INT_EQ(store_tag_remove(t, tg, 1), 0);
  CHECK_INT_EQ(store_tag_has(t, tg, 1), 0);
  CHECK_INT_EQ(store_tag_get(t, tg, NULL, &cnt, NULL), 0);
  CHECK(cnt == 1);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  /* Missing sample or tag. */
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_add(t, tg, 42), -ENOENT);
  store_txn_abort(t);
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_add(t, 42, 1), -ENOENT);
  store_txn_abort(t);

  /* Deleting a sample drops it from its tags and fixes the counts. */
  t = wbegin(&f);
  CHECK_INT_EQ(store_sample_delete(t, 3), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  t = rbegin(&f);
  CHECK_INT_EQ(store_tag_has(t, tg, 3), 0);
  CHECK_INT_EQ(store_tag_has(t, tg2, 3), 0);
  CHECK_INT_EQ(store_tag_get(t, tg, NULL, &cnt, NULL), 0);
  CHECK(cnt == 0);
  CHECK_INT_EQ(store_tag_get(t, tg2, NULL, &cnt, NULL), 0);
  CHECK(cnt == 0);
  memset(&tl, 0, sizeof(tl));
  CHECK_INT_EQ(store_sample_tags(t, 3, collect_tag, &tl), 0);
  CHECK_INT_EQ(tl.n, 0);
  store_txn_abort(t);
  fx_done(&f);
}

TEST(tags_rename_delete)
{
  struct fx f;
  struct store_txn *t;
  uint64_t a = 0, b = 0, id = 0, cnt = 0;
  const char *name;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "s1", "s1.jpg") == 1);
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_create(t, "alpha", &a), 0);
  CHECK_INT_EQ(store_tag_create(t, "beta", &b), 0);
  CHECK_INT_EQ(store_tag_add(t, a, 1), 1);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_rename(t, "alpha", "beta"), -EEXIST);
  store_txn_abort(t);
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_rename(t, "gamma", "delta"), -ENOENT);
  store_txn_abort(t);
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_rename(t, "alpha", "a/b"), -EINVAL);
  store_txn_abort(t);
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_rename(t, "alpha", "alpha"), 0);
  CHECK_INT_EQ(store_tag_rename(t, "alpha", "omega"), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = rbegin(&f);
  CHECK_INT_EQ(store_tag_lookup(t, "alpha", &id), -ENOENT);
  CHECK_INT_EQ(store_tag_lookup(t, "omega", &id), 0);
  CHECK(id == a);  /* same id, so the same inode in the mount */
  CHECK_INT_EQ(store_tag_get(t, a, &name, &cnt, NULL), 0);
  CHECK_STR_EQ(name, "omega");
  CHECK(cnt == 1);  /* members kept */
  CHECK_INT_EQ(store_tag_has(t, a, 1), 1);
  store_txn_abort(t);

  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_delete(t, "omega"), -ENOTEMPTY);
  store_txn_abort(t);
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_delete(t, "nope"), -ENOENT);
  store_txn_abort(t);
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_remove(t, a, 1), 1);
  CHECK_INT_EQ(store_tag_delete(t, "omega"), 0);
  CHECK_INT_EQ(store_tag_delete(t, "beta"), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = rbegin(&f);
  CHECK_INT_EQ(store_tag_lookup(t, "omega", &id), -ENOENT);
  CHECK_INT_EQ(store_tag_get(t, a, &name, &cnt, NULL), -ENOENT);
  CHECK_INT_EQ(store_tag_get(t, b, &name, &cnt, NULL), -ENOENT);
  store_txn_abort(t);
  /* Tag ids are not reused either. */
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_create(t, "alpha", &id), 0);
  CHECK(id == 3);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  fx_done(&f);
}

/* ---- classes ---- */

TEST(classes_stable_ids)
{
  struct fx f;
  struct store_txn *t;
  uint32_t id = 0, n = 9;
  const char *name = NULL;

  if (fx_init(&f, &fast) < 0)
    return;
  t = rbegin(&f);
  CHECK_INT_EQ(store_class_count(t, &n), 0);
  CHECK_INT_EQ(n, 0);
  /* Creating needs a write transaction; finding does not. */
  CHECK_INT_EQ(store_class_id(t, "cat", true, &id), -EROFS);
  CHECK_INT_EQ(store_class_id(t, "cat", false, &id), -ENOENT);
  store_txn_abort(t);

  t = wbegin(&f);
  CHECK_INT_EQ(store_class_id(t, "cat", true, &id), 0);
  CHECK_INT_EQ(id, 1);
  CHECK_INT_EQ(store_class_id(t, "dog", true, &id), 0);
  CHECK_INT_EQ(id, 2);
  CHECK_INT_EQ(store_class_id(t, "cat", true, &id), 0);
  CHECK_INT_EQ(id, 1);
  CHECK_INT_EQ(store_class_id(t, "Cat", true, &id), 0);
  CHECK_INT_EQ(id, 3);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = wbegin(&f);
  CHECK_INT_EQ(store_class_id(t, "", true, &id), -EINVAL);
  store_txn_abort(t);
  t = wbegin(&f);
  CHECK_INT_EQ(store_class_id(t, "a\tb", true, &id), -EINVAL);
  store_txn_abort(t);

  CHECK_INT_EQ(fx_reopen(&f, &fast), 0);
  t = rbegin(&f);
  CHECK_INT_EQ(store_class_id(t, "dog", false, &id), 0);
  CHECK_INT_EQ(id, 2);
  CHECK_INT_EQ(store_class_id(t, "bird", false, &id), -ENOENT);
  CHECK_INT_EQ(store_class_name(t, 1, &name), 0);
  CHECK_STR_EQ(name, "cat");
  CHECK_INT_EQ(store_class_name(t, 3, &name), 0);
  CHECK_STR_EQ(name, "Cat");
  CHECK_INT_EQ(store_class_name(t, 4, &name), -ENOENT);
  CHECK_INT_EQ(store_class_name(t, 0, &name), -ENOENT);
  CHECK_INT_EQ(store_class_count(t, &n), 0);
  CHECK_INT_EQ(n, 3);
  store_txn_abort(t);
  fx_done(&f);
}

static int collect_class(const struct store_class *c, void *ud)
{
  char *out = ud;
  size_t n = strlen(out);

  snprintf(out + n, 512 - n, "%u:%s:%s;", c->id, c->name, c->supercategory);
  return 0;
}

TEST(classes_rename_delete_put)
{
  struct fx f;
  struct store_txn *t;
  struct labels l;
  struct label_field *fl;
  struct detection d;
  uint32_t id = 0, n = 0;
  uint64_t sid, boxes = 9;
  const char *name = NULL;
  char list[512] = "";

  if (fx_init(&f, &fast) < 0)
    return;
  sid = add_sample(&f, "a", "a.jpg");
  t = wbegin(&f);
  CHECK_INT_EQ(store_class_id(t, "cat", true, &id), 0);
  CHECK_INT_EQ(store_class_id(t, "dog", true, &id), 0);
  CHECK_INT_EQ(store_class_id(t, "bird", true, &id), 0);
  labels_init(&l);
  fl = labels_field(&l, "gt", true);
  memset(&d, 0, sizeof(d));
  d.class_id = 1;
  d.w = d.h = 5;
  CHECK_INT_EQ(labels_field_add(fl, &d), 0);
  CHECK_INT_EQ(labels_field_add(fl, &d), 0);
  CHECK_INT_EQ(store_labels_put(t, sid, &l), 0);
  labels_free(&l);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = wbegin(&f);
  CHECK_INT_EQ(store_class_boxes(t, 1, &boxes), 0);
  CHECK_INT_EQ(boxes, 2);
  CHECK_INT_EQ(store_class_boxes(t, 2, &boxes), 0);
  CHECK_INT_EQ(boxes, 0);
  /* Rename: id kept, so the boxes follow. */
  CHECK_INT_EQ(store_class_rename(t, "cat", "feline"), 0);
  CHECK_INT_EQ(store_class_id(t, "feline", false, &id), 0);
  CHECK_INT_EQ(id, 1);
  CHECK_INT_EQ(store_class_id(t, "cat", false, &id), -ENOENT);
  CHECK_INT_EQ(store_labels_get(t, sid, &l), 0);
  CHECK_STR_EQ(l.f[0].d[0].label, "feline");
  labels_free(&l);
  CHECK_INT_EQ(store_class_rename(t, "feline", "dog"), -EEXIST);
  CHECK_INT_EQ(store_class_rename(t, "nope", "x"), -ENOENT);
  CHECK_INT_EQ(store_class_rename(t, "dog", "a\nb"), -EINVAL);
  CHECK_INT_EQ(store_class_rename(t, "dog", "dog"), 0);
  /* Delete: only while unused; the id is not handed out again. */
  CHECK_INT_EQ(store_class_delete(t, "feline"), -EBUSY);
  CHECK_INT_EQ(store_class_delete(t, "nope"), -ENOENT);
  CHECK_INT_EQ(store_class_delete(t, "bird"), 0);
  CHECK_INT_EQ(store_class_name(t, 3, &name), -ENOENT);
  CHECK_INT_EQ(store_class_id(t, "eel", true, &id), 0);
  CHECK_INT_EQ(id, 4);
  /* Explicit ids (an imported dataset's categories). */
  CHECK_INT_EQ(store_class_put(t, "zebra", 24, "animal"), 0);
  CHECK_INT_EQ(store_class_put(t, "zebra", 24, "animal"), 0);
  CHECK_INT_EQ(store_class_put(t, "zebra", 25, ""), -EEXIST);
  CHECK_INT_EQ(store_class_put(t, "horse", 24, ""), -EEXIST);
  CHECK_INT_EQ(store_class_put(t, "horse", 0, ""), -EINVAL);
  CHECK_INT_EQ(store_class_id(t, "kite", true, &id), 0);
  CHECK_INT_EQ(id, 25);
  CHECK_INT_EQ(store_class_count(t, &n), 0);
  CHECK_INT_EQ(n, 25);
  /* The next id goes back only over ids no class has. */
  CHECK_INT_EQ(store_class_reset_next(t, 25), -EBUSY);
  CHECK_INT_EQ(store_class_delete(t, "kite"), 0);
  CHECK_INT_EQ(store_class_reset_next(t, 25), 0);
  CHECK_INT_EQ(store_class_id(t, "kite", true, &id), 0);
  CHECK_INT_EQ(id, 25);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  CHECK_INT_EQ(fx_reopen(&f, &fast), 0);
  t = rbegin(&f);
  CHECK_INT_EQ(store_classes_each(t, collect_class, list), 0);
  CHECK_STR_EQ(list, "1:feline:;2:dog:;4:eel:;24:zebra:animal;25:kite:;");
  CHECK_INT_EQ(store_class_rename(t, "dog", "x"), -EROFS);
  store_txn_abort(t);
  fx_done(&f);
}

/* ---- labels ---- */

static void add_det(struct labels *l, const char *field, uint64_t id,
                    const char *label, double x, double y, double w, double h)
{
  struct label_field *f = labels_field(l, field, true);
  struct detection d;

  memset(&d, 0, sizeof(d));
  d.id = id;
  d.label = (char *)label;
  d.x = x;
  d.y = y;
  d.w = w;
  d.h = h;
  d.confidence = NAN;
  CHECK(f);
  if (f)
    CHECK_INT_EQ(labels_field_add(f, &d), 0);
}

struct count_row {
  char field[LABELS_MAX_FIELD_NAME + 1];
  uint32_t class_id;
  uint64_t count;
};

struct count_rows {
  struct count_row r[16];
  size_t n;
};

static int collect_count(const char *field, uint32_t class_id, uint64_t count,
                         void *ud)
{
  struct count_rows *c = ud;

  if (c->n < 16) {
    snprintf(c->r[c->n].field, sizeof(c->r[c->n].field), "%s", field);
    c->r[c->n].class_id = class_id;
    c->r[c->n].count = count;
  }
  c->n++;
  return 0;
}

static uint64_t count_of(struct store_txn *t, const char *field,
                         uint32_t class_id)
{
  uint64_t n = 12345;
  CHECK_INT_EQ(store_count_get(t, field, class_id, &n), 0);
  return n;
}

TEST(labels_put_get_counts)
{
  struct fx f;
  struct store_txn *t;
  struct labels l, got;
  const struct label_field *gf;
  struct count_rows rows;
  struct sample s;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "s1", "s1.jpg") == 1);
  CHECK(add_sample(&f, "s2", "s2.jpg") == 2);

  /* A sample without labels has an empty set. */
  t = rbegin(&f);
  CHECK_INT_EQ(store_labels_get(t, 1, &got), 0);
  CHECK_INT_EQ(got.n, 0);
  labels_free(&got);
  store_txn_abort(t);

  labels_init(&l);
  add_det(&l, "gt", 0, "cat", 1, 2, 3, 4);
  add_det(&l, "gt", 0, "dog", 5, 6, 7, 8.5);
  add_det(&l, "pred", 0, "cat", 0.25, 0, 10, 10);
  l.f[1].d[0].confidence = 0.9;
  l.f[1].d[0].iscrowd = true;
  l.f[1].d[0].attributes = strdup("{\"pose\":\"left\"}");
  labels_field(&l, "empty", true);
  t = wbegin(&f);
  CHECK_INT_EQ(store_labels_put(t, 1, &l), 0);
  /* New ids and class ids written back, in field then box order. */
  CHECK(l.f[0].d[0].id == 1 && l.f[0].d[1].id == 2 && l.f[1].d[0].id == 3);
  CHECK(l.f[0].d[0].class_id == 1 && l.f[0].d[1].class_id == 2 &&
        l.f[1].d[0].class_id == 1);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  labels_free(&l);

  t = rbegin(&f);
  CHECK_INT_EQ(store_labels_get(t, 1, &got), 0);
  /* The empty field is not stored. */
  CHECK_INT_EQ(got.n, 2);
  CHECK(!labels_field(&got, "empty", false));
  gf = labels_field(&got, "gt", false);
  CHECK(gf && gf->n == 2);
  if (gf && gf->n == 2) {
    CHECK(gf->d[0].id == 1);
    CHECK_STR_EQ(gf->d[0].label, "cat");
    CHECK(gf->d[0].x == 1 && gf->d[0].y == 2 && gf->d[0].w == 3 &&
          gf->d[0].h == 4);
    CHECK(isnan(gf->d[0].confidence));
    CHECK(gf->d[1].id == 2);
    CHECK_STR_EQ(gf->d[1].label, "dog");
    CHECK(gf->d[1].h == 8.5);
  }
  gf = labels_field(&got, "pred", false);
  CHECK(gf && gf->n == 1);
  if (gf && gf->n == 1) {
    CHECK(gf->d[0].id == 3);
    CHECK_STR_EQ(gf->d[0].label, "cat");
    CHECK(gf->d[0].x == 0.25);
    CHECK(gf->d[0].confidence == 0.9);
    CHECK(gf->d[0].iscrowd);
    CHECK_STR_EQ(gf->d[0].attributes, "{\"pose\":\"left\"}");
  }
  labels_free(&got);
  CHECK_INT_EQ(store_sample_get(t, 1, &s), 0);
  CHECK(s.labels_version == 1);
  CHECK(s.labels_mtime_ns > 0);
  CHECK(count_of(t, "gt", 1) == 1);
  CHECK(count_of(t, "gt", 2) == 1);
  CHECK(count_of(t, "pred", 1) == 1);
  CHECK(count_of(t, "pred", 2) == 0);
  CHECK(count_of(t, "other", 1) == 0);
  memset(&rows, 0, sizeof(rows));
  CHECK_INT_EQ(store_counts_each(t, collect_count, &rows), 0);
  CHECK_INT_EQ(rows.n, 3);
  if (rows.n == 3) {
    CHECK_STR_EQ(rows.r[0].field, "gt");
    CHECK_INT_EQ(rows.r[0].class_id, 1);
    CHECK(rows.r[0].count == 1);
    CHECK_STR_EQ(rows.r[1].field, "gt");
    CHECK_INT_EQ(rows.r[1].class_id, 2);
    CHECK_STR_EQ(rows.r[2].field, "pred");
    CHECK_INT_EQ(rows.r[2].class_id, 1);
  }
  store_txn_abort(t);

  /* Replace: keep box 1, add a new cat box, drop the dog and "pred". */
  labels_init(&l);
  add_det(&l, "gt", 1, "cat", 1, 2, 3, 4);
  add_det(&l, "gt", 0, "cat", 9, 9, 1, 1);
  t = wbegin(&f);
  CHECK_INT_EQ(store_labels_put(t, 1, &l), 0);
  CHECK(l.f[0].d[0].id == 1);
  CHECK(l.f[0].d[1].id == 4);  /* ids are never reused */
  CHECK_INT_EQ(store_txn_commit(t), 0);
  labels_free(&l);

  /* A second sample adds to the same counts. */
  labels_init(&l);
  add_det(&l, "gt", 0, "cat", 0, 0, 1, 1);
  add_det(&l, "gt", 0, "bird", 0, 0, 1, 1);
  t = wbegin(&f);
  CHECK_INT_EQ(store_labels_put(t, 2, &l), 0);
  CHECK(l.f[0].d[1].class_id == 3);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  labels_free(&l);

  t = rbegin(&f);
  CHECK_INT_EQ(store_labels_get(t, 1, &got), 0);
  CHECK_INT_EQ(got.n, 1);
  CHECK(!labels_field(&got, "pred", false));
  gf = labels_field(&got, "gt", false);
  CHECK(gf && gf->n == 2 && gf->d[1].id == 4);
  labels_free(&got);
  CHECK_INT_EQ(store_sample_get(t, 1, &s), 0);
  CHECK(s.labels_version == 2);
  CHECK(count_of(t, "gt", 1) == 3);
  CHECK(count_of(t, "gt", 2) == 0);
  CHECK(count_of(t, "gt", 3) == 1);
  CHECK(count_of(t, "pred", 1) == 0);
  memset(&rows, 0, sizeof(rows));
  CHECK_INT_EQ(store_counts_each(t, collect_count, &rows), 0);
  CHECK_INT_EQ(rows.n, 2);  /* zero counts are not listed */
  store_txn_abort(t);

  /* Deleting sample 1 takes its boxes out of the counts. */
  t = wbegin(&f);
  CHECK_INT_EQ(store_sample_delete(t, 1), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  t = rbegin(&f);
  CHECK(count_of(t, "gt", 1) == 1);
  CHECK(count_of(t, "gt", 3) == 1);
  memset(&rows, 0, sizeof(rows));
  CHECK_INT_EQ(store_counts_each(t, collect_count, &rows), 0);
  CHECK_INT_EQ(rows.n, 2);
  CHECK_INT_EQ(store_labels_get(t, 1, &got), 0);
  CHECK_INT_EQ(got.n, 0);
  labels_free(&got);
  /* Sample 2's labels are untouched. */
  CHECK_INT_EQ(store_labels_get(t, 2, &got), 0);
  CHECK(got.n == 1 && got.f[0].n == 2);
  labels_free(&got);
  store_txn_abort(t);

  /* Clearing all labels of sample 2 empties the counts. */
  labels_init(&l);
  t = wbegin(&f);
  CHECK_INT_EQ(store_labels_put(t, 2, &l), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  t = rbegin(&f);
  memset(&rows, 0, sizeof(rows));
  CHECK_INT_EQ(store_counts_each(t, collect_count, &rows), 0);
  CHECK_INT_EQ(rows.n, 0);
  store_txn_abort(t);
  fx_done(&f);
}

TEST(labels_put_refusals)
{
  struct fx f;
  struct store_txn *t;
  struct labels l;
  uint64_t n;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "s1", "s1.jpg") == 1);

  labels_init(&l);
  add_det(&l, "gt", 0, "cat", 0, 0, 1, 1);
  t = wbegin(&f);
  CHECK_INT_EQ(store_labels_put(t, 7, &l), -ENOENT);
  store_txn_abort(t);
  labels_free(&l);

  /* A detection without class id or name. */
  labels_init(&l);
  add_det(&l, "gt", 0, NULL, 0, 0, 1, 1);
  t = wbegin(&f);
  CHECK_INT_EQ(store_labels_put(t, 1, &l), -EINVAL);
  store_txn_abort(t);
  labels_free(&l);

  /* count_get on a bad field name. */
  t = rbegin(&f);
  CHECK_INT_EQ(store_count_get(t, "", 1, &n), -EINVAL);
  store_txn_abort(t);
  fx_done(&f);
}

/* ---- sticky errors ---- */

TEST(sticky_error_discards_everything)
{
  struct fx f;
  struct store_txn *t;
  struct sample s, got;
  struct labels l;
  uint64_t id = 0, tg = 0, n = 99;
  char *val = NULL;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "base", "base.jpg") == 1);

  /* Several good steps, then one that fails inside the store. */
  t = wbegin(&f);
  s = mk("new", "new.jpg", 5, 5);
  CHECK_INT_EQ(store_sample_put(t, &s, &id), 0);
  CHECK(id == 2);
  CHECK_INT_EQ(store_tag_create(t, "t", &tg), 0);
  CHECK_INT_EQ(store_tag_add(t, tg, 1), 1);
  CHECK_INT_EQ(store_setting_set(t, "k", "v"), 0);
  CHECK_INT_EQ(store_txn_error(t), 0);
  s = mk("dup", "base.jpg", 5, 5);  /* path already imported */
  CHECK_INT_EQ(store_sample_put(t, &s, NULL), -EEXIST);
  CHECK_INT_EQ(store_txn_error(t), -EEXIST);
  /* Every further call is a no-op returning the same error. */
  CHECK_INT_EQ(store_sample_get(t, 1, &got), -EEXIST);
  CHECK_INT_EQ(store_tag_create(t, "u", &tg), -EEXIST);
  CHECK_INT_EQ(store_setting_set(t, "k2", "v"), -EEXIST);
  CHECK_INT_EQ(store_sample_count(t, &n), -EEXIST);
  CHECK_INT_EQ(store_txn_commit(t), -EEXIST);

  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_count(t, &n), 0);
  CHECK(n == 1);
  CHECK_INT_EQ(store_sample_get(t, 2, &got), -ENOENT);
  CHECK_INT_EQ(store_sample_by_name(t, "new", &got), -ENOENT);
  CHECK_INT_EQ(store_sample_by_path(t, "new.jpg", &got), -ENOENT);
  CHECK_INT_EQ(store_tag_lookup(t, "t", &tg), -ENOENT);
  CHECK_INT_EQ(store_tag_has(t, 1, 1), 0);
  CHECK_INT_EQ(store_setting_get(t, "k", &val), -ENOENT);
  store_txn_abort(t);
  /* The id counter did not move either. */
  CHECK(add_sample(&f, "again", "again.jpg") == 2);

  /* Same with a bad label field name after a label write. */
  labels_init(&l);
  add_det(&l, "gt", 0, "cat", 0, 0, 1, 1);
  add_det(&l, "bad name", 0, "dog", 0, 0, 1, 1);
  t = wbegin(&f);
  CHECK_INT_EQ(store_labels_put(t, 1, &l), -EINVAL);
  CHECK_INT_EQ(store_txn_error(t), -EINVAL);
  CHECK_INT_EQ(store_txn_commit(t), -EINVAL);
  labels_free(&l);
  t = rbegin(&f);
  {
    uint32_t cid = 0, nc = 9;
    CHECK_INT_EQ(store_class_id(t, "cat", false, &cid), -ENOENT);
    CHECK_INT_EQ(store_class_count(t, &nc), 0);
    CHECK_INT_EQ(nc, 0);
    CHECK_INT_EQ(store_labels_get(t, 1, &l), 0);
    CHECK_INT_EQ(l.n, 0);
    labels_free(&l);
    CHECK(count_of(t, "gt", 1) == 0);
    CHECK_INT_EQ(store_sample_get(t, 1, &got), 0);
    CHECK(got.labels_version == 0);
  }
  store_txn_abort(t);
  fx_done(&f);
}

TEST(not_found_is_not_sticky)
{
  struct fx f;
  struct store_txn *t;
  struct sample got;
  uint64_t tg = 0;

  /* Current behaviour: a lookup or membership change that finds nothing
   * returns -ENOENT but changes nothing, so the transaction stays usable
   * and commits the rest (the daemon relies on this when it checks for a
   * name before acting). */
  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "s", "s.jpg") == 1);
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_create(t, "t", &tg), 0);
  CHECK_INT_EQ(store_tag_add(t, tg, 999), -ENOENT);
  CHECK_INT_EQ(store_sample_by_name(t, "nope", &got), -ENOENT);
  CHECK_INT_EQ(store_txn_error(t), 0);
  CHECK_INT_EQ(store_tag_add(t, tg, 1), 1);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  t = rbegin(&f);
  CHECK_INT_EQ(store_tag_has(t, tg, 1), 1);
  store_txn_abort(t);
  fx_done(&f);
}

TEST(abort_discards)
{
  struct fx f;
  struct store_txn *t;
  struct sample s;

  if (fx_init(&f, &fast) < 0)
    return;
  t = wbegin(&f);
  s = mk("a", "a.jpg", 1, 1);
  CHECK_INT_EQ(store_sample_put(t, &s, NULL), 0);
  store_txn_abort(t);
  store_txn_abort(NULL);
  CHECK_INT_EQ(count_samples(&f), 0);
  fx_done(&f);
}

/* ---- map full ---- */

/* Fills the store in batches of `batch` samples (each with a label and a
 * tag membership) until a commit fails; returns the number of samples
 * committed.  Sample i (counting from `start`) has name "n<i>" and path
 * "some/dir/<i>.jpg" with i zero-padded. */
static uint64_t fill(struct fx *f, uint64_t tag, uint64_t start, int batch,
                     int *ret_err)
{
  uint64_t done = 0;

  *ret_err = 0;
  for (int round = 0; round < 100000; round++) {
    struct store_txn *t = NULL;
    int r = store_txn_begin(f->s, true, &t);

    if (r < 0) {
      *ret_err = r;
      break;
    }
    for (int k = 0; k < batch && r >= 0; k++) {
      uint64_t i = start + done + (uint64_t)k, id = 0;
      char name[32], rel[160];
      struct sample s;
      struct labels l;

      snprintf(name, sizeof(name), "n%llu", (unsigned long long)i);
      snprintf(rel, sizeof(rel), "some/dir/%0120llu.jpg",
               (unsigned long long)i);
      s = mk(name, rel, 100, 100);
      r = store_sample_put(t, &s, &id);
      if (r >= 0) {
        labels_init(&l);
        add_det(&l, "gt", 0, (i & 1) ? "odd" : "even", 1, 1, 2, 2);
        r = store_labels_put(t, id, &l);
        labels_free(&l);
      }
      if (r >= 0)
        r = store_tag_add(t, tag, id);
    }
    r = store_txn_commit(t);
    if (r < 0) {
      *ret_err = r;
      break;
    }
    done += (uint64_t)batch;
  }
  return done;
}

static void verify_filled(struct fx *f, uint64_t done, uint64_t tag)
{
  struct store_txn *t = rbegin(f);
  struct store_iter *it = NULL;
  struct sample s;
  uint64_t n = 0, next, k = 0, cnt = 0;

  if (!t)
    return;
  CHECK_INT_EQ(store_sample_count(t, &n), 0);
  CHECK(n == done);
  CHECK_INT_EQ(store_tag_get(t, tag, NULL, &cnt, NULL), 0);
  CHECK(cnt == done);
  CHECK(count_of(t, "gt", 1) + count_of(t, "gt", 2) == done);
  CHECK_INT_EQ(store_iter_new(t, &it), 0);
  for (next = 0; it && store_iter_samples(it, next, &s) == 0;
       next = s.id + 1) {
    char name[32], rel[160];
    struct labels l;

    snprintf(name, sizeof(name), "n%llu", (unsigned long long)k);
    snprintf(rel, sizeof(rel), "some/dir/%0120llu.jpg", (unsigned long long)k);
    if (s.id != k + 1 || strcmp(s.name, name) != 0 ||
        strcmp(s.relpath, rel) != 0 || s.labels_version != 1) {
      fprintf(stderr, "sample %llu: id %llu name %s\n",
              (unsigned long long)k, (unsigned long long)s.id, s.name);
      tl_failed = 1;
      break;
    }
    CHECK_INT_EQ(store_labels_get(t, s.id, &l), 0);
    CHECK(l.n == 1 && l.f[0].n == 1 &&
          strcmp(l.f[0].d[0].label, (k & 1) ? "odd" : "even") == 0);
    labels_free(&l);
    CHECK_INT_EQ(store_tag_has(t, tag, s.id), 1);
    k++;
  }
  CHECK(k == done);
  store_iter_free(it);
  store_txn_abort(t);
}

TEST(map_full_keeps_committed_data)
{
  /* 128 KiB: LMDB opens a store this small (32 pages of 4 KiB), and it
   * holds a few dozen samples before the map is full. */
  struct store_opts tiny = { .map_size = 128 << 10, .nosync = true };
  struct fx f;
  struct store_txn *t;
  uint64_t tag = 0, done, more;
  int err = 0;

  if (fx_init(&f, &tiny) < 0)
    return;
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_create(t, "all", &tag), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  done = fill(&f, tag, 0, 5, &err);
  CHECK_INT_EQ(err, -ENOSPC);
  CHECK(done >= 5);
  verify_filled(&f, done, tag);

  /* Still full: a bigger batch fails the same way and changes nothing. */
  more = fill(&f, tag, done, 50, &err);
  CHECK_INT_EQ(err, -ENOSPC);
  CHECK(more == 0);
  verify_filled(&f, done, tag);

  /* Reopen with the same tiny map: everything committed is there. */
  CHECK_INT_EQ(fx_reopen(&f, &tiny), 0);
  if (f.s)
    verify_filled(&f, done, tag);

  /* And with room to grow the store takes more. */
  {
    struct store_opts big = { .map_size = 8 << 20, .nosync = true };
    CHECK_INT_EQ(fx_reopen(&f, &big), 0);
    if (f.s) {
      struct sample s = mk("later", "later.jpg", 1, 1);
      uint64_t id = 0;
      t = wbegin(&f);
      CHECK_INT_EQ(store_sample_put(t, &s, &id), 0);
      CHECK(id == done + 1);
      CHECK_INT_EQ(store_txn_commit(t), 0);
      CHECK_INT_EQ(count_samples(&f), done + 1);
    }
  }
  fx_done(&f);
}

/* ---- read-only, reopen, settings ---- */

TEST(readonly_refuses_writes)
{
  struct store_opts ro = { .readonly = true };
  struct fx f;
  struct store_txn *t = NULL;
  struct sample got;
  uint64_t n = 0;
  int r;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "a", "a.jpg") == 1);
  CHECK_INT_EQ(fx_reopen(&f, &ro), 0);
  if (!f.s) {
    fx_done(&f);
    return;
  }
  r = store_txn_begin(f.s, true, &t);
  CHECK(r < 0);
  if (r == 0)
    store_txn_abort(t);
  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_get(t, 1, &got), 0);
  CHECK_STR_EQ(got.name, "a");
  CHECK_INT_EQ(store_sample_count(t, &n), 0);
  CHECK(n == 1);
  CHECK_INT_EQ(store_setting_set(t, "k", "v"), -EROFS);
  store_txn_abort(t);
  fx_done(&f);

  /* A read-only open never creates a store. */
  if (fx_init(&f, NULL) < 0)
    return;
  CHECK(store_open(f.dir, &ro, &f.s) < 0);
  CHECK(!f.s);
  {
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/data.mdb", f.dir);
    CHECK(stat(path, &st) < 0);
  }
  f.s = NULL;
  fx_done(&f);
}

TEST(reopen_keeps_data)
{
  struct fx f;
  struct store_txn *t;
  struct sample got;
  struct labels l;
  uint64_t tg = 0, id = 0;
  char *val = NULL;

  if (fx_init(&f, &fast) < 0)
    return;
  CHECK(add_sample(&f, "a", "a.jpg") == 1);
  t = wbegin(&f);
  CHECK_INT_EQ(store_tag_create(t, "t", &tg), 0);
  CHECK_INT_EQ(store_tag_add(t, tg, 1), 1);
  CHECK_INT_EQ(store_setting_set(t, "ui.theme", "dark"), 0);
  labels_init(&l);
  add_det(&l, "gt", 0, "cat", 1, 1, 1, 1);
  CHECK_INT_EQ(store_labels_put(t, 1, &l), 0);
  labels_free(&l);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  /* Closing with the default (sync) options as well. */
  CHECK_INT_EQ(fx_reopen(&f, NULL), 0);
  CHECK_INT_EQ(fx_reopen(&f, &fast), 0);
  if (!f.s) {
    fx_done(&f);
    return;
  }
  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_by_path(t, "a.jpg", &got), 0);
  CHECK(got.id == 1);
  CHECK(got.labels_version == 1);
  CHECK_INT_EQ(store_tag_lookup(t, "t", &id), 0);
  CHECK(id == tg);
  CHECK_INT_EQ(store_tag_has(t, tg, 1), 1);
  CHECK_INT_EQ(store_setting_get(t, "ui.theme", &val), 0);
  CHECK_STR_EQ(val, "dark");
  free(val);
  CHECK_INT_EQ(store_labels_get(t, 1, &l), 0);
  CHECK(l.n == 1 && l.f[0].n == 1 && l.f[0].d[0].id == 1);
  labels_free(&l);
  store_txn_abort(t);
  /* Counters continue where they were. */
  CHECK(add_sample(&f, "b", "b.jpg") == 2);
  fx_done(&f);
}

TEST(settings)
{
  struct fx f;
  struct store_txn *t;
  char *val = NULL;

  if (fx_init(&f, &fast) < 0)
    return;
  t = wbegin(&f);
  CHECK_INT_EQ(store_setting_get(t, "color", &val), -ENOENT);
  CHECK_INT_EQ(store_setting_set(t, "color", "red"), 0);
  CHECK_INT_EQ(store_setting_get(t, "color", &val), 0);
  CHECK_STR_EQ(val, "red");
  free(val);
  val = NULL;
  CHECK_INT_EQ(store_setting_set(t, "color", "blue-green"), 0);
  CHECK_INT_EQ(store_setting_set(t, "empty", ""), 0);
  /* Keys that match the store's own meta keys stay apart from them. */
  CHECK_INT_EQ(store_setting_set(t, "schema", "x"), 0);
  CHECK_INT_EQ(store_setting_set(t, "next:sample", "y"), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  CHECK_INT_EQ(fx_reopen(&f, &fast), 0);
  if (!f.s) {
    fx_done(&f);
    return;
  }
  CHECK_INT_EQ(read_schema(f.dir), STORE_SCHEMA_VERSION);
  CHECK(add_sample(&f, "a", "a.jpg") == 1);
  t = wbegin(&f);
  CHECK_INT_EQ(store_setting_get(t, "color", &val), 0);
  CHECK_STR_EQ(val, "blue-green");
  free(val);
  val = NULL;
  CHECK_INT_EQ(store_setting_get(t, "empty", &val), 0);
  CHECK_STR_EQ(val, "");
  free(val);
  val = NULL;
  CHECK_INT_EQ(store_setting_get(t, "schema", &val), 0);
  CHECK_STR_EQ(val, "x");
  free(val);
  val = NULL;
  CHECK_INT_EQ(store_setting_del(t, "color"), 0);
  CHECK_INT_EQ(store_setting_get(t, "color", &val), -ENOENT);
  /* Deleting what is not there is fine. */
  CHECK_INT_EQ(store_setting_del(t, "color"), 0);
  CHECK_INT_EQ(store_setting_get(t, "", &val), -EINVAL);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = rbegin(&f);
  CHECK_INT_EQ(store_setting_get(t, "color", &val), -ENOENT);
  CHECK_INT_EQ(store_setting_del(t, "empty"), -EROFS);
  store_txn_abort(t);
  t = wbegin(&f);
  CHECK_INT_EQ(store_setting_set(t, "", "v"), -EINVAL);
  store_txn_abort(t);
  fx_done(&f);
}

static int count_rec(const void *key, size_t klen, const void *val,
                     size_t vlen, void *ud)
{
  (void)key;
  (void)val;
  (void)vlen;
  CHECK(klen == 8);
  (*(int *)ud)++;
  return 0;
}

TEST(records_and_version)
{
  struct fx f;
  struct store_txn *t;
  uint8_t k[8];
  const void *v;
  size_t vl;
  uint64_t v0, v1;
  int n = 0;
  char big[STORE_REC_KEY_MAX + 1];

  if (fx_init(&f, &fast) < 0)
    return;
  t = rbegin(&f);
  CHECK_INT_EQ(store_version(t, &v0), 0);
  store_txn_abort(t);
  t = wbegin(&f);
  for (uint64_t i = 1; i <= 5; i++) {
    store_key_u64(k, i * 300);
    CHECK_INT_EQ(store_rec_put(t, "feat", k, 8, &i, sizeof(i)), 0);
  }
  CHECK_INT_EQ(store_rec_put(t, "other", k, 8, "x", 1), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);

  t = rbegin(&f);
  CHECK_INT_EQ(store_version(t, &v1), 0);
  CHECK(v1 == v0 + 1);
  store_key_u64(k, 600);
  CHECK_INT_EQ(store_rec_get(t, "feat", k, 8, &v, &vl), 0);
  {
    uint64_t got; /* record values carry no alignment guarantee */
    CHECK(vl == 8);
    memcpy(&got, v, sizeof(got));
    CHECK(got == 2);
  }
  CHECK(store_key_rd_u64(k) == 600);
  CHECK_INT_EQ(store_rec_each(t, "feat", NULL, 0, false, count_rec, &n), 0);
  CHECK_INT_EQ(n, 5);
  /* Deleting needs a write transaction. */
  CHECK_INT_EQ(store_rec_each(t, "feat", NULL, 0, true, NULL, NULL), -EROFS);
  store_txn_abort(t);

  /* A read-only transaction leaves the version alone; a deleting one
   * bumps it; an over-long key is refused. */
  t = wbegin(&f);
  memset(big, 'a', sizeof(big));
  CHECK_INT_EQ(store_rec_put(t, "feat", big, sizeof(big), "x", 1), -EINVAL);
  CHECK_INT_EQ(store_txn_commit(t), -EINVAL);
  t = wbegin(&f);
  CHECK_INT_EQ(store_rec_each(t, "feat", NULL, 0, true, NULL, NULL), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  t = rbegin(&f);
  CHECK_INT_EQ(store_version(t, &v0), 0);
  CHECK(v0 == v1 + 1);
  n = 0;
  CHECK_INT_EQ(store_rec_each(t, "feat", NULL, 0, false, count_rec, &n), 0);
  CHECK_INT_EQ(n, 0);
  CHECK_INT_EQ(store_rec_get(t, "other", k, 8, &v, &vl), -ENOENT);
  store_key_u64(k, 1500);
  CHECK_INT_EQ(store_rec_get(t, "other", k, 8, &v, &vl), 0);
  store_txn_abort(t);
  fx_done(&f);
}

/* Overwrites the id field of sample `key`'s record with `id`, behind the
 * store's back (damage as a stray write would leave it). */
static int poke_sample_id(const char *dir, uint64_t key, uint64_t id)
{
  uint8_t kb[8];

  put_be64(kb, key);
  return raw_write(dir, "samples", kb, 8, 8, &id, 8);
}

static void count_problem(const char *msg, void *ud)
{
  (void)msg;
  (*(int *)ud)++;
}

/* A record whose id disagrees with its key used to send "from id + 1"
 * iterations back to an earlier key forever; now it is damage (-EIO),
 * named by store_damage(), found by the check and removed by repair. */
TEST(damaged_sample_id)
{
  struct fx f;
  struct store_txn *t;
  struct store_iter *it;
  struct sample s;
  uint64_t next = 1, problems = 0;
  int steps = 0, r, seen = 0;

  if (fx_init(&f, &fast) < 0)
    return;
  for (int i = 0; i < 5; i++) {
    char name[16];
    snprintf(name, sizeof(name), "s%d", i);
    add_sample(&f, name, name);
  }
  store_close(f.s);
  f.s = NULL;
  CHECK_INT_EQ(poke_sample_id(f.dir, 4, 1), 0);
  CHECK_INT_EQ(store_open(f.dir, &fast, &f.s), 0);
  t = rbegin(&f);
  CHECK_INT_EQ(store_iter_new(t, &it), 0);
  while ((r = store_iter_samples(it, next, &s)) == 0 && steps++ < 100)
    next = s.id + 1;
  CHECK_INT_EQ(r, -EIO);
  CHECK(steps == 3);
  CHECK(store_damage() && strstr(store_damage(), "sample record 4"));
  store_iter_free(it);
  store_txn_abort(t);
  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_get(t, 4, &s), -EIO);
  store_txn_abort(t);

  CHECK_INT_EQ(store_check(f.s, false, count_problem, &seen, &problems), 0);
  CHECK(problems >= 3 && seen == (int)problems);  /* record, name, path */
  CHECK_INT_EQ(store_check(f.s, true, NULL, NULL, &problems), 0);
  CHECK_INT_EQ(store_check(f.s, false, NULL, NULL, &problems), 0);
  CHECK_INT_EQ(problems, 0);
  CHECK_INT_EQ(count_samples(&f), 4);
  fx_done(&f);
}

/* A sampletags key without its tagmem half (a damaged store): deleting
 * the sample used to loop forever, store_tag_remove() finding nothing to
 * remove; it must drop the stray key and finish. */
static int poke_sampletag(const char *dir, uint64_t sample, uint64_t tag)
{
  uint8_t kb[16];

  put_be64(kb, sample);
  put_be64(kb + 8, tag);
  return raw_write(dir, "sampletags", kb, 16, -1, "", 0);
}

TEST(delete_with_stray_membership)
{
  struct fx f;
  struct store_txn *t;
  struct sample s;

  if (fx_init(&f, &fast) < 0)
    return;
  add_sample(&f, "a", "a");
  add_sample(&f, "b", "b");
  store_close(f.s);
  f.s = NULL;
  CHECK_INT_EQ(poke_sampletag(f.dir, 1, 77), 0);
  CHECK_INT_EQ(store_open(f.dir, &fast, &f.s), 0);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  CHECK_INT_EQ(store_sample_delete(t, 1), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  t = rbegin(&f);
  CHECK_INT_EQ(store_sample_get(t, 1, &s), -ENOENT);
  CHECK_INT_EQ(store_sample_get(t, 2, &s), 0);
  store_txn_abort(t);
  fx_done(&f);
}

/* Counts the records of a walk (any key length). */
static int count_recs(const void *key, size_t klen, const void *val,
                     size_t vlen, void *ud)
{
  (void)key, (void)klen, (void)val, (void)vlen;
  ++*(size_t *)ud;
  return 0;
}

/* The number of COCO image id records under an 8-byte sample key. */
static size_t coco_recs(struct store_txn *t, const uint8_t key[8])
{
  size_t n = 0;

  CHECK_INT_EQ(store_rec_each(t, COCO_NS_IMAGE, key, 8, false, count_recs,
                              &n), 0);
  return n;
}

/* Deleting a sample deletes its COCO image ids (coco.h, COCO_NS_IMAGE)
 * in the same transaction: the records of two label fields written by
 * real COCO imports, and the field-less record an earlier build wrote
 * (put here by hand, as that build laid it out), while another sample's
 * records stay. */
TEST(delete_takes_coco_image_ids)
{
  struct fx f;
  struct store_txn *t;
  struct coco_stats cs;
  char path[128];
  uint8_t key[8], v[8];
  int64_t id;

  if (fx_init(&f, &fast) < 0)
    return;
  uint64_t a = add_sample(&f, "a", "a.jpg");
  uint64_t b = add_sample(&f, "b", "b.jpg");
  snprintf(path, sizeof(path), "%s/gt.json", f.dir);
  FILE *fp = fopen(path, "w");
  CHECK(fp != NULL);
  if (!fp) {
    fx_done(&f);
    return;
  }
  fputs("{\"images\": [{\"id\": 21, \"file_name\": \"a.jpg\"},"
        " {\"id\": 22, \"file_name\": \"b.jpg\"}],"
        " \"annotations\": [{\"id\": 1, \"image_id\": 21, \"category_id\": 1,"
        " \"bbox\": [1, 2, 3, 4]}],"
        " \"categories\": [{\"id\": 1, \"name\": \"cat\"}]}", fp);
  fclose(fp);
  memset(&cs, 0, sizeof(cs));
  CHECK_INT_EQ(coco_import_opts(f.s, path, "ground_truth", NULL, NULL, NULL,
                                &cs), 0);
  CHECK_INT_EQ(cs.matched, 2);
  memset(&cs, 0, sizeof(cs));
  CHECK_INT_EQ(coco_import_opts(f.s, path, "other", NULL, NULL, NULL, &cs),
               0);
  t = wbegin(&f);
  store_key_u64(key, a);
  store_key_u64(v, 5);
  CHECK_INT_EQ(store_rec_put(t, COCO_NS_IMAGE, key, 8, v, 8), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  t = rbegin(&f);
  CHECK_INT_EQ(coco_recs(t, key), 3);
  CHECK_INT_EQ(coco_image_id(t, a, "third", &id), 0);   /* field-less */
  CHECK_INT_EQ(id, 5);
  store_txn_abort(t);

  t = wbegin(&f);
  CHECK_INT_EQ(store_sample_delete(t, a), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  t = rbegin(&f);
  CHECK_INT_EQ(coco_recs(t, key), 0);
  CHECK_INT_EQ(coco_image_id(t, a, "ground_truth", &id), -ENOENT);
  CHECK_INT_EQ(coco_image_id(t, a, "other", &id), -ENOENT);
  CHECK_INT_EQ(coco_image_id(t, a, "third", &id), -ENOENT);
  CHECK_INT_EQ(coco_image_id(t, b, "ground_truth", &id), 0);
  CHECK_INT_EQ(id, 22);
  CHECK_INT_EQ(coco_image_id(t, b, "other", &id), 0);
  CHECK_INT_EQ(id, 22);
  store_txn_abort(t);
  fx_done(&f);
}

/* The record decoders on hand-made bytes (store_record_check). */
TEST(record_decoders)
{
  uint8_t key[8] = { 0, 0, 0, 0, 0, 0, 0, 7 }, rec[100] = { 0 };
  uint64_t id = 7;
  uint16_t nlen = 1;

  rec[0] = 1;
  memcpy(rec + 5, &nlen, 2);
  memcpy(rec + 8, &id, 8);
  memcpy(rec + 72, "a\0a.jpg", 8);
  CHECK_INT_EQ(store_record_check("samples", key, 8, rec, 80), 0);
  CHECK_INT_EQ(store_record_check("samples", key, 8, rec, 79), -EIO);
  CHECK_INT_EQ(store_record_check("samples", key, 7, rec, 80), -EIO);
  rec[74] = 0;  /* a NUL inside the path */
  CHECK_INT_EQ(store_record_check("samples", key, 8, rec, 80), -EIO);
  rec[74] = 'j';
  nlen = 7;     /* the name would swallow the path */
  memcpy(rec + 5, &nlen, 2);
  CHECK_INT_EQ(store_record_check("samples", key, 8, rec, 80), -EIO);
  CHECK_INT_EQ(store_record_check("tagids", key, 8,
                                  "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0t", 18), 0);
  CHECK_INT_EQ(store_record_check("tagids", key, 8,
                                  "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 17), -EIO);
  CHECK_INT_EQ(store_record_check("classids", key + 4, 4, "car", 4), 0);
  CHECK_INT_EQ(store_record_check("classids", key + 4, 4, "car\0vehicle", 12),
               0);
  CHECK_INT_EQ(store_record_check("classids", key, 4, "car", 4), -EIO);
  CHECK_INT_EQ(store_record_check("classids", key + 4, 4, "c\0\0", 4), -EIO);
  CHECK_INT_EQ(store_record_check("meta", key, 4, "x", 1), -EINVAL);
}

/* Debug builds (every build of this project but a release one) assert
 * that a store is closed with no transaction open: a child that closes
 * the store under a read transaction dies of SIGABRT, one that ends the
 * transaction first exits cleanly. */
TEST(close_asserts_no_open_txn)
{
#ifndef NDEBUG
  struct fx f;
  int status;

  if (fx_init(&f, &fast) < 0)
    return;
  store_close(f.s);
  f.s = NULL;
  for (int leave_open = 0; leave_open < 2; leave_open++) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      struct store *s;
      struct store_txn *t;
      if (store_open(f.dir, &fast, &s) < 0 ||
          store_txn_begin(s, false, &t) < 0)
        _exit(2);
      if (!leave_open)
        store_txn_abort(t);
      fclose(stderr);  /* the assertion's message is expected */
      store_close(s);
      _exit(0);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    if (leave_open)
      CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    else
      CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  fx_done(&f);
#endif
}

TEST_MAIN(T(records_and_version), T(open_create_and_schema), T(open_errors), T(sample_put_get),
          T(sample_put_refusals), T(sample_name_collision),
          T(sample_name_suffix_taken),
          T(sample_replace_keeps_name), T(sample_iteration),
          T(tags_create_and_names), T(tags_membership),
          T(tags_rename_delete), T(classes_stable_ids),
          T(classes_rename_delete_put),
          T(labels_put_get_counts), T(labels_put_refusals),
          T(sticky_error_discards_everything), T(not_found_is_not_sticky),
          T(abort_discards), T(map_full_keeps_committed_data),
          T(readonly_refuses_writes), T(reopen_keeps_data), T(settings),
          T(damaged_sample_id), T(delete_with_stray_membership),
          T(delete_takes_coco_image_ids), T(record_decoders),
          T(close_asserts_no_open_txn))
