/* prov_classes.c - the `classes` file at the root: the class schema.
 *
 * Reading lists every class with its id and box count
 * (core/store/classes.h).
 * Writing runs commands, one per line; the lines of one write(2) run in
 * one transaction (a document written in several writes runs write by
 * write, see provider.lines):
 *   echo 'add cat' > classes
 *   echo 'rename cat -> feline' > classes
 *   echo 'remove dog' > classes
 * A refused command fails the write(2) with its errno (EINVAL a bad name or
 * command, EEXIST, ENOENT, EBUSY a class that boxes still use) and changes
 * nothing; the reason goes to the log and `status`.  A rename changes the
 * class name in every labels/<n>.json that uses it, so the kernel's cached
 * attributes of the label files are dropped after it.
 *
 * State: none (no ->init); the lines of one write(2) are one write
 * transaction. */
#include <errno.h>
#include <string.h>

#include "classes.h"
#include "vtree.h"

static int k_stat(struct fs_ctx *c, struct store_txn *t, const char *path,
                  struct vent *ret)
{
  (void)c;
  if (*path)
    return -ENOTDIR;
  memset(ret, 0, sizeof(*ret));
  ret->kind = VENT_CTL;
  ret->key = provlib_version_key(t);
  return 0;
}

static int k_generate(struct fs_ctx *c, struct store_txn *t,
                      const char *path, const struct sink *out)
{
  (void)c;
  (void)path;
  return provlib_render(t, 64u << 20, classes_render, out);
}

static bool has_rename(const char *data, size_t len)
{
  for (size_t i = 0; i + 6 <= len; i++)
    if (memcmp(data + i, "rename", 6) == 0)
      return true;
  return false;
}

static int k_write(struct fs_ctx *c, const char *path, const char *data,
                   size_t len)
{
  struct store_txn *t;
  char err[512] = "";
  unsigned changed = 0;
  int r;

  (void)path;
  r = store_txn_begin(c->store, true, &t);
  if (r < 0) {
    fs_error(c, "classes: cannot open the store: %s", strerror(-r));
    return r;
  }
  r = classes_run(t, data, len, &changed, err, sizeof(err));
  if (r < 0) {
    store_txn_abort(t);
    fs_error(c, "classes: refused, nothing changed: %s", err);
    return r;
  }
  r = store_txn_commit(t);
  if (r < 0) {
    fs_error(c, "classes: write failed, nothing changed: %s", strerror(-r));
    return r;
  }
  if (changed) {
    log_msg(LOG_LVL_INFO, "classes: %u change(s)", changed);
    /* A rename shows in the label documents of its boxes. */
    if (has_rename(data, len))
      notify_labels(c, NULL, 0);
  }
  return 0;
}

const struct provider prov_classes = {
  .name = "classes",
  .stat = k_stat,
  .list = provlib_list_none,
  .generate = k_generate,
  .write = k_write,
  .command = true,
  .lines = true,
};
