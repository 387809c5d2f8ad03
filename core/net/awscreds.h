/* awscreds.h - AWS credentials that come from a helper and expire: a
 * profile's `credential_process` (a command that prints the key as JSON,
 * botocore's format, Version 1), container credentials (an HTTP endpoint
 * named by AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on the agent's address
 * 169.254.170.2, or by AWS_CONTAINER_CREDENTIALS_FULL_URI, with the
 * Authorization value of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN), and the EC2 instance metadata
 * service (IMDSv2: a session token by PUT, then the instance's role and
 * its key by GET).  awsconf.c picks them after the environment and the
 * profile, in that order, as the AWS SDKs do (docs/OBJECT-STORAGE.md
 * §2).
 *
 * A key with an Expiration is fetched again once less than
 * AWS_CREDS_EARLY_S seconds of it remain, by the first reader that asks;
 * a failed refresh keeps the current key while it is valid and is tried
 * again at most every AWS_CREDS_RETRY_S seconds, and so is a source that
 * answers with a key already inside that margin (a late rotation, or a
 * metadata service handing out its last key during an outage).
 *
 * An instance metadata key that has already expired when it arrives is
 * not an error: while the service cannot renew keys it keeps handing out
 * the last one, and AWS keeps accepting it for a while (the SDKs call it
 * static stability).  As botocore does, such a key stays in use for a
 * randomized while (AWS_IMDS_EXTEND_MIN_S to _MAX_S, so the processes of
 * one machine do not all ask at once), with a warning in the log, and the
 * service is asked again after it; if that attempt fails the key is kept
 * AWS_CREDS_EARLY_S seconds more, retried every AWS_CREDS_RETRY_S, then
 * dropped.  That warning is the one thing logged here (log_msg); an
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
#define AWS_CREDS_PROCESS_TIMEOUT_S 30  /* a credential_process, at most */
#define AWS_CREDS_OUT_MAX (64u << 10)   /* a helper's answer, at most */
#define AWS_CONTAINER_HOST "169.254.170.2"  /* ECS's credentials agent */
/* Instance metadata, as botocore: the address (another one by
 * AWS_EC2_METADATA_SERVICE_ENDPOINT), one attempt of at most 1 s per
 * request (AWS_METADATA_SERVICE_NUM_ATTEMPTS, AWS_METADATA_SERVICE_
 * TIMEOUT), so a machine without the service loses about a second. */
#define AWS_IMDS_ENDPOINT "http://169.254.169.254"
#define AWS_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define AWS_IMDS_TIMEOUT_S 1.0
#define AWS_IMDS_ATTEMPTS 1
#define AWS_IMDS_TOKEN_TTL_S "21600"
/* An expired instance metadata key is used this long (uniformly drawn)
 * before the service is asked again: botocore's 2 to 10 minutes.  Tests
 * only: CURATE_TEST_IMDS_EXTEND_S sets it (docs/TESTING.md). */
#define AWS_IMDS_EXTEND_MIN_S 120
#define AWS_IMDS_EXTEND_MAX_S 600

/* The instance metadata settings of the profile (the shared config or
 * credentials file), NULL where it has none.  The environment variable
 * of each wins over the profile, as in botocore:
 *   endpoint       AWS_EC2_METADATA_SERVICE_ENDPOINT
 *                  / ec2_metadata_service_endpoint
 *   endpoint_mode  AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE
 *                  / ec2_metadata_service_endpoint_mode (ipv4 or ipv6)
 *   use_ipv6       AWS_IMDS_USE_IPV6 / imds_use_ipv6 (true: the IPv6
 *                  address, when no endpoint mode is set)
 *   timeout        AWS_METADATA_SERVICE_TIMEOUT / metadata_service_timeout
 *   attempts       AWS_METADATA_SERVICE_NUM_ATTEMPTS
 *                  / metadata_service_num_attempts
 * An endpoint, from either place, wins over a mode from either place.
 * Strings are borrowed for the call. */
struct aws_imds_conf {
  const char *endpoint, *endpoint_mode, *use_ipv6, *timeout, *attempts;
};

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

/* The same for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: rel is a path on
 * http://169.254.170.2 (-EINVAL for anything else). */
int aws_creds_container_relative(const char *rel, struct aws_creds **ret,
                                 char *err, size_t errlen);

/* A source asking the instance metadata service (conf and the
 * environment, above; conf may be NULL; AWS_EC2_METADATA_DISABLED=true
 * turns it off).  A service that gives
 * no token (any status but 200 and 400, or no answer in time) is asked
 * without one (IMDSv1).  0, or
 * -ENOKEY (disabled, or no IAM role), -EINVAL (the endpoint or its
 * mode), http_do()'s
 * errors (no service: -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH...),
 * -EPROTO (the token request answered 400), -EACCES, -EBADMSG, -ENOMEM
 * (an answer already expired is kept a while, above, not refused). */
int aws_creds_imds(const struct aws_imds_conf *conf, struct aws_creds **ret,
                   char *err, size_t errlen);

struct aws_creds *aws_creds_ref(struct aws_creds *c);
void aws_creds_unref(struct aws_creds *c);   /* NULL is fine */

/* The current key (refreshed first if due): copies the caller frees with
 * secret_free(), *token NULL when there is none, and its generation,
 * which changes with every new key.  0, or the errors above when no
 * valid key is left. */
int aws_creds_get(struct aws_creds *c, uint64_t *gen, char **key_id,
                  char **secret, char **token, char *err, size_t errlen);

#endif
