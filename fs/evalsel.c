/* evalsel.c - which stored evaluation the mount shows, kept fresh (see
 * evalsel.h).
 *
 * Ownership: struct evalsel is the generated tree's (vtree_state.evalsel),
 * created by vtree_init() and freed by vtree_free().  Locking: mu guards
 * the last evaluation found fresh; the refresh itself runs unlocked (two
 * concurrent refreshes of one stale evaluation both check,
 * core/views/evalrun.c re-runs it once).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evallatest.h"
#include "evalrun.h"
#include "evalsel.h"
#include "vtree.h"

/* The last evaluation found fresh and the store version it was checked
 * at: the freshness check walks every sample's label version when the
 * store changed for other reasons (tags, settings), and views ask for it
 * at every lookup. */
struct evalsel {
  pthread_mutex_t mu;
  char fresh_name[EVALRUN_MAX_NAME + 1];  /* under mu */
  uint64_t fresh_version;                 /* under mu */
};

int evalsel_new(struct evalsel **ret)
{
  struct evalsel *e = calloc(1, sizeof(*e));

  *ret = e;
  if (!e)
    return -ENOMEM;
  pthread_mutex_init(&e->mu, NULL);
  return 0;
}

void evalsel_free(struct evalsel *e)
{
  if (!e)
    return;
  pthread_mutex_destroy(&e->mu);
  free(e);
}

int evalsel_latest(struct fs_ctx *c, char *out, size_t outlen)
{
  return evallatest_find(c->store, out, outlen);
}

int evalsel_refresh(struct fs_ctx *c, const char *name, double max_age_s)
{
  struct evalsel *e = c->vs->evalsel;
  char err[300] = "";
  uint64_t v = provlib_store_version(c);
  bool known;
  int r;

  if (c->readonly)
    return 0;
  pthread_mutex_lock(&e->mu);
  known = e->fresh_version == v && strcmp(e->fresh_name, name) == 0;
  pthread_mutex_unlock(&e->mu);
  if (known)
    return 0;
  r = evalrun_refresh_recent(c->store, name, max_age_s, err, sizeof(err));
  if (r < 0)
    fs_error(c, "eval %s: re-run after label changes failed: %s", name, err);
  else if (r == 1) {
    log_msg(LOG_LVL_INFO, "eval %s: re-run after label changes", name);
    notify_store_changed(c);  /* names of views and exports it changed */
  }
  if (r >= 0) {
    pthread_mutex_lock(&e->mu);
    snprintf(e->fresh_name, sizeof(e->fresh_name), "%s", name);
    /* after a re-run: the new version */
    e->fresh_version = provlib_store_version(c);
    pthread_mutex_unlock(&e->mu);
  }
  return r < 0 ? r : 0;
}
