/* test_shrink.c - the averaging-down kernels of core/image/codec_util.c
 * (codec_shrink_row and codec_shrink_rows, with their 16-bit band and
 * block-sum kernels) against the f x f block mean written the plain way,
 * and the TIFF layouts that feed them straight from the file against
 * libtiff's own RGBA reader.
 *
 * Kernels: random samples, widths that leave columns over (1 to 203),
 * 1 and 3 channels, BGR rows, rows walked backwards (a bottom-up BMP),
 * factors from 1 to 300 (16-bit block sums up to 16, 16-bit column sums
 * up to 257, 32-bit above), fed a row at a time, all at once, and in
 * chunks that do not line up with the bands (1-row and 5-row strips).
 *
 * TIFF: 8- and 16-bit RGB and gray, uncompressed strips of 1, 3 and 16
 * rows written in order (one run of rows in the file) and in reverse
 * order (no two strips back to back), planar RGB, and 16 x 16 tiles on a
 * picture whose right and bottom tiles are cut, all holding one picture;
 * each reduced decode is exactly the block mean of libtiff's full-size
 * RGBA raster of that picture.
 */
#include "testlib.h"
#include "codec_i.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

static uint32_t rng = 12345;

static uint8_t rnd8(void)
{
  rng = rng * 1103515245u + 12345u;
  return (uint8_t)(rng >> 16);
}

/* The plain f x f block mean of rows (w * ch samples each, top to
 * bottom), bgr rows turned to RGB. */
static void plain_mean(const uint8_t *px, int w, int h, int ch, int f,
                       bool bgr, uint8_t *out)
{
  int ow = w / f, oh = h / f;
  uint64_t d = (uint64_t)f * f;

  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++)
      for (int c = 0; c < ch; c++) {
        uint64_t a = 0;
        for (int j = 0; j < f; j++)
          for (int i = 0; i < f; i++)
            a += px[((size_t)(y * f + j) * w + x * f + i) * ch + c];
        out[((size_t)y * ow + x) * ch + (bgr ? 2 - c : c)] =
            (uint8_t)((a + d / 2) / d);
      }
}

/* One case: w x h random samples fed in chunks of `chunk` rows (0: one
 * call for all, 1: codec_shrink_row), stored bottom-up when back. */
static void one_case(int w, int h, int ch, int f, bool bgr, bool back,
                     int chunk)
{
  size_t rowb = (size_t)w * ch;
  uint8_t *px = malloc(rowb * h), *stored = malloc(rowb * h), *want;
  struct codec_shrink sh;
  struct image out;

  CHECK(px != NULL && stored != NULL);
  for (size_t i = 0; i < rowb * h; i++)
    px[i] = (i % 7 == 0) ? 255 : rnd8();   /* some full-scale sums */
  for (int y = 0; y < h; y++)
    memcpy(stored + rowb * (back ? h - 1 - y : y), px + rowb * y, rowb);
  want = malloc((size_t)(w / f) * (h / f) * ch + 1);
  plain_mean(px, w, h, ch, f, bgr, want);
  if (codec_shrink_begin(&sh, w, h, ch, f, &out) != 0) {
    CHECK(!"codec_shrink_begin");
    exit(1);
  }
  sh.bgr = bgr;
  {
    const uint8_t *row = stored + (back ? rowb * (h - 1) : 0);
    ptrdiff_t stride = back ? -(ptrdiff_t)rowb : (ptrdiff_t)rowb;
    int y = 0;
    while (y < h) {
      int n = chunk == 0 ? h : chunk < h - y ? chunk : h - y;
      if (chunk == 1)
        codec_shrink_row(&sh, row);
      else
        codec_shrink_rows(&sh, row, (size_t)n, stride);
      y += n;
      if (y < h)   /* never before the first row */
        row += n * stride;
    }
  }
  codec_shrink_end(&sh);
  CHECK_INT_EQ(out.w, w / f);
  CHECK_INT_EQ(out.h, h / f);
  if (memcmp(out.px, want, (size_t)out.w * out.h * ch) != 0) {
    fprintf(stderr, "mismatch: w %d h %d ch %d f %d bgr %d back %d "
            "chunk %d\n", w, h, ch, f, bgr, back, chunk);
    tl_failed = 1;
  }
  image_free(&out);
  free(want);
  free(px);
  free(stored);
}

TEST(kernels_are_block_mean)
{
  static const int widths[] = { 1, 2, 7, 17, 33, 64, 203 };
  static const int fs[] = { 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32,
                            64, 200, 257, 258, 300 };
  static const int chunks[] = { 0, 1, 5 };
  int cases = 0;

  for (size_t wi = 0; wi < sizeof(widths) / sizeof(*widths); wi++)
    for (size_t fi = 0; fi < sizeof(fs) / sizeof(*fs); fi++)
      for (int ch = 1; ch <= 3; ch += 2) {   /* the channels of struct image */
        int f = fs[fi], w = widths[wi] * (f > 16 ? f / 8 + 1 : 1) + f;
        int h = 2 * f + f / 2 + 1;
        if (f > 32 && (ch != 3 || wi > 2))
          continue;   /* large blocks: enough with a few widths */
        for (size_t ci = 0; ci < sizeof(chunks) / sizeof(*chunks); ci++)
          for (int back = 0; back < 2; back++) {
            one_case(w, h, ch, f, false, back, chunks[ci]);
            if (ch == 3)
              one_case(w, h, ch, f, true, back, chunks[ci]);
            cases++;
          }
      }
  CHECK(cases > 300);
}

/* ---- TIFF layouts against libtiff's own reader ---- */

struct layout {
  const char *name;
  int spp, bps, rps, tiled, planar, reverse;
};

/* Sample c of pixel (x, y), byte k of it (16-bit samples are stored in
 * host order): the same picture whatever the layout. */
static uint8_t sample(int x, int y, int c, int k)
{
  /* unsigned products: they wrap, as a hash wants, where int ones would
   * overflow */
  uint32_t v = (uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^
               (uint32_t)c * 83492791u ^ (uint32_t)k * 2654435761u;
  v ^= v >> 13;
  v *= 0x5bd1e995u;
  return (uint8_t)(v >> 15);
}

/* The samples of a rows x cols block at (x0, y0) into b, whole pixels or
 * plane pl only; zeros past the picture's edge (a cut tile). */
static void fill(uint8_t *b, const struct layout *L, int w, int h, int x0,
                 int y0, int cols, int rows, int pl)
{
  int bs = L->bps / 8, spp = L->planar ? 1 : L->spp;

  for (int y = 0; y < rows; y++)
    for (int x = 0; x < cols; x++)
      for (int c = 0; c < spp; c++)
        for (int k = 0; k < bs; k++)
          *b++ = x0 + x < w && y0 + y < h
                     ? sample(x0 + x, y0 + y, L->planar ? pl : c, k) : 0;
}

/* Writes the w x h picture of sample() in the layout (uncompressed) to
 * path. */
static void write_tiff(const char *path, const struct layout *L, int w,
                       int h)
{
  TIFF *t = TIFFOpen(path, "w");

  CHECK(t != NULL);
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)L->spp);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)L->bps);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, L->spp == 3 ? PHOTOMETRIC_RGB
                                                   : PHOTOMETRIC_MINISBLACK);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, L->planar ? PLANARCONFIG_SEPARATE
                                                  : PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
  if (L->tiled) {
    TIFFSetField(t, TIFFTAG_TILEWIDTH, (uint32_t)16);
    TIFFSetField(t, TIFFTAG_TILELENGTH, (uint32_t)16);
    size_t tsz = (size_t)TIFFTileSize(t);
    uint8_t *b = malloc(tsz);
    CHECK(b != NULL);
    for (int pl = 0; pl < (L->planar ? 3 : 1); pl++)
      for (int y = 0; y < h; y += 16)
        for (int x = 0; x < w; x += 16) {
          fill(b, L, w, h, x, y, 16, 16, pl);
          CHECK(TIFFWriteEncodedTile(
                    t, TIFFComputeTile(t, (uint32_t)x, (uint32_t)y, 0,
                                       (uint16_t)pl),
                    b, (tmsize_t)tsz) >= 0);
        }
    free(b);
  } else {
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)L->rps);
    uint32_t n = TIFFNumberOfStrips(t), per = n / (L->planar ? 3 : 1);
    size_t row = (size_t)w * (L->planar ? 1 : L->spp) * (L->bps / 8);
    uint8_t *b = malloc(row * (size_t)L->rps);
    CHECK(b != NULL);
    for (uint32_t k = 0; k < n; k++) {
      uint32_t s = L->reverse ? n - 1 - k : k;
      int y = (int)(s % per) * L->rps;
      int rows = h - y < L->rps ? h - y : L->rps;
      fill(b, L, w, h, 0, y, w, rows, (int)(s / per));
      CHECK(TIFFWriteEncodedStrip(t, s, b, (tmsize_t)(row * rows)) >= 0);
    }
    free(b);
  }
  TIFFClose(t);
}

/* libtiff's RGBA reader, top-left frame, as w x h RGB (the files are
 * opaque). */
static uint8_t *libtiff_rgb(const char *path, int w, int h)
{
  TIFF *t = TIFFOpen(path, "r");
  uint32_t *r = malloc((size_t)w * h * 4);
  uint8_t *rgb = malloc((size_t)w * h * 3);

  CHECK(t != NULL && r != NULL && rgb != NULL);
  CHECK(TIFFReadRGBAImageOriented(t, (uint32_t)w, (uint32_t)h, r,
                                  ORIENTATION_TOPLEFT, 1));
  for (size_t i = 0; i < (size_t)w * h; i++) {
    rgb[3 * i] = (uint8_t)TIFFGetR(r[i]);
    rgb[3 * i + 1] = (uint8_t)TIFFGetG(r[i]);
    rgb[3 * i + 2] = (uint8_t)TIFFGetB(r[i]);
  }
  TIFFClose(t);
  free(r);
  return rgb;
}

TEST(tiff_layouts_are_libtiff_block_mean)
{
  static const struct layout layouts[] = {
    { "rgb8 1-row strips", 3, 8, 1, 0, 0, 0 },
    { "rgb8 3-row strips", 3, 8, 3, 0, 0, 0 },
    { "rgb8 16-row strips", 3, 8, 16, 0, 0, 0 },
    { "rgb8 strips reversed", 3, 8, 3, 0, 0, 1 },
    { "rgb8 one strip", 3, 8, 1000, 0, 0, 0 },
    { "gray8 5-row strips", 1, 8, 5, 0, 0, 0 },
    { "gray8 strips reversed", 1, 8, 4, 0, 0, 1 },
    { "rgb16 7-row strips", 3, 16, 7, 0, 0, 0 },
    { "gray16 1-row strips", 1, 16, 1, 0, 0, 0 },
    { "rgb8 planar", 3, 8, 6, 0, 1, 0 },
    { "rgb16 planar", 3, 16, 6, 0, 1, 0 },
    { "rgb8 tiles cut at the edge", 3, 8, 0, 1, 0, 0 },
    { "gray16 tiles cut at the edge", 1, 16, 0, 1, 0, 0 },
    { "rgb8 planar tiles", 3, 8, 0, 1, 1, 0 },
  };
  static const int mins[] = { 1, 8, 16, 33, 64 };
  const int w = 203, h = 137;
  char tmp[256], path[300];

  CHECK_INT_EQ(tl_tmpdir(tmp, sizeof(tmp), "shrink"), 0);
  snprintf(path, sizeof(path), "%s/t.tif", tmp);
  for (size_t k = 0; k < sizeof(layouts) / sizeof(*layouts); k++) {
    const struct layout *L = &layouts[k];
    uint8_t *full, *data;
    size_t n;

    /* The reference: libtiff's reader on the same picture in
     * pixel-interleaved 1-row strips.  Not the layout's own file: for
     * 16-bit gray in tiles, libtiff 4.5's RGBA reader gives other pixels
     * from the second row of each cut right-hand tile on than it gives
     * for the same picture in strips (the direct path reads both
     * alike). */
    struct layout plain = { "plain", L->spp, L->bps, 1, 0, 0, 0 };
    write_tiff(path, &plain, w, h);
    full = libtiff_rgb(path, w, h);
    write_tiff(path, L, w, h);
    data = tl_slurp(path, &n);
    for (size_t i = 0; i < sizeof(mins) / sizeof(*mins); i++) {
      int f = h / mins[i];
      struct image got;
      uint8_t *want = malloc((size_t)(w / f) * (h / f) * 3 + 1);
      CHECK_INT_EQ(img_decode(data, n, mins[i], 0, &got, NULL), 0);
      plain_mean(full, w, h, 3, f, false, want);
      CHECK_INT_EQ(got.w, w / f);
      CHECK_INT_EQ(got.h, h / f);
      if (got.px && got.w == w / f && got.h == h / f &&
          memcmp(got.px, want, (size_t)got.w * got.h * 3) != 0) {
        fprintf(stderr, "%s, f %d: differs from libtiff\n", L->name, f);
        tl_failed = 1;
      }
      image_free(&got);
      free(want);
    }
    free(full);
    free(data);
  }
  tl_rm_rf(tmp);
}

/* A file in memory for the stream's callback; reads counts its calls. */
struct mfile {
  const uint8_t *p;
  size_t n;
  int reads;
};

static long mfile_read(void *ud, uint64_t off, void *buf, size_t n)
{
  struct mfile *m = ud;

  m->reads++;
  if (off >= m->n)
    return 0;
  if (n > m->n - off)
    n = m->n - (size_t)off;
  /* Short reads now and then, as a pread may give. */
  if (n > 7 && m->reads % 3 == 0)
    n = 7;
  memcpy(buf, m->p + off, n);
  return (long)n;
}

/* A stream decode of data[0..n) (the header and directories read from
 * hdr, which is data unless a test changes the file under it), fed in
 * pieces of `piece` bytes into one buffer as the import reads. */
static int stream_decode(const uint8_t *hdr, const uint8_t *data, size_t n,
                         size_t piece, int min_short, unsigned flags,
                         struct image *ret)
{
  struct mfile m = { hdr, n, 0 };
  struct img_stream *st;
  uint8_t *buf = malloc(n);
  int r;

  CHECK(buf != NULL);
  r = img_stream_open(n, mfile_read, &m, min_short, flags, &st);
  if (r != 0) {
    free(buf);
    return r == 1 ? -EOPNOTSUPP : r;
  }
  for (size_t got = 0; got < n; got += piece) {
    size_t k = n - got < piece ? n - got : piece;
    memcpy(buf + got, data + got, k);
    img_stream_data(st, buf, got + k);
  }
  r = img_stream_end(st, buf, n, ret);
  free(buf);
  return r;
}

/* The stream decode of every strip layout gives libtiff's block mean
 * (the reference of the test above), at every scale and in pieces that
 * do and do not line up with strips; the layouts it cannot use in place
 * (planar, tiles) do not stream; a TIFF's pixels with the orientation
 * applied are img_decode's. */
TEST(tiff_stream_is_libtiff_block_mean)
{
  static const struct layout layouts[] = {
    { "rgb8 1-row strips", 3, 8, 1, 0, 0, 0 },
    { "rgb8 3-row strips", 3, 8, 3, 0, 0, 0 },
    { "rgb8 strips reversed", 3, 8, 3, 0, 0, 1 },
    { "rgb8 one strip", 3, 8, 1000, 0, 0, 0 },
    { "gray8 strips reversed", 1, 8, 4, 0, 0, 1 },
    { "rgb16 7-row strips", 3, 16, 7, 0, 0, 0 },
    { "gray16 1-row strips", 1, 16, 1, 0, 0, 0 },
    { "rgb8 planar", 3, 8, 6, 0, 1, 0 },
    { "rgb8 tiles cut at the edge", 3, 8, 0, 1, 0, 0 },
  };
  static const int mins[] = { 1, 8, 33, 64 };
  static const size_t pieces[] = { 1, 1000, 4096, 1 << 20 };
  const int w = 203, h = 137;
  char tmp[256], path[300];

  CHECK_INT_EQ(tl_tmpdir(tmp, sizeof(tmp), "stream"), 0);
  snprintf(path, sizeof(path), "%s/t.tif", tmp);
  for (size_t k = 0; k < sizeof(layouts) / sizeof(*layouts); k++) {
    const struct layout *L = &layouts[k];
    struct layout plain = { "plain", L->spp, L->bps, 1, 0, 0, 0 };
    bool streams = !L->planar && !L->tiled;
    uint8_t *full, *data;
    size_t n;

    write_tiff(path, &plain, w, h);
    full = libtiff_rgb(path, w, h);
    write_tiff(path, L, w, h);
    data = tl_slurp(path, &n);
    for (size_t i = 0; i < sizeof(mins) / sizeof(*mins); i++)
      for (size_t j = 0; j < sizeof(pieces) / sizeof(*pieces); j++) {
        int f = h / mins[i];
        unsigned long fb = img_stream_fallbacks;
        struct image got;
        uint8_t *want;
        int r;
        if (pieces[j] == 1 && mins[i] != 33)
          continue;   /* byte by byte: one scale is enough */
        want = malloc((size_t)(w / f) * (h / f) * 3 + 1);
        r = stream_decode(data, data, n, pieces[j], mins[i], 0, &got);
        if (!streams) {
          CHECK_INT_EQ(r, -EOPNOTSUPP);
          free(want);
          continue;
        }
        CHECK_INT_EQ(r, 0);
        CHECK(img_stream_fallbacks == fb);   /* it did stream */
        plain_mean(full, w, h, 3, f, false, want);
        CHECK_INT_EQ(got.w, w / f);
        CHECK_INT_EQ(got.h, h / f);
        if (got.px && got.w == w / f && got.h == h / f &&
            memcmp(got.px, want, (size_t)got.w * got.h * 3) != 0) {
          fprintf(stderr, "%s, f %d, pieces of %zu: stream differs from "
                  "libtiff\n", L->name, f, pieces[j]);
          tl_failed = 1;
        }
        image_free(&got);
        free(want);
      }
    free(full);
    free(data);
  }
  tl_rm_rf(tmp);
}

/* A file whose directory changed between the stream's open and the
 * read (another strip order, the same size): the result is still the
 * decode of the bytes read, by img_decode; the same file read as it was
 * opened streams. */
TEST(tiff_stream_file_changed)
{
  static const struct layout a = { "a", 3, 8, 3, 0, 0, 0 };
  static const struct layout b = { "b", 3, 8, 3, 0, 0, 1 };
  const int w = 97, h = 71;
  char tmp[256], path[300];
  uint8_t *da, *db;
  size_t na, nb;
  struct image got, want;
  unsigned long fb;

  CHECK_INT_EQ(tl_tmpdir(tmp, sizeof(tmp), "stream"), 0);
  snprintf(path, sizeof(path), "%s/t.tif", tmp);
  write_tiff(path, &a, w, h);
  da = tl_slurp(path, &na);
  write_tiff(path, &b, w, h);
  db = tl_slurp(path, &nb);
  CHECK(na == nb && memcmp(da, db, na) != 0);
  CHECK_INT_EQ(img_decode(db, nb, 16, 0, &want, NULL), 0);
  fb = img_stream_fallbacks;
  CHECK_INT_EQ(stream_decode(da, db, nb, 4096, 16, 0, &got), 0);
  CHECK(img_stream_fallbacks == fb + 1);
  CHECK(got.w == want.w && got.h == want.h &&
        memcmp(got.px, want.px, (size_t)got.w * got.h * 3) == 0);
  image_free(&got);
  CHECK_INT_EQ(stream_decode(db, db, nb, 4096, 16, IMG_DECODE_ORIENT, &got),
               0);
  CHECK(img_stream_fallbacks == fb + 1);
  CHECK(got.w == want.w && got.h == want.h &&
        memcmp(got.px, want.px, (size_t)got.w * got.h * 3) == 0);
  image_free(&got);
  image_free(&want);
  free(da);
  free(db);
  tl_rm_rf(tmp);
}

TEST_MAIN(T(kernels_are_block_mean), T(tiff_layouts_are_libtiff_block_mean),
          T(tiff_stream_is_libtiff_block_mean), T(tiff_stream_file_changed))
