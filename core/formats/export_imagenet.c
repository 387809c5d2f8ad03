/* export_imagenet.c - the ImageNet tree (CVAT "ImageNet 1.0": one folder
 * per class) for a detection field: one crop per box,
 *   <class>/<name>_<labelid>.jpg
 * cut from the source image and JPEG-encoded (quality 90) when generated.
 * A crop has no EXIF, so it is drawn in the export's frame: by default
 * (export.frame auto or viewer) turned as a viewer shows the photo, so a
 * portrait phone photo gives upright crops; export.frame stored keeps the
 * stored pixels.
 *
 * The label model has no image-level (box-less) labels, so every entry is
 * a crop; a classifier trains on the detections.  The crop is the box's
 * pixel extent rounded outwards (floor of the corner, ceil of the far
 * edge), clipped to the image and at least 1x1.  Class folder names are
 * the class names with '/' and '%' percent-encoded ("." and ".." too).
 * Only classes with at least one box in the selection get a folder (some
 * readers, e.g. torchvision's ImageFolder, reject empty class folders).
 * There are no subsets: export a tag (train, val, ...) to split.
 * Listing a class folder reads the labels of the whole selection. */
#include "export_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgcodec.h"

#define CROP_QUALITY 90
#define CLASS_DIR_MAX (3 * LABELS_MAX_CLASS_NAME + 1)

/* Folder name -> class id (0 when it names no class).  The folder name
 * must be the canonical encoding of the class name. */
static int dir_class(struct exw *x, const char *dir, uint32_t *ret)
{
  char name[LABELS_MAX_CLASS_NAME + 1], enc[CLASS_DIR_MAX];
  size_t o = 0;

  *ret = 0;
  for (const char *p = dir; *p; p++) {
    unsigned v;
    if (o >= LABELS_MAX_CLASS_NAME)
      return 0;
    if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1 && v) {
      name[o++] = (char)v;
      p += 2;
    } else {
      name[o++] = *p;
    }
  }
  name[o] = '\0';
  exw_class_dir(name, enc, sizeof(enc));
  if (strcmp(enc, dir) != 0)
    return 0;
  int r = store_class_id(x->t, name, false, ret);
  return r == -ENOENT ? 0 : r;
}

/* export_ent.version of the crop of box d of smp (never 0): a hash of
 * everything its bytes depend on and nothing else, so a change to another
 * box of the photo leaves this crop's version, and so its inode, kernel
 * pages and cached content in the mount, as they were.  That is the
 * source file and the export's frame (exw_source_hash), the label field
 * it is read from, the box's coordinates and class and the encoder
 * quality.  The box id and the
 * class folder are in the crop's name, so a name that comes to mean
 * another box (an id written again by hand) has other coordinates or
 * another class, and so another version. */
static uint64_t crop_version(const struct exw *x, const struct sample *smp,
                             const struct detection *d)
{
  uint64_t h = exw_source_hash(x, smp);

  h = exw_mix_str(h, x->field);
  h = exw_mix(h, d->class_id);
  h = exw_mix_double(h, d->x);
  h = exw_mix_double(h, d->y);
  h = exw_mix_double(h, d->w);
  h = exw_mix_double(h, d->h);
  h = exw_mix(h, CROP_QUALITY);
  return h ? h : 1;
}

struct scan {
  uint32_t cls;                 /* 0: every class */
  uint8_t *seen;                /* per class id, for the top listing */
  uint32_t ncls;
  int (*fn)(const struct export_ent *, void *);
  void *ud;
  bool stop_at_first;
};

static int scan_sample(struct exw *x, const struct sample *smp, int sub,
                       void *ud)
{
  struct scan *sc = ud;
  struct labels l;
  const struct label_field *f = exw_labels(x, smp->id, &l);
  int r = store_txn_error(x->t);

  (void)sub;
  for (size_t i = 0; f && r == 0 && i < f->n; i++) {
    const struct detection *d = &f->d[i];
    if (sc->seen) {
      if (d->class_id <= sc->ncls)
        sc->seen[d->class_id] = 1;
      continue;
    }
    if (d->class_id != sc->cls)
      continue;
    if (sc->stop_at_first) {
      r = 1;
      break;
    }
    struct export_ent e;
    char nm[sizeof(e.name)];
    int n = snprintf(nm, sizeof(nm), "%s_%" PRIu64 ".jpg", smp->name, d->id);
    if (n < 0 || (size_t)n >= sizeof(nm))
      continue;
    exw_ent(&e, nm, false, 0, d->id);
    e.version = crop_version(x, smp, d);
    e.crop_of = smp->id;
    r = sc->fn(&e, sc->ud);
  }
  labels_free(&l);
  return r;
}

static int list_dir(struct exw *x, const char *dir,
                    int (*fn)(const struct export_ent *, void *), void *ud)
{
  struct scan sc = { .fn = fn, .ud = ud };
  int r;

  if (!*dir) {
    r = store_class_count(x->t, &sc.ncls);
    if (r < 0)
      return r;
    sc.seen = calloc((size_t)sc.ncls + 1, 1);
    if (!sc.seen)
      return -ENOMEM;
    r = exw_each(x, -1, scan_sample, &sc);
    for (uint32_t c = 1; r == 0 && c <= sc.ncls; c++) {
      const char *name;
      char enc[CLASS_DIR_MAX];
      struct export_ent e;
      if (!sc.seen[c])
        continue;
      r = store_class_name(x->t, c, &name);
      if (r < 0)
        break;
      exw_class_dir(name, enc, sizeof(enc));
      if (exw_ent(&e, enc, true, 0, 0) == 0)
        r = fn(&e, ud);
    }
    free(sc.seen);
    return r;
  }
  if (strchr(dir, '/'))
    return -ENOENT;
  r = dir_class(x, dir, &sc.cls);
  if (r < 0)
    return r;
  if (!sc.cls)
    return -ENOENT;
  return exw_each(x, -1, scan_sample, &sc);
}

/* "<class>/<name>_<labelid>.jpg" -> sample, detection (copied into *ret
 * with its strings owned by *l). */
static int find_crop(struct exw *x, const char *path, struct sample *smp,
                     struct labels *l, const struct detection **ret)
{
  char cdir[CLASS_DIR_MAX], name[256];
  const char *file, *us, *dot;
  const struct label_field *f;
  uint32_t cls;
  uint64_t lid = 0;
  int sub, r;

  labels_init(l);
  if (exw_split(path, cdir, sizeof(cdir), &file) < 0 || !*file ||
      strchr(file, '/'))
    return -ENOENT;
  r = dir_class(x, cdir, &cls);
  if (r < 0 || !cls)
    return r < 0 ? r : -ENOENT;
  us = strrchr(file, '_');
  dot = strrchr(file, '.');
  if (!us || !dot || strcmp(dot, ".jpg") != 0 || dot - us < 2 ||
      dot - us > 21 || (size_t)(us - file) + 5 > sizeof(name))
    return -ENOENT;
  for (const char *p = us + 1; p < dot; p++) {
    if (*p < '0' || *p > '9' || (p == us + 1 && *p == '0'))
      return -ENOENT;
    if (lid > (UINT64_MAX - 9) / 10)
      return -ENOENT;
    lid = lid * 10 + (uint64_t)(*p - '0');
  }
  memcpy(name, file, (size_t)(us - file));
  memcpy(name + (us - file), ".jpg", 5);
  r = exw_sample_file(x, name, ".jpg", smp, &sub);
  if (r < 0)
    return r == -EINVAL ? -ENOENT : r;
  f = exw_labels(x, smp->id, l);
  r = store_txn_error(x->t);
  if (r < 0)
    return r;
  for (size_t i = 0; f && i < f->n; i++)
    if (f->d[i].id == lid && f->d[i].class_id == cls) {
      *ret = &f->d[i];
      return 0;
    }
  labels_free(l);
  return -ENOENT;
}

static int stat_path(struct exw *x, const char *path, struct export_ent *e)
{
  if (!strchr(path, '/')) {
    struct scan sc = { .stop_at_first = true };
    int r = dir_class(x, path, &sc.cls);
    if (r < 0)
      return r;
    if (!sc.cls)
      return -ENOENT;
    r = exw_each(x, -1, scan_sample, &sc);
    if (r < 0)
      return r;
    return r == 1 ? exw_ent(e, path, true, 0, 0) : -ENOENT;
  }
  struct sample smp;
  struct labels l;
  const struct detection *d;
  int r = find_crop(x, path, &smp, &l, &d);

  if (r < 0)
    return r;
  r = exw_ent(e, strrchr(path, '/') + 1, false, 0, d->id);
  e->version = crop_version(x, &smp, d);
  e->crop_of = smp.id;
  labels_free(&l);
  return r;
}

/* v clamped to [lo, hi] before it becomes a long: a prediction's box may
 * reach 1e308 (or past, as x + w), and converting a double beyond the
 * range of long is undefined (x86 gave LONG_MIN: a 1x1 crop). */
static long clamp_to_long(double v, long lo, long hi)
{
  if (!(v > (double)lo))
    return lo;
  if (v >= (double)hi)
    return hi;
  return (long)v;
}

/* The box's pixel extent rounded outwards, clipped to a w x h image and
 * at least 1x1: [*x0, *x1) x [*y0, *y1). */
static void box_rect(const struct detection *d, long w, long h, long *x0,
                     long *y0, long *x1, long *y1)
{
  *x0 = clamp_to_long(floor(d->x), 0, w - 1);
  *y0 = clamp_to_long(floor(d->y), 0, h - 1);
  *x1 = clamp_to_long(ceil(d->x + d->w), *x0 + 1, w);
  *y1 = clamp_to_long(ceil(d->y + d->h), *y0 + 1, h);
}

/* The decoded part of a source image: pixels of the image's region
 * starting at (ox, oy), and the whole image's size. */
struct src_px {
  struct image im;
  int ox, oy;
  long w, h;
};

/* Decodes the pixels of the source file `path` (any format of imgfmt.h)
 * that cover [x0, x1) x [y0, y1) (in a w x h image as recorded).  The one
 * place the crops decode a source.  A JPEG decodes only that region
 * (jpegcodec.h jpeg_decode_region); a region decode the file does not
 * allow (its size is not the recorded one, a colour space the region
 * decoder does not convert) falls back to a whole decode, and every other
 * format is decoded whole through imgcodec.h. */
static int decode_source_region(const char *path, long w, long h, long x0,
                                long y0, long x1, long y1, struct src_px *sp)
{
  uint8_t *data;
  size_t len;
  int r = file_read_all(path, &data, &len);

  memset(sp, 0, sizeof(*sp));
  if (r < 0)
    return r;
  r = -EINVAL;
  if (img_sniff(data, len) == IMG_JPEG)
    r = jpeg_decode_region(data, len, (int)x0, (int)y0, (int)x1, (int)y1,
                           &sp->im, &sp->ox, &sp->oy);
  if (r == 0) {
    sp->w = w;
    sp->h = h;
  } else if (r == -EINVAL || r == -EBADMSG) {
    r = img_decode(data, len, 0, 0, &sp->im, NULL);   /* any format */
    sp->ox = sp->oy = 0;
    sp->w = sp->im.w;
    sp->h = sp->im.h;
  }
  free(data);
  return r;
}

/* Copies the rounded-out, clipped box region of the source into crop. */
static int cut(const struct src_px *sp, const struct detection *d,
               struct image *crop)
{
  const struct image *im = &sp->im;
  long x0, y0, x1, y1;
  int r;

  box_rect(d, sp->w, sp->h, &x0, &y0, &x1, &y1);
  if (x0 < sp->ox || y0 < sp->oy || x1 - sp->ox > im->w ||
      y1 - sp->oy > im->h)
    return -EIO;  /* not decoded: cannot happen with the union region */
  r = image_alloc(crop, (int)(x1 - x0), (int)(y1 - y0), im->channels);
  if (r < 0)
    return r;
  for (long y = y0; y < y1; y++)
    memcpy(crop->px + (size_t)(y - y0) * (size_t)crop->w * (size_t)im->channels,
           im->px + ((size_t)(y - sp->oy) * (size_t)im->w +
                     (size_t)(x0 - sp->ox)) * (size_t)im->channels,
           (size_t)crop->w * (size_t)im->channels);
  return 0;
}

/* The crop of box d, turned by `turn` (exw_turn: 1 = as stored), as a
 * JPEG without EXIF. */
static int encode_crop(const struct src_px *sp, const struct detection *d,
                       int turn, uint8_t **jpg, size_t *jlen)
{
  struct image crop = { 0 };
  int r = cut(sp, d, &crop);

  r = r ? r : img_orient(&crop, turn);
  r = r ? r : jpeg_encode(&crop, CROP_QUALITY, jpg, jlen);
  image_free(&crop);
  return r;
}

/* Offers the crops of the sample's other boxes (made from the pixels
 * decoded for one of them), so a reader walking the class folders finds
 * them ready: each source is decoded once for all of its boxes. */
static void offer_siblings(struct exw *x, const struct sample *smp,
                           const struct label_field *f,
                           const struct detection *want,
                           const struct src_px *sp)
{
  for (size_t i = 0; i < f->n; i++) {
    const struct detection *d = &f->d[i];
    const char *cname;
    char enc[CLASS_DIR_MAX], path[CLASS_DIR_MAX + 300];
    uint8_t *jpg = NULL;
    size_t jlen = 0;
    int n;

    if (d == want || store_class_name(x->t, d->class_id, &cname) < 0)
      continue;
    exw_class_dir(cname, enc, sizeof(enc));
    n = snprintf(path, sizeof(path), "%s/%s_%" PRIu64 ".jpg", enc, smp->name,
                 d->id);
    if (n < 0 || (size_t)n >= sizeof(path))
      continue;
    if (encode_crop(sp, d, exw_turn(x, smp), &jpg, &jlen) == 0)
      x->out->offer(x->out->ud, path, crop_version(x, smp, d), jpg,
                    jlen);
    free(jpg);
  }
}

static int gen_file(struct exw *x, const char *path)
{
  struct sample smp;
  struct labels l;
  const struct label_field *f;
  const struct detection *d;
  struct src_px sp = { 0 };
  char *root = NULL, *src = NULL;
  uint8_t *jpg = NULL;
  size_t jlen = 0;
  long x0, y0, x1, y1, w, h;
  bool siblings;
  int r = find_crop(x, path, &smp, &l, &d);

  if (r < 0)
    return r;
  f = labels_field(&l, x->field, false);  /* what find_crop() read */
  w = smp.width ? smp.width : 1;
  h = smp.height ? smp.height : 1;
  siblings = x->out->offer && f && f->n > 1;
  /* The region: this box, or the union of the sample's boxes when their
   * crops are made too. */
  box_rect(d, w, h, &x0, &y0, &x1, &y1);
  for (size_t i = 0; siblings && i < f->n; i++) {
    long a, b, c2, e;
    box_rect(&f->d[i], w, h, &a, &b, &c2, &e);
    x0 = MIN(x0, a);
    y0 = MIN(y0, b);
    x1 = MAX(x1, c2);
    y1 = MAX(y1, e);
  }
  int fd = -1;
  /* Decoded through the descriptor exw_open_source() opened (beneath the
   * dataset folder, or the mount's own opener). */
  r = exw_open_source(x, &smp, &fd);
  if (r == 0 && !(src = malloc(32)))
    r = -ENOMEM;
  if (r == 0)
    snprintf(src, 32, "/proc/self/fd/%d", fd);
  r = r ? r : decode_source_region(src, w, h, x0, y0, x1, y1, &sp);
  if (fd >= 0)
    close(fd);
  r = r ? r : encode_crop(&sp, d, exw_turn(x, &smp), &jpg, &jlen);
  r = r ? r : exw_put(x, (const char *)jpg, jlen);
  if (r == 0 && siblings)
    offer_siblings(x, &smp, f, d, &sp);
  free(jpg);
  image_free(&sp.im);
  free(src);
  free(root);
  labels_free(&l);
  return r;
}

/* This format's entry of the table in export.c. */
const struct exw_format export_imagenet_format = {
  "imagenet", list_dir, stat_path, gen_file
};
