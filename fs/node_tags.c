/* node_tags.c - tags/, tags/<t>/ and their files, and the tag gestures
 * (nodeops.h).
 *
 *   tags/                 listing: store_iter_tags
 *   tags/<t>/             listing: store_iter_tag (members whose files
 *                         are missing are not shown)
 *   tags/<t>/<n>.<ext>    the source file (like samples/<n>.<ext>)
 *
 * Gestures, each one write transaction:
 *   mkdir tags/T                 store_tag_create
 *   rmdir tags/T                 store_tag_delete (an empty tag only)
 *   mv tags/A tags/B             store_tag_rename
 *   mv samples/x tags/T/         store_tag_add
 *   mv tags/A/x tags/B/          store_tag_add + store_tag_remove
 *   mv <provider file> tags/T/   store_tag_add of the sample it shows
 *   rm tags/T/x                  store_tag_remove (idempotent)
 * (mv tags/T/x samples/ untags: node_samples.c.)
 *
 * A move changes which inode a name leads to; the kernel keeps the moved
 * dentry with its old inode, so after a move out of samples/ the sample's
 * samples/ inode gets a new generation, and a moved provider file's path
 * is detached from its inode (node.h), before the adapter replies.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgfmt.h"
#include "nodeops.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)  /* linux/fs.h */
#endif

/* ---- tags/ ---- */

static int tags_dir_lookup(struct fs_ctx *c, struct store_txn *t,
                           const struct node *dir, const char *name,
                           struct node *ret, bool *versioned)
{
  uint64_t id;
  int r = store_tag_lookup(t, name, &id);

  (void)c;
  (void)dir;
  *versioned = false;
  if (r < 0)
    return r;
  memset(ret, 0, sizeof(*ret));
  ret->kind = NODE_TAG;
  ret->id = id;
  return 0;
}

static int tags_dir_readdir(struct dir_fill *d, const struct node *dir,
                            off_t off)
{
  struct store_iter *it;
  struct node n = { .kind = NODE_TAG };
  char name[NAME_MAX + 1];
  uint64_t tid, from = off <= 2 ? 1 : (uint64_t)off - 1;
  const char *tname;
  int r = store_iter_new(d->t, &it);

  (void)dir;
  if (r < 0)
    return r;
  while ((r = store_iter_tags(it, from, &tid, &tname)) == 0) {
    from = tid + 1;
    snprintf(name, sizeof(name), "%s", tname);
    n.id = tid;
    if (!d->add(d, name, &n, (off_t)tid + 2))
      break;
  }
  store_iter_free(it);
  return r == -ENOENT ? 0 : r;
}

static int tags_mkdir(struct fs_ctx *c, const struct node *dir,
                      const char *name, struct node *ret)
{
  struct store_txn *t;
  int r;

  (void)dir;
  memset(ret, 0, sizeof(*ret));
  ret->kind = NODE_TAG;
  if (!store_tag_name_valid(name)) {
    fs_error(c, "mkdir tags/%s: not a valid tag name", name);
    return -EINVAL;
  }
  r = store_txn_begin(c->store, true, &t);
  if (r == 0) {
    r = store_tag_create(t, name, &ret->id);
    r = r == 0 ? store_txn_commit(t) : (store_txn_abort(t), r);
  }
  if (r == -ENOSPC && store_full_hint())
    fs_report_full(c, r, "mkdir tags/", name);
  else if (r < 0 && r != -EEXIST)
    fs_error(c, "mkdir tags/%s: %s", name, strerror(-r));
  return r;
}

/* rmdir of a tag that is not empty: members whose files vanished are not
 * listed but still tagged (they come back when their files do): say why
 * the directory that looks empty is not. */
static void explain_not_empty(struct fs_ctx *c, struct store_txn *t,
                              const char *name)
{
  uint64_t tid, sid, next = 1, shown = 0, all = 0;
  struct store_iter *it;
  struct sample s;

  if (store_tag_lookup(t, name, &tid) < 0 || store_iter_new(t, &it) < 0)
    return;
  while (store_iter_tag(it, tid, next, &sid) == 0) {
    next = sid + 1;
    all++;
    shown += visible_sample(t, sid, &s) == 0;
  }
  store_iter_free(it);
  if (shown == 0 && all)
    fs_error(c, "rmdir tags/%s: its %llu samples have missing files "
             "(not listed); untag them after re-importing, or delete "
             "them from the store", name, (unsigned long long)all);
}

static int tags_rmdir(struct fs_ctx *c, const struct node *dir,
                      const char *name)
{
  struct store_txn *t;
  int r = store_txn_begin(c->store, true, &t);

  (void)dir;
  if (r == 0) {
    r = store_tag_delete(t, name);
    if (r == -ENOTEMPTY)
      explain_not_empty(c, t, name);
    r = r == 0 ? store_txn_commit(t) : (store_txn_abort(t), r);
  }
  return fs_report_full(c, r, "rmdir tags/", name);
}

/* mv tags/a tags/b: renames the tag. */
static int tags_rename_into(struct fs_ctx *c, const struct node *src,
                            const char *name, const struct node *dir,
                            const char *newname, unsigned flags)
{
  struct store_txn *t;
  int r;

  (void)dir;
  (void)flags;
  if (src->kind != NODE_DIR || src->id != DIR_TAGS)
    return node_refuse_move(c, name, newname);
  r = store_txn_begin(c->store, true, &t);
  if (r < 0)
    return r;
  r = store_tag_rename(t, name, newname);
  if (r == -EINVAL)
    fs_error(c, "mv tags/%s tags/%s: not a valid tag name", name, newname);
  r = r >= 0 ? store_txn_commit(t) : (store_txn_abort(t), r);
  return fs_report_full(c, r, "mv ", name);
}

const struct node_ops nodeops_tags_dir = {
  .lookup = tags_dir_lookup,
  .stat = node_dir_stat,
  .readdir = tags_dir_readdir,
  .mkdir = tags_mkdir,
  .rmdir = tags_rmdir,
  .rename_into = tags_rename_into,
};

/* ---- tags/<t>/ ---- */

static int tag_lookup(struct fs_ctx *c, struct store_txn *t,
                      const struct node *dir, const char *name,
                      struct node *ret, bool *versioned)
{
  struct sample s;
  int r = sample_by_file(t, name, NULL, &s);

  (void)c;
  *versioned = false;
  if (r < 0)
    return r;
  r = store_tag_has(t, dir->id, s.id);
  if (r <= 0)
    return r < 0 ? r : -ENOENT;
  memset(ret, 0, sizeof(*ret));
  ret->kind = NODE_TAGFILE;
  ret->id = dir->id;
  ret->sample = s.id;
  return 0;
}

static int tag_stat(struct fs_ctx *c, struct store_txn *t,
                    const struct node *n, struct stat *st, int64_t *mt)
{
  uint64_t cnt;

  (void)c;
  st->st_mode = S_IFDIR | 0755;
  st->st_nlink = 2;
  return store_tag_get(t, n->id, NULL, &cnt, mt);
}

static int tag_readdir(struct dir_fill *d, const struct node *dir, off_t off)
{
  struct store_iter *it;
  struct node n = { .kind = NODE_TAGFILE, .id = dir->id };
  char name[NAME_MAX + 1];
  uint64_t sid, from = off <= 2 ? 1 : (uint64_t)off - 1;
  struct sample s;
  int r = store_iter_new(d->t, &it);

  if (r < 0)
    return r;
  while ((r = store_iter_tag(it, dir->id, from, &sid)) == 0) {
    from = sid + 1;
    if (visible_sample(d->t, sid, &s) < 0)
      continue;
    snprintf(name, sizeof(name), "%s%s", s.name, img_ext_of(s.format));
    n.sample = sid;
    if (!d->add(d, name, &n, (off_t)sid + 2))
      break;
  }
  store_iter_free(it);
  return r == -ENOENT ? 0 : r;
}

static int tag_unlink(struct fs_ctx *c, const struct node *dir,
                      const char *name)
{
  struct store_txn *t;
  struct sample s;
  int r = store_txn_begin(c->store, true, &t);

  if (r == 0) {
    r = sample_by_file(t, name, NULL, &s);
    /* Untagging is idempotent, so `rm -r` never trips over a race. */
    if (r == 0)
      r = store_tag_remove(t, dir->id, s.id);
    r = r >= 0 ? store_txn_commit(t) : (store_txn_abort(t), r);
  }
  return fs_report_full(c, r, "rm ", name);
}

/* Adds s to tag dst (NOREPLACE: -EEXIST if it is a member already). */
static int tag_add(struct store_txn *t, uint64_t tag, uint64_t sample,
                   unsigned flags)
{
  int r = store_tag_has(t, tag, sample);

  if (r == 1 && (flags & RENAME_NOREPLACE))
    return -EEXIST;
  return r < 0 ? r : store_tag_add(t, tag, sample);
}

/* mv views/<v>/<file> tags/t/ (or any provider file that shows a sample):
 * tags the sample; the view keeps showing it.  *moved gets the provider
 * path whose dentry moved (owned by the caller). */
static int tag_from_provider(struct fs_ctx *c, struct store_txn *t,
                             const struct node *src, const char *name,
                             const struct node *dir, const char *newname,
                             unsigned flags, char **moved)
{
  char want[NAME_MAX + 2];
  struct sample s;
  int r = vpath_sample_of(c, t, node_ino_of(src), name, &s, moved);

  if (r == -EPERM)
    fs_error(c, "mv %s: only image files can be moved into tags/", name);
  if (r < 0)
    return r;
  snprintf(want, sizeof(want), "%s%s", s.name, img_ext_of(s.format));
  if (strcmp(newname, name) != 0 && strcmp(newname, want) != 0) {
    fs_error(c, "mv %s -> %s: move into the tag directory without "
             "renaming", name, newname);
    return -EINVAL;
  }
  return tag_add(t, dir->id, s.id, flags);
}

/* mv samples/x tags/t/, mv tags/a/x tags/t/: tags (and untags from a). */
static int tag_from_dir(struct fs_ctx *c, struct store_txn *t,
                        const struct node *src, const char *name,
                        const struct node *dir, const char *newname,
                        unsigned flags, uint64_t *moved_sample)
{
  struct sample s;
  int r = sample_move_check(c, t, src, name, newname, &s);

  if (r < 0)
    return r;
  if (src->kind == NODE_TAG && src->id == dir->id)
    return 0;
  r = tag_add(t, dir->id, s.id, flags);
  if (r >= 0 && src->kind == NODE_TAG)
    r = store_tag_remove(t, src->id, s.id);
  if (r >= 0 && src->kind == NODE_DIR)
    *moved_sample = s.id;
  return r;
}

static int tag_rename_into(struct fs_ctx *c, const struct node *src,
                           const char *name, const struct node *dir,
                           const char *newname, unsigned flags)
{
  struct store_txn *t;
  char *moved_path = NULL;
  uint64_t moved_sample = 0;
  int r = store_txn_begin(c->store, true, &t);

  if (r < 0)
    return fs_report_full(c, r, "mv ", name);
  if (src->kind == NODE_VNODE)
    r = tag_from_provider(c, t, src, name, dir, newname, flags, &moved_path);
  else
    r = tag_from_dir(c, t, src, name, dir, newname, flags, &moved_sample);
  r = r >= 0 ? store_txn_commit(t) : (store_txn_abort(t), r);
  fs_report_full(c, r, "mv ", name);
  /* The moved dentry keeps its inode: see node.h, before the reply. */
  if (r >= 0 && moved_sample)
    fs_sample_gen_bump(c, moved_sample);
  if (r >= 0 && moved_path)
    vnode_detach(c, moved_path);
  free(moved_path);
  return r < 0 ? r : 0;
}

const struct node_ops nodeops_tag = {
  .lookup = tag_lookup,
  .stat = tag_stat,
  .readdir = tag_readdir,
  .unlink = tag_unlink,
  .rename_into = tag_rename_into,
};

/* ---- tags/<t>/<n>.<ext> ---- */

static int tagfile_stat(struct fs_ctx *c, struct store_txn *t,
                        const struct node *n, struct stat *st, int64_t *mt)
{
  int r = sample_file_stat(t, n->sample, st, mt);

  (void)c;
  if (r == 0 && store_tag_has(t, n->id, n->sample) != 1)
    r = -ENOENT;
  return r;
}

static int tagfile_open(struct fs_ctx *c, struct store_txn *t,
                        const struct node *n, uint64_t ino, int flags,
                        struct nh **ret, struct open_out *o)
{
  struct sample s;
  int r;

  (void)ino;
  if ((flags & O_ACCMODE) != O_RDONLY)
    return -EACCES;
  r = visible_sample(t, n->sample, &s);
  return r < 0 ? r : sample_open(c, &s, n, flags, ret, o);
}

static int tagfile_read_ino(struct fs_ctx *c, struct store_txn *t,
                            const struct node *n, uint64_t ino,
                            struct ino_read *o)
{
  (void)c;
  (void)t;
  (void)ino;
  o->sample = n->sample;
  return 0;
}

/* A name in tags/<t>/ is revalidated at each use.  A rename moves the
 * kernel's dentry with its inode and its entry time: after mv tags/a/x.jpg
 * tags/b/ the dentry tags/b/x.jpg would keep the inode of (a, x), which is
 * no longer a member, and answer ENOENT for as long as the entry time
 * lasts.  With no entry time the next use looks the name up again and
 * finds (b, x).  Read-only mounts have no renames.  (The attribute time
 * stays the mount's.) */
static bool tagfile_uncached(struct fs_ctx *c, const struct node *n)
{
  (void)n;
  /* While every store change (a rename is one) drops the kernel's names,
   * the moved dentry is looked up again at its next use anyway. */
  return !c->readonly && !notify_epoch_on(c);
}

const struct node_ops nodeops_tagfile = {
  .stat = tagfile_stat,
  .open = tagfile_open,
  .read_ino = tagfile_read_ino,
  .uncached_entry = tagfile_uncached,
};
