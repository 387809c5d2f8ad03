/* vocname.c - sample names <-> Pascal VOC ids (see vocname.h). */
#include "vocname.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
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
