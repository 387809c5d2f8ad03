/* bench_evalrun - builds a store from a detection set in the text format
 * of tests/eval/reference_eval.py (one sample per image, fields
 * ground_truth and predictions, classes "c<k>") and times evalrun_run() on
 * it.  For scripts/bench.sh (tests/bench/bench_eval.py); not a test.
 *
 * usage: bench-evalrun STORE_DIR SET.txt
 * prints "samples N gt G preds P load_seconds L evalrun_seconds E map M"
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evalrun.h"
#include "store.h"

static void die(const char *what, int r)
{
  fprintf(stderr, "bench-evalrun: %s: %s\n", what, strerror(r < 0 ? -r : r));
  exit(1);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: bench-evalrun STORE_DIR SET.txt\n");
    return 2;
  }
  struct store *s;
  struct store_opts o = { .nosync = true };
  if (mkdir(argv[1], 0755) < 0 && errno != EEXIST)
    die("mkdir", errno);
  int r = store_open(argv[1], &o, &s);
  if (r < 0)
    die("store_open", r);
  FILE *f = fopen(argv[2], "r");
  if (!f)
    die(argv[2], errno);

  double t0 = time_mono();
  struct store_txn *t = NULL;
  struct labels l;
  uint32_t cls[1024] = { 0 };
  int ncls = 0;
  uint64_t n = 0, ng = 0, np = 0, cur = 0;
  char line[256];
  labels_init(&l);
  r = store_txn_begin(s, true, &t);
  if (r < 0)
    die("begin", r);
  for (;;) {
    char *got = fgets(line, sizeof(line), f);
    if (!got || strncmp(line, "image", 5) == 0) {
      if (cur) {
        r = store_labels_put(t, cur, &l);
        if (r < 0)
          die("labels_put", r);
        labels_free(&l);
        labels_init(&l);
      }
      if (cur && n % 4096 == 0) {
        if ((r = store_txn_commit(t)) < 0 ||
            (r = store_txn_begin(s, true, &t)) < 0)
          die("commit", r);
      }
      if (!got)
        break;
      char name[32];
      snprintf(name, sizeof(name), "%08llu", (unsigned long long)n);
      char rel[48];
      snprintf(rel, sizeof(rel), "%s.jpg", name);
      struct sample smp = { 0 };
      smp.width = 640;
      smp.height = 480;
      smp.name = name;
      smp.relpath = rel;
      r = store_sample_put(t, &smp, &cur);
      if (r < 0)
        die("sample_put", r);
      n++;
      continue;
    }
    if (sscanf(line, "classes %d", &ncls) == 1) {
      if (ncls < 0 || ncls > 1024)
        die("classes", EINVAL);
      for (int k = 0; k < ncls; k++) {
        char cn[16];
        snprintf(cn, sizeof(cn), "c%d", k);
        r = store_class_id(t, cn, true, &cls[k]);
        if (r < 0)
          die("class", r);
      }
      continue;
    }
    struct detection d = { 0 };
    char kind;
    int label;
    double v;
    if (sscanf(line, "%c %lf %lf %lf %lf %d %lf", &kind, &d.x, &d.y, &d.w,
               &d.h, &label, &v) != 7 || label < 0 || label >= ncls)
      die("bad line", EINVAL);
    d.class_id = cls[label];
    if (kind == 'g') {
      d.confidence = NAN;
      d.iscrowd = v != 0;
      ng++;
    } else {
      d.confidence = v;
      np++;
    }
    r = labels_field_add(labels_field(&l, kind == 'g' ? "ground_truth"
                                                      : "predictions", true),
                         &d);
    if (r < 0)
      die("add", r);
  }
  labels_free(&l);
  if ((r = store_txn_commit(t)) < 0)
    die("commit", r);
  fclose(f);
  double load = time_mono() - t0;

  struct evalrun_info info;
  char err[256];
  t0 = time_mono();
  r = evalrun_run(s, "bench", NULL, &info, err, sizeof(err));
  double secs = time_mono() - t0;
  if (r < 0) {
    fprintf(stderr, "bench-evalrun: %s\n", err);
    return 1;
  }
  printf("samples %llu gt %llu preds %llu load_seconds %.2f evalrun_seconds "
         "%.3f map %.4f\n", (unsigned long long)n, (unsigned long long)ng,
         (unsigned long long)np, load, secs, info.map);
  store_close(s);
  return 0;
}
