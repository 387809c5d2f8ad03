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
 * This module knows the keys of every other module but none of their
 * logic; modules read values with config_get_*().
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

struct config_key {
  const char *name;
  enum config_type type;
  const char *def;       /* default value as text ("" = empty) */
  double min, max;       /* CFG_INT / CFG_FLOAT */
  const char *choices;   /* CFG_ENUM: "a|b|c" */
  const char *comment;
  /* CFG_STRING: what the value names, checked by the rule of that name's
   * own place (tags/, labels, the HTTP client); empty values pass.  A file
   * (CFG_IS_FILE) must be an absolute path that opens for reading with the
   * caller's rights (the mount checks as the user who writes config). */
  enum { CFG_ANY, CFG_IS_FIELD, CFG_IS_TAG, CFG_IS_URL, CFG_IS_FILE } names;
};

/* The key table (static, borrowed) and its length. */
const struct config_key *config_keys(size_t *ret_n);
const struct config_key *config_key_find(const char *name);

/* Checks one value against its key; on -EINVAL writes the reason to err.
 * The reason quotes the value, except for secrets. */
int config_check(const struct config_key *k, const char *val, char *err,
                 size_t errlen);

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
