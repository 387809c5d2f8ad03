/* jsonstream.h - a JSON document walked in pieces (prefix jstream_): the
 * elements of chosen top-level arrays are handed over one at a time as
 * small jansson values, everything else is checked and skipped without
 * being built.  COCO annotations and prediction files use it: a whole
 * COCO file parsed into a jansson tree takes about 13 times its size
 * (every number of a segmentation polygon is an object), so an import's
 * peak memory would be the document's, not what the import keeps.
 *
 * The source is a regular file (read a megabyte per read(2), as a FIFO or
 * device named by mistake would block the caller, perhaps the daemon) or
 * bytes in memory.  A scan (jstream_scan) reads the whole document with a
 * structural scanner as strict as jansson's parser (grammar, string
 * escapes and UTF-8, control characters, number syntax and overflow,
 * nesting depth 2048, nothing after the value): a document jansson would
 * refuse fails the scan, with "line N: TEXT", before any element is used
 * for anything lasting.  Each element of a key asked for with
 * JSTREAM_EACH is cut out of the bytes and parsed by json_loadb; a key
 * asked for with JSTREAM_MARK is only located, and jstream_each walks its
 * elements later (a second pass over its bytes).  Callers that need a
 * key's elements only after others (COCO annotations need the images and
 * categories, which a file may put after them, as COCO's own files do
 * with "categories") scan first and walk second; see ARCHITECTURE.md.
 *
 * A key asked for appearing twice at the top of the document is an error
 * ("duplicate key"): jansson would keep the last silently, dropping the
 * first list unseen.  Other keys may repeat, as jansson allows.
 * Stricter than jansson in one more point: jansson skips a NUL byte that
 * directly follows a number or true/false/null (it takes the byte back
 * as the end of its one-character buffer); the scan refuses it.
 *
 * An element takes at most JSTREAM_ELEM_MAX bytes (larger: -EFBIG with
 * "line N: ..."); the window the scanner keeps holds one element plus one
 * read.  Numbers jansson could not hold are found by the scan too.
 *
 * Not thread-safe: one stream per thread.
 */
#ifndef CURATE_JSONSTREAM_H
#define CURATE_JSONSTREAM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define JSTREAM_ELEM_MAX (64u << 20)
/* Keys asked for at most (struct jstream_key arrays). */
#define JSTREAM_KEYS_MAX 8

struct jstream;

/* Opens a regular file.  On failure NULL with *ret_err a negative errno
 * and why (at least 1 byte) saying what failed without the path: "not a
 * regular file" (-EINVAL) or the errno's text.  Owned: jstream_close. */
struct jstream *jstream_open(const char *path, int *ret_err, char *why,
                             size_t whylen);
/* The same for an open regular file, read from its start; fd is the
 * stream's (closed by jstream_close, or here on failure).  fd < 0 is an
 * open's error, reported as jstream_open() reports it. */
struct jstream *jstream_fdopen(int fd, int *ret_err, char *why,
                               size_t whylen);
/* Walks data[0..len) (borrowed until jstream_close); NULL on -ENOMEM. */
struct jstream *jstream_mem(const char *data, size_t len);
void jstream_close(struct jstream *js);
/* Reads of n bytes (1 .. 1 MiB, the default) from a file: for tests and
 * fuzzing, so that reads end inside tokens and elements. */
void jstream_set_read_size(struct jstream *js, size_t n);

enum jstream_mode {
  JSTREAM_EACH,   /* each element of the array value goes to the callback */
  JSTREAM_MARK,   /* only where the value is, for jstream_each */
};

/* Called with element number i of the array of key k (the index into the
 * keys given; -1 for an array root), borrowed for the call.  A non-zero
 * return stops the walk and is returned. */
typedef int (*jstream_fn)(void *ud, int k, size_t i, json_t *elem);

/* Where a top-level value is. */
struct jstream_at {
  char type;          /* first byte of the value ('[', '{', '"', 't', ...),
                       * 0 when the key is not in the document */
  uint64_t offset;    /* of that byte */
  int line;
};

struct jstream_root {
  char type;          /* '{' or '[' */
  /* object root: per key asked for; array root: at[0] is the root */
  struct jstream_at at[JSTREAM_KEYS_MAX];
};

/* Scans the whole document from its start.  Its root must be an object or
 * an array ("'[' or '{' expected" otherwise, as jansson says).  For an
 * object root, keys[0..nkeys) name the top-level keys wanted: an array
 * value of a JSTREAM_EACH key is walked element by element through fn
 * (other value types are only recorded in *ret).  For an array root, each
 * element goes to fn with k = -1 when root_each, else it is only
 * located.  Returns 0, fn's non-zero value, or a negative errno with why
 * set (-EINVAL "line N: TEXT" for a document jansson would refuse,
 * -EFBIG for an element too large, the errno's text for a read error,
 * -EIO when the file's size or modification time is no longer what it
 * was at jstream_open: it changed while it was read). */
int jstream_scan(struct jstream *js, const char *const *keys,
                 const enum jstream_mode *modes, int nkeys, int root_each,
                 jstream_fn fn, void *ud, struct jstream_root *ret,
                 char *why, size_t whylen);

/* Walks the elements of the array at `at` (found by jstream_scan on the
 * same stream), as jstream_scan does for a JSTREAM_EACH key, with k as
 * given (-1 for an array root).  Same returns; -EIO also when the bytes
 * there are no longer an array (the file changed between the two passes,
 * in a way its size and modification time did not show). */
int jstream_each(struct jstream *js, const struct jstream_at *at, int k,
                 jstream_fn fn, void *ud, char *why, size_t whylen);

#endif
