/* import_src.c - what `curate import` reads: a folder (import_dir()), or
 * a bucket given as s3://bucket/prefix (net/s3src.h, with the AWS
 * settings of the environment and the shared files, net/awsconf.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "awsconf.h"
#include "curate.h"
#include "s3src.h"

int tool_import(struct store *s, const char *path,
                const struct import_opts *io, struct import_stats *st,
                char *err, size_t errlen)
{
  struct import_source src;
  struct aws_conf conf;
  struct s3src *b = NULL;
  int r;

  err[0] = '\0';
  if (strncmp(path, "s3://", 5) != 0)
    return import_dir(s, path, io, st);
  if ((r = aws_conf_load(&conf, err, errlen)) < 0)
    return r;
  r = s3src_open(path, &conf, 0, &b, &src, err, errlen);
  aws_conf_free(&conf);
  if (r < 0)
    return r;
  r = import_source_run(s, &src, io, st);
  if (r < 0 && s3src_error(b)[0])
    snprintf(err, errlen, "%s", s3src_error(b));
  s3src_close(b);
  return r;
}
