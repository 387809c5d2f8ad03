/* vecgen.h - seeded synthetic embedding sets for the k-NN tests and the
 * compute benchmark.
 *
 * vecgen_clustered(): a Gaussian mixture resembling image embeddings:
 * `nclusters` centres drawn N(0, 1) per dimension, each row = a centre
 * (chosen uniformly) + N(0, spread²) noise per dimension, then scaled to
 * unit L2 norm.  spread is relative to the centre spread: ~0.35-0.8 gives
 * the clustered regime of docs/ALGORITHMS.md §8, large values approach
 * isotropic noise.  The output is a pure function of the arguments
 * (xorshift + Box-Muller in double), so tests and benchmarks are
 * reproducible.
 */
#ifndef CURATE_VECGEN_H
#define CURATE_VECGEN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct vecgen_rng {
  uint64_t s;
  double spare;
  int has_spare;
};

static inline void vecgen_seed(struct vecgen_rng *r, uint64_t seed)
{
  r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  if (!r->s)
    r->s = 1;
  r->has_spare = 0;
}

static inline uint64_t vecgen_u64(struct vecgen_rng *r)
{
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return r->s * 0x2545F4914F6CDD1Dull;
}

/* uniform in (0, 1) */
static inline double vecgen_unif(struct vecgen_rng *r)
{
  return ((double)(vecgen_u64(r) >> 11) + 0.5) / 9007199254740992.0;
}

static inline double vecgen_gauss(struct vecgen_rng *r)
{
  double u, v;

  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  u = vecgen_unif(r);
  v = vecgen_unif(r);
  r->spare = sqrt(-2 * log(u)) * sin(2 * M_PI * v);
  r->has_spare = 1;
  return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Fills x (n × d) as described above; returns 0 or -1 on allocation
 * failure. */
static inline int vecgen_clustered(float *x, size_t n, size_t d,
                                   size_t nclusters, double spread,
                                   uint64_t seed)
{
  struct vecgen_rng r;
  float *cen = malloc(nclusters * d * sizeof(*cen));

  if (!cen)
    return -1;
  vecgen_seed(&r, seed);
  for (size_t e = 0; e < nclusters * d; e++)
    cen[e] = (float)vecgen_gauss(&r);
  for (size_t i = 0; i < n; i++) {
    const float *c = cen + (vecgen_u64(&r) % nclusters) * d;
    float *row = x + i * d;
    double ss = 0;

    for (size_t k = 0; k < d; k++) {
      row[k] = c[k] + (float)(spread * vecgen_gauss(&r));
      ss += (double)row[k] * row[k];
    }
    for (size_t k = 0; k < d; k++)
      row[k] = (float)(row[k] / sqrt(ss));
  }
  free(cen);
  return 0;
}

#endif
