/* maxiou.h - max IoU of each box with the other boxes of its label field,
 * under the dupes.* settings: what views/dupes lists, what its images
 * draw, and the max_iou the labels JSON shows.
 *
 * Settings read (config.h): dupes.iou (the threshold), dupes.classes
 * ("all": boxes of any class are compared, else only boxes of one class),
 * dupes.field (only that field is flagged; empty = every field).
 *
 * Ownership: the arrays returned are malloc'd and owned by the caller.
 * Locking: none; t is the caller's transaction (read or write), used by
 * one thread.
 */
#ifndef CURATE_MAXIOU_H
#define CURATE_MAXIOU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct labels;

/* Max IoU of every box with another box of its field, and that partner's
 * label id, under the current settings (dupes.classes); IOU_NONE (-1) and
 * 0 when a field has fewer than two boxes.  Arrays are flattened over the
 * fields in order. */
int maxiou_get(struct store_txn *t, const struct labels *l,
               double **ret_iou, uint64_t **ret_partner, size_t *ret_n);

/* The duplicate boxes of one sample under the current settings: for each
 * box of `l` whose max IoU with another box of its field exceeds
 * dupes.iou, in a field dupes.field selects, flags[i] = true (fields
 * flattened in order).  With ret_iou (may be NULL) also the max IoU of
 * every box. */
int maxiou_dupe_flags(struct store_txn *t, const struct labels *l,
                      bool **ret_flags, double **ret_iou, size_t *ret_n);

#endif
