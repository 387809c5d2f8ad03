/* table.c - the per-sample table behind samples.csv, `curate table` and
 * the user.curatefs.* attributes (see table.h).  Cells are produced once,
 * as text, by table_row(); the CSV and JSONL writers only format them. */
#include "table.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalrun.h"
#include "imgfmt.h"
#include "views.h"

/* The fixed columns before and after the per-field box counts; the head
 * columns' indexes are named below, in the same order. */
enum {
  C_NAME, C_PATH, C_FORMAT, C_WIDTH, C_HEIGHT, C_ORIENT, C_BYTES, C_TAGS,
  C_UNIQ, C_URANK, C_NDGROUP, C_NN,
};
static const struct {
  const char *name;
  enum table_type type;
} head_cols[] = {
  { "name", TT_STR },          { "path", TT_STR },
  { "format", TT_STR },        { "width", TT_INT },
  { "height", TT_INT },        { "orientation", TT_INT },
  { "bytes", TT_INT },         { "tags", TT_LIST },         { "uniqueness", TT_NUM },
  { "unique_rank", TT_INT },   { "neardup_group", TT_INT },
  { "nn_distance", TT_NUM },
}, tail_cols[] = {
  { "eval_tp", TT_INT },       { "eval_fp", TT_INT },
  { "eval_fn", TT_INT },       { "mistakenness", TT_NUM },
};
#define N_HEAD (sizeof(head_cols) / sizeof(head_cols[0]))
#define N_TAIL (sizeof(tail_cols) / sizeof(tail_cols[0]))
_Static_assert(N_HEAD == C_NN + 1, "head_cols and their indexes differ");

struct table {
  struct view_list *uniq, *near;
  char eval[EVALRUN_MAX_NAME + 1];   /* "" = none */
  char **field;                      /* label fields with boxes, sorted */
  char **colname;                    /* "boxes_<field>" */
  size_t nfield;
};

size_t table_ncols(const struct table *tb)
{
  return N_HEAD + tb->nfield + N_TAIL;
}

const char *table_col_name(const struct table *tb, size_t i)
{
  if (i < N_HEAD)
    return head_cols[i].name;
  i -= N_HEAD;
  if (i < tb->nfield)
    return tb->colname[i];
  i -= tb->nfield;
  return i < N_TAIL ? tail_cols[i].name : NULL;
}

enum table_type table_col_type(const struct table *tb, size_t i)
{
  if (i < N_HEAD)
    return head_cols[i].type;
  i -= N_HEAD;
  if (i < tb->nfield)
    return TT_INT;
  i -= tb->nfield;
  return i < N_TAIL ? tail_cols[i].type : TT_STR;
}

/* ---- preparation ---- */

struct fields_ctx {
  char **names;
  size_t n, cap;
  int err;
};

static int add_field(const char *field, uint32_t class_id, uint64_t count,
                     void *ud)
{
  struct fields_ctx *f = ud;

  (void)class_id;
  (void)count;
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->names[i], field) == 0)
      return 0;
  if (f->n == f->cap) {
    size_t nc = f->cap ? f->cap * 2 : 8;
    char **p = realloc(f->names, nc * sizeof(*p));
    if (!p) {
      f->err = -ENOMEM;
      return 1;
    }
    f->names = p;
    f->cap = nc;
  }
  if (!(f->names[f->n] = strdup(field))) {
    f->err = -ENOMEM;
    return 1;
  }
  f->n++;
  return 0;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void table_free(struct table *tb)
{
  if (!tb)
    return;
  view_list_put(tb->uniq);
  view_list_put(tb->near);
  for (size_t i = 0; i < tb->nfield; i++) {
    free(tb->field[i]);
    free(tb->colname ? tb->colname[i] : NULL);
  }
  free(tb->field);
  free(tb->colname);
  free(tb);
}

int table_new(struct views *v, struct store_txn *t, const char *eval,
              struct table **ret)
{
  struct table *tb = calloc(1, sizeof(*tb));
  struct fields_ctx f = { 0 };
  int r;

  *ret = NULL;
  if (!tb)
    return -ENOMEM;
  if (eval)
    snprintf(tb->eval, sizeof(tb->eval), "%s", eval);
  r = views_get_txn(v, t, VIEW_UNIQUE, &tb->uniq);
  if (r == 0)
    r = views_get_txn(v, t, VIEW_NEARDUP, &tb->near);
  if (r == 0)
    r = store_counts_each(t, add_field, &f);
  if (r == 0)
    r = f.err;
  tb->field = f.names;
  tb->nfield = f.n;
  if (r == 0 && f.n) {
    qsort(tb->field, f.n, sizeof(*tb->field), cmp_str);
    tb->colname = calloc(f.n, sizeof(*tb->colname));
    for (size_t i = 0; tb->colname && i < f.n; i++) {
      size_t l = strlen(tb->field[i]) + 7;
      if (!(tb->colname[i] = malloc(l)))
        break;
      snprintf(tb->colname[i], l, "boxes_%s", tb->field[i]);
    }
    for (size_t i = 0; r == 0 && i < f.n; i++)
      if (!tb->colname || !tb->colname[i])
        r = -ENOMEM;
  }
  if (r < 0) {
    table_free(tb);
    return r;
  }
  *ret = tb;
  return 0;
}

/* ---- rows ---- */

void table_row_init(struct table_row *row)
{
  memset(row, 0, sizeof(*row));
  buf_init(&row->text, 1 << 20);
}

void table_row_free(struct table_row *row)
{
  buf_free(&row->text);
  free(row->off);
  free(row->cell);
  memset(row, 0, sizeof(*row));
}

struct tags_ctx {
  struct store_txn *t;
  struct buf *b;
  bool first;
  int err;
};

static int add_tag(uint64_t tag_id, void *ud)
{
  struct tags_ctx *c = ud;
  const char *name = NULL;

  if (store_tag_get(c->t, tag_id, &name, NULL, NULL) < 0 || !name)
    return 0;
  if (!c->first)
    c->err = buf_append(c->b, (char[]){ TABLE_LIST_SEP }, 1);
  if (c->err == 0)
    c->err = buf_puts(c->b, name);
  c->first = false;
  return c->err != 0;
}

static const char *format_of(const struct sample *s)
{
  static const char *const other[IMG_NFORMATS] = {
    [IMG_PNG] = "png", [IMG_WEBP] = "webp", [IMG_TIFF] = "tiff",
    [IMG_BMP] = "bmp", [IMG_GIF] = "gif" };

  if (s->format != IMG_JPEG)
    return s->format < IMG_NFORMATS ? other[s->format] : "unknown";
  if (s->flags & SAMPLE_ARITHMETIC)
    return "jpeg-arithmetic";
  if (s->flags & SAMPLE_PROGRESSIVE)
    return "jpeg-progressive";
  return "jpeg";
}

/* Cell-writing helpers: each starts cell i at the end of the text. */
static int cell_begin(struct table_row *row, size_t i)
{
  row->off[i] = row->text.len;
  return 0;
}

static int cell_u64(struct table_row *row, size_t i, uint64_t v)
{
  cell_begin(row, i);
  return buf_printf(&row->text, "%" PRIu64, v);
}

static int cell_num(struct table_row *row, size_t i, double v)
{
  char tmp[40];

  if (!isfinite(v))
    return 0;  /* stays empty */
  cell_begin(row, i);
  fmt_double_shortest(tmp, v, 6);
  return buf_puts(&row->text, tmp);
}

static int cell_str(struct table_row *row, size_t i, const char *s)
{
  cell_begin(row, i);
  return buf_puts(&row->text, s);
}

/* Ends the cell just written with a NUL, so cells are C strings. */
static int cell_end(struct table_row *row, int r)
{
  return r < 0 ? r : buf_append(&row->text, "", 1);
}

/* Sizes the row for nc columns and empties every cell. */
static int row_reset(struct table_row *row, size_t nc)
{
  if (row->n != nc) {
    size_t *o = realloc(row->off, nc * sizeof(*o));
    const char **cl = o ? realloc(row->cell, nc * sizeof(*cl)) : NULL;
    if (o)
      row->off = o;
    if (!cl)
      return -ENOMEM;
    row->cell = cl;
    row->n = nc;
  }
  buf_reset(&row->text);
  for (size_t i = 0; i < nc; i++)
    row->off[i] = SIZE_MAX;
  return 0;
}

/* name path format width height orientation bytes tags */
static int row_sample(struct store_txn *t, const struct sample *s,
                      struct table_row *row)
{
  struct tags_ctx tc = { t, &row->text, true, 0 };
  int r = cell_end(row, cell_str(row, C_NAME, s->name));

  r = r ? r : cell_end(row, cell_str(row, C_PATH, s->relpath));
  r = r ? r : cell_end(row, cell_str(row, C_FORMAT, format_of(s)));
  r = r ? r : cell_end(row, cell_u64(row, C_WIDTH, s->width));
  r = r ? r : cell_end(row, cell_u64(row, C_HEIGHT, s->height));
  r = r ? r : cell_end(row, cell_u64(row, C_ORIENT,
                                     s->orientation ? s->orientation : 1));
  r = r ? r : cell_end(row, cell_u64(row, C_BYTES, s->size));
  if (r < 0)
    return r;
  cell_begin(row, C_TAGS);
  r = store_sample_tags(t, s->id, add_tag, &tc);
  r = cell_end(row, r < 0 ? r : tc.err);
  if (r == 0 && tc.first)
    row->off[C_TAGS] = SIZE_MAX;  /* no tags: an empty cell */
  return r;
}

/* uniqueness unique_rank neardup_group nn_distance, from the view lists */
static int row_views(const struct table *tb, const struct sample *s,
                     struct table_row *row)
{
  double score, nn, nd_score, nd_nn;
  ptrdiff_t pos;
  int r = 0;

  /* nn_distance: the near-duplicate measure (neardup.h), which decides
   * the groups, when that view has it. */
  if (view_list_score(tb->uniq, s->id, &score, &nn) == 0) {
    if (view_list_score(tb->near, s->id, &nd_score, &nd_nn) == 0)
      nn = nd_nn;
    r = cell_end(row, cell_num(row, C_UNIQ, score));
    r = r ? r : cell_end(row, cell_num(row, C_NN, nn));
  }
  if (r == 0 && (pos = view_list_find(tb->uniq, s->id)) >= 0)
    r = cell_end(row, cell_u64(row, C_URANK, tb->uniq->items[pos].rank));
  if (r == 0 && (pos = view_list_find(tb->near, s->id)) >= 0)
    r = cell_end(row, cell_u64(row, C_NDGROUP, tb->near->items[pos].rank));
  return r;
}

/* boxes_<field>... */
static int row_boxes(const struct table *tb, struct store_txn *t,
                     const struct sample *s, struct table_row *row)
{
  struct labels l;
  int r = store_labels_get(t, s->id, &l);

  if (r < 0)
    return r;
  for (size_t f = 0; r == 0 && f < tb->nfield; f++) {
    struct label_field *lf = labels_field(&l, tb->field[f], false);
    r = cell_end(row, cell_u64(row, N_HEAD + f, lf ? lf->n : 0));
  }
  labels_free(&l);
  return r;
}

/* eval_tp eval_fp eval_fn mistakenness, when the table has an evaluation */
static int row_eval(const struct table *tb, struct store_txn *t,
                    const struct sample *s, struct table_row *row)
{
  size_t c = N_HEAD + tb->nfield;
  struct evalrun_sample es;
  int r;

  if (!tb->eval[0])
    return 0;
  r = evalrun_sample(t, tb->eval, s->id, &es);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  r = cell_end(row, cell_u64(row, c, (uint64_t)es.tp));
  r = r ? r : cell_end(row, cell_u64(row, c + 1, (uint64_t)es.fp));
  r = r ? r : cell_end(row, cell_u64(row, c + 2, (uint64_t)es.fn));
  if (r == 0 && es.mistakenness >= 0)
    r = cell_end(row, cell_num(row, c + 3, es.mistakenness));
  return r;
}

int table_row(struct table *tb, struct store_txn *t, const struct sample *s,
              struct table_row *row)
{
  size_t nc = table_ncols(tb);
  int r = row_reset(row, nc);

  if (r == 0)
    r = row_sample(t, s, row);
  if (r == 0)
    r = row_views(tb, s, row);
  if (r == 0)
    r = row_boxes(tb, t, s, row);
  if (r == 0)
    r = row_eval(tb, t, s, row);
  if (r < 0)
    return r;
  for (size_t i = 0; i < nc; i++)
    row->cell[i] = row->off[i] == SIZE_MAX ? NULL
                                           : row->text.data + row->off[i];
  return 0;
}

/* ---- writers ---- */

static int csv_field(struct buf *b, const char *s)
{
  int r = 0;

  if (!s)
    return 0;
  if (!strpbrk(s, ",\"\r\n"))
    return buf_puts(b, s);
  r = buf_append(b, "\"", 1);
  for (; r == 0 && *s; s++)
    r = *s == '"' ? buf_append(b, "\"\"", 2) : buf_append(b, s, 1);
  return r ? r : buf_append(b, "\"", 1);
}

static int jsonl_cell(struct buf *b, enum table_type ty, const char *s)
{
  int r = 0;

  if (!s)
    return buf_puts(b, ty == TT_LIST ? "[]" : "null");
  switch (ty) {
  case TT_INT:
  case TT_NUM:
    return buf_puts(b, s);  /* already a JSON number */
  case TT_LIST:
    r = buf_append(b, "[", 1);
    while (r == 0 && *s) {
      const char *e = strchr(s, TABLE_LIST_SEP);
      size_t l = e ? (size_t)(e - s) : strlen(s);
      r = buf_json_str(b, s, l);
      s += l;
      if (r == 0 && *s) {
        s++;
        r = buf_append(b, ",", 1);
      }
    }
    return r ? r : buf_append(b, "]", 1);
  default:
    return buf_json_str(b, s, strlen(s));
  }
}

#define FLUSH_AT (64 * 1024)

int table_write(struct table *tb, struct store_txn *t, enum table_format f,
                int (*write)(void *ud, const void *p, size_t n), void *ud)
{
  struct table_row row;
  struct store_iter *it = NULL;
  struct buf out;
  struct sample s;
  uint64_t next = 1;
  size_t nc = table_ncols(tb);
  int r = 0;

  buf_init(&out, 4 * FLUSH_AT + (2u << 20));
  table_row_init(&row);
  if (f == TABLE_CSV) {
    for (size_t i = 0; r == 0 && i < nc; i++) {
      if (i)
        r = buf_append(&out, ",", 1);
      if (r == 0)
        r = csv_field(&out, table_col_name(tb, i));
    }
    if (r == 0)
      r = buf_append(&out, "\r\n", 2);
  }
  if (r == 0)
    r = store_iter_new(t, &it);
  while (r == 0) {
    int e = store_iter_samples(it, next, &s);
    if (e < 0) {
      r = e == -ENOENT ? 0 : e;  /* -ENOENT: the end of the samples */
      break;
    }
    next = s.id + 1;
    if (s.flags & SAMPLE_MISSING)
      continue;
    r = table_row(tb, t, &s, &row);
    for (size_t i = 0; r == 0 && i < nc; i++) {
      if (f == TABLE_CSV) {
        if (i)
          r = buf_append(&out, ",", 1);
        if (r == 0)
          r = csv_field(&out, row.cell[i]);
      } else {
        r = buf_append(&out, i ? "," : "{", 1);
        if (r == 0)
          r = buf_json_str(&out, table_col_name(tb, i),
                           strlen(table_col_name(tb, i)));
        if (r == 0)
          r = buf_append(&out, ":", 1);
        if (r == 0)
          r = jsonl_cell(&out, table_col_type(tb, i), row.cell[i]);
      }
    }
    if (r == 0)
      r = f == TABLE_CSV ? buf_append(&out, "\r\n", 2)
                         : buf_append(&out, "}\n", 2);
    if (r == 0 && out.len >= FLUSH_AT) {
      r = write(ud, out.data, out.len);
      buf_reset(&out);
    }
  }
  if (r == 0 && out.len)
    r = write(ud, out.data, out.len);
  store_iter_free(it);
  table_row_free(&row);
  buf_free(&out);
  return r;
}
