/* export_writer.c - what every export format shares (export_writer.h):
 * the walk over the selected samples with their train/val/test subset,
 * the streaming output buffer with its number and string writers, the
 * entry and path helpers of the format trees, and a scanner over stored
 * attribute objects.
 *
 * It sits below the per-format files (export_coco.c, export_yolo.c,
 * export_voc.c, export_imagenet.c) and knows no format's layout; export.c
 * sits above them all.  It never holds a generated file whole: writers
 * append to a small buffer that is handed to the sink every EXW_FLUSH
 * bytes. */
#include "export_writer.h"

#include "imgcodec.h"
#include "imgfmt.h"
#include "import.h"
#include "names.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const exw_subset_names[SUB_N] = { "train", "val", "test",
                                               "default" };
static const char *const default_tags[3] = { "train", "val", "test" };

/* ---- context and selection ---- */

int exw_init(struct exw *x, struct store_txn *t,
             const struct export_spec *s)
{
  memset(x, 0, sizeof(*x));
  x->t = t;
  x->s = s;
  x->field = s->field ? s->field : "ground_truth";
  /* Writers stay far below this: the buffer is flushed at EXW_FLUSH. */
  buf_init(&x->b, 64u << 20);
  if ((unsigned)s->fmt > EXPORT_IMAGENET ||
      (unsigned)s->frame > IMG_FRAME_VIEWER || (s->n_ids && !s->ids) ||
      !labels_field_name_valid(x->field))
    return -EINVAL;
  for (int i = 0; i < 3; i++) {
    const char *name = s->subset_tags[i] ? s->subset_tags[i] : default_tags[i];
    int r = store_tag_lookup(t, name, &x->tag[i]);
    if (r < 0 && r != -ENOENT)
      return r;   /* -ENOENT: no such tag, an empty subset */
  }
  return 0;
}

int exw_turn(const struct exw *x, const struct sample *smp)
{
  /* AUTO: each format's usual reader (export.h) */
  bool viewer_auto = x->s->fmt == EXPORT_YOLO || x->s->fmt == EXPORT_IMAGENET;

  return img_frame_turn(x->s->frame, viewer_auto, smp->orientation);
}

void exw_turned_size(int turn, const struct sample *smp, uint32_t *w,
                     uint32_t *h)
{
  bool swap = turn >= 5 && turn <= 8;

  *w = swap ? smp->height : smp->width;
  *h = swap ? smp->width : smp->height;
}

void exw_turn_box(int turn, const struct sample *smp, struct detection *d)
{
  double b[4] = { d->x, d->y, d->x + d->w, d->y + d->h };
  bool swap = turn >= 5;
  double w = fabs(swap ? d->h : d->w), h = fabs(swap ? d->w : d->h);

  if (turn < 2 || turn > 8)
    return;   /* bit for bit: no round trip through the corners */
  img_orient_box(turn, smp->width, smp->height, true, b);
  d->x = b[0];
  d->y = b[1];
  /* A turn moves the box and does not resize it: its size is the stored
   * one (swapped for 5..8) exactly, where the difference of two turned
   * corners carries their rounding (30.30000000000001 for 30.3). */
  d->w = w;
  d->h = h;
}

/* Loads the members of the subset tags for a walk over many samples. */
static int load_members(struct exw *x)
{
  struct store_iter *it = NULL;
  int r = 0;

  if (x->loaded)
    return 0;
  for (int i = 0; i < 3 && r == 0; i++) {
    uint64_t next = 1, id;
    size_t cap = 0;

    if (!x->tag[i])
      continue;
    if (!it && (r = store_iter_new(x->t, &it)) < 0)
      break;
    while ((r = store_iter_tag(it, x->tag[i], next, &id)) == 0) {
      if (x->nmem[i] == cap) {
        size_t nc = cap ? cap * 2 : 256;
        uint64_t *p = realloc(x->mem[i], nc * sizeof(*p));
        if (!p) {
          r = -ENOMEM;
          break;
        }
        x->mem[i] = p;
        cap = nc;
      }
      x->mem[i][x->nmem[i]++] = id;
      next = id + 1;
    }
    if (r == -ENOENT)
      r = 0;
  }
  store_iter_free(it);
  x->loaded = r == 0;
  return r;
}

void exw_done(struct exw *x)
{
  for (int i = 0; i < 3; i++) {
    free(x->mem[i]);
    x->mem[i] = NULL;
    x->nmem[i] = 0;
  }
  buf_free(&x->b);
}

static bool has_id(const uint64_t *v, size_t n, uint64_t id)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] < id)
      lo = mid + 1;
    else if (v[mid] > id)
      hi = mid;
    else
      return true;
  }
  return false;
}

/* Subset of a selected sample (SUB_*): the first subset tag it has. */
static int subset_of(struct exw *x, uint64_t id)
{
  for (int i = 0; i < 3; i++) {
    if (!x->tag[i])
      continue;
    if (x->loaded ? has_id(x->mem[i], x->nmem[i], id)
                  : store_tag_has(x->t, x->tag[i], id) == 1)
      return i;
  }
  return SUB_DEFAULT;
}

int exw_subset_parse(const char *name, size_t n)
{
  for (int i = 0; i < SUB_N; i++)
    if (strlen(exw_subset_names[i]) == n &&
        memcmp(exw_subset_names[i], name, n) == 0)
      return i;
  return -1;
}

int exw_each(struct exw *x, int sub, exw_sample_fn fn, void *ud)
{
  struct sample smp;
  int r = load_members(x);

  if (r < 0)
    return r;

  if (x->s->ids) {
    for (size_t i = 0; i < x->s->n_ids && r == 0; i++) {
      int sb;
      if (i && x->s->ids[i] == x->s->ids[i - 1])
        continue;
      r = store_sample_get(x->t, x->s->ids[i], &smp);
      if (r == -ENOENT) {
        r = 0;
        continue;
      }
      if (r < 0 || (smp.flags & SAMPLE_MISSING))
        continue;
      sb = subset_of(x, smp.id);
      if (sub < 0 || sb == sub)
        r = fn(x, &smp, sb, ud);
    }
    return r;
  }
  struct store_iter *it;
  uint64_t next = 1;
  int fr = 0;
  r = store_iter_new(x->t, &it);
  if (r < 0)
    return r;
  while ((r = store_iter_samples(it, next, &smp)) == 0) {
    int sb;
    next = smp.id + 1;
    if (smp.flags & SAMPLE_MISSING)
      continue;
    sb = subset_of(x, smp.id);
    if ((sub < 0 || sb == sub) && (fr = fn(x, &smp, sb, ud)) != 0)
      break;
  }
  store_iter_free(it);
  /* fn's error as it is: an -ENOENT of fn (a source file gone) is no end
   * of the walk, which `curate export` took for a complete tree */
  return fr ? fr : r == -ENOENT ? 0 : r;
}

struct present_ctx {
  bool *present;
  int n;
};

static int mark_present(struct exw *x, const struct sample *smp, int sub,
                        void *ud)
{
  struct present_ctx *p = ud;
  (void)x;
  (void)smp;
  if (!p->present[sub]) {
    p->present[sub] = true;
    if (++p->n == SUB_N)
      return 1;   /* every subset seen: stop early */
  }
  return 0;
}

int exw_subsets(struct exw *x, bool present[SUB_N])
{
  struct present_ctx p = { present, 0 };
  int r;

  memset(present, 0, SUB_N * sizeof(bool));
  r = exw_each(x, -1, mark_present, &p);
  return r < 0 ? r : 0;
}

static int stop_first(struct exw *x, const struct sample *smp, int sub,
                      void *ud)
{
  (void)x;
  (void)smp;
  (void)sub;
  (void)ud;
  return 1;
}

int exw_has_subset(struct exw *x, int sub)
{
  int r;

  if (sub < 0)
    return 0;
  r = exw_each(x, sub, stop_first, NULL);
  return r < 0 ? r : r == 1;
}

int exw_sample_file(struct exw *x, const char *file, const char *ext,
                    struct sample *smp, int *sub)
{
  char name[256];
  const char *dot = strrchr(file, '.');
  int r;

  if (ext) {
    r = name_strip_ext(file, ext, name, sizeof(name));
  } else if (dot && (size_t)(dot - file) < sizeof(name)) {
    memcpy(name, file, (size_t)(dot - file));
    name[dot - file] = '\0';
    r = 0;
  } else {
    r = -ENOENT;
  }
  if (r < 0)
    return -ENOENT;
  r = store_sample_by_name(x->t, name, smp);
  if (r < 0)
    return r;
  if (!ext && strcmp(dot, img_ext_of(exw_image_format(x, smp->format))) != 0)
    return -ENOENT;
  if ((smp->flags & SAMPLE_MISSING) ||
      (x->s->ids && !has_id(x->s->ids, x->s->n_ids, smp->id)))
    return -ENOENT;
  *sub = subset_of(x, smp->id);
  return 0;
}

const struct label_field *exw_labels(struct exw *x, uint64_t id,
                                     struct labels *l)
{
  if (store_labels_get(x->t, id, l) < 0)
    return NULL;
  return labels_field(l, x->field, false);
}

/* ---- image files ---- */

enum img_format exw_image_format(const struct exw *x, enum img_format f)
{
  if (x->s->fmt == EXPORT_VOC)
    return IMG_JPEG;
  if (x->s->fmt == EXPORT_YOLO && f == IMG_GIF)
    return IMG_PNG;
  return f;
}

/* JPEG quality of converted pictures: the highest, so the conversion
 * loses as little as a JPEG can. */
#define EXW_JPEG_QUALITY 100

void exw_image_mark(const struct exw *x, const struct sample *smp,
                    struct export_ent *e)
{
  enum img_format to = exw_image_format(x, smp->format);

  if (to == smp->format) {
    e->sample_id = smp->id;
    return;
  }
  e->shows = smp->id;
  e->version = exw_mix(exw_mix(exw_source_hash(x, smp), (uint64_t)to),
                       EXW_JPEG_QUALITY);
  if (!e->version)
    e->version = 1;   /* 0 means "depends on the whole selection" */
}

int exw_open_source(struct exw *x, const struct sample *smp, int *fd)
{
  char *root = NULL;
  int r;

  *fd = -1;
  if (x->s->open_source)
    return x->s->open_source(x->s->source_ud, smp, fd);
  r = store_setting_get(x->t, "root", &root);
  if (r == 0 && (r = import_open_current(root, smp)) >= 0) {
    *fd = r;
    r = 0;
  }
  free(root);
  return r;
}

int exw_gen_image(struct exw *x, const struct sample *smp)
{
  enum img_format to = exw_image_format(x, smp->format);
  uint8_t *data = NULL, *out = NULL;
  size_t len = 0, olen = 0;
  int fd = -1, r = to == smp->format ? -ENOENT : 0;

  r = r ? r : exw_open_source(x, smp, &fd);
  r = r ? r : fd_read_all(fd, &data, &len);
  if (fd >= 0)
    close(fd);
  r = r ? r : img_convert(data, len, exw_turn(x, smp), to, EXW_JPEG_QUALITY,
                          &out, &olen);
  r = r ? r : exw_put(x, (const char *)out, olen);
  free(out);
  free(data);
  return r;
}

/* ---- versions ---- */

uint64_t exw_mix(uint64_t h, uint64_t v)
{
  return (h ^ v) * 0x9E3779B97F4A7C15ULL;
}

uint64_t exw_mix_str(uint64_t h, const char *s)
{
  for (; s && *s; s++)
    h = exw_mix(h, (uint8_t)*s);
  return exw_mix(h, 0x100);  /* the end: "ab"+"c" differs from "a"+"bc" */
}

uint64_t exw_mix_double(uint64_t h, double v)
{
  uint64_t u;

  memcpy(&u, &v, sizeof(u));
  return exw_mix(h, u);
}

uint64_t exw_source_hash(const struct exw *x, const struct sample *smp)
{
  uint64_t h = 1469598103934665603ULL;

  h = exw_mix(h, smp->id);
  h = exw_mix(h, smp->size);
  h = exw_mix(h, (uint64_t)smp->mtime_ns);
  h = exw_mix(h, ((uint64_t)smp->width << 32) | smp->height);
  h = exw_mix_str(h, smp->relpath);
  return exw_mix(h, (uint64_t)exw_turn(x, smp));
}

/* ---- entries and paths ---- */

int exw_ent(struct export_ent *e, const char *name, bool dir,
            uint64_t sample_id, uint64_t label_id)
{
  size_t n = strlen(name);

  memset(e, 0, sizeof(*e));
  if (n >= sizeof(e->name))
    return -ENAMETOOLONG;
  memcpy(e->name, name, n + 1);
  e->dir = dir;
  e->sample_id = sample_id;
  e->label_id = label_id;
  return 0;
}

int exw_ent2(struct export_ent *e, const char *name, const char *ext)
{
  char tmp[sizeof(e->name)];
  int n = snprintf(tmp, sizeof(tmp), "%s%s", name, ext);

  if (n < 0 || (size_t)n >= sizeof(tmp))
    return -ENAMETOOLONG;
  return exw_ent(e, tmp, false, 0, 0);
}

int exw_split(const char *path, char *head, size_t hlen, const char **rest)
{
  const char *sl = strchr(path, '/');
  size_t n = sl ? (size_t)(sl - path) : strlen(path);

  if (n == 0 || n >= hlen)
    return -ENOENT;
  memcpy(head, path, n);
  head[n] = '\0';
  *rest = sl ? sl + 1 : "";
  if (sl && !**rest)
    return -ENOENT;   /* "a/" */
  return 0;
}

void exw_class_dir(const char *cls, char *out, size_t outlen)
{
  size_t o = 0;

  if (strcmp(cls, ".") == 0 || strcmp(cls, "..") == 0) {
    snprintf(out, outlen, "%s", cls[1] ? "%2E%2E" : "%2E");
    return;
  }
  for (const char *p = cls; *p && o + 4 < outlen; p++) {
    if (*p == '/' || *p == '%') {
      snprintf(out + o, outlen - o, "%%%02X", (unsigned char)*p);
      o += 3;
    } else {
      out[o++] = *p;
    }
  }
  out[o] = '\0';
}

struct list_ctx {
  const char *ext;
  bool image;
  int (*fn)(const struct export_ent *, void *);
  void *ud;
};

static int list_one(struct exw *x, const struct sample *smp, int sub,
                    void *ud)
{
  struct list_ctx *c = ud;
  struct export_ent e;
  int r = exw_ent2(&e, smp->name,
                   c->ext ? c->ext
                          : img_ext_of(exw_image_format(x, smp->format)));

  (void)sub;
  if (r < 0)
    return 0;   /* cannot happen: names are at most ~220 bytes */
  if (c->image)
    exw_image_mark(x, smp, &e);
  return c->fn(&e, c->ud);
}

int exw_list_samples(struct exw *x, int sub, const char *ext, bool image,
                     int (*fn)(const struct export_ent *, void *), void *ud)
{
  struct list_ctx c = { ext, image, fn, ud };
  return exw_each(x, sub, list_one, &c);
}

int exw_list_subsets(struct exw *x, const char *prefix, const char *suffix,
                     bool dir, int (*fn)(const struct export_ent *, void *),
                     void *ud)
{
  bool present[SUB_N];
  int r = exw_subsets(x, present);

  for (int i = 0; r == 0 && i < SUB_N; i++) {
    struct export_ent e;
    char name[64];
    if (!present[i])
      continue;
    snprintf(name, sizeof(name), "%s%s%s", prefix, exw_subset_names[i],
             suffix);
    exw_ent(&e, name, dir, 0, 0);
    r = fn(&e, ud);
  }
  return r;
}

int exw_list_fixed(const struct export_ent *ents, size_t n,
                   int (*fn)(const struct export_ent *, void *), void *ud)
{
  int r = 0;

  for (size_t i = 0; r == 0 && i < n; i++)
    r = fn(&ents[i], ud);
  return r;
}

/* ---- output ---- */

int exw_flush(struct exw *x)
{
  int r = 0;

  if (x->b.len && x->out)
    r = x->out->write(x->out->ud, x->b.data, x->b.len);
  x->total += (int64_t)x->b.len;
  x->b.len = 0;
  return r;
}

int exw_room(struct exw *x, size_t n)
{
  if (x->b.len >= EXW_FLUSH) {
    int r = exw_flush(x);
    if (r < 0)
      return r;
  }
  return buf_reserve(&x->b, n);
}

int exw_put(struct exw *x, const char *p, size_t n)
{
  int r = exw_room(x, n);

  if (r < 0)
    return r;
  exw_raw(x, p, n);
  return 0;
}

int exw_puts(struct exw *x, const char *s)
{
  return exw_put(x, s, strlen(s));
}

static size_t fmt_u64(char *out, uint64_t v)
{
  char tmp[20];
  size_t n = 0;

  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

int exw_u64(struct exw *x, uint64_t v)
{
  int r = exw_room(x, 20);

  if (r < 0)
    return r;
  x->b.len += fmt_u64(x->b.data + x->b.len, v);
  return 0;
}

static const double pow10_tab[] = {
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
  1e14, 1e15, 1e16, 1e17 };

/* Shortest decimal that reads back to exactly v.  Fast path: the fewest
 * decimals k for which m = round(|v| * 10^k) satisfies m / 10^k == |v|.
 * Both m (< 2^53) and 10^k (k <= 17... exact up to 1e22) are exact
 * doubles and IEEE division rounds correctly, so this is precisely the
 * test strtod("m * 10^-k") == v; the first k that passes has the fewest
 * significant digits.  Pixel coordinates with a few decimals take one to
 * three rounds of a multiply and a divide instead of printf + strtod. */
static size_t fmt_num(char *out, double v)
{
  double a = fabs(v);
  char digs[24];

  if (v == 0) {
    out[0] = '0';
    return 1;
  }
  for (int k = 0; k < (int)ARRAY_SIZE(pow10_tab); k++) {
    double m = nearbyint(a * pow10_tab[k]);
    size_t nd, o = 0;

    if (m >= 9007199254740992.0)
      break;
    if (m / pow10_tab[k] != a)
      continue;
    if (v < 0)
      out[o++] = '-';
    nd = fmt_u64(digs, (uint64_t)m);
    if (k == 0) {
      memcpy(out + o, digs, nd);
      return o + nd;
    }
    if (nd <= (size_t)k) {
      out[o++] = '0';
      out[o++] = '.';
      for (size_t z = nd; z < (size_t)k; z++)
        out[o++] = '0';
      memcpy(out + o, digs, nd);
      return o + nd;
    }
    memcpy(out + o, digs, nd - (size_t)k);
    o += nd - (size_t)k;
    out[o++] = '.';
    memcpy(out + o, digs + nd - (size_t)k, (size_t)k);
    return o + (size_t)k;
  }
  /* What the fast path cannot write (tiny or huge magnitudes, more than
   * 17 decimals): tries from 15 digits, as exports always had. */
  return fmt_double_shortest(out, v, 15);
}

int exw_num(struct exw *x, double v)
{
  int r = exw_room(x, 40);

  if (r < 0)
    return r;
  if (!isfinite(v)) {
    EXW_LIT(x, "null");
    return 0;
  }
  x->b.len += fmt_num(x->b.data + x->b.len, v);
  return 0;
}

int exw_json_str(struct exw *x, const char *s)
{
  int r = exw_room(x, 0);

  return r < 0 ? r : buf_json_str(&x->b, s, strlen(s));
}

int exw_xml_str(struct exw *x, const char *s)
{
  int r = 0;

  for (const char *p = s; *p && r == 0; p++) {
    switch (*p) {
    case '&': r = exw_put(x, "&amp;", 5); break;
    case '<': r = exw_put(x, "&lt;", 4); break;
    case '>': r = exw_put(x, "&gt;", 4); break;
    case '"': r = exw_put(x, "&quot;", 6); break;
    default: r = exw_put(x, p, 1); break;
    }
  }
  return r;
}

int exw_printf(struct exw *x, const char *fmt, ...)
{
  va_list ap;
  int r = exw_room(x, 0);

  if (r < 0)
    return r;
  va_start(ap, fmt);
  char tmp[512];
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0)
    return -EINVAL;
  if ((size_t)n < sizeof(tmp))
    return exw_put(x, tmp, (size_t)n);
  /* Long output (not used by the writers, but keep it correct). */
  char *big = malloc((size_t)n + 1);
  if (!big)
    return -ENOMEM;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  r = exw_put(x, big, (size_t)n);
  free(big);
  return r;
}

/* ---- attribute objects ---- */

void exw_attr_init(struct exw_attr_iter *it, const char *obj)
{
  it->p = obj ? obj : "";
  it->end = it->p + strlen(it->p);
  while (it->p < it->end && (*it->p == ' ' || *it->p == '\n'))
    it->p++;
  if (it->p < it->end && *it->p == '{')
    it->p++;
  else
    it->p = it->end;
}

static const char *skip_ws(const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

static const char *skip_string(const char *p, const char *end)
{
  /* p at the opening quote; returns the byte after the closing one. */
  for (p++; p < end; p++) {
    if (*p == '\\')
      p++;
    else if (*p == '"')
      return p + 1;
  }
  return NULL;
}

static const char *skip_value(const char *p, const char *end)
{
  int depth = 0;

  while (p < end) {
    char c = *p;
    if (c == '"') {
      p = skip_string(p, end);
      if (!p)
        return NULL;
      if (depth == 0)
        return p;
      continue;
    }
    if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (depth == 0)
        return p;
      if (--depth == 0)
        return p + 1;
    } else if (c == ',' && depth == 0) {
      return p;
    }
    p++;
  }
  return depth ? NULL : p;
}

int exw_attr_next(struct exw_attr_iter *it, const char **key, size_t *klen,
                  const char **val, size_t *vlen)
{
  const char *p = skip_ws(it->p, it->end), *q;

  if (p < it->end && *p == ',')
    p = skip_ws(p + 1, it->end);
  if (p >= it->end || *p == '}') {
    it->p = it->end;
    return 0;
  }
  if (*p != '"' || !(q = skip_string(p, it->end)))
    return -EBADMSG;
  *key = p;
  *klen = (size_t)(q - p);
  p = skip_ws(q, it->end);
  if (p >= it->end || *p != ':')
    return -EBADMSG;
  p = skip_ws(p + 1, it->end);
  q = skip_value(p, it->end);
  if (!q || q == p)
    return -EBADMSG;
  while (q > p && (q[-1] == ' ' || q[-1] == '\n'))
    q--;
  *val = p;
  *vlen = (size_t)(q - p);
  it->p = q;
  return 1;
}
