/* store_records.c - namespaced records whose format another module owns
 * (features, CVAT runs, evaluations, computed views; see store.h).
 *
 * One table, `records`, keyed "<namespace> NUL <key bytes>", so a
 * namespace is a key prefix and its records are one cursor walk.  This
 * file knows nothing of what the values mean.
 */
#include "store_i.h"

#include <errno.h>
#include <string.h>

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
  r = store_tget(t, DB_RECORDS, &k, &v);
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
    return store_txn_fail(t, r == -ENAMETOOLONG ? -EINVAL : r);
  return store_tput(t, DB_RECORDS, &k, &v, 0);
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
  return store_tdel(t, DB_RECORDS, &k);
}

int store_rec_each(struct store_txn *t, const char *ns, const void *prefix,
                   size_t plen, bool del,
                   int (*fn)(const void *key, size_t klen, const void *val,
                             size_t vlen, void *ud),
                   void *ud)
{
  uint8_t kb[STORE_REC_KEY_MAX];
  struct store_cursor c;
  MDB_val k;
  size_t nl = strlen(ns) + 1;
  int r = 0;

  TXN_GUARD(t, del);
  if ((r = rec_key(ns, prefix, plen, kb, &k)) < 0)
    return r;
  r = store_cursor_open(t, DB_RECORDS, kb, k.mv_size, k.mv_size, &c);
  if (r < 0)
    return store_txn_fail(t, r);
  if (del)
    t->dirty = true;
  while (store_cursor_row(&c)) {
    if (fn) {
      r = fn((const uint8_t *)c.k.mv_data + nl, c.k.mv_size - nl, c.v.mv_data,
             c.v.mv_size, ud);
      if (r)
        break;
    }
    if (del)
      store_cursor_del(&c);
    else
      store_cursor_next(&c);
  }
  if (r) {
    store_cursor_close(&c);
    return r < 0 ? store_txn_fail(t, r) : r;
  }
  r = store_cursor_close(&c);
  return r < 0 ? store_txn_fail(t, r) : 0;
}

void store_key_u64(uint8_t out[8], uint64_t v)
{
  be64(out, v);
}

uint64_t store_key_rd_u64(const void *p)
{
  return rd_be64(p);
}
