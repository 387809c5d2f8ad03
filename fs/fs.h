/* fs.h - the daemon's shared state and the interfaces between fs/ files.
 *
 *   main.c    options, store opening, mount and session loop, import thread
 *   ops.c     the FUSE low-level operations table: decodes the inode and
 *             hands the request to its kind's handlers (nodeops.h, the
 *             map of which file serves which path)
 *   errring.c fs_error(): recent errors for `status` and the log
 *   srcfile.c opening a sample's source file beneath the dataset root
 *   notify.c  kernel cache invalidation, off the request threads
 *   passthrough.c  kernel FUSE passthrough underneath libfuse 3.14
 *   render.c  text of README.txt and status
 *   node.h    inode numbering
 *   vtree.h   generated subtrees (config, views/, export/, cvat/, eval/,
 *             plots/): providers prov_*.c, vnode.c, gencache.c
 *   state.c   creates the tables of struct fs_ctx before the session and
 *             frees them after it, in order (each table's lock is its own)
 */
#ifndef CURATE_FS_H
#define CURATE_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "import.h"
#include "objsource.h"
#include "snap.h"
#include "store.h"
#include "util.h"

struct fuse_session;
struct notify_queue;
struct gen_map;
struct vnode_table;
struct gen_cache;
struct views;
struct fdcache;
struct label_memo;
struct vtree_state;
struct passthrough;

#define FS_ERR_RING 16

/* What users other than the store's owner may read (-o share=, access.c). */
enum acc_share { ACC_SHARE_NONE, ACC_SHARE_GROUP, ACC_SHARE_READ };

struct fs_ctx {
  struct store *store;
  char *root;                 /* dataset root (absolute) */
  char *store_dir;
  uid_t uid;                  /* the store's owner: owns every file shown */
  gid_t gid;
  enum acc_share share;       /* what others may read (access.c) */
  int owner_ngroups;          /* the owner's supplementary groups, from */
  gid_t owner_groups[256];    /* the group database at start (access.c) */
  int daemon_ngroups;         /* the daemon's own supplementary groups at */
  gid_t daemon_groups[256];   /* start, -1: unknown (acc_thread_as_daemon) */
  int64_t mount_ns;
  double ttl;                 /* entry/attr timeout for versioned content */
  struct fuse_session *se;
  struct notify_queue *nq;
  struct gen_map *gens;        /* gen.c */
  struct vnode_table *vt;      /* vnode.c */
  struct gen_cache *gc;        /* gencache.c */
  struct views *views;         /* core/views/views.c: lists behind views/ */
  struct fdcache *fdc;         /* fdcache.c (read-only mounts) */
  struct srcmemo *srcmemo;     /* srcfile.c: touched sources checked */
  struct label_memo *lmemo;    /* node_labels.c: the latest labels file
                                  rendering (label_memo_new() in main) */
  struct vtree_state *vs;      /* vtree.c: providers' state, warm thread */
  struct passthrough *pt;      /* passthrough.c */
  bool readonly;              /* -o readonly: no writes ... */
  bool no_open;               /* ... and the kernel opens files itself */
  bool noepoch;               /* no name epoch: -o noepoch, or a normal
                                 mount without -o epoch */
  int epoch;                  /* atomic: whether the kernel takes
                                 FUSE_NOTIFY_INC_EPOCH (notify.c): 0 not
                                 known yet, 1 yes, -1 no */
  uint64_t epoch_ver;         /* atomic: the store version (+1) the last
                                 epoch notification covered, 0 none;
                                 written under notice_mu */
  pthread_mutex_t notice_mu;  /* one epoch notification at a time */
  struct store_snaps *snaps;  /* read-only mounts with the epoch: the
                                 store as of the last notification and
                                 the one before (notify.c); NULL else */
  uint64_t cache_max;         /* -o cache_size: bytes of generated content
                                 kept (0: from the machine, gencache.c) */
  struct objsource *objsrc;   /* a bucket dataset's files through the
                                 local cache (srcfile.c); NULL for a
                                 folder.  Set up in main, thread-safe */

  pthread_mutex_t hmu;        /* guards handles */
  struct nh *handles;         /* handles the kernel holds (ops.c): freed
                                 at teardown when it never released them
                                 (an aborted connection, a killed reader
                                 during unmount) */
  pthread_mutex_t mu;         /* guards the fields below (errs* and
                                 last_err*: errring.c writes, render.c
                                 reads) */
  struct import_progress imp; /* background import of a plain folder */
  bool importing;
  int import_err;
  uint64_t import_skipped;
  char errs[FS_ERR_RING][256];/* recent errors, newest at errs_head - 1 */
  unsigned errs_head, errs_n;
  char last_err[200];
  int64_t last_err_time;
};

/* ---- errring.c ---- */

/* Records an error for `status` and the log (takes c->mu: never call it
 * with c->mu held). */
void fs_error(struct fs_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A change refused because the store is full (r == -ENOSPC): says what
 * filled up and what to do, so the ENOSPC the caller gets is explained.
 * Returns r. */
int fs_report_full(struct fs_ctx *c, int r, const char *what,
                   const char *name);

/* ---- notify.c ---- */

/* Starts the invalidation thread.  Notifications must never be sent from
 * a request's own thread (libfuse's deadlock rule), so ops queue them here
 * after replying. */
int notify_start(struct fs_ctx *c);
void notify_stop(struct fs_ctx *c);
/* Drop the cached attributes of an inode, and with `data` its cached pages
 * (for a directory: its cached listing). */
void notify_inode(struct fs_ctx *c, uint64_t ino, bool data);

/* Names the kernel caches (notify.c, "epoch").  The kernel drops every
 * cached name at once when told that its epoch moved (FUSE_NOTIFY_INC_EPOCH,
 * Linux 6.16): the next use of each name is looked up again.  The
 * notification takes no kernel lock, so it is sent from any thread,
 * request threads included, before the reply.
 *
 * notify_epoch_init: at INIT (ops.c), before any lookup: whether the
 * kernel (protocol minor kernel_minor) takes the notification, asked by
 * sending one, unless c->noepoch.
 * notify_epoch_on: whether names that a store change can alter may be
 * cached (entry time ttl) by that means: the answer of notify_epoch_init
 * (false before).  A normal mount keeps versioned names without it
 * (node_vnode.c, still_current).
 * notify_store_changed: if the store version moved since the last
 * notification, sends one; every path that changes the store calls it
 * before it acknowledges the change (ops.c), and the notify thread every
 * 200 ms for changes made next to the mount or by background threads.
 * Without epoch support it does nothing: those names are then never
 * cached.  On a read-only mount each notification also renews the kept
 * store snapshots (c->snaps) first: the kernel reads a kept name's inode
 * without a lookup, and its version may have to be generated again from
 * the store as it was (node_vnode.c). */
void notify_epoch_init(struct fs_ctx *c, unsigned kernel_minor);
bool notify_epoch_on(const struct fs_ctx *c);
void notify_store_changed(struct fs_ctx *c);
/* A request read store version ver: if it is newer than the last
 * notification covered, notices the change now (a lookup about to hand
 * out a name of that version, so that the kept snapshots show it). */
void notify_seen_version(struct fs_ctx *c, uint64_t ver);

/* Labels changed by the daemon outside a write of labels/<n>.json (a CVAT
 * pull or undo, a predictions import): drop the kernel's cached size and
 * pages of those labels files.  ids NULL means every sample. */
void notify_labels(struct fs_ctx *c, const uint64_t *ids, size_t n);

/* ---- state.c ---- */

/* Creates the tables above (gens, gc, vt, fdc, pt, vs) before the
 * session starts (main.c); 0 or -errno, nothing left on failure.
 * state_free() frees them in the reverse order once the session and every
 * thread of the daemon are gone. */
int state_init(struct fs_ctx *c);
void state_free(struct fs_ctx *c);

/* ---- gen.c ---- */

/* Generation of a sample's inode in samples/ (see node.h). */
uint16_t fs_sample_gen(struct fs_ctx *c, uint64_t sample_id);
void fs_sample_gen_bump(struct fs_ctx *c, uint64_t sample_id);
int fs_gen_new(struct fs_ctx *c);
void fs_gen_free(struct fs_ctx *c);

/* ---- render.c ---- */

/* Text of README.txt and of status into out (reset first).  hash (if
 * not NULL): of what status says but the caches' counters, which every
 * read moves (the text's mtime follows it: node_fixed.c). */
int render_readme(struct fs_ctx *c, struct buf *out);
int render_status(struct fs_ctx *c, struct buf *out, uint64_t *hash);

struct nh;

/* ---- ops.c ---- */

extern const struct fuse_lowlevel_ops curatefs_ops;
/* Closes and frees the handles the kernel never released (teardown, after
 * the session loop: no request runs any more). */
void ops_release_all(struct fs_ctx *c);

#endif
