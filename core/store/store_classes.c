/* store_classes.c - the class tables (see store.h): `classes` (name ->
 * u32 id) and `classids` (be32 id -> name NUL [supercategory NUL]), with
 * the id counter `next:class` in `meta`.  Ids are handed out once and
 * never reused, so boxes (which store the id) follow a rename.
 *
 * The user's gestures on classes, with their precise refusals, are
 * classes.c's; this file keeps the tables consistent for every caller.
 */
#include "store_i.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
  r = store_tget(t, DB_CLASSES, &k, &v);
  if (r == 0) {
    if (v.mv_size != 4)
      return store_txn_fail(t, -EIO);
    memcpy(ret_id, v.mv_data, 4);
    return 0;
  }
  if (r != -ENOENT || !create)
    return r;
  r = store_next_id(t, "next:class", &id);
  if (r < 0)
    return r;
  if (id > UINT32_MAX)
    return store_txn_fail(t, -ENOSPC);
  *ret_id = (uint32_t)id;
  v.mv_size = 4;
  v.mv_data = ret_id;
  r = store_tput(t, DB_CLASSES, &k, &v, 0);
  be32(key, (uint32_t)id);
  k.mv_size = 4;
  k.mv_data = key;
  /* Stored with its NUL so store_class_name() can lend it as a C string. */
  v.mv_size = strlen(name) + 1;
  v.mv_data = (void *)name;
  if (r == 0)
    r = store_tput(t, DB_CLASSIDS, &k, &v, 0);
  return r;
}

/* One class by id, strings borrowed; -ENOENT when there is none. */
static int class_get(struct store_txn *t, uint32_t id, struct store_class *ret)
{
  uint8_t key[4];
  MDB_val k = { 4, key }, v;
  const char *p;
  size_t nl;
  int r;

  TXN_GUARD(t, false);
  be32(key, id);
  r = store_tget(t, DB_CLASSIDS, &k, &v);
  if (r < 0)
    return r;
  p = v.mv_data;
  if (v.mv_size == 0 || p[v.mv_size - 1] != '\0')
    return store_txn_fail(t, -EIO);
  nl = strlen(p);
  ret->id = id;
  ret->name = p;
  /* Version 2 values may carry the supercategory after the name. */
  ret->supercategory = nl + 1 < v.mv_size ? p + nl + 1 : "";
  return 0;
}

int store_class_name(struct store_txn *t, uint32_t id, const char **ret_name)
{
  struct store_class c = { 0 };
  int r = class_get(t, id, &c);

  if (r == 0)
    *ret_name = c.name;
  return r;
}

int store_class_count(struct store_txn *t, uint32_t *ret_n)
{
  uint64_t v = 0;
  int r;

  TXN_GUARD(t, false);
  r = store_u64_get(t->txn, t->s->dbi[DB_META], "next:class", &v);
  if (r < 0 && r != -ENOENT)
    return store_txn_fail(t, r);
  *ret_n = v ? (uint32_t)(v - 1) : 0;
  return 0;
}

/* Box count of one class over every field (the counts table is small: one
 * entry per field and class in use). */
int store_class_boxes(struct store_txn *t, uint32_t id, uint64_t *ret)
{
  struct store_cursor c;
  int r;

  TXN_GUARD(t, false);
  *ret = 0;
  r = store_cursor_open(t, DB_COUNTS, NULL, 0, 0, &c);
  if (r < 0)
    return store_txn_fail(t, r);
  for (; store_cursor_row(&c); store_cursor_next(&c)) {
    uint64_t cnt;

    if (c.k.mv_size < 6 || c.v.mv_size != 8 ||
        rd_be32((const uint8_t *)c.k.mv_data + c.k.mv_size - 4) != id)
      continue;
    memcpy(&cnt, c.v.mv_data, 8);
    *ret += cnt;
  }
  r = store_cursor_close(&c);
  return r < 0 ? store_txn_fail(t, r) : 0;
}

int store_classes_each(struct store_txn *t,
                       int (*fn)(const struct store_class *c, void *ud),
                       void *ud)
{
  struct store_cursor c;
  int r, rc;

  TXN_GUARD(t, false);
  r = store_cursor_open(t, DB_CLASSIDS, NULL, 0, 0, &c);
  if (r < 0)
    return store_txn_fail(t, r);
  for (; store_cursor_row(&c); store_cursor_next(&c)) {
    struct store_class sc;
    const char *p = c.v.mv_data;
    size_t nl;

    if (c.k.mv_size != 4 || c.v.mv_size == 0 || p[c.v.mv_size - 1] != '\0') {
      r = store_txn_fail(t, -EIO);
      break;
    }
    nl = strlen(p);
    sc.id = rd_be32(c.k.mv_data);
    sc.name = p;
    sc.supercategory = nl + 1 < c.v.mv_size ? p + nl + 1 : "";
    r = fn(&sc, ud);
    if (r)
      break;
  }
  rc = store_cursor_close(&c);
  if (r == 0 && rc < 0)
    return store_txn_fail(t, rc);
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
  r = store_tput(t, DB_CLASSES, &k, &v, 0);
  be32(key, id);
  k.mv_size = 4;
  k.mv_data = key;
  memcpy(val, name, nl + 1);
  if (sl)
    memcpy(val + nl + 1, super, sl + 1);
  v.mv_size = nl + 1 + (sl ? sl + 1 : 0);
  v.mv_data = val;
  if (r == 0)
    r = store_tput(t, DB_CLASSIDS, &k, &v, 0);
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
  r = class_get(t, id, &old);
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
    return store_txn_fail(t, r);
  r = store_u64_get(t->txn, t->s->dbi[DB_META], "next:class", &next);
  if (r < 0 && r != -ENOENT)
    return store_txn_fail(t, r);
  if (next <= id)
    r = store_u64_put(t->txn, t->s->dbi[DB_META], "next:class",
                      (uint64_t)id + 1);
  else
    r = 0;
  return store_txn_fail(t, r);
}

/* The rename counter (store_class_renames): a host-order u64 record. */
#define RENAMES_NS "classes"
#define RENAMES_KEY "renames"

static int count_rename(struct store_txn *t)
{
  uint64_t n = 0;
  int r = store_class_renames(t, &n);

  n++;
  return r < 0 ? r : store_rec_put(t, RENAMES_NS, RENAMES_KEY,
                                   sizeof(RENAMES_KEY) - 1, &n, sizeof(n));
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
  r = class_get(t, id, &sc);
  if (r < 0)
    return store_txn_fail(t, r == -ENOENT ? -EIO : r);
  snprintf(super, sizeof(super), "%s", sc.supercategory);  /* borrowed */
  k = sval(from);
  r = store_tdel(t, DB_CLASSES, &k);
  if (r == 0)
    r = class_write(t, to, id, super);
  if (r == 0)
    r = count_rename(t);
  return store_txn_fail(t, r);
}

int store_class_renames(struct store_txn *t, uint64_t *ret)
{
  const void *v;
  size_t n;
  int r;

  TXN_GUARD(t, false);
  *ret = 0;
  r = store_rec_get(t, RENAMES_NS, RENAMES_KEY, sizeof(RENAMES_KEY) - 1, &v,
                    &n);
  if (r == -ENOENT)
    return 0;
  if (r == 0 && n == sizeof(*ret))
    memcpy(ret, v, sizeof(*ret));
  return r;
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
    return store_txn_fail(t, store_errno(rc));
  rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  mdb_cursor_close(c);
  if (rc == 0 && k.mv_size == 4 && rd_be32(k.mv_data) >= next)
    return -EBUSY;
  if (rc && rc != MDB_NOTFOUND)
    return store_txn_fail(t, store_errno(rc));
  return store_txn_fail(t, store_u64_put(t->txn, t->s->dbi[DB_META],
                                         "next:class", next));
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
  r = store_tdel(t, DB_CLASSES, &k);
  be32(key, id);
  k.mv_size = 4;
  k.mv_data = key;
  if (r == 0)
    r = store_tdel(t, DB_CLASSIDS, &k);
  return store_txn_fail(t, r);
}

/* A classids record: be32 id (not 0) -> name NUL [supercategory NUL],
 * both valid class names, nothing else. */
bool store_classid_ok(const MDB_val *k, const MDB_val *v)
{
  const char *p = v->mv_data;
  size_t nl;

  if (k->mv_size != 4 || rd_be32(k->mv_data) == 0 || v->mv_size < 2 ||
      p[v->mv_size - 1] != '\0')
    return false;
  nl = strlen(p);
  if (!labels_class_name_valid(p))
    return false;
  if (nl + 1 == v->mv_size)
    return true;
  return strlen(p + nl + 1) == v->mv_size - nl - 2 &&
         labels_class_name_valid(p + nl + 1);
}
