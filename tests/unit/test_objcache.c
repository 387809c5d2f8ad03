/* test_objcache.c - the bounded object cache (core/net/objcache.c) on a
 * real folder: hits and misses, the byte bound with least-recently-used
 * eviction, a fetch of the wrong length cached nowhere, a file cut short
 * (a crash after the rename) replaced, leftovers of a crash in tmp/
 * removed, one download for concurrent misses of one object, the last use
 * kept across a reopen through the files' mtimes, open files evicted
 * last, two caches sharing one folder within one bound, downloads
 * that survive another daemon's cleanup of tmp/ started at any moment,
 * the download of a killed daemon reclaimed by a running one, one ETag in
 * two places cached twice (and the first layout's files dropped), and
 * running out of descriptors told apart from a copy that is gone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>

#include "objcache.h"
#include "testlib.h"

struct src {
  char byte;
  size_t len;
  int calls;
  int delay_ms;
  pthread_mutex_t mu;
};

static int fetch(void *ud, int fd, char *err, size_t errlen)
{
  struct src *s = ud;

  pthread_mutex_lock(&s->mu);
  s->calls++;
  pthread_mutex_unlock(&s->mu);
  if (s->delay_ms)
    usleep((useconds_t)s->delay_ms * 1000);
  if (s->len == (size_t)-1)
    return errf(err, errlen, -ECONNRESET, "dropped");
  /* In small pieces, as a download arrives. */
  for (size_t i = 0; i < s->len; i++)
    if (pwrite(fd, &s->byte, 1, (off_t)i) != 1)
      return -errno;
  return 0;
}

/* The bytes of the files in dir/objects. */
static long long folder_bytes(const char *dir)
{
  char p[512];
  long long n = 0;
  struct dirent *de;
  DIR *d;

  snprintf(p, sizeof(p), "%s/objects", dir);
  if (!(d = opendir(p)))
    return -1;
  while ((de = readdir(d))) {
    struct stat st;
    char f[800];
    snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
    if (de->d_name[0] != '.' && stat(f, &st) == 0)
      n += st.st_size;
  }
  closedir(d);
  return n;
}

/* The path of the cached copy of (id, size). */
static void obj_path(const char *dir, const char *id, uint64_t size,
                     char *p, size_t n)
{
  char name[OBJCACHE_NAME_MAX];

  objcache_name(id, size, name);
  snprintf(p, n, "%s/objects/%s", dir, name);
}

static bool present(const char *dir, const char *id, uint64_t size)
{
  char p[512];

  obj_path(dir, id, size, p, sizeof(p));
  return access(p, F_OK) == 0;
}

static void set_mtime(const char *dir, const char *id, uint64_t size,
                      time_t ago)
{
  char p[512];
  struct timespec ts[2];

  clock_gettime(CLOCK_REALTIME, &ts[0]);
  ts[0].tv_sec -= ago;
  ts[1] = ts[0];
  obj_path(dir, id, size, p, sizeof(p));
  utimensat(AT_FDCWD, p, ts, 0);
}

static int read_all(int fd, char *buf, size_t n)
{
  ssize_t r = pread(fd, buf, n, 0);
  close(fd);
  return (int)r;
}

static struct src mk(char byte, size_t len)
{
  struct src s = { .byte = byte, .len = len };
  pthread_mutex_init(&s.mu, NULL);
  return s;
}

TEST(hit_miss_and_lru_bound)
{
  char dir[256], err[256], b[64];
  struct objcache *c;
  struct objcache_stats st;
  struct src a = mk('a', 40), bb = mk('b', 40), cc = mk('c', 40);
  int fd;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 100, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c, "\"aaaa\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  CHECK_INT_EQ(read_all(fd, b, sizeof(b)), 40);
  CHECK(b[0] == 'a' && b[39] == 'a');
  CHECK_INT_EQ(objcache_get(c, "\"aaaa\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(a.calls, 1);
  CHECK_INT_EQ(objcache_get(c, "\"bbbb\"", 40, fetch, &bb, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  /* a is now more recent than b: the third object evicts b. */
  CHECK_INT_EQ(objcache_get(c, "\"aaaa\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(objcache_get(c, "\"cccc\"", 40, fetch, &cc, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  objcache_stats(c, &st);
  CHECK_INT_EQ(st.bytes, 80);
  CHECK_INT_EQ(st.files, 2);
  CHECK_INT_EQ(st.evictions, 1);
  CHECK_INT_EQ(st.hits, 2);
  CHECK_INT_EQ(st.misses, 3);
  CHECK_INT_EQ(objcache_get(c, "\"aaaa\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(a.calls, 1);
  CHECK_INT_EQ(objcache_get(c, "\"bbbb\"", 40, fetch, &bb, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(bb.calls, 2);   /* evicted, fetched again */
  CHECK_INT_EQ(objcache_get(c, "\"dddd\"", 101, fetch, &a, &fd, err,
                            sizeof(err)), -EFBIG);
  objcache_close(c);
  tl_rm_rf(dir);
}

TEST(wrong_length_and_errors_cache_nothing)
{
  char dir[256], err[256];
  struct objcache *c;
  struct objcache_stats st;
  struct src s = mk('x', 10), bad = mk('y', (size_t)-1);
  int fd = 7;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 1000, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c, "e1", 11, fetch, &s, &fd, err, sizeof(err)),
               -EIO);
  CHECK(strstr(err, "changed") != NULL);
  CHECK_INT_EQ(fd, -1);
  CHECK_INT_EQ(objcache_get(c, "e2", 5, fetch, &bad, &fd, err, sizeof(err)),
               -ECONNRESET);
  objcache_stats(c, &st);
  CHECK_INT_EQ(st.files, 0);
  CHECK_INT_EQ(st.bytes, 0);
  /* Nothing under a final name, nothing left in tmp/. */
  {
    char p[512];
    obj_path(dir, "e1", 11, p, sizeof(p));
    CHECK(access(p, F_OK) != 0);
  }
  CHECK_INT_EQ(objcache_get(c, "e1", 10, fetch, &s, &fd, err, sizeof(err)),
               0);
  close(fd);
  objcache_close(c);
  tl_rm_rf(dir);
}

TEST(reopen_keeps_whole_files_drops_cut_ones)
{
  char dir[256], err[256], p[512];
  struct objcache *c;
  struct objcache_stats st;
  struct src a = mk('a', 30), b = mk('b', 30);
  int fd;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 1000, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c, "\"0a\"", 30, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(objcache_get(c, "\"0b\"", 30, fetch, &b, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  objcache_close(c);
  /* A crash: a half download in tmp/, and a renamed file cut short. */
  snprintf(p, sizeof(p), "%s/tmp/0c.30.1.1", dir);
  fd = open(p, O_WRONLY | O_CREAT, 0600);
  CHECK(fd >= 0 && write(fd, "half", 4) == 4);
  close(fd);
  obj_path(dir, "\"0b\"", 30, p, sizeof(p));
  CHECK_INT_EQ(truncate(p, 12), 0);
  CHECK_INT_EQ(objcache_open(dir, 1000, &c, err, sizeof(err)), 0);
  objcache_stats(c, &st);
  CHECK_INT_EQ(st.files, 1);
  CHECK_INT_EQ(st.bytes, 30);
  snprintf(p, sizeof(p), "%s/tmp/0c.30.1.1", dir);
  CHECK(access(p, F_OK) != 0);
  CHECK_INT_EQ(objcache_get(c, "\"0a\"", 30, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(a.calls, 1);    /* kept across the restart */
  CHECK_INT_EQ(objcache_get(c, "\"0b\"", 30, fetch, &b, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(b.calls, 2);    /* cut short: fetched again */
  objcache_close(c);
  /* A smaller bound on reopen evicts down to it. */
  CHECK_INT_EQ(objcache_open(dir, 40, &c, err, sizeof(err)), 0);
  objcache_stats(c, &st);
  CHECK(st.bytes <= 40);
  objcache_close(c);
  tl_rm_rf(dir);
}

struct job {
  struct objcache *c;
  struct src *s;
  int r;
};

static void *one_get(void *ud)
{
  struct job *j = ud;
  char err[256];
  int fd;

  j->r = objcache_get(j->c, "\"feed\"", 1000, fetch, j->s, &fd, err,
                      sizeof(err));
  if (j->r == 0)
    close(fd);
  return NULL;
}

TEST(concurrent_misses_fetch_once)
{
  char dir[256], err[256];
  struct objcache *c;
  struct src s = mk('z', 1000);
  pthread_t t[8];
  struct job j[8];

  s.delay_ms = 100;
  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 1u << 20, &c, err, sizeof(err)), 0);
  for (int i = 0; i < 8; i++) {
    j[i] = (struct job){ c, &s, -1 };
    pthread_create(&t[i], NULL, one_get, &j[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    CHECK_INT_EQ(j[i].r, 0);
  }
  CHECK_INT_EQ(s.calls, 1);
  objcache_close(c);
  tl_rm_rf(dir);
}

struct churn {
  struct objcache *c;
  int base, fails;
};

/* Distinct objects, a bound of one and a half: every download evicts
 * another thread's; a reader must still get its own file. */
static void *churn_run(void *ud)
{
  struct churn *j = ud;
  char err[256], etag[32];
  struct src s = mk('q', 1000);

  for (int i = 0; i < 200; i++) {
    int fd;
    snprintf(etag, sizeof(etag), "\"%08x\"", (unsigned)(j->base + i));
    if (objcache_get(j->c, etag, 1000, fetch, &s, &fd, err,
                     sizeof(err)) < 0)
      j->fails++;
    else
      close(fd);
  }
  return NULL;
}

TEST(eviction_never_takes_a_readers_fresh_file)
{
  char dir[256], err[256];
  struct objcache *c;
  pthread_t t[4];
  struct churn j[4];

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 1500, &c, err, sizeof(err)), 0);
  for (int i = 0; i < 4; i++) {
    j[i] = (struct churn){ c, i * 1000, 0 };
    pthread_create(&t[i], NULL, churn_run, &j[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    CHECK_INT_EQ(j[i].fails, 0);
  }
  objcache_close(c);
  tl_rm_rf(dir);
}

/* A hit sets the file's mtime (it was older than the touch interval), so
 * after a restart the object read last is evicted last. */
TEST(last_use_survives_restart)
{
  char dir[256], err[256];
  struct objcache *c;
  struct src a = mk('a', 40), b = mk('b', 40), cc = mk('c', 40);
  int fd;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 100, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c, "\"0a\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(objcache_get(c, "\"0b\"", 40, fetch, &b, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  objcache_close(c);
  set_mtime(dir, "\"0a\"", 40, 1000);   /* a used long before b */
  set_mtime(dir, "\"0b\"", 40, 500);
  CHECK_INT_EQ(objcache_open(dir, 100, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c, "\"0a\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);   /* a hit: touched */
  close(fd);
  CHECK_INT_EQ(a.calls, 1);
  objcache_close(c);
  CHECK_INT_EQ(objcache_open(dir, 100, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c, "\"0c\"", 40, fetch, &cc, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK(present(dir, "\"0a\"", 40));    /* read last before the restart */
  CHECK(!present(dir, "\"0b\"", 40));
  objcache_close(c);
  tl_rm_rf(dir);
}

/* An object open for reading is evicted last: the others go first; when
 * only open ones are left, they go too, and their readers still read the
 * whole object. */
TEST(open_files_are_evicted_last)
{
  char dir[256], err[256], got[64];
  struct objcache *c;
  struct objcache_stats st;
  struct src a = mk('a', 40), b = mk('b', 40), cc = mk('c', 40),
             d = mk('d', 40);
  int fa, fb, fd;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 100, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c, "\"0a\"", 40, fetch, &a, &fa, err,
                            sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c, "\"0b\"", 40, fetch, &b, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(objcache_get(c, "\"0c\"", 40, fetch, &cc, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  /* a is the oldest, but open: b went instead. */
  CHECK(present(dir, "\"0a\"", 40) && !present(dir, "\"0b\"", 40));
  CHECK_INT_EQ(objcache_get(c, "\"0b\"", 40, fetch, &b, &fb, err,
                            sizeof(err)), 0);
  /* c was the only closed one. */
  CHECK(present(dir, "\"0a\"", 40) && !present(dir, "\"0c\"", 40));
  CHECK_INT_EQ(objcache_get(c, "\"0d\"", 40, fetch, &d, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  /* All open: the oldest open one went, the bound held. */
  CHECK(!present(dir, "\"0a\"", 40) && present(dir, "\"0b\"", 40));
  objcache_stats(c, &st);
  CHECK(st.bytes <= 100);
  CHECK(folder_bytes(dir) <= 100);
  CHECK_INT_EQ(pread(fa, got, sizeof(got), 0), 40);
  CHECK(got[0] == 'a' && got[39] == 'a');
  close(fa);
  close(fb);
  objcache_close(c);
  tl_rm_rf(dir);
}

/* Two caches (two daemons) on one folder: each counts the other's files,
 * the folder stays within the bound, a file the other holds open is not
 * deleted, and a download the other has in flight survives a reopen. */
TEST(shared_folder_one_bound)
{
  char dir[256], err[256], got[64], p[512];
  struct objcache *c1, *c2, *c3;
  struct objcache_stats st;
  struct src a = mk('a', 40), b = mk('b', 40), cc = mk('c', 40),
             d = mk('d', 40), e = mk('e', 40);
  int fb, fd, held, loose;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 100, &c1, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_open(dir, 100, &c2, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c1, "\"0a\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(objcache_get(c2, "\"0b\"", 40, fetch, &b, &fb, err,
                            sizeof(err)), 0);     /* c2 keeps b open */
  CHECK_INT_EQ(objcache_get(c1, "\"0c\"", 40, fetch, &cc, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK(folder_bytes(dir) <= 100);   /* c1 counted c2's b */
  CHECK(present(dir, "\"0b\"", 40) && !present(dir, "\"0a\"", 40));
  CHECK_INT_EQ(objcache_get(c1, "\"0d\"", 40, fetch, &d, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK(folder_bytes(dir) <= 100);
  CHECK(present(dir, "\"0b\"", 40));      /* open in c2: c passed instead */
  CHECK(!present(dir, "\"0c\"", 40));
  CHECK_INT_EQ(pread(fb, got, sizeof(got), 0), 40);
  CHECK(got[0] == 'b' && got[39] == 'b');
  close(fb);
  /* c2 sees c1's d as a hit, without fetching. */
  CHECK_INT_EQ(objcache_get(c2, "\"0d\"", 40, fetch, &d, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(d.calls, 1);
  /* A download in flight (its file locked) survives a third opener's
   * cleanup of tmp/; a crashed one (unlocked) does not. */
  snprintf(p, sizeof(p), "%s/tmp/0e.40.1.1", dir);
  held = open(p, O_RDWR | O_CREAT, 0600);
  CHECK(held >= 0 && flock(held, LOCK_EX) == 0);
  snprintf(p, sizeof(p), "%s/tmp/0f.40.1.1", dir);
  loose = open(p, O_RDWR | O_CREAT, 0600);
  CHECK(loose >= 0);
  close(loose);
  CHECK_INT_EQ(objcache_open(dir, 100, &c3, err, sizeof(err)), 0);
  CHECK(access(p, F_OK) != 0);
  snprintf(p, sizeof(p), "%s/tmp/0e.40.1.1", dir);
  CHECK(access(p, F_OK) == 0);
  close(held);
  CHECK_INT_EQ(objcache_get(c3, "\"0e\"", 40, fetch, &e, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK(folder_bytes(dir) <= 100);
  objcache_stats(c3, &st);
  CHECK(st.bytes <= 100);
  objcache_close(c3);
  objcache_close(c2);
  objcache_close(c1);
  tl_rm_rf(dir);
}

struct cleaner {
  const char *dir;
  volatile int stop;
};

/* Another daemon starting again and again: each open empties tmp/ of the
 * files nobody holds. */
static void *cleaner_run(void *ud)
{
  struct cleaner *k = ud;
  char err[256];

  while (!k->stop) {
    struct objcache *c;
    if (objcache_open(k->dir, 1 << 20, &c, err, sizeof(err)) == 0)
      objcache_close(c);
  }
  return NULL;
}

TEST(downloads_survive_another_daemons_cleanup)
{
  char dir[256], err[256];
  struct cleaner k = { dir, 0 };
  struct objcache *c;
  pthread_t t;
  int fails = 0;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 1 << 20, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(pthread_create(&t, NULL, cleaner_run, &k), 0);
  /* Each miss creates its download file, then locks it: a cleanup in
   * between must not cost the miss its file. */
  for (int i = 0; i < 1500; i++) {
    struct src a = mk('a', 1);
    char etag[32];
    int fd;
    snprintf(etag, sizeof(etag), "\"%x\"", i);
    if (objcache_get(c, etag, 1, fetch, &a, &fd, err, sizeof(err)) < 0)
      fails++;
    else
      close(fd);
  }
  k.stop = 1;
  pthread_join(t, NULL);
  CHECK_INT_EQ(fails, 0);
  objcache_close(c);
  tl_rm_rf(dir);
}

/* The bytes of the files in dir/tmp. */
static long long tmp_bytes(const char *dir)
{
  char p[512];
  long long n = 0;
  struct dirent *de;
  DIR *d;

  snprintf(p, sizeof(p), "%s/tmp", dir);
  if (!(d = opendir(p)))
    return -1;
  while ((de = readdir(d))) {
    struct stat st;
    char f[800];
    snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
    if (de->d_name[0] != '.' && stat(f, &st) == 0)
      n += st.st_size;
  }
  closedir(d);
  return n;
}

/* Another daemon killed (SIGKILL) in the middle of a download, while
 * this one keeps running: the partial file goes at this one's next miss,
 * not at the next start of a daemon, so the folder stays within its
 * bound; a download still in flight stays. */
TEST(killed_download_reclaimed_while_running)
{
  char dir[256], err[256], dead[512], live[512], x;
  struct objcache *c;
  struct src a = mk('a', 40), b = mk('b', 40);
  int pfd[2], held, fd;
  pid_t pid;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 100, &c, err, sizeof(err)), 0);
  snprintf(dead, sizeof(dead), "%s/tmp/k0.90.77.1", dir);
  snprintf(live, sizeof(live), "%s/tmp/k1.90.78.1", dir);
  CHECK_INT_EQ(pipe(pfd), 0);
  pid = fork();
  if (pid == 0) {
    char junk[60];
    int w = open(dead, O_RDWR | O_CREAT, 0600);
    memset(junk, 'j', sizeof(junk));
    if (w < 0 || flock(w, LOCK_EX) < 0 ||
        write(w, junk, sizeof(junk)) != (ssize_t)sizeof(junk) ||
        write(pfd[1], "x", 1) != 1)
      _exit(1);
    pause();
    _exit(0);
  }
  CHECK(pid > 0);
  CHECK_INT_EQ(read(pfd[0], &x, 1), 1);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(pfd[0]);
  close(pfd[1]);
  held = open(live, O_RDWR | O_CREAT, 0600);
  CHECK(held >= 0 && flock(held, LOCK_EX) == 0);
  CHECK_INT_EQ(write(held, "0123456789", 10), 10);
  CHECK_INT_EQ(tmp_bytes(dir), 70);
  CHECK_INT_EQ(objcache_get(c, "\"0a\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK(access(dead, F_OK) != 0);    /* its writer is gone */
  CHECK(access(live, F_OK) == 0);    /* still written */
  CHECK_INT_EQ(objcache_get(c, "\"0b\"", 40, fetch, &b, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK(folder_bytes(dir) + tmp_bytes(dir) - 10 <= 100);
  close(held);
  objcache_close(c);
  tl_rm_rf(dir);
}

/* Two objects with one ETag and size but other places (two buckets on
 * one shared folder) are two files; a file of the first layout, named by
 * the ETag alone, is removed at open and never served. */
TEST(identity_not_etag_alone)
{
  char dir[256], err[256], p[512], got[64];
  struct objcache *c;
  struct objcache_stats st;
  struct src a = mk('a', 40), b = mk('b', 40);
  int fd, old;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 1000, &c, err, sizeof(err)), 0);
  objcache_close(c);
  /* The first layout: objects/ETAGHEX.SIZE, here with other bytes. */
  snprintf(p, sizeof(p), "%s/objects/0123abcd.40", dir);
  old = open(p, O_WRONLY | O_CREAT, 0600);
  CHECK(old >= 0);
  for (int i = 0; i < 40; i++)
    CHECK_INT_EQ(write(old, "z", 1), 1);
  close(old);
  CHECK_INT_EQ(objcache_open(dir, 1000, &c, err, sizeof(err)), 0);
  CHECK(access(p, F_OK) != 0);
  objcache_stats(c, &st);
  CHECK_INT_EQ(st.bytes, 0);
  CHECK_INT_EQ(objcache_get(c, "http://h:1\nb1\nk\n\n\"0123abcd\"", 40,
                            fetch, &a, &fd, err, sizeof(err)), 0);
  CHECK_INT_EQ(pread(fd, got, sizeof(got), 0), 40);
  CHECK(got[0] == 'a' && got[39] == 'a');
  close(fd);
  CHECK_INT_EQ(objcache_get(c, "http://h:1\nb2\nk\n\n\"0123abcd\"", 40,
                            fetch, &b, &fd, err, sizeof(err)), 0);
  CHECK_INT_EQ(pread(fd, got, sizeof(got), 0), 40);
  CHECK(got[0] == 'b' && got[39] == 'b');
  close(fd);
  CHECK_INT_EQ(a.calls, 1);
  CHECK_INT_EQ(b.calls, 1);
  objcache_close(c);
  tl_rm_rf(dir);
}

/* Out of descriptors when a cached copy is opened: -EMFILE to the
 * caller, nothing fetched, nothing dropped; a hit once fds are free. */
TEST(out_of_descriptors_is_not_gone)
{
  char dir[256], err[256];
  struct objcache *c;
  struct objcache_stats st;
  struct src a = mk('a', 40);
  struct rlimit rl, low;
  int fd, spare[64], nspare = 0;

  CHECK(tl_tmpdir(dir, sizeof(dir), "objcache") == 0);
  CHECK_INT_EQ(objcache_open(dir, 1000, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(objcache_get(c, "\"0a\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  /* A low limit, then every descriptor under it taken. */
  low = rl;
  low.rlim_cur = (rlim_t)dup(0) + 1;
  close((int)low.rlim_cur - 1);
  if (low.rlim_cur < 64)
    low.rlim_cur = 64;
  CHECK_INT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  while (nspare < 64 && (spare[nspare] = dup(0)) >= 0)
    nspare++;
  CHECK(nspare < 64);
  for (int i = 0; i < 3; i++) {
    CHECK_INT_EQ(objcache_get(c, "\"0a\"", 40, fetch, &a, &fd, err,
                              sizeof(err)), -EMFILE);
    CHECK_INT_EQ(fd, -1);
  }
  for (int i = 0; i < nspare; i++)
    close(spare[i]);
  CHECK_INT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  CHECK_INT_EQ(a.calls, 1);
  CHECK(present(dir, "\"0a\"", 40));
  objcache_stats(c, &st);
  CHECK_INT_EQ(st.files, 1);
  CHECK_INT_EQ(st.bytes, 40);
  CHECK_INT_EQ(st.evictions, 0);
  CHECK_INT_EQ(st.misses, 1);
  CHECK_INT_EQ(objcache_get(c, "\"0a\"", 40, fetch, &a, &fd, err,
                            sizeof(err)), 0);
  close(fd);
  CHECK_INT_EQ(a.calls, 1);
  objcache_close(c);
  tl_rm_rf(dir);
}

TEST_MAIN(T(hit_miss_and_lru_bound), T(wrong_length_and_errors_cache_nothing),
          T(reopen_keeps_whole_files_drops_cut_ones),
          T(concurrent_misses_fetch_once),
          T(eviction_never_takes_a_readers_fresh_file),
          T(last_use_survives_restart), T(open_files_are_evicted_last),
          T(shared_folder_one_bound),
          T(downloads_survive_another_daemons_cleanup),
          T(killed_download_reclaimed_while_running),
          T(identity_not_etag_alone), T(out_of_descriptors_is_not_gone))
