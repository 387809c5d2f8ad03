/* node_labels.c - labels/ and the labels/<n>.json files (nodeops.h).
 *
 *   labels/              listing: the samples whose files are present
 *   labels/<n>.json      read: store_labels_get -> labels_to_json, each
 *                        box with its max IoU (maxiou_get)
 *                        write: a whole JSON document, checked at each
 *                        write against the schema, committed at close
 *                        (flush) in one write transaction
 *
 * A label handle (struct label_fh) holds a rendering to read, or the
 * document being written.  A document is written front to back, from an
 * empty file (O_TRUNC or ftruncate to 0): a write elsewhere would patch a
 * text the writer never saw whole.  A write that the schema rejects fails
 * with EINVAL, and the handle then refuses to commit: nothing changes.
 * A close before the first write stores nothing and logs nothing (an
 * empty text is no document: EINVAL).
 *
 * Locking: the rendering memo (struct label_memo, owned by the context)
 * has its own mutex; handles are used by one request at a time
 * (nodeops.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels_json.h"
#include "nodeops.h"
#include "maxiou.h"

struct label_fh {
  struct nh h;
  struct buf buf;     /* the rendering read, or the document written */
  bool writable;
  bool dirty;         /* written or truncated since the last commit */
  int bad;            /* a write was already rejected: -EINVAL */
};

static int render_label(struct store_txn *t, const struct sample *s,
                        struct buf *out)
{
  struct labels l;
  double *iou;
  uint64_t *partner;
  size_t n, k = 0;
  int r = store_labels_get(t, s->id, &l);

  if (r < 0)
    return r;
  buf_reset(out);
  /* Show each box's max IoU with its closest other box (maxiou.h). */
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
struct label_memo {
  pthread_mutex_t mu;   /* guards the fields below */
  uint64_t id, version;
  char *data;           /* owned */
  size_t len;
};

int label_memo_new(struct fs_ctx *c)
{
  struct label_memo *m = calloc(1, sizeof(*m));

  if (!m)
    return -ENOMEM;
  pthread_mutex_init(&m->mu, NULL);
  c->lmemo = m;
  return 0;
}

void label_memo_free(struct fs_ctx *c)
{
  struct label_memo *m = c->lmemo;

  if (!m)
    return;
  pthread_mutex_destroy(&m->mu);
  free(m->data);
  free(m);
  c->lmemo = NULL;
}

static void memo_store(struct label_memo *m, uint64_t id, uint64_t version,
                       const struct buf *b)
{
  char *copy = malloc(b->len ? b->len : 1);

  if (!copy)
    return;
  memcpy(copy, b->data, b->len);
  pthread_mutex_lock(&m->mu);
  free(m->data);
  m->data = copy;
  m->len = b->len;
  m->id = id;
  m->version = version;
  pthread_mutex_unlock(&m->mu);
}

static int render_label_memo(struct fs_ctx *c, struct store_txn *t,
                             const struct sample *s, struct buf *out)
{
  struct label_memo *m = c->lmemo;
  uint64_t v;
  int r;

  if (!m || store_version(t, &v) < 0)
    return render_label(t, s, out);
  pthread_mutex_lock(&m->mu);
  if (m->data && m->id == s->id && m->version == v) {
    buf_reset(out);
    r = buf_append(out, m->data, m->len);
    pthread_mutex_unlock(&m->mu);
    return r;
  }
  pthread_mutex_unlock(&m->mu);
  r = render_label(t, s, out);
  if (r == 0 && out->len <= LABEL_MEMO_MAX)
    memo_store(m, s->id, v, out);
  return r;
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

/* Ids in a document must be ids of the sample's current labels (new
 * boxes leave "id" out).  -EINVAL with the reason in err. */
static int check_ids(struct store_txn *t, uint64_t sample,
                     const struct labels *l, char *err, size_t errlen)
{
  struct labels cur;
  int r = store_labels_get(t, sample, &cur);

  for (size_t i = 0; r == 0 && i < l->n; i++)
    for (size_t j = 0; r == 0 && j < l->f[i].n; j++) {
      uint64_t id = l->f[i].d[j].id;
      bool found = false;
      for (size_t a = 0; id && !found && a < cur.n; a++)
        for (size_t b = 0; !found && b < cur.f[a].n; b++)
          found = cur.f[a].d[b].id == id;
      if (id && !found) {
        snprintf(err, errlen, "label id %llu is not a label of this "
                 "sample (leave \"id\" out for new boxes)",
                 (unsigned long long)id);
        r = -EINVAL;
      }
    }
  labels_free(&cur);
  return r;
}

static void report_commit(struct fs_ctx *c, int r, const char *name,
                          const char *err)
{
  if (r == -EFBIG || r == -EINVAL)
    fs_error(c, "labels/%s.json: write rejected, labels unchanged: %s", name,
             err);
  else if (r == -ENOSPC && store_full_hint())
    fs_error(c, "labels/%s.json: write failed, labels unchanged: %s", name,
             store_full_hint());
  else if (r < 0)
    fs_error(c, "labels/%s.json: write failed, labels unchanged: %s", name,
             strerror(-r));
}

/* Parses a written document against sample s; ground-truth boxes past
 * the image pass when stored so (labels_from_json_kept). */
static int parse_kept(struct store_txn *t, const struct sample *s,
                      const char *text, size_t len, struct labels *l,
                      char *err, size_t errlen)
{
  struct labels cur;
  int r = store_labels_get(t, s->id, &cur);

  if (r < 0) {
    labels_init(l);
    return r;
  }
  r = labels_from_json_kept(text, len, s->width, s->height, &cur, l, err,
                            errlen);
  labels_free(&cur);
  return r;
}

/* Checks a labels document against the sample and stores it, in one
 * write transaction. */
static int commit_labels(struct fs_ctx *c, struct label_fh *h)
{
  struct store_txn *t;
  struct labels l;
  struct sample s;
  char err[300] = "";
  int r = store_txn_begin(c->store, true, &t);

  if (r < 0)
    return r;
  r = visible_sample(t, h->h.node.id, &s);
  if (r < 0) {
    store_txn_abort(t);
    return r;
  }
  r = parse_kept(t, &s, h->buf.data ? h->buf.data : "", h->buf.len, &l, err,
                 sizeof(err));
  if (r == 0)
    r = check_ids(t, s.id, &l, err, sizeof(err));
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
  report_commit(c, r, s.name, err);
  return r;
}

/* Validates the handle's document against its sample without storing it.
 * Returns 0, -EINVAL (schema; reason logged), or -EBADMSG/-ENODATA. */
static int check_labels(struct fs_ctx *c, struct label_fh *h)
{
  struct store_txn *t;
  struct labels l;
  struct sample s;
  char err[300];
  int r = store_txn_begin(c->store, false, &t);

  if (r < 0)
    return r;
  r = visible_sample(t, h->h.node.id, &s);
  if (r == 0) {
    r = parse_kept(t, &s, h->buf.data, h->buf.len, &l, err, sizeof(err));
    labels_free(&l);
    if (r == -EINVAL)
      fs_error(c, "labels/%s.json: write rejected, labels unchanged: %s",
               s.name, err);
  }
  store_txn_abort(t);
  return r;
}

/* ---- the handle ---- */

static int label_read(struct nh *nh, size_t size, off_t off,
                      struct read_out *o)
{
  struct label_fh *h = (struct label_fh *)nh;

  read_slice(h->buf.data, h->buf.len, size, off, o);
  return 0;
}

static int label_write(struct fs_ctx *c, struct fuse_req *req, struct nh *nh,
                       const char *data, size_t size, off_t off)
{
  struct label_fh *h = (struct label_fh *)nh;
  int r;

  (void)req;
  if (!h->writable)
    return -EBADF;
  if (off < 0 || (uint64_t)off + size > LABELS_MAX_JSON)
    return -EFBIG;
  /* After a refused document, the same error again, already logged: a
   * writer that tries its write once more (Python's buffered file does,
   * at close, at the same offset) must not add a second, wrong reason. */
  if (h->bad)
    return h->bad;
  if ((size_t)off != h->buf.len) {
    fs_error(c, "labels: write at offset %lld refused: documents "
             "are written from the start, each write at the end of the "
             "previous one (open with O_TRUNC)", (long long)off);
    return -EINVAL;
  }
  r = buf_append(&h->buf, data, size);
  if (r < 0)
    return r == -E2BIG ? -EFBIG : r;
  h->dirty = true;
  /* A document that already parses but breaks the schema fails this very
   * write, so even `echo ... >` reports it.  Syntax errors wait for close:
   * the rest of the document may still be on its way. */
  if (h->buf.len <= (1u << 20) && check_labels(c, h) == -EINVAL) {
    h->bad = -EINVAL;
    return -EINVAL;
  }
  return (int)size;
}

static int label_flush(struct fs_ctx *c, struct fuse_req *req, struct nh *nh)
{
  struct label_fh *h = (struct label_fh *)nh;
  int r = 0;

  (void)req;
  if (h->writable && h->bad) {
    r = h->bad;  /* already rejected and logged at write */
    h->dirty = false;
  } else if (h->writable && h->dirty && h->buf.len == 0) {
    /* Opened with O_TRUNC (or truncated) and nothing written yet: an
     * empty text is no document (EINVAL), but it is not logged either.
     * A shell's `>` closes a duplicate descriptor before the command
     * writes, so logging it put a refusal in `status` beside every
     * `echo ... >` that then succeeded.  The handle stays dirty: the
     * close after the writes commits them. */
    r = -EINVAL;
  } else if (h->writable && h->dirty) {
    h->dirty = false;
    r = commit_labels(c, h);
    if (r == 0)
      notify_inode(c, node_ino_of(&h->h.node), false);
  }
  return r;
}

static int label_truncate(struct nh *nh, uint64_t size)
{
  struct label_fh *h = (struct label_fh *)nh;

  if (!h->writable)
    return -EINVAL;
  if (size > LABELS_MAX_JSON)
    return -EFBIG;
  if (size != 0)
    return -EINVAL;  /* only starting over is meaningful for a document */
  buf_reset(&h->buf);
  h->bad = 0;  /* starting over: an earlier rejected text is gone */
  h->dirty = true;
  return 0;
}

static void label_free(struct nh *nh)
{
  struct label_fh *h = (struct label_fh *)nh;

  buf_free(&h->buf);
  free(h);
}

const struct fh_ops label_fh_ops = {
  .read = label_read,
  .write = label_write,
  .flush = label_flush,
  .truncate = label_truncate,
  .free = label_free,
};

/* ---- labels/ and labels/<n>.json ---- */

static int labels_dir_lookup(struct fs_ctx *c, struct store_txn *t,
                             const struct node *dir, const char *name,
                             struct node *ret, bool *versioned)
{
  struct sample s;
  int r = sample_by_file(t, name, ".json", &s);

  (void)c;
  (void)dir;
  *versioned = false;
  if (r < 0)
    return r;
  memset(ret, 0, sizeof(*ret));
  ret->kind = NODE_LABEL;
  ret->id = s.id;
  return s.id > NODE_SAMPLE_MAX ? -EOVERFLOW : 0;
}

static int labels_dir_readdir(struct dir_fill *d, const struct node *dir,
                              off_t off)
{
  (void)dir;
  return samples_list(d, off, true);
}

const struct node_ops nodeops_labels_dir = {
  .lookup = labels_dir_lookup,
  .stat = node_dir_stat,
  .readdir = labels_dir_readdir,
};

static int label_stat(struct fs_ctx *c, struct store_txn *t,
                      const struct node *n, struct stat *st, int64_t *mt)
{
  struct sample s;
  struct buf b;
  int r = visible_sample(t, n->id, &s);

  if (r < 0)
    return r;
  buf_init(&b, LABELS_MAX_JSON * 4);
  r = render_label_memo(c, t, &s, &b);
  st->st_mode = S_IFREG | 0644;
  st->st_nlink = 1;
  st->st_size = (off_t)b.len;
  *mt = s.labels_mtime_ns ? s.labels_mtime_ns : s.mtime_ns;
  buf_free(&b);
  return r;
}

static int label_open(struct fs_ctx *c, struct store_txn *t,
                      const struct node *n, uint64_t ino, int flags,
                      struct nh **ret, struct open_out *o)
{
  struct label_fh *h;
  struct sample s;
  int r = visible_sample(t, n->id, &s);

  (void)ino;
  if (r < 0)
    return r;
  h = calloc(1, sizeof(*h));
  if (!h)
    return -ENOMEM;
  nh_init(&h->h, &label_fh_ops, n);
  buf_init(&h->buf, LABELS_MAX_JSON);
  /* Readers read to the end of this rendering, whatever size the kernel
   * holds (labels changed by another process would otherwise read short
   * until the attributes expire); writers talk to us directly. */
  o->direct_io = true;
  h->writable = (flags & O_ACCMODE) != O_RDONLY;
  /* Only a writer commits at close: a reader's close sends no FLUSH. */
  o->noflush = !h->writable;
  if (h->writable && (flags & O_TRUNC))
    h->dirty = true;
  else
    r = render_label_memo(c, t, &s, &h->buf);
  if (r < 0) {
    nh_put(&h->h);
    return r;
  }
  *ret = &h->h;
  return 0;
}

static int label_read_ino(struct fs_ctx *c, struct store_txn *t,
                          const struct node *n, uint64_t ino,
                          struct ino_read *o)
{
  struct sample s;
  int r = visible_sample(t, n->id, &s);

  (void)ino;
  return r < 0 ? r : render_label_memo(c, t, &s, &o->text);
}

const struct node_ops nodeops_label = {
  .stat = label_stat,
  .open = label_open,
  .read_ino = label_read_ino,
};
