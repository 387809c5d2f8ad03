/* viewsave.c - computed view lists kept as files in the store's folder
 * (see viewsave.h).  The file, in the host's byte order (a byte-order mark
 * refuses a file from another kind of machine):
 *
 *   0   16 bytes  magic "curatefs-views\0\0"
 *   16  u32 file version (1)     20  u32 byte-order mark 0x01020304
 *   24  u32 view kind            28  u32 VIEWCOMPUTE_VERSION
 *   32  u64 fingerprint of the inputs
 *   40  u64 n items   48 u64 n_scored   56 u64 nbr_k
 *   64  f64 seconds the computation took
 *   72  200 bytes note (NUL-terminated)
 *   272 32 bytes the build's version and its sources' id (NUL-padded)
 *   304 items: n x (u64 sample id, u32 rank, u32 0)
 *       scored ids: n_scored x u64, scores: n_scored x f64,
 *       nearest distances: n_scored x f32, padded to 8 bytes,
 *       neighbours: n_scored x nbr_k x u32, padded to 8 bytes
 *   end u64 checksum of every byte before it
 */
#define _GNU_SOURCE   /* O_NOFOLLOW */
#include "viewsave.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import_hash.h"
#include "similarity.h"
#include "util.h"
#include "viewcompute_id.h"

#define MAGIC "curatefs-views\0"
#define FILE_VERSION 1u
#define BOM 0x01020304u
#define HEAD 304u
/* Larger files are refused unread: 2^28 bytes hold far more samples than
 * one store's map admits in practice (about 3 million with neighbours). */
#define FILE_MAX ((size_t)1 << 28)

static const char *const names[VIEW_KINDS] = {
  "unique", "near-duplicates", "dupes",
};

/* The store's content hash (XXH3, import_hash.h), its first 8 bytes. */
uint64_t viewsave_checksum(const uint8_t *p, size_t n)
{
  struct import_hasher h;
  uint8_t out[16];
  uint64_t v;

  import_hasher_begin(&h);
  import_hasher_add(&h, p, n);
  import_hasher_end(&h, out);
  memcpy(&v, out, 8);
  return v;
}

static size_t pad8(size_t n)
{
  return (n + 7) & ~(size_t)7;
}

/* Bytes of the body for these counts, or 0 when they overflow or pass
 * FILE_MAX. */
static size_t body_size(uint64_t n, uint64_t ns, uint64_t k)
{
  uint64_t lim = FILE_MAX;

  if (n > lim / 16 || ns > lim / 24 || (ns && k > lim / 4 / ns))
    return 0;
  uint64_t s = HEAD + n * 16 + ns * 16 + pad8(ns * 4) + pad8(ns * k * 4) + 8;
  return s > lim ? 0 : (size_t)s;
}

static int path_of(char *out, size_t cap, enum view_kind kind,
                   const char *suffix)
{
  int k = snprintf(out, cap, "views.%s.cache%s", names[kind], suffix);
  return k < 0 || (size_t)k >= cap ? -ENAMETOOLONG : 0;
}

/* The build's version and the id of the sources that compute the lists
 * (scripts/source_id.py, generated at build time): a list kept by a build
 * of other sources is computed again. */
void viewsave_build_id(char out[32])
{
  memset(out, 0, 32);
  snprintf(out, 32, "%.14s-%s", CURATEFS_VERSION, VIEWCOMPUTE_SOURCE_ID);
}

/* ---- reading ---- */

/* Whether the header at b (HEAD bytes) is a file of this format for this
 * view, inputs and code: 0, -ENOENT (other inputs or code) or -EBADMSG. */
static int head_ours(const uint8_t *b, enum view_kind kind, uint64_t fp)
{
  uint32_t ver, bom, k, cver;
  uint64_t f;
  char build[32];

  if (memcmp(b, MAGIC, 16) != 0)
    return -EBADMSG;
  memcpy(&ver, b + 16, 4);
  memcpy(&bom, b + 20, 4);
  memcpy(&k, b + 24, 4);
  memcpy(&cver, b + 28, 4);
  memcpy(&f, b + 32, 8);
  if (bom != BOM || ver != FILE_VERSION)
    return -EBADMSG;
  viewsave_build_id(build);
  if (k != (uint32_t)kind || cver != VIEWCOMPUTE_VERSION || f != fp ||
      memcmp(build, b + 272, 32) != 0)
    return -ENOENT;
  return 0;
}

/* The file at path, read whole when its header is ours (head_ours()):
 * after a change of inputs only its header is read. */
static int read_file(int dirfd, const char *name, enum view_kind kind,
                     uint64_t fp, uint8_t **ret, size_t *ret_n)
{
  /* O_NONBLOCK: a FIFO in the file's place must not hang the open (it
   * then fails the regular-file test). */
  int fd = openat(dirfd, name,
                  O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  struct stat st;
  uint8_t *p;
  int r;

  *ret = NULL;
  if (fd < 0)
    return errno == ELOOP ? -EBADMSG : -errno;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < HEAD + 8 ||
      (uint64_t)st.st_size > FILE_MAX) {
    close(fd);
    return -EBADMSG;
  }
  if (!(p = malloc((size_t)st.st_size))) {
    close(fd);
    return -ENOMEM;
  }
  r = fd_pread_all(fd, p, HEAD, 0);
  if (r == 0)
    r = head_ours(p, kind, fp);
  if (r == 0)
    r = fd_pread_all(fd, p + HEAD, (size_t)st.st_size - HEAD, HEAD);
  close(fd);
  if (r < 0) {
    free(p);
    return r;
  }
  *ret = p;
  *ret_n = (size_t)st.st_size;
  return 0;
}

/* The whole file in b (n bytes): its header (head_ours()), counts and
 * checksum; its counts in *ni, *ns, *nk.  -ENOENT (other inputs or code)
 * or -EBADMSG. */
static int check_head(const uint8_t *b, size_t n, enum view_kind kind,
                      uint64_t fp, uint64_t *ni, uint64_t *ns, uint64_t *nk)
{
  uint64_t sum;
  int r;

  if (n < HEAD + 8 || n > FILE_MAX)
    return -EBADMSG;
  if ((r = head_ours(b, kind, fp)) < 0)
    return r;
  memcpy(ni, b + 40, 8);
  memcpy(ns, b + 48, 8);
  memcpy(nk, b + 56, 8);
  if (body_size(*ni, *ns, *nk) != n || *ni > UINT32_MAX ||
      *ns > UINT32_MAX || !memchr(b + 72, '\0', 200))
    return -EBADMSG;
  memcpy(&sum, b + n - 8, 8);
  return sum == viewsave_checksum(b, n - 8) ? 0 : -EBADMSG;
}

/* A new list with room for ni items and ns scored samples with nk
 * neighbours each, or NULL. */
static struct view_list *list_alloc(uint64_t ni, uint64_t ns, uint64_t nk)
{
  struct view_list *l = view_list_new();

  if (!l)
    return NULL;
  l->n = ni;
  l->n_scored = ns;
  l->nbr_k = ns ? nk : 0;
  l->items = malloc(ni ? ni * sizeof(*l->items) : 1);
  if (ns) {
    l->scored_ids = malloc(ns * sizeof(*l->scored_ids));
    l->score = malloc(ns * sizeof(*l->score));
    l->nn_dist = malloc(ns * sizeof(*l->nn_dist));
    if (nk)
      l->nbr = malloc(ns * nk * sizeof(*l->nbr));
  }
  if (!l->items || (ns && (!l->scored_ids || !l->score || !l->nn_dist ||
                           (nk && !l->nbr)))) {
    view_list_free(l);
    return NULL;
  }
  return l;
}

int viewsave_parse(const uint8_t *b, size_t n, enum view_kind kind,
                   uint64_t fp, struct view_list **ret, double *ret_seconds)
{
  uint64_t ni, ns, nk;
  struct view_list *l;
  const uint8_t *p;
  int r;

  *ret = NULL;
  *ret_seconds = 0;
  if ((unsigned)kind >= VIEW_KINDS)
    return -EINVAL;
  if ((r = check_head(b, n, kind, fp, &ni, &ns, &nk)) < 0)
    return r;
  if (!(l = list_alloc(ni, ns, nk)))
    return -ENOMEM;
  nk = l->nbr_k;
  l->key = fp ? fp : 1;
  memcpy(l->note, b + 72, sizeof(l->note));
  p = b + HEAD;
  for (size_t i = 0; i < ni; i++, p += 16) {
    memcpy(&l->items[i].sample_id, p, 8);
    memcpy(&l->items[i].rank, p + 8, 4);
    if (l->items[i].sample_id == 0)
      goto bad;
  }
  if (ns) {
    memcpy(l->scored_ids, p, ns * 8);
    p += ns * 8;
    memcpy(l->score, p, ns * 8);
    p += ns * 8;
    memcpy(l->nn_dist, p, ns * 4);
    p += pad8(ns * 4);
    if (nk)
      memcpy(l->nbr, p, ns * nk * 4);
  }
  /* What readers rely on: scored ids ascending (view_list_score searches
   * them), neighbours rows of the scored set or SIM_NONE. */
  for (size_t i = 1; i < ns; i++)
    if (l->scored_ids[i] <= l->scored_ids[i - 1])
      goto bad;
  for (size_t i = 0; i < ns * nk; i++)
    if (l->nbr[i] != SIM_NONE && l->nbr[i] >= ns)
      goto bad;
  memcpy(ret_seconds, b + 64, 8);
  *ret = l;
  return 0;
bad:
  view_list_free(l);
  return -EBADMSG;
}

int viewsave_get(int dirfd, enum view_kind kind, uint64_t fp,
                 struct view_list **ret, double *ret_seconds)
{
  char path[64];
  uint8_t *b;
  size_t n = 0;
  int r;

  *ret = NULL;
  *ret_seconds = 0;
  if ((unsigned)kind >= VIEW_KINDS)
    return -EINVAL;
  if (dirfd < 0)
    return dirfd;
  if ((r = path_of(path, sizeof(path), kind, "")) < 0)
    return r;
  if ((r = read_file(dirfd, path, kind, fp, &b, &n)) < 0)
    return r;
  r = viewsave_parse(b, n, kind, fp, ret, ret_seconds);
  free(b);
  return r;
}

/* ---- writing ---- */

/* Writes the n bytes at b into a new file named tmp and renames it over
 * path: the way of filesystems that refuse O_TMPFILE.  A crash leaves the
 * temporary file, which viewsave_sweep() removes later.  Any file left at
 * tmp is removed first: O_EXCL then creates a file of our own, never
 * opening a FIFO or link left in its place. */
static int write_named(int dirfd, const char *path, const char *tmp,
                       const uint8_t *b, size_t n)
{
  int fd, r;

  if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
    return -errno;
  fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  r = fd_write_all(fd, b, n, -1);
  if (close(fd) < 0 && r == 0)
    r = -errno;
  if (r == 0 && renameat(dirfd, tmp, dirfd, path) < 0)
    r = -errno;
  if (r < 0)
    unlinkat(dirfd, tmp, 0);
  return r;
}

/* Replaces the file path of dirfd by the n bytes at b.  The bytes go to a
 * file with no name (O_TMPFILE), so a crash while they are written leaves
 * nothing; once whole, the file is given the name tmp and renamed over
 * path (Linux can link a nameless file but not over an existing name): a
 * crash between those two calls is the only one that leaves a name
 * behind.  Filesystems without O_TMPFILE (EOPNOTSUPP, or EISDIR from a
 * kernel that does not know the flag) and a system without /proc (which
 * names the open file for linkat) take write_named(). */
static int write_replace(int dirfd, const char *path, const char *tmp,
                         const uint8_t *b, size_t n)
{
  char self[64];
  int fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  int r;

  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR))
    return write_named(dirfd, path, tmp, b, n);
  if (fd < 0)
    return -errno;
  r = fd_write_all(fd, b, n, -1);
  if (r == 0 && unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
    r = -errno;
  snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
  if (r == 0 && linkat(AT_FDCWD, self, dirfd, tmp, AT_SYMLINK_FOLLOW) < 0) {
    r = -errno;
    if (r == -ENOENT && access("/proc/self/fd", X_OK) < 0) {
      close(fd);
      return write_named(dirfd, path, tmp, b, n);
    }
  }
  close(fd);
  if (r == 0 && renameat(dirfd, tmp, dirfd, path) < 0) {
    r = -errno;
    unlinkat(dirfd, tmp, 0);
  }
  return r;
}

int viewsave_put(int dirfd, enum view_kind kind, uint64_t fp,
                 const struct view_list *l, double seconds)
{
  char path[64], tmp[96], sfx[32];
  uint64_t ns = l->n_scored, nk = l->n_scored ? l->nbr_k : 0;
  size_t n = body_size(l->n, ns, nk);
  uint32_t u;
  uint8_t *b, *p;
  int r;

  if ((unsigned)kind >= VIEW_KINDS)
    return -EINVAL;
  if (n == 0)
    return -EFBIG;
  snprintf(sfx, sizeof(sfx), ".tmp-%ld", (long)getpid());
  if (dirfd < 0)
    return dirfd;
  if ((r = path_of(path, sizeof(path), kind, "")) < 0 ||
      (r = path_of(tmp, sizeof(tmp), kind, sfx)) < 0)
    return r;
  if (!(b = calloc(1, n)))
    return -ENOMEM;
  memcpy(b, MAGIC, 16);
  u = FILE_VERSION;
  memcpy(b + 16, &u, 4);
  u = BOM;
  memcpy(b + 20, &u, 4);
  u = (uint32_t)kind;
  memcpy(b + 24, &u, 4);
  u = VIEWCOMPUTE_VERSION;
  memcpy(b + 28, &u, 4);
  memcpy(b + 32, &fp, 8);
  memcpy(b + 40, &(uint64_t){ l->n }, 8);
  memcpy(b + 48, &ns, 8);
  memcpy(b + 56, &nk, 8);
  memcpy(b + 64, &seconds, 8);
  snprintf((char *)b + 72, 200, "%s", l->note);
  viewsave_build_id((char *)b + 272);
  p = b + HEAD;
  for (size_t i = 0; i < l->n; i++, p += 16) {
    memcpy(p, &l->items[i].sample_id, 8);
    memcpy(p + 8, &l->items[i].rank, 4);
  }
  if (ns) {
    memcpy(p, l->scored_ids, ns * 8);
    p += ns * 8;
    memcpy(p, l->score, ns * 8);
    p += ns * 8;
    memcpy(p, l->nn_dist, ns * 4);
    p += pad8(ns * 4);
    if (nk)
      memcpy(p, l->nbr, ns * nk * 4);
  }
  uint64_t sum = viewsave_checksum(b, n - 8);
  memcpy(b + n - 8, &sum, 8);
  r = write_replace(dirfd, path, tmp, b, n);
  free(b);
  return r;
}

/* ---- stale temporary files ---- */

/* The process id in a name `views.<view>.cache.tmp-<pid>` of a view this
 * build knows, or 0 when the name is anything else. */
static pid_t tmp_pid(const char *name)
{
  char pre[64];
  const char *d;
  long pid = 0;

  for (int k = 0; k < VIEW_KINDS; k++) {
    if (path_of(pre, sizeof(pre), (enum view_kind)k, ".tmp-") < 0 ||
        strncmp(name, pre, strlen(pre)) != 0)
      continue;
    d = name + strlen(pre);
    if (*d < '1' || *d > '9')
      return 0;
    for (; *d >= '0' && *d <= '9'; d++)
      if ((pid = pid * 10 + (*d - '0')) > INT_MAX)
        return 0;
    return *d ? 0 : (pid_t)pid;
  }
  return 0;
}

int viewsave_sweep(int dirfd, uid_t owner)
{
  struct dirent *de;
  struct stat st;
  DIR *d;
  int fd, removed = 0;
  pid_t pid, self = getpid();

  if (dirfd < 0)
    return dirfd;
  fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  if (!(d = fdopendir(fd))) {
    int e = errno;
    close(fd);
    return -e;
  }
  while ((de = readdir(d))) {
    if (!(pid = tmp_pid(de->d_name)) || pid == self)
      continue;
    /* A live process may be between its link and its rename; EPERM is
     * a live process of another user.  Only ESRCH says the writer is
     * gone. */
    if (kill(pid, 0) == 0 || errno != ESRCH)
      continue;
    if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(st.st_mode) || st.st_uid != owner)
      continue;
    if (unlinkat(dirfd, de->d_name, 0) == 0)
      removed++;
  }
  closedir(d);
  return removed;
}
