/* vtree.c - the registry of providers (see vtree.h for the table of which
 * file serves which top-level name) and the generated tree's state.
 *
 * The provider table below is data, listed in this one place: providers
 * never call back into the registry or its users (they use provlib.c,
 * warm.c and gencache.c below them), so the registry depends on them and
 * not the other way round.
 *
 * Ownership: c->vs and everything it points to is created by vtree_init()
 * (from state_init(), before the session) and freed by vtree_free() (from
 * state_free(), after the session and every thread ended).  Locking: none
 * here; each part locks itself (warm.c, evalsel.c, each provider's state).
 */
#include <errno.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "evalsel.h"
#include "views.h"
#include "vtree.h"

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

int vtree_init(struct fs_ctx *c)
{
  struct vtree_state *vs = calloc(1, sizeof(*vs));
  int r;

  if (!vs)
    return -ENOMEM;
  vs->providers = vtree_providers;
  c->vs = vs;
  r = warm_new(&vs->warm);
  if (r == 0)
    r = evalsel_new(&vs->evalsel);
  for (size_t i = 0; r == 0 && vtree_providers[i]; i++) {
    const struct provider *p = vtree_providers[i];
    if (!p->init)
      continue;
    /* One slot per provider with state, each its own. */
    assert(p->slot > PROV_SLOT_NONE && p->slot < PROV_SLOTS);
    assert(vs->prov[p->slot] == NULL);
    r = p->init(c, &vs->prov[p->slot]);
  }
  if (r < 0)
    vtree_free(c);
  return r;
}

void vtree_free(struct fs_ctx *c)
{
  struct vtree_state *vs = c->vs;
  size_t n = 0;

  if (!vs)
    return;
  while (vtree_providers[n])
    n++;
  while (n-- > 0) {
    const struct provider *p = vtree_providers[n];
    if (p->destroy && vs->prov[p->slot])
      p->destroy(c, vs->prov[p->slot]);
  }
  evalsel_free(vs->evalsel);
  warm_free(vs->warm);
  free(vs);
  c->vs = NULL;
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
  /* The warming thread may be inside an exact k-NN of the views, minutes
   * of work on a large dataset: stopping the views first makes the join
   * below wait one tile, not the whole run. */
  if (c->views)
    views_stop(c->views);
  warm_stop_join(c);
  for (size_t i = 0; vtree_providers[i]; i++)
    if (vtree_providers[i]->stop)
      vtree_providers[i]->stop(c);
}

void vtree_prepare(struct fs_ctx *c, uint64_t ino, const char *name)
{
  char path[PATH_MAX];
  const struct provider *p;
  const char *rest;
  size_t n;

  if (vnode_path(c, ino, path, sizeof(path)) < 0)
    return;
  n = strlen(path);
  if (name && (size_t)snprintf(path + n, sizeof(path) - n, "/%s", name) >=
                  sizeof(path) - n)
    return;
  p = vtree_provider_of(path, &rest);
  if (p && p->prepare)
    p->prepare(c, rest);
}

