/* cvat_snapshot.c - undo of a pull: the snapshot a pull takes of its
 * run's samples (labels and identity map, then the classes it creates)
 * and cvat_undo(), which restores the last one in one transaction.
 *
 * Snapshot layout (host byte order; "CVU1" records, from before classes
 * were recorded, still restore):
 *   u32 magic, u32 samples, per sample: u64 id, u32 fields, per field:
 *   u16 name length, name, u32 length, the field's encoding; u32 pairs,
 *   pairs; then for "CVU2": u32 next class id before the pull, u32 count,
 *   u32 ids of the classes the pull created.
 */
#include "cvat_sync_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int put_bytes(struct buf *b, const void *p, size_t n)
{
  return buf_append(b, p, n);
}

/* Appends one sample's labels and map to an undo snapshot. */
int cvat_snap_sample(struct store_txn *t, const char *run, uint64_t id,
                       struct buf *b)
{
  struct labels l;
  struct cvat_pair *p = NULL;
  size_t np = 0;
  uint32_t nf;
  int r;

  labels_init(&l);
  r = store_labels_get(t, id, &l);
  if (r == 0)
    r = cvat_map_get(t, run, id, &p, &np);
  nf = (uint32_t)l.n;
  if (r == 0)
    r = put_bytes(b, &id, 8);
  if (r == 0)
    r = put_bytes(b, &nf, 4);
  for (size_t i = 0; r == 0 && i < l.n; i++) {
    uint16_t nl = (uint16_t)strlen(l.f[i].name);
    size_t at;
    uint32_t bl;
    r = put_bytes(b, &nl, 2);
    if (r == 0)
      r = put_bytes(b, l.f[i].name, nl);
    at = b->len;
    bl = 0;
    if (r == 0)
      r = put_bytes(b, &bl, 4);
    if (r == 0)
      r = labels_field_encode(&l.f[i], b);
    if (r == 0) {
      bl = (uint32_t)(b->len - at - 4);
      memcpy(b->data + at, &bl, 4);
    }
  }
  if (r == 0) {
    uint32_t n32 = (uint32_t)np;
    r = put_bytes(b, &n32, 4);
    if (r == 0 && np)
      r = put_bytes(b, p, np * sizeof(*p));
  }
  free(p);
  labels_free(&l);
  return r;
}

struct rd {
  const uint8_t *p, *end;
};

static int take(struct rd *d, void *out, size_t n)
{
  if ((size_t)(d->end - d->p) < n)
    return -EBADMSG;
  if (out)
    memcpy(out, d->p, n);
  d->p += n;
  return 0;
}

/* Reads one field of a sample's labels from the snapshot into l. */
static int restore_field(struct rd *d, struct labels *l)
{
  uint16_t nl;
  uint32_t bl;
  char name[LABELS_MAX_FIELD_NAME + 1];
  struct label_field *f;
  int r = take(d, &nl, 2);

  if (r == 0 && nl > LABELS_MAX_FIELD_NAME)
    r = -EBADMSG;
  if (r == 0)
    r = take(d, name, nl);
  if (r < 0)
    return r;
  name[nl] = 0;
  r = take(d, &bl, 4);
  if (r == 0 && (size_t)(d->end - d->p) < bl)
    r = -EBADMSG;
  if (r < 0)
    return r;
  f = labels_field(l, name, true);
  if (!f)
    return -ENOMEM;
  r = labels_field_decode(d->p, bl, f);
  d->p += bl;
  return r;
}

/* Restores one sample: its labels, then its identity map. */
static int restore_sample(struct store_txn *t, const char *run, struct rd *d)
{
  uint64_t id;
  uint32_t nf, np;
  struct labels l;
  int r;

  labels_init(&l);
  r = take(d, &id, 8);
  if (r == 0)
    r = take(d, &nf, 4);
  for (uint32_t k = 0; r == 0 && k < nf; k++)
    r = restore_field(d, &l);
  if (r == 0)
    r = take(d, &np, 4);
  if (r == 0 && (size_t)(d->end - d->p) / sizeof(struct cvat_pair) < np)
    r = -EBADMSG;
  if (r == 0) {
    struct cvat_pair *p = malloc((size_t)np * sizeof(*p) + 1);
    if (!p)
      r = -ENOMEM;
    if (r == 0) {
      memcpy(p, d->p, (size_t)np * sizeof(*p));
      d->p += (size_t)np * sizeof(*p);
      r = cvat_map_put(t, run, id, p, np);
    }
    free(p);
  }
  if (r == 0)
    r = store_labels_put(t, id, &l);
  labels_free(&l);
  return r;
}

/* Removes the classes the pull created, unless boxes use them again; their
 * ids go back too when nothing newer exists, so the schema is the one
 * before the pull, next id included. */
static int restore_classes(struct store_txn *t, struct rd *d)
{
  uint32_t nc, next;
  int r = take(d, &next, 4);

  if (r == 0)
    r = take(d, &nc, 4);
  for (uint32_t i = 0; r == 0 && i < nc; i++) {
    uint32_t cid;
    uint64_t boxes = 0;
    const char *name;
    char copy[LABELS_MAX_CLASS_NAME + 1];

    r = take(d, &cid, 4);
    if (r == 0 && store_class_name(t, cid, &name) == 0) {
      snprintf(copy, sizeof(copy), "%s", name);   /* borrowed */
      r = store_class_boxes(t, cid, &boxes);
      if (r == 0 && boxes == 0)
        r = store_class_delete(t, copy);
    }
  }
  if (r == 0 && nc && store_class_reset_next(t, next) == -EBUSY)
    r = 0;
  return r;
}

/* Restores every sample of a snapshot, then (CVU2) the classes. */
static int snap_restore(struct store_txn *t, const char *run, const void *v,
                        size_t n)
{
  struct rd d = { v, (const uint8_t *)v + n };
  uint32_t magic, ns;
  int r;

  r = take(&d, &magic, 4);
  if (r == 0 && magic != CVAT_UNDO_MAGIC && magic != CVAT_UNDO_MAGIC2)
    r = -EBADMSG;
  if (r == 0)
    r = take(&d, &ns, 4);
  for (uint32_t i = 0; r == 0 && i < ns; i++)
    r = restore_sample(t, run, &d);
  if (r == 0 && magic == CVAT_UNDO_MAGIC2)
    r = restore_classes(t, &d);
  return r;
}

size_t cvat_undo_key(uint8_t *k, const char *run, uint64_t seq)
{
  return cvat_map_key(k, run, seq);
}

struct last {
  uint64_t seq;
};

static int find_last(const void *key, size_t klen, const void *val,
                     size_t vlen, void *ud)
{
  struct last *l = ud;

  (void)val;
  (void)vlen;
  if (klen >= 8)
    l->seq = store_key_rd_u64((const uint8_t *)key + klen - 8);
  return 0;
}

int cvat_undo(struct store *s, const char *run, char *err, size_t errlen)
{
  struct store_txn *t;
  uint8_t k[CVAT_KEY_MAX];
  size_t kl = strlen(run) + 1;
  struct last last = { 0 };
  const void *v;
  size_t vn;
  json_t *o = NULL;
  int r;

  if (!cvat_run_name_valid(run))
    return errf(err, errlen, -ENOENT, "no run '%.80s'", run);
  r = store_txn_begin(s, true, &t);
  if (r < 0)
    return errf(err, errlen, r, "cannot open the store: %s", strerror(-r));
  r = cvat_run_load(t, run, &o);
  if (r == -ENOENT) {
    errf(err, errlen, r, "no run '%s'", run);
    goto fail;
  }
  memcpy(k, run, kl);
  if (r == 0)
    r = store_rec_each(t, CVAT_NS_UNDO, k, kl, false, find_last, &last);
  if (r == 0 && last.seq == 0) {
    r = errf(err, errlen, -ENOENT, "run '%s' has no pull to undo", run);
    goto fail;
  }
  kl = cvat_undo_key(k, run, last.seq);
  if (r == 0)
    r = store_rec_get(t, CVAT_NS_UNDO, k, kl, &v, &vn);
  if (r == 0) {
    /* v points into the map: copy before writing. */
    void *copy = malloc(vn + 1);
    if (!copy) {
      r = -ENOMEM;
    } else {
      memcpy(copy, v, vn);
      r = snap_restore(t, run, copy, vn);
      free(copy);
    }
  }
  if (r == 0)
    r = store_rec_del(t, CVAT_NS_UNDO, k, kl);
  if (r == 0) {
    cvat_jset(o, "undo", cvat_jint(o, "undo") > 0 ? cvat_jint(o, "undo") - 1 : 0);
    json_object_set_new(o, "last_pull", json_string("undone"));
    r = cvat_run_save(t, run, o);
  }
  json_decref(o);
  o = NULL;
  if (r < 0) {
    errf(err, errlen, r, "undo of run '%s' failed: %s; labels unchanged",
         run, strerror(-r));
    goto fail;
  }
  r = store_txn_commit(t);
  if (r < 0)
    return errf(err, errlen, r, "undo of run '%s' failed: %s", run,
                strerror(-r));
  return 0;
fail:
  json_decref(o);
  store_txn_abort(t);
  return r;
}

