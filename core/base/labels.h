/* labels.h - the label model: named fields of detections, their compact
 * binary encoding for the store.  Their JSON form (labels/<name>.json) is in
 * formats/labels_json.h.
 *
 * Boxes are in PIXEL space, COCO style: x, y = top-left corner, w, h = size,
 * doubles, no "+1" inclusive-edge convention.  A box lies inside the image
 * when 0 <= x, 0 <= y, x + w <= width, y + h <= height.
 *
 * Ownership: a struct labels owns its fields, their names and detections,
 * and each detection owns its `label` and `attributes` strings.  Functions
 * that add a detection copy the strings they are given.
 */
#ifndef CURATE_LABELS_H
#define CURATE_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define LABELS_MAX_FIELD_NAME 64
#define LABELS_MAX_CLASS_NAME 200
/* Largest labels/<name>.json accepted by a write. */
#define LABELS_MAX_JSON (16u << 20)

struct detection {
  uint64_t id;          /* stable label id; 0 = not yet stored */
  uint32_t class_id;    /* 0 = resolve from `label` when stored */
  char *label;          /* class name (owned) */
  double x, y, w, h;    /* pixels */
  double confidence;    /* NAN when absent */
  bool iscrowd;
  /* COCO `area` as imported (segmentation area in real COCO files); it
   * decides COCO's small/medium/large ranges.  has_area false: w * h. */
  bool has_area;
  double area;
  char *attributes;     /* compact JSON object text (owned), NULL if none */
  /* Derived, never stored: the box's max IoU with another box of its
   * field and that box's id, filled in by the reader (views.h) so the
   * JSON shows it; the JSON parser accepts and ignores them. */
  bool has_max_iou;
  double max_iou;
  uint64_t max_iou_id;
};

struct label_field {
  char *name;           /* owned */
  size_t n, cap;
  struct detection *d;  /* owned array */
};

struct labels {
  size_t n, cap;
  struct label_field *f;  /* owned array */
};

void labels_init(struct labels *l);
void labels_free(struct labels *l);
/* Finds a field by name; with create, appends an empty one.  NULL when
 * absent (or out of memory with create). */
struct label_field *labels_field(struct labels *l, const char *name,
                                 bool create);
/* Appends a copy of *d (strings copied).  Returns 0 or -ENOMEM. */
int labels_field_add(struct label_field *f, const struct detection *d);
/* Replaces the detections of field `name` (created if absent) with those
 * of src, which are taken: src is left empty.  Returns the field, or NULL
 * out of memory (then l and src are unchanged). */
struct label_field *labels_field_replace(struct labels *l, const char *name,
                                         struct label_field *src);
/* Before old's boxes are replaced by nw's (an import of a whole field):
 * each box of nw without an id (0) takes the id of an equal box of old
 * (class, coordinates, confidence, crowd flag, area and attributes), each
 * old box at most once, so a box imported again keeps its id and what is
 * named after it (ImageNet crops, CVAT shapes).  Returns true when nw is
 * old unchanged (same boxes in the same order): storing it would change
 * nothing but the sample's label version.  old may be NULL (no field). */
bool labels_field_adopt_ids(const struct label_field *old,
                            struct label_field *nw);
void detection_clear(struct detection *d);
/* Frees f's detections and their array, leaving f empty (n, cap 0); its
 * name is left alone. */
void labels_field_clear(struct label_field *f);

/* Field names: 1..64 bytes of [A-Za-z0-9_.-]. */
bool labels_field_name_valid(const char *name);
/* Class names: 1..200 bytes of valid UTF-8, no control characters. */
bool labels_class_name_valid(const char *name);
/* The same without the UTF-8 check: what a name must be to be looked up
 * (so a class named before the check existed can still be renamed or
 * removed). */
bool labels_class_key_valid(const char *name);
/* Is s[0..n) well-formed UTF-8 (no overlong forms, surrogates or code
 * points above U+10FFFF)? */
bool labels_utf8_valid(const char *s, size_t n);
/* Is the box finite, non-negative in size and inside a w x h image? */
bool labels_box_inside(const struct detection *d, uint32_t width,
                       uint32_t height);

/* *ret = *d (strings borrowed, not copied) with the box clipped to a
 * width x height image (left as is when either is 0, size unknown).
 * false when a box has no part inside the image; a box that was already
 * empty (a point or a line) stays (true) when it touches the image.  For the exports whose format
 * needs coordinates inside the image (docs/EXPORT.md); the store keeps
 * boxes as imported. */
bool labels_box_clip(const struct detection *d, uint32_t width,
                     uint32_t height, struct detection *ret);

/* Binary codec of one field (see docs/STORE-FORMAT.md).  Encoding appends to
 * `out`; decoding fills `f` (whose name is left alone) and leaves `label`
 * NULL: class names live in the class table.  -EBADMSG on a bad record. */
int labels_field_encode(const struct label_field *f, struct buf *out);
int labels_field_decode(const void *p, size_t n, struct label_field *f);

#endif
