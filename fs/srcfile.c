/* srcfile.c - opening a sample's source file (srcfile.h).
 *
 * Sources are opened through dataset_open(), which resolves the stored
 * relative path beneath the dataset root and refuses a path that leaves
 * it: the daemon may be able to read what the reader may not.
 */
#include <errno.h>
#include <string.h>

#include "imgfmt.h"
#include "srcfile.h"

int open_sample_source(struct fs_ctx *c, const struct sample *s, int *ret_fd)
{
  int r = dataset_open(c->root, s->relpath);

  *ret_fd = r < 0 ? -1 : r;
  if (r == -EXDEV) {
    /* A link that leads out of the dataset folder. */
    fs_error(c, "%s%s: source %s leads out of the dataset folder "
             "(a symbolic link?): refused", s->name, img_ext_of(s->format),
             s->relpath);
    return -EACCES;
  }
  if (r < 0) {
    fs_error(c, "%s%s: cannot open source %s: %s", s->name,
             img_ext_of(s->format), s->relpath, strerror(-r));
    return r;
  }
  return 0;
}
