/* cmd_predictions.c - `curate predictions`: import model predictions (COCO
 * results JSON or YOLO txt with a confidence column) into a label field of
 * a store.  The format rules live in core/formats/predictions.h; this file only
 * parses arguments and prints the outcome.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "predictions.h"
#include "store.h"

static void usage(FILE *f)
{
  fprintf(f,
    "usage: %s predictions --store STORE --format coco|yolo [--field NAME]\n"
    "                          [--coco-gt FILE] [--names FILE]\n"
    "                          [--frame auto|stored|viewer] [--json] PATH\n"
    "\n"
    "Replaces label field NAME (default predictions) of every sample with the\n"
    "predictions in PATH; samples without predictions get an empty field.\n"
    "coco  PATH is a COCO results JSON (image_id, category_id, bbox, score);\n"
    "      --coco-gt gives the ground-truth JSON whose images and categories\n"
    "      map image ids to files and category ids to names.\n"
    "yolo  PATH is a folder of <name>.txt files with lines\n"
    "      \"class cx cy w h confidence\"; --names is required (a names file\n"
    "      or data.yaml).\n"
    "--frame: boxes of photos with an EXIF orientation are given as stored\n"
    "or as a viewer shows them (turned); auto: YOLO rows turned, COCO boxes\n"
    "stored unless an image's size in --coco-gt is the turned one (a size\n"
    "that tells decides whatever the option).\n"
    "--json prints the counts as a JSON object.\n"
    "Exit status: 0 done, 1 failed (nothing changed), 2 usage error.\n",
    prog);
}

/* The import's summary: one JSON object, or the lines people read. */
static void print_summary(const char *field, const struct pred_stats *st,
                          bool json)
{
  if (json) {
    printf("{\"field\": \"%s\", \"entries\": %" PRIu64 ", \"boxes\": %" PRIu64
           ", \"samples\": %" PRIu64 ", \"outside\": %" PRIu64
           ", \"unknown_images\": %" PRIu64 ", \"cleared\": %" PRIu64
           ", \"turned\": %" PRIu64 ", \"folded\": %" PRIu64
           ", \"case_lost\": %" PRIu64 ", \"ambiguous\": %" PRIu64 "}\n",
           field, st->entries, st->boxes, st->samples, st->outside,
           st->skipped, st->cleared, st->turned, st->folded.n,
           st->case_lost.n, st->ambiguous);
    return;
  }
  printf("%s: %" PRIu64 " predictions read, %" PRIu64 " stored on %" PRIu64
         " samples (%" PRIu64 " reaching past the image, kept), %" PRIu64
         " for images not in the store; %" PRIu64 " samples cleared; %"
         PRIu64 " images read in the frame turned by EXIF orientation\n",
         field, st->entries, st->boxes, st->samples, st->outside,
         st->skipped, st->cleared, st->turned);
  tool_print_folds(&st->folded);
  if (st->case_lost.n)
    printf("%" PRIu64 " of those for images not in the store were named "
           "only ignoring letter case, for a sample another name in the "
           "file names as written (e.g. %s): left out\n", st->case_lost.n,
           st->case_lost.eg);
  if (st->ambiguous)
    printf("%" PRIu64 " of those for images not in the store were named by "
           "a name that several samples could be (e.g. %s): left out\n",
           st->ambiguous, st->ambiguous_eg);
}

int cmd_predictions(int argc, char **argv)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "format", required_argument, NULL, 'F' },
    { "field", required_argument, NULL, 'f' },
    { "coco-gt", required_argument, NULL, 'g' },
    { "names", required_argument, NULL, 'n' },
    { "json", no_argument, NULL, 'j' },
    { "frame", required_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct pred_opts po = { .format = PRED_FORMAT_COCO };
  const char *store_dir = NULL, *format = NULL;
  struct pred_stats st;
  struct store *s;
  char err[512];
  bool json = false;
  int c, r;

  optind = 1;
  while ((c = getopt_long(argc, argv, "s:F:f:g:n:r:jh", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_dir = optarg; break;
    case 'F': format = optarg; break;
    case 'f': po.field = optarg; break;
    case 'g': po.coco_gt = optarg; break;
    case 'n': po.names = optarg; break;
    case 'j': json = true; break;
    case 'r':
      if (!tool_frame_arg(optarg, &po.frame))
        return 2;
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!store_dir || !format || optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  if (strcmp(format, "coco") == 0) {
    po.format = PRED_FORMAT_COCO;
  } else if (strcmp(format, "yolo") == 0) {
    po.format = PRED_FORMAT_YOLO;
  } else {
    fprintf(stderr, "%s: unknown format '%s' (coco or yolo)\n", prog, format);
    return 2;
  }
  r = tool_open_store(store_dir, false, false, &s);
  if (r < 0)
    return 1;
  r = pred_import(s, argv[optind], &po, &st, err, sizeof(err));
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "%s: predictions not imported: %s\n", prog, err);
    return 1;
  }
  print_summary(po.field ? po.field : PRED_DEFAULT_FIELD, &st, json);
  return 0;
}
