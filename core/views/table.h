/* table.h - the per-sample table: one row per present sample with what
 * the store knows about it (file facts, tags, uniqueness, near-duplicate
 * group, boxes per label field, the latest evaluation's outcome).
 *
 * It is what `samples.csv` at the mount root serves (fs/prov_table.c), what
 * `curate table` prints, and, cell by cell, what the `user.curatefs.*`
 * extended attributes of sample files show (fs/xattr.c): one code path, so
 * the three always agree.
 *
 * Columns, in order (docs/USER-GUIDE.md has their meaning):
 *   name path format width height bytes tags uniqueness unique_rank
 *   neardup_group nn_distance boxes_<field>... eval_tp eval_fp eval_fn
 *   mistakenness
 * The boxes_<field> columns are the label fields that hold boxes, in
 * name order.  A cell with no value (no embedding, not in a view, no
 * evaluation) is empty in CSV, null in JSONL and an absent attribute.
 *
 * The numbers come from the same computed lists the views use (views.h):
 * unique_rank is the rank in views/unique, neardup_group the group number
 * in views/near-duplicates, uniqueness and nn_distance the scores the
 * unique view ranked by.
 *
 * Ownership: struct table holds references to two view lists and its own
 * copies of names; table_free() releases them.  A table is used by one
 * thread at a time, with transactions of the caller; it opens none of its
 * own (the view lists come from the cache in table_new()'s t).  Locking:
 * none of its own; the view cache locks itself.
 */
#ifndef CURATE_TABLE_H
#define CURATE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

struct views;
struct table;

enum table_format { TABLE_CSV, TABLE_JSONL };

/* Cell types: how JSONL writes a cell (CSV writes the text). */
enum table_type { TT_STR, TT_INT, TT_NUM, TT_LIST };

/* Separator of the tags cell: the one character a tag name cannot hold. */
#define TABLE_LIST_SEP '/'

/* Prepares a table: computes (or takes from the cache) the unique and
 * near-duplicate lists through v as t sees the store, reads the label
 * field names from t.
 * eval: the evaluation whose per-sample outcome the eval_* columns show,
 * or NULL for none (the columns are then empty). */
int table_new(struct views *v, struct store_txn *t, const char *eval,
              struct table **ret);
void table_free(struct table *tb);

size_t table_ncols(const struct table *tb);
const char *table_col_name(const struct table *tb, size_t i);
enum table_type table_col_type(const struct table *tb, size_t i);

/* One row's cells.  cell[i] is NULL for an empty cell, else a string that
 * lives until the next table_row() on this row or table_row_free(). */
struct table_row {
  struct buf text;
  size_t *off;      /* per column: offset into text, or SIZE_MAX */
  const char **cell;
  size_t n;
};
void table_row_init(struct table_row *row);
void table_row_free(struct table_row *row);
int table_row(struct table *tb, struct store_txn *t, const struct sample *s,
              struct table_row *row);

/* The whole table, header first (CSV) or one JSON object per line
 * (JSONL), every present sample in id order, streamed through write in
 * pieces of up to 64 KiB.  CSV follows RFC 4180: CRLF line ends, fields
 * with a comma, quote, CR or LF quoted, quotes doubled. */
int table_write(struct table *tb, struct store_txn *t, enum table_format f,
                int (*write)(void *ud, const void *p, size_t n), void *ud);

#endif
