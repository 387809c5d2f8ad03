/* codec_gif.c - GIF decoding with giflib (the only user of giflib): the
 * first frame, placed on the logical screen (filled white), with its
 * local or global colour map, interlacing and transparency.  Records are
 * read one by one, so the frames after the first are never decoded. */
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

/* The colours of a frame's indices: transparent and out-of-map indices
 * are marked to leave the white background. */
struct gif_lut {
  uint8_t rgb[256][3];
  bool skip[256];
};

static void gif_lut_init(struct gif_lut *lut, const ColorMapObject *cm,
                         int transparent)
{
  for (int i = 0; i < 256; i++) {
    lut->skip[i] = i == transparent || i >= cm->ColorCount;
    if (lut->skip[i])
      continue;
    lut->rgb[i][0] = cm->Colors[i].Red;
    lut->rgb[i][1] = cm->Colors[i].Green;
    lut->rgb[i][2] = cm->Colors[i].Blue;
  }
}

/* One line of colour indices of frame d at screen row sy, clipped to the
 * screen. */
static void gif_put_line(struct image *im, const GifImageDesc *d,
                         const struct gif_lut *lut, const GifPixelType *line,
                         int sy)
{
  int n = im->w - d->Left < d->Width ? im->w - d->Left : d->Width;
  uint8_t *o;

  if (n <= 0)
    return;   /* the frame starts right of the screen */
  o = im->px + ((size_t)sy * im->w + d->Left) * 3;
  for (int x = 0; x < n; x++, o += 3)
    if (!lut->skip[line[x]])
      memcpy(o, lut->rgb[line[x]], 3);
}

/* Decodes the frame whose descriptor record comes next onto a white
 * image of the logical screen's size; interlaced frames come in four
 * passes of rows. */
static int gif_frame(GifFileType *g, int transparent, struct image *ret)
{
  static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
  const GifImageDesc *d;
  const ColorMapObject *cm;
  struct gif_lut lut;
  GifPixelType *line;
  int passes, r;

  if (DGifGetImageDesc(g) != GIF_OK)
    return -EBADMSG;
  d = &g->Image;
  cm = d->ColorMap ? d->ColorMap : g->SColorMap;
  if (!cm || d->Width <= 0 || d->Height <= 0 || d->Left < 0 || d->Top < 0 ||
      d->Width > 65535 || d->Height > 65535)
    return -EBADMSG;
  if ((r = image_alloc(ret, g->SWidth, g->SHeight, 3)) < 0)
    return r;
  gif_lut_init(&lut, cm, transparent);
  memset(ret->px, 255, (size_t)ret->w * ret->h * 3);
  if (!(line = malloc((size_t)d->Width))) {
    image_free(ret);
    return -ENOMEM;
  }
  passes = d->Interlace ? 4 : 1;
  for (int pass = 0; pass < passes && r == 0; pass++)
    for (int y = d->Interlace ? start[pass] : 0; y < d->Height && r == 0;
         y += d->Interlace ? step[pass] : 1) {
      if (DGifGetLine(g, line, d->Width) != GIF_OK)
        r = -EBADMSG;
      else if (d->Top + y < ret->h)
        gif_put_line(ret, d, &lut, line, d->Top + y);
    }
  free(line);
  if (r < 0)
    image_free(ret);
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

  (void)min_short;   /* giflib cannot scale: imgcodec.c reduces */
  if (!g)
    return err == D_GIF_ERR_NOT_ENOUGH_MEM ? -ENOMEM : -EBADMSG;
  if ((uint32_t)g->SWidth == info->width &&
      (uint32_t)g->SHeight == info->height)
    while (DGifGetRecordType(g, &rt) == GIF_OK &&
           rt != TERMINATE_RECORD_TYPE) {
      if (rt == IMAGE_DESC_RECORD_TYPE) {
        r = gif_frame(g, transparent, ret);
        break;
      }
      if (rt != EXTENSION_RECORD_TYPE || gif_extension(g, &transparent) < 0)
        break;
    }
  DGifCloseFile(g, &err);
  return r;
}

const struct img_codec codec_gif = { IMG_GIF, gif_decode };
