/* testlib.h - a tiny test harness for the C suites.
 *
 * A test program is a list of TEST(name) functions run by TEST_MAIN().  Each
 * CHECK_* prints both values and file:line on failure and marks the current
 * test failed; the program exits 1 if any test failed, 0 otherwise.  Each test
 * prints one "ok"/"not ok" line, so a suite's output reads like TAP.
 */
#ifndef CURATE_TESTLIB_H
#define CURATE_TESTLIB_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Monotonic time in seconds. */
static inline double tl_now_s(void)
{
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A stop flag raised after a delay on a thread of its own, as an unmount
 * raises it: pthread_create(&th, NULL, tl_raise_later, &raiser). */
struct tl_raiser {
  int *flag;
  double after_s;
};

static inline void *tl_raise_later(void *arg)
{
  struct tl_raiser *r = arg;
  struct timespec ts = { (time_t)r->after_s,
                         (long)((r->after_s - (double)(time_t)r->after_s) *
                                1e9) };

  nanosleep(&ts, NULL);
  __atomic_store_n(r->flag, 1, __ATOMIC_RELAXED);
  return NULL;
}

/* A fresh directory $TMPDIR/curatefs-<name>-XXXXXX (TMPDIR defaults to
 * /tmp) into buf.  Returns 0 or -errno. */
static inline int tl_tmpdir(char *buf, size_t len, const char *name)
{
  const char *base = getenv("TMPDIR");

  if ((size_t)snprintf(buf, len, "%s/curatefs-%s-XXXXXX",
                       base && *base ? base : "/tmp", name) >= len)
    return -ENAMETOOLONG;
  return mkdtemp(buf) ? 0 : -errno;
}

/* Removes a directory tree of test data (links are not followed). */
static inline void tl_rm_rf(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;

  if (!d)
    return;
  while ((e = readdir(d))) {
    char p[4096];
    struct stat st;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= sizeof(p))
      continue;  /* cannot be a path of ours */
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      tl_rm_rf(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

/* Unused where a program takes only the helpers (a benchmark). */
static int tl_failed __attribute__((unused));   /* current test failed */
static int tl_total_failed __attribute__((unused));
static int tl_count __attribute__((unused));

/* A whole file, malloc'd (owned by the caller; one spare byte, so a
 * 0-byte file is not NULL) with its size in *n.  A file that cannot be
 * read fails the current test and gives NULL. */
static inline uint8_t *tl_slurp(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  struct stat st;
  uint8_t *p = NULL;

  *n = 0;
  if (f && fstat(fileno(f), &st) == 0 && (p = malloc((size_t)st.st_size + 1)) &&
      fread(p, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
    *n = (size_t)st.st_size;
  } else {
    fprintf(stderr, "%s: cannot read\n", path);
    tl_failed = 1;
    free(p);
    p = NULL;
  }
  if (f)
    fclose(f);
  return p;
}

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,     \
              #cond);                                                      \
      tl_failed = 1;                                                       \
    }                                                                      \
  } while (0)

#define CHECK_INT_EQ(a, b)                                                 \
  do {                                                                     \
    long long va_ = (long long)(a), vb_ = (long long)(b);                  \
    if (va_ != vb_) {                                                      \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,  \
              __LINE__, #a, #b, va_, vb_);                                 \
      tl_failed = 1;                                                       \
    }                                                                      \
  } while (0)

#define CHECK_STR_EQ(a, b)                                                 \
  do {                                                                     \
    const char *sa_ = (a), *sb_ = (b);                                     \
    if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                           \
      fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n",        \
              __FILE__, __LINE__, #a, #b, sa_ ? sa_ : "(null)",            \
              sb_ ? sb_ : "(null)");                                       \
      tl_failed = 1;                                                       \
    }                                                                      \
  } while (0)

#define CHECK_NEAR(a, b, eps)                                              \
  do {                                                                     \
    double da_ = (double)(a), db_ = (double)(b);                           \
    if (!(fabs(da_ - db_) <= (eps))) {                                     \
      fprintf(stderr, "%s:%d: %s ~= %s failed: %.9g != %.9g\n", __FILE__,  \
              __LINE__, #a, #b, da_, db_);                                 \
      tl_failed = 1;                                                       \
    }                                                                      \
  } while (0)

typedef void (*tl_fn)(void);
struct tl_case {
  const char *name;
  tl_fn fn;
};

#define TEST(name) static void test_##name(void)
#define T(name) { #name, test_##name }

#define TEST_MAIN(...)                                                     \
  int main(void)                                                           \
  {                                                                        \
    static const struct tl_case cases[] = { __VA_ARGS__ };                 \
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {       \
      tl_failed = 0;                                                       \
      cases[i].fn();                                                       \
      tl_count++;                                                          \
      printf("%s %zu - %s\n", tl_failed ? "not ok" : "ok", i + 1,          \
             cases[i].name);                                               \
      tl_total_failed += tl_failed;                                        \
    }                                                                      \
    printf("# %d tests, %d failed\n", tl_count, tl_total_failed);          \
    return tl_total_failed ? 1 : 0;                                        \
  }

#endif
