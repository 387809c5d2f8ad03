/* prov_views.c - views/: directories of samples chosen by a computation.
 *
 *   views/unique/<rank>-<name>.<ext>          original bytes, most unique
 *                                             first (core/views VIEW_UNIQUE)
 *   views/near-duplicates/<group>-<name>.<ext> original bytes, members of
 *                                             a group sort together
 *   views/dupes/<name>.jpg                    the image with its duplicate
 *                                             boxes drawn (dupes_render), a
 *                                             JPEG whatever the source format
 *   views/mistakes/<rank>-<name>.jpg          the latest evaluation's
 *   views/possible-missing/<rank>-<name>.jpg  ranked lists (evalrun.h),
 *   views/possible-spurious/<rank>-<name>.jpg with ground truth and
 *                                             predictions drawn
 *
 * Lists come from core/views/views.c, which caches them; this file only names
 * and resolves entries.  Every file shows one sample, so `mv` of any of
 * them into tags/<t>/ tags it (ops.c).
 *
 * State: none here (no ->init); the lists are core/views' (c->views, with
 * its own lock), the latest evaluation's freshness evalsel.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "config.h"
#include "draw.h"
#include "evalrun.h"
#include "evalsel.h"
#include "imgfmt.h"
#include "labels.h"
#include "maxiou.h"
#include "names.h"
#include "views.h"
#include "vtree.h"

/* Views with more members than this are not drawn ahead (warm.c). */
#define VIEWS_WARM_MAX 2000

struct vdir {
  const char *name;
  enum view_kind kind;
  bool prefixed;     /* names carry "<rank or group>-" */
  int eval;          /* -1, or the enum evalrun_list of an eval view */
};

static const struct vdir vdirs[] = {
  { "unique", VIEW_UNIQUE, true, -1 },
  { "near-duplicates", VIEW_NEARDUP, true, -1 },
  { "dupes", VIEW_DUPES, false, -1 },
  { "mistakes", VIEW_DUPES, true, EVALRUN_MISTAKES },
  { "possible-missing", VIEW_DUPES, true, EVALRUN_MISSING },
  { "possible-spurious", VIEW_DUPES, true, EVALRUN_SPURIOUS },
};

static const struct vdir *vdir_of(const char *path, const char **rest)
{
  const char *slash = strchr(path, '/');
  size_t l = slash ? (size_t)(slash - path) : strlen(path);

  for (size_t i = 0; i < ARRAY_SIZE(vdirs); i++)
    if (strlen(vdirs[i].name) == l && memcmp(vdirs[i].name, path, l) == 0) {
      *rest = slash ? slash + 1 : NULL;
      return &vdirs[i];
    }
  return NULL;
}

/* Width of the rank/group prefix: at least 4 digits, so names sort. */
static int prefix_width(const struct view_list *l)
{
  uint32_t max = 0;
  int w = 1;

  for (size_t i = 0; i < l->n; i++)
    max = l->items[i].rank > max ? l->items[i].rank : max;
  for (; max >= 10; max /= 10)
    w++;
  return w < 4 ? 4 : w;
}

static int entry_name(const struct vdir *vd, const struct view_list *l,
                      size_t i, const struct sample *s, char *out,
                      size_t outlen)
{
  /* Original bytes keep their format's extension; drawn files are JPEG. */
  const char *ext = vd->kind == VIEW_DUPES ? ".jpg" : img_ext_of(s->format);
  int n = vd->prefixed
              ? snprintf(out, outlen, "%0*" PRIu32 "-%s%s", prefix_width(l),
                         l->items[i].rank, s->name, ext)
              : snprintf(out, outlen, "%s%s", s->name, ext);
  return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* What a drawing of sample s keys on: its photo (the source file's time
 * and size, which an import of a replaced file changes without touching
 * the labels), its labels, the class names its captions show, which a
 * class rename changes without touching the labels, and the orientation
 * it is turned by, which an import under newer PNG rules may change
 * alone. */
static uint64_t drawn_labels_key(struct store_txn *t, const struct sample *s)
{
  uint64_t renames = 0;

  store_class_renames(t, &renames);
  return (s->labels_version * 0x9E3779B97F4A7C15ULL ^ s->id) +
         renames * 0xC2B2AE3D27D4EB4FULL +
         (uint64_t)s->orientation * 0x165667B19E3779F9ULL +
         ((uint64_t)s->mtime_ns ^ s->size) * 0x27D4EB2F165667C5ULL;
}

/* Content key of a drawn dupes image: its labels and the settings. */
static uint64_t dupes_key(struct store_txn *t, const struct sample *s)
{
  char buf[256];
  uint64_t h = drawn_labels_key(t, s);

  config_get_str(t, "dupes.iou", buf, 64);
  for (const char *p = buf; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  config_get_str(t, "dupes.classes", buf, 64);
  for (const char *p = buf; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  config_get_str(t, "dupes.field", buf, sizeof(buf));
  for (const char *p = buf; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  return h ? h : 1;
}

static void fill_file(const struct vdir *vd, struct store_txn *t,
                      const struct sample *s, struct vent *e)
{
  memset(e, 0, sizeof(*e));
  e->sample_id = s->id;
  if (vd->kind == VIEW_DUPES) {
    /* A drawn image: its time is its bytes' birth (mtime 0), since a
     * class rename or a dupes setting changes them without touching the
     * sample or its labels. */
    e->kind = VENT_FILE;
    e->key = dupes_key(t, s);
  } else {
    e->kind = VENT_SAMPLE;
    e->mtime_ns = s->mtime_ns;
  }
}

/* Resolves "<prefix>-<name><ext>" or "<name><ext>" in a view (ext: the
 * sample's own, or .jpg for a drawn file). */
static int resolve(struct fs_ctx *c, struct store_txn *t,
                   const struct vdir *vd, const char *file,
                   struct view_list **ret_l, struct sample *s)
{
  char stem[NAME_MAX + 1];
  const char *name = file;
  struct view_list *l;
  ptrdiff_t i;
  int r;

  if (vd->prefixed) {
    const char *dash = strchr(file, '-');
    if (!dash || dash == file)
      return -ENOENT;
    for (const char *p = file; p < dash; p++)
      if (*p < '0' || *p > '9')
        return -ENOENT;
    name = dash + 1;
  }
  {
    const char *dot = strrchr(name, '.');
    if (!dot || (size_t)(dot - name) >= sizeof(stem))
      return -ENOENT;
    memcpy(stem, name, (size_t)(dot - name));
    stem[dot - name] = '\0';
  }
  r = store_sample_by_name(t, stem, s);
  if (r < 0)
    return r;
  if (s->flags & SAMPLE_MISSING ||
      strcmp(strrchr(name, '.'), vd->kind == VIEW_DUPES
                                     ? ".jpg" : img_ext_of(s->format)) != 0)
    return -ENOENT;
  r = views_get(c->views, vd->kind, &l);
  if (r < 0)
    return r;
  i = view_list_find(l, s->id);
  if (i >= 0 && vd->prefixed) {
    char want[NAME_MAX + 1];
    if (entry_name(vd, l, (size_t)i, s, want, sizeof(want)) < 0 ||
        strcmp(want, file) != 0)
      i = -1;  /* the right sample under a stale rank */
  }
  if (i < 0) {
    view_list_put(l);
    return -ENOENT;
  }
  *ret_l = l;
  return 0;
}

/* ---- eval views: ranked lists of the latest evaluation ---- */

/* Opens a read transaction on the latest evaluation, refreshed first so
 * the list follows label edits.  -ENOENT when there is no evaluation. */
static int eval_begin(struct fs_ctx *c, char *name, size_t namelen,
                      double max_age_s, struct store_txn **t)
{
  int r = evalsel_latest(c, name, namelen);

  if (r == 0)
    r = evalsel_refresh(c, name, max_age_s);
  if (r == 0)
    r = store_txn_begin(c->store, false, t);
  return r;
}

static uint64_t eval_key(struct store_txn *t, const char *name,
                         const struct sample *s)
{
  struct evalrun_info info;
  uint64_t h = drawn_labels_key(t, s);

  if (evalrun_get(t, name, &info) == 0)
    h = h * 31 + (uint64_t)info.created_ns + info.store_version;
  return h ? h : 1;
}

static int eval_name(uint32_t rank, size_t total, const struct sample *s,
                     char *out, size_t outlen)
{
  int w = 4, n;

  for (size_t m = total; m >= 10000; m /= 10)
    w++;
  n = snprintf(out, outlen, "%0*" PRIu32 "-%s.jpg", w, rank, s->name);
  return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* Whether the run ev shows sample s.  A read-only mount does not re-run
 * a stale evaluation (evalsel.h), and the record of a sample whose labels
 * changed since the run no longer describes its boxes: it cannot be
 * drawn (evalrun_sample_jpeg() gives -ESTALE), so there it is left out,
 * as a missing sample is.  A normal mount re-ran the run before listing
 * it. */
static bool eval_shown(const struct fs_ctx *c, struct store_txn *t,
                       const char *ev, const struct sample *s)
{
  struct evalrun_sample es;

  return !c->readonly || (evalrun_sample(t, ev, s->id, &es) == 0 &&
                          es.labels_version == s->labels_version);
}

/* Resolves "<rank>-<name>.jpg" of an eval view. */
static int eval_resolve(const struct fs_ctx *c, struct store_txn *t,
                        const char *ev, const struct vdir *vd,
                        const char *file, struct sample *s)
{
  struct evalrun_entry e;
  size_t n, total;
  char want[NAME_MAX + 1];
  unsigned long rank;
  char *end;
  int r;

  rank = strtoul(file, &end, 10);
  if (end == file || *end != '-' || rank == 0)
    return -ENOENT;
  r = evalrun_ranked(t, ev, (enum evalrun_list)vd->eval, rank - 1, 1, &e, &n,
                     &total);
  if (r < 0 || n != 1)
    return r < 0 ? r : -ENOENT;
  r = store_sample_get(t, e.sample_id, s);
  if (r < 0 || (s->flags & SAMPLE_MISSING) || !eval_shown(c, t, ev, s))
    return -ENOENT;
  if (eval_name((uint32_t)rank, total, s, want, sizeof(want)) < 0 ||
      strcmp(want, file) != 0)
    return -ENOENT;
  return 0;
}

static int eval_stat(struct fs_ctx *c, const struct vdir *vd,
                     const char *file, struct vent *ret)
{
  char ev[EVALRUN_MAX_NAME + 1];
  struct store_txn *t;
  struct sample s;
  /* A name comes from a listing, which re-ran the evaluation if needed. */
  int r = eval_begin(c, ev, sizeof(ev), EVALRUN_LOOKUP_AGE, &t);

  if (r < 0)
    return r == -ENOENT ? -ENOENT : r;
  r = eval_resolve(c, t, ev, vd, file, &s);
  if (r == 0) {
    ret->kind = VENT_FILE;
    ret->recheck = true;  /* looked up within a second of a refresh check:
                             the list may still move */
    ret->sample_id = s.id;
    ret->key = eval_key(t, ev, &s);  /* time: the bytes' birth */
  }
  store_txn_abort(t);
  return r;
}

static int eval_list(struct fs_ctx *c, const struct vdir *vd, uint64_t from,
                     vent_fn fn, void *ud)
{
  char ev[EVALRUN_MAX_NAME + 1];
  struct evalrun_entry chunk[256];
  struct store_txn *t;
  size_t n, total;
  /* A listing starts from a fresh evaluation; its later chunks continue
   * in the run it started from. */
  int r = eval_begin(c, ev, sizeof(ev), from ? EVALRUN_LOOKUP_AGE : 0, &t);

  if (r == -ENOENT)
    return 0;  /* no evaluation yet: an empty view */
  if (r < 0)
    return r;
  for (;;) {
    bool stop = false;
    r = evalrun_ranked(t, ev, (enum evalrun_list)vd->eval, from,
                       ARRAY_SIZE(chunk), chunk, &n, &total);
    if (r < 0 || n == 0)
      break;
    for (size_t i = 0; i < n && !stop; i++) {
      struct sample s;
      struct vent e = { .kind = VENT_FILE, .recheck = true };
      char name[NAME_MAX + 1];
      from++;
      if (store_sample_get(t, chunk[i].sample_id, &s) < 0 ||
          (s.flags & SAMPLE_MISSING) || !eval_shown(c, t, ev, &s) ||
          eval_name((uint32_t)from, total, &s, name, sizeof(name)) < 0)
        continue;
      e.sample_id = s.id;
      e.key = eval_key(t, ev, &s);
      stop = fn(name, &e, from, ud) != 0;
    }
    if (stop)
      break;
  }
  store_txn_abort(t);
  return r < 0 ? r : 0;
}

static int eval_generate(struct fs_ctx *c, const struct vdir *vd,
                         const char *file, const struct sink *out)
{
  char ev[EVALRUN_MAX_NAME + 1];
  struct store_txn *t;
  struct sample s;
  uint8_t *src = NULL, *jpg = NULL;
  size_t srclen = 0, jlen = 0;
  /* Generated at the lookup of the name (for its size): as eval_stat. */
  int fd = -1, r = eval_begin(c, ev, sizeof(ev), EVALRUN_LOOKUP_AGE, &t);

  if (r < 0)
    return r;
  r = eval_resolve(c, t, ev, vd, file, &s);
  if (r == 0)
    r = open_sample_source(c, &s, &fd);
  if (r == 0)
    r = provlib_read_whole(fd, s.size, &src, &srclen);
  if (fd >= 0)
    close(fd);
  if (r == 0)
    r = evalrun_sample_jpeg(t, ev, s.id, (enum evalrun_list)vd->eval, src,
                            srclen, &jpg, &jlen);
  store_txn_abort(t);
  if (r == 0)
    r = out->write(out->ud, jpg, jlen);
  else
    fs_error(c, "views/%s/%s: cannot draw: %s", vd->name, file,
             strerror(-r));
  free(jpg);
  free(src);
  return r;
}

static int v_stat(struct fs_ctx *c, struct store_txn *t, const char *path,
                  struct vent *ret)
{
  const struct vdir *vd;
  const char *rest;
  struct view_list *l;
  struct sample s;
  int r;

  memset(ret, 0, sizeof(*ret));
  if (!*path) {
    ret->kind = VENT_DIR;
    return 0;
  }
  vd = vdir_of(path, &rest);
  if (!vd)
    return -ENOENT;
  if (!rest) {
    ret->kind = VENT_DIR;
    return 0;
  }
  if (strchr(rest, '/'))
    return -ENOENT;
  if (vd->eval >= 0)
    return eval_stat(c, vd, rest, ret);
  r = resolve(c, t, vd, rest, &l, &s);
  if (r < 0)
    return r;
  view_list_put(l);
  fill_file(vd, t, &s, ret);
  return 0;
}

static int v_list(struct fs_ctx *c, struct store_txn *t, const char *path,
                  uint64_t from, vent_fn fn, void *ud)
{
  const struct vdir *vd;
  const char *rest;
  struct view_list *l;
  int r = 0;

  if (!*path) {
    for (size_t i = from; i < ARRAY_SIZE(vdirs); i++) {
      struct vent e = { .kind = VENT_DIR };
      if (fn(vdirs[i].name, &e, i + 1, ud))
        break;
    }
    return 0;
  }
  vd = vdir_of(path, &rest);
  if (!vd || rest)
    return -ENOTDIR;
  if (vd->eval >= 0)
    return eval_list(c, vd, from, fn, ud);
  r = views_get(c->views, vd->kind, &l);
  if (r < 0) {
    fs_error(c, "views/%s: %s", vd->name, strerror(-r));
    return r;
  }
  for (size_t i = from; i < l->n; i++) {
    struct sample s;
    struct vent e;
    char name[NAME_MAX + 1];
    if (store_sample_get(t, l->items[i].sample_id, &s) < 0 ||
        (s.flags & SAMPLE_MISSING))
      continue;  /* deleted since the list was computed */
    if (entry_name(vd, l, i, &s, name, sizeof(name)) < 0)
      continue;
    fill_file(vd, t, &s, &e);
    if (fn(name, &e, i + 1, ud))
      break;
  }
  view_list_put(l);
  return 0;
}

/* views/dupes/<name>.jpg: the image with every box that has a duplicate
 * partner drawn in its class colour and captioned with its class name and
 * IoU, so a viewer is enough to judge the pair. */
static int dupes_render(struct fs_ctx *c, struct store_txn *t,
                        const struct sample *s, const struct sink *out)
{
  struct labels l;
  struct draw_box *boxes = NULL;
  char (*caps)[96] = NULL;
  double *iou = NULL;
  bool *flags = NULL;
  uint8_t *src = NULL, *jpg = NULL;
  size_t n = 0, nb = 0, srclen = 0, jlen = 0, fi = 0;
  int r, fd = -1;

  r = store_labels_get(t, s->id, &l);
  if (r < 0)
    return r;
  r = maxiou_dupe_flags(t, &l, &flags, &iou, &n);
  if (r == 0) {
    boxes = calloc(n ? n : 1, sizeof(*boxes));
    caps = calloc(n ? n : 1, sizeof(*caps));
    if (!boxes || !caps)
      r = -ENOMEM;
  }
  for (size_t f = 0; r == 0 && f < l.n; f++)
    for (size_t i = 0; i < l.f[f].n; i++, fi++) {
      const struct detection *d = &l.f[f].d[i];
      if (!flags[fi])
        continue;
      const char *nm = d->label ? d->label : "?";
      /* Up to 80 bytes of the name, cut between characters (a cut one
       * would be drawn as a replacement glyph), and the IoU always. */
      snprintf(caps[nb], sizeof(caps[nb]), "%.*s %.2f", (int)utf8_cut(nm, 80),
               nm, iou[fi]);
      boxes[nb] = (struct draw_box){ d->x, d->y, d->w, d->h,
                                     draw_palette(d->class_id), caps[nb] };
      nb++;
    }
  if (r == 0)
    r = open_sample_source(c, s, &fd);
  if (r == 0)
    r = provlib_read_whole(fd, s->size, &src, &srclen);
  if (fd >= 0)
    close(fd);
  if (r == 0)
    r = draw_boxes_jpeg(src, srclen, s->orientation, boxes, nb, 90, &jpg,
                        &jlen);
  if (r == 0)
    r = out->write(out->ud, jpg, jlen);
  else
    fs_error(c, "views/dupes/%s.jpg: cannot draw: %s", s->name, strerror(-r));
  free(jpg);
  free(src);
  free(boxes);
  free(caps);
  free(iou);
  free(flags);
  labels_free(&l);
  return r;
}

static int v_generate(struct fs_ctx *c, struct store_txn *t, const char *path,
                      const struct sink *out)
{
  const struct vdir *vd;
  const char *rest;
  struct view_list *l;
  struct sample s;
  int r;

  vd = vdir_of(path, &rest);
  if (vd && rest && vd->eval >= 0)
    return eval_generate(c, vd, rest, out);
  if (!vd || !rest || vd->kind != VIEW_DUPES)
    return -EISDIR;
  r = resolve(c, t, vd, rest, &l, &s);
  if (r < 0)
    return r;
  view_list_put(l);
  return dupes_render(c, t, &s, out);
}

/* Computes the views ahead once the store settles (warm.c), so listing
 * them after an import or a change finds them ready; the embedding views
 * recompute only when the embeddings or their settings changed. */
static void v_warm(struct fs_ctx *c)
{
  for (int k = 0; k < VIEW_KINDS && !warm_should_stop(c); k++) {
    struct view_list *l;
    if (views_get(c->views, (enum view_kind)k, &l) == 0)
      view_list_put(l);
  }
  /* The drawn images of the views small enough to be browsed whole in an
   * image viewer. */
  for (size_t i = 0; i < ARRAY_SIZE(vdirs); i++)
    if (vdirs[i].kind == VIEW_DUPES &&
        warm_dir(c, &prov_views, vdirs[i].name, VIEWS_WARM_MAX) < 0)
      break;
}

const struct provider prov_views = {
  .name = "views",
  .stat = v_stat,
  .list = v_list,
  .generate = v_generate,
  .warm = v_warm,
  .by_version = true,
};
