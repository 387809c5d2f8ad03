/* jsonfile.c - a whole JSON document from a regular file, through
 * jansson's callback reader fed a megabyte at a time (see jsonfile.h). */
#include "jsonfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define CHUNK (1u << 20)

struct reader {
  int fd;
  char *buf;
  size_t have, at;   /* bytes in buf, and how many were handed out */
  int err;           /* -errno of a failed read, or 0 */
};

/* jansson's callback: up to n bytes into out, 0 at the end, (size_t)-1 on
 * a read error (jansson then reports the document as cut short). */
static size_t feed(void *out, size_t n, void *ud)
{
  struct reader *r = ud;

  if (r->at == r->have) {
    ssize_t k;
    do
      k = read(r->fd, r->buf, CHUNK);
    while (k < 0 && errno == EINTR);
    if (k < 0) {
      r->err = -errno;
      return (size_t)-1;
    }
    r->have = (size_t)k;
    r->at = 0;
    if (k == 0)
      return 0;
  }
  if (n > r->have - r->at)
    n = r->have - r->at;
  memcpy(out, r->buf + r->at, n);
  r->at += n;
  return n;
}

json_t *jsonfile_load(const char *path, int *ret_err, char *why,
                      size_t whylen)
{
  struct reader r = { .fd = open_regular(path) };
  json_error_t jerr;
  json_t *doc;

  why[0] = '\0';
  *ret_err = 0;
  if (r.fd < 0) {
    *ret_err = r.fd;
    snprintf(why, whylen, "%s", r.fd == -EINVAL ? "not a regular file"
                                                : strerror(-r.fd));
    return NULL;
  }
  if (!(r.buf = malloc(CHUNK))) {
    close(r.fd);
    *ret_err = -ENOMEM;
    snprintf(why, whylen, "%s", strerror(ENOMEM));
    return NULL;
  }
  doc = json_load_callback(feed, &r, 0, &jerr);
  free(r.buf);
  close(r.fd);
  if (doc)
    return doc;
  if (r.err) {
    *ret_err = r.err;
    snprintf(why, whylen, "%s", strerror(-r.err));
  } else {
    char jt[160];
    *ret_err = -EINVAL;
    snprintf(why, whylen, "line %d: %s", jerr.line,
             json_err_text(jerr.text, jt, sizeof(jt)));
  }
  return NULL;
}
