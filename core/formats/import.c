/* import.c - the import run over a source (import.h): the candidates in
 * path order, parallel header reads with batched store writes, the missing
 * pass, and the parallel content pass: content hash and image features
 * from one read of each file.  The folder source is import_folder.c.
 *
 * XXH3-128 is the content hash (import_hash.h): it runs at memory speed,
 * and each piece of a file is hashed as soon as it is read, while it is
 * still in the cache, so the hash costs little more than the read.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "featstore.h"
#include "imgfeat.h"
#include "imgverify.h"
#include "imgcodec.h"
#include "imgfmt.h"
#include "import_hash.h"
#include "names.h"
#include "workpool.h"

#define BATCH 2048
/* Scan and content writes commit when a batch has run this long or holds
 * BATCH_MAX files: commits (each an fsync) stay rare on fast imports, and
 * a slow one still shows its progress in the store every second. */
#define BATCH_SECONDS 1.0
#define BATCH_MAX 65536
/* The content pass also commits every CONTENT_BATCH feature records (a
 * hash alone adds a few bytes to a sample: those batches keep the time
 * rule, or small files would cost a commit, two fsyncs, every few
 * milliseconds).  Feature records are large (features and thumbnail,
 * about 5 KB of pages a file), and a
 * commit writes its pages and waits for the disk on the calling thread
 * alone.  Bounding what each commit writes lets every commit but the last
 * run while the workers go on (they can run CONTENT_WINDOW chunks, 1,024
 * files, ahead), and keeps the last one, which nothing overlaps, short:
 * a 2,000-file import of 900 KB pictures spent 30 to 45 ms, a tenth of
 * its time, writing and syncing 11 MB after the last file. */
#define CONTENT_BATCH 512
/* The largest first read of a header (import_source.head_bytes); a
 * format reader asks for whatever lies beyond it (img_src.read). */
#define HEAD_BYTES 16384

int import_pv_push(struct pathvec *pv, const char *s)
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

void import_pv_free(struct pathvec *pv)
{
  for (size_t i = 0; i < pv->n; i++)
    free(pv->v[i]);
  free(pv->v);
}

int import_cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void import_report(const struct import_opts *o, const char *rel,
                   const char *reason)
{
  if (o->report)
    o->report(rel, reason, o->ud);
}

/* A remark on a file that is imported all the same: o->note, or the
 * problem report when the caller takes no notes. */
static void import_note(const struct import_opts *o, const char *rel,
                        const char *msg)
{
  if (o->note)
    o->note(rel, msg, o->ud);
  else
    import_report(o, rel, msg);
}

/* An open file of a source, as imgfmt's reader callback sees it. */
struct src_reader {
  const struct import_source *src;
  struct import_file *f;
};

static long src_read(void *ud, uint64_t off, void *buf, size_t n)
{
  struct src_reader *sr = ud;
  return sr->src->pread(sr->src, sr->f, off, buf, n);
}

/* Reads the header of an open file; fills *info or sets *reason. */
static int read_header(const struct import_source *isrc,
                       struct import_file *f, struct img_info *info,
                       const char **reason)
{
  uint8_t head[HEAD_BYTES];
  struct src_reader sr = { isrc, f };
  uint64_t size = f->size;
  struct img_src src = { head, 0, size, src_read, &sr };
  size_t want = isrc->head_bytes && isrc->head_bytes < sizeof(head)
                ? isrc->head_bytes : sizeof(head);
  long n = size ? src_read(&sr, 0, head, size < want ? (size_t)size : want)
                : 0;

  if (n < 0) {
    /* A changed object (ESTALE) gets its own message in scan_skip_bad. */
    *reason = n == -ESTALE ? NULL : "read error";
    return (int)n;
  }
  src.head_len = (size_t)n;
  if ((uint64_t)n < size && n < (long)want)
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

static int nthreads(const struct import_opts *o,
                    const struct import_source *src)
{
  long n = o->threads > 0 ? o->threads : src->nthreads > 0 ? src->nthreads
           : sysconf(_SC_NPROCESSORS_ONLN);

  return n < 1 ? 1 : n > 64 ? 64 : (int)n;
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
  bool reread;         /* known, but a PNG whose header was read again
                        * under newer orientation rules: reread_o */
  bool reread_failed;  /* that read failed (a refusal is no failure) */
  uint8_t reread_o;
  uint64_t size;
  int64_t mtime_ns;
  struct img_info info;
  char version[IMPORT_VERSION_MAX];   /* import_file.version */
};

struct scan {
  struct store *s;
  const struct import_opts *o;
  struct import_stats *st;
  const struct import_source *src;
  char **paths;
  size_t n;
  struct scan_slot *slots;
  size_t nslots;
  struct store_txn *t;   /* the writer's open transaction, or NULL */
  size_t pending;        /* files in t */
  double t_begin;        /* when t began */
  const char *root;      /* recorded by the first batch (root_check) */
  bool png_recheck;      /* the store's PNG orientation rules are older */
  bool png_recheck_failed;   /* a PNG could not be read again */
  bool root_done;
  uint8_t *seen;         /* sample ids met in this walk */
  uint64_t maxid;
  double *last;
};

#define SCAN_CHUNK 64
#define SCAN_WINDOW 64

/* The version of the rules by which PNG headers give an orientation,
 * recorded in the store (setting PNG_RULES_KEY) by each complete scan: 1
 * (or no record) for eXIf alone, 2 from raw EXIF profiles and XMP too.  A
 * scan of a store recorded under an older version reads the headers of
 * its unchanged PNGs again. */
#define PNG_RULES 2
#define PNG_RULES_KEY "import.png_orientation_rules"

static bool read_failed(int r);

/* rt may be NULL: then the header is always read.  recheck: read the
 * header of an unchanged PNG as well (reread); always for an unchanged
 * PNG that comes back after being missing. */
static void scan_file(const struct import_source *src, const char *rel,
                      struct store_txn *rt, bool recheck,
                      struct scan_slot *sl)
{
  struct import_file f = { .fd = -1 };
  struct sample old;

  memset(sl, 0, sizeof(*sl));
  if ((sl->r = src->open(src, rel, &f)) < 0)
    return;
  sl->size = f.size;
  sl->mtime_ns = f.mtime_ns;
  if (rt && store_sample_by_path(rt, rel, &old) == 0 &&
      old.size == sl->size && old.mtime_ns == sl->mtime_ns) {
    sl->known = true;
    /* A PNG missing when the newer rules were taken was not read then:
     * it is read as it comes back (its orientation may be the older
     * rules'; reading it again costs one header, once). */
    if ((recheck || (old.flags & SAMPLE_MISSING)) &&
        old.format == IMG_PNG) {
      const char *why;
      int rr = read_header(src, &f, &sl->info, &why);
      /* A header that now fails keeps the sample as it was.  Only a read
       * that failed leaves the rules unrecorded (the next import tries
       * again): a file the newer rules refuse gives the same answer at
       * every import, and would have every unchanged PNG read again at
       * each. */
      sl->reread = rr == 0 && sl->info.format == IMG_PNG;
      sl->reread_failed = rr < 0 && (read_failed(rr) || rr == -ENOMEM);
      sl->reread_o = sl->info.orientation;
    }
  } else
    sl->r = read_header(src, &f, &sl->info, &sl->reason);
  /* After the reads: a bucket learns an object's version id from its
   * first read (net/s3src.c). */
  memcpy(sl->version, f.version, sizeof(sl->version));
  src->close(src, &f);
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
    scan_file(sc->src, sc->paths[i], rt, sc->png_recheck,
              &sc->slots[i % sc->nslots]);
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
 * being missing.  A PNG whose header was read again under newer rules
 * takes the orientation they give; its features, computed from the
 * picture turned the old way, go (the content pass computes them anew). */
static int scan_keep(struct scan *sc, const struct scan_slot *sl,
                     const struct sample *old, uint64_t *id)
{
  struct sample smp = *old;
  bool turn = sl->reread && sl->reread_o != old->orientation;
  int r = 0;

  if (sl->reread_failed)
    sc->png_recheck_failed = true;
  if (turn) {
    smp.orientation = sl->reread_o;
    sc->st->reoriented++;
    if ((r = featstore_forget(sc->t, old->id)) < 0)
      return r;
  }
  if (old->flags & SAMPLE_MISSING) {
    smp.flags &= (uint8_t)~SAMPLE_MISSING;
    sc->st->restored++;
  } else {
    sc->st->unchanged++;
  }
  if (turn || (old->flags & SAMPLE_MISSING))
    r = store_sample_put(sc->t, &smp, NULL);
  *id = old->id;
  return r;
}

/* Whether r is a failure to read a file that is there (a dropped
 * connection or a 503 storm past the retries, an I/O error, a file
 * changed during the read), not a verdict on its content or its absence. */
static bool read_failed(int r)
{
  return r == -EIO || r == -ECONNRESET || r == -ECONNABORTED ||
         r == -EPIPE || r == -EAGAIN || r == -ETIMEDOUT || r == -ESTALE ||
         r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ENETUNREACH ||
         r == -EMFILE || r == -ENFILE || r == -EINTR;
}

/* A file whose header could not be read: reported and counted (kept: a
 * known sample stays as it was). */
static int scan_skip_bad(struct scan *sc, const struct scan_slot *sl,
                         const char *rel, bool kept)
{
  bool unreadable = !sl->reason && (sl->r == -EACCES || sl->r == -EPERM ||
                                    sl->r == -EIO);
  enum import_skip k = unreadable ? IMPORT_SKIP_UNREADABLE
                                  : IMPORT_SKIP_BAD;
  char msg[300];

  if (sl->r == -ESTALE && !sl->reason)
    snprintf(msg, sizeof(msg), "changed while it was being imported; the "
             "next import takes it");
  else
    snprintf(msg, sizeof(msg), "%s%s", unreadable ? "unreadable: " : "",
             sl->reason ? sl->reason : strerror(-sl->r));
  if (kept)
    snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "; the sample "
             "is kept as it was, the next import reads it again");
  import_report(sc->o, rel, msg);
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
  import_note(sc->o, rel, msg);
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
    scan_file(sc->src, rel, NULL, false, sl);
  if (sl->r == -ENOMEM)
    return -ENOMEM;
  if (sl->r < 0)
    return scan_skip_bad(sc, sl, rel, false);
  scan_note_mismatch(sc, sl, rel);
  scan_sample_of(&smp, sl, old);
  if (!old) {
    if (strlen(rel) > STORE_PATH_MAX) {
      import_report(sc->o, rel, "path too long for the store (more than "
             "500 bytes below the dataset root)");
      sc->st->skipped++;
      return 1;
    }
    if (name_from_relpath(rel, name, sizeof(name)) < 0 ||
        strlen(name) > STORE_PATH_MAX) {
      import_report(sc->o, rel, "cannot derive a name");
      sc->st->skipped++;
      return 1;
    }
    smp.name = name;
    smp.relpath = rel;
  }
  r = store_sample_put(sc->t, &smp, id);
  if (r == 0 && sl->version[0]) {
    uint8_t key[8];
    store_key_u64(key, *id);
    r = store_rec_put(sc->t, IMPORT_REC_VERSION, key, sizeof(key),
                      sl->version, strlen(sl->version));
  }
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
  if (sl->r < 0 && read_failed(sl->r) &&
      store_sample_by_path(sc->t, rel, &old) == 0) {
    /* The file is listed but its read failed: its sample stays as it
     * was (not marked missing, which would hide it until the next
     * import); the next import reads the file again. */
    scan_skip_bad(sc, sl, rel, true);
    r = mark_seen(sc, old.id);
    return r < 0 ? r : 1;
  }
  exists = sl->r == 0 && store_sample_by_path(sc->t, rel, &old) == 0;
  if (exists && old.size == sl->size && old.mtime_ns == sl->mtime_ns)
    r = scan_keep(sc, sl, &old, &id);
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
 * thread; uncompressed TIFF strips are averaged down piece by piece as
 * they are read and hashed, img_stream_open), and the
 * calling thread writes hashes and feature records in batches. */

struct cjob {
  uint64_t id;
  char *rel;
  uint64_t size;
  int64_t mtime_ns;
  int format;     /* enum img_format, from the scan */
  bool hash, feat;
};

struct cslot {
  int r;          /* reading the file: < 0 failed, -ESTALE changed */
  int feat_r;     /* decoding: < 0 failed */
  uint8_t hash[16];
  struct imgfeat f;
  uint8_t thumb[IMGVERIFY_BYTES];   /* the verification thumbnail */
};

struct wbuf {
  uint8_t *p;
  size_t cap;
};

struct content {
  struct store *s;
  const struct import_opts *o;
  struct import_stats *st;
  const struct import_source *src;
  struct cjob *jobs;
  size_t n;
  struct cslot *slots;
  size_t nslots;
  struct wbuf buf[64];    /* one read buffer per worker */
  struct store_txn *t;
  size_t pending;         /* files in t */
  size_t pending_feat;    /* feature records in t */
  double t_begin;
  enum import_phase phase;
  double *last;
};

#define CONTENT_CHUNK 16
#define CONTENT_WINDOW 64
/* Files above this are read into a buffer of their own, freed after
 * them, not into the worker's buffer, which would keep the largest size
 * for the rest of the import. */
#define READ_MAX (64u << 20)
/* A folder's file is read this much at a time, each piece hashed at once
 * while it sits in the second-level cache the read copied it into (a
 * quarter of a core's L2 on the machines measured), so that the hash
 * does not fetch the file from memory a second time. */
#define READ_PIECE (256u << 10)

/* Reads n bytes into p; with h, hashes them as they come; with st,
 * hands them to the stream decode as well, in the same pass.  A file that
 * ends early (truncated while it is imported) is -ESTALE. */
static int read_all(const struct import_source *src, struct import_file *f,
                    uint8_t *p, size_t n, struct import_hasher *h,
                    struct img_stream *st)
{
  size_t got = 0;

  while (got < n) {
    /* Pieces only from a folder: a bucket's read is a request, and one
     * request per file costs less than several. */
    size_t want = n - got;
    long k;
    if (h && f->fd >= 0 && want > READ_PIECE)
      want = READ_PIECE;
    k = src->pread(src, f, got, p + got, want);
    if (k < 0)
      return (int)k;
    if (k == 0)
      return -ESTALE;   /* shrank under us */
    if (h)
      import_hasher_add(h, p + got, (size_t)k);
    got += (size_t)k;
    if (st)
      img_stream_data(st, p, got);
  }
  return 0;
}

/* The worker's buffer with room for n bytes.  On huge pages (huge_alloc):
 * its first fill costs a fault or two, not one per 4 KiB.  Nothing in it
 * is kept from file to file. */
static int wbuf_reserve(struct wbuf *b, size_t n)
{
  if (b->cap < n) {
    size_t nc = n + n / 4;
    uint8_t *p = huge_alloc(nc);
    if (!p)
      return -ENOMEM;
    huge_free(b->p, b->cap);
    b->p = p;
    b->cap = nc;
  }
  return 0;
}

/* The hash of a folder's file that is not decoded, through one piece of
 * the worker's buffer: no copy of the whole file. */
static int hash_pieces(const struct import_source *src, struct import_file *f,
                       struct wbuf *b, uint8_t *hash)
{
  struct import_hasher h;
  uint64_t off = 0;
  int r;

  if ((r = wbuf_reserve(b, READ_PIECE)) < 0)
    return r;
  import_hasher_begin(&h);
  while (off < f->size) {
    size_t want = f->size - off < READ_PIECE ? (size_t)(f->size - off)
                                             : READ_PIECE;
    long k = src->pread(src, f, off, b->p, want);
    if (k < 0)
      return (int)k;
    if (k == 0)
      return -ESTALE;   /* shrank under us */
    import_hasher_add(&h, b->p, (size_t)k);
    off += (uint64_t)k;
  }
  import_hasher_end(&h, hash);
  return 0;
}

/* The whole of an open file, read into the worker's buffer or, when
 * large, a buffer of its own (*own, huge_alloc(): for the caller to
 * huge_free), and never mapped: a file truncated while it is read gives
 * -ESTALE, where a mapping would kill the process with SIGBUS.  With
 * hash, its content hash is computed on the way; with st, the stream
 * decode gets each piece too (read in pieces only when hashing).  Without
 * want_data (a hash alone) a large file of a folder is read a piece at a
 * time and *data stays NULL (a bucket's object comes in one request). */
static int content_data(const struct import_source *src,
                        struct import_file *f, struct wbuf *b, bool want_data,
                        const uint8_t **data, uint8_t **own, uint8_t *hash,
                        struct img_stream *st)
{
  struct import_hasher h;
  size_t size = (size_t)f->size;
  uint8_t *p;
  int r;

  *data = NULL;
  *own = NULL;
  if (size > READ_MAX && !want_data && f->fd >= 0)
    return hash ? hash_pieces(src, f, b, hash) : 0;
  if (size == 0) {
    if (hash)
      import_hash128("", 0, hash);
    return 0;
  }
  if (size > READ_MAX) {
    if (!(p = *own = huge_alloc(size)))
      return -ENOMEM;
  } else {
    if ((r = wbuf_reserve(b, size)) < 0)
      return r;
    p = b->p;
  }
  *data = p;
  if (hash)
    import_hasher_begin(&h);
  r = read_all(src, f, p, size, hash ? &h : NULL, st);
  if (r == 0 && hash)
    import_hasher_end(&h, hash);
  return r;
}

/* A stream decode for the file when it pays: the features are wanted,
 * the format streams, and the file is read from a folder in hashed
 * pieces into the buffer (a bucket's object comes in one request, and a
 * large file has a buffer of its own).  NULL otherwise, or when this
 * file's layout does not stream: it is then decoded whole. */
static struct img_stream *content_stream(const struct content *c,
                                         const struct cjob *j,
                                         struct import_file *f)
{
  struct src_reader sr = { c->src, f };
  struct img_stream *st = NULL;

  if (!j->feat || !j->hash || f->fd < 0 || f->size == 0 ||
      f->size > READ_MAX || !img_stream_format(j->format))
    return NULL;
  if (img_stream_open(f->size, src_read, &sr, IMGFEAT_MIN_SHORT,
                      IMG_DECODE_ORIENT, &st) != 0)
    return NULL;
  return st;
}

static void content_file(struct content *c, int w, const struct cjob *j,
                         struct cslot *sl)
{
  struct import_file f = { .fd = -1 };
  struct img_stream *st;
  const uint8_t *data = NULL;
  uint8_t *own = NULL;
  size_t size;

  sl->r = sl->feat_r = 0;
  if ((sl->r = c->src->open(c->src, j->rel, &f)) < 0)
    return;
  if (f.size != j->size || f.mtime_ns != j->mtime_ns) {
    sl->r = -ESTALE;   /* changed since the scan; the next import sees it */
    c->src->close(c->src, &f);
    return;
  }
  size = (size_t)f.size;
  st = content_stream(c, j, &f);
  sl->r = content_data(c->src, &f, &c->buf[w], j->feat, &data, &own,
                       j->hash ? sl->hash : NULL, st);
  c->src->close(c->src, &f);
  if (sl->r == 0 && j->feat) {
    struct image im;
    int box[4];
    /* Features see the picture as a viewer shows it (orientation
     * applied); JPEG and WebP decode at a reduced scale. */
    sl->feat_r = st ? img_stream_end(st, data, size, &im)
                    : img_decode(data, size, IMGFEAT_MIN_SHORT,
                                 IMG_DECODE_ORIENT, &im, NULL);
    st = NULL;
    if (sl->feat_r == 0)
      sl->feat_r = imgfeat_compute_box(&im, &sl->f, box);
    /* The verification thumbnail (imgverify.h) of the same decode: its
     * content box, as the features saw it. */
    if (sl->feat_r == 0)
      sl->feat_r = imgverify_thumb(&im, box[0], box[1], box[2], box[3],
                                   sl->thumb);
    image_free(&im);
  }
  img_stream_free(st);   /* not ended: the read failed */
  if (own)
    huge_free(own, size);
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
      import_report(c->o, j->rel, strerror(-sl->r));
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
        /* The sample is imported (from its header), only without
         * features: a note, not a skipped file. */
        import_note(c->o, j->rel, sl->feat_r == -EFBIG
               ? "no features: the image is larger than IMG_MAX_PIXELS"
               : sl->feat_r == -ELIBACC
               ? "no features: its decoder library cannot be loaded"
               : "no features: the image data cannot be decoded");
      } else {
        r = featstore_put(c->t, j->id, j->size, j->mtime_ns, &sl->f);
        if (r == 0)
          r = featstore_put_thumb(c->t, j->id, sl->thumb);
        c->st->featured++;
        c->pending_feat++;
      }
    }
    if (r < 0)
      return r;
    if (++c->pending >= BATCH_MAX || c->pending_feat >= CONTENT_BATCH ||
        (c->pending % 16 == 0 && time_mono() - c->t_begin >= BATCH_SECONDS)) {
      r = store_txn_commit(c->t);
      c->t = NULL;
      c->pending = c->pending_feat = 0;
      if (r < 0)
        return r;
    }
  }
  progress(c->o, c->phase, first + count, c->n, c->last, false);
  return 0;
}

static int content_pass(struct store *s, const struct import_source *src,
                        const struct import_opts *o, struct import_stats *st,
                        double *last)
{
  struct content c = { .s = s, .o = o, .st = st, .src = src,
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
    struct cjob j = { smp.id, NULL, smp.size, smp.mtime_ns, smp.format,
                      false, false };
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
                           .window = CONTENT_WINDOW, .nthreads = nthreads(o, src),
                           .work = content_work, .consume = content_consume,
                           .cancel = o->cancel, .ud = &c };
    /* Slots on huge pages: each file writes a fresh one (4 KB of
     * features and thumbnail), a page fault each on small pages. */
    c.nslots = CONTENT_CHUNK * CONTENT_WINDOW;
    c.slots = huge_alloc(c.nslots * sizeof(*c.slots));
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
    huge_free(c.buf[i].p, c.buf[i].cap);
  free(c.jobs);
  huge_free(c.slots, c.nslots * sizeof(*c.slots));
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

/* ---- the run ---- */

static int add_path(void *ud, const char *rel)
{
  return import_pv_push(ud, rel);
}

/* The source's candidates into *files, sorted: sorted order gives the
 * same ids and names on every machine. */
static int list_files(const struct import_source *src,
                      const struct import_opts *o, struct import_stats *st,
                      struct pathvec *files)
{
  int r = src->list(src, add_path, files, o, st);

  if (r < 0)
    return r;
  if (files->n > 1)
    qsort(files->v, files->n, sizeof(char *), import_cmp_str);
  st->files = files->n;
  return 0;
}

/* Whether the store's PNG headers were read under rules older than
 * PNG_RULES. */
static int png_rules_old(struct store *s, bool *old)
{
  struct store_txn *t;
  char *v = NULL;
  int r;

  if ((r = store_txn_begin(s, false, &t)) < 0)
    return r;
  r = store_setting_get(t, PNG_RULES_KEY, &v);
  store_txn_abort(t);
  if (r < 0 && r != -ENOENT)
    return r;
  *old = !v || atoi(v) < PNG_RULES;
  free(v);
  return 0;
}

/* Records PNG_RULES after a scan that read every unchanged PNG again;
 * after one where a read failed, the next scan reads them all again. */
static int png_rules_record(struct store *s)
{
  struct store_txn *t;
  char v[16];
  int r;

  snprintf(v, sizeof(v), "%d", PNG_RULES);
  if ((r = store_txn_begin(s, true, &t)) < 0)
    return r;
  if ((r = store_setting_set(t, PNG_RULES_KEY, v)) < 0) {
    store_txn_abort(t);
    return r;
  }
  return store_txn_commit(t);
}

/* The scan pass over the listed files: headers read by workers, records
 * written in batches (scan_consume).  sc's slots and seen map are the
 * caller's to free. */
static int scan_pass(struct scan *sc, struct store *s,
                     const struct import_source *src,
                     const struct import_opts *o, struct import_stats *st,
                     struct pathvec *files, double *last)
{
  int r;

  sc->s = s;
  sc->o = o;
  sc->st = st;
  sc->src = src;
  sc->paths = files->v;
  sc->n = files->n;
  sc->root = src->root;
  sc->nslots = SCAN_CHUNK * SCAN_WINDOW;
  sc->slots = huge_alloc(sc->nslots * sizeof(*sc->slots));   /* as c.slots */
  sc->last = last;
  if (!sc->slots)
    return -ENOMEM;
  if ((r = png_rules_old(s, &sc->png_recheck)) < 0)
    return r;
  struct workpool wp = { .n = sc->n, .chunk = SCAN_CHUNK,
                         .window = SCAN_WINDOW,
                         .nthreads = nthreads(sc->o, sc->src),
                         .work = scan_work, .consume = scan_consume,
                         .cancel = o->cancel, .ud = sc };
  r = workpool_run(&wp);
  if (sc->t) {
    int c = r < 0 ? (store_txn_abort(sc->t), r) : store_txn_commit(sc->t);
    r = r < 0 ? r : c;
    sc->t = NULL;
  }
  if (r == 0 && !sc->root_done)   /* no file: no batch recorded the root */
    r = set_root(s, src->root, true);
  if (r == 0 && sc->png_recheck && !sc->png_recheck_failed)
    r = png_rules_record(s);
  return r;
}

int import_source_run(struct store *s, const struct import_source *src,
                      const struct import_opts *o, struct import_stats *st)
{
  struct import_opts none = { 0 };
  struct pathvec files = { 0 };
  struct scan sc = { 0 };
  double last = 0;
  int r;

  memset(st, 0, sizeof(*st));
  if (!o)
    o = &none;
  r = set_root(s, src->root, false);
  if (r == 0)
    r = list_files(src, o, st, &files);
  if (r == 0)
    r = scan_pass(&sc, s, src, o, st, &files, &last);
  if (r == 0) {
    progress(o, IMPORT_SCAN, files.n, files.n, &last, true);
    r = mark_missing(s, sc.seen, sc.maxid, st);
  }
  if (r == 0 && !(o->no_hash && o->no_features))
    r = content_pass(s, src, o, st, &last);
  if (r == 0)
    progress(o, IMPORT_DONE, st->files, st->files, &last, true);
  huge_free(sc.slots, sc.nslots * sizeof(*sc.slots));
  free(sc.seen);
  import_pv_free(&files);
  return r;
}
