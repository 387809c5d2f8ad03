/* cvat_sync.c - what a run shows and the review of its jobs: the run's
 * info text and labels, job attributes (assignee, stage, state) and
 * issues (see cvat_sync.h).  The push is cvat_push.c, the pull
 * cvat_pull.c, undo cvat_snapshot.c, the records cvat_run.c.
 */
#include "cvat_sync_i.h"
#include "labels_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cvat_run_info(struct store *s, const struct cvat_config *cfg,
                  const char *run, struct buf *out)
{
  struct cvat_run r;
  const char *base;
  int rc;

  rc = cvat_run_get(s, run, &r);
  if (rc < 0)
    return rc;
  /* Links use the server the run was pushed to. */
  base = r.url ? r.url : cfg && cfg->url ? cfg->url : "";
  rc = buf_printf(out, "run: %s\nsource: %s\nfield: %s\nsamples: %zu\n"
                  "phase: %s\n", r.name, r.source, r.field, r.n_samples,
                  cvat_phase_name(r.phase));
  if (rc == 0 && r.phase != CVAT_PHASE_READY && r.total)
    rc = buf_printf(out, "progress: %" PRIu64 "/%" PRIu64 "\n", r.done,
                    r.total);
  if (rc == 0 && r.project_id)
    rc = buf_printf(out, "project: %lld  %s/projects/%lld\n",
                    (long long)r.project_id, base, (long long)r.project_id);
  if (rc == 0 && r.task_id)
    rc = buf_printf(out, "task: %lld  %s/tasks/%lld\n", (long long)r.task_id,
                    base, (long long)r.task_id);
  for (size_t i = 0; rc == 0 && i < r.n_jobs; i++)
    rc = buf_printf(out, "job: %lld  frames %lld-%lld  %s/tasks/%lld/jobs/"
                    "%lld\n", (long long)r.jobs[i][0], (long long)r.jobs[i][1],
                    (long long)r.jobs[i][2], base,
                    (long long)r.task_id, (long long)r.jobs[i][0]);
  if (rc == 0)
    rc = buf_printf(out, "pulls: %" PRIu64 "\nundo: %" PRIu64 "\n", r.pulls,
                    r.undo_depth);
  if (rc == 0 && r.last_pull)
    rc = buf_printf(out, "last pull: %s\n", r.last_pull);
  if (rc == 0 && r.error)
    rc = buf_printf(out, "error: %s\n", r.error);
  cvat_run_free(&r);
  return rc;
}

int cvat_run_labels_json(struct store *s, const char *run, struct buf *out)
{
  struct cvat_run rn;
  struct store_txn *t;
  int r;

  r = cvat_run_get(s, run, &rn);
  if (r < 0)
    return r;
  r = store_txn_begin(s, false, &t);
  for (size_t i = 0; r == 0 && i < rn.n_samples; i++) {
    struct sample sm;
    struct labels l;

    labels_init(&l);
    r = store_sample_get(t, rn.samples[i], &sm);
    if (r == 0)
      r = store_labels_get(t, rn.samples[i], &l);
    if (r == 0)
      r = labels_to_json(&l, sm.name, sm.width, sm.height, out);
    labels_free(&l);
  }
  store_txn_abort(t);
  cvat_run_free(&rn);
  return r;
}

static int job_check(struct store *s, const char *run, int64_t job_id,
                     struct cvat_run *ret, char *err, size_t errlen)
{
  int r = cvat_run_get(s, run, ret);

  if (r < 0)
    return errf(err, errlen, r, "no run '%.80s'", run);
  for (size_t i = 0; i < ret->n_jobs; i++)
    if (ret->jobs[i][0] == job_id)
      return 0;
  cvat_run_free(ret);
  return errf(err, errlen, -ENOENT, "run '%s' has no job %lld", run,
              (long long)job_id);
}

/* What the job attribute files share: a known attribute, a job of the
 * run, a connection (owned by the caller). */
static int job_connect(struct store *s, const struct cvat_config *cfg,
                       const char *run, int64_t job_id, const char *what,
                       struct cvat_client **ret, char *err, size_t errlen)
{
  struct cvat_run rn;
  int r;

  if (strcmp(what, "assignee") && strcmp(what, "stage") &&
      strcmp(what, "state"))
    return errf(err, errlen, -EINVAL, "no job attribute '%.40s'", what);
  r = job_check(s, run, job_id, &rn, err, errlen);
  if (r < 0)
    return r;
  cvat_run_free(&rn);
  return cvat_connect(cfg, ret, err, errlen);
}

int cvat_job_attr_get(struct store *s, const struct cvat_config *cfg,
                      const char *run, int64_t job_id, const char *what,
                      struct buf *out, char *err, size_t errlen)
{
  struct cvat_client *c;
  struct cvat_job j;
  int r;

  r = job_connect(s, cfg, run, job_id, what, &c, err, errlen);
  if (r < 0)
    return r;
  r = cvat_job_get(c, job_id, &j);
  if (r < 0)
    errf(err, errlen, r, "%s", cvat_client_error(c));
  else
    r = buf_printf(out, "%s\n", what[0] == 'a' ? j.assignee :
                   what[1] == 't' && what[2] == 'a' && what[3] == 'g'
                     ? j.stage : j.state);
  cvat_client_free(c);
  return r;
}

int cvat_job_attr_set(struct store *s, const struct cvat_config *cfg,
                      const char *run, int64_t job_id, const char *what,
                      const char *value, char *err, size_t errlen)
{
  struct cvat_client *c;
  char v[160];
  size_t n = strlen(value);
  int r;

  if (n && value[n - 1] == '\n')
    n--;
  if (n >= sizeof(v))
    return errf(err, errlen, -EINVAL, "value too long");
  memcpy(v, value, n);
  v[n] = 0;
  if (strcmp(what, "stage") == 0 && !cvat_stage_valid(v))
    return errf(err, errlen, -EINVAL, "stage must be annotation, "
                "validation or acceptance");
  if (strcmp(what, "state") == 0 && !cvat_state_valid(v))
    return errf(err, errlen, -EINVAL, "state must be new, in progress, "
                "completed or rejected");
  r = job_connect(s, cfg, run, job_id, what, &c, err, errlen);
  if (r < 0)
    return r;
  r = cvat_job_update(c, job_id, what[0] == 'a' ? v : NULL,
                      strcmp(what, "stage") == 0 ? v : NULL,
                      strcmp(what, "state") == 0 ? v : NULL);
  if (r < 0)
    errf(err, errlen, r, "%s", cvat_client_error(c));
  cvat_client_free(c);
  return r;
}

struct frame_names {
  struct store *s;
  struct cvat_run *run;
  char name[256];
};

static const char *frame_name(int64_t frame, void *ud)
{
  struct frame_names *fn = ud;
  struct store_txn *t;
  struct sample sm;

  if (frame < 0 || (size_t)frame >= fn->run->n_samples)
    return NULL;
  if (store_txn_begin(fn->s, false, &t) < 0)
    return NULL;
  fn->name[0] = 0;
  if (store_sample_get(t, fn->run->samples[frame], &sm) == 0)
    snprintf(fn->name, sizeof(fn->name), "%s", sm.name);
  store_txn_abort(t);
  return fn->name[0] ? fn->name : NULL;
}

int cvat_job_issues(struct store *s, const struct cvat_config *cfg,
                    const char *run, int64_t job_id, struct buf *out,
                    char *err, size_t errlen)
{
  struct cvat_client *c;
  struct cvat_run rn;
  struct frame_names fn;
  int r;

  r = job_check(s, run, job_id, &rn, err, errlen);
  if (r < 0)
    return r;
  r = cvat_connect(cfg, &c, err, errlen);
  if (r == 0) {
    fn.s = s;
    fn.run = &rn;
    r = cvat_issues_text(c, job_id, frame_name, &fn, out);
    if (r < 0)
      errf(err, errlen, r, "%s", cvat_client_error(c));
    cvat_client_free(c);
  }
  cvat_run_free(&rn);
  return r;
}
