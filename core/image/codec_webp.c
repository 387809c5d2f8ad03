/* codec_webp.c - WebP decoding with libwebp (the only user of libwebp).
 * Lossy, lossless and alpha; the decoder scales while it decodes, so the
 * feature decode of a large WebP costs a fraction of a full one. */
#include "codec_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>

static int webp_decode(const uint8_t *p, size_t n,
                       const struct img_info *info, int min_short,
                       struct image *ret)
{
  WebPDecoderConfig cfg;
  int w, h, r;
  bool alpha;
  uint8_t *rgba = NULL;

  if (!WebPInitDecoderConfig(&cfg))
    return -EINVAL;
  if (WebPGetFeatures(p, n, &cfg.input) != VP8_STATUS_OK ||
      cfg.input.has_animation || (uint32_t)cfg.input.width != info->width ||
      (uint32_t)cfg.input.height != info->height)
    return -EBADMSG;
  w = cfg.input.width;
  h = cfg.input.height;
  if (min_short > 0) {
    int s = w < h ? w : h;
    /* Integer factor, so the result is at least min_short on the short
     * side (never upscaled). */
    int f = s / min_short;
    if (f > 1) {
      w = (w + f - 1) / f;
      h = (h + f - 1) / f;
      cfg.options.use_scaling = 1;
      cfg.options.scaled_width = w;
      cfg.options.scaled_height = h;
    }
  }
  alpha = cfg.input.has_alpha;
  if ((r = image_alloc(ret, w, h, 3)) < 0)
    return r;
  cfg.output.is_external_memory = 1;
  if (alpha) {
    if (!(rgba = malloc((size_t)w * h * 4))) {
      image_free(ret);
      return -ENOMEM;
    }
    cfg.output.colorspace = MODE_RGBA;
    cfg.output.u.RGBA.rgba = rgba;
    cfg.output.u.RGBA.stride = w * 4;
    cfg.output.u.RGBA.size = (size_t)w * h * 4;
  } else {
    cfg.output.colorspace = MODE_RGB;
    cfg.output.u.RGBA.rgba = ret->px;
    cfg.output.u.RGBA.stride = w * 3;
    cfg.output.u.RGBA.size = (size_t)w * h * 3;
  }
  if (WebPDecode(p, n, &cfg) != VP8_STATUS_OK) {
    r = -EBADMSG;
    image_free(ret);
  } else if (alpha) {
    codec_rgba_to_rgb(rgba, ret);
  }
  WebPFreeDecBuffer(&cfg.output);
  free(rgba);
  return r;
}

const struct img_codec codec_webp = {
  .format = IMG_WEBP, .decode = webp_decode,
};
