/* jpegcodec.c - libjpeg-turbo wrapper (see jpegcodec.h): TurboJPEG for
 * whole images, the library's libjpeg API for region decodes.  Knows nothing about
 * the store, features or drawing; it turns bytes into pixels and back. */
#include "jpegcodec.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>   /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <jpeglib.h>

#include "codec_i.h"
#include "imgfmt.h"
#include "util.h"

/* Per-thread handles: one decompressor and one compressor, freed by the
 * key destructor when the thread exits. */
struct tj_pair {
  tjhandle dec, enc;
};

static pthread_key_t tj_key;
static pthread_once_t tj_once = PTHREAD_ONCE_INIT;

static void tj_free(void *p)
{
  struct tj_pair *tp = p;
  if (tp->dec)
    tjDestroy(tp->dec);
  if (tp->enc)
    tjDestroy(tp->enc);
  free(tp);
}

static void tj_key_init(void)
{
  pthread_key_create(&tj_key, tj_free);
}

static struct tj_pair *tj_get(void)
{
  struct tj_pair *tp;

  pthread_once(&tj_once, tj_key_init);
  tp = pthread_getspecific(tj_key);
  if (!tp) {
    tp = calloc(1, sizeof(*tp));
    if (!tp)
      return NULL;
    if (pthread_setspecific(tj_key, tp) != 0) {
      free(tp);
      return NULL;
    }
  }
  return tp;
}

int image_alloc(struct image *im, int w, int h, int channels)
{
  if (w <= 0 || h <= 0 || (channels != 1 && channels != 3) ||
      (size_t)w * (size_t)h > ((size_t)1 << 31))
    return -EINVAL;
  im->px = malloc((size_t)w * (size_t)h * (size_t)channels);
  if (!im->px)
    return -ENOMEM;
  im->w = w;
  im->h = h;
  im->channels = channels;
  return 0;
}

void image_free(struct image *im)
{
  if (!im)
    return;
  free(im->px);
  im->px = NULL;
  im->w = im->h = 0;
}

/* After a failed decode, TurboJPEG's decompressor can stay in a state in
 * which every later decode fails (a header declaring 65535 x 65535 did
 * that), so a failure throws the thread's handle away; the next call
 * creates a fresh one. */
static int dec_fail(struct tj_pair *tp, int err)
{
  tjDestroy(tp->dec);
  tp->dec = NULL;
  return err;
}

/* TurboJPEG will not turn CMYK into RGB, so CMYK and YCCK files are
 * decoded to CMYK and converted here, with the Adobe convention TurboJPEG
 * and viewers use (values inverted: 255 is no ink): R = C * K / 255. */
static int cmyk_decode(struct tj_pair *tp, const void *data, size_t len,
                       int sw, int sh, struct image *ret)
{
  uint8_t *cmyk = malloc((size_t)sw * sh * 4);
  int r;

  if (!cmyk)
    return -ENOMEM;
  if ((r = image_alloc(ret, sw, sh, 3)) < 0) {
    free(cmyk);
    return dec_fail(tp, r);
  }
  if (tjDecompress2(tp->dec, data, (unsigned long)len, cmyk, sw, 0, sh,
                    TJPF_CMYK, TJFLAG_FASTDCT) != 0) {
    bool fatal = tjGetErrorCode(tp->dec) == TJERR_FATAL;
    dec_fail(tp, 0);
    if (fatal) {
      free(cmyk);
      image_free(ret);
      return -EBADMSG;
    }
  }
  for (size_t i = 0; i < (size_t)sw * sh; i++) {
    const uint8_t *s = cmyk + 4 * i;
    for (int c = 0; c < 3; c++)
      ret->px[3 * i + c] = (uint8_t)((s[c] * s[3] + 127) / 255);
  }
  free(cmyk);
  return 0;
}

int jpeg_decode(const void *data, size_t len, int min_short,
                struct image *ret)
{
  struct tj_pair *tp = tj_get();
  int w = 0, h = 0, sub, cs, nsf, sw, sh, r;
  tjscalingfactor *sf, best = { 1, 1 };

  memset(ret, 0, sizeof(*ret));
  if (!tp)
    return -ENOMEM;
  if (!tp->dec && !(tp->dec = tjInitDecompress()))
    return -ENOMEM;
  if (len == 0 || len > (size_t)LONG_MAX)
    return -EBADMSG;
  if (tjDecompressHeader3(tp->dec, data, (unsigned long)len, &w, &h, &sub,
                          &cs) != 0 || w <= 0 || h <= 0)
    return dec_fail(tp, -EBADMSG); /* a cut header can "succeed" with no
                                    * dimensions */
  if ((uint64_t)w * (uint64_t)h > IMG_MAX_PIXELS)
    return dec_fail(tp, -EFBIG);   /* refused before any pixel work */
  if (min_short > 0) {
    int shortside = w < h ? w : h;
    sf = tjGetScalingFactors(&nsf);
    /* Scaling factors come largest first; keep the smallest that still
     * meets min_short (never upscale). */
    for (int i = 0; sf && i < nsf; i++) {
      if (sf[i].num > sf[i].denom)
        continue;
      if (TJSCALED(shortside, sf[i]) >= min_short &&
          (long)sf[i].num * best.denom < (long)best.num * sf[i].denom)
        best = sf[i];
    }
  }
  sw = TJSCALED(w, best);
  sh = TJSCALED(h, best);
  if (cs == TJCS_CMYK || cs == TJCS_YCCK)
    return cmyk_decode(tp, data, len, sw, sh, ret);
  if ((r = image_alloc(ret, sw, sh, 3)) < 0)
    return dec_fail(tp, r);
  if (tjDecompress2(tp->dec, data, (unsigned long)len, ret->px, sw, 0, sh,
                    TJPF_RGB, TJFLAG_FASTDCT) != 0) {
    /* A warning (corrupt data the decoder got past) keeps the pixels but
     * still gets a fresh handle next time. */
    bool fatal = tjGetErrorCode(tp->dec) == TJERR_FATAL;
    dec_fail(tp, 0);
    if (fatal) {
      image_free(ret);
      return -EBADMSG;
    }
  }
  return 0;
}

/* The JPEG entry of imgcodec.c's codec table (codec_i.h): the header was
 * read already, but TurboJPEG reads it again for its own state. */
static int codec_jpeg_decode(const uint8_t *p, size_t n,
                             const struct img_info *info, int min_short,
                             struct image *ret)
{
  (void)info;
  return jpeg_decode(p, n, min_short, ret);
}

const struct img_codec codec_jpeg = {
  .format = IMG_JPEG, .decode = codec_jpeg_decode,
};

int jpeg_decode_file(const char *path, int min_short, struct image *ret)
{
  uint8_t *data;
  size_t len;
  int r;

  memset(ret, 0, sizeof(*ret));
  r = file_read_all(path, &data, &len);
  if (r < 0)
    return r;
  r = jpeg_decode(data, len, min_short, ret);
  free(data);
  return r;
}

int jpeg_encode(const struct image *im, int quality, uint8_t **ret_data,
                size_t *ret_len)
{
  struct tj_pair *tp = tj_get();
  unsigned char *out = NULL;
  unsigned long outlen = 0;

  *ret_data = NULL;
  *ret_len = 0;
  if (!im->px || im->w <= 0 || im->h <= 0 || quality < 1 || quality > 100 ||
      (im->channels != 1 && im->channels != 3))
    return -EINVAL;
  if (!tp)
    return -ENOMEM;
  if (!tp->enc && !(tp->enc = tjInitCompress()))
    return -ENOMEM;
  if (tjCompress2(tp->enc, im->px, im->w, 0, im->h,
                  im->channels == 3 ? TJPF_RGB : TJPF_GRAY, &out, &outlen,
                  im->channels == 1 ? TJSAMP_GRAY
                  : quality == 100 ? TJSAMP_444 : TJSAMP_420, quality,
                  TJFLAG_FASTDCT) != 0) {
    tjFree(out);
    return -ENOMEM;
  }
  /* Hand back malloc'd memory so callers free() it like everything else. */
  *ret_data = malloc(outlen);
  if (!*ret_data) {
    tjFree(out);
    return -ENOMEM;
  }
  memcpy(*ret_data, out, outlen);
  *ret_len = outlen;
  tjFree(out);
  return 0;
}

/* ---- region decode (libjpeg API of the same library) ----
 *
 * TurboJPEG 2.1 has no cropped decode (tj3SetCroppingRegion is 3.0), but
 * the library's libjpeg API does: jpeg_crop_scanline() decodes only the
 * iMCU columns that cover a horizontal range, and jpeg_skip_scanlines()
 * skips rows above it without colour conversion or upsampling.  The DCT
 * method and upsampling are TurboJPEG's (fast integer IDCT, fancy
 * upsampling), so the pixels are those of jpeg_decode() at scale 1. */

#define REGION_MARGIN 16
#define MIN_INT(a, b) ((a) < (b) ? (a) : (b))

struct jerr {
  struct jpeg_error_mgr pub;
  jmp_buf jb;
};

static void jerr_exit(j_common_ptr ci)
{
  longjmp(((struct jerr *)ci->err)->jb, 1);
}

static void jerr_quiet(j_common_ptr ci, int level)
{
  (void)ci;
  (void)level;
}

struct region {
  int x0, y0, x1, y1;
  struct image *ret;
  int *ret_x, *ret_y;
};

/* The decode after the header; libjpeg errors longjmp out of it to the
 * caller's setjmp. */
static int region_run(struct jpeg_decompress_struct *d, struct jerr *je,
                      const struct region *rg)
{
  int x0 = rg->x0, y0 = rg->y0, x1 = rg->x1, y1 = rg->y1, r;
  JDIMENSION cx, cw;

  jpeg_read_header(d, TRUE);
  /* The same cap as jpeg_decode(), from the header, before the library
   * allocates anything for the image. */
  if ((uint64_t)d->image_width * (uint64_t)d->image_height > IMG_MAX_PIXELS)
    return -EFBIG;
  d->out_color_space = JCS_RGB;
  d->dct_method = JDCT_IFAST;
  jpeg_start_decompress(d);
  if ((JDIMENSION)x1 > d->output_width || (JDIMENSION)y1 > d->output_height)
    return -EINVAL;
  /* One iMCU (at most 16 px) of margin on every side: the upsampling of
   * chroma and the block smoothing at the region's edges then see the
   * same neighbours as in a whole decode, so the region's pixels are
   * exactly those of jpeg_decode(). */
  x0 = x0 > REGION_MARGIN ? x0 - REGION_MARGIN : 0;
  y0 = y0 > REGION_MARGIN ? y0 - REGION_MARGIN : 0;
  x1 = MIN_INT(x1 + REGION_MARGIN, (int)d->output_width);
  y1 = MIN_INT(y1 + REGION_MARGIN, (int)d->output_height);
  cx = (JDIMENSION)x0;
  cw = (JDIMENSION)(x1 - x0);
  /* Widens [cx, cx + cw) to iMCU boundaries. */
  jpeg_crop_scanline(d, &cx, &cw);
  r = image_alloc(rg->ret, (int)cw, y1 - y0, 3);
  if (r < 0)
    return r;
  if (y0 > 0 && jpeg_skip_scanlines(d, (JDIMENSION)y0) != (JDIMENSION)y0)
    longjmp(je->jb, 1);
  while (d->output_scanline < (JDIMENSION)y1) {
    JSAMPROW row = rg->ret->px +
                   (size_t)(d->output_scanline - (JDIMENSION)y0) * cw * 3;
    if (jpeg_read_scanlines(d, &row, 1) != 1)
      longjmp(je->jb, 1);
  }
  /* The rows below are not needed. */
  jpeg_abort_decompress(d);
  *rg->ret_x = (int)cx;
  *rg->ret_y = y0;
  return 0;
}

int jpeg_decode_region(const void *data, size_t len, int x0, int y0, int x1,
                       int y1, struct image *ret, int *ret_x, int *ret_y)
{
  struct region rg = { x0, y0, x1, y1, ret, ret_x, ret_y };
  struct jpeg_decompress_struct d;
  struct jerr je;
  int r;

  memset(ret, 0, sizeof(*ret));
  if (len == 0 || len > (size_t)ULONG_MAX || x0 < 0 || y0 < 0 ||
      x1 <= x0 || y1 <= y0)
    return -EINVAL;
  d.err = jpeg_std_error(&je.pub);
  je.pub.error_exit = jerr_exit;
  je.pub.emit_message = jerr_quiet;
  if (setjmp(je.jb)) {
    jpeg_destroy_decompress(&d);
    image_free(ret);
    return -EBADMSG;
  }
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, data, (unsigned long)len);
  r = region_run(&d, &je, &rg);
  jpeg_destroy_decompress(&d);
  if (r < 0)
    image_free(ret);
  return r;
}
