/* labelimport_i.h - shared by labelimport.c, fmt_yolo.c and fmt_voc.c:
 * the input tree (a folder or a zip, as a sorted list of relative file
 * names), sample matching and field replacement.  Private. */
#ifndef CURATE_LABELIMPORT_I_H
#define CURATE_LABELIMPORT_I_H

#include <stdbool.h>

#include "labelimport.h"
#include "util.h"

/* Largest label file read (txt, xml, yaml); COCO JSON may be larger. */
#define LIMP_FILE_MAX (64u << 20)
#define LIMP_JSON_MAX (2048u << 20)

struct zipr;

struct lsrc {
  char **names;       /* sorted relative paths of regular files (owned) */
  size_t *zidx;       /* zip member index per name, or NULL for a folder */
  size_t n;
  const char *dir;    /* folder root */
  struct zipr *z;
};

struct stem_ent;

struct limp {
  struct store_txn *t;
  const char *field;
  void (*report)(const char *, const char *, void *);
  void *ud;
  char *err;
  size_t errlen;
  struct limport_stats *st;
  struct stem_ent *stems;   /* lazily built: file stem -> sample id */
  size_t nstems;
  bool have_stems;
};

/* Reads file i of the source into out (appended). */
int lsrc_read(struct lsrc *s, size_t i, size_t max, struct buf *out);
/* Index of `name` in the source, or -1. */
long lsrc_find(const struct lsrc *s, const char *name);

/* Writes the reason and returns -EINVAL. */
int limp_fail(struct limp *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void limp_report(struct limp *L, const char *what, const char *reason);
/* Finds the sample of an image or label file stem; -ENOENT if none. */
int limp_match(struct limp *L, const char *stem, struct sample *ret);
/* Replaces the field of a sample with the detections of f (taken: f is
 * left empty).  Classes must be resolved (class_id set). */
int limp_put(struct limp *L, uint64_t sample_id, struct label_field *f);
/* Clips a pixel box to the image. */
void limp_clip(struct detection *d, uint32_t w, uint32_t h);
/* Stem of a path: last component without its extension, into out. */
void limp_stem(const char *path, char *out, size_t outlen);

int yolo_import(struct limp *L, struct lsrc *src);
int voc_import(struct limp *L, struct lsrc *src);

#endif
