/* evallatest.c - the latest evaluation (see evallatest.h): a walk over the
 * stored evaluations' summaries. */
#include "evallatest.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "evalrun.h"

struct latest_ctx {
  struct store_txn *t;
  char *out;
  size_t outlen;
  int64_t best;
};

static int pick_latest(const char *name, void *ud)
{
  struct latest_ctx *l = ud;
  struct evalrun_info info;

  if (evalrun_get(l->t, name, &info) == 0 && info.created_ns >= l->best) {
    l->best = info.created_ns;
    snprintf(l->out, l->outlen, "%s", name);
  }
  return 0;
}

int evallatest_name(struct store_txn *t, char *out, size_t outlen)
{
  struct latest_ctx l = { t, out, outlen, INT64_MIN };
  int r;

  out[0] = '\0';
  r = evalrun_each(t, pick_latest, &l);
  if (r < 0)
    return r;
  return out[0] ? 0 : -ENOENT;
}

int evallatest_find(struct store *s, char *out, size_t outlen)
{
  struct store_txn *t;
  int r = store_txn_begin(s, false, &t);

  if (r < 0)
    return r;
  r = evallatest_name(t, out, outlen);
  store_txn_abort(t);
  return r;
}
