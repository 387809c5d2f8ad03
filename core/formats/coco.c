/* coco.c - COCO detection JSON -> store labels (see coco.h).  Uses jansson
 * for parsing; matching and box checks are done here, writes go through
 * store_labels_put in one transaction. */
#include "coco.h"
#include "util.h"

#include "imgfmt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct img {
  json_int_t coco_id;
  uint64_t sample_id;   /* 0 = not matched */
  uint32_t w, h;
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

static bool path_escapes(const char *p)
{
  const char *s = p;

  if (p[0] == '/' || p[0] == '\0')
    return true;
  while (*s) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 2 && s[0] == '.' && s[1] == '.')
      return true;
    s += n;
    while (*s == '/')
      s++;
  }
  return false;
}

/* Basename -> sample id, for file_name values without their folders.
 * Built lazily; ambiguous basenames map to 0. */
struct base_ent {
  char *base;
  uint64_t id;
};

static int cmp_base(const void *a, const void *b)
{
  return strcmp(((const struct base_ent *)a)->base,
                ((const struct base_ent *)b)->base);
}

static int build_base_index(struct store_txn *t, struct base_ent **ret,
                            size_t *ret_n)
{
  struct store_iter *it;
  struct base_ent *v = NULL;
  size_t n = 0, cap = 0;
  uint64_t next = 1;
  struct sample s;
  int r = store_iter_new(t, &it);

  while (r == 0 && (r = store_iter_samples(it, next, &s)) == 0) {
    const char *b = strrchr(s.relpath, '/');
    next = s.id + 1;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      struct base_ent *p = realloc(v, nc * sizeof(*p));
      if (!p) {
        r = -ENOMEM;
        break;
      }
      v = p;
      cap = nc;
    }
    v[n].base = strdup(b ? b + 1 : s.relpath);
    v[n].id = s.id;
    if (!v[n].base) {
      r = -ENOMEM;
      break;
    }
    n++;
  }
  store_iter_free(it);
  if (r == -ENOENT)
    r = 0;
  qsort(v, n, sizeof(*v), cmp_base);
  for (size_t i = 0; i + 1 < n; i++)
    if (strcmp(v[i].base, v[i + 1].base) == 0)
      v[i].id = v[i + 1].id = 0;
  *ret = v;
  *ret_n = n;
  return r;
}

/* Exports (core/formats/export.h) name images "<sample name><ext>" (.jpg, .png
 * ... by the sample's format): match that too, so an exported COCO file
 * comes back onto its own samples. */
static int by_export_name(struct store_txn *t, const char *fn,
                          struct sample *smp)
{
  const char *b = strrchr(fn, '/'), *dot;
  char name[256];
  size_t n;
  int r;

  b = b ? b + 1 : fn;
  dot = strrchr(b, '.');
  if (!dot || dot == b || img_format_of_name(b) < 0)
    return -ENOENT;
  n = (size_t)(dot - b);
  if (n >= sizeof(name))
    return -ENOENT;
  memcpy(name, b, n);
  name[n] = '\0';
  r = store_sample_by_name(t, name, smp);
  if (r == 0 && strcmp(dot, img_ext_of(smp->format)) != 0)
    r = -ENOENT;
  return r;
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

/* Imports one parsed COCO document inside transaction t (nothing is
 * committed here).  Stats are added to *st. */
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

static int import_json(struct store_txn *t, json_t *root,
                       const char *json_path, const char *field,
                       const struct coco_opts *opts,
                       void (*report)(const char *, const char *, void *),
                       void *ud, struct coco_stats *st)
{
  json_t *images, *anns, *cats, *o;
  struct img *imgs = NULL;
  json_int_t *allids = NULL;
  size_t nall = 0;
  struct base_ent *bases = NULL;
  size_t nimg = 0, nbase = 0, i;
  bool have_bases = false;
  int r = 0;

  images = json_object_get(root, "images");
  anns = json_object_get(root, "annotations");
  cats = json_object_get(root, "categories");
  if (!json_is_array(images) || !json_is_array(cats) ||
      (anns && !json_is_array(anns))) {
    rep(report, ud, json_path, "not a COCO detection file: \"images\" and "
        "\"categories\" lists are required");
    return -EINVAL;
  }
  imgs = calloc(json_array_size(images) + 1, sizeof(*imgs));
  allids = calloc(json_array_size(images) + 1, sizeof(*allids));
  if (!imgs || !allids) {
    r = -ENOMEM;
    goto out;
  }
  /* Strictness (coco.h): an image id used twice is an error, since its
   * annotations would land on whichever image came first. */
  json_array_foreach(images, i, o) {
    json_t *id = json_object_get(o, "id");
    if (json_is_integer(id))
      allids[nall++] = json_integer_value(id);
  }
  qsort(allids, nall, sizeof(*allids), cmp_jint);
  for (i = 1; i < nall; i++)
    if (allids[i] == allids[i - 1]) {
      char msg[128];
      snprintf(msg, sizeof(msg), "image id %" JSON_INTEGER_FORMAT
               " appears twice in \"images\"", allids[i]);
      rep(report, ud, json_path, msg);
      r = -EINVAL;
      goto out;
    }
  json_array_foreach(images, i, o) {
    json_t *id = json_object_get(o, "id");
    const char *fn = json_string_value(json_object_get(o, "file_name"));
    struct sample smp;
    struct img *im;

    st->images++;
    if (!json_is_integer(id) || !fn) {
      rep(report, ud, "images[]", "an image needs an integer \"id\" and a "
          "\"file_name\"");
      st->refused++;
      continue;
    }
    if (path_escapes(fn)) {
      rep(report, ud, fn, "file_name escapes the dataset folder; refused");
      st->refused++;
      continue;
    }
    im = &imgs[nimg];
    im->coco_id = json_integer_value(id);
    if (store_sample_by_path(t, fn, &smp) < 0 &&
        by_export_name(t, fn, &smp) < 0) {
      const char *b = strrchr(fn, '/');
      struct base_ent key = { (char *)(b ? b + 1 : fn), 0 }, *hit;
      if (!have_bases) {
        r = build_base_index(t, &bases, &nbase);
        if (r < 0)
          goto out;
        have_bases = true;
      }
      hit = bsearch(&key, bases, nbase, sizeof(*bases), cmp_base);
      if (!hit || !hit->id || store_sample_get(t, hit->id, &smp) < 0) {
        rep(report, ud, fn, hit ? "file name matches several samples"
                                : "in the JSON but not on disk");
        st->unmatched++;
        continue;
      }
    }
    if (smp.flags & SAMPLE_MISSING) {
      rep(report, ud, fn, "in the JSON but not on disk");
      st->unmatched++;
      continue;
    }
    im->sample_id = smp.id;
    im->w = smp.width;
    im->h = smp.height;
    labels_init(&im->l);
    if (!labels_field(&im->l, field, true)) {
      r = -ENOMEM;
      goto out;
    }
    nimg++;
    st->matched++;
  }
  /* Two images on one sample: the second would silently replace the
   * first one's boxes. */
  qsort(imgs, nimg, sizeof(*imgs), cmp_img_sample);
  for (i = 1; i < nimg; i++)
    if (imgs[i].sample_id == imgs[i - 1].sample_id) {
      char msg[160];
      snprintf(msg, sizeof(msg), "images %" JSON_INTEGER_FORMAT " and %"
               JSON_INTEGER_FORMAT " are the same sample",
               imgs[i - 1].coco_id, imgs[i].coco_id);
      rep(report, ud, json_path, msg);
      r = -EINVAL;
      goto out;
    }
  qsort(imgs, nimg, sizeof(*imgs), cmp_img);

  /* An empty category list leaves no box to import: it would empty the
   * field of every matched image.  Only on request (coco_opts). */
  if (json_array_size(cats) == 0 && nimg && !(opts && opts->clear_ok)) {
    rep(report, ud, json_path, "\"categories\" is empty: importing it "
        "would remove every box of the field from the matched images; "
        "refused (ask for it explicitly to clear them)");
    r = -EINVAL;
    goto out;
  }

  /* Categories: COCO id -> our class id, by name. */
  json_int_t maxcat = 0;
  json_array_foreach(cats, i, o) {
    json_t *id = json_object_get(o, "id");
    if (json_is_integer(id) && json_integer_value(id) > maxcat)
      maxcat = json_integer_value(id);
  }
  if (maxcat > 10000000) {
    rep(report, ud, json_path, "category ids larger than 10,000,000");
    r = -EINVAL;
    goto out;
  }
  uint32_t *catmap = calloc((size_t)maxcat + 1, sizeof(uint32_t));
  char **catname = calloc((size_t)maxcat + 1, sizeof(char *));
  if (!catmap || !catname) {
    free(catmap);
    free(catname);
    r = -ENOMEM;
    goto out;
  }
  json_array_foreach(cats, i, o) {
    json_t *id = json_object_get(o, "id");
    const char *name = json_string_value(json_object_get(o, "name"));
    if (!json_is_integer(id) || json_integer_value(id) < 0 || !name ||
        !labels_class_name_valid(name)) {
      rep(report, ud, "categories[]", "a category needs an integer \"id\" "
          "and a valid \"name\"");
      continue;
    }
    if (catname[json_integer_value(id)]) {
      /* Which name would its annotations get?  Not a guess to make. */
      char msg[128];
      snprintf(msg, sizeof(msg), "category id %" JSON_INTEGER_FORMAT
               " appears twice in \"categories\"", json_integer_value(id));
      rep(report, ud, json_path, msg);
      r = -EINVAL;
      break;
    }
    r = coco_class(t, name, json_integer_value(id),
                   json_string_value(json_object_get(o, "supercategory")),
                   &catmap[json_integer_value(id)]);
    if (r < 0)
      break;
    catname[json_integer_value(id)] = (char *)name;
    st->categories++;
  }
  /* A file without "annotations" clears the field (size of NULL is 0). */
  json_array_foreach(anns, i, o) {
    json_t *iid = json_object_get(o, "image_id");
    json_t *cid = json_object_get(o, "category_id");
    json_t *bb = json_object_get(o, "bbox");
    json_t *score = json_object_get(o, "score");
    json_t *crowd = json_object_get(o, "iscrowd");
    struct img key, *im;
    struct detection d;
    json_t *attrs;
    const char *k;
    json_t *v;
    double b[4];
    bool ok = true;

    if (r < 0)
      break;
    if (!json_is_integer(iid) || !json_is_integer(cid) ||
        !json_is_array(bb) || json_array_size(bb) != 4) {
      rep(report, ud, "annotations[]", "an annotation needs integer "
          "\"image_id\", \"category_id\" and a 4-number \"bbox\"");
      st->bad_boxes++;
      continue;
    }
    key.coco_id = json_integer_value(iid);
    im = bsearch(&key, imgs, nimg, sizeof(*imgs), cmp_img);
    if (!im && !bsearch(&key.coco_id, allids, nall, sizeof(*allids),
                        cmp_jint)) {
      /* No image has this id: counted, and reported once at the end. */
      st->orphans++;
      continue;
    }
    if (!im)
      continue;  /* image unmatched: reported above */
    if (json_integer_value(cid) < 0 || json_integer_value(cid) > maxcat ||
        !catmap[json_integer_value(cid)]) {
      rep(report, ud, "annotations[]", "unknown category_id");
      st->bad_boxes++;
      continue;
    }
    for (int j = 0; j < 4; j++) {
      json_t *e = json_array_get(bb, (size_t)j);
      ok = ok && json_is_number(e);
      b[j] = json_number_value(e);
    }
    memset(&d, 0, sizeof(d));
    d.x = b[0], d.y = b[1], d.w = b[2], d.h = b[3];
    if (!ok || !isfinite(d.x + d.y + d.w + d.h) || d.w < 0 || d.h < 0) {
      rep(report, ud, "annotations[]", "bbox is not [x, y, w, h] with "
          "non-negative size");
      st->bad_boxes++;
      continue;
    }
    /* Predictions keep the coordinates they come with: detectors put
     * boxes partly outside the frame, and COCO evaluation scores them as
     * given (drawing clips).  Ground truth is clipped. */
    if (!json_is_number(score) && !labels_box_inside(&d, im->w, im->h)) {
      /* COCO files often overshoot the border by rounding: clip. */
      double x2 = fmin(d.x + d.w, im->w), y2 = fmin(d.y + d.h, im->h);
      d.x = fmax(0, fmin(d.x, im->w));
      d.y = fmax(0, fmin(d.y, im->h));
      d.w = fmax(0, x2 - d.x);
      d.h = fmax(0, y2 - d.y);
      st->clipped++;
    }
    d.class_id = catmap[json_integer_value(cid)];
    d.label = catname[json_integer_value(cid)];
    d.confidence = json_is_number(score) ? json_number_value(score) : NAN;
    /* The annotation's own area (its segmentation's in real COCO) picks
     * the COCO area range; kept so evaluation and export use it. */
    json_t *area = json_object_get(o, "area");
    if (json_is_number(area) && isfinite(json_number_value(area)) &&
        json_number_value(area) >= 0) {
      d.has_area = true;
      d.area = json_number_value(area);
    }
    d.iscrowd = json_is_true(crowd) ||
                (json_is_integer(crowd) && json_integer_value(crowd) != 0);
    attrs = json_object();
    json_object_foreach(o, k, v)
      if (!is_known(k))
        json_object_set(attrs, k, v);
    d.attributes = json_object_size(attrs)
                       ? json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS)
                       : NULL;
    json_decref(attrs);
    r = labels_field_add(labels_field(&im->l, field, false), &d);
    free(d.attributes);
    st->boxes++;
  }
  if (r == 0 && st->orphans) {
    char msg[160];
    snprintf(msg, sizeof(msg), "%llu annotations name an image_id that no "
             "image has; skipped", (unsigned long long)st->orphans);
    rep(report, ud, json_path, msg);
  }
  for (i = 0; r == 0 && i < nimg; i++) {
    /* Replace only `field`; the sample's other fields stay as they are. */
    struct labels cur;
    struct label_field *dst, *src = labels_field(&imgs[i].l, field, false);
    r = store_labels_get(t, imgs[i].sample_id, &cur);
    if (r < 0)
      break;
    dst = labels_field(&cur, field, true);
    if (!dst) {
      labels_free(&cur);
      r = -ENOMEM;
      break;
    }
    for (size_t j = 0; j < dst->n; j++)
      detection_clear(&dst->d[j]);
    free(dst->d);
    dst->d = src->d;
    dst->n = src->n;
    dst->cap = src->cap;
    src->d = NULL;
    src->n = src->cap = 0;
    r = store_labels_put(t, imgs[i].sample_id, &cur);
    labels_free(&cur);
    if (r == 0) {
      uint8_t k[8], v[8];
      store_key_u64(k, imgs[i].sample_id);
      store_key_u64(v, (uint64_t)(int64_t)imgs[i].coco_id);
      r = store_rec_put(t, COCO_NS_IMAGE, k, 8, v, 8);
    }
  }
  free(catmap);
  free(catname);
out:
  for (i = 0; i < nimg; i++)
    labels_free(&imgs[i].l);
  free(imgs);
  free(allids);
  for (i = 0; i < nbase; i++)
    free(bases[i].base);
  free(bases);
  return r;
}

int coco_image_id(struct store_txn *t, uint64_t sample_id, int64_t *ret)
{
  uint8_t k[8];
  const void *v;
  size_t n;
  int r;

  store_key_u64(k, sample_id);
  r = store_rec_get(t, COCO_NS_IMAGE, k, 8, &v, &n);
  if (r < 0)
    return r;
  if (n != 8)
    return -EIO;
  *ret = (int64_t)store_key_rd_u64(v);
  return 0;
}

int coco_import_txn(struct store_txn *t, const char *json, size_t len,
                    const char *what, const char *field,
                    void (*report)(const char *, const char *, void *),
                    void *ud, struct coco_stats *st)
{
  return coco_import_txn_opts(t, json, len, what, field, NULL, report, ud,
                              st);
}

int coco_import_txn_opts(struct store_txn *t, const char *json, size_t len,
                         const char *what, const char *field,
                         const struct coco_opts *opts,
                         void (*report)(const char *, const char *, void *),
                         void *ud, struct coco_stats *st)
{
  json_error_t jerr;
  char jt[160];
  json_t *root = json_loadb(json, len, 0, &jerr);
  char msg[512];
  int r;

  if (!root) {
    snprintf(msg, sizeof(msg), "line %d: %s", jerr.line,
             json_err_text(jerr.text, jt, sizeof(jt)));
    rep(report, ud, what, msg);
    return -EINVAL;
  }
  r = import_json(t, root, what, field, opts, report, ud, st);
  json_decref(root);
  return r;
}

int coco_import(struct store *s, const char *json_path, const char *field,
                void (*report)(const char *, const char *, void *), void *ud,
                struct coco_stats *st)
{
  return coco_import_opts(s, json_path, field, NULL, report, ud, st);
}

int coco_import_opts(struct store *s, const char *json_path,
                     const char *field, const struct coco_opts *opts,
                     void (*report)(const char *, const char *, void *),
                     void *ud, struct coco_stats *st)
{
  json_error_t jerr;
  char jt[160];
  json_t *root;
  struct store_txn *t = NULL;
  char msg[512];
  int r;

  memset(st, 0, sizeof(*st));
  /* Only a regular file: a FIFO or device named here would block. */
  int fd = open_regular(json_path);
  if (fd < 0) {
    rep(report, ud, json_path, fd == -EINVAL ? "not a regular file"
                                             : strerror(-fd));
    return fd;
  }
  root = json_loadfd(fd, 0, &jerr);
  close(fd);
  if (!root) {
    snprintf(msg, sizeof(msg), "line %d: %s", jerr.line,
             json_err_text(jerr.text, jt, sizeof(jt)));
    rep(report, ud, json_path, msg);
    return -EINVAL;
  }
  r = store_txn_begin(s, true, &t);
  if (r == 0)
    r = import_json(t, root, json_path, field, opts, report, ud, st);
  if (r == 0) {
    r = store_txn_commit(t);
    t = NULL;
  }
  store_txn_abort(t);
  json_decref(root);
  return r;
}
