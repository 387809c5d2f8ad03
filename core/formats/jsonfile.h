/* jsonfile.h - a whole JSON document read from a file named by a user
 * (COCO annotations, prediction files), fast and without blocking.
 *
 * Only a regular file is opened (a FIFO or device named by mistake would
 * block the caller, perhaps the daemon).  The bytes go to jansson through
 * its callback reader, a megabyte per read(2): jansson's descriptor reader
 * makes one system call per byte, and its stdio reader one locked getc()
 * per byte (best of four A/B runs of a 20,000-image COCO import: 0.61 s
 * of CPU against 0.67 s).  COCO and prediction files share this path.
 *
 * No state: safe from any thread.
 */
#ifndef CURATE_JSONFILE_H
#define CURATE_JSONFILE_H

#include <jansson.h>
#include <stddef.h>

/* The document at path (a new reference), or NULL with *ret_err a
 * negative errno and why (at least 1 byte) saying what failed without the
 * path: "not a regular file" (-EINVAL), the errno's text for a file that
 * cannot be opened or read, or "line N: TEXT" for a parse error (-EINVAL;
 * TEXT through json_err_text(), which leaves out the input's bytes). */
json_t *jsonfile_load(const char *path, int *ret_err, char *why,
                      size_t whylen);

#endif
