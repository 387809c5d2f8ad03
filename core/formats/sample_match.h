/* sample_match.h - which sample a name in a label or predictions file
 * refers to.  One set of rules for every reader: the COCO label import
 * (coco.c), the YOLO and VOC label imports (limp.c) and the predictions
 * import (predictions.c), so a file that matches one way in one matches
 * the same way in the others.
 *
 * The rules (docs/USER-GUIDE.md, "Which sample a file names"), tried in
 * order; the first that finds anything decides:
 *   1. the exact source path (below the dataset folder);
 *   2. the longest tail of the path, of two components or more, that ends
 *      the source path of exactly one sample: "labels/train/1" finds
 *      "images/train/1.jpg" beside "images/val/1.jpg", as Ultralytics
 *      pairs its images/ and labels/ trees; "train/1.jpg" in a COCO file
 *      written from another root finds the same sample;
 *   3. the name an export gives the sample ("dir__photo.jpg" for
 *      "dir/photo.jpg"; export.h), from the last component;
 *   4. the last component alone, when exactly one sample has it.
 * A name that is not a source path as written goes through the rules in
 * its normal form: backslashes as '/' (unless a stored path holds one:
 * then they are part of names), no "." or empty components, ".."
 * resolved.  An absolute path under the dataset's root (the store's
 * "root" setting) is the path below it, and rule 1 alone decides: it
 * names one file.  Any other absolute path, and one that climbs above its
 * start ("../images/1.jpg"), is only a tail: rule 1 does not apply to it,
 * and at rule 2 it ends a source path like any tail, itself included.
 * Image names (smatch_image) compare whole file names, extension
 * included; stems (smatch_stem: a label file's path without ".txt" or
 * ".xml") compare source paths without their extension.  A rule that
 * finds several samples decides too: the name is ambiguous and matches
 * none (-ENOTUNIQ), rather than falling through to a looser rule that
 * would pick one of them; so is a name whose tail (rule 2) and export
 * name (rule 3) find two different samples.  Except where rule 1 or 2
 * finds several samples and rule 3 finds one of them: that one, as an
 * export named it so (x.jpg and x.png, samples x and x~2, share the
 * stem x, but the exports write their rows as x.txt and x~2.txt).  A
 * rule that finds a sample whose file is missing decides as well
 * (-ENOENT): a file that vanished is not replaced by another one that
 * shares its name.
 *   5. Only where rules 1 to 4 found nothing at all: rules 1 to 4 again,
 *      in the same order and with the same normal form, comparing names
 *      without regard to ASCII letter case (no locale, no other
 *      letters): "IMG_1.jpg" finds "IMG_1.JPG", "photos/img_1.jpg"
 *      finds "Photos/IMG_1.JPG", as a file written on Windows or macOS
 *      (whose file systems ignore case) or typed by hand names them.
 *      Each rule still needs exactly one sample: two stored paths equal
 *      but for case ("a.jpg" and "A.jpg" on Linux) make the name
 *      ambiguous (-ENOTUNIQ), except where rule 3's extension tells
 *      them apart (samples "a" of a.jpg and "A" of A.png: "q/A.JPG" is
 *      a.jpg); a missing file matches nothing (-ENOENT).  The hit says
 *      so (smatch_hit.folded), for the importers to tell the user.
 *      Folders that differ only in case do not help where the file name
 *      is shared: "Images/Train/a.jpg" is found as written by rule 4
 *      where one sample is named a.jpg, and is ambiguous by rule 4
 *      beside images/train/a.jpg and images/val/a.jpg; it never gets
 *      here.  Between two names of one input on one sample, one found
 *      as written and one here, the first keeps it (smatch_pick).
 *
 * Ownership: smatch_init() borrows the transaction, which must stay open
 * until smatch_free(); the index (copies of every sample's source path,
 * sorted keys) is built at the first lookup and owned until
 * smatch_free(); the tables of rule 5 (sorted keys into those copies,
 * and copies of the sample names) only once a name first gets there.
 * Not shared between threads. */
#ifndef CURATE_SAMPLE_MATCH_H
#define CURATE_SAMPLE_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct smatch_sample {
  uint64_t id;
  uint32_t w, h;
  uint8_t orientation; /* EXIF 1..8 */
  uint8_t format;      /* enum img_format: rule 3 within rule 5 */
  bool missing;        /* SAMPLE_MISSING: never a match */
  char *rel;           /* owned copy of the source path */
  char *rrel;          /* owned: rel reversed, for rule 2 (or NULL) */
  char *name;          /* owned copy of the sample's name, for rule 5
                        * (or NULL) */
};

/* The sorted tables: by_rel, by_base, by_relstem, by_basestem, by_rrel,
 * by_rstem; the same six ignoring letter case, and by_name (rule 5). */
#define SMATCH_TABLES 13

struct smatch_key;     /* a sorted key of one lookup table */
struct smatch_num;     /* a number in a file name stem */

struct smatch {
  struct store_txn *t;
  struct smatch_sample *refs;  /* every sample, in id order */
  size_t n;
  struct smatch_key *keys[SMATCH_TABLES];
  struct smatch_num *by_num;
  size_t n_num;
  bool built;
  bool tails_built;   /* rrel and the two reversed tables */
  bool fold_built;    /* name and the tables of rule 5 */
  char *root[2];      /* the dataset's root (owned) in the form of names
                         * without and with '\\' separating, once
                         * root_read */
  bool root_read;
  bool backslash_names;   /* a stored path holds a '\\' */
  /* Set by the caller: lookups stop after rules 1 to 4 (no rule 5).  A
   * reader that tries several names for one thing (VOC's file stem, then
   * its <filename>) tries them all so first, then all again with rule 5:
   * a later name found as written beats an earlier one found only
   * ignoring letter case. */
  bool no_fold;
};

void smatch_init(struct smatch *m, struct store_txn *t);
void smatch_free(struct smatch *m);
/* Builds the index now (lookups build it when first needed): 0, -ENOMEM
 * or a store error. */
int smatch_build(struct smatch *m);

/* What a lookup found: the sample, and its index into m->refs where the
 * index is built (SIZE_MAX where rule 1 answered from the store alone). */
struct smatch_hit {
  uint64_t id;
  size_t ref;
  bool folded;   /* found by rule 5: the name differs in letter case */
};

/* The sample that fn (a file name or a path with its extension) names,
 * into *hit: 0, -ENOENT (none, or its file is missing), -ENOTUNIQ
 * (ambiguous), -ENOMEM or a store error. */
int smatch_image(struct smatch *m, const char *fn, struct smatch_hit *hit);
/* The same for the first len bytes of p, a path without its extension. */
int smatch_stem(struct smatch *m, const char *p, size_t len,
                struct smatch_hit *hit);
/* The same for a YOLO label file's path p[0..len) without ".txt",
 * relative to folder base (its absolute real path; NULL: the dataset's
 * root): first the image Ultralytics pairs with it (img2label_paths: the
 * image's last "images" folder is the label's last "labels" one, on
 * whole paths), by its exact source path without extension:
 * train/labels/1 -> train/images/1.jpg beside valid/images/1.jpg.  That
 * sample decides, missing or ambiguous (two pictures of that stem) as
 * well; so does its absence from a folder that holds pictures (no other
 * folder's picture is that label's).  The pairing compares letter case
 * as Ultralytics does on Linux: no rule 5 there.  Otherwise (no such
 * folder, or one outside the dataset) the rules above, on p, rule 5
 * included. */
int smatch_label_stem(struct smatch *m, const char *base, const char *p,
                      size_t len, struct smatch_hit *hit);
/* Whether source path rel lies in a folder named dir (any of its
 * folders, not its file name). */
bool smatch_path_in_folder(const char *rel, const char *dir);
/* smatch_image() of fn named in a subset of an import whose subsets
 * (subsets[0..n), subset among them) each keep their pictures in a
 * folder named after them, numbering them alike (a CVAT project's
 * "COCO 1.0", annotations/instances_<subset>.json, and its XML's
 * <image subset=>): "<subset>/<fn>"
 * first, taken when it lies in the subset's folder; then fn, unless it
 * finds a picture in another subset's folder; then what "<subset>/<fn>"
 * found.  The same returns as smatch_image(). */
int smatch_image_in_subset(struct smatch *m, const char *fn,
                           const char *subset, const char *const *subsets,
                           size_t n, struct smatch_hit *hit);
/* The sample whose file name stem is the number num (COCO's image ids
 * of files named "000000000139.jpg"); the same returns. */
int smatch_number(struct smatch *m, uint64_t num, struct smatch_hit *hit);
/* The index into m->refs of sample id once the index is built, else (or
 * for an id it does not hold) SIZE_MAX. */
size_t smatch_index_of(const struct smatch *m, uint64_t id);

/* Two names of one input on one sample, where the first (first_folded:
 * by rule 5) is met before the second: which keeps it.  A name found as
 * written beats one found only ignoring letter case, in either order
 * (the folded one then matches no sample: smatch_fold_lost() says why);
 * two of a kind are what they were before rule 5 (SMATCH_BOTH: the
 * importer's "same sample" failure or merge). */
enum smatch_pick { SMATCH_BOTH, SMATCH_FIRST, SMATCH_SECOND };
enum smatch_pick smatch_pick(bool first_folded, bool second_folded);
/* The reason an import gives for a folded name that lost its sample (at
 * source path rel) to exact, a name of the same input found as written,
 * into buf (cap bytes). */
void smatch_fold_lost(char *buf, size_t cap, const char *rel,
                      const char *exact);

/* The names an import matched by rule 5 only, for its summary: how many,
 * and the first as an example. */
struct smatch_folds {
  uint64_t n;
  char eg[320];   /* "<name as the file gives it> -> <source path>", cut
                   * to fit */
};
/* Counts one such name, matched to the sample at source path rel. */
void smatch_folds_add(struct smatch_folds *f, const char *name,
                      const char *rel);
/* Adds the names counted in b to a (one import of several files). */
void smatch_folds_merge(struct smatch_folds *a,
                        const struct smatch_folds *b);
/* The line an import shows for them, "2 names matched a file only
 * ignoring letter case (e.g. IMG_1.jpg -> IMG_1.JPG)", into buf (cap
 * bytes): true, or false (buf empty) where there were none. */
bool smatch_folds_line(const struct smatch_folds *f, char *buf, size_t cap);

#endif
