/* imgfmt.c - format recognition and header reads for JPEG (through
 * jpeghdr.c), PNG, WebP, TIFF, BMP and GIF (see imgfmt.h).
 *
 * Every read goes through src_read(), which serves the bytes already in
 * src->head and asks src->read for the rest, so a header costs one read of
 * the file's start (16 KiB in the import) plus a few small reads where the
 * format keeps something elsewhere (the TIFF directory, a WebP EXIF chunk,
 * the tail checked for wholeness, 4 KiB of it for a PNG's chunks after its
 * image data; a TIFF directory past the first read and its values come in
 * one more read of 4 KiB).  EXIF orientation is read as Pillow reads it
 * (CVAT turns its frames with Pillow): see jpeghdr.h, png_exif() and
 * pngmeta.h.  All offsets and lengths from the file are checked against
 * its size before use.  Each format is one entry of the table at the end (extension, name,
 * signature test, header reader).
 */
#include "imgfmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jpeghdr.h"
#include "pngmeta.h"

#define BOMB_REASON "declares more than 268,435,456 pixels (decompression " \
                    "bomb guard, see IMG_MAX_PIXELS)"

int img_format_of_name(const char *name)
{
  static const struct { const char *ext; int fmt; } tab[] = {
    { ".jpg", IMG_JPEG }, { ".jpeg", IMG_JPEG }, { ".jpe", IMG_JPEG },
    { ".jfif", IMG_JPEG }, { ".png", IMG_PNG }, { ".webp", IMG_WEBP },
    { ".tif", IMG_TIFF }, { ".tiff", IMG_TIFF }, { ".bmp", IMG_BMP },
    { ".dib", IMG_BMP }, { ".gif", IMG_GIF } };
  const char *dot = strrchr(name, '.');

  if (!dot)
    return -1;
  for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
    if (strcasecmp(dot, tab[i].ext) == 0)
      return tab[i].fmt;
  return -1;
}

/* ---- byte helpers ---- */

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t le32(const uint8_t *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}
static uint32_t be32(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static uint16_t rd16(const uint8_t *p, bool le) { return le ? le16(p) : be16(p); }
static uint32_t rd32(const uint8_t *p, bool le) { return le ? le32(p) : be32(p); }

/* Reads exactly n bytes at off: 0, -ENODATA when the file ends first, or
 * -errno. */
static int src_read(const struct img_src *s, uint64_t off, void *buf, size_t n)
{
  uint8_t *d = buf;

  if (off > s->size || n > s->size - off)
    return -ENODATA;
  if (off < s->head_len) {
    size_t k = s->head_len - (size_t)off < n ? s->head_len - (size_t)off : n;
    memcpy(d, s->head + off, k);
    d += k;
    off += k;
    n -= k;
  }
  while (n > 0) {
    long k = s->read(s->ud, off, d, n);
    if (k < 0)
      return (int)k;
    if (k == 0)
      return -ENODATA;
    d += k;
    off += (uint64_t)k;
    n -= (size_t)k;
  }
  return 0;
}

/* An EXIF payload as a WebP EXIF chunk carries it: the TIFF block,
 * sometimes (against the spec) after "Exif\0\0", which Pillow skips
 * there.  (Not for PNG: see png_exif().) */
static uint8_t exif_block_orientation(const uint8_t *p, size_t n)
{
  if (n >= 6 && memcmp(p, "Exif\0\0", 6) == 0)
    return jpeg_tiff_orientation(p + 6, n - 6);
  return jpeg_tiff_orientation(p, n);
}

static int check_pixels(struct img_info *in, const char **reason)
{
  if (in->width == 0 || in->height == 0) {
    *reason = "zero image dimensions";
    return -EBADMSG;
  }
  if ((uint64_t)in->width * in->height > IMG_MAX_PIXELS) {
    *reason = BOMB_REASON;
    return -EFBIG;
  }
  return 0;
}

/* The last bytes of the file, up to 64, skipping nothing. */
static int read_tail(const struct img_src *s, uint8_t *tail, size_t *tn)
{
  *tn = s->size < 64 ? (size_t)s->size : 64;
  return src_read(s, s->size - *tn, tail, *tn);
}

/* ---- JPEG ---- */

static int jpeg_read(const struct img_src *s, struct img_info *in,
                     const char **reason)
{
  struct jpeg_info ji;
  uint8_t *heap = NULL, tail[64];
  const uint8_t *p = s->head;
  size_t n = s->head_len, need = 0, tn;
  int r;

  for (;;) {
    r = jpeg_header_parse(p, n, &ji, &need, reason);
    if (r != -ENODATA)
      break;
    if (n >= s->size || n >= (4u << 20)) {
      *reason = n >= s->size ? "truncated: file ends inside the header"
                             : "header larger than 4 MiB";
      r = -EBADMSG;
      break;
    }
    need = need > n ? need : n * 2;
    if (need > (4u << 20))
      need = 4u << 20;
    if (need > s->size)
      need = (size_t)s->size;
    free(heap);
    if (!(heap = malloc(need))) {
      *reason = "out of memory";
      return -ENOMEM;
    }
    if ((r = src_read(s, 0, heap, need)) < 0) {
      *reason = "read error";
      break;
    }
    p = heap;
    n = need;
  }
  free(heap);
  if (r < 0)
    return r;
  in->width = ji.width;
  in->height = ji.height;
  in->precision = ji.precision;
  in->components = ji.components;
  in->orientation = ji.orientation;
  in->progressive = ji.progressive;
  in->arithmetic = ji.arithmetic;
  if ((r = check_pixels(in, reason)) < 0)
    return r;
  if ((r = read_tail(s, tail, &tn)) < 0) {
    *reason = "read error";
    return r == -ENODATA ? -EBADMSG : r;
  }
  if (!jpeg_tail_has_eoi(tail, tn)) {
    /* Rare: data after EOI, or a cut file.  Look through the scans in
     * chunks; a chunk keeps the byte before it, for an FF at the edge. */
    uint8_t buf[65536 + 1];
    uint64_t off = ji.scan_offset;
    bool found = false;

    buf[0] = 0;
    while (!found && off < s->size) {
      size_t k = s->size - off < 65536 ? (size_t)(s->size - off) : 65536;
      if ((r = src_read(s, off, buf + 1, k)) < 0) {
        *reason = "read error";
        return r;
      }
      found = jpeg_scan_has_eoi(off == ji.scan_offset ? buf + 1 : buf,
                                off == ji.scan_offset ? k : k + 1);
      buf[0] = buf[k];
      off += k;
    }
    if (!found) {
      *reason = "truncated: no end-of-image marker";
      return -EBADMSG;
    }
  }
  return 0;
}

/* ---- PNG ---- */

/* The IHDR chunk (h: the file's first 33 bytes): size, bit depth, colour
 * type, interlacing, checked against the PNG rules. */
static int png_ihdr(const uint8_t *h, struct img_info *in, const char **reason)
{
  unsigned depth, ctype;
  int r;

  if (be32(h + 8) != 13 || memcmp(h + 12, "IHDR", 4) != 0) {
    *reason = "corrupt PNG: no IHDR chunk first";
    return -EBADMSG;
  }
  if (pngmeta_crc32(h + 12, 17) != be32(h + 29)) {
    *reason = "corrupt PNG: bad CRC in the IHDR chunk";
    return -EBADMSG;
  }
  in->width = be32(h + 16);
  in->height = be32(h + 20);
  depth = h[24];
  ctype = h[25];
  if (in->width > 0x7fffffffu || in->height > 0x7fffffffu || h[26] != 0 ||
      h[27] != 0 || h[28] > 1) {
    *reason = "corrupt PNG: invalid IHDR values";
    return -EBADMSG;
  }
  switch (ctype) {
  case 0: r = depth == 1 || depth == 2 || depth == 4 || depth == 8 ||
              depth == 16; in->components = 1; break;
  case 2: r = depth == 8 || depth == 16; in->components = 3; break;
  case 3: r = depth == 1 || depth == 2 || depth == 4 || depth == 8;
          in->components = 3; break;
  case 4: r = depth == 8 || depth == 16; in->components = 2; break;
  case 6: r = depth == 8 || depth == 16; in->components = 4; break;
  default: r = 0;
  }
  if (!r) {
    *reason = "corrupt PNG: invalid bit depth or colour type";
    return -EBADMSG;
  }
  in->precision = (uint8_t)depth;
  in->progressive = h[28] == 1;
  return 0;
}

/* PNG orientation, as Pillow finds it (and so CVAT, which loads each
 * picture and then turns it by its EXIF).  Pillow reads the chunks before
 * the image data when it opens a file and the chunks after it when it
 * loads the pixels, each eXIf chunk replacing what an earlier one said:
 * after a load, the LAST eXIf chunk of the file counts, before or after
 * the image data, even one with no orientation in it.  Before the image
 * data it checks CRCs (a bad one and the file does not open: we refuse it
 * too); after it, it does not.  The chunk's data must be the TIFF block
 * itself: Pillow's EXIF reader fails on a copy with a JPEG-style
 * "Exif\0\0" first, and the picture stays as stored. */

/* Largest PNG eXIf or WebP EXIF chunk read (JPEG's APP1 limit is 64 KiB;
 * larger is never met in practice).  A larger one counts as one without
 * orientation. */
#define EXIF_MAX (1u << 20)

/* Bytes at the end of a PNG read for its IEND and for eXIf after the image
 * data: one read, which the header pass made anyway for the IEND check. */
#define PNG_TAIL 4096
/* How far before that tail an eXIf after the image data is looked for, in
 * reads made only when the tail hints at it (png_late()): JPEG's APP1
 * limit, so the EXIF a converter copies from a photo fits. */
#define PNG_LATE_MAX 65536

static bool png_is_type(const uint8_t *t)
{
  for (int i = 0; i < 4; i++)
    if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z')))
      return false;
  return true;
}

/* Chunks walked before the image data: Pillow reads any number, so an
 * eXIf after hundreds of text chunks counts; the bound holds a hostile file
 * to that many small reads (past the first bytes in hand). */
#define PNG_CHUNKS_MAX 4096

/* Largest text chunk read for its EXIF or XMP (an EXIF_MAX block in hex
 * with its line breaks fits); a larger one is passed over. */
#define PNG_TEXT_MAX (4u << 20)

/* The chunk of type ch[4..8) and len bytes at off, an eXIf or a text chunk
 * of a keyword pngmeta.h reads, whole and CRC-checked, into *m (Pillow
 * checks CRCs before the image data: a bad one and the file does not
 * open).  0; 1 when the file ends inside the chunk (the end checks of
 * png_read() report it); -errno with *reason. */
static int png_meta_read(const struct img_src *s, uint64_t off,
                         const uint8_t *ch, uint32_t len, bool crc,
                         struct png_meta *m, const char **reason)
{
  bool exif = memcmp(ch + 4, "eXIf", 4) == 0;
  uint8_t *buf;
  int r;

  if (!exif) {
    uint8_t peek[PNGMETA_KEY_PEEK];
    size_t pn = len < sizeof(peek) ? len : sizeof(peek);

    if (len > PNG_TEXT_MAX)
      return 0;
    if ((r = src_read(s, off + 8, peek, pn)) < 0)
      goto fail;
    if (!pngmeta_wanted(ch + 4, peek, len))
      return 0;
  } else if (len > EXIF_MAX) {
    /* Counts as an eXIf without orientation. */
    return pngmeta_chunk(m, ch + 4, NULL, 0, reason);
  }
  if (!(buf = malloc((size_t)len + 8))) {
    *reason = "out of memory";
    return -ENOMEM;
  }
  memcpy(buf, ch + 4, 4);
  r = src_read(s, off + 8, buf + 4, (size_t)len + 4);
  if (r == 0 && crc &&
      pngmeta_crc32(buf, (size_t)len + 4) != be32(buf + 4 + len)) {
    free(buf);
    *reason = exif ? "corrupt PNG: bad CRC in the eXIf chunk"
                   : "corrupt PNG: bad CRC in a text chunk";
    return -EBADMSG;
  }
  if (r == 0)
    r = pngmeta_chunk(m, buf, buf + 4, len, reason);
  free(buf);
  if (r == -EBADMSG || r == -ENOMEM)
    return r;
fail:
  if (r < 0 && r != -ENODATA) {
    /* A disk or network error, not an unturned picture. */
    *reason = "read error";
    return r;
  }
  return r < 0 ? 1 : 0;
}

/* Walks the chunks before the image data: their eXIf and text chunks into
 * *m, *apng when the file is animated (acTL).  In an animated PNG the walk
 * goes on over the first frame's IDAT chunks to the next frame's fcTL:
 * Pillow's load reads the chunks in between (and no further), without
 * checking their CRCs.  A chunk that cannot be read ends the walk quietly:
 * the tail check of png_read() names the problem. */
static int png_exif(const struct img_src *s, struct png_meta *m, bool *apng,
                    const char **reason)
{
  uint64_t off = 33;
  bool data = false;   /* past the first IDAT (animated PNG only) */
  int r, nidat = 0;

  for (int k = 0; k < PNG_CHUNKS_MAX; k++) {
    uint8_t ch[8];
    uint32_t len;

    if ((r = src_read(s, off, ch, 8)) < 0)
      break;
    len = be32(ch);
    if (len > 0x7fffffffu || memcmp(ch + 4, "IEND", 4) == 0 ||
        (data && (memcmp(ch + 4, "fcTL", 4) == 0 ||
                  memcmp(ch + 4, "fdAT", 4) == 0)))
      break;
    if (memcmp(ch + 4, "IDAT", 4) == 0) {
      if (!*apng)
        break;
      data = true;
      if (++nidat > 4096)
        break;
      k--;   /* image data chunks have their own bound */
      off += 12 + (uint64_t)len;
      continue;
    }
    if (memcmp(ch + 4, "acTL", 4) == 0) {
      uint8_t nf[4];
      /* Pillow counts it animated from two frames on. */
      if (src_read(s, off + 8, nf, 4) == 0 && be32(nf) > 1)
        *apng = true;
    }
    if (memcmp(ch + 4, "eXIf", 4) == 0 || memcmp(ch + 4, "tEXt", 4) == 0 ||
        memcmp(ch + 4, "zTXt", 4) == 0 || memcmp(ch + 4, "iTXt", 4) == 0) {
      if ((r = png_meta_read(s, off, ch, len, !data, m, reason)) < 0)
        return r;
      if (r > 0)
        break;   /* cut inside the chunk: the end checks report it */
    }
    off += 12 + (uint64_t)len;
  }
  return 0;
}

/* Where the chunk that ends at t[e] starts: the largest p with a length
 * field saying so and a type of four letters, or -1.  Lengths in reach are
 * below 2^24, so a length field starts with a zero byte, which compressed
 * data rarely holds: eight bytes without a zero are skipped at once (this
 * scan runs over the whole tail of every PNG). */
static long png_chunk_ending_at(const uint8_t *t, size_t e)
{
  size_t p;

  if (e < 12)
    return -1;
  for (p = e - 12 + 1; p > 0;) {
    if (p >= 8) {
      uint64_t w;
      memcpy(&w, t + p - 8, 8);
      if (!((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)) {
        p -= 8;
        continue;
      }
    }
    p--;
    if (t[p] == 0 && be32(t + p) == e - 12 - p && png_is_type(t + p + 4))
      return (long)p;
  }
  return -1;
}

/* Does the data ending at t[e] (a chunk's, before its CRC) look like
 * something other than compressed image data: EXIF (many zero bytes, or a
 * JPEG thumbnail's end) or text?  Compressed data has a zero byte in 256
 * and few runs of text. */
static bool png_looks_like_metadata(const uint8_t *t, size_t e)
{
  size_t from = e > 256 ? e - 256 : 0, zeros = 0, text = 0;

  if (e - from < 64)
    return true;
  if (t[e - 2] == 0xFF && t[e - 1] == 0xD9)
    return true;
  for (size_t i = from; i < e; i++) {
    zeros += t[i] == 0;
    text += t[i] >= 0x20 && t[i] < 0x7F;
  }
  return zeros >= 8 || text * 10 >= (e - from) * 9;
}

/* Walks back from the IEND chunk that ends t[0..n) (the file's last n
 * bytes) chunk by chunk to the image data, and takes the eXIf and text
 * chunks met into *late, in file order (each keyword's last chunk is met
 * first, so what the walk finds is final for that keyword).  Returns
 * whether the walk reached the image data (an IDAT or fdAT chunk); when it
 * left t[] first, *more says whether the bytes before t[] are worth a
 * look: chunks after the image data were met (a writer of metadata), or
 * the chunk reaching out of t[] does not end like compressed data.
 * Pillow does not check CRCs after the image data, so neither does this. */
static int png_late_walk(const uint8_t *t, size_t n, struct png_meta *late,
                         bool *reached, bool *more, const char **reason)
{
  /* Where each chunk to read starts and ends, in the order met (the
   * file's last first): on the stack for the usual few, else on the heap,
   * room for every chunk t[] can hold (12 bytes each at least). */
  struct span { size_t p, e; } few[64], *at = few;
  size_t e = n - 12, nat = 0, cap = 64;   /* IEND starts at n - 12 */
  bool chunks = false;
  long p;
  int r = 0;

  *more = *reached = false;
  while ((p = png_chunk_ending_at(t, e)) >= 0) {
    const uint8_t *type = t + p + 4;
    size_t len = e - 12 - (size_t)p;

    if (memcmp(type, "IDAT", 4) == 0 || memcmp(type, "fdAT", 4) == 0) {
      *reached = true;
      break;
    }
    if (memcmp(type, "eXIf", 4) == 0 || pngmeta_wanted(type, t + p + 8, len)) {
      if (nat == cap) {
        if (at != few)
          break;   /* cannot happen: cap counts every chunk t[] holds */
        cap = n / 12 + 1;
        if (!(at = malloc(cap * sizeof(*at)))) {
          *reason = "out of memory";
          return -ENOMEM;
        }
        memcpy(at, few, sizeof(few));
      }
      at[nat].p = (size_t)p;
      at[nat++].e = e;
    }
    chunks = true;
    e = (size_t)p;
  }
  if (!*reached)
    *more = chunks || (e >= 4 && png_looks_like_metadata(t, e - 4));
  memset(late, 0, sizeof(*late));
  for (size_t i = nat; i-- > 0 && r == 0;) {
    size_t len = at[i].e - 12 - at[i].p;
    if (memcmp(t + at[i].p + 4, "eXIf", 4) == 0 && len > EXIF_MAX)
      len = 0;   /* as before the image data */
    r = pngmeta_chunk(late, t + at[i].p + 4, t + at[i].p + 8, len, reason);
  }
  if (at != few)
    free(at);
  return r < 0 ? r : 0;
}

/* Whether the chunks after the image data found so far (*late) settle the
 * orientation whatever lies before them: an eXIf with an Orientation or
 * one Pillow fails on; or one without, and an XMP packet. */
static bool png_late_settled(const struct png_meta *late)
{
  uint8_t x = late->state[PNGMETA_EXIF];

  return x == PNGMETA_FAIL || x == PNGMETA_TAG ||
         (x == PNGMETA_NOTAG && late->state[PNGMETA_XMP] != PNGMETA_UNSET);
}

/* The chunks after the image data, over *m (what came before it; each
 * keyword's last chunk counts): found in the tail t[0..tn) already read,
 * else, when that hints at more, in reads reaching 16 KiB, then
 * PNG_LATE_MAX, further back (most EXIF blocks are a few KiB).  The buffer
 * is filled from its end, so each read adds only the bytes before the
 * last. */
static int png_late(const struct img_src *s, const uint8_t *t, size_t tn,
                    struct png_meta *m, const char **reason)
{
  const size_t cap = PNG_LATE_MAX + 12 + PNG_TAIL;
  struct png_meta late;
  size_t have = tn;
  uint8_t *big = NULL;
  bool more, reached;
  int r;

  if ((r = png_late_walk(t, tn, &late, &reached, &more, reason)) < 0)
    return r;
  if (!reached && more && tn < s->size && !png_late_settled(&late)) {
    if (!(big = malloc(cap))) {
      *reason = "out of memory";
      return -ENOMEM;
    }
    memcpy(big + cap - tn, t, tn);
    for (size_t back = 16384; have < s->size; back = cap - tn) {
      size_t want = s->size - tn > back ? back + tn : (size_t)s->size;
      if ((r = src_read(s, s->size - want, big + cap - want,
                        want - have)) < 0)
        break;
      have = want;
      if ((r = png_late_walk(big + cap - have, have, &late, &reached, &more,
                             reason)) < 0 ||
          reached || !more || png_late_settled(&late) || back == cap - tn)
        break;
    }
    free(big);
    if (r == -EBADMSG || r == -ENOMEM)
      return r;
    if (r < 0 && r != -ENODATA) {
      *reason = "read error";
      return r;
    }
  }
  for (int k = 0; k < PNGMETA_NKEYS; k++)
    if (late.state[k] != PNGMETA_UNSET) {
      m->state[k] = late.state[k];
      m->o[k] = late.o[k];
    }
  return 0;
}

static int png_read(const struct img_src *s, struct img_info *in,
                    const char **reason)
{
  static const uint8_t iend[12] = { 0, 0, 0, 0, 'I', 'E', 'N', 'D',
                                    0xAE, 0x42, 0x60, 0x82 };
  uint8_t h[33], tail[PNG_TAIL];
  size_t tn = s->size < PNG_TAIL ? (size_t)s->size : PNG_TAIL;
  struct png_meta m;
  bool apng = false;
  int r;

  memset(&m, 0, sizeof(m));
  if ((r = src_read(s, 0, h, sizeof(h))) < 0) {
    *reason = r == -ENODATA ? "truncated: file ends inside the PNG header"
                            : "read error";
    return r == -ENODATA ? -EBADMSG : r;
  }
  if ((r = png_ihdr(h, in, reason)) < 0 ||
      (r = check_pixels(in, reason)) < 0 ||
      (r = png_exif(s, &m, &apng, reason)) < 0)
    return r;
  if ((r = src_read(s, s->size - tn, tail, tn)) < 0 || tn < 12 ||
      memcmp(tail + tn - 12, iend, 12) != 0) {
    *reason = "truncated: no IEND chunk at the end of the PNG";
    return r < 0 && r != -ENODATA ? r : -EBADMSG;
  }
  /* An animated PNG: Pillow's load stops at the second frame, so the
   * chunks after the image data are not read there. */
  if (!apng && (r = png_late(s, tail, tn, &m, reason)) < 0)
    return r;
  in->orientation = pngmeta_orientation(&m);
  return 0;
}

/* ---- WebP ---- */

static int webp_read(const struct img_src *s, struct img_info *in,
                     const char **reason)
{
  uint8_t h[30];
  uint32_t riff;
  int r;

  if ((r = src_read(s, 0, h, sizeof(h))) < 0) {
    *reason = r == -ENODATA ? "truncated: file ends inside the WebP header"
                            : "read error";
    return r == -ENODATA ? -EBADMSG : r;
  }
  riff = le32(h + 4);
  if (riff < 4 || (uint64_t)riff + 8 > s->size) {
    *reason = riff < 4 ? "corrupt WebP: bad RIFF size"
                       : "truncated: file shorter than its RIFF size";
    return -EBADMSG;
  }
  in->precision = 8;
  in->components = 3;
  if (memcmp(h + 12, "VP8 ", 4) == 0) {
    if ((h[20] & 1) != 0 || h[23] != 0x9d || h[24] != 0x01 || h[25] != 0x2a) {
      *reason = "corrupt WebP: bad VP8 frame header";
      return -EBADMSG;
    }
    in->width = le16(h + 26) & 0x3fff;
    in->height = le16(h + 28) & 0x3fff;
  } else if (memcmp(h + 12, "VP8L", 4) == 0) {
    uint32_t b = le32(h + 21);
    if (h[20] != 0x2f || (b >> 29) != 0) {
      *reason = "corrupt WebP: bad VP8L header";
      return -EBADMSG;
    }
    in->width = (b & 0x3fff) + 1;
    in->height = ((b >> 14) & 0x3fff) + 1;
    in->components = (b >> 28) & 1 ? 4 : 3;
  } else if (memcmp(h + 12, "VP8X", 4) == 0) {
    uint8_t flags = h[20];
    uint64_t off;

    if (flags & 0x02) {
      *reason = "animated WebP is not supported";
      return -EBADMSG;
    }
    in->width = (h[24] | (h[25] << 8) | ((uint32_t)h[26] << 16)) + 1;
    in->height = (h[27] | (h[28] << 8) | ((uint32_t)h[29] << 16)) + 1;
    in->components = flags & 0x10 ? 4 : 3;
    off = 12 + 8 + (uint64_t)le32(h + 16);
    off += off & 1;
    /* Walk the chunks for EXIF (writers put it after the image). */
    for (int k = 0; (flags & 0x08) && k < 64 && off + 8 <= riff + 8; k++) {
      uint8_t ch[8];
      uint32_t len;

      if (src_read(s, off, ch, 8) < 0)
        break;
      len = le32(ch + 4);
      if (memcmp(ch, "EXIF", 4) == 0 && len <= EXIF_MAX) {
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf) {
          *reason = "out of memory";
          return -ENOMEM;
        }
        if (src_read(s, off + 8, buf, len) == 0)
          in->orientation = exif_block_orientation(buf, len);
        free(buf);
        break;
      }
      off += 8 + (uint64_t)len + (len & 1);
    }
  } else {
    *reason = "corrupt WebP: unknown first chunk";
    return -EBADMSG;
  }
  return check_pixels(in, reason);
}

/* ---- TIFF ---- */

/* The TIFF directory and the values it points to usually lie together,
 * often at the end of the file past the first read (libtiff writes them
 * after the image data).  One read of TIFF_WIN bytes around the directory
 * serves them all, where reading each would cost a system call apiece
 * (six per file in a header pass). */
#define TIFF_WIN 4096

struct tiff_src {
  const struct img_src *s;
  uint8_t win[TIFF_WIN];
  uint64_t woff;   /* file offset of win[0] */
  size_t wlen;     /* bytes held; 0: no window */
};

/* Exactly n bytes at off, from the window when it holds them. */
static int tiff_get(const struct tiff_src *t, uint64_t off, void *buf,
                    size_t n)
{
  if (t->wlen && off >= t->woff && n <= t->wlen &&
      off - t->woff <= t->wlen - n) {
    memcpy(buf, t->win + (off - t->woff), n);
    return 0;
  }
  return src_read(t->s, off, buf, n);
}

/* Loads the window for a directory at off when it lies past the first
 * read: the last TIFF_WIN bytes of the file when the directory is among
 * them (its values may come before or after it), else TIFF_WIN bytes from
 * off.  Failing here costs nothing: tiff_get() then reads directly. */
static void tiff_window(struct tiff_src *t, uint64_t off)
{
  const struct img_src *s = t->s;
  uint64_t start = off, len;

  if (off < s->head_len || off >= s->size)
    return;
  if (s->size - off <= TIFF_WIN)
    start = s->size > TIFF_WIN ? s->size - TIFF_WIN : 0;
  len = s->size - start < TIFF_WIN ? s->size - start : TIFF_WIN;
  if (src_read(s, start, t->win, (size_t)len) == 0) {
    t->woff = start;
    t->wlen = (size_t)len;
  }
}

/* One value of an IFD entry: index i of its array (SHORT or LONG). */
static int tiff_value(const struct tiff_src *t, const uint8_t *e, bool le,
                      uint32_t i, uint32_t *ret)
{
  uint16_t type = rd16(e + 2, le);
  uint32_t count = rd32(e + 4, le);
  size_t sz = type == 3 ? 2 : type == 4 ? 4 : 0;
  uint8_t v[4];

  if (!sz || i >= count)
    return -EBADMSG;
  if ((uint64_t)count * sz <= 4) {
    memcpy(v, e + 8 + i * sz, sz);
  } else {
    int r = tiff_get(t, (uint64_t)rd32(e + 8, le) + (uint64_t)i * sz, v, sz);
    if (r < 0)
      return r == -ENODATA ? -EBADMSG : r;
  }
  *ret = sz == 2 ? rd16(v, le) : rd32(v, le);
  return 0;
}

/* The first image directory of a TIFF of byte order le: *ret_ifd
 * (malloc'd, owned by the caller) holds its *ret_count 12-byte entries. */
static int tiff_ifd(struct tiff_src *t, bool le, uint8_t **ret_ifd,
                    uint16_t *ret_count, const char **reason)
{
  uint8_t h[8], *ifd;
  uint32_t off;
  uint16_t count;
  int r;

  if ((r = src_read(t->s, 0, h, 8)) < 0) {
    *reason = "truncated: file ends inside the TIFF header";
    return r == -ENODATA ? -EBADMSG : r;
  }
  if (rd16(h + 2, le) == 43) {
    *reason = "BigTIFF is not supported";
    return -EBADMSG;
  }
  off = rd32(h + 4, le);
  tiff_window(t, off);
  if ((r = tiff_get(t, off, h, 2)) < 0) {
    *reason = "truncated or corrupt TIFF: no image directory";
    return r == -ENODATA ? -EBADMSG : r;
  }
  count = rd16(h, le);
  if (count == 0 || count > 4096) {
    *reason = "corrupt TIFF: bad image directory";
    return -EBADMSG;
  }
  if (!(ifd = malloc((size_t)count * 12))) {
    *reason = "out of memory";
    return -ENOMEM;
  }
  if ((r = tiff_get(t, (uint64_t)off + 2, ifd, (size_t)count * 12)) < 0) {
    free(ifd);
    *reason = "truncated: file ends inside the TIFF directory";
    return r == -ENODATA ? -EBADMSG : r;
  }
  *ret_ifd = ifd;
  *ret_count = count;
  return 0;
}

/* The Orientation of a TIFF file's first directory (count entries at
 * ifd), as Pillow's EXIF reader walks that directory again: the rules of
 * jpeg_tiff_orientation(), with values read from the file.  A later
 * Orientation entry replaces an earlier one, so only the last one before
 * the walk stops is read: one read at most, however many entries a
 * (hostile) directory repeats (each would be a request to a bucket). */
static uint8_t tiff_orientation(const struct tiff_src *t, const uint8_t *ifd,
                                uint16_t count, bool le)
{
  const uint8_t *last = NULL;
  uint16_t type;
  size_t unit;
  uint8_t v[8];

  for (uint16_t i = 0; i < count; i++) {
    const uint8_t *e = ifd + (size_t)i * 12;
    uint64_t size = (uint64_t)rd32(e + 4, le) *
                    jpeg_exif_type_size(rd16(e + 2, le)), off;

    if (size == 0)
      continue;
    off = rd32(e + 8, le);
    if (size > 4 && (off > t->s->size || size > t->s->size - off))
      break;   /* values past the end of the file: Pillow stops here */
    if (rd16(e, le) == 274)
      last = e;
  }
  if (!last)
    return 1;
  type = rd16(last + 2, le);
  unit = jpeg_exif_type_size(type);
  if ((uint64_t)rd32(last + 4, le) * unit <= 4)
    memcpy(v, last + 8, unit);
  else if (tiff_get(t, rd32(last + 8, le), v, unit) < 0)
    return 1;
  return jpeg_exif_orientation_value(type, v, le);
}

static int tiff_read(const struct img_src *s, struct img_info *in,
                     const char **reason)
{
  uint8_t *ifd = NULL;
  const uint8_t *offs = NULL, *cnts = NULL;
  uint32_t spp = 1, bps = 1;
  uint16_t count;
  struct tiff_src ts = { .s = s }, *t = &ts;   /* 4 KiB on the stack */
  bool le = s->head_len > 0 && s->head[0] == 'I', have_w = false;
  int r;

  if ((r = tiff_ifd(t, le, &ifd, &count, reason)) < 0)
    return r;
  in->orientation = tiff_orientation(t, ifd, count, le);
  /* A repeated tag's last entry counts, as in Pillow (what CVAT shows);
   * libtiff keeps the first, so such a file's decode disagrees and it is
   * imported without features, with a note.  Only the last entry's value
   * is read: a (hostile) directory of thousands of repeats costs one read
   * per tag, not one each (from a bucket, every read is a request). */
  const uint8_t *ew = NULL, *eh = NULL, *eb = NULL, *es = NULL;
  for (uint16_t i = 0; i < count; i++) {
    const uint8_t *e = ifd + (size_t)i * 12;
    switch (rd16(e, le)) {
    case 256: ew = e; break;
    case 257: eh = e; break;
    case 258: eb = e; break;
    case 277: es = e; break;
    case 273: case 324: offs = e; break;
    case 279: case 325: cnts = e; break;
    }
  }
  have_w = ew != NULL;
  if (ew)
    r = tiff_value(t, ew, le, 0, &in->width);
  if (r == 0 && eh)
    r = tiff_value(t, eh, le, 0, &in->height);
  if (r == 0 && eb)
    r = tiff_value(t, eb, le, 0, &bps);
  if (r == 0 && es)
    r = tiff_value(t, es, le, 0, &spp);
  if (r == 0 && (!have_w || !offs || !cnts))
    r = -EBADMSG;
  if (r == 0) {
    /* Whole file: the last strip or tile ends inside it. */
    uint32_t n = rd32(offs + 4, le), o = 0, c = 0;
    if (n == 0 || n != rd32(cnts + 4, le) ||
        tiff_value(t, offs, le, n - 1, &o) < 0 ||
        tiff_value(t, cnts, le, n - 1, &c) < 0) {
      r = -EBADMSG;
    } else if ((uint64_t)o + c > s->size) {
      free(ifd);
      *reason = "truncated: TIFF image data ends past the end of the file";
      return -EBADMSG;
    }
  }
  free(ifd);
  if (r < 0) {
    *reason = r == -EBADMSG ? "corrupt TIFF: bad or missing directory entries"
                            : "read error";
    return r;
  }
  if (bps == 0 || bps > 16 || spp == 0 || spp > 8) {
    *reason = "unsupported TIFF sample layout";
    return -EBADMSG;
  }
  in->precision = (uint8_t)bps;
  in->components = (uint8_t)spp;
  return check_pixels(in, reason);
}

/* ---- BMP ---- */

static int bmp_read(const struct img_src *s, struct img_info *in,
                    const char **reason)
{
  uint8_t h[54];
  uint32_t dib, pix, comp = 0, bpp;
  int32_t w, hh;
  uint64_t row, need;
  int r;

  if ((r = src_read(s, 0, h, 26)) < 0) {
    *reason = "truncated: file ends inside the BMP header";
    return r == -ENODATA ? -EBADMSG : r;
  }
  pix = le32(h + 10);
  dib = le32(h + 14);
  if (dib == 12) {
    w = le16(h + 18);
    hh = le16(h + 20);
    bpp = le16(h + 24);
  } else if (dib >= 40 && dib <= 124) {
    if ((r = src_read(s, 0, h, 54)) < 0) {
      *reason = "truncated: file ends inside the BMP header";
      return r == -ENODATA ? -EBADMSG : r;
    }
    w = (int32_t)le32(h + 18);
    hh = (int32_t)le32(h + 22);
    bpp = le16(h + 28);
    comp = le32(h + 30);
  } else {
    *reason = "corrupt BMP: unknown header size";
    return -EBADMSG;
  }
  if (comp == 1 || comp == 2) {
    *reason = "RLE-compressed BMP is not supported";
    return -EBADMSG;
  }
  if ((comp != 0 && comp != 3 && comp != 6) ||
      (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 &&
       bpp != 32)) {
    *reason = "unsupported BMP variant (compression or bits per pixel)";
    return -EBADMSG;
  }
  if (w <= 0 || hh == 0 || hh == INT32_MIN) {
    *reason = w == 0 || hh == 0 ? "zero image dimensions"
                                : "corrupt BMP: negative width";
    return -EBADMSG;
  }
  in->width = (uint32_t)w;
  in->height = (uint32_t)(hh < 0 ? -hh : hh);
  in->precision = 8;
  in->components = bpp == 32 ? 4 : 3;
  if ((r = check_pixels(in, reason)) < 0)
    return r;
  row = (((uint64_t)in->width * bpp + 31) / 32) * 4;
  need = (uint64_t)pix + row * in->height;
  if (pix < 14 + dib || need > s->size) {
    *reason = pix < 14 + dib ? "corrupt BMP: pixel data inside the header"
                             : "truncated: BMP pixel data ends past the end "
                               "of the file";
    return -EBADMSG;
  }
  return 0;
}

/* ---- GIF ---- */

static int gif_read(const struct img_src *s, struct img_info *in,
                    const char **reason)
{
  uint8_t h[10], tail[64];
  size_t tn, end;
  int r;

  if ((r = src_read(s, 0, h, 10)) < 0) {
    *reason = "truncated: file ends inside the GIF header";
    return r == -ENODATA ? -EBADMSG : r;
  }
  in->width = le16(h + 6);
  in->height = le16(h + 8);
  in->precision = 8;
  in->components = 3;
  if ((r = check_pixels(in, reason)) < 0)
    return r;
  if ((r = read_tail(s, tail, &tn)) < 0) {
    *reason = "read error";
    return r;
  }
  end = tn;
  while (end > 0 && tn - end < 16 && (tail[end - 1] == 0 ||
                                      tail[end - 1] == '\n'))
    end--;
  if (s->size < 14 || end == 0 || tail[end - 1] != 0x3B) {
    *reason = "truncated: no trailer at the end of the GIF";
    return -EBADMSG;
  }
  return 0;
}

/* ---- the format table ---- */

static bool jpeg_sniff(const uint8_t *p, size_t n)
{
  return n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF;
}

static bool png_sniff(const uint8_t *p, size_t n)
{
  return n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0;
}

static bool webp_sniff(const uint8_t *p, size_t n)
{
  return n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0;
}

/* Classic TIFF and BigTIFF (recognised so that the header read can say
 * BigTIFF is not supported), either byte order. */
static bool tiff_sniff(const uint8_t *p, size_t n)
{
  return n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0 ||
                    memcmp(p, "II+\0", 4) == 0 || memcmp(p, "MM\0+", 4) == 0);
}

static bool bmp_sniff(const uint8_t *p, size_t n)
{
  return n >= 2 && p[0] == 'B' && p[1] == 'M';
}

static bool gif_sniff(const uint8_t *p, size_t n)
{
  return n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0);
}

/* One entry per format, indexed by enum img_format: the extension and
 * name the mount shows, how the bytes start, and how the header is read.
 * The signatures are disjoint, so the order of the walk in img_sniff()
 * does not matter.  Decoding is not here: imgcodec.c has its own table
 * (codec_i.h), so reading headers needs no decoder. */
static const struct fmt_entry {
  const char *ext, *name;
  bool (*sniff)(const uint8_t *p, size_t n);
  int (*read)(const struct img_src *s, struct img_info *in,
              const char **reason);
} formats[IMG_NFORMATS] = {
  [IMG_JPEG] = { ".jpg", "JPEG", jpeg_sniff, jpeg_read },
  [IMG_PNG] = { ".png", "PNG", png_sniff, png_read },
  [IMG_WEBP] = { ".webp", "WebP", webp_sniff, webp_read },
  [IMG_TIFF] = { ".tif", "TIFF", tiff_sniff, tiff_read },
  [IMG_BMP] = { ".bmp", "BMP", bmp_sniff, bmp_read },
  [IMG_GIF] = { ".gif", "GIF", gif_sniff, gif_read },
};

const char *img_ext(int format)
{
  return format >= 0 && format < IMG_NFORMATS ? formats[format].ext : NULL;
}

const char *img_format_name(int format)
{
  return format >= 0 && format < IMG_NFORMATS ? formats[format].name
                                               : "unknown";
}

int img_sniff(const uint8_t *p, size_t n)
{
  for (int f = 0; f < IMG_NFORMATS; f++)
    if (formats[f].sniff(p, n))
      return f;
  return -1;
}

int img_header_read(const struct img_src *src, struct img_info *ret,
                    const char **reason)
{
  int fmt;

  memset(ret, 0, sizeof(*ret));
  ret->orientation = 1;
  *reason = NULL;
  if (src->size == 0) {
    *reason = "empty file";
    return -EBADMSG;
  }
  fmt = img_sniff(src->head, src->head_len);
  if (fmt < 0) {
    *reason = "not an image: unknown format (no JPEG, PNG, WebP, TIFF, BMP "
              "or GIF signature)";
    return -EBADMSG;
  }
  ret->format = (enum img_format)fmt;
  return formats[fmt].read(src, ret, reason);
}
