/* main.c - the curatefs daemon: options, opening the store (or importing a
 * plain folder of images into a default store first), mounting, and the
 * multi-threaded session loop.  Operations live in ops.c (the FUSE
 * adapter) and the node-kind handlers behind it (nodeops.h).
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
 * real afterwards; threads are started after the fork too.  main() runs
 * the steps in that order (split_args, apply_options, find_store,
 * check_store, open_log, mount_fs, start_serving, serve) and one teardown
 * undoes whatever was set up, in reverse order.  Everything set up lives
 * in one struct daemon on main's stack, so this file has no state of its
 * own.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "awsconf.h"
#include "config.h"
#include "fs.h"
#include "views.h"
#include "vtree.h"
#include "node.h"
#include "nodeops.h"
#include "passthrough.h"

struct options {
  char *map_size;
  double ttl;
  int nosync;
  int readonly;
  int nopassthrough;
  int noepoch;
  int epoch;
  char *cache_size;
  char *share;
  char *object_cache;        /* folder of a bucket dataset's local copies */
  char *object_cache_size;
};

#define OPT(t, p) { t, offsetof(struct options, p), 1 }
static const struct fuse_opt option_spec[] = {
  OPT("map_size=%s", map_size),
  OPT("ttl=%lf", ttl),
  OPT("store_nosync", nosync),
  OPT("readonly", readonly),
  OPT("nopassthrough", nopassthrough),
  OPT("noepoch", noepoch),
  OPT("epoch", epoch),
  OPT("cache_size=%s", cache_size),
  OPT("share=%s", share),
  OPT("object_cache=%s", object_cache),
  OPT("object_cache_size=%s", object_cache_size),
  FUSE_OPT_END
};

/* The log line sink: stderr, and the store's curatefs.log (ud, or NULL
 * before it is open). */
static void log_sink(enum log_level lvl, const char *line, void *ud)
{
  static const char *const lv[] = { "debug", "info", "warning", "error" };
  FILE *logf = ud;
  char when[32];
  time_t now = time(NULL);
  struct tm tm;

  localtime_r(&now, &tm);
  strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
  fprintf(stderr, "curatefs: %s: %s\n", lv[lvl], line);
  if (logf) {
    fprintf(logf, "%s %s: %s\n", when, lv[lvl], line);
    fflush(logf);
  }
}

/* Everything the daemon sets up, torn down in the reverse order
 * (daemon_teardown()).  Owned by main's stack frame. */
struct daemon {
  struct fuse_args args;
  struct fuse_cmdline_opts cl;
  struct options opts;
  struct store_opts so;
  struct fs_ctx c;
  char *positional[2];      /* STORE|FOLDER, MOUNTPOINT (argv's) */
  bool folder_mode;         /* a plain folder, imported in the background */
  FILE *logf;               /* the store's curatefs.log, or NULL */
  struct fuse_session *se;
  sigset_t stop_sigs;
  pthread_t imp_thread;
  bool imp_started;
  volatile int imp_cancel;  /* set at unmount: the import stops */
  uint64_t objcache_max;    /* -o object_cache_size (bucket datasets) */
};

/* Bytes of a bucket dataset's objects kept on local disk, by default. */
#define OBJECT_CACHE_DEFAULT (4ULL << 30)

/* ---- plain-folder mode: background import ---- */

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
  /* New samples were committed: let listings and names see them. */
  notify_store_changed(c);
  notify_inode(c, node_ino(NODE_DIR, DIR_SAMPLES, 0), true);
  notify_inode(c, node_ino(NODE_DIR, DIR_LABELS, 0), true);
}

static void *import_main(void *arg)
{
  struct daemon *d = arg;
  struct fs_ctx *c = &d->c;
  struct import_opts o = { .report = imp_report, .note = imp_note,
                           .progress = imp_progress,
                           .ud = c, .cancel = &d->imp_cancel };
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
  notify_store_changed(c);
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
  uint64_t h = hash_str_fnv1a(root);

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
    "                     without a request to the daemon and the names of\n"
    "                     generated files are kept (the name epoch), so\n"
    "                     warm reads run at page-cache speed.  Meant for a\n"
    "                     settled dataset\n"
    "  -o nopassthrough   serve large generated files (exports) through the\n"
    "                     FUSE page cache even where the kernel could read\n"
    "                     them from the daemon's cache files directly\n"
    "  -o epoch           on a normal mount, also drop every name the\n"
    "                     kernel keeps at each store change (Linux 6.16 or\n"
    "                     later): stat of a kept crop name sees a change at\n"
    "                     once and names of files showing samples are kept,\n"
    "                     but every label write makes every name be looked\n"
    "                     up again; the default on -o readonly\n"
    "  -o noepoch         never: on -o readonly, generated files are then\n"
    "                     looked up at every open\n"
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
    "  -o object_cache=DIR, object_cache_size=SIZE\n"
    "                     for a store imported from a bucket (s3://): where\n"
    "                     the local copies of its images are kept (default:\n"
    "                     STORE/objcache) and how many bytes at most\n"
    "                     (default 4G); least recently read out first;\n"
    "                     several mounts may share one DIR; made and opened\n"
    "                     with the store owner's rights\n"
    "  and the usual FUSE mount options (allow_other, ...)\n"
    "\n"
    "Also mounted by `mount -t fuse.curatefs STORE MOUNTPOINT -o OPTIONS` and\n"
    "by an /etc/fstab line `STORE MOUNTPOINT fuse.curatefs OPTIONS 0 0`; see\n"
    "curatefs(1).\n");
}

/* Splits off our two positional arguments; the rest goes to libfuse.
 * Returns -1 to go on, else the exit status (--help, --version, usage). */
static int split_args(struct daemon *d, int argc, char **argv)
{
  int npos = 0;

  fuse_opt_add_arg(&d->args, argv[0]);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
      if (add_mount_opts(&d->args, argv[++i]) < 0)
        return 1;
    } else if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2]) {
      if (add_mount_opts(&d->args, argv[i] + 2) < 0)
        return 1;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "-V") == 0 ||
               strcmp(argv[i], "--version") == 0) {
      version();
      return 0;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fuse_opt_add_arg(&d->args, argv[i]);
    } else if (npos < 2) {
      d->positional[npos++] = argv[i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (npos != 2) {
    usage(stderr);
    return 2;
  }
  fuse_opt_add_arg(&d->args, d->positional[1]);
  if (fuse_opt_parse(&d->args, &d->opts, option_spec, NULL) < 0 ||
      fuse_parse_cmdline(&d->args, &d->cl) != 0 || !d->cl.mountpoint) {
    usage(stderr);
    return 2;
  }
  return -1;
}

/* -o cache_size=N[KMG] into *ret; -EINVAL for anything else or < 1M. */
static int parse_cache_size(const char *s, uint64_t *ret)
{
  char *end;
  unsigned long long v;
  unsigned sh = 0;

  if (*s < '0' || *s > '9')
    return -EINVAL;   /* strtoull would take "-1" as 2^64 - 1 */
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno)
    return -EINVAL;   /* saturated at 2^64 - 1 */

  if (*end == 'K' || *end == 'k')
    sh = 10;
  else if (*end == 'M' || *end == 'm')
    sh = 20;
  else if (*end == 'G' || *end == 'g')
    sh = 30;
  if (sh)
    end++;
  if (*end || end == s || v > (UINT64_MAX >> sh) || (v << sh) < (1u << 20))
    return -EINVAL;
  *ret = v << sh;
  return 0;
}

/* Our -o options into the store options and the context, and the FUSE
 * options they imply.  -1 to go on, else the exit status. */
static int apply_options(struct daemon *d)
{
  struct options *o = &d->opts;
  char *end;

  if (o->map_size) {
    /* strtoull takes "-5" as 2^64 - 5 and saturates on overflow: both
     * would reach LMDB as a map no machine can give. */
    errno = 0;
    d->so.map_size = strtoull(o->map_size, &end, 10);
    if (*o->map_size < '0' || *o->map_size > '9' || errno || *end ||
        d->so.map_size < (1 << 20)) {
      fprintf(stderr, "curatefs: map_size must be a byte count >= 1 MiB\n");
      return 2;
    }
  }
  if (o->cache_size && parse_cache_size(o->cache_size, &d->c.cache_max) < 0) {
    fprintf(stderr, "curatefs: cache_size must be a byte count >= 1M "
            "(K, M, G suffixes)\n");
    return 2;
  }
  d->objcache_max = OBJECT_CACHE_DEFAULT;
  if (o->object_cache_size &&
      parse_cache_size(o->object_cache_size, &d->objcache_max) < 0) {
    fprintf(stderr, "curatefs: object_cache_size must be a byte count >= 1M "
            "(K, M, G suffixes)\n");
    return 2;
  }
  d->so.nosync = o->nosync;
  /* NaN or a negative time would reach the kernel's entry and attribute
   * timeouts through an undefined conversion. */
  if (!isfinite(o->ttl) || o->ttl < 0) {
    fprintf(stderr, "curatefs: ttl must be a number of seconds >= 0\n");
    return 2;
  }
  d->c.ttl = o->ttl;
  d->c.readonly = o->readonly != 0;
  /* Off unless asked for on a mount that writes: each drop makes every
   * cached name, directories included, be looked up again, so a listing
   * beside an annotator writing labels ran several times slower
   * (fs-load); such a mount keeps versioned names by other means
   * (node_vnode.c).  On by default on a read-only mount, whose kernel
   * opens without asking us: there the epoch is what lets a warm pass
   * reach no daemon at all, and no writer goes through it. */
  d->c.noepoch = o->noepoch != 0 || (o->epoch == 0 && o->readonly == 0);
  /* The kernel refuses every write on a read-only mount by itself. */
  if (d->c.readonly && fuse_opt_add_arg(&d->args, "-oro") != 0)
    return 1;
  if (o->share && acc_parse_share(o->share, &d->c.share) < 0) {
    fprintf(stderr, "curatefs: share must be none, group or read\n");
    return 1;
  }
  /* The kernel checks every access against the modes we show. */
  if (fuse_opt_add_arg(&d->args, "-odefault_permissions") != 0)
    return 1;
  d->c.uid = getuid();
  d->c.gid = getgid();
  d->c.mount_ns = time_now_ns();
  return -1;
}

/* Store or plain folder: sets store_dir (and root for a folder) and the
 * owner of the mount's files.  0 or -1 (reason printed). */
static int find_store(struct daemon *d)
{
  const char *arg = d->positional[0];
  char path[PATH_MAX];
  struct stat st;

  snprintf(path, sizeof(path), "%s/data.mdb", arg);
  if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "curatefs: '%s' is not a directory\n", arg);
    return -1;
  }
  if (stat(path, &st) == 0) {
    d->c.store_dir = realpath(arg, NULL);
  } else {
    d->folder_mode = true;
    d->c.root = realpath(arg, NULL);
    d->c.store_dir = d->c.root ? default_store_dir(d->c.root) : NULL;
  }
  if (!d->c.store_dir) {
    fprintf(stderr, "curatefs: cannot resolve '%s'\n", arg);
    return -1;
  }
  /* Whoever owns the store owns the mount's files (access.c). */
  if (stat(d->c.store_dir, &st) == 0) {
    d->c.uid = st.st_uid;
    d->c.gid = st.st_gid;
  }
  acc_owner_groups(&d->c);
  return 0;
}

/* The object cache folder made with the owner's rights (it is the
 * owner's, like the store it usually sits in).  0 or a negative errno. */
static int cache_mkdir(struct daemon *d)
{
  struct acc_saved sv;
  int r = acc_become_owner(&d->c, &sv);

  if (r < 0)
    return r;
  r = mkdir(d->opts.object_cache, 0700) < 0 && errno != EEXIST ? -errno : 0;
  acc_restore(&sv);
  return r;
}

/* A cache folder only root could have filled: a real directory (not a
 * link) of root's, which no one else may write.  An older root daemon
 * made STORE/objcache so; the owner cannot open it, nor put a link in. */
static bool cache_is_roots(const char *dir)
{
  struct stat st;

  return geteuid() == 0 && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
         st.st_uid == 0 && !(st.st_mode & 022);
}

/* objsource_open() with the owner's rights: the cache folder usually
 * lies in the owner's store, and its subfolders and lock file are made
 * and opened through whatever names are there (a link placed by the
 * owner must not lead a root daemon elsewhere; objcache.c opens all that
 * follows relative to those folders, never through a link).  A folder
 * of root's own that the owner may not open is used with root's rights. */
static int open_objsource_as_owner(struct daemon *d,
                                   const struct aws_conf *conf, char *err,
                                   size_t errlen)
{
  struct acc_saved sv;
  int r = acc_become_owner(&d->c, &sv);

  if (r < 0)
    return errf(err, errlen, r, "cannot take on the store owner's rights: "
                "%s", strerror(-r));
  r = objsource_open(d->c.root, conf, d->opts.object_cache, d->objcache_max,
                     &d->c.objsrc, err, errlen);
  acc_restore(&sv);
  if ((r == -EACCES || r == -EPERM) && cache_is_roots(d->opts.object_cache))
    r = objsource_open(d->c.root, conf, d->opts.object_cache,
                       d->objcache_max, &d->c.objsrc, err, errlen);
  return r;
}

/* A bucket dataset: its settings and cache folder must be usable before
 * the daemon detaches, so that a mistake is a message, not a log line.
 * 0 or -1 (reason printed). */
static int check_bucket(struct daemon *d)
{
  struct aws_conf conf;
  char err[512];
  int r;

  if (!d->opts.object_cache) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/objcache", d->c.store_dir);
    if (!(d->opts.object_cache = strdup(path)))
      return -1;
  }
  r = aws_conf_load(&conf, err, sizeof(err));
  aws_conf_free(&conf);
  if (r < 0) {
    fprintf(stderr, "curatefs: %s: %s\n", d->c.root, err);
    return -1;
  }
  r = cache_mkdir(d);
  if (r < 0) {
    fprintf(stderr, "curatefs: object cache '%s': %s (set -o "
            "object_cache=DIR)\n", d->opts.object_cache, strerror(-r));
    return -1;
  }
  return 0;
}

/* After the fork: the bucket's reader and cache (objsource.h).  0 or -1
 * (logged). */
static int open_bucket(struct daemon *d)
{
  struct aws_conf conf;
  char err[600];
  int r = aws_conf_load(&conf, err, sizeof(err));

  if (r == 0)
    r = open_objsource_as_owner(d, &conf, err, sizeof(err));
  aws_conf_free(&conf);
  if (r < 0)
    log_msg(LOG_LVL_ERROR, "%s: %s", d->c.root, err);
  return r < 0 ? -1 : 0;
}

/* store_open() with the owner's rights: the owner controls the store
 * directory, and LMDB writes to (and may create) data.mdb and lock.mdb,
 * which must never be links to files the owner may not write. */
static int open_store_as_owner(struct daemon *d)
{
  struct acc_saved sv;
  int r = acc_become_owner(&d->c, &sv);

  if (r < 0)
    return r;
  r = store_open(d->c.store_dir, &d->so, &d->c.store);
  acc_restore(&sv);
  return r;
}

/* Opens the store once before mounting, to fail early with a message,
 * and reads the dataset root; closes it again (LMDB environments must not
 * cross the fork of fuse_daemonize()).  0 or -1 (reason printed). */
static int check_store(struct daemon *d)
{
  struct fs_ctx *c = &d->c;
  int r = open_store_as_owner(d);

  if (r < 0) {
    fprintf(stderr, "curatefs: cannot open store '%s': %s\n", c->store_dir,
            store_open_error() ? store_open_error() : strerror(-r));
    return -1;
  }
  if (!d->folder_mode) {
    r = import_root_get(c->store, &c->root);
    if (r == -ENOENT && store_sample_total(c->store) > 0)
      fprintf(stderr, "curatefs: store '%s' is damaged: it holds samples "
              "but not its dataset folder; run `curate check --store %s`\n",
              c->store_dir, c->store_dir);
    else if (r == -ENOENT)
      fprintf(stderr, "curatefs: store '%s' has no dataset yet; run `curate "
              "import --store %s FOLDER` first\n", c->store_dir, c->store_dir);
    else if (r < 0)
      fprintf(stderr, "curatefs: cannot read store '%s': %s\n", c->store_dir,
              r == -EIO ? "its records are damaged; run `curate check`"
                        : strerror(-r));
  }
  store_close(c->store);
  c->store = NULL;
  if (r == 0 && objsource_is_bucket(c->root))
    r = check_bucket(d);
  return r < 0 ? -1 : 0;
}

/* Whether fd's file begins as log_sink() writes (empty or "YYYY-MM-DD
 * HH:MM:SS level: "): a log, not another file of root's. */
static bool looks_like_log(int fd)
{
  static const char *const lv[] = { "debug: ", "info: ", "warning: ",
                                    "error: " };
  char head[40];
  ssize_t n = pread(fd, head, sizeof(head) - 1, 0);

  if (n == 0)
    return true;
  if (n < 20)
    return false;
  head[n] = '\0';
  for (int i = 0; i < 19; i++) {
    char want = i == 4 || i == 7 ? '-' : i == 10 ? ' ' : i == 13 || i == 16
                ? ':' : '0';
    if (want == '0' ? !isdigit((unsigned char)head[i]) : head[i] != want)
      return false;
  }
  if (head[19] != ' ')
    return false;
  for (size_t i = 0; i < ARRAY_SIZE(lv); i++)
    if (strncmp(head + 20, lv[i], strlen(lv[i])) == 0)
      return true;
  return false;
}

/* A log an older root daemon left in the owner's store: root's own
 * regular file, with no other name (never a link the owner placed), that
 * reads as a log, given to the owner.  The owner may move into the store
 * any file of root's from another folder of theirs (one `sudo` wrote
 * there): such a file is neither written nor given away.  The descriptor
 * or -1. */
static int adopt_root_log(const struct daemon *d, const char *path)
{
  struct stat st;
  int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW |
                O_NONBLOCK | O_NOCTTY);

  if (fd < 0)
    return -1;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
      st.st_uid != geteuid() || !looks_like_log(fd) ||
      fchown(fd, d->c.uid, d->c.gid) < 0) {
    close(fd);
    errno = EACCES;
    return -1;
  }
  return fd;
}

/* The store's curatefs.log, then every log line goes there too.  The log
 * names files and reasons: the owner's only, even if an older version
 * created it readable by all.  Opened with the owner's rights (access.h):
 * the owner controls the directory, and a link placed there must not
 * make a root daemon append to or chmod another file. */
static void open_log(struct daemon *d)
{
  char path[PATH_MAX];
  struct acc_saved sv;
  int fd = -1;

  snprintf(path, sizeof(path), "%s/curatefs.log", d->c.store_dir);
  if (acc_become_owner(&d->c, &sv) == 0) {
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK |
              O_NOCTTY, 0600);
    int e = errno;
    if (fd >= 0)
      fchmod(fd, 0600);
    acc_restore(&sv);
    errno = e;
  }
  if (fd < 0 && (errno == EACCES || errno == EPERM))
    fd = adopt_root_log(d, path);
  if (fd < 0)
    fprintf(stderr, "curatefs: cannot open the log %s: %s\n", path,
            strerror(errno));
  else if ((d->logf = fdopen(fd, "a")) == NULL)
    close(fd);
  log_set_sink(log_sink, d->logf, LOG_LVL_INFO);
}


/* The daemon's tables, the session, its signal handlers and the mount;
 * then the daemon detaches (without -f).  Which of the three exist is in *stage (for
 * the teardown): 1 session, 2 + signals, 3 + mounted. */
static int mount_fs(struct daemon *d, int *stage)
{
  int r;

  /* The daemon's tables, before any request can need them (state.c). */
  if (state_init(&d->c) < 0)
    return -1;
  d->se = fuse_session_new(&d->args, &curatefs_ops, sizeof(curatefs_ops),
                           &d->c);
  if (!d->se)
    return -1;
  *stage = 1;
  if (fuse_set_signal_handlers(d->se) != 0)
    return -1;
  *stage = 2;
  if (fuse_session_mount(d->se, d->cl.mountpoint) != 0)
    return -1;
  *stage = 3;
  /* Read-only mounts open nothing, so they have nothing to pass through. */
  if (!d->c.readonly && !d->opts.nopassthrough && (r = pt_install(&d->c, d->se)) < 0)
    log_msg(LOG_LVL_WARN, "kernel passthrough unavailable: %s",
            strerror(-r));
  fuse_daemonize(d->cl.foreground);
  return 0;
}

/* After the fork: the store for real, the tables and the threads that
 * serve the mount.  0 or -1 (logged). */
static int start_serving(struct daemon *d)
{
  struct fs_ctx *c = &d->c;
  int r = open_store_as_owner(d);

  if (r < 0) {
    log_msg(LOG_LVL_ERROR, "cannot open store '%s': %s", c->store_dir,
            strerror(-r));
    return -1;
  }
  c->se = d->se;
  if (objsource_is_bucket(c->root) && open_bucket(d) < 0)
    return -1;
  if (views_new(c->store, &c->views) < 0)
    return -1;
  /* A read-only mount changes nothing in the store's folder: it reads
   * the lists a writer kept there, and keeps what it computes in memory. */
  if (c->readonly)
    views_keep(c->views, false);
  if (label_memo_new(c) < 0 || notify_start(c) < 0)
    return -1;
  vtree_start(c);
  if (d->folder_mode) {
    c->importing = true;
    if (pthread_create(&d->imp_thread, NULL, import_main, d) == 0)
      d->imp_started = true;
    else
      c->importing = false;
  }
  log_msg(LOG_LVL_INFO, "mounted %s at %s (store %s)", c->root,
          d->cl.mountpoint, c->store_dir);
  return 0;
}

/* The session loop, until unmounted or signalled; then the threads stop
 * (the import, the providers' work, the notifications).  The exit
 * status. */
static int serve(struct daemon *d)
{
  struct fuse_loop_config *lc = fuse_loop_cfg_create();
  int ret;

  fuse_loop_cfg_set_clone_fd(lc, d->cl.clone_fd);
  fuse_loop_cfg_set_max_threads(lc, d->cl.max_threads);
  /* -o max_idle_threads=N if given; by default (UINT_MAX, which libfuse
   * takes as "never") every worker is kept: a reader's burst after a pause
   * finds its threads there instead of waiting for new ones. */
  fuse_loop_cfg_set_idle_threads(lc, d->cl.max_idle_threads);
  pthread_sigmask(SIG_UNBLOCK, &d->stop_sigs, NULL);
  ret = d->cl.singlethread ? fuse_session_loop(d->se)
                           : fuse_session_loop_mt(d->se, lc);
  fuse_loop_cfg_destroy(lc);
  d->imp_cancel = 1;
  if (d->imp_started)
    pthread_join(d->imp_thread, NULL);
  d->imp_started = false;
  vtree_stop(&d->c);
  d->c.se = NULL;
  notify_stop(&d->c);
  log_msg(LOG_LVL_INFO, "unmounting %s", d->cl.mountpoint);
  return ret < 0 ? 1 : 0;
}

/* Undoes what was set up, in reverse order: the mount (stage, as
 * mount_fs() left it), then the tables (state_free() copes with tables
 * never made), the store, the log. */
static void daemon_teardown(struct daemon *d, int stage)
{
  struct fs_ctx *c = &d->c;

  assert(!d->imp_started);  /* serve() joined the import */
  if (stage >= 3)
    fuse_session_unmount(d->se);
  if (stage >= 2)
    fuse_remove_signal_handlers(d->se);
  if (stage >= 1)
    fuse_session_destroy(d->se);
  views_free(c->views);
  label_memo_free(c);
  state_free(c);
  config_secret_clear();
  objsource_close(c->objsrc);
  store_close(c->store);
  log_set_sink(log_sink, NULL, LOG_LVL_INFO);
  if (d->logf)
    fclose(d->logf);
  free(c->root);
  free(c->store_dir);
  free(d->cl.mountpoint);
  free(d->opts.map_size);
  free(d->opts.cache_size);
  free(d->opts.share);
  free(d->opts.object_cache);
  free(d->opts.object_cache_size);
  fuse_opt_free_args(&d->args);
}

/* The stop signals reach the main thread only.  libfuse's handler just
 * marks the session exited, and its loop waits on the main thread: a
 * signal taken by one of our threads (views, notifications, CVAT, the
 * folder import, all created from here and inheriting this mask) would
 * leave the daemon mounted until the next request.  Unblocked right
 * before the loop (serve()). */
static void block_stop_signals(struct daemon *d)
{
  sigemptyset(&d->stop_sigs);
  sigaddset(&d->stop_sigs, SIGHUP);
  sigaddset(&d->stop_sigs, SIGINT);
  sigaddset(&d->stop_sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &d->stop_sigs, NULL);
}

/* The kernel mounts over a regular file as well, and then hides it behind
 * a tree whose reads fail with EIO until it is unmounted: refuse anything
 * but a folder before the store is even opened.  0 or -1 (printed). */
static int check_mountpoint(const struct daemon *d)
{
  struct stat st;

  if (stat(d->cl.mountpoint, &st) < 0) {
    fprintf(stderr, "curatefs: mount point '%s': %s\n", d->cl.mountpoint,
            strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "curatefs: mount point '%s' is not a directory\n",
            d->cl.mountpoint);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  struct daemon d;
  int ret = 1, stage = 0;

  /* Few malloc arenas: each FUSE worker thread would otherwise get its
   * own, and what a burst of requests freed stays spread over them (the
   * daemon stayed at twice its idle size after a burst).  The warm thread
   * trims the heap once the store settles (warm.c). */
  if (!getenv("MALLOC_ARENA_MAX"))
    mallopt(M_ARENA_MAX, 2);
  memset(&d, 0, sizeof(d));  /* cl.mountpoint is freed even unparsed */
  d.args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
  d.opts.ttl = 86400;
  pthread_mutex_init(&d.c.mu, NULL);
  block_stop_signals(&d);
  if ((ret = split_args(&d, argc, argv)) >= 0 ||
      (ret = apply_options(&d)) >= 0) {
    /* usage, --help, --version or a bad option: ret says which */
  } else if (check_mountpoint(&d) < 0 || find_store(&d) < 0 ||
             check_store(&d) < 0) {
    ret = 1;
  } else {
    open_log(&d);
    ret = 1;
    if (mount_fs(&d, &stage) == 0 && start_serving(&d) == 0)
      ret = serve(&d);
  }
  daemon_teardown(&d, stage);
  return ret;
}
