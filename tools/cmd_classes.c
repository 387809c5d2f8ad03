/* cmd_classes.c - `curate classes`: list the class schema of a store, or add,
 * rename and remove classes - the same gestures (core/store/classes.h) as the
 * mount's `classes` file, each run as one transaction.
 *
 *   curate classes --store S                      list: id, boxes, name
 *   curate classes --store S add NAME...
 *   curate classes --store S rename OLD NEW
 *   curate classes --store S remove NAME...
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "classes.h"
#include "curate.h"
#include "store.h"
#include "util.h"

static void usage(FILE *f)
{
  fprintf(f,
    "usage: %s classes --store S                 list classes: id, boxes, name\n"
    "       %s classes --store S add NAME...\n"
    "       %s classes --store S rename OLD NEW   (boxes follow; id kept)\n"
    "       %s classes --store S remove NAME...   (only while no box uses it)\n"
    "Class ids never change and are never reused; exports use them.  A bad\n"
    "name, an existing name, an unknown class or a class still in use is\n"
    "refused with one line and exit status 1, and nothing changes.\n",
    prog, prog, prog, prog);
}

/* 1 when verb with nargs arguments is a valid use. */
static bool verb_ok(const char *verb, int nargs)
{
  if (strcmp(verb, "list") == 0)
    return nargs <= 0;   /* -1: no verb given, "list" by default */
  if (strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0)
    return nargs >= 1;
  if (strcmp(verb, "rename") == 0)
    return nargs == 2;
  return false;
}

/* list: the schema to stdout. */
static int classes_list(struct store_txn *t, char *err, size_t errlen)
{
  struct buf b;
  int r;

  buf_init(&b, 64u << 20);
  r = classes_render(t, &b);
  if (r == 0)
    fwrite(b.data, 1, b.len, stdout);
  else
    snprintf(err, errlen, "cannot read the classes: %s", strerror(-r));
  buf_free(&b);
  return r;
}

/* add, rename, remove: all of args in transaction t, committed when every
 * one succeeded. */
static int classes_change(struct store_txn *t, const char *verb,
                          char **args, int nargs, char *err, size_t errlen)
{
  int r = 0;

  if (strcmp(verb, "rename") == 0)
    r = classes_rename(t, args[0], args[1], err, errlen);
  for (int i = 0; r == 0 && strcmp(verb, "rename") && i < nargs; i++)
    r = verb[0] == 'a' ? classes_add(t, args[i], err, errlen)
                       : classes_remove(t, args[i], err, errlen);
  if (r < 0) {
    store_txn_abort(t);
    return r;
  }
  r = store_txn_commit(t);
  if (r < 0)
    snprintf(err, errlen, "cannot write the store: %s", strerror(-r));
  return r;
}

int cmd_classes(int argc, char **argv)
{
  static const struct option lo[] = {
    { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *store_dir = NULL, *verb;
  struct store *s;
  struct store_txn *t;
  char err[600] = "";
  int c, r = 0, nargs;
  bool list;

  optind = 1;
  while ((c = getopt_long(argc, argv, "+s:h", lo, NULL)) != -1) {
    if (c == 's') {
      store_dir = optarg;
    } else if (c == 'h') {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  verb = optind < argc ? argv[optind] : "list";
  nargs = argc - optind - 1;
  if (!store_dir || !verb_ok(verb, nargs)) {
    usage(stderr);
    return 2;
  }
  list = strcmp(verb, "list") == 0;
  if (tool_open_store(store_dir, false, list, &s) < 0)
    return 1;
  r = store_txn_begin(s, !list, &t);
  if (r < 0) {
    fprintf(stderr, "%s: classes: cannot open the store: %s\n", prog,
            strerror(-r));
    store_close(s);
    return 1;
  }
  if (list) {
    r = classes_list(t, err, sizeof(err));
    store_txn_abort(t);
  } else {
    r = classes_change(t, verb, argv + optind + 1, nargs, err, sizeof(err));
  }
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "%s: classes: %s%s\n", prog, err,
            list ? "" : "; nothing changed");
    return 1;
  }
  return 0;
}
