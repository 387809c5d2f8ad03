/* limp.h - label-import plumbing (limp.c), shared by labelimport.c,
 * fmt_yolo.c and fmt_voc.c: the input tree (a folder or a zip, as a sorted
 * list of relative file names), sample matching and field replacement;
 * and the entry points of the tree formats, which labelimport.c's format
 * table lists.  Private to label import.
 *
 * Layering: labelimport.c -> fmt_yolo.c, fmt_voc.c -> limp.c, never back.
 *
 * Ownership: a struct limp_src owns its names and its open zip until
 * limp_src_free(); a struct limp lives for one limport_run() call, owns
 * its sample index and the record of which file labelled which sample
 * (limp_done() frees both) and borrows everything else.  One
 * thread per import. */
#ifndef CURATE_LIMP_H
#define CURATE_LIMP_H

#include <stdbool.h>

#include "labelimport.h"
#include "sample_match.h"
#include "util.h"

/* Largest label file read whole (YOLO's txt and yaml, VOC's xml); COCO
 * JSON and CVAT's XML are read in pieces (limp_src_open). */
#define LIMP_FILE_MAX (64u << 20)
/* Largest zip member inflated to disk by limp_src_open(): past any real
 * export, short of a zip bomb filling the disk. */
#define LIMP_ZIP_DOC_MAX (16ull << 30)

struct zipr;

struct limp_src {
  char **names;       /* sorted relative paths of regular files (owned) */
  size_t *zidx;       /* zip member index per name, or NULL for a folder */
  size_t n;
  const char *dir;    /* folder root */
  struct zipr *z;
};

struct limp {
  struct store_txn *t;
  const char *field;
  void (*report)(const char *, const char *, void *);
  void *ud;
  char *err;
  size_t errlen;
  struct limport_stats *st;
  struct smatch match;      /* which sample a file names, from the first */
  bool have_match;          /* limp_match() on */
  const char **claimed;     /* per match.refs: the file that labelled it */
  bool *claim_folded;       /* per match.refs: that file named it only
                             * ignoring letter case */
  /* Files that named a sample only ignoring letter case after another
   * file did so too (rare): two labels of one sample, unless a later file
   * names it exactly, which takes it from them all (each reported);
   * decided at limp_flush.  ref SIZE_MAX once reported. */
  struct limp_rival { size_t ref; const char *fn; } *rivals;
  size_t nrivals, cap_rivals;
  /* Per match.refs, the boxes of a folded claim (owned), held back from
   * the store until limp_flush: a file of the same import that names
   * the sample exactly takes it from them (smatch_pick), and then they
   * must never have been written.  held_order: those samples in the
   * order they were claimed, for the summary's example. */
  struct label_field **held;
  size_t *held_order, nheld;
  uint64_t folded_id;       /* the sample the last match found, where it
                             * found it only ignoring letter case (else
                             * 0): limp_claim counts it */
  /* The frame the caller says boxes are in (import-labels --frame):
   * AUTO = each format's own (COCO and VOC stored, YOLO and CVAT zips
   * turned). */
  enum img_frame frame;
  /* COCO and VOC boxes are in the frame a viewer shows (the image turned
   * by its EXIF orientation), where no size tells: with --frame viewer,
   * and in CVAT's zips (CVAT annotates the turned frame) unless --frame
   * stored. */
  bool view_frame;
  char *base;               /* the real path of the folder or zip read
                             * (owned; "" when unknown): where its label
                             * files lie, for smatch_label_stem */
  /* Which of the label sets a CVAT zip holds to read (import-labels
   * --zip-format): LIMPORT_CVAT_ZIP for the only one there is. */
  enum limport_format zip_part;
  bool coco_read;           /* a COCO document was read (else the import
                             * ends the field's COCO listing) */
  char **kept;              /* strings kept until limp_done (limp_keep) */
  size_t nkept, capkept;
};

/* Lists the regular files below folder dir (not hidden ones), or the
 * members of zip path (-EBADMSG: not a zip).  *s is always safe to
 * limp_src_free() afterwards. */
int limp_src_open_dir(struct limp_src *s, const char *dir);
int limp_src_open_zip(struct limp_src *s, const char *path);
void limp_src_free(struct limp_src *s);
/* Reads file i of the source into out (appended): -EFBIG past max
 * bytes, else the errors of limp_src_open(). */
int limp_src_read(struct limp_src *s, size_t i, size_t max, struct buf *out);
/* File i of the source as a descriptor the caller owns, for documents
 * read in pieces (CVAT's XML, COCO JSON): a folder's file opened as it is
 * (a regular file only), or a zip's member inflated into a file with no
 * name (tmpfile_anon, util.h) that closing frees, so that memory stays
 * that of the pieces whatever the member's size.  -EFBIG when the member
 * inflates past LIMP_ZIP_DOC_MAX, -ENOSPC when the disk fills, -EBADMSG
 * for a broken member, -ENOTSUP for one compressed with a method this
 * build cannot inflate (zipread.h). */
int limp_src_open(struct limp_src *s, size_t i, int *ret_fd);
/* limp_fail() for file i of s whose limp_src_open() gave r: its reason
 * ("not a regular file", a member inflating past the bound, no room in
 * the temporary folder ...). */
int limp_src_open_fail(struct limp *L, const struct limp_src *s, size_t i,
                       int r);
/* The same for a limp_src_read() of at most max bytes that gave r. */
int limp_src_read_fail(struct limp *L, const struct limp_src *s, size_t i,
                       size_t max, int r);
/* Index of `name` in the source, or -1. */
long limp_src_find(const struct limp_src *s, const char *name);

/* Writes the reason and returns -EINVAL. */
int limp_fail(struct limp *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void limp_report(struct limp *L, const char *what, const char *reason);
/* The sample a label file names: stem is its path (or a name in it)
 * without the extension, matched by the rules of sample_match.h.  0,
 * -ENOENT (none, or its file is missing), -ENOTUNIQ (several could be) or
 * another -errno. */
int limp_match(struct limp *L, const char *stem, struct sample *ret);
/* The sample an image name names (a path with its extension), by the
 * same rules; the same returns. */
int limp_match_image(struct limp *L, const char *fn, struct sample *ret);
/* The same for an image named in subset of an import whose subsets
 * (subsets[0..n)) keep their pictures in folders of their own
 * (smatch_image_in_subset). */
int limp_match_image_in_subset(struct limp *L, const char *fn,
                               const char *subset,
                               const char *const *subsets, size_t n,
                               struct sample *ret);
/* Whether the lookups above may go by rule 5 (sample_match.h:
 * smatch.no_fold; on by default): a format that tries several names for
 * one file tries them all without it first. */
void limp_fold(struct limp *L, bool on);
/* Keeps s (malloc'd) until limp_done(), which frees it: a name a format
 * made itself and handed to limp_claim.  0, or -ENOMEM (the caller still
 * owns s). */
int limp_keep(struct limp *L, char *s);
/* The same for a YOLO label file's path without ".txt": first the image
 * Ultralytics pairs with it (smatch_label_stem). */
int limp_match_label(struct limp *L, const char *stem, struct sample *ret);
/* Records that file fn labels sample smp (just matched by limp_match):
 * 0; 1 where fn matched it only ignoring letter case and another file
 * names it exactly (smatch_pick): fn then labels nothing (reported and
 * counted unmatched; the caller skips it); -EINVAL with L->err naming
 * both files when another file of the same kind already did (the second
 * would silently replace the first one's boxes); or -ENOMEM.  A file
 * named exactly takes the sample from an earlier folded one, whose boxes
 * limp_put held back.  fn must live as long as L. */
int limp_claim(struct limp *L, const struct sample *smp, const char *fn);
/* Replaces the field of a sample with the detections of f (taken: f is
 * left empty).  Classes must be resolved (class_id set).  The boxes of a
 * folded claim are held until limp_flush. */
int limp_put(struct limp *L, uint64_t sample_id, struct label_field *f);
/* Writes the boxes held for folded claims that kept their samples, and
 * counts their files in L->st->folded: once every file was read. */
int limp_flush(struct limp *L);
/* Clips a pixel box to the image. */
void limp_clip(struct detection *d, uint32_t w, uint32_t h);
/* A path without the extension of its last component, into out: 0 or
 * -ENAMETOOLONG. */
int limp_path_stem(const char *path, char *out, size_t outlen);
/* Stem of a path: last component without its extension, into out. */
void limp_stem(const char *path, char *out, size_t outlen);

/* Frees the sample index, the record of claims and the boxes held. */
void limp_done(struct limp *L);

/* The tree formats (fmt_yolo.c, fmt_voc.c): all labels of src into L's
 * field, within L's transaction.  0 or -errno with L->err set. */
int fmt_yolo_import(struct limp *L, struct limp_src *src);
int fmt_voc_import(struct limp *L, struct limp_src *src);
/* CVAT's "CVAT for images 1.1" XML: every .xml file at the top of src,
 * or the file at path. */
int fmt_cvatxml_import(struct limp *L, struct limp_src *src);
int fmt_cvatxml_file(struct limp *L, const char *path);
/* Whether a file of a folder or zip is one of those documents: a .xml
 * file at its top. */
bool fmt_cvatxml_is_doc(const char *name);

#endif
