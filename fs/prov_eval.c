/* prov_eval.c - eval/: model evaluation.
 *
 *   eval/run                   echo 'NAME [gt=F] [pred=F] [iou=X]' > eval/run
 *   eval/import-predictions    echo 'PATH [format=coco|yolo] [names=F]
 *                                     [coco_gt=F] [field=F]
 *                                     [frame=auto|stored|viewer]' > ...
 *   eval/<name>/report.txt     COCO summary (pycocotools' 12 numbers),
 *                              per-class precision, recall, AP, AP50,
 *                              AP75, support
 *   eval/<name>/metrics.json   the same as JSON
 *   eval/<name>/pr-curves.jpg  dataset-wide precision-recall curves
 *                              (IoU 0.50, 0.75, mean 0.50:0.95) and the
 *                              classes' AP as ranked bars
 *
 * The numbers are those of core/views/evalrun.h, kept in the store; an
 * evaluation whose labels changed is re-run before it is shown (evalsel.c).
 * Reasons of failures go to the log and `status`.
 *
 * State: none (no ->init); which evaluation is fresh is evalsel.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "evalrun.h"
#include "evalsel.h"
#include "predictions.h"
#include "views.h"
#include "vtree.h"

/* ---- commands ---- */

/* Splits "word k=v k=v" (one line) into the word and up to 8 pairs. */
struct args {
  char word[1024];
  char key[8][24], val[8][1024];
  int n;
};

static int parse_args(const char *data, size_t len, struct args *a)
{
  char line[4096], *p, *save = NULL, *tok;
  int i = 0;

  memset(a, 0, sizeof(*a));
  if (len >= sizeof(line))
    return -EINVAL;
  memcpy(line, data, len);
  line[len] = '\0';
  p = strchr(line, '\n');
  if (p) {
    if (strspn(p, " \t\r\n") != strlen(p))
      return -EINVAL;
    *p = '\0';
  }
  for (tok = strtok_r(line, " \t\r", &save); tok;
       tok = strtok_r(NULL, " \t\r", &save), i++) {
    if (i == 0) {
      if (strlen(tok) >= sizeof(a->word))
        return -EINVAL;
      strcpy(a->word, tok);
      continue;
    }
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok || a->n == 8 ||
        (size_t)(eq - tok) >= sizeof(a->key[0]) ||
        strlen(eq + 1) >= sizeof(a->val[0]))
      return -EINVAL;
    memcpy(a->key[a->n], tok, (size_t)(eq - tok));
    strcpy(a->val[a->n], eq + 1);
    a->n++;
  }
  return a->word[0] ? 0 : -EINVAL;
}

static const char *arg(const struct args *a, const char *key)
{
  for (int i = 0; i < a->n; i++)
    if (strcmp(a->key[i], key) == 0)
      return a->val[i];
  return NULL;
}

static bool only_keys(const struct args *a, const char *const *keys,
                      size_t nk, char *bad, size_t badlen)
{
  for (int i = 0; i < a->n; i++) {
    bool ok = false;
    for (size_t k = 0; k < nk; k++)
      ok |= strcmp(a->key[i], keys[k]) == 0;
    if (!ok) {
      snprintf(bad, badlen, "%s", a->key[i]);
      return false;
    }
  }
  return true;
}

static int run_cmd(struct fs_ctx *c, const char *data, size_t len)
{
  static const char *const keys[] = { "gt", "pred", "iou" };
  struct evalrun_opts o = { 0 };
  struct evalrun_info info;
  struct store_txn *t;
  struct args a;
  char gt[80], pred[80], err[400] = "", bad[32];
  int r = parse_args(data, len, &a);

  if (r < 0 || !evalrun_name_valid(a.word)) {
    fs_error(c, "eval/run: expected \"NAME [gt=FIELD] [pred=FIELD] "
             "[iou=X]\" with a name of 1-64 [A-Za-z0-9_.-]");
    return -EINVAL;
  }
  if (!only_keys(&a, keys, ARRAY_SIZE(keys), bad, sizeof(bad))) {
    fs_error(c, "eval/run: unknown option \"%s\" (gt, pred, iou)", bad);
    return -EINVAL;
  }
  r = store_txn_begin(c->store, false, &t);
  if (r < 0)
    return r;
  config_get_str(t, "eval.gt_field", gt, sizeof(gt));
  config_get_str(t, "eval.pred_field", pred, sizeof(pred));
  o.iou = config_get_float(t, "eval.iou");
  store_txn_abort(t);
  o.gt_field = arg(&a, "gt") ? arg(&a, "gt") : gt;
  o.pred_field = arg(&a, "pred") ? arg(&a, "pred") : pred;
  if (arg(&a, "iou")) {
    char *end;
    o.iou = strtod(arg(&a, "iou"), &end);
    /* 1 is meaningful: COCOeval caps thresholds at 1 - 1e-10, so it
     * matches a box equal to the ground truth (evaluate.h). */
    if (*end || !(o.iou > 0 && o.iou <= 1)) {
      fs_error(c, "eval/run: iou must be a number in (0, 1]");
      return -EINVAL;
    }
  }
  r = evalrun_run(c->store, a.word, &o, &info, err, sizeof(err));
  if (r < 0) {
    fs_error(c, "eval/run %s: %s", a.word, err);
    return r;
  }
  log_msg(LOG_LVL_INFO, "eval %s: %" PRIu64 " samples, mAP %.4f, %.2f s",
          a.word, info.n_samples, info.map, info.seconds);
  return 0;
}

static int import_cmd(struct fs_ctx *c, const char *data, size_t len)
{
  static const char *const keys[] = { "format", "names", "coco_gt", "field",
                                      "frame" };
  struct pred_opts o = { 0 };
  struct pred_stats st;
  struct args a;
  struct stat sb;
  char err[400] = "", bad[32], line[512];
  const char *fmt;
  int r = parse_args(data, len, &a);

  if (r < 0) {
    fs_error(c, "eval/import-predictions: expected \"PATH [format=coco|yolo]"
             " [names=FILE] [coco_gt=FILE] [field=NAME]"
             " [frame=auto|stored|viewer]\"");
    return -EINVAL;
  }
  if (!only_keys(&a, keys, ARRAY_SIZE(keys), bad, sizeof(bad))) {
    fs_error(c, "eval/import-predictions: unknown option \"%s\"", bad);
    return -EINVAL;
  }
  if (a.word[0] != '/') {
    fs_error(c, "eval/import-predictions: give an absolute path (the daemon "
             "does not share your working directory)");
    return -EINVAL;
  }
  if (stat(a.word, &sb) < 0) {
    fs_error(c, "eval/import-predictions: %s: %s", a.word, strerror(errno));
    return -ENOENT;
  }
  fmt = arg(&a, "format");
  if (fmt && strcmp(fmt, "coco") && strcmp(fmt, "yolo")) {
    fs_error(c, "eval/import-predictions: format must be coco or yolo");
    return -EINVAL;
  }
  o.format = (fmt ? strcmp(fmt, "yolo") == 0 : S_ISDIR(sb.st_mode))
                 ? PRED_FORMAT_YOLO : PRED_FORMAT_COCO;
  o.field = arg(&a, "field");
  o.names = arg(&a, "names");
  o.coco_gt = arg(&a, "coco_gt");
  if (arg(&a, "frame") && img_frame_parse(arg(&a, "frame"), &o.frame) < 0) {
    fs_error(c, "eval/import-predictions: frame must be auto, stored or "
             "viewer");
    return -EINVAL;
  }
  r = pred_import(c->store, a.word, &o, &st, err, sizeof(err));
  if (r < 0) {
    fs_error(c, "eval/import-predictions: %s", err);
    return r;
  }
  log_msg(LOG_LVL_INFO, "predictions: %" PRIu64 " boxes on %" PRIu64
          " samples from %s", st.boxes, st.samples, a.word);
  if (smatch_folds_line(&st.folded, line, sizeof(line)))
    log_msg(LOG_LVL_INFO, "predictions from %s: %s", a.word, line);
  if (st.ambiguous)   /* a name to fix, not only a count */
    fs_error(c, "eval/import-predictions %s: %" PRIu64 " predictions left "
             "out: named by a name that several samples could be (e.g. %s)",
             a.word, st.ambiguous, st.ambiguous_eg);
  notify_labels(c, NULL, 0);
  return 0;
}

/* ---- paths ---- */

static const char *const run_files[] = { "report.txt", "metrics.json",
                                         "pr-curves.jpg" };

static int e_stat(struct fs_ctx *c, struct store_txn *t, const char *path,
                  struct vent *ret)
{
  struct evalrun_info info;
  char name[EVALRUN_MAX_NAME + 1];
  const char *slash;

  (void)c;
  memset(ret, 0, sizeof(*ret));
  if (!*path) {
    ret->kind = VENT_DIR;
    return 0;
  }
  if (strcmp(path, "run") == 0 || strcmp(path, "import-predictions") == 0) {
    ret->kind = VENT_CTL;
    ret->key = 1;
    return 0;
  }
  slash = strchr(path, '/');
  if ((size_t)(slash ? slash - path : (ptrdiff_t)strlen(path)) >= sizeof(name))
    return -ENOENT;
  snprintf(name, sizeof(name), "%.*s",
           slash ? (int)(slash - path) : (int)strlen(path), path);
  if (!evalrun_name_valid(name) || evalrun_get(t, name, &info) < 0)
    return -ENOENT;
  if (!slash) {
    ret->kind = VENT_DIR;
    ret->mtime_ns = info.created_ns;
    return 0;
  }
  for (size_t i = 0; i < ARRAY_SIZE(run_files); i++)
    if (strcmp(slash + 1, run_files[i]) == 0) {
      ret->kind = VENT_FILE;
      /* Content follows the store; a stale run is refreshed when the
       * file is generated (and then the version moves on). */
      ret->key = provlib_version_key(t);
      ret->mtime_ns = info.created_ns;
      return 0;
    }
  return -ENOENT;
}

struct lctx {
  vent_fn fn;
  void *ud;
  uint64_t from, i;
  bool stop;
};

static int list_one(const char *name, void *ud)
{
  struct lctx *l = ud;
  struct vent d = { .kind = VENT_DIR };

  l->i++;
  if (l->i <= l->from)
    return 0;
  if (l->fn(name, &d, l->i, l->ud))
    return 1;
  return 0;
}

static int e_list(struct fs_ctx *c, struct store_txn *t, const char *path,
                  uint64_t from, vent_fn fn, void *ud)
{
  struct vent ctl = { .kind = VENT_CTL, .key = 1 };
  struct vent f = { .kind = VENT_FILE };
  struct lctx l = { fn, ud, from, 2, false };

  (void)c;
  if (!*path) {
    if (from < 1 && fn("run", &ctl, 1, ud))
      return 0;
    if (from < 2 && fn("import-predictions", &ctl, 2, ud))
      return 0;
    evalrun_each(t, list_one, &l);
    return 0;
  }
  if (strchr(path, '/'))
    return -ENOTDIR;
  for (size_t i = from; i < ARRAY_SIZE(run_files); i++) {
    f.key = provlib_version_key(t);
    if (fn(run_files[i], &f, i + 1, ud))
      break;
  }
  return 0;
}

static int e_generate(struct fs_ctx *c, struct store_txn *t0, const char *path,
                      const struct sink *out)
{
  char name[EVALRUN_MAX_NAME + 1];
  const char *slash = strchr(path, '/');
  struct store_txn *t;
  struct buf b;
  int r;

  (void)t0;
  if (strcmp(path, "run") == 0) {
    static const char help[] =
        "Write a name to evaluate the predictions against the ground truth:\n"
        "  echo val1 > eval/run\n"
        "  echo 'val1 gt=ground_truth pred=predictions iou=0.5' > eval/run\n"
        "Then read eval/val1/report.txt (the numbers of pycocotools' "
        "COCOeval);\nviews/mistakes, "
        "views/possible-missing\nand views/possible-spurious show the latest "
        "evaluation.\n";
    return out->write(out->ud, help, sizeof(help) - 1);
  }
  if (strcmp(path, "import-predictions") == 0) {
    static const char help[] =
        "Write an absolute path to import model predictions (field "
        "`predictions`):\n"
        "  echo /data/preds.json > eval/import-predictions      (COCO "
        "results)\n"
        "  echo '/data/labels format=yolo names=/data/data.yaml' > "
        "eval/import-predictions\n"
        "Options: format=coco|yolo names=FILE coco_gt=FILE field=NAME\n"
        "         frame=auto|stored|viewer (boxes of EXIF-turned photos)\n";
    return out->write(out->ud, help, sizeof(help) - 1);
  }
  if (!slash)
    return -EISDIR;
  snprintf(name, sizeof(name), "%.*s", (int)(slash - path), path);
  r = evalsel_refresh(c, name, 0);
  if (r < 0)
    return r;
  r = store_txn_begin(c->store, false, &t);
  if (r < 0)
    return r;
  buf_init(&b, 64u << 20);
  if (strcmp(slash + 1, "report.txt") == 0) {
    r = evalrun_report_txt(t, name, &b);
  } else if (strcmp(slash + 1, "metrics.json") == 0) {
    r = evalrun_metrics_json(t, name, &b);
  } else {
    uint8_t *jpg = NULL;
    size_t jl = 0;
    r = evalrun_pr_curves_jpeg(t, name, 0, 0, &jpg, &jl);
    if (r == 0)
      r = buf_append(&b, jpg, jl);
    free(jpg);
  }
  store_txn_abort(t);
  if (r == 0)
    r = out->write(out->ud, b.data ? b.data : "", b.len);
  else
    fs_error(c, "eval/%s: %s", path, strerror(-r));
  buf_free(&b);
  return r;
}

static int e_write(struct fs_ctx *c, const char *path, const char *data,
                   size_t len)
{
  if (strcmp(path, "run") == 0)
    return run_cmd(c, data, len);
  if (strcmp(path, "import-predictions") == 0)
    return import_cmd(c, data, len);
  return -EACCES;
}

const struct provider prov_eval = {
  .name = "eval",
  .stat = e_stat,
  .list = e_list,
  .generate = e_generate,
  .write = e_write,
  .command = true,
};
