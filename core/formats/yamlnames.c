/* yamlnames.c - data.yaml "names" with libyaml's event parser (see
 * yamlnames.h).  Events rather than the document loader: the loader
 * resolves aliases into shared nodes, and walking those can blow up;
 * here an alias event is simply refused. */
#include "yamlnames.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

struct yn {
  yaml_parser_t p;
  char **v;
  size_t n;
  char *err;
  size_t errlen;
};

static int fail(struct yn *y, const char *what)
{
  snprintf(y->err, y->errlen, "%s", what);
  return -EINVAL;
}

/* The next event, or -EINVAL with libyaml's reason. */
static int next(struct yn *y, yaml_event_t *ev)
{
  if (!yaml_parser_parse(&y->p, ev)) {
    if (y->p.error == YAML_MEMORY_ERROR)
      return -ENOMEM;
    snprintf(y->err, y->errlen, "line %lu: %s%s%s",
             (unsigned long)y->p.problem_mark.line + 1,
             y->p.problem ? y->p.problem : "malformed YAML",
             y->p.context ? " " : "", y->p.context ? y->p.context : "");
    return -EINVAL;
  }
  if (ev->type == YAML_ALIAS_EVENT) {
    yaml_event_delete(ev);
    return fail(y, "aliases are refused");
  }
  return 0;
}

/* Skips the value whose first event is ev (deleted here). */
static int skip(struct yn *y, yaml_event_t *ev)
{
  int depth = 0, r = 0;

  for (;;) {
    yaml_event_type_t t = ev->type;
    yaml_event_delete(ev);
    if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
      if (++depth > MAX_DEPTH)
        return fail(y, "nesting deeper than 64");
    } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
      depth--;
    } else if (t == YAML_STREAM_END_EVENT) {
      return fail(y, "document ends inside a value");
    }
    if (depth <= 0)
      return 0;
    if ((r = next(y, ev)) < 0)
      return r;
  }
}

static int set(struct yn *y, size_t idx, const char *s, size_t len)
{
  if (idx >= YAML_NAMES_MAX)
    return fail(y, "a class index of 100000 or more");
  if (idx >= y->n) {
    char **nv = realloc(y->v, (idx + 1) * sizeof(*nv));
    if (!nv)
      return -ENOMEM;
    memset(nv + y->n, 0, (idx + 1 - y->n) * sizeof(*nv));
    y->v = nv;
    y->n = idx + 1;
  }
  if (memchr(s, 0, len))
    return fail(y, "a class name with a NUL byte");
  free(y->v[idx]);
  y->v[idx] = strndup(s, len);
  return y->v[idx] ? 0 : -ENOMEM;
}

static int index_of(const char *s, size_t *ret)
{
  char *e;
  long v;

  if (!*s || *s == '-' || *s == '+')
    return -1;
  v = strtol(s, &e, 10);
  if (*e || v < 0)
    return -1;
  *ret = (size_t)v;
  return 0;
}

/* The value of "names"; ev is its first event (deleted here). */
static int names_value(struct yn *y, yaml_event_t *ev)
{
  bool map = ev->type == YAML_MAPPING_START_EVENT;
  yaml_event_type_t end = map ? YAML_MAPPING_END_EVENT
                              : YAML_SEQUENCE_END_EVENT;
  size_t idx = 0;
  int r;

  if (ev->type != YAML_SEQUENCE_START_EVENT && !map) {
    yaml_event_delete(ev);
    return fail(y, "\"names\" is neither a list nor a map");
  }
  yaml_event_delete(ev);
  for (;;) {
    if ((r = next(y, ev)) < 0)
      return r;
    if (ev->type == end) {
      yaml_event_delete(ev);
      return 0;
    }
    if (map) {
      char key[32];
      if (ev->type != YAML_SCALAR_EVENT ||
          ev->data.scalar.length >= sizeof(key)) {
        yaml_event_delete(ev);
        return fail(y, "a \"names\" key that is not a class index");
      }
      memcpy(key, ev->data.scalar.value, ev->data.scalar.length);
      key[ev->data.scalar.length] = '\0';
      yaml_event_delete(ev);
      if (index_of(key, &idx) < 0)
        return fail(y, "a \"names\" key that is not a class index");
      if ((r = next(y, ev)) < 0)
        return r;
    }
    if (ev->type != YAML_SCALAR_EVENT) {
      yaml_event_delete(ev);
      return fail(y, "a class name that is not a plain value");
    }
    r = set(y, idx++, (const char *)ev->data.scalar.value,
            ev->data.scalar.length);
    yaml_event_delete(ev);
    if (r < 0)
      return r;
  }
}

static int parse(struct yn *y)
{
  yaml_event_t ev;
  bool found = false;
  int r;

  /* stream start, document start, then the top-level mapping */
  if ((r = next(y, &ev)) < 0)
    return r;
  yaml_event_delete(&ev);
  if ((r = next(y, &ev)) < 0)
    return r;
  if (ev.type != YAML_DOCUMENT_START_EVENT) {
    yaml_event_delete(&ev);
    return fail(y, "empty document");
  }
  yaml_event_delete(&ev);
  if ((r = next(y, &ev)) < 0)
    return r;
  if (ev.type != YAML_MAPPING_START_EVENT) {
    yaml_event_delete(&ev);
    return fail(y, "the document is not a mapping of keys");
  }
  yaml_event_delete(&ev);
  for (;;) {
    bool is_names;
    if ((r = next(y, &ev)) < 0)
      return r;
    if (ev.type == YAML_MAPPING_END_EVENT) {
      yaml_event_delete(&ev);
      break;
    }
    is_names = ev.type == YAML_SCALAR_EVENT &&
               ev.data.scalar.length == 5 &&
               memcmp(ev.data.scalar.value, "names", 5) == 0;
    if ((r = skip(y, &ev)) < 0)  /* the key */
      return r;
    if ((r = next(y, &ev)) < 0)
      return r;
    if (is_names && !found) {
      found = true;
      r = names_value(y, &ev);
    } else {
      r = skip(y, &ev);
    }
    if (r < 0)
      return r;
  }
  if (!found) {
    snprintf(y->err, y->errlen, "no \"names\"");
    return -ENOENT;
  }
  return 0;
}

int yaml_names_parse(const char *text, size_t len, char ***ret,
                     size_t *ret_n, char *err, size_t errlen)
{
  struct yn y = { .err = err, .errlen = errlen };
  int r;

  err[0] = '\0';
  *ret = NULL;
  *ret_n = 0;
  if (!yaml_parser_initialize(&y.p))
    return -ENOMEM;
  yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
  r = parse(&y);
  yaml_parser_delete(&y.p);
  if (r < 0) {
    yaml_names_free(y.v, y.n);
    return r;
  }
  *ret = y.v;
  *ret_n = y.n;
  return 0;
}

void yaml_names_free(char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}
