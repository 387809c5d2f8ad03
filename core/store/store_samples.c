/* store_samples.c - the sample record and its two indexes: `samples`
 * (be64 id -> record), `names` and `paths` (string -> be64 id), and the
 * sample iterator (see store.h; byte layout in docs/STORE-FORMAT.md).
 *
 * Names and paths are stable: a replaced record keeps the stored ones, a
 * taken name gets a "~<id>" suffix.  Deleting a sample reaches into tags
 * and labels, so it lives above them, in store_delete.c.
 */
#include "store_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_REC_VERSION 1
#define SAMPLE_REC_FIXED 72

/* Decodes a sample record.  The key is the authority for the id: a record
 * whose id field disagrees with its key is damage (-EIO), so iterators
 * that continue from "id + 1" always advance. */
int store_sample_decode(const MDB_val *k, const MDB_val *v,
                        struct sample *s)
{
  const uint8_t *p = v->mv_data;
  uint64_t kid;
  uint16_t nlen;
  size_t plen;

  if (k->mv_size != 8 || v->mv_size < SAMPLE_REC_FIXED + 2 ||
      p[0] != SAMPLE_REC_VERSION)
    return -EIO;
  kid = rd_be64(k->mv_data);
  memset(s, 0, sizeof(*s));
  s->flags = p[1];
  s->precision = p[2];
  s->components = p[3];
  s->orientation = p[4];
  s->format = p[7];
  memcpy(&s->id, p + 8, 8);
  memcpy(&s->size, p + 16, 8);
  memcpy(&s->mtime_ns, p + 24, 8);
  memcpy(&s->width, p + 32, 4);
  memcpy(&s->height, p + 36, 4);
  memcpy(s->hash, p + 40, 16);
  memcpy(&s->labels_version, p + 56, 8);
  memcpy(&s->labels_mtime_ns, p + 64, 8);
  memcpy(&nlen, p + 5, 2);
  if (s->id != kid || kid == 0 || kid == UINT64_MAX)
    return -EIO;
  if (nlen == 0 || (size_t)nlen + 2 > v->mv_size - SAMPLE_REC_FIXED)
    return -EIO;
  plen = v->mv_size - SAMPLE_REC_FIXED - nlen - 2;
  s->name = (const char *)p + SAMPLE_REC_FIXED;
  s->relpath = s->name + nlen + 1;
  /* Exactly one NUL at the end of each string. */
  if (plen == 0 || memchr(s->name, 0, nlen + 1) != s->name + nlen ||
      memchr(s->relpath, 0, plen + 1) != s->relpath + plen)
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
  fixed[7] = s->format;
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
  r = store_tget(t, DB_SAMPLES, &k, &v);
  if (r < 0)
    return r;
  if (store_sample_decode(&k, &v, ret) < 0)
    return store_bad_record(t, "sample", id);
  return 0;
}

int store_sample_by_name(struct store_txn *t, const char *name,
                         struct sample *ret)
{
  uint64_t id;
  int r;

  TXN_GUARD(t, false);
  r = store_id_lookup(t, DB_NAMES, name, &id);
  return r < 0 ? r : store_sample_get(t, id, ret);
}

int store_sample_by_path(struct store_txn *t, const char *relpath,
                         struct sample *ret)
{
  uint64_t id;
  int r;

  TXN_GUARD(t, false);
  r = store_id_lookup(t, DB_PATHS, relpath, &id);
  return r < 0 ? r : store_sample_get(t, id, ret);
}

/* A new sample's name when base is taken: "<base>~<id>", unique and
 * stable; when another sample holds that already (its file was named so),
 * the first free "<base>~<id>~<k>", k = 2, 3 ..., so that one such file
 * never fails a whole import.  The same store state gives the same name.
 * Indexes it for id; *ret (owned) is the name, also on failure. */
static int put_suffixed_name(struct store_txn *t, const char *base,
                             uint64_t id, char **ret)
{
  size_t n = strlen(base) + 48;
  int r;

  *ret = malloc(n);
  if (!*ret)
    return -ENOMEM;
  snprintf(*ret, n, "%s~%llu", base, (unsigned long long)id);
  r = store_put_index(t, DB_NAMES, *ret, id, MDB_NOOVERWRITE);
  for (unsigned k = 2; r == -EEXIST && k < 100000; k++) {
    snprintf(*ret, n, "%s~%llu~%u", base, (unsigned long long)id, k);
    r = store_put_index(t, DB_NAMES, *ret, id, MDB_NOOVERWRITE);
  }
  return r;
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
    if (store_id_lookup(t, DB_PATHS, in->relpath, &existing) == 0) {
      r = -EEXIST;
      goto out;
    }
    r = store_next_id(t, "next:sample", &s.id);
    if (r < 0)
      goto out;
    r = store_put_index(t, DB_NAMES, in->name, s.id, MDB_NOOVERWRITE);
    if (r == -EEXIST) {
      r = put_suffixed_name(t, in->name, s.id, &name);
      s.name = name;
    }
    if (r < 0)
      goto out;
    r = store_put_index(t, DB_PATHS, in->relpath, s.id, 0);
    if (r < 0)
      goto out;
  }
  r = sample_encode(&s, &b);
  if (r < 0)
    goto out;
  be64(key, s.id);
  v.mv_size = b.len;
  v.mv_data = b.data;
  r = store_tput(t, DB_SAMPLES, &k, &v, 0);
  if (r == 0 && ret_id)
    *ret_id = s.id;
out:
  free(name);
  free(relpath);
  buf_free(&b);
  return store_txn_fail(t, r);
}

int store_sample_count(struct store_txn *t, uint64_t *ret)
{
  MDB_stat st;
  int rc;

  TXN_GUARD(t, false);
  rc = mdb_stat(t->txn, t->s->dbi[DB_SAMPLES], &st);
  if (rc)
    return store_txn_fail(t, store_errno(rc));
  *ret = st.ms_entries;
  return 0;
}

uint64_t store_sample_total(struct store *s)
{
  struct store_txn *t;
  uint64_t n = 0;

  if (store_txn_begin(s, false, &t) < 0)
    return 0;
  if (store_sample_count(t, &n) < 0)
    n = 0;
  store_txn_abort(t);
  return n;
}

int store_iter_samples(struct store_iter *it, uint64_t from_id,
                       struct sample *ret)
{
  uint8_t key[8];
  MDB_val k, v;
  int r;

  be64(key, from_id);
  r = store_iter_seek(it, DB_SAMPLES, key, 8, &k, &v);
  if (r < 0)
    return r;
  /* Keys out of order (a damaged page) would send callers backwards. */
  if (k.mv_size != 8 || rd_be64(k.mv_data) < from_id ||
      store_sample_decode(&k, &v, ret) < 0)
    return store_bad_record(it->t, "sample",
                            k.mv_size == 8 ? rd_be64(k.mv_data) : 0);
  return 0;
}
