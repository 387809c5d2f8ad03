/* shapebox.h - the box of an annotation shape, where one is well defined,
 * as CVAT draws its shapes: a rectangle (its bounding rectangle when
 * rotated), a polygon, an ellipse and a mask.  One module for both ways
 * CVAT's shapes arrive: the pull's REST answers (core/cvat) and the
 * "CVAT for images 1.1" XML of an export (core/formats), so the two give
 * the same box for the same shape.
 *
 * Pure arithmetic on the caller's numbers; no state, no allocation.
 */
#ifndef CURATE_SHAPEBOX_H
#define CURATE_SHAPEBOX_H

#include <stdbool.h>
#include <stddef.h>

enum shape_type {
  SHAPE_OTHER,      /* points, polyline, skeleton, cuboid, tag: no box */
  SHAPE_RECTANGLE,
  SHAPE_POLYGON,
  SHAPE_ELLIPSE,
  SHAPE_MASK,
};

/* The type of CVAT's name for a shape ("rectangle", "polygon", "ellipse",
 * "mask"; the XML's "box" is a rectangle). */
enum shape_type shape_type_of(const char *name);

/* The box {x1, y1, x2, y2} of a shape from its points as CVAT's API lists
 * them:
 *   rectangle  xtl, ytl, xbr, ybr, turned by rot degrees clockwise about
 *              its centre (image coordinates, y down);
 *   polygon    x, y of each vertex (3 or more);
 *   ellipse    the centre, then x at the end of the x radius and y at the
 *              end of the y radius, turned by rot degrees;
 *   mask       its run-length code, then left, top, right, bottom as
 *              inclusive pixel indices (the box covers those pixels).
 * Returns false where the points do not make such a shape (a count that
 * does not fit, a mask whose right or bottom lies before its left or
 * top, a number that is not finite) or for SHAPE_OTHER. */
bool shape_box(enum shape_type t, const double *p, size_t n, double rot,
               double out[4]);

#endif
