/* names.c - sample display names from source paths (see names.h). */
#include "names.h"

#include <errno.h>
#include <string.h>

int name_from_relpath(const char *relpath, char *out, size_t outlen)
{
  const char *base = strrchr(relpath, '/');
  const char *dot = strrchr(base ? base + 1 : relpath, '.');
  size_t n = dot && dot != (base ? base + 1 : relpath) ? (size_t)(dot - relpath)
                                                       : strlen(relpath);
  size_t o = 0;

  if (n == 0 || outlen < 2)
    return -EINVAL;
  for (size_t i = 0; i < n && o + 1 < outlen && o < NAME_STEM_MAX; i++) {
    unsigned char c = (unsigned char)relpath[i];
    if (c == '/') {
      if (o + 2 >= outlen || o + 2 > NAME_STEM_MAX)
        break;
      out[o++] = '_';
      out[o++] = '_';
      continue;
    }
    out[o++] = (c < 0x20 || c == 0x7f) ? '_' : (char)c;
  }
  out[o] = '\0';
  /* A leading dot would hide the file from `ls`. */
  if (out[0] == '.')
    out[0] = '_';
  return (int)o;
}

int name_strip_ext(const char *file, const char *ext, char *out,
                   size_t outlen)
{
  size_t n = strlen(file), e = strlen(ext);

  if (n <= e || strcmp(file + n - e, ext) != 0 || n - e >= outlen)
    return -ENOENT;
  memcpy(out, file, n - e);
  out[n - e] = '\0';
  return 0;
}
