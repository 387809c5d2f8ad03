/* nodeops.h - the handlers behind each kind of node (node.h), the way
 * providers answer for generated paths (vtree.h).  ops.c is only the FUSE
 * adapter: it decodes the inode, checks who asks (access.h), takes the
 * request's transaction, calls the handler of the node's kind found by
 * nodeops_of(), and turns the answer (0 or -errno, an entry, a handle, a
 * byte range) into the reply.  Handlers never see FUSE, so they run in
 * unit tests against a real store with no mount (tests/unit/test_nodeops.c).
 *
 *   path                    kind handlers          file
 *   /, README.txt, status   nodeops_root, _ctl     node_fixed.c (text from
 *                                                  render.c)
 *   samples/, samples/<n>   nodeops_samples_dir,   node_samples.c (the
 *                           nodeops_sample         source file)
 *   labels/, labels/<n>.json nodeops_labels_dir,   node_labels.c (store
 *                           nodeops_label          labels <-> JSON)
 *   tags/, tags/<t>/,       nodeops_tags_dir,      node_tags.c (store tags;
 *   tags/<t>/<n>            nodeops_tag, _tagfile  mkdir/rmdir/mv/rm)
 *   config, views/, ...     nodeops_vnode          node_vnode.c -> the
 *                                                  provider (vtree.h)
 *
 * Transactions: lookup, stat, readdir, open and read_ino run inside the
 * read transaction the adapter holds for the request (t).  The gestures
 * (mkdir, rmdir, unlink, rename_into) and the label commit at flush open
 * their own write transaction: one store change, one transaction.
 *
 * Handles: open returns a handle whose head is struct nh; the rest is the
 * kind's own (sample_fh, text_fh, label_fh, gen_fh, ctl_fh, private to
 * their files).  A handle is reference-counted (nh_ref/nh_put): the
 * kernel may release a file while a read reply is still being written,
 * so each reply holds a reference of its own.  Handle fields are touched
 * by one request at a time (the kernel serializes writes, flush and
 * release of one open file); refs is atomic.
 */
#ifndef CURATE_NODEOPS_H
#define CURATE_NODEOPS_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fs.h"
#include "node.h"
#include "util.h"
#include "vtree.h"

struct fuse_req;
struct nh;

/* How the kernel should treat an open file (fuse_file_info bits). */
struct open_out {
  uint32_t pid;       /* in: the opening thread (the retry rule, vtree.h) */
  bool keep_cache;    /* pages stay valid across opens */
  bool direct_io;     /* every read comes to us */
  bool noflush;       /* no FLUSH at close */
  int backing;        /* kernel passthrough backing id, or 0 */
};

/* What a read answers with: bytes [pos, pos + len) of fd (spliced), or
 * len bytes at mem.  Valid while the handle (or ino_read) is held. */
struct read_out {
  int fd;             /* >= 0: read from the file */
  off_t pos;
  const char *mem;
  size_t len;
};

/* Content of a read that comes without a handle (-o readonly), held
 * until the reply is sent: a sample's source file (served through the
 * fdcache by the adapter), generated content, or rendered text. */
struct ino_read {
  uint64_t sample;    /* nonzero: the sample whose source is read */
  struct gen_content *gen;
  struct buf text;
};

/* A directory listing in progress (ops.c fills the reply buffer). */
struct dir_fill {
  struct fs_ctx *c;
  struct store_txn *t;
  /* Adds one entry; `next` is the cookie that resumes after it.  False
   * once the reply is full. */
  bool (*add)(struct dir_fill *d, const char *name, const struct node *n,
              off_t next);
  /* Adds a provider entry named below vbase (a vent_fn, ud = d). */
  vent_fn add_vent;
  const char *vbase;
};

/* Per-kind handlers; NULL where the kind has no such operation (the
 * adapter answers as noted). */
struct node_ops {
  /* Resolves name in this directory into *ret.  *versioned: the entry
   * must not be cached by the kernel.  (NULL: -ENOTDIR) */
  int (*lookup)(struct fs_ctx *c, struct store_txn *t, const struct node *dir,
                const char *name, struct node *ret, bool *versioned);
  /* Sets type and mode bits, nlink and size in *st (zeroed, with ino and
   * owner set), and *mt (preset to the mount time). */
  int (*stat)(struct fs_ctx *c, struct store_txn *t, const struct node *n,
              struct stat *st, int64_t *mt);
  /* Lists entries after cookie off (1 and 2 are "." and ".." and are
   * added by the adapter).  (NULL: -ENOTDIR) */
  int (*readdir)(struct dir_fill *d, const struct node *dir, off_t off);
  /* Opens node n (inode ino) with open(2) flags.  (NULL: -EISDIR) */
  int (*open)(struct fs_ctx *c, struct store_txn *t, const struct node *n,
              uint64_t ino, int flags, struct nh **ret, struct open_out *o);
  /* A read with no handle: what the inode shows now.  (NULL: -EISDIR) */
  int (*read_ino)(struct fs_ctx *c, struct store_txn *t,
                  const struct node *n, uint64_t ino, struct ino_read *o);
  /* Tag gestures in this directory, each in its own write transaction.
   * (NULL: -EPERM) */
  int (*mkdir)(struct fs_ctx *c, const struct node *dir, const char *name,
               struct node *ret);
  int (*rmdir)(struct fs_ctx *c, const struct node *dir, const char *name);
  int (*unlink)(struct fs_ctx *c, const struct node *dir, const char *name);
  /* mv src/name dir/newname; flags: RENAME_NOREPLACE or 0. */
  int (*rename_into)(struct fs_ctx *c, const struct node *src,
                     const char *name, const struct node *dir,
                     const char *newname, unsigned flags);
  /* The kernel's attribute time for this kind (0: never cached); NULL:
   * the mount's ttl. */
  double (*ttl)(const struct fs_ctx *c, const struct node *n);
  /* Whether the kernel must look the name up again at each use (entry
   * time 0); NULL: no. */
  bool (*uncached_entry)(struct fs_ctx *c, const struct node *n);
};

/* Per-handle-type handlers.  req is the requester (for control files run
 * with its identity, access.h); NULL in tests of the other kinds. */
struct fh_ops {
  int (*read)(struct nh *h, size_t size, off_t off, struct read_out *o);
  /* Returns the bytes taken or -errno.  (NULL: -EBADF) */
  int (*write)(struct fs_ctx *c, struct fuse_req *req, struct nh *h,
               const char *data, size_t size, off_t off);
  /* At each close(2) of a descriptor.  (NULL: 0) */
  int (*flush)(struct fs_ctx *c, struct fuse_req *req, struct nh *h);
  /* ftruncate/O_TRUNC through setattr.  (NULL: -EACCES) */
  int (*truncate)(struct nh *h, uint64_t size);
  /* At release: undo what open counted (before the last nh_put). */
  void (*close)(struct fs_ctx *c, struct nh *h);
  /* Frees the handle (from nh_put, at the last reference). */
  void (*free)(struct nh *h);
};

/* The common head of every handle. */
struct nh {
  const struct fh_ops *ops;
  struct node node;
  unsigned refs;      /* atomic; 1 from open, +1 per reply in flight */
  struct nh *hprev, *hnext;  /* the open handles the kernel holds
                                (ops.c, under fs_ctx.hmu) */
};

/* Sets up a handle's head: one reference, the caller's. */
static inline void nh_init(struct nh *h, const struct fh_ops *ops,
                           const struct node *n)
{
  h->ops = ops;
  h->node = *n;
  h->refs = 1;
}

static inline struct nh *nh_ref(struct nh *h)
{
  unsigned was = __atomic_fetch_add(&h->refs, 1, __ATOMIC_ACQ_REL);

  assert(was > 0);  /* a reference is taken only by a holder */
  (void)was;
  return h;
}

/* Drops a reference; the last one frees the handle.  NULL is a no-op. */
static inline void nh_put(struct nh *h)
{
  unsigned was;

  if (!h)
    return;
  was = __atomic_fetch_sub(&h->refs, 1, __ATOMIC_ACQ_REL);
  assert(was > 0);  /* more puts than references: a double release */
  if (was == 1)
    h->ops->free(h);
}

static inline uint64_t node_ino_of(const struct node *n)
{
  return node_ino(n->kind, n->id,
                  n->kind == NODE_SAMPLE ? n->gen : n->sample);
}

/* A read of bytes [off, off + size) of a buffer of len bytes. */
static inline void read_slice(const char *data, size_t len, size_t size,
                              off_t off, struct read_out *o)
{
  o->fd = -1;
  o->mem = data;
  o->len = off < 0 || (size_t)off >= len ? 0
                                          : MIN(size, len - (size_t)off);
  if (o->len)
    o->mem = data + off;
}

/* ---- nodeops.c: dispatch and the attributes every kind shares ---- */

/* The handlers of n's kind (never NULL for a decoded node). */
const struct node_ops *nodeops_of(const struct node *n);
/* Fills *st for node n.  Sizes are exact: the kernel sizes reads by them. */
int node_stat(struct fs_ctx *c, struct store_txn *t, const struct node *n,
              struct stat *st);
double node_ttl(struct fs_ctx *c, const struct node *n);
/* The entry time of a name leading to n. */
double node_entry_ttl(struct fs_ctx *c, const struct node *n);

/* ---- the kinds (node_*.c) ---- */

extern const struct node_ops nodeops_root, nodeops_ctl;        /* fixed */
extern const struct node_ops nodeops_samples_dir, nodeops_sample;
extern const struct node_ops nodeops_labels_dir, nodeops_label;
extern const struct node_ops nodeops_tags_dir, nodeops_tag, nodeops_tagfile;
extern const struct node_ops nodeops_vnode;
extern const struct fh_ops label_fh_ops;   /* node_labels.c (tests) */

/* node_labels.c: the rendering memo behind labels/<n>.json (c->lmemo),
 * set up before the session and freed after it.  Without one, every stat
 * and open renders.  label_memo_new: 0 or -ENOMEM. */
int label_memo_new(struct fs_ctx *c);
void label_memo_free(struct fs_ctx *c);

/* node_samples.c: samples shared by the kinds that show them. */

/* A sample that is listed: present in the store, its file not missing. */
int visible_sample(struct store_txn *t, uint64_t id, struct sample *s);
/* The sample behind file `name`: "<name>.json" with ext ".json", or with
 * ext NULL "<name><its image extension>" (imgfmt.h). */
int sample_by_file(struct store_txn *t, const char *name, const char *ext,
                   struct sample *s);
/* A read-only handle on s's source file (samples/, tags/, a provider
 * file showing a sample). */
int sample_open(struct fs_ctx *c, const struct sample *s,
                const struct node *n, int flags, struct nh **ret,
                struct open_out *o);

/* Lists the samples whose files are present, as samples/ (label false)
 * or labels/ (true) shows them. */
int samples_list(struct dir_fill *d, off_t off, bool label);
/* The attributes of sample id's source file (samples/, tags/). */
int sample_file_stat(struct store_txn *t, uint64_t id, struct stat *st,
                     int64_t *mt);
/* A directory's attributes (the fixed and tag directories). */
int node_dir_stat(struct fs_ctx *c, struct store_txn *t, const struct node *n,
                  struct stat *st, int64_t *mt);

/* Refuses a move no kind takes: -EPERM, the reason logged. */
int node_refuse_move(struct fs_ctx *c, const char *name, const char *newname);
/* The checks of a sample file moved from directory src (samples/ or a
 * tag) under its own name: *s gets the sample.  -EPERM (not a sample
 * file), -ENOENT, -EINVAL (renamed), reasons logged. */
int sample_move_check(struct fs_ctx *c, struct store_txn *t,
                      const struct node *src, const char *name,
                      const char *newname, struct sample *s);

/* node_vnode.c: provider paths below the root. */

/* Looks up path (a full provider path) into *ret (NODE_VNODE). */
int vpath_lookup(struct fs_ctx *c, struct store_txn *t, const char *path,
                      struct node *ret, bool *versioned);
/* The open of an unchanged version inode of a generated file, decided
 * from memory on a mount that writes: no store transaction, when no
 * commit came since the last open's check found the store version that
 * ino was found current at, and its content is pinned or cached.  1 with
 * *ret and *o filled; 0 when the full open must decide (nothing was
 * changed then); -errno as the full open would fail. */
int vnode_open_quick(struct fs_ctx *c, const struct node *n, uint64_t ino,
                     int flags, uint32_t pid, struct nh **ret,
                     struct open_out *o);
/* Whether the kernel must look the name of provider entry e up at every
 * use (entry time 0) rather than keep it for ttl. */
bool vent_uncached(struct fs_ctx *c, const struct vent *e);
/* Lists the provider tops that exist as root entries, cookies from
 * first_cookie on. */
int vpath_list_tops(struct dir_fill *d, off_t off, uint64_t first_cookie);
/* The sample shown by provider file `name` in directory inode dir_ino;
 * *path (owned by the caller) gets its full path.  -EPERM for a file that
 * shows no sample. */
int vpath_sample_of(struct fs_ctx *c, struct store_txn *t, uint64_t dir_ino,
                    const char *name, struct sample *s, char **path);

#endif
