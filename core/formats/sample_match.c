/* sample_match.c - which sample a name refers to (sample_match.h): an
 * index of every sample's source path, built once per import from the
 * store, then looked up per name by binary search over sorted keys.  The
 * tail rule searches the paths reversed, where "ends with these
 * components" becomes "starts with them", a range of one sorted table.
 * Rule 5 runs the same searches over a second set of tables, sorted by
 * the keys with ASCII letters folded to lower case: the keys themselves
 * are not copied, only compared so. */
#include "sample_match.h"
#include "imgfmt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct smatch_key {
  const char *key;  /* points into a sample's rel or rrel */
  size_t len;
  size_t ref;       /* index into refs; AMBIG when several share the key */
};

struct smatch_num {
  uint64_t num;
  size_t ref;
};

/* The tables of rules 1 to 4; those of rule 5 are the same ones at
 * k + K_N, sorted ignoring letter case, and the sample names. */
enum { K_REL, K_BASE, K_RELSTEM, K_BASESTEM, K_RREL, K_RSTEM, K_N,
       K_NAME = 2 * K_N };
_Static_assert(K_NAME + 1 == SMATCH_TABLES, "sample_match.h's tables");

/* What a rule found, where it is not an index into refs. */
#define AMBIG SIZE_MAX        /* several samples */
#define NONE (SIZE_MAX - 1)   /* none: the next rule decides */

static const char *base_of(const char *p, size_t len)
{
  const char *b = p;

  for (size_t i = 0; i < len; i++)
    if (p[i] == '/')
      b = p + i + 1;
  return b;
}

/* Length of the extension of p (from its last component's last '.',
 * which is not its first character), 0 when none. */
static size_t ext_len(const char *p)
{
  size_t len = strlen(p);
  const char *b = base_of(p, len), *dot = strrchr(b, '.');

  return dot && dot != b ? (size_t)(p + len - dot) : 0;
}

static int cmp_key(const void *a, const void *b)
{
  const struct smatch_key *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int r = memcmp(x->key, y->key, n);

  if (r)
    return r;
  return x->len < y->len ? -1 : x->len > y->len;
}

/* An ASCII letter in lower case; any other byte as it is (no locale: a
 * name's bytes are not read in any). */
static unsigned char fold(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* cmp_key() ignoring letter case, for rule 5.  The prefix ranges of rule
 * 2 stay ranges: '/' and the byte after it are no letters. */
static int cmp_key_fold(const void *a, const void *b)
{
  const struct smatch_key *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;

  for (size_t i = 0; i < n; i++) {
    unsigned char c = fold((unsigned char)x->key[i]),
                  d = fold((unsigned char)y->key[i]);
    if (c != d)
      return c < d ? -1 : 1;
  }
  return x->len < y->len ? -1 : x->len > y->len;
}

/* How table tab is sorted. */
static int (*cmp_of(int tab))(const void *, const void *)
{
  return tab >= K_N ? cmp_key_fold : cmp_key;
}

static int cmp_num(const void *a, const void *b)
{
  const struct smatch_num *x = a, *y = b;

  return x->num < y->num ? -1 : x->num > y->num;
}

/* Sorts table tab and marks keys that several samples share. */
static void finish_keys(struct smatch *m, int tab)
{
  struct smatch_key *k = m->keys[tab];
  int (*cmp)(const void *, const void *) = cmp_of(tab);

  qsort(k, m->n, sizeof(*k), cmp);
  for (size_t i = 0; i + 1 < m->n; i++)
    if (cmp(&k[i], &k[i + 1]) == 0)
      k[i].ref = k[i + 1].ref = AMBIG;
}

static size_t find_key(const struct smatch *m, int tab, const char *key,
                       size_t len)
{
  struct smatch_key q = { key, len, 0 };
  const struct smatch_key *hit =
      bsearch(&q, m->keys[tab], m->n, sizeof(q), cmp_of(tab));

  return hit ? hit->ref : NONE;
}

/* The first key of table tab not below key[0..len). */
static size_t lower_bound(const struct smatch *m, int tab, const char *key,
                          size_t len)
{
  struct smatch_key q = { key, len, 0 };
  int (*cmp)(const void *, const void *) = cmp_of(tab);
  size_t lo = 0, hi = m->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cmp(&m->keys[tab][mid], &q) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void smatch_init(struct smatch *m, struct store_txn *t)
{
  memset(m, 0, sizeof(*m));
  m->t = t;
}

void smatch_free(struct smatch *m)
{
  for (size_t i = 0; i < m->n; i++) {
    free(m->refs[i].rel);
    free(m->refs[i].rrel);
    free(m->refs[i].name);
  }
  free(m->refs);
  for (int k = 0; k < SMATCH_TABLES; k++)
    free(m->keys[k]);
  free(m->by_num);
  free(m->root[0]);
  free(m->root[1]);
  smatch_init(m, m->t);
}

static int read_samples(struct smatch *m)
{
  struct store_iter *it = NULL;
  struct sample s;
  size_t cap = 0;
  uint64_t next = 1;
  int r = store_iter_new(m->t, &it);

  while (r == 0 && (r = store_iter_samples(it, next, &s)) == 0) {
    next = s.id + 1;
    if (m->n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      struct smatch_sample *p = realloc(m->refs, nc * sizeof(*p));
      if (!p) {
        r = -ENOMEM;
        break;
      }
      m->refs = p;
      cap = nc;
    }
    m->refs[m->n] = (struct smatch_sample){
      s.id, s.width, s.height, s.orientation, (uint8_t)s.format,
      (s.flags & SAMPLE_MISSING) != 0, strdup(s.relpath), NULL, NULL };
    if (strchr(s.relpath, '\\'))
      m->backslash_names = true;
    if (!m->refs[m->n++].rel) {
      r = -ENOMEM;
      break;
    }
  }
  store_iter_free(it);
  return r == -ENOENT ? 0 : r;
}

/* The number a file name stem is, if it is one (1 to 19 digits). */
static bool stem_number(const char *b, size_t len, uint64_t *ret)
{
  uint64_t v = 0;

  if (len == 0 || len > 19)
    return false;
  for (size_t k = 0; k < len; k++) {
    if (!isdigit((unsigned char)b[k]))
      return false;
    v = v * 10 + (uint64_t)(b[k] - '0');
  }
  *ret = v;
  return true;
}

/* The keys of sample i in each table of rules 1 to 4 (the reversed ones
 * once its rrel is there). */
static void rel_keys(const struct smatch *m, size_t i,
                     struct smatch_key out[K_N])
{
  const char *rel = m->refs[i].rel, *rev = m->refs[i].rrel;
  size_t len = strlen(rel), el = ext_len(rel);
  const char *b = base_of(rel, len);
  size_t bl = len - (size_t)(b - rel);

  out[K_REL] = (struct smatch_key){ rel, len, i };
  out[K_BASE] = (struct smatch_key){ b, bl, i };
  out[K_RELSTEM] = (struct smatch_key){ rel, len - el, i };
  out[K_BASESTEM] = (struct smatch_key){ b, bl - el, i };
  out[K_RREL] = (struct smatch_key){ rev, rev ? len : 0, i };
  out[K_RSTEM] = (struct smatch_key){ rev ? rev + el : NULL,
                                      rev ? len - el : 0, i };
}

/* Allocates tables from..to-1 for m->n keys (one at least). */
static int alloc_tables(struct smatch *m, int from, int to)
{
  size_t n = m->n ? m->n : 1;

  for (int k = from; k < to; k++)
    if (!(m->keys[k] = malloc(n * sizeof(struct smatch_key))))
      return -ENOMEM;
  return 0;
}

static int build(struct smatch *m)
{
  int r;

  if ((r = read_samples(m)) < 0 || (r = alloc_tables(m, 0, K_RREL)) < 0)
    return r;
  if (!(m->by_num = malloc((m->n ? m->n : 1) * sizeof(struct smatch_num))))
    return -ENOMEM;
  for (size_t i = 0; i < m->n; i++) {
    struct smatch_key k[K_N];
    uint64_t v;
    rel_keys(m, i, k);
    for (int t = 0; t < K_RREL; t++)
      m->keys[t][i] = k[t];
    if (stem_number(k[K_BASESTEM].key, k[K_BASESTEM].len, &v))
      m->by_num[m->n_num++] = (struct smatch_num){ v, i };
  }
  for (int k = 0; k < K_RREL; k++)
    finish_keys(m, k);
  qsort(m->by_num, m->n_num, sizeof(*m->by_num), cmp_num);
  for (size_t i = 0; i + 1 < m->n_num; i++)
    if (m->by_num[i].num == m->by_num[i + 1].num)
      m->by_num[i].ref = m->by_num[i + 1].ref = AMBIG;
  return 0;
}

int smatch_build(struct smatch *m)
{
  int r;

  if (m->built)
    return 0;
  if ((r = build(m)) < 0) {
    smatch_free(m);   /* a later call starts again */
    return r;
  }
  m->built = true;
  return 0;
}

/* build_tails() without its clean-up. */
static int build_tails_in(struct smatch *m)
{
  int r = alloc_tables(m, K_RREL, K_N);

  for (size_t i = 0; r == 0 && i < m->n; i++) {
    const char *rel = m->refs[i].rel;
    size_t len = strlen(rel);
    char *rev = malloc(len + 1);
    struct smatch_key k[K_N];
    if (!rev)
      return -ENOMEM;
    for (size_t j = 0; j < len; j++)
      rev[j] = rel[len - 1 - j];
    rev[len] = '\0';
    m->refs[i].rrel = rev;
    rel_keys(m, i, k);
    m->keys[K_RREL][i] = k[K_RREL];
    m->keys[K_RSTEM][i] = k[K_RSTEM];
  }
  for (int k = K_RREL; r == 0 && k < K_N; k++)
    finish_keys(m, k);
  return r;
}

/* After a failed build: frees tables from..to-1, the reversed ones
 * (K_RREL) or rule 5's, and the copies only they point into (each
 * sample's rrel, or its name). */
static void undo_tables(struct smatch *m, int from, int to)
{
  for (size_t i = 0; i < m->n; i++) {
    char **s = from == K_RREL ? &m->refs[i].rrel : &m->refs[i].name;
    free(*s);
    *s = NULL;
  }
  for (int k = from; k < to; k++) {
    free(m->keys[k]);
    m->keys[k] = NULL;
  }
}

/* Tables from..to-1, filled by fill, unless *built already: on failure
 * the rest of the index stays as it was. */
static int build_late(struct smatch *m, int from, int to,
                      int (*fill)(struct smatch *m), bool *built)
{
  int r;

  if (*built)
    return 0;
  if ((r = fill(m)) < 0)
    undo_tables(m, from, to);
  else
    *built = true;
  return r;
}

/* The reversed paths of rule 2, built when a name first gets there (a
 * file whose names are all source paths never needs them). */
static int build_tails(struct smatch *m)
{
  return build_late(m, K_RREL, K_N, build_tails_in, &m->tails_built);
}

/* build_fold() without its clean-up. */
static int build_fold_in(struct smatch *m)
{
  int r;

  if ((r = build_tails(m)) < 0 ||
      (r = alloc_tables(m, K_N, SMATCH_TABLES)) < 0)
    return r;
  for (size_t i = 0; i < m->n; i++) {
    struct smatch_key k[K_N];
    struct sample s;
    if ((r = store_sample_get(m->t, m->refs[i].id, &s)) < 0)
      return r;
    if (!(m->refs[i].name = strdup(s.name)))
      return -ENOMEM;
    rel_keys(m, i, k);
    for (int t = 0; t < K_N; t++)
      m->keys[K_N + t][i] = k[t];
    m->keys[K_NAME][i] =
        (struct smatch_key){ m->refs[i].name, strlen(m->refs[i].name), i };
  }
  for (int k = K_N; k < SMATCH_TABLES; k++)
    finish_keys(m, k);
  return 0;
}

/* The tables of rule 5, built when a name first gets there: a file
 * whose names all match by rules 1 to 4 never pays for them. */
static int build_fold(struct smatch *m)
{
  return build_late(m, K_N, SMATCH_TABLES, build_fold_in, &m->fold_built);
}

/* Rule 2: the longest tail of p[0..len) (p itself included) of two or
 * more components that ends exactly one source path (table fwd for a whole path, rev for the
 * reversed paths).  A path ends with the tail when it is the tail, or
 * when its reverse starts with the tail's reverse and a '/'.  *at: where
 * the tail that decided starts in p (AMBIG: the one several end). */
static size_t by_tail(const struct smatch *m, int fwd, int rev,
                      const char *p, size_t len, size_t *at)
{
  char r[4096];   /* p reversed: each tail's reverse is a prefix of it */

  if (len >= sizeof(r) || !memchr(p, '/', len))
    return NONE;
  for (size_t k = 0; k < len; k++)
    r[k] = p[len - 1 - k];
  for (size_t i = 0; i < len; i++) {   /* i = 0: p itself ends others */
    const char *s = p + i;
    size_t sl = len - i, hit, lo, hi, count;
    if ((i > 0 && p[i - 1] != '/') || *s == '/')
      continue;
    if (!memchr(s, '/', sl))
      break;   /* one component left: rules 3 and 4 */
    hit = find_key(m, fwd, s, sl);
    count = hit == NONE ? 0 : hit == AMBIG ? 2 : 1;
    /* r[sl] is the '/' before the tail (or past p's reverse, i = 0) */
    r[sl] = '/';
    lo = lower_bound(m, rev, r, sl + 1);
    r[sl] = '/' + 1;   /* the first key past every "<tail>/..." */
    hi = lower_bound(m, rev, r, sl + 1);
    r[sl] = '/';
    count += hi - lo;
    *at = i;
    if (count > 1)
      return AMBIG;
    if (count == 1)
      return hit != NONE ? hit : m->keys[rev][lo].ref;
  }
  return NONE;
}

/* The index of sample id (refs are in id order). */
static size_t ref_of_id(const struct smatch *m, uint64_t id)
{
  size_t lo = 0, hi = m->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->refs[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < m->n && m->refs[lo].id == id ? lo : NONE;
}

size_t smatch_index_of(const struct smatch *m, uint64_t id)
{
  size_t ref = m->built ? ref_of_id(m, id) : NONE;

  return ref == NONE ? SIZE_MAX : ref;
}

/* One pass over rules 1 to 4: on whole names (image) or stems, as
 * written or ignoring letter case (fold: rule 5). */
struct pass {
  bool image, fold;
};

/* The table of a pass: img_tab for whole names, stem_tab for stems. */
static int tab_of(const struct pass *ps, int img_tab, int stem_tab)
{
  return (ps->image ? img_tab : stem_tab) + (ps->fold ? K_N : 0);
}

/* Whether a[0..n) is b[0..n), letter case aside where nocase. */
static bool same_bytes(const char *a, const char *b, size_t n, bool nocase)
{
  for (size_t i = 0; nocase && i < n; i++)
    if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
      return false;
  return nocase || memcmp(a, b, n) == 0;
}

/* The sample named b[0..n), as written (the store's index) or ignoring
 * letter case (rule 5's table, where two names may be one). */
static size_t by_name(const struct smatch *m, const char *b, size_t n,
                      bool nocase)
{
  struct sample smp;
  char name[256];

  if (n >= sizeof(name))
    return NONE;   /* longer than any name */
  if (nocase)
    return find_key(m, K_NAME, b, n);
  memcpy(name, b, n);
  name[n] = '\0';
  return store_sample_by_name(m->t, name, &smp) < 0 ? NONE
                                                     : ref_of_id(m, smp.id);
}

/* Rule 3 within rule 5, where names equal but for case ("a" of a.jpg,
 * "A" of A.png) share b[0..n): the one whose image extension is
 * ext[0..el) ignoring case, as the extension tells them apart; AMBIG
 * where it does not. */
static size_t by_name_ext(const struct smatch *m, const char *b, size_t n,
                          const char *ext, size_t el)
{
  struct smatch_key q = { b, n, 0 };
  size_t ref = NONE;

  for (size_t i = lower_bound(m, K_NAME, b, n);
       i < m->n && cmp_key_fold(&m->keys[K_NAME][i], &q) == 0; i++) {
    /* the table marks shared keys AMBIG: the key (a copy of a name,
     * which the store holds once) finds its own sample */
    struct sample smp;
    const char *want;
    size_t k;
    if (store_sample_by_name(m->t, m->keys[K_NAME][i].key, &smp) < 0 ||
        (k = ref_of_id(m, smp.id)) == NONE)
      return AMBIG;
    want = img_ext_of(m->refs[k].format);
    if (strlen(want) == el && same_bytes(ext, want, el, true))
      ref = ref == NONE ? k : AMBIG;
  }
  return ref;
}

/* Rule 3: exports (export.h) name a sample's image "<sample name><ext>"
 * and its YOLO rows "<sample name>.txt": the sample named by the last
 * component of p[0..len) without its extension, which must be the
 * sample's own for an image file name (ps->image). */
static size_t by_export_name(const struct smatch *m, const struct pass *ps,
                             const char *p, size_t len)
{
  const char *b = base_of(p, len), *e = p + len, *dot = NULL;
  size_t ref;

  if (ps->image) {
    for (const char *q = b; q < e; q++)
      if (*q == '.')
        dot = q;
    if (!dot || dot == b)
      return NONE;
    e = dot;
  }
  if (e == b)
    return NONE;
  ref = by_name(m, b, (size_t)(e - b), ps->fold);
  if (ps->image && ps->fold && ref == AMBIG)
    return by_name_ext(m, b, (size_t)(e - b), dot, (size_t)(p + len - dot));
  if (ps->image && ref != NONE && ref != AMBIG) {
    const char *want = img_ext_of(m->refs[ref].format);
    size_t n = (size_t)(p + len - dot);
    if (n != strlen(want) || !same_bytes(dot, want, n, ps->fold))
      return NONE;
  }
  return ref;
}

/* Where rule 1 or 2 found several samples for p[0..len) (rule 1: the
 * key is p itself, whole; rule 2: the tail p[at..len)), the one among
 * them that rule 3 names, else AMBIG.  A stem loses the extension that
 * tells x.jpg from x.png, but the export wrote their rows as x.txt
 * (sample x) and x~2.txt (sample x~2): its name is one sample's, and a
 * looser rule must not make it ambiguous (docs/USER-GUIDE.md, "Which
 * sample a file names"). */
static size_t export_among(const struct smatch *m, const struct pass *ps,
                           const char *p, size_t len, size_t at, bool whole)
{
  size_t ex = by_export_name(m, ps, p, len), tl = len - at, kl;
  const char *k;

  if (ex == NONE || ex == AMBIG)
    return AMBIG;
  k = m->refs[ex].rel;
  kl = strlen(k) - (ps->image ? 0 : ext_len(k));
  if (kl < tl || (whole && kl != tl) || (kl > tl && k[kl - tl - 1] != '/') ||
      !same_bytes(k + kl - tl, p + at, tl, ps->fold))
    return AMBIG;   /* not one of those the rule found */
  return ex;
}

/* The components of p[0..len) joined by '/' into out (cap bytes): no
 * empty or "." components, ".." taking back the one before it (*climbed
 * when there is none); '\\' separates too where bs.  The length, or
 * -ENAMETOOLONG. */
static int components(const char *p, size_t len, bool bs, char *out,
                      size_t cap, bool *climbed)
{
  size_t o = 0, i = 0;

  *climbed = false;
  while (i < len) {
    size_t s = i;
    while (i < len && p[i] != '/' && !(bs && p[i] == '\\'))
      i++;
    size_t n = i - s;
    i++;
    if (n == 0 || (n == 1 && p[s] == '.'))
      continue;
    if (n == 2 && p[s] == '.' && p[s + 1] == '.') {
      if (o == 0)
        *climbed = true;
      while (o > 0 && out[--o] != '/')
        ;
      continue;
    }
    if (o + (o > 0) + n >= cap)
      return -ENAMETOOLONG;
    if (o > 0)
      out[o++] = '/';
    memcpy(out + o, p + s, n);
    o += n;
  }
  out[o] = '\0';
  return (int)o;
}

/* The dataset's root as the store records it (import.c), in the form
 * components() gives names with bs, read and put in both forms once:
 * NULL in *ret when the store has none, or a root that is not an
 * absolute path (a bucket's), or one too long. */
static int dataset_root(struct smatch *m, bool bs, const char **ret)
{
  if (!m->root_read) {
    char *raw = NULL, f[4096];
    bool up;
    int r = store_setting_get(m->t, "root", &raw);
    if (r < 0 && r != -ENOENT)
      return r;
    for (int k = 0; r == 0 && raw[0] == '/' && k < 2; k++)
      if (components(raw, strlen(raw), k, f, sizeof(f), &up) >= 0 &&
          !(m->root[k] = strdup(f)))
        r = -ENOMEM;
    free(raw);
    if (r == -ENOMEM)
      return r;
    m->root_read = true;
  }
  *ret = m->root[bs];
  return 0;
}

/* How a name in its normal form relates to the source paths. */
enum nf_kind {
  NF_REL,    /* a relative path: rules 1 to 4 */
  NF_ROOT,   /* an absolute path under the dataset's root: rule 1 only */
  NF_TAIL,   /* any other: only a tail (rules 2 to 4) */
};

/* p[0..len) in the form of a source path, into out (cap bytes), and its
 * kind (*kind): components() with '\\' separating where bs (a file
 * written on Windows).  A path under the dataset's root (FiftyOne's
 * abs_paths; the root in the same form) loses the root and names exactly
 * one file; any other absolute path (another machine's, a drive
 * letter's) and a path that climbs above its start ("../images/1.jpg",
 * relative to some other folder) can only be a tail of a source path.
 * Returns the length, or -ENAMETOOLONG or a store error. */
static int normal_form(struct smatch *m, const char *p, size_t len, bool bs,
                       char *out, size_t cap, enum nf_kind *kind)
{
  bool abs = len > 0 && (p[0] == '/' || (bs && p[0] == '\\')), up;
  size_t skip = 0;
  const char *root;
  int o, rl, r;

  if (bs && len >= 2 && isalpha((unsigned char)p[0]) && p[1] == ':' &&
      (len == 2 || p[2] == '/' || p[2] == '\\')) {
    abs = true;   /* "C:\\data\\1.jpg" */
    skip = 2;
  }
  if ((o = components(p + skip, len - skip, bs, out, cap, &up)) < 0)
    return o;
  *kind = abs || up ? NF_TAIL : NF_REL;
  if (!abs || p[0] != '/')
    return o;
  if ((r = dataset_root(m, bs, &root)) < 0)
    return r;
  if (!root)
    return o;
  rl = (int)strlen(root);
  if (rl == 0) {   /* the root is "/" */
    *kind = NF_ROOT;
  } else if (o > rl && memcmp(out, root, (size_t)rl) == 0 &&
             out[rl] == '/') {
    memmove(out, out + rl + 1, (size_t)(o - rl));
    o -= rl + 1;
    *kind = NF_ROOT;
  }
  return o;
}

/* What the deciding rule found, as the lookups return it (folded: by
 * rule 5). */
static int decide(const struct smatch *m, size_t ref, bool folded,
                  struct smatch_hit *hit)
{
  if (ref == AMBIG)
    return -ENOTUNIQ;
  if (ref == NONE || m->refs[ref].missing)
    return -ENOENT;
  *hit = (struct smatch_hit){ m->refs[ref].id, ref, folded };
  return 0;
}

/* Rules 2 to 4 for p[0..len) (in a form rule 1 did not find). */
static int loose_rules(struct smatch *m, const struct pass *ps,
                       const char *p, size_t len, size_t *ref)
{
  const char *b;
  int r;

  *ref = NONE;
  if (len == 0)
    return 0;
  size_t ex = by_export_name(m, ps, p, len), at = 0;   /* rule 3's answer */
  if (memchr(p, '/', len)) {
    if ((r = build_tails(m)) < 0)
      return r;
    *ref = by_tail(m, tab_of(ps, K_REL, K_RELSTEM),
                   tab_of(ps, K_RREL, K_RSTEM), p, len, &at);
    if (*ref == AMBIG && ex != NONE)
      *ref = export_among(m, ps, p, len, at, false);
  }
  /* Where the tail and an export name point at two samples (a sample "1"
   * exported as labels/train/1.txt beside a sample train/1.jpg), nothing
   * tells which the file meant. */
  if (*ref != NONE && *ref != AMBIG && ex != NONE && ex != *ref)
    *ref = AMBIG;
  if (*ref == NONE)
    *ref = ex;
  if (*ref == NONE) {
    b = base_of(p, len);
    *ref = find_key(m, tab_of(ps, K_BASE, K_BASESTEM), b,
                    len - (size_t)(b - p));
  }
  return 0;
}

/* The rules for p[0..len) in its normal form with bs (normal_form()):
 * rule 1 again where the form is still a source path (under the root,
 * that alone decides: *final), then rules 2 to 4.  A name too long for
 * the form goes on as written. */
static int rules_in_form(struct smatch *m, const struct pass *ps,
                         const char *p, size_t len, bool bs, size_t *ref,
                         bool *final)
{
  char norm[4096];
  enum nf_kind kind = NF_TAIL;
  int n = normal_form(m, p, len, bs, norm, sizeof(norm), &kind);

  *ref = NONE;
  *final = false;
  if (n < 0 && n != -ENAMETOOLONG)
    return n;
  if (n >= 0) {
    p = norm;
    len = (size_t)n;
    if (kind != NF_TAIL)
      *ref = find_key(m, tab_of(ps, K_REL, K_RELSTEM), p, len);
    if (kind == NF_REL && *ref == AMBIG)
      *ref = export_among(m, ps, p, len, 0, true);
    if (kind == NF_ROOT) {   /* names one file: that sample or none */
      *final = true;
      return 0;
    }
  }
  return *ref == NONE ? loose_rules(m, ps, p, len, ref) : 0;
}

/* Rules 1 to 4 in one pass (ps) for p[0..len), into *ref.  A backslash
 * separates folders (a file written on Windows), except that in a store
 * where some path holds one, a name with one is first tried with it as
 * part of the name (a Linux file name may hold it). */
static int rules(struct smatch *m, const struct pass *ps, const char *p,
                 size_t len, size_t *ref)
{
  bool final;
  int r;

  *ref = find_key(m, tab_of(ps, K_REL, K_RELSTEM), p, len);
  if (*ref == AMBIG)
    *ref = export_among(m, ps, p, len, 0, true);
  if (*ref == NONE && m->backslash_names && memchr(p, '\\', len)) {
    /* found nothing with '\\' in a name: then it separates */
    if ((r = rules_in_form(m, ps, p, len, false, ref, &final)) < 0)
      return r;
  }
  if (*ref == NONE &&
      (r = rules_in_form(m, ps, p, len, true, ref, &final)) < 0)
    return r;
  return 0;
}

/* Rules 1 to 4 over the tables of whole names (image) or stems; where
 * they find nothing at all, rule 5: the same ignoring letter case. */
static int lookup(struct smatch *m, const char *p, size_t len, bool image,
                  struct smatch_hit *hit)
{
  struct pass ps = { image, false };
  struct sample smp;
  size_t ref;
  int r;

  /* Rule 1 for a whole path is the store's own index: a COCO file whose
   * names are all source paths never builds this one. */
  if (image && !m->built && store_sample_by_path(m->t, p, &smp) == 0) {
    *hit = (struct smatch_hit){ smp.id, SIZE_MAX, false };
    return smp.flags & SAMPLE_MISSING ? -ENOENT : 0;
  }
  if ((r = smatch_build(m)) < 0 || (r = rules(m, &ps, p, len, &ref)) < 0)
    return r;
  if (ref == NONE && !m->no_fold) {
    if ((r = build_fold(m)) < 0)
      return r;
    ps.fold = true;
    if ((r = rules(m, &ps, p, len, &ref)) < 0)
      return r;
  }
  return decide(m, ref, ps.fold, hit);
}

int smatch_image(struct smatch *m, const char *fn, struct smatch_hit *hit)
{
  return lookup(m, fn, strlen(fn), true, hit);
}

int smatch_stem(struct smatch *m, const char *p, size_t len,
                struct smatch_hit *hit)
{
  return lookup(m, p, len, false, hit);
}

/* Whether p[i..i+n) is the component "labels" or "images" (what). */
static bool component_is(const char *p, size_t len, size_t i,
                         const char *what)
{
  return (i == 0 || p[i - 1] == '/') && i + 6 < len && p[i + 6] == '/' &&
         memcmp(p + i, what, 6) == 0;
}

/* Whether some source path lies below folder dir[0..n) (with its '/'). */
static bool folder_has_samples(const struct smatch *m, const char *dir,
                               size_t n)
{
  size_t i = lower_bound(m, K_REL, dir, n);

  return i < m->n && m->keys[K_REL][i].len > n &&
         memcmp(m->keys[K_REL][i].key, dir, n) == 0;
}

/* The source path without extension of the image Ultralytics pairs with
 * label file p[0..len) of folder base (absolute; NULL: the dataset's
 * root), into q (cap bytes): the whole path's last "labels" folder as
 * "images", below the root.  Its length, or -1 where the label has no
 * such folder, or an "images" one below it (Ultralytics swaps the
 * image's last), or the image would lie outside the dataset. */
static int ultralytics_image(struct smatch *m, const char *base,
                             const char *p, size_t len, char *q, size_t cap)
{
  char full[4096];
  size_t k = SIZE_MAX;
  enum nf_kind kind;
  int n, r;

  if (len >= sizeof(full))
    return -1;
  n = snprintf(full, sizeof(full), "%s%s%.*s", base ? base : "",
               base ? "/" : "", (int)len, p);
  if (n < 0 || (size_t)n >= sizeof(full))
    return -1;
  for (size_t i = 0; i + 6 < (size_t)n; i++) {
    if (component_is(full, (size_t)n, i, "labels"))
      k = i;
    else if (k != SIZE_MAX && component_is(full, (size_t)n, i, "images"))
      k = SIZE_MAX - 1;
  }
  if (k >= SIZE_MAX - 1)
    return -1;
  memcpy(full + k, "images", 6);
  r = normal_form(m, full, (size_t)n, false, q, cap, &kind);
  return r < 0 || kind == NF_TAIL || (base && kind != NF_ROOT) ? -1 : r;
}

int smatch_label_stem(struct smatch *m, const char *base, const char *p,
                      size_t len, struct smatch_hit *hit)
{
  char q[4096];
  int r = smatch_build(m), n;

  if (r < 0)
    return r;
  n = ultralytics_image(m, base, p, len, q, sizeof(q));
  if (n > 0) {
    size_t ref = find_key(m, K_RELSTEM, q, (size_t)n);
    size_t dir = (size_t)(base_of(q, (size_t)n) - q);   /* with its '/' */
    /* the image there decides; so does its absence from a folder that
     * holds pictures (Ultralytics' layout: no other folder's picture is
     * this label's) */
    if (ref != NONE || (dir && folder_has_samples(m, q, dir)))
      return decide(m, ref, false, hit);
  }
  return lookup(m, p, len, false, hit);
}

bool smatch_path_in_folder(const char *rel, const char *dir)
{
  size_t n = strlen(dir);

  for (const char *p = rel; n && (p = strstr(p, dir)); p++)
    if ((p == rel || p[-1] == '/') && p[n] == '/')
      return true;
  return false;
}

int smatch_number(struct smatch *m, uint64_t num, struct smatch_hit *hit)
{
  struct smatch_num q = { num, 0 };
  const struct smatch_num *n;
  int r = smatch_build(m);

  if (r < 0)
    return r;
  n = bsearch(&q, m->by_num, m->n_num, sizeof(q), cmp_num);
  return decide(m, n ? n->ref : NONE, false, hit);
}

enum smatch_pick smatch_pick(bool first_folded, bool second_folded)
{
  if (first_folded == second_folded)
    return SMATCH_BOTH;
  return first_folded ? SMATCH_SECOND : SMATCH_FIRST;
}

void smatch_fold_lost(char *buf, size_t cap, const char *rel,
                      const char *exact)
{
  snprintf(buf, cap, "matches %s only ignoring letter case, which %s names "
           "exactly; no sample", rel, exact);
}

void smatch_folds_add(struct smatch_folds *f, const char *name,
                      const char *rel)
{
  if (f->n++ == 0)
    snprintf(f->eg, sizeof(f->eg), "%s -> %s", name, rel);
}

void smatch_folds_merge(struct smatch_folds *a, const struct smatch_folds *b)
{
  if (!a->n)
    memcpy(a->eg, b->eg, sizeof(a->eg));
  a->n += b->n;
}

bool smatch_folds_line(const struct smatch_folds *f, char *buf, size_t cap)
{
  if (cap)
    buf[0] = '\0';
  if (!f->n)
    return false;
  snprintf(buf, cap, "%llu %s matched a file only ignoring letter case "
           "(e.g. %s)", (unsigned long long)f->n,
           f->n == 1 ? "name" : "names", f->eg);
  return true;
}

/* Whether source path rel lies in the folder of one of subsets[0..n)
 * other than subset. */
static bool in_other_subset(const char *rel, const char *subset,
                            const char *const *subsets, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(subsets[i], subset) != 0 &&
        smatch_path_in_folder(rel, subsets[i]))
      return true;
  return false;
}

/* The source path of a hit: its ref's, or (rule 1 through the store's
 * own index, before the tables exist) the store's record's, valid while
 * the transaction is; "" when unreadable. */
static const char *hit_rel(const struct smatch *m,
                           const struct smatch_hit *hit)
{
  struct sample s;

  if (hit->ref != SIZE_MAX)
    return m->refs[hit->ref].rel;
  return store_sample_get(m->t, hit->id, &s) == 0 ? s.relpath : "";
}

int smatch_image_in_subset(struct smatch *m, const char *fn,
                           const char *subset, const char *const *subsets,
                           size_t n, struct smatch_hit *hit)
{
  struct smatch_hit first;
  char p[4096];
  int r1 = -ENOENT, r;

  if ((size_t)snprintf(p, sizeof(p), "%s/%s", subset, fn) < sizeof(p)) {
    r1 = smatch_image(m, p, &first);
    if (r1 < 0 && r1 != -ENOENT && r1 != -ENOTUNIQ)
      return r1;
    if (r1 == 0 && smatch_path_in_folder(hit_rel(m, &first), subset)) {
      *hit = first;
      return 0;
    }
    if (r1 == 0 && in_other_subset(hit_rel(m, &first), subset, subsets, n))
      r1 = -ENOENT;   /* found by a looser rule in another subset */
  }
  r = smatch_image(m, fn, hit);
  if (r == 0 && in_other_subset(hit_rel(m, hit), subset, subsets, n))
    r = -ENOENT;   /* another subset's picture of that name */
  if ((r == -ENOENT || r == -ENOTUNIQ) && r1 != -ENOENT) {
    if (r1 == 0)
      *hit = first;
    r = r1;   /* an ambiguous name stays so */
  }
  return r;
}
