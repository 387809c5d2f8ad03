/* eval_cli.c - reads GT and predictions in the text format of
 * tests/eval/reference_eval.py, runs core/compute/evaluate.h and prints the
 * metrics as JSON in the same schema as the Python reference, so the two can
 * be compared field by field (tests/eval/test_eval_vs_reference.py) and
 * timed.
 *
 * Usage: eval-cli [--iou X] [--no-classwise] [--no-map] [--threads N]
 *                 [--curves] [--summary] [--mistakenness] [FILE]
 * Reads FILE or stdin.  "eval_seconds" / "eval_cpu_seconds" in the output
 * time the eval_run() (or eval_mistakenness()) call alone, not parsing or
 * printing.  A test tool: input errors abort with a message, exit 2.
 */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct data {
  struct eval_gt *gts;
  size_t ng, gcap;
  struct eval_pred *preds;
  size_t np, pcap;
  size_t *gs, *ps; /* n_images + 1 entries */
  size_t ni, icap;
  int32_t nc;
};

static void die(const char *msg, size_t line)
{
  fprintf(stderr, "eval-cli: %s (line %zu)\n", msg, line);
  exit(2);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
  if (need <= *cap)
    return p;
  size_t n = *cap ? *cap * 2 : 1024;
  while (n < need)
    n *= 2;
  void *q = realloc(p, n * elem);
  if (!q)
    die("out of memory", 0);
  *cap = n;
  return q;
}

static void read_data(FILE *f, struct data *d)
{
  char *line = NULL;
  size_t lcap = 0, lineno = 0;
  ssize_t len;

  memset(d, 0, sizeof(*d));
  d->gs = grow(NULL, &d->icap, 1, sizeof(size_t));
  d->ps = malloc(d->icap * sizeof(size_t));
  if (!d->ps)
    die("out of memory", 0);
  d->gs[0] = d->ps[0] = 0;
  while ((len = getline(&line, &lcap, f)) >= 0) {
    double x, y, w, h, v;
    int label, crowd, k;
    lineno++;
    if (line[0] == '\n' || line[0] == '#')
      continue;
    if (sscanf(line, "classes %d", &label) == 1) {
      d->nc = label;
    } else if (strncmp(line, "image", 5) == 0) {
      size_t old = d->icap;
      d->gs = grow(d->gs, &d->icap, d->ni + 2, sizeof(size_t));
      if (d->icap != old) {
        size_t *q = realloc(d->ps, d->icap * sizeof(size_t));
        if (!q)
          die("out of memory", 0);
        d->ps = q;
      }
      d->ni++;
      d->gs[d->ni] = d->ng;
      d->ps[d->ni] = d->np;
    } else if ((k = sscanf(line, "g %lf %lf %lf %lf %d %d %lf", &x, &y, &w,
                           &h, &label, &crowd, &v)) >= 6) {
      if (!d->ni)
        die("box before the first image", lineno);
      d->gts = grow(d->gts, &d->gcap, d->ng + 1, sizeof(*d->gts));
      /* The 7th column, when present, is the COCO area. */
      d->gts[d->ng++] = (struct eval_gt){ { x, y, w, h }, label, crowd != 0,
                                          k == 7 ? v : NAN };
      d->gs[d->ni] = d->ng;
    } else if (sscanf(line, "p %lf %lf %lf %lf %d %lf", &x, &y, &w, &h,
                      &label, &v) == 6) {
      if (!d->ni)
        die("box before the first image", lineno);
      d->preds = grow(d->preds, &d->pcap, d->np + 1, sizeof(*d->preds));
      d->preds[d->np++] = (struct eval_pred){ { x, y, w, h }, label, v };
      d->ps[d->ni] = d->np;
    } else {
      die("cannot parse line", lineno);
    }
  }
  free(line);
}

static void put_double(double v)
{
  if (isnan(v))
    fputs("null", stdout);
  else
    printf("%.17g", v);
}

static void put_match(const struct eval_match *m)
{
  static const char *const names[] = { "none", "tp", "fp", "fn", "ignored" };
  printf("[\"%s\",%lld,", names[m->outcome <= EVAL_IGNORED ? m->outcome : 0],
         (long long)m->other);
  put_double(m->iou);
  putchar(']');
}

static void put_doubles(const char *key, const double *v, size_t n)
{
  printf("\"%s\":[", key);
  for (size_t i = 0; i < n; i++) {
    if (i)
      putchar(',');
    put_double(v[i]);
  }
  fputs("]", stdout);
}

static void put_bools(const char *key, const bool *v, size_t n)
{
  printf("\"%s\":[", key);
  for (size_t i = 0; i < n; i++)
    printf("%s%s", i ? "," : "", v[i] ? "true" : "false");
  fputs("]", stdout);
}

static void put_ints(const char *key, const int64_t *v, size_t n)
{
  printf("\"%s\":[", key);
  for (size_t i = 0; i < n; i++)
    printf("%s%lld", i ? "," : "", (long long)v[i]);
  fputs("]", stdout);
}

static double now(clockid_t clk)
{
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_result(const struct eval_result *r, bool curves,
                         bool summary)
{
  printf("{\"n_images\":%zu,\"n_classes\":%d,\"map\":", r->n_images,
         (int)r->n_classes);
  put_double(r->map);
  fputs(",\"stats\":{", stdout);
  for (int k = 0; k < EVAL_N_STATS; k++) {
    printf("%s\"%s\":", k ? "," : "", eval_stat_names[k]);
    put_double(r->stats[k]);
  }
  fputs("},\"classes\":[", stdout);
  for (int32_t c = 0; c < r->n_classes; c++) {
    const struct eval_class_stats *s = &r->classes[c];
    printf("%s{\"tp\":%lld,\"fp\":%lld,\"fn\":%lld,\"support\":%lld,"
           "\"num_gt\":%lld,\"precision\":",
           c ? "," : "", (long long)s->tp, (long long)s->fp,
           (long long)s->fn, (long long)s->support, (long long)s->num_gt);
    put_double(s->precision);
    fputs(",\"recall\":", stdout);
    put_double(s->recall);
    fputs(",\"ap\":", stdout);
    put_double(s->ap);
    fputs(",\"ap50\":", stdout);
    put_double(s->ap50);
    fputs(",\"ap75\":", stdout);
    put_double(s->ap75);
    putchar('}');
  }
  printf("],\"totals\":{\"tp\":%lld,\"fp\":%lld,\"fn\":%lld}",
         (long long)r->tp, (long long)r->fp, (long long)r->fn);
  if (!summary) {
    fputs(",\"preds\":[", stdout);
    for (size_t i = 0; i < r->n_preds; i++) {
      if (i)
        putchar(',');
      put_match(&r->preds[i]);
    }
    fputs("],\"gts\":[", stdout);
    for (size_t j = 0; j < r->n_gts; j++) {
      if (j)
        putchar(',');
      put_match(&r->gts[j]);
    }
    fputs("],\"images\":[", stdout);
    for (size_t im = 0; im < r->n_images; im++)
      printf("%s[%lld,%lld,%lld]", im ? "," : "",
             (long long)r->images[im].tp, (long long)r->images[im].fp,
             (long long)r->images[im].fn);
    putchar(']');
  }
  if (curves && r->precision) {
    fputs(",\"pr\":[", stdout);
    for (int t = 0; t < r->n_iou_threshs; t++) {
      printf("%s[", t ? "," : "");
      for (int32_t c = 0; c < r->n_classes; c++) {
        const double *q = r->precision +
                          ((size_t)t * (size_t)r->n_classes + (size_t)c) *
                              EVAL_RECALL_POINTS;
        printf("%s[", c ? "," : "");
        for (int k = 0; k < EVAL_RECALL_POINTS; k++) {
          if (k)
            putchar(',');
          put_double(q[k]);
        }
        putchar(']');
      }
      putchar(']');
    }
    putchar(']');
  }
}

static void print_mistakes(const struct eval_mistakes *m)
{
  putchar('{');
  put_doubles("gt_mistakenness", m->gt_mistakenness, m->n_gts);
  putchar(',');
  put_doubles("gt_mistakenness_loc", m->gt_mistakenness_loc, m->n_gts);
  putchar(',');
  put_bools("gt_possible_spurious", m->gt_possible_spurious, m->n_gts);
  putchar(',');
  put_bools("pred_possible_missing", m->pred_possible_missing, m->n_preds);
  putchar(',');
  put_doubles("image_mistakenness", m->image_mistakenness, m->n_images);
  putchar(',');
  put_ints("image_missing", m->image_missing, m->n_images);
  putchar(',');
  put_ints("image_spurious", m->image_spurious, m->n_images);
}

static double arg_double(const char *s)
{
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end)
    die("bad number argument", 0);
  return v;
}

int main(int argc, char **argv)
{
  struct eval_config cfg;
  bool curves = false, summary = false, mistakes = false;
  const char *path = NULL;
  struct data d;
  int r;

  eval_config_default(&cfg);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--iou") && i + 1 < argc)
      cfg.iou = arg_double(argv[++i]);
    else if (!strcmp(a, "--threads") && i + 1 < argc)
      cfg.n_threads = (int)arg_double(argv[++i]);
    else if (!strcmp(a, "--no-classwise"))
      cfg.classwise = false;
    else if (!strcmp(a, "--no-map"))
      cfg.compute_map = false;
    else if (!strcmp(a, "--curves"))
      curves = true;
    else if (!strcmp(a, "--summary"))
      summary = true;
    else if (!strcmp(a, "--mistakenness"))
      mistakes = true;
    else if (a[0] == '-' && a[1])
      die("unknown option", 0);
    else
      path = a;
  }

  FILE *f = path ? fopen(path, "r") : stdin;
  if (!f) {
    fprintf(stderr, "eval-cli: cannot open %s: %s\n", path, strerror(errno));
    return 2;
  }
  read_data(f, &d);
  if (path)
    fclose(f);

  struct eval_input in = { d.gts, d.ng, d.preds, d.np, d.gs,
                           d.ps,  d.ni, d.nc };
  double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  if (mistakes) {
    struct eval_mistakes m;
    r = eval_mistakenness(&in, cfg.n_threads, &m);
    if (!r) {
      double t1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);
      print_mistakes(&m);
      printf(",\"eval_seconds\":%.6f,\"eval_cpu_seconds\":%.6f}\n", t1 - t0,
             c1 - c0);
      eval_mistakes_free(&m);
    }
  } else {
    struct eval_result res;
    r = eval_run(&in, &cfg, &res);
    if (!r) {
      double t1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);
      print_result(&res, curves, summary);
      printf(",\"eval_seconds\":%.6f,\"eval_cpu_seconds\":%.6f}\n", t1 - t0,
             c1 - c0);
      eval_result_free(&res);
    }
  }
  free(d.gts);
  free(d.preds);
  free(d.gs);
  free(d.ps);
  if (r) {
    fprintf(stderr, "eval-cli: evaluation failed: %s\n", strerror(-r));
    return 1;
  }
  return 0;
}
