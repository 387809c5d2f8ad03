/* test_jpegcodec.c - TurboJPEG wrapper: scale choice for a minimum short
 * side, encode/decode round trip, and rejection of bad data and
 * arguments. */
#include "testlib.h"
#include "jpegcodec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void gradient(struct image *im, int w, int h)
{
  CHECK_INT_EQ(image_alloc(im, w, h, 3), 0);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = im->px + ((size_t)y * w + x) * 3;
      p[0] = (uint8_t)(x * 255 / w);
      p[1] = (uint8_t)(y * 255 / h);
      p[2] = (uint8_t)((x + y) * 127 / (w + h));
    }
}

static void encoded(int w, int h, int q, uint8_t **jpg, size_t *len)
{
  struct image im;

  gradient(&im, w, h);
  CHECK_INT_EQ(jpeg_encode(&im, q, jpg, len), 0);
  image_free(&im);
}

static void check_scale(const uint8_t *jpg, size_t len, int min_short,
                        int want_w, int want_h)
{
  struct image im;

  CHECK_INT_EQ(jpeg_decode(jpg, len, min_short, &im), 0);
  CHECK_INT_EQ(im.w, want_w);
  CHECK_INT_EQ(im.h, want_h);
  CHECK_INT_EQ(im.channels, 3);
  image_free(&im);
}

TEST(scale_choice)
{
  uint8_t *jpg;
  size_t len;

  encoded(640, 480, 90, &jpg, &len);
  check_scale(jpg, len, 0, 640, 480);      /* full size */
  check_scale(jpg, len, 64, 160, 120);     /* 1/8 gives 60 < 64: 1/4 */
  check_scale(jpg, len, 60, 80, 60);       /* 1/8 is enough */
  check_scale(jpg, len, 200, 320, 240);    /* 3/8 gives 180: 1/2 */
  check_scale(jpg, len, 5000, 640, 480);   /* never upscaled */
  free(jpg);
  encoded(100, 50, 90, &jpg, &len);
  check_scale(jpg, len, 64, 100, 50);      /* already small */
  free(jpg);
  encoded(480, 640, 90, &jpg, &len);       /* portrait: short side is w */
  check_scale(jpg, len, 64, 120, 160);
  free(jpg);
}

TEST(round_trip)
{
  struct image a, b;
  uint8_t *jpg;
  size_t len;
  double diff = 0;

  gradient(&a, 96, 64);
  CHECK_INT_EQ(jpeg_encode(&a, 95, &jpg, &len), 0);
  CHECK(len > 100 && jpg[0] == 0xFF && jpg[1] == 0xD8);
  CHECK_INT_EQ(jpeg_decode(jpg, len, 0, &b), 0);
  CHECK_INT_EQ(b.w, 96);
  CHECK_INT_EQ(b.h, 64);
  for (size_t i = 0; i < (size_t)96 * 64 * 3; i++)
    diff += abs((int)a.px[i] - (int)b.px[i]);
  diff /= 96.0 * 64 * 3;
  CHECK(diff < 3.0);
  image_free(&a);
  image_free(&b);
  free(jpg);
}

TEST(gray_encode)
{
  struct image g, d;
  uint8_t *jpg;
  size_t len;

  CHECK_INT_EQ(image_alloc(&g, 32, 16, 1), 0);
  memset(g.px, 128, 32 * 16);
  CHECK_INT_EQ(jpeg_encode(&g, 80, &jpg, &len), 0);
  CHECK_INT_EQ(jpeg_decode(jpg, len, 0, &d), 0);
  CHECK_INT_EQ(d.channels, 3);   /* decoded to RGB */
  CHECK(abs((int)d.px[0] - 128) <= 2);
  image_free(&g);
  image_free(&d);
  free(jpg);
}

TEST(garbage)
{
  static const uint8_t junk[] = "this is not a JPEG file at all";
  static const uint8_t png[] = { 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0 };
  struct image im;
  uint8_t *jpg;
  size_t len;

  CHECK_INT_EQ(jpeg_decode(junk, sizeof(junk), 0, &im), -EBADMSG);
  CHECK(im.px == NULL);
  CHECK_INT_EQ(jpeg_decode(png, sizeof(png), 64, &im), -EBADMSG);
  CHECK_INT_EQ(jpeg_decode(junk, 0, 0, &im), -EBADMSG);
  encoded(64, 64, 90, &jpg, &len);
  CHECK_INT_EQ(jpeg_decode(jpg, 20, 0, &im), -EBADMSG);  /* cut header */
  free(jpg);
  CHECK_INT_EQ(jpeg_decode_file("/nonexistent/x.jpg", 0, &im), -ENOENT);
}

TEST(bad_arguments)
{
  struct image im = { 0 };
  uint8_t *jpg = (uint8_t *)1;
  size_t len = 1;

  CHECK_INT_EQ(image_alloc(&im, 0, 5, 3), -EINVAL);
  CHECK_INT_EQ(image_alloc(&im, 5, 5, 2), -EINVAL);
  CHECK_INT_EQ(jpeg_encode(&im, 90, &jpg, &len), -EINVAL);
  CHECK(jpg == NULL && len == 0);
  CHECK_INT_EQ(image_alloc(&im, 8, 8, 3), 0);
  memset(im.px, 0, 8 * 8 * 3);
  CHECK_INT_EQ(jpeg_encode(&im, 0, &jpg, &len), -EINVAL);
  CHECK_INT_EQ(jpeg_encode(&im, 101, &jpg, &len), -EINVAL);
  image_free(&im);
  image_free(NULL);
}

/* A header declaring 60000 x 60000 (a decompression bomb) is refused
 * before decoding, and the thread's decoder still works afterwards: it
 * once kept a broken TurboJPEG handle, so every later decode failed. */
TEST(bomb_then_valid)
{
  uint8_t *jpg, *bomb;
  size_t len;
  struct image im;

  encoded(64, 48, 90, &jpg, &len);
  bomb = malloc(len);
  CHECK(bomb != NULL);
  memcpy(bomb, jpg, len);
  for (size_t i = 2; i + 9 < len; i++)
    if (bomb[i] == 0xFF && bomb[i + 1] == 0xC0) {   /* SOF0 */
      bomb[i + 5] = bomb[i + 7] = 0xEA;   /* 60000 x 60000 */
      bomb[i + 6] = bomb[i + 8] = 0x60;
      break;
    }
  for (int k = 0; k < 3; k++) {
    int r = jpeg_decode(bomb, len, 64, &im);
    CHECK(r == -EFBIG);
    CHECK(im.px == NULL);
    r = jpeg_decode(bomb, len, 0, &im);
    CHECK(r == -EFBIG);
    CHECK_INT_EQ(jpeg_decode(jpg, len, 64, &im), 0);
    CHECK_INT_EQ(im.w, 64);
    image_free(&im);
  }
  /* A cut file fails, and the next good one decodes. */
  for (int k = 0; k < 3; k++) {
    (void)jpeg_decode(jpg, len / 2, 0, &im);
    image_free(&im);
    CHECK_INT_EQ(jpeg_decode(jpg, len, 0, &im), 0);
    CHECK_INT_EQ(im.h, 48);
    image_free(&im);
  }
  free(bomb);
  free(jpg);
}

TEST_MAIN(T(scale_choice), T(round_trip), T(gray_encode), T(garbage),
          T(bad_arguments), T(bomb_then_valid))
