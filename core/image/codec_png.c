/* codec_png.c - PNG decoding and encoding with libspng (the only user of
 * libspng).
 *
 * libspng over libpng: about twice libpng's speed on 8-bit images in our
 * measurement (README, dependencies), a small API with image and chunk
 * limits, and CRC checks of every chunk on by default, so a corrupt file
 * is refused rather than half-decoded. */
#include "codec_i.h"

#include <errno.h>
#include <spng.h>
#include <stdlib.h>

/* A non-interlaced PNG row by row (libspng's progressive decode), each
 * row averaged down as it comes (codec_shrink), so the full-size picture
 * never exists.  RGBA rows are composited over white first, as
 * codec_rgba_to_rgb() does for a whole image. */
static int png_rows(spng_ctx *ctx, const struct spng_ihdr *ih, bool alpha,
                    int f, struct image *ret)
{
  int fmt = alpha ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8, r, e;
  size_t len = (size_t)ih->width * (alpha ? 4 : 3);
  struct codec_shrink sh;
  struct image rgb = { (int)ih->width, 1, 3, NULL };
  uint8_t *row = malloc(len);

  if (!row || (alpha && !(rgb.px = malloc((size_t)ih->width * 3)))) {
    free(row);
    return -ENOMEM;
  }
  r = codec_shrink_begin(&sh, (int)ih->width, (int)ih->height, 3, f, ret);
  if (r == 0 && spng_decode_image(ctx, NULL, 0, fmt,
                                  SPNG_DECODE_PROGRESSIVE |
                                  (alpha ? SPNG_DECODE_TRNS : 0)) != 0)
    r = -EBADMSG;
  for (uint32_t y = 0; r == 0 && y < ih->height; y++) {
    e = spng_decode_row(ctx, row, len);
    if (e != 0 && !(e == SPNG_EOI && y == ih->height - 1)) {
      r = -EBADMSG;
      break;
    }
    if (alpha)
      codec_rgba_to_rgb(row, &rgb);
    codec_shrink_row(&sh, alpha ? rgb.px : row);
  }
  codec_shrink_end(&sh);
  if (r < 0 && ret->px)
    image_free(ret);
  free(rgb.px);
  free(row);
  return r;
}

static int png_decode(const uint8_t *p, size_t n, const struct img_info *info,
                      int min_short, struct image *ret)
{
  spng_ctx *ctx = spng_ctx_new(0);
  struct spng_ihdr ihdr;
  bool alpha;
  size_t sz;
  uint8_t *buf = NULL;
  int r, f;

  if (!ctx)
    return -ENOMEM;
  /* The header was checked against IMG_MAX_PIXELS; these limits make
   * libspng refuse anything else that would be large. */
  spng_set_image_limits(ctx, info->width, info->height);
  spng_set_chunk_limits(ctx, 64u << 20, 64u << 20);
  r = spng_set_png_buffer(ctx, p, n) || spng_get_ihdr(ctx, &ihdr) ? -EBADMSG
                                                                   : 0;
  if (r == 0 && (ihdr.width != info->width || ihdr.height != info->height))
    r = -EBADMSG;
  if (r == 0) {
    struct spng_trns trns;
    alpha = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ||
            ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA ||
            spng_get_trns(ctx, &trns) == 0;
    if (spng_decoded_image_size(ctx, alpha ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8,
                                &sz))
      r = -EBADMSG;
  }
  /* Reduced and in row order (not interlaced): row by row.  Interlaced
   * rows come in seven passes, so those decode whole and imgcodec.c
   * averages them down the same way. */
  f = r == 0 ? codec_shrink_factor((int)ihdr.width, (int)ihdr.height,
                                   min_short) : 1;
  if (r == 0 && f > 1 && ihdr.interlace_method == SPNG_INTERLACE_NONE) {
    r = png_rows(ctx, &ihdr, alpha, f, ret);
    spng_ctx_free(ctx);
    return r;
  }
  if (r == 0 && (r = image_alloc(ret, (int)ihdr.width, (int)ihdr.height, 3)) == 0) {
    if (alpha && !(buf = malloc(sz)))
      r = -ENOMEM;
    else if (spng_decode_image(ctx, alpha ? buf : ret->px, sz,
                               alpha ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8,
                               alpha ? SPNG_DECODE_TRNS : 0) != 0)
      r = -EBADMSG;
    else if (alpha)
      codec_rgba_to_rgb(buf, ret);
    if (r < 0)
      image_free(ret);
  }
  free(buf);
  spng_ctx_free(ctx);
  return r;
}

int codec_png_encode(const struct image *im, uint8_t **ret, size_t *ret_len)
{
  spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  struct spng_ihdr ih = { 0 };
  int e = 0;
  size_t n = 0;
  void *png;

  *ret = NULL;
  *ret_len = 0;
  if (!ctx)
    return -ENOMEM;
  if (im->channels != 1 && im->channels != 3) {
    spng_ctx_free(ctx);
    return -EINVAL;
  }
  ih.width = (uint32_t)im->w;
  ih.height = (uint32_t)im->h;
  ih.bit_depth = 8;
  ih.color_type = im->channels == 1 ? SPNG_COLOR_TYPE_GRAYSCALE
                                    : SPNG_COLOR_TYPE_TRUECOLOR;
  /* An internal buffer: libspng grows it and hands it over below. */
  e = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  e = e ? e : spng_set_ihdr(ctx, &ih);
  e = e ? e : spng_encode_image(ctx, im->px,
                                (size_t)im->w * im->h * im->channels,
                                SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  png = e ? NULL : spng_get_png_buffer(ctx, &n, &e);
  spng_ctx_free(ctx);
  if (!png)
    return e == SPNG_EMEM || e == 0 ? -ENOMEM : -EINVAL;
  *ret = png;   /* malloc'd by libspng's default allocator */
  *ret_len = n;
  return 0;
}

const struct img_codec codec_png = {
  .format = IMG_PNG, .decode = png_decode,
};
