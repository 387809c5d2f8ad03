/* imgfeat.h - a compact image embedding and a 64-bit perceptual hash,
 * computed from decoded pixels.  Pure compute: no I/O, no store, no
 * decoder (callers decode with img_decode(..., IMGFEAT_MIN_SHORT, ...)).
 *
 * Design (docs/ALGORITHMS.md §7; measurements in docs/ARCHITECTURE.md, "Image
 * features and near duplicates"):
 *
 *   0. Solid borders are removed first: rows and columns at the edges that
 *      are one colour within a small tolerance (letterbox and pillarbox
 *      bars, padding in any colour), side by side in up to four rounds,
 *      at most 35 % of the width or height per side, so a uniform image
 *      keeps its centre and stays well defined.  The features then
 *      describe the central 90 % (each way) of what is left: the corners
 *      a small rotation brings in and the edges a small crop removes stay
 *      outside.
 *   1. That window (of any size; normally the smallest DCT-scaled decode
 *      whose short side is >= 64 px, e.g. 160x120 for 640x480) is
 *      area-averaged to a 32x32 grid of Y, Cb, Cr.  Y weighs R, G, B
 *      halfway between BT.601 and Rec. 709, because grey copies are made
 *      with either.  The aspect ratio is dropped on purpose, so a resize
 *      or a small crop lands on nearly the same grid.  Averaging is also a
 *      low-pass filter, so blur and JPEG noise barely move the grid.
 *   2. 2-D DCT-II of the three planes, low frequencies only.
 *   3. Embedding, IMGFEAT_DIM = 128 float32, L2-normalised:
 *        [0, 65)    luma: the 65 coefficients with 1 <= u+v <= 10 (DC
 *                   dropped), the block scaled to unit norm, so a
 *                   brightness or contrast change (a factor on Y) cancels;
 *                   terms with u+v > 6 then at half weight (a rotation or
 *                   crop moves them most); a flat image gives zeros;
 *        [65, 85)   chroma: Cb and Cr coefficients with u+v <= 3 (DC kept:
 *                   the mean colour), divided by the mean luma so that a
 *                   brightness factor cancels here too; weight 0.3, so a
 *                   grey copy stays close;
 *        [85, 128)  colour histogram, weight 0.15: 12 hues x 3
 *                   saturations (saturation relative to luma) plus 7 bins
 *                   of luma relative to the image mean for unsaturated
 *                   cells, soft-assigned, square-rooted.
 *      Horizontal flip: a flip negates exactly the DCT coefficients with an
 *      odd horizontal frequency u, so those enter as |c|.  Every term is
 *      then unchanged by a flip (the histogram is by nature).
 *   4. Hash, 64 bits: the 8x8 lowest luma coefficients (u, v < 8) minus
 *      the DC plus (u=8, v=0).  Bit i is set when the coefficient is above
 *      the median of its group; even-u coefficients form one group (signed
 *      values), odd-u coefficients the other (|c|, for flip invariance).
 *      Compare hashes with imgfeat_hamming(); <= 10 of 64 bits is the
 *      usual "same picture" bound.
 *
 *   5. Sub-windows, IMGFEAT_NSUB = 5 more vectors of the same kind: the
 *      content box with 10 % of its width and height left out, centred
 *      (5 % off each side) or towards each corner (10 % off two adjacent
 *      sides), each described as in 1-3 (its central 90 %).  A copy
 *      cropped that way has, as its main vector, nearly the vector of the
 *      original's matching sub-window; neardup.h compares a main vector
 *      with the other image's main and sub-window vectors and keeps the
 *      smallest distance.
 *
 * What it does not do: it is a global descriptor.  Photometric and
 * resampling edits, padding, rotations up to ~3 degrees, captions and
 * crops of ~5 % per side stay close; crops of up to 10 % of the width and
 * height, centred or towards a corner, through the sub-windows; larger
 * crops, rotations and "same object, another photo" are out of its reach
 * (docs/ALGORITHMS.md §7).
 *
 * Cost: the six windows are averaged through one integral image of the
 * content box ((w+1)(h+1) x 4 int32, allocated per call and not zeroed:
 * 310 KB for a 160x120 decode; boxes over 2^20 pixels, or a failed
 * allocation, fall back to averaging each window from the pixels).  The
 * per-window work (grid, DCTs, colour histogram) runs in 4-float vectors
 * (imgfeat_kern.c).  All six vectors of a 160x120 decode take about
 * 0.1 ms of one core, against about 1.2 ms for the DCT-scaled decode of
 * a 640x480 JPEG of quality 97 (tests/bench/bench_imgfeat.c).  The fast
 * path matches the plain scalar computation (tests/unit/imgfeat_ref.c)
 * within 2e-6 per component on real files (tests/unit/test_imgfeat.c).
 * The cosine tables are built once per process (pthread_once); apart
 * from them there is no state, and calls are thread-safe.
 */
#ifndef CURATE_IMGFEAT_H
#define CURATE_IMGFEAT_H

#include <stdint.h>

#include "jpegcodec.h"

/* Decode scale to use: img_decode(data, len, IMGFEAT_MIN_SHORT,
 * IMG_DECODE_ORIENT, &im, NULL) (imgcodec.h). */
#define IMGFEAT_MIN_SHORT 64
#define IMGFEAT_DIM 128
/* Sub-window vectors per image (step 5 above). */
#define IMGFEAT_NSUB 5
/* Bumped whenever the features computed for the same pixels change by
 * more than float rounding (which compilers and vector widths move by
 * about 1e-6 per component, as the vector kernels do against the scalar
 * reference); stored features of another version are recomputed at the
 * next import.
 * 2: the import decodes every format and applies the EXIF orientation
 * before computing (version 1 saw JPEG pixels as stored).  3: borders
 * removed, the central 90 % described, high luma terms and colour
 * weighted down.  4: the sub-window vectors added (the main vector is
 * computed as in 3).  5: a border's tolerance 8 levels, not 10 (a flat
 * edge of the picture itself stays; docs/ARCHITECTURE.md §10). */
#define IMGFEAT_VERSION 5

struct imgfeat {
  uint64_t phash;
  float v[IMGFEAT_DIM];   /* unit L2 norm */
  float sub[IMGFEAT_NSUB][IMGFEAT_DIM];   /* the sub-windows, each unit */
};

/* The origin near-duplicate distances are measured from (neardup.h): the
 * mean main vector of reference sets of real photographs and generated
 * pictures (imgfeat.c says which).  A fixed origin, unlike the mean of
 * each data set, makes a pair's distance depend on its two images alone. */
extern const float imgfeat_origin[IMGFEAT_DIM];

/* Computes the features of an RGB (3 channels) or gray (1 channel) image
 * of any size >= 1x1.  Returns 0, or -EINVAL for a bad image (*ret is then
 * zeroed).  The integral image is the only allocation, freed before
 * returning. */
int imgfeat_compute(const struct image *im, struct imgfeat *ret);

/* imgfeat_compute(), also giving the content box it found (as
 * imgfeat_content() does), for a caller that needs both: the box is
 * searched for once. */
int imgfeat_compute_box(const struct image *im, struct imgfeat *ret,
                        int box[4]);

/* The content box of step 0 (solid borders removed): box = x0, y0, x1,
 * y1, the pixels [x0, x1) x [y0, y1).  Returns 0, or -EINVAL for a bad
 * image.  imgverify.h describes the same box. */
int imgfeat_content(const struct image *im, int box[4]);

/* Number of differing bits between two hashes. */
int imgfeat_hamming(uint64_t a, uint64_t b);

#endif
