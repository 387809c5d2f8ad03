/* test_cvat_orient.c - boxes between the stored frame and the frame CVAT
 * shows (img_orient_box()), for all eight EXIF orientations.
 *
 * The reference is the image layer's own turn of pixels (img_orient(), the
 * viewer frame the features use): a box painted into a small image, the
 * image turned, and the painted pixels' bounding box read back.  So the
 * boxes sent to CVAT follow the same orientation as everything else.
 */
#include "testlib.h"
#include "cvat_client.h"
#include "imgcodec.h"

#include <math.h>
#include <string.h>

enum { W = 13, H = 7 };

/* The bounding box [x1, y1, x2, y2] (pixel edges) of the non-zero pixels
 * of the box b painted into a W x H image turned by orientation o. */
static void reference(int o, const int b[4], double out[4])
{
  struct image im;
  int x1 = 1 << 20, y1 = 1 << 20, x2 = -1, y2 = -1;

  CHECK_INT_EQ(image_alloc(&im, W, H, 3), 0);
  memset(im.px, 0, (size_t)W * H * 3);
  for (int y = b[1]; y < b[3]; y++)
    for (int x = b[0]; x < b[2]; x++)
      im.px[((size_t)y * W + x) * 3] = 255;
  CHECK_INT_EQ(img_orient(&im, o), 0);
  CHECK_INT_EQ(im.w, o >= 5 ? H : W);
  for (int y = 0; y < im.h; y++)
    for (int x = 0; x < im.w; x++)
      if (im.px[((size_t)y * im.w + x) * 3]) {
        x1 = x < x1 ? x : x1;
        y1 = y < y1 ? y : y1;
        x2 = x + 1 > x2 ? x + 1 : x2;
        y2 = y + 1 > y2 ? y + 1 : y2;
      }
  out[0] = x1;
  out[1] = y1;
  out[2] = x2;
  out[3] = y2;
  image_free(&im);
}

TEST(every_orientation_as_the_viewer_frame)
{
  static const int boxes[][4] = { { 1, 2, 5, 6 }, { 0, 0, 13, 7 },
                                  { 12, 6, 13, 7 }, { 3, 0, 4, 7 } };

  for (int o = 1; o <= 8; o++)
    for (size_t k = 0; k < sizeof(boxes) / sizeof(boxes[0]); k++) {
      double want[4], b[4];

      reference(o, boxes[k], want);
      for (int i = 0; i < 4; i++)
        b[i] = boxes[k][i];
      img_orient_box(o, W, H, true, b);
      for (int i = 0; i < 4; i++)
        if (b[i] != want[i]) {
          fprintf(stderr, "orientation %d box %zu coordinate %d: %g != "
                  "%g\n", o, k, i, b[i], want[i]);
          tl_failed = 1;
        }
      /* and back, bit for bit */
      img_orient_box(o, W, H, false, b);
      for (int i = 0; i < 4; i++)
        CHECK(b[i] == boxes[k][i]);
    }
}

TEST(fractions_and_identity)
{
  double b[4] = { 1.25, 2.5, 7.75, 6.125 };
  double c[4];

  /* 1 and values outside 1..8 leave the box alone. */
  for (int o = -1; o <= 9; o += 1) {
    if (o >= 2 && o <= 8)
      continue;
    memcpy(c, b, sizeof(c));
    img_orient_box(o, W, H, true, c);
    CHECK(memcmp(b, c, sizeof(c)) == 0);
  }
  /* 6, turned clockwise: x' = H - y, y' = x. */
  memcpy(c, b, sizeof(c));
  img_orient_box(6, W, H, true, c);
  CHECK_NEAR(c[0], H - 6.125, 0);
  CHECK_NEAR(c[1], 1.25, 0);
  CHECK_NEAR(c[2], H - 2.5, 0);
  CHECK_NEAR(c[3], 7.75, 0);
  img_orient_box(6, W, H, false, c);
  CHECK(memcmp(b, c, sizeof(c)) == 0);
}

TEST_MAIN(T(every_orientation_as_the_viewer_frame),
          T(fractions_and_identity))
