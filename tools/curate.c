/* curate - the command-line tool over core/: import a folder (and COCO
 * labels) into a store, export it, and print what a store holds.  It never
 * mounts anything; curatefs (fs/) is the daemon.
 *
 * This file is the command table and main() only: each subcommand lives
 * in its own file (cmd_*.c, declared in curate.h) and shares what it needs
 * through tool.c, so the table is the only link between them.
 *
 * Errors: one line on stderr and a non-zero exit status; nothing half-done
 * is left in the store (every change is one transaction).
 */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "store.h"
#include "util.h"

/* Subcommands: each lives in its own file (tools/cmd_*.c) and is declared
 * in curate.h; add one row here to register another. */
static const struct command commands[] = {
  { "import", cmd_import },
  { "info", cmd_info },
  { "export", cmd_export },
  { "import-labels", cmd_import_labels },
  { "cvat", cmd_cvat },
  { "predictions", cmd_predictions },
  { "eval", cmd_eval },
  { "embeddings", cmd_embeddings },
  { "check", cmd_check },
  { "snapshot", cmd_snapshot },
  { "table", cmd_table },
  { "classes", cmd_classes },
};

int main(int argc, char **argv)
{
  if (argc < 2) {
    tool_usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    tool_usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("curate %s\n", CURATEFS_VERSION);
    return 0;
  }
  /* Keep freed heap memory instead of handing it back at once.  LMDB
   * allocates each dirty page of a write transaction (every record over a
   * page, such as a sample's features and thumbnail, gets pages of its
   * own) and frees them one by one at commit; with glibc's default
   * threshold nearly every one of those frees shrank the heap, and each
   * shrink of a threaded process stops the other CPUs to flush their TLBs
   * (1,767 shrinks in a 2,000-file import, a sixth of its CPU time).  The
   * tool is a short-lived batch process, so the kept memory goes back
   * at exit. */
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (strcmp(argv[1], commands[i].name) == 0) {
      int rc = commands[i].fn(argc - 1, argv + 1);
      /* "Input/output error" alone does not say the store is damaged. */
      if (rc != 0 && store_damage())
        fprintf(stderr, "%s: %s; run `%s check --store STORE`\n", prog,
                store_damage(), prog);
      return rc;
    }
  fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
  tool_usage(stderr);
  return 2;
}
