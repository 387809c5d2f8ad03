/* coco_rec.c - the records coco.h keeps besides labels: per sample and
 * field the COCO image id (COCO_NS_IMAGE), per field the images of a COCO
 * file not on disk (COCO_NS_MISSING).  Their keys, their reads, and the
 * end of a field's COCO listing when another format fills it
 * (coco_field_forget).  coco.c writes them during an import. */
#include "coco.h"
#include "coco_i.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

size_t coco_missing_key(uint8_t *k, const char *field, int64_t id)
{
  size_t n = strlen(field) + 1;

  memcpy(k, field, n);
  store_key_u64(k + n, (uint64_t)(int64_t)id);
  return n + 8;
}

size_t coco_image_key(uint8_t *k, uint64_t sample_id, const char *field)
{
  size_t n = strlen(field);

  if (n > LABELS_MAX_FIELD_NAME)
    return 0;
  store_key_u64(k, sample_id);
  memcpy(k + 8, field, n);
  return 8 + n;
}

int coco_missing_name(size_t klen, const uint8_t *v, size_t vlen,
                      char *name)
{
  uint16_t n16;

  if (vlen < 2 || klen < 8)
    return -EIO;
  memcpy(&n16, v, 2);
  if (n16 > 4096 || (size_t)n16 + 2 > vlen)
    return -EIO;
  memcpy(name, v + 2, n16);
  name[n16] = '\0';
  return 2 + n16;
}

int coco_image_id(struct store_txn *t, uint64_t sample_id,
                  const char *field, int64_t *ret)
{
  uint8_t k[LABELS_MAX_FIELD_NAME + 8];
  size_t kl = coco_image_key(k, sample_id, field), n;
  const void *v;
  int r;

  if (!kl)
    return -EINVAL;
  r = store_rec_get(t, COCO_NS_IMAGE, k, kl, &v, &n);
  if (r == -ENOENT && kl > 8)   /* an earlier build's field-less record */
    r = store_rec_get(t, COCO_NS_IMAGE, k, 8, &v, &n);
  if (r < 0)
    return r;
  if (n != 8)
    return -EIO;
  *ret = (int64_t)store_key_rd_u64(v);
  return *ret == COCO_ID_NONE ? -ENOENT : 0;
}

/* One sample's records come together in key order: the field-less one
 * (8 bytes, a prefix of the others) first, then one per field.  The
 * walk holds the sample's id until the next sample's record (or the end)
 * shows no record of `field` can follow. */
struct image_walk {
  const char *field;
  size_t flen;
  int (*fn)(uint64_t, int64_t, void *);
  void *ud;
  uint64_t sid;
  int64_t id;
  bool held;     /* sid / id are waiting to be given to fn */
};

static int image_walk_flush(struct image_walk *w)
{
  bool held = w->held;

  w->held = false;
  return held ? w->fn(w->sid, w->id, w->ud) : 0;
}

static int image_walk_rec(const void *key, size_t klen, const void *val,
                          size_t vlen, void *ud)
{
  struct image_walk *w = ud;
  uint64_t sid;
  int r;

  if (klen < 8 || vlen != 8)
    return -EIO;
  if (klen > 8 && (klen - 8 != w->flen ||
                   memcmp((const uint8_t *)key + 8, w->field, w->flen)))
    return 0;   /* another field's */
  sid = store_key_rd_u64(key);
  if (!w->held || w->sid != sid) {
    r = image_walk_flush(w);
    if (r)
      return r;
  }
  /* The field's own record comes after the field-less one: it wins, and
   * COCO_ID_NONE says the sample has no id in the field. */
  w->sid = sid;
  w->id = (int64_t)store_key_rd_u64(val);
  w->held = w->id != COCO_ID_NONE;
  return 0;
}

int coco_image_id_each(struct store_txn *t, const char *field,
                       int (*fn)(uint64_t sample_id, int64_t coco_id,
                                 void *ud),
                       void *ud)
{
  struct image_walk w = { .field = field, .flen = strlen(field),
                          .fn = fn, .ud = ud };
  int r;

  if (w.flen > LABELS_MAX_FIELD_NAME)
    return -EINVAL;
  r = store_rec_each(t, COCO_NS_IMAGE, "", 0, false, image_walk_rec, &w);
  return r ? r : image_walk_flush(&w);
}

/* The keys of one field's records, gathered before any is deleted (no
 * deletion under the walk's cursor). */
struct field_keys {
  const char *field;
  size_t flen;
  bool image;          /* COCO_NS_IMAGE keys (else COCO_NS_MISSING) */
  bool legacy;         /* with image: the field-less keys instead */
  uint8_t (*k)[LABELS_MAX_FIELD_NAME + 9];
  size_t *kl, n, cap;
};

static int field_key_one(const void *key, size_t klen, const void *val,
                         size_t vlen, void *ud)
{
  struct field_keys *f = ud;

  (void)val;
  (void)vlen;
  if (klen > LABELS_MAX_FIELD_NAME + 9 ||
      (f->image && f->legacy && klen != 8) ||
      (f->image && !f->legacy &&
       (klen != 8 + f->flen ||
        memcmp((const uint8_t *)key + 8, f->field, f->flen))))
    return 0;   /* another field's, or (not) an earlier build's */
  if (f->n == f->cap) {
    size_t nc = f->cap ? 2 * f->cap : 64;
    void *k = realloc(f->k, nc * sizeof(*f->k));
    if (!k)
      return -ENOMEM;
    f->k = k;
    size_t *kl = realloc(f->kl, nc * sizeof(*f->kl));
    if (!kl)
      return -ENOMEM;
    f->kl = kl;
    f->cap = nc;
  }
  memcpy(f->k[f->n], key, klen);
  f->kl[f->n++] = klen;
  return 0;
}

/* Deletes field's records of ns; with legacy (COCO_NS_IMAGE), puts
 * COCO_ID_NONE under field for each sample with an earlier build's
 * field-less record instead, which coco_image_id would fall back to. */
static int forget_keys(struct store_txn *t, const char *ns, const char *field,
                       bool image, bool legacy)
{
  struct field_keys f = { .field = field, .flen = strlen(field),
                          .image = image, .legacy = legacy };
  uint8_t pre[LABELS_MAX_FIELD_NAME + 1];
  int r;

  if (f.flen > LABELS_MAX_FIELD_NAME)
    return -EINVAL;
  memcpy(pre, field, f.flen + 1);   /* COCO_NS_MISSING: "<field>\0" */
  r = store_rec_each(t, ns, image ? "" : (const char *)pre,
                     image ? 0 : f.flen + 1, false, field_key_one, &f);
  for (size_t i = 0; r == 0 && i < f.n; i++) {
    uint8_t k[LABELS_MAX_FIELD_NAME + 9], v[8];
    if (!legacy) {
      r = store_rec_del(t, ns, f.k[i], f.kl[i]);
      continue;
    }
    memcpy(k, f.k[i], 8);
    memcpy(k + 8, field, f.flen);
    store_key_u64(v, (uint64_t)COCO_ID_NONE);
    r = store_rec_put(t, ns, k, 8 + f.flen, v, 8);
  }
  free(f.k);
  free(f.kl);
  return r;
}

int coco_field_forget(struct store_txn *t, const char *field)
{
  int r = forget_keys(t, COCO_NS_IMAGE, field, true, false);

  r = r ? r : forget_keys(t, COCO_NS_IMAGE, field, true, true);
  return r ? r : forget_keys(t, COCO_NS_MISSING, field, false, false);
}

struct missing_walk {
  const char *field;
  int (*fn)(int64_t, const char *, const struct label_field *, void *);
  void *ud;
  uint64_t h;
};

static int missing_one(const void *key, size_t klen, const void *val,
                       size_t vlen, void *ud)
{
  struct missing_walk *w = ud;
  const uint8_t *v = val;
  struct label_field f = { 0 };
  char name[4097];
  int r, at;

  if (!w->fn) {   /* fingerprint only */
    w->h = hash_bytes_fnv1a(w->h, key, klen);
    w->h = hash_bytes_fnv1a(w->h, val, vlen);
    return 0;
  }
  at = coco_missing_name(klen, v, vlen, name);
  if (at < 0)
    return at;
  r = labels_field_decode(v + at, vlen - (size_t)at, &f);
  if (r < 0)
    return r == -EBADMSG ? -EIO : r;
  r = w->fn((int64_t)store_key_rd_u64((const uint8_t *)key + klen - 8), name,
            &f, w->ud);
  labels_field_clear(&f);
  return r;
}

int coco_missing_each(struct store_txn *t, const char *field,
                      int (*fn)(int64_t coco_id, const char *file_name,
                                const struct label_field *f, void *ud),
                      void *ud)
{
  struct missing_walk w = { field, fn, ud, 0 };
  uint8_t k[LABELS_MAX_FIELD_NAME + 1];
  size_t n = strlen(field) + 1;

  if (n > sizeof(k))
    return -EINVAL;
  memcpy(k, field, n);
  return store_rec_each(t, COCO_NS_MISSING, k, n, false, missing_one, &w);
}

int coco_missing_fp(struct store_txn *t, uint64_t *ret)
{
  struct missing_walk w = { NULL, NULL, NULL, HASH_FNV1A_INIT };
  int r = store_rec_each(t, COCO_NS_MISSING, "", 0, false, missing_one, &w);

  *ret = w.h;
  return r;
}
