/* codec_gif.c - GIF decoding with giflib (the only user of giflib): the
 * first frame, placed on the logical screen (filled white), with its
 * local or global colour map, interlacing and transparency.  Records are
 * read one by one, so the frames after the first are never decoded.  A
 * frame that fills the screen in row order (most GIFs) is averaged down
 * line by line (codec_shrink); any other is drawn whole and imgcodec.c
 * averages it down the same way.
 *
 * giflib reads the container (screen, records, extensions, colour maps,
 * the frame's data sub-blocks) in every case.  The LZW codes of the frame
 * are expanded here (gif_lzw) when the stream is a clean one: giflib's
 * own expansion walks each new code's prefix chain to find its first
 * character and cost three quarters of a GIF import, where copying the
 * earlier occurrence of the string costs a fraction of that.  A stream
 * with anything unusual (a code not yet defined, an early end code, data
 * that ends first, a frame past the screen or above GIF_FAST_MAX pixels)
 * is decoded again from the start by giflib alone (gif_decode_giflib), so
 * giflib keeps the last word on every odd or broken file and the two
 * paths give the same pixels and the same verdicts (test_gif). */
#include "codec_i.h"

#include <errno.h>
#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

struct mem {
  const uint8_t *p;
  size_t n, pos;
};

static int m_read(GifFileType *g, GifByteType *buf, int len)
{
  struct mem *m = g->UserData;
  size_t k = m->n - m->pos;

  if (len < 0)
    return 0;
  if ((size_t)len < k)
    k = (size_t)len;
  memcpy(buf, m->p + m->pos, k);
  m->pos += k;
  return (int)k;
}

/* Reads one extension record to its end; a graphic control extension
 * gives the transparent index of the frame that follows it. */
static int gif_extension(GifFileType *g, int *transparent)
{
  int code;
  GifByteType *ext;

  if (DGifGetExtension(g, &code, &ext) != GIF_OK)
    return -EBADMSG;
  if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 && (ext[1] & 1))
    *transparent = ext[4];
  while (ext)
    if (DGifGetExtensionNext(g, &ext) != GIF_OK)
      return -EBADMSG;
  return 0;
}

/* The colours of a frame's indices, each as the four bytes R, G, B, 255
 * (so that gif_map() moves a pixel with one store).  Transparent and
 * out-of-map indices are white: the background of the first frame, so
 * writing them gives what leaving them would. */
static void gif_lut_init(uint32_t lut[256], const ColorMapObject *cm,
                         int transparent)
{
  for (int i = 0; i < 256; i++) {
    uint8_t c[4] = { 255, 255, 255, 255 };
    if (i != transparent && i < cm->ColorCount) {
      c[0] = cm->Colors[i].Red;
      c[1] = cm->Colors[i].Green;
      c[2] = cm->Colors[i].Blue;
    }
    memcpy(&lut[i], c, 4);
  }
}

/* n indices to RGB at o: four bytes stored per pixel, the fourth
 * overwritten by the next one (a three-byte copy cost several times
 * more); the last pixel gets three, so nothing past o[3 n - 1] is
 * written. */
static void gif_map(uint8_t *o, const uint32_t lut[256],
                    const GifPixelType *line, int n)
{
  int x;

  for (x = 0; x + 1 < n; x++, o += 3)
    memcpy(o, &lut[line[x]], 4);
  if (x < n)
    memcpy(o, &lut[line[x]], 3);
}

/* The largest frame (pixels) expanded here: its indices are held whole
 * (one byte each), 16 MiB at most; a larger one streams through giflib's
 * line decoder instead. */
#define GIF_FAST_MAX (1u << 24)
/* Returned by the fast path: decode this file with giflib alone. */
#define GIF_FALLBACK 1
/* Bytes past the frame's indices that gif_lzw may write: a whole string
 * (at most 4095) plus the 8-byte overrun of a chunked copy. */
#define GIF_IDX_SLACK (4096 + 16)

/* Copies an earlier string of n (>= 1) indices to d in 8-byte chunks.
 * s + n <= d, so the bytes that matter are read before any chunk writes
 * over them; up to 7 bytes past d + n get garbage that later strings
 * overwrite (the buffer has GIF_IDX_SLACK). */
static inline void gif_copy(uint8_t *d, const uint8_t *s, size_t n)
{
  for (size_t j = 0; j < n; j += 8) {
    uint64_t v;
    memcpy(&v, s + j, 8);
    memcpy(d + j, &v, 8);
  }
}

/* Expands the LZW codes d[0..n) (minimum code size min) into npix
 * indices at out (npix + GIF_IDX_SLACK bytes).  Each dictionary entry is
 * where its string was first written and its length: the string of a new
 * entry (the previous string plus the first index of the current one)
 * always lies at the start of the previous string's output.  Code widths,
 * table growth and the full table (no growth, no reset without a clear
 * code) follow giflib's decoder step by step.  0 when all npix indices
 * came from a clean stream; GIF_FALLBACK at anything giflib might judge
 * or expand otherwise. */
static int gif_lzw(const uint8_t *d, size_t n, int min, uint8_t *out,
                   size_t npix)
{
  uint32_t pos[4096];
  uint16_t len[4096];
  const int clear = 1 << min, eof = clear + 1;
  int bits = min + 1, maxc = 1 << bits, rc = eof + 1, next = eof + 1;
  int prev = -1, nb = 0;
  size_t ppos = 0, plen = 0, o = 0, i = 0;
  uint64_t buf = 0;

  while (o < npix) {
    size_t l;
    int code;

    if (nb < bits) {
      while (nb <= 56 && i < n) {
        buf |= (uint64_t)d[i++] << nb;
        nb += 8;
      }
      if (nb < bits)
        return GIF_FALLBACK;   /* data ends before the frame */
    }
    code = (int)(buf & (uint64_t)(maxc - 1));
    buf >>= bits;
    nb -= bits;
    /* giflib's RunningCode: one step per code read, to 4097 at most */
    if (rc < 4097 && ++rc > maxc && bits < 12) {
      maxc <<= 1;
      bits++;
    }
    if (code == clear) {
      bits = min + 1;
      maxc = 1 << bits;
      rc = next = eof + 1;
      prev = -1;
      continue;
    }
    if (code < clear) {
      out[o] = (uint8_t)code;
      l = 1;
    } else if (code > eof && code < next) {
      l = len[code];
      gif_copy(out + o, out + pos[code], l);
    } else if (code == next && prev >= 0 && code == rc - 2 && plen < 4094) {
      /* the string being defined: the previous one and its first index */
      l = plen + 1;
      gif_copy(out + o, out + ppos, plen);
      out[o + plen] = out[ppos];
    } else {
      return GIF_FALLBACK;   /* end code, or a code not yet defined */
    }
    if (prev >= 0 && rc - 2 <= 4095) {
      if (rc - 2 > next)
        return GIF_FALLBACK;
      if (rc - 2 == next) {   /* else the table is full */
        pos[next] = (uint32_t)ppos;
        len[next++] = (uint16_t)(plen + 1);
      }
    }
    prev = code;
    ppos = o;
    plen = l;
    o += l;
  }
  return 0;
}

/* The lines of a frame in stream order: expanded whole by gif_lzw (idx),
 * or one at a time by giflib into line. */
struct gif_lines {
  GifFileType *g;
  const uint8_t *idx;
  size_t next;          /* offset of the next line in idx */
  GifPixelType *line;   /* giflib's line buffer (idx NULL) */
};

/* The next line of w indices, or NULL when giflib refuses it. */
static const GifPixelType *gif_line(struct gif_lines *ls, int w)
{
  if (ls->idx) {
    const uint8_t *p = ls->idx + ls->next;
    ls->next += (size_t)w;
    return p;
  }
  return DGifGetLine(ls->g, ls->line, w) == GIF_OK ? ls->line : NULL;
}

/* A frame that fills the screen in row order, the common case: each line
 * goes to the shrinker as it is decoded, so the full-size picture never
 * exists (min_short, imgcodec.h).  Every line is decoded, as on the
 * screen, so a corrupt last line is refused the same way. */
static int gif_rows(GifFileType *g, const uint32_t lut[256],
                    struct gif_lines *ls, int min_short, struct image *ret)
{
  int w = g->SWidth, h = g->SHeight, r;
  struct codec_shrink sh;
  uint8_t *rgb = malloc((size_t)w * 3);

  if (!rgb)
    return -ENOMEM;
  r = codec_shrink_begin(&sh, w, h, 3, codec_shrink_factor(w, h, min_short),
                         ret);
  for (int y = 0; r == 0 && y < h; y++) {
    const GifPixelType *line = gif_line(ls, w);
    if (!line) {
      r = -EBADMSG;
      image_free(ret);
      break;
    }
    gif_map(rgb, lut, line, w);
    codec_shrink_row(&sh, rgb);
  }
  codec_shrink_end(&sh);
  free(rgb);
  return r;
}

/* Any other frame, drawn on a white image of the logical screen's size
 * (clipped to it); interlaced frames come in four passes of rows. */
static int gif_screen(GifFileType *g, const uint32_t lut[256],
                      struct gif_lines *ls, struct image *ret)
{
  static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
  const GifImageDesc *d = &g->Image;
  int passes = d->Interlace ? 4 : 1, r;
  int n = g->SWidth - d->Left < d->Width ? g->SWidth - d->Left : d->Width;

  if ((r = image_alloc(ret, g->SWidth, g->SHeight, 3)) < 0)
    return r;
  memset(ret->px, 255, (size_t)ret->w * ret->h * 3);
  for (int pass = 0; pass < passes && r == 0; pass++)
    for (int y = d->Interlace ? start[pass] : 0; y < d->Height && r == 0;
         y += d->Interlace ? step[pass] : 1) {
      const GifPixelType *line = gif_line(ls, d->Width);
      if (!line)
        r = -EBADMSG;
      else if (d->Top + y < ret->h && n > 0)
        gif_map(ret->px + ((size_t)(d->Top + y) * ret->w + d->Left) * 3, lut,
                line, n);
    }
  if (r < 0)
    image_free(ret);
  return r;
}

/* The frame's LZW data, its sub-blocks joined, through giflib (which
 * checks the chain of blocks), then expanded by gif_lzw into *idx
 * (malloc'd, the caller's).  0, -ENOMEM, or GIF_FALLBACK. */
static int gif_expand(GifFileType *g, uint8_t **idx)
{
  const struct mem *m = g->UserData;
  const GifImageDesc *d = &g->Image;
  size_t npix = (size_t)d->Width * (size_t)d->Height, n = 0;
  size_t cap = m->n - m->pos;
  uint8_t *data, *out;
  GifByteType *blk;
  int min, r = GIF_FALLBACK;

  /* the data lies in what is left of the file */
  if (!(data = malloc(cap + 1)))
    return -ENOMEM;
  if (!(out = malloc(npix + GIF_IDX_SLACK))) {
    free(data);
    return -ENOMEM;
  }
  if (DGifGetCode(g, &min, &blk) == GIF_OK && min >= 2 && min <= 8) {
    while (blk && blk[0] <= cap - n) {
      memcpy(data + n, blk + 1, blk[0]);
      n += blk[0];
      if (DGifGetCodeNext(g, &blk) != GIF_OK)
        break;
    }
    if (!blk)
      r = gif_lzw(data, n, min, out, npix);
  }
  free(data);
  if (r != 0) {
    free(out);
    return r;
  }
  *idx = out;
  return 0;
}

/* Decodes the frame whose descriptor record comes next; with fast, a
 * frame inside the screen of at most GIF_FAST_MAX pixels is expanded by
 * gif_expand (GIF_FALLBACK when giflib alone must decode the file). */
static int gif_frame(GifFileType *g, int transparent, int min_short,
                     bool fast, struct image *ret)
{
  const GifImageDesc *d;
  const ColorMapObject *cm;
  uint32_t lut[256];
  struct gif_lines ls = { .g = g };
  uint8_t *idx = NULL;
  int r;

  if (DGifGetImageDesc(g) != GIF_OK)
    return -EBADMSG;
  d = &g->Image;
  cm = d->ColorMap ? d->ColorMap : g->SColorMap;
  if (!cm || d->Width <= 0 || d->Height <= 0 || d->Left < 0 || d->Top < 0 ||
      d->Width > 65535 || d->Height > 65535)
    return -EBADMSG;
  gif_lut_init(lut, cm, transparent);
  if (fast && d->Left + d->Width <= g->SWidth &&
      d->Top + d->Height <= g->SHeight &&
      (size_t)d->Width * (size_t)d->Height <= GIF_FAST_MAX) {
    if ((r = gif_expand(g, &idx)) != 0)
      return r;
    ls.idx = idx;
  } else if (!(ls.line = malloc((size_t)d->Width))) {
    return -ENOMEM;
  }
  if (!d->Interlace && d->Left == 0 && d->Top == 0 &&
      d->Width == g->SWidth && d->Height == g->SHeight)
    r = gif_rows(g, lut, &ls, min_short, ret);
  else
    r = gif_screen(g, lut, &ls, ret);
  free(ls.line);
  free(idx);
  return r;
}

/* Extensions are read until the first image descriptor; anything else
 * before it (or the end of the file) means no frame. */
static int gif_decode_with(const uint8_t *p, size_t n,
                           const struct img_info *info, int min_short,
                           bool fast, struct image *ret)
{
  struct mem m = { p, n, 0 };
  int err = 0, transparent = -1, r = -EBADMSG;
  GifFileType *g = DGifOpen(&m, m_read, &err);
  GifRecordType rt;

  if (!g)
    return err == D_GIF_ERR_NOT_ENOUGH_MEM ? -ENOMEM : -EBADMSG;
  if ((uint32_t)g->SWidth == info->width &&
      (uint32_t)g->SHeight == info->height)
    while (DGifGetRecordType(g, &rt) == GIF_OK &&
           rt != TERMINATE_RECORD_TYPE) {
      if (rt == IMAGE_DESC_RECORD_TYPE) {
        r = gif_frame(g, transparent, min_short, fast, ret);
        break;
      }
      if (rt != EXTENSION_RECORD_TYPE || gif_extension(g, &transparent) < 0)
        break;
    }
  DGifCloseFile(g, &err);
  return r;
}

int codec_gif_decode_giflib(const uint8_t *p, size_t n,
                            const struct img_info *info, int min_short,
                            struct image *ret)
{
  return gif_decode_with(p, n, info, min_short, false, ret);
}

unsigned long codec_gif_fallbacks;

static int gif_decode(const uint8_t *p, size_t n, const struct img_info *info,
                      int min_short, struct image *ret)
{
  int r = gif_decode_with(p, n, info, min_short, true, ret);

  if (r != GIF_FALLBACK)
    return r;
  __atomic_fetch_add(&codec_gif_fallbacks, 1, __ATOMIC_RELAXED);
  return codec_gif_decode_giflib(p, n, info, min_short, ret);
}

const struct img_codec codec_gif = {
  .format = IMG_GIF, .decode = gif_decode,
};
