/* access.h - who may do what on a mount: modes shown, owner-only changes,
 * shared reads, and the requester's identity for paths named in control
 * files (see access.c).  Functions take the request of the calling FUSE
 * worker; acc_become()/acc_restore() change only the calling thread's
 * credentials and must be paired on that thread.
 */
#ifndef CURATE_ACCESS_H
#define CURATE_ACCESS_H

#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

#include "fs.h"
#include "ident.h"

struct fuse_req;

/* Modes with the group/other bits the share setting allows (mode carries
 * the owner's bits and the file type). */
mode_t acc_mode(const struct fs_ctx *c, mode_t mode);
/* "none", "group", "read" -> the setting; -EINVAL otherwise. */
int acc_parse_share(const char *s, enum acc_share *ret);

/* 0 if the requester may change the mount (the owner or root); otherwise
 * -EACCES, with the reason (what was refused) in the log and status. */
int acc_may_change(struct fs_ctx *c, struct fuse_req *req,
                   const char *what);
/* 0 if the requester may read (owner, root, or as -o share says). */
int acc_may_read(struct fs_ctx *c, struct fuse_req *req);

#define ACC_GROUPS_MAX IDENT_GROUPS_MAX

/* The identity in force before a switch (core's ident.h does the
 * switching, for the daemon and for the tools alike). */
struct acc_saved {
  struct ident_saved id;
};

/* Takes on the requester's fsuid, fsgid and supplementary groups on this
 * thread (a no-op for root requesters or a daemon that is not root).
 * 0 or -errno; on error nothing changed. */
int acc_become(struct fuse_req *req, struct acc_saved *sv);
/* Back to the identity in force before acc_become (or the owner switch). */
void acc_restore(struct acc_saved *sv);

/* Fills c->owner_groups with the owner's supplementary groups from the
 * group database (none if the uid has no name).  Once, at start. */
void acc_owner_groups(struct fs_ctx *c);
/* Takes on the store owner's fsuid, fsgid and groups on this thread (a
 * no-op for a root owner or a daemon that is not root), until
 * acc_restore(): how the daemon opens files in the owner's store
 * directory.  0 or -errno; on error nothing changed. */
int acc_become_owner(const struct fs_ctx *c, struct acc_saved *sv);
/* open_regular(path) (util.h) with the store owner's fsuid, fsgid and
 * groups on this thread, then back: how a file a setting names is opened
 * (cvat.ca_bundle).  arg is the struct fs_ctx.  A descriptor or -errno. */
int acc_open_as_owner(void *arg, const char *path);
/* At the start of a thread the daemon creates: back to the daemon's own
 * fsuid, fsgid and supplementary groups (those of the process at start,
 * recorded in c by acc_owner_groups), whatever identity the creating
 * thread had taken on.  0 or -errno. */
int acc_thread_as_daemon(const struct fs_ctx *c);

#endif
