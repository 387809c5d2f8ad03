/* store_check.c - the deep check and repair of a store (`curate check`,
 * store_check() in store.h, docs/STORE-FORMAT.md section 12), and the
 * per-record decode check the fuzzing harness uses (store_record_check()).
 *
 * It sits at the top of the store module (store_i.h): it decodes records
 * with the codecs of store_samples.c, store_tags.c, store_classes.c and
 * store_labels.c, and rewrites tables with LMDB directly.
 */
#include "store_i.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The deep check reads every table in one transaction.  Primary tables
 * (samples, tagids, tagmem, classids, labels, records, meta) are decoded
 * row by row; a row that does not decode or points at something that does
 * not exist is a problem of its own.  From the good primary rows it
 * computes what every derived table (names, paths, tags, sampletags,
 * classes, counts, and the member count inside each tag record) must hold
 * and compares it with what is stored.  With repair, the same pass runs in
 * a write transaction and rewrites each table that differs: primaries
 * without their bad rows, derived tables from the primaries.  A B-tree
 * LMDB itself reports as damaged cannot be trusted for an in-place
 * rewrite, so repair refuses then. */

struct kv {
  uint8_t *k, *v;
  size_t kl, vl;
};

struct kvvec {
  struct kv *a;
  size_t n, cap;
};

static int kv_add(struct kvvec *vv, const void *k, size_t kl, const void *v,
                  size_t vl)
{
  struct kv *e;

  if (vv->n == vv->cap) {
    size_t nc = vv->cap ? vv->cap * 2 : 256;
    struct kv *na = realloc(vv->a, nc * sizeof(*na));
    if (!na)
      return -ENOMEM;
    vv->a = na;
    vv->cap = nc;
  }
  e = &vv->a[vv->n];
  e->k = malloc(kl + vl + 1);
  if (!e->k)
    return -ENOMEM;
  memcpy(e->k, k, kl);
  if (vl)
    memcpy(e->k + kl, v, vl);
  e->v = e->k + kl;
  e->kl = kl;
  e->vl = vl;
  vv->n++;
  return 0;
}

static void kv_free(struct kvvec *vv)
{
  for (size_t i = 0; i < vv->n; i++)
    free(vv->a[i].k);
  free(vv->a);
  memset(vv, 0, sizeof(*vv));
}

/* LMDB's default key order: bytes, then the shorter key first. */
static int key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
  int c = memcmp(a, b, al < bl ? al : bl);
  return c ? c : (al < bl ? -1 : al > bl);
}

static int kv_cmp(const void *pa, const void *pb)
{
  const struct kv *a = pa, *b = pb;
  return key_cmp(a->k, a->kl, b->k, b->kl);
}

/* qsort and bsearch without their undefined case (a NULL base, even with
 * no elements). */
static void sort_n(void *a, size_t n, size_t size,
                   int (*cmp)(const void *, const void *))
{
  if (n > 1)
    qsort(a, n, size, cmp);
}

static void *find_n(const void *key, const void *a, size_t n, size_t size,
                    int (*cmp)(const void *, const void *))
{
  return n ? bsearch(key, a, n, size, cmp) : NULL;
}

static int u64_cmp(const void *pa, const void *pb)
{
  uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
  return a < b ? -1 : a > b;
}

struct named { uint64_t id; char *name; char *path; };

static int named_cmp(const void *pa, const void *pb)
{
  const struct named *a = pa, *b = pb;
  int o = strcmp(a->name, b->name);
  return o ? o : (a->id < b->id ? -1 : a->id > b->id);
}

struct chk_rows {
  struct named *a;
  size_t n, cap;
};

struct chk {
  struct chk_rows samples, tags; /* good records: id, name (path) */
  struct store_txn *t;
  void (*fn)(const char *msg, void *ud);
  void *ud;
  uint64_t problems;
  bool fatal;                   /* a B-tree LMDB calls damaged */
  bool stuck;                   /* damage repair cannot decide about */
  bool rewrite[DB_MAX];         /* table differs from what it must hold */
  struct kvvec want[DB_MAX];    /* what each table must hold */
  uint64_t *sids, *tids, *cids; /* good ids, sorted */
  size_t nsids, ntids, ncids;
  uint64_t max_label;
  unsigned reported[DB_MAX];
};

static void __attribute__((format(printf, 3, 4)))
chk_say(struct chk *c, int db, const char *fmt, ...)
{
  char msg[700];
  int n;
  va_list ap;

  c->problems++;
  if (db >= 0 && ++c->reported[db] > 20) {
    if (c->reported[db] == 21 && c->fn)
      c->fn("(further problems of this table not listed)", c->ud);
    return;
  }
  n = snprintf(msg, sizeof(msg), "%s: ",
               db >= 0 ? store_db_names[db] : "store");
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
  va_end(ap);
  if (c->fn)
    c->fn(msg, c->ud);
}

static bool has_id(const uint64_t *a, size_t n, uint64_t id)
{
  return find_n(&id, a, n, sizeof(*a), u64_cmp) != NULL;
}

/* Appends to an array whose capacity is the next power of two. */
static int ids_add(uint64_t **a, size_t *n, uint64_t id)
{
  if ((*n & (*n - 1)) == 0) {
    uint64_t *na = realloc(*a, (*n ? *n * 2 : 1) * sizeof(**a));
    if (!na)
      return -ENOMEM;
    *a = na;
  }
  (*a)[(*n)++] = id;
  return 0;
}

/* Whether a row's key and value fit in the data file's used pages: a
 * damaged node can claim a value of gigabytes, which would be copied (and
 * read past the end of the file).  LMDB does not say where its map is, so
 * the sizes are what is compared. */
static bool row_fits_file(const struct chk *c, const MDB_val *k,
                          const MDB_val *v)
{
  MDB_envinfo info;
  MDB_stat st;
  size_t used;

  if (mdb_env_info(c->t->s->env, &info) != 0 ||
      mdb_env_stat(c->t->s->env, &st) != 0)
    return true;                 /* no bound to compare with */
  used = (size_t)(info.me_last_pgno + 1) * st.ms_psize;
  return k->mv_size <= used && v->mv_size <= used - k->mv_size;
}

/* Walks a table, calling fn on each row; fn returns 1 to keep the row in
 * want[db] as it is, 0 to drop it (it reported why), or -errno.  LMDB
 * errors mark the check fatal. */
static int chk_walk(struct chk *c, int db,
                    int (*fn)(struct chk *, const MDB_val *, const MDB_val *))
{
  struct store_cursor cur;
  MDB_stat st;
  uint64_t rows = 0;
  int rc, r = 0;

  /* A cursor that does not open leaves its code in cur.rc: damage. */
  store_cursor_open(c->t, db, NULL, 0, 0, &cur);
  for (; store_cursor_row(&cur); store_cursor_next(&cur)) {
    rows++;
    if (!row_fits_file(c, &cur.k, &cur.v)) {
      chk_say(c, db, "a record reaches past the end of the data file");
      c->fatal = true;
      store_cursor_close(&cur);
      return 0;
    }
    r = fn ? fn(c, &cur.k, &cur.v) : 1;
    if (r < 0)
      break;
    if (r == 1 && (r = kv_add(&c->want[db], cur.k.mv_data, cur.k.mv_size,
                              cur.v.mv_data, cur.v.mv_size)) < 0)
      break;
    r = 0;
  }
  rc = cur.rc;
  store_cursor_close(&cur);
  if (r < 0)
    return r;
  if (rc != MDB_NOTFOUND) {
    chk_say(c, db, "the table's B-tree is damaged: %s", mdb_strerror(rc));
    c->fatal = true;
    return 0;
  }
  if (mdb_stat(c->t->txn, c->t->s->dbi[db], &st) == 0 &&
      st.ms_entries != rows) {
    chk_say(c, db, "LMDB counts %zu entries, the table holds %llu",
            st.ms_entries, (unsigned long long)rows);
    c->rewrite[db] = true;
  }
  if (c->want[db].n != rows)
    c->rewrite[db] = true;
  return 0;
}

/* Compares a table with want[db] (sorted here); differences are reported
 * once per table with the first differing key's position. */
static int chk_compare(struct chk *c, int db, const char *from)
{
  struct kvvec *w = &c->want[db];
  struct store_cursor cur;
  size_t i = 0, diff = 0, extra = 0;
  int rc;

  sort_n(w->a, w->n, sizeof(*w->a), kv_cmp);
  for (size_t j = 1; j < w->n; j++)
    if (kv_cmp(&w->a[j - 1], &w->a[j]) == 0) {
      chk_say(c, db, "two records want the same key; repair cannot choose "
              "between them");
      c->stuck = true;
      return 0;
    }
  store_cursor_open(c->t, db, NULL, 0, 0, &cur);
  for (; store_cursor_row(&cur); store_cursor_next(&cur)) {
    const MDB_val *k = &cur.k, *v = &cur.v;
    int o = i < w->n ? key_cmp(k->mv_data, k->mv_size, w->a[i].k, w->a[i].kl)
                     : -1;
    if (o < 0) {
      extra++;
      continue;
    }
    while (o > 0) {  /* wanted rows missing from the table */
      diff++;
      if (++i >= w->n)
        break;
      o = key_cmp(k->mv_data, k->mv_size, w->a[i].k, w->a[i].kl);
    }
    if (o < 0) {
      extra++;
      continue;
    }
    if (o == 0) {
      if (v->mv_size != w->a[i].vl ||
          (v->mv_size && memcmp(v->mv_data, w->a[i].v, v->mv_size) != 0))
        diff++;
      i++;
    }
  }
  rc = cur.rc;
  store_cursor_close(&cur);
  if (rc != MDB_NOTFOUND) {
    chk_say(c, db, "the table's B-tree is damaged: %s", mdb_strerror(rc));
    c->fatal = true;
    return 0;
  }
  diff += w->n - i;
  if (diff || extra) {
    chk_say(c, db, "%zu entries missing or different and %zu unexpected, "
            "compared with %s", diff, extra, from);
    c->rewrite[db] = true;
  }
  return 0;
}

static int hex_key(const MDB_val *k, char *out, size_t n)
{
  size_t j = 0;
  for (size_t i = 0; i < k->mv_size && j + 3 < n; i++)
    j += (size_t)snprintf(out + j, n - j, "%02x",
                          ((const uint8_t *)k->mv_data)[i]);
  out[j] = '\0';
  return 0;
}

static int row_meta(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  static const char *const u64keys[] = {
    "schema", "version", "next:sample", "next:tag", "next:class",
    "next:label",
  };
  for (size_t i = 0; i < sizeof(u64keys) / sizeof(*u64keys); i++)
    if (k->mv_size == strlen(u64keys[i]) &&
        memcmp(k->mv_data, u64keys[i], k->mv_size) == 0 && v->mv_size != 8) {
      chk_say(c, DB_META, "'%s' holds %zu bytes, not 8", u64keys[i],
              v->mv_size);
      return 0;
    }
  return 1;
}

static int named_add(struct chk_rows *rows, uint64_t id, const char *name,
                     const char *path)
{
  if (rows->n == rows->cap) {
    size_t nc = rows->cap ? rows->cap * 2 : 64;
    struct named *na = realloc(rows->a, nc * sizeof(*na));
    if (!na)
      return -ENOMEM;
    rows->a = na;
    rows->cap = nc;
  }
  rows->a[rows->n].id = id;
  rows->a[rows->n].name = strdup(name);
  rows->a[rows->n].path = path ? strdup(path) : NULL;
  if (!rows->a[rows->n].name || (path && !rows->a[rows->n].path))
    return -ENOMEM;
  rows->n++;
  return 0;
}

static void named_free(struct chk_rows *rows)
{
  for (size_t i = 0; i < rows->n; i++) {
    free(rows->a[i].name);
    free(rows->a[i].path);
  }
  free(rows->a);
  memset(rows, 0, sizeof(*rows));
}

static int row_sample(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  struct sample s;
  char hex[40];

  if (store_sample_decode(k, v, &s) < 0) {
    hex_key(k, hex, sizeof(hex));
    chk_say(c, DB_SAMPLES, "the record under key %s does not decode", hex);
    return 0;
  }
  return named_add(&c->samples, s.id, s.name, s.relpath) < 0 ? -ENOMEM : 1;
}

static int row_tag(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  const char *name;
  uint64_t id;

  if (k->mv_size != 8 || store_tag_decode(v, &name, NULL, NULL) < 0 ||
      !store_tag_name_valid(name) || (id = rd_be64(k->mv_data)) == 0 ||
      id > 0xffff) {
    char hex[40];
    hex_key(k, hex, sizeof(hex));
    chk_say(c, DB_TAGIDS, "the tag record under key %s does not decode", hex);
    return 0;
  }
  return named_add(&c->tags, id, name, NULL) < 0 ? -ENOMEM : 1;
}

static int row_tagmem(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  uint64_t tid, sid;

  if (k->mv_size != 16 || v->mv_size != 0) {
    chk_say(c, DB_TAGMEM, "a membership key of %zu bytes (value %zu bytes)",
            k->mv_size, v->mv_size);
    return 0;
  }
  tid = rd_be64(k->mv_data);
  sid = rd_be64((const uint8_t *)k->mv_data + 8);
  if (!has_id(c->tids, c->ntids, tid) || !has_id(c->sids, c->nsids, sid)) {
    chk_say(c, DB_TAGMEM, "tag %llu member %llu: %s",
            (unsigned long long)tid, (unsigned long long)sid,
            has_id(c->tids, c->ntids, tid) ? "no such sample" : "no such tag");
    return 0;
  }
  return 1;
}

static int row_classid(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  if (!store_classid_ok(k, v)) {
    char hex[40];
    hex_key(k, hex, sizeof(hex));
    chk_say(c, DB_CLASSIDS, "the class under key %s does not decode", hex);
    return 0;
  }
  return ids_add(&c->cids, &c->ncids, rd_be32(k->mv_data)) < 0 ? -ENOMEM
                                                               : 1;
}

static int row_label(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  struct label_field f = { 0 };
  char field[LABELS_MAX_FIELD_NAME + 1];
  size_t fl = k->mv_size > 8 ? k->mv_size - 8 : 0;
  uint64_t sid = k->mv_size >= 8 ? rd_be64(k->mv_data) : 0;
  const char *why = NULL;
  int r = 0;

  if (fl == 0 || fl > LABELS_MAX_FIELD_NAME) {
    why = "bad key";
  } else {
    memcpy(field, (const char *)k->mv_data + 8, fl);
    field[fl] = '\0';
    if (memchr(field, 0, fl) || !labels_field_name_valid(field))
      why = "bad field name";
    else if (!has_id(c->sids, c->nsids, sid))
      why = "no such sample";
    else if ((r = labels_field_decode(v->mv_data, v->mv_size, &f)) < 0)
      why = r == -ENOMEM ? NULL : "the record does not decode";
    else if (f.n == 0)
      why = "an empty field is never stored";
  }
  for (size_t i = 0; !why && r == 0 && i < f.n; i++)
    if (!has_id(c->cids, c->ncids, f.d[i].class_id))
      why = "a box of an unknown class";
  for (size_t i = 0; !why && r == 0 && i < f.n; i++) {
    uint8_t key[LABELS_MAX_FIELD_NAME + 8];
    uint64_t one = 1;
    int kl = store_count_key(field, f.d[i].class_id, key);
    if (f.d[i].id > c->max_label)
      c->max_label = f.d[i].id;
    r = kl < 0 ? kl : kv_add(&c->want[DB_COUNTS], key, (size_t)kl, &one, 8);
  }
  labels_field_clear(&f);
  if (r == -ENOMEM)
    return r;
  if (why) {
    chk_say(c, DB_LABELS, "sample %llu field '%s': %s",
            (unsigned long long)sid, fl && fl <= LABELS_MAX_FIELD_NAME
                                         ? field : "?", why);
    return 0;
  }
  return 1;
}

static int row_record(struct chk *c, const MDB_val *k, const MDB_val *v)
{
  (void)v;
  if (k->mv_size < 2 || !memchr(k->mv_data, 0, k->mv_size) ||
      ((const char *)k->mv_data)[0] == '\0') {
    chk_say(c, DB_RECORDS, "a key of %zu bytes without a namespace",
            k->mv_size);
    return 0;
  }
  return 1;
}

/* Drops duplicate names (the lower id keeps it) from rows sorted by name,
 * and sorts the good ids into *ids. */
static int dedupe(struct chk *c, int db, struct chk_rows *rows,
                  uint64_t **ids, size_t *nids)
{
  size_t j = 0;

  sort_n(rows->a, rows->n, sizeof(*rows->a), named_cmp);
  for (size_t i = 0; i < rows->n; i++) {
    if (j && strcmp(rows->a[j - 1].name, rows->a[i].name) == 0) {
      chk_say(c, db, "%llu has the name '%s' of %llu; dropped",
              (unsigned long long)rows->a[i].id, rows->a[i].name,
              (unsigned long long)rows->a[j - 1].id);
      free(rows->a[i].name);
      free(rows->a[i].path);
      continue;
    }
    rows->a[j++] = rows->a[i];
  }
  rows->n = j;
  for (size_t i = 0; i < rows->n; i++)
    if (ids_add(ids, nids, rows->a[i].id) < 0)
      return -ENOMEM;
  sort_n(*ids, *nids, sizeof(**ids), u64_cmp);
  return 0;
}

/* Keeps only the rows of want[db] whose 8-byte key prefix is in ids. */
static void keep_ids(struct kvvec *w, const uint64_t *ids, size_t n)
{
  size_t j = 0;
  for (size_t i = 0; i < w->n; i++) {
    if (w->a[i].kl >= 8 && has_id(ids, n, rd_be64(w->a[i].k)))
      w->a[j++] = w->a[i];
    else
      free(w->a[i].k);
  }
  w->n = j;
}

static int chk_counter(struct chk *c, const char *key, uint64_t need)
{
  uint64_t v = 0;
  struct kvvec *w = &c->want[DB_META];
  size_t kl = strlen(key);
  size_t i;

  for (i = 0; i < w->n; i++)
    if (w->a[i].kl == kl && memcmp(w->a[i].k, key, kl) == 0)
      break;
  if (i < w->n)
    memcpy(&v, w->a[i].v, 8);
  if (v ? v >= need : need <= 1)
    return 0;
  chk_say(c, DB_META, "'%s' is %llu but ids up to %llu are in use", key,
          (unsigned long long)v, (unsigned long long)(need - 1));
  if (i < w->n) {
    memcpy(w->a[i].v, &need, 8);
    return 0;
  }
  return kv_add(w, key, kl, &need, 8);
}

/* Step 1: the primary tables, row by row.  Records with a duplicate name
 * go, and so does anything pointing at them. */
static int chk_primaries(struct chk *c)
{
  int r;

  if ((r = chk_walk(c, DB_META, row_meta)) < 0 ||
      (r = chk_walk(c, DB_SAMPLES, row_sample)) < 0 ||
      (r = chk_walk(c, DB_TAGIDS, row_tag)) < 0 ||
      (r = chk_walk(c, DB_CLASSIDS, row_classid)) < 0)
    return r;
  if (c->fatal)
    return 0;
  if ((r = dedupe(c, DB_SAMPLES, &c->samples, &c->sids, &c->nsids)) < 0 ||
      (r = dedupe(c, DB_TAGIDS, &c->tags, &c->tids, &c->ntids)) < 0)
    return r;
  sort_n(c->cids, c->ncids, sizeof(*c->cids), u64_cmp);
  keep_ids(&c->want[DB_SAMPLES], c->sids, c->nsids);
  keep_ids(&c->want[DB_TAGIDS], c->tids, c->ntids);
  if ((r = chk_walk(c, DB_TAGMEM, row_tagmem)) < 0 ||
      (r = chk_walk(c, DB_LABELS, row_label)) < 0 ||
      (r = chk_walk(c, DB_RECORDS, row_record)) < 0)
    return r;
  return 0;
}

/* Step 2: names, paths, tags and sampletags from the good primaries. */
static int chk_derive_indexes(struct chk *c)
{
  int r;

  for (size_t i = 0; i < c->samples.n; i++) {
    uint8_t id[8];
    be64(id, c->samples.a[i].id);
    if ((r = kv_add(&c->want[DB_NAMES], c->samples.a[i].name,
                    strlen(c->samples.a[i].name), id, 8)) < 0)
      return r;
    if ((r = kv_add(&c->want[DB_PATHS], c->samples.a[i].path,
                    strlen(c->samples.a[i].path), id, 8)) < 0)
      return r;
  }
  for (size_t i = 0; i < c->tags.n; i++) {
    uint8_t id[8];
    be64(id, c->tags.a[i].id);
    if ((r = kv_add(&c->want[DB_TAGS], c->tags.a[i].name,
                    strlen(c->tags.a[i].name), id, 8)) < 0)
      return r;
  }
  for (size_t i = 0; i < c->want[DB_TAGMEM].n; i++) {
    const uint8_t *k = c->want[DB_TAGMEM].a[i].k;
    uint8_t sk[16];
    memcpy(sk, k + 8, 8);
    memcpy(sk + 8, k, 8);
    if ((r = kv_add(&c->want[DB_SAMPLETAGS], sk, 16, "", 0)) < 0)
      return r;
  }
  return 0;
}

/* Step 3: the member count inside each tag record. */
static int chk_tag_counts(struct chk *c)
{
  struct kvvec *tg = &c->want[DB_TAGIDS];
  uint64_t *n = calloc(tg->n + 1, sizeof(*n));

  if (!n)
    return -ENOMEM;
  sort_n(tg->a, tg->n, sizeof(*tg->a), kv_cmp);
  for (size_t j = 0; j < c->want[DB_TAGMEM].n; j++) {
    struct kv key = { .k = c->want[DB_TAGMEM].a[j].k, .kl = 8 };
    struct kv *e = find_n(&key, tg->a, tg->n, sizeof(*tg->a), kv_cmp);
    if (e)
      n[e - tg->a]++;
  }
  for (size_t i = 0; i < tg->n; i++) {
    struct kv *e = &tg->a[i];
    uint64_t had;
    memcpy(&had, e->v, 8);
    if (had == n[i])
      continue;
    chk_say(c, DB_TAGIDS, "tag %llu counts %llu members, it has %llu",
            (unsigned long long)rd_be64(e->k), (unsigned long long)had,
            (unsigned long long)n[i]);
    memcpy(e->v, &n[i], 8);
    c->rewrite[DB_TAGIDS] = true;
  }
  free(n);
  return 0;
}

/* Step 4: `classes` from `classids`, and the box counts (one row per box
 * so far) merged by key. */
static int chk_derive_classes(struct chk *c)
{
  struct kvvec *w = &c->want[DB_COUNTS];
  size_t j = 0;
  int r;

  for (size_t i = 0; i < c->want[DB_CLASSIDS].n; i++) {
    struct kv *e = &c->want[DB_CLASSIDS].a[i];
    uint32_t id = rd_be32(e->k);
    if ((r = kv_add(&c->want[DB_CLASSES], e->v, strlen((char *)e->v), &id,
                    4)) < 0)
      return r;
  }
  sort_n(w->a, w->n, sizeof(*w->a), kv_cmp);
  for (size_t i = 0; i < w->n; i++) {
    if (j && kv_cmp(&w->a[j - 1], &w->a[i]) == 0) {
      uint64_t a, b;
      memcpy(&a, w->a[j - 1].v, 8);
      memcpy(&b, w->a[i].v, 8);
      a += b;
      memcpy(w->a[j - 1].v, &a, 8);
      free(w->a[i].k);
      continue;
    }
    w->a[j++] = w->a[i];
  }
  w->n = j;
  return 0;
}

/* Two class ids with one name cannot both be looked up by name: repair
 * cannot choose, the check is stuck. */
static bool chk_class_names_clash(struct chk *c)
{
  struct kvvec *w = &c->want[DB_CLASSES];

  if (!c->ncids || !w->n)
    return false;
  sort_n(w->a, w->n, sizeof(struct kv), kv_cmp);
  for (size_t i = 1; i < w->n; i++)
    if (kv_cmp(&w->a[i - 1], &w->a[i]) == 0) {
      chk_say(c, DB_CLASSIDS, "two class ids share one name; repair "
              "cannot choose between them");
      c->stuck = true;
      return true;
    }
  return false;
}

/* Step 5: each derived table against what it must hold; the primaries'
 * wanted rows sorted for a rewrite. */
static int chk_compare_derived(struct chk *c)
{
  int r;

  if ((r = chk_compare(c, DB_NAMES, "the sample records")) < 0 ||
      (r = chk_compare(c, DB_PATHS, "the sample records")) < 0 ||
      (r = chk_compare(c, DB_TAGS, "the tag records")) < 0 ||
      (r = chk_compare(c, DB_SAMPLETAGS, "the tag members")) < 0 ||
      (r = chk_compare(c, DB_CLASSES, "the class records")) < 0 ||
      (r = chk_compare(c, DB_COUNTS, "the label records")) < 0)
    return r;
  for (int db = 0; db < DB_MAX; db++)
    if (c->want[db].n > 1 && db != DB_NAMES && db != DB_PATHS &&
        db != DB_TAGS && db != DB_SAMPLETAGS && db != DB_CLASSES &&
        db != DB_COUNTS)
      sort_n(c->want[db].a, c->want[db].n, sizeof(struct kv), kv_cmp);
  return 0;
}

static uint64_t max_id(const uint64_t *ids, size_t n)
{
  uint64_t m = 0;

  for (size_t i = 0; i < n; i++)
    m = ids[i] > m ? ids[i] : m;
  return m;
}

/* Step 6: every id counter past the ids in use. */
static int chk_counters(struct chk *c)
{
  uint64_t before = c->problems;
  uint64_t maxs = max_id(c->sids, c->nsids), maxt = max_id(c->tids, c->ntids);
  uint64_t maxc = max_id(c->cids, c->ncids);
  int r;

  if ((r = chk_counter(c, "next:sample", maxs + 1)) < 0 ||
      (r = chk_counter(c, "next:tag", maxt + 1)) < 0 ||
      (r = chk_counter(c, "next:class", maxc + 1)) < 0 ||
      (r = chk_counter(c, "next:label", c->max_label + 1)) < 0)
    return r;
  if (c->problems != before) {
    c->rewrite[DB_META] = true;
    sort_n(c->want[DB_META].a, c->want[DB_META].n, sizeof(struct kv),
           kv_cmp);
  }
  return 0;
}

/* The whole check, step by step; stops early (returning 0) once LMDB
 * reports a damaged B-tree or repair is stuck. */
static int chk_run(struct chk *c)
{
  int r;

  if ((r = chk_primaries(c)) < 0 || c->fatal)
    return r;
  if ((r = chk_derive_indexes(c)) < 0 || (r = chk_tag_counts(c)) < 0 ||
      (r = chk_derive_classes(c)) < 0)
    return r;
  if (chk_class_names_clash(c))
    return 0;
  if ((r = chk_compare_derived(c)) < 0)
    return r;
  return chk_counters(c);
}

static int chk_rewrite(struct chk *c)
{
  assert(c->t->write);
  for (int db = 0; db < DB_MAX; db++) {
    MDB_dbi dbi = c->t->s->dbi[db];
    int rc;

    if (!c->rewrite[db])
      continue;
    rc = mdb_drop(c->t->txn, dbi, 0);
    for (size_t i = 0; rc == 0 && i < c->want[db].n; i++) {
      MDB_val k = { c->want[db].a[i].kl, c->want[db].a[i].k };
      MDB_val v = { c->want[db].a[i].vl, c->want[db].a[i].v };
      rc = mdb_put(c->t->txn, dbi, &k, &v, MDB_APPEND);
    }
    if (rc)
      return store_txn_fail(c->t, store_errno(rc));
    c->t->dirty = true;
  }
  return 0;
}

int store_record_check(const char *table, const void *key, size_t klen,
                       const void *val, size_t vlen)
{
  MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };

  if (strcmp(table, "samples") == 0) {
    struct sample smp;
    return store_sample_decode(&k, &v, &smp) < 0 ? -EIO : 0;
  }
  if (strcmp(table, "tagids") == 0) {
    const char *name;
    if (klen != 8 || store_tag_decode(&v, &name, NULL, NULL) < 0 ||
        !store_tag_name_valid(name))
      return -EIO;
    return 0;
  }
  if (strcmp(table, "labels") == 0) {
    struct label_field f = { 0 };
    int r = labels_field_decode(val, vlen, &f);
    labels_field_clear(&f);
    return r == -EBADMSG ? -EIO : r;
  }
  if (strcmp(table, "classids") == 0)
    return store_classid_ok(&k, &v) ? 0 : -EIO;
  return -EINVAL;
}

int store_check(struct store *s, bool repair,
                void (*fn)(const char *msg, void *ud), void *ud,
                uint64_t *ret_problems)
{
  struct chk c = { .fn = fn, .ud = ud };
  int r;

  r = store_txn_begin(s, repair, &c.t);
  if (r < 0)
    return r;
  r = chk_run(&c);
  if (r == 0 && repair && c.problems && !c.fatal && !c.stuck)
    r = chk_rewrite(&c);
  if (r == 0 && repair && c.problems && !c.fatal && !c.stuck)
    r = store_txn_commit(c.t);
  else
    store_txn_abort(c.t);
  for (int db = 0; db < DB_MAX; db++)
    kv_free(&c.want[db]);
  named_free(&c.samples);
  named_free(&c.tags);
  free(c.sids);
  free(c.tids);
  free(c.cids);
  if (r == 0 && c.fatal)
    r = -EIO;
  else if (r == 0 && c.stuck && repair)
    r = -ENOTRECOVERABLE;
  *ret_problems = c.problems;
  return r;
}
