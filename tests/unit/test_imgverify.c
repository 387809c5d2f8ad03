/* test_imgverify.c - the verification thumbnail and score (imgverify.h):
 * bad arguments, flat pictures, the content box, and the score of edited
 * copies (kept) against different scenes of one layout (rejected), on
 * generated pictures; the neardup.c stage that drops pairs on it; and the
 * score against the reference computation (imgverify_ref.c), which it
 * must equal bit for bit. */
#include "testlib.h"
#include "imgfeat.h"
#include "imgverify.h"
#include "imgverify_ref.h"
#include "neardup.h"

#include "../gen/paint.h"
#include "../quality/edits.h"

#include <errno.h>
#include <math.h>

#define W 240
#define H 180

/* A scene: the layout of seed `layout` (gradient and blobs), a fine
 * texture of seed `scene` (cells of 6-10 px: detail the global features
 * do not see). */
static void scene(struct image *im, uint64_t layout, uint64_t sc)
{
  float lat[48][48];
  int cell;

  CHECK_INT_EQ(image_alloc(im, W, H, 3), 0);
  rng = (layout + 1) * 0x9E3779B97F4A7C15ull | 1;
  paint(im->px, W, H);
  rng = (sc + 1000) * 0x9E3779B97F4A7C15ull | 1;
  cell = 6 + (int)(rnd() % 5);
  for (int i = 0; i < 48; i++)
    for (int j = 0; j < 48; j++)
      lat[i][j] = (float)(frand() * 2 - 1);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int ix = x / cell, iy = y / cell;
      double tx = (double)x / cell - ix, ty = (double)y / cell - iy;
      double n = (lat[iy][ix] * (1 - tx) + lat[iy][ix + 1] * tx) * (1 - ty) +
                 (lat[iy + 1][ix] * (1 - tx) + lat[iy + 1][ix + 1] * tx) * ty;
      for (int k = 0; k < 3; k++) {
        double v = im->px[((size_t)y * W + x) * 3 + k] * (1 + 0.35 * n);
        im->px[((size_t)y * W + x) * 3 + k] =
            (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
}

/* The thumbnail of im's content box, as the import makes it. */
static void thumb(const struct image *im, uint8_t t[IMGVERIFY_BYTES])
{
  int box[4];

  CHECK_INT_EQ(imgfeat_content(im, box), 0);
  CHECK_INT_EQ(imgverify_thumb(im, box[0], box[1], box[2], box[3], t), 0);
}

TEST(thumb_bad_and_flat)
{
  struct image im = { 0 }, grey = { 0 };
  uint8_t t[IMGVERIFY_BYTES], zero[IMGVERIFY_BYTES] = { 0 };

  scene(&im, 1, 1);
  CHECK_INT_EQ(imgverify_thumb(NULL, 0, 0, 1, 1, t), -EINVAL);
  CHECK_INT_EQ(imgverify_thumb(&im, 0, 0, 0, 10, t), -EINVAL);
  CHECK_INT_EQ(imgverify_thumb(&im, 0, 0, W + 1, H, t), -EINVAL);
  CHECK_INT_EQ(imgverify_thumb(&im, -1, 0, W, H, t), -EINVAL);
  CHECK(memcmp(t, zero, sizeof(t)) == 0);       /* zeroed on failure */
  /* A uniform picture is flat: all zeros, and it vetoes nothing. */
  CHECK_INT_EQ(image_alloc(&grey, 50, 40, 1), 0);
  memset(grey.px, 90, 50 * 40);
  CHECK_INT_EQ(imgverify_thumb(&grey, 0, 0, 50, 40, t), 0);
  CHECK(memcmp(t, zero, sizeof(t)) == 0);
  {
    uint8_t u[IMGVERIFY_BYTES];
    thumb(&im, u);
    CHECK_NEAR(imgverify_score(t, u, 2), 1.0, 1e-9);
    CHECK_NEAR(imgverify_score(u, t, 2), 1.0, 1e-9);
  }
  /* A region smaller than the thumbnail still fills it: the range is
   * stretched to 0..255. */
  for (int i = 0; i < 50 * 40; i++)
    grey.px[i] = (uint8_t)(i % 50 < 25 ? 10 : 200);
  CHECK_INT_EQ(imgverify_thumb(&grey, 20, 10, 30, 14, t), 0);
  CHECK_INT_EQ(t[0], 0);
  CHECK_INT_EQ(t[IMGVERIFY_BYTES - 1], 255);
  image_free(&im);
  image_free(&grey);
}

/* A padded copy has the thumbnail of its original (the content box). */
TEST(thumb_content_box)
{
  static const uint8_t black[3] = { 0, 0, 0 };
  struct image im, pad;
  uint8_t a[IMGVERIFY_BYTES], b[IMGVERIFY_BYTES];
  int maxd = 0;

  scene(&im, 2, 2);
  CHECK_INT_EQ(edit_pad(&im, 0.10, 1, 1, black, &pad), 0);
  thumb(&im, a);
  thumb(&pad, b);
  for (int i = 0; i < IMGVERIFY_BYTES; i++)
    maxd = abs(a[i] - b[i]) > maxd ? abs(a[i] - b[i]) : maxd;
  CHECK(maxd <= 2);
  image_free(&im);
  image_free(&pad);
}

/* Edited copies score at or above the default level; different scenes
 * of one layout below it; a scene with itself 1. */
TEST(score_copies_and_layouts)
{
  static const uint8_t black[3] = { 0, 0, 0 }, white[3] = { 255, 255, 255 };
  struct image im, ed;
  uint8_t a[IMGVERIFY_BYTES], b[IMGVERIFY_BYTES];
  double lo_copy = 2, hi_other = -2;

  for (uint64_t l = 0; l < 4; l++) {
    scene(&im, l, l * 10);
    thumb(&im, a);
    CHECK_NEAR(imgverify_score(a, a, 2), 1.0, 1e-6);
    for (int e = 0; e < 8; e++) {
      double s;
      memset(&ed, 0, sizeof(ed));
      if (e == 0)
        CHECK_INT_EQ(edit_rotate(&im, 3.0, 0, black, &ed), 0);
      else if (e == 1)
        CHECK_INT_EQ(edit_rotate(&im, -2.0, 1, white, &ed), 0);
      else if (e == 2)
        CHECK_INT_EQ(edit_crop(&im, W / 10, H / 10, W - W / 10, H - H / 10,
                               &ed), 0);
      else if (e == 3)
        CHECK_INT_EQ(edit_crop(&im, W / 20, H / 20, W - W / 10, H - H / 10,
                               &ed), 0);
      else {
        CHECK_INT_EQ(edit_crop(&im, 0, 0, W, H, &ed), 0);
        if (e == 4)
          edit_gray(&ed);
        else if (e == 5)
          edit_gamma(&ed, 1.2);
        else if (e == 6)
          edit_text(&ed, 8, 2, l);
        else
          edit_cast(&ed, 1.1, 0.88);
      }
      thumb(&ed, b);
      s = imgverify_score(a, b, 2);
      if (s < IMGVERIFY_ACCEPT_DEFAULT)
        printf("# layout %d edit %d: %.3f\n", (int)l, e, s);
      lo_copy = s < lo_copy ? s : lo_copy;
      /* Stopping early at a level still says "at least that". */
      CHECK((imgverify_score(a, b, 0.5) >= 0.5) == (s >= 0.5));
      image_free(&ed);
    }
    for (uint64_t sc = 1; sc < 4; sc++) {
      double s;
      scene(&ed, l, l * 10 + sc);
      thumb(&ed, b);
      s = imgverify_score(a, b, 2);
      hi_other = s > hi_other ? s : hi_other;
      image_free(&ed);
    }
    image_free(&im);
  }
  printf("# lowest copy %.3f, highest other scene %.3f\n", lo_copy,
         hi_other);
  CHECK(lo_copy >= IMGVERIFY_ACCEPT_DEFAULT);
  CHECK(hi_other < IMGVERIFY_ACCEPT_DEFAULT);
}

/* A mirrored copy matches; so does a mirrored, rotated one. */
TEST(score_mirror)
{
  static const uint8_t black[3] = { 0, 0, 0 };
  struct image im, ed;
  uint8_t a[IMGVERIFY_BYTES], b[IMGVERIFY_BYTES], m[IMGVERIFY_BYTES];

  scene(&im, 7, 7);
  thumb(&im, a);
  for (int y = 0; y < IMGVERIFY_SIDE; y++)
    for (int x = 0; x < IMGVERIFY_SIDE; x++)
      m[y * IMGVERIFY_SIDE + x] = a[y * IMGVERIFY_SIDE + IMGVERIFY_SIDE - 1 - x];
  CHECK(imgverify_score(a, m, 2) > 0.99);
  CHECK_INT_EQ(edit_rotate(&im, 2.0, 0, black, &ed), 0);
  for (int y = 0; y < ed.h; y++)
    for (int x = 0; x < ed.w / 2; x++)
      for (int k = 0; k < 3; k++) {
        uint8_t *p = ed.px + ((size_t)y * ed.w + x) * 3 + k;
        uint8_t *q = ed.px + ((size_t)y * ed.w + ed.w - 1 - x) * 3 + k;
        uint8_t t = *p;
        *p = *q;
        *q = t;
      }
  thumb(&ed, b);
  CHECK(imgverify_score(a, b, 2) >= IMGVERIFY_ACCEPT_DEFAULT);
  image_free(&im);
  image_free(&ed);
}

/* neardup_near_in() drops a pair within the threshold whose thumbnails
 * do not match, keeps it without thumbnails (thumb_ok 0) or with
 * verify 0, and refuses thumbnails without their flags. */
TEST(neardup_drops_unverified_pairs)
{
  float x[3][2] = { { 1, 0 }, { 0.9999f, 0.0141f }, { 0.9998f, -0.02f } };
  uint64_t ids[3] = { 5, 6, 7 };
  static const float origin[2] = { 0, 0 };
  static uint8_t th[3][IMGVERIFY_BYTES];
  uint8_t ok[3] = { 1, 1, 1 };
  struct neardup_input in = { .x = &x[0][0], .n = 3, .d = 2, .ids = ids,
                              .mean = origin,
                              .thumbs = &th[0][0], .thumb_ok = ok,
                              .verify = IMGVERIFY_ACCEPT_DEFAULT };
  struct neardup_groups g;
  struct image im;

  scene(&im, 3, 30);         /* rows 0 and 2: one scene; row 1 another */
  thumb(&im, th[0]);
  memcpy(th[2], th[0], IMGVERIFY_BYTES);
  image_free(&im);
  scene(&im, 3, 31);
  thumb(&im, th[1]);
  image_free(&im);
  CHECK_INT_EQ(neardup_near_in(&in, 0.01, NULL, &g), 0);
  CHECK_INT_EQ(g.ngroups, 1);
  CHECK_INT_EQ(g.off[1], 2);
  CHECK(g.ids[0] == 5 && g.ids[1] == 7);
  CHECK(isnan(g.nn_dist[1]));       /* its only candidates failed */
  CHECK(g.nn_dist[0] <= 0.01f && g.nn_dist[2] <= 0.01f);
  neardup_groups_free(&g);
  ok[1] = 0;                          /* no thumbnail: kept unverified */
  CHECK_INT_EQ(neardup_near_in(&in, 0.01, NULL, &g), 0);
  CHECK_INT_EQ(g.ngroups, 1);
  CHECK_INT_EQ(g.off[1], 3);
  neardup_groups_free(&g);
  ok[1] = 1;
  in.verify = 0;                      /* the check off */
  CHECK_INT_EQ(neardup_near_in(&in, 0.01, NULL, &g), 0);
  CHECK_INT_EQ(g.off[1], 3);
  neardup_groups_free(&g);
  in.thumb_ok = NULL;
  CHECK_INT_EQ(neardup_near_in(&in, 0.01, NULL, &g), -EINVAL);
}

/* Odd shapes: a single pixel, lines, extreme aspect ratios, sizes on
 * both sides of the thumbnail's fast path, flat and textured, grey and
 * RGB.  The content box and its thumbnail always succeed and the score
 * against a textured thumbnail is a number in [-1, 1]. */
TEST(thumb_odd_shapes)
{
  static const int sz[][2] = { { 1, 1 }, { 1, 2 }, { 2, 1 }, { 1, 60000 },
                               { 60000, 1 }, { 3, 5000 }, { 31, 31 },
                               { 33, 1 }, { 4096, 2 }, { 4097, 40 },
                               { 40, 4097 } };
  uint8_t t[IMGVERIFY_BYTES], ref[IMGVERIFY_BYTES];

  for (int i = 0; i < IMGVERIFY_BYTES; i++)
    ref[i] = (uint8_t)((i * 37) ^ (i >> 5) * 11);
  for (size_t s = 0; s < sizeof(sz) / sizeof(sz[0]); s++)
    for (int ch = 1; ch <= 3; ch += 2)
      for (int kind = 0; kind < 2; kind++) {
        struct image im = { 0 };
        int box[4];
        double sc;
        CHECK_INT_EQ(image_alloc(&im, sz[s][0], sz[s][1], ch), 0);
        for (size_t k = 0; k < (size_t)sz[s][0] * sz[s][1] * ch; k++) {
          size_t px = k / ch;
          int x = (int)(px % sz[s][0]), y = (int)(px / sz[s][0]);
          im.px[k] = kind ? (uint8_t)((x * 7 + y * 13) ^ (x * y)) : 128;
        }
        CHECK_INT_EQ(imgfeat_content(&im, box), 0);
        CHECK_INT_EQ(imgverify_thumb(&im, box[0], box[1], box[2], box[3],
                                     t), 0);
        sc = imgverify_score(t, ref, 2);
        CHECK(isfinite(sc) && sc >= -1 - 1e-9 && sc <= 1 + 1e-9);
        sc = imgverify_score(ref, t, 0.7);
        CHECK(isfinite(sc) && sc >= -1 - 1e-9 && sc <= 1 + 1e-9);
        image_free(&im);
      }
}

/* The thumbnails of the reference comparison: for each of 6 layouts, 6
 * scenes of that layout (pairs that fail after a full alignment) and 9
 * edited copies of its first scene (pairs that pass, some only after
 * the alignment: rotations, crops, a mirror), and 4 synthetic patterns
 * (stripes, noise, a ramp, a flat picture). */
#define REF_LAYOUTS 6
#define REF_PER 15
#define REF_N (REF_LAYOUTS * REF_PER + 4)

static void ref_edit(const struct image *im, int e, struct image *ed)
{
  static const uint8_t black[3] = { 0, 0, 0 }, white[3] = { 255, 255, 255 };

  memset(ed, 0, sizeof(*ed));
  if (e == 0)
    CHECK_INT_EQ(edit_rotate(im, 3.0, 0, black, ed), 0);
  else if (e == 1)
    CHECK_INT_EQ(edit_rotate(im, -1.5, 1, white, ed), 0);
  else if (e == 2)
    CHECK_INT_EQ(edit_crop(im, W / 10, H / 10, W - W / 10, H - H / 10, ed),
                 0);
  else if (e == 3)
    CHECK_INT_EQ(edit_crop(im, 0, H / 12, W - W / 10, H - H / 12, ed), 0);
  else if (e == 4)
    CHECK_INT_EQ(edit_pad(im, 0.1, 1, 1, black, ed), 0);
  else {
    CHECK_INT_EQ(edit_crop(im, 0, 0, W, H, ed), 0);
    if (e == 5)
      edit_gamma(ed, 0.8);
    else if (e == 6)
      edit_text(ed, 8, 2, 3);
    else if (e == 7)
      edit_gray(ed);
    else
      for (int y = 0; y < H; y++)       /* mirrored */
        for (int x = 0; x < W / 2; x++)
          for (int k = 0; k < 3; k++) {
            uint8_t *p = ed->px + ((size_t)y * W + x) * 3 + k;
            uint8_t *q = ed->px + ((size_t)y * W + W - 1 - x) * 3 + k;
            uint8_t t = *p;
            *p = *q;
            *q = t;
          }
  }
}

static void ref_thumbs(uint8_t (*t)[IMGVERIFY_BYTES])
{
  size_t i = 0;

  for (uint64_t l = 0; l < REF_LAYOUTS; l++) {
    struct image im, ed;
    for (uint64_t sc = 0; sc < REF_PER - 9; sc++) {
      scene(&im, 20 + l, 100 + l * 10 + sc);
      thumb(&im, t[i++]);
      if (sc > 0)
        image_free(&im);
      else
        ed = im;
    }
    for (int e = 0; e < 9; e++) {
      ref_edit(&ed, e, &im);
      thumb(&im, t[i++]);
      image_free(&im);
    }
    image_free(&ed);
  }
  for (int k = 0; k < 4; k++, i++)
    for (int p = 0; p < IMGVERIFY_BYTES; p++) {
      int x = p % IMGVERIFY_SIDE, y = p / IMGVERIFY_SIDE;
      t[i][p] = (uint8_t)(k == 0 ? (x / 3 % 2) * 200 + y
                          : k == 1 ? (int)((p * 2654435761u) >> 24)
                          : k == 2 ? x * 8 : 77);
    }
}

/* Every ordered pair of the thumbnails above, at the default level, with
 * no early stop and at 0.5: the score equals the reference's bit for bit
 * (so the decision is the same); the pairs cover passes at the identity
 * and after an alignment, and failures at every step. */
TEST(score_equals_reference)
{
  static uint8_t t[REF_N][IMGVERIFY_BYTES];
  static struct imgverify_prep pf[REF_N], pr[REF_N];
  static const double enough[3] = { IMGVERIFY_ACCEPT_DEFAULT, 2, 0.5 };
  size_t pass = 0, fail = 0, differ = 0;

  ref_thumbs(t);
  for (int i = 0; i < REF_N; i++) {
    imgverify_prepare(t[i], &pf[i]);
    imgverify_ref_prepare(t[i], &pr[i]);
    CHECK(memcmp(&pf[i].detail, &pr[i].detail, sizeof(pf[i].detail)) == 0);
    CHECK(memcmp(&pf[i].smooth, &pr[i].smooth, sizeof(pf[i].smooth)) == 0);
    CHECK(pf[i].energy == pr[i].energy);
  }
  for (int i = 0; i < REF_N; i++)
    for (int j = 0; j < REF_N; j++)
      for (int e = 0; e < 3; e++) {
        double f = imgverify_score_prep(&pf[i], &pf[j], enough[e]);
        double r = imgverify_ref_score_prep(&pr[i], &pr[j], enough[e]);
        if (memcmp(&f, &r, sizeof(f)) != 0) {
          if (differ++ < 5)
            printf("# pair %d %d at %.1f: %.17g, reference %.17g\n", i, j,
                   enough[e], f, r);
        }
        if (e == 0)
          r >= IMGVERIFY_ACCEPT_DEFAULT ? pass++ : fail++;
      }
  printf("# %zu pairs pass, %zu fail, %zu scores differ\n", pass, fail,
         differ);
  CHECK_INT_EQ(differ, 0);
  CHECK(pass >= REF_LAYOUTS * 100 && fail >= REF_N * REF_N / 2);
}

TEST_MAIN(T(thumb_bad_and_flat), T(thumb_content_box),
          T(score_copies_and_layouts), T(score_mirror),
          T(neardup_drops_unverified_pairs), T(thumb_odd_shapes),
          T(score_equals_reference))
