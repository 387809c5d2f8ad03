/* tool.c - what every subcommand of `curate` shares (tool.h): the
 * program name for messages, the top-level usage text and opening a store
 * with a one-line error.  It sits below the subcommand files (cmd_*.c) and
 * curate.c, and calls none of them. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "imgcodec.h"
#include "sample_match.h"
#include "store.h"
#include "tool.h"

const char *prog = "curate";

void tool_usage(FILE *f)
{
  fprintf(f,
    "usage: %s import --store STORE [--coco FILE [--clear-labels]]\n"
    "                 [--field NAME] [--no-hash]\n"
    "                 [--no-features] [--predictions FILE|DIR [--names FILE]]\n"
    "                 [--frame auto|stored|viewer]\n"
    "                 DIR|s3://BUCKET[/PREFIX]\n"
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
    "        names file or data.yaml).  --frame: the boxes of both, for\n"
    "        photos with an EXIF orientation, are as stored or as a viewer\n"
    "        shows them (turned), where an image's size does not tell (see\n"
    "        import-labels --help).\n"
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

/* A folder without data.mdb: LMDB would make a new store of it when
 * opened for writing, and a misspelt --store that names some other folder
 * would become one. */
static bool not_a_store(const char *dir)
{
  struct stat sb;
  char p[4096];

  if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
    return false;
  snprintf(p, sizeof(p), "%s/data.mdb", dir);
  return stat(p, &sb) < 0 && errno == ENOENT;
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
  if (!create && not_a_store(dir)) {
    fprintf(stderr, "%s: cannot open store '%s': not a curatefs store "
            "(no data.mdb in it)\n", prog, dir);
    return -ENOENT;
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

int tool_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "%s %s: ", prog, cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fprintf(stderr, "usage: %s%s", prog, usage);
  return 2;
}

const char *tool_args_problem(bool store, int argc, char **argv, int want,
                              const char *operand, char *buf, size_t len)
{
  int got = argc - optind;

  if (!store)
    return "--store STORE is required";
  if (got == want)
    return NULL;
  if (got < want)
    snprintf(buf, len, "%s is missing", operand);
  else
    snprintf(buf, len, "unexpected argument '%s'", argv[optind + want]);
  return buf;
}

bool tool_frame_arg(const char *s, enum img_frame *ret)
{
  if (img_frame_parse(s, ret) == 0)
    return true;
  fprintf(stderr, "%s: unknown frame '%s' (auto, stored, viewer)\n", prog, s);
  return false;
}

void tool_print_folds(const struct smatch_folds *f)
{
  char line[512];

  if (smatch_folds_line(f, line, sizeof(line)))
    printf("%s\n", line);
}
