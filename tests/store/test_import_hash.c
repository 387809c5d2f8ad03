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
 *   - a file over 64 MiB (read in a buffer of its own, or piece by piece
 *     when only hashed) truncated and restored again and again while it is
 *     imported: the import never maps it (checked in /proc/self/maps,
 *     where a mapping would also risk SIGBUS on a truncated page) and
 *     never dies; once left alone its hash and features are the file's.
 *   - import_open_current() on an imported file: served as imported, and
 *     after a touch that kept its bytes (the hash read again, across the
 *     256 KiB pieces); refused with -ESTALE once a byte at its end
 *     differs (same size, another time), once it grew or was cut, and
 *     after a touch when no hash was recorded; a link out of the folder
 *     is -EXDEV.
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

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* A 24-bit BMP of w x h whose pixels are a hole (zeros): a large file
 * that costs no disk.  Its size. */
static size_t sparse_bmp(const char *path, int w, int h)
{
  uint8_t hd[54] = { 'B', 'M' };
  size_t row = ((size_t)w * 3 + 3) & ~(size_t)3, n = 54 + row * h;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  CHECK(fd >= 0);
  hd[2] = (uint8_t)n; hd[3] = (uint8_t)(n >> 8);
  hd[4] = (uint8_t)(n >> 16); hd[5] = (uint8_t)(n >> 24);
  hd[10] = 54; hd[14] = 40;
  hd[18] = (uint8_t)w; hd[19] = (uint8_t)(w >> 8);
  hd[22] = (uint8_t)h; hd[23] = (uint8_t)(h >> 8);
  hd[26] = 1; hd[28] = 24;
  CHECK_INT_EQ(write(fd, hd, 54), 54);
  CHECK_INT_EQ(ftruncate(fd, (off_t)n), 0);
  close(fd);
  return n;
}

struct racer {
  const char *path;
  size_t size;
  struct timespec mtime;
  atomic_int stop;
  int mapped;      /* the file was seen in /proc/self/maps */
  long cuts;
};

static bool in_maps(const char *path)
{
  static char buf[1 << 16];
  FILE *f = fopen("/proc/self/maps", "r");
  bool hit = false;

  if (!f)
    return false;
  while (!hit && fgets(buf, sizeof(buf), f))
    hit = strstr(buf, path) != NULL;
  fclose(f);
  return hit;
}

/* Cuts the file to 1000 bytes for 300 us every 2 ms, then gives it back
 * its size and modification time (so that the import's scan mostly sees
 * it unchanged and goes on to read it), and looks for a mapping of it. */
static void *race(void *ud)
{
  struct racer *r = ud;
  int fd = open(r->path, O_WRONLY);

  while (!atomic_load(&r->stop)) {
    struct timespec ts[2] = { { 0, UTIME_OMIT }, r->mtime };
    r->mapped |= in_maps(r->path);
    if (ftruncate(fd, 1000) == 0)
      r->cuts++;
    usleep(300);
    r->mapped |= in_maps(r->path);
    if (ftruncate(fd, (off_t)r->size) != 0 || futimens(fd, ts) != 0)
      break;
    usleep(1700);
  }
  close(fd);
  return NULL;
}

TEST(large_file_truncated_while_imported)
{
  struct store_opts so = { .nosync = true };
  struct import_stats st;
  struct store *s;
  struct store_txn *t;
  struct sample smp;
  struct racer r = { 0 };
  pthread_t th;
  char dir[128], src[160], sdir[160], path[256];
  uint8_t want[16], *data;
  size_t n;
  struct stat sb;

  CHECK_INT_EQ(tl_tmpdir(dir, sizeof(dir), "test-imptrunc"), 0);
  snprintf(src, sizeof(src), "%s/src", dir);
  CHECK_INT_EQ(mkdir(src, 0755), 0);
  snprintf(path, sizeof(path), "%s/big.bmp", src);
  /* 69 MB: past the 64 MiB above which files were once mapped. */
  r.size = sparse_bmp(path, 4800, 4800);
  CHECK(r.size > (64u << 20));
  CHECK_INT_EQ(stat(path, &sb), 0);
  r.path = path;
  r.mtime = sb.st_mtim;
  CHECK_INT_EQ(pthread_create(&th, NULL, race, &r), 0);
  /* Hash only (piece by piece), then with features (a buffer of its
   * own); each in a fresh store, so the file is read every time. */
  for (int round = 0; round < 6; round++) {
    struct import_opts o = { .threads = 1, .no_features = round < 4 };
    snprintf(sdir, sizeof(sdir), "%s/store%d", dir, round);
    CHECK_INT_EQ(mkdir(sdir, 0755), 0);
    CHECK_INT_EQ(store_open(sdir, &so, &s), 0);
    CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
    fprintf(stderr, "round %d: %d added, %d hashed, %d featured, %d skipped\n",
            round, (int)st.added, (int)st.hashed, (int)st.featured,
            (int)st.skipped);
    store_close(s);
  }
  atomic_store(&r.stop, 1);
  pthread_join(th, NULL);
  fprintf(stderr, "%ld cuts\n", r.cuts);
  CHECK(r.cuts > 0);
  CHECK_INT_EQ(r.mapped, 0);
  /* Left alone, the file imports whole. */
  {
    struct import_opts o = { .threads = 1 };
    snprintf(sdir, sizeof(sdir), "%s/store-final", dir);
    CHECK_INT_EQ(mkdir(sdir, 0755), 0);
    CHECK_INT_EQ(store_open(sdir, &so, &s), 0);
    CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
    CHECK_INT_EQ(st.hashed, 1);
    CHECK_INT_EQ(st.featured, 1);
    data = tl_slurp(path, &n);
    CHECK_INT_EQ(n, r.size);
    import_hash128_lib(data, n, want);
    free(data);
    CHECK_INT_EQ(store_txn_begin(s, false, &t), 0);
    CHECK_INT_EQ(store_sample_by_path(t, "big.bmp", &smp), 0);
    CHECK(memcmp(smp.hash, want, 16) == 0);
    CHECK_INT_EQ(featstore_current(t, smp.id, smp.size, smp.mtime_ns), 1);
    store_txn_abort(t);
    store_close(s);
  }
  tl_rm_rf(dir);
}

/* Sets the modification time of path to t seconds (and t ns). */
static void set_mtime(const char *path, time_t t)
{
  struct timespec ts[2] = { { t, t % 1000 }, { t, t % 1000 } };

  CHECK_INT_EQ(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* import_open_current(): 0 for a descriptor, else its errno. */
static int current(const char *root, const struct sample *smp)
{
  int fd = import_open_current(root, smp);

  if (fd >= 0)
    close(fd);
  return fd >= 0 ? 0 : fd;
}

TEST(file_current_as_imported)
{
  struct store_opts so = { .nosync = true };
  struct import_opts o = { .threads = 1 };
  struct import_stats st;
  struct store *s;
  struct store_txn *t;
  struct sample smp, nohash;
  char dir[128], src[160], sdir[160], path[256], out[256];
  uint8_t last, flip;
  size_t n;
  int fd;

  CHECK_INT_EQ(tl_tmpdir(dir, sizeof(dir), "test-current"), 0);
  snprintf(src, sizeof(src), "%s/src", dir);
  snprintf(sdir, sizeof(sdir), "%s/store", dir);
  CHECK_INT_EQ(mkdir(src, 0755), 0);
  CHECK_INT_EQ(mkdir(sdir, 0755), 0);
  snprintf(path, sizeof(path), "%s/p.bmp", src);
  n = write_bmp(path, 640, 480);   /* 900 KiB: four pieces to hash */
  set_mtime(path, 1000000000);
  CHECK_INT_EQ(store_open(sdir, &so, &s), 0);
  CHECK_INT_EQ(import_dir(s, src, &o, &st), 0);
  CHECK_INT_EQ(st.added, 1);
  CHECK_INT_EQ(store_txn_begin(s, false, &t), 0);
  CHECK_INT_EQ(store_sample_by_path(t, "p.bmp", &smp), 0);
  smp.relpath = "p.bmp";   /* its string lives in the transaction */
  store_txn_abort(t);
  store_close(s);
  CHECK(smp.flags & SAMPLE_HASHED);
  CHECK_INT_EQ((long)smp.size, (long)n);
  nohash = smp;
  nohash.flags &= (uint8_t)~SAMPLE_HASHED;

  CHECK_INT_EQ(current(src, &smp), 0);
  /* A touch: the bytes are read again and are the recorded ones. */
  set_mtime(path, 1000000777);
  CHECK_INT_EQ(current(src, &smp), 0);
  /* ... which without a recorded hash cannot be told from a change. */
  CHECK_INT_EQ(current(src, &nohash), -ESTALE);
  /* The last byte rewritten in place (the last of the hash's pieces). */
  fd = open(path, O_RDWR);
  CHECK(fd >= 0);
  CHECK_INT_EQ((long)pread(fd, &last, 1, (off_t)n - 1), 1);
  flip = last ^ 0x5a;
  CHECK_INT_EQ((long)pwrite(fd, &flip, 1, (off_t)n - 1), 1);
  set_mtime(path, 1000000888);
  CHECK_INT_EQ(current(src, &smp), -ESTALE);
  /* Back to its bytes: served again (another time, the same hash). */
  CHECK_INT_EQ((long)pwrite(fd, &last, 1, (off_t)n - 1), 1);
  CHECK_INT_EQ(current(src, &smp), 0);
  /* Grown, then cut. */
  CHECK_INT_EQ((long)pwrite(fd, &last, 1, (off_t)n), 1);
  CHECK_INT_EQ(current(src, &smp), -ESTALE);
  CHECK_INT_EQ(ftruncate(fd, (off_t)n - 1), 0);
  CHECK_INT_EQ(current(src, &smp), -ESTALE);
  close(fd);
  /* A link that leads out of the folder. */
  snprintf(out, sizeof(out), "%s/elsewhere.bmp", dir);
  write_bmp(out, 640, 480);
  CHECK_INT_EQ(unlink(path), 0);
  CHECK_INT_EQ(symlink(out, path), 0);
  CHECK_INT_EQ(current(src, &smp), -EXDEV);
  tl_rm_rf(dir);
}

TEST_MAIN(T(hash_equals_library), T(import_stores_library_hash),
          T(large_file_truncated_while_imported),
          T(file_current_as_imported))
