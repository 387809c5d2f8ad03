/* pngmeta.h - the EXIF orientation of a PNG from all the chunks Pillow
 * takes it from: eXIf, an ImageMagick "Raw profile type exif" text chunk
 * (hex-coded EXIF) and an XMP packet (tiff:Orientation), in tEXt, zTXt or
 * iTXt chunks, each a text chunk of a known keyword.
 *
 * Pillow keeps one value per keyword (the eXIf chunk counts as keyword
 * "exif"), the last chunk of the file replacing earlier ones, and after a
 * load decides from those three values (see pngmeta_orientation()).  The
 * header reader (imgfmt.c) finds the chunks, before and after the image
 * data, and hands each here with pngmeta_chunk(), in file order; which
 * text chunks are worth reading whole is told by pngmeta_wanted() from
 * their first bytes.
 *
 * Pure functions over buffers, no I/O.  The only user of zlib (compressed
 * text).  struct png_meta is the caller's, on its stack.
 */
#ifndef CURATE_PNGMETA_H
#define CURATE_PNGMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one keyword's value says about the orientation. */
enum pngmeta_state {
  PNGMETA_UNSET = 0,   /* no chunk of this keyword yet */
  PNGMETA_FAIL,        /* Pillow's EXIF reader raises: nothing is turned */
  PNGMETA_NOTAG,       /* read, without an Orientation */
  PNGMETA_TAG          /* an Orientation: o (1..8; 1 for other values) */
};

enum { PNGMETA_EXIF, PNGMETA_RAW, PNGMETA_XMP, PNGMETA_NKEYS };

struct png_meta {
  uint8_t state[PNGMETA_NKEYS];   /* enum pngmeta_state */
  uint8_t o[PNGMETA_NKEYS];
};

/* Bytes of a text chunk's start that pngmeta_wanted() needs (the longest
 * keyword and its NUL). */
#define PNGMETA_KEY_PEEK 22

/* Whether a tEXt, zTXt or iTXt chunk of len bytes, whose first
 * min(len, PNGMETA_KEY_PEEK) bytes are p, has one of the keywords read
 * here, so is worth reading whole.  False for any other type. */
bool pngmeta_wanted(const uint8_t type[4], const uint8_t *p, size_t len);

/* Takes one eXIf, tEXt, zTXt or iTXt chunk's data d[0..n) into *m (other
 * types and keywords are ignored).  0, or -EBADMSG with a static reason
 * where Pillow fails on the chunk and so does not load the file (a zTXt
 * of an unknown compression method, compressed text over 1 MiB);
 * -ENOMEM. */
int pngmeta_chunk(struct png_meta *m, const uint8_t type[4], const uint8_t *d,
                  size_t n, const char **reason);

/* The PNG (zlib) CRC-32 of p[0..n), by zlib's table-driven code (the
 * header pass checks it over whole eXIf and text chunks). */
uint32_t pngmeta_crc32(const uint8_t *p, size_t n);

/* The orientation Pillow's ImageOps.exif_transpose turns the loaded
 * picture by: 1..8. */
uint8_t pngmeta_orientation(const struct png_meta *m);

#endif
