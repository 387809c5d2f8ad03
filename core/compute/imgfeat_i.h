/* imgfeat_i.h - what imgfeat.c shares with its vector kernels
 * (imgfeat_kern.c): the grid and DCT sizes, the histogram layout and the
 * kernels that run once per window.  Internal to core/compute; no state
 * apart from the cosine tables, which imgfeat_tables_init() fills once per
 * process. */
#ifndef CURATE_IMGFEAT_I_H
#define CURATE_IMGFEAT_I_H

#include <stdint.h>

#include "jpegcodec.h"   /* struct image */

#define G 32          /* grid side */
#define NU 11         /* DCT frequencies kept per axis: 0..10 */
#define NUP 12        /* NU padded to whole 4-float vectors */
#define CHROMA_MAX 3  /* chroma terms: u+v <= CHROMA_MAX */
#define N_HUE 12
#define N_SAT 3
#define N_GRAY 7
#define N_HIST (N_HUE * N_SAT + N_GRAY)

/* The integral image of a box of the picture, four int32 per point (R,
 * G, B and a zero, so that one vector holds a point): for 0 <= y <= h,
 * 0 <= x <= w (the box's size), v[(y * (w + 1) + x) * 4 + k] is the sum
 * of channel k over the box's rows < y and columns < x.  Built once per
 * image, it gives the area average of any window of the box in O(G^2),
 * so the six windows cost little more than one.  v is malloc'd by
 * imgfeat_sat_build(), freed by the caller. */
struct imgfeat_sat {
  int32_t *v;
  int x0, y0, w, h;     /* the box it covers */
};

/* Largest box (pixels) with an integral image: 16 MB at most, and sums
 * below 2^31.  The import's reduced decodes are far smaller. */
#define IMGFEAT_SAT_MAX_PIXELS (1u << 20)

/* Builds the integral image of the box [x0, x1) x [y0, y1) of im (1 or
 * 3 channels, at most IMGFEAT_SAT_MAX_PIXELS): 0 or -ENOMEM. */
int imgfeat_sat_build(const struct image *im, int x0, int y0, int x1,
                      int y1, struct imgfeat_sat *s);

/* Area averages (R, G, B means) of the window [x0, x1) x [y0, y1) (inside
 * the box of s) over a G x G grid: the integral at a fractional point is
 * bilinear in the four integral values around it, exact for a picture
 * constant over each pixel.  The whole-pixel part of each cell's sum is
 * taken in integers, only the fractional edges in float, so the means
 * keep float precision however large the sums. */
void imgfeat_sat_grid(const struct imgfeat_sat *s, int x0, int y0, int x1,
                      int y1, float rgb[3][G][G]);

/* Fills the cosine tables; call once (pthread_once) before the kernels. */
void imgfeat_tables_init(void);

/* Low-frequency DCT-II (unnormalised sums) of the luma grid: out[v][u]
 * for u, v < NU, u the horizontal frequency.  Each coefficient is summed
 * over x, then y, in order, as a scalar loop would. */
void imgfeat_dct_luma(const float in[G][G], float out[NU][NU]);

/* The same for the two chroma grids, u, v <= CHROMA_MAX only. */
void imgfeat_dct_chroma(const float cb[G][G], const float cr[G][G],
                        float dcb[NU][NU], float dcr[NU][NU]);

/* Adds the colour histogram votes of the G * G cells to hist (N_HIST
 * bins, not normalised): saturated cells vote for hue x saturation, grey
 * ones for a luma bin relative to ymean, cells in between for both by
 * their saturation weight; every vote is split between the two nearest
 * bins of each axis (hue circular). */
void imgfeat_hist_votes(const float yy[G][G], const float cb[G][G],
                        const float cr[G][G], float ymean, float *hist);

/* Which kernels run where there are two (the histogram votes and the
 * grid sums): -1 (the default) the widest the processor has, 0 four
 * lanes, 1 eight (AVX2; only where the processor has it).  Both give the
 * same floats, bit for bit; the unit test sets it to compare them.  Not
 * to be changed while features are computed on other threads. */
extern int imgfeat_wide;

/* atan2(y, x) within 6e-7 radians (2.5e-7 from the polynomial, the rest
 * float rounding near pi), 0 for (0, 0).  Exposed for the unit test. */
float imgfeat_atan2(float y, float x);

#endif
