/* cvat_tasks.c - CVAT's projects with our label schema, tasks and their
 * data upload, creation requests, frames and jobs (see cvat_client.h).
 * Every call goes through cvat_call() (cvat_client.c).
 */
#include "cvat_client_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- labels */

void cvat_labels_free(struct cvat_labels *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i].name);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

const struct cvat_label *cvat_labels_by_id(const struct cvat_labels *l,
                                           int64_t id)
{
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i].id == id)
      return &l->v[i];
  return NULL;
}

const struct cvat_label *cvat_labels_by_name(const struct cvat_labels *l,
                                             const char *name)
{
  /* A skeleton's points may share a name with a top-level label (CVAT
   * keeps names unique per level only); only top-level ones are ours. */
  for (size_t i = 0; i < l->n; i++)
    if (!l->v[i].parent_id && strcmp(l->v[i].name, name) == 0)
      return &l->v[i];
  return NULL;
}

int cvat_labels_get(struct cvat_client *c, int64_t project_id,
                    struct cvat_labels *ret)
{
  char path[96];
  json_t *arr, *lab;
  size_t i;
  int r;

  ret->n = 0;
  ret->v = NULL;
  snprintf(path, sizeof(path), "/api/labels?project_id=%lld",
           (long long)project_id);
  r = cvat_get_list(c, path, &arr);
  if (r < 0)
    return r;
  ret->v = calloc(json_array_size(arr) + 1, sizeof(*ret->v));
  if (!ret->v) {
    json_decref(arr);
    return cvat_fail(c, -ENOMEM, "out of memory");
  }
  json_array_foreach(arr, i, lab) {
    struct cvat_label *l = &ret->v[ret->n];
    json_t *attrs = json_object_get(lab, "attributes"), *a;
    size_t j;

    l->id = cvat_jint(lab, "id");
    l->parent_id = cvat_jint(lab, "parent_id");
    l->name = strdup(cvat_jtext(lab, "name"));
    if (!l->name) {
      json_decref(arr);
      cvat_labels_free(ret);
      return cvat_fail(c, -ENOMEM, "out of memory");
    }
    json_array_foreach(attrs, j, a)
      if (strcmp(cvat_jtext(a, "name"), "label_id") == 0)
        l->label_id_spec = cvat_jint(a, "id");
    ret->n++;
  }
  json_decref(arr);
  return 0;
}

static json_t *label_id_attr(void)
{
  /* A text attribute: values [""] and an empty default, so that a box
   * drawn in CVAT reads back with label_id "" (= none of ours). */
  return json_pack("{s:s, s:b, s:s, s:[s], s:s}", "name", "label_id",
                   "mutable", 0, "input_type", "text", "values", "",
                   "default_value", "");
}

/* Finds the highest id among the objects of a list endpoint whose `key`
 * equals name exactly: `query` is the list path with its filters, ending
 * in "<key>=" (CVAT filters by substring, so the exact match is ours).
 * -ENOENT if none. */
static int find_by_name(struct cvat_client *c, const char *query,
                        const char *key, const char *name, const char *what,
                        int64_t *ret_id)
{
  struct buf p;
  json_t *arr, *o;
  size_t i;
  int r;

  *ret_id = 0;
  buf_init(&p, 4096);
  r = buf_puts(&p, query);
  if (r == 0)
    r = http_escape(&p, name);
  if (r < 0) {
    buf_free(&p);
    return cvat_fail(c, -ENAMETOOLONG, "%s name too long", what);
  }
  r = cvat_get_list(c, p.data, &arr);
  buf_free(&p);
  if (r < 0)
    return r;
  json_array_foreach(arr, i, o)
    if (strcmp(cvat_jtext(o, key), name) == 0 && cvat_jint(o, "id") > *ret_id)
      *ret_id = cvat_jint(o, "id");
  json_decref(arr);
  return *ret_id ? 0 : -ENOENT;
}

static int project_find(struct cvat_client *c, const char *name,
                        int64_t *ret_id)
{
  return find_by_name(c, "/api/projects?name=", "name", name, "project",
                      ret_id);
}

int cvat_project_ensure(struct cvat_client *c, const char *name,
                        const char *const *classes, size_t n,
                        int64_t *ret_id, struct cvat_labels *ret_labels)
{
  json_t *patch = NULL, *labs;
  int64_t pid;
  int r;

  ret_labels->n = 0;
  ret_labels->v = NULL;
  r = project_find(c, name, &pid);
  if (r == -ENOENT) {
    json_t *body = json_pack("{s:s, s:[]}", "name", name, "labels"), *res;
    labs = json_object_get(body, "labels");
    for (size_t i = 0; body && i < n; i++)
      json_array_append_new(labs, json_pack("{s:s, s:s, s:[o]}", "name",
                                            classes[i], "type", "rectangle",
                                            "attributes", label_id_attr()));
    if (!body)
      return cvat_fail(c, -ENOMEM, "out of memory");
    /* Sent once; if the answer is lost, the project is looked up again. */
    r = cvat_send_json(c, "POST", "/api/projects", body, true, &res);
    json_decref(body);
    if (r == 0) {
      pid = cvat_jint(res, "id");
      json_decref(res);
    } else if (r != -EINVAL && r != -EACCES && r != -EPERM) {
      r = project_find(c, name, &pid);
    }
  }
  if (r < 0)
    return r;
  r = cvat_labels_get(c, pid, ret_labels);
  if (r < 0)
    return r;
  /* Add missing classes and the label_id attribute where it is missing. */
  patch = json_pack("{s:[]}", "labels");
  if (!patch)
    return cvat_fail(c, -ENOMEM, "out of memory");
  labs = json_object_get(patch, "labels");
  for (size_t i = 0; i < n; i++)
    if (!cvat_labels_by_name(ret_labels, classes[i]))
      json_array_append_new(labs, json_pack("{s:s, s:s, s:[o]}", "name",
                                            classes[i], "type", "rectangle",
                                            "attributes", label_id_attr()));
  /* Skeleton point labels (parent_id) are changed only through their
   * parent, and carry no box of ours. */
  for (size_t i = 0; i < ret_labels->n; i++)
    if (!ret_labels->v[i].label_id_spec && !ret_labels->v[i].parent_id)
      json_array_append_new(labs, json_pack("{s:I, s:[o]}", "id",
                                            (json_int_t)ret_labels->v[i].id,
                                            "attributes", label_id_attr()));
  if (json_array_size(labs)) {
    char path[64];
    snprintf(path, sizeof(path), "/api/projects/%lld", (long long)pid);
    r = cvat_send_json(c, "PATCH", path, patch, false, NULL);
    if (r == 0) {
      cvat_labels_free(ret_labels);
      r = cvat_labels_get(c, pid, ret_labels);
    }
  }
  json_decref(patch);
  if (r < 0)
    cvat_labels_free(ret_labels);
  else
    *ret_id = pid;
  return r;
}

/* ---------------------------------------------------------------- tasks */

int cvat_task_find(struct cvat_client *c, const char *name,
                   int64_t project_id, int64_t *ret_id)
{
  char q[96];

  snprintf(q, sizeof(q), "/api/tasks?project_id=%lld&name=",
           (long long)project_id);
  return find_by_name(c, q, "name", name, "task", ret_id);
}

int cvat_task_create(struct cvat_client *c, const char *name,
                     int64_t project_id, uint32_t segment_size,
                     int64_t *ret_id)
{
  json_t *body, *res;
  int r;

  body = json_pack("{s:s, s:I, s:I}", "name", name, "project_id",
                   (json_int_t)project_id, "segment_size",
                   (json_int_t)segment_size);
  if (!body)
    return cvat_fail(c, -ENOMEM, "out of memory");
  r = cvat_send_json(c, "POST", "/api/tasks", body, true, &res);
  json_decref(body);
  if (r < 0)
    return r;
  *ret_id = cvat_jint(res, "id");
  json_decref(res);
  return *ret_id > 0 ? 0 : cvat_fail(c, -EPROTO, "POST /api/tasks: no task id");
}

int cvat_task_get(struct cvat_client *c, int64_t id, struct cvat_task *ret)
{
  char path[64];
  json_t *o;
  int r;

  snprintf(path, sizeof(path), "/api/tasks/%lld", (long long)id);
  r = cvat_get_json(c, path, &o);
  if (r < 0)
    return r;
  memset(ret, 0, sizeof(*ret));
  ret->id = cvat_jint(o, "id");
  ret->project_id = cvat_jint(o, "project_id");
  ret->size = cvat_jint(o, "size");
  snprintf(ret->status, sizeof(ret->status), "%s", cvat_jtext(o, "status"));
  json_decref(o);
  return 0;
}

int cvat_task_delete(struct cvat_client *c, int64_t id)
{
  char path[64];
  struct cvat_call k = { .method = "DELETE", .path = path };

  snprintf(path, sizeof(path), "/api/tasks/%lld", (long long)id);
  return cvat_call(c, &k, NULL, NULL);
}

/* Sends files [from, to) as one Upload-Multiple request. */
static int upload_batch(struct cvat_client *c, const char *path,
                        const struct cvat_file *f, size_t from, size_t to)
{
  static const char *const hdr[] = { "Upload-Multiple: true", NULL };
  struct http_part *parts;
  char (*names)[48];
  char q[16];
  struct cvat_call k = { .method = "POST", .path = path, .headers = hdr };
  size_t n = to - from;
  int r;

  parts = calloc(n + 1, sizeof(*parts));
  names = calloc(n, sizeof(*names));
  if (!parts || !names) {
    free(parts);
    free(names);
    return cvat_fail(c, -ENOMEM, "out of memory");
  }
  snprintf(q, sizeof(q), "%u", c->cfg.image_quality);
  parts[0].name = "image_quality";
  parts[0].data = q;
  parts[0].len = strlen(q);
  for (size_t i = 0; i < n; i++) {
    snprintf(names[i], sizeof(names[i]), "client_files[%zu]", i);
    parts[i + 1].name = names[i];
    parts[i + 1].filename = f[from + i].name;
    parts[i + 1].from_fd = true;
    parts[i + 1].fd = f[from + i].fd;
    parts[i + 1].opened = f[from + i].opened;
    parts[i + 1].fixed = f[from + i].fixed;
  }
  k.parts = parts;
  k.nparts = n + 1;
  r = cvat_call(c, &k, NULL, NULL);
  free(parts);
  free(names);
  return r;
}

int cvat_task_upload(struct cvat_client *c, int64_t task_id,
                     const struct cvat_file *f, size_t n,
                     cvat_batch_fn prepare, cvat_upload_fn progress,
                     void *ud, char **ret_rq_id)
{
  static const char *const start[] = { "Upload-Start: true", NULL };
  static const char *const finish[] = { "Upload-Finish: true", NULL };
  char path[64];
  struct cvat_call k = { .method = "POST", .path = path, .headers = start };
  uint64_t limit = c->cfg.batch_bytes, done_bytes = 0;
  json_t *body, *res = NULL, *order;
  size_t i = 0;
  int r;

  *ret_rq_id = NULL;
  snprintf(path, sizeof(path), "/api/tasks/%lld/data", (long long)task_id);
  r = cvat_call(c, &k, NULL, NULL);
  if (r < 0)
    return r;
  while (i < n) {
    /* A batch: as many files as fit under the limit (at least one; a
     * multipart envelope adds a few hundred bytes per file), and no more
     * than CVAT_BATCH_FILES (each is an open descriptor while it goes). */
    uint64_t bytes = f[i].size + 512;
    size_t j = i + 1;
    while (j < n && j - i < CVAT_BATCH_FILES &&
           bytes + f[j].size + 512 <= limit) {
      bytes += f[j].size + 512;
      j++;
    }
    r = prepare ? prepare(i, j, ud) : 0;
    if (r < 0)
      return r;
    r = upload_batch(c, path, f, i, j);
    if (r == -E2BIG && j - i > 1) {
      /* The server (or a proxy) has a smaller body limit: halve. */
      limit = MAX(bytes / 2, 4096);
      continue;
    }
    if (r < 0)
      return r;
    for (; i < j; i++)
      done_bytes += f[i].size;
    if (progress)
      progress(i, done_bytes, ud);
  }
  body = json_pack("{s:I, s:s, s:[]}", "image_quality",
                   (json_int_t)c->cfg.image_quality, "sorting_method",
                   "predefined", "upload_file_order");
  if (!body)
    return cvat_fail(c, -ENOMEM, "out of memory");
  order = json_object_get(body, "upload_file_order");
  for (i = 0; i < n; i++)
    json_array_append_new(order, json_string(f[i].name));
  k.headers = finish;
  k.body = body;
  r = cvat_call(c, &k, NULL, &res);
  json_decref(body);
  if (r < 0)
    return r;
  if (!json_string_value(json_object_get(res, "rq_id"))) {
    json_decref(res);
    return cvat_fail(c, -EPROTO, "POST %s: no rq_id in the answer", path);
  }
  *ret_rq_id = strdup(json_string_value(json_object_get(res, "rq_id")));
  json_decref(res);
  return *ret_rq_id ? 0 : cvat_fail(c, -ENOMEM, "out of memory");
}

int cvat_request_find(struct cvat_client *c, int64_t task_id,
                      char **ret_rq_id, char ret_status[16])
{
  char path[96];
  json_t *arr, *o, *best = NULL;
  size_t i;
  int r;

  *ret_rq_id = NULL;
  snprintf(path, sizeof(path), "/api/requests?action=create&task_id=%lld",
           (long long)task_id);
  r = cvat_get_list(c, path, &arr);
  if (r < 0)
    return r;
  json_array_foreach(arr, i, o)
    if (!best || strcmp(cvat_jtext(o, "created_date"),
                        cvat_jtext(best, "created_date")) > 0)
      best = o;
  if (best) {
    *ret_rq_id = strdup(cvat_jtext(best, "id"));
    snprintf(ret_status, 16, "%s", cvat_jtext(best, "status"));
  }
  json_decref(arr);
  if (!best)
    return -ENOENT;
  return *ret_rq_id ? 0 : cvat_fail(c, -ENOMEM, "out of memory");
}

int cvat_request_wait(struct cvat_client *c, const char *rq_id)
{
  struct buf p;
  double t0 = time_mono();
  int r;

  buf_init(&p, 4096);
  r = buf_puts(&p, "/api/requests/");
  if (r == 0)
    r = http_escape(&p, rq_id);
  if (r < 0) {
    buf_free(&p);
    return cvat_fail(c, -ENAMETOOLONG, "request id too long");
  }
  for (;;) {
    json_t *o;
    char st[16];
    struct timespec ts;

    r = cvat_get_json(c, p.data, &o);
    if (r < 0)
      break;
    /* A copy: the messages below outlive o. */
    snprintf(st, sizeof(st), "%s", cvat_jtext(o, "status"));
    if (strcmp(st, "finished") == 0) {
      json_decref(o);
      break;
    }
    if (strcmp(st, "failed") == 0) {
      r = cvat_fail(c, -EIO, "CVAT could not create the task: %s",
               cvat_jtext(o, "message"));
      json_decref(o);
      break;
    }
    json_decref(o);
    if (time_mono() - t0 > c->cfg.wait_timeout_s) {
      r = cvat_fail(c, -ETIMEDOUT, "task creation still %s after %u s", st,
               c->cfg.wait_timeout_s);
      break;
    }
    if (cvat_session_cancelled(c->sess)) {
      r = cvat_fail(c, -ECANCELED, "interrupted while CVAT creates the task "
               "(still %s); it continues at the next push or mount", st);
      break;
    }
    ts.tv_sec = (time_t)c->cfg.poll_s;
    ts.tv_nsec = (long)((c->cfg.poll_s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
  }
  buf_free(&p);
  return r;
}

int cvat_task_frames(struct cvat_client *c, int64_t task_id,
                     char ***ret_names, size_t *ret_n)
{
  char path[64];
  json_t *o, *frames, *fr;
  char **names;
  size_t i, n;
  int r;

  *ret_names = NULL;
  *ret_n = 0;
  snprintf(path, sizeof(path), "/api/tasks/%lld/data/meta",
           (long long)task_id);
  r = cvat_get_json(c, path, &o);
  if (r < 0)
    return r;
  frames = json_object_get(o, "frames");
  n = json_array_size(frames);
  names = calloc(n + 1, sizeof(*names));
  if (!names) {
    json_decref(o);
    return cvat_fail(c, -ENOMEM, "out of memory");
  }
  json_array_foreach(frames, i, fr) {
    names[i] = strdup(cvat_jtext(fr, "name"));
    if (!names[i]) {
      for (size_t j = 0; j < i; j++)
        free(names[j]);
      free(names);
      json_decref(o);
      return cvat_fail(c, -ENOMEM, "out of memory");
    }
  }
  json_decref(o);
  *ret_names = names;
  *ret_n = n;
  return 0;
}

/* ---------------------------------------------------------------- jobs */

bool cvat_stage_valid(const char *s)
{
  return strcmp(s, "annotation") == 0 || strcmp(s, "validation") == 0 ||
         strcmp(s, "acceptance") == 0;
}

bool cvat_state_valid(const char *s)
{
  return strcmp(s, "new") == 0 || strcmp(s, "in progress") == 0 ||
         strcmp(s, "completed") == 0 || strcmp(s, "rejected") == 0;
}

static void job_from_json(json_t *o, struct cvat_job *j)
{
  json_t *as = json_object_get(o, "assignee");

  memset(j, 0, sizeof(*j));
  j->id = cvat_jint(o, "id");
  j->start_frame = cvat_jint(o, "start_frame");
  j->stop_frame = cvat_jint(o, "stop_frame");
  snprintf(j->assignee, sizeof(j->assignee), "%s",
           json_is_object(as) ? cvat_jtext(as, "username") : "");
  snprintf(j->stage, sizeof(j->stage), "%s", cvat_jtext(o, "stage"));
  snprintf(j->state, sizeof(j->state), "%s", cvat_jtext(o, "state"));
  j->issues = cvat_jint(json_object_get(o, "issues"), "count");
}

static int cmp_job(const void *a, const void *b)
{
  const struct cvat_job *x = a, *y = b;
  return x->start_frame < y->start_frame ? -1 :
         x->start_frame > y->start_frame ? 1 : (x->id > y->id) - (x->id < y->id);
}

int cvat_jobs_list(struct cvat_client *c, int64_t task_id,
                   struct cvat_job **ret, size_t *ret_n)
{
  char path[96];
  json_t *arr, *o;
  size_t i;
  int r;

  *ret = NULL;
  *ret_n = 0;
  snprintf(path, sizeof(path), "/api/jobs?task_id=%lld&type=annotation",
           (long long)task_id);
  r = cvat_get_list(c, path, &arr);
  if (r < 0)
    return r;
  *ret = calloc(json_array_size(arr) + 1, sizeof(**ret));
  if (!*ret) {
    json_decref(arr);
    return cvat_fail(c, -ENOMEM, "out of memory");
  }
  json_array_foreach(arr, i, o)
    job_from_json(o, &(*ret)[i]);
  *ret_n = json_array_size(arr);
  qsort(*ret, *ret_n, sizeof(**ret), cmp_job);
  json_decref(arr);
  return 0;
}

int cvat_job_get(struct cvat_client *c, int64_t job_id, struct cvat_job *ret)
{
  char path[64];
  json_t *o;
  int r;

  snprintf(path, sizeof(path), "/api/jobs/%lld", (long long)job_id);
  r = cvat_get_json(c, path, &o);
  if (r < 0)
    return r;
  job_from_json(o, ret);
  json_decref(o);
  return 0;
}

static int user_id(struct cvat_client *c, const char *name, int64_t *ret)
{
  int r = find_by_name(c, "/api/users?username=", "username", name, "user",
                       ret);

  return r == -ENOENT ? cvat_fail(c, -ENOENT, "no CVAT user named '%s'", name)
                      : r;
}

int cvat_job_update(struct cvat_client *c, int64_t job_id,
                    const char *assignee, const char *stage,
                    const char *state)
{
  char path[64];
  json_t *body;
  int r = 0;

  if (stage && !cvat_stage_valid(stage))
    return cvat_fail(c, -EINVAL, "stage '%.40s' is not one of annotation, "
                "validation, acceptance", stage);
  if (state && !cvat_state_valid(state))
    return cvat_fail(c, -EINVAL, "state '%.40s' is not one of new, in progress, "
                "completed, rejected", state);
  if (!assignee && !stage && !state)
    return 0;
  body = json_object();
  if (!body)
    return cvat_fail(c, -ENOMEM, "out of memory");
  if (assignee) {
    int64_t uid = 0;
    if (*assignee)
      r = user_id(c, assignee, &uid);
    if (r == 0)
      json_object_set_new(body, "assignee",
                          uid ? json_integer(uid) : json_null());
  }
  if (r == 0 && stage)
    json_object_set_new(body, "stage", json_string(stage));
  if (r == 0 && state)
    json_object_set_new(body, "state", json_string(state));
  snprintf(path, sizeof(path), "/api/jobs/%lld", (long long)job_id);
  if (r == 0)
    r = cvat_send_json(c, "PATCH", path, body, false, NULL);
  json_decref(body);
  return r;
}

