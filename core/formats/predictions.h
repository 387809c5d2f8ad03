/* predictions.h - import model predictions into a label field.
 *
 * Formats:
 * - COCO results JSON: a list of {"image_id", "category_id", "bbox":
 *   [x, y, w, h] in pixels, "score"} (extra keys are ignored).  A COCO
 *   object with "annotations" (and optionally "images", "categories") is
 *   accepted too.  An entry's image is found, in this order:
 *     1. by its own "file_name" (not standard, but some tools write it):
 *        the path relative to the dataset root, else the name an export
 *        gives the sample's image ("<sample name><ext>", export.h: a
 *        sample in a folder is "dir__file.jpg"), else its last component
 *        when that is unique among the samples, else the same ignoring
 *        letter case (sample_match.h: every rule is there, rule 5 the
 *        last; counted in pred_stats.folded);
 *     2. by "image_id" through an id -> file_name table: the "images" of
 *        the COCO ground-truth file given as `coco_gt`, or else the
 *        "images" of the results file itself; then as in 1;
 *     2b. without such a table, by "image_id" among the COCO image ids
 *        recorded for the evaluation's ground-truth field (setting
 *        eval.gt_field; coco.h COCO_NS_IMAGE): the ids of the ground
 *        truth's own import, so a bare results list needs no `coco_gt`.
 *        An id two samples hold matches neither; an id not recorded goes
 *        on to 3;
 *     3. without such a table, by the sample whose file name stem (last
 *        path component without extension) is that number, as in COCO's
 *        own files ("000000000139.jpg" is image 139); a number shared by
 *        several samples matches none.
 *   Category names come from the "categories" of `coco_gt` (or of the
 *   file); without any, category_id must be a class id of the store (the
 *   ids the store gives classes, as in its exports).
 *   Frame: boxes are in the stored frame (as the exports write them),
 *   except for an entry found through the table of images (2.) whose
 *   image gives a "width" and "height" that are its sample's turned by
 *   EXIF orientation 5..8 on a picture that is not square: those boxes
 *   are in the turned frame a viewer shows and are turned back, the rule
 *   of the COCO label import (coco.h; img_boxes_turned() in imgcodec.h).
 *   A bare results list has no table and so no sizes: its boxes are
 *   taken in the stored frame unless `coco_gt` gives the sizes.
 * - YOLO txt: a folder (searched recursively) of <stem>.txt files, one line
 *   per box: "class cx cy w h confidence", coordinates relative to the
 *   image size, class an index into `names`: a names file (one class name
 *   per line) or a data.yaml whose "names" is a list ("[a, b]" or "- a"
 *   lines) or a map ("0: a" lines).  A file matches the sample whose source
 *   path without extension equals the file's path (relative to the folder)
 *   without ".txt", else the sample named as the file's name without
 *   ".txt" (the export's name: a model run over an export's images), else
 *   the sample whose file name stem is the same when that is unique,
 *   else the same ignoring letter case.
 *
 * Semantics: the import is one prediction run for the whole dataset: the
 * field is replaced on every sample, and samples without predictions in the
 * input get an empty field.  Scores must lie in [0, 1].  Boxes overshooting
 * the image are kept as given (counted; COCO evaluation scores them so).
 * Predictions for images that are
 * not in the store, or whose files are missing, are skipped (counted);
 * so are those of a name found only ignoring letter case whose sample
 * another name of the input (a file_name, an image of the table, a YOLO
 * file) names as written (sample_match.h: smatch_pick).
 *
 * Classes: predictions never create one.  A name the store has no class
 * of is an unknown class (the reason names each, and says when one
 * differs from a class of the store only by letter case).
 *
 * Errors: any malformed entry, unknown class, or an input in which no
 * prediction matches a sample refuses the whole import: -EINVAL with a
 * one-line reason in err (for ids looked up without a table, naming
 * coco_gt as the way to give them), and the store is unchanged.  Other
 * failures: -ENOENT / -errno reading files, -ENOMEM, store errors.
 * Everything lands in one transaction.
 */
#ifndef CURATE_PREDICTIONS_H
#define CURATE_PREDICTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "imgcodec.h"   /* enum img_frame */
#include "sample_match.h"   /* struct smatch_folds */
#include "store.h"

#define PRED_DEFAULT_FIELD "predictions"
/* Largest predictions input read whole (names file, one txt file; a JSON
 * file is read in pieces, core/formats/jsonstream.h). */
#define PRED_MAX_FILE (1ull << 31)

enum pred_format {
  PRED_FORMAT_COCO,
  PRED_FORMAT_YOLO,
};

struct pred_opts {
  enum pred_format format;
  const char *field;   /* NULL = PRED_DEFAULT_FIELD */
  const char *coco_gt; /* COCO: ground-truth JSON for ids and names; NULL */
  const char *names;   /* YOLO: names file or data.yaml; required */
  /* Frame of the boxes of photos with an EXIF orientation 2..8
   * (imgcodec.h): AUTO = YOLO rows turned (as a viewer shows the
   * picture), COCO boxes stored unless the table of images gives the
   * turned size; VIEWER = COCO boxes turned too where no size tells;
   * STORED = YOLO rows as stored.  A COCO size still decides where it
   * can. */
  enum img_frame frame;
};

struct pred_stats {
  uint64_t entries;  /* predictions read */
  uint64_t boxes;    /* predictions stored */
  uint64_t skipped;  /* predictions whose image is not in the store */
  uint64_t outside;  /* boxes reaching past their image (kept as given) */
  uint64_t samples;  /* samples that got at least one prediction */
  uint64_t cleared;  /* samples whose old predictions were removed */
  uint64_t files;    /* YOLO: txt files read */
  uint64_t turned;   /* COCO: images of the table of images whose width
                      * and height are their sample's turned by EXIF
                      * orientation 5..8: their boxes were read in that
                      * frame and turned back to the stored one */
  struct smatch_folds folded;   /* samples found only by names that
                                 * differ in letter case (sample_match.h,
                                 * rule 5) */
  uint64_t ambiguous;   /* predictions (counted in skipped too) whose
                         * image's name several samples could be
                         * (sample_match.h: -ENOTUNIQ) */
  char ambiguous_eg[256];   /* the first such name, as the input gives it */
  struct smatch_folds case_lost;  /* predictions dropped (counted in
                                   * skipped too) because their image's
                                   * name matched a sample only ignoring
                                   * letter case while another name of
                                   * the input names it as written; eg:
                                   * the first such name -> the sample */
};

/* Imports `path` (COCO: the results JSON; YOLO: the folder) into the field.
 * `err` (errlen > 0) receives a one-line reason on failure.  *ret may be
 * NULL. */
int pred_import(struct store *s, const char *path, const struct pred_opts *o,
                struct pred_stats *ret, char *err, size_t errlen);

#endif
