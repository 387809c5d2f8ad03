/* dynlib.c - dlopen and dlsym behind dynlib.h's load-once. */
#include "dynlib.h"

#include <dlfcn.h>
#include <errno.h>

#include "util.h"

/* Opens l's library and fills every slot: 0 with l->handle set, or
 * -ELIBACC with the reason logged and every slot NULL. */
static int load(struct dynlib *l)
{
  void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
  const char *why;

  if (!h) {
    why = dlerror();
    log_msg(LOG_LVL_ERROR, "cannot load %s: %s", l->soname,
            why ? why : "unknown reason");
    return -ELIBACC;
  }
  for (size_t i = 0; i < l->n; i++) {
    (void)dlerror();
    *l->syms[i].slot = dlsym(h, l->syms[i].name);
    if (!*l->syms[i].slot) {
      why = dlerror();
      log_msg(LOG_LVL_ERROR, "cannot load %s: no %s (%s)", l->soname,
              l->syms[i].name, why ? why : "null symbol");
      for (size_t k = 0; k < l->n; k++)
        *l->syms[k].slot = NULL;
      dlclose(h);
      return -ELIBACC;
    }
  }
  l->handle = h;
  return 0;
}

int dynlib_get(struct dynlib *l)
{
  /* The acquire pairs with the release below: a thread that sees the
   * library loaded also sees the table load() filled and what the hook
   * did. */
  int s = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);

  if (s == 0) {
    pthread_mutex_lock(&l->mu);
    if ((s = l->state) == 0) {
      int r = load(l);
      if (r == 0 && l->loaded)
        r = l->loaded(l);
      s = r < 0 ? r : 1;
      __atomic_store_n(&l->state, s, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&l->mu);
  }
  return s > 0 ? 0 : s;
}

void *dynlib_sym(struct dynlib *l, const char *name)
{
  return l->handle ? dlsym(l->handle, name) : NULL;
}
