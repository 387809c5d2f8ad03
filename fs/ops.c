/* ops.c - every path of the mounted tree is served here, through the FUSE
 * low-level operations table at the bottom of this file.
 *
 *   path                    node (node.h)   data comes from
 *   /README.txt             NODE_CTL        render_readme()
 *   /status                 NODE_CTL        render_status()
 *   /samples/<n>.<ext>      NODE_SAMPLE     the source file (root + relpath);
 *                                           ext by its format: .jpg .png ...
 *   /labels/<n>.json        NODE_LABEL      store_labels_get -> labels_to_json
 *   /tags/<t>/              NODE_TAG        store tag members
 *   /tags/<t>/<n>.<ext>     NODE_TAGFILE    the source file
 *   /config, /views/...,    NODE_VNODE      a provider (vtree.h): the
 *   /export/..., /cvat/...,                 table there says which file
 *   /eval/..., /plots/...                   serves which path
 *
 * Gestures: mkdir/rmdir/rename under tags/ manage tags; rename of a sample
 * file into tags/<t>/ tags it; unlink in tags/<t>/ untags; writing a whole
 * JSON to labels/<n>.json replaces the labels (committed at close).
 *
 * Every request runs in its own short LMDB transaction; no transaction
 * outlives a request.  Errors are negative errno inside this file and are
 * sent with fuse_reply_err(req, -r) at the end of each operation.
 * Cache invalidations are queued to notify.c, never sent from here.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "fs.h"
#include "imgfmt.h"
#include "labels_json.h"
#include "maxiou.h"
#include "names.h"
#include "node.h"
#include "passthrough.h"
#include "views.h"
#include "vtree.h"
#include "xattr.h"

/* Attribute and entry lifetime of provider paths: their content follows
 * store changes without per-inode invalidations, so keep it short. */
#define VNODE_TTL 1.0
#define VPATH_MAX 4096

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)  /* linux/fs.h */
#endif

static struct fs_ctx *ctx(fuse_req_t req)
{
  return fuse_req_userdata(req);
}

/* ---- node helpers ---- */

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

static uint64_t ino_of(const struct node *n)
{
  return node_ino(n->kind, n->id, n->kind == NODE_SAMPLE ? n->gen : n->sample);
}

/* A sample that is listed: present in the store and its file not missing. */
static int visible_sample(struct store_txn *t, uint64_t id, struct sample *s)
{
  int r = store_sample_get(t, id, s);

  if (r == 0 && (s->flags & SAMPLE_MISSING))
    r = -ENOENT;
  return r;
}

/* The sample behind file `name`: "<name>.json" with ext ".json", or with
 * ext NULL "<name><its image extension>" (.jpg, .png ... by the format
 * recorded at import, imgfmt.h). */
static int sample_by_file(struct store_txn *t, const char *name,
                          const char *ext, struct sample *s)
{
  char stem[NAME_MAX + 1];
  const char *dot = strrchr(name, '.');
  int r;

  if (!ext && dot && (size_t)(dot - name) < sizeof(stem)) {
    memcpy(stem, name, (size_t)(dot - name));
    stem[dot - name] = '\0';
  } else if (!ext || name_strip_ext(name, ext, stem, sizeof(stem)) < 0) {
    return -ENOENT;
  }
  r = store_sample_by_name(t, stem, s);
  if (r == 0 && (s->flags & SAMPLE_MISSING))
    r = -ENOENT;
  if (r == 0 && !ext && strcmp(dot, img_ext_of(s->format)) != 0)
    r = -ENOENT;
  return r;
}

static int render_label(struct store_txn *t, const struct sample *s,
                        struct buf *out)
{
  struct labels l;
  int r = store_labels_get(t, s->id, &l);

  if (r < 0)
    return r;
  buf_reset(out);
  {
    /* Show each box's max IoU with its closest other box (views.h). */
    double *iou;
    uint64_t *partner;
    size_t n, k = 0;
    if (maxiou_get(t, &l, &iou, &partner, &n) == 0) {
      for (size_t f = 0; f < l.n; f++)
        for (size_t i = 0; i < l.f[f].n && k < n; i++, k++) {
          l.f[f].d[i].has_max_iou = true;
          l.f[f].d[i].max_iou = iou[k];
          l.f[f].d[i].max_iou_id = partner[k];
        }
      free(iou);
      free(partner);
    }
  }
  r = labels_to_json(&l, s->name, s->width, s->height, out);
  labels_free(&l);
  return r;
}

/* The latest rendering of a labels file, by (sample, store version): the
 * kernel asks for a label file's attributes (its exact size) right before
 * an open (its permission check, default_permissions), and both would
 * render the document, max IoU included, which for a sample with many
 * boxes costs more than everything else an edit does.  One entry: the
 * stat and the open of one file follow each other. */
#define LABEL_MEMO_MAX (4u << 20)
static pthread_mutex_t label_memo_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  uint64_t id, version;
  char *data;
  size_t len;
} label_memo;

static int render_label_memo(struct store_txn *t, const struct sample *s,
                             struct buf *out)
{
  uint64_t v;
  int r;

  if (store_version(t, &v) < 0)
    return render_label(t, s, out);
  pthread_mutex_lock(&label_memo_mu);
  if (label_memo.data && label_memo.id == s->id &&
      label_memo.version == v) {
    buf_reset(out);
    r = buf_append(out, label_memo.data, label_memo.len);
    pthread_mutex_unlock(&label_memo_mu);
    return r;
  }
  pthread_mutex_unlock(&label_memo_mu);
  r = render_label(t, s, out);
  if (r == 0 && out->len <= LABEL_MEMO_MAX) {
    char *copy = malloc(out->len ? out->len : 1);
    if (copy) {
      memcpy(copy, out->data, out->len);
      pthread_mutex_lock(&label_memo_mu);
      free(label_memo.data);
      label_memo.data = copy;
      label_memo.len = out->len;
      label_memo.id = s->id;
      label_memo.version = v;
      pthread_mutex_unlock(&label_memo_mu);
    }
  }
  return r;
}

/* A provider path: the vnode's full path, its provider and the rest. */
struct vres {
  char path[VPATH_MAX];
  const struct provider *p;
  const char *rest;
};

static int vresolve(struct fs_ctx *c, uint64_t ino, struct vres *v)
{
  int r = vnode_path(c, ino, v->path, sizeof(v->path));

  if (r < 0)
    return -ENOENT;  /* forgotten: a stale handle */
  v->p = vtree_provider_of(v->path, &v->rest);
  return v->p ? 0 : -ENOENT;
}

/* The content inode ino (path v, current entry e) stands for.  An inode
 * of a versioned generated file (vtree.h, "Versions") is of one version:
 * the one it holds (a cache file), the current one (then recorded on it,
 * with the mtime its attributes report), or an older one while the
 * content cache has it; -ESTALE after that. */
static int inode_content(struct fs_ctx *c, struct store_txn *t, uint64_t ino,
                         const struct vres *v, const struct vent *e,
                         int64_t mtime_ns, struct gen_content **g)
{
  uint64_t key;
  int r;

  if (e->kind != VENT_FILE || e->key == 0)
    return gen_get(c, v->p, t, v->path, v->rest, e->key, g);
  *g = vnode_pinned(c, ino);
  if (*g)
    return 0;
  key = vnode_key(c, ino);
  if (key != e->key) {
    r = gen_find(c, v->path, key, g);
    return r == -ENOENT ? -ESTALE : r;
  }
  r = gen_get(c, v->p, t, v->path, v->rest, e->key, g);
  if (r == 0)
    vnode_pin(c, ino, e->key, *g, mtime_ns);
  return r;
}

int open_sample_source(struct fs_ctx *c, const struct sample *s, int *ret_fd)
{
  int r = dataset_open(c->root, s->relpath);

  *ret_fd = r < 0 ? -1 : r;
  if (r == -EXDEV) {
    /* A link that leads out of the dataset folder: the daemon may be
     * able to read what the reader may not. */
    fs_error(c, "%s%s: source %s leads out of the dataset folder "
             "(a symbolic link?): refused", s->name, img_ext_of(s->format),
             s->relpath);
    return -EACCES;
  }
  if (r < 0) {
    fs_error(c, "%s%s: cannot open source %s: %s", s->name,
             img_ext_of(s->format), s->relpath, strerror(-r));
    return r;
  }
  return 0;
}

/* A change refused because the store is full: say what filled up and what
 * to do (the log and status), so the ENOSPC the caller gets is explained. */
static int report_full(struct fs_ctx *c, int r, const char *what,
                       const char *name)
{
  const char *hint = r == -ENOSPC ? store_full_hint() : NULL;

  if (hint)
    fs_error(c, "%s%s: nothing changed: %s", what, name, hint);
  return r;
}

static void ts(struct timespec *t, int64_t ns)
{
  t->tv_sec = ns / 1000000000LL;
  t->tv_nsec = ns % 1000000000LL;
}

/* Fills *st for node n.  Sizes are exact: the kernel sizes reads by them. */
static int node_stat(struct fs_ctx *c, struct store_txn *t,
                     const struct node *n, struct stat *st)
{
  struct sample s;
  struct buf b;
  int64_t mt = c->mount_ns;
  int r = 0;

  memset(st, 0, sizeof(*st));
  st->st_ino = ino_of(n);
  st->st_uid = c->uid;
  st->st_gid = c->gid;
  st->st_blksize = 65536;
  switch (n->kind) {
  case NODE_ROOT:
  case NODE_DIR:
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    break;
  case NODE_TAG: {
    uint64_t cnt;
    r = store_tag_get(t, n->id, NULL, &cnt, &mt);
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    break;
  }
  case NODE_CTL:
    buf_init(&b, 1 << 24);
    r = n->id == CTL_README ? render_readme(c, &b) : render_status(c, &b);
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = (off_t)b.len;
    if (n->id == CTL_STATUS)
      mt = time_now_ns();
    buf_free(&b);
    break;
  case NODE_SAMPLE:
  case NODE_TAGFILE:
    r = visible_sample(t, n->kind == NODE_SAMPLE ? n->id : n->sample, &s);
    if (r == 0 && n->kind == NODE_TAGFILE && store_tag_has(t, n->id, s.id) != 1)
      r = -ENOENT;
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = (off_t)s.size;
    mt = s.mtime_ns;
    break;
  case NODE_LABEL:
    r = visible_sample(t, n->id, &s);
    if (r < 0)
      break;
    buf_init(&b, LABELS_MAX_JSON * 4);
    r = render_label_memo(t, &s, &b);
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
    st->st_size = (off_t)b.len;
    mt = s.labels_mtime_ns ? s.labels_mtime_ns : s.mtime_ns;
    buf_free(&b);
    break;
  case NODE_VNODE: {
    struct vres v;
    struct vent e;
    struct gen_content *g;
    uint64_t size;
    if (vnode_attrs(c, st->st_ino, &size, &mt) == 0) {
      /* A version of a generated file: its attributes never change, and
       * stay answerable after its path is gone. */
      st->st_mode = S_IFREG | 0444;
      st->st_nlink = 1;
      st->st_size = (off_t)size;
      break;
    }
    r = vresolve(c, st->st_ino, &v);
    if (r == 0)
      r = v.p->stat(c, t, v.rest, &e);
    if (r < 0)
      break;
    st->st_nlink = e.kind == VENT_DIR ? 2 : 1;
    if (e.mtime_ns)
      mt = e.mtime_ns;
    if (e.kind == VENT_DIR) {
      st->st_mode = S_IFDIR | 0755;
    } else if (e.kind == VENT_SAMPLE) {
      r = visible_sample(t, e.sample_id, &s);
      st->st_mode = S_IFREG | 0444;
      st->st_size = (off_t)s.size;
      mt = e.mtime_ns ? e.mtime_ns : s.mtime_ns;
    } else {
      st->st_mode = S_IFREG | (e.kind == VENT_CTL ? 0644 : 0444);
      if (e.key == 0)
        mt = time_now_ns();
      r = inode_content(c, t, st->st_ino, &v, &e, mt, &g);
      if (r < 0)
        break;
      st->st_size = (off_t)gen_size(g);
      gen_put(g);
    }
    break;
  }
  }
  /* The owner's bits above; others get what -o share= gives (access.c). */
  st->st_mode = acc_mode(c, st->st_mode);
  st->st_blocks = (st->st_size + 511) / 512;
  ts(&st->st_mtim, mt);
  st->st_ctim = st->st_mtim;
  st->st_atim = st->st_mtim;
  return r;
}

static double node_ttl(struct fs_ctx *c, const struct node *n)
{
  /* status changes without any request of ours: never cache it. */
  if (n->kind == NODE_CTL && n->id == CTL_STATUS)
    return 0;
  return n->kind == NODE_VNODE ? MIN(VNODE_TTL, c->ttl) : c->ttl;
}

static int node_lookup_kind(struct fs_ctx *c, struct store_txn *t,
                            const struct node *p, const char *name,
                            struct node *ret, bool *versioned,
                            bool *sample_file);

/* Resolves name in directory p into *ret.  *versioned: the name's entry
 * is not to be cached: a generated file whose content follows the store
 * (see vnode_open()), or a provider file showing a sample (below). */
static int node_lookup(struct fs_ctx *c, struct store_txn *t,
                       const struct node *p, const char *name,
                       struct node *ret, bool *versioned)
{
  bool sample_file = false;
  int r2 = node_lookup_kind(c, t, p, name, ret, versioned, &sample_file);

  /* A provider file that shows a sample can be moved into a tag, and its
   * dentry (with its entry time) moves along under the provider's name,
   * which the tag does not list: no entry time, so that name is looked up
   * again at its next use and vanishes (normal mounts; read-only ones have
   * no renames). */
  if (r2 == 0 && sample_file && !c->readonly)
    *versioned = true;
  return r2;
}

static int node_lookup_kind(struct fs_ctx *c, struct store_txn *t,
                            const struct node *p, const char *name,
                            struct node *ret, bool *versioned,
                            bool *sample_file)
{
  struct sample s;
  uint64_t id;
  int r;

  memset(ret, 0, sizeof(*ret));
  *versioned = false;
  switch (p->kind) {
  case NODE_ROOT:
    for (size_t i = 0; i < ARRAY_SIZE(root_entries); i++)
      if (strcmp(name, root_entries[i].name) == 0) {
        ret->kind = root_entries[i].kind;
        ret->id = root_entries[i].id;
        return 0;
      }
    /* fall through - to the provider tops */
  case NODE_VNODE: {
    struct vres v;
    struct vent e;
    const char *rest;
    const struct provider *pv;
    uint64_t ino, vsize, ver = 0;
    int64_t vmtime;
    if (p->kind == NODE_ROOT) {
      if (strlen(name) >= sizeof(v.path))
        return -ENAMETOOLONG;
      strcpy(v.path, name);
    } else {
      size_t l;
      r = vresolve(c, ino_of(p), &v);
      if (r < 0)
        return r;
      l = strlen(v.path);
      if (l + 1 + strlen(name) >= sizeof(v.path))
        return -ENAMETOOLONG;
      v.path[l] = '/';
      strcpy(v.path + l + 1, name);
    }
    pv = vtree_provider_of(v.path, &rest);
    if (!pv)
      return -ENOENT;
    if (pv->by_version && store_version(t, &ver) == 0) {
      /* A file found current at this store version: the same inode,
       * without asking the provider again (the lookup at every open). */
      ver++;
      ino = vnode_lookup_verified(c, v.path, ver);
      if (ino) {
        *versioned = true;
        ret->kind = NODE_VNODE;
        node_from_ino(ino, ret);
        return 0;
      }
    }
    r = pv->stat(c, t, rest, &e);
    if (r < 0)
      return r;
    *versioned = e.kind == VENT_FILE && e.key != 0;
    *sample_file = e.kind == VENT_SAMPLE;
    ino = vnode_ino(c, v.path, *versioned ? e.key : 0);
    if (!ino)
      return -ENOMEM;
    if (*versioned && vnode_attrs(c, ino, &vsize, &vmtime) < 0) {
      /* The inode stands for this version: it holds its content from now
       * on, whatever changes before the attributes and the open.  (An
       * inode looked up before already has its attributes: the lookup at
       * each open then costs no content, and the kernel keeps serving the
       * pages it has.) */
      struct gen_content *g;
      r = gen_get(c, pv, t, v.path, rest, e.key, &g);
      if (r < 0) {
        vnode_forget(c, ino, 1);
        return r;
      }
      vnode_pin(c, ino, e.key, g, e.mtime_ns ? e.mtime_ns : c->mount_ns);
      gen_put(g);
    }
    if (*versioned && ver)
      vnode_set_verified(c, ino, ver);
    ret->kind = NODE_VNODE;
    node_from_ino(ino, ret);
    return 0;
  }
  case NODE_DIR:
    if (p->id == DIR_SAMPLES || p->id == DIR_LABELS) {
      r = sample_by_file(t, name, p->id == DIR_SAMPLES ? NULL : ".json", &s);
      if (r < 0)
        return r;
      ret->kind = p->id == DIR_SAMPLES ? NODE_SAMPLE : NODE_LABEL;
      ret->id = s.id;
      if (ret->kind == NODE_SAMPLE)
        ret->gen = fs_sample_gen(c, s.id);
      return s.id > NODE_SAMPLE_MAX ? -EOVERFLOW : 0;
    }
    r = store_tag_lookup(t, name, &id);
    if (r < 0)
      return r;
    ret->kind = NODE_TAG;
    ret->id = id;
    return 0;
  case NODE_TAG:
    r = sample_by_file(t, name, NULL, &s);
    if (r < 0)
      return r;
    r = store_tag_has(t, p->id, s.id);
    if (r <= 0)
      return r < 0 ? r : -ENOENT;
    ret->kind = NODE_TAGFILE;
    ret->id = p->id;
    ret->sample = s.id;
    return 0;
  default:
    return -ENOTDIR;
  }
}

static int entry_for(struct fs_ctx *c, struct store_txn *t,
                     const struct node *n, struct fuse_entry_param *e)
{
  memset(e, 0, sizeof(*e));
  e->ino = ino_of(n);
  e->attr_timeout = node_ttl(c, n);
  e->entry_timeout = node_ttl(c, n) > 0 ? c->ttl : 1.0;
  /* A name in tags/<t>/ is revalidated at each use.  A rename moves the
   * kernel's dentry with its inode and its entry time: after mv
   * tags/a/x.jpg tags/b/ the dentry tags/b/x.jpg would keep the inode of
   * (a, x), which is no longer a member, and answer ENOENT for as long as
   * the entry time lasts.  With no entry time the next use looks the name
   * up again and finds (b, x).  Read-only mounts have no renames. */
  if (n->kind == NODE_TAGFILE && !c->readonly)
    e->entry_timeout = 0;
  return node_stat(c, t, n, &e->attr);
}

static int begin(struct fs_ctx *c, bool write, struct store_txn **t)
{
  return store_txn_begin(c->store, write, t);
}

/* ---- lookup / getattr ---- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fs_ctx *c = ctx(req);
  struct fuse_entry_param e;
  struct store_txn *t;
  struct node p, n;
  bool versioned;
  int r;

  if (!node_from_ino(parent, &p)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  r = begin(c, false, &t);
  if (r == 0) {
    r = node_lookup(c, t, &p, name, &n, &versioned);
    if (r == 0) {
      r = entry_for(c, t, &n, &e);
      if (r < 0 && n.kind == NODE_VNODE)
        vnode_forget(c, ino_of(&n), 1);  /* the lookup it counted */
      if (versioned)
        e.entry_timeout = 0;
    }
    store_txn_abort(t);
  }
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_entry(req, &e);
}

/* Replies to a getattr-like request with the node's current attributes. */
static void reply_attr(fuse_req_t req, struct fs_ctx *c, const struct node *n)
{
  struct store_txn *t;
  struct stat st;
  int r = begin(c, false, &t);

  if (r == 0) {
    r = node_stat(c, t, n, &st);
    store_txn_abort(t);
  }
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_attr(req, &st, node_ttl(c, n));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
  struct fs_ctx *c = ctx(req);
  struct node n;

  (void)fi;
  if (!node_from_ino(ino, &n)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  reply_attr(req, c, &n);
}

/* ---- directories ---- */

/* Listing state for one READDIR(PLUS) reply. */
struct dirfill {
  fuse_req_t req;
  struct fs_ctx *c;
  struct store_txn *t;
  char *buf;
  size_t size, used;
  bool plus, full;
  mode_t vmode;        /* type of the provider entry being added */
  bool versioned;      /* ... a generated file (node_lookup()) */
  uint64_t dirent_ino; /* ... its inode number in a plain readdir */
  char *vbase;         /* listing a provider directory: its full path */
};

static bool add_entry(struct dirfill *d, const char *name,
                      const struct node *n, off_t next);

/* One entry of a provider directory. */
static int add_vent(const char *name, const struct vent *e, uint64_t cookie,
                    void *ud)
{
  struct dirfill *d = ud;
  struct node n = { .kind = NODE_VNODE };
  char path[VPATH_MAX];
  bool ok;

  if ((size_t)snprintf(path, sizeof(path), "%s%s%s", d->vbase,
                       *d->vbase ? "/" : "", name) >= sizeof(path))
    return 0;  /* unreachable name: skip */
  d->vmode = e->kind == VENT_DIR ? S_IFDIR : S_IFREG;
  if (d->plus) {
    uint64_t ino;
    d->versioned = e->kind == VENT_FILE && e->key != 0;
    ino = vnode_ino(d->c, path, d->versioned ? e->key : 0);
    /* Entry time: as node_lookup() gives it. */
    d->versioned |= e->kind == VENT_SAMPLE && !d->c->readonly;
    if (!ino)
      return 1;
    node_from_ino(ino, &n);
    ok = add_entry(d, name, &n, (off_t)(cookie + 2));
    d->versioned = false;
  } else {
    /* Plain readdir counts no lookup: report an inode number without
     * making an inode. */
    d->dirent_ino = vnode_dirent_ino(d->c, path);
    ok = add_entry(d, name, NULL, (off_t)(cookie + 2));
    d->dirent_ino = 0;
  }
  d->vmode = 0;
  return ok ? 0 : 1;
}

/* Adds one entry; `next` is the cookie that resumes after it.  Returns
 * false once the reply buffer is full. */
static bool add_entry(struct dirfill *d, const char *name,
                      const struct node *n, off_t next)
{
  size_t need;

  if (d->plus) {
    struct fuse_entry_param e;
    if (n) {
      if (entry_for(d->c, d->t, n, &e) < 0) {
        if (n->kind == NODE_VNODE)
          vnode_forget(d->c, ino_of(n), 1);
        return true;  /* vanished meanwhile: skip it */
      }
      if (d->versioned)
        e.entry_timeout = 0;
    } else {
      memset(&e, 0, sizeof(e));
      e.attr.st_mode = S_IFDIR;
      e.attr.st_ino = d->dirent_ino ? d->dirent_ino : 1;
    }
    need = fuse_add_direntry_plus(d->req, d->buf + d->used,
                                  d->size - d->used, name, &e, next);
  } else {
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_ino = n ? ino_of(n) : d->dirent_ino ? d->dirent_ino : 1;
    if (d->vmode)
      st.st_mode = d->vmode;  /* a provider entry */
    else
      st.st_mode = !n || n->kind == NODE_ROOT || n->kind == NODE_DIR ||
                   n->kind == NODE_TAG || n->kind == NODE_VNODE
                       ? S_IFDIR : S_IFREG;
    need = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used,
                             name, &st, next);
  }
  if (need > d->size - d->used) {
    if (d->plus && n && n->kind == NODE_VNODE)
      vnode_forget(d->c, ino_of(n), 1);  /* not sent: not looked up */
    d->full = true;
    return false;
  }
  d->used += need;
  return true;
}

/* Cookies: 1 and 2 are "." and ".."; fixed entries use 3..; store-backed
 * listings use id + 2 (ids start at 1), so a cookie stays valid while
 * other entries come and go. */
static int fill_dir(struct dirfill *d, const struct node *dir, off_t off)
{
  struct store_iter *it = NULL;
  char name[NAME_MAX + 1];
  struct node n = { 0 };
  uint64_t from;
  int r = 0;

  d->dirent_ino = ino_of(dir);  /* "." is the directory; ".." as root */
  if (off < 1 && !add_entry(d, ".", NULL, 1))
    return 0;
  d->dirent_ino = 0;
  if (off < 2 && !add_entry(d, "..", NULL, 2))
    return 0;
  from = off <= 2 ? 1 : (uint64_t)off - 1;
  if (dir->kind == NODE_ROOT) {
    for (size_t i = off < 3 ? 0 : (size_t)off - 2; i < ARRAY_SIZE(root_entries);
         i++) {
      n.kind = root_entries[i].kind;
      n.id = root_entries[i].id;
      n.sample = 0;
      if (!add_entry(d, root_entries[i].name, &n, (off_t)i + 3))
        return 0;
    }
    /* Then the provider tops, as provider entries of the root. */
    d->vbase = "";
    for (size_t i = 0; vtree_providers[i]; i++) {
      uint64_t cookie = ARRAY_SIZE(root_entries) + 1 + i;
      struct vent e;
      if ((uint64_t)off >= cookie + 2 ||
          vtree_providers[i]->stat(d->c, d->t, "", &e) < 0)
        continue;
      if (add_vent(vtree_providers[i]->name, &e, cookie, d))
        break;
    }
    return 0;
  }
  if (dir->kind == NODE_VNODE) {
    struct vres v;
    r = vresolve(d->c, ino_of(dir), &v);
    if (r < 0)
      return r;
    d->vbase = v.path;
    r = v.p->list(d->c, d->t, v.rest, off <= 2 ? 0 : (uint64_t)off - 2,
                  add_vent, d);
    d->vbase = NULL;
    return r < 0 ? r : 0;
  }
  r = store_iter_new(d->t, &it);
  if (r < 0)
    return r;
  if (dir->kind == NODE_DIR && dir->id != DIR_TAGS) {
    bool lab = dir->id == DIR_LABELS;
    struct sample s;
    while ((r = store_iter_samples(it, from, &s)) == 0) {
      from = s.id + 1;
      if (s.flags & SAMPLE_MISSING)
        continue;
      snprintf(name, sizeof(name), "%s%s", s.name,
               lab ? ".json" : img_ext_of(s.format));
      n.kind = lab ? NODE_LABEL : NODE_SAMPLE;
      n.id = s.id;
      n.sample = 0;
      n.gen = lab ? 0 : fs_sample_gen(d->c, s.id);
      if (!add_entry(d, name, &n, (off_t)s.id + 2))
        break;
    }
  } else if (dir->kind == NODE_DIR) {
    uint64_t tid;
    const char *tname;
    while ((r = store_iter_tags(it, from, &tid, &tname)) == 0) {
      from = tid + 1;
      snprintf(name, sizeof(name), "%s", tname);
      n.kind = NODE_TAG;
      n.id = tid;
      n.sample = 0;
      if (!add_entry(d, name, &n, (off_t)tid + 2))
        break;
    }
  } else if (dir->kind == NODE_TAG) {
    uint64_t sid;
    struct sample s;
    while ((r = store_iter_tag(it, dir->id, from, &sid)) == 0) {
      from = sid + 1;
      if (visible_sample(d->t, sid, &s) < 0)
        continue;
      snprintf(name, sizeof(name), "%s%s", s.name, img_ext_of(s.format));
      n.kind = NODE_TAGFILE;
      n.id = dir->id;
      n.sample = sid;
      if (!add_entry(d, name, &n, (off_t)sid + 2))
        break;
    }
  } else {
    r = -ENOTDIR;
  }
  store_iter_free(it);
  return r == -ENOENT ? 0 : r;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       bool plus)
{
  struct dirfill d = { .req = req, .c = ctx(req), .size = size, .plus = plus };
  struct node n;
  int r;

  if (!node_from_ino(ino, &n)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  d.buf = malloc(size);
  if (!d.buf) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  r = begin(d.c, false, &d.t);
  if (r == 0) {
    r = fill_dir(&d, &n, off);
    store_txn_abort(d.t);
  }
  /* An error may only be returned before any entry was added. */
  if (r < 0 && d.used == 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_buf(req, d.buf, d.used);
  free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
  (void)fi;
  do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                           off_t off, struct fuse_file_info *fi)
{
  (void)fi;
  do_readdir(req, ino, size, off, true);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
  struct node n;

  if (!node_from_ino(ino, &n)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if (acc_may_read(ctx(req), req) < 0) {
    fuse_reply_err(req, EACCES);
    return;
  }
  if (n.kind == NODE_VNODE) {
    /* Provider listings follow store changes with no invalidation of
     * their own: always ask us. */
    fuse_reply_open(req, fi);
    return;
  }
  if (n.kind != NODE_ROOT && n.kind != NODE_DIR && n.kind != NODE_TAG) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  /* Listings are cached by the kernel until the directory changes: the
   * kernel itself drops the cache on mkdir/rename/unlink here, and
   * notify_inode() does it for changes made by the daemon. */
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

/* ---- files ---- */

/* Per-open state, in fi->fh. */
struct fh {
  struct node node;
  int fd;              /* source image, or -1 */
  struct buf buf;      /* rendered content, or the JSON being written */
  bool writable, dirty;
  int bad;             /* a write was already rejected: -EINVAL */
  struct gen_content *gen;          /* generated content being read */
  const struct provider *prov;      /* writable control file: its provider */
  char *vpath;                      /* ... and its path below it (owned) */
  bool ctl_done;                    /* the command was already carried out */
  size_t ctl_off;                   /* provider->lines: bytes already run */
  uint64_t vino;                    /* generated file counted open, or 0 */
  int backing;                      /* ... its passthrough backing id, or 0 */
  unsigned refs;                    /* release + replies in flight */
};

static struct fh *fh_of(struct fuse_file_info *fi)
{
  return (struct fh *)(uintptr_t)fi->fh;
}

/* The kernel may process a READ reply, drop its file reference and send
 * RELEASE, which another worker handles, before the replying thread is
 * back from writev(): so replies hold a reference of their own. */
static struct fh *fh_ref(struct fh *h)
{
  __atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
  return h;
}

static void fh_free(struct fh *h)
{
  if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  if (h->fd >= 0)
    close(h->fd);
  buf_free(&h->buf);
  gen_put(h->gen);
  free(h->vpath);
  free(h);
}

/* Undoes what open counted, at release (or when the open reply failed). */
static void close_io(struct fs_ctx *c, struct fh *h)
{
  if (h->vino)
    vnode_closed(c, h->vino);
  h->vino = 0;
}

/* An open of a generated file's version (h->gen): how the kernel reads it.
 * Large content is read by the kernel from its cache file where
 * passthrough is on (h->backing).  Source images are not: every open would
 * set up a backing file, and warm reads of 10,000 photos on a normal mount
 * fell from 0.30x to 0.20x of the native speed with it. */
static int open_version(struct fs_ctx *c, uint64_t ino, struct fh *h,
                        struct fuse_file_info *fi)
{
  int r = vnode_open(c, ino, gen_fd(h->gen));

  if (r < 0)
    return r;
  h->vino = ino;
  h->backing = r;
  fi->noflush = 1;
  /* The inode's pages can only be of its own version. */
  fi->keep_cache = 1;
  return 0;
}

/* The content of the version inode ino stands for, when the content
 * cache still has it: no need to ask the provider (an open or a read of an
 * unchanged generated file costs a cache lookup). */
static bool own_version(struct fs_ctx *c, uint64_t ino, const struct vres *v,
                        struct gen_content **g)
{
  uint64_t key = vnode_key(c, ino);
  uint64_t size;
  int64_t mt;

  *g = NULL;
  if (!key || vnode_attrs(c, ino, &size, &mt) < 0)
    return false;
  return gen_find(c, v->path, key, g) == 0;
}

static int open_vnode(struct fs_ctx *c, struct store_txn *t, uint64_t ino,
                      struct fh *h, struct fuse_file_info *fi)
{
  int acc = fi->flags & O_ACCMODE;
  struct sample s;
  struct vres v;
  struct vent e;
  int r;

  h->gen = vnode_pinned(c, ino);
  if (h->gen)  /* a version of a generated file, whatever the store says */
    return acc != O_RDONLY ? -EACCES : open_version(c, ino, h, fi);
  r = vresolve(c, ino, &v);
  if (r == 0 && own_version(c, ino, &v, &h->gen))
    return acc != O_RDONLY ? -EACCES : open_version(c, ino, h, fi);
  if (r == 0)
    r = v.p->stat(c, t, v.rest, &e);
  if (r < 0)
    return r;
  switch (e.kind) {
  case VENT_DIR:
    return -EISDIR;
  case VENT_SAMPLE:
    if (acc != O_RDONLY)
      return -EACCES;
    r = visible_sample(t, e.sample_id, &s);
    if (r == 0)
      r = open_sample_source(c, &s, &h->fd);
    fi->keep_cache = 1;
    fi->noflush = 1;
    return r;
  case VENT_CTL:
    if (acc != O_RDONLY) {
      if (!v.p->write)
        return -EACCES;
      h->prov = v.p;
      h->vpath = strdup(v.rest);
      if (!h->vpath)
        return -ENOMEM;
      h->writable = true;
      buf_init(&h->buf, 1 << 20);
      fi->direct_io = 1;
      return 0;
    }
    /* fall through - reading a control file shows its generated text */
  case VENT_FILE: {
    if (acc != O_RDONLY)
      return -EACCES;
    fi->noflush = 1;
    if (e.key == 0 || e.kind == VENT_CTL) {
      /* Volatile content: each open reads what it generates, directly. */
      fi->direct_io = 1;
      return gen_get(c, v.p, t, v.path, v.rest, e.key, &h->gen);
    }
    r = inode_content(c, t, ino, &v, &e, e.mtime_ns ? e.mtime_ns
                      : c->mount_ns, &h->gen);
    return r < 0 ? r : open_version(c, ino, h, fi);
  }
  }
  return -EIO;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  if (ctx(req)->no_open) {
    /* Read-only mount: ENOSYS switches the kernel to opening files
     * without asking us (FUSE_CAP_NO_OPEN_SUPPORT); reads then come with
     * no handle and are served by inode (read_by_inode). */
    fuse_reply_err(req, ENOSYS);
    return;
  }
  struct fs_ctx *c = ctx(req);
  int acc = fi->flags & O_ACCMODE;
  struct store_txn *t = NULL;
  struct sample s;
  struct fh *h;
  struct node n;
  int r;

  if (!node_from_ino(ino, &n)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  r = acc != O_RDONLY ? acc_may_change(c, req, "open for writing")
                      : acc_may_read(c, req);
  if (r < 0) {
    fuse_reply_err(req, -r);
    return;
  }
  h = calloc(1, sizeof(*h));
  if (!h) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  h->node = n;
  h->fd = -1;
  h->refs = 1;
  buf_init(&h->buf, LABELS_MAX_JSON);
  r = begin(c, false, &t);
  if (r < 0)
    goto out;
  switch (n.kind) {
  case NODE_SAMPLE:
  case NODE_TAGFILE: {
    if (acc != O_RDONLY) {
      r = -EACCES;  /* images are read-only; tag with mv instead */
      break;
    }
    r = visible_sample(t, n.kind == NODE_SAMPLE ? n.id : n.sample, &s);
    if (r < 0)
      break;
    r = open_sample_source(c, &s, &h->fd);
    /* The source is immutable while its size and mtime match the store:
     * keep the page cache across opens. */
    fi->keep_cache = 1;
    fi->noflush = 1;
    break;
  }
  case NODE_LABEL:
    r = visible_sample(t, n.id, &s);
    if (r < 0)
      break;
    if (acc == O_RDONLY) {
      r = render_label_memo(t, &s, &h->buf);
      /* Read to the end of this rendering, whatever size the kernel holds:
       * labels changed by another process (curate next to a mount) would
       * otherwise read short until the attributes expire. */
      fi->direct_io = 1;
      break;
    }
    h->writable = true;
    /* Writers talk to us directly; readers open a fresh snapshot. */
    fi->direct_io = 1;
    if (fi->flags & O_TRUNC)
      h->dirty = true;
    else
      r = render_label_memo(t, &s, &h->buf);
    break;
  case NODE_CTL:
    if (acc != O_RDONLY) {
      r = -EACCES;
      break;
    }
    r = n.id == CTL_README ? render_readme(c, &h->buf)
                           : render_status(c, &h->buf);
    /* status may change size between stat and read: bypass the cache. */
    fi->direct_io = n.id == CTL_STATUS;
    fi->noflush = 1;
    break;
  case NODE_VNODE:
    r = open_vnode(c, t, ino, h, fi);
    break;
  default:
    r = -EISDIR;
  }
out:
  store_txn_abort(t);
  if (r < 0) {
    close_io(c, h);
    fh_free(h);
    fuse_reply_err(req, -r);
    return;
  }
  fi->fh = (uint64_t)(uintptr_t)h;
  r = h->backing ? pt_reply_open(req, fi, h->backing)
                 : fuse_reply_open(req, fi);
  if (r != 0) {
    /* The reply did not reach the kernel (the open was interrupted):
     * no RELEASE will come. */
    close_io(c, h);
    fh_free(h);
  }
}

static void do_read(fuse_req_t req, struct fh *h, size_t size, off_t off);

static void read_by_inode(fuse_req_t req, fuse_ino_t ino, size_t size,
                          off_t off);

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
  struct fh *h;

  if (!fi->fh) {
    read_by_inode(req, ino, size, off);
    return;
  }
  h = fh_ref(fh_of(fi));

  (void)ino;
  do_read(req, h, size, off);
  fh_free(h);
}

static void do_read(fuse_req_t req, struct fh *h, size_t size, off_t off)
{
  if (h->fd >= 0) {
    /* Hand libfuse the source fd: it can splice straight to the kernel. */
    struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
    bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    bv.buf[0].fd = h->fd;
    bv.buf[0].pos = off;
    fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
    return;
  }
  if (h->gen) {
    uint64_t gs = gen_size(h->gen), base;
    int gfd;
    if (off < 0 || (uint64_t)off >= gs) {
      fuse_reply_buf(req, NULL, 0);
    } else if ((gfd = gen_file(h->gen, &base)) >= 0) {
      struct fuse_bufvec bv = FUSE_BUFVEC_INIT(MIN(size, gs - (uint64_t)off));
      bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
      bv.buf[0].fd = gfd;
      bv.buf[0].pos = (off_t)base + off;
      fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
    } else {
      fuse_reply_buf(req, gen_mem(h->gen) + off,
                     MIN(size, gs - (uint64_t)off));
    }
    return;
  }
  if (off < 0 || (size_t)off >= h->buf.len) {
    fuse_reply_buf(req, NULL, 0);
    return;
  }
  fuse_reply_buf(req, h->buf.data + off, MIN(size, h->buf.len - (size_t)off));
}

/* Replies with bytes [off, off + size) of a buffer. */
static void reply_slice(fuse_req_t req, const char *data, size_t len,
                        size_t size, off_t off)
{
  if (off < 0 || (size_t)off >= len)
    fuse_reply_buf(req, NULL, 0);
  else
    fuse_reply_buf(req, data + off, MIN(size, len - (size_t)off));
}

static void reply_fd(fuse_req_t req, int fd, size_t size, off_t off)
{
  struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

  bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
  bv.buf[0].fd = fd;
  bv.buf[0].pos = off;
  fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}

/* A read with no handle (read-only mounts): what the inode shows now. */
static void read_by_inode(fuse_req_t req, fuse_ino_t ino, size_t size,
                          off_t off)
{
  struct fs_ctx *c = ctx(req);
  struct store_txn *t = NULL;
  struct gen_content *g = NULL;
  struct fd_ref fr = { NULL, -1 };
  struct sample s;
  struct node n;
  struct buf b;
  uint64_t sid = 0, base = 0;
  int r, gfd;

  buf_init(&b, LABELS_MAX_JSON * 4);
  if (!node_from_ino(ino, &n)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  r = begin(c, false, &t);
  if (r < 0)
    goto out;
  switch (n.kind) {
  case NODE_SAMPLE:
  case NODE_TAGFILE:
    sid = n.kind == NODE_SAMPLE ? n.id : n.sample;
    break;
  case NODE_LABEL:
    r = visible_sample(t, n.id, &s);
    if (r == 0)
      r = render_label_memo(t, &s, &b);
    break;
  case NODE_CTL:
    r = n.id == CTL_README ? render_readme(c, &b) : render_status(c, &b);
    break;
  case NODE_VNODE: {
    struct vres v;
    struct vent e;
    g = vnode_pinned(c, ino);
    if (g)
      break;  /* a version of a generated file */
    r = vresolve(c, ino, &v);
    if (r == 0 && own_version(c, ino, &v, &g))
      break;
    if (r == 0)
      r = v.p->stat(c, t, v.rest, &e);
    if (r == 0 && e.kind == VENT_SAMPLE)
      sid = e.sample_id;
    else if (r == 0 && e.kind == VENT_DIR)
      r = -EISDIR;
    else if (r == 0)
      r = inode_content(c, t, ino, &v, &e, e.mtime_ns ? e.mtime_ns
                        : c->mount_ns, &g);
    break;
  }
  default:
    r = -EISDIR;
  }
  if (r == 0 && sid) {
    r = visible_sample(t, sid, &s);
    if (r == 0)
      r = fdcache_get(c, &s, &fr);
  }
  store_txn_abort(t);
out:
  if (r < 0)
    fuse_reply_err(req, -r);
  else if (fr.fd >= 0)
    reply_fd(req, fr.fd, size, off);
  else if (g && (gfd = gen_file(g, &base)) >= 0 &&
           (uint64_t)off < gen_size(g))
    reply_fd(req, gfd, MIN(size, gen_size(g) - (uint64_t)off),
             (off_t)base + off);
  else if (g)
    reply_slice(req, gen_mem(g), gen_size(g), size, off);
  else
    reply_slice(req, b.data ? b.data : "", b.len, size, off);
  fdcache_put(c, &fr);
  gen_put(g);
  buf_free(&b);
}

/* Whether the labels just stored for s (in t) can be read back: their
 * rendering, with every derived max_iou at its longest, fits the buffer a
 * read renders into.  Rendered text is larger than what was written (ids,
 * iscrowd, max_iou, spacing), so a document under the write limit can
 * still be too large to open.  -EFBIG with the reason in err. */
static int check_readable(struct store_txn *t, const struct sample *s,
                          char *err, size_t errlen)
{
  struct labels l;
  struct buf b;
  size_t boxes = 0;
  int r = store_labels_get(t, s->id, &l);

  if (r < 0)
    return r;
  for (size_t f = 0; f < l.n; f++)
    for (size_t i = 0; i < l.f[f].n; i++, boxes++) {
      l.f[f].d[i].has_max_iou = l.f[f].n > 1;
      l.f[f].d[i].max_iou = 0.123457;
      l.f[f].d[i].max_iou_id = UINT64_MAX;
    }
  buf_init(&b, LABELS_MAX_JSON);
  r = labels_to_json(&l, s->name, s->width, s->height, &b);
  buf_free(&b);
  labels_free(&l);
  if (r == -E2BIG) {
    snprintf(err, errlen, "%zu boxes would read back as more than %u "
             "bytes of JSON (the labels file limit)", boxes,
             LABELS_MAX_JSON);
    return -EFBIG;
  }
  return r;
}

/* Checks a labels document against the sample and stores it. */
static int commit_labels(struct fs_ctx *c, struct fh *h)
{
  struct store_txn *t;
  struct labels cur, l;
  struct sample s;
  char err[300], name[NAME_MAX + 1] = "?";
  int r;

  r = begin(c, true, &t);
  if (r < 0)
    return r;
  r = visible_sample(t, h->node.id, &s);
  if (r < 0) {
    store_txn_abort(t);
    return r;
  }
  snprintf(name, sizeof(name), "%s", s.name);
  r = labels_from_json(h->buf.data ? h->buf.data : "", h->buf.len, s.width,
                       s.height, &l, err, sizeof(err));
  if (r == 0) {
    /* Ids in the document must be ids of this sample's current labels. */
    r = store_labels_get(t, s.id, &cur);
    for (size_t i = 0; r == 0 && i < l.n; i++)
      for (size_t j = 0; r == 0 && j < l.f[i].n; j++) {
        uint64_t id = l.f[i].d[j].id;
        bool found = false;
        for (size_t a = 0; id && !found && a < cur.n; a++)
          for (size_t b = 0; !found && b < cur.f[a].n; b++)
            found = cur.f[a].d[b].id == id;
        if (id && !found) {
          snprintf(err, sizeof(err), "label id %llu is not a label of this "
                   "sample (leave \"id\" out for new boxes)",
                   (unsigned long long)id);
          r = -EINVAL;
        }
      }
    labels_free(&cur);
  }
  if (r == 0)
    r = store_labels_put(t, s.id, &l);
  labels_free(&l);
  if (r == 0)
    r = check_readable(t, &s, err, sizeof(err));
  if (r == 0)
    r = store_txn_commit(t);
  else
    store_txn_abort(t);
  if (r == -EBADMSG || r == -ENODATA)
    r = -EINVAL;
  if (r == -EFBIG)
    fs_error(c, "labels/%s.json: write rejected, labels unchanged: %s", name,
             err);
  else if (r == -ENOSPC && store_full_hint())
    fs_error(c, "labels/%s.json: write failed, labels unchanged: %s", name,
             store_full_hint());
  else if (r == -EINVAL)
    fs_error(c, "labels/%s.json: write rejected, labels unchanged: %s", name,
             err);
  else if (r < 0)
    fs_error(c, "labels/%s.json: write failed, labels unchanged: %s", name,
             strerror(-r));
  return r;
}

/* Validates the handle's document against its sample without storing it.
 * Returns 0, -EINVAL (schema; reason logged), or -EBADMSG/-ENODATA. */
static int check_labels(struct fs_ctx *c, struct fh *h)
{
  struct store_txn *t;
  struct labels l;
  struct sample s;
  char err[300];
  int r = begin(c, false, &t);

  if (r < 0)
    return r;
  r = visible_sample(t, h->node.id, &s);
  if (r == 0) {
    r = labels_from_json(h->buf.data, h->buf.len, s.width, s.height, &l, err,
                         sizeof(err));
    labels_free(&l);
    if (r == -EINVAL)
      fs_error(c, "labels/%s.json: write rejected, labels unchanged: %s",
               s.name, err);
  }
  store_txn_abort(t);
  return r;
}

/* Runs the provider's check or write on `n` bytes of the handle's document
 * with the requester's identity (access.h), so that any file a command
 * names is opened with the requester's rights, never the daemon's. */
static int ctl_apply_range(fuse_req_t req, struct fh *h, bool check_only,
                           const char *data, size_t n)
{
  struct acc_saved sv;
  int r = acc_become(req, &sv);

  if (r < 0) {
    fs_error(ctx(req), "%s: cannot take on the requester's identity: %s",
             h->prov->name, strerror(-r));
    return r;
  }
  r = (check_only ? h->prov->check : h->prov->write)(ctx(req), h->vpath,
                                                      data, n);
  acc_restore(&sv);
  return r;
}

static int ctl_apply(fuse_req_t req, struct fh *h, bool check_only)
{
  return ctl_apply_range(req, h, check_only, h->buf.data ? h->buf.data : "",
                         h->buf.len);
}

/* Control files take a whole document.  A command file (cvat/push, ...)
 * acts on the first write that ends a line, so `echo x > file` gets its
 * answer from write(2); other documents (config) are checked there and
 * applied at close. */
static void write_ctl(fuse_req_t req, struct fh *h, const char *data,
                      size_t size, off_t off)
{
  struct fs_ctx *c = ctx(req);
  int r = 0;

  if (h->ctl_done || h->bad) {
    fuse_reply_err(req, h->bad ? -h->bad : EBUSY);
    return;
  }
  if (off < 0 || (size_t)off != h->buf.len) {
    fuse_reply_err(req, EINVAL);  /* documents are written front to back */
    return;
  }
  r = buf_append(&h->buf, data, size);
  if (r < 0) {
    fuse_reply_err(req, r == -E2BIG ? EFBIG : -r);
    return;
  }
  h->dirty = true;
  if (h->prov->command && h->prov->lines) {
    const char *from = h->buf.data + h->ctl_off;
    size_t n = h->buf.len - h->ctl_off;
    while (n && from[n - 1] != '\n')
      n--;                          /* up to the last complete line */
    if (n) {
      r = ctl_apply_range(req, h, false, from, n);
      h->ctl_off += n;
      /* A last line without its newline still runs at close. */
      h->dirty = h->ctl_off < h->buf.len;
      if (r < 0)
        h->bad = report_full(c, r, h->prov->name, "");
    }
  } else if (h->buf.len && h->buf.data[h->buf.len - 1] == '\n') {
    if (h->prov->command) {
      r = ctl_apply(req, h, false);
      h->ctl_done = true;
      h->dirty = false;
      /* A writer that retries (buffered I/O flushing again at close)
       * gets the same answer, not a new one. */
      if (r < 0)
        h->bad = report_full(c, r, h->prov->name, "");
    } else if (h->prov->check) {
      r = ctl_apply(req, h, true);
      if (r < 0)
        h->bad = r;
    }
  }
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_write(req, size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data,
                     size_t size, off_t off, struct fuse_file_info *fi)
{
  struct fh *h = fh_of(fi);
  int r;

  (void)ino;
  if (!h->writable) {
    fuse_reply_err(req, EBADF);
    return;
  }
  if (h->prov) {
    write_ctl(req, h, data, size, off);
    return;
  }
  if (off < 0 || (uint64_t)off + size > LABELS_MAX_JSON) {
    fuse_reply_err(req, EFBIG);
    return;
  }
  /* A document is written front to back, like a control file's: a write
   * elsewhere than the end of what the handle holds would patch a text
   * the writer never saw whole. */
  if ((size_t)off != h->buf.len) {
    fs_error(ctx(req), "labels: write at offset %lld refused: documents "
             "are written from the start, each write at the end of the "
             "previous one (open with O_TRUNC)", (long long)off);
    fuse_reply_err(req, EINVAL);
    return;
  }
  r = buf_append(&h->buf, data, size);
  if (r < 0) {
    fuse_reply_err(req, r == -E2BIG ? EFBIG : -r);
    return;
  }
  h->dirty = true;
  /* A document that already parses but breaks the schema fails this very
   * write, so even `echo ... >` reports it.  Syntax errors wait for close:
   * the rest of the document may still be on its way. */
  if (h->buf.len <= (1u << 20)) {
    r = check_labels(ctx(req), h);
    if (r == -EINVAL) {
      h->bad = r;
      fuse_reply_err(req, EINVAL);
      return;
    }
  }
  fuse_reply_write(req, size);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct fs_ctx *c = ctx(req);
  struct fh *h = fh_of(fi);
  int r = 0;

  if (!h) {
    /* No handle: a read-only mount.  ENOSYS stops further flushes. */
    fuse_reply_err(req, ENOSYS);
    return;
  }
  if (h->writable && h->bad) {
    r = h->bad;  /* already rejected and logged at write */
    h->dirty = false;
  } else if (h->prov && h->dirty) {
    h->dirty = false;
    h->ctl_done = true;
    r = ctl_apply_range(req, h, false,
                        h->buf.data ? h->buf.data + h->ctl_off : "",
                        h->buf.len - h->ctl_off);
    report_full(c, r, h->prov->name, "");
  } else if (h->writable && h->dirty) {
    h->dirty = false;
    r = commit_labels(c, h);
    if (r == 0)
      notify_inode(c, ino, false);
  }
  fuse_reply_err(req, r < 0 ? -r : 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
  struct fh *h = fh_of(fi);

  (void)ino;
  if (h)
    close_io(ctx(req), h);
  fh_free(h);
  fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
  /* Label writes are durable when close() returns (flush commits). */
  (void)ino;
  (void)datasync;
  (void)fi;
  fuse_reply_err(req, 0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                       int to_set, struct fuse_file_info *fi)
{
  struct fs_ctx *c = ctx(req);
  struct node n;

  if (!node_from_ino(ino, &n)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if (acc_may_change(c, req, "setattr") < 0) {
    fuse_reply_err(req, EACCES);
    return;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    struct fh *h = fi ? fh_of(fi) : NULL;
    if (!h || !h->writable) {
      fuse_reply_err(req, n.kind == NODE_LABEL ? EINVAL : EACCES);
      return;
    }
    if (h->prov) {
      if (attr->st_size != 0) {
        fuse_reply_err(req, EINVAL);
        return;
      }
      buf_reset(&h->buf);
      h->ctl_off = 0;
      reply_attr(req, c, &n);
      return;
    }
    if ((uint64_t)attr->st_size > LABELS_MAX_JSON) {
      fuse_reply_err(req, EFBIG);
      return;
    }
    if (attr->st_size != 0) {
      /* Only starting over is meaningful for a whole document. */
      fuse_reply_err(req, EINVAL);
      return;
    }
    buf_reset(&h->buf);
    h->bad = 0;  /* starting over: an earlier rejected text is gone */
    h->dirty = true;
  }
  /* Modes and times are not stored; accept them so cp -p and touch work. */
  reply_attr(req, c, &n);
}

/* ---- tag gestures ---- */

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode)
{
  struct fs_ctx *c = ctx(req);
  struct fuse_entry_param e;
  struct store_txn *t;
  struct node p, n = { .kind = NODE_TAG };
  int r;

  (void)mode;
  if (acc_may_change(c, req, "mkdir") < 0) {
    fuse_reply_err(req, EACCES);
    return;
  }
  if (!node_from_ino(parent, &p) || p.kind != NODE_DIR || p.id != DIR_TAGS) {
    fuse_reply_err(req, EPERM);  /* only tags/ takes new directories */
    return;
  }
  if (!store_tag_name_valid(name)) {
    fs_error(c, "mkdir tags/%s: not a valid tag name", name);
    fuse_reply_err(req, EINVAL);
    return;
  }
  r = begin(c, true, &t);
  if (r == 0) {
    r = store_tag_create(t, name, &n.id);
    r = r == 0 ? store_txn_commit(t) : (store_txn_abort(t), r);
  }
  if (r == 0 && (r = begin(c, false, &t)) == 0) {
    r = entry_for(c, t, &n, &e);
    store_txn_abort(t);
  }
  if (r < 0) {
    if (r == -ENOSPC && store_full_hint())
      report_full(c, r, "mkdir tags/", name);
    else if (r != -EEXIST)
      fs_error(c, "mkdir tags/%s: %s", name, strerror(-r));
    fuse_reply_err(req, -r);
    return;
  }
  fuse_reply_entry(req, &e);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fs_ctx *c = ctx(req);
  struct store_txn *t;
  struct node p;
  int r;

  if (acc_may_change(c, req, "rmdir") < 0) {
    fuse_reply_err(req, EACCES);
    return;
  }
  if (!node_from_ino(parent, &p) || p.kind != NODE_DIR || p.id != DIR_TAGS) {
    fuse_reply_err(req, EPERM);
    return;
  }
  r = begin(c, true, &t);
  if (r == 0) {
    r = store_tag_delete(t, name);
    if (r == -ENOTEMPTY) {
      /* Members whose files vanished are not listed but still tagged
       * (they come back when their files do): say why. */
      uint64_t tid, sid, next = 1, shown = 0, all = 0;
      struct store_iter *it;
      struct sample s;
      if (store_tag_lookup(t, name, &tid) == 0 &&
          store_iter_new(t, &it) == 0) {
        while (store_iter_tag(it, tid, next, &sid) == 0) {
          next = sid + 1;
          all++;
          shown += visible_sample(t, sid, &s) == 0;
        }
        store_iter_free(it);
      }
      if (shown == 0 && all)
        fs_error(c, "rmdir tags/%s: its %llu samples have missing files "
                 "(not listed); untag them after re-importing, or delete "
                 "them from the store", name, (unsigned long long)all);
    }
    r = r == 0 ? store_txn_commit(t) : (store_txn_abort(t), r);
  }
  report_full(c, r, "rmdir tags/", name);
  fuse_reply_err(req, r < 0 ? -r : 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fs_ctx *c = ctx(req);
  struct store_txn *t;
  struct sample s;
  struct node p;
  int r;

  if (acc_may_change(c, req, "rm") < 0) {
    fuse_reply_err(req, EACCES);
    return;
  }
  if (!node_from_ino(parent, &p) || p.kind != NODE_TAG) {
    fs_error(c, "rm %s: only files in tags/<tag>/ can be removed (it "
             "untags them); samples stay in the dataset", name);
    fuse_reply_err(req, EPERM);
    return;
  }
  r = begin(c, true, &t);
  if (r == 0) {
    r = sample_by_file(t, name, NULL, &s);
    /* Untagging is idempotent, so `rm -r` never trips over a race. */
    if (r == 0)
      r = store_tag_remove(t, p.id, s.id);
    r = r >= 0 ? store_txn_commit(t) : (store_txn_abort(t), r);
  }
  report_full(c, r, "rm ", name);
  fuse_reply_err(req, r < 0 ? -r : 0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname,
                      unsigned int flags)
{
  struct fs_ctx *c = ctx(req);
  struct store_txn *t = NULL;
  struct node src, dst;
  struct sample s;
  char *moved_vpath = NULL;
  int r;

  if (acc_may_change(c, req, "mv") < 0) {
    fuse_reply_err(req, EACCES);
    return;
  }
  if (flags & ~(unsigned)RENAME_NOREPLACE) {
    fuse_reply_err(req, EINVAL);  /* no exchange or whiteout */
    return;
  }
  if (!node_from_ino(parent, &src) || !node_from_ino(newparent, &dst)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  r = begin(c, true, &t);
  if (r < 0)
    goto out;

  if (src.kind == NODE_DIR && src.id == DIR_TAGS && dst.kind == NODE_DIR &&
      dst.id == DIR_TAGS) {
    /* mv tags/a tags/b: rename the tag. */
    r = store_tag_rename(t, name, newname);
    if (r == -EINVAL)
      fs_error(c, "mv tags/%s tags/%s: not a valid tag name", name, newname);
    goto done;
  }
  if (dst.kind == NODE_TAG && src.kind == NODE_VNODE) {
    /* mv views/<v>/<file> tags/t/ (or any provider file that shows a
     * sample): tag the sample; the view keeps showing it. */
    struct vres v;
    struct vent e;
    char want[NAME_MAX + 2];
    size_t l;
    r = vresolve(c, parent, &v);
    l = strlen(v.path);
    if (r == 0 && l + 1 + strlen(name) >= sizeof(v.path))
      r = -ENAMETOOLONG;
    if (r < 0)
      goto done;
    v.path[l] = '/';
    strcpy(v.path + l + 1, name);
    v.p = vtree_provider_of(v.path, &v.rest);
    r = v.p ? v.p->stat(c, t, v.rest, &e) : -ENOENT;
    if (r == 0 && (e.kind == VENT_DIR || e.kind == VENT_CTL || !e.sample_id))
      r = -EPERM;
    if (r == 0)
      r = visible_sample(t, e.sample_id, &s);
    if (r < 0) {
      if (r == -EPERM)
        fs_error(c, "mv %s: only image files can be moved into tags/", name);
      goto done;
    }
    snprintf(want, sizeof(want), "%s%s", s.name, img_ext_of(s.format));
    if (strcmp(newname, name) != 0 && strcmp(newname, want) != 0) {
      r = -EINVAL;
      fs_error(c, "mv %s -> %s: move into the tag directory without "
               "renaming", name, newname);
      goto done;
    }
    r = store_tag_has(t, dst.id, s.id);
    if (r == 1 && (flags & RENAME_NOREPLACE))
      r = -EEXIST;
    else if (r >= 0)
      r = store_tag_add(t, dst.id, s.id);
    if (r >= 0)
      moved_vpath = strdup(v.path);
    goto done;
  }
  if (dst.kind == NODE_TAG ||
      (dst.kind == NODE_DIR && dst.id == DIR_SAMPLES && src.kind == NODE_TAG)) {
    if (!node_lists_samples(&src)) {
      r = -EPERM;
      fs_error(c, "mv %s: only image files can be moved into tags/", name);
      goto done;
    }
    r = sample_by_file(t, name, NULL, &s);
    if (r == 0 && src.kind == NODE_TAG && store_tag_has(t, src.id, s.id) != 1)
      r = -ENOENT;
    if (r < 0)
      goto done;
    if (strcmp(name, newname) != 0) {
      r = -EINVAL;
      fs_error(c, "mv %s -> %s: samples keep their names; move into the "
               "tag directory without renaming", name, newname);
      goto done;
    }
    if (dst.kind == NODE_DIR) {
      /* mv tags/t/x.jpg samples/: take the tag off.  samples/x.jpg is
       * always there, so a NOREPLACE rename reports it. */
      r = flags & RENAME_NOREPLACE ? -EEXIST : store_tag_remove(t, src.id, s.id);
      goto done;
    }
    if (src.kind == NODE_TAG && src.id == dst.id) {
      r = 0;
      goto done;
    }
    r = store_tag_has(t, dst.id, s.id);
    if (r == 1 && (flags & RENAME_NOREPLACE)) {
      r = -EEXIST;
      goto done;
    }
    if (r >= 0)
      r = store_tag_add(t, dst.id, s.id);
    if (r >= 0 && src.kind == NODE_TAG)
      r = store_tag_remove(t, src.id, s.id);
    goto done;
  }
  r = -EPERM;
  fs_error(c, "mv %s -> %s: not a supported move (move image files into "
           "tags/<tag>/, or rename tags)", name, newname);
done:
  if (r >= 0) {
    r = store_txn_commit(t);
    t = NULL;
  }
out:
  store_txn_abort(t);
  report_full(c, r, "mv ", name);
  if (r >= 0 && src.kind == NODE_DIR && src.id == DIR_SAMPLES)
    fs_sample_gen_bump(c, s.id);  /* see node.h: before the reply */
  if (r >= 0 && moved_vpath)
    vnode_detach(c, moved_vpath);  /* likewise for provider files */
  free(moved_vpath);
  fuse_reply_err(req, r < 0 ? -r : 0);
}

static void refuse_create(fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fs_ctx *c = ctx(req);
  struct node p;

  if (acc_may_change(c, req, "create") < 0) {
    fuse_reply_err(req, EACCES);
    return;
  }
  if (node_from_ino(parent, &p) && p.kind == NODE_TAG)
    fs_error(c, "copy into a tag refused (%s): files cannot be added from "
             "outside; use mv samples/<name>.<ext> tags/<tag>/ inside the mount",
             name);
  else
    fs_error(c, "create %s refused: the mount does not take new files", name);
  fuse_reply_err(req, EPERM);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, struct fuse_file_info *fi)
{
  (void)mode;
  (void)fi;
  refuse_create(req, parent, name);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode, dev_t rdev)
{
  (void)mode;
  (void)rdev;
  refuse_create(req, parent, name);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
  struct node n;

  /* Only provider paths hold per-inode state. */
  if (node_from_ino(ino, &n) && n.kind == NODE_VNODE)
    vnode_forget(ctx(req), ino, nlookup);
  fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
                            struct fuse_forget_data *forgets)
{
  struct node n;

  for (size_t i = 0; i < count; i++)
    if (node_from_ino(forgets[i].ino, &n) && n.kind == NODE_VNODE)
      vnode_forget(ctx(req), forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
  struct fs_ctx *c = ctx(req);
  struct statvfs sv;
  struct store_txn *t;
  uint64_t n = 0;

  (void)ino;
  memset(&sv, 0, sizeof(sv));
  if (begin(c, false, &t) == 0) {
    store_sample_count(t, &n);
    store_txn_abort(t);
  }
  sv.f_bsize = 4096;
  sv.f_frsize = 4096;
  sv.f_files = n;
  sv.f_namemax = 255;
  fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
  struct fs_ctx *c = userdata;

  /* A read-only mount lets the kernel open files without asking us: no
   * open, release or flush round trip per file, so reads of cached files
   * never reach the daemon (the per-open cost of a normal mount). */
  if (c->readonly && (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)) {
    conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
    c->no_open = true;
  }
  /* Replies for images come from the source fd: let libfuse splice them. */
  if (conn->capable & FUSE_CAP_SPLICE_WRITE)
    conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE)
    conn->want |= FUSE_CAP_SPLICE_MOVE;
  /* Label and control writes stay synchronous: no writeback cache. */
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
}

const struct fuse_lowlevel_ops curatefs_ops = {
  .init = op_init,
  .lookup = op_lookup,
  .forget = op_forget,
  .forget_multi = op_forget_multi,
  .getattr = op_getattr,
  .setattr = op_setattr,
  .opendir = op_opendir,
  .readdir = op_readdir,
  .readdirplus = op_readdirplus,
  .open = op_open,
  .read = op_read,
  .write = op_write,
  .flush = op_flush,
  .release = op_release,
  .fsync = op_fsync,
  .mkdir = op_mkdir,
  .rmdir = op_rmdir,
  .unlink = op_unlink,
  .rename = op_rename,
  .create = op_create,
  .mknod = op_mknod,
  .statfs = op_statfs,
  /* xattr.c: user.curatefs.* attributes of sample files */
  .getxattr = xattr_get,
  .listxattr = xattr_list,
  .setxattr = xattr_set,
  .removexattr = xattr_remove,
};
