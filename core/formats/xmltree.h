/* xmltree.h - a small XML document as a tree of elements and their text,
 * read with expat (this is the only module that includes expat.h).
 *
 * Made for annotation files from anywhere (Pascal VOC): attributes are
 * dropped, comments and processing instructions skipped, CDATA kept as
 * text.  Refused with a reason: malformed XML (expat's message and line),
 * any entity declaration in a DTD (so no entity expansion: the "billion
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
/* Text content with surrounding white space trimmed ("" for NULL or none).
 * Trims in place, hence the non-const node. */
const char *xmltree_text(const struct xmltree_node *x);

#endif
