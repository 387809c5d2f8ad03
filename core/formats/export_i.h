/* export_i.h - what export.c shares with the per-format files
 * (export_coco.c, export_yolo.c, export_voc.c, export_imagenet.c): the
 * selection walk with subset membership, the streaming output buffer with
 * fast number formatting, and a scanner over stored attribute objects.
 * Private to the export module. */
#ifndef CURATE_EXPORT_I_H
#define CURATE_EXPORT_I_H

#include <string.h>

#include "export.h"
#include "util.h"

enum { SUB_TRAIN, SUB_VAL, SUB_TEST, SUB_DEFAULT, SUB_N };
extern const char *const export_subset_names[SUB_N];

/* Output is flushed to the sink whenever the buffer passes this size. */
#define XOUT_FLUSH (256u << 10)

struct xctx {
  struct store_txn *t;
  const struct export_spec *s;
  const char *field;
  uint64_t tag[3];        /* ids of the subset tags; 0 = no such tag */
  /* Sorted members of the subset tags, loaded by the first walk; single
   * lookups before that ask the store (store_tag_has). */
  bool loaded;
  uint64_t *mem[3];
  size_t nmem[3];
  /* output */
  struct buf b;
  const struct export_sink *out;
  int64_t total;
};

int xctx_init(struct xctx *x, struct store_txn *t,
              const struct export_spec *s);
void xctx_done(struct xctx *x);

/* Subset of a selected sample (SUB_*). */
int x_subset_of(struct xctx *x, uint64_t id);
/* Calls fn for each selected, non-missing sample in id order whose subset
 * is `sub` (-1: any).  fn's non-zero return stops the walk and is
 * returned. */
typedef int (*x_sample_fn)(struct xctx *x, const struct sample *smp, int sub,
                           void *ud);
int x_each(struct xctx *x, int sub, x_sample_fn fn, void *ud);
/* present[i] = some selected sample is in subset i. */
int x_subsets(struct xctx *x, bool present[SUB_N]);
/* 1 if subset `sub` has a selected sample, 0 if not (also for sub < 0). */
int x_has_subset(struct xctx *x, int sub);
/* Looks up a selected sample by file name "<name><ext>" (ext NULL: the
 * sample's own image extension, imgfmt.h); fills *smp and *sub.  -ENOENT
 * when absent, missing or not selected. */
int x_sample_file(struct xctx *x, const char *file, const char *ext,
                  struct sample *smp, int *sub);
/* The export's field of a sample's labels (NULL if it has none); *l must
 * be labels_free()d by the caller. */
const struct label_field *x_labels(struct xctx *x, uint64_t id,
                                   struct labels *l);
/* Name of the subset "train" etc. -> SUB_*, or -1. */
int x_subset_parse(const char *name, size_t n);

/* ---- output ---- */
int x_flush(struct xctx *x);
/* Makes room for n more bytes; flushes when the buffer is large. */
int x_room(struct xctx *x, size_t n);
static inline void x_raw(struct xctx *x, const char *p, size_t n)
{
  memcpy(x->b.data + x->b.len, p, n);
  x->b.len += n;
}
#define X_LIT(x, s) x_raw((x), (s), sizeof(s) - 1)
/* The writers below reserve their own room and return 0 or -errno. */
int x_put(struct xctx *x, const char *p, size_t n);
int x_puts(struct xctx *x, const char *s);
int x_u64(struct xctx *x, uint64_t v);
/* JSON number: shortest text that reads back to exactly v ("null" when
 * not finite). */
int x_num(struct xctx *x, double v);
/* Fixed decimals (YOLO: 6), rounded as printf's %.*f does. */
int x_fixed(struct xctx *x, double v, int decimals);
int x_json_str(struct xctx *x, const char *s);
/* Text escaped for XML element content. */
int x_xml_str(struct xctx *x, const char *s);
int x_printf(struct xctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Walks the members of a compact JSON object text ("{...}") as stored in
 * detection.attributes.  Each call gives the next member: key (with its
 * quotes, raw) and value text spans.  Returns 1 for a member, 0 at the
 * end, -EBADMSG on malformed text. */
struct attr_iter {
  const char *p, *end;
};
void attr_iter_init(struct attr_iter *it, const char *obj);
int attr_next(struct attr_iter *it, const char **key, size_t *klen,
              const char **val, size_t *vlen);

/* Class name -> directory name for ImageNet: '/' and '%' percent-encoded,
 * "." and ".." encoded too.  out must hold 3 * 200 + 1 bytes. */
void x_class_dir(const char *cls, char *out, size_t outlen);

/* Per-format entry points. */
int coco_list(struct xctx *x, const char *dir,
              int (*fn)(const struct export_ent *, void *), void *ud);
int coco_stat(struct xctx *x, const char *path, struct export_ent *e);
int coco_gen(struct xctx *x, const char *path);
int yolo_list(struct xctx *x, const char *dir,
              int (*fn)(const struct export_ent *, void *), void *ud);
int yolo_stat(struct xctx *x, const char *path, struct export_ent *e);
int yolo_gen(struct xctx *x, const char *path);
int voc_list(struct xctx *x, const char *dir,
             int (*fn)(const struct export_ent *, void *), void *ud);
int voc_stat(struct xctx *x, const char *path, struct export_ent *e);
int voc_gen(struct xctx *x, const char *path);
int inet_list(struct xctx *x, const char *dir,
              int (*fn)(const struct export_ent *, void *), void *ud);
int inet_stat(struct xctx *x, const char *path, struct export_ent *e);
int inet_gen(struct xctx *x, const char *path);

/* Helpers for entries. */
int x_ent(struct export_ent *e, const char *name, bool dir,
          uint64_t sample_id, uint64_t label_id);
int x_ent2(struct export_ent *e, const char *name, const char *ext);
/* Lists the selected samples of subset `sub` (-1: all) as "<name><ext>"
 * (ext NULL: each sample's own image extension); image = true sets
 * sample_id (the file is the sample's bytes) when ext is NULL or the
 * sample is a JPEG: a JPEG listing of another format is generated. */
int x_list_samples(struct xctx *x, int sub, const char *ext, bool image,
                   int (*fn)(const struct export_ent *, void *), void *ud);
/* Lists "<prefix><subset><suffix>" for each non-empty subset. */
int x_list_subsets(struct xctx *x, const char *prefix, const char *suffix,
                   bool dir, int (*fn)(const struct export_ent *, void *),
                   void *ud);
int x_list_fixed(const struct export_ent *ents, size_t n,
                 int (*fn)(const struct export_ent *, void *), void *ud);
/* Splits "a/b/c" into its first component (copied to head, NUL-ended)
 * and the rest (*rest, "" when none).  -ENOENT when too long or empty. */
int x_split(const char *path, char *head, size_t hlen, const char **rest);

#endif
