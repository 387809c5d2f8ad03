/* export_coco.c - the COCO detection tree (CVAT "COCO 1.0" layout):
 *   annotations/instances_<subset>.json
 *   images/<subset>/<name>.<ext>          (the sample's bytes, its own
 *                                         extension: .jpg .png ...)
 *
 * The JSON is written by hand, sample by sample, in two passes over the
 * subset (images, then annotations), so memory stays flat however many
 * boxes there are.  Key order and value forms follow docs/EXPORT.md
 * ("What readers require"):
 * categories = every store class with its stable id (>= 1); image id =
 * the COCO image id the sample was imported with into the exported field
 * (coco.h COCO_NS_IMAGE),
 * else one above the largest of those (export_ids below); annotation id =
 * label id (64-bit); segmentation [] (the
 * store holds boxes only, and datumaro refuses annotations without the
 * key); bbox = [x, y, w, h] in float pixels written as the shortest text
 * that reads back exactly; width, height and bbox in the stored frame,
 * or, with export.frame viewer, turned by the sample's EXIF orientation
 * as a viewer shows the picture (exw_turn); area = the imported COCO area when it differs
 * from w * h, else w * h rounded to 1e-6 px^2; iscrowd 0/1; score when the box has a
 * confidence; then the box's attributes as top-level keys (keys that would
 * clash with the ones above are left out).  "annotations" is always
 * present, possibly empty. */
#include "coco.h"
#include "export_writer.h"
#include "imgfmt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "instances_<subset>.json" -> SUB_*, or -1. */
static int json_subset(const char *file)
{
  static const char pre[] = "instances_", suf[] = ".json";
  size_t n = strlen(file);

  if (n <= sizeof(pre) - 1 + sizeof(suf) - 1 ||
      strncmp(file, pre, sizeof(pre) - 1) != 0 ||
      strcmp(file + n - (sizeof(suf) - 1), suf) != 0)
    return -1;
  return exw_subset_parse(file + sizeof(pre) - 1,
                          n - (sizeof(pre) - 1) - (sizeof(suf) - 1));
}

static int list_dir(struct exw *x, const char *dir,
                    int (*fn)(const struct export_ent *, void *), void *ud)
{
  static const struct export_ent top[] = {
    { .name = "annotations", .dir = true },
    { .name = "images", .dir = true },
  };
  char head[64];
  const char *rest;
  int sub;

  if (!*dir)
    return exw_list_fixed(top, ARRAY_SIZE(top), fn, ud);
  if (strcmp(dir, "annotations") == 0)
    return exw_list_subsets(x, "instances_", ".json", false, fn, ud);
  if (strcmp(dir, "images") == 0)
    return exw_list_subsets(x, "", "", true, fn, ud);
  if (exw_split(dir, head, sizeof(head), &rest) < 0 ||
      strcmp(head, "images") != 0 || strchr(rest, '/'))
    return -ENOENT;
  sub = exw_subset_parse(rest, strlen(rest));
  if (exw_has_subset(x, sub) != 1)
    return -ENOENT;
  return exw_list_samples(x, sub, NULL, true, fn, ud);   /* own extension */
}

static int stat_path(struct exw *x, const char *path, struct export_ent *e)
{
  char head[64], sname[16];
  const char *rest, *file;
  struct sample smp;
  int sub, r;

  if (strcmp(path, "annotations") == 0 || strcmp(path, "images") == 0)
    return exw_ent(e, path, true, 0, 0);
  if (exw_split(path, head, sizeof(head), &rest) < 0)
    return -ENOENT;
  if (strcmp(head, "annotations") == 0) {
    if (strchr(rest, '/') || exw_has_subset(x, json_subset(rest)) != 1)
      return -ENOENT;
    return exw_ent(e, rest, false, 0, 0);
  }
  if (strcmp(head, "images") != 0 ||
      exw_split(rest, sname, sizeof(sname), &file) < 0)
    return -ENOENT;
  sub = exw_subset_parse(sname, strlen(sname));
  if (sub < 0)
    return -ENOENT;
  if (!*file)
    return exw_has_subset(x, sub) == 1 ? exw_ent(e, sname, true, 0, 0)
                                       : -ENOENT;
  if (strchr(file, '/'))
    return -ENOENT;
  r = exw_sample_file(x, file, NULL, &smp, &sub);
  if (r < 0)
    return r == -ENOENT || r == -EINVAL ? -ENOENT : r;
  if (strcmp(exw_subset_names[sub], sname) != 0)
    return -ENOENT;
  return exw_ent(e, file, false, smp.id, 0);
}

/* ---- image ids ----
 *
 * A dataset imported from COCO exports with the image ids it came with,
 * so COCO -> store -> COCO keeps them (as it keeps category ids), and so
 * do results files keyed on them.  The ids recorded by the COCO import
 * are read once per generated file.  An id is used when it is >= 1
 * (EXPORT.md, "What readers require", item 1), at most ID_MAX, and no
 * sample with a lower sample id has it (two COCO files imported with
 * overlapping ids); every other sample gets (largest used id) + (sample
 * id), above all of them, unique and the same in every export while the recorded ids do
 * not change.  Without any recorded id that is the sample id. */
struct id_pair {
  uint64_t sid;
  int64_t coco;
};

struct export_ids {
  struct id_pair *v;   /* by sample id (the records' key order) */
  size_t n, cap;
  int64_t base;        /* largest recorded id, >= 0 */
};

static int cmp_pair_coco(const void *a, const void *b)
{
  const struct id_pair *x = a, *y = b;
  if (x->coco != y->coco)
    return x->coco < y->coco ? -1 : 1;
  return x->sid < y->sid ? -1 : x->sid > y->sid;
}

static int cmp_pair_sid(const void *a, const void *b)
{
  const struct id_pair *x = a, *y = b;
  return x->sid < y->sid ? -1 : x->sid > y->sid;
}

/* Ids above this are not used, whatever else the data set has: far above
 * any real id, and (base + sample id) must not overflow.  One such id
 * used to make the export drop every imported id. */
#define ID_MAX (INT64_MAX / 2)

static int add_pair(uint64_t sid, int64_t coco, void *ud)
{
  struct export_ids *ids = ud;

  if (ids->n == ids->cap) {
    size_t nc = ids->cap ? ids->cap * 2 : 256;
    struct id_pair *p = realloc(ids->v, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    ids->v = p;
    ids->cap = nc;
  }
  ids->v[ids->n].sid = sid;
  ids->v[ids->n].coco = coco;
  if (ids->v[ids->n].coco > ids->base && ids->v[ids->n].coco <= ID_MAX)
    ids->base = ids->v[ids->n].coco;
  ids->n++;
  return 0;
}

/* Reads the ids recorded for `field` (a COCO import into another field
 * has its own and leaves these alone); drops the unusable ones (< 1,
 * > ID_MAX, or taken by a lower sample id).  The pairs end up sorted by
 * sample id. */
static int export_ids_load(struct store_txn *t, const char *field,
                           struct export_ids *ids)
{
  size_t k = 0;
  int r;

  memset(ids, 0, sizeof(*ids));
  r = coco_image_id_each(t, field, add_pair, ids);
  if (r < 0)
    return r;
  if (!ids->n)
    return 0;   /* no id recorded (v may be NULL: no qsort on it) */
  qsort(ids->v, ids->n, sizeof(*ids->v), cmp_pair_coco);
  for (size_t i = 0; i < ids->n; i++)
    if (ids->v[i].coco >= 1 && ids->v[i].coco <= ID_MAX &&
        (k == 0 || ids->v[k - 1].coco != ids->v[i].coco))
      ids->v[k++] = ids->v[i];
  ids->n = k;
  if (k)
    qsort(ids->v, ids->n, sizeof(*ids->v), cmp_pair_sid);
  return 0;
}

static int64_t export_id(const struct export_ids *ids, uint64_t sid)
{
  struct id_pair key = { sid, 0 };
  const struct id_pair *p =
      ids->n ? bsearch(&key, ids->v, ids->n, sizeof(*ids->v), cmp_pair_sid)
             : NULL;

  return p ? p->coco : ids->base + (int64_t)sid;
}

struct img_ctx {
  const struct export_ids *ids;
  bool first;
};

static int put_image(struct exw *x, const struct sample *smp, int sub,
                     void *ud)
{
  struct img_ctx *c = ud;
  int r = exw_room(x, 64);
  uint32_t w, h;

  (void)sub;
  if (r < 0)
    return r;
  if (!c->first)
    EXW_LIT(x, ",\n");
  c->first = false;
  EXW_LIT(x, "{\"id\":");
  r = exw_u64(x, (uint64_t)export_id(c->ids, smp->id));
  r = r ? r : exw_put(x, ",\"file_name\":", 13);
  r = r ? r : exw_json_str(x, smp->name);
  /* The name already ends the string; splice the extension (the
   * sample's own: ".jpg", ".png" ...) inside its quotes. */
  if (r == 0) {
    x->b.len--;
    r = exw_puts(x, img_ext_of(smp->format));
    r = r ? r : exw_put(x, "\",\"width\":", 10);
  }
  exw_turned_size(exw_turn(x, smp), smp, &w, &h);
  r = r ? r : exw_u64(x, w);
  r = r ? r : exw_put(x, ",\"height\":", 10);
  r = r ? r : exw_u64(x, h);
  r = r ? r : exw_put(x, "}", 1);
  return r;
}

/* Keys of an annotation that attributes must not repeat. */
static bool reserved_key(const char *k, size_t n)
{
  static const char *const keys[] = {
    "\"id\"", "\"image_id\"", "\"category_id\"", "\"bbox\"", "\"area\"",
    "\"iscrowd\"", "\"score\"", "\"segmentation\"" };
  for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
    if (strlen(keys[i]) == n && memcmp(keys[i], k, n) == 0)
      return true;
  return false;
}

static int put_attrs(struct exw *x, const char *attrs)
{
  struct exw_attr_iter it;
  const char *k, *v;
  size_t kn, vn;
  int r = 0, m;

  exw_attr_init(&it, attrs);
  while (r == 0 && (m = exw_attr_next(&it, &k, &kn, &v, &vn)) == 1) {
    if (reserved_key(k, kn))
      continue;
    r = exw_room(x, kn + vn + 2);
    if (r == 0) {
      EXW_LIT(x, ",");
      exw_raw(x, k, kn);
      EXW_LIT(x, ":");
      exw_raw(x, v, vn);
    }
  }
  return r;
}

struct ann_ctx {
  const struct export_ids *ids;
  bool first;
};

static int put_anns(struct exw *x, const struct sample *smp, int sub,
                    void *ud)
{
  struct ann_ctx *c = ud;
  struct labels l;
  const struct label_field *f = exw_labels(x, smp->id, &l);
  int r = store_txn_error(x->t), turn = exw_turn(x, smp);

  (void)sub;
  for (size_t i = 0; f && r == 0 && i < f->n; i++) {
    struct detection tb = f->d[i];
    const struct detection *d = &tb;
    exw_turn_box(turn, smp, &tb);
    r = exw_room(x, 128);
    if (r < 0)
      break;
    if (!c->first)
      EXW_LIT(x, ",\n");
    c->first = false;
    EXW_LIT(x, "{\"id\":");
    r = exw_u64(x, d->id);
    r = r ? r : exw_put(x, ",\"image_id\":", 12);
    r = r ? r : exw_u64(x, (uint64_t)export_id(c->ids, smp->id));
    r = r ? r : exw_put(x, ",\"category_id\":", 15);
    r = r ? r : exw_u64(x, d->class_id);
    /* datumaro (CVAT's importer) requires the key; [] = no polygon. */
    r = r ? r : exw_puts(x, ",\"segmentation\":[]");
    r = r ? r : exw_put(x, ",\"bbox\":[", 9);
    r = r ? r : exw_num(x, d->x);
    r = r ? r : exw_put(x, ",", 1);
    r = r ? r : exw_num(x, d->y);
    r = r ? r : exw_put(x, ",", 1);
    r = r ? r : exw_num(x, d->w);
    r = r ? r : exw_put(x, ",", 1);
    r = r ? r : exw_num(x, d->h);
    r = r ? r : exw_put(x, "],\"area\":", 9);
    /* The imported COCO area when it is not w * h (a polygon's area: it
     * picks COCO's area range), exactly.  Otherwise w * h rounded to 1e-6
     * px^2: the exact product of two short decimals
     * needs 17 digits to read back, and printing those costs more than
     * the rest of the annotation; no reader needs them. */
    double wh = d->w * d->h;
    r = r ? r : exw_num(x, d->has_area && d->area != wh
                               ? d->area
                               : nearbyint(wh * 1e6) / 1e6);
    r = r ? r
          : exw_put(x, d->iscrowd ? ",\"iscrowd\":1" : ",\"iscrowd\":0", 12);
    if (r == 0 && d->confidence == d->confidence) {
      r = exw_put(x, ",\"score\":", 9);
      r = r ? r : exw_num(x, d->confidence);
    }
    if (r == 0 && d->attributes)
      r = put_attrs(x, d->attributes);
    r = r ? r : exw_put(x, "}", 1);
  }
  labels_free(&l);
  return r;
}

struct cat_ctx {
  struct exw *x;
  bool first;
};

/* One category: the class id (stable, or the imported dataset's own) and
 * its supercategory. */
static int put_category(const struct store_class *c, void *ud)
{
  struct cat_ctx *cc = ud;
  struct exw *x = cc->x;
  int r = exw_puts(x, cc->first ? "\n{\"id\":" : ",\n{\"id\":");

  cc->first = false;
  r = r ? r : exw_u64(x, c->id);
  r = r ? r : exw_put(x, ",\"name\":", 8);
  r = r ? r : exw_json_str(x, c->name);
  r = r ? r : exw_puts(x, ",\"supercategory\":");
  r = r ? r : exw_json_str(x, c->supercategory);
  return r ? r : exw_put(x, "}", 1);
}

static int gen_file(struct exw *x, const char *path)
{
  uint64_t ver = 0;
  struct export_ids ids = { 0 };
  struct img_ctx ic = { &ids, true };
  struct ann_ctx ac = { &ids, true };
  struct cat_ctx cc = { x, true };
  int sub = json_subset(path + strlen("annotations/"));
  int r;

  r = store_version(x->t, &ver);
  r = r ? r : export_ids_load(x->t, x->field, &ids);
  /* A field no COCO import wrote (predictions, a CVAT pull) takes the
   * ground truth's ids, so that its file lines up with the ground truth's
   * for pycocotools. */
  if (r == 0 && !ids.n && strcmp(x->field, "ground_truth") != 0) {
    free(ids.v);
    r = export_ids_load(x->t, "ground_truth", &ids);
  }
  r = r ? r : exw_printf(x, "{\"info\":{\"description\":\"curatefs export\","
                         "\"version\":\"%" PRIu64 "\",\"contributor\":\"\","
                         "\"url\":\"\"},\n\"licenses\":[],\n\"categories\":[",
                         ver);
  r = r ? r : store_classes_each(x->t, put_category, &cc);
  r = r ? r : exw_puts(x, "],\n\"images\":[\n");
  r = r ? r : exw_each(x, sub, put_image, &ic);
  r = r ? r : exw_puts(x, "],\n\"annotations\":[\n");
  r = r ? r : exw_each(x, sub, put_anns, &ac);
  r = r ? r : exw_puts(x, "]}\n");
  free(ids.v);
  return r;
}

/* This format's entry of the table in export.c. */
const struct exw_format export_coco_format = {
  "coco", list_dir, stat_path, gen_file
};
