/* store_delete.c - deleting a sample with everything that points at it
 * (see store.h): its tag memberships (both directions, and each tag's
 * member count), its label fields (and their box counts), its records in
 * the namespaces that belong to samples, its record and its name and path
 * index entries, all in the caller's transaction.
 *
 * It sits above samples, tags and labels in the store module (store_i.h),
 * because it is the one operation that reaches into all three.
 */
#include "store_i.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The first tag of the sample whose be64 id is key: 0 with *ret_tag,
 * -ENOENT when it has none (or the walk cannot read on), or the cursor's
 * error. */
static int first_tag(struct store_txn *t, const uint8_t key[8],
                     uint64_t *ret_tag)
{
  struct store_cursor c;
  int r = store_cursor_open(t, DB_SAMPLETAGS, key, 8, 8, &c);

  if (r < 0)
    return r;
  r = -ENOENT;
  if (store_cursor_row(&c) && c.k.mv_size == 16) {
    *ret_tag = rd_be64((const uint8_t *)c.k.mv_data + 8);
    r = 0;
  }
  store_cursor_close(&c);
  return r;
}

/* Memberships first: store_tag_remove() deletes sampletags keys itself,
 * so each round looks up the first remaining tag afresh rather than
 * deleting under a cursor; a key it cannot remove (damage) is dropped
 * here, so every round removes one. */
static int drop_memberships(struct store_txn *t, uint64_t id)
{
  uint8_t key[8];
  uint64_t tid;
  int r;

  be64(key, id);
  while ((r = first_tag(t, key, &tid)) == 0) {
    uint64_t again;
    r = store_tag_remove(t, tid, id);
    if (r < 0)
      return r;
    /* A damaged store: a sampletags key without its tagmem half, which
     * store_tag_remove() finds nothing to remove for.  Drop the key
     * itself, so the loop always advances. */
    if (first_tag(t, key, &again) == 0 && again == tid) {
      uint8_t k16[16];
      MDB_val k = { 16, k16 };
      be64(k16, id);
      be64(k16 + 8, tid);
      if ((r = store_tdel(t, DB_SAMPLETAGS, &k)) < 0)
        return r;
    }
  }
  return r == -ENOENT ? 0 : r;
}

/* Deletes an index entry that may be absent. */
static int drop_index(struct store_txn *t, int db, const char *name)
{
  MDB_val k = sval(name);
  int r = store_tdel(t, db, &k);

  return r == -ENOENT ? 0 : r;
}

/* Records namespaces keyed by sample id first (store.h).  A module above
 * the store owns what they hold, but the store cannot call into it (the
 * layers, docs/CODE-STYLE.md), and a hook it registered would be missed by
 * any program that deletes without having set it up; the name and the
 * prefix rule are all deleting needs.  A prefix of the 8 id bytes takes
 * every record of the sample: one per label field and the field-less one
 * of earlier builds. */
static const char *const sample_ns[] = { STORE_NS_COCO_IMAGE };

static int drop_sample_records(struct store_txn *t, const uint8_t key[8])
{
  int r = 0;

  for (size_t i = 0; r == 0 && i < ARRAY_SIZE(sample_ns); i++)
    r = store_rec_each(t, sample_ns[i], key, 8, true, NULL, NULL);
  return r;
}

int store_sample_delete(struct store_txn *t, uint64_t id)
{
  struct sample s;
  char *name, *relpath;
  uint8_t key[8];
  MDB_val k = { 8, key };
  int r;

  TXN_GUARD(t, true);
  r = store_sample_get(t, id, &s);
  if (r < 0)
    return r;
  /* Copies: the writes below may move the record's pages. */
  name = strdup(s.name);
  relpath = strdup(s.relpath);
  if (!name || !relpath) {
    free(name);
    free(relpath);
    return store_txn_fail(t, -ENOMEM);
  }
  be64(key, id);
  r = drop_memberships(t, id);
  if (r == 0)
    r = store_labels_drop(t, id);
  if (r == 0)
    r = drop_sample_records(t, key);
  if (r == 0)
    r = store_tdel(t, DB_SAMPLES, &k);
  if (r == 0)
    r = drop_index(t, DB_NAMES, name);
  if (r == 0)
    r = drop_index(t, DB_PATHS, relpath);
  free(name);
  free(relpath);
  return store_txn_fail(t, r);
}
