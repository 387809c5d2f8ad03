/* cvat_annotations.c - a task's annotations (our rectangles up, every
 * object type down, with the bounding box of those that have one) and a
 * job's review issues as text (see cvat_client.h).
 */
#include "cvat_client_i.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgcodec.h"
#include "shapebox.h"

/* ---------------------------------------------------------------- shapes */

void cvat_shapes_free(struct cvat_shape *s, size_t n)
{
  for (size_t i = 0; s && i < n; i++)
    free(s[i].label_id);
  free(s);
}

/* The box of a shape of the API (shapebox.h), whose points must all be
 * numbers.  Returns false for the other types. */
static bool shape_box_json(const char *type, json_t *pts, double rot,
                           double out[4])
{
  size_t n = json_array_size(pts);
  double stack[64], *p = n <= 64 ? stack : malloc(n * sizeof(*p));
  bool ok = p != NULL;

  for (size_t i = 0; ok && i < n; i++) {
    json_t *v = json_array_get(pts, i);
    ok = json_is_number(v);
    if (ok)
      p[i] = json_number_value(v);
  }
  ok = ok && shape_box(shape_type_of(type), p, n, rot, out);
  if (p != stack)
    free(p);
  return ok;
}

/* Appends the objects of one array of the annotations (kind "shapes",
 * "tags" or "tracks") to v. */
static int objects_from_json(struct cvat_client *c, json_t *arr,
                             const char *kind,
                             const struct cvat_labels *labels,
                             struct cvat_shape *v, size_t *n)
{
  json_t *o;
  size_t i;

  json_array_foreach(arr, i, o) {
    struct cvat_shape *s = &v[(*n)++];
    json_t *pts = json_object_get(o, "points"), *a;
    const struct cvat_label *l;
    double box[4] = { 0, 0, 0, 0 };
    size_t j;

    s->id = cvat_jint(o, "id");
    s->frame = cvat_jint(o, "frame");
    s->label = cvat_jint(o, "label_id");
    if (kind[1] == 'a') {
      snprintf(s->type, sizeof(s->type), "tag");
    } else if (kind[1] == 'r') {
      snprintf(s->type, sizeof(s->type), "track");
    } else {
      snprintf(s->type, sizeof(s->type), "%s", cvat_jtext(o, "type"));
      if (shape_box_json(s->type, pts,
                    json_number_value(json_object_get(o, "rotation")),
                    box)) {
        s->rect = true;
        s->converted = strcmp(s->type, "rectangle") != 0;
        s->x1 = box[0];
        s->y1 = box[1];
        s->x2 = box[2];
        s->y2 = box[3];
      }
    }
    l = cvat_labels_by_id(labels, s->label);
    if (!l || !l->label_id_spec)
      continue;
    json_array_foreach(json_object_get(o, "attributes"), j, a) {
      const char *val = cvat_jtext(a, "value");
      if (cvat_jint(a, "spec_id") == l->label_id_spec && *val) {
        free(s->label_id);
        s->label_id = strdup(val);
        if (!s->label_id)
          return cvat_fail(c, -ENOMEM, "out of memory");
      }
    }
  }
  return 0;
}

/* Shapes (and, with all, tags and tracks) of a LabeledData answer. */
static int shapes_from_json(struct cvat_client *c, json_t *res, bool all,
                            const struct cvat_labels *labels,
                            struct cvat_shape **ret, size_t *ret_n)
{
  json_t *shapes = json_object_get(res, "shapes");
  json_t *tags = json_object_get(res, "tags");
  json_t *tracks = json_object_get(res, "tracks");
  size_t n = 0, cap = json_array_size(shapes) +
                      (all ? json_array_size(tags) + json_array_size(tracks)
                           : 0);
  struct cvat_shape *v = calloc(cap + 1, sizeof(*v));
  int r;

  if (!v)
    return cvat_fail(c, -ENOMEM, "out of memory");
  r = objects_from_json(c, shapes, "shapes", labels, v, &n);
  if (r == 0 && all)
    r = objects_from_json(c, tags, "tags", labels, v, &n);
  if (r == 0 && all)
    r = objects_from_json(c, tracks, "tracks", labels, v, &n);
  if (r < 0) {
    cvat_shapes_free(v, n);
    return r;
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

int cvat_annotations_put(struct cvat_client *c, int64_t task_id,
                         const struct cvat_shape *s, size_t n,
                         const struct cvat_labels *labels,
                         struct cvat_shape **ret, size_t *ret_n)
{
  char path[64];
  json_t *body, *arr, *res = NULL;
  int r;

  if (ret) {
    *ret = NULL;
    *ret_n = 0;
  }
  body = json_pack("{s:i, s:[], s:[], s:[]}", "version", 0, "shapes",
                   "tags", "tracks");
  if (!body)
    return cvat_fail(c, -ENOMEM, "out of memory");
  arr = json_object_get(body, "shapes");
  for (size_t i = 0; i < n; i++) {
    const struct cvat_label *l = cvat_labels_by_id(labels, s[i].label);
    json_t *o = json_pack("{s:s, s:I, s:I, s:[f,f,f,f], s:b, s:i, s:f, "
                          "s:i, s:s, s:[]}", "type", "rectangle", "frame",
                          (json_int_t)s[i].frame, "label_id",
                          (json_int_t)s[i].label, "points", s[i].x1, s[i].y1,
                          s[i].x2, s[i].y2, "occluded", 0, "z_order", 0,
                          "rotation", 0.0, "group", 0, "source", "manual",
                          "attributes");
    if (!o) {
      json_decref(body);
      return cvat_fail(c, -ENOMEM, "out of memory");
    }
    if (l && l->label_id_spec && s[i].label_id)
      json_array_append_new(json_object_get(o, "attributes"),
                            json_pack("{s:I, s:s}", "spec_id",
                                      (json_int_t)l->label_id_spec, "value",
                                      s[i].label_id));
    json_array_append_new(arr, o);
  }
  snprintf(path, sizeof(path), "/api/tasks/%lld/annotations",
           (long long)task_id);
  r = cvat_send_json(c, "PUT", path, body, false, ret ? &res : NULL);
  json_decref(body);
  if (r == 0 && ret)
    r = shapes_from_json(c, res, false, labels, ret, ret_n);
  json_decref(res);
  return r;
}

int cvat_annotations_get(struct cvat_client *c, int64_t task_id,
                         const struct cvat_labels *labels,
                         struct cvat_shape **ret, size_t *ret_n)
{
  char path[64];
  json_t *res;
  int r;

  *ret = NULL;
  *ret_n = 0;
  snprintf(path, sizeof(path), "/api/tasks/%lld/annotations",
           (long long)task_id);
  r = cvat_get_json(c, path, &res);
  if (r < 0)
    return r;
  r = shapes_from_json(c, res, true, labels, ret, ret_n);
  json_decref(res);
  return r;
}

/* ---------------------------------------------------------------- review */

int cvat_issues_text(struct cvat_client *c, int64_t job_id,
                     const char *(*frame_name)(int64_t frame, void *ud),
                     void *ud, struct buf *out)
{
  char path[96];
  json_t *issues, *is;
  size_t i;
  int r;

  snprintf(path, sizeof(path), "/api/issues?job_id=%lld&sort=id",
           (long long)job_id);
  r = cvat_get_list(c, path, &issues);
  if (r < 0)
    return r;
  if (json_array_size(issues) == 0)
    r = buf_puts(out, "no issues\n");
  json_array_foreach(issues, i, is) {
    json_t *pos = json_object_get(is, "position"), *owner, *as, *comments, *cm;
    const char *fn = frame_name ? frame_name(cvat_jint(is, "frame"), ud) : NULL;
    size_t j;

    if (r < 0)
      break;
    owner = json_object_get(is, "owner");
    as = json_object_get(is, "assignee");
    r |= buf_printf(out, "issue %lld: frame %lld", (long long)cvat_jint(is, "id"),
                    (long long)cvat_jint(is, "frame"));
    if (fn)
      r |= buf_printf(out, " (%s)", fn);
    r |= buf_printf(out, ", %s, at [",
                    json_is_true(json_object_get(is, "resolved"))
                      ? "resolved" : "open");
    for (j = 0; j < json_array_size(pos); j++) {
      r |= buf_puts(out, j ? ", " : "");
      r |= buf_json_double(out, json_number_value(json_array_get(pos, j)));
    }
    r |= buf_printf(out, "], by %s",
                    json_is_object(owner) ? cvat_jtext(owner, "username") : "?");
    if (json_is_object(as))
      r |= buf_printf(out, ", assigned to %s", cvat_jtext(as, "username"));
    r |= buf_puts(out, "\n");
    snprintf(path, sizeof(path), "/api/comments?issue_id=%lld&sort=id",
             (long long)cvat_jint(is, "id"));
    if (r == 0)
      r = cvat_get_list(c, path, &comments);
    else
      break;
    if (r < 0)
      break;
    json_array_foreach(comments, j, cm) {
      json_t *co = json_object_get(cm, "owner");
      const char *m = cvat_jtext(cm, "message");
      r |= buf_printf(out, "  %s: ",
                      json_is_object(co) ? cvat_jtext(co, "username") : "?");
      /* One comment per line: fold line breaks. */
      for (; *m && r == 0; m++)
        r = buf_append(out, *m == '\n' ? " " : m, 1);
      r |= buf_puts(out, "\n");
    }
    json_decref(comments);
  }
  json_decref(issues);
  return r;
}

