/* cmd_import_labels.c - `curate import-labels`: labels from a COCO JSON,
 * a YOLO or VOC folder, or a CVAT export zip into one label field of a
 * store (core/formats/labelimport.h).  One transaction: on bad input it prints one
 * line with the reason and the store is unchanged. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "curate.h"
#include "labelimport.h"
#include "store.h"

static void usage_il(FILE *f)
{
  fprintf(f,
    "usage: %s import-labels --store STORE\n"
    "                        --format coco|yolo|voc|cvat|cvat-zip\n"
    "                        [--field NAME] [--frame auto|stored|viewer]\n"
    "                        [--zip-format coco|yolo|voc|cvat] [--json] PATH\n"
    "Replaces the label field NAME (default ground_truth) of every sample\n"
    "named in PATH: a COCO JSON file (or a folder with annotations/), a\n"
    "YOLO folder (data.yaml or obj.names), a Pascal VOC folder, CVAT's XML\n"
    "(\"CVAT for images 1.1\": an annotations.xml, or a folder of .xml\n"
    "files), or a zip exported by CVAT as COCO 1.0, YOLO 1.1, PASCAL VOC\n"
    "1.1 or CVAT for images 1.1.  --frame:\n"
    "boxes of photos with an EXIF orientation are given as stored, or as a\n"
    "viewer shows them (turned); auto: COCO and VOC files as stored, YOLO\n"
    "rows, CVAT's XML and CVAT zips turned.  A COCO or VOC size that is the turned one\n"
    "(orientations 5-8) says turned whatever the option.  --zip-format:\n"
    "which labels to read from a zip holding more than one format (refused\n"
    "without it).  --json prints the counts as a JSON object.\n"
    "Exit status: 0 done, 1 failed (nothing changed), 2 usage error.\n",
    prog);
}

static void on_skip(const char *what, const char *reason, void *ud)
{
  (void)ud;
  fprintf(stderr, "skipped %s: %s\n", what, reason);
}

/* --zip-format: the label set of a CVAT zip to read, named as the format
 * of that set alone (coco, yolo, voc, cvat); with --format cvat-zip only. */
static bool zip_format_arg(const char *arg, enum limport_format lf,
                           enum limport_format *ret)
{
  if (lf != LIMPORT_CVAT_ZIP || limport_format_parse(arg, ret) < 0 ||
      *ret == LIMPORT_CVAT_ZIP) {
    fprintf(stderr, "%s: --zip-format %s: give coco, yolo, voc or cvat, "
            "with --format cvat-zip\n", prog, arg);
    return false;
  }
  return true;
}

/* After a failure: which --format the content of path looks like, when
 * it is not lf's ("" otherwise).  Only the first bytes of a file, or two
 * names in a folder, are looked at: a wrong --format otherwise fails with
 * the reason of the reader it picked (ENOTDIR, an XML parse error). */
static const char *format_hint(const char *path, enum limport_format lf)
{
  unsigned char b[64];
  struct stat sb;
  char p[4096];
  size_t n = 0, i = 0;
  FILE *f;

  if (stat(path, &sb) < 0)
    return "";
  if (S_ISDIR(sb.st_mode)) {
    snprintf(p, sizeof(p), "%s/Annotations", path);
    if (lf != LIMPORT_VOC && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
      return " (looks like Pascal VOC: --format voc)";
    snprintf(p, sizeof(p), "%s/data.yaml", path);
    if (lf != LIMPORT_YOLO && stat(p, &sb) == 0)
      return " (looks like YOLO: --format yolo)";
    return "";
  }
  if (!S_ISREG(sb.st_mode))
    return "";   /* a FIFO would block the open */
  if ((f = fopen(path, "rb"))) {
    n = fread(b, 1, sizeof(b), f);
    fclose(f);
  }
  if (n >= 4 && memcmp(b, "PK\3\4", 4) == 0)
    return lf == LIMPORT_CVAT_ZIP ? "" : " (looks like a zip: --format "
                                         "cvat-zip)";
  if (n >= 3 && memcmp(b, "\xef\xbb\xbf", 3) == 0)
    i = 3;   /* a UTF-8 byte order mark */
  while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' ||
                   b[i] == '\n'))
    i++;
  if (i < n && b[i] == '{' && lf != LIMPORT_COCO)
    return " (looks like COCO JSON: --format coco)";
  if (i < n && b[i] == '<' && lf != LIMPORT_CVAT_XML && lf != LIMPORT_VOC)
    return " (looks like XML: --format cvat for CVAT's annotations.xml)";
  return "";
}

int cmd_import_labels(int argc, char **argv)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "format", required_argument, NULL, 'F' },
    { "field", required_argument, NULL, 'f' },
    { "json", no_argument, NULL, 'j' },
    { "frame", required_argument, NULL, 'r' },
    { "zip-format", required_argument, NULL, 'z' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *store_path = NULL, *fmt = NULL, *field = "ground_truth";
  const char *zfmt = NULL;
  enum limport_format lf, zpart = LIMPORT_CVAT_ZIP;
  struct limport_stats st;
  struct store *s;
  char err[512];
  enum img_frame frame = IMG_FRAME_AUTO;
  bool json = false;
  int c, r;

  while ((c = getopt_long(argc, argv, "s:F:f:r:z:jh", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_path = optarg; break;
    case 'F': fmt = optarg; break;
    case 'f': field = optarg; break;
    case 'j': json = true; break;
    case 'z': zfmt = optarg; break;
    case 'r':
      if (!tool_frame_arg(optarg, &frame))
        return 2;
      break;
    case 'h': usage_il(stdout); return 0;
    default: usage_il(stderr); return 2;
    }
  }
  if (!store_path || !fmt || optind != argc - 1) {
    usage_il(stderr);
    return 2;
  }
  if (limport_format_parse(fmt, &lf) < 0) {
    fprintf(stderr, "%s: unknown label format '%s' (coco, yolo, voc, "
            "cvat, cvat-zip)\n", prog, fmt);
    return 2;
  }
  if (zfmt && !zip_format_arg(zfmt, lf, &zpart))
    return 2;
  r = tool_open_store(store_path, false, false, &s);
  if (r < 0)
    return 1;
  r = limport_run(s, lf, argv[optind], field, frame, zpart, on_skip, NULL,
                  err, sizeof(err), &st);
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "%s: import-labels failed, nothing changed: %s%s\n",
            prog, err, format_hint(argv[optind], lf));
    return 1;
  }
  if (json)
    printf("{\"format\": \"%s\", \"field\": \"%s\", \"files\": %" PRIu64
           ", \"samples\": %" PRIu64 ", \"boxes\": %" PRIu64
           ", \"unmatched_files\": %" PRIu64 ", \"turned\": %" PRIu64
           ", \"folded\": %" PRIu64 "}\n", fmt, field, st.files, st.matched,
           st.boxes, st.unmatched, st.turned, st.folded.n);
  else {
    printf("imported %s labels into %s: %" PRIu64 " files, %" PRIu64
           " samples, %" PRIu64 " boxes, %" PRIu64 " files without a "
           "sample; %" PRIu64 " samples read in the frame turned by EXIF "
           "orientation\n", fmt, field, st.files, st.matched, st.boxes,
           st.unmatched, st.turned);
    tool_print_folds(&st.folded);
  }
  return 0;
}
