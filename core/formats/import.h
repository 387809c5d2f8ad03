/* import.h - brings a folder of images into a store.
 *
 * Walks the dataset root recursively (hidden files and folders are skipped)
 * for files named as images (.jpg .jpeg .png .webp .tif .tiff .bmp .gif
 * ...), reads each one's header without decoding it (imgfmt.h: the format
 * comes from the bytes; a name that disagrees is reported and the content
 * wins), checks the file is whole, and records the sample.  Directories are
 * walked once each, by (device, inode): a symbolic-link loop ends there.
 * Every entry the walk skips (FIFO, socket, device, dangling link,
 * unreadable, loop) is counted by kind and reported by name.  Re-running
 * imports only new or changed files
 * (size or mtime differ) and marks samples whose file vanished as missing
 * (their labels and tags are kept; a file that comes back is restored).
 * Then one content pass reads each file that needs it once, on worker
 * threads (one per core): its XXH3-128 content hash (samples without one)
 * and its image features (featstore.h; samples without current ones, i.e.
 * new or changed files; decoded at the feature scale).
 *
 * Threads: headers, hashes and decoding run on `threads` workers; all
 * store writes happen on the calling thread, in sorted path order, so
 * sample ids are deterministic and LMDB has one writer (workpool.h).
 * Problem files are reported one line each through `report` (always from
 * the calling thread) and skipped.  Writes are committed in batches (about
 * one per second), each one transaction, so a killed import keeps what it
 * committed and a re-run finishes the job.
 *
 * It does not read labels (see coco.h).
 */
#ifndef CURATE_IMPORT_H
#define CURATE_IMPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store.h"

/* Phases in order: SCAN (walk, stat, headers), then the content pass,
 * reported as FEATURES when it computes features (it also hashes) or as
 * HASH when it only hashes, then DONE.  FEATURES is last in the enum so
 * that the older values keep their numbers. */
enum import_phase { IMPORT_SCAN, IMPORT_HASH, IMPORT_DONE, IMPORT_FEATURES };

struct import_progress {
  enum import_phase phase;
  uint64_t done;   /* files handled in this phase */
  uint64_t total;  /* files known so far (SCAN: grows as the walk goes) */
};

/* Kinds of skipped entries (import_stats.skip_kind). */
enum import_skip {
  IMPORT_SKIP_FIFO,
  IMPORT_SKIP_SOCKET,
  IMPORT_SKIP_DEVICE,
  IMPORT_SKIP_DANGLING,     /* symbolic link to nothing */
  IMPORT_SKIP_UNREADABLE,   /* open or stat refused (EACCES, EIO ...) */
  IMPORT_SKIP_LOOP,         /* directory already walked */
  IMPORT_SKIP_DEEP,         /* deeper than 64 levels */
  IMPORT_SKIP_UNSUPPORTED,  /* .heic, .avif ...: an image we cannot read */
  IMPORT_SKIP_BAD,          /* an image file refused at its header */
  IMPORT_SKIP_NKINDS
};

struct import_stats {
  uint64_t files;      /* image candidates found */
  uint64_t added, updated, unchanged;
  uint64_t skipped;    /* image files refused at their header (also in
                        * skip_kind[IMPORT_SKIP_BAD / _UNREADABLE]) */
  uint64_t missing;    /* samples whose file is gone */
  uint64_t restored;   /* missing samples whose file came back */
  uint64_t hashed;
  uint64_t featured;   /* samples whose features were computed */
  uint64_t reoriented; /* unchanged PNGs whose orientation newer header
                        * rules read differently (also in unchanged) */
  uint64_t ignored;    /* other files (not images) */
  uint64_t mismatched; /* imported files whose name says another format */
  uint64_t skip_kind[IMPORT_SKIP_NKINDS];   /* by kind, walk and headers */
};

struct import_opts {
  bool no_hash;        /* skip content hashes */
  bool no_features;    /* skip image features (featstore.h) */
  int threads;         /* worker threads; 0 = number of CPUs */
  /* Called for each problem file (skipped) with its path relative to the
   * root and a one-line reason. */
  void (*report)(const char *relpath, const char *reason, void *ud);
  /* Called for a file imported with a remark (its name says another
   * format than its content; its image data cannot be decoded, so it has
   * no features); NULL: such remarks go to report. */
  void (*note)(const char *relpath, const char *msg, void *ud);
  /* Called now and then (at most ~10 times a second, and at phase ends). */
  void (*progress)(const struct import_progress *p, void *ud);
  void *ud;
  /* When non-NULL and set to non-zero by another thread, the import stops
   * at the next file and returns -ECANCELED (committed batches stay). */
  const volatile int *cancel;
};

/* Room for a bucket object's version record: "ETAG VERSIONID", an ETag
 * of up to 127 bytes and a version id of up to 1024 (S3's limit). */
#define IMPORT_VERSION_MAX 1280

/* The content hash of the store (XXH3-128, struct sample's hash) of the
 * n bytes at p, in its canonical (big-endian) form. */
void import_hash128(const void *p, size_t n, uint8_t out[16]);
/* Whether the open file fd is still the file the import recorded for s:
 * 0 when its size and modification time are the recorded ones, or when
 * only the time moved (a touch, a copy that kept the bytes) and its bytes
 * still have the recorded content hash (read whole, here, at each call;
 * the mount remembers files it found so, fs/srcfile.c); -ESTALE when it changed
 * (another size, other bytes, or another time without a recorded hash
 * to tell), or -errno of fstat/pread.  A reader given the new bytes
 * under the recorded size, dimensions and boxes would get a cut or padded
 * file, or boxes on another picture; a re-import records the new file.
 * For a folder's files (a bucket's are held to their ETag instead). */
int import_file_current(int fd, const struct sample *s);
/* The same, with the file's state the verdict is about in *st (its fstat,
 * taken before any hash): a caller that meets the same state again (util.h
 * stat_same_state: a write always moves the ctime) may take the file as
 * checked without reading it again.  *st is set whenever the fstat
 * succeeded. */
int import_file_current_st(int fd, const struct sample *s, struct stat *st);
/* s's file in the folder root, opened by dataset_open() (util.h: nothing
 * outside root, a regular file) and checked by import_file_current(): a
 * descriptor the caller owns, or -errno (-EXDEV: it leads out of root;
 * -ESTALE: it changed since the import). */
int import_open_current(const char *root, const struct sample *s);
/* The record namespace (store_rec_*) of a sample's source version, keyed
 * by store_key_u64(sample id); absent for a folder's files. */
#define IMPORT_REC_VERSION "srcver"

/* A file of a source, open for reading. */
struct import_file {
  uint64_t size;
  int64_t mtime_ns;   /* with size, what tells a changed file (see below) */
  int fd;             /* the folder source's descriptor, else -1 */
  void *h;            /* another source's handle */
  /* A version the source wants kept with the sample (a bucket object's
   * ETag, and its version id in a versioned bucket, which the mount's
   * cache and reads use), or "".  The source may set it while the file
   * is read (a version id arrives with the first read); the import takes
   * it after the header pass.  Recorded as the store record
   * IMPORT_REC_VERSION of the sample. */
  char version[IMPORT_VERSION_MAX];
};

/* Where the files of an import come from.  import_dir() walks a folder;
 * a bucket is another source (net/s3src.h).  A source's files are named
 * by their path relative to its root, '/'-separated.
 *
 * mtime_ns is what, with the size, tells the import that a file changed
 * since the last run: a folder gives the modification time; a bucket
 * gives a hash of the object's ETag, so its change detection compares
 * ETag and size.  The callbacks may run on several worker threads at
 * once, each on its own files. */
struct import_source {
  const char *root;   /* recorded in the store (the "root" setting) */
  int nthreads;       /* readers; 0 = one per CPU (import_opts.threads
                         wins when set) */
  size_t head_bytes;  /* the first read of each header; 0 = 16 KiB, the
                         most (one request then covers nearly every
                         header, for sources where a read is a round
                         trip) */
  void *ctx;
  /* Calls add(ud, rel) for every image candidate, in any order; reports
   * and counts (st) what it skips or ignores. */
  int (*list)(const struct import_source *src,
              int (*add)(void *ud, const char *rel), void *ud,
              const struct import_opts *o, struct import_stats *st);
  /* Opens rel: size and mtime_ns filled.  0 or -errno. */
  int (*open)(const struct import_source *src, const char *rel,
              struct import_file *f);
  /* Reads up to n bytes at off; the count (0 at the end) or -errno. */
  long (*pread)(const struct import_source *src, struct import_file *f,
                uint64_t off, void *buf, size_t n);
  void (*close)(const struct import_source *src, struct import_file *f);
};

/* Imports the files of src into store s, as import_dir() does for a
 * folder: the store remembers src->root, and importing another root into
 * it is refused with -EINVAL. */
int import_source_run(struct store *s, const struct import_source *src,
                      const struct import_opts *o, struct import_stats *ret);

/* Imports `root` into store s.  The store remembers its root (setting
 * "root"); importing another folder into it is refused with -EINVAL.
 * Returns 0 or a negative errno (the stats count what was committed). */
int import_dir(struct store *s, const char *root, const struct import_opts *o,
               struct import_stats *ret);

/* Whether a file name says an image format curatefs cannot read (.heic,
 * .avif ...): such files are reported, other non-images ignored. */
bool import_unsupported_name(const char *name);

/* "FIFO (named pipe)", "dangling symbolic link" ... (static strings). */
const char *import_skip_name(enum import_skip k);

/* "scanning", "hashing", "features", "done" (static strings). */
const char *import_phase_name(enum import_phase ph);

/* The dataset root recorded in the store, as an owned string. */
int import_root_get(struct store *s, char **ret);

#endif
