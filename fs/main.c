/* main.c - the curatefs daemon: options, opening the store (or importing a
 * plain folder of images into a default store first), mounting, and the
 * multi-threaded session loop.  Operations live in ops.c.
 *
 * usage: curatefs [-f] [-d] [-o OPTIONS] STORE|FOLDER MOUNTPOINT
 *
 * The same command line is what mount.fuse3 runs for `mount -t
 * fuse.curatefs STORE MNT -o OPTS` and for an /etc/fstab line of that type:
 * `curatefs STORE MNT -o OPTS,dev,suid` (without -f, so the daemon detaches
 * once mounted).  Options that only mean something to mount(8) or systemd
 * (x-*, comment=, nofail, _netdev, auto, noauto, user, users, defaults) are
 * dropped here, so an fstab line may carry them.
 *
 * Order matters: LMDB environments must not cross fork(), so the store is
 * checked before daemonizing (to fail early with a message) and opened for
 * real afterwards; threads are started after the fork too.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "config.h"
#include "fs.h"
#include "views.h"
#include "vtree.h"
#include "node.h"
#include "passthrough.h"

struct options {
  char *map_size;
  double ttl;
  int nosync;
  int readonly;
  int nopassthrough;
  char *cache_size;
  char *share;
};

#define OPT(t, p) { t, offsetof(struct options, p), 1 }
static const struct fuse_opt option_spec[] = {
  OPT("map_size=%s", map_size),
  OPT("ttl=%lf", ttl),
  OPT("store_nosync", nosync),
  OPT("readonly", readonly),
  OPT("nopassthrough", nopassthrough),
  OPT("cache_size=%s", cache_size),
  OPT("share=%s", share),
  FUSE_OPT_END
};

static FILE *g_logf;
static struct fs_ctx *g_ctx;

static void log_sink(enum log_level lvl, const char *line, void *ud)
{
  static const char *lv[] = { "debug", "info", "warning", "error" };
  char when[32];
  time_t now = time(NULL);
  struct tm tm;

  (void)ud;
  localtime_r(&now, &tm);
  strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
  fprintf(stderr, "curatefs: %s: %s\n", lv[lvl], line);
  if (g_logf) {
    fprintf(g_logf, "%s %s: %s\n", when, lv[lvl], line);
    fflush(g_logf);
  }
}

/* Errors quote names users gave (a refused tag name may hold any byte):
 * status and the log stay one line of valid UTF-8 each. */
static void printable(char *s)
{
  size_t n = strlen(s);

  for (size_t i = 0; i < n;) {
    size_t len = 1;
    unsigned char b = (unsigned char)s[i];
    if (b >= 0xc2 && b <= 0xf4)
      len = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    if (len > n - i || !utf8_valid(s + i, len) ||
        !no_control_chars(s + i, len)) {
      s[i] = '?';
      len = 1;
    }
    i += len;
  }
}

void fs_error(struct fs_ctx *c, const char *fmt, ...)
{
  char line[200];
  char when[16];
  time_t now = time(NULL);
  struct tm tm;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  printable(line);
  pthread_mutex_lock(&c->mu);
  /* A client that retries a rejected write repeats the same error. */
  if (strcmp(line, c->last_err) == 0 && now - c->last_err_time < 2) {
    pthread_mutex_unlock(&c->mu);
    return;
  }
  snprintf(c->last_err, sizeof(c->last_err), "%s", line);
  c->last_err_time = now;
  pthread_mutex_unlock(&c->mu);
  log_msg(LOG_LVL_ERROR, "%s", line);
  localtime_r(&now, &tm);
  strftime(when, sizeof(when), "%H:%M:%S", &tm);
  pthread_mutex_lock(&c->mu);
  snprintf(c->errs[c->errs_head], sizeof(c->errs[0]), "%s %s", when, line);
  c->errs_head = (c->errs_head + 1) % FS_ERR_RING;
  if (c->errs_n < FS_ERR_RING)
    c->errs_n++;
  pthread_mutex_unlock(&c->mu);
}

/* ---- plain-folder mode: background import ---- */

static volatile int g_cancel;

static void imp_report(const char *rel, const char *reason, void *ud)
{
  struct fs_ctx *c = ud;

  pthread_mutex_lock(&c->mu);
  c->import_skipped++;
  pthread_mutex_unlock(&c->mu);
  fs_error(c, "import: skipped %s: %s", rel, reason);
}

/* A file imported by its content although its name says another format:
 * named in status, not counted as skipped. */
static void imp_note(const char *rel, const char *msg, void *ud)
{
  fs_error(ud, "import: %s: %s", rel, msg);
}

static void imp_progress(const struct import_progress *p, void *ud)
{
  struct fs_ctx *c = ud;

  pthread_mutex_lock(&c->mu);
  c->imp = *p;
  pthread_mutex_unlock(&c->mu);
  /* New samples were committed: let listings see them. */
  notify_inode(c, node_ino(NODE_DIR, DIR_SAMPLES, 0), true);
  notify_inode(c, node_ino(NODE_DIR, DIR_LABELS, 0), true);
}

static void *import_main(void *arg)
{
  struct fs_ctx *c = arg;
  struct import_opts o = { .report = imp_report, .note = imp_note,
                           .progress = imp_progress,
                           .ud = c, .cancel = &g_cancel };
  struct import_stats st;
  int r = import_dir(c->store, c->root, &o, &st);

  pthread_mutex_lock(&c->mu);
  c->importing = false;
  c->import_err = r < 0 && r != -ECANCELED ? r : 0;
  c->imp.phase = IMPORT_DONE;
  pthread_mutex_unlock(&c->mu);
  if (r < 0 && r != -ECANCELED)
    fs_error(c, "import of %s failed: %s", c->root, strerror(-r));
  else if (r == 0)
    log_msg(LOG_LVL_INFO, "imported %s: %llu new, %llu skipped", c->root,
            (unsigned long long)st.added, (unsigned long long)st.skipped);
  notify_inode(c, node_ino(NODE_DIR, DIR_SAMPLES, 0), true);
  notify_inode(c, node_ino(NODE_DIR, DIR_LABELS, 0), true);
  return NULL;
}

/* Where a plain folder's store lives: $CURATEFS_STORE_HOME, else
 * $XDG_DATA_HOME/curatefs, else ~/.local/share/curatefs; one folder per
 * dataset, named after it plus a hash of its absolute path. */
static char *default_store_dir(const char *root)
{
  const char *home = getenv("CURATEFS_STORE_HOME"), *base;
  char parent[PATH_MAX], out[PATH_MAX + 300];
  uint64_t h = 1469598103934665603ULL;

  for (const char *p = root; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  if (home && *home) {
    snprintf(parent, sizeof(parent), "%s", home);
  } else if ((base = getenv("XDG_DATA_HOME")) && *base) {
    snprintf(parent, sizeof(parent), "%s/curatefs", base);
  } else {
    const char *hd = getenv("HOME");
    snprintf(parent, sizeof(parent), "%s/.local/share/curatefs",
             hd && *hd ? hd : "/tmp");
  }
  {
    /* mkdir -p */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", parent);
    for (char *p = tmp + 1; *p; p++)
      if (*p == '/') {
        *p = '\0';
        mkdir(tmp, 0700);
        *p = '/';
      }
    mkdir(tmp, 0700);
  }
  base = strrchr(root, '/');
  snprintf(out, sizeof(out), "%s/%s-%08llx", parent,
           base && base[1] ? base + 1 : "dataset",
           (unsigned long long)(h & 0xffffffffULL));
  if (strlen(out) >= PATH_MAX)
    return NULL;
  mkdir(out, 0700);
  return strdup(out);
}

/* Whether a comma-separated mount option is one for mount(8), systemd or
 * fstab only, not for the filesystem. */
static bool fstab_only_opt(const char *o, size_t l)
{
  static const char *const drop[] = { "nofail", "_netdev", "auto", "noauto",
                                      "user", "users", "nouser", "defaults",
                                      "" };
  if (l >= 2 && strncmp(o, "x-", 2) == 0)
    return true;
  if (l >= 8 && strncmp(o, "comment=", 8) == 0)
    return true;
  for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
    if (strlen(drop[i]) == l && strncmp(o, drop[i], l) == 0)
      return true;
  return false;
}

/* Adds "-o OPTS" to args without the fstab-only options. */
static int add_mount_opts(struct fuse_args *args, const char *opts)
{
  size_t n = strlen(opts), used = 0;
  char *keep = malloc(n + 1);
  int r = 0;

  if (!keep)
    return -1;
  for (const char *p = opts; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (!fstab_only_opt(p, l)) {
      if (used)
        keep[used++] = ',';
      memcpy(keep + used, p, l);
      used += l;
    }
    p += l;
    if (*p)
      p++;
  }
  keep[used] = '\0';
  if (used)
    r = fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, keep) ? -1 : 0;
  free(keep);
  return r;
}

static void version(void)
{
  printf("curatefs %s (libfuse %s)\n", CURATEFS_VERSION, fuse_pkgversion());
}

static void usage(FILE *f)
{
  fprintf(f,
    "usage: curatefs [-f] [-d] [-o OPTIONS] STORE|FOLDER MOUNTPOINT\n"
    "       curatefs --version\n"
    "\n"
    "Mounts a dataset store (made by `curate import`), or a plain folder of\n"
    "images, JPEG, PNG, WebP, TIFF, BMP or GIF (imported first into a store under\n"
    "~/.local/share/curatefs/, progress in <mount>/status).\n"
    "\n"
    "options:\n"
    "  -f                 stay in the foreground\n"
    "  -d                 debug: print every FUSE request\n"
    "  -o map_size=BYTES  LMDB map size (default 64 GiB, sparse)\n"
    "  -o ttl=SECONDS     kernel cache time for names and attributes\n"
    "                     (default 86400; changes are invalidated explicitly)\n"
    "  -o store_nosync    do not fsync each commit (faster, loses the last\n"
    "                     changes on power loss, never on a crash)\n"
    "  -o readonly        a read-only mount for training jobs: files open\n"
    "                     without a request to the daemon, so cached reads\n"
    "                     run at page-cache speed.  Meant for a settled\n"
    "                     dataset\n"
    "  -o nopassthrough   serve large generated files (exports) through the\n"
    "                     FUSE page cache even where the kernel could read\n"
    "                     them from the daemon's cache files directly\n"
    "  -o cache_size=SIZE bytes of generated content (crops, drawn views,\n"
    "                     exports) kept between reads, in memory and in a\n"
    "                     spill file of the store directory; a number with\n"
    "                     an optional K, M or G suffix, at least 1M (default:\n"
    "                     up to 4 MiB of memory from the RAM, plus an\n"
    "                     eighth of the free disk, at most 8 GiB)\n"
    "  -o share=none|group|read\n"
    "                     what other users of an allow_other mount may\n"
    "                     read: nothing (default), what the store's group\n"
    "                     may, or everything.  Only the store's owner and\n"
    "                     root ever change anything; files show the owner's\n"
    "                     uid and gid and the modes that apply, and the\n"
    "                     kernel checks them (default_permissions)\n"
    "  and the usual FUSE mount options (allow_other, ...)\n"
    "\n"
    "Also mounted by `mount -t fuse.curatefs STORE MOUNTPOINT -o OPTIONS` and\n"
    "by an /etc/fstab line `STORE MOUNTPOINT fuse.curatefs OPTIONS 0 0`; see\n"
    "curatefs(1).\n");
}

int main(int argc, char **argv)
{
  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  struct fuse_cmdline_opts cl;
  struct options opts = { .ttl = 86400 };
  struct fuse_loop_config *lc = NULL;
  struct fuse_session *se = NULL;
  struct fs_ctx c;
  struct store_opts so = { 0 };
  pthread_t imp_thread;
  bool imp_started = false, folder_mode = false;
  char *positional[2] = { NULL, NULL };
  int npos = 0, ret = 1, r;
  char path[PATH_MAX];
  struct stat st;
  sigset_t stop_sigs;

  /* Few malloc arenas: each FUSE worker thread would otherwise get its
   * own, and what a burst of requests freed stays spread over them (the
   * daemon stayed at twice its idle size after a burst).  The warm thread
   * trims the heap once the store settles (warm.c). */
  if (!getenv("MALLOC_ARENA_MAX"))
    mallopt(M_ARENA_MAX, 2);
  memset(&c, 0, sizeof(c));
  memset(&cl, 0, sizeof(cl));  /* freed at out_args, even before parsing */
  pthread_mutex_init(&c.mu, NULL);
  g_ctx = &c;
  /* The stop signals reach the main thread only.  libfuse's handler just
   * marks the session exited, and its loop waits on the main thread: a
   * signal taken by one of our threads (views, notifications, CVAT, the
   * folder import, all created from here and inheriting this mask) would
   * leave the daemon mounted until the next request.  Unblocked right
   * before the loop. */
  sigemptyset(&stop_sigs);
  sigaddset(&stop_sigs, SIGHUP);
  sigaddset(&stop_sigs, SIGINT);
  sigaddset(&stop_sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);

  /* Split off our two positional arguments; the rest goes to libfuse. */
  fuse_opt_add_arg(&args, argv[0]);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
      if (add_mount_opts(&args, argv[++i]) < 0)
        goto out_args;
    } else if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2]) {
      if (add_mount_opts(&args, argv[i] + 2) < 0)
        goto out_args;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
        usage(stdout);
        ret = 0;
        goto out_args;
      }
      if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
        version();
        ret = 0;
        goto out_args;
      }
      fuse_opt_add_arg(&args, argv[i]);
    } else if (npos < 2) {
      positional[npos++] = argv[i];
    } else {
      usage(stderr);
      ret = 2;
      goto out_args;
    }
  }
  if (npos != 2) {
    usage(stderr);
    ret = 2;
    goto out_args;
  }
  fuse_opt_add_arg(&args, positional[1]);
  if (fuse_opt_parse(&args, &opts, option_spec, NULL) < 0 ||
      fuse_parse_cmdline(&args, &cl) != 0) {
    usage(stderr);
    ret = 2;
    goto out_args;
  }
  if (!cl.mountpoint) {
    usage(stderr);
    ret = 2;
    goto out_args;
  }
  if (opts.map_size) {
    char *end;
    so.map_size = strtoull(opts.map_size, &end, 10);
    if (*end || so.map_size < (1 << 20)) {
      fprintf(stderr, "curatefs: map_size must be a byte count >= 1 MiB\n");
      return 2;
    }
  }
  if (opts.cache_size) {
    char *end;
    unsigned long long v = strtoull(opts.cache_size, &end, 10);
    unsigned sh = 0;
    if (*end == 'K' || *end == 'k')
      sh = 10;
    else if (*end == 'M' || *end == 'm')
      sh = 20;
    else if (*end == 'G' || *end == 'g')
      sh = 30;
    if (sh)
      end++;
    if (*end || end == opts.cache_size || v > (UINT64_MAX >> sh) ||
        (v << sh) < (1u << 20)) {
      fprintf(stderr, "curatefs: cache_size must be a byte count >= 1M "
              "(K, M, G suffixes)\n");
      return 2;
    }
    c.cache_max = v << sh;
  }
  so.nosync = opts.nosync;
  c.ttl = opts.ttl;
  c.readonly = opts.readonly != 0;
  /* The kernel refuses every write on a read-only mount by itself. */
  if (c.readonly && fuse_opt_add_arg(&args, "-oro") != 0)
    goto out_args;
  if (opts.share && acc_parse_share(opts.share, &c.share) < 0) {
    fprintf(stderr, "curatefs: share must be none, group or read\n");
    goto out_args;
  }
  /* The kernel checks every access against the modes we show. */
  if (fuse_opt_add_arg(&args, "-odefault_permissions") != 0)
    goto out_args;
  c.uid = getuid();
  c.gid = getgid();
  c.mount_ns = time_now_ns();

  /* Store or plain folder? */
  snprintf(path, sizeof(path), "%s/data.mdb", positional[0]);
  if (stat(positional[0], &st) < 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "curatefs: '%s' is not a directory\n", positional[0]);
    goto out_args;
  }
  if (stat(path, &st) == 0) {
    c.store_dir = realpath(positional[0], NULL);
  } else {
    char *root = realpath(positional[0], NULL);
    folder_mode = true;
    c.root = root;
    c.store_dir = root ? default_store_dir(root) : NULL;
  }
  if (!c.store_dir) {
    fprintf(stderr, "curatefs: cannot resolve '%s'\n", positional[0]);
    goto out_args;
  }
  /* Whoever owns the store owns the mount's files (access.c). */
  if (stat(c.store_dir, &st) == 0) {
    c.uid = st.st_uid;
    c.gid = st.st_gid;
  }
  /* Fail before mounting if the store cannot be opened. */
  r = store_open(c.store_dir, &so, &c.store);
  if (r < 0) {
    fprintf(stderr, "curatefs: cannot open store '%s': %s\n", c.store_dir,
            store_open_error() ? store_open_error() : strerror(-r));
    goto out_args;
  }
  if (!folder_mode) {
    r = import_root_get(c.store, &c.root);
    if (r == -ENOENT && store_sample_total(c.store) > 0)
      fprintf(stderr, "curatefs: store '%s' is damaged: it holds samples "
              "but not its dataset folder; run `curate check --store %s`\n",
              c.store_dir, c.store_dir);
    else if (r == -ENOENT)
      fprintf(stderr, "curatefs: store '%s' has no dataset yet; run `curate "
              "import --store %s FOLDER` first\n", c.store_dir, c.store_dir);
    else if (r < 0)
      fprintf(stderr, "curatefs: cannot read store '%s': %s\n", c.store_dir,
              r == -EIO ? "its records are damaged; run `curate check`"
                        : strerror(-r));
  }
  store_close(c.store);
  c.store = NULL;
  if (r < 0)
    goto out_args;

  snprintf(path, sizeof(path), "%s/curatefs.log", c.store_dir);
  {
    /* The log names files and reasons: the owner's only, even if an
     * older version created it readable by all. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0 && (fchmod(fd, 0600), (g_logf = fdopen(fd, "a")) == NULL))
      close(fd);
  }
  log_set_sink(log_sink, NULL, LOG_LVL_INFO);

  if (state_init(&c) < 0)
    goto out_args;
  se = fuse_session_new(&args, &curatefs_ops, sizeof(curatefs_ops), &c);
  if (!se)
    goto out_args;
  if (fuse_set_signal_handlers(se) != 0)
    goto out_session;
  if (fuse_session_mount(se, cl.mountpoint) != 0)
    goto out_signals;
  /* Read-only mounts open nothing, so they have nothing to pass through. */
  if (!c.readonly && !opts.nopassthrough && (r = pt_install(&c, se)) < 0)
    log_msg(LOG_LVL_WARN, "kernel passthrough unavailable: %s",
            strerror(-r));
  fuse_daemonize(cl.foreground);

  r = store_open(c.store_dir, &so, &c.store);
  if (r < 0) {
    log_msg(LOG_LVL_ERROR, "cannot open store '%s': %s", c.store_dir,
            strerror(-r));
    goto out_unmount;
  }
  c.se = se;
  if (views_new(c.store, &c.views) < 0 || notify_start(&c) < 0)
    goto out_unmount;
  vtree_start(&c);
  if (folder_mode) {
    c.importing = true;
    if (pthread_create(&imp_thread, NULL, import_main, &c) == 0)
      imp_started = true;
    else
      c.importing = false;
  }
  log_msg(LOG_LVL_INFO, "mounted %s at %s (store %s)", c.root, cl.mountpoint,
          c.store_dir);

  lc = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(lc, cl.clone_fd);
  fuse_loop_cfg_set_max_threads(lc, cl.max_threads);
  pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
  ret = cl.singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, lc);
  ret = ret < 0 ? 1 : 0;
  fuse_loop_cfg_destroy(lc);

  g_cancel = 1;
  if (imp_started)
    pthread_join(imp_thread, NULL);
  vtree_stop(&c);
  c.se = NULL;
  notify_stop(&c);
  log_msg(LOG_LVL_INFO, "unmounting %s", cl.mountpoint);
out_unmount:
  fuse_session_unmount(se);
out_signals:
  fuse_remove_signal_handlers(se);
out_session:
  fuse_session_destroy(se);
out_args:
  views_free(c.views);
  state_free(&c);
  config_secret_clear();
  store_close(c.store);
  if (g_logf)
    fclose(g_logf);
  free(c.root);
  free(c.store_dir);
  free(cl.mountpoint);
  free(opts.map_size);
  free(opts.cache_size);
  free(opts.share);
  fuse_opt_free_args(&args);
  return ret;
}
