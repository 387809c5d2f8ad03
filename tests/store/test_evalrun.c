/* test_evalrun.c - named evaluations (core/views/evalrun.h) and the
 * predictions import (core/formats/predictions.h) on a real LMDB store.
 *
 * The hand-built set (4 samples, classes cat and dog, 100 x 100 images):
 *   s1  GT cat [10,10,20,20]; pred dog same box, conf 0.9
 *       -> classwise: GT fn, pred fp; mistakenness (0.9 + 1) / 2 = 0.95,
 *          localisation (0.9 * (2 * 0 - 1) + 1) / 2 = 0.05
 *   s2  GT cat [0,0,10,10], pred cat same box conf 0.8 (tp,
 *       mistakenness (1 - 0.8) / 2 = 0.1); pred dog [50,50,10,10] conf 0.97
 *       unmatched -> possible missing; GT dog [80,80,10,10] unmatched ->
 *       possible spurious
 *   s3  GT cat [0,0,10,10], pred cat [0,0,10,5] conf 0.6: IoU exactly 0.5
 *       -> tp at 0.5 only; mistakenness 0.2, localisation (0.6 + 1) / 2
 *   s4  no labels
 * AP(cat) by hand: 2 tp of 3 GT at IoU 0.50 -> 67 of 101 recall points at
 * precision 1; at 0.55 .. 0.95 only s2 -> 34 points: (67 + 9 * 34) / 1010.
 * AP(dog) = 0 (1 GT, no tp); mAP = AP(cat) / 2.
 * Then a label change makes the evaluation stale and a re-run follows it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coco.h"
#include "evalrun.h"
#include "plot.h"
#include "evaluate.h"
#include "jpegcodec.h"
#include "predictions.h"
#include "store.h"
#include "testlib.h"
#include "util.h"

static char dir[64];
static struct store *st;
static uint64_t sid[5];

static void put_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  if (!f)
    abort();
  fputs(text, f);
  fclose(f);
}

static void add_det(struct labels *l, const char *field, const char *cls,
                    double x, double y, double w, double h, double conf)
{
  struct detection d = { 0 };
  d.label = (char *)cls;
  d.x = x, d.y = y, d.w = w, d.h = h;
  d.confidence = conf;
  CHECK_INT_EQ(labels_field_add(labels_field(l, field, true), &d), 0);
}

static void put_labels(uint64_t id, struct labels *l)
{
  struct store_txn *t;
  CHECK_INT_EQ(store_txn_begin(st, true, &t), 0);
  for (size_t i = 0; i < l->n; i++)
    for (size_t j = 0; j < l->f[i].n; j++)
      CHECK_INT_EQ(store_class_id(t, l->f[i].d[j].label, true,
                                  &l->f[i].d[j].class_id), 0);
  CHECK_INT_EQ(store_labels_put(t, id, l), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  labels_free(l);
}

/* Puts n samples, "val/<name>.jpg" with <name> the prefix and the number
 * first + i zero-padded to `digits`, of w x h pixels and EXIF orientation
 * o, in one transaction; their ids into id[0..n). */
static void put_samples(const char *prefix, int digits, int first, int n,
                        uint32_t w, uint32_t h, uint8_t o, uint64_t *id)
{
  struct store_txn *t;

  CHECK_INT_EQ(store_txn_begin(st, true, &t), 0);
  for (int i = 0; i < n; i++) {
    char name[32], rel[64];
    snprintf(name, sizeof(name), "%s%0*d", prefix, digits, first + i);
    snprintf(rel, sizeof(rel), "val/%s.jpg", name);
    struct sample s = { 0 };
    s.width = w;
    s.height = h;
    s.orientation = o;
    s.name = name;
    s.relpath = rel;
    CHECK_INT_EQ(store_sample_put(t, &s, &id[i]), 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
}

static void setup(void)
{
  if (tl_tmpdir(dir, sizeof(dir), "test-evalrun") < 0)
    abort();
  struct store_opts o = { .nosync = true };
  CHECK_INT_EQ(store_open(dir, &o, &st), 0);
  put_samples("", 12, 1, 4, 100, 100, 0, &sid[1]);

  struct labels l;
  labels_init(&l);
  add_det(&l, "ground_truth", "cat", 10, 10, 20, 20, NAN);
  add_det(&l, "predictions", "dog", 10, 10, 20, 20, 0.9);
  put_labels(sid[1], &l);
  labels_init(&l);
  add_det(&l, "ground_truth", "cat", 0, 0, 10, 10, NAN);
  add_det(&l, "ground_truth", "dog", 80, 80, 10, 10, NAN);
  add_det(&l, "predictions", "cat", 0, 0, 10, 10, 0.8);
  add_det(&l, "predictions", "dog", 50, 50, 10, 10, 0.97);
  put_labels(sid[2], &l);
  labels_init(&l);
  add_det(&l, "ground_truth", "cat", 0, 0, 10, 10, NAN);
  add_det(&l, "predictions", "cat", 0, 0, 10, 5, 0.6);
  put_labels(sid[3], &l);
}

static void teardown(void)
{
  store_close(st);
  st = NULL;
  tl_rm_rf(dir);
}

static uint32_t class_of(const char *name)
{
  struct store_txn *t;
  uint32_t id = 0;
  store_txn_begin(st, false, &t);
  store_class_id(t, name, false, &id);
  store_txn_abort(t);
  return id;
}

/* Adds class `name` (as `echo 'add NAME' > classes`); its id. */
static uint32_t class_of_new(const char *name)
{
  struct store_txn *t;
  uint32_t id = 0;
  if (store_txn_begin(st, true, &t) == 0 &&
      store_class_id(t, name, true, &id) == 0 && store_txn_commit(t) == 0)
    return id;
  return 0;
}

static void check_list(struct store_txn *t, enum evalrun_list which,
                       const uint64_t *ids, const double *scores, size_t n)
{
  struct evalrun_entry e[8];
  size_t got = 0, total = 0;
  CHECK_INT_EQ(evalrun_ranked(t, "e", which, 0, 8, e, &got, &total), 0);
  CHECK_INT_EQ(got, n);
  CHECK_INT_EQ(total, n);
  for (size_t i = 0; i < n && i < got; i++) {
    CHECK_INT_EQ(e[i].sample_id, ids[i]);
    CHECK_NEAR(e[i].score, scores[i], 1e-12);
  }
}

TEST(hand_built_evaluation)
{
  char err[256];
  struct evalrun_info info;
  setup();
  CHECK_INT_EQ(evalrun_run(st, "e", NULL, &info, err, sizeof(err)), 0);
  CHECK_INT_EQ(info.n_samples, 4);
  CHECK_INT_EQ(info.n_gt, 4);
  CHECK_INT_EQ(info.n_pred, 4);
  CHECK_INT_EQ(info.tp, 2);   /* s2 cat, s3 cat */
  CHECK_INT_EQ(info.fp, 2);   /* s1 dog, s2 dog */
  CHECK_INT_EQ(info.fn, 2);   /* s1 cat, s2 dog */
  double ap_cat = (67.0 + 9 * 34) / 1010;
  CHECK_NEAR(info.map, ap_cat / 2, 1e-12);

  struct store_txn *t;
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(evalrun_fresh(t, "e"), 1);
  uint64_t m_ids[] = { sid[1], sid[3], sid[2] };
  double m_sc[] = { 0.95, 0.2, 0.1 };
  check_list(t, EVALRUN_MISTAKES, m_ids, m_sc, 3);
  uint64_t one[] = { sid[2] };
  double cnt[] = { 1 };
  check_list(t, EVALRUN_MISSING, one, cnt, 1);
  check_list(t, EVALRUN_SPURIOUS, one, cnt, 1);

  struct evalrun_sample smp;
  CHECK_INT_EQ(evalrun_sample(t, "e", sid[2], &smp), 0);
  CHECK(smp.tp == 1 && smp.fp == 1 && smp.fn == 1);
  CHECK(smp.n_missing == 1 && smp.n_spurious == 1);
  CHECK_INT_EQ(evalrun_sample(t, "e", sid[4], &smp), 0);
  CHECK(smp.mistakenness == -1 && smp.n_gt == 0);

  /* Per-box results of s1 and s3. */
  struct labels l;
  CHECK_INT_EQ(store_labels_get(t, sid[1], &l), 0);
  struct evalrun_box b;
  uint64_t g1 = labels_field(&l, "ground_truth", false)->d[0].id;
  uint64_t p1 = labels_field(&l, "predictions", false)->d[0].id;
  labels_free(&l);
  CHECK_INT_EQ(evalrun_box(t, "e", sid[1], g1, &b), 0);
  CHECK(b.is_gt && b.outcome == EVAL_FN && b.match_label_id == 0);
  CHECK_NEAR(b.mistakenness, 0.95, 1e-6);
  CHECK_NEAR(b.mistakenness_loc, 0.05, 1e-6);
  CHECK_INT_EQ(evalrun_box(t, "e", sid[1], p1, &b), 0);
  CHECK(!b.is_gt && b.outcome == EVAL_FP && !b.possible_missing);
  CHECK_INT_EQ(store_labels_get(t, sid[3], &l), 0);
  uint64_t g3 = labels_field(&l, "ground_truth", false)->d[0].id;
  uint64_t p3 = labels_field(&l, "predictions", false)->d[0].id;
  labels_free(&l);
  CHECK_INT_EQ(evalrun_box(t, "e", sid[3], g3, &b), 0);
  CHECK(b.outcome == EVAL_TP && b.match_label_id == p3);
  CHECK_NEAR(b.iou, 0.5, 1e-7);
  CHECK_NEAR(b.mistakenness, 0.2, 1e-6);
  CHECK_NEAR(b.mistakenness_loc, 0.8, 1e-6);

  /* Renderers. */
  struct buf out;
  buf_init(&out, 1 << 20);
  CHECK_INT_EQ(evalrun_report_txt(t, "e", &out), 0);
  CHECK(strstr(out.data, "cat") && strstr(out.data, "dog"));
  char line[64];
  snprintf(line, sizeof(line), "%.4f", ap_cat);
  CHECK(strstr(out.data, line) != NULL);
  buf_reset(&out);
  CHECK_INT_EQ(evalrun_metrics_json(t, "e", &out), 0);
  CHECK(strstr(out.data, "\"name\":\"cat\"") != NULL);
  CHECK(strstr(out.data, "\"tp\":2,\"fp\":2,\"fn\":2") != NULL);
  buf_free(&out);
  uint8_t *jpg = NULL;
  size_t jlen = 0;
  CHECK_INT_EQ(evalrun_pr_curves_jpeg(t, "e", 0, 0, &jpg, &jlen), 0);
  struct image im;
  CHECK_INT_EQ(jpeg_decode(jpg, jlen, 0, &im), 0);
  CHECK(im.w == plot_pr_width() && im.h == plot_pr_height(2));
  image_free(&im);
  free(jpg);

  /* A sample image with its disagreeing boxes. */
  struct image src;
  CHECK_INT_EQ(image_alloc(&src, 100, 100, 3), 0);
  memset(src.px, 90, 100 * 100 * 3);
  uint8_t *orig = NULL;
  size_t olen = 0;
  CHECK_INT_EQ(jpeg_encode(&src, 90, &orig, &olen), 0);
  image_free(&src);
  CHECK_INT_EQ(evalrun_sample_jpeg(t, "e", sid[1], EVALRUN_MISTAKES, orig,
                                   olen, &jpg, &jlen), 0);
  CHECK_INT_EQ(jpeg_decode(jpg, jlen, 0, &im), 0);
  CHECK(im.w == 100 && im.h == 100);
  /* Both boxes share the edge at x = 10: the outline there is drawn
   * (green GT first, magenta prediction over it). */
  const uint8_t *px = im.px + (20 * 100 + 10) * 3;
  CHECK(abs(px[0] - 90) + abs(px[1] - 90) + abs(px[2] - 90) > 100);
  image_free(&im);
  free(jpg);
  store_txn_abort(t);

  /* Labels change: s1's prediction becomes a cat.  Stale until re-run. */
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(store_labels_get(t, sid[1], &l), 0);
  store_txn_abort(t);
  struct label_field *pf = labels_field(&l, "predictions", false);
  pf->d[0].class_id = class_of("cat");
  free(pf->d[0].label);
  pf->d[0].label = strdup("cat");
  put_labels(sid[1], &l);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(evalrun_fresh(t, "e"), 0);
  CHECK_INT_EQ(evalrun_sample_jpeg(t, "e", sid[1], EVALRUN_MISTAKES, orig,
                                   olen, &jpg, &jlen), -ESTALE);
  store_txn_abort(t);
  CHECK_INT_EQ(evalrun_refresh(st, "e", err, sizeof(err)), 1);
  CHECK_INT_EQ(evalrun_refresh(st, "e", err, sizeof(err)), 0);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(evalrun_get(t, "e", &info), 0);
  CHECK_INT_EQ(info.tp, 3);
  CHECK_INT_EQ(info.fp, 1);
  uint64_t m2[] = { sid[2], sid[1], sid[3] };
  double s2[] = { 0.1, 0.05, 0.2 };
  /* Now ranked: s3 0.2, s2 0.1, s1 0.05. */
  uint64_t m2r[] = { m2[2], m2[0], m2[1] };
  double s2r[] = { s2[2], s2[0], s2[1] };
  check_list(t, EVALRUN_MISTAKES, m2r, s2r, 3);
  store_txn_abort(t);
  free(orig);

  /* A tag-only write bumps the dataset version but not the labels. */
  CHECK_INT_EQ(store_txn_begin(st, true, &t), 0);
  uint64_t tag;
  CHECK_INT_EQ(store_tag_create(t, "x", &tag), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(evalrun_fresh(t, "e"), 1);
  store_txn_abort(t);

  /* Bad requests. */
  CHECK_INT_EQ(evalrun_run(st, "../x", NULL, NULL, err, sizeof(err)), -EINVAL);
  struct evalrun_opts bad = { .iou = 1.5 };
  CHECK_INT_EQ(evalrun_run(st, "e2", &bad, NULL, err, sizeof(err)), -EINVAL);
  struct evalrun_opts nofield = { .pred_field = "nothing" };
  CHECK_INT_EQ(evalrun_run(st, "e2", &nofield, NULL, err, sizeof(err)), 0);
  CHECK_INT_EQ(evalrun_delete(st, "e2"), 0);
  CHECK_INT_EQ(evalrun_delete(st, "e2"), -ENOENT);

  /* A summary written before the COCO numbers existed (version 1: no
   * trailer of 12 doubles + 2 per class, nor the version-3 count of
   * predictions left out, 2 u64) still reads; its summary is null.  Made
   * from e's record: u32 version, u32 n_classes first. */
  CHECK_INT_EQ(store_txn_begin(st, true, &t), 0);
  const void *v;
  size_t vn;
  CHECK_INT_EQ(store_rec_get(t, "eval", "e", 1, &v, &vn), 0);
  uint32_t hdr[2];
  memcpy(hdr, v, sizeof(hdr));
  CHECK_INT_EQ(hdr[0], 3);
  size_t trailer = 12 * sizeof(double) + (size_t)hdr[1] * 2 * sizeof(double) +
                   2 * sizeof(uint64_t);
  uint8_t *old = malloc(vn);
  if (old && vn > trailer) {
    memcpy(old, v, vn - trailer);
    uint32_t v1 = 1;
    memcpy(old, &v1, 4);
    CHECK_INT_EQ(store_rec_put(t, "eval", "old", 3, old, vn - trailer), 0);
  }
  free(old);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  struct evalrun_info oi, ni;
  CHECK_INT_EQ(evalrun_get(t, "old", &oi), 0);
  CHECK_INT_EQ(evalrun_get(t, "e", &ni), 0);
  CHECK(oi.map == ni.map && oi.tp == ni.tp && oi.n_classes == ni.n_classes);
  buf_init(&out, 1 << 20);
  CHECK_INT_EQ(evalrun_metrics_json(t, "old", &out), 0);
  CHECK(out.data && strstr(out.data, "\"AP50\":null") != NULL);
  buf_free(&out);
  buf_init(&out, 1 << 20);
  CHECK_INT_EQ(evalrun_report_txt(t, "old", &out), 0);
  CHECK(out.data && !strstr(out.data, "COCO summary") && strstr(out.data, "cat"));
  buf_free(&out);
  buf_init(&out, 1 << 20);
  CHECK_INT_EQ(evalrun_metrics_json(t, "e", &out), 0);
  CHECK(out.data && strstr(out.data, "\"AP50\":") &&
        !strstr(out.data, "\"AP50\":null"));
  buf_free(&out);
  /* ... but it was computed with the earlier rules, so it is stale even
   * though no label changed, and a refresh re-runs it into version 2. */
  CHECK_INT_EQ(evalrun_fresh(t, "e"), 1);
  CHECK_INT_EQ(evalrun_fresh(t, "old"), 0);
  store_txn_abort(t);
  CHECK_INT_EQ(evalrun_refresh(st, "old", err, sizeof(err)), 1);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(evalrun_fresh(t, "old"), 1);
  buf_init(&out, 1 << 20);
  CHECK_INT_EQ(evalrun_metrics_json(t, "old", &out), 0);
  CHECK(out.data && !strstr(out.data, "\"AP50\":null"));
  buf_free(&out);
  store_txn_abort(t);
  teardown();
}

static size_t field_size(uint64_t id, const char *field)
{
  struct store_txn *t;
  struct labels l;
  size_t n = 0;
  store_txn_begin(st, false, &t);
  if (store_labels_get(t, id, &l) == 0) {
    struct label_field *f = labels_field(&l, field, false);
    n = f ? f->n : 0;
    labels_free(&l);
  }
  store_txn_abort(t);
  return n;
}

TEST(predictions_import)
{
  char err[256], path[256], path2[256];
  struct pred_stats ps;
  setup();
  struct pred_opts o = { .format = PRED_FORMAT_COCO };

  /* Without a GT file, image ids are the numeric file names. */
  snprintf(path, sizeof(path), "%s/res.json", dir);
  put_file(path, "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1,2,3,4],"
                 " \"score\": 0.5},"
                 " {\"image_id\": 4, \"category_id\": 2, \"bbox\": [90,90,30,30],"
                 " \"score\": 0.25},"
                 " {\"image_id\": 99, \"category_id\": 1, \"bbox\": [1,2,3,4],"
                 " \"score\": 0.5}]");
  CHECK_INT_EQ(pred_import(st, path, &o, &ps, err, sizeof(err)), 0);
  CHECK_INT_EQ(ps.boxes, 2);
  CHECK_INT_EQ(ps.skipped, 1);
  CHECK_INT_EQ(ps.outside, 1);
  CHECK_INT_EQ(ps.samples, 2);
  CHECK_INT_EQ(ps.cleared, 2); /* s2, s3 had predictions */
  CHECK_INT_EQ(field_size(sid[1], "predictions"), 1);
  CHECK_INT_EQ(field_size(sid[2], "predictions"), 0);
  CHECK_INT_EQ(field_size(sid[4], "predictions"), 1);
  CHECK_INT_EQ(field_size(sid[1], "ground_truth"), 1); /* untouched */

  /* Bad inputs: reason given, nothing changed. */
  const char *bad[] = {
    "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1,2,-3,4], \"score\": 0.5}]",
    "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1,2,3,4]}]",
    "[{\"image_id\": 1, \"category_id\": 77, \"bbox\": [1,2,3,4], \"score\": 0.5}]",
    "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1,2,3], \"score\": 0.5}]",
    "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1,2,3,4], \"score\": 1.5}]",
    "[{\"image_id\": 55, \"category_id\": 1, \"bbox\": [1,2,3,4], \"score\": 0.5}]",
    "{\"not\": \"results\"}",
    "[{\"image_id\": 1,",
  };
  for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
    put_file(path, bad[k]);
    err[0] = 0;
    CHECK_INT_EQ(pred_import(st, path, &o, &ps, err, sizeof(err)), -EINVAL);
    CHECK(err[0] != 0 && !strchr(err, '\n'));
    CHECK_INT_EQ(field_size(sid[1], "predictions"), 1);
    CHECK_INT_EQ(field_size(sid[4], "predictions"), 1);
  }

  /* With a GT file: ids and category names come from it.  A name the
   * store has no class for refuses the import, saying which (no class is
   * created: its predictions would all be false positives); once the
   * class exists, the same input lands. */
  snprintf(path2, sizeof(path2), "%s/gt.json", dir);
  put_file(path2, "{\"images\": [{\"id\": 7, \"file_name\": \"val/000000000002.jpg\"}],"
                  " \"categories\": [{\"id\": 3, \"name\": \"bird\"}]}");
  put_file(path, "[{\"image_id\": 7, \"category_id\": 3, \"bbox\": [1,2,3,4],"
                 " \"score\": 0.5}]");
  o.coco_gt = path2;
  o.field = "p2";
  CHECK_INT_EQ(pred_import(st, path, &o, &ps, err, sizeof(err)), -EINVAL);
  CHECK(strstr(err, "\"bird\"") && !strchr(err, '\n'));
  CHECK(class_of("bird") == 0);
  CHECK_INT_EQ(field_size(sid[2], "p2"), 0);
  CHECK(class_of_new("bird") != 0);
  CHECK_INT_EQ(pred_import(st, path, &o, &ps, err, sizeof(err)), 0);
  CHECK_INT_EQ(field_size(sid[2], "p2"), 1);

  /* YOLO: names from data.yaml in its three forms. */
  char ydir[96], cmd[300];
  snprintf(ydir, sizeof(ydir), "%s/yolo", dir);
  snprintf(cmd, sizeof(cmd), "mkdir -p '%s/sub'", ydir);
  CHECK_INT_EQ(system(cmd), 0);
  snprintf(path, sizeof(path), "%s/sub/000000000003.txt", ydir);
  put_file(path, "1 0.5 0.5 0.2 0.2 0.9\n0 0.1 0.1 0.1 0.1 0.3\n");
  const char *yamls[] = {
    "path: x\nnames: [cat, 'dog']\nnc: 2\n",
    "names:\n  - cat\n  - dog\nnc: 2\n",
    "names:\n  0: cat\n  1: \"dog\"\n",
  };
  struct pred_opts y = { .format = PRED_FORMAT_YOLO, .field = "yolo" };
  snprintf(path2, sizeof(path2), "%s/data.yaml", dir);
  y.names = path2;
  for (size_t k = 0; k < 3; k++) {
    put_file(path2, yamls[k]);
    CHECK_INT_EQ(pred_import(st, ydir, &y, &ps, err, sizeof(err)), 0);
    CHECK_INT_EQ(ps.files, 1);
    CHECK_INT_EQ(field_size(sid[3], "yolo"), 2);
    struct store_txn *t;
    struct labels l;
    store_txn_begin(st, false, &t);
    store_labels_get(t, sid[3], &l);
    store_txn_abort(t);
    struct detection *d = &labels_field(&l, "yolo", false)->d[0];
    CHECK_STR_EQ(d->label, "dog");
    CHECK_NEAR(d->x, 40, 1e-9);
    CHECK_NEAR(d->w, 20, 1e-9);
    CHECK_NEAR(d->confidence, 0.9, 1e-12);
    labels_free(&l);
  }
  put_file(path, "1 0.5 0.5 0.2 0.2\n");
  CHECK_INT_EQ(pred_import(st, ydir, &y, &ps, err, sizeof(err)), -EINVAL);
  CHECK(strstr(err, "no confidence column") != NULL);
  put_file(path, "5 0.5 0.5 0.2 0.2 0.4\n");
  CHECK_INT_EQ(pred_import(st, ydir, &y, &ps, err, sizeof(err)), -EINVAL);
  CHECK_INT_EQ(field_size(sid[3], "yolo"), 2);
  y.names = NULL;
  CHECK_INT_EQ(pred_import(st, ydir, &y, &ps, err, sizeof(err)), -EINVAL);
  teardown();
}

/* The one box of `field` on sample id into b (x, y, w, h). */
static void one_box(uint64_t id, const char *field, double b[4])
{
  struct store_txn *t;
  struct labels l;
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(store_labels_get(t, id, &l), 0);
  store_txn_abort(t);
  struct label_field *f = labels_field(&l, field, false);
  CHECK(f && f->n == 1);
  if (f && f->n == 1)
    b[0] = f->d[0].x, b[1] = f->d[0].y, b[2] = f->d[0].w, b[3] = f->d[0].h;
  labels_free(&l);
}

static void check_box(uint64_t id, const char *field, double x, double y,
                      double w, double h)
{
  double b[4] = { -1, -1, -1, -1 };
  one_box(id, field, b);
  CHECK_NEAR(b[0], x, 1e-9);
  CHECK_NEAR(b[1], y, 1e-9);
  CHECK_NEAR(b[2], w, 1e-9);
  CHECK_NEAR(b[3], h, 1e-9);
}

/* COCO predictions of a picture stored 100 x 50 with EXIF orientation 6
 * (shown turned a quarter clockwise, 50 x 100) follow the COCO label
 * import's frame rule: an image of the table of images whose size is the
 * turned one has its boxes turned back, the stored size or no size keeps
 * them as given.  The view box x 10..20, y 30..70 is, by hand, the
 * stored box x 30..70 (view y), y 30..40 (50 - view x). */
TEST(predictions_turned_frame)
{
  char err[256], path[256], gt[256];
  struct pred_stats ps;
  uint64_t tid[2];
  setup();
  put_samples("", 12, 11, 2, 100, 50, 6, tid);

  const char *dets = "{\"image_id\": 11, \"category_id\": 1, \"bbox\": "
                     "[10, 30, 10, 40], \"score\": 0.5},"
                     " {\"image_id\": 12, \"category_id\": 1, \"bbox\": "
                     "[10, 30, 10, 40], \"score\": 0.5}";
  const char *images = "\"images\": [{\"id\": 11, \"file_name\": "
                       "\"val/000000000011.jpg\", \"width\": 50, "
                       "\"height\": 100}, {\"id\": 12, \"file_name\": "
                       "\"val/000000000012.jpg\", \"width\": 100, "
                       "\"height\": 50}], \"categories\": [{\"id\": 1, "
                       "\"name\": \"cat\"}]";
  char doc[1024];
  struct pred_opts o = { .format = PRED_FORMAT_COCO };

  /* A bare results list alone gives no size: both as given. */
  snprintf(path, sizeof(path), "%s/res.json", dir);
  snprintf(doc, sizeof(doc), "[%s]", dets);
  put_file(path, doc);
  o.field = "bare";
  CHECK_INT_EQ(pred_import(st, path, &o, &ps, err, sizeof(err)), 0);
  CHECK_INT_EQ(ps.turned, 0);
  check_box(tid[0], "bare", 10, 30, 10, 40);
  check_box(tid[1], "bare", 10, 30, 10, 40);

  /* The same list with a ground truth whose image 11 has the turned
   * size, image 12 the stored one. */
  snprintf(gt, sizeof(gt), "%s/gt.json", dir);
  snprintf(doc, sizeof(doc), "{%s}", images);
  put_file(gt, doc);
  o.field = "withgt";
  o.coco_gt = gt;
  CHECK_INT_EQ(pred_import(st, path, &o, &ps, err, sizeof(err)), 0);
  CHECK_INT_EQ(ps.turned, 1);
  check_box(tid[0], "withgt", 30, 30, 40, 10);
  check_box(tid[1], "withgt", 10, 30, 10, 40);

  /* A results object with images of its own: the same. */
  snprintf(doc, sizeof(doc), "{%s, \"annotations\": [%s]}", images, dets);
  put_file(path, doc);
  o.field = "own";
  o.coco_gt = NULL;
  CHECK_INT_EQ(pred_import(st, path, &o, &ps, err, sizeof(err)), 0);
  CHECK_INT_EQ(ps.turned, 1);
  check_box(tid[0], "own", 30, 30, 40, 10);
  check_box(tid[1], "own", 10, 30, 10, 40);
  teardown();
}

/* A COCO ground truth of the hand-built set, images 1..3 given the ids
 * ids[0..2]. */
static void put_coco_gt(const char *path, const int ids[3])
{
  char doc[1024];
  snprintf(doc, sizeof(doc),
           "{\"images\": [{\"id\": %d, \"file_name\": \"val/000000000001.jpg\"},"
           " {\"id\": %d, \"file_name\": \"val/000000000002.jpg\"},"
           " {\"id\": %d, \"file_name\": \"val/000000000003.jpg\"}],"
           " \"annotations\": ["
           "{\"id\": 1, \"image_id\": %d, \"category_id\": 1, \"bbox\": [10, 10, 20, 20]},"
           " {\"id\": 2, \"image_id\": %d, \"category_id\": 1, \"bbox\": [0, 0, 10, 10]},"
           " {\"id\": 3, \"image_id\": %d, \"category_id\": 2, \"bbox\": [80, 80, 10, 10]},"
           " {\"id\": 4, \"image_id\": %d, \"category_id\": 1, \"bbox\": [0, 0, 10, 10]}],"
           " \"categories\": [{\"id\": 1, \"name\": \"cat\"}, {\"id\": 2, \"name\": \"dog\"}]}",
           ids[0], ids[1], ids[2], ids[0], ids[1], ids[1], ids[2]);
  put_file(path, doc);
}

static int fresh(const char *name)
{
  struct store_txn *t;
  int r;
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  r = evalrun_fresh(t, name);
  store_txn_abort(t);
  return r;
}

/* Evaluation orders images by the ground truth's COCO image ids (score
 * ties), so a COCO import into the ground truth that changes only the ids
 * (the boxes come back the same: no label is written, no label version
 * moves) makes a stored evaluation stale; the same ids again do not. */
TEST(coco_ids_make_evaluation_stale)
{
  char err[256], path[256];
  const int ids[3] = { 1, 2, 3 }, swapped[3] = { 3, 2, 1 };
  struct coco_stats cs;
  uint64_t v0, v1;
  struct store_txn *t;
  struct sample s1;
  setup();
  snprintf(path, sizeof(path), "%s/gt.json", dir);
  put_coco_gt(path, ids);
  memset(&cs, 0, sizeof(cs));
  CHECK_INT_EQ(coco_import_opts(st, path, "ground_truth", NULL, NULL, NULL,
                                &cs), 0);
  CHECK_INT_EQ(cs.matched, 3);
  CHECK_INT_EQ(evalrun_run(st, "e", NULL, NULL, err, sizeof(err)), 0);
  CHECK_INT_EQ(fresh("e"), 1);

  /* The same file again: a new store version, the same fingerprint. */
  CHECK_INT_EQ(coco_import_opts(st, path, "ground_truth", NULL, NULL, NULL,
                                &cs), 0);
  CHECK_INT_EQ(fresh("e"), 1);

  /* Only the ids of the ground truth change. */
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(store_sample_get(t, sid[1], &s1), 0);
  v0 = s1.labels_version;
  store_txn_abort(t);
  put_coco_gt(path, swapped);
  CHECK_INT_EQ(coco_import_opts(st, path, "ground_truth", NULL, NULL, NULL,
                                &cs), 0);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(store_sample_get(t, sid[1], &s1), 0);
  v1 = s1.labels_version;
  store_txn_abort(t);
  CHECK(v0 == v1);   /* the labels were not written */
  CHECK_INT_EQ(fresh("e"), 0);
  CHECK_INT_EQ(evalrun_refresh(st, "e", err, sizeof(err)), 1);
  CHECK_INT_EQ(fresh("e"), 1);
  teardown();
}

/* The text of evaluation `name`'s report from its class table on (the
 * lines before name the run and the dataset version). */
static char *report_classes(const char *name)
{
  struct store_txn *t;
  struct buf out;
  char *from, *copy = NULL;

  buf_init(&out, 1 << 20);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  CHECK_INT_EQ(evalrun_report_txt(t, name, &out), 0);
  store_txn_abort(t);
  from = out.data ? strstr(out.data, "\nclass ") : NULL;
  CHECK(from != NULL);
  if (from)
    copy = strdup(from);
  buf_free(&out);
  return copy;
}

static long max_rss_kib(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Classes no box uses change no number and cost no memory: the run is
 * given the classes its boxes use (about 100 KB of curves each), not all
 * 3,000 of the store (300 MB); a used class past the unused ones keeps
 * its name and counts. */
TEST(unused_classes)
{
  char err[256], name[32];
  struct evalrun_info a, b, c;
  struct store_txn *t;
  uint32_t id;

  setup();
  CHECK_INT_EQ(evalrun_run(st, "before", NULL, &a, err, sizeof(err)), 0);
  char *rep_a = report_classes("before");
  CHECK_INT_EQ(store_txn_begin(st, true, &t), 0);
  for (int i = 0; i < 3000; i++) {
    snprintf(name, sizeof(name), "unused%d", i);
    CHECK_INT_EQ(store_class_id(t, name, true, &id), 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
  long rss0 = max_rss_kib();
  CHECK_INT_EQ(evalrun_run(st, "after", NULL, &b, err, sizeof(err)), 0);
  long grown = max_rss_kib() - rss0;
  if (grown > 64 * 1024) {
    fprintf(stderr, "a run beside 3,000 unused classes: peak memory up "
            "%ld KiB\n", grown);
    CHECK(grown <= 64 * 1024);
  }
  CHECK(a.map == b.map);
  CHECK(a.tp == b.tp && a.fp == b.fp && a.fn == b.fn);
  char *rep_b = report_classes("after");
  CHECK(rep_a && rep_b && strcmp(rep_a, rep_b) == 0);

  /* s4 gets a class whose id lies past the unused ones. */
  struct labels l;
  labels_init(&l);
  add_det(&l, "ground_truth", "late", 0, 0, 10, 10, NAN);
  add_det(&l, "predictions", "late", 0, 0, 10, 10, 0.5);
  put_labels(sid[4], &l);
  CHECK(class_of("late") > 3000);
  CHECK_INT_EQ(evalrun_run(st, "late", NULL, &c, err, sizeof(err)), 0);
  CHECK_INT_EQ(c.tp, a.tp + 1);
  char *rep_c = report_classes("late");
  CHECK(rep_c && strstr(rep_c, "\ncat ") && strstr(rep_c, "\ndog ") &&
        strstr(rep_c, "\nlate ") && !strstr(rep_c, "unused"));
  free(rep_a);
  free(rep_b);
  free(rep_c);
  teardown();
}


/* The column (in characters) where the second field of a report line
 * ends; name_len is the byte length of the line's class name. */
static size_t second_column_end(const char *line, size_t name_len)
{
  const char *p = line + name_len;
  size_t col = 0;
  for (const char *q = line; q < p; q++)
    col += ((unsigned char)*q & 0xC0) != 0x80;
  for (; *p == ' '; p++)
    col++;
  for (; *p && *p != ' ' && *p != '\n'; p++)
    col++;
  return col;
}

/* report.txt lists every class by its whole name, valid UTF-8: a class
 * whose 24th byte falls inside a multi-byte character (the column the
 * table pads to) and another with the same first 24 bytes both appear in
 * full, and names line up by characters, not bytes. */
TEST(report_class_names_utf8)
{
  /* "Stra\u00dfenbahnhaltestelle" is 23 bytes: the 24th is the first of
   * the three of U+65E5. */
  static const char *const long1 = "Stra\xc3\x9f" "enbahnhaltestelle\xe6\x97\xa5\xe6\x9c\xac";
  static const char *const long2 = "Stra\xc3\x9f" "enbahnhaltestelle\xe6\x97\xa5\xe6\x9c\xac 2";
  char err[256];
  struct evalrun_info info;
  setup();
  struct labels l;
  labels_init(&l);
  add_det(&l, "ground_truth", long1, 0, 0, 10, 10, NAN);
  add_det(&l, "ground_truth", long2, 20, 20, 10, 10, NAN);
  add_det(&l, "ground_truth", "\xc3\x9c" "ber", 40, 40, 10, 10, NAN);
  add_det(&l, "predictions", long1, 0, 0, 10, 10, 0.9);
  put_labels(sid[4], &l);
  CHECK_INT_EQ(evalrun_run(st, "e", NULL, &info, err, sizeof(err)), 0);
  struct store_txn *t;
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  struct buf out;
  buf_init(&out, 1 << 20);
  CHECK_INT_EQ(evalrun_report_txt(t, "e", &out), 0);
  store_txn_abort(t);
  CHECK(utf8_valid(out.data, out.len));
  char want[128];
  snprintf(want, sizeof(want), "\n%s %9.4f", long1, 1.0);
  CHECK(strstr(out.data, want) != NULL);
  snprintf(want, sizeof(want), "\n%s %9.4f", long2, 0.0);
  CHECK(strstr(out.data, want) != NULL);
  /* "\u00dcber" is 4 characters in 5 bytes: padded to 24 characters, its
   * precision column ends where that of "cat" does. */
  const char *cat = strstr(out.data, "\ncat ");
  const char *uber = strstr(out.data, "\n\xc3\x9c" "ber ");
  CHECK(cat && uber);
  if (cat && uber)
    CHECK_INT_EQ(second_column_end(uber + 1, 5), second_column_end(cat + 1, 3));
  buf_free(&out);
  teardown();
}

/* A drawn caption quotes a class name up to 60 bytes, cut between
 * characters: a name whose 60th byte falls inside a character is drawn
 * as its first whole characters, exactly as the name of those characters
 * alone, never with a replacement glyph for the cut one. */
TEST(drawn_caption_cut_between_characters)
{
  char long1[128] = "a", long2[128] = "a", err[256];
  struct evalrun_info info;
  uint64_t id[2];

  for (int i = 0; i < 21; i++)   /* 1 + 63 bytes: the cut splits U+65E5 */
    strcat(long1, "\xe6\x97\xa5");
  for (int i = 0; i < 19; i++)   /* 1 + 57 bytes: what a clean cut keeps */
    strcat(long2, "\xe6\x97\xa5");
  setup();
  struct store_txn *t;
  put_samples("wide", 0, 0, 2, 1000, 100, 0, id);
  for (int i = 0; i < 2; i++) {
    struct labels l;
    labels_init(&l);
    add_det(&l, "ground_truth", i ? long2 : long1, 10, 10, 50, 50, NAN);
    add_det(&l, "predictions", "dog", 10, 10, 50, 50, 0.9);
    put_labels(id[i], &l);
  }
  CHECK_INT_EQ(evalrun_run(st, "e", NULL, &info, err, sizeof(err)), 0);

  struct image src, im[2];
  CHECK_INT_EQ(image_alloc(&src, 1000, 100, 3), 0);
  memset(src.px, 200, 1000 * 100 * 3);
  uint8_t *orig = NULL, *jpg[2] = { NULL, NULL };
  size_t olen = 0, jlen[2];
  CHECK_INT_EQ(jpeg_encode(&src, 90, &orig, &olen), 0);
  image_free(&src);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  for (int i = 0; i < 2; i++) {
    CHECK_INT_EQ(evalrun_sample_jpeg(t, "e", id[i], EVALRUN_MISTAKES, orig,
                                     olen, &jpg[i], &jlen[i]), 0);
    CHECK_INT_EQ(jpeg_decode(jpg[i], jlen[i], 0, &im[i]), 0);
  }
  store_txn_abort(t);
  CHECK(im[0].w == im[1].w && im[0].h == im[1].h);
  CHECK(memcmp(im[0].px, im[1].px, (size_t)im[0].w * im[0].h * 3) == 0);
  for (int i = 0; i < 2; i++) {
    image_free(&im[i]);
    free(jpg[i]);
  }
  free(orig);
  teardown();
}

TEST_MAIN(T(hand_built_evaluation), T(predictions_import),
          T(predictions_turned_frame), T(coco_ids_make_evaluation_stale),
          T(unused_classes),
          T(report_class_names_utf8),
          T(drawn_caption_cut_between_characters))
