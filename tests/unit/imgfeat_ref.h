/* imgfeat_ref.h - the reference feature computation (imgfeat_ref.c), for
 * comparing the library's fast path with it. */
#ifndef CURATE_TESTS_IMGFEAT_REF_H
#define CURATE_TESTS_IMGFEAT_REF_H

#include "imgfeat.h"

/* imgfeat_compute() as plain scalar loops: same arguments and result. */
int imgfeat_ref_compute(const struct image *im, struct imgfeat *ret);

#endif
