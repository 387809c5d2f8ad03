/* cmd_export.c - `curate export`: writes an export tree (core/formats/export.h) to
 * a real folder, for machines without FUSE.  It walks the same
 * export_list / export_generate calls the mount serves, inside one read
 * transaction, so the folder is byte-identical to the mounted tree of the
 * same store version: generated files come from export_generate, image
 * files are copies of the source files.
 *
 * OUT must not exist or be an empty directory; its parent must exist.  On
 * failure what was written is removed (and OUT, when the export made
 * it), so that no partial tree passes for an export and the command can
 * simply run again; the reason names the file, and the exit status is 1. */
#define _XOPEN_SOURCE 700   /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>

#include "config.h"
#include "curate.h"
#include "export.h"
#include "import.h"
#include "store.h"
#include "util.h"
#include "selection.h"
#include "views.h"

struct walk {
  struct store_txn *t;
  const struct export_spec *spec;
  const char *out;          /* output root */
  char *root;               /* dataset root (owned) */
  char err[512];            /* first failure, one line */
  uint64_t files, images, bytes;
};

#define EXPORT_USAGE \
  " export --store STORE --format coco|yolo|voc|imagenet\n" \
  "                 [--tag TAG | --view VIEW] [--field NAME]\n" \
  "                 [--frame auto|stored|viewer] [--json] OUT\n"

static void usage_export(FILE *f)
{
  fprintf(f,
    "usage: %s" EXPORT_USAGE
    "Writes the export tree of the whole dataset (or of the samples tagged\n"
    "TAG, or listed by views/VIEW) to the new folder OUT, identical to the\n"
    "mounted export/ (export/tags/TAG/, export/views/VIEW/).  The field,\n"
    "the frame and the subset tags come from the store's config (export.*)\n"
    "unless given.  --frame: sizes, boxes and crops of photos with an EXIF\n"
    "orientation as stored, as a viewer shows them (turned), or auto (COCO\n"
    "and VOC stored, YOLO and ImageNet turned).  --json prints the counts\n"
    "as a JSON object.\n"
    "Exit status: 0 done, 1 failed, 2 usage error.\n", prog);
}

static int sink_fd(void *ud, const void *p, size_t n)
{
  return fd_write_all(*(int *)ud, p, n, -1);
}

/* Copies the source file of smp below root to dst, as the mount serves
 * it (import_open_current: nothing outside the dataset folder, nothing
 * but a regular file, nothing changed since the import). */
static int copy_file(const char *root, const struct sample *smp, int dst,
                     uint64_t *bytes)
{
  static char blk[1 << 18];
  int fd = import_open_current(root, smp), r = 0;
  ssize_t n;

  if (fd < 0)
    return fd;
  while ((n = read(fd, blk, sizeof(blk))) != 0) {
    if (n < 0) {
      if (errno == EINTR)
        continue;
      r = -errno;
      break;
    }
    r = fd_write_all(dst, blk, (size_t)n, -1);
    if (r < 0)
      break;
    *bytes += (uint64_t)n;
  }
  close(fd);
  return r;
}

static int walk_dir(struct walk *w, const char *dir);

__attribute__((format(printf, 2, 3)))
static void fail_msg(struct walk *w, const char *fmt, ...)
{
  va_list ap;

  if (w->err[0])
    return;   /* keep the first reason */
  va_start(ap, fmt);
  vsnprintf(w->err, sizeof(w->err), fmt, ap);
  va_end(ap);
}

/* The relative path of the sample a generated picture shows (for a
 * message; "?" when it cannot be read). */
static const char *shown_relpath(struct walk *w, uint64_t id)
{
  struct sample smp;

  return store_sample_get(w->t, id, &smp) == 0 ? smp.relpath : "?";
}

struct ent_ctx {
  struct walk *w;
  const char *dir;
};

static int on_ent(const struct export_ent *e, void *ud)
{
  struct ent_ctx *c = ud;
  struct walk *w = c->w;
  char rel[4096], dst[4096];
  int fd, r;

  if ((size_t)snprintf(rel, sizeof(rel), "%s%s%s", c->dir,
                       *c->dir ? "/" : "", e->name) >= sizeof(rel) ||
      (size_t)snprintf(dst, sizeof(dst), "%s/%s", w->out, rel) >=
          sizeof(dst)) {
    fail_msg(w, "path too long under '%s'", w->out);
    return -ENAMETOOLONG;
  }
  if (e->dir) {
    if (mkdir(dst, 0755) < 0) {
      fail_msg(w, "cannot create '%s': %s", dst,
               strerror(errno));
      return -errno;
    }
    return walk_dir(w, rel);
  }
  fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    fail_msg(w, "cannot create '%s': %s", dst,
             strerror(errno));
    return -errno;
  }
  if (e->sample_id) {
    struct sample smp;
    int g = store_sample_get(w->t, e->sample_id, &smp);
    r = g ? g : copy_file(w->root, &smp, fd, &w->bytes);
    if (g < 0)
      fail_msg(w, "cannot copy '%s': %s", rel, strerror(-g));
    else if (r == -EXDEV)
      fail_msg(w, "cannot copy '%s': its source %s leads out of the "
               "dataset folder (a symbolic link?)", rel, smp.relpath);
    else if (r == -ESTALE)
      fail_msg(w, "cannot copy '%s': its source %s changed since the "
               "import (another size or other bytes); import again", rel,
               smp.relpath);
    else if (r < 0)
      fail_msg(w, "cannot copy '%s' from %s: %s", rel, smp.relpath,
               strerror(-r));
    else
      w->images++;
  } else {
    struct sink sink = { sink_fd, &fd, NULL };
    int64_t n = export_generate(w->t, w->spec, rel, &sink);
    r = n < 0 ? (int)n : 0;
    if (r == -ESTALE && (e->shows || e->crop_of))
      fail_msg(w, "cannot generate '%s': its source %s changed since the "
               "import (another size or other bytes); import again", rel,
               shown_relpath(w, e->shows ? e->shows : e->crop_of));
    else if (r == -ESTALE)
      fail_msg(w, "cannot generate '%s': its source photo changed since "
               "the import (another size or other bytes); import again",
               rel);
    else if (r < 0)
      fail_msg(w, "cannot generate '%s': %s", rel,
               strerror(-r));
    else
      w->bytes += (uint64_t)n, w->files++;
  }
  if (close(fd) < 0 && r == 0) {
    r = -errno;
    fail_msg(w, "cannot write '%s': %s", dst,
             strerror(errno));
  }
  if (r < 0)
    unlink(dst);   /* no partial file left to pass for a whole one */
  return r;
}

static int walk_dir(struct walk *w, const char *dir)
{
  struct ent_ctx c = { w, dir };
  int r = export_list(w->t, w->spec, dir, on_ent, &c);

  if (r < 0)
    fail_msg(w, "cannot list '%s': %s", dir,
             strerror(-r));
  return r;
}

/* OUT: created (*made), or an existing empty directory. */
static int make_out(const char *out, bool *made)
{
  DIR *d;
  struct dirent *de;
  int n = 0;

  *made = false;
  if (mkdir(out, 0755) == 0) {
    *made = true;
    return 0;
  }
  if (errno != EEXIST)
    return -errno;
  d = opendir(out);
  if (!d)
    return -errno;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      n++;
  closedir(d);
  return n ? -ENOTEMPTY : 0;
}

/* The ids of a tag or view, as the mount's export/tags/<t>/ and
 * export/views/<v>/ select them (ascending; empty is not "all"). */
static int select_ids(struct store *s, const char *spec, uint64_t **ret,
                      size_t *ret_n, char *err, size_t errlen)
{
  struct views *v;
  int r = views_new(s, &v);

  if (r < 0)
    return r;
  r = selection_get(v, spec, ret, ret_n, err, errlen);
  views_free(v);
  if (r < 0)
    return r;
  qsort(*ret, *ret_n, sizeof(**ret), cmp_u64);
  if (!*ret && !(*ret = calloc(1, sizeof(**ret))))
    return -ENOMEM;
  return 0;
}

/* The command line, and the settings the export reads from the store
 * (spec points into field and sub). */
struct export_args {
  const char *store_path, *fmt, *tag, *view, *out;
  struct export_spec spec;
  char field[80], sub[3][210];
  bool json;
  bool frame_set;           /* --frame given: the config's is not read */
};

/* Parses argv into *a.  Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct export_args *a)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "format", required_argument, NULL, 'F' },
    { "tag", required_argument, NULL, 't' },
    { "view", required_argument, NULL, 'v' },
    { "field", required_argument, NULL, 'f' },
    { "json", no_argument, NULL, 'j' },
    { "frame", required_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *why;
  char buf[300];
  int c;

  while ((c = getopt_long(argc, argv, "s:F:t:v:f:r:jh", opts, NULL)) != -1) {
    switch (c) {
    case 's': a->store_path = optarg; break;
    case 'F': a->fmt = optarg; break;
    case 't': a->tag = optarg; break;
    case 'v': a->view = optarg; break;
    case 'f': a->spec.field = optarg; break;
    case 'j': a->json = true; break;
    case 'r':
      if (!tool_frame_arg(optarg, &a->spec.frame))
        return 2;
      a->frame_set = true;
      break;
    case 'h': usage_export(stdout); return 0;
    default: fprintf(stderr, "usage: %s" EXPORT_USAGE, prog); return 2;
    }
  }
  why = tool_args_problem(a->store_path != NULL, argc, argv, 1, "OUT", buf,
                          sizeof(buf));
  if (!why && !a->fmt)
    why = "--format is required";
  if (!why && a->tag && a->view)
    why = "--tag and --view exclude each other (export one or the other)";
  if (why)
    return tool_usage_error("export", EXPORT_USAGE, "%s", why);
  a->out = argv[optind];
  if (export_format_parse(a->fmt, &a->spec.fmt) < 0) {
    fprintf(stderr, "%s: unknown export format '%s' (coco, yolo, voc, "
            "imagenet)\n", prog, a->fmt);
    return 2;
  }
  if (a->spec.field && !labels_field_name_valid(a->spec.field)) {
    fprintf(stderr, "%s: invalid field name '%s'\n", prog, a->spec.field);
    return 2;
  }
  return -1;
}

/* --tag / --view: the selected sample ids into a->spec (*ids owned by
 * the caller). */
static int select_samples(struct store *s, struct export_args *a,
                          uint64_t **ids)
{
  char sel[300], err[300] = "";
  int r;

  if (!a->tag && !a->view)
    return 0;
  snprintf(sel, sizeof(sel), "%s/%s", a->tag ? "tags" : "views",
           a->tag ? a->tag : a->view);
  r = select_ids(s, sel, ids, &a->spec.n_ids, err, sizeof(err));
  a->spec.ids = *ids;
  if (r < 0)
    fprintf(stderr, "%s: %s\n", prog, err[0] ? err : strerror(-r));
  return r;
}

/* The same settings as the mount's export/, so both give the same bytes:
 * field and subset tags from the store's config; and the dataset root,
 * where the images are read from.  Opens w->t. */
static int read_settings(struct store *s, struct export_args *a,
                         struct walk *w)
{
  int r = store_txn_begin(s, false, &w->t);

  if (r == 0) {
    config_get_str(w->t, "export.field", a->field, sizeof(a->field));
    config_get_str(w->t, "export.train", a->sub[0], sizeof(a->sub[0]));
    config_get_str(w->t, "export.val", a->sub[1], sizeof(a->sub[1]));
    config_get_str(w->t, "export.test", a->sub[2], sizeof(a->sub[2]));
    if (!a->frame_set)
      a->spec.frame = export_frame_config(w->t);
    if (!a->spec.field)
      a->spec.field = a->field;
    for (int i = 0; i < 3; i++)
      a->spec.subset_tags[i] = a->sub[i];
  }
  r = r ? r : store_setting_get(w->t, "root", &w->root);
  if (r < 0)
    fprintf(stderr, "%s: cannot read store '%s': %s\n", prog, a->store_path,
            strerror(-r));
  return r;
}

static int rm_one(const char *path, const struct stat *sb, int type,
                  struct FTW *ftw)
{
  (void)sb;
  if (ftw->level == 0)
    return 0;   /* OUT itself: the caller's */
  return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

/* After a failed export: what it wrote into OUT, which was empty or new,
 * removed (and OUT too when the export made it), so that no partial tree
 * passes for an export and the same command can run again.  Whether that
 * worked. */
static bool remove_partial(const char *out, bool made)
{
  if (nftw(out, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
    return false;
  return !made || rmdir(out) == 0;
}

/* Writes the tree into the new folder a->out. */
static int write_tree(struct export_args *a, struct walk *w)
{
  bool made;
  int r = make_out(a->out, &made);

  if (r < 0) {
    fprintf(stderr, "%s: cannot export to '%s': %s\n", prog, a->out,
            r == -ENOTEMPTY ? "folder exists and is not empty"
                            : strerror(-r));
    return r;
  }
  w->spec = &a->spec;
  w->out = a->out;
  r = walk_dir(w, "");
  if (r < 0) {
    fprintf(stderr, "%s: export failed: %s%s\n", prog, w->err,
            remove_partial(a->out, made) ? "" :
            " (some of the partial export is left in the folder)");
    return r;
  }
  if (a->json)
    printf("{\"format\": \"%s\", \"images\": %" PRIu64 ", \"files\": %"
           PRIu64 ", \"bytes\": %" PRIu64 "}\n", a->fmt, w->images,
           w->files, w->bytes);
  else
    printf("exported %s to %s: %" PRIu64 " images, %" PRIu64
           " generated files, %" PRIu64 " bytes\n", a->fmt, a->out,
           w->images, w->files, w->bytes);
  if (a->spec.fmt == EXPORT_VOC && !a->json) {
    /* only there where labelmap.txt could not hold a class's name
     * (export_voc.c): another tool reading labelmap.txt alone misses it */
    char p[4096];
    if ((size_t)snprintf(p, sizeof(p), "%s/dataset_meta.json", a->out) <
            sizeof(p) && access(p, F_OK) == 0)
      printf("voc: labelmap.txt cannot hold some class names (a ':', a "
             "leading '#', a blank at either end): they are listed in "
             "dataset_meta.json, which datumaro and CVAT read instead, and "
             "named in comment lines of labelmap.txt\n");
  }
  return 0;
}

int cmd_export(int argc, char **argv)
{
  struct export_args a = { .spec = { .field = NULL } };
  struct walk w = { 0 };
  uint64_t *ids = NULL;
  struct store *s = NULL;
  int r = parse_args(argc, argv, &a);

  if (r >= 0)
    return r;
  /* An evaluation view may re-run its evaluation first: that writes. */
  if (tool_open_store(a.store_path, false, !a.view, &s) < 0)
    return 1;
  r = select_samples(s, &a, &ids);
  if (r == 0)
    r = read_settings(s, &a, &w);
  if (r == 0)
    r = write_tree(&a, &w);
  store_txn_abort(w.t);
  store_close(s);
  free(ids);
  free(w.root);
  return r < 0 ? 1 : 0;
}
