/* awsconf.h - where an S3 client's credentials, region, endpoint and
 * addressing style come from: the places, and the order, that AWS's own
 * tools use (docs/OBJECT-STORAGE.md §2).
 *
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
 *                AWS_SESSION_TOKEN); else the profile AWS_PROFILE (or
 *                "default") in the shared credentials file
 *                (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials),
 *                then in the config file (AWS_CONFIG_FILE, else
 *                ~/.aws/config, section "[profile NAME]" or "[default]"):
 *                its keys, else its `credential_process`; else the
 *                container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_
 *                URI, else _FULL_URI); else the EC2 instance metadata
 *                service, at the address and with the timeouts of the
 *                environment, else of the profile (struct aws_imds_conf)
 *                (the last three expire and are refreshed: awscreds.h)
 *   region       AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`,
 *                else us-east-1
 *   endpoint     AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's
 *                `endpoint_url`, else https://s3.REGION.amazonaws.com
 *   addressing   the profile's nested `s3 = ... addressing_style =
 *                path|virtual|auto`; auto means virtual-hosted on AWS and
 *                path-style on another endpoint (MinIO, Ceph RGW), as
 *                botocore does
 *
 * Net layer; no I/O beyond reading the two files, and the first fetch of
 * an expiring key (awscreds.c).  Ownership: a loaded
 * struct aws_conf owns its strings; aws_conf_free() wipes the secret and
 * the token before freeing them.  No global state.
 */
#ifndef CURATE_AWSCONF_H
#define CURATE_AWSCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "awscreds.h"

struct aws_conf {
  char *key_id;     /* access key id */
  char *secret;     /* secret access key (wiped on free) */
  char *token;      /* session token or NULL (wiped on free) */
  char *region;     /* never NULL after a successful load */
  char *endpoint;   /* scheme://host[:port], no trailing slash */
  bool path_style;  /* /bucket/key rather than bucket.host/key */
  char from[80];    /* where the credentials came from, for messages */
  char imds_why[160]; /* why instance metadata gave none (for -ENOKEY) */
  struct aws_creds *creds;  /* the source of an expiring key (owned
                               reference), else NULL: key_id, secret and
                               token are then its first key */
};

/* Loads the settings from the environment and the shared files.  Returns
 * 0; -ENOKEY when no credentials are found anywhere; -ENOENT when
 * AWS_PROFILE names a profile that neither file has; -EINVAL for a bad
 * endpoint URL or addressing style (reason in err, never a secret); or
 * -ENOMEM.  On failure *c is left empty. */
int aws_conf_load(struct aws_conf *c, char *err, size_t errlen);

/* The same without the credentials: region, endpoint and addressing
 * only (key_id, secret, token and creds stay NULL, nothing is asked of a
 * credential helper), for a caller that signs nothing itself, such as a
 * push telling CVAT where a bucket is.  The errors of aws_conf_load but
 * -ENOKEY. */
int aws_conf_load_place(struct aws_conf *c, char *err, size_t errlen);

/* Frees and wipes (and drops the reference to creds); c may be empty.
 * Safe to call twice. */
void aws_conf_free(struct aws_conf *c);

#endif
