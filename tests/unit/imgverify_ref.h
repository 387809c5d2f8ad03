/* imgverify_ref.h - the reference pair check (imgverify_ref.c): the
 * score of imgverify.h as it was computed before the alignment was
 * vectorised, for tests that require the fast path to decide every pair
 * alike.  Same arguments and results as imgverify_prepare(),
 * imgverify_score_prep() and imgverify_score().  Pure compute; thread-safe.
 */
#ifndef CURATE_IMGVERIFY_REF_H
#define CURATE_IMGVERIFY_REF_H

#include "imgverify.h"

void imgverify_ref_prepare(const uint8_t t[IMGVERIFY_BYTES],
                           struct imgverify_prep *out);
double imgverify_ref_score_prep(const struct imgverify_prep *a,
                                const struct imgverify_prep *b,
                                double enough);
double imgverify_ref_score(const uint8_t a[IMGVERIFY_BYTES],
                           const uint8_t b[IMGVERIFY_BYTES], double enough);

#endif
