/* snap.c - read snapshots kept across calls (snap.h).  Each snapshot is a
 * read transaction begun by store_txn_begin(), so it counts among the
 * store's open transactions like any other and store_close() checks that
 * it was ended.  A renewal begins the new transaction before taking the
 * lock, so readers of the snapshots wait for a swap, not for LMDB.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "snap.h"

struct store_snaps {
  struct store *s;
  pthread_mutex_t mu;                   /* guards the fields below */
  struct store_txn *txn[STORE_SNAPS];   /* newest first; NULL: none */
  uint64_t ver[STORE_SNAPS];
};

int store_snaps_new(struct store *s, struct store_snaps **ret)
{
  struct store_snaps *ss = calloc(1, sizeof(*ss));

  if (!ss)
    return -ENOMEM;
  ss->s = s;
  pthread_mutex_init(&ss->mu, NULL);
  *ret = ss;
  return 0;
}

void store_snaps_free(struct store_snaps *ss)
{
  if (!ss)
    return;
  for (unsigned i = 0; i < STORE_SNAPS; i++)
    store_txn_abort(ss->txn[i]);
  pthread_mutex_destroy(&ss->mu);
  free(ss);
}

int store_snaps_renew(struct store_snaps *ss, uint64_t *ver)
{
  struct store_txn *t, *old;
  uint64_t v = 0;
  int r = store_txn_begin(ss->s, false, &t);

  if (r == 0 && (r = store_version(t, &v)) < 0)
    store_txn_abort(t);
  if (r < 0)
    return r;
  pthread_mutex_lock(&ss->mu);
  old = ss->txn[STORE_SNAPS - 1];
  for (unsigned i = STORE_SNAPS - 1; i > 0; i--) {
    ss->txn[i] = ss->txn[i - 1];
    ss->ver[i] = ss->ver[i - 1];
  }
  ss->txn[0] = t;
  ss->ver[0] = v;
  pthread_mutex_unlock(&ss->mu);
  /* No one else can reach it any more. */
  store_txn_abort(old);
  if (ver)
    *ver = v;
  return 0;
}

struct store_txn *store_snaps_take(struct store_snaps *ss, unsigned i,
                                   uint64_t *ver)
{
  pthread_mutex_lock(&ss->mu);
  if (i >= STORE_SNAPS || !ss->txn[i])
    return NULL;
  if (ver)
    *ver = ss->ver[i];
  return ss->txn[i];
}

void store_snaps_give_back(struct store_snaps *ss)
{
  pthread_mutex_unlock(&ss->mu);
}
