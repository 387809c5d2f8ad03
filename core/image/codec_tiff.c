/* codec_tiff.c - TIFF decoding with libtiff (the only user of libtiff).
 *
 * Two paths, the same pixels.  The plain layouts (8- or 16-bit RGB or
 * MinIsBlack gray, no extra samples) are read strip by strip or tile by
 * tile and their samples handed to the shrinker (tiff_plain); everything
 * else goes through libtiff's RGBA interface, which reads strips and
 * tiles, 1 to 16 bits, gray, palette, RGB, CMYK and YCbCr, with every
 * compression it was built with (tiff_pixels).  The file is read from
 * memory through client procedures; errors and warnings go to handlers of
 * this open only (libtiff 4.5 options), so nothing is printed and threads
 * do not share state.  All buffers are per call. */
#include "codec_i.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "dynlib.h"
#include "util.h"

/* ---- libtiff, loaded by the first TIFF decode (dynlib.h) ----
 *
 * libtiff and what it links (the LERC codec, the C++ runtime, JBIG, LZMA,
 * Zstandard) cost every program ~4 ms of start, which a command that
 * decodes no TIFF (most of them, and every header pass: imgfmt.c reads
 * TIFF headers itself) would pay for nothing.  Its functions are called
 * through this table; tiff_open() loads it first, and without it a decode
 * fails with -ELIBACC.  TIFF_SONAME is the file name of the libtiff this
 * build links against (meson.build finds it). */
#ifndef TIFF_SONAME
#error "TIFF_SONAME comes from meson.build (the soname this build links against)"
#endif

/* Each function called through lt: its name and its slot. */
#define LT_FUNCS(X, t) \
  X(t, TIFFClientOpenExt, ClientOpenExt) \
  X(t, TIFFClose, Close) \
  X(t, TIFFComputeStrip, ComputeStrip) \
  X(t, TIFFComputeTile, ComputeTile) \
  X(t, TIFFGetField, GetField) \
  X(t, TIFFGetFieldDefaulted, GetFieldDefaulted) \
  X(t, TIFFGetStrileByteCount, GetStrileByteCount) \
  X(t, TIFFGetStrileOffset, GetStrileOffset) \
  X(t, TIFFIsByteSwapped, IsByteSwapped) \
  X(t, TIFFIsTiled, IsTiled) \
  X(t, TIFFNumberOfStrips, NumberOfStrips) \
  X(t, TIFFOpenOptionsAlloc, OpenOptionsAlloc) \
  X(t, TIFFOpenOptionsFree, OpenOptionsFree) \
  X(t, TIFFOpenOptionsSetErrorHandlerExtR, OpenOptionsSetErrorHandlerExtR) \
  X(t, TIFFOpenOptionsSetMaxSingleMemAlloc, OpenOptionsSetMaxSingleMemAlloc) \
  X(t, TIFFOpenOptionsSetWarningHandlerExtR, OpenOptionsSetWarningHandlerExtR) \
  X(t, TIFFRGBAImageBegin, RGBAImageBegin) \
  X(t, TIFFRGBAImageEnd, RGBAImageEnd) \
  X(t, TIFFRGBAImageGet, RGBAImageGet) \
  X(t, TIFFRGBAImageOK, RGBAImageOK) \
  X(t, TIFFReadEncodedStrip, ReadEncodedStrip) \
  X(t, TIFFReadEncodedTile, ReadEncodedTile) \
  X(t, TIFFStripSize, StripSize) \
  X(t, TIFFTileSize, TileSize)
DYNLIB_TABLE(lt, LT_FUNCS);
static struct dynlib lt_lib = DYNLIB_INIT(TIFF_SONAME, lt_syms);

/* No single allocation beyond an RGBA raster of the largest image, in
 * libtiff or here. */
#define TIFF_MAX_ALLOC (IMG_MAX_PIXELS * 4)

/* The file for libtiff: in memory (p), or, while a stream decode opens
 * (p NULL), read through the caller's callback. */
struct mem {
  const uint8_t *p;
  uint64_t n, pos;
  long (*read)(void *ud, uint64_t off, void *buf, size_t n);
  void *ud;
};

static tmsize_t m_read(thandle_t h, void *buf, tmsize_t size)
{
  struct mem *m = h;
  uint64_t k = m->pos < m->n ? m->n - m->pos : 0;

  if (size < 0)
    return -1;
  if ((uint64_t)size < k)
    k = (uint64_t)size;
  if (!m->p) {   /* short reads are asked again; the callback's errors fail */
    uint64_t got = 0;
    if (!m->read)   /* a stream past its open: no more reads */
      return -1;
    while (got < k) {
      long r = m->read(m->ud, m->pos + got, (uint8_t *)buf + got,
                       (size_t)(k - got));
      if (r <= 0)
        return -1;
      got += (uint64_t)r;
    }
  } else {
    memcpy(buf, m->p + m->pos, (size_t)k);
  }
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
  if (!m->p)
    return 0;
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
 * composited over white into RGB rows for the shrinker.  premul: the
 * colour samples already carry their alpha, as libtiff gives RGB with
 * alpha (associated alpha as stored, unassociated alpha multiplied in,
 * rounded, by the reader); gray with alpha comes as stored.  Over white,
 * a premultiplied c' gives c' + 255 - a: for unassociated alpha exactly
 * codec_over_white() of the stored sample, the pixels of a PNG of the
 * same RGBA. */
static void tiff_band(const uint32_t *raster, uint32_t w, uint32_t rows,
                      bool premul, uint8_t *rgb, struct codec_shrink *sh)
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
      } else if (premul) {   /* c' > a only in a malformed file */
        uint32_t c[3] = { TIFFGetR(v), TIFFGetG(v), TIFFGetB(v) };
        for (int k = 0; k < 3; k++)
          d[k] = (uint8_t)(c[k] + 255 - a > 255 ? 255 : c[k] + 255 - a);
      } else {
        d[0] = codec_over_white(TIFFGetR(v), a);
        d[1] = codec_over_white(TIFFGetG(v), a);
        d[2] = codec_over_white(TIFFGetB(v), a);
      }
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
  bool premul;
  int r;

  if (lt.IsTiled(tif))
    lt.GetField(tif, TIFFTAG_TILELENGTH, &band);
  else
    lt.GetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &band);
  if (band == 0 || band > h)
    band = h;
  lt.GetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orient);
  /* stoponerr: a strip or tile that fails to decode fails the image, as
   * on the direct path, not a picture partly left blank or stale. */
  if (!lt.RGBAImageOK(tif, emsg) || !lt.RGBAImageBegin(&img, tif, 1, emsg))
    return -EBADMSG;
  img.req_orientation = orient;
  premul = img.alpha != 0 && img.photometric != PHOTOMETRIC_MINISBLACK &&
           img.photometric != PHOTOMETRIC_MINISWHITE;
  if ((r = codec_shrink_begin(&sh, (int)w, (int)h, 3, f, ret)) < 0) {
    lt.RGBAImageEnd(&img);
    return r;
  }
  if (!(raster = malloc((size_t)w * band * 4)) || !(rgb = malloc((size_t)w * 3)))
    r = -ENOMEM;
  for (uint32_t y = 0; r == 0 && y < h; y += band) {
    uint32_t rows = h - y < band ? h - y : band;
    img.row_offset = (int)y;
    img.col_offset = 0;
    if (!lt.RGBAImageGet(&img, raster, w, rows))
      r = -EBADMSG;
    else
      tiff_band(raster, w, rows, premul, rgb, &sh);
  }
  codec_shrink_end(&sh);
  lt.RGBAImageEnd(&img);
  free(raster);
  free(rgb);
  if (r < 0)
    image_free(ret);
  return r;
}

/* The common plain layouts, read without libtiff's RGBA reader: 8- or
 * 16-bit RGB or gray (MinIsBlack), no extra samples, in strips or tiles,
 * any compression.  Their decoded strips and tiles already are rows of
 * samples in stored order, so they go to the shrinker directly: from the
 * file's bytes when uncompressed (the rows as stored, no copy), else as
 * libtiff decodes them, whole bands at a time where the rows lie together
 * (back-to-back uncompressed strips are one run).  Tiles are first put
 * together into whole rows; the three planes of separate RGB in strips
 * are averaged down as three gray pictures, interleaved at the end.
 * 16-bit samples become 8-bit by the RGBA reader's own rules (RGB
 * rounded, (v + 128) / 257; gray its high byte), and gray is averaged
 * as one channel and widened to RGB at the end: the same pixels as the
 * RGBA reader, a quarter of the bytes written on the way. */
struct tiff_direct {
  TIFF *tif;
  const uint8_t *p;     /* the file's bytes, p[0..n) */
  size_t n;
  uint32_t w, h;
  uint16_t spp, bps;    /* 1 or 3; 8 or 16 */
  bool sep;             /* RGB stored as three planes */
  bool raw;             /* uncompressed, normal bit order, host byte
                           order: strips and tiles used in place */
  size_t px, rowb;      /* bytes of a stored pixel, of an image row */
  uint8_t *buf;         /* a decoded strip or tile (lazily allocated) */
  uint8_t *band;        /* tiles: one band of rows put together */
  uint8_t *row8;        /* 16-bit: up to f rows (a band) turned 8-bit */
  uint16_t *row16;      /* 16-bit: one row of aligned samples */
  bool planes;          /* separate RGB in strips: each plane averaged
                           down on its own, as gray, into plane[] */
  struct codec_shrink sh[3];   /* [0], or one per plane */
  struct image plane[3];
};

/* Whether the image has a layout of struct tiff_direct; fills d. */
static bool tiff_direct_ok(TIFF *tif, struct tiff_direct *d)
{
  uint16_t photo = 0, planar = 0, nextra = 0, *extra, comp = 0;
  uint16_t fill = FILLORDER_MSB2LSB, fmt = SAMPLEFORMAT_UINT;

  if (!lt.GetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &d->bps) ||
      !lt.GetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &d->spp) ||
      !lt.GetField(tif, TIFFTAG_PHOTOMETRIC, &photo) ||
      !lt.GetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar) ||
      !lt.GetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra) ||
      !lt.GetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp) ||
      !lt.GetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt) ||
      /* Signed or floating samples are not unsigned levels: they go to
       * libtiff's reader, which decides what they mean or refuses them. */
      fmt != SAMPLEFORMAT_UINT ||
      (d->bps != 8 && d->bps != 16) || nextra != 0 ||
      comp == COMPRESSION_OJPEG ||
      !((d->spp == 3 && photo == PHOTOMETRIC_RGB) ||
        (d->spp == 1 && photo == PHOTOMETRIC_MINISBLACK)))
    return false;
  d->sep = d->spp == 3 && planar == PLANARCONFIG_SEPARATE;
  /* FillOrder 2 (bits of each byte reversed) and the other byte order:
   * libtiff turns them as it reads, so such files take its reads. */
  lt.GetFieldDefaulted(tif, TIFFTAG_FILLORDER, &fill);
  d->raw = comp == COMPRESSION_NONE && fill == FILLORDER_MSB2LSB &&
           (d->bps == 8 || !lt.IsByteSwapped(tif));
  d->px = (size_t)d->spp * (d->bps / 8);
  d->rowb = (size_t)d->w * d->px;
  return true;
}

/* The stored bytes of strip or tile s when they can be used in place:
 * uncompressed and at least `want` bytes lying whole inside the file.
 * NULL otherwise (libtiff then reads it, and refuses what is wrong). */
static const uint8_t *tiff_raw(const struct tiff_direct *d, uint32_t s,
                               size_t want)
{
  uint64_t off, cnt;

  if (!d->raw)
    return NULL;
  off = lt.GetStrileOffset(d->tif, s);
  cnt = lt.GetStrileByteCount(d->tif, s);
  if (cnt < want || off > d->n || want > d->n - off)
    return NULL;
  return d->p + off;
}

/* Strip or tile s decoded: in place or into d->buf (size bytes, of which
 * want are needed).  NULL when libtiff fails. */
static const uint8_t *tiff_chunk(struct tiff_direct *d, uint32_t s,
                                 tmsize_t size, tmsize_t want, bool tiled)
{
  const uint8_t *src = tiff_raw(d, s, (size_t)want);

  if (src)
    return src;
  if (!d->buf && !(d->buf = malloc((size_t)size)))
    return NULL;
  if (tiled ? lt.ReadEncodedTile(d->tif, s, d->buf, size) != size
            : lt.ReadEncodedStrip(d->tif, s, d->buf, want) != want)
    return NULL;
  return d->buf;
}

/* n 16-bit samples in host byte order to 8 bits: gray keeps the high
 * byte, RGB rounds to (v + 128) / 257, here as (t - (t >> 8)) >> 8 with
 * t = v + 128, equal for every v and free of division.  The samples are
 * first copied to aligned words (src may lie at any byte of the file), so
 * the loop vectorises; the AVX2 clone does twice the lanes. */
__attribute__((target_clones("avx2", "default")))
static void tiff_16to8(const uint8_t *src, size_t n, bool gray,
                       uint16_t *tmp, uint8_t *dst)
{
  memcpy(tmp, src, n * 2);
  if (gray) {
    for (size_t i = 0; i < n; i++)
      dst[i] = (uint8_t)(tmp[i] >> 8);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t t = (uint32_t)tmp[i] + 128;
    dst[i] = (uint8_t)((t - (t >> 8)) >> 8);
  }
}

/* rows stored rows (stride bytes apart) to the shrinker of plane pl (0
 * unless d->planes), 16-bit ones turned 8-bit first. */
static void tiff_feed(struct tiff_direct *d, int pl, const uint8_t *src,
                      uint32_t rows, size_t stride)
{
  struct codec_shrink *sh = &d->sh[pl];
  size_t n = (size_t)d->w * (d->planes ? 1 : d->spp);   /* samples a row */

  if (d->bps == 8) {   /* whole bands at a time where they fit */
    codec_shrink_rows(sh, src, rows, (ptrdiff_t)stride);
    return;
  }
  /* 16-bit: turned 8-bit a band at a time (the first chunk completes
   * the band under way), then summed as a band.  A plane of RGB keeps
   * RGB's rounding. */
  while (rows > 0) {
    uint32_t k = (uint32_t)(sh->f - sh->y % sh->f);
    if (k > rows)
      k = rows;
    for (uint32_t i = 0; i < k; i++, src += stride)
      tiff_16to8(src, n, d->spp == 1, d->row16, d->row8 + i * n);
    codec_shrink_rows(sh, d->row8, k, (ptrdiff_t)n);
    rows -= k;
  }
}

/* rows rows of cw pixels of one strip or tile (src, stride bytes apart)
 * into the band at pixel column x: whole pixels, or the samples of plane
 * pl of separate RGB. */
static void tiff_put(struct tiff_direct *d, const uint8_t *src,
                     size_t stride, uint32_t rows, uint32_t x, size_t cw,
                     uint16_t pl)
{
  size_t bs = d->bps / 8;

  for (uint32_t k = 0; k < rows; k++, src += stride) {
    uint8_t *o = d->band + k * d->rowb + x * d->px;
    if (!d->sep) {
      memcpy(o, src, cw * d->px);
      continue;
    }
    o += pl * bs;
    if (bs == 1)
      for (size_t i = 0; i < cw; i++)
        o[3 * i] = src[i];
    else
      for (size_t i = 0; i < cw; i++)
        memcpy(o + 6 * i, src + 2 * i, 2);
  }
}

/* The rows from y (the first row of a strip) that lie back to back in
 * the file as uncompressed, in-place strips, up to the end of the strip
 * holding row ylim - 1, starting at *src: the common layout of an
 * uncompressed file, fed to the shrinker as one run so that its bands
 * span strips.  0 when the strip at y cannot be used in place. */
static uint32_t tiff_run(const struct tiff_direct *d, uint32_t y,
                         uint32_t ylim, uint32_t rps, const uint8_t **src)
{
  uint32_t n = 0;

  *src = NULL;
  if (d->sep)
    return 0;
  while (y + n < ylim) {
    uint32_t rows = d->h - (y + n) < rps ? d->h - (y + n) : rps;
    const uint8_t *p = tiff_raw(d, lt.ComputeStrip(d->tif, y + n, 0),
                                rows * d->rowb);
    if (!p || (*src && p != *src + (size_t)n * d->rowb))
      break;
    if (!*src)
      *src = p;
    n += rows;
  }
  return n;
}

/* The strips of rows [0, ylim) in order. */
static int tiff_direct_strips(struct tiff_direct *d, uint32_t ylim)
{
  uint32_t rps = 0;
  tmsize_t ssz = lt.StripSize(d->tif);
  size_t rowp = d->sep ? d->rowb / 3 : d->rowb;   /* a row of one strip */

  lt.GetFieldDefaulted(d->tif, TIFFTAG_ROWSPERSTRIP, &rps);
  if (rps == 0)
    return -EBADMSG;
  if (rps > d->h)
    rps = d->h;
  if (ssz < (tmsize_t)(rowp * rps))
    return -EBADMSG;
  for (uint32_t y = 0, rows; y < ylim; y += rows) {
    const uint8_t *run;
    /* whole strips: y stays at a strip's start */
    if ((rows = tiff_run(d, y, ylim, rps, &run)) > 0) {
      tiff_feed(d, 0, run, rows < ylim - y ? rows : ylim - y, d->rowb);
      continue;
    }
    rows = d->h - y < rps ? d->h - y : rps;
    for (uint16_t pl = 0; pl < (d->sep ? 3 : 1); pl++) {
      const uint8_t *src = tiff_chunk(d, lt.ComputeStrip(d->tif, y, pl),
                                      ssz, (tmsize_t)(rowp * rows), false);
      if (!src)
        return d->buf ? -EBADMSG : -ENOMEM;
      tiff_feed(d, pl, src, rows, rowp);
    }
  }
  return 0;
}

/* The bands of tiles covering rows [0, ylim): each band's tiles put
 * side by side into whole rows, then fed in order. */
static int tiff_direct_tiles(struct tiff_direct *d, uint32_t ylim)
{
  uint32_t tw = 0, th = 0;
  tmsize_t tsz = lt.TileSize(d->tif);
  size_t tpx = d->sep ? d->px / 3 : d->px;   /* a pixel of one tile */

  /* The tile's size comes from its tags, not from the image's: a 16 x 16
   * picture may declare tiles of 2^30 x 2^30.  No tile buffer beyond
   * what libtiff itself may allocate here (tiff_decode), the limit its
   * RGBA reader refuses such a file by. */
  if (!lt.GetField(d->tif, TIFFTAG_TILEWIDTH, &tw) ||
      !lt.GetField(d->tif, TIFFTAG_TILELENGTH, &th) || tw == 0 || th == 0 ||
      tsz < (tmsize_t)((size_t)tw * th * tpx) ||
      (uint64_t)tsz > TIFF_MAX_ALLOC)
    return -EBADMSG;
  if (!(d->band = malloc(d->rowb * (th < d->h ? th : d->h))))
    return -ENOMEM;
  for (uint32_t y = 0; y < ylim; y += th) {
    uint32_t rows = d->h - y < th ? d->h - y : th;
    for (uint32_t x = 0; x < d->w; x += tw)
      for (uint16_t pl = 0; pl < (d->sep ? 3 : 1); pl++) {
        const uint8_t *src = tiff_chunk(
            d, lt.ComputeTile(d->tif, x, y, 0, pl), tsz, tsz, true);
        if (!src)
          return d->buf ? -EBADMSG : -ENOMEM;
        tiff_put(d, src, tw * tpx, rows, x, d->w - x < tw ? d->w - x : tw,
                 pl);
      }
    tiff_feed(d, 0, d->band, rows, d->rowb);
  }
  return 0;
}

/* A one-channel picture widened to RGB in place of itself. */
static int tiff_gray_to_rgb(struct image *im)
{
  struct image rgb;
  size_t n = (size_t)im->w * im->h;
  int r;

  if ((r = image_alloc(&rgb, im->w, im->h, 3)) < 0)
    return r;
  for (size_t i = 0; i < n; i++)
    memset(rgb.px + 3 * i, im->px[i], 3);
  image_free(im);
  *im = rgb;
  return 0;
}

/* Three averaged planes put together into RGB pixels. */
static int tiff_planes_to_rgb(const struct image pl[3], struct image *ret)
{
  size_t n = (size_t)pl[0].w * pl[0].h;
  int r;

  if ((r = image_alloc(ret, pl[0].w, pl[0].h, 3)) < 0)
    return r;
  for (size_t i = 0; i < n; i++) {
    ret->px[3 * i] = pl[0].px[i];
    ret->px[3 * i + 1] = pl[1].px[i];
    ret->px[3 * i + 2] = pl[2].px[i];
  }
  return 0;
}

/* 1: not a layout of struct tiff_direct (the caller uses the RGBA
 * reader), 0, or -errno. */
static int tiff_plain(TIFF *tif, const uint8_t *p, size_t n, uint32_t w,
                      uint32_t h, int f, struct image *ret)
{
  struct tiff_direct d = { .tif = tif, .p = p, .n = n, .w = w, .h = h };
  /* Rows past the last whole band of f are dropped by the shrinker:
   * strips and tiles holding only those are not read. */
  uint32_t ylim = h / (uint32_t)f * (uint32_t)f;
  int r = 0;

  memset(ret, 0, sizeof(*ret));   /* freed on failure, allocated or not */
  if (!tiff_direct_ok(tif, &d))
    return 1;
  if (d.bps == 16 && (!(d.row8 = malloc((size_t)w * d.spp * (size_t)f)) ||
                      !(d.row16 = malloc(d.rowb)))) {
    free(d.row8);
    return -ENOMEM;
  }
  /* Separate planes in strips are averaged as three gray pictures (the
   * same sums, without putting pixels together at full size). */
  d.planes = d.sep && !lt.IsTiled(tif);
  for (int k = 0; r == 0 && k < (d.planes ? 3 : 1); k++)
    r = codec_shrink_begin(&d.sh[k], (int)w, (int)h, d.planes ? 1 : d.spp,
                           f, d.planes ? &d.plane[k] : ret);
  if (r == 0)
    r = lt.IsTiled(tif) ? tiff_direct_tiles(&d, ylim)
                         : tiff_direct_strips(&d, ylim);
  for (int k = 0; k < 3; k++)
    codec_shrink_end(&d.sh[k]);
  free(d.buf);
  free(d.band);
  free(d.row8);
  free(d.row16);
  if (r == 0 && d.planes)
    r = tiff_planes_to_rgb(d.plane, ret);
  else if (r == 0 && d.spp == 1)
    r = tiff_gray_to_rgb(ret);
  for (int k = 0; k < 3; k++)
    image_free(&d.plane[k]);
  if (r < 0)
    image_free(ret);
  return r;
}

/* libtiff on m (which must outlive the handle); *tif NULL on failure:
 * -EBADMSG, -ENOMEM, or -ELIBACC without the library. */
static int tiff_open(struct mem *m, TIFF **tif)
{
  TIFFOpenOptions *opts;
  int r;

  *tif = NULL;
  if ((r = dynlib_get(&lt_lib)) < 0)
    return r;
  if (!(opts = lt.OpenOptionsAlloc()))
    return -ENOMEM;
  /* No single allocation beyond an RGBA raster of the largest image. */
  lt.OpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)TIFF_MAX_ALLOC);
  lt.OpenOptionsSetErrorHandlerExtR(opts, quiet, NULL);
  lt.OpenOptionsSetWarningHandlerExtR(opts, quiet, NULL);
  *tif = lt.ClientOpenExt("memory", "rm", m, m_read, m_write, m_seek,
                           m_close, m_size, m_map, m_unmap, opts);
  lt.OpenOptionsFree(opts);
  return *tif ? 0 : -EBADMSG;
}

/* Whether the open file has the size of its header. */
static bool tiff_size_ok(TIFF *tif, const struct img_info *info)
{
  uint32_t w = 0, h = 0;

  return lt.GetField(tif, TIFFTAG_IMAGEWIDTH, &w) &&
         lt.GetField(tif, TIFFTAG_IMAGELENGTH, &h) && w == info->width &&
         h == info->height;
}

static int tiff_decode(const uint8_t *p, size_t n, const struct img_info *info,
                       int min_short, struct image *ret)
{
  struct mem m = { p, n, 0, NULL, NULL };
  TIFF *tif;
  uint32_t w = info->width, h = info->height;
  int r;

  if ((r = tiff_open(&m, &tif)) < 0)
    return r;
  if (!tiff_size_ok(tif, info))
    r = -EBADMSG;
  /* libtiff cannot scale, but the bands are averaged down as they come
   * (min_short, imgcodec.h). */
  if (r == 0) {
    int f = codec_shrink_factor((int)w, (int)h, min_short);
    if ((r = tiff_plain(tif, p, n, w, h, f, ret)) == 1)
      r = tiff_pixels(tif, w, h, f, ret);
  }
  lt.Close(tif);
  return r;
}

/* ---- the stream decode (codec_i.h) ----
 *
 * Only the layout whose rows can be averaged as the file's bytes arrive:
 * tiff_plain's in-place case (uncompressed 8- or 16-bit RGB or gray,
 * chunky, in strips, used as stored).  The directory is read through the
 * callback when the stream opens; each call with more of the file feeds
 * the strips now whole in it, with tiff_plain's own steps (tiff_run,
 * tiff_feed), so the sums and pixels are the same.  A strip that is not
 * there by the end (compressed, outside the file) leaves the stream
 * unfinished and the caller decodes the whole file. */
struct codec_stream {
  struct mem m;
  TIFF *tif;
  struct tiff_direct d;
  uint32_t y, ylim, rps;   /* next row to feed; rows that are fed */
  struct image out;
};

static void tiff_stream_free(struct codec_stream *s)
{
  if (!s)
    return;
  codec_shrink_end(&s->d.sh[0]);
  image_free(&s->out);
  free(s->d.row8);
  free(s->d.row16);
  if (s->tif)
    lt.Close(s->tif);
  free(s);
}

/* 0 and the open stream, 1 when this file's layout does not stream,
 * -ENOMEM. */
static int tiff_stream_open(const struct img_info *info, uint64_t size,
                            long (*read)(void *, uint64_t, void *, size_t),
                            void *ud, int min_short,
                            struct codec_stream **ret)
{
  struct codec_stream *s = calloc(1, sizeof(*s));
  uint32_t w = info->width, h = info->height, nstrips;
  int f, r;

  *ret = NULL;
  if (!s)
    return -ENOMEM;
  s->m = (struct mem){ NULL, size, 0, read, ud };
  s->d = (struct tiff_direct){ .w = w, .h = h };
  if ((r = tiff_open(&s->m, &s->tif)) < 0 || !tiff_size_ok(s->tif, info) ||
      lt.IsTiled(s->tif) || !tiff_direct_ok(s->tif, &s->d) || !s->d.raw ||
      s->d.sep || !lt.GetFieldDefaulted(s->tif, TIFFTAG_ROWSPERSTRIP,
                                         &s->rps) || s->rps == 0 ||
      (nstrips = lt.NumberOfStrips(s->tif)) == 0) {
    tiff_stream_free(s);
    return r == -ENOMEM ? r : 1;
  }
  s->d.tif = s->tif;
  if (s->rps > h)
    s->rps = h;
  /* The strip tables now, while the callback may still be called. */
  (void)lt.GetStrileOffset(s->tif, nstrips - 1);
  (void)lt.GetStrileByteCount(s->tif, nstrips - 1);
  f = codec_shrink_factor((int)w, (int)h, min_short);
  s->ylim = h / (uint32_t)f * (uint32_t)f;
  if ((s->d.bps == 16 &&
       (!(s->d.row8 = malloc((size_t)w * s->d.spp * (size_t)f)) ||
        !(s->d.row16 = malloc(s->d.rowb)))) ||
      codec_shrink_begin(&s->d.sh[0], (int)w, (int)h, s->d.spp, f,
                         &s->out) < 0) {
    tiff_stream_free(s);
    return -ENOMEM;
  }
  s->m.read = NULL;   /* the callback is the caller's only until now */
  *ret = s;
  return 0;
}

/* The rows of the strips that lie whole in p[0..n) from the next row on,
 * in order (tiff_direct_strips' runs). */
static void tiff_stream_data(struct codec_stream *s, const uint8_t *p,
                             size_t n)
{
  s->d.p = p;
  s->d.n = n;
  while (s->y < s->ylim) {
    const uint8_t *run;
    uint32_t rows = tiff_run(&s->d, s->y, s->ylim, s->rps, &run);
    if (rows == 0)
      return;
    tiff_feed(&s->d, 0, run, rows < s->ylim - s->y ? rows : s->ylim - s->y,
              s->d.rowb);
    s->y += rows;
  }
}

/* 0 and the picture, 1 when rows are left (the caller decodes the whole
 * file), or -ENOMEM; frees s either way. */
static int tiff_stream_end(struct codec_stream *s, const uint8_t *p,
                           size_t n, struct image *ret)
{
  int r = 1;

  memset(ret, 0, sizeof(*ret));
  tiff_stream_data(s, p, n);
  if (s->y >= s->ylim) {
    *ret = s->out;
    s->out = (struct image){ 0 };
    r = s->d.spp == 1 ? tiff_gray_to_rgb(ret) : 0;
    if (r < 0)
      image_free(ret);
  }
  tiff_stream_free(s);
  return r;
}

const struct img_codec codec_tiff = {
  .format = IMG_TIFF, .decode = tiff_decode, .stream_open = tiff_stream_open,
  .stream_data = tiff_stream_data, .stream_end = tiff_stream_end,
  .stream_free = tiff_stream_free,
};
