/* maxiou.c - max IoU within label fields and the duplicate-box flags of
 * views/dupes (see maxiou.h).  The geometry is core/compute's iou.c; this
 * module adds the settings and the flattening over fields. */
#include "maxiou.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "iou.h"
#include "labels.h"

struct iou_settings {
  double thresh;
  bool all_classes;
  char field[LABELS_MAX_FIELD_NAME + 1];
};

static void iou_settings(struct store_txn *t, struct iou_settings *is)
{
  char cls[16];

  is->thresh = config_get_float(t, "dupes.iou");
  config_get_str(t, "dupes.classes", cls, sizeof(cls));
  is->all_classes = strcmp(cls, "all") == 0;
  config_get_str(t, "dupes.field", is->field, sizeof(is->field));
}

/* Max IoU within one field; partner indices flattened from `base`. */
static int max_iou_field(const struct label_field *lf, bool all_classes,
                         size_t base, double *iou, ptrdiff_t *partner_flat)
{
  struct iou_rect *rects = malloc(lf->n * sizeof(*rects));
  int *cls = malloc(lf->n * sizeof(*cls));
  ptrdiff_t *part = malloc(lf->n * sizeof(*part));
  int r = -ENOMEM;

  if (rects && cls && part) {
    for (size_t i = 0; i < lf->n; i++) {
      rects[i] = (struct iou_rect){ lf->d[i].x, lf->d[i].y, lf->d[i].w,
                                    lf->d[i].h };
      cls[i] = (int)lf->d[i].class_id;
    }
    r = iou_max_within(rects, cls, lf->n,
                       all_classes ? IOU_ALL_CLASSES : 0, iou + base, part);
    for (size_t i = 0; r == 0 && i < lf->n; i++)
      partner_flat[base + i] = part[i] < 0 ? -1 : (ptrdiff_t)base + part[i];
  }
  free(rects);
  free(cls);
  free(part);
  return r;
}

/* Max IoU within each field of l, flattened. */
static int max_iou_flat(const struct labels *l, bool all_classes,
                        double *iou, ptrdiff_t *partner_flat)
{
  size_t base = 0;

  for (size_t f = 0; f < l->n; f++) {
    int r;
    if (l->f[f].n == 0)
      continue;
    r = max_iou_field(&l->f[f], all_classes, base, iou, partner_flat);
    if (r < 0)
      return r;
    base += l->f[f].n;
  }
  return 0;
}

static size_t count_boxes(const struct labels *l)
{
  size_t n = 0;

  for (size_t f = 0; f < l->n; f++)
    n += l->f[f].n;
  return n;
}

static const struct detection *flat_det(const struct labels *l, size_t i)
{
  for (size_t f = 0; f < l->n; f++) {
    if (i < l->f[f].n)
      return &l->f[f].d[i];
    i -= l->f[f].n;
  }
  return NULL;
}

int maxiou_get(struct store_txn *t, const struct labels *l,
               double **ret_iou, uint64_t **ret_partner, size_t *ret_n)
{
  struct iou_settings is;
  size_t n = count_boxes(l);
  double *iou = malloc((n ? n : 1) * sizeof(*iou));
  ptrdiff_t *part = malloc((n ? n : 1) * sizeof(*part));
  uint64_t *pid = malloc((n ? n : 1) * sizeof(*pid));
  int r;

  *ret_iou = NULL;
  *ret_partner = NULL;
  *ret_n = 0;
  if (!iou || !part || !pid) {
    free(iou);
    free(part);
    free(pid);
    return -ENOMEM;
  }
  iou_settings(t, &is);
  r = max_iou_flat(l, is.all_classes, iou, part);
  for (size_t i = 0; r == 0 && i < n; i++)
    pid[i] = part[i] < 0 ? 0 : flat_det(l, (size_t)part[i])->id;
  free(part);
  if (r < 0) {
    free(iou);
    free(pid);
    return r;
  }
  *ret_iou = iou;
  *ret_partner = pid;
  *ret_n = n;
  return 0;
}

int maxiou_dupe_flags(struct store_txn *t, const struct labels *l,
                      bool **ret_flags, double **ret_iou, size_t *ret_n)
{
  struct iou_settings is;
  uint64_t *partner;
  double *iou;
  bool *flags;
  size_t n, base = 0;
  int r = maxiou_get(t, l, &iou, &partner, &n);

  *ret_flags = NULL;
  if (ret_iou)
    *ret_iou = NULL;
  *ret_n = 0;
  if (r < 0)
    return r;
  free(partner);
  flags = calloc(n ? n : 1, sizeof(*flags));
  if (!flags) {
    free(iou);
    return -ENOMEM;
  }
  iou_settings(t, &is);
  for (size_t f = 0; f < l->n; f++) {
    bool field_on = !is.field[0] || strcmp(is.field, l->f[f].name) == 0;
    for (size_t i = 0; i < l->f[f].n; i++)
      flags[base + i] = field_on && iou[base + i] > is.thresh;
    base += l->f[f].n;
  }
  if (ret_iou)
    *ret_iou = iou;
  else
    free(iou);
  *ret_flags = flags;
  *ret_n = n;
  return 0;
}
