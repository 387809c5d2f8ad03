/* ident.h - acting for another user on one thread: the file-system
 * identity (fsuid, fsgid and the supplementary groups) of the calling
 * thread only, taken on and given back.  How a program run by root opens
 * and makes files in a place another user controls (a store, its object
 * cache) with that user's rights and no more: the daemon for its store
 * owner and its requesters (fs/access.c), `curate` for a store owner
 * (tools/).
 *
 * Threads: everything here acts on the calling thread; ident_become()
 * and ident_restore() must be paired on it, and a thread created between
 * them inherits the identity taken on (create none there).  No global
 * state.
 */
#ifndef CURATE_IDENT_H
#define CURATE_IDENT_H

#include <stdbool.h>
#include <sys/types.h>

#define IDENT_GROUPS_MAX 256

/* Who to act as: a user and group id and the supplementary groups. */
struct ident {
  uid_t uid;
  gid_t gid;
  int ngroups;
  gid_t groups[IDENT_GROUPS_MAX];
};

/* What was in force before ident_become(), for ident_restore(). */
struct ident_saved {
  bool switched;
  uid_t fsuid;
  gid_t fsgid;
  int ngroups;
  gid_t groups[IDENT_GROUPS_MAX];
};

/* The owner of path (stat) with the supplementary groups the group
 * database gives that user (none when the uid has no name: fewer
 * rights, never more).  0 or -errno. */
int ident_of_owner(const char *path, struct ident *id);

/* Takes on uid, gid and groups[n] on this thread.  A no-op (switched
 * stays false) when the process is not root (it has no other rights to
 * give away) or when uid is 0 and the thread already acts as root; a
 * switch to root is made when the thread acts for someone else now (a
 * nested switch gives root's rights back).  0, or -errno (-EPERM when the
 * switch did not take); on error nothing changed. */
int ident_become(uid_t uid, gid_t gid, const gid_t *groups, int n,
                 struct ident_saved *sv);
/* The same for an ident. */
int ident_become_id(const struct ident *id, struct ident_saved *sv);
/* Back to what was in force before ident_become (nothing if no switch
 * was made). */
void ident_restore(struct ident_saved *sv);

#endif
