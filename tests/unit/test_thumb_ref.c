/* test_thumb_ref.c - the verification thumbnail (imgverify_thumb) gives
 * the same bytes as the plain computation it replaced: one row at a
 * time, each pixel's luma added into its two cells of a float line in
 * memory, the line spread over the rows' cells in double, the range
 * stretched to 0..255 (written out below as the reference).  The fast
 * path runs four rows at a time in vector lanes and keeps its running
 * cells in registers; the stored thumbnails (IMGVERIFY_VERSION) must not
 * change by a single byte, since a store keeps them from earlier imports.
 *
 * Pictures: every variant of the mkimg corpus decoded as the import
 * decodes it and at full size, RGB and grey, over the whole picture and
 * over boxes of every height modulo 4 and odd offsets, down to N x N.
 * The environment names the mkimg binary (MKIMG, set by meson).
 */
#include "testlib.h"
#include "imgcodec.h"
#include "imgfeat.h"
#include "imgverify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N IMGVERIFY_SIDE
#define W_R 0.2558
#define W_G 0.6511
#define W_B 0.0931
#define FLAT_RANGE 4.0

/* Where source pixel i of a line of len (>= N) pixels goes (as
 * imgverify.c): cell cell[i] with weight w0[i], cell[i] + 1 with w1[i]. */
static void ref_axis(int len, int *cell, float *w0, float *w1)
{
  double f = (double)N / len;

  for (int i = 0; i < len; i++) {
    double s = i * f, e = (i + 1) * f;
    int c = (int)s < N ? (int)s : N - 1;
    cell[i] = c;
    w0[i] = (float)((e < c + 1 || c == N - 1 ? e : c + 1) - s);
    w1[i] = (float)(e > c + 1 && c < N - 1 ? e - (c + 1) : 0);
  }
}

/* The thumbnail of a region of at least N pixels each way, the plain
 * way. */
static void ref_thumb(const struct image *im, int x0, int y0, int x1,
                      int y1, uint8_t out[IMGVERIFY_BYTES])
{
  static int cx[4096], cy[4096];
  static float ax[4096], bx[4096], ay[4096], by[4096];
  static double acc[N][N];
  int w = x1 - x0, ch = im->channels;
  double vmin = 1e9, vmax = -1e9;

  memset(out, 0, IMGVERIFY_BYTES);
  memset(acc, 0, sizeof(acc));
  ref_axis(w, cx, ax, bx);
  ref_axis(y1 - y0, cy, ay, by);
  for (int y = y0; y < y1; y++) {
    const uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x0) *
                                    (size_t)ch;
    float line[N + 1] = { 0 };
    int r = cy[y - y0];
    for (int x = 0; x < w; x++, p += ch) {
      float v = ch == 1 ? p[0]
                        : (float)W_R * p[0] + (float)W_G * p[1] +
                              (float)W_B * p[2];
      line[cx[x]] += ax[x] * v;
      line[cx[x] + 1] += bx[x] * v;
    }
    for (int c = 0; c < N; c++)
      acc[r][c] += ay[y - y0] * line[c];
    if (by[y - y0] > 0)
      for (int c = 0; c < N; c++)
        acc[r + 1][c] += by[y - y0] * line[c];
  }
  for (int r = 0; r < N; r++)
    for (int c = 0; c < N; c++) {
      vmin = acc[r][c] < vmin ? acc[r][c] : vmin;
      vmax = acc[r][c] > vmax ? acc[r][c] : vmax;
    }
  if (vmax - vmin < FLAT_RANGE)
    return;
  for (int r = 0; r < N; r++)
    for (int c = 0; c < N; c++)
      out[r * N + c] =
          (uint8_t)((acc[r][c] - vmin) * 255 / (vmax - vmin) + 0.5);
}

static int compared, differ;

static void same_thumb(const char *what, const struct image *im, int x0,
                       int y0, int x1, int y1)
{
  uint8_t a[IMGVERIFY_BYTES], b[IMGVERIFY_BYTES];

  if (x1 - x0 < N || y1 - y0 < N || x1 - x0 > 4096 || y1 - y0 > 4096)
    return;   /* the other path (cells_any) is not what changed */
  CHECK_INT_EQ(imgverify_thumb(im, x0, y0, x1, y1, a), 0);
  ref_thumb(im, x0, y0, x1, y1, b);
  if (memcmp(a, b, sizeof(a)) != 0) {
    fprintf(stderr, "%s %dx%dx%d box %d,%d-%d,%d: thumbnails differ\n",
            what, im->w, im->h, im->channels, x0, y0, x1, y1);
    differ++;
  }
  compared++;
}

/* The whole picture, its content box, and boxes of heights 0..3 modulo 4
 * at odd offsets. */
static void boxes(const char *what, const struct image *im)
{
  int box[4];

  same_thumb(what, im, 0, 0, im->w, im->h);
  CHECK_INT_EQ(imgfeat_content(im, box), 0);
  same_thumb(what, im, box[0], box[1], box[2], box[3]);
  for (int k = 0; k < 4; k++) {
    int x0 = 1 + 2 * k, y0 = 3 + k, h = N + 5 + k, w = N + 7 * k;
    if (y0 + h <= im->h && x0 + w <= im->w)
      same_thumb(what, im, x0, y0, x0 + w, y0 + h);
    if (im->h - 2 - k > y0 && im->w - k > x0)
      same_thumb(what, im, x0, y0, im->w - k, im->h - 2 - k);
  }
  same_thumb(what, im, 0, 0, N, N);
}

/* im in grey (one channel), then boxes() on it. */
static void grey_boxes(const char *what, const struct image *im)
{
  struct image g;

  CHECK_INT_EQ(image_alloc(&g, im->w, im->h, 1), 0);
  for (size_t i = 0; i < (size_t)im->w * im->h; i++)
    g.px[i] = im->channels == 1 ? im->px[i] : im->px[3 * i + 1];
  boxes(what, &g);
  image_free(&g);
}

TEST(thumb_equals_reference)
{
  char dir[64], cmd[512], line[512];
  const char *mkimg = getenv("MKIMG"), *tmp = getenv("TMPDIR");
  FILE *m;
  int files = 0;

  CHECK(mkimg != NULL);
  snprintf(dir, sizeof(dir), "%s/test-thumb-XXXXXX", tmp ? tmp : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
  snprintf(cmd, sizeof(cmd), "%s -W 640 -H 479 -s 11 %s", mkimg, dir);
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
    for (int scale = 0; scale < 2; scale++) {
      CHECK_INT_EQ(img_decode(data, n, scale ? 0 : IMGFEAT_MIN_SHORT,
                              IMG_DECODE_ORIENT, &im, NULL), 0);
      boxes(name, &im);
      grey_boxes(name, &im);
      image_free(&im);
    }
    free(data);
    unlink(path);
    files++;
  }
  CHECK_INT_EQ(pclose(m), 0);
  rmdir(dir);
  fprintf(stderr, "%d files, %d thumbnails compared, %d differ\n", files,
          compared, differ);
  CHECK(files >= 20);
  CHECK(compared >= files * 20);
  CHECK_INT_EQ(differ, 0);
}

TEST_MAIN(T(thumb_equals_reference))
