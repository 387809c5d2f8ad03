/* jpegcodec.c - TurboJPEG wrapper (see jpegcodec.h).  Knows nothing about
 * the store, features or drawing; it turns bytes into pixels and back. */
#include "jpegcodec.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "imgfmt.h"

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

int jpeg_decode_file(const char *path, int min_short, struct image *ret)
{
  struct stat st;
  uint8_t *data;
  size_t got = 0;
  int fd, r;

  memset(ret, 0, sizeof(*ret));
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) < 0 || st.st_size <= 0) {
    r = st.st_size <= 0 ? -EBADMSG : -errno;
    close(fd);
    return r;
  }
  data = malloc((size_t)st.st_size);
  if (!data) {
    close(fd);
    return -ENOMEM;
  }
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  r = jpeg_decode(data, got, min_short, ret);
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
