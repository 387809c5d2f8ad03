/* bench_imgfeat - the per-image cost of feature extraction alone
 * (scripts/bench.sh features prints it beside the import rows).  Not a
 * test: it prints figures.
 *
 *   bench_imgfeat DIR [ROUNDS]
 *
 * Decodes every image file of DIR (not recursive) twice, as the import
 * does (img_decode at IMGFEAT_MIN_SHORT, orientation applied), and times
 * the second pass only: the first loads the format's library (libtiff is
 * loaded on first use) and touches fresh memory, which a long import pays
 * once, not per picture.  Then it times ROUNDS (default 20) passes of
 * imgfeat_compute() over the decoded pictures, then ROUNDS passes of the
 * verification thumbnail (imgverify_thumb() of each picture's content
 * box), the import's other per-picture step.  Prints
 * "decode US feat US" in microseconds of CPU time per image (CPU time of
 * this single thread: on a shared machine the wall clock also counts
 * other processes), the pictures' mean size and "thumb US".
 */
#include "imgcodec.h"
#include "imgfeat.h"
#include "imgverify.h"
#include "util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct file {
  void *data;
  size_t len;
  struct image im;
  int box[4];
};

static int load_dir(const char *dir, struct file **ret, size_t *ret_n)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  struct file *fs = NULL;
  size_t n = 0, cap = 0;

  if (!d)
    return -1;
  while ((e = readdir(d))) {
    char p[4096];
    FILE *f;
    long len;

    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    if (!(f = fopen(p, "rb")))
      continue;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
      void *b = malloc((size_t)len);
      if (b && fread(b, 1, (size_t)len, f) == (size_t)len) {
        if (n == cap) {
          cap = cap ? 2 * cap : 64;
          fs = realloc(fs, cap * sizeof(*fs));
          if (!fs)
            exit(1);
        }
        memset(&fs[n], 0, sizeof(fs[n]));
        fs[n].data = b;
        fs[n++].len = (size_t)len;
        b = NULL;
      }
      free(b);
    }
    fclose(f);
  }
  closedir(d);
  *ret = fs;
  *ret_n = n;
  return 0;
}

int main(int argc, char **argv)
{
  struct file *fs;
  size_t n, ok = 0;
  int rounds = argc > 2 ? atoi(argv[2]) : 20;
  double t0, tdec, tfeat, tthumb, px = 0;
  static struct imgfeat f;
  uint8_t thumb[IMGVERIFY_BYTES];

  if (argc < 2 || load_dir(argv[1], &fs, &n) < 0 || n == 0) {
    fprintf(stderr, "usage: bench_imgfeat DIR [ROUNDS]\n");
    return 2;
  }
  for (size_t i = 0; i < n; i++) {   /* the untimed first pass */
    struct image warm;

    if (img_decode(fs[i].data, fs[i].len, IMGFEAT_MIN_SHORT,
                   IMG_DECODE_ORIENT, &warm, NULL) == 0)
      image_free(&warm);
  }
  t0 = cpu();
  for (size_t i = 0; i < n; i++)
    if (img_decode(fs[i].data, fs[i].len, IMGFEAT_MIN_SHORT,
                   IMG_DECODE_ORIENT, &fs[i].im, NULL) == 0) {
      ok++;
      px += (double)fs[i].im.w * fs[i].im.h;
    }
  tdec = cpu() - t0;
  if (!ok) {
    fprintf(stderr, "bench_imgfeat: nothing decoded\n");
    return 1;
  }
  t0 = cpu();
  for (int r = 0; r < rounds; r++)
    for (size_t i = 0; i < n; i++)
      if (fs[i].im.px)
        imgfeat_compute(&fs[i].im, &f);
  tfeat = cpu() - t0;
  /* The import's other per-picture step on the same decode: the
   * verification thumbnail of the content box (found beforehand: the
   * import takes it from the features). */
  for (size_t i = 0; i < n; i++)
    if (fs[i].im.px)
      imgfeat_content(&fs[i].im, fs[i].box);   /* a decoded picture: 0 */
  t0 = cpu();
  for (int r = 0; r < rounds; r++)
    for (size_t i = 0; i < n; i++)
      if (fs[i].im.px)
        imgverify_thumb(&fs[i].im, fs[i].box[0], fs[i].box[1], fs[i].box[2],
                        fs[i].box[3], thumb);
  tthumb = cpu() - t0;
  printf("decode %.1f feat %.1f us/image (%zu images, %.0f px each) "
         "thumb %.1f us\n",
         tdec * 1e6 / (double)ok, tfeat * 1e6 / ((double)ok * rounds), ok,
         px / (double)ok, tthumb * 1e6 / ((double)ok * rounds));
  for (size_t i = 0; i < n; i++) {
    image_free(&fs[i].im);
    free(fs[i].data);
  }
  free(fs);
  return 0;
}
