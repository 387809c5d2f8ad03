/* shapebox.c - boxes of CVAT's shapes (see shapebox.h).  Rotation is
 * clockwise on screen, which with y pointing down is the usual
 * counter-clockwise rotation matrix. */
#include "shapebox.h"

#include <math.h>
#include <string.h>

enum shape_type shape_type_of(const char *name)
{
  if (strcmp(name, "rectangle") == 0 || strcmp(name, "box") == 0)
    return SHAPE_RECTANGLE;
  if (strcmp(name, "polygon") == 0)
    return SHAPE_POLYGON;
  if (strcmp(name, "ellipse") == 0)
    return SHAPE_ELLIPSE;
  if (strcmp(name, "mask") == 0)
    return SHAPE_MASK;
  return SHAPE_OTHER;
}

/* Bounding rectangle of the corners (x, y) rotated by deg degrees
 * clockwise about (cx, cy). */
static void rotated_bounds(const double *x, const double *y, size_t n,
                           double cx, double cy, double deg, double out[4])
{
  double a = deg * M_PI / 180.0, c = cos(a), s = sin(a);

  for (size_t i = 0; i < n; i++) {
    double rx = cx + c * (x[i] - cx) - s * (y[i] - cy);
    double ry = cy + s * (x[i] - cx) + c * (y[i] - cy);
    if (i == 0 || rx < out[0]) out[0] = rx;
    if (i == 0 || ry < out[1]) out[1] = ry;
    if (i == 0 || rx > out[2]) out[2] = rx;
    if (i == 0 || ry > out[3]) out[3] = ry;
  }
}

/* The bounding rectangle of the n / 2 points (x, y) of p. */
static void point_bounds(const double *p, size_t n, double out[4])
{
  for (size_t i = 0; i + 1 < n; i += 2) {
    if (i == 0 || p[i] < out[0]) out[0] = p[i];
    if (i == 0 || p[i + 1] < out[1]) out[1] = p[i + 1];
    if (i == 0 || p[i] > out[2]) out[2] = p[i];
    if (i == 0 || p[i + 1] > out[3]) out[3] = p[i + 1];
  }
}

bool shape_box(enum shape_type t, const double *p, size_t n, double rot,
               double out[4])
{
  const double *q = p;
  size_t m = n;

  if (t == SHAPE_MASK && n >= 5) {   /* only the last four say where */
    q = p + n - 4;
    m = 4;
  }
  for (size_t i = 0; i < m; i++)
    if (!isfinite(q[i]))
      return false;
  if (!isfinite(rot))
    rot = 0;
  switch (t) {
  case SHAPE_RECTANGLE:
    if (n != 4)
      return false;
    if (rot == 0.0) {
      memcpy(out, p, 4 * sizeof(double));
      return true;
    }
    rotated_bounds((const double[4]){ p[0], p[2], p[2], p[0] },
                   (const double[4]){ p[1], p[1], p[3], p[3] }, 4,
                   (p[0] + p[2]) / 2, (p[1] + p[3]) / 2, rot, out);
    return true;
  case SHAPE_POLYGON:
    if (n < 6 || n % 2 != 0)
      return false;
    point_bounds(p, n, out);
    return true;
  case SHAPE_ELLIPSE: {
    if (n != 4)
      return false;
    double rx = fabs(p[2] - p[0]), ry = fabs(p[1] - p[3]);
    double a = rot * M_PI / 180.0, c = cos(a), s = sin(a);
    double hx = sqrt(rx * rx * c * c + ry * ry * s * s);
    double hy = sqrt(rx * rx * s * s + ry * ry * c * c);
    out[0] = p[0] - hx;
    out[1] = p[1] - hy;
    out[2] = p[0] + hx;
    out[3] = p[1] + hy;
    return true;
  }
  case SHAPE_MASK:
    if (n < 5 || q[2] < q[0] || q[3] < q[1])
      return false;
    out[0] = q[0];
    out[1] = q[1];
    out[2] = q[2] + 1;
    out[3] = q[3] + 1;
    return true;
  default:
    return false;
  }
}
