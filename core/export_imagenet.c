/* export_imagenet.c - the ImageNet tree (CVAT "ImageNet 1.0": one folder
 * per class) for a detection field: one crop per box,
 *   <class>/<name>_<labelid>.jpg
 * cut from the source image and JPEG-encoded (quality 90) when generated.
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
#include "export_i.h"

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
static int dir_class(struct xctx *x, const char *dir, uint32_t *ret)
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
  x_class_dir(name, enc, sizeof(enc));
  if (strcmp(enc, dir) != 0)
    return 0;
  int r = store_class_id(x->t, name, false, ret);
  return r == -ENOENT ? 0 : r;
}

struct scan {
  uint32_t cls;                 /* 0: every class */
  uint8_t *seen;                /* per class id, for the top listing */
  uint32_t ncls;
  int (*fn)(const struct export_ent *, void *);
  void *ud;
  bool stop_at_first;
};

static int scan_sample(struct xctx *x, const struct sample *smp, int sub,
                       void *ud)
{
  struct scan *sc = ud;
  struct labels l;
  const struct label_field *f = x_labels(x, smp->id, &l);
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
    x_ent(&e, nm, false, 0, d->id);
    r = sc->fn(&e, sc->ud);
  }
  labels_free(&l);
  return r;
}

int inet_list(struct xctx *x, const char *dir,
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
    r = x_each(x, -1, scan_sample, &sc);
    for (uint32_t c = 1; r == 0 && c <= sc.ncls; c++) {
      const char *name;
      char enc[CLASS_DIR_MAX];
      struct export_ent e;
      if (!sc.seen[c])
        continue;
      r = store_class_name(x->t, c, &name);
      if (r < 0)
        break;
      x_class_dir(name, enc, sizeof(enc));
      if (x_ent(&e, enc, true, 0, 0) == 0)
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
  return x_each(x, -1, scan_sample, &sc);
}

/* "<class>/<name>_<labelid>.jpg" -> sample, detection (copied into *ret
 * with its strings owned by *l). */
static int find_crop(struct xctx *x, const char *path, struct sample *smp,
                     struct labels *l, const struct detection **ret)
{
  char cdir[CLASS_DIR_MAX], name[256];
  const char *file, *us, *dot;
  const struct label_field *f;
  uint32_t cls;
  uint64_t lid = 0;
  int sub, r;

  labels_init(l);
  if (x_split(path, cdir, sizeof(cdir), &file) < 0 || !*file ||
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
  r = x_sample_file(x, name, ".jpg", smp, &sub);
  if (r < 0)
    return r == -EINVAL ? -ENOENT : r;
  f = x_labels(x, smp->id, l);
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

int inet_stat(struct xctx *x, const char *path, struct export_ent *e)
{
  if (!strchr(path, '/')) {
    struct scan sc = { .stop_at_first = true };
    int r = dir_class(x, path, &sc.cls);
    if (r < 0)
      return r;
    if (!sc.cls)
      return -ENOENT;
    r = x_each(x, -1, scan_sample, &sc);
    if (r < 0)
      return r;
    return r == 1 ? x_ent(e, path, true, 0, 0) : -ENOENT;
  }
  struct sample smp;
  struct labels l;
  const struct detection *d;
  int r = find_crop(x, path, &smp, &l, &d);

  if (r < 0)
    return r;
  r = x_ent(e, strrchr(path, '/') + 1, false, 0, d->id);
  labels_free(&l);
  return r;
}

/* Copies the rounded-out, clipped box region of im into crop. */
static int cut(const struct image *im, const struct detection *d,
               struct image *crop)
{
  long x0 = (long)floor(d->x), y0 = (long)floor(d->y);
  long x1 = (long)ceil(d->x + d->w), y1 = (long)ceil(d->y + d->h);
  int r;

  x0 = MAX(0, MIN(x0, (long)im->w - 1));
  y0 = MAX(0, MIN(y0, (long)im->h - 1));
  x1 = MAX(x0 + 1, MIN(x1, (long)im->w));
  y1 = MAX(y0 + 1, MIN(y1, (long)im->h));
  r = image_alloc(crop, (int)(x1 - x0), (int)(y1 - y0), im->channels);
  if (r < 0)
    return r;
  for (long y = y0; y < y1; y++)
    memcpy(crop->px + (size_t)(y - y0) * (size_t)crop->w * (size_t)im->channels,
           im->px + ((size_t)y * (size_t)im->w + (size_t)x0) *
                        (size_t)im->channels,
           (size_t)crop->w * (size_t)im->channels);
  return 0;
}

int inet_gen(struct xctx *x, const char *path)
{
  struct sample smp;
  struct labels l;
  const struct detection *d;
  struct image im = { 0 }, crop = { 0 };
  char *root = NULL, *src = NULL;
  uint8_t *jpg = NULL;
  size_t jlen = 0;
  int r = find_crop(x, path, &smp, &l, &d);

  if (r < 0)
    return r;
  int fd = -1;
  r = store_setting_get(x->t, "root", &root);
  /* Only files beneath the dataset folder (util.h dataset_open); decoded
   * through the descriptor opened there. */
  if (r == 0 && (fd = r = dataset_open(root, smp.relpath)) >= 0)
    r = 0;
  if (r == 0 && !(src = malloc(32)))
    r = -ENOMEM;
  if (r == 0)
    snprintf(src, 32, "/proc/self/fd/%d", fd);
  r = r ? r : img_decode_file(src, 0, 0, &im, NULL)   /* any format */;
  if (fd >= 0)
    close(fd);
  r = r ? r : cut(&im, d, &crop);
  r = r ? r : jpeg_encode(&crop, CROP_QUALITY, &jpg, &jlen);
  r = r ? r : x_put(x, (const char *)jpg, jlen);
  free(jpg);
  image_free(&crop);
  image_free(&im);
  free(src);
  free(root);
  labels_free(&l);
  return r;
}
