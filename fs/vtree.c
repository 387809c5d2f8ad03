/* vtree.c - the registry of providers (see vtree.h for the table of which
 * file serves which top-level name). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "selection.h"
#include "views.h"
#include "vtree.h"

extern const struct provider prov_config, prov_views, prov_export, prov_cvat,
    prov_eval, prov_plots, prov_classes, prov_table;

const struct provider *const vtree_providers[] = {
  &prov_config,
  &prov_views,
  &prov_export,
  &prov_cvat,
  &prov_eval,
  &prov_plots,
  &prov_classes,
  &prov_table,
  NULL,
};

const struct provider *vtree_provider_of(const char *path, const char **rest)
{
  const char *slash = strchr(path, '/');
  size_t l = slash ? (size_t)(slash - path) : strlen(path);

  for (size_t i = 0; vtree_providers[i]; i++) {
    const char *n = vtree_providers[i]->name;
    if (strlen(n) == l && memcmp(n, path, l) == 0) {
      *rest = slash ? slash + 1 : "";
      return vtree_providers[i];
    }
  }
  return NULL;
}

/* Shared by providers: the store version as a content key (never 0). */
uint64_t vtree_version_key(struct store_txn *t)
{
  uint64_t v = 0;
  store_version(t, &v);
  return v + 1;
}

uint64_t vtree_store_version(struct fs_ctx *c)
{
  struct store_txn *t;
  uint64_t k = 0;

  if (store_txn_begin(c->store, false, &t) == 0) {
    k = vtree_version_key(t);
    store_txn_abort(t);
  }
  return k;
}

int read_whole(int fd, uint64_t size, uint8_t **ret, size_t *ret_len)
{
  uint8_t *p;
  size_t got = 0;

  *ret = NULL;
  *ret_len = 0;
  if (size > (1ULL << 31))
    return -EFBIG;
  p = malloc(size ? size : 1);
  if (!p)
    return -ENOMEM;
  while (got < size) {
    ssize_t n = pread(fd, p + got, size - got, (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      free(p);
      return -errno;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  *ret = p;
  *ret_len = got;
  return 0;
}

void vtree_start(struct fs_ctx *c)
{
  for (size_t i = 0; vtree_providers[i]; i++)
    if (vtree_providers[i]->start)
      vtree_providers[i]->start(c);
  warm_start(c);
}

void vtree_stop(struct fs_ctx *c)
{
  warm_stop_join(c);
  for (size_t i = 0; vtree_providers[i]; i++)
    if (vtree_providers[i]->stop)
      vtree_providers[i]->stop(c);
}

int vtree_selection(struct fs_ctx *c, struct store_txn *t, const char *spec,
                    uint64_t **ret, size_t *ret_n)
{
  char err[300];
  int r = selection_ids(c->views, t, spec, ret, ret_n, err, sizeof(err));

  if (r < 0 && r != -ENOENT)
    fs_error(c, "%s: %s", spec, err[0] ? err : strerror(-r));
  return r;
}

int vtree_selection_prepare(struct fs_ctx *c, const char *spec)
{
  char err[300];
  int r = selection_prepare(c->store, spec, err, sizeof(err));

  if (r < 0 && r != -ENOENT)
    fs_error(c, "%s: %s", spec, err[0] ? err : strerror(-r));
  return r;
}
