/* cvat_pull.c - the pull of a run: CVAT's objects merged into the run's
 * label field in one transaction (see cvat_sync.h), with the report of
 * what changed and what could not be imported.
 *
 * Frames are the run's samples by position: frame i of the task is
 * samples[i] of the run, the order recorded by the push's "frames" step
 * from CVAT's data/meta.
 */
#include "cvat_sync_i.h"

#include "imgcodec.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds name to a comma-separated list unless it is there. */
static void note_name(char *list, size_t size, const char *name)
{
  size_t n = strlen(list), l = strlen(name);
  const char *p = list;

  while ((p = strstr(p, name)) != NULL) {
    if ((p == list || p[-1] == ',') && (p[l] == ',' || p[l] == 0))
      return;
    p += l;
  }
  /* Keep room for ",..." so a cut list says it was cut. */
  if (strcmp(list, "...") == 0 ||
      (n >= 4 && strcmp(list + n - 4, ",...") == 0))
    return;
  if (n + l + 2 + 4 < size)
    snprintf(list + n, size - n, "%s%s", n ? "," : "", name);
  else
    snprintf(list + n, size - n, "%s...", n ? "," : "");
}

static void note_unknown(struct cvat_pull_report *rep, const char *name)
{
  note_name(rep->unknown_classes, sizeof(rep->unknown_classes), name);
}

static void clip_box(struct detection *d, double x1, double y1, double x2,
                     double y2, uint32_t w, uint32_t h, uint64_t *clipped)
{
  double a, b;

  if (x2 < x1) {
    a = x1; x1 = x2; x2 = a;
  }
  if (y2 < y1) {
    b = y1; y1 = y2; y2 = b;
  }
  if (w && h && (x1 < 0 || y1 < 0 || x2 > w || y2 > h)) {
    /* Rotated shapes carry float noise (cos 90 is not 0 in doubles): a
     * box out by less than that is clamped but not reported. */
    const double eps = 1e-6;
    if (x1 < -eps || y1 < -eps || x2 > w + eps || y2 > h + eps)
      (*clipped)++;
    x1 = x1 < 0 ? 0 : x1 > w ? w : x1;
    x2 = x2 < 0 ? 0 : x2 > w ? w : x2;
    y1 = y1 < 0 ? 0 : y1 > h ? h : y1;
    y2 = y2 < 0 ? 0 : y2 > h ? h : y2;
  }
  d->x = x1;
  d->y = y1;
  d->w = x2 - x1;
  d->h = y2 - y1;
}

/* Counts by name (shape types, classes) for the report. */
struct tally {
  struct tally_ent {
    char name[LABELS_MAX_CLASS_NAME + 1];
    uint32_t id;
    uint64_t n, added;
  } *v;
  size_t n;
};

static struct tally_ent *tally_get(struct tally *t, const char *name,
                                   uint32_t id)
{
  struct tally_ent *p;

  for (size_t i = 0; i < t->n; i++)
    if (name ? strcmp(t->v[i].name, name) == 0 : t->v[i].id == id)
      return &t->v[i];
  p = realloc(t->v, (t->n + 1) * sizeof(*p));
  if (!p)
    return NULL;
  t->v = p;
  p = &t->v[t->n++];
  memset(p, 0, sizeof(*p));
  p->id = id;
  snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
  return p;
}

static int tally_add(struct tally *t, const char *name, uint32_t id,
                     uint64_t n, uint64_t added)
{
  struct tally_ent *e = tally_get(t, name, id);

  if (!e)
    return -ENOMEM;
  e->n += n;
  e->added += added;
  return 0;
}

/* "2 polyline, 1 tag" into out (cut with "..." when it does not fit). */
static void tally_text(const struct tally *t, char *out, size_t n)
{
  size_t at = 0;

  out[0] = 0;
  for (size_t i = 0; i < t->n && at < n; i++) {
    int w = snprintf(out + at, n - at, "%s%" PRIu64 " %s", i ? ", " : "",
                     t->v[i].n, t->v[i].name);
    if (w < 0 || (size_t)w >= n - at) {
      snprintf(out + (n > 4 ? n - 4 : 0), n > 4 ? 4 : n, "...");
      return;
    }
    at += (size_t)w;
  }
}

struct merge {
  struct store_txn *t;
  const char *run;
  const char *field;
  const struct cvat_labels *labels;
  struct cvat_pull_report *rep;
  struct tally other, converted, per_class;
  bool view_frame;                /* struct cvat_run */
};

static bool uploaded(const struct cvat_pair *p, size_t n, uint64_t label)
{
  for (size_t i = 0; i < n; i++)
    if (p[i].label == label)
      return true;
  return false;
}

/* Merges the shapes of one frame into one sample. */
/* One sample being merged: its labels, map and the binding of shapes. */
struct msample {
  struct labels l;
  struct label_field *f, nf;       /* the run's field; the new one */
  struct cvat_pair *map, *nmap;    /* identity map before; after */
  size_t nm, nmap_n, n0;
  int *match;                      /* per old detection: shape or -1 */
  int *bind;                       /* per shape: old index, -1 new,
                                      -2 skip, -3 kept (class unknown) */
  uint32_t *cls;                   /* per shape: its class */
  struct sample smp;
  bool changed;
};

static void msample_free(struct msample *ms)
{
  ms->nf.name = NULL;
  labels_field_clear(&ms->nf);
  labels_free(&ms->l);
  free(ms->map);
  free(ms->nmap);
  free(ms->match);
  free(ms->bind);
  free(ms->cls);
}

static int msample_load(struct merge *m, struct msample *ms, uint64_t sid,
                        size_t nsh)
{
  int r = store_sample_get(m->t, sid, &ms->smp);

  if (r == 0)
    r = store_labels_get(m->t, sid, &ms->l);
  if (r == 0)
    r = cvat_map_get(m->t, m->run, sid, &ms->map, &ms->nm);
  if (r < 0)
    return r;
  ms->f = labels_field(&ms->l, m->field, false);
  ms->n0 = ms->f ? ms->f->n : 0;
  ms->match = malloc((ms->n0 + 1) * sizeof(int));
  ms->bind = malloc((nsh + 1) * sizeof(int));
  ms->cls = calloc(nsh + 1, sizeof(uint32_t));
  ms->nmap = malloc((nsh + 1) * sizeof(*ms->nmap));
  if (!ms->match || !ms->bind || !ms->cls || !ms->nmap)
    return -ENOMEM;
  for (size_t k = 0; k < ms->n0; k++)
    ms->match[k] = -1;
  return 0;
}

/* Counts a shape for the report: without a box (0: not merged), converted
 * from another type, of a label that is no class. */
static int merge_count(struct merge *m, const struct cvat_shape *sh,
                       const struct cvat_label *cl, bool known)
{
  if (!sh->rect) {
    /* No box: counted and named, by type and label. */
    char what[LABELS_MAX_CLASS_NAME + 24];
    m->rep->other_shapes++;
    snprintf(what, sizeof(what), "%s (%s)", sh->type, cl ? cl->name : "?");
    return tally_add(&m->other, what, 0, 1, 0);
  }
  if (sh->converted) {
    m->rep->converted++;
    if (tally_add(&m->converted, sh->type, 0, 1, 0) < 0)
      return -ENOMEM;
  }
  if (!known) {
    m->rep->unknown++;
    note_unknown(m->rep, cl ? cl->name : "?");
  }
  return 0;
}

/* The old detection a shape is: our label_id attribute, then the shape id
 * map; -1 if none. */
static int merge_identify(const struct msample *ms,
                          const struct cvat_shape *sh)
{
  uint64_t lid = 0;
  int k = -1;

  if (cvat_parse_id(sh->label_id, &lid) == 0)
    for (size_t j = 0; j < ms->n0 && k < 0; j++)
      if (ms->f->d[j].id == lid && ms->match[j] < 0)
        k = (int)j;
  for (size_t p = 0; k < 0 && p < ms->nm; p++)
    if (ms->map[p].shape == sh->id)
      for (size_t j = 0; j < ms->n0 && k < 0; j++)
        if (ms->f->d[j].id == ms->map[p].label && ms->match[j] < 0)
          k = (int)j;
  return k;
}

/* Binds every shape to an old detection, a new one, or nothing. */
static int merge_bind(struct merge *m, struct msample *ms,
                      const struct cvat_shape *sh, size_t nsh)
{
  for (size_t i = 0; i < nsh; i++) {
    const struct cvat_label *cl = cvat_labels_by_id(m->labels, sh[i].label);
    bool known = false;
    int k, r;

    ms->bind[i] = -2;
    if (sh[i].rect)
      known = cl && store_class_id(m->t, cl->name, false, &ms->cls[i]) == 0;
    r = merge_count(m, &sh[i], cl, known);
    if (r < 0)
      return r;
    if (!sh[i].rect)
      continue;
    k = merge_identify(ms, &sh[i]);
    if (k >= 0) {
      ms->match[k] = (int)i;
      ms->bind[i] = known ? k : -3;
    } else if (known) {
      ms->bind[i] = -1;
    }
  }
  return 0;
}

/* The box of shape s in the stored frame (CVAT shows the image turned by
 * its EXIF orientation), clipped into d; boxes clipped are counted in
 * *clipped. */
static void view_to_box(const struct merge *m, const struct msample *ms,
                        const struct cvat_shape *s, struct detection *d,
                        uint64_t *clipped)
{
  double b[4] = { s->x1, s->y1, s->x2, s->y2 };

  img_orient_box(m->view_frame ? ms->smp.orientation : 1, ms->smp.width,
                  ms->smp.height, false, b);
  clip_box(d, b[0], b[1], b[2], b[3], ms->smp.width, ms->smp.height,
           clipped);
}

/* True if the shape s (CVAT's frame) is the box d: either as the push
 * sent it (d turned by the sample's EXIF orientation, bit for bit), or as
 * an earlier pull stored it (s turned back and clipped gives d, bit for
 * bit).  Both are needed: turning is not exact in doubles both ways
 * (120 - (120 - 47.63) != 47.63), and a clipped box never matches the
 * shape it came from, so either test alone would report an unedited box
 * as updated. */
static bool shape_is_box(const struct merge *m, const struct msample *ms,
                         const struct cvat_shape *s, const struct detection *d)
{
  double b[4] = { d->x, d->y, d->x + d->w, d->y + d->h };
  struct detection c = *d;
  uint64_t clipped = 0;

  img_orient_box(m->view_frame ? ms->smp.orientation : 1, ms->smp.width,
                  ms->smp.height, true, b);
  if (s->x1 == b[0] && s->y1 == b[1] && s->x2 == b[2] && s->y2 == b[3])
    return true;
  view_to_box(m, ms, s, &c, &clipped);
  return c.x == d->x && c.y == d->y && c.w == d->w && c.h == d->h;
}

/* The box of shape s in the stored frame, clipped into d (counted in the
 * report). */
static void shape_to_box(struct merge *m, const struct msample *ms,
                         const struct cvat_shape *s, struct detection *d)
{
  view_to_box(m, ms, s, d, &m->rep->clipped);
}

/* The new field: the old detections in order (updated, kept or deleted),
 * then the new ones. */
static int merge_build(struct merge *m, struct msample *ms,
                       const struct cvat_shape *sh, size_t nsh)
{
  int r = 0;

  for (size_t k = 0; r == 0 && k < ms->n0; k++) {
    struct detection d = ms->f->d[k];
    int i = ms->match[k];

    if (i < 0 && uploaded(ms->map, ms->nm, d.id)) {
      m->rep->deleted++;
      ms->changed = true;
      continue;
    }
    if (i >= 0 && ms->bind[i] >= 0) {
      const struct cvat_shape *s = &sh[i];
      if (shape_is_box(m, ms, s, &d) && ms->cls[i] == d.class_id) {
        m->rep->unchanged++;
      } else {
        shape_to_box(m, ms, s, &d);
        d.class_id = ms->cls[i];
        d.label = NULL;   /* resolved from class_id */
        m->rep->updated++;
        ms->changed = true;
      }
    }
    if (i >= 0) {
      ms->nmap[ms->nmap_n].shape = sh[i].id;
      ms->nmap[ms->nmap_n++].label = d.id;
    }
    r = labels_field_add(&ms->nf, &d);
  }
  for (size_t i = 0; r == 0 && i < nsh; i++) {
    struct detection d;
    if (ms->bind[i] != -1)
      continue;
    memset(&d, 0, sizeof(d));
    d.confidence = NAN;
    d.class_id = ms->cls[i];
    shape_to_box(m, ms, &sh[i], &d);
    r = labels_field_add(&ms->nf, &d);
    ms->nmap[ms->nmap_n].shape = sh[i].id;
    ms->nmap[ms->nmap_n++].label = 0;      /* filled after the put */
    m->rep->added++;
    if (r == 0)
      r = tally_add(&m->per_class, NULL, ms->cls[i], 0, 1);
    ms->changed = true;
  }
  for (size_t k = 0; r == 0 && k < ms->nf.n; k++)
    r = tally_add(&m->per_class, NULL, ms->nf.d[k].class_id, 1, 0);
  return r;
}

/* Stores the new field; new boxes got ids, which follow the kept ones in
 * order and complete the map. */
static int merge_store(struct merge *m, struct msample *ms, uint64_t sid)
{
  struct label_field *f = ms->f, tmp;
  size_t nid = 0;
  int r;

  if (!f && !(f = labels_field(&ms->l, m->field, true)))
    return -ENOMEM;
  /* Swap the new detections in; the old ones are freed with nf. */
  tmp = *f;
  f->n = ms->nf.n;
  f->cap = ms->nf.cap;
  f->d = ms->nf.d;
  ms->nf.n = tmp.n;
  ms->nf.cap = tmp.cap;
  ms->nf.d = tmp.d;
  r = store_labels_put(m->t, sid, &ms->l);
  if (r < 0)
    return r;
  f = labels_field(&ms->l, m->field, false);
  for (size_t i = 0; i < ms->nmap_n; i++)
    if (ms->nmap[i].label == 0)
      nid++;
  for (size_t i = 0, j = f->n - nid; i < ms->nmap_n; i++)
    if (ms->nmap[i].label == 0)
      ms->nmap[i].label = f->d[j++].id;
  m->rep->samples++;
  return 0;
}

/* Merges the shapes of one frame into one sample. */
static int merge_sample(struct merge *m, uint64_t sid,
                        const struct cvat_shape *sh, size_t nsh)
{
  struct msample ms;
  bool map_changed;
  int r;

  memset(&ms, 0, sizeof(ms));
  labels_init(&ms.l);
  r = msample_load(m, &ms, sid, nsh);
  if (r == 0)
    r = merge_bind(m, &ms, sh, nsh);
  if (r == 0)
    r = merge_build(m, &ms, sh, nsh);
  if (r == 0 && ms.changed)
    r = merge_store(m, &ms, sid);
  map_changed = ms.nmap_n != ms.nm ||
                (ms.nm && memcmp(ms.map, ms.nmap, ms.nm * sizeof(*ms.map)));
  if (r == 0 && (map_changed || ms.changed))
    r = cvat_map_put(m->t, m->run, sid, ms.nmap, ms.nmap_n);
  msample_free(&ms);
  return r;
}


/* Creates a class for every top-level label of the project that the store
 * lacks, appending to the undo snapshot the next class id before them and
 * their ids (u32 next, u32 count, u32 ids). */
static int classes_from_labels(struct store_txn *t,
                               const struct cvat_labels *labels,
                               struct cvat_pull_report *rep, struct buf *snap)
{
  size_t at;
  uint32_t n = 0, next = 0;
  int r = store_class_count(t, &next);

  next++;   /* the next id before this pull */
  if (r == 0)
    r = buf_append(snap, &next, 4);
  at = snap->len;
  if (r == 0)
    r = buf_append(snap, &n, 4);

  for (size_t i = 0; r == 0 && i < labels->n; i++) {
    const struct cvat_label *l = &labels->v[i];
    uint32_t id;

    if (l->parent_id || !labels_class_name_valid(l->name))
      continue;   /* a skeleton's point, or a name no class can have */
    r = store_class_id(t, l->name, false, &id);
    if (r != -ENOENT)
      continue;
    r = store_class_id(t, l->name, true, &id);
    if (r == 0)
      r = buf_append(snap, &id, 4);
    if (r == 0) {
      n++;
      rep->new_class_n++;
      note_name(rep->new_classes, sizeof(rep->new_classes), l->name);
    }
  }
  if (r == 0)
    memcpy(snap->data + at, &n, 4);
  return r < 0 ? r : 0;
}

/* The per-class tally (by class id) as "cat 5 (+2 new), dog 3". */
static int per_class_text(struct store_txn *t, struct tally *pc,
                          struct cvat_pull_report *rep)
{
  char *out = rep->per_class;
  size_t n = sizeof(rep->per_class), at = 0;

  out[0] = 0;
  for (size_t i = 0; i < pc->n; i++) {
    const char *name = "?";
    int w;

    if (!pc->v[i].n)
      continue;
    store_class_name(t, pc->v[i].id, &name);
    if (pc->v[i].added)
      w = snprintf(out + at, n - at, "%s%s %" PRIu64 " (+%" PRIu64 " new)",
                   at ? ", " : "", name, pc->v[i].n, pc->v[i].added);
    else
      w = snprintf(out + at, n - at, "%s%s %" PRIu64, at ? ", " : "", name,
                   pc->v[i].n);
    if (w < 0 || (size_t)w >= n - at) {
      snprintf(out + n - 4, 4, "...");
      break;
    }
    at += (size_t)w;
  }
  return 0;
}

void cvat_pull_text(const struct cvat_pull_report *rep, char *out, size_t n)
{
  size_t at;

  snprintf(out, n, "%" PRIu64 " samples changed: %" PRIu64 " updated, %"
           PRIu64 " deleted, %" PRIu64 " added, %" PRIu64 " unchanged",
           rep->samples, rep->updated, rep->deleted, rep->added,
           rep->unchanged);
#define MORE(...)                                                            \
  do {                                                                       \
    at = strlen(out);                                                        \
    if (at < n)                                                              \
      snprintf(out + at, n - at, __VA_ARGS__);                               \
  } while (0)
  if (rep->per_class[0])
    MORE("; by class: %s", rep->per_class);
  if (rep->new_class_n)
    MORE("; new classes from CVAT labels: %s", rep->new_classes);
  if (rep->converted)
    MORE("; boxes from other shapes: %s", rep->converted_kinds);
  if (rep->other_shapes)
    MORE("; NOT imported (no box): %s", rep->other_kinds);
  if (rep->unknown)
    MORE("; NOT imported (label is no valid class name): %" PRIu64 " (%s)",
         rep->unknown, rep->unknown_classes);
  if (rep->clipped)
    MORE("; clipped to the image: %" PRIu64, rep->clipped);
#undef MORE
}

static int cmp_shape_frame(const void *a, const void *b)
{
  const struct cvat_shape *x = a, *y = b;
  if (x->frame != y->frame)
    return x->frame < y->frame ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* ---------------------------------------------------------------- steps */

/* What the steps of one pull share.  Owned by cvat_pull(). */
struct pull {
  struct store *s;
  const struct cvat_config *cfg;
  const char *name;
  struct cvat_pull_report *rep;
  char *err;
  size_t errlen;
  struct cvat_client *c;
  struct cvat_run rn;
  struct cvat_labels labels;
  struct cvat_shape *sh;
  size_t nsh;
};

/* check: a run that is pushed and not gone. */
static int pull_check(struct pull *p)
{
  int r = cvat_run_get(p->s, p->name, &p->rn);

  if (r < 0)
    return errf(p->err, p->errlen, r, "no run '%.80s'", p->name);
  if (p->rn.phase == CVAT_PHASE_GONE)
    return errf(p->err, p->errlen, -EIDRM, "task %lld of run '%s' was "
                "deleted in CVAT; labels unchanged",
                (long long)p->rn.task_id, p->name);
  if (p->rn.phase != CVAT_PHASE_READY)
    return errf(p->err, p->errlen, -EAGAIN, "run '%s' is not pushed yet "
                "(%s)", p->name, cvat_phase_name(p->rn.phase));
  return 0;
}

static int pull_connect(struct pull *p)
{
  return cvat_connect(p->cfg, &p->c, p->err, p->errlen);
}

/* task: still in CVAT; a deleted one marks the run. */
static int pull_task(struct pull *p)
{
  struct cvat_upd u = { .phase = CVAT_PHASE_GONE, .done = -1, .total = -1,
                        .error = "the task was deleted in CVAT" };
  struct cvat_task task;
  int r = cvat_task_get(p->c, p->rn.task_id, &task);

  if (r == -ENOENT) {
    cvat_run_update(p->s, p->name, &u, NULL);
    return errf(p->err, p->errlen, -EIDRM, "task %lld of run '%s' was "
                "deleted in CVAT; labels unchanged",
                (long long)p->rn.task_id, p->name);
  }
  if (r < 0)
    errf(p->err, p->errlen, r, "pull of run '%s': %s; labels unchanged",
         p->name, cvat_client_error(p->c));
  return r;
}

/* download: the project's labels and the task's objects, by frame. */
static int pull_download(struct pull *p)
{
  int r = cvat_labels_get(p->c, p->rn.project_id, &p->labels);

  if (r == 0)
    r = cvat_annotations_get(p->c, p->rn.task_id, &p->labels, &p->sh,
                             &p->nsh);
  if (r < 0)
    return errf(p->err, p->errlen, r, "pull of run '%s': %s; labels "
                "unchanged", p->name, cvat_client_error(p->c));
  qsort(p->sh, p->nsh, sizeof(*p->sh), cmp_shape_frame);
  return 0;
}

/* The frames of the run in order, each merged into its sample. */
static int merge_frames(struct pull *p, struct merge *m)
{
  size_t a = 0;
  int r = 0;

  for (size_t i = 0; r == 0 && i < p->rn.n_samples; i++) {
    size_t b;
    while (a < p->nsh && p->sh[a].frame < (int64_t)i)
      a++;   /* frames outside the run (should not exist) */
    b = a;
    while (b < p->nsh && p->sh[b].frame == (int64_t)i)
      b++;
    r = merge_sample(m, p->rn.samples[i], p->sh + a, b - a);
    a = b;
  }
  tally_text(&m->other, p->rep->other_kinds, sizeof(p->rep->other_kinds));
  tally_text(&m->converted, p->rep->converted_kinds,
             sizeof(p->rep->converted_kinds));
  if (r == 0)
    r = per_class_text(m->t, &m->per_class, p->rep);
  free(m->other.v);
  free(m->converted.v);
  free(m->per_class.v);
  return r;
}

/* The snapshot for undo: the run's samples before the merge. */
static int snap_begin(struct store_txn *t, struct pull *p, struct buf *snap)
{
  uint32_t magic = CVAT_UNDO_MAGIC2, ns = (uint32_t)p->rn.n_samples;
  int r = buf_append(snap, &magic, 4);

  if (r == 0)
    r = buf_append(snap, &ns, 4);
  for (size_t i = 0; r == 0 && i < p->rn.n_samples; i++)
    r = cvat_snap_sample(t, p->name, p->rn.samples[i], snap);
  return r;
}

/* The undo record and the run's counts, in the merge's transaction. */
static int merge_finish(struct store_txn *t, struct pull *p, json_t *o,
                        const struct buf *snap)
{
  uint8_t k[CVAT_KEY_MAX];
  uint64_t seq = (uint64_t)cvat_jint(o, "pulls") + 1;
  char sum[2048];
  int r = store_rec_put(t, CVAT_NS_UNDO, k, cvat_undo_key(k, p->name, seq),
                        snap->data, snap->len);

  cvat_pull_text(p->rep, sum, sizeof(sum));
  cvat_jset(o, "pulls", (int64_t)seq);
  cvat_jset(o, "undo", cvat_jint(o, "undo") + 1);
  json_object_set_new(o, "last_pull", json_string(sum));
  json_object_del(o, "error");
  if (r == 0)
    r = cvat_run_save(t, p->name, o);
  return r;
}

/* merge: everything is here; one write transaction. */
static int pull_merge(struct pull *p)
{
  struct merge m = { NULL, p->name, p->rn.field, &p->labels, p->rep,
                     { NULL, 0 }, { NULL, 0 }, { NULL, 0 },
                     p->rn.view_frame };
  struct store_txn *t = NULL;
  struct buf snap;
  json_t *o = NULL;
  int r;

  buf_init(&snap, (size_t)4 << 30);
  r = store_txn_begin(p->s, true, &t);
  if (r == 0)
    r = cvat_run_load(t, p->name, &o);
  if (r == 0)
    r = snap_begin(t, p, &snap);
  /* Every label of the project is a class of the store, also those added
   * in CVAT after the push; the ones made here are listed for undo. */
  if (r == 0)
    r = classes_from_labels(t, &p->labels, p->rep, &snap);
  m.t = t;
  if (r == 0)
    r = merge_frames(p, &m);
  if (r == 0)
    r = merge_finish(t, p, o, &snap);
  if (r == 0)
    r = store_txn_commit(t);
  else if (t)
    store_txn_abort(t);
  json_decref(o);
  buf_free(&snap);
  if (r < 0)
    return errf(p->err, p->errlen, r, "merge of run '%s' failed: %s; "
                "labels unchanged", p->name, strerror(-r));
  log_msg(LOG_LVL_INFO, "cvat: pulled run %s: %" PRIu64 " updated, %"
          PRIu64 " deleted, %" PRIu64 " added", p->name, p->rep->updated,
          p->rep->deleted, p->rep->added);
  return 0;
}

/* A pull has no stored phase: it changes the store only in its last step,
 * in one transaction, so an interrupted pull starts again from the first. */
static const struct {
  const char *name;
  int (*fn)(struct pull *p);
} pull_steps[] = {
  { "check", pull_check },
  { "connect", pull_connect },
  { "task", pull_task },
  { "download", pull_download },
  { "merge", pull_merge },
};

int cvat_pull(struct store *s, const struct cvat_config *cfg, const char *run,
              struct cvat_pull_report *rep, char *err, size_t errlen)
{
  struct pull p = { .s = s, .cfg = cfg, .name = run, .rep = rep,
                    .err = err, .errlen = errlen };
  int r = 0;

  memset(rep, 0, sizeof(*rep));
  for (size_t i = 0; r == 0 && i < ARRAY_SIZE(pull_steps); i++)
    r = pull_steps[i].fn(&p);
  cvat_shapes_free(p.sh, p.nsh);
  cvat_labels_free(&p.labels);
  cvat_client_free(p.c);
  cvat_run_free(&p.rn);
  return r;
}
