/* views.c - the view cache (see views.h): one slot per computed view,
 * holding its last list and the fingerprint of the inputs it was computed
 * from.  The computing is viewcompute.c's; the lists kept in the store's
 * folder between processes are viewsave.c's. */
#include "views.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ident.h"
#include "viewsave.h"

struct view_slot {
  struct view_list *cur;   /* last result (the slot's reference), or NULL */
  uint64_t fp;             /* the inputs it was computed from */
  uint64_t fp_version;     /* store version fp_seen was computed at ... */
  uint64_t fp_seen;        /* ... (walking the inputs is O(samples)) */
  bool busy;               /* a computation is running */
  uint64_t done, total;    /* its progress */
  double seconds;          /* how long the last computation took */
  bool loaded;             /* the list was read from the store's folder */
  int save_err;            /* why it could not be kept there, or 0 */
};

struct views {
  struct store *s;
  pthread_mutex_t mu;      /* guards slot[] (every field) */
  pthread_cond_t cv;       /* broadcast when a computation ends */
  /* Debug builds: who holds mu, for assert_held(). */
  pthread_t owner;
  int held;
  struct view_slot slot[VIEW_KINDS];
  int stop;                /* views_stop(): atomic, read by computations */
  bool nokeep;             /* views_keep(false): set before any use */
  /* The store's folder, opened once at views_new() (a link put in its
   * place later leads nowhere else), or -errno; and its owner, whose
   * rights the kept lists are read and written with (a daemon or `curate`
   * run by root must make nothing there as root), or owner_err < 0. */
  int dirfd;
  int owner_err;
  struct ident store_owner;
  /* Whether the temporary files dead writers left in the folder were
   * removed (viewsave_sweep(), before this process's first write; a
   * process that only reads removes nothing).  Under mu. */
  bool swept;
  /* The dupes view's verdicts per sample, kept between its computations
   * (viewcompute.h); used only by the one computing it (slot busy). */
  struct dupes_memo dupes_memo;
  uint64_t emb_version;    /* store version + 1 emb_fp was taken at ... */
  uint64_t emb_fp;         /* ... (viewcompute_embedding_fp; under mu) */
};

/* Every view of views/: the computed ones (enum view_kind order), then
 * the evaluation ones. */
static const char *const all_views[] = {
  "unique", "near-duplicates", "dupes",
  "mistakes", "possible-missing", "possible-spurious",
};

/* ---- the lock, with its holder recorded for asserts ---- */

static void assert_held(struct views *v)
{
  assert(__atomic_load_n(&v->held, __ATOMIC_RELAXED) &&
         pthread_equal(v->owner, pthread_self()) &&
         "views.mu must be held here");
  (void)v;
}

static void mark_held(struct views *v)
{
  v->owner = pthread_self();
  __atomic_store_n(&v->held, 1, __ATOMIC_RELAXED);
}

static void lock(struct views *v)
{
  pthread_mutex_lock(&v->mu);
  mark_held(v);
}

static void unlock(struct views *v)
{
  assert_held(v);
  __atomic_store_n(&v->held, 0, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&v->mu);
}

static void wait_change(struct views *v)
{
  assert_held(v);
  __atomic_store_n(&v->held, 0, __ATOMIC_RELAXED);
  pthread_cond_wait(&v->cv, &v->mu);
  mark_held(v);
}

/* ---- names ---- */

int views_kind_parse(const char *name, enum view_kind *ret)
{
  size_t l = strlen(name);

  if (l && name[l - 1] == '/')
    l--;  /* "views/dupes/" as a shell completes it */
  for (int i = 0; i < VIEW_KINDS; i++)
    if (strlen(all_views[i]) == l && strncmp(all_views[i], name, l) == 0) {
      *ret = (enum view_kind)i;
      return 0;
    }
  return -ENOENT;
}

const char *const *views_all_names(size_t *ret_n)
{
  *ret_n = ARRAY_SIZE(all_views);
  return all_views;
}

/* ---- life cycle ---- */

/* The store's folder and its owner, for the kept lists.  The owner is the
 * folder's as opened: looked up by path, then checked against the open
 * folder, so a swap in between gives an error, not another owner. */
static void open_folder(struct views *v)
{
  struct stat st;
  int r;

  v->dirfd = open(store_dir(v->s), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (v->dirfd < 0) {
    v->dirfd = v->owner_err = -errno;
    return;
  }
  r = ident_of_owner(store_dir(v->s), &v->store_owner);
  if (r == 0 && fstat(v->dirfd, &st) < 0)
    r = -errno;
  if (r == 0 && st.st_uid != v->store_owner.uid)
    r = -EPERM;
  v->owner_err = r;
}

int views_new(struct store *s, struct views **ret)
{
  struct views *v = calloc(1, sizeof(*v));

  if (!v)
    return -ENOMEM;
  v->s = s;
  open_folder(v);
  pthread_mutex_init(&v->mu, NULL);
  pthread_cond_init(&v->cv, NULL);
  *ret = v;
  return 0;
}

void views_free(struct views *v)
{
  if (!v)
    return;
  for (int i = 0; i < VIEW_KINDS; i++) {
    assert(!v->slot[i].busy && "views_free() during a computation");
    view_list_put(v->slot[i].cur);
  }
  if (v->dirfd >= 0)
    close(v->dirfd);
  dupes_memo_free(&v->dupes_memo);
  pthread_mutex_destroy(&v->mu);
  pthread_cond_destroy(&v->cv);
  free(v);
}

void views_keep(struct views *v, bool on)
{
  v->nokeep = !on;
}

struct store *views_store(const struct views *v)
{
  return v->s;
}

/* ---- getting a list ---- */

/* The embedding views' shared fingerprint at store version ver, walked
 * once per version for both views. */
static int emb_fp(struct views *v, struct store_txn *t, uint64_t ver,
                  uint64_t *ret)
{
  bool known;
  int r;

  lock(v);
  known = v->emb_version == ver + 1;
  *ret = v->emb_fp;
  unlock(v);
  if (known)
    return 0;
  if ((r = viewcompute_embedding_fp(t, ret)) < 0)
    return r;
  lock(v);
  v->emb_version = ver + 1;
  v->emb_fp = *ret;
  unlock(v);
  return 0;
}

/* The fingerprint of a view's inputs as t sees them.  The inputs can only
 * change with the store version: fingerprint them once per version, not
 * once per lookup. */
static int slot_fp(struct views *v, struct store_txn *t, enum view_kind kind,
                   uint64_t *ret)
{
  struct view_slot *sl = &v->slot[kind];
  uint64_t ver = 0, emb = 0;
  bool known;
  int r = store_version(t, &ver);

  if (r < 0)
    return r;
  lock(v);
  known = sl->fp_version == ver + 1;
  *ret = sl->fp_seen;
  unlock(v);
  if (known)
    return 0;
  if (kind != VIEW_DUPES && (r = emb_fp(v, t, ver, &emb)) < 0)
    return r;
  r = viewcompute_inputs_fp(t, kind, emb, ret);
  if (r == 0) {
    lock(v);
    sl->fp_version = ver + 1;
    sl->fp_seen = *ret;
    unlock(v);
  }
  return r;
}

/* Takes the cached list when it was computed from `fp` (1, a reference in
 * *ret), else waits for a running computation and then claims the slot
 * for a new one (0: the caller computes and calls slot_publish()). */
static int slot_take_or_claim(struct views *v, struct view_slot *sl,
                              uint64_t fp, struct view_list **ret)
{
  lock(v);
  for (;;) {
    if (sl->cur && sl->fp == fp) {
      view_list_ref(sl->cur);
      *ret = sl->cur;
      unlock(v);
      return 1;
    }
    if (!sl->busy)
      break;
    wait_change(v);
  }
  sl->busy = true;
  sl->done = sl->total = 0;
  unlock(v);
  return 0;
}

/* Ends the computation the caller claimed: on success l (the caller's
 * reference, passed on in *ret) becomes the slot's list; waiters wake. */
static void slot_publish(struct views *v, struct view_slot *sl, uint64_t fp,
                         struct view_list *l, double seconds, bool loaded,
                         int save_err, struct view_list **ret)
{
  struct view_list *old = NULL;

  lock(v);
  assert(sl->busy);
  sl->busy = false;
  sl->seconds = seconds;
  sl->loaded = loaded;
  sl->save_err = save_err;
  if (l) {
    old = sl->cur;
    sl->cur = l;
    sl->fp = fp;
    view_list_ref(l);  /* the slot's */
    *ret = l;
  }
  pthread_cond_broadcast(&v->cv);
  unlock(v);
  view_list_put(old);
}

static int compute(struct views *v, struct store_txn *t, enum view_kind kind,
                   uint64_t fp, struct view_list **ret)
{
  struct view_slot *sl = &v->slot[kind];
  struct viewcompute_progress p = { &v->mu, &sl->done, &sl->total,
                                    &v->stop };
  struct view_list *l = view_list_new(), *near = NULL;
  int r = l ? 0 : -ENOMEM;

  /* views/unique ranks the near-duplicate groups' second members last:
   * it takes them from that view (computed now if it is not current), so
   * the groups' k-NN runs once for both.  No cycle: the near-duplicate
   * view needs no other. */
  if (r == 0 && kind == VIEW_UNIQUE)
    r = views_get_txn(v, t, VIEW_NEARDUP, &near);
  if (r == 0) {
    l->key = fp ? fp : 1;
    r = kind == VIEW_DUPES    ? viewcompute_dupes(t, &p, &v->dupes_memo, l)
        : kind == VIEW_UNIQUE ? viewcompute_unique(t, &p, near, l)
                              : viewcompute_neardup(t, &p, l);
  }
  view_list_put(near);
  if (r == 0)
    r = view_list_index(l);
  if (r < 0) {
    view_list_free(l);
    l = NULL;
  }
  *ret = l;
  return r;
}

/* Takes on the store folder owner's rights on this thread (a no-op when
 * the process is not root): 0 with *sv to restore, or -errno. */
static int become_owner(struct views *v, struct ident_saved *sv)
{
  return v->owner_err < 0 ? v->owner_err
                          : ident_become_id(&v->store_owner, sv);
}

/* The list kept in the store's folder for these inputs (indexed), or
 * -errno: then the caller computes.  The dupes view is not kept: it is
 * computed from the labels in about the time the file would take to
 * read, and its inputs change at every label edit. */
static int load(struct views *v, enum view_kind kind, uint64_t fp,
                struct view_list **ret, double *ret_seconds)
{
  struct ident_saved sv;
  int r;

  if (kind == VIEW_DUPES)
    return -ENOENT;
  if ((r = become_owner(v, &sv)) < 0)
    return r;
  r = viewsave_get(v->dirfd, kind, fp, ret, ret_seconds);
  ident_restore(&sv);
  if (r == 0 && (r = view_list_index(*ret)) < 0) {
    view_list_free(*ret);
    *ret = NULL;
  }
  return r;
}

/* Writes l to the store's folder as its owner: 0 or -errno. */
static int keep(struct views *v, enum view_kind kind, uint64_t fp,
                const struct view_list *l, double seconds)
{
  struct ident_saved sv;
  int r = become_owner(v, &sv);
  bool sweep;

  if (r < 0)
    return r;
  lock(v);
  sweep = !v->swept;
  v->swept = true;
  unlock(v);
  /* The files this process makes are the owner's only when it switched
   * to the owner (root); a writer that is not root makes its own, and
   * removes only its own. */
  if (sweep)
    viewsave_sweep(v->dirfd, sv.switched ? v->store_owner.uid : geteuid());
  r = viewsave_put(v->dirfd, kind, fp, l, seconds);
  ident_restore(&sv);
  return r;
}

int views_get_txn(struct views *v, struct store_txn *t, enum view_kind kind,
                  struct view_list **ret)
{
  struct view_slot *sl;
  struct view_list *l;
  uint64_t fp;
  double t0, secs = 0;
  bool loaded = false;
  int r, save_err = 0;

  *ret = NULL;
  if ((unsigned)kind >= VIEW_KINDS)
    return -EINVAL;
  sl = &v->slot[kind];
  r = slot_fp(v, t, kind, &fp);
  if (r < 0)
    return r;
  if (slot_take_or_claim(v, sl, fp, ret))
    return 0;
  t0 = time_mono();
  l = NULL;
  if (__atomic_load_n(&v->stop, __ATOMIC_RELAXED)) {
    r = -ECANCELED;
  } else if (load(v, kind, fp, &l, &secs) == 0) {
    loaded = true;
    r = 0;
  } else {
    r = compute(v, t, kind, fp, &l);
    secs = time_mono() - t0;
    if (r == 0 && kind != VIEW_DUPES && !v->nokeep)
      save_err = keep(v, kind, fp, l, secs);
  }
  slot_publish(v, sl, fp, l, secs, loaded, save_err, ret);
  return r;
}

int views_get(struct views *v, enum view_kind kind, struct view_list **ret)
{
  struct store_txn *t;
  int r = store_txn_begin(v->s, false, &t);

  *ret = NULL;
  if (r < 0)
    return r;
  r = views_get_txn(v, t, kind, ret);
  store_txn_abort(t);
  return r;
}

void views_stop(struct views *v)
{
  __atomic_store_n(&v->stop, 1, __ATOMIC_RELAXED);
}

const int *views_stop_flag(const struct views *v)
{
  return &v->stop;
}

void views_progress(struct views *v, struct buf *out)
{
  lock(v);
  for (int i = 0; i < VIEW_KINDS; i++) {
    struct view_slot *sl = &v->slot[i];
    if (sl->busy)
      buf_printf(out, "  %-16s computing %" PRIu64 "/%" PRIu64 "\n",
                 all_views[i], sl->done, sl->total);
    else if (sl->cur)
      buf_printf(out, "  %-16s %zu samples (computed in %.2f s%s%s%s)%s%s\n",
                 all_views[i], sl->cur->n, sl->seconds,
                 sl->loaded ? "; read from the store folder" : "",
                 sl->save_err ? "; not kept in the store folder: " : "",
                 sl->save_err ? strerror(-sl->save_err) : "",
                 sl->cur->note[0] ? ": " : "", sl->cur->note);
    else
      buf_printf(out, "  %-16s not computed yet (computed when listed)\n",
                 all_views[i]);
  }
  unlock(v);
}
