/* import.c - folder walk, parallel header reads with batched store writes,
 * and the parallel content pass: content hash and image features from one
 * read of each file (see import.h).
 *
 * XXH3-128 (libxxhash) is the content hash: it runs at memory speed, so the
 * hash pass costs little more than reading the files once.  This file is
 * the only user of xxhash.
 */
#include "import.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "featstore.h"
#include "imgfeat.h"
#include "imgcodec.h"
#include "imgfmt.h"
#include "names.h"
#include "workpool.h"

#define BATCH 2048
/* Scan and content writes commit when a batch has run this long or holds
 * BATCH_MAX files: commits (each an fsync) stay rare on fast imports, and
 * a slow one still shows its progress in the store every second. */
#define BATCH_SECONDS 1.0
#define BATCH_MAX 65536
#define HEAD_BYTES 16384

struct pathvec {
  char **v;
  size_t n, cap;
};

static int pv_push(struct pathvec *pv, const char *s)
{
  if (pv->n == pv->cap) {
    size_t nc = pv->cap ? pv->cap * 2 : 1024;
    char **p = realloc(pv->v, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    pv->v = p;
    pv->cap = nc;
  }
  pv->v[pv->n] = strdup(s);
  return pv->v[pv->n++] ? 0 : -ENOMEM;
}

static void pv_free(struct pathvec *pv)
{
  for (size_t i = 0; i < pv->n; i++)
    free(pv->v[i]);
  free(pv->v);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

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

static void report(const struct import_opts *o, const char *rel,
                   const char *reason)
{
  if (o->report)
    o->report(rel, reason, o->ud);
}

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
  report(w->o, rel, msg);
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
    if ((r = pv_push(names, tn)) < 0)
      return r;
  }
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

/* A non-directory entry: an image to import, a file of an unsupported
 * image format, another file (ignored), or a special file (skipped). */
static int walk_file(struct walk *w, const char *nm, const char *rel,
                     mode_t mode)
{
  if (S_ISREG(mode)) {
    if (img_format_of_name(nm) >= 0)
      return pv_push(&w->files, rel);
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
  pv_free(&names);
  return r;
}

static long fd_read(void *ud, uint64_t off, void *buf, size_t n)
{
  ssize_t k;

  do
    k = pread(*(int *)ud, buf, n, (off_t)off);
  while (k < 0 && errno == EINTR);
  return k < 0 ? -errno : (long)k;
}

/* Reads the header of an open file; fills *info or sets *reason. */
static int read_header(int fd, uint64_t size, struct img_info *info,
                       const char **reason)
{
  uint8_t head[HEAD_BYTES];
  struct img_src src = { head, 0, size, fd_read, &fd };
  long n = size ? fd_read(&fd, 0, head, size < sizeof(head) ? (size_t)size
                                                              : sizeof(head))
                : 0;

  if (n < 0) {
    *reason = "read error";
    return (int)n;
  }
  src.head_len = (size_t)n;
  if ((uint64_t)n < size && n < (long)sizeof(head))
    src.size = (uint64_t)n;   /* shrank under us */
  return img_header_read(&src, info, reason);
}

int import_root_get(struct store *s, char **ret)
{
  struct store_txn *t;
  int r = store_txn_begin(s, false, &t);

  if (r < 0)
    return r;
  r = store_setting_get(t, "root", ret);
  store_txn_abort(t);
  return r;
}

/* Checks that the store belongs to `root`; with set (a write transaction)
 * records it when the store has none yet.  The first import records it in
 * its first batch, so a new store costs no extra commit (each is an
 * fsync). */
static int root_check(struct store_txn *t, const char *root, bool set)
{
  char *cur = NULL;
  int r = store_setting_get(t, "root", &cur);

  if (r == -ENOENT)
    return set ? store_setting_set(t, "root", root) : 0;
  if (r == 0 && strcmp(cur, root) != 0) {
    log_msg(LOG_LVL_ERROR, "this store belongs to the dataset at '%s'", cur);
    r = -EINVAL;
  }
  free(cur);
  return r;
}

static int set_root(struct store *s, const char *root, bool set)
{
  struct store_txn *t;
  int r = store_txn_begin(s, set, &t);

  if (r < 0)
    return r;
  r = root_check(t, root, set);
  if (r < 0 || !set) {
    store_txn_abort(t);
    return r;
  }
  return store_txn_commit(t);
}

static void progress(const struct import_opts *o, enum import_phase ph,
                     uint64_t done, uint64_t total, double *last, bool force)
{
  double now = time_mono();
  struct import_progress p = { ph, done, total };

  if (!o->progress || (!force && now - *last < 0.1))
    return;
  *last = now;
  o->progress(&p, o->ud);
}

static int nthreads(const struct import_opts *o)
{
  long n = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);

  return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

static int64_t st_mtime_ns(const struct stat *sb)
{
  return (int64_t)sb->st_mtim.tv_sec * 1000000000LL + sb->st_mtim.tv_nsec;
}

/* ---- scan pass: stat + header on workers, store writes on the caller ----
 *
 * Workers open each file relative to the root, stat it, and look its path
 * up in a read snapshot of the store: a file whose size and mtime are
 * unchanged needs no header read.  The calling thread applies the results
 * in sorted path order (so ids are deterministic) in batches (see
 * BATCH_SECONDS), one write transaction each. */

struct scan_slot {
  int r;               /* < 0: the file could not be used */
  const char *reason;  /* static text for r, or NULL for strerror(-r) */
  bool known;          /* stored with this size and mtime (no header read) */
  uint64_t size;
  int64_t mtime_ns;
  struct img_info info;
};

struct scan {
  struct store *s;
  const struct import_opts *o;
  struct import_stats *st;
  int rootfd;
  char **paths;
  size_t n;
  struct scan_slot *slots;
  size_t nslots;
  struct store_txn *t;   /* the writer's open transaction, or NULL */
  size_t pending;        /* files in t */
  double t_begin;        /* when t began */
  const char *root;      /* recorded by the first batch (root_check) */
  bool root_done;
  uint8_t *seen;         /* sample ids met in this walk */
  uint64_t maxid;
  double *last;
};

#define SCAN_CHUNK 64
#define SCAN_WINDOW 64

/* rt may be NULL: then the header is always read. */
static void scan_file(int rootfd, const char *rel, struct store_txn *rt,
                      struct scan_slot *sl)
{
  struct sample old;
  struct stat sb;
  int fd;

  memset(sl, 0, sizeof(*sl));
  fd = openat(rootfd, rel, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &sb) < 0) {
    sl->r = -errno;
    if (fd >= 0)
      close(fd);
    return;
  }
  sl->size = (uint64_t)sb.st_size;
  sl->mtime_ns = st_mtime_ns(&sb);
  if (rt && store_sample_by_path(rt, rel, &old) == 0 &&
      old.size == sl->size && old.mtime_ns == sl->mtime_ns) {
    sl->known = true;
    close(fd);
    return;
  }
  sl->r = read_header(fd, sl->size, &sl->info, &sl->reason);
  close(fd);
}

static void scan_work(void *ud, int w, size_t first, size_t count)
{
  struct scan *sc = ud;
  struct store_txn *rt = NULL;

  (void)w;
  /* A short read snapshot per chunk: long-lived readers would keep LMDB
   * from reusing pages while the writer commits. */
  if (store_txn_begin(sc->s, false, &rt) < 0)
    rt = NULL;
  for (size_t i = first; i < first + count; i++)
    scan_file(sc->rootfd, sc->paths[i], rt, &sc->slots[i % sc->nslots]);
  store_txn_abort(rt);
}

static int mark_seen(struct scan *sc, uint64_t id)
{
  if (id >= sc->maxid) {
    uint64_t nm = (id + 1) * 2;
    uint8_t *p = realloc(sc->seen, nm);
    if (!p)
      return -ENOMEM;
    memset(p + sc->maxid, 0, nm - sc->maxid);
    sc->seen = p;
    sc->maxid = nm;
  }
  sc->seen[id] = 1;
  return 0;
}

/* Steps of scan_consume for one file.  Each returns 0, 1 when the file
 * is skipped (reported and counted), or -errno. */

/* Opens the batch's write transaction if none is open; the first one
 * also records the dataset root. */
static int scan_txn(struct scan *sc)
{
  int r;

  if (sc->t)
    return 0;
  if ((r = store_txn_begin(sc->s, true, &sc->t)) < 0)
    return r;
  sc->t_begin = time_mono();
  if (!sc->root_done) {
    if ((r = root_check(sc->t, sc->root, true)) < 0)
      return r;
    sc->root_done = true;
  }
  return 0;
}

/* A known file with the same size and mtime: unchanged, or back after
 * being missing. */
static int scan_keep(struct scan *sc, const struct sample *old,
                     uint64_t *id)
{
  int r = 0;

  if (old->flags & SAMPLE_MISSING) {
    struct sample smp = *old;
    smp.flags &= (uint8_t)~SAMPLE_MISSING;
    r = store_sample_put(sc->t, &smp, NULL);
    sc->st->restored++;
  } else {
    sc->st->unchanged++;
  }
  *id = old->id;
  return r;
}

/* A file whose header could not be read: reported and counted. */
static int scan_skip_bad(struct scan *sc, const struct scan_slot *sl,
                         const char *rel)
{
  bool unreadable = !sl->reason && (sl->r == -EACCES || sl->r == -EPERM ||
                                    sl->r == -EIO);
  enum import_skip k = unreadable ? IMPORT_SKIP_UNREADABLE
                                  : IMPORT_SKIP_BAD;
  char msg[300];

  snprintf(msg, sizeof(msg), "%s%s", unreadable ? "unreadable: " : "",
           sl->reason ? sl->reason : strerror(-sl->r));
  report(sc->o, rel, msg);
  sc->st->skipped++;
  sc->st->skip_kind[k]++;
  return 1;
}

/* Imported by its content; a name that says otherwise is named. */
static void scan_note_mismatch(struct scan *sc, const struct scan_slot *sl,
                               const char *rel)
{
  int named = img_format_of_name(rel);
  int real = (int)sl->info.format;
  char msg[160];

  if (named < 0 || named == real)
    return;
  snprintf(msg, sizeof(msg), "named as %s but the content is %s: "
           "imported as %s (served as %s)", img_format_name(named),
           img_format_name(real), img_format_name(real), img_ext(real));
  if (sc->o->note)
    sc->o->note(rel, msg, sc->o->ud);
  else
    report(sc->o, rel, msg);
  sc->st->mismatched++;
}

/* The sample record of a file from its header (old: its record so far,
 * or NULL for a new file). */
static void scan_sample_of(struct sample *smp, const struct scan_slot *sl,
                           const struct sample *old)
{
  memset(smp, 0, sizeof(*smp));
  if (old) {
    *smp = *old;
    smp->flags = 0;
    memset(smp->hash, 0, sizeof(smp->hash));
  }
  smp->size = sl->size;
  smp->mtime_ns = sl->mtime_ns;
  smp->width = sl->info.width;
  smp->height = sl->info.height;
  smp->precision = sl->info.precision;
  smp->components = sl->info.components;
  smp->orientation = sl->info.orientation;
  smp->format = (uint8_t)sl->info.format;
  smp->flags |= (sl->info.progressive ? SAMPLE_PROGRESSIVE : 0) |
                (sl->info.arithmetic ? SAMPLE_ARITHMETIC : 0);
}

/* A new or changed file: its header read again when it changed since the
 * worker looked, then its record written. */
static int scan_put(struct scan *sc, struct scan_slot *sl, const char *rel,
                    const struct sample *old, uint64_t *id)
{
  char name[NAME_STEM_MAX + 1];
  struct sample smp;
  int r;

  if (sl->known)   /* changed since the worker looked: rare */
    scan_file(sc->rootfd, rel, NULL, sl);
  if (sl->r == -ENOMEM)
    return -ENOMEM;
  if (sl->r < 0)
    return scan_skip_bad(sc, sl, rel);
  scan_note_mismatch(sc, sl, rel);
  scan_sample_of(&smp, sl, old);
  if (!old) {
    if (strlen(rel) > STORE_PATH_MAX) {
      report(sc->o, rel, "path too long for the store (more than "
             "500 bytes below the dataset root)");
      sc->st->skipped++;
      return 1;
    }
    if (name_from_relpath(rel, name, sizeof(name)) < 0 ||
        strlen(name) > STORE_PATH_MAX) {
      report(sc->o, rel, "cannot derive a name");
      sc->st->skipped++;
      return 1;
    }
    smp.name = name;
    smp.relpath = rel;
  }
  r = store_sample_put(sc->t, &smp, id);
  if (r == 0 && old)
    sc->st->updated++;
  else if (r == 0)
    sc->st->added++;
  return r;
}

/* Commits the batch when it is large or old enough. */
static int scan_batch(struct scan *sc)
{
  int r;

  if (++sc->pending < BATCH_MAX &&
      !(sc->pending % 64 == 0 && time_mono() - sc->t_begin >= BATCH_SECONDS))
    return 0;
  r = store_txn_commit(sc->t);
  sc->t = NULL;
  sc->pending = 0;
  return r;
}

/* File i of the scan into the store. */
static int scan_one(struct scan *sc, size_t i)
{
  struct scan_slot *sl = &sc->slots[i % sc->nslots];
  const char *rel = sc->paths[i];
  struct sample old;
  uint64_t id = 0;
  bool exists;
  int r = scan_txn(sc);

  if (r < 0)
    return r;
  if (sl->r == -ENOMEM)
    return -ENOMEM;
  exists = sl->r == 0 && store_sample_by_path(sc->t, rel, &old) == 0;
  if (exists && old.size == sl->size && old.mtime_ns == sl->mtime_ns)
    r = scan_keep(sc, &old, &id);
  else
    r = scan_put(sc, sl, rel, exists ? &old : NULL, &id);
  if (r != 0)
    return r;   /* 1: skipped */
  if ((r = mark_seen(sc, id)) < 0)
    return r;
  return scan_batch(sc);
}

static int scan_consume(void *ud, size_t first, size_t count)
{
  struct scan *sc = ud;

  for (size_t i = first; i < first + count; i++) {
    int r = scan_one(sc, i);
    if (r < 0)
      return r;
  }
  progress(sc->o, IMPORT_SCAN, first + count, sc->n, sc->last, false);
  return 0;
}

/* ---- content pass: hash and features, one read of each file ----
 *
 * Collects the samples that lack a content hash or current features, then
 * workers read each file once, hash it (XXH3-128) and decode it at the
 * feature scale (imgcodec.h; jpegcodec keeps one TurboJPEG handle per
 * thread), and the
 * calling thread writes hashes and feature records in batches. */

struct cjob {
  uint64_t id;
  char *rel;
  uint64_t size;
  int64_t mtime_ns;
  bool hash, feat;
};

struct cslot {
  int r;          /* reading the file: < 0 failed, -ESTALE changed */
  int feat_r;     /* decoding: < 0 failed */
  uint8_t hash[16];
  struct imgfeat f;
};

struct wbuf {
  uint8_t *p;
  size_t cap;
};

struct content {
  struct store *s;
  const struct import_opts *o;
  struct import_stats *st;
  int rootfd;
  struct cjob *jobs;
  size_t n;
  struct cslot *slots;
  size_t nslots;
  struct wbuf buf[64];    /* one read buffer per worker */
  struct store_txn *t;
  size_t pending;
  double t_begin;
  enum import_phase phase;
  double *last;
};

#define CONTENT_CHUNK 16
#define CONTENT_WINDOW 64
/* Files above this are mapped rather than read into a buffer. */
#define READ_MAX (64u << 20)

static int read_all(int fd, uint8_t *p, size_t n)
{
  size_t got = 0;

  while (got < n) {
    ssize_t k = pread(fd, p + got, n - got, (off_t)got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return -errno;
    if (k == 0)
      return -ESTALE;   /* shrank under us */
    got += (size_t)k;
  }
  return 0;
}

static void content_file(struct content *c, int w, const struct cjob *j,
                         struct cslot *sl)
{
  struct wbuf *b = &c->buf[w];
  struct stat sb;
  const uint8_t *data = NULL;
  void *map = NULL;
  size_t size;
  int fd;

  sl->r = sl->feat_r = 0;
  fd = openat(c->rootfd, j->rel, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &sb) < 0) {
    sl->r = -errno;
    if (fd >= 0)
      close(fd);
    return;
  }
  if ((uint64_t)sb.st_size != j->size || st_mtime_ns(&sb) != j->mtime_ns) {
    sl->r = -ESTALE;   /* changed since the scan; the next import sees it */
    close(fd);
    return;
  }
  size = (size_t)sb.st_size;
  if (size > READ_MAX) {
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      sl->r = -errno;
      close(fd);
      return;
    }
    data = map;
  } else if (size > 0) {
    if (b->cap < size) {
      size_t nc = size + size / 4;
      uint8_t *p = realloc(b->p, nc);
      if (!p) {
        sl->r = -ENOMEM;
        close(fd);
        return;
      }
      b->p = p;
      b->cap = nc;
    }
    sl->r = read_all(fd, b->p, size);
    data = b->p;
  }
  close(fd);
  if (sl->r == 0 && j->hash) {
    XXH128_hash_t h = XXH3_128bits(size ? data : (const uint8_t *)"", size);
    XXH128_canonicalFromHash((XXH128_canonical_t *)sl->hash, h);
  }
  if (sl->r == 0 && j->feat) {
    struct image im;
    /* Features see the picture as a viewer shows it (orientation
     * applied); JPEG and WebP decode at a reduced scale. */
    sl->feat_r = img_decode(data, size, IMGFEAT_MIN_SHORT, IMG_DECODE_ORIENT,
                            &im, NULL);
    if (sl->feat_r == 0)
      sl->feat_r = imgfeat_compute(&im, &sl->f);
    image_free(&im);
  }
  if (map)
    munmap(map, size);
}

static void content_work(void *ud, int w, size_t first, size_t count)
{
  struct content *c = ud;

  for (size_t i = first; i < first + count; i++)
    content_file(c, w, &c->jobs[i], &c->slots[i % c->nslots]);
}

static int content_consume(void *ud, size_t first, size_t count)
{
  struct content *c = ud;
  int r = 0;

  for (size_t i = first; i < first + count; i++) {
    const struct cjob *j = &c->jobs[i];
    const struct cslot *sl = &c->slots[i % c->nslots];
    struct sample smp;

    if (sl->r == -ENOMEM)
      return -ENOMEM;
    if (sl->r == -ESTALE)
      continue;
    if (sl->r < 0) {
      report(c->o, j->rel, strerror(-sl->r));
      continue;
    }
    if (!c->t) {
      if ((r = store_txn_begin(c->s, true, &c->t)) < 0)
        return r;
      c->t_begin = time_mono();
    }
    if (j->hash && store_sample_get(c->t, j->id, &smp) == 0 &&
        smp.size == j->size && smp.mtime_ns == j->mtime_ns) {
      memcpy(smp.hash, sl->hash, 16);
      smp.flags |= SAMPLE_HASHED;
      r = store_sample_put(c->t, &smp, NULL);
      c->st->hashed++;
    }
    if (r == 0 && j->feat) {
      if (sl->feat_r == -ENOMEM)
        return -ENOMEM;
      if (sl->feat_r < 0) {
        report(c->o, j->rel, sl->feat_r == -EFBIG
               ? "no features: the image is larger than IMG_MAX_PIXELS"
               : "no features: the image data cannot be decoded");
      } else {
        r = featstore_put(c->t, j->id, j->size, j->mtime_ns, &sl->f);
        c->st->featured++;
      }
    }
    if (r < 0)
      return r;
    if (++c->pending >= BATCH_MAX ||
        (c->pending % 16 == 0 && time_mono() - c->t_begin >= BATCH_SECONDS)) {
      r = store_txn_commit(c->t);
      c->t = NULL;
      c->pending = 0;
      if (r < 0)
        return r;
    }
  }
  progress(c->o, c->phase, first + count, c->n, c->last, false);
  return 0;
}

static int content_pass(struct store *s, int rootfd,
                        const struct import_opts *o, struct import_stats *st,
                        double *last)
{
  struct content c = { .s = s, .o = o, .st = st, .rootfd = rootfd,
                       .phase = IMPORT_HASH, .last = last };
  struct store_txn *t = NULL;
  struct store_iter *it = NULL;
  struct sample smp;
  size_t cap = 0;
  uint64_t next = 1;
  int r;

  r = store_txn_begin(s, false, &t);
  if (r == 0)
    r = store_iter_new(t, &it);
  while (r == 0 && (r = store_iter_samples(it, next, &smp)) == 0) {
    struct cjob j = { smp.id, NULL, smp.size, smp.mtime_ns, false, false };
    next = smp.id + 1;
    if (smp.flags & SAMPLE_MISSING)
      continue;
    j.hash = !o->no_hash && !(smp.flags & SAMPLE_HASHED);
    if (!o->no_features) {
      r = featstore_current(t, smp.id, smp.size, smp.mtime_ns);
      if (r < 0)
        break;
      j.feat = r == 0;
      r = 0;
    }
    if (!j.hash && !j.feat)
      continue;
    if (c.n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      struct cjob *p = realloc(c.jobs, nc * sizeof(*p));
      if (!p) {
        r = -ENOMEM;
        break;
      }
      c.jobs = p;
      cap = nc;
    }
    if (!(j.rel = strdup(smp.relpath))) {
      r = -ENOMEM;
      break;
    }
    if (j.feat)
      c.phase = IMPORT_FEATURES;
    c.jobs[c.n++] = j;
  }
  if (r == -ENOENT)
    r = 0;
  store_iter_free(it);
  store_txn_abort(t);
  if (r == 0 && c.n > 0) {
    struct workpool wp = { .n = c.n, .chunk = CONTENT_CHUNK,
                           .window = CONTENT_WINDOW, .nthreads = nthreads(o),
                           .work = content_work, .consume = content_consume,
                           .cancel = o->cancel, .ud = &c };
    c.nslots = CONTENT_CHUNK * CONTENT_WINDOW;
    c.slots = calloc(c.nslots, sizeof(*c.slots));
    r = c.slots ? workpool_run(&wp) : -ENOMEM;
    if (c.t) {
      int k = r < 0 ? (store_txn_abort(c.t), r) : store_txn_commit(c.t);
      r = r < 0 ? r : k;
    }
    if (r == 0)
      progress(o, c.phase, c.n, c.n, last, true);
  }
  for (size_t i = 0; i < c.n; i++)
    free(c.jobs[i].rel);
  for (size_t i = 0; i < ARRAY_SIZE(c.buf); i++)
    free(c.buf[i].p);
  free(c.jobs);
  free(c.slots);
  return r;
}

/* ---- missing pass ---- */

/* Samples not seen in this walk: their file is gone. */
static int mark_missing(struct store *s, const uint8_t *seen, uint64_t maxid,
                        struct import_stats *st)
{
  struct store_txn *t = NULL;
  uint64_t next = 1;
  int r = store_txn_begin(s, true, &t);

  while (r == 0) {
    struct store_iter *it;
    struct sample smp;
    size_t marked = 0;
    r = store_iter_new(t, &it);
    while (r == 0 && marked < BATCH &&
           (r = store_iter_samples(it, next, &smp)) == 0) {
      next = smp.id + 1;
      if ((smp.id < maxid && seen[smp.id]) || (smp.flags & SAMPLE_MISSING))
        continue;
      smp.flags |= SAMPLE_MISSING;
      store_iter_free(it);
      it = NULL;
      r = store_sample_put(t, &smp, NULL);
      st->missing++;
      marked++;
      if (r == 0)
        r = store_iter_new(t, &it);
    }
    store_iter_free(it);
    if (r == -ENOENT) {
      r = store_txn_commit(t);
      t = NULL;
      break;
    }
    if (r == 0) {
      r = store_txn_commit(t);
      t = NULL;
      if (r == 0)
        r = store_txn_begin(s, true, &t);
    }
  }
  store_txn_abort(t);
  return r;
}

const char *import_phase_name(enum import_phase ph)
{
  switch (ph) {
  case IMPORT_SCAN: return "scanning";
  case IMPORT_HASH: return "hashing";
  case IMPORT_FEATURES: return "features";
  case IMPORT_DONE: return "done";
  }
  return "?";
}

/* Walks the dataset root into w->files, sorted; *rootfd is left open on
 * the root (or -1) for the caller to close. */
static int walk_root(struct walk *w, const char *root, int *rootfd)
{
  size_t rootlen = strlen(root);
  struct stat rs;
  int dfd, r = 0;

  memcpy(w->path, root, rootlen + 1);
  *rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  dfd = *rootfd < 0 ? -1 : dup(*rootfd);
  if (dfd < 0)
    return -errno;
  if (fstat(*rootfd, &rs) < 0 ||
      (r = dirset_add(&w->dirs, rs.st_dev, rs.st_ino)) < 0) {
    r = r < 0 ? r : -errno;
    close(dfd);
    return r;
  }
  r = walk_dir(w, dfd, rootlen, rootlen + 1, 0);
  if (r < 0)
    return r;
  /* Sorted order gives the same ids and names on every machine. */
  qsort(w->files.v, w->files.n, sizeof(char *), cmp_str);
  w->st->files = w->files.n;
  return 0;
}

/* The scan pass over the walked files: headers read by workers, records
 * written in batches (scan_consume).  sc's slots and seen map are the
 * caller's to free. */
static int scan_pass(struct scan *sc, struct store *s, struct walk *w,
                     int rootfd, const char *root, double *last)
{
  int r;

  sc->s = s;
  sc->o = w->o;
  sc->st = w->st;
  sc->rootfd = rootfd;
  sc->paths = w->files.v;
  sc->n = w->files.n;
  sc->root = root;
  sc->nslots = SCAN_CHUNK * SCAN_WINDOW;
  sc->slots = calloc(sc->nslots, sizeof(*sc->slots));
  sc->last = last;
  if (!sc->slots)
    return -ENOMEM;
  struct workpool wp = { .n = sc->n, .chunk = SCAN_CHUNK,
                         .window = SCAN_WINDOW, .nthreads = nthreads(w->o),
                         .work = scan_work, .consume = scan_consume,
                         .cancel = w->o->cancel, .ud = sc };
  r = workpool_run(&wp);
  if (sc->t) {
    int c = r < 0 ? (store_txn_abort(sc->t), r) : store_txn_commit(sc->t);
    r = r < 0 ? r : c;
    sc->t = NULL;
  }
  if (r == 0 && !sc->root_done)   /* no file: no batch recorded the root */
    r = set_root(s, root, true);
  return r;
}

int import_dir(struct store *s, const char *root_in,
               const struct import_opts *o, struct import_stats *st)
{
  struct import_opts none = { 0 };
  struct scan sc = { 0 };
  struct walk *w;
  char root[PATH_MAX];
  double last = 0;
  int rootfd = -1, r;

  memset(st, 0, sizeof(*st));
  if (!o)
    o = &none;
  if (!realpath(root_in, root))
    return -errno;
  r = set_root(s, root, false);
  if (r < 0)
    return r;
  w = calloc(1, sizeof(*w));
  if (!w)
    return -ENOMEM;
  w->o = o;
  w->st = st;
  r = walk_root(w, root, &rootfd);
  if (r == 0)
    r = scan_pass(&sc, s, w, rootfd, root, &last);
  if (r < 0)
    goto out;
  progress(o, IMPORT_SCAN, w->files.n, w->files.n, &last, true);
  r = mark_missing(s, sc.seen, sc.maxid, st);
  if (r == 0 && !(o->no_hash && o->no_features))
    r = content_pass(s, rootfd, o, st, &last);
  if (r == 0)
    progress(o, IMPORT_DONE, st->files, st->files, &last, true);
out:
  if (rootfd >= 0)
    close(rootfd);
  free(sc.slots);
  free(sc.seen);
  pv_free(&w->files);
  free(w->dirs.v);
  free(w);
  return r;
}
