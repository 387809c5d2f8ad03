/* evalrun_rec.c - the records of an evaluation (layout in evalrun_rec.h):
 * keys, checked reads, the labels fingerprint and deletion, shared by the
 * evalrun*.c files; plus evalrun_name_valid(), which every read checks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coco.h"
#include "evalrun_rec.h"

bool evalrun_name_valid(const char *name)
{
  size_t n = name ? strlen(name) : 0;
  if (n < 1 || n > EVALRUN_MAX_NAME || !strcmp(name, ".") ||
      !strcmp(name, ".."))
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}


/* splitmix64 finaliser: spreads (id, labels_version) pairs so that the
 * fingerprint changes whenever any of them does. */
static uint64_t mix(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t evalrun_rec_fp_step(uint64_t h, uint64_t id, uint64_t ver)
{
  return mix(h ^ mix(id * 0x100000001b3ull + ver));
}

static int id_step(uint64_t sample_id, int64_t coco_id, void *ud)
{
  uint64_t *fp = ud;

  *fp = evalrun_rec_fp_step(*fp, sample_id, (uint64_t)coco_id);
  return 0;
}

/* The ids are read as evaluation reads them (coco_image_id_each: the
 * field's own record, else an earlier build's field-less one), so what
 * changes the order changes the fingerprint.  A store without any adds
 * no step: its evaluations keep the fingerprint they were stored with. */
int evalrun_rec_coco_fp(struct store_txn *t, const char *gt_field,
                        uint64_t *fp)
{
  uint64_t h = 0;
  int r = coco_missing_fp(t, &h);

  if (r == 0)
    *fp = evalrun_rec_fp_step(*fp, 0, h);
  return r ? r : coco_image_id_each(t, gt_field, id_step, fp);
}

/* Key "<name>\0<suffix>". */
size_t evalrun_rec_key(uint8_t *out, const char *name, const void *suffix,
                       size_t slen)
{
  size_t n = strlen(name);
  memcpy(out, name, n);
  out[n] = 0;
  if (slen)
    memcpy(out + n + 1, suffix, slen);
  return n + 1 + slen;
}


int evalrun_rec_delete_all(struct store_txn *t, const char *name)
{
  uint8_t key[EVALRUN_MAX_NAME + 2];
  size_t kl = evalrun_rec_key(key, name, NULL, 0);
  int r = store_rec_each(t, NS_SAMPLE, key, kl, true, NULL, NULL);
  if (r == 0)
    r = store_rec_each(t, NS_RANK, key, kl, true, NULL, NULL);
  if (r == 0) {
    r = store_rec_del(t, NS_SUM, name, strlen(name));
    if (r == -ENOENT)
      r = 0;
  }
  return r;
}


void evalrun_rec_info(const struct sum_rec *sr, const char *name,
                      struct evalrun_info *ret)
{
  memset(ret, 0, sizeof(*ret));
  snprintf(ret->name, sizeof(ret->name), "%s", name);
  memcpy(ret->gt_field, sr->gt_field, sizeof(ret->gt_field));
  memcpy(ret->pred_field, sr->pred_field, sizeof(ret->pred_field));
  ret->gt_field[LABELS_MAX_FIELD_NAME] = 0;
  ret->pred_field[LABELS_MAX_FIELD_NAME] = 0;
  ret->iou = sr->iou;
  ret->store_version = sr->store_version;
  ret->labels_fp = sr->labels_fp;
  ret->created_ns = sr->created_ns;
  ret->seconds = sr->seconds;
  ret->n_samples = sr->n_samples;
  ret->n_gt = sr->n_gt;
  ret->n_pred = sr->n_pred;
  ret->tp = sr->tp;
  ret->fp = sr->fp;
  ret->fn = sr->fn;
  ret->precision = sr->tp + sr->fp ? (double)sr->tp / (double)(sr->tp + sr->fp)
                                   : 0;
  ret->recall = sr->tp + sr->fn ? (double)sr->tp / (double)(sr->tp + sr->fn)
                                : 0;
  ret->map = sr->map;
  ret->n_classes = sr->n_classes;
  ret->n_mistakes = sr->n_mistakes;
  ret->n_missing = sr->n_missing;
  ret->n_spurious = sr->n_spurious;
}

/* Reads the summary record; *ret_val points to the whole record
 * (borrowed). */
int evalrun_rec_sum(struct store_txn *t, const char *name, struct sum_rec *sr,
                   const uint8_t **ret_val, size_t *ret_len)
{
  const void *v;
  size_t n;
  if (!evalrun_name_valid(name))
    return -ENOENT;
  int r = store_rec_get(t, NS_SUM, name, strlen(name), &v, &n);
  if (r < 0)
    return r;
  if (n < sizeof(*sr))
    return -EIO;
  memcpy(sr, v, sizeof(*sr));
  size_t need = sizeof(*sr) + (size_t)sr->n_classes * sizeof(struct cls_rec) +
                (size_t)sr->n_thr * sr->n_classes * EVAL_RECALL_POINTS *
                    sizeof(float);
  size_t trailer = sizeof(struct coco_rec) +
                   (size_t)sr->n_classes * 2 * sizeof(double);
  if (sr->n_thr < 0 || sr->n_thr > EVAL_MAX_THRESHS ||
      !((sr->version == REC_VERSION && n == need) ||
        (sr->version == SUM_VERSION_COCO && n == need + trailer) ||
        (sr->version == SUM_VERSION &&
         n == need + trailer + sizeof(struct out_rec))))
    return -EIO;
  if (ret_val)
    *ret_val = v;
  if (ret_len)
    *ret_len = n;
  return 0;
}


/* Reads a sample record; *ret_val borrowed. */
int evalrun_rec_sample(struct store_txn *t, const char *name, uint64_t sid,
                    struct samp_rec *sr, const uint8_t **ret_val)
{
  uint8_t key[EVALRUN_MAX_NAME + 10], be[8];
  const void *v;
  size_t n;

  if (!evalrun_name_valid(name))
    return -ENOENT;
  store_key_u64(be, sid);
  size_t kl = evalrun_rec_key(key, name, be, 8);
  int r = store_rec_get(t, NS_SAMPLE, key, kl, &v, &n);
  if (r < 0)
    return r;
  if (n < sizeof(*sr))
    return -EIO;
  memcpy(sr, v, sizeof(*sr));
  if (sr->version != REC_VERSION ||
      n != sizeof(*sr) + sr->n_gt * sizeof(struct gbox_rec) +
               sr->n_pred * sizeof(struct pbox_rec))
    return -EIO;
  *ret_val = v;
  return 0;
}

