/* plot.h - pictures rendered to JPEG with draw.h: line charts on the unit
 * square, the precision-recall summary of an evaluation (plot_pr.c), maps
 * of 2-D points coloured by a key or a value, with thumbnails at their
 * positions, and contact sheets of images (plot_map.c), and the 2-D PCA
 * projection of embeddings (plot.c).
 *
 * What it does: layout (plot area, axes with ticks and numbers, title,
 * legend panel on the right), the PCA projection, and JPEG encoding
 * through jpegcodec.h at quality 90.  Text is draw.h's (anti-aliased
 * DejaVu Sans).  What it does not do: no log axes, no I/O: images for
 * thumbnails come from the caller's callback.
 *
 * Ownership: inputs are borrowed for the call; *ret_data is malloc'd and
 * owned by the caller.  Thread-safety: no globals.
 * Errors: -EINVAL (bad arguments), -ENOMEM.
 */
#ifndef CURATE_PLOT_H
#define CURATE_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "draw.h"

/* Chart size limits (pixels). */
#define PLOT_MIN_SIZE 200
#define PLOT_MAX_SIZE 8192
/* Legend entries shown; the rest are summarised as "+N more". */
#define PLOT_MAX_LEGEND 40

/* One curve: n points (x[i], y[i]), both in [0, 1] (values outside are
 * clipped at the frame; NaN points break the line). */
struct plot_series {
  const double *x, *y;
  size_t n;
  struct rgb colour;
  const char *label; /* legend text, borrowed */
};

/* Line chart over [0,1] x [0,1] with axis titles, e.g. precision against
 * recall.  Series are drawn in order, so put the most important last.
 * w, h: image size (0 = 1024 x 768). */
int plot_lines_jpeg(const struct plot_series *s, size_t n, const char *title,
                    const char *x_title, const char *y_title, int w, int h,
                    uint8_t **ret_data, size_t *ret_len);

/* Projects n points of dimension dim (row-major X) onto their first two
 * principal components: out[2i], out[2i+1].  The components come from a
 * subspace iteration on a deterministic subsample of at most 20,000 rows
 * around the mean of all rows; each component's sign is fixed so that its
 * largest coordinate is positive, so the result does not depend on the
 * run.  *ret_var2 (may be NULL) gets the share of the total variance
 * carried by the two components, in [0, 1].  Non-finite values in X count
 * as 0.  Errors: -EINVAL (dim 0, NULL), -ENOMEM. */
int plot_pca2(const float *X, size_t n, size_t dim, float *out,
              double *ret_var2);

/* Scatter of the PCA projection of n embeddings, each point coloured by
 * key[i] (draw_palette(key[i])); key_names[k] names key k in the legend
 * (keys >= n_keys are grey and listed as "other"); key may be NULL (one
 * colour).  The legend lists the keys present, with counts, largest
 * first.  w, h: image size (0 = 1024 x 768).  n = 0 gives a chart saying
 * so. */
int plot_embeddings_jpeg(const float *X, size_t n, size_t dim,
                         const uint32_t *key, const char *const *key_names,
                         size_t n_keys, int w, int h, uint8_t **ret_data,
                         size_t *ret_len);

/* The precision-recall summary of an evaluation: up to PLOT_PR_CURVES
 * dataset-wide curves (precision at each recall point, NaN where
 * undefined) with their AP, and every class's AP as a ranked bar (classes
 * with a negative or NaN AP, i.e. no ground truth, are left out and
 * counted).  The picture is plot_pr_width() x plot_pr_height(classes
 * shown) pixels. */
#define PLOT_PR_CURVES 4
struct plot_pr {
  const char *title;
  const double *recall;   /* n_points values in [0, 1] */
  size_t n_points;
  const double *curve[PLOT_PR_CURVES];
  const char *curve_label[PLOT_PR_CURVES];
  double curve_ap[PLOT_PR_CURVES];
  size_t n_curves;
  const char *const *class_names;
  const double *class_ap;
  size_t n_classes;
};
int plot_pr_width(void);
int plot_pr_height(size_t n_classes);
int plot_pr_jpeg(const struct plot_pr *p, uint8_t **ret_data,
                 size_t *ret_len);

/* A map of n 2-D points xy[2i], xy[2i + 1] (any range: scaled to the
 * frame), each coloured by value[i] on draw_ramp() when value is set (NaN
 * grey, legend: a colour bar titled value_name), else by key[i] as
 * plot_embeddings_jpeg() does, else one colour. */
struct plot_map {
  const float *xy;
  size_t n;
  const uint32_t *key;           /* may be NULL */
  const char *const *key_names;  /* n_keys names */
  size_t n_keys;
  const double *value;           /* may be NULL; in [0, 1] */
  const char *value_name;
  const char *title, *x_title, *y_title;
};
int plot_map_jpeg(const struct plot_map *m, int w, int h, uint8_t **ret_data,
                  size_t *ret_len);

/* A small image of item i, fitting max_side x max_side or larger (it is
 * scaled down to fit): 0 and *ret filled (the caller frees it), or -errno
 * (the item is drawn as a grey tile). */
typedef int (*plot_thumb_fn)(void *ud, size_t i, int max_side,
                             struct image *ret);

/* Thumbnail side in plot_map_thumbs_jpeg() pictures. */
#define PLOT_THUMB 56
/* The map of m (colours as plot_map_jpeg() for the dots) with the images
 * of some points drawn at their positions: the frame is cut into cells of
 * PLOT_THUMB pixels and in each the point nearest the cell's centre shows
 * its image (so dense regions show one image per cell and nothing
 * overlaps); every point is also a dot.  w, h: 0 = 1600 x 1200. */
int plot_map_thumbs_jpeg(const struct plot_map *m, plot_thumb_fn fn, void *ud,
                         int w, int h, uint8_t **ret_data, size_t *ret_len);

/* Contact sheet layout: PLOT_SHEET_COLS columns of cells of PLOT_SHEET_CELL
 * pixels (image area) plus a caption line; a title band on top.  The
 * picture is plot_sheet_width() x plot_sheet_height(n) pixels. */
#define PLOT_SHEET_COLS 8
#define PLOT_SHEET_CELL 180
#define PLOT_SHEET_MAX 400
int plot_sheet_width(void);
int plot_sheet_height(size_t n);
/* The images of items 0 .. n - 1 (n <= PLOT_SHEET_MAX) in rows, each with
 * captions[i] under it; n = 0 gives a sheet saying `empty`. */
int plot_sheet_jpeg(size_t n, const char *const *captions, const char *title,
                    const char *empty, plot_thumb_fn fn, void *ud,
                    uint8_t **ret_data, size_t *ret_len);

#endif
