/* import_folder.c - the folder source of the import (import.h,
 * import_i.h): the recursive walk (hidden entries skipped, directories
 * walked once each by device and inode, every skipped entry counted and
 * named by kind, at most 64 levels), then each file opened beneath the
 * root and read with pread; import_dir() runs the import over it.
 */
#include "import_i.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgfmt.h"

static const char *const unsupported_exts[] = {
  ".heic", ".heif", ".avif", ".jxl", ".jp2", ".svg", NULL };

static bool has_ext(const char *name, const char *const *exts)
{
  const char *dot = strrchr(name, '.');

  if (!dot)
    return false;
  for (; *exts; exts++)
    if (strcasecmp(dot, *exts) == 0)
      return true;
  return false;
}

/* Directories met in this walk, by (device, inode): a directory reached a
 * second time (a symbolic link to itself or to one already walked) is not
 * walked again, so link loops end and nothing is imported twice.  An open
 * addressing set; the walk is single-threaded. */
struct dirset {
  struct { dev_t dev; ino_t ino; bool used; } *v;
  size_t n, cap;
};

static int dirset_add(struct dirset *ds, dev_t dev, ino_t ino)
{
  size_t i;

  if (ds->n * 2 >= ds->cap) {
    size_t nc = ds->cap ? ds->cap * 2 : 256;
    __typeof__(ds->v) nv = calloc(nc, sizeof(*nv));
    if (!nv)
      return -ENOMEM;
    for (size_t k = 0; k < ds->cap; k++) {
      if (!ds->v[k].used)
        continue;
      i = ((uint64_t)ds->v[k].ino * 0x9E3779B97F4A7C15ull ^ ds->v[k].dev) &
          (nc - 1);
      while (nv[i].used)
        i = (i + 1) & (nc - 1);
      nv[i] = ds->v[k];
    }
    free(ds->v);
    ds->v = nv;
    ds->cap = nc;
  }
  i = ((uint64_t)ino * 0x9E3779B97F4A7C15ull ^ dev) & (ds->cap - 1);
  while (ds->v[i].used) {
    if (ds->v[i].dev == dev && ds->v[i].ino == ino)
      return 1;   /* already there */
    i = (i + 1) & (ds->cap - 1);
  }
  ds->v[i].dev = dev;
  ds->v[i].ino = ino;
  ds->v[i].used = true;
  ds->n++;
  return 0;
}

struct walk {
  struct pathvec files;
  const struct import_opts *o;
  struct import_stats *st;
  struct dirset dirs;
  char path[PATH_MAX];
};


static const char *const skip_names[IMPORT_SKIP_NKINDS] = {
  [IMPORT_SKIP_FIFO] = "FIFO (named pipe)",
  [IMPORT_SKIP_SOCKET] = "socket",
  [IMPORT_SKIP_DEVICE] = "device file",
  [IMPORT_SKIP_DANGLING] = "dangling symbolic link",
  [IMPORT_SKIP_UNREADABLE] = "unreadable",
  [IMPORT_SKIP_LOOP] = ("directory already walked (symbolic-link loop or "
                        "second link)"),
  [IMPORT_SKIP_DEEP] = "directory nested deeper than 64 levels",
  [IMPORT_SKIP_UNSUPPORTED] = "unsupported image format",
  [IMPORT_SKIP_BAD] = "bad or unreadable image",
};

const char *import_skip_name(enum import_skip k)
{
  return (unsigned)k < IMPORT_SKIP_NKINDS ? skip_names[k] : "?";
}

/* Counts and names one skipped walk entry. */
static void skip(struct walk *w, const char *rel, enum import_skip k,
                 const char *detail)
{
  char msg[256];

  w->st->skip_kind[k]++;
  snprintf(msg, sizeof(msg), "%s%s%s", skip_names[k],
           detail ? ": " : "", detail ? detail : "");
  import_report(w->o, rel, msg);
}

/* Names with their type byte in front: compare the names. */
static int cmp_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a + 1, *(char *const *)b + 1);
}

/* The names of open directory d, sorted, each with its d_type + 1 in
 * front (one byte), so regular files cost no stat: only links,
 * directories (for their device and inode) and unknown types are looked
 * at.  Hidden names, ".", ".." and our store are left out. */
static int read_names(DIR *d, struct pathvec *names)
{
  struct dirent *e;
  int r = 0;

  while ((e = readdir(d))) {
    char tn[NAME_MAX + 2];
    if (e->d_name[0] == '.')
      continue;
    tn[0] = (char)(e->d_type + 1);   /* + 1: DT_UNKNOWN is 0 */
    snprintf(tn + 1, sizeof(tn) - 1, "%s", e->d_name);
    if ((r = import_pv_push(names, tn)) < 0)
      return r;
  }
  if (names->n > 1)
    qsort(names->v, names->n, sizeof(char *), cmp_name);
  return 0;
}

/* An entry that fstatat could not follow (errno err): a dangling link, a
 * link to itself, or an unreadable entry.  ENOENT otherwise: gone since
 * readdir. */
static void skip_unstatable(struct walk *w, int dfd, const char *nm,
                            const char *rel, int err)
{
  struct stat lst;

  if (err == ENOENT && fstatat(dfd, nm, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(lst.st_mode))
    skip(w, rel, IMPORT_SKIP_DANGLING, NULL);
  else if (err == ELOOP && fstatat(dfd, nm, &lst, AT_SYMLINK_NOFOLLOW) == 0)
    skip(w, rel, IMPORT_SKIP_LOOP, "the link points back to itself");
  else if (err != ENOENT)
    skip(w, rel, IMPORT_SKIP_UNREADABLE, strerror(err));
}

static int walk_dir(struct walk *w, int dfd, size_t len, size_t rel_off,
                    int depth);

/* Directory nm of dfd (its stat in st), whose path is w->path[0..len):
 * walked unless too deep or already walked. */
static int walk_subdir(struct walk *w, int dfd, const char *nm,
                       const struct stat *st, size_t len, size_t rel_off,
                       int depth)
{
  const char *rel = w->path + rel_off;
  int sub, k, r;

  if (depth >= 64) {
    skip(w, rel, IMPORT_SKIP_DEEP, NULL);
    return 0;
  }
  if ((k = dirset_add(&w->dirs, st->st_dev, st->st_ino)) < 0)
    return k;
  if (k == 1) {
    skip(w, rel, IMPORT_SKIP_LOOP, NULL);
    return 0;
  }
  sub = openat(dfd, nm, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sub < 0) {
    skip(w, rel, IMPORT_SKIP_UNREADABLE, strerror(errno));
    return 0;
  }
  r = walk_dir(w, sub, len, rel_off, depth + 1);
  if (r == -EACCES || r == -EPERM) {
    skip(w, rel, IMPORT_SKIP_UNREADABLE, strerror(-r));
    r = 0;
  }
  return r;
}

bool import_unsupported_name(const char *name)
{
  return has_ext(name, unsupported_exts);
}

/* A non-directory entry: an image to import, a file of an unsupported
 * image format, another file (ignored), or a special file (skipped). */
static int walk_file(struct walk *w, const char *nm, const char *rel,
                     mode_t mode)
{
  if (S_ISREG(mode)) {
    if (img_format_of_name(nm) >= 0)
      return import_pv_push(&w->files, rel);
    if (has_ext(nm, unsupported_exts))
      skip(w, rel, IMPORT_SKIP_UNSUPPORTED, "only JPEG, PNG, WebP, TIFF, "
           "BMP and GIF are imported");
    else
      w->st->ignored++;
  } else if (S_ISFIFO(mode)) {
    skip(w, rel, IMPORT_SKIP_FIFO, NULL);
  } else if (S_ISSOCK(mode)) {
    skip(w, rel, IMPORT_SKIP_SOCKET, NULL);
  } else if (S_ISCHR(mode) || S_ISBLK(mode)) {
    skip(w, rel, IMPORT_SKIP_DEVICE, NULL);
  }
  return 0;
}

/* Recursive walk below w->path (relative part starts at rel_off).  dfd is
 * the open directory (consumed).  Entries are taken in name order, so the
 * first of two links to one directory is always the same one. */
static int walk_dir(struct walk *w, int dfd, size_t len, size_t rel_off,
                    int depth)
{
  struct pathvec names = { 0 };
  DIR *d;
  int r;

  d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return -errno;
  }
  r = read_names(d, &names);
  for (size_t k = 0; r == 0 && k < names.n; k++) {
    const char *nm = names.v[k] + 1, *rel;
    unsigned char type = (unsigned char)(names.v[k][0] - 1);
    size_t nl = strlen(nm);
    struct stat st;

    if (w->o->cancel && *w->o->cancel) {
      r = -ECANCELED;
      break;
    }
    if (len + 1 + nl >= sizeof(w->path))
      continue;
    w->path[len] = '/';
    memcpy(w->path + len + 1, nm, nl + 1);
    rel = w->path + rel_off;
    st.st_mode = S_IFREG;
    if (type != DT_REG && fstatat(dirfd(d), nm, &st, 0) < 0)
      skip_unstatable(w, dirfd(d), nm, rel, errno);
    else if (S_ISDIR(st.st_mode))
      r = walk_subdir(w, dirfd(d), nm, &st, len + 1 + nl, rel_off, depth);
    else
      r = walk_file(w, nm, rel, st.st_mode);
    w->path[len] = '\0';
  }
  closedir(d);
  import_pv_free(&names);
  return r;
}

static int64_t st_mtime_ns(const struct stat *sb)
{
  return (int64_t)sb->st_mtim.tv_sec * 1000000000LL + sb->st_mtim.tv_nsec;
}

/* ---- the folder source ---- */

struct folder {
  int rootfd;
  struct walk *w;
};

static int folder_list(const struct import_source *src,
                       int (*add)(void *ud, const char *rel), void *ud,
                       const struct import_opts *o, struct import_stats *st)
{
  struct folder *fo = src->ctx;
  struct walk *w = fo->w;
  size_t rootlen = strlen(src->root);
  struct stat rs;
  int dfd, r = 0;

  w->o = o;
  w->st = st;
  memcpy(w->path, src->root, rootlen + 1);
  dfd = dup(fo->rootfd);
  if (dfd < 0)
    return -errno;
  if (fstat(fo->rootfd, &rs) < 0 ||
      (r = dirset_add(&w->dirs, rs.st_dev, rs.st_ino)) < 0) {
    r = r < 0 ? r : -errno;
    close(dfd);
    return r;
  }
  r = walk_dir(w, dfd, rootlen, rootlen + 1, 0);
  for (size_t i = 0; r == 0 && i < w->files.n; i++)
    r = add(ud, w->files.v[i]);
  return r;
}

static int folder_open(const struct import_source *src, const char *rel,
                       struct import_file *f)
{
  struct folder *fo = src->ctx;
  struct stat sb;

  f->h = NULL;
  f->version[0] = '\0';
  f->fd = openat(fo->rootfd, rel, O_RDONLY | O_CLOEXEC);
  if (f->fd < 0 || fstat(f->fd, &sb) < 0) {
    int r = -errno;
    if (f->fd >= 0)
      close(f->fd);
    f->fd = -1;
    return r;
  }
  f->size = (uint64_t)sb.st_size;
  f->mtime_ns = st_mtime_ns(&sb);
  return 0;
}

static long folder_pread(const struct import_source *src,
                         struct import_file *f, uint64_t off, void *buf,
                         size_t n)
{
  ssize_t k;

  (void)src;
  do
    k = pread(f->fd, buf, n, (off_t)off);
  while (k < 0 && errno == EINTR);
  return k < 0 ? -errno : (long)k;
}

static void folder_close(const struct import_source *src,
                         struct import_file *f)
{
  (void)src;
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
}

int import_dir(struct store *s, const char *root_in,
               const struct import_opts *o, struct import_stats *st)
{
  struct folder fo = { .rootfd = -1 };
  /* A local read is a copy from the page cache: one page covers the
   * header of most dataset files (JPEG with JFIF or a short EXIF, PNG,
   * BMP, GIF), and copying 16 KiB cost a fifth of the header pass.  A
   * longer header is read on, from where this read ends. */
  struct import_source src = { .ctx = &fo, .list = folder_list,
                               .open = folder_open, .pread = folder_pread,
                               .close = folder_close, .head_bytes = 4096 };
  char root[PATH_MAX];
  int r;

  memset(st, 0, sizeof(*st));
  if (!realpath(root_in, root))
    return -errno;
  src.root = root;
  fo.w = calloc(1, sizeof(*fo.w));
  if (!fo.w)
    return -ENOMEM;
  fo.rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  r = fo.rootfd < 0 ? -errno : import_source_run(s, &src, o, st);
  if (fo.rootfd >= 0)
    close(fo.rootfd);
  import_pv_free(&fo.w->files);
  free(fo.w->dirs.v);
  free(fo.w);
  return r;
}
