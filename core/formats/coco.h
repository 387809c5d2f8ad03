/* coco.h - COCO detection JSON import into a label field.
 *
 * Images are matched to samples by `file_name`: first as a path relative to
 * the dataset root, then as "<sample name>.jpg" (the names exports use),
 * then by its last component when that is unique among the samples, and
 * where none of these finds anything the same ignoring letter case
 * (sample_match.h, rule 5; counted in coco_stats.folded).  An image
 * matched so whose sample another image of the file names exactly is not
 * on disk (reported with that reason), in either order.  An
 * image whose file is not on disk keeps its ground truth for evaluation
 * (COCO_NS_MISSING below); one whose last component several samples share
 * is skipped (reported).  Box coordinates are kept as the file gives them,
 * also when they reach past the image (counted in `outside`).
 * `file_name` values that are absolute or contain ".." are
 * refused.  Boxes become detections of the field (default ground_truth),
 * replacing that field of every matched sample; `iscrowd`, `score` (as
 * confidence) and any extra annotation keys (as attributes) are kept.
 * The whole file lands in one transaction, or nothing does.  The file is
 * read twice in pieces, never parsed whole (core/formats/jsonstream.h):
 * memory is what the import keeps.  "images", "annotations" or
 * "categories" twice at the top of the file is an error (a parser would
 * keep the last silently).
 *
 * Strictness: an image id used by two images, a category id used by two
 * categories, or two images that match one sample fail the whole import
 * (-EINVAL, reported).  Annotations whose image_id no image has are
 * skipped and counted (`orphans`, reported in one line); those of images
 * that match no sample go with their image (reported per image).  An
 * empty "categories" list fails the import when any image matched, since
 * it would empty the field of those images, unless coco_opts.clear_ok.
 */
#ifndef CURATE_COCO_H
#define CURATE_COCO_H

#include <stdbool.h>
#include <stdint.h>

#include "sample_match.h"   /* struct smatch_folds */
#include "store.h"

/* The "images" and "categories" of a COCO document as a first streaming
 * pass over it keeps them (jsonstream.h): what the label import and the
 * predictions import (its ground-truth file) both need before the
 * annotations.  Owned by the caller: coco_tables_free(). */
struct coco_image_ent {
  int64_t id;
  bool id_ok;          /* "id" is an integer */
  char *file_name;     /* owned; NULL when not a string */
  int64_t w, h;        /* "width", "height": integers, or reals with no
                        * fraction in 1..UINT32_MAX; else 0 */
};
struct coco_tables {
  struct coco_image_ent *img;
  size_t n, cap;
  struct json_t *cats;   /* the "categories" elements; NULL until the
                          * first one (a new reference) */
};

/* Keeps one element of "images" (is_cat false) or "categories".  0 or
 * -ENOMEM. */
int coco_tables_add(struct coco_tables *tb, bool is_cat, struct json_t *o);
void coco_tables_free(struct coco_tables *tb);

/* Records namespace (owned here; its name is store.h's, which deletes a
 * sample's records with the sample) keeping, per sample and label field, the
 * COCO image id of the last COCO import into that field that matched the
 * sample: key be64 sample id + field name (no terminator), value be64 of
 * the id as int64.  COCOeval walks images in image-id order, which breaks
 * confidence ties across images, so evaluation orders by the ids of its
 * ground-truth field, and the COCO export writes those of its field.
 * Stores written by earlier builds hold one record per sample under the
 * bare be64 sample id (the last COCO import into any field); it is read
 * for every field that has no record of its own, and never written now. */
#define COCO_NS_IMAGE STORE_NS_COCO_IMAGE
/* The value of a field's record that says "no id in this field" where an
 * earlier build's field-less record would give one (coco_field_forget). */
#define COCO_ID_NONE INT64_MIN

/* The COCO image id of the sample in `field` into *ret: the field's own
 * record, else the sample's field-less record of an earlier build;
 * -ENOENT when it has neither, -EIO for a bad record. */
int coco_image_id(struct store_txn *t, uint64_t sample_id,
                  const char *field, int64_t *ret);

/* Calls fn, in sample-id order, once for each sample with a COCO image id
 * in `field` (the same choice as coco_image_id).  Stops at and returns
 * fn's first non-zero value; -EIO for a bad record. */
int coco_image_id_each(struct store_txn *t, const char *field,
                       int (*fn)(uint64_t sample_id, int64_t coco_id,
                                 void *ud),
                       void *ud);

/* Records namespace (owned here) keeping the ground truth of the images of
 * an imported COCO file whose file is not on disk: key "<field>\0" + be64
 * COCO image id, value u16 length + file_name + the field's boxes
 * (labels_field_encode).  pycocotools evaluates every image of the
 * ground-truth file, so evaluation counts these boxes as misses (no
 * prediction can be imported for an image that is not a sample).  A later
 * import of the same image id into the field replaces the record, or
 * drops it once the image matches a sample. */
#define COCO_NS_MISSING "coco.missing"

/* Calls fn for each image of `field` not on disk, in key order (f and
 * file_name borrowed for the call; f's labels are NULL, class ids set).
 * Stops at and returns fn's first non-zero value; -EIO for a bad record. */
int coco_missing_each(struct store_txn *t, const char *field,
                      int (*fn)(int64_t coco_id, const char *file_name,
                                const struct label_field *f, void *ud),
                      void *ud);
/* Ends field's COCO listing: deletes its records in COCO_NS_IMAGE (its
 * own, not an earlier build's field-less ones) and COCO_NS_MISSING, in t;
 * where an earlier build's field-less record would stand in, a record of
 * the field holding COCO_ID_NONE.
 * For an import of another format into the field: its ground truth is no
 * longer a COCO file's, so no image list decides what evaluation covers
 * and no kept box of an image not on disk counts as a miss. */
int coco_field_forget(struct store_txn *t, const char *field);
/* A hash of every COCO_NS_MISSING record (all fields): it changes when
 * any of them does, which makes a stored evaluation stale. */
int coco_missing_fp(struct store_txn *t, uint64_t *ret);

struct coco_stats {
  uint64_t images, matched, unmatched, refused;
  uint64_t missing;        /* of unmatched: images whose file is not on
                            * disk (their ground truth is kept, above) */
  uint64_t missing_boxes;  /* the boxes of those images */
  uint64_t boxes, bad_boxes, categories;
  uint64_t outside;   /* boxes reaching past their image, kept as given */
  uint64_t orphans;   /* annotations whose image_id no image has */
  uint64_t turned;    /* matched images whose width and height are the
                       * sample's turned by its EXIF orientation (5..8):
                       * their boxes are read in that frame and turned back
                       * to the stored one */
  struct smatch_folds folded;   /* matched images whose file_name is
                                 * their file's only ignoring letter case
                                 * (sample_match.h, rule 5) */
};

struct coco_opts {
  bool clear_ok;      /* an empty "categories" list may empty the field of
                       * the matched images (curate import --clear-labels) */
  bool view_frame;    /* boxes are in the frame a viewer shows (turned by
                       * EXIF orientation) unless an image's size says it
                       * is the stored one: a CVAT zip's COCO 1.0 */
  /* When set, called with each sample an image of the document will
   * label, before anything is written (an import of several documents
   * refuses a sample two of them label); a negative errno fails the
   * import with it. */
  int (*claim)(void *ud, uint64_t sample_id, const char *what);
  void *claim_ud;
  /* The document's subset (CVAT's annotations/instances_<subset>.json;
   * NULL: none) and every subset of the import: a file_name is first
   * looked for as "<subset>/<file_name>" in a folder named after the
   * subset, and a picture in another subset's folder is never taken for
   * it (a project's subsets number their pictures alike). */
  const char *subset;
  const char *const *subsets;
  size_t nsubsets;
};

/* Imports the file json_path into `field` (NULL opts = the defaults
 * above) in one write transaction.  `report` gets one line per problem
 * (image not on disk, refused path, bad box); may be NULL.  With s NULL,
 * only checks what needs no store (the file opens and parses, has the
 * lists of a detection file, no image id twice) and writes nothing:
 * `curate import` does so before its folder step commits anything, so
 * that a label file it cannot use leaves the store as it was. */
int coco_import_opts(struct store *s, const char *json_path,
                     const char *field, const struct coco_opts *opts,
                     void (*report)(const char *what, const char *reason,
                                    void *ud),
                     void *ud, struct coco_stats *ret);

/* The same for a document in memory, inside the caller's write
 * transaction t (nothing is committed; on failure the caller aborts).
 * `what` names the document in reports.  Stats are added to *ret. */
int coco_import_txn(struct store_txn *t, const char *json, size_t len,
                    const char *what, const char *field,
                    const struct coco_opts *opts,
                    void (*report)(const char *what, const char *reason,
                                   void *ud),
                    void *ud, struct coco_stats *ret);

/* The same for the file at path, read in pieces.  Only a regular file
 * is opened: one that cannot be, or is not regular (-EINVAL), fails with
 * that errno, reported as "not a regular file" or the errno's text. */
int coco_import_file_txn(struct store_txn *t, const char *path,
                         const char *what, const char *field,
                         const struct coco_opts *opts,
                         void (*report)(const char *what, const char *reason,
                                        void *ud),
                         void *ud, struct coco_stats *ret);
/* The same for the open file fd, read from its start; fd is closed here.
 * fd < 0 is the errno of its open, reported as above. */
int coco_import_fd_txn(struct store_txn *t, int fd, const char *what,
                       const char *field, const struct coco_opts *opts,
                       void (*report)(const char *what, const char *reason,
                                      void *ud),
                       void *ud, struct coco_stats *ret);

#endif
