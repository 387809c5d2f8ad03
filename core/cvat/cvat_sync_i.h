/* cvat_sync_i.h - what the files of the CVAT sync share (cvat_run.c,
 * cvat_push.c, cvat_pull.c, cvat_snapshot.c, cvat_sync.c); private to
 * core/cvat/.
 *
 * Records (all in the store's records table):
 *   cvat.run   <run>                     JSON object, the run (version 1)
 *   cvat.map   <run> 0 <sample u64be>    pairs (CVAT shape id i64, label
 *                                        id u64), host order
 *   cvat.undo  <run> 0 <seq u64be>       labels + map of the run's samples
 *                                        before pull number seq, then the
 *                                        classes that pull created ("CVU2")
 * A run's JSON is small (ids, not labels); the identity map is split per
 * sample so a pull rewrites only what it touches.
 *
 * Ownership: json_t values returned by these helpers are owned by the
 * caller (json_decref).  Locking: none here; every function works inside
 * the store transaction it is given, or opens its own, and the store
 * serialises writers.  Network I/O never happens inside a transaction.
 */
#ifndef CURATE_CVAT_SYNC_I_H
#define CURATE_CVAT_SYNC_I_H

#include <jansson.h>

#include "cvat_json.h"
#include "cvat_sync.h"

#define CVAT_NS_RUN "cvat.run"
#define CVAT_NS_MAP "cvat.map"
#define CVAT_NS_UNDO "cvat.undo"
#define CVAT_UNDO_MAGIC 0x43565531u  /* "CVU1": labels and maps */
#define CVAT_UNDO_MAGIC2 0x43565532u /* "CVU2": then the classes made */
/* Key of a map or undo record: run, 0, u64 big-endian. */
#define CVAT_KEY_MAX (CVAT_RUN_NAME_MAX + 9)

/* ---- the run record (cvat_run.c) ---- */

int cvat_run_load(struct store_txn *t, const char *name, json_t **ret);
int cvat_run_save(struct store_txn *t, const char *name, json_t *run);

/* A change of the run record. */
struct cvat_upd {
  int phase;            /* -1 = unchanged */
  int64_t done, total;  /* -1 = unchanged */
  const char *error;    /* NULL = unchanged, "" = clear */
  json_t *set;          /* other keys to set (borrowed), or NULL */
};

/* Applies u inside t; the run after it into *ret when ret is not NULL. */
int cvat_run_update_txn(struct store_txn *t, const char *name,
                        const struct cvat_upd *u, struct cvat_run *ret);
/* The same in a write transaction of its own. */
int cvat_run_update(struct store *s, const char *name,
                    const struct cvat_upd *u, struct cvat_run *ret);

/* ---- the identity map (cvat_run.c) ---- */

struct cvat_pair {
  int64_t shape;
  uint64_t label;
};

size_t cvat_map_key(uint8_t *k, const char *run, uint64_t n);
int cvat_map_get(struct store_txn *t, const char *run, uint64_t sample,
                 struct cvat_pair **ret, size_t *ret_n);
int cvat_map_put(struct store_txn *t, const char *run, uint64_t sample,
                 const struct cvat_pair *p, size_t n);
/* A label id as CVAT's `label_id` attribute carries it: decimal, > 0. */
int cvat_parse_id(const char *s, uint64_t *ret);

/* ---- the files of a push (cvat_push_files.c) ---- */

struct objsource;

struct push_files {
  struct cvat_file *f;
  char **names;
  /* The relative path of each sample (in the folder or the bucket), a
   * folder sample's display name (disp, for messages) and a bucket
   * sample's recorded ETag (etag), and its descriptor while its batch is
   * sent (-1 otherwise; also in f[i].fd) with its fstat at that open
   * (st, f[i].opened), what the upload checks it against. */
  char **rel, **disp, **etag;
  int *fds;
  struct stat *st;
  /* A folder sample's record as the import made it (size, time, hash;
   * relpath is rel[i], name unset): its file must still be that one. */
  struct sample *rec;
  size_t n;
  /* Every folder sample's file was checked (cvat_files_check), each
   * one's state then in st. */
  bool checked;
};

/* Where the samples of a push are and how CVAT gets them. */
enum push_src_mode {
  SRC_FOLDER,       /* a folder: uploaded */
  SRC_BUCKET_UP,    /* a bucket, cvat.cloud_storage=off: uploaded from the
                       mount's object cache */
  SRC_CLOUD,        /* a bucket read by CVAT through a cloud storage */
};

struct push_src {
  enum push_src_mode mode;
  const char *root;
  char *bucket, *prefix;        /* SRC_BUCKET_UP, SRC_CLOUD */
  struct objsource *objsrc;     /* SRC_BUCKET_UP; borrowed */
};

void cvat_files_free(struct push_files *f);
/* The files of a run's samples, in run order, as src says (their files
 * are not opened: cvat_files_check); an error with its reason in err (a
 * missing sample, a bucket sample without a recorded version). */
int cvat_files_build(struct store_txn *t, const struct cvat_run *run,
                     const struct push_src *src, struct push_files *fs,
                     char *err, size_t errlen);
/* A folder's files: each still the one the import recorded, each one's
 * state then kept in fs->st, so that opening its batch need not read a
 * touched file again.  Once per push, before CVAT gets a task or a file;
 * nothing for a bucket's samples (cvat_files_check_versions).  0, or an
 * errno with the first such sample and why in err. */
int cvat_files_check(struct push_files *fs, const struct push_src *src,
                     char *err, size_t errlen);
/* Bucket samples for a cloud storage: every object is still the version
 * the import recorded (one listing of the prefix), since CVAT reads what
 * the bucket holds now.  -ESTALE (changed) or -ENOENT (gone), with the
 * first such object in err; or the S3 error. */
int cvat_files_check_versions(const struct push_files *fs,
                              const struct push_src *src, char *err,
                              size_t errlen);
/* Before an upload batch [from, to): the descriptors its files are sent
 * from, a folder's opened and checked in the dataset folder, a bucket's
 * from the object cache src->objsrc (those of earlier batches are
 * closed). */
int cvat_files_open_batch(struct push_files *fs, const struct push_src *src,
                          size_t from, size_t to, char *err, size_t errlen);

/* ---- undo snapshots (cvat_snapshot.c) ---- */

/* Key of undo record number seq of a run. */
size_t cvat_undo_key(uint8_t *k, const char *run, uint64_t seq);
/* Appends one sample's labels and map to a snapshot. */
int cvat_snap_sample(struct store_txn *t, const char *run, uint64_t id,
                     struct buf *b);

#endif
