/* mkjpeg - writes synthetic photographic-looking JPEG files for tests and
 * benchmarks: smooth gradients, soft blobs, edges and sensor-like noise,
 * different per seed, encoded with TurboJPEG.
 *
 * usage: mkjpeg [-n COUNT] [-W WIDTH] [-H HEIGHT] [-q QUALITY] [-p] [-s SEED]
 *               [-d SUBDIRS] OUTDIR
 * -p writes progressive JPEGs; -d spreads files over SUBDIRS folders.
 * Files are named img_NNNNNN.jpg (under dNN/ with -d).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

static uint64_t rng;

static uint32_t rnd(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

static double frand(void)
{
  return (rnd() & 0xffffff) / (double)0x1000000;
}

static void paint(uint8_t *px, int w, int h)
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

int main(int argc, char **argv)
{
  int n = 10, w = 640, h = 480, q = 85, prog = 0, subdirs = 0, c;
  uint64_t seed = 1;
  tjhandle tj;
  uint8_t *px;

  while ((c = getopt(argc, argv, "n:W:H:q:ps:d:")) != -1) {
    switch (c) {
    case 'n': n = (int)strtol(optarg, NULL, 10); break;
    case 'W': w = (int)strtol(optarg, NULL, 10); break;
    case 'H': h = (int)strtol(optarg, NULL, 10); break;
    case 'q': q = (int)strtol(optarg, NULL, 10); break;
    case 'p': prog = 1; break;
    case 's': seed = strtoull(optarg, NULL, 10); break;
    case 'd': subdirs = (int)strtol(optarg, NULL, 10); break;
    default:
      fprintf(stderr, "usage: mkjpeg [-n N] [-W W] [-H H] [-q Q] [-p] [-s SEED] [-d SUBDIRS] DIR\n");
      return 2;
    }
  }
  if (optind != argc - 1 || n < 0 || w < 1 || h < 1) {
    fprintf(stderr, "mkjpeg: bad arguments\n");
    return 2;
  }
  if (mkdir(argv[optind], 0755) < 0 && errno != EEXIST) {
    perror(argv[optind]);
    return 1;
  }
  tj = tjInitCompress();
  px = malloc((size_t)w * h * 3);
  if (!tj || !px)
    return 1;
  for (int i = 0; i < n; i++) {
    unsigned char *jpg = NULL;
    unsigned long len = 0;
    char path[4096];
    FILE *f;

    rng = (seed * 1000003u + (uint64_t)i) * 0x9E3779B97F4A7C15ull | 1;
    paint(px, w, h);
    if (tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpg, &len, TJSAMP_420, q,
                    prog ? TJFLAG_PROGRESSIVE : 0) < 0) {
      fprintf(stderr, "mkjpeg: %s\n", tjGetErrorStr2(tj));
      return 1;
    }
    if (subdirs > 0) {
      snprintf(path, sizeof(path), "%s/d%02d", argv[optind], i % subdirs);
      mkdir(path, 0755);
      snprintf(path, sizeof(path), "%s/d%02d/img_%06d.jpg", argv[optind],
               i % subdirs, i);
    } else {
      snprintf(path, sizeof(path), "%s/img_%06d.jpg", argv[optind], i);
    }
    f = fopen(path, "wb");
    if (!f || fwrite(jpg, 1, len, f) != len || fclose(f) != 0) {
      perror(path);
      return 1;
    }
    tjFree(jpg);
  }
  free(px);
  tjDestroy(tj);
  return 0;
}
