/* export.h - training-ready export trees (COCO, YOLO, Pascal VOC, ImageNet)
 * generated from the store on demand.
 *
 * An export is a read-only directory tree described by paths relative to
 * the format's top.  Three kinds of entries exist:
 *   - directories;
 *   - image files, which are a sample's original bytes (ent.sample_id != 0:
 *     the caller serves them from the source file);
 *   - generated files (annotation JSON, label text, XML, data.yaml,
 *     ImageNet crops), whose bytes export_generate() streams to a sink
 *     (sink.h).
 * The same functions back the mount and `curate export`, so both give the
 * same bytes for the same store version.
 *
 * Layouts (docs/EXPORT.md has the full description):
 *   COCO      annotations/instances_<subset>.json, images/<subset>/<n>.jpg
 *   YOLO      data.yaml, images/<subset>/<n>.jpg, labels/<subset>/<n>.txt
 *   VOC       Annotations/<n>.xml, JPEGImages/<n>.jpg,
 *             ImageSets/Main/<subset>.txt, labelmap.txt
 *   ImageNet  <class>/<n>_<labelid>.jpg, one crop per box
 * <n> is the sample's display name.  Subsets: a selected sample belongs to
 * the first of subset_tags[0..2] (train, val, test) it is tagged with; a
 * sample with none of them belongs to `default`.  So without subset tags
 * there is one `default` subset, and with them nothing is dropped: untagged
 * samples stay visible under `default`.  A subset is listed only when it
 * has at least one sample.  ImageNet has no subsets (export a tag instead).
 *
 * Ids are stable across exports: COCO image id = sample id, annotation id =
 * the label's store id, category id = store class id (all >= 1, 64-bit);
 * YOLO class index = store class id - 1 (dense, since class ids are 1..n and
 * never reused), listed in data.yaml.  Every class of the store is listed,
 * so ids do not move when a selection has no box of some class.
 *
 * Memory: generation streams sample by sample through a small buffer; no
 * file is ever held whole.  Per call, the selection's subset membership is
 * kept as sorted id arrays (8 bytes per tagged sample).
 *
 * Thread-safety: every function uses only the given transaction, which must
 * stay open for the call.  Errors are negative errno: -ENOENT for a path
 * that is not in the tree, -EISDIR / -ENOTDIR for a kind mismatch, -EINVAL
 * for a bad spec, the sink's error, or a store error.
 */
#ifndef CURATE_EXPORT_H
#define CURATE_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgcodec.h"   /* enum img_frame */
#include "sink.h"
#include "store.h"

enum export_format { EXPORT_COCO, EXPORT_YOLO, EXPORT_VOC, EXPORT_IMAGENET };


struct export_spec {
  enum export_format fmt;
  /* The selection, sorted ascending (borrowed), or ids == NULL for all
   * samples.  Missing samples (SAMPLE_MISSING) are always left out. */
  const uint64_t *ids;
  size_t n_ids;
  const char *field;              /* label field; NULL = "ground_truth" */
  /* Tag names of the train, val and test subsets; NULL entries = the
   * defaults "train", "val", "test". */
  const char *subset_tags[3];
  /* The frame of sizes, boxes and generated pixels of photos with an
   * EXIF orientation 2..8 (imgcodec.h; docs/EXPORT.md, "The export's
   * frame"):
   *   STORED  as stored (what Pillow without exif_transpose gives:
   *           torchvision's CocoDetection and VOCDetection; datumaro's
   *           COCO and VOC importers, which decode with OpenCV's
   *           IMREAD_UNCHANGED);
   *   VIEWER  turned as a viewer shows the picture (OpenCV's imread,
   *           Pillow's exif_transpose: Ultralytics, detectron2,
   *           mmdetection, CVAT's frames, datumaro's YOLO importer);
   *   AUTO    each format's usual reader: COCO and VOC stored, YOLO and
   *           ImageNet crops viewer.
   * Images whose bytes are the sample's own keep their EXIF tag, so a
   * reader turns them or not by its own rule; generated images (VOC's
   * converted JPEGs, ImageNet crops) carry no tag and are drawn in the
   * frame itself.  0 = IMG_FRAME_AUTO. */
  enum img_frame frame;
  /* Opens the source file of a sample whose pixels a generated file is
   * made of (a converted picture, an ImageNet crop): 0 and *fd (a
   * descriptor the caller closes), or -errno.  NULL: the file below the
   * store's root through import_open_current() (import.h: nothing
   * outside the dataset folder, nothing but a regular file, nothing
   * changed since the import), as `curate export` of a folder store
   * reads it.  The mount gives its own (fs/srcfile.c: the
   * store owner's read right too, a bucket's object cache). */
  int (*open_source)(void *ud, const struct sample *smp, int *fd);
  void *source_ud;
};

struct export_ent {
  char name[256];       /* last path component */
  bool dir;
  uint64_t sample_id;   /* != 0: the file is this sample's original bytes */
  uint64_t shows;       /* != 0: a generated image of this sample (VOC's
                           JPEG, YOLO's PNG of a GIF: exw_image_format),
                           which stands for it as its original bytes
                           would */
  uint64_t label_id;    /* ImageNet crops: the box's label id */
  uint64_t crop_of;     /* ImageNet crops: the sample cut from (for
                           reasons; a crop stands for no sample) */
  /* != 0: a generated file whose bytes depend only on this value and its
   * path, not on the rest of the store (an ImageNet crop: a hash of its
   * source file's size, mtime, pixel size and path, the label field, its
   * box's coordinates and class; another box of the photo changing leaves
   * it; a converted picture: of its source file alone); 0: on the whole
   * selection. */
  uint64_t version;
};

/* Parses "coco", "yolo", "voc", "imagenet".  -EINVAL otherwise. */
int export_format_parse(const char *s, enum export_format *ret);

/* The store's export.frame setting (config.h), which the mount's export/
 * and `curate export` both use; IMG_FRAME_AUTO when unset. */
enum img_frame export_frame_config(struct store_txn *t);

/* Calls fn for each entry of directory `dir` ("" = the top), in a stable
 * order.  Stops when fn returns non-zero and returns that value; else 0.
 * -ENOENT / -ENOTDIR when dir is not a directory of the tree. */
int export_list(struct store_txn *t, const struct export_spec *s,
                const char *dir,
                int (*fn)(const struct export_ent *e, void *ud), void *ud);

/* Fills *ret for `path` ("" = the top directory).  -ENOENT if absent. */
int export_stat(struct store_txn *t, const struct export_spec *s,
                const char *path, struct export_ent *ret);

/* Streams the bytes of the generated file `path` (sample_id == 0, not a
 * directory) to out.  Returns the total number of bytes, or -errno
 * (-ENOENT, -EISDIR; -EPERM for an image file, whose bytes are the
 * sample's own).  The output depends only on the store's content, so two
 * calls on the same store version give the same bytes. */
int64_t export_generate(struct store_txn *t, const struct export_spec *s,
                        const char *path, const struct sink *out);

#endif
