/* test_objcache.c - the bounded object cache (core/net/objcache.c) on a
 * real folder: hits and misses, the byte bound with least-recently-used
 * eviction, a fetch of the wrong length cached nowhere, a file cut short
 * (a crash after the rename) replaced, leftovers of a crash in tmp/
 * removed, and one download for concurrent misses of one object.
 */
#include <fcntl.h>
#include <pthread.h>

#include "objcache.h"
#include "testlib.h"

struct src {
  char byte;
  size_t len;
  int calls;
  int delay_ms;
  pthread_mutex_t mu;
};

static int fetch(void *ud, struct buf *out, char *err, size_t errlen)
{
  struct src *s = ud;

  pthread_mutex_lock(&s->mu);
  s->calls++;
  pthread_mutex_unlock(&s->mu);
  if (s->delay_ms)
    usleep((useconds_t)s->delay_ms * 1000);
  if (s->len == (size_t)-1)
    return errf(err, errlen, -ECONNRESET, "dropped");
  for (size_t i = 0; i < s->len; i++)
    if (buf_append(out, &s->byte, 1) < 0)
      return -ENOMEM;
  return 0;
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
    snprintf(p, sizeof(p), "%s/objects/e1.11", dir);
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
  snprintf(p, sizeof(p), "%s/objects/0b.30", dir);
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

TEST_MAIN(T(hit_miss_and_lru_bound), T(wrong_length_and_errors_cache_nothing),
          T(reopen_keeps_whole_files_drops_cut_ones),
          T(concurrent_misses_fetch_once),
          T(eviction_never_takes_a_readers_fresh_file))
