/* xattr.h - the extended-attribute operations of the mount (xattr.c),
 * plugged into ops.c's operations table. */
#ifndef CURATE_XATTR_H
#define CURATE_XATTR_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

/* Prefix of every attribute the mount shows. */
#define XATTR_PREFIX "user.curatefs."

void xattr_get(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void xattr_list(fuse_req_t req, fuse_ino_t ino, size_t size);
void xattr_set(fuse_req_t req, fuse_ino_t ino, const char *name,
               const char *value, size_t size, int flags);
void xattr_remove(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
