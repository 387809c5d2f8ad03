/* store_tags.c - tags and their members (see store.h): `tags` (name ->
 * be64 id), `tagids` (id -> member count, mtime, name), and each
 * membership twice, `tagmem` (tag, sample) and `sampletags` (sample, tag),
 * so both "members of a tag" and "tags of a sample" are one prefix walk.
 * The member count inside the tag record moves with every membership
 * change, in the same transaction.
 */
#include "store_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int store_tag_decode(const MDB_val *v, const char **name, uint64_t *count,
                     int64_t *mtime)
{
  const char *p = v->mv_data;

  if (v->mv_size < 18 || memchr(p + 16, 0, v->mv_size - 16) !=
                             p + v->mv_size - 1)
    return -EIO;
  if (count)
    memcpy(count, p, 8);
  if (mtime)
    memcpy(mtime, p + 8, 8);
  if (name)
    *name = p + 16;
  return 0;
}

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
    return store_txn_fail(t, -ENOMEM);
  be64(key, id);
  memcpy(rec, &count, 8);
  memcpy(rec + 8, &mtime, 8);
  memcpy(rec + 16, name, nl + 1);
  v.mv_size = 16 + nl + 1;
  v.mv_data = rec;
  r = store_tput(t, DB_TAGIDS, &k, &v, 0);
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
  if (store_id_lookup(t, DB_TAGS, name, &id) == 0)
    return -EEXIST;
  r = store_next_id(t, "next:tag", &id);
  if (r == 0 && id > 0xffff)
    r = store_txn_fail(t, -ENOSPC);  /* tag ids are 16 bits in inodes */
  if (r == 0)
    r = store_put_index(t, DB_TAGS, name, id, MDB_NOOVERWRITE);
  if (r == 0)
    r = tag_write(t, id, name, 0, time_now_ns());
  if (r == 0 && ret_id)
    *ret_id = id;
  return r;
}

int store_tag_lookup(struct store_txn *t, const char *name, uint64_t *ret_id)
{
  TXN_GUARD(t, false);
  return store_id_lookup(t, DB_TAGS, name, ret_id);
}

int store_tag_get(struct store_txn *t, uint64_t id, const char **ret_name,
                  uint64_t *ret_count, int64_t *ret_mtime_ns)
{
  uint8_t key[8];
  MDB_val k = { 8, key }, v;
  int r;

  TXN_GUARD(t, false);
  be64(key, id);
  r = store_tget(t, DB_TAGIDS, &k, &v);
  if (r < 0)
    return r;
  return store_txn_fail(t, store_tag_decode(&v, ret_name, ret_count,
                                            ret_mtime_ns));
}

int store_tag_rename(struct store_txn *t, const char *from, const char *to)
{
  uint64_t id, other, count;
  MDB_val k;
  int r;

  TXN_GUARD(t, true);
  if (!store_tag_name_valid(to))
    return -EINVAL;
  r = store_id_lookup(t, DB_TAGS, from, &id);
  if (r < 0)
    return r;
  if (strcmp(from, to) == 0)
    return 0;
  if (store_id_lookup(t, DB_TAGS, to, &other) == 0)
    return -EEXIST;
  r = store_tag_get(t, id, NULL, &count, NULL);
  k = sval(from);
  if (r == 0)
    r = store_tdel(t, DB_TAGS, &k);
  if (r == 0)
    r = store_put_index(t, DB_TAGS, to, id, MDB_NOOVERWRITE);
  if (r == 0)
    r = tag_write(t, id, to, count, time_now_ns());
  return store_txn_fail(t, r);
}

int store_tag_delete(struct store_txn *t, const char *name)
{
  uint64_t id, count;
  uint8_t key[8];
  MDB_val k, ik = { 8, key };
  int r;

  TXN_GUARD(t, true);
  r = store_id_lookup(t, DB_TAGS, name, &id);
  if (r < 0)
    return r;
  r = store_tag_get(t, id, NULL, &count, NULL);
  if (r < 0)
    return r;
  if (count)
    return -ENOTEMPTY;
  k = sval(name);
  be64(key, id);
  r = store_tdel(t, DB_TAGS, &k);
  if (r == 0)
    r = store_tdel(t, DB_TAGIDS, &ik);
  return store_txn_fail(t, r);
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
    return store_txn_fail(t, -ENOMEM);
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
  r = store_tget(t, DB_TAGMEM, &a, &v);
  if (r < 0 && r != -ENOENT)
    return r;
  if ((r == 0) == add)
    return 0;  /* already as wanted */
  if (add) {
    r = store_tput(t, DB_TAGMEM, &a, &e, 0);
    if (r == 0)
      r = store_tput(t, DB_SAMPLETAGS, &b, &e, 0);
  } else {
    r = store_tdel(t, DB_TAGMEM, &a);
    if (r == 0)
      r = store_tdel(t, DB_SAMPLETAGS, &b);
  }
  if (r == 0)
    r = tag_bump(t, tag_id, add ? 1 : -1);
  return r < 0 ? store_txn_fail(t, r == -ENOENT ? -EIO : r) : 1;
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
  r = store_tget(t, DB_TAGMEM, &a, &v);
  return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int store_sample_tags(struct store_txn *t, uint64_t sample_id,
                      int (*fn)(uint64_t tag_id, void *ud), void *ud)
{
  struct store_cursor c;
  uint8_t key[16];
  int r = 0, rc;

  TXN_GUARD(t, false);
  be64(key, sample_id);
  memset(key + 8, 0, 8);
  r = store_cursor_open(t, DB_SAMPLETAGS, key, 16, 8, &c);
  if (r < 0)
    return store_txn_fail(t, r);
  for (; store_cursor_row(&c) && c.k.mv_size == 16; store_cursor_next(&c)) {
    r = fn(rd_be64((const uint8_t *)c.k.mv_data + 8), ud);
    if (r)
      break;
  }
  rc = store_cursor_close(&c);
  if (rc < 0)
    return store_txn_fail(t, rc);
  return r < 0 ? r : 0;
}

int store_iter_tag(struct store_iter *it, uint64_t tag_id, uint64_t from_id,
                   uint64_t *ret_sample_id)
{
  uint8_t key[16];
  MDB_val k, v;
  int r;

  be64(key, tag_id);
  be64(key + 8, from_id);
  r = store_iter_seek(it, DB_TAGMEM, key, 16, &k, &v);
  if (r < 0)
    return r;
  if (k.mv_size < 8 || memcmp(k.mv_data, key, 8) != 0)
    return -ENOENT;
  /* Callers continue from the id + 1: an id that cannot advance is
   * damage, not a member. */
  if (k.mv_size != 16 ||
      rd_be64((const uint8_t *)k.mv_data + 8) < from_id ||
      rd_be64((const uint8_t *)k.mv_data + 8) == UINT64_MAX)
    return store_txn_fail(it->t, -EIO);
  *ret_sample_id = rd_be64((const uint8_t *)k.mv_data + 8);
  return 0;
}

int store_iter_tags(struct store_iter *it, uint64_t from_id,
                    uint64_t *ret_tag_id, const char **ret_name)
{
  uint8_t key[8];
  MDB_val k, v;
  int r;

  be64(key, from_id);
  r = store_iter_seek(it, DB_TAGIDS, key, 8, &k, &v);
  if (r < 0)
    return r;
  if (k.mv_size != 8 || rd_be64(k.mv_data) < from_id ||
      rd_be64(k.mv_data) == UINT64_MAX)
    return store_txn_fail(it->t, -EIO);
  *ret_tag_id = rd_be64(k.mv_data);
  return store_txn_fail(it->t, store_tag_decode(&v, ret_name, NULL, NULL));
}
