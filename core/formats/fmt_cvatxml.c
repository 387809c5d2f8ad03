/* fmt_cvatxml.c - CVAT's own XML, "CVAT for images 1.1" (the
 * annotations.xml of a task's or project's export), into a field (see
 * labelimport.h).
 *
 * The document is read element by element (xmltree_stream), never held
 * as a tree: a project's file lists every box of every task.  Each
 * <image name= width= height= [subset=]> is one picture, matched by its
 * name (sample_match.h); where that finds none or several and the image
 * has a subset, by "<subset>/<name>" (a project's subsets in folders of
 * their own).  Its <box>, <polygon>, <ellipse> and <mask> children become
 * boxes (shapebox.h: the same box CVAT's pull takes of each), with
 * occluded, rotation and every <attribute name=> child kept as the box's
 * attributes ("true" and "false" as booleans, the rest as text);
 * points, polylines, skeletons, cuboids and tags have no box and are
 * counted and reported once.  The boxes are in the frame CVAT
 * shows, each picture turned by its EXIF orientation, unless the image's
 * width and height are the stored ones (img_boxes_turned) or --frame
 * stored says so.  Tracks ("CVAT for video 1.1") are refused with the
 * export to choose instead. */
#include "imgcodec.h"
#include "limp.h"
#include "shapebox.h"
#include "xmltree.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest annotations.xml read; the whole document is in memory while it
 * is read (its boxes are not). */
#define CVATXML_MAX (1024u << 20)

struct cx {
  struct limp *L;
  const char *doc;          /* the document's name, for reasons */
  /* the <image> being read */
  bool in_image, skip;      /* skip: no sample for it (reported) */
  bool view;                /* its boxes are in the turned frame */
  const char *name;         /* its name (kept by limp_keep) */
  struct sample smp;
  struct label_field f;
  size_t nshape;            /* shapes of the image so far */
  /* the shape being read */
  bool in_shape;
  struct detection d;
  struct buf attrs;         /* the shape's attributes: JSON members */
  char attr[256];           /* the name of the <attribute> being read */
  bool rotated;             /* the shape has a rotation= of its own */
  char subset[256];         /* the document's subset, from its name */
  uint64_t other, unlabelled;
};

static const char *att(const char **atts, const char *k)
{
  for (size_t i = 0; atts && atts[i]; i += 2)
    if (strcmp(atts[i], k) == 0)
      return atts[i + 1];
  return NULL;
}

/* The number attribute k of atts into *v: 0, or -1 when it is absent or
 * not a finite number. */
static int att_num(const char **atts, const char *k, double *v)
{
  const char *s = att(atts, k);
  char *e;

  if (!s || !*s)
    return -1;
  *v = strtod(s, &e);
  return *e || !isfinite(*v) ? -1 : 0;
}

/* A polygon's "x1,y1;x2,y2;..." into a new array (*ret, *n numbers). */
static int polygon_points(const char *s, double **ret, size_t *n)
{
  size_t cap = 16, k = 0;
  double *p = malloc(cap * sizeof(*p));

  if (!p)
    return -ENOMEM;
  while (s && *s) {
    char *e;
    double v = strtod(s, &e);
    if (e == s || !isfinite(v) || (*e && *e != ',' && *e != ';')) {
      free(p);
      return -EINVAL;
    }
    if (k == cap) {
      double *q = realloc(p, (cap *= 2) * sizeof(*p));
      if (!q) {
        free(p);
        return -ENOMEM;
      }
      p = q;
    }
    p[k++] = v;
    s = *e ? e + 1 : e;
  }
  *ret = p;
  *n = k;
  return 0;
}

/* The points shape_box() takes for shape t of atts (CVAT's API order),
 * into *p (*ret: a new array for a polygon, else p itself). */
static int shape_points(enum shape_type t, const char **atts, double p[5],
                        double **ret, size_t *n)
{
  double a, b, c, d;

  *ret = p;
  switch (t) {
  case SHAPE_RECTANGLE:
    *n = 4;
    return att_num(atts, "xtl", &p[0]) || att_num(atts, "ytl", &p[1]) ||
           att_num(atts, "xbr", &p[2]) || att_num(atts, "ybr", &p[3])
               ? -EINVAL : 0;
  case SHAPE_POLYGON:
    return polygon_points(att(atts, "points"), ret, n);
  case SHAPE_ELLIPSE:
    if (att_num(atts, "cx", &a) || att_num(atts, "cy", &b) ||
        att_num(atts, "rx", &c) || att_num(atts, "ry", &d))
      return -EINVAL;
    p[0] = a, p[1] = b, p[2] = a + c, p[3] = b - d;
    *n = 4;
    return 0;
  default:   /* a mask: its run-length code is not needed for the box */
    if (att_num(atts, "left", &a) || att_num(atts, "top", &b) ||
        att_num(atts, "width", &c) || att_num(atts, "height", &d))
      return -EINVAL;
    p[0] = 0, p[1] = a, p[2] = b, p[3] = a + c - 1, p[4] = b + d - 1;
    *n = 5;
    return 0;
  }
}

/* Where the <image> atts leads: its sample, matched (cx->skip when none,
 * reported), claimed, and the frame of its boxes. */
static int image_start(struct cx *c, const char **atts)
{
  struct limp *L = c->L;
  const char *name = att(atts, "name"), *subset = att(atts, "subset");
  if (!subset || !*subset)
    subset = c->subset;   /* datumaro's <subset>.xml */
  double w = 0, h = 0;
  int r;

  c->in_image = true;
  c->skip = false;
  c->nshape = 0;
  if (!name || !*name)
    return limp_fail(L, "%s: an <image> has no name", c->doc);
  /* limp_claim keeps the name until the import ends */
  char *copy = strdup(name);
  if (!copy || limp_keep(L, copy) < 0) {
    free(copy);
    return -ENOMEM;
  }
  c->name = copy;
  L->st->files++;
  r = limp_match_image(L, name, &c->smp);
  if ((r == -ENOENT || r == -ENOTUNIQ) && subset && *subset) {
    char p[4096];
    int r2 = snprintf(p, sizeof(p), "%s/%s", subset, name) <
                     (int)sizeof(p)
                 ? limp_match_image(L, p, &c->smp) : -ENOENT;
    r = r2 == -ENOENT ? r : r2;   /* an ambiguous name stays so */
  }
  if (r == -ENOENT || r == -ENOTUNIQ) {
    limp_report(L, name, r == -ENOTUNIQ
                ? "several samples have this name; skipped"
                : "no sample with this name");
    L->st->unmatched++;
    c->skip = true;
    return 0;
  }
  if (r < 0 || (r = limp_claim(L, &c->smp, c->name)) < 0)
    return r;
  if (att_num(atts, "width", &w) || att_num(atts, "height", &h))
    w = h = 0;   /* no size: the source decides */
  c->view = img_boxes_turned(c->smp.orientation, c->smp.width,
                             c->smp.height, w, h, L->view_frame);
  if (c->view)
    L->st->turned++;
  return 0;
}

/* A shape of the image: its box, class and attributes into c->d, or
 * counted (no box, no label). */
static int shape_start(struct cx *c, const char *el, const char **atts)
{
  struct limp *L = c->L;
  enum shape_type t = shape_type_of(el);
  const char *label = att(atts, "label"), *occ = att(atts, "occluded");
  double pts[5], *p, box[4], rot = 0;
  size_t n = 0;
  int r;

  c->nshape++;
  if (t == SHAPE_OTHER) {
    c->other++;
    return 0;
  }
  if (!label || !*label) {
    c->unlabelled++;
    return 0;
  }
  if (!labels_class_name_valid(label))
    return limp_fail(L, "%s: image '%s': <%s> %zu: invalid label", c->doc,
                     c->name, el, c->nshape);
  if (att(atts, "rotation") && att_num(atts, "rotation", &rot))
    return limp_fail(L, "%s: image '%s': <%s> %zu: bad rotation", c->doc,
                     c->name, el, c->nshape);
  r = shape_points(t, atts, pts, &p, &n);
  if (r == -ENOMEM)
    return r;
  bool ok = r == 0 && shape_box(t, p, n, rot, box) && box[2] >= box[0] &&
            box[3] >= box[1];
  if (p != pts)
    free(p);
  if (!ok)
    return limp_fail(L, "%s: image '%s': <%s> %zu: its coordinates make "
                     "no box", c->doc, c->name, el, c->nshape);
  if (c->view)
    img_orient_box(c->smp.orientation, c->smp.width, c->smp.height, false,
                   box);
  memset(&c->d, 0, sizeof(c->d));
  c->d.x = box[0], c->d.y = box[1];
  c->d.w = box[2] - box[0], c->d.h = box[3] - box[1];
  limp_clip(&c->d, c->smp.width, c->smp.height);
  c->d.confidence = NAN;
  if ((r = store_class_id(L->t, label, true, &c->d.class_id)) < 0)
    return r;
  buf_reset(&c->attrs);
  r = buf_printf(&c->attrs, "\"occluded\":%s",
                 occ && strcmp(occ, "1") == 0 ? "true" : "false");
  c->rotated = att(atts, "rotation") != NULL;
  if (r == 0 && rot != 0) {
    r = buf_puts(&c->attrs, ",\"rotation\":");
    r = r ? r : buf_json_double(&c->attrs, rot);
  }
  c->in_shape = r == 0;
  return r;
}

/* The shape read: its attributes as a JSON object, the box into f. */
static int shape_end(struct cx *c)
{
  char *json = NULL;
  int r = buf_printf(&c->attrs, "}");

  c->in_shape = false;
  if (r == 0 && !(json = malloc(c->attrs.len + 2)))
    r = -ENOMEM;
  if (r == 0) {
    json[0] = '{';
    memcpy(json + 1, c->attrs.data, c->attrs.len);
    json[c->attrs.len + 1] = '\0';
    c->d.attributes = json;
    r = labels_field_add(&c->f, &c->d);
  }
  free(json);
  c->d.attributes = NULL;
  return r;
}

static int on_start(void *ud, int depth, const char *el, const char **atts)
{
  struct cx *c = ud;

  if (depth == 0)
    return strcmp(el, "annotations") == 0
               ? 0
               : limp_fail(c->L, "%s: root element is <%s>, not "
                           "<annotations>", c->doc, el);
  if (depth == 1 && strcmp(el, "track") == 0)
    return limp_fail(c->L, "%s: a <track> (\"CVAT for video 1.1\"): "
                     "export the task as \"CVAT for images 1.1\"", c->doc);
  if (depth == 1 && strcmp(el, "image") == 0)
    return image_start(c, atts);
  if (depth == 2 && c->in_image && !c->skip)
    return shape_start(c, el, atts);
  if (depth == 3 && c->in_shape && strcmp(el, "attribute") == 0) {
    const char *n = att(atts, "name");
    snprintf(c->attr, sizeof(c->attr), "%s", n ? n : "");
    return 1;   /* its value is its text */
  }
  return 0;
}

static int on_end(void *ud, int depth, const char *el, const char *text)
{
  struct cx *c = ud;
  int r = 0;

  if (depth == 3 && c->in_shape && strcmp(el, "attribute") == 0 &&
      c->attr[0] && strcmp(c->attr, "occluded") != 0 &&
      !(c->rotated && strcmp(c->attr, "rotation") == 0)) {
    r = buf_puts(&c->attrs, ",");
    r = r ? r : buf_json_str(&c->attrs, c->attr, strlen(c->attr));
    r = r ? r : buf_puts(&c->attrs, ":");
    /* a checkbox's value is a boolean; any other stays the text it is
     * ("0003" of a text attribute is no number) */
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
      r = r ? r : buf_puts(&c->attrs, text);
    else
      r = r ? r : buf_json_str(&c->attrs, text, strlen(text));
  } else if (depth == 2 && c->in_shape) {
    r = shape_end(c);
  } else if (depth == 1 && c->in_image) {
    c->in_image = false;
    if (!c->skip)
      r = limp_put(c->L, c->smp.id, &c->f);
    labels_field_clear(&c->f);
  }
  return r;
}

/* One document, d[0..n) named doc. */
static int one_doc(struct limp *L, const char *doc, const char *d, size_t n)
{
  static const struct xmltree_sax sax = { on_start, on_end };
  struct cx c = { .L = L, .doc = doc };
  char why[200];
  int r;

  const char *b = strrchr(doc, '/');
  size_t bl;

  /* datumaro's "cvat" format writes one <subset>.xml per subset, whose
   * images do not name it; CVAT's own export is one annotations.xml */
  b = b ? b + 1 : doc;
  bl = strlen(b) - 4;   /* without ".xml" */
  if (bl < sizeof(c.subset) && strncmp(b, "annotations.", 12) != 0 &&
      strncmp(b, "default.", 8) != 0)
    snprintf(c.subset, sizeof(c.subset), "%.*s", (int)bl, b);
  buf_init(&c.attrs, LIMP_FILE_MAX);
  r = xmltree_stream(d, n, &sax, &c, why, sizeof(why));
  if (r < 0 && why[0])
    limp_fail(L, "%s: %s", doc, why);
  if (r == 0 && (c.other || c.unlabelled)) {
    char msg[160];
    snprintf(msg, sizeof(msg), "%llu shapes without a box (points, "
             "polylines, skeletons, cuboids, tags) and %llu without a "
             "label", (unsigned long long)c.other,
             (unsigned long long)c.unlabelled);
    limp_report(L, doc, msg);
  }
  labels_field_clear(&c.f);
  free(c.d.attributes);
  buf_free(&c.attrs);
  return r;
}

static bool is_xml(const char *name)
{
  size_t n = strlen(name);

  return n > 4 && !strchr(name, '/') && strcmp(name + n - 4, ".xml") == 0;
}

int fmt_cvatxml_import(struct limp *L, struct limp_src *src)
{
  struct buf b;
  size_t found = 0;
  int r = 0;

  buf_init(&b, CVATXML_MAX);
  for (size_t i = 0; r == 0 && i < src->n; i++) {
    if (!is_xml(src->names[i]))
      continue;
    found++;
    buf_reset(&b);
    r = limp_src_read(src, i, CVATXML_MAX, &b);
    if (r < 0)
      limp_fail(L, "%s: %s", src->names[i], strerror(-r));
    else
      r = one_doc(L, src->names[i], b.data ? b.data : "", b.len);
  }
  buf_free(&b);
  if (r == 0 && !found)
    r = limp_fail(L, "no annotations.xml (no .xml file at the top)");
  return r;
}

int fmt_cvatxml_file(struct limp *L, const char *path)
{
  uint8_t *d = NULL;
  size_t n = 0;
  int r = file_read_all(path, &d, &n);

  if (r < 0)
    return limp_fail(L, "%s: %s", path, strerror(-r));
  if (n > CVATXML_MAX)
    r = limp_fail(L, "%s: larger than %u MiB", path, CVATXML_MAX >> 20);
  else
    r = one_doc(L, path, (const char *)d, n);
  free(d);
  return r;
}
