/* test_import_png_rules.c - a store whose PNG orientations were read by
 * older header rules (eXIf alone) takes the newer ones at its next import,
 * for unchanged files too: the import reads their headers again once,
 * updates the orientation where it changed, drops and recomputes those
 * samples' features (computed from the picture turned the old way), and
 * records the rules' version so that later imports read nothing again.
 * The older store is made as an older build left it: the orientation it
 * recorded (1, for a PNG whose only orientation is in XMP) and no rules
 * version.  Real files, real LMDB store.
 */
#include "testlib.h"
#include "featstore.h"
#include "import.h"
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

static void be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static size_t chunk(uint8_t *out, const char *t, const void *d, size_t n)
{
  be32(out, (uint32_t)n);
  memcpy(out + 4, t, 4);
  memcpy(out + 8, d, n);
  be32(out + 8 + n, (uint32_t)crc32(0, out + 4, (uInt)(n + 4)));
  return n + 12;
}

/* A 64 x 48 RGB PNG (a gradient, so that turning it changes its
 * features) with an XMP packet giving orientation o, or none for 0. */
static void write_png(const char *path, unsigned o)
{
  static uint8_t raw[48 * (1 + 64 * 3)], z[65536], f[70000];
  uint8_t ihdr[13] = { 0, 0, 0, 64, 0, 0, 0, 48, 8, 2, 0, 0, 0 };
  uLongf zn = sizeof(z);
  size_t n = 8;
  char x[200];
  FILE *fp;

  for (int y = 0; y < 48; y++) {
    raw[y * 193] = 0;
    for (int i = 0; i < 64; i++) {
      raw[y * 193 + 1 + i * 3] = (uint8_t)(i * 4);
      raw[y * 193 + 2 + i * 3] = (uint8_t)(y * 5);
      raw[y * 193 + 3 + i * 3] = (uint8_t)(i < 16 && y < 12 ? 255 : 0);
    }
  }
  CHECK(compress(z, &zn, raw, sizeof(raw)) == Z_OK);
  memcpy(f, "\x89PNG\r\n\x1a\n", 8);
  n += chunk(f + n, "IHDR", ihdr, 13);
  if (o) {
    int k = snprintf(x, sizeof(x), "XML:com.adobe.xmp%c%c%c%c%c<x:xmpmeta "
                     "tiff:Orientation=\"%u\"/>", 0, 0, 0, 0, 0, o);
    n += chunk(f + n, "iTXt", x, (size_t)k);
  }
  n += chunk(f + n, "IDAT", z, zn);
  n += chunk(f + n, "IEND", "", 0);
  CHECK((fp = fopen(path, "wb")) != NULL);
  CHECK_INT_EQ(fwrite(f, 1, n, fp), n);
  fclose(fp);
}

static unsigned orientation(struct store *s, const char *rel)
{
  struct store_txn *t;
  struct sample smp;
  unsigned o;

  CHECK_INT_EQ(store_txn_begin(s, false, &t), 0);
  CHECK_INT_EQ(store_sample_by_path(t, rel, &smp), 0);
  o = smp.orientation;
  store_txn_abort(t);
  return o;
}

/* As an older build left the store: orientation 1 for xmp6.png, no
 * rules version. */
static void make_old(struct store *s)
{
  struct store_txn *t;
  struct sample smp;

  CHECK_INT_EQ(store_txn_begin(s, true, &t), 0);
  CHECK_INT_EQ(store_sample_by_path(t, "xmp6.png", &smp), 0);
  smp.orientation = 1;
  CHECK_INT_EQ(store_sample_put(t, &smp, NULL), 0);
  CHECK_INT_EQ(store_setting_del(t, "import.png_orientation_rules"), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
}

/* A fresh folder under a new temporary dir: src/ with xmp6.png
 * (orientation 6 in XMP) and plain.png, and an open store in store/. */
static struct store *setup(const char *tag, char dir[128], char src[160])
{
  struct store_opts so = { .nosync = true };
  struct store *s = NULL;
  char sdir[160], path[256];

  CHECK_INT_EQ(tl_tmpdir(dir, 128, tag), 0);
  snprintf(src, 160, "%s/src", dir);
  snprintf(sdir, sizeof(sdir), "%s/store", dir);
  CHECK_INT_EQ(mkdir(src, 0755), 0);
  CHECK_INT_EQ(mkdir(sdir, 0755), 0);
  snprintf(path, sizeof(path), "%s/xmp6.png", src);
  write_png(path, 6);
  snprintf(path, sizeof(path), "%s/plain.png", src);
  write_png(path, 0);
  CHECK_INT_EQ(store_open(sdir, &so, &s), 0);
  return s;
}

TEST(older_rules_are_read_again_once)
{
  struct import_opts o = { .threads = 2 };
  struct import_stats st;
  struct store *s;
  struct store_txn *t;
  struct sample smp;
  struct imgfeat before, after;
  char dir[128], src[160];

  s = setup("test-pngrules", dir, src);
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  CHECK_INT_EQ(st.added, 2);
  CHECK_INT_EQ(orientation(s, "xmp6.png"), 6);
  CHECK_INT_EQ(store_txn_begin(s, false, &t), 0);
  CHECK_INT_EQ(store_sample_by_path(t, "xmp6.png", &smp), 0);
  CHECK_INT_EQ(featstore_get(t, smp.id, &after, NULL, NULL), 0);
  store_txn_abort(t);

  /* The features an older build stored were of the unturned picture:
   * stand-in, the plain file's (same pixels, not turned). */
  make_old(s);
  CHECK_INT_EQ(store_txn_begin(s, true, &t), 0);
  {
    struct sample pl;
    CHECK_INT_EQ(store_sample_by_path(t, "plain.png", &pl), 0);
    CHECK_INT_EQ(featstore_get(t, pl.id, &before, NULL, NULL), 0);
    CHECK_INT_EQ(featstore_put(t, smp.id, smp.size, smp.mtime_ns, &before),
                 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK(memcmp(before.v, after.v, sizeof(before.v)) != 0);
  CHECK_INT_EQ(orientation(s, "xmp6.png"), 1);

  /* The next import: unchanged files, xmp6.png turned, its features
   * those of the turned picture again; plain.png untouched. */
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  CHECK_INT_EQ(st.unchanged, 2);
  CHECK_INT_EQ(st.updated, 0);
  CHECK_INT_EQ(st.reoriented, 1);
  CHECK_INT_EQ(st.featured, 1);
  CHECK_INT_EQ(st.hashed, 0);
  CHECK_INT_EQ(orientation(s, "xmp6.png"), 6);
  CHECK_INT_EQ(orientation(s, "plain.png"), 1);
  CHECK_INT_EQ(store_txn_begin(s, false, &t), 0);
  {
    struct imgfeat now;
    char *v = NULL;
    CHECK_INT_EQ(featstore_get(t, smp.id, &now, NULL, NULL), 0);
    CHECK(memcmp(now.v, after.v, sizeof(now.v)) == 0);
    CHECK_INT_EQ(store_setting_get(t, "import.png_orientation_rules", &v),
                 0);
    CHECK_STR_EQ(v, "2");
    free(v);
  }
  store_txn_abort(t);

  /* Once recorded, nothing is read again. */
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  CHECK_INT_EQ(st.unchanged, 2);
  CHECK_INT_EQ(st.reoriented, 0);
  CHECK_INT_EQ(st.featured, 0);
  store_close(s);
  tl_rm_rf(dir);
}

/* A PNG missing (moved away) at the import that reads the older store's
 * headers again comes back unchanged after the newer rules were recorded:
 * it is read again too (once, as it comes back), not kept with the
 * orientation the older rules gave it. */
TEST(png_missing_during_reread_is_read_when_back)
{
  struct import_opts o = { .threads = 2 };
  struct import_stats st;
  struct store *s;
  char dir[128], src[160], path[256], away[256];

  s = setup("test-pngrules-back", dir, src);
  snprintf(path, sizeof(path), "%s/xmp6.png", src);
  snprintf(away, sizeof(away), "%s/away.png", dir);
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  make_old(s);
  CHECK_INT_EQ(orientation(s, "xmp6.png"), 1);

  /* Away (rename keeps size and mtime) while the newer rules are taken. */
  CHECK_INT_EQ(rename(path, away), 0);
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  CHECK_INT_EQ(st.missing, 1);
  CHECK_INT_EQ(orientation(s, "xmp6.png"), 1);

  /* Back, unchanged: restored with the newer rules' orientation. */
  CHECK_INT_EQ(rename(away, path), 0);
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  CHECK_INT_EQ(st.restored, 1);
  CHECK_INT_EQ(st.reoriented, 1);
  CHECK_INT_EQ(orientation(s, "xmp6.png"), 6);

  /* And not again. */
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  CHECK_INT_EQ(st.unchanged, 2);
  CHECK_INT_EQ(st.reoriented, 0);
  store_close(s);
  tl_rm_rf(dir);
}

/* An unchanged PNG that the newer rules refuse (a text chunk with a bad
 * CRC before the image data, which the older rules did not check) stays
 * as it was, and does not keep the rules from being recorded: else every
 * later import would read every unchanged PNG header again. */
TEST(png_refused_by_newer_rules_does_not_block_the_record)
{
  struct import_opts o = { .threads = 2 };
  struct import_stats st;
  struct store *s;
  struct store_txn *t;
  struct stat sb;
  struct timespec ts[2];
  char dir[128], src[160], path[256];
  uint8_t b[70000];
  size_t n, at;
  FILE *fp;
  char *v = NULL;

  s = setup("test-pngrules-refused", dir, src);
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  make_old(s);

  /* The iTXt chunk's CRC flipped in place, size and mtime kept: an older
   * build never looked at it. */
  snprintf(path, sizeof(path), "%s/xmp6.png", src);
  CHECK_INT_EQ(stat(path, &sb), 0);
  CHECK((fp = fopen(path, "rb")) != NULL);
  n = fread(b, 1, sizeof(b), fp);
  fclose(fp);
  at = 33 + 8 + (size_t)(b[33] << 24 | b[34] << 16 | b[35] << 8 | b[36]);
  CHECK(memcmp(b + 37, "iTXt", 4) == 0);
  b[at] ^= 1;
  CHECK((fp = fopen(path, "wb")) != NULL);
  CHECK_INT_EQ(fwrite(b, 1, n, fp), n);
  fclose(fp);
  ts[0] = sb.st_atim;
  ts[1] = sb.st_mtim;
  CHECK_INT_EQ(utimensat(AT_FDCWD, path, ts, 0), 0);

  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  CHECK_INT_EQ(st.unchanged, 2);
  CHECK_INT_EQ(st.missing, 0);
  CHECK_INT_EQ(orientation(s, "xmp6.png"), 1);   /* as it was */
  CHECK_INT_EQ(store_txn_begin(s, false, &t), 0);
  CHECK_INT_EQ(store_setting_get(t, "import.png_orientation_rules", &v), 0);
  CHECK_STR_EQ(v, "2");
  free(v);
  store_txn_abort(t);
  store_close(s);
  tl_rm_rf(dir);
}

TEST_MAIN(T(older_rules_are_read_again_once),
          T(png_missing_during_reread_is_read_when_back),
          T(png_refused_by_newer_rules_does_not_block_the_record))
