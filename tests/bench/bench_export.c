/* bench_export - the generator side of `sh scripts/bench.sh export`:
 *   bench_export fill STORE N_IMAGES N_BOXES
 *       a synthetic store: N_IMAGES samples (640x480, no files behind
 *       them) and N_BOXES boxes spread over them, 80 classes, COCO-like
 *       coordinates (two decimals), some scores and iscrowd flags.
 *   bench_export coco STORE OUT
 *       export_generate("annotations/instances_default.json") into OUT;
 *       prints "seconds bytes peak_rss_kb rss_anon_kb rss_file_kb".
 * The baselines (Python's json.dump, cat) run in bench_export.py. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "store.h"
#include "util.h"

static uint64_t rng = 88172645463325252ull;

static double urand(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static int fail(const char *what, int r)
{
  fprintf(stderr, "bench_export: %s: %s\n", what, strerror(-r));
  return 1;
}

static int fill(const char *dir, uint64_t n_img, uint64_t n_box)
{
  struct store_opts o = { .nosync = true };
  struct store *s;
  struct store_txn *t = NULL;
  uint32_t cls[80];
  uint64_t left = n_box;
  int r;

  mkdir(dir, 0755);
  r = store_open(dir, &o, &s);
  if (r < 0)
    return fail(dir, r);
  r = store_txn_begin(s, true, &t);
  for (int c = 0; r == 0 && c < 80; c++) {
    char name[32];
    snprintf(name, sizeof(name), "class_%02d", c);
    r = store_class_id(t, name, true, &cls[c]);
  }
  r = r ? r : store_setting_set(t, "root", "/nonexistent");
  for (uint64_t i = 0; r == 0 && i < n_img; i++) {
    char name[32], rel[48];
    struct sample smp = { .width = 640, .height = 480, .precision = 8,
                          .components = 3, .orientation = 1,
                          .size = 150000 };
    struct labels l;
    struct label_field *f;
    uint64_t id, k = left / (n_img - i);

    snprintf(name, sizeof(name), "img_%07" PRIu64, i);
    snprintf(rel, sizeof(rel), "%s.jpg", name);
    smp.name = name;
    smp.relpath = rel;
    r = store_sample_put(t, &smp, &id);
    labels_init(&l);
    f = labels_field(&l, "ground_truth", true);
    for (uint64_t j = 0; r == 0 && j < k; j++) {
      struct detection d = { 0 };
      d.w = round(urand() * 20000) / 100 + 1;
      d.h = round(urand() * 15000) / 100 + 1;
      d.x = round(urand() * (640 - d.w) * 100) / 100;
      d.y = round(urand() * (480 - d.h) * 100) / 100;
      d.class_id = cls[(int)(urand() * 80) % 80];
      d.confidence = urand() < 0.2 ? round(urand() * 1000) / 1000 : NAN;
      d.iscrowd = urand() < 0.05;
      r = labels_field_add(f, &d);
    }
    left -= k;
    r = r ? r : store_labels_put(t, id, &l);
    labels_free(&l);
    if (r == 0 && i % 5000 == 4999) {
      r = store_txn_commit(t);
      t = NULL;
      r = r ? r : store_txn_begin(s, true, &t);
    }
  }
  if (r == 0) {
    r = store_txn_commit(t);
    t = NULL;
  }
  store_txn_abort(t);
  store_close(s);
  return r < 0 ? fail("fill", r) : 0;
}

static int to_fd(void *ud, const void *p, size_t n)
{
  const char *c = p;
  while (n) {
    ssize_t w = write(*(int *)ud, c, n);
    if (w < 0)
      return -errno;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static long status_kb(const char *key)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);

  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, key, n) == 0)
      v = strtol(line + n + 1, NULL, 10);
  if (f)
    fclose(f);
  return v;
}

static int coco(const char *dir, const char *out)
{
  struct store_opts o = { .readonly = true };
  struct export_spec spec = { .fmt = EXPORT_COCO };
  struct store *s;
  struct store_txn *t;
  int fd, r;
  double t0;
  int64_t n;

  r = store_open(dir, &o, &s);
  if (r < 0)
    return fail(dir, r);
  fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return fail(out, -errno);
  struct sink sink = { to_fd, &fd, NULL };
  t0 = time_mono();
  r = store_txn_begin(s, false, &t);
  if (r < 0)
    return fail("begin", r);
  n = export_generate(t, &spec, "annotations/instances_default.json", &sink);
  store_txn_abort(t);
  close(fd);
  if (n < 0)
    return fail("generate", (int)n);
  printf("%.3f %" PRId64 " %ld %ld %ld\n", time_mono() - t0, n,
         status_kb("VmHWM:"), status_kb("RssAnon:"), status_kb("RssFile:"));
  store_close(s);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 5 && strcmp(argv[1], "fill") == 0)
    return fill(argv[2], strtoull(argv[3], NULL, 10),
                strtoull(argv[4], NULL, 10));
  if (argc == 4 && strcmp(argv[1], "coco") == 0)
    return coco(argv[2], argv[3]);
  fprintf(stderr, "usage: bench_export fill STORE N_IMAGES N_BOXES | "
          "coco STORE OUT\n");
  return 2;
}
