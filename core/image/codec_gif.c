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

int codec_gif_decode(const uint8_t *p, size_t n, const struct img_info *info,
                     struct image *ret)
{
  struct mem m = { p, n, 0 };
  int err = 0, transparent = -1, r = -EBADMSG;
  GifFileType *g = DGifOpen(&m, m_read, &err);
  GifRecordType rt;
  GifPixelType *line = NULL;

  if (!g)
    return err == D_GIF_ERR_NOT_ENOUGH_MEM ? -ENOMEM : -EBADMSG;
  if ((uint32_t)g->SWidth != info->width ||
      (uint32_t)g->SHeight != info->height)
    goto out;
  while (DGifGetRecordType(g, &rt) == GIF_OK && rt != TERMINATE_RECORD_TYPE) {
    if (rt == EXTENSION_RECORD_TYPE) {
      int code;
      GifByteType *ext;
      if (DGifGetExtension(g, &code, &ext) != GIF_OK)
        goto out;
      if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 &&
          (ext[1] & 1))
        transparent = ext[4];
      while (ext)
        if (DGifGetExtensionNext(g, &ext) != GIF_OK)
          goto out;
    } else if (rt == IMAGE_DESC_RECORD_TYPE) {
      GifImageDesc *d;
      ColorMapObject *cm;
      int fw, fh;
      if (DGifGetImageDesc(g) != GIF_OK)
        goto out;
      d = &g->Image;
      cm = d->ColorMap ? d->ColorMap : g->SColorMap;
      fw = d->Width;
      fh = d->Height;
      if (!cm || fw <= 0 || fh <= 0 || d->Left < 0 || d->Top < 0 ||
          fw > 65535 || fh > 65535)
        goto out;
      if ((r = image_alloc(ret, g->SWidth, g->SHeight, 3)) < 0)
        goto out;
      memset(ret->px, 255, (size_t)ret->w * ret->h * 3);
      if (!(line = malloc((size_t)fw))) {
        r = -ENOMEM;
        goto fail;
      }
      {
        static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
        int passes = d->Interlace ? 4 : 1;
        for (int pass = 0; pass < passes; pass++) {
          for (int y = d->Interlace ? start[pass] : 0; y < fh;
               y += d->Interlace ? step[pass] : 1) {
            int sy = d->Top + y;
            if (DGifGetLine(g, line, fw) != GIF_OK) {
              r = -EBADMSG;
              goto fail;
            }
            if (sy >= ret->h)
              continue;
            for (int x = 0; x < fw && d->Left + x < ret->w; x++) {
              uint8_t *o;
              if (line[x] == transparent || line[x] >= cm->ColorCount)
                continue;
              o = ret->px + ((size_t)sy * ret->w + d->Left + x) * 3;
              o[0] = cm->Colors[line[x]].Red;
              o[1] = cm->Colors[line[x]].Green;
              o[2] = cm->Colors[line[x]].Blue;
            }
          }
        }
      }
      r = 0;
      goto out;
    } else {
      goto out;
    }
  }
  goto out;
fail:
  image_free(ret);
out:
  free(line);
  DGifCloseFile(g, &err);
  return r;
}
