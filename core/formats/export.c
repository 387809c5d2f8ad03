/* export.c - the export module's public entry points (export.h).
 *
 * Each format is one entry of a table (struct exw_format, defined in
 * export_writer.h and provided by export_coco.c, export_yolo.c,
 * export_voc.c and export_imagenet.c): its name and its list, stat and
 * generate functions.  This file parses the format name, sets up the
 * shared writer context and hands the call to the format's entry; it
 * knows no layout.  The dependency is one way: this file -> the format
 * files -> export_writer.c.  It also reads the export.frame setting. */
#include "export_writer.h"
#include "config.h"

#include <errno.h>
#include <string.h>

/* Indexed by enum export_format. */
static const struct exw_format *const formats[] = {
  [EXPORT_COCO] = &export_coco_format,
  [EXPORT_YOLO] = &export_yolo_format,
  [EXPORT_VOC] = &export_voc_format,
  [EXPORT_IMAGENET] = &export_imagenet_format,
};

int export_format_parse(const char *s, enum export_format *ret)
{
  for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
    if (strcmp(s, formats[i]->name) == 0) {
      *ret = (enum export_format)i;
      return 0;
    }
  return -EINVAL;
}

enum img_frame export_frame_config(struct store_txn *t)
{
  enum img_frame f = IMG_FRAME_AUTO;
  char v[16];

  config_get_str(t, "export.frame", v, sizeof(v));
  if (img_frame_parse(v, &f) < 0)
    f = IMG_FRAME_AUTO;   /* config.c admits no other value */
  return f;
}

/* The table entry of s->fmt, or NULL for a value outside the enum. */
static const struct exw_format *format_of(const struct export_spec *s)
{
  return (unsigned)s->fmt < ARRAY_SIZE(formats) ? formats[s->fmt] : NULL;
}

int export_list(struct store_txn *t, const struct export_spec *s,
                const char *dir,
                int (*fn)(const struct export_ent *e, void *ud), void *ud)
{
  const struct exw_format *f = format_of(s);
  struct exw x;
  int r = exw_init(&x, t, s);

  if (r == 0 && f)
    r = f->list(&x, dir, fn, ud);
  exw_done(&x);
  return r;
}

int export_stat(struct store_txn *t, const struct export_spec *s,
                const char *path, struct export_ent *ret)
{
  const struct exw_format *f = format_of(s);
  struct exw x;
  int r;

  if (!*path)
    return exw_ent(ret, "", true, 0, 0);
  r = exw_init(&x, t, s);
  if (r == 0 && f)
    r = f->stat(&x, path, ret);
  exw_done(&x);
  return r;
}

int64_t export_generate(struct store_txn *t, const struct export_spec *s,
                        const char *path, const struct sink *out)
{
  const struct exw_format *f = format_of(s);
  struct export_ent e;
  struct exw x;
  int64_t total;
  int r = export_stat(t, s, path, &e);

  if (r < 0)
    return r;
  if (e.dir)
    return -EISDIR;
  if (e.sample_id)
    return -EPERM;
  r = exw_init(&x, t, s);
  if (r == 0 && f) {
    x.out = out;
    r = f->gen(&x, path);
  }
  if (r == 0)
    r = exw_flush(&x);
  total = x.total;
  exw_done(&x);
  return r < 0 ? r : total;
}
