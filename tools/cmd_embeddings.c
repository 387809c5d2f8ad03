/* cmd_embeddings.c - `curate embeddings`: import external embeddings (a
 * NumPy .npy matrix plus a file of sample names, one per row) into a
 * store, drop them, or export the embeddings in use in the same form.  While
 * external embeddings are present they are
 * used instead of the computed features (featstore.h).  All checking is
 * done by featstore_import_npy(); this file only parses arguments and
 * prints its one-line reason.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "featstore.h"
#include "store.h"

static void emb_usage(FILE *f)
{
  fprintf(f,
    "usage: %s embeddings --store STORE --npy FILE.npy --names FILE.txt\n"
    "       %s embeddings --store STORE --clear\n"
    "       %s embeddings --store STORE --export FILE.npy --names FILE.txt\n"
    "                     [--json]\n"
    "\n"
    "Replaces the external embeddings of STORE with the rows of FILE.npy\n"
    "(float32 or float64, shape (N, D)); FILE.txt names the sample of each\n"
    "row, one per line (as in samples/, with or without .jpg).  --clear\n"
    "drops them, so the features computed at import are used again.\n"
    "--export writes the embeddings in use (imported ones, else the\n"
    "computed features) as FILE.npy (float32, shape (N, D)) and FILE.txt,\n"
    "in the form --npy reads back.  --json prints the result as JSON.\n"
    "Exit status: 0 done, 1 failed (nothing changed), 2 usage error.\n",
    prog, prog, prog);
}

static void on_reason(const char *reason, void *ud)
{
  const char **first = ud;

  if (!*first)
    fprintf(stderr, "%s embeddings: %s\n", prog, reason);
  *first = reason;
}

int cmd_embeddings(int argc, char **argv)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "npy", required_argument, NULL, 'n' },
    { "names", required_argument, NULL, 'm' },
    { "clear", no_argument, NULL, 'c' },
    { "export", required_argument, NULL, 'e' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *store_dir = NULL, *npy = NULL, *names = NULL, *said = NULL;
  const char *out = NULL;
  bool clear = false, json = false;
  size_t dim = 0;
  struct store *s;
  size_t n = 0;
  int c, r;

  while ((c = getopt_long(argc, argv, "s:n:m:ce:jh", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_dir = optarg; break;
    case 'n': npy = optarg; break;
    case 'm': names = optarg; break;
    case 'c': clear = true; break;
    case 'e': out = optarg; break;
    case 'j': json = true; break;
    case 'h': emb_usage(stdout); return 0;
    default: emb_usage(stderr); return 2;
    }
  }
  if (!store_dir || optind != argc || (clear + !!npy + !!out) != 1 ||
      (clear ? names != NULL : !names)) {
    emb_usage(stderr);
    return 2;
  }
  r = tool_open_store(store_dir, false, out != NULL, &s);
  if (r < 0)
    return 1;
  if (out) {
    r = featstore_export_npy(s, out, names, &n, &dim);
    store_close(s);
    if (r < 0) {
      fprintf(stderr, "%s embeddings: cannot export to '%s': %s\n", prog,
              out, r == -ENODATA ? "no sample has an embedding yet"
                                 : strerror(-r));
      return 1;
    }
    if (json)
      printf("{\"exported\": %zu, \"dim\": %zu}\n", n, dim);
    else
      printf("exported %zu embeddings of dimension %zu to %s and %s\n", n,
             dim, out, names);
    return 0;
  }
  if (clear)
    r = featstore_clear_external(s, &n);
  else
    r = featstore_import_npy(s, npy, names, on_reason, &said, &n);
  store_close(s);
  if (r < 0) {
    if (!said)
      fprintf(stderr, "%s embeddings: %s\n", prog, strerror(-r));
    else if (!clear)
      fprintf(stderr, "%s embeddings: nothing changed\n", prog);
    return 1;
  }
  if (json)
    printf("{\"%s\": %zu}\n", clear ? "removed" : "imported", n);
  else if (clear)
    printf("removed %zu external embeddings\n", n);
  else
    printf("imported %zu external embeddings from %s\n", n, npy);
  return 0;
}
