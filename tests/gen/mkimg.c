/* mkimg - writes the image-format test corpus: every variant the import
 * must read, in every format, each from the same kind of synthetic
 * photograph as mkjpeg (paint.h), written with the format's own reference
 * library (libjpeg-turbo, libpng, libwebp + libwebpmux, libtiff, giflib;
 * BMP by hand).
 *
 * usage: mkimg [-W WIDTH] [-H HEIGHT] [-s SEED] [-n COPIES] [-o ONLY] DIR
 *
 * Every variant of one copy shows the same picture: paint() from
 * mkimg_seed(SEED, copy) (paint.h), so tests can compare decodes with it.
 *
 * Writes DIR/<variant>.<ext> and prints one manifest line per file:
 *   <file> <format> <width> <height> <orientation> <components>
 * with width and height as stored (before orientation).  -o keeps only the
 * variants whose name starts with ONLY (e.g. "png_"); -n writes COPIES
 * pictures of each variant (<variant>_<k>.<ext>, seeds differ), for
 * benchmarks.
 */
#include <errno.h>
#include <gif_lib.h>
#include <png.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "paint.h"

static const char *dir, *only;
static int W = 96, H = 64, copies = 1, copy;
static uint64_t seed = 1;

/* A TIFF-structured EXIF block with one Orientation entry (big-endian). */
static size_t exif_block(uint8_t *b, int orientation)
{
  static const uint8_t t[] = { 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                               0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0,
                               0, 0, 0, 0 };
  memcpy(b, t, sizeof(t));
  b[19] = (uint8_t)orientation;
  return sizeof(t);
}

static int want(const char *variant)
{
  return !only || strncmp(variant, only, strlen(only)) == 0;
}

static void path_of(char *p, size_t n, const char *variant, const char *ext)
{
  if (copies > 1)
    snprintf(p, n, "%s/%s_%04d%s", dir, variant, copy, ext);
  else
    snprintf(p, n, "%s/%s%s", dir, variant, ext);
}

static void manifest(const char *path, const char *fmt, int w, int h, int o,
                     int comp)
{
  printf("%s %s %d %d %d %d\n", strrchr(path, '/') + 1, fmt, w, h, o, comp);
}

static void write_file(const char *path, const void *p, size_t n)
{
  FILE *f = fopen(path, "wb");

  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* The same picture for every variant of one copy (mkimg_seed()), so a
 * test can compare any decode with it. */
static uint8_t *picture(int w, int h, const char *variant)
{
  uint8_t *px = malloc((size_t)w * h * 3);

  (void)variant;
  if (!px)
    exit(1);
  rng = mkimg_seed(seed, (uint64_t)copy);
  paint(px, w, h);
  return px;
}

/* ---- JPEG ---- */

static void jpeg(const char *variant, int pf, int samp, int flags,
                 int orientation)
{
  tjhandle tj;
  uint8_t *rgb, *src, *jpg = NULL, *out;
  unsigned long len = 0;
  size_t n;
  char path[4096];
  int comp = pf == TJPF_GRAY ? 1 : pf == TJPF_CMYK ? 4 : 3;

  if (!want(variant))
    return;
  tj = tjInitCompress();
  rgb = src = picture(W, H, variant);
  if (pf == TJPF_GRAY || pf == TJPF_CMYK) {
    src = malloc((size_t)W * H * 4);
    for (size_t i = 0; i < (size_t)W * H; i++) {
      uint8_t *p = rgb + 3 * i;
      if (pf == TJPF_GRAY) {
        src[i] = (uint8_t)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8);
      } else {
        /* Adobe-style (inverted) CMYK, as Photoshop writes it and as
         * TurboJPEG and viewers read it: 255 is no ink. */
        int k = p[0] > p[1] ? (p[0] > p[2] ? p[0] : p[2])
                            : (p[1] > p[2] ? p[1] : p[2]);
        for (int c = 0; c < 3; c++)
          src[4 * i + c] = (uint8_t)(k ? (p[c] * 255 + k / 2) / k : 255);
        src[4 * i + 3] = (uint8_t)k;
      }
    }
  }
  if (tjCompress2(tj, src, W, 0, H, pf, &jpg, &len, samp, 90, flags) < 0) {
    fprintf(stderr, "mkimg: %s: %s\n", variant, tjGetErrorStr2(tj));
    exit(1);
  }
  out = malloc(len + 64);
  memcpy(out, jpg, 2);
  n = 2;
  if (orientation > 1) {   /* APP1 "Exif\0\0" + TIFF block after SOI */
    uint8_t b[64];
    size_t bl = exif_block(b, orientation);
    out[n++] = 0xFF;
    out[n++] = 0xE1;
    out[n++] = (uint8_t)((bl + 8) >> 8);
    out[n++] = (uint8_t)(bl + 8);
    memcpy(out + n, "Exif\0\0", 6);
    n += 6;
    memcpy(out + n, b, bl);
    n += bl;
  }
  memcpy(out + n, jpg + 2, len - 2);
  n += len - 2;
  path_of(path, sizeof(path), variant, ".jpg");
  write_file(path, out, n);
  manifest(path, "jpeg", W, H, orientation > 1 ? orientation : 1, comp);
  free(out);
  tjFree(jpg);
  if (src != rgb)
    free(src);
  free(rgb);
  tjDestroy(tj);
}

/* ---- PNG ---- */

static void png(const char *variant, int ctype, int depth, int interlace,
                int orientation)
{
  uint8_t *rgb;
  char path[4096];
  FILE *f;
  png_structp ps;
  png_infop pi;
  int ch = ctype == PNG_COLOR_TYPE_GRAY ? 1 : ctype == PNG_COLOR_TYPE_GRAY_ALPHA
           ? 2 : ctype == PNG_COLOR_TYPE_RGB ? 3 : ctype == PNG_COLOR_TYPE_RGBA
           ? 4 : 1;
  int bpc = depth == 16 ? 2 : 1;
  uint8_t *rows;
  png_bytep *rp;

  if (!want(variant))
    return;
  rgb = picture(W, H, variant);
  rows = calloc((size_t)W * H * ch * bpc, 1);
  rp = malloc(sizeof(*rp) * H);
  for (int y = 0; y < H; y++) {
    rp[y] = rows + (size_t)y * W * ch * bpc;
    for (int x = 0; x < W; x++) {
      uint8_t *p = rgb + ((size_t)y * W + x) * 3, v[4];
      int n = 0;
      uint8_t gray = (uint8_t)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8);
      uint8_t alpha = (uint8_t)(x < W / 4 ? 128 : 255);
      switch (ctype) {
      case PNG_COLOR_TYPE_GRAY: v[n++] = gray; break;
      case PNG_COLOR_TYPE_GRAY_ALPHA: v[n++] = gray; v[n++] = alpha; break;
      case PNG_COLOR_TYPE_RGB: v[n++] = p[0]; v[n++] = p[1]; v[n++] = p[2];
        break;
      case PNG_COLOR_TYPE_RGBA: v[n++] = p[0]; v[n++] = p[1]; v[n++] = p[2];
        v[n++] = alpha; break;
      default:   /* palette: 6x6x6 cube */
        v[n++] = (uint8_t)((p[0] / 43) * 36 + (p[1] / 43) * 6 + p[2] / 43);
      }
      for (int c = 0; c < n; c++) {
        uint8_t *o = rp[y] + ((size_t)x * ch + c) * bpc;
        o[0] = v[c];
        if (bpc == 2)
          o[1] = (uint8_t)(v[c] ^ (x & 0xff));   /* low byte varies */
      }
    }
  }
  path_of(path, sizeof(path), variant, ".png");
  f = fopen(path, "wb");
  ps = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  pi = png_create_info_struct(ps);
  if (!f || !ps || !pi || setjmp(png_jmpbuf(ps))) {
    fprintf(stderr, "mkimg: %s: png error\n", variant);
    exit(1);
  }
  png_init_io(ps, f);
  png_set_IHDR(ps, pi, (png_uint_32)W, (png_uint_32)H, depth, ctype,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (ctype == PNG_COLOR_TYPE_PALETTE) {
    png_color pal[216];
    png_byte trns[1] = { 0 };
    for (int i = 0; i < 216; i++) {
      pal[i].red = (png_byte)((i / 36) * 51);
      pal[i].green = (png_byte)(((i / 6) % 6) * 51);
      pal[i].blue = (png_byte)((i % 6) * 51);
    }
    png_set_PLTE(ps, pi, pal, 216);
    png_set_tRNS(ps, pi, trns, 1, NULL);
  }
  if (orientation > 1) {
    uint8_t b[64];
    size_t bl = exif_block(b, orientation);
    png_set_eXIf_1(ps, pi, (png_uint_32)bl, b);
  }
  png_write_info(ps, pi);
  if (interlace)
    png_set_interlace_handling(ps);
  png_write_image(ps, rp);
  png_write_end(ps, pi);
  png_destroy_write_struct(&ps, &pi);
  fclose(f);
  manifest(path, "png", W, H, orientation > 1 ? orientation : 1,
           ctype == PNG_COLOR_TYPE_PALETTE ? 3 : ch);
  free(rows);
  free(rp);
  free(rgb);
}

/* ---- WebP ---- */

static void webp(const char *variant, int lossless, int alpha,
                 int orientation)
{
  uint8_t *rgb, *rgba = NULL, *out = NULL;
  size_t n;
  char path[4096];

  if (!want(variant))
    return;
  rgb = picture(W, H, variant);
  if (alpha) {
    rgba = malloc((size_t)W * H * 4);
    for (size_t i = 0; i < (size_t)W * H; i++) {
      memcpy(rgba + 4 * i, rgb + 3 * i, 3);
      rgba[4 * i + 3] = (uint8_t)((i % (size_t)W) < (size_t)W / 4 ? 128 : 255);
    }
    n = lossless ? WebPEncodeLosslessRGBA(rgba, W, H, W * 4, &out)
                 : WebPEncodeRGBA(rgba, W, H, W * 4, 90, &out);
  } else {
    n = lossless ? WebPEncodeLosslessRGB(rgb, W, H, W * 3, &out)
                 : WebPEncodeRGB(rgb, W, H, W * 3, 90, &out);
  }
  if (!n) {
    fprintf(stderr, "mkimg: %s: webp encode failed\n", variant);
    exit(1);
  }
  path_of(path, sizeof(path), variant, ".webp");
  if (orientation > 1) {
    WebPData img = { out, n }, ex, res = { 0 };
    uint8_t b[64];
    WebPMux *mux = WebPMuxNew();
    ex.bytes = b;
    ex.size = exif_block(b, orientation);
    if (!mux || WebPMuxSetImage(mux, &img, 1) != WEBP_MUX_OK ||
        WebPMuxSetChunk(mux, "EXIF", &ex, 1) != WEBP_MUX_OK ||
        WebPMuxAssemble(mux, &res) != WEBP_MUX_OK) {
      fprintf(stderr, "mkimg: %s: webp mux failed\n", variant);
      exit(1);
    }
    write_file(path, res.bytes, res.size);
    WebPDataClear(&res);
    WebPMuxDelete(mux);
  } else {
    write_file(path, out, n);
  }
  manifest(path, "webp", W, H, orientation > 1 ? orientation : 1,
           alpha ? 4 : 3);
  WebPFree(out);
  free(rgba);
  free(rgb);
}

/* ---- TIFF ---- */

/* A variant named *_be is written big-endian (libtiff swaps its 16-bit
 * samples on reading), one named *planar* (strips) as one plane per
 * sample. */
static void tiff(const char *variant, int spp, int bps, int tiled,
                 int compression, int orientation)
{
  uint8_t *rgb;
  char path[4096];
  TIFF *t;
  bool planar = strstr(variant, "planar") != NULL;
  /* As OpenCV's imwrite writes a TIFF by default: LZW with the horizontal
   * predictor, in strips of about 8 KiB. */
  bool opencv = strcmp(variant, "tiff_lzw8") == 0;
  size_t rowb = (size_t)W * spp * (bps / 8);
  uint8_t *img;

  if (!want(variant))
    return;
  rgb = picture(W, H, variant);
  img = calloc(rowb * H, 1);
  for (size_t i = 0; i < (size_t)W * H; i++) {
    uint8_t *p = rgb + 3 * i;
    for (int c = 0; c < spp; c++) {
      /* spp 4: unassociated alpha, 128 in the left quarter as PNG's */
      uint8_t v = spp == 1 ? (uint8_t)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8)
                  : c == 3 ? (uint8_t)(i % (size_t)W < (size_t)W / 4 ? 128 : 255)
                           : p[c];
      if (bps == 16) {
        uint16_t w16 = (uint16_t)(v * 257);
        memcpy(img + (i * spp + c) * 2, &w16, 2);
      } else {
        img[i * spp + c] = v;
      }
    }
  }
  path_of(path, sizeof(path), variant, ".tif");
  t = TIFFOpen(path, strstr(variant, "_be") ? "wb" : "w");
  if (!t)
    exit(1);
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)W);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)H);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)spp);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)bps);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, planar ? PLANARCONFIG_SEPARATE
                                              : PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, spp == 1 ? PHOTOMETRIC_MINISBLACK
                                                : PHOTOMETRIC_RGB);
  TIFFSetField(t, TIFFTAG_COMPRESSION, (uint16_t)compression);
  if (spp == 4) {
    uint16_t ex = EXTRASAMPLE_UNASSALPHA;
    TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &ex);
  }
  if (orientation > 1)
    TIFFSetField(t, TIFFTAG_ORIENTATION, (uint16_t)orientation);
  if (tiled) {
    uint32_t tw = 32, th = 32;
    size_t tb = (size_t)tw * th * spp * (bps / 8);
    uint8_t *tile = malloc(tb);
    TIFFSetField(t, TIFFTAG_TILEWIDTH, tw);
    TIFFSetField(t, TIFFTAG_TILELENGTH, th);
    for (uint32_t ty = 0; ty < (uint32_t)H; ty += th)
      for (uint32_t tx = 0; tx < (uint32_t)W; tx += tw) {
        memset(tile, 0, tb);
        for (uint32_t y = 0; y < th && ty + y < (uint32_t)H; y++) {
          size_t px = (size_t)spp * (bps / 8);
          uint32_t cw = tx + tw > (uint32_t)W ? (uint32_t)W - tx : tw;
          memcpy(tile + (size_t)y * tw * px,
                 img + (size_t)(ty + y) * rowb + (size_t)tx * px, cw * px);
        }
        if (TIFFWriteTile(t, tile, tx, ty, 0, 0) < 0)
          exit(1);
      }
    free(tile);
  } else if (planar) {
    size_t bs = (size_t)bps / 8;
    uint8_t *plane = malloc((size_t)W * bs);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)16);
    for (int c = 0; c < spp; c++)
      for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++)
          memcpy(plane + (size_t)x * bs,
                 img + (size_t)y * rowb + ((size_t)x * spp + c) * bs, bs);
        if (TIFFWriteScanline(t, plane, (uint32_t)y, (uint16_t)c) < 0)
          exit(1);
      }
    free(plane);
  } else {
    uint32_t rps = opencv ? (uint32_t)(8192 / rowb) : 16;
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rps ? rps : 1);
    if (opencv)
      TIFFSetField(t, TIFFTAG_PREDICTOR, (uint16_t)PREDICTOR_HORIZONTAL);
    for (int y = 0; y < H; y++)
      if (TIFFWriteScanline(t, img + (size_t)y * rowb, (uint32_t)y, 0) < 0)
        exit(1);
  }
  TIFFClose(t);
  manifest(path, "tiff", W, H, orientation > 1 ? orientation : 1, spp);
  free(img);
  free(rgb);
}

/* ---- BMP ---- */

static void put32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static void bmp(const char *variant, int bpp, int topdown)
{
  uint8_t *rgb, *f;
  size_t row = (((size_t)W * bpp + 31) / 32) * 4, pal = bpp == 8 ? 1024 : 0;
  size_t off = 54 + pal, size = off + row * H;
  char path[4096];

  if (!want(variant))
    return;
  rgb = picture(W, H, variant);
  f = calloc(size, 1);
  f[0] = 'B';
  f[1] = 'M';
  put32(f + 2, (uint32_t)size);
  put32(f + 10, (uint32_t)off);
  put32(f + 14, 40);
  put32(f + 18, (uint32_t)W);
  put32(f + 22, topdown ? (uint32_t)-H : (uint32_t)H);
  f[26] = 1;
  f[28] = (uint8_t)bpp;
  put32(f + 34, (uint32_t)(row * H));
  if (bpp == 8) {
    put32(f + 46, 256);
    for (int i = 0; i < 256; i++)
      f[54 + 4 * i] = f[55 + 4 * i] = f[56 + 4 * i] = (uint8_t)i;
  }
  for (int y = 0; y < H; y++) {
    uint8_t *d = f + off + row * (size_t)(topdown ? y : H - 1 - y);
    for (int x = 0; x < W; x++) {
      uint8_t *p = rgb + ((size_t)y * W + x) * 3;
      if (bpp == 8) {
        d[x] = (uint8_t)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8);
      } else {
        uint8_t *o = d + (size_t)x * (bpp / 8);
        o[0] = p[2]; o[1] = p[1]; o[2] = p[0];
        if (bpp == 32)
          o[3] = 255;
      }
    }
  }
  path_of(path, sizeof(path), variant, ".bmp");
  write_file(path, f, size);
  manifest(path, "bmp", W, H, 1, bpp == 32 ? 4 : 3);
  free(f);
  free(rgb);
}

/* ---- GIF ---- */

static void gif(const char *variant, int frames, int interlace)
{
  uint8_t *rgb;
  char path[4096];
  int err;
  GifFileType *g;
  ColorMapObject *cm;
  GifPixelType *line;

  if (!want(variant))
    return;
  rgb = picture(W, H, variant);
  cm = GifMakeMapObject(256, NULL);
  line = malloc((size_t)W);
  for (int i = 0; i < 256; i++) {   /* 8 x 8 x 4 cube */
    cm->Colors[i].Red = (GifByteType)((i >> 5) * 255 / 7);
    cm->Colors[i].Green = (GifByteType)(((i >> 2) & 7) * 255 / 7);
    cm->Colors[i].Blue = (GifByteType)((i & 3) * 85);
  }
  path_of(path, sizeof(path), variant, ".gif");
  g = EGifOpenFileName(path, false, &err);
  if (!g || EGifPutScreenDesc(g, W, H, 8, 0, cm) != GIF_OK)
    exit(1);
  for (int fr = 0; fr < frames; fr++) {
    static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
    if (EGifPutImageDesc(g, 0, 0, W, H, interlace, NULL) != GIF_OK)
      exit(1);
    for (int pass = 0; pass < (interlace ? 4 : 1); pass++)
      for (int y = interlace ? start[pass] : 0; y < H;
           y += interlace ? step[pass] : 1) {
        for (int x = 0; x < W; x++) {
          uint8_t *p = rgb + ((size_t)y * W + x) * 3;
          int v = ((p[0] * 7 + 127) / 255) << 5 |
                  ((p[1] * 7 + 127) / 255) << 2 | ((p[2] * 3 + 127) / 255);
          line[x] = (GifPixelType)(fr ? 255 - v : v);
        }
        if (EGifPutLine(g, line, W) != GIF_OK)
          exit(1);
      }
  }
  if (EGifCloseFile(g, &err) != GIF_OK)
    exit(1);
  manifest(path, "gif", W, H, 1, 3);
  GifFreeMapObject(cm);
  free(line);
  free(rgb);
}

int main(int argc, char **argv)
{
  int c;

  while ((c = getopt(argc, argv, "W:H:s:n:o:")) != -1) {
    switch (c) {
    case 'W': W = atoi(optarg); break;
    case 'H': H = atoi(optarg); break;
    case 's': seed = strtoull(optarg, NULL, 10); break;
    case 'n': copies = atoi(optarg); break;
    case 'o': only = optarg; break;
    default:
      fprintf(stderr, "usage: mkimg [-W W] [-H H] [-s SEED] [-n COPIES] "
              "[-o ONLY] DIR\n");
      return 2;
    }
  }
  if (optind != argc - 1 || W < 8 || H < 8 || copies < 1) {
    fprintf(stderr, "mkimg: bad arguments\n");
    return 2;
  }
  dir = argv[optind];
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
    perror(dir);
    return 1;
  }
  TIFFSetWarningHandler(NULL);
  for (copy = 0; copy < copies; copy++) {
    jpeg("jpeg_baseline", TJPF_RGB, TJSAMP_420, 0, 1);
    jpeg("jpeg_progressive", TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE, 1);
    jpeg("jpeg_gray", TJPF_GRAY, TJSAMP_GRAY, 0, 1);
    jpeg("jpeg_cmyk", TJPF_CMYK, TJSAMP_444, 0, 1);
    jpeg("jpeg_orient6", TJPF_RGB, TJSAMP_420, 0, 6);
    png("png_rgb8", PNG_COLOR_TYPE_RGB, 8, 0, 1);
    png("png_rgba8", PNG_COLOR_TYPE_RGBA, 8, 0, 1);
    png("png_gray8", PNG_COLOR_TYPE_GRAY, 8, 0, 1);
    png("png_gray16", PNG_COLOR_TYPE_GRAY, 16, 0, 1);
    png("png_rgb16", PNG_COLOR_TYPE_RGB, 16, 0, 1);
    png("png_rgba16", PNG_COLOR_TYPE_RGBA, 16, 0, 1);
    png("png_graya8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 1);
    png("png_palette", PNG_COLOR_TYPE_PALETTE, 8, 0, 1);
    png("png_interlaced", PNG_COLOR_TYPE_RGB, 8, 1, 1);
    png("png_orient6", PNG_COLOR_TYPE_RGB, 8, 0, 6);
    webp("webp_lossy", 0, 0, 1);
    webp("webp_lossless", 1, 0, 1);
    webp("webp_alpha", 0, 1, 1);
    webp("webp_lossless_alpha", 1, 1, 1);
    webp("webp_orient8", 0, 0, 8);
    tiff("tiff_strip8", 3, 8, 0, COMPRESSION_NONE, 1);
    tiff("tiff_strip16", 3, 16, 0, COMPRESSION_NONE, 1);
    tiff("tiff_tile8", 3, 8, 1, COMPRESSION_NONE, 1);
    tiff("tiff_tile16", 3, 16, 1, COMPRESSION_LZW, 1);
    tiff("tiff_gray8_lzw", 1, 8, 0, COMPRESSION_LZW, 1);
    tiff("tiff_lzw8", 3, 8, 0, COMPRESSION_LZW, 1);
    tiff("tiff_orient6", 3, 8, 0, COMPRESSION_NONE, 6);
    tiff("tiff_rgba8", 4, 8, 0, COMPRESSION_LZW, 1);
    tiff("tiff_planar8", 3, 8, 0, COMPRESSION_NONE, 1);
    tiff("tiff_strip16_be", 3, 16, 0, COMPRESSION_NONE, 1);
    bmp("bmp_24", 24, 0);
    bmp("bmp_32_topdown", 32, 1);
    bmp("bmp_8_palette", 8, 0);
    gif("gif_single", 1, 0);
    gif("gif_animated", 3, 0);
    gif("gif_interlaced", 1, 1);
  }
  return 0;
}
