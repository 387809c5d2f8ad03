/* evalrun_draw.c - a sample's JPEG with the boxes of one evaluation view
 * drawn (evalrun_sample_jpeg, see evalrun.h): which boxes, from the
 * sample's record of the run (evalrun_rec.h); the drawing is core/image's
 * draw.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "evalrun_rec.h"
#include "labels.h"

static const struct rgb GT_COLOUR = { 0, 200, 0 };
static const struct rgb PRED_COLOUR = { 230, 40, 200 };

/* The boxes being drawn and their captions (80 bytes each). */
struct drawn {
  struct draw_box *boxes;
  char *caps;
  size_t n;
};

/* The ground-truth boxes the view shows; -ESTALE when the record does
 * not describe field g any more.  *q walks the record's box entries. */
static int pick_gt(const struct label_field *g, size_t ng,
                   enum evalrun_list view, const uint8_t **q,
                   struct drawn *d)
{
  for (size_t j = 0; j < ng; j++, *q += sizeof(struct gbox_rec)) {
    struct gbox_rec gb;
    const struct detection *det = &g->d[j];
    memcpy(&gb, *q, sizeof(gb));
    if (gb.label_id != det->id)
      return -ESTALE;
    bool show = view == EVALRUN_MISTAKES ? gb.outcome == EVAL_FN
                : view == EVALRUN_SPURIOUS ? gb.spurious
                                           : true;
    if (!show)
      continue;
    char *c = d->caps + d->n * 80;
    const char *nm = det->label ? det->label : "?";
    /* Up to 60 bytes, cut between characters (a cut one would be drawn
     * as a replacement glyph). */
    snprintf(c, 80, "GT: %.*s", (int)utf8_cut(nm, 60), nm);
    d->boxes[d->n++] = (struct draw_box){ det->x, det->y, det->w, det->h,
                                          GT_COLOUR, c };
  }
  return 0;
}

/* The predicted boxes the view shows (confident ones only, but for
 * possible-missing). */
static int pick_pred(const struct label_field *p, size_t np,
                     enum evalrun_list view, const uint8_t **q,
                     struct drawn *d)
{
  for (size_t i = 0; i < np; i++, *q += sizeof(struct pbox_rec)) {
    struct pbox_rec pb;
    const struct detection *det = &p->d[i];
    memcpy(&pb, *q, sizeof(pb));
    if (pb.label_id != det->id)
      return -ESTALE;
    bool confident = det->confidence >= EVALRUN_DRAW_MIN_CONF;
    bool show = view == EVALRUN_MISTAKES ? pb.outcome == EVAL_FP && confident
                : view == EVALRUN_MISSING ? pb.missing
                                          : confident;
    if (!show)
      continue;
    char *c = d->caps + d->n * 80;
    const char *nm = det->label ? det->label : "?";
    snprintf(c, 80, "%.*s %.2f", (int)utf8_cut(nm, 60), nm,
             det->confidence);
    d->boxes[d->n++] = (struct draw_box){ det->x, det->y, det->w, det->h,
                                          PRED_COLOUR, c };
  }
  return 0;
}

/* Draws the boxes of the view onto the JPEG; the labels are the sample's
 * current ones, which must be those the record describes. */
static int draw_view(const struct sum_rec *sum, const struct samp_rec *sr,
                     const uint8_t *rec, struct labels *lab,
                     enum evalrun_list view, int orientation,
                     const void *jpeg, size_t len, uint8_t **ret_data,
                     size_t *ret_len)
{
  const struct label_field *g = labels_field(lab, sum->gt_field, false);
  const struct label_field *p = labels_field(lab, sum->pred_field, false);
  size_t ng = g ? g->n : 0, np = p ? p->n : 0;
  const uint8_t *q = rec + sizeof(*sr);
  struct drawn d = { calloc(ng + np + 1, sizeof(*d.boxes)),
                     calloc(ng + np + 1, 80), 0 };
  int r;

  if (ng != sr->n_gt || np != sr->n_pred)
    r = -ESTALE;
  else if (!d.boxes || !d.caps)
    r = -ENOMEM;
  else
    r = pick_gt(g, ng, view, &q, &d);
  if (r == 0)
    r = pick_pred(p, np, view, &q, &d);
  if (r == 0)
    r = draw_boxes_jpeg(jpeg, len, orientation, d.boxes, d.n, 90, ret_data,
                        ret_len);
  free(d.boxes);
  free(d.caps);
  return r;
}

int evalrun_sample_jpeg(struct store_txn *t, const char *name,
                        uint64_t sample_id, enum evalrun_list view,
                        const void *jpeg, size_t len, uint8_t **ret_data,
                        size_t *ret_len)
{
  struct sum_rec sum;
  struct samp_rec sr;
  struct sample smp;
  struct labels lab;
  const uint8_t *v;
  int r;

  if ((int)view < 0 || view > EVALRUN_SPURIOUS || !jpeg || !ret_data ||
      !ret_len)
    return -EINVAL;
  r = evalrun_rec_sum(t, name, &sum, NULL, NULL);
  if (r == 0)
    r = store_sample_get(t, sample_id, &smp);
  if (r < 0)
    return r;
  r = evalrun_rec_sample(t, name, sample_id, &sr, &v);
  if (r == -ENOENT)
    return draw_boxes_jpeg(jpeg, len, smp.orientation, NULL, 0, 90,
                           ret_data, ret_len);
  if (r < 0)
    return r;
  if (sr.labels_version != smp.labels_version)
    return -ESTALE;
  sum.gt_field[LABELS_MAX_FIELD_NAME] = 0;
  sum.pred_field[LABELS_MAX_FIELD_NAME] = 0;
  r = store_labels_get(t, sample_id, &lab);
  if (r < 0)
    return r;
  r = draw_view(&sum, &sr, v, &lab, view, smp.orientation, jpeg, len,
                ret_data, ret_len);
  labels_free(&lab);
  return r;
}
