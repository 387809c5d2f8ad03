/* labels_json.h - labels/<name>.json: the documented JSON form of a
 * sample's labels (docs/USER-GUIDE.md §6), rendered and strictly parsed.
 *
 * Formats layer: uses jansson for parsing; never touches the store.
 */
#ifndef CURATE_LABELS_JSON_H
#define CURATE_LABELS_JSON_H

#include "labels.h"

/* Renders the documented JSON for labels/<name>.json into `out`.
 * Detections must have `label` set. */
int labels_to_json(const struct labels *l, const char *sample_name,
                   uint32_t width, uint32_t height, struct buf *out);

/* Parses and validates a labels JSON document written by a user.
 * On success fills *ret (owned) and returns 0.  On failure writes a
 * one-line reason into err (always NUL-terminated), leaves *ret empty and
 * returns -EINVAL (valid JSON, but not a valid labels document), -EBADMSG
 * (not valid JSON) or -ENODATA (valid so far but ends early: a writer may
 * still be sending the rest). */
int labels_from_json(const char *text, size_t len, uint32_t width,
                     uint32_t height, struct labels *ret, char *err,
                     size_t errlen);
/* The same, where a ground-truth box reaching past the image is accepted
 * when `kept` (the sample's stored labels; may be NULL) has a box with its
 * id and exactly its coordinates in the same field: a COCO import keeps
 * such boxes as the file gives them, and a document read and written
 * back unchanged must be accepted. */
int labels_from_json_kept(const char *text, size_t len, uint32_t width,
                          uint32_t height, const struct labels *kept,
                          struct labels *ret, char *err, size_t errlen);

#endif
