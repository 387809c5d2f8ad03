/* import_hash.c - the import's content hash (import_hash.h): XXH3-128
 * through libxxhash, or through its AVX2 kernel (import_hash_avx2.c)
 * where the processor has AVX2.  With import_hash_avx2.c, the only user
 * of libxxhash. */
#define XXH_STATIC_LINKING_ONLY   /* XXH3_state_t on the caller's stack */
#include <xxhash.h>

#include "import.h"
#include "import_hash.h"

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
