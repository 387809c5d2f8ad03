/* passthrough.c - kernel FUSE passthrough underneath libfuse 3.14 (see
 * passthrough.h).
 *
 * libfuse builds every reply itself; what it cannot express is two fields
 * of the wire protocol: the passthrough bit of the INIT reply (with the
 * backing stack depth) and the passthrough flag and backing id of an OPEN
 * reply.  The hooks below patch exactly those fields on their way to
 * /dev/fuse and pass everything else through untouched.  They need to
 * know which reply is which: libfuse reads a request and answers INIT in
 * the same worker thread, and pt_reply_open() sends its reply from the
 * calling thread, so a thread-local mark set just before the reply says
 * what the next write of this thread is.  The protocol constants of 7.40
 * are spelled out here because Debian 12's <linux/fuse.h> is 7.38.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "fs.h"
#include "passthrough.h"
#include "util.h"

/* Protocol 7.40 (linux/fuse.h of Linux 6.9). */
#define PT_FUSE_PASSTHROUGH (1ULL << 37)      /* INIT flag */
#define PT_FOPEN_PASSTHROUGH (1u << 7)        /* OPEN reply flag */
struct pt_backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define PT_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct pt_backing_map)
#define PT_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)
/* fuse_init_out.max_stack_depth follows flags2 (unused[0] in 7.38). */
#define PT_INIT_OUT_MIN (offsetof(struct fuse_init_out, unused) + 4)
/* How deep the backing file's filesystem may itself be stacked: 1 admits
 * plain filesystems (ext4, xfs, tmpfs), which is where stores live; the
 * mount itself then counts as stacked once. */
#define PT_STACK_DEPTH 1

struct passthrough {
  int devfd;           /* the session's /dev/fuse descriptor, or -1 */
  int on;              /* atomic: negotiated and allowed */
  uint64_t opens;      /* atomic: opens answered with a backing */
  /* Why it is off, for status (set once, before or at INIT, or when the
   * first backing file is refused); atomic. */
  const char *why;
};

/* What the next write(2) of this thread to /dev/fuse is: the hooks see
 * only the bytes, and libfuse answers each request in the thread that read
 * it, so a mark set by this thread just before its reply is the one way
 * to tell which reply is which. */
static __thread int mark_init;     /* fs-static-ok: the reply is INIT's */
static __thread int mark_open_id;  /* fs-static-ok: an OPEN's backing id */

int pt_new(struct fs_ctx *c)
{
  struct passthrough *pt = calloc(1, sizeof(*pt));

  if (!pt)
    return -ENOMEM;
  pt->devfd = -1;
  pt->why = "not installed (read-only mount, or -o nopassthrough)";
  c->pt = pt;
  return 0;
}

void pt_free(struct fs_ctx *c)
{
  free(c->pt);  /* devfd is the session's */
  c->pt = NULL;
}

static void set_why(struct passthrough *pt, const char *why)
{
  __atomic_store_n(&pt->why, why, __ATOMIC_RELEASE);
}

bool pt_active(struct passthrough *pt)
{
  return __atomic_load_n(&pt->on, __ATOMIC_ACQUIRE) != 0;
}

static ssize_t hook_read(int fd, void *buf, size_t len, void *ud)
{
  struct fs_ctx *c = ud;  /* the session's user data */
  ssize_t n = read(fd, buf, len);
  const struct fuse_in_header *h = buf;

  if (n >= (ssize_t)(sizeof(*h) + sizeof(struct fuse_init_in)) &&
      h->opcode == FUSE_INIT) {
    const struct fuse_init_in *in = (const void *)(h + 1);
    uint64_t flags = in->flags;
    if (flags & FUSE_INIT_EXT)
      flags |= (uint64_t)in->flags2 << 32;
    mark_init = (flags & PT_FUSE_PASSTHROUGH) != 0;
    if (!mark_init)
      set_why(c->pt, "the kernel does not offer it (Linux 6.9 or later "
              "does)");
  }
  return n;
}

/* The INIT reply libfuse built: ask for passthrough too, unless libfuse
 * turned on the writeback cache, which excludes it. */
static void patch_init(struct passthrough *pt, struct iovec *iov, int count)
{
  const struct fuse_out_header *oh = iov[0].iov_base;
  struct fuse_init_out *o;

  if (count != 2 || oh->error != 0 || iov[1].iov_len < PT_INIT_OUT_MIN)
    return;
  o = iov[1].iov_base;
  if (!(o->flags & FUSE_INIT_EXT) || (o->flags & FUSE_WRITEBACK_CACHE)) {
    set_why(pt, "excluded by the session's writeback cache");
    return;
  }
  o->flags2 |= (uint32_t)(PT_FUSE_PASSTHROUGH >> 32);
  o->unused[0] = PT_STACK_DEPTH;
  __atomic_store_n(&pt->on, 1, __ATOMIC_RELEASE);
  log_msg(LOG_LVL_INFO, "kernel passthrough on: large generated files are "
          "read from their cache files");
}

static void patch_open(struct iovec *iov, int count, int id)
{
  const struct fuse_out_header *oh = iov[0].iov_base;
  struct fuse_open_out *o;

  if (count != 2 || oh->error != 0 ||
      iov[1].iov_len != sizeof(struct fuse_open_out))
    return;
  o = iov[1].iov_base;
  /* The kernel refuses page-cache flags on a passthrough open. */
  o->open_flags &= FOPEN_NOFLUSH;
  o->open_flags |= PT_FOPEN_PASSTHROUGH;
  o->padding = (uint32_t)id;  /* backing_id in 7.40 */
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *ud)
{
  struct fs_ctx *c = ud;

  if (mark_init) {
    mark_init = 0;
    patch_init(c->pt, iov, count);
  } else if (mark_open_id > 0) {
    patch_open(iov, count, mark_open_id);
  }
  return writev(fd, iov, count);
}

/* Given so that libfuse keeps splicing read replies (without it, custom
 * I/O turns splice off). */
static ssize_t hook_splice_send(int fdin, off_t *offin, int fdout,
                                off_t *offout, size_t len, unsigned flags,
                                void *ud)
{
  (void)ud;
  return splice(fdin, offin, fdout, offout, len, flags);
}

int pt_install(struct fs_ctx *c, struct fuse_session *se)
{
  const struct fuse_custom_io io = {
    .read = hook_read,
    .writev = hook_writev,
    .splice_send = hook_splice_send,
  };
  int fd = fuse_session_fd(se);

  if (fd < 0)
    return -EBADF;
  if (geteuid() != 0) {
    /* Backing files need CAP_SYS_ADMIN; asking at INIT anyway would only
     * mark the mount as stacked. */
    set_why(c->pt, "the daemon is not root (backing files need "
            "CAP_SYS_ADMIN)");
    return 0;
  }
  /* The session keeps its descriptor: custom I/O only reroutes its
   * reads and writes through the hooks. */
  c->pt->devfd = fd;
  set_why(c->pt, "the kernel did not answer INIT yet");
  return fuse_session_custom_io(se, &io, fd);
}

int pt_backing_open(struct passthrough *pt, int fd)
{
  struct pt_backing_map m = { .fd = fd };
  int id;

  if (!pt_active(pt))
    return -ENOTSUP;
  id = ioctl(pt->devfd, PT_DEV_IOC_BACKING_OPEN, &m);
  if (id > 0)
    return id;
  id = id == 0 ? -EIO : -errno;
  if (id == -EPERM || id == -ELOOP || id == -ENOTTY || id == -EINVAL) {
    /* Not allowed for this process or store: don't ask again. */
    if (__atomic_exchange_n(&pt->on, 0, __ATOMIC_ACQ_REL)) {
      const char *why = id == -ELOOP ? "the store's filesystem is stacked"
                                     : "the kernel refused a backing file";
      set_why(pt, why);
      log_msg(LOG_LVL_WARN, "kernel passthrough off: %s (%s)", why,
              strerror(-id));
    }
  }
  return id;
}

void pt_backing_close(struct passthrough *pt, int id)
{
  uint32_t u = (uint32_t)id;

  if (id > 0 && ioctl(pt->devfd, PT_DEV_IOC_BACKING_CLOSE, &u) < 0)
    log_msg(LOG_LVL_WARN, "passthrough: closing backing %d: %s", id,
            strerror(errno));
}

int pt_reply_open(struct fuse_req *req, const struct fuse_file_info *fi,
                  int id)
{
  struct fs_ctx *c = fuse_req_userdata(req);
  struct fuse_file_info f = *fi;
  int r;

  f.keep_cache = 0;
  f.direct_io = 0;
  mark_open_id = id;
  r = fuse_reply_open(req, &f);
  mark_open_id = 0;
  if (r == 0)
    __atomic_add_fetch(&c->pt->opens, 1, __ATOMIC_RELAXED);
  return r;
}

const char *pt_state(struct passthrough *pt, uint64_t *opens)
{
  *opens = __atomic_load_n(&pt->opens, __ATOMIC_RELAXED);
  return pt_active(pt) ? NULL : __atomic_load_n(&pt->why, __ATOMIC_ACQUIRE);
}
