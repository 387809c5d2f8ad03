/* draw.h - drawing on RGB images: boxes, lines, points, text and label
 * boxes, plus draw_boxes_jpeg(), which draws captioned boxes onto a JPEG.
 *
 * What it does: plain raster operations on a struct image (jpegcodec.h),
 * every one clipped to the image, so any coordinates (negative, huge, NaN)
 * are safe.  Text is UTF-8, drawn anti-aliased with the outline font of
 * font.h (DejaVu Sans) at a size set by an integer text scale;
 * draw_scale_for() picks the scale and line thickness that keep text
 * readable on the image's size.  If the font cannot be loaded, text falls
 * back to a built-in 5x7 bitmap font (printable ASCII; other bytes as '?').
 *
 * What it does not do: no anti-aliased lines or shapes (only text is
 * blended), no Unicode shaping, no file I/O.  JPEG coding goes through
 * jpegcodec.h.
 *
 * Coordinates: pixels, origin top-left, x to the right, y down.  A rectangle
 * (x, y, w, h) covers the pixel columns floor(x) .. ceil(x + w) - 1, the
 * same box convention as labels.h (continuous coordinates, top-left + size).
 *
 * Images may have 3 channels (RGB) or 1 (gray: colours are converted to
 * their luma).  Functions never allocate except draw_boxes_jpeg().
 * Thread-safety: no globals; calls on different images may run in parallel.
 */
#ifndef CURATE_DRAW_H
#define CURATE_DRAW_H

#include <stddef.h>
#include <stdint.h>

#include "jpegcodec.h"

struct rgb {
  uint8_t r, g, b;
};

/* Bitmap fallback font cell: glyphs are 5x7 pixels in a 6x9 cell (1
 * column and 2 rows of spacing) at scale 1. */
#define DRAW_GLYPH_W 5
#define DRAW_GLYPH_H 7
#define DRAW_CELL_W 6
#define DRAW_CELL_H 9

/* Sizes that read well on a w x h image: text scale (glyph height
 * 7 * scale, about 2.5 % of the short side, at least 1) and box line
 * thickness (at least 1). */
struct draw_scale {
  int text;
  int line;
};
struct draw_scale draw_scale_for(int w, int h);

/* Filled rectangle of pixels x0 <= x < x1, y0 <= y < y1, clipped. */
void draw_fill(struct image *im, int x0, int y0, int x1, int y1,
               struct rgb c);
/* Rectangle outline whose border grows `thickness` pixels inwards from the
 * box edges (so a box on the image border stays visible).  Clipped;
 * thickness < 1 is taken as 1. */
void draw_rect(struct image *im, double x, double y, double w, double h,
               int thickness, struct rgb c);
/* Straight line from (x0, y0) to (x1, y1), `thickness` pixels wide
 * (square pen), clipped. */
void draw_line(struct image *im, double x0, double y0, double x1, double y1,
               int thickness, struct rgb c);
/* Lines through n points xy[2k], xy[2k+1]; n < 2 draws nothing. */
void draw_polyline(struct image *im, const double *xy, size_t n,
                   int thickness, struct rgb c);
/* Filled disc of radius r (r = 0: one pixel) centred on (x, y). */
void draw_point(struct image *im, double x, double y, int r, struct rgb c);

/* Em size in pixels of the outline font at a text scale (7 * scale + 3). */
int draw_text_px(int scale);
/* Width and height in pixels of `s` drawn at `scale` (one line: the
 * advance width, and the line box from ascender to descender). */
int draw_text_width(const char *s, int scale);
int draw_text_height(int scale);
/* Draws `s` with the top-left corner of its line box at (x, y); clipped.
 * Returns the width drawn. */
int draw_text(struct image *im, int x, int y, const char *s, int scale,
              struct rgb c);
/* A caption: text on a filled background with a margin of `scale`
 * pixels.  The box is anchored with its bottom-left corner at (x, y)
 * (above a box's top edge), moved below y when there is no room above,
 * and shifted left/down so that it lies inside the image whenever it fits.
 * Text longer than the image width is cut. */
void draw_label_box(struct image *im, int x, int y, const char *s, int scale,
                    struct rgb fg, struct rgb bg);

/* Draws src scaled to fit the box (x, y, w, h), aspect kept, centred in
 * it, averaging the source pixels each target pixel covers (src may have 1
 * or 3 channels; upscaling repeats pixels).  Clipped to dst.  Returns the
 * drawn rectangle in *ret_x, *ret_y, *ret_w, *ret_h (may be NULL). */
void draw_image_fit(struct image *dst, const struct image *src, int x, int y,
                    int w, int h, int *ret_x, int *ret_y, int *ret_w,
                    int *ret_h);

/* A colour of a sequential scale (dark blue, teal, green, yellow) for v
 * in [0, 1] (clamped); NaN is grey. */
struct rgb draw_ramp(double v);

/* A distinct, saturated colour per class id (stable across runs). */
struct rgb draw_palette(uint32_t class_id);

/* A box for draw_boxes_jpeg(). */
struct draw_box {
  double x, y, w, h;   /* pixels of the stored frame, labels.h convention */
  struct rgb colour;
  const char *caption; /* NULL or "" = no caption; borrowed */
};

/* Decodes `jpeg` (an image of any format of imgcodec.h; the result is
 * always a JPEG) at full size, turns it by `orientation` (the sample's
 * EXIF orientation, 1..8; anything else is taken as 1) as a viewer would,
 * draws the boxes, given in the stored frame and turned with the pixels
 * (outlines first, then all captions, so no caption is covered by another
 * box's outline), and re-encodes at `quality` (1..100; 0 = 90).  The
 * result is the picture as a viewer shows the original, upright with
 * upright captions; it carries no EXIF (nothing left to turn), so its
 * pixel size is the original's with width and height swapped for
 * orientations 5..8.  *ret_data is malloc'd and owned by the caller.
 * Errors: -EINVAL (bad arguments), -EBADMSG (not a decodable image),
 * -ENOMEM. */
int draw_boxes_jpeg(const void *jpeg, size_t len, int orientation,
                    const struct draw_box *boxes, size_t n, int quality,
                    uint8_t **ret_data, size_t *ret_len);

#endif
