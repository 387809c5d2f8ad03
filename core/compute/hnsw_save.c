/* hnsw_save.c - the graph of an HNSW index as bytes and back (hnsw.h):
 * a cache of the graph only, in host byte order, to be loaded over the
 * same rows on the same kind of machine.  Loading checks every field and
 * link against n and d, so stale or corrupt bytes give -EBADMSG and never
 * a graph that a search could walk out of.
 */
#include "hnsw_i.h"

#include <errno.h>
#include <stdlib.h>

#define SAVE_MAGIC 0x57534e48u /* "HNSW" little-endian */
#define SAVE_VERSION 1u

struct save_hdr {
  uint32_t magic, version;
  uint64_t n, d;
  uint32_t m, efc;
  uint64_t seed;
  uint32_t entry, maxlevel;
  uint64_t up_len;
};
_Static_assert(sizeof(struct save_hdr) == HNSW_SAVE_HDR, "save header");

int hnsw_save(const struct hnsw *h, struct buf *out)
{
  struct save_hdr hd;
  int r;

  if (!h || !out)
    return -EINVAL;
  memset(&hd, 0, sizeof(hd));
  hd.magic = SAVE_MAGIC;
  hd.version = SAVE_VERSION;
  hd.n = h->n;
  hd.d = h->d;
  hd.m = h->m;
  hd.efc = h->efc;
  hd.seed = h->seed;
  hd.entry = h->entry;
  hd.maxlevel = h->maxlevel;
  hd.up_len = h->up_len;
  r = buf_append(out, &hd, sizeof(hd));
  if (r == 0)
    r = buf_append(out, h->level, h->n);
  if (r == 0)
    r = buf_append(out, h->l0, h->n * (1 + (size_t)h->m0) * 4);
  if (r == 0)
    r = buf_append(out, h->up, h->up_len * 4);
  return r;
}

/* Every list: count within its limit, links in range, not the row
 * itself, and only to rows present on that layer. */
static bool lists_valid(const struct hnsw *h)
{
  for (size_t i = 0; i < h->n; i++)
    for (unsigned l = 0; l <= h->level[i]; l++) {
      const uint32_t *lk = links(h, (uint32_t)i, l);

      if (lk[0] > (l ? h->m : h->m0))
        return false;
      if (lk[0] && leader(h, h->grp[i]) != i)
        return false;
      for (uint32_t t = 1; t <= lk[0]; t++)
        if (lk[t] >= h->n || lk[t] == i || h->level[lk[t]] < l ||
            leader(h, h->grp[lk[t]]) != lk[t])
          return false;
    }
  return true;
}

int hnsw_load(const float *x, size_t n, size_t d, const void *bytes,
              size_t len, struct hnsw **ret_index)
{
  const unsigned char *p = bytes;
  struct save_hdr hd;
  struct hnsw *h;
  size_t need;
  unsigned maxl = 0;
  int r;

  if (!ret_index)
    return -EINVAL;
  *ret_index = NULL;
  if ((!bytes && len) || d == 0 || n >= HNSW_NONE || (n > 0 && !x))
    return -EINVAL;
  if (len < sizeof(hd))
    return -EBADMSG;
  memcpy(&hd, p, sizeof(hd));
  if (hd.magic != SAVE_MAGIC || hd.version != SAVE_VERSION || hd.n != n ||
      hd.d != d || hd.m < 2 || hd.m > HNSW_MAX_M || hd.efc > HNSW_MAX_EF ||
      hd.maxlevel > MAX_LEVEL || (n && hd.entry >= n))
    return -EBADMSG;
  h = hnsw_alloc(x, n, d, hd.m, hd.efc, hd.seed);
  if (!h)
    return -ENOMEM;
  r = -EBADMSG;
  need = sizeof(hd) + n;
  if (len < need)
    goto fail;
  memcpy(h->level, p + sizeof(hd), n);
  for (size_t i = 0; i < n; i++) {
    if (h->level[i] > MAX_LEVEL ||
        (h->level[i] && leader(h, h->grp[i]) != i))
      goto fail;
    if (h->level[i] > maxl)
      maxl = h->level[i];
  }
  if (n && (maxl != hd.maxlevel || h->level[hd.entry] != maxl ||
            leader(h, h->grp[hd.entry]) != hd.entry))
    goto fail;
  r = hnsw_alloc_graph(h);
  if (r < 0)
    goto fail;
  r = -EBADMSG;
  if (h->up_len != hd.up_len ||
      len != need + n * (1 + (size_t)h->m0) * 4 + h->up_len * 4)
    goto fail;
  memcpy(h->l0, p + need, n * (1 + (size_t)h->m0) * 4);
  memcpy(h->up, p + need + n * (1 + (size_t)h->m0) * 4, h->up_len * 4);
  if (!lists_valid(h))
    goto fail;
  h->entry = hd.entry;
  h->maxlevel = hd.maxlevel;
  *ret_index = h;
  return 0;
fail:
  hnsw_free(h);
  return r;
}
