/* pred_index.c - the sample index of a predictions import (pred_index.h):
 * built once per import from the store, then looked up per prediction by
 * binary search over sorted keys. */
#include "pred_index.h"
#include "imgfmt.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *base_of(const char *p)
{
  const char *b = strrchr(p, '/');
  return b ? b + 1 : p;
}

/* Length of p without its extension (after the last '.' of the last
 * component). */
static size_t stem_len(const char *p)
{
  const char *b = base_of(p), *dot = strrchr(b, '.');
  return dot && dot != b ? (size_t)(dot - p) : strlen(p);
}

static int cmp_kent(const void *a, const void *b)
{
  const struct kent *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int r = memcmp(x->key, y->key, n);
  if (r)
    return r;
  return x->len < y->len ? -1 : x->len > y->len;
}

static int cmp_num(const void *a, const void *b)
{
  const struct nument *x = a, *y = b;
  return x->num < y->num ? -1 : x->num > y->num;
}

/* Sorts and marks duplicate keys ambiguous. */
static void finish_keys(struct kent *k, size_t n)
{
  qsort(k, n, sizeof(*k), cmp_kent);
  for (size_t i = 0; i + 1 < n; i++)
    if (cmp_kent(&k[i], &k[i + 1]) == 0)
      k[i].ref = k[i + 1].ref = SIZE_MAX;
}

static size_t find_key(const struct kent *k, size_t n, const char *key,
                       size_t len)
{
  struct kent q = { key, len, 0 };
  const struct kent *hit = bsearch(&q, k, n, sizeof(*k), cmp_kent);
  return hit ? hit->ref : SIZE_MAX - 1; /* SIZE_MAX - 1: not found */
}

void pred_index_free(struct pred_index *ix)
{
  for (size_t i = 0; i < ix->n; i++)
    free(ix->refs[i].rel);
  free(ix->refs);
  free(ix->by_rel);
  free(ix->by_base);
  free(ix->by_relstem);
  free(ix->by_basestem);
  free(ix->by_num);
  memset(ix, 0, sizeof(*ix));
}

int pred_index_build(struct store_txn *t, struct pred_index *ix)
{
  struct store_iter *it = NULL;
  struct sample s;
  size_t cap = 0;
  uint64_t next = 1;
  int r = store_iter_new(t, &it);

  while (r == 0 && (r = store_iter_samples(it, next, &s)) == 0) {
    next = s.id + 1;
    if (s.flags & SAMPLE_MISSING)
      continue; /* predictions for a vanished file are skipped */
    if (ix->n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      struct pred_sample *p = realloc(ix->refs, nc * sizeof(*p));
      if (!p) {
        r = -ENOMEM;
        break;
      }
      ix->refs = p;
      cap = nc;
    }
    ix->refs[ix->n] = (struct pred_sample){ s.id, s.width, s.height,
                                     s.orientation, strdup(s.relpath) };
    if (!ix->refs[ix->n].rel) {
      r = -ENOMEM;
      break;
    }
    ix->n++;
  }
  store_iter_free(it);
  if (r != -ENOENT && r != 0)
    return r;

  size_t n = ix->n ? ix->n : 1;
  ix->by_rel = malloc(n * sizeof(struct kent));
  ix->by_base = malloc(n * sizeof(struct kent));
  ix->by_relstem = malloc(n * sizeof(struct kent));
  ix->by_basestem = malloc(n * sizeof(struct kent));
  ix->by_num = malloc(n * sizeof(struct nument));
  if (!ix->by_rel || !ix->by_base || !ix->by_relstem || !ix->by_basestem ||
      !ix->by_num)
    return -ENOMEM;
  for (size_t i = 0; i < ix->n; i++) {
    const char *rel = ix->refs[i].rel, *b = base_of(rel);
    size_t sl = stem_len(rel);
    ix->by_rel[i] = (struct kent){ rel, strlen(rel), i };
    ix->by_base[i] = (struct kent){ b, strlen(b), i };
    ix->by_relstem[i] = (struct kent){ rel, sl, i };
    ix->by_basestem[i] = (struct kent){ b, sl - (size_t)(b - rel), i };
    size_t bl = sl - (size_t)(b - rel);
    if (bl > 0 && bl <= 19) {
      uint64_t v = 0;
      bool digits = true;
      for (size_t k = 0; k < bl; k++) {
        if (!isdigit((unsigned char)b[k])) {
          digits = false;
          break;
        }
        v = v * 10 + (uint64_t)(b[k] - '0');
      }
      if (digits)
        ix->by_num[ix->n_num++] = (struct nument){ v, i };
    }
  }
  finish_keys(ix->by_rel, ix->n);
  finish_keys(ix->by_base, ix->n);
  finish_keys(ix->by_relstem, ix->n);
  finish_keys(ix->by_basestem, ix->n);
  qsort(ix->by_num, ix->n_num, sizeof(*ix->by_num), cmp_num);
  for (size_t i = 0; i + 1 < ix->n_num; i++)
    if (ix->by_num[i].num == ix->by_num[i + 1].num)
      ix->by_num[i].ref = ix->by_num[i + 1].ref = SIZE_MAX;
  return 0;
}

/* The index entry of sample id (refs are in id order); SIZE_MAX when the
 * sample is not indexed (missing). */
static size_t ref_of_id(const struct pred_index *ix, uint64_t id)
{
  size_t lo = 0, hi = ix->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ix->refs[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < ix->n && ix->refs[lo].id == id ? lo : SIZE_MAX;
}

/* Exports (export.h) name a sample's image "<sample name><ext>" and its
 * YOLO rows "<sample name>.txt" (a sample in a folder is "dir__file"):
 * the sample named by the last component of p[0..len) without its
 * extension, which must be the sample's own when ext_checked (an image
 * file name: as the COCO label import matches, coco.c); SIZE_MAX when
 * none. */
static size_t match_export_name(const struct pred_index *ix,
                                struct store_txn *t, const char *p,
                                size_t len, bool ext_checked)
{
  const char *b = p, *e = p + len, *dot = NULL;
  struct sample smp;
  char name[256];

  for (const char *q = p; q < e; q++)
    if (*q == '/')
      b = q + 1;
  if (ext_checked) {
    for (const char *q = b; q < e; q++)
      if (*q == '.')
        dot = q;
    if (!dot || dot == b)
      return SIZE_MAX;
    e = dot;
  }
  if (e == b || (size_t)(e - b) >= sizeof(name))
    return SIZE_MAX;
  memcpy(name, b, (size_t)(e - b));
  name[e - b] = '\0';
  if (store_sample_by_name(t, name, &smp) < 0)
    return SIZE_MAX;
  if (ext_checked) {
    const char *want = img_ext_of(smp.format);
    size_t n = (size_t)(p + len - dot);
    if (n != strlen(want) || memcmp(dot, want, n) != 0)
      return SIZE_MAX;
  }
  return ref_of_id(ix, smp.id);
}

/* Sample for a file_name: exact relative path, else the name an export
 * gives the sample's image, else unique basename.  Returns SIZE_MAX when
 * none matches. */
size_t pred_match_file_name(const struct pred_index *ix, struct store_txn *t,
                            const char *fn)
{
  size_t r = find_key(ix->by_rel, ix->n, fn, strlen(fn));
  if (r < SIZE_MAX - 1)
    return r;
  r = match_export_name(ix, t, fn, strlen(fn), true);
  if (r != SIZE_MAX)
    return r;
  const char *b = base_of(fn);
  r = find_key(ix->by_base, ix->n, b, strlen(b));
  return r < SIZE_MAX - 1 ? r : SIZE_MAX;
}

/* Sample for a txt file's path without ".txt": the source path without
 * extension, else an export's name of the sample, else a unique file
 * name stem. */
size_t pred_match_stem(const struct pred_index *ix, struct store_txn *t,
                       const char *rel, size_t len)
{
  size_t r = find_key(ix->by_relstem, ix->n, rel, len);
  if (r < SIZE_MAX - 1)
    return r;
  r = match_export_name(ix, t, rel, len, false);
  if (r != SIZE_MAX)
    return r;
  const char *b = rel, *e = rel + len;
  for (const char *p = rel; p < e; p++)
    if (*p == '/')
      b = p + 1;
  r = find_key(ix->by_basestem, ix->n, b, (size_t)(e - b));
  return r < SIZE_MAX - 1 ? r : SIZE_MAX;
}

size_t pred_match_number(const struct pred_index *ix, uint64_t num)
{
  struct nument q = { num, 0 };
  const struct nument *hit =
      bsearch(&q, ix->by_num, ix->n_num, sizeof(q), cmp_num);
  return hit ? hit->ref : SIZE_MAX;
}
