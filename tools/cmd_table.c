/* cmd_table.c - `curate table`: the per-sample table (core/views/table.h) of a
 * store on stdout, as CSV (the bytes samples.csv serves for the same store
 * version) or JSON Lines.  The latest evaluation is re-run first if its
 * labels changed since, as the mount does, unless --read-only.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "evallatest.h"
#include "evalrun.h"
#include "store.h"
#include "table.h"
#include "views.h"

static void table_usage(FILE *f)
{
  fprintf(f,
    "usage: %s table --store STORE [--format csv|jsonl] [--read-only]\n"
    "\n"
    "Prints one row per sample of STORE: name, path, format, width, height,\n"
    "bytes, tags, uniqueness, unique_rank, neardup_group, nn_distance,\n"
    "boxes_<field> per label field, and the latest evaluation's eval_tp,\n"
    "eval_fp, eval_fn and mistakenness; the same table as samples.csv in the\n"
    "mount.  csv (default): RFC 4180 with a header line; jsonl: one JSON\n"
    "object per line (--json is the same as --format jsonl).  The latest\n"
    "evaluation is re-run first if labels changed since it ran, unless\n"
    "--read-only (then it is shown as it was stored, and the views' lists\n"
    "are not kept in the store's folder).\n"
    "Exit status: 0 done, 1 failed, 2 usage error.\n",
    prog);
}

static int out_stdout(void *ud, const void *p, size_t n)
{
  (void)ud;
  return fwrite(p, 1, n, stdout) == n ? 0 : -EIO;
}

int cmd_table(int argc, char **argv)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "format", required_argument, NULL, 'f' },
    { "json", no_argument, NULL, 'j' },
    { "read-only", no_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *store_dir = NULL;
  enum table_format fmt = TABLE_CSV;
  char ev[EVALRUN_MAX_NAME + 1] = "", err[300] = "";
  bool ro = false;
  struct store *s;
  struct store_txn *t = NULL;
  struct views *v = NULL;
  struct table *tb = NULL;
  int c, r;

  while ((c = getopt_long(argc, argv, "s:f:jrh", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_dir = optarg; break;
    case 'f':
      if (strcmp(optarg, "csv") == 0) {
        fmt = TABLE_CSV;
      } else if (strcmp(optarg, "jsonl") == 0) {
        fmt = TABLE_JSONL;
      } else {
        fprintf(stderr, "%s table: unknown format '%s' (csv, jsonl)\n", prog,
                optarg);
        return 2;
      }
      break;
    case 'j': fmt = TABLE_JSONL; break;
    case 'r': ro = true; break;
    case 'h': table_usage(stdout); return 0;
    default: table_usage(stderr); return 2;
    }
  }
  if (!store_dir || optind != argc) {
    table_usage(stderr);
    return 2;
  }
  if (tool_open_store(store_dir, false, ro, &s) < 0)
    return 1;
  r = views_new(s, &v);
  if (r == 0 && ro)
    views_keep(v, false);  /* it promised not to write */
  if (r == 0 && evallatest_find(s, ev, sizeof(ev)) == 0 && !ro &&
      evalrun_refresh(s, ev, err, sizeof(err)) < 0) {
    fprintf(stderr, "%s table: re-running evaluation '%s' failed: %s\n",
            prog, ev, err);
    r = -EIO;
  }
  if (r == 0)
    r = store_txn_begin(s, false, &t);
  if (r == 0)
    r = table_new(v, t, ev[0] ? ev : NULL, &tb);
  if (r == 0)
    r = table_write(tb, t, fmt, out_stdout, NULL);
  if (r == 0 && fflush(stdout) != 0)
    r = -errno;
  if (r < 0 && !err[0])
    fprintf(stderr, "%s table: %s\n", prog, strerror(-r));
  table_free(tb);
  if (t)
    store_txn_abort(t);
  views_free(v);
  store_close(s);
  return r < 0 ? 1 : 0;
}
