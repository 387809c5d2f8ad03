/* imgfmt.h - image formats known by their bytes: JPEG, PNG, WebP, TIFF,
 * BMP and GIF.  Recognises a file's format from its first bytes (never its
 * name), and reads its header without decoding pixels: dimensions, bit
 * depth, channels, the EXIF orientation where the format carries one
 * (JPEG APP1, PNG eXIf, raw EXIF profile or XMP before or after the image
 * data (pngmeta.h), WebP EXIF, the TIFF Orientation tag; as Pillow, and so
 * CVAT, reads it), and whether
 * the file looks whole.  JPEG headers go to jpeghdr.h; the other formats
 * are parsed here.
 *
 * Pure functions over bytes: the caller supplies a reader (struct
 * img_src), usually pread() on an open file with the first bytes already
 * in memory, so a header that sits at the end of a file (a TIFF directory)
 * costs one more small read, not a read of the whole file.  Nothing here
 * allocates or decodes; see imgcodec.h for pixels.
 *
 * Limit: IMG_MAX_PIXELS.  A header that declares more pixels than that is
 * refused before any decoding (a "decompression bomb": a small file whose
 * pixels would need gigabytes).
 */
#ifndef CURATE_IMGFMT_H
#define CURATE_IMGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Stored in sample records (STORE-FORMAT.md §4): values never change.
 * JPEG is 0 so that records written before other formats read as JPEG. */
enum img_format {
  IMG_JPEG = 0,
  IMG_PNG = 1,
  IMG_WEBP = 2,
  IMG_TIFF = 3,
  IMG_BMP = 4,
  IMG_GIF = 5,
  IMG_NFORMATS
};

/* Largest image (width x height) that is imported or decoded: 2^28, e.g.
 * 16384 x 16384.  Decoding one costs 768 MiB of RGB. */
#define IMG_MAX_PIXELS (1ull << 28)

struct img_info {
  enum img_format format;
  uint32_t width, height;   /* as stored (before orientation) */
  uint8_t precision;        /* bits per channel: 1..16 */
  uint8_t components;       /* channels incl. alpha; 4 is CMYK for JPEG */
  uint8_t orientation;      /* EXIF 1..8; 1 when absent */
  bool progressive;         /* JPEG progressive, PNG/GIF interlaced */
  bool arithmetic;          /* JPEG arithmetic coding */
};

/* Random access to a file's bytes.  read() returns the bytes read (short
 * only at the end of the file) or a negative errno. */
struct img_src {
  const uint8_t *head;      /* the first head_len bytes, already read */
  size_t head_len;
  uint64_t size;            /* file size */
  long (*read)(void *ud, uint64_t off, void *buf, size_t n);
  void *ud;
};

/* The format of data starting with p[0..n), or -1 when it is none of
 * them.  Needs at most 12 bytes. */
int img_sniff(const uint8_t *p, size_t n);

/* ".jpg", ".png", ".webp", ".tif", ".bmp", ".gif": the extension the mount
 * and exports give a sample of this format.  NULL for an unknown value. */
const char *img_ext(int format);
/* img_ext(), or ".bin" for a format this build does not know (a record
 * written by a newer one). */
static inline const char *img_ext_of(int format)
{
  const char *e = img_ext(format);
  return e ? e : ".bin";
}
/* "JPEG", "PNG", "WebP", "TIFF", "BMP", "GIF"; "unknown" otherwise. */
const char *img_format_name(int format);
/* The format a file name's extension suggests (case-insensitive: .jpg
 * .jpeg .jpe .jfif .png .webp .tif .tiff .bmp .dib .gif), or -1. */
int img_format_of_name(const char *name);

/* Reads the header of the file behind src.  Returns 0 with *ret filled;
 * -EBADMSG with a one-line static reason when the file is not a usable
 * image (unknown format, corrupt or truncated header, a bad PNG CRC, a
 * variant no decoder here reads, zero size, more than IMG_MAX_PIXELS);
 * -EFBIG (reason set) for more than IMG_MAX_PIXELS; -errno from
 * src->read (reason "read error").  Also checks that the file is whole
 * where the format makes that cheap: JPEG end-of-image, PNG IEND, GIF
 * trailer, the RIFF size of WebP, BMP pixel data size. */
int img_header_read(const struct img_src *src, struct img_info *ret,
                    const char **reason);

#endif
