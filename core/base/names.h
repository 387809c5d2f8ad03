/* names.h - display names of samples.  A sample's name is derived once, at
 * import, from its source path and then stored, so it never changes: the
 * relative path's directories are joined with "__", the extension dropped,
 * and bytes that are unsafe in a file name replaced by '_'.  Collisions are
 * resolved by the store (a "~<id>" suffix). */
#ifndef CURATE_NAMES_H
#define CURATE_NAMES_H

#include <stddef.h>

/* Longest name stem; leaves room for "~<id>" and ".json" under NAME_MAX. */
#define NAME_STEM_MAX 200

/* Writes the name for `relpath` into out (NUL-terminated, at most
 * NAME_STEM_MAX bytes).  Returns the length, or -EINVAL for an empty path. */
int name_from_relpath(const char *relpath, char *out, size_t outlen);

/* If `file` ends in `ext` (e.g. ".jpg"), copies the stem into out and
 * returns 0; else -ENOENT. */
int name_strip_ext(const char *file, const char *ext, char *out,
                   size_t outlen);

#endif
