/* plot_map.c - maps of 2-D points, their thumbnail version, contact sheets
 * and the PCA scatter of embeddings (see plot.h).
 *
 * Points are scaled to the frame by their own bounds with 3 % padding, so
 * the map uses the whole frame whatever the coordinates' units.  The
 * thumbnail picture picks one point per cell of a grid rather than
 * drawing every image: at 100,000 points drawing all would be one smear
 * and cost 100,000 decodes; a grid shows what each region looks like at a
 * bounded cost (about (w / PLOT_THUMB) x (h / PLOT_THUMB) decodes).
 */
#include "plot.h"
#include "plot_i.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct key_count {
  uint32_t key;
  size_t n;
};

static int cmp_count(const void *a, const void *b)
{
  const struct key_count *x = a, *y = b;
  if (x->n != y->n)
    return x->n > y->n ? -1 : 1;
  return x->key < y->key ? -1 : x->key > y->key;
}

/* Bounds of the points, for scaling into the frame. */
struct bounds {
  float lo0, hi0, lo1, hi1;
};

static struct bounds bounds_of(const float *p, size_t n)
{
  struct bounds b = { 0, 0, 0, 0 };
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    float u = p[2 * i], v = p[2 * i + 1];
    if (!isfinite(u) || !isfinite(v))
      continue;
    if (first || u < b.lo0)
      b.lo0 = u;
    if (first || u > b.hi0)
      b.hi0 = u;
    if (first || v < b.lo1)
      b.lo1 = v;
    if (first || v > b.hi1)
      b.hi1 = v;
    first = false;
  }
  return b;
}

/* Pixel position of point i; false for a non-finite point. */
static bool place(const struct frame *f, const struct bounds *b,
                  const float *p, size_t i, double *x, double *y)
{
  double s0 = b->hi0 > b->lo0 ? b->hi0 - b->lo0 : 1;
  double s1 = b->hi1 > b->lo1 ? b->hi1 - b->lo1 : 1;
  if (!isfinite(p[2 * i]) || !isfinite(p[2 * i + 1]))
    return false;
  *x = plot_fx(f, 0.03 + 0.94 * (p[2 * i] - b->lo0) / s0);
  *y = plot_fy(f, 0.03 + 0.94 * (p[2 * i + 1] - b->lo1) / s1);
  return true;
}

static struct rgb point_colour(const struct plot_map *m, size_t i)
{
  if (m->value)
    return draw_ramp(m->value[i]);
  if (!m->key)
    return (struct rgb){ 31, 119, 180 };
  return m->key[i] < m->n_keys ? draw_palette(m->key[i]) : PLOT_GREY;
}

/* Every point as a dot; counts the keys into kc (slot n_keys: every key
 * >= n_keys). */
static void scatter(struct image *im, const struct frame *f,
                    const struct plot_map *m, int rad, struct key_count *kc)
{
  struct bounds b = bounds_of(m->xy, m->n);
  for (size_t i = 0; i < m->n; i++) {
    double x, y;
    if (kc && m->key)
      kc[m->key[i] < m->n_keys ? m->key[i] : m->n_keys].n++;
    if (place(f, &b, m->xy, i, &x, &y))
      draw_point(im, x, y, rad, point_colour(m, i));
  }
}

/* The keys present, largest first, as far as the legend has rows; the
 * rest as "+N more". */
static void key_legend(struct image *im, const struct frame *f,
                       struct key_count *kc, size_t n_keys,
                       const char *const *key_names)
{
  int row = 0;

  for (size_t k = 0; k <= n_keys; k++)
    kc[k].key = (uint32_t)k;
  qsort(kc, n_keys + 1, sizeof(*kc), cmp_count);
  for (size_t k = 0; k <= n_keys && kc[k].n; k++) {
    char txt[128];
    bool other = kc[k].key == n_keys;
    int cap = f->rows < PLOT_MAX_LEGEND ? f->rows : PLOT_MAX_LEGEND;
    if (row >= cap - 1 && k + 1 <= n_keys && kc[k + 1].n) {
      size_t rest = 0;
      for (size_t j = k; j <= n_keys; j++)
        rest += kc[j].n ? 1 : 0;
      snprintf(txt, sizeof(txt), "+%zu more", rest);
      plot_legend_entry(im, f, row, PLOT_GREY, txt);
      break;
    }
    const char *nm = other ? "other" : key_names[kc[k].key]
                                           ? key_names[kc[k].key] : "?";
    snprintf(txt, sizeof(txt), "%.*s (%zu)", (int)utf8_cut(nm, 40), nm,
             kc[k].n);
    plot_legend_entry(im, f, row++, other ? PLOT_GREY
                                          : draw_palette(kc[k].key), txt);
  }
}

/* A vertical colour bar of draw_ramp() in the legend panel, 1 at the
 * top. */
static void value_legend(struct image *im, const struct frame *f,
                         const char *name)
{
  int s = f->sc.text, th = draw_text_height(s);
  int x = f->legend_x, y0 = f->y0 + th + s * 3, y1 = f->y1 - th;
  draw_text(im, x, f->y0, name ? name : "value", s, PLOT_BLACK);
  for (int y = y0; y < y1; y++)
    draw_fill(im, x, y, x + th * 2, y + 1,
              draw_ramp(1.0 - (double)(y - y0) / (y1 - y0 > 1 ? y1 - y0 - 1
                                                               : 1)));
  draw_text(im, x + th * 2 + s * 3, y0, "1.0", s, PLOT_BLACK);
  draw_text(im, x + th * 2 + s * 3, (y0 + y1 - th) / 2, "0.5", s,
            PLOT_BLACK);
  draw_text(im, x + th * 2 + s * 3, y1 - th, "0.0", s, PLOT_BLACK);
  plot_legend_entry(im, f, (y1 - f->y0) / (th + s * 3) + 1,
                    draw_ramp(NAN), "no value");
}

static int map_legend(struct image *im, const struct frame *f,
                      const struct plot_map *m, struct key_count *kc)
{
  if (m->value)
    value_legend(im, f, m->value_name);
  else if (m->key)
    key_legend(im, f, kc, m->n_keys, m->key_names);
  return 0;
}

static int check_map(const struct plot_map *m, uint8_t **ret_data,
                     size_t *ret_len)
{
  if (!m || (m->n && !m->xy) || !ret_data || !ret_len ||
      (m->key && m->n_keys && !m->key_names))
    return -EINVAL;
  return 0;
}

int plot_map_jpeg(const struct plot_map *m, int w, int h, uint8_t **ret_data,
                  size_t *ret_len)
{
  struct image im;
  struct frame f;
  int r = check_map(m, ret_data, ret_len);
  if (r < 0)
    return r;
  struct key_count *kc = calloc(m->n_keys + 1, sizeof(*kc));
  if (!kc)
    return -ENOMEM;
  r = plot_canvas(&im, &w, &h);
  if (r < 0) {
    free(kc);
    return r;
  }
  plot_layout(&im, m->title, &f);
  plot_axes(&im, &f, 0, 1, 0, 1, m->x_title, m->y_title, false);
  scatter(&im, &f, m, m->n < 2000 ? 3 : m->n < 50000 ? 2 : 1, kc);
  if (m->n == 0)
    draw_text(&im, f.x0 + f.sc.text * 4, f.y0 + f.sc.text * 4,
              "no embeddings", f.sc.text, PLOT_BLACK);
  map_legend(&im, &f, m, kc);
  free(kc);
  return plot_finish(&im, ret_data, ret_len);
}

/*---- thumbnails -------------------------------------------------------------*/

/* For each cell of a PLOT_THUMB grid over the frame, the point nearest the
 * cell's centre (or SIZE_MAX). */
static size_t *pick_cells(const struct frame *f, const float *xy, size_t n,
                          int *ret_cols, int *ret_rows)
{
  struct bounds b = bounds_of(xy, n);
  int cols = (f->x1 - f->x0) / PLOT_THUMB, rows = (f->y1 - f->y0) / PLOT_THUMB;
  cols = cols < 1 ? 1 : cols, rows = rows < 1 ? 1 : rows;
  size_t cells = (size_t)cols * (size_t)rows;
  size_t *best = malloc(cells * sizeof(*best));
  double *bd = malloc(cells * sizeof(*bd));
  if (!best || !bd) {
    free(best), free(bd);
    return NULL;
  }
  for (size_t c = 0; c < cells; c++)
    best[c] = SIZE_MAX, bd[c] = INFINITY;
  for (size_t i = 0; i < n; i++) {
    double x, y;
    if (!place(f, &b, xy, i, &x, &y))
      continue;
    int cx = (int)((x - f->x0) / PLOT_THUMB), cy = (int)((y - f->y0) / PLOT_THUMB);
    cx = cx < 0 ? 0 : cx >= cols ? cols - 1 : cx;
    cy = cy < 0 ? 0 : cy >= rows ? rows - 1 : cy;
    double ux = f->x0 + (cx + 0.5) * PLOT_THUMB - x;
    double uy = f->y0 + (cy + 0.5) * PLOT_THUMB - y;
    size_t c = (size_t)cy * (size_t)cols + (size_t)cx;
    if (ux * ux + uy * uy < bd[c])
      bd[c] = ux * ux + uy * uy, best[c] = i;
  }
  free(bd);
  *ret_cols = cols;
  *ret_rows = rows;
  return best;
}

/* One tile: item i's image fitted into the cell at (x, y), with a border
 * of its colour; a grey tile when the image cannot be had.  Returns the
 * bottom edge of what was drawn. */
static int tile(struct image *im, int x, int y, int side, size_t i,
                struct rgb border, plot_thumb_fn fn, void *ud)
{
  struct image t = { 0 };
  int tx = x, ty = y, tw = side, th = side;
  if (fn && fn(ud, i, side, &t) == 0) {
    draw_image_fit(im, &t, x, y, side, side, &tx, &ty, &tw, &th);
    image_free(&t);
  } else {
    draw_fill(im, x, y, x + side, y + side, PLOT_LIGHT);
  }
  draw_rect(im, tx - 1, ty - 1, tw + 2, th + 2, 1, border);
  return ty + th;
}

int plot_map_thumbs_jpeg(const struct plot_map *m, plot_thumb_fn fn, void *ud,
                         int w, int h, uint8_t **ret_data, size_t *ret_len)
{
  struct image im;
  struct frame f;
  int cols, rows, r = check_map(m, ret_data, ret_len);
  if (r < 0)
    return r;
  if (w == 0 && h == 0)
    w = 1600, h = 1200;
  struct key_count *kc = calloc(m->n_keys + 1, sizeof(*kc));
  if (!kc)
    return -ENOMEM;
  r = plot_canvas(&im, &w, &h);
  if (r < 0) {
    free(kc);
    return r;
  }
  plot_layout(&im, m->title, &f);
  plot_axes(&im, &f, 0, 1, 0, 1, m->x_title, m->y_title, false);
  scatter(&im, &f, m, 1, kc);
  size_t *best = pick_cells(&f, m->xy, m->n, &cols, &rows);
  if (!best) {
    image_free(&im);
    free(kc);
    return -ENOMEM;
  }
  int side = PLOT_THUMB - 4;
  for (int cy = 0; cy < rows; cy++)
    for (int cx = 0; cx < cols; cx++) {
      size_t i = best[(size_t)cy * (size_t)cols + (size_t)cx];
      if (i != SIZE_MAX)
        tile(&im, f.x0 + cx * PLOT_THUMB + 2, f.y0 + cy * PLOT_THUMB + 2, side,
             i, point_colour(m, i), fn, ud);
    }
  if (m->n == 0)
    draw_text(&im, f.x0 + f.sc.text * 4, f.y0 + f.sc.text * 4,
              "no embeddings", f.sc.text, PLOT_BLACK);
  map_legend(&im, &f, m, kc);
  free(best);
  free(kc);
  return plot_finish(&im, ret_data, ret_len);
}

/*---- contact sheets ---------------------------------------------------------*/

/* Sheet text is at scale 2 (17 px DejaVu): captions read at 100 %. */
#define SHEET_TEXT 2
#define SHEET_PAD 10

static int sheet_caption_h(void)
{
  return draw_text_height(SHEET_TEXT) + 6;
}

static int sheet_title_h(void)
{
  return draw_text_height(SHEET_TEXT) * 2 + SHEET_PAD;
}

int plot_sheet_width(void)
{
  return PLOT_SHEET_COLS * (PLOT_SHEET_CELL + SHEET_PAD) + SHEET_PAD;
}

int plot_sheet_height(size_t n)
{
  size_t rows = n ? (n + PLOT_SHEET_COLS - 1) / PLOT_SHEET_COLS : 1;
  return sheet_title_h() +
         (int)rows * (PLOT_SHEET_CELL + sheet_caption_h() + SHEET_PAD);
}

int plot_sheet_jpeg(size_t n, const char *const *captions, const char *title,
                    const char *empty, plot_thumb_fn fn, void *ud,
                    uint8_t **ret_data, size_t *ret_len)
{
  struct image im;
  if (n > PLOT_SHEET_MAX || (n && !captions) || !ret_data || !ret_len)
    return -EINVAL;
  int w = plot_sheet_width(), h = plot_sheet_height(n);
  int r = image_alloc(&im, w, h, 3);
  if (r < 0)
    return r;
  memset(im.px, 255, (size_t)w * (size_t)h * 3);
  int th = draw_text_height(SHEET_TEXT);
  if (title)
    draw_text(&im, SHEET_PAD, SHEET_PAD / 2 + th / 2, title, SHEET_TEXT,
              PLOT_BLACK);
  if (n == 0 && empty)
    draw_text(&im, SHEET_PAD, sheet_title_h() + SHEET_PAD, empty, SHEET_TEXT,
              PLOT_GREY);
  for (size_t i = 0; i < n; i++) {
    int col = (int)(i % PLOT_SHEET_COLS), row = (int)(i / PLOT_SHEET_COLS);
    int x = SHEET_PAD + col * (PLOT_SHEET_CELL + SHEET_PAD);
    int y = sheet_title_h() +
            row * (PLOT_SHEET_CELL + sheet_caption_h() + SHEET_PAD);
    int bottom = tile(&im, x, y, PLOT_SHEET_CELL, i, PLOT_LIGHT, fn, ud);
    /* Captions longer than the cell are cut to fit it. */
    const char *cap = captions[i] ? captions[i] : "";
    char buf[96];
    snprintf(buf, sizeof(buf), "%s", cap);
    while (strlen(buf) > 1 &&
           draw_text_width(buf, SHEET_TEXT) > PLOT_SHEET_CELL)
      buf[strlen(buf) - 1] = 0;
    /* Right under the image (landscape images sit mid-cell). */
    draw_text(&im, x, bottom + 3, buf, SHEET_TEXT, PLOT_BLACK);
  }
  r = jpeg_encode(&im, 90, ret_data, ret_len);
  image_free(&im);
  return r;
}

/*---- PCA scatter --------------------------------------------------------------*/

int plot_embeddings_jpeg(const float *X, size_t n, size_t dim,
                         const uint32_t *key, const char *const *key_names,
                         size_t n_keys, int w, int h, uint8_t **ret_data,
                         size_t *ret_len)
{
  double var2 = 0;
  char title[160];
  int r;

  if (!dim || (n && !X) || !ret_data || !ret_len || (n_keys && !key_names))
    return -EINVAL;
  float *p = malloc((n ? n : 1) * 2 * sizeof(float));
  if (!p)
    return -ENOMEM;
  r = plot_pca2(X, n, dim, p, &var2);
  snprintf(title, sizeof(title),
           "PCA of %zu embeddings (%zu-d): 2 components, %.0f%% of variance",
           n, dim, var2 * 100);
  struct plot_map m = { .xy = p, .n = n, .key = key, .key_names = key_names,
                        .n_keys = n_keys, .title = title, .x_title = "PC 1",
                        .y_title = "PC 2" };
  if (r == 0)
    r = plot_map_jpeg(&m, w, h, ret_data, ret_len);
  free(p);
  return r;
}
