/* cmd_eval.c - `curate eval`: run a named evaluation of a prediction field
 * against a ground-truth field (core/views/evalrun.h), keep it in the store and
 * print its report; or print one of its ranked sample lists.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "evalrun.h"
#include "store.h"

static void usage(FILE *f)
{
  fprintf(f,
    "usage: %s eval --store STORE --name NAME [--gt FIELD] [--pred FIELD]\n"
    "                   [--iou T] [--json] [--plot FILE.jpg]\n"
    "                   [--list mistakes|missing|spurious]\n"
    "\n"
    "Evaluates field --pred (default predictions) against --gt (default\n"
    "ground_truth) with the rules of pycocotools' COCOeval (bbox), counting\n"
    "tp/fp/fn at IoU T (default 0.5); keeps the result in STORE as NAME\n"
    "and prints the report with COCO's 12-number summary (--json:\n"
    "metrics.json, summary keys AP AP50 AP75 APs APm APl AR1 AR10 AR100\n"
    "ARs ARm ARl; --plot also writes the\n"
    "precision-recall curves as a JPEG).  With --list, prints that\n"
    "ranked sample list of the evaluation (\"name score\" lines; --json: a\n"
    "JSON array of {\"name\", \"score\"}) instead,\n"
    "re-running it first only if labels changed since.\n"
    "Exit status: 0 done, 1 failed, 2 usage error.\n",
    prog);
}

static int print_list(struct store *s, const char *name, const char *which,
                      bool json)
{
  struct buf jb;
  enum evalrun_list l;
  struct store_txn *t;
  int r;

  if (strcmp(which, "mistakes") == 0)
    l = EVALRUN_MISTAKES;
  else if (strcmp(which, "missing") == 0)
    l = EVALRUN_MISSING;
  else if (strcmp(which, "spurious") == 0)
    l = EVALRUN_SPURIOUS;
  else {
    fprintf(stderr, "%s: unknown list '%s'\n", prog, which);
    return 2;
  }
  char err[512] = "";
  r = evalrun_refresh(s, name, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "%s: evaluation '%s': %s\n", prog, name,
            r == -ENOENT ? "no such evaluation" : err[0] ? err : strerror(-r));
    return 1;
  }
  buf_init(&jb, 1u << 30);
  if (json)
    buf_puts(&jb, "[");
  r = store_txn_begin(s, false, &t);
  size_t off = 0, n = 0;
  struct evalrun_entry e[256];
  while (r == 0) {
    r = evalrun_ranked(t, name, l, off, 256, e, &n, NULL);
    for (size_t i = 0; r == 0 && i < n; i++) {
      struct sample smp;
      r = store_sample_get(t, e[i].sample_id, &smp);
      if (r == 0 && json) {
        /* {"name": ..., "score": ...}, shortest exact numbers */
        buf_puts(&jb, off + i ? ", {\"name\": " : "{\"name\": ");
        buf_json_str(&jb, smp.name, strlen(smp.name));
        buf_puts(&jb, ", \"score\": ");
        buf_json_double(&jb, e[i].score);
        r = buf_puts(&jb, "}");
      } else if (r == 0) {
        printf("%s %.17g\n", smp.name, e[i].score);
      }
    }
    if (n < 256)
      break;
    off += n;
  }
  store_txn_abort(t);
  if (r == 0 && json) {
    buf_puts(&jb, "]\n");
    fwrite(jb.data, 1, jb.len, stdout);
  }
  buf_free(&jb);
  if (r < 0) {
    fprintf(stderr, "%s: cannot read evaluation '%s': %s\n", prog, name,
            strerror(-r));
    return 1;
  }
  return 0;
}

/* The command line. */
struct eval_args {
  struct evalrun_opts eo;
  const char *store_dir, *name, *list, *plot;
  bool json;
};

/* Parses argv into *a.  Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct eval_args *a)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "name", required_argument, NULL, 'N' },
    { "gt", required_argument, NULL, 'g' },
    { "pred", required_argument, NULL, 'p' },
    { "iou", required_argument, NULL, 'i' },
    { "json", no_argument, NULL, 'j' },
    { "list", required_argument, NULL, 'l' },
    { "plot", required_argument, NULL, 'P' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  char *end;
  int c;

  optind = 1;
  while ((c = getopt_long(argc, argv, "s:N:g:p:i:jl:P:h", opts, NULL)) != -1) {
    switch (c) {
    case 's': a->store_dir = optarg; break;
    case 'N': a->name = optarg; break;
    case 'g': a->eo.gt_field = optarg; break;
    case 'p': a->eo.pred_field = optarg; break;
    case 'i':
      a->eo.iou = strtod(optarg, &end);
      if (end == optarg || *end || !(a->eo.iou > 0 && a->eo.iou <= 1)) {
        fprintf(stderr, "%s: --iou must be a number in (0, 1]\n", prog);
        return 2;
      }
      break;
    case 'j': a->json = true; break;
    case 'l': a->list = optarg; break;
    case 'P': a->plot = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!a->store_dir || !a->name || optind != argc) {
    usage(stderr);
    return 2;
  }
  if (!evalrun_name_valid(a->name)) {
    fprintf(stderr, "%s: invalid evaluation name '%s'\n", prog, a->name);
    return 2;
  }
  return -1;
}

/* --plot: the precision-recall curves as a JPEG file. */
static int write_plot(struct store_txn *t, const char *name, const char *path)
{
  uint8_t *jpg = NULL;
  size_t jlen = 0;
  int r = evalrun_pr_curves_jpeg(t, name, 0, 0, &jpg, &jlen);
  FILE *f = r == 0 ? fopen(path, "wb") : NULL;

  if (r == 0 && (!f || fwrite(jpg, 1, jlen, f) != jlen)) {
    r = -errno;
    if (!r)
      r = -EIO;
  }
  if (f && fclose(f) != 0 && r == 0)
    r = -errno;
  free(jpg);
  return r;
}

/* The stored results of evaluation a->name: the report (or metrics JSON)
 * into b, and the plot when asked. */
static int render(struct store *s, const struct eval_args *a, struct buf *b)
{
  struct store_txn *t;
  int r = store_txn_begin(s, false, &t);

  if (r == 0)
    r = a->json ? evalrun_metrics_json(t, a->name, b)
                : evalrun_report_txt(t, a->name, b);
  if (r == 0 && a->plot)
    r = write_plot(t, a->name, a->plot);
  store_txn_abort(t);
  return r;
}

int cmd_eval(int argc, char **argv)
{
  struct eval_args a = { .eo = { 0 } };
  struct store *s;
  struct buf b;
  char err[512];
  int r = parse_args(argc, argv, &a);

  if (r >= 0)
    return r;
  r = tool_open_store(a.store_dir, false, false, &s);
  if (r < 0)
    return 1;
  if (a.list) {
    r = print_list(s, a.name, a.list, a.json);
    store_close(s);
    return r;
  }
  r = evalrun_run(s, a.name, &a.eo, NULL, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "%s: evaluation '%s' failed: %s\n", prog, a.name, err);
    store_close(s);
    return 1;
  }
  buf_init(&b, 64u << 20);
  r = render(s, &a, &b);
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "%s: cannot render evaluation '%s': %s\n", prog, a.name,
            strerror(-r));
    buf_free(&b);
    return 1;
  }
  fwrite(b.data, 1, b.len, stdout);
  buf_free(&b);
  return 0;
}
