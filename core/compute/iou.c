/* iou.c - box IoU, max IoU within a set, duplicate boxes.
 *
 * Every set-level operation is built on one pair enumerator that reports
 * each unordered pair of boxes with IoU > 0 exactly once.  Large sets are
 * enumerated by a sort-and-sweep over x; small ones by the double loop.  The
 * consumers (max IoU, duplicate pairs) are written so their result does not
 * depend on the order in which pairs arrive, so both enumerators give
 * identical results.
 *
 * Not here: IoU between two different sets (evaluation matching lives in
 * evaluate.c), polygons, masks, keypoints, rotated or 3-D boxes.
 */
#include "iou.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Below this many boxes the O(n^2) loop beats sorting and allocating. */
#define SMALL_SET 8

double iou_box(const struct iou_rect *a, const struct iou_rect *b,
               bool a_is_crowd)
{
  double iw, ih, inter, uni;

  /* fmin/fmax ignore a NaN operand, so NaN coordinates would otherwise
   * yield a plausible overlap.  The sum is NaN if any term is. */
  if (isnan(a->x + a->y + a->w + a->h + b->x + b->y + b->w + b->h))
    return 0;
  iw = fmin(a->x + a->w, b->x + b->w) - fmax(a->x, b->x);
  ih = fmin(a->y + a->h, b->y + b->h) - fmax(a->y, b->y);
  /* Returning early is the reference's result too: with inter = 0 it
   * yields 0 / union = 0 or, for union 0, 0 by definition. */
  if (!(iw > 0) || !(ih > 0))
    return 0;
  /* inter > 0 implies both boxes have positive width and height, so the
   * union below is positive. */
  inter = iw * ih;
  if (a_is_crowd)
    uni = b->w * b->h;
  else
    uni = a->w * a->h + b->w * b->h - inter;
  if (!(uni > 0))
    return 0;
  return fmin(inter / uni, 1.0);
}

/* Pair consumer: i < j is not guaranteed, iou > 0 is. */
typedef int (*pair_fn)(void *ctx, size_t i, size_t j, double iou);

static bool same_class(const int *classes, unsigned flags, size_t i, size_t j)
{
  if ((flags & IOU_ALL_CLASSES) || !classes)
    return true;
  return classes[i] == classes[j];
}

static bool usable(const struct iou_rect *r)
{
  return isfinite(r->x) && isfinite(r->y) && isfinite(r->w) &&
         isfinite(r->h) && r->w > 0 && r->h > 0;
}

struct sort_key {
  int cls;
  double x;
  size_t i;
};

static int cmp_key(const void *pa, const void *pb)
{
  const struct sort_key *a = pa, *b = pb;

  if (a->cls != b->cls)
    return a->cls < b->cls ? -1 : 1;
  if (a->x != b->x)
    return a->x < b->x ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

static int pairs_small(const struct iou_rect *boxes, const int *classes,
                       size_t n, unsigned flags, pair_fn fn, void *ctx)
{
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      double v;
      int r;

      if (!same_class(classes, flags, i, j))
        continue;
      v = iou_box(&boxes[i], &boxes[j], false);
      if (v > 0 && (r = fn(ctx, i, j, v)) < 0)
        return r;
    }
  return 0;
}

/* Sweep: with boxes sorted by (class, left edge), box b can only overlap an
 * earlier box a of the same class if b.x < a.x + a.w.  The test uses the
 * same floating-point expression as iou_box(), so a pair it prunes has an
 * overlap width <= 0 there too: the sweep reports exactly the pairs the
 * double loop reports.  Worst case (all boxes share an x range, e.g. one
 * tall column) is still O(n^2); disjoint boxes spread over the image cost
 * about n log n. */
static int pairs_sweep(const struct iou_rect *boxes, const int *classes,
                       size_t n, unsigned flags, pair_fn fn, void *ctx)
{
  bool classwise = !(flags & IOU_ALL_CLASSES) && classes;
  struct sort_key *key;
  size_t m = 0;
  int r = 0;

  key = malloc(n * sizeof(*key));
  if (!key)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (!usable(&boxes[i]))
      continue;
    key[m].cls = classwise ? classes[i] : 0;
    key[m].x = boxes[i].x;
    key[m].i = i;
    m++;
  }
  qsort(key, m, sizeof(*key), cmp_key);

  for (size_t a = 0; a < m && r >= 0; a++) {
    const struct iou_rect *ba = &boxes[key[a].i];
    double right = ba->x + ba->w;

    for (size_t b = a + 1; b < m; b++) {
      const struct iou_rect *bb;
      double v;

      if (key[b].cls != key[a].cls || !(key[b].x < right))
        break;
      bb = &boxes[key[b].i];
      /* Cheap y rejection before the divisions in iou_box(). */
      if (!(bb->y < ba->y + ba->h) || !(ba->y < bb->y + bb->h))
        continue;
      v = iou_box(ba, bb, false);
      if (v > 0 && (r = fn(ctx, key[a].i, key[b].i, v)) < 0)
        break;
    }
  }
  free(key);
  return r;
}

static int for_each_pair(const struct iou_rect *boxes, const int *classes,
                         size_t n, unsigned flags, pair_fn fn, void *ctx)
{
  if (n <= SMALL_SET)
    return pairs_small(boxes, classes, n, flags, fn, ctx);
  return pairs_sweep(boxes, classes, n, flags, fn, ctx);
}

/* ---- max IoU ---------------------------------------------------------- */

struct max_ctx {
  double *best;
  ptrdiff_t *partner;
};

static void max_offer(struct max_ctx *c, size_t i, size_t j, double v)
{
  /* Ties go to the lower partner index whatever the visiting order. */
  if (v > c->best[i] ||
      (v == c->best[i] && (ptrdiff_t)j < c->partner[i])) {
    c->best[i] = v;
    c->partner[i] = (ptrdiff_t)j;
  }
}

static int max_pair(void *ctx, size_t i, size_t j, double v)
{
  max_offer(ctx, i, j, v);
  max_offer(ctx, j, i, v);
  return 0;
}

int iou_max_within(const struct iou_rect *boxes, const int *classes,
                   size_t n, unsigned flags, double *ret_max_iou,
                   ptrdiff_t *ret_partner)
{
  struct max_ctx c;
  ptrdiff_t *partner = ret_partner;
  int r;

  if (n == 0)
    return 0;
  if (!boxes || !ret_max_iou)
    return -EINVAL;
  if (n < 2) {
    ret_max_iou[0] = IOU_NONE;
    if (ret_partner)
      ret_partner[0] = -1;
    return 0;
  }
  /* The tie rule needs the partner even when the caller does not. */
  if (!partner) {
    partner = malloc(n * sizeof(*partner));
    if (!partner)
      return -ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    ret_max_iou[i] = 0;
    partner[i] = -1;
  }
  c.best = ret_max_iou;
  c.partner = partner;
  r = for_each_pair(boxes, classes, n, flags, max_pair, &c);
  if (partner != ret_partner)
    free(partner);
  return r;
}

/* ---- duplicates ------------------------------------------------------- */

struct dup_pair {
  size_t lo, hi;
};

struct dup_ctx {
  double thresh;
  struct dup_pair *p;
  size_t len, cap;
};

static int dup_collect(void *ctx, size_t i, size_t j, double v)
{
  struct dup_ctx *c = ctx;

  if (!(v > c->thresh))
    return 0;
  if (c->len == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    struct dup_pair *p;

    if (cap > SIZE_MAX / sizeof(*p))
      return -ENOMEM;
    p = realloc(c->p, cap * sizeof(*p));
    if (!p)
      return -ENOMEM;
    c->p = p;
    c->cap = cap;
  }
  c->p[c->len].lo = i < j ? i : j;
  c->p[c->len].hi = i < j ? j : i;
  c->len++;
  return 0;
}

/* Greedy: counts[i] = pairs still containing i.  Each round drops the box
 * with the highest count (lowest index on ties) and decrements its
 * remaining partners, found through a CSR adjacency built once. */
static int dup_greedy(const struct dup_pair *p, size_t np, size_t n,
                      bool *dup)
{
  size_t *off = calloc(n + 1, sizeof(*off));
  size_t *adj = malloc((np ? 2 * np : 1) * sizeof(*adj));
  size_t *count = calloc(n, sizeof(*count));
  size_t *fill = NULL;
  int r = -ENOMEM;

  if (!off || !adj || !count)
    goto out;
  for (size_t k = 0; k < np; k++) {
    off[p[k].lo + 1]++;
    off[p[k].hi + 1]++;
  }
  for (size_t i = 0; i < n; i++) {
    count[i] = off[i + 1];
    off[i + 1] += off[i];
  }
  fill = malloc(n * sizeof(*fill));
  if (!fill)
    goto out;
  memcpy(fill, off, n * sizeof(*fill));
  for (size_t k = 0; k < np; k++) {
    adj[fill[p[k].lo]++] = p[k].hi;
    adj[fill[p[k].hi]++] = p[k].lo;
  }

  for (;;) {
    size_t top = 0, best = 0;

    for (size_t i = 0; i < n; i++)
      if (count[i] > best) {
        best = count[i];
        top = i;
      }
    if (best == 0)
      break;
    dup[top] = true;
    count[top] = 0;
    for (size_t e = off[top]; e < off[top + 1]; e++)
      if (!dup[adj[e]])
        count[adj[e]]--;
  }
  r = 0;
out:
  free(fill);
  free(count);
  free(adj);
  free(off);
  return r;
}

int iou_find_duplicates(const struct iou_rect *boxes, const int *classes,
                        size_t n, double thresh, enum iou_dup_method method,
                        unsigned flags, size_t *ret_dups, size_t *ret_count)
{
  struct dup_ctx c = { .thresh = thresh };
  bool *dup = NULL;
  size_t cnt = 0;
  int r;

  if (!ret_count || !isfinite(thresh) || thresh < 0 ||
      (unsigned)method >= _IOU_DUP_MAX)
    return -EINVAL;
  if (n > 0 && (!boxes || !ret_dups))
    return -EINVAL;
  *ret_count = 0;
  if (n < 2)
    return 0;

  /* thresh >= 0, so every qualifying pair has IoU > 0 and is enumerated. */
  r = for_each_pair(boxes, classes, n, flags, dup_collect, &c);
  if (r < 0)
    goto out;
  dup = calloc(n, sizeof(*dup));
  if (!dup) {
    r = -ENOMEM;
    goto out;
  }
  if (method == IOU_DUP_SIMPLE) {
    for (size_t k = 0; k < c.len; k++)
      dup[c.p[k].hi] = true;
  } else {
    r = dup_greedy(c.p, c.len, n, dup);
    if (r < 0)
      goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (dup[i])
      ret_dups[cnt++] = i;
  *ret_count = cnt;
out:
  free(dup);
  free(c.p);
  return r;
}
