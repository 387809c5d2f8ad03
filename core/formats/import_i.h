/* import_i.h - what the import's two files share: import.c (the run over a
 * source) and import_folder.c (the folder source).  Private to them.
 *
 * Ownership: a struct pathvec owns its strings (import_pv_free()).  No
 * state is shared between the files; each run has its own.
 */
#ifndef CURATE_IMPORT_I_H
#define CURATE_IMPORT_I_H

#include <stddef.h>

#include "import.h"

/* A growing list of owned strings (paths). */
struct pathvec {
  char **v;
  size_t n, cap;
};

/* Appends a copy of s.  0 or -ENOMEM. */
int import_pv_push(struct pathvec *pv, const char *s);
void import_pv_free(struct pathvec *pv);
/* qsort comparator of two char * by strcmp. */
int import_cmp_str(const void *a, const void *b);

/* One problem file or skipped entry through the caller's report
 * callback, if any. */
void import_report(const struct import_opts *o, const char *rel,
                   const char *reason);

#endif
