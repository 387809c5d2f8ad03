/* cmd_cvat.c - `curate cvat`: push samples to CVAT, follow a run, pull the
 * labels back, undo a pull, and read or set a job's assignee, stage and
 * state - the same operations the mount's cvat/ files trigger, from a
 * shell.
 *
 * Settings come from a config file (--config, `key = value` lines), then
 * the environment (CVAT_URL, CVAT_USERNAME, CVAT_PASSWORD, CVAT_TOKEN, ...),
 * then -o key=value options.  Secrets are never taken on the command line
 * (other users could read them in the process list) and never printed.
 *
 * Without --wait, a push returns once the run is accepted and a detached
 * child process does the upload; its log goes to STORE/cvat.log and its
 * progress to the run record (`curate cvat status`).
 *
 * A store imported from a bucket and pushed with cloud_storage = off is
 * uploaded from a private object cache in a temporary folder, removed
 * after the push (the store's own cache belongs to a mount, which may be
 * filling it at the same time).  Run by root on another user's store,
 * that folder is made, opened and removed with the store owner's rights
 * (ident.h), as the daemon makes its cache: root never follows names the
 * owner may have placed ($TMPDIR may be the owner's) with its own.
 */
#define _GNU_SOURCE   /* nftw's FTW_DEPTH */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "awsconf.h"
#include "classes.h"
#include "curate.h"
#include "import.h"
#include "objsource.h"
#include "cvat_client.h"
#include "cvat_sync.h"
#include "ident.h"
#include "store.h"
#include "util.h"
#include "selection.h"
#include "views.h"

#define ERRLEN 600

static void usage(FILE *f)
{
  fprintf(f,
    "usage: %s cvat push --store S [--tag T | --view V] [--run NAME]\n"
    "                [--classes a,b,c] [--wait]\n"
    "       %s cvat pull --store S [OPTS] RUN\n"
    "       %s cvat undo --store S RUN\n"
    "       %s cvat status --store S [--json] [RUN]\n"
    "       %s cvat labels --store S RUN\n"
    "       %s cvat job --store S [OPTS] RUN JOB assignee|stage|state [VALUE]\n"
    "       %s cvat issues --store S [OPTS] RUN JOB\n"
    "       %s cvat config [OPTS]\n"
    "OPTS: --config FILE (key = value lines), -o key=value; the environment\n"
    "      (CVAT_URL, CVAT_USERNAME, CVAT_PASSWORD, CVAT_TOKEN, CVAT_ORG, ...)\n"
    "      applies between the two.  push sends all samples, or those of\n"
    "      tag T, or the samples of views/V; without --wait it returns once\n"
    "      the run is accepted.  --classes adds classes to the store and\n"
    "      labels to the CVAT project (a store without classes needs it).\n"
    "      pull brings back every box and every label of the project (as\n"
    "      new classes); polygons, ellipses and masks become their bounding\n"
    "      boxes, other objects are counted and named, never dropped\n"
    "      silently.  undo also removes the classes that pull created.\n"
    "      status --json: the runs (or RUN) as JSON.\n"
    "      A store imported from a bucket is pushed through a CVAT cloud\n"
    "      storage (CVAT reads the bucket, no image is uploaded):\n"
    "      cloud_storage = auto (find one for the bucket) | ID | off\n"
    "      (upload the images, read through a temporary object cache in\n"
    "      $TMPDIR, made with the store owner's rights when root pushes\n"
    "      another user's store), cloud_credentials = none\n"
    "      (never create one) | anonymous | aws (create one with the AWS\n"
    "      key, which CVAT then keeps, or give it to one CVAT can no\n"
    "      longer read with its own; never a temporary key),\n"
    "      cloud_endpoint = the S3 endpoint as CVAT reaches it.\n"
    "Exit status: 0 done, 1 failed, 2 usage error.\n",
    prog, prog, prog, prog, prog, prog, prog, prog);
}

static int load_file(struct cvat_config *cfg, const char *path)
{
  char line[4352], err[ERRLEN];
  unsigned no = 0;
  FILE *f = fopen(path, "r");

  if (!f) {
    fprintf(stderr, "%s: cvat: cannot read config '%s': %s\n", prog, path,
            strerror(errno));
    return -errno;
  }
  while (fgets(line, sizeof(line), f)) {
    char *k = line, *eq, *v, *e;
    int r;

    no++;
    line[strcspn(line, "\r\n")] = 0;
    while (*k == ' ' || *k == '\t')
      k++;
    if (!*k || *k == '#')
      continue;
    eq = strchr(k, '=');
    if (!eq) {
      fprintf(stderr, "%s: cvat: %s:%u: expected key = value\n", prog, path,
              no);
      fclose(f);
      return -EINVAL;
    }
    for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
      ;
    *e = 0;
    v = eq + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
      ;
    *e = 0;
    r = cvat_config_set(cfg, k, v, err, sizeof(err));
    if (r < 0) {
      fprintf(stderr, "%s: cvat: %s:%u: %s\n", prog, path, no, err);
      fclose(f);
      return r;
    }
  }
  fclose(f);
  return 0;
}

struct opts {
  const char *store, *tag, *view, *run, *classes;
  bool wait, json;
  const char *config;
  char **sets;
  size_t nsets;
};

static int parse(int argc, char **argv, struct opts *o)
{
  static const struct option lo[] = {
    { "store", required_argument, NULL, 's' },
    { "tag", required_argument, NULL, 't' },
    { "view", required_argument, NULL, 'V' },
    { "run", required_argument, NULL, 'r' },
    { "classes", required_argument, NULL, 'C' },
    { "wait", no_argument, NULL, 'w' },
    { "json", no_argument, NULL, 'j' },
    { "config", required_argument, NULL, 'c' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  memset(o, 0, sizeof(*o));
  o->sets = calloc((size_t)argc + 1, sizeof(char *));
  if (!o->sets)
    return -ENOMEM;
  optind = 1;
  while ((c = getopt_long(argc, argv, "s:t:V:r:C:wjc:o:h", lo, NULL)) != -1) {
    switch (c) {
    case 's': o->store = optarg; break;
    case 't': o->tag = optarg; break;
    case 'V': o->view = optarg; break;
    case 'r': o->run = optarg; break;
    case 'C': o->classes = optarg; break;
    case 'w': o->wait = true; break;
    case 'j': o->json = true; break;
    case 'c': o->config = optarg; break;
    case 'o': o->sets[o->nsets++] = optarg; break;
    case 'h': usage(stdout); return 1;
    default: usage(stderr); return -EINVAL;
    }
  }
  return 0;
}

static int make_config(const struct opts *o, struct cvat_config *cfg)
{
  char err[ERRLEN];
  int r;

  cvat_config_init(cfg);
  if (o->config && (r = load_file(cfg, o->config)) < 0)
    return r;
  r = cvat_config_from_env(cfg, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "%s: cvat: environment: %s\n", prog, err);
    return r;
  }
  for (size_t i = 0; i < o->nsets; i++) {
    char *eq = strchr(o->sets[i], '='), key[64];
    size_t kl = eq ? (size_t)(eq - o->sets[i]) : 0;
    if (!eq || kl == 0 || kl >= sizeof(key)) {
      fprintf(stderr, "%s: cvat: -o expects key=value\n", prog);
      return -EINVAL;
    }
    memcpy(key, o->sets[i], kl);
    key[kl] = 0;
    if (strcmp(key, "password") == 0 || strcmp(key, "token") == 0) {
      fprintf(stderr, "%s: cvat: give %s in the config file or the "
              "environment, not on the command line\n", prog, key);
      return -EINVAL;
    }
    r = cvat_config_set(cfg, key, eq + 1, err, sizeof(err));
    if (r < 0) {
      fprintf(stderr, "%s: cvat: %s\n", prog, err);
      return r;
    }
  }
  return 0;
}


static bool tty;

static void on_progress(const struct cvat_run *run, void *ud)
{
  int width = 30, fill;

  (void)ud;
  if (!tty)
    return;
  fill = run->total ? (int)((double)run->done / (double)run->total * width)
                    : 0;
  if (fill > width)
    fill = width;
  fprintf(stderr, "\r\033[K%-10s [%.*s%*s] %" PRIu64 "/%" PRIu64,
          cvat_phase_name(run->phase), fill, "##############################",
          width - fill, "", run->done, run->total);
  if (run->phase == CVAT_PHASE_READY || run->phase == CVAT_PHASE_FAILED)
    fprintf(stderr, "\r\033[K");
}

#define PUSH_CACHE_BYTES (4ULL << 30)

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

/* A folder only root could have filled: a real directory of root's that
 * no one else may write (the owner cannot place anything there). */
static bool dir_is_roots(const char *dir)
{
  struct stat st;

  return geteuid() == 0 && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
         st.st_uid == 0 && !(st.st_mode & 022);
}

/* A fresh folder under tmp (its path in dir, "" if none was made) and the
 * object cache in it, with the calling thread's rights. */
static int cache_make(const char *tmp, const struct aws_conf *aws,
                      const char *root, char *dir, size_t size,
                      struct objsource **o, char *err, size_t errlen)
{
  int r;

  snprintf(dir, size, "%s/curate-push-XXXXXX", tmp);
  if (!mkdtemp(dir)) {
    r = -errno;
    dir[0] = '\0';
    return errf(err, errlen, r, "cannot make a cache folder in %s: %s", tmp,
                strerror(-r));
  }
  return objsource_open(root, aws, dir, PUSH_CACHE_BYTES, o, err, errlen);
}

/* The private cache of an upload of bucket samples, made and opened
 * (objsource_open makes its subfolders and lock file) with the store
 * owner's rights; a $TMPDIR of root's own where the owner may not make a
 * folder is used with root's (the owner can place nothing there).
 * *by_root tells which: the folder is removed with the same rights. */
static int cache_open(const char *tmp, const struct ident *owner,
                      const struct aws_conf *aws, const char *root,
                      char *dir, size_t size, struct objsource **o,
                      bool *by_root, char *err, size_t errlen)
{
  struct ident_saved sv;
  bool switched;
  int r = ident_become_id(owner, &sv);

  *by_root = false;
  if (r < 0)
    return errf(err, errlen, r, "cannot take on the store owner's rights: "
                "%s", strerror(-r));
  switched = sv.switched;
  r = cache_make(tmp, aws, root, dir, size, o, err, errlen);
  ident_restore(&sv);
  if (switched && (r == -EACCES || r == -EPERM) && !dir[0] &&
      dir_is_roots(tmp)) {
    *by_root = true;
    r = cache_make(tmp, aws, root, dir, size, o, err, errlen);
  }
  return r;
}

/* cvat_push_run, with an object cache for an upload of bucket samples
 * (cloud_storage = off) made in a temporary folder and removed after,
 * both with the store owner's rights (cache_open). */
static int push_run(const char *store_dir, struct store *s,
                    const struct cvat_config *cfg, const char *run,
                    cvat_progress_fn fn, char *err, size_t errlen)
{
  struct cvat_config c = *cfg;   /* shallow: only objsrc differs */
  struct objsource *o = NULL;
  struct ident owner;
  struct ident_saved sv = { .switched = false };
  struct aws_conf aws;
  char dir[PATH_MAX] = "", *root = NULL;
  const char *tmp = getenv("TMPDIR");
  bool by_root = false;
  int r = 0;

  if (!tmp || !*tmp)
    tmp = "/tmp";
  if (cfg->cloud_storage && strcmp(cfg->cloud_storage, "off") == 0 &&
      import_root_get(s, &root) == 0 && objsource_is_bucket(root)) {
    r = ident_of_owner(store_dir, &owner);
    if (r < 0)
      errf(err, errlen, r, "%s: %s", store_dir, strerror(-r));
    if (r == 0)
      r = aws_conf_load(&aws, err, errlen);
    if (r == 0) {
      r = cache_open(tmp, &owner, &aws, root, dir, sizeof(dir), &o,
                     &by_root, err, errlen);
      aws_conf_free(&aws);
    }
    c.objsrc = o;
  }
  free(root);
  if (r == 0)
    r = cvat_push_run(s, &c, run, NULL, fn, NULL, err, errlen);
  objsource_close(o);
  /* Removed as the owner too (unless root made it, as cache_open says;
   * never judged by what is at that name now: the owner may have put a
   * folder of root's there): the folder is the owner's, and a name in it
   * swapped for a link must not lead root's unlink elsewhere.  Left in
   * place if the switch fails. */
  if (dir[0] && (by_root || ident_become_id(&owner, &sv) == 0)) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    ident_restore(&sv);
  }
  return r;
}

/* The detached uploader: a new process with its own store environment
 * (an LMDB environment must not cross fork()). */
static void background_push(const char *store_dir, const struct cvat_config *cfg,
                            const char *run)
{
  pid_t pid = fork();

  if (pid < 0) {
    fprintf(stderr, "%s: cvat: cannot start the upload: %s\n", prog,
            strerror(errno));
    return;
  }
  if (pid > 0) {
    waitpid(pid, NULL, 0);
    return;
  }
  /* Child: detach twice so the caller never waits for the upload. */
  if (setsid() < 0 || fork() != 0)
    _exit(0);
  {
    char *logp = path_join(store_dir, "cvat.log"), err[ERRLEN];
    int fd = open("/dev/null", O_RDWR), lfd;
    struct store *s;

    lfd = logp ? open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
    free(logp);
    if (fd >= 0) {
      dup2(fd, 0);
      dup2(fd, 1);
      dup2(lfd >= 0 ? lfd : fd, 2);
    }
    log_set_sink(NULL, NULL, LOG_LVL_INFO);
    if (tool_open_store(store_dir, false, false, &s) < 0)
      _exit(1);
    if (push_run(store_dir, s, cfg, run, NULL, err, sizeof(err)) < 0)
      fprintf(stderr, "cvat: run %s: %s\n", run, err);
    store_close(s);
    _exit(0);
  }
}

static int do_push(const struct opts *o, const struct cvat_config *cfg)
{
  struct store *s;
  uint64_t *ids = NULL;
  size_t n = 0;
  char err[ERRLEN] = "", src[300], *run = NULL, **classes = NULL;
  size_t n_classes = 0;
  int r;

  if (o->tag && o->view) {
    fprintf(stderr, "%s: cvat push: give --tag or --view, not both\n", prog);
    return 1;
  }
  if (tool_open_store(o->store, false, false, &s) < 0)
    return 1;
  /* The same selections as the mount's cvat/push: samples, tags/<t>,
   * views/<v>. */
  snprintf(src, sizeof(src), "%s%s", o->tag ? "tags/" : o->view ? "views/"
           : "samples", o->tag ? o->tag : o->view ? o->view : "");
  {
    struct views *v;
    r = views_new(s, &v);
    if (r == 0) {
      r = selection_get(v, src, &ids, &n, err, sizeof(err));
      views_free(v);
    }
  }
  if (r < 0) {
    fprintf(stderr, "%s: cvat push: %s\n", prog,
            err[0] ? err : strerror(-r));
    store_close(s);
    return 1;
  }
  if (o->classes) {
    r = classes_parse_list(o->classes, &classes, &n_classes, err,
                           sizeof(err));
    if (r < 0) {
      fprintf(stderr, "%s: cvat push: %s\n", prog, err);
      free(ids);
      store_close(s);
      return 1;
    }
  }
  r = cvat_push_begin(s, cfg, src, ids, n, classes, n_classes, o->run, &run,
                      err, sizeof(err));
  classes_list_free(classes, n_classes);
  free(ids);
  if (r < 0) {
    fprintf(stderr, "%s: cvat push: %s\n", prog, err);
    store_close(s);
    return 1;
  }
  printf("%s\n", run);
  fflush(stdout);
  if (!o->wait) {
    store_close(s);
    background_push(o->store, cfg, run);
    free(run);
    return 0;
  }
  tty = isatty(2);
  r = push_run(o->store, s, cfg, run, on_progress, err, sizeof(err));
  if (r < 0)
    fprintf(stderr, "%s: cvat push: run %s: %s\n", prog, run, err);
  free(run);
  store_close(s);
  return r < 0 ? 1 : 0;
}

static int do_pull(const char *store_dir, const struct cvat_config *cfg,
                   const char *run)
{
  struct cvat_pull_report rep;
  struct store *s;
  char err[ERRLEN];
  int r;

  if (tool_open_store(store_dir, false, false, &s) < 0)
    return 1;
  r = cvat_pull(s, cfg, run, &rep, err, sizeof(err));
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "%s: cvat pull: %s\n", prog, err);
    return 1;
  }
  printf("pulled %s: %" PRIu64 " updated, %" PRIu64 " deleted, %" PRIu64
         " added, %" PRIu64 " unchanged in %" PRIu64 " samples\n", run,
         rep.updated, rep.deleted, rep.added, rep.unchanged, rep.samples);
  if (rep.per_class[0])
    printf("boxes by class: %s\n", rep.per_class);
  if (rep.new_class_n)
    printf("new classes from CVAT labels: %s\n", rep.new_classes);
  if (rep.converted)
    printf("boxes from other shapes (bounding rectangles): %s\n",
           rep.converted_kinds);
  if (rep.unknown)
    printf("NOT imported: %" PRIu64 " boxes whose label is no valid class "
           "name: %s\n", rep.unknown, rep.unknown_classes);
  if (rep.other_shapes)
    printf("NOT imported: %" PRIu64 " objects without a box: %s\n",
           rep.other_shapes, rep.other_kinds);
  if (rep.clipped)
    printf("clipped to the image: %" PRIu64 " boxes\n", rep.clipped);
  return 0;
}

static int do_undo(const char *store_dir, const char *run)
{
  struct store *s;
  char err[ERRLEN];
  int r;

  if (tool_open_store(store_dir, false, false, &s) < 0)
    return 1;
  r = cvat_undo(s, run, err, sizeof(err));
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "%s: cvat undo: %s\n", prog, err);
    return 1;
  }
  printf("restored the labels of %s from before its last pull\n", run);
  return 0;
}

/* One run as a JSON object (status --json). */
static void run_json(struct buf *b, const struct cvat_run *rn)
{
  const char *strs[][2] = { { "name", rn->name }, { "source", rn->source },
                            { "field", rn->field }, { "url", rn->url },
                            { "error", rn->error },
                            { "last_pull", rn->last_pull } };

  buf_puts(b, "{");
  for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
    buf_printf(b, "%s\"%s\": ", i ? ", " : "", strs[i][0]);
    if (strs[i][1])
      buf_json_str(b, strs[i][1], strlen(strs[i][1]));
    else
      buf_puts(b, "null");
  }
  buf_printf(b, ", \"phase\": \"%s\", \"done\": %" PRIu64 ", \"total\": %"
             PRIu64 ", \"created_ns\": %lld, \"project_id\": %lld, "
             "\"task_id\": %lld, \"samples\": %zu, \"pulls\": %" PRIu64
             ", \"undo_depth\": %" PRIu64 ", \"jobs\": [",
             cvat_phase_name(rn->phase), rn->done, rn->total,
             (long long)rn->created_ns, (long long)rn->project_id,
             (long long)rn->task_id, rn->n_samples, rn->pulls,
             rn->undo_depth);
  for (size_t j = 0; j < rn->n_jobs; j++)
    buf_printf(b, "%s{\"id\": %lld, \"start\": %lld, \"stop\": %lld}",
               j ? ", " : "", (long long)rn->jobs[j][0],
               (long long)rn->jobs[j][1], (long long)rn->jobs[j][2]);
  buf_puts(b, "]}");
}

static int do_status_json(const char *store_dir, const char *run)
{
  struct store *s;
  struct cvat_run rn;
  struct buf b;
  char **names = NULL;
  size_t n = 0;
  int r;

  if (tool_open_store(store_dir, false, true, &s) < 0)
    return 1;
  buf_init(&b, 64u << 20);
  if (run) {
    r = cvat_run_get(s, run, &rn);
    if (r == 0) {
      run_json(&b, &rn);
      cvat_run_free(&rn);
    } else if (r == -ENOENT) {
      fprintf(stderr, "%s: cvat status: no run '%s'\n", prog, run);
    }
  } else {
    r = cvat_runs_list(s, &names, &n);
    buf_puts(&b, "[");
    for (size_t i = 0; r == 0 && i < n; i++) {
      if (cvat_run_get(s, names[i], &rn) == 0) {
        if (b.len > 1)
          buf_puts(&b, ", ");
        run_json(&b, &rn);
        cvat_run_free(&rn);
      }
    }
    buf_puts(&b, "]");
    if (r == 0)
      cvat_names_free(names, n);
  }
  if (r == 0) {
    buf_puts(&b, "\n");
    fwrite(b.data, 1, b.len, stdout);
  } else if (r != -ENOENT) {
    fprintf(stderr, "%s: cvat status: %s\n", prog, strerror(-r));
  }
  buf_free(&b);
  store_close(s);
  return r < 0 ? 1 : 0;
}

static int do_status(const char *store_dir, const struct cvat_config *cfg,
                     const char *run)
{
  struct store *s;
  struct buf b;
  int r = 0;

  if (tool_open_store(store_dir, false, true, &s) < 0)
    return 1;
  buf_init(&b, 16u << 20);
  if (run) {
    r = cvat_run_info(s, cfg, run, &b);
    if (r == -ENOENT)
      fprintf(stderr, "%s: cvat status: no run '%s'\n", prog, run);
  } else {
    char **names;
    size_t n;
    r = cvat_runs_list(s, &names, &n);
    for (size_t i = 0; r == 0 && i < n; i++) {
      struct cvat_run rn;
      if (cvat_run_get(s, names[i], &rn) == 0) {
        buf_printf(&b, "%s  %s  %s  task %lld%s%s\n", rn.name, rn.source,
                   cvat_phase_name(rn.phase), (long long)rn.task_id,
                   rn.error ? "  error: " : "", rn.error ? rn.error : "");
        cvat_run_free(&rn);
      }
    }
    if (r == 0)
      cvat_names_free(names, n);
    if (r == 0 && n == 0)
      buf_puts(&b, "no runs\n");
  }
  if (r == 0)
    fwrite(b.data, 1, b.len, stdout);
  else if (r != -ENOENT)
    fprintf(stderr, "%s: cvat status: %s\n", prog, strerror(-r));
  buf_free(&b);
  store_close(s);
  return r < 0 ? 1 : 0;
}

static int parse_job(const char *s, int64_t *ret)
{
  char *end;
  long long v;

  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || *end || v <= 0)
    return -EINVAL;
  *ret = v;
  return 0;
}

static int do_job(const char *store_dir, const struct cvat_config *cfg,
                  int argc, char **argv, bool issues)
{
  struct store *s;
  struct buf b;
  char err[ERRLEN];
  int64_t job;
  int r;

  if (parse_job(argv[1], &job) < 0) {
    fprintf(stderr, "%s: cvat: bad job id '%s'\n", prog, argv[1]);
    return 2;
  }
  if (tool_open_store(store_dir, false, true, &s) < 0)
    return 1;
  buf_init(&b, 16u << 20);
  if (issues)
    r = cvat_job_issues(s, cfg, argv[0], job, &b, err, sizeof(err));
  else if (argc == 3)
    r = cvat_job_attr_get(s, cfg, argv[0], job, argv[2], &b, err,
                          sizeof(err));
  else
    r = cvat_job_attr_set(s, cfg, argv[0], job, argv[2], argv[3], err,
                          sizeof(err));
  store_close(s);
  if (r < 0)
    fprintf(stderr, "%s: cvat %s: %s\n", prog, issues ? "issues" : "job",
            err);
  else
    fwrite(b.data ? b.data : "", 1, b.len, stdout);
  buf_free(&b);
  return r < 0 ? 1 : 0;
}

int cmd_cvat(int argc, char **argv)
{
  struct cvat_config cfg;
  struct opts o;
  const char *sub;
  char **rest;
  int nrest, r, rc = 2;

  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(stdout);
    return 0;
  }
  sub = argv[1];
  r = parse(argc - 1, argv + 1, &o);
  if (r != 0) {
    free(o.sets);
    return r > 0 ? 0 : 2;
  }
  rest = argv + 1 + optind;
  nrest = argc - 1 - optind;
  log_set_sink(NULL, NULL, LOG_LVL_ERROR);
  if (make_config(&o, &cfg) < 0) {
    cvat_config_free(&cfg);
    free(o.sets);
    return 1;
  }
  if (strcmp(sub, "config") == 0 && nrest == 0) {
    struct buf b;
    buf_init(&b, 1 << 20);
    cvat_config_render(&cfg, &b);
    fwrite(b.data, 1, b.len, stdout);
    buf_free(&b);
    rc = 0;
  } else if (!o.store) {
    usage(stderr);
  } else if (strcmp(sub, "push") == 0 && nrest == 0) {
    rc = do_push(&o, &cfg);
  } else if (strcmp(sub, "pull") == 0 && nrest == 1) {
    rc = do_pull(o.store, &cfg, rest[0]);
  } else if (strcmp(sub, "undo") == 0 && nrest == 1) {
    rc = do_undo(o.store, rest[0]);
  } else if (strcmp(sub, "status") == 0 && nrest <= 1) {
    rc = o.json ? do_status_json(o.store, nrest ? rest[0] : NULL)
                : do_status(o.store, &cfg, nrest ? rest[0] : NULL);
  } else if (strcmp(sub, "labels") == 0 && nrest == 1) {
    struct store *s;
    struct buf b;
    buf_init(&b, (size_t)1 << 32);
    rc = 1;
    if (tool_open_store(o.store, false, true, &s) == 0) {
      r = cvat_run_labels_json(s, rest[0], &b);
      if (r < 0)
        fprintf(stderr, "%s: cvat labels: %s: %s\n", prog, rest[0],
                r == -ENOENT ? "no such run" : strerror(-r));
      else
        fwrite(b.data ? b.data : "", 1, b.len, stdout);
      rc = r < 0 ? 1 : 0;
      store_close(s);
    }
    buf_free(&b);
  } else if (strcmp(sub, "job") == 0 && (nrest == 3 || nrest == 4)) {
    rc = do_job(o.store, &cfg, nrest, rest, false);
  } else if (strcmp(sub, "issues") == 0 && nrest == 2) {
    rc = do_job(o.store, &cfg, nrest, rest, true);
  } else {
    usage(stderr);
  }
  cvat_config_free(&cfg);
  free(o.sets);
  return rc;
}
