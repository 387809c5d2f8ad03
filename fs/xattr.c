/* xattr.c - `user.curatefs.<column>` extended attributes on the files that
 * stand for one sample: samples/<n>.jpg, tags/<t>/<n>.jpg, labels/<n>.json
 * and provider files of one sample (views/..., export images).  Each
 * attribute is one non-empty cell of the sample's row in the per-sample
 * table (core/views/table.h), so `getfattr -d` shows exactly what samples.csv
 * shows for that sample.  Other files have no attributes.
 *
 * The attributes are computed, never stored, so they cannot be written:
 *   setxattr / removexattr of a user.curatefs.* name  -> EPERM (the name
 *     exists but is derived from the store: change the tags or labels);
 *   any other name                                     -> ENOTSUP (the
 *     mount stores no attributes of its own, so `cp -a` and `rsync -X`
 *     copying onto it skip them as on any filesystem without xattrs).
 * A read-only mount (-o readonly) is refused with EROFS by the kernel
 * before the request arrives.  Reading a name outside user.* gives
 * ENOTSUP (see xattr_get: it keeps `ls -l` from costing a request per
 * file).
 *
 * State: none; each call reads the store in a transaction of its own.
 */
#include "xattr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "evalrun.h"
#include "evalsel.h"
#include "node.h"
#include "table.h"
#include "vtree.h"

#define PREFIX_LEN (sizeof(XATTR_PREFIX) - 1)

/* The present sample inode ino stands for; -ENODATA for files that are
 * not one sample's (directories, control and generated files). */
static int sample_of(struct fs_ctx *c, struct store_txn *t, fuse_ino_t ino,
                     struct sample *s)
{
  struct node n;
  uint64_t sid = 0;
  int r;

  if (!node_from_ino(ino, &n))
    return -ENOENT;
  switch (n.kind) {
  case NODE_SAMPLE:
  case NODE_LABEL:
    sid = n.id;
    break;
  case NODE_TAGFILE:
    sid = n.sample;
    break;
  case NODE_VNODE: {
    char path[4096];
    const struct provider *p;
    const char *rest;
    struct vent e;
    if (vnode_path(c, ino, path, sizeof(path)) < 0)
      return -ENODATA;  /* an old version whose name is gone */
    p = vtree_provider_of(path, &rest);
    if (!p || p->stat(c, t, rest, &e) < 0)
      return -ENODATA;
    if (e.kind == VENT_SAMPLE || e.kind == VENT_FILE)
      sid = e.sample_id;
    break;
  }
  default:
    break;
  }
  if (!sid)
    return -ENODATA;
  r = store_sample_get(t, sid, s);
  if (r == 0 && (s->flags & SAMPLE_MISSING))
    r = -ENOENT;
  return r;
}

/* Calls fn for each non-empty cell of the row of inode ino's sample.
 * fn returns non-zero to stop; that value is returned. */
static int each_attr(struct fs_ctx *c, fuse_ino_t ino,
                     int (*fn)(const char *col, const char *val, void *ud),
                     void *ud)
{
  char ev[EVALRUN_MAX_NAME + 1];
  struct store_txn *t = NULL;
  struct table *tb = NULL;
  struct table_row row;
  struct sample s;
  int r;

  /* The eval columns follow label edits, as in samples.csv: re-run the
   * latest evaluation first if it is stale (a write of its own). */
  if (evalsel_latest(c, ev, sizeof(ev)) < 0 || evalsel_refresh(c, ev, EVALRUN_LOOKUP_AGE) < 0)
    ev[0] = '\0';
  table_row_init(&row);
  r = store_txn_begin(c->store, false, &t);
  if (r == 0)
    r = sample_of(c, t, ino, &s);
  if (r == 0)
    r = table_new(c->views, t, ev[0] ? ev : NULL, &tb);
  if (r == 0)
    r = table_row(tb, t, &s, &row);
  for (size_t i = 0; r == 0 && i < row.n; i++)
    if (row.cell[i])
      r = fn(table_col_name(tb, i), row.cell[i], ud);
  table_row_free(&row);
  table_free(tb);
  if (t)
    store_txn_abort(t);
  return r;
}

struct get_ctx {
  const char *want;   /* column name */
  char *val;          /* found value (owned) */
};

static int get_one(const char *col, const char *val, void *ud)
{
  struct get_ctx *g = ud;

  if (strcmp(col, g->want) != 0)
    return 0;
  g->val = strdup(val);
  return g->val ? 1 : -ENOMEM;
}

static void reply_value(fuse_req_t req, const char *v, size_t len,
                        size_t size)
{
  if (size == 0)
    fuse_reply_xattr(req, len);
  else if (size < len)
    fuse_reply_err(req, ERANGE);
  else
    fuse_reply_buf(req, v, len);
}

void xattr_get(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
  struct fs_ctx *c = fuse_req_userdata(req);
  struct get_ctx g = { NULL, NULL };
  int r;

  /* Namespaces other than user.* (security.selinux, asked by `ls -l` for
   * every file; security.capability, asked by the kernel before writes)
   * are not supported: ENOTSUP, without touching the store.  ls then
   * stops asking for the rest of this filesystem, so a long listing costs
   * no round trip per file (ENODATA would: the kernel caches no xattr
   * answer, and ls only remembers "unsupported"). */
  if (strncmp(name, "user.", 5) != 0) {
    fuse_reply_err(req, ENOTSUP);
    return;
  }
  if (strncmp(name, XATTR_PREFIX, PREFIX_LEN) != 0 || !name[PREFIX_LEN]) {
    fuse_reply_err(req, ENODATA);  /* another user.* name: not there */
    return;
  }
  g.want = name + PREFIX_LEN;
  r = each_attr(c, ino, get_one, &g);
  if (r < 0) {
    fuse_reply_err(req, -r);
  } else if (!g.val) {
    fuse_reply_err(req, ENODATA);  /* no such column, or an empty cell */
  } else {
    reply_value(req, g.val, strlen(g.val), size);
  }
  free(g.val);
}

static int list_one(const char *col, const char *val, void *ud)
{
  struct buf *b = ud;
  int r = buf_puts(b, XATTR_PREFIX);

  (void)val;
  if (r == 0)
    r = buf_puts(b, col);
  return r ? r : buf_append(b, "", 1);
}

void xattr_list(fuse_req_t req, fuse_ino_t ino, size_t size)
{
  struct fs_ctx *c = fuse_req_userdata(req);
  struct buf b;
  int r;

  buf_init(&b, 1 << 20);
  r = each_attr(c, ino, list_one, &b);
  if (r == -ENODATA)
    r = 0;  /* not a sample's file: no attributes */
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    reply_value(req, b.data ? b.data : "", b.len, size);
  buf_free(&b);
}

static int refusal(const char *name)
{
  return strncmp(name, XATTR_PREFIX, PREFIX_LEN) == 0 ? EPERM : ENOTSUP;
}

void xattr_set(fuse_req_t req, fuse_ino_t ino, const char *name,
               const char *value, size_t size, int flags)
{
  (void)ino;
  (void)value;
  (void)size;
  (void)flags;
  fuse_reply_err(req, refusal(name));
}

void xattr_remove(fuse_req_t req, fuse_ino_t ino, const char *name)
{
  (void)ino;
  fuse_reply_err(req, refusal(name));
}
