/* plot_i.h - what the chart files share (plot.c, plot_map.c, plot_pr.c):
 * the canvas, the frame layout (title on top, plot area on the left,
 * legend panel on the right), axes, legend rows and the JPEG encode.
 * Private to core/image/plot*.c.  No state: every function works on the
 * image it is given.
 */
#ifndef CURATE_PLOT_I_H
#define CURATE_PLOT_I_H

#include <stdbool.h>

#include "plot.h"

extern const struct rgb PLOT_BLACK, PLOT_GREY, PLOT_LIGHT;

struct frame {
  int x0, y0, x1, y1; /* plot area, pixels (inclusive-exclusive) */
  int legend_x;       /* left edge of the legend panel */
  int rows;           /* legend rows that fit */
  struct draw_scale sc;
};

/* A white w x h canvas (0 x 0 = 1024 x 768); -EINVAL outside
 * PLOT_MIN_SIZE .. PLOT_MAX_SIZE. */
int plot_canvas(struct image *im, int *w, int *h);
/* The frame of a chart with a legend panel, and its title. */
void plot_layout(struct image *im, const char *title, struct frame *f);
/* Unit coordinates to pixels of the frame. */
double plot_fx(const struct frame *f, double v);
double plot_fy(const struct frame *f, double v);
/* Frame, grid and tick numbers for [lo, hi] on both axes. */
void plot_axes(struct image *im, const struct frame *f, double xlo,
               double xhi, double ylo, double yhi, const char *xt,
               const char *yt, bool numbers);
/* Legend row `row`: a colour swatch and its text. */
void plot_legend_entry(struct image *im, const struct frame *f, int row,
                       struct rgb c, const char *text);
/* Encodes at quality 90 and frees the image. */
int plot_finish(struct image *im, uint8_t **ret_data, size_t *ret_len);

#endif
