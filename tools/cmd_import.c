/* cmd_import.c - `curate import`: walks a folder into a store
 * (core/formats/import.h), then optionally imports a COCO detection JSON
 * (coco.h) and model predictions (predictions.h), in that order; each step
 * is its own transaction(s) and a failed step leaves the labels unchanged.
 * Before the folder step commits anything, the inputs the later steps read
 * are checked (the folder is one, the COCO file parses, the predictions and
 * names can be opened), and a store this run created is removed again when
 * the run fails, so that a run refused for its input leaves no trace.  A
 * later step that fails for what only the filled store shows (a COCO file
 * matching nothing, two of its images one sample) leaves an existing
 * store with the folder step's new samples and unchanged labels
 * (USER-GUIDE §17).  Batches the folder step committed before failing (a
 * full disk, a full map) stay, new store or not, so that the next run
 * goes on from there, as after a killed import; so do samples another run
 * put into the store this one created.
 *
 * Output: one summary line per step, or with --json one object
 * {"import": ..., "coco": ..., "predictions": ...} holding the steps that
 * ran.  Progress goes to stderr when it is a terminal. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coco.h"
#include "curate.h"
#include "import.h"
#include "predictions.h"
#include "store.h"
#include "util.h"

/* stderr is a terminal: progress bars, and lines clear them first. */
static bool tty;

static void on_report(const char *rel, const char *reason, void *ud)
{
  (void)ud;
  if (tty)
    fprintf(stderr, "\r\033[K");
  fprintf(stderr, "skipped %s: %s\n", rel, reason);
}

static void on_note(const char *rel, const char *msg, void *ud)
{
  (void)ud;
  if (tty)
    fprintf(stderr, "\r\033[K");
  fprintf(stderr, "note %s: %s\n", rel, msg);
}

static void on_progress(const struct import_progress *p, void *ud)
{
  int width = 30, fill;
  (void)ud;

  if (!tty)
    return;
  fill = p->total ? (int)((double)p->done / (double)p->total * width) : 0;
  fprintf(stderr, "\r\033[K%-8s [%.*s%*s] %" PRIu64 "/%" PRIu64,
          import_phase_name(p->phase), fill, "##############################",
          width - fill, "", p->done, p->total);
  if (p->phase == IMPORT_DONE)
    fprintf(stderr, "\r\033[K");
}

static void on_coco(const char *what, const char *reason, void *ud)
{
  (void)ud;
  fprintf(stderr, "coco: %s: %s\n", what, reason);
}

/* The command line. */
struct import_args {
  const char *store_dir, *dir, *coco, *field, *preds, *names;
  struct import_opts io;
  struct coco_opts co;
  enum img_frame frame;   /* --frame, for --coco and --predictions */
  bool json;
  bool kept;   /* the folder step failed after committing batches */
  uint64_t added;   /* samples the folder step added */
};

#define IMPORT_USAGE \
  " import --store STORE [--coco FILE [--clear-labels]]\n" \
  "                 [--field NAME] [--no-hash] [--no-features]\n" \
  "                 [--predictions FILE|DIR [--names FILE]]\n" \
  "                 [--frame auto|stored|viewer] DIR|s3://BUCKET[/PREFIX]\n"

/* Parses argv into *a.  Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct import_args *a)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "coco", required_argument, NULL, 'c' },
    { "field", required_argument, NULL, 'f' },
    { "no-hash", no_argument, NULL, 'H' },
    { "predictions", required_argument, NULL, 'p' },
    { "names", required_argument, NULL, 'n' },
    { "no-features", no_argument, NULL, 'F' },
    { "clear-labels", no_argument, NULL, 'C' },
    { "json", no_argument, NULL, 'j' },
    { "frame", required_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *why;
  char buf[300];
  int c;

  while ((c = getopt_long(argc, argv, "s:c:f:HFCp:n:r:jh", opts, NULL)) != -1) {
    switch (c) {
    case 's': a->store_dir = optarg; break;
    case 'p': a->preds = optarg; break;
    case 'n': a->names = optarg; break;
    case 'c': a->coco = optarg; break;
    case 'f': a->field = optarg; break;
    case 'H': a->io.no_hash = true; break;
    case 'F': a->io.no_features = true; break;
    case 'C': a->co.clear_ok = true; break;
    case 'j': a->json = true; break;
    case 'r':
      if (!tool_frame_arg(optarg, &a->frame))
        return 2;
      a->co.view_frame = a->frame == IMG_FRAME_VIEWER;
      break;
    case 'h': tool_usage(stdout); return 0;
    default: fprintf(stderr, "usage: %s" IMPORT_USAGE, prog); return 2;
    }
  }
  why = tool_args_problem(a->store_dir != NULL, argc, argv, 1, "DIR", buf,
                          sizeof(buf));
  if (why)
    return tool_usage_error("import", IMPORT_USAGE, "%s", why);
  a->dir = argv[optind];
  if (!labels_field_name_valid(a->field)) {
    fprintf(stderr, "%s: invalid field name '%s'\n", prog, a->field);
    return 2;
  }
  return -1;
}

/* Whether the store holds more than n samples: with n 0, what a failed
 * folder step committed (its stats count files a failed commit lost as
 * well); with the samples this run added, what another run did. */
static bool has_samples(struct store *s, uint64_t n)
{
  struct store_txn *t;
  uint64_t now = 0;

  if (store_txn_begin(s, false, &t) < 0)
    return true;   /* keep what cannot be checked */
  store_sample_count(t, &now);
  store_txn_abort(t);
  return now > n;
}

/* Step 1: the folder.  Its summary goes to stdout, or into jb. */
static int step_scan(struct store *s, struct import_args *a, struct buf *jb)
{
  struct import_stats st;
  char err[600];
  int r = tool_import(s, a->dir, &a->io, &st, err, sizeof(err));

  if (r < 0) {
    fprintf(stderr, "%s: import of '%s' failed: %s\n", prog, a->dir,
            err[0] ? err : strerror(-r));
    a->kept = has_samples(s, 0);
    return r;
  }
  a->added = st.added;
  if (a->json) {
    buf_printf(jb, "{\"import\": {\"files\": %" PRIu64 ", \"new\": %" PRIu64
               ", \"changed\": %" PRIu64 ", \"unchanged\": %" PRIu64
               ", \"skipped\": %" PRIu64 ", \"missing\": %" PRIu64
               ", \"restored\": %" PRIu64 ", \"hashed\": %" PRIu64
               ", \"featured\": %" PRIu64 ", \"ignored\": %" PRIu64
               ", \"reoriented\": %" PRIu64 "}",
               st.files, st.added, st.updated, st.unchanged, st.skipped,
               st.missing, st.restored, st.hashed, st.featured, st.ignored,
               st.reoriented);
    return 0;
  }
  printf("imported %" PRIu64 " image files: %" PRIu64 " new, %" PRIu64
         " changed, %" PRIu64 " unchanged, %" PRIu64 " skipped, %" PRIu64
         " missing, %" PRIu64 " restored, %" PRIu64 " hashed, %" PRIu64
         " with new features; %" PRIu64 " other files ignored\n",
         st.files, st.added, st.updated, st.unchanged, st.skipped,
         st.missing, st.restored, st.hashed, st.featured, st.ignored);
  if (st.mismatched)
    printf("%" PRIu64 " files imported by their content, not their name\n",
           st.mismatched);
  if (st.reoriented)
    printf("%" PRIu64 " unchanged PNG files take a new EXIF orientation "
           "(read by newer rules); their features are computed again\n",
           st.reoriented);
  for (int k = 0; k < IMPORT_SKIP_NKINDS; k++)
    if (st.skip_kind[k])
      printf("skipped %" PRIu64 ": %s\n", st.skip_kind[k],
             import_skip_name((enum import_skip)k));
  return 0;
}

/* Step 2 (--coco): the COCO file into the field. */
static int step_coco(struct store *s, struct import_args *a, struct buf *jb)
{
  struct coco_stats cs;
  char line[512];
  int r = coco_import_opts(s, a->coco, a->field, &a->co, on_coco, NULL, &cs);

  if (r < 0) {
    fprintf(stderr, "%s: COCO import of '%s' failed: %s; labels unchanged\n",
            prog, a->coco, strerror(-r));
    return r;
  }
  /* reported as the file's other findings are */
  if (smatch_folds_line(&cs.folded, line, sizeof(line)))
    on_coco(a->coco, line, NULL);
  if (a->json)
    buf_printf(jb, ", \"coco\": {\"field\": \"%s\", \"images\": %" PRIu64
               ", \"matched\": %" PRIu64 ", \"not_on_disk\": %" PRIu64
               ", \"not_on_disk_boxes\": %" PRIu64 ", \"ambiguous\": %"
               PRIu64 ", \"refused\": %" PRIu64 ", \"boxes\": %" PRIu64
               ", \"categories\": %" PRIu64 ", \"outside\": %" PRIu64
               ", \"invalid\": %" PRIu64 ", \"orphans\": %" PRIu64
               ", \"turned\": %" PRIu64 ", \"folded\": %" PRIu64 "}",
               a->field, cs.images, cs.matched, cs.missing, cs.missing_boxes,
               cs.unmatched - cs.missing, cs.refused, cs.boxes, cs.categories,
               cs.outside, cs.bad_boxes, cs.orphans, cs.turned,
               cs.folded.n);
  else
    printf("COCO %s: %" PRIu64 " images (%" PRIu64 " matched, %" PRIu64
           " not on disk with %" PRIu64 " boxes kept for evaluation, %"
           PRIu64 " ambiguous, %" PRIu64 " refused), %" PRIu64 " boxes in %"
           PRIu64 " categories (%" PRIu64 " reaching past the image, kept; %"
           PRIu64 " invalid, %" PRIu64 " for image ids no image has); %"
           PRIu64 " images read in the frame turned by EXIF orientation\n",
           a->field, cs.images, cs.matched, cs.missing, cs.missing_boxes,
           cs.unmatched - cs.missing, cs.refused, cs.boxes, cs.categories,
           cs.outside, cs.bad_boxes, cs.orphans, cs.turned);
  return 0;
}

/* Step 3 (--predictions): a folder is YOLO txt with a confidence column,
 * a file COCO results; ids and names come from the --coco file when
 * given. */
static int step_preds(struct store *s, struct import_args *a, struct buf *jb)
{
  struct pred_opts po = { .coco_gt = a->coco, .names = a->names,
                          .frame = a->frame };
  struct pred_stats ps;
  struct stat sb;
  char err[400] = "";
  int r;

  po.format = stat(a->preds, &sb) == 0 && S_ISDIR(sb.st_mode)
                  ? PRED_FORMAT_YOLO : PRED_FORMAT_COCO;
  r = pred_import(s, a->preds, &po, &ps, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "%s: predictions '%s': %s; labels unchanged\n", prog,
            a->preds, err);
    return r;
  }
  if (a->json)
    buf_printf(jb, ", \"predictions\": {\"boxes\": %" PRIu64
               ", \"samples\": %" PRIu64 ", \"entries\": %" PRIu64
               ", \"unknown_images\": %" PRIu64 ", \"outside\": %" PRIu64
               ", \"turned\": %" PRIu64 ", \"folded\": %" PRIu64 "}",
               ps.boxes, ps.samples, ps.entries, ps.skipped, ps.outside,
               ps.turned, ps.folded.n);
  else {
    printf("predictions: %" PRIu64 " boxes on %" PRIu64 " samples (%"
           PRIu64 " entries, %" PRIu64 " for unknown images, %" PRIu64
           " past the image, kept; %" PRIu64 " images read in the frame "
           "turned by EXIF orientation)\n", ps.boxes, ps.samples,
           ps.entries, ps.skipped, ps.outside, ps.turned);
    tool_print_folds(&ps.folded);
  }
  return 0;
}

/* A path the import will read is there and readable: a folder (dir
 * true) or a regular file.  0, or -errno after printing the one-line
 * error. */
static int check_input(const char *what, const char *path, bool dir)
{
  struct stat sb;
  const char *why = NULL;
  int fd, e = 0;

  if (stat(path, &sb) < 0)
    e = errno;
  else if (dir && !S_ISDIR(sb.st_mode))
    e = ENOTDIR;
  else if (!dir && !S_ISREG(sb.st_mode))
    why = "not a regular file";   /* a FIFO would block the step */
  else if ((fd = open(path, O_RDONLY | (dir ? O_DIRECTORY : 0))) < 0)
    e = errno;
  else
    close(fd);
  if (!e && !why)
    return 0;
  fprintf(stderr, "%s: cannot read %s '%s': %s; nothing imported\n", prog,
          what, path, why ? why : strerror(e));
  return e ? -e : -EINVAL;
}

/* Everything the steps read, before the first one writes: a typo in
 * any of them must not leave a half-done import (or a new empty store)
 * behind an exit status of 1. */
static int check_inputs(const struct import_args *a)
{
  struct coco_stats cs;
  struct stat sb;
  int r;

  if (strncmp(a->dir, "s3://", 5) != 0 &&
      (r = check_input("folder", a->dir, true)) < 0)
    return r;
  if (a->coco && (r = check_input("COCO file", a->coco, false)) < 0)
    return r;
  if (a->coco &&
      (r = coco_import_opts(NULL, a->coco, a->field, NULL, on_coco, NULL,
                            &cs)) < 0) {
    fprintf(stderr, "%s: COCO import of '%s' failed: %s; nothing imported\n",
            prog, a->coco, strerror(-r));
    return r;
  }
  if (a->preds) {
    bool dir = stat(a->preds, &sb) == 0 && S_ISDIR(sb.st_mode);
    if ((r = check_input("predictions", a->preds, dir)) < 0)
      return r;
    if (dir && !a->names) {   /* what pred_import would refuse */
      fprintf(stderr, "%s: predictions '%s': YOLO predictions need the "
              "class names (--names FILE, a names file or data.yaml); "
              "nothing imported\n", prog, a->preds);
      return -EINVAL;
    }
  }
  if (a->names && (r = check_input("names file", a->names, false)) < 0)
    return r;
  return 0;
}

/* Undoes the creation of a store folder this run made (its mkdir, so
 * never a folder another run made at the same moment), when the run
 * failed and the store holds no sample (another run may have filled the
 * store this one made): what LMDB put there, through the descriptor of
 * the folder made (a folder swapped for a link since is not followed),
 * and the folder (rmdir leaves it when anything else appeared in it). */
static void remove_new_store(int dfd, const char *dir)
{
  if (dfd < 0)
    return;
  unlinkat(dfd, "data.mdb", 0);
  unlinkat(dfd, "lock.mdb", 0);
  close(dfd);
  rmdir(dir);
}

int cmd_import(int argc, char **argv)
{
  struct import_args a = {
    .field = "ground_truth",
    .io = { .report = on_report, .note = on_note, .progress = on_progress },
  };
  struct store *s;
  struct buf jb;
  int made = -1;   /* the folder this run made, or -1 */
  int r = parse_args(argc, argv, &a);

  if (r >= 0)
    return r;
  if (check_inputs(&a) < 0)
    return 1;
  if (mkdir(a.store_dir, 0700) == 0)
    made = open(a.store_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                O_CLOEXEC);
  if (tool_open_store(a.store_dir, true, false, &s) < 0) {
    remove_new_store(made, a.store_dir);
    return 1;
  }
  tty = isatty(2);
  buf_init(&jb, 1 << 16);
  r = step_scan(s, &a, &jb);
  if (r == 0 && a.coco)
    r = step_coco(s, &a, &jb);
  if (r == 0 && a.preds)
    r = step_preds(s, &a, &jb);
  if (r == 0 && a.json) {
    buf_puts(&jb, "}\n");
    fwrite(jb.data, 1, jb.len, stdout);
  }
  buf_free(&jb);
  if (r < 0 && made >= 0 && (a.kept || has_samples(s, a.added))) {
    close(made);   /* batches this run or another one committed stay */
    made = -1;
  }
  store_close(s);
  if (r < 0)
    remove_new_store(made, a.store_dir);
  else if (made >= 0)
    close(made);
  return r < 0 ? 1 : 0;
}
