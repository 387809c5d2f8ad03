/* cvat_push_files.c - which files a push sends and how: a folder's
 * samples as files of the dataset folder (never outside it), a bucket's as
 * object keys for a CVAT cloud storage, or, with cvat.cloud_storage=off,
 * as their bytes from the object cache at the version the import
 * recorded.  Uploaded files are opened one upload batch at a time and
 * sent from those descriptors: a folder's with import_open_current(),
 * whose checks (inside the folder, no link leading out, still the file
 * the import recorded) are thus about the very file sent, never a name
 * reopened later.  Private to core/cvat/
 * (cvat_sync_i.h); used by cvat_push.c.
 */
#define _GNU_SOURCE   /* asprintf, qsort_r */
#include "cvat_sync_i.h"

#include "awsconf.h"
#include "imgfmt.h"
#include "import.h"
#include "objsource.h"
#include "s3.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Upload name of a sample: its display name, flattened to a base name
 * (CVAT keeps only base names) with the extension of its format (.jpg,
 * .png ...): the bytes uploaded are the original file's.  A '/' or '\\'
 * would be taken as a path separator by CVAT, and a '"' reaches it as
 * "%22" (libcurl escapes it in a multipart file name, and CVAT does not
 * decode it), so the names CVAT lists would not be the ones sent in
 * upload_file_order and the task would not be created: all three become
 * '_'.  (Control bytes, which libcurl escapes too, are never in a
 * sample's name.) */
static char *upload_name(const char *name, int format)
{
  size_t n = strlen(name);
  const char *ext = img_ext_of(format);
  char *s = malloc(n + strlen(ext) + 1);

  if (!s)
    return NULL;
  for (size_t i = 0; i < n; i++)
    s[i] = name[i] == '/' || name[i] == '\\' || name[i] == '"' ? '_'
                                                             : name[i];
  memcpy(s + n, ext, strlen(ext) + 1);
  return s;
}

void cvat_files_free(struct push_files *f)
{
  for (size_t i = 0; f->fds && i < f->n; i++)
    if (f->fds[i] >= 0)
      close(f->fds[i]);
  free(f->fds);
  free(f->st);
  free(f->rec);
  cvat_names_free(f->names, f->n);
  cvat_names_free(f->rel, f->n);
  cvat_names_free(f->disp, f->n);
  cvat_names_free(f->etag, f->n);
  free(f->f);
  memset(f, 0, sizeof(*f));
}

/* A bucket sample's recorded ETag (the srcver record). */
static int sample_etag(struct store_txn *t, uint64_t id,
                       char etag[IMPORT_VERSION_MAX])
{
  uint8_t key[8];
  const void *v;
  size_t n;
  int r;

  store_key_u64(key, id);
  r = store_rec_get(t, IMPORT_REC_VERSION, key, sizeof(key), &v, &n);
  if (r == 0)
    snprintf(etag, IMPORT_VERSION_MAX, "%.*s", (int)n, (const char *)v);
  return r;
}

/* A bucket sample: its relative path and recorded ETag, and as name its
 * object key for CVAT (SRC_CLOUD) or its upload name (SRC_BUCKET_UP,
 * whose bytes are opened batch by batch: cvat_files_open_batch). */
static int file_add_bucket(struct store_txn *t, struct push_files *fs,
                           const struct sample *sm, const struct push_src *src,
                           char *err, size_t errlen)
{
  char etag[IMPORT_VERSION_MAX];
  size_t i = fs->n;
  int r;

  if (sm->flags & SAMPLE_MISSING)
    return errf(err, errlen, -ENOENT, "sample %s: its object is missing",
                sm->name);
  r = sample_etag(t, sm->id, etag);
  if (r < 0)
    return errf(err, errlen, r, "sample %s: %s", sm->name, r == -ENOENT ?
                "no version of its object recorded; import again" :
                strerror(-r));
  if (src->mode == SRC_CLOUD) {
    if (asprintf(&fs->names[i], "%s%s", src->prefix, sm->relpath) < 0)
      fs->names[i] = NULL;
  } else {
    fs->names[i] = upload_name(sm->name, sm->format);
  }
  fs->rel[i] = strdup(sm->relpath);
  fs->etag[i] = strdup(etag);
  fs->n++;
  if (!fs->names[i] || !fs->rel[i] || !fs->etag[i])
    return -ENOMEM;
  fs->f[i].name = fs->names[i];
  fs->f[i].fd = -1;
  fs->f[i].size = sm->size;
  return 0;
}

/* Opens a folder sample's file in the dataset folder (nothing outside
 * it, util.h) and holds it to the import's record rec (import.h: CVAT
 * would get another picture than the one whose size and boxes the store
 * holds), unless it is in the state *known, that of a check earlier in
 * this push (a write since would have moved its ctime), so that a touched
 * file is not read whole a second time: a descriptor with the state its
 * verdict is about in *st, or an errno with the reason in err. */
static int folder_open(const char *root, const struct sample *rec,
                       const char *name, const struct stat *known,
                       struct stat *st, char *err, size_t errlen)
{
  int fd = dataset_open(root, rec->relpath), r;
  struct stat now;

  /* now, not *st: a caller may pass one struct as both known and st. */
  if (fd >= 0) {
    if (known && fstat(fd, &now) == 0 && stat_same_state(known, &now))
      r = 0;
    else
      r = import_file_current_st(fd, rec, &now);
    if (r < 0) {
      close(fd);
      fd = r;
    } else {
      *st = now;
    }
  }
  if (fd < 0)
    return errf(err, errlen, fd == -EXDEV ? -EACCES : fd, "sample %s: %s",
                name, fd == -EXDEV ? "its file leads out of the dataset "
                "folder (a symbolic link?)" : fd == -ESTALE ? "its file "
                "changed since the import (another size or other bytes); "
                "import again" : strerror(-fd));
  return fd;
}

int cvat_files_check(struct push_files *fs, const struct push_src *src,
                     char *err, size_t errlen)
{
  if (src->mode != SRC_FOLDER || fs->checked)
    return 0;
  for (size_t i = 0; i < fs->n; i++) {
    int fd = folder_open(src->root, &fs->rec[i], fs->disp[i], NULL,
                         &fs->st[i], err, errlen);
    if (fd < 0)
      return fd;
    close(fd);
  }
  fs->checked = true;
  return 0;
}

/* The descriptors of the samples of one upload batch [from, to): a
 * folder's files, checked as they are opened, or a bucket's from the
 * object cache at their recorded versions.  Those of the batches before
 * are closed, so an upload holds one batch open; a batch sent again
 * (after a 413) keeps its descriptors, and so its files.  0, or an errno
 * with the reason in err. */
int cvat_files_open_batch(struct push_files *fs, const struct push_src *src,
                          size_t from, size_t to, char *err, size_t errlen)
{
  char why[600] = "";
  int r;

  for (size_t i = 0; i < from; i++)
    if (fs->fds[i] >= 0) {
      close(fs->fds[i]);
      fs->fds[i] = fs->f[i].fd = -1;
      fs->f[i].opened = NULL;
    }
  for (size_t i = from; i < to; i++) {
    if (fs->fds[i] >= 0)
      continue;
    if (src->mode == SRC_FOLDER) {
      /* st[i] then holds the state checked, which the upload holds the
       * file to (a later fstat could take in a change never checked). */
      r = folder_open(src->root, &fs->rec[i], fs->disp[i],
                      fs->checked ? &fs->st[i] : NULL, &fs->st[i], err,
                      errlen);
      if (r < 0)
        return r;
      fs->fds[i] = r;
    } else {
      r = objsource_open_file(src->objsrc, fs->rel[i], fs->etag[i],
                              fs->f[i].size, &fs->fds[i], why, sizeof(why));
      if (r < 0)
        return errf(err, errlen, r, "%s: %s", fs->names[i], r == -ESTALE ?
                    "it changed in the bucket since the import; import "
                    "again" : why[0] ? why : strerror(-r));
    }
    fs->f[i].fd = fs->fds[i];
    /* The file as opened: what goes up must still be that (http.h). */
    if (src->mode != SRC_FOLDER && fstat(fs->fds[i], &fs->st[i]) < 0)
      return errf(err, errlen, -errno, "%s: %s", fs->names[i],
                  strerror(errno));
    fs->f[i].opened = &fs->st[i];
    /* A bucket sample's file is the object cache's: another reader (a
     * mount sharing the cache folder) may record its use in its time. */
    fs->f[i].fixed = src->mode != SRC_FOLDER;
  }
  return 0;
}

/* One folder sample: its names and the import's record of its file.  The
 * file is checked by cvat_files_check() before a task is made or an
 * upload starts, and again as its batch opens (cvat_files_open_batch);
 * never when a resumed push has nothing to upload: CVAT then holds the
 * bytes the import recorded, whatever the folder holds now. */
static int file_add(struct push_files *fs, const struct sample *sm,
                    char *err, size_t errlen)
{
  size_t i = fs->n;

  if (sm->flags & SAMPLE_MISSING)
    return errf(err, errlen, -ENOENT, "sample %s: its file is missing",
                sm->name);
  fs->rec[i] = *sm;
  fs->rec[i].name = NULL;   /* the transaction's; rel and disp are kept */
  fs->names[i] = upload_name(sm->name, sm->format);
  fs->rel[i] = strdup(sm->relpath);
  fs->rec[i].relpath = fs->rel[i];
  fs->disp[i] = strdup(sm->name);
  fs->n++;
  if (!fs->names[i] || !fs->rel[i] || !fs->disp[i])
    return -ENOMEM;
  fs->f[i].name = fs->names[i];
  fs->f[i].fd = -1;
  fs->f[i].size = sm->size;
  return 0;
}

int cvat_files_build(struct store_txn *t, const struct cvat_run *run,
                     const struct push_src *src, struct push_files *fs,
                     char *err, size_t errlen)
{
  size_t n = run->n_samples;
  int r = 0;

  fs->f = calloc(n + 1, sizeof(*fs->f));
  fs->names = calloc(n + 1, sizeof(char *));
  fs->disp = calloc(n + 1, sizeof(char *));
  fs->rel = calloc(n + 1, sizeof(char *));
  fs->etag = calloc(n + 1, sizeof(char *));
  fs->fds = malloc((n + 1) * sizeof(int));
  fs->st = calloc(n + 1, sizeof(*fs->st));
  fs->rec = calloc(n + 1, sizeof(*fs->rec));
  if (!fs->f || !fs->names || !fs->disp || !fs->rel || !fs->etag ||
      !fs->fds || !fs->st || !fs->rec)
    return -ENOMEM;
  for (size_t i = 0; i <= n; i++)
    fs->fds[i] = -1;
  for (size_t i = 0; r == 0 && i < n; i++) {
    struct sample sm;
    r = store_sample_get(t, run->samples[i], &sm);
    if (r < 0)
      return errf(err, errlen, r, "sample %" PRIu64 ": %s", run->samples[i],
                  strerror(-r));
    r = src->mode == SRC_FOLDER ? file_add(fs, &sm, err, errlen)
        : file_add_bucket(t, fs, &sm, src, err, errlen);
  }
  return r;
}

/* ---------------------------------------------- versions, before CVAT reads */

struct vcheck {
  const struct push_files *fs;
  size_t *order;                 /* indexes sorted by key (names) */
  bool *seen;
  size_t changed;                /* index + 1 of the first changed, or 0 */
};

static int cmp_key(const void *a, const void *b, void *ud)
{
  const struct push_files *fs = ud;

  return strcmp(fs->names[*(const size_t *)a],
                fs->names[*(const size_t *)b]);
}

static int vcheck_one(const struct s3_object *o, void *ud)
{
  struct vcheck *v = ud;
  size_t lo = 0, hi = v->fs->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v->fs->names[v->order[mid]], o->key);
    if (c == 0) {
      size_t i = v->order[mid];
      v->seen[i] = true;
      /* The record may carry a version id after the ETag. */
      size_t n = objsource_etag_len(v->fs->etag[i]);
      if ((strncmp(v->fs->etag[i], o->etag, n) != 0 || o->etag[n]) &&
          !v->changed)
        v->changed = i + 1;
      return 0;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

/* Lists the prefix once (a page per 1000 objects) and compares each
 * sample's object with the version the import recorded. */
static int vcheck_list(struct vcheck *v, const struct push_src *src,
                       char *err, size_t errlen)
{
  struct aws_conf aws;
  struct s3 *s3 = NULL;
  int r = aws_conf_load(&aws, err, errlen);

  if (r == 0)
    r = s3_open(&aws, src->bucket, &s3, err, errlen);
  aws_conf_free(&aws);
  if (r == 0)
    r = s3_list(s3, src->prefix, vcheck_one, v, err, errlen);
  s3_close(s3);
  return r;
}

int cvat_files_check_versions(const struct push_files *fs,
                              const struct push_src *src, char *err,
                              size_t errlen)
{
  struct vcheck v = { fs, calloc(fs->n + 1, sizeof(size_t)),
                      calloc(fs->n + 1, sizeof(bool)), 0 };
  int r = v.order && v.seen ? 0 : -ENOMEM;

  for (size_t i = 0; r == 0 && i < fs->n; i++)
    v.order[i] = i;
  if (r == 0) {
    qsort_r(v.order, fs->n, sizeof(size_t), cmp_key, (void *)fs);
    r = vcheck_list(&v, src, err, errlen);
  }
  for (size_t i = 0; r == 0 && i < fs->n; i++)
    if (!v.seen[i])
      r = errf(err, errlen, -ENOENT, "%s%s is gone from the bucket since "
               "the import; import again", src->root, fs->rel[i]);
  if (r == 0 && v.changed)
    r = errf(err, errlen, -ESTALE, "%s%s changed in the bucket since the "
             "import, and CVAT would read the new version; import again",
             src->root, fs->rel[v.changed - 1]);
  free(v.order);
  free(v.seen);
  return r;
}
