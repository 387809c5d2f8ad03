/* config.h - the dataset's settings: a fixed table of keys, each with a
 * type, a default, a valid range and a one-line comment, kept in the store's
 * settings (namespace "cfg:") so they survive remounts.
 *
 * The mount shows them as the `config` file ("key = value  # comment"
 * lines); a write of such lines is validated as a whole and applied in one
 * transaction, or refused with -EINVAL and a reason, changing nothing.
 *
 * Secret keys (CVAT password and token) are never stored and never shown:
 * they live in the process's memory only (config_secret_*), are rendered as
 * "(set)" or "(unset)", and a reason string never contains their value.
 *
 * This module knows the keys of every other module and one validator per
 * key; modules read values with config_get_*().  CVAT's keys and their
 * rules are in config_cvat.c, the one place both the mount's `config` and
 * `curate cvat` (through cvat_config_set()) check them.
 *
 * Ownership and locking: the key tables are static and read-only.  The
 * secrets are owned by this module, guarded by one mutex, and wiped with
 * secret_free() (util.h) when replaced or cleared.
 */
#ifndef CURATE_CONFIG_H
#define CURATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

enum config_type {
  CFG_INT, CFG_FLOAT, CFG_BOOL, CFG_STRING, CFG_ENUM, CFG_SECRET,
};

struct config_key;

/* A key's validator: 0, or -EINVAL with a reason that starts with the
 * key's name (and quotes the value, except for secrets).  The generic
 * checks (length, UTF-8, no control characters) have run before. */
typedef int (*config_check_fn)(const struct config_key *k, const char *val,
                               char *err, size_t errlen);

struct config_key {
  const char *name;
  enum config_type type;
  const char *def;       /* default value as text ("" = empty) */
  double min, max;       /* range of CFG_INT / CFG_FLOAT */
  const char *choices;   /* CFG_ENUM: "a|b|c" */
  const char *comment;
  config_check_fn check; /* the key's rule; empty strings are not checked */
  unsigned flags;        /* CFG_F_* */
};

/* Not in the mount's `config` file: a CVAT setting of `curate cvat` (its
 * --config file, -o, the environment) only. */
#define CFG_F_HIDDEN 1u
/* Names a file: at set time (not when a stored value is read back) it must
 * open for reading as a regular file with the caller's rights (the mount
 * checks as the user who writes config; a FIFO would block the checker). */
#define CFG_F_FILE 2u

/* The keys (static, borrowed).  config_key_find() finds the keys the
 * mount's `config` shows;
 * config_cvat_key() finds a CVAT key by its short name ("url") or its full
 * one ("cvat.url"), hidden ones included. */
const struct config_key *config_key_find(const char *name);
const struct config_key *config_cvat_key(const char *name);
/* The CVAT keys (shown, then hidden), for listing them. */
const struct config_key *config_cvat_keys(size_t *ret_n);

/* Checks one value against its key (a stored value read back); on -EINVAL
 * writes the reason to err. */
int config_check(const struct config_key *k, const char *val, char *err,
                 size_t errlen);
/* The check of a value being set: config_check(), then for CFG_F_FILE the
 * file itself.  The one check every path that sets a key goes through. */
int config_check_set(const struct config_key *k, const char *val, char *err,
                     size_t errlen);

/* A size: a number with an optional K, M or G suffix (KiB, MB, ... read
 * as powers of 1024), at most max.  0 or -EINVAL. */
int config_parse_size(const char *v, uint64_t max, uint64_t *ret);

/* Current value of a key (stored or default) into an owned string. */
int config_get(struct store_txn *t, const char *name, char **ret);
/* Whether a key has a stored value (rather than its default). */
bool config_is_set(struct store_txn *t, const char *name);
/* Typed getters: stored value or default; on a damaged stored value the
 * default is used. */
int64_t config_get_int(struct store_txn *t, const char *name);
double config_get_float(struct store_txn *t, const char *name);
bool config_get_bool(struct store_txn *t, const char *name);
/* Copies a string/enum value into out (truncated to outlen). */
void config_get_str(struct store_txn *t, const char *name, char *out,
                    size_t outlen);

/* Renders every key: "key = value  # comment" lines with a short header. */
int config_render(struct store_txn *t, struct buf *out);

/* Applies a document of "key = value" lines (blank lines and '#' comments
 * allowed, "key =" resets to the default).  All lines are checked first;
 * any bad line fails the whole document with -EINVAL and a reason naming
 * the line.  Stored keys go into t (the caller commits); secrets are set
 * through config_secret_set() only after every line passed, and *ret_changed
 * counts the keys whose value changed. */
int config_apply(struct store_txn *t, const char *doc, size_t len,
                 char *err, size_t errlen, unsigned *ret_changed);

/* In-memory secrets (thread-safe).  config_secret_get copies into out and
 * returns true if set. */
void config_secret_set(const char *name, const char *val);
bool config_secret_get(const char *name, char *out, size_t outlen);
/* Bumped by every secret change: what a rendering of the settings
 * depends on besides the store. */
uint64_t config_secret_generation(void);
/* Wipes every secret from memory (at exit). */
void config_secret_clear(void);

#endif
