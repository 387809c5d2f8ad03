/* limp.c - the plumbing every label-import format shares (limp.h): the
 * input tree from a folder or a zip as a sorted list of relative names,
 * sample matching by name, path or unique stem, and field replacement.
 *
 * It sits below the format files (fmt_yolo.c, fmt_voc.c) and below
 * labelimport.c, which holds the format table and the transaction; it
 * calls none of them.  It never reads image pixels. */
#define _GNU_SOURCE   /* qsort_r */
#include "limp.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zipread.h"

#define LSRC_MAX_FILES 10000000u

/* ---- the input tree ---- */

static int add_name(struct limp_src *s, const char *name, size_t zi,
                    size_t *cap)
{
  if (s->n >= LSRC_MAX_FILES)
    return -E2BIG;
  if (s->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 256;
    char **p = realloc(s->names, nc * sizeof(*p));
    size_t *q;
    if (!p)
      return -ENOMEM;
    s->names = p;
    q = realloc(s->zidx, nc * sizeof(*q));
    if (!q)
      return -ENOMEM;
    s->zidx = q;
    *cap = nc;
  }
  s->names[s->n] = strdup(name);
  if (!s->names[s->n])
    return -ENOMEM;
  s->zidx[s->n++] = zi;
  return 0;
}

static int walk(struct limp_src *s, const char *rel, size_t *cap, int depth)
{
  char *full = path_join(s->dir, rel);
  DIR *d;
  struct dirent *de;
  int r = 0;

  if (!full)
    return -ENOMEM;
  d = opendir(full);
  free(full);
  if (!d)
    return -errno;
  if (depth > 32) {
    closedir(d);
    return -ELOOP;
  }
  while (r == 0 && (de = readdir(d))) {
    char sub[4096];
    struct stat st;
    char *p;
    if (de->d_name[0] == '.')
      continue;   /* ".", "..", hidden files */
    if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
                         de->d_name) >= sizeof(sub))
      continue;
    p = path_join(s->dir, sub);
    if (!p)
      return closedir(d), -ENOMEM;
    if (stat(p, &st) == 0) {
      if (S_ISDIR(st.st_mode))
        r = walk(s, sub, cap, depth + 1);
      else if (S_ISREG(st.st_mode))
        r = add_name(s, sub, 0, cap);
    }
    free(p);
  }
  closedir(d);
  return r;
}

static int cmp_name_idx(const void *a, const void *b, void *ud)
{
  char **names = ud;
  return strcmp(names[*(const size_t *)a], names[*(const size_t *)b]);
}

/* Sorts names (and zidx along with them). */
static int sort_src(struct limp_src *s)
{
  size_t *ord = malloc((s->n + 1) * sizeof(*ord));
  char **nn = malloc((s->n + 1) * sizeof(*nn));
  size_t *nz = malloc((s->n + 1) * sizeof(*nz));

  if (!ord || !nn || !nz) {
    free(ord), free(nn), free(nz);
    return -ENOMEM;
  }
  for (size_t i = 0; i < s->n; i++)
    ord[i] = i;
  qsort_r(ord, s->n, sizeof(*ord), cmp_name_idx, s->names);
  for (size_t i = 0; i < s->n; i++) {
    nn[i] = s->names[ord[i]];
    nz[i] = s->zidx[ord[i]];
  }
  free(s->names);
  free(s->zidx);
  free(ord);
  s->names = nn;
  s->zidx = nz;
  return 0;
}

void limp_src_free(struct limp_src *s)
{
  for (size_t i = 0; i < s->n; i++)
    free(s->names[i]);
  free(s->names);
  free(s->zidx);
  zipr_close(s->z);
  memset(s, 0, sizeof(*s));
}

int limp_src_open_dir(struct limp_src *s, const char *dir)
{
  size_t cap = 0;
  int r;

  memset(s, 0, sizeof(*s));
  s->dir = dir;
  r = walk(s, "", &cap, 0);
  return r < 0 ? r : sort_src(s);
}

int limp_src_open_zip(struct limp_src *s, const char *path)
{
  size_t cap = 0;
  int r;

  memset(s, 0, sizeof(*s));
  r = zipr_open(path, &s->z);
  for (size_t i = 0; r == 0 && i < zipr_count(s->z); i++) {
    const char *n = zipr_name(s->z, i);
    size_t len = strlen(n);
    if (len && n[len - 1] != '/')
      r = add_name(s, n, i, &cap);
  }
  return r < 0 ? r : sort_src(s);
}

int limp_src_read(struct limp_src *s, size_t i, size_t max, struct buf *out)
{
  char *p;
  FILE *f;
  char blk[65536];
  size_t n, total = 0;
  int r = 0;

  if (s->z)
    return zipr_read(s->z, s->zidx[i], max, out);
  p = path_join(s->dir, s->names[i]);
  if (!p)
    return -ENOMEM;
  f = fopen_regular(p);
  free(p);
  if (!f)
    return -errno;
  while ((n = fread(blk, 1, sizeof(blk), f)) > 0) {
    total += n;
    if (total > max) {
      r = -EFBIG;
      break;
    }
    if ((r = buf_append(out, blk, n)) < 0)
      break;
  }
  if (r == 0 && ferror(f))
    r = -EIO;
  fclose(f);
  return r;
}

int limp_src_open(struct limp_src *s, size_t i, int *ret_fd)
{
  char *p;
  int fd, r;

  *ret_fd = -1;
  if (!s->z) {
    p = path_join(s->dir, s->names[i]);
    if (!p)
      return -ENOMEM;
    fd = open_regular(p);
    free(p);
    if (fd < 0)
      return fd;
    *ret_fd = fd;
    return 0;
  }
  fd = tmpfile_anon();
  if (fd < 0)
    return fd;
  r = zipr_extract(s->z, s->zidx[i], LIMP_ZIP_DOC_MAX, fd);
  if (r < 0) {
    close(fd);
    return r;
  }
  *ret_fd = fd;
  return 0;
}

int limp_src_open_fail(struct limp *L, const struct limp_src *s, size_t i,
                       int r)
{
  const char *name = s->names[i];

  if (r == -EINVAL && !s->z)
    return limp_fail(L, "%s: not a regular file", name);
  if (r == -EFBIG)
    return limp_fail(L, "%s: inflates past %llu GiB", name,
                     (unsigned long long)(LIMP_ZIP_DOC_MAX >> 30));
  if (s->z && r == -EBADMSG)
    return limp_fail(L, "%s: a broken zip member (bad data, checksum, or "
                     "more bytes than the zip declares)", name);
  if (s->z && r == -ENOTSUP) {
    char m[40];
    zipr_method_name(s->z, s->zidx[i], m, sizeof(m));
    return limp_fail(L, "%s: compressed with %s, which this build cannot "
                     "read: re-zip the files with deflate, the method "
                     "CVAT itself writes", name, m);
  }
  if (s->z && (r == -ENOSPC || r == -EDQUOT))
    return limp_fail(L, "%s: no room to inflate it in the temporary folder "
                     "($TMPDIR, else /var/tmp): %s", name, strerror(-r));
  return limp_fail(L, "%s: %s", name, strerror(-r));
}

int limp_src_read_fail(struct limp *L, const struct limp_src *s, size_t i,
                       size_t max, int r)
{
  if (r == -EFBIG)
    return limp_fail(L, "%s: larger than %zu MiB", s->names[i], max >> 20);
  return limp_src_open_fail(L, s, i, r);
}

long limp_src_find(const struct limp_src *s, const char *name)
{
  size_t lo = 0, hi = s->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->names[mid], name);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* ---- matching and writing ---- */

int limp_fail(struct limp *L, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(L->err, L->errlen, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

void limp_report(struct limp *L, const char *what, const char *reason)
{
  if (L->report)
    L->report(what, reason, L->ud);
}

/* Where path's extension starts (the last '.' of its last component,
 * not that component's first character), or its end; *base: where that
 * component starts. */
static const char *ext_start(const char *path, const char **base)
{
  const char *b = strrchr(path, '/'), *dot;

  b = b ? b + 1 : path;
  dot = strrchr(b, '.');
  *base = b;
  return dot && dot != b ? dot : b + strlen(b);
}

int limp_path_stem(const char *path, char *out, size_t outlen)
{
  const char *b, *e = ext_start(path, &b);
  size_t n = (size_t)(e - path);

  if (n >= outlen)
    return -ENAMETOOLONG;
  memcpy(out, path, n);
  out[n] = '\0';
  return 0;
}

void limp_stem(const char *path, char *out, size_t outlen)
{
  const char *b, *e = ext_start(path, &b);
  size_t n = MIN((size_t)(e - b), outlen - 1);

  memcpy(out, b, n);
  out[n] = '\0';
}

/* The sample index, opened at the first need. */
static struct smatch *sample_index(struct limp *L)
{
  if (!L->have_match) {
    smatch_init(&L->match, L->t);
    L->have_match = true;
  }
  return &L->match;
}

/* The sample of a lookup's hit (r its result) into *ret, and whether
 * it was found only ignoring letter case, for limp_claim. */
static int matched(struct limp *L, int r, const struct smatch_hit *hit,
                   struct sample *ret)
{
  L->folded_id = 0;   /* a failed lookup leaves none behind */
  if (r < 0)
    return r;
  L->folded_id = hit->folded ? hit->id : 0;
  return store_sample_get(L->t, hit->id, ret);
}

void limp_fold(struct limp *L, bool on)
{
  sample_index(L)->no_fold = !on;
}

int limp_match(struct limp *L, const char *stem, struct sample *ret)
{
  struct smatch_hit hit;
  int r = smatch_stem(sample_index(L), stem, strlen(stem), &hit);

  return matched(L, r, &hit, ret);
}

int limp_match_label(struct limp *L, const char *stem, struct sample *ret)
{
  struct smatch_hit hit;
  int r = smatch_label_stem(sample_index(L), L->base ? L->base : "", stem,
                            strlen(stem), &hit);

  return matched(L, r, &hit, ret);
}

/* Drops the boxes held for sample ref (limp_put). */
static void drop_held(struct limp *L, size_t ref)
{
  if (L->held && L->held[ref]) {
    labels_field_clear(L->held[ref]);
    free(L->held[ref]->name);
    free(L->held[ref]);
    L->held[ref] = NULL;
  }
}

int limp_claim(struct limp *L, const struct sample *smp, const char *fn)
{
  bool folded = L->folded_id == smp->id;
  char why[600];
  size_t ref;
  int r = smatch_build(sample_index(L));

  if (r < 0)
    return r;
  if ((ref = smatch_index_of(&L->match, smp->id)) == SIZE_MAX)
    return 0;   /* not in the index: nothing else can name it */
  if ((!L->claimed &&
       !(L->claimed = calloc(L->match.n, sizeof(*L->claimed)))) ||
      (!L->claim_folded &&
       !(L->claim_folded = calloc(L->match.n, sizeof(bool)))))
    return -ENOMEM;
  if (L->claimed[ref]) {
    switch (smatch_pick(L->claim_folded[ref], folded)) {
    case SMATCH_BOTH:
      if (!folded)
        return limp_fail(L, "%s and %s are both labels of sample %s",
                         L->claimed[ref], fn, smp->name);
      /* Two (or more) by case: a later file may still name it exactly,
       * and take it from them all; else limp_flush fails.  The first
       * stays the claim, the boxes held are the last file's (never
       * written). */
      if (L->nrivals == L->cap_rivals) {
        size_t nc = L->cap_rivals ? 2 * L->cap_rivals : 8;
        struct limp_rival *p = realloc(L->rivals, nc * sizeof(*p));
        if (!p)
          return -ENOMEM;
        L->rivals = p;
        L->cap_rivals = nc;
      }
      L->rivals[L->nrivals++] = (struct limp_rival){ ref, fn };
      return 0;
    case SMATCH_FIRST:   /* fn goes by case; the sample is the other's */
      smatch_fold_lost(why, sizeof(why), smp->relpath, L->claimed[ref]);
      limp_report(L, fn, why);
      L->st->unmatched++;
      return 1;
    case SMATCH_SECOND:   /* the earlier file went by case: it loses */
      smatch_fold_lost(why, sizeof(why), smp->relpath, fn);
      limp_report(L, L->claimed[ref], why);
      L->st->unmatched++;
      for (size_t k = 0; k < L->nrivals; k++)   /* and so do its rivals */
        if (L->rivals[k].ref == ref) {
          limp_report(L, L->rivals[k].fn, why);
          L->st->unmatched++;
          L->rivals[k].ref = SIZE_MAX;
        }
      drop_held(L, ref);
      break;
    }
  }
  L->claimed[ref] = fn;
  L->claim_folded[ref] = folded;
  return 0;
}

/* Writes f (taken) as the field of sample_id, and counts it. */
static int put(struct limp *L, uint64_t sample_id, struct label_field *f)
{
  struct labels cur;
  struct label_field *dst;
  int r = store_labels_get(L->t, sample_id, &cur);

  if (r < 0)
    return r;
  /* Boxes imported again keep their ids; an unchanged field is not
   * written, so the sample keeps its label version (and every file made
   * from it, its content). */
  bool same = labels_field_adopt_ids(labels_field(&cur, L->field, false), f);
  dst = labels_field_replace(&cur, L->field, f);
  if (!dst) {
    labels_free(&cur);
    return -ENOMEM;
  }
  L->st->boxes += dst->n;
  L->st->matched++;
  r = same ? 0 : store_labels_put(L->t, sample_id, &cur);
  labels_free(&cur);
  return r;
}

int limp_put(struct limp *L, uint64_t sample_id, struct label_field *f)
{
  size_t ref = L->have_match ? smatch_index_of(&L->match, sample_id)
                             : SIZE_MAX;

  if (ref == SIZE_MAX || !L->claim_folded || !L->claim_folded[ref])
    return put(L, sample_id, f);
  /* a folded claim: held, as a later file may name the sample exactly */
  if (!L->held && !(L->held = calloc(L->match.n, sizeof(*L->held))))
    return -ENOMEM;
  if (!L->held_order &&
      !(L->held_order = calloc(L->match.n, sizeof(*L->held_order))))
    return -ENOMEM;
  if (L->held[ref])
    drop_held(L, ref);   /* put twice: the last boxes, as put() does */
  else
    L->held_order[L->nheld++] = ref;
  if (!(L->held[ref] = malloc(sizeof(*f))))
    return -ENOMEM;
  *L->held[ref] = *f;   /* taken, as put() takes it */
  memset(f, 0, sizeof(*f));
  return 0;
}

int limp_flush(struct limp *L)
{
  int r = 0;

  for (size_t i = 0; r == 0 && i < L->nheld; i++) {
    size_t ref = L->held_order[i];
    if (!L->held[ref])
      continue;   /* lost to a name found as written */
    for (size_t k = 0; r == 0 && k < L->nrivals; k++)
      if (L->rivals[k].ref == ref) {   /* no name found as written came */
        const struct smatch_sample *sm = &L->match.refs[ref];
        r = limp_fail(L, "%s and %s are both labels of sample %s",
                      L->claimed[ref], L->rivals[k].fn,
                      sm->name ? sm->name : sm->rel);
      }
    if (r < 0)
      break;
    smatch_folds_add(&L->st->folded, L->claimed[ref], L->match.refs[ref].rel);
    r = put(L, L->match.refs[ref].id, L->held[ref]);
    drop_held(L, ref);
  }
  L->nheld = 0;
  return r;
}

void limp_clip(struct detection *d, uint32_t w, uint32_t h)
{
  double x2 = fmin(d->x + d->w, w), y2 = fmin(d->y + d->h, h);

  d->x = fmax(0, fmin(d->x, w));
  d->y = fmax(0, fmin(d->y, h));
  d->w = fmax(0, x2 - d->x);
  d->h = fmax(0, y2 - d->y);
}

void limp_done(struct limp *L)
{
  for (size_t i = 0; L->held && i < L->match.n; i++)
    drop_held(L, i);   /* before smatch_free, which forgets n */
  if (L->have_match)
    smatch_free(&L->match);
  L->have_match = false;
  free(L->held);
  L->held = NULL;
  free(L->held_order);
  L->held_order = NULL;
  L->nheld = 0;
  free(L->claimed);
  L->claimed = NULL;
  free(L->claim_folded);
  L->claim_folded = NULL;
  free(L->rivals);
  L->rivals = NULL;
  L->nrivals = L->cap_rivals = 0;
  free(L->base);
  L->base = NULL;
  for (size_t i = 0; i < L->nkept; i++)
    free(L->kept[i]);
  free(L->kept);
  L->kept = NULL;
  L->nkept = L->capkept = 0;
}

int limp_keep(struct limp *L, char *s)
{
  if (L->nkept == L->capkept) {
    size_t nc = L->capkept ? L->capkept * 2 : 64;
    char **p = realloc(L->kept, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    L->kept = p;
    L->capkept = nc;
  }
  L->kept[L->nkept++] = s;
  return 0;
}

int limp_match_image(struct limp *L, const char *fn, struct sample *ret)
{
  struct smatch_hit hit;
  int r = smatch_image(sample_index(L), fn, &hit);

  return matched(L, r, &hit, ret);
}

int limp_match_image_in_subset(struct limp *L, const char *fn,
                               const char *subset,
                               const char *const *subsets, size_t n,
                               struct sample *ret)
{
  struct smatch_hit hit;
  int r = smatch_image_in_subset(sample_index(L), fn, subset, subsets, n,
                                 &hit);

  return matched(L, r, &hit, ret);
}
