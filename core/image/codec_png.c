/* codec_png.c - PNG decoding and encoding with libspng (the only user of
 * libspng).
 *
 * libspng over libpng: about twice libpng's speed on 8-bit images in our
 * measurement (README, dependencies), a small API with image and chunk
 * limits, and CRC checks of every chunk on by default, so a corrupt file
 * is refused rather than half-decoded. */
#include "codec_i.h"

#include <errno.h>
#include <stdbool.h>
#include <spng.h>
#include <stdlib.h>
#include <string.h>

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

/* Colours of an RGB picture, for an indexed PNG: an open-addressing table
 * of 1,024 slots (at most 256 in use, so a probe ends soon). */
struct palette {
  uint32_t key[1024];   /* colour + 1; 0 = empty */
  uint8_t idx[1024];
  struct spng_plte plte;
};

/* The palette index of colour c, added if new: -1 past 256 colours. */
static int palette_index(struct palette *p, uint32_t c)
{
  uint32_t h = (c * 2654435761u) >> 22;

  for (;; h = (h + 1) & 1023) {
    if (p->key[h] == c + 1)
      return p->idx[h];
    if (p->key[h] == 0)
      break;
  }
  if (p->plte.n_entries == 256)
    return -1;
  p->key[h] = c + 1;
  p->idx[h] = (uint8_t)p->plte.n_entries;
  p->plte.entries[p->plte.n_entries] = (struct spng_plte_entry){
    .red = (uint8_t)(c >> 16), .green = (uint8_t)(c >> 8),
    .blue = (uint8_t)c, .alpha = 255 };
  return (int)p->plte.n_entries++;
}

/* The smallest exact form of an RGB picture, into *out (w * h bytes, or
 * NULL for RGB as it is): grey when every pixel has R = G = B, indexed
 * when it has at most 256 colours (a GIF's frame always has), and the
 * palette into *pal.  -ENOMEM. */
static int reduce_rgb(const struct image *im, struct palette *pal,
                      uint8_t **out, uint8_t *color_type)
{
  size_t n = (size_t)im->w * im->h;
  const uint8_t *px = im->px;
  bool grey = true, indexed = true;
  uint8_t *o = malloc(n ? n : 1);

  *out = NULL;
  *color_type = SPNG_COLOR_TYPE_TRUECOLOR;
  if (!o)
    return -ENOMEM;
  memset(pal, 0, sizeof(*pal));
  for (size_t i = 0; i < n && (grey || indexed); i++, px += 3) {
    grey = grey && px[0] == px[1] && px[1] == px[2];
    if (indexed) {
      int k = palette_index(pal, (uint32_t)px[0] << 16 |
                                 (uint32_t)px[1] << 8 | px[2]);
      indexed = k >= 0;
      o[i] = (uint8_t)k;
    }
  }
  if (grey) {
    for (size_t i = 0; i < n; i++)
      o[i] = im->px[3 * i];
    *color_type = SPNG_COLOR_TYPE_GRAYSCALE;
  } else if (indexed) {
    *color_type = SPNG_COLOR_TYPE_INDEXED;
  } else {
    free(o);
    o = NULL;
  }
  *out = o;
  return 0;
}

int codec_png_encode(const struct image *im, uint8_t **ret, size_t *ret_len)
{
  spng_ctx *ctx;
  struct spng_ihdr ih = { 0 };
  struct palette *pal = NULL;
  uint8_t *small = NULL;
  const uint8_t *img = im->px;
  size_t len;
  int e = 0, r = 0;
  size_t n = 0;
  void *png;

  *ret = NULL;
  *ret_len = 0;
  if (im->channels != 1 && im->channels != 3)
    return -EINVAL;
  ih.color_type = im->channels == 1 ? SPNG_COLOR_TYPE_GRAYSCALE
                                    : SPNG_COLOR_TYPE_TRUECOLOR;
  /* The same pixels in fewer bytes where they allow it: a GIF's frame
   * as RGB was twice to three times the size, and as slow to write. */
  if (im->channels == 3) {
    if (!(pal = malloc(sizeof(*pal))))
      return -ENOMEM;
    r = reduce_rgb(im, pal, &small, &ih.color_type);
    if (r < 0) {
      free(pal);
      return r;
    }
    if (small)
      img = small;
  }
  len = (size_t)im->w * im->h *
        (ih.color_type == SPNG_COLOR_TYPE_TRUECOLOR ? 3 : 1);
  if (!(ctx = spng_ctx_new(SPNG_CTX_ENCODER))) {
    free(small);
    free(pal);
    return -ENOMEM;
  }
  ih.width = (uint32_t)im->w;
  ih.height = (uint32_t)im->h;
  ih.bit_depth = 8;
  /* An internal buffer: libspng grows it and hands it over below. */
  e = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  e = e ? e : spng_set_ihdr(ctx, &ih);
  if (e == 0 && ih.color_type == SPNG_COLOR_TYPE_INDEXED)
    e = spng_set_plte(ctx, &pal->plte);
  e = e ? e : spng_encode_image(ctx, img, len, SPNG_FMT_PNG,
                                SPNG_ENCODE_FINALIZE);
  png = e ? NULL : spng_get_png_buffer(ctx, &n, &e);
  spng_ctx_free(ctx);
  free(small);
  free(pal);
  if (!png)
    return e == SPNG_EMEM || e == 0 ? -ENOMEM : -EINVAL;
  *ret = png;   /* malloc'd by libspng's default allocator */
  *ret_len = n;
  return 0;
}

const struct img_codec codec_png = {
  .format = IMG_PNG, .decode = png_decode,
};
