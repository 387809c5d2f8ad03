/* imgfeat.c - the embedding and perceptual hash of imgfeat.h.
 *
 * Steps: find the content box inside solid borders; build its integral
 * image (imgfeat_kern.c); for each of the six windows area-average RGB to
 * a 32x32 grid through it (or, for a box too large for one, straight from
 * the pixels: source rows are summed into one 32-cell row and spread over
 * the output rows they overlap), convert the grid to Y/Cb/Cr, take a
 * separable DCT-II of the low frequencies only and the colour histogram
 * (imgfeat_kern.c), and assemble the vector and the hash.  Knows nothing
 * about files, JPEG or the store.
 */
#include "imgfeat.h"
#include "imgfeat_i.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LUMA_MAX 10   /* luma terms: 1 <= u+v <= LUMA_MAX */
#define LUMA_LOW 6    /* terms above this at FEAT_W_LUMA_HI */
#define N_LUMA 65
#define N_CHROMA 20

/* Block weights before the final normalisation: luma structure dominates;
 * the histogram only nudges (it ignores layout, so on its own it would
 * pair unrelated pictures of similar colours). */
#define FEAT_W_LUMA 1.0f
/* Luma terms of 7 <= u+v <= 10 at half weight: a rotation or crop moves
 * them most, yet without them different pictures with the same coarse
 * layout come too close (measured: tests/quality). */
#define FEAT_W_LUMA_HI 0.5f
#define FEAT_W_CHROMA 0.3f
#define FEAT_W_HIST 0.15f

/* Luma weights for the structure: halfway between BT.601 and Rec. 709,
 * because grey copies are made with either, and on saturated colours the
 * two give visibly different pictures. */
#define W_R 0.2558f
#define W_G 0.6511f
#define W_B 0.0931f

_Static_assert(N_LUMA + N_CHROMA + N_HIST == IMGFEAT_DIM, "layout");

/* A window of the image: columns [x0, x1), rows [y0, y1). */
struct box {
  int x0, y0, x1, y1;
};

/* Border removal: a line (row or column) belongs to a border when all but
 * TRIM_OUTLIERS of its pixels are within TRIM_TOL (per channel) of the
 * median colour of the outermost line of that side.  The four sides are
 * trimmed in turn, up to TRIM_PASSES rounds, each round starting from a
 * new outermost line: a padded copy of a photo whose own edge is a flat
 * sky or wall then loses its padding and that flat edge, as the original
 * loses the flat edge, so both describe the same window.  Any tolerance
 * has a band of texture around it where the verdict depends on the copy
 * (a brighter, blurred or re-encoded copy stops at another line, and the
 * copies of one photograph describe different windows); the tolerance is
 * chosen so that what is common falls clear of it (docs/ARCHITECTURE.md
 * §10, "Borders"): what JPEG leaves in a solid colour at this size (a few
 * levels on nearly every line, even at quality 40) and a sensor's noise
 * on a flat background kept intact by a lossless copy (up to +-6.4 in the
 * test pictures) are border; the texture of a sky, a wall or paper in
 * most real photographs (10 levels and more at this size; 10 was the
 * tolerance until feature version 5) is not.  The few outliers allowed
 * cover JPEG ringing and the corners a small rotation brings in.  At most TRIM_MAX of the width or
 * height goes per side, so a uniform image keeps its centre. */
#define TRIM_TOL 8
#define TRIM_OUTLIERS 0.05
#define TRIM_MAX 0.35
#define TRIM_PASSES 4

/* The features describe the central FEAT_CENTRE of the content box (of
 * its width and of its height): the corners a small rotation brings in
 * and the edges a crop removes stay outside. */
#define FEAT_CENTRE 0.9

/* The sub-windows (imgfeat.h) leave out SUB_CROP of the content box's
 * width and height: the most a crop of up to 10 % removes. */
#define SUB_CROP 0.1

static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

/* Area average of the window b of the image into g (R, G, B means per
 * grid cell). */
static void grid_rgb(const struct image *im, const struct box *bx,
                     float g[3][G][G])
{
  float row[3][G];
  int bw = bx->x1 - bx->x0, bh = bx->y1 - bx->y0;
  double sx = (double)G / bw, sy = (double)G / bh;
  int ch = im->channels;

  memset(g, 0, sizeof(float) * 3 * G * G);
  for (int y = 0; y < bh; y++) {
    const uint8_t *p = im->px +
        ((size_t)(y + bx->y0) * (size_t)im->w + (size_t)bx->x0) * (size_t)ch;
    double y0 = y * sy, y1 = (y + 1) * sy;

    memset(row, 0, sizeof(row));
    /* Source pixel x covers grid columns [x*sx, (x+1)*sx). */
    for (int x = 0; x < bw; x++) {
      double x0 = x * sx, x1 = (x + 1) * sx;
      int c0 = (int)x0, c1 = (int)ceil(x1) - 1;
      float r = p[x * ch], gg = p[x * ch + (ch == 3)],
            b = p[x * ch + 2 * (ch == 3)];
      if (c1 >= G)
        c1 = G - 1;
      for (int c = c0; c <= c1; c++) {
        double lo = x0 > c ? x0 : c, hi = x1 < c + 1 ? x1 : c + 1;
        float wgt = (float)(hi - lo);
        row[0][c] += wgt * r;
        row[1][c] += wgt * gg;
        row[2][c] += wgt * b;
      }
    }
    {
      int r0 = (int)y0, r1 = (int)ceil(y1) - 1;
      if (r1 >= G)
        r1 = G - 1;
      for (int rr = r0; rr <= r1; rr++) {
        double lo = y0 > rr ? y0 : rr, hi = y1 < rr + 1 ? y1 : rr + 1;
        float wgt = (float)(hi - lo);
        for (int k = 0; k < 3; k++)
          for (int c = 0; c < G; c++)
            g[k][rr][c] += wgt * row[k][c];
      }
    }
  }
}

/* Scales v to unit norm; a vector of norm <= floor (nothing but rounding
 * noise, as the structure of a flat image) becomes all zero instead. */
static void normalize_above(float *v, int n, double floor)
{
  double ss = 0;

  for (int i = 0; i < n; i++)
    ss += (double)v[i] * v[i];
  if (ss <= floor * floor) {
    memset(v, 0, sizeof(float) * (size_t)n);
  } else {
    float k = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < n; i++)
      v[i] *= k;
  }
}

static void normalize(float *v, int n)
{
  normalize_above(v, n, 0);
}

static float median(float *a, int n)
{
  /* n <= 64: insertion sort is enough. */
  for (int i = 1; i < n; i++) {
    float x = a[i];
    int j = i;
    for (; j > 0 && a[j - 1] > x; j--)
      a[j] = a[j - 1];
    a[j] = x;
  }
  return n % 2 ? a[n / 2] : 0.5f * (a[n / 2 - 1] + a[n / 2]);
}

static uint64_t hash_from(const float dy[NU][NU])
{
  float even[64], odd[64], te[64], to[64];
  int ne = 0, no = 0, bit = 0;
  float me, mo;
  uint64_t h = 0;

  /* Terms: u, v < 8 without DC, then (u=8, v=0): 64 in all. */
  for (int v = 0; v < 8; v++)
    for (int u = 0; u < 9; u++) {
      if ((u == 0 && v == 0) || (u == 8 && v != 0))
        continue;
      if (u % 2)
        odd[no++] = fabsf(dy[v][u]);
      else
        even[ne++] = dy[v][u];
    }
  memcpy(te, even, sizeof(float) * (size_t)ne);
  memcpy(to, odd, sizeof(float) * (size_t)no);
  me = median(te, ne);
  mo = median(to, no);
  ne = no = 0;
  for (int v = 0; v < 8; v++)
    for (int u = 0; u < 9; u++) {
      if ((u == 0 && v == 0) || (u == 8 && v != 0))
        continue;
      if (u % 2 ? odd[no++] > mo : even[ne++] > me)
        h |= 1ull << bit;
      bit++;
    }
  return h;
}

/* Median colour of n pixels from p, step bytes apart (per channel, by
 * counting: n may be thousands for a full-size decode). */
static void line_median(const uint8_t *p, size_t step, int n, int ch,
                        int ref[3])
{
  for (int k = 0; k < ch; k++) {
    int cnt[256] = { 0 }, acc = 0, v = 0;
    for (int i = 0; i < n; i++)
      cnt[p[(size_t)i * step + (size_t)k]]++;
    while (v < 255 && (acc += cnt[v]) * 2 < n)
      v++;
    ref[k] = v;
  }
}

/* Whether the n pixels from p (step bytes apart) are, all but a few, of
 * colour ref. */
static int line_is(const uint8_t *p, size_t step, int n, int ch,
                   const int ref[3])
{
  int bad = 0, allow = (int)(n * TRIM_OUTLIERS);

  for (int i = 0; i < n; i++) {
    const uint8_t *q = p + (size_t)i * step;
    for (int k = 0; k < ch; k++)
      if (abs(q[k] - ref[k]) > TRIM_TOL) {
        if (++bad > allow)
          return 0;
        break;
      }
  }
  return 1;
}

/* Moves one side of b inward over the border lines of that side.  side:
 * 0 top, 1 bottom, 2 left, 3 right. */
static int trim_side(const struct image *im, struct box *b, int side)
{
  int ch = im->channels, vert = side < 2, far = side & 1;
  int len = vert ? b->x1 - b->x0 : b->y1 - b->y0;
  int depth = vert ? im->h : im->w;
  int done = side == 0 ? b->y0 : side == 1 ? im->h - b->y1
             : side == 2 ? b->x0 : im->w - b->x1;
  int max = (int)(depth * TRIM_MAX) - done;
  size_t step = vert ? (size_t)ch : (size_t)im->w * (size_t)ch;
  int ref[3] = { 0 }, t;

  for (t = 0; t < max; t++) {
    int line = far ? (vert ? b->y1 : b->x1) - 1 - t
                   : (vert ? b->y0 : b->x0) + t;
    const uint8_t *p = im->px + (vert
        ? ((size_t)line * (size_t)im->w + (size_t)b->x0) * (size_t)ch
        : ((size_t)b->y0 * (size_t)im->w + (size_t)line) * (size_t)ch);
    if (t == 0)
      line_median(p, step, len, ch, ref);
    if (!line_is(p, step, len, ch, ref))
      break;
  }
  if (side == 0)
    b->y0 += t;
  else if (side == 1)
    b->y1 -= t;
  else if (side == 2)
    b->x0 += t;
  else
    b->x1 -= t;
  return t;
}

/* The picture inside its solid borders (letterbox, pillarbox, padding). */
static void find_content(const struct image *im, struct box *b)
{
  b->x0 = b->y0 = 0;
  b->x1 = im->w;
  b->y1 = im->h;
  for (int pass = 0; pass < TRIM_PASSES; pass++) {
    int moved = 0;
    for (int side = 0; side < 4; side++)
      moved += trim_side(im, b, side);
    if (!moved)
      break;
  }
}

/* The central FEAT_CENTRE of b (at least one pixel each way). */
static void centre_of(struct box *b)
{
  int w = b->x1 - b->x0, h = b->y1 - b->y0;
  int cw = (int)(w * FEAT_CENTRE + 0.5), chh = (int)(h * FEAT_CENTRE + 0.5);

  if (cw < 1)
    cw = 1;
  if (chh < 1)
    chh = 1;
  b->x0 += (w - cw) / 2;
  b->y0 += (h - chh) / 2;
  b->x1 = b->x0 + cw;
  b->y1 = b->y0 + chh;
}

/* The grid in Y/Cb/Cr; returns the mean luma.  The grid weights are
 * overlaps in grid units, so each cell's weights sum to 1 and the sums are
 * already means. */
static float grid_ycc(const struct image *im, const struct imgfeat_sat *sat,
                      const struct box *bx, float yy[G][G], float cb[G][G],
                      float cr[G][G])
{
  float rgb[3][G][G];
  double ys[4] = { 0, 0, 0, 0 };

  if (sat)
    imgfeat_sat_grid(sat, bx->x0, bx->y0, bx->x1, bx->y1, rgb);
  else
    grid_rgb(im, bx, rgb);
  /* Plain loops over whole rows, which the compiler vectorises; the mean
   * is summed in four independent parts (in double, so their order does
   * not matter at float precision). */
  for (int y = 0; y < G; y++)
    for (int x = 0; x < G; x++) {
      float r = rgb[0][y][x], gg = rgb[1][y][x], b = rgb[2][y][x];
      yy[y][x] = W_R * r + W_G * gg + W_B * b;
      cb[y][x] = -0.168736f * r - 0.331264f * gg + 0.5f * b;
      cr[y][x] = 0.5f * r - 0.418688f * gg - 0.081312f * b;
    }
  for (int y = 0; y < G; y++)
    for (int x = 0; x < G; x += 4) {
      ys[0] += yy[y][x];
      ys[1] += yy[y][x + 1];
      ys[2] += yy[y][x + 2];
      ys[3] += yy[y][x + 3];
    }
  return (float)(((ys[0] + ys[1]) + (ys[2] + ys[3])) / (G * G));
}

/* Luma structure (N_LUMA values into v); odd horizontal frequencies as
 * magnitudes, so that a mirrored picture gives the same values. */
static void luma_block(float dy[NU][NU], float *v)
{
  int k = 0;

  for (int v2 = 0; v2 < NU; v2++)
    for (int u = 0; u < NU; u++) {
      if (u + v2 < 1 || u + v2 > LUMA_MAX)
        continue;
      v[k++] = u % 2 ? fabsf(dy[v2][u]) : dy[v2][u];
    }
  /* The terms are sums over G*G cells: a contrast of one grey level over
   * the picture gives hundreds, float noise on a flat image 1e-3. */
  normalize_above(v, N_LUMA, 1.0);
  k = 0;
  for (int v2 = 0; v2 < NU; v2++)
    for (int u = 0; u < NU; u++) {
      if (u + v2 < 1 || u + v2 > LUMA_MAX)
        continue;
      v[k++] *= u + v2 > LUMA_LOW ? FEAT_W_LUMA_HI : FEAT_W_LUMA;
    }
}

/* Chroma layout relative to mean luma (N_CHROMA values into v; +16 keeps
 * near-black images from blowing up). */
static void chroma_block(float dcb[NU][NU], float dcr[NU][NU], float ymean,
                         float *v)
{
  float cnorm = 1.0f / ((float)(G * G) * (ymean + 16.0f));
  int k = 0;

  for (int v2 = 0; v2 <= CHROMA_MAX; v2++)
    for (int u = 0; u + v2 <= CHROMA_MAX; u++) {
      float a = dcb[v2][u] * cnorm, b = dcr[v2][u] * cnorm;
      v[k++] = FEAT_W_CHROMA * (u % 2 ? fabsf(a) : a);
      v[k++] = FEAT_W_CHROMA * (u % 2 ? fabsf(b) : b);
    }
}

/* Colour histogram over the grid cells (N_HIST values into hist, zeroed
 * by the caller): saturated cells vote for hue x saturation, grey ones for
 * a luma bin, cells in between for both by their saturation weight. */
static void colour_hist(float yy[G][G], float cb[G][G], float cr[G][G],
                        float ymean, float *hist)
{
  imgfeat_hist_votes((const float(*)[G])yy, (const float(*)[G])cb,
                     (const float(*)[G])cr, ymean, hist);
  for (int i = 0; i < N_HIST; i++)
    hist[i] = sqrtf(hist[i] / (G * G));
  normalize(hist, N_HIST);
  for (int i = 0; i < N_HIST; i++)
    hist[i] *= FEAT_W_HIST;
}

/* The vector of one window (its central FEAT_CENTRE is described), and
 * the hash when ret_hash is set. */
static void describe(const struct image *im, const struct imgfeat_sat *sat,
                     struct box b, float *v, uint64_t *ret_hash)
{
  float yy[G][G], cb[G][G], cr[G][G], dy[NU][NU], dcb[NU][NU], dcr[NU][NU];
  float ymean;

  centre_of(&b);
  ymean = grid_ycc(im, sat, &b, yy, cb, cr);
  imgfeat_dct_luma((const float(*)[G])yy, dy);
  /* chroma uses u + v <= CHROMA_MAX */
  imgfeat_dct_chroma((const float(*)[G])cb, (const float(*)[G])cr, dcb, dcr);
  luma_block(dy, v);
  chroma_block(dcb, dcr, ymean, v + N_LUMA);
  colour_hist(yy, cb, cr, ymean, v + N_LUMA + N_CHROMA);
  normalize(v, IMGFEAT_DIM);
  if (ret_hash)
    *ret_hash = hash_from((const float(*)[NU])dy);
}

/* Sub-window k of the content box c: k = 0 drops SUB_CROP / 2 on every
 * side (the window a centred crop keeps), k = 1..4 drop SUB_CROP off two
 * adjacent sides (the window a crop towards one corner keeps: top-left,
 * top-right, bottom-left, bottom-right cut).  A window that would be
 * empty stays the whole box. */
static struct box sub_window(const struct box *c, int k)
{
  int w = c->x1 - c->x0, h = c->y1 - c->y0;
  int dx = (int)(w * SUB_CROP + 0.5), dy = (int)(h * SUB_CROP + 0.5);
  struct box b = *c;

  if (dx >= w || dy >= h)
    return b;
  if (k == 0) {
    b.x0 += dx / 2;
    b.y0 += dy / 2;
    b.x1 -= dx - dx / 2;
    b.y1 -= dy - dy / 2;
    return b;
  }
  if (k == 1 || k == 3)
    b.x0 += dx;
  else
    b.x1 -= dx;
  if (k <= 2)
    b.y0 += dy;
  else
    b.y1 -= dy;
  return b;
}

int imgfeat_compute(const struct image *im, struct imgfeat *ret)
{
  int box[4];

  return imgfeat_compute_box(im, ret, box);
}

int imgfeat_compute_box(const struct image *im, struct imgfeat *ret,
                        int box[4])
{
  struct imgfeat_sat sat = { 0 };
  struct box b;
  bool use_sat;

  memset(ret, 0, sizeof(*ret));
  if (!im || !im->px || im->w < 1 || im->h < 1 ||
      (im->channels != 1 && im->channels != 3))
    return -EINVAL;
  pthread_once(&tab_once, imgfeat_tables_init);
  find_content(im, &b);
  box[0] = b.x0;
  box[1] = b.y0;
  box[2] = b.x1;
  box[3] = b.y1;
  /* Larger boxes (a full-size picture, not the import's reduced decode)
   * are averaged window by window, with no allocation. */
  use_sat = (uint64_t)(b.x1 - b.x0) * (uint64_t)(b.y1 - b.y0) <=
                IMGFEAT_SAT_MAX_PIXELS &&
            imgfeat_sat_build(im, b.x0, b.y0, b.x1, b.y1, &sat) == 0;
  describe(im, use_sat ? &sat : NULL, b, ret->v, &ret->phash);
  for (int k = 0; k < IMGFEAT_NSUB; k++)
    describe(im, use_sat ? &sat : NULL, sub_window(&b, k), ret->sub[k],
             NULL);
  free(sat.v);
  return 0;
}

/* The mean of two means of main vectors, weighted equally: of the 3,097
 * files of tests/bench/bench_neardup.py (163 photographs from Debian
 * packages and 18 edited copies of each, as `curate embeddings --export`
 * wrote them) and of the 6,000 images of tests/quality (300 generated
 * pictures and 19 copies of each).  Either mean alone leaves the other
 * kind of pictures with a common component that brings them all closer
 * (docs/ARCHITECTURE.md §10).  neardup.threshold is measured from it, so
 * it changes only with a new measurement: computed from version 3
 * features (version 4 kept the main vector); version 5's border rule
 * changes the main vector of pictures with a faintly textured edge only,
 * and its figures (the benchmark, the quality set) were measured from
 * this origin. */
const float imgfeat_origin[IMGFEAT_DIM] = {
  0.2938796f, -0.08536109f, 0.1605545f, -0.01798657f, 0.1005382f, -0.001433781f,
  0.03354645f, -0.00448198f, 0.02458028f, -0.003851577f, 0.07416329f, 0.1556951f,
  0.0001637263f, 0.09408751f, 0.003058341f, 0.05940121f, 0.001778662f, 0.02067444f,
  0.000476095f, 0.01585851f, 0.03417746f, 0.1083769f, 0.005361896f, 0.07649011f,
  -0.004559603f, 0.02580852f, 0.0001866694f, 0.01973069f, 0.001733492f, 0.01410628f,
  0.08039423f, 0.00600372f, 0.05876452f, -0.000122218f, 0.0231074f, -0.001846205f,
  0.01790318f, -0.009391121f, 0.06187426f, 0.002498972f, 0.02488073f, 0.0002609886f,
  0.01915546f, -0.00200651f, 0.004332801f, 0.05010397f, -0.001713288f, 0.02029596f,
  -0.0003548569f, 0.01756332f, 0.002434509f, 0.02247315f, 0.001043845f, 0.01788951f,
  0.001176745f, -0.0006707105f, 0.01779417f, -0.0004133151f, 0.01624709f, -0.000991629f,
  0.01526846f, 0.0004159755f, -0.0002112043f, 0.01431787f, 0.0004945337f, -0.005305979f,
  0.002316091f, 0.007130938f, 0.007073455f, 0.0004679396f, -0.0006837759f, 0.00381488f,
  0.004039405f, 0.002172464f, -0.0004566407f, 0.003387649f, 0.003581225f, -0.0002077963f,
  -0.0002910537f, 0.0008101595f, -0.0009539267f, 0.002540797f, 0.002437483f, -0.0001362936f,
  -0.0001117238f, 0.01137301f, 0.009278345f, 0.007113483f, 0.009554902f, 0.00837921f,
  0.006774725f, 0.009369774f, 0.007908704f, 0.006962423f, 0.01189639f, 0.009040344f,
  0.00765618f, 0.02105369f, 0.01496709f, 0.008743138f, 0.02456223f, 0.01692302f,
  0.00598006f, 0.02110446f, 0.0155297f, 0.002811732f, 0.01756667f, 0.01303068f,
  0.00279998f, 0.01449914f, 0.01054033f, 0.003702867f, 0.01338479f, 0.01064464f,
  0.00393739f, 0.01711519f, 0.01387938f, 0.005956071f, 0.01897753f, 0.01390024f,
  0.007176115f, 0.004096344f, 0.01195971f, 0.02941473f, 0.04741389f, 0.03516637f,
  0.01495207f, 0.007282759f
};

int imgfeat_content(const struct image *im, int box[4])
{
  struct box b;

  if (!im || !im->px || im->w < 1 || im->h < 1 ||
      (im->channels != 1 && im->channels != 3))
    return -EINVAL;
  find_content(im, &b);
  box[0] = b.x0;
  box[1] = b.y0;
  box[2] = b.x1;
  box[3] = b.y1;
  return 0;
}

int imgfeat_hamming(uint64_t a, uint64_t b)
{
  return __builtin_popcountll(a ^ b);
}
