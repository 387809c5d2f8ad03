/* store_i.h - what the files of the store module share; not for callers
 * (they use store.h).  This is the only header that includes lmdb.h, and
 * only the store's own files include it.
 *
 * The module, bottom to top (a file calls only files above it in this
 * list, so there is no dependency cycle between them):
 *
 *   store_damage.c   the words for a damaged store: why an open failed,
 *                    the first damage met, the fault guard of the map,
 *                    the size checks on open
 *   store.c          the environment, open and close, the tables (DBIs),
 *                    transactions with their sticky error, errno mapping,
 *                    the row primitives, the cursor walk, the iterator
 *                    base, settings, the dataset version
 *   store_records.c  namespaced records owned by other modules
 *   store_samples.c  the sample record, its name and path indexes,
 *                    sample iteration
 *   store_tags.c     tags, memberships (both directions), tag iteration
 *   store_classes.c  the class tables (the user gestures on them are
 *                    classes.c's)
 *   store_labels.c   label fields and the per-class box counts
 *   store_delete.c   deleting a sample with its labels and memberships
 *   store_check.c    the deep check and repair (`curate check`)
 *
 * Tables.  All DB_MAX tables are opened (created when writable) once, in
 * store_open()'s startup transaction, which commits before store_open()
 * returns; after that struct store's dbi[] never changes until
 * store_close(), so every thread reads it without a lock.  No table is
 * opened lazily.
 *
 * Locks and owners, field by field:
 *
 *   struct store               shared by the threads of a process
 *     env, dbi[], dir          set in store_open(), read-only until
 *                              store_close(); no lock
 *     guard                    the slot of the fault guard: written in
 *                              store_open()/store_close() only; the slot
 *                              table itself is guarded by guard_lock
 *                              (store_damage.c)
 *     ntxn                     open transactions (atomic): store_close()
 *                              asserts there are none
 *     writers                  open write transactions (atomic): LMDB's
 *                              writer mutex keeps it at 0 or 1, which
 *                              store_txn_begin() asserts
 *
 *   struct store_txn           owned by the thread using it (MDB_NOTLS
 *                              lets it move between threads, never be
 *                              used by two at once); no lock
 *     err                      the sticky error: set once by
 *                              store_txn_fail(), read by every call
 *     write                    fixed at begin; every write primitive
 *                              asserts it
 *     dirty                    set by any write; the commit bumps the
 *                              dataset version then
 *
 *   struct store_iter          owned like the transaction it reads
 *
 * Thread-local: what filled up (store_full_hint()) and why an open failed
 * (store_open_error()).  Process-wide: the first damage text
 * (damage_lock) and the fault guard slots (guard_lock; the signal handler
 * reads them with atomics only).
 */
#ifndef CURATE_STORE_I_H
#define CURATE_STORE_I_H

#include "store.h"

#include <lmdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
  DB_META, DB_SAMPLES, DB_NAMES, DB_PATHS, DB_TAGS, DB_TAGIDS, DB_TAGMEM,
  DB_SAMPLETAGS, DB_CLASSES, DB_CLASSIDS, DB_LABELS, DB_COUNTS, DB_RECORDS,
  DB_MAX
};

/* The LMDB name of each table, in DB_* order. */
extern const char *const store_db_names[DB_MAX];

struct store {
  MDB_env *env;
  MDB_dbi dbi[DB_MAX];
  char *dir;
  int guard;               /* slot of the fault guard (-1: none) */
  _Atomic unsigned ntxn;   /* open transactions */
  _Atomic unsigned writers;/* open write transactions: 0 or 1 */
};

struct store_txn {
  struct store *s;
  MDB_txn *txn;
  int err;
  bool write;
  bool dirty;     /* something was written: bump the dataset version */
};

/* One cursor per table, opened at first use, so a listing of N rows is
 * one seek per row on a warm cursor. */
struct store_iter {
  struct store_txn *t;
  MDB_cursor *cur[DB_MAX];
};

/* Every operation starts with this: a failed transaction does nothing more,
 * and writes on a read transaction are a programming error (-EROFS). */
#define TXN_GUARD(t, needs_write)                                        \
  do {                                                                   \
    if ((t)->err)                                                        \
      return (t)->err;                                                   \
    if ((needs_write) && !(t)->write)                                    \
      return -EROFS;                                                     \
  } while (0)

/* ---- keys: big-endian, so LMDB's byte order is numeric order ---- */

static inline void be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static inline uint64_t rd_be64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

static inline void be32(uint8_t *p, uint32_t v)
{
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static inline uint32_t rd_be32(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

/* A C string as an LMDB key or value, without its NUL. */
static inline MDB_val sval(const char *s)
{
  MDB_val v = { strlen(s), (void *)s };
  return v;
}

/* ---- store_damage.c ---- */

/* Records the first damage this process met (store_damage()) and logs it
 * once. */
void store_note_damage(const struct store *s, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
/* Sets this thread's store_open_error() text; _clear empties it. */
void store_open_detail(const char *fmt, ...)
  __attribute__((format(printf, 1, 2)));
void store_open_detail_clear(void);
/* The open_detail of an LMDB code that means a damaged or unmappable
 * file; other codes leave it as it is. */
void store_open_detail_rc(const char *dir, int rc);
/* The size checks on open: before mdb_env_open (a data.mdb shorter than
 * two meta pages is damage) and after (the file holds every page its meta
 * page counts).  0 or -errno with the detail set. */
int store_size_before_open(const char *dir);
int store_size_after_open(struct store *s);
/* Guards the map of an open store: a fault inside it ends the process
 * with a message naming the store.  Returns the slot, or -1 (unguarded). */
int store_guard_add(struct store *s);
void store_guard_del(int slot);
/* LMDB's assertion callback: ends the process the same way. */
void store_lmdb_assert(MDB_env *env, const char *msg);

/* ---- store.c: errors and row primitives ---- */

/* LMDB code (or positive errno) -> negative errno, in one place; notes
 * what filled up for store_full_hint(). */
int store_errno(int rc);
/* Records the first error of a transaction and returns the sticky error
 * (or r when there is none: -ENOENT is never sticky). */
int store_txn_fail(struct store_txn *t, int r);
/* A record that does not decode: named, then the transaction fails. */
int store_bad_record(struct store_txn *t, const char *table, uint64_t id);

/* 8-byte host-order counters of the meta table, on a raw LMDB
 * transaction (also used before the store_txn exists). */
int store_u64_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *ret);
int store_u64_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val);

/* Row get/put/del on table db: -ENOENT and -EEXIST are answers, any other
 * failure is sticky.  put and del need a write transaction. */
int store_tget(struct store_txn *t, int db, MDB_val *k, MDB_val *v);
int store_tput(struct store_txn *t, int db, MDB_val *k, MDB_val *v,
               unsigned flags);
int store_tdel(struct store_txn *t, int db, MDB_val *k);
/* Hands out the next id of the meta counter `counter` (ids start at 1). */
int store_next_id(struct store_txn *t, const char *counter, uint64_t *ret);
/* name -> be64 id indexes (names, paths, tags). */
int store_id_lookup(struct store_txn *t, int db, const char *name,
                    uint64_t *ret);
int store_put_index(struct store_txn *t, int db, const char *name,
                    uint64_t id, unsigned flags);

/* ---- store.c: the cursor walk ----
 *
 * Every scan of a table goes through this: it starts at the first key >=
 * seek (the table's first key when seeklen is 0) and visits the rows
 * whose key starts with the first plen bytes of seek:
 *
 *   struct store_cursor c;
 *   for (r = store_cursor_open(t, DB_X, key, 8, 8, &c);
 *        r == 0 && store_cursor_row(&c); store_cursor_next(&c))
 *     ... c.k, c.v ...
 *   rc = store_cursor_close(&c);
 *
 * Callers keep their own policy for an LMDB error met on the way (c.rc
 * has LMDB's code; store_cursor_close() gives it as -errno). */
struct store_cursor {
  struct store_txn *t;
  MDB_cursor *c;
  MDB_val k, v;        /* the current row, borrowed */
  const uint8_t *pre;  /* the prefix every visited key has */
  size_t plen;
  int rc;              /* LMDB's code of the last step: 0 on a row */
  bool deleted;        /* a row was deleted under the cursor */
};

/* 0, or -errno when the cursor did not open (c->rc has the code; the
 * walk then visits nothing and close is still fine). */
int store_cursor_open(struct store_txn *t, int db, const void *seek,
                      size_t seeklen, size_t plen, struct store_cursor *c);
/* Whether the cursor is on a row with the prefix. */
bool store_cursor_row(const struct store_cursor *c);
/* Moves to the next row. */
void store_cursor_next(struct store_cursor *c);
/* Deletes the current row and moves to the one after it (write
 * transactions only). */
void store_cursor_del(struct store_cursor *c);
/* Closes; returns 0 when the walk ended at a row (the caller stopped), at
 * the end of the prefix or of the table, else LMDB's error as -errno
 * (not recorded in the transaction). */
int store_cursor_close(struct store_cursor *c);

/* Positions the iterator's cursor of `db` at the first key >= key[0..klen)
 * and returns it in *k (*v its value): 0, -ENOENT past the end, or the
 * transaction's error. */
int store_iter_seek(struct store_iter *it, int db, const uint8_t *key,
                    size_t klen, MDB_val *k, MDB_val *v);

/* ---- record codecs and helpers of the other files ---- */

/* store_samples.c: decodes a sample record; the key is the authority for
 * the id (-EIO when they disagree). */
int store_sample_decode(const MDB_val *k, const MDB_val *v,
                        struct sample *s);
/* store_tags.c: a tagids value: u64 count, i64 mtime, name NUL. */
int store_tag_decode(const MDB_val *v, const char **name, uint64_t *count,
                     int64_t *mtime);
/* store_classes.c: whether a classids row is well formed. */
bool store_classid_ok(const MDB_val *k, const MDB_val *v);
/* store_labels.c: the counts key "field NUL be32 class" into out (room
 * for LABELS_MAX_FIELD_NAME + 5 bytes); its length or -EINVAL. */
int store_count_key(const char *field, uint32_t class_id, uint8_t *out);
/* store_labels.c: deletes every label field of a sample, taking its boxes
 * off the counts. */
int store_labels_drop(struct store_txn *t, uint64_t sample_id);

#endif
