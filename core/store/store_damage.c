/* store_damage.c - a store damaged behind LMDB's back, in words (see
 * store_i.h for where this sits in the store module).
 *
 * Three things live here, none of which touches a table: the thread's
 * reason for a failed store_open() (store_open_error()), the first damage
 * this process met (store_damage()), and the fault guard that turns a
 * fault inside a store's map, or an LMDB assertion, into a message naming
 * the store instead of a crash.  The cheap size checks of data.mdb that
 * store_open() runs before and after mapping the file are here too: they
 * are what makes a fault the exception.
 */
#define _GNU_SOURCE  /* program_invocation_short_name */
#include "store_i.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <ucontext.h>
#include <unistd.h>

/* The first damage this process met, in words (store_damage()): -EIO
 * alone would leave the user with "Input/output error".  damage_lock
 * guards damage_text, which is written once. */
static pthread_mutex_t damage_lock = PTHREAD_MUTEX_INITIALIZER;
static char damage_text[700];

void store_note_damage(const struct store *s, const char *fmt, ...)
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

/* ---- why an open failed ----
 *
 * Why the open failed, in words naming the file (thread-local, so two
 * threads opening stores do not mix their messages). */
static __thread char open_detail[600];

const char *store_open_error(void)
{
  return open_detail[0] ? open_detail : NULL;
}

void store_open_detail(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(open_detail, sizeof(open_detail), fmt, ap);
  va_end(ap);
}

void store_open_detail_clear(void)
{
  open_detail[0] = '\0';
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
/* Serialises the writers of guards[] (store_open, store_close); the
 * signal handler takes no lock and reads each slot with atomics. */
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

/* Who holds guard_lock, for the asserts of the *_locked helpers. */
static __thread bool guard_lock_mine;

static void guard_lock_take(void)
{
  pthread_mutex_lock(&guard_lock);
  guard_lock_mine = true;
}

static void guard_lock_drop(void)
{
  assert(guard_lock_mine);
  guard_lock_mine = false;
  pthread_mutex_unlock(&guard_lock);
}

/* Fills a free slot with the range and the message: its index, or -1
 * when all are taken (the store is then unguarded).  The handler reads a
 * slot once its base is set, so the base is stored last. */
static int guard_fill_locked(const struct store *s, uintptr_t base,
                             size_t len)
{
  assert(guard_lock_mine);
  for (int i = 0; i < GUARD_SLOTS; i++) {
    if (atomic_load(&guards[i].base))
      continue;
    snprintf(guards[i].msg, sizeof(guards[i].msg),
             "%s: store '%s' is damaged: reading %s/data.mdb hit a damaged "
             "or missing page; run `curate check --store %s`\n",
             program_invocation_short_name, s->dir, s->dir, s->dir);
    atomic_store(&guards[i].len, len);
    atomic_store(&guards[i].base, base);
    return i;
  }
  return -1;
}

int store_guard_add(struct store *s)
{
  uintptr_t base;
  size_t len;
  int slot;

  if (map_range(s->dir, &base, &len) < 0)
    return -1;
  pthread_once(&guard_once, guard_install);
  guard_lock_take();
  slot = guard_fill_locked(s, base, len);
  guard_lock_drop();
  return slot;
}

void store_guard_del(int slot)
{
  if (slot < 0)
    return;
  assert(slot < GUARD_SLOTS);
  guard_lock_take();
  assert(atomic_load(&guards[slot].base) != 0);
  atomic_store(&guards[slot].base, 0);
  atomic_store(&guards[slot].len, 0);
  guard_lock_drop();
}

/* LMDB's own consistency assertions (a page of the wrong kind where a
 * leaf must be, ...) would abort(); they mean the same as a fault in the
 * map, so they end the process the same way. */
void store_lmdb_assert(MDB_env *env, const char *msg)
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
int store_size_before_open(const char *dir)
{
  char path[4200];
  struct stat st;

  snprintf(path, sizeof(path), "%s/data.mdb", dir);
  if (stat(path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISREG(st.st_mode)) {
    store_open_detail("%s is not a regular file", path);
    return -EIO;
  }
  if (st.st_size < 2 * 4096) {
    store_open_detail("%s is damaged: %lld bytes, shorter than LMDB's two "
                      "meta pages", path, (long long)st.st_size);
    return -EIO;
  }
  return 0;
}

int store_size_after_open(struct store *s)
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
    store_open_detail("%s is truncated: %lld bytes, but its pages need "
                      "%llu", path, (long long)st.st_size, need);
    return -EIO;
  }
  if (need > info.me_mapsize) {
    store_open_detail("%s is damaged: its meta page counts %llu bytes of "
                      "pages, more than the map of %zu bytes", path, need,
                      info.me_mapsize);
    return -EIO;
  }
  return 0;
}

/* What an LMDB code means for a store file, for open_detail. */
void store_open_detail_rc(const char *dir, int rc)
{
  if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
      rc == MDB_VERSION_MISMATCH || rc == MDB_INCOMPATIBLE)
    store_open_detail("%s/data.mdb is damaged: %s", dir, mdb_strerror(rc));
  else if (rc == ENOMEM || rc == EINVAL)
    store_open_detail("%s/data.mdb cannot be mapped (%s): its meta pages "
                      "are damaged or the map size is beyond this machine",
                      dir, strerror(rc));
}
