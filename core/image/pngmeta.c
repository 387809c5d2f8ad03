/* pngmeta.c - a PNG's EXIF orientation from its eXIf chunk, its
 * ImageMagick raw EXIF profile and its XMP packet, with the rules of
 * Debian's Pillow 9.4 (see pngmeta.h and docs/USER-GUIDE.md, "EXIF
 * orientation"), checked against it by fs-formats.
 *
 * What Pillow does, which this file follows step by step: each text chunk
 * becomes info[keyword] (tEXt as bytes for keyword "exif", else as text;
 * zTXt decompressed, an error giving ""; iTXt decompressed and checked as
 * UTF-8, any failure leaving the earlier value), eXIf becomes
 * info["exif"] = "Exif\0\0" + data.  getexif() then reads info["exif"],
 * else the hex of info["Raw profile type exif"] after its three header
 * lines; and only when that gives no Orientation entry, the first
 * tiff:Orientation="d" or <tiff:Orientation>d of the XMP.  An EXIF reader
 * that raises (not a TIFF header, bad hex, a text value where bytes are
 * due) leaves the picture as stored, XMP unread.
 */
#include "pngmeta.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "jpeghdr.h"
#include "util.h"

/* Pillow's limit on one decompressed text chunk (MAX_TEXT_CHUNK): over it
 * the file does not load. */
#define TEXT_MAX (1u << 20)

static const char *const key_names[PNGMETA_NKEYS] = {
  "exif", "Raw profile type exif", "XML:com.adobe.xmp"
};

static bool is_text_type(const uint8_t t[4])
{
  return memcmp(t, "tEXt", 4) == 0 || memcmp(t, "zTXt", 4) == 0 ||
         memcmp(t, "iTXt", 4) == 0;
}

/* The key index of a keyword of kl bytes, or -1. */
static int key_index(const uint8_t *k, size_t kl)
{
  for (int i = 0; i < PNGMETA_NKEYS; i++)
    if (strlen(key_names[i]) == kl && memcmp(k, key_names[i], kl) == 0)
      return i;
  return -1;
}

bool pngmeta_wanted(const uint8_t type[4], const uint8_t *p, size_t len)
{
  size_t m = len < PNGMETA_KEY_PEEK ? len : PNGMETA_KEY_PEEK;
  const uint8_t *z;

  if (!is_text_type(type))
    return false;
  z = memchr(p, 0, m);
  if (!z && len > m)
    return false;   /* a keyword longer than any read here */
  return key_index(p, z ? (size_t)(z - p) : m) >= 0;
}

/* An EXIF payload that Pillow's Exif.load() gets (after it dropped one
 * "Exif\0\0"): nothing (no tag), a header it refuses (it raises), or the
 * Orientation entry of IFD0 if any. */
static void tiff_state(struct png_meta *m, int k, const uint8_t *p, size_t n)
{
  bool le;
  uint8_t o;

  m->o[k] = 1;
  if (n == 0) {
    m->state[k] = PNGMETA_NOTAG;
    return;
  }
  if (!jpeg_tiff_byte_order(p, n, &le)) {
    m->state[k] = PNGMETA_FAIL;
    return;
  }
  o = jpeg_tiff_orientation_entry(p, n);
  m->state[k] = o ? PNGMETA_TAG : PNGMETA_NOTAG;
  m->o[k] = o ? o : 1;
}

static void exif_bytes(struct png_meta *m, int k, const uint8_t *p, size_t n)
{
  if (n >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
    p += 6;
    n -= 6;
  }
  tiff_state(m, k, p, n);
}

static int hexval(uint8_t c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The raw profile: Python's bytes.fromhex() of all the lines after the
 * first three, joined (so newlines vanish; other ASCII white space only
 * between byte pairs; anything else fails). */
static int raw_profile(struct png_meta *m, const uint8_t *v, size_t n)
{
  size_t i = 0, on = 0;
  uint8_t *out;

  for (int lines = 0; lines < 3 && i < n; i++)
    lines += v[i] == '\n';
  if (!(out = malloc(n / 2 + 1)))
    return -ENOMEM;
  m->state[PNGMETA_RAW] = PNGMETA_FAIL;
  m->o[PNGMETA_RAW] = 1;
  for (;;) {
    int hi, lo;

    while (i < n && (v[i] == ' ' || (v[i] >= '\t' && v[i] <= '\r')))
      i++;
    if (i >= n)
      break;
    hi = hexval(v[i++]);
    while (i < n && v[i] == '\n')   /* joined lines: a pair may span them */
      i++;
    lo = i < n ? hexval(v[i++]) : -1;
    if (hi < 0 || lo < 0) {
      free(out);
      return 0;
    }
    out[on++] = (uint8_t)(hi << 4 | lo);
  }
  exif_bytes(m, PNGMETA_RAW, out, on);
  free(out);
  return 0;
}

/* XMP: the first "tiff:Orientation" followed by '="' or '>' and a digit
 * (Pillow's regular expression); the digit is the orientation. */
static void xmp(struct png_meta *m, const uint8_t *v, size_t n)
{
  static const char pat[] = "tiff:Orientation";
  const size_t pl = sizeof(pat) - 1;

  m->state[PNGMETA_XMP] = PNGMETA_NOTAG;
  m->o[PNGMETA_XMP] = 1;
  for (size_t i = 0; i + pl < n; i++) {
    size_t j = i + pl;
    uint8_t d;

    if (v[i] != 't' || memcmp(v + i, pat, pl) != 0)
      continue;
    if (v[j] == '=' && j + 1 < n && v[j + 1] == '"')
      j += 2;
    else if (v[j] == '>')
      j += 1;
    else
      continue;
    if (j >= n || v[j] < '0' || v[j] > '9')
      continue;
    d = (uint8_t)(v[j] - '0');
    m->state[PNGMETA_XMP] = PNGMETA_TAG;
    m->o[PNGMETA_XMP] = d >= 2 && d <= 8 ? d : 1;
    return;
  }
}

/* info[keyword] = the text v[0..n): as_bytes for a tEXt chunk (Pillow
 * keeps bytes for its keyword "exif" only). */
static int text_value(struct png_meta *m, int k, const uint8_t *v, size_t n,
                      bool as_bytes)
{
  switch (k) {
  case PNGMETA_EXIF:
    if (as_bytes)
      exif_bytes(m, k, v, n);
    else {
      /* A text where the EXIF reader wants bytes: it raises, unless the
       * text is empty. */
      m->state[k] = n ? PNGMETA_FAIL : PNGMETA_NOTAG;
      m->o[k] = 1;
    }
    return 0;
  case PNGMETA_RAW:
    return raw_profile(m, v, n);
  default:
    xmp(m, v, n);
    return 0;
  }
}

/* Pillow's decompression of text: 0 with *out (malloc'd; a cut stream
 * gives what it holds), 1 on a zlib error, -EBADMSG past TEXT_MAX,
 * -ENOMEM. */
static int inflate_text(const uint8_t *z, size_t n, uint8_t **out,
                        size_t *on, const char **reason)
{
  z_stream s;
  uint8_t *buf;
  int r;

  memset(&s, 0, sizeof(s));
  if (n > 0xffffffffu)
    return 1;
  if (!(buf = malloc(TEXT_MAX))) {
    *reason = "out of memory";
    return -ENOMEM;
  }
  if (inflateInit(&s) != Z_OK) {
    free(buf);
    *reason = "out of memory";
    return -ENOMEM;
  }
  s.next_in = (Bytef *)(uintptr_t)z;
  s.avail_in = (uInt)n;
  s.next_out = buf;
  s.avail_out = TEXT_MAX;
  r = inflate(&s, Z_SYNC_FLUSH);
  *on = TEXT_MAX - s.avail_out;
  inflateEnd(&s);
  if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END) {
    free(buf);
    return 1;
  }
  if (r != Z_STREAM_END && s.avail_in > 0) {
    /* The output is full with input left: Pillow refuses the file. */
    free(buf);
    *reason = "corrupt PNG: a compressed text chunk over 1 MiB";
    return -EBADMSG;
  }
  *out = buf;
  return 0;
}

static int itxt(struct png_meta *m, int k, const uint8_t *r, size_t rn,
                const char **reason)
{
  const uint8_t *lang, *tk, *v, *z;
  size_t ln, tn, vn;
  uint8_t *dec = NULL;
  int ret = 0;

  if (rn < 2)
    return 0;
  lang = r + 2;
  if (!(z = memchr(lang, 0, rn - 2)))
    return 0;
  ln = (size_t)(z - lang);
  tk = z + 1;
  if (!(z = memchr(tk, 0, (size_t)(r + rn - tk))))
    return 0;
  tn = (size_t)(z - tk);
  v = z + 1;
  vn = (size_t)(r + rn - v);
  if (r[0] != 0) {
    if (r[1] != 0)
      return 0;   /* an unknown method: the chunk is passed over */
    if ((ret = inflate_text(v, vn, &dec, &vn, reason)) != 0)
      return ret < 0 ? ret : 0;
    v = dec;
  }
  /* Strict UTF-8 (utf8_valid), as Python decodes it. */
  if (utf8_valid((const char *)lang, ln) && utf8_valid((const char *)tk, tn) &&
      utf8_valid((const char *)v, vn))
    ret = text_value(m, k, v, vn, false);
  free(dec);
  return ret;
}

int pngmeta_chunk(struct png_meta *m, const uint8_t type[4], const uint8_t *d,
                  size_t n, const char **reason)
{
  const uint8_t *z;
  size_t kl, vo;
  int k, r;

  if (memcmp(type, "eXIf", 4) == 0) {
    tiff_state(m, PNGMETA_EXIF, d, n);
    return 0;
  }
  if (!is_text_type(type))
    return 0;
  z = memchr(d, 0, n);
  kl = z ? (size_t)(z - d) : n;
  vo = z ? kl + 1 : n;
  if ((k = key_index(d, kl)) < 0)
    return 0;
  if (type[0] == 't')
    return text_value(m, k, d + vo, n - vo, true);
  if (type[0] == 'i')
    return z ? itxt(m, k, d + vo, n - vo, reason) : 0;
  /* zTXt: method byte, then the zlib stream; a zlib error gives "". */
  if (n > vo && d[vo] != 0) {
    *reason = "corrupt PNG: unknown compression method in a zTXt chunk";
    return -EBADMSG;
  } else {
    uint8_t *dec = NULL;
    size_t dn = 0;

    r = inflate_text(d + vo + (n > vo), n - vo - (n > vo), &dec, &dn, reason);
    if (r < 0)
      return r;
    r = text_value(m, k, r == 0 ? dec : (const uint8_t *)"", r == 0 ? dn : 0,
                   false);
    free(dec);
    return r;
  }
}

uint32_t pngmeta_crc32(const uint8_t *p, size_t n)
{
  uLong c = crc32(0L, Z_NULL, 0);

  while (n > 0) {
    uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
    c = crc32(c, p, k);
    p += k;
    n -= k;
  }
  return (uint32_t)c;
}

uint8_t pngmeta_orientation(const struct png_meta *m)
{
  int k = m->state[PNGMETA_EXIF] != PNGMETA_UNSET ? PNGMETA_EXIF
                                                   : PNGMETA_RAW;

  if (m->state[k] == PNGMETA_FAIL)
    return 1;
  if (m->state[k] == PNGMETA_TAG)
    return m->o[k];
  return m->state[PNGMETA_XMP] == PNGMETA_TAG ? m->o[PNGMETA_XMP] : 1;
}
