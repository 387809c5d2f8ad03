/* node_fixed.c - the root and its fixed files (nodeops.h).
 *
 *   /              lookup and listing: the fixed entries below, then the
 *                  provider tops (node_vnode.c) that exist
 *   /README.txt    render_readme() (render.c), fixed text
 *   /status        render_status() (render.c): counts, import progress,
 *                  recent errors (errring.c); never cached by the kernel
 *
 * The text of README.txt and status is rendered at each stat and open
 * into a handle of its own (struct text_fh), so a reader sees one
 * coherent text.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "nodeops.h"

/* Longest full path of a provider file. */
#define VPATH_MAX 4096

struct fixed_entry {
  const char *name;
  enum node_kind kind;
  uint64_t id;
};

static const struct fixed_entry root_entries[] = {
  { "README.txt", NODE_CTL, CTL_README },
  { "status", NODE_CTL, CTL_STATUS },
  { "samples", NODE_DIR, DIR_SAMPLES },
  { "labels", NODE_DIR, DIR_LABELS },
  { "tags", NODE_DIR, DIR_TAGS },
};

/* ---- / ---- */

static int root_lookup(struct fs_ctx *c, struct store_txn *t,
                       const struct node *dir, const char *name,
                       struct node *ret, bool *versioned)
{
  (void)dir;
  *versioned = false;
  for (size_t i = 0; i < ARRAY_SIZE(root_entries); i++)
    if (strcmp(name, root_entries[i].name) == 0) {
      memset(ret, 0, sizeof(*ret));
      ret->kind = root_entries[i].kind;
      ret->id = root_entries[i].id;
      return 0;
    }
  /* The provider tops. */
  if (strlen(name) >= VPATH_MAX)
    return -ENAMETOOLONG;
  return vpath_lookup(c, t, name, ret, versioned);
}

/* Cookies: 1 and 2 are "." and ".."; the fixed entries use 3.., then the
 * provider tops. */
static int root_readdir(struct dir_fill *d, const struct node *dir, off_t off)
{
  struct node n = { 0 };

  (void)dir;
  for (size_t i = off < 3 ? 0 : (size_t)off - 2; i < ARRAY_SIZE(root_entries);
       i++) {
    n.kind = root_entries[i].kind;
    n.id = root_entries[i].id;
    if (!d->add(d, root_entries[i].name, &n, (off_t)i + 3))
      return 0;
  }
  return vpath_list_tops(d, off, ARRAY_SIZE(root_entries) + 1);
}

const struct node_ops nodeops_root = {
  .lookup = root_lookup,
  .stat = node_dir_stat,
  .readdir = root_readdir,
};

/* ---- README.txt and status ---- */

/* A rendered text being read.  Owns buf. */
struct text_fh {
  struct nh h;
  struct buf buf;
};

static int render(struct fs_ctx *c, const struct node *n, struct buf *out)
{
  return n->id == CTL_README ? render_readme(c, out)
                             : render_status(c, out, NULL);
}

static int text_read(struct nh *nh, size_t size, off_t off,
                     struct read_out *o)
{
  struct text_fh *h = (struct text_fh *)nh;

  read_slice(h->buf.data, h->buf.len, size, off, o);
  return 0;
}

static void text_free(struct nh *nh)
{
  struct text_fh *h = (struct text_fh *)nh;

  buf_free(&h->buf);
  free(h);
}

static const struct fh_ops text_fh_ops = {
  .read = text_read,
  .free = text_free,
};

static int ctl_stat(struct fs_ctx *c, struct store_txn *t,
                    const struct node *n, struct stat *st, int64_t *mt)
{
  struct buf b;
  uint64_t h = 0;
  int r;

  (void)t;
  buf_init(&b, 1 << 24);
  r = n->id == CTL_STATUS ? render_status(c, &b, &h) : render(c, n, &b);
  st->st_mode = S_IFREG | 0444;
  st->st_nlink = 1;
  st->st_size = (off_t)b.len;
  /* status changes on its own: its mtime is when it last said something
   * else than its caches' counters (gencache.c, "birth time"), so two
   * copies of an unchanged mount copy it once.  A read-only mount's
   * kernel opens it without asking (no direct_io) and reads it through
   * its page cache, which it drops only when the size or the mtime
   * moves: there the counters count too, or a read would show those of
   * an earlier one. */
  if (n->id == CTL_STATUS && r == 0 && c->no_open)
    h = hash_bytes_fnv1a(HASH_FNV1A_INIT, b.data, b.len);
  if (n->id == CTL_STATUS && r == 0)
    *mt = gen_text_born(c, "status", h);
  buf_free(&b);
  return r;
}

static int ctl_open(struct fs_ctx *c, struct store_txn *t,
                    const struct node *n, uint64_t ino, int flags,
                    struct nh **ret, struct open_out *o)
{
  struct text_fh *h;
  int r;

  (void)t;
  (void)ino;
  if ((flags & O_ACCMODE) != O_RDONLY)
    return -EACCES;
  h = calloc(1, sizeof(*h));
  if (!h)
    return -ENOMEM;
  nh_init(&h->h, &text_fh_ops, n);
  buf_init(&h->buf, LABELS_MAX_JSON);
  r = render(c, n, &h->buf);
  if (r < 0) {
    nh_put(&h->h);
    return r;
  }
  /* status may change size between stat and read: bypass the cache. */
  o->direct_io = n->id == CTL_STATUS;
  o->noflush = true;
  *ret = &h->h;
  return 0;
}

static int ctl_read_ino(struct fs_ctx *c, struct store_txn *t,
                        const struct node *n, uint64_t ino,
                        struct ino_read *o)
{
  (void)t;
  (void)ino;
  return render(c, n, &o->text);
}

/* status changes without any request of ours: never cache it. */
static double ctl_ttl(const struct fs_ctx *c, const struct node *n)
{
  return n->id == CTL_STATUS ? 0 : c->ttl;
}

const struct node_ops nodeops_ctl = {
  .stat = ctl_stat,
  .open = ctl_open,
  .read_ino = ctl_read_ino,
  .ttl = ctl_ttl,
};
