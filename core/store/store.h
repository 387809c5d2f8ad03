/* store.h - the dataset store: one LMDB environment per dataset.
 *
 * What it holds (see docs/STORE-FORMAT.md for the byte layout): samples
 * (stable id, unique display name, source path relative to the dataset root,
 * size, mtime, image format and properties, content hash), per-sample labels in named
 * fields, classes, tags and their members, settings, and a schema version.
 *
 * Every change happens inside one write transaction (struct store_txn).  A
 * transaction carries a sticky error: after the first failure every further
 * call on it is a no-op returning that error, and store_txn_commit() aborts
 * and returns it.  So a multi-step change either lands whole or not at all,
 * and callers can write straight-line code with one check at the end.
 *
 * Strings inside records returned by *_get functions are BORROWED: they point
 * into LMDB's map and stay valid until the transaction ends.  Functions named
 * *_copy or filling caller structs with "owned" fields say so.
 *
 * Thread-safety: a struct store may be shared by threads; a transaction
 * belongs to the thread that uses it (the environment is opened with
 * MDB_NOTLS, so a read transaction is not tied to a thread, but it must not
 * be used by two threads at once).  One writer at a time: LMDB serialises
 * write transactions.
 *
 * All transactions of a store must be finished before store_close(); a
 * debug build asserts it.
 *
 * This is the only module that includes lmdb.h (through its private
 * store_i.h, which also maps the module's files and says which lock
 * guards each field).
 */
#ifndef CURATE_STORE_H
#define CURATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels.h"

/* 2: classes can be removed (gaps in ids) and carry a supercategory;
 * version 1 stores are upgraded in place at their first writable open. */
#define STORE_SCHEMA_VERSION 2
/* Default LMDB map size: room for well over 1,000,000 samples with labels.
 * The map is sparse; the file only grows with what is stored. */
#define STORE_DEFAULT_MAP_SIZE (64ULL << 30)

/* Longest sample name or relative path the store takes (LMDB keys are at
 * most 511 bytes); longer ones get -ENAMETOOLONG and change nothing. */
#define STORE_PATH_MAX 500

/* Sample flags. */
#define SAMPLE_PROGRESSIVE 0x01u
#define SAMPLE_ARITHMETIC 0x02u
#define SAMPLE_MISSING 0x04u   /* source file vanished at the last import */
#define SAMPLE_HASHED 0x08u    /* content hash is set */

struct store;
struct store_txn;

struct store_opts {
  uint64_t map_size;  /* 0 = STORE_DEFAULT_MAP_SIZE */
  bool readonly;
  bool nosync;        /* skip fsync at commit (tests, bulk loads) */
};

/* A sample record.  `name` and `relpath` are borrowed (see above) when the
 * record came from the store. */
struct sample {
  uint64_t id;
  uint64_t size;
  int64_t mtime_ns;
  uint32_t width, height;
  uint8_t precision;      /* bits per channel: 8 for JPEG; 1..16 */
  uint8_t components;     /* channels: 1 gray, 2 gray+alpha, 3 colour,
                           * 4 RGBA (JPEG: CMYK) */
  uint8_t orientation;    /* EXIF orientation 1..8, 1 when absent */
  uint8_t flags;          /* SAMPLE_* */
  uint8_t format;         /* image format (imgfmt.h enum img_format): 0
                           * JPEG (also every record written before the
                           * field existed), 1 PNG, 2 WebP, 3 TIFF, 4 BMP,
                           * 5 GIF */
  uint8_t hash[16];       /* XXH3-128 of the file bytes, when HASHED */
  uint64_t labels_version;/* bumped by every label change of this sample */
  int64_t labels_mtime_ns;
  const char *name;       /* unique display name (file stem in the mount) */
  const char *relpath;    /* source path relative to the dataset root */
};

/* Opens (creating if needed) the store in directory `dir`.
 * Returns 0 and an owned store in *ret, or -errno (-ENOENT when dir does
 * not exist, -EPROTO when the schema version is newer than this build). */
int store_open(const char *dir, const struct store_opts *opts,
               struct store **ret);
/* After a failed store_open() in this thread: why, in words that name the
 * file and the damage ("…/data.mdb is truncated: …"), or NULL when the
 * errno says it all.  Valid until the next store_open() of the thread. */
const char *store_open_error(void);
/* The first damage any store of this process met (a record that does not
 * decode, a broken page), in words naming the store and the file, or NULL.
 * Tools print it next to their "Input/output error". */
const char *store_damage(void);
/* Closes the store; NULL is fine.  All transactions must be finished. */
void store_close(struct store *s);

/* Begins a transaction.  Read transactions see one consistent snapshot. */
int store_txn_begin(struct store *s, bool write, struct store_txn **ret);
/* Commits (write) or ends (read) the transaction and frees it.  If any call
 * on it failed, aborts instead and returns that error; nothing is changed.
 * -ENOSPC when the map is full. */
int store_txn_commit(struct store_txn *t);
/* After -ENOSPC from a store call of this thread's latest transaction:
 * what filled up (the LMDB map or the disk) and what to do, as one
 * sentence for the log and `status`; NULL if neither did (another limit,
 * such as the number of tags). */
const char *store_full_hint(void);
/* Aborts and frees; NULL is fine. */
void store_txn_abort(struct store_txn *t);
/* The sticky error of the transaction (0 if none). */
int store_txn_error(const struct store_txn *t);

/* ---- settings (small string values; "key" namespaced by the caller) ---- */

/* Copies the value into an owned string in *ret; -ENOENT if unset. */
int store_setting_get(struct store_txn *t, const char *key, char **ret);
int store_setting_set(struct store_txn *t, const char *key, const char *val);
int store_setting_del(struct store_txn *t, const char *key);

/* ---- samples ---- */

int store_sample_get(struct store_txn *t, uint64_t id, struct sample *ret);
int store_sample_by_name(struct store_txn *t, const char *name,
                         struct sample *ret);
int store_sample_by_path(struct store_txn *t, const char *relpath,
                         struct sample *ret);
/* Inserts (s->id == 0: a new id is assigned and written to *ret_id) or
 * replaces a sample.  On insert, s->name is the wanted name; if it is taken
 * the stored name gets a "~<id>" suffix.  On replace the name and relpath
 * stay as they were (names are stable).  s's strings are copied. */
int store_sample_put(struct store_txn *t, const struct sample *s,
                     uint64_t *ret_id);
/* Deletes a sample with its labels, tag memberships and its records in
 * the per-sample namespaces (STORE_NS_COCO_IMAGE, below). */
int store_sample_delete(struct store_txn *t, uint64_t id);
/* Number of samples (including missing ones). */
int store_sample_count(struct store_txn *t, uint64_t *ret);
/* The same in a transaction of its own; 0 on any error. */
uint64_t store_sample_total(struct store *s);

/* Sample iteration in id order: fills *ret with the first sample whose id is
 * >= from_id.  Returns 0, or -ENOENT past the end.  An iterator reuses one
 * cursor, so listing N samples is O(N). */
struct store_iter;
int store_iter_new(struct store_txn *t, struct store_iter **ret);
void store_iter_free(struct store_iter *it);
int store_iter_samples(struct store_iter *it, uint64_t from_id,
                       struct sample *ret);
/* Members of a tag in sample-id order, from from_id. */
int store_iter_tag(struct store_iter *it, uint64_t tag_id, uint64_t from_id,
                   uint64_t *ret_sample_id);
/* Tags in id order, from from_id; *ret_name borrowed. */
int store_iter_tags(struct store_iter *it, uint64_t from_id,
                    uint64_t *ret_tag_id, const char **ret_name);

/* ---- tags ---- */

/* Tag names: 1..200 bytes of valid UTF-8, no '/', no control characters
 * (C0, DEL, C1), no leading dot (so not "." or ".." either). */
bool store_tag_name_valid(const char *name);
int store_tag_create(struct store_txn *t, const char *name, uint64_t *ret_id);
int store_tag_lookup(struct store_txn *t, const char *name, uint64_t *ret_id);
/* *ret_name borrowed. */
int store_tag_get(struct store_txn *t, uint64_t id, const char **ret_name,
                  uint64_t *ret_count, int64_t *ret_mtime_ns);
/* -EEXIST if `to` exists, -ENOENT if `from` does not. */
int store_tag_rename(struct store_txn *t, const char *from, const char *to);
/* -ENOTEMPTY if the tag has members. */
int store_tag_delete(struct store_txn *t, const char *name);
/* Returns 1 if the membership changed, 0 if it already was so. */
int store_tag_add(struct store_txn *t, uint64_t tag_id, uint64_t sample_id);
int store_tag_remove(struct store_txn *t, uint64_t tag_id, uint64_t sample_id);
/* Returns 1 if tagged, 0 if not. */
int store_tag_has(struct store_txn *t, uint64_t tag_id, uint64_t sample_id);
/* Calls fn for each tag of a sample; stops early if fn returns non-zero. */
int store_sample_tags(struct store_txn *t, uint64_t sample_id,
                      int (*fn)(uint64_t tag_id, void *ud), void *ud);

/* ---- classes ---- */

/* Finds (or with create, adds) a class by name.  Class ids start at 1 and
 * never change, so exports keep stable category ids. */
int store_class_id(struct store_txn *t, const char *name, bool create,
                   uint32_t *ret_id);
/* *ret_name borrowed.  -ENOENT for an id that was never handed out or
 * whose class was removed. */
int store_class_name(struct store_txn *t, uint32_t id, const char **ret_name);
/* The largest class id handed out so far: ids are 1..n, with gaps where
 * classes were removed (store_class_name() gives -ENOENT there) or where
 * explicit ids skipped numbers (store_class_put()). */
int store_class_count(struct store_txn *t, uint32_t *ret_n);

/* One class of the schema; strings borrowed. */
struct store_class {
  uint32_t id;
  const char *name;
  const char *supercategory;   /* "" when none */
};

/* Calls fn for each class in id order; stops when fn returns non-zero and
 * returns that value. */
int store_classes_each(struct store_txn *t,
                       int (*fn)(const struct store_class *c, void *ud),
                       void *ud);
/* Boxes of the class in every label field. */
int store_class_boxes(struct store_txn *t, uint32_t id, uint64_t *ret);
/* Creates class `name` with an explicit id (an imported dataset's category
 * id) and optional supercategory; if exactly that class exists, only sets a
 * non-empty supercategory.  Later classes get ids above the largest.  -EINVAL bad name or id
 * 0, -EEXIST when the name has another id or the id another name. */
int store_class_put(struct store_txn *t, const char *name, uint32_t id,
                    const char *supercategory);
/* Renames a class; its id stays, so every box follows.  -ENOENT (no class
 * `from`), -EEXIST (`to` exists), -EINVAL (a bad name).  Same name: 0. */
int store_class_rename(struct store_txn *t, const char *from, const char *to);
/* How many renames the class schema has had (record "classes"/"renames",
 * 0 when none): what a drawing that shows class names (views/dupes, the
 * evaluation views) keys on besides its labels, since a rename changes
 * the names of boxes whose labels stay as they were. */
int store_class_renames(struct store_txn *t, uint64_t *ret);
/* Sets the next class id back to `next` (undoing the creation of the
 * newest classes), if no class has an id >= next; else -EBUSY. */
int store_class_reset_next(struct store_txn *t, uint32_t next);
/* Removes a class that no box uses; its id is never handed out again.
 * -ENOENT, -EBUSY (boxes use it), -EINVAL (a bad name). */
int store_class_delete(struct store_txn *t, const char *name);

/* ---- labels ---- */

/* Reads all label fields of a sample into *ret (owned; labels_free()).
 * A sample with no labels gives an empty set. */
int store_labels_get(struct store_txn *t, uint64_t sample_id,
                     struct labels *ret);
/* Replaces all label fields of a sample with *l.  Detections with id 0 get
 * new ids (written back into l).  Class ids must exist.  Bumps the sample's
 * labels_version and keeps the per-class box counts. */
int store_labels_put(struct store_txn *t, uint64_t sample_id,
                     struct labels *l);
/* Box count of one class in one field (for status). */
int store_count_get(struct store_txn *t, const char *field, uint32_t class_id,
                    uint64_t *ret);
/* Calls fn for each (field, class, count) with count > 0. */
int store_counts_each(struct store_txn *t,
                      int (*fn)(const char *field, uint32_t class_id,
                                uint64_t count, void *ud),
                      void *ud);

/* ---- dataset version ---- */

/* A counter bumped by every committed write transaction that changed
 * anything.  Generated content (views, exports, reports) is cached per
 * version: equal versions mean equal content. */
int store_version(struct store_txn *t, uint64_t *ret);
/* Which commit a transaction sees (LMDB's transaction id), and the id of
 * the last commit of any process, read from the shared map with no
 * transaction, no lock and no allocation.  While the two are equal no
 * write has been committed since t began, so whatever t read (its
 * version) still holds: what the daemon's open checks from memory. */
uint64_t store_txn_id(struct store_txn *t);
int store_last_commit(struct store *s, uint64_t *id);

/* ---- records: namespaced values whose format another module owns ----
 *
 * Modules that keep their own data (features, runs, evaluations, computed
 * views) store it here under a namespace of their own ("feat", "cvat.run",
 * ...), so they need no table of their own and this module needs no
 * knowledge of their formats.  Keys are bytes; use store_key_u64() for
 * integer keys so that key order is numeric order.  Namespace + key must
 * fit STORE_REC_KEY_MAX bytes (-EINVAL otherwise). */
#define STORE_REC_KEY_MAX 480

/* *ret_val is borrowed (valid until the transaction ends); -ENOENT if
 * absent.  Values have NO alignment guarantee: memcpy them out rather than
 * casting to wider types. */
int store_rec_get(struct store_txn *t, const char *ns, const void *key,
                  size_t klen, const void **ret_val, size_t *ret_len);
int store_rec_put(struct store_txn *t, const char *ns, const void *key,
                  size_t klen, const void *val, size_t vlen);
int store_rec_del(struct store_txn *t, const char *ns, const void *key,
                  size_t klen);
/* Calls fn, in key order, for each record of ns whose key starts with
 * prefix (key and value borrowed, key without the namespace).  Stops when
 * fn returns non-zero and returns that value.  With del (write
 * transactions only) each visited record is deleted after fn. */
int store_rec_each(struct store_txn *t, const char *ns, const void *prefix,
                   size_t plen, bool del,
                   int (*fn)(const void *key, size_t klen, const void *val,
                             size_t vlen, void *ud),
                   void *ud);
/* Namespaces of records that belong to one sample: every key begins with
 * the be64 sample id (store_key_u64), whatever follows is the owner's.
 * store_sample_delete() deletes a sample's records in them with it.  The
 * owner keeps the meaning of the rest of the key and of the value; the
 * store keeps only the name and the prefix rule, since deleting must not
 * depend on a module above the store being linked or initialised.
 *   STORE_NS_COCO_IMAGE: the sample's COCO image id per label field
 *     (core/formats/coco.h, COCO_NS_IMAGE). */
#define STORE_NS_COCO_IMAGE "coco.img"

/* Big-endian 8-byte keys. */
void store_key_u64(uint8_t out[8], uint64_t v);
uint64_t store_key_rd_u64(const void *p);

/* ---- consistency ----
 *
 * The deep check: decodes every record of every table, checks that ids
 * point at records that exist, and that the derived tables (names, paths,
 * tags, sampletags, classes, counts, the member count of each tag) hold
 * exactly what the primary records imply (docs/STORE-FORMAT.md).  Calls fn
 * with one line per problem; *ret_problems is their number.  With repair,
 * in one write transaction: records that do not decode or point at
 * nothing are removed, derived tables are rebuilt, id counters raised past
 * the ids in use.  Returns 0 when the check ran (problems or not), -EIO
 * when LMDB reports a damaged B-tree (nothing can be rewritten in place),
 * -ENOTRECOVERABLE (repair only; nothing changed) when two records claim
 * one key (two samples with one path, two class ids with one name), or
 * another -errno. */
int store_check(struct store *s, bool repair,
                void (*fn)(const char *msg, void *ud), void *ud,
                uint64_t *ret_problems);

/* A consistent copy of the whole store into the new folder out (created
 * 0700; it must not exist), while other processes keep reading and
 * writing: LMDB copies one read transaction's view, compacted (free pages
 * left out).  A copy opened later, even read-only on another machine,
 * serves exactly that version.  The copy is written under a temporary
 * name beside out and renamed when complete, so out never holds half a
 * store.  0, -EEXIST, or the errno of the copy (reason in the log). */
int store_snapshot(struct store *s, const char *out);

/* Decodes one record of table "samples", "tagids", "labels" or "classids"
 * the way every reader does: 0, -EIO when it is damaged, -EINVAL for
 * another table.  For the check and the fuzzing harness. */
int store_record_check(const char *table, const void *key, size_t klen,
                       const void *val, size_t vlen);

/* Path of the store directory (borrowed for the store's lifetime). */
const char *store_dir(const struct store *s);

#endif
