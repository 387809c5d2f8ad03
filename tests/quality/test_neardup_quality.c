/* test_neardup_quality.c - near-duplicate quality of the image features:
 * recall of edited copies and the false-pair rate between distinct
 * pictures, through the real path (JPEG bytes -> jpeg_decode at
 * IMGFEAT_MIN_SHORT -> imgfeat_compute -> neardup_near_in).
 *
 * Data: N_ORIG synthetic photographs (tests/gen/paint.h: gradient, blobs,
 * value-noise texture, sensor noise; 320x240, JPEG q85) and 20 edited
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
 *   warm     a colour cast (red x 1.1, blue x 0.88: a warmer white balance)
 * (copies are re-encoded at q85).  Positives: the (original, copy) pairs
 * of each picture; negatives: every pair of images of different pictures.
 *
 * Asserts, at NEARDUP_THRESH_DEFAULT, through neardup_near_in() with the
 * sub-window vectors and the fixed origin, as the views call it: recall of
 * the (original, copy) pairs (same group) >= 0.95 for every edit, false
 * pairs / negative pairs <= 1e-5, and that adding unrelated pictures
 * leaves every group they do not touch exactly as it was
 * (stable_when_unrelated_added).  Also prints the distance table used to
 * choose the default (docs/ARCHITECTURE.md).  The groups are verified on
 * the thumbnails (imgverify.h) as the views verify them.
 *
 * verify_same_layout_import: scenes that share one layout (below), as
 * real JPEG files through a real import and the views' grouping: the
 * verification keeps them apart and keeps their edited copies.
 * usage: test-neardup-quality [N_ORIG]
 */
#include "testlib.h"
#include "imgfeat.h"
#include "imgverify.h"
#include "../unit/imgverify_ref.h"
#include "jpegcodec.h"
#include "knn.h"
#include "neardup.h"

#include "../gen/paint.h"
#include "edits.h"

#include "config.h"
#include "import.h"
#include "store.h"
#include "viewcompute.h"
#include "viewlist.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>

#define W 320
#define H 240
#define N_EDIT 20
#define PER (N_EDIT + 1)
#define BASE_ID 1000000u   /* ids of the first n_orig pictures start here */

static const char *edit_name[N_EDIT] = {
  "q40", "half", "blur", "bright+", "bright-", "crop5", "flip",
  "crop10", "padK10", "padW15", "padM5", "padM12", "rot1", "rot2e", "rot3",
  "text", "gam0.8", "gam1.2", "gray", "warm"
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
    else if (e == 18)
      edit_gray(im);
    else
      edit_cast(im, 1.1, 0.88);
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

static size_t n_orig = 300;
/* Unrelated pictures (other seeds, with their copies) added for the
 * stability check; their rows follow the others in X. */
static size_t n_extra;
static float *X;     /* main vectors, one row per image */
static float *S;     /* sub-window vectors, IMGFEAT_NSUB rows per image */
static uint8_t *TH;  /* verification thumbnails, one per image */
static uint8_t *TH_OK;
static uint64_t *ids;

/* Features of image i (its row of X and rows of S). */
static int feat_of(const uint8_t *jpg, size_t len, size_t i)
{
  static struct imgfeat f;   /* 3 KB: not on the stack of every caller */
  struct image im;
  int r = jpeg_decode(jpg, len, IMGFEAT_MIN_SHORT, &im);
  int box[4];

  if (r == 0)
    r = imgfeat_compute(&im, &f);
  if (r == 0)
    r = imgfeat_content(&im, box);
  if (r == 0)
    r = imgverify_thumb(&im, box[0], box[1], box[2], box[3],
                        TH + i * IMGVERIFY_BYTES);
  image_free(&im);
  if (r == 0) {
    memcpy(X + i * IMGFEAT_DIM, f.v, sizeof(f.v));
    memcpy(S + i * IMGFEAT_NSUB * IMGFEAT_DIM, f.sub, sizeof(f.sub));
    TH_OK[i] = 1;
  }
  return r;
}

/* The near-duplicate input of the first n images, as the views pass it
 * (thumbnails verified at the default level). */
static struct neardup_input input_of(size_t n)
{
  struct neardup_input in = { .x = X, .n = n, .d = IMGFEAT_DIM, .ids = ids,
                              .sub = S, .nsub = IMGFEAT_NSUB,
                              .mean = imgfeat_origin, .thumbs = TH,
                              .thumb_ok = TH_OK,
                              .verify = IMGVERIFY_ACCEPT_DEFAULT };
  return in;
}

static void build(void)
{
  uint8_t *px = malloc((size_t)W * H * 3);
  size_t n = (n_orig + n_extra) * PER;

  X = malloc(n * IMGFEAT_DIM * sizeof(float));
  S = malloc(n * IMGFEAT_NSUB * IMGFEAT_DIM * sizeof(float));
  TH = malloc(n * IMGVERIFY_BYTES);
  TH_OK = calloc(n, 1);
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
    CHECK_INT_EQ(feat_of(jpg, len, i * PER), 0);
    CHECK_INT_EQ(jpeg_decode(jpg, len, 0, &base), 0);
    free(jpg);
    for (int e = 0; e < N_EDIT; e++) {
      r = make_edit(&base, e, &jpg, &len);
      CHECK_INT_EQ(r, 0);
      CHECK_INT_EQ(feat_of(jpg, len, i * PER + 1 + e), 0);
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
struct spair {
  uint32_t a, b;   /* a < b, images */
  float d;
};

static int cmp_spair(const void *x, const void *y)
{
  const struct spair *p = x, *q = y;

  if (p->a != q->a)
    return p->a < q->a ? -1 : 1;
  if (p->b != q->b)
    return p->b < q->b ? -1 : 1;
  return p->d < q->d ? -1 : p->d > q->d;
}

/* The images' vectors centred on the origin and scaled to unit norm, as
 * neardup.c does: main rows, then IMGFEAT_NSUB rows per image. */
static float *centred_rows(size_t n)
{
  size_t nr = n * (1 + IMGFEAT_NSUB);
  float *z = malloc(nr * IMGFEAT_DIM * sizeof(float));

  for (size_t r = 0; r < nr; r++) {
    const float *v = r < n ? X + r * IMGFEAT_DIM
                           : S + (r - n) * IMGFEAT_DIM;
    double ss = 0;
    for (int i = 0; i < IMGFEAT_DIM; i++)
      ss += ((double)v[i] - imgfeat_origin[i]) *
            ((double)v[i] - imgfeat_origin[i]);
    for (int i = 0; i < IMGFEAT_DIM; i++)
      z[r * IMGFEAT_DIM + i] =
          ss > 0 ? (float)(((double)v[i] - imgfeat_origin[i]) / sqrt(ss)) : 0;
  }
  return z;
}

/* Every pair of images within t by the distance of neardup.h (main
 * against main or against the other's sub-windows, the smallest), each
 * once (from the float search: the last bit may differ from neardup.c's
 * double). */
static struct spair *pairs_within(size_t n, double t, size_t *ret_n)
{
  size_t nr = n * (1 + IMGFEAT_NSUB), m = 0, k = 0;
  float *z = centred_rows(n);
  size_t *rows = calloc(n, sizeof(*rows));
  struct knn_graph g = { 0 };
  struct spair *p;

  for (size_t i = 0; i < n; i++)
    rows[i] = i;
  CHECK_INT_EQ(knn_radius_rows(z, nr, IMGFEAT_DIM, rows, n, t, 0, NULL, &g),
               0);
  p = malloc((g.off[n] + 1) * sizeof(*p));
  for (size_t i = 0; i < n; i++)
    for (size_t e = g.off[i]; e < g.off[i + 1]; e++) {
      size_t j = g.idx[e] < n ? g.idx[e] : (g.idx[e] - n) / IMGFEAT_NSUB;
      float d = g.dist[e] * (g.idx[e] < n ? 1 : NEARDUP_SUB_FACTOR);
      if (j != i && d <= t)
        p[m++] = (struct spair){ (uint32_t)(i < j ? i : j),
                                 (uint32_t)(i < j ? j : i), d };
    }
  qsort(p, m, sizeof(*p), cmp_spair);
  for (size_t i = 0; i < m; i++)
    if (k == 0 || p[i].a != p[k - 1].a || p[i].b != p[k - 1].b)
      p[k++] = p[i];
  knn_graph_free(&g);
  free(rows);
  free(z);
  *ret_n = k;
  return p;
}

/* The measurement behind NEARDUP_THRESH_DEFAULT: pair distances, recall
 * and false-pair rate per threshold (pairs, before grouping). */
TEST(distance_table)
{
  size_t n = n_orig * PER, np;
  static const double ts[] = { 0.02, 0.04, 0.06, 0.08, 0.09, 0.10, 0.12,
                               0.15, 0.20 };
  double negpairs = (double)n * (n - 1) / 2 - (double)n_orig * PER * (PER - 1) / 2;
  struct spair *p = pairs_within(n, 0.20, &np);

  printf("# %zu pictures x %d versions; %.0f negative pairs\n", n_orig, PER,
         negpairs);
  printf("# thresh recall ");
  for (int e = 0; e < N_EDIT; e++)
    printf(" %-6s", edit_name[e]);
  printf("  false-pairs  rate\n");
  for (size_t t = 0; t < sizeof(ts) / sizeof(ts[0]); t++) {
    size_t hit[N_EDIT] = { 0 }, hits = 0, fp = 0;
    for (size_t e = 0; e < np; e++) {
      size_t i = p[e].a, j = p[e].b;
      if (p[e].d > ts[t])
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
  free(p);
}

/* The pair check against the reference computation
 * (tests/unit/imgverify_ref.c: the scorer before its alignment was
 * vectorised): every pair of the corpus within 0.20 (the grouping
 * checks those within the default threshold, 0.09; the wider radius
 * adds some 11,000 pairs of different pictures), scored as the grouping
 * scores them (smaller id first, stopping at the default level).  Every
 * score must equal the reference's bit for bit, so no decision changes;
 * the pairs hold copies that pass at the identity and after an
 * alignment, and different pictures that fail at each step. */
TEST(verify_equals_reference)
{
  size_t n = n_orig * PER, np, pass = 0, differ = 0, same_pic = 0;
  struct spair *p = pairs_within(n, 0.20, &np);
  struct imgverify_prep *prep = malloc(n * sizeof(*prep)), ref;

  for (size_t i = 0; i < n; i++) {
    imgverify_prepare(TH + i * IMGVERIFY_BYTES, &prep[i]);
    imgverify_ref_prepare(TH + i * IMGVERIFY_BYTES, &ref);
    differ += memcmp(&ref, &prep[i], sizeof(ref)) != 0;
  }
  CHECK_INT_EQ(differ, 0);
  for (size_t e = 0; e < np; e++) {
    const struct imgverify_prep *a = &prep[p[e].a], *b = &prep[p[e].b];
    double f = imgverify_score_prep(a, b, IMGVERIFY_ACCEPT_DEFAULT);
    double r = imgverify_ref_score_prep(a, b, IMGVERIFY_ACCEPT_DEFAULT);
    if (memcmp(&f, &r, sizeof(f)) != 0 && differ++ < 5)
      printf("# images %u %u: %.17g, reference %.17g\n", p[e].a, p[e].b, f,
             r);
    pass += r >= IMGVERIFY_ACCEPT_DEFAULT;
    same_pic += p[e].a / PER == p[e].b / PER;
  }
  printf("# %zu pairs within 0.20 (%zu of one picture), %zu pass "
         "the check; %zu scores differ from the reference\n", np, same_pic,
         pass, differ);
  CHECK_INT_EQ(differ, 0);
  CHECK(pass > 0 && pass < np);
  free(prep);
  free(p);
}

/* The real API at the default threshold. */
TEST(groups_at_default)
{
  size_t n = n_orig * PER, fp = 0, hits = 0, hit[N_EDIT] = { 0 };
  struct neardup_groups gr;
  size_t *group_of = malloc(n * sizeof(*group_of));
  double negpairs = (double)n * (n - 1) / 2 - (double)n_orig * PER * (PER - 1) / 2;
  double recall, rate;

  struct neardup_input in = input_of(n);

  CHECK_INT_EQ(neardup_near_in(&in, NEARDUP_THRESH_DEFAULT, NULL, &gr), 0);
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
  /* Every edit, the crops among them (through the sub-windows): >= 0.95
   * (measured >= 0.99).  Different pictures in one group: <= 1e-5 of all
   * pairs (measured 0). */
  for (int e = 0; e < N_EDIT; e++) {
    double want = 0.95;
    if ((double)hit[e] / n_orig < want)
      printf("# %s: recall %.3f < %.2f\n", edit_name[e],
             (double)hit[e] / n_orig, want);
    CHECK((double)hit[e] / n_orig >= want);
  }
  CHECK(recall >= 0.98);
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

static size_t uf_root(size_t *par, size_t i)
{
  while (par[i] != i)
    i = par[i] = par[par[i]];
  return i;
}

/* Adding unrelated pictures (other seeds, with lower ids, so they come
 * first in any id order).  Distances are measured from a fixed origin, so
 * a pair's distance does not depend on the set, and the grouping decides
 * each connected part of the pairs within the threshold on that part
 * alone.  So every picture whose part holds no newcomer (a newcomer within
 * the threshold of an old picture is a false pair: rare) must keep
 * exactly its group: the same members, or no group.  Asserted: no such
 * row changes at all; the rows in parts a newcomer touches are counted. */
TEST(stable_when_unrelated_added)
{
  size_t nb = n_orig * PER, na = (n_orig + n_extra) * PER, moved = 0;
  size_t touched = 0, np;
  struct neardup_groups a, b;
  struct neardup_input ina = input_of(nb), inb = input_of(na);
  uint64_t *la, *lb;
  size_t *par = malloc(na * sizeof(*par));
  char *tch = calloc(na, 1);
  struct spair *p;

  CHECK_INT_EQ(neardup_near_in(&ina, NEARDUP_THRESH_DEFAULT, NULL, &a), 0);
  CHECK_INT_EQ(neardup_near_in(&inb, NEARDUP_THRESH_DEFAULT, NULL, &b), 0);
  la = labels_of(&a, na, row_of_id);
  lb = labels_of(&b, na, row_of_id);
  /* Connected parts of the pairs (a margin over the threshold for the
   * float search); the parts holding a newcomer. */
  p = pairs_within(na, NEARDUP_THRESH_DEFAULT + 1e-4, &np);
  for (size_t i = 0; i < na; i++)
    par[i] = i;
  for (size_t e = 0; e < np; e++)
    par[uf_root(par, p[e].a)] = uf_root(par, p[e].b);
  for (size_t j = nb; j < na; j++)
    tch[uf_root(par, j)] = 1;
  for (size_t i = 0; i < nb; i++) {
    int changed = (la[i] == 0) != (lb[i] == 0);
    if (tch[uf_root(par, i)]) {
      touched++;
      continue;
    }
    for (size_t j = 0; !changed && j < nb; j++)
      changed = j != i && (la[i] && la[i] == la[j]) != (lb[i] && lb[i] == lb[j]);
    moved += changed;
  }
  printf("# %zu unrelated pictures added to %zu: %zu rows in parts a "
         "newcomer joined, %zu other rows changed group\n", n_extra, n_orig,
         touched, moved);
  CHECK_INT_EQ(moved, 0);
  CHECK(touched <= nb / 100);
  free(p);
  free(par);
  free(tch);
  free(la);
  free(lb);
  neardup_groups_free(&a);
  neardup_groups_free(&b);
}

/* ---- the verification stage through real files and a real import ----
 *
 * Scenes of one layout: the same painted gradient and blobs (one seed per
 * layout), each scene with its own fine texture (value noise with cells
 * of 6-12 px, too fine for the global features, which see wavelengths of
 * 60 px and more here, but seen by the 32x32 thumbnails).  The global
 * features put the scenes of a layout within the threshold of each other;
 * the thumbnails tell them apart, and keep every edited copy with its
 * original. */
#define LAY_N 5          /* layouts */
#define LAY_SCENES 4     /* scenes per layout */
static const int lay_edits[] = { 0, 6, 7, 8, 12, 13, 14, 15, 16, 18 };
#define LAY_NEDIT (int)(sizeof(lay_edits) / sizeof(lay_edits[0]))

static void fine_texture(uint8_t *px, int w, int h)
{
  enum { GS = 64 };
  static float lat[GS][GS];
  int cell = 6 + (int)(rnd() % 7);

  for (int i = 0; i < GS; i++)
    for (int j = 0; j < GS; j++)
      lat[i][j] = (float)(frand() * 2 - 1);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double fx = (double)x / cell, fy = (double)y / cell;
      int ix = (int)fx % (GS - 1), iy = (int)fy % (GS - 1);
      double tx = fx - floor(fx), ty = fy - floor(fy);
      double a = lat[iy][ix] * (1 - tx) + lat[iy][ix + 1] * tx;
      double b = lat[iy + 1][ix] * (1 - tx) + lat[iy + 1][ix + 1] * tx;
      double n = a * (1 - ty) + b * ty;
      for (int k = 0; k < 3; k++) {
        double v = px[((size_t)y * w + x) * 3 + k] * (1 + 0.35 * n);
        px[((size_t)y * w + x) * 3 + k] =
            (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
}

static void write_file(const char *dir, const char *name, const uint8_t *b,
                       size_t len)
{
  char path[512];
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f) {
    CHECK(fwrite(b, 1, len, f) == len);
    fclose(f);
  }
}

/* The originals "L<l>_S<s>_orig.jpg" and their copies "L<l>_S<s>_e<e>.jpg"
 * into dir. */
static void layout_files(const char *dir)
{
  uint8_t *px = malloc((size_t)W * H * 3), *jpg;
  size_t len;

  for (int l = 0; l < LAY_N; l++)
    for (int sc = 0; sc < LAY_SCENES; sc++) {
      struct image base = { W, H, 3, px };
      char name[64];
      rng = (0x1a70 + (uint64_t)l) * 0x9E3779B97F4A7C15ull | 1;
      paint(px, W, H);
      rng = (0x5ce7e + (uint64_t)l * 100 + (uint64_t)sc) *
                0x9E3779B97F4A7C15ull | 1;
      fine_texture(px, W, H);
      CHECK_INT_EQ(jpeg_encode(&base, 85, &jpg, &len), 0);
      snprintf(name, sizeof(name), "L%d_S%d_orig.jpg", l, sc);
      write_file(dir, name, jpg, len);
      CHECK_INT_EQ(jpeg_decode(jpg, len, 0, &base), 0);
      free(jpg);
      for (int e = 0; e < LAY_NEDIT; e++) {
        CHECK_INT_EQ(make_edit(&base, lay_edits[e], &jpg, &len), 0);
        snprintf(name, sizeof(name), "L%d_S%d_e%d.jpg", l, sc, lay_edits[e]);
        write_file(dir, name, jpg, len);
        free(jpg);
      }
      image_free(&base);
    }
  free(px);
}

/* The near-duplicate view of the store, scored: *false_pairs between
 * different scenes in one group, *kept copies in their original's group. */
static void layout_score(struct store *s, size_t *false_pairs, size_t *kept)
{
  struct store_txn *t;
  struct view_list *vl = view_list_new();
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  uint64_t done = 0, total = 0;
  struct viewcompute_progress pr = { &mu, &done, &total, NULL };
  int scene[LAY_N * LAY_SCENES * (LAY_NEDIT + 1)];
  uint32_t group[LAY_N * LAY_SCENES * (LAY_NEDIT + 1)];
  bool orig[LAY_N * LAY_SCENES * (LAY_NEDIT + 1)];
  size_t m = 0;

  *false_pairs = *kept = 0;
  CHECK_INT_EQ(store_txn_begin(s, false, &t), 0);
  CHECK_INT_EQ(viewcompute_neardup(t, &pr, vl), 0);
  for (size_t i = 0; i < vl->n && m < sizeof(scene) / sizeof(scene[0]);
       i++) {
    struct sample sm;
    int l, sc;
    CHECK_INT_EQ(store_sample_get(t, vl->items[i].sample_id, &sm), 0);
    CHECK(sscanf(sm.relpath, "L%d_S%d_", &l, &sc) == 2);
    scene[m] = l * LAY_SCENES + sc;
    group[m] = vl->items[i].rank;
    orig[m++] = strstr(sm.relpath, "_orig") != NULL;
  }
  store_txn_commit(t);
  for (size_t a = 0; a < m; a++)
    for (size_t b = a + 1; b < m; b++) {
      if (group[a] != group[b])
        continue;
      if (scene[a] != scene[b])
        ++*false_pairs;
      else if (orig[a] || orig[b])
        ++*kept;
    }
  view_list_put(vl);
}

static void set_verify(struct store *s, const char *doc)
{
  struct store_txn *t;
  char err[256];
  unsigned changed;

  CHECK_INT_EQ(store_txn_begin(s, true, &t), 0);
  CHECK_INT_EQ(config_apply(t, doc, strlen(doc), err, sizeof(err), &changed),
               0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
}

/* Real JPEG files, imported (features and thumbnails as the import
 * computes them), grouped as views/near-duplicates groups them: with the
 * check at its default no group holds two scenes and every copy stays
 * with its original (at least 95 %); with neardup.verify = 0 the scenes
 * of a layout do share groups, so the check is what keeps them apart. */
TEST(verify_same_layout_import)
{
  char dir[256], data[300], sdir[300];
  struct store *s = NULL;
  struct import_stats st;
  struct import_opts o = { 0 };
  size_t fp_on, kept_on, fp_off, kept_off;
  size_t want = LAY_N * LAY_SCENES * LAY_NEDIT;

  CHECK_INT_EQ(tl_tmpdir(dir, sizeof(dir), "ndverify"), 0);
  snprintf(data, sizeof(data), "%s/data", dir);
  snprintf(sdir, sizeof(sdir), "%s/store", dir);
  CHECK_INT_EQ(mkdir(data, 0755), 0);
  CHECK_INT_EQ(mkdir(sdir, 0755), 0);
  layout_files(data);
  CHECK_INT_EQ(store_open(sdir, NULL, &s), 0);
  CHECK_INT_EQ(import_dir(s, data, &o, &st), 0);
  CHECK(st.added == (uint64_t)LAY_N * LAY_SCENES * (LAY_NEDIT + 1));
  layout_score(s, &fp_on, &kept_on);
  set_verify(s, "neardup.verify = 0\n");
  layout_score(s, &fp_off, &kept_off);
  printf("# %d layouts x %d scenes, %d copies each: verified: %zu false "
         "pairs, %zu of %zu copies kept; unverified: %zu false pairs, %zu "
         "kept\n", LAY_N, LAY_SCENES, LAY_NEDIT, fp_on, kept_on, want,
         fp_off, kept_off);
  CHECK_INT_EQ(fp_on, 0);
  CHECK(kept_on * 100 >= want * 95);
  CHECK(fp_off >= (size_t)LAY_N);
  store_close(s);
  tl_rm_rf(dir);
}

/* ---- screenshots of one program with different drawings ----
 *
 * A program window (title bar, two columns of tool icons, a palette row:
 * the same in every screenshot) around a white canvas; each screenshot
 * has its own few blots of paint in the upper right of the canvas.  The
 * window's detail dominates the thumbnail, so a whole-picture correlation
 * finds many of these pairs alike (without the quadrant rule the groups
 * hold 207 false pairs); the quadrant rule (imgverify.h) sees the
 * canvas's quadrant disagree.  Copies that must stay with their screenshot: a caption over
 * the palette, crops of 5 and 10 %, a 2 degree rotation, a re-encode. */
#define UI_W 320
#define UI_H 240
#define UI_N 8          /* screenshots */
#define UI_COPIES 5

static void ui_rect(uint8_t *px, int x0, int y0, int x1, int y1,
                    const uint8_t c[3])
{
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      memcpy(px + ((size_t)y * UI_W + x) * 3, c, 3);
}

/* A tool button: a light face with a glyph of three dark bars. */
static void ui_icon(uint8_t *px, int x0, int y0, int w, int h)
{
  static const uint8_t face[3] = { 170, 200, 235 };
  uint8_t ink[3];

  ui_rect(px, x0, y0, x0 + w, y0 + h, face);
  for (int k = 0; k < 3; k++)
    ink[k] = (uint8_t)(rnd() % 90);
  for (int s = 0; s < 3; s++) {
    int gx = x0 + 3 + (int)(rnd() % (unsigned)(w - 10));
    int gy = y0 + 3 + (int)(rnd() % (unsigned)(h - 10));
    bool wide = rnd() & 1;
    ui_rect(px, gx, gy, gx + (wide ? 7 : 3), gy + (wide ? 3 : 7), ink);
  }
}

static void ui_screen(uint8_t *px, int drawing)
{
  static const uint8_t bg[3] = { 215, 215, 215 },
                       white[3] = { 255, 255, 255 }, title[3] = { 60, 60, 70 };

  ui_rect(px, 0, 0, UI_W, UI_H, bg);
  ui_rect(px, 0, 0, UI_W, 14, title);
  rng = 0x5eed1 * 0x9E3779B97F4A7C15ull | 1;
  for (int r = 0; r < 8; r++)
    for (int c = 0; c < 2; c++) {
      ui_icon(px, 2 + c * 30, 16 + r * 23, 28, 21);
      ui_icon(px, UI_W - 60 + c * 30, 16 + r * 23, 28, 21);
    }
  for (int c = 0; c < 12; c++) {
    uint8_t sw[3] = { (uint8_t)(rnd() % 256), (uint8_t)(rnd() % 256),
                      (uint8_t)(rnd() % 256) };
    ui_rect(px, 4 + c * 26, 204, 26 + c * 26, 236, sw);
  }
  ui_rect(px, 64, 16, UI_W - 64, 200, white);
  rng = (0xd2a3 + (uint64_t)drawing) * 0x9E3779B97F4A7C15ull | 1;
  for (int s = 0; s < 4; s++) {
    uint8_t ink[3] = { (uint8_t)(rnd() % 160), (uint8_t)(rnd() % 160),
                       (uint8_t)(rnd() % 160) };
    int cx = 165 + (int)(rnd() % 75), cy = 40 + (int)(rnd() % 70);
    int rr = 5 + (int)(rnd() % 6);
    for (int y = cy - rr; y <= cy + rr; y++)
      for (int x = cx - rr; x <= cx + rr; x++)
        if (x < UI_W - 64 && y >= 16 &&
            (x - cx) * (x - cx) + (y - cy) * (y - cy) <= rr * rr)
          memcpy(px + ((size_t)y * UI_W + x) * 3, ink, 3);
  }
}

/* Copy k of a screenshot (k = 0: the screenshot itself). */
static int ui_copy(const struct image *src, int k, struct image *out)
{
  static const uint8_t black[3] = { 0, 0, 0 };
  int r;

  switch (k) {
  case 2:
    return edit_crop(src, UI_W / 20, UI_H / 20, UI_W - UI_W / 10,
                     UI_H - UI_H / 10, out);
  case 3:
    return edit_crop(src, UI_W / 10, UI_H / 10, UI_W - UI_W / 10,
                     UI_H - UI_H / 10, out);
  case 4:
    return edit_rotate(src, 2.0, 0, black, out);
  default:
    r = image_alloc(out, src->w, src->h, 3);
    if (r == 0)
      memcpy(out->px, src->px, (size_t)src->w * src->h * 3);
    if (r == 0 && k == 1)
      edit_text(out, 9, 3, 77);
    return r;
  }
}

/* Through JPEG (q85, q40 for copy 5), the import's decode, features and
 * thumbnail, into row i of x, sub, th. */
static void ui_row(const struct image *im, int q, size_t i, float *x,
                   float *sub, uint8_t *th)
{
  static struct imgfeat f;
  struct image d;
  uint8_t *jpg;
  size_t len;
  int box[4];

  CHECK_INT_EQ(jpeg_encode(im, q, &jpg, &len), 0);
  CHECK_INT_EQ(jpeg_decode(jpg, len, IMGFEAT_MIN_SHORT, &d), 0);
  CHECK_INT_EQ(imgfeat_compute(&d, &f), 0);
  CHECK_INT_EQ(imgfeat_content(&d, box), 0);
  CHECK_INT_EQ(imgverify_thumb(&d, box[0], box[1], box[2], box[3],
                               th + i * IMGVERIFY_BYTES), 0);
  memcpy(x + i * IMGFEAT_DIM, f.v, sizeof(f.v));
  memcpy(sub + i * IMGFEAT_NSUB * IMGFEAT_DIM, f.sub, sizeof(f.sub));
  image_free(&d);
  free(jpg);
}

/* Groups of the views' path: no group holds two screenshots, every copy
 * is in its screenshot's group; without the check (verify 0) the
 * features alone do put screenshots together. */
TEST(ui_screens_apart)
{
  enum { PERS = UI_COPIES + 1, NR = UI_N * PERS };
  static float x[NR * IMGFEAT_DIM], sub[NR * IMGFEAT_NSUB * IMGFEAT_DIM];
  static uint8_t th[NR * IMGVERIFY_BYTES], ok[NR], px[UI_W * UI_H * 3];
  uint64_t rid[NR];
  struct neardup_input in = { .x = x, .n = NR, .d = IMGFEAT_DIM, .ids = rid,
                              .sub = sub, .nsub = IMGFEAT_NSUB,
                              .mean = imgfeat_origin, .thumbs = th,
                              .thumb_ok = ok };
  size_t fp[2] = { 0 }, kept[2] = { 0 };

  for (int s = 0; s < UI_N; s++) {
    struct image base = { UI_W, UI_H, 3, px };
    ui_screen(px, s);
    for (int k = 0; k < PERS; k++) {
      struct image c;
      size_t i = (size_t)s * PERS + (size_t)k;
      CHECK_INT_EQ(ui_copy(&base, k == UI_COPIES ? 0 : k, &c), 0);
      ui_row(&c, k == UI_COPIES ? 40 : 85, i, x, sub, th);
      image_free(&c);
      ok[i] = 1;
      rid[i] = i + 1;
    }
  }
  for (int v = 0; v < 2; v++) {
    struct neardup_groups g;
    uint64_t *lab;
    in.verify = v ? IMGVERIFY_ACCEPT_DEFAULT : 0;
    CHECK_INT_EQ(neardup_near_in(&in, NEARDUP_THRESH_DEFAULT, NULL, &g), 0);
    lab = calloc(NR, sizeof(*lab));
    for (size_t gi = 0; gi < g.ngroups; gi++)
      for (size_t m = g.off[gi]; m < g.off[gi + 1]; m++)
        lab[g.ids[m] - 1] = gi + 1;
    for (size_t a = 0; a < NR; a++)
      for (size_t b = a + 1; b < NR; b++) {
        bool same = lab[a] && lab[a] == lab[b];
        if (same && a / PERS != b / PERS)
          fp[v]++;
        if (same && a % PERS == 0 && b / PERS == a / PERS)
          kept[v]++;
      }
    free(lab);
    neardup_groups_free(&g);
  }
  printf("# %d screenshots of one program, %d copies each: checked %zu "
         "false pairs, %zu of %d copies kept; features alone %zu false "
         "pairs\n", UI_N, UI_COPIES, fp[1], kept[1], UI_N * UI_COPIES,
         fp[0]);
  CHECK_INT_EQ(fp[1], 0);
  CHECK_INT_EQ(kept[1], UI_N * UI_COPIES);
  CHECK(fp[0] >= (size_t)UI_N);
  /* Every ordered pair of these screenshots (most fail only on the
   * quadrant rule) scores as the reference scorer does, to the bit
   * (verify_equals_reference below). */
  {
    static struct imgverify_prep pr[NR];
    size_t differ = 0;
    for (size_t a = 0; a < NR; a++)
      imgverify_prepare(th + a * IMGVERIFY_BYTES, &pr[a]);
    for (size_t a = 0; a < NR; a++)
      for (size_t b = 0; b < NR; b++) {
        double f = imgverify_score_prep(&pr[a], &pr[b], 2);
        double r = imgverify_ref_score_prep(&pr[a], &pr[b], 2);
        differ += memcmp(&f, &r, sizeof(f)) != 0;
      }
    CHECK_INT_EQ(differ, 0);
  }
}

int main(int argc, char **argv)
{
  static const struct tl_case cases[] = { T(distance_table),
                                          T(groups_at_default),
                                          T(stable_when_unrelated_added),
                                          T(verify_same_layout_import),
                                          T(ui_screens_apart),
                                          T(verify_equals_reference) };

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
  free(S);
  free(TH);
  free(TH_OK);
  free(ids);
  return tl_total_failed ? 1 : 0;
}
