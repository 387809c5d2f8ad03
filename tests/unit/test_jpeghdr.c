/* test_jpeghdr.c - the JPEG header reader (core/image/jpeghdr.h).
 *
 * Builds small JPEG byte streams by hand, marker by marker (SOI, APP0/JFIF,
 * APP1/Exif with an Orientation tag in Intel and Motorola byte order, DQT,
 * COM, SOFn with chosen dimensions, SOS), and checks what
 * jpeg_header_parse() reports for them: size, precision, components, coding
 * flags, orientation and the offset of the first scan.  Then the refusals
 * and their reasons (empty, PNG, GIF, 12-bit, lossless, hierarchical, zero
 * size, odd component counts, broken structure), -ENODATA with a sufficient
 * size hint for every cut inside a header, and the two end-of-image checks
 * (trailing padding; FF00 stuffing and RSTn markers inside scans).  No
 * pixels are ever decoded.
 */
#include <errno.h>

#include "jpeghdr.h"
#include "testlib.h"

struct jb {
  uint8_t b[70000];
  size_t n;
};

static void put(struct jb *j, const void *p, size_t n)
{
  memcpy(j->b + j->n, p, n);
  j->n += n;
}

static void u8(struct jb *j, unsigned v)
{
  j->b[j->n++] = (uint8_t)v;
}

static void u16be(struct jb *j, unsigned v)
{
  u8(j, (v >> 8) & 0xff);
  u8(j, v & 0xff);
}

/* TIFF integers in the byte order of the Exif block. */
static void u16t(struct jb *j, bool le, unsigned v)
{
  if (le) {
    u8(j, v & 0xff);
    u8(j, (v >> 8) & 0xff);
  } else {
    u16be(j, v);
  }
}

static void u32t(struct jb *j, bool le, uint32_t v)
{
  if (le) {
    u16t(j, true, v & 0xffff);
    u16t(j, true, v >> 16);
  } else {
    u16t(j, false, v >> 16);
    u16t(j, false, v & 0xffff);
  }
}

static void soi(struct jb *j)
{
  u8(j, 0xFF);
  u8(j, 0xD8);
}

static void app0_jfif(struct jb *j)
{
  static const uint8_t seg[] = {
    0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
  };
  put(j, seg, sizeof(seg));
}

/* One 8-bit quantisation table of 64 ones. */
static void dqt(struct jb *j)
{
  u8(j, 0xFF);
  u8(j, 0xDB);
  u16be(j, 2 + 1 + 64);
  u8(j, 0x00);
  for (int i = 0; i < 64; i++)
    u8(j, 1);
}

static void com(struct jb *j, const char *text)
{
  size_t n = strlen(text);

  u8(j, 0xFF);
  u8(j, 0xFE);
  u16be(j, (unsigned)(2 + n));
  put(j, text, n);
}

/* APP1 Exif block with IFD0 holding a Make entry and then Orientation of
 * TIFF type `type` (3 SHORT, 4 LONG). */
static void app1_exif_typed(struct jb *j, bool le, unsigned type,
                            unsigned orientation)
{
  size_t lenpos;
  unsigned len;

  u8(j, 0xFF);
  u8(j, 0xE1);
  lenpos = j->n;
  u16be(j, 0);                    /* patched below */
  put(j, "Exif\0\0", 6);
  put(j, le ? "II*\0" : "MM\0*", 4);
  u32t(j, le, 8);                 /* IFD0 right after the TIFF header */
  u16t(j, le, 2);                 /* two entries */
  u16t(j, le, 0x010F);            /* Make, ASCII, 4 bytes inline */
  u16t(j, le, 2);
  u32t(j, le, 4);
  put(j, "abc\0", 4);
  u16t(j, le, 0x0112);            /* Orientation, 1 value */
  u16t(j, le, type);
  u32t(j, le, 1);
  if (type == 4) {
    u32t(j, le, orientation);
  } else {
    u16t(j, le, orientation);     /* left-justified in the 4-byte field */
    u16t(j, le, 0);
  }
  u32t(j, le, 0);                 /* no next IFD */
  len = (unsigned)(j->n - lenpos);
  j->b[lenpos] = (uint8_t)(len >> 8);
  j->b[lenpos + 1] = (uint8_t)len;
}

static void app1_exif(struct jb *j, bool le, unsigned orientation)
{
  app1_exif_typed(j, le, 3, orientation);
}

static void sof(struct jb *j, unsigned idx, unsigned prec, unsigned w,
                unsigned h, unsigned comps)
{
  u8(j, 0xFF);
  u8(j, 0xC0 + idx);
  u16be(j, 8 + 3 * comps);
  u8(j, prec);
  u16be(j, h);
  u16be(j, w);
  u8(j, comps);
  for (unsigned c = 0; c < comps; c++) {
    u8(j, c + 1);
    u8(j, c == 0 ? 0x22 : 0x11);
    u8(j, c == 0 ? 0 : 1);
  }
}

static void sos(struct jb *j, unsigned comps)
{
  u8(j, 0xFF);
  u8(j, 0xDA);
  u16be(j, 6 + 2 * comps);
  u8(j, comps);
  for (unsigned c = 0; c < comps; c++) {
    u8(j, c + 1);
    u8(j, c == 0 ? 0x00 : 0x11);
  }
  u8(j, 0x00);
  u8(j, 0x3F);
  u8(j, 0x00);
}

static void entropy_and_eoi(struct jb *j)
{
  static const uint8_t d[] = { 0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9 };
  put(j, d, sizeof(d));
}

/* SOI APP0 SOFn SOS <data> EOI */
static void simple(struct jb *j, unsigned idx, unsigned prec, unsigned w,
                   unsigned h, unsigned comps)
{
  j->n = 0;
  soi(j);
  app0_jfif(j);
  sof(j, idx, prec, w, h, comps);
  sos(j, comps);
  entropy_and_eoi(j);
}

static int parse(const struct jb *j, struct jpeg_info *info, size_t *need,
                 const char **reason)
{
  *reason = NULL;
  return jpeg_header_parse(j->b, j->n, info, need, reason);
}

/* Parses and expects a rejection whose reason contains `word`. */
#define CHECK_REJECT(j, word)                                              \
  do {                                                                     \
    struct jpeg_info i_;                                                   \
    size_t need_ = 12345;                                                  \
    const char *why_;                                                      \
    CHECK_INT_EQ(parse((j), &i_, &need_, &why_), -EBADMSG);                \
    CHECK(why_);                                                           \
    if (why_ && !strstr(why_, (word))) {                                   \
      fprintf(stderr, "%s:%d: reason \"%s\" lacks \"%s\"\n", __FILE__,     \
              __LINE__, why_, (word));                                     \
      tl_failed = 1;                                                       \
    }                                                                      \
  } while (0)

static struct jb J;  /* one builder, too large for the stack */

TEST(baseline)
{
  struct jpeg_info info;
  size_t need = 99;
  const char *why;

  simple(&J, 0, 8, 640, 480, 3);
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.width, 640);
  CHECK_INT_EQ(info.height, 480);
  CHECK_INT_EQ(info.precision, 8);
  CHECK_INT_EQ(info.components, 3);
  CHECK_INT_EQ(info.sof, 0);
  CHECK(!info.progressive);
  CHECK(!info.arithmetic);
  CHECK_INT_EQ(info.orientation, 1);
  /* SOI (2) + APP0 (2 + 16) + SOF0 with 3 components (2 + 17) = 39. */
  CHECK_INT_EQ(info.scan_offset, 39);
}

TEST(width_and_height_not_swapped)
{
  struct jpeg_info info;
  size_t need;
  const char *why;

  /* SOF stores height first; 1 x 65535 and 65535 x 1 must stay apart. */
  simple(&J, 0, 8, 1, 65535, 1);
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.width, 1);
  CHECK_INT_EQ(info.height, 65535);
  CHECK_INT_EQ(info.components, 1);
  simple(&J, 0, 8, 65535, 2, 4);
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.width, 65535);
  CHECK_INT_EQ(info.height, 2);
  CHECK_INT_EQ(info.components, 4);
  simple(&J, 0, 8, 0x1234, 0x0ABC, 3);
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.width, 0x1234);
  CHECK_INT_EQ(info.height, 0x0ABC);
}

TEST(other_segments_skipped)
{
  struct jpeg_info info;
  size_t need;
  const char *why;

  J.n = 0;
  soi(&J);
  app0_jfif(&J);
  com(&J, "made by hand");
  dqt(&J);
  sof(&J, 0, 8, 32, 16, 3);
  /* DHT-like filler segment between SOF and SOS. */
  u8(&J, 0xFF);
  u8(&J, 0xC4);
  u16be(&J, 2 + 3);
  u8(&J, 0x00);
  u8(&J, 0xFF);
  u8(&J, 0xD9);  /* EOI bytes inside a segment body are just data */
  sos(&J, 3);
  entropy_and_eoi(&J);
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.width, 32);
  CHECK_INT_EQ(info.height, 16);
  /* 2 + 18 + (4 + 12) + (4 + 65) + 19 + 7 = 131 */
  CHECK_INT_EQ(info.scan_offset, 131);
}

TEST(fill_bytes_before_markers)
{
  struct jpeg_info info;
  size_t need;
  const char *why;

  J.n = 0;
  soi(&J);
  u8(&J, 0xFF);
  u8(&J, 0xFF);
  u8(&J, 0xFF);
  sof(&J, 0, 8, 10, 20, 1);
  u8(&J, 0xFF);
  sos(&J, 1);
  entropy_and_eoi(&J);
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.width, 10);
  CHECK_INT_EQ(info.height, 20);
}

TEST(coding_processes)
{
  struct jpeg_info info;
  size_t need;
  const char *why;

  simple(&J, 1, 8, 100, 50, 3);  /* extended sequential, 8-bit */
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.sof, 1);
  CHECK(!info.progressive);
  CHECK(!info.arithmetic);
  CHECK_INT_EQ(info.width, 100);

  simple(&J, 2, 8, 100, 50, 3);  /* progressive, Huffman */
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.sof, 2);
  CHECK(info.progressive);
  CHECK(!info.arithmetic);

  simple(&J, 9, 8, 100, 50, 3);  /* sequential, arithmetic */
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.sof, 9);
  CHECK(!info.progressive);
  CHECK(info.arithmetic);

  simple(&J, 10, 8, 100, 50, 3);  /* progressive, arithmetic */
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.sof, 10);
  CHECK(info.progressive);
  CHECK(info.arithmetic);
}

TEST(exif_orientation_both_byte_orders)
{
  struct jpeg_info info;
  size_t need;
  const char *why;

  for (int le = 0; le < 2; le++) {
    for (unsigned o = 1; o <= 8; o++) {
      J.n = 0;
      soi(&J);
      app1_exif(&J, le, o);
      sof(&J, 0, 8, 64, 48, 3);
      sos(&J, 3);
      entropy_and_eoi(&J);
      CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
      CHECK_INT_EQ(info.orientation, o);
      CHECK_INT_EQ(info.width, 64);
      CHECK_INT_EQ(info.height, 48);
    }
  }
  /* Exif after JFIF, as most cameras write it. */
  J.n = 0;
  soi(&J);
  app0_jfif(&J);
  app1_exif(&J, false, 6);
  sof(&J, 2, 8, 4000, 3000, 3);
  sos(&J, 3);
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.orientation, 6);
  CHECK(info.progressive);
}

TEST(exif_orientation_out_of_range)
{
  struct jpeg_info info;
  size_t need;
  const char *why;

  static const unsigned bad[] = { 0, 9, 0x100, 0xFFFF };
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    J.n = 0;
    soi(&J);
    app1_exif(&J, true, bad[k]);
    sof(&J, 0, 8, 8, 8, 1);
    sos(&J, 1);
    CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
    CHECK_INT_EQ(info.orientation, 1);
  }
}

/* The orientation as Pillow reads it (what CVAT turns its frames by):
 * only the first Exif APP1 segment counts, even when it has no
 * orientation or says 1, and the tag may be a LONG as well as a SHORT. */
TEST(exif_orientation_first_segment_and_long)
{
  struct jpeg_info info;
  size_t need;
  const char *why;

  for (int le = 0; le < 2; le++) {
    J.n = 0;                      /* first Exif says 1, a later one 6 */
    soi(&J);
    app1_exif(&J, le, 1);
    app1_exif(&J, le, 6);
    sof(&J, 0, 8, 64, 48, 3);
    sos(&J, 3);
    CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
    CHECK_INT_EQ(info.orientation, 1);

    J.n = 0;                      /* first Exif out of range, then 8 */
    soi(&J);
    app1_exif(&J, le, 9);
    app1_exif(&J, le, 8);
    sof(&J, 0, 8, 64, 48, 3);
    sos(&J, 3);
    CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
    CHECK_INT_EQ(info.orientation, 1);

    for (unsigned o = 1; o <= 8; o++) {
      J.n = 0;                    /* LONG orientation */
      soi(&J);
      app1_exif_typed(&J, le, 4, o);
      sof(&J, 0, 8, 64, 48, 3);
      sos(&J, 3);
      CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
      CHECK_INT_EQ(info.orientation, o);
    }
  }
  /* An XMP APP1 before the Exif one does not hide it. */
  {
    static const uint8_t xmp[] = "http://ns.adobe.com/xap/1.0/\0<x/>";
    J.n = 0;
    soi(&J);
    u8(&J, 0xFF);
    u8(&J, 0xE1);
    u16be(&J, (unsigned)(2 + sizeof(xmp)));
    put(&J, xmp, sizeof(xmp));
    app1_exif(&J, false, 6);
    sof(&J, 0, 8, 64, 48, 3);
    sos(&J, 3);
    CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
    CHECK_INT_EQ(info.orientation, 6);
  }
}

/* A TIFF block (an EXIF payload) built for jpeg_tiff_orientation(): IFD0
 * at 8 with the given entries, values area right after the directory. */
struct tb {
  uint8_t b[512];
  size_t n;
  bool le;
  unsigned count;      /* entries written */
  size_t area;         /* next free byte of the values area */
};

static void tb_begin(struct tb *t, bool le, unsigned entries)
{
  memset(t, 0, sizeof(*t));
  t->le = le;
  memcpy(t->b, le ? "II*\0" : "MM\0*", 4);
  t->b[le ? 4 : 7] = 8;
  t->b[le ? 8 : 9] = (uint8_t)entries;
  t->area = 8 + 2 + 12 * (size_t)entries + 4;
  t->n = t->area;
}

static void tb_put(uint8_t *p, bool le, uint64_t v, unsigned bytes)
{
  for (unsigned i = 0; i < bytes; i++)
    p[le ? i : bytes - 1 - i] = (uint8_t)(v >> (8 * i));
}

/* An entry of tag/type/count whose value field holds `field` (bytes of
 * it, stored as the type would store it inline), or, with `values`
 * non-NULL, an offset to those vn bytes in the values area. */
static void tb_entry(struct tb *t, unsigned tag, unsigned type,
                     uint32_t count, uint64_t field, unsigned fbytes,
                     const void *values, size_t vn)
{
  uint8_t *e = t->b + 8 + 2 + 12 * (size_t)t->count++;

  tb_put(e, t->le, tag, 2);
  tb_put(e + 2, t->le, type, 2);
  tb_put(e + 4, t->le, count, 4);
  if (values) {
    tb_put(e + 8, t->le, t->area, 4);
    memcpy(t->b + t->area, values, vn);
    t->area += vn;
    t->n = t->area;
  } else {
    tb_put(e + 8, t->le, field, fbytes);
  }
}

static unsigned tb_orient(unsigned type, uint32_t count, uint64_t field,
                          unsigned fbytes)
{
  struct tb t;
  tb_begin(&t, true, 1);
  tb_entry(&t, 0x0112, type, count, field, fbytes, NULL, 0);
  return jpeg_tiff_orientation(t.b, t.n);
}

/* Pillow's reading of the entry (checked against Debian's Pillow 9.4 by
 * fs-formats): any numeric type by its first value, exactly 2..8. */
TEST(exif_orientation_types_as_pillow)
{
  struct tb t;
  uint8_t v[16];

  CHECK_INT_EQ(tb_orient(3, 1, 6, 2), 6);       /* SHORT */
  CHECK_INT_EQ(tb_orient(4, 1, 5, 4), 5);       /* LONG */
  CHECK_INT_EQ(tb_orient(4, 1, 65536 + 6, 4), 1);
  CHECK_INT_EQ(tb_orient(6, 1, 6, 1), 6);       /* SBYTE */
  CHECK_INT_EQ(tb_orient(8, 1, 7, 2), 7);       /* SSHORT */
  CHECK_INT_EQ(tb_orient(8, 1, 0xFFFD, 2), 1);  /* SSHORT -3 */
  CHECK_INT_EQ(tb_orient(9, 1, 8, 4), 8);       /* SLONG */
  CHECK_INT_EQ(tb_orient(13, 1, 6, 4), 6);      /* IFD */
  CHECK_INT_EQ(tb_orient(11, 1, 0x40400000u, 4), 3);  /* FLOAT 3.0 */
  CHECK_INT_EQ(tb_orient(11, 1, 0x40600000u, 4), 1);  /* FLOAT 3.5 */
  /* Bytes and text are never a number, even "6". */
  CHECK_INT_EQ(tb_orient(1, 1, 6, 1), 1);       /* BYTE */
  CHECK_INT_EQ(tb_orient(7, 1, 6, 1), 1);       /* UNDEFINED */
  CHECK_INT_EQ(tb_orient(2, 2, '6', 1), 1);     /* ASCII "6" */
  /* No values, or a type Pillow does not know: skipped. */
  CHECK_INT_EQ(tb_orient(3, 0, 6, 2), 1);
  CHECK_INT_EQ(tb_orient(0, 1, 6, 2), 1);
  CHECK_INT_EQ(tb_orient(99, 1, 6, 2), 1);
  /* Two SHORTs inline: the first counts. */
  CHECK_INT_EQ(tb_orient(3, 2, 6 | (1u << 16), 4), 6);

  /* Values past the 4-byte field: three SHORTs, RATIONAL, SRATIONAL,
   * DOUBLE, LONG8, in both byte orders. */
  for (int le = 0; le < 2; le++) {
    /* type, count, bytes of a and of b, a, b (the first two values or
     * halves), bytes stored, orientation */
    static const struct { unsigned type; uint32_t count; unsigned size;
                          uint64_t a, b; size_t vn; unsigned want; } c[] = {
      { 3, 3, 2, 7, 1, 6, 7 },               /* SHORT 7, 1, (0) */
      { 5, 1, 4, 12, 2, 8, 6 },              /* 12/2 */
      { 5, 1, 4, 13, 2, 8, 1 },              /* 6.5 */
      { 5, 1, 4, 6, 0, 8, 1 },               /* 6/0 */
      { 10, 1, 4, 0xFFFFFFFAu, 0xFFFFFFFFu, 8, 6 },  /* -6/-1 */
      { 12, 1, 8, 0x4020000000000000ull, 0, 8, 8 },  /* DOUBLE 8.0 */
      { 16, 1, 8, 6, 0, 8, 6 },              /* LONG8 */
    };
    for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
      memset(v, 0, sizeof(v));
      tb_put(v, le, c[k].a, c[k].size);
      tb_put(v + c[k].size, le, c[k].b, c[k].size);
      tb_begin(&t, le, 1);
      tb_entry(&t, 0x0112, c[k].type, c[k].count, 0, 4, v, c[k].vn);
      CHECK_INT_EQ(jpeg_tiff_orientation(t.b, t.n), c[k].want);
    }
  }
}

/* Which entry counts, and where Pillow stops reading the directory. */
TEST(exif_orientation_entries_as_pillow)
{
  struct tb t;

  /* A later Orientation entry replaces an earlier one, also with a value
   * that is no orientation; one with no values does not. */
  tb_begin(&t, false, 2);
  tb_entry(&t, 0x0112, 3, 1, 6, 2, NULL, 0);
  tb_entry(&t, 0x0112, 3, 1, 8, 2, NULL, 0);
  CHECK_INT_EQ(jpeg_tiff_orientation(t.b, t.n), 8);
  tb_begin(&t, true, 2);
  tb_entry(&t, 0x0112, 3, 1, 6, 2, NULL, 0);
  tb_entry(&t, 0x0112, 1, 1, 8, 1, NULL, 0);
  CHECK_INT_EQ(jpeg_tiff_orientation(t.b, t.n), 1);
  tb_begin(&t, true, 2);
  tb_entry(&t, 0x0112, 3, 1, 6, 2, NULL, 0);
  tb_entry(&t, 0x0112, 3, 0, 8, 2, NULL, 0);
  CHECK_INT_EQ(jpeg_tiff_orientation(t.b, t.n), 6);
  /* An entry whose values lie past the block ends the directory: an
   * Orientation after it is never read, one before it stays. */
  tb_begin(&t, true, 2);
  tb_entry(&t, 0x010F, 2, 40, 5000, 4, NULL, 0);
  tb_entry(&t, 0x0112, 3, 1, 6, 2, NULL, 0);
  CHECK_INT_EQ(jpeg_tiff_orientation(t.b, t.n), 1);
  tb_begin(&t, true, 2);
  tb_entry(&t, 0x0112, 3, 1, 6, 2, NULL, 0);
  tb_entry(&t, 0x0110, 2, 40, 5000, 4, NULL, 0);
  CHECK_INT_EQ(jpeg_tiff_orientation(t.b, t.n), 6);
  /* Three SHORTs at an offset past the block: no orientation. */
  CHECK_INT_EQ(tb_orient(3, 3, 5000, 4), 1);
  /* A directory cut inside its second entry: the first one counts. */
  tb_begin(&t, true, 2);
  tb_entry(&t, 0x0112, 3, 1, 5, 2, NULL, 0);
  tb_entry(&t, 0x0112, 3, 1, 7, 2, NULL, 0);
  CHECK_INT_EQ(jpeg_tiff_orientation(t.b, 8 + 2 + 12 + 6), 5);
  /* Header variants Pillow takes ("II\0*", "MM*\0"), and ones it does not
   * (BigTIFF, an Exif prefix inside the block). */
  tb_begin(&t, true, 1);
  tb_entry(&t, 0x0112, 3, 1, 6, 2, NULL, 0);
  memcpy(t.b, "II\0*", 4);
  CHECK_INT_EQ(jpeg_tiff_orientation(t.b, t.n), 6);
  memcpy(t.b, "II+\0", 4);
  CHECK_INT_EQ(jpeg_tiff_orientation(t.b, t.n), 1);
  {
    uint8_t pre[6 + sizeof(t.b)];
    memcpy(t.b, "II*\0", 4);
    memcpy(pre, "Exif\0\0", 6);
    memcpy(pre + 6, t.b, t.n);
    CHECK_INT_EQ(jpeg_tiff_orientation(pre, t.n + 6), 1);
    CHECK_INT_EQ(jpeg_tiff_orientation(pre + 6, t.n), 6);
  }
}

/* A stream whose only APP1 segment holds the n bytes of payload, before
 * a baseline frame: it parses, and the orientation stays 1. */
static void check_app1_ignored(const void *payload, size_t n)
{
  struct jpeg_info info;
  size_t need;
  const char *why;

  J.n = 0;
  soi(&J);
  u8(&J, 0xFF);
  u8(&J, 0xE1);
  u16be(&J, (unsigned)(2 + n));
  put(&J, payload, n);
  sof(&J, 0, 8, 8, 8, 1);
  sos(&J, 1);
  CHECK_INT_EQ(parse(&J, &info, &need, &why), 0);
  CHECK_INT_EQ(info.orientation, 1);
}

TEST(exif_without_orientation)
{
  static const uint8_t xmp[] = "http://ns.adobe.com/xap/1.0/\0<x/>";

  /* An APP1 that is not Exif (XMP) is ignored. */
  check_app1_ignored(xmp, sizeof(xmp));
  /* An Exif block with a bad TIFF header is ignored too. */
  check_app1_ignored("Exif\0\0XX*\0\0\0\0\x08", 14);
  /* An IFD offset pointing past the block. */
  check_app1_ignored("Exif\0\0II*\0\xff\xff\0\0", 14);
}

TEST(reject_not_jpeg)
{
  struct jpeg_info info;
  size_t need;
  const char *why = NULL;
  static const uint8_t png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                 0, 0, 0, 13, 'I', 'H', 'D', 'R' };

  CHECK_INT_EQ(jpeg_header_parse(J.b, 0, &info, &need, &why), -EBADMSG);
  CHECK(why && strstr(why, "empty"));

  J.n = 0;
  put(&J, png, sizeof(png));
  CHECK_REJECT(&J, "PNG");
  J.n = 0;
  put(&J, "GIF89a\x01\x00\x01\x00\x00\x00\x00", 13);
  CHECK_REJECT(&J, "GIF");
  J.n = 0;
  put(&J, "GIF87a\x01\x00\x01\x00\x00\x00\x00", 13);
  CHECK_REJECT(&J, "GIF");
  J.n = 0;
  put(&J, "RIFF\x10\0\0\0WEBPVP8 ", 16);
  CHECK_REJECT(&J, "WebP");
  J.n = 0;
  put(&J, "hello, world", 12);
  CHECK_REJECT(&J, "not a JPEG");
}

TEST(reject_unsupported_frames)
{
  simple(&J, 1, 12, 100, 100, 3);  /* 12-bit extended sequential */
  CHECK_REJECT(&J, "12-bit");
  simple(&J, 3, 8, 100, 100, 3);   /* lossless */
  CHECK_REJECT(&J, "lossless");
  simple(&J, 11, 8, 100, 100, 3);  /* lossless, arithmetic */
  CHECK_REJECT(&J, "lossless");
  simple(&J, 5, 8, 100, 100, 3);   /* differential sequential */
  CHECK_REJECT(&J, "hierarchical");
  simple(&J, 0, 16, 100, 100, 3);
  CHECK_REJECT(&J, "precision");
  simple(&J, 0, 8, 0, 100, 3);
  CHECK_REJECT(&J, "zero");
  simple(&J, 0, 8, 100, 0, 3);
  CHECK_REJECT(&J, "zero");
  simple(&J, 0, 8, 100, 100, 2);
  CHECK_REJECT(&J, "component");
  simple(&J, 0, 8, 100, 100, 0);
  CHECK_REJECT(&J, "component");
}

TEST(reject_broken_structure)
{
  /* SOS before any SOF. */
  J.n = 0;
  soi(&J);
  sos(&J, 1);
  entropy_and_eoi(&J);
  CHECK_REJECT(&J, "scan before frame");

  /* EOI right after SOI. */
  J.n = 0;
  soi(&J);
  u8(&J, 0xFF);
  u8(&J, 0xD9);
  u8(&J, 0);
  u8(&J, 0);
  CHECK_REJECT(&J, "end of image");

  /* A byte that is not a marker where a marker must be. */
  J.n = 0;
  soi(&J);
  app0_jfif(&J);
  put(&J, "\x12\x34\x56\x78", 4);
  CHECK_REJECT(&J, "marker");

  /* Segment length below 2. */
  J.n = 0;
  soi(&J);
  put(&J, "\xFF\xE0\x00\x01\x00\x00", 6);
  CHECK_REJECT(&J, "length");

  /* A frame header too short to hold its fields. */
  J.n = 0;
  soi(&J);
  put(&J, "\xFF\xC0\x00\x05\x08\x00\x10\x00\x10", 9);
  CHECK_REJECT(&J, "frame header");
}

TEST(cut_short_needs_more)
{
  struct jpeg_info info, full;
  size_t need, fneed;
  const char *why;
  size_t complete;

  J.n = 0;
  soi(&J);
  app0_jfif(&J);
  app1_exif(&J, false, 3);
  dqt(&J);
  sof(&J, 2, 8, 300, 200, 3);
  sos(&J, 3);
  entropy_and_eoi(&J);
  CHECK_INT_EQ(parse(&J, &full, &fneed, &why), 0);
  CHECK_INT_EQ(full.orientation, 3);
  /* The header is known once the SOS marker and its length are in. */
  complete = full.scan_offset + 4;
  CHECK(complete < J.n);

  for (size_t n = 3; n < complete; n++) {
    int r;
    need = 0;
    why = NULL;
    r = jpeg_header_parse(J.b, n, &info, &need, &why);
    if (r != -ENODATA || need <= n) {
      fprintf(stderr, "cut at %zu: r=%d need=%zu reason=%s\n", n, r, need,
              why ? why : "-");
      tl_failed = 1;
      continue;
    }
    /* The hint is enough: parsing that many bytes finishes the job. */
    r = jpeg_header_parse(J.b, need < J.n ? need : J.n, &info, &need, &why);
    CHECK_INT_EQ(r, 0);
    CHECK_INT_EQ(info.width, 300);
    CHECK_INT_EQ(info.orientation, 3);
  }
  CHECK_INT_EQ(jpeg_header_parse(J.b, complete, &info, &need, &why), 0);
  CHECK_INT_EQ(info.scan_offset, full.scan_offset);
}

TEST(cut_inside_large_segment)
{
  struct jpeg_info info;
  size_t need = 0;
  const char *why = NULL;

  /* A 60000-byte APP2 segment (an ICC profile, say) of which only 100
   * bytes have been read: the hint must cover the whole segment. */
  J.n = 0;
  soi(&J);
  u8(&J, 0xFF);
  u8(&J, 0xE2);
  u16be(&J, 60000);
  memset(J.b + J.n, 0x41, 60000 - 2);
  J.n += 60000 - 2;
  sof(&J, 0, 8, 7, 5, 3);
  sos(&J, 3);
  CHECK_INT_EQ(jpeg_header_parse(J.b, 100, &info, &need, &why), -ENODATA);
  CHECK(need >= 2 + 2 + 60000 - 2 + 19 + 4);
  CHECK_INT_EQ(jpeg_header_parse(J.b, J.n, &info, &need, &why), 0);
  CHECK_INT_EQ(info.width, 7);
  CHECK_INT_EQ(info.height, 5);
  CHECK_INT_EQ(info.scan_offset, 2 + 60002 + 19);
}

TEST(tail_has_eoi)
{
  static const uint8_t plain[] = { 0x12, 0x34, 0xFF, 0xD9 };
  static const uint8_t nul_pad[] = { 0x12, 0xFF, 0xD9, 0, 0, 0 };
  static const uint8_t text_pad[] = { 0xFF, 0xD9, '\r', '\n', ' ', '\n' };
  static const uint8_t data_after[] = { 0xFF, 0xD9, 0x12, 0x34 };
  static const uint8_t cut[] = { 0x12, 0x34, 0x56, 0xFF };
  static const uint8_t wrong_order[] = { 0x12, 0xD9, 0xFF };
  static const uint8_t only_pad[] = { 0, 0, '\n', 0 };
  uint8_t big[64];

  CHECK(jpeg_tail_has_eoi(plain, sizeof(plain)));
  CHECK(jpeg_tail_has_eoi(plain + 2, 2));
  CHECK(jpeg_tail_has_eoi(nul_pad, sizeof(nul_pad)));
  CHECK(jpeg_tail_has_eoi(text_pad, sizeof(text_pad)));
  CHECK(!jpeg_tail_has_eoi(data_after, sizeof(data_after)));
  CHECK(!jpeg_tail_has_eoi(cut, sizeof(cut)));
  CHECK(!jpeg_tail_has_eoi(wrong_order, sizeof(wrong_order)));
  CHECK(!jpeg_tail_has_eoi(only_pad, sizeof(only_pad)));
  CHECK(!jpeg_tail_has_eoi(plain, 0));
  CHECK(!jpeg_tail_has_eoi(plain + 3, 1));
  /* Padding is "a few bytes": 8 NULs pass, a tail of 62 NULs does not. */
  memset(big, 0, sizeof(big));
  big[0] = 0xFF;
  big[1] = 0xD9;
  CHECK(jpeg_tail_has_eoi(big, 10));
  CHECK(!jpeg_tail_has_eoi(big, sizeof(big)));
}

TEST(scan_has_eoi)
{
  /* SOS header, then entropy data with stuffed FF00 (an FF00 followed by
   * D9 is data, not EOI), RST0 and RST7 markers, fill bytes, and EOI. */
  static const uint8_t whole[] = {
    0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00,
    0x12, 0xFF, 0x00, 0xD9, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0x00,
    0xFF, 0xD7, 0x78, 0xFF, 0xFF, 0xD9,
  };
  /* Data after EOI (a trailer some cameras append) is fine. */
  static const uint8_t trailer[] = {
    0x12, 0x34, 0xFF, 0xD9, 'T', 'R', 'A', 'I', 'L', 0x00,
  };
  static const uint8_t stuffed_only[] = {
    0x12, 0xFF, 0x00, 0xD9, 0xFF, 0xD0, 0xD9, 0xFF, 0x00,
  };

  CHECK(jpeg_scan_has_eoi(whole, sizeof(whole)));
  CHECK(jpeg_scan_has_eoi(trailer, sizeof(trailer)));
  /* The same stream cut before its EOI. */
  CHECK(!jpeg_scan_has_eoi(whole, sizeof(whole) - 1));
  CHECK(!jpeg_scan_has_eoi(whole, sizeof(whole) - 2));
  CHECK(!jpeg_scan_has_eoi(stuffed_only, sizeof(stuffed_only)));
  /* A lone FF at the very end is not a marker yet. */
  CHECK(!jpeg_scan_has_eoi(stuffed_only, 2));
  CHECK(!jpeg_scan_has_eoi(whole, 0));
}

TEST_MAIN(T(baseline), T(width_and_height_not_swapped),
          T(other_segments_skipped), T(fill_bytes_before_markers),
          T(coding_processes), T(exif_orientation_both_byte_orders),
          T(exif_orientation_out_of_range),
          T(exif_orientation_first_segment_and_long),
          T(exif_orientation_types_as_pillow),
          T(exif_orientation_entries_as_pillow),
          T(exif_without_orientation),
          T(reject_not_jpeg), T(reject_unsupported_frames),
          T(reject_broken_structure), T(cut_short_needs_more),
          T(cut_inside_large_segment), T(tail_has_eoi), T(scan_has_eoi))
