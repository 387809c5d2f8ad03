/* passthrough.h - reads served by the kernel from a backing file.
 *
 * Linux 6.9 and later can serve the reads of an open FUSE file straight
 * from a file the daemon names (FUSE_PASSTHROUGH, protocol 7.40), so a
 * generated export read through the mount costs about what reading the
 * daemon's cache file costs.  libfuse exposes this from 3.17 on; Debian 12
 * ships 3.14.  This module adds it underneath libfuse, through the
 * session's custom-I/O hooks on /dev/fuse:
 *   - at INIT it asks for passthrough when the kernel offers it;
 *   - pt_backing_open() registers a backing file (FUSE_DEV_IOC_BACKING_OPEN,
 *     which needs CAP_SYS_ADMIN);
 *   - pt_reply_open() answers an OPEN with FOPEN_PASSTHROUGH and the id.
 * It does not decide which files are backed, nor keep the kernel's rule of
 * one backing file per open inode (vnode.c does both).  When the
 * kernel or the caller's privileges don't allow passthrough, nothing
 * changes: pt_active() stays false and every open goes the usual way.
 *
 * Ownership: struct passthrough (c->pt) is created by state_init() before
 * the session and freed by state_free() after it; its fields are atomics
 * (set by the INIT reply, read by any request thread), no lock.  The hooks
 * find it through the session's user data (struct fs_ctx).
 */
#ifndef CURATE_PASSTHROUGH_H
#define CURATE_PASSTHROUGH_H

#include <stdbool.h>
#include <stdint.h>

struct fuse_session;
struct fuse_req;
struct fuse_file_info;
struct fs_ctx;
struct passthrough;

/* c->pt (state.c). */
int pt_new(struct fs_ctx *c);
void pt_free(struct fs_ctx *c);

/* Installs the I/O hooks on a mounted session, before its loop starts
 * (nothing for a daemon that is not root).  0, or -errno (the session is
 * then unchanged). */
int pt_install(struct fs_ctx *c, struct fuse_session *se);
/* The kernel agreed to passthrough at INIT, and no backing file has been
 * refused for lack of privilege since. */
bool pt_active(struct passthrough *pt);
/* Registers fd (a regular file) as a backing file: its id (> 0), or
 * -errno (then passthrough turns itself off if the kernel refuses it for
 * good).  The kernel holds its own reference to the file while opens use
 * it; pt_backing_close() drops the id. */
int pt_backing_open(struct passthrough *pt, int fd);
void pt_backing_close(struct passthrough *pt, int id);
/* For status: NULL when on, else why it is off; *opens counts the opens
 * served through backing files since the mount. */
const char *pt_state(struct passthrough *pt, uint64_t *opens);
/* fuse_reply_open() for a file whose reads go to backing file `id` of the
 * request's session
 * (fi->keep_cache and fi->direct_io are ignored: the page cache is the
 * backing file's). */
int pt_reply_open(struct fuse_req *req, const struct fuse_file_info *fi, int id);

#endif
