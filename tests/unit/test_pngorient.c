/* test_pngorient.c - where the PNG header read (core/image/imgfmt.h) finds
 * the EXIF orientation, built byte by byte in memory: eXIf chunks before
 * and after the image data, several of them, damaged ones, an animated
 * PNG, and "eXIf" met inside compressed data.  The rules are Pillow's
 * after a load (what CVAT turns its frames by; fs-formats checks the same
 * files against Debian's Pillow).  Every read beyond the first bytes is
 * counted: a file of 60 IDAT chunks costs the same one tail read as one
 * of a single chunk, and one more read only when metadata follows its
 * image data beyond that tail.
 */
#include "testlib.h"
#include "imgfmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct pb {
  uint8_t b[1 << 20];
  size_t n;
};

static struct pb P;  /* one builder, too large for the stack */

/* The PNG CRC, bit by bit (not the reader's table code). */
static uint32_t crc(const uint8_t *p, size_t n)
{
  uint32_t c = 0xFFFFFFFFu;

  while (n--) {
    c ^= *p++;
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

static void be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* A chunk of type t and n data bytes; bad_crc flips its CRC. */
static void chunk(const char *t, const void *d, size_t n, bool bad_crc)
{
  uint8_t *c = P.b + P.n;

  be32(c, (uint32_t)n);
  memcpy(c + 4, t, 4);
  if (n)
    memcpy(c + 8, d, n);
  be32(c + 8 + n, crc(c + 4, n + 4) ^ (bad_crc ? 1u : 0u));
  P.n += 12 + n;
}

/* Signature and IHDR of a 40 x 30 RGB picture. */
static void start(void)
{
  static const uint8_t ihdr[13] = { 0, 0, 0, 40, 0, 0, 0, 30, 8, 2, 0, 0, 0 };

  P.n = 0;
  memcpy(P.b, "\x89PNG\r\n\x1a\n", 8);
  P.n = 8;
  chunk("IHDR", ihdr, 13, false);
}

/* nchunks IDAT chunks of size bytes each of pseudo-random data, in which
 * "eXIf" appears now and then with a length that leads nowhere (the
 * header read must not take those for chunks). */
static void idat(int nchunks, size_t size)
{
  static uint8_t d[65536];
  uint32_t x = 12345;

  for (int k = 0; k < nchunks; k++) {
    for (size_t i = 0; i < size; i++) {
      x = x * 1103515245u + 12345u;
      d[i] = (uint8_t)(x >> 16);
    }
    for (size_t i = 64; i + 8 < size; i += 997)
      memcpy(d + i, "\0\0\0\x10" "eXIf", 8);
    chunk("IDAT", d, size, false);
  }
}

static void iend(void)
{
  chunk("IEND", NULL, 0, false);
}

/* An EXIF payload: a TIFF block whose IFD0 holds Orientation o (SHORT),
 * or no entry at all when o is 0; with prefix, "Exif\0\0" first. */
static void exif(unsigned o, bool prefix, bool bad_crc)
{
  uint8_t t[32] = "II*\0\x08\0\0\0";
  size_t n = 0;

  if (prefix) {
    memcpy(t, "Exif\0\0II*\0\x08\0\0\0", 14);
    n = 6;
  }
  if (o) {
    static const uint8_t e[18] = { 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0 };
    memcpy(t + n + 8, e, 18);
    t[n + 8 + 10] = (uint8_t)o;
    n += 8 + 18;
  } else {
    memset(t + n + 8, 0, 6);
    n += 8 + 6;
  }
  chunk("eXIf", t, n, bad_crc);
}

/* An EXIF payload of n bytes (n > 64): IFD0 with Orientation o, then
 * maker-note-like values (bytes with many zeros), ending with a JPEG
 * thumbnail's last bytes when thumb is set. */
static void exif_big(unsigned o, size_t n, bool thumb)
{
  static uint8_t t[1 << 17];
  static const uint8_t head[26] = { 'I', 'I', '*', 0, 8, 0, 0, 0, 1, 0, 0x12,
                                    0x01, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
  uint32_t x = 777;

  memcpy(t, head, sizeof(head));
  t[8 + 10] = (uint8_t)o;
  for (size_t i = sizeof(head); i < n; i++) {
    x = x * 1103515245u + 12345u;
    t[i] = (i & 3) == 0 ? (uint8_t)(x >> 16) : (i & 3) == 1 ? 0 : (uint8_t)i;
  }
  if (thumb) {
    for (size_t i = n - 300; i < n; i++) {
      x = x * 1103515245u + 12345u;
      t[i] = (uint8_t)((x >> 16) | 1);
    }
    t[n - 2] = 0xFF;
    t[n - 1] = 0xD9;
  }
  chunk("eXIf", t, n, false);
}

static void text(size_t n)
{
  static uint8_t d[16384];

  memcpy(d, "Comment", 8);
  memset(d + 8, 'x', n - 8);
  chunk("tEXt", d, n, false);
}

struct counted {
  const uint8_t *p;
  size_t n;
  int reads;
};

/* Reads that touch [fail_lo, fail_hi) fail with EIO (a disk error). */
static uint64_t fail_lo, fail_hi;

static long cread(void *ud, uint64_t off, void *buf, size_t n)
{
  struct counted *c = ud;

  c->reads++;
  if (off < fail_hi && off + n > fail_lo)
    return -EIO;
  if (off >= c->n)
    return 0;
  if (n > c->n - off)
    n = c->n - (size_t)off;
  memcpy(buf, c->p + off, n);
  return (long)n;
}

/* Reads the header of P as the import does (the first 4 KiB in hand);
 * returns the orientation, or the negative errno; *reads: reads beyond
 * those first bytes. */
static int orient(int *reads)
{
  struct counted c = { P.b, P.n, 0 };
  struct img_src s = { P.b, P.n < 4096 ? P.n : 4096, P.n, cread, &c };
  struct img_info in;
  const char *why;
  int r = img_header_read(&s, &in, &why);

  if (reads)
    *reads = c.reads;
  if (r == 0) {
    CHECK_INT_EQ(in.width, 40);
    CHECK_INT_EQ(in.height, 30);
  }
  return r < 0 ? r : in.orientation;
}

TEST(exif_after_image_data)
{
  int reads;

  /* 60 IDAT chunks of 8 KiB (libpng's size), eXIf after them: one read
   * of the file's tail, as without it. */
  start();
  idat(60, 8192);
  exif(6, false, false);
  iend();
  CHECK_INT_EQ(orient(&reads), 6);
  CHECK_INT_EQ(reads, 1);
  start();
  idat(60, 8192);
  iend();
  CHECK_INT_EQ(orient(&reads), 1);
  CHECK_INT_EQ(reads, 1);
  /* One large IDAT, eXIf after it and a tEXt chunk after that. */
  start();
  idat(1, 60000);
  exif(8, false, false);
  text(2000);
  iend();
  CHECK_INT_EQ(orient(&reads), 8);
  CHECK_INT_EQ(reads, 1);
  /* Pillow does not check CRCs after the image data, so neither do we. */
  start();
  idat(3, 8192);
  exif(3, false, true);
  iend();
  CHECK_INT_EQ(orient(NULL), 3);
}

/* An eXIf after the image data that, with what follows it, does not fit
 * in the 4 KiB tail: reads reaching 16 KiB, then 64 KiB, further back,
 * made only when the tail hints at metadata, find it. */
TEST(large_exif_after_image_data)
{
  int reads;

  /* As ImageMagick writes a converted photo: eXIf (here 20 KB), then
   * two tEXt chunks. */
  start();
  idat(60, 8192);
  exif_big(6, 20000, false);
  text(40);
  text(40);
  iend();
  CHECK_INT_EQ(orient(&reads), 6);
  CHECK_INT_EQ(reads, 2);
  /* A large eXIf right before IEND, ending in values or in a thumbnail;
   * past 16 KiB back, one read more. */
  start();
  idat(60, 8192);
  exif_big(8, 30000, false);
  iend();
  CHECK_INT_EQ(orient(&reads), 8);
  CHECK_INT_EQ(reads, 3);
  start();
  idat(60, 8192);
  exif_big(5, 30000, true);
  iend();
  CHECK_INT_EQ(orient(NULL), 5);
  /* Small eXIf, then 5 KB of text after it. */
  start();
  idat(3, 8192);
  exif(6, false, false);
  text(5000);
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
  /* A large eXIf before the image data and a large one after. */
  start();
  exif_big(3, 30000, false);
  idat(10, 8192);
  exif_big(7, 30000, false);
  text(40);
  iend();
  CHECK_INT_EQ(orient(NULL), 7);
  /* Past the 64 KiB look-back: not seen (documented limit). */
  start();
  idat(10, 8192);
  exif_big(6, 70000, false);
  text(40);
  iend();
  CHECK_INT_EQ(orient(NULL), 1);
  /* No metadata after the data: the tail alone decides, with large or
   * small IDAT chunks (the chunk before IEND starts outside the tail). */
  start();
  idat(2, 60000);
  iend();
  CHECK_INT_EQ(orient(&reads), 1);
  CHECK_INT_EQ(reads, 1);
}

TEST(last_exif_counts)
{
  /* Before 6, after 8: Pillow's load reads the later one over it. */
  start();
  exif(6, false, false);
  idat(4, 8192);
  exif(8, false, false);
  iend();
  CHECK_INT_EQ(orient(NULL), 8);
  /* Before 6, after an eXIf without orientation: none. */
  start();
  exif(6, false, false);
  idat(4, 8192);
  exif(0, false, false);
  iend();
  CHECK_INT_EQ(orient(NULL), 1);
  /* Two before, two after. */
  start();
  exif(5, false, false);
  exif(7, false, false);
  idat(2, 100);
  iend();
  CHECK_INT_EQ(orient(NULL), 7);
  start();
  idat(2, 100);
  exif(5, false, false);
  exif(2, false, false);
  iend();
  CHECK_INT_EQ(orient(NULL), 2);
  /* A small file, wholly in the tail: an eXIf before the image data is
   * not taken for one after it. */
  start();
  exif(6, false, false);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
}

TEST(damaged_or_odd_exif)
{
  /* Before the image data a bad CRC makes Pillow refuse the file. */
  start();
  exif(6, false, true);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), -EBADMSG);
  /* "Exif\0\0" first: Pillow's EXIF reader fails, the picture stays. */
  start();
  exif(6, true, false);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 1);
  start();
  idat(1, 300);
  exif(6, true, false);
  iend();
  CHECK_INT_EQ(orient(NULL), 1);
}

TEST(read_error_is_reported)
{
  /* A disk error inside an eXIf before the image data (past the bytes in
   * hand) is the header's error, not an unturned picture. */
  start();
  exif_big(6, 8192, false);
  fail_lo = 4096;
  fail_hi = P.n;
  idat(4, 8192);   /* the tail the header pass reads stays clear of it */
  iend();
  CHECK_INT_EQ(orient(NULL), -EIO);
  fail_lo = fail_hi = 0;
  CHECK_INT_EQ(orient(NULL), 6);
}

/* The next frame of an animation: its fcTL and one fdAT chunk. */
static void next_frame(void)
{
  static const uint8_t fctl[26] = { 0, 0, 0, 1, 0, 0, 0, 40, 0, 0, 0, 30 };
  static const uint8_t fdat[12] = { 0, 0, 0, 2, 1, 2, 3, 4 };

  chunk("fcTL", fctl, sizeof(fctl), false);
  chunk("fdAT", fdat, sizeof(fdat), false);
}

TEST(animated_png)
{
  uint8_t actl[8] = { 0, 0, 0, 2, 0, 0, 0, 0 };

  /* Pillow's load of an animation stops at the second frame's fcTL: an
   * eXIf after it is not read; one between the first frame's image data
   * and that fcTL is (its CRC unchecked, as after the image data).  With
   * a single frame the whole file is read. */
  start();
  chunk("acTL", actl, 8, false);
  idat(2, 1000);
  next_frame();
  exif(6, false, false);
  iend();
  CHECK_INT_EQ(orient(NULL), 1);
  start();
  chunk("acTL", actl, 8, false);
  idat(2, 1000);
  exif(6, false, true);
  next_frame();
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
  start();
  chunk("acTL", actl, 8, false);
  idat(2, 1000);
  exif(6, false, false);
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
  actl[3] = 1;
  start();
  chunk("acTL", actl, 8, false);
  idat(2, 1000);
  exif(6, false, false);
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
}

/* ---- text chunks ---- */

static uint8_t T[1 << 19];   /* a text chunk's data being built */

/* A TIFF block whose IFD0 holds Orientation o (SHORT, little-endian), or
 * no entry at all for o == 0; its length. */
static size_t tiff_block(uint8_t *t, unsigned o)
{
  static const uint8_t e[18] = { 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0 };

  memcpy(t, "II*\0\x08\0\0\0", 8);
  if (!o) {
    memset(t + 8, 0, 6);
    return 14;
  }
  memcpy(t + 8, e, 18);
  t[18] = (uint8_t)o;
  return 26;
}

/* keyword, NUL, then for zTXt the method byte and the zlib stream of v,
 * for iTXt the flags (compressed when itxt_z), two empty tags and v. */
static void text_chunk(const char *type, const char *key, const void *v,
                       size_t n, int method, bool bad_crc)
{
  static uint8_t z[1 << 19];
  size_t k = strlen(key) + 1, at;
  uLongf zn = sizeof(z);

  memcpy(T, key, k);
  at = k;
  if (strcmp(type, "tEXt") == 0) {
    memcpy(T + at, v, n);
    chunk("tEXt", T, at + n, bad_crc);
    return;
  }
  if (strcmp(type, "zTXt") == 0)
    T[at++] = (uint8_t)method;
  else {
    T[at++] = method >= 0;   /* iTXt: compressed, and how */
    T[at++] = (uint8_t)(method >= 0 ? method : 0);
    T[at++] = 0;
    T[at++] = 0;
  }
  if (method >= 0) {
    CHECK(compress(z, &zn, v, n) == Z_OK);
    memcpy(T + at, z, zn);
    at += zn;
  } else {
    memcpy(T + at, v, n);
    at += n;
  }
  chunk(strcmp(type, "zTXt") == 0 ? "zTXt" : "iTXt", T, at, bad_crc);
}

/* ImageMagick's raw profile of EXIF with Orientation o: "\nexif\n", the
 * length, then "Exif\0\0" and the block in hex, 72 digits a line; pad
 * zero bytes after the block.  Its length. */
static size_t raw_profile(char *out, unsigned o, size_t pad)
{
  static uint8_t b[1 << 17];
  size_t n = 6, m, col = 0;

  memcpy(b, "Exif\0\0", 6);
  n += tiff_block(b + 6, o);
  memset(b + n, 0, pad);
  n += pad;
  m = (size_t)sprintf(out, "\nexif\n%8zu\n", n);
  for (size_t i = 0; i < n; i++) {
    m += (size_t)sprintf(out + m, "%02x", b[i]);
    if ((col += 2) == 72) {
      out[m++] = '\n';
      col = 0;
    }
  }
  out[m++] = '\n';
  return m;
}

#define RAW "Raw profile type exif"
#define XMP "XML:com.adobe.xmp"

static void raw(const char *type, unsigned o, int method)
{
  static char r[1 << 18];
  size_t n = raw_profile(r, o, 0);

  text_chunk(type, RAW, r, n, method, false);
}

/* An XMP packet with tiff:Orientation o as attribute or element. */
static void xmp(unsigned o, bool element, int method)
{
  char x[400];
  int n = element
    ? snprintf(x, sizeof(x), "<x:xmpmeta><rdf:Description><tiff:Orientation>"
               "%u</tiff:Orientation></rdf:Description></x:xmpmeta>", o)
    : snprintf(x, sizeof(x), "<x:xmpmeta><rdf:Description tiff:Orientation="
               "\"%u\"/></x:xmpmeta>", o);

  text_chunk("iTXt", XMP, x, (size_t)n, method, false);
}

TEST(raw_profile_and_xmp)
{
  static const char *kinds[] = { "tEXt", "zTXt", "iTXt" };

  /* The raw profile alone, in each kind of text chunk, compressed or
   * not; before and after the image data. */
  for (int k = 0; k < 3; k++) {
    start();
    raw(kinds[k], 6, k == 1 ? 0 : -1);
    idat(1, 300);
    iend();
    CHECK_INT_EQ(orient(NULL), 6);
    start();
    idat(1, 300);
    raw(kinds[k], 8, 0);
    iend();
    CHECK_INT_EQ(orient(NULL), 8);
  }
  /* XMP alone: attribute or element, plain or compressed. */
  start();
  xmp(8, false, -1);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 8);
  start();
  xmp(5, true, 0);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 5);
  /* 9 and 0 are read and turn nothing. */
  start();
  xmp(9, false, -1);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 1);
}

TEST(which_wins)
{
  uint8_t b[32];
  size_t n;

  /* eXIf over the raw profile, even one without an Orientation. */
  start();
  exif(6, false, false);
  raw("zTXt", 8, 0);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
  start();
  exif(0, false, false);
  raw("zTXt", 8, 0);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 1);
  /* XMP only when the EXIF has no Orientation entry. */
  start();
  exif(0, false, false);
  xmp(8, false, -1);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 8);
  start();
  exif(6, false, false);
  xmp(8, false, -1);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
  start();
  raw("tEXt", 3, -1);
  xmp(8, false, -1);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 3);
  /* An EXIF reader that fails (a JPEG prefix in eXIf, bad hex) leaves the
   * picture as stored: XMP is not looked at. */
  start();
  exif(6, true, false);
  xmp(8, false, -1);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 1);
  start();
  text_chunk("tEXt", RAW, "\nexif\n 4\n45786g", 15, -1, false);
  xmp(8, false, -1);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 1);
  /* A raw profile with no hex lines reads as nothing: XMP counts. */
  start();
  text_chunk("tEXt", RAW, "\nexif\n", 6, -1, false);
  xmp(7, false, -1);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 7);
  /* Each keyword's last chunk counts, after the image data too; an XMP
   * before, an eXIf without Orientation after: the XMP. */
  start();
  xmp(6, false, -1);
  idat(2, 300);
  xmp(3, true, -1);
  iend();
  CHECK_INT_EQ(orient(NULL), 3);
  start();
  xmp(7, false, -1);
  idat(2, 300);
  exif(0, false, false);
  iend();
  CHECK_INT_EQ(orient(NULL), 7);
  /* A tEXt chunk named "exif" holds EXIF bytes for Pillow too. */
  start();
  n = tiff_block(b, 5);
  text_chunk("tEXt", "exif", b, n, -1, false);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 5);
  /* An animated PNG: text after the second frame's fcTL is not read,
   * text before it is. */
  {
    uint8_t actl[8] = { 0, 0, 0, 2, 0, 0, 0, 0 };
    start();
    chunk("acTL", actl, 8, false);
    idat(2, 1000);
    next_frame();
    xmp(6, false, -1);
    iend();
    CHECK_INT_EQ(orient(NULL), 1);
    start();
    chunk("acTL", actl, 8, false);
    idat(2, 1000);
    raw("zTXt", 8, 0);
    next_frame();
    xmp(6, false, -1);
    iend();
    CHECK_INT_EQ(orient(NULL), 8);
  }
}

/* Text after the image data: found by the same walk from the end as an
 * eXIf, and when it does not fit in the 4 KiB tail, by the same reads
 * further back.  Unlike an eXIf with an Orientation, a raw profile or an
 * XMP packet does not end the walk: an eXIf before it would win, so the
 * walk goes on to the image data (one read of 16 KiB more, as for any
 * text after the image data). */
TEST(large_text_after_image_data)
{
  static char x[24000], r[1 << 17];
  int reads, n;
  size_t rn;

  start();
  idat(60, 8192);
  raw("tEXt", 6, -1);
  text(40);
  iend();
  CHECK_INT_EQ(orient(&reads), 6);
  CHECK_INT_EQ(reads, 2);
  n = snprintf(x, sizeof(x), "<x:xmpmeta tiff:Orientation=\"8\">");
  memset(x + n, ' ', 20000);
  start();
  idat(60, 8192);
  text_chunk("iTXt", XMP, x, (size_t)n + 20000, -1, false);
  text(40);
  text(40);
  iend();
  CHECK_INT_EQ(orient(&reads), 8);
  CHECK_INT_EQ(reads, 3);
  /* A raw profile of 9 KB of EXIF (18 KB of hex) right before IEND. */
  rn = raw_profile(r, 3, 9000);
  start();
  idat(60, 8192);
  text_chunk("tEXt", RAW, r, rn, -1, false);
  iend();
  CHECK_INT_EQ(orient(&reads), 3);
  CHECK_INT_EQ(reads, 3);
}

TEST(text_chunk_refusals)
{
  static char big[(1 << 20) + 100];
  static char r[4096];
  size_t rn = raw_profile(r, 6, 0);

  /* A bad CRC before the image data: Pillow does not open the file. */
  start();
  text_chunk("tEXt", RAW, r, rn, -1, true);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), -EBADMSG);
  /* A zTXt of an unknown compression method, before or after. */
  start();
  text_chunk("zTXt", XMP, r, rn, 1, false);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), -EBADMSG);
  start();
  idat(1, 300);
  text_chunk("zTXt", RAW, r, rn, 1, false);
  iend();
  CHECK_INT_EQ(orient(NULL), -EBADMSG);
  /* Compressed text over 1 MiB: Pillow refuses it (at 1 MiB it reads). */
  memset(big, ' ', sizeof(big));
  memcpy(big, "tiff:Orientation=\"6\"", 20);
  start();
  text_chunk("zTXt", XMP, big, sizeof(big), 0, false);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), -EBADMSG);
  start();
  text_chunk("zTXt", XMP, big, 1 << 20, 0, false);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
  /* Broken zlib data in a zTXt reads as empty text (XMP then counts); in
   * an iTXt the chunk is passed over. */
  start();
  text_chunk("tEXt", RAW, r, rn, -1, false);
  chunk("zTXt", RAW "\0\0garbage", sizeof(RAW) + 8, false);
  xmp(8, false, -1);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 8);
  start();
  xmp(7, false, -1);
  chunk("iTXt", XMP "\0\1\0\0\0garbage", sizeof(XMP) + 11, false);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 7);
}

/* Many chunks, as Pillow reads any number of them: 300 text chunks
 * before the image data and then an eXIf; an eXIf after the image data
 * followed by 70 XMP packets without an Orientation (each keyword's last
 * chunk counts, and the eXIf's Orientation wins over XMP). */
TEST(many_chunks)
{
  static const char x[] = "<x:xmpmeta/>";

  start();
  for (int i = 0; i < 300; i++)
    text_chunk("tEXt", "Comment", "hello", 5, -1, false);
  exif(6, false, false);
  idat(1, 300);
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
  start();
  idat(1, 300);
  exif(6, false, false);
  for (int i = 0; i < 70; i++)
    text_chunk("tEXt", "XML:com.adobe.xmp", x, sizeof(x) - 1, -1, false);
  iend();
  CHECK_INT_EQ(orient(NULL), 6);
}

TEST_MAIN(T(exif_after_image_data), T(large_exif_after_image_data),
          T(read_error_is_reported),
          T(last_exif_counts),
          T(damaged_or_odd_exif), T(animated_png), T(raw_profile_and_xmp),
          T(which_wins), T(large_text_after_image_data),
          T(text_chunk_refusals), T(many_chunks))
