/* cmd_snapshot.c - `curate snapshot`: a consistent, compacted copy of a
 * store while the daemon (or an import) keeps writing to it, for
 * read-only replicas on other machines (store_snapshot()).  Exit status:
 * 0 when the copy is complete, 1 when it failed (nothing is left at OUT),
 * 2 for usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "store.h"

static void snapshot_usage(FILE *f)
{
  fprintf(f,
    "usage: %s snapshot --store STORE OUT\n"
    "\n"
    "Writes a consistent copy of STORE into the new folder OUT while the\n"
    "mount and imports go on: one version of the store, compacted. Mount\n"
    "the copy elsewhere with -o readonly; it keeps serving that version.\n",
    prog);
}

int cmd_snapshot(int argc, char **argv)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *dir = NULL;
  struct store *s;
  int c, r;

  while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
    switch (c) {
    case 's': dir = optarg; break;
    case 'h': snapshot_usage(stdout); return 0;
    default: snapshot_usage(stderr); return 2;
    }
  }
  if (!dir || optind + 1 != argc) {
    snapshot_usage(stderr);
    return 2;
  }
  if (tool_open_store(dir, false, true, &s) < 0)
    return 1;
  r = store_snapshot(s, argv[optind]);
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "%s: snapshot of '%s' into '%s': %s\n", prog, dir,
            argv[optind], r == -EEXIST ? "OUT already exists" : strerror(-r));
    return 1;
  }
  printf("snapshot of %s written to %s\n", dir, argv[optind]);
  return 0;
}
