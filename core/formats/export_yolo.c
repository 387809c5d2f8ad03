/* export_yolo.c - the Ultralytics YOLO detection tree:
 *   data.yaml
 *   images/<subset>/<name>.<ext>          (the sample's bytes, its own
 *                                         extension: .jpg .png ...)
 *   labels/<subset>/<name>.txt            one row per box
 *
 * Rows are "<class> <cx> <cy> <w> <h>" with the centre and size relative to
 * the image, 6 decimals.  The class index is the position of the class
 * among the store's classes in id order: dense (0..n-1, as YOLO trainers
 * require) and equal to class id - 1 while ids have no gaps.  A dataset
 * imported from COCO keeps COCO's category ids (1..90 with gaps), and this
 * order then gives exactly the usual 80-class YOLO indices.  data.yaml
 * lists every class under its index.  Every image has a label file (empty when it has no box), so
 * the listing needs no label reads.  Confidence and attributes are not
 * written: Ultralytics rejects rows with more than 5 columns as a
 * detection label.
 *
 * data.yaml names each non-empty subset (`train: images/train`, ...).
 * Ultralytics requires `train` and `val`: when one of them is absent and a
 * `default` subset exists, it points at images/default. */
#include "export_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int yolo_list(struct xctx *x, const char *dir,
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
    return x_list_fixed(top, ARRAY_SIZE(top), fn, ud);
  if (strcmp(dir, "images") == 0 || strcmp(dir, "labels") == 0)
    return x_list_subsets(x, "", "", true, fn, ud);
  if (x_split(dir, head, sizeof(head), &rest) < 0 || strchr(rest, '/') ||
      (strcmp(head, "images") != 0 && strcmp(head, "labels") != 0))
    return -ENOENT;
  sub = x_subset_parse(rest, strlen(rest));
  if (x_has_subset(x, sub) != 1)
    return -ENOENT;
  if (head[0] == 'i')
    return x_list_samples(x, sub, NULL, true, fn, ud);   /* own extension */
  return x_list_samples(x, sub, ".txt", false, fn, ud);
}

int yolo_stat(struct xctx *x, const char *path, struct export_ent *e)
{
  char head[64], sname[16];
  const char *rest, *file;
  struct sample smp;
  int sub, r;
  bool img;

  if (strcmp(path, "data.yaml") == 0)
    return x_ent(e, path, false, 0, 0);
  if (strcmp(path, "images") == 0 || strcmp(path, "labels") == 0)
    return x_ent(e, path, true, 0, 0);
  if (x_split(path, head, sizeof(head), &rest) < 0 ||
      (strcmp(head, "images") != 0 && strcmp(head, "labels") != 0) ||
      x_split(rest, sname, sizeof(sname), &file) < 0)
    return -ENOENT;
  img = head[0] == 'i';
  sub = x_subset_parse(sname, strlen(sname));
  if (sub < 0)
    return -ENOENT;
  if (!*file)
    return x_has_subset(x, sub) == 1 ? x_ent(e, sname, true, 0, 0) : -ENOENT;
  if (strchr(file, '/'))
    return -ENOENT;
  r = x_sample_file(x, file, img ? NULL : ".txt", &smp, &sub);
  if (r < 0)
    return r == -ENOENT || r == -EINVAL ? -ENOENT : r;
  if (strcmp(export_subset_names[sub], sname) != 0)
    return -ENOENT;
  return x_ent(e, file, false, img ? smp.id : 0, 0);
}

static int gen_yaml(struct xctx *x)
{
  bool present[SUB_N];
  uint32_t ncls = 0;
  int r = x_subsets(x, present);

  r = r ? r : store_class_count(x->t, &ncls);
  r = r ? r : x_puts(x,
      "# Ultralytics YOLO detection dataset, exported by curatefs.\n"
      "# Class index = position of the class in curatefs id order (0..n-1);\n"
      "# it is class id - 1 while no class id is missing.\n"
      "path: .\n");
  for (int i = 0; r == 0 && i < SUB_N; i++) {
    const char *target = NULL;
    if (present[i])
      target = export_subset_names[i];
    else if ((i == SUB_TRAIN || i == SUB_VAL) && present[SUB_DEFAULT])
      target = "default";
    if (i == SUB_DEFAULT && (!present[SUB_TRAIN] || !present[SUB_VAL]))
      target = NULL;   /* already named as train or val */
    if (target)
      r = x_printf(x, "%s: images/%s\n", export_subset_names[i], target);
  }
  r = r ? r : x_puts(x, "names:\n");
  for (uint32_t c = 1, k = 0; r == 0 && c <= ncls; c++) {
    const char *name;
    r = store_class_name(x->t, c, &name);
    if (r == -ENOENT) {
      r = 0;   /* no class with this id */
      continue;
    }
    r = r ? r : x_printf(x, "  %u: ", k++);
    /* A JSON string is a valid YAML double-quoted scalar. */
    r = r ? r : x_json_str(x, name);
    r = r ? r : x_put(x, "\n", 1);
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

int yolo_gen(struct xctx *x, const char *path)
{
  struct ids ids = { NULL, 0 };
  struct sample smp;
  struct labels l;
  const struct label_field *f;
  int sub, r;

  if (strcmp(path, "data.yaml") == 0)
    return gen_yaml(x);
  r = x_sample_file(x, strrchr(path, '/') + 1, ".txt", &smp, &sub);
  if (r < 0)
    return r;
  f = x_labels(x, smp.id, &l);
  r = store_txn_error(x->t);
  if (r == 0 && f && f->n)
    r = store_classes_each(x->t, add_id, &ids);   /* in id order */
  for (size_t i = 0; f && r == 0 && i < f->n; i++) {
    const struct detection *d = &f->d[i];
    double W = smp.width ? smp.width : 1, H = smp.height ? smp.height : 1;
    r = x_printf(x, "%u %.6f %.6f %.6f %.6f\n",
                 yolo_index(&ids, d->class_id),
                 (d->x + d->w / 2) / W, (d->y + d->h / 2) / H, d->w / W,
                 d->h / H);
  }
  free(ids.v);
  labels_free(&l);
  return r;
}
