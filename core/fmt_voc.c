/* fmt_voc.c - Pascal VOC annotations into a field (see labelimport.h).
 *
 * Reads every *.xml under an `Annotations/` folder; labelmap.txt, when
 * present, creates its classes first in file order.  The XML reader here
 * understands what VOC files use: elements, text, the five predefined
 * entities and numeric character references, comments, CDATA, the XML
 * declaration and a DOCTYPE; attributes are skipped.  It is not a general
 * XML parser (no namespaces, no DTD entities).
 *
 * Per <object>: <name> (class), <bndbox> xmin ymin xmax ymax as numbers
 * (floats accepted, formats.md §5.8), kept as pixels: x = xmin,
 * w = xmax - xmin, clipped to the image; degenerate boxes are kept,
 * inverted ones fail the import.  <confidence> and <iscrowd> map to the
 * detection's own fields; <truncated>/<difficult> become attributes unless
 * 0 (the export writes 0 when absent, so nothing is lost); every other
 * child with text, and CVAT's <attributes><attribute><name/><value/>,
 * becomes an attribute (numbers and true/false typed, empty = null).
 * The XML's own stem names the image; <filename> is the fallback. */
#define _GNU_SOURCE   /* qsort_r, memmem */
#include "labelimport_i.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XML_MAX_DEPTH 32

struct xnode {
  char *name;
  struct buf text;
  struct xnode *kids;
  size_t n, cap;
};

static void xnode_free(struct xnode *x)
{
  for (size_t i = 0; i < x->n; i++)
    xnode_free(&x->kids[i]);
  free(x->kids);
  free(x->name);
  buf_free(&x->text);
}

static const struct xnode *xchild(const struct xnode *x, const char *name)
{
  for (size_t i = 0; x && i < x->n; i++)
    if (strcmp(x->kids[i].name, name) == 0)
      return &x->kids[i];
  return NULL;
}

/* Text content, trimmed ("" when none). */
static const char *xtext(const struct xnode *x)
{
  if (!x || !x->text.data)
    return "";
  char *s = x->text.data;
  size_t n = x->text.len;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' ||
               s[n - 1] == '\t'))
    s[--n] = '\0';
  while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
    s++;
  return s;
}

struct xp {
  const char *p, *end;
  const char *err;
};

static bool name_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
         c == ':' || (unsigned char)c >= 0x80;
}

static int put_utf8(struct buf *b, unsigned cp)
{
  char u[4];
  size_t n;

  if (cp == 0 || cp > 0x10ffff)
    return -EINVAL;
  if (cp < 0x80) {
    u[0] = (char)cp, n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
  } else {
    u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  return buf_append(b, u, n);
}

static int text_add(struct xp *xp, struct buf *b, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '&') {
      size_t j = i;
      while (j < n && s[j] != '&')
        j++;
      if (buf_append(b, s + i, j - i) < 0)
        return -ENOMEM;
      i = j - 1;
      continue;
    }
    const char *semi = memchr(s + i, ';', n - i);
    size_t len = semi ? (size_t)(semi - (s + i)) : 0;
    static const struct { const char *e; char c; } ents[] = {
      { "&amp", '&' }, { "&lt", '<' }, { "&gt", '>' }, { "&quot", '"' },
      { "&apos", '\'' } };
    bool done = false;
    for (size_t k = 0; semi && k < ARRAY_SIZE(ents) && !done; k++)
      if (strlen(ents[k].e) == len && memcmp(ents[k].e, s + i, len) == 0) {
        if (buf_append(b, &ents[k].c, 1) < 0)
          return -ENOMEM;
        done = true;
      }
    if (!done && semi && len > 2 && s[i + 1] == '#') {
      char tmp[16];
      unsigned long cp;
      char *e;
      if (len - 2 < sizeof(tmp)) {
        memcpy(tmp, s + i + 2, len - 2);
        tmp[len - 2] = '\0';
        cp = tmp[0] == 'x' ? strtoul(tmp + 1, &e, 16) : strtoul(tmp, &e, 10);
        done = *e == '\0' && put_utf8(b, (unsigned)cp) == 0;
      }
    }
    if (!done) {
      xp->err = "unknown or malformed entity";
      return -EINVAL;
    }
    i += len;
  }
  return 0;
}

static int parse_elem(struct xp *xp, struct xnode *x, int depth);

/* Skips <?...?>, <!--...-->, <!DOCTYPE ...>.  Returns 1 if skipped. */
static int skip_misc(struct xp *xp)
{
  const char *e;

  if (xp->end - xp->p >= 4 && memcmp(xp->p, "<!--", 4) == 0) {
    e = memmem(xp->p + 4, (size_t)(xp->end - xp->p - 4), "-->", 3);
    if (!e)
      return xp->err = "unterminated comment", -EINVAL;
    xp->p = e + 3;
    return 1;
  }
  if (xp->end - xp->p >= 2 && (memcmp(xp->p, "<?", 2) == 0 ||
                               (memcmp(xp->p, "<!", 2) == 0 &&
                                xp->end - xp->p > 2 && xp->p[2] != '['))) {
    e = memchr(xp->p, '>', (size_t)(xp->end - xp->p));
    if (!e)
      return xp->err = "unterminated declaration", -EINVAL;
    xp->p = e + 1;
    return 1;
  }
  return 0;
}

static int parse_elem(struct xp *xp, struct xnode *x, int depth)
{
  const char *p = xp->p + 1, *s;
  int r;

  if (depth > XML_MAX_DEPTH)
    return xp->err = "nesting too deep", -EINVAL;
  s = p;
  while (p < xp->end && name_char(*p))
    p++;
  if (p == s)
    return xp->err = "bad element name", -EINVAL;
  x->name = strndup(s, (size_t)(p - s));
  buf_init(&x->text, LIMP_FILE_MAX);
  if (!x->name)
    return -ENOMEM;
  /* Attributes: skipped, quotes respected. */
  while (p < xp->end && *p != '>' && !(*p == '/' && p + 1 < xp->end && p[1] == '>')) {
    if (*p == '"' || *p == '\'') {
      const char *q = memchr(p + 1, *p, (size_t)(xp->end - p - 1));
      if (!q)
        return xp->err = "unterminated attribute", -EINVAL;
      p = q;
    }
    p++;
  }
  if (p >= xp->end)
    return xp->err = "unterminated tag", -EINVAL;
  if (*p == '/') {
    xp->p = p + 2;
    return 0;
  }
  xp->p = p + 1;
  for (;;) {
    const char *lt = memchr(xp->p, '<', (size_t)(xp->end - xp->p));
    if (!lt)
      return xp->err = "missing end tag", -EINVAL;
    if ((r = text_add(xp, &x->text, xp->p, (size_t)(lt - xp->p))) < 0)
      return r;
    xp->p = lt;
    if (xp->end - lt >= 9 && memcmp(lt, "<![CDATA[", 9) == 0) {
      const char *e = memmem(lt + 9, (size_t)(xp->end - lt - 9), "]]>", 3);
      if (!e)
        return xp->err = "unterminated CDATA", -EINVAL;
      if (buf_append(&x->text, lt + 9, (size_t)(e - lt - 9)) < 0)
        return -ENOMEM;
      xp->p = e + 3;
      continue;
    }
    if ((r = skip_misc(xp)) != 0) {
      if (r < 0)
        return r;
      continue;
    }
    if (xp->end - lt >= 2 && lt[1] == '/') {
      size_t n = strlen(x->name);
      if ((size_t)(xp->end - lt) < n + 3 || memcmp(lt + 2, x->name, n) != 0)
        return xp->err = "mismatched end tag", -EINVAL;
      p = lt + 2 + n;
      while (p < xp->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
      if (p >= xp->end || *p != '>')
        return xp->err = "mismatched end tag", -EINVAL;
      xp->p = p + 1;
      return 0;
    }
    if (x->n == x->cap) {
      size_t nc = x->cap ? x->cap * 2 : 8;
      struct xnode *k = realloc(x->kids, nc * sizeof(*k));
      if (!k)
        return -ENOMEM;
      x->kids = k;
      x->cap = nc;
    }
    memset(&x->kids[x->n], 0, sizeof(*x->kids));
    x->n++;
    if ((r = parse_elem(xp, &x->kids[x->n - 1], depth + 1)) < 0)
      return r;
  }
}

static int xml_parse(const char *s, size_t n, struct xnode *root,
                     const char **err)
{
  struct xp xp = { s, s + n, NULL };
  int r;

  memset(root, 0, sizeof(*root));
  for (;;) {
    while (xp.p < xp.end && (*xp.p == ' ' || *xp.p == '\n' ||
                             *xp.p == '\r' || *xp.p == '\t'))
      xp.p++;
    if (xp.end - xp.p >= 3 && memcmp(xp.p, "\xef\xbb\xbf", 3) == 0) {
      xp.p += 3;
      continue;
    }
    if (xp.p >= xp.end || *xp.p != '<') {
      *err = "no root element";
      return -EINVAL;
    }
    r = skip_misc(&xp);
    if (r < 0) {
      *err = xp.err;
      return r;
    }
    if (r == 0)
      break;
  }
  r = parse_elem(&xp, root, 0);
  if (r < 0)
    *err = xp.err ? xp.err : "out of memory";
  return r;
}

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

/* Attributes of an <object> as sorted compact JSON (NULL when none). */
static int object_attrs(const struct xnode *o, char **ret)
{
  struct kv kv[64];
  size_t n = 0;
  struct buf b;
  int r = 0;

  *ret = NULL;
  for (size_t i = 0; i < o->n && n < ARRAY_SIZE(kv); i++) {
    const struct xnode *c = &o->kids[i];
    const char *t = xtext(c);
    if (strcmp(c->name, "name") == 0 || strcmp(c->name, "bndbox") == 0 ||
        strcmp(c->name, "confidence") == 0 ||
        strcmp(c->name, "iscrowd") == 0 || strcmp(c->name, "part") == 0 ||
        strcmp(c->name, "actions") == 0 || c->n)
      goto cvat;
    if ((strcmp(c->name, "truncated") == 0 ||
         strcmp(c->name, "difficult") == 0) && strcmp(t, "0") == 0)
      continue;
    kv[n++] = (struct kv){ c->name, t };
    continue;
  cvat:
    if (strcmp(c->name, "attributes") == 0)
      for (size_t j = 0; j < c->n && n < ARRAY_SIZE(kv); j++) {
        const struct xnode *a = &c->kids[j];
        const struct xnode *an = xchild(a, "name");
        if (strcmp(a->name, "attribute") == 0 && an && *xtext(an))
          kv[n++] = (struct kv){ xtext(an), xtext(xchild(a, "value")) };
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

static int box_num(const struct xnode *bb, const char *k, double *ret)
{
  const char *t = xtext(xchild(bb, k));
  char *e;

  *ret = strtod(t, &e);
  return *t && *e == '\0' && isfinite(*ret) ? 0 : -1;
}

static int one_xml(struct limp *L, struct lsrc *src, size_t i, struct buf *b)
{
  struct xnode root;
  struct label_field f = { 0 };
  struct sample smp;
  char stem[256];
  const char *why = NULL, *fn = src->names[i];
  int r;

  buf_reset(b);
  r = lsrc_read(src, i, LIMP_FILE_MAX, b);
  if (r < 0)
    return limp_fail(L, "%s: %s", fn, strerror(-r));
  r = xml_parse(b->data ? b->data : "", b->len, &root, &why);
  if (r < 0) {
    xnode_free(&root);
    return r == -ENOMEM ? r : limp_fail(L, "%s: malformed XML: %s", fn, why);
  }
  if (strcmp(root.name, "annotation") != 0) {
    r = limp_fail(L, "%s: root element is <%s>, not <annotation>", fn,
                  root.name);
    xnode_free(&root);
    return r;
  }
  L->st->files++;
  limp_stem(fn, stem, sizeof(stem));
  r = limp_match(L, stem, &smp);
  if (r == -ENOENT) {
    limp_stem(xtext(xchild(&root, "filename")), stem, sizeof(stem));
    r = *stem ? limp_match(L, stem, &smp) : -ENOENT;
  }
  if (r == -ENOENT) {
    limp_report(L, fn, "no sample with this name");
    L->st->unmatched++;
    xnode_free(&root);
    return 0;
  }
  for (size_t k = 0; r == 0 && k < root.n; k++) {
    const struct xnode *o = &root.kids[k], *bb;
    const char *name;
    struct detection d = { 0 };
    double x0, y0, x1, y1, v;
    char *e;

    if (strcmp(o->name, "object") != 0)
      continue;
    name = xtext(xchild(o, "name"));
    bb = xchild(o, "bndbox");
    if (!labels_class_name_valid(name)) {
      r = limp_fail(L, "%s: object %zu has no valid <name>", fn, k);
      break;
    }
    if (!bb || box_num(bb, "xmin", &x0) || box_num(bb, "ymin", &y0) ||
        box_num(bb, "xmax", &x1) || box_num(bb, "ymax", &y1)) {
      r = limp_fail(L, "%s: object '%s' needs a <bndbox> with numeric "
                    "xmin, ymin, xmax, ymax", fn, name);
      break;
    }
    if (x1 < x0 || y1 < y0) {
      r = limp_fail(L, "%s: object '%s': xmax < xmin or ymax < ymin", fn,
                    name);
      break;
    }
    d.x = x0, d.y = y0, d.w = x1 - x0, d.h = y1 - y0;
    limp_clip(&d, smp.width, smp.height);
    d.confidence = NAN;
    if (xchild(o, "confidence")) {
      const char *t = xtext(xchild(o, "confidence"));
      v = strtod(t, &e);
      if (!*t || *e || !isfinite(v)) {
        r = limp_fail(L, "%s: bad <confidence> '%s'", fn, t);
        break;
      }
      d.confidence = v;
    }
    d.iscrowd = strcmp(xtext(xchild(o, "iscrowd")), "1") == 0;
    r = store_class_id(L->t, name, true, &d.class_id);
    r = r ? r : object_attrs(o, &d.attributes);
    r = r ? r : labels_field_add(&f, &d);
    free(d.attributes);
  }
  xnode_free(&root);
  if (r == 0)
    r = limp_put(L, smp.id, &f);
  for (size_t k = 0; k < f.n; k++)
    detection_clear(&f.d[k]);
  free(f.d);
  return r;
}

static int labelmap(struct limp *L, struct lsrc *src, long li, struct buf *b)
{
  char *line, *save = NULL;
  int r = lsrc_read(src, (size_t)li, LIMP_FILE_MAX, b);

  if (r < 0)
    return limp_fail(L, "labelmap.txt: %s", strerror(-r));
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
    r = store_class_id(L->t, line, true, &id);
  }
  return r;
}

int voc_import(struct limp *L, struct lsrc *src)
{
  struct buf b;
  long li = lsrc_find(src, "labelmap.txt");
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
