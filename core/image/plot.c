/* plot.c - line charts and the embeddings scatter (see plot.h).
 *
 * Layout: a white canvas, the title on top, the plot frame on the left,
 * and a legend panel on the right (about a quarter of the width).  All
 * sizes derive from draw_scale_for() so charts stay readable at any size.
 * PCA uses a two-vector subspace iteration instead of a full covariance
 * eigen-decomposition: it costs O(sample x dim) per step, so 2048-d
 * embeddings cost no more than a few passes over the sample.
 */
#include "plot.h"
#include "plot_i.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCA_MAX_SAMPLE 20000
#define PCA_ITERS 60

const struct rgb PLOT_BLACK = { 0, 0, 0 }, PLOT_GREY = { 150, 150, 150 },
                 PLOT_LIGHT = { 225, 225, 225 };

int plot_canvas(struct image *im, int *w, int *h)
{
  if (*w == 0 && *h == 0) {
    *w = 1024;
    *h = 768;
  }
  if (*w < PLOT_MIN_SIZE || *h < PLOT_MIN_SIZE || *w > PLOT_MAX_SIZE ||
      *h > PLOT_MAX_SIZE)
    return -EINVAL;
  int r = image_alloc(im, *w, *h, 3);
  if (r < 0)
    return r;
  memset(im->px, 255, (size_t)*w * (size_t)*h * 3);
  return 0;
}

void plot_layout(struct image *im, const char *title, struct frame *f)
{
  f->sc = draw_scale_for(im->w, im->h);
  /* Text in charts is smaller than captions on photos: charts are viewed
   * whole. */
  f->sc.text = f->sc.text * 2 / 3;
  if (f->sc.text < 1)
    f->sc.text = 1;
  int s = f->sc.text, th = draw_text_height(s);
  f->legend_x = im->w - im->w / 4;
  f->x0 = draw_text_width("0.0", s) + th * 3;
  f->x1 = f->legend_x - th * 3;
  f->y0 = th * 5;
  f->y1 = im->h - th * 4;
  if (title)
    draw_text(im, f->x0, th, title, s, PLOT_BLACK);
  f->rows = (f->y1 - f->y0) / (th + s * 3);
}

/* Maps unit coordinates into the frame. */
double plot_fx(const struct frame *f, double v)
{
  return f->x0 + v * (f->x1 - 1 - f->x0);
}

double plot_fy(const struct frame *f, double v)
{
  return f->y1 - 1 - v * (f->y1 - 1 - f->y0);
}

/* Frame, grid and tick numbers for [lo, hi] on both axes. */
void plot_axes(struct image *im, const struct frame *f, double xlo,
                 double xhi, double ylo, double yhi, const char *xt,
                 const char *yt, bool numbers)
{
  int s = f->sc.text, th = draw_text_height(s);
  char txt[32];

  for (int k = 0; k <= 5; k++) {
    double u = k / 5.0;
    draw_line(im, plot_fx(f, u), f->y0, plot_fx(f, u), f->y1 - 1, 1, PLOT_LIGHT);
    draw_line(im, f->x0, plot_fy(f, u), f->x1 - 1, plot_fy(f, u), 1, PLOT_LIGHT);
    if (!numbers)
      continue;
    snprintf(txt, sizeof(txt), "%.1f", xlo + u * (xhi - xlo));
    draw_text(im, (int)plot_fx(f, u) - draw_text_width(txt, s) / 2, f->y1 + s * 3,
              txt, s, PLOT_BLACK);
    snprintf(txt, sizeof(txt), "%.1f", ylo + u * (yhi - ylo));
    draw_text(im, f->x0 - draw_text_width(txt, s) - s * 3,
              (int)plot_fy(f, u) - th / 2, txt, s, PLOT_BLACK);
  }
  draw_rect(im, f->x0, f->y0, f->x1 - f->x0, f->y1 - f->y0, 1, PLOT_BLACK);
  if (xt)
    draw_text(im, (f->x0 + f->x1 - draw_text_width(xt, s)) / 2,
              f->y1 + th + s * 5, xt, s, PLOT_BLACK);
  if (yt) {
    /* No rotated text: the y title sits above the axis. */
    draw_text(im, s * 2, f->y0 - th - s * 4, yt, s, PLOT_BLACK);
  }
}

void plot_legend_entry(struct image *im, const struct frame *f, int row,
                         struct rgb c, const char *text)
{
  int s = f->sc.text, th = draw_text_height(s);
  int y = f->y0 + row * (th + s * 3);
  int x = f->legend_x;
  draw_fill(im, x, y, x + th, y + th, c);
  draw_text(im, x + th + s * 2, y, text, s, PLOT_BLACK);
}

int plot_finish(struct image *im, uint8_t **ret_data, size_t *ret_len)
{
  int r = jpeg_encode(im, 90, ret_data, ret_len);
  image_free(im);
  return r;
}

int plot_lines_jpeg(const struct plot_series *s, size_t n, const char *title,
                    const char *x_title, const char *y_title, int w, int h,
                    uint8_t **ret_data, size_t *ret_len)
{
  struct image im;
  struct frame f;
  int r;

  if ((n && !s) || !ret_data || !ret_len)
    return -EINVAL;
  r = plot_canvas(&im, &w, &h);
  if (r < 0)
    return r;
  plot_layout(&im, title, &f);
  plot_axes(&im, &f, 0, 1, 0, 1, x_title, y_title, true);
  int t = f.sc.line > 1 ? f.sc.line : 2;
  for (size_t k = 0; k < n; k++) {
    for (size_t i = 1; s[k].x && s[k].y && i < s[k].n; i++) {
      double ax = s[k].x[i - 1], ay = s[k].y[i - 1];
      double bx = s[k].x[i], by = s[k].y[i];
      if (!isfinite(ax) || !isfinite(ay) || !isfinite(bx) || !isfinite(by))
        continue;
      ax = fmin(fmax(ax, 0), 1), ay = fmin(fmax(ay, 0), 1);
      bx = fmin(fmax(bx, 0), 1), by = fmin(fmax(by, 0), 1);
      draw_line(&im, plot_fx(&f, ax), plot_fy(&f, ay), plot_fx(&f, bx), plot_fy(&f, by), t,
                s[k].colour);
    }
  }
  size_t cap = (size_t)(f.rows > 1 ? f.rows : 1);
  if (cap > PLOT_MAX_LEGEND)
    cap = PLOT_MAX_LEGEND;
  size_t shown = n <= cap ? n : cap - 1;
  for (size_t k = 0; k < shown; k++)
    plot_legend_entry(&im, &f, (int)k, s[k].colour, s[k].label ? s[k].label : "");
  if (shown < n) {
    char more[48];
    snprintf(more, sizeof(more), "+%zu more", n - shown);
    plot_legend_entry(&im, &f, (int)shown, PLOT_GREY, more);
  }
  if (n == 0)
    draw_text(&im, f.x0 + f.sc.text * 4, f.y0 + f.sc.text * 4,
              "no curves", f.sc.text, PLOT_BLACK);
  return plot_finish(&im, ret_data, ret_len);
}

/*---- PCA ------------------------------------------------------------------*/

static inline double val(float v)
{
  return isfinite(v) ? (double)v : 0.0;
}

/* Orthonormalises the two vectors a, b (Gram-Schmidt).  A vanishing vector
 * is replaced by a coordinate axis not yet used. */
static void orthonormalise(double *a, double *b, size_t dim)
{
  double na = 0;
  for (size_t j = 0; j < dim; j++)
    na += a[j] * a[j];
  if (!(na > 1e-300)) {
    memset(a, 0, dim * sizeof(*a));
    a[0] = 1;
    na = 1;
  }
  na = sqrt(na);
  for (size_t j = 0; j < dim; j++)
    a[j] /= na;
  double d = 0, nb = 0;
  for (size_t j = 0; j < dim; j++)
    d += a[j] * b[j];
  for (size_t j = 0; j < dim; j++) {
    b[j] -= d * a[j];
    nb += b[j] * b[j];
  }
  if (!(nb > 1e-300) && dim > 1) {
    memset(b, 0, dim * sizeof(*b));
    b[fabs(a[0]) < 0.9 ? 0 : 1] = 1;
    d = 0;
    for (size_t j = 0; j < dim; j++)
      d += a[j] * b[j];
    nb = 0;
    for (size_t j = 0; j < dim; j++) {
      b[j] -= d * a[j];
      nb += b[j] * b[j];
    }
  }
  nb = nb > 0 ? sqrt(nb) : 1;
  for (size_t j = 0; j < dim; j++)
    b[j] /= nb;
}

/* The mean of all n rows into mean[dim], and the centred subsample (every
 * stride-th row, m rows) into c[m][dim]; returns the subsample's total
 * variance (sum of squares). */
static double pca_centre(const float *X, size_t n, size_t dim, size_t stride,
                         size_t m, double *mean, double *c)
{
  double total = 0;

  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < dim; j++)
      mean[j] += val(X[i * dim + j]);
  for (size_t j = 0; j < dim; j++)
    mean[j] /= (double)n;
  for (size_t k = 0; k < m; k++)
    for (size_t j = 0; j < dim; j++) {
      double d = val(X[k * stride * dim + j]) - mean[j];
      c[k * dim + j] = d;
      total += d * d;
    }
  return total;
}

/* One subspace iteration: v (two orthonormal vectors) becomes the
 * orthonormalised C^T C v, the larger first; nv is scratch of 2 * dim.
 * Returns the variance along the two vectors before the step (Rayleigh
 * quotients). */
static double pca_step(const double *c, size_t m, size_t dim, double *v,
                       double *nv)
{
  memset(nv, 0, 2 * dim * sizeof(double));
  for (size_t k = 0; k < m; k++) {
    const double *row = c + k * dim;
    double p0 = 0, p1 = 0;
    for (size_t j = 0; j < dim; j++) {
      p0 += row[j] * v[j];
      p1 += row[j] * v[dim + j];
    }
    for (size_t j = 0; j < dim; j++) {
      nv[j] += p0 * row[j];
      nv[dim + j] += p1 * row[j];
    }
  }
  double q0 = 0, q1 = 0;
  for (size_t j = 0; j < dim; j++) {
    q0 += nv[j] * v[j];
    q1 += nv[dim + j] * v[dim + j];
  }
  /* Keep the larger one first. */
  double n0 = 0, n1 = 0;
  for (size_t j = 0; j < dim; j++) {
    n0 += nv[j] * nv[j];
    n1 += nv[dim + j] * nv[dim + j];
  }
  if (n1 > n0)
    for (size_t j = 0; j < dim; j++) {
      double t = nv[j];
      nv[j] = nv[dim + j];
      nv[dim + j] = t;
    }
  memcpy(v, nv, 2 * dim * sizeof(double));
  orthonormalise(v, v + dim, dim);
  return q0 + q1;
}

/* Signs fixed so that each vector's largest coordinate is positive: the
 * same picture on every run. */
static void pca_fix_signs(double *v, size_t dim)
{
  for (int k = 0; k < 2; k++) {
    double *u = v + (size_t)k * dim;
    size_t arg = 0;
    for (size_t j = 1; j < dim; j++)
      if (fabs(u[j]) > fabs(u[arg]))
        arg = j;
    if (u[arg] < 0)
      for (size_t j = 0; j < dim; j++)
        u[j] = -u[j];
  }
}

int plot_pca2(const float *X, size_t n, size_t dim, float *out,
              double *ret_var2)
{
  if (!dim || (n && (!X || !out)))
    return -EINVAL;
  if (ret_var2)
    *ret_var2 = 0;
  if (n == 0)
    return 0;
  size_t stride = n > PCA_MAX_SAMPLE ? (n + PCA_MAX_SAMPLE - 1) / PCA_MAX_SAMPLE
                                     : 1;
  size_t m = (n + stride - 1) / stride;
  double *mean = calloc(dim, sizeof(double));
  double *v = calloc(2 * dim, sizeof(double));
  double *nv = calloc(2 * dim, sizeof(double));
  double *c = malloc(m * dim * sizeof(double)); /* centred sample */
  if (!mean || !v || !nv || !c) {
    free(mean), free(v), free(nv), free(c);
    return -ENOMEM;
  }
  double total = pca_centre(X, n, dim, stride, m, mean, c);

  /* Deterministic start: the two highest-variance coordinates, nudged so
   * that the start is not orthogonal to the answer by construction. */
  for (size_t j = 0; j < dim; j++) {
    v[j] = 1.0 / (double)(j + 1);
    v[dim + j] = (j % 2 ? -1.0 : 1.0) / (double)(j + 2);
  }
  orthonormalise(v, v + dim, dim);
  double captured = 0;
  for (int it = 0; it < PCA_ITERS; it++)
    captured = pca_step(c, m, dim, v, nv);
  pca_fix_signs(v, dim);
  for (size_t i = 0; i < n; i++) {
    double p0 = 0, p1 = 0;
    for (size_t j = 0; j < dim; j++) {
      double d = val(X[i * dim + j]) - mean[j];
      p0 += d * v[j];
      p1 += d * v[dim + j];
    }
    out[2 * i] = (float)p0;
    out[2 * i + 1] = (float)p1;
  }
  if (ret_var2)
    *ret_var2 = total > 0 ? fmin(fmax(captured / total, 0), 1) : 0;
  free(mean), free(v), free(nv), free(c);
  return 0;
}

