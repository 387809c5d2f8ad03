/* featstore.h - image features in the store: the embeddings and hashes
 * computed at import (imgfeat.h), and external embeddings imported from a
 * NumPy .npy file (e.g. from a CNN), which take precedence when present.
 *
 * Records (store records API, keys store_key_u64(sample id)):
 *   "feat"      computed features: imgfeat version, the source file's size
 *               and mtime they were computed from, phash, 128 floats;
 *   "feat.sub"  the sub-window vectors of computed features (imgfeat.h),
 *               written with "feat" in the same transaction;
 *   "feat.thumb" the verification thumbnail (imgverify.h) of computed
 *               features, written with "feat" in the same transaction
 *               (featstore_thumb.c; layout in docs/STORE-FORMAT.md);
 *   "feat.ext"  external embeddings: any dimension (all records of one
 *               import share it), no hash.
 * Layout, little-endian (docs/STORE-FORMAT.md "Feature records"):
 *   0 u8 record version (1) | 1 u8 imgfeat version (0 = external) |
 *   2 u16 dim | 4 u32 reserved (0) | 8 u64 file size | 16 i64 mtime ns |
 *   24 u64 phash | 32 dim x float32.
 * "feat.sub": 0 u8 record version (1) | 1 u8 imgfeat version | 2 u8 nsub |
 *   3 u8 0 | 4 u16 dim | 6 u16 0 | 8 nsub x dim int16 (value x 32767).
 *
 * Computed features count as current only when their imgfeat version is
 * this build's IMGFEAT_VERSION, their size/mtime equal the sample's and
 * a thumbnail of this IMGVERIFY_VERSION is beside them; anything else is
 * treated as missing (import recomputes it).  Until then the older
 * records are still read: a sample without a thumbnail has its pairs
 * kept unverified.
 *
 * What it does not do: compute features (import.c does, with imgfeat.c) or
 * compare them (neardup.h, knn.h).  Records of deleted samples are ignored
 * by the readers, not deleted.
 */
#ifndef CURATE_FEATSTORE_H
#define CURATE_FEATSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgfeat.h"
#include "imgverify.h"
#include "store.h"

#define FEATSTORE_NS "feat"
#define FEATSTORE_NS_EXT "feat.ext"
#define FEATSTORE_NS_SUB "feat.sub"
#define FEATSTORE_NS_THUMB "feat.thumb"
/* One record, key "set": 8 random bytes drawn anew by every .npy import
 * and removed with the set (featstore_import_npy, _clear_external), so
 * that what watches the set (the views' fingerprint) can tell two sets of
 * one shape apart without reading every vector. */
#define FEATSTORE_NS_EXT_STAMP "feat.ext.stamp"
#define FEATSTORE_REC_VERSION 1
/* Largest external embedding accepted. */
#define FEATSTORE_MAX_DIM 8192

/* Writes the computed features of sample `id`, with the size and mtime of
 * the file they were computed from.  Returns 0 or a negative errno (sticky
 * on t, like every store write). */
int featstore_put(struct store_txn *t, uint64_t id, uint64_t size,
                  int64_t mtime_ns, const struct imgfeat *f);

/* Reads the computed features of sample `id` into *ret (a copy), with the
 * size/mtime they were computed from (either pointer may be NULL).
 * Returns 0; -ENOENT when absent or of another imgfeat version; -EIO for a
 * malformed record. */
int featstore_get(struct store_txn *t, uint64_t id, struct imgfeat *ret,
                  uint64_t *ret_size, int64_t *ret_mtime_ns);

/* 1 when sample `id` has computed features of this version for a file of
 * this size and mtime, 0 when not, or a negative errno. */
int featstore_current(struct store_txn *t, uint64_t id, uint64_t size,
                      int64_t mtime_ns);

/* Drops sample `id`'s features, sub-windows and thumbnail (computed from a
 * picture that no longer stands: its orientation changed), so that the
 * next content pass computes them again.  0 (also when there were none)
 * or a negative errno. */
int featstore_forget(struct store_txn *t, uint64_t id);

/* An embedding matrix: row i (x + i * dim, dim floats) belongs to sample
 * ids[i]; rows in ascending id order.  x and ids are owned by the struct:
 * release with featstore_matrix_free(). */
struct feat_matrix {
  size_t n, dim;
  float *x;
  uint64_t *ids;
  bool external;   /* rows are imported embeddings, not computed ones */
};

/* Loads the embeddings of every sample that exists, is not missing and
 * has one: the external embeddings if any were imported, else the current
 * computed ones (stale or other-version records are left out).  The
 * matrix is a copy: it stays valid after t ends.  n may be 0 (x and ids
 * NULL then).  Returns 0 with *ret filled, or -ENOMEM, -EIO (a malformed
 * record) or a store error; on failure *ret is empty. */
int featstore_load_matrix(struct store_txn *t, struct feat_matrix *ret);

/* The sub-window vectors (imgfeat.h) of the rows of a computed matrix m:
 * *ret_sub (owned by the caller, free()) gets m->n x IMGFEAT_NSUB rows of
 * IMGFEAT_DIM floats, row i * IMGFEAT_NSUB + k for sub-window k of row i;
 * a sample without a sub-window record gets its main vector in each.
 * Returns 0, -ENODATA for external embeddings or an empty matrix (nothing
 * allocated), -ENOMEM, or a store error. */
int featstore_load_sub(struct store_txn *t, const struct feat_matrix *m,
                       float **ret_sub);

/* Writes the verification thumbnail of sample `id` (call it in the
 * transaction of its featstore_put()).  0 or a negative errno. */
int featstore_put_thumb(struct store_txn *t, uint64_t id,
                        const uint8_t thumb[IMGVERIFY_BYTES]);

/* Reads it into thumb (may be NULL: a presence check).  0; -ENOENT when
 * absent or of another IMGVERIFY_VERSION or side; -EIO when malformed. */
int featstore_get_thumb(struct store_txn *t, uint64_t id,
                        uint8_t thumb[IMGVERIFY_BYTES]);

/* The thumbnails of the rows of a computed matrix m: *ret_thumbs gets
 * m->n x IMGVERIFY_BYTES (row i at i * IMGVERIFY_BYTES), *ret_ok m->n
 * flags, 0 where a sample has no current thumbnail (both owned by the
 * caller, free()).  Returns 0; -ENODATA for external embeddings, an empty
 * matrix or no thumbnail at all (nothing allocated); -ENOMEM, or a store
 * error. */
int featstore_load_thumbs(struct store_txn *t, const struct feat_matrix *m,
                          uint8_t **ret_thumbs, uint8_t **ret_ok);

/* Frees the arrays and empties *m; NULL is fine. */
void featstore_matrix_free(struct feat_matrix *m);

/* Replaces all external embeddings with the rows of a .npy file (float32
 * or float64, little-endian, C order, shape (N, D) with 1 <= D <=
 * FEATSTORE_MAX_DIM) and a text file of N sample names, one per line, in
 * row order (names as in the mount: the sample name, with or without
 * ".jpg").  One write transaction: on any problem nothing changes and
 * `report` (may be NULL) gets one line saying why: bad header, shape
 * mismatch, unknown or repeated name, NaN or infinite value, short file.
 * Returns 0 and the row count in *ret_rows (may be NULL), -EINVAL for bad
 * input, -errno for I/O, -ENOMEM, or a store error. */
int featstore_import_npy(struct store *s, const char *npy_path,
                         const char *names_path,
                         void (*report)(const char *reason, void *ud),
                         void *ud, size_t *ret_rows);

/* Writes the embeddings featstore_load_matrix() gives (imported ones if
 * any, else the computed features) as what featstore_import_npy() reads:
 * a .npy file (version 1.0, little-endian float32, C order, shape (N, D))
 * and N sample names, one per line, in row (sample-id) order.  Both files
 * are written to temporary names beside them and renamed into place, so a
 * failure leaves no partial file.  *ret_rows / *ret_dim (may be NULL) get
 * the shape.  -ENODATA when no sample has an embedding (nothing written),
 * -errno for I/O, or a store error. */
int featstore_export_npy(struct store *s, const char *npy_path,
                         const char *names_path, size_t *ret_rows,
                         size_t *ret_dim);

/* Deletes every external embedding (computed features are used again).
 * One transaction; *ret_n (may be NULL) gets the number deleted. */
int featstore_clear_external(struct store *s, size_t *ret_n);

#endif
