/* codec_util.c - helpers the per-format decoders share (codec_i.h).  They
 * sit below the codecs and imgcodec.c, so no codec calls back into the
 * facade that dispatches to it. */
#include "codec_i.h"

void codec_rgba_to_rgb(const uint8_t *s, struct image *dst)
{
  uint8_t *d = dst->px;

  for (size_t i = 0; i < (size_t)dst->w * dst->h; i++, s += 4, d += 3) {
    unsigned a = s[3];
    if (a == 255) {   /* opaque, the common case: no arithmetic */
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
      continue;
    }
    for (int c = 0; c < 3; c++)
      d[c] = codec_over_white(s[c], a);
  }
}
