/* provlib.c - helpers the providers share: the store version as a content
 * key, the listing and content of a provider that is one rendered file,
 * selections by name, reading a whole file.
 *
 * It sits below the providers and knows none of them (nor the registry,
 * vtree.c), so providers depend on it without a cycle.  No state, no
 * locks: each call works in the caller's transaction or its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "selection.h"
#include "vtree.h"

uint64_t provlib_version_key(struct store_txn *t)
{
  uint64_t v = 0;
  store_version(t, &v);
  return v + 1;
}

int provlib_list_none(struct fs_ctx *c, struct store_txn *t,
                      const char *path, uint64_t from, vent_fn fn, void *ud)
{
  (void)c; (void)t; (void)path; (void)from; (void)fn; (void)ud;
  return -ENOTDIR;
}

int provlib_render(struct store_txn *t, size_t cap,
                   int (*render)(struct store_txn *t, struct buf *out),
                   const struct sink *out)
{
  struct buf b;
  int r;

  buf_init(&b, cap);
  r = render(t, &b);
  if (r == 0)
    r = out->write(out->ud, b.data, b.len);
  buf_free(&b);
  return r;
}

uint64_t provlib_store_version(struct fs_ctx *c)
{
  struct store_txn *t;
  uint64_t k = 0;

  if (store_txn_begin(c->store, false, &t) == 0) {
    k = provlib_version_key(t);
    store_txn_abort(t);
  }
  return k;
}

int provlib_read_whole(int fd, uint64_t size, uint8_t **ret, size_t *ret_len)
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

int provlib_selection(struct fs_ctx *c, struct store_txn *t, const char *spec,
                      uint64_t **ret, size_t *ret_n)
{
  char err[300];
  int r = selection_ids(c->views, t, spec, ret, ret_n, err, sizeof(err));

  if (r < 0 && r != -ENOENT)
    fs_error(c, "%s: %s", spec, err[0] ? err : strerror(-r));
  return r;
}

int provlib_selection_prepare(struct fs_ctx *c, const char *spec)
{
  char err[300];
  int r;

  /* A read-only mount writes nothing to the store: the evaluation views'
   * exports and contact sheets show the stored run, as the views do
   * (evalsel_refresh()). */
  if (c->readonly)
    return 0;
  r = selection_prepare(c->store, spec, err, sizeof(err));
  if (r < 0 && r != -ENOENT)
    fs_error(c, "%s: %s", spec, err[0] ? err : strerror(-r));
  return r;
}
