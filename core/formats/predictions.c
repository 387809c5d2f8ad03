/* predictions.c - COCO results JSON and YOLO txt predictions -> one label
 * field (see predictions.h for the formats and matching rules).
 *
 * Flow: one write transaction for everything.  First an index of all
 * samples (id, size, source path) is read; then the input is parsed into a
 * flat list of (sample, detection) with every check done before anything
 * is written; only then is the field replaced sample by sample.  Any error
 * aborts the transaction, so a bad input changes nothing.  A JSON file
 * is read in two passes by jsonstream.c (the first checks it all and
 * keeps the "images" and "categories" tables, the second hands over the
 * predictions one at a time), never parsed whole: memory is the list of
 * predictions kept.  data.yaml "names" is read by core/formats/yamlnames.c
 * (libyaml); the input's class names are looked up among the store's
 * classes (made only in a store without any) by core/formats/predclasses.c:
 * a class index's store class id is 0 for a name the store lacks, whose
 * predictions are dropped and the import refused at the end.
 */
#define _GNU_SOURCE
#include "predictions.h"
#include "predclasses.h"
#include "sample_match.h"
#include "coco.h"
#include "config.h"
#include "imgcodec.h"
#include "imgfmt.h"
#include "jsonstream.h"
#include "yamlnames.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
/*---- Import state --------------------------------------------------------*/

struct ctx {
  struct store_txn *t;
  struct smatch ix;
  int lookup_r;   /* the first lookup that failed (ref_of) */
  char *last_fn;  /* ref_of_image's last name (owned) and its match */
  size_t last_len, last_ref;
  bool last_folded, last_ambig;
  bool ambig;     /* the last name looked up is ambiguous: its predictions
                   * count in st.ambiguous (named, not only counted as
                   * not in the store) */
  const char *yolo_base;   /* the YOLO folder's real path, while walked */
  char **claimed;   /* per ix.refs: the YOLO file that named it (owned) */
  bool *claim_folded;   /* per ix.refs: that file named it only ignoring
                         * letter case */
  /* Per ix.refs (NULL until a name matched): whether a name of the input
   * names the sample as written, and the first that names it only
   * ignoring letter case (owned).  A sample named both ways is the exact
   * name's: drop_lost() drops the folded names' predictions once the
   * whole input was read (sample_match.h: smatch_pick). */
  bool *exact;
  char **fold_name;
  const char *field;
  enum img_frame frame;   /* pred_opts.frame */
  char *err;
  size_t errlen;
  struct pred_stats st;
  /* collected predictions */
  struct item *items;
  size_t n_items, cap_items;
  /* class names by input class index (COCO category id or YOLO index) */
  struct predcls cls;
  /* without a category table: copies of store class names by class id */
  char **sname;
  size_t n_sname;
  /* The ground-truth field whose recorded COCO image ids a results list
   * without a table of images is looked up in (setting eval.gt_field),
   * and whether it had any. */
  char gt_field[LABELS_MAX_FIELD_NAME + 1];
  bool recorded;
  /* A prediction was looked up by its image_id without a table of
   * images from the input: the error of an input matching nothing says
   * what to give. */
  bool by_id;
};

struct item {
  size_t ref;   /* index into ix.refs */
  bool folded;  /* its name matched only ignoring letter case */
  size_t order; /* input order, to keep it within a sample */
  struct detection d;
};

static int fail(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct ctx *c, const char *fmt, ...)
{
  va_list ap;
  if (c->errlen) {
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
  }
  return -EINVAL;
}

/* Records that a name (NULL for a number) matched sample ref, folded:
 * only ignoring letter case. */
static int note_name(struct ctx *c, size_t ref, bool folded, const char *name)
{
  if ((!c->exact && !(c->exact = calloc(c->ix.n, sizeof(bool)))) ||
      (!c->fold_name && !(c->fold_name = calloc(c->ix.n, sizeof(char *)))))
    return -ENOMEM;
  if (!folded)
    c->exact[ref] = true;
  else if (!c->fold_name[ref] && !(c->fold_name[ref] = strdup(name)))
    return -ENOMEM;
  return 0;
}

/* The index into ix.refs of what a sample_match lookup of name found (r
 * its result), or SIZE_MAX: no sample, an ambiguous name or a missing
 * file (the prediction is skipped), or a failure (out of memory), which
 * is kept in c->lookup_r and fails the import.  The index is built before
 * any lookup, so a hit always has its ref.  *folded: found only ignoring
 * letter case (counted once per sample by drop_lost, where no other name
 * names that sample exactly). */
static size_t ref_of(struct ctx *c, int r, const struct smatch_hit *hit,
                     const char *name, bool *folded)
{
  *folded = false;
  c->ambig = r == -ENOTUNIQ;
  if (c->ambig && !c->st.ambiguous_eg[0])
    snprintf(c->st.ambiguous_eg, sizeof(c->st.ambiguous_eg), "%s",
             name ? name : "an image id");
  if (r == -ENOENT || r == -ENOTUNIQ)
    return SIZE_MAX;
  if (r == 0)
    r = note_name(c, hit->ref, hit->folded, name);
  if (r < 0) {
    c->lookup_r = c->lookup_r ? c->lookup_r : r;
    return SIZE_MAX;
  }
  *folded = hit->folded;
  return hit->ref;
}

/* Results files list an image's predictions together: the last name
 * and what it matched are kept, so each image is looked up once. */
static size_t ref_of_image(struct ctx *c, const char *fn, bool *folded)
{
  struct smatch_hit hit;
  size_t len = strlen(fn);
  int r;

  if (c->last_fn && len == c->last_len && memcmp(fn, c->last_fn, len) == 0) {
    *folded = c->last_folded;
    c->ambig = c->last_ambig;
    return c->last_ref;
  }
  r = smatch_image(&c->ix, fn, &hit);
  free(c->last_fn);
  c->last_fn = malloc(len + 1);   /* NULL: no cache, nothing else */
  if (c->last_fn)
    memcpy(c->last_fn, fn, len + 1);
  c->last_len = len;
  c->last_ref = ref_of(c, r, &hit, fn, folded);
  c->last_folded = *folded;
  c->last_ambig = c->ambig;
  return c->last_ref;
}

/*---- Collected predictions ------------------------------------------------*/

static int set_class_name(struct ctx *c, size_t k, const char *name,
                          size_t len)
{
  int r = predcls_set(&c->cls, k, name, len);

  if (r == -EINVAL)
    return fail(c, "class name %zu is not valid (1..200 bytes, no "
                "control characters)", k + 1);
  return r;
}

/* Adds a prediction in pixels for sample ref.  A box reaching past the
 * image is kept as given (and counted): detectors produce such boxes, and
 * COCO evaluation scores them unclipped.  Only drawing clips. */
static int add_item(struct ctx *c, size_t ref, bool folded,
                    uint32_t class_id,
                    const char *name, double x, double y, double w, double h,
                    double score)
{
  const struct smatch_sample *s = &c->ix.refs[ref];
  if (c->n_items == c->cap_items) {
    size_t nc = c->cap_items ? c->cap_items * 2 : 4096;
    struct item *p = realloc(c->items, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    c->items = p;
    c->cap_items = nc;
  }
  struct detection d = { 0 };
  d.class_id = class_id;
  d.label = (char *)name; /* borrowed from cls; copied at the end */
  d.x = x, d.y = y, d.w = w, d.h = h;
  d.confidence = score;
  if (!labels_box_inside(&d, s->w, s->h))
    c->st.outside++;
  c->items[c->n_items] = (struct item){ ref, folded, c->n_items, d };
  c->n_items++;
  c->st.boxes++;
  return 0;
}

/* The predictions of names that matched a sample only ignoring letter
 * case where another name of the input names it as written: dropped,
 * counted as skipped (no sample), as before rule 5; and the folded names
 * that kept their samples counted for the summary. */
static void drop_lost(struct ctx *c)
{
  size_t k = 0;

  for (size_t i = 0; i < c->n_items; i++) {
    struct item *it = &c->items[i];
    if (it->folded && c->exact[it->ref]) {
      const struct smatch_sample *s = &c->ix.refs[it->ref];
      c->st.boxes--;
      c->st.skipped++;
      smatch_folds_add(&c->st.case_lost, c->fold_name && c->fold_name[it->ref]
                       ? c->fold_name[it->ref] : "?", s->rel);
      c->st.outside -= !labels_box_inside(&it->d, s->w, s->h);
      continue;   /* its label is borrowed: nothing to free */
    }
    c->items[k++] = *it;
  }
  c->n_items = k;
  for (size_t i = 0; c->fold_name && i < c->ix.n; i++)
    if (c->fold_name[i] && !c->exact[i])
      smatch_folds_add(&c->st.folded, c->fold_name[i], c->ix.refs[i].rel);
}

static int cmp_item(const void *a, const void *b)
{
  const struct item *x = a, *y = b;
  if (x->ref != y->ref)
    return x->ref < y->ref ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Replaces the field on every sample of the index with the collected
 * items (refs are in sample-id order, so this walks the store once). */
static int apply(struct ctx *c)
{
  size_t k = 0;
  int r = 0;

  if (c->n_items)  /* qsort(NULL, 0) is undefined */
    qsort(c->items, c->n_items, sizeof(*c->items), cmp_item);
  for (size_t i = 0; i < c->ix.n && r == 0; i++) {
    size_t k0 = k;
    while (k < c->n_items && c->items[k].ref == i)
      k++;
    struct labels cur;
    if (c->ix.refs[i].missing)
      continue;   /* never matched: its file is gone */
    r = store_labels_get(c->t, c->ix.refs[i].id, &cur);
    if (r < 0)
      break;
    struct label_field *f = labels_field(&cur, c->field, false);
    if (k == k0 && (!f || f->n == 0)) {
      labels_free(&cur);
      continue; /* nothing before, nothing now */
    }
    if (k == k0)
      c->st.cleared++;
    else
      c->st.samples++;
    if (!f)
      f = labels_field(&cur, c->field, true);
    if (!f) {
      labels_free(&cur);
      r = -ENOMEM;
      break;
    }
    for (size_t j = 0; j < f->n; j++)
      detection_clear(&f->d[j]);
    f->n = 0;
    for (size_t j = k0; j < k && r == 0; j++)
      r = labels_field_add(f, &c->items[j].d);
    if (r == 0)
      r = store_labels_put(c->t, c->ix.refs[i].id, &cur);
    labels_free(&cur);
  }
  return r;
}

/*---- COCO results ---------------------------------------------------------*/

struct idmap {
  json_int_t id;
  size_t ref;   /* SIZE_MAX: file not in the store */
  bool folded;  /* its file_name matched only ignoring letter case */
  uint8_t turn; /* EXIF orientation the image's boxes are turned by (its
                 * table gives the sample's turned size), else 0 */
  bool ambig;   /* its file_name could be several samples: its
                 * predictions count in st.ambiguous */
};

static int cmp_idmap(const void *a, const void *b)
{
  const struct idmap *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* The orientation the predictions of an image are turned by, or 0 for
 * the stored frame: the rule of the COCO label import (coco.c,
 * img_boxes_turned()), applied where the table of images gives a size.
 * Predictions are written against the ground truth's images, so an image
 * whose width and height are its sample's turned by orientation 5..8 (a
 * non-square picture) has its boxes in that turned frame, as a tool that
 * shows pictures turned writes them.  No size, or a size that cannot
 * tell (2..4, square): the stored frame, as this tool's exports write. */
static uint8_t turned_frame(const struct ctx *c, const struct smatch_sample *s,
                            const struct coco_image_ent *d)
{
  return img_boxes_turned(s->orientation, s->w, s->h, (double)d->w,
                          (double)d->h, c->frame == IMG_FRAME_VIEWER)
             ? s->orientation
             : 0;
}

/* The same for a prediction matched without the table of images (by
 * file_name or by the image id as a number): no size to tell, so only
 * the caller's frame decides. */
static uint8_t untold_frame(const struct ctx *c, size_t ref)
{
  int o = img_frame_turn(c->frame, false,
                         ref == SIZE_MAX ? 1 : c->ix.refs[ref].orientation);

  return o == 1 ? 0 : (uint8_t)o;
}

/* The "images" and "categories" of a COCO object, as the first pass
 * keeps them: per image its id, file_name and size. */
enum { K_IMAGES, K_ANNS, K_CATS, K_N };
static const char *const doc_keys[K_N] = { "images", "annotations",
                                           "categories" };

/* First pass (a jstream_fn): an element of "images" or "categories". */
static int table_element(void *ud, int k, size_t i, json_t *o)
{
  (void)i;
  return coco_tables_add(ud, k == K_CATS, o);
}

/* The recorded ids (coco_image_id_each), collected. */
struct rec_ids {
  struct ctx *c;
  struct idmap *m;
  size_t n, cap;
};

static int rec_ids_push(struct rec_ids *ri, struct idmap e)
{
  if (ri->n == ri->cap) {
    size_t nc = ri->cap ? ri->cap * 2 : 256;
    struct idmap *p = realloc(ri->m, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    ri->m = p;
    ri->cap = nc;
  }
  ri->m[ri->n++] = e;
  return 0;
}

static int add_recorded(uint64_t sample_id, int64_t coco_id, void *ud)
{
  struct rec_ids *ri = ud;
  size_t ref = smatch_index_of(&ri->c->ix, sample_id);

  if (ref != SIZE_MAX && ri->c->ix.refs[ref].missing)
    ref = SIZE_MAX;   /* its file is gone: skipped, as a name would be */
  return rec_ids_push(ri, (struct idmap){ coco_id, ref, false,
                                          untold_frame(ri->c, ref), false });
}

static int add_missing(int64_t coco_id, const char *file_name,
                       const struct label_field *f, void *ud)
{
  struct rec_ids *ri = ud;

  (void)file_name;
  (void)f;
  return rec_ids_push(ri, (struct idmap){ coco_id, SIZE_MAX, false, 0,
                                          false });
}

/* A results list without a table of images (no coco_gt, no "images"):
 * its image ids are those of the ground truth's COCO file, which the
 * label import recorded per sample (coco.h COCO_NS_IMAGE) for the
 * evaluation's ground-truth field.  So the standard loop (import the
 * ground truth with --coco, then the bare list detectron2, mmdet or
 * pycocotools write) needs no coco_gt.  An id two samples hold (two
 * files imported into the field numbering alike) matches neither.  None
 * recorded: *ret_map stays NULL and ids are file name numbers. */
static int recorded_ids(struct ctx *c, struct idmap **ret_map, size_t *ret_n)
{
  struct rec_ids ri = { c, NULL, 0, 0 };
  size_t k = 0;
  int r;

  config_get_str(c->t, "eval.gt_field", c->gt_field, sizeof(c->gt_field));
  r = coco_image_id_each(c->t, c->gt_field, add_recorded, &ri);
  /* The file's images not on disk are its ids too: their predictions are
   * skipped as for a missing file, never given to the sample a number in
   * a file name would find. */
  if (r == 0)
    r = coco_missing_each(c->t, c->gt_field, add_missing, &ri);
  if (r < 0 || ri.n == 0) {
    free(ri.m);
    return r;
  }
  qsort(ri.m, ri.n, sizeof(*ri.m), cmp_idmap);
  for (size_t i = 0; i < ri.n; i++) {
    if (k && ri.m[k - 1].id == ri.m[i].id) {
      ri.m[k - 1].ref = SIZE_MAX;   /* several samples: ambiguous */
      ri.m[k - 1].ambig = true;
      if (!c->st.ambiguous_eg[0])
        snprintf(c->st.ambiguous_eg, sizeof(c->st.ambiguous_eg),
                 "image id %lld", (long long)ri.m[i].id);
      continue;
    }
    ri.m[k++] = ri.m[i];
  }
  c->recorded = true;
  *ret_map = ri.m;
  *ret_n = k;
  return 0;
}

/* Reads "images" (id -> sample) and "categories" (id -> name) of a COCO
 * object into the context; `what` names the file in messages. */
static int read_tables(struct ctx *c, const struct coco_tables *tb,
                       const char *what, struct idmap **ret_map,
                       size_t *ret_n)
{
  json_t *cats = tb->cats;
  json_t *o;
  size_t i;
  int r;

  if (tb->n) {
    struct idmap *m = calloc(tb->n, sizeof(*m));
    if (!m)
      return -ENOMEM;
    for (i = 0; i < tb->n; i++) {
      if (!tb->img[i].id_ok || !tb->img[i].file_name) {
        free(m);
        return fail(c, "%s: images[%zu] needs an integer \"id\" and a "
                    "\"file_name\" (or \"coco_url\")", what, i);
      }
      bool folded;
      size_t ref = ref_of_image(c, tb->img[i].file_name, &folded);
      m[i] = (struct idmap){ tb->img[i].id, ref, folded, 0, c->ambig };
      if (m[i].ref != SIZE_MAX)
        m[i].turn = turned_frame(c, &c->ix.refs[m[i].ref], &tb->img[i]);
      c->st.turned += m[i].turn != 0;
    }
    qsort(m, tb->n, sizeof(*m), cmp_idmap);
    *ret_map = m;
    *ret_n = tb->n;
  }
  if (json_array_size(cats)) {
    json_int_t max = -1;
    json_array_foreach(cats, i, o) {
      json_t *id = json_object_get(o, "id");
      if (!json_is_integer(id) || json_integer_value(id) < 0 ||
          json_integer_value(id) > 10000000 ||
          !json_is_string(json_object_get(o, "name")))
        return fail(c, "%s: categories[%zu] needs an \"id\" in "
                    "0..10000000 and a \"name\"", what, i);
      if (json_integer_value(id) > max)
        max = json_integer_value(id);
    }
    r = predcls_grow(&c->cls, (size_t)max + 1);
    if (r < 0)
      return r;
    json_array_foreach(cats, i, o) {
      const char *name = json_string_value(json_object_get(o, "name"));
      r = set_class_name(c, (size_t)json_integer_value(
                                json_object_get(o, "id")),
                         name, strlen(name));
      if (r < 0)
        return r;
    }
  }
  return 0;
}

/* A stable copy of a store class name (borrowed names die at the next
 * write of the transaction). */
static int store_name_copy(struct ctx *c, uint32_t id, const char *name,
                           const char **ret)
{
  if (id >= c->n_sname) {
    size_t nn = (size_t)id + 1;
    char **p = realloc(c->sname, nn * sizeof(*p));
    if (!p)
      return -ENOMEM;
    for (size_t k = c->n_sname; k < nn; k++)
      p[k] = NULL;
    c->sname = p;
    c->n_sname = nn;
  }
  if (!c->sname[id] && !(c->sname[id] = strdup(name)))
    return -ENOMEM;
  *ret = c->sname[id];
  return 0;
}

/* The first pass over the JSON file the requester named: opened (only
 * a regular file: a FIFO or device would block the daemon; a file that
 * cannot be opened keeps its errno, EACCES, ENOENT), checked whole (a
 * parse error names the file and line, never the content), its tables
 * kept when `tables`.  The stream (owned) or NULL with *r set. */
static struct jstream *scan_json(struct ctx *c, const char *path,
                                 bool tables, struct coco_tables *tb,
                                 struct jstream_root *root, int *r)
{
  static const enum jstream_mode each[K_N] = { JSTREAM_EACH, JSTREAM_MARK,
                                               JSTREAM_EACH };
  static const enum jstream_mode mark[K_N] = { JSTREAM_MARK, JSTREAM_MARK,
                                               JSTREAM_MARK };
  char why[200];
  int e;
  struct jstream *js = jstream_open(path, &e, why, sizeof(why));

  if (js)
    e = jstream_scan(js, doc_keys, tables ? each : mark, K_N, false,
                     table_element, tb, root, why, sizeof(why));
  if (e < 0) {
    fail(c, "%s: %s", path, why);
    jstream_close(js);
    *r = e;
    return NULL;
  }
  return js;
}

/* The box and score of prediction i (o), checked. */
static int pred_box(struct ctx *c, json_t *o, const char *path, size_t i,
                    double b[4], double *score)
{
  json_t *iid = json_object_get(o, "image_id");
  json_t *cid = json_object_get(o, "category_id");
  json_t *bb = json_object_get(o, "bbox");
  json_t *sc = json_object_get(o, "score");
  const char *fn = json_string_value(json_object_get(o, "file_name"));

  if (!json_is_object(o) || (!fn && !json_is_integer(iid)) ||
      !json_is_integer(cid) || !json_is_array(bb) ||
      json_array_size(bb) != 4)
    return fail(c, "%s: prediction %zu needs an integer \"image_id\" (or a "
                "\"file_name\"), an integer \"category_id\" and a 4-number "
                "\"bbox\"", path, i);
  for (int k = 0; k < 4; k++) {
    json_t *e = json_array_get(bb, (size_t)k);
    b[k] = json_is_number(e) ? json_number_value(e) : NAN;
  }
  if (!isfinite(b[0]) || !isfinite(b[1]) || !isfinite(b[2]) ||
      !isfinite(b[3]) || b[2] < 0 || b[3] < 0)
    return fail(c, "%s: prediction %zu: bbox is not [x, y, w, h] with finite "
                "numbers and non-negative size", path, i);
  *score = json_is_number(sc) ? json_number_value(sc) : NAN;
  if (!(*score >= 0 && *score <= 1))
    return fail(c, "%s: prediction %zu: \"score\" must be a number in "
                "[0, 1]", path, i);
  return 0;
}

/* The store class of category cat: through the file's category table
 * when it has one, else cat is a store class id. */
static int pred_class(struct ctx *c, json_int_t cat, const char *path,
                      size_t i, uint32_t *class_id, const char **name)
{
  int r;

  if (c->cls.n) {
    r = cat < 0 ? -ENOENT
               : predcls_lookup(&c->cls, c->t, (size_t)cat, class_id);
    if (r == -ENOENT)
      return fail(c, "%s: prediction %zu: category_id %lld is not among the "
                  "categories", path, i, (long long)cat);
    if (r < 0)
      return r;
    *name = c->cls.name[cat];
    return 0;
  }
  /* No category table: ids are the store's class ids. */
  if (cat < 1 || cat > UINT32_MAX ||
      store_class_name(c->t, (uint32_t)cat, name) < 0)
    return fail(c, "%s: prediction %zu: category_id %lld is not a class of "
                "the store; give the COCO ground truth for category names",
                path, i, (long long)cat);
  *class_id = (uint32_t)cat;
  /* Borrowed names die at the next write: keep a copy. */
  return store_name_copy(c, *class_id, *name, name);
}

/* The sample (index ref) of prediction o: by file_name, through the
 * ground truth's image ids (the input's table, else the recorded ids of
 * recorded_ids()), or by the image id as a number; SIZE_MAX when none.
 * *turn: the orientation its box is turned by (an image of the table by
 * its size, turned_frame(); any other by the caller's frame alone,
 * untold_frame()), else 0.  *folded: its name matched only ignoring
 * letter case. */
static size_t pred_ref(struct ctx *c, json_t *o, const struct idmap *map,
                       size_t nmap, uint8_t *turn, bool *folded)
{
  json_t *iid = json_object_get(o, "image_id");
  const char *fn = json_string_value(json_object_get(o, "file_name"));
  size_t ref = SIZE_MAX;

  *folded = false;
  c->ambig = false;
  c->by_id |= !fn && (!map || c->recorded);
  if (fn) {
    ref = ref_of_image(c, fn, folded);
  } else if (map) {
    struct idmap q = { json_integer_value(iid), 0, false, 0, false };
    const struct idmap *hit = bsearch(&q, map, nmap, sizeof(q), cmp_idmap);
    *turn = hit ? hit->turn : 0;
    *folded = hit && hit->folded;
    c->ambig = hit && hit->ambig;
    /* An id the recorded ones lack may still be a file name number, as
     * before ids were recorded; a table the input gave is the whole
     * truth. */
    if (hit || !c->recorded)
      return hit ? hit->ref : SIZE_MAX;
  }
  if (!fn && json_integer_value(iid) >= 0) {
    struct smatch_hit hit;
    int r = smatch_number(&c->ix, (uint64_t)json_integer_value(iid), &hit);
    ref = ref_of(c, r, &hit, NULL, folded);   /* numbers have no case */
  }
  *turn = untold_frame(c, ref);
  return ref;
}

/* Prediction i (o) of file path. */
static int pred_one(struct ctx *c, json_t *o, const char *path, size_t i,
                    const struct idmap *map, size_t nmap)
{
  uint32_t class_id = 0;
  const char *name = NULL;
  double b[4], score = NAN;
  uint8_t turn = 0;
  bool folded;
  size_t ref;
  int r;

  c->st.entries++;
  if ((r = pred_box(c, o, path, i, b, &score)) < 0)
    return r;
  r = pred_class(c, json_integer_value(json_object_get(o, "category_id")),
                 path, i, &class_id, &name);
  if (r < 0)
    return r;
  ref = pred_ref(c, o, map, nmap, &turn, &folded);
  if (ref == SIZE_MAX) {
    c->st.skipped++;
    c->st.ambiguous += c->ambig;
    return 0;
  }
  if (!class_id)
    return 0;   /* a class the store lacks: refused at the end */
  if (turn) {   /* turned_frame(): back to the stored frame */
    const struct smatch_sample *s = &c->ix.refs[ref];
    b[2] += b[0];
    b[3] += b[1];
    img_orient_box(turn, s->w, s->h, false, b);
    b[2] -= b[0];
    b[3] -= b[1];
  }
  return add_item(c, ref, folded, class_id, name, b[0], b[1], b[2], b[3],
                  score);
}

/* Second pass: prediction i (a jstream_fn). */
struct pass2 {
  struct ctx *c;
  const char *path;
  const struct idmap *map;
  size_t nmap;
};

static int pred_elem(void *ud, int k, size_t i, json_t *o)
{
  struct pass2 *p = ud;

  (void)k;
  return pred_one(p->c, o, p->path, i, p->map, p->nmap);
}

static int import_coco(struct ctx *c, const char *path, const char *gt_path)
{
  struct jstream *js = NULL, *gt = NULL;
  struct jstream_root root, gtroot;
  struct coco_tables tb = { 0 }, gtb = { 0 };
  const struct jstream_at *list;
  struct idmap *map = NULL;
  size_t nmap = 0;
  char why[200];
  int r = 0;

  js = scan_json(c, path, !gt_path, &tb, &root, &r);
  if (!js)
    goto out;
  list = root.type == '[' ? &root.at[0] : &root.at[K_ANNS];
  if (list->type != '[') {
    r = fail(c, "%s: not COCO results (a list of predictions, or an object "
             "with \"annotations\")", path);
    goto out;
  }
  if (gt_path) {
    gt = scan_json(c, gt_path, true, &gtb, &gtroot, &r);
    if (!gt)
      goto out;
    if (gtroot.type != '{') {
      r = fail(c, "%s: not a COCO file (an object with \"images\")", gt_path);
      goto out;
    }
    r = read_tables(c, &gtb, gt_path, &map, &nmap);
  } else if (root.type == '{') {
    r = read_tables(c, &tb, path, &map, &nmap);
  }
  if (r == 0 && !map)
    r = recorded_ids(c, &map, &nmap);
  if (r == 0) {
    struct pass2 p = { c, path, map, nmap };
    r = jstream_each(js, list, root.type == '[' ? -1 : K_ANNS, pred_elem, &p,
                     why, sizeof(why));
    if (r < 0 && why[0])
      fail(c, "%s: %s", path, why);
  }
out:
  free(map);
  coco_tables_free(&tb);
  coco_tables_free(&gtb);
  jstream_close(gt);
  jstream_close(js);
  return r;
}

/*---- YOLO -----------------------------------------------------------------*/

static int read_text(struct ctx *c, const char *path, char **ret, size_t *len)
{
  FILE *f = fopen_regular(path);
  struct stat st;
  if (!f) {
    int e = errno;
    if (e == EINVAL)
      return fail(c, "%s: not a regular file", path);
    fail(c, "%s: %s", path, strerror(e));
    return -e;
  }
  if (fstat(fileno(f), &st) < 0 || (uint64_t)st.st_size > PRED_MAX_FILE) {
    fclose(f);
    return fail(c, "%s: not a readable file of at most 2 GiB", path);
  }
  char *p = malloc((size_t)st.st_size + 1);
  if (!p) {
    fclose(f);
    return -ENOMEM;
  }
  size_t n = fread(p, 1, (size_t)st.st_size, f);
  fclose(f);
  p[n] = 0;
  if (memchr(p, 0, n)) {
    free(p);
    return fail(c, "%s: binary data in a text file", path);
  }
  *ret = p;
  *len = n;
  return 0;
}

/* Trims blanks and one level of matching quotes in place; returns the
 * start, *len updated. */
static const char *trim(const char *s, size_t *len)
{
  size_t n = *len;
  while (n && isspace((unsigned char)*s))
    s++, n--;
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0])
    s++, n -= 2;
  *len = n;
  return s;
}

static int add_name(struct ctx *c, size_t k, const char *s, size_t n,
                    const char *path)
{
  if (k >= 100000)
    return fail(c, "%s: more than 100000 class names", path);
  int r = predcls_grow(&c->cls, k + 1);
  return r ? r : set_class_name(c, k, s, n);
}

/* After the names of `path` were read: every index up to the largest has
 * a name, and there is at least one. */
static int names_complete(struct ctx *c, const char *path)
{
  for (size_t j = 0; j < c->cls.n; j++)
    if (!c->cls.name[j])
      return fail(c, "%s: class %zu has no name", path, j);
  if (c->cls.n == 0)
    return fail(c, "%s: no class names", path);
  return 0;
}

/* names: a plain list (one per line) or a data.yaml "names" entry. */
static int read_names(struct ctx *c, const char *path)
{
  char *text;
  size_t len;
  int r = read_text(c, path, &text, &len);
  if (r < 0)
    return r;
  size_t plen = strlen(path);
  bool yaml = (plen > 5 && strcmp(path + plen - 5, ".yaml") == 0) ||
              (plen > 4 && strcmp(path + plen - 4, ".yml") == 0);
  char *line = text, *end = text + len;
  size_t k = 0;

  if (yaml) {
    char why[200];
    char **v;
    size_t nv;
    r = yaml_names_parse(text, len, &v, &nv, why, sizeof(why));
    free(text);
    if (r == -ENOMEM)
      return r;
    if (r < 0)
      return fail(c, "%s: %s", path, why);
    for (size_t j = 0; r == 0 && j < nv; j++)
      if (v[j])
        r = add_name(c, j, v[j], strlen(v[j]), path);
    yaml_names_free(v, nv);
    return r ? r : names_complete(c, path);
  }

  /* A plain list: one name per line. */
  while (line < end && r == 0) {
    char *nl = memchr(line, '\n', (size_t)(end - line));
    size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
    char *next = nl ? nl + 1 : end;
    size_t tn = n;
    const char *s = trim(line, &tn);
    if (tn)
      r = add_name(c, k, s, tn, path);
    else if (memchr(next, '\n', (size_t)(end - next)) ||
             (next < end && !isspace((unsigned char)*next)))
      r = fail(c, "%s: empty line %zu in the class names", path, k + 1);
    k++;
    line = next;
  }
  free(text);
  return r ? r : names_complete(c, path);
}

/* The numbers of one line (at most 7) into v, their count into *nv. */
static int yolo_numbers(struct ctx *c, char *line, const char *path,
                        size_t lineno, double v[7], int *nv)
{
  char *p = line, *e;

  *nv = 0;
  while (*nv < 7) {
    while (*p == ' ' || *p == '\t' || *p == '\r')
      p++;
    if (!*p)
      break;
    v[*nv] = strtod(p, &e);
    if (e == p || (*e && !isspace((unsigned char)*e)))
      return fail(c, "%s:%zu: not a number", path, lineno);
    (*nv)++;
    p = e;
  }
  return 0;
}

/* One row "class cx cy w h confidence" (nv values in v) for sample ref
 * (SIZE_MAX: no sample, counted as skipped), named only ignoring letter
 * case where folded. */
static int yolo_row(struct ctx *c, size_t ref, bool folded, const double *v,
                    int nv, const char *path, size_t lineno)
{
  uint32_t cid;
  size_t k;
  int r;

  c->st.entries++;
  if (nv != 6)
    return fail(c, "%s:%zu: expected \"class cx cy w h confidence\", got %d "
                "values%s", path, lineno, nv,
                nv == 5 ? " (no confidence column)" : "");
  for (int j = 1; j < 6; j++)
    if (!isfinite(v[j]))
      return fail(c, "%s:%zu: non-finite value", path, lineno);
  if (v[0] != floor(v[0]) || v[0] < 0 || v[0] >= (double)c->cls.n)
    return fail(c, "%s:%zu: class %g is not an index into the %zu class "
                "names", path, lineno, v[0], c->cls.n);
  if (v[3] < 0 || v[4] < 0)
    return fail(c, "%s:%zu: negative box size", path, lineno);
  if (!(v[5] >= 0 && v[5] <= 1))
    return fail(c, "%s:%zu: confidence must be in [0, 1]", path, lineno);
  if (ref == SIZE_MAX) {
    c->st.skipped++;
    c->st.ambiguous += c->ambig;
    return 0;
  }
  k = (size_t)v[0];
  r = predcls_lookup(&c->cls, c->t, k, &cid);
  if (r == 0 && cid) {   /* 0: a class the store lacks, refused at the end */
    const struct smatch_sample *s = &c->ix.refs[ref];
    double W = s->w, H = s->h, b[4];
    int turn = img_frame_turn(c->frame, true, s->orientation);

    if (turn != 1) {
      img_box_from_view_rel(turn, W, H, v + 1, b);
      r = add_item(c, ref, folded, cid, c->cls.name[k], b[0], b[1], b[2],
                   b[3],
                   v[5]);
    } else {   /* as always computed: the same bits as before */
      r = add_item(c, ref, folded, cid, c->cls.name[k],
                   (v[1] - v[3] / 2) * W,
                   (v[2] - v[4] / 2) * H, v[3] * W, v[4] * H, v[5]);
    }
  }
  return r;
}

/* Records that YOLO file rel names sample ref (folded: only ignoring
 * letter case): -EINVAL (reason in err) when another file of the same
 * kind did (its rows would silently join the first's), as the label
 * import refuses (limp_claim).  One named exactly and one by case are
 * no conflict: drop_lost drops the folded one's rows. */
static int claim(struct ctx *c, size_t ref, const char *rel, bool folded)
{
  if ((!c->claimed && !(c->claimed = calloc(c->ix.n, sizeof(char *)))) ||
      (!c->claim_folded &&
       !(c->claim_folded = calloc(c->ix.n, sizeof(bool)))))
    return -ENOMEM;
  if (c->claimed[ref]) {
    if (smatch_pick(c->claim_folded[ref], folded) == SMATCH_BOTH)
      return fail(c, "%s and %s are both predictions of %s",
                  c->claimed[ref], rel, c->ix.refs[ref].rel);
    if (folded)
      return 0;   /* the exact one stays the claim */
    free(c->claimed[ref]);
  }
  c->claim_folded[ref] = folded;
  return (c->claimed[ref] = strdup(rel)) ? 0 : -ENOMEM;
}

static int yolo_file(struct ctx *c, const char *path, const char *rel)
{
  size_t rl = strlen(rel) - 4; /* without ".txt" */
  struct smatch_hit hit;
  int found = smatch_label_stem(&c->ix, c->yolo_base, rel, rl, &hit);
  bool folded;
  size_t ref = ref_of(c, found, &hit, rel, &folded);
  size_t len, lineno = 0;
  char *text, *line, *end;
  int r;

  if (ref != SIZE_MAX && ref < c->ix.n &&
      (r = claim(c, ref, rel, folded)) < 0)
    return r;
  c->st.files++;
  r = read_text(c, path, &text, &len);
  if (r < 0)
    return r;
  line = text;
  end = text + len;
  while (line < end && r == 0) {
    char *nl = memchr(line, '\n', (size_t)(end - line));
    double v[7];
    int nv;
    if (nl)
      *nl = 0;
    lineno++;
    r = yolo_numbers(c, line, path, lineno, v, &nv);
    if (r == 0 && nv != 0)
      r = yolo_row(c, ref, folded, v, nv, path, lineno);
    line = nl ? nl + 1 : end;
  }
  free(text);
  return r;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks dir/rel recursively in name order; txt files go to yolo_file. */
static int yolo_walk(struct ctx *c, const char *root, const char *rel,
                     const char *skip, int depth)
{
  char *dir = rel[0] ? path_join(root, rel) : strdup(root);
  DIR *d;
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0;
  int r = 0;

  if (!dir)
    return -ENOMEM;
  if (depth > 32) {
    free(dir);
    return fail(c, "%s: folders nested too deeply", root);
  }
  d = opendir(dir);
  if (!d) {
    int err = errno;
    fail(c, "%s: %s", dir, strerror(err));
    free(dir);
    return err == ENOTDIR ? -ENOTDIR : -err;
  }
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      char **p = realloc(names, nc * sizeof(*p));
      if (!p) {
        r = -ENOMEM;
        break;
      }
      names = p;
      cap = nc;
    }
    names[n] = strdup(e->d_name);
    if (!names[n]) {
      r = -ENOMEM;
      break;
    }
    n++;
  }
  closedir(d);
  if (r == 0)
    qsort(names, n, sizeof(*names), cmp_str);
  for (size_t i = 0; i < n && r == 0; i++) {
    char *sub = rel[0] ? path_join(rel, names[i]) : strdup(names[i]);
    char *full = sub ? path_join(root, sub) : NULL;
    struct stat st;
    if (!sub || !full) {
      r = -ENOMEM;
    } else if (stat(full, &st) == 0) {
      size_t l = strlen(sub);
      if (S_ISDIR(st.st_mode))
        r = yolo_walk(c, root, sub, skip, depth + 1);
      else if (S_ISREG(st.st_mode) && l > 4 &&
               strcmp(sub + l - 4, ".txt") == 0 &&
               !(skip && strcmp(full, skip) == 0))
        r = yolo_file(c, full, sub);
    }
    free(sub);
    free(full);
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  free(dir);
  return r;
}

static int import_yolo(struct ctx *c, const char *dir, const char *names)
{
  if (!names)
    return fail(c, "YOLO predictions need the class names (a names file or "
                "data.yaml)");
  int r = read_names(c, names);
  if (r < 0)
    return r;
  /* A names file inside the folder is not a prediction file. */
  char *skip = realpath(names, NULL);
  char *root = realpath(dir, NULL);
  if (!root) {
    r = -errno;
    fail(c, "%s: %s", dir, strerror(-r));
  } else {
    /* Walk the canonical root so the skip path compares equal. */
    c->yolo_base = root;
    r = yolo_walk(c, root, "", skip, 0);
    c->yolo_base = NULL;
  }
  free(skip);
  free(root);
  return r;
}

/*---- Entry point ----------------------------------------------------------*/

int pred_import(struct store *s, const char *path, const struct pred_opts *o,
                struct pred_stats *ret, char *err, size_t errlen)
{
  struct ctx c;
  int r;

  memset(&c, 0, sizeof(c));
  predcls_init(&c.cls);
  c.err = err;
  c.errlen = errlen;
  if (errlen)
    err[0] = 0;
  if (!s || !path || !o)
    return fail(&c, "missing argument");
  c.field = o->field ? o->field : PRED_DEFAULT_FIELD;
  if (!labels_field_name_valid(c.field))
    return fail(&c, "invalid field name \"%.64s\"", c.field);
  if (o->format != PRED_FORMAT_COCO && o->format != PRED_FORMAT_YOLO)
    return fail(&c, "unknown predictions format");
  if ((unsigned)o->frame > IMG_FRAME_VIEWER)
    return fail(&c, "unknown frame");
  c.frame = o->frame;

  r = store_txn_begin(s, true, &c.t);
  if (r < 0) {
    fail(&c, "cannot write the store: %s", strerror(-r));
    return r;
  }
  smatch_init(&c.ix, c.t);
  r = smatch_build(&c.ix);
  if (r == 0)
    r = o->format == PRED_FORMAT_COCO ? import_coco(&c, path, o->coco_gt)
                                      : import_yolo(&c, path, o->names);
  if (r == 0 && c.cls.n_unknown)
    r = predcls_refusal(&c.cls, c.t, c.err, c.errlen);
  if (r == 0 && c.exact)
    drop_lost(&c);
  if (r == 0 && c.lookup_r) {
    fail(&c, "cannot match the predictions to samples: %s",
         strerror(-c.lookup_r));
    r = c.lookup_r;
  }
  if (r == 0 && c.st.entries && !c.st.boxes)
    r = fail(&c, "none of the %llu predictions matched a sample of the "
             "store%s", (unsigned long long)c.st.entries, c.by_id
             ? "; their image_id values are not COCO image ids the ground "
               "truth was imported with, nor numbers in file names: give "
               "the ground truth's COCO file as coco_gt= (--coco-gt) for "
               "the id -> file mapping" : "");
  if (r == 0)
    r = apply(&c);
  if (r == 0) {
    r = store_txn_commit(c.t);
    c.t = NULL;
  }
  if (r < 0 && errlen && !err[0])
    snprintf(err, errlen, "%s", strerror(-r));
  store_txn_abort(c.t);
  if (r == 0 && ret)
    *ret = c.st;
  for (size_t i = 0; c.claimed && i < c.ix.n; i++)
    free(c.claimed[i]);
  free(c.claimed);
  free(c.claim_folded);
  for (size_t i = 0; c.fold_name && i < c.ix.n; i++)
    free(c.fold_name[i]);
  free(c.fold_name);
  free(c.exact);
  smatch_free(&c.ix);
  free(c.last_fn);
  free(c.items);
  predcls_free(&c.cls);
  for (size_t i = 0; i < c.n_sname; i++)
    free(c.sname[i]);
  free(c.sname);
  return r;
}
