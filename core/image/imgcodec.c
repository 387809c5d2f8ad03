/* imgcodec.c - the decoding facade (see imgcodec.h): reads the header
 * (imgfmt.c), which enforces IMG_MAX_PIXELS, hands the bytes to the
 * format's entry of the codec table (codec_i.h), then reduces the size
 * and applies orientation when asked. */
#include "codec_i.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jpegcodec.h"
#include "util.h"

struct membuf {
  const uint8_t *p;
  size_t n;
};

static long mem_read(void *ud, uint64_t off, void *buf, size_t n)
{
  const struct membuf *m = ud;

  if (off >= m->n)
    return 0;
  if (n > m->n - off)
    n = m->n - (size_t)off;
  memcpy(buf, m->p + off, n);
  return (long)n;
}

/* The decoders, one per format (codec_i.h).  Indexed by enum img_format,
 * the value stored in sample records. */
static const struct img_codec *const codecs[IMG_NFORMATS] = {
  [IMG_JPEG] = &codec_jpeg, [IMG_PNG] = &codec_png,
  [IMG_WEBP] = &codec_webp, [IMG_TIFF] = &codec_tiff,
  [IMG_BMP] = &codec_bmp,   [IMG_GIF] = &codec_gif,
};

/* Averages f x f blocks (f >= 2) of a full-size decode into a new image
 * (codec_shrink: the same arithmetic as decoders that shrink while
 * decoding).  The features need only a small image, and computing them on
 * the full one would cost several times the decode. */
static int reduce(struct image *im, int f)
{
  struct codec_shrink sh;
  struct image t;
  size_t stride = (size_t)im->w * im->channels;
  int r;

  if ((r = codec_shrink_begin(&sh, im->w, im->h, im->channels, f, &t)) < 0)
    return r;
  for (int y = 0; y < im->h; y++)
    codec_shrink_row(&sh, im->px + (size_t)y * stride);
  codec_shrink_end(&sh);
  image_free(im);
  *im = t;
  return 0;
}

int img_orient(struct image *im, int o)
{
  struct image t;
  int w = im->w, h = im->h, ch = im->channels, r;
  bool swap = o >= 5 && o <= 8;

  if (o <= 1 || o > 8)
    return 0;
  if ((r = image_alloc(&t, swap ? h : w, swap ? w : h, ch)) < 0)
    return r;
  /* For each stored pixel (x, y), where a viewer shows it (EXIF 2..8). */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int dx, dy;
      switch (o) {
      case 2: dx = w - 1 - x; dy = y; break;
      case 3: dx = w - 1 - x; dy = h - 1 - y; break;
      case 4: dx = x; dy = h - 1 - y; break;
      case 5: dx = y; dy = x; break;
      case 6: dx = h - 1 - y; dy = x; break;
      case 7: dx = h - 1 - y; dy = w - 1 - x; break;
      default: dx = y; dy = w - 1 - x; break;   /* 8 */
      }
      memcpy(t.px + ((size_t)dy * t.w + dx) * ch,
             im->px + ((size_t)y * w + x) * ch, (size_t)ch);
    }
  image_free(im);
  *im = t;
  return 0;
}

int img_decode(const void *data, size_t len, int min_short, unsigned flags,
               struct image *ret, int *ret_format)
{
  struct membuf m = { data, len };
  struct img_src src = { data, len < 65536 ? len : 65536, len, mem_read, &m };
  struct img_info info;
  const char *why;
  int r;

  memset(ret, 0, sizeof(*ret));
  if (ret_format)
    *ret_format = -1;
  if (!data && len)
    return -EINVAL;
  r = img_header_read(&src, &info, &why);
  if (r == -EFBIG || r == -ENOMEM)
    return r;
  if (r < 0)
    return -EBADMSG;
  if (ret_format)
    *ret_format = (int)info.format;
  if (info.format < IMG_NFORMATS && codecs[info.format]) {
    assert(codecs[info.format]->format == info.format);
    r = codecs[info.format]->decode(data, len, &info, min_short, ret);
  } else {
    r = -EBADMSG;
  }
  if (r == 0 && min_short > 0) {
    /* Formats decoded at full size: reduce by a whole factor that keeps
     * the short side >= min_short (JPEG and WebP scaled while decoding). */
    int f = codec_shrink_factor(ret->w, ret->h, min_short);
    if (f >= 2 && (r = reduce(ret, f)) < 0)
      image_free(ret);
  }
  if (r == 0 && (flags & IMG_DECODE_ORIENT) &&
      (r = img_orient(ret, info.orientation)) < 0)
    image_free(ret);
  return r;
}

int img_decode_file(const char *path, int min_short, unsigned flags,
                    struct image *ret, int *ret_format)
{
  uint8_t *data;
  size_t len;
  int r;

  memset(ret, 0, sizeof(*ret));
  r = file_read_all(path, &data, &len);
  if (r < 0)
    return r;
  r = img_decode(data, len, min_short, flags, ret, ret_format);
  free(data);
  return r;
}

int img_to_jpeg(const void *data, size_t len, int quality, uint8_t **ret,
                size_t *ret_len)
{
  struct image im;
  int fmt, r;

  *ret = NULL;
  *ret_len = 0;
  if (len >= 3 && img_sniff(data, len) == IMG_JPEG) {
    if (!(*ret = malloc(len)))
      return -ENOMEM;
    memcpy(*ret, data, len);
    *ret_len = len;
    return 0;
  }
  r = img_decode(data, len, 0, 0, &im, &fmt);
  if (r == 0)
    r = jpeg_encode(&im, quality, ret, ret_len);
  image_free(&im);
  return r;
}
