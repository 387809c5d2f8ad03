/* predclasses.h - the class names of a predictions input (COCO category
 * names by id, YOLO names by index) and the store classes they name;
 * prefix predcls_.
 *
 * Predictions do not create a class in a store that has classes: they
 * are scored against the ground truth's classes, and a new class ("Cat"
 * beside "cat", "motorbike" beside "motorcycle") would only make every
 * such prediction a false positive of a class without ground truth.  A
 * name the store lacks is noted as unknown; the importer drops its
 * predictions and, once the whole input was read, refuses it with
 * predcls_refusal(), one line naming each unknown class.  A store with
 * no class at all (an unlabelled dataset, whose first boxes are a
 * model's) has nothing to mistake them for: there the input's names
 * become its classes.  Reading the names from the input and the import
 * itself are predictions.c's.
 *
 * Ownership: struct predcls owns its arrays and names (predcls_free).
 * Errors: negative errno.
 */
#ifndef CURATE_PREDCLASSES_H
#define CURATE_PREDCLASSES_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* id[k] of a name the store has no class of. */
#define PREDCLS_UNKNOWN UINT32_MAX

struct predcls {
  char **name;      /* [n] by input class index; NULL: no name */
  uint32_t *id;     /* [n] store class id; 0 = not looked up yet */
  size_t n;
  size_t n_unknown; /* indexes whose name the store lacks */
  int fresh;        /* the store had no class at the first lookup: 1 (names
                       create classes), 0 (it had), -1 not looked yet;
                       predcls_init() */
};

/* An empty set of names. */
void predcls_init(struct predcls *pc);

/* Makes room for indexes 0..n-1 (new ones without a name).  -ENOMEM. */
int predcls_grow(struct predcls *pc, size_t n);
/* Names index k (< pc->n) with name[0..len).  -EINVAL for a name that
 * is not a valid class name (labels.h), -ENOMEM. */
int predcls_set(struct predcls *pc, size_t k, const char *name, size_t len);
/* The store class of index k into *ret, looked up once: 0 with *ret = 0
 * when the store has no class of that name (then noted as unknown),
 * unless the store had no class at all at the first lookup (then made, in
 * t); -ENOENT when k has no name; store errors. */
int predcls_lookup(struct predcls *pc, struct store_txn *t, size_t k,
                   uint32_t *ret);
/* The refusal of an input naming unknown classes: err (errlen > 0) gets
 * one line naming each, and the store's class it differs from only by
 * letter case where there is one.  Returns -EINVAL, or a store error. */
int predcls_refusal(const struct predcls *pc, struct store_txn *t, char *err,
                    size_t errlen);
/* Frees everything and leaves *pc empty (predcls_init); accepts an
 * empty struct. */
void predcls_free(struct predcls *pc);

#endif
