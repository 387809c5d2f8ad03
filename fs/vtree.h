/* vtree.h - the generated parts of the tree (config, classes, views/,
 * export/, cvat/, eval/, plots/) as "providers": each owns one top-level name and
 * answers stat / list / generate / write for paths below it, in plain path
 * terms.  Providers never see FUSE: ops.c turns their answers into replies.
 *
 *   top-level name  provider file    data comes from (core/)
 *   config          prov_config.c    store/config.h (store settings)
 *   classes         prov_classes.c   store/classes.h (the class schema)
 *   views/          prov_views.c     views/views.h (similarity, neardup,
 *                                    iou), views/evalrun.h for the
 *                                    evaluation views, image/draw.h
 *   export/         prov_export.c    formats/export.h
 *   cvat/           prov_cvat.c      cvat/cvat_sync.h (runs in the store)
 *   eval/           prov_eval.c      views/evalrun.h, formats/predictions.h
 *   plots/          prov_plots.c     store/featstore.h, image/plot.h
 *   samples.csv     prov_table.c     views/table.h (views, evalrun)
 *
 * Inodes of provider paths come from a table (vnode.c): a path gets an
 * inode when the kernel first looks it up and keeps it until the kernel
 * forgets it, so providers need no inode scheme of their own.
 *
 * Generated file content is produced once per (path, key) and cached
 * (gencache.c): small content in memory, large content in an unlinked
 * temporary file of the store directory, streamed as it is generated.  An
 * open file keeps the content it opened, so a reader of a changing export
 * sees one coherent version; the next open sees the new one.
 */
#ifndef CURATE_VTREE_H
#define CURATE_VTREE_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "sink.h"
#include "srcfile.h"

struct warm;
struct evalsel;

enum vent_kind {
  VENT_DIR,
  VENT_SAMPLE,  /* the original bytes of sample_id (served from source) */
  VENT_FILE,    /* generated, read-only */
  VENT_CTL,     /* generated on read, writable: writes go to ->write */
};

struct vent {
  enum vent_kind kind;
  uint64_t sample_id;   /* VENT_SAMPLE; for VENT_FILE the sample it shows
                           (a rename source for tagging), or 0 */
  uint64_t key;         /* VENT_FILE/CTL: same path + same key = same
                           bytes; 0 = volatile, regenerated at every open
                           and read with direct I/O */
  int64_t mtime_ns;     /* 0: a file's is its content's birth
                           (gen_born_ns), a directory's the mount time */
  uint64_t size;        /* filled in by the layer for generated files */
  bool recheck;         /* the name may lead elsewhere without a store
                           change (an evaluation view: its refresh check
                           is shared for a second): looked up at every
                           open, never cached by the kernel */
};

/* Where a provider's own state is kept (struct vtree_state.prov): one slot
 * per provider that has an ->init; the others keep no state. */
enum prov_slot {
  PROV_SLOT_NONE = 0,
  PROV_SLOT_CVAT,      /* prov_cvat.c: command results, push queue, worker */
  PROV_SLOT_EXPORT,    /* prov_export.c: recent selections and listings */
  PROV_SLOT_TABLE,     /* prov_table.c: whether samples.csv is in use */
  PROV_SLOT_PLOTS,     /* prov_plots.c: the last neighbour map */
  PROV_SLOTS,
};

/* Listing callback: returns non-zero to stop (reply buffer full).  cookie
 * is the provider's resume point after this entry (> 0, increasing). */
typedef int (*vent_fn)(const char *name, const struct vent *e,
                       uint64_t cookie, void *ud);

struct provider {
  const char *name;    /* top-level entry */
  /* Optional: creates the provider's state (at startup, before the
   * session, from state_init()) into *state, kept in slot `slot` and
   * reached with vtree_state(); destroy frees it at teardown, after
   * ->stop.  init returns 0 or -errno (the mount then fails). */
  enum prov_slot slot;
  int (*init)(struct fs_ctx *c, void **state);
  void (*destroy)(struct fs_ctx *c, void *state);
  /* path is relative to the provider's top ("" = the top itself).
   * Returns 0 or -ENOENT (or another -errno). */
  int (*stat)(struct fs_ctx *c, struct store_txn *t, const char *path,
              struct vent *ret);
  /* Lists directory `path` starting after cookie `from` (0 = start). */
  int (*list)(struct fs_ctx *c, struct store_txn *t, const char *path,
              uint64_t from, vent_fn fn, void *ud);
  /* Streams the content of a VENT_FILE / VENT_CTL. */
  int (*generate)(struct fs_ctx *c, struct store_txn *t, const char *path,
                  const struct sink *out);
  /* VENT_CTL only: a whole written document.  Returns 0 or -errno with
   * the reason already reported through fs_error(). */
  int (*write)(struct fs_ctx *c, const char *path, const char *data,
               size_t len);
  /* Optional: validates a document at each write that ends a line, so a
   * bad `echo ... >` fails at write(2); ->write applies it at close. */
  int (*check)(struct fs_ctx *c, const char *path, const char *data,
               size_t len);
  /* Optional: called with no transaction open, before the daemon serves
   * a request on path (below the provider's top), to bring up to date
   * what the request's read transaction will read: a stale evaluation
   * behind an evaluation view is re-run here, in a write transaction of
   * its own, never inside the request's read transaction. */
  int (*prepare)(struct fs_ctx *c, const char *path);
  /* The control files are commands: ->write runs at the first write that
   * ends a line (its errno is write(2)'s), not at close. */
  bool command;
  /* With command: a stream of line commands.  Each write that ends a line
   * runs the complete lines written since the last run (so a document
   * written in several write(2)s, `{ echo a; echo b; } > file` or one
   * larger than a write, runs whole, each write's lines in one ->write);
   * a refused write fails with its errno and later writes too, what
   * earlier writes ran stays. */
  bool lines;
  /* Optional: called once the store is open (background work to resume)
   * and at unmount, before the store closes. */
  void (*start)(struct fs_ctx *c);
  void (*stop)(struct fs_ctx *c);
  /* Optional: generate ahead what readers will want, after the store
   * settled on a new version (warm.c's thread). */
  void (*warm)(struct fs_ctx *c);
  /* stat's answers depend on the store's content alone (settings
   * included), so they hold while the store version does: lookups of
   * known versioned files skip ->stat (vnode_lookup_verified()). */
  bool by_version;
};

/* ---- vtree.c: the registry and the generated tree's state ---- */

/* What the generated tree keeps for the mount (c->vs), created by
 * vtree_init() before the session starts and freed by vtree_free() after
 * it ended: nothing here is created lazily, so no request thread ever
 * races to create it.  Each part has its own lock (stated where it is
 * defined); the pointers themselves never change while the session runs. */
struct vtree_state {
  const struct provider *const *providers;  /* vtree_providers */
  void *prov[PROV_SLOTS];     /* each provider's ->init state */
  struct warm *warm;          /* warm.c: the warming thread */
  struct evalsel *evalsel;    /* evalsel.c: the last fresh evaluation */
};

/* The state provider slot s created at startup (never NULL for a slot
 * of a provider with ->init). */
static inline void *vtree_state(struct fs_ctx *c, enum prov_slot s)
{
  return c->vs->prov[s];
}

/* Debug builds: asserts that mutex m is held.  trylock on a held mutex
 * fails with EBUSY; on a free one it succeeds and the assert aborts. */
#define VTREE_ASSERT_HELD(m) assert(pthread_mutex_trylock(m) == EBUSY)

/* Creates c->vs and every provider's state, in table order (state.c);
 * 0 or -errno, nothing left allocated on failure. */
int vtree_init(struct fs_ctx *c);
/* Frees them in the reverse order; after vtree_stop(). */
void vtree_free(struct fs_ctx *c);
/* Starts and stops the providers' background work and the warming
 * thread (main.c, once the store is open and before it closes). */
void vtree_start(struct fs_ctx *c);
void vtree_stop(struct fs_ctx *c);

/* The providers, one per file (prov_*.c), and their table (vtree.c),
 * NULL-terminated: adding a provider is a line here and a line there. */
extern const struct provider prov_config, prov_views, prov_export,
    prov_cvat, prov_eval, prov_plots, prov_classes, prov_table;
extern const struct provider *const vtree_providers[];
/* Finds the provider of a full path ("views/unique/x.jpg") and sets *rest
 * to the path below it ("unique/x.jpg", or "" for "views"). */
const struct provider *vtree_provider_of(const char *path, const char **rest);
/* Runs the ->prepare of the provider serving inode ino (with name below
 * it, for a lookup; NULL otherwise), if ino is a provider path and the
 * provider has one.  No transaction may be open.  Errors are the
 * provider's to report; the request goes on and reads what there is. */
void vtree_prepare(struct fs_ctx *c, uint64_t ino, const char *name);

/* ---- provlib.c: helpers the providers share ---- */

/* The store version as a content key (never 0): for content that may
 * change with any change of the store. */
uint64_t provlib_version_key(struct store_txn *t);
/* The same in a read transaction of its own; 0 if the store cannot be
 * read. */
uint64_t provlib_store_version(struct fs_ctx *c);
/* ->list of a provider that is a single file at its top: -ENOTDIR. */
int provlib_list_none(struct fs_ctx *c, struct store_txn *t,
                      const char *path, uint64_t from, vent_fn fn, void *ud);
/* ->generate of such a file rendered whole: render(t) into a buffer of
 * at most cap bytes, then written to out in one piece. */
int provlib_render(struct store_txn *t, size_t cap,
                   int (*render)(struct store_txn *t, struct buf *out),
                   const struct sink *out);
/* Sample ids of a selection named as in the tree: "samples", "tags/<t>",
 * "views/<v>" (views in their listed order, the others by id), read
 * within t (core/views/selection.h).  *ret is owned by the caller.
 * -ENOENT for an unknown name. */
int provlib_selection(struct fs_ctx *c, struct store_txn *t, const char *spec,
                      uint64_t **ret, size_t *ret_n);
/* The step before: re-runs the latest evaluation for an evaluation view
 * if its labels changed (a write transaction; nothing on a read-only
 * mount, which shows the stored run).  Call it before beginning the read
 * transaction provlib_selection() is given. */
int provlib_selection_prepare(struct fs_ctx *c, const char *spec);
/* Reads up to `size` bytes of fd into a new buffer. */
int provlib_read_whole(int fd, uint64_t size, uint8_t **ret,
                       size_t *ret_len);

/* ---- warm.c ---- */

/* The warming thread's state (vtree_state.warm). */
int warm_new(struct warm **ret);
void warm_free(struct warm *w);
/* Starts the thread (vtree_start) and stops it, waiting for it
 * (vtree_stop). */
void warm_start(struct fs_ctx *c);
void warm_stop_join(struct fs_ctx *c);
/* From a ->warm hook: whether to give up now, because of unmount or
 * because the store moved past the version being prepared.  Hooks ask it
 * between pieces of work; the thread may not get a CPU for a long time on
 * a busy machine (nice 19), and unmount waits for it. */
bool warm_should_stop(struct fs_ctx *c);
/* From a ->warm hook: generates the versioned files of directory `dir`
 * of provider p (a path below its top) that the content cache lacks, one
 * by one; nothing when it has more than max_files.  Stops early:
 * -ECANCELED at unmount (checked before every file) or when the store
 * moved past the version being prepared (before the first file and every
 * few files), -ENOSPC when the cache is 3/4 full (0 when it did all). */
int warm_dir(struct fs_ctx *c, const struct provider *p, const char *dir,
             size_t max_files);


/* ---- fdcache.c: source descriptors for reads without a handle ---- */
struct fd_ref {
  void *slot;   /* the cache slot held, or NULL (fd is then the caller's) */
  int fd;
};
/* A descriptor of the sample's source file for one read; fdcache_put()
 * after the reply. */
int fdcache_get(struct fs_ctx *c, const struct sample *s, struct fd_ref *ret);
void fdcache_put(struct fs_ctx *c, struct fd_ref *ref);
/* c->fdc, created and freed by state.c. */
int fdcache_new(struct fs_ctx *c);
void fdcache_free(struct fs_ctx *c);

struct gen_content;

/* ---- vnode.c: inode numbers of provider paths ---- */

/* Versions.  A generated file whose content follows the store (content
 * key != 0) gets one inode per version: the inode of (path, key).  Its
 * attributes and the kernel's page cache of it then never change, and
 * the readers of an old version keep reading it on their inode while the
 * name leads to the new one.  The kernel keeps such names, and an open
 * that starts after a change still finds the new version: on a normal
 * mount the open of a superseded inode fails with ESTALE and the kernel
 * looks the path up again; on -o readonly the name epoch drops every
 * name at each change (node_vnode.c, vent_uncached; without the epoch
 * the names are looked up at every open).  Each such inode records its version's size and
 * mtime at its lookup, and holds its content if in a cache file, until the
 * kernel forgets it (vnode_pin()); so its attributes never change, and
 * its readers, with a handle or without one (-o readonly), get that
 * version.  Smaller content of an old version is served while the content
 * cache has it (an open handle holds its own), then made again from a
 * kept store snapshot that shows it (-o readonly, notify.c); a read by
 * inode after that, once the kernel has dropped its pages, gets ESTALE. */

/* Inode for a full path holding content `key` (0: not versioned),
 * created if needed: a record of another key is detached first.  Each
 * call counts one kernel lookup (the kernel forgets it later).  0 on out
 * of memory. */
uint64_t vnode_ino(struct fs_ctx *c, const char *path, uint64_t key);
/* Lookups by version.  For a provider whose answers follow the store
 * version alone (provider.by_version), a lookup that found the path's
 * current key at store version `ver` records it (vnode_set_verified());
 * a later lookup at the same version reuses that inode without asking the
 * provider (vnode_lookup_verified(): the inode, one lookup counted, or 0).
 * ver is the store version + 1 (never 0). */
uint64_t vnode_lookup_verified(struct fs_ctx *c, const char *path,
                               uint64_t ver);
void vnode_set_verified(struct fs_ctx *c, uint64_t ino, uint64_t ver);
/* Whether inode ino is still its path's inode and was found current at
 * store version ver (+1) (no lookup counted). */
bool vnode_is_verified(struct fs_ctx *c, uint64_t ino, uint64_t ver);
/* The store version (+1) an open's check read, with the commit its
 * transaction saw (store_txn_id()); and whether inode ino was found
 * current at that version while `commit` (store_last_commit(), read now)
 * is still that commit: then ino is current with no transaction. */
void vnode_note_version(struct fs_ctx *c, uint64_t commit, uint64_t ver);
bool vnode_verified_now(struct fs_ctx *c, uint64_t ino, uint64_t commit);
/* Records that inode ino was found to be a directory (a path is one kind
 * for as long as its inode lives: a change of kind is another lookup's
 * inode only if the kernel drops the name, which the attributes'
 * lifetime relies on, node_vnode.c). */
void vnode_set_dir(struct fs_ctx *c, uint64_t ino);
/* The kernel retries an open refused with ESTALE once, in the same
 * thread: it looks the path up again (LOOKUP_REVAL) and opens what that
 * lookup gave.  vnode_refused() notes that thread pid's open of ino's path
 * was refused; the thread's lookups of the path after it
 * (vnode_retry_looked_up(), called at the end of each) record the inode
 * they gave; the thread's next OPEN of the path takes the note
 * (vnode_take_retry_grace), true if it opens the inode the latest such
 * lookup gave: it then opens that version even if changes landed since,
 * as the open() call began before they ended.  No time limit: on a loaded
 * machine the OPEN may come seconds after the lookup (drawing a large
 * view, a starved CPU), and an annotator's writes meanwhile must not make
 * it fail.  Every other open is checked against the store as it is (an
 * open soon after some lookup is not enough: a label write between the
 * two would leave the next open the old crop).  One note per thread and
 * path, at most VNODE_RETRIES (the oldest goes first): a note whose retry
 * never opened (a thread killed between lookup and open) stays until the
 * thread's next open of the path or VNODE_RETRIES later refusals.  The
 * note keeps the looked-up version's content when the inode holds none
 * (small content: the cache may drop it before the OPEN comes), and
 * vnode_take_retry_grace() hands it to the open in *held (a reference, or
 * NULL; held may be NULL): at most VNODE_RETRIES versions are kept this
 * way. */
void vnode_refused(struct fs_ctx *c, uint64_t ino, uint32_t pid);
bool vnode_take_retry_grace(struct fs_ctx *c, uint64_t ino, uint32_t pid,
                            struct gen_content **held);
void vnode_retry_looked_up(struct fs_ctx *c, uint64_t ino, uint32_t pid);
bool vnode_is_dir(const struct fs_ctx *c, uint64_t ino);
/* A nonzero inode number for a plain readdir entry (which counts no
 * lookup): the path's inode if it has one, else a number derived from the
 * path.  glibc's readdir() drops entries whose inode number is 0. */
uint64_t vnode_dirent_ino(struct fs_ctx *c, const char *path);
/* The full path of an inode into out; -ENOENT if unknown. */
int vnode_path(struct fs_ctx *c, uint64_t ino, char *out, size_t outlen);
/* The kernel dropped nlookup references. */
void vnode_forget(struct fs_ctx *c, uint64_t ino, uint64_t nlookup);
/* The path's dentry was moved away by a rename: its next lookup gets a
 * fresh inode (see node.h on why moved dentries need that). */
void vnode_detach(struct fs_ctx *c, const char *path);
/* The content key an inode stands for (0: not versioned). */
uint64_t vnode_key(const struct fs_ctx *c, uint64_t ino);
/* Records g as the content of inode ino, if ino stands for key and has
 * none yet: its size, the modification time to report, and g itself (a
 * reference of its own) when g is in a cache file.  Kept until the kernel
 * forgets the inode. */
void vnode_pin(struct fs_ctx *c, uint64_t ino, uint64_t key,
               struct gen_content *g, int64_t mtime_ns);
#define VNODE_SIZE_UNKNOWN UINT64_MAX
/* The recorded size and mtime of a version's inode; -ENOENT if none. */
int vnode_attrs(struct fs_ctx *c, uint64_t ino, uint64_t *size,
                int64_t *mtime_ns);
/* A new reference to the cache-file content inode ino holds; NULL if
 * none. */
struct gen_content *vnode_pinned(struct fs_ctx *c, uint64_t ino);
/* Registers an open of a generated file, whose content is in cache file
 * fd (or -1): the first open of an inode chooses how the kernel reads it,
 * by passthrough from fd where the kernel allows it (the returned backing
 * id, > 0) or through the page cache (0); later opens, of the same
 * version, follow it.  vnode_closed() at each release of a registered
 * open. */
int vnode_open(struct fs_ctx *c, uint64_t ino, int fd);
void vnode_closed(struct fs_ctx *c, uint64_t ino);
/* c->vt, created and freed by state.c (free drops the content references
 * its records hold). */
int vnode_table_new(struct fs_ctx *c);
void vnode_free_all(struct fs_ctx *c);

/* ---- gencache.c: generated content ---- */

/* A cache of content by (full path, key), bounded in bytes: small content
 * in memory up to a memory bound, then in a shared spill file of the store
 * directory; large content in its own cache file; least recently used
 * leaves first.  Thread-safe; references keep content alive after it left
 * the cache. */


/* Content of a generated file, generated (once, other callers wait) when
 * (path, key) is not cached.  key == 0 generates uncached.  Returns a
 * reference (gen_put() when done). */
int gen_get(struct fs_ctx *c, const struct provider *p, struct store_txn *t,
            const char *fullpath, const char *ppath, uint64_t key,
            struct gen_content **ret);
/* The cached content of (path, key) without generating it; -ENOENT if
 * it is not cached (any more). */
int gen_find(struct fs_ctx *c, const char *fullpath, uint64_t key,
             struct gen_content **ret);
/* Another reference to g (g itself). */
struct gen_content *gen_ref(struct gen_content *g);
void gen_put(struct gen_content *g);
uint64_t gen_size(const struct gen_content *g);
/* When content was first shown (gencache.c, "birth time"): the mtime of
 * the files that show it.  Per path: the bytes it showed last keep their
 * birth (volatile content: gen_text_born); new bytes are born at least a
 * whole second after the content they replace.  Never before the mount.
 * Takes gen_cache.mu briefly: the bytes' hash was taken while they were
 * generated or offered, so showing content never reads it again. */
int64_t gen_born_ns(struct gen_content *g);
/* The birth time of a volatile text of path whose hash is text_hash:
 * when the path first gave that hash since it last gave another, a later
 * whole second than the birth it replaces.  Kept for the mount's life in
 * the bounded table of births by path; takes gen_cache.mu. */
int64_t gen_text_born(struct fs_ctx *c, const char *path,
                      uint64_t text_hash);
/* The content's own cache file (large content, the one passthrough can
 * use), or -1. */
int gen_fd(const struct gen_content *g);
/* A file holding the content at *base: its own cache file (base 0) or the
 * shared spill file; -1 when the content is in memory (gen_mem()).  Stays
 * valid while the reference is held. */
int gen_file(const struct gen_content *g, uint64_t *base);
const char *gen_mem(const struct gen_content *g);
/* Whether (path, key) is in the cache now (no reference, no wait). */
bool gen_cached(struct fs_ctx *c, const char *fullpath, uint64_t key);

/* The cache's bound and use (status). */
struct gen_cache_stats {
  uint64_t files;
  uint64_t mem_used, mem_max, disk_used, disk_max;
  uint64_t hits, misses, evicted, spilled;
};
void gen_cache_stats(struct fs_ctx *c, struct gen_cache_stats *s);
/* c->gc, created with its bounds and freed by state.c.  The bounds:
 * -o cache_size (c->cache_max) if given, else from the machine, memory
 * from its RAM, disk from the free space of the store directory. */
int gen_cache_new(struct fs_ctx *c);
void gen_cache_free(struct fs_ctx *c);

#endif
