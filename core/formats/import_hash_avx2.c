/* import_hash_avx2.c - XXH3-128 compiled for AVX2 (import_hash.h).
 * Debian's libxxhash is built for the x86-64 baseline (SSE2), which hashes
 * at about half the speed of its AVX2 kernel; the import hashes every byte
 * of every file, so it takes the header's inline build here, with AVX2
 * enabled for this file alone.  Its functions run only where the
 * processor has AVX2 (import_hash_avx2()).  No FMA or other floating
 * point is involved: the hash is integer arithmetic, and equal to the
 * library's by definition of XXH3 (the unit test checks it). */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
/* Every function from here on is built for AVX2, libxxhash's inline ones
 * included.  Clang (the fuzzing build) ignores GCC's pragma and has its
 * own. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), \
                             apply_to = function)
#else
#pragma GCC target("avx2")
#endif
#define XXH_INLINE_ALL
#define XXH_VECTOR 2   /* XXH_AVX2 */
#include <xxhash.h>

#include "import_hash.h"

_Static_assert(sizeof(XXH3_state_t) <= IMPORT_HASHER_STATE, "state size");
_Static_assert(_Alignof(XXH3_state_t) <= 64, "state alignment");

void import_hash_avx2_oneshot(const void *p, size_t n, uint8_t out[16])
{
  XXH128_canonicalFromHash((XXH128_canonical_t *)out, XXH3_128bits(p, n));
}

void import_hash_avx2_begin(void *state)
{
  XXH3_INITSTATE((XXH3_state_t *)state);
  XXH3_128bits_reset(state);
}

void import_hash_avx2_add(void *state, const void *p, size_t n)
{
  XXH3_128bits_update(state, p, n);
}

void import_hash_avx2_end(void *state, uint8_t out[16])
{
  XXH128_canonicalFromHash((XXH128_canonical_t *)out,
                           XXH3_128bits_digest(state));
}
#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
/* Not x86: never called (import_hash_avx2() is false), defined so that
 * the module links the same everywhere. */
#include <stdlib.h>

#include "import_hash.h"

void import_hash_avx2_oneshot(const void *p, size_t n, uint8_t out[16])
{
  (void)p; (void)n; (void)out;
  abort();
}

void import_hash_avx2_begin(void *state) { (void)state; abort(); }

void import_hash_avx2_add(void *state, const void *p, size_t n)
{
  (void)state; (void)p; (void)n;
  abort();
}

void import_hash_avx2_end(void *state, uint8_t out[16])
{
  (void)state; (void)out;
  abort();
}
#endif
