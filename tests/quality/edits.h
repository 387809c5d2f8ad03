/* edits.h - the edited copies of the near-duplicate quality test, drawn on
 * decoded RGB images: padding with a solid colour, rotation about the
 * centre, a crop, a text-like overlay, a gamma curve, a grey copy and a
 * colour cast.
 * Each returns 0 or a negative errno (allocation), and writes a new image
 * the caller frees with image_free().  Header-only (static functions), in
 * the style of tests/gen/paint.h; nothing here is used outside tests.
 */
#ifndef CURATE_TESTS_EDITS_H
#define CURATE_TESTS_EDITS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "jpegcodec.h"

/* Pads src with a border of colour rgb: `frac` of the width on the left
 * and right when lr, `frac` of the height on the top and bottom when tb
 * (the letterbox and pillarbox shapes, or all four sides). */
static int edit_pad(const struct image *src, double frac, int lr, int tb,
                    const uint8_t rgb[3], struct image *out)
{
  int bx = lr ? (int)(src->w * frac + 0.5) : 0;
  int by = tb ? (int)(src->h * frac + 0.5) : 0;
  int r = image_alloc(out, src->w + 2 * bx, src->h + 2 * by, 3);

  if (r < 0)
    return r;
  for (size_t i = 0; i < (size_t)out->w * out->h; i++)
    memcpy(out->px + 3 * i, rgb, 3);
  for (int y = 0; y < src->h; y++)
    memcpy(out->px + ((size_t)(y + by) * out->w + bx) * 3,
           src->px + (size_t)y * src->w * 3, (size_t)src->w * 3);
  return 0;
}

/* The window [x0, x0+w) x [y0, y0+h) of src. */
static int edit_crop(const struct image *src, int x0, int y0, int w, int h,
                     struct image *out)
{
  int r = image_alloc(out, w, h, 3);

  for (int y = 0; r == 0 && y < h; y++)
    memcpy(out->px + (size_t)y * w * 3,
           src->px + ((size_t)(y + y0) * src->w + x0) * 3, (size_t)w * 3);
  return r;
}

/* Rotation by deg degrees about the centre, bilinear.  expand: the canvas
 * grows to hold the whole picture (corners filled with fill), as image
 * editors do by default; otherwise it keeps its size and the corners that
 * come in from outside are filled. */
static int edit_rotate(const struct image *src, double deg, int expand,
                       const uint8_t fill[3], struct image *out)
{
  double a = deg * M_PI / 180, c = cos(a), s = sin(a);
  int w = src->w, h = src->h, r;

  if (expand) {
    w = (int)ceil(src->w * fabs(c) + src->h * fabs(s));
    h = (int)ceil(src->w * fabs(s) + src->h * fabs(c));
  }
  r = image_alloc(out, w, h, 3);
  for (int y = 0; r == 0 && y < h; y++)
    for (int x = 0; x < w; x++) {
      double dx = x + 0.5 - w / 2.0, dy = y + 0.5 - h / 2.0;
      double sx = c * dx + s * dy + src->w / 2.0 - 0.5;
      double sy = -s * dx + c * dy + src->h / 2.0 - 0.5;
      int ix = (int)floor(sx), iy = (int)floor(sy);
      double fx = sx - ix, fy = sy - iy;
      uint8_t *d = out->px + ((size_t)y * w + x) * 3;
      if (ix < 0 || iy < 0 || ix + 1 >= src->w || iy + 1 >= src->h) {
        memcpy(d, fill, 3);
        continue;
      }
      for (int k = 0; k < 3; k++) {
        const uint8_t *p = src->px + ((size_t)iy * src->w + ix) * 3 + k;
        double t = p[0] * (1 - fx) + p[3] * fx;
        double b = p[src->w * 3] * (1 - fx) + p[src->w * 3 + 3] * fx;
        d[k] = (uint8_t)(t * (1 - fy) + b * fy + 0.5);
      }
    }
  return r;
}

/* A line of `n` pseudo-random 5x7 glyphs, `scale` px per dot, white at
 * 70 % opacity with a dark shadow, at the lower right (a watermark or a
 * caption).  Modifies im in place. */
static void edit_text(struct image *im, int n, int scale, uint64_t seed)
{
  int x0 = im->w - 8 - n * 6 * scale, y0 = im->h - 8 - 7 * scale;

  for (int g = 0; g < n; g++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (int dy = 0; dy < 7; dy++)
      for (int dx = 0; dx < 5; dx++) {
        if (!((seed >> (dy * 5 + dx)) & 1))
          continue;
        for (int py = 0; py < scale; py++)
          for (int px = 0; px < scale; px++) {
            int x = x0 + (g * 6 + dx) * scale + px;
            int y = y0 + dy * scale + py;
            for (int sh = 1; sh >= 0; sh--) {
              int xx = x + sh, yy = y + sh;
              if (xx < 0 || yy < 0 || xx >= im->w || yy >= im->h)
                continue;
              uint8_t *p = im->px + ((size_t)yy * im->w + xx) * 3;
              for (int k = 0; k < 3; k++)
                p[k] = (uint8_t)(sh ? p[k] * 0.5 : p[k] * 0.3 + 255 * 0.7);
            }
          }
      }
  }
}

/* out = 255 * (in / 255)^gamma per channel, in place. */
static void edit_gamma(struct image *im, double gamma)
{
  uint8_t lut[256];

  for (int i = 0; i < 256; i++)
    lut[i] = (uint8_t)(255 * pow(i / 255.0, gamma) + 0.5);
  for (size_t i = 0; i < (size_t)im->w * im->h * 3; i++)
    im->px[i] = lut[im->px[i]];
}

/* A grey copy (Rec. 709 luma, as several editors make it; the features
 * use BT.601, so the two weightings differ on purpose), kept as RGB. */
static void edit_gray(struct image *im)
{
  for (size_t i = 0; i < (size_t)im->w * im->h; i++) {
    uint8_t *p = im->px + 3 * i;
    double y = 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
    p[0] = p[1] = p[2] = (uint8_t)(y + 0.5);
  }
}

/* A colour cast (a white balance moved): red times r, blue times b,
 * clipped; green kept.  In place. */
static void edit_cast(struct image *im, double r, double b)
{
  for (size_t i = 0; i < (size_t)im->w * im->h; i++) {
    uint8_t *p = im->px + 3 * i;
    double vr = p[0] * r + 0.5, vb = p[2] * b + 0.5;
    p[0] = (uint8_t)(vr > 255 ? 255 : vr);
    p[2] = (uint8_t)(vb > 255 ? 255 : vb);
  }
}

#endif
