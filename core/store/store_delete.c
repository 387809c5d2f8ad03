/* store_delete.c - deleting a sample with everything that points at it
 * (see store.h): its tag memberships (both directions, and each tag's
 * member count), its label fields (and their box counts), its record and
 * its name and path index entries, all in the caller's transaction.
 *
 * It sits above samples, tags and labels in the store module (store_i.h),
 * because it is the one operation that reaches into all three.
 */
#include "store_i.h"

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
 * deleting under a cursor. */
static int drop_memberships(struct store_txn *t, uint64_t id)
{
  uint8_t key[8];
  uint64_t tid;
  int r;

  be64(key, id);
  while ((r = first_tag(t, key, &tid)) == 0) {
    r = store_tag_remove(t, tid, id);
    if (r < 0)
      return r;
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
    r = store_tdel(t, DB_SAMPLES, &k);
  if (r == 0)
    r = drop_index(t, DB_NAMES, name);
  if (r == 0)
    r = drop_index(t, DB_PATHS, relpath);
  free(name);
  free(relpath);
  return store_txn_fail(t, r);
}
