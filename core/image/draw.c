/* draw.c - raster drawing on struct image (see draw.h).
 *
 * Every primitive reduces to draw_fill() on an integer rectangle that is
 * clipped once, so no primitive writes outside the pixel buffer whatever
 * the coordinates.  Doubles are clamped to a small margin around the image
 * before they become ints: a box at x = 1e300 or NaN must neither overflow
 * an int nor loop over a billion pixels.  Text is drawn by font.c
 * (FreeType, anti-aliased); the 5x7 bitmap font of font5x7.h stands in
 * only when the outline font cannot be loaded.
 */
#include "draw.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "font.h"
#include "font5x7.h"
#include "imgcodec.h"

struct draw_scale draw_scale_for(int w, int h)
{
  int s = w < h ? w : h;
  struct draw_scale d;

  if (s < 0)
    s = 0;
  /* Glyph height 7 * text ~ 2.5 % of the short side: 480 px -> 2 (14 px
   * glyphs), 3000 px -> 11 (77 px). */
  d.text = (s + 140) / 280;
  d.line = (s + 160) / 320;
  if (d.text < 1)
    d.text = 1;
  if (d.line < 1)
    d.line = 1;
  return d;
}

static inline uint8_t luma(struct rgb c)
{
  return (uint8_t)((77 * c.r + 150 * c.g + 29 * c.b) >> 8);
}

void draw_fill(struct image *im, int x0, int y0, int x1, int y1,
               struct rgb c)
{
  if (!im || !im->px)
    return;
  if (x0 < 0)
    x0 = 0;
  if (y0 < 0)
    y0 = 0;
  if (x1 > im->w)
    x1 = im->w;
  if (y1 > im->h)
    y1 = im->h;
  if (x0 >= x1 || y0 >= y1)
    return;
  for (int y = y0; y < y1; y++) {
    uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x0) *
                              (size_t)im->channels;
    if (im->channels == 3) {
      for (int x = x0; x < x1; x++, p += 3) {
        p[0] = c.r;
        p[1] = c.g;
        p[2] = c.b;
      }
    } else if (im->channels == 1) {
      memset(p, luma(c), (size_t)(x1 - x0));
    }
  }
}

/* Clamps a coordinate into [-margin, limit + margin] and converts it;
 * NaN gives -margin (callers check finiteness first where it matters). */
static int clamp_coord(double v, int limit, int margin)
{
  double lo = -(double)margin, hi = (double)limit + margin;
  if (!(v > lo))
    return -margin;
  if (v > hi)
    return limit + margin;
  return (int)v;
}

void draw_rect(struct image *im, double x, double y, double w, double h,
               int thickness, struct rgb c)
{
  if (!im || !isfinite(x) || !isfinite(y) || !isfinite(w) || !isfinite(h) ||
      w < 0 || h < 0)
    return;
  int t = thickness < 1 ? 1 : thickness;
  int x0 = clamp_coord(floor(x), im->w, 1);
  int y0 = clamp_coord(floor(y), im->h, 1);
  int x1 = clamp_coord(ceil(x + w), im->w, 1);
  int y1 = clamp_coord(ceil(y + h), im->h, 1);
  if (x1 <= x0)
    x1 = x0 + 1; /* a zero-width box still shows as a line */
  if (y1 <= y0)
    y1 = y0 + 1;
  /* Only borders that lie inside the image are drawn: an edge of a box
   * that sticks out of the image is clipped away with it. */
  if (y0 >= 0)
    draw_fill(im, x0, y0, x1, y0 + t, c);
  if (y1 <= im->h)
    draw_fill(im, x0, y1 - t, x1, y1, c);
  if (x0 >= 0)
    draw_fill(im, x0, y0, x0 + t, y1, c);
  if (x1 <= im->w)
    draw_fill(im, x1 - t, y0, x1, y1, c);
}

/* Liang-Barsky: clips the segment to [lo_x, hi_x] x [lo_y, hi_y].
 * Returns 0 if nothing is left. */
static int clip_segment(double *x0, double *y0, double *x1, double *y1,
                        double lo_x, double lo_y, double hi_x, double hi_y)
{
  double dx = *x1 - *x0, dy = *y1 - *y0, t0 = 0, t1 = 1;
  double p[4] = { -dx, dx, -dy, dy };
  double q[4] = { *x0 - lo_x, hi_x - *x0, *y0 - lo_y, hi_y - *y0 };

  for (int i = 0; i < 4; i++) {
    if (p[i] == 0) {
      if (q[i] < 0)
        return 0;
      continue;
    }
    double r = q[i] / p[i];
    if (p[i] < 0) {
      if (r > t1)
        return 0;
      if (r > t0)
        t0 = r;
    } else {
      if (r < t0)
        return 0;
      if (r < t1)
        t1 = r;
    }
  }
  double ox = *x0, oy = *y0;
  *x0 = ox + t0 * dx;
  *y0 = oy + t0 * dy;
  *x1 = ox + t1 * dx;
  *y1 = oy + t1 * dy;
  return 1;
}

void draw_line(struct image *im, double x0, double y0, double x1, double y1,
               int thickness, struct rgb c)
{
  if (!im || !isfinite(x0) || !isfinite(y0) || !isfinite(x1) ||
      !isfinite(y1))
    return;
  int t = thickness < 1 ? 1 : thickness;
  int lo = t / 2, hi = t - lo; /* pen covers [p - lo, p + hi) */
  /* Clip to the image grown by the pen, so only visible parts are
   * walked. */
  if (!clip_segment(&x0, &y0, &x1, &y1, -(double)hi, -(double)hi,
                    (double)im->w + lo, (double)im->h + lo))
    return;
  int ax = (int)lround(x0), ay = (int)lround(y0);
  int bx = (int)lround(x1), by = (int)lround(y1);
  int dx = abs(bx - ax), dy = -abs(by - ay);
  int sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1;
  int err = dx + dy;

  for (;;) {
    draw_fill(im, ax - lo, ay - lo, ax + hi, ay + hi, c);
    if (ax == bx && ay == by)
      break;
    int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      ax += sx;
    }
    if (e2 <= dx) {
      err += dx;
      ay += sy;
    }
  }
}

void draw_polyline(struct image *im, const double *xy, size_t n,
                   int thickness, struct rgb c)
{
  for (size_t k = 1; xy && k < n; k++)
    draw_line(im, xy[2 * k - 2], xy[2 * k - 1], xy[2 * k], xy[2 * k + 1],
              thickness, c);
}

void draw_point(struct image *im, double x, double y, int r, struct rgb c)
{
  if (!im || !isfinite(x) || !isfinite(y))
    return;
  if (r < 0)
    r = 0;
  if (r > 4096)
    r = 4096;
  int cx = clamp_coord(floor(x), im->w, r + 1);
  int cy = clamp_coord(floor(y), im->h, r + 1);
  /* One span per row of the disc. */
  for (int dy = -r; dy <= r; dy++) {
    int half = (int)floor(sqrt((double)r * r - (double)dy * dy) + 0.5);
    draw_fill(im, cx - half, cy + dy, cx + half + 1, cy + dy + 1, c);
  }
}

/*---- Text -----------------------------------------------------------------*/

/* The em size of the outline font at a text scale: the bitmap glyph was
 * 7 * scale pixels tall, capitals of DejaVu at this em are about as tall. */
int draw_text_px(int scale)
{
  if (scale < 1)
    scale = 1;
  return scale > 100 ? 703 : 7 * scale + 3;
}

static int bitmap_width(const char *s, int scale)
{
  size_t n = s ? strlen(s) : 0;
  if (n == 0)
    return 0;
  if (n > (size_t)(INT32_MAX / (DRAW_CELL_W * scale)))
    n = (size_t)(INT32_MAX / (DRAW_CELL_W * scale));
  return (int)n * DRAW_CELL_W * scale - scale;
}

int draw_text_width(const char *s, int scale)
{
  if (scale < 1)
    scale = 1;
  if (!s || !*s)
    return 0;
  int w = font_text_width(s, draw_text_px(scale));
  return w >= 0 ? w : bitmap_width(s, scale);
}

int draw_text_height(int scale)
{
  if (scale < 1)
    scale = 1;
  int h = font_line_height(draw_text_px(scale));
  return h >= 0 ? h : DRAW_GLYPH_H * scale;
}

/* The 5x7 font, for when the outline font cannot be loaded. */
static void bitmap_text(struct image *im, int x, int y, const char *s,
                        int scale, struct rgb c)
{
  int cx = x;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (cx >= im->w)
      break; /* the rest is off the image */
    unsigned ch = *p >= 32 && *p <= 126 ? *p : '?';
    const char(*g)[6] = font5x7[ch - 32];
    for (int row = 0; row < DRAW_GLYPH_H; row++)
      for (int col = 0; col < DRAW_GLYPH_W; col++)
        if (g[row][col] == '#')
          draw_fill(im, cx + col * scale, y + row * scale,
                    cx + (col + 1) * scale, y + (row + 1) * scale, c);
    cx += DRAW_CELL_W * scale;
  }
}

int draw_text(struct image *im, int x, int y, const char *s, int scale,
              struct rgb c)
{
  if (!s)
    return 0;
  if (scale < 1)
    scale = 1;
  if (!im || !im->px)
    return draw_text_width(s, scale);
  const uint8_t rgb[3] = { c.r, c.g, c.b };
  int w = font_draw(im, x, y, s, draw_text_px(scale), rgb);
  if (w >= 0)
    return w;
  bitmap_text(im, x, y, s, scale, c);
  return bitmap_width(s, scale);
}

/* Where draw_label_box() puts a caption anchored at (x, y): above the
 * anchor, or hanging below it without room above, kept inside the image. */
static void label_rect(const struct image *im, int x, int y, const char *s,
                       int scale, int *bx, int *by, int *bw, int *bh)
{
  int m = scale;

  *bw = draw_text_width(s, scale) + 2 * m;
  *bh = draw_text_height(scale) + 2 * m;
  *bx = x;
  *by = y - *bh;
  if (*by < 0)
    *by = y; /* no room above the anchor: hang below it */
  if (*bx > im->w - *bw)
    *bx = im->w - *bw;
  if (*by > im->h - *bh)
    *by = im->h - *bh;
  if (*bx < 0)
    *bx = 0;
  if (*by < 0)
    *by = 0;
}

static void label_at(struct image *im, int bx, int by, int bw, int bh,
                     const char *s, int scale, struct rgb fg, struct rgb bg)
{
  draw_fill(im, bx, by, bx + bw, by + bh, bg);
  draw_text(im, bx + scale, by + scale, s, scale, fg);
}

void draw_label_box(struct image *im, int x, int y, const char *s, int scale,
                    struct rgb fg, struct rgb bg)
{
  int bx, by, bw, bh;

  if (!im || !s || !*s)
    return;
  if (scale < 1)
    scale = 1;
  label_rect(im, x, y, s, scale, &bx, &by, &bw, &bh);
  label_at(im, bx, by, bw, bh, s, scale, fg, bg);
}

/*---- Colours --------------------------------------------------------------*/

struct rgb draw_palette(uint32_t class_id)
{
  /* Hues a golden-ratio step apart: consecutive ids are far apart on the
   * colour wheel and no two of the first dozens coincide. */
  double hue = fmod((double)class_id * 0.618033988749895, 1.0) * 6.0;
  double s = 0.85, v = 0.95;
  int i = (int)hue;
  double f = hue - i;
  double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r, g, b;

  switch (i % 6) {
  case 0: r = v, g = t, b = p; break;
  case 1: r = q, g = v, b = p; break;
  case 2: r = p, g = v, b = t; break;
  case 3: r = p, g = q, b = v; break;
  case 4: r = t, g = p, b = v; break;
  default: r = v, g = p, b = q; break;
  }
  return (struct rgb){ (uint8_t)lround(r * 255), (uint8_t)lround(g * 255),
                       (uint8_t)lround(b * 255) };
}

struct rgb draw_ramp(double v)
{
  /* Stops of a perceptually even, colour-blind-safe scale. */
  static const struct rgb stop[5] = {
    { 68, 1, 84 }, { 59, 82, 139 }, { 33, 145, 140 }, { 94, 201, 98 },
    { 253, 231, 37 } };
  if (!(v == v))
    return (struct rgb){ 170, 170, 170 };
  v = v < 0 ? 0 : v > 1 ? 1 : v;
  double t = v * 4;
  int i = t >= 4 ? 3 : (int)t;
  double f = t - i;
  return (struct rgb){
    (uint8_t)lround(stop[i].r + f * (stop[i + 1].r - stop[i].r)),
    (uint8_t)lround(stop[i].g + f * (stop[i + 1].g - stop[i].g)),
    (uint8_t)lround(stop[i].b + f * (stop[i + 1].b - stop[i].b)) };
}

void draw_image_fit(struct image *dst, const struct image *src, int x, int y,
                    int w, int h, int *ret_x, int *ret_y, int *ret_w,
                    int *ret_h)
{
  if (ret_w)
    *ret_w = 0;
  if (ret_h)
    *ret_h = 0;
  if (!dst || !dst->px || !src || !src->px || src->w < 1 || src->h < 1 ||
      w < 1 || h < 1 || (src->channels != 1 && src->channels != 3))
    return;
  /* The largest size of src's aspect inside w x h. */
  int tw = w, th = (int)((int64_t)src->h * w / src->w);
  if (th > h) {
    th = h;
    tw = (int)((int64_t)src->w * h / src->h);
  }
  tw = tw < 1 ? 1 : tw, th = th < 1 ? 1 : th;
  int ox = x + (w - tw) / 2, oy = y + (h - th) / 2;
  for (int ty = 0; ty < th; ty++) {
    int py = oy + ty;
    if (py < 0 || py >= dst->h)
      continue;
    int sy0 = (int)((int64_t)ty * src->h / th);
    int sy1 = (int)((int64_t)(ty + 1) * src->h / th);
    sy1 = sy1 > sy0 ? sy1 : sy0 + 1;
    for (int tx = 0; tx < tw; tx++) {
      int px = ox + tx;
      if (px < 0 || px >= dst->w)
        continue;
      int sx0 = (int)((int64_t)tx * src->w / tw);
      int sx1 = (int)((int64_t)(tx + 1) * src->w / tw);
      sx1 = sx1 > sx0 ? sx1 : sx0 + 1;
      uint32_t acc[3] = { 0, 0, 0 }, cnt = 0;
      for (int sy = sy0; sy < sy1; sy++)
        for (int sx = sx0; sx < sx1; sx++, cnt++) {
          const uint8_t *q = src->px + ((size_t)sy * (size_t)src->w +
                                        (size_t)sx) * (size_t)src->channels;
          for (int k = 0; k < 3; k++)
            acc[k] += q[src->channels == 3 ? k : 0];
        }
      struct rgb c = { (uint8_t)(acc[0] / cnt), (uint8_t)(acc[1] / cnt),
                       (uint8_t)(acc[2] / cnt) };
      draw_fill(dst, px, py, px + 1, py + 1, c);
    }
  }
  if (ret_x)
    *ret_x = ox;
  if (ret_y)
    *ret_y = oy;
  if (ret_w)
    *ret_w = tw;
  if (ret_h)
    *ret_h = th;
}

/* Black or white, whichever reads better on `bg`. */
static struct rgb text_colour(struct rgb bg)
{
  return luma(bg) > 140 ? (struct rgb){ 0, 0, 0 }
                        : (struct rgb){ 255, 255, 255 };
}

/*---- JPEG -----------------------------------------------------------------*/

/* Draws the boxes (outlines first, then all captions, so no caption is
 * covered by another box's outline).  0 or -ENOMEM. */
static int draw_on(struct image *im, const struct draw_box *boxes, size_t n)
{
  struct draw_scale sc = draw_scale_for(im->w, im->h);
  for (size_t i = 0; i < n; i++)
    draw_rect(im, boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h, sc.line,
              boxes[i].colour);
  /* Captions of boxes that nearly coincide (the duplicate pairs this
   * draws) would land on each other: a caption that meets one already
   * placed moves below its box, then further down, until it is free. */
  int (*placed)[4] = calloc(n ? n : 1, sizeof(*placed));
  size_t np = 0;
  if (!placed)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const struct draw_box *b = &boxes[i];
    int bx, by, bw, bh, tries = 0;
    bool clash;
    if (!b->caption || !*b->caption || !isfinite(b->x) || !isfinite(b->y))
      continue;
    label_rect(im, clamp_coord(floor(b->x), im->w, 0),
               clamp_coord(floor(b->y), im->h, 0), b->caption, sc.text, &bx,
               &by, &bw, &bh);
    do {
      clash = false;
      for (size_t k = 0; k < np && !clash; k++)
        clash = bx < placed[k][0] + placed[k][2] && placed[k][0] < bx + bw &&
                by < placed[k][1] + placed[k][3] && placed[k][1] < by + bh;
      if (clash) {
        int below = isfinite(b->h) ? clamp_coord(floor(b->y + b->h), im->h, 0)
                                   : by + bh;
        by = tries == 0 && below > by ? below : by + bh;
        if (by > im->h - bh)
          by = (by + bh) % (im->h > bh ? im->h - bh : 1);
      }
    } while (clash && ++tries < 64);
    label_at(im, bx, by, bw, bh, b->caption, sc.text,
             text_colour(b->colour), b->colour);
    placed[np][0] = bx;
    placed[np][1] = by;
    placed[np][2] = bw;
    placed[np][3] = bh;
    np++;
  }
  free(placed);
  return 0;
}

/* The boxes moved from the stored frame of a w x h picture to the frame
 * orientation o turns it to; NULL when out of memory. */
static struct draw_box *turn_boxes(const struct draw_box *boxes, size_t n,
                                   int o, int w, int h)
{
  struct draw_box *t = malloc((n ? n : 1) * sizeof(*t));

  for (size_t i = 0; t && i < n; i++) {
    double x1 = boxes[i].x, y1 = boxes[i].y;
    double x2 = x1 + boxes[i].w, y2 = y1 + boxes[i].h;
    img_orient_point(o, w, h, true, &x1, &y1);
    img_orient_point(o, w, h, true, &x2, &y2);
    t[i] = boxes[i];
    t[i].x = fmin(x1, x2);
    t[i].y = fmin(y1, y2);
    t[i].w = fabs(x2 - x1);
    t[i].h = fabs(y2 - y1);
  }
  return t;
}

int draw_boxes_jpeg(const void *jpeg, size_t len, int orientation,
                    const struct draw_box *boxes, size_t n, int quality,
                    uint8_t **ret_data, size_t *ret_len)
{
  struct image im = { 0 };
  struct draw_box *turned = NULL;
  int r;

  if (!jpeg || !len || (n && !boxes) || !ret_data || !ret_len ||
      quality < 0 || quality > 100)
    return -EINVAL;
  r = img_decode(jpeg, len, 0, 0, &im, NULL);   /* any format, stored frame */
  if (r == 0 && orientation >= 2 && orientation <= 8) {
    /* Turned before drawing, so captions read upright (docs/USER-GUIDE.md
     * "EXIF orientation"). */
    turned = turn_boxes(boxes, n, orientation, im.w, im.h);
    r = turned ? img_orient(&im, orientation) : -ENOMEM;
    boxes = turned;
  }
  if (r < 0) {
    image_free(&im);
    free(turned);
    return r;
  }
  r = draw_on(&im, boxes, n);
  free(turned);
  if (r == 0)
    r = jpeg_encode(&im, quality ? quality : 90, ret_data, ret_len);
  image_free(&im);
  return r;
}
