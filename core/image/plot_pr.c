/* plot_pr.c - the precision-recall summary of an evaluation (see plot.h).
 *
 * Two panels.  Left: the dataset-wide curves (one per IoU setting, each
 * labelled with its AP), which stay readable whatever the number of
 * classes, unlike one line per class.  Right: every class's AP as a
 * horizontal bar, worst first, so the classes that need work are at the
 * top; the worst five are also listed by name under the curves.  The picture grows taller with the
 * number of classes instead of shrinking the text.
 */
#include "plot.h"
#include "plot_i.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PR_W 1400
#define PR_MIN_H 800
#define PR_WORST 5

struct cls {
  double ap;
  size_t k;
};

static int cmp_cls(const void *a, const void *b)
{
  const struct cls *x = a, *y = b;
  if (x->ap != y->ap)
    return x->ap < y->ap ? -1 : 1;
  return x->k < y->k ? -1 : x->k > y->k;
}

/* Text scale of the bar rows: 2 (17 px) up to 40 classes, 1 (10 px)
 * above, where a taller picture would stop fitting a screen. */
static int bar_text(size_t n)
{
  return n > 40 ? 1 : 2;
}

static int bar_row(size_t n)
{
  return draw_text_height(bar_text(n)) + 4;
}

static int top_band(void)
{
  return draw_text_height(2) * 4;
}

int plot_pr_height(size_t n_classes)
{
  int h = top_band() + (int)n_classes * bar_row(n_classes) +
          draw_text_height(2) * 3;
  return h < PR_MIN_H ? PR_MIN_H : h > PLOT_MAX_SIZE ? PLOT_MAX_SIZE : h;
}

int plot_pr_width(void)
{
  return PR_W;
}

/* Curve colours: blue, orange, green, purple (distinct for colour-blind
 * readers too). */
static const struct rgb CURVE_COL[PLOT_PR_CURVES] = {
  { 31, 119, 180 }, { 255, 127, 14 }, { 44, 160, 44 }, { 148, 103, 189 } };

/* The left panel: curves over [0,1]², legend in the lower left.  Returns
 * the bottom of the panel. */
static int curves(struct image *im, const struct plot_pr *p, int h)
{
  struct frame f;
  f.sc = (struct draw_scale){ 2, 2 };
  int s = 2, th = draw_text_height(s);
  f.x0 = draw_text_width("0.0", s) + th * 2;
  f.x1 = PR_W / 2 - th * 2;
  f.y0 = top_band();
  f.y1 = (f.y0 + (f.x1 - f.x0) < h - th * 4) ? f.y0 + (f.x1 - f.x0)
                                              : h - th * 4;
  f.legend_x = f.x1;
  f.rows = 0;
  plot_axes(im, &f, 0, 1, 0, 1, "recall", "precision", true);
  for (size_t c = 0; c < p->n_curves; c++) {
    struct rgb col = CURVE_COL[c];
    for (size_t i = 1; i < p->n_points; i++) {
      double ax = p->recall[i - 1], bx = p->recall[i];
      double ay = p->curve[c][i - 1], by = p->curve[c][i];
      if (!isfinite(ay) || !isfinite(by))
        continue;
      draw_line(im, plot_fx(&f, ax), plot_fy(&f, fmin(fmax(ay, 0), 1)),
                plot_fx(&f, bx), plot_fy(&f, fmin(fmax(by, 0), 1)), 3, col);
    }
    char txt[96];
    snprintf(txt, sizeof(txt), "%.*s  AP %.3f",
             (int)utf8_cut(p->curve_label[c], 40), p->curve_label[c],
             p->curve_ap[c]);
    int y = f.y1 - (int)(p->n_curves - c) * (th + 6) - th / 2;
    draw_fill(im, f.x0 + th, y + th / 3, f.x0 + th * 2, y + th * 2 / 3, col);
    draw_text(im, f.x0 + th * 2 + 6, y, txt, s, PLOT_BLACK);
  }
  return f.y1 + th * 3;
}

/* Under the curves: the worst classes by name, one a line. */
static void worst_list(struct image *im, const struct plot_pr *p,
                       const struct cls *c, size_t n, int y)
{
  int th = draw_text_height(2);
  if (n == 0)
    return;
  draw_text(im, 20, y, "Worst classes (AP, IoU 0.50:0.95):", 2, PLOT_BLACK);
  for (size_t i = 0; i < n && i < PR_WORST; i++) {
    char t[96];
    snprintf(t, sizeof(t), "%zu. %.*s  %.3f", i + 1,
             (int)utf8_cut(p->class_names[c[i].k], 48), p->class_names[c[i].k],
             c[i].ap);
    draw_text(im, 40, y + (int)(i + 1) * (th + 4), t, 2,
              (struct rgb){ 214, 39, 40 });
  }
}

/* The right panel: per-class AP bars, worst first. */
static void bars(struct image *im, const struct plot_pr *p, struct cls *c,
                 size_t n, size_t n_none)
{
  int s = bar_text(n), th = draw_text_height(s), row = bar_row(n);
  int x0 = PR_W / 2 + 10, name_w = 0;
  for (size_t i = 0; i < n; i++) {
    int tw = draw_text_width(p->class_names[c[i].k], s);
    name_w = tw > name_w ? tw : name_w;
  }
  if (name_w > PR_W / 6)
    name_w = PR_W / 6;
  int bx = x0 + name_w + 8, bw = PR_W - 70 - bx, y = top_band();
  draw_text(im, x0, top_band() - draw_text_height(2) * 2,
            "AP per class, worst first", 2, PLOT_BLACK);
  for (int k = 0; k <= 4; k++) {
    int gx = bx + bw * k / 4;
    char t[8];
    draw_line(im, gx, y, gx, y + (int)n * row, 1, PLOT_LIGHT);
    snprintf(t, sizeof(t), "%.2f", k / 4.0);
    draw_text(im, gx - draw_text_width(t, 1) / 2, y + (int)n * row + 4, t, 1,
              PLOT_BLACK);
  }
  for (size_t i = 0; i < n; i++, y += row) {
    char name[64];
    const char *cn = p->class_names[c[i].k];
    snprintf(name, sizeof(name), "%.*s",
             (int)utf8_cut(cn, sizeof(name) - 1), cn);
    /* Shortened a whole character at a time. */
    while (strlen(name) > 1 && draw_text_width(name, s) > name_w)
      name[utf8_cut(name, strlen(name) - 1)] = 0;
    draw_text(im, bx - 8 - draw_text_width(name, s), y + 2, name, s,
              PLOT_BLACK);
    struct rgb col = i < PR_WORST && n > PR_WORST
                         ? (struct rgb){ 214, 39, 40 }
                         : (struct rgb){ 31, 119, 180 };
    draw_fill(im, bx, y + 2, bx + (int)lround(bw * fmin(fmax(c[i].ap, 0), 1)),
              y + 2 + th, col);
    char v[16];
    snprintf(v, sizeof(v), "%.3f", c[i].ap);
    draw_text(im, bx + (int)lround(bw * fmin(fmax(c[i].ap, 0), 1)) + 4,
              y + 2, v, s, PLOT_BLACK);
  }
  if (n_none) {
    char t[96];
    snprintf(t, sizeof(t), "%zu classes without ground truth not shown",
             n_none);
    draw_text(im, x0, y + draw_text_height(1) * 2, t, 1, PLOT_GREY);
  }
  if (n == 0)
    draw_text(im, x0, top_band(), "no class with ground truth", 2,
              PLOT_GREY);
}

int plot_pr_jpeg(const struct plot_pr *p, uint8_t **ret_data, size_t *ret_len)
{
  struct image im;
  if (!p || !ret_data || !ret_len || p->n_curves > PLOT_PR_CURVES ||
      (p->n_curves && (!p->recall || p->n_points < 2)) ||
      (p->n_classes && (!p->class_names || !p->class_ap)))
    return -EINVAL;
  struct cls *c = malloc((p->n_classes ? p->n_classes : 1) * sizeof(*c));
  if (!c)
    return -ENOMEM;
  size_t n = 0;
  for (size_t k = 0; k < p->n_classes; k++)
    if (isfinite(p->class_ap[k]) && p->class_ap[k] >= 0)
      c[n++] = (struct cls){ p->class_ap[k], k };
  qsort(c, n, sizeof(*c), cmp_cls);
  int w = PR_W, h = plot_pr_height(n);
  /* Rows past the tallest picture allowed are left out. */
  size_t fit = (size_t)((h - top_band() - draw_text_height(2) * 3) /
                        bar_row(n));
  int r = plot_canvas(&im, &w, &h);
  if (r < 0) {
    free(c);
    return r;
  }
  if (p->title)
    draw_text(&im, 20, draw_text_height(2), p->title, 2, PLOT_BLACK);
  int below = curves(&im, p, h);
  worst_list(&im, p, c, n, below);
  bars(&im, p, c, n < fit ? n : fit, p->n_classes - n);
  free(c);
  return plot_finish(&im, ret_data, ret_len);
}
