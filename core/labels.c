/* labels.c - the label model and its binary store encoding.
 * JSON lives in labels_json.c; the store tables in store.c. */
#include "labels.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LABELS_CODEC_VERSION 1

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

static void field_free(struct label_field *f)
{
  for (size_t i = 0; i < f->n; i++)
    detection_clear(&f->d[i]);
  free(f->d);
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

bool labels_class_name_valid(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > LABELS_MAX_CLASS_NAME)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return false;
  return true;
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
 *   (bit 0 iscrowd, bit 1 has confidence), u32 attr_len, attr bytes. */
#define DET_FIXED (8 + 4 + 8 * 5 + 1 + 4)

int labels_field_encode(const struct label_field *f, struct buf *out)
{
  uint8_t v = LABELS_CODEC_VERSION;
  uint32_t cnt = (uint32_t)f->n;
  int r;

  r = buf_append(out, &v, 1);
  if (r == 0)
    r = buf_append(out, &cnt, 4);
  for (size_t i = 0; r == 0 && i < f->n; i++) {
    const struct detection *d = &f->d[i];
    uint8_t rec[DET_FIXED], *p = rec;
    uint8_t flags = (d->iscrowd ? 1 : 0) | (isnan(d->confidence) ? 0 : 2);
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
    memcpy(p, &alen, 4);
    r = buf_append(out, rec, sizeof(rec));
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

  if (n < 5 || p[0] != LABELS_CODEC_VERSION)
    return -EBADMSG;
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
    memcpy(&alen, p, 4); p += 4;
    if ((size_t)(end - p) < alen)
      return -EBADMSG;
    /* Writers store finite numbers, flag bits 0-1 and NUL-free text, so
     * anything else is damage; NaN coordinates would poison every reader. */
    if (!isfinite(d->x) || !isfinite(d->y) || !isfinite(d->w) ||
        !isfinite(d->h) || flags > 3 || (alen && memchr(p, 0, alen)))
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
