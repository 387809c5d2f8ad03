/* paint.h - the synthetic "photograph" painter shared by mkjpeg and the
 * quality test: a smooth two-colour gradient, 4-11 soft or hard-edged
 * blobs and sensor-like noise, all drawn from a xorshift generator, so one
 * seed always gives the same picture.  paint_texture() adds a few octaves
 * of value noise (bark, grass, cloth-like detail) for tests that need
 * pictures with more fine structure.  Header-only (static functions).
 */
#ifndef CURATE_TESTS_PAINT_H
#define CURATE_TESTS_PAINT_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng;

static inline uint32_t rnd(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

static inline double frand(void)
{
  return (rnd() & 0xffffff) / (double)0x1000000;
}

/* The generator state mkimg uses for copy `copy` of seed `seed`. */
static inline uint64_t mkimg_seed(uint64_t seed, uint64_t copy)
{
  return (seed * 1000003u + copy * 7919u + 17u) * 0x9E3779B97F4A7C15ull | 1;
}

static inline void paint(uint8_t *px, int w, int h)
{
  double c0[3], c1[3], ang = frand() * 6.283;
  double ca = cos(ang), sa = sin(ang);
  struct { double x, y, r, c[3], hard; } blobs[12];
  int nb = 4 + (int)(rnd() % 8);

  for (int k = 0; k < 3; k++) {
    c0[k] = 30 + frand() * 200;
    c1[k] = 30 + frand() * 200;
  }
  for (int b = 0; b < nb; b++) {
    blobs[b].x = frand() * w;
    blobs[b].y = frand() * h;
    blobs[b].r = (0.05 + frand() * 0.3) * (w < h ? w : h);
    blobs[b].hard = frand() < 0.5 ? 1 : 0;
    for (int k = 0; k < 3; k++)
      blobs[b].c[k] = frand() * 255;
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double t = ((x - w / 2.0) * ca + (y - h / 2.0) * sa) / (w + h) + 0.5;
      double v[3];
      for (int k = 0; k < 3; k++)
        v[k] = c0[k] * (1 - t) + c1[k] * t;
      for (int b = 0; b < nb; b++) {
        double dx = x - blobs[b].x, dy = y - blobs[b].y;
        double d = sqrt(dx * dx + dy * dy) / blobs[b].r;
        double a = blobs[b].hard ? (d < 1 ? 0.9 : 0)
                                 : exp(-d * d * 2) * 0.8;
        for (int k = 0; k < 3; k++)
          v[k] = v[k] * (1 - a) + blobs[b].c[k] * a;
      }
      for (int k = 0; k < 3; k++) {
        double n = ((double)(rnd() % 17) - 8) * 0.8;
        double q = v[k] + n;
        px[((size_t)y * w + x) * 3 + k] =
            (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
      }
    }
}

/* Multiplies the picture by (1 + amp * noise), noise from 3 octaves of
 * bilinear value noise with random cell sizes; amp ~0.25 looks natural. */
static inline void paint_texture(uint8_t *px, int w, int h, double amp)
{
  enum { GS = 65 };
  float lat[3][GS][GS];
  int cell[3];

  for (int o = 0; o < 3; o++) {
    cell[o] = 4 + (int)(rnd() % 24) * (o + 1);
    for (int i = 0; i < GS; i++)
      for (int j = 0; j < GS; j++)
        lat[o][i][j] = (float)(frand() * 2 - 1);
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double n = 0;
      for (int o = 0; o < 3; o++) {
        double fx = (double)x / cell[o], fy = (double)y / cell[o];
        int ix = (int)fx % (GS - 1), iy = (int)fy % (GS - 1);
        double tx = fx - floor(fx), ty = fy - floor(fy);
        double a = lat[o][iy][ix] * (1 - tx) + lat[o][iy][ix + 1] * tx;
        double b = lat[o][iy + 1][ix] * (1 - tx) + lat[o][iy + 1][ix + 1] * tx;
        n += (a * (1 - ty) + b * ty) / (1 << o);
      }
      for (int k = 0; k < 3; k++) {
        double v = px[((size_t)y * w + x) * 3 + k] * (1 + amp * n);
        px[((size_t)y * w + x) * 3 + k] =
            (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
}

#endif
