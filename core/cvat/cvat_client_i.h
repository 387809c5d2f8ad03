/* cvat_client_i.h - what the files of the CVAT client share
 * (cvat_client.c: the connection and the calls; cvat_tasks.c: projects,
 * labels, tasks, jobs; cvat_annotations.c: shapes and issues); private to
 * core/cvat/.
 *
 * Ownership: json_t results are owned by the caller.  Locking: a client's
 * err is guarded by its mu (cvat_fail takes it); requests are serialised
 * by the HTTP client; refs is atomic.
 */
#ifndef CURATE_CVAT_CLIENT_I_H
#define CURATE_CVAT_CLIENT_I_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cvat_client.h"
#include "cvat_json.h"
#include "http.h"

struct cvat_client {
  atomic_uint refs;            /* references: the owner's, the session's */
  struct cvat_session *sess;   /* borrowed (outlives the client), or NULL */
  struct http_client *h;
  struct cvat_config cfg;      /* a private copy */
  char version[32];
  bool relogin_ok;             /* username + password available */
  pthread_mutex_t mu;          /* guards err */
  char err[CVAT_ERR_MAX];
};

/* One REST call. */
struct cvat_call {
  const char *method;
  const char *path;
  json_t *body;                  /* borrowed */
  const struct http_part *parts;
  size_t nparts;
  const char *const *headers;
  bool no_retry;
  bool no_relogin;
};

/* Whether waits of the session's clients are cancelled (NULL: never). */
bool cvat_session_cancelled(struct cvat_session *s);
/* Records the reason of a failure (redacted) and returns r. */
int cvat_fail(struct cvat_client *c, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Performs a call.  2xx: 0 and the parsed body in *ret (when wanted and
 * not empty).  Otherwise a negative errno and the reason. */
int cvat_call(struct cvat_client *c, const struct cvat_call *k,
              long *ret_status, json_t **ret);
int cvat_get_json(struct cvat_client *c, const char *path, json_t **ret);
int cvat_send_json(struct cvat_client *c, const char *method,
                   const char *path, json_t *body, bool no_retry,
                   json_t **ret);
/* GETs every page of a list (path has a '?') into one array. */
int cvat_get_list(struct cvat_client *c, const char *path, json_t **ret);

#endif
