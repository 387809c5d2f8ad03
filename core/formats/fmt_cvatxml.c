/* fmt_cvatxml.c - CVAT's own XML, "CVAT for images 1.1" (the
 * annotations.xml of a task's or project's export), into a field (see
 * labelimport.h).
 *
 * The document is read element by element (xmltree_stream_fd from its
 * file, 256 KiB at a time; a zip's member first inflated to a file with
 * no name, limp_src_open), never held as a tree or whole: a project's
 * file lists every box of every task.  Each
 * <image name= width= height= [subset=]> is one picture, matched by its
 * name (sample_match.h); where that finds none or several and the image
 * has a subset, by "<subset>/<name>" (a project's subsets in folders of
 * their own).  Its <box>, <polygon>, <ellipse> and <mask> children become
 * boxes (shapebox.h: the same box CVAT's pull takes of each), with
 * occluded, rotation and every <attribute name=> child kept as the box's
 * attributes ("true" and "false" as booleans, the values of attributes
 * <meta> declares numbers as numbers, the rest as text);
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
#include <sys/stat.h>
#include <unistd.h>

/* The subsets an import names (its images' subset=, datumaro's file
 * names): a picture in a folder named after one of them belongs to it. */
struct subsets {
  char *v[64];
  size_t n;
};

static int known_add(struct subsets *k, const char *s)
{
  if (!s || !*s)
    return 0;
  for (size_t i = 0; i < k->n; i++)
    if (strcmp(k->v[i], s) == 0)
      return 0;
  if (k->n == sizeof(k->v) / sizeof(k->v[0]))
    return 0;   /* more than any project has: the rest are not used */
  return (k->v[k->n] = strdup(s)) ? (k->n++, 0) : -ENOMEM;
}

static void known_free(struct subsets *k)
{
  for (size_t i = 0; i < k->n; i++)
    free(k->v[i]);
  k->n = 0;
}

/* The attributes the document's <meta> declares as numbers
 * (<input_type>number</input_type>), as "label\0attribute\0" pairs: their
 * values become JSON numbers.  Every other type keeps its text: a select
 * or radio value is one of a list of strings ("007" stays "007"), and a
 * checkbox's "true" and "false" are booleans whatever the meta says. */
struct numattrs {
  struct buf pairs;
};

/* The first pass's state: the subsets, and in <meta> the label and the
 * attribute being read (their <name> and <input_type> children). */
struct pre {
  struct subsets *known;
  struct numattrs *num;
  int meta_depth;           /* depth of <meta>, or -1 outside it */
  char stack[12][16];       /* element names from the root, cut */
  struct buf label;         /* the label's name */
  struct buf attr;          /* its attribute's name (NUL-terminated) */
  bool attr_number;         /* that attribute's input_type is number */
  struct buf pending;       /* number attributes of the label read before
                             * its name: names with their NULs */
};

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
  char el[16];              /* the shape's element name */
  struct buf attr;          /* the name of the <attribute> being read */
  struct buf keys;          /* the shape's attribute names so far, each
                             * with its NUL */
  char label[256];          /* the shape's label */
  char subset[256];         /* the document's subset, from its name */
  struct subsets *known;    /* every subset of the import */
  const struct numattrs *num;   /* the document's number attributes */
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

/* The sample of an <image> named name in subset (NULL or "": none) into
 * c->smp, with the subsets of the import (smatch_image_in_subset: a
 * project's subsets number their pictures alike, each subset in its
 * folder).  0, -ENOENT, -ENOTUNIQ or -errno. */
static int match_chain(struct cx *c, const char *name, const char *subset)
{
  if (!subset || !*subset)
    return limp_match_image(c->L, name, &c->smp);
  return limp_match_image_in_subset(c->L, name, subset,
                                    (const char *const *)c->known->v,
                                    c->known->n, &c->smp);
}

/* match_chain, first as the names are written, then (finding nothing)
 * ignoring letter case: a name found as written beats a
 * "<subset>/<name>" found only by case. */
static int match_image(struct cx *c, const char *name, const char *subset)
{
  int r;

  limp_fold(c->L, false);
  r = match_chain(c, name, subset);
  limp_fold(c->L, true);
  return r == -ENOENT ? match_chain(c, name, subset) : r;
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
  /* the name as reasons give it, which limp_claim keeps until the import
   * ends */
  size_t dl = strlen(c->doc), nl = strlen(name);
  char *copy = malloc(dl + nl + 3);
  if (!copy || limp_keep(L, copy) < 0) {
    free(copy);
    return -ENOMEM;
  }
  snprintf(copy, dl + nl + 3, "%s: %s", c->doc, name);
  c->name = copy;
  L->st->files++;
  r = match_image(c, name, subset);
  if (r == -ENOENT || r == -ENOTUNIQ) {
    limp_report(L, c->name, r == -ENOTUNIQ
                ? "several samples have this name; skipped"
                : "no sample with this name");
    L->st->unmatched++;
    c->skip = true;
    return 0;
  }
  if (r < 0)
    return r;
  if (att_num(atts, "width", &w) || att_num(atts, "height", &h))
    w = h = 0;   /* no size: the source decides */
  /* CVAT gives the picture's size (turned by EXIF orientation): another
   * size is another picture of that name */
  if (w > 0 && !((w == c->smp.width && h == c->smp.height) ||
                 (w == c->smp.height && h == c->smp.width))) {
    char why[96];
    snprintf(why, sizeof(why), "its size %.0fx%.0f is not the sample's "
             "%ux%u; skipped", w, h, c->smp.width, c->smp.height);
    limp_report(L, c->name, why);
    L->st->unmatched++;
    c->skip = true;
    return 0;
  }
  if ((r = limp_claim(L, &c->smp, c->name)) != 0) {
    c->skip = r == 1;   /* another <image> names the sample exactly */
    return r < 0 ? r : 0;
  }
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
  snprintf(c->el, sizeof(c->el), "%s", el);
  if (t == SHAPE_OTHER) {
    c->other++;
    return 0;
  }
  if (!label || !*label) {
    c->unlabelled++;
    return 0;
  }
  if (!labels_class_name_valid(label))
    return limp_fail(L, "%s: <%s> %zu: invalid label", c->name, el,
                     c->nshape);
  snprintf(c->label, sizeof(c->label), "%s", label);
  if (att(atts, "rotation") && att_num(atts, "rotation", &rot))
    return limp_fail(L, "%s: <%s> %zu: bad rotation", c->name, el,
                     c->nshape);
  r = shape_points(t, atts, pts, &p, &n);
  if (r == -ENOMEM)
    return r;
  bool ok = r == 0 && shape_box(t, p, n, rot, box) && box[2] >= box[0] &&
            box[3] >= box[1];
  if (p != pts)
    free(p);
  if (!ok)
    return limp_fail(L, "%s: <%s> %zu: its coordinates make no box",
                     c->name, el, c->nshape);
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
  buf_reset(&c->keys);
  r = buf_printf(&c->attrs, "\"occluded\":%s",
                 occ && strcmp(occ, "1") == 0 ? "true" : "false");
  r = r ? r : buf_append(&c->keys, "occluded", 9);
  if (r == 0 && rot != 0) {
    r = buf_puts(&c->attrs, ",\"rotation\":");
    r = r ? r : buf_json_double(&c->attrs, rot);
    r = r ? r : buf_append(&c->keys, "rotation", 9);
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

/* Whether attribute attr of label is declared a number. */
static bool numattrs_has(const struct numattrs *m, const char *label,
                         const char *attr)
{
  const char *p = m->pairs.data, *end;

  if (!p)
    return false;   /* no number attribute (and no buffer) */
  for (end = p + m->pairs.len; p < end;) {
    const char *a = p + strlen(p) + 1;
    if (strcmp(p, label) == 0 && strcmp(a, attr) == 0)
      return true;
    p = a + strlen(a) + 1;
  }
  return false;
}

/* A number attribute's text as CVAT writes it ("3", "-2.5", surrounding
 * white space allowed): *v, or false for anything else (kept as text). */
static bool number_text(const char *s, double *v)
{
  char *e;

  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
    s++;
  if (!*s || !(*s == '-' || *s == '+' || *s == '.' ||
               (*s >= '0' && *s <= '9')))
    return false;   /* no "inf", "nan", hex is caught below */
  *v = strtod(s, &e);
  if (e == s || !isfinite(*v) || strpbrk(s, "xXpP"))
    return false;
  while (*e == ' ' || *e == '\t' || *e == '\n' || *e == '\r')
    e++;
  return !*e;
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
    buf_reset(&c->attr);
    if (buf_append(&c->attr, n ? n : "", n ? strlen(n) + 1 : 1) < 0)
      return limp_fail(c->L, "%s: an attribute name too long",
                       c->name);
    return 1;   /* its value is its text */
  }
  return 0;
}

static int on_end(void *ud, int depth, const char *el, const char *text)
{
  struct cx *c = ud;
  int r = 0;

  if (depth == 3 && c->in_shape && strcmp(el, "attribute") == 0 &&
      c->attr.data[0]) {
    const char *k = c->attr.data;
    size_t kl = strlen(k);
    for (size_t i = 0; i < c->keys.len; i += strlen(c->keys.data + i) + 1)
      if (strcmp(c->keys.data + i, k) == 0)
        return limp_fail(c->L, "%s: <%s> %zu: attribute '%s' given twice",
                         c->name, c->el, c->nshape, k);
    r = buf_append(&c->keys, k, kl + 1);
    r = r ? r : buf_puts(&c->attrs, ",");
    r = r ? r : buf_json_str(&c->attrs, k, kl);
    r = r ? r : buf_puts(&c->attrs, ":");
    /* a checkbox's value is a boolean, a number attribute's a number
     * (struct numattrs); any other stays the text it is ("0003" of a
     * text attribute is no number) */
    double v;
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
      r = r ? r : buf_puts(&c->attrs, text);
    else if (numattrs_has(c->num, c->label, k) && number_text(text, &v))
      r = r ? r : buf_json_double(&c->attrs, v);
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

/* The subset a file of a folder or zip is named after: datumaro's "cvat"
 * format writes one <subset>.xml per subset, whose images do not name it
 * (CVAT's own export is one annotations.xml).  "" for none. */
static void doc_subset(const char *doc, char *out, size_t cap)
{
  const char *b = strrchr(doc, '/');
  size_t bl;

  b = b ? b + 1 : doc;
  bl = strlen(b) > 4 ? strlen(b) - 4 : 0;   /* without ".xml" */
  out[0] = '\0';
  if (bl && bl < cap && strncmp(b, "annotations.", 12) != 0 &&
      strncmp(b, "default.", 8) != 0)
    snprintf(out, cap, "%.*s", (int)bl, b);
}

/* Is the element at depth d (d >= 1) named el, its parent parent? */
static bool pre_at(const struct pre *p, int d, const char *el,
                   const char *parent)
{
  return d >= 1 && d < (int)(sizeof(p->stack) / sizeof(p->stack[0])) &&
         strcmp(p->stack[d], el) == 0 && strcmp(p->stack[d - 1], parent) == 0;
}

/* A number attribute of the label being read: its pair, or pending until
 * the label's name is known. */
static int pre_number(struct pre *p)
{
  if (!p->label.len)
    return buf_append(&p->pending, p->attr.data, strlen(p->attr.data) + 1);
  int r = buf_append(&p->num->pairs, p->label.data, p->label.len + 1);
  return r ? r : buf_append(&p->num->pairs, p->attr.data,
                            strlen(p->attr.data) + 1);
}

/* First pass: the subset= of every <image>, into the known subsets; in
 * <meta> (a task's, a job's or a project's, and so at any depth below
 * it), each <label>'s <attribute>s whose <input_type> is number. */
static int pre_start(void *ud, int depth, const char *el, const char **atts)
{
  struct pre *p = ud;

  if (depth < (int)(sizeof(p->stack) / sizeof(p->stack[0])))
    snprintf(p->stack[depth], sizeof(p->stack[0]), "%s", el);
  if (depth == 1 && strcmp(el, "image") == 0)
    return known_add(p->known, att(atts, "subset"));
  if (depth == 1 && strcmp(el, "meta") == 0)
    p->meta_depth = depth;
  if (p->meta_depth < 0 || depth <= p->meta_depth)
    return 0;
  if (pre_at(p, depth, "label", "labels")) {
    buf_reset(&p->label);
    buf_reset(&p->pending);
  } else if (pre_at(p, depth, "attribute", "attributes")) {
    buf_reset(&p->attr);
    p->attr_number = false;
  } else if (pre_at(p, depth, "name", "label") ||
             pre_at(p, depth, "name", "attribute") ||
             pre_at(p, depth, "input_type", "attribute")) {
    return 1;   /* its text */
  }
  return 0;
}

static int pre_end(void *ud, int depth, const char *el, const char *text)
{
  struct pre *p = ud;
  int r = 0;

  if (p->meta_depth < 0 || depth <= p->meta_depth) {
    if (depth == p->meta_depth && strcmp(el, "meta") == 0)
      p->meta_depth = -1;
    return 0;
  }
  if (pre_at(p, depth, "name", "label") && !p->label.len) {
    r = buf_append(&p->label, text, strlen(text));
    /* the label's number attributes read before its name */
    for (size_t i = 0; r == 0 && i < p->pending.len;
         i += strlen(p->pending.data + i) + 1) {
      r = buf_append(&p->num->pairs, p->label.data, p->label.len);
      r = r ? r : buf_append(&p->num->pairs, "", 1);
      r = r ? r : buf_append(&p->num->pairs, p->pending.data + i,
                             strlen(p->pending.data + i) + 1);
    }
    buf_reset(&p->pending);
  } else if (pre_at(p, depth, "name", "attribute")) {
    buf_reset(&p->attr);
    r = buf_append(&p->attr, text, strlen(text) + 1);
  } else if (pre_at(p, depth, "input_type", "attribute")) {
    p->attr_number = strcmp(text, "number") == 0;
  } else if (pre_at(p, depth, "attribute", "attributes") && p->attr_number &&
             p->attr.len) {
    r = pre_number(p);
  }
  return r;
}

/* One document named doc, read from file fd in pieces; by_name: a file
 * of a folder or zip, whose name may be its subset (doc_subset). */
static int one_doc(struct limp *L, const char *doc, int fd, bool by_name,
                   struct subsets *known)
{
  static const struct xmltree_sax pre = { pre_start, pre_end };
  static const struct xmltree_sax sax = { on_start, on_end };
  struct numattrs num;
  struct pre pp = { .known = known, .num = &num, .meta_depth = -1 };
  struct cx c = { .L = L, .doc = doc, .known = known, .num = &num };
  char why[200] = "";
  int r;

  if (by_name)
    doc_subset(doc, c.subset, sizeof(c.subset));
  buf_init(&num.pairs, LIMP_FILE_MAX);
  buf_init(&pp.label, LIMP_FILE_MAX);
  buf_init(&pp.attr, LIMP_FILE_MAX);
  buf_init(&pp.pending, LIMP_FILE_MAX);
  buf_init(&c.attrs, LIMP_FILE_MAX);
  buf_init(&c.attr, LIMP_FILE_MAX);
  buf_init(&c.keys, LIMP_FILE_MAX);
  /* the subsets and the number attributes first (a picture in another
   * subset's folder is not this image's; <meta> may come anywhere), then
   * the boxes; the first pass's errors are the second's */
  r = xmltree_stream_fd(fd, &pre, &pp, why, sizeof(why));
  if (r != -ENOMEM)
    r = xmltree_stream_fd(fd, &sax, &c, why, sizeof(why));
  if (r < 0 && why[0])
    limp_fail(L, "%s: %s", doc, why);
  else if (r < 0 && !L->err[0])   /* a callback's error without a reason */
    limp_fail(L, "%s: %s", c.in_image && c.name ? c.name : doc,
              strerror(-r));
  /* one line per kind and file, as "skipped <what>: <why>" reads */
  if (r == 0 && c.other) {
    char what[4200];
    snprintf(what, sizeof(what), "%llu shapes without a box in %s",
             (unsigned long long)c.other, doc);
    limp_report(L, what, "points, polylines, skeletons, cuboids and tags "
                "are not boxes");
  }
  if (r == 0 && c.unlabelled) {
    char what[4200];
    snprintf(what, sizeof(what), "%llu shapes without a label in %s",
             (unsigned long long)c.unlabelled, doc);
    limp_report(L, what, "a box needs its class");
  }
  labels_field_clear(&c.f);
  free(c.d.attributes);
  buf_free(&num.pairs);
  buf_free(&pp.label);
  buf_free(&pp.attr);
  buf_free(&pp.pending);
  buf_free(&c.attrs);
  buf_free(&c.attr);
  buf_free(&c.keys);
  return r;
}

bool fmt_cvatxml_is_doc(const char *name)
{
  size_t n = strlen(name);

  return n > 4 && !strchr(name, '/') && strcmp(name + n - 4, ".xml") == 0;
}

/* A document's open file fd (closed here), named doc: refused when it
 * is empty; an errno of its open (fd < 0) refused with its reason. */
static int fd_doc(struct limp *L, const char *doc, int fd, bool by_name,
                  struct subsets *known)
{
  struct stat st;
  int r;

  if (fd == -EINVAL)
    return limp_fail(L, "%s: not a regular file", doc);
  if (fd < 0)
    return limp_fail(L, "%s: %s", doc, strerror(-fd));
  if (fstat(fd, &st) < 0)
    r = limp_fail(L, "%s: %s", doc, strerror(errno));
  else if (st.st_size == 0)
    r = limp_fail(L, "%s: empty file", doc);
  else
    r = one_doc(L, doc, fd, by_name, known);
  close(fd);
  return r;
}

int fmt_cvatxml_import(struct limp *L, struct limp_src *src)
{
  struct subsets known = { .n = 0 };
  char sub[256];
  size_t found = 0;
  int r = 0;

  for (size_t i = 0; r == 0 && i < src->n; i++)
    if (fmt_cvatxml_is_doc(src->names[i])) {
      doc_subset(src->names[i], sub, sizeof(sub));
      r = known_add(&known, sub);
    }
  /* Each read from a file in pieces: a folder's own, or a zip's member
   * inflated to a file with no name (limp_src_open). */
  for (size_t i = 0; r == 0 && i < src->n; i++) {
    int fd;
    if (!fmt_cvatxml_is_doc(src->names[i]))
      continue;
    found++;
    /* reasons name a folder's file by its path, a zip's by its member */
    char *doc = src->z ? NULL : path_join(src->dir, src->names[i]);
    if (!src->z && !doc) {
      r = -ENOMEM;
      break;
    }
    r = limp_src_open(src, i, &fd);
    if (r < 0 && src->z)
      r = limp_src_open_fail(L, src, i, r);
    else   /* a folder's file that would not open: by its path (fd < 0) */
      r = fd_doc(L, doc ? doc : src->names[i], r < 0 ? r : fd, true, &known);
    free(doc);
  }
  known_free(&known);
  if (r == 0 && !found)
    r = limp_fail(L, "no annotations.xml (no .xml file at the top)");
  return r;
}

int fmt_cvatxml_file(struct limp *L, const char *path)
{
  struct subsets known = { .n = 0 };
  /* a FIFO refused, never waited on */
  int r = fd_doc(L, path, open_regular(path), false, &known);

  known_free(&known);
  return r;
}
