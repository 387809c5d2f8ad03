/* test_tifforient.c - the Orientation of a TIFF file's own directory
 * (core/image/imgfmt.h), built in memory: a later Orientation entry
 * replaces an earlier one, values of any numeric type count, and however
 * many Orientation entries a directory repeats, their values cost one
 * read at most (from a bucket, each read is a request); the same for a
 * repeated ImageWidth, whose last entry counts.
 */
#include "testlib.h"
#include "imgfmt.h"

#include <stdbool.h>
#include <string.h>

#define FILE_SIZE (20u << 20)
#define SPACING 4096   /* between values: a TIFF window apart */

static uint8_t F[FILE_SIZE];   /* the file */
static int reads;    /* reads beyond its first bytes */

static long fread_at(void *ud, uint64_t off, void *buf, size_t n)
{
  (void)ud;
  reads++;
  if (off >= FILE_SIZE)
    return 0;
  if (n > FILE_SIZE - off)
    n = (size_t)(FILE_SIZE - off);
  memcpy(buf, F + off, n);
  return (long)n;
}

static void w16(uint8_t *p, unsigned v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *p, uint32_t v)
{
  w16(p, v & 0xFFFF);
  w16(p + 2, v >> 16);
}

/* A little-endian 16 x 16 grey TIFF whose first directory ends with
 * norient Orientation entries, the k-th equal to orient(k): a DOUBLE
 * (values past the first read, SPACING apart), or with inline a SHORT in
 * the entry itself. */
static void build(int norient, double (*orient)(int), bool inline_short)
{
  static const uint32_t base[][4] = {
    { 256, 3, 1, 16 }, { 257, 3, 1, 16 }, { 258, 3, 1, 8 },
    { 259, 3, 1, 1 },  { 262, 3, 1, 1 },  { 273, 4, 1, 65536u },
    { 277, 3, 1, 1 },  { 279, 4, 1, 256 },
  };
  int nb = (int)(sizeof(base) / sizeof(base[0])), i;
  uint8_t *e;

  memset(F, 0, FILE_SIZE);
  memcpy(F, "II*\0", 4);
  w32(F + 4, 8);
  w16(F + 8, (unsigned)(nb + norient));
  e = F + 10;
  for (i = 0; i < nb; i++, e += 12) {
    w16(e, base[i][0]);
    w16(e + 2, base[i][1]);
    w32(e + 4, base[i][2]);
    w32(e + 8, base[i][3]);
  }
  for (int k = 0; k < norient; k++, e += 12) {
    uint32_t off = (1u << 20) + (uint32_t)k * SPACING;
    double d = orient(k);
    w16(e, 274);
    w32(e + 4, 1);
    if (inline_short) {
      w16(e + 2, 3);
      w32(e + 8, (uint32_t)d);
    } else {
      memcpy(F + off, &d, 8);   /* x86 and arm64: little-endian doubles */
      w16(e + 2, 12);
      w32(e + 8, off);
    }
  }
  w32(e, 0);
}

static int header_orientation(void)
{
  struct img_src s = { F, 16384, FILE_SIZE, fread_at, NULL };
  struct img_info in;
  const char *why = NULL;

  reads = 0;
  CHECK_INT_EQ(img_header_read(&s, &in, &why), 0);
  CHECK_INT_EQ(in.width, 16);
  return in.orientation;
}

static double six(int k)
{
  (void)k;
  return 6;
}

static double last_is_three(int k)
{
  return k == 47 ? 3 : 8;
}

/* Reads of the header of a directory of n Orientation entries ending
 * in orient(n - 1), with values in the entries (no read for them) and
 * as DOUBLEs elsewhere in the file: one read more at most. */
static void check(int n, double (*orient)(int), int want)
{
  int base;

  build(n, orient, true);
  CHECK_INT_EQ(header_orientation(), want);
  base = reads;
  build(n, orient, false);
  CHECK_INT_EQ(header_orientation(), want);
  if (reads > base + 1) {
    fprintf(stderr, "%d Orientation entries: %d reads, %d without their "
            "values\n", n, reads, base);
    tl_failed = 1;
  }
}

TEST(one_entry)
{
  check(1, six, 6);
}

TEST(last_entry_counts_and_is_read_once)
{
  check(48, last_is_three, 3);
  check(4000, six, 6);
}

/* A directory whose ImageWidth is repeated n times, the last one 16
 * wide: each a LONG pair stored outside the entry (SPACING apart), or
 * with inline a SHORT in the entry itself. */
static void build_widths(int n, bool inline_short)
{
  uint8_t *e;

  build(0, six, true);
  memmove(F + 10 + 12 * (size_t)n, F + 10 + 12, 12 * 7 + 4);
  w16(F + 8, (unsigned)(n + 7));
  e = F + 10;
  for (int k = 0; k < n; k++, e += 12) {
    uint32_t off = (1u << 20) + (uint32_t)k * SPACING;
    uint32_t w = k == n - 1 ? 16 : 1000 + (uint32_t)k;
    w16(e, 256);
    if (inline_short) {
      w16(e + 2, 3);
      w32(e + 4, 1);
      w32(e + 8, w);
    } else {
      w16(e + 2, 4);
      w32(e + 4, 2);
      w32(e + 8, off);
      w32(F + off, w);
    }
  }
}

TEST(repeated_width_last_counts_and_is_read_once)
{
  int base;

  build_widths(4000, true);
  CHECK_INT_EQ(header_orientation(), 1);   /* checks the width: 16 */
  base = reads;
  build_widths(4000, false);
  CHECK_INT_EQ(header_orientation(), 1);
  if (reads > base + 1) {
    fprintf(stderr, "4000 ImageWidth entries: %d reads, %d without their "
            "values\n", reads, base);
    tl_failed = 1;
  }
}

TEST_MAIN(T(one_entry), T(last_entry_counts_and_is_read_once),
          T(repeated_width_last_counts_and_is_read_once))
