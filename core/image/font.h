/* font.h - anti-aliased text from an outline font (DejaVu Sans through
 * FreeType): the only module that knows FreeType.
 *
 * What it does: measures and draws one line of UTF-8 text onto a struct
 * image (jpegcodec.h), blending each glyph's coverage into the pixels, so
 * text has smooth edges at any size.  The font file is the one chosen at
 * build time (meson option `font`, DejaVu Sans by default), or the file
 * named by the environment variable CURATEFS_FONT when set.  No fontconfig:
 * the file is opened by its path.
 *
 * What it does not do: no shaping beyond kerning (no ligatures, no
 * right-to-left), no line breaking, no rotation.  When the font cannot be
 * loaded, every call returns -ENOENT (or the loader's error) and the
 * reason is logged once; draw.h then falls back to its bitmap font, so a
 * missing font never costs a picture.
 *
 * Sizes: `px` is the em size in pixels.  A line is font_line_height(px)
 * pixels tall, its top at the y given to font_draw().
 *
 * Thread-safety: the face is loaded once (pthread_once) and shared; one
 * mutex serialises FreeType calls, which are not thread-safe on a shared
 * face.  Drawing on different images from several threads is safe.
 */
#ifndef CURATE_FONT_H
#define CURATE_FONT_H

#include <stddef.h>
#include <stdint.h>

#include "jpegcodec.h"

/* 0 when the outline font is loaded (loading it, and FreeType, on first
 * use), else the negative errno of the failure (-ELIBACC: FreeType cannot
 * be loaded).  *path (may be NULL) gets the file tried. */
int font_ready(const char **path);

/* Height of one line (ascender + descender) at em size px; -errno when
 * the font is not available. */
int font_line_height(int px);

/* Advance width in pixels of the line `s` at em size px (0 for ""). */
int font_text_width(const char *s, int px);

/* Draws `s` with the top of its line box at y and its pen starting at x,
 * colour rgb[3], blended by coverage; clipped to the image.  Returns the
 * advance width, or -errno when the font is not available. */
int font_draw(struct image *im, int x, int y, const char *s, int px,
              const uint8_t rgb[3]);

#endif
