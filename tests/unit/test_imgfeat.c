/* test_imgfeat.c - the fast feature path (imgfeat.c with its vector
 * kernels) computes what the reference computation (imgfeat_ref.c: plain
 * scalar loops, libm's atan2f) does, on real image files:
 *   - every variant of the mkimg corpus (each format written by its own
 *     library, 640x480) decoded as the import decodes it, and at full size;
 *   - JPEGs of painted pictures with solid borders (two and four sides,
 *     black, white, a mid colour), a grey copy, tiny and odd sizes, a flat
 *     picture, and one whose content box is over the integral image's
 *     limit (the window-by-window path).
 * Tolerance: every component of the main and sub-window vectors within
 * FEAT_TOL of the reference, and the hash equal (a bit may only flip when
 * its coefficient sits on its group's median, which these files avoid:
 * the test counts it).  The polynomial atan2 is checked against libm's
 * atan2 in double.
 *
 * The environment names the mkimg binary (MKIMG, set by meson).
 */
#include "testlib.h"
#include "imgcodec.h"
#include "imgfeat.h"
#include "imgfeat_i.h"
#include "unit/imgfeat_ref.h"
#include "gen/paint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Largest difference allowed per vector component (components are <= 1;
 * what differs is the hue of the colour histogram, by under 1e-6 of a bin,
 * and float rounding where sums are ordered differently). */
#define FEAT_TOL 2e-5

static double worst;          /* largest component difference seen */
static int compared, hash_diff, kernels_compared;

/* The four-lane and the eight-lane (AVX2) kernels give the very same
 * features, bit for bit, as the default choice gave (def). */
static void kernels_agree(const char *what, const struct image *im,
                          const struct imgfeat *def)
{
  static struct imgfeat n4, n8;

  imgfeat_wide = 0;
  CHECK_INT_EQ(imgfeat_compute(im, &n4), 0);
  if (__builtin_cpu_supports("avx2")) {
    imgfeat_wide = 1;
    CHECK_INT_EQ(imgfeat_compute(im, &n8), 0);
  } else {
    n8 = n4;   /* one kernel: nothing to compare it with */
  }
  imgfeat_wide = -1;
  if (memcmp(&n4, def, sizeof(n4)) != 0 || memcmp(&n8, def, sizeof(n8)))
    fprintf(stderr, "%s: the kernels give different features\n", what);
  CHECK(memcmp(&n4, def, sizeof(n4)) == 0);
  CHECK(memcmp(&n8, def, sizeof(n8)) == 0);
  kernels_compared++;
}

static void compare(const char *what, const struct image *im)
{
  static struct imgfeat a, b;
  double d = 0;

  CHECK_INT_EQ(imgfeat_compute(im, &a), 0);
  CHECK_INT_EQ(imgfeat_ref_compute(im, &b), 0);
  for (int i = 0; i < IMGFEAT_DIM; i++) {
    d = fmax(d, fabs((double)a.v[i] - b.v[i]));
    for (int k = 0; k < IMGFEAT_NSUB; k++)
      d = fmax(d, fabs((double)a.sub[k][i] - b.sub[k][i]));
  }
  if (d > FEAT_TOL)
    fprintf(stderr, "%s: %dx%dx%d differs by %.3g\n", what, im->w, im->h,
            im->channels, d);
  CHECK(d <= FEAT_TOL);
  kernels_agree(what, im, &a);
  if (a.phash != b.phash)
    fprintf(stderr, "%s: hash differs in %d bits\n", what,
            imgfeat_hamming(a.phash, b.phash));
  hash_diff += imgfeat_hamming(a.phash, b.phash);
  worst = fmax(worst, d);
  compared++;
}

TEST(atan2_polynomial)
{
  double worst_at = 0;

  for (int i = -200; i <= 200; i++)
    for (int j = -200; j <= 200; j++) {
      float y = (float)(i * 0.37), x = (float)(j * 0.41);
      double e = fabs((double)imgfeat_atan2(y, x) - atan2((double)y, x));
      if (e > 2 * M_PI - 1e-3)    /* -pi and pi are the same hue */
        e = fabs(e - 2 * M_PI);
      worst_at = fmax(worst_at, e);
    }
  fprintf(stderr, "atan2: largest error %.3g rad\n", worst_at);
  CHECK(worst_at < 6e-7);
  CHECK(imgfeat_atan2(0, 0) == 0);
  CHECK(fabs(imgfeat_atan2(1, 0) - M_PI / 2) < 6e-7);
  CHECK(fabs(imgfeat_atan2(0, -1) - M_PI) < 6e-7);
  CHECK(fabs(imgfeat_atan2(-1, 0) + M_PI / 2) < 6e-7);
  CHECK(fabs(imgfeat_atan2(1e-30f, 1e30f)) < 1e-7);
}

TEST(corpus_files)
{
  char dir[64], cmd[512], line[512];
  const char *mkimg = getenv("MKIMG"), *tmp = getenv("TMPDIR");
  FILE *m;
  int files = 0;

  CHECK(mkimg != NULL);
  snprintf(dir, sizeof(dir), "%s/test-imgfeat-XXXXXX", tmp ? tmp : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
  snprintf(cmd, sizeof(cmd), "%s -W 640 -H 480 -s 7 %s", mkimg, dir);
  m = popen(cmd, "r");
  CHECK(m != NULL);
  while (fgets(line, sizeof(line), m)) {
    char name[128], path[256];
    struct image im;
    uint8_t *data;
    size_t n;

    CHECK_INT_EQ(sscanf(line, "%127s", name), 1);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    data = tl_slurp(path, &n);
    CHECK(n > 0);
    /* As the import decodes it (reduced), and at full size. */
    CHECK_INT_EQ(img_decode(data, n, IMGFEAT_MIN_SHORT, IMG_DECODE_ORIENT,
                            &im, NULL), 0);
    compare(name, &im);
    image_free(&im);
    CHECK_INT_EQ(img_decode(data, n, 0, IMG_DECODE_ORIENT, &im, NULL), 0);
    compare(name, &im);
    image_free(&im);
    free(data);
    unlink(path);
    files++;
  }
  CHECK_INT_EQ(pclose(m), 0);
  rmdir(dir);
  CHECK(files >= 20);
}

/* A painted picture of w x h, with a border of `pad` pixels of colour c
 * on the sides in `sides` (bit 0 top, 1 bottom, 2 left, 3 right), written
 * as a JPEG at quality 90 and decoded back as the import does. */
static void padded(uint64_t seed, int w, int h, int pad, int sides,
                   const uint8_t c[3], int min_short, struct image *out)
{
  struct image im;
  uint8_t *jpg;
  size_t len;

  CHECK_INT_EQ(image_alloc(&im, w, h, 3), 0);
  rng = seed * 0x9E3779B97F4A7C15ull | 1;
  paint(im.px, w, h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (((sides & 1) && y < pad) || ((sides & 2) && y >= h - pad) ||
          ((sides & 4) && x < pad) || ((sides & 8) && x >= w - pad))
        memcpy(im.px + ((size_t)y * w + x) * 3, c, 3);
  CHECK_INT_EQ(jpeg_encode(&im, 90, &jpg, &len), 0);
  image_free(&im);
  CHECK_INT_EQ(img_decode(jpg, len, min_short, IMG_DECODE_ORIENT, out,
                          NULL), 0);
  free(jpg);
}

TEST(borders_and_sizes)
{
  static const uint8_t black[3] = { 0, 0, 0 }, white[3] = { 255, 255, 255 },
                       mid[3] = { 118, 132, 104 };
  struct image im, gray;

  for (int s = 0; s < 12; s++) {
    const uint8_t *c = s % 3 == 0 ? black : s % 3 == 1 ? white : mid;
    padded((uint64_t)s + 100, 640, 480, 24 + 6 * s, s % 2 ? 15 : 3, c,
           IMGFEAT_MIN_SHORT, &im);
    compare("padded", &im);
    /* the same picture in grey, one channel */
    CHECK_INT_EQ(image_alloc(&gray, im.w, im.h, 1), 0);
    for (size_t i = 0; i < (size_t)im.w * im.h; i++)
      gray.px[i] = (uint8_t)((im.px[3 * i] * 77 + im.px[3 * i + 1] * 150 +
                              im.px[3 * i + 2] * 29) >> 8);
    compare("grey", &gray);
    image_free(&gray);
    image_free(&im);
  }
  /* odd and tiny sizes, decoded at full size */
  padded(7, 33, 17, 0, 0, black, 0, &im);
  compare("33x17", &im);
  image_free(&im);
  padded(8, 5, 3, 0, 0, black, 0, &im);
  compare("5x3", &im);
  image_free(&im);
  padded(9, 1, 1, 0, 0, black, 0, &im);
  compare("1x1", &im);
  image_free(&im);
  /* a flat picture: the border rule keeps its centre */
  CHECK_INT_EQ(image_alloc(&im, 64, 48, 3), 0);
  memset(im.px, 90, (size_t)64 * 48 * 3);
  compare("flat", &im);
  image_free(&im);
  /* content box over the integral image's limit (2^20 pixels) */
  padded(10, 1280, 960, 0, 0, black, 0, &im);
  compare("1280x960", &im);
  image_free(&im);
  fprintf(stderr, "%d feature sets compared: largest difference %.3g, "
          "%d hash bits differ; %d with both kernels, the same bits\n",
          compared, worst, hash_diff, kernels_compared);
  CHECK(hash_diff <= compared / 50);
}

/* The histogram votes of the two kernels at the edges of what a picture
 * gives (luma 0..255, chroma -127.5..127.5): zero, signed zero and tiny
 * values, grey and fully saturated cells, cells on the hue axes (cb or
 * cr zero), random cells. */
TEST(hist_kernels_extremes)
{
  static float yy[G][G], cb[G][G], cr[G][G];
  static const float odd[] = { 0.0f, -0.0f, 1e-30f, -1e-30f, 127.5f,
                               -127.5f, 1e-3f, -1e-3f, 0.5f, 64.0f,
                               -64.0f, 3.0f };
  float h4[N_HIST], h8[N_HIST];

  if (!__builtin_cpu_supports("avx2")) {
    fprintf(stderr, "no AVX2 here: one histogram kernel only\n");
    return;
  }
  for (int round = 0; round < 40; round++) {
    rng = (uint64_t)round * 0x9E3779B97F4A7C15ull | 1;
    for (int y = 0; y < G; y++)
      for (int x = 0; x < G; x++) {
        uint32_t r = rnd();
        int k = (int)(r % 3);
        float v = (float)frand();
        yy[y][x] = round % 4 == 0 ? 2.0f * fabsf(odd[(r >> 3) % 12])
                                  : 255.0f * v;
        cb[y][x] = k == 0 ? 0.0f : (v - 0.5f) * 255.0f;
        cr[y][x] = k == 1 ? 0.0f : round % 2 ? odd[(r >> 7) % 12]
                                             : (0.5f - v) * 255.0f;
      }
    memset(h4, 0, sizeof(h4));
    memset(h8, 0, sizeof(h8));
    imgfeat_wide = 0;
    imgfeat_hist_votes((const float(*)[G])yy, (const float(*)[G])cb,
                       (const float(*)[G])cr, 90.0f + round, h4);
    imgfeat_wide = 1;
    imgfeat_hist_votes((const float(*)[G])yy, (const float(*)[G])cb,
                       (const float(*)[G])cr, 90.0f + round, h8);
    imgfeat_wide = -1;
    CHECK(memcmp(h4, h8, sizeof(h4)) == 0);
  }
}

/* The border rule at the features' decode size: a band of a solid colour,
 * with the noise a JPEG or a sensor leaves in it (up to +-6), is border; a
 * flat but textured region of the picture (a sky, a wall, paper: +-9 and
 * more) is not.  Where that region was taken as border, how much of it
 * went depended on the edit (a brighter or a re-encoded copy trimmed
 * another amount), so copies of one photograph got different windows
 * (docs/ARCHITECTURE.md §10, "Borders"). */
static void band(struct image *im, int y0, int y1, int base, int amp)
{
  for (int y = y0; y < y1; y++)
    for (int x = 0; x < im->w; x++)
      for (int k = 0; k < 3; k++)
        im->px[((size_t)y * im->w + x) * 3 + k] =
            (uint8_t)(base + k * 10 + (int)(rnd() % (2u * amp + 1)) - amp);
}

TEST(flat_picture_edge_is_no_border)
{
  struct image im;
  int box[4];

  rng = 77;
  CHECK_INT_EQ(image_alloc(&im, 128, 96, 3), 0);
  for (int amp = 0; amp <= 12; amp++) {
    paint(im.px, im.w, im.h);
    band(&im, 0, 30, 150, amp);   /* the picture's own flat top */
    CHECK_INT_EQ(imgfeat_content(&im, box), 0);
    if (amp <= 6)
      CHECK_INT_EQ(box[1], 30);   /* solid, or noise: a border */
    else if (amp >= 9)
      CHECK_INT_EQ(box[1], 0);    /* texture: the picture */
    /* the same with 12 lines of solid padding above it: the padding
     * goes, the sky stays when it stayed without the padding */
    band(&im, 0, 12, 20, 2);
    CHECK_INT_EQ(imgfeat_content(&im, box), 0);
    if (amp >= 9)
      CHECK_INT_EQ(box[1], 12);
  }
  image_free(&im);
}

TEST_MAIN(T(atan2_polynomial), T(corpus_files), T(borders_and_sizes),
          T(flat_picture_edge_is_no_border),
          T(hist_kernels_extremes))
