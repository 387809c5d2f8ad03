/* imgfeat_i.h - what imgfeat.c shares with its vector kernels
 * (imgfeat_kern.c): the grid and DCT sizes, the histogram layout and the
 * kernels that run once per window.  Internal to core/compute; no state
 * apart from the cosine tables, which imgfeat_tables_init() fills once per
 * process. */
#ifndef CURATE_IMGFEAT_I_H
#define CURATE_IMGFEAT_I_H

#include <stdint.h>

#define G 32          /* grid side */
#define NU 11         /* DCT frequencies kept per axis: 0..10 */
#define NUP 12        /* NU padded to whole 4-float vectors */
#define CHROMA_MAX 3  /* chroma terms: u+v <= CHROMA_MAX */
#define N_HUE 12
#define N_SAT 3
#define N_GRAY 7
#define N_HIST (N_HUE * N_SAT + N_GRAY)

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

/* atan2(y, x) within 3e-7 radians (|error| of the polynomial; float
 * rounding adds a few 1e-8), 0 for (0, 0).  Exposed for the unit test. */
float imgfeat_atan2(float y, float x);

#endif
