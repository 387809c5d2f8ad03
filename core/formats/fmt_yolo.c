/* fmt_yolo.c - YOLO labels into a field (see labelimport.h).
 *
 * Class list: data.yaml's `names` (a block or inline list, or a block or
 * inline map "index: name"), else obj.names (darknet, CVAT "YOLO 1.1"),
 * one name per line.  Label files: every *.txt under a `labels/` folder
 * (Ultralytics) or an `obj_<subset>_data/` folder (darknet).  Each row is
 * "class cx cy w h" relative to the image as a viewer shows it (turned by
 * its EXIF orientation, as export_yolo.c writes them and as trainers and
 * CVAT read them), optionally a 6th value, the confidence; empty lines
 * are skipped.  Values may overshoot [0, 1] by
 * rounding (1e-6), and boxes are clipped to the image.  The whole import
 * fails on the first malformed row, with file and line in the reason.
 * data.yaml is read by core/formats/yamlnames.c (libyaml). */
#include "imgcodec.h"
#include "limp.h"
#include "yamlnames.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct names {
  char **v;
  size_t n, cap;
};

static void names_free(struct names *c)
{
  for (size_t i = 0; i < c->n; i++)
    free(c->v[i]);
  free(c->v);
}

/* Sets v[idx] = s (copied). */
static int names_set(struct names *c, size_t idx, const char *s, size_t n)
{
  if (idx > 100000)
    return -E2BIG;
  if (idx >= c->cap) {
    size_t nc = MAX(idx + 1, c->cap * 2);
    char **p = realloc(c->v, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    memset(p + c->cap, 0, (nc - c->cap) * sizeof(*p));
    c->v = p;
    c->cap = nc;
  }
  free(c->v[idx]);
  c->v[idx] = strndup(s, n);
  if (!c->v[idx])
    return -ENOMEM;
  if (idx >= c->n)
    c->n = idx + 1;
  return 0;
}

/* `names:` of data.yaml, read by core/formats/yamlnames.c (libyaml). */
static int yaml_names(struct limp *L, const char *text, size_t len,
                      struct names *c)
{
  char err[200];
  char **v;
  size_t n;
  int r = yaml_names_parse(text, len, &v, &n, err, sizeof(err));

  if (r == -ENOMEM)
    return r;
  if (r < 0)
    return limp_fail(L, "data.yaml: %s", err);
  for (size_t i = 0; r == 0 && i < n; i++)
    if (v[i])
      r = names_set(c, i, v[i], strlen(v[i]));
  yaml_names_free(v, n);
  return r;
}

static int obj_names(const char *text, struct names *c)
{
  const char *p = text;
  int r = 0;

  while (r == 0 && *p) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
      n--;
    if (n)
      r = names_set(c, c->n, p, n);
    p += e ? (size_t)(e - p) + 1 : strlen(p);
  }
  return r;
}

static bool is_label_file(const char *name)
{
  size_t n = strlen(name);
  const char *slash = strrchr(name, '/');

  if (n < 5 || strcmp(name + n - 4, ".txt") != 0 || !slash)
    return false;
  /* .../labels/... anywhere above, or a folder named obj_*_data anywhere
   * above: CVAT's "YOLO 1.1" keeps the pictures' own folders below it
   * (obj_train_data/Photos/1.txt for Photos/1.jpg) */
  if (strncmp(name, "labels/", 7) == 0 || strstr(name, "/labels/"))
    return true;
  for (const char *c = name; c < slash;) {
    const char *e = strchr(c, '/');   /* never NULL before the last slash */
    if (strncmp(c, "obj_", 4) == 0 && e - c > 9 &&
        strncmp(e - 5, "_data", 5) == 0)
      return true;
    c = e + 1;
  }
  return false;
}

static int num(const char *tok, double lo, double hi, double *ret)
{
  char *e;
  double v = strtod(tok, &e);

  if (e == tok || *e || !isfinite(v) || v < lo || v > hi)
    return -1;
  *ret = v;
  return 0;
}

/* The sample of label file fn, by its whole path without ".txt": the
 * image Ultralytics pairs with it (train/labels/1.txt is
 * train/images/1.jpg's), else the rules of sample_match.h
 * (labels/train/1.txt is images/train/1.jpg's where images/val/ has a
 * 1.jpg too, by the tail rule).  1 when found; 0 when none or several
 * (reported and counted); else -errno. */
static int match_file(struct limp *L, const char *fn, struct sample *smp)
{
  char stem[4096];
  int r = limp_path_stem(fn, stem, sizeof(stem));

  if (r == 0)
    r = limp_match_label(L, stem, smp);
  if (r == -ENOENT || r == -ENOTUNIQ || r == -ENAMETOOLONG) {
    limp_report(L, fn, r == -ENOTUNIQ
                ? "several samples have this name; skipped"
                : "no sample with this name");
    L->st->unmatched++;
    return 0;
  }
  return r < 0 ? r : 1;
}

static int one_file(struct limp *L, struct limp_src *src, size_t i,
                    const uint32_t *cls, size_t ncls, struct buf *b)
{
  const double eps = 1e-6;
  struct label_field f = { 0 };
  struct sample smp;
  char *line, *save = NULL;
  int r, lineno = 0;

  r = match_file(L, src->names[i], &smp);
  if (r <= 0)
    return r;
  if ((r = limp_claim(L, &smp, src->names[i])) != 0)
    return r < 0 ? r : 0;   /* 1: another file names it exactly */
  buf_reset(b);
  r = limp_src_read(src, i, LIMP_FILE_MAX, b);
  if (r < 0)
    return limp_src_read_fail(L, src, i, LIMP_FILE_MAX, r);
  if (b->len && memchr(b->data, '\0', b->len))
    return limp_fail(L, "%s: binary data", src->names[i]);
  L->st->files++;
  for (line = strtok_r(b->data ? b->data : (char[]){ 0 }, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *tok[8], *s2 = NULL, *t;
    int nt = 0;
    double v[5], box[4];
    long c;
    char *e;
    struct detection d = { 0 };

    lineno++;
    for (t = strtok_r(line, " \t\r", &s2); t && nt < 8;
         t = strtok_r(NULL, " \t\r", &s2))
      tok[nt++] = t;
    if (nt == 0)
      continue;
    if (nt != 5 && nt != 6) {
      r = limp_fail(L, "%s:%d: expected 5 values (class cx cy w h), got %d",
                    src->names[i], lineno, nt);
      break;
    }
    c = strtol(tok[0], &e, 10);
    if (e == tok[0] || *e || c < 0 || (size_t)c >= ncls) {
      r = limp_fail(L, "%s:%d: class '%s' is not an index of the %zu "
                    "names", src->names[i], lineno, tok[0], ncls);
      break;
    }
    for (int k = 1; k < 5 && r == 0; k++)
      if (num(tok[k], -eps, 1 + eps, &v[k]) < 0)
        r = limp_fail(L, "%s:%d: '%s' is not a number in [0, 1]",
                      src->names[i], lineno, tok[k]);
    if (r == 0 && nt == 6 && num(tok[5], 0, 1, &d.confidence) < 0)
      r = limp_fail(L, "%s:%d: confidence '%s' is not in [0, 1]",
                    src->names[i], lineno, tok[5]);
    if (r < 0)
      break;
    if (nt == 5)
      d.confidence = NAN;
    d.class_id = cls[c];
    img_box_from_view_rel(img_frame_turn(L->frame, true, smp.orientation),
                          smp.width, smp.height, v + 1, box);
    d.x = box[0];
    d.y = box[1];
    d.w = box[2];
    d.h = box[3];
    limp_clip(&d, smp.width, smp.height);
    r = labels_field_add(&f, &d);
    if (r < 0)
      break;
  }
  if (r == 0)
    r = limp_put(L, smp.id, &f);
  labels_field_clear(&f);
  return r;
}

int fmt_yolo_import(struct limp *L, struct limp_src *src)
{
  struct names c = { 0 };
  struct buf b;
  uint32_t *cls = NULL;
  long yi = limp_src_find(src, "data.yaml");
  long ni = limp_src_find(src, "obj.names");
  int r;

  buf_init(&b, LIMP_FILE_MAX);
  if (yi < 0 && ni < 0) {
    r = limp_fail(L, "no class list: neither data.yaml nor obj.names");
    goto out;
  }
  r = limp_src_read(src, (size_t)(yi >= 0 ? yi : ni), LIMP_FILE_MAX, &b);
  if (r < 0) {
    limp_src_read_fail(L, src, (size_t)(yi >= 0 ? yi : ni), LIMP_FILE_MAX,
                       r);
    goto out;
  }
  r = yi >= 0 ? yaml_names(L, b.data ? b.data : "", b.len, &c)
              : obj_names(b.data ? b.data : "", &c);
  if (r < 0)
    goto out;
  if (c.n == 0) {
    r = limp_fail(L, "the class list is empty");
    goto out;
  }
  cls = calloc(c.n, sizeof(*cls));
  if (!cls) {
    r = -ENOMEM;
    goto out;
  }
  /* Classes in list order, so a fresh store keeps the file's order. */
  for (size_t k = 0; r == 0 && k < c.n; k++) {
    if (!c.v[k] || !labels_class_name_valid(c.v[k])) {
      r = limp_fail(L, "class %zu has no valid name", k);
      break;
    }
    r = store_class_id(L->t, c.v[k], true, &cls[k]);
  }
  for (size_t i = 0; r == 0 && i < src->n; i++)
    if (is_label_file(src->names[i]))
      r = one_file(L, src, i, cls, c.n, &b);
out:
  free(cls);
  names_free(&c);
  buf_free(&b);
  return r;
}
