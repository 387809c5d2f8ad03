/* selection.c - selections by name (see selection.h): parsing the name,
 * refreshing an evaluation view's evaluation (the one step that writes)
 * and collecting ids within the caller's transaction. */
#include "selection.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evallatest.h"
#include "evalrun.h"

enum sel_kind { SEL_SAMPLES, SEL_TAG, SEL_VIEW, SEL_EVAL };

struct sel {
  enum sel_kind kind;
  enum view_kind view;      /* SEL_VIEW */
  enum evalrun_list list;   /* SEL_EVAL */
  char tag[256];            /* SEL_TAG */
};

/* The evaluation list of a view name ("mistakes", ...), or -ENOENT. */
static int eval_list_of(const char *name, size_t l)
{
  size_t n;
  const char *const *names = views_all_names(&n) + VIEWS_EVAL_FIRST;
  static const enum evalrun_list lists[] = { EVALRUN_MISTAKES,
                                             EVALRUN_MISSING,
                                             EVALRUN_SPURIOUS };

  for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
    if (strlen(names[i]) == l && strncmp(names[i], name, l) == 0)
      return (int)lists[i];
  return -ENOENT;
}

/* Parses "samples", "tags/<t>" or "views/<v>" (a trailing '/', as a
 * shell completes it, allowed). */
static int parse(const char *spec, struct sel *s)
{
  size_t l = strlen(spec);

  memset(s, 0, sizeof(*s));
  if (l && spec[l - 1] == '/')
    l--;
  if (l > 6 && strncmp(spec, "views/", 6) == 0) {
    char name[64];
    int which = eval_list_of(spec + 6, l - 6);
    if (which >= 0) {
      s->kind = SEL_EVAL;
      s->list = (enum evalrun_list)which;
      return 0;
    }
    s->kind = SEL_VIEW;
    snprintf(name, sizeof(name), "%.*s", (int)(l - 6), spec + 6);
    return views_kind_parse(name, &s->view);
  }
  if (l == 7 && strncmp(spec, "samples", 7) == 0) {
    s->kind = SEL_SAMPLES;
    return 0;
  }
  if (l > 5 && strncmp(spec, "tags/", 5) == 0) {
    s->kind = SEL_TAG;
    snprintf(s->tag, sizeof(s->tag), "%.*s", (int)(l - 5), spec + 5);
    return 0;
  }
  return -ENOENT;
}

static void no_such(const char *spec, char *err, size_t errlen)
{
  if (errlen && !err[0])
    snprintf(err, errlen, "no such selection '%s' (samples, tags/<tag>, "
             "views/<view>)", spec);
}

int selection_prepare(struct store *s, const char *spec, char *err,
                      size_t errlen)
{
  char ev[EVALRUN_MAX_NAME + 1];
  struct sel sel;
  int r;

  if (errlen)
    err[0] = '\0';
  if (parse(spec, &sel) < 0 || sel.kind != SEL_EVAL)
    return 0;  /* nothing to bring up to date (unknown: selection_ids) */
  r = evallatest_find(s, ev, sizeof(ev));
  if (r == -ENOENT)
    return 0;  /* no evaluation yet: an empty selection */
  /* Exports of an evaluation view look their selection up at each name:
   * the names of one listing share a run (evalrun.h). */
  if (r == 0)
    r = evalrun_refresh_recent(s, ev, EVALRUN_LOOKUP_AGE, err, errlen);
  return r < 0 ? r : 0;
}

static int push_id(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 256;
    uint64_t *p = realloc(*v, nc * sizeof(*p));
    if (!p)
      return -ENOMEM;
    *v = p;
    *cap = nc;
  }
  (*v)[(*n)++] = id;
  return 0;
}

/* Growing result of a selection. */
struct ids {
  uint64_t *v;
  size_t n, cap;
};

/* The ranked list of the latest evaluation (empty when there is none). */
static int eval_ids(struct store_txn *t, enum evalrun_list which,
                    struct ids *out)
{
  char ev[EVALRUN_MAX_NAME + 1];
  struct evalrun_entry chunk[256];
  size_t got, total, from = 0;
  int r = evallatest_name(t, ev, sizeof(ev));

  if (r == -ENOENT)
    return 0;
  while (r == 0) {
    r = evalrun_ranked(t, ev, which, from, ARRAY_SIZE(chunk), chunk, &got,
                       &total);
    if (r < 0 || got == 0)
      break;
    for (size_t i = 0; r == 0 && i < got; i++)
      r = push_id(&out->v, &out->n, &out->cap, chunk[i].sample_id);
    from += got;
  }
  return r;
}

/* A computed view's list, in its order. */
static int view_ids(struct views *v, struct store_txn *t, enum view_kind k,
                    struct ids *out)
{
  struct view_list *vl = NULL;
  int r = views_get_txn(v, t, k, &vl);

  for (size_t i = 0; r == 0 && i < vl->n; i++)
    r = push_id(&out->v, &out->n, &out->cap, vl->items[i].sample_id);
  view_list_put(vl);
  return r;
}

/* Every present sample, or the present members of a tag, by id. */
static int store_ids(struct store_txn *t, const struct sel *s,
                     struct ids *out)
{
  struct store_iter *it = NULL;
  bool all = s->kind == SEL_SAMPLES;
  uint64_t tid = 0, next = 1, sid;
  struct sample smp;
  int r = all ? 0 : store_tag_lookup(t, s->tag, &tid);

  if (r == 0)
    r = store_iter_new(t, &it);
  while (r == 0) {
    if (all) {
      if (store_iter_samples(it, next, &smp) < 0)
        break;
      sid = smp.id;
    } else {
      if (store_iter_tag(it, tid, next, &sid) < 0)
        break;
      if (store_sample_get(t, sid, &smp) < 0)
        smp.flags = SAMPLE_MISSING;
    }
    next = sid + 1;
    if (!(smp.flags & SAMPLE_MISSING))
      r = push_id(&out->v, &out->n, &out->cap, sid);
  }
  store_iter_free(it);
  return r;
}

int selection_ids(struct views *v, struct store_txn *t, const char *spec,
                  uint64_t **ret, size_t *ret_n, char *err, size_t errlen)
{
  struct ids ids = { 0 };
  struct sel s;
  int r;

  *ret = NULL;
  *ret_n = 0;
  if (errlen)
    err[0] = '\0';
  r = parse(spec, &s);
  if (r == 0)
    r = s.kind == SEL_EVAL   ? eval_ids(t, s.list, &ids)
        : s.kind == SEL_VIEW ? view_ids(v, t, s.view, &ids)
                             : store_ids(t, &s, &ids);
  if (r == -ENOENT)
    no_such(spec, err, errlen);
  if (r < 0) {
    free(ids.v);
    return r;
  }
  *ret = ids.v;
  *ret_n = ids.n;
  return 0;
}

int selection_get(struct views *v, const char *spec, uint64_t **ret,
                  size_t *ret_n, char *err, size_t errlen)
{
  struct store_txn *t;
  int r = selection_prepare(views_store(v), spec, err, errlen);

  *ret = NULL;
  *ret_n = 0;
  if (r == 0)
    r = store_txn_begin(views_store(v), false, &t);
  if (r < 0) {
    if (r == -ENOENT)
      no_such(spec, err, errlen);
    return r;
  }
  r = selection_ids(v, t, spec, ret, ret_n, err, errlen);
  store_txn_abort(t);
  return r;
}
