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

/* Where a viewer shows stored pixel (x, y) of a w x h picture (EXIF
 * 2..8). */
static inline void shown_at(int o, int w, int h, int x, int y, int *dx,
                            int *dy)
{
  switch (o) {
  case 2: *dx = w - 1 - x; *dy = y; break;
  case 3: *dx = w - 1 - x; *dy = h - 1 - y; break;
  case 4: *dx = x; *dy = h - 1 - y; break;
  case 5: *dx = y; *dy = x; break;
  case 6: *dx = h - 1 - y; *dy = x; break;
  case 7: *dx = h - 1 - y; *dy = w - 1 - x; break;
  default: *dx = y; *dy = w - 1 - x; break;   /* 8 */
  }
}

/* Pixels are moved in tiles of ORIENT_TILE x ORIENT_TILE: a turn by 90
 * degrees writes the destination a column at a time, and walking whole
 * rows of a 4000-pixel-wide picture missed the cache at every pixel (the
 * turn of a 12 Mpx photo took 210 ms of CPU, more than decoding, drawing
 * and encoding it; 32 keeps a tile's rows of both images in L1). */
#define ORIENT_TILE 32

int img_frame_parse(const char *s, enum img_frame *ret)
{
  static const char *const names[] = { "auto", "stored", "viewer" };

  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcmp(s, names[i]) == 0) {
      *ret = (enum img_frame)i;
      return 0;
    }
  return -EINVAL;
}

int img_frame_turn(enum img_frame frame, bool viewer_auto, int orientation)
{
  bool viewer = frame == IMG_FRAME_VIEWER ||
                (frame == IMG_FRAME_AUTO && viewer_auto);

  return viewer && orientation >= 2 && orientation <= 8 ? orientation : 1;
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
  /* Along a stored row the destination moves by a fixed step. */
  ptrdiff_t step = 0;
  if (w > 1) {
    int ax, ay, bx, by;
    shown_at(o, w, h, 0, 0, &ax, &ay);
    shown_at(o, w, h, 1, 0, &bx, &by);
    step = ((ptrdiff_t)(by - ay) * t.w + (bx - ax)) * ch;
  }
  for (int y0 = 0; y0 < h; y0 += ORIENT_TILE)
    for (int x0 = 0; x0 < w; x0 += ORIENT_TILE) {
      int y1 = y0 + ORIENT_TILE < h ? y0 + ORIENT_TILE : h;
      int n = x0 + ORIENT_TILE < w ? ORIENT_TILE : w - x0;
      for (int y = y0; y < y1; y++) {
        int dx, dy;
        shown_at(o, w, h, x0, y, &dx, &dy);
        uint8_t *d = t.px + ((size_t)dy * t.w + dx) * ch;
        const uint8_t *p = im->px + ((size_t)y * w + x0) * ch;
        if (ch == 3)
          for (int i = 0; i < n; i++, d += step, p += 3) {
            d[0] = p[0];
            d[1] = p[1];
            d[2] = p[2];
          }
        else
          for (int i = 0; i < n; i++, d += step)
            *d = p[i];
      }
    }
  image_free(im);
  *im = t;
  return 0;
}

void img_orient_point(int o, double w, double h, bool to_view, double *x,
                      double *y)
{
  double a = *x, b = *y;

  switch (o) {
  case 2: a = w - a; break;                          /* mirrored */
  case 3: a = w - a; b = h - b; break;               /* turned 180 */
  case 4: b = h - b; break;                          /* flipped */
  case 5: a = *y; b = *x; break;                     /* transposed */
  case 6:                                            /* turned 90 cw */
    if (to_view) { a = h - *y; b = *x; } else { a = *y; b = h - *x; }
    break;
  case 7:                                            /* transversed */
    if (to_view) { a = h - *y; b = w - *x; } else { a = w - *y; b = h - *x; }
    break;
  case 8:                                            /* turned 90 ccw */
    if (to_view) { a = *y; b = w - *x; } else { a = w - *y; b = *x; }
    break;
  default: break;
  }
  *x = a;
  *y = b;
}

void img_orient_box(int o, double w, double h, bool to_view, double b[4])
{
  double x1 = b[0], y1 = b[1], x2 = b[2], y2 = b[3];

  if (o < 2 || o > 8)
    return;   /* bit for bit, not through the min/max below */
  img_orient_point(o, w, h, to_view, &x1, &y1);
  img_orient_point(o, w, h, to_view, &x2, &y2);
  b[0] = x1 < x2 ? x1 : x2;
  b[1] = y1 < y2 ? y1 : y2;
  b[2] = x1 < x2 ? x2 : x1;
  b[3] = y1 < y2 ? y2 : y1;
}

bool img_boxes_turned(int o, uint32_t w, uint32_t h, double given_w,
                      double given_h, bool source_turned)
{
  if (o < 2 || o > 8)
    return false;
  if (o >= 5 && w != h) {
    if (given_w == h && given_h == w)
      return true;
    if (given_w == w && given_h == h)
      return false;
  }
  return source_turned;
}

void img_box_from_view_rel(int o, double w, double h, const double rel[4],
                           double out[4])
{
  bool turn = o >= 2 && o <= 8;
  double vw = turn && o >= 5 ? h : w, vh = turn && o >= 5 ? w : h;
  double b[4];

  out[2] = rel[2] * vw;
  out[3] = rel[3] * vh;
  out[0] = rel[0] * vw - out[2] / 2;
  out[1] = rel[1] * vh - out[3] / 2;
  if (!turn)
    return;
  b[0] = out[0];
  b[1] = out[1];
  b[2] = out[0] + out[2];
  b[3] = out[1] + out[3];
  img_orient_box(o, w, h, false, b);
  out[0] = b[0];
  out[1] = b[1];
  out[2] = b[2] - b[0];
  out[3] = b[3] - b[1];
}

/* After a codec's decode: the reduction of formats decoded at full size
 * (a whole factor that keeps the short side >= min_short; JPEG and WebP
 * scaled while decoding), then the orientation.  ret is freed on
 * failure. */
static int decode_tail(struct image *ret, const struct img_info *info,
                       int min_short, unsigned flags)
{
  int r = 0;

  if (min_short > 0) {
    int f = codec_shrink_factor(ret->w, ret->h, min_short);
    if (f >= 2 && (r = reduce(ret, f)) < 0)
      image_free(ret);
  }
  if (r == 0 && (flags & IMG_DECODE_ORIENT) &&
      (r = img_orient(ret, info->orientation)) < 0)
    image_free(ret);
  return r;
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
  return r == 0 ? decode_tail(ret, &info, min_short, flags) : r;
}

/* ---- stream decode ----
 *
 * Every byte read through the caller's callback while the stream opens
 * (header, directories) is kept, and compared with the whole file at the
 * end: the stream's result is then the decode of the very bytes the
 * caller holds, whatever happened to the file in between. */

/* Kept bytes of a stream: at most this many, else it does not stream. */
#define STREAM_KEEP_MAX (1u << 20)
/* The first read of a header; a TIFF directory past it is read by
 * imgfmt.c through the callback. */
#define STREAM_HEAD 4096

unsigned long img_stream_fallbacks;

struct stream_rec {
  uint64_t off;
  size_t n, at;   /* kept at keep[at..at + n) */
};

struct img_stream {
  long (*read)(void *ud, uint64_t off, void *buf, size_t n);
  void *ud;
  uint64_t size;
  int min_short;
  unsigned flags;
  bool over;                /* kept more than STREAM_KEEP_MAX */
  struct img_info info;
  const struct img_codec *c;
  struct codec_stream *cs;
  struct stream_rec *rec;
  size_t nrec, caprec;
  uint8_t *keep;
  size_t nkeep, capkeep;
};

static int stream_keep(struct img_stream *s, uint64_t off, const void *buf,
                       size_t n)
{
  if (s->nkeep + n > STREAM_KEEP_MAX)
    return -EFBIG;
  if (s->nrec == s->caprec) {
    size_t nc = s->caprec ? s->caprec * 2 : 16;
    struct stream_rec *p = realloc(s->rec, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    s->rec = p;
    s->caprec = nc;
  }
  if (s->nkeep + n > s->capkeep) {
    size_t nc = (s->nkeep + n) * 2;
    uint8_t *p = realloc(s->keep, nc);
    if (!p)
      return -ENOMEM;
    s->keep = p;
    s->capkeep = nc;
  }
  memcpy(s->keep + s->nkeep, buf, n);
  s->rec[s->nrec++] = (struct stream_rec){ off, n, s->nkeep };
  s->nkeep += n;
  return 0;
}

/* The caller's callback, every byte it gives kept.  Bytes already kept
 * come from there: libtiff reads a directory in small pieces that the
 * header read has already brought in. */
static long stream_read(void *ud, uint64_t off, void *buf, size_t n)
{
  struct img_stream *s = ud;
  long k;

  for (size_t i = 0; i < s->nrec; i++) {
    const struct stream_rec *r = &s->rec[i];
    if (off >= r->off && n <= r->n && off - r->off <= r->n - n) {
      memcpy(buf, s->keep + r->at + (off - r->off), n);
      return (long)n;
    }
  }
  k = s->read(s->ud, off, buf, n);

  if (k > 0 && stream_keep(s, off, buf, (size_t)k) < 0) {
    s->over = true;
    return -ENOMEM;
  }
  return k;
}

/* Whether the kept bytes are those of data[0..len). */
static bool stream_same(const struct img_stream *s, const uint8_t *data,
                        size_t len)
{
  if (s->over || len != s->size)
    return false;
  for (size_t i = 0; i < s->nrec; i++) {
    const struct stream_rec *r = &s->rec[i];
    if (r->off > len || r->n > len - r->off ||
        memcmp(data + r->off, s->keep + r->at, r->n) != 0)
      return false;
  }
  return true;
}

bool img_stream_format(int format)
{
  return format >= 0 && format < IMG_NFORMATS && codecs[format] &&
         codecs[format]->stream_open;
}

void img_stream_free(struct img_stream *s)
{
  if (!s)
    return;
  if (s->cs)
    s->c->stream_free(s->cs);
  free(s->rec);
  free(s->keep);
  free(s);
}

int img_stream_open(uint64_t size,
                    long (*read)(void *ud, uint64_t off, void *buf, size_t n),
                    void *ud, int min_short, unsigned flags,
                    struct img_stream **ret)
{
  struct img_stream *s = calloc(1, sizeof(*s));
  uint8_t head[STREAM_HEAD];
  struct img_src src = { head, 0, size, stream_read, NULL };
  const char *why;
  long k = 0;
  int r;

  *ret = NULL;
  if (!s)
    return -ENOMEM;
  *s = (struct img_stream){ .read = read, .ud = ud, .size = size,
                            .min_short = min_short, .flags = flags };
  src.ud = s;
  /* The head, read until it is whole (a read may come short). */
  while ((size_t)k < sizeof(head) && (uint64_t)k < size) {
    long n = stream_read(s, (uint64_t)k, head + k,
                         (size_t)(size - (uint64_t)k < sizeof(head) - (size_t)k
                                  ? size - (uint64_t)k
                                  : sizeof(head) - (size_t)k));
    if (n <= 0)
      break;
    k += n;
  }
  src.head_len = (size_t)k;
  r = (uint64_t)k == (size < sizeof(head) ? size : sizeof(head)) &&
      img_sniff(head, src.head_len) >= 0 &&
      img_stream_format(img_sniff(head, src.head_len)) &&
      img_header_read(&src, &s->info, &why) == 0 && !s->over ? 0 : 1;
  if (r == 0) {
    s->c = codecs[s->info.format];
    r = s->c->stream_open(&s->info, size, stream_read, s, min_short, &s->cs);
  }
  if (r == 0 && s->over)
    r = 1;
  if (r != 0) {
    img_stream_free(s);
    return r == -ENOMEM ? r : 1;
  }
  *ret = s;
  return 0;
}

void img_stream_data(struct img_stream *s, const void *data, size_t n)
{
  s->c->stream_data(s->cs, data, n);
}

int img_stream_end(struct img_stream *s, const void *data, size_t len,
                   struct image *ret)
{
  int r = 1;

  memset(ret, 0, sizeof(*ret));
  if (stream_same(s, data, len)) {
    r = s->c->stream_end(s->cs, data, len, ret);
    s->cs = NULL;
    if (r == 0)
      r = decode_tail(ret, &s->info, s->min_short, s->flags);
  }
  if (r == 1) {
    __atomic_fetch_add(&img_stream_fallbacks, 1, __ATOMIC_RELAXED);
    r = img_decode(data, len, s->min_short, s->flags, ret, NULL);
  }
  img_stream_free(s);
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

int img_convert(const void *data, size_t len, int orientation,
                enum img_format to, int quality, uint8_t **ret,
                size_t *ret_len)
{
  struct image im;
  int fmt, r;

  *ret = NULL;
  *ret_len = 0;
  if (to != IMG_JPEG && to != IMG_PNG)
    return -EINVAL;
  if (len >= 3 && img_sniff(data, len) == (int)to) {
    if (!(*ret = malloc(len)))
      return -ENOMEM;
    memcpy(*ret, data, len);
    *ret_len = len;
    return 0;
  }
  r = img_decode(data, len, 0, 0, &im, &fmt);
  r = r ? r : img_orient(&im, orientation);
  if (r == 0)
    r = to == IMG_JPEG ? jpeg_encode(&im, quality, ret, ret_len)
                       : codec_png_encode(&im, ret, ret_len);
  image_free(&im);
  return r;
}
