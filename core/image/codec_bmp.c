/* codec_bmp.c - BMP decoding, written here: no Debian library decodes BMP
 * without bringing a whole toolkit (libvips, ImageMagick, GdkPixbuf).
 * Uncompressed 1, 4 and 8-bit (palette), 16-bit (5-5-5 or bit fields),
 * 24 and 32-bit (BI_RGB or bit fields), bottom-up or top-down.  imgfmt.c
 * has already checked the header and that the pixel rows fit in the file;
 * every offset is checked again here before it is read. */
#include "codec_i.h"

#include <errno.h>
#include <stdlib.h>
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
  /* A mask of all 32 bits: 1u << 32 would be undefined. */
  v = (v >> shift) & (bits == 32 ? UINT32_MAX : (1u << bits) - 1);
  if (bits >= 8)
    return (uint8_t)(v >> (bits - 8));
  return (uint8_t)(v * 255 / ((1u << bits) - 1));
}

/* The layout of the pixel data, from the headers. */
struct bmp_layout {
  uint32_t bpp, ncol, masks[4];
  const uint8_t *pal;
  size_t palsz;
};

/* One stored row s into RGB row d of width w (24-bit rows normally go
 * to the shrinker as they are, see bmp_decode). */
static void bmp_row(const struct bmp_layout *L, const uint8_t *s, uint8_t *d,
                    uint32_t w)
{
  uint32_t bpp = L->bpp;

  for (uint32_t x = 0; x < w; x++, d += 3) {
    if (bpp <= 8) {
      uint32_t bit = x * bpp, idx = (s[bit / 8] >> (8 - bpp - bit % 8)) &
                                    ((1u << bpp) - 1);
      const uint8_t *c = L->pal + (idx < L->ncol ? idx : 0) * L->palsz;
      d[0] = c[2]; d[1] = c[1]; d[2] = c[0];
    } else if (bpp == 24) {
      d[0] = s[3 * x + 2]; d[1] = s[3 * x + 1]; d[2] = s[3 * x];
    } else {
      uint32_t v = bpp == 16 ? (uint32_t)(s[2 * x] | (s[2 * x + 1] << 8))
                             : le32(s + 4 * x);
      d[0] = field(v, L->masks[0]);
      d[1] = field(v, L->masks[1]);
      d[2] = field(v, L->masks[2]);
    }
  }
}

/* Reads the headers into *L; 0 or -EBADMSG. */
static int bmp_layout(const uint8_t *p, size_t n, struct bmp_layout *L,
                      bool *topdown)
{
  uint32_t dib, comp = 0;

  memset(L, 0, sizeof(*L));
  *topdown = false;
  if (n < 26)
    return -EBADMSG;
  dib = le32(p + 14);
  if (dib == 12) {
    L->bpp = (uint32_t)(p[24] | (p[25] << 8));
    L->palsz = 3;
  } else {
    if (n < 54 || dib < 40 || dib > 124)
      return -EBADMSG;
    *topdown = (int32_t)le32(p + 22) < 0;
    L->bpp = (uint32_t)(p[28] | (p[29] << 8));
    comp = le32(p + 30);
    L->ncol = le32(p + 46);
    L->palsz = 4;
  }
  if (comp == 3 || comp == 6) {
    /* Masks follow a 40-byte header, or are part of a V4/V5 one. */
    if (14 + 40 + 12 > n)
      return -EBADMSG;
    for (int i = 0; i < (comp == 6 || dib >= 56 ? 4 : 3); i++)
      L->masks[i] = le32(p + 54 + 4 * i);
  } else if (L->bpp == 16) {
    L->masks[0] = 0x7c00; L->masks[1] = 0x03e0; L->masks[2] = 0x001f;
  } else if (L->bpp == 32) {
    L->masks[0] = 0xff0000; L->masks[1] = 0xff00; L->masks[2] = 0xff;
  }
  if (L->bpp <= 8 && (L->ncol == 0 || L->ncol > (1u << L->bpp)))
    L->ncol = 1u << L->bpp;
  L->pal = p + 14 + dib + (comp == 3 && dib == 40 ? 12
                           : comp == 6 && dib == 40 ? 16 : 0);
  if (L->bpp <= 8 && (size_t)(L->pal - p) + L->ncol * L->palsz > n)
    return -EBADMSG;
  return 0;
}

/* Rows are converted one at a time and averaged down as they come
 * (min_short, imgcodec.h), so the full-size picture never exists. */
static int bmp_decode(const uint8_t *p, size_t n, const struct img_info *info,
                      int min_short, struct image *ret)
{
  struct bmp_layout L;
  struct codec_shrink sh;
  uint32_t pix, w = info->width, h = info->height;
  size_t row;
  uint8_t *rgb;
  bool topdown;
  int f, r;

  if ((r = bmp_layout(p, n, &L, &topdown)) < 0)
    return r;
  pix = le32(p + 10);
  row = (((size_t)w * L.bpp + 31) / 32) * 4;
  if (pix > n || row * h > n - pix)
    return -EBADMSG;
  if (!(rgb = malloc((size_t)w * 3)))
    return -ENOMEM;
  f = codec_shrink_factor((int)w, (int)h, min_short);
  r = codec_shrink_begin(&sh, (int)w, (int)h, 3, f, ret);
  /* 24-bit rows are B, G, R as stored: averaged straight from the file,
   * whole bands at a time, without a copy (a bottom-up file's rows are
   * walked backwards).  The last h % f rows would be dropped: not
   * converted at all. */
  sh.bgr = L.bpp == 24;
  if (r == 0 && sh.bgr)
    codec_shrink_rows(&sh, p + pix + row * (topdown ? 0 : h - 1),
                      h / (uint32_t)f * (uint32_t)f,
                      topdown ? (ptrdiff_t)row : -(ptrdiff_t)row);
  for (uint32_t y = 0; r == 0 && !sh.bgr &&
                       y < h / (uint32_t)f * (uint32_t)f; y++) {
    bmp_row(&L, p + pix + row * (topdown ? y : h - 1 - y), rgb, w);
    codec_shrink_row(&sh, rgb);
  }
  codec_shrink_end(&sh);
  free(rgb);
  return r;
}

const struct img_codec codec_bmp = {
  .format = IMG_BMP, .decode = bmp_decode,
};
