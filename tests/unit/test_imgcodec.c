/* test_imgcodec.c - every format and variant of the corpus (tests/gen/
 * mkimg, written by each format's reference library) through imgfmt.h and
 * imgcodec.h: the header gives the format, size, orientation and channels
 * of the manifest; the full decode gives the painted picture back (exactly
 * for lossless variants, closely for lossy or quantised ones); the viewer
 * frame (IMG_DECODE_ORIENT) puts each stored pixel where EXIF says; the
 * scaled decode of JPEG and WebP keeps the short side >= the minimum, and
 * that of the other formats is exactly the block mean of the full decode;
 * names, extensions and sniffing agree; and a TIFF with a damaged
 * compressed strip fails to decode.
 *
 * The environment names the mkimg binary (MKIMG, set by meson).
 */
#include "testlib.h"
#include "imgcodec.h"
#include "gen/paint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static char dir[64];

#define W 96
#define H 64

static uint8_t ref[W * H * 3];

static long mem_read(void *ud, uint64_t off, void *buf, size_t n)
{
  const uint8_t **pp = ud;
  size_t len = (size_t)(uintptr_t)pp[1];

  if (off >= len)
    return 0;
  if (n > len - off)
    n = len - (size_t)off;
  memcpy(buf, pp[0] + off, n);
  return (long)n;
}

/* The expected stored-frame pixel of a variant at (x, y). */
static void expect(const char *name, int x, int y, uint8_t out[3])
{
  const uint8_t *p = ref + ((size_t)y * W + x) * 3;
  bool gray = strstr(name, "gray") || strstr(name, "bmp_8");
  bool alpha = strstr(name, "rgba") || strstr(name, "graya") ||
               strstr(name, "_alpha");

  for (int c = 0; c < 3; c++)
    out[c] = p[c];
  if (gray) {
    uint8_t g = (uint8_t)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8);
    out[0] = out[1] = out[2] = g;
  }
  if (alpha && x < W / 4)   /* alpha 128 over white */
    for (int c = 0; c < 3; c++)
      out[c] = (uint8_t)((out[c] * 128 + 255 * 127 + 127) / 255);
}

/* Mean absolute difference, over all channels, from the expectation. */
static double mad(const char *name, const struct image *im)
{
  double sum = 0;

  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t e[3];
      expect(name, x, y, e);
      for (int c = 0; c < 3; c++)
        sum += abs((int)im->px[((size_t)y * W + x) * 3 + c] - e[c]);
    }
  return sum / (W * H * 3);
}

static double tolerance(const char *name)
{
  if (strstr(name, "palette") || strstr(name, "gif"))
    return 24;   /* quantised to a small colour cube */
  if (strstr(name, "jpeg_cmyk"))
    return 12;
  if (strstr(name, "jpeg") || strstr(name, "webp_lossy") ||
      strstr(name, "webp_alpha") || strstr(name, "webp_orient"))
    return 6;
  return 0.75;   /* lossless (16-bit keeps the high byte) */
}

TEST(corpus)
{
  char cmd[512], line[512];
  FILE *m;
  int files = 0, seen[IMG_NFORMATS] = { 0 };

  const char *mkimg = getenv("MKIMG"), *tmp = getenv("TMPDIR");

  CHECK(mkimg != NULL);
  snprintf(dir, sizeof(dir), "%s/test-imgcodec-XXXXXX", tmp ? tmp : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
  rng = mkimg_seed(1, 0);
  paint(ref, W, H);
  snprintf(cmd, sizeof(cmd), "%s -W %d -H %d -s 1 %s", mkimg, W, H, dir);
  m = popen(cmd, "r");
  CHECK(m != NULL);
  while (fgets(line, sizeof(line), m)) {
    char name[128], fmt[16], path[256];
    int w, h, o, comp, format;
    uint8_t *data;
    size_t n;
    const uint8_t *pp[2];
    struct img_src src;
    struct img_info info;
    const char *why = NULL;
    struct image im, vw, sm;

    CHECK_INT_EQ(sscanf(line, "%127s %15s %d %d %d %d", name, fmt, &w, &h,
                        &o, &comp), 6);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    data = tl_slurp(path, &n);
    pp[0] = data;
    pp[1] = (const uint8_t *)(uintptr_t)n;
    src = (struct img_src){ data, n < 16384 ? n : 16384, n, mem_read, pp };
    printf("# %s\n", name);
    CHECK_INT_EQ(img_header_read(&src, &info, &why), 0);
    CHECK(strcasecmp(img_format_name((int)info.format), fmt) == 0);
    CHECK_INT_EQ(img_sniff(data, n), (int)info.format);
    CHECK_INT_EQ(img_format_of_name(name), (int)info.format);
    CHECK(strcmp(strrchr(name, '.'), img_ext((int)info.format)) == 0);
    CHECK_INT_EQ(info.width, w);
    CHECK_INT_EQ(info.height, h);
    CHECK_INT_EQ(info.orientation, o);
    CHECK_INT_EQ(info.components, comp);
    seen[info.format]++;

    /* Full decode, stored frame: the painted picture. */
    CHECK_INT_EQ(img_decode(data, n, 0, 0, &im, &format), 0);
    CHECK_INT_EQ(format, (int)info.format);
    CHECK_INT_EQ(im.w, W);
    CHECK_INT_EQ(im.h, H);
    CHECK_INT_EQ(im.channels, 3);
    {
      double d = mad(name, &im);
      printf("#   mean abs diff %.2f (limit %.2f)\n", d, tolerance(name));
      CHECK(d <= tolerance(name));
    }

    /* Viewer frame: each stored pixel where its orientation puts it. */
    CHECK_INT_EQ(img_decode(data, n, 0, IMG_DECODE_ORIENT, &vw, NULL), 0);
    CHECK_INT_EQ(vw.w, o >= 5 ? H : W);
    CHECK_INT_EQ(vw.h, o >= 5 ? W : H);
    for (int y = 0; y < H; y += 7)
      for (int x = 0; x < W; x += 5) {
        int dx = x, dy = y;
        if (o == 6) {          /* turned a quarter clockwise to view */
          dx = H - 1 - y;
          dy = x;
        } else if (o == 8) {   /* a quarter counter-clockwise */
          dx = y;
          dy = W - 1 - x;
        }
        CHECK(memcmp(vw.px + ((size_t)dy * vw.w + dx) * 3,
                     im.px + ((size_t)y * W + x) * 3, 3) == 0);
      }

    /* Scaled decode for features: short side >= 16, any format. */
    CHECK_INT_EQ(img_decode(data, n, 16, 0, &sm, NULL), 0);
    CHECK(sm.w >= 16 && sm.h >= 16 && sm.w <= W && sm.h <= H);
    if (info.format == IMG_JPEG || info.format == IMG_WEBP)
      CHECK(sm.h < H);   /* these scale in the decoder */

    image_free(&im);
    image_free(&vw);
    image_free(&sm);
    free(data);
    unlink(path);
    files++;
  }
  CHECK_INT_EQ(pclose(m), 0);
  rmdir(dir);
  CHECK(files >= 30);
  for (int f = 0; f < IMG_NFORMATS; f++)
    CHECK(seen[f] >= 3);
}

TEST(names_and_sniff)
{
  CHECK_INT_EQ(img_format_of_name("a/B.JPEG"), IMG_JPEG);
  CHECK_INT_EQ(img_format_of_name("x.tiff"), IMG_TIFF);
  CHECK_INT_EQ(img_format_of_name("x.Dib"), IMG_BMP);
  CHECK_INT_EQ(img_format_of_name("x.heic"), -1);
  CHECK_INT_EQ(img_format_of_name("noext"), -1);
  CHECK_INT_EQ(img_sniff((const uint8_t *)"GIF89a", 6), IMG_GIF);
  CHECK_INT_EQ(img_sniff((const uint8_t *)"RIFF\0\0\0\0WAVE", 12), -1);
  CHECK_INT_EQ(img_sniff((const uint8_t *)"\xff\xd8", 2), -1);
  CHECK(img_ext(IMG_NFORMATS) == NULL);
  CHECK(strcmp(img_format_name(-1), "unknown") == 0);
}

TEST(orient_all_eight)
{
  struct image im;
  /* 3 x 2 image, pixel value = index; viewer positions per EXIF. */
  static const int want[9][6] = {
    { 0 }, { 0, 1, 2, 3, 4, 5 }, { 2, 1, 0, 5, 4, 3 }, { 5, 4, 3, 2, 1, 0 },
    { 3, 4, 5, 0, 1, 2 }, { 0, 3, 1, 4, 2, 5 }, { 3, 0, 4, 1, 5, 2 },
    { 5, 2, 4, 1, 3, 0 }, { 2, 5, 1, 4, 0, 3 } };

  for (int o = 1; o <= 8; o++) {
    CHECK_INT_EQ(image_alloc(&im, 3, 2, 1), 0);
    for (int i = 0; i < 6; i++)
      im.px[i] = (uint8_t)i;
    CHECK_INT_EQ(img_orient(&im, o), 0);
    CHECK_INT_EQ(im.w, o >= 5 ? 2 : 3);
    for (int i = 0; i < 6; i++)
      CHECK_INT_EQ(im.px[i], want[o][i]);
    image_free(&im);
  }
}

TEST(orient_tiles)
{
  /* Sizes that leave partial tiles (img_orient() moves 32 x 32 tiles),
   * gray and RGB: every pixel lands where a viewer shows it, checked
   * pixel by pixel against the positions of orient_all_eight. */
  static const int sz[][2] = { { 70, 37 }, { 33, 1 }, { 1, 65 } };
  for (size_t k = 0; k < sizeof(sz) / sizeof(sz[0]); k++)
    for (int ch = 1; ch <= 3; ch += 2)
      for (int o = 2; o <= 8; o++) {
        int w = sz[k][0], h = sz[k][1], bad = 0;
        struct image im;
        CHECK_INT_EQ(image_alloc(&im, w, h, ch), 0);
        for (size_t i = 0; i < (size_t)w * h * ch; i++)
          im.px[i] = (uint8_t)(i * 131 + i / 256);
        uint8_t *src = malloc((size_t)w * h * ch);
        CHECK(src != NULL);
        memcpy(src, im.px, (size_t)w * h * ch);
        CHECK_INT_EQ(img_orient(&im, o), 0);
        CHECK_INT_EQ(im.w, o >= 5 ? h : w);
        CHECK_INT_EQ(im.h, o >= 5 ? w : h);
        for (int y = 0; y < h; y++)
          for (int x = 0; x < w; x++) {
            int dx = o == 2 || o == 3 ? w - 1 - x : o == 4 ? x
                     : o == 5 || o == 8 ? y : h - 1 - y;
            int dy = o == 2 ? y : o == 3 || o == 4 ? h - 1 - y
                     : o == 5 || o == 6 ? x : w - 1 - x;
            bad += memcmp(im.px + ((size_t)dy * im.w + dx) * ch,
                          src + ((size_t)y * w + x) * ch, (size_t)ch) != 0;
          }
        CHECK_INT_EQ(bad, 0);
        free(src);
        image_free(&im);
      }
}

TEST(garbage_and_bombs)
{
  static const uint8_t junk[] = "definitely not an image";
  /* PNG signature + IHDR declaring 100000 x 100000 (CRC right). */
  uint8_t png[45] = { 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13,
                      'I', 'H', 'D', 'R', 0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0,
                      8, 2, 0, 0, 0 };
  uint32_t crc = ~0u;
  struct image im;

  for (int i = 12; i < 29; i++) {
    crc ^= png[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  crc = ~crc;
  png[29] = (uint8_t)(crc >> 24); png[30] = (uint8_t)(crc >> 16);
  png[31] = (uint8_t)(crc >> 8); png[32] = (uint8_t)crc;
  memcpy(png + 33, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
  CHECK_INT_EQ(img_decode(png, sizeof(png), 0, 0, &im, NULL), -EFBIG);
  CHECK(im.px == NULL);
  png[20] = 0xFF;   /* the CRC no longer matches */
  CHECK_INT_EQ(img_decode(png, sizeof(png), 0, 0, &im, NULL), -EBADMSG);
  CHECK_INT_EQ(img_decode(junk, sizeof(junk), 0, 0, &im, NULL), -EBADMSG);
  CHECK_INT_EQ(img_decode(junk, 0, 0, 0, &im, NULL), -EBADMSG);
  CHECK_INT_EQ(img_decode_file("/nonexistent/x.png", 0, 0, &im, NULL),
               -ENOENT);
}

/* A reduced decode with a block of more than 2^32 / 255 summed bytes
 * (f >= 4105, so a minimum short side of 1 on a 4200 x 4200 picture):
 * the sums must not wrap.  A white 24-bit BMP is one 1 x 1 white pixel,
 * its near-white variant one pixel of the same colour. */
TEST(reduced_huge_block)
{
  const uint32_t side = 4200, row = side * 3, size = 54 + row * side;
  uint8_t *bmp = malloc(size);
  struct image im;

  CHECK(bmp != NULL);
  memset(bmp, 0, 54);
  bmp[0] = 'B';
  bmp[1] = 'M';
  for (int i = 0; i < 4; i++) {
    bmp[2 + i] = (uint8_t)(size >> (8 * i));
    bmp[18 + i] = (uint8_t)(side >> (8 * i));   /* width */
    bmp[22 + i] = (uint8_t)(side >> (8 * i));   /* height, bottom-up */
  }
  bmp[10] = 54;   /* pixel data offset */
  bmp[14] = 40;   /* BITMAPINFOHEADER */
  bmp[26] = 1;    /* planes */
  bmp[28] = 24;   /* bits per pixel */
  for (int v = 0; v < 2; v++) {
    static const uint8_t bgr[2][3] = { { 255, 255, 255 }, { 250, 251, 252 } };
    for (uint32_t i = 0; i < row * side; i += 3)
      memcpy(bmp + 54 + i, bgr[v], 3);
    CHECK_INT_EQ(img_decode(bmp, size, 1, 0, &im, NULL), 0);
    CHECK_INT_EQ(im.w, 1);
    CHECK_INT_EQ(im.h, 1);
    CHECK_INT_EQ(im.px[0], bgr[v][2]);
    CHECK_INT_EQ(im.px[1], bgr[v][1]);
    CHECK_INT_EQ(im.px[2], bgr[v][0]);
    image_free(&im);
  }
  free(bmp);
}

/* The f x f block mean, written the plain way: what a decode at a
 * minimum short side must give for a format that cannot scale in its
 * decoder (the decoders average while they decode, in bands). */
static void block_mean(const struct image *full, int f, struct image *out)
{
  CHECK_INT_EQ(image_alloc(out, full->w / f, full->h / f, 3), 0);
  for (int y = 0; y < out->h; y++)
    for (int x = 0; x < out->w; x++)
      for (int c = 0; c < 3; c++) {
        uint64_t a = 0, d = (uint64_t)f * f;
        for (int j = 0; j < f; j++)
          for (int i = 0; i < f; i++)
            a += full->px[((size_t)(y * f + j) * full->w + x * f + i) * 3 + c];
        out->px[((size_t)y * out->w + x) * 3 + c] = (uint8_t)((a + d / 2) / d);
      }
}

/* Every variant of PNG, TIFF, BMP and GIF, at sizes that leave columns and
 * rows over and with factors of both sum widths (16-bit up to 257, 32-bit
 * above): the reduced decode is exactly the block mean of the full one,
 * in the viewer frame too. */
TEST(reduced_is_block_mean)
{
  static const int sizes[][2] = { { 203, 137 }, { 300, 270 } };
  static const int mins[] = { 1, 16, 64 };
  const char *mkimg = getenv("MKIMG"), *tmp = getenv("TMPDIR");
  int checked = 0;

  CHECK(mkimg != NULL);
  for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    char cmd[512], line[512];
    FILE *m;

    snprintf(dir, sizeof(dir), "%s/test-imgcodec-XXXXXX", tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof(cmd), "%s -W %d -H %d -s 3 %s", mkimg, sizes[k][0],
             sizes[k][1], dir);
    CHECK((m = popen(cmd, "r")) != NULL);
    while (fgets(line, sizeof(line), m)) {
      char name[128], path[256];
      uint8_t *data;
      size_t n;
      struct image full;

      CHECK_INT_EQ(sscanf(line, "%127s", name), 1);
      snprintf(path, sizeof(path), "%s/%s", dir, name);
      data = tl_slurp(path, &n);
      unlink(path);
      if (strncmp(name, "jpeg", 4) == 0 || strncmp(name, "webp", 4) == 0) {
        free(data);   /* these scale in their decoder */
        continue;
      }
      printf("# %s\n", name);
      CHECK_INT_EQ(img_decode(data, n, 0, 0, &full, NULL), 0);
      for (size_t i = 0; i < sizeof(mins) / sizeof(mins[0]); i++) {
        int s = full.w < full.h ? full.w : full.h, f = s / mins[i];
        struct image got, want;
        int o = strstr(name, "orient6") ? 6 : 1;

        CHECK(f >= 2);
        CHECK_INT_EQ(img_decode(data, n, mins[i], IMG_DECODE_ORIENT, &got,
                                NULL), 0);
        block_mean(&full, f, &want);
        CHECK_INT_EQ(img_orient(&want, o), 0);
        CHECK_INT_EQ(got.w, want.w);
        CHECK_INT_EQ(got.h, want.h);
        CHECK(memcmp(got.px, want.px, (size_t)got.w * got.h * 3) == 0);
        image_free(&got);
        image_free(&want);
        checked++;
      }
      image_free(&full);
      free(data);
    }
    CHECK_INT_EQ(pclose(m), 0);
    rmdir(dir);
  }
  CHECK(checked >= 2 * 3 * 15);
}

/* Value i of tag `tag` in the first directory of the TIFF d[0..n) (SHORT
 * or LONG; a single value sits in the entry), or -1. */
static long tiff_tag(const uint8_t *d, size_t n, unsigned tag, unsigned i)
{
  bool le = d[0] == 'I';
#define RD16(p) (le ? (unsigned)(p)[0] | (unsigned)(p)[1] << 8 \
                    : (unsigned)(p)[1] | (unsigned)(p)[0] << 8)
#define RD32(p) (le ? RD16(p) | (unsigned long)RD16((p) + 2) << 16 \
                    : RD16((p) + 2) | (unsigned long)RD16(p) << 16)
  unsigned long off = RD32(d + 4);
  unsigned count = RD16(d + off);

  for (unsigned k = 0; k < count; k++) {
    const uint8_t *e = d + off + 2 + 12 * k;
    unsigned type = RD16(e + 2), sz = type == 3 ? 2 : 4;
    unsigned long cnt = RD32(e + 4);
    const uint8_t *v = cnt * sz <= 4 ? e + 8 : d + RD32(e + 8);
    if (RD16(e) != tag || i >= cnt || v + (i + 1) * sz > d + n)
      continue;
    return (long)(sz == 2 ? RD16(v + i * sz) : RD32(v + i * sz));
  }
  return -1;
#undef RD16
#undef RD32
}

/* An LZW TIFF whose second strip or tile starts with codes past its
 * table (header intact): the decode fails, on the direct path (gray,
 * 16-bit tiles) and through libtiff's RGBA reader (alpha) alike, rather
 * than giving a picture partly blank. */
TEST(tiff_damaged_strip)
{
  const char *mkimg = getenv("MKIMG"), *tmp = getenv("TMPDIR");
  char cmd[512], line[512];
  FILE *m;
  int damaged = 0;

  CHECK(mkimg != NULL);
  snprintf(dir, sizeof(dir), "%s/test-imgcodec-XXXXXX", tmp ? tmp : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
  snprintf(cmd, sizeof(cmd), "%s -W %d -H %d -s 1 -o tiff_ %s", mkimg, W, H,
           dir);
  CHECK((m = popen(cmd, "r")) != NULL);
  while (fgets(line, sizeof(line), m)) {
    char name[128], path[256];
    uint8_t *data;
    size_t n;
    long at;
    struct image im;

    CHECK_INT_EQ(sscanf(line, "%127s", name), 1);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    data = tl_slurp(path, &n);
    unlink(path);
    CHECK_INT_EQ(img_decode(data, n, 16, 0, &im, NULL), 0);
    image_free(&im);
    at = tiff_tag(data, n, 273, 1);   /* StripOffsets, else TileOffsets */
    if (at < 0)
      at = tiff_tag(data, n, 324, 1);
    CHECK(at > 0 && (size_t)at + 16 <= n);
    if (tiff_tag(data, n, 259, 0) != 5) {   /* not LZW */
      free(data);
      continue;
    }
    printf("# %s: strip 1 at %ld damaged\n", name, at);
    memset(data + at, 0xFF, 16);
    CHECK_INT_EQ(img_decode(data, n, 0, 0, &im, NULL), -EBADMSG);
    CHECK(im.px == NULL);
    CHECK_INT_EQ(img_decode(data, n, 16, 0, &im, NULL), -EBADMSG);
    CHECK(im.px == NULL);
    free(data);
    damaged++;
  }
  CHECK_INT_EQ(pclose(m), 0);
  rmdir(dir);
  CHECK(damaged >= 3);
}

/* A 16 x 16 RGB TIFF (16-bit, LZW, junk codes) whose one tile is declared
 * 2^30 pixels square: the tile's size comes from its tags, so the decode
 * must refuse it as corrupt before allocating it (it once asked malloc
 * for 6 * 2^60 bytes: -ENOMEM, or an abort under ASan). */
TEST(tiff_huge_tile)
{
  uint8_t t[8 + 2 + 11 * 12 + 4 + 6 + 16];
  uint8_t *e = t + 10;
  const uint32_t data_off = 8 + 2 + 11 * 12 + 4 + 6, bps_off = data_off - 6;
  /* tag, type (3 SHORT, 4 LONG), count, value */
  const uint32_t ent[11][4] = {
    { 256, 4, 1, 16 }, { 257, 4, 1, 16 }, { 258, 3, 3, bps_off },
    { 259, 3, 1, 5 }, { 262, 3, 1, 2 }, { 277, 3, 1, 3 }, { 284, 3, 1, 1 },
    { 322, 4, 1, 1u << 30 }, { 323, 4, 1, 1u << 30 },
    { 324, 4, 1, data_off }, { 325, 4, 1, 16 } };
  struct image im;

  memset(t, 0, sizeof(t));
  memcpy(t, "II*\0\x08\0\0\0\x0b\0", 10);
  for (int k = 0; k < 11; k++, e += 12) {
    e[0] = (uint8_t)ent[k][0];
    e[1] = (uint8_t)(ent[k][0] >> 8);
    e[2] = (uint8_t)ent[k][1];
    e[4] = (uint8_t)ent[k][2];
    for (int b = 0; b < 4; b++)
      e[8 + b] = (uint8_t)(ent[k][3] >> (8 * b));
  }
  for (int b = 0; b < 3; b++)
    t[bps_off + 2 * b] = 16;
  memset(t + data_off, 0xA5, 16);
  CHECK_INT_EQ(img_decode(t, sizeof(t), 0, 0, &im, NULL), -EBADMSG);
  CHECK(im.px == NULL);
  CHECK_INT_EQ(img_decode(t, sizeof(t), 8, 0, &im, NULL), -EBADMSG);
  CHECK(im.px == NULL);
}

TEST_MAIN(T(corpus), T(names_and_sniff), T(orient_all_eight), T(orient_tiles),
          T(reduced_huge_block),
          T(garbage_and_bombs), T(reduced_is_block_mean),
          T(tiff_damaged_strip), T(tiff_huge_tile))
