/* prov_cvat.c - cvat/: the annotation loop from the filesystem.
 *
 *   cvat/push      echo 'views/unique [run]' > cvat/push   (or samples,
 *                  tags/<t>, views/<v>): accepted when the server and the
 *                  credentials check out; the upload continues in the
 *                  background (progress in cvat/status and the run's info)
 *   cvat/pull      echo <run> > cvat/pull: merge the run's annotations
 *   cvat/undo      echo <run> > cvat/undo: labels as before the last pull
 *   cvat/status    recent commands with their results, and every run
 *   cvat/runs/<run>/info, labels.json
 *   cvat/runs/<run>/jobs/<id>/assignee|stage|state   read and write
 *   cvat/runs/<run>/jobs/<id>/issues.txt             review issues
 *
 * The work is done in core/cvat/ (cvat_sync.h); this file parses commands,
 * builds the CVAT settings (config file keys cvat.*, then the environment for
 * what the config leaves empty; secrets from memory only) and runs pushes on
 * one background worker, which also resumes unfinished runs at mount.
 * Reasons of failures go to cvat/status and the log, never a secret.
 *
 * A job's files ask the server at every stat and read, with short
 * timeouts and a session of their own (job_config); while the server does
 * not answer they give the bytes they gave last, and a job's folder lists
 * only the files that have bytes to give (cvatcache.h), so a copy of the
 * mount neither fails nor waits on a server that is down.
 *
 * State (PROV_SLOT_CVAT, struct cvat_state): the recent results, the push
 * queue and its worker thread, created at startup and freed after
 * ->stop joined the worker.  Locking: st->mu guards every field; the
 * worker holds it only to take a run from the queue and to mark it done,
 * never while it talks to the server.
 */
#define _GNU_SOURCE   /* strerrorname_np */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "classes.h"
#include "config.h"
#include "cvat_sync.h"
#include "cvatcache.h"
#include "views.h"
#include "vtree.h"

#define ERRLEN 512
#define LOG_LINES 16
/* Limits of a job file's requests, below the push's (10 s, 600 s, 6
 * retries): a stat is waited on by ls, rsync and shells, so a server that
 * is down or stalled costs at most a few seconds of one stat, after which
 * cvatcache.h stops asking for a while.  No retry: curl already reopens a
 * kept connection the server closed, and a 429 or 5xx shows what the file
 * showed last (cvatcache_unreachable). */
#define JOB_CONNECT_TIMEOUT_S 5
#define JOB_TIMEOUT_S 15
#define JOB_RETRIES 0

/* ---- state: recent results and the push worker ---- */

struct pushq {
  struct pushq *next;
  char run[CVAT_RUN_NAME_MAX + 1];
};

struct cvat_state {
  pthread_mutex_t mu;
  pthread_cond_t cv;              /* the queue or the worker changed */
  char results[LOG_LINES][1400];  /* recent results, a ring */
  unsigned res_head, res_n;
  struct pushq *qhead, *qtail;    /* runs to push, oldest first */
  bool worker_on, worker_stop, worker_busy;
  pthread_t worker;               /* while worker_on */
  char busy_run[CVAT_RUN_NAME_MAX + 1];  /* the run being pushed */
  /* The CVAT session of this mount (logins kept, waits cancelled at
   * unmount): created by c_start, freed by c_stop once the worker is
   * joined; set before any operation and stopped after the last. */
  struct cvat_session *session;
  /* The job files' own session (their requests have other timeouts, and
   * a session keeps one client per settings), set up and freed with
   * `session`; and what they show while the server is down (own lock). */
  struct cvat_session *jobs_session;
  struct cvatcache *cache;
};

static int c_init(struct fs_ctx *c, void **state)
{
  struct cvat_state *st = calloc(1, sizeof(*st));

  (void)c;
  if (!st)
    return -ENOMEM;
  if (cvatcache_new(&st->cache) < 0) {
    free(st);
    return -ENOMEM;
  }
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  *state = st;
  return 0;
}

static void c_destroy(struct fs_ctx *c, void *state)
{
  struct cvat_state *st = state;

  (void)c;
  assert(!st->worker_on && !st->qhead);  /* ->stop came first */
  cvatcache_free(st->cache);
  pthread_cond_destroy(&st->cv);
  pthread_mutex_destroy(&st->mu);
  free(st);
}

static struct cvat_state *c_state(struct fs_ctx *c)
{
  return vtree_state(c, PROV_SLOT_CVAT);
}

static void result(struct fs_ctx *c, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void result(struct fs_ctx *c, bool ok, const char *fmt, ...)
{
  struct cvat_state *st = c_state(c);
  char line[1300];
  va_list ap;
  time_t now = time(NULL);
  struct tm tm;

  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  localtime_r(&now, &tm);
  pthread_mutex_lock(&st->mu);
  snprintf(st->results[st->res_head], sizeof(st->results[0]),
           "%02d:%02d:%02d %s %s", tm.tm_hour, tm.tm_min, tm.tm_sec,
           ok ? "ok    " : "FAILED", line);
  st->res_head = (st->res_head + 1) % LOG_LINES;
  if (st->res_n < LOG_LINES)
    st->res_n++;
  pthread_mutex_unlock(&st->mu);
  if (ok)
    log_msg(LOG_LVL_INFO, "cvat: %s", line);
  else
    fs_error(c, "cvat: %s", line);
}

/* cvat.ca_bundle of the store, an absolute path checked when it was set:
 * it is the owner's setting (root may have written it), so the file is
 * opened with the owner's rights at each connect, on whichever thread
 * connects (access.h), and not checked here with this thread's.  A CA
 * file of the daemon's environment (CVAT_CA_BUNDLE) is read with the
 * daemon's rights: whoever started it chose it. */
static int owner_ca(struct fs_ctx *c, struct cvat_config *cfg,
                    const char *path)
{
  char *dup = NULL;

  if (path[0] && !(dup = strdup(path)))
    return -ENOMEM;
  free(cfg->ca_bundle);
  cfg->ca_bundle = dup;
  cfg->open_file = dup ? acc_open_as_owner : NULL;
  cfg->open_file_arg = dup ? c : NULL;
  return 0;
}

/* The settings of this mount: config keys cvat.* that are set, the
 * environment for the rest, secrets from memory or the environment. */
static int build_config(struct fs_ctx *c, struct cvat_config *cfg, char *err,
                        size_t errlen)
{
  static const char *const keys[] = {
    "url", "username", "org", "ca_bundle", "project", "segment_size",
    "assignees", "field", "cloud_storage", "cloud_credentials",
    "cloud_endpoint",
  };
  struct store_txn *t;
  char val[1100], name[64];
  int r;

  cvat_config_init(cfg);
  cfg->session = c_state(c)->session;
  cfg->objsrc = c->objsrc;   /* an upload reads bucket samples here */
  r = cvat_config_from_env(cfg, err, errlen);
  if (r < 0)
    return r;
  r = store_txn_begin(c->store, false, &t);
  if (r < 0)
    return r;
  for (size_t i = 0; r == 0 && i < ARRAY_SIZE(keys); i++) {
    snprintf(name, sizeof(name), "cvat.%s", keys[i]);
    if (!config_is_set(t, name))
      continue;
    config_get_str(t, name, val, sizeof(val));
    if (strcmp(keys[i], "ca_bundle") == 0)
      r = owner_ca(c, cfg, val);
    else
      r = cvat_config_set(cfg, keys[i], val, err, errlen);
  }
  store_txn_abort(t);
  if (r == 0 && config_secret_get("cvat.password", val, sizeof(val)))
    r = cvat_config_set(cfg, "password", val, err, errlen);
  if (r == 0 && config_secret_get("cvat.token", val, sizeof(val)))
    r = cvat_config_set(cfg, "token", val, err, errlen);
  secret_wipe(val, sizeof(val));
  return r;
}

/* Whether the settings name a server and credentials to log in with. */
static bool can_login(struct fs_ctx *c)
{
  struct cvat_config cfg;
  char err[ERRLEN];
  bool r = build_config(c, &cfg, err, sizeof(err)) == 0 &&
           cvat_config_can_login(&cfg);

  cvat_config_free(&cfg);
  return r;
}

/* The settings of a job file's requests: the mount's, with the job
 * files' session and limits. */
static int job_config(struct fs_ctx *c, struct cvat_config *cfg, char *err,
                      size_t errlen)
{
  int r = build_config(c, cfg, err, errlen);

  cfg->session = c_state(c)->jobs_session;
  if (cfg->connect_timeout_s > JOB_CONNECT_TIMEOUT_S)
    cfg->connect_timeout_s = JOB_CONNECT_TIMEOUT_S;
  if (cfg->timeout_s > JOB_TIMEOUT_S)
    cfg->timeout_s = JOB_TIMEOUT_S;
  if (cfg->retries > JOB_RETRIES)
    cfg->retries = JOB_RETRIES;
  return r;
}

/* Takes the next run to push (false: stopping), with st->mu held. */
static bool take_run_locked(struct cvat_state *st, struct pushq **ret)
{
  struct pushq *q;

  VTREE_ASSERT_HELD(&st->mu);
  while (!st->qhead && !st->worker_stop)
    pthread_cond_wait(&st->cv, &st->mu);
  if (st->worker_stop)
    return false;
  q = st->qhead;
  st->qhead = q->next;
  if (!st->qhead)
    st->qtail = NULL;
  st->worker_busy = true;
  snprintf(st->busy_run, sizeof(st->busy_run), "%s", q->run);
  *ret = q;
  return true;
}

static void *worker_main(void *arg)
{
  struct fs_ctx *c = arg;
  struct cvat_state *st = c_state(c);
  struct pushq *q;
  /* Started by the request that queued the first push, which runs with
   * its requester's identity (access.h): every push, whoever asked, works
   * with the daemon's own, as when the daemon resumes runs at start. */
  int ident = acc_thread_as_daemon(c);

  pthread_mutex_lock(&st->mu);
  while (take_run_locked(st, &q)) {
    struct cvat_config cfg;
    char err[ERRLEN] = "";
    int r;

    pthread_mutex_unlock(&st->mu);
    r = build_config(c, &cfg, err, sizeof(err));
    if (r == 0 && ident < 0) {
      r = ident;
      snprintf(err, sizeof(err), "cannot take on the daemon's identity: %s",
               strerror(-ident));
    }
    if (r == 0)
      r = cvat_push_run(c->store, &cfg, q->run, c->root, NULL, NULL, err,
                        sizeof(err));
    cvat_config_free(&cfg);
    if (r < 0)
      result(c, false, "push %s: %s", q->run, err);
    else
      result(c, true, "push %s: ready for annotation", q->run);
    free(q);

    pthread_mutex_lock(&st->mu);
    st->worker_busy = false;
    st->busy_run[0] = '\0';
    pthread_cond_broadcast(&st->cv);
  }
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

static int enqueue(struct fs_ctx *c, const char *run)
{
  struct cvat_state *st = c_state(c);
  struct pushq *q = calloc(1, sizeof(*q));

  if (!q)
    return -ENOMEM;
  snprintf(q->run, sizeof(q->run), "%s", run);
  pthread_mutex_lock(&st->mu);
  if (!st->worker_on) {
    st->worker_stop = false;
    if (pthread_create(&st->worker, NULL, worker_main, c) != 0) {
      pthread_mutex_unlock(&st->mu);
      free(q);
      return -EAGAIN;
    }
    st->worker_on = true;
  }
  if (st->qtail)
    st->qtail->next = q;
  else
    st->qhead = q;
  st->qtail = q;
  pthread_cond_signal(&st->cv);
  pthread_mutex_unlock(&st->mu);
  return 0;
}

static void c_start(struct fs_ctx *c)
{
  char **names = NULL;
  size_t n = 0;

  struct cvat_state *st = c_state(c);

  /* Log in once, not for every file read. */
  if (cvat_session_new(&st->session) < 0)
    st->session = NULL;  /* every connect logs in: slower, still correct */
  if (cvat_session_new(&st->jobs_session) < 0)
    st->jobs_session = NULL;
  if (c->readonly)
    return;  /* a read-only mount leaves unfinished pushes to others */
  /* Runs whose upload was interrupted (unmount, crash) continue. */
  if (cvat_runs_list(c->store, &names, &n) < 0)
    return;
  for (size_t i = 0; i < n; i++) {
    struct cvat_run run;
    if (cvat_run_get(c->store, names[i], &run) < 0)
      continue;
    if (run.phase < CVAT_PHASE_READY) {
      log_msg(LOG_LVL_INFO, "cvat: resuming the push of run %s", run.name);
      enqueue(c, run.name);
    }
    cvat_run_free(&run);
  }
  cvat_names_free(names, n);
}

static void c_stop(struct fs_ctx *c)
{
  struct cvat_state *st = c_state(c);

  /* Job files are read by requests, which have ended by now. */
  cvat_session_free(st->jobs_session);
  st->jobs_session = NULL;
  pthread_mutex_lock(&st->mu);
  if (!st->worker_on) {
    pthread_mutex_unlock(&st->mu);
    cvat_session_free(st->session);
    st->session = NULL;
    return;
  }
  st->worker_stop = true;
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
  /* A push in progress finishes its current request first (a wait for
   * CVAT's task creation stops at its next poll); the run is resumed at
   * the next mount. */
  cvat_session_cancel_waits(st->session, true);
  pthread_join(st->worker, NULL);
  pthread_mutex_lock(&st->mu);
  st->worker_on = false;
  while (st->qhead) {
    struct pushq *q = st->qhead;
    st->qhead = q->next;
    free(q);
  }
  st->qtail = NULL;
  pthread_mutex_unlock(&st->mu);
  cvat_session_free(st->session);
  st->session = NULL;
}

/* ---- commands ---- */

/* The labels of a run's samples changed: the kernel must see it. */
static void run_labels_changed(struct fs_ctx *c, const char *name)
{
  struct cvat_run run;

  if (cvat_run_get(c->store, name, &run) == 0) {
    notify_labels(c, run.samples, run.n_samples);
    cvat_run_free(&run);
  }
}

/* One line: trims the newline and spaces; splits off a second word. */
static int parse_line(const char *data, size_t len, char *a, size_t alen,
                      char *b, size_t blen)
{
  char line[1100];
  char *p, *e, *sp;

  if (len >= sizeof(line))
    return -EINVAL;
  memcpy(line, data, len);
  line[len] = '\0';
  e = strchr(line, '\n');
  if (e && e[1] && strspn(e + 1, " \t\r\n") != strlen(e + 1))
    return -EINVAL;  /* one command per write */
  if (e)
    *e = '\0';
  for (p = line; *p == ' ' || *p == '\t'; p++)
    ;
  e = p + strlen(p);
  while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
    *--e = '\0';
  sp = strpbrk(p, " \t");
  if (sp) {
    *sp++ = '\0';
    sp += strspn(sp, " \t");
  }
  if (!*p || strlen(p) >= alen || (sp && strlen(sp) >= blen))
    return -EINVAL;
  snprintf(a, alen, "%s", p);
  snprintf(b, blen, "%s", sp ? sp : "");
  if (strpbrk(b, " \t"))
    return -EINVAL;
  return 0;
}

/* The written text as one trimmed line. */
static int whole_line(const char *data, size_t len, char *out, size_t outlen)
{
  size_t b = 0, e = len;

  while (e > 0 && (data[e - 1] == '\n' || data[e - 1] == '\r' ||
                   data[e - 1] == ' ' || data[e - 1] == '\t'))
    e--;
  while (b < e && (data[b] == ' ' || data[b] == '\t'))
    b++;
  if (b == e || e - b >= outlen || memchr(data + b, '\n', e - b))
    return -EINVAL;
  memcpy(out, data + b, e - b);
  out[e - b] = '\0';
  return 0;
}

/* The next word of a push line at *p into out: 1, 0 at the end, -EINVAL
 * for an unterminated quote or a word longer than outlen.  Words are
 * separated by spaces or tabs; a double-quoted part is taken whole (a tag
 * name may hold spaces), with \" and \\ for a quote and a backslash in
 * it.  A backslash outside quotes is an ordinary character, as it was
 * before quoting existed. */
static int next_word(const char **p, char *out, size_t outlen)
{
  const char *s = *p + strspn(*p, " \t");
  size_t n = 0;
  bool q = false;

  if (!*s)
    return 0;
  for (; *s && (q || (*s != ' ' && *s != '\t')); s++) {
    char ch = *s;
    if (ch == '"') {
      q = !q;
      continue;
    }
    if (q && ch == '\\' && (s[1] == '"' || s[1] == '\\'))
      ch = *++s;
    if (n + 1 >= outlen)
      return -EINVAL;
    out[n++] = ch;
  }
  if (q)
    return -EINVAL;
  out[n] = '\0';
  *p = s;
  return 1;
}

/* A push line: "<source> [run] [classes=a,b,c]", words in any order after
 * the source, each one possibly quoted (next_word).  Class names may not
 * contain commas here. */
static int parse_push(const char *data, size_t len, char *src, size_t slen,
                      char *run, size_t rlen, char *cls, size_t clen)
{
  char line[1400], w[1400];
  const char *p = line;
  int r;

  src[0] = run[0] = cls[0] = '\0';
  if (memchr(data, '\0', len) ||
      whole_line(data, len, line, sizeof(line)) < 0)
    return -EINVAL;
  while ((r = next_word(&p, w, sizeof(w))) > 0) {
    if (!w[0])
      return -EINVAL;   /* "": no source, run or class list is empty */
    if (!src[0]) {
      if (strlen(w) >= slen)
        return -EINVAL;
      snprintf(src, slen, "%s", w);
    } else if (strncmp(w, "classes=", 8) == 0 && !cls[0]) {
      if (strlen(w + 8) >= clen || !w[8])
        return -EINVAL;
      snprintf(cls, clen, "%s", w + 8);
    } else if (!run[0] && !strchr(w, '=')) {
      if (strlen(w) >= rlen)
        return -EINVAL;
      snprintf(run, rlen, "%s", w);
    } else {
      return -EINVAL;
    }
  }
  return r == 0 && src[0] ? 0 : -EINVAL;
}

/* For a refused push line whose first word is tags/X: the longest tag
 * made of it and the words after it (joined by one space)
 * that exists, into out: true when there is one, i.e. the name has a
 * space and was not quoted. */
static bool longer_source(struct fs_ctx *c, const char *data, size_t len,
                          char *out, size_t outlen)
{
  char line[1400], *w[16], *save = NULL, cand[1400];
  size_t nw = 0;
  bool found = false;
  struct store_txn *t;

  if (whole_line(data, len, line, sizeof(line)) < 0 || strchr(line, '"'))
    return false;
  for (char *x = strtok_r(line, " \t", &save); x && nw < ARRAY_SIZE(w);
       x = strtok_r(NULL, " \t", &save))
    w[nw++] = x;
  if (nw < 2 || strncmp(w[0], "tags/", 5) != 0)
    return false;
  if (store_txn_begin(c->store, false, &t) < 0)
    return false;
  snprintf(cand, sizeof(cand), "%s", w[0]);
  for (size_t k = 1; k < nw; k++) {
    uint64_t *ids = NULL;
    size_t n = 0, l = strlen(cand);
    snprintf(cand + l, sizeof(cand) - l, " %s", w[k]);
    if (provlib_selection(c, t, cand, &ids, &n) == 0) {
      snprintf(out, outlen, "%s", cand);
      found = true;
    }
    free(ids);
  }
  store_txn_abort(t);
  return found;
}

/* The reason of a refused source: a hint to quote it when the words after
 * it name a source, else `fallback`. */
static void refuse_source(struct fs_ctx *c, const char *data, size_t len,
                          const char *src, const char *fallback)
{
  char longer[1400];

  if (longer_source(c, data, len, longer, sizeof(longer)))
    result(c, false, "push %s: no such source; \"%s\" exists: a name with "
           "spaces is written in double quotes: \"%s\" [run]", src, longer,
           longer);
  else
    result(c, false, "push%s", fallback);
}

static int push_cmd(struct fs_ctx *c, const char *data, size_t len)
{
  char src[600], run[CVAT_RUN_NAME_MAX + 2], cls[1100], err[ERRLEN] = "";
  char *name = NULL, **classes = NULL;
  size_t n_classes = 0;
  struct cvat_config cfg;
  struct store_txn *t;
  uint64_t *ids = NULL;
  size_t n = 0;
  int r = parse_push(data, len, src, sizeof(src), run, sizeof(run), cls,
                     sizeof(cls));

  if (r < 0) {
    refuse_source(c, data, len, src, ": expected \"<samples|tags/T|views/V> "
                  "[run] [classes=a,b,c]\" (a name with spaces in double "
                  "quotes)");
    return -EINVAL;
  }
  if (run[0] && !cvat_run_name_valid(run)) {
    result(c, false, "push: bad run name (1-64 of A-Z a-z 0-9 _ . -)");
    return -EINVAL;
  }
  if (cls[0]) {
    r = classes_parse_list(cls, &classes, &n_classes, err, sizeof(err));
    if (r < 0) {
      result(c, false, "push %s: %s", src, err);
      return r;
    }
  }
  r = provlib_selection_prepare(c, src);
  if (r == 0)
    r = store_txn_begin(c->store, false, &t);
  if (r == 0) {
    r = provlib_selection(c, t, src, &ids, &n);
    store_txn_abort(t);
  }
  if (r == -ENOENT) {
    char why[700];
    snprintf(why, sizeof(why), " %s: no such source (samples, tags/<tag>, "
             "views/<view>)", src);
    refuse_source(c, data, len, src, why);
  } else if (r < 0) {
    result(c, false, "push %s: %s", src, strerror(-r));
  }
  if (r < 0) {
    classes_list_free(classes, n_classes);
    return r == -ENOENT ? -ENOENT : r;
  }
  if (n == 0) {
    free(ids);
    classes_list_free(classes, n_classes);
    result(c, false, "push %s: nothing to push (no samples)", src);
    return -ENODATA;
  }
  r = build_config(c, &cfg, err, sizeof(err));
  if (r == 0)
    r = cvat_push_begin(c->store, &cfg, src, ids, n, classes, n_classes,
                        run[0] ? run : NULL, &name, err, sizeof(err));
  cvat_config_free(&cfg);
  classes_list_free(classes, n_classes);
  free(ids);
  if (r < 0) {
    result(c, false, "push %s: %s", src, err);
    return r;
  }
  r = enqueue(c, name);
  result(c, r == 0, "push %s: accepted as run %s (%zu samples), uploading",
         src, name, n);
  free(name);
  return r;
}

static int pull_cmd(struct fs_ctx *c, const char *data, size_t len,
                    bool undo)
{
  char run[CVAT_RUN_NAME_MAX + 2], extra[8], err[ERRLEN] = "";
  struct cvat_pull_report rep;
  struct cvat_config cfg;
  int r = parse_line(data, len, run, sizeof(run), extra, sizeof(extra));

  if (r < 0 || extra[0] || !cvat_run_name_valid(run)) {
    result(c, false, "%s: expected a run name", undo ? "undo" : "pull");
    return -EINVAL;
  }
  if (undo) {
    r = cvat_undo(c->store, run, err, sizeof(err));
    result(c, r == 0, "undo %s: %s", run, r == 0 ? "labels restored" : err);
    if (r == 0)
      run_labels_changed(c, run);
    return r;
  }
  memset(&rep, 0, sizeof(rep));
  r = build_config(c, &cfg, err, sizeof(err));
  if (r == 0)
    r = cvat_pull(c->store, &cfg, run, &rep, err, sizeof(err));
  cvat_config_free(&cfg);
  if (r < 0) {
    result(c, false, "pull %s: %s", run, err);
    return r;
  }
  run_labels_changed(c, run);
  {
    char sum[2048];
    cvat_pull_text(&rep, sum, sizeof(sum));
    result(c, true, "pull %s: %s", run, sum);
  }
  return 0;
}

/* ---- paths ---- */

enum cfile { CF_NONE, CF_PUSH, CF_PULL, CF_UNDO, CF_STATUS, CF_RUNS,
             CF_RUN, CF_INFO, CF_LABELS, CF_JOBS, CF_JOB, CF_JOBATTR,
             CF_ISSUES };

struct cpath {
  enum cfile f;
  char run[CVAT_RUN_NAME_MAX + 1];
  int64_t job;
  char attr[16];
};

static const char *const job_files[] = { "assignee", "stage", "state",
                                         "issues.txt" };

static int parse(const char *path, struct cpath *p)
{
  char comp[5][128];
  int n = 0;
  const char *s = path;

  memset(p, 0, sizeof(*p));
  if (!*path) {
    p->f = CF_NONE;
    return 0;
  }
  while (*s && n < 5) {
    const char *e = strchr(s, '/');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (l == 0 || l >= sizeof(comp[0]))
      return -ENOENT;
    memcpy(comp[n], s, l);
    comp[n][l] = '\0';
    n++;
    s = e ? e + 1 : s + l;
  }
  if (*s)
    return -ENOENT;
  if (n == 1) {
    static const struct { const char *n; enum cfile f; } top[] = {
      { "push", CF_PUSH }, { "pull", CF_PULL }, { "undo", CF_UNDO },
      { "status", CF_STATUS }, { "runs", CF_RUNS },
    };
    for (size_t i = 0; i < ARRAY_SIZE(top); i++)
      if (strcmp(comp[0], top[i].n) == 0) {
        p->f = top[i].f;
        return 0;
      }
    return -ENOENT;
  }
  if (strcmp(comp[0], "runs") != 0 || !cvat_run_name_valid(comp[1]))
    return -ENOENT;
  snprintf(p->run, sizeof(p->run), "%.64s", comp[1]);
  if (n == 2) {
    p->f = CF_RUN;
    return 0;
  }
  if (n == 3) {
    p->f = strcmp(comp[2], "info") == 0          ? CF_INFO
           : strcmp(comp[2], "labels.json") == 0 ? CF_LABELS
           : strcmp(comp[2], "jobs") == 0        ? CF_JOBS
                                                 : CF_NONE;
    return p->f == CF_NONE ? -ENOENT : 0;
  }
  if (strcmp(comp[2], "jobs") != 0)
    return -ENOENT;
  {
    char *end;
    long long j = strtoll(comp[3], &end, 10);
    if (*end || j <= 0)
      return -ENOENT;
    p->job = j;
  }
  if (n == 4) {
    p->f = CF_JOB;
    return 0;
  }
  for (size_t i = 0; i < ARRAY_SIZE(job_files); i++)
    if (strcmp(comp[4], job_files[i]) == 0) {
      p->f = i == 3 ? CF_ISSUES : CF_JOBATTR;
      snprintf(p->attr, sizeof(p->attr), "%.15s", comp[4]);
      return 0;
    }
  return -ENOENT;
}

static bool run_has_job(const struct cvat_run *r, int64_t job)
{
  for (size_t i = 0; i < r->n_jobs; i++)
    if (r->jobs[i][0] == job)
      return true;
  return false;
}

/* A job file's request ended with r: the server's state follows, and a
 * change of it is said once (the log, and `status` for a failure). */
static void job_server_state(struct fs_ctx *c, const char *url, int r,
                             const char *err)
{
  struct cvatcache *cc = c_state(c)->cache;

  if (r == 0) {
    if (cvatcache_answered(cc, cvatcache_url_id(url)))
      log_msg(LOG_LVL_INFO, "cvat: the server answers again");
  } else if (cvatcache_unreachable(r) &&
             cvatcache_failed(cc, cvatcache_url_id(url), r, err)) {
    fs_error(c, "cvat: server unreachable (%s): %s; the jobs' files show "
             "what they showed last", strerrorname_np(-r) ?
             strerrorname_np(-r) : "?", err);
  }
}

/* Whose bytes a job file shows under settings cfg (cvatcache.h). */
static uint64_t server_id(const struct cvat_config *cfg)
{
  return cvatcache_server_id(cfg->url, cfg->org, cfg->username, cfg->token);
}

/* The bytes of job file p (path: its name under cvat/) into b: from the
 * server, or while it does not answer, those the path gave last from
 * that same server and login (cvatcache.h).  Other failures of the
 * server's are reported in cvat/status unless quiet (a listing that
 * leaves the file out). */
static int job_file(struct fs_ctx *c, const struct cpath *p, const char *path,
                    struct buf *b, bool quiet)
{
  struct cvatcache *cc = c_state(c)->cache;
  struct cvat_config cfg;
  char err[ERRLEN] = "";
  int r = job_config(c, &cfg, err, sizeof(err));
  /* Taken with the settings the request uses: bytes of a request that
   * ends after a change of cvat.url are kept as the old server's. */
  uint64_t server = server_id(&cfg);

  if (r == 0)
    r = cvatcache_skip(cc, cvatcache_url_id(cfg.url));
  if (r == 0) {
    r = p->f == CF_ISSUES
        ? cvat_job_issues(c->store, &cfg, p->run, p->job, b, err, sizeof(err))
        : cvat_job_attr_get(c->store, &cfg, p->run, p->job, p->attr, b, err,
                            sizeof(err));
    job_server_state(c, cfg.url, r, err);
  }
  cvat_config_free(&cfg);
  if (r == 0)
    return cvatcache_put(cc, server, path, b->data ? b->data : "", b->len);
  if (cvatcache_unreachable(r)) {
    buf_reset(b);
    return cvatcache_get(cc, server, path, b) == 0 ? 0 : r;
  }
  cvatcache_drop(cc, server, path);
  if (!quiet)
    result(c, false, "runs/%s/jobs/%" PRId64 "/%s: %s", p->run, p->job,
           p->attr, err);
  return r;
}

static int c_stat(struct fs_ctx *c, struct store_txn *t, const char *path,
                  struct vent *ret)
{
  struct cpath p;
  struct cvat_run run;
  int r = parse(path, &p);

  (void)t;
  memset(ret, 0, sizeof(*ret));
  if (r < 0)
    return r;
  switch (p.f) {
  case CF_NONE:
  case CF_RUNS:
    ret->kind = VENT_DIR;
    return 0;
  case CF_PUSH:
  case CF_PULL:
  case CF_UNDO:
    ret->kind = VENT_CTL;
    ret->key = 1;   /* fixed help text */
    return 0;
  case CF_STATUS:
    ret->kind = VENT_FILE;
    return 0;      /* key 0: changes on its own */
  default:
    break;
  }
  r = cvat_run_get(c->store, p.run, &run);
  if (r < 0)
    return r;
  if (p.job && !run_has_job(&run, p.job))
    r = -ENOENT;
  cvat_run_free(&run);
  if (r < 0)
    return r;
  ret->kind = p.f == CF_RUN || p.f == CF_JOBS || p.f == CF_JOB ? VENT_DIR
              : p.f == CF_JOBATTR ? VENT_CTL : VENT_FILE;
  return 0;
}

/* The job's files ask the server even for their size: a file that would
 * not stat now is not listed (find, du, rsync and backup tools stat what
 * they list).  Without a server and credentials (a token is forgotten at
 * unmount) that is every file; looked up by name, each still answers
 * EINVAL with the reason in cvat/status.  Otherwise each is read
 * (job_file): while the server is down, those it showed before are
 * listed, and they stat from what they showed. */
static int list_job(struct fs_ctx *c, const char *path, const struct cpath *p,
                    uint64_t from, vent_fn fn, void *ud)
{
  struct buf b;
  int r = 0;

  if (!can_login(c))
    return 0;
  buf_init(&b, 64u << 20);
  for (size_t i = from; i < ARRAY_SIZE(job_files); i++) {
    struct vent e = { .kind = i < 3 ? VENT_CTL : VENT_FILE };
    struct cpath fp = *p;
    char fpath[300];

    snprintf(fpath, sizeof(fpath), "%s/%s", path, job_files[i]);
    fp.f = i < 3 ? CF_JOBATTR : CF_ISSUES;
    snprintf(fp.attr, sizeof(fp.attr), "%s", job_files[i]);
    buf_reset(&b);
    r = job_file(c, &fp, fpath, &b, true);
    if (r == -ENOMEM)
      break;
    if (r < 0) {
      r = 0;
      continue;
    }
    if (fn(job_files[i], &e, i + 1, ud))
      break;
  }
  buf_free(&b);
  return r;
}

static int c_list(struct fs_ctx *c, struct store_txn *t, const char *path,
                  uint64_t from, vent_fn fn, void *ud)
{
  struct cpath p;
  struct vent d = { .kind = VENT_DIR }, f = { .kind = VENT_FILE },
              ctl = { .kind = VENT_CTL, .key = 1 };
  int r = parse(path, &p);

  (void)t;
  if (r < 0)
    return r;
  if (p.f == CF_NONE) {
    const char *names[] = { "push", "pull", "undo", "status", "runs" };
    for (size_t i = from; i < ARRAY_SIZE(names); i++)
      if (fn(names[i], i < 3 ? &ctl : i == 3 ? &f : &d, i + 1, ud))
        break;
    return 0;
  }
  if (p.f == CF_RUNS) {
    char **names;
    size_t n;
    r = cvat_runs_list(c->store, &names, &n);
    if (r < 0)
      return r;
    for (size_t i = from; i < n; i++)
      if (fn(names[i], &d, i + 1, ud))
        break;
    cvat_names_free(names, n);
    return 0;
  }
  if (p.f == CF_RUN) {
    const char *names[] = { "info", "labels.json", "jobs" };
    for (size_t i = from; i < ARRAY_SIZE(names); i++)
      if (fn(names[i], i < 2 ? &f : &d, i + 1, ud))
        break;
    return 0;
  }
  if (p.f == CF_JOBS) {
    struct cvat_run run;
    r = cvat_run_get(c->store, p.run, &run);
    if (r < 0)
      return r;
    for (size_t i = from; i < run.n_jobs; i++) {
      char name[32];
      snprintf(name, sizeof(name), "%" PRId64, run.jobs[i][0]);
      if (fn(name, &d, i + 1, ud))
        break;
    }
    cvat_run_free(&run);
    return 0;
  }
  if (p.f == CF_JOB)
    return list_job(c, path, &p, from, fn, ud);
  return -ENOTDIR;
}

static int render_cvat_status(struct buf *b, struct fs_ctx *c)
{
  struct cvat_state *st = c_state(c);
  struct cvat_config cfg;
  char **names = NULL, err[ERRLEN];
  size_t n = 0;

  buf_puts(b, "recent commands (newest last):\n");
  pthread_mutex_lock(&st->mu);
  if (!st->res_n)
    buf_puts(b, "  none\n");
  for (unsigned i = 0; i < st->res_n; i++)
    buf_printf(b, "  %s\n", st->results[(st->res_head + LOG_LINES -
                                          st->res_n + i) % LOG_LINES]);
  if (st->worker_busy)
    buf_printf(b, "\nuploading: run %s\n", st->busy_run);
  pthread_mutex_unlock(&st->mu);
  buf_puts(b, "\nruns:\n");
  if (cvat_runs_list(c->store, &names, &n) == 0) {
    if (!n)
      buf_puts(b, "  none\n");
    for (size_t i = 0; i < n; i++) {
      struct cvat_run run;
      if (cvat_run_get(c->store, names[i], &run) < 0)
        continue;
      buf_printf(b, "  %-20s %-10s %" PRIu64 "/%" PRIu64 "  %zu samples  "
                 "task %" PRId64 "  from %s%s%s\n", run.name,
                 cvat_phase_name(run.phase), run.done, run.total,
                 run.n_samples, run.task_id, run.source,
                 run.error ? "  error: " : "", run.error ? run.error : "");
      cvat_run_free(&run);
    }
    cvat_names_free(names, n);
  }
  if (build_config(c, &cfg, err, sizeof(err)) < 0 ||
      !cvat_config_can_login(&cfg))
    buf_puts(b, "\nnot logged in: no CVAT server or credentials "
             "(set cvat.token, or cvat.username and cvat.password); the "
             "jobs' files are not listed until then\n");
  else   /* only the server the settings name now, and its bytes */
    cvatcache_status(st->cache, cvatcache_url_id(cfg.url), server_id(&cfg),
                     b);
  cvat_config_free(&cfg);
  return 0;
}

static int c_generate(struct fs_ctx *c, struct store_txn *t, const char *path,
                      const struct sink *out)
{
  struct cpath p;
  struct buf b;
  struct cvat_config cfg;
  char err[ERRLEN] = "";
  int r = parse(path, &p);

  (void)t;
  if (r < 0)
    return r;
  buf_init(&b, 64u << 20);
  switch (p.f) {
  case CF_PUSH:
    r = buf_puts(&b, "Write a source and an optional run name to push it to "
                 "CVAT:\n  echo 'views/unique classes=cat,dog' > cvat/push\n"
                 "  echo 'tags/reannotate fix-1' > cvat/push\nSources: "
                 "samples, tags/<tag>, views/<view>.  classes= adds classes "
                 "to the store and labels to the CVAT project; a store "
                 "without classes needs it.  Progress: cvat/status.\n"
                 "A bucket dataset is not uploaded: CVAT reads the bucket "
                 "through a cloud storage of its own (config: "
                 "cvat.cloud_storage, cvat.cloud_credentials, "
                 "cvat.cloud_endpoint).\n");
    break;
  case CF_PULL:
    r = buf_puts(&b, "Write a run name to merge its CVAT annotations into "
                 "the labels:\n  echo fix-1 > cvat/pull\n");
    break;
  case CF_UNDO:
    r = buf_puts(&b, "Write a run name to restore the labels as they were "
                 "before its last pull:\n  echo fix-1 > cvat/undo\n");
    break;
  case CF_STATUS:
    r = render_cvat_status(&b, c);
    break;
  case CF_INFO:
    r = build_config(c, &cfg, err, sizeof(err));
    r = cvat_run_info(c->store, r == 0 ? &cfg : NULL, p.run, &b);
    cvat_config_free(&cfg);
    break;
  case CF_LABELS:
    r = cvat_run_labels_json(c->store, p.run, &b);
    break;
  case CF_JOBATTR:
  case CF_ISSUES:
    r = job_file(c, &p, path, &b, false);
    break;
  default:
    r = -EISDIR;
  }
  if (r == 0)
    r = out->write(out->ud, b.data ? b.data : "", b.len);
  buf_free(&b);
  return r;
}

static int c_write(struct fs_ctx *c, const char *path, const char *data,
                   size_t len)
{
  struct cpath p;
  char val[200], err[ERRLEN] = "";
  struct cvat_config cfg;
  int r = parse(path, &p);

  if (r < 0)
    return r;
  switch (p.f) {
  case CF_PUSH:
    return push_cmd(c, data, len);
  case CF_PULL:
    return pull_cmd(c, data, len, false);
  case CF_UNDO:
    return pull_cmd(c, data, len, true);
  case CF_JOBATTR:
    /* One value, which may contain spaces ("in progress"). */
    if (whole_line(data, len, val, sizeof(val)) < 0) {
      result(c, false, "runs/%s/jobs/%" PRId64 "/%s: expected one value",
             p.run, p.job, p.attr);
      return -EINVAL;
    }
    r = job_config(c, &cfg, err, sizeof(err));
    if (r == 0)
      r = cvat_job_attr_set(c->store, &cfg, p.run, p.job, p.attr, val, err,
                            sizeof(err));
    job_server_state(c, cfg.url, r, err);
    /* What the file shows now is the server's to say. */
    cvatcache_drop(c_state(c)->cache, server_id(&cfg), path);
    cvat_config_free(&cfg);
    result(c, r == 0, "runs/%s/jobs/%" PRId64 "/%s = %s%s%s", p.run, p.job,
           p.attr, val, r ? ": " : "", r ? err : "");
    return r;
  default:
    return -EACCES;
  }
}

const struct provider prov_cvat = {
  .name = "cvat",
  .slot = PROV_SLOT_CVAT,
  .init = c_init,
  .destroy = c_destroy,
  .stat = c_stat,
  .list = c_list,
  .generate = c_generate,
  .write = c_write,
  .command = true,
  .start = c_start,
  .stop = c_stop,
};
