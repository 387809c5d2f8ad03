/* xmltree.c - XML into a tree with expat (see xmltree.h).
 *
 * Entity handling is where XML parsers get attacked, so it is closed
 * three ways: parameter entities are never parsed
 * (XML_PARAM_ENTITY_PARSING_NEVER), any entity declaration stops the
 * parser (no internal entity can be defined, so none can expand), and an
 * external entity reference handler refuses every reference. */
#include "xmltree.h"

#include <errno.h>
#include <expat.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct xt {
  XML_Parser p;
  /* streaming (xmltree_stream): the callbacks, and the text of the
   * element at depth `collect` (-1: none) */
  const struct xmltree_sax *sax;
  void *ud;
  struct buf text;
  int collect;
  struct xmltree_node *root;
  struct xmltree_node *stack[XMLTREE_MAX_DEPTH + 1];
  int depth;            /* elements open */
  bool started;
  const char *why;      /* our own reason for stopping */
  int err;
};

static void stop(struct xt *x, const char *why, int err)
{
  if (!x->why) {
    x->why = why;
    x->err = err;
  }
  XML_StopParser(x->p, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
  struct xt *x = ud;
  struct xmltree_node *n;

  (void)atts;
  if (x->why)
    return;
  if (x->depth > XMLTREE_MAX_DEPTH - 1) {
    stop(x, "nesting too deep", -EINVAL);
    return;
  }
  if (x->depth == 0) {
    n = x->root;
  } else {
    struct xmltree_node *up = x->stack[x->depth - 1];
    if (up->n == up->cap) {
      size_t nc = up->cap ? up->cap * 2 : 8;
      struct xmltree_node *k = realloc(up->kids, nc * sizeof(*k));
      if (!k) {
        stop(x, "out of memory", -ENOMEM);
        return;
      }
      up->kids = k;
      up->cap = nc;
    }
    n = &up->kids[up->n++];
    memset(n, 0, sizeof(*n));
  }
  buf_init(&n->text, 64u << 20);
  n->name = strdup(name);
  if (!n->name) {
    stop(x, "out of memory", -ENOMEM);
    return;
  }
  x->stack[x->depth++] = n;
  x->started = true;
}

static void on_end(void *ud, const XML_Char *name)
{
  struct xt *x = ud;

  (void)name;
  if (!x->why && x->depth > 0)
    x->depth--;
}

static void on_text(void *ud, const XML_Char *s, int len)
{
  struct xt *x = ud;

  if (x->why || x->depth == 0)
    return;
  if (buf_append(&x->stack[x->depth - 1]->text, s, (size_t)len) < 0)
    stop(x, "text too long or out of memory", -ENOMEM);
}

static void on_entity_decl(void *ud, const XML_Char *name, int is_param,
                           const XML_Char *value, int value_len,
                           const XML_Char *base, const XML_Char *system_id,
                           const XML_Char *public_id,
                           const XML_Char *notation)
{
  (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
  (void)public_id, (void)notation;
  stop(ud, system_id ? "external entities are refused"
                     : "entity declarations are refused (no entity "
                       "expansion)", -EINVAL);
}

static int on_external_ref(XML_Parser p, const XML_Char *context,
                           const XML_Char *base, const XML_Char *system_id,
                           const XML_Char *public_id)
{
  (void)p, (void)context, (void)base, (void)system_id, (void)public_id;
  return XML_STATUS_ERROR;
}

/* Streaming handlers: the callbacks see every element; only the text
 * of the element they asked for is kept. */
static void s_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
  struct xt *x = ud;
  int r;

  if (x->why)
    return;
  if (x->depth > XMLTREE_MAX_DEPTH - 1) {
    stop(x, "nesting too deep", -EINVAL);
    return;
  }
  x->started = true;
  r = x->sax->start(x->ud, x->depth, name, atts);
  if (r < 0) {
    stop(x, "", r);
    return;
  }
  if (r > 0) {
    x->collect = x->depth;
    buf_reset(&x->text);
  }
  x->depth++;
}

static void s_end(void *ud, const XML_Char *name)
{
  struct xt *x = ud;
  const char *t = "";
  int r;

  if (x->why || x->depth == 0)
    return;
  x->depth--;
  if (x->collect == x->depth) {
    x->collect = -1;
    if (buf_append(&x->text, "", 1) < 0) {
      stop(x, "text too long or out of memory", -ENOMEM);
      return;
    }
    t = x->text.data;
  }
  if ((r = x->sax->end(x->ud, x->depth, name, t)) < 0)
    stop(x, "", r);
}

static void s_text(void *ud, const XML_Char *s, int len)
{
  struct xt *x = ud;

  if (!x->why && x->collect == x->depth - 1 &&
      buf_append(&x->text, s, (size_t)len) < 0)
    stop(x, "text too long or out of memory", -ENOMEM);
}

/* The entity refusals on x's parser, x its user data. */
static void parser_setup(struct xt *x)
{
  XML_SetUserData(x->p, x);
  XML_SetEntityDeclHandler(x->p, on_entity_decl);
  XML_SetExternalEntityRefHandler(x->p, on_external_ref);
  XML_SetParamEntityParsing(x->p, XML_PARAM_ENTITY_PARSING_NEVER);
}

/* What a parse that ended with status st (rerr: a read error, 0 if none)
 * returns; the reason of a failure into err.  x->p is freed. */
static int parser_result(struct xt *x, enum XML_Status st, int rerr,
                         char *err, size_t errlen)
{
  int r = 0;

  if (x->why && !*x->why) {
    r = x->err;   /* a callback's own stop: its reason is its own */
  } else if (x->why) {
    snprintf(err, errlen, "line %lu: %s",
             (unsigned long)XML_GetCurrentLineNumber(x->p), x->why);
    r = x->err;
  } else if (rerr) {
    snprintf(err, errlen, "line %lu: read: %s",
             (unsigned long)XML_GetCurrentLineNumber(x->p), strerror(-rerr));
    r = rerr;
  } else if (st != XML_STATUS_OK) {
    snprintf(err, errlen, "line %lu: %s",
             (unsigned long)XML_GetCurrentLineNumber(x->p),
             XML_ErrorString(XML_GetErrorCode(x->p)));
    r = -EINVAL;
  } else if (!x->started) {
    snprintf(err, errlen, "no root element");
    r = -EINVAL;
  }
  XML_ParserFree(x->p);
  return r;
}

/* Parses s[0..n) with x's handlers, the entity refusals set; the reason
 * of a failure into err.  x->p is freed. */
static int run_parser(struct xt *x, const char *s, size_t n, char *err,
                      size_t errlen)
{
  err[0] = '\0';
  if (n > (size_t)INT32_MAX) {
    snprintf(err, errlen, "document too large");
    XML_ParserFree(x->p);
    return -EINVAL;
  }
  parser_setup(x);
  return parser_result(x, XML_Parse(x->p, s, (int)n, XML_TRUE), 0, err,
                       errlen);
}

/* A streaming parser on x (handlers set): 0 or -ENOMEM. */
static int stream_begin(struct xt *x, const struct xmltree_sax *cb, void *ud)
{
  memset(x, 0, sizeof(*x));
  x->sax = cb;
  x->ud = ud;
  x->collect = -1;
  buf_init(&x->text, 64u << 20);
  x->p = XML_ParserCreate(NULL);
  if (!x->p)
    return -ENOMEM;
  XML_SetElementHandler(x->p, s_start, s_end);
  XML_SetCharacterDataHandler(x->p, s_text);
  return 0;
}

int xmltree_stream(const char *s, size_t n, const struct xmltree_sax *cb,
                   void *ud, char *err, size_t errlen)
{
  struct xt x;
  int r = stream_begin(&x, cb, ud);

  if (r == 0)
    r = run_parser(&x, s, n, err, errlen);
  buf_free(&x.text);
  return r;
}

/* Bytes handed to expat at a time by xmltree_stream_fd: large enough that
 * the calls cost nothing beside the parse, small beside any document. */
#define XMLTREE_CHUNK (256u << 10)

int xmltree_stream_fd(int fd, const struct xmltree_sax *cb, void *ud,
                      char *err, size_t errlen)
{
  enum XML_Status st = XML_STATUS_OK;
  struct xt x;
  struct stat sb;
  off_t off = 0;
  size_t chunk = XMLTREE_CHUNK;
  int r = stream_begin(&x, cb, ud), rerr = 0;

  /* a small file's size and the end in one read, not a whole chunk's
   * buffer (a folder of small documents) */
  if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
      (uint64_t)sb.st_size < XMLTREE_CHUNK)
    chunk = (size_t)sb.st_size + 1;

  err[0] = '\0';
  if (r < 0) {
    buf_free(&x.text);
    return r;
  }
  parser_setup(&x);
  for (;;) {
    void *b = XML_GetBuffer(x.p, (int)chunk);
    ssize_t n;
    if (!b) {
      r = -ENOMEM;
      break;
    }
    do
      n = pread(fd, b, chunk, off);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      rerr = -errno;
      break;
    }
    off += n;
    st = XML_ParseBuffer(x.p, (int)n, n == 0);
    if (st != XML_STATUS_OK || x.why || n == 0)
      break;
  }
  if (r == 0)
    r = parser_result(&x, st, rerr, err, errlen);
  else
    XML_ParserFree(x.p);
  buf_free(&x.text);
  return r;
}

int xmltree_parse(const char *s, size_t n, struct xmltree_node *root, char *err,
                  size_t errlen)
{
  struct xt x = { .root = root, .collect = -1 };

  memset(root, 0, sizeof(*root));
  x.p = XML_ParserCreate(NULL);
  if (!x.p)
    return -ENOMEM;
  XML_SetElementHandler(x.p, on_start, on_end);
  XML_SetCharacterDataHandler(x.p, on_text);
  return run_parser(&x, s, n, err, errlen);
}

void xmltree_free(struct xmltree_node *x)
{
  for (size_t i = 0; i < x->n; i++)
    xmltree_free(&x->kids[i]);
  free(x->kids);
  free(x->name);
  buf_free(&x->text);
  memset(x, 0, sizeof(*x));
}

const struct xmltree_node *xmltree_child(const struct xmltree_node *x,
                                         const char *name)
{
  for (size_t i = 0; x && i < x->n; i++)
    if (x->kids[i].name && strcmp(x->kids[i].name, name) == 0)
      return &x->kids[i];
  return NULL;
}

const char *xmltree_text(const struct xmltree_node *x)
{
  char *s;
  size_t n;

  if (!x || !x->text.data)
    return "";
  s = x->text.data;
  n = x->text.len;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' ||
               s[n - 1] == '\t'))
    s[--n] = '\0';
  while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
    s++;
  return s;
}
