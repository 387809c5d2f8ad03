/* cvat_sync.h - annotation runs between the store and CVAT: push samples
 * with their boxes, follow the review, pull the labels back, undo a pull.
 *
 * A run is a named record in the store (namespace "cvat.run"): the samples
 * in frame order, the CVAT project, task and job ids, the phase and
 * progress of the upload, the last error and the last pull's counts.  Two
 * more namespaces hold the identity map (sample -> pairs of CVAT shape id
 * and our label id, "cvat.map") and the labels before each pull
 * ("cvat.undo"), so runs survive restarts and a remount continues where
 * it was.
 *
 * Push is split for the daemon: cvat_push_begin() runs in the writer's
 * thread, checks everything that can be checked quickly (samples exist,
 * server reachable, credentials) and records the run; cvat_push_run() then
 * does the long part in a background thread, as a table of steps whose
 * stored phase names the step to resume at (cvat_push.c lists the steps
 * and the mapping of every stored phase), and can be called again on a
 * run that was interrupted (at restart, or after an error): the task id is
 * recorded before any upload, and a task whose creation answer was lost
 * is found again by its name, so a retry never creates a second task.
 *
 * Pull merges in ONE write transaction, into the run's label field:
 * boxes changed in CVAT are updated (id, confidence and attributes kept),
 * boxes deleted in CVAT are deleted, boxes drawn in CVAT are added with new
 * ids, other fields and samples outside the run are untouched.  Identity
 * comes from the `label_id` attribute, then from the map of CVAT shape
 * ids.  Labels of the project become classes of the store; objects
 * without a box are reported, not imported.  A task deleted in CVAT is
 * reported and nothing changes.
 *
 * Errors: negative errno with a one-line reason in the caller's buffer
 * (never a secret).  Ownership: struct cvat_run and name lists are the
 * caller's (cvat_run_free, cvat_names_free); cfg is borrowed for the call,
 * and its session (if any) must outlive it.  Thread-safety: functions only
 * share the store, whose transactions serialise writers; two pushes or
 * pulls of the same run at once are the caller's to prevent (the daemon
 * keeps one worker).
 */
#ifndef CURATE_CVAT_SYNC_H
#define CURATE_CVAT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvat_client.h"
#include "store.h"
#include "util.h"

#define CVAT_RUN_NAME_MAX 64

/* Phases of a run (stored; the numbers never change). */
enum cvat_phase {
  CVAT_PHASE_ACCEPTED = 0,   /* recorded, nothing sent yet */
  CVAT_PHASE_PROJECT = 1,    /* project and labels */
  CVAT_PHASE_TASK = 2,       /* task created */
  CVAT_PHASE_UPLOAD = 3,     /* images going up */
  CVAT_PHASE_PROCESS = 4,    /* CVAT builds frames and jobs */
  CVAT_PHASE_BOXES = 5,      /* existing boxes going up */
  CVAT_PHASE_READY = 6,      /* annotators can work */
  CVAT_PHASE_FAILED = 7,     /* see error; push again to continue */
  CVAT_PHASE_GONE = 8,       /* the task was deleted in CVAT */
};

const char *cvat_phase_name(enum cvat_phase p);

/* A copy of a run record's summary (strings owned; cvat_run_free()). */
struct cvat_run {
  char *name;
  char *source;              /* what was pushed, e.g. "tags/reannotate" */
  char *field;               /* label field pushed and pulled */
  char *error;               /* last error, NULL if none */
  enum cvat_phase phase;
  uint64_t done, total;      /* progress of the current phase */
  int64_t created_ns;
  int64_t project_id, task_id;
  size_t n_samples;
  uint64_t *samples;         /* sample ids in frame order (owned) */
  size_t n_jobs;
  int64_t (*jobs)[3];        /* job id, start frame, stop frame (owned) */
  uint64_t pulls;            /* completed pulls */
  uint64_t undo_depth;       /* pulls that can be undone */
  char *last_pull;           /* summary of the last pull, NULL if none */
  char *url;                 /* the server it was pushed to */
  /* Boxes go to CVAT turned by each image's EXIF orientation, as CVAT
   * shows the frame.  Runs recorded before this rule hold boxes in the
   * stored frame; they keep that frame for their pushes and pulls. */
  bool view_frame;
};

void cvat_run_free(struct cvat_run *r);

/* Reads a run (read transaction of its own).  -ENOENT if unknown. */
int cvat_run_get(struct store *s, const char *name, struct cvat_run *ret);
/* Run names in name order: owned array of owned strings. */
int cvat_runs_list(struct store *s, char ***ret_names, size_t *ret_n);
void cvat_names_free(char **names, size_t n);
/* Run names: 1..64 bytes of [A-Za-z0-9_.-], not starting with '.'. */
bool cvat_run_name_valid(const char *name);

/* Progress callback of cvat_push_run (may be NULL). */
typedef void (*cvat_progress_fn)(const struct cvat_run *run, void *ud);

/* Validates and records a push of `ids` (n > 0; duplicates dropped,
 * order kept) described by `source`.  `classes` (may be NULL) are added to
 * the store's classes first; the CVAT project gets a label for every class
 * of the store.  A store without classes and no `classes` is refused
 * (-EINVAL, the reason says how to add them): annotators need labels.
 * `run_name` NULL picks "run-N".
 * Pushing to an existing run name that is not finished resumes it (same
 * samples required); a finished one gives -EEXIST.  Connects to the
 * server to check it and the credentials.  Returns 0 with the run name in
 * *ret_name (owned), or: -EINVAL (no samples, bad name, settings missing),
 * -ENOENT (a sample id does not exist), -EEXIST, -ECONNREFUSED /
 * -EHOSTUNREACH / -ETIMEDOUT (server unreachable), -EACCES (credentials),
 * -EPROTONOSUPPORT (server version); reason in err.  Nothing is recorded
 * on failure. */
int cvat_push_begin(struct store *s, const struct cvat_config *cfg,
                    const char *source, const uint64_t *ids, size_t n,
                    char *const *classes, size_t n_classes,
                    const char *run_name, char **ret_name, char *err,
                    size_t errlen);

/* Does the push of a recorded run: project and labels, task (reusing the
 * recorded or same-named one), image upload from dataset_root (NULL = the
 * root recorded by import), frame map from data/meta, the run's boxes with
 * their label ids, round-robin job assignment.  Progress is written to the
 * run record after every step and batch (and passed to fn).  On failure the
 * run is marked failed with the reason, and calling this again continues.
 * Returns 0 or a negative errno, reason in err. */
int cvat_push_run(struct store *s, const struct cvat_config *cfg,
                  const char *run, const char *dataset_root,
                  cvat_progress_fn fn, void *ud, char *err, size_t errlen);

/* Counts of one pull. */
struct cvat_pull_report {
  uint64_t samples;          /* samples whose labels changed */
  uint64_t updated, deleted, added, unchanged;
  uint64_t unknown;          /* boxes whose label cannot be a class */
  uint64_t other_shapes;     /* objects without a box: not imported */
  uint64_t converted;        /* boxes taken from other shape types */
  uint64_t clipped;          /* boxes clipped to the image */
  uint64_t new_class_n;      /* classes created from project labels */
  char unknown_classes[256]; /* their labels, comma-separated */
  char other_kinds[256];     /* "2 polyline, 1 tag (person)" */
  char converted_kinds[256]; /* "1 polygon, 1 ellipse" */
  char new_classes[256];     /* names of the classes created */
  char per_class[512];       /* boxes of the run's samples by class after
                                the pull, with the added ones: "cat 5
                                (+2 new), dog 3" */
};

/* The report as one line (for the mount's cvat/status, the run's info and
 * `curate cvat pull`). */
void cvat_pull_text(const struct cvat_pull_report *rep, char *out,
                    size_t n);

/* Pulls a run's annotations and merges them in one transaction (see
 * above); the labels before it are kept for cvat_undo().  Every label of
 * the project becomes a class of the store by the same name (labels added
 * in CVAT after the push too).  Rectangles become boxes, polygons,
 * ellipses and masks their bounding rectangles; other objects (polylines,
 * points, skeletons, cuboids, tags, tracks) are counted and named in the
 * report, never dropped silently.  -ENOENT (unknown
 * run), -EAGAIN (push not finished), -EIDRM (the task was deleted in CVAT:
 * nothing changed, the run is marked), transport/auth errors; reason in
 * err.  On any failure the labels are unchanged. */
int cvat_pull(struct store *s, const struct cvat_config *cfg, const char *run,
              struct cvat_pull_report *rep, char *err, size_t errlen);

/* Restores the labels (and identity map) of the run's samples to what they
 * were before its last pull, in one transaction, and removes the classes
 * that pull created (those no box uses any more).  -ENOENT: no pull to
 * undo.  Labels and the class listing render byte for byte as before the
 * pull. */
int cvat_undo(struct store *s, const char *run, char *err, size_t errlen);

/* Appends labels/<name>.json of every sample of the run, in frame order
 * (what a pull changes and an undo restores). */
int cvat_run_labels_json(struct store *s, const char *run, struct buf *out);

/* The text of cvat/runs/<run>/info: source, phase, progress, project,
 * task and job ids with their URLs (on the server the run was pushed
 * to; cfg, may be NULL, for older records), pulls,
 * last error.  Reads only the store. */
int cvat_run_info(struct store *s, const struct cvat_config *cfg,
                  const char *run, struct buf *out);

/* Per-job files: what is "assignee", "stage" or "state".  get appends the
 * current value and a newline (asking the server); set validates (stage
 * and state against CVAT's values, job id against the run) and PATCHes the
 * job; value may end in one newline.  -ENOENT unknown run or job,
 * -EINVAL bad value; reason in err. */
int cvat_job_attr_get(struct store *s, const struct cvat_config *cfg,
                      const char *run, int64_t job_id, const char *what,
                      struct buf *out, char *err, size_t errlen);
int cvat_job_attr_set(struct store *s, const struct cvat_config *cfg,
                      const char *run, int64_t job_id, const char *what,
                      const char *value, char *err, size_t errlen);
/* The review issues of a job, with their comments, as text (frames named
 * after their samples). */
int cvat_job_issues(struct store *s, const struct cvat_config *cfg,
                    const char *run, int64_t job_id, struct buf *out,
                    char *err, size_t errlen);

#endif
