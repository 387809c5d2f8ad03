/* node_samples.c - samples/ and the sample files it lists (nodeops.h).
 *
 *   samples/             listing: store_iter_samples (missing skipped)
 *   samples/<n>.<ext>    the source file (srcfile.c); ext by the format
 *                        recorded at import (.jpg .png ..., imgfmt.h)
 *   mv tags/t/<n> samples/   takes the tag off
 *
 * Also the sample helpers every kind that shows samples uses (tags/,
 * labels/, provider files showing a sample): finding the sample behind a
 * file name, the checks of a moved sample file, and the read-only handle
 * on a source file (struct sample_fh).  This file is the base of the
 * node_*.c files: it calls none of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgfmt.h"
#include "names.h"
#include "nodeops.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)  /* linux/fs.h */
#endif

/* An open sample file.  The source is opened at the first read that
 * reaches the daemon, not at open: with the page cache kept across opens
 * (keep_cache), a warm pass over a folder opens and closes every file and
 * reads none of them here, and the source's open(2), its checks and its
 * close were most of the daemon's work per file.  Owns fd and the copies
 * of the sample's name and path.  Locking: mu guards fd (reads of one
 * handle may run at once). */
struct sample_fh {
  struct nh h;
  struct fs_ctx *c;
  pthread_mutex_t mu;
  int fd;            /* -1 until a read opens the source */
  struct sample s;   /* what open_sample_source() needs; strings owned */
};

int visible_sample(struct store_txn *t, uint64_t id, struct sample *s)
{
  int r = store_sample_get(t, id, s);

  if (r == 0 && (s->flags & SAMPLE_MISSING))
    r = -ENOENT;
  return r;
}

int sample_by_file(struct store_txn *t, const char *name, const char *ext,
                   struct sample *s)
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

/* ---- the source-file handle ---- */

/* The source's descriptor, opened at the first call: the same checks
 * and the same errors (in status) as an eager open had.  A failure is
 * not kept: the next read tries again, so a bucket sample whose download
 * failed (a dropped connection, the bucket briefly away) reads once the
 * bucket answers, without the reader having to open the file again. */
static int sample_fh_fd(struct sample_fh *f)
{
  int r = 0;

  pthread_mutex_lock(&f->mu);
  if (f->fd < 0)
    r = open_sample_source(f->c, &f->s, &f->fd);
  if (r == 0)
    r = f->fd;
  else
    f->fd = -1;
  pthread_mutex_unlock(&f->mu);
  return r;
}

static int sample_fh_read(struct nh *h, size_t size, off_t off,
                          struct read_out *o)
{
  int fd = sample_fh_fd((struct sample_fh *)h);

  if (fd < 0)
    return fd;
  /* The adapter hands libfuse the fd: it can splice to the kernel. */
  o->fd = fd;
  o->pos = off;
  o->len = size;
  o->mem = NULL;
  return 0;
}

static void sample_fh_free(struct nh *h)
{
  struct sample_fh *f = (struct sample_fh *)h;

  if (f->fd >= 0)
    close(f->fd);
  pthread_mutex_destroy(&f->mu);
  free((char *)f->s.name);
  free((char *)f->s.relpath);
  free(f);
}

static const struct fh_ops sample_fh_ops = {
  .read = sample_fh_read,
  .free = sample_fh_free,
};

int sample_open(struct fs_ctx *c, const struct sample *s,
                const struct node *n, int flags, struct nh **ret,
                struct open_out *o)
{
  struct sample_fh *f;

  if ((flags & O_ACCMODE) != O_RDONLY)
    return -EACCES;  /* images are read-only; tag with mv instead */
  f = calloc(1, sizeof(*f));
  if (!f)
    return -ENOMEM;
  nh_init(&f->h, &sample_fh_ops, n);
  pthread_mutex_init(&f->mu, NULL);
  f->c = c;
  f->fd = -1;
  f->s = *s;  /* its strings point into the request's transaction */
  f->s.name = strdup(s->name);
  f->s.relpath = strdup(s->relpath);
  if (!f->s.name || !f->s.relpath) {
    nh_put(&f->h);
    return -ENOMEM;
  }
  /* The source is immutable while its size and mtime match the store:
   * keep the page cache across opens. */
  o->keep_cache = true;
  o->noflush = true;
  *ret = &f->h;
  return 0;
}

/* ---- moves ---- */

int node_refuse_move(struct fs_ctx *c, const char *name, const char *newname)
{
  fs_error(c, "mv %s -> %s: not a supported move (move image files into "
           "tags/<tag>/, or rename tags)", name, newname);
  return -EPERM;
}

int sample_move_check(struct fs_ctx *c, struct store_txn *t,
                      const struct node *src, const char *name,
                      const char *newname, struct sample *s)
{
  int r;

  if (!node_lists_samples(src)) {
    fs_error(c, "mv %s: only image files can be moved into tags/", name);
    return -EPERM;
  }
  r = sample_by_file(t, name, NULL, s);
  if (r == 0 && src->kind == NODE_TAG && store_tag_has(t, src->id, s->id) != 1)
    r = -ENOENT;
  if (r < 0)
    return r;
  if (strcmp(name, newname) != 0) {
    fs_error(c, "mv %s -> %s: samples keep their names; move into the "
             "tag directory without renaming", name, newname);
    return -EINVAL;
  }
  return 0;
}

/* mv tags/t/x.jpg samples/: take the tag off.  samples/x.jpg is always
 * there, so a NOREPLACE rename reports it. */
static int samples_rename_into(struct fs_ctx *c, const struct node *src,
                               const char *name, const struct node *dir,
                               const char *newname, unsigned flags)
{
  struct store_txn *t;
  struct sample s;
  int r;

  (void)dir;
  if (src->kind != NODE_TAG)
    return node_refuse_move(c, name, newname);
  r = store_txn_begin(c->store, true, &t);
  if (r < 0)
    return r;
  r = sample_move_check(c, t, src, name, newname, &s);
  if (r == 0)
    r = flags & RENAME_NOREPLACE ? -EEXIST
                                 : store_tag_remove(t, src->id, s.id);
  r = r >= 0 ? store_txn_commit(t) : (store_txn_abort(t), r);
  return fs_report_full(c, r, "mv ", name);
}

/* ---- samples/ and samples/<n> ---- */

static int samples_dir_lookup(struct fs_ctx *c, struct store_txn *t,
                              const struct node *dir, const char *name,
                              struct node *ret, bool *versioned)
{
  struct sample s;
  int r = sample_by_file(t, name, NULL, &s);

  (void)dir;
  *versioned = false;
  if (r < 0)
    return r;
  memset(ret, 0, sizeof(*ret));
  ret->kind = NODE_SAMPLE;
  ret->id = s.id;
  ret->gen = fs_sample_gen(c, s.id);
  return s.id > NODE_SAMPLE_MAX ? -EOVERFLOW : 0;
}

/* Lists the samples whose files are present; `label` lists labels/ (its
 * files are named .json), else samples/.  Cookies are id + 2, so a
 * cookie stays valid while other samples come and go. */
int samples_list(struct dir_fill *d, off_t off, bool label)
{
  struct store_iter *it;
  struct node n = { .kind = label ? NODE_LABEL : NODE_SAMPLE };
  char name[NAME_MAX + 1];
  struct sample s;
  uint64_t from = off <= 2 ? 1 : (uint64_t)off - 1;
  int r = store_iter_new(d->t, &it);

  if (r < 0)
    return r;
  while ((r = store_iter_samples(it, from, &s)) == 0) {
    from = s.id + 1;
    if (s.flags & SAMPLE_MISSING)
      continue;
    snprintf(name, sizeof(name), "%s%s", s.name,
             label ? ".json" : img_ext_of(s.format));
    n.id = s.id;
    n.gen = label ? 0 : fs_sample_gen(d->c, s.id);
    if (!d->add(d, name, &n, (off_t)s.id + 2))
      break;
  }
  store_iter_free(it);
  return r == -ENOENT ? 0 : r;
}

static int samples_dir_readdir(struct dir_fill *d, const struct node *dir,
                               off_t off)
{
  (void)dir;
  return samples_list(d, off, false);
}

int node_dir_stat(struct fs_ctx *c, struct store_txn *t,
                    const struct node *n, struct stat *st, int64_t *mt)
{
  (void)c;
  (void)t;
  (void)n;
  (void)mt;
  st->st_mode = S_IFDIR | 0755;
  st->st_nlink = 2;
  return 0;
}

const struct node_ops nodeops_samples_dir = {
  .lookup = samples_dir_lookup,
  .stat = node_dir_stat,
  .readdir = samples_dir_readdir,
  .rename_into = samples_rename_into,
};

/* The attributes of a source file as the store recorded them at import. */
int sample_file_stat(struct store_txn *t, uint64_t id, struct stat *st,
                     int64_t *mt)
{
  struct sample s;
  int r = visible_sample(t, id, &s);

  st->st_mode = S_IFREG | 0444;
  st->st_nlink = 1;
  if (r < 0)
    return r;
  st->st_size = (off_t)s.size;
  *mt = s.mtime_ns;
  return 0;
}

static int sample_stat(struct fs_ctx *c, struct store_txn *t,
                       const struct node *n, struct stat *st, int64_t *mt)
{
  (void)c;
  return sample_file_stat(t, n->id, st, mt);
}

static int sample_node_open(struct fs_ctx *c, struct store_txn *t,
                            const struct node *n, uint64_t ino, int flags,
                            struct nh **ret, struct open_out *o)
{
  struct sample s;
  int r;

  (void)ino;
  if ((flags & O_ACCMODE) != O_RDONLY)
    return -EACCES;
  r = visible_sample(t, n->id, &s);
  return r < 0 ? r : sample_open(c, &s, n, flags, ret, o);
}

static int sample_read_ino(struct fs_ctx *c, struct store_txn *t,
                           const struct node *n, uint64_t ino,
                           struct ino_read *o)
{
  (void)c;
  (void)t;
  (void)ino;
  o->sample = n->id;
  return 0;
}

const struct node_ops nodeops_sample = {
  .stat = sample_stat,
  .open = sample_node_open,
  .read_ino = sample_read_ino,
};
