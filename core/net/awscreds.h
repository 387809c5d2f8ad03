/* awscreds.h - AWS credentials that come from a helper and expire: a
 * profile's `credential_process` (a command that prints the key as JSON,
 * botocore's format, Version 1) and container credentials (an HTTP
 * endpoint named by AWS_CONTAINER_CREDENTIALS_FULL_URI, with the
 * Authorization value of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN).  awsconf.c picks them after the
 * environment and the profile's own keys (docs/OBJECT-STORAGE.md §2).
 *
 * A key with an Expiration is fetched again once less than
 * AWS_CREDS_EARLY_S seconds of it remain, by the first reader that asks;
 * a failed refresh keeps the current key while it is valid and is tried
 * again at most every AWS_CREDS_RETRY_S seconds.  Nothing here logs; an
 * error names the source and what was wrong, never a key, a token or the
 * helper's output.
 *
 * Ownership and threads: reference-counted (every S3 client of a daemon
 * holds one); one mutex guards the key and its generation, and is held
 * across a refresh so that one reader refreshes while the others wait.
 */
#ifndef CURATE_AWSCREDS_H
#define CURATE_AWSCREDS_H

#include <stddef.h>
#include <stdint.h>

#define AWS_CREDS_EARLY_S 300
#define AWS_CREDS_RETRY_S 30
#define AWS_CREDS_OUT_MAX (64u << 10)   /* a helper's answer, at most */

struct aws_creds;

/* A source running `cmd` with /bin/sh, first key fetched.  0, or -EACCES
 * (the command failed), -EBADMSG (not the JSON expected), -EKEYEXPIRED
 * (already expired), -ENOMEM; the reason in err. */
int aws_creds_process(const char *cmd, struct aws_creds **ret, char *err,
                      size_t errlen);

/* A source asking the container endpoint url (http only on a loopback
 * address, else https).  0, or -EINVAL (url), http_do()'s errors,
 * -EACCES (refused), -EBADMSG, -EKEYEXPIRED, -ENOMEM. */
int aws_creds_container(const char *url, struct aws_creds **ret, char *err,
                        size_t errlen);

struct aws_creds *aws_creds_ref(struct aws_creds *c);
void aws_creds_unref(struct aws_creds *c);   /* NULL is fine */

/* The current key (refreshed first if due): copies the caller frees with
 * secret_free(), *token NULL when there is none, and its generation,
 * which changes with every new key.  0, or the errors above when no
 * valid key is left. */
int aws_creds_get(struct aws_creds *c, uint64_t *gen, char **key_id,
                  char **secret, char **token, char *err, size_t errlen);

#endif
