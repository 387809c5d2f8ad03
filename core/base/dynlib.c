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
