/* predclasses.c - the class names of a predictions input and the store
 * classes they name (see predclasses.h): lookup without creation, and the
 * one-line refusal naming the classes the store lacks. */
#define _GNU_SOURCE
#include "predclasses.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "labels.h"

void predcls_init(struct predcls *pc)
{
  memset(pc, 0, sizeof(*pc));
  pc->fresh = -1;
}

int predcls_grow(struct predcls *pc, size_t n)
{
  if (n <= pc->n)
    return 0;
  char **pn = realloc(pc->name, n * sizeof(*pn));
  if (!pn)
    return -ENOMEM;
  pc->name = pn;
  uint32_t *pi = realloc(pc->id, n * sizeof(*pi));
  if (!pi)
    return -ENOMEM;
  pc->id = pi;
  for (size_t j = pc->n; j < n; j++) {
    pc->name[j] = NULL;
    pc->id[j] = 0;
  }
  pc->n = n;
  return 0;
}

int predcls_set(struct predcls *pc, size_t k, const char *name, size_t len)
{
  char *p = strndup(name, len);

  if (!p)
    return -ENOMEM;
  if (!labels_class_name_valid(p)) {
    free(p);
    return -EINVAL;
  }
  free(pc->name[k]);
  pc->name[k] = p;
  pc->id[k] = 0;
  return 0;
}

static int any_class(const struct store_class *sc, void *ud)
{
  (void)sc;
  (void)ud;
  return 1;
}

int predcls_lookup(struct predcls *pc, struct store_txn *t, size_t k,
                   uint32_t *ret)
{
  if (k >= pc->n || !pc->name[k])
    return -ENOENT;
  if (pc->fresh < 0) {
    /* Any class (store_class_count() is the largest id handed out,
     * which stays when every class was removed). */
    int r = store_classes_each(t, any_class, NULL);
    if (r < 0)
      return r;
    pc->fresh = r == 0;
  }
  if (!pc->id[k]) {
    int r = store_class_id(t, pc->name[k], pc->fresh == 1, &pc->id[k]);
    if (r == -ENOENT) {
      pc->id[k] = PREDCLS_UNKNOWN;
      pc->n_unknown++;
    } else if (r < 0) {
      return r;
    }
  }
  *ret = pc->id[k] == PREDCLS_UNKNOWN ? 0 : pc->id[k];
  return 0;
}

/* The store class whose name equals `name` ignoring ASCII letter case
 * (a store_classes_each callback). */
struct fold_find {
  const char *name;
  char found[LABELS_MAX_CLASS_NAME + 1];
};

static int fold_match(const struct store_class *sc, void *ud)
{
  struct fold_find *f = ud;

  if (strcasecmp(sc->name, f->name))
    return 0;
  snprintf(f->found, sizeof(f->found), "%s", sc->name);
  return 1;
}

int predcls_refusal(const struct predcls *pc, struct store_txn *t, char *err,
                    size_t errlen)
{
  char list[600] = "";
  size_t len = 0, shown = 0, n = pc->n_unknown;
  int r;

  for (size_t k = 0; k < pc->n && len < sizeof(list); k++) {
    struct fold_find f = { pc->name[k], "" };
    if (pc->id[k] != PREDCLS_UNKNOWN)
      continue;
    r = store_classes_each(t, fold_match, &f);
    if (r < 0)
      return r;
    shown++;
    len += (size_t)snprintf(list + len, sizeof(list) - len, "%s\"%s\"%s%s%s",
                            shown > 1 ? ", " : "", f.name,
                            f.found[0] ? " (the store has \"" : "",
                            f.found, f.found[0] ? "\": only letter case "
                            "differs)" : "");
  }
  return errf(err, errlen, -EINVAL, "%zu class%s of the predictions %s not "
              "a class of the store: %s%s; rename %s in the input or add %s "
              "to the classes first", n, n > 1 ? "es" : "",
              n > 1 ? "are" : "is", list, len >= sizeof(list) ? "..." : "",
              n > 1 ? "them" : "it", n > 1 ? "them" : "it");
}

void predcls_free(struct predcls *pc)
{
  for (size_t i = 0; i < pc->n; i++)
    free(pc->name[i]);
  free(pc->name);
  free(pc->id);
  predcls_init(pc);
}
