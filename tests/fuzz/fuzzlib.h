/* fuzzlib.h - what the libFuzzer harnesses of tests/fuzz/ share: a real
 * store in a private temporary folder with a few samples (so importers
 * have images to match), and a way to hand the fuzz input to parsers that
 * read files.  Each harness is built only with -Dfuzz=true (clang,
 * -fsanitize=fuzzer); scripts/fuzz.sh runs them.  Not thread-safe: a
 * harness runs in one thread.
 */
#ifndef CURATE_FUZZLIB_H
#define CURATE_FUZZLIB_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* nftw */
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define FZ_SAMPLES 4

static char fz_dir[64];

static inline int fz_rm(const char *path, const struct stat *st, int kind,
                        struct FTW *ftw)
{
  (void)st;
  (void)kind;
  (void)ftw;
  remove(path);
  return 0;
}

/* The folder goes when the process exits (libFuzzer and the replay
 * driver both end by exit()); a crash leaves it for the post-mortem. */
static inline void fz_cleanup(void)
{
  nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The harness's folder, created once. */
static inline const char *fz_tmp(void)
{
  if (!fz_dir[0]) {
    snprintf(fz_dir, sizeof(fz_dir), "/tmp/curate-fuzz-XXXXXX");
    if (!mkdtemp(fz_dir))
      abort();
    atexit(fz_cleanup);
  }
  return fz_dir;
}

/* A store with samples img_000000 .. img_000003 (640 x 480), created at
 * the first call. */
static inline struct store *fz_store(void)
{
  static struct store *s;
  struct store_opts o = { .nosync = true };
  struct store_txn *t;
  char dir[128];

  if (s)
    return s;
  snprintf(dir, sizeof(dir), "%s/store", fz_tmp());
  mkdir(dir, 0700);
  if (store_open(dir, &o, &s) < 0 || store_txn_begin(s, true, &t) < 0)
    abort();
  for (int i = 0; i < FZ_SAMPLES; i++) {
    char name[32], rel[40];
    struct sample smp = { .width = 640, .height = 480, .precision = 8,
                          .components = 3, .orientation = 1 };
    snprintf(name, sizeof(name), "img_%06d", i);
    snprintf(rel, sizeof(rel), "img_%06d.jpg", i);
    smp.name = name;
    smp.relpath = rel;
    store_sample_put(t, &smp, NULL);
  }
  if (store_setting_set(t, "root", "/nonexistent") < 0 ||
      store_txn_commit(t) < 0)
    abort();
  return s;
}

/* Writes data to <tmp>/<rel> (creating its folders) and returns the
 * path (static buffer). */
static inline const char *fz_file(const char *rel, const uint8_t *data, size_t n)
{
  static char path[512];
  char *slash;
  int fd;

  snprintf(path, sizeof(path), "%s/%s", fz_tmp(), rel);
  for (slash = strchr(path + strlen(fz_tmp()) + 1, '/'); slash;
       slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    mkdir(path, 0700);
    *slash = '/';
  }
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    abort();
  while (n) {
    ssize_t w = write(fd, data, n);
    if (w <= 0)
      abort();
    data += w;
    n -= (size_t)w;
  }
  close(fd);
  return path;
}

/* <tmp>/<rel> as a path (static buffer). */
static inline const char *fz_path(const char *rel)
{
  static char path[512];
  snprintf(path, sizeof(path), "%s/%s", fz_tmp(), rel);
  return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
