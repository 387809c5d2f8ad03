/* yamlnames.h - the class list of a YOLO data.yaml, read with libyaml
 * (this is the only module that includes yaml.h).
 *
 * The document must be a mapping; its "names" value is a sequence of
 * names (index = position) or a mapping of index -> name.  Other keys are
 * ignored whatever they hold.  Refused with a one-line reason: YAML
 * libyaml cannot parse (its message and line), aliases (no expansion, so
 * no alias bomb), nesting deeper than 64, a "names" that is neither list
 * nor map, non-scalar names, indexes that are not integers 0..99999.
 *
 * Ownership: *ret holds malloc'd strings (NULL where an index was not
 * given), freed with yaml_names_free().  No global state.
 */
#ifndef CURATE_YAMLNAMES_H
#define CURATE_YAMLNAMES_H

#include <stddef.h>

#define YAML_NAMES_MAX 100000

/* Returns 0 with the list, -ENOENT (no "names" key: err says so),
 * -EINVAL with a reason in err, or -ENOMEM. */
int yaml_names_parse(const char *text, size_t len, char ***ret,
                     size_t *ret_n, char *err, size_t errlen);
void yaml_names_free(char **v, size_t n);

#endif
