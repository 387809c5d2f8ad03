/* codec_i.h - the decoder interface behind imgcodec.h, private to
 * core/image/.
 *
 * Each file that wraps a decoding library defines one struct img_codec for
 * its format (codec_png.c: codec_png, ..., jpegcodec.c: codec_jpeg), and
 * imgcodec.c walks a table of them indexed by enum img_format.  The
 * dependency runs one way: imgcodec.c knows the codecs, a codec knows only
 * this header, jpegcodec.h (struct image) and codec_util.c below it, so
 * adding a format is one new file and one table row.
 *
 * Recognising the bytes and reading the header stay in imgfmt.c, in its
 * own table per format: the import reads the header of every file without
 * decoding it, and must not depend on the decoders.  A decoder is called
 * only after that header read succeeded for its format.
 *
 * Contract of decode(): gets the whole file in memory and its header (info:
 * format, width and height already checked against IMG_MAX_PIXELS);
 * refuses a file whose own library disagrees with info's size; fills *ret
 * (owned by the caller, image_free) with 8-bit RGB in the stored frame,
 * alpha composited over white.  min_short (see img_decode() in
 * imgcodec.h): JPEG and WebP scale in their decoder; the others may
 * average down while decoding with codec_shrink and codec_shrink_factor
 * (below), which give exactly what imgcodec.c's reduction of a full-size
 * result would, or return full size and leave it to imgcodec.c.  On
 * failure *ret holds no pixels.  Errors as imgcodec.h. */
#ifndef CURATE_CODEC_I_H
#define CURATE_CODEC_I_H

#include "imgcodec.h"

#include <stddef.h>

struct codec_stream;   /* a codec's stream decode under way */

struct img_codec {
  enum img_format format;   /* the table slot it belongs in (asserted) */
  int (*decode)(const uint8_t *p, size_t n, const struct img_info *info,
                int min_short, struct image *ret);
  /* The stream decode behind img_stream_open() (imgcodec.h), NULL where
   * the format has none.  open: 0 and *ret, 1 when this file does not
   * stream, or -ENOMEM; read may be called only during open.  data: the
   * first n bytes of the file are at p (p stays the same, n only grows).
   * end: with the whole file; 0 and the picture decode() gives for these
   * bytes, 1 when the stream could not finish it, or -ENOMEM; frees the
   * stream.  free: abandons it. */
  int (*stream_open)(const struct img_info *info, uint64_t size,
                     long (*read)(void *ud, uint64_t off, void *buf,
                                  size_t n),
                     void *ud, int min_short, struct codec_stream **ret);
  void (*stream_data)(struct codec_stream *s, const uint8_t *p, size_t n);
  int (*stream_end)(struct codec_stream *s, const uint8_t *p, size_t n,
                    struct image *ret);
  void (*stream_free)(struct codec_stream *s);
};

extern const struct img_codec codec_jpeg;   /* jpegcodec.c */
extern const struct img_codec codec_png;    /* codec_png.c */
extern const struct img_codec codec_webp;   /* codec_webp.c */
extern const struct img_codec codec_tiff;   /* codec_tiff.c */
extern const struct img_codec codec_gif;    /* codec_gif.c */
extern const struct img_codec codec_bmp;    /* codec_bmp.c */

/* im (8-bit gray or RGB) as a PNG of exactly the same pixels, in the
 * smallest of its forms that holds them (grey where R = G = B everywhere,
 * indexed with at most 256 colours, else RGB), no chunk but its palette:
 * *ret is malloc'd, owned by the caller.  -EINVAL for another channel
 * count, -ENOMEM. */
int codec_png_encode(const struct image *im, uint8_t **ret, size_t *ret_len);

/* The GIF decoder with giflib expanding the LZW codes as well (codec_gif
 * expands clean streams itself and falls back to this for the others);
 * test_gif compares the two on every variant.  Same contract as
 * decode(). */
int codec_gif_decode_giflib(const uint8_t *p, size_t n,
                            const struct img_info *info, int min_short,
                            struct image *ret);
/* How many GIF decodes fell back to codec_gif_decode_giflib (atomic; for
 * tests, which check that clean files took the fast path). */
extern unsigned long codec_gif_fallbacks;

/* How many stream decodes img_stream_end() finished with img_decode()
 * (atomic; for tests, which check that streaming layouts stream). */
extern unsigned long img_stream_fallbacks;

/* ---- helpers shared by the codecs (codec_util.c) ---- */

/* One 8-bit sample c of alpha a composited over white, rounded: the one
 * formula of every decoder, so all formats give the same pixels for the
 * same RGBA. */
static inline uint8_t codec_over_white(unsigned c, unsigned a)
{
  return (uint8_t)((c * a + 255 * (255 - a) + 127) / 255);
}

/* RGBA rows (dst->w * 4 bytes each) composited over white into dst's RGB
 * pixels (dst already allocated at the same size). */
void codec_rgba_to_rgb(const uint8_t *rgba, struct image *dst);

/* The whole factor by which a w x h image is averaged down for a decode
 * with min_short (imgcodec.h): short side / min_short when that is 2 or
 * more, else 1 (no reduction). */
int codec_shrink_factor(int w, int h, int min_short);

/* Averaging f x f blocks while rows are decoded, so a decoder that
 * produces rows in order never holds the full-size picture.  Rows go in
 * top to bottom, each w * ch bytes; the last w % f columns and h % f rows
 * are dropped; each output sample is the block's sum rounded to nearest
 * over f * f.  The one reduction of every format: img_decode() uses it for
 * decoders that hand back full-size pixels, so a decoder that shrinks
 * while decoding gives exactly the same pixels.  f = 1 copies the rows.
 * The struct owns its row sums (codec_shrink_end frees them); out is the
 * caller's (image_free), allocated by begin at w / f x h / f.  With bgr
 * set (after begin, ch = 3), rows come as B, G, R and go out as RGB: a
 * 24-bit BMP row is averaged straight from the file. */
struct codec_shrink {
  struct image *out;
  int f, w, ch, y;   /* y: rows received so far */
  bool bgr;
  uint32_t *sum;     /* column sums of the current band, w / f * f * ch */
  uint16_t *sum16;   /* the same when f <= 257 (255 * f fits): half the
                        width, twice the lanes per vector add */
  uint16_t *blk16;   /* f <= 16 (255 * f * f fits): the block sums of a
                        band, as wide as sum16 */
};

int codec_shrink_begin(struct codec_shrink *s, int w, int h, int ch, int f,
                       struct image *out);
void codec_shrink_row(struct codec_shrink *s, const uint8_t *row);
/* rows rows at once, each stride bytes after the one before (negative
 * for a bottom-up BMP), all readable until the call returns: whole bands
 * are summed in one pass, the same pixels as row by row. */
void codec_shrink_rows(struct codec_shrink *s, const uint8_t *row,
                       size_t rows, ptrdiff_t stride);
void codec_shrink_end(struct codec_shrink *s);

#endif
