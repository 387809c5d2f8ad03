/* prov_config.c - the `config` file at the root: reading shows every
 * setting with its value and a comment (core/store/config.h), writing
 * "key = value" lines changes them in one transaction, or fails with
 * EINVAL and changes nothing.  The reason goes to the log and `status`.
 *
 * State: none (no ->init); every call works in a transaction of its own
 * or the caller's. */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "vtree.h"

static int cfg_stat(struct fs_ctx *c, struct store_txn *t, const char *path,
                    struct vent *ret)
{
  (void)c;
  if (*path)
    return -ENOTDIR;
  memset(ret, 0, sizeof(*ret));
  ret->kind = VENT_CTL;
  /* Secrets are not in the store: their changes count too. */
  ret->key = provlib_version_key(t) * 1000003 + config_secret_generation();
  return 0;
}

static int cfg_generate(struct fs_ctx *c, struct store_txn *t,
                        const char *path, const struct sink *out)
{
  (void)c;
  (void)path;
  return provlib_render(t, 1 << 20, config_render, out);
}

/* Applies (commit) or only checks the document. */
static int cfg_apply(struct fs_ctx *c, const char *data, size_t len,
                     bool commit)
{
  struct store_txn *t;
  char err[400] = "";
  unsigned changed = 0;
  int r = store_txn_begin(c->store, true, &t);

  if (r < 0)
    return r;
  r = config_apply(t, data, len, err, sizeof(err), &changed);
  if (r == 0 && commit)
    r = store_txn_commit(t);
  else
    store_txn_abort(t);
  if (r == -EINVAL)
    fs_error(c, "config: write rejected, nothing changed: %s", err);
  else if (r < 0)
    fs_error(c, "config: write failed, nothing changed: %s", strerror(-r));
  else if (commit && changed)
    log_msg(LOG_LVL_INFO, "config: %u setting(s) changed", changed);
  return r;
}

static int cfg_write(struct fs_ctx *c, const char *path, const char *data,
                     size_t len)
{
  (void)path;
  return cfg_apply(c, data, len, true);
}

static int cfg_check(struct fs_ctx *c, const char *path, const char *data,
                     size_t len)
{
  (void)path;
  return cfg_apply(c, data, len, false);
}

const struct provider prov_config = {
  .name = "config",
  .stat = cfg_stat,
  .list = provlib_list_none,
  .generate = cfg_generate,
  .write = cfg_write,
  .check = cfg_check,
};
