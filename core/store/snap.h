/* snap.h - read snapshots of the store kept across calls.
 *
 * A reader that must later see the store exactly as it was at some
 * version (a FUSE daemon regenerating the content of a version its
 * kernel still names) keeps a snapshot here: the newest one taken and the
 * one before it, each one LMDB read transaction.  An open read
 * transaction keeps LMDB from reusing the pages later commits free, so a
 * holder renews its snapshots when it notices a change, not on a timer.
 *
 * Ownership: store_snaps_new() returns an owned set; store_snaps_free()
 * ends its transactions and must run before store_close().  Locking: one
 * mutex guards the set; a transaction taken with store_snaps_take() is
 * the caller's alone until store_snaps_give_back() (LMDB read
 * transactions of an MDB_NOTLS environment may move between threads, but
 * never be used by two at once).
 */
#ifndef CURATE_STORE_SNAP_H
#define CURATE_STORE_SNAP_H

#include <stdint.h>

#include "store.h"

#define STORE_SNAPS 2   /* the newest snapshot and the one before */

struct store_snaps;

int store_snaps_new(struct store *s, struct store_snaps **ret);
/* Ends the snapshots' transactions and frees the set; NULL is fine. */
void store_snaps_free(struct store_snaps *ss);
/* Takes a new snapshot of the store as it is now; the oldest one goes.
 * *ver (may be NULL): its store version.  0 or -errno (the set is then
 * unchanged). */
int store_snaps_renew(struct store_snaps *ss, uint64_t *ver);
/* Snapshot i (0 the newest, up to STORE_SNAPS - 1) for the caller alone:
 * its transaction and store version, or NULL when there is none.  Every
 * store_snaps_take() is followed by one store_snaps_give_back(), also
 * when it returned NULL; the set is locked in between, so do not take two
 * and do not hold one while taking a lock that a renewer may hold. */
struct store_txn *store_snaps_take(struct store_snaps *ss, unsigned i,
                                   uint64_t *ver);
void store_snaps_give_back(struct store_snaps *ss);

#endif
