/* import.c - folder walk, header reads, batched store writes and the
 * parallel content-hash pass (see import.h).
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "jpeghdr.h"
#include "names.h"

#define BATCH 2048
#define HEAD_BYTES 16384
#define MAX_HEADER (4u << 20)

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

static const char *const jpeg_exts[] = { ".jpg", ".jpeg", ".jpe", ".jfif",
                                         NULL };
static const char *const other_image_exts[] = {
  ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".avif", NULL };

struct walk {
  struct pathvec jpegs;
  const struct import_opts *o;
  uint64_t ignored;
  char path[PATH_MAX];
};

static void report(const struct import_opts *o, const char *rel,
                   const char *reason)
{
  if (o->report)
    o->report(rel, reason, o->ud);
}

/* Recursive walk below w->path (relative part starts at rel_off). */
static int walk_dir(struct walk *w, int dfd, size_t len, size_t rel_off,
                    int depth)
{
  DIR *d;
  struct dirent *e;
  int r = 0;

  if (depth > 64)
    return 0;
  d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return -errno;
  }
  while (r == 0 && (e = readdir(d))) {
    size_t nl = strlen(e->d_name);
    unsigned char type = e->d_type;

    if (e->d_name[0] == '.')
      continue;  /* hidden files, ".", ".." and our own store folders */
    if (len + 1 + nl >= sizeof(w->path))
      continue;
    w->path[len] = '/';
    memcpy(w->path + len + 1, e->d_name, nl + 1);
    if (type == DT_UNKNOWN || type == DT_LNK) {
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, 0) < 0)
        continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG
                                                                 : DT_UNKNOWN;
    }
    if (type == DT_DIR) {
      int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY);
      if (sub >= 0)
        r = walk_dir(w, sub, len + 1 + nl, rel_off, depth + 1);
    } else if (type == DT_REG) {
      const char *rel = w->path + rel_off;
      if (has_ext(e->d_name, jpeg_exts))
        r = pv_push(&w->jpegs, rel);
      else if (has_ext(e->d_name, other_image_exts))
        report(w->o, rel, "not a JPEG file (only JPEG images are imported)");
      else
        w->ignored++;
    }
    w->path[len] = '\0';
  }
  closedir(d);
  return r;
}

/* Reads the header of an open file; fills *info or sets *reason. */
static int read_header(int fd, uint64_t size, struct jpeg_info *info,
                       const char **reason)
{
  uint8_t stackbuf[HEAD_BYTES], *p = stackbuf, *heap = NULL;
  size_t want = HEAD_BYTES, need = 0;
  ssize_t n;
  int r;

  for (;;) {
    n = pread(fd, p, want, 0);
    if (n < 0) {
      r = -errno;
      *reason = "read error";
      break;
    }
    r = jpeg_header_parse(p, (size_t)n, info, &need, reason);
    if (r != -ENODATA)
      break;
    if ((size_t)n < want || want >= MAX_HEADER) {
      *reason = (size_t)n < want ? "truncated: file ends inside the header"
                                 : "header larger than 4 MiB";
      r = -EBADMSG;
      break;
    }
    want = need > want ? need : want * 2;
    if (want > MAX_HEADER)
      want = MAX_HEADER;
    free(heap);
    heap = malloc(want);
    if (!heap) {
      r = -ENOMEM;
      *reason = "out of memory";
      break;
    }
    p = heap;
  }
  if (r == 0) {
    uint8_t tail[64];
    size_t tn = size < sizeof(tail) ? (size_t)size : sizeof(tail);
    n = pread(fd, tail, tn, (off_t)(size - tn));
    if (n != (ssize_t)tn) {
      *reason = "read error";
      r = -EIO;
    } else if (!jpeg_tail_has_eoi(tail, tn)) {
      /* Rare: data after EOI, or a cut file.  Look through the scans. */
      size_t sz = (size_t)size - info->scan_offset;
      void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m == MAP_FAILED) {
        *reason = "read error";
        r = -EIO;
      } else {
        if (!jpeg_scan_has_eoi((const uint8_t *)m + info->scan_offset, sz)) {
          *reason = "truncated: no end-of-image marker";
          r = -EBADMSG;
        }
        munmap(m, (size_t)size);
      }
    }
  }
  free(heap);
  return r;
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

static int set_root(struct store *s, const char *root)
{
  struct store_txn *t;
  char *cur = NULL;
  int r = store_txn_begin(s, true, &t);

  if (r < 0)
    return r;
  r = store_setting_get(t, "root", &cur);
  if (r == -ENOENT) {
    r = store_setting_set(t, "root", root);
    if (r == 0)
      return store_txn_commit(t);
  } else if (r == 0 && strcmp(cur, root) != 0) {
    log_msg(LOG_LVL_ERROR, "this store belongs to the dataset at '%s'", cur);
    r = -EINVAL;
  }
  free(cur);
  store_txn_abort(t);
  return r;
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

/* ---- hash pass ---- */

struct hash_job {
  uint64_t id;
  char *path;        /* absolute */
  uint8_t hash[16];
  int r;
};

struct hash_pool {
  struct hash_job *jobs;
  size_t n;
  size_t next;       /* next job to take */
  size_t done;
  pthread_mutex_t mu;
};

static int hash_file(const char *path, uint8_t out[16])
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  XXH128_hash_t h;
  void *m;

  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) < 0) {
    close(fd);
    return -errno;
  }
  if (st.st_size == 0) {
    h = XXH3_128bits("", 0);
  } else {
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      close(fd);
      return -errno;
    }
    madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
    h = XXH3_128bits(m, (size_t)st.st_size);
    munmap(m, (size_t)st.st_size);
  }
  close(fd);
  XXH128_canonicalFromHash((XXH128_canonical_t *)out, h);
  return 0;
}

static void *hash_worker(void *arg)
{
  struct hash_pool *p = arg;

  for (;;) {
    size_t i;
    pthread_mutex_lock(&p->mu);
    i = p->next++;
    pthread_mutex_unlock(&p->mu);
    if (i >= p->n)
      break;
    p->jobs[i].r = hash_file(p->jobs[i].path, p->jobs[i].hash);
    pthread_mutex_lock(&p->mu);
    p->done++;
    pthread_mutex_unlock(&p->mu);
  }
  return NULL;
}

static int hash_batch(struct store *s, struct hash_job *jobs, size_t n,
                      int threads, struct import_stats *st)
{
  struct hash_pool pool = { jobs, n, 0, 0, PTHREAD_MUTEX_INITIALIZER };
  pthread_t tid[16];
  int nt = threads < 1 ? 1 : threads > 16 ? 16 : threads, started = 0;
  struct store_txn *t;
  int r;

  for (int i = 1; i < nt; i++)
    if (pthread_create(&tid[started], NULL, hash_worker, &pool) == 0)
      started++;
  hash_worker(&pool);
  for (int i = 0; i < started; i++)
    pthread_join(tid[i], NULL);
  r = store_txn_begin(s, true, &t);
  if (r < 0)
    return r;
  for (size_t i = 0; i < n; i++) {
    struct sample smp;
    if (jobs[i].r < 0 || store_sample_get(t, jobs[i].id, &smp) < 0)
      continue;
    memcpy(smp.hash, jobs[i].hash, 16);
    smp.flags |= SAMPLE_HASHED;
    store_sample_put(t, &smp, NULL);
    st->hashed++;
  }
  return store_txn_commit(t);
}

static int hash_pass(struct store *s, const char *root,
                     const struct import_opts *o, struct import_stats *st,
                     double *last)
{
  struct store_txn *t = NULL;
  struct store_iter *it = NULL;
  struct hash_job *jobs = NULL;
  size_t n = 0, cap = 0, done = 0;
  uint64_t next = 1;
  struct sample smp;
  int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  int r;

  /* Collect the samples that need a hash first, then hash in batches. */
  r = store_txn_begin(s, false, &t);
  if (r == 0)
    r = store_iter_new(t, &it);
  while (r == 0 && (r = store_iter_samples(it, next, &smp)) == 0) {
    next = smp.id + 1;
    if (smp.flags & (SAMPLE_HASHED | SAMPLE_MISSING))
      continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      struct hash_job *p = realloc(jobs, nc * sizeof(*p));
      if (!p) {
        r = -ENOMEM;
        break;
      }
      jobs = p;
      cap = nc;
    }
    jobs[n].id = smp.id;
    jobs[n].r = 0;
    jobs[n].path = path_join(root, smp.relpath);
    if (!jobs[n].path) {
      r = -ENOMEM;
      break;
    }
    n++;
  }
  if (r == -ENOENT)
    r = 0;
  store_iter_free(it);
  store_txn_abort(t);
  for (size_t i = 0; r == 0 && i < n; i += BATCH) {
    size_t m = n - i < BATCH ? n - i : BATCH;
    if (o->cancel && *o->cancel) {
      r = -ECANCELED;
      break;
    }
    r = hash_batch(s, jobs + i, m, threads, st);
    done += m;
    progress(o, IMPORT_HASH, done, n, last, false);
  }
  for (size_t i = 0; i < n; i++)
    free(jobs[i].path);
  free(jobs);
  return r;
}

/* ---- scan pass ---- */

int import_dir(struct store *s, const char *root_in, const struct import_opts *o,
               struct import_stats *st)
{
  struct import_opts none = { 0 };
  struct walk *w;
  struct store_txn *t = NULL;
  uint8_t *seen = NULL;
  uint64_t maxid = 0, next;
  char root[PATH_MAX];
  double last = 0;
  size_t rootlen, pending = 0;
  int dfd, r;

  memset(st, 0, sizeof(*st));
  if (!o)
    o = &none;
  if (!realpath(root_in, root))
    return -errno;
  r = set_root(s, root);
  if (r < 0)
    return r;
  w = calloc(1, sizeof(*w));
  if (!w)
    return -ENOMEM;
  w->o = o;
  rootlen = strlen(root);
  memcpy(w->path, root, rootlen + 1);
  dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    free(w);
    return -errno;
  }
  r = walk_dir(w, dfd, rootlen, rootlen + 1, 0);
  if (r < 0)
    goto out;
  /* Sorted order gives the same ids and names on every machine. */
  qsort(w->jpegs.v, w->jpegs.n, sizeof(char *), cmp_str);
  st->files = w->jpegs.n;
  st->ignored = w->ignored;

  for (size_t i = 0; i < w->jpegs.n; i++) {
    const char *rel = w->jpegs.v[i];
    char *abs = path_join(root, rel);
    struct sample old, smp;
    struct jpeg_info info;
    const char *reason = NULL;
    struct stat sb;
    bool exists;
    char name[NAME_STEM_MAX + 1];
    uint64_t id;
    int fd;

    if (!abs) {
      r = -ENOMEM;
      break;
    }
    if (o->cancel && *o->cancel) {
      free(abs);
      r = -ECANCELED;
      break;
    }
    if (!t) {
      r = store_txn_begin(s, true, &t);
      if (r < 0) {
        free(abs);
        break;
      }
    }
    fd = open(abs, O_RDONLY | O_CLOEXEC);
    free(abs);
    if (fd < 0 || fstat(fd, &sb) < 0) {
      report(o, rel, strerror(errno));
      if (fd >= 0)
        close(fd);
      st->skipped++;
      continue;
    }
    exists = store_sample_by_path(t, rel, &old) == 0;
    if (exists && old.size == (uint64_t)sb.st_size &&
        old.mtime_ns == (int64_t)sb.st_mtim.tv_sec * 1000000000LL +
                            sb.st_mtim.tv_nsec) {
      close(fd);
      if (old.flags & SAMPLE_MISSING) {
        smp = old;
        smp.flags &= (uint8_t)~SAMPLE_MISSING;
        r = store_sample_put(t, &smp, NULL);
        st->restored++;
      } else {
        st->unchanged++;
      }
      id = old.id;
      goto mark_seen;
    }
    r = read_header(fd, (uint64_t)sb.st_size, &info, &reason);
    close(fd);
    if (r == -ENOMEM)
      break;
    if (r < 0) {
      report(o, rel, reason ? reason : strerror(-r));
      st->skipped++;
      r = 0;
      continue;
    }
    memset(&smp, 0, sizeof(smp));
    if (exists) {
      smp = old;
      smp.flags = 0;
      memset(smp.hash, 0, sizeof(smp.hash));
    }
    smp.size = (uint64_t)sb.st_size;
    smp.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000LL +
                   sb.st_mtim.tv_nsec;
    smp.width = info.width;
    smp.height = info.height;
    smp.precision = info.precision;
    smp.components = info.components;
    smp.orientation = info.orientation;
    smp.flags |= (info.progressive ? SAMPLE_PROGRESSIVE : 0) |
                 (info.arithmetic ? SAMPLE_ARITHMETIC : 0);
    if (!exists) {
      if (name_from_relpath(rel, name, sizeof(name)) < 0) {
        report(o, rel, "cannot derive a name");
        st->skipped++;
        continue;
      }
      smp.name = name;
      smp.relpath = rel;
    }
    r = store_sample_put(t, &smp, &id);
    if (r < 0)
      break;
    if (exists)
      st->updated++;
    else
      st->added++;
  mark_seen:
    if (r < 0)
      break;
    if (id >= maxid) {
      uint64_t nm = (id + 1) * 2;
      uint8_t *p = realloc(seen, nm);
      if (!p) {
        r = -ENOMEM;
        break;
      }
      memset(p + maxid, 0, nm - maxid);
      seen = p;
      maxid = nm;
    }
    seen[id] = 1;
    if (++pending >= BATCH) {
      r = store_txn_commit(t);
      t = NULL;
      pending = 0;
      if (r < 0)
        break;
    }
    progress(o, IMPORT_SCAN, i + 1, w->jpegs.n, &last, false);
  }
  if (t) {
    int c = r < 0 ? (store_txn_abort(t), r) : store_txn_commit(t);
    r = r < 0 ? r : c;
    t = NULL;
  }
  if (r < 0)
    goto out;
  progress(o, IMPORT_SCAN, w->jpegs.n, w->jpegs.n, &last, true);

  /* Samples not seen in this walk: their file is gone. */
  r = store_txn_begin(s, true, &t);
  next = 1;
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
  if (t) {
    store_txn_abort(t);
    t = NULL;
  }
  if (r == 0 && !o->no_hash)
    r = hash_pass(s, root, o, st, &last);
  if (r == 0)
    progress(o, IMPORT_DONE, st->files, st->files, &last, true);
out:
  free(seen);
  pv_free(&w->jpegs);
  free(w);
  return r;
}
