/* test_neardup_quality.c - near-duplicate quality of the image features:
 * recall of edited copies and the false-pair rate between distinct
 * pictures, through the real path (JPEG bytes -> jpeg_decode at
 * IMGFEAT_MIN_SHORT -> imgfeat_compute -> neardup_near).
 *
 * Data: N_ORIG synthetic photographs (tests/gen/paint.h: gradient, blobs,
 * value-noise texture, sensor noise; 320x240, JPEG q85) and 7 edited
 * copies of each, made from the decoded original with jpegcodec:
 *   q40      re-encoded at quality 40
 *   half     resized to 50 % (2x2 box average)
 *   blur     box blur of radius 2, twice (about a Gaussian of sigma 2)
 *   bright+  pixel values x 1.2 (clipped)
 *   bright-  pixel values x 0.8
 *   crop5    5 % cut from each side (the centre 90 % x 90 %)
 *   flip     mirrored left-right
 * (copies are re-encoded at q85).  Positives: the 7 (original, copy) pairs
 * of each picture; negatives: every pair of images of different pictures.
 *
 * Asserts, at NEARDUP_THRESH_DEFAULT: recall of the (original, copy) pairs
 * (same group) >= 0.95 and false pairs / negative pairs <= 1e-4.  Also
 * prints the per-edit recall and the distance table used to choose the
 * default (docs/ARCHITECTURE.md).  usage: test-neardup-quality [N_ORIG]
 */
#include "testlib.h"
#include "imgfeat.h"
#include "jpegcodec.h"
#include "knn.h"
#include "neardup.h"

#include "../gen/paint.h"

#include <errno.h>

#define W 320
#define H 240
#define N_EDIT 7
#define PER (N_EDIT + 1)

static const char *edit_name[N_EDIT] = { "q40", "half", "blur", "bright+",
                                         "bright-", "crop5", "flip" };

static void box_blur(struct image *im, int r)
{
  uint8_t *tmp = malloc((size_t)im->w * im->h * 3);

  for (int pass = 0; pass < 2; pass++) {  /* horizontal, then vertical */
    for (int y = 0; y < im->h; y++)
      for (int x = 0; x < im->w; x++)
        for (int k = 0; k < 3; k++) {
          int s = 0, c = 0;
          for (int d = -r; d <= r; d++) {
            int xx = pass ? x : x + d, yy = pass ? y + d : y;
            if (xx < 0 || yy < 0 || xx >= im->w || yy >= im->h)
              continue;
            s += im->px[((size_t)yy * im->w + xx) * 3 + k];
            c++;
          }
          tmp[((size_t)y * im->w + x) * 3 + k] = (uint8_t)((s + c / 2) / c);
        }
    memcpy(im->px, tmp, (size_t)im->w * im->h * 3);
  }
  free(tmp);
}

/* Applies edit e to a copy of the decoded original; returns the JPEG. */
static int make_edit(const struct image *src, int e, uint8_t **jpg,
                     size_t *len)
{
  struct image im = { 0 };
  int q = 85, r;

  switch (e) {
  case 0:
    return jpeg_encode(src, 40, jpg, len);
  case 1:
    r = image_alloc(&im, src->w / 2, src->h / 2, 3);
    for (int y = 0; r == 0 && y < im.h; y++)
      for (int x = 0; x < im.w; x++)
        for (int k = 0; k < 3; k++) {
          const uint8_t *p = src->px + ((size_t)(2 * y) * src->w + 2 * x) * 3;
          int s = p[k] + p[3 + k] + p[src->w * 3 + k] + p[src->w * 3 + 3 + k];
          im.px[((size_t)y * im.w + x) * 3 + k] = (uint8_t)((s + 2) / 4);
        }
    break;
  case 5: {
    int cx = src->w / 20, cy = src->h / 20;
    r = image_alloc(&im, src->w - 2 * cx, src->h - 2 * cy, 3);
    for (int y = 0; r == 0 && y < im.h; y++)
      memcpy(im.px + (size_t)y * im.w * 3,
             src->px + ((size_t)(y + cy) * src->w + cx) * 3,
             (size_t)im.w * 3);
    break;
  }
  default:
    r = image_alloc(&im, src->w, src->h, 3);
    if (r < 0)
      break;
    memcpy(im.px, src->px, (size_t)src->w * src->h * 3);
    if (e == 2) {
      box_blur(&im, 2);
      box_blur(&im, 2);
    } else if (e == 3 || e == 4) {
      double f = e == 3 ? 1.2 : 0.8;
      for (size_t i = 0; i < (size_t)im.w * im.h * 3; i++) {
        double v = im.px[i] * f;
        im.px[i] = (uint8_t)(v > 255 ? 255 : v + 0.5);
      }
    } else if (e == 6) {
      for (int y = 0; y < im.h; y++)
        for (int x = 0; x < im.w / 2; x++)
          for (int k = 0; k < 3; k++) {
            uint8_t *a = im.px + ((size_t)y * im.w + x) * 3 + k;
            uint8_t *b = im.px + ((size_t)y * im.w + im.w - 1 - x) * 3 + k;
            uint8_t t = *a;
            *a = *b;
            *b = t;
          }
    }
  }
  if (r == 0)
    r = jpeg_encode(&im, q, jpg, len);
  image_free(&im);
  return r;
}

static int feat_of(const uint8_t *jpg, size_t len, float *row)
{
  struct image im;
  struct imgfeat f;
  int r = jpeg_decode(jpg, len, IMGFEAT_MIN_SHORT, &im);

  if (r == 0)
    r = imgfeat_compute(&im, &f);
  image_free(&im);
  if (r == 0)
    memcpy(row, f.v, sizeof(f.v));
  return r;
}

static size_t n_orig = 300;
static float *X;
static uint64_t *ids;

static void build(void)
{
  uint8_t *px = malloc((size_t)W * H * 3);
  size_t n = n_orig * PER;

  X = malloc(n * IMGFEAT_DIM * sizeof(float));
  ids = malloc(n * sizeof(*ids));
  for (size_t i = 0; i < n_orig; i++) {
    uint8_t *jpg;
    size_t len;
    struct image base;
    int r;

    rng = (0x5eed + i) * 0x9E3779B97F4A7C15ull | 1;
    paint(px, W, H);
    paint_texture(px, W, H, 0.25);
    base.w = W;
    base.h = H;
    base.channels = 3;
    base.px = px;
    r = jpeg_encode(&base, 85, &jpg, &len);
    CHECK_INT_EQ(r, 0);
    CHECK_INT_EQ(feat_of(jpg, len, X + i * PER * IMGFEAT_DIM), 0);
    CHECK_INT_EQ(jpeg_decode(jpg, len, 0, &base), 0);
    free(jpg);
    for (int e = 0; e < N_EDIT; e++) {
      r = make_edit(&base, e, &jpg, &len);
      CHECK_INT_EQ(r, 0);
      CHECK_INT_EQ(feat_of(jpg, len, X + (i * PER + 1 + e) * IMGFEAT_DIM), 0);
      free(jpg);
    }
    image_free(&base);
  }
  for (size_t i = 0; i < n; i++)
    ids[i] = 1000 + i;   /* picture = (id - 1000) / PER */
  free(px);
}

/* The measurement behind NEARDUP_THRESH_DEFAULT: pair distances on the
 * centred rows, recall and false-pair rate per threshold. */
TEST(distance_table)
{
  size_t n = n_orig * PER;
  float *c = malloc(n * IMGFEAT_DIM * sizeof(float));
  struct knn_graph g = { 0 };
  static const double ts[] = { 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15,
                               0.20, 0.25, 0.30 };
  double negpairs = (double)n * (n - 1) / 2 - (double)n_orig * PER * (PER - 1) / 2;

  memcpy(c, X, n * IMGFEAT_DIM * sizeof(float));
  CHECK_INT_EQ(knn_center_normalize(c, n, IMGFEAT_DIM), 0);
  CHECK_INT_EQ(knn_radius(c, n, IMGFEAT_DIM, 0.30, 0, NULL, &g), 0);
  printf("# %zu pictures x %d versions; %.0f negative pairs\n", n_orig, PER,
         negpairs);
  printf("# thresh  recall  %-7s %-7s %-7s %-7s %-7s %-7s %-7s  false-pairs  rate\n",
         edit_name[0], edit_name[1], edit_name[2], edit_name[3],
         edit_name[4], edit_name[5], edit_name[6]);
  for (size_t t = 0; t < sizeof(ts) / sizeof(ts[0]); t++) {
    size_t hit[N_EDIT] = { 0 }, hits = 0, fp = 0;
    for (size_t i = 0; i < n; i++)
      for (size_t k = g.off[i]; k < g.off[i + 1]; k++) {
        size_t j = g.idx[k];
        if (j <= i || g.dist[k] > ts[t])
          continue;
        if (i / PER != j / PER)
          fp++;
        else if (i % PER == 0) {
          hit[j % PER - 1]++;
          hits++;
        }
      }
    printf("# %5.2f  %6.4f ", ts[t], (double)hits / (n_orig * N_EDIT));
    for (int e = 0; e < N_EDIT; e++)
      printf(" %-7.3f", (double)hit[e] / n_orig);
    printf("  %11zu  %.2e\n", fp, fp / negpairs);
  }
  knn_graph_free(&g);
  free(c);
}

/* The real API at the default threshold. */
TEST(groups_at_default)
{
  size_t n = n_orig * PER, fp = 0, hits = 0, hit[N_EDIT] = { 0 };
  struct neardup_groups gr;
  size_t *group_of = malloc(n * sizeof(*group_of));
  double negpairs = (double)n * (n - 1) / 2 - (double)n_orig * PER * (PER - 1) / 2;
  double recall, rate;

  CHECK_INT_EQ(neardup_near(X, n, IMGFEAT_DIM, ids, NEARDUP_THRESH_DEFAULT,
                            NULL, &gr), 0);
  for (size_t i = 0; i < n; i++)
    group_of[i] = SIZE_MAX;
  for (size_t g = 0; g < gr.ngroups; g++) {
    size_t cnt[64] = { 0 }, m = gr.off[g + 1] - gr.off[g], same = 0;
    (void)cnt;
    for (size_t k = gr.off[g]; k < gr.off[g + 1]; k++) {
      CHECK(k == gr.off[g] || gr.ids[k] > gr.ids[k - 1]);
      group_of[gr.ids[k] - 1000] = g;
    }
    CHECK(g == 0 || gr.ids[gr.off[g]] > gr.ids[gr.off[g - 1]]);
    /* Pairs of different pictures in this group. */
    for (size_t a = gr.off[g]; a < gr.off[g + 1]; a++)
      for (size_t b = a + 1; b < gr.off[g + 1]; b++)
        same += (gr.ids[a] - 1000) / PER == (gr.ids[b] - 1000) / PER;
    fp += m * (m - 1) / 2 - same;
  }
  for (size_t i = 0; i < n_orig; i++)
    for (int e = 0; e < N_EDIT; e++) {
      size_t a = group_of[i * PER], b = group_of[i * PER + 1 + e];
      if (a != SIZE_MAX && a == b) {
        hits++;
        hit[e]++;
      }
    }
  recall = (double)hits / (n_orig * N_EDIT);
  rate = fp / negpairs;
  printf("# default %.2f: %zu groups, recall %.4f (", NEARDUP_THRESH_DEFAULT,
         gr.ngroups, recall);
  for (int e = 0; e < N_EDIT; e++)
    printf("%s%s %.3f", e ? ", " : "", edit_name[e], (double)hit[e] / n_orig);
  printf("), false pairs %zu of %.0f (%.2e)\n", fp, negpairs, rate);
  CHECK(recall >= 0.95);
  CHECK(rate <= 1e-4);
  neardup_groups_free(&gr);
  free(group_of);
}

int main(int argc, char **argv)
{
  static const struct tl_case cases[] = { T(distance_table),
                                          T(groups_at_default) };

  if (argc > 1)
    n_orig = strtoul(argv[1], NULL, 10);
  if (n_orig < 2)
    n_orig = 2;
  build();
  tl_total_failed += tl_failed;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    tl_failed = 0;
    cases[i].fn();
    tl_count++;
    printf("%s %zu - %s\n", tl_failed ? "not ok" : "ok", i + 1, cases[i].name);
    tl_total_failed += tl_failed;
  }
  free(X);
  free(ids);
  return tl_total_failed ? 1 : 0;
}
