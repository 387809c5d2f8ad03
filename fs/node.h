/* node.h - inode numbers of the mounted tree.  Every inode is computed from
 * store ids, so the daemon keeps no per-inode state and `forget` costs
 * nothing:
 *
 *   bits 63..56  kind           (enum node_kind)
 *   bits 55..0   kind-specific  (directory/control id, sample id, tag id)
 *
 * Files under tags/<t>/ get their own inode per (tag, sample), bits 55..40
 * the tag id and 39..0 the sample id: the kernel turns a rename between two
 * names of one inode into a silent no-op, so `mv tags/a/x.jpg tags/b/` must
 * see two different inodes to reach us.
 *
 * Files in samples/ use bits 55..40 for a generation: after
 * `mv samples/x.jpg tags/t/` the kernel keeps the moved dentry, with the
 * samples/ inode, under tags/t/; the next samples/x.jpg gets the next
 * generation, so a later move into another tag can never carry the same
 * inode twice.  (Re-looking the moved name up instead would need an entry
 * invalidation, which can deadlock against a rename in flight when the
 * daemon is killed.)
 *
 * Pure header: no libfuse, no store; unit-tested in tests/unit.
 */
#ifndef CURATE_NODE_H
#define CURATE_NODE_H

#include <stdbool.h>
#include <stdint.h>

enum node_kind {
  NODE_ROOT = 0,     /* inode 1 */
  NODE_DIR = 1,      /* a fixed directory: enum node_dir */
  NODE_CTL = 2,      /* a generated file at the root: enum node_ctl */
  NODE_SAMPLE = 3,   /* samples/<name>.jpg: sample id */
  NODE_LABEL = 4,    /* labels/<name>.json: sample id */
  NODE_TAG = 5,      /* tags/<t>/: tag id */
  NODE_TAGFILE = 6,  /* tags/<t>/<name>.jpg: tag id + sample id */
  NODE_VNODE = 7,    /* a provider path (vtree.h): vnode table number */
};

enum node_dir { DIR_SAMPLES = 1, DIR_LABELS, DIR_TAGS };
enum node_ctl { CTL_README = 1, CTL_STATUS };

#define NODE_ROOT_INO 1ULL
#define NODE_SAMPLE_MAX ((1ULL << 40) - 1)
#define NODE_TAG_MAX 0xffffULL

struct node {
  enum node_kind kind;
  uint64_t id;       /* dir/ctl id, sample id or tag id */
  uint64_t sample;   /* NODE_TAGFILE only */
  uint16_t gen;      /* NODE_SAMPLE only */
};

static inline uint64_t node_ino(enum node_kind k, uint64_t id, uint64_t sample)
{
  if (k == NODE_ROOT)
    return NODE_ROOT_INO;
  /* NODE_TAGFILE: id = tag, sample = sample id.
   * NODE_SAMPLE: id = sample id, sample = generation. */
  if (k == NODE_TAGFILE)
    return ((uint64_t)k << 56) | (id << 40) | (sample & NODE_SAMPLE_MAX);
  if (k == NODE_SAMPLE)
    return ((uint64_t)k << 56) | ((sample & 0xffff) << 40) |
           (id & NODE_SAMPLE_MAX);
  return ((uint64_t)k << 56) | (id & ((1ULL << 56) - 1));
}

/* Decodes an inode number; false for numbers we never hand out. */
static inline bool node_from_ino(uint64_t ino, struct node *n)
{
  n->sample = 0;
  n->gen = 0;
  if (ino == NODE_ROOT_INO) {
    n->kind = NODE_ROOT;
    n->id = 0;
    return true;
  }
  n->kind = (enum node_kind)(ino >> 56);
  n->id = ino & ((1ULL << 56) - 1);
  switch (n->kind) {
  case NODE_DIR:
    return n->id >= DIR_SAMPLES && n->id <= DIR_TAGS;
  case NODE_CTL:
    return n->id >= CTL_README && n->id <= CTL_STATUS;
  case NODE_SAMPLE:
    n->gen = (uint16_t)(n->id >> 40);
    n->id &= NODE_SAMPLE_MAX;
    return n->id != 0;
  case NODE_LABEL:
  case NODE_TAG:
  case NODE_VNODE:
    return n->id != 0;
  case NODE_TAGFILE:
    n->sample = ino & NODE_SAMPLE_MAX;
    n->id = (ino >> 40) & NODE_TAG_MAX;
    return n->id != 0 && n->sample != 0;
  default:
    return false;
  }
}

/* Directories whose files are samples (a rename source for tagging). */
static inline bool node_lists_samples(const struct node *n)
{
  return (n->kind == NODE_DIR && n->id == DIR_SAMPLES) || n->kind == NODE_TAG;
}

#endif
