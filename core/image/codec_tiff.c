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

/* One band of RGBA raster rows (packed ABGR words, TIFFGetR/G/B/A)
 * composited over white into RGB rows for the shrinker. */
static void tiff_band(const uint32_t *raster, uint32_t w, uint32_t rows,
                      uint8_t *rgb, struct codec_shrink *sh)
{
  for (uint32_t y = 0; y < rows; y++) {
    const uint32_t *s = raster + (size_t)y * w;
    uint8_t *d = rgb;
    for (uint32_t x = 0; x < w; x++, d += 3) {
      uint32_t v = s[x], a = TIFFGetA(v);
      if (a == 255) {   /* opaque: no arithmetic */
        d[0] = (uint8_t)TIFFGetR(v);
        d[1] = (uint8_t)TIFFGetG(v);
        d[2] = (uint8_t)TIFFGetB(v);
        continue;
      }
      d[0] = codec_over_white(TIFFGetR(v), a);
      d[1] = codec_over_white(TIFFGetG(v), a);
      d[2] = codec_over_white(TIFFGetB(v), a);
    }
    codec_shrink_row(sh, rgb);
  }
}

/* The image through libtiff's RGBA reader, one band of strips or tiles at
 * a time (TIFFRGBAImage with row_offset, as TIFFReadRGBAStrip does), each
 * band averaged down at once: the full-size raster never exists, and each
 * strip is read and decompressed once.  Asking for the file's own
 * orientation makes libtiff flip nothing: rows come in stored order. */
static int tiff_pixels(TIFF *tif, uint32_t w, uint32_t h, int f,
                       struct image *ret)
{
  TIFFRGBAImage img;
  struct codec_shrink sh;
  uint32_t band = 0, *raster = NULL;
  uint16_t orient = ORIENTATION_TOPLEFT;
  uint8_t *rgb = NULL;
  char emsg[1024];
  int r;

  if (TIFFIsTiled(tif))
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &band);
  else
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &band);
  if (band == 0 || band > h)
    band = h;
  TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orient);
  if (!TIFFRGBAImageOK(tif, emsg) || !TIFFRGBAImageBegin(&img, tif, 0, emsg))
    return -EBADMSG;
  img.req_orientation = orient;
  if ((r = codec_shrink_begin(&sh, (int)w, (int)h, 3, f, ret)) < 0) {
    TIFFRGBAImageEnd(&img);
    return r;
  }
  if (!(raster = malloc((size_t)w * band * 4)) || !(rgb = malloc((size_t)w * 3)))
    r = -ENOMEM;
  for (uint32_t y = 0; r == 0 && y < h; y += band) {
    uint32_t rows = h - y < band ? h - y : band;
    img.row_offset = (int)y;
    img.col_offset = 0;
    if (!TIFFRGBAImageGet(&img, raster, w, rows))
      r = -EBADMSG;
    else
      tiff_band(raster, w, rows, rgb, &sh);
  }
  codec_shrink_end(&sh);
  TIFFRGBAImageEnd(&img);
  free(raster);
  free(rgb);
  if (r < 0)
    image_free(ret);
  return r;
}

/* Where strip s of an uncompressed TIFF lies in the file's bytes p[0..n):
 * its rows are used in place, with no copy.  NULL when the strip is
 * compressed or does not lie whole inside the file (libtiff then reads
 * it, and refuses what is wrong). */
static const uint8_t *tiff_raw_strip(TIFF *tif, const uint8_t *p, size_t n,
                                     uint32_t s, size_t want)
{
  uint16_t comp = 0;
  uint64_t *offs = NULL, *cnts = NULL;

  if (!TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp) ||
      comp != COMPRESSION_NONE ||
      !TIFFGetField(tif, TIFFTAG_STRIPOFFSETS, &offs) ||
      !TIFFGetField(tif, TIFFTAG_STRIPBYTECOUNTS, &cnts) || !offs || !cnts ||
      s >= TIFFNumberOfStrips(tif) || cnts[s] < want || offs[s] > n ||
      want > n - offs[s])
    return NULL;
  return p + offs[s];
}

/* The common plain layout: 8-bit RGB, pixel-interleaved, in strips, no
 * extra samples.  Its decoded strips already are RGB rows in stored
 * order, the bytes the RGBA reader would give, so they go to the
 * shrinker directly: from the file's bytes when uncompressed (the rows
 * as stored), else as libtiff decodes them.  1: not this layout (the
 * caller uses the RGBA reader), 0, or -errno. */
static int tiff_plain(TIFF *tif, const uint8_t *p, size_t n, uint32_t w,
                      uint32_t h, int f, struct image *ret)
{
  uint16_t bps = 0, spp = 0, photo = 0, planar = 0, nextra = 0, *extra;
  uint16_t fill = FILLORDER_MSB2LSB;
  uint32_t rps = 0;
  struct codec_shrink sh;
  uint8_t *buf;
  tmsize_t ssz;
  int r;

  if (TIFFIsTiled(tif) || !TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps) ||
      !TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp) ||
      !TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo) ||
      !TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar) ||
      !TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra) ||
      !TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps) || bps != 8 ||
      spp != 3 || photo != PHOTOMETRIC_RGB || planar != PLANARCONFIG_CONTIG ||
      nextra != 0 || rps == 0)
    return 1;
  /* FillOrder 2 (bits of each byte reversed): libtiff reverses them as it
   * reads, so such files take its path. */
  TIFFGetFieldDefaulted(tif, TIFFTAG_FILLORDER, &fill);
  if (rps > h)
    rps = h;
  ssz = TIFFStripSize(tif);
  if (ssz < (tmsize_t)((size_t)w * 3 * rps))
    return 1;
  if (!(buf = malloc((size_t)ssz)))
    return -ENOMEM;
  if ((r = codec_shrink_begin(&sh, (int)w, (int)h, 3, f, ret)) < 0) {
    free(buf);
    return r;
  }
  for (uint32_t y = 0; r == 0 && y < h / (uint32_t)f * (uint32_t)f; y += rps) {
    uint32_t rows = h - y < rps ? h - y : rps, s = TIFFComputeStrip(tif, y, 0);
    tmsize_t want = (tmsize_t)((size_t)w * 3 * rows);
    const uint8_t *src = fill == FILLORDER_MSB2LSB
                         ? tiff_raw_strip(tif, p, n, s, (size_t)want) : NULL;
    if (!src && TIFFReadEncodedStrip(tif, s, buf, want) != want)
      r = -EBADMSG;
    for (uint32_t k = 0; r == 0 && k < rows; k++)
      codec_shrink_row(&sh, (src ? src : buf) + (size_t)k * w * 3);
  }
  codec_shrink_end(&sh);
  free(buf);
  if (r < 0)
    image_free(ret);
  return r;
}

static int tiff_decode(const uint8_t *p, size_t n, const struct img_info *info,
                       int min_short, struct image *ret)
{
  struct mem m = { p, n, 0 };
  TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
  TIFF *tif;
  uint32_t w = 0, h = 0;
  int r = 0;

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
  /* libtiff cannot scale, but the bands are averaged down as they come
   * (min_short, imgcodec.h). */
  if (r == 0) {
    int f = codec_shrink_factor((int)w, (int)h, min_short);
    if ((r = tiff_plain(tif, p, n, w, h, f, ret)) == 1)
      r = tiff_pixels(tif, w, h, f, ret);
  }
  TIFFClose(tif);
  return r;
}

const struct img_codec codec_tiff = { IMG_TIFF, tiff_decode };
