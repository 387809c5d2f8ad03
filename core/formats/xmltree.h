/* xmltree.h - an XML document as a tree of elements and their text, or
 * element by element (xmltree_stream), read with expat (this is the only
 * module that includes expat.h).
 *
 * Made for annotation files from anywhere (Pascal VOC, CVAT): a tree
 * drops attributes (the streaming reader hands them over), comments and
 * processing instructions are skipped, CDATA is kept as text.  Refused
 * with a reason: malformed XML (expat's message and line), any entity
 * declaration in a DTD (so no entity expansion: the "billion
 * laughs" document is refused before it expands anything), external
 * entities, and nesting deeper than XMLTREE_MAX_DEPTH.  The five
 * predefined entities and character references are decoded as usual.
 *
 * Ownership: a parsed tree is owned by the caller (xmltree_free()).  No
 * global state; each call has its own parser, so threads may parse at
 * once.
 */
#ifndef CURATE_XMLTREE_H
#define CURATE_XMLTREE_H

#include <stddef.h>

#include "util.h"

#define XMLTREE_MAX_DEPTH 32

struct xmltree_node {
  char *name;
  struct buf text;      /* the element's own text, every piece joined */
  struct xmltree_node *kids;
  size_t n, cap;
};

/* Parses s[0..n) into *root.  Returns 0, -EINVAL with a one-line reason
 * in err (always NUL-terminated), or -ENOMEM.  *root is always safe to
 * free afterwards. */
int xmltree_parse(const char *s, size_t n, struct xmltree_node *root, char *err,
                  size_t errlen);
void xmltree_free(struct xmltree_node *x);
/* The first child named `name`, or NULL (x may be NULL). */
const struct xmltree_node *xmltree_child(const struct xmltree_node *x,
                                         const char *name);
/* A document read element by element, never held as a tree: for
 * documents too large for one (CVAT's annotations.xml of a whole task).
 * start gets each element's depth (the root's is 0), name and attributes
 * (name, value, ..., NULL, as expat gives them; valid during the call),
 * and returns < 0 to stop the parse with that error, 1 to have the
 * element's own text collected (for leaves: a parent's text is not
 * collected while a child's is), 0 not.  end gets the element's text as
 * it is, white space included ("" when not collected), and returns 0 or
 * an error that stops the parse. */
struct xmltree_sax {
  int (*start)(void *ud, int depth, const char *name, const char **atts);
  int (*end)(void *ud, int depth, const char *name, const char *text);
};

/* Reads s[0..n) through cb with the refusals of xmltree_parse().
 * Returns 0; a callback's error (err left empty: the callback keeps its
 * own reason); -EINVAL with a one-line reason in err; or -ENOMEM. */
int xmltree_stream(const char *s, size_t n, const struct xmltree_sax *cb,
                   void *ud, char *err, size_t errlen);
/* The same for the document in file fd, from its start (pread: the
 * descriptor's offset is left, so a second pass may read it again), a
 * chunk of 256 KiB at a time: the document is never in memory whole, and
 * any size is read.  A read error gives its -errno with "line N: read:
 * ..." in err. */
int xmltree_stream_fd(int fd, const struct xmltree_sax *cb, void *ud,
                      char *err, size_t errlen);

/* Text content with surrounding white space trimmed ("" for NULL or none).
 * Trims in place, hence the non-const node. */
const char *xmltree_text(const struct xmltree_node *x);

#endif
