/* dynlib.h - loading an outside library when it is first needed.
 *
 * A shared library the programs link with is loaded, relocated and paged
 * in at every start, whether the command uses it or not; on the virtual
 * machines we measure on a page fault costs ~17 us, and libtiff (with the
 * LERC codec and the C++ runtime it pulls in), libzip (with libcrypto) and
 * FreeType (with libpng and brotli) took `curate`'s start from ~4 to ~13 ms
 * of CPU.  So the module that wraps such a library builds against its
 * header only and loads it on its first use: a table of function pointers,
 * typed with the header's own declarations (typeof), filled once by
 * dynlib_load().
 *
 * A module declares its table and a struct dynlib for it (DYNLIB_INIT)
 * and calls dynlib_get() before its first call through the table.
 *
 * Thread safety: dynlib_get() may be called from any thread; the first
 * call loads (under the struct's mutex) and every later one returns its
 * result, with the table's writes ordered before it.  dynlib_load() itself
 * is for a single-threaded start or a module's own once routine.
 */
#ifndef CURATE_DYNLIB_H
#define CURATE_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

/* One function of the library: its name and where its address goes.
 * Declare the slot with the library's own prototype, e.g.
 *   typeof(TIFFClose) *Close;   ...   { "TIFFClose", (void **)&lt.Close } */
struct dynsym {
  const char *name;
  void **slot;
};

/* Loads the library by its soname (RTLD_NOW | RTLD_LOCAL, so nothing it
 * defines is seen by other libraries) and fills every slot.  0, or
 * -ELIBACC when the library or any of the functions is missing: the
 * loader's reason is logged as an error naming the library, the slots are
 * all NULL and the library is not kept loaded. */
int dynlib_load(const char *soname, const struct dynsym *syms, size_t n);

/* One library of a module, loaded by the first dynlib_get(). */
struct dynlib {
  const char *soname;
  const struct dynsym *syms;
  size_t n;
  pthread_mutex_t mu;
  int state;   /* 0: not tried; 1: loaded; < 0: dynlib_load's error */
};
#define DYNLIB_INIT(soname, syms)                                          \
  { (soname), (syms), sizeof(syms) / sizeof((syms)[0]),                    \
    PTHREAD_MUTEX_INITIALIZER, 0 }

/* 0 once l's library is loaded (loading it on the first call), or
 * -ELIBACC, remembered, when it cannot be (logged once). */
int dynlib_get(struct dynlib *l);

#endif
