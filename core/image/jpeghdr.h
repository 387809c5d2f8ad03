/* jpeghdr.h - reads a JPEG file's header without decoding it: dimensions,
 * sample precision, components, coding (baseline, progressive,
 * arithmetic) and the EXIF orientation; and checks that the file is whole.
 *
 * It does not decode pixels (jpegcodec.h and imgcodec.h do) and never
 * allocates.
 */
#ifndef CURATE_JPEGHDR_H
#define CURATE_JPEGHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jpeg_info {
  uint32_t width, height;
  uint8_t precision;    /* 8 or 12 */
  uint8_t components;
  uint8_t orientation;  /* EXIF 1..8 (jpeg_tiff_orientation()) */
  uint8_t sof;          /* SOF marker index: 0 baseline, 1 extended, 2
                         * progressive, 9/10 arithmetic ... */
  bool progressive, arithmetic;
  uint32_t scan_offset; /* byte offset of the first SOS marker */
};

/* EXIF orientation, read as Pillow reads it (its ImageOps.exif_transpose
 * is what CVAT turns frames by, and what most Python viewers show):
 *
 * jpeg_tiff_orientation(): the Orientation tag (0x0112) of IFD0 in a
 * TIFF-structured block ("II*\0" or "MM\0*" first: an EXIF payload without
 * its "Exif\0\0" prefix): 2..8 when the picture is to be turned or
 * flipped, 1 otherwise (absent, unreadable, or a value that is not 2..8).
 * Any TIFF type counts by its first value as a number (SHORT, LONG,
 * signed types, exact RATIONAL, FLOAT ...); BYTE, ASCII and UNDEFINED
 * values never do; an entry with no values or of an unknown type is
 * skipped; a later Orientation entry replaces an earlier one; an entry
 * whose values lie past the block ends the directory.  Bounds-checked, no
 * allocation; shared by the JPEG APP1 walk and imgfmt.c (PNG, WebP).
 * jpeg_tiff_orientation_entry(): the same, but 0 when no Orientation
 * entry is read at all (Pillow's "0x0112 not in exif", after which it
 * looks at a PNG's XMP: pngmeta.c).
 *
 * jpeg_exif_type_size(): bytes per value of a TIFF type, 0 for a type
 * Pillow skips.  jpeg_exif_orientation_value(): the orientation (2..8, or
 * 1) an entry of that type whose first value is at v stands for.
 * jpeg_tiff_byte_order(): whether p[0..n) starts with a TIFF header Pillow
 * accepts, and its byte order.  imgfmt.c walks a TIFF file's own directory
 * with these. */
uint8_t jpeg_tiff_orientation(const uint8_t *p, size_t n);
uint8_t jpeg_tiff_orientation_entry(const uint8_t *p, size_t n);
size_t jpeg_exif_type_size(unsigned type);
uint8_t jpeg_exif_orientation_value(unsigned type, const uint8_t *v, bool le);
bool jpeg_tiff_byte_order(const uint8_t *p, size_t n, bool *le);

/* Parses the header from the first n bytes of a file.
 * Returns 0 with *ret filled; -ENODATA when more bytes are needed (the
 * header is longer than n; *ret_need holds a size that will do, or 0 if
 * unknown); -EBADMSG when the file is not a usable JPEG, with a one-line
 * reason in *reason (a static string).  Rejected on purpose: non-JPEG data
 * (PNG and others are named), lossless and hierarchical JPEG, 12-bit
 * precision (most image loaders cannot read it), zero dimensions. */
int jpeg_header_parse(const uint8_t *p, size_t n, struct jpeg_info *ret,
                      size_t *ret_need, const char **reason);

/* Does the tail of the file end with an EOI marker (FF D9), ignoring a few
 * bytes of padding?  A false answer is not final: some writers append data
 * after EOI, see jpeg_scan_has_eoi(). */
bool jpeg_tail_has_eoi(const uint8_t *tail, size_t n);

/* Searches entropy-coded data (from the first SOS on) for an EOI marker.
 * Inside scans a 0xFF byte is always followed by 0x00 or a marker, so the
 * first FF D9 found is the real end of the image. */
bool jpeg_scan_has_eoi(const uint8_t *p, size_t n);

#endif
