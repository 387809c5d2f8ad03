/* labelimport.h - labels from other tools into one label field: COCO
 * detection JSON, YOLO folders (Ultralytics data.yaml layout or darknet's
 * obj.names layout), Pascal VOC folders, and the zips CVAT exports as
 * "COCO 1.0", "YOLO 1.1" and "PASCAL VOC 1.1".
 *
 * Images are matched to the store's samples by name: first the sample
 * name (what core/formats/export.h writes), then the source path, then the file
 * stem when it is unique among the samples.  A matched sample's field is
 * replaced by what the input says; its other fields and unmatched samples
 * are left alone.  Input images are never read: sizes come from the store.
 *
 * Everything lands in one write transaction.  Bad input (unreadable
 * archive, malformed row or XML, unknown class index, inverted box, no
 * file matching any sample) fails the whole import with a one-line reason
 * in err and changes nothing.  Label files whose image is not in the store
 * are reported and skipped.
 */
#ifndef CURATE_LABELIMPORT_H
#define CURATE_LABELIMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "imgcodec.h"   /* enum img_frame */
#include "sample_match.h"   /* struct smatch_folds */
#include "store.h"

enum limport_format { LIMPORT_COCO, LIMPORT_YOLO, LIMPORT_VOC,
                      LIMPORT_CVAT_ZIP, LIMPORT_CVAT_XML };

struct limport_stats {
  uint64_t files;       /* label files (or COCO images) read */
  uint64_t matched;     /* samples whose field was replaced */
  uint64_t unmatched;   /* label files with no sample */
  uint64_t boxes;
  uint64_t turned;      /* samples whose boxes were read in the frame
                         * turned by EXIF orientation, because the file
                         * gives the turned size (COCO, VOC) */
  struct smatch_folds folded;   /* files (COCO: images) that name their
                                 * sample only ignoring letter case
                                 * (sample_match.h, rule 5) */
};

/* "coco", "yolo", "voc", "cvat-zip", "cvat" (CVAT's XML). */
int limport_format_parse(const char *s, enum limport_format *ret);

/* Imports `path` (a COCO JSON file or a folder holding annotations/<x>.json files;
 * a YOLO or VOC folder; a CVAT zip; CVAT's annotations.xml or a folder of
 * such files) into `field` (NULL = ground_truth).
 * zip_part: for a CVAT zip, the label set in it to read, as the format
 * of that set alone (LIMPORT_COCO, _YOLO, _VOC or _CVAT_XML); a zip
 * holding more than one set is refused without it.  LIMPORT_CVAT_ZIP:
 * the one set the zip holds (and the value for every other format).
 * report (may be NULL) gets one line per skipped file.  Returns 0 and the
 * counts in *ret, or -errno with a reason in err (-EINVAL bad input,
 * -EBADMSG not a zip, store errors). */
int limport_run(struct store *s, enum limport_format fmt, const char *path,
                const char *field, enum img_frame frame,
                enum limport_format zip_part,
                void (*report)(const char *what, const char *reason,
                               void *ud),
                void *ud, char *err, size_t errlen,
                struct limport_stats *ret);

#endif
