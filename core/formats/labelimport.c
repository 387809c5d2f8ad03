/* labelimport.c - label import's entry point (labelimport.h): the table
 * of input formats and the one write transaction around an import.  COCO
 * goes to coco.c (coco_import_fd_txn, read in pieces from a file, a zip's
 * member inflated to one first), YOLO to fmt_yolo.c, VOC to fmt_voc.c,
 * CVAT's XML to fmt_cvatxml.c;
 * the shared input tree, matching and field replacement are limp.c's.  It
 * never reads image pixels. */
#include "limp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coco.h"

/* ---- COCO: one JSON, or each annotations/<x>.json of a folder or zip ---- */

/* The last reason coco.c reported: when the import then fails, it is the
 * reason (duplicate ids, an empty category list, bad JSON). */
static __thread char coco_last[300];

static void coco_rep(const char *what, const char *reason, void *ud)
{
  struct limp *L = ud;
  snprintf(coco_last, sizeof(coco_last), "%s", reason);
  limp_report(L, what, reason);
}

/* coco_opts.claim: the document `what` labels sample id; two documents of
 * one import labelling one sample fail it (the second would silently
 * replace the first one's boxes), as two YOLO, VOC or CVAT files do.
 * Each document already keeps one image per sample itself. */
static int coco_claim(void *ud, uint64_t id, const char *what)
{
  struct limp *L = ud;
  struct sample smp;
  int r = store_sample_get(L->t, id, &smp);

  L->folded_id = 0;   /* the document decided between its own names */
  r = r < 0 ? r : limp_claim(L, &smp, what);
  return r > 0 ? 0 : r;
}

/* Imports one COCO document (named `name` in reports) in L's transaction
 * and adds its counts to L's: the open file fd, read in pieces, never
 * whole (closed here; fd < 0: the errno of its open), in the subsets
 * given (NULL: none). */
static int coco_doc(struct limp *L, int fd, const char *name,
                    const struct coco_opts *subsets)
{
  struct coco_stats cs = { 0 };
  struct coco_opts o = subsets ? *subsets : (struct coco_opts){ 0 };
  int r;

  o.view_frame = L->view_frame;
  o.claim = coco_claim;
  o.claim_ud = L;

  coco_last[0] = '\0';
  L->coco_read = true;
  r = coco_import_fd_txn(L->t, fd, name, L->field, &o, coco_rep, L, &cs);
  if (r == -EINVAL && !L->err[0])
    limp_fail(L, "%s: %s", name,
              coco_last[0] ? coco_last : "not a valid COCO detection file");
  else if (r < 0 && !L->err[0])
    limp_fail(L, "%s: %s", name, coco_last[0] ? coco_last : strerror(-r));
  L->st->files += cs.images;
  L->st->matched += cs.matched;
  L->st->unmatched += cs.unmatched;
  L->st->boxes += cs.boxes;
  L->st->turned += cs.turned;
  smatch_folds_merge(&L->st->folded, &cs.folded);
  return r;
}

static bool is_coco_json(const char *name)
{
  size_t n = strlen(name);
  return strncmp(name, "annotations/", 12) == 0 && !strchr(name + 12, '/') &&
         n > 17 && strcmp(name + n - 5, ".json") == 0;
}

/* The subset a COCO document is named after, as CVAT (datumaro) writes
 * them: annotations/instances_<subset>.json (person_keypoints_ too) into
 * out; "" for "default", CVAT's subset of a task without subsets, and
 * for any other name. */
static void coco_doc_subset(const char *name, char *out, size_t cap)
{
  static const char *const tasks[] = { "instances_", "person_keypoints_" };
  const char *b = name + 12;   /* after "annotations/" (is_coco_json) */
  size_t bl = strlen(b) - 5;   /* without ".json" */

  out[0] = '\0';
  for (size_t i = 0; i < ARRAY_SIZE(tasks); i++) {
    size_t tl = strlen(tasks[i]);
    if (bl > tl && strncmp(b, tasks[i], tl) == 0 && bl - tl < cap &&
        !(bl - tl == 7 && strncmp(b + tl, "default", 7) == 0)) {
      memcpy(out, b + tl, bl - tl);
      out[bl - tl] = '\0';
      return;
    }
  }
}

/* Each annotations/<x>.json read from a file in pieces: a folder's own,
 * or a zip's member inflated to a file with no name (limp_src_open), in
 * its subset (coco_opts.subset): a CVAT project's subsets, each in a
 * folder of its own, number their pictures alike. */
static int coco_from_src(struct limp *L, struct limp_src *src)
{
  char names[64][256], sub[256];
  const char *known[64];
  struct coco_opts so = { .subsets = known };
  int r = 0, found = 0;

  for (size_t i = 0; i < src->n && so.nsubsets < ARRAY_SIZE(known); i++)
    if (is_coco_json(src->names[i])) {
      coco_doc_subset(src->names[i], names[so.nsubsets], sizeof(names[0]));
      if (names[so.nsubsets][0]) {
        known[so.nsubsets] = names[so.nsubsets];
        so.nsubsets++;
      }
    }
  for (size_t i = 0; r == 0 && i < src->n; i++) {
    int fd;
    if (!is_coco_json(src->names[i]))
      continue;
    found++;
    coco_doc_subset(src->names[i], sub, sizeof(sub));
    so.subset = sub;
    r = limp_src_open(src, i, &fd);
    r = r < 0 ? limp_src_open_fail(L, src, i, r)
              : coco_doc(L, fd, src->names[i], &so);
  }
  if (r == 0 && !found)
    r = limp_fail(L, "no annotations/*.json file");
  return r;
}

/* A path that is one document (file() reads it) or a folder of them
 * (folder() reads the folder's files). */
static int file_or_folder(struct limp *L, const char *path,
                          int (*file)(struct limp *, const char *),
                          int (*folder)(struct limp *, struct limp_src *))
{
  struct limp_src src;
  struct stat st;
  int r;

  if (stat(path, &st) < 0) {
    r = -errno;
    limp_fail(L, "%s: %s", path, strerror(-r));
    return r;
  }
  if (!S_ISDIR(st.st_mode))
    return file(L, path);
  if ((r = limp_src_open_dir(&src, path)) < 0)
    limp_fail(L, "%s: %s", path, strerror(-r));
  else
    r = folder(L, &src);
  limp_src_free(&src);
  return r;
}

static int coco_path(struct limp *L, const char *path)
{
  return coco_doc(L, open_regular(path), path, NULL);
}

static int coco_file(struct limp *L, const char *path)
{
  return file_or_folder(L, path, coco_path, coco_from_src);
}

/* The label sets a CVAT zip may hold, one per export format. */
struct zip_set {
  enum limport_format fmt;   /* the set alone */
  const char *opt;           /* its --zip-format, the format's name */
  const char *what;          /* for reasons */
  bool (*is_member)(const char *name);   /* a file that only it has */
  int (*run)(struct limp *L, struct limp_src *src);
};

static bool is_yolo_list(const char *n)
{
  return strcmp(n, "obj.names") == 0 || strcmp(n, "data.yaml") == 0;
}

static bool is_voc_doc(const char *n)
{
  return strncmp(n, "Annotations/", 12) == 0;
}

/* In the order a zip's one set was looked for before two were refused. */
static const struct zip_set zip_sets[] = {
  { LIMPORT_COCO, "coco", "COCO", is_coco_json, coco_from_src },
  { LIMPORT_YOLO, "yolo", "YOLO", is_yolo_list, fmt_yolo_import },
  { LIMPORT_VOC, "voc", "Pascal VOC", is_voc_doc, fmt_voc_import },
  { LIMPORT_CVAT_XML, "cvat", "CVAT's XML", fmt_cvatxml_is_doc,
    fmt_cvatxml_import },
};

/* What a CVAT zip holds: COCO 1.0, YOLO 1.1, PASCAL VOC 1.1 or CVAT for
 * images 1.1.  CVAT shows each frame turned by its EXIF orientation, so
 * its boxes are in that frame: YOLO rows are read so anyway (fmt_yolo.c),
 * COCO and VOC boxes are turned back (L->view_frame), unless a file gives
 * an image's stored size where that differs from the turned one.
 *
 * CVAT writes one set per zip.  A zip holding two (someone's merge of
 * two exports, an annotations.xml added to a COCO zip) is refused
 * unless --zip-format picks one: reading the first found would drop the
 * other in silence, and nothing says which of the two is the newer. */
static int cvat_zip(struct limp *L, struct limp_src *src)
{
  const char *first[ARRAY_SIZE(zip_sets)] = { 0 };   /* a member of each */
  char held[300] = "", opts[100] = "";
  size_t nheld = 0, seen = 0, pick = SIZE_MAX;

  for (size_t i = 0; i < src->n; i++)
    for (size_t k = 0; k < ARRAY_SIZE(zip_sets); k++)
      if (!first[k] && zip_sets[k].is_member(src->names[i]))
        first[k] = src->names[i];
  for (size_t k = 0; k < ARRAY_SIZE(zip_sets); k++) {
    nheld += first[k] != NULL;
    if (zip_sets[k].fmt == L->zip_part)
      pick = k;
  }
  for (size_t k = 0; k < ARRAY_SIZE(zip_sets); k++) {
    bool last;
    if (!first[k])
      continue;
    last = ++seen == nheld;
    snprintf(held + strlen(held), sizeof(held) - strlen(held), "%s%s (%s)",
             seen == 1 ? "" : last ? " and " : ", ", zip_sets[k].what,
             first[k]);
    snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), "%s%s",
             seen == 1 ? "" : last ? " or " : ", ", zip_sets[k].opt);
  }
  L->view_frame = L->frame != IMG_FRAME_STORED;
  if (pick != SIZE_MAX && !first[pick])
    return limp_fail(L, "--zip-format %s: the zip holds no %s labels%s%s",
                     zip_sets[pick].opt, zip_sets[pick].what,
                     nheld ? ", only " : "", held);
  if (pick == SIZE_MAX && nheld > 1)
    return limp_fail(L, "the zip holds labels in %zu formats, %s: say which "
                     "to read with --zip-format %s", nheld, held, opts);
  for (size_t k = 0; pick == SIZE_MAX && k < ARRAY_SIZE(zip_sets); k++)
    if (first[k])
      pick = k;
  if (pick != SIZE_MAX)
    return zip_sets[pick].run(L, src);
  return limp_fail(L, "not a CVAT \"COCO 1.0\", \"YOLO 1.1\", \"PASCAL "
                   "VOC 1.1\" or \"CVAT for images 1.1\" export: no "
                   "annotations/*.json, obj.names, data.yaml, Annotations/ "
                   "or annotations.xml");
}

/* CVAT's XML: an annotations.xml file, or a folder of them (datumaro's
 * <subset>.xml); boxes in CVAT's turned frame, as in its zips. */
static int cvat_xml(struct limp *L, const char *path)
{
  L->view_frame = L->frame != IMG_FRAME_STORED;
  return file_or_folder(L, path, fmt_cvatxml_file, fmt_cvatxml_import);
}

/* One input format.  `src` says how the path is opened before `run`: not
 * at all (run_path gets the path), as a folder, or as a zip. */
enum src_kind { SRC_PATH, SRC_DIR, SRC_ZIP };

struct limp_format {
  const char *name;
  enum src_kind src;
  int (*run_path)(struct limp *L, const char *path);     /* SRC_PATH */
  int (*run)(struct limp *L, struct limp_src *src);      /* the others */
};

/* Indexed by enum limport_format. */
static const struct limp_format formats[] = {
  [LIMPORT_COCO] = { "coco", SRC_PATH, coco_file, NULL },
  [LIMPORT_YOLO] = { "yolo", SRC_DIR, NULL, fmt_yolo_import },
  [LIMPORT_VOC] = { "voc", SRC_DIR, NULL, fmt_voc_import },
  [LIMPORT_CVAT_ZIP] = { "cvat-zip", SRC_ZIP, NULL, cvat_zip },
  [LIMPORT_CVAT_XML] = { "cvat", SRC_PATH, cvat_xml, NULL },
};

int limport_format_parse(const char *s, enum limport_format *ret)
{
  for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
    if (strcmp(s, formats[i].name) == 0) {
      *ret = (enum limport_format)i;
      return 0;
    }
  return -EINVAL;
}

/* Whether path is a regular file that starts as a zip archive does. */
static bool is_zip(const char *path)
{
  unsigned char m[4];
  int fd = open_regular(path);
  bool z = fd >= 0 && fd_pread_all(fd, m, sizeof(m), 0) == 0 &&
           memcmp(m, "PK\3\4", 4) == 0;

  if (fd >= 0)
    close(fd);
  return z;
}

/* Runs format f on path inside L's transaction. */
static int run_format(struct limp *L, const struct limp_format *f,
                      const char *path, struct limp_src *src)
{
  int r;

  if (f->src == SRC_PATH && is_zip(path))   /* CVAT's export, as it comes */
    return limp_fail(L, "%s is a zip archive: import it with --format "
                     "cvat-zip", path);
  if (f->src == SRC_PATH)
    return f->run_path(L, path);
  /* where the files lie, for the pairing of YOLO labels with images */
  if (!(L->base = realpath(path, NULL)) && errno == ENOMEM)
    return -ENOMEM;
  r = f->src == SRC_ZIP ? limp_src_open_zip(src, path)
                        : limp_src_open_dir(src, path);
  if (r < 0) {
    snprintf(L->err, L->errlen, "%s: %s", path,
             r == -EBADMSG ? "not a readable zip file" : strerror(-r));
    return r;
  }
  return f->run(L, src);
}

int limport_run(struct store *s, enum limport_format fmt, const char *path,
                const char *field, enum img_frame frame,
                enum limport_format zip_part,
                void (*report)(const char *, const char *, void *),
                void *ud, char *err, size_t errlen,
                struct limport_stats *ret)
{
  struct limp L = { .field = field ? field : "ground_truth",
                    .zip_part = zip_part,
                    .report = report, .ud = ud, .err = err,
                    .errlen = errlen, .st = ret, .frame = frame,
                    .view_frame = frame == IMG_FRAME_VIEWER };
  struct limp_src src = { 0 };
  int r;

  memset(ret, 0, sizeof(*ret));
  err[0] = '\0';
  if (!labels_field_name_valid(L.field))
    return limp_fail(&L, "invalid field name '%s'", L.field);
  if ((unsigned)fmt >= ARRAY_SIZE(formats))
    return limp_fail(&L, "unknown label format");
  if ((unsigned)frame > IMG_FRAME_VIEWER)
    return limp_fail(&L, "unknown frame");
  if (zip_part != LIMPORT_CVAT_ZIP &&
      (fmt != LIMPORT_CVAT_ZIP || (unsigned)zip_part >= ARRAY_SIZE(formats)))
    return limp_fail(&L, "--zip-format is for --format cvat-zip only, "
                     "and names coco, yolo, voc or cvat");
  r = store_txn_begin(s, true, &L.t);
  if (r < 0) {
    snprintf(err, errlen, "cannot write the store: %s", strerror(-r));
    return r;
  }
  r = run_format(&L, &formats[fmt], path, &src);
  if (r == 0)
    r = limp_flush(&L);
  if (r == 0 && ret->matched == 0)
    r = limp_fail(&L, "%s: no image of the input matched a sample of the "
                  "store", path);
  /* Boxes of another format: the field is no longer a COCO file's, whose
   * image list and images not on disk evaluation would still follow
   * (coco.h).  A file of that format names its negatives too (an empty
   * YOLO file), which no record keeps: every sample is evaluated. */
  if (r == 0 && !L.coco_read && (r = coco_field_forget(L.t, L.field)) < 0)
    snprintf(err, errlen, "cannot update the store: %s", strerror(-r));
  if (r == 0) {
    r = store_txn_commit(L.t);
    if (r < 0)
      snprintf(err, errlen, "commit failed: %s", strerror(-r));
  } else {
    store_txn_abort(L.t);
    if (!err[0])
      snprintf(err, errlen, "%s", strerror(-r));
  }
  limp_src_free(&src);
  limp_done(&L);
  if (r < 0)
    memset(ret, 0, sizeof(*ret));
  return r;
}
