/* bench_verify - the cost of the near-duplicate pair check on a large
 * group that fails it (scripts/bench.sh neardup prints it beside the
 * quality table).  Not a test: it prints figures.
 *
 *   bench_verify [N]
 *
 * N (default 3000) pictures of one layout: the same painted gradient and
 * blobs, each with its own fine texture (tests/gen/paint.h), 240x180.
 * Their global features are close (every pair within the threshold or
 * nearly), their detail differs, so every pair the search proposes fails
 * the check: the worst case of the check, as thousands of screenshots of
 * one program are.  Timed, in CPU time of this process, one thread:
 *   stage      neardup_near_in() with the check minus the same without
 *              it (the search and the grouping), i.e. the check itself as
 *              the views run it, with the prepared thumbnails, and how
 *              many of the pairs within the threshold it scored (each
 *              picture's NEARDUP_VERIFY_K nearest and a few more: about
 *              30 a picture, where it once scored every pair);
 *   per pair   the same kind of pairs scored the way the check worked
 *              before (imgverify_score(): both thumbnails prepared again
 *              for every pair): each picture against the next 64,
 *              against
 *   prepared   those pairs with each thumbnail prepared once
 *              (imgverify_prepare() n times, imgverify_score_prep()),
 *              against
 *   reference  the same prepared pairs scored by the scalar scorer the
 *              alignment had before it was vectorised
 *              (tests/unit/imgverify_ref.c); every score must be the
 *              same to the bit (exit status 1 otherwise).
 * Also prints how many groups the check let through (0 expected).
 */
#include "imgfeat.h"
#include "imgverify.h"
#include "../unit/imgverify_ref.h"
#include "neardup.h"

#include "../gen/paint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define W 240
#define H 180
#define NEXT 64

static double cpu(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Picture i: layout seed 7, its own texture (value noise, cells of 6 to
 * 10 px: finer than the features see, coarse enough for the
 * thumbnail). */
static void scene(uint8_t *px, size_t i)
{
  static float lat[48][48];
  int cell;

  rng = 8 * 0x9E3779B97F4A7C15ull | 1;
  paint(px, W, H);
  rng = (i + 1000) * 0x9E3779B97F4A7C15ull | 1;
  cell = 6 + (int)(rnd() % 5);
  for (int a = 0; a < 48; a++)
    for (int b = 0; b < 48; b++)
      lat[a][b] = (float)(frand() * 2 - 1);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int ix = x / cell, iy = y / cell;
      double tx = (double)x / cell - ix, ty = (double)y / cell - iy;
      double n = (lat[iy][ix] * (1 - tx) + lat[iy][ix + 1] * tx) * (1 - ty) +
                 (lat[iy + 1][ix] * (1 - tx) + lat[iy + 1][ix + 1] * tx) * ty;
      for (int k = 0; k < 3; k++) {
        double v = px[((size_t)y * W + x) * 3 + k] * (1 + 0.35 * n);
        px[((size_t)y * W + x) * 3 + k] =
            (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
}

/* neardup_near_in() at the default threshold, one thread; its CPU time,
 * the number of groups into *ng, of pairs within the threshold into
 * *pairs and of pairs checked into *checked. */
static double group(struct neardup_input *in, double verify, size_t *ng,
                    size_t *pairs, size_t *checked)
{
  struct knn_opts o = { .nthreads = 1 };
  struct neardup_groups g;
  double t = cpu();

  in->verify = verify;
  if (neardup_near_in(in, NEARDUP_THRESH_DEFAULT, &o, &g) < 0) {
    fprintf(stderr, "bench_verify: neardup_near_in failed\n");
    exit(1);
  }
  t = cpu() - t;
  *ng = g.ngroups;
  *pairs = g.pairs;
  *checked = g.checked;
  neardup_groups_free(&g);
  return t;
}

/* Picture i painted into px, its vectors into row i of x and sub, its
 * thumbnail into th; 0 or a negative errno. */
static int picture(uint8_t *px, size_t i, float *x, float *sub,
                   uint8_t *th)
{
  static struct imgfeat f;
  struct image im = { W, H, 3, px };
  int box[4], r;

  scene(px, i);
  if ((r = imgfeat_compute(&im, &f)) < 0 ||
      (r = imgfeat_content(&im, box)) < 0 ||
      (r = imgverify_thumb(&im, box[0], box[1], box[2], box[3],
                           th + i * IMGVERIFY_BYTES)) < 0)
    return r;
  memcpy(x + i * IMGFEAT_DIM, f.v, sizeof(f.v));
  memcpy(sub + i * IMGFEAT_NSUB * IMGFEAT_DIM, f.sub, sizeof(f.sub));
  return 0;
}

/* The pairs of the prepared loop through the reference scorer: its CPU
 * time, and into *differ how many scores differ from sc (the library's,
 * pair i, k at sc[i * NEXT + k - 1]). */
static double ref_pairs(const struct imgverify_prep *prep, size_t n,
                        const double *sc, size_t *differ)
{
  double t = cpu();

  for (size_t i = 0; i < n; i++)
    for (size_t k = 1; k <= NEXT; k++) {
      double r = imgverify_ref_score_prep(&prep[i], &prep[(i + k) % n],
                                          IMGVERIFY_ACCEPT_DEFAULT);
      *differ += memcmp(&r, &sc[i * NEXT + k - 1], sizeof(r)) != 0;
    }
  return cpu() - t;
}

int main(int argc, char **argv)
{
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 3000, ng_off, ng_on;
  uint8_t *px = malloc((size_t)W * H * 3);
  float *x = malloc(n * IMGFEAT_DIM * sizeof(float));
  float *sub = malloc(n * IMGFEAT_NSUB * IMGFEAT_DIM * sizeof(float));
  uint8_t *th = malloc(n * IMGVERIFY_BYTES), *ok = malloc(n);
  uint64_t *ids = malloc(n * sizeof(*ids));
  struct imgverify_prep *prep = malloc(n * sizeof(*prep));
  double *sc = malloc(n * NEXT * sizeof(*sc));
  struct neardup_input in = { .x = x, .n = n, .d = IMGFEAT_DIM, .ids = ids,
                              .sub = sub, .nsub = IMGFEAT_NSUB,
                              .mean = imgfeat_origin, .thumbs = th,
                              .thumb_ok = ok };
  double t_off, t_on, t_pair, t_prep, t_ref;
  size_t kept = 0, differ = 0, pairs, checked;

  if (n < NEXT + 2 || !px || !x || !sub || !th || !ok || !ids || !prep ||
      !sc) {
    fprintf(stderr, "usage: bench_verify [N >= %d]\n", NEXT + 2);
    return 2;
  }
  for (size_t i = 0; i < n; i++) {
    if (picture(px, i, x, sub, th) < 0) {
      fprintf(stderr, "bench_verify: features failed\n");
      return 1;
    }
    ok[i] = 1;
    ids[i] = i + 1;
  }
  t_off = group(&in, 0, &ng_off, &pairs, &checked);
  t_on = group(&in, IMGVERIFY_ACCEPT_DEFAULT, &ng_on, &pairs, &checked);

  t_pair = cpu();
  for (size_t i = 0; i < n; i++)
    for (size_t k = 1; k <= NEXT; k++)
      kept += imgverify_score(th + i * IMGVERIFY_BYTES,
                              th + (i + k) % n * IMGVERIFY_BYTES,
                              IMGVERIFY_ACCEPT_DEFAULT) >=
              IMGVERIFY_ACCEPT_DEFAULT;
  t_pair = cpu() - t_pair;
  t_prep = cpu();
  for (size_t i = 0; i < n; i++)
    imgverify_prepare(th + i * IMGVERIFY_BYTES, &prep[i]);
  for (size_t i = 0; i < n; i++)
    for (size_t k = 1; k <= NEXT; k++) {
      sc[i * NEXT + k - 1] = imgverify_score_prep(
          &prep[i], &prep[(i + k) % n], IMGVERIFY_ACCEPT_DEFAULT);
      kept -= sc[i * NEXT + k - 1] >= IMGVERIFY_ACCEPT_DEFAULT;
    }
  t_prep = cpu() - t_prep;
  t_ref = ref_pairs(prep, n, sc, &differ);

  printf("%zu pictures of one layout, each with its own detail: groups "
         "without the check %zu, with it %zu\n", n, ng_off, ng_on);
  printf("check stage in the grouping: %.2f s CPU (grouping %.2f s without "
         "it); pairs checked %zu of the %zu within the threshold (%.1f a "
         "picture)\n", t_on - t_off, t_off, checked, pairs,
         (double)checked / (double)n);
  printf("%zu pairs (each against the next %d): prepared per pair %.2f s, "
         "once per picture %.2f s: %.2fx%s\n", n * NEXT, NEXT, t_pair,
         t_prep, t_pair / t_prep, kept ? " (VERDICTS DIFFER)" : "");
  printf("the same prepared pairs, scalar reference scorer: %.2f s: "
         "%.2fx; scores differing from it: %zu%s\n", t_ref, t_ref / t_prep,
         differ, differ ? " (SCORES DIFFER)" : "");
  free(px);
  free(x);
  free(sub);
  free(th);
  free(ok);
  free(ids);
  free(prep);
  free(sc);
  return kept || differ ? 1 : 0;
}
