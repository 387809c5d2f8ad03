/* coco.c - COCO detection JSON -> store labels (see coco.h).  The
 * document is read by jsonstream.c in two passes: the first checks all of
 * it and keeps the images (id and file_name only) and the categories, the
 * second hands over the annotations one at a time, since a file may list
 * them before the categories they need (COCO's own files do).  Memory is
 * then what the import keeps (images, categories, the new labels), not
 * the parsed document.  Matching and box checks are done here, writes go
 * through store_labels_put in one transaction. */
#include "coco.h"
#include "coco_i.h"
#include "jsonstream.h"
#include "sample_match.h"
#include "util.h"

#include "imgcodec.h"
#include "imgfmt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct img {
  json_int_t coco_id;
  uint64_t sample_id;   /* 0 = not on disk (kept for evaluation) */
  const char *file_name;   /* borrowed from struct imp's tables */
  uint32_t w, h;           /* the sample's size (matched images) */
  uint8_t turn;            /* EXIF orientation the boxes are turned by
                            * (the file gives the turned size), else 0 */
  bool folded;             /* matched only ignoring letter case */
  const char *lost_to;     /* folded, and this file_name (borrowed) of
                            * another image names its sample exactly:
                            * not on disk, with that reason */
  uint64_t lost_id;        /* that sample */
  struct labels l;
};

static int cmp_img(const void *a, const void *b)
{
  json_int_t x = ((const struct img *)a)->coco_id;
  json_int_t y = ((const struct img *)b)->coco_id;
  return x < y ? -1 : x > y;
}

static int cmp_img_sample(const void *a, const void *b)
{
  uint64_t x = ((const struct img *)a)->sample_id;
  uint64_t y = ((const struct img *)b)->sample_id;
  return x < y ? -1 : x > y;
}

static int cmp_jint(const void *a, const void *b)
{
  json_int_t x = *(const json_int_t *)a, y = *(const json_int_t *)b;
  return x < y ? -1 : x > y;
}

static void rep(void (*report)(const char *, const char *, void *), void *ud,
                const char *what, const char *reason)
{
  if (report)
    report(what, reason, ud);
}

static const char *const known_keys[] = {
  "id", "image_id", "category_id", "bbox", "iscrowd", "area",
  "segmentation", "score", NULL };

static bool is_known(const char *k)
{
  for (const char *const *p = known_keys; *p; p++)
    if (strcmp(*p, k) == 0)
      return true;
  return false;
}

/* The class of a category: the store's class of that name if there is
 * one (its id stays; a supercategory it lacks is added), else a new class
 * with the category's own id and supercategory, so exports give tools keyed
 * on these ids the same ids back.  An id another class holds (or 0) gets
 * the next free id instead. */
static int coco_class(struct store_txn *t, const char *name, json_int_t cid,
                      const char *super, uint32_t *ret)
{
  int r;

  if (super && !labels_class_name_valid(super))
    super = NULL;
  r = store_class_id(t, name, false, ret);
  if (r == 0)
    return super ? store_class_put(t, name, *ret, super) : 0;
  if (r != -ENOENT)
    return r;
  if (cid > 0 && cid <= (json_int_t)UINT32_MAX) {
    r = store_class_put(t, name, (uint32_t)cid, super);
    if (r == 0) {
      *ret = (uint32_t)cid;
      return 0;
    }
    if (r != -EEXIST && r != -EINVAL)
      return r;
  }
  return store_class_id(t, name, true, ret);
}

/* The top-level keys read (jsonstream.h), in this order. */
enum { K_IMAGES, K_ANNS, K_CATS, K_N };
static const char *const doc_keys[K_N] = { "images", "annotations",
                                           "categories" };
static const enum jstream_mode doc_modes[K_N] = { JSTREAM_EACH,
                                                   JSTREAM_MARK,
                                                   JSTREAM_EACH };

/* ---- the import, as a table of steps ----
 *
 * One scanned document goes through the steps of `steps` below in order,
 * inside the caller's write transaction; the first step that fails stops
 * the import (the caller aborts, so nothing of it lands).  Each step reads
 * what the earlier ones left in struct imp, and reports (rep) what it
 * refuses. */

struct imp {
  /* input */
  struct store_txn *t;
  struct jstream *js;               /* the document, scanned */
  struct jstream_root root;         /* where its keys are (doc_keys) */
  struct coco_tables tb;            /* its "images" and "categories" */
  const char *what;                 /* the document's name in reports */
  const char *field;
  const struct coco_opts *opts;     /* may be NULL */
  void (*report)(const char *, const char *, void *);
  void *ud;
  struct coco_stats *st;
  /* the matched images, sorted by COCO id once step_one_sample_each ran */
  struct img *imgs;
  size_t nimg;
  /* every integer image id of the document, sorted */
  json_int_t *allids;
  size_t nall;
  /* which sample a file_name names (sample_match.h) */
  struct smatch sm;
  /* COCO category id (0..maxcat) -> store class id (0: none) and name
   * (borrowed from cats) */
  json_int_t maxcat;
  uint32_t *catmap;
  char **catname;
};

/* The three lists a detection file has; room for the images. */
static int step_shape(struct imp *m)
{
  size_t n = m->tb.n + 1;
  char anns = m->root.at[K_ANNS].type;

  if (m->root.type != '{' || m->root.at[K_IMAGES].type != '[' ||
      m->root.at[K_CATS].type != '[' || (anns && anns != '[')) {
    rep(m->report, m->ud, m->what, "not a COCO detection file: \"images\" "
        "and \"categories\" lists are required");
    return -EINVAL;
  }
  m->imgs = calloc(n, sizeof(*m->imgs));
  m->allids = calloc(n, sizeof(*m->allids));
  return m->imgs && m->allids ? 0 : -ENOMEM;
}

/* Strictness (coco.h): an image id used twice is an error, since its
 * annotations would land on whichever image came first. */
static int step_image_ids(struct imp *m)
{
  size_t i;

  for (i = 0; i < m->tb.n; i++)
    if (m->tb.img[i].id_ok)
      m->allids[m->nall++] = m->tb.img[i].id;
  qsort(m->allids, m->nall, sizeof(*m->allids), cmp_jint);
  for (i = 1; i < m->nall; i++)
    if (m->allids[i] == m->allids[i - 1]) {
      char msg[128];
      snprintf(msg, sizeof(msg), "image id %" JSON_INTEGER_FORMAT
               " appears twice in \"images\"", m->allids[i]);
      rep(m->report, m->ud, m->what, msg);
      return -EINVAL;
    }
  return 0;
}

/* What became of an image's file_name. */
enum img_match { IMG_AMBIGUOUS, IMG_NOT_ON_DISK, IMG_MATCHED };

/* The sample of file_name fn, by the rules of sample_match.h
 * (in the document's subset first: smatch_image_in_subset).  An image
 * whose file is missing (no sample, or a sample marked missing) is
 * IMG_NOT_ON_DISK; one that several samples could be is IMG_AMBIGUOUS
 * (reported); *folded: matched only ignoring letter case (counted for
 * the summary once step_one_sample_each knows it keeps its sample).
 * Returns an enum img_match or -errno. */
static int match_image(struct imp *m, const char *fn, struct sample *smp,
                       bool *folded)
{
  struct smatch_hit hit;
  int r = m->opts && m->opts->subset && *m->opts->subset
              ? smatch_image_in_subset(&m->sm, fn, m->opts->subset,
                                       m->opts->subsets, m->opts->nsubsets,
                                       &hit)
              : smatch_image(&m->sm, fn, &hit);

  if (r == -ENOTUNIQ) {
    rep(m->report, m->ud, fn, "file name matches several samples; "
        "skipped");
    return IMG_AMBIGUOUS;
  }
  if (r == -ENOENT)
    return IMG_NOT_ON_DISK;
  if (r < 0)
    return r;
  if (store_sample_get(m->t, hit.id, smp) < 0)
    return IMG_NOT_ON_DISK;
  *folded = hit.folded;
  return IMG_MATCHED;
}

/* The orientation the boxes of an image are turned by, or 0 for the
 * stored frame.  Labels are kept in the stored frame, and so are the
 * COCO files this tool writes; but a COCO file written by a tool that
 * shows pictures turned by their EXIF orientation (CVAT, most annotation
 * tools, a browser) gives the turned size and boxes in that frame.  The
 * size tells, where it can: the file's width and height are the sample's
 * swapped (orientations 5..8 turn a picture by 90 degrees) on a picture
 * that is not square, or they are the stored ones.  Otherwise (2..4 keep
 * the size; a square picture; no size) the source decides: a CVAT zip
 * (opts->view_frame) is in CVAT's turned frame, a file in the stored. */
static uint8_t turned_frame(const struct imp *m,
                            const struct coco_image_ent *d,
                            const struct sample *smp)
{
  return img_boxes_turned(smp->orientation, smp->width, smp->height,
                          (double)d->w, (double)d->h,
                          m->opts && m->opts->view_frame)
             ? smp->orientation : 0;
}

/* Each image of the document onto its sample.  An image whose file is
 * not on disk stays in the list with sample_id 0: its ground truth is
 * kept for evaluation (COCO_NS_MISSING), as pycocotools evaluates every
 * image of the ground-truth file. */
static int step_images(struct imp *m)
{
  for (size_t i = 0; i < m->tb.n; i++) {
    const char *fn = m->tb.img[i].file_name;
    struct img *im = &m->imgs[m->nimg];
    struct sample smp;
    bool folded = false;
    int r;

    m->st->images++;
    if (!m->tb.img[i].id_ok || !fn || !*fn) {
      rep(m->report, m->ud, "images[]", "an image needs an integer \"id\" "
          "and a \"file_name\" (or \"coco_url\")");
      m->st->refused++;
      continue;
    }
    r = match_image(m, fn, &smp, &folded);
    if (r < 0)
      return r;
    if (r == IMG_AMBIGUOUS) {
      m->st->unmatched++;
      continue;
    }
    im->coco_id = m->tb.img[i].id;
    im->file_name = fn;
    im->sample_id = r == IMG_MATCHED ? smp.id : 0;
    im->folded = folded;
    im->lost_to = NULL;
    labels_init(&im->l);
    m->nimg++;   /* counted before the check: step_free frees its labels */
    if (!labels_field(&im->l, m->field, true))
      return -ENOMEM;
    if (r == IMG_MATCHED) {
      im->w = smp.width;
      im->h = smp.height;
      im->turn = turned_frame(m, &m->tb.img[i], &smp);
      m->st->turned += im->turn != 0;
      m->st->matched++;
    } else {
      m->st->unmatched++;
      m->st->missing++;
    }
  }
  return 0;
}

/* An image matched only ignoring letter case whose sample another image
 * (file_name exact) names exactly (sample_match.h: smatch_pick): not on
 * disk, as before rule 5; step_report_missing gives the reason. */
static void lose_sample(struct imp *m, struct img *im, const char *exact)
{
  im->lost_to = exact;
  im->lost_id = im->sample_id;
  im->sample_id = 0;
  m->st->turned -= im->turn != 0;
  im->turn = 0;
  m->st->matched--;
  m->st->unmatched++;
  m->st->missing++;
}

/* Two images on one sample: the second would silently replace the first
 * one's boxes.  An image that names it exactly keeps it from those that
 * name it only ignoring letter case (lose_sample), in either order; two
 * of a kind fail.  Then the folded names that kept their sample are
 * counted for the summary, in COCO id order.  Leaves the images sorted
 * by COCO id. */
static int step_one_sample_each(struct imp *m)
{
  qsort(m->imgs, m->nimg, sizeof(*m->imgs), cmp_img_sample);
  for (size_t i = 0, j; i < m->nimg; i = j) {
    const struct img *exact = NULL, *two[2] = { NULL, NULL };
    size_t kept = 0;
    for (j = i; j < m->nimg && m->imgs[j].sample_id == m->imgs[i].sample_id;
         j++)
      if (!m->imgs[j].folded && !exact)
        exact = &m->imgs[j];
    if (!m->imgs[i].sample_id)
      continue;
    for (size_t k = i; k < j; k++) {
      if (exact && smatch_pick(exact->folded, m->imgs[k].folded) ==
                       SMATCH_FIRST) {
        lose_sample(m, &m->imgs[k], exact->file_name);
        continue;
      }
      if (kept < 2)
        two[kept] = &m->imgs[k];
      kept++;
    }
    if (kept > 1) {
      char msg[160];
      json_int_t a = two[0]->coco_id, b = two[1]->coco_id;
      snprintf(msg, sizeof(msg), "images %" JSON_INTEGER_FORMAT " and %"
               JSON_INTEGER_FORMAT " are the same sample", a < b ? a : b,
               a < b ? b : a);
      rep(m->report, m->ud, m->what, msg);
      return -EINVAL;
    }
  }
  qsort(m->imgs, m->nimg, sizeof(*m->imgs), cmp_img);
  for (size_t i = 0; i < m->nimg; i++) {
    struct sample smp;
    if (!m->imgs[i].sample_id || !m->imgs[i].folded)
      continue;
    if (store_sample_get(m->t, m->imgs[i].sample_id, &smp) == 0)
      smatch_folds_add(&m->st->folded, m->imgs[i].file_name, smp.relpath);
  }
  return 0;
}

/* The caller's claim on each sample an image will label
 * (coco_opts.claim): another document of the same import may have
 * labelled it already. */
static int step_claims(struct imp *m)
{
  int r = 0;

  if (!m->opts || !m->opts->claim)
    return 0;
  for (size_t i = 0; r == 0 && i < m->nimg; i++)
    if (m->imgs[i].sample_id)
      r = m->opts->claim(m->opts->claim_ud, m->imgs[i].sample_id, m->what);
  return r;
}

/* An empty category list leaves no box to import: it would empty the
 * field of every matched image.  Only on request (coco_opts). */
static int step_categories_present(struct imp *m)
{
  if (json_array_size(m->tb.cats) == 0 && m->nimg &&
      !(m->opts && m->opts->clear_ok)) {
    rep(m->report, m->ud, m->what, "\"categories\" is empty: importing it "
        "would remove every box of the field from the matched images; "
        "refused (ask for it explicitly to clear them)");
    return -EINVAL;
  }
  return 0;
}

/* Categories: COCO id -> our class id, by name. */
static int step_categories(struct imp *m)
{
  json_t *o;
  size_t i;
  int r = 0;

  json_array_foreach(m->tb.cats, i, o) {
    json_t *id = json_object_get(o, "id");
    if (json_is_integer(id) && json_integer_value(id) > m->maxcat)
      m->maxcat = json_integer_value(id);
  }
  if (m->maxcat > 10000000) {
    rep(m->report, m->ud, m->what, "category ids larger than 10,000,000");
    return -EINVAL;
  }
  m->catmap = calloc((size_t)m->maxcat + 1, sizeof(uint32_t));
  m->catname = calloc((size_t)m->maxcat + 1, sizeof(char *));
  if (!m->catmap || !m->catname)
    return -ENOMEM;
  json_array_foreach(m->tb.cats, i, o) {
    json_t *id = json_object_get(o, "id");
    const char *name = json_string_value(json_object_get(o, "name"));
    json_int_t cid;
    if (!json_is_integer(id) || json_integer_value(id) < 0 || !name ||
        !labels_class_name_valid(name)) {
      rep(m->report, m->ud, "categories[]", "a category needs an integer "
          "\"id\" and a valid \"name\"");
      continue;
    }
    cid = json_integer_value(id);
    if (m->catname[cid]) {
      /* Which name would its annotations get?  Not a guess to make. */
      char msg[128];
      snprintf(msg, sizeof(msg), "category id %" JSON_INTEGER_FORMAT
               " appears twice in \"categories\"", cid);
      rep(m->report, m->ud, m->what, msg);
      return -EINVAL;
    }
    r = coco_class(m->t, name, cid,
                   json_string_value(json_object_get(o, "supercategory")),
                   &m->catmap[cid]);
    if (r < 0)
      return r;
    m->catname[cid] = (char *)name;
    m->st->categories++;
  }
  return 0;
}

/* The image an annotation belongs to, or NULL when it is skipped (bad
 * shape or unknown category: reported and counted; an image_id no image
 * has: counted; an unmatched image: reported by step_images). */
static struct img *ann_image(struct imp *m, json_t *o)
{
  json_t *iid = json_object_get(o, "image_id");
  json_t *cid = json_object_get(o, "category_id");
  json_t *bb = json_object_get(o, "bbox");
  struct img key, *im;

  if (!json_is_integer(iid) || !json_is_integer(cid) ||
      !json_is_array(bb) || json_array_size(bb) != 4) {
    rep(m->report, m->ud, "annotations[]", "an annotation needs integer "
        "\"image_id\", \"category_id\" and a 4-number \"bbox\"");
    m->st->bad_boxes++;
    return NULL;
  }
  key.coco_id = json_integer_value(iid);
  im = bsearch(&key, m->imgs, m->nimg, sizeof(*m->imgs), cmp_img);
  if (!im && !bsearch(&key.coco_id, m->allids, m->nall, sizeof(*m->allids),
                      cmp_jint)) {
    /* No image has this id: counted, and reported once at the end. */
    m->st->orphans++;
    return NULL;
  }
  if (!im)
    return NULL;  /* image unmatched: reported above */
  if (json_integer_value(cid) < 0 || json_integer_value(cid) > m->maxcat ||
      !m->catmap[json_integer_value(cid)]) {
    rep(m->report, m->ud, "annotations[]", "unknown category_id");
    m->st->bad_boxes++;
    return NULL;
  }
  return im;
}

/* The box of an annotation, with the coordinates the file gives: ground
 * truth and predictions alike may reach past the image (pycocotools
 * scores them as given; drawing clips, and so do the exports whose
 * format requires it, see docs/EXPORT.md).  Boxes that do are counted.
 * false when it is not a box (reported and counted). */
static bool ann_box(struct imp *m, json_t *o, const struct img *im,
                    struct detection *d)
{
  json_t *bb = json_object_get(o, "bbox");
  bool ok = true;
  double b[4];

  for (int j = 0; j < 4; j++) {
    json_t *e = json_array_get(bb, (size_t)j);
    ok = ok && json_is_number(e);
    b[j] = json_number_value(e);
  }
  memset(d, 0, sizeof(*d));
  d->x = b[0], d->y = b[1], d->w = b[2], d->h = b[3];
  if (!ok || !isfinite(d->x + d->y + d->w + d->h) || d->w < 0 || d->h < 0) {
    rep(m->report, m->ud, "annotations[]", "bbox is not [x, y, w, h] with "
        "non-negative size");
    m->st->bad_boxes++;
    return false;
  }
  if (im->turn) {   /* turned_frame(): back to the stored frame */
    b[2] = b[0] + b[2];
    b[3] = b[1] + b[3];
    img_orient_box(im->turn, im->w, im->h, false, b);
    d->x = b[0], d->y = b[1], d->w = b[2] - b[0], d->h = b[3] - b[1];
  }
  if (im->sample_id && !labels_box_inside(d, im->w, im->h))
    m->st->outside++;
  return true;
}

/* The rest of a detection: class, score, area, iscrowd, and any other
 * key as an attribute (d->attributes is malloc'ed). */
static void ann_fields(struct imp *m, json_t *o, struct detection *d)
{
  json_int_t cid = json_integer_value(json_object_get(o, "category_id"));
  json_t *score = json_object_get(o, "score");
  json_t *crowd = json_object_get(o, "iscrowd");
  json_t *area = json_object_get(o, "area");
  json_t *attrs, *v;
  const char *k;

  d->class_id = m->catmap[cid];
  d->label = m->catname[cid];
  d->confidence = json_is_number(score) ? json_number_value(score) : NAN;
  /* The annotation's own area (its segmentation's in real COCO) picks
   * the COCO area range; kept so evaluation and export use it. */
  if (json_is_number(area) && isfinite(json_number_value(area)) &&
      json_number_value(area) >= 0) {
    d->has_area = true;
    d->area = json_number_value(area);
  }
  d->iscrowd = json_is_true(crowd) ||
               (json_is_integer(crowd) && json_integer_value(crowd) != 0);
  attrs = json_object();
  json_object_foreach(o, k, v)
    if (!is_known(k))
      json_object_set(attrs, k, v);
  d->attributes = json_object_size(attrs)
                      ? json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS)
                      : NULL;
  json_decref(attrs);
}

/* One annotation onto its image's new field (a jstream_fn). */
static int annotation(void *ud, int k, size_t i, json_t *o)
{
  struct imp *m = ud;
  struct detection d;
  struct img *im = ann_image(m, o);
  int r;

  (void)k;
  (void)i;
  if (!im || !ann_box(m, o, im, &d))
    return 0;
  ann_fields(m, o, &d);
  r = labels_field_add(labels_field(&im->l, m->field, false), &d);
  free(d.attributes);
  if (im->sample_id)
    m->st->boxes++;
  else
    m->st->missing_boxes++;
  return r < 0 ? r : 0;
}

/* Each annotation, in the second pass over the document.  A file
 * without "annotations" clears the field. */
static int step_annotations(struct imp *m)
{
  char why[200];
  int r;

  if (!m->root.at[K_ANNS].type)
    return 0;
  r = jstream_each(m->js, &m->root.at[K_ANNS], K_ANNS, annotation, m, why,
                   sizeof(why));
  if (r < 0 && why[0])
    rep(m->report, m->ud, m->what, why);
  return r;
}

static int step_report_orphans(struct imp *m)
{
  if (m->st->orphans) {
    char msg[160];
    snprintf(msg, sizeof(msg), "%llu annotations name an image_id that no "
             "image has; skipped", (unsigned long long)m->st->orphans);
    rep(m->report, m->ud, m->what, msg);
  }
  return 0;
}

/* Names each image whose file is not on disk, with what happens to its
 * boxes. */
static int step_report_missing(struct imp *m)
{
  for (size_t i = 0; i < m->nimg; i++) {
    struct img *im = &m->imgs[i];
    struct sample smp;
    char why[400] = "in the JSON but not on disk", msg[560];
    if (im->sample_id)
      continue;
    if (im->lost_to && store_sample_get(m->t, im->lost_id, &smp) == 0)
      smatch_fold_lost(why, sizeof(why), smp.relpath, im->lost_to);
    snprintf(msg, sizeof(msg), "%s (image id %" JSON_INTEGER_FORMAT "): "
             "its %zu boxes are kept for evaluation, where they count as "
             "misses", why, im->coco_id,
             labels_field(&im->l, m->field, false)->n);
    rep(m->report, m->ud, im->file_name, msg);
  }
  return 0;
}

/* The ground truth of an image not on disk: its record in
 * COCO_NS_MISSING (u16 name length, file_name, the encoded field). */
static int store_missing(struct imp *m, struct img *im)
{
  uint8_t k[LABELS_MAX_FIELD_NAME + 9];
  size_t kl = coco_missing_key(k, m->field, im->coco_id);
  size_t fl = strlen(im->file_name);
  uint16_t n16 = (uint16_t)(fl > 4096 ? 4096 : fl);
  struct buf b;
  int r;

  buf_init(&b, SIZE_MAX);
  r = buf_append(&b, &n16, 2);
  r = r ? r : buf_append(&b, im->file_name, n16);
  r = r ? r : labels_field_encode(labels_field(&im->l, m->field, false), &b);
  r = r ? r : store_rec_put(m->t, COCO_NS_MISSING, k, kl, b.data, b.len);
  buf_free(&b);
  return r;
}

/* Replaces only `field` of each matched sample (its other fields stay as
 * they are) and records the sample's COCO image id for that field
 * (COCO_NS_IMAGE): an import into another field must not renumber the
 * ground truth that evaluation orders by and the export writes.  An
 * earlier build's field-less record stays: it still gives the ids of the
 * fields without a record of their own.  An image now on disk drops its
 * COCO_NS_MISSING record. */
static int store_image(struct imp *m, struct img *im)
{
  struct labels cur;
  struct label_field *src = labels_field(&im->l, m->field, false);
  uint8_t k[LABELS_MAX_FIELD_NAME + 9], v[8];
  int r = store_labels_get(m->t, im->sample_id, &cur);

  if (r < 0)
    return r;
  /* Boxes imported again keep their ids; an unchanged field is not
   * written (the sample keeps its label version and its crops). */
  bool same = src && labels_field_adopt_ids(labels_field(&cur, m->field,
                                                         false), src);
  if (!labels_field_replace(&cur, m->field, src)) {
    labels_free(&cur);
    return -ENOMEM;
  }
  r = same ? 0 : store_labels_put(m->t, im->sample_id, &cur);
  labels_free(&cur);
  if (r < 0)
    return r;
  size_t kl = coco_image_key(k, im->sample_id, m->field);
  if (!kl)
    return -EINVAL;
  store_key_u64(v, (uint64_t)(int64_t)im->coco_id);
  r = store_rec_put(m->t, COCO_NS_IMAGE, k, kl, v, 8);
  if (r < 0)
    return r;
  r = store_rec_del(m->t, COCO_NS_MISSING, k,
                    coco_missing_key(k, m->field, im->coco_id));
  return r == -ENOENT ? 0 : r;
}

/* The records of one field whose file_name the document lists, found
 * before any is deleted (no deletion under the walk's cursor). */
struct forget {
  const char **names;   /* the document's file names, sorted */
  size_t nnames;
  uint64_t *ids;        /* COCO image ids of the records to drop */
  size_t n, cap;
};

static int cmp_name(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int forget_one(const void *key, size_t klen, const void *val,
                      size_t vlen, void *ud)
{
  struct forget *f = ud;
  const uint8_t *v = val;
  char name[4097];
  const char *np = name;
  int r = coco_missing_name(klen, v, vlen, name);

  if (r < 0)
    return r;
  if (!bsearch(&np, f->names, f->nnames, sizeof(*f->names), cmp_name))
    return 0;
  if (f->n == f->cap) {
    size_t nc = f->cap ? f->cap * 2 : 16;
    uint64_t *p = realloc(f->ids, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    f->ids = p;
    f->cap = nc;
  }
  f->ids[f->n++] = store_key_rd_u64((const uint8_t *)key + klen - 8);
  return 0;
}

/* A file's kept boxes are recorded under its image id, but ids change
 * when a data set is renumbered (a split rebuilt): the records of this
 * field for a file_name the document lists go first, whatever their id,
 * so the file's ground truth is kept once (under the document's id, or
 * on its sample once it is on disk), never once per id it ever had. */
static int step_forget_renumbered(struct imp *m)
{
  struct forget f = { 0 };
  uint8_t k[LABELS_MAX_FIELD_NAME + 9];
  size_t n = strlen(m->field) + 1;
  int r;

  if (!m->nimg || n > LABELS_MAX_FIELD_NAME + 1)
    return 0;
  f.names = malloc(m->nimg * sizeof(*f.names));
  if (!f.names)
    return -ENOMEM;
  for (size_t i = 0; i < m->nimg; i++)
    f.names[f.nnames++] = m->imgs[i].file_name;
  qsort(f.names, f.nnames, sizeof(*f.names), cmp_name);
  memcpy(k, m->field, n);
  r = store_rec_each(m->t, COCO_NS_MISSING, k, n, false, forget_one, &f);
  for (size_t i = 0; r == 0 && i < f.n; i++) {
    store_key_u64(k + n, f.ids[i]);
    r = store_rec_del(m->t, COCO_NS_MISSING, k, n + 8);
    r = r == -ENOENT ? 0 : r;
  }
  free(f.names);
  free(f.ids);
  return r;
}

static int step_store(struct imp *m)
{
  int r = 0;

  for (size_t i = 0; r == 0 && i < m->nimg; i++)
    r = m->imgs[i].sample_id ? store_image(m, &m->imgs[i])
                             : store_missing(m, &m->imgs[i]);
  return r;
}

static const struct {
  const char *name;     /* for readers and debuggers */
  int (*run)(struct imp *m);
} steps[] = {   /* the first two read the document alone (import_steps) */
  { "shape", step_shape },
  { "image ids", step_image_ids },
  { "images", step_images },
  { "one sample each", step_one_sample_each },
  { "claims", step_claims },
  { "categories present", step_categories_present },
  { "categories", step_categories },
  { "annotations", step_annotations },
  { "report orphans", step_report_orphans },
  { "report missing", step_report_missing },
  { "forget renumbered", step_forget_renumbered },
  { "store", step_store },
};

static void imp_free(struct imp *m)
{
  coco_tables_free(&m->tb);
  for (size_t i = 0; i < m->nimg; i++)
    labels_free(&m->imgs[i].l);
  free(m->imgs);
  free(m->allids);
  smatch_free(&m->sm);
  free(m->catmap);
  free(m->catname);
}

/* An image's "width" or "height" as an integer, or 0 when it is none:
 * an integer, or a real with no fraction (640.0, as tools that keep
 * sizes in floats write it), in the range of a picture's side. */
static int64_t doc_side(const json_t *v)
{
  double d = json_real_value(v);

  if (json_is_integer(v))
    return json_integer_value(v);
  return d >= 1 && d <= UINT32_MAX && d == floor(d) ? (int64_t)d : 0;
}

static int hexval(char c)
{
  return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The name of an image given by its "coco_url" alone, as LVIS lists its
 * images ("http://images.cocodataset.org/train2017/000000391895.jpg",
 * no "file_name"): the URL's path, "train2017/000000391895.jpg", where
 * COCO's download puts the file and what LVIS readers (detectron2,
 * mmdetection) take as its name; a file:// URL's path stays absolute.
 * %XX escapes are decoded.  Into *ret (owned, or NULL when the URL has no
 * path): 0 or -ENOMEM. */
static int url_name(const char *url, char **ret)
{
  const char *p = strstr(url, "://"), *host;
  size_t n, o = 0;
  char *out;

  *ret = NULL;
  if (!p)
    return 0;
  host = p + 3;
  p = host + strcspn(host, "/?#");   /* the host ends there */
  if (*p != '/')
    return 0;
  if (!(strncasecmp(url, "file://", 7) == 0 &&
        (p == host || (p - host == 9 && strncasecmp(host, "localhost", 9)
                                            == 0))))
    p++;   /* a server's path is the dataset's, from its top */
  n = strcspn(p, "?#");
  if (!(out = malloc(n + 1)))
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    int hi = p[i] == '%' && i + 2 < n ? hexval(p[i + 1]) : -1;
    int lo = hi >= 0 ? hexval(p[i + 2]) : -1;
    if (lo >= 0 && (hi | lo) != 0) {
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = p[i];
    }
  }
  out[o] = '\0';
  if (o == 0 || strcmp(out, "/") == 0) {
    free(out);
    return 0;
  }
  *ret = out;
  return 0;
}

int coco_tables_add(struct coco_tables *tb, bool is_cat, json_t *o)
{
  struct coco_image_ent *d;
  json_t *id = json_object_get(o, "id");
  const char *fn = json_string_value(json_object_get(o, "file_name"));
  const char *url = json_string_value(json_object_get(o, "coco_url"));

  if (fn && !*fn && url)
    fn = NULL;   /* "" names nothing: the URL may */

  if (is_cat) {
    if (!tb->cats && !(tb->cats = json_array()))
      return -ENOMEM;
    return json_array_append(tb->cats, o) ? -ENOMEM : 0;
  }
  if (tb->n == tb->cap) {
    size_t nc = tb->cap ? tb->cap * 2 : 1024;
    struct coco_image_ent *p = realloc(tb->img, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    tb->img = p;
    tb->cap = nc;
  }
  d = &tb->img[tb->n];
  d->id_ok = json_is_integer(id);
  d->id = json_integer_value(id);
  d->w = doc_side(json_object_get(o, "width"));
  d->h = doc_side(json_object_get(o, "height"));
  d->file_name = fn ? strdup(fn) : NULL;
  if (fn && !d->file_name)
    return -ENOMEM;
  if (!fn && url && url_name(url, &d->file_name) < 0)
    return -ENOMEM;
  tb->n++;
  return 0;
}

void coco_tables_free(struct coco_tables *tb)
{
  for (size_t i = 0; i < tb->n; i++)
    free(tb->img[i].file_name);
  free(tb->img);
  json_decref(tb->cats);
  memset(tb, 0, sizeof(*tb));
}

/* First pass (a jstream_fn): an image's id, file_name and size, a
 * category as it is. */
static int doc_element(void *ud, int k, size_t i, json_t *o)
{
  (void)i;
  return coco_tables_add(&((struct imp *)ud)->tb, k == K_CATS, o);
}

/* The first pass over m->js: the whole document checked, its images and
 * categories kept.  A document jansson would refuse is reported (as
 * "line N: TEXT") and fails with -EINVAL. */
static int scan_doc(struct imp *m)
{
  char why[200];
  int r;

  r = jstream_scan(m->js, doc_keys, doc_modes, K_N, false, doc_element, m,
                   &m->root, why, sizeof(why));
  if (r < 0 && why[0])
    rep(m->report, m->ud, m->what, why);
  return r;
}

/* The steps over a scanned document (scan_doc), inside m->t (nothing is
 * committed here).  Stats are added to *m->st. */
static int import_steps(struct imp *m)
{
  int r = 0;

  smatch_init(&m->sm, m->t);   /* the transaction is open from here on */
  /* Without one (a check, coco_import_opts), the steps that need none. */
  for (size_t i = 0; r == 0 && i < (m->t ? ARRAY_SIZE(steps) : 2); i++)
    r = steps[i].run(m);
  return r;
}

int coco_import_txn(struct store_txn *t, const char *json, size_t len,
                    const char *what, const char *field,
                    const struct coco_opts *opts,
                    void (*report)(const char *, const char *, void *),
                    void *ud, struct coco_stats *st)
{
  struct imp m = {
    .t = t, .what = what, .field = field, .opts = opts, .report = report,
    .ud = ud, .st = st, .js = jstream_mem(json, len),
  };
  int r = m.js ? scan_doc(&m) : -ENOMEM;

  if (r == 0)
    r = import_steps(&m);
  imp_free(&m);
  jstream_close(m.js);
  return r;
}

int coco_import_file_txn(struct store_txn *t, const char *path,
                         const char *what, const char *field,
                         const struct coco_opts *opts,
                         void (*report)(const char *, const char *, void *),
                         void *ud, struct coco_stats *st)
{
  return coco_import_fd_txn(t, open_regular(path), what, field, opts,
                            report, ud, st);
}

int coco_import_fd_txn(struct store_txn *t, int fd, const char *what,
                       const char *field, const struct coco_opts *opts,
                       void (*report)(const char *, const char *, void *),
                       void *ud, struct coco_stats *st)
{
  struct imp m = {
    .t = t, .what = what, .field = field, .opts = opts, .report = report,
    .ud = ud, .st = st,
  };
  char msg[200];
  int r;

  if (!(m.js = jstream_fdopen(fd, &r, msg, sizeof(msg)))) {
    rep(report, ud, what, msg);   /* "not a regular file", ENOENT's text */
    return r;
  }
  r = scan_doc(&m);
  if (r == 0)
    r = import_steps(&m);
  imp_free(&m);
  jstream_close(m.js);
  return r;
}

int coco_import_opts(struct store *s, const char *json_path,
                     const char *field, const struct coco_opts *opts,
                     void (*report)(const char *, const char *, void *),
                     void *ud, struct coco_stats *st)
{
  struct imp m = {
    .what = json_path, .field = field, .opts = opts, .report = report,
    .ud = ud, .st = st,
  };
  char msg[200];
  int r;

  memset(st, 0, sizeof(*st));
  if (!(m.js = jstream_open(json_path, &r, msg, sizeof(msg)))) {
    rep(report, ud, json_path, msg);
    return r;
  }
  /* The first pass before the write transaction, as a parse did: a
   * broken file never holds the store's writer. */
  r = scan_doc(&m);
  if (r == 0 && s)
    r = store_txn_begin(s, true, &m.t);
  if (r == 0)
    r = import_steps(&m);
  if (r == 0 && s) {
    r = store_txn_commit(m.t);
    m.t = NULL;
  }
  store_txn_abort(m.t);
  imp_free(&m);
  jstream_close(m.js);
  return r;
}
