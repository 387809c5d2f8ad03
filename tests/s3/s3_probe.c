/* s3_probe.c - the S3 client from the command line, for the tests: the
 * settings come from the environment and the AWS files as for
 * `curate import s3://...`.
 *
 *   s3_probe ls s3://BUCKET/PREFIX           key<TAB>size<TAB>etag per line
 *   s3_probe get s3://BUCKET/KEY [OFF [LEN [ETAG]]]   the bytes on stdout
 *   s3_probe conf                            region, endpoint, style, from
 *   s3_probe ls2 s3://BUCKET/PREFIX SECONDS  ls, wait, ls again on the
 *                                            same client (a key refresh)
 *
 * Errors: one line on stderr, and the errno as exit status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awsconf.h"
#include "s3.h"

static int print_obj(const struct s3_object *o, void *ud)
{
  (void)ud;
  printf("%s\t%llu\t%s\n", o->key, (unsigned long long)o->size, o->etag);
  return 0;
}

int main(int argc, char **argv)
{
  struct aws_conf conf;
  struct s3 *s = NULL;
  char err[512] = "", *bucket = NULL, *key = NULL;
  int r;

  if (argc < 2)
    return fprintf(stderr, "usage: s3_probe ls|get|conf ...\n"), 2;
  r = aws_conf_load(&conf, err, sizeof(err));
  if (r == 0 && strcmp(argv[1], "conf") == 0) {
    printf("region=%s\nendpoint=%s\npath_style=%d\nfrom=%s\ntoken=%d\n",
           conf.region, conf.endpoint, conf.path_style, conf.from,
           conf.token != NULL);
    aws_conf_free(&conf);
    return 0;
  }
  if (r == 0 && argc < 3)
    return fprintf(stderr, "usage: s3_probe ls|get URL\n"), 2;
  if (r == 0)
    r = s3_url_parse(argv[2], &bucket, &key, err, sizeof(err));
  if (r == 0)
    r = s3_open(&conf, bucket, &s, err, sizeof(err));
  if (r == 0 && strcmp(argv[1], "ls") == 0) {
    r = s3_list(s, key, print_obj, NULL, err, sizeof(err));
  } else if (r == 0 && strcmp(argv[1], "ls2") == 0 && argc > 3) {
    r = s3_list(s, key, print_obj, NULL, err, sizeof(err));
    if (r == 0) {
      sleep((unsigned)atoi(argv[3]));
      r = s3_list(s, key, print_obj, NULL, err, sizeof(err));
    }
  } else if (r == 0 && strcmp(argv[1], "get") == 0) {
    struct buf out;
    char etag[S3_ETAG_MAX];
    uint64_t total = 0;
    buf_init(&out, 1u << 30);
    r = s3_get(s, key, argc > 3 ? strtoull(argv[3], NULL, 10) : 0,
               argc > 4 ? strtoull(argv[4], NULL, 10) : 0,
               argc > 5 ? argv[5] : NULL, 0, &out, etag, &total, err,
               sizeof(err));
    if (r == 0) {
      fwrite(out.data, 1, out.len, stdout);
      fprintf(stderr, "etag=%s total=%llu\n", etag,
              (unsigned long long)total);
    }
    buf_free(&out);
  }
  s3_close(s);
  free(bucket);
  free(key);
  aws_conf_free(&conf);
  if (r < 0) {
    fprintf(stderr, "s3_probe: %s\n", err[0] ? err : strerror(-r));
    return -r;
  }
  return 0;
}
