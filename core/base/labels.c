/* labels.c - the label model and its binary store encoding.
 * JSON lives in labels_json.c; the store tables in store_labels.c. */
#include "labels.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Version 1: no areas.  Version 2 (written only when some box of the field
 * has an area, so stores without areas keep byte-identical records that
 * older readers open): flag bit 2 = an f64 area follows the flags. */
#define LABELS_CODEC_VERSION 1
#define LABELS_CODEC_VERSION_AREA 2

void labels_init(struct labels *l)
{
  memset(l, 0, sizeof(*l));
}

void detection_clear(struct detection *d)
{
  free(d->label);
  free(d->attributes);
  d->label = NULL;
  d->attributes = NULL;
}

static bool str_same(const char *a, const char *b)
{
  return a == b || (a && b && strcmp(a, b) == 0);
}

/* Whether two boxes say the same thing (the id aside).  A class is
 * compared by id when both are resolved, else by name. */
static bool detection_same(const struct detection *a,
                           const struct detection *b)
{
  bool cls = a->class_id && b->class_id ? a->class_id == b->class_id
                                        : a->label && b->label &&
                                              strcmp(a->label, b->label) == 0;
  bool conf = (isnan(a->confidence) && isnan(b->confidence)) ||
              a->confidence == b->confidence;

  return cls && conf && a->x == b->x && a->y == b->y && a->w == b->w &&
         a->h == b->h && a->iscrowd == b->iscrowd &&
         a->has_area == b->has_area && (!a->has_area || a->area == b->area) &&
         str_same(a->attributes, b->attributes);
}

bool labels_field_adopt_ids(const struct label_field *old,
                            struct label_field *nw)
{
  bool same = old && old->n == nw->n;
  bool *taken;

  if (!old || !old->n)
    return same;
  /* Out of memory: no ids adopted, which is only less stable. */
  taken = calloc(old->n, sizeof(*taken));
  if (!taken)
    return false;
  for (size_t i = 0; i < old->n; i++)
    if (!old->d[i].id)
      taken[i] = true;   /* never stored: nothing to keep */
  /* Boxes in place first (the common re-import), then anywhere. */
  for (size_t i = 0; i < nw->n && i < old->n; i++)
    if (!nw->d[i].id && !taken[i] && detection_same(&old->d[i], &nw->d[i])) {
      nw->d[i].id = old->d[i].id;
      taken[i] = true;
    }
  for (size_t i = 0; i < nw->n; i++) {
    if (same && (!old->d[i].id || nw->d[i].id != old->d[i].id))
      same = false;
    for (size_t j = 0; !nw->d[i].id && j < old->n; j++)
      if (!taken[j] && detection_same(&old->d[j], &nw->d[i])) {
        nw->d[i].id = old->d[j].id;
        taken[j] = true;
      }
  }
  free(taken);
  return same;
}

void labels_field_clear(struct label_field *f)
{
  for (size_t i = 0; i < f->n; i++)
    detection_clear(&f->d[i]);
  free(f->d);
  f->d = NULL;
  f->n = f->cap = 0;
}

static void field_free(struct label_field *f)
{
  labels_field_clear(f);
  free(f->name);
  memset(f, 0, sizeof(*f));
}

void labels_free(struct labels *l)
{
  for (size_t i = 0; i < l->n; i++)
    field_free(&l->f[i]);
  free(l->f);
  memset(l, 0, sizeof(*l));
}

struct label_field *labels_field(struct labels *l, const char *name,
                                 bool create)
{
  struct label_field *f;

  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->f[i].name, name) == 0)
      return &l->f[i];
  if (!create)
    return NULL;
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 4;
    struct label_field *p = realloc(l->f, ncap * sizeof(*p));
    if (!p)
      return NULL;
    l->f = p;
    l->cap = ncap;
  }
  f = &l->f[l->n];
  memset(f, 0, sizeof(*f));
  f->name = strdup(name);
  if (!f->name)
    return NULL;
  l->n++;
  return f;
}

struct label_field *labels_field_replace(struct labels *l, const char *name,
                                         struct label_field *src)
{
  struct label_field *dst = labels_field(l, name, true);

  if (!dst)
    return NULL;
  labels_field_clear(dst);
  dst->d = src->d;
  dst->n = src->n;
  dst->cap = src->cap;
  src->d = NULL;
  src->n = src->cap = 0;
  return dst;
}

static int field_grow(struct label_field *f)
{
  if (f->n == f->cap) {
    size_t ncap = f->cap ? f->cap * 2 : 8;
    struct detection *p = realloc(f->d, ncap * sizeof(*p));
    if (!p)
      return -ENOMEM;
    f->d = p;
    f->cap = ncap;
  }
  return 0;
}

int labels_field_add(struct label_field *f, const struct detection *d)
{
  struct detection *n;
  int r = field_grow(f);

  if (r < 0)
    return r;
  n = &f->d[f->n];
  *n = *d;
  n->label = d->label ? strdup(d->label) : NULL;
  n->attributes = d->attributes ? strdup(d->attributes) : NULL;
  if ((d->label && !n->label) || (d->attributes && !n->attributes)) {
    detection_clear(n);
    return -ENOMEM;
  }
  f->n++;
  return 0;
}

bool labels_field_name_valid(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > LABELS_MAX_FIELD_NAME)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

/* The old rule, without the encoding check: enough to look a name up. */
bool labels_class_key_valid(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > LABELS_MAX_CLASS_NAME)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return false;
  return true;
}

bool labels_utf8_valid(const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s, *e = p + n;

  while (p < e) {
    unsigned c = *p++, need, min;
    uint32_t cp;

    if (c < 0x80)
      continue;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return false;   /* a continuation byte first, or 0xc0/0xc1/0xf5+ */
    }
    if ((size_t)(e - p) < need)
      return false;
    for (unsigned i = 0; i < need; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    p += need;
    /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are
     * refused by JSON parsers (and by CVAT), so by us too. */
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
      return false;
  }
  return true;
}

bool labels_class_name_valid(const char *name)
{
  /* Names end up in JSON (label documents, COCO, CVAT labels) and in YAML
   * and XML exports, all of which need valid UTF-8. */
  return labels_class_key_valid(name) &&
         labels_utf8_valid(name, strlen(name));
}

bool labels_box_clip(const struct detection *d, uint32_t width,
                     uint32_t height, struct detection *ret)
{
  double x2 = fmin(d->x + d->w, width), y2 = fmin(d->y + d->h, height);
  bool empty_before = !(d->w > 0 && d->h > 0);

  *ret = *d;
  if (!width || !height)
    return true;   /* size unknown: nothing to clip to */
  ret->x = fmax(0, fmin(d->x, width));
  ret->y = fmax(0, fmin(d->y, height));
  ret->w = fmax(0, x2 - ret->x);
  ret->h = fmax(0, y2 - ret->y);
  /* An empty box (a point or a line) stays when it touches the image; one
   * lying wholly outside has no part inside either. */
  if (empty_before)
    return d->x <= width && d->x + d->w >= 0 && d->y <= height &&
           d->y + d->h >= 0;
  return ret->w > 0 && ret->h > 0;
}

bool labels_box_inside(const struct detection *d, uint32_t width,
                       uint32_t height)
{
  /* A little slack absorbs float noise from tools that convert relative
   * coordinates back to pixels. */
  const double eps = 1e-6;

  if (!isfinite(d->x) || !isfinite(d->y) || !isfinite(d->w) ||
      !isfinite(d->h))
    return false;
  if (d->w < 0 || d->h < 0 || d->x < -eps || d->y < -eps)
    return false;
  return d->x + d->w <= (double)width + eps &&
         d->y + d->h <= (double)height + eps;
}

/* Record layout (little-endian, packed, see docs/STORE-FORMAT.md):
 *   u8 version, u32 count, then per detection:
 *   u64 id, u32 class_id, f64 x, y, w, h, f64 confidence, u8 flags
 *   (bit 0 iscrowd, bit 1 has confidence, bit 2 has area: version 2
 *   only), [f64 area if bit 2], u32 attr_len, attr bytes. */
#define DET_FIXED (8 + 4 + 8 * 5 + 1 + 4)

int labels_field_encode(const struct label_field *f, struct buf *out)
{
  uint8_t v = LABELS_CODEC_VERSION;
  uint32_t cnt = (uint32_t)f->n;
  int r;

  for (size_t i = 0; i < f->n; i++)
    if (f->d[i].has_area)
      v = LABELS_CODEC_VERSION_AREA;

  r = buf_append(out, &v, 1);
  if (r == 0)
    r = buf_append(out, &cnt, 4);
  for (size_t i = 0; r == 0 && i < f->n; i++) {
    const struct detection *d = &f->d[i];
    uint8_t rec[DET_FIXED], *p = rec;
    uint8_t flags = (d->iscrowd ? 1 : 0) | (isnan(d->confidence) ? 0 : 2) |
                    (d->has_area ? 4 : 0);
    uint32_t alen = d->attributes ? (uint32_t)strlen(d->attributes) : 0;
    double conf = isnan(d->confidence) ? 0.0 : d->confidence;

    memcpy(p, &d->id, 8); p += 8;
    memcpy(p, &d->class_id, 4); p += 4;
    memcpy(p, &d->x, 8); p += 8;
    memcpy(p, &d->y, 8); p += 8;
    memcpy(p, &d->w, 8); p += 8;
    memcpy(p, &d->h, 8); p += 8;
    memcpy(p, &conf, 8); p += 8;
    *p++ = flags;
    if (d->has_area) {
      /* The area sits between the flags and the attribute length. */
      r = buf_append(out, rec, (size_t)(p - rec));
      r = r ? r : buf_append(out, &d->area, 8);
      r = r ? r : buf_append(out, &alen, 4);
    } else {
      memcpy(p, &alen, 4);
      r = buf_append(out, rec, sizeof(rec));
    }
    if (r == 0 && alen)
      r = buf_append(out, d->attributes, alen);
  }
  return r;
}

int labels_field_decode(const void *data, size_t n, struct label_field *f)
{
  const uint8_t *p = data, *end = p + n;
  uint32_t cnt;
  int r;

  if (n < 5 || (p[0] != LABELS_CODEC_VERSION &&
                p[0] != LABELS_CODEC_VERSION_AREA))
    return -EBADMSG;
  bool v2 = p[0] == LABELS_CODEC_VERSION_AREA;
  memcpy(&cnt, p + 1, 4);
  p += 5;
  /* A corrupt count must not drive the allocation: each detection takes
   * at least DET_FIXED bytes of the record. */
  if (cnt > (n - 5) / DET_FIXED)
    return -EBADMSG;
  for (uint32_t i = 0; i < cnt; i++) {
    struct detection *d;
    uint32_t alen;
    uint8_t flags;

    if ((size_t)(end - p) < DET_FIXED)
      return -EBADMSG;
    r = field_grow(f);
    if (r < 0)
      return r;
    d = &f->d[f->n];
    memset(d, 0, sizeof(*d));
    memcpy(&d->id, p, 8); p += 8;
    memcpy(&d->class_id, p, 4); p += 4;
    memcpy(&d->x, p, 8); p += 8;
    memcpy(&d->y, p, 8); p += 8;
    memcpy(&d->w, p, 8); p += 8;
    memcpy(&d->h, p, 8); p += 8;
    memcpy(&d->confidence, p, 8); p += 8;
    flags = *p++;
    if (flags & 4) {
      if (!v2 || (size_t)(end - p) < 8 + 4)
        return -EBADMSG;
      memcpy(&d->area, p, 8); p += 8;
      d->has_area = true;
    }
    memcpy(&alen, p, 4); p += 4;
    if ((size_t)(end - p) < alen)
      return -EBADMSG;
    /* Writers store finite numbers, flag bits 0-2 (2 only in version 2,
     * checked above) and NUL-free text, so anything else is damage; NaN
     * coordinates would poison every reader. */
    if (!isfinite(d->x) || !isfinite(d->y) || !isfinite(d->w) ||
        !isfinite(d->h) || flags > 7 ||
        (d->has_area && !(isfinite(d->area) && d->area >= 0)) ||
        (alen && memchr(p, 0, alen)))
      return -EBADMSG;
    d->iscrowd = flags & 1;
    if (!(flags & 2))
      d->confidence = NAN;
    if (alen) {
      d->attributes = strndup((const char *)p, alen);
      if (!d->attributes)
        return -ENOMEM;
      p += alen;
    }
    f->n++;
  }
  return p == end ? 0 : -EBADMSG;
}
