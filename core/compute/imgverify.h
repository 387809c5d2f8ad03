/* imgverify.h - the second opinion on a near-duplicate pair: a small
 * grey thumbnail of each image, kept beside its features, and a score
 * saying whether two thumbnails show the same picture once aligned.
 *
 * Why: the global features (imgfeat.h) describe the coarse layout, which
 * is what survives borders, crops, rotations and photometric edits; but
 * different photographs of one layout (night landscapes: a dark sky over
 * a lit horizon; plain screenshots of one program) share it too.  What
 * tells them apart is the detail inside the layout, which edits keep once
 * the two images are aligned.  So:
 *
 *   Thumbnail (imgverify_thumb(), at import, from the features' decode):
 *   the content box (solid borders removed, imgfeat_content()) area-
 *   averaged to IMGVERIFY_SIDE x IMGVERIFY_SIDE luma bytes.  The aspect
 *   ratio is dropped; the alignment below is affine, so it takes it back.
 *   The range is stretched to 0..255 (the score ignores gain and offset)
 *   so that a dark picture keeps its detail.  No allocation; about 8 % of
 *   imgfeat_compute()'s time on the import's decode (45 us against
 *   544 us for a 128x72 picture on a loaded machine).
 *
 *   Score (imgverify_score_prep(), when groups are formed, for each pair
 *   within the distance threshold, on thumbnails prepared once per sample
 *   by imgverify_prepare()): both thumbnails are smoothed for alignment
 *   and reduced to their detail (each pixel minus its 5x5 mean) for the
 *   score.  If the detail correlates well enough as it is (or with b
 *   mirrored), that is the score.  Else the better of "as is" and
 *   "mirrored" (by the smoothed correlation) is aligned with an affine
 *   warp (Gauss-Newton with a gain and offset of the intensities, on a
 *   16x16 level then the full one): three starts (the identity, b a 10 %
 *   central crop of a, a of b) are aligned on the coarse level and the
 *   best of them (by the detail correlation) refined on the full one,
 *   none when even that is below 0.2.  That covers rotations of a few
 *   degrees, crops of 10 % towards any side, resizes and aspect changes.
 *   An alignment counts only if the four quadrants of the compared area
 *   agree (IMGVERIFY_QUAD_MAX): screenshots of one program with another
 *   drawing on the canvas correlate well as a whole, but the canvas's
 *   quadrant does not.  The score is the normalised correlation of the
 *   two detail images over the pixels the warp keeps inside both, in
 *   [-1, 1], the best over the alignments that count (-1 if none does):
 *   edited copies stay high, different pictures of one layout low.  A
 *   pair whose alignment leaves too little overlap scores -1.  The outer
 *   eighth of the thumbnail is left out of every comparison: the corners
 *   a rotation brings in (black or white triangles) have edges as strong
 *   as any detail.  Cost: about 0.1 ms a pair that fails on a loaded
 *   machine, much less when the copy matches as it is (no allocation).
 *   The alignment's inner loops run on vectors of four doubles (an AVX2
 *   clone where the CPU has it) with every sum taken in the scalar
 *   order, so the scores are those of plain scalar code to the bit
 *   (tests/unit/imgverify_ref.c keeps that code to compare with).
 *
 * Pure compute: no I/O, no state; every function is thread-safe.
 */
#ifndef CURATE_IMGVERIFY_H
#define CURATE_IMGVERIFY_H

#include <stdint.h>

#include "jpegcodec.h"

#define IMGVERIFY_SIDE 32
#define IMGVERIFY_BYTES (IMGVERIFY_SIDE * IMGVERIFY_SIDE)
/* Bumped whenever the thumbnail of the same pixels changes. */
#define IMGVERIFY_VERSION 2
/* Default of neardup.verify: pairs scoring below it are not near
 * duplicates (measured: docs/ARCHITECTURE.md §10). */
#define IMGVERIFY_ACCEPT_DEFAULT 0.7
/* An alignment counts only if each quadrant of the centre agrees: the
 * normalised squared difference of the two detail images there stays
 * under this (0 same, about 1 unrelated; measured: docs/ARCHITECTURE.md
 * §10). */
#define IMGVERIFY_QUAD_MAX 0.3

/* The thumbnail of the region [x0, x1) x [y0, y1) of an RGB or grey image
 * (normally imgfeat_content()'s box).  Returns 0, or -EINVAL (bad image
 * or an empty region; out is then zeroed). */
int imgverify_thumb(const struct image *im, int x0, int y0, int x1, int y1,
                    uint8_t out[IMGVERIFY_BYTES]);

/* A thumbnail made ready for scoring: its detail and smoothed planes and
 * its detail energy.  Made once per sample (imgverify_prepare()) and
 * shared by every pair it is in, so that a large group costs one
 * preparation per sample, not two per pair.  8 KB; caller-owned, read
 * only by the score. */
struct imgverify_prep {
  float detail[IMGVERIFY_SIDE][IMGVERIFY_SIDE];
  float smooth[IMGVERIFY_SIDE][IMGVERIFY_SIDE];
  double energy;   /* of the detail, per pixel of the centre */
};

void imgverify_prepare(const uint8_t t[IMGVERIFY_BYTES],
                       struct imgverify_prep *out);

/* How well two prepared thumbnails match once aligned (above), in
 * [-1, 1]: the best correlation of the alignments tried whose quadrants
 * all agree, -1 when none does.  The search stops as soon as one reaches
 * `enough` (pass a value above 1 for the best of all).  Not quite
 * symmetric (a is the reference of the alignment): callers that need one
 * answer per pair pass the pair in a fixed order.  A thumbnail with no
 * detail (flat) scores 1 with anything: there is nothing to check, the
 * features decide alone. */
double imgverify_score_prep(const struct imgverify_prep *a,
                            const struct imgverify_prep *b, double enough);

/* imgverify_score_prep() of two raw thumbnails (prepares both). */
double imgverify_score(const uint8_t a[IMGVERIFY_BYTES],
                       const uint8_t b[IMGVERIFY_BYTES], double enough);

#endif
