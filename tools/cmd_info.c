/* cmd_info.c - `curate info`: sample, tag and box counts of a store, as
 * text or (--json) one JSON object.  Read-only: one read transaction. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "store.h"
#include "util.h"

#define INFO_USAGE " info --store STORE [--json]\n"

struct info_ctx {
  struct store_txn *t;
  bool json;
  bool first;
};

static void print_json_str(const char *v)
{
  struct buf b;

  buf_init(&b, 1 << 16);
  if (buf_json_str(&b, v, strlen(v)) == 0)
    fwrite(b.data, 1, b.len, stdout);
  buf_free(&b);
}

static int print_count(const char *field, uint32_t class_id, uint64_t count,
                       void *ud)
{
  struct info_ctx *ic = ud;
  const char *name = "?";

  store_class_name(ic->t, class_id, &name);
  if (ic->json) {
    printf("%s{\"field\": ", ic->first ? "" : ", ");
    print_json_str(field);
    printf(", \"class\": ");
    print_json_str(name);
    printf(", \"count\": %" PRIu64 "}", count);
    ic->first = false;
  } else {
    printf("  %s/%s: %" PRIu64 "\n", field, name, count);
  }
  return 0;
}

int cmd_info(int argc, char **argv)
{
  static const struct option opts[] = {
    { "store", required_argument, NULL, 's' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *store_dir = NULL;
  struct store *s;
  struct store_txn *t;
  struct store_iter *it;
  struct info_ctx ic = { NULL, false, true };
  uint64_t n = 0, next = 1, tid;
  const char *tname, *why;
  char buf[300];
  int c, r;

  while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
    switch (c) {
    case 's': store_dir = optarg; break;
    case 'j': ic.json = true; break;
    case 'h': tool_usage(stdout); return 0;
    default: fprintf(stderr, "usage: %s" INFO_USAGE, prog); return 2;
    }
  }
  why = tool_args_problem(store_dir != NULL, argc, argv, 0, NULL, buf,
                          sizeof(buf));
  if (why)
    return tool_usage_error("info", INFO_USAGE, "%s", why);
  if (tool_open_store(store_dir, false, true, &s) < 0)
    return 1;
  r = store_txn_begin(s, false, &t);
  ic.t = t;
  if (r == 0)
    r = store_sample_count(t, &n);
  if (r == 0) {
    if (ic.json)
      printf("{\"samples\": %" PRIu64 ", \"tags\": {", n);
    else
      printf("samples: %" PRIu64 "\ntags:\n", n);
    r = store_iter_new(t, &it);
    while (r == 0 && store_iter_tags(it, next, &tid, &tname) == 0) {
      uint64_t cnt = 0;
      store_tag_get(t, tid, NULL, &cnt, NULL);
      if (ic.json) {
        printf("%s", next == 1 ? "" : ", ");
        print_json_str(tname);
        printf(": %" PRIu64, cnt);
      } else {
        printf("  %s: %" PRIu64 "\n", tname, cnt);
      }
      next = tid + 1;
    }
    store_iter_free(it);
    printf(ic.json ? "}, \"boxes\": [" : "boxes:\n");
    r = store_counts_each(t, print_count, &ic);
    if (ic.json)
      printf("]}\n");
  }
  store_txn_abort(t);
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "%s: cannot read store: %s\n", prog, strerror(-r));
    return 1;
  }
  return 0;
}
