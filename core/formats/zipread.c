/* zipread.c - ZIP members through libzip (see zipread.h).  Reading only;
 * no extraction to disk, no writing. */
#include "zipread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

struct zipr {
  zip_t *za;
  zip_uint64_t *idx;   /* visible members -> libzip index */
  size_t n;
};

static bool name_safe(const char *n)
{
  const char *s = n;

  if (!*n || *n == '/')
    return false;
  while (*s) {
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == 2 && s[0] == '.' && s[1] == '.')
      return false;
    s += len;
    while (*s == '/')
      s++;
  }
  return true;
}

int zipr_open(const char *path, struct zipr **ret)
{
  struct zipr *z;
  int zerr = 0;
  zip_int64_t n;

  z = calloc(1, sizeof(*z));
  if (!z)
    return -ENOMEM;
  z->za = zip_open(path, ZIP_RDONLY, &zerr);
  if (!z->za) {
    free(z);
    if (zerr == ZIP_ER_OPEN || zerr == ZIP_ER_NOENT || zerr == ZIP_ER_READ)
      return access(path, R_OK) < 0 ? -errno : -EIO;
    return zerr == ZIP_ER_MEMORY ? -ENOMEM : -EBADMSG;
  }
  n = zip_get_num_entries(z->za, 0);
  z->idx = calloc((size_t)(n > 0 ? n : 1), sizeof(*z->idx));
  if (!z->idx) {
    zipr_close(z);
    return -ENOMEM;
  }
  for (zip_int64_t i = 0; i < n; i++) {
    const char *name = zip_get_name(z->za, (zip_uint64_t)i, 0);
    if (name && name_safe(name))
      z->idx[z->n++] = (zip_uint64_t)i;
  }
  *ret = z;
  return 0;
}

void zipr_close(struct zipr *z)
{
  if (!z)
    return;
  if (z->za)
    zip_discard(z->za);
  free(z->idx);
  free(z);
}

size_t zipr_count(const struct zipr *z)
{
  return z->n;
}

const char *zipr_name(const struct zipr *z, size_t i)
{
  return i < z->n ? zip_get_name(z->za, z->idx[i], 0) : NULL;
}

int zipr_read(struct zipr *z, size_t i, size_t max, struct buf *out)
{
  zip_stat_t st;
  zip_file_t *f;
  char blk[65536];
  zip_int64_t got;
  size_t total = 0;
  int r = 0;

  if (i >= z->n)
    return -ENOENT;
  if (zip_stat_index(z->za, z->idx[i], 0, &st) < 0)
    return -EBADMSG;
  if ((st.valid & ZIP_STAT_SIZE) && st.size > max)
    return -EFBIG;
  f = zip_fopen_index(z->za, z->idx[i], 0);
  if (!f)
    return -EBADMSG;
  /* The declared size may lie: count what really comes out. */
  while ((got = zip_fread(f, blk, sizeof(blk))) > 0) {
    total += (size_t)got;
    if (total > max) {
      r = -EFBIG;
      break;
    }
    r = buf_append(out, blk, (size_t)got);
    if (r < 0)
      break;
  }
  if (got < 0 && r == 0)
    r = -EBADMSG;
  zip_fclose(f);
  return r;
}
