/* nodeops.c - which handlers serve a node (nodeops.h), and the attributes
 * every kind shares: owner, share modes (access.c), block counts, times.
 *
 * Above the node_*.c files (it names their tables), below ops.c.
 */
#include <string.h>

#include "access.h"
#include "nodeops.h"

const struct node_ops *nodeops_of(const struct node *n)
{
  switch (n->kind) {
  case NODE_ROOT:
    return &nodeops_root;
  case NODE_DIR:
    /* The fixed directories: one kind each. */
    if (n->id == DIR_SAMPLES)
      return &nodeops_samples_dir;
    return n->id == DIR_LABELS ? &nodeops_labels_dir : &nodeops_tags_dir;
  case NODE_CTL:
    return &nodeops_ctl;
  case NODE_SAMPLE:
    return &nodeops_sample;
  case NODE_LABEL:
    return &nodeops_label;
  case NODE_TAG:
    return &nodeops_tag;
  case NODE_TAGFILE:
    return &nodeops_tagfile;
  case NODE_VNODE:
    return &nodeops_vnode;
  }
  return &nodeops_root;  /* unreachable: node_from_ino() checked the kind */
}

static void ts(struct timespec *t, int64_t ns)
{
  t->tv_sec = ns / 1000000000LL;
  t->tv_nsec = ns % 1000000000LL;
}

int node_stat(struct fs_ctx *c, struct store_txn *t, const struct node *n,
              struct stat *st)
{
  int64_t mt = c->mount_ns;
  int r;

  memset(st, 0, sizeof(*st));
  st->st_ino = node_ino_of(n);
  st->st_uid = c->uid;
  st->st_gid = c->gid;
  st->st_blksize = 65536;
  r = nodeops_of(n)->stat(c, t, n, st, &mt);
  /* The owner's bits above; others get what -o share= gives (access.c). */
  st->st_mode = acc_mode(c, st->st_mode);
  st->st_blocks = (st->st_size + 511) / 512;
  ts(&st->st_mtim, mt);
  st->st_ctim = st->st_mtim;
  st->st_atim = st->st_mtim;
  return r;
}

double node_ttl(struct fs_ctx *c, const struct node *n)
{
  const struct node_ops *k = nodeops_of(n);

  return k->ttl ? k->ttl(c, n) : c->ttl;
}

double node_entry_ttl(struct fs_ctx *c, const struct node *n)
{
  const struct node_ops *k = nodeops_of(n);

  if (k->uncached_entry && k->uncached_entry(c, n))
    return 0;
  return node_ttl(c, n) > 0 ? c->ttl : 1.0;
}
