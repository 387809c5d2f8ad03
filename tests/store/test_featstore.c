/* test_featstore.c - feature records on a real LMDB store: put/get and
 * staleness, the embedding matrix (missing and stale samples left out,
 * external embeddings preferred), the .npy import with good and bad files
 * (each bad one refused with nothing changed), import_dir() computing
 * features once per file version on real JPEG files, the sub-window
 * records, and views/near-duplicates over a dense cluster of 2,200
 * samples past the pair bound (split, with a note in the status text).
 *
 * Every test gets a fresh store (and source folder) under $TMPDIR.
 */
#include "testlib.h"
#include "featstore.h"
#include "import.h"
#include "jpegcodec.h"
#include "util.h"
#include "viewcompute.h"
#include "views.h"

#include "gen/paint.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
  char dir[64];
  struct store *s;
};

static void fx_init(struct fx *f)
{
  struct store_opts o = { .nosync = true };
  char p[128];

  CHECK_INT_EQ(tl_tmpdir(f->dir, sizeof(f->dir), "test-feat"), 0);
  snprintf(p, sizeof(p), "%s/store", f->dir);
  CHECK_INT_EQ(mkdir(p, 0755), 0);
  CHECK_INT_EQ(store_open(p, &o, &f->s), 0);
}

static void fx_done(struct fx *f)
{
  store_close(f->s);
  tl_rm_rf(f->dir);
}

/* Adds samples "s<i>" with size 1000 + i, mtime i. */
static void add_samples(struct fx *f, int n, uint64_t *ids)
{
  struct store_txn *t;

  CHECK_INT_EQ(store_txn_begin(f->s, true, &t), 0);
  for (int i = 0; i < n; i++) {
    struct sample smp = { 0 };
    char name[16], rel[16];
    snprintf(name, sizeof(name), "s%d", i);
    snprintf(rel, sizeof(rel), "s%d.jpg", i);
    smp.size = 1000 + (uint64_t)i;
    smp.mtime_ns = i;
    smp.width = smp.height = 8;
    smp.name = name;
    smp.relpath = rel;
    CHECK_INT_EQ(store_sample_put(t, &smp, &ids[i]), 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
}

static void feat_of(struct imgfeat *f, float base)
{
  memset(f, 0, sizeof(*f));
  f->phash = 0x0123456789abcdefull ^ (uint64_t)base;
  for (int i = 0; i < IMGFEAT_DIM; i++)
    f->v[i] = base + (float)i * 0.001f;
  for (int k = 0; k < IMGFEAT_NSUB; k++)
    for (int i = 0; i < IMGFEAT_DIM; i++)
      f->sub[k][i] = (float)((i * 37 + k * 11) % 201 - 100) / 100.0f;
}

TEST(put_get_current)
{
  struct fx f;
  struct store_txn *t;
  struct imgfeat a, b;
  uint64_t ids[2], size;
  int64_t mt;

  fx_init(&f);
  add_samples(&f, 2, ids);
  feat_of(&a, 0.5f);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  CHECK_INT_EQ(featstore_put(t, ids[0], 1000, 0, &a), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(featstore_get(t, ids[0], &b, &size, &mt), 0);
  CHECK_INT_EQ(size, 1000);
  CHECK_INT_EQ(mt, 0);
  CHECK(b.phash == a.phash);
  CHECK(memcmp(a.v, b.v, sizeof(a.v)) == 0);
  /* Sub-windows come back within the int16 step (1 / 32767). */
  for (int k = 0; k < IMGFEAT_NSUB; k++)
    for (int i = 0; i < IMGFEAT_DIM; i++)
      CHECK(fabsf(a.sub[k][i] - b.sub[k][i]) <= 0.5f / 32767 + 1e-7f);
  CHECK_INT_EQ(featstore_get(t, ids[1], &b, NULL, NULL), -ENOENT);
  /* Features without their thumbnail (an older build's) are not current:
   * the next import computes both again. */
  CHECK_INT_EQ(featstore_current(t, ids[0], 1000, 0), 0);
  store_txn_abort(t);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  {
    uint8_t th[IMGVERIFY_BYTES];
    for (int i = 0; i < IMGVERIFY_BYTES; i++)
      th[i] = (uint8_t)(i * 7);
    CHECK_INT_EQ(featstore_put_thumb(t, ids[0], th), 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(featstore_current(t, ids[0], 1000, 0), 1);
  CHECK_INT_EQ(featstore_current(t, ids[0], 1001, 0), 0);
  CHECK_INT_EQ(featstore_current(t, ids[0], 1000, 5), 0);
  CHECK_INT_EQ(featstore_current(t, ids[1], 1001, 1), 0);
  store_txn_abort(t);
  fx_done(&f);
}

/* Thumbnail records: round trip, another version or side read as
 * absent, a short record as damaged; the loader's flags. */
TEST(thumbs)
{
  struct fx f;
  struct store_txn *t;
  struct imgfeat a;
  struct feat_matrix m;
  uint8_t th[IMGVERIFY_BYTES], back[IMGVERIFY_BYTES], key[8], *all, *ok;
  uint8_t rec[8 + IMGVERIFY_BYTES] = { 0 };
  uint64_t ids[3];

  fx_init(&f);
  add_samples(&f, 3, ids);
  feat_of(&a, 0.25f);
  for (int i = 0; i < IMGVERIFY_BYTES; i++)
    th[i] = (uint8_t)(255 - i % 251);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  for (int i = 0; i < 3; i++)   /* the samples' size and mtime */
    CHECK_INT_EQ(featstore_put(t, ids[i], 1000 + (uint64_t)i, i, &a), 0);
  CHECK_INT_EQ(featstore_put_thumb(t, ids[0], th), 0);
  /* ids[1]: a record of another thumbnail version; ids[2]: none. */
  rec[0] = FEATSTORE_REC_VERSION;
  rec[1] = IMGVERIFY_VERSION + 1;
  rec[2] = IMGVERIFY_SIDE;
  store_key_u64(key, ids[1]);
  CHECK_INT_EQ(store_rec_put(t, FEATSTORE_NS_THUMB, key, 8, rec,
                             sizeof(rec)), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(featstore_get_thumb(t, ids[0], back), 0);
  CHECK(memcmp(th, back, sizeof(th)) == 0);
  CHECK_INT_EQ(featstore_get_thumb(t, ids[1], back), -ENOENT);
  CHECK_INT_EQ(featstore_get_thumb(t, ids[2], NULL), -ENOENT);
  CHECK_INT_EQ(featstore_current(t, ids[0], 1000, 0), 1);
  CHECK_INT_EQ(featstore_current(t, ids[1], 1001, 1), 0);
  CHECK_INT_EQ(featstore_load_matrix(t, &m), 0);
  CHECK_INT_EQ(m.n, 3);
  CHECK_INT_EQ(featstore_load_thumbs(t, &m, &all, &ok), 0);
  CHECK(ok[0] == 1 && ok[1] == 0 && ok[2] == 0);
  CHECK(memcmp(all, th, sizeof(th)) == 0);
  free(all);
  free(ok);
  store_txn_abort(t);
  /* A short record is damage: read as -EIO, loaded as missing. */
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  rec[1] = IMGVERIFY_VERSION;
  CHECK_INT_EQ(store_rec_put(t, FEATSTORE_NS_THUMB, key, 8, rec, 20), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(featstore_get_thumb(t, ids[1], back), -EIO);
  CHECK_INT_EQ(featstore_load_thumbs(t, &m, &all, &ok), 0);
  CHECK(ok[0] == 1 && ok[1] == 0);
  free(all);
  free(ok);
  store_txn_abort(t);
  featstore_matrix_free(&m);
  fx_done(&f);
}

static size_t matrix_rows(struct fx *f, bool *external, size_t *dim,
                          uint64_t *first_id, float *first_val)
{
  struct store_txn *t;
  struct feat_matrix m;
  size_t n;

  CHECK_INT_EQ(store_txn_begin(f->s, false, &t), 0);
  CHECK_INT_EQ(featstore_load_matrix(t, &m), 0);
  store_txn_abort(t);
  n = m.n;
  *external = m.external;
  *dim = m.dim;
  if (n) {
    *first_id = m.ids[0];
    *first_val = m.x[0];
  }
  featstore_matrix_free(&m);
  return n;
}

TEST(matrix_computed)
{
  struct fx f;
  struct store_txn *t;
  struct imgfeat a;
  struct sample smp;
  uint64_t ids[4], fid = 0;
  float fv = 0;
  size_t dim = 0;
  bool ext = true;

  fx_init(&f);
  add_samples(&f, 4, ids);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  for (int i = 0; i < 4; i++) {
    feat_of(&a, (float)i);
    /* sample 2 gets features of an older file version: stale */
    CHECK_INT_EQ(featstore_put(t, ids[i], 1000 + (uint64_t)i + (i == 2), i,
                               &a), 0);
  }
  /* sample 3 is missing */
  CHECK_INT_EQ(store_sample_get(t, ids[3], &smp), 0);
  smp.flags |= SAMPLE_MISSING;
  CHECK_INT_EQ(store_sample_put(t, &smp, NULL), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(matrix_rows(&f, &ext, &dim, &fid, &fv), 2);
  CHECK(!ext);
  CHECK_INT_EQ(dim, IMGFEAT_DIM);
  CHECK_INT_EQ(fid, ids[0]);
  CHECK_NEAR(fv, 0.0, 1e-9);
  fx_done(&f);
}

/* Writes a .npy with the given header dict and rows x cols values. */
static void write_npy(const char *path, const char *dict, const void *data,
                      size_t bytes, int version)
{
  FILE *fp = fopen(path, "wb");
  char hdr[256];
  size_t pre = version == 1 ? 10 : 12, hl;

  snprintf(hdr, sizeof(hdr), "%s", dict);
  hl = strlen(hdr);
  while ((pre + hl + 1) % 64)
    hdr[hl++] = ' ';
  hdr[hl++] = '\n';
  fwrite("\x93NUMPY", 1, 6, fp);
  fputc(version, fp);
  fputc(0, fp);
  fputc((int)(hl & 0xff), fp);
  fputc((int)(hl >> 8), fp);
  if (version != 1) {
    fputc(0, fp);
    fputc(0, fp);
  }
  fwrite(hdr, 1, hl, fp);
  if (bytes)
    fwrite(data, 1, bytes, fp);
  fclose(fp);
}

static void write_text(const char *path, const char *s)
{
  FILE *fp = fopen(path, "w");
  fputs(s, fp);
  fclose(fp);
}

static int reasons;
static char last_reason[512];

static void on_reason(const char *r, void *ud)
{
  (void)ud;
  reasons++;
  snprintf(last_reason, sizeof(last_reason), "%s", r);
}

static int try_import(struct fx *f, const char *dict, const void *data,
                      size_t bytes, const char *names)
{
  char npy[128], txt[128];
  size_t rows = 99;
  int r;

  snprintf(npy, sizeof(npy), "%s/e.npy", f->dir);
  snprintf(txt, sizeof(txt), "%s/e.txt", f->dir);
  write_npy(npy, dict, data, bytes, 1);
  write_text(txt, names);
  reasons = 0;
  last_reason[0] = '\0';
  r = featstore_import_npy(f->s, npy, txt, on_reason, NULL, &rows);
  if (r < 0) {
    CHECK_INT_EQ(rows, 0);
    CHECK_INT_EQ(reasons, 1);   /* exactly one line */
  } else {
    CHECK_INT_EQ(reasons, 0);
  }
  return r;
}

TEST(npy_import)
{
  static const char d3[] = "{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (3, 4), }";
  struct fx f;
  struct store_txn *t;
  struct imgfeat a;
  uint64_t ids[4], fid = 0;
  float v[12], fv = 0;
  double v8[8];
  size_t dim = 0, n;
  bool ext = false;

  fx_init(&f);
  add_samples(&f, 4, ids);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  for (int i = 0; i < 4; i++) {
    feat_of(&a, (float)i);
    CHECK_INT_EQ(featstore_put(t, ids[i], 1000 + (uint64_t)i, i, &a), 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
  for (int i = 0; i < 12; i++)
    v[i] = (float)i + 0.25f;

  /* good: names with and without .jpg, CRLF line ends, no final newline */
  CHECK_INT_EQ(try_import(&f, d3, v, sizeof(v), "s2.jpg\r\ns0\ns3.JPG"), 0);
  n = matrix_rows(&f, &ext, &dim, &fid, &fv);
  CHECK_INT_EQ(n, 3);
  CHECK(ext);
  CHECK_INT_EQ(dim, 4);
  CHECK_INT_EQ(fid, ids[0]);        /* rows in id order: s0 was row 1 */
  CHECK_NEAR(fv, 4.25, 1e-6);

  /* bad ones: each refused, the imported set unchanged */
  CHECK_INT_EQ(try_import(&f, d3, v, sizeof(v), "s0\ns1\n"), -EINVAL);
  CHECK(strstr(last_reason, "names") != NULL);
  CHECK_INT_EQ(try_import(&f, d3, v, sizeof(v), "s0\ns1\nnope\n"), -EINVAL);
  CHECK(strstr(last_reason, "nope") != NULL);
  CHECK_INT_EQ(try_import(&f, d3, v, sizeof(v), "s0\ns1\ns0.jpg\n"), -EINVAL);
  CHECK(strstr(last_reason, "twice") != NULL);
  CHECK_INT_EQ(try_import(&f, d3, v, sizeof(v), "s0\n\ns1\n"), -EINVAL);
  CHECK_INT_EQ(try_import(&f, d3, v, sizeof(v) - 4, "s0\ns1\ns2\n"), -EINVAL);
  CHECK(strstr(last_reason, "size") != NULL);
  v[5] = NAN;
  CHECK_INT_EQ(try_import(&f, d3, v, sizeof(v), "s0\ns1\ns2\n"), -EINVAL);
  CHECK(strstr(last_reason, "NaN") != NULL);
  v[5] = 5.25f;
  CHECK_INT_EQ(try_import(&f, "{'descr': '>f4', 'fortran_order': False, "
                          "'shape': (3, 4), }", v, sizeof(v), "s0\ns1\ns2\n"),
               -EINVAL);
  CHECK_INT_EQ(try_import(&f, "{'descr': '<i4', 'fortran_order': False, "
                          "'shape': (3, 4), }", v, sizeof(v), "s0\ns1\ns2\n"),
               -EINVAL);
  CHECK_INT_EQ(try_import(&f, "{'descr': '<f4', 'fortran_order': True, "
                          "'shape': (3, 4), }", v, sizeof(v), "s0\ns1\ns2\n"),
               -EINVAL);
  CHECK_INT_EQ(try_import(&f, "{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (12,), }", v, sizeof(v), "s0\n"), -EINVAL);
  {
    char npy[128], txt[128];
    snprintf(npy, sizeof(npy), "%s/junk.npy", f.dir);
    snprintf(txt, sizeof(txt), "%s/e.txt", f.dir);
    write_text(npy, "PK\3\4 this is a zip, not a .npy");
    reasons = 0;
    CHECK_INT_EQ(featstore_import_npy(f.s, npy, txt, on_reason, NULL, NULL),
                 -EINVAL);
    CHECK_INT_EQ(reasons, 1);
    CHECK_INT_EQ(featstore_import_npy(f.s, "/nonexistent.npy", txt, NULL,
                                      NULL, NULL), -ENOENT);
  }
  n = matrix_rows(&f, &ext, &dim, &fid, &fv);
  CHECK_INT_EQ(n, 3);
  CHECK(ext);
  CHECK_INT_EQ(dim, 4);
  CHECK_NEAR(fv, 4.25, 1e-6);

  /* float64 replaces the whole set */
  for (int i = 0; i < 8; i++)
    v8[i] = -1.5 * i;
  CHECK_INT_EQ(try_import(&f, "{'descr': '<f8', 'fortran_order': False, "
                          "'shape': (2, 4), }", v8, sizeof(v8), "s3\ns1\n"),
               0);
  n = matrix_rows(&f, &ext, &dim, &fid, &fv);
  CHECK_INT_EQ(n, 2);
  CHECK_INT_EQ(fid, ids[1]);
  CHECK_NEAR(fv, -6.0, 1e-6);

  /* clear: back to the computed features */
  CHECK_INT_EQ(featstore_clear_external(f.s, &n), 0);
  CHECK_INT_EQ(n, 2);
  n = matrix_rows(&f, &ext, &dim, &fid, &fv);
  CHECK_INT_EQ(n, 4);
  CHECK(!ext);
  CHECK_INT_EQ(dim, IMGFEAT_DIM);
  fx_done(&f);
}

/* import_dir() on real JPEG files: features for each, computed once per
 * file version, skipped with no_features, a broken file reported. */
static int import_reports;

static void imp_report(const char *rel, const char *reason, void *ud)
{
  (void)rel; (void)reason; (void)ud;
  import_reports++;
}

static void write_jpeg(const char *path, uint64_t seed)
{
  struct image im;
  uint8_t *jpg;
  size_t len;
  FILE *fp;

  CHECK_INT_EQ(image_alloc(&im, 96, 72, 3), 0);
  rng = seed * 0x9E3779B97F4A7C15ull | 1;
  paint(im.px, 96, 72);
  CHECK_INT_EQ(jpeg_encode(&im, 85, &jpg, &len), 0);
  fp = fopen(path, "wb");
  fwrite(jpg, 1, len, fp);
  fclose(fp);
  free(jpg);
  image_free(&im);
}

TEST(import_features)
{
  struct import_opts o = { .report = imp_report, .threads = 2 };
  struct import_stats st;
  struct store_txn *t;
  struct feat_matrix m;
  struct fx f;
  char src[128], p[192];
  uint64_t n_samples = 0;

  fx_init(&f);
  snprintf(src, sizeof(src), "%s/src", f.dir);
  CHECK_INT_EQ(mkdir(src, 0755), 0);
  for (int i = 0; i < 40; i++) {
    snprintf(p, sizeof(p), "%s/%c_%02d.jpg", src, "ba"[i % 2], i);
    write_jpeg(p, (uint64_t)i + 1);
  }
  o.no_features = true;
  CHECK_INT_EQ(import_dir(f.s, src, &o, &st), 0);
  CHECK_INT_EQ(st.added, 40);
  CHECK_INT_EQ(st.featured, 0);
  o.no_features = false;
  CHECK_INT_EQ(import_dir(f.s, src, &o, &st), 0);
  CHECK_INT_EQ(st.unchanged, 40);
  CHECK_INT_EQ(st.featured, 40);
  CHECK_INT_EQ(import_dir(f.s, src, &o, &st), 0);
  CHECK_INT_EQ(st.featured, 0);               /* nothing changed */
  CHECK_INT_EQ(st.hashed, 0);

  /* ids follow sorted paths: a_* (odd i) before b_* */
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  {
    struct sample s1;
    CHECK_INT_EQ(store_sample_get(t, 1, &s1), 0);
    CHECK_STR_EQ(s1.relpath, "a_01.jpg");
  }
  CHECK_INT_EQ(featstore_load_matrix(t, &m), 0);
  CHECK_INT_EQ(store_sample_count(t, &n_samples), 0);
  {
    /* Every imported sample has its verification thumbnail. */
    uint8_t *all, *ok;
    size_t have = 0;
    CHECK_INT_EQ(featstore_load_thumbs(t, &m, &all, &ok), 0);
    for (size_t i = 0; i < m.n; i++)
      have += ok[i];
    CHECK_INT_EQ(have, 40);
    free(all);
    free(ok);
  }
  store_txn_abort(t);
  CHECK_INT_EQ(m.n, 40);
  CHECK_INT_EQ(n_samples, 40);
  featstore_matrix_free(&m);

  /* a changed file gets new features; a file whose scan data is broken
   * keeps a record but is reported and gets none */
  snprintf(p, sizeof(p), "%s/a_01.jpg", src);
  write_jpeg(p, 999);
  {
    struct timespec ts[2] = { { 0, UTIME_NOW }, { 12345, 0 } };
    utimensat(AT_FDCWD, p, ts, 0);
  }
  snprintf(p, sizeof(p), "%s/b_00.jpg", src);
  {
    FILE *fp = fopen(p, "r+b");
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, sz / 2, SEEK_SET);
    for (int k = 0; k < 64; k++)
      fputc(0xFF, fp);   /* 0xFF runs: invalid entropy-coded data */
    fputc(0xC4, fp);
    fclose(fp);
    struct timespec ts[2] = { { 0, UTIME_NOW }, { 23456, 0 } };
    utimensat(AT_FDCWD, p, ts, 0);
  }
  import_reports = 0;
  CHECK_INT_EQ(import_dir(f.s, src, &o, &st), 0);
  CHECK_INT_EQ(st.updated, 2);
  CHECK(st.featured >= 1 && st.featured <= 2);
  CHECK_INT_EQ(st.featured + (uint64_t)import_reports, 2);
  fx_done(&f);
}

/* 2,200 samples whose features are close but not identical (frames of
 * one static scene with noise): every pair is within neardup.threshold,
 * far past the pair bound.  views/near-duplicates is computed anyway from
 * the real store: every sample in a group, the samples cut to their
 * nearest neighbours counted in the list's note, and the note in the
 * status text the mount shows. */
TEST(neardup_dense_cluster)
{
  enum { N = 2200 };
  struct fx f;
  struct store_txn *t;
  struct views *v;
  struct view_list *l = NULL;
  struct buf st;
  static uint64_t ids[N];
  static struct imgfeat a;
  uint64_t s = 7;

  fx_init(&f);
  add_samples(&f, N, ids);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  for (int i = 0; i < N; i++) {
    memset(&a, 0, sizeof(a));
    for (int k = 0; k < IMGFEAT_DIM; k++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      a.v[k] = (float)(k % 3) - 1.0f +
               0.002f * ((float)((s >> 40) % 1000) / 1000.0f - 0.5f);
    }
    for (int k = 0; k < IMGFEAT_NSUB; k++)
      memcpy(a.sub[k], a.v, sizeof(a.v));
    CHECK_INT_EQ(featstore_put(t, ids[i], 1000 + (uint64_t)i, i, &a), 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(views_new(f.s, &v), 0);
  CHECK_INT_EQ(views_get(v, VIEW_NEARDUP, &l), 0);
  if (l) {
    CHECK_INT_EQ(l->n, N);
    CHECK(strstr(l->note, "samples have more than 64 near neighbours") !=
          NULL);
    CHECK(strstr(l->note, "their groups are split") != NULL);
    CHECK(l->items[l->n - 1].rank > 1);   /* split: several groups */
    view_list_put(l);
  }
  buf_init(&st, 1 << 20);
  views_progress(v, &st);
  CHECK(st.data && strstr(st.data, "their groups are split") != NULL);
  buf_free(&st);
  views_free(v);
  fx_done(&f);
}

/* views/near-duplicates follows the thumbnails as well as the features:
 * two samples whose features are close but whose thumbnails differ are
 * no group; when the next import writes matching thumbnails beside the
 * same feature records (a store from before thumbnails, or a thumbnail
 * version of its own), the cached view is computed again and the pair is
 * a group.  The cache key once walked the feature records only. */
TEST(neardup_view_follows_thumbnails)
{
  struct fx f;
  struct store_txn *t;
  struct views *v;
  struct view_list *l = NULL;
  static struct imgfeat a;
  uint8_t th[2][IMGVERIFY_BYTES];
  uint64_t ids[2], s = 11;

  fx_init(&f);
  add_samples(&f, 2, ids);
  for (int j = 0; j < 2; j++)
    for (int i = 0; i < IMGVERIFY_BYTES; i++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      th[j][i] = (uint8_t)(s >> 56);   /* two unrelated textures */
    }
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  for (int i = 0; i < 2; i++) {
    memset(&a, 0, sizeof(a));
    for (int k = 0; k < IMGFEAT_DIM; k++)
      a.v[k] = (float)(k % 3) - 1.0f + 0.001f * (float)(i * (k % 5));
    for (int k = 0; k < IMGFEAT_NSUB; k++)
      memcpy(a.sub[k], a.v, sizeof(a.v));
    CHECK_INT_EQ(featstore_put(t, ids[i], 1000 + (uint64_t)i, i, &a), 0);
    CHECK_INT_EQ(featstore_put_thumb(t, ids[i], th[i]), 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(views_new(f.s, &v), 0);
  CHECK_INT_EQ(views_get(v, VIEW_NEARDUP, &l), 0);
  CHECK(l != NULL && l->n == 0);   /* the thumbnails disagree */
  if (l)
    view_list_put(l);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  CHECK_INT_EQ(featstore_put_thumb(t, ids[1], th[0]), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  l = NULL;
  CHECK_INT_EQ(views_get(v, VIEW_NEARDUP, &l), 0);
  CHECK(l != NULL && l->n == 2);   /* now they agree */
  if (l)
    view_list_put(l);
  views_free(v);
  fx_done(&f);
}

/* views/unique takes its tiers from views/near-duplicates instead of
 * computing the groups (and their exact k-NN) a second time: after
 * listing views/unique alone, the near-duplicate view is computed
 * (status shows it), and the unique list is the one computed with groups
 * of its own (viewcompute_unique() without the view), item for item. */
TEST(unique_takes_groups_from_neardup)
{
  enum { N = 240 };
  struct fx f;
  struct store_txn *t;
  struct views *v;
  struct view_list *u = NULL, *nd = NULL, *ref = view_list_new();
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  uint64_t done = 0, total = 0;
  struct viewcompute_progress pr = { &mu, &done, &total, NULL };
  struct buf st;
  static uint64_t ids[N];
  static struct imgfeat a;
  uint64_t s = 5;
  const char *line;

  fx_init(&f);
  add_samples(&f, N, ids);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  for (int i = 0; i < N; i++) {
    if (i % 8 != 1) {   /* every 8th sample repeats the one before */
      memset(&a, 0, sizeof(a));
      for (int k = 0; k < IMGFEAT_DIM; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        a.v[k] = (float)((s >> 40) % 2000) / 1000.0f - 1.0f;
      }
      for (int k = 0; k < IMGFEAT_NSUB; k++)
        memcpy(a.sub[k], a.v, sizeof(a.v));
    }
    CHECK_INT_EQ(featstore_put(t, ids[i], 1000 + (uint64_t)i, i, &a), 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(views_new(f.s, &v), 0);
  CHECK_INT_EQ(views_get(v, VIEW_UNIQUE, &u), 0);
  buf_init(&st, 1 << 16);
  views_progress(v, &st);
  line = st.data ? strstr(st.data, "near-duplicates") : NULL;
  /* its own line says computed, not "not computed yet" */
  CHECK(line != NULL && strstr(line, "samples (computed in") != NULL &&
        strstr(line, "samples (computed in") < strchr(line, '\n'));
  buf_free(&st);
  CHECK_INT_EQ(views_get(v, VIEW_NEARDUP, &nd), 0);
  CHECK(nd != NULL && nd->n >= 2 * (N / 8));   /* the pairs are groups */
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(viewcompute_unique(t, &pr, NULL, ref), 0);
  store_txn_abort(t);
  CHECK(u != NULL && ref != NULL && u->n == ref->n && u->n > 0);
  for (size_t i = 0; u && ref && i < u->n && i < ref->n; i++) {
    CHECK_INT_EQ(u->items[i].sample_id, ref->items[i].sample_id);
    CHECK_INT_EQ(u->items[i].rank, ref->items[i].rank);
  }
  view_list_put(u);
  view_list_put(nd);
  view_list_put(ref);
  views_free(v);
  fx_done(&f);
}

TEST_MAIN(T(put_get_current), T(thumbs), T(matrix_computed), T(npy_import),
          T(import_features), T(neardup_dense_cluster),
          T(neardup_view_follows_thumbnails),
          T(unique_takes_groups_from_neardup))
