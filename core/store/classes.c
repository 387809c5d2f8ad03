/* classes.c - the class schema's listing and gestures (see classes.h).
 * The checks that make a refusal precise (name valid, class present, boxes
 * using it) happen here before the store is touched, so a refused command
 * leaves the transaction clean; store_classes.c repeats them for its own
 * callers. */
#include "classes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"

struct render_ctx {
  struct store_txn *t;
  struct buf *out;
};

static int render_one(const struct store_class *c, void *ud)
{
  struct render_ctx *rc = ud;
  uint64_t boxes = 0;
  int r = store_class_boxes(rc->t, c->id, &boxes);

  if (r < 0)
    return r;
  return buf_printf(rc->out, "%6" PRIu32 " %9" PRIu64 "  %s\n", c->id,
                    boxes, c->name);
}

int classes_render(struct store_txn *t, struct buf *out)
{
  struct render_ctx rc = { t, out };
  int r = buf_puts(out, "#   id     boxes  name\n");

  return r ? r : store_classes_each(t, render_one, &rc);
}

/* A name for a new class (add, the target of a rename); with lookup, a
 * name of an existing class (which may predate the UTF-8 rule). */
static bool name_check(const char *name, bool lookup, char *err,
                       size_t errlen)
{
  if (lookup ? labels_class_key_valid(name) : labels_class_name_valid(name))
    return true;
  if (labels_class_key_valid(name))
    errf(err, errlen, -EINVAL, "bad class name: not valid UTF-8");
  else
    /* Quoted up to 80 bytes, cut between characters: the reason goes to
     * a terminal, status and the log, all UTF-8. */
    errf(err, errlen, -EINVAL, "bad class name '%.*s' (1-%d bytes of "
         "UTF-8, no control characters)", (int)utf8_cut(name, 80), name,
         LABELS_MAX_CLASS_NAME);
  return false;
}

static bool name_ok(const char *name, char *err, size_t errlen)
{
  return name_check(name, false, err, errlen);
}

int classes_add(struct store_txn *t, const char *name, char *err,
                size_t errlen)
{
  uint32_t id;
  int r;

  if (!name_ok(name, err, errlen))
    return -EINVAL;
  r = store_class_id(t, name, false, &id);
  if (r == 0)
    return errf(err, errlen, -EEXIST, "class '%s' exists (id %" PRIu32 ")",
                name, id);
  if (r != -ENOENT)
    return errf(err, errlen, r, "cannot read the classes: %s", strerror(-r));
  r = store_class_id(t, name, true, &id);
  if (r < 0)
    return errf(err, errlen, r, "cannot add class '%s': %s", name,
                strerror(-r));
  return 0;
}

int classes_rename(struct store_txn *t, const char *from, const char *to,
                   char *err, size_t errlen)
{
  uint32_t id;
  int r;

  if (!name_check(from, true, err, errlen) || !name_ok(to, err, errlen))
    return -EINVAL;
  r = store_class_id(t, from, false, &id);
  if (r == -ENOENT)
    return errf(err, errlen, r, "no class '%s'", from);
  if (r == 0 && strcmp(from, to) != 0 &&
      store_class_id(t, to, false, &id) == 0)
    return errf(err, errlen, -EEXIST, "class '%s' exists", to);
  if (r == 0)
    r = store_class_rename(t, from, to);
  if (r < 0)
    return errf(err, errlen, r, "cannot rename class '%s': %s", from,
                strerror(-r));
  return 0;
}

int classes_remove(struct store_txn *t, const char *name, char *err,
                   size_t errlen)
{
  uint32_t id;
  uint64_t boxes = 0;
  int r;

  if (!name_check(name, true, err, errlen))
    return -EINVAL;
  r = store_class_id(t, name, false, &id);
  if (r == -ENOENT)
    return errf(err, errlen, r, "no class '%s'", name);
  if (r == 0)
    r = store_class_boxes(t, id, &boxes);
  if (r == 0 && boxes)
    return errf(err, errlen, -EBUSY, "class '%s' is used by %" PRIu64
                " box(es); rename it, or change those boxes first", name,
                boxes);
  if (r == 0)
    r = store_class_delete(t, name);
  if (r < 0)
    return errf(err, errlen, r, "cannot remove class '%s': %s", name,
                strerror(-r));
  return 0;
}

static int run_line(struct store_txn *t, char *line, char *err,
                    size_t errlen)
{
  char *verb = line, *arg;

  arg = strpbrk(line, " \t");
  if (!arg)
    return errf(err, errlen, -EINVAL, "expected 'add NAME', 'rename OLD -> "
                "NEW' or 'remove NAME', got '%.80s'", line);
  *arg++ = '\0';
  arg = str_trim(arg);
  if (strcmp(verb, "add") == 0)
    return classes_add(t, arg, err, errlen);
  if (strcmp(verb, "remove") == 0)
    return classes_remove(t, arg, err, errlen);
  if (strcmp(verb, "rename") == 0) {
    char *arrow = strstr(arg, " -> "), *to;
    if (arrow) {
      *arrow = '\0';
      to = str_trim(arrow + 4);
    } else {
      to = strpbrk(arg, " \t");
      if (!to || strpbrk(str_trim(to), " \t"))
        return errf(err, errlen, -EINVAL, "expected 'rename OLD -> NEW' "
                    "(or 'rename OLD NEW' for names without spaces)");
      *to++ = '\0';
      to = str_trim(to);
    }
    return classes_rename(t, str_trim(arg), to, err, errlen);
  }
  return errf(err, errlen, -EINVAL, "unknown command '%.40s' (add, rename, "
              "remove)", verb);
}

int classes_run(struct store_txn *t, const char *text, size_t len,
                unsigned *ret_changed, char *err, size_t errlen)
{
  char *doc = malloc(len + 1), *p, *nl;
  unsigned no = 0;
  int r = 0;

  *ret_changed = 0;
  if (!doc)
    return -ENOMEM;
  memcpy(doc, text, len);
  doc[len] = '\0';
  if (memchr(text, '\0', len)) {
    free(doc);
    return errf(err, errlen, -EINVAL, "NUL byte in the text");
  }
  for (p = doc; r == 0 && *p; p = nl) {
    char *line, msg[400] = "";

    nl = strchr(p, '\n');
    if (nl)
      *nl++ = '\0';
    else
      nl = p + strlen(p);
    no++;
    line = str_trim(p);
    if (!*line || *line == '#')
      continue;
    r = run_line(t, line, msg, sizeof(msg));
    if (r < 0)
      errf(err, errlen, r, "line %u: %s", no, msg);
    else
      (*ret_changed)++;
  }
  free(doc);
  return r;
}

void classes_list_free(char **names, size_t n)
{
  for (size_t i = 0; names && i < n; i++)
    free(names[i]);
  free(names);
}

int classes_parse_list(const char *list, char ***ret, size_t *ret_n,
                       char *err, size_t errlen)
{
  char **v = NULL;
  size_t n = 0;
  const char *p = list;

  *ret = NULL;
  *ret_n = 0;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    char *name = strndup(p, l), **nv;

    if (!name) {
      classes_list_free(v, n);
      return -ENOMEM;
    }
    p += l + (e ? 1 : 0);
    if (!*str_trim(name)) {
      free(name);
      continue;
    }
    memmove(name, str_trim(name), strlen(str_trim(name)) + 1);
    if (!name_ok(name, err, errlen)) {
      free(name);
      classes_list_free(v, n);
      return -EINVAL;
    }
    nv = realloc(v, (n + 1) * sizeof(*v));
    if (!nv) {
      free(name);
      classes_list_free(v, n);
      return -ENOMEM;
    }
    v = nv;
    v[n++] = name;
  }
  if (n == 0)
    return errf(err, errlen, -EINVAL, "classes= names no class");
  *ret = v;
  *ret_n = n;
  return 0;
}

int classes_ensure(struct store_txn *t, char *const *names, size_t n,
                   size_t *ret_added, char *err, size_t errlen)
{
  size_t added = 0;

  for (size_t i = 0; i < n; i++) {
    uint32_t id;
    int r;

    if (!name_ok(names[i], err, errlen))
      return -EINVAL;
    r = store_class_id(t, names[i], false, &id);
    if (r == -ENOENT) {
      r = store_class_id(t, names[i], true, &id);
      added++;
    }
    if (r < 0)
      return errf(err, errlen, r, "cannot add class '%s': %s", names[i],
                  strerror(-r));
  }
  if (ret_added)
    *ret_added = added;
  return 0;
}

static int count_one(const struct store_class *c, void *ud)
{
  (void)c;
  (*(size_t *)ud)++;
  return 0;
}

int classes_count(struct store_txn *t, size_t *ret)
{
  *ret = 0;
  return store_classes_each(t, count_one, ret);
}
