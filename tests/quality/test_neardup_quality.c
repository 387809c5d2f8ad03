/* test_neardup_quality.c - near-duplicate quality of the image features:
 * recall of edited copies and the false-pair rate between distinct
 * pictures, through the real path (JPEG bytes -> jpeg_decode at
 * IMGFEAT_MIN_SHORT -> imgfeat_compute -> neardup_near).
 *
 * Data: N_ORIG synthetic photographs (tests/gen/paint.h: gradient, blobs,
 * value-noise texture, sensor noise; 320x240, JPEG q85) and 19 edited
 * copies of each, made from the decoded original (edits.h, jpegcodec):
 *   q40      re-encoded at quality 40
 *   half     resized to 50 % (2x2 box average)
 *   blur     box blur of radius 2, twice (about a Gaussian of sigma 2)
 *   bright+  pixel values x 1.2 (clipped);  bright-  x 0.8
 *   crop5    5 % cut from each side (the centre 90 % x 90 %)
 *   flip     mirrored left-right
 *   crop10   10 % cut from the left and from the top
 *   padK10   10 % black border on four sides
 *   padW15   15 % white bars top and bottom (letterbox)
 *   padM5    5 % mid-colour border on four sides
 *   padM12   12 % mid-colour bars left and right (pillarbox)
 *   rot1     1 degree, same canvas, black corners
 *   rot2e    -2 degrees, canvas grown to hold it, white corners
 *   rot3     3 degrees, same canvas, black corners
 *   text     a line of glyphs in the lower right (caption, watermark)
 *   gam0.8, gam1.2   gamma curves
 *   gray     a grey copy (Rec. 709 weights)
 * (copies are re-encoded at q85).  Positives: the (original, copy) pairs
 * of each picture; negatives: every pair of images of different pictures.
 *
 * Asserts, at NEARDUP_THRESH_DEFAULT: per-edit recall of the (original,
 * copy) pairs (same group; thresholds at groups_at_default), false pairs /
 * negative pairs <= 1e-5, and that adding unrelated pictures leaves the
 * other groups as they were (stable_when_unrelated_added).  Also prints
 * the distance table used to choose the default (docs/ARCHITECTURE.md).
 * usage: test-neardup-quality [N_ORIG]
 */
#include "testlib.h"
#include "imgfeat.h"
#include "jpegcodec.h"
#include "knn.h"
#include "neardup.h"

#include "../gen/paint.h"
#include "edits.h"

#include <errno.h>

#define W 320
#define H 240
#define N_EDIT 19
#define PER (N_EDIT + 1)
#define BASE_ID 1000000u   /* ids of the first n_orig pictures start here */

static const char *edit_name[N_EDIT] = {
  "q40", "half", "blur", "bright+", "bright-", "crop5", "flip",
  "crop10", "padK10", "padW15", "padM5", "padM12", "rot1", "rot2e", "rot3",
  "text", "gam0.8", "gam1.2", "gray"
};

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

/* The first seven edits (photometric and resampling) into im. */
static int edit_classic(const struct image *src, int e, struct image *im)
{
  int r;

  switch (e) {
  case 1:
    r = image_alloc(im, src->w / 2, src->h / 2, 3);
    for (int y = 0; r == 0 && y < im->h; y++)
      for (int x = 0; x < im->w; x++)
        for (int k = 0; k < 3; k++) {
          const uint8_t *p = src->px + ((size_t)(2 * y) * src->w + 2 * x) * 3;
          int s = p[k] + p[3 + k] + p[src->w * 3 + k] + p[src->w * 3 + 3 + k];
          im->px[((size_t)y * im->w + x) * 3 + k] = (uint8_t)((s + 2) / 4);
        }
    break;
  case 5: {
    int cx = src->w / 20, cy = src->h / 20;
    r = image_alloc(im, src->w - 2 * cx, src->h - 2 * cy, 3);
    for (int y = 0; r == 0 && y < im->h; y++)
      memcpy(im->px + (size_t)y * im->w * 3,
             src->px + ((size_t)(y + cy) * src->w + cx) * 3,
             (size_t)im->w * 3);
    break;
  }
  default:
    r = image_alloc(im, src->w, src->h, 3);
    if (r < 0)
      break;
    memcpy(im->px, src->px, (size_t)src->w * src->h * 3);
    if (e == 2) {
      box_blur(im, 2);
      box_blur(im, 2);
    } else if (e == 3 || e == 4) {
      double f = e == 3 ? 1.2 : 0.8;
      for (size_t i = 0; i < (size_t)im->w * im->h * 3; i++) {
        double v = im->px[i] * f;
        im->px[i] = (uint8_t)(v > 255 ? 255 : v + 0.5);
      }
    } else if (e == 6) {
      for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w / 2; x++)
          for (int k = 0; k < 3; k++) {
            uint8_t *a = im->px + ((size_t)y * im->w + x) * 3 + k;
            uint8_t *b = im->px + ((size_t)y * im->w + im->w - 1 - x) * 3 + k;
            uint8_t t = *a;
            *a = *b;
            *b = t;
          }
    }
  }
  return r;
}

/* The geometric, overlay and tone edits (7 and up) into im. */
static int edit_more(const struct image *src, int e, struct image *im)
{
  static const uint8_t black[3] = { 0, 0, 0 }, white[3] = { 255, 255, 255 },
                       mid[3] = { 118, 132, 104 };
  int r = 0;

  switch (e) {
  case 7:   /* 10 % cut from the left and from the top */
    return edit_crop(src, src->w / 10, src->h / 10, src->w - src->w / 10,
                     src->h - src->h / 10, im);
  case 8:
    return edit_pad(src, 0.10, 1, 1, black, im);
  case 9:   /* letterbox */
    return edit_pad(src, 0.15, 0, 1, white, im);
  case 10:
    return edit_pad(src, 0.05, 1, 1, mid, im);
  case 11:  /* pillarbox */
    return edit_pad(src, 0.12, 1, 0, mid, im);
  case 12:
    return edit_rotate(src, 1.0, 0, black, im);
  case 13:
    return edit_rotate(src, -2.0, 1, white, im);
  case 14:
    return edit_rotate(src, 3.0, 0, black, im);
  default:
    r = image_alloc(im, src->w, src->h, 3);
    if (r < 0)
      return r;
    memcpy(im->px, src->px, (size_t)src->w * src->h * 3);
    if (e == 15)
      edit_text(im, 8, 2, (uint64_t)src->px[0] * 7919 + src->px[1]);
    else if (e == 16 || e == 17)
      edit_gamma(im, e == 16 ? 0.8 : 1.2);
    else
      edit_gray(im);
  }
  return r;
}

/* Applies edit e to a copy of the decoded original; returns the JPEG
 * (q85, except the q40 re-encode). */
static int make_edit(const struct image *src, int e, uint8_t **jpg,
                     size_t *len)
{
  struct image im = { 0 };
  int r;

  if (e == 0)
    return jpeg_encode(src, 40, jpg, len);
  r = e < 7 ? edit_classic(src, e, &im) : edit_more(src, e, &im);
  if (r == 0)
    r = jpeg_encode(&im, 85, jpg, len);
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
/* Unrelated pictures (other seeds, with their copies) added for the
 * stability check; their rows follow the others in X. */
static size_t n_extra;
static float *X;
static uint64_t *ids;

static void build(void)
{
  uint8_t *px = malloc((size_t)W * H * 3);
  size_t n = (n_orig + n_extra) * PER;

  X = malloc(n * IMGFEAT_DIM * sizeof(float));
  ids = malloc(n * sizeof(*ids));
  for (size_t i = 0; i < n_orig + n_extra; i++) {
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
    ids[i] = i < n_orig * PER ? BASE_ID + i   /* picture: (id - BASE_ID) / PER */
                              : i - n_orig * PER + 1;  /* extras: first */
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
  printf("# thresh recall ");
  for (int e = 0; e < N_EDIT; e++)
    printf(" %-6s", edit_name[e]);
  printf("  false-pairs  rate\n");
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
      printf(" %-6.3f", (double)hit[e] / n_orig);
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
      group_of[gr.ids[k] - BASE_ID] = g;
    }
    CHECK(g == 0 || gr.ids[gr.off[g]] > gr.ids[gr.off[g - 1]]);
    /* Pairs of different pictures in this group. */
    for (size_t a = gr.off[g]; a < gr.off[g + 1]; a++)
      for (size_t b = a + 1; b < gr.off[g + 1]; b++)
        same += (gr.ids[a] - BASE_ID) / PER == (gr.ids[b] - BASE_ID) / PER;
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
  /* Every edit but the crops: >= 0.95 (the borders, rotations, overlay,
   * gamma and grey copies the features were built for among them; all
   * measured >= 0.99); the 5 % crop >= 0.85 (measured 0.91); the 10 % crop
   * from two sides is printed only (measured 0.15: a shift and a zoom at
   * once, beyond this global descriptor).  Different pictures in one
   * group: <= 1e-5 of all pairs (measured 0). */
  for (int e = 0; e < N_EDIT; e++) {
    double want = e == 7 ? 0 : e == 5 ? 0.85 : 0.95;
    if ((double)hit[e] / n_orig < want)
      printf("# %s: recall %.3f < %.2f\n", edit_name[e],
             (double)hit[e] / n_orig, want);
    CHECK((double)hit[e] / n_orig >= want);
  }
  CHECK(recall >= 0.93);
  CHECK(rate <= 1e-5);
  neardup_groups_free(&gr);
  free(group_of);
}

/* Groups as one label per row (the group's first id; 0 = none). */
static uint64_t *labels_of(const struct neardup_groups *gr, size_t n,
                           uint64_t (*row_of)(uint64_t))
{
  uint64_t *lab = calloc(n, sizeof(*lab));

  for (size_t g = 0; g < gr->ngroups; g++)
    for (size_t k = gr->off[g]; k < gr->off[g + 1]; k++)
      lab[row_of(gr->ids[k])] = gr->ids[gr->off[g]];
  return lab;
}

static uint64_t row_of_id(uint64_t id)
{
  return id >= BASE_ID ? id - BASE_ID : n_orig * PER + id - 1;
}

/* Adding unrelated pictures (with lower ids, so they come first in any id
 * order).  Rows whose group in the bigger set holds a newcomer (a false
 * match of its own) are counted apart; every other row must keep its
 * group, or its lack of one, except for what the shift of the column
 * mean (the metric centres the rows on the set's mean) moves across the
 * threshold (0.2 % of the pairs within the threshold here): bounded at
 * 2 % of the rows, measured 0.7 %. */
TEST(stable_when_unrelated_added)
{
  size_t nb = n_orig * PER, na = (n_orig + n_extra) * PER, moved = 0;
  size_t joined = 0;
  struct neardup_groups a, b;
  uint64_t *la, *lb;
  char *tch = calloc(nb, 1);

  CHECK_INT_EQ(neardup_near(X, nb, IMGFEAT_DIM, ids, NEARDUP_THRESH_DEFAULT,
                            NULL, &a), 0);
  CHECK_INT_EQ(neardup_near(X, na, IMGFEAT_DIM, ids, NEARDUP_THRESH_DEFAULT,
                            NULL, &b), 0);
  la = labels_of(&a, na, row_of_id);
  lb = labels_of(&b, na, row_of_id);
  for (size_t j = nb; j < na; j++)
    for (size_t i = 0; lb[j] && i < nb; i++)
      if (lb[i] == lb[j])
        tch[i] = 1;
  for (size_t i = 0; i < nb; i++) {
    int changed = (la[i] == 0) != (lb[i] == 0);
    joined += tch[i];
    for (size_t j = 0; !tch[i] && !changed && j < nb; j++)
      changed = j != i && !tch[j] &&
                (la[i] && la[i] == la[j]) != (lb[i] && lb[i] == lb[j]);
    moved += !tch[i] && changed;
  }
  printf("# %zu unrelated pictures added to %zu: %zu rows in groups a "
         "newcomer joined, %zu other rows changed group\n", n_extra, n_orig,
         joined, moved);
  CHECK(moved <= nb / 50);
  CHECK(joined <= nb / 50);
  free(tch);
  free(la);
  free(lb);
  neardup_groups_free(&a);
  neardup_groups_free(&b);
}

int main(int argc, char **argv)
{
  static const struct tl_case cases[] = { T(distance_table),
                                          T(groups_at_default),
                                          T(stable_when_unrelated_added) };

  if (argc > 1)
    n_orig = strtoul(argv[1], NULL, 10);
  if (n_orig < 2)
    n_orig = 2;
  n_extra = n_orig / 4;
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
