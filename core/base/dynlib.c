/* dynlib.c - dlopen and dlsym behind dynlib.h's one call. */
#include "dynlib.h"

#include <dlfcn.h>
#include <errno.h>

#include "util.h"

int dynlib_load(const char *soname, const struct dynsym *syms, size_t n)
{
  void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  const char *why;

  if (!h) {
    why = dlerror();
    log_msg(LOG_LVL_ERROR, "cannot load %s: %s", soname,
            why ? why : "unknown reason");
    return -ELIBACC;
  }
  for (size_t i = 0; i < n; i++) {
    (void)dlerror();
    *syms[i].slot = dlsym(h, syms[i].name);
    if (!*syms[i].slot) {
      why = dlerror();
      log_msg(LOG_LVL_ERROR, "cannot load %s: no %s (%s)", soname,
              syms[i].name, why ? why : "null symbol");
      for (size_t k = 0; k < n; k++)
        *syms[k].slot = NULL;
      dlclose(h);
      return -ELIBACC;
    }
  }
  return 0;
}

int dynlib_get(struct dynlib *l)
{
  /* The acquire pairs with the release below: a thread that sees the
   * library loaded also sees the table dynlib_load() filled. */
  int s = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);

  if (s == 0) {
    pthread_mutex_lock(&l->mu);
    if ((s = l->state) == 0) {
      int r = dynlib_load(l->soname, l->syms, l->n);
      s = r < 0 ? r : 1;
      __atomic_store_n(&l->state, s, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&l->mu);
  }
  return s > 0 ? 0 : s;
}
