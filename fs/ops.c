/* ops.c - the FUSE adapter: the low-level operations table at the bottom
 * of this file.  Each op_* decodes the inode (node.h), checks who asks
 * (access.h), runs the request's handler of the node's kind (nodeops.h:
 * the map of which file serves which path) in one short LMDB transaction,
 * and replies.  Handlers return negative errno; each operation replies
 * with fuse_reply_err(req, -r) from its one exit.  No transaction
 * outlives a request.  Inode invalidations are queued to notify.c, never
 * sent from here; a request that changed the store moves the kernel's name
 * epoch (notify_store_changed(), lock-free in the kernel) before it
 * replies, so the next lookup of any name sees the change.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "access.h"
#include "fs.h"
#include "nodeops.h"
#include "passthrough.h"
#include "xattr.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)  /* linux/fs.h */
#endif

/* The request threads answer the kernel while a reader waits, and most
 * answers take microseconds: a read from the content cache, the ioctl
 * Python's open() sends for isatty() on every file.  On a busy machine
 * the woken thread waits for a CPU, and that wait is most of the round
 * trip (docs/ARCHITECTURE.md §8, "Where the round trip goes").  Linux 6.12
 * and later let a woken thread with a shorter slice (sched_attr's
 * sched_runtime, no privilege needed) run ahead of threads with longer
 * ones, without a larger share of the CPU.  Reset on fork: the threads a
 * request starts (compute helpers, libfuse's next worker) keep the
 * default slice until they serve requests themselves.  Earlier kernels
 * ignore the field; a refusal (seccomp) leaves the thread as it was.
 * The thread keeps its policy and nice value: a daemon an administrator
 * started as SCHED_IDLE or real-time is left as it is (setting the slice
 * means naming a policy, and SCHED_OTHER would lift an idle or batch
 * daemon's request threads, or demote real-time ones). */
#define REQUEST_SLICE_NS (100 * 1000)  /* the shortest the kernel takes */

static void request_thread_init(void)
{
  static __thread bool done;  /* fs-static-ok: once per request thread */
  struct {                    /* struct sched_attr, its first version */
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
  } a;
  pid_t tid;
  int saved = errno;

  if (done)
    return;
  done = true;
  memset(&a, 0, sizeof(a));
  tid = (pid_t)syscall(SYS_gettid);
  /* policy and nice as they are; the slice only for the fair policies
   * (0 SCHED_OTHER, 3 SCHED_BATCH) */
  if (syscall(SYS_sched_getattr, tid, &a, sizeof(a), 0) == 0 &&
      (a.policy == 0 || a.policy == 3)) {
    a.size = sizeof(a);
    a.flags = 1;               /* SCHED_FLAG_RESET_ON_FORK */
    a.runtime = REQUEST_SLICE_NS;
    a.deadline = a.period = 0;
    syscall(SYS_sched_setattr, tid, &a, 0);
  }
  errno = saved;
}

/* The mount's context; first tunes the thread that serves the request. */
static struct fs_ctx *ctx(fuse_req_t req)
{
  request_thread_init();
  return fuse_req_userdata(req);
}

static int begin(struct fs_ctx *c, bool write, struct store_txn **t)
{
  return store_txn_begin(c->store, write, t);
}

/* Before a request's transaction: a provider path's provider may bring
 * what the request reads up to date (vtree_prepare), so that no write
 * transaction ever runs inside the request's read transaction. */
static void prepare(struct fs_ctx *c, const struct node *n, uint64_t ino,
                    const char *name)
{
  if (n->kind == NODE_VNODE)
    vtree_prepare(c, ino, name);
}

static void reply_status(fuse_req_t req, int r)
{
  fuse_reply_err(req, r < 0 ? -r : 0);
}

static int entry_for(struct fs_ctx *c, struct store_txn *t,
                     const struct node *n, struct fuse_entry_param *e)
{
  int r;

  memset(e, 0, sizeof(*e));
  e->ino = node_ino_of(n);
  r = node_stat(c, t, n, &e->attr);
  /* After the stat, which may tell what the node is (vnode_ttl). */
  e->attr_timeout = node_ttl(c, n);
  e->entry_timeout = node_entry_ttl(c, n);
  return r;
}

/* ---- lookup / getattr ---- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fs_ctx *c = ctx(req);
  struct fuse_entry_param e;
  struct store_txn *t;
  struct node p, n;
  bool versioned;
  int r = node_from_ino(parent, &p) ? 0 : -ENOENT;

  if (r == 0) {
    prepare(c, &p, parent, name);
    r = begin(c, false, &t);
  }
  if (r == 0) {
    const struct node_ops *k = nodeops_of(&p);
    r = k->lookup ? k->lookup(c, t, &p, name, &n, &versioned) : -ENOTDIR;
    if (r == 0) {
      r = entry_for(c, t, &n, &e);
      if (r < 0 && n.kind == NODE_VNODE)
        vnode_forget(c, node_ino_of(&n), 1);  /* the lookup it counted */
      else if (n.kind == NODE_VNODE)  /* may be an open's retry */
        vnode_retry_looked_up(c, node_ino_of(&n),
                              (uint32_t)fuse_req_ctx(req)->pid);
      if (versioned)
        e.entry_timeout = 0;
    }
    store_txn_abort(t);
  }
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_entry(req, &e);
}

/* Replies to a getattr-like request with the node's current attributes. */
static void reply_attr(fuse_req_t req, struct fs_ctx *c, const struct node *n)
{
  struct store_txn *t;
  struct stat st;
  int r;

  prepare(c, n, node_ino_of(n), NULL);
  r = begin(c, false, &t);
  if (r == 0) {
    r = node_stat(c, t, n, &st);
    store_txn_abort(t);
  }
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_attr(req, &st, node_ttl(c, n));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
  struct node n;

  (void)fi;
  if (!node_from_ino(ino, &n))
    fuse_reply_err(req, ENOENT);
  else
    reply_attr(req, ctx(req), &n);
}

/* ---- directories ---- */

/* Listing state for one READDIR(PLUS) reply. */
struct dirfill {
  struct dir_fill d;   /* what handlers see; first */
  fuse_req_t req;
  char *buf;
  size_t size, used;
  bool plus;
  mode_t vmode;        /* type of the provider entry being added */
  bool versioned;      /* ... a generated file (vpath_lookup()) */
  uint64_t dirent_ino; /* ... its inode number in a plain readdir */
};

static bool add_entry_plus(struct dirfill *f, const char *name,
                           const struct node *n, off_t next, size_t *need)
{
  struct fuse_entry_param e;

  if (n) {
    int r = entry_for(f->d.c, f->d.t, n, &e);
    if (r < 0 && n->kind == NODE_VNODE)
      vnode_forget(f->d.c, node_ino_of(n), 1);
    if (r == -ENOENT)
      return false;  /* vanished meanwhile: skip it */
    if (r < 0) {
      /* There, but its attributes cannot be had now (a generated file
       * whose source changed since the import: ESTALE): listed without
       * them, as a plain readdir lists it (node id 0: the kernel makes no
       * entry, and a lookup gets the error), never left out, which would
       * make an ls, or a training set, silently shorter. */
      memset(&e, 0, sizeof(e));
      e.attr.st_ino = node_ino_of(n);
      e.attr.st_mode = f->vmode ? f->vmode : S_IFREG;
    } else if (f->versioned) {
      e.entry_timeout = 0;
    }
  } else {
    memset(&e, 0, sizeof(e));
    e.attr.st_mode = S_IFDIR;
    e.attr.st_ino = f->dirent_ino ? f->dirent_ino : 1;
  }
  *need = fuse_add_direntry_plus(f->req, f->buf + f->used,
                                 f->size - f->used, name, &e, next);
  return true;
}

/* Adds one entry (dir_fill.add); n NULL for "." and "..", or a provider
 * entry of a plain readdir. */
static bool add_entry(struct dir_fill *d, const char *name,
                      const struct node *n, off_t next)
{
  struct dirfill *f = (struct dirfill *)d;
  size_t need;

  if (f->plus) {
    if (!add_entry_plus(f, name, n, next, &need))
      return true;
  } else {
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_ino = n ? node_ino_of(n) : f->dirent_ino ? f->dirent_ino : 1;
    if (f->vmode)
      st.st_mode = f->vmode;  /* a provider entry */
    else
      st.st_mode = !n || n->kind == NODE_ROOT || n->kind == NODE_DIR ||
                   n->kind == NODE_TAG || n->kind == NODE_VNODE
                       ? S_IFDIR : S_IFREG;
    need = fuse_add_direntry(f->req, f->buf + f->used, f->size - f->used,
                             name, &st, next);
  }
  if (need > f->size - f->used) {
    if (f->plus && n && n->kind == NODE_VNODE)
      vnode_forget(d->c, node_ino_of(n), 1);  /* not sent: not looked up */
    return false;
  }
  f->used += need;
  return true;
}

/* One entry of a provider directory (dir_fill.add_vent). */
static int add_vent(const char *name, const struct vent *e, uint64_t cookie,
                    void *ud)
{
  struct dirfill *f = ud;
  struct node n = { .kind = NODE_VNODE };
  char path[4096];
  bool ok;

  if ((size_t)snprintf(path, sizeof(path), "%s%s%s", f->d.vbase,
                       *f->d.vbase ? "/" : "", name) >= sizeof(path))
    return 0;  /* unreachable name: skip */
  f->vmode = e->kind == VENT_DIR ? S_IFDIR : S_IFREG;
  if (f->plus) {
    uint64_t ino = vnode_ino(f->d.c, path,
                             e->kind == VENT_FILE ? e->key : 0);
    /* Entry time: as vpath_lookup() gives it. */
    f->versioned = vent_uncached(f->d.c, e);
    if (!ino)
      return 1;
    node_from_ino(ino, &n);
    ok = add_entry(&f->d, name, &n, (off_t)(cookie + 2));
    f->versioned = false;
  } else {
    /* Plain readdir counts no lookup: report an inode number without
     * making an inode. */
    f->dirent_ino = vnode_dirent_ino(f->d.c, path);
    ok = add_entry(&f->d, name, NULL, (off_t)(cookie + 2));
    f->dirent_ino = 0;
  }
  f->vmode = 0;
  return ok ? 0 : 1;
}

/* "." and "..", then the kind's entries.  Cookies: 1 and 2 are "." and
 * ".."; the kinds give theirs (3 and up). */
static int fill_dir(struct dirfill *f, const struct node *dir, off_t off)
{
  const struct node_ops *k = nodeops_of(dir);

  if (!k->readdir)
    return -ENOTDIR;
  f->dirent_ino = node_ino_of(dir);  /* "." is the directory; ".." as root */
  if (off < 1 && !add_entry(&f->d, ".", NULL, 1))
    return 0;
  f->dirent_ino = 0;
  if (off < 2 && !add_entry(&f->d, "..", NULL, 2))
    return 0;
  return k->readdir(&f->d, dir, off);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       bool plus)
{
  struct dirfill f = { .d = { .c = ctx(req), .add = add_entry,
                              .add_vent = add_vent },
                       .req = req, .size = size, .plus = plus };
  struct node n;
  int r = node_from_ino(ino, &n) ? 0 : -ENOENT;

  if (r == 0 && !(f.buf = malloc(size)))
    r = -ENOMEM;
  if (r == 0)
    prepare(f.d.c, &n, ino, NULL);
  if (r == 0 && (r = begin(f.d.c, false, &f.d.t)) == 0) {
    r = fill_dir(&f, &n, off);
    store_txn_abort(f.d.t);
  }
  /* An error may only be returned before any entry was added. */
  if (r < 0 && f.used == 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_buf(req, f.buf, f.used);
  free(f.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
  (void)fi;
  do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                           off_t off, struct fuse_file_info *fi)
{
  (void)fi;
  do_readdir(req, ino, size, off, true);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
  struct node n;
  int r = node_from_ino(ino, &n) ? acc_may_read(ctx(req), req) : -ENOENT;

  if (r == 0 && !nodeops_of(&n)->readdir)
    r = -ENOTDIR;
  if (r < 0) {
    fuse_reply_err(req, -r);
    return;
  }
  /* Provider listings follow store changes with no invalidation of their
   * own: always ask us.  The others are cached by the kernel until the
   * directory changes: the kernel itself drops the cache on
   * mkdir/rename/unlink here, and notify_inode() does it for changes
   * made by the daemon. */
  if (n.kind != NODE_VNODE) {
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
  }
  fuse_reply_open(req, fi);
}

/* ---- files ---- */

static struct nh *fh_of(struct fuse_file_info *fi)
{
  return (struct nh *)(uintptr_t)fi->fh;
}

static void fh_close(struct fs_ctx *c, struct nh *h)
{
  if (h->ops->close)
    h->ops->close(c, h);
}

/* The registry of handles the kernel holds, so that teardown frees the
 * ones it never released. */
static void handles_add(struct fs_ctx *c, struct nh *h)
{
  pthread_mutex_lock(&c->hmu);
  h->hprev = NULL;
  h->hnext = c->handles;
  if (c->handles)
    c->handles->hprev = h;
  c->handles = h;
  pthread_mutex_unlock(&c->hmu);
}

static void handles_del(struct fs_ctx *c, struct nh *h)
{
  pthread_mutex_lock(&c->hmu);
  if (h->hprev)
    h->hprev->hnext = h->hnext;
  else if (c->handles == h)
    c->handles = h->hnext;
  if (h->hnext)
    h->hnext->hprev = h->hprev;
  h->hprev = h->hnext = NULL;
  pthread_mutex_unlock(&c->hmu);
}

void ops_release_all(struct fs_ctx *c)
{
  while (c->handles) {
    struct nh *h = c->handles;
    handles_del(c, h);
    fh_close(c, h);
    nh_put(h);
  }
}

/* The handle's open(2) answer, and the reply. */
static void reply_open(fuse_req_t req, struct fs_ctx *c, struct nh *h,
                       const struct open_out *o, struct fuse_file_info *fi)
{
  fi->keep_cache = o->keep_cache;
  fi->direct_io = o->direct_io;
  fi->noflush = o->noflush;
  fi->fh = (uint64_t)(uintptr_t)h;
  handles_add(c, h);
  if ((o->backing ? pt_reply_open(req, fi, o->backing)
                  : fuse_reply_open(req, fi)) != 0) {
    /* The reply did not reach the kernel (the open was interrupted): no
     * RELEASE will come. */
    handles_del(c, h);
    fh_close(c, h);
    nh_put(h);
  }
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct fs_ctx *c = ctx(req);
  int acc = fi->flags & O_ACCMODE;
  struct open_out o = { 0 };
  struct store_txn *t;
  struct nh *h = NULL;
  struct node n;
  int quick = 0;
  int r;

  /* Read-only mount: ENOSYS switches the kernel to opening files without
   * asking us (FUSE_CAP_NO_OPEN_SUPPORT); reads then come with no handle
   * and are served by inode (read_by_inode). */
  if (c->no_open)
    r = -ENOSYS;
  else if (!node_from_ino(ino, &n))
    r = -ENOENT;
  else
    r = acc != O_RDONLY ? acc_may_change(c, req, "open for writing")
                        : acc_may_read(c, req);
  if (r == 0)
    prepare(c, &n, ino, NULL);
  /* A warm open of an unchanged crop or drawn view: no transaction. */
  if (r == 0 && n.kind == NODE_VNODE)
    quick = vnode_open_quick(c, &n, ino, fi->flags,
                             (uint32_t)fuse_req_ctx(req)->pid, &h, &o);
  if (quick < 0)
    r = quick;
  else if (r == 0 && !quick && (r = begin(c, false, &t)) == 0) {
    const struct node_ops *k = nodeops_of(&n);
    o.pid = (uint32_t)fuse_req_ctx(req)->pid;
    r = k->open ? k->open(c, t, &n, ino, fi->flags, &h, &o) : -EISDIR;
    store_txn_abort(t);
  }
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    reply_open(req, c, h, &o, fi);
}

static void reply_read(fuse_req_t req, const struct read_out *o)
{
  if (o->fd >= 0) {
    /* Hand libfuse the fd: it can splice straight to the kernel. */
    struct fuse_bufvec bv = FUSE_BUFVEC_INIT(o->len);
    bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    bv.buf[0].fd = o->fd;
    bv.buf[0].pos = o->pos;
    fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
  } else {
    fuse_reply_buf(req, o->mem, o->len);
  }
}

/* A read with no handle (read-only mounts): what the inode shows now. */
static void read_by_inode(fuse_req_t req, fuse_ino_t ino, size_t size,
                          off_t off)
{
  struct fs_ctx *c = ctx(req);
  struct ino_read ir = { 0 };
  struct fd_ref fr = { NULL, -1 };
  struct read_out o = { .fd = -1 };
  struct store_txn *t;
  struct sample s;
  struct node n;
  uint64_t base = 0;
  int r = node_from_ino(ino, &n) ? begin(c, false, &t) : -ENOENT;

  buf_init(&ir.text, LABELS_MAX_JSON * 4);
  if (r == 0) {
    const struct node_ops *k = nodeops_of(&n);
    r = k->read_ino ? k->read_ino(c, t, &n, ino, &ir) : -EISDIR;
    if (r == 0 && ir.sample && (r = visible_sample(t, ir.sample, &s)) == 0)
      r = fdcache_get(c, &s, &fr);
    store_txn_abort(t);
  }
  if (fr.fd >= 0) {
    o.fd = fr.fd;
    o.pos = off;
    o.len = size;
  } else if (ir.gen && (o.fd = gen_file(ir.gen, &base)) >= 0 &&
             off >= 0 && (uint64_t)off < gen_size(ir.gen)) {
    o.pos = (off_t)base + off;
    o.len = MIN(size, gen_size(ir.gen) - (uint64_t)off);
  } else if (ir.gen) {
    read_slice(gen_mem(ir.gen), gen_size(ir.gen), size, off, &o);
  } else {
    read_slice(ir.text.data ? ir.text.data : "", ir.text.len, size, off, &o);
  }
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    reply_read(req, &o);
  fdcache_put(c, &fr);
  gen_put(ir.gen);
  buf_free(&ir.text);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
  struct read_out o;
  struct nh *h;
  int r;

  request_thread_init();  /* the only op that may not call ctx() */
  if (!fi->fh) {
    read_by_inode(req, ino, size, off);
    return;
  }
  /* The kernel may process a READ reply, drop its file reference and
   * send RELEASE, which another worker handles, before this thread is
   * back from writev(): the reply holds a reference of its own. */
  h = nh_ref(fh_of(fi));
  r = h->ops->read(h, size, off, &o);
  if (r < 0)
    fuse_reply_err(req, -r);  /* e.g. a sample's source gone since open */
  else
    reply_read(req, &o);
  nh_put(h);
}

/* No file of the mount takes an ioctl.  Python's open() asks every file
 * whether it is a terminal (TCGETS), and the kernel sends that to us on
 * every open, read-only mounts included: no INIT or open flag stops it,
 * and an ENOSYS answer is not remembered (the kernel turns it into ENOTTY
 * each time).  So the answer is ENOTTY at once, with no lookup. */
static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
                     void *arg, struct fuse_file_info *fi, unsigned flags,
                     const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
  (void)ino;
  (void)cmd;
  (void)arg;
  (void)fi;
  (void)flags;
  (void)in_buf;
  (void)in_bufsz;
  (void)out_bufsz;
  request_thread_init();
  fuse_reply_err(req, ENOTTY);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data,
                     size_t size, off_t off, struct fuse_file_info *fi)
{
  struct nh *h = fh_of(fi);
  int r;

  (void)ino;
  r = h->ops->write ? h->ops->write(ctx(req), req, h, data, size, off)
                    : -EBADF;
  /* A command file acts at the write that ends its line. */
  notify_store_changed(ctx(req));
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_write(req, (size_t)r);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct nh *h = fh_of(fi);
  int r;

  (void)ino;
  /* No handle: a read-only mount.  ENOSYS stops further flushes. */
  if (!h) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  r = h->ops->flush ? h->ops->flush(ctx(req), req, h) : 0;
  /* A label document or a setting committed: before close() returns. */
  notify_store_changed(ctx(req));
  reply_status(req, r);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
  struct nh *h = fh_of(fi);

  (void)ino;
  if (h) {
    handles_del(ctx(req), h);
    fh_close(ctx(req), h);
    nh_put(h);
  }
  fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
  /* Label writes are durable when close() returns (flush commits). */
  (void)ino;
  (void)datasync;
  (void)fi;
  fuse_reply_err(req, 0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                       int to_set, struct fuse_file_info *fi)
{
  struct fs_ctx *c = ctx(req);
  struct nh *h = fi ? fh_of(fi) : NULL;
  struct node n;
  int r = node_from_ino(ino, &n) ? acc_may_change(c, req, "setattr")
                                 : -ENOENT;

  if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
    /* A negative size reads as too large (EFBIG) or not 0 (EINVAL). */
    if (!h)
      r = n.kind == NODE_LABEL ? -EINVAL : -EACCES;
    else
      r = h->ops->truncate ? h->ops->truncate(h, (uint64_t)attr->st_size)
                           : -EACCES;
  }
  /* Modes and times are not stored; accept them so cp -p and touch work. */
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    reply_attr(req, c, &n);
}

/* ---- tag gestures (node_tags.c) ---- */

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode)
{
  struct fs_ctx *c = ctx(req);
  struct fuse_entry_param e;
  struct store_txn *t;
  struct node p, n;
  int r = acc_may_change(c, req, "mkdir");

  (void)mode;
  /* Only tags/ takes new directories. */
  if (r == 0 && (!node_from_ino(parent, &p) || !nodeops_of(&p)->mkdir))
    r = -EPERM;
  if (r == 0)
    r = nodeops_of(&p)->mkdir(c, &p, name, &n);
  notify_store_changed(c);
  if (r == 0 && (r = begin(c, false, &t)) == 0) {
    r = entry_for(c, t, &n, &e);
    store_txn_abort(t);
  }
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_entry(req, &e);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fs_ctx *c = ctx(req);
  struct node p;
  int r = acc_may_change(c, req, "rmdir");

  if (r == 0 && (!node_from_ino(parent, &p) || !nodeops_of(&p)->rmdir))
    r = -EPERM;
  if (r == 0)
    r = nodeops_of(&p)->rmdir(c, &p, name);
  notify_store_changed(c);
  reply_status(req, r);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fs_ctx *c = ctx(req);
  struct node p;
  int r = acc_may_change(c, req, "rm");

  if (r == 0 && (!node_from_ino(parent, &p) || !nodeops_of(&p)->unlink)) {
    fs_error(c, "rm %s: only files in tags/<tag>/ can be removed (it "
             "untags them); samples stay in the dataset", name);
    r = -EPERM;
  }
  if (r == 0)
    r = nodeops_of(&p)->unlink(c, &p, name);
  notify_store_changed(c);
  reply_status(req, r);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname,
                      unsigned int flags)
{
  struct fs_ctx *c = ctx(req);
  struct node src, dst;
  int r = acc_may_change(c, req, "mv");

  if (r == 0 && (flags & ~(unsigned)RENAME_NOREPLACE))
    r = -EINVAL;  /* no exchange or whiteout */
  else if (r == 0 &&
           (!node_from_ino(parent, &src) || !node_from_ino(newparent, &dst)))
    r = -ENOENT;
  /* The destination directory's kind decides what a move means. */
  if (r == 0 && nodeops_of(&dst)->rename_into)
    r = nodeops_of(&dst)->rename_into(c, &src, name, &dst, newname, flags);
  else if (r == 0)
    r = node_refuse_move(c, name, newname);
  /* The kernel moves the source dentry after our reply; it keeps the
   * epoch of its lookup, so its next use looks the new name up. */
  notify_store_changed(c);
  reply_status(req, r);
}

static void refuse_create(fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fs_ctx *c = ctx(req);
  struct node p;
  int r = acc_may_change(c, req, "create");

  if (r == 0 && node_from_ino(parent, &p) && p.kind == NODE_TAG)
    fs_error(c, "copy into a tag refused (%s): files cannot be added from "
             "outside; use mv samples/<name>.<ext> tags/<tag>/ inside the mount",
             name);
  else if (r == 0)
    fs_error(c, "create %s refused: the mount does not take new files", name);
  fuse_reply_err(req, r < 0 ? -r : EPERM);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, struct fuse_file_info *fi)
{
  (void)mode;
  (void)fi;
  refuse_create(req, parent, name);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode, dev_t rdev)
{
  (void)mode;
  (void)rdev;
  refuse_create(req, parent, name);
}

/* ---- inodes, the filesystem, the connection ---- */

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
  struct node n;

  /* Only provider paths hold per-inode state. */
  if (node_from_ino(ino, &n) && n.kind == NODE_VNODE)
    vnode_forget(ctx(req), ino, nlookup);
  fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
                            struct fuse_forget_data *forgets)
{
  struct node n;

  for (size_t i = 0; i < count; i++)
    if (node_from_ino(forgets[i].ino, &n) && n.kind == NODE_VNODE)
      vnode_forget(ctx(req), forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
  struct fs_ctx *c = ctx(req);
  struct statvfs sv;
  struct store_txn *t;
  uint64_t n = 0;

  (void)ino;
  memset(&sv, 0, sizeof(sv));
  if (begin(c, false, &t) == 0) {
    store_sample_count(t, &n);
    store_txn_abort(t);
  }
  sv.f_bsize = 4096;
  sv.f_frsize = 4096;
  sv.f_files = n;
  sv.f_namemax = 255;
  fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
  struct fs_ctx *c = userdata;

  /* A read-only mount lets the kernel open files without asking us: no
   * open, release or flush round trip per file, so reads of cached files
   * never reach the daemon (the per-open cost of a normal mount). */
  if (c->readonly && (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)) {
    conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
    c->no_open = true;
  }
  /* Replies for images come from the source fd: let libfuse splice them. */
  if (conn->capable & FUSE_CAP_SPLICE_WRITE)
    conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE)
    conn->want |= FUSE_CAP_SPLICE_MOVE;
  /* Label and control writes stay synchronous: no writeback cache. */
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  /* Whether names may be kept until the store changes: asked now, before
   * the first lookup (a notification takes no kernel lock, and none of
   * INIT's). */
  notify_epoch_init(c, conn->proto_minor);
  conn->max_background = 64;
  conn->congestion_threshold = 48;
}

const struct fuse_lowlevel_ops curatefs_ops = {
  .init = op_init,
  .lookup = op_lookup,
  .forget = op_forget,
  .forget_multi = op_forget_multi,
  .getattr = op_getattr,
  .setattr = op_setattr,
  .opendir = op_opendir,
  .readdir = op_readdir,
  .readdirplus = op_readdirplus,
  .open = op_open,
  .read = op_read,
  .ioctl = op_ioctl,
  .write = op_write,
  .flush = op_flush,
  .release = op_release,
  .fsync = op_fsync,
  .mkdir = op_mkdir,
  .rmdir = op_rmdir,
  .unlink = op_unlink,
  .rename = op_rename,
  .create = op_create,
  .mknod = op_mknod,
  .statfs = op_statfs,
  /* xattr.c: user.curatefs.* attributes of sample files */
  .getxattr = xattr_get,
  .listxattr = xattr_list,
  .setxattr = xattr_set,
  .removexattr = xattr_remove,
};
