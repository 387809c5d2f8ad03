/* cvat_client.h - a client of the CVAT REST API (servers 2.16 and newer):
 * settings, connection and authentication, projects with our label
 * schema, tasks and their data upload, jobs, annotations, issues.
 *
 * What it does: one call per CVAT operation the push / review / pull loop
 * needs (docs/CVAT-API.md lists the endpoints and the rules it relies
 * on).  JSON goes through jansson; HTTP through http.c.  Every failed call
 * returns a negative errno and leaves a one-line reason in
 * cvat_client_error(): for 4xx answers that reason carries CVAT's own
 * message.  Status mapping:
 * 400 -EINVAL, 401 -EACCES, 403 -EPERM, 404 -ENOENT, 406 -EPROTO,
 * 409 -EEXIST, 413 -E2BIG, 429 (after retries) -EAGAIN, 5xx -EIO; transport
 * failures as in http.h.
 *
 * What it does not do: it keeps no process-wide state (the session is
 * its caller's; runs, frame maps and merges are cvat_sync.h's), and it never reveals a
 * secret: the password, the token and the session key are redacted from
 * every error text, and cvat_config_render() prints them as "(set)".
 *
 * Ownership: a client is reference-counted (a session keeps one
 * reference); cvat_client_free() drops the caller's.  A session belongs to
 * whoever created it and outlives every client connected through it.
 * struct cvat_config owns its strings (secrets freed with secret_free())
 * and borrows its session pointer.
 *
 * Thread-safety: a struct cvat_client may be used from several threads
 * (requests are serialised), but cvat_client_error() then reports the last
 * failure of any of them.  A session is guarded by its own mutex.
 */
#ifndef CURATE_CVAT_CLIENT_H
#define CURATE_CVAT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util.h"

struct objsource;

#define CVAT_ERR_MAX 512
/* Oldest server with the /api/requests model this client relies on. */
#define CVAT_MIN_MAJOR 2
#define CVAT_MIN_MINOR 16

/* Settings.  All strings owned (NULL = unset). */
struct cvat_config {
  char *url;            /* "https://cvat.example.com" */
  char *username;
  char *password;       /* secret */
  char *token;          /* personal access token; secret */
  char *org;            /* organization slug */
  char *ca_bundle;      /* CA file for TLS */
  char *project;        /* project name (created if missing) */
  char *field;          /* label field pushed and pulled */
  char **assignees;     /* job assignees, round-robin */
  size_t n_assignees;
  uint32_t segment_size;    /* frames per job; 0 = one job */
  uint32_t image_quality;   /* 1..100 */
  uint64_t batch_bytes;     /* request size limit of one upload batch */
  uint32_t connect_timeout_s;
  uint32_t timeout_s;       /* one HTTP attempt */
  uint32_t retries;
  uint32_t wait_timeout_s;  /* waiting for task creation */
  double poll_s;            /* /api/requests polling period */
  /* Bucket samples (docs/USER-GUIDE.md, "CVAT and buckets"): */
  char *cloud_storage;      /* "auto" (NULL), "off", or a cloud storage id */
  char *cloud_credentials;  /* "none" (NULL), "anonymous" or "aws": what a
                               push may send to CVAT to create one */
  char *cloud_endpoint;     /* S3 endpoint as CVAT reaches it; NULL = the
                               one curatefs uses */
  struct objsource *objsrc; /* borrowed, may be NULL: where an upload reads
                               bucket samples (the mount's cache) */
  struct cvat_session *session; /* borrowed, may be NULL: where connects
                                   find a kept client and waits learn of a
                                   cancel; copied as a pointer */
  /* Opens ca_bundle at each connect (struct http_opts, http.h): the mount
   * opens it with the store owner's rights; NULL = the process's own.
   * Copied as pointers. */
  int (*open_file)(void *arg, const char *path);
  void *open_file_arg;
};

/* Defaults: project "curatefs", field "ground_truth", segment_size 100,
 * image_quality 70, batch_bytes 64 MiB, timeouts 10 s / 600 s, retries 6,
 * wait 3600 s, poll 0.2 s. */
void cvat_config_init(struct cvat_config *c);
void cvat_config_free(struct cvat_config *c);
/* Copies every setting of src into dst (dst freed first).  0 or -ENOMEM. */
int cvat_config_copy(struct cvat_config *dst, const struct cvat_config *src);
/* Applies the environment: CVAT_URL, CVAT_USERNAME, CVAT_PASSWORD,
 * CVAT_TOKEN, CVAT_ORG, CVAT_CA_BUNDLE, CVAT_PROJECT, CVAT_FIELD,
 * CVAT_ASSIGNEES, CVAT_SEGMENT_SIZE, CVAT_BATCH_BYTES, CVAT_TIMEOUT,
 * CVAT_RETRIES (each through cvat_config_set()).  Returns 0 or the first
 * error, with the reason in err. */
int cvat_config_from_env(struct cvat_config *c, char *err, size_t errlen);
/* Validates and applies one `key = value` setting.  Keys: url, username,
 * password, token, org, ca_bundle, project, field, assignees
 * (comma-separated user names), segment_size, image_quality, batch_bytes
 * (a number, optional K/M/G suffix), connect_timeout, timeout, retries,
 * wait_timeout, poll_interval, cloud_storage (auto, off or an id),
 * cloud_credentials (none, anonymous, aws), cloud_endpoint (a URL).  An
 * empty value unsets a string.
 * Returns 0; -ENOENT for an unknown key; -EINVAL for a bad value (the
 * setting is unchanged); the reason (never the value of a secret) in err. */
int cvat_config_set(struct cvat_config *c, const char *key,
                    const char *value, char *err, size_t errlen);
/* Whether c names a server and credentials to log in with (a token, or
 * a user name and password): what a connection needs before it asks. */
bool cvat_config_can_login(const struct cvat_config *c);
/* Renders the settings as `key = value` lines; password and token show as
 * "(set)" or "(unset)", never their value. */
int cvat_config_render(const struct cvat_config *c, struct buf *out);

struct cvat_client;

/* Connects: GET /api/server/about (version gate: 2.16+), then logs in
 * (token: `Authorization: Bearer`; else username + password: POST
 * /api/auth/login and `Authorization: Token <key>`), selects the
 * organization, and checks the credentials with GET /api/users/self.
 * Returns 0 and an owned client, or: -EINVAL (settings incomplete),
 * -EPROTONOSUPPORT (server too old or not CVAT), -EACCES (bad
 * credentials), -ENOENT (unknown organization) or a transport error;
 * reason in err (redacted). */
/* A session (owned by the caller, e.g. the mount's cvat/ provider):
 * connects with cfg->session set return a client kept from an earlier
 * connect with identical settings for ten minutes, so a long-running
 * program logs in once instead of per call (CVAT throttles the anonymous
 * login requests).  cvat_session_cancel_waits(s, true) makes every
 * cvat_request_wait() of its clients return -ECANCELED at its next poll
 * (the daemon's unmount); thread-safe.  Free the session after every
 * client connected through it (asserted in debug builds). */
struct cvat_session;
int cvat_session_new(struct cvat_session **ret);
void cvat_session_cancel_waits(struct cvat_session *s, bool on);
void cvat_session_free(struct cvat_session *s);

int cvat_connect(const struct cvat_config *cfg, struct cvat_client **ret,
                 char *err, size_t errlen);
void cvat_client_free(struct cvat_client *c);
/* Reason of the last failure (borrowed; "" if none). */
const char *cvat_client_error(const struct cvat_client *c);

/* ---- projects and labels ---- */

/* CVAT refuses label names longer than this many characters. */
#define CVAT_LABEL_NAME_MAX 64

struct cvat_label {
  int64_t id;
  char *name;              /* owned */
  int64_t label_id_spec;   /* attribute id of our `label_id`; 0 if none */
  int64_t parent_id;       /* a skeleton's point label: its parent; else 0 */
};

struct cvat_labels {
  size_t n;
  struct cvat_label *v;    /* owned */
};

void cvat_labels_free(struct cvat_labels *l);
const struct cvat_label *cvat_labels_by_id(const struct cvat_labels *l,
                                           int64_t id);
/* Top-level labels only (a skeleton point of the same name is skipped). */
const struct cvat_label *cvat_labels_by_name(const struct cvat_labels *l,
                                             const char *name);

/* Finds the project `name` or creates it; makes sure every class exists
 * as a rectangle label carrying a text attribute `label_id` (labels that
 * lack it are patched).  Fills *ret_labels (owned) with the project's
 * labels. */
int cvat_project_ensure(struct cvat_client *c, const char *name,
                        const char *const *classes, size_t n,
                        int64_t *ret_id, struct cvat_labels *ret_labels);
/* Labels of a project (owned into *ret). */
int cvat_labels_get(struct cvat_client *c, int64_t project_id,
                    struct cvat_labels *ret);

/* ---- tasks ---- */

struct cvat_task {
  int64_t id;
  int64_t project_id;
  int64_t size;            /* frames; 0 before data is attached */
  char status[16];
};

/* The newest task named `name` in the project; -ENOENT if none. */
int cvat_task_find(struct cvat_client *c, const char *name,
                   int64_t project_id, int64_t *ret_id);
/* POST /api/tasks, sent once: a lost answer is not repeated (the caller
 * looks the task up by name instead, so no duplicate can appear). */
int cvat_task_create(struct cvat_client *c, const char *name,
                     int64_t project_id, uint32_t segment_size,
                     int64_t *ret_id);
int cvat_task_get(struct cvat_client *c, int64_t id, struct cvat_task *ret);
int cvat_task_delete(struct cvat_client *c, int64_t id);

/* One image to upload: the name CVAT will know it by, and the file, sent
 * from the descriptor fd, which the batch callback opens (and checks)
 * before its batch goes up; never reopened by name.  -1 until then.
 * opened: its fstat at that open, or NULL; with it, the file is sent as
 * it was then, and one that changes before or while it goes up fails the
 * upload with -ESTALE ("source changed during upload: NAME", http.h).
 * fixed: an object cache file, whose bytes never change in place but
 * whose modification time records reads (http_part.fixed). */
struct cvat_file {
  const char *name;
  int fd;
  uint64_t size;
  const struct stat *opened;
  bool fixed;
};

typedef void (*cvat_upload_fn)(size_t files_done, uint64_t bytes_done,
                               void *ud);
/* Called before a batch of files[from..to) is sent (again for the same
 * files after a 413): opens their descriptors; 0 or a negative errno,
 * which ends the upload.  A batch has at most CVAT_BATCH_FILES files, so
 * the descriptors it holds stay few. */
#define CVAT_BATCH_FILES 256
typedef int (*cvat_batch_fn)(size_t from, size_t to, void *ud);

/* Attaches the images to a task, in this frame order: Upload-Start, then
 * batches of at most cfg batch_bytes (halved on 413), then Upload-Finish
 * with sorting_method=predefined and upload_file_order.  prepare (may be
 * NULL) is called before each batch, progress (may be NULL) after it.  On
 * success *ret_rq_id (owned) is the creation request to wait on. */
int cvat_task_upload(struct cvat_client *c, int64_t task_id,
                     const struct cvat_file *files, size_t n,
                     cvat_batch_fn prepare, cvat_upload_fn progress,
                     void *ud, char **ret_rq_id);
/* The newest creation request of a task (when an rq_id was lost):
 * *ret_rq_id owned, *ret_status one of queued/started/finished/failed. */
int cvat_request_find(struct cvat_client *c, int64_t task_id,
                      char **ret_rq_id, char ret_status[16]);
/* Polls /api/requests/{rq_id} until finished (0) or failed (-EIO with the
 * server's message), or wait_timeout (-ETIMEDOUT), or until
 * cvat_session_cancel_waits() on the client's session (-ECANCELED: the
 * request goes on in CVAT and a later push finds it again). */
int cvat_request_wait(struct cvat_client *c, const char *rq_id);
/* Frame names in frame order from data/meta (owned array of owned
 * strings; free each and the array). */
int cvat_task_frames(struct cvat_client *c, int64_t task_id,
                     char ***ret_names, size_t *ret_n);

/* ---- cloud storages (an S3 bucket CVAT reads itself) ---- */

struct cvat_cloud {
  int64_t id;
  char provider[32];       /* "AWS_S3_BUCKET", ... */
  char resource[224];      /* the bucket */
  char region[64];         /* specific_attributes: region, "" if none */
  char endpoint[256];      /* endpoint_url without a final '/', "" if none */
  char prefix[256];        /* prefix, "" if none */
  char credentials_type[32]; /* "KEY_SECRET_KEY_PAIR", "ANONYMOUS_ACCESS" */
};

/* GET /api/cloudstorages/{id} (never carries credentials).  -ENOENT if
 * there is no such cloud storage (or the user may not see it). */
int cvat_cloud_get(struct cvat_client *c, int64_t id, struct cvat_cloud *ret);
/* Every S3 cloud storage of this bucket the user sees (owned array). */
int cvat_cloud_list(struct cvat_client *c, const char *bucket,
                    struct cvat_cloud **ret, size_t *ret_n);
/* Whether cloud storage cs serves keys under key_prefix of bucket at this
 * endpoint ("" = AWS) and region: same bucket, same endpoint, the same
 * region when it names one, and a prefix of its own (if any) that the
 * keys have. */
bool cvat_cloud_serves(const struct cvat_cloud *cs, const char *bucket,
                       const char *endpoint, const char *region,
                       const char *key_prefix);
/* GET /api/cloudstorages/{id}/status: CVAT checks the bucket now;
 * st gets "AVAILABLE", "FORBIDDEN" or "NOT_FOUND". */
int cvat_cloud_status(struct cvat_client *c, int64_t id, char st[16]);
/* What a new cloud storage is made of.  key/secret/token NULL =
 * ANONYMOUS_ACCESS.  The secrets go into the request body only. */
struct cvat_cloud_new {
  const char *bucket, *endpoint, *region, *display_name;
  const char *key, *secret, *token;
};
/* POST /api/cloudstorages, sent once (a lost answer is found again by
 * cvat_cloud_list).  CVAT checks the bucket with these credentials first:
 * -EACCES when it answers "credentials" (access forbidden), -ENOENT for
 * "resource" (no such bucket), with CVAT's message.  *ret_unsure is set
 * when the request may have reached CVAT but no answer saying so came
 * back (a dropped connection, a timeout, a server error): the cloud
 * storage may exist all the same, and must be looked up before another
 * is made. */
int cvat_cloud_create(struct cvat_client *c, const struct cvat_cloud_new *n,
                      int64_t *ret_id, bool *ret_unsure);
/* PATCH /api/cloudstorages/{id}: the access key CVAT reads the bucket
 * with becomes key/secret (KEY_SECRET_KEY_PAIR; CVAT keeps no session
 * token for S3), its manifests unchanged.  CVAT checks the bucket with
 * the new key first: -EACCES when it is refused, -ENOENT when the bucket
 * is gone, -EPERM when the user may not change that cloud storage. */
int cvat_cloud_set_key(struct cvat_client *c, int64_t id, const char *key,
                       const char *secret);
/* What a push of bucket samples needs of a cloud storage. */
struct cvat_cloud_use {
  const char *bucket, *prefix;  /* the dataset's bucket and key prefix */
  const char *root;             /* "s3://bucket/prefix/", for messages */
  const char *storage;          /* cvat.cloud_storage: NULL or "auto", or
                                   an id */
  const char *credentials;      /* cvat.cloud_credentials: NULL or "none",
                                   "anonymous", "aws" */
  const char *endpoint;         /* cvat.cloud_endpoint, NULL = the AWS
                                   settings' endpoint (none for AWS) */
  int64_t recorded;             /* the one an earlier attempt used, or 0 */
  const char *run;              /* for the log */
};
/* The cloud storage a push uses: the one u->storage names (-EINVAL when
 * it does not serve the bucket), else the recorded one, else the newest
 * listed one that serves the bucket, endpoint, region and prefix, else a
 * new one when u->credentials allows (-ENOENT otherwise, saying what to
 * set); then CVAT's status of it must be AVAILABLE (-EACCES FORBIDDEN,
 * -ENOENT NOT_FOUND).  With "aws", a FORBIDDEN one holding an access key
 * is given the current key once (cvat_cloud_set_key) and asked again.  A
 * temporary AWS key (one with a session token) is never given to CVAT,
 * which would keep it without its token: -EKEYREJECTED.  The AWS settings
 * (region, endpoint, and the key only for "aws") are loaded here and
 * wiped after.  0 and *ret_id, or an errno
 * with the reason in msg (never a secret). */
int cvat_cloud_pick(struct cvat_client *c, const struct cvat_cloud_use *u,
                    int64_t *ret_id, char *msg, size_t msglen);
/* Attaches the objects keys[0..n) of cloud storage cloud_id to a task
 * (POST /api/tasks/{id}/data with cloud_storage_id and server_files, in
 * this frame order, use_cache): CVAT reads them from the bucket, nothing
 * is uploaded.  *ret_rq_id (owned) is the creation request. */
int cvat_task_data_cloud(struct cvat_client *c, int64_t task_id,
                         int64_t cloud_id, const char *const *keys, size_t n,
                         char **ret_rq_id);

/* ---- jobs ---- */

struct cvat_job {
  int64_t id;
  int64_t start_frame, stop_frame;   /* absolute, inclusive */
  char assignee[152];                /* user name; "" = unassigned */
  char stage[16];
  char state[16];
  int64_t issues;
};

bool cvat_stage_valid(const char *s);
bool cvat_state_valid(const char *s);
/* Annotation jobs of a task in start-frame order (owned array). */
int cvat_jobs_list(struct cvat_client *c, int64_t task_id,
                   struct cvat_job **ret, size_t *ret_n);
int cvat_job_get(struct cvat_client *c, int64_t job_id, struct cvat_job *ret);
/* PATCH /api/jobs/{id} with whichever of assignee (a user name; "" to
 * unassign), stage, state is non-NULL.  Stage and state are validated
 * first (-EINVAL); CVAT's own rule applies on the server: a stage change
 * without a state resets the state to "new".  Unknown user -> -ENOENT. */
int cvat_job_update(struct cvat_client *c, int64_t job_id,
                    const char *assignee, const char *stage,
                    const char *state);

/* ---- annotations ---- */

struct cvat_shape {
  int64_t id;              /* CVAT's id (0 when sending) */
  int64_t frame;
  int64_t label;           /* CVAT label id */
  double x1, y1, x2, y2;   /* pixels, top-left and bottom-right */
  char *label_id;          /* value of our `label_id` attribute; owned,
                              NULL if absent or empty */
  bool rect;               /* x1..y2 hold a box: a rectangle (its bounding
                              rectangle when rotated), or the bounding
                              rectangle of a polygon, ellipse or mask */
  bool converted;          /* rect, from another shape type */
  char type[12];           /* CVAT's type: "rectangle", "polygon", ...;
                              "tag" for an image tag, "track" for a track */
};

void cvat_shapes_free(struct cvat_shape *s, size_t n);

/* Replaces the task's annotations with these rectangles (PUT: repeating
 * it is harmless).  label_id values go into each label's `label_id`
 * attribute.  The server's copies, with their ids, come back in *ret
 * (owned; may be NULL to skip). */
int cvat_annotations_put(struct cvat_client *c, int64_t task_id,
                         const struct cvat_shape *s, size_t n,
                         const struct cvat_labels *labels,
                         struct cvat_shape **ret, size_t *ret_n);
/* All objects of a task (owned): its shapes, then its tags and tracks
 * (rect false, type "tag" / "track", frame of the tag or of the track's
 * start).  `labels` maps attribute ids to find the `label_id` values. */
int cvat_annotations_get(struct cvat_client *c, int64_t task_id,
                         const struct cvat_labels *labels,
                         struct cvat_shape **ret, size_t *ret_n);

/* ---- review ---- */

/* Appends the job's issues with all their comments as text:
 *   issue 5: frame 3, open, at [x1, y1, x2, y2], by alice, assigned to bob
 *     alice: the box is too loose
 * frame_name (may be NULL) names a frame for the text. */
int cvat_issues_text(struct cvat_client *c, int64_t job_id,
                     const char *(*frame_name)(int64_t frame, void *ud),
                     void *ud, struct buf *out);

#endif
