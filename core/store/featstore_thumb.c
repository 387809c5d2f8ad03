/* featstore_thumb.c - the "feat.thumb" records of featstore.h: the
 * verification thumbnail (imgverify.h) of each sample with computed
 * features, written with "feat" by the import, read by the near-duplicate
 * computation.
 *
 * Value, little-endian: 0 u8 record version (1) | 1 u8 IMGVERIFY_VERSION |
 * 2 u16 side | 4 u32 reserved (0) | 8 side x side u8 luma, row by row.
 */
#include "featstore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TH_HDR 8
#define TH_LEN (TH_HDR + IMGVERIFY_BYTES)

int featstore_put_thumb(struct store_txn *t, uint64_t id,
                        const uint8_t thumb[IMGVERIFY_BYTES])
{
  uint8_t key[8], b[TH_LEN];

  memset(b, 0, TH_HDR);
  b[0] = FEATSTORE_REC_VERSION;
  b[1] = IMGVERIFY_VERSION;
  b[2] = IMGVERIFY_SIDE & 0xff;
  b[3] = IMGVERIFY_SIDE >> 8;
  memcpy(b + TH_HDR, thumb, IMGVERIFY_BYTES);
  store_key_u64(key, id);
  return store_rec_put(t, FEATSTORE_NS_THUMB, key, sizeof(key), b,
                       sizeof(b));
}

int featstore_get_thumb(struct store_txn *t, uint64_t id,
                        uint8_t thumb[IMGVERIFY_BYTES])
{
  uint8_t key[8];
  const void *val;
  const uint8_t *b;
  size_t len;
  int r;

  store_key_u64(key, id);
  r = store_rec_get(t, FEATSTORE_NS_THUMB, key, sizeof(key), &val, &len);
  if (r < 0)
    return r;
  b = val;
  if (len < TH_HDR || b[0] != FEATSTORE_REC_VERSION)
    return -EIO;
  if (b[1] != IMGVERIFY_VERSION || (b[2] | b[3] << 8) != IMGVERIFY_SIDE)
    return -ENOENT;
  if (len != TH_LEN)
    return -EIO;
  if (thumb)
    memcpy(thumb, b + TH_HDR, IMGVERIFY_BYTES);
  return 0;
}

int featstore_load_thumbs(struct store_txn *t, const struct feat_matrix *m,
                          uint8_t **ret_thumbs, uint8_t **ret_ok)
{
  uint8_t *th, *ok;
  size_t have = 0;
  int r = 0;

  *ret_thumbs = *ret_ok = NULL;
  if (m->external || m->n == 0)
    return -ENODATA;
  if (m->n > SIZE_MAX / IMGVERIFY_BYTES)
    return -ENOMEM;
  th = malloc(m->n * IMGVERIFY_BYTES);
  ok = malloc(m->n);
  if (!th || !ok) {
    free(th);
    free(ok);
    return -ENOMEM;
  }
  for (size_t i = 0; r == 0 && i < m->n; i++) {
    r = featstore_get_thumb(t, m->ids[i], th + i * IMGVERIFY_BYTES);
    ok[i] = r == 0;
    have += r == 0;
    if (r == -ENOENT || r == -EIO)
      r = 0;   /* unverified: the pair is kept */
  }
  if (r == 0 && have == 0)
    r = -ENODATA;
  if (r < 0) {
    free(th);
    free(ok);
    return r;
  }
  *ret_thumbs = th;
  *ret_ok = ok;
  return 0;
}
