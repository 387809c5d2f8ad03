/* plot.h - charts rendered to JPEG with draw.h: line charts on the unit
 * square (precision-recall curves) and a 2-D PCA scatter of embeddings.
 *
 * What it does: layout (plot area, axes with ticks and numbers, title,
 * legend panel on the right), the PCA projection, and JPEG encoding
 * through jpegcodec.h at quality 90.  What it does not do: no fonts other
 * than draw.h's bitmap font, no log axes, no I/O.
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

#endif
