/* import_hash.h - the store's content hash (XXH3-128, struct sample's
 * hash) as the import computes it: in one call, or fed a piece at a time
 * while a file is read, so that each piece is hashed while it is still in
 * the cache the read left it in.  The two give the same value: XXH3's
 * streaming form is defined to equal the one-shot hash of the
 * concatenation.  Where the processor has AVX2 both run XXH3's AVX2
 * kernel (import_hash_avx2.c), else libxxhash's own build; the value does
 * not depend on the kernel.
 *
 * import_hash.c and import_hash_avx2.c are the only users of libxxhash.
 * A struct import_hasher belongs to its caller; it holds no resources
 * (nothing to free) and is not shared between threads.
 */
#ifndef CURATE_IMPORT_HASH_H
#define CURATE_IMPORT_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for libxxhash's XXH3_state_t (576 bytes in 0.8; checked at build
 * time in both files). */
#define IMPORT_HASHER_STATE 768

struct import_hasher {
  _Alignas(64) unsigned char state[IMPORT_HASHER_STATE];
  bool avx2;   /* the state belongs to the AVX2 kernel's code */
};

void import_hasher_begin(struct import_hasher *h);
/* Adds the next n bytes (n may be 0). */
void import_hasher_add(struct import_hasher *h, const void *p, size_t n);
/* The hash of everything added, in canonical (big-endian) form. */
void import_hasher_end(struct import_hasher *h, uint8_t out[16]);

/* libxxhash's own one-shot XXH3-128 (whatever kernel the library was
 * built with): the reference the tests hold the fast paths to. */
void import_hash128_lib(const void *p, size_t n, uint8_t out[16]);

/* Whether the AVX2 kernel is in use on this processor. */
bool import_hash_avx2(void);

/* The AVX2 kernel's entry points (import_hash_avx2.c): call only where
 * import_hash_avx2() is true.  state: IMPORT_HASHER_STATE bytes, 64-byte
 * aligned. */
void import_hash_avx2_oneshot(const void *p, size_t n, uint8_t out[16]);
void import_hash_avx2_begin(void *state);
void import_hash_avx2_add(void *state, const void *p, size_t n);
void import_hash_avx2_end(void *state, uint8_t out[16]);

#endif
