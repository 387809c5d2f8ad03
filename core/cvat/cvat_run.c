/* cvat_run.c - the records of a run: the run itself (JSON), its identity
 * map, reading, listing and updating them (see cvat_sync_i.h for the
 * record layout).  Every function works in the caller's transaction or in
 * one of its own.
 */
#include "cvat_sync_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *cvat_phase_name(enum cvat_phase p)
{
  static const char *const n[] = { "accepted", "project", "task", "upload",
                                   "processing", "boxes", "ready", "failed",
                                   "task deleted in CVAT" };
  return (unsigned)p < ARRAY_SIZE(n) ? n[p] : "?";
}

bool cvat_run_name_valid(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > CVAT_RUN_NAME_MAX || name[0] == '.')
    return false;
  return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789_.-") == n;
}

int cvat_run_load(struct store_txn *t, const char *name, json_t **ret)
{
  const void *v;
  size_t n;
  int r;

  *ret = NULL;
  r = store_rec_get(t, CVAT_NS_RUN, name, strlen(name), &v, &n);
  if (r < 0)
    return r;
  *ret = json_loadb(v, n, 0, NULL);
  return *ret && json_is_object(*ret) ? 0 : -EBADMSG;
}

int cvat_run_save(struct store_txn *t, const char *name, json_t *run)
{
  char *s = json_dumps(run, JSON_COMPACT);
  int r;

  if (!s)
    return -ENOMEM;
  r = store_rec_put(t, CVAT_NS_RUN, name, strlen(name), s, strlen(s));
  free(s);
  return r;
}

void cvat_run_free(struct cvat_run *r)
{
  if (!r)
    return;
  free(r->name);
  free(r->source);
  free(r->field);
  free(r->error);
  free(r->samples);
  free(r->jobs);
  free(r->last_pull);
  free(r->url);
  memset(r, 0, sizeof(*r));
}

static char *sdup(const char *s)
{
  return s ? strdup(s) : NULL;
}

static int run_from_json(json_t *o, struct cvat_run *r)
{
  json_t *arr, *e;
  size_t i;

  memset(r, 0, sizeof(*r));
  r->name = sdup(cvat_jstr(o, "name"));
  r->source = sdup(cvat_jstr(o, "source"));
  r->field = sdup(cvat_jstr(o, "field"));
  r->error = sdup(cvat_jstr(o, "error"));
  r->last_pull = sdup(cvat_jstr(o, "last_pull"));
  r->url = sdup(cvat_jstr(o, "url"));
  r->phase = (enum cvat_phase)cvat_jint(o, "phase");
  r->done = (uint64_t)cvat_jint(o, "done");
  r->total = (uint64_t)cvat_jint(o, "total");
  r->created_ns = cvat_jint(o, "created");
  r->project_id = cvat_jint(o, "project");
  r->task_id = cvat_jint(o, "task");
  r->pulls = (uint64_t)cvat_jint(o, "pulls");
  r->undo_depth = (uint64_t)cvat_jint(o, "undo");
  r->view_frame = cvat_jstr(o, "frame") &&
                  strcmp(cvat_jstr(o, "frame"), "view") == 0;
  arr = json_object_get(o, "samples");
  r->samples = calloc(json_array_size(arr) + 1, sizeof(uint64_t));
  arr = json_object_get(o, "jobs");
  r->jobs = calloc(json_array_size(arr) + 1, sizeof(*r->jobs));
  if (!r->name || !r->source || !r->field || !r->samples || !r->jobs) {
    cvat_run_free(r);
    return -ENOMEM;
  }
  json_array_foreach(json_object_get(o, "samples"), i, e)
    r->samples[r->n_samples++] = (uint64_t)json_integer_value(e);
  json_array_foreach(arr, i, e) {
    for (size_t k = 0; k < 3; k++)
      r->jobs[r->n_jobs][k] = json_integer_value(json_array_get(e, k));
    r->n_jobs++;
  }
  return 0;
}

int cvat_run_get(struct store *s, const char *name, struct cvat_run *ret)
{
  struct store_txn *t;
  json_t *o = NULL;
  int r;

  memset(ret, 0, sizeof(*ret));
  if (!cvat_run_name_valid(name))
    return -ENOENT;
  r = store_txn_begin(s, false, &t);
  if (r < 0)
    return r;
  r = cvat_run_load(t, name, &o);
  store_txn_abort(t);
  if (r == 0)
    r = run_from_json(o, ret);
  json_decref(o);
  return r;
}

struct name_list {
  char **v;
  size_t n;
};

static int collect_name(const void *key, size_t klen, const void *val,
                        size_t vlen, void *ud)
{
  struct name_list *l = ud;
  char **p = realloc(l->v, (l->n + 1) * sizeof(*p));

  (void)val;
  (void)vlen;
  if (!p)
    return -ENOMEM;
  l->v = p;
  l->v[l->n] = strndup(key, klen);
  if (!l->v[l->n])
    return -ENOMEM;
  l->n++;
  return 0;
}

void cvat_names_free(char **names, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

int cvat_runs_list(struct store *s, char ***ret_names, size_t *ret_n)
{
  struct name_list l = { NULL, 0 };
  struct store_txn *t;
  int r;

  *ret_names = NULL;
  *ret_n = 0;
  r = store_txn_begin(s, false, &t);
  if (r < 0)
    return r;
  r = store_rec_each(t, CVAT_NS_RUN, "", 0, false, collect_name, &l);
  store_txn_abort(t);
  if (r < 0) {
    cvat_names_free(l.v, l.n);
    return r;
  }
  *ret_names = l.v;
  *ret_n = l.n;
  return 0;
}

int cvat_run_update_txn(struct store_txn *t, const char *name,
                        const struct cvat_upd *u, struct cvat_run *ret)
{
  json_t *o;
  int r;

  if (ret)
    memset(ret, 0, sizeof(*ret));
  r = cvat_run_load(t, name, &o);
  if (r == 0) {
    if (u->phase >= 0)
      cvat_jset(o, "phase", u->phase);
    if (u->done >= 0)
      cvat_jset(o, "done", u->done);
    if (u->total >= 0)
      cvat_jset(o, "total", u->total);
    if (u->error && *u->error)
      json_object_set_new(o, "error", json_string(u->error));
    else if (u->error)
      json_object_del(o, "error");
    if (u->set)
      json_object_update(o, u->set);
    r = cvat_run_save(t, name, o);
    if (r == 0 && ret)
      r = run_from_json(o, ret);
  }
  json_decref(o);
  return r;
}

int cvat_run_update(struct store *s, const char *name,
                    const struct cvat_upd *u, struct cvat_run *ret)
{
  struct store_txn *t;
  int r = store_txn_begin(s, true, &t);

  if (r < 0)
    return r;
  r = cvat_run_update_txn(t, name, u, ret);
  if (r < 0) {
    if (ret)
      cvat_run_free(ret);
    store_txn_abort(t);
    return r;
  }
  r = store_txn_commit(t);
  if (r < 0 && ret)
    cvat_run_free(ret);
  return r;
}

/* Map keys: run 0 sample. */
size_t cvat_map_key(uint8_t *k, const char *run, uint64_t sample)
{
  size_t n = strlen(run);

  memcpy(k, run, n);
  k[n] = 0;
  store_key_u64(k + n + 1, sample);
  return n + 9;
}

int cvat_map_get(struct store_txn *t, const char *run, uint64_t sample,
                   struct cvat_pair **ret, size_t *ret_n)
{
  uint8_t k[CVAT_KEY_MAX];
  const void *v;
  size_t n;
  int r;

  *ret = NULL;
  *ret_n = 0;
  r = store_rec_get(t, CVAT_NS_MAP, k, cvat_map_key(k, run, sample), &v, &n);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  if (n % sizeof(struct cvat_pair))
    return -EBADMSG;
  *ret = malloc(n + 1);
  if (!*ret)
    return -ENOMEM;
  memcpy(*ret, v, n);
  *ret_n = n / sizeof(struct cvat_pair);
  return 0;
}

int cvat_map_put(struct store_txn *t, const char *run, uint64_t sample,
                   const struct cvat_pair *p, size_t n)
{
  uint8_t k[CVAT_KEY_MAX];
  size_t kl = cvat_map_key(k, run, sample);

  if (n == 0) {
    int r = store_rec_del(t, CVAT_NS_MAP, k, kl);
    return r == -ENOENT ? 0 : r;
  }
  return store_rec_put(t, CVAT_NS_MAP, k, kl, p, n * sizeof(*p));
}

int cvat_parse_id(const char *s, uint64_t *ret)
{
  char *end;
  unsigned long long v;

  if (!s || !*s || *s < '0' || *s > '9')
    return -EINVAL;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v == 0)
    return -EINVAL;
  *ret = v;
  return 0;
}

