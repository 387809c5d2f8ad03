/* featstore.c - feature records, the .npy import and export (see
 * featstore.h).
 *
 * Records are encoded and decoded here byte by byte (little-endian, values
 * are only 2-byte aligned in LMDB, so nothing is cast in place).  The .npy
 * reader is a minimal one for what NumPy's np.save writes for a 2-D float
 * array: format versions 1-3, a Python-dict header with 'descr',
 * 'fortran_order' and 'shape'; everything else is refused with a reason.
 */
#include "featstore.h"

#include "imgfmt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#define HDR 32

static void wr16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void wr64(uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t rd16(const uint8_t *p)
{
  return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
  uint64_t v = 0;

  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static void wrf(uint8_t *p, float f)
{
  uint32_t u;

  memcpy(&u, &f, 4);
  wr16(p, (uint16_t)u);
  wr16(p + 2, (uint16_t)(u >> 16));
}

static float rdf(const uint8_t *p)
{
  uint32_t u = rd32(p);
  float f;

  memcpy(&f, &u, 4);
  return f;
}

static int rec_put(struct store_txn *t, const char *ns, uint64_t id,
                   uint8_t fver, uint64_t size, int64_t mtime_ns,
                   uint64_t phash, const float *v, size_t dim)
{
  uint8_t key[8], stackbuf[HDR + 4 * IMGFEAT_DIM], *b = stackbuf;
  size_t len = HDR + 4 * dim;
  int r;

  if (dim == 0 || dim > FEATSTORE_MAX_DIM)
    return -EINVAL;
  if (len > sizeof(stackbuf) && !(b = malloc(len)))
    return -ENOMEM;
  memset(b, 0, HDR);
  b[0] = FEATSTORE_REC_VERSION;
  b[1] = fver;
  wr16(b + 2, (uint16_t)dim);
  wr64(b + 8, size);
  wr64(b + 16, (uint64_t)mtime_ns);
  wr64(b + 24, phash);
  for (size_t i = 0; i < dim; i++)
    wrf(b + HDR + 4 * i, v[i]);
  store_key_u64(key, id);
  r = store_rec_put(t, ns, key, sizeof(key), b, len);
  if (b != stackbuf)
    free(b);
  return r;
}

/* Checks a record's framing; returns its dim or -EIO. */
static int rec_check(const uint8_t *b, size_t len)
{
  size_t dim;

  if (len < HDR || b[0] != FEATSTORE_REC_VERSION)
    return -EIO;
  dim = rd16(b + 2);
  if (dim == 0 || len != HDR + 4 * dim)
    return -EIO;
  return (int)dim;
}

/* The sub-window record: 0 u8 record version | 1 u8 imgfeat version |
 * 2 u8 nsub | 3 u8 0 | 4 u16 dim | 6 u16 0 | 8 nsub x dim int16, each
 * value x SUB_SCALE rounded (the vectors have unit norm, so every value
 * is in [-1, 1]; a step of 3e-5 moves no distance that matters). */
#define SUB_HDR 8
#define SUB_SCALE 32767.0f
#define SUB_LEN (SUB_HDR + 2 * IMGFEAT_NSUB * IMGFEAT_DIM)

static int sub_put(struct store_txn *t, uint64_t id, const struct imgfeat *f)
{
  uint8_t key[8], b[SUB_LEN];

  memset(b, 0, SUB_HDR);
  b[0] = FEATSTORE_REC_VERSION;
  b[1] = IMGFEAT_VERSION;
  b[2] = IMGFEAT_NSUB;
  wr16(b + 4, IMGFEAT_DIM);
  for (int k = 0; k < IMGFEAT_NSUB; k++)
    for (int i = 0; i < IMGFEAT_DIM; i++) {
      float v = f->sub[k][i] * SUB_SCALE;
      v = v > SUB_SCALE ? SUB_SCALE : v < -SUB_SCALE ? -SUB_SCALE : v;
      wr16(b + SUB_HDR + 2 * (k * IMGFEAT_DIM + i),
           (uint16_t)(int16_t)lrintf(v));
    }
  store_key_u64(key, id);
  return store_rec_put(t, FEATSTORE_NS_SUB, key, sizeof(key), b, sizeof(b));
}

/* The sub-windows of sample id into sub (IMGFEAT_NSUB x IMGFEAT_DIM):
 * 0, or -ENOENT when there is no record of this version (sub untouched),
 * -EIO for a malformed one, or a store error. */
static int sub_get(struct store_txn *t, uint64_t id, float *sub)
{
  uint8_t key[8];
  const void *val;
  const uint8_t *b;
  size_t len;
  int r;

  store_key_u64(key, id);
  r = store_rec_get(t, FEATSTORE_NS_SUB, key, sizeof(key), &val, &len);
  if (r < 0)
    return r;
  b = val;
  if (len < SUB_HDR || b[0] != FEATSTORE_REC_VERSION)
    return -EIO;
  if (b[1] != IMGFEAT_VERSION || b[2] != IMGFEAT_NSUB ||
      rd16(b + 4) != IMGFEAT_DIM)
    return -ENOENT;
  if (len != SUB_LEN)
    return -EIO;
  for (size_t i = 0; i < IMGFEAT_NSUB * IMGFEAT_DIM; i++)
    sub[i] = (float)(int16_t)rd16(b + SUB_HDR + 2 * i) / SUB_SCALE;
  return 0;
}

int featstore_put(struct store_txn *t, uint64_t id, uint64_t size,
                  int64_t mtime_ns, const struct imgfeat *f)
{
  int r = sub_put(t, id, f);

  return r < 0 ? r : rec_put(t, FEATSTORE_NS, id, IMGFEAT_VERSION, size,
                             mtime_ns, f->phash, f->v, IMGFEAT_DIM);
}

/* Sub-windows of n samples, with the main vector standing in where a
 * record is missing. */
int featstore_load_sub(struct store_txn *t, const struct feat_matrix *m,
                       float **ret_sub)
{
  size_t per = (size_t)IMGFEAT_NSUB * IMGFEAT_DIM;
  float *sub;
  int r = 0;

  *ret_sub = NULL;
  if (m->external || m->dim != IMGFEAT_DIM || m->n == 0)
    return -ENODATA;
  if (m->n > SIZE_MAX / per / sizeof(float) ||
      !(sub = malloc(m->n * per * sizeof(float))))
    return -ENOMEM;
  for (size_t i = 0; r == 0 && i < m->n; i++) {
    r = sub_get(t, m->ids[i], sub + i * per);
    if (r == -ENOENT || r == -EIO) {
      for (int k = 0; k < IMGFEAT_NSUB; k++)
        memcpy(sub + i * per + (size_t)k * IMGFEAT_DIM,
               m->x + i * IMGFEAT_DIM, IMGFEAT_DIM * sizeof(float));
      r = 0;
    }
  }
  if (r < 0) {
    free(sub);
    return r;
  }
  *ret_sub = sub;
  return 0;
}

int featstore_get(struct store_txn *t, uint64_t id, struct imgfeat *ret,
                  uint64_t *ret_size, int64_t *ret_mtime_ns)
{
  uint8_t key[8];
  const void *val;
  const uint8_t *b;
  size_t len;
  int r;

  store_key_u64(key, id);
  r = store_rec_get(t, FEATSTORE_NS, key, sizeof(key), &val, &len);
  if (r < 0)
    return r;
  b = val;
  r = rec_check(b, len);
  if (r < 0)
    return r;
  if (b[1] != IMGFEAT_VERSION || r != IMGFEAT_DIM)
    return -ENOENT;
  if (ret) {
    ret->phash = rd64(b + 24);
    for (size_t i = 0; i < IMGFEAT_DIM; i++)
      ret->v[i] = rdf(b + HDR + 4 * i);
    r = sub_get(t, id, &ret->sub[0][0]);
    if (r == -ENOENT || r == -EIO)
      for (int k = 0; k < IMGFEAT_NSUB; k++)
        memcpy(ret->sub[k], ret->v, sizeof(ret->v));
    else if (r < 0)
      return r;
  }
  if (ret_size)
    *ret_size = rd64(b + 8);
  if (ret_mtime_ns)
    *ret_mtime_ns = (int64_t)rd64(b + 16);
  return 0;
}

int featstore_current(struct store_txn *t, uint64_t id, uint64_t size,
                      int64_t mtime_ns)
{
  uint64_t sz;
  int64_t mt;
  int r = featstore_get(t, id, NULL, &sz, &mt);

  if (r == -ENOENT || r == -EIO)
    return 0;   /* a damaged record is simply recomputed */
  if (r < 0)
    return r;
  if (sz != size || mt != mtime_ns)
    return 0;
  r = featstore_get_thumb(t, id, NULL);
  if (r == -ENOENT || r == -EIO)
    return 0;   /* features of an older build: with the thumbnail again */
  return r < 0 ? r : 1;
}

int featstore_forget(struct store_txn *t, uint64_t id)
{
  static const char *const ns[] = { FEATSTORE_NS, FEATSTORE_NS_SUB,
                                    FEATSTORE_NS_THUMB };
  uint8_t key[8];

  store_key_u64(key, id);
  for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
    int r = store_rec_del(t, ns[i], key, sizeof(key));
    if (r < 0 && r != -ENOENT)
      return r;
  }
  return 0;
}

/* ---- matrix ---- */

void featstore_matrix_free(struct feat_matrix *m)
{
  if (!m)
    return;
  free(m->x);
  free(m->ids);
  memset(m, 0, sizeof(*m));
}

struct load {
  struct store_txn *t;
  struct feat_matrix *m;
  size_t cap;
  bool external;
};

static int any_fn(const void *k, size_t kl, const void *v, size_t vl,
                  void *ud)
{
  (void)k; (void)kl; (void)v; (void)vl; (void)ud;
  return 1;
}

static int load_fn(const void *key, size_t klen, const void *val, size_t vlen,
                   void *ud)
{
  struct load *l = ud;
  struct feat_matrix *m = l->m;
  const uint8_t *b = val;
  struct sample smp;
  uint64_t id;
  int dim, r;

  if (klen != 8)
    return -EIO;
  id = store_key_rd_u64(key);
  dim = rec_check(b, vlen);
  if (dim < 0)
    return dim;
  if (!l->external && (b[1] != IMGFEAT_VERSION || dim != IMGFEAT_DIM))
    return 0;
  r = store_sample_get(l->t, id, &smp);
  if (r == -ENOENT)
    return 0;   /* sample deleted: its record is left behind */
  if (r < 0)
    return r;
  if (smp.flags & SAMPLE_MISSING)
    return 0;
  if (!l->external &&
      (rd64(b + 8) != smp.size || (int64_t)rd64(b + 16) != smp.mtime_ns))
    return 0;   /* stale: the file changed after they were computed */
  if (m->n == 0)
    m->dim = (size_t)dim;
  else if (m->dim != (size_t)dim)
    return -EIO;
  if (m->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 1024;
    float *x = realloc(m->x, nc * m->dim * sizeof(float));
    uint64_t *ids;
    if (!x)
      return -ENOMEM;
    m->x = x;
    ids = realloc(m->ids, nc * sizeof(*ids));
    if (!ids)
      return -ENOMEM;
    m->ids = ids;
    l->cap = nc;
  }
  for (int i = 0; i < dim; i++)
    m->x[m->n * m->dim + (size_t)i] = rdf(b + HDR + 4 * i);
  m->ids[m->n++] = id;
  return 0;
}

int featstore_load_matrix(struct store_txn *t, struct feat_matrix *ret)
{
  struct load l = { t, ret, 0, false };
  int r;

  memset(ret, 0, sizeof(*ret));
  r = store_rec_each(t, FEATSTORE_NS_EXT, "", 0, false, any_fn, NULL);
  if (r < 0)
    return r;
  l.external = r == 1;
  r = store_rec_each(t, l.external ? FEATSTORE_NS_EXT : FEATSTORE_NS, "", 0,
                     false, load_fn, &l);
  if (r < 0) {
    featstore_matrix_free(ret);
    return r;
  }
  ret->external = l.external;
  return 0;
}

/* ---- .npy import ---- */

static void say(void (*report)(const char *, void *), void *ud,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(void (*report)(const char *, void *), void *ud,
                const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  if (!report)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  report(msg, ud);
}

/* Finds the value after 'key': in a NumPy header dict. */
static const char *dict_val(const char *h, const char *key)
{
  char pat[32];
  const char *p;

  snprintf(pat, sizeof(pat), "'%s'", key);
  p = strstr(h, pat);
  if (!p)
    return NULL;
  p += strlen(pat);
  while (*p == ' ')
    p++;
  if (*p != ':')
    return NULL;
  p++;
  while (*p == ' ')
    p++;
  return p;
}

struct npy {
  size_t rows, cols, elsize;
  long data_off;
};

/* The fixed start: magic, format version and the header's length. */
static int npy_preamble(FILE *f, size_t *ret_hl, size_t *ret_pre_len,
                        const char **why)
{
  uint8_t pre[12];

  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    *why = "not a .npy file (no \\x93NUMPY magic)";
    return -EINVAL;
  }
  if (pre[6] == 1) {
    *ret_hl = rd16(pre + 8);
    *ret_pre_len = 10;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      *why = "truncated .npy header";
      return -EINVAL;
    }
    *ret_hl = rd32(pre + 8);
    *ret_pre_len = 12;
  } else {
    *why = "unsupported .npy format version";
    return -EINVAL;
  }
  if (*ret_hl == 0 || *ret_hl > 65536) {
    *why = "bad .npy header length";
    return -EINVAL;
  }
  return 0;
}

/* 'descr' (little-endian float32 or float64) and 'fortran_order'
 * (False) of the header dict h. */
static int npy_dtype(const char *h, struct npy *n, const char **why)
{
  const char *p;

  if (!(p = dict_val(h, "descr"))) {
    *why = "bad .npy header: no 'descr'";
    return -EINVAL;
  }
  if (strncmp(p, "'<f4'", 5) == 0) {
    n->elsize = 4;
  } else if (strncmp(p, "'<f8'", 5) == 0) {
    n->elsize = 8;
  } else {
    *why = "unsupported dtype: need float32 or float64, little-endian "
           "('<f4' or '<f8')";
    return -EINVAL;
  }
  if (!(p = dict_val(h, "fortran_order"))) {
    *why = "bad .npy header: no 'fortran_order'";
    return -EINVAL;
  }
  if (strncmp(p, "False", 5) != 0) {
    *why = "Fortran-order arrays are not supported (save C order)";
    return -EINVAL;
  }
  return 0;
}

/* 'shape': exactly (rows, dims), within the limits. */
static int npy_shape(const char *h, struct npy *n, const char **why)
{
  const char *p = dict_val(h, "shape");
  unsigned long long a, b;
  char *end;

  if (!p || *p != '(') {
    *why = "bad .npy header: no 'shape'";
    return -EINVAL;
  }
  p++;
  a = strtoull(p, &end, 10);
  if (end == p) {
    *why = "shape must be (rows, dims)";
    return -EINVAL;
  }
  p = end;
  while (*p == ' ')
    p++;
  if (*p++ != ',') {
    *why = "shape must be (rows, dims)";
    return -EINVAL;
  }
  while (*p == ' ')
    p++;
  b = strtoull(p, &end, 10);
  if (end == p) {
    *why = "shape must be (rows, dims), not a vector";
    return -EINVAL;
  }
  p = end;
  while (*p == ' ' || *p == ',')
    p++;
  if (*p != ')') {
    *why = "shape must be (rows, dims), 2 dimensions";
    return -EINVAL;
  }
  if (b == 0 || b > FEATSTORE_MAX_DIM) {
    *why = "embedding dimension must be 1..8192";
    return -EINVAL;
  }
  if (a > ((size_t)1 << 32)) {
    *why = "too many rows";
    return -EINVAL;
  }
  n->rows = (size_t)a;
  n->cols = (size_t)b;
  return 0;
}

/* Parses the header; returns 0, -ENOMEM, or -EINVAL with *why set. */
static int npy_header(FILE *f, struct npy *n, const char **why)
{
  size_t hl, pre_len;
  char *h;
  int r = npy_preamble(f, &hl, &pre_len, why);

  if (r < 0)
    return r;
  h = malloc(hl + 1);
  if (!h)
    return -ENOMEM;
  if (fread(h, 1, hl, f) != hl) {
    *why = "truncated .npy header";
    free(h);
    return -EINVAL;
  }
  h[hl] = '\0';
  r = npy_dtype(h, n, why);
  if (r == 0)
    r = npy_shape(h, n, why);
  if (r == 0)
    n->data_off = (long)(pre_len + hl);
  free(h);
  return r;
}

/* Reads the names file: one name per line, "\n" or "\r\n" endings; a final
 * newline is optional.  *ret is an owned array of owned strings. */
static int read_names(const char *path, char ***ret, size_t *ret_n,
                      void (*report)(const char *, void *), void *ud)
{
  FILE *f = fopen(path, "r");
  char **v = NULL, *line = NULL;
  size_t n = 0, cap = 0, lcap = 0;
  ssize_t len;
  int r = 0;

  if (!f) {
    r = -errno;
    say(report, ud, "cannot open names file '%s': %s", path, strerror(-r));
    return r;
  }
  while ((len = getline(&line, &lcap, f)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (len == 0) {
      say(report, ud, "names file line %zu is empty", n + 1);
      r = -EINVAL;
      break;
    }
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      char **p = realloc(v, nc * sizeof(*p));
      if (!p) {
        r = -ENOMEM;
        break;
      }
      v = p;
      cap = nc;
    }
    if (!(v[n] = strdup(line))) {
      r = -ENOMEM;
      break;
    }
    n++;
  }
  if (r == 0 && ferror(f)) {
    r = -EIO;
    say(report, ud, "cannot read names file '%s'", path);
  }
  free(line);
  fclose(f);
  if (r < 0) {
    for (size_t i = 0; i < n; i++)
      free(v[i]);
    free(v);
    return r;
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

static int lookup_name(struct store_txn *t, const char *name, uint64_t *id)
{
  struct sample smp;
  size_t len = strlen(name);
  int r;

  /* "<name>.jpg", "<name>.png" ... as in samples/, or the bare name. */
  const char *dot = strrchr(name, '.');
  if (dot && img_format_of_name(name) >= 0) {
    char stem[1024];
    len = (size_t)(dot - name);
    if (len < sizeof(stem)) {
      memcpy(stem, name, len);
      stem[len] = '\0';
      r = store_sample_by_name(t, stem, &smp);
      if (r == 0) {
        *id = smp.id;
        return 0;
      }
      if (r != -ENOENT)
        return r;
    }
  }
  r = store_sample_by_name(t, name, &smp);
  if (r == 0)
    *id = smp.id;
  return r;
}

/* One .npy import: the open file, its shape, the names and a row's
 * buffers. */
struct npy_import {
  const char *npy_path, *names_path;
  void (*report)(const char *reason, void *ud);
  void *ud;
  FILE *f;
  struct npy n;
  char **names;
  size_t nn;
  uint8_t *row;   /* one row as stored */
  float *v;       /* the same as float32 */
};

static void import_close(struct npy_import *im)
{
  for (size_t i = 0; i < im->nn; i++)
    free(im->names[i]);
  free(im->names);
  free(im->row);
  free(im->v);
  if (im->f)
    fclose(im->f);
}

/* Opens the .npy file and the names file and checks that they agree: a
 * header we read, a size that matches the shape, one name per row. */
static int import_open(struct npy_import *im)
{
  const char *why = NULL;
  struct stat st;
  int r;

  im->f = fopen(im->npy_path, "rb");
  if (!im->f) {
    r = -errno;
    say(im->report, im->ud, "cannot open '%s': %s", im->npy_path,
        strerror(-r));
    return r;
  }
  r = npy_header(im->f, &im->n, &why);
  if (r < 0) {
    if (why)
      say(im->report, im->ud, "%s: %s", im->npy_path, why);
    return r;
  }
  if (fstat(fileno(im->f), &st) < 0)
    return -errno;
  if ((uint64_t)st.st_size != (uint64_t)im->n.data_off +
                              (uint64_t)im->n.rows * im->n.cols *
                              im->n.elsize) {
    say(im->report, im->ud, "%s: file size %lld does not match shape (%zu, "
        "%zu)", im->npy_path, (long long)st.st_size, im->n.rows, im->n.cols);
    return -EINVAL;
  }
  r = read_names(im->names_path, &im->names, &im->nn, im->report, im->ud);
  if (r < 0)
    return r;
  if (im->nn != im->n.rows) {
    say(im->report, im->ud, "shape (%zu, %zu) but %zu names in '%s'",
        im->n.rows, im->n.cols, im->nn, im->names_path);
    return -EINVAL;
  }
  im->row = malloc(im->n.cols * im->n.elsize);
  im->v = malloc(im->n.cols * sizeof(float));
  return im->row && im->v ? 0 : -ENOMEM;
}

/* Reads row i into im->v; every value must be a finite float32. */
static int import_read_row(struct npy_import *im, size_t i)
{
  if (fread(im->row, im->n.elsize, im->n.cols, im->f) != im->n.cols) {
    say(im->report, im->ud, "%s: short read at row %zu", im->npy_path, i);
    return -EIO;
  }
  for (size_t c = 0; c < im->n.cols; c++) {
    double d;
    if (im->n.elsize == 4) {
      d = rdf(im->row + 4 * c);
    } else {
      uint64_t u = rd64(im->row + 8 * c);
      memcpy(&d, &u, 8);
    }
    im->v[c] = (float)d;
    if (!isfinite(im->v[c])) {
      say(im->report, im->ud, "%s: row %zu, column %zu is %s", im->npy_path,
          i, c, isnan(d) ? "NaN" : "infinite (or too large for float32)");
      return -EINVAL;
    }
  }
  return 0;
}

/* Stores row i under the sample its name names, once per sample. */
static int import_put_row(struct store_txn *t, struct npy_import *im,
                          size_t i)
{
  uint8_t key[8];
  const void *old;
  size_t olen;
  uint64_t id = 0;
  int r = lookup_name(t, im->names[i], &id);

  if (r == -ENOENT) {
    say(im->report, im->ud, "%s line %zu: no sample named '%s'",
        im->names_path, i + 1, im->names[i]);
    return -EINVAL;
  }
  if (r < 0)
    return r;
  store_key_u64(key, id);
  if (store_rec_get(t, FEATSTORE_NS_EXT, key, sizeof(key), &old, &olen) ==
      0) {
    say(im->report, im->ud, "%s line %zu: sample '%s' is listed twice",
        im->names_path, i + 1, im->names[i]);
    return -EINVAL;
  }
  return rec_put(t, FEATSTORE_NS_EXT, id, 0, 0, 0, 0, im->v, im->n.cols);
}

/* A new stamp of the external set (FEATSTORE_NS_EXT_STAMP). */
static int put_ext_stamp(struct store_txn *t)
{
  uint64_t v;

  if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
    return errno ? -errno : -EIO;
  return store_rec_put(t, FEATSTORE_NS_EXT_STAMP, "set", 3, &v, sizeof(v));
}

int featstore_import_npy(struct store *s, const char *npy_path,
                         const char *names_path,
                         void (*report)(const char *reason, void *ud),
                         void *ud, size_t *ret_rows)
{
  struct npy_import im = { .npy_path = npy_path, .names_path = names_path,
                           .report = report, .ud = ud };
  struct store_txn *t = NULL;
  int r;

  if (ret_rows)
    *ret_rows = 0;
  r = import_open(&im);
  if (r == 0)
    r = store_txn_begin(s, true, &t);
  if (r < 0) {
    import_close(&im);
    return r;
  }
  /* Replace the whole external set: one import = one dimension. */
  r = store_rec_each(t, FEATSTORE_NS_EXT, "", 0, true, NULL, NULL);
  for (size_t i = 0; r == 0 && i < im.n.rows; i++) {
    r = import_read_row(&im, i);
    if (r == 0)
      r = import_put_row(t, &im, i);
  }
  if (r == 0)
    r = put_ext_stamp(t);
  if (r < 0)
    store_txn_abort(t);
  else
    r = store_txn_commit(t);
  if (r == 0 && ret_rows)
    *ret_rows = im.n.rows;
  import_close(&im);
  return r;
}

static int count_fn(const void *k, size_t kl, const void *v, size_t vl,
                    void *ud)
{
  (void)k; (void)kl; (void)v; (void)vl;
  (*(size_t *)ud)++;
  return 0;
}

int featstore_clear_external(struct store *s, size_t *ret_n)
{
  struct store_txn *t;
  size_t n = 0;
  int r = store_txn_begin(s, true, &t);

  if (ret_n)
    *ret_n = 0;
  if (r < 0)
    return r;
  r = store_rec_each(t, FEATSTORE_NS_EXT, "", 0, true, count_fn, &n);
  if (r == 0)
    r = store_rec_each(t, FEATSTORE_NS_EXT_STAMP, "", 0, true, NULL, NULL);
  if (r < 0) {
    store_txn_abort(t);
    return r;
  }
  r = store_txn_commit(t);
  if (r == 0 && ret_n)
    *ret_n = n;
  return r;
}

/* ---- .npy export ---- */

/* Writes to path's temporary sibling and renames it into place at the
 * end (featstore_export_npy).  A destination that exists and is not a
 * regular file (/dev/null, a FIFO, a terminal) is written in place:
 * renaming over it would replace a device node with a plain file. */
struct outfile {
  char *tmp;     /* NULL when writing in place */
  FILE *f;
};

static int out_open(const char *path, struct outfile *o)
{
  size_t l = strlen(path) + 16;
  struct stat st;

  o->f = NULL;
  o->tmp = NULL;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode))
      return -EISDIR;
    o->f = fopen(path, "wb");
    return o->f ? 0 : -errno;
  }
  o->tmp = malloc(l);
  if (!o->tmp)
    return -ENOMEM;
  snprintf(o->tmp, l, "%s.tmp~", path);
  o->f = fopen(o->tmp, "wb");
  if (!o->f) {
    int r = -errno;
    free(o->tmp);
    o->tmp = NULL;
    return r;
  }
  return 0;
}

/* Closes; with ok renames into place, else removes the temporary. */
static int out_close(struct outfile *o, const char *path, bool ok)
{
  int r = 0;

  if (!o->f)
    return 0;
  if (fflush(o->f) != 0 || ferror(o->f))
    r = -EIO;
  if (fclose(o->f) != 0 && r == 0)
    r = -errno;
  o->f = NULL;
  if (!o->tmp)
    return r;
  if (ok && r == 0 && rename(o->tmp, path) < 0)
    r = -errno;
  if (!ok || r < 0)
    remove(o->tmp);
  free(o->tmp);
  o->tmp = NULL;
  return r;
}

int featstore_export_npy(struct store *s, const char *npy_path,
                         const char *names_path, size_t *ret_rows,
                         size_t *ret_dim)
{
  struct outfile on = { 0 }, om = { 0 };
  struct feat_matrix m = { 0 };
  struct store_txn *t = NULL;
  char hdr[128];
  int r, hl;

  r = store_txn_begin(s, false, &t);
  if (r == 0)
    r = featstore_load_matrix(t, &m);
  if (r == 0 && m.n == 0)
    r = -ENODATA;
  if (r == 0)
    r = out_open(npy_path, &on);
  if (r == 0)
    r = out_open(names_path, &om);
  if (r == 0) {
    /* Magic, version 1.0, header length; the header dict is padded with
     * spaces and ends in a newline so the data starts at a multiple of
     * 64 bytes, as NumPy writes it. */
    hl = snprintf(hdr, sizeof(hdr),
                  "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (%zu, %zu), }", m.n, m.dim);
    while ((10 + hl + 1) % 64 != 0)
      hdr[hl++] = ' ';
    hdr[hl++] = '\n';
    uint8_t pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0 };
    wr16(pre + 8, (uint16_t)hl);
    fwrite(pre, 1, 10, on.f);
    fwrite(hdr, 1, (size_t)hl, on.f);
  }
  for (size_t i = 0; r == 0 && i < m.n; i++) {
    struct sample smp;
    for (size_t j = 0; j < m.dim; j++) {
      uint32_t u;
      uint8_t b[4];
      memcpy(&u, &m.x[i * m.dim + j], 4);
      for (int k = 0; k < 4; k++)
        b[k] = (uint8_t)(u >> (8 * k));
      fwrite(b, 1, 4, on.f);
    }
    r = store_sample_get(t, m.ids[i], &smp);
    if (r == 0)
      fprintf(om.f, "%s\n", smp.name);
  }
  if (t)
    store_txn_abort(t);
  {
    int r1 = out_close(&on, npy_path, r == 0);
    int r2 = out_close(&om, names_path, r == 0 && r1 == 0);
    if (r == 0)
      r = r1 ? r1 : r2;
    if (r < 0 && r1 == 0 && r2 < 0)
      remove(npy_path);  /* the pair goes together */
  }
  if (r == 0) {
    if (ret_rows)
      *ret_rows = m.n;
    if (ret_dim)
      *ret_dim = m.dim;
  }
  featstore_matrix_free(&m);
  return r;
}
