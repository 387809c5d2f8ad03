/* test_font_bitmap.c - core/image/font.h with a bitmap font named by
 * CURATEFS_FONT (a BDF file written here): FreeType renders its glyphs as
 * one bit a pixel (FT_PIXEL_MODE_MONO), rows of (width + 7) / 8 bytes,
 * not one coverage byte a pixel.  Text must still be drawn exactly where
 * the glyph's bits are, without reading past the bitmap.  Its own
 * program: the font is loaded once per process.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "font.h"
#include "util.h"
#include "testlib.h"

/* One 10-pixel strike (draw_text_px(1)) with 'A' a solid 9x10 block and
 * 'B' its left column only: 9 pixels a row make two bytes a row, so a
 * reader taking one byte a pixel goes past the row and the bitmap. */
static const char bdf[] =
    "STARTFONT 2.1\n"
    "FONT -test-block-medium-r-normal--10-100-75-75-c-100-iso10646-1\n"
    "SIZE 10 75 75\n"
    "FONTBOUNDINGBOX 9 10 0 0\n"
    "STARTPROPERTIES 4\n"
    "PIXEL_SIZE 10\n"
    "FONT_ASCENT 10\n"
    "FONT_DESCENT 0\n"
    "DEFAULT_CHAR 65\n"
    "ENDPROPERTIES\n"
    "CHARS 2\n"
    "STARTCHAR A\nENCODING 65\nSWIDTH 900 0\nDWIDTH 10 0\nBBX 9 10 0 0\n"
    "BITMAP\n"
    "FF80\nFF80\nFF80\nFF80\nFF80\nFF80\nFF80\nFF80\nFF80\nFF80\n"
    "ENDCHAR\n"
    "STARTCHAR B\nENCODING 66\nSWIDTH 900 0\nDWIDTH 10 0\nBBX 9 10 0 0\n"
    "BITMAP\n"
    "8000\n8000\n8000\n8000\n8000\n8000\n8000\n8000\n8000\n8000\n"
    "ENDCHAR\n"
    "ENDFONT\n";

/* Pixels of channel 0 at full red, and any partly blended. */
static void count(const struct image *im, int *full, int *part)
{
  *full = *part = 0;
  for (size_t i = 0; i < (size_t)im->w * (size_t)im->h; i++) {
    uint8_t v = im->px[3 * i];
    *full += v == 255;
    *part += v != 0 && v != 255;
  }
}

TEST(mono_glyphs_drawn_bit_by_bit)
{
  char dir[256], path[300];
  CHECK(tl_tmpdir(dir, sizeof(dir), "fontbdf") == 0);
  snprintf(path, sizeof(path), "%s/block.bdf", dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  CHECK(fputs(bdf, f) >= 0);
  CHECK(fclose(f) == 0);
  setenv("CURATEFS_FONT", path, 1);
  CHECK_INT_EQ(font_ready(NULL), 0);

  struct image im;
  int full, part;
  CHECK_INT_EQ(image_alloc(&im, 40, 20, 3), 0);
  memset(im.px, 0, 40 * 20 * 3);
  CHECK(draw_text(&im, 2, 2, "A", 1, (struct rgb){ 255, 0, 0 }) > 0);
  count(&im, &full, &part);
  CHECK_INT_EQ(full, 9 * 10);  /* every bit of the block, fully */
  CHECK_INT_EQ(part, 0);       /* a bitmap font has no grey */

  memset(im.px, 0, 40 * 20 * 3);
  CHECK(draw_text(&im, 2, 2, "B", 1, (struct rgb){ 255, 0, 0 }) > 0);
  count(&im, &full, &part);
  CHECK_INT_EQ(full, 10);      /* its one column */
  CHECK_INT_EQ(part, 0);
  image_free(&im);
  tl_rm_rf(dir);
}

TEST_MAIN(T(mono_glyphs_drawn_bit_by_bit))
