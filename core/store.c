/* store.c - the LMDB-backed dataset store (see store.h for the contract and
 * docs/STORE-FORMAT.md for every table and record layout).
 *
 * This is the only file that includes lmdb.h.  It maps LMDB's codes to
 * negative errno in one place (store_errno) and keeps a sticky error per
 * transaction, so a failed step turns the whole transaction into an abort.
 * It knows nothing about files on disk, JPEG, JSON or FUSE.
 */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

enum {
  DB_META, DB_SAMPLES, DB_NAMES, DB_PATHS, DB_TAGS, DB_TAGIDS, DB_TAGMEM,
  DB_SAMPLETAGS, DB_CLASSES, DB_CLASSIDS, DB_LABELS, DB_COUNTS, DB_RECORDS,
  DB_MAX
};

static const char *const db_names[DB_MAX] = {
  "meta", "samples", "names", "paths", "tags", "tagids", "tagmem",
  "sampletags", "classes", "classids", "labels", "counts", "records",
};

struct store {
  MDB_env *env;
  MDB_dbi dbi[DB_MAX];
  char *dir;
};

struct store_txn {
  struct store *s;
  MDB_txn *txn;
  int err;
  bool write;
  bool dirty;     /* something was written: bump the dataset version */
};

struct store_iter {
  struct store_txn *t;
  MDB_cursor *cur[DB_MAX];
};

#define SAMPLE_REC_VERSION 1
#define SAMPLE_REC_FIXED 72

/* What filled up in this thread's last transaction, for store_full_hint():
 * 0 nothing, 1 the map, 2 the disk.  Per thread: the request that failed
 * reports it right after, on its own thread. */
static __thread int last_full;

static int store_errno(int rc)
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
static int txn_fail(struct store_txn *t, int r)
{
  if (r < 0 && r != -ENOENT && t->err == 0)
    t->err = r;
  return t->err ? t->err : r;
}

static void be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t rd_be64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

static void be32(uint8_t *p, uint32_t v)
{
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint32_t rd_be32(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

static MDB_val sval(const char *s)
{
  MDB_val v = { strlen(s), (void *)s };
  return v;
}

/* ---- environment ---- */

static int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *ret)
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

static int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val)
{
  MDB_val k = sval(key), v = { 8, &val };
  return store_errno(mdb_put(txn, dbi, &k, &v, 0));
}

int store_open(const char *dir, const struct store_opts *opts,
               struct store **ret)
{
  struct store_opts def = { 0 };
  struct store *s;
  MDB_txn *txn = NULL;
  unsigned flags = MDB_NOTLS;
  uint64_t schema;
  struct stat st;
  int rc, r;

  if (!opts)
    opts = &def;
  if (stat(dir, &st) < 0)
    return -errno;
  if (!S_ISDIR(st.st_mode))
    return -ENOTDIR;
  s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  s->dir = strdup(dir);
  if (!s->dir) {
    free(s);
    return -ENOMEM;
  }
  if (opts->readonly)
    flags |= MDB_RDONLY;
  if (opts->nosync)
    flags |= MDB_NOSYNC;
  rc = mdb_env_create(&s->env);
  if (rc == 0)
    rc = mdb_env_set_maxdbs(s->env, DB_MAX + 4);
  if (rc == 0)
    rc = mdb_env_set_mapsize(s->env, opts->map_size ? opts->map_size
                                                    : STORE_DEFAULT_MAP_SIZE);
  if (rc == 0)
    rc = mdb_env_set_maxreaders(s->env, 256);
  if (rc == 0)
    rc = mdb_env_open(s->env, dir, flags, 0600);  /* private to the owner */
  if (rc)
    goto fail_rc;
  /* LMDB may have leftover reader slots from a killed process. */
  mdb_reader_check(s->env, NULL);
  rc = mdb_txn_begin(s->env, NULL, opts->readonly ? MDB_RDONLY : 0, &txn);
  if (rc)
    goto fail_rc;
  for (int i = 0; i < DB_MAX; i++) {
    rc = mdb_dbi_open(txn, db_names[i], opts->readonly ? 0 : MDB_CREATE,
                      &s->dbi[i]);
    if (rc)
      goto fail_rc;
  }
  r = get_u64(txn, s->dbi[DB_META], "schema", &schema);
  if (r == -ENOENT && !opts->readonly) {
    r = put_u64(txn, s->dbi[DB_META], "schema", STORE_SCHEMA_VERSION);
    schema = STORE_SCHEMA_VERSION;
  }
  if (r < 0)
    goto fail_r;
  if (schema > STORE_SCHEMA_VERSION) {
    r = -EPROTO;
    goto fail_r;
  }
  /* Migration 1 -> 2 (in this startup transaction, so it lands whole):
   * version 2 lets classes be removed (gaps in class ids) and carry a
   * supercategory after the name in `classids`.  Version 1 records are
   * valid version 2 records, so only the number changes; it changes so
   * that an older build, which cannot read id gaps, refuses the store. */
  if (schema < STORE_SCHEMA_VERSION && !opts->readonly) {
    r = put_u64(txn, s->dbi[DB_META], "schema", STORE_SCHEMA_VERSION);
    if (r < 0)
      goto fail_r;
  }
  rc = mdb_txn_commit(txn);
  txn = NULL;
  if (rc)
    goto fail_rc;
  *ret = s;
  return 0;

fail_rc:
  r = store_errno(rc);
fail_r:
  if (txn)
    mdb_txn_abort(txn);
  mdb_env_close(s->env);
  free(s->dir);
  free(s);
  return r;
}

void store_close(struct store *s)
{
  if (!s)
    return;
  mdb_env_close(s->env);
  free(s->dir);
  free(s);
}

const char *store_dir(const struct store *s)
{
  return s->dir;
}

int store_txn_begin(struct store *s, bool write, struct store_txn **ret)
{
  struct store_txn *t = calloc(1, sizeof(*t));
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
  *ret = t;
  return 0;
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
    int g = get_u64(t->txn, t->s->dbi[DB_META], "version", &v);
    if (g < 0 && g != -ENOENT)
      t->err = g;
    else
      txn_fail(t, put_u64(t->txn, t->s->dbi[DB_META], "version", v + 1));
  }
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
  mdb_txn_abort(t->txn);
  free(t);
}

int store_txn_error(const struct store_txn *t)
{
  return t->err;
}

/* Every operation starts with this: a failed transaction does nothing more,
 * and writes on a read transaction are a programming error (-EROFS). */
#define TXN_GUARD(t, needs_write)                                        \
  do {                                                                   \
    if ((t)->err)                                                        \
      return (t)->err;                                                   \
    if ((needs_write) && !(t)->write)                                    \
      return -EROFS;                                                     \
  } while (0)

static int t_get(struct store_txn *t, int db, MDB_val *k, MDB_val *v)
{
  int rc = mdb_get(t->txn, t->s->dbi[db], k, v);
  return rc == MDB_NOTFOUND ? -ENOENT : txn_fail(t, store_errno(rc));
}

static int t_put(struct store_txn *t, int db, MDB_val *k, MDB_val *v,
                 unsigned flags)
{
  int rc = mdb_put(t->txn, t->s->dbi[db], k, v, flags);
  t->dirty = true;
  if (rc == MDB_KEYEXIST)
    return -EEXIST;
  return txn_fail(t, store_errno(rc));
}

static int t_del(struct store_txn *t, int db, MDB_val *k)
{
  int rc = mdb_del(t->txn, t->s->dbi[db], k, NULL);
  t->dirty = true;
  return rc == MDB_NOTFOUND ? -ENOENT : txn_fail(t, store_errno(rc));
}

static int next_id(struct store_txn *t, const char *counter, uint64_t *ret)
{
  uint64_t v = 0;
  int r = get_u64(t->txn, t->s->dbi[DB_META], counter, &v);

  if (r < 0 && r != -ENOENT)
    return txn_fail(t, r);
  v = v ? v : 1;
  *ret = v;
  return txn_fail(t, put_u64(t->txn, t->s->dbi[DB_META], counter, v + 1));
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
  r = t_get(t, DB_META, &kv, &v);
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
  return t_put(t, DB_META, &kv, &v, 0);
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
  r = t_del(t, DB_META, &kv);
  return r == -ENOENT ? 0 : r;
}

/* ---- samples ---- */

static int sample_decode(const MDB_val *v, struct sample *s)
{
  const uint8_t *p = v->mv_data;
  uint16_t nlen, plen;

  if (v->mv_size < SAMPLE_REC_FIXED || p[0] != SAMPLE_REC_VERSION)
    return -EIO;
  memset(s, 0, sizeof(*s));
  s->flags = p[1];
  s->precision = p[2];
  s->components = p[3];
  s->orientation = p[4];
  memcpy(&s->id, p + 8, 8);
  memcpy(&s->size, p + 16, 8);
  memcpy(&s->mtime_ns, p + 24, 8);
  memcpy(&s->width, p + 32, 4);
  memcpy(&s->height, p + 36, 4);
  memcpy(s->hash, p + 40, 16);
  memcpy(&s->labels_version, p + 56, 8);
  memcpy(&s->labels_mtime_ns, p + 64, 8);
  memcpy(&nlen, p + 5, 2);
  plen = (uint16_t)(v->mv_size - SAMPLE_REC_FIXED - nlen - 2);
  if ((size_t)nlen + 2 > v->mv_size - SAMPLE_REC_FIXED)
    return -EIO;
  s->name = (const char *)p + SAMPLE_REC_FIXED;
  s->relpath = s->name + nlen + 1;
  if (s->name[nlen] != '\0' || s->relpath[plen] != '\0')
    return -EIO;
  return 0;
}

static int sample_encode(const struct sample *s, struct buf *b)
{
  uint8_t fixed[SAMPLE_REC_FIXED] = { 0 };
  size_t nlen = strlen(s->name), plen = strlen(s->relpath);
  uint16_t n16 = (uint16_t)nlen;
  int r;

  if (nlen > 1024 || plen > 8192)
    return -ENAMETOOLONG;
  fixed[0] = SAMPLE_REC_VERSION;
  fixed[1] = s->flags;
  fixed[2] = s->precision;
  fixed[3] = s->components;
  fixed[4] = s->orientation;
  memcpy(fixed + 5, &n16, 2);
  memcpy(fixed + 8, &s->id, 8);
  memcpy(fixed + 16, &s->size, 8);
  memcpy(fixed + 24, &s->mtime_ns, 8);
  memcpy(fixed + 32, &s->width, 4);
  memcpy(fixed + 36, &s->height, 4);
  memcpy(fixed + 40, s->hash, 16);
  memcpy(fixed + 56, &s->labels_version, 8);
  memcpy(fixed + 64, &s->labels_mtime_ns, 8);
  r = buf_append(b, fixed, sizeof(fixed));
  if (r == 0)
    r = buf_append(b, s->name, nlen + 1);
  if (r == 0)
    r = buf_append(b, s->relpath, plen + 1);
  return r;
}

int store_sample_get(struct store_txn *t, uint64_t id, struct sample *ret)
{
  uint8_t key[8];
  MDB_val k = { 8, key }, v;
  int r;

  TXN_GUARD(t, false);
  be64(key, id);
  r = t_get(t, DB_SAMPLES, &k, &v);
  if (r < 0)
    return r;
  return txn_fail(t, sample_decode(&v, ret));
}

static int id_lookup(struct store_txn *t, int db, const char *name,
                     uint64_t *ret)
{
  MDB_val k = sval(name), v;
  int r;

  if (k.mv_size == 0 || k.mv_size > 511)
    return -ENOENT;
  r = t_get(t, db, &k, &v);
  if (r < 0)
    return r;
  if (v.mv_size != 8)
    return txn_fail(t, -EIO);
  *ret = rd_be64(v.mv_data);
  return 0;
}

int store_sample_by_name(struct store_txn *t, const char *name,
                         struct sample *ret)
{
  uint64_t id;
  int r;

  TXN_GUARD(t, false);
  r = id_lookup(t, DB_NAMES, name, &id);
  return r < 0 ? r : store_sample_get(t, id, ret);
}

int store_sample_by_path(struct store_txn *t, const char *relpath,
                         struct sample *ret)
{
  uint64_t id;
  int r;

  TXN_GUARD(t, false);
  r = id_lookup(t, DB_PATHS, relpath, &id);
  return r < 0 ? r : store_sample_get(t, id, ret);
}

static int put_index(struct store_txn *t, int db, const char *name,
                     uint64_t id, unsigned flags)
{
  uint8_t val[8];
  MDB_val k = sval(name), v = { 8, val };

  be64(val, id);
  return t_put(t, db, &k, &v, flags);
}

int store_sample_put(struct store_txn *t, const struct sample *in,
                     uint64_t *ret_id)
{
  struct sample s = *in, old;
  struct buf b;
  char *name = NULL, *relpath = NULL;
  uint8_t key[8];
  MDB_val k = { 8, key }, v;
  int r;

  TXN_GUARD(t, true);
  /* Checked before anything is written, so the transaction stays good. */
  if (!in->id && ((in->name && strlen(in->name) > STORE_PATH_MAX) ||
                  (in->relpath && strlen(in->relpath) > STORE_PATH_MAX)))
    return -ENAMETOOLONG;
  buf_init(&b, 1 << 16);
  if (s.id) {
    /* Replace: keep the stable name and path of the stored record.  Copy
     * them first, since a write may move LMDB pages under borrowed data. */
    r = store_sample_get(t, s.id, &old);
    if (r < 0)
      goto out;
    name = strdup(old.name);
    relpath = strdup(old.relpath);
    if (!name || !relpath) {
      r = -ENOMEM;
      goto out;
    }
    s.name = name;
    s.relpath = relpath;
  } else {
    uint64_t existing;
    if (!in->name || !in->relpath || !in->name[0] || !in->relpath[0]) {
      r = -EINVAL;
      goto out;
    }
    if (id_lookup(t, DB_PATHS, in->relpath, &existing) == 0) {
      r = -EEXIST;
      goto out;
    }
    r = next_id(t, "next:sample", &s.id);
    if (r < 0)
      goto out;
    r = put_index(t, DB_NAMES, in->name, s.id, MDB_NOOVERWRITE);
    if (r == -EEXIST) {
      /* Taken: a numeric suffix keeps the name unique and stable. */
      size_t n = strlen(in->name) + 24;
      name = malloc(n);
      if (!name) {
        r = -ENOMEM;
        goto out;
      }
      snprintf(name, n, "%s~%llu", in->name, (unsigned long long)s.id);
      s.name = name;
      r = put_index(t, DB_NAMES, name, s.id, MDB_NOOVERWRITE);
    }
    if (r < 0)
      goto out;
    r = put_index(t, DB_PATHS, in->relpath, s.id, 0);
    if (r < 0)
      goto out;
  }
  r = sample_encode(&s, &b);
  if (r < 0)
    goto out;
  be64(key, s.id);
  v.mv_size = b.len;
  v.mv_data = b.data;
  r = t_put(t, DB_SAMPLES, &k, &v, 0);
  if (r == 0 && ret_id)
    *ret_id = s.id;
out:
  free(name);
  free(relpath);
  buf_free(&b);
  return txn_fail(t, r);
}

int store_sample_count(struct store_txn *t, uint64_t *ret)
{
  MDB_stat st;
  int rc;

  TXN_GUARD(t, false);
  rc = mdb_stat(t->txn, t->s->dbi[DB_SAMPLES], &st);
  if (rc)
    return txn_fail(t, store_errno(rc));
  *ret = st.ms_entries;
  return 0;
}

/* Deletes every key of `db` that starts with the 8-byte prefix, calling fn
 * (if any) on each key/value first. */
static int del_prefix(struct store_txn *t, int db, const uint8_t pre[8],
                      int (*fn)(struct store_txn *, MDB_val *, MDB_val *))
{
  MDB_cursor *c;
  MDB_val k = { 8, (void *)pre }, v;
  int rc, r = 0;

  rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  t->dirty = true;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= 8 && memcmp(k.mv_data, pre, 8) == 0) {
    if (fn) {
      r = fn(t, &k, &v);
      if (r < 0)
        break;
    }
    rc = mdb_cursor_del(c, 0);
    if (rc)
      break;
    rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
  }
  mdb_cursor_close(c);
  if (r < 0)
    return txn_fail(t, r);
  if (rc && rc != MDB_NOTFOUND && rc != EINVAL)
    return txn_fail(t, store_errno(rc));
  return 0;
}

static int count_add(struct store_txn *t, const char *field,
                     uint32_t class_id, int64_t delta);

static int drop_label_counts(struct store_txn *t, MDB_val *k, MDB_val *v)
{
  struct label_field f = { 0 };
  char field[LABELS_MAX_FIELD_NAME + 1];
  size_t fl = k->mv_size - 8;
  int r;

  if (fl == 0 || fl > LABELS_MAX_FIELD_NAME)
    return -EIO;
  memcpy(field, (const char *)k->mv_data + 8, fl);
  field[fl] = '\0';
  r = labels_field_decode(v->mv_data, v->mv_size, &f);
  for (size_t i = 0; r == 0 && i < f.n; i++)
    r = count_add(t, field, f.d[i].class_id, -1);
  for (size_t i = 0; i < f.n; i++)
    detection_clear(&f.d[i]);
  free(f.d);
  return r == -EBADMSG ? -EIO : r;
}

static int drop_membership(struct store_txn *t, MDB_val *k, MDB_val *v)
{
  const uint8_t *p = k->mv_data;
  uint64_t sid = rd_be64(p), tid = rd_be64(p + 8);
  int r = store_tag_remove(t, tid, sid);
  (void)v;
  return r < 0 ? r : 0;
}

int store_sample_delete(struct store_txn *t, uint64_t id)
{
  struct sample s;
  char *name, *relpath;
  uint8_t key[8];
  MDB_val k = { 8, key }, nk;
  int r;

  TXN_GUARD(t, true);
  r = store_sample_get(t, id, &s);
  if (r < 0)
    return r;
  name = strdup(s.name);
  relpath = strdup(s.relpath);
  if (!name || !relpath) {
    free(name);
    free(relpath);
    return txn_fail(t, -ENOMEM);
  }
  be64(key, id);
  /* Memberships first: store_tag_remove deletes sampletags keys itself, so
   * walk a copy of the list rather than deleting under the cursor. */
  for (;;) {
    MDB_cursor *c;
    MDB_val ck = { 8, key }, cv;
    int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_SAMPLETAGS], &c);
    if (rc) {
      r = store_errno(rc);
      break;
    }
    rc = mdb_cursor_get(c, &ck, &cv, MDB_SET_RANGE);
    if (rc || ck.mv_size != 16 || memcmp(ck.mv_data, key, 8) != 0) {
      mdb_cursor_close(c);
      break;
    }
    {
      uint8_t kk[16];
      MDB_val kv = { 16, kk };
      memcpy(kk, ck.mv_data, 16);
      mdb_cursor_close(c);
      r = drop_membership(t, &kv, NULL);
      if (r < 0)
        break;
    }
  }
  if (r == 0)
    r = del_prefix(t, DB_LABELS, key, drop_label_counts);
  if (r == 0)
    r = t_del(t, DB_SAMPLES, &k);
  if (r == 0) {
    nk = sval(name);
    r = t_del(t, DB_NAMES, &nk);
    r = r == -ENOENT ? 0 : r;
  }
  if (r == 0) {
    nk = sval(relpath);
    r = t_del(t, DB_PATHS, &nk);
    r = r == -ENOENT ? 0 : r;
  }
  free(name);
  free(relpath);
  return txn_fail(t, r);
}

/* ---- iteration ---- */

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
      return txn_fail(it->t, store_errno(rc));
  }
  *ret = it->cur[db];
  return 0;
}

/* Positions the iterator's cursor of `db` at the first key >= key[0..klen)
 * and returns it in *k (*v its value): 0, -ENOENT past the end, or the
 * transaction's error. */
static int iter_seek(struct store_iter *it, int db, const uint8_t *key,
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
    return rc == MDB_NOTFOUND ? -ENOENT : txn_fail(it->t, store_errno(rc));
  return 0;
}

int store_iter_samples(struct store_iter *it, uint64_t from_id,
                       struct sample *ret)
{
  uint8_t key[8];
  MDB_val k, v;
  int r;

  be64(key, from_id);
  r = iter_seek(it, DB_SAMPLES, key, 8, &k, &v);
  return r < 0 ? r : txn_fail(it->t, sample_decode(&v, ret));
}

int store_iter_tag(struct store_iter *it, uint64_t tag_id, uint64_t from_id,
                   uint64_t *ret_sample_id)
{
  uint8_t key[16];
  MDB_val k, v;
  int r;

  be64(key, tag_id);
  be64(key + 8, from_id);
  r = iter_seek(it, DB_TAGMEM, key, 16, &k, &v);
  if (r < 0)
    return r;
  if (k.mv_size != 16 || memcmp(k.mv_data, key, 8) != 0)
    return -ENOENT;
  *ret_sample_id = rd_be64((const uint8_t *)k.mv_data + 8);
  return 0;
}

static int tag_decode(const MDB_val *v, const char **name, uint64_t *count,
                      int64_t *mtime)
{
  const char *p = v->mv_data;

  if (v->mv_size < 17 || p[v->mv_size - 1] != '\0')
    return -EIO;
  if (count)
    memcpy(count, p, 8);
  if (mtime)
    memcpy(mtime, p + 8, 8);
  if (name)
    *name = p + 16;
  return 0;
}

int store_iter_tags(struct store_iter *it, uint64_t from_id,
                    uint64_t *ret_tag_id, const char **ret_name)
{
  uint8_t key[8];
  MDB_val k, v;
  int r;

  be64(key, from_id);
  r = iter_seek(it, DB_TAGIDS, key, 8, &k, &v);
  if (r < 0)
    return r;
  if (k.mv_size != 8)
    return txn_fail(it->t, -EIO);
  *ret_tag_id = rd_be64(k.mv_data);
  return txn_fail(it->t, tag_decode(&v, ret_name, NULL, NULL));
}

/* ---- tags ---- */

bool store_tag_name_valid(const char *name)
{
  size_t n = strlen(name);

  /* A leading dot would hide the tag from `ls` (and covers "." and
   * ".."); names must print: valid UTF-8, no control characters. */
  if (n == 0 || n > 200 || name[0] == '.' || strchr(name, '/'))
    return false;
  return utf8_valid(name, n) && no_control_chars(name, n);
}

static int tag_write(struct store_txn *t, uint64_t id, const char *name,
                     uint64_t count, int64_t mtime)
{
  size_t nl = strlen(name);
  uint8_t key[8], *rec = malloc(16 + nl + 1);
  MDB_val k = { 8, key }, v;
  int r;

  if (!rec)
    return txn_fail(t, -ENOMEM);
  be64(key, id);
  memcpy(rec, &count, 8);
  memcpy(rec + 8, &mtime, 8);
  memcpy(rec + 16, name, nl + 1);
  v.mv_size = 16 + nl + 1;
  v.mv_data = rec;
  r = t_put(t, DB_TAGIDS, &k, &v, 0);
  free(rec);
  return r;
}

int store_tag_create(struct store_txn *t, const char *name, uint64_t *ret_id)
{
  uint64_t id;
  int r;

  TXN_GUARD(t, true);
  if (!store_tag_name_valid(name))
    return -EINVAL;
  if (id_lookup(t, DB_TAGS, name, &id) == 0)
    return -EEXIST;
  r = next_id(t, "next:tag", &id);
  if (r == 0 && id > 0xffff)
    r = txn_fail(t, -ENOSPC);  /* tag ids are 16 bits in fs inode numbers */
  if (r == 0)
    r = put_index(t, DB_TAGS, name, id, MDB_NOOVERWRITE);
  if (r == 0)
    r = tag_write(t, id, name, 0, time_now_ns());
  if (r == 0 && ret_id)
    *ret_id = id;
  return r;
}

int store_tag_lookup(struct store_txn *t, const char *name, uint64_t *ret_id)
{
  TXN_GUARD(t, false);
  return id_lookup(t, DB_TAGS, name, ret_id);
}

int store_tag_get(struct store_txn *t, uint64_t id, const char **ret_name,
                  uint64_t *ret_count, int64_t *ret_mtime_ns)
{
  uint8_t key[8];
  MDB_val k = { 8, key }, v;
  int r;

  TXN_GUARD(t, false);
  be64(key, id);
  r = t_get(t, DB_TAGIDS, &k, &v);
  if (r < 0)
    return r;
  return txn_fail(t, tag_decode(&v, ret_name, ret_count, ret_mtime_ns));
}

int store_tag_rename(struct store_txn *t, const char *from, const char *to)
{
  uint64_t id, other, count;
  MDB_val k;
  int r;

  TXN_GUARD(t, true);
  if (!store_tag_name_valid(to))
    return -EINVAL;
  r = id_lookup(t, DB_TAGS, from, &id);
  if (r < 0)
    return r;
  if (strcmp(from, to) == 0)
    return 0;
  if (id_lookup(t, DB_TAGS, to, &other) == 0)
    return -EEXIST;
  r = store_tag_get(t, id, NULL, &count, NULL);
  k = sval(from);
  if (r == 0)
    r = t_del(t, DB_TAGS, &k);
  if (r == 0)
    r = put_index(t, DB_TAGS, to, id, MDB_NOOVERWRITE);
  if (r == 0)
    r = tag_write(t, id, to, count, time_now_ns());
  return txn_fail(t, r);
}

int store_tag_delete(struct store_txn *t, const char *name)
{
  uint64_t id, count;
  uint8_t key[8];
  MDB_val k, ik = { 8, key };
  int r;

  TXN_GUARD(t, true);
  r = id_lookup(t, DB_TAGS, name, &id);
  if (r < 0)
    return r;
  r = store_tag_get(t, id, NULL, &count, NULL);
  if (r < 0)
    return r;
  if (count)
    return -ENOTEMPTY;
  k = sval(name);
  be64(key, id);
  r = t_del(t, DB_TAGS, &k);
  if (r == 0)
    r = t_del(t, DB_TAGIDS, &ik);
  return txn_fail(t, r);
}

static int tag_bump(struct store_txn *t, uint64_t tag_id, int64_t delta)
{
  const char *name;
  uint64_t count;
  char *copy;
  int r = store_tag_get(t, tag_id, &name, &count, NULL);

  if (r < 0)
    return r;
  copy = strdup(name);
  if (!copy)
    return txn_fail(t, -ENOMEM);
  r = tag_write(t, tag_id, copy, (uint64_t)((int64_t)count + delta),
                time_now_ns());
  free(copy);
  return r;
}

static int membership(struct store_txn *t, uint64_t tag_id, uint64_t sid,
                      bool add)
{
  uint8_t k1[16], k2[16];
  MDB_val a = { 16, k1 }, b = { 16, k2 }, e = { 0, "" }, v;
  int r;

  be64(k1, tag_id);
  be64(k1 + 8, sid);
  be64(k2, sid);
  be64(k2 + 8, tag_id);
  r = t_get(t, DB_TAGMEM, &a, &v);
  if (r < 0 && r != -ENOENT)
    return r;
  if ((r == 0) == add)
    return 0;  /* already as wanted */
  if (add) {
    r = t_put(t, DB_TAGMEM, &a, &e, 0);
    if (r == 0)
      r = t_put(t, DB_SAMPLETAGS, &b, &e, 0);
  } else {
    r = t_del(t, DB_TAGMEM, &a);
    if (r == 0)
      r = t_del(t, DB_SAMPLETAGS, &b);
  }
  if (r == 0)
    r = tag_bump(t, tag_id, add ? 1 : -1);
  return r < 0 ? txn_fail(t, r == -ENOENT ? -EIO : r) : 1;
}

int store_tag_add(struct store_txn *t, uint64_t tag_id, uint64_t sample_id)
{
  struct sample s;
  int r;

  TXN_GUARD(t, true);
  r = store_tag_get(t, tag_id, NULL, NULL, NULL);
  if (r == 0)
    r = store_sample_get(t, sample_id, &s);
  return r < 0 ? r : membership(t, tag_id, sample_id, true);
}

int store_tag_remove(struct store_txn *t, uint64_t tag_id, uint64_t sample_id)
{
  TXN_GUARD(t, true);
  return membership(t, tag_id, sample_id, false);
}

int store_tag_has(struct store_txn *t, uint64_t tag_id, uint64_t sample_id)
{
  uint8_t k1[16];
  MDB_val a = { 16, k1 }, v;
  int r;

  TXN_GUARD(t, false);
  be64(k1, tag_id);
  be64(k1 + 8, sample_id);
  r = t_get(t, DB_TAGMEM, &a, &v);
  return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int store_sample_tags(struct store_txn *t, uint64_t sample_id,
                      int (*fn)(uint64_t tag_id, void *ud), void *ud)
{
  MDB_cursor *c;
  uint8_t key[16];
  MDB_val k = { 16, key }, v;
  int rc, r = 0;

  TXN_GUARD(t, false);
  be64(key, sample_id);
  memset(key + 8, 0, 8);
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_SAMPLETAGS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, key, 8) == 0) {
    r = fn(rd_be64((const uint8_t *)k.mv_data + 8), ud);
    if (r)
      break;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (rc && rc != MDB_NOTFOUND)
    return txn_fail(t, store_errno(rc));
  return r < 0 ? r : 0;
}

/* ---- classes ---- */

int store_class_id(struct store_txn *t, const char *name, bool create,
                   uint32_t *ret_id)
{
  MDB_val k = sval(name), v;
  uint8_t key[4];
  uint64_t id;
  int r;

  TXN_GUARD(t, create);
  /* A lookup only needs a well-formed key; a new class a valid name. */
  if (!(create ? labels_class_name_valid(name)
               : labels_class_key_valid(name)))
    return -EINVAL;
  r = t_get(t, DB_CLASSES, &k, &v);
  if (r == 0) {
    if (v.mv_size != 4)
      return txn_fail(t, -EIO);
    memcpy(ret_id, v.mv_data, 4);
    return 0;
  }
  if (r != -ENOENT || !create)
    return r;
  r = next_id(t, "next:class", &id);
  if (r < 0)
    return r;
  if (id > UINT32_MAX)
    return txn_fail(t, -ENOSPC);
  *ret_id = (uint32_t)id;
  v.mv_size = 4;
  v.mv_data = ret_id;
  r = t_put(t, DB_CLASSES, &k, &v, 0);
  be32(key, (uint32_t)id);
  k.mv_size = 4;
  k.mv_data = key;
  /* Stored with its NUL so store_class_name() can lend it as a C string. */
  v.mv_size = strlen(name) + 1;
  v.mv_data = (void *)name;
  if (r == 0)
    r = t_put(t, DB_CLASSIDS, &k, &v, 0);
  return r;
}

int store_class_name(struct store_txn *t, uint32_t id, const char **ret_name)
{
  uint8_t key[4];
  MDB_val k = { 4, key }, v;
  int r;

  TXN_GUARD(t, false);
  be32(key, id);
  r = t_get(t, DB_CLASSIDS, &k, &v);
  if (r < 0)
    return r;
  if (v.mv_size == 0 || ((const char *)v.mv_data)[v.mv_size - 1] != '\0')
    return txn_fail(t, -EIO);
  *ret_name = v.mv_data;
  return 0;
}

int store_class_count(struct store_txn *t, uint32_t *ret_n)
{
  uint64_t v = 0;
  int r;

  TXN_GUARD(t, false);
  r = get_u64(t->txn, t->s->dbi[DB_META], "next:class", &v);
  if (r < 0 && r != -ENOENT)
    return txn_fail(t, r);
  *ret_n = v ? (uint32_t)(v - 1) : 0;
  return 0;
}

/* Box count of one class over every field (the counts table is small: one
 * entry per field and class in use). */
int store_class_boxes(struct store_txn *t, uint32_t id, uint64_t *ret)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc;

  TXN_GUARD(t, false);
  *ret = 0;
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_COUNTS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    uint64_t cnt;

    if (k.mv_size < 6 || v.mv_size != 8 ||
        rd_be32((const uint8_t *)k.mv_data + k.mv_size - 4) != id)
      continue;
    memcpy(&cnt, v.mv_data, 8);
    *ret += cnt;
  }
  mdb_cursor_close(c);
  if (rc != MDB_NOTFOUND)
    return txn_fail(t, store_errno(rc));
  return 0;
}

int store_class_get(struct store_txn *t, uint32_t id, struct store_class *ret)
{
  uint8_t key[4];
  MDB_val k = { 4, key }, v;
  const char *p;
  size_t nl;
  int r;

  TXN_GUARD(t, false);
  be32(key, id);
  r = t_get(t, DB_CLASSIDS, &k, &v);
  if (r < 0)
    return r;
  p = v.mv_data;
  if (v.mv_size == 0 || p[v.mv_size - 1] != '\0')
    return txn_fail(t, -EIO);
  nl = strlen(p);
  ret->id = id;
  ret->name = p;
  /* Version 2 values may carry the supercategory after the name. */
  ret->supercategory = nl + 1 < v.mv_size ? p + nl + 1 : "";
  return 0;
}

int store_classes_each(struct store_txn *t,
                       int (*fn)(const struct store_class *c, void *ud),
                       void *ud)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc, r = 0;

  TXN_GUARD(t, false);
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_CLASSIDS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    struct store_class sc;
    const char *p = v.mv_data;
    size_t nl;

    if (k.mv_size != 4 || v.mv_size == 0 || p[v.mv_size - 1] != '\0') {
      r = txn_fail(t, -EIO);
      break;
    }
    nl = strlen(p);
    sc.id = rd_be32(k.mv_data);
    sc.name = p;
    sc.supercategory = nl + 1 < v.mv_size ? p + nl + 1 : "";
    r = fn(&sc, ud);
  }
  mdb_cursor_close(c);
  if (r == 0 && rc && rc != MDB_NOTFOUND)
    return txn_fail(t, store_errno(rc));
  return r;
}

/* Writes both index entries of a class (name -> id, id -> name
 * [+ supercategory]). */
static int class_write(struct store_txn *t, const char *name, uint32_t id,
                       const char *super)
{
  uint8_t key[4], val[2 * (LABELS_MAX_CLASS_NAME + 1)];
  size_t nl = strlen(name), sl = super ? strlen(super) : 0;
  MDB_val k = sval(name), v = { 4, &id };
  int r;

  if (sl > LABELS_MAX_CLASS_NAME)
    return -EINVAL;
  r = t_put(t, DB_CLASSES, &k, &v, 0);
  be32(key, id);
  k.mv_size = 4;
  k.mv_data = key;
  memcpy(val, name, nl + 1);
  if (sl)
    memcpy(val + nl + 1, super, sl + 1);
  v.mv_size = nl + 1 + (sl ? sl + 1 : 0);
  v.mv_data = val;
  if (r == 0)
    r = t_put(t, DB_CLASSIDS, &k, &v, 0);
  return r;
}

int store_class_put(struct store_txn *t, const char *name, uint32_t id,
                    const char *supercategory)
{
  struct store_class old;
  uint32_t have;
  uint64_t next = 0;
  int r;

  TXN_GUARD(t, true);
  if (!labels_class_name_valid(name) || id == 0 ||
      (supercategory && *supercategory &&
       !labels_class_name_valid(supercategory)))
    return -EINVAL;
  r = store_class_id(t, name, false, &have);
  if (r == 0 && have != id)
    return -EEXIST;
  if (r < 0 && r != -ENOENT)
    return r;
  r = store_class_get(t, id, &old);
  if (r == 0 && strcmp(old.name, name) != 0)
    return -EEXIST;
  if (r < 0 && r != -ENOENT)
    return r;
  /* The class exists: only a new supercategory changes it. */
  if (r == 0 && (!supercategory || !*supercategory ||
                 strcmp(old.supercategory, supercategory) == 0))
    return 0;
  r = class_write(t, name, id, supercategory);
  if (r < 0)
    return txn_fail(t, r);
  r = get_u64(t->txn, t->s->dbi[DB_META], "next:class", &next);
  if (r < 0 && r != -ENOENT)
    return txn_fail(t, r);
  if (next <= id)
    r = put_u64(t->txn, t->s->dbi[DB_META], "next:class", (uint64_t)id + 1);
  else
    r = 0;
  return txn_fail(t, r);
}

int store_class_rename(struct store_txn *t, const char *from, const char *to)
{
  struct store_class sc;
  char super[LABELS_MAX_CLASS_NAME + 1];
  uint32_t id, other;
  MDB_val k;
  int r;

  TXN_GUARD(t, true);
  if (!labels_class_key_valid(from) || !labels_class_name_valid(to))
    return -EINVAL;
  r = store_class_id(t, from, false, &id);
  if (r < 0)
    return r;
  if (strcmp(from, to) == 0)
    return 0;
  r = store_class_id(t, to, false, &other);
  if (r == 0)
    return -EEXIST;
  if (r != -ENOENT)
    return r;
  r = store_class_get(t, id, &sc);
  if (r < 0)
    return txn_fail(t, r == -ENOENT ? -EIO : r);
  snprintf(super, sizeof(super), "%s", sc.supercategory);  /* borrowed */
  k = sval(from);
  r = t_del(t, DB_CLASSES, &k);
  if (r == 0)
    r = class_write(t, to, id, super);
  return txn_fail(t, r);
}

int store_class_reset_next(struct store_txn *t, uint32_t next)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc;

  TXN_GUARD(t, true);
  if (next == 0)
    return -EINVAL;
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_CLASSIDS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  mdb_cursor_close(c);
  if (rc == 0 && k.mv_size == 4 && rd_be32(k.mv_data) >= next)
    return -EBUSY;
  if (rc && rc != MDB_NOTFOUND)
    return txn_fail(t, store_errno(rc));
  return txn_fail(t, put_u64(t->txn, t->s->dbi[DB_META], "next:class",
                             next));
}

int store_class_delete(struct store_txn *t, const char *name)
{
  uint8_t key[4];
  uint32_t id;
  uint64_t boxes;
  MDB_val k;
  int r;

  TXN_GUARD(t, true);
  if (!labels_class_key_valid(name))
    return -EINVAL;
  r = store_class_id(t, name, false, &id);
  if (r < 0)
    return r;
  r = store_class_boxes(t, id, &boxes);
  if (r < 0)
    return r;
  if (boxes)
    return -EBUSY;
  k = sval(name);
  r = t_del(t, DB_CLASSES, &k);
  be32(key, id);
  k.mv_size = 4;
  k.mv_data = key;
  if (r == 0)
    r = t_del(t, DB_CLASSIDS, &k);
  return txn_fail(t, r);
}

/* ---- labels ---- */

static int count_key(const char *field, uint32_t class_id, uint8_t *out)
{
  size_t fl = strlen(field);

  if (fl == 0 || fl > LABELS_MAX_FIELD_NAME)
    return -EINVAL;
  memcpy(out, field, fl);
  out[fl] = 0;
  be32(out + fl + 1, class_id);
  return (int)(fl + 5);
}

static int count_add(struct store_txn *t, const char *field,
                     uint32_t class_id, int64_t delta)
{
  uint8_t key[LABELS_MAX_FIELD_NAME + 8];
  int kl = count_key(field, class_id, key);
  MDB_val k = { (size_t)kl, key }, v;
  uint64_t c = 0;
  int r;

  if (kl < 0)
    return txn_fail(t, kl);
  r = t_get(t, DB_COUNTS, &k, &v);
  if (r == 0 && v.mv_size == 8)
    memcpy(&c, v.mv_data, 8);
  else if (r < 0 && r != -ENOENT)
    return r;
  c = (uint64_t)((int64_t)c + delta);
  if (c == 0)
    return r == 0 ? t_del(t, DB_COUNTS, &k) : 0;
  v.mv_size = 8;
  v.mv_data = &c;
  return t_put(t, DB_COUNTS, &k, &v, 0);
}

int store_count_get(struct store_txn *t, const char *field, uint32_t class_id,
                    uint64_t *ret)
{
  uint8_t key[LABELS_MAX_FIELD_NAME + 8];
  int kl = count_key(field, class_id, key);
  MDB_val k = { (size_t)kl, key }, v;
  int r;

  TXN_GUARD(t, false);
  if (kl < 0)
    return kl;
  *ret = 0;
  r = t_get(t, DB_COUNTS, &k, &v);
  if (r == 0 && v.mv_size == 8)
    memcpy(ret, v.mv_data, 8);
  return r == -ENOENT ? 0 : r;
}

int store_counts_each(struct store_txn *t,
                      int (*fn)(const char *field, uint32_t class_id,
                                uint64_t count, void *ud),
                      void *ud)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc, r = 0;

  TXN_GUARD(t, false);
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_COUNTS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    char field[LABELS_MAX_FIELD_NAME + 1];
    size_t fl = k.mv_size - 5;
    uint64_t cnt;

    if (k.mv_size < 6 || fl > LABELS_MAX_FIELD_NAME || v.mv_size != 8)
      continue;
    memcpy(field, k.mv_data, fl);
    field[fl] = '\0';
    memcpy(&cnt, v.mv_data, 8);
    r = fn(field, rd_be32((const uint8_t *)k.mv_data + fl + 1), cnt, ud);
    if (r)
      break;
  }
  mdb_cursor_close(c);
  return r < 0 ? r : 0;
}

int store_labels_get(struct store_txn *t, uint64_t sample_id,
                     struct labels *ret)
{
  MDB_cursor *c;
  uint8_t pre[8];
  MDB_val k = { 8, pre }, v;
  int rc, r = 0;

  labels_init(ret);
  TXN_GUARD(t, false);
  be64(pre, sample_id);
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_LABELS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (r == 0 && rc == 0 && k.mv_size > 8 &&
         memcmp(k.mv_data, pre, 8) == 0) {
    char field[LABELS_MAX_FIELD_NAME + 1];
    size_t fl = k.mv_size - 8;
    struct label_field *f;

    if (fl > LABELS_MAX_FIELD_NAME) {
      r = -EIO;
      break;
    }
    memcpy(field, (const char *)k.mv_data + 8, fl);
    field[fl] = '\0';
    f = labels_field(ret, field, true);
    if (!f) {
      r = -ENOMEM;
      break;
    }
    r = labels_field_decode(v.mv_data, v.mv_size, f);
    for (size_t i = 0; r == 0 && i < f->n; i++) {
      const char *name;
      r = store_class_name(t, f->d[i].class_id, &name);
      if (r == 0) {
        f->d[i].label = strdup(name);
        if (!f->d[i].label)
          r = -ENOMEM;
      }
    }
    if (r == 0)
      rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (r == 0 && rc && rc != MDB_NOTFOUND)
    r = store_errno(rc);
  if (r < 0) {
    labels_free(ret);
    return txn_fail(t, r == -EBADMSG || r == -ENOENT ? -EIO : r);
  }
  return 0;
}

int store_labels_put(struct store_txn *t, uint64_t sample_id,
                     struct labels *l)
{
  struct sample s;
  uint8_t pre[8];
  struct buf b;
  int r;

  TXN_GUARD(t, true);
  r = store_sample_get(t, sample_id, &s);
  if (r < 0)
    return r;
  be64(pre, sample_id);
  r = del_prefix(t, DB_LABELS, pre, drop_label_counts);
  buf_init(&b, 1u << 30);
  for (size_t i = 0; r == 0 && i < l->n; i++) {
    struct label_field *f = &l->f[i];
    uint8_t key[8 + LABELS_MAX_FIELD_NAME];
    size_t fl = strlen(f->name);
    MDB_val k = { 8 + fl, key }, v;

    if (!labels_field_name_valid(f->name)) {
      r = -EINVAL;
      break;
    }
    for (size_t j = 0; r == 0 && j < f->n; j++) {
      struct detection *d = &f->d[j];
      if (!d->class_id) {
        if (!d->label) {
          r = -EINVAL;
          break;
        }
        r = store_class_id(t, d->label, true, &d->class_id);
      }
      if (r == 0 && !d->id)
        r = next_id(t, "next:label", &d->id);
      if (r == 0)
        r = count_add(t, f->name, d->class_id, 1);
    }
    if (r < 0)
      break;
    if (f->n == 0)
      continue;  /* an empty field is not stored */
    memcpy(key, pre, 8);
    memcpy(key + 8, f->name, fl);
    buf_reset(&b);
    r = labels_field_encode(f, &b);
    if (r < 0)
      break;
    v.mv_size = b.len;
    v.mv_data = b.data;
    r = t_put(t, DB_LABELS, &k, &v, 0);
  }
  buf_free(&b);
  if (r == 0) {
    /* Re-read: the puts above may have moved the record's pages. */
    r = store_sample_get(t, sample_id, &s);
    if (r == 0) {
      s.labels_version++;
      s.labels_mtime_ns = time_now_ns();
      r = store_sample_put(t, &s, NULL);
    }
  }
  return txn_fail(t, r);
}

/* ---- dataset version ---- */

int store_version(struct store_txn *t, uint64_t *ret)
{
  int r;

  TXN_GUARD(t, false);
  *ret = 0;
  r = get_u64(t->txn, t->s->dbi[DB_META], "version", ret);
  return r == -ENOENT ? 0 : txn_fail(t, r);
}

/* ---- records ---- */

/* Record keys are "<ns>\0<key bytes>" in one table. */
static int rec_key(const char *ns, const void *key, size_t klen,
                   uint8_t *out, MDB_val *k)
{
  size_t nl = strlen(ns);

  if (nl == 0 || nl + 1 + klen > STORE_REC_KEY_MAX)
    return -ENAMETOOLONG;
  memcpy(out, ns, nl + 1);
  if (klen)
    memcpy(out + nl + 1, key, klen);
  k->mv_size = nl + 1 + klen;
  k->mv_data = out;
  return 0;
}

int store_rec_get(struct store_txn *t, const char *ns, const void *key,
                  size_t klen, const void **ret_val, size_t *ret_len)
{
  uint8_t kb[STORE_REC_KEY_MAX];
  MDB_val k, v;
  int r;

  TXN_GUARD(t, false);
  if ((r = rec_key(ns, key, klen, kb, &k)) < 0)
    return r;
  r = t_get(t, DB_RECORDS, &k, &v);
  if (r < 0)
    return r;
  *ret_val = v.mv_data;
  *ret_len = v.mv_size;
  return 0;
}

int store_rec_put(struct store_txn *t, const char *ns, const void *key,
                  size_t klen, const void *val, size_t vlen)
{
  uint8_t kb[STORE_REC_KEY_MAX];
  MDB_val k, v = { vlen, (void *)val };
  int r;

  TXN_GUARD(t, true);
  if ((r = rec_key(ns, key, klen, kb, &k)) < 0)
    return txn_fail(t, r == -ENAMETOOLONG ? -EINVAL : r);
  return t_put(t, DB_RECORDS, &k, &v, 0);
}

int store_rec_del(struct store_txn *t, const char *ns, const void *key,
                  size_t klen)
{
  uint8_t kb[STORE_REC_KEY_MAX];
  MDB_val k;
  int r;

  TXN_GUARD(t, true);
  if ((r = rec_key(ns, key, klen, kb, &k)) < 0)
    return r;
  return t_del(t, DB_RECORDS, &k);
}

int store_rec_each(struct store_txn *t, const char *ns, const void *prefix,
                   size_t plen, bool del,
                   int (*fn)(const void *key, size_t klen, const void *val,
                             size_t vlen, void *ud),
                   void *ud)
{
  uint8_t kb[STORE_REC_KEY_MAX];
  MDB_val k, v;
  MDB_cursor *c;
  size_t pl;
  int rc, r = 0;

  TXN_GUARD(t, del);
  if ((r = rec_key(ns, prefix, plen, kb, &k)) < 0)
    return r;
  pl = k.mv_size;
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_RECORDS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  if (del)
    t->dirty = true;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= pl && memcmp(k.mv_data, kb, pl) == 0) {
    size_t nl = strlen(ns) + 1;
    if (fn) {
      r = fn((const uint8_t *)k.mv_data + nl, k.mv_size - nl, v.mv_data,
             v.mv_size, ud);
      if (r)
        break;
    }
    if (del) {
      rc = mdb_cursor_del(c, 0);
      if (rc)
        break;
      rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    } else {
      rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
  }
  mdb_cursor_close(c);
  if (r)
    return r < 0 ? txn_fail(t, r) : r;
  if (rc && rc != MDB_NOTFOUND && rc != EINVAL)
    return txn_fail(t, store_errno(rc));
  return 0;
}

void store_key_u64(uint8_t out[8], uint64_t v)
{
  be64(out, v);
}

uint64_t store_key_rd_u64(const void *p)
{
  return rd_be64(p);
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
