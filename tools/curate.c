/* curate - the command-line tool over core/: import a folder (and COCO
 * labels) into a store, and print what a store holds.  It never mounts
 * anything; curatefs (fs/) is the daemon.
 *
 * Errors: one line on stderr and a non-zero exit status; nothing half-done
 * is left in the store (every change is one transaction).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curate.h"
#include "coco.h"
#include "import.h"
#include "predictions.h"
#include "store.h"
#include "util.h"

const char *prog = "curate";

static void usage(FILE *f)
{
  fprintf(f,
    "usage: %s import --store STORE [--coco FILE [--clear-labels]]\n"
    "                 [--field NAME] [--no-hash]\n"
    "                 [--no-features] [--predictions FILE|DIR [--names FILE]] DIR\n"
    "       %s info --store STORE [--json]\n"
    "       %s table --store STORE [--format csv|jsonl]\n"
    "       %s --version\n"
    "       %s embeddings --store STORE (--npy F.npy --names F.txt | --clear)\n"
    "       %s export --store STORE --format coco|yolo|voc|imagenet OUT\n"
    "       %s import-labels --store STORE --format FMT PATH\n"
    "       %s predictions --store STORE --format coco|yolo PATH\n"
    "       %s eval --store STORE --name NAME\n"
    "       %s classes --store STORE [add NAME...|rename OLD NEW|remove NAME...]\n"
    "       %s cvat push|pull|undo|status|job|issues ...\n"
    "       %s check --store STORE [--repair]\n"
    "       %s snapshot --store STORE OUT\n"
    "\n"
    "import  walk DIR for image files (JPEG, PNG, WebP, TIFF, BMP, GIF) and\n"
    "        record them in STORE (created if needed); the format comes\n"
    "        from the bytes.  Re-running imports only new or changed files.  Content\n"
    "        hashes and image features (for duplicates and similarity) are\n"
    "        computed unless --no-hash / --no-features.  With --coco, a COCO\n"
    "        detection JSON becomes the label field NAME (default\n"
    "        ground_truth); duplicate image or category ids are errors, and\n"
    "        an empty category list is refused unless --clear-labels (it\n"
    "        would empty the field of the matched images).\n"
    "        --predictions imports model output into the\n"
    "        field `predictions`: COCO results JSON, or a folder of YOLO txt\n"
    "        files with a confidence column (class names from --names, a\n"
    "        names file or data.yaml).\n"
    "info    print sample, tag and class counts of STORE.\n"
    "check   read every record of STORE and report what is damaged or\n"
    "        inconsistent; --repair rebuilds the derived records.\n"
    "snapshot write a consistent copy of STORE to the new folder OUT while\n"
    "        it is in use, for read-only mounts elsewhere.\n"
    "classes list the class schema (id, boxes, name), or add, rename (boxes\n"
    "        follow) and remove (only while unused) classes.\n"
    "--json  (import, info and every command whose output is data) prints\n"
    "        the result as JSON.\n"
    "Every other command explains itself with --help.\n"
    "Exit status: 0 done, 1 failed (one line on stderr), 2 usage error.\n",
    prog, prog, prog, prog, prog, prog, prog, prog, prog, prog, prog, prog,
    prog);
}

static bool tty;
static uint64_t problems;

static void on_report(const char *rel, const char *reason, void *ud)
{
  (void)ud;
  problems++;
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
  problems++;
  fprintf(stderr, "coco: %s: %s\n", what, reason);
}

int tool_open_store(const char *dir, bool create, bool ro, struct store **s)
{
  struct store_opts o = { .readonly = ro };
  const char *ms = getenv("CURATE_TEST_MAP_SIZE");
  int r;

  /* For the tests only (docs/TESTING.md): a small LMDB map, so that a
   * full store (MDB_MAP_FULL) can be reached with a few samples. */
  if (ms && *ms)
    o.map_size = strtoull(ms, NULL, 10);

  /* Private: the store holds every label, and its log names files. */
  if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
    fprintf(stderr, "%s: cannot create store '%s': %s\n", prog, dir,
            strerror(errno));
    return -errno;
  }
  r = store_open(dir, &o, s);
  if (r < 0 && store_open_error())
    fprintf(stderr, "%s: cannot open store '%s': %s\n", prog, dir,
            store_open_error());
  else if (r < 0)
    fprintf(stderr, "%s: cannot open store '%s': %s\n", prog, dir,
            strerror(-r));
  return r;
}

int cmd_import(int argc, char **argv)
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
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *store_dir = NULL, *coco = NULL, *field = "ground_truth";
  const char *preds = NULL, *names = NULL;
  struct import_opts io = { .report = on_report, .note = on_note,
                            .progress = on_progress };
  struct import_stats st;
  struct coco_opts co = { 0 };
  struct store *s;
  struct buf jb;
  char ierr[600];
  bool json = false;
  int c, r;

  while ((c = getopt_long(argc, argv, "s:c:f:HFCp:n:jh", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_dir = optarg; break;
    case 'p': preds = optarg; break;
    case 'n': names = optarg; break;
    case 'c': coco = optarg; break;
    case 'f': field = optarg; break;
    case 'H': io.no_hash = true; break;
    case 'F': io.no_features = true; break;
    case 'C': co.clear_ok = true; break;
    case 'j': json = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!store_dir || optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  if (!labels_field_name_valid(field)) {
    fprintf(stderr, "%s: invalid field name '%s'\n", prog, field);
    return 2;
  }
  if (tool_open_store(store_dir, true, false, &s) < 0)
    return 1;
  tty = isatty(2);
  r = tool_import(s, argv[optind], &io, &st, ierr, sizeof(ierr));
  if (r < 0) {
    fprintf(stderr, "%s: import of '%s' failed: %s\n", prog, argv[optind],
            ierr[0] ? ierr : strerror(-r));
    store_close(s);
    return 1;
  }
  /* --json: one object at the end, {"import": ..., "coco": ...,
   * "predictions": ...}; the parts of the steps that ran. */
  buf_init(&jb, 1 << 16);
  if (json)
    buf_printf(&jb, "{\"import\": {\"files\": %" PRIu64 ", \"new\": %" PRIu64
               ", \"changed\": %" PRIu64 ", \"unchanged\": %" PRIu64
               ", \"skipped\": %" PRIu64 ", \"missing\": %" PRIu64
               ", \"restored\": %" PRIu64 ", \"hashed\": %" PRIu64
               ", \"featured\": %" PRIu64 ", \"ignored\": %" PRIu64 "}",
               st.files, st.added, st.updated, st.unchanged, st.skipped,
               st.missing, st.restored, st.hashed, st.featured, st.ignored);
  else
    printf("imported %" PRIu64 " image files: %" PRIu64 " new, %" PRIu64
           " changed, %" PRIu64 " unchanged, %" PRIu64 " skipped, %" PRIu64
           " missing, %" PRIu64 " restored, %" PRIu64 " hashed, %" PRIu64
           " with new features; %" PRIu64 " other files ignored\n",
           st.files, st.added, st.updated, st.unchanged, st.skipped,
           st.missing, st.restored, st.hashed, st.featured, st.ignored);
  if (!json && st.mismatched)
    printf("%" PRIu64 " files imported by their content, not their name\n",
           st.mismatched);
  for (int k = 0; !json && k < IMPORT_SKIP_NKINDS; k++)
    if (st.skip_kind[k])
      printf("skipped %" PRIu64 ": %s\n", st.skip_kind[k],
             import_skip_name((enum import_skip)k));
  if (coco) {
    struct coco_stats cs;
    r = coco_import_opts(s, coco, field, &co, on_coco, NULL, &cs);
    if (r < 0) {
      fprintf(stderr, "%s: COCO import of '%s' failed: %s; labels unchanged\n",
              prog, coco, strerror(-r));
      buf_free(&jb);
      store_close(s);
      return 1;
    }
    if (json)
      buf_printf(&jb, ", \"coco\": {\"field\": \"%s\", \"images\": %" PRIu64
                 ", \"matched\": %" PRIu64 ", \"not_on_disk\": %" PRIu64
                 ", \"refused\": %" PRIu64 ", \"boxes\": %" PRIu64
                 ", \"categories\": %" PRIu64 ", \"clipped\": %" PRIu64
                 ", \"invalid\": %" PRIu64 ", \"orphans\": %" PRIu64 "}",
                 field, cs.images, cs.matched, cs.unmatched, cs.refused,
                 cs.boxes, cs.categories, cs.clipped, cs.bad_boxes,
                 cs.orphans);
    else
      printf("COCO %s: %" PRIu64 " images (%" PRIu64 " matched, %" PRIu64
             " not on disk, %" PRIu64 " refused), %" PRIu64 " boxes in %"
             PRIu64 " categories (%" PRIu64 " clipped to the image, %" PRIu64
             " invalid, %" PRIu64 " for image ids no image has)\n", field,
             cs.images, cs.matched, cs.unmatched, cs.refused, cs.boxes,
             cs.categories, cs.clipped, cs.bad_boxes, cs.orphans);
  }
  if (preds) {
    /* A folder is YOLO txt with a confidence column, a file COCO
     * results; ids and names come from the --coco file when given. */
    struct pred_opts po = { 0 };
    struct pred_stats ps;
    struct stat sb;
    char err[400] = "";
    po.format = stat(preds, &sb) == 0 && S_ISDIR(sb.st_mode)
                    ? PRED_FORMAT_YOLO : PRED_FORMAT_COCO;
    po.coco_gt = coco;
    po.names = names;
    r = pred_import(s, preds, &po, &ps, err, sizeof(err));
    if (r < 0) {
      fprintf(stderr, "%s: predictions '%s': %s; labels unchanged\n", prog,
              preds, err);
      buf_free(&jb);
      store_close(s);
      return 1;
    }
    if (json)
      buf_printf(&jb, ", \"predictions\": {\"boxes\": %" PRIu64
                 ", \"samples\": %" PRIu64 ", \"entries\": %" PRIu64
                 ", \"unknown_images\": %" PRIu64 ", \"outside\": %" PRIu64
                 "}", ps.boxes, ps.samples, ps.entries, ps.skipped,
                 ps.outside);
    else
      printf("predictions: %" PRIu64 " boxes on %" PRIu64 " samples (%"
             PRIu64 " entries, %" PRIu64 " for unknown images, %" PRIu64
             " past the image, kept)\n", ps.boxes, ps.samples, ps.entries,
             ps.skipped, ps.outside);
  }
  if (json) {
    buf_puts(&jb, "}\n");
    fwrite(jb.data, 1, jb.len, stdout);
  }
  buf_free(&jb);
  store_close(s);
  return 0;
}

struct info_ctx {
  struct store_txn *t;
  bool json;
  bool first;
};

static void print_json_str(const char *v)
{
  struct buf b;

  buf_init(&b, 1 << 16);
  if (buf_json_str(&b, v, strlen(v)) == 0)
    fwrite(b.data, 1, b.len, stdout);
  buf_free(&b);
}

static int print_count(const char *field, uint32_t class_id, uint64_t count,
                       void *ud)
{
  struct info_ctx *ic = ud;
  const char *name = "?";

  store_class_name(ic->t, class_id, &name);
  if (ic->json) {
    printf("%s{\"field\": ", ic->first ? "" : ", ");
    print_json_str(field);
    printf(", \"class\": ");
    print_json_str(name);
    printf(", \"count\": %" PRIu64 "}", count);
    ic->first = false;
  } else {
    printf("  %s/%s: %" PRIu64 "\n", field, name, count);
  }
  return 0;
}

int cmd_info(int argc, char **argv)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *store_dir = NULL;
  struct store *s;
  struct store_txn *t;
  struct store_iter *it;
  struct info_ctx ic = { NULL, false, true };
  uint64_t n = 0, next = 1, tid;
  const char *tname;
  int c, r;

  while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_dir = optarg; break;
    case 'j': ic.json = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!store_dir || optind != argc) {
    usage(stderr);
    return 2;
  }
  if (tool_open_store(store_dir, false, true, &s) < 0)
    return 1;
  r = store_txn_begin(s, false, &t);
  ic.t = t;
  if (r == 0)
    r = store_sample_count(t, &n);
  if (r == 0) {
    if (ic.json)
      printf("{\"samples\": %" PRIu64 ", \"tags\": {", n);
    else
      printf("samples: %" PRIu64 "\ntags:\n", n);
    r = store_iter_new(t, &it);
    while (r == 0 && store_iter_tags(it, next, &tid, &tname) == 0) {
      uint64_t cnt = 0;
      store_tag_get(t, tid, NULL, &cnt, NULL);
      if (ic.json) {
        printf("%s", next == 1 ? "" : ", ");
        print_json_str(tname);
        printf(": %" PRIu64, cnt);
      } else {
        printf("  %s: %" PRIu64 "\n", tname, cnt);
      }
      next = tid + 1;
    }
    store_iter_free(it);
    printf(ic.json ? "}, \"boxes\": [" : "boxes:\n");
    r = store_counts_each(t, print_count, &ic);
    if (ic.json)
      printf("]}\n");
  }
  store_txn_abort(t);
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "%s: cannot read store: %s\n", prog, strerror(-r));
    return 1;
  }
  return 0;
}

/* Subcommands: each lives in its own file (tools/cmd_*.c) and is declared
 * in curate.h; add one row here to register another. */
static const struct command commands[] = {
  { "import", cmd_import },
  { "info", cmd_info },
  { "export", cmd_export },
  { "import-labels", cmd_import_labels },
  { "cvat", cmd_cvat },
  { "predictions", cmd_predictions },
  { "eval", cmd_eval },
  { "embeddings", cmd_embeddings },
  { "check", cmd_check },
  { "snapshot", cmd_snapshot },
  { "table", cmd_table },
  { "classes", cmd_classes },
};

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("curate %s\n", CURATEFS_VERSION);
    return 0;
  }
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (strcmp(argv[1], commands[i].name) == 0) {
      int rc = commands[i].fn(argc - 1, argv + 1);
      /* "Input/output error" alone does not say the store is damaged. */
      if (rc != 0 && store_damage())
        fprintf(stderr, "%s: %s; run `%s check --store STORE`\n", prog,
                store_damage(), prog);
      return rc;
    }
  fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
  usage(stderr);
  return 2;
}
