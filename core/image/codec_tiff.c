/* codec_tiff.c - TIFF decoding with libtiff (the only user of libtiff).
 *
 * libtiff's RGBA interface reads strips and tiles, 1 to 16 bits, gray,
 * palette, RGB, CMYK and YCbCr, with every compression it was built with.
 * The file is read from memory through client procedures; errors and
 * warnings go to handlers of this open only (libtiff 4.5 options), so
 * nothing is printed and threads do not share state. */
#include "codec_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

struct mem {
  const uint8_t *p;
  uint64_t n, pos;
};

static tmsize_t m_read(thandle_t h, void *buf, tmsize_t size)
{
  struct mem *m = h;
  uint64_t k = m->pos < m->n ? m->n - m->pos : 0;

  if (size < 0)
    return -1;
  if ((uint64_t)size < k)
    k = (uint64_t)size;
  memcpy(buf, m->p + m->pos, (size_t)k);
  m->pos += k;
  return (tmsize_t)k;
}

static tmsize_t m_write(thandle_t h, void *buf, tmsize_t size)
{
  (void)h; (void)buf; (void)size;
  return -1;
}

static toff_t m_seek(thandle_t h, toff_t off, int whence)
{
  struct mem *m = h;
  uint64_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->n : 0;

  m->pos = base + off;
  return m->pos;
}

static int m_close(thandle_t h) { (void)h; return 0; }
static toff_t m_size(thandle_t h) { return ((struct mem *)h)->n; }
static int m_map(thandle_t h, void **base, toff_t *size)
{
  struct mem *m = h;
  *base = (void *)m->p;
  *size = m->n;
  return 1;
}
static void m_unmap(thandle_t h, void *base, toff_t size)
{
  (void)h; (void)base; (void)size;
}

static int quiet(TIFF *t, void *ud, const char *mod, const char *fmt,
                 va_list ap)
{
  (void)t; (void)ud; (void)mod; (void)fmt; (void)ap;
  return 1;   /* handled: libtiff prints nothing */
}

static int tiff_decode(const uint8_t *p, size_t n, const struct img_info *info,
                       int min_short, struct image *ret)
{
  struct mem m = { p, n, 0 };
  TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
  TIFF *tif;
  uint32_t w = 0, h = 0, *raster = NULL;
  uint16_t orient = ORIENTATION_TOPLEFT;
  int r = 0;

  (void)min_short;   /* libtiff cannot scale: imgcodec.c reduces */
  if (!opts)
    return -ENOMEM;
  /* No single allocation beyond an RGBA raster of the largest image. */
  TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)(IMG_MAX_PIXELS * 4));
  TIFFOpenOptionsSetErrorHandlerExtR(opts, quiet, NULL);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, quiet, NULL);
  tif = TIFFClientOpenExt("memory", "rm", &m, m_read, m_write, m_seek,
                          m_close, m_size, m_map, m_unmap, opts);
  TIFFOpenOptionsFree(opts);
  if (!tif)
    return -EBADMSG;
  if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) ||
      !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h) || w != info->width ||
      h != info->height)
    r = -EBADMSG;
  TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orient);
  if (r == 0 && !(raster = malloc((size_t)w * h * 4)))
    r = -ENOMEM;
  /* Asking for the file's own orientation makes libtiff flip nothing: the
   * raster comes out in stored order, row 0 first. */
  if (r == 0 && !TIFFReadRGBAImageOriented(tif, w, h, raster, orient, 0))
    r = -EBADMSG;
  if (r == 0 && (r = image_alloc(ret, (int)w, (int)h, 3)) == 0) {
    /* Packed ABGR words (TIFFGetR/G/B/A); composite over white. */
    uint8_t *d = ret->px;
    for (size_t i = 0; i < (size_t)w * h; i++) {
      uint32_t v = raster[i], a = TIFFGetA(v);
      if (a == 255) {   /* opaque: no arithmetic */
        d[3 * i] = (uint8_t)TIFFGetR(v);
        d[3 * i + 1] = (uint8_t)TIFFGetG(v);
        d[3 * i + 2] = (uint8_t)TIFFGetB(v);
        continue;
      }
      d[3 * i] = codec_over_white(TIFFGetR(v), a);
      d[3 * i + 1] = codec_over_white(TIFFGetG(v), a);
      d[3 * i + 2] = codec_over_white(TIFFGetB(v), a);
    }
  }
  free(raster);
  TIFFClose(tif);
  return r;
}

const struct img_codec codec_tiff = { IMG_TIFF, tiff_decode };
