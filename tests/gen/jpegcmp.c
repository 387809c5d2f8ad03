/* jpegcmp - compares two JPEG files pixel by pixel for the fs tests.
 *
 *   jpegcmp A.jpg B.jpg [x,y,w,h ...]
 *
 * Prints "A_WxA_H B_WxB_H outside=<max abs channel difference outside the
 * given boxes, each widened by a margin for strokes and captions>
 * inside=<pixels that differ by more than 60 in some channel inside>".
 * Exit 0 when both decode, 1 otherwise.  Used to check that a drawn view
 * image has the original's size and differs from it only around the boxes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

static unsigned char *load(const char *path, int *w, int *h)
{
  FILE *f = fopen(path, "rb");
  unsigned char *buf, *px;
  long n;
  int sub, cs;
  tjhandle tj;

  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(buf);
    return NULL;
  }
  fclose(f);
  tj = tjInitDecompress();
  if (tjDecompressHeader3(tj, buf, (unsigned long)n, w, h, &sub, &cs) != 0) {
    tjDestroy(tj);
    free(buf);
    return NULL;
  }
  px = malloc((size_t)*w * (size_t)*h * 3);
  if (tjDecompress2(tj, buf, (unsigned long)n, px, *w, 0, *h, TJPF_RGB, 0)) {
    free(px);
    px = NULL;
  }
  tjDestroy(tj);
  free(buf);
  return px;
}

int main(int argc, char **argv)
{
  int aw, ah, bw, bh, nb = argc - 3, margin;
  double (*boxes)[4];
  unsigned char *a, *b;
  int outside = 0;
  long inside = 0;

  if (argc < 3) {
    fprintf(stderr, "usage: jpegcmp A.jpg B.jpg [x,y,w,h ...]\n");
    return 2;
  }
  a = load(argv[1], &aw, &ah);
  b = load(argv[2], &bw, &bh);
  if (!a || !b) {
    fprintf(stderr, "jpegcmp: cannot decode %s\n", a ? argv[2] : argv[1]);
    return 1;
  }
  printf("%dx%d %dx%d", aw, ah, bw, bh);
  if (aw != bw || ah != bh) {
    printf("\n");
    return 0;
  }
  boxes = calloc((size_t)(nb > 0 ? nb : 1), sizeof(*boxes));
  for (int i = 0; i < nb; i++)
    sscanf(argv[3 + i], "%lf,%lf,%lf,%lf", &boxes[i][0], &boxes[i][1],
           &boxes[i][2], &boxes[i][3]);
  /* Strokes, captions above the box and JPEG ringing near edges. */
  margin = 8 + (aw > ah ? aw : ah) / 40;
  for (int y = 0; y < ah; y++)
    for (int x = 0; x < aw; x++) {
      int d = 0, near = 0;
      for (int c = 0; c < 3; c++) {
        int v = abs(a[(y * aw + x) * 3 + c] - b[(y * aw + x) * 3 + c]);
        d = v > d ? v : d;
      }
      for (int i = 0; i < nb && !near; i++)
        near = x >= boxes[i][0] - margin &&
               x <= boxes[i][0] + boxes[i][2] + margin &&
               y >= boxes[i][1] - margin - 40 &&
               y <= boxes[i][1] + boxes[i][3] + margin;
      if (near)
        inside += d > 60;
      else if (d > outside)
        outside = d;
    }
  printf(" outside=%d inside=%ld\n", outside, inside);
  free(a);
  free(b);
  free(boxes);
  return 0;
}
