/* cmd_check.c - `curate check`: the deep consistency check of a store
 * (store_check()), and with --repair the rebuild of its derived records
 * from the primary ones.  Each problem is one line on stdout; the last
 * line sums up.  Exit status: 0 when the store is consistent (or was
 * repaired), 1 when problems remain or the store cannot be read, 2 for
 * usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "store.h"

static void check_usage(FILE *f)
{
  fprintf(f,
    "usage: %s check --store STORE [--repair]\n"
    "\n"
    "Reads every record of STORE and reports, one line each, records that\n"
    "do not decode, ids that point at nothing, and derived records (name,\n"
    "path and tag indexes, tag member counts, box counts) that disagree\n"
    "with the records they derive from.  --repair rewrites them in one\n"
    "transaction: records that cannot be read are removed (a re-import\n"
    "brings missing samples back), derived records are rebuilt.\n",
    prog);
}

static void on_problem(const char *msg, void *ud)
{
  const char *mode = ud;
  printf("%s: %s\n", mode, msg);
}

int cmd_check(int argc, char **argv)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "repair", no_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *dir = NULL;
  bool repair = false;
  struct store *s;
  uint64_t n = 0;
  int c, r;

  while ((c = getopt_long(argc, argv, "s:rh", opts, NULL)) != -1) {
    switch (c) {
    case 's': dir = optarg; break;
    case 'r': repair = true; break;
    case 'h': check_usage(stdout); return 0;
    default: check_usage(stderr); return 2;
    }
  }
  if (!dir || optind != argc) {
    check_usage(stderr);
    return 2;
  }
  if (tool_open_store(dir, false, !repair, &s) < 0)
    return 1;
  r = store_check(s, repair, on_problem, repair ? "repaired" : "problem", &n);
  store_close(s);
  fflush(stdout);
  if (r == -EIO) {
    fprintf(stderr, "%s: store '%s' is damaged below its records (LMDB "
            "reports a broken B-tree)%s; restore a copy or import again "
            "into a new store\n", prog, dir,
            repair ? " and cannot be repaired in place" : "");
    return 1;
  }
  if (r == -ENOTRECOVERABLE) {
    fprintf(stderr, "%s: store '%s': %" PRIu64 " problems, some of which "
            "--repair cannot decide (listed above); nothing was changed\n",
            prog, dir, n);
    return 1;
  }
  if (r < 0) {
    fprintf(stderr, "%s: check of store '%s' failed: %s\n", prog, dir,
            strerror(-r));
    return 1;
  }
  if (n == 0) {
    printf("store '%s': consistent\n", dir);
    return 0;
  }
  if (repair) {
    printf("store '%s': %" PRIu64 " problems repaired\n", dir, n);
    return 0;
  }
  fprintf(stderr, "%s: store '%s': %" PRIu64 " problems; `%s check --repair "
          "--store %s` rebuilds what can be rebuilt\n", prog, dir, n, prog,
          dir);
  return 1;
}
