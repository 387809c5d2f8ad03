/* export_voc.c - the Pascal VOC tree (CVAT "PASCAL VOC 1.1" layout):
 *   Annotations/<id>.xml                  one per selected sample
 *   JPEGImages/<id>.jpg                   (the sample's bytes for a JPEG;
 *                                         any other format converted at
 *                                         quality 100, exw_gen_image)
 *   ImageSets/Main/<subset>.txt           sample ids, one per line;
 *                                         trainval.txt = train + val,
 *                                         or default when neither exists
 *   labelmap.txt                          every class ("name:::") that
 *                                         the file can hold
 *   dataset_meta.json                     only when it cannot hold one:
 *                                         every class, for datumaro
 *
 * labelmap.txt has no escape: its readers (datumaro's
 * VocLabelMap.parse_from_file, which CVAT's VOC import uses, and
 * fmt_voc.c) split a line at every ':', strip it of blanks and skip it
 * when it then starts with '#'.  A class whose name holds a ':', starts
 * with '#' or has a blank at either end (any code point Python's
 * str.strip() removes: U+00A0, U+3000 ..., voc_has_end_space()) would
 * be read as another class
 * (or none, or refused: datumaro wants exactly four fields), so it is
 * left out, and a comment line names it.  Then dataset_meta.json lists
 * every class ({"labels": [...]}, in id order): datumaro reads that file
 * instead of labelmap.txt where it exists (datumaro/util/meta_file_util.py),
 * so its <object>s of such a class are declared.  The XML keeps every
 * name as it is (docs/EXPORT.md, "What readers require" 5).
 *
 * <id> is the sample name, but for the bytes a reader's line stripping
 * would lose (vocname.h: whitespace at either end, a leading '#'),
 * which are percent-encoded; an id that would not fit in a file name
 * ends with the sample's store id instead (vocname.h, voc_sample_id).
 *
 * Boxes are integer corners, truncated (docs/EXPORT.md, "What readers
 * require" 7):
 * xmin = int(x), ymin = int(y), xmax = int(x + w), ymax = int(y + h).
 * Every object carries <truncated> and <difficult> (0 unless an attribute
 * says otherwise), because common VOC readers require them; then the box's
 * other attributes with a scalar value as elements of their own, then
 * <confidence> and <iscrowd>1</iscrowd> when set.  Every image has an XML
 * (with no <object> when it has no box): readers such as torchvision's
 * open the XML of every id in the image set.  Pixels are read only to
 * convert a non-JPEG image: sizes come from the header recorded at import
 * (the converted JPEG has the same pixel size). */
#include "export_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgcodec.h"
#include "names.h"
#include "vocname.h"

/* "<subset>.txt" or "trainval.txt" -> SUB_* or SUB_N for trainval; -1. */
static int set_subset(const char *file)
{
  size_t n = strlen(file);

  if (n < 5 || strcmp(file + n - 4, ".txt") != 0)
    return -1;
  if (strcmp(file, "trainval.txt") == 0)
    return SUB_N;
  return exw_subset_parse(file, n - 4);
}

/* The selected sample of VOC file "<id><ext>": the id decoded to a name
 * (or, in the long form, the sample of its store id, vocname.h), and
 * only the id that sample is given (an id is one file, never two). */
static int voc_sample_file(struct exw *x, const char *file, const char *ext,
                           struct sample *smp, int *sub)
{
  char name[sizeof(((struct export_ent *)0)->name)];
  char id[sizeof(name)], stem[sizeof(name)];
  uint64_t sid;
  int r;

  if (name_strip_ext(file, ext, stem, sizeof(stem)) < 0)
    return -ENOENT;
  if ((sid = voc_id_sample(stem))) {
    if ((r = store_sample_get(x->t, sid, smp)) < 0)
      return r;
    if ((size_t)snprintf(name, sizeof(name), "%s%s", smp->name, ext) >=
        sizeof(name))
      return -ENOENT;
  } else if (voc_id_decode(file, name, sizeof(name)) < 0) {
    return -ENOENT;
  }
  r = exw_sample_file(x, name, ext, smp, sub);
  if (r == 0 && (voc_sample_id(smp->name, smp->id, id, sizeof(id)) < 0 ||
                 strcmp(id, stem) != 0))
    r = -ENOENT;
  return r;
}

struct voc_list {
  const char *ext;
  int (*fn)(const struct export_ent *, void *);
  void *ud;
};

/* One entry of Annotations/ or JPEGImages/ (image: the JPEG's own bytes
 * for a JPEG sample, a converted image of the sample otherwise). */
static int list_one(struct exw *x, const struct sample *smp, int sub,
                    void *ud)
{
  struct voc_list *c = ud;
  struct export_ent e;
  char id[sizeof(e.name)];

  (void)sub;
  if (voc_sample_id(smp->name, smp->id, id, sizeof(id)) < 0 ||
      exw_ent2(&e, id, c->ext) < 0)
    return 0;   /* cannot happen: an id fits in VOC_ID_MAX bytes */
  if (c->ext[1] == 'j')
    exw_image_mark(x, smp, &e);
  return c->fn(&e, c->ud);
}

/* Which subsets trainval.txt lists: train and val when either has a
 * sample; otherwise the default subset, so that an untagged dataset still
 * has an image set torchvision's VOCDetection accepts (it knows only
 * train, val and trainval).  Returns 1 (train + val), 2 (default), 0 (no
 * trainval.txt) or a negative errno. */
static int trainval_source(struct exw *x)
{
  int r = exw_has_subset(x, SUB_TRAIN);
  if (r == 0)
    r = exw_has_subset(x, SUB_VAL);
  if (r != 0)
    return r;
  r = exw_has_subset(x, SUB_DEFAULT);
  return r == 1 ? 2 : r;
}

static int set_present(struct exw *x, int set)
{
  int r;

  if (set != SUB_N)
    return exw_has_subset(x, set);
  r = trainval_source(x);
  return r > 0 ? 1 : r;
}

static int list_sets(struct exw *x,
                     int (*fn)(const struct export_ent *, void *), void *ud)
{
  bool present[SUB_N];
  struct export_ent e;
  int r = exw_subsets(x, present);

  for (int i = 0; r == 0 && i < SUB_N; i++)
    if (present[i]) {
      exw_ent2(&e, exw_subset_names[i], ".txt");
      r = fn(&e, ud);
    }
  if (r == 0 &&
      (present[SUB_TRAIN] || present[SUB_VAL] || present[SUB_DEFAULT])) {
    exw_ent(&e, "trainval.txt", false, 0, 0);
    r = fn(&e, ud);
  }
  return r;
}

/* Whether class name can be a line of labelmap.txt (the file's comment
 * above). */
static bool listable(const char *name)
{
  size_t n = strlen(name);

  return n && !strchr(name, ':') && name[0] != '#' &&
         !voc_has_end_space(name);
}

/* What the class walks below (store_classes_each) carry. */
struct voc_cls {
  struct exw *x;
  uint32_t unlisted;   /* count_unlisted */
  bool first;          /* put_meta_label: no comma before it */
};

static int count_unlisted(const struct store_class *sc, void *ud)
{
  ((struct voc_cls *)ud)->unlisted += !listable(sc->name);
  return 0;
}

/* Whether some class cannot be in labelmap.txt: then dataset_meta.json
 * exists.  1, 0 or a store error. */
static int needs_meta(struct exw *x)
{
  struct voc_cls v = { x, 0, false };
  int r = store_classes_each(x->t, count_unlisted, &v);

  return r < 0 ? r : v.unlisted > 0;
}

static int list_dir(struct exw *x, const char *dir,
                    int (*fn)(const struct export_ent *, void *), void *ud)
{
  static const struct export_ent top[] = {
    { .name = "Annotations", .dir = true },
    { .name = "ImageSets", .dir = true },
    { .name = "JPEGImages", .dir = true },
    { .name = "labelmap.txt" },
  };
  static const struct export_ent main_dir[] = {
    { .name = "Main", .dir = true },
  };
  static const struct export_ent meta = { .name = "dataset_meta.json" };
  int r;

  if (!*dir) {
    r = exw_list_fixed(top, ARRAY_SIZE(top), fn, ud);
    if (r == 0 && (r = needs_meta(x)) == 1)
      r = fn(&meta, ud);
    return r;
  }
  if (strcmp(dir, "Annotations") == 0)
    return exw_each(x, -1, list_one, &(struct voc_list){ ".xml", fn, ud });
  if (strcmp(dir, "JPEGImages") == 0)
    return exw_each(x, -1, list_one, &(struct voc_list){ ".jpg", fn, ud });
  if (strcmp(dir, "ImageSets") == 0)
    return exw_list_fixed(main_dir, 1, fn, ud);
  if (strcmp(dir, "ImageSets/Main") == 0)
    return list_sets(x, fn, ud);
  return -ENOENT;
}

static int stat_path(struct exw *x, const char *path, struct export_ent *e)
{
  static const char *const dirs[] = { "Annotations", "ImageSets",
                                      "JPEGImages", "ImageSets/Main" };
  char head[64];
  const char *rest;
  struct sample smp;
  int sub, r;

  for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
    if (strcmp(path, dirs[i]) == 0)
      return exw_ent(e, strrchr(path, '/') ? "Main" : path, true, 0, 0);
  if (strcmp(path, "labelmap.txt") == 0)
    return exw_ent(e, path, false, 0, 0);
  if (strcmp(path, "dataset_meta.json") == 0) {
    r = needs_meta(x);
    return r < 0 ? r : r ? exw_ent(e, path, false, 0, 0) : -ENOENT;
  }
  if (strncmp(path, "ImageSets/Main/", 15) == 0) {
    rest = path + 15;
    if (strchr(rest, '/') || set_present(x, set_subset(rest)) != 1)
      return -ENOENT;
    return exw_ent(e, rest, false, 0, 0);
  }
  if (exw_split(path, head, sizeof(head), &rest) < 0 || !*rest ||
      strchr(rest, '/'))
    return -ENOENT;
  if (strcmp(head, "Annotations") == 0)
    r = voc_sample_file(x, rest, ".xml", &smp, &sub);
  else if (strcmp(head, "JPEGImages") == 0)
    r = voc_sample_file(x, rest, ".jpg", &smp, &sub);
  else
    return -ENOENT;
  if (r < 0)
    return r == -ENOENT || r == -EINVAL ? -ENOENT : r;
  /* A JPEG is served from its source; any other format is generated:
   * converted to JPEG (exw_gen_image), still an image of the sample. */
  r = exw_ent(e, rest, false, 0, 0);
  if (r == 0 && head[0] == 'J')
    exw_image_mark(x, &smp, e);
  return r;
}

/* ud: the subset being listed, or -1 (trainval of train + val), or -2
 * (trainval of the default subset). */
static int put_name(struct exw *x, const struct sample *smp, int sub,
                    void *ud)
{
  int set = *(int *)ud;
  char id[sizeof(((struct export_ent *)0)->name)];
  int r;

  if (set == -1 && sub != SUB_TRAIN && sub != SUB_VAL)
    return 0;
  if (set == -2 && sub != SUB_DEFAULT)
    return 0;
  if (voc_sample_id(smp->name, smp->id, id, sizeof(id)) < 0)
    return 0;   /* as list_one: never listed */
  r = exw_puts(x, id);
  return r ? r : exw_put(x, "\n", 1);
}

static bool xml_name_ok(const char *k, size_t n)
{
  /* k is a JSON key with its quotes: accept plain XML names only. */
  if (n < 3)
    return false;
  for (size_t i = 1; i + 1 < n; i++) {
    char c = k[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool other = (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!alpha && (i == 1 || !other))
      return false;
  }
  return true;
}

static bool is_key(const char *k, size_t n, const char *name)
{
  size_t m = strlen(name);
  return n == m + 2 && memcmp(k + 1, name, m) == 0;
}

/* Can this attribute be written as an element?  Only plain XML names with
 * a scalar value; strings with escapes are left out too. */
static bool attr_elem_ok(const char *k, size_t kn, const char *v, size_t vn)
{
  return xml_name_ok(k, kn) && *v != '{' && *v != '[' &&
         !(*v == '"' && memchr(v, '\\', vn));
}

/* "    <key>value</key>\n" for an attribute that attr_elem_ok() accepts. */
static int put_attr_elem(struct exw *x, const char *k, size_t kn,
                         const char *v, size_t vn)
{
  int r = exw_room(x, 2 * kn + 12);

  if (r < 0)
    return r;
  EXW_LIT(x, "    <");
  exw_raw(x, k + 1, kn - 2);
  EXW_LIT(x, ">");
  if (*v == '"') {
    char tmp[1024];
    size_t n = MIN(vn - 2, sizeof(tmp) - 1);
    memcpy(tmp, v + 1, n);
    tmp[n] = '\0';
    r = exw_xml_str(x, tmp);
  } else if (!(vn == 4 && memcmp(v, "null", 4) == 0)) {
    r = exw_put(x, v, vn);
  }
  r = r ? r : exw_room(x, kn + 8);
  if (r < 0)
    return r;
  EXW_LIT(x, "</");
  exw_raw(x, k + 1, kn - 2);
  EXW_LIT(x, ">\n");
  return 0;
}

static bool voc_own_key(const char *k, size_t kn)
{
  static const char *const own[] = { "truncated", "difficult", "name",
                                     "bndbox", "confidence", "iscrowd" };
  for (size_t i = 0; i < ARRAY_SIZE(own); i++)
    if (is_key(k, kn, own[i]))
      return true;
  return false;
}

static int put_object(struct exw *x, const struct detection *d)
{
  static const char *const fixed[] = { "truncated", "difficult" };
  struct exw_attr_iter it;
  const char *k, *v;
  size_t kn, vn;
  int r;

  r = exw_puts(x, "  <object>\n    <name>");
  r = r ? r : exw_xml_str(x, d->label ? d->label : "");
  r = r ? r : exw_puts(x, "</name>\n");
  for (size_t i = 0; r == 0 && i < ARRAY_SIZE(fixed); i++) {
    bool found = false;
    exw_attr_init(&it, d->attributes);
    while (exw_attr_next(&it, &k, &kn, &v, &vn) == 1)
      if (is_key(k, kn, fixed[i])) {
        if (attr_elem_ok(k, kn, v, vn)) {
          found = true;
          r = put_attr_elem(x, k, kn, v, vn);
        }
        break;
      }
    if (r == 0 && !found)
      r = exw_printf(x, "    <%s>0</%s>\n", fixed[i], fixed[i]);
  }
  exw_attr_init(&it, d->attributes);
  while (r == 0 && exw_attr_next(&it, &k, &kn, &v, &vn) == 1)
    if (!voc_own_key(k, kn) && attr_elem_ok(k, kn, v, vn))
      r = put_attr_elem(x, k, kn, v, vn);
  if (r == 0 && d->confidence == d->confidence) {
    r = exw_puts(x, "    <confidence>");
    r = r ? r : exw_num(x, d->confidence);
    r = r ? r : exw_puts(x, "</confidence>\n");
  }
  if (r == 0 && d->iscrowd)
    r = exw_puts(x, "    <iscrowd>1</iscrowd>\n");
  r = r ? r : exw_printf(x, "    <bndbox>\n      <xmin>%lld</xmin>\n"
                         "      <ymin>%lld</ymin>\n      <xmax>%lld</xmax>\n"
                         "      <ymax>%lld</ymax>\n    </bndbox>\n"
                         "  </object>\n",
                         (long long)d->x, (long long)d->y,
                         (long long)(d->x + d->w), (long long)(d->y + d->h));
  return r;
}

static int gen_xml(struct exw *x, const char *file)
{
  struct sample smp;
  struct labels l;
  const struct label_field *f;
  char id[sizeof(((struct export_ent *)0)->name)];
  uint32_t tw, th;
  int turn, sub, r = voc_sample_file(x, file, ".xml", &smp, &sub);

  if (r < 0)
    return r;
  name_strip_ext(file, ".xml", id, sizeof(id));
  turn = exw_turn(x, &smp);
  exw_turned_size(turn, &smp, &tw, &th);
  f = exw_labels(x, smp.id, &l);
  r = store_txn_error(x->t);
  r = r ? r : exw_puts(x, "<annotation>\n  <folder>JPEGImages</folder>\n"
                       "  <filename>");
  r = r ? r : exw_xml_str(x, id);
  r = r ? r : exw_printf(x, ".jpg</filename>\n  <source>\n"
                         "    <database>curatefs</database>\n  </source>\n"
                         "  <size>\n    <width>%u</width>\n"
                         "    <height>%u</height>\n    <depth>%u</depth>\n"
                         "  </size>\n  <segmented>0</segmented>\n",
                         tw, th,
                         smp.components == 1 && smp.format == IMG_JPEG ? 1u
                                                                     : 3u);
  /* VOC corners are pixels of the image (EXPORT.md, "What readers
   * require", item 7): a box reaching past it is clipped, one with
   * nothing inside it is left out. */
  for (size_t i = 0; f && r == 0 && i < f->n; i++) {
    struct detection c;
    if (labels_box_clip(&f->d[i], smp.width, smp.height, &c)) {
      exw_turn_box(turn, &smp, &c);
      r = put_object(x, &c);
    }
  }
  r = r ? r : exw_puts(x, "</annotation>\n");
  labels_free(&l);
  return r;
}

/* JPEGImages/<name>.jpg of a sample in another format: its pixels (alpha
 * over white) as a JPEG (exw_gen_image), because VOC readers such as
 * torchvision's hard-code JPEGImages/<id>.jpg.  The JPEG has no EXIF, so
 * its pixels are drawn in the export's frame, the frame of its XML: every
 * reader then sees them as the boxes are. */
static int gen_jpeg(struct exw *x, const char *file)
{
  struct sample smp;
  int sub, r = voc_sample_file(x, file, ".jpg", &smp, &sub);

  return r ? r : exw_gen_image(x, &smp);
}

/* A line of labelmap.txt for a class that it can hold; a comment line
 * (a JSON string: the name may hold anything but a control character)
 * for one that it cannot. */
static int put_labelmap_line(const struct store_class *sc, void *ud)
{
  struct exw *x = ((struct voc_cls *)ud)->x;
  int r;

  if (listable(sc->name)) {
    r = exw_puts(x, sc->name);
    return r ? r : exw_puts(x, ":::\n");
  }
  r = exw_puts(x, "# not listed, as this file cannot hold its name "
               "(dataset_meta.json lists it): ");
  r = r ? r : exw_json_str(x, sc->name);
  return r ? r : exw_puts(x, "\n");
}

static int put_meta_label(const struct store_class *sc, void *ud)
{
  struct voc_cls *v = ud;
  int r = exw_puts(v->x, v->first ? "\n    " : ",\n    ");

  v->first = false;
  return r ? r : exw_json_str(v->x, sc->name);
}

static int gen_file(struct exw *x, const char *path)
{
  if (strcmp(path, "labelmap.txt") == 0) {
    struct voc_cls v = { x, 0, false };
    int r = exw_puts(x, "# label:color_rgb:parts:actions\n");
    return r ? r : store_classes_each(x->t, put_labelmap_line, &v);
  }
  if (strcmp(path, "dataset_meta.json") == 0) {
    struct voc_cls v = { x, 0, true };
    int r = needs_meta(x);
    if (r <= 0)
      return r < 0 ? r : -ENOENT;
    r = exw_puts(x, "{\n  \"labels\": [");
    r = r ? r : store_classes_each(x->t, put_meta_label, &v);
    return r ? r : exw_puts(x, "\n  ]\n}\n");
  }
  if (strncmp(path, "ImageSets/Main/", 15) == 0) {
    int set = set_subset(path + 15);
    if (set == SUB_N) {
      int src = trainval_source(x);
      if (src < 0)
        return src;
      set = src == 2 ? -2 : -1;
      return exw_each(x, -1, put_name, &set);
    }
    return exw_each(x, set, put_name, &set);
  }
  if (strncmp(path, "JPEGImages/", 11) == 0)
    return gen_jpeg(x, path + 11);
  return gen_xml(x, path + strlen("Annotations/"));
}

/* This format's entry of the table in export.c. */
const struct exw_format export_voc_format = {
  "voc", list_dir, stat_path, gen_file
};
