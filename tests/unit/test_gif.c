/* test_gif.c - the GIF decoder's own LZW expansion against giflib's.
 *
 * codec_gif.c expands the LZW codes of clean streams itself and leaves
 * every other stream to giflib (codec_i.h).  This test makes GIFs in
 * memory (giflib's encoder, and a plain encoder here that sends only
 * literal codes, so the code table fills up and stays full, as some
 * writers do), then breaks them (cut short, bytes changed), and decodes
 * every one both ways, at full size and reduced: the verdict and every
 * pixel must be the same.  It also checks that the clean files did take
 * the fast path (codec_gif_fallbacks) and that the broken ones were
 * refused or decoded as giflib does.
 *
 * White-box: includes the private codec_i.h of core/image.  The
 * environment names the mkimg binary (MKIMG, set by meson), whose GIF
 * variants go through the same comparison.
 */
#include "testlib.h"
#include "codec_i.h"

#include <gif_lib.h>

struct obuf {
  uint8_t *p;
  size_t n, cap;
};

static void put(struct obuf *o, const void *d, size_t n)
{
  if (o->n + n > o->cap) {
    o->cap = (o->n + n) * 2;
    o->p = realloc(o->p, o->cap);
    if (!o->p)
      abort();
  }
  memcpy(o->p + o->n, d, n);
  o->n += n;
}

static int gif_write(GifFileType *g, const GifByteType *d, int n)
{
  put(g->UserData, d, (size_t)n);
  return n;
}

static uint32_t seed = 12345;
static uint32_t rnd(void)
{
  seed = seed * 1103515245u + 12345u;
  return seed >> 8;
}

/* The index at (x, y) of picture kind k for a map of ncol colours. */
static int pixel(int k, int x, int y, int ncol)
{
  switch (k) {
  case 0: return (int)(rnd() % (uint32_t)ncol);            /* noise */
  case 1: return 1 % ncol;                                 /* flat */
  case 2: return ((x / 7) ^ (y / 5)) % ncol;               /* blocks */
  case 3: return (x * ncol / 300 + (rnd() % 3 == 0)) % ncol; /* ramp */
  default: return (x + y) % ncol;                          /* diagonals */
  }
}

struct spec {
  int sw, sh, bits;            /* screen, colour map of 1 << bits */
  int left, top, w, h;         /* the first frame */
  int interlace, local, transparent, frames, kind;
};

/* A GIF written by giflib's encoder. */
static void make_giflib(const struct spec *s, struct obuf *o)
{
  int err, ncol = 1 << s->bits;
  GifFileType *g = EGifOpen(o, gif_write, &err);
  ColorMapObject *cm = GifMakeMapObject(ncol, NULL);
  GifPixelType *line = malloc((size_t)s->w);

  CHECK(g && cm && line);
  for (int i = 0; i < ncol; i++) {
    cm->Colors[i].Red = (GifByteType)(i * 37);
    cm->Colors[i].Green = (GifByteType)(i * 91 + 5);
    cm->Colors[i].Blue = (GifByteType)(255 - i);
  }
  EGifSetGifVersion(g, true);
  CHECK(EGifPutScreenDesc(g, s->sw, s->sh, s->bits, 0,
                          s->local ? NULL : cm) == GIF_OK);
  for (int f = 0; f < s->frames; f++) {
    if (s->transparent >= 0) {
      GifByteType ext[4] = { 1, 0, 0, (GifByteType)s->transparent };
      CHECK(EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, 4, ext) == GIF_OK);
    }
    CHECK(EGifPutImageDesc(g, s->left, s->top, s->w, s->h, s->interlace,
                           s->local ? cm : NULL) == GIF_OK);
    for (int y = 0; y < s->h; y++) {
      for (int x = 0; x < s->w; x++)
        line[x] = (GifPixelType)((pixel(s->kind, x, y, ncol) + f) % ncol);
      CHECK(EGifPutLine(g, line, s->w) == GIF_OK);
    }
  }
  CHECK(EGifCloseFile(g, &err) == GIF_OK);
  GifFreeMapObject(cm);
  free(line);
}

/* Bits out, LSB first, into 255-byte sub-blocks. */
struct bits {
  struct obuf *o;
  uint8_t blk[255];
  int nblk;
  uint32_t acc;
  int nacc;
};

static void bits_put(struct bits *b, int code, int width)
{
  b->acc |= (uint32_t)code << b->nacc;
  b->nacc += width;
  while (b->nacc >= 8) {
    b->blk[b->nblk++] = (uint8_t)b->acc;
    b->acc >>= 8;
    b->nacc -= 8;
    if (b->nblk == 255) {
      uint8_t n = 255;
      put(b->o, &n, 1);
      put(b->o, b->blk, 255);
      b->nblk = 0;
    }
  }
}

static void bits_end(struct bits *b)
{
  uint8_t n, z = 0;

  if (b->nacc > 0)
    bits_put(b, 0, 8 - b->nacc);
  if (b->nblk) {
    n = (uint8_t)b->nblk;
    put(b->o, &n, 1);
    put(b->o, b->blk, (size_t)b->nblk);
  }
  put(b->o, &z, 1);
}

/* A screen-filling GIF whose LZW data are literal codes only, a clear
 * code every `period` codes (0: only the first), widths as a decoder
 * grows them: with no clear the table fills and stays full at 12 bits.
 * min is the minimum code size (2..8), the map has 1 << min colours. */
static void make_literal(int w, int h, int min, int period, int kind,
                         struct obuf *o)
{
  int ncol = 1 << min, clear = ncol, eof = clear + 1;
  int bitsw = min + 1, maxc = 1 << bitsw, rc = eof + 1, since = 0;
  uint8_t hd[13] = { 'G', 'I', 'F', '8', '9', 'a', (uint8_t)w,
                     (uint8_t)(w >> 8), (uint8_t)h, (uint8_t)(h >> 8),
                     (uint8_t)(0x80 | (min - 1)), 0, 0 };
  uint8_t id[10] = { 0x2C, 0, 0, 0, 0, (uint8_t)w, (uint8_t)(w >> 8),
                     (uint8_t)h, (uint8_t)(h >> 8), 0 };
  uint8_t mc = (uint8_t)min, trailer = 0x3B;
  struct bits b = { .o = o };

  put(o, hd, sizeof(hd));
  for (int i = 0; i < ncol; i++) {
    uint8_t c[3] = { (uint8_t)(i * 53), (uint8_t)(i * 7), (uint8_t)(i * 3) };
    put(o, c, 3);
  }
  put(o, id, sizeof(id));
  put(o, &mc, 1);
  for (long i = -1; i < (long)w * h; i++) {
    /* a clear code first and every `period` literals */
    bool cl = i < 0 || (period && since == period);
    int code = cl ? clear : pixel(kind, (int)(i % w), (int)(i / w), ncol);
    bits_put(&b, code, bitsw);
    if (rc < 4097 && ++rc > maxc && bitsw < 12) {   /* as a decoder */
      maxc <<= 1;
      bitsw++;
    }
    if (cl) {
      bitsw = min + 1;
      maxc = 1 << bitsw;
      rc = eof + 1;
      since = 0;
      if (i >= 0)
        i--;   /* the pixel still to send */
    } else {
      since++;
    }
  }
  bits_put(&b, eof, bitsw);
  bits_end(&b);
  put(o, &trailer, 1);
}

/* The width bookkeeping of a decoder (giflib's), for the encoders. */
struct widths {
  int min, bits, maxc, rc;
};

static void widths_reset(struct widths *wd)
{
  wd->bits = wd->min + 1;
  wd->maxc = 1 << wd->bits;
  wd->rc = (1 << wd->min) + 2;
}

/* Sends one code at the width a decoder expects, then grows the width as
 * the decoder will after reading it. */
static void send(struct bits *b, struct widths *wd, int code)
{
  bits_put(b, code, wd->bits);
  if (wd->rc < 4097 && ++wd->rc > wd->maxc && wd->bits < 12) {
    wd->maxc <<= 1;
    wd->bits++;
  }
  if (code == 1 << wd->min)
    widths_reset(wd);
}

static uint16_t child[4096][256];   /* code of string + index, 0: none */

/* A screen-filling GIF compressed by a plain LZW encoder.  When the
 * table is full it either sends a clear code (as giflib's encoder) or
 * keeps the full table to the end (a "deferred clear", as other writers
 * do), so that codes up to 4095 are read from a table that no longer
 * grows. */
static void make_lzw(int w, int h, int min, bool clear_full, int kind,
                     struct obuf *o)
{
  int ncol = 1 << min, clear = ncol, eof = clear + 1, next = eof + 1, cur;
  uint8_t hd[13] = { 'G', 'I', 'F', '8', '9', 'a', (uint8_t)w,
                     (uint8_t)(w >> 8), (uint8_t)h, (uint8_t)(h >> 8),
                     (uint8_t)(0x80 | (min - 1)), 0, 0 };
  uint8_t id[10] = { 0x2C, 0, 0, 0, 0, (uint8_t)w, (uint8_t)(w >> 8),
                     (uint8_t)h, (uint8_t)(h >> 8), 0 };
  uint8_t mc = (uint8_t)min, trailer = 0x3B;
  struct bits b = { .o = o };
  struct widths wd = { .min = min };

  widths_reset(&wd);
  memset(child, 0, sizeof(child));
  put(o, hd, sizeof(hd));
  for (int i = 0; i < ncol; i++) {
    uint8_t c[3] = { (uint8_t)(i * 29), (uint8_t)(i * 11), (uint8_t)i };
    put(o, c, 3);
  }
  put(o, id, sizeof(id));
  put(o, &mc, 1);
  send(&b, &wd, clear);
  cur = pixel(kind, 0, 0, ncol);
  for (long i = 1; i < (long)w * h; i++) {
    int c = pixel(kind, (int)(i % w), (int)(i / w), ncol);
    if (child[cur][c]) {
      cur = child[cur][c];
      continue;
    }
    send(&b, &wd, cur);
    if (next <= 4095) {
      child[cur][c] = (uint16_t)next++;
    } else if (clear_full) {
      send(&b, &wd, clear);
      memset(child, 0, sizeof(child));
      next = eof + 1;
    }
    cur = c;
  }
  send(&b, &wd, cur);
  send(&b, &wd, eof);
  bits_end(&b);
  put(o, &trailer, 1);
}

static int nsame, nfast_expected;

/* Decodes p[0..n) both ways at full size and reduced; both must agree. */
static void compare(const uint8_t *p, size_t n, int sw, int sh)
{
  struct img_info info = { .format = IMG_GIF, .width = (uint32_t)sw,
                           .height = (uint32_t)sh, .precision = 8,
                           .components = 3, .orientation = 1 };
  static const int scales[2] = { 0, 16 };

  for (int k = 0; k < 2; k++) {
    struct image a = { 0 }, b = { 0 };
    int ra = codec_gif.decode(p, n, &info, scales[k], &a);
    int rb = codec_gif_decode_giflib(p, n, &info, scales[k], &b);

    CHECK_INT_EQ(ra, rb);
    if (ra == 0 && rb == 0) {
      CHECK_INT_EQ(a.w, b.w);
      CHECK_INT_EQ(a.h, b.h);
      CHECK_INT_EQ(a.channels, b.channels);
      if (a.w == b.w && a.h == b.h && a.channels == b.channels)
        CHECK(memcmp(a.px, b.px, (size_t)a.w * a.h * a.channels) == 0);
    }
    nsame += ra == rb;
    image_free(&a);
    image_free(&b);
  }
}

/* A clean file: both decode it, the fast path without falling back;
 * then broken copies of it: cut at many points, and bytes changed. */
static void check_file(const struct obuf *o, int sw, int sh, bool fast)
{
  unsigned long before = codec_gif_fallbacks;
  uint8_t *q = malloc(o->n);
  struct image im = { 0 };
  struct img_info info = { .format = IMG_GIF, .width = (uint32_t)sw,
                           .height = (uint32_t)sh };

  CHECK_INT_EQ(codec_gif.decode(o->p, o->n, &info, 0, &im), 0);
  image_free(&im);
  compare(o->p, o->n, sw, sh);
  if (fast) {
    CHECK_INT_EQ(codec_gif_fallbacks, before);
    nfast_expected++;
  }
  for (int c = 1; c < 24; c++)
    compare(o->p, o->n * (size_t)c / 24, sw, sh);
  for (int t = 0; t < 40; t++) {
    size_t at = 13 + rnd() % (o->n - 13);
    memcpy(q, o->p, o->n);
    q[at] = (uint8_t)(t & 1 ? q[at] ^ (1u << (rnd() % 8)) : rnd());
    if (t % 5 == 4)   /* a second change nearby */
      q[at + (at + 3 < o->n ? 3 : 0)] ^= 0x10;
    compare(q, o->n, sw, sh);
  }
  free(q);
}

TEST(giflib_encoded)
{
  static const struct spec specs[] = {
    /* sw  sh bits left top  w   h  il lo tr fr kind */
    { 96, 64, 8, 0, 0, 96, 64, 0, 0, -1, 1, 0 },
    { 96, 64, 8, 0, 0, 96, 64, 0, 0, -1, 1, 1 },
    { 96, 64, 8, 0, 0, 96, 64, 0, 0, -1, 1, 2 },
    { 640, 480, 8, 0, 0, 640, 480, 0, 0, -1, 1, 3 },
    { 640, 480, 8, 0, 0, 640, 480, 0, 0, -1, 1, 0 },
    { 200, 150, 1, 0, 0, 200, 150, 0, 0, -1, 1, 0 },
    { 200, 150, 1, 0, 0, 200, 150, 0, 0, -1, 1, 1 },
    { 200, 150, 2, 0, 0, 200, 150, 0, 0, -1, 1, 4 },
    { 200, 150, 4, 0, 0, 200, 150, 0, 0, -1, 1, 0 },
    { 200, 150, 5, 0, 0, 200, 150, 1, 0, -1, 1, 2 },
    { 120, 90, 8, 0, 0, 120, 90, 1, 0, 3, 1, 0 },
    { 120, 90, 8, 10, 7, 60, 40, 0, 1, -1, 1, 2 },
    { 120, 90, 6, 10, 7, 60, 40, 1, 1, 5, 2, 0 },
    { 120, 90, 8, 0, 0, 120, 90, 0, 1, 7, 3, 4 },
    { 1, 1, 1, 0, 0, 1, 1, 0, 0, -1, 1, 0 },
    { 3000, 2, 8, 0, 0, 3000, 2, 0, 0, -1, 1, 1 },
  };

  for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
    struct obuf o = { 0 };
    make_giflib(&specs[i], &o);
    check_file(&o, specs[i].sw, specs[i].sh, true);
    free(o.p);
  }
}

TEST(lzw_full_table)
{
  static const int cases[][5] = {   /* w, h, min, clear_full, kind */
    { 640, 480, 8, 0, 2 }, { 640, 480, 8, 0, 3 }, { 640, 480, 4, 0, 4 },
    { 640, 480, 2, 0, 0 }, { 640, 480, 8, 1, 2 }, { 400, 300, 5, 1, 0 },
  };

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct obuf o = { 0 };
    make_lzw(cases[i][0], cases[i][1], cases[i][2], cases[i][3],
             cases[i][4], &o);
    check_file(&o, cases[i][0], cases[i][1], true);
    free(o.p);
  }
}

TEST(literal_codes_full_table)
{
  static const int cases[][5] = {   /* w, h, min, period, kind */
    { 300, 200, 8, 0, 0 }, { 300, 200, 2, 0, 4 }, { 300, 200, 4, 0, 2 },
    { 300, 200, 8, 5000, 0 }, { 256, 64, 3, 1000, 3 }, { 64, 64, 8, 1, 0 },
  };

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct obuf o = { 0 };
    make_literal(cases[i][0], cases[i][1], cases[i][2], cases[i][3],
                 cases[i][4], &o);
    check_file(&o, cases[i][0], cases[i][1], true);
    free(o.p);
  }
}

/* A frame larger than the screen, a bad code first, an end code before
 * the last pixel: each goes to giflib (and it rules as it would alone). */
TEST(odd_streams_go_to_giflib)
{
  struct spec big = { 60, 40, 8, 30, 20, 60, 40, 0, 1, -1, 1, 2 };
  struct obuf o = { 0 };
  unsigned long before;
  size_t at;

  make_giflib(&big, &o);
  before = codec_gif_fallbacks;
  compare(o.p, o.n, 60, 40);
  CHECK(codec_gif_fallbacks == before);   /* past the screen: line path */
  free(o.p);
  memset(&o, 0, sizeof(o));

  make_literal(40, 30, 8, 0, 0, &o);
  /* after 13 + 768 + 10 bytes: the code size, a block length, the codes:
   * make the first code after the clear one (9 bits, from bit 9) an
   * undefined one */
  at = 13 + 768 + 10 + 2;
  o.p[at + 1] |= 0xFE;
  o.p[at + 2] |= 0x03;
  before = codec_gif_fallbacks;
  compare(o.p, o.n, 40, 30);
  CHECK(codec_gif_fallbacks > before);
  free(o.p);
}

/* The GIFs of the format corpus (tests/gen/mkimg: single, animated,
 * interlaced), clean and broken, at a size of their own. */
TEST(mkimg_corpus)
{
  const char *mkimg = getenv("MKIMG");
  char dir[256], cmd[512], line[512];
  int gifs = 0;
  FILE *m;

  CHECK(mkimg != NULL);
  if (!mkimg)
    return;
  CHECK_INT_EQ(tl_tmpdir(dir, sizeof(dir), "gif"), 0);
  snprintf(cmd, sizeof(cmd), "%s -W 333 -H 217 -s 2 %s", mkimg, dir);
  CHECK((m = popen(cmd, "r")) != NULL);
  while (m && fgets(line, sizeof(line), m)) {
    char name[128], fmt[16], path[400];
    int w, h;
    struct obuf o = { 0 };
    FILE *f;
    long sz;

    if (sscanf(line, "%127s %15s %d %d", name, fmt, &w, &h) != 4 ||
        strcmp(fmt, "gif") != 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    CHECK((f = fopen(path, "rb")) != NULL);
    if (!f)
      continue;
    fseek(f, 0, SEEK_END);
    sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    o.cap = (size_t)sz;
    o.p = malloc(o.cap);
    o.n = fread(o.p, 1, o.cap, f);
    fclose(f);
    check_file(&o, w, h, true);
    free(o.p);
    gifs++;
  }
  if (m)
    CHECK_INT_EQ(pclose(m), 0);
  CHECK_INT_EQ(gifs, 3);
  tl_rm_rf(dir);
}

TEST(every_case_agreed)
{
  CHECK(nsame > 2000);
  CHECK(nfast_expected >= 31);
}

TEST_MAIN(T(giflib_encoded), T(lzw_full_table), T(literal_codes_full_table),
          T(odd_streams_go_to_giflib), T(mkimg_corpus), T(every_case_agreed))
