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
 * Thread safety: dynlib_load() is for a pthread_once routine of the
 * calling module (or another single-threaded start), which also orders the
 * table's writes before every later use.
 */
#ifndef CURATE_DYNLIB_H
#define CURATE_DYNLIB_H

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

#endif
