/* zipread.c - ZIP members through libzip (see zipread.h).  Reading only:
 * a member goes into the caller's memory or the caller's descriptor. */
#include "zipread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "dynlib.h"

/* ---- libzip, loaded by the first archive opened (dynlib.h) ----
 *
 * libzip links libcrypto (for encrypted archives), whose load and
 * relocation cost every program ~5 ms of start, while only reading CVAT's
 * exports opens a zip.  Its functions are called through this table;
 * zipr_open() loads it first, and without it fails with -ELIBACC.  The
 * soname, ZIP_SONAME, is that of the libzip this build links against
 * (meson.build finds it). */
#ifndef ZIP_SONAME
#error "ZIP_SONAME comes from meson.build (the soname this build links against)"
#endif

/* Each function called through lz: its name and its slot. */
#define LZ_FUNCS(X, t) \
  X(t, zip_open, open) \
  X(t, zip_get_num_entries, get_num_entries) \
  X(t, zip_get_name, get_name) \
  X(t, zip_discard, discard) \
  X(t, zip_stat_index, stat_index) \
  X(t, zip_fopen_index, fopen_index) \
  X(t, zip_fread, fread) \
  X(t, zip_fclose, fclose) \
  X(t, zip_get_error, get_error) \
  X(t, zip_error_code_zip, error_code_zip)
DYNLIB_TABLE(lz, LZ_FUNCS);
static struct dynlib lz_lib = DYNLIB_INIT(ZIP_SONAME, lz_syms);

struct zipr {
  zip_t *za;
  zip_uint64_t *idx;   /* visible members -> libzip index */
  char **names;        /* visible members' names, '\' made '/' (owned) */
  size_t n;
};

/* A backslash in a member name is a folder separator, always.  The ZIP
 * format allows only '/' (APPNOTE 4.4.17), but some Windows tools
 * (.NET Framework's ZipFile before 4.6.1, Windows PowerShell's
 * Compress-Archive) store "annotations\instances_default.json".  The
 * header's "version made by" cannot single them out: correct zips made
 * on Windows say MS-DOS or NTFS too, and a zip rewritten on Linux (by
 * Python, which keeps a '\' as given) says Unix.  These zips are CVAT's
 * exports, whose names are paths CVAT writes (annotations/, obj_*_data/,
 * Annotations/ ...) and never hold a '\' of their own (a frame whose own
 * file name held one would be looked for as a folder and a name).  Done
 * before name_safe(), so "..\x" is as hidden as "../x". */
static char *name_of(const char *stored)
{
  char *n = strdup(stored);

  for (char *p = n; p && *p; p++)
    if (*p == '\\')
      *p = '/';
  return n;
}

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
  int zerr = 0, r;
  zip_int64_t n;

  if ((r = dynlib_get(&lz_lib)) < 0)
    return r;
  z = calloc(1, sizeof(*z));
  if (!z)
    return -ENOMEM;
  z->za = lz.open(path, ZIP_RDONLY, &zerr);
  if (!z->za) {
    free(z);
    if (zerr == ZIP_ER_OPEN || zerr == ZIP_ER_NOENT || zerr == ZIP_ER_READ)
      return access(path, R_OK) < 0 ? -errno : -EIO;
    return zerr == ZIP_ER_MEMORY ? -ENOMEM : -EBADMSG;
  }
  n = lz.get_num_entries(z->za, 0);
  z->idx = calloc((size_t)(n > 0 ? n : 1), sizeof(*z->idx));
  z->names = calloc((size_t)(n > 0 ? n : 1), sizeof(*z->names));
  if (!z->idx || !z->names) {
    zipr_close(z);
    return -ENOMEM;
  }
  for (zip_int64_t i = 0; i < n; i++) {
    const char *stored = lz.get_name(z->za, (zip_uint64_t)i, 0);
    char *name = stored ? name_of(stored) : NULL;
    if (stored && !name) {
      zipr_close(z);
      return -ENOMEM;
    }
    if (name && name_safe(name)) {
      z->idx[z->n] = (zip_uint64_t)i;
      z->names[z->n++] = name;
    } else {
      free(name);
    }
  }
  *ret = z;
  return 0;
}

void zipr_close(struct zipr *z)
{
  if (!z)
    return;
  if (z->za)
    lz.discard(z->za);
  for (size_t i = 0; z->names && i < z->n; i++)
    free(z->names[i]);
  free(z->names);
  free(z->idx);
  free(z);
}

size_t zipr_count(const struct zipr *z)
{
  return z->n;
}

const char *zipr_name(const struct zipr *z, size_t i)
{
  return i < z->n ? z->names[i] : NULL;
}

/* The names of the methods a libzip may lack: which one it has depends
 * on the libraries it was built with (Debian 12's libzip 1.7.3 has
 * bzip2, not LZMA, XZ or zstd); the numbers are APPNOTE 4.4.5's. */
static const struct { uint16_t id; const char *name; } methods[] = {
  { 1, "Shrink" }, { 6, "Implode" }, { 9, "Deflate64" }, { 12, "bzip2" },
  { 14, "LZMA" }, { 93, "zstd" }, { 95, "XZ" }, { 98, "PPMd" },
};

void zipr_method_name(struct zipr *z, size_t i, char *buf, size_t cap)
{
  zip_stat_t st;

  snprintf(buf, cap, "an unknown method");
  if (i >= z->n || lz.stat_index(z->za, z->idx[i], 0, &st) < 0 ||
      !(st.valid & ZIP_STAT_COMP_METHOD))
    return;
  for (size_t k = 0; k < ARRAY_SIZE(methods); k++)
    if (methods[k].id == st.comp_method) {
      snprintf(buf, cap, "%s", methods[k].name);
      return;
    }
  snprintf(buf, cap, "method %u", (unsigned)st.comp_method);
}

/* Why libzip could not open a member for reading: -ENOTSUP for a
 * compression method it cannot inflate (ZIP_ER_COMPNOTSUPP: one its build
 * left out, or a number no one assigned), else the member is broken. */
static int open_error(struct zipr *z)
{
  switch (lz.error_code_zip(lz.get_error(z->za))) {
  case ZIP_ER_COMPNOTSUPP: return -ENOTSUP;
  case ZIP_ER_MEMORY: return -ENOMEM;
  default: return -EBADMSG;
  }
}

/* Member i's uncompressed bytes, 64 KiB at a time, to put(ud, p, n);
 * -EFBIG past max bytes (the declared size may lie: what comes out is
 * counted), -EBADMSG past the declared size (libzip does not check it:
 * a member declaring 1 KB would otherwise fill max bytes of disk). */
static int each_piece(struct zipr *z, size_t i, uint64_t max,
                      int (*put)(void *ud, const char *p, size_t n),
                      void *ud)
{
  zip_stat_t st;
  zip_file_t *f;
  char blk[65536];
  zip_int64_t got;
  uint64_t total = 0;
  int r = 0;

  if (i >= z->n)
    return -ENOENT;
  if (lz.stat_index(z->za, z->idx[i], 0, &st) < 0)
    return -EBADMSG;
  if ((st.valid & ZIP_STAT_SIZE) && st.size > max)
    return -EFBIG;
  f = lz.fopen_index(z->za, z->idx[i], 0);
  if (!f)
    return open_error(z);
  while ((got = lz.fread(f, blk, sizeof(blk))) > 0) {
    total += (uint64_t)got;
    if (total > max) {
      r = -EFBIG;
      break;
    }
    if ((st.valid & ZIP_STAT_SIZE) && total > st.size) {
      r = -EBADMSG;
      break;
    }
    r = put(ud, blk, (size_t)got);
    if (r < 0)
      break;
  }
  if (got < 0 && r == 0)
    r = -EBADMSG;
  lz.fclose(f);
  return r;
}

static int put_fd(void *ud, const char *p, size_t n)
{
  return fd_write_all(*(int *)ud, p, n, -1);
}

int zipr_extract(struct zipr *z, size_t i, uint64_t max, int fd)
{
  return each_piece(z, i, max, put_fd, &fd);
}

static int put_buf(void *ud, const char *p, size_t n)
{
  return buf_append(ud, p, n);
}

int zipr_read(struct zipr *z, size_t i, size_t max, struct buf *out)
{
  return each_piece(z, i, max, put_buf, out);
}
