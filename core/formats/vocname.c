/* vocname.c - sample names <-> Pascal VOC ids (see vocname.h). */
#include "vocname.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of the whitespace code point at p (n bytes left), or 0: the code
 * points Python's str.isspace() accepts, which str.strip() removes from
 * the ends of an image-set line.  Control bytes never occur in sample
 * names (the import replaces them) but are listed for completeness. */
static size_t ws_len(const unsigned char *p, size_t n)
{
  if (*p == ' ' || (*p >= 0x09 && *p <= 0x0d) || (*p >= 0x1c && *p <= 0x1f))
    return 1;
  if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
    return 2;                       /* U+0085, U+00A0 */
  if (n < 3)
    return 0;
  if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
    return 3;                       /* U+1680 */
  if (p[0] == 0xe2 && p[1] == 0x80 &&
      (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf) &&
      p[2] >= 0x80)
    return 3;                       /* U+2000..200A, 2028, 2029, 202F */
  if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
    return 3;                       /* U+205F */
  if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
    return 3;                       /* U+3000 */
  return 0;
}

/* Bytes of one UTF-8 sequence at p (n bytes left): its lead byte and
 * the continuation bytes that follow, so that a cut sequence never
 * swallows the byte after it (a space that ends the name). */
static size_t cp_len(const unsigned char *p, size_t n)
{
  size_t k = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 1, i = 1;

  while (i < k && i < n && (p[i] & 0xc0) == 0x80)
    i++;
  return i;
}

bool voc_has_end_space(const char *text)
{
  const unsigned char *s = (const unsigned char *)text;
  size_t n = strlen(text), last = 0, w;

  if (n == 0)
    return false;
  if (ws_len(s, n))
    return true;
  for (size_t i = 0; i < n; i += w ? w : cp_len(s + i, n - i)) {
    w = ws_len(s + i, n - i);
    last = w ? 1 : 0;
  }
  return last;
}

static bool hex2(const char *p)
{
  return isxdigit((unsigned char)p[0]) && isxdigit((unsigned char)p[1]);
}

int voc_id_encode(const char *name, char *out, size_t outlen)
{
  const unsigned char *s = (const unsigned char *)name;
  size_t n = strlen(name), lead = 0, trail = 0, o = 0, w;

  /* The leading run of whitespace, then where the trailing one starts. */
  while (lead < n && (w = ws_len(s + lead, n - lead)))
    lead += w;
  trail = lead;
  for (size_t i = lead; i < n;) {
    w = ws_len(s + i, n - i);
    i += w ? w : cp_len(s + i, n - i);
    if (!w)
      trail = i;
  }
  for (size_t i = 0; i < n; i++) {
    bool enc = i < lead || i >= trail || (i == 0 && s[i] == '#') ||
               (s[i] == '%' && hex2(name + i + 1));
    if (o + (enc ? 3 : 1) >= outlen)
      return -ENAMETOOLONG;
    if (enc) {
      snprintf(out + o, outlen - o, "%%%02X", s[i]);
      o += 3;
    } else {
      out[o++] = (char)s[i];
    }
  }
  if (o >= outlen)
    return -ENAMETOOLONG;
  out[o] = '\0';
  return 0;
}

static int hexval(char c)
{
  return isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) -
                                                'a' + 10);
}

int voc_id_decode(const char *id, char *out, size_t outlen)
{
  size_t o = 0;

  for (const char *p = id; *p; p++) {
    if (o + 1 >= outlen)
      return -ENAMETOOLONG;
    if (*p == '%' && hex2(p + 1)) {
      out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
      p += 2;
    } else {
      out[o++] = *p;
    }
  }
  if (o >= outlen)
    return -ENAMETOOLONG;
  out[o] = '\0';
  return 0;
}

/* "%7E" and 16 hex digits: the tail of an id's long form. */
#define LONG_TAIL 19

int voc_sample_id(const char *name, uint64_t sample_id, char *out,
                  size_t outlen)
{
  char full[3 * 256 + 1];
  size_t n;
  int r = voc_id_encode(name, full, sizeof(full));

  if (r == 0 && strlen(full) <= VOC_ID_MAX) {
    if (strlen(full) >= outlen)
      return -ENAMETOOLONG;
    memcpy(out, full, strlen(full) + 1);
    return 0;
  }
  if (r < 0)
    return r;   /* a name of 256 bytes or more: none is */
  /* The start, cut before a character: not inside "%XX" nor inside a
   * UTF-8 sequence (a reader decodes the image-set file as UTF-8). */
  n = VOC_ID_MAX - LONG_TAIL;
  if (n > strlen(full))
    n = strlen(full);
  while (n > 0 && (((unsigned char)full[n] & 0xc0) == 0x80 ||
                   (n >= 1 && full[n - 1] == '%' && hex2(full + n)) ||
                   (n >= 2 && full[n - 2] == '%' && hex2(full + n - 1))))
    n--;
  if (n + LONG_TAIL >= outlen)
    return -ENAMETOOLONG;
  memcpy(out, full, n);
  snprintf(out + n, outlen - n, "%%7E%016" PRIx64, sample_id);
  return 0;
}

uint64_t voc_id_sample(const char *id)
{
  size_t n = strlen(id);
  const char *t = id + n - (n >= LONG_TAIL ? LONG_TAIL : 0);
  char *end;
  uint64_t v;

  if (n < LONG_TAIL || strncmp(t, "%7E", 3) != 0)
    return 0;
  for (int i = 3; i < LONG_TAIL; i++)
    if (!isxdigit((unsigned char)t[i]) || isupper((unsigned char)t[i]))
      return 0;
  v = strtoull(t + 3, &end, 16);
  return *end ? 0 : v;
}
