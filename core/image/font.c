/* font.c - FreeType text (see font.h).
 *
 * One FT_Library and one FT_Face for the process, loaded at first use.
 * FreeType objects are not safe to share between threads without a lock,
 * and text is a small part of any picture, so one mutex guards every call
 * rather than one face per thread.  Glyphs are rendered with light
 * hinting (vertical only): stems stay sharp without distorting widths.
 * Coverage is blended as alpha, out = dst + (src - dst) * a / 255.
 */
#include "font.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H

#include "dynlib.h"
#include "util.h"

#ifndef CURATEFS_FONT_FILE
#define CURATEFS_FONT_FILE "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#endif

/* FreeType is loaded with the font (dynlib.h), not with the program: it
 * and what it links (libpng, brotli, bzip2) cost every program ~3 ms of
 * start, while only drawn pictures need text.  Its functions are called
 * through this table; without the library text falls back to the bitmap
 * font as without the font file.  FREETYPE_SONAME is the file name of
 * the FreeType this build links against (meson.build finds it). */
#ifndef FREETYPE_SONAME
#error "FREETYPE_SONAME comes from meson.build (the soname this build links against)"
#endif

/* Each function called through ft: its name and its slot. */
#define FT_FUNCS(X, t) \
  X(t, FT_Init_FreeType, Init_FreeType) \
  X(t, FT_Done_FreeType, Done_FreeType) \
  X(t, FT_New_Face, New_Face) \
  X(t, FT_Get_Char_Index, Get_Char_Index) \
  X(t, FT_Get_Kerning, Get_Kerning) \
  X(t, FT_Load_Glyph, Load_Glyph) \
  X(t, FT_Set_Pixel_Sizes, Set_Pixel_Sizes)
DYNLIB_TABLE(ft, FT_FUNCS);
static struct dynlib ft_lib = DYNLIB_INIT(FREETYPE_SONAME, ft_syms);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FT_Library lib;
static FT_Face face;
static int load_err = -ENOENT;
static const char *font_path = CURATEFS_FONT_FILE;

static void load(void)
{
  const char *env = getenv("CURATEFS_FONT");
  if (env && *env)
    font_path = env;
  if ((load_err = dynlib_get(&ft_lib)) < 0) {
    log_msg(LOG_LVL_ERROR, "font: text falls back to the bitmap font");
    return;
  }
  if (ft.Init_FreeType(&lib) != 0) {
    load_err = -ENOMEM;
    log_msg(LOG_LVL_ERROR, "font: FreeType failed to start; text falls back "
            "to the bitmap font");
    return;
  }
  FT_Error e = ft.New_Face(lib, font_path, 0, &face);
  if (e != 0) {
    load_err = e == FT_Err_Cannot_Open_Resource ? -ENOENT : -EBADMSG;
    log_msg(LOG_LVL_ERROR, "font %s: %s (install fonts-dejavu-core, or name "
            "a TrueType file in CURATEFS_FONT); text falls back to the "
            "bitmap font", font_path,
            load_err == -ENOENT ? "cannot be opened" : "not a usable font");
    ft.Done_FreeType(lib);
    return;
  }
  load_err = 0;
}

int font_ready(const char **path)
{
  pthread_once(&once, load);
  if (path)
    *path = font_path;
  return load_err;
}

/* Sizes beyond this are clamped: FreeType refuses absurd ones and no
 * picture needs them. */
static int clamp_px(int px)
{
  return px < 4 ? 4 : px > 1000 ? 1000 : px;
}

/* Next code point of UTF-8 `*s`, advancing it; malformed bytes give
 * U+FFFD one byte at a time. */
static uint32_t next_cp(const unsigned char **s)
{
  const unsigned char *p = *s;
  uint32_t c = p[0];
  int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
        : (c & 0xF8) == 0xF0 ? 3 : -1;
  if (n < 0) {
    *s = p + 1;
    return 0xFFFD;
  }
  c = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
  for (int i = 1; i <= n; i++) {
    if ((p[i] & 0xC0) != 0x80) {
      *s = p + 1;
      return 0xFFFD;
    }
    c = (c << 6) | (p[i] & 0x3F);
  }
  *s = p + n + 1;
  return c;
}

/* Called with the lock held. */
static int set_size(int px)
{
  return ft.Set_Pixel_Sizes(face, 0, (FT_UInt)clamp_px(px)) ? -EINVAL : 0;
}

int font_line_height(int px)
{
  int r = font_ready(NULL);
  if (r < 0)
    return r;
  pthread_mutex_lock(&lock);
  r = set_size(px);
  if (r == 0)
    r = (int)((face->size->metrics.ascender - face->size->metrics.descender +
               63) >> 6);
  pthread_mutex_unlock(&lock);
  return r;
}

/* Coverage 0..255 of pixel col of a bitmap row.  Outline glyphs come as
 * one byte a pixel (GRAY); a bitmap font named by CURATEFS_FONT (BDF, PCF,
 * a TrueType bitmap strike) gives one bit a pixel (MONO), rows of
 * (width + 7) / 8 bytes, which read a byte a pixel would run past the
 * row and the buffer. */
static int coverage(const FT_Bitmap *b, const uint8_t *src, unsigned col)
{
  if (b->pixel_mode == FT_PIXEL_MODE_MONO)
    return (src[col >> 3] >> (7 - (col & 7))) & 1 ? 255 : 0;
  if (b->num_grays > 1 && b->num_grays != 256)
    return src[col] * 255 / (b->num_grays - 1);
  return src[col];
}

/* Blends one rendered glyph bitmap at (x0, y0).  Only GRAY and MONO
 * bitmaps are drawn: the other modes (colour, sub-pixel, 2 or 4 bits)
 * are laid out otherwise and no font we render asks for them. */
static void blit(struct image *im, const FT_Bitmap *b, int x0, int y0,
                 const uint8_t rgb[3])
{
  uint8_t gray = (uint8_t)((77 * rgb[0] + 150 * rgb[1] + 29 * rgb[2]) >> 8);
  if (b->pixel_mode != FT_PIXEL_MODE_GRAY &&
      b->pixel_mode != FT_PIXEL_MODE_MONO)
    return;
  for (unsigned row = 0; row < b->rows; row++) {
    int y = y0 + (int)row;
    if (y < 0 || y >= im->h)
      continue;
    const uint8_t *src = b->buffer + (ptrdiff_t)row * b->pitch;
    for (unsigned col = 0; col < b->width; col++) {
      int x = x0 + (int)col, a = coverage(b, src, col);
      if (x < 0 || x >= im->w || a == 0)
        continue;
      uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) *
                                (size_t)im->channels;
      if (im->channels == 3)
        for (int k = 0; k < 3; k++)
          p[k] = (uint8_t)(p[k] + ((rgb[k] - p[k]) * a + 127) / 255);
      else if (im->channels == 1)
        p[0] = (uint8_t)(p[0] + ((gray - p[0]) * a + 127) / 255);
    }
  }
}

/* Walks the line: measures it, and draws it when im is not NULL.  Called
 * with the lock held. */
static int walk(struct image *im, int x, int y, const char *s, int px,
                const uint8_t rgb[3])
{
  if (set_size(px) < 0)
    return -EINVAL;
  FT_Pos pen = (FT_Pos)x * 64, base = (FT_Pos)y * 64 +
                                      face->size->metrics.ascender;
  FT_UInt prev = 0;
  FT_Int32 flags = FT_LOAD_TARGET_LIGHT | (im ? FT_LOAD_RENDER : 0);
  bool kern = FT_HAS_KERNING(face);
  const unsigned char *p = (const unsigned char *)s;

  while (*p) {
    FT_UInt gi = ft.Get_Char_Index(face, next_cp(&p));
    if (kern && prev && gi) {
      FT_Vector d;
      if (ft.Get_Kerning(face, prev, gi, FT_KERNING_DEFAULT, &d) == 0)
        pen += d.x;
    }
    if (ft.Load_Glyph(face, gi, flags) != 0)
      continue;
    FT_GlyphSlot g = face->glyph;
    if (im && (pen >> 6) < im->w)
      blit(im, &g->bitmap, (int)((pen + 32) >> 6) + g->bitmap_left,
           (int)((base + 32) >> 6) - g->bitmap_top, rgb);
    pen += g->advance.x;
    prev = gi;
    if (pen > (FT_Pos)INT32_MAX * 32)
      break;
  }
  return (int)((pen - (FT_Pos)x * 64 + 63) >> 6);
}

int font_text_width(const char *s, int px)
{
  int r = font_ready(NULL);
  if (r < 0)
    return r;
  if (!s || !*s)
    return 0;
  pthread_mutex_lock(&lock);
  r = walk(NULL, 0, 0, s, px, NULL);
  pthread_mutex_unlock(&lock);
  return r;
}

int font_draw(struct image *im, int x, int y, const char *s, int px,
              const uint8_t rgb[3])
{
  int r = font_ready(NULL);
  if (r < 0)
    return r;
  if (!s || !*s)
    return 0;
  if (!im || !im->px || !rgb)
    return -EINVAL;
  pthread_mutex_lock(&lock);
  r = walk(im, x, y, s, px, rgb);
  pthread_mutex_unlock(&lock);
  return r;
}
