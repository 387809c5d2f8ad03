/* classes.h - the class schema as users manage it: the listing (id, boxes,
 * name), and the gestures add, rename and remove, with the errno and the
 * one-line reason of each refusal.  The mount's `classes` file and
 * `curate classes` both go through here, so the two agree; the tables
 * themselves are store_classes.c's (store_class_*).
 *
 * Rules: ids are handed out once and never change, so a rename keeps
 * every box (boxes store the id) and exports keep their category ids; a
 * class is removed only while no box of any field uses it; a bad name
 * changes nothing.
 *
 * Every function works inside the caller's transaction (the caller
 * commits, so a document of several commands lands whole or not at all;
 * the mount runs each write(2)'s lines as one document).
 * Errors: negative errno with the reason in err.
 */
#ifndef CURATE_CLASSES_H
#define CURATE_CLASSES_H

#include <stddef.h>

#include "store.h"
#include "util.h"

/* The listing: a header line, then one line per class in id order,
 *   "<id> <boxes> <name>"
 * with the numbers right-aligned; the name runs to the end of the line. */
int classes_render(struct store_txn *t, struct buf *out);

/* -EEXIST if the class exists, -EINVAL for a bad name. */
int classes_add(struct store_txn *t, const char *name, char *err,
                size_t errlen);
/* -ENOENT, -EEXIST, -EINVAL as store_class_rename(). */
int classes_rename(struct store_txn *t, const char *from, const char *to,
                   char *err, size_t errlen);
/* -ENOENT, -EBUSY (boxes use it; their number in err), -EINVAL. */
int classes_remove(struct store_txn *t, const char *name, char *err,
                   size_t errlen);

/* Runs a document of commands, one per line (blank lines and lines
 * starting with '#' are skipped):
 *   add NAME
 *   rename OLD -> NEW      (or "rename OLD NEW" when neither has a space)
 *   remove NAME
 * Stops at the first failure (the caller then aborts the transaction):
 * -EINVAL for a line that is no command, else the gesture's errno; the
 * reason, with the line number, in err.  *ret_changed counts the commands
 * carried out. */
int classes_run(struct store_txn *t, const char *text, size_t len,
                unsigned *ret_changed, char *err, size_t errlen);

/* Splits "a,b,c" (the classes= of a push) into owned names; empty items
 * are skipped.  -EINVAL (reason in err) when a name is not a valid class
 * name or the list is empty. */
int classes_parse_list(const char *list, char ***ret, size_t *ret_n,
                       char *err, size_t errlen);
void classes_list_free(char **names, size_t n);
/* Adds each name that is not a class yet; existing ones are fine.
 * *ret_added counts the new ones (may be NULL). */
int classes_ensure(struct store_txn *t, char *const *names, size_t n,
                   size_t *ret_added, char *err, size_t errlen);
/* Number of classes in the schema (not the largest id). */
int classes_count(struct store_txn *t, size_t *ret);

#endif
