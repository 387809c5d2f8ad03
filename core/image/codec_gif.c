/* codec_gif.c - GIF decoding with giflib (the only user of giflib): the
 * first frame, placed on the logical screen (filled white), with its
 * local or global colour map, interlacing and transparency.  Records are
 * read one by one, so the frames after the first are never decoded.  A
 * frame that fills the screen in row order (most GIFs) is averaged down
 * line by line as it decodes (codec_shrink); any other is drawn whole and
 * imgcodec.c averages it down the same way. */
#include "codec_i.h"

#include <errno.h>
#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

struct mem {
  const uint8_t *p;
  size_t n, pos;
};

static int m_read(GifFileType *g, GifByteType *buf, int len)
{
  struct mem *m = g->UserData;
  size_t k = m->n - m->pos;

  if (len < 0)
    return 0;
  if ((size_t)len < k)
    k = (size_t)len;
  memcpy(buf, m->p + m->pos, k);
  m->pos += k;
  return (int)k;
}

/* Reads one extension record to its end; a graphic control extension
 * gives the transparent index of the frame that follows it. */
static int gif_extension(GifFileType *g, int *transparent)
{
  int code;
  GifByteType *ext;

  if (DGifGetExtension(g, &code, &ext) != GIF_OK)
    return -EBADMSG;
  if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 && (ext[1] & 1))
    *transparent = ext[4];
  while (ext)
    if (DGifGetExtensionNext(g, &ext) != GIF_OK)
      return -EBADMSG;
  return 0;
}

/* The colours of a frame's indices, each as the four bytes R, G, B, 255
 * (so that gif_map() moves a pixel with one store).  Transparent and
 * out-of-map indices are white: the background of the first frame, so
 * writing them gives what leaving them would. */
static void gif_lut_init(uint32_t lut[256], const ColorMapObject *cm,
                         int transparent)
{
  for (int i = 0; i < 256; i++) {
    uint8_t c[4] = { 255, 255, 255, 255 };
    if (i != transparent && i < cm->ColorCount) {
      c[0] = cm->Colors[i].Red;
      c[1] = cm->Colors[i].Green;
      c[2] = cm->Colors[i].Blue;
    }
    memcpy(&lut[i], c, 4);
  }
}

/* n indices to RGB at o: four bytes stored per pixel, the fourth
 * overwritten by the next one (a three-byte copy cost several times
 * more); the last pixel gets three, so nothing past o[3 n - 1] is
 * written. */
static void gif_map(uint8_t *o, const uint32_t lut[256],
                    const GifPixelType *line, int n)
{
  int x;

  for (x = 0; x + 1 < n; x++, o += 3)
    memcpy(o, &lut[line[x]], 4);
  if (x < n)
    memcpy(o, &lut[line[x]], 3);
}

/* A frame that fills the screen in row order, the common case: each line
 * goes to the shrinker as it is decoded, so the full-size picture never
 * exists (min_short, imgcodec.h).  Every line is decoded, as on the
 * screen, so a corrupt last line is refused the same way. */
static int gif_rows(GifFileType *g, const uint32_t lut[256],
                    GifPixelType *line, int min_short, struct image *ret)
{
  int w = g->SWidth, h = g->SHeight, r;
  struct codec_shrink sh;
  uint8_t *rgb = malloc((size_t)w * 3);

  if (!rgb)
    return -ENOMEM;
  r = codec_shrink_begin(&sh, w, h, 3, codec_shrink_factor(w, h, min_short),
                         ret);
  for (int y = 0; r == 0 && y < h; y++) {
    if (DGifGetLine(g, line, w) != GIF_OK) {
      r = -EBADMSG;
      image_free(ret);
      break;
    }
    gif_map(rgb, lut, line, w);
    codec_shrink_row(&sh, rgb);
  }
  codec_shrink_end(&sh);
  free(rgb);
  return r;
}

/* Any other frame, drawn on a white image of the logical screen's size
 * (clipped to it); interlaced frames come in four passes of rows. */
static int gif_screen(GifFileType *g, const uint32_t lut[256],
                      GifPixelType *line, struct image *ret)
{
  static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
  const GifImageDesc *d = &g->Image;
  int passes = d->Interlace ? 4 : 1, r;
  int n = g->SWidth - d->Left < d->Width ? g->SWidth - d->Left : d->Width;

  if ((r = image_alloc(ret, g->SWidth, g->SHeight, 3)) < 0)
    return r;
  memset(ret->px, 255, (size_t)ret->w * ret->h * 3);
  for (int pass = 0; pass < passes && r == 0; pass++)
    for (int y = d->Interlace ? start[pass] : 0; y < d->Height && r == 0;
         y += d->Interlace ? step[pass] : 1) {
      if (DGifGetLine(g, line, d->Width) != GIF_OK)
        r = -EBADMSG;
      else if (d->Top + y < ret->h && n > 0)
        gif_map(ret->px + ((size_t)(d->Top + y) * ret->w + d->Left) * 3, lut,
                line, n);
    }
  if (r < 0)
    image_free(ret);
  return r;
}

/* Decodes the frame whose descriptor record comes next. */
static int gif_frame(GifFileType *g, int transparent, int min_short,
                     struct image *ret)
{
  const GifImageDesc *d;
  const ColorMapObject *cm;
  uint32_t lut[256];
  GifPixelType *line;
  int r;

  if (DGifGetImageDesc(g) != GIF_OK)
    return -EBADMSG;
  d = &g->Image;
  cm = d->ColorMap ? d->ColorMap : g->SColorMap;
  if (!cm || d->Width <= 0 || d->Height <= 0 || d->Left < 0 || d->Top < 0 ||
      d->Width > 65535 || d->Height > 65535)
    return -EBADMSG;
  gif_lut_init(lut, cm, transparent);
  if (!(line = malloc((size_t)d->Width)))
    return -ENOMEM;
  if (!d->Interlace && d->Left == 0 && d->Top == 0 &&
      d->Width == g->SWidth && d->Height == g->SHeight)
    r = gif_rows(g, lut, line, min_short, ret);
  else
    r = gif_screen(g, lut, line, ret);
  free(line);
  return r;
}

/* Extensions are read until the first image descriptor; anything else
 * before it (or the end of the file) means no frame. */
static int gif_decode(const uint8_t *p, size_t n, const struct img_info *info,
                      int min_short, struct image *ret)
{
  struct mem m = { p, n, 0 };
  int err = 0, transparent = -1, r = -EBADMSG;
  GifFileType *g = DGifOpen(&m, m_read, &err);
  GifRecordType rt;

  if (!g)
    return err == D_GIF_ERR_NOT_ENOUGH_MEM ? -ENOMEM : -EBADMSG;
  if ((uint32_t)g->SWidth == info->width &&
      (uint32_t)g->SHeight == info->height)
    while (DGifGetRecordType(g, &rt) == GIF_OK &&
           rt != TERMINATE_RECORD_TYPE) {
      if (rt == IMAGE_DESC_RECORD_TYPE) {
        r = gif_frame(g, transparent, min_short, ret);
        break;
      }
      if (rt != EXTENSION_RECORD_TYPE || gif_extension(g, &transparent) < 0)
        break;
    }
  DGifCloseFile(g, &err);
  return r;
}

const struct img_codec codec_gif = { IMG_GIF, gif_decode };
