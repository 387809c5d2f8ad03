/* imgcodec.h - decodes any image format of imgfmt.h to 8-bit RGB pixels:
 * the one interface the import (features), the drawn views and the crops
 * of exports call.  The format comes from the bytes, never from a name.
 *
 * Which library decodes what (each wrapped by one file, codec_*.c):
 *   JPEG  jpegcodec.c (TurboJPEG), at a DCT scale when min_short > 0
 *   PNG   codec_png.c (libspng), row by row when reduced (not interlaced)
 *   WebP  codec_webp.c (libwebp), scaled in the decoder when min_short > 0
 *   TIFF  codec_tiff.c (libtiff), strips and tiles, 8 and 16 bits, in bands
 *   GIF   codec_gif.c (giflib), the first frame, line by line when it
 *         fills the screen in row order
 *   BMP   codec_bmp.c (no library: uncompressed 1/4/8/16/24/32-bit), row
 *         by row
 *
 * Every decode reads the header first and refuses an image of more than
 * IMG_MAX_PIXELS before allocating anything (-EFBIG).  Alpha is composited
 * over white; 16-bit samples keep their high byte (TIFF RGB: rounded to
 * (v + 128) / 257, as libtiff's RGBA reader does); gray becomes RGB.
 *
 * Orientation: pixels come out as stored in the file (the frame of the
 * labels' boxes), unless IMG_DECODE_ORIENT is given: then the EXIF
 * orientation of the file is applied as a viewer would (features use
 * that, so a photo and its rotated-by-tag twin look alike).
 *
 * Threads: any thread may decode; library handles are per call, except
 * TurboJPEG's, which jpegcodec.c keeps per thread.
 *
 * Errors: -EBADMSG for data a decoder rejects (unknown format included),
 * -EFBIG above IMG_MAX_PIXELS, -ENOMEM, -EINVAL for bad arguments, -errno
 * from reading a file, -ELIBACC when the format's library, loaded by its
 * first decode (libtiff), cannot be loaded.
 */
#ifndef CURATE_IMGCODEC_H
#define CURATE_IMGCODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgfmt.h"
#include "jpegcodec.h"   /* struct image */

#define IMG_DECODE_ORIENT 0x1u

/* Decodes to RGB.  min_short = 0 decodes at full size; otherwise a
 * decoder that can scale (JPEG, WebP) picks the smallest scale whose short
 * side is >= min_short (callers must accept any size >= min_short), and
 * the other formats are averaged down by the whole factor short side /
 * min_short (f x f block means, rounded; nothing when below 2), so every
 * format reaches the features at a similar small size.  Where the
 * averaging happens (rows as they decode, or the finished picture) never
 * changes a pixel.  *ret is owned by the caller (image_free);
 * *ret_format (may be NULL) gets the format found. */
int img_decode(const void *data, size_t len, int min_short, unsigned flags,
               struct image *ret, int *ret_format);
int img_decode_file(const char *path, int min_short, unsigned flags,
                    struct image *ret, int *ret_format);

/* Decoding while a file is read: the import reads each file in pieces
 * and hashes every piece at once; a stream decode averages the pixels of
 * each piece down in the same pass, while the piece is still in the cache,
 * instead of going over the whole file again afterwards.  Only some
 * layouts stream (img_stream_format(); today uncompressed TIFF strips);
 * for any other file img_stream_open() says so and the caller decodes
 * the whole file with img_decode().
 *
 * img_stream_open: size is the file's; read (the imgfmt.h callback) is
 * called only inside open, for the header and the directories.  0 and
 * *ret, 1 when this file does not stream, or -ENOMEM.
 * img_stream_data: the first n bytes of the file are now at data; data
 * is the same buffer on every call, n only grows.
 * img_stream_end: with the whole file at data; frees s and returns
 * exactly img_decode(data, len, min_short, flags, ret, NULL): when the
 * bytes read through the callback differ from data's (the file changed
 * between) or the stream could not finish, it calls img_decode().
 * img_stream_free: abandons s (NULL allowed).
 * A stream is used by one thread at a time. */
struct img_stream;
bool img_stream_format(int format);
int img_stream_open(uint64_t size,
                    long (*read)(void *ud, uint64_t off, void *buf, size_t n),
                    void *ud, int min_short, unsigned flags,
                    struct img_stream **ret);
void img_stream_data(struct img_stream *s, const void *data, size_t n);
int img_stream_end(struct img_stream *s, const void *data, size_t len,
                   struct image *ret);
void img_stream_free(struct img_stream *s);

/* The frame boxes and sizes of a picture with an EXIF orientation 2..8 are
 * given in, where a file or an export may use either:
 *   STORED  the pixels as stored, before any turn;
 *   VIEWER  the picture turned by its orientation, as a viewer shows it;
 *   AUTO    the caller's default for the format (docs/EXPORT.md). */
enum img_frame { IMG_FRAME_AUTO, IMG_FRAME_STORED, IMG_FRAME_VIEWER };

/* Parses "auto", "stored", "viewer".  -EINVAL otherwise. */
int img_frame_parse(const char *s, enum img_frame *ret);

/* The EXIF orientation boxes in `frame` are turned by, for a picture of
 * this orientation: the orientation (2..8) when the frame is the
 * viewer's (VIEWER, or AUTO where the caller's default is the viewer's:
 * viewer_auto), else 1 (as stored; also for 1 or out of range). */
int img_frame_turn(enum img_frame frame, bool viewer_auto, int orientation);

/* Applies EXIF orientation 2..8 to *im in place (1: nothing). */
int img_orient(struct image *im, int orientation);
/* Moves the point (*x, *y) of a w x h picture (its stored size;
 * continuous coordinates, as labels.h's boxes) from the stored frame to
 * the frame img_orient() turns it to (to_view), or back (false).  The
 * turned frame of orientations 5..8 is h wide and w high.  Orientation 1
 * or out of range leaves the point as it is, bit for bit. */
void img_orient_point(int orientation, double w, double h, bool to_view,
                      double *x, double *y);
/* The box b = {x1, y1, x2, y2} (x1 <= x2, y1 <= y2) of that picture moved
 * the same way, corner by corner, and put back in order.  Orientation 1
 * or out of range leaves it as it is, bit for bit.  Used wherever boxes
 * cross into a frame a viewer turns: CVAT's frames, YOLO files. */
void img_orient_box(int orientation, double w, double h, bool to_view,
                    double b[4]);
/* A box given relative to the picture as a viewer shows it (rel: centre
 * x, centre y, width, height, as fractions of the turned size, YOLO's
 * convention) -> out: x, y, width, height in pixels of the stored w x h
 * frame.  Orientation 1 or out of range: out = (cx - bw / 2) * w ... as
 * computed without any turn. */
void img_box_from_view_rel(int orientation, double w, double h,
                           const double rel[4], double out[4]);
/* Whether boxes given beside a size (a COCO image's width and height, a
 * VOC <size>; 0 when absent) are in the frame of a w x h stored picture
 * turned by this orientation.  The size decides where it can: for 5..8
 * (a turn by 90 degrees) on a picture that is not square, the stored size
 * swapped means turned, the stored size means stored.  Otherwise (2..4
 * keep the size; a square picture; no size) the source decides:
 * source_turned (a CVAT zip: CVAT draws on turned pictures).  Orientation
 * 1 or out of range: false. */
bool img_boxes_turned(int orientation, uint32_t w, uint32_t h,
                      double given_w, double given_h, bool source_turned);

/* The file's bytes as a picture of format `to` (IMG_JPEG or IMG_PNG), for
 * an export whose readers take no other: a file already of that format is
 * copied unchanged (orientation is not looked at: its EXIF stays),
 * anything else is decoded at full size, turned by EXIF orientation
 * `orientation` (1: as stored; img_orient) and encoded with no EXIF: a
 * JPEG at the given quality, a PNG losslessly (quality unused).  *ret is
 * malloc'd, owned by the caller.  -EINVAL for another target format; the
 * decoder's errors as img_decode(). */
int img_convert(const void *data, size_t len, int orientation,
                enum img_format to, int quality, uint8_t **ret,
                size_t *ret_len);

#endif
