/* store.c - the LMDB-backed dataset store (see store.h for the contract and
 * docs/STORE-FORMAT.md for every table and record layout).
 *
 * This is the only file that includes lmdb.h.  It maps LMDB's codes to
 * negative errno in one place (store_errno) and keeps a sticky error per
 * transaction, so a failed step turns the whole transaction into an abort.
 * It knows nothing about files on disk, JPEG, JSON or FUSE.
 */
#define _GNU_SOURCE  /* program_invocation_short_name */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

enum {
  DB_META, DB_SAMPLES, DB_NAMES, DB_PATHS, DB_TAGS, DB_TAGIDS, DB_TAGMEM,
  DB_SAMPLETAGS, DB_CLASSES, DB_CLASSIDS, DB_LABELS, DB_COUNTS, DB_RECORDS,
  DB_MAX
};

static const char *const db_names[DB_MAX] = {
  "meta", "samples", "names", "paths", "tags", "tagids", "tagmem",
  "sampletags", "classes", "classids", "labels", "counts", "records",
};

struct store {
  MDB_env *env;
  MDB_dbi dbi[DB_MAX];
  char *dir;
  int guard;      /* slot of the fault guard (-1: none) */
};

struct store_txn {
  struct store *s;
  MDB_txn *txn;
  int err;
  bool write;
  bool dirty;     /* something was written: bump the dataset version */
};

struct store_iter {
  struct store_txn *t;
  MDB_cursor *cur[DB_MAX];
};

#define SAMPLE_REC_VERSION 1
#define SAMPLE_REC_FIXED 72

/* What filled up in this thread's last transaction, for store_full_hint():
 * 0 nothing, 1 the map, 2 the disk.  Per thread: the request that failed
 * reports it right after, on its own thread. */
static __thread int last_full;

static int store_errno(int rc)
{
  if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL || rc == MDB_PAGE_FULL)
    last_full = 1;
  else if (rc == ENOSPC || rc == EDQUOT)
    last_full = 2;
  switch (rc) {
  case EDQUOT:
    return -ENOSPC;
  case MDB_SUCCESS:
    return 0;
  case MDB_NOTFOUND:
    return -ENOENT;
  case MDB_KEYEXIST:
    return -EEXIST;
  case MDB_MAP_FULL:
  case MDB_TXN_FULL:
  case MDB_PAGE_FULL:
    return -ENOSPC;
  case MDB_READERS_FULL:
    return -EAGAIN;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
  case MDB_VERSION_MISMATCH:
    return -EIO;
  case MDB_MAP_RESIZED:
    return -EAGAIN;
  default:
    return rc > 0 ? -rc : -EIO;
  }
}

/* The first damage this process met, in words (store_damage()): -EIO
 * alone would leave the user with "Input/output error". */
static pthread_mutex_t damage_lock = PTHREAD_MUTEX_INITIALIZER;
static char damage_text[700];

static void __attribute__((format(printf, 2, 3)))
note_damage(const struct store *s, const char *fmt, ...)
{
  va_list ap;
  int n;
  bool first = false;

  pthread_mutex_lock(&damage_lock);
  if (!damage_text[0]) {
    n = snprintf(damage_text, sizeof(damage_text), "store '%s' is damaged: ",
                 s->dir);
    va_start(ap, fmt);
    vsnprintf(damage_text + n, sizeof(damage_text) - (size_t)n, fmt, ap);
    va_end(ap);
    first = true;
  }
  pthread_mutex_unlock(&damage_lock);
  /* Into the daemon's log (its sink takes INFO); the tools, whose default
   * sink shows WARN and up, print store_damage() themselves, once. */
  if (first)
    log_msg(LOG_LVL_INFO, "%s; run `curate check --store %s`", damage_text,
            s->dir);
}

const char *store_damage(void)
{
  const char *r;

  pthread_mutex_lock(&damage_lock);
  r = damage_text[0] ? damage_text : NULL;
  pthread_mutex_unlock(&damage_lock);
  return r;
}

/* Records the first error of a transaction and returns the sticky error. */
static int txn_fail(struct store_txn *t, int r)
{
  if (r < 0 && r != -ENOENT && t->err == 0) {
    t->err = r;
    if (r == -EIO)
      note_damage(t->s, "a record of %s/data.mdb does not decode or LMDB "
                  "reports a broken page", t->s->dir);
  }
  return t->err ? t->err : r;
}

/* A record that does not decode: named, then the transaction fails. */
static int bad_record(struct store_txn *t, const char *table, uint64_t id)
{
  note_damage(t->s, "the %s record %llu in %s/data.mdb does not decode",
              table, (unsigned long long)id, t->s->dir);
  return txn_fail(t, -EIO);
}

static void be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t rd_be64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

static void be32(uint8_t *p, uint32_t v)
{
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint32_t rd_be32(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

static MDB_val sval(const char *s)
{
  MDB_val v = { strlen(s), (void *)s };
  return v;
}

/* ---- environment ---- */

static int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *ret)
{
  MDB_val k = sval(key), v;
  int rc = mdb_get(txn, dbi, &k, &v);

  if (rc)
    return store_errno(rc);
  if (v.mv_size != 8)
    return -EIO;
  memcpy(ret, v.mv_data, 8);
  return 0;
}

static int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val)
{
  MDB_val k = sval(key), v = { 8, &val };
  return store_errno(mdb_put(txn, dbi, &k, &v, 0));
}

/* ---- damage reporting ----
 *
 * Why the open failed, in words naming the file (thread-local, so two
 * threads opening stores do not mix their messages). */
static __thread char open_detail[600];

const char *store_open_error(void)
{
  return open_detail[0] ? open_detail : NULL;
}

static void __attribute__((format(printf, 1, 2))) detail(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(open_detail, sizeof(open_detail), fmt, ap);
  va_end(ap);
}

/* LMDB reads pages straight from its map.  A store damaged behind LMDB's
 * back (a truncated file, a page overwritten) can make such a read fault:
 * SIGBUS beyond the end of the file, SIGSEGV through a wild page offset.
 * LMDB cannot be resumed after a fault inside it (a write transaction
 * holds the writer mutex, cursors hold half-updated stacks), so recovering
 * with siglongjmp is not an option; instead a fault whose address lies in
 * a store's map ends the process with a message naming the store and
 * exit status 1, like any other fatal error of the tools.  Faults
 * elsewhere are real bugs: the previous handler is put back and the fault
 * repeats into it (a core dump, or the sanitizer's report).  The check on
 * open (the file must hold every page its meta page counts) makes this the
 * exception rather than the rule. */
#define GUARD_SLOTS 32
struct guard_slot {
  _Atomic uintptr_t base;
  _Atomic size_t len;
  char msg[700];
};
static struct guard_slot guards[GUARD_SLOTS];
/* LMDB's code: a fault with the program counter there (a wild pointer
 * built from a damaged page, not an address in the map) is damage too. */
static uintptr_t lmdb_text_lo, lmdb_text_hi;
static struct sigaction old_segv, old_bus;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;

static uintptr_t fault_pc(void *uc)
{
  ucontext_t *u = uc;
#if defined(__x86_64__)
  return (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uintptr_t)u->uc_mcontext.pc;
#else
  (void)u;
  return 0;
#endif
}

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
  uintptr_t a = (uintptr_t)si->si_addr;

  for (int i = 0; i < GUARD_SLOTS; i++) {
    uintptr_t b = atomic_load(&guards[i].base);
    size_t l = atomic_load(&guards[i].len);
    if (b && a >= b && a - b < l) {
      const char *m = guards[i].msg;
      ssize_t w = write(2, m, strlen(m));
      (void)w;
      _exit(1);
    }
  }
  {
    uintptr_t pc = fault_pc(uc);
    if (pc && pc >= lmdb_text_lo && pc < lmdb_text_hi) {
      for (int i = 0; i < GUARD_SLOTS; i++)
        if (atomic_load(&guards[i].base)) {
          const char *m = guards[i].msg;
          ssize_t w = write(2, m, strlen(m));
          (void)w;
          _exit(1);
        }
    }
  }
  sigaction(sig, sig == SIGBUS ? &old_bus : &old_segv, NULL);
}

static void guard_install(void)
{
  struct sigaction sa;
  char line[4400];
  FILE *f = fopen("/proc/self/maps", "re");

  while (f && fgets(line, sizeof(line), f)) {
    unsigned long long a, b;
    char perms[8];
    if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) == 3 &&
        strchr(perms, 'x') && strstr(line, "/liblmdb.so")) {
      if (!lmdb_text_lo || a < lmdb_text_lo)
        lmdb_text_lo = (uintptr_t)a;
      if (b > lmdb_text_hi)
        lmdb_text_hi = (uintptr_t)b;
    }
  }
  if (f)
    fclose(f);

  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = fault_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
}

/* Where LMDB mapped data.mdb: its API does not say (me_mapaddr is only
 * the MDB_FIXEDMAP address), so the mapping of the file's inode is looked
 * up in /proc/self/maps. */
static int map_range(const char *dir, uintptr_t *base, size_t *len)
{
  char path[4200], line[4400];
  struct stat st;
  uintptr_t lo = 0, hi = 0;
  FILE *f;

  snprintf(path, sizeof(path), "%s/data.mdb", dir);
  if (stat(path, &st) < 0)
    return -errno;
  f = fopen("/proc/self/maps", "re");
  if (!f)
    return -errno;
  while (fgets(line, sizeof(line), f)) {
    unsigned long long a, b, off, ino;
    unsigned maj, mnr;
    char perms[8];
    if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &a, &b, perms, &off,
               &maj, &mnr, &ino) != 7)
      continue;
    if (ino != (unsigned long long)st.st_ino ||
        makedev(maj, mnr) != st.st_dev)
      continue;
    if (!lo || a < lo)
      lo = (uintptr_t)a;
    if (b > hi)
      hi = (uintptr_t)b;
  }
  fclose(f);
  if (!lo)
    return -ENOENT;
  *base = lo;
  *len = hi - lo;
  return 0;
}

static int guard_add(struct store *s)
{
  uintptr_t base;
  size_t len;
  int slot = -1;

  if (map_range(s->dir, &base, &len) < 0)
    return -1;
  pthread_once(&guard_once, guard_install);
  pthread_mutex_lock(&guard_lock);
  for (int i = 0; i < GUARD_SLOTS && slot < 0; i++)
    if (!atomic_load(&guards[i].base))
      slot = i;
  if (slot >= 0) {
    snprintf(guards[slot].msg, sizeof(guards[slot].msg),
             "%s: store '%s' is damaged: reading %s/data.mdb hit a damaged "
             "or missing page; run `curate check --store %s`\n",
             program_invocation_short_name, s->dir, s->dir, s->dir);
    atomic_store(&guards[slot].len, len);
    atomic_store(&guards[slot].base, base);
  }
  pthread_mutex_unlock(&guard_lock);
  return slot;
}

static void guard_del(int slot)
{
  if (slot < 0)
    return;
  pthread_mutex_lock(&guard_lock);
  atomic_store(&guards[slot].base, 0);
  atomic_store(&guards[slot].len, 0);
  pthread_mutex_unlock(&guard_lock);
}

/* LMDB's own consistency assertions (a page of the wrong kind where a
 * leaf must be, ...) would abort(); they mean the same as a fault in the
 * map, so they end the process the same way. */
static void lmdb_assert(MDB_env *env, const char *msg)
{
  const char *dir = "?";
  char line[1200];
  int n;
  ssize_t w;

  mdb_env_get_path(env, &dir);
  n = snprintf(line, sizeof(line), "%s: store '%s' is damaged: LMDB found "
               "%s in %s/data.mdb; run `curate check --store %s`\n",
               program_invocation_short_name, dir, msg, dir, dir);
  w = write(2, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n
                                                        : strlen(line));
  (void)w;
  _exit(1);
}

/* The cheap check on open: data.mdb must hold every page the newest meta
 * page counts (a shorter file faults on first touch), and an existing
 * data.mdb shorter than LMDB's two meta pages is damage, not a new store
 * (LMDB would silently start over in it). */
static int size_before_open(const char *dir)
{
  char path[4200];
  struct stat st;

  snprintf(path, sizeof(path), "%s/data.mdb", dir);
  if (stat(path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISREG(st.st_mode)) {
    detail("%s is not a regular file", path);
    return -EIO;
  }
  if (st.st_size < 2 * 4096) {
    detail("%s is damaged: %lld bytes, shorter than LMDB's two meta pages",
           path, (long long)st.st_size);
    return -EIO;
  }
  return 0;
}

static int size_after_open(struct store *s)
{
  char path[4200];
  MDB_envinfo info;
  MDB_stat ms;
  struct stat st;
  unsigned long long need;

  if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &ms) != 0)
    return -EIO;
  snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
  if (stat(path, &st) < 0)
    return -errno;
  need = ((unsigned long long)info.me_last_pgno + 1) * ms.ms_psize;
  if ((unsigned long long)st.st_size < need) {
    detail("%s is truncated: %lld bytes, but its pages need %llu",
           path, (long long)st.st_size, need);
    return -EIO;
  }
  if (need > info.me_mapsize) {
    detail("%s is damaged: its meta page counts %llu bytes of pages, more "
           "than the map of %zu bytes", path, need, info.me_mapsize);
    return -EIO;
  }
  return 0;
}

/* What an LMDB code means for a store file, for open_detail. */
static void detail_rc(const char *dir, int rc)
{
  if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
      rc == MDB_VERSION_MISMATCH || rc == MDB_INCOMPATIBLE)
    detail("%s/data.mdb is damaged: %s", dir, mdb_strerror(rc));
  else if (rc == ENOMEM || rc == EINVAL)
    detail("%s/data.mdb cannot be mapped (%s): its meta pages are damaged or "
           "the map size is beyond this machine", dir, strerror(rc));
}

int store_open(const char *dir, const struct store_opts *opts,
               struct store **ret)
{
  struct store_opts def = { 0 };
  struct store *s;
  MDB_txn *txn = NULL;
  unsigned flags = MDB_NOTLS;
  uint64_t schema;
  struct stat st;
  int rc, r;

  if (!opts)
    opts = &def;
  open_detail[0] = '\0';
  if (stat(dir, &st) < 0)
    return -errno;
  if (!S_ISDIR(st.st_mode))
    return -ENOTDIR;
  if ((r = size_before_open(dir)) < 0)
    return r;
  s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  s->guard = -1;
  s->dir = strdup(dir);
  if (!s->dir) {
    free(s);
    return -ENOMEM;
  }
  if (opts->readonly)
    flags |= MDB_RDONLY;
  if (opts->nosync)
    flags |= MDB_NOSYNC;
  rc = mdb_env_create(&s->env);
  if (rc == 0)
    rc = mdb_env_set_maxdbs(s->env, DB_MAX + 4);
  if (rc == 0)
    rc = mdb_env_set_mapsize(s->env, opts->map_size ? opts->map_size
                                                    : STORE_DEFAULT_MAP_SIZE);
  if (rc == 0)
    rc = mdb_env_set_maxreaders(s->env, 256);
  if (rc == 0)
    mdb_env_set_assert(s->env, lmdb_assert);
  if (rc == 0)
    rc = mdb_env_open(s->env, dir, flags, 0600);  /* private to the owner */
  if (rc) {
    detail_rc(dir, rc);
    goto fail_rc;
  }
  if ((r = size_after_open(s)) < 0)
    goto fail_r;
  s->guard = guard_add(s);
  /* LMDB may have leftover reader slots from a killed process. */
  mdb_reader_check(s->env, NULL);
  rc = mdb_txn_begin(s->env, NULL, opts->readonly ? MDB_RDONLY : 0, &txn);
  if (rc) {
    detail_rc(dir, rc);
    goto fail_rc;
  }
  for (int i = 0; i < DB_MAX; i++) {
    rc = mdb_dbi_open(txn, db_names[i], opts->readonly ? 0 : MDB_CREATE,
                      &s->dbi[i]);
    if (rc == MDB_NOTFOUND && opts->readonly && i > 0) {
      detail("%s/data.mdb is damaged: its table '%s' is missing", dir,
             db_names[i]);
      rc = MDB_CORRUPTED;
    } else if (rc == MDB_INCOMPATIBLE || rc == MDB_CORRUPTED ||
               rc == MDB_PAGE_NOTFOUND || rc == MDB_BAD_DBI) {
      detail("%s/data.mdb is damaged: table '%s': %s", dir, db_names[i],
             mdb_strerror(rc));
      rc = MDB_CORRUPTED;
    }
    if (rc)
      goto fail_rc;
  }
  r = get_u64(txn, s->dbi[DB_META], "schema", &schema);
  if (r == -ENOENT && !opts->readonly) {
    /* A new store has nothing else; a store with samples but no schema
     * lost its meta table. */
    MDB_stat ms;
    if (mdb_stat(txn, s->dbi[DB_SAMPLES], &ms) == 0 && ms.ms_entries) {
      detail("%s/data.mdb is damaged: samples without a schema version",
             dir);
      r = -EIO;
      goto fail_r;
    }
    r = put_u64(txn, s->dbi[DB_META], "schema", STORE_SCHEMA_VERSION);
    schema = STORE_SCHEMA_VERSION;
  } else if (r == -EIO) {
    detail("%s/data.mdb is damaged: its schema version is not 8 bytes", dir);
  }
  if (r < 0)
    goto fail_r;
  if (schema > STORE_SCHEMA_VERSION || schema == 0) {
    if (schema == 0)
      detail("%s/data.mdb is damaged: schema version 0", dir);
    r = schema ? -EPROTO : -EIO;
    goto fail_r;
  }
  /* Migration 1 -> 2 (in this startup transaction, so it lands whole):
   * version 2 lets classes be removed (gaps in class ids) and carry a
   * supercategory after the name in `classids`.  Version 1 records are
   * valid version 2 records, so only the number changes; it changes so
   * that an older build, which cannot read id gaps, refuses the store. */
  if (schema < STORE_SCHEMA_VERSION && !opts->readonly) {
    r = put_u64(txn, s->dbi[DB_META], "schema", STORE_SCHEMA_VERSION);
    if (r < 0)
      goto fail_r;
  }
  rc = mdb_txn_commit(txn);
  txn = NULL;
  if (rc)
    goto fail_rc;
  *ret = s;
  return 0;

fail_rc:
  r = store_errno(rc);
fail_r:
  if (txn)
    mdb_txn_abort(txn);
  guard_del(s->guard);
  mdb_env_close(s->env);
  free(s->dir);
  free(s);
  return r;
}

void store_close(struct store *s)
{
  if (!s)
    return;
  guard_del(s->guard);
  mdb_env_close(s->env);
  free(s->dir);
  free(s);
}

const char *store_dir(const struct store *s)
{
  return s->dir;
}

int store_txn_begin(struct store *s, bool write, struct store_txn **ret)
{
  struct store_txn *t = calloc(1, sizeof(*t));
  int rc;

  if (!t)
    return -ENOMEM;
  t->s = s;
  t->write = write;
  if (write)
    last_full = 0;
  rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
  if (rc == MDB_READERS_FULL) {
    /* Stale readers of a killed process: clear them and try once more. */
    mdb_reader_check(s->env, NULL);
    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
  }
  if (rc == MDB_MAP_RESIZED) {
    /* Another process grew the map: adopt its size and retry. */
    mdb_env_set_mapsize(s->env, 0);
    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
  }
  if (rc) {
    free(t);
    return store_errno(rc);
  }
  *ret = t;
  return 0;
}

/* Whether the filesystem holding dir has (nearly) no space left for us:
 * less than 1 MiB, counting the blocks reserved for root when we are
 * root. */
static bool disk_full(const char *dir)
{
  struct statvfs sv;
  uint64_t free_blocks;

  if (statvfs(dir, &sv) < 0)
    return false;
  free_blocks = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
  return free_blocks * (uint64_t)sv.f_frsize < (1u << 20);
}

int store_txn_commit(struct store_txn *t)
{
  int r;

  if (!t->err && t->dirty) {
    uint64_t v = 0;
    int g = get_u64(t->txn, t->s->dbi[DB_META], "version", &v);
    if (g < 0 && g != -ENOENT)
      t->err = g;
    else
      txn_fail(t, put_u64(t->txn, t->s->dbi[DB_META], "version", v + 1));
  }
  if (t->err) {
    r = t->err;
    mdb_txn_abort(t->txn);
  } else {
    int rc = mdb_txn_commit(t->txn);
    /* LMDB turns a short write into EIO: on a full disk the write of the
     * last pages stops at the free space.  Tell that apart from a failing
     * device by the space left. */
    if (rc == EIO && disk_full(t->s->dir))
      rc = ENOSPC;
    r = store_errno(rc);
  }
  free(t);
  return r;
}

void store_txn_abort(struct store_txn *t)
{
  if (!t)
    return;
  mdb_txn_abort(t->txn);
  free(t);
}

int store_txn_error(const struct store_txn *t)
{
  return t->err;
}

/* Every operation starts with this: a failed transaction does nothing more,
 * and writes on a read transaction are a programming error (-EROFS). */
#define TXN_GUARD(t, needs_write)                                        \
  do {                                                                   \
    if ((t)->err)                                                        \
      return (t)->err;                                                   \
    if ((needs_write) && !(t)->write)                                    \
      return -EROFS;                                                     \
  } while (0)

static int t_get(struct store_txn *t, int db, MDB_val *k, MDB_val *v)
{
  int rc = mdb_get(t->txn, t->s->dbi[db], k, v);
  return rc == MDB_NOTFOUND ? -ENOENT : txn_fail(t, store_errno(rc));
}

static int t_put(struct store_txn *t, int db, MDB_val *k, MDB_val *v,
                 unsigned flags)
{
  int rc = mdb_put(t->txn, t->s->dbi[db], k, v, flags);
  t->dirty = true;
  if (rc == MDB_KEYEXIST)
    return -EEXIST;
  return txn_fail(t, store_errno(rc));
}

static int t_del(struct store_txn *t, int db, MDB_val *k)
{
  int rc = mdb_del(t->txn, t->s->dbi[db], k, NULL);
  t->dirty = true;
  return rc == MDB_NOTFOUND ? -ENOENT : txn_fail(t, store_errno(rc));
}

static int next_id(struct store_txn *t, const char *counter, uint64_t *ret)
{
  uint64_t v = 0;
  int r = get_u64(t->txn, t->s->dbi[DB_META], counter, &v);

  if (r < 0 && r != -ENOENT)
    return txn_fail(t, r);
  v = v ? v : 1;
  *ret = v;
  return txn_fail(t, put_u64(t->txn, t->s->dbi[DB_META], counter, v + 1));
}

/* ---- settings ---- */

static int setting_key(const char *key, char *out, size_t n)
{
  size_t l = strlen(key);
  if (l == 0 || l + 5 > n)
    return -EINVAL;
  memcpy(out, "set:", 4);
  memcpy(out + 4, key, l + 1);
  return 0;
}

int store_setting_get(struct store_txn *t, const char *key, char **ret)
{
  char k[300];
  MDB_val kv, v;
  int r;

  TXN_GUARD(t, false);
  if (setting_key(key, k, sizeof(k)) < 0)
    return -EINVAL;
  kv = sval(k);
  r = t_get(t, DB_META, &kv, &v);
  if (r < 0)
    return r;
  *ret = strndup(v.mv_data, v.mv_size);
  return *ret ? 0 : -ENOMEM;
}

int store_setting_set(struct store_txn *t, const char *key, const char *val)
{
  char k[300];
  MDB_val kv, v;

  TXN_GUARD(t, true);
  if (setting_key(key, k, sizeof(k)) < 0)
    return -EINVAL;
  kv = sval(k);
  v = sval(val);
  return t_put(t, DB_META, &kv, &v, 0);
}

int store_setting_del(struct store_txn *t, const char *key)
{
  char k[300];
  MDB_val kv;
  int r;

  TXN_GUARD(t, true);
  if (setting_key(key, k, sizeof(k)) < 0)
    return -EINVAL;
  kv = sval(k);
  r = t_del(t, DB_META, &kv);
  return r == -ENOENT ? 0 : r;
}

/* ---- samples ---- */

/* Decodes a sample record.  The key is the authority for the id: a record
 * whose id field disagrees with its key is damage (-EIO), so iterators
 * that continue from "id + 1" always advance. */
static int sample_decode(const MDB_val *k, const MDB_val *v, struct sample *s)
{
  const uint8_t *p = v->mv_data;
  uint64_t kid;
  uint16_t nlen;
  size_t plen;

  if (k->mv_size != 8 || v->mv_size < SAMPLE_REC_FIXED + 2 ||
      p[0] != SAMPLE_REC_VERSION)
    return -EIO;
  kid = rd_be64(k->mv_data);
  memset(s, 0, sizeof(*s));
  s->flags = p[1];
  s->precision = p[2];
  s->components = p[3];
  s->orientation = p[4];
  s->format = p[7];
  memcpy(&s->id, p + 8, 8);
  memcpy(&s->size, p + 16, 8);
  memcpy(&s->mtime_ns, p + 24, 8);
  memcpy(&s->width, p + 32, 4);
  memcpy(&s->height, p + 36, 4);
  memcpy(s->hash, p + 40, 16);
  memcpy(&s->labels_version, p + 56, 8);
  memcpy(&s->labels_mtime_ns, p + 64, 8);
  memcpy(&nlen, p + 5, 2);
  if (s->id != kid || kid == 0 || kid == UINT64_MAX)
    return -EIO;
  if (nlen == 0 || (size_t)nlen + 2 > v->mv_size - SAMPLE_REC_FIXED)
    return -EIO;
  plen = v->mv_size - SAMPLE_REC_FIXED - nlen - 2;
  s->name = (const char *)p + SAMPLE_REC_FIXED;
  s->relpath = s->name + nlen + 1;
  /* Exactly one NUL at the end of each string. */
  if (plen == 0 || memchr(s->name, 0, nlen + 1) != s->name + nlen ||
      memchr(s->relpath, 0, plen + 1) != s->relpath + plen)
    return -EIO;
  return 0;
}

static int sample_encode(const struct sample *s, struct buf *b)
{
  uint8_t fixed[SAMPLE_REC_FIXED] = { 0 };
  size_t nlen = strlen(s->name), plen = strlen(s->relpath);
  uint16_t n16 = (uint16_t)nlen;
  int r;

  if (nlen > 1024 || plen > 8192)
    return -ENAMETOOLONG;
  fixed[0] = SAMPLE_REC_VERSION;
  fixed[1] = s->flags;
  fixed[2] = s->precision;
  fixed[3] = s->components;
  fixed[4] = s->orientation;
  fixed[7] = s->format;
  memcpy(fixed + 5, &n16, 2);
  memcpy(fixed + 8, &s->id, 8);
  memcpy(fixed + 16, &s->size, 8);
  memcpy(fixed + 24, &s->mtime_ns, 8);
  memcpy(fixed + 32, &s->width, 4);
  memcpy(fixed + 36, &s->height, 4);
  memcpy(fixed + 40, s->hash, 16);
  memcpy(fixed + 56, &s->labels_version, 8);
  memcpy(fixed + 64, &s->labels_mtime_ns, 8);
  r = buf_append(b, fixed, sizeof(fixed));
  if (r == 0)
    r = buf_append(b, s->name, nlen + 1);
  if (r == 0)
    r = buf_append(b, s->relpath, plen + 1);
  return r;
}

int store_sample_get(struct store_txn *t, uint64_t id, struct sample *ret)
{
  uint8_t key[8];
  MDB_val k = { 8, key }, v;
  int r;

  TXN_GUARD(t, false);
  be64(key, id);
  r = t_get(t, DB_SAMPLES, &k, &v);
  if (r < 0)
    return r;
  if (sample_decode(&k, &v, ret) < 0)
    return bad_record(t, "sample", id);
  return 0;
}

static int id_lookup(struct store_txn *t, int db, const char *name,
                     uint64_t *ret)
{
  MDB_val k = sval(name), v;
  int r;

  if (k.mv_size == 0 || k.mv_size > 511)
    return -ENOENT;
  r = t_get(t, db, &k, &v);
  if (r < 0)
    return r;
  if (v.mv_size != 8)
    return txn_fail(t, -EIO);
  *ret = rd_be64(v.mv_data);
  return 0;
}

int store_sample_by_name(struct store_txn *t, const char *name,
                         struct sample *ret)
{
  uint64_t id;
  int r;

  TXN_GUARD(t, false);
  r = id_lookup(t, DB_NAMES, name, &id);
  return r < 0 ? r : store_sample_get(t, id, ret);
}

int store_sample_by_path(struct store_txn *t, const char *relpath,
                         struct sample *ret)
{
  uint64_t id;
  int r;

  TXN_GUARD(t, false);
  r = id_lookup(t, DB_PATHS, relpath, &id);
  return r < 0 ? r : store_sample_get(t, id, ret);
}

static int put_index(struct store_txn *t, int db, const char *name,
                     uint64_t id, unsigned flags)
{
  uint8_t val[8];
  MDB_val k = sval(name), v = { 8, val };

  be64(val, id);
  return t_put(t, db, &k, &v, flags);
}

int store_sample_put(struct store_txn *t, const struct sample *in,
                     uint64_t *ret_id)
{
  struct sample s = *in, old;
  struct buf b;
  char *name = NULL, *relpath = NULL;
  uint8_t key[8];
  MDB_val k = { 8, key }, v;
  int r;

  TXN_GUARD(t, true);
  /* Checked before anything is written, so the transaction stays good. */
  if (!in->id && ((in->name && strlen(in->name) > STORE_PATH_MAX) ||
                  (in->relpath && strlen(in->relpath) > STORE_PATH_MAX)))
    return -ENAMETOOLONG;
  buf_init(&b, 1 << 16);
  if (s.id) {
    /* Replace: keep the stable name and path of the stored record.  Copy
     * them first, since a write may move LMDB pages under borrowed data. */
    r = store_sample_get(t, s.id, &old);
    if (r < 0)
      goto out;
    name = strdup(old.name);
    relpath = strdup(old.relpath);
    if (!name || !relpath) {
      r = -ENOMEM;
      goto out;
    }
    s.name = name;
    s.relpath = relpath;
  } else {
    uint64_t existing;
    if (!in->name || !in->relpath || !in->name[0] || !in->relpath[0]) {
      r = -EINVAL;
      goto out;
    }
    if (id_lookup(t, DB_PATHS, in->relpath, &existing) == 0) {
      r = -EEXIST;
      goto out;
    }
    r = next_id(t, "next:sample", &s.id);
    if (r < 0)
      goto out;
    r = put_index(t, DB_NAMES, in->name, s.id, MDB_NOOVERWRITE);
    if (r == -EEXIST) {
      /* Taken: a numeric suffix keeps the name unique and stable. */
      size_t n = strlen(in->name) + 24;
      name = malloc(n);
      if (!name) {
        r = -ENOMEM;
        goto out;
      }
      snprintf(name, n, "%s~%llu", in->name, (unsigned long long)s.id);
      s.name = name;
      r = put_index(t, DB_NAMES, name, s.id, MDB_NOOVERWRITE);
    }
    if (r < 0)
      goto out;
    r = put_index(t, DB_PATHS, in->relpath, s.id, 0);
    if (r < 0)
      goto out;
  }
  r = sample_encode(&s, &b);
  if (r < 0)
    goto out;
  be64(key, s.id);
  v.mv_size = b.len;
  v.mv_data = b.data;
  r = t_put(t, DB_SAMPLES, &k, &v, 0);
  if (r == 0 && ret_id)
    *ret_id = s.id;
out:
  free(name);
  free(relpath);
  buf_free(&b);
  return txn_fail(t, r);
}

int store_sample_count(struct store_txn *t, uint64_t *ret)
{
  MDB_stat st;
  int rc;

  TXN_GUARD(t, false);
  rc = mdb_stat(t->txn, t->s->dbi[DB_SAMPLES], &st);
  if (rc)
    return txn_fail(t, store_errno(rc));
  *ret = st.ms_entries;
  return 0;
}

uint64_t store_sample_total(struct store *s)
{
  struct store_txn *t;
  uint64_t n = 0;

  if (store_txn_begin(s, false, &t) < 0)
    return 0;
  if (store_sample_count(t, &n) < 0)
    n = 0;
  store_txn_abort(t);
  return n;
}

/* Deletes every key of `db` that starts with the 8-byte prefix, calling fn
 * (if any) on each key/value first. */
static int del_prefix(struct store_txn *t, int db, const uint8_t pre[8],
                      int (*fn)(struct store_txn *, MDB_val *, MDB_val *))
{
  MDB_cursor *c;
  MDB_val k = { 8, (void *)pre }, v;
  int rc, r = 0;

  rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  t->dirty = true;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= 8 && memcmp(k.mv_data, pre, 8) == 0) {
    if (fn) {
      r = fn(t, &k, &v);
      if (r < 0)
        break;
    }
    rc = mdb_cursor_del(c, 0);
    if (rc)
      break;
    rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
  }
  mdb_cursor_close(c);
  if (r < 0)
    return txn_fail(t, r);
  if (rc && rc != MDB_NOTFOUND && rc != EINVAL)
    return txn_fail(t, store_errno(rc));
  return 0;
}

static int count_add(struct store_txn *t, const char *field,
                     uint32_t class_id, int64_t delta);

static int drop_label_counts(struct store_txn *t, MDB_val *k, MDB_val *v)
{
  struct label_field f = { 0 };
  char field[LABELS_MAX_FIELD_NAME + 1];
  size_t fl = k->mv_size - 8;
  int r;

  if (fl == 0 || fl > LABELS_MAX_FIELD_NAME)
    return -EIO;
  memcpy(field, (const char *)k->mv_data + 8, fl);
  field[fl] = '\0';
  r = labels_field_decode(v->mv_data, v->mv_size, &f);
  for (size_t i = 0; r == 0 && i < f.n; i++)
    r = count_add(t, field, f.d[i].class_id, -1);
  for (size_t i = 0; i < f.n; i++)
    detection_clear(&f.d[i]);
  free(f.d);
  return r == -EBADMSG ? -EIO : r;
}

static int drop_membership(struct store_txn *t, MDB_val *k, MDB_val *v)
{
  const uint8_t *p = k->mv_data;
  uint64_t sid = rd_be64(p), tid = rd_be64(p + 8);
  int r = store_tag_remove(t, tid, sid);
  (void)v;
  return r < 0 ? r : 0;
}

int store_sample_delete(struct store_txn *t, uint64_t id)
{
  struct sample s;
  char *name, *relpath;
  uint8_t key[8];
  MDB_val k = { 8, key }, nk;
  int r;

  TXN_GUARD(t, true);
  r = store_sample_get(t, id, &s);
  if (r < 0)
    return r;
  name = strdup(s.name);
  relpath = strdup(s.relpath);
  if (!name || !relpath) {
    free(name);
    free(relpath);
    return txn_fail(t, -ENOMEM);
  }
  be64(key, id);
  /* Memberships first: store_tag_remove deletes sampletags keys itself, so
   * walk a copy of the list rather than deleting under the cursor. */
  for (;;) {
    MDB_cursor *c;
    MDB_val ck = { 8, key }, cv;
    int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_SAMPLETAGS], &c);
    if (rc) {
      r = store_errno(rc);
      break;
    }
    rc = mdb_cursor_get(c, &ck, &cv, MDB_SET_RANGE);
    if (rc || ck.mv_size != 16 || memcmp(ck.mv_data, key, 8) != 0) {
      mdb_cursor_close(c);
      break;
    }
    {
      uint8_t kk[16];
      MDB_val kv = { 16, kk };
      memcpy(kk, ck.mv_data, 16);
      mdb_cursor_close(c);
      r = drop_membership(t, &kv, NULL);
      if (r < 0)
        break;
    }
  }
  if (r == 0)
    r = del_prefix(t, DB_LABELS, key, drop_label_counts);
  if (r == 0)
    r = t_del(t, DB_SAMPLES, &k);
  if (r == 0) {
    nk = sval(name);
    r = t_del(t, DB_NAMES, &nk);
    r = r == -ENOENT ? 0 : r;
  }
  if (r == 0) {
    nk = sval(relpath);
    r = t_del(t, DB_PATHS, &nk);
    r = r == -ENOENT ? 0 : r;
  }
  free(name);
  free(relpath);
  return txn_fail(t, r);
}

/* ---- iteration ---- */

int store_iter_new(struct store_txn *t, struct store_iter **ret)
{
  struct store_iter *it;

  TXN_GUARD(t, false);
  it = calloc(1, sizeof(*it));
  if (!it)
    return -ENOMEM;
  it->t = t;
  *ret = it;
  return 0;
}

void store_iter_free(struct store_iter *it)
{
  if (!it)
    return;
  for (int i = 0; i < DB_MAX; i++)
    if (it->cur[i])
      mdb_cursor_close(it->cur[i]);
  free(it);
}

static int iter_cursor(struct store_iter *it, int db, MDB_cursor **ret)
{
  if (!it->cur[db]) {
    int rc = mdb_cursor_open(it->t->txn, it->t->s->dbi[db], &it->cur[db]);
    if (rc)
      return txn_fail(it->t, store_errno(rc));
  }
  *ret = it->cur[db];
  return 0;
}

/* Positions the iterator's cursor of `db` at the first key >= key[0..klen)
 * and returns it in *k (*v its value): 0, -ENOENT past the end, or the
 * transaction's error. */
static int iter_seek(struct store_iter *it, int db, const uint8_t *key,
                     size_t klen, MDB_val *k, MDB_val *v)
{
  MDB_cursor *c = NULL;
  int r = iter_cursor(it, db, &c), rc;

  if (r < 0)
    return r;
  k->mv_size = klen;
  k->mv_data = (void *)key;
  rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
  if (rc)
    return rc == MDB_NOTFOUND ? -ENOENT : txn_fail(it->t, store_errno(rc));
  return 0;
}

int store_iter_samples(struct store_iter *it, uint64_t from_id,
                       struct sample *ret)
{
  uint8_t key[8];
  MDB_val k, v;
  int r;

  be64(key, from_id);
  r = iter_seek(it, DB_SAMPLES, key, 8, &k, &v);
  if (r < 0)
    return r;
  /* Keys out of order (a damaged page) would send callers backwards. */
  if (k.mv_size != 8 || rd_be64(k.mv_data) < from_id ||
      sample_decode(&k, &v, ret) < 0)
    return bad_record(it->t, "sample",
                      k.mv_size == 8 ? rd_be64(k.mv_data) : 0);
  return 0;
}

int store_iter_tag(struct store_iter *it, uint64_t tag_id, uint64_t from_id,
                   uint64_t *ret_sample_id)
{
  uint8_t key[16];
  MDB_val k, v;
  int r;

  be64(key, tag_id);
  be64(key + 8, from_id);
  r = iter_seek(it, DB_TAGMEM, key, 16, &k, &v);
  if (r < 0)
    return r;
  if (k.mv_size < 8 || memcmp(k.mv_data, key, 8) != 0)
    return -ENOENT;
  /* Callers continue from the id + 1: an id that cannot advance is
   * damage, not a member. */
  if (k.mv_size != 16 ||
      rd_be64((const uint8_t *)k.mv_data + 8) < from_id ||
      rd_be64((const uint8_t *)k.mv_data + 8) == UINT64_MAX)
    return txn_fail(it->t, -EIO);
  *ret_sample_id = rd_be64((const uint8_t *)k.mv_data + 8);
  return 0;
}

static int tag_decode(const MDB_val *v, const char **name, uint64_t *count,
                      int64_t *mtime)
{
  const char *p = v->mv_data;

  if (v->mv_size < 18 || memchr(p + 16, 0, v->mv_size - 16) !=
                             p + v->mv_size - 1)
    return -EIO;
  if (count)
    memcpy(count, p, 8);
  if (mtime)
    memcpy(mtime, p + 8, 8);
  if (name)
    *name = p + 16;
  return 0;
}

int store_iter_tags(struct store_iter *it, uint64_t from_id,
                    uint64_t *ret_tag_id, const char **ret_name)
{
  uint8_t key[8];
  MDB_val k, v;
  int r;

  be64(key, from_id);
  r = iter_seek(it, DB_TAGIDS, key, 8, &k, &v);
  if (r < 0)
    return r;
  if (k.mv_size != 8 || rd_be64(k.mv_data) < from_id ||
      rd_be64(k.mv_data) == UINT64_MAX)
    return txn_fail(it->t, -EIO);
  *ret_tag_id = rd_be64(k.mv_data);
  return txn_fail(it->t, tag_decode(&v, ret_name, NULL, NULL));
}

/* ---- tags ---- */

bool store_tag_name_valid(const char *name)
{
  size_t n = strlen(name);

  /* A leading dot would hide the tag from `ls` (and covers "." and
   * ".."); names must print: valid UTF-8, no control characters. */
  if (n == 0 || n > 200 || name[0] == '.' || strchr(name, '/'))
    return false;
  return utf8_valid(name, n) && no_control_chars(name, n);
}

static int tag_write(struct store_txn *t, uint64_t id, const char *name,
                     uint64_t count, int64_t mtime)
{
  size_t nl = strlen(name);
  uint8_t key[8], *rec = malloc(16 + nl + 1);
  MDB_val k = { 8, key }, v;
  int r;

  if (!rec)
    return txn_fail(t, -ENOMEM);
  be64(key, id);
  memcpy(rec, &count, 8);
  memcpy(rec + 8, &mtime, 8);
  memcpy(rec + 16, name, nl + 1);
  v.mv_size = 16 + nl + 1;
  v.mv_data = rec;
  r = t_put(t, DB_TAGIDS, &k, &v, 0);
  free(rec);
  return r;
}

int store_tag_create(struct store_txn *t, const char *name, uint64_t *ret_id)
{
  uint64_t id;
  int r;

  TXN_GUARD(t, true);
  if (!store_tag_name_valid(name))
    return -EINVAL;
  if (id_lookup(t, DB_TAGS, name, &id) == 0)
    return -EEXIST;
  r = next_id(t, "next:tag", &id);
  if (r == 0 && id > 0xffff)
    r = txn_fail(t, -ENOSPC);  /* tag ids are 16 bits in fs inode numbers */
  if (r == 0)
    r = put_index(t, DB_TAGS, name, id, MDB_NOOVERWRITE);
  if (r == 0)
    r = tag_write(t, id, name, 0, time_now_ns());
  if (r == 0 && ret_id)
    *ret_id = id;
  return r;
}

int store_tag_lookup(struct store_txn *t, const char *name, uint64_t *ret_id)
{
  TXN_GUARD(t, false);
  return id_lookup(t, DB_TAGS, name, ret_id);
}

int store_tag_get(struct store_txn *t, uint64_t id, const char **ret_name,
                  uint64_t *ret_count, int64_t *ret_mtime_ns)
{
  uint8_t key[8];
  MDB_val k = { 8, key }, v;
  int r;

  TXN_GUARD(t, false);
  be64(key, id);
  r = t_get(t, DB_TAGIDS, &k, &v);
  if (r < 0)
    return r;
  return txn_fail(t, tag_decode(&v, ret_name, ret_count, ret_mtime_ns));
}

int store_tag_rename(struct store_txn *t, const char *from, const char *to)
{
  uint64_t id, other, count;
  MDB_val k;
  int r;

  TXN_GUARD(t, true);
  if (!store_tag_name_valid(to))
    return -EINVAL;
  r = id_lookup(t, DB_TAGS, from, &id);
  if (r < 0)
    return r;
  if (strcmp(from, to) == 0)
    return 0;
  if (id_lookup(t, DB_TAGS, to, &other) == 0)
    return -EEXIST;
  r = store_tag_get(t, id, NULL, &count, NULL);
  k = sval(from);
  if (r == 0)
    r = t_del(t, DB_TAGS, &k);
  if (r == 0)
    r = put_index(t, DB_TAGS, to, id, MDB_NOOVERWRITE);
  if (r == 0)
    r = tag_write(t, id, to, count, time_now_ns());
  return txn_fail(t, r);
}

int store_tag_delete(struct store_txn *t, const char *name)
{
  uint64_t id, count;
  uint8_t key[8];
  MDB_val k, ik = { 8, key };
  int r;

  TXN_GUARD(t, true);
  r = id_lookup(t, DB_TAGS, name, &id);
  if (r < 0)
    return r;
  r = store_tag_get(t, id, NULL, &count, NULL);
  if (r < 0)
    return r;
  if (count)
    return -ENOTEMPTY;
  k = sval(name);
  be64(key, id);
  r = t_del(t, DB_TAGS, &k);
  if (r == 0)
    r = t_del(t, DB_TAGIDS, &ik);
  return txn_fail(t, r);
}

static int tag_bump(struct store_txn *t, uint64_t tag_id, int64_t delta)
{
  const char *name;
  uint64_t count;
  char *copy;
  int r = store_tag_get(t, tag_id, &name, &count, NULL);

  if (r < 0)
    return r;
  copy = strdup(name);
  if (!copy)
    return txn_fail(t, -ENOMEM);
  r = tag_write(t, tag_id, copy, (uint64_t)((int64_t)count + delta),
                time_now_ns());
  free(copy);
  return r;
}

static int membership(struct store_txn *t, uint64_t tag_id, uint64_t sid,
                      bool add)
{
  uint8_t k1[16], k2[16];
  MDB_val a = { 16, k1 }, b = { 16, k2 }, e = { 0, "" }, v;
  int r;

  be64(k1, tag_id);
  be64(k1 + 8, sid);
  be64(k2, sid);
  be64(k2 + 8, tag_id);
  r = t_get(t, DB_TAGMEM, &a, &v);
  if (r < 0 && r != -ENOENT)
    return r;
  if ((r == 0) == add)
    return 0;  /* already as wanted */
  if (add) {
    r = t_put(t, DB_TAGMEM, &a, &e, 0);
    if (r == 0)
      r = t_put(t, DB_SAMPLETAGS, &b, &e, 0);
  } else {
    r = t_del(t, DB_TAGMEM, &a);
    if (r == 0)
      r = t_del(t, DB_SAMPLETAGS, &b);
  }
  if (r == 0)
    r = tag_bump(t, tag_id, add ? 1 : -1);
  return r < 0 ? txn_fail(t, r == -ENOENT ? -EIO : r) : 1;
}

int store_tag_add(struct store_txn *t, uint64_t tag_id, uint64_t sample_id)
{
  struct sample s;
  int r;

  TXN_GUARD(t, true);
  r = store_tag_get(t, tag_id, NULL, NULL, NULL);
  if (r == 0)
    r = store_sample_get(t, sample_id, &s);
  return r < 0 ? r : membership(t, tag_id, sample_id, true);
}

int store_tag_remove(struct store_txn *t, uint64_t tag_id, uint64_t sample_id)
{
  TXN_GUARD(t, true);
  return membership(t, tag_id, sample_id, false);
}

int store_tag_has(struct store_txn *t, uint64_t tag_id, uint64_t sample_id)
{
  uint8_t k1[16];
  MDB_val a = { 16, k1 }, v;
  int r;

  TXN_GUARD(t, false);
  be64(k1, tag_id);
  be64(k1 + 8, sample_id);
  r = t_get(t, DB_TAGMEM, &a, &v);
  return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int store_sample_tags(struct store_txn *t, uint64_t sample_id,
                      int (*fn)(uint64_t tag_id, void *ud), void *ud)
{
  MDB_cursor *c;
  uint8_t key[16];
  MDB_val k = { 16, key }, v;
  int rc, r = 0;

  TXN_GUARD(t, false);
  be64(key, sample_id);
  memset(key + 8, 0, 8);
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_SAMPLETAGS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, key, 8) == 0) {
    r = fn(rd_be64((const uint8_t *)k.mv_data + 8), ud);
    if (r)
      break;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (rc && rc != MDB_NOTFOUND)
    return txn_fail(t, store_errno(rc));
  return r < 0 ? r : 0;
}

/* ---- classes ---- */

int store_class_id(struct store_txn *t, const char *name, bool create,
                   uint32_t *ret_id)
{
  MDB_val k = sval(name), v;
  uint8_t key[4];
  uint64_t id;
  int r;

  TXN_GUARD(t, create);
  /* A lookup only needs a well-formed key; a new class a valid name. */
  if (!(create ? labels_class_name_valid(name)
               : labels_class_key_valid(name)))
    return -EINVAL;
  r = t_get(t, DB_CLASSES, &k, &v);
  if (r == 0) {
    if (v.mv_size != 4)
      return txn_fail(t, -EIO);
    memcpy(ret_id, v.mv_data, 4);
    return 0;
  }
  if (r != -ENOENT || !create)
    return r;
  r = next_id(t, "next:class", &id);
  if (r < 0)
    return r;
  if (id > UINT32_MAX)
    return txn_fail(t, -ENOSPC);
  *ret_id = (uint32_t)id;
  v.mv_size = 4;
  v.mv_data = ret_id;
  r = t_put(t, DB_CLASSES, &k, &v, 0);
  be32(key, (uint32_t)id);
  k.mv_size = 4;
  k.mv_data = key;
  /* Stored with its NUL so store_class_name() can lend it as a C string. */
  v.mv_size = strlen(name) + 1;
  v.mv_data = (void *)name;
  if (r == 0)
    r = t_put(t, DB_CLASSIDS, &k, &v, 0);
  return r;
}

int store_class_name(struct store_txn *t, uint32_t id, const char **ret_name)
{
  uint8_t key[4];
  MDB_val k = { 4, key }, v;
  int r;

  TXN_GUARD(t, false);
  be32(key, id);
  r = t_get(t, DB_CLASSIDS, &k, &v);
  if (r < 0)
    return r;
  if (v.mv_size == 0 || ((const char *)v.mv_data)[v.mv_size - 1] != '\0')
    return txn_fail(t, -EIO);
  *ret_name = v.mv_data;
  return 0;
}

int store_class_count(struct store_txn *t, uint32_t *ret_n)
{
  uint64_t v = 0;
  int r;

  TXN_GUARD(t, false);
  r = get_u64(t->txn, t->s->dbi[DB_META], "next:class", &v);
  if (r < 0 && r != -ENOENT)
    return txn_fail(t, r);
  *ret_n = v ? (uint32_t)(v - 1) : 0;
  return 0;
}

/* Box count of one class over every field (the counts table is small: one
 * entry per field and class in use). */
int store_class_boxes(struct store_txn *t, uint32_t id, uint64_t *ret)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc;

  TXN_GUARD(t, false);
  *ret = 0;
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_COUNTS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    uint64_t cnt;

    if (k.mv_size < 6 || v.mv_size != 8 ||
        rd_be32((const uint8_t *)k.mv_data + k.mv_size - 4) != id)
      continue;
    memcpy(&cnt, v.mv_data, 8);
    *ret += cnt;
  }
  mdb_cursor_close(c);
  if (rc != MDB_NOTFOUND)
    return txn_fail(t, store_errno(rc));
  return 0;
}

int store_class_get(struct store_txn *t, uint32_t id, struct store_class *ret)
{
  uint8_t key[4];
  MDB_val k = { 4, key }, v;
  const char *p;
  size_t nl;
  int r;

  TXN_GUARD(t, false);
  be32(key, id);
  r = t_get(t, DB_CLASSIDS, &k, &v);
  if (r < 0)
    return r;
  p = v.mv_data;
  if (v.mv_size == 0 || p[v.mv_size - 1] != '\0')
    return txn_fail(t, -EIO);
  nl = strlen(p);
  ret->id = id;
  ret->name = p;
  /* Version 2 values may carry the supercategory after the name. */
  ret->supercategory = nl + 1 < v.mv_size ? p + nl + 1 : "";
  return 0;
}

int store_classes_each(struct store_txn *t,
                       int (*fn)(const struct store_class *c, void *ud),
                       void *ud)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc, r = 0;

  TXN_GUARD(t, false);
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_CLASSIDS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    struct store_class sc;
    const char *p = v.mv_data;
    size_t nl;

    if (k.mv_size != 4 || v.mv_size == 0 || p[v.mv_size - 1] != '\0') {
      r = txn_fail(t, -EIO);
      break;
    }
    nl = strlen(p);
    sc.id = rd_be32(k.mv_data);
    sc.name = p;
    sc.supercategory = nl + 1 < v.mv_size ? p + nl + 1 : "";
    r = fn(&sc, ud);
  }
  mdb_cursor_close(c);
  if (r == 0 && rc && rc != MDB_NOTFOUND)
    return txn_fail(t, store_errno(rc));
  return r;
}

/* Writes both index entries of a class (name -> id, id -> name
 * [+ supercategory]). */
static int class_write(struct store_txn *t, const char *name, uint32_t id,
                       const char *super)
{
  uint8_t key[4], val[2 * (LABELS_MAX_CLASS_NAME + 1)];
  size_t nl = strlen(name), sl = super ? strlen(super) : 0;
  MDB_val k = sval(name), v = { 4, &id };
  int r;

  if (sl > LABELS_MAX_CLASS_NAME)
    return -EINVAL;
  r = t_put(t, DB_CLASSES, &k, &v, 0);
  be32(key, id);
  k.mv_size = 4;
  k.mv_data = key;
  memcpy(val, name, nl + 1);
  if (sl)
    memcpy(val + nl + 1, super, sl + 1);
  v.mv_size = nl + 1 + (sl ? sl + 1 : 0);
  v.mv_data = val;
  if (r == 0)
    r = t_put(t, DB_CLASSIDS, &k, &v, 0);
  return r;
}

int store_class_put(struct store_txn *t, const char *name, uint32_t id,
                    const char *supercategory)
{
  struct store_class old;
  uint32_t have;
  uint64_t next = 0;
  int r;

  TXN_GUARD(t, true);
  if (!labels_class_name_valid(name) || id == 0 ||
      (supercategory && *supercategory &&
       !labels_class_name_valid(supercategory)))
    return -EINVAL;
  r = store_class_id(t, name, false, &have);
  if (r == 0 && have != id)
    return -EEXIST;
  if (r < 0 && r != -ENOENT)
    return r;
  r = store_class_get(t, id, &old);
  if (r == 0 && strcmp(old.name, name) != 0)
    return -EEXIST;
  if (r < 0 && r != -ENOENT)
    return r;
  /* The class exists: only a new supercategory changes it. */
  if (r == 0 && (!supercategory || !*supercategory ||
                 strcmp(old.supercategory, supercategory) == 0))
    return 0;
  r = class_write(t, name, id, supercategory);
  if (r < 0)
    return txn_fail(t, r);
  r = get_u64(t->txn, t->s->dbi[DB_META], "next:class", &next);
  if (r < 0 && r != -ENOENT)
    return txn_fail(t, r);
  if (next <= id)
    r = put_u64(t->txn, t->s->dbi[DB_META], "next:class", (uint64_t)id + 1);
  else
    r = 0;
  return txn_fail(t, r);
}

int store_class_rename(struct store_txn *t, const char *from, const char *to)
{
  struct store_class sc;
  char super[LABELS_MAX_CLASS_NAME + 1];
  uint32_t id, other;
  MDB_val k;
  int r;

  TXN_GUARD(t, true);
  if (!labels_class_key_valid(from) || !labels_class_name_valid(to))
    return -EINVAL;
  r = store_class_id(t, from, false, &id);
  if (r < 0)
    return r;
  if (strcmp(from, to) == 0)
    return 0;
  r = store_class_id(t, to, false, &other);
  if (r == 0)
    return -EEXIST;
  if (r != -ENOENT)
    return r;
  r = store_class_get(t, id, &sc);
  if (r < 0)
    return txn_fail(t, r == -ENOENT ? -EIO : r);
  snprintf(super, sizeof(super), "%s", sc.supercategory);  /* borrowed */
  k = sval(from);
  r = t_del(t, DB_CLASSES, &k);
  if (r == 0)
    r = class_write(t, to, id, super);
  return txn_fail(t, r);
}

int store_class_reset_next(struct store_txn *t, uint32_t next)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc;

  TXN_GUARD(t, true);
  if (next == 0)
    return -EINVAL;
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_CLASSIDS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  mdb_cursor_close(c);
  if (rc == 0 && k.mv_size == 4 && rd_be32(k.mv_data) >= next)
    return -EBUSY;
  if (rc && rc != MDB_NOTFOUND)
    return txn_fail(t, store_errno(rc));
  return txn_fail(t, put_u64(t->txn, t->s->dbi[DB_META], "next:class",
                             next));
}

int store_class_delete(struct store_txn *t, const char *name)
{
  uint8_t key[4];
  uint32_t id;
  uint64_t boxes;
  MDB_val k;
  int r;

  TXN_GUARD(t, true);
  if (!labels_class_key_valid(name))
    return -EINVAL;
  r = store_class_id(t, name, false, &id);
  if (r < 0)
    return r;
  r = store_class_boxes(t, id, &boxes);
  if (r < 0)
    return r;
  if (boxes)
    return -EBUSY;
  k = sval(name);
  r = t_del(t, DB_CLASSES, &k);
  be32(key, id);
  k.mv_size = 4;
  k.mv_data = key;
  if (r == 0)
    r = t_del(t, DB_CLASSIDS, &k);
  return txn_fail(t, r);
}

/* ---- labels ---- */

static int count_key(const char *field, uint32_t class_id, uint8_t *out)
{
  size_t fl = strlen(field);

  if (fl == 0 || fl > LABELS_MAX_FIELD_NAME)
    return -EINVAL;
  memcpy(out, field, fl);
  out[fl] = 0;
  be32(out + fl + 1, class_id);
  return (int)(fl + 5);
}

static int count_add(struct store_txn *t, const char *field,
                     uint32_t class_id, int64_t delta)
{
  uint8_t key[LABELS_MAX_FIELD_NAME + 8];
  int kl = count_key(field, class_id, key);
  MDB_val k = { (size_t)kl, key }, v;
  uint64_t c = 0;
  int r;

  if (kl < 0)
    return txn_fail(t, kl);
  r = t_get(t, DB_COUNTS, &k, &v);
  if (r == 0 && v.mv_size == 8)
    memcpy(&c, v.mv_data, 8);
  else if (r < 0 && r != -ENOENT)
    return r;
  c = (uint64_t)((int64_t)c + delta);
  if (c == 0)
    return r == 0 ? t_del(t, DB_COUNTS, &k) : 0;
  v.mv_size = 8;
  v.mv_data = &c;
  return t_put(t, DB_COUNTS, &k, &v, 0);
}

int store_count_get(struct store_txn *t, const char *field, uint32_t class_id,
                    uint64_t *ret)
{
  uint8_t key[LABELS_MAX_FIELD_NAME + 8];
  int kl = count_key(field, class_id, key);
  MDB_val k = { (size_t)kl, key }, v;
  int r;

  TXN_GUARD(t, false);
  if (kl < 0)
    return kl;
  *ret = 0;
  r = t_get(t, DB_COUNTS, &k, &v);
  if (r == 0 && v.mv_size == 8)
    memcpy(ret, v.mv_data, 8);
  return r == -ENOENT ? 0 : r;
}

int store_counts_each(struct store_txn *t,
                      int (*fn)(const char *field, uint32_t class_id,
                                uint64_t count, void *ud),
                      void *ud)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc, r = 0;

  TXN_GUARD(t, false);
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_COUNTS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    char field[LABELS_MAX_FIELD_NAME + 1];
    size_t fl = k.mv_size - 5;
    uint64_t cnt;

    if (k.mv_size < 6 || fl > LABELS_MAX_FIELD_NAME || v.mv_size != 8)
      continue;
    memcpy(field, k.mv_data, fl);
    field[fl] = '\0';
    memcpy(&cnt, v.mv_data, 8);
    r = fn(field, rd_be32((const uint8_t *)k.mv_data + fl + 1), cnt, ud);
    if (r)
      break;
  }
  mdb_cursor_close(c);
  return r < 0 ? r : 0;
}

int store_labels_get(struct store_txn *t, uint64_t sample_id,
                     struct labels *ret)
{
  MDB_cursor *c;
  uint8_t pre[8];
  MDB_val k = { 8, pre }, v;
  int rc, r = 0;

  labels_init(ret);
  TXN_GUARD(t, false);
  be64(pre, sample_id);
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_LABELS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (r == 0 && rc == 0 && k.mv_size > 8 &&
         memcmp(k.mv_data, pre, 8) == 0) {
    char field[LABELS_MAX_FIELD_NAME + 1];
    size_t fl = k.mv_size - 8;
    struct label_field *f;

    if (fl > LABELS_MAX_FIELD_NAME) {
      r = -EIO;
      break;
    }
    memcpy(field, (const char *)k.mv_data + 8, fl);
    field[fl] = '\0';
    f = labels_field(ret, field, true);
    if (!f) {
      r = -ENOMEM;
      break;
    }
    r = labels_field_decode(v.mv_data, v.mv_size, f);
    for (size_t i = 0; r == 0 && i < f->n; i++) {
      const char *name;
      r = store_class_name(t, f->d[i].class_id, &name);
      if (r == 0) {
        f->d[i].label = strdup(name);
        if (!f->d[i].label)
          r = -ENOMEM;
      }
    }
    if (r == 0)
      rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (r == 0 && rc && rc != MDB_NOTFOUND)
    r = store_errno(rc);
  if (r < 0) {
    labels_free(ret);
    if (r == -EBADMSG || r == -ENOENT || r == -EIO)
      return bad_record(t, "labels", sample_id);
    return txn_fail(t, r);
  }
  return 0;
}

int store_labels_put(struct store_txn *t, uint64_t sample_id,
                     struct labels *l)
{
  struct sample s;
  uint8_t pre[8];
  struct buf b;
  int r;

  TXN_GUARD(t, true);
  r = store_sample_get(t, sample_id, &s);
  if (r < 0)
    return r;
  be64(pre, sample_id);
  r = del_prefix(t, DB_LABELS, pre, drop_label_counts);
  buf_init(&b, 1u << 30);
  for (size_t i = 0; r == 0 && i < l->n; i++) {
    struct label_field *f = &l->f[i];
    uint8_t key[8 + LABELS_MAX_FIELD_NAME];
    size_t fl = strlen(f->name);
    MDB_val k = { 8 + fl, key }, v;

    if (!labels_field_name_valid(f->name)) {
      r = -EINVAL;
      break;
    }
    for (size_t j = 0; r == 0 && j < f->n; j++) {
      struct detection *d = &f->d[j];
      if (!d->class_id) {
        if (!d->label) {
          r = -EINVAL;
          break;
        }
        r = store_class_id(t, d->label, true, &d->class_id);
      }
      if (r == 0 && !d->id)
        r = next_id(t, "next:label", &d->id);
      if (r == 0)
        r = count_add(t, f->name, d->class_id, 1);
    }
    if (r < 0)
      break;
    if (f->n == 0)
      continue;  /* an empty field is not stored */
    memcpy(key, pre, 8);
    memcpy(key + 8, f->name, fl);
    buf_reset(&b);
    r = labels_field_encode(f, &b);
    if (r < 0)
      break;
    v.mv_size = b.len;
    v.mv_data = b.data;
    r = t_put(t, DB_LABELS, &k, &v, 0);
  }
  buf_free(&b);
  if (r == 0) {
    /* Re-read: the puts above may have moved the record's pages. */
    r = store_sample_get(t, sample_id, &s);
    if (r == 0) {
      s.labels_version++;
      s.labels_mtime_ns = time_now_ns();
      r = store_sample_put(t, &s, NULL);
    }
  }
  return txn_fail(t, r);
}

/* ---- dataset version ---- */

int store_version(struct store_txn *t, uint64_t *ret)
{
  int r;

  TXN_GUARD(t, false);
  *ret = 0;
  r = get_u64(t->txn, t->s->dbi[DB_META], "version", ret);
  return r == -ENOENT ? 0 : txn_fail(t, r);
}

/* ---- records ---- */

/* Record keys are "<ns>\0<key bytes>" in one table. */
static int rec_key(const char *ns, const void *key, size_t klen,
                   uint8_t *out, MDB_val *k)
{
  size_t nl = strlen(ns);

  if (nl == 0 || nl + 1 + klen > STORE_REC_KEY_MAX)
    return -ENAMETOOLONG;
  memcpy(out, ns, nl + 1);
  if (klen)
    memcpy(out + nl + 1, key, klen);
  k->mv_size = nl + 1 + klen;
  k->mv_data = out;
  return 0;
}

int store_rec_get(struct store_txn *t, const char *ns, const void *key,
                  size_t klen, const void **ret_val, size_t *ret_len)
{
  uint8_t kb[STORE_REC_KEY_MAX];
  MDB_val k, v;
  int r;

  TXN_GUARD(t, false);
  if ((r = rec_key(ns, key, klen, kb, &k)) < 0)
    return r;
  r = t_get(t, DB_RECORDS, &k, &v);
  if (r < 0)
    return r;
  *ret_val = v.mv_data;
  *ret_len = v.mv_size;
  return 0;
}

int store_rec_put(struct store_txn *t, const char *ns, const void *key,
                  size_t klen, const void *val, size_t vlen)
{
  uint8_t kb[STORE_REC_KEY_MAX];
  MDB_val k, v = { vlen, (void *)val };
  int r;

  TXN_GUARD(t, true);
  if ((r = rec_key(ns, key, klen, kb, &k)) < 0)
    return txn_fail(t, r == -ENAMETOOLONG ? -EINVAL : r);
  return t_put(t, DB_RECORDS, &k, &v, 0);
}

int store_rec_del(struct store_txn *t, const char *ns, const void *key,
                  size_t klen)
{
  uint8_t kb[STORE_REC_KEY_MAX];
  MDB_val k;
  int r;

  TXN_GUARD(t, true);
  if ((r = rec_key(ns, key, klen, kb, &k)) < 0)
    return r;
  return t_del(t, DB_RECORDS, &k);
}

int store_rec_each(struct store_txn *t, const char *ns, const void *prefix,
                   size_t plen, bool del,
                   int (*fn)(const void *key, size_t klen, const void *val,
                             size_t vlen, void *ud),
                   void *ud)
{
  uint8_t kb[STORE_REC_KEY_MAX];
  MDB_val k, v;
  MDB_cursor *c;
  size_t pl;
  int rc, r = 0;

  TXN_GUARD(t, del);
  if ((r = rec_key(ns, prefix, plen, kb, &k)) < 0)
    return r;
  pl = k.mv_size;
  rc = mdb_cursor_open(t->txn, t->s->dbi[DB_RECORDS], &c);
  if (rc)
    return txn_fail(t, store_errno(rc));
  if (del)
    t->dirty = true;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= pl && memcmp(k.mv_data, kb, pl) == 0) {
    size_t nl = strlen(ns) + 1;
    if (fn) {
      r = fn((const uint8_t *)k.mv_data + nl, k.mv_size - nl, v.mv_data,
             v.mv_size, ud);
      if (r)
        break;
    }
    if (del) {
      rc = mdb_cursor_del(c, 0);
      if (rc)
        break;
      rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    } else {
      rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
  }
  mdb_cursor_close(c);
  if (r)
    return r < 0 ? txn_fail(t, r) : r;
  if (rc && rc != MDB_NOTFOUND && rc != EINVAL)
    return txn_fail(t, store_errno(rc));
  return 0;
}

void store_key_u64(uint8_t out[8], uint64_t v)
{
  be64(out, v);
}

uint64_t store_key_rd_u64(const void *p)
{
  return rd_be64(p);
}

const char *store_full_hint(void)
{
  if (last_full == 0)
    return NULL;
  if (last_full == 1)
    return "the store's map is full: unmount and mount again with a larger "
           "-o map_size=BYTES (nothing was lost)";
  return "the disk holding the store is full: free space there and retry "
         "(nothing was lost)";
}

/* ---- consistency check and repair ----
 *
 * The deep check reads every table in one transaction.  Primary tables
 * (samples, tagids, tagmem, classids, labels, records, meta) are decoded
 * row by row; a row that does not decode or points at something that does
 * not exist is a problem of its own.  From the good primary rows it
 * computes what every derived table (names, paths, tags, sampletags,
 * classes, counts, and the member count inside each tag record) must hold
 * and compares it with what is stored.  With repair, the same pass runs in
 * a write transaction and rewrites each table that differs: primaries
 * without their bad rows, derived tables from the primaries.  A B-tree
 * LMDB itself reports as damaged cannot be trusted for an in-place
 * rewrite, so repair refuses then. */

struct kv {
  uint8_t *k, *v;
  size_t kl, vl;
};

struct kvvec {
  struct kv *a;
  size_t n, cap;
};

static int kv_add(struct kvvec *vv, const void *k, size_t kl, const void *v,
                  size_t vl)
{
  struct kv *e;

  if (vv->n == vv->cap) {
    size_t nc = vv->cap ? vv->cap * 2 : 256;
    struct kv *na = realloc(vv->a, nc * sizeof(*na));
    if (!na)
      return -ENOMEM;
    vv->a = na;
    vv->cap = nc;
  }
  e = &vv->a[vv->n];
  e->k = malloc(kl + vl + 1);
  if (!e->k)
    return -ENOMEM;
  memcpy(e->k, k, kl);
  if (vl)
    memcpy(e->k + kl, v, vl);
  e->v = e->k + kl;
  e->kl = kl;
  e->vl = vl;
  vv->n++;
  return 0;
}

static void kv_free(struct kvvec *vv)
{
  for (size_t i = 0; i < vv->n; i++)
    free(vv->a[i].k);
  free(vv->a);
  memset(vv, 0, sizeof(*vv));
}

/* LMDB's default key order: bytes, then the shorter key first. */
static int key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
  int c = memcmp(a, b, al < bl ? al : bl);
  return c ? c : (al < bl ? -1 : al > bl);
}

static int kv_cmp(const void *pa, const void *pb)
{
  const struct kv *a = pa, *b = pb;
  return key_cmp(a->k, a->kl, b->k, b->kl);
}

/* qsort and bsearch without their undefined case (a NULL base, even with
 * no elements). */
static void sort_n(void *a, size_t n, size_t size,
                   int (*cmp)(const void *, const void *))
{
  if (n > 1)
    qsort(a, n, size, cmp);
}

static void *find_n(const void *key, const void *a, size_t n, size_t size,
                    int (*cmp)(const void *, const void *))
{
  return n ? bsearch(key, a, n, size, cmp) : NULL;
}

static int u64_cmp(const void *pa, const void *pb)
{
  uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
  return a < b ? -1 : a > b;
}

struct named { uint64_t id; char *name; char *path; };

static int named_cmp(const void *pa, const void *pb)
{
  const struct named *a = pa, *b = pb;
  int o = strcmp(a->name, b->name);
  return o ? o : (a->id < b->id ? -1 : a->id > b->id);
}

struct chk_rows {
  struct named *a;
  size_t n, cap;
};

struct chk {
  struct chk_rows samples, tags; /* good records: id, name (path) */
  struct store_txn *t;
  void (*fn)(const char *msg, void *ud);
  void *ud;
  uint64_t problems;
  bool fatal;                   /* a B-tree LMDB calls damaged */
  bool stuck;                   /* damage repair cannot decide about */
  bool rewrite[DB_MAX];         /* table differs from what it must hold */
  struct kvvec want[DB_MAX];    /* what each table must hold */
  uint64_t *sids, *tids, *cids; /* good ids, sorted */
  size_t nsids, ntids, ncids;
  uint64_t max_label;
  unsigned reported[DB_MAX];
};

static void __attribute__((format(printf, 3, 4)))
chk_say(struct chk *c, int db, const char *fmt, ...)
{
  char msg[700];
  int n;
  va_list ap;

  c->problems++;
  if (db >= 0 && ++c->reported[db] > 20) {
    if (c->reported[db] == 21 && c->fn)
      c->fn("(further problems of this table not listed)", c->ud);
    return;
  }
  n = snprintf(msg, sizeof(msg), "%s: ", db >= 0 ? db_names[db] : "store");
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
  va_end(ap);
  if (c->fn)
    c->fn(msg, c->ud);
}

static bool has_id(const uint64_t *a, size_t n, uint64_t id)
{
  return find_n(&id, a, n, sizeof(*a), u64_cmp) != NULL;
}

/* Appends to an array whose capacity is the next power of two. */
static int ids_add(uint64_t **a, size_t *n, uint64_t id)
{
  if ((*n & (*n - 1)) == 0) {
    uint64_t *na = realloc(*a, (*n ? *n * 2 : 1) * sizeof(**a));
    if (!na)
      return -ENOMEM;
    *a = na;
  }
  (*a)[(*n)++] = id;
  return 0;
}

/* Walks a table, calling fn on each row; fn returns 1 to keep the row in
 * want[db] as it is, 0 to drop it (it reported why), or -errno.  LMDB
 * errors mark the check fatal. */
static int chk_walk(struct chk *c, int db,
                    int (*fn)(struct chk *, const MDB_val *, const MDB_val *))
{
  MDB_cursor *cur;
  MDB_val k, v;
  MDB_stat st;
  uint64_t rows = 0;
  bool opened;
  int rc, r = 0;

  rc = mdb_cursor_open(c->t->txn, c->t->s->dbi[db], &cur);
  opened = rc == 0;
  for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    rows++;
    r = fn ? fn(c, &k, &v) : 1;
    if (r < 0)
      break;
    if (r == 1 && (r = kv_add(&c->want[db], k.mv_data, k.mv_size,
                              v.mv_data, v.mv_size)) < 0)
      break;
    r = 0;
  }
  if (opened)
    mdb_cursor_close(cur);
  if (r < 0)
    return r;
  if (rc != MDB_NOTFOUND) {
    chk_say(c, db, "the table's B-tree is damaged: %s", mdb_strerror(rc));
    c->fatal = true;
    return 0;
  }
  if (mdb_stat(c->t->txn, c->t->s->dbi[db], &st) == 0 &&
      st.ms_entries != rows) {
    chk_say(c, db, "LMDB counts %zu entries, the table holds %llu",
            st.ms_entries, (unsigned long long)rows);
    c->rewrite[db] = true;
  }
  if (c->want[db].n != rows)
    c->rewrite[db] = true;
  return 0;
}

/* Compares a table with want[db] (sorted here); differences are reported
 * once per table with the first differing key's position. */
static int chk_compare(struct chk *c, int db, const char *from)
{
  struct kvvec *w = &c->want[db];
  MDB_cursor *cur;
  MDB_val k, v;
  size_t i = 0, diff = 0, extra = 0;
  bool opened;
  int rc;

  sort_n(w->a, w->n, sizeof(*w->a), kv_cmp);
  for (size_t j = 1; j < w->n; j++)
    if (kv_cmp(&w->a[j - 1], &w->a[j]) == 0) {
      chk_say(c, db, "two records want the same key; repair cannot choose "
              "between them");
      c->stuck = true;
      return 0;
    }
  rc = mdb_cursor_open(c->t->txn, c->t->s->dbi[db], &cur);
  opened = rc == 0;
  for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    int o = i < w->n ? key_cmp(k.mv_data, k.mv_size, w->a[i].k, w->a[i].kl)
                     : -1;
    if (o < 0) {
      extra++;
      continue;
    }
    while (o > 0) {  /* wanted rows missing from the table */
      diff++;
      if (++i >= w->n)
        break;
      o = key_cmp(k.mv_data, k.mv_size, w->a[i].k, w->a[i].kl);
    }
    if (o < 0) {
      extra++;
      continue;
    }
    if (o == 0) {
      if (v.mv_size != w->a[i].vl ||
          (v.mv_size && memcmp(v.mv_data, w->a[i].v, v.mv_size) != 0))
        diff++;
      i++;
    }
  }
  if (opened)
    mdb_cursor_close(cur);
  if (rc != MDB_NOTFOUND) {
    chk_say(c, db, "the table's B-tree is damaged: %s", mdb_strerror(rc));
    c->fatal = true;
    return 0;
  }
  diff += w->n - i;
  if (diff || extra) {
    chk_say(c, db, "%zu entries missing or different and %zu unexpected, "
            "compared with %s", diff, extra, from);
    c->rewrite[db] = true;
  }
  return 0;
}

static int hex_key(const MDB_val *k, char *out, size_t n)
{
  size_t j = 0;
  for (size_t i = 0; i < k->mv_size && j + 3 < n; i++)
    j += (size_t)snprintf(out + j, n - j, "%02x",
                          ((const uint8_t *)k->mv_data)[i]);
  out[j] = '\0';
  return 0;
}

static int row_meta(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  static const char *const u64keys[] = {
    "schema", "version", "next:sample", "next:tag", "next:class",
    "next:label",
  };
  for (size_t i = 0; i < sizeof(u64keys) / sizeof(*u64keys); i++)
    if (k->mv_size == strlen(u64keys[i]) &&
        memcmp(k->mv_data, u64keys[i], k->mv_size) == 0 && v->mv_size != 8) {
      chk_say(c, DB_META, "'%s' holds %zu bytes, not 8", u64keys[i],
              v->mv_size);
      return 0;
    }
  return 1;
}

static int named_add(struct chk_rows *rows, uint64_t id, const char *name,
                     const char *path)
{
  if (rows->n == rows->cap) {
    size_t nc = rows->cap ? rows->cap * 2 : 64;
    struct named *na = realloc(rows->a, nc * sizeof(*na));
    if (!na)
      return -ENOMEM;
    rows->a = na;
    rows->cap = nc;
  }
  rows->a[rows->n].id = id;
  rows->a[rows->n].name = strdup(name);
  rows->a[rows->n].path = path ? strdup(path) : NULL;
  if (!rows->a[rows->n].name || (path && !rows->a[rows->n].path))
    return -ENOMEM;
  rows->n++;
  return 0;
}

static void named_free(struct chk_rows *rows)
{
  for (size_t i = 0; i < rows->n; i++) {
    free(rows->a[i].name);
    free(rows->a[i].path);
  }
  free(rows->a);
  memset(rows, 0, sizeof(*rows));
}

static int row_sample(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  struct sample s;
  char hex[40];

  if (sample_decode(k, v, &s) < 0) {
    hex_key(k, hex, sizeof(hex));
    chk_say(c, DB_SAMPLES, "the record under key %s does not decode", hex);
    return 0;
  }
  return named_add(&c->samples, s.id, s.name, s.relpath) < 0 ? -ENOMEM : 1;
}

static int row_tag(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  const char *name;
  uint64_t id;

  if (k->mv_size != 8 || tag_decode(v, &name, NULL, NULL) < 0 ||
      !store_tag_name_valid(name) || (id = rd_be64(k->mv_data)) == 0 ||
      id > 0xffff) {
    char hex[40];
    hex_key(k, hex, sizeof(hex));
    chk_say(c, DB_TAGIDS, "the tag record under key %s does not decode", hex);
    return 0;
  }
  return named_add(&c->tags, id, name, NULL) < 0 ? -ENOMEM : 1;
}

static int row_tagmem(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  uint64_t tid, sid;

  if (k->mv_size != 16 || v->mv_size != 0) {
    chk_say(c, DB_TAGMEM, "a membership key of %zu bytes (value %zu bytes)",
            k->mv_size, v->mv_size);
    return 0;
  }
  tid = rd_be64(k->mv_data);
  sid = rd_be64((const uint8_t *)k->mv_data + 8);
  if (!has_id(c->tids, c->ntids, tid) || !has_id(c->sids, c->nsids, sid)) {
    chk_say(c, DB_TAGMEM, "tag %llu member %llu: %s",
            (unsigned long long)tid, (unsigned long long)sid,
            has_id(c->tids, c->ntids, tid) ? "no such sample" : "no such tag");
    return 0;
  }
  return 1;
}

/* A classids record: be32 id (not 0) -> name NUL [supercategory NUL],
 * both valid class names, nothing else. */
static bool classid_ok(const MDB_val *k, const MDB_val *v)
{
  const char *p = v->mv_data;
  size_t nl;

  if (k->mv_size != 4 || rd_be32(k->mv_data) == 0 || v->mv_size < 2 ||
      p[v->mv_size - 1] != '\0')
    return false;
  nl = strlen(p);
  if (!labels_class_name_valid(p))
    return false;
  if (nl + 1 == v->mv_size)
    return true;
  return strlen(p + nl + 1) == v->mv_size - nl - 2 &&
         labels_class_name_valid(p + nl + 1);
}

static int row_classid(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  if (!classid_ok(k, v)) {
    char hex[40];
    hex_key(k, hex, sizeof(hex));
    chk_say(c, DB_CLASSIDS, "the class under key %s does not decode", hex);
    return 0;
  }
  return ids_add(&c->cids, &c->ncids, rd_be32(k->mv_data)) < 0 ? -ENOMEM
                                                               : 1;
}

static int row_label(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  struct label_field f = { 0 };
  char field[LABELS_MAX_FIELD_NAME + 1];
  size_t fl = k->mv_size > 8 ? k->mv_size - 8 : 0;
  uint64_t sid = k->mv_size >= 8 ? rd_be64(k->mv_data) : 0;
  const char *why = NULL;
  int r = 0;

  if (fl == 0 || fl > LABELS_MAX_FIELD_NAME) {
    why = "bad key";
  } else {
    memcpy(field, (const char *)k->mv_data + 8, fl);
    field[fl] = '\0';
    if (memchr(field, 0, fl) || !labels_field_name_valid(field))
      why = "bad field name";
    else if (!has_id(c->sids, c->nsids, sid))
      why = "no such sample";
    else if ((r = labels_field_decode(v->mv_data, v->mv_size, &f)) < 0)
      why = r == -ENOMEM ? NULL : "the record does not decode";
    else if (f.n == 0)
      why = "an empty field is never stored";
  }
  for (size_t i = 0; !why && r == 0 && i < f.n; i++)
    if (!has_id(c->cids, c->ncids, f.d[i].class_id))
      why = "a box of an unknown class";
  for (size_t i = 0; !why && r == 0 && i < f.n; i++) {
    uint8_t key[LABELS_MAX_FIELD_NAME + 8];
    uint64_t one = 1;
    int kl = count_key(field, f.d[i].class_id, key);
    if (f.d[i].id > c->max_label)
      c->max_label = f.d[i].id;
    r = kl < 0 ? kl : kv_add(&c->want[DB_COUNTS], key, (size_t)kl, &one, 8);
  }
  for (size_t i = 0; i < f.n; i++)
    detection_clear(&f.d[i]);
  free(f.d);
  if (r == -ENOMEM)
    return r;
  if (why) {
    chk_say(c, DB_LABELS, "sample %llu field '%s': %s",
            (unsigned long long)sid, fl && fl <= LABELS_MAX_FIELD_NAME
                                         ? field : "?", why);
    return 0;
  }
  return 1;
}

static int row_record(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  (void)v;
  if (k->mv_size < 2 || !memchr(k->mv_data, 0, k->mv_size) ||
      ((const char *)k->mv_data)[0] == '\0') {
    chk_say(c, DB_RECORDS, "a key of %zu bytes without a namespace",
            k->mv_size);
    return 0;
  }
  return 1;
}

/* Drops duplicate names (the lower id keeps it) from rows sorted by name,
 * and sorts the good ids into *ids. */
static int dedupe(struct chk *c, int db, struct chk_rows *rows,
                  uint64_t **ids, size_t *nids)
{
  size_t j = 0;

  sort_n(rows->a, rows->n, sizeof(*rows->a), named_cmp);
  for (size_t i = 0; i < rows->n; i++) {
    if (j && strcmp(rows->a[j - 1].name, rows->a[i].name) == 0) {
      chk_say(c, db, "%llu has the name '%s' of %llu; dropped",
              (unsigned long long)rows->a[i].id, rows->a[i].name,
              (unsigned long long)rows->a[j - 1].id);
      free(rows->a[i].name);
      free(rows->a[i].path);
      continue;
    }
    rows->a[j++] = rows->a[i];
  }
  rows->n = j;
  for (size_t i = 0; i < rows->n; i++)
    if (ids_add(ids, nids, rows->a[i].id) < 0)
      return -ENOMEM;
  sort_n(*ids, *nids, sizeof(**ids), u64_cmp);
  return 0;
}

/* Keeps only the rows of want[db] whose 8-byte key prefix is in ids. */
static void keep_ids(struct kvvec *w, const uint64_t *ids, size_t n)
{
  size_t j = 0;
  for (size_t i = 0; i < w->n; i++) {
    if (w->a[i].kl >= 8 && has_id(ids, n, rd_be64(w->a[i].k)))
      w->a[j++] = w->a[i];
    else
      free(w->a[i].k);
  }
  w->n = j;
}

static int chk_counter(struct chk *c, const char *key, uint64_t need)
{
  uint64_t v = 0;
  struct kvvec *w = &c->want[DB_META];
  size_t kl = strlen(key);
  size_t i;

  for (i = 0; i < w->n; i++)
    if (w->a[i].kl == kl && memcmp(w->a[i].k, key, kl) == 0)
      break;
  if (i < w->n)
    memcpy(&v, w->a[i].v, 8);
  if (v ? v >= need : need <= 1)
    return 0;
  chk_say(c, DB_META, "'%s' is %llu but ids up to %llu are in use", key,
          (unsigned long long)v, (unsigned long long)(need - 1));
  if (i < w->n) {
    memcpy(w->a[i].v, &need, 8);
    return 0;
  }
  return kv_add(w, key, kl, &need, 8);
}

static int chk_run(struct chk *c)
{
  int r;
  uint64_t maxs = 0, maxt = 0, maxc = 0;

  if ((r = chk_walk(c, DB_META, row_meta)) < 0 ||
      (r = chk_walk(c, DB_SAMPLES, row_sample)) < 0 ||
      (r = chk_walk(c, DB_TAGIDS, row_tag)) < 0 ||
      (r = chk_walk(c, DB_CLASSIDS, row_classid)) < 0)
    return r;
  if (c->fatal)
    return 0;
  /* Duplicate names: the records go, so does anything pointing at them. */
  if ((r = dedupe(c, DB_SAMPLES, &c->samples, &c->sids, &c->nsids)) < 0 ||
      (r = dedupe(c, DB_TAGIDS, &c->tags, &c->tids, &c->ntids)) < 0)
    return r;
  sort_n(c->cids, c->ncids, sizeof(*c->cids), u64_cmp);
  keep_ids(&c->want[DB_SAMPLES], c->sids, c->nsids);
  keep_ids(&c->want[DB_TAGIDS], c->tids, c->ntids);
  if ((r = chk_walk(c, DB_TAGMEM, row_tagmem)) < 0 ||
      (r = chk_walk(c, DB_LABELS, row_label)) < 0 ||
      (r = chk_walk(c, DB_RECORDS, row_record)) < 0)
    return r;
  if (c->fatal)
    return 0;

  /* Derived tables from the primaries. */
  for (size_t i = 0; i < c->samples.n; i++) {
    uint8_t id[8];
    be64(id, c->samples.a[i].id);
    if ((r = kv_add(&c->want[DB_NAMES], c->samples.a[i].name,
                    strlen(c->samples.a[i].name), id, 8)) < 0)
      return r;
    if ((r = kv_add(&c->want[DB_PATHS], c->samples.a[i].path,
                    strlen(c->samples.a[i].path), id, 8)) < 0)
      return r;
  }
  for (size_t i = 0; i < c->tags.n; i++) {
    uint8_t id[8];
    be64(id, c->tags.a[i].id);
    if ((r = kv_add(&c->want[DB_TAGS], c->tags.a[i].name,
                    strlen(c->tags.a[i].name), id, 8)) < 0)
      return r;
  }
  for (size_t i = 0; i < c->want[DB_TAGMEM].n; i++) {
    const uint8_t *k = c->want[DB_TAGMEM].a[i].k;
    uint8_t sk[16];
    memcpy(sk, k + 8, 8);
    memcpy(sk + 8, k, 8);
    if ((r = kv_add(&c->want[DB_SAMPLETAGS], sk, 16, "", 0)) < 0)
      return r;
  }
  /* Member counts inside the tag records. */
  {
    struct kvvec *tg = &c->want[DB_TAGIDS];
    uint64_t *n = calloc(tg->n + 1, sizeof(*n));
    if (!n)
      return -ENOMEM;
    sort_n(tg->a, tg->n, sizeof(*tg->a), kv_cmp);
    for (size_t j = 0; j < c->want[DB_TAGMEM].n; j++) {
      struct kv key = { .k = c->want[DB_TAGMEM].a[j].k, .kl = 8 };
      struct kv *e = find_n(&key, tg->a, tg->n, sizeof(*tg->a), kv_cmp);
      if (e)
        n[e - tg->a]++;
    }
    for (size_t i = 0; i < tg->n; i++) {
      struct kv *e = &tg->a[i];
      uint64_t had;
      memcpy(&had, e->v, 8);
      if (had == n[i])
        continue;
      chk_say(c, DB_TAGIDS, "tag %llu counts %llu members, it has %llu",
              (unsigned long long)rd_be64(e->k), (unsigned long long)had,
              (unsigned long long)n[i]);
      memcpy(e->v, &n[i], 8);
      c->rewrite[DB_TAGIDS] = true;
    }
    free(n);
  }
  for (size_t i = 0; i < c->want[DB_CLASSIDS].n; i++) {
    struct kv *e = &c->want[DB_CLASSIDS].a[i];
    uint32_t id = rd_be32(e->k);
    if ((r = kv_add(&c->want[DB_CLASSES], e->v, strlen((char *)e->v), &id,
                    4)) < 0)
      return r;
  }
  /* Box counts: one row per box so far; merge equal keys. */
  {
    struct kvvec *w = &c->want[DB_COUNTS];
    size_t j = 0;
    sort_n(w->a, w->n, sizeof(*w->a), kv_cmp);
    for (size_t i = 0; i < w->n; i++) {
      if (j && kv_cmp(&w->a[j - 1], &w->a[i]) == 0) {
        uint64_t a, b;
        memcpy(&a, w->a[j - 1].v, 8);
        memcpy(&b, w->a[i].v, 8);
        a += b;
        memcpy(w->a[j - 1].v, &a, 8);
        free(w->a[i].k);
        continue;
      }
      w->a[j++] = w->a[i];
    }
    w->n = j;
  }
  if (c->ncids && c->want[DB_CLASSES].n) {
    /* Two class ids with one name cannot both be looked up by name. */
    sort_n(c->want[DB_CLASSES].a, c->want[DB_CLASSES].n,
          sizeof(struct kv), kv_cmp);
    for (size_t i = 1; i < c->want[DB_CLASSES].n; i++)
      if (kv_cmp(&c->want[DB_CLASSES].a[i - 1],
                 &c->want[DB_CLASSES].a[i]) == 0) {
        chk_say(c, DB_CLASSIDS, "two class ids share one name; repair "
                "cannot choose between them");
        c->stuck = true;
        return 0;
      }
  }
  if ((r = chk_compare(c, DB_NAMES, "the sample records")) < 0 ||
      (r = chk_compare(c, DB_PATHS, "the sample records")) < 0 ||
      (r = chk_compare(c, DB_TAGS, "the tag records")) < 0 ||
      (r = chk_compare(c, DB_SAMPLETAGS, "the tag members")) < 0 ||
      (r = chk_compare(c, DB_CLASSES, "the class records")) < 0 ||
      (r = chk_compare(c, DB_COUNTS, "the label records")) < 0)
    return r;
  for (int db = 0; db < DB_MAX; db++)
    if (c->want[db].n > 1 && db != DB_NAMES && db != DB_PATHS &&
        db != DB_TAGS && db != DB_SAMPLETAGS && db != DB_CLASSES &&
        db != DB_COUNTS)
      sort_n(c->want[db].a, c->want[db].n, sizeof(struct kv), kv_cmp);

  for (size_t i = 0; i < c->nsids; i++)
    maxs = c->sids[i] > maxs ? c->sids[i] : maxs;
  for (size_t i = 0; i < c->ntids; i++)
    maxt = c->tids[i] > maxt ? c->tids[i] : maxt;
  for (size_t i = 0; i < c->ncids; i++)
    maxc = c->cids[i] > maxc ? c->cids[i] : maxc;
  {
    size_t before = c->problems;
    if ((r = chk_counter(c, "next:sample", maxs + 1)) < 0 ||
        (r = chk_counter(c, "next:tag", maxt + 1)) < 0 ||
        (r = chk_counter(c, "next:class", maxc + 1)) < 0 ||
        (r = chk_counter(c, "next:label", c->max_label + 1)) < 0)
      return r;
    if (c->problems != before) {
      c->rewrite[DB_META] = true;
      sort_n(c->want[DB_META].a, c->want[DB_META].n, sizeof(struct kv),
            kv_cmp);
    }
  }
  return 0;
}

static int chk_rewrite(struct chk *c)
{
  for (int db = 0; db < DB_MAX; db++) {
    MDB_dbi dbi = c->t->s->dbi[db];
    int rc;

    if (!c->rewrite[db])
      continue;
    rc = mdb_drop(c->t->txn, dbi, 0);
    for (size_t i = 0; rc == 0 && i < c->want[db].n; i++) {
      MDB_val k = { c->want[db].a[i].kl, c->want[db].a[i].k };
      MDB_val v = { c->want[db].a[i].vl, c->want[db].a[i].v };
      rc = mdb_put(c->t->txn, dbi, &k, &v, MDB_APPEND);
    }
    if (rc)
      return txn_fail(c->t, store_errno(rc));
    c->t->dirty = true;
  }
  return 0;
}

int store_record_check(const char *table, const void *key, size_t klen,
                       const void *val, size_t vlen)
{
  MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };

  if (strcmp(table, "samples") == 0) {
    struct sample smp;
    return sample_decode(&k, &v, &smp) < 0 ? -EIO : 0;
  }
  if (strcmp(table, "tagids") == 0) {
    const char *name;
    if (klen != 8 || tag_decode(&v, &name, NULL, NULL) < 0 ||
        !store_tag_name_valid(name))
      return -EIO;
    return 0;
  }
  if (strcmp(table, "labels") == 0) {
    struct label_field f = { 0 };
    int r = labels_field_decode(val, vlen, &f);
    for (size_t i = 0; i < f.n; i++)
      detection_clear(&f.d[i]);
    free(f.d);
    return r == -EBADMSG ? -EIO : r;
  }
  if (strcmp(table, "classids") == 0)
    return classid_ok(&k, &v) ? 0 : -EIO;
  return -EINVAL;
}

int store_check(struct store *s, bool repair,
                void (*fn)(const char *msg, void *ud), void *ud,
                uint64_t *ret_problems)
{
  struct chk c = { .fn = fn, .ud = ud };
  int r;

  r = store_txn_begin(s, repair, &c.t);
  if (r < 0)
    return r;
  r = chk_run(&c);
  if (r == 0 && repair && c.problems && !c.fatal && !c.stuck)
    r = chk_rewrite(&c);
  if (r == 0 && repair && c.problems && !c.fatal && !c.stuck)
    r = store_txn_commit(c.t);
  else
    store_txn_abort(c.t);
  for (int db = 0; db < DB_MAX; db++)
    kv_free(&c.want[db]);
  named_free(&c.samples);
  named_free(&c.tags);
  free(c.sids);
  free(c.tids);
  free(c.cids);
  if (r == 0 && c.fatal)
    r = -EIO;
  else if (r == 0 && c.stuck && repair)
    r = -ENOTRECOVERABLE;
  *ret_problems = c.problems;
  return r;
}

/* LMDB writes the copy with the process umask; a store is the owner's
 * alone (0600), as store_open() makes it. */
static int snapshot_private(const char *dir)
{
  char data[4096];

  snprintf(data, sizeof(data), "%s/data.mdb", dir);
  return chmod(data, 0600) < 0 ? -1 : 0;
}

int store_snapshot(struct store *s, const char *out)
{
  char *tmp = NULL;
  int rc, r = 0;

  if (access(out, F_OK) == 0)
    return -EEXIST;
  if (asprintf(&tmp, "%s.part-%ld", out, (long)getpid()) < 0)
    return -ENOMEM;
  if (mkdir(tmp, 0700) < 0) {
    r = -errno;
    free(tmp);
    return r;
  }
  rc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT);
  if (rc) {
    r = store_errno(rc);
    log_msg(LOG_LVL_ERROR, "snapshot of %s: %s", s->dir, mdb_strerror(rc));
  } else if (snapshot_private(tmp) < 0 ||
             renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE) < 0) {
    r = -errno;   /* NOREPLACE: not even onto an empty folder */
  }
  if (r < 0) {
    char data[4096];
    snprintf(data, sizeof(data), "%s/data.mdb", tmp);
    unlink(data);
    rmdir(tmp);
  }
  free(tmp);
  return r;
}
