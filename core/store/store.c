/* store.c - the LMDB environment of a dataset store: open and close, the
 * tables, transactions, errno mapping, the row primitives and the cursor
 * walk every other file of the module builds on, settings and the dataset
 * version (see store.h for the contract, store_i.h for how the module's
 * files fit together and which lock guards what, docs/STORE-FORMAT.md for
 * every table and record layout).
 *
 * LMDB's codes become negative errno in one place (store_errno) and each
 * transaction keeps a sticky error, so a failed step turns the whole
 * transaction into an abort.  Nothing here knows about files on disk,
 * images, JSON or FUSE.
 */
#define _GNU_SOURCE   /* asprintf, renameat2 */
#include "store_i.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

const char *const store_db_names[DB_MAX] = {
  "meta", "samples", "names", "paths", "tags", "tagids", "tagmem",
  "sampletags", "classes", "classids", "labels", "counts", "records",
};

/* LMDB's limits for this environment: the tables above and a few spare
 * handles; 256 reader slots (one per open read transaction of any process
 * on the store: the daemon's request threads, the warm thread, tools). */
#define STORE_MAX_DBS (DB_MAX + 4)
#define STORE_MAX_READERS 256

/* What filled up in this thread's last transaction, for store_full_hint():
 * 0 nothing, 1 the map, 2 the disk.  Per thread: the request that failed
 * reports it right after, on its own thread. */
static __thread int last_full;

int store_errno(int rc)
{
  if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL || rc == MDB_PAGE_FULL)
    last_full = 1;
  else if (rc == ENOSPC || rc == EDQUOT)
    last_full = 2;
  switch (rc) {
  case EDQUOT:
    return -ENOSPC;
  case MDB_SUCCESS:
    return 0;
  case MDB_NOTFOUND:
    return -ENOENT;
  case MDB_KEYEXIST:
    return -EEXIST;
  case MDB_MAP_FULL:
  case MDB_TXN_FULL:
  case MDB_PAGE_FULL:
    return -ENOSPC;
  case MDB_READERS_FULL:
    return -EAGAIN;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
  case MDB_VERSION_MISMATCH:
    return -EIO;
  case MDB_MAP_RESIZED:
    return -EAGAIN;
  default:
    return rc > 0 ? -rc : -EIO;
  }
}

/* Records the first error of a transaction and returns the sticky error. */
int store_txn_fail(struct store_txn *t, int r)
{
  if (r < 0 && r != -ENOENT && t->err == 0) {
    t->err = r;
    if (r == -EIO)
      store_note_damage(t->s, "a record of %s/data.mdb does not decode "
                        "or LMDB reports a broken page", t->s->dir);
  }
  return t->err ? t->err : r;
}

/* A record that does not decode: named, then the transaction fails. */
int store_bad_record(struct store_txn *t, const char *table, uint64_t id)
{
  store_note_damage(t->s, "the %s record %llu in %s/data.mdb does not "
                    "decode", table, (unsigned long long)id, t->s->dir);
  return store_txn_fail(t, -EIO);
}

int store_u64_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *ret)
{
  MDB_val k = sval(key), v;
  int rc = mdb_get(txn, dbi, &k, &v);

  if (rc)
    return store_errno(rc);
  if (v.mv_size != 8)
    return -EIO;
  memcpy(ret, v.mv_data, 8);
  return 0;
}

int store_u64_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val)
{
  MDB_val k = sval(key), v = { 8, &val };
  return store_errno(mdb_put(txn, dbi, &k, &v, 0));
}

/* ---- open and close ---- */

static void store_free(struct store *s)
{
  store_guard_del(s->guard);
  mdb_env_close(s->env);
  free(s->dir);
  free(s);
}

/* Creates the environment with the store's limits and maps data.mdb. */
static int open_env(struct store *s, const struct store_opts *opts)
{
  unsigned flags = MDB_NOTLS;
  int rc;

  if (opts->readonly)
    flags |= MDB_RDONLY;
  if (opts->nosync)
    flags |= MDB_NOSYNC;
  rc = mdb_env_create(&s->env);
  if (rc == 0)
    rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
  if (rc == 0)
    rc = mdb_env_set_mapsize(s->env, opts->map_size ? opts->map_size
                                                    : STORE_DEFAULT_MAP_SIZE);
  if (rc == 0)
    rc = mdb_env_set_maxreaders(s->env, STORE_MAX_READERS);
  if (rc == 0)
    mdb_env_set_assert(s->env, store_lmdb_assert);
  if (rc == 0)
    rc = mdb_env_open(s->env, s->dir, flags, 0600);  /* private to the owner */
  if (rc)
    store_open_detail_rc(s->dir, rc);
  return store_errno(rc);
}

/* Opens every table (creating it when writable): the only place DBIs are
 * opened, so dbi[] is fixed before any other transaction exists. */
static int open_tables(struct store *s, MDB_txn *txn, bool readonly)
{
  for (int i = 0; i < DB_MAX; i++) {
    int rc = mdb_dbi_open(txn, store_db_names[i], readonly ? 0 : MDB_CREATE,
                          &s->dbi[i]);
    if (rc == MDB_NOTFOUND && readonly && i > 0) {
      store_open_detail("%s/data.mdb is damaged: its table '%s' is missing",
                        s->dir, store_db_names[i]);
      rc = MDB_CORRUPTED;
    } else if (rc == MDB_INCOMPATIBLE || rc == MDB_CORRUPTED ||
               rc == MDB_PAGE_NOTFOUND || rc == MDB_BAD_DBI) {
      store_open_detail("%s/data.mdb is damaged: table '%s': %s", s->dir,
                        store_db_names[i], mdb_strerror(rc));
      rc = MDB_CORRUPTED;
    }
    if (rc)
      return store_errno(rc);
  }
  return 0;
}

/* Reads the schema version (writing it into a new store) and upgrades an
 * older store in place. */
static int open_schema(struct store *s, MDB_txn *txn, bool readonly)
{
  uint64_t schema;
  int r = store_u64_get(txn, s->dbi[DB_META], "schema", &schema);

  if (r == -ENOENT && !readonly) {
    /* A new store has nothing else; a store with samples but no schema
     * lost its meta table. */
    MDB_stat ms;
    if (mdb_stat(txn, s->dbi[DB_SAMPLES], &ms) == 0 && ms.ms_entries) {
      store_open_detail("%s/data.mdb is damaged: samples without a schema "
                        "version", s->dir);
      return -EIO;
    }
    r = store_u64_put(txn, s->dbi[DB_META], "schema", STORE_SCHEMA_VERSION);
    schema = STORE_SCHEMA_VERSION;
  } else if (r == -EIO) {
    store_open_detail("%s/data.mdb is damaged: its schema version is not 8 "
                      "bytes", s->dir);
  }
  if (r < 0)
    return r;
  if (schema > STORE_SCHEMA_VERSION || schema == 0) {
    if (schema == 0)
      store_open_detail("%s/data.mdb is damaged: schema version 0", s->dir);
    else   /* EPROTO's own text ("Protocol error") says nothing here */
      store_open_detail("it was written by a newer curatefs (store schema "
                        "%llu); this build reads schemas 1 to %d",
                        (unsigned long long)schema, STORE_SCHEMA_VERSION);
    return schema ? -EPROTO : -EIO;
  }
  /* Migration 1 -> 2 (in this startup transaction, so it lands whole):
   * version 2 lets classes be removed (gaps in class ids) and carry a
   * supercategory after the name in `classids`.  Version 1 records are
   * valid version 2 records, so only the number changes; it changes so
   * that an older build, which cannot read id gaps, refuses the store. */
  if (schema < STORE_SCHEMA_VERSION && !readonly)
    return store_u64_put(txn, s->dbi[DB_META], "schema",
                         STORE_SCHEMA_VERSION);
  return 0;
}

/* The startup transaction: guard the map, clear stale readers, open the
 * tables and check the schema, then commit. */
static int open_startup(struct store *s, bool readonly)
{
  MDB_txn *txn;
  int rc, r;

  s->guard = store_guard_add(s);
  /* LMDB may have leftover reader slots from a killed process. */
  mdb_reader_check(s->env, NULL);
  rc = mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
  if (rc) {
    store_open_detail_rc(s->dir, rc);
    return store_errno(rc);
  }
  r = open_tables(s, txn, readonly);
  if (r == 0)
    r = open_schema(s, txn, readonly);
  if (r < 0) {
    mdb_txn_abort(txn);
    return r;
  }
  return store_errno(mdb_txn_commit(txn));
}

int store_open(const char *dir, const struct store_opts *opts,
               struct store **ret)
{
  struct store_opts def = { 0 };
  struct store *s;
  struct stat st;
  int r;

  if (!opts)
    opts = &def;
  store_open_detail_clear();
  if (stat(dir, &st) < 0)
    return -errno;
  if (!S_ISDIR(st.st_mode))
    return -ENOTDIR;
  if ((r = store_size_before_open(dir)) < 0)
    return r;
  s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  s->guard = -1;
  s->dir = strdup(dir);
  if (!s->dir) {
    free(s);
    return -ENOMEM;
  }
  r = open_env(s, opts);
  if (r == 0)
    r = store_size_after_open(s);
  if (r == 0)
    r = open_startup(s, opts->readonly);
  if (r < 0) {
    store_free(s);
    return r;
  }
  *ret = s;
  return 0;
}

void store_close(struct store *s)
{
  if (!s)
    return;
  assert(atomic_load(&s->ntxn) == 0);
  store_free(s);
}

const char *store_dir(const struct store *s)
{
  return s->dir;
}

/* ---- transactions ---- */

int store_txn_begin(struct store *s, bool write, struct store_txn **ret)
{
  struct store_txn *t = calloc(1, sizeof(*t));
  unsigned writers;
  int rc;

  if (!t)
    return -ENOMEM;
  t->s = s;
  t->write = write;
  if (write)
    last_full = 0;
  rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
  if (rc == MDB_READERS_FULL) {
    /* Stale readers of a killed process: clear them and try once more. */
    mdb_reader_check(s->env, NULL);
    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
  }
  if (rc == MDB_MAP_RESIZED) {
    /* Another process grew the map: adopt its size and retry. */
    mdb_env_set_mapsize(s->env, 0);
    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
  }
  if (rc) {
    free(t);
    return store_errno(rc);
  }
  atomic_fetch_add(&s->ntxn, 1);
  if (write) {
    /* LMDB's writer mutex: no other write transaction is open. */
    writers = atomic_fetch_add(&s->writers, 1);
    assert(writers == 0);
    (void)writers;
  }
  *ret = t;
  return 0;
}

/* Takes t off the store's counts; called before LMDB ends the
 * transaction, so the next writer cannot begin before it. */
static void txn_release(struct store_txn *t)
{
  unsigned n = atomic_fetch_sub(&t->s->ntxn, 1);

  assert(n > 0);
  if (t->write) {
    unsigned w = atomic_fetch_sub(&t->s->writers, 1);
    assert(w == 1);
    (void)w;
  }
  (void)n;
}

/* Whether the filesystem holding dir has (nearly) no space left for us:
 * less than 1 MiB, counting the blocks reserved for root when we are
 * root. */
static bool disk_full(const char *dir)
{
  struct statvfs sv;
  uint64_t free_blocks;

  if (statvfs(dir, &sv) < 0)
    return false;
  free_blocks = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
  return free_blocks * (uint64_t)sv.f_frsize < (1u << 20);
}

int store_txn_commit(struct store_txn *t)
{
  int r;

  if (!t->err && t->dirty) {
    uint64_t v = 0;
    int g = store_u64_get(t->txn, t->s->dbi[DB_META], "version", &v);
    if (g < 0 && g != -ENOENT)
      t->err = g;
    else
      store_txn_fail(t, store_u64_put(t->txn, t->s->dbi[DB_META], "version",
                                      v + 1));
  }
  txn_release(t);
  if (t->err) {
    r = t->err;
    mdb_txn_abort(t->txn);
  } else {
    int rc = mdb_txn_commit(t->txn);
    /* LMDB turns a short write into EIO: on a full disk the write of the
     * last pages stops at the free space.  Tell that apart from a failing
     * device by the space left. */
    if (rc == EIO && disk_full(t->s->dir))
      rc = ENOSPC;
    r = store_errno(rc);
  }
  free(t);
  return r;
}

void store_txn_abort(struct store_txn *t)
{
  if (!t)
    return;
  txn_release(t);
  mdb_txn_abort(t->txn);
  free(t);
}

int store_txn_error(const struct store_txn *t)
{
  return t->err;
}

const char *store_full_hint(void)
{
  if (last_full == 0)
    return NULL;
  if (last_full == 1)
    return "the store's map is full: unmount and mount again with a larger "
           "-o map_size=BYTES (nothing was lost)";
  return "the disk holding the store is full: free space there and retry "
         "(nothing was lost)";
}

/* ---- row primitives ---- */

int store_tget(struct store_txn *t, int db, MDB_val *k, MDB_val *v)
{
  int rc = mdb_get(t->txn, t->s->dbi[db], k, v);
  return rc == MDB_NOTFOUND ? -ENOENT : store_txn_fail(t, store_errno(rc));
}

int store_tput(struct store_txn *t, int db, MDB_val *k, MDB_val *v,
               unsigned flags)
{
  int rc;

  assert(t->write);
  rc = mdb_put(t->txn, t->s->dbi[db], k, v, flags);
  t->dirty = true;
  if (rc == MDB_KEYEXIST)
    return -EEXIST;
  return store_txn_fail(t, store_errno(rc));
}

int store_tdel(struct store_txn *t, int db, MDB_val *k)
{
  int rc;

  assert(t->write);
  rc = mdb_del(t->txn, t->s->dbi[db], k, NULL);
  t->dirty = true;
  return rc == MDB_NOTFOUND ? -ENOENT : store_txn_fail(t, store_errno(rc));
}

int store_next_id(struct store_txn *t, const char *counter, uint64_t *ret)
{
  uint64_t v = 0;
  int r;

  assert(t->write);
  r = store_u64_get(t->txn, t->s->dbi[DB_META], counter, &v);
  if (r < 0 && r != -ENOENT)
    return store_txn_fail(t, r);
  v = v ? v : 1;
  *ret = v;
  return store_txn_fail(t, store_u64_put(t->txn, t->s->dbi[DB_META], counter,
                                         v + 1));
}

int store_id_lookup(struct store_txn *t, int db, const char *name,
                    uint64_t *ret)
{
  MDB_val k = sval(name), v;
  int r;

  if (k.mv_size == 0 || k.mv_size > 511)
    return -ENOENT;
  r = store_tget(t, db, &k, &v);
  if (r < 0)
    return r;
  if (v.mv_size != 8)
    return store_txn_fail(t, -EIO);
  *ret = rd_be64(v.mv_data);
  return 0;
}

int store_put_index(struct store_txn *t, int db, const char *name,
                    uint64_t id, unsigned flags)
{
  uint8_t val[8];
  MDB_val k = sval(name), v = { 8, val };

  be64(val, id);
  return store_tput(t, db, &k, &v, flags);
}

/* ---- the cursor walk ---- */

int store_cursor_open(struct store_txn *t, int db, const void *seek,
                      size_t seeklen, size_t plen, struct store_cursor *c)
{
  assert(plen <= seeklen);
  memset(c, 0, sizeof(*c));
  c->t = t;
  c->pre = seek;
  c->plen = plen;
  c->rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c->c);
  if (c->rc) {
    c->c = NULL;
    return store_errno(c->rc);
  }
  if (seeklen) {
    c->k.mv_size = seeklen;
    c->k.mv_data = (void *)seek;
    c->rc = mdb_cursor_get(c->c, &c->k, &c->v, MDB_SET_RANGE);
  } else {
    c->rc = mdb_cursor_get(c->c, &c->k, &c->v, MDB_FIRST);
  }
  return 0;
}

bool store_cursor_row(const struct store_cursor *c)
{
  return c->rc == 0 && c->k.mv_size >= c->plen &&
         (c->plen == 0 || memcmp(c->k.mv_data, c->pre, c->plen) == 0);
}

void store_cursor_next(struct store_cursor *c)
{
  c->rc = mdb_cursor_get(c->c, &c->k, &c->v, MDB_NEXT);
}

void store_cursor_del(struct store_cursor *c)
{
  assert(c->t->write);
  c->t->dirty = true;
  c->deleted = true;
  c->rc = mdb_cursor_del(c->c, 0);
  if (c->rc == 0)
    c->rc = mdb_cursor_get(c->c, &c->k, &c->v, MDB_GET_CURRENT);
}

int store_cursor_close(struct store_cursor *c)
{
  if (c->c)
    mdb_cursor_close(c->c);
  c->c = NULL;
  /* After a delete at the end LMDB has no current row: EINVAL. */
  if (c->rc == 0 || c->rc == MDB_NOTFOUND || (c->deleted && c->rc == EINVAL))
    return 0;
  return store_errno(c->rc);
}

/* ---- iterators ---- */

int store_iter_new(struct store_txn *t, struct store_iter **ret)
{
  struct store_iter *it;

  TXN_GUARD(t, false);
  it = calloc(1, sizeof(*it));
  if (!it)
    return -ENOMEM;
  it->t = t;
  *ret = it;
  return 0;
}

void store_iter_free(struct store_iter *it)
{
  if (!it)
    return;
  for (int i = 0; i < DB_MAX; i++)
    if (it->cur[i])
      mdb_cursor_close(it->cur[i]);
  free(it);
}

static int iter_cursor(struct store_iter *it, int db, MDB_cursor **ret)
{
  if (!it->cur[db]) {
    int rc = mdb_cursor_open(it->t->txn, it->t->s->dbi[db], &it->cur[db]);
    if (rc)
      return store_txn_fail(it->t, store_errno(rc));
  }
  *ret = it->cur[db];
  return 0;
}

int store_iter_seek(struct store_iter *it, int db, const uint8_t *key,
                    size_t klen, MDB_val *k, MDB_val *v)
{
  MDB_cursor *c = NULL;
  int r = iter_cursor(it, db, &c), rc;

  if (r < 0)
    return r;
  k->mv_size = klen;
  k->mv_data = (void *)key;
  rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
  if (rc)
    return rc == MDB_NOTFOUND ? -ENOENT
                              : store_txn_fail(it->t, store_errno(rc));
  return 0;
}

/* ---- settings ---- */

static int setting_key(const char *key, char *out, size_t n)
{
  size_t l = strlen(key);
  if (l == 0 || l + 5 > n)
    return -EINVAL;
  memcpy(out, "set:", 4);
  memcpy(out + 4, key, l + 1);
  return 0;
}

int store_setting_get(struct store_txn *t, const char *key, char **ret)
{
  char k[300];
  MDB_val kv, v;
  int r;

  TXN_GUARD(t, false);
  if (setting_key(key, k, sizeof(k)) < 0)
    return -EINVAL;
  kv = sval(k);
  r = store_tget(t, DB_META, &kv, &v);
  if (r < 0)
    return r;
  *ret = strndup(v.mv_data, v.mv_size);
  return *ret ? 0 : -ENOMEM;
}

int store_setting_set(struct store_txn *t, const char *key, const char *val)
{
  char k[300];
  MDB_val kv, v;

  TXN_GUARD(t, true);
  if (setting_key(key, k, sizeof(k)) < 0)
    return -EINVAL;
  kv = sval(k);
  v = sval(val);
  return store_tput(t, DB_META, &kv, &v, 0);
}

int store_setting_del(struct store_txn *t, const char *key)
{
  char k[300];
  MDB_val kv;
  int r;

  TXN_GUARD(t, true);
  if (setting_key(key, k, sizeof(k)) < 0)
    return -EINVAL;
  kv = sval(k);
  r = store_tdel(t, DB_META, &kv);
  return r == -ENOENT ? 0 : r;
}

/* ---- dataset version ---- */

int store_version(struct store_txn *t, uint64_t *ret)
{
  int r;

  TXN_GUARD(t, false);
  *ret = 0;
  r = store_u64_get(t->txn, t->s->dbi[DB_META], "version", ret);
  return r == -ENOENT ? 0 : store_txn_fail(t, r);
}

uint64_t store_txn_id(struct store_txn *t)
{
  return (uint64_t)mdb_txn_id(t->txn);
}

int store_last_commit(struct store *s, uint64_t *id)
{
  MDB_envinfo info;
  int rc = mdb_env_info(s->env, &info);

  *id = rc == 0 ? (uint64_t)info.me_last_txnid : 0;
  return rc ? store_errno(rc) : 0;
}

/* LMDB writes the copy with the process umask; a store is the owner's
 * alone (0600), as store_open() makes it. */
static int snapshot_private(const char *dir)
{
  char data[4096];

  snprintf(data, sizeof(data), "%s/data.mdb", dir);
  return chmod(data, 0600) < 0 ? -1 : 0;
}

int store_snapshot(struct store *s, const char *out)
{
  char *tmp = NULL;
  int rc, r = 0;

  if (access(out, F_OK) == 0)
    return -EEXIST;
  if (asprintf(&tmp, "%s.part-%ld", out, (long)getpid()) < 0)
    return -ENOMEM;
  if (mkdir(tmp, 0700) < 0) {
    r = -errno;
    free(tmp);
    return r;
  }
  rc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT);
  if (rc) {
    r = store_errno(rc);
    log_msg(LOG_LVL_ERROR, "snapshot of %s: %s", s->dir, mdb_strerror(rc));
  } else if (snapshot_private(tmp) < 0 ||
             renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE) < 0) {
    r = -errno;   /* NOREPLACE: not even onto an empty folder */
  }
  if (r < 0) {
    char data[4096];
    snprintf(data, sizeof(data), "%s/data.mdb", tmp);
    unlink(data);
    rmdir(tmp);
  }
  free(tmp);
  return r;
}
