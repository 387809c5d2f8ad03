/* codec_bmp.c - BMP decoding, written here: no Debian library decodes BMP
 * without bringing a whole toolkit (libvips, ImageMagick, GdkPixbuf).
 * Uncompressed 1, 4 and 8-bit (palette), 16-bit (5-5-5 or bit fields),
 * 24 and 32-bit (BI_RGB or bit fields), bottom-up or top-down.  imgfmt.c
 * has already checked the header and that the pixel rows fit in the file;
 * every offset is checked again here before it is read. */
#include "codec_i.h"

#include <errno.h>
#include <string.h>

static uint32_t le32(const uint8_t *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

/* A channel from a bit-field mask, scaled to 8 bits. */
static uint8_t field(uint32_t v, uint32_t mask)
{
  int shift = 0, bits = 0;

  if (!mask)
    return 0;
  while (!(mask & 1)) {
    mask >>= 1;
    shift++;
  }
  while (mask & 1) {
    mask >>= 1;
    bits++;
  }
  v = (v >> shift) & ((1u << bits) - 1);
  if (bits >= 8)
    return (uint8_t)(v >> (bits - 8));
  return (uint8_t)(v * 255 / ((1u << bits) - 1));
}

static int bmp_decode(const uint8_t *p, size_t n, const struct img_info *info,
                      int min_short, struct image *ret)
{
  uint32_t pix, dib, bpp, comp = 0, ncol = 0, masks[4] = { 0 };
  const uint8_t *pal;
  size_t palsz, row;
  bool topdown = false;
  int r;

  (void)min_short;   /* imgcodec.c reduces */
  if (n < 26)
    return -EBADMSG;
  pix = le32(p + 10);
  dib = le32(p + 14);
  if (dib == 12) {
    bpp = (uint32_t)(p[24] | (p[25] << 8));
    palsz = 3;
  } else {
    if (n < 54 || dib < 40 || dib > 124)
      return -EBADMSG;
    topdown = (int32_t)le32(p + 22) < 0;
    bpp = (uint32_t)(p[28] | (p[29] << 8));
    comp = le32(p + 30);
    ncol = le32(p + 46);
    palsz = 4;
  }
  if (comp == 3 || comp == 6) {
    /* Masks follow a 40-byte header, or are part of a V4/V5 one. */
    if (14 + 40 + 12 > n)
      return -EBADMSG;
    for (int i = 0; i < (comp == 6 || dib >= 56 ? 4 : 3); i++)
      masks[i] = le32(p + 54 + 4 * i);
  } else if (bpp == 16) {
    masks[0] = 0x7c00; masks[1] = 0x03e0; masks[2] = 0x001f;
  } else if (bpp == 32) {
    masks[0] = 0xff0000; masks[1] = 0xff00; masks[2] = 0xff;
  }
  if (bpp <= 8 && (ncol == 0 || ncol > (1u << bpp)))
    ncol = 1u << bpp;
  pal = p + 14 + dib + (comp == 3 && dib == 40 ? 12 : comp == 6 && dib == 40 ? 16 : 0);
  if (bpp <= 8 && (size_t)(pal - p) + ncol * palsz > n)
    return -EBADMSG;
  row = (((size_t)info->width * bpp + 31) / 32) * 4;
  if (pix > n || row * info->height > n - pix)
    return -EBADMSG;
  if ((r = image_alloc(ret, (int)info->width, (int)info->height, 3)) < 0)
    return r;
  for (uint32_t y = 0; y < info->height; y++) {
    const uint8_t *s = p + pix + row * (topdown ? y : info->height - 1 - y);
    uint8_t *d = ret->px + (size_t)y * info->width * 3;
    for (uint32_t x = 0; x < info->width; x++, d += 3) {
      if (bpp <= 8) {
        uint32_t bit = x * bpp, idx = (s[bit / 8] >> (8 - bpp - bit % 8)) &
                                      ((1u << bpp) - 1);
        const uint8_t *c = pal + (idx < ncol ? idx : 0) * palsz;
        d[0] = c[2]; d[1] = c[1]; d[2] = c[0];
      } else if (bpp == 24) {
        d[0] = s[3 * x + 2]; d[1] = s[3 * x + 1]; d[2] = s[3 * x];
      } else {
        uint32_t v = bpp == 16 ? (uint32_t)(s[2 * x] | (s[2 * x + 1] << 8))
                               : le32(s + 4 * x);
        d[0] = field(v, masks[0]);
        d[1] = field(v, masks[1]);
        d[2] = field(v, masks[2]);
      }
    }
  }
  return 0;
}

const struct img_codec codec_bmp = { IMG_BMP, bmp_decode };
