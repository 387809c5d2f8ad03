/* access.c - who may do what on a mount (docs/USER-GUIDE.md, "Who may do
 * what").
 *
 * The store's owner (the owner of the store directory) owns every file of
 * the mount.  The kernel checks the modes we report (the mount always has
 * default_permissions); the daemon checks again, so a request that reaches
 * it from anyone but the owner or root cannot change anything whatever the
 * modes say:
 *   - changes (label and control writes, truncation, mkdir/rmdir/mv/rm in
 *     tags/): the owner and root only;
 *   - reads: the owner and root, plus the store's group (-o share=group) or
 *     everyone (-o share=read) when the owner chose so; share=none (the
 *     default) keeps other users of an allow_other mount out.
 * A control file that names a path (eval/import-predictions and its
 * names=, coco_gt=) is carried out with the requester's file-system
 * identity: the worker thread switches its fsuid, fsgid and supplementary
 * groups to the requester's for the command and back after it, so the
 * daemon (often root) never opens for someone a file they could not open
 * themselves.  These are per-thread credentials in Linux (raw setfsuid,
 * setfsgid and setgroups system calls; glibc's setgroups() would change
 * every thread of the process).
 *
 * A thread inherits the credentials of the thread that creates it, so a
 * thread the daemon starts while a request runs with someone's identity
 * (the CVAT push thread, started by the first push command) would keep
 * that identity for all its later work: such a thread takes the daemon's
 * own back first (acc_thread_as_daemon).
 *
 * State: it reads c's fixed fields (uid, gid, share, owner_groups), set
 * before the session starts (acc_owner_groups), which also records the
 * daemon's own supplementary groups here, once, before any thread runs;
 * read-only afterwards.
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "access.h"

mode_t acc_mode(const struct fs_ctx *c, mode_t mode)
{
  mode_t keep = c->share == ACC_SHARE_READ ? 0755
                : c->share == ACC_SHARE_GROUP ? 0750 : 0700;

  return (mode & ~(mode_t)0777) | (mode & keep);
}

int acc_parse_share(const char *s, enum acc_share *ret)
{
  if (strcmp(s, "none") == 0)
    *ret = ACC_SHARE_NONE;
  else if (strcmp(s, "group") == 0)
    *ret = ACC_SHARE_GROUP;
  else if (strcmp(s, "read") == 0)
    *ret = ACC_SHARE_READ;
  else
    return -EINVAL;
  return 0;
}

int acc_may_change(struct fs_ctx *c, fuse_req_t req, const char *what)
{
  const struct fuse_ctx *fc = fuse_req_ctx(req);

  if (fc->uid == 0 || fc->uid == c->uid)
    return 0;
  fs_error(c, "%s: refused for uid %u: only the store's owner (uid %u) or "
           "root may change the mount", what, (unsigned)fc->uid,
           (unsigned)c->uid);
  return -EACCES;
}

static bool in_group(fuse_req_t req, gid_t gid)
{
  const struct fuse_ctx *fc = fuse_req_ctx(req);
  gid_t groups[256];
  int n;

  if (fc->gid == gid)
    return true;
  n = fuse_req_getgroups(req, (int)ARRAY_SIZE(groups), groups);
  for (int i = 0; i < n && i < (int)ARRAY_SIZE(groups); i++)
    if (groups[i] == gid)
      return true;
  return false;
}

int acc_may_read(struct fs_ctx *c, fuse_req_t req)
{
  const struct fuse_ctx *fc = fuse_req_ctx(req);

  if (fc->uid == 0 || fc->uid == c->uid || c->share == ACC_SHARE_READ)
    return 0;
  if (c->share == ACC_SHARE_GROUP && in_group(req, c->gid))
    return 0;
  return -EACCES;
}

/* The one way the daemon takes on a user's file-system identity, for the
 * requester (acc_become) and for the store's owner (acc_open_as_owner):
 * fsuid, fsgid and supplementary groups of this thread only (ident.h).
 * What was in force is saved (an owner switch may nest inside a
 * requester's, and then gives root's rights back to a root owner). */
static int become(uid_t uid, gid_t gid, const gid_t *groups, int n,
                  struct acc_saved *sv)
{
  return ident_become(uid, gid, groups, n, &sv->id);
}

int acc_become(fuse_req_t req, struct acc_saved *sv)
{
  const struct fuse_ctx *fc = fuse_req_ctx(req);
  gid_t groups[ACC_GROUPS_MAX];
  int n;

  sv->id.switched = false;
  if (geteuid() != 0 || fc->uid == 0)
    return 0;
  n = fuse_req_getgroups(req, (int)ARRAY_SIZE(groups), groups);
  if (n < 0)
    n = 0;  /* no supplementary groups known: fewer rights, never more */
  if (n > (int)ARRAY_SIZE(groups))
    n = (int)ARRAY_SIZE(groups);
  return become(fc->uid, fc->gid, groups, n, sv);
}

void acc_restore(struct acc_saved *sv)
{
  ident_restore(&sv->id);
}

void acc_owner_groups(struct fs_ctx *c)
{
  struct passwd pw, *res = NULL;
  char buf[4096];
  int n = (int)ARRAY_SIZE(c->owner_groups);

  c->owner_ngroups = 0;
  c->daemon_ngroups = getgroups((int)ARRAY_SIZE(c->daemon_groups),
                                c->daemon_groups);
  if (getpwuid_r(c->uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
    return;  /* no such user: the owner's group only, fewer rights */
  if (getgrouplist(pw.pw_name, c->gid, c->owner_groups, &n) < 0)
    n = (int)ARRAY_SIZE(c->owner_groups);  /* the first ones */
  c->owner_ngroups = n;
}

int acc_become_owner(const struct fs_ctx *c, struct acc_saved *sv)
{
  return become(c->uid, c->gid, c->owner_groups, c->owner_ngroups, sv);
}

int acc_open_as_owner(void *arg, const char *path)
{
  struct fs_ctx *c = arg;
  struct acc_saved sv;
  int r = acc_become_owner(c, &sv);

  if (r < 0)
    return r;
  r = open_regular(path);
  acc_restore(&sv);
  return r;
}

int acc_thread_as_daemon(const struct fs_ctx *c)
{
  if (geteuid() != 0)
    return 0;  /* no switch is ever made (become()) */
  if (c->daemon_ngroups < 0)
    return -EPERM;
  /* Groups first: setgroups needs CAP_SETGID, which an fsuid switch does
   * not take away; then the daemon's fsgid and fsuid. */
  if (syscall(SYS_setgroups, (size_t)c->daemon_ngroups,
              c->daemon_groups) < 0)
    return -errno;
  syscall(SYS_setfsgid, getegid());
  syscall(SYS_setfsuid, geteuid());
  if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != geteuid() ||
      (gid_t)syscall(SYS_setfsgid, (gid_t)-1) != getegid())
    return -EPERM;
  return 0;
}
