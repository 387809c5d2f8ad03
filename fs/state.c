/* state.c - the one place where the daemon's tables are created and
 * freed, in order (see fs.h, struct fs_ctx).
 *
 * Everything is created before the session starts, so no request thread
 * ever creates a table under a global lock, and freed once the session
 * and every thread of the daemon ended, in the reverse order of the
 * dependencies: the providers' state first (it may hold content), then the
 * vnode table (its records hold content references), then the content
 * cache, passthrough and the samples' generations.
 */
#include "passthrough.h"
#include "vtree.h"

int state_init(struct fs_ctx *c)
{
  int r;

  pthread_mutex_init(&c->hmu, NULL);
  pthread_mutex_init(&c->notice_mu, NULL);
  r = fs_gen_new(c);

  if (r == 0)
    r = pt_new(c);
  if (r == 0)
    r = gen_cache_new(c);
  if (r == 0)
    r = vnode_table_new(c);
  if (r == 0)
    r = fdcache_new(c);
  if (r == 0)
    r = srcmemo_new(c);
  if (r == 0)
    r = vtree_init(c);
  if (r < 0)
    state_free(c);
  return r;
}

void state_free(struct fs_ctx *c)
{
  ops_release_all(c);   /* first: handles hold cache and vnode references */
  store_snaps_free(c->snaps);  /* before the store closes (main.c) */
  c->snaps = NULL;
  vtree_free(c);
  fdcache_free(c);
  srcmemo_free(c);
  vnode_free_all(c);
  gen_cache_free(c);
  pt_free(c);
  fs_gen_free(c);
}
