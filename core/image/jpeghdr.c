/* jpeghdr.c - JPEG marker walk (SOFn, APP1 EXIF orientation, SOS) and
 * whole-file checks.  Pure functions over byte buffers: no I/O. */
#include "jpeghdr.h"

#include <errno.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p, bool le)
{
  return le ? (uint16_t)(p[0] | (p[1] << 8)) : (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p, bool le)
{
  return le ? (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                  ((uint32_t)p[3] << 24)
            : ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
                  ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* EXIF orientation as Pillow reads it, which is what a viewer built on it
 * shows and what CVAT turns its frames by (ImageOps.exif_transpose): the
 * entry's value is decoded by its TIFF type, its first value counts, and
 * only a number equal to 2..8 turns the picture.  So a BYTE, ASCII or
 * UNDEFINED value never does, while a RATIONAL 12/2 or a DOUBLE 6.0 does. */
size_t jpeg_exif_type_size(unsigned type)
{
  switch (type) {
  case 1: case 2: case 6: case 7: return 1;   /* BYTE ASCII SBYTE UNDEF */
  case 3: case 8: return 2;                   /* SHORT SSHORT */
  case 4: case 9: case 11: case 13: return 4; /* LONG SLONG FLOAT IFD */
  case 5: case 10: case 12: case 16: return 8;/* (S)RATIONAL DOUBLE LONG8 */
  default: return 0;                          /* Pillow skips the entry */
  }
}

uint8_t jpeg_exif_orientation_value(unsigned type, const uint8_t *v, bool le)
{
  int64_t k;

  switch (type) {
  case 3: k = rd16(v, le); break;
  case 4: case 13: k = rd32(v, le); break;
  case 6: k = (int8_t)v[0]; break;
  case 8: k = (int16_t)rd16(v, le); break;
  case 9: k = (int32_t)rd32(v, le); break;
  case 16: {
    uint64_t a = rd32(v, le), b = rd32(v + 4, le);
    uint64_t q = le ? a | (b << 32) : (a << 32) | b;
    k = q <= 8 ? (int64_t)q : 0;
    break;
  }
  case 5: case 10: {
    /* Exact: Pillow compares the fraction, so 13/2 is no orientation. */
    int64_t num = type == 5 ? (int64_t)rd32(v, le) : (int32_t)rd32(v, le);
    int64_t den = type == 5 ? (int64_t)rd32(v + 4, le)
                            : (int32_t)rd32(v + 4, le);
    if (den == 0 || num % den != 0)
      return 1;
    k = num / den;
    break;
  }
  case 11: case 12: {
    double d;
    if (type == 11) {
      uint32_t u = rd32(v, le);
      float f;
      memcpy(&f, &u, 4);
      d = f;
    } else {
      uint64_t a = rd32(v, le), b = rd32(v + 4, le);
      uint64_t u = le ? a | (b << 32) : (a << 32) | b;
      memcpy(&d, &u, 8);
    }
    if (!(d >= 2 && d <= 8) || d != (double)(int)d)
      return 1;
    k = (int)d;
    break;
  }
  default:
    return 1;   /* bytes or text: never equal to a number */
  }
  return k >= 2 && k <= 8 ? (uint8_t)k : 1;
}

bool jpeg_tiff_byte_order(const uint8_t *p, size_t n, bool *le)
{
  /* Pillow's accepted headers, the two odd ones included; BigTIFF makes
   * its EXIF reader fail, so it counts as no orientation. */
  if (n < 8 || !((p[2] == 42 && p[3] == 0) || (p[2] == 0 && p[3] == 42)))
    return false;
  if (p[0] == 'I' && p[1] == 'I')
    *le = true;
  else if (p[0] == 'M' && p[1] == 'M')
    *le = false;
  else
    return false;
  return true;
}

uint8_t jpeg_tiff_orientation_entry(const uint8_t *p, size_t n)
{
  bool le;
  uint32_t ifd;
  uint16_t count;
  uint8_t o = 0;

  if (!jpeg_tiff_byte_order(p, n, &le))
    return 0;
  ifd = rd32(p + 4, le);
  if (ifd > n || n - ifd < 2)
    return 0;
  count = rd16(p + ifd, le);
  for (uint32_t i = 0; i < count; i++) {
    size_t e = ifd + 2 + (size_t)i * 12;
    uint16_t type;
    uint64_t size, off;

    if (e + 12 > n)
      break;            /* a cut directory: the entries before it count */
    type = rd16(p + e + 2, le);
    size = (uint64_t)rd32(p + e + 4, le) * jpeg_exif_type_size(type);
    if (size == 0)
      continue;         /* unknown type or no values: skipped */
    off = size <= 4 ? e + 8 : rd32(p + e + 8, le);
    if (off > n || size > n - off)
      break;            /* values past the block: Pillow stops here */
    /* A later Orientation entry replaces an earlier one. */
    if (rd16(p + e, le) == 0x0112)
      o = jpeg_exif_orientation_value(type, p + off, le);
  }
  return o;
}

uint8_t jpeg_tiff_orientation(const uint8_t *p, size_t n)
{
  uint8_t o = jpeg_tiff_orientation_entry(p, n);

  return o ? o : 1;
}

/* EXIF: "Exif\0\0", then a TIFF header and IFD0; we want tag 0x0112. */
static uint8_t exif_orientation(const uint8_t *p, size_t n)
{
  if (n < 14 || memcmp(p, "Exif\0\0", 6) != 0)
    return 1;
  return jpeg_tiff_orientation(p + 6, n - 6);
}

static const char *not_jpeg_reason(const uint8_t *p, size_t n)
{
  if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
    return "not a JPEG: PNG data";
  if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
    return "not a JPEG: GIF data";
  if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
    return "not a JPEG: WebP data";
  if (n >= 2 && (memcmp(p, "BM", 2) == 0))
    return "not a JPEG: BMP data";
  if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0))
    return "not a JPEG: TIFF data";
  return "not a JPEG: no start-of-image marker";
}

/* A start-of-frame segment (marker m, payload s of a segment of length
 * len): the frame's size and coding into *ret, or the reason why no
 * common decoder would read it. */
static int frame_header(uint8_t m, const uint8_t *s, size_t len,
                        struct jpeg_info *ret, const char **reason)
{
  unsigned sof = m - 0xC0;

  if (len < 8) {
    *reason = "corrupt header: short frame header";
    return -EBADMSG;
  }
  if (sof == 3 || sof == 7 || sof == 11 || sof == 15) {
    *reason = "lossless JPEG is not supported";
    return -EBADMSG;
  }
  if (sof == 5 || sof == 6 || sof == 13 || sof == 14) {
    *reason = "hierarchical JPEG is not supported";
    return -EBADMSG;
  }
  ret->sof = (uint8_t)sof;
  ret->precision = s[0];
  ret->height = (uint32_t)((s[1] << 8) | s[2]);
  ret->width = (uint32_t)((s[3] << 8) | s[4]);
  ret->components = s[5];
  ret->progressive = sof == 2 || sof == 10;
  ret->arithmetic = sof >= 9;
  if (ret->precision == 12) {
    *reason = "12-bit JPEG (sample precision 12) is not supported by "
              "common image loaders";
    return -EBADMSG;
  }
  if (ret->precision != 8) {
    *reason = "unsupported sample precision";
    return -EBADMSG;
  }
  if (ret->width == 0 || ret->height == 0) {
    *reason = "zero image dimensions";
    return -EBADMSG;
  }
  if (ret->components != 1 && ret->components != 3 && ret->components != 4) {
    *reason = "unsupported number of colour components";
    return -EBADMSG;
  }
  return 0;
}

int jpeg_header_parse(const uint8_t *p, size_t n, struct jpeg_info *ret,
                      size_t *ret_need, const char **reason)
{
  size_t i = 2;
  bool have_sof = false, have_exif = false;

  memset(ret, 0, sizeof(*ret));
  ret->orientation = 1;
  *ret_need = 0;
  if (n == 0) {
    *reason = "empty file";
    return -EBADMSG;
  }
  if (n < 3 || p[0] != 0xFF || p[1] != 0xD8) {
    *reason = n < 3 ? "too short to be a JPEG" : not_jpeg_reason(p, n);
    return -EBADMSG;
  }
  for (;;) {
    uint8_t m;
    size_t len;

    /* Markers may be preceded by any number of 0xFF fill bytes. */
    while (i < n && p[i] == 0xFF && i + 1 < n && p[i + 1] == 0xFF)
      i++;
    if (i + 4 > n) {
      *ret_need = n * 2 + 4096;
      return -ENODATA;
    }
    if (p[i] != 0xFF) {
      *reason = "corrupt header: marker expected";
      return -EBADMSG;
    }
    m = p[i + 1];
    if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
      i += 2;  /* standalone markers carry no length */
      continue;
    }
    if (m == 0xD9) {
      *reason = "corrupt: end of image before any scan";
      return -EBADMSG;
    }
    len = (size_t)((p[i + 2] << 8) | p[i + 3]);
    if (len < 2) {
      *reason = "corrupt header: bad segment length";
      return -EBADMSG;
    }
    if (i + 2 + len > n && m != 0xDA) {
      *ret_need = i + 2 + len + 4096;
      return -ENODATA;
    }
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
      int r = frame_header(m, p + i + 4, len, ret, reason);
      if (r < 0)
        return r;
      have_sof = true;
    } else if (m == 0xE1 && !have_exif && len >= 8 &&
               memcmp(p + i + 4, "Exif\0\0", 6) == 0) {
      /* Only the first Exif segment counts, as in Pillow (which CVAT
       * turns its frames with): a later one is ignored even when the
       * first has no orientation. */
      have_exif = true;
      ret->orientation = exif_orientation(p + i + 4, len - 2);
    } else if (m == 0xDA) {
      if (!have_sof) {
        *reason = "corrupt: scan before frame header";
        return -EBADMSG;
      }
      ret->scan_offset = (uint32_t)i;
      return 0;
    }
    i += 2 + len;
  }
}

bool jpeg_tail_has_eoi(const uint8_t *tail, size_t n)
{
  /* Tolerate a little trailing padding (NULs, newlines) some tools add. */
  size_t end = n;
  for (int k = 0; k < 16 && end > 0 &&
                  (tail[end - 1] == 0 || tail[end - 1] == '\n' ||
                   tail[end - 1] == '\r' || tail[end - 1] == ' ');
       k++)
    end--;
  return end >= 2 && tail[end - 2] == 0xFF && tail[end - 1] == 0xD9;
}

bool jpeg_scan_has_eoi(const uint8_t *p, size_t n)
{
  const uint8_t *q = p, *end = p + n;

  while (q < end) {
    q = memchr(q, 0xFF, (size_t)(end - q));
    if (!q || q + 1 >= end)
      return false;
    if (q[1] == 0xD9)
      return true;
    q += 1;
  }
  return false;
}
