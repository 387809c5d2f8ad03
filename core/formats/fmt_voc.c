/* fmt_voc.c - Pascal VOC annotations into a field (see labelimport.h).
 *
 * Reads every *.xml under an `Annotations/` folder; labelmap.txt, when
 * present, creates its classes first in file order (but "background",
 * the segmentation background datumaro lists in every labelmap).  The XML is read by
 * core/formats/xmltree.c (expat, with entity declarations and external entities
 * refused); attributes are not used.
 *
 * Per <object>: <name> (class), <bndbox> xmin ymin xmax ymax as numbers
 * (floats accepted, docs/EXPORT.md "What readers require" 7), kept as
 * pixels: x = xmin,
 * w = xmax - xmin, clipped to the image; degenerate boxes are kept,
 * inverted ones fail the import.  <confidence> and <iscrowd> map to the
 * detection's own fields, and so does a boolean `is_crowd` attribute
 * (datumaro's crowd flag); <truncated>/<difficult> become attributes unless
 * 0 (the export writes 0 when absent, so nothing is lost); every other
 * child with text, and CVAT's <attributes><attribute><name/><value/>,
 * becomes an attribute (numbers and true/false typed, empty = null).
 * The XML's own stem names the image; <filename> is the fallback; each
 * is tried decoded as the VOC export encodes names, then as it is.
 * Boxes are in the stored frame, except in a CVAT zip (L->view_frame),
 * whose boxes are in the frame CVAT shows, and in a file whose <size> is
 * the turned size of a sample with orientation 5..8 (voc_view_frame):
 * those are turned back by the sample's EXIF orientation before the
 * clip. */
#define _GNU_SOURCE   /* qsort_r */
#include "imgcodec.h"
#include "limp.h"
#include "vocname.h"
#include "xmltree.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- VOC ---- */

struct kv {
  const char *k, *v;
};

static int cmp_kv(const void *a, const void *b)
{
  return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

static int put_json_value(struct buf *b, const char *v)
{
  char *e;
  double d;

  if (!*v)
    return buf_puts(b, "null");
  if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
    return buf_puts(b, v);
  long long i = strtoll(v, &e, 10);
  if (*e == '\0' && e != v) {
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%lld", i);
    if (strcmp(tmp, v) == 0)
      return buf_puts(b, tmp);
  }
  d = strtod(v, &e);
  if (*e == '\0' && e != v && isfinite(d))
    return buf_json_double(b, d);
  return buf_json_str(b, v, strlen(v));
}

/* An `is_crowd` attribute's value as a crowd flag (1 or 0), or -1 when it
 * is no boolean.  datumaro (CVAT's "PASCAL VOC 1.1") writes a crowd
 * region's flag so, as Python prints a bool. */
static int crowd_value(const char *v)
{
  if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "True"))
    return 1;
  if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "False"))
    return 0;
  return -1;
}

/* Adds attribute k = v to kv, unless it is a boolean `is_crowd`, which
 * goes to *crowd instead (the detection's own flag). */
static void add_attr(struct kv *kv, size_t *n, const char *k, const char *v,
                     int *crowd)
{
  int c = strcmp(k, "is_crowd") == 0 ? crowd_value(v) : -1;

  if (c >= 0)
    *crowd = c > *crowd ? c : *crowd;
  else
    kv[(*n)++] = (struct kv){ k, v };
}

/* Attributes of an <object> as sorted compact JSON (NULL when none);
 * *crowd: 1 or 0 from a boolean `is_crowd` attribute, else -1. */
static int object_attrs(const struct xmltree_node *o, char **ret, int *crowd)
{
  struct kv kv[64];
  size_t n = 0;
  struct buf b;
  int r = 0;

  *ret = NULL;
  *crowd = -1;
  for (size_t i = 0; i < o->n && n < ARRAY_SIZE(kv); i++) {
    const struct xmltree_node *c = &o->kids[i];
    const char *t = xmltree_text(c);
    if (strcmp(c->name, "name") == 0 || strcmp(c->name, "bndbox") == 0 ||
        strcmp(c->name, "confidence") == 0 ||
        strcmp(c->name, "iscrowd") == 0 || strcmp(c->name, "part") == 0 ||
        strcmp(c->name, "actions") == 0 || c->n)
      goto cvat;
    if ((strcmp(c->name, "truncated") == 0 ||
         strcmp(c->name, "difficult") == 0) && strcmp(t, "0") == 0)
      continue;
    add_attr(kv, &n, c->name, t, crowd);
    continue;
  cvat:
    if (strcmp(c->name, "attributes") == 0)
      for (size_t j = 0; j < c->n && n < ARRAY_SIZE(kv); j++) {
        const struct xmltree_node *a = &c->kids[j];
        const struct xmltree_node *an = xmltree_child(a, "name");
        if (strcmp(a->name, "attribute") == 0 && an && *xmltree_text(an))
          add_attr(kv, &n, xmltree_text(an),
                   xmltree_text(xmltree_child(a, "value")), crowd);
      }
  }
  if (!n)
    return 0;
  qsort(kv, n, sizeof(*kv), cmp_kv);
  buf_init(&b, 1u << 20);
  r |= buf_puts(&b, "{");
  for (size_t i = 0; i < n; i++) {
    if (i && strcmp(kv[i].k, kv[i - 1].k) == 0)
      continue;   /* first of duplicate keys wins */
    if (i)
      r |= buf_puts(&b, ",");
    r |= buf_json_str(&b, kv[i].k, strlen(kv[i].k));
    r |= buf_puts(&b, ":");
    r |= put_json_value(&b, kv[i].v);
  }
  r |= buf_puts(&b, "}");
  if (r) {
    buf_free(&b);
    return -ENOMEM;
  }
  *ret = buf_steal(&b, NULL);
  return 0;
}

static int box_num(const struct xmltree_node *bb, const char *k, double *ret)
{
  const char *t = xmltree_text(xmltree_child(bb, k));
  char *e;

  *ret = strtod(t, &e);
  return *t && *e == '\0' && isfinite(*ret) ? 0 : -1;
}

/* File i of src parsed into *root, which must be an <annotation>.  0 or
 * -errno with the reason set; *root is always safe to free. */
static int voc_parse(struct limp *L, struct limp_src *src, size_t i,
                     struct buf *b, struct xmltree_node *root)
{
  const char *fn = src->names[i];
  char why[200];
  int r;

  memset(root, 0, sizeof(*root));
  buf_reset(b);
  r = limp_src_read(src, i, LIMP_FILE_MAX, b);
  if (r < 0)
    return limp_src_read_fail(L, src, i, LIMP_FILE_MAX, r);
  r = xmltree_parse(b->data ? b->data : "", b->len, root, why,
                    sizeof(why));
  if (r < 0)
    return r == -ENOMEM ? r : limp_fail(L, "%s: malformed XML: %s", fn, why);
  if (strcmp(root->name, "annotation") != 0)
    return limp_fail(L, "%s: root element is <%s>, not <annotation>", fn,
                     root->name);
  return 0;
}

/* The sample of VOC id `stem`: first as the sample name the VOC export
 * encoded into it (vocname.h: " x" is written "%20x", and a sample named
 * "%20x" is written "%2520x", so the decoded name comes first), else as
 * it is (trees of other tools), else decoded all the same (a tool that
 * percent-encodes more than the export does).  An id the export would
 * not write for its decoded name comes after the name as it is: "%41" is
 * no id of "A" (that is "A"), so a file "%41.xml" names a sample "%41"
 * before "A".  An id of the long form names the sample of its store id
 * (a VOC export of this store read back). */
static int match_id(struct limp *L, const char *stem, struct sample *smp)
{
  char name[256], id[256];
  bool decoded, canonical;
  int r = -ENOENT;

  if (!*stem)
    return -ENOENT;
  /* The long form (vocname.h): the sample of that store id, when the
   * export gives it this id. */
  if (voc_id_sample(stem) &&
      store_sample_get(L->t, voc_id_sample(stem), smp) == 0 &&
      !(smp->flags & SAMPLE_MISSING) &&
      voc_sample_id(smp->name, smp->id, id, sizeof(id)) == 0 &&
      strcmp(id, stem) == 0)
    return 0;
  decoded = voc_id_decode(stem, name, sizeof(name)) == 0 &&
            strcmp(name, stem) != 0;
  canonical = decoded && voc_id_encode(name, id, sizeof(id)) == 0 &&
              strcmp(id, stem) == 0;
  if (canonical)
    r = limp_match(L, name, smp);
  if (r == -ENOENT)
    r = limp_match(L, stem, smp);
  if (r == -ENOENT && decoded && !canonical)
    r = limp_match(L, name, smp);
  return r;
}

/* The sample of annotation file fn: by the file's stem, else by its
 * <filename>.  -ENOENT when none, -ENOTUNIQ when several could be. */
static int voc_chain(struct limp *L, const char *fn,
                     const struct xmltree_node *root, struct sample *smp)
{
  char stem[256];
  int r;

  limp_stem(fn, stem, sizeof(stem));
  r = match_id(L, stem, smp);
  if (r == -ENOENT || r == -ENOTUNIQ) {
    int r2;
    limp_stem(xmltree_text(xmltree_child(root, "filename")), stem,
              sizeof(stem));
    r2 = match_id(L, stem, smp);
    r = r2 == -ENOENT ? r : r2;   /* an ambiguous stem stays so */
  }
  return r;
}

/* voc_chain, first as the names are written, then (finding nothing)
 * ignoring letter case: a <filename> found as written beats a stem found
 * only by case (IMG_1.xml of photo.jpg beside a sample img_1). */
static int voc_match(struct limp *L, const char *fn,
                     const struct xmltree_node *root, struct sample *smp)
{
  int r;

  limp_fold(L, false);
  r = voc_chain(L, fn, root, smp);
  limp_fold(L, true);
  return r == -ENOENT ? voc_chain(L, fn, root, smp) : r;
}

/* True when the boxes of annotation `root` are in the frame a viewer
 * shows (smp turned by its EXIF orientation), false for the stored
 * frame.  A <size> that is only one frame's size says which: for
 * orientations 5..8 of a picture that is not square the turned frame is
 * h wide and w high (datumaro writes the size of the picture it loaded
 * turned, our export the stored one).  Otherwise the source decides:
 * a CVAT zip is in CVAT's turned frame, a folder in the stored frame. */
static bool voc_view_frame(const struct limp *L,
                           const struct xmltree_node *root,
                           const struct sample *smp)
{
  const struct xmltree_node *sz = xmltree_child(root, "size");
  double w = 0, h = 0;

  if (!sz || box_num(sz, "width", &w) < 0 || box_num(sz, "height", &h) < 0)
    w = h = 0;   /* no size: the source decides */
  return img_boxes_turned(smp->orientation, smp->width, smp->height, w, h,
                          L->view_frame);
}

/* <object> number k (o) of file fn into f, its box clipped to smp; view:
 * the box is in the turned frame (voc_view_frame). */
static int voc_object(struct limp *L, const char *fn, size_t k,
                      const struct xmltree_node *o, const struct sample *smp,
                      bool view, struct label_field *f)
{
  const char *name = xmltree_text(xmltree_child(o, "name"));
  const struct xmltree_node *bb = xmltree_child(o, "bndbox");
  struct detection d = { 0 };
  double x0, y0, x1, y1;
  int r, crowd = 0;

  if (!labels_class_name_valid(name))
    return limp_fail(L, "%s: object %zu has no valid <name>", fn, k);
  if (!bb || box_num(bb, "xmin", &x0) || box_num(bb, "ymin", &y0) ||
      box_num(bb, "xmax", &x1) || box_num(bb, "ymax", &y1))
    return limp_fail(L, "%s: object '%s' needs a <bndbox> with numeric "
                     "xmin, ymin, xmax, ymax", fn, name);
  if (x1 < x0 || y1 < y0)
    return limp_fail(L, "%s: object '%s': xmax < xmin or ymax < ymin", fn,
                     name);
  if (view) {
    /* Corners of the turned picture back to the stored frame; the
     * turned frame of orientations 5..8 is h wide and w high, so the
     * clip below comes after the turn. */
    double b[4] = { x0, y0, x1, y1 };
    img_orient_box(smp->orientation, smp->width, smp->height, false, b);
    x0 = b[0], y0 = b[1], x1 = b[2], y1 = b[3];
  }
  d.x = x0, d.y = y0, d.w = x1 - x0, d.h = y1 - y0;
  limp_clip(&d, smp->width, smp->height);
  d.confidence = NAN;
  if (xmltree_child(o, "confidence")) {
    const char *t = xmltree_text(xmltree_child(o, "confidence"));
    char *e;
    double v = strtod(t, &e);
    if (!*t || *e || !isfinite(v))
      return limp_fail(L, "%s: bad <confidence> '%s'", fn, t);
    d.confidence = v;
  }
  d.iscrowd = strcmp(xmltree_text(xmltree_child(o, "iscrowd")), "1") == 0;
  r = store_class_id(L->t, name, true, &d.class_id);
  r = r ? r : object_attrs(o, &d.attributes, &crowd);
  d.iscrowd |= crowd == 1;
  r = r ? r : labels_field_add(f, &d);
  free(d.attributes);
  return r;
}

static int one_xml(struct limp *L, struct limp_src *src, size_t i,
                   struct buf *b)
{
  struct xmltree_node root;
  struct label_field f = { 0 };
  struct sample smp;
  const char *fn = src->names[i];
  int r = voc_parse(L, src, i, b, &root);

  if (r == 0) {
    L->st->files++;
    r = voc_match(L, fn, &root, &smp);
    if (r == -ENOENT || r == -ENOTUNIQ) {
      limp_report(L, fn, r == -ENOTUNIQ
                  ? "several samples have this name; skipped"
                  : "no sample with this name");
      L->st->unmatched++;
      xmltree_free(&root);
      return 0;
    }
  }
  if (r == 0 && (r = limp_claim(L, &smp, fn)) == 1) {
    xmltree_free(&root);   /* another file names the sample exactly */
    return 0;
  }
  bool view = r == 0 && voc_view_frame(L, &root, &smp);
  if (view)
    L->st->turned++;
  for (size_t k = 0; r == 0 && k < root.n; k++)
    if (strcmp(root.kids[k].name, "object") == 0)
      r = voc_object(L, fn, k, &root.kids[k], &smp, view, &f);
  xmltree_free(&root);
  if (r == 0)
    r = limp_put(L, smp.id, &f);
  labels_field_clear(&f);
  return r;
}

static int labelmap(struct limp *L, struct limp_src *src, long li,
                    struct buf *b)
{
  char *line, *save = NULL;
  int r = limp_src_read(src, (size_t)li, LIMP_FILE_MAX, b);

  if (r < 0)
    return limp_src_read_fail(L, src, (size_t)li, LIMP_FILE_MAX, r);
  for (line = strtok_r(b->data ? b->data : (char[]){ 0 }, "\n", &save);
       line && r == 0; line = strtok_r(NULL, "\n", &save)) {
    char *c = strchr(line, ':');
    uint32_t id;
    if (line[0] == '#')
      continue;
    if (c)
      *c = '\0';
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
      line[--n] = '\0';
    if (!n)
      continue;
    if (!labels_class_name_valid(line))
      return limp_fail(L, "labelmap.txt: invalid class name");
    /* VOC's segmentation background, which datumaro (CVAT's "PASCAL VOC
     * 1.1") lists first in every labelmap: no box class.  An <object>
     * named so still makes the class. */
    if (strcmp(line, "background") == 0)
      continue;
    r = store_class_id(L->t, line, true, &id);
  }
  return r;
}

int fmt_voc_import(struct limp *L, struct limp_src *src)
{
  struct buf b;
  long li = limp_src_find(src, "labelmap.txt");
  size_t found = 0;
  int r = 0;

  buf_init(&b, LIMP_FILE_MAX);
  if (li >= 0)
    r = labelmap(L, src, li, &b);
  for (size_t i = 0; r == 0 && i < src->n; i++) {
    const char *n = src->names[i];
    size_t len = strlen(n);
    if (len < 5 || strcmp(n + len - 4, ".xml") != 0 ||
        !(strncmp(n, "Annotations/", 12) == 0 || strstr(n, "/Annotations/")))
      continue;
    found++;
    r = one_xml(L, src, i, &b);
  }
  buf_free(&b);
  if (r == 0 && !found)
    r = limp_fail(L, "no Annotations/*.xml file");
  return r;
}
