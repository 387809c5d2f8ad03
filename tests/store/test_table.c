/* test_table.c - the per-sample table (core/views/table.h) on a real LMDB
 * store, without a mount: the exact CSV bytes (RFC 4180 quoting of commas,
 * quotes and line breaks, CRLF records, empty cells), the JSON Lines form of
 * the same rows, the box-count columns of every field, tags joined by '/',
 * exact-copy groups from content hashes, the cells of one row, and a table
 * that follows a tag and a label change.
 *
 * Every test gets a fresh store under $TMPDIR.
 */
#include "testlib.h"
#include "table.h"
#include "views.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fx {
  char dir[64];
  struct store *s;
  struct views *v;
  uint64_t ids[3];
};

/* Three samples: "plain" (progressive), 'a,"b"' (its path has a line
 * break) and "copy" (the same content hash as "plain"); tags "red" and
 * "blue, green" on the first; two ground-truth boxes on the first and a
 * prediction on the third. */
static void fx_init(struct fx *f)
{
  struct store_opts o = { .nosync = true };
  static const char *names[] = { "plain", "a,\"b\"", "copy" };
  static const char *paths[] = { "plain.jpg", "d/x\ny.jpg", "copy.jpg" };
  struct store_txn *t;
  uint64_t red, blue;
  uint32_t cat;
  char p[128];

  CHECK_INT_EQ(tl_tmpdir(f->dir, sizeof(f->dir), "test-table"), 0);
  snprintf(p, sizeof(p), "%s/store", f->dir);
  CHECK_INT_EQ(mkdir(p, 0755), 0);
  CHECK_INT_EQ(store_open(p, &o, &f->s), 0);
  CHECK_INT_EQ(views_new(f->s, &f->v), 0);
  CHECK_INT_EQ(store_txn_begin(f->s, true, &t), 0);
  for (int i = 0; i < 3; i++) {
    struct sample smp = { 0 };
    smp.size = 1000 + (uint64_t)i;
    smp.width = 64 + (uint32_t)i;
    smp.height = 48;
    smp.orientation = i == 2 ? 6 : 1;  /* "copy" is shown turned */
    smp.name = names[i];
    smp.relpath = paths[i];
    smp.flags = SAMPLE_HASHED | (i == 0 ? SAMPLE_PROGRESSIVE : 0);
    memset(smp.hash, i == 1 ? 0x22 : 0x11, sizeof(smp.hash));
    CHECK_INT_EQ(store_sample_put(t, &smp, &f->ids[i]), 0);
  }
  CHECK_INT_EQ(store_tag_create(t, "red", &red), 0);
  CHECK_INT_EQ(store_tag_create(t, "blue, green", &blue), 0);
  CHECK(store_tag_add(t, red, f->ids[0]) >= 0);
  CHECK(store_tag_add(t, blue, f->ids[0]) >= 0);
  CHECK_INT_EQ(store_class_id(t, "cat", true, &cat), 0);
  for (int i = 0; i < 3; i += 2) {
    struct labels l;
    struct detection d = { .class_id = cat, .x = 1, .y = 2, .w = 10,
                           .h = 10, .confidence = NAN };
    labels_init(&l);
    if (i == 0) {
      struct label_field *gt = labels_field(&l, "ground_truth", true);
      CHECK_INT_EQ(labels_field_add(gt, &d), 0);
      CHECK_INT_EQ(labels_field_add(gt, &d), 0);
    } else {
      d.confidence = 0.5;
      CHECK_INT_EQ(labels_field_add(labels_field(&l, "predictions", true),
                                    &d), 0);
    }
    CHECK_INT_EQ(store_labels_put(t, f->ids[i], &l), 0);
    labels_free(&l);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
}

static void fx_done(struct fx *f)
{
  views_free(f->v);
  store_close(f->s);
  tl_rm_rf(f->dir);
}

static int to_buf(void *ud, const void *p, size_t n)
{
  return buf_append(ud, p, n);
}

/* The whole table as text (NUL-terminated). */
static char *whole(struct fx *f, enum table_format fmt)
{
  struct store_txn *t;
  struct table *tb;
  struct buf b;

  buf_init(&b, 1 << 20);
  CHECK_INT_EQ(store_txn_begin(f->s, false, &t), 0);
  CHECK_INT_EQ(table_new(f->v, t, NULL, &tb), 0);
  CHECK_INT_EQ(table_write(tb, t, fmt, to_buf, &b), 0);
  CHECK_INT_EQ(buf_append(&b, "", 1), 0);
  table_free(tb);
  store_txn_abort(t);
  return buf_steal(&b, NULL);
}

#define HEADER                                                          \
  "name,path,format,width,height,orientation,bytes,tags,uniqueness,unique_rank,"   \
  "neardup_group,nn_distance,boxes_ground_truth,boxes_predictions,"    \
  "eval_tp,eval_fp,eval_fn,mistakenness\r\n"

TEST(csv_bytes)
{
  struct fx f;
  char *csv;

  fx_init(&f);
  csv = whole(&f, TABLE_CSV);
  /* No embeddings: no scores or ranks; "plain" and "copy" share a hash:
   * near-duplicate group 1; no evaluation: empty eval cells. */
  CHECK_STR_EQ(csv,
    HEADER
    "plain,plain.jpg,jpeg-progressive,64,48,1,1000,\"red/blue, green\",,,1,,"
    "2,0,,,,\r\n"
    "\"a,\"\"b\"\"\",\"d/x\ny.jpg\",jpeg,65,48,1,1001,,,,,,0,0,,,,\r\n"
    "copy,copy.jpg,jpeg,66,48,6,1002,,,,1,,0,1,,,,\r\n");
  free(csv);
  fx_done(&f);
}

TEST(jsonl_same_rows)
{
  struct fx f;
  char *js, *second;

  fx_init(&f);
  js = whole(&f, TABLE_JSONL);
  {
    static const char first[] =
      "{\"name\":\"plain\",\"path\":\"plain.jpg\","
      "\"format\":\"jpeg-progressive\",\"width\":64,\"height\":48,"
      "\"orientation\":1,\"bytes\":1000,\"tags\":[\"red\",\"blue, green\"],"
      "\"uniqueness\":null,\"unique_rank\":null,\"neardup_group\":1,"
      "\"nn_distance\":null,\"boxes_ground_truth\":2,"
      "\"boxes_predictions\":0,\"eval_tp\":null,\"eval_fp\":null,"
      "\"eval_fn\":null,\"mistakenness\":null}\n";
    CHECK(strncmp(js, first, strlen(first)) == 0);
  }
  second = strchr(js, '\n') + 1;
  {
    static const char want[] =
      "{\"name\":\"a,\\\"b\\\"\",\"path\":\"d/x\\ny.jpg\","
      "\"format\":\"jpeg\",\"width\":65,\"height\":48,"
      "\"orientation\":1,\"bytes\":1001,\"tags\":[],";
    CHECK(strncmp(second, want, strlen(want)) == 0);
  }
  /* One object per sample, each on one line. */
  {
    int lines = 0;
    for (const char *p = js; *p; p++)
      lines += *p == '\n';
    CHECK_INT_EQ(lines, 3);
  }
  free(js);
  fx_done(&f);
}

TEST(row_cells)
{
  struct fx f;
  struct store_txn *t;
  struct table *tb;
  struct table_row row;
  struct sample s;

  fx_init(&f);
  table_row_init(&row);
  CHECK_INT_EQ(store_txn_begin(f.s, false, &t), 0);
  CHECK_INT_EQ(table_new(f.v, t, NULL, &tb), 0);
  CHECK_INT_EQ(table_ncols(tb), 18);
  CHECK_STR_EQ(table_col_name(tb, 5), "orientation");
  CHECK_STR_EQ(table_col_name(tb, 12), "boxes_ground_truth");
  CHECK_INT_EQ(table_col_type(tb, 7), TT_LIST);
  CHECK_INT_EQ(store_sample_get(t, f.ids[2], &s), 0);
  CHECK_INT_EQ(table_row(tb, t, &s, &row), 0);
  CHECK_STR_EQ(row.cell[0], "copy");
  CHECK_STR_EQ(row.cell[5], "6");      /* EXIF orientation */
  CHECK(row.cell[7] == NULL);          /* no tags */
  CHECK(row.cell[8] == NULL);          /* no embedding */
  CHECK_STR_EQ(row.cell[10], "1");
  CHECK_STR_EQ(row.cell[13], "1");     /* one prediction */
  CHECK(row.cell[14] == NULL);         /* no evaluation */
  /* A named evaluation that does not exist leaves the cells empty. */
  table_free(tb);
  CHECK_INT_EQ(table_new(f.v, t, "nope", &tb), 0);
  CHECK_INT_EQ(table_row(tb, t, &s, &row), 0);
  CHECK(row.cell[14] == NULL);
  table_free(tb);
  table_row_free(&row);
  store_txn_abort(t);
  fx_done(&f);
}

TEST(follows_changes)
{
  struct fx f;
  struct store_txn *t;
  uint64_t tag;
  char *before, *after;

  fx_init(&f);
  before = whole(&f, TABLE_CSV);
  CHECK_INT_EQ(store_txn_begin(f.s, true, &t), 0);
  CHECK_INT_EQ(store_tag_lookup(t, "red", &tag), 0);
  CHECK(store_tag_add(t, tag, f.ids[2]) >= 0);
  {
    struct labels l;
    labels_init(&l);
    labels_field(&l, "ground_truth", true);
    CHECK_INT_EQ(store_labels_put(t, f.ids[0], &l), 0);  /* boxes gone */
    labels_free(&l);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
  after = whole(&f, TABLE_CSV);
  CHECK(strstr(after, "\r\ncopy,copy.jpg,jpeg,66,48,6,1002,red,,,1,,1,,,,\r\n") !=
        NULL);
  /* Only "predictions" holds boxes now: one box column. */
  {
    static const char want[] =
      "name,path,format,width,height,orientation,bytes,tags,uniqueness,unique_rank,"
      "neardup_group,nn_distance,boxes_predictions,eval_tp,";
    CHECK(strncmp(after, want, strlen(want)) == 0);
  }
  CHECK(strcmp(before, after) != 0);
  free(before);
  free(after);
  fx_done(&f);
}

TEST_MAIN(T(csv_bytes), T(jsonl_same_rows), T(row_cells), T(follows_changes))
