/* labels_json.c - labels/<name>.json: rendering and strict parsing.
 *
 * Rendering writes a stable, diff-friendly document (one detection per
 * line, keys in a fixed order) with our own emitter, so numbers print in
 * their shortest exact form.  Parsing uses jansson and rejects anything not
 * in the documented schema (docs/USER-GUIDE.md §6): unknown keys, wrong types,
 * boxes outside the image, duplicate ids.  It never touches the store.
 */
#include "labels_json.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int labels_to_json(const struct labels *l, const char *sample_name,
                   uint32_t width, uint32_t height, struct buf *out)
{
  int r = 0;
  size_t nonempty = 0;

  r |= buf_puts(out, "{\n  \"sample\": ");
  r |= buf_json_str(out, sample_name, strlen(sample_name));
  r |= buf_printf(out, ",\n  \"width\": %u,\n  \"height\": %u,\n"
                       "  \"fields\": {", width, height);
  for (size_t i = 0; i < l->n && r == 0; i++) {
    const struct label_field *f = &l->f[i];

    r |= buf_puts(out, nonempty++ ? ",\n    " : "\n    ");
    r |= buf_json_str(out, f->name, strlen(f->name));
    r |= buf_puts(out, f->n ? ": [\n" : ": []");
    for (size_t j = 0; j < f->n && r == 0; j++) {
      const struct detection *d = &f->d[j];
      const char *lab = d->label ? d->label : "";

      r |= buf_printf(out, "      {\"id\": %llu, \"label\": ",
                      (unsigned long long)d->id);
      r |= buf_json_str(out, lab, strlen(lab));
      r |= buf_puts(out, ", \"bbox\": [");
      r |= buf_json_double(out, d->x);
      r |= buf_puts(out, ", ");
      r |= buf_json_double(out, d->y);
      r |= buf_puts(out, ", ");
      r |= buf_json_double(out, d->w);
      r |= buf_puts(out, ", ");
      r |= buf_json_double(out, d->h);
      r |= buf_puts(out, "]");
      if (!isnan(d->confidence)) {
        r |= buf_puts(out, ", \"confidence\": ");
        r |= buf_json_double(out, d->confidence);
      }
      r |= buf_printf(out, ", \"iscrowd\": %d", d->iscrowd ? 1 : 0);
      if (d->has_area) {
        r |= buf_puts(out, ", \"area\": ");
        r |= buf_json_double(out, d->area);
      }
      if (d->has_max_iou && d->max_iou >= 0) {
        r |= buf_puts(out, ", \"max_iou\": ");
        r |= buf_json_double(out, round(d->max_iou * 1e6) / 1e6);
        if (d->max_iou_id)
          r |= buf_printf(out, ", \"max_iou_id\": %llu",
                          (unsigned long long)d->max_iou_id);
      }
      if (d->attributes && strcmp(d->attributes, "{}") != 0) {
        r |= buf_puts(out, ", \"attributes\": ");
        r |= buf_puts(out, d->attributes);
      }
      r |= buf_puts(out, j + 1 < f->n ? "},\n" : "}\n    ]");
    }
  }
  r |= buf_puts(out, nonempty ? "\n  }\n}\n" : "}\n}\n");
  /* Every helper returns 0 or a negative errno; OR-ing keeps "failed". */
  return r ? -E2BIG : 0;
}

/* ---- one detection, key by key ----
 *
 * Each key of a detection object has its parser in `det_keys`; a key not
 * in the table is refused.  Parsers return 0, -ENOMEM, or -EINVAL with the
 * reason in err. */

struct det_parse {
  struct detection *d;
  const char *field;      /* for messages: fields.<field>[<idx>] */
  size_t idx;
  char *err;
  size_t errlen;
  bool have_label, have_box;
};

static int det_id(struct det_parse *p, const char *key, json_t *v)
{
  if (!json_is_integer(v) || json_integer_value(v) < 1)
    return errf(p->err, p->errlen, -EINVAL, "fields.%s[%zu].id: expected a "
                "positive integer", p->field, p->idx);
  p->d->id = (uint64_t)json_integer_value(v);
  return 0;
}

static int det_label(struct det_parse *p, const char *key, json_t *v)
{
  if (!json_is_string(v) || !labels_class_name_valid(json_string_value(v)))
    return errf(p->err, p->errlen, -EINVAL, "fields.%s[%zu].label: expected "
                "a class name (1-200 bytes of UTF-8, no control "
                "characters)", p->field, p->idx);
  p->d->label = strdup(json_string_value(v));
  if (!p->d->label)
    return -ENOMEM;
  p->have_label = true;
  return 0;
}

static int det_bbox(struct det_parse *p, const char *key, json_t *v)
{
  double b[4];

  if (!json_is_array(v) || json_array_size(v) != 4)
    return errf(p->err, p->errlen, -EINVAL, "fields.%s[%zu].bbox: expected "
                "[x, y, w, h]", p->field, p->idx);
  for (size_t k = 0; k < 4; k++) {
    json_t *e = json_array_get(v, k);
    if (!json_is_number(e))
      return errf(p->err, p->errlen, -EINVAL, "fields.%s[%zu].bbox[%zu]: "
                  "expected a number", p->field, p->idx, k);
    b[k] = json_number_value(e);
  }
  p->d->x = b[0], p->d->y = b[1], p->d->w = b[2], p->d->h = b[3];
  p->have_box = true;
  return 0;
}

static int det_confidence(struct det_parse *p, const char *key, json_t *v)
{
  if (json_is_null(v))
    return 0;
  if (!json_is_number(v) || json_number_value(v) < 0 ||
      json_number_value(v) > 1)
    return errf(p->err, p->errlen, -EINVAL, "fields.%s[%zu].confidence: "
                "expected a number in [0, 1] or null", p->field, p->idx);
  p->d->confidence = json_number_value(v);
  return 0;
}

static int det_iscrowd(struct det_parse *p, const char *key, json_t *v)
{
  if (json_is_boolean(v))
    p->d->iscrowd = json_is_true(v);
  else if (json_is_integer(v) && (json_integer_value(v) == 0 ||
                                  json_integer_value(v) == 1))
    p->d->iscrowd = json_integer_value(v) == 1;
  else
    return errf(p->err, p->errlen, -EINVAL, "fields.%s[%zu].iscrowd: "
                "expected 0 or 1", p->field, p->idx);
  return 0;
}

/* COCO area kept from an import (evaluation's area ranges). */
static int det_area(struct det_parse *p, const char *key, json_t *v)
{
  if (json_is_null(v))
    return 0;
  if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
      json_number_value(v) < 0)
    return errf(p->err, p->errlen, -EINVAL, "fields.%s[%zu].area: expected "
                "a number >= 0 or null", p->field, p->idx);
  p->d->has_area = true;
  p->d->area = json_number_value(v);
  return 0;
}

/* Derived values shown on read (max_iou, max_iou_id); reading a file and
 * writing it back must work, so they are accepted (if numbers) and
 * ignored. */
static int det_derived(struct det_parse *p, const char *key, json_t *v)
{
  if (!json_is_number(v) && !json_is_null(v))
    return errf(p->err, p->errlen, -EINVAL, "fields.%s[%zu].%s: expected a "
                "number", p->field, p->idx, key);
  return 0;
}

static int det_attributes(struct det_parse *p, const char *key, json_t *v)
{
  if (!json_is_object(v))
    return errf(p->err, p->errlen, -EINVAL, "fields.%s[%zu].attributes: "
                "expected an object", p->field, p->idx);
  if (json_object_size(v)) {
    p->d->attributes = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
                                         JSON_ENCODE_ANY);
    if (!p->d->attributes)
      return -ENOMEM;
  }
  return 0;
}

static const struct {
  const char *key;
  int (*parse)(struct det_parse *p, const char *key, json_t *v);
} det_keys[] = {
  { "id", det_id },
  { "label", det_label },
  { "bbox", det_bbox },
  { "confidence", det_confidence },
  { "iscrowd", det_iscrowd },
  { "area", det_area },
  { "max_iou", det_derived },
  { "max_iou_id", det_derived },
  { "attributes", det_attributes },
};

/* A ground-truth box outside the image may stay as it is stored: a COCO
 * import keeps the file's coordinates (pycocotools scores them so), and
 * writing the document back must not fail on a box the user did not
 * touch.  True when `kept` has, in the same field, a box with d's id and
 * exactly its coordinates. */
static bool kept_box(const struct labels *kept, const char *field,
                     const struct detection *d)
{
  const struct label_field *f =
      kept && d->id ? labels_field((struct labels *)kept, field, false)
                    : NULL;

  for (size_t i = 0; f && i < f->n; i++)
    if (f->d[i].id == d->id)
      return f->d[i].x == d->x && f->d[i].y == d->y && f->d[i].w == d->w &&
             f->d[i].h == d->h;
  return false;
}

static int parse_detection(json_t *o, const char *field, size_t idx,
                           uint32_t width, uint32_t height,
                           const struct labels *kept, struct detection *d,
                           char *err, size_t errlen)
{
  struct det_parse p = { d, field, idx, err, errlen, false, false };
  const char *key;
  json_t *v;

  memset(d, 0, sizeof(*d));
  d->confidence = NAN;
  if (!json_is_object(o))
    return errf(err, errlen, -EINVAL, "fields.%s[%zu]: expected an object",
                field, idx);
  json_object_foreach(o, key, v) {
    size_t k = 0;
    int r;
    while (k < ARRAY_SIZE(det_keys) && strcmp(key, det_keys[k].key) != 0)
      k++;
    if (k == ARRAY_SIZE(det_keys))
      return errf(err, errlen, -EINVAL, "fields.%s[%zu]: unknown key \"%s\"",
                  field, idx, key);
    if ((r = det_keys[k].parse(&p, key, v)) < 0)
      return r;
  }
  if (!p.have_label || !p.have_box)
    return errf(err, errlen, -EINVAL, "fields.%s[%zu]: \"label\" and \"bbox\" "
                "are required", field, idx);
  /* Predictions (boxes with a confidence) may reach past the image:
   * that is how detectors report them, and evaluation scores them so.
   * Ground truth must lie inside, unless kept_box() lets it stay. */
  bool finite = isfinite(d->x) && isfinite(d->y) && isfinite(d->w) &&
                isfinite(d->h) && d->w >= 0 && d->h >= 0;
  if (!finite || (isnan(d->confidence) &&
                  !labels_box_inside(d, width, height) &&
                  !kept_box(kept, field, d)))
    return errf(err, errlen, -EINVAL, "fields.%s[%zu].bbox [%g, %g, %g, %g] "
                "is not inside the %ux%u image", field, idx, d->x, d->y, d->w,
                d->h, width, height);
  return 0;
}

static int parse_root(json_t *root, uint32_t width, uint32_t height,
                      const struct labels *kept, struct labels *l, char *err,
                      size_t errlen)
{
  const char *key, *fname;
  json_t *v, *fields = NULL, *arr;

  if (!json_is_object(root))
    return errf(err, errlen, -EINVAL, "expected a JSON object at the top level");
  json_object_foreach(root, key, v) {
    if (strcmp(key, "sample") == 0) {
      if (!json_is_string(v))
        return errf(err, errlen, -EINVAL, "\"sample\": expected a string");
    } else if (strcmp(key, "width") == 0 || strcmp(key, "height") == 0) {
      uint32_t want = key[0] == 'w' ? width : height;
      if (!json_is_integer(v) || json_integer_value(v) != (json_int_t)want)
        return errf(err, errlen, -EINVAL, "\"%s\" is read-only and must be %u", key,
                    want);
    } else if (strcmp(key, "fields") == 0) {
      if (!json_is_object(v))
        return errf(err, errlen, -EINVAL, "\"fields\": expected an object of "
                    "field name -> list of detections");
      fields = v;
    } else {
      return errf(err, errlen, -EINVAL, "unknown key \"%s\" at the top level", key);
    }
  }
  if (!fields)
    return errf(err, errlen, -EINVAL, "\"fields\" is required");
  json_object_foreach(fields, fname, arr) {
    struct label_field *f;
    size_t i;
    json_t *o;

    if (!labels_field_name_valid(fname))
      return errf(err, errlen, -EINVAL, "field name \"%s\" is not valid (1-64 of "
                  "A-Z a-z 0-9 _ . -)", fname);
    if (!json_is_array(arr))
      return errf(err, errlen, -EINVAL, "fields.%s: expected a list of detections",
                  fname);
    f = labels_field(l, fname, true);
    if (!f)
      return -ENOMEM;
    json_array_foreach(arr, i, o) {
      struct detection d;
      int r = parse_detection(o, fname, i, width, height, kept, &d, err,
                              errlen);
      if (r == 0)
        r = labels_field_add(f, &d);
      detection_clear(&d);
      if (r < 0)
        return r;
    }
  }
  /* Label ids must be unique across the whole document. */
  for (size_t a = 0; a < l->n; a++)
    for (size_t i = 0; i < l->f[a].n; i++) {
      uint64_t id = l->f[a].d[i].id;
      if (!id)
        continue;
      for (size_t b = a; b < l->n; b++)
        for (size_t j = (b == a ? i + 1 : 0); j < l->f[b].n; j++)
          if (l->f[b].d[j].id == id)
            return errf(err, errlen, -EINVAL, "label id %llu appears twice",
                        (unsigned long long)id);
    }
  return 0;
}

int labels_from_json(const char *text, size_t len, uint32_t width,
                     uint32_t height, struct labels *ret, char *err,
                     size_t errlen)
{
  return labels_from_json_kept(text, len, width, height, NULL, ret, err,
                               errlen);
}

int labels_from_json_kept(const char *text, size_t len, uint32_t width,
                          uint32_t height, const struct labels *kept,
                          struct labels *ret, char *err, size_t errlen)
{
  json_error_t jerr;
  char jt[160];
  json_t *root;
  int r;

  labels_init(ret);
  err[0] = '\0';
  if (len > LABELS_MAX_JSON)
    return errf(err, errlen, -EINVAL, "document larger than %u bytes", LABELS_MAX_JSON);
  root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    /* jansson reports running out of input as its own error code; the
     * writer may simply not have sent the rest yet. */
    if (json_error_code(&jerr) == json_error_premature_end_of_input) {
      errf(err, errlen, -EINVAL, "incomplete JSON: the document ends early");
      return -ENODATA;
    }
    errf(err, errlen, -EINVAL, "malformed JSON at line %d column %d: %s", jerr.line,
         jerr.column, json_err_text(jerr.text, jt, sizeof(jt)));
    return -EBADMSG;
  }
  r = parse_root(root, width, height, kept, ret, err, errlen);
  json_decref(root);
  if (r < 0)
    labels_free(ret);
  if (r == -ENOMEM)
    errf(err, errlen, -EINVAL, "out of memory");
  return r;
}
