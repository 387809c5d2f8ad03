/* import_hash.c - the import's content hash (import_hash.h): XXH3-128
 * through libxxhash, or through its AVX2 kernel (import_hash_avx2.c)
 * where the processor has AVX2.  With import_hash_avx2.c, the only user
 * of libxxhash.  Also the check that a source file is still the one the
 * import recorded (import_file_current(), import.h), which falls back on
 * that hash. */
#define XXH_STATIC_LINKING_ONLY   /* XXH3_state_t on the caller's stack */
#include <xxhash.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import.h"
#include "import_hash.h"
#include "util.h"

_Static_assert(sizeof(XXH3_state_t) <= IMPORT_HASHER_STATE, "state size");
_Static_assert(_Alignof(XXH3_state_t) <= 64, "state alignment");

bool import_hash_avx2(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

void import_hash128_lib(const void *p, size_t n, uint8_t out[16])
{
  XXH128_canonicalFromHash((XXH128_canonical_t *)out, XXH3_128bits(p, n));
}

void import_hash128(const void *p, size_t n, uint8_t out[16])
{
  if (import_hash_avx2())
    import_hash_avx2_oneshot(p, n, out);
  else
    import_hash128_lib(p, n, out);
}

void import_hasher_begin(struct import_hasher *h)
{
  h->avx2 = import_hash_avx2();
  if (h->avx2) {
    import_hash_avx2_begin(h->state);
    return;
  }
  XXH3_INITSTATE((XXH3_state_t *)h->state);
  XXH3_128bits_reset((XXH3_state_t *)h->state);
}

void import_hasher_add(struct import_hasher *h, const void *p, size_t n)
{
  if (n == 0)
    return;
  if (h->avx2)
    import_hash_avx2_add(h->state, p, n);
  else
    XXH3_128bits_update((XXH3_state_t *)h->state, p, n);
}

void import_hasher_end(struct import_hasher *h, uint8_t out[16])
{
  if (h->avx2)
    import_hash_avx2_end(h->state, out);
  else
    XXH128_canonicalFromHash((XXH128_canonical_t *)out,
                             XXH3_128bits_digest((XXH3_state_t *)h->state));
}

/* Hashes the first n bytes of fd as the import did: -ESTALE when the
 * file ends before n or goes on after it. */
static int hash_fd(int fd, uint64_t n, uint8_t out[16])
{
  enum { CHUNK = 256 * 1024 };
  struct import_hasher h;
  uint64_t off = 0;
  unsigned char *buf = malloc(CHUNK), extra;
  int r = 0;

  if (!buf)
    return -ENOMEM;
  import_hasher_begin(&h);
  while (r == 0 && off < n) {
    size_t want = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
    ssize_t k = pread(fd, buf, want, (off_t)off);

    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      r = -errno;
    else if (k == 0)
      r = -ESTALE;   /* cut since the fstat */
    else {
      import_hasher_add(&h, buf, (size_t)k);
      off += (uint64_t)k;
    }
  }
  free(buf);
  if (r == 0 && pread(fd, &extra, 1, (off_t)n) > 0)
    r = -ESTALE;     /* grown since the fstat */
  if (r == 0)
    import_hasher_end(&h, out);
  return r;
}

int import_file_current(int fd, const struct sample *s)
{
  struct stat st;

  return import_file_current_st(fd, s, &st);
}

int import_file_current_st(int fd, const struct sample *s, struct stat *st)
{
  uint8_t now[16];
  int r;

  if (fstat(fd, st) < 0)
    return -errno;
  if ((uint64_t)st->st_size != s->size)
    return -ESTALE;
  if (timespec_ns(st->st_mtim) == s->mtime_ns)
    return 0;
  if (!(s->flags & SAMPLE_HASHED))
    return -ESTALE;
  r = hash_fd(fd, s->size, now);
  if (r < 0)
    return r;
  return memcmp(now, s->hash, sizeof(now)) == 0 ? 0 : -ESTALE;
}

int import_open_current(const char *root, const struct sample *s)
{
  int fd = dataset_open(root, s->relpath), r;

  if (fd < 0)
    return fd;
  r = import_file_current(fd, s);
  if (r < 0) {
    close(fd);
    return r;
  }
  return fd;
}
