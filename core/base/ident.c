/* ident.c - a thread's file-system identity taken on and given back (see
 * ident.h).  Linux keeps fsuid, fsgid and the supplementary groups per
 * thread in the kernel; the raw setfsuid, setfsgid and setgroups system
 * calls change only the calling thread (glibc's setgroups() would change
 * every thread of the process, through its signal broadcast).
 */
#define _GNU_SOURCE   /* getgrouplist */
#include "ident.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static uid_t cur_fsuid(void)
{
  return (uid_t)syscall(SYS_setfsuid, (uid_t)-1);
}

static gid_t cur_fsgid(void)
{
  return (gid_t)syscall(SYS_setfsgid, (gid_t)-1);
}

int ident_of_owner(const char *path, struct ident *id)
{
  struct passwd pw, *res = NULL;
  struct stat st;
  char buf[4096];
  int n = IDENT_GROUPS_MAX;

  if (stat(path, &st) < 0)
    return -errno;
  id->uid = st.st_uid;
  id->gid = st.st_gid;
  id->ngroups = 0;
  if (getpwuid_r(st.st_uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
    return 0;
  /* The user's primary group, not the file's, heads the list the group
   * database gives; the file's group stays the fsgid. */
  if (getgrouplist(pw.pw_name, pw.pw_gid, id->groups, &n) < 0)
    n = IDENT_GROUPS_MAX;  /* the first ones */
  id->ngroups = n;
  return 0;
}

int ident_become(uid_t uid, gid_t gid, const gid_t *groups, int n,
                 struct ident_saved *sv)
{
  sv->switched = false;
  /* A process that is not root has no other rights to give away, and
   * root needs no switch to act for root, unless this thread acts for
   * someone else now (a switch nested in another's must give root's
   * rights back, not keep the other's). */
  if (geteuid() != 0 || (uid == 0 && cur_fsuid() == 0))
    return 0;
  sv->ngroups = getgroups(IDENT_GROUPS_MAX, sv->groups);
  if (sv->ngroups < 0)
    return -errno;
  sv->fsuid = cur_fsuid();
  sv->fsgid = cur_fsgid();
  /* Groups first: setgroups needs CAP_SETGID, which the fsuid switch
   * would not take away, but keep the order the restore undoes. */
  if (syscall(SYS_setgroups, (size_t)n, groups) < 0)
    return -errno;
  syscall(SYS_setfsgid, gid);
  syscall(SYS_setfsuid, uid);
  sv->switched = true;
  /* setfsuid() reports no errors: check that it took. */
  if (cur_fsuid() != uid || cur_fsgid() != gid) {
    ident_restore(sv);
    return -EPERM;
  }
  return 0;
}

int ident_become_id(const struct ident *id, struct ident_saved *sv)
{
  return ident_become(id->uid, id->gid, id->groups, id->ngroups, sv);
}

void ident_restore(struct ident_saved *sv)
{
  if (!sv->switched)
    return;
  syscall(SYS_setfsuid, sv->fsuid);
  syscall(SYS_setfsgid, sv->fsgid);
  syscall(SYS_setgroups, (size_t)sv->ngroups, sv->groups);
  sv->switched = false;
}
