/* test_jsonstream.c - the two passes of core/formats/jsonstream.h over a
 * file that changes between them.
 *
 * A COCO import scans the whole file, then walks "annotations" again
 * from the offset the scan found.  A file rewritten in place between the
 * two (same layout, other boxes) must fail the second pass with -EIO, not
 * hand over boxes of a document the first pass never checked; one left
 * alone walks as scanned.  The file's modification time is set back
 * before it is opened, so a rewrite in the same clock tick still shows.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "jsonstream.h"
#include "testlib.h"

static const char *const keys[] = { "images", "annotations" };
static const enum jstream_mode modes[] = { JSTREAM_EACH, JSTREAM_MARK };

static int write_doc(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");   /* in place: the same inode */

  if (!f)
    return -errno;
  fputs(text, f);
  return fclose(f) ? -errno : 0;
}

/* The sum of the "a" members of the elements walked. */
static int add_a(void *ud, int k, size_t i, json_t *e)
{
  (void)k;
  (void)i;
  *(long long *)ud += json_integer_value(json_object_get(e, "a"));
  return 0;
}

static int noop(void *ud, int k, size_t i, json_t *e)
{
  (void)ud;
  (void)k;
  (void)i;
  (void)e;
  return 0;
}

/* Scans path, then calls change(path) (NULL: none), then walks
 * "annotations": the walk's return, its sum in *sum. */
static int two_passes(const char *path, const char *rewrite, long long *sum)
{
  struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
  struct jstream_root root;
  char why[200];
  int r;
  struct jstream *js;

  *sum = 0;
  if (utimensat(AT_FDCWD, path, old, 0) < 0)
    return -errno;
  js = jstream_open(path, &r, why, sizeof(why));
  if (!js)
    return r;
  r = jstream_scan(js, keys, modes, 2, 0, noop, NULL, &root, why,
                   sizeof(why));
  if (r == 0 && rewrite)
    r = write_doc(path, rewrite);
  if (r == 0)
    r = jstream_each(js, &root.at[1], 1, add_a, sum, why, sizeof(why));
  jstream_close(js);
  return r;
}

TEST(rewritten_between_passes)
{
  char dir[256], path[300];
  long long sum;

  CHECK_INT_EQ(tl_tmpdir(dir, sizeof(dir), "jsonstream"), 0);
  snprintf(path, sizeof(path), "%s/doc.json", dir);
  CHECK_INT_EQ(write_doc(path, "{\"images\": [], \"annotations\": "
                               "[{\"a\": 1}, {\"a\": 2}]}"), 0);
  /* Left alone: the second pass walks what the first checked. */
  CHECK_INT_EQ(two_passes(path, NULL, &sum), 0);
  CHECK_INT_EQ(sum, 3);
  /* The same bytes but the boxes, written over it between the passes. */
  CHECK_INT_EQ(two_passes(path, "{\"images\": [], \"annotations\": "
                                "[{\"a\": 7}, {\"a\": 8}]}", &sum), -EIO);
  CHECK_INT_EQ(sum, 0);
  tl_rm_rf(dir);
}

TEST_MAIN(T(rewritten_between_passes))
