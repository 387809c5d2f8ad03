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

#include "paint.h"

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
      fprintf(stderr, "usage: mkjpeg [-n N] [-W W] [-H H] [-q Q] [-p] "
              "[-s SEED] [-d SUBDIRS] DIR\n");
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
