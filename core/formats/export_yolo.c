/* export_yolo.c - the Ultralytics YOLO detection tree:
 *   data.yaml
 *   images/<subset>/<name>.<ext>          (the sample's bytes, its own
 *                                         extension: .jpg .png ...; a
 *                                         GIF as a PNG, exw_gen_image)
 *   labels/<subset>/<name>.txt            one row per box
 *
 * Rows are "<class> <cx> <cy> <w> <h>" with the centre and size relative to
 * the image, 6 decimals, by default (export.frame auto or viewer) in the
 * frame a viewer shows: a sample with EXIF orientation 2..8 has its boxes
 * turned as the picture is turned, and relative to the turned size (width
 * and height swapped for 5..8); export.frame stored keeps them as
 * stored, for readers that do not turn (exw_turn).  Most
 * readers of YOLO trees load images turned (OpenCV's decoder for JPEG and
 * PNG, which Ultralytics uses, and Pillow with exif_transpose, as CVAT
 * and datumaro do; not OpenCV for WebP, nor recent Ultralytics for TIFF:
 * docs/EXPORT.md); the image bytes keep their EXIF.  Labels themselves stay in
 * the stored frame (docs/USER-GUIDE.md, "EXIF orientation").
 *
 * The class index is the position of the class among the store's classes
 * in id order: dense (0..n-1, as YOLO trainers require) and equal to class
 * id - 1 while ids have no gaps.  A dataset imported from COCO keeps
 * COCO's category ids (1..90 with gaps), and this order then gives exactly
 * the usual 80-class YOLO indices.  data.yaml lists every class under its
 * index.  Every image has a label file (empty when it has no box), so the
 * listing needs no label reads.  Confidence and attributes are not
 * written: Ultralytics rejects rows with more than 5 columns as a
 * detection label.
 *
 * data.yaml names each non-empty subset (`train: images/train`, ...).
 * Ultralytics requires `train` and `val` (check_det_dataset raises "'val:'
 * key missing"): when one of them is absent it points at images/default
 * if that exists, else at the other one's images (every sample tagged
 * train, a project's usual first state), else at images/test, and a
 * comment line above it says so (docs/EXPORT.md, YOLO). */
#include "export_writer.h"
#include "imgcodec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int list_dir(struct exw *x, const char *dir,
                    int (*fn)(const struct export_ent *, void *), void *ud)
{
  static const struct export_ent top[] = {
    { .name = "data.yaml" },
    { .name = "images", .dir = true },
    { .name = "labels", .dir = true },
  };
  char head[64];
  const char *rest;
  int sub;

  if (!*dir)
    return exw_list_fixed(top, ARRAY_SIZE(top), fn, ud);
  if (strcmp(dir, "images") == 0 || strcmp(dir, "labels") == 0)
    return exw_list_subsets(x, "", "", true, fn, ud);
  if (exw_split(dir, head, sizeof(head), &rest) < 0 || strchr(rest, '/') ||
      (strcmp(head, "images") != 0 && strcmp(head, "labels") != 0))
    return -ENOENT;
  sub = exw_subset_parse(rest, strlen(rest));
  if (exw_has_subset(x, sub) != 1)
    return -ENOENT;
  if (head[0] == 'i')
    return exw_list_samples(x, sub, NULL, true, fn, ud);   /* own extension */
  return exw_list_samples(x, sub, ".txt", false, fn, ud);
}

static int stat_path(struct exw *x, const char *path, struct export_ent *e)
{
  char head[64], sname[16];
  const char *rest, *file;
  struct sample smp;
  int sub, r;
  bool img;

  if (strcmp(path, "data.yaml") == 0)
    return exw_ent(e, path, false, 0, 0);
  if (strcmp(path, "images") == 0 || strcmp(path, "labels") == 0)
    return exw_ent(e, path, true, 0, 0);
  if (exw_split(path, head, sizeof(head), &rest) < 0 ||
      (strcmp(head, "images") != 0 && strcmp(head, "labels") != 0) ||
      exw_split(rest, sname, sizeof(sname), &file) < 0)
    return -ENOENT;
  img = head[0] == 'i';
  sub = exw_subset_parse(sname, strlen(sname));
  if (sub < 0)
    return -ENOENT;
  if (!*file)
    return exw_has_subset(x, sub) == 1 ? exw_ent(e, sname, true, 0, 0)
                                       : -ENOENT;
  if (strchr(file, '/'))
    return -ENOENT;
  r = exw_sample_file(x, file, img ? NULL : ".txt", &smp, &sub);
  if (r < 0)
    return r == -ENOENT || r == -EINVAL ? -ENOENT : r;
  if (strcmp(exw_subset_names[sub], sname) != 0)
    return -ENOENT;
  r = exw_ent(e, file, false, 0, 0);
  if (r == 0 && img)
    exw_image_mark(x, &smp, e);
  return r;
}

/* The subset whose images data.yaml names for an absent train or val
 * (sub): default's (the untagged samples), else the other one's, else
 * test's; NULL for an empty export. */
static const char *stand_in(const bool present[SUB_N], int sub)
{
  int other = sub == SUB_TRAIN ? SUB_VAL : SUB_TRAIN;

  if (present[SUB_DEFAULT])
    return "default";
  if (present[other])
    return exw_subset_names[other];
  return present[SUB_TEST] ? exw_subset_names[SUB_TEST] : NULL;
}

static int gen_yaml(struct exw *x)
{
  bool present[SUB_N];
  uint32_t ncls = 0;
  int r = exw_subsets(x, present);

  r = r ? r : store_class_count(x->t, &ncls);
  r = r ? r : exw_puts(x,
      "# Ultralytics YOLO detection dataset, exported by curatefs.\n"
      "# Class index = position of the class in curatefs id order (0..n-1);\n"
      "# it is class id - 1 while no class id is missing.\n"
      "path: .\n");
  for (int i = 0; r == 0 && i < SUB_N; i++) {
    const char *target = NULL;
    if (present[i])
      target = exw_subset_names[i];
    else if (i == SUB_TRAIN || i == SUB_VAL)
      target = stand_in(present, i);
    if (i == SUB_DEFAULT && (!present[SUB_TRAIN] || !present[SUB_VAL]))
      target = NULL;   /* already named as train or val */
    /* The subset's tag is the configured one (export.train, .val). */
    if (target && !present[i] && strcmp(target, "default") != 0)
      r = exw_printf(x, "# No sample is in subset %s (tag %s): its key "
                     "names the %s images, as Ultralytics requires it.\n",
                     exw_subset_names[i], x->s->subset_tags[i]
                     ? x->s->subset_tags[i] : exw_subset_names[i], target);
    if (r == 0 && target)
      r = exw_printf(x, "%s: images/%s\n", exw_subset_names[i], target);
  }
  r = r ? r : exw_puts(x, "names:\n");
  for (uint32_t c = 1, k = 0; r == 0 && c <= ncls; c++) {
    const char *name;
    r = store_class_name(x->t, c, &name);
    if (r == -ENOENT) {
      r = 0;   /* no class with this id */
      continue;
    }
    r = r ? r : exw_printf(x, "  %u: ", k++);
    /* A JSON string is a valid YAML double-quoted scalar. */
    r = r ? r : exw_json_str(x, name);
    r = r ? r : exw_put(x, "\n", 1);
  }
  return r;
}

struct ids {
  uint32_t *v;
  size_t n;
};

static int add_id(const struct store_class *c, void *ud)
{
  struct ids *ids = ud;
  uint32_t *p = realloc(ids->v, (ids->n + 1) * sizeof(*p));

  if (!p)
    return -ENOMEM;
  ids->v = p;
  ids->v[ids->n++] = c->id;
  return 0;
}

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* The YOLO index of a class: its position in id order. */
static uint32_t yolo_index(const struct ids *ids, uint32_t id)
{
  const uint32_t *p = bsearch(&id, ids->v, ids->n, sizeof(*p), cmp_u32);
  return p ? (uint32_t)(p - ids->v) : id - 1;
}

static int gen_file(struct exw *x, const char *path)
{
  struct ids ids = { NULL, 0 };
  struct sample smp;
  struct labels l;
  const struct label_field *f;
  uint32_t tw, th;
  int sub, r, turn;

  if (strcmp(path, "data.yaml") == 0)
    return gen_yaml(x);
  if (strncmp(path, "images/", 7) == 0) {   /* a GIF's PNG */
    r = exw_sample_file(x, strrchr(path, '/') + 1, NULL, &smp, &sub);
    return r ? r : exw_gen_image(x, &smp);
  }
  r = exw_sample_file(x, strrchr(path, '/') + 1, ".txt", &smp, &sub);
  if (r < 0)
    return r;
  f = exw_labels(x, smp.id, &l);
  r = store_txn_error(x->t);
  if (r == 0 && f && f->n)
    r = store_classes_each(x->t, add_id, &ids);   /* in id order */
  turn = exw_turn(x, &smp);
  exw_turned_size(turn, &smp, &tw, &th);
  for (size_t i = 0; f && r == 0 && i < f->n; i++) {
    struct detection c;
    double W = tw ? tw : 1, H = th ? th : 1;
    /* Relative coordinates lie in [0, 1] (EXPORT.md, "What readers
     * require", item 8): a box reaching past the image is clipped to it,
     * one with nothing inside it is left out. */
    if (!labels_box_clip(&f->d[i], smp.width, smp.height, &c))
      continue;
    exw_turn_box(turn, &smp, &c);
    r = exw_printf(x, "%u %.6f %.6f %.6f %.6f\n",
                   yolo_index(&ids, c.class_id), (c.x + c.w / 2) / W,
                   (c.y + c.h / 2) / H, c.w / W, c.h / H);
  }
  free(ids.v);
  labels_free(&l);
  return r;
}

/* This format's entry of the table in export.c. */
const struct exw_format export_yolo_format = {
  "yolo", list_dir, stat_path, gen_file
};
