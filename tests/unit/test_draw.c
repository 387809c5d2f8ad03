/* test_draw.c - core/image/draw.h (raster primitives, font, draw_boxes_jpeg)
 * and core/image/font.h (FreeType text) and core/image/plot.h (charts, PCA).
 *
 * Pixel tests compare against masks computed here from the documented
 * conventions (a rectangle covers floor(x) .. ceil(x + w) - 1, borders grow
 * inwards, everything clipped); JPEG tests encode a real image with
 * jpegcodec, draw on it and decode the result.
 */
#include <errno.h>
#include <stdbool.h>

#include "util.h"

#include "draw.h"
#include "font.h"
#include "plot.h"
#include "testlib.h"

static const struct rgb RED = { 255, 0, 0 };

static struct image blank(int w, int h)
{
  struct image im;
  if (image_alloc(&im, w, h, 3) < 0)
    abort();
  memset(im.px, 0, (size_t)w * h * 3);
  return im;
}

static bool lit(const struct image *im, int x, int y)
{
  const uint8_t *p = im->px + ((size_t)y * im->w + x) * 3;
  return p[0] || p[1] || p[2];
}

static int count_lit(const struct image *im)
{
  int n = 0;
  for (int y = 0; y < im->h; y++)
    for (int x = 0; x < im->w; x++)
      n += lit(im, x, y);
  return n;
}

/* Expected outline mask of draw_rect for integer boxes. */
static bool in_outline(int x, int y, int x0, int y0, int x1, int y1, int t,
                       int W, int H)
{
  if (x < x0 || x >= x1 || y < y0 || y >= y1)
    return false;
  return (y0 >= 0 && y < y0 + t) || (y1 <= H && y >= y1 - t) ||
         (x0 >= 0 && x < x0 + t) || (x1 <= W && x >= x1 - t);
}

static void check_rect(double x, double y, double w, double h, int t)
{
  struct image im = blank(20, 20);
  draw_rect(&im, x, y, w, h, t, RED);
  int x0 = (int)floor(x), y0 = (int)floor(y);
  int x1 = (int)ceil(x + w), y1 = (int)ceil(y + h);
  int bad = 0;
  for (int py = 0; py < 20; py++)
    for (int px = 0; px < 20; px++)
      bad += lit(&im, px, py) != in_outline(px, py, x0, y0, x1, y1, t, 20, 20);
  CHECK_INT_EQ(bad, 0);
  image_free(&im);
}

TEST(rect_exact_pixels)
{
  struct image im = blank(20, 20);
  draw_rect(&im, 2, 3, 10, 5, 1, RED);
  /* Rows 3 and 7 for x 2..11, columns 2 and 11 for y 3..7. */
  CHECK_INT_EQ(count_lit(&im), 2 * 10 + 2 * 3);
  CHECK(lit(&im, 2, 3) && lit(&im, 11, 7) && lit(&im, 11, 5));
  CHECK(!lit(&im, 12, 3) && !lit(&im, 5, 5) && !lit(&im, 2, 8));
  const uint8_t *p = im.px + (3 * 20 + 2) * 3;
  CHECK(p[0] == 255 && p[1] == 0 && p[2] == 0);
  image_free(&im);
  check_rect(2, 3, 10, 5, 1);
  check_rect(2.5, 3.2, 9.1, 5.5, 2);
  check_rect(0, 0, 20, 20, 3);
}

TEST(rect_clipped_at_edges)
{
  check_rect(-5, -5, 10, 10, 1);  /* top and left edges off the image */
  check_rect(15, 12, 10, 10, 2);  /* bottom and right off */
  check_rect(-3, 4, 30, 5, 1);    /* wider than the image */
  struct image im = blank(20, 20);
  draw_rect(&im, 1e300, 5, 10, 10, 1, RED);
  draw_rect(&im, NAN, 5, 10, 10, 1, RED);
  draw_rect(&im, -1e300, -1e300, 1e300, 1e300, 1, RED);
  draw_rect(&im, 5, 5, -1, 3, 1, RED);
  CHECK_INT_EQ(count_lit(&im), 0);
  draw_line(&im, -1e9, 10, 1e9, 10, 1, RED); /* clipped, not walked */
  CHECK_INT_EQ(count_lit(&im), 20);
  image_free(&im);
}

TEST(lines_points_polyline)
{
  struct image im = blank(20, 20);
  draw_line(&im, 1, 5, 10, 5, 1, RED);
  CHECK_INT_EQ(count_lit(&im), 10);
  memset(im.px, 0, 20 * 20 * 3);
  draw_line(&im, 0, 0, 9, 9, 1, RED);
  CHECK_INT_EQ(count_lit(&im), 10);
  for (int k = 0; k < 10; k++)
    CHECK(lit(&im, k, k));
  memset(im.px, 0, 20 * 20 * 3);
  draw_point(&im, 10, 10, 0, RED);
  CHECK_INT_EQ(count_lit(&im), 1);
  draw_point(&im, 10, 10, 3, RED);
  CHECK(lit(&im, 13, 10) && lit(&im, 10, 7) && !lit(&im, 13, 13));
  memset(im.px, 0, 20 * 20 * 3);
  double xy[] = { 1, 1, 1, 10, 10, 10 };
  draw_polyline(&im, xy, 3, 1, RED);
  CHECK_INT_EQ(count_lit(&im), 19);
  image_free(&im);
}

TEST(text_glyphs)
{
  const char *path = NULL;
  /* The build names a font that exists: text must come from it. */
  CHECK_INT_EQ(font_ready(&path), 0);
  CHECK(path && *path);
  int th = draw_text_height(2);
  CHECK(th >= 17 && th <= 24); /* DejaVu's line box is ~1.16 em of 17 px */
  /* Every printable glyph but space has ink, inside its line box and
   * advance (plus a pixel of overhang either side). */
  for (char ch = 33; ch <= 126; ch++) {
    struct image im = blank(40, 40);
    char s[2] = { ch, 0 };
    int w = draw_text(&im, 4, 4, s, 2, RED);
    CHECK(w > 2 && w < 24);
    CHECK_INT_EQ(w, draw_text_width(s, 2));
    int n = count_lit(&im);
    if (n == 0)
      fprintf(stderr, "glyph '%c' is empty\n", ch);
    CHECK(n > 0);
    for (int y = 0; y < 40; y++)
      for (int x = 0; x < 40; x++)
        if (lit(&im, x, y) && (x < 2 || x >= 4 + w + 2 || y < 4 ||
                               y >= 4 + th))
          CHECK(!"ink outside the glyph box");
    image_free(&im);
  }
  /* Anti-aliased: edges carry partial coverage, not only on/off. */
  struct image aa = blank(80, 30);
  draw_text(&aa, 1, 1, "Aw/8", 2, RED);
  int partial = 0;
  for (size_t i = 0; i < 80 * 30; i++)
    partial += aa.px[3 * i] > 0 && aa.px[3 * i] < 255;
  CHECK(partial > 10);
  image_free(&aa);
  /* Similar glyphs differ. */
  const char *pairs[] = { "O0", "Il", "1l", "S5", "B8", "rn" };
  for (size_t k = 0; k < sizeof(pairs) / sizeof(*pairs); k++) {
    struct image a = blank(16, 20), b = blank(16, 20);
    char s1[2] = { pairs[k][0], 0 }, s2[2] = { pairs[k][1], 0 };
    draw_text(&a, 0, 0, s1, 1, RED);
    draw_text(&b, 0, 0, s2, 1, RED);
    CHECK(memcmp(a.px, b.px, 16 * 20 * 3) != 0);
    image_free(&a);
    image_free(&b);
  }
  /* Width grows with the text and the scale; UTF-8 is drawn, not '?'. */
  CHECK(draw_text_width("abc", 3) > draw_text_width("ab", 3));
  CHECK(draw_text_width("abc", 3) > draw_text_width("abc", 2));
  CHECK_INT_EQ(draw_text_width("", 3), 0);
  CHECK(draw_text_width("\xc3\xa9", 2) != draw_text_width("?", 2));
  /* Clipping: text far off the image or half outside it is safe. */
  struct image im = blank(10, 10);
  draw_text(&im, -1000000, 5, "clipped", 3, RED);
  draw_text(&im, 5, -8, "clipped", 3, RED);
  draw_text(&im, 2000000000, 2000000000, "x", 3, RED);
  image_free(&im);
  struct draw_scale s = draw_scale_for(640, 480), big = draw_scale_for(4000, 3000);
  CHECK(s.text >= 2 && big.text > s.text && big.line > s.line);
  /* Glyphs of a large photo are at least 2 % of its short side. */
  CHECK(draw_text_height(big.text) >= 3000 / 50);
}

TEST(label_box_inside_image)
{
  struct image im = blank(40, 30);
  /* Anchored at the top right corner: must be moved inside. */
  draw_label_box(&im, 39, 0, "cat", 1, (struct rgb){ 0, 0, 0 }, RED);
  int n = count_lit(&im);
  CHECK(n > 0);
  int bw = draw_text_width("cat", 1) + 2, bh = draw_text_height(1) + 2;
  /* Fill minus black text pixels: the box is 40 - bw .. 39, 0 .. bh - 1. */
  CHECK(lit(&im, 39, 0) && lit(&im, 40 - bw, bh - 1));
  CHECK(!lit(&im, 40 - bw - 1, 0) && !lit(&im, 39, bh));
  image_free(&im);
}

TEST(palette)
{
  for (uint32_t a = 0; a < 24; a++)
    for (uint32_t b = a + 1; b < 24; b++) {
      struct rgb x = draw_palette(a), y = draw_palette(b);
      int d = abs(x.r - y.r) + abs(x.g - y.g) + abs(x.b - y.b);
      CHECK(d > 20);
    }
  struct rgb c = draw_palette(7), c2 = draw_palette(7);
  CHECK(c.r == c2.r && c.g == c2.g && c.b == c2.b);
}

static int make_jpeg(int w, int h, uint8_t **data, size_t *len)
{
  struct image im;
  if (image_alloc(&im, w, h, 3) < 0)
    return -1;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = im.px + ((size_t)y * w + x) * 3;
      p[0] = (uint8_t)(x * 255 / w);
      p[1] = (uint8_t)(y * 255 / h);
      p[2] = (uint8_t)(128 + 60 * sin(x / 17.0) * cos(y / 23.0));
    }
  int r = jpeg_encode(&im, 95, data, len);
  image_free(&im);
  return r;
}

TEST(boxes_jpeg)
{
  uint8_t *orig = NULL, *out = NULL;
  size_t olen = 0, len = 0;
  CHECK_INT_EQ(make_jpeg(320, 240, &orig, &olen), 0);
  struct draw_box b[] = {
    { 100, 80, 60, 40, RED, "cat 0.87" },
    { 300, 200, 100, 100, { 0, 200, 0 }, "GT: dog" }, /* past the edge */
  };
  CHECK_INT_EQ(draw_boxes_jpeg(orig, olen, 1, b, 2, 90, &out, &len), 0);
  struct image a, d;
  CHECK_INT_EQ(jpeg_decode(orig, olen, 0, &a), 0);
  CHECK_INT_EQ(jpeg_decode(out, len, 0, &d), 0);
  CHECK_INT_EQ(d.w, 320);
  CHECK_INT_EQ(d.h, 240);
  /* Around the boxes (and their captions above): 8 px margin for JPEG
   * blocks.  Elsewhere only re-encoding noise. */
  int maxdiff = 0, red_edge = 0;
  for (int y = 0; y < 240; y++)
    for (int x = 0; x < 320; x++) {
      bool near1 = x >= 100 - 8 && x < 160 + 8 + 40 && y >= 80 - 12 - 8 &&
                   y < 120 + 8;
      bool near2 = x >= 300 - 8 - 60 && y >= 200 - 12 - 8;
      const uint8_t *p = a.px + ((size_t)y * 320 + x) * 3;
      const uint8_t *q = d.px + ((size_t)y * 320 + x) * 3;
      if (!near1 && !near2)
        for (int k = 0; k < 3; k++)
          maxdiff = MAX(maxdiff, abs(p[k] - q[k]));
    }
  for (int x = 104; x < 156; x++) {
    const uint8_t *q = d.px + ((size_t)120 * 0 + 80 * 320 + x) * 3;
    red_edge += q[0] > 140 && q[1] < 110; /* background: ~95, 65, 90 */
  }
  CHECK(maxdiff <= 16);
  CHECK(red_edge > 40); /* the top edge of the first box is red */
  /* Caption above the first box: white text on red. */
  int white = 0;
  for (int y = 70; y < 80; y++)
    for (int x = 100; x < 150; x++) {
      const uint8_t *q = d.px + ((size_t)y * 320 + x) * 3;
      white += q[0] > 200 && q[1] > 170 && q[2] > 170;
    }
  CHECK(white > 10);
  image_free(&a);
  image_free(&d);
  free(out);
  CHECK_INT_EQ(draw_boxes_jpeg("not a jpeg", 10, 1, b, 1, 90, &out, &len),
               -EBADMSG);
  /* Orientation 6 (turned 90 degrees clockwise for viewing): the picture
   * comes out upright, 240 x 320, and the first box (100, 80, 60, 40)
   * with it at (240 - 120, 100, 40, 60), its caption above it, upright. */
  CHECK_INT_EQ(draw_boxes_jpeg(orig, olen, 6, b, 1, 90, &out, &len), 0);
  CHECK_INT_EQ(jpeg_decode(out, len, 0, &d), 0);
  CHECK_INT_EQ(d.w, 240);
  CHECK_INT_EQ(d.h, 320);
  red_edge = white = 0;
  for (int x = 122; x < 158; x++) {
    const uint8_t *q = d.px + ((size_t)100 * 240 + x) * 3;
    red_edge += q[0] > 140 && q[1] < 110;
  }
  for (int y = 90; y < 100; y++)
    for (int x = 120; x < 170; x++) {
      const uint8_t *q = d.px + ((size_t)y * 240 + x) * 3;
      white += q[0] > 200 && q[1] > 170 && q[2] > 170;
    }
  CHECK(red_edge > 30);
  CHECK(white > 10);
  image_free(&d);
  free(out);
  free(orig);
}

TEST(pca_and_plots)
{
  /* Points on a line in 5-d plus a little noise in one other direction:
   * PC1 follows the line. */
  enum { N = 500, D = 5 };
  static float X[N * D], P[N * 2];
  for (int i = 0; i < N; i++) {
    double t = (i - N / 2) / 10.0, s = (i % 7 - 3) * 0.01;
    X[i * D + 0] = (float)(t + 1);
    X[i * D + 1] = (float)(2 * t);
    X[i * D + 2] = (float)s;
    X[i * D + 3] = 5;
    X[i * D + 4] = (float)(-t);
  }
  double var2 = 0;
  CHECK_INT_EQ(plot_pca2(X, N, D, P, &var2), 0);
  CHECK(var2 > 0.999);
  /* PC1 = (1, 2, 0, 0, -1) / sqrt 6 up to sign: projection is t sqrt 6. */
  CHECK_NEAR(fabs(P[2 * 0] - P[2 * (N - 1)]), (N - 1) / 10.0 * sqrt(6.0),
             1e-2);
  CHECK(fabs(P[1]) < 0.1);

  uint32_t key[N];
  for (int i = 0; i < N; i++)
    key[i] = (uint32_t)(i % 3);
  const char *names[] = { "cat", "dog", "bird" };
  uint8_t *out = NULL;
  size_t len = 0;
  CHECK_INT_EQ(plot_embeddings_jpeg(X, N, D, key, names, 3, 800, 600, &out,
                                    &len), 0);
  struct image im;
  CHECK_INT_EQ(jpeg_decode(out, len, 0, &im), 0);
  CHECK(im.w == 800 && im.h == 600);
  image_free(&im);
  free(out);

  double xs[3] = { 0, 0.5, 1 }, ys[3] = { 1, 0.8, 0.2 };
  struct plot_series s = { xs, ys, 3, RED, "cat AP 0.5" };
  CHECK_INT_EQ(plot_lines_jpeg(&s, 1, "pr", "recall", "precision", 0, 0,
                               &out, &len), 0);
  CHECK_INT_EQ(jpeg_decode(out, len, 0, &im), 0);
  CHECK(im.w == 1024 && im.h == 768);
  image_free(&im);
  free(out);
  CHECK_INT_EQ(plot_lines_jpeg(&s, 1, "pr", NULL, NULL, 10, 10, &out, &len),
               -EINVAL);
  CHECK_INT_EQ(plot_embeddings_jpeg(X, 0, D, NULL, NULL, 0, 0, 0, &out,
                                    &len), 0);
  free(out);
}

TEST(pr_summary_80_classes)
{
  enum { NC = 80, NP = 101 };
  static double xs[NP], y50[NP], ap[NC];
  static char nm[NC][16];
  const char *names[NC];
  for (int i = 0; i < NP; i++) {
    xs[i] = i / 100.0;
    y50[i] = 1.0 - xs[i] * xs[i];
  }
  for (int k = 0; k < NC; k++) {
    snprintf(nm[k], sizeof(nm[k]), "class%02d", k);
    names[k] = nm[k];
    ap[k] = k == 7 ? -1 : (k * 37 % NC) / (double)NC; /* 7: no GT */
  }
  struct plot_pr p = { .title = "e: precision-recall", .recall = xs,
                       .n_points = NP, .curve = { y50, y50 },
                       .curve_label = { "IoU 0.50", "IoU 0.75" },
                       .curve_ap = { 0.667, 0.5 }, .n_curves = 2,
                       .class_names = names, .class_ap = ap,
                       .n_classes = NC };
  uint8_t *out = NULL;
  size_t len = 0;
  CHECK_INT_EQ(plot_pr_jpeg(&p, &out, &len), 0);
  struct image im;
  CHECK_INT_EQ(jpeg_decode(out, len, 0, &im), 0);
  /* 79 bars with ground truth: taller than the 800-px minimum, every row
   * of text at least 10 px. */
  CHECK_INT_EQ(im.w, plot_pr_width());
  CHECK_INT_EQ(im.h, plot_pr_height(NC - 1));
  CHECK(im.h > 800 && plot_pr_height(NC - 1) < plot_pr_height(NC));
  CHECK(draw_text_height(1) >= 10);
  image_free(&im);
  free(out);
  CHECK_INT_EQ(plot_pr_height(3), 800);
  p.n_curves = PLOT_PR_CURVES + 1;
  CHECK_INT_EQ(plot_pr_jpeg(&p, &out, &len), -EINVAL);
}

/* A legend name longer than its 40 bytes is cut between characters: a
 * name of 14 euro signs (3 bytes each) is drawn as its first 13, not
 * with a replacement character for the first byte of the 14th. */
TEST(legend_cut_between_characters)
{
  char longer[64] = "", shorter[64] = "";
  for (int i = 0; i < 14; i++)
    strcat(longer, "\xe2\x82\xac");
  memcpy(shorter, longer, 39);
  CHECK_INT_EQ(utf8_cut(longer, 40), 39);
  CHECK_INT_EQ(utf8_cut(longer, 42), 42);
  CHECK_INT_EQ(utf8_cut("ab", 40), 2);
  CHECK_INT_EQ(utf8_cut("\xe2\x82\xac", 2), 0);

  const float xy[6] = { 0, 0, 1, 1, 0.5f, 0.2f };
  const uint32_t key[3] = { 0, 0, 0 };
  const char *n1[1] = { longer }, *n2[1] = { shorter };
  struct plot_map m = { .xy = xy, .n = 3, .key = key, .key_names = n1,
                        .n_keys = 1, .title = "t" };
  uint8_t *a = NULL, *b = NULL;
  size_t al = 0, bl = 0;
  CHECK_INT_EQ(plot_map_jpeg(&m, 1024, 768, &a, &al), 0);
  m.key_names = n2;
  CHECK_INT_EQ(plot_map_jpeg(&m, 1024, 768, &b, &bl), 0);
  CHECK(al == bl && a && b && memcmp(a, b, al) == 0);
  free(a);
  free(b);
}

TEST_MAIN(T(pr_summary_80_classes), T(rect_exact_pixels), T(rect_clipped_at_edges),
          T(lines_points_polyline), T(text_glyphs), T(label_box_inside_image),
          T(palette), T(boxes_jpeg), T(pca_and_plots),
          T(legend_cut_between_characters))
