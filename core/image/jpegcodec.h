/* jpegcodec.h - decode and encode JPEG pixels.  The only module that uses
 * TurboJPEG (jpeghdr.c parses headers by hand and needs no decoder).
 *
 * Decoding can pick the smallest DCT scale (1/8, 1/4, 3/8, 1/2, ...) that
 * keeps the short side at least `min_short` pixels: features are computed
 * from small images, and a scaled decode skips most of the IDCT work.
 * Orientation is not applied: pixels come out as stored in the file, the
 * same frame as the boxes of the labels (pixel space of the stored image).
 *
 * Each thread keeps its own TurboJPEG handles (created on first use, freed
 * at thread exit), so workers decode in parallel without locks.
 *
 * jpeg_decode_region() uses the same library's libjpeg API (TurboJPEG 2.1
 * has no cropped decode); each call has its own decompressor.
 *
 * A decode (whole or region) refuses an image of more than IMG_MAX_PIXELS
 * (imgfmt.h) from its header, before allocating (-EFBIG), and any failed
 * decode replaces the thread's decompressor, so one bad file cannot break
 * later ones.
 *
 * Errors: -EBADMSG for data the library rejects, -EFBIG, -ENOMEM, -EINVAL
 * for bad arguments, -errno from reading a file.
 */
#ifndef CURATE_JPEGCODEC_H
#define CURATE_JPEGCODEC_H

#include <stddef.h>
#include <stdint.h>

/* An 8-bit RGB (3 channels) or gray (1 channel) image; px owned. */
struct image {
  int w, h, channels;
  uint8_t *px;     /* rows of w * channels bytes, no padding */
};

int image_alloc(struct image *im, int w, int h, int channels);
void image_free(struct image *im);

/* Decodes to RGB.  min_short = 0 decodes at full size; otherwise the
 * smallest scale whose short side is >= min_short (full size if the image
 * is smaller).  *ret is owned by the caller (image_free). */
int jpeg_decode(const void *data, size_t len, int min_short,
                struct image *ret);
int jpeg_decode_file(const char *path, int min_short, struct image *ret);

/* Decodes only the pixels needed for the region [x0, x1) x [y0, y1) of
 * the image, at scale 1, to RGB: rows above it are skipped, rows below it
 * never decoded, and only the iMCU columns covering it (with a margin)
 * are decoded.  *ret covers the region and may be larger; *ret_x, *ret_y
 * are the image coordinates of its top left pixel.  Inside the region,
 * pixels equal jpeg_decode()'s at full size.  -EINVAL when the region is
 * empty or outside the image. */
int jpeg_decode_region(const void *data, size_t len, int x0, int y0, int x1,
                       int y1, struct image *ret, int *ret_x, int *ret_y);

/* Encodes an RGB or gray image at quality 1..100 (colour: 4:2:0, or
 * 4:4:4 at quality 100, the conversion that loses least).
 * *ret_data is malloc'd, owned by the caller. */
int jpeg_encode(const struct image *im, int quality, uint8_t **ret_data,
                size_t *ret_len);

#endif
