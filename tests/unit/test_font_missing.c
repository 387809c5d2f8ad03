/* test_font_missing.c - core/image/font.h when the font file cannot be loaded
 * (CURATEFS_FONT names a file that does not exist, or one that is not a
 * font): the reason is logged once, text falls back to the 5x7 bitmap
 * font, and pictures are still drawn.  Its own program: the font is
 * loaded once per process.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "font.h"
#include "util.h"
#include "testlib.h"

static int logged;
static char last[512];

static void sink(enum log_level lvl, const char *line, void *ud)
{
  (void)ud;
  if (lvl == LOG_LVL_ERROR && strstr(line, "font")) {
    logged++;
    snprintf(last, sizeof(last), "%s", line);
  }
}

TEST(missing_font_falls_back)
{
  const char *path = NULL;
  setenv("CURATEFS_FONT", "/nonexistent/curatefs-test/NoSuch.ttf", 1);
  log_set_sink(sink, NULL, LOG_LVL_DEBUG);
  CHECK_INT_EQ(font_ready(&path), -ENOENT);
  CHECK(strcmp(path, "/nonexistent/curatefs-test/NoSuch.ttf") == 0);
  CHECK_INT_EQ(logged, 1);
  CHECK(strstr(last, "NoSuch.ttf") && strstr(last, "fonts-dejavu-core"));
  /* The bitmap font: 6 px a character at scale 1, 7 px tall. */
  CHECK_INT_EQ(draw_text_width("abc", 1), 17);
  CHECK_INT_EQ(draw_text_height(2), 14);
  struct image im;
  CHECK_INT_EQ(image_alloc(&im, 40, 12, 3), 0);
  memset(im.px, 0, 40 * 12 * 3);
  CHECK_INT_EQ(draw_text(&im, 1, 1, "Hi", 1, (struct rgb){ 255, 0, 0 }), 11);
  int ink = 0;
  for (size_t i = 0; i < 40 * 12; i++)
    ink += im.px[3 * i] != 0;
  CHECK(ink > 10);
  image_free(&im);
  CHECK_INT_EQ(font_line_height(17), -ENOENT);
  CHECK_INT_EQ(logged, 1); /* once, not at every call */
  log_set_sink(NULL, NULL, LOG_LVL_WARN);
}

TEST_MAIN(T(missing_font_falls_back))
