/* vtree.c - the registry of providers (see vtree.h for the table of which
 * file serves which top-level name). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evalrun.h"
#include "evalsel.h"
#include "views.h"
#include "vtree.h"

extern const struct provider prov_config, prov_views, prov_export, prov_cvat,
    prov_eval, prov_plots;

const struct provider *const vtree_providers[] = {
  &prov_config,
  &prov_views,
  &prov_export,
  &prov_cvat,
  &prov_eval,
  &prov_plots,
  NULL,
};

const struct provider *vtree_provider_of(const char *path, const char **rest)
{
  const char *slash = strchr(path, '/');
  size_t l = slash ? (size_t)(slash - path) : strlen(path);

  for (size_t i = 0; vtree_providers[i]; i++) {
    const char *n = vtree_providers[i]->name;
    if (strlen(n) == l && memcmp(n, path, l) == 0) {
      *rest = slash ? slash + 1 : "";
      return vtree_providers[i];
    }
  }
  return NULL;
}

/* Shared by providers: the store version as a content key (never 0). */
uint64_t vtree_version_key(struct store_txn *t)
{
  uint64_t v = 0;
  store_version(t, &v);
  return v + 1;
}

int read_whole(int fd, uint64_t size, uint8_t **ret, size_t *ret_len)
{
  uint8_t *p;
  size_t got = 0;

  *ret = NULL;
  *ret_len = 0;
  if (size > (1ULL << 31))
    return -EFBIG;
  p = malloc(size ? size : 1);
  if (!p)
    return -ENOMEM;
  while (got < size) {
    ssize_t n = pread(fd, p + got, size - got, (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      free(p);
      return -errno;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  *ret = p;
  *ret_len = got;
  return 0;
}

void vtree_start(struct fs_ctx *c)
{
  for (size_t i = 0; vtree_providers[i]; i++)
    if (vtree_providers[i]->start)
      vtree_providers[i]->start(c);
  warm_start(c);
}

void vtree_stop(struct fs_ctx *c)
{
  warm_stop_join(c);
  for (size_t i = 0; vtree_providers[i]; i++)
    if (vtree_providers[i]->stop)
      vtree_providers[i]->stop(c);
}

/* The eval view of a name ("mistakes", ...), or -ENOENT. */
static int eval_view_of(const char *name)
{
  static const char *const names[] = { "mistakes", "possible-missing",
                                       "possible-spurious" };
  static const enum evalrun_list lists[] = { EVALRUN_MISTAKES,
                                             EVALRUN_MISSING,
                                             EVALRUN_SPURIOUS };
  size_t l = strlen(name);

  if (l && name[l - 1] == '/')
    l--;
  for (size_t i = 0; i < ARRAY_SIZE(names); i++)
    if (strlen(names[i]) == l && strncmp(names[i], name, l) == 0)
      return (int)lists[i];
  return -ENOENT;
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

int vtree_selection(struct fs_ctx *c, struct store_txn *t, const char *spec,
                    uint64_t **ret, size_t *ret_n)
{
  struct store_iter *it = NULL;
  uint64_t *v = NULL;
  size_t n = 0, cap = 0;
  int r;

  *ret = NULL;
  *ret_n = 0;
  if (strncmp(spec, "views/", 6) == 0 &&
      (r = eval_view_of(spec + 6)) >= 0) {
    /* The latest evaluation's ranked list, refreshed first. */
    char ev[EVALRUN_MAX_NAME + 1];
    struct store_txn *et = NULL;
    struct evalrun_entry chunk[256];
    size_t got, total, from = 0;
    enum evalrun_list which = (enum evalrun_list)r;
    r = evalsel_latest(c, ev, sizeof(ev));
    if (r == -ENOENT) {
      *ret = NULL;
      return 0;   /* no evaluation: an empty selection */
    }
    if (r == 0)
      r = evalsel_refresh(c, ev);
    if (r == 0)
      r = store_txn_begin(c->store, false, &et);
    while (r == 0) {
      r = evalrun_ranked(et, ev, which, from, ARRAY_SIZE(chunk), chunk, &got,
                         &total);
      if (r < 0 || got == 0)
        break;
      for (size_t i = 0; r == 0 && i < got; i++)
        r = push_id(&v, &n, &cap, chunk[i].sample_id);
      from += got;
    }
    store_txn_abort(et);
  } else if (strncmp(spec, "views/", 6) == 0) {
    struct view_list *l;
    enum view_kind k;
    r = views_kind_parse(spec + 6, &k);
    if (r < 0)
      return r;
    r = views_get(c->views, k, &l);
    if (r < 0)
      return r;
    for (size_t i = 0; r == 0 && i < l->n; i++)
      r = push_id(&v, &n, &cap, l->items[i].sample_id);
    view_list_put(l);
  } else if (strcmp(spec, "samples") == 0 || strcmp(spec, "samples/") == 0) {
    struct sample s;
    uint64_t next = 1;
    r = store_iter_new(t, &it);
    while (r == 0 && store_iter_samples(it, next, &s) == 0) {
      next = s.id + 1;
      if (!(s.flags & SAMPLE_MISSING))
        r = push_id(&v, &n, &cap, s.id);
    }
  } else if (strncmp(spec, "tags/", 5) == 0) {
    uint64_t tid, next = 1, sid;
    char tag[256];
    snprintf(tag, sizeof(tag), "%s", spec + 5);
    if (*tag && tag[strlen(tag) - 1] == '/')
      tag[strlen(tag) - 1] = '\0';
    r = store_tag_lookup(t, tag, &tid);
    if (r == 0)
      r = store_iter_new(t, &it);
    while (r == 0 && store_iter_tag(it, tid, next, &sid) == 0) {
      struct sample s;
      next = sid + 1;
      if (store_sample_get(t, sid, &s) == 0 && !(s.flags & SAMPLE_MISSING))
        r = push_id(&v, &n, &cap, sid);
    }
  } else {
    r = -ENOENT;
  }
  store_iter_free(it);
  if (r < 0) {
    free(v);
    return r;
  }
  *ret = v;
  *ret_n = n;
  return 0;
}
