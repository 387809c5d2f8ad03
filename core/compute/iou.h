/* iou.h - intersection-over-union of axis-aligned boxes, max IoU within a
 * set of boxes, and duplicate-box search (docs/ALGORITHMS.md §3).
 *
 * Box convention: PIXEL space, struct iou_rect { x, y, w, h } with (x, y)
 * the top-left corner and (w, h) the extent, y growing downwards.  Edges are
 * continuous, with no "+1" pixel convention: a box covers [x, x+w) × [y, y+h)
 * and its area is w·h.  Boxes that only touch along an edge therefore have
 * IoU 0.  Coordinates are used as given (no rounding); callers converting
 * from relative [0,1] boxes multiply by the image width and height, which
 * leaves IoU unchanged up to float rounding.
 *
 * Pure compute: no I/O, no globals.  Every function is thread-safe and only
 * reads its inputs; outputs are caller-provided arrays.
 */
#ifndef CURATE_IOU_H
#define CURATE_IOU_H

#include <stdbool.h>
#include <stddef.h>

struct iou_rect {
  double x, y, w, h;
};

/* IoU of a ground-truth-like box `a` and a prediction-like box `b`, as the
 * reference: inter = overlap width × overlap height (0 when either is <= 0);
 * union = area(b) when `a_is_crowd`, else area(a) + area(b) - inter;
 * result = min(inter / union, 1), and 0 when union is 0.  A box with a NaN
 * coordinate, or zero or negative width/height, gives 0; so do infinite
 * boxes.  Symmetric in a and b unless a_is_crowd. */
double iou_box(const struct iou_rect *a, const struct iou_rect *b,
               bool a_is_crowd);

/* Flags for iou_max_within() and iou_find_duplicates(). */
enum {
  /* Compare boxes of every class with each other.  Without it only boxes of
   * the same class are compared (the "classwise" mode), which is the
   * default here because it is what duplicate-annotation review uses. */
  IOU_ALL_CLASSES = 1u << 0,
};

/* Value stored in max_iou when the set has fewer than 2 boxes (the
 * reference stores nothing then). */
#define IOU_NONE (-1.0)

/* For each of the `n` boxes, its maximum IoU with any OTHER box of the set
 * and the index of that partner.
 *
 * classes: n class ids, or NULL (all boxes in one class).  Ignored with
 *   IOU_ALL_CLASSES.  Boxes of different classes count as IoU 0 otherwise.
 * ret_max_iou[i] (n entries, caller-allocated): in [0, 1]; 0 when no other
 *   box overlaps box i; IOU_NONE for every box when n < 2.
 * ret_partner[i] (n entries, may be NULL): the partner's index, the lowest
 *   index among partners with equal maximum IoU; -1 when ret_max_iou[i] is
 *   0 or IOU_NONE.
 *
 * Crowd flags are not used: IoU within one set is the symmetric plain IoU.
 * Boxes with non-finite coordinates or w <= 0 or h <= 0 overlap nothing.
 *
 * Cost: boxes are sorted by (class, x) and swept, so only pairs whose x
 * ranges overlap are examined: O(n log n + overlapping-in-x pairs).  Small
 * sets (n <= 8) use the plain double loop.
 *
 * Returns 0, -EINVAL (NULL arrays with n > 0), or -ENOMEM (outputs then
 * unspecified). */
int iou_max_within(const struct iou_rect *boxes, const int *classes,
                   size_t n, unsigned flags, double *ret_max_iou,
                   ptrdiff_t *ret_partner);

enum iou_dup_method {
  /* Every box that is the later (higher index) element of a pair with
   * IoU > thresh is a duplicate. */
  IOU_DUP_SIMPLE,
  /* Repeatedly drop the box occurring in the most remaining pairs (ties:
   * lowest index) and forget its pairs, until no pair is left. */
  IOU_DUP_GREEDY,
  _IOU_DUP_MAX,
};

/* Duplicate boxes: pairs (i, j) of the set with IoU > thresh (strictly),
 * resolved by `method` as above.  `classes` and `flags` as for
 * iou_max_within() (so the default compares same-class boxes only).
 *
 * thresh must be finite and >= 0 (the reference default is 0.999; 0.75 is
 * the documented review workflow).  A thresh >= 1 finds nothing.
 * ret_dups (capacity n, caller-allocated) receives the duplicate indices in
 * ascending order, *ret_count their number.
 *
 * Memory is proportional to the number of pairs above thresh (at most
 * n(n-1)/2 when every box is identical); the greedy method costs
 * O(n) per dropped box on top of that.
 *
 * Returns 0, -EINVAL (bad thresh or method, NULL arrays with n > 0) or
 * -ENOMEM. */
int iou_find_duplicates(const struct iou_rect *boxes, const int *classes,
                        size_t n, double thresh, enum iou_dup_method method,
                        unsigned flags, size_t *ret_dups, size_t *ret_count);

#endif
