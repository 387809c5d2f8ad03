/* codec_i.h - the per-format decoders behind imgcodec.h (private to
 * core/image/imgcodec.c and core/codec_*.c).  Each gets the whole file in memory
 * and its header already read (info: size checked against IMG_MAX_PIXELS),
 * and fills *ret with 8-bit RGB in the stored frame.  Same errors as
 * imgcodec.h. */
#ifndef CURATE_CODEC_I_H
#define CURATE_CODEC_I_H

#include "imgcodec.h"

int codec_png_decode(const uint8_t *p, size_t n, const struct img_info *info,
                     struct image *ret);
int codec_webp_decode(const uint8_t *p, size_t n, const struct img_info *info,
                      int min_short, struct image *ret);
int codec_tiff_decode(const uint8_t *p, size_t n, const struct img_info *info,
                      struct image *ret);
int codec_gif_decode(const uint8_t *p, size_t n, const struct img_info *info,
                     struct image *ret);
int codec_bmp_decode(const uint8_t *p, size_t n, const struct img_info *info,
                     struct image *ret);

/* RGBA rows (w*4 bytes) composited over white into an RGB image. */
void codec_rgba_to_rgb(const uint8_t *rgba, struct image *dst);

#endif
