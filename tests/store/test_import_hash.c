/* test_import_hash.c - the import's content hash equals libxxhash's own
 * XXH3-128 of the whole file, however it is computed:
 *   - import_hash128() (the AVX2 kernel where the processor has it) and
 *     the piece-by-piece hasher, fed in pieces of many sizes, against the
 *     library's one-shot hash, on sizes around XXH3's internal boundaries
 *     (16, 128, 240 bytes, its 1 KiB stripes and 256-byte buffer) and the
 *     import's read pieces;
 *   - import_dir() on real BMP files of sizes below, at, across and far
 *     past the import's 256 KiB read piece: each sample's stored hash is
 *     the library's hash of the file's bytes, and its stored features
 *     and thumbnail are those of the file decoded anew (the decode reads
 *     what the pieces were read into; the thumbnail covers the content
 *     box imgfeat_content() finds, which the import takes from
 *     imgfeat_compute_box()).
 * Every test gets a fresh store and folder under $TMPDIR.
 */
#include "testlib.h"
#include "featstore.h"
#include "imgcodec.h"
#include "imgfeat.h"
#include "imgverify.h"
#include "import.h"
#include "import_hash.h"
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t rng = 88172645463325252ull;

static uint8_t next_byte(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint8_t)(rng >> 24);
}

static void fill(uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    p[i] = next_byte();
}

/* The hasher fed n bytes of p in pieces of `piece` bytes (the last one
 * shorter), against the library's one-shot hash. */
static int pieces_match(const uint8_t *p, size_t n, size_t piece)
{
  struct import_hasher h;
  uint8_t a[16], b[16];

  import_hasher_begin(&h);
  for (size_t o = 0; o < n; o += piece)
    import_hasher_add(&h, p + o, n - o < piece ? n - o : piece);
  import_hasher_end(&h, a);
  import_hash128_lib(p, n, b);
  return memcmp(a, b, 16) == 0;
}

TEST(hash_equals_library)
{
  static const size_t sizes[] = {
    0, 1, 3, 4, 8, 9, 15, 16, 17, 127, 128, 129, 239, 240, 241, 255, 256,
    257, 1023, 1024, 1025, 4096, 65536, 262143, 262144, 262145,
    3 * 262144 + 7, (1u << 20) + 333 };
  static const size_t pieces[] = { 1, 7, 64, 255, 256, 1000, 1024, 4097,
                                   262144, 1u << 22 };
  size_t max = (1u << 20) + 333;
  uint8_t *p = malloc(max), a[16], b[16];
  int bad = 0;

  CHECK(p != NULL);
  fill(p, max);
  fprintf(stderr, "hash kernel: %s\n", import_hash_avx2() ? "AVX2" :
          "libxxhash");
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    size_t n = sizes[i];
    import_hash128(p, n, a);
    import_hash128_lib(p, n, b);
    if (memcmp(a, b, 16) != 0) {
      fprintf(stderr, "one-shot differs at %zu bytes\n", n);
      bad++;
    }
    for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
      /* one byte at a time only over the short sizes: it is slow */
      if (pieces[k] == 1 && n > 4096)
        continue;
      if (!pieces_match(p, n, pieces[k])) {
        fprintf(stderr, "pieces of %zu differ at %zu bytes\n", pieces[k],
                n);
        bad++;
      }
    }
  }
  CHECK_INT_EQ(bad, 0);
  /* A different byte gives a different hash (the comparison above could
   * not pass by both sides ignoring the data). */
  import_hash128(p, 4096, a);
  p[4095] ^= 1;
  import_hash128(p, 4096, b);
  CHECK(memcmp(a, b, 16) != 0);
  free(p);
}

/* A 24-bit bottom-up BMP of w x h random pixels; returns its size. */
static size_t write_bmp(const char *path, int w, int h)
{
  size_t row = ((size_t)w * 3 + 3) & ~(size_t)3, n = 54 + row * h;
  uint8_t *b = calloc(1, n);
  FILE *fp;

  CHECK(b != NULL);
  b[0] = 'B';
  b[1] = 'M';
  for (int i = 0; i < 4; i++) {
    b[2 + i] = (uint8_t)(n >> (8 * i));
    b[18 + i] = (uint8_t)((uint32_t)w >> (8 * i));
    b[22 + i] = (uint8_t)((uint32_t)h >> (8 * i));
    b[34 + i] = (uint8_t)((row * h) >> (8 * i));
  }
  b[10] = 54;
  b[14] = 40;
  b[26] = 1;
  b[28] = 24;
  fill(b + 54, row * h);
  fp = fopen(path, "wb");
  CHECK(fp != NULL);
  CHECK_INT_EQ((long)fwrite(b, 1, n, fp), (long)n);
  fclose(fp);
  free(b);
  return n;
}

TEST(import_stores_library_hash)
{
  /* file sizes: 54 + rows: well below, just below, just above and
   * several pieces past 256 KiB, and one of 2.2 MB */
  static const int dims[][2] = { { 16, 16 }, { 100, 873 }, { 296, 296 },
                                 { 300, 300 }, { 640, 480 },
                                 { 1000, 730 } };
  enum { N = sizeof(dims) / sizeof(dims[0]) };
  struct store_opts so = { .nosync = true };
  struct import_opts o = { .threads = 2 };
  struct import_stats st;
  struct store *s;
  struct store_txn *t;
  char dir[128], src[160], sdir[160], path[256];
  int bad = 0;

  CHECK_INT_EQ(tl_tmpdir(dir, sizeof(dir), "test-imphash"), 0);
  snprintf(src, sizeof(src), "%s/src", dir);
  snprintf(sdir, sizeof(sdir), "%s/store", dir);
  CHECK_INT_EQ(mkdir(src, 0755), 0);
  CHECK_INT_EQ(mkdir(sdir, 0755), 0);
  for (int i = 0; i < N; i++) {
    snprintf(path, sizeof(path), "%s/b%d.bmp", src, i);
    size_t n = write_bmp(path, dims[i][0], dims[i][1]);
    fprintf(stderr, "b%d.bmp: %zu bytes\n", i, n);
  }
  CHECK_INT_EQ(store_open(sdir, &so, &s), 0);
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  CHECK_INT_EQ(st.added, N);
  CHECK_INT_EQ(st.hashed, N);
  CHECK_INT_EQ(st.featured, N);
  CHECK_INT_EQ(store_txn_begin(s, false, &t), 0);
  for (int i = 0; i < N; i++) {
    struct sample smp;
    uint8_t want[16], *data;
    size_t n;
    char rel[32];
    snprintf(rel, sizeof(rel), "b%d.bmp", i);
    snprintf(path, sizeof(path), "%s/%s", src, rel);
    data = tl_slurp(path, &n);
    import_hash128_lib(data, n, want);
    CHECK_INT_EQ(store_sample_by_path(t, rel, &smp), 0);
    CHECK(smp.flags & SAMPLE_HASHED);
    if (memcmp(smp.hash, want, 16) != 0) {
      fprintf(stderr, "%s: stored hash is not the file's\n", rel);
      bad++;
    }
    CHECK_INT_EQ(featstore_current(t, smp.id, smp.size, smp.mtime_ns), 1);
    /* the stored features are those of the file's bytes, decoded as the
     * import decodes them */
    {
      static struct imgfeat got, ref;
      struct image im;
      CHECK_INT_EQ(featstore_get(t, smp.id, &got, NULL, NULL), 0);
      CHECK_INT_EQ(img_decode(data, n, IMGFEAT_MIN_SHORT, IMG_DECODE_ORIENT,
                              &im, NULL), 0);
      uint8_t th[IMGVERIFY_BYTES], thref[IMGVERIFY_BYTES];
      int box[4];
      CHECK_INT_EQ(imgfeat_compute(&im, &ref), 0);
      /* the thumbnail of the content box imgfeat_content() finds */
      CHECK_INT_EQ(imgfeat_content(&im, box), 0);
      CHECK_INT_EQ(imgverify_thumb(&im, box[0], box[1], box[2], box[3],
                                   thref), 0);
      CHECK_INT_EQ(featstore_get_thumb(t, smp.id, th), 0);
      image_free(&im);
      /* the main vector is stored as float32 (the sub-windows as int16) */
      if (got.phash != ref.phash ||
          memcmp(got.v, ref.v, sizeof(got.v)) != 0 ||
          memcmp(th, thref, sizeof(th)) != 0) {
        fprintf(stderr, "%s: stored features are not the file's\n", rel);
        bad++;
      }
    }
    free(data);
  }
  CHECK_INT_EQ(bad, 0);
  store_txn_abort(t);
  store_close(s);
  tl_rm_rf(dir);
}

TEST_MAIN(T(hash_equals_library), T(import_stores_library_hash))
