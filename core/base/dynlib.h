/* dynlib.h - loading an outside library when it is first needed.
 *
 * A shared library the programs link with is loaded, relocated and paged
 * in at every start, whether the command uses it or not; on the virtual
 * machines we measure on a page fault costs ~17 us, and libtiff (with the
 * LERC codec and the C++ runtime it pulls in), libzip (with libcrypto) and
 * FreeType (with libpng and brotli) took `curate`'s start from ~4 to ~13 ms
 * of CPU; libcurl (25 libraries) and OpenBLAS (its relocations and server
 * threads) cost ~5 and ~3 ms more.  So the module that wraps such a
 * library builds against its header only and loads it on its first use: a
 * table of function pointers, typed with the header's own declarations
 * (typeof), filled once by the first dynlib_get().  This file is the one
 * user of dlopen.
 *
 * A module declares its table and a static struct dynlib for it
 * (DYNLIB_INIT, or DYNLIB_INIT_LOADED when the library needs a step of its
 * own once loaded) and calls dynlib_get() before its first call through
 * the table.  The struct, the table and the loaded library belong to the
 * module and live as long as the process: nothing is ever unloaded.
 *
 * Thread safety: dynlib_get() may be called from any thread; the first
 * call loads and runs the loaded hook (both under the struct's mutex, so
 * concurrent first calls wait for them) and every later one returns its
 * result, with the table's writes and the hook's effects ordered before
 * it.
 */
#ifndef CURATE_DYNLIB_H
#define CURATE_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

/* One function of the library: its name and where its address goes. */
struct dynsym {
  const char *name;
  void **slot;
};

/* A module's table from one list, each function named once: the static
 * struct `table` of slots, each declared with the library's own prototype
 * (typeof), and `table`_syms for DYNLIB_INIT.  FUNCS(X, t) expands
 * X(t, function, slot) once per function, e.g.
 *   #define LT_FUNCS(X, t) X(t, TIFFClose, Close) X(t, TIFFIsTiled, IsTiled)
 *   DYNLIB_TABLE(lt, LT_FUNCS);   ...   lt.Close(tif); */
#define DYNLIB_SLOT_(t, fn, slot) typeof(fn) *slot;
#define DYNLIB_SYM_(t, fn, slot) { #fn, (void **)&t.slot },
#define DYNLIB_TABLE(table, FUNCS)                                         \
  static struct {                                                          \
    FUNCS(DYNLIB_SLOT_, table)                                             \
  } table;                                                                 \
  static const struct dynsym table##_syms[] = { FUNCS(DYNLIB_SYM_, table) }

/* One library of a module, loaded by the first dynlib_get(). */
struct dynlib {
  const char *soname;
  const struct dynsym *syms;
  size_t n;
  /* Run once, under the mutex, after the library and every function of
   * syms were found: 0, or a negative errno that dynlib_get() then returns
   * for good (the library stays loaded: what the hook started, such as a
   * library's global state, is not undone).  NULL: nothing to run. */
  int (*loaded)(struct dynlib *l);
  pthread_mutex_t mu;
  void *handle;   /* the library, once loaded */
  int state;      /* 0: not tried; 1: loaded; < 0: the error returned */
};
#define DYNLIB_INIT_LOADED(soname, syms, loaded)                           \
  { (soname), (syms), sizeof(syms) / sizeof((syms)[0]), (loaded),          \
    PTHREAD_MUTEX_INITIALIZER, NULL, 0 }
#define DYNLIB_INIT(soname, syms) DYNLIB_INIT_LOADED(soname, syms, NULL)

/* 0 once l's library is loaded (loading it, by its soname, on the first
 * call, with RTLD_NOW | RTLD_LOCAL so nothing it defines is seen by other
 * libraries, then running l->loaded), or a negative errno, remembered:
 * -ELIBACC when the library or any function of the table is missing (the
 * loader's reason logged once as an error naming the library; the table
 * is left all NULL and the library is not kept), else the hook's error. */
int dynlib_get(struct dynlib *l);

/* A function the library may lack (one of a newer version, or of one of
 * its builds only): its address, or NULL when the library has no such
 * symbol.  Only from l->loaded or after dynlib_get(l) returned 0. */
void *dynlib_sym(struct dynlib *l, const char *name);

#endif
