/* store_labels.c - label fields and box counts (see store.h): `labels`
 * (be64 sample id, field name -> the field's encoded boxes, labels.h) and
 * `counts` (field NUL be32 class -> u64 boxes).  Every change of a field
 * moves the counts and the sample's labels_version in the same
 * transaction, so status and the check read the counts without a scan.
 */
#include "store_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int store_count_key(const char *field, uint32_t class_id, uint8_t *out)
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
  int kl = store_count_key(field, class_id, key);
  MDB_val k = { (size_t)kl, key }, v;
  uint64_t c = 0;
  int r;

  if (kl < 0)
    return store_txn_fail(t, kl);
  r = store_tget(t, DB_COUNTS, &k, &v);
  if (r == 0 && v.mv_size == 8)
    memcpy(&c, v.mv_data, 8);
  else if (r < 0 && r != -ENOENT)
    return r;
  c = (uint64_t)((int64_t)c + delta);
  if (c == 0)
    return r == 0 ? store_tdel(t, DB_COUNTS, &k) : 0;
  v.mv_size = 8;
  v.mv_data = &c;
  return store_tput(t, DB_COUNTS, &k, &v, 0);
}

int store_count_get(struct store_txn *t, const char *field, uint32_t class_id,
                    uint64_t *ret)
{
  uint8_t key[LABELS_MAX_FIELD_NAME + 8];
  int kl = store_count_key(field, class_id, key);
  MDB_val k = { (size_t)kl, key }, v;
  int r;

  TXN_GUARD(t, false);
  if (kl < 0)
    return kl;
  *ret = 0;
  r = store_tget(t, DB_COUNTS, &k, &v);
  if (r == 0 && v.mv_size == 8)
    memcpy(ret, v.mv_data, 8);
  return r == -ENOENT ? 0 : r;
}

int store_counts_each(struct store_txn *t,
                      int (*fn)(const char *field, uint32_t class_id,
                                uint64_t count, void *ud),
                      void *ud)
{
  struct store_cursor c;
  int r;

  TXN_GUARD(t, false);
  r = store_cursor_open(t, DB_COUNTS, NULL, 0, 0, &c);
  if (r < 0)
    return store_txn_fail(t, r);
  for (; store_cursor_row(&c); store_cursor_next(&c)) {
    char field[LABELS_MAX_FIELD_NAME + 1];
    size_t fl = c.k.mv_size - 5;
    uint64_t cnt;

    if (c.k.mv_size < 6 || fl > LABELS_MAX_FIELD_NAME || c.v.mv_size != 8)
      continue;
    memcpy(field, c.k.mv_data, fl);
    field[fl] = '\0';
    memcpy(&cnt, c.v.mv_data, 8);
    r = fn(field, rd_be32((const uint8_t *)c.k.mv_data + fl + 1), cnt, ud);
    if (r)
      break;
  }
  /* A row LMDB cannot read ends the list (status shows what it has). */
  store_cursor_close(&c);
  return r < 0 ? r : 0;
}

/* Reads one stored field (key: be64 sample id, field name) into ret, with
 * each box's class name copied in. */
static int field_read(struct store_txn *t, struct labels *ret,
                      const MDB_val *k, const MDB_val *v)
{
  char field[LABELS_MAX_FIELD_NAME + 1];
  size_t fl = k->mv_size - 8;
  struct label_field *f;
  int r;

  if (fl > LABELS_MAX_FIELD_NAME)
    return -EIO;
  memcpy(field, (const char *)k->mv_data + 8, fl);
  field[fl] = '\0';
  f = labels_field(ret, field, true);
  if (!f)
    return -ENOMEM;
  r = labels_field_decode(v->mv_data, v->mv_size, f);
  for (size_t i = 0; r == 0 && i < f->n; i++) {
    const char *name;
    r = store_class_name(t, f->d[i].class_id, &name);
    if (r == 0) {
      f->d[i].label = strdup(name);
      if (!f->d[i].label)
        r = -ENOMEM;
    }
  }
  return r;
}

int store_labels_get(struct store_txn *t, uint64_t sample_id,
                     struct labels *ret)
{
  struct store_cursor c;
  uint8_t pre[8];
  int rc, r = 0;

  labels_init(ret);
  TXN_GUARD(t, false);
  be64(pre, sample_id);
  r = store_cursor_open(t, DB_LABELS, pre, 8, 8, &c);
  if (r < 0)
    return store_txn_fail(t, r);
  while (r == 0 && store_cursor_row(&c) && c.k.mv_size > 8) {
    r = field_read(t, ret, &c.k, &c.v);
    if (r == 0)
      store_cursor_next(&c);
  }
  rc = store_cursor_close(&c);
  if (r == 0 && rc < 0)
    r = rc;
  if (r < 0) {
    labels_free(ret);
    if (r == -EBADMSG || r == -ENOENT || r == -EIO)
      return store_bad_record(t, "labels", sample_id);
    return store_txn_fail(t, r);
  }
  return 0;
}

/* Takes the boxes of one stored field off the counts. */
static int drop_label_counts(struct store_txn *t, const MDB_val *k,
                             const MDB_val *v)
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
  labels_field_clear(&f);
  return r == -EBADMSG ? -EIO : r;
}

int store_labels_drop(struct store_txn *t, uint64_t sample_id)
{
  struct store_cursor c;
  uint8_t pre[8];
  int r, rc;

  be64(pre, sample_id);
  r = store_cursor_open(t, DB_LABELS, pre, 8, 8, &c);
  if (r < 0)
    return store_txn_fail(t, r);
  t->dirty = true;
  while (store_cursor_row(&c)) {
    r = drop_label_counts(t, &c.k, &c.v);
    if (r < 0)
      break;
    store_cursor_del(&c);
  }
  rc = store_cursor_close(&c);
  if (r < 0)
    return store_txn_fail(t, r);
  return rc < 0 ? store_txn_fail(t, rc) : 0;
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
  r = store_labels_drop(t, sample_id);
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
        r = store_next_id(t, "next:label", &d->id);
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
    r = store_tput(t, DB_LABELS, &k, &v, 0);
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
  return store_txn_fail(t, r);
}
