/* export_writer.h - the export writer (export_writer.c), shared by the
 * per-format files (export_coco.c, export_yolo.c, export_voc.c,
 * export_imagenet.c): the selection walk with subset membership, the
 * streaming output buffer with fast number formatting, entry and path
 * helpers, and a scanner over stored attribute objects; and the format
 * table entry (struct exw_format) through which export.c reaches each
 * format.  Private to the export module.
 *
 * Layering inside the module: export.c -> export_<format>.c ->
 * export_writer.c, never back.
 *
 * Ownership: a struct exw lives for one export_list/stat/generate call,
 * on the caller's stack; it borrows the transaction, the spec and the
 * sink, and owns its buffer and subset arrays (exw_done frees them).
 * Not shared between threads. */
#ifndef CURATE_EXPORT_WRITER_H
#define CURATE_EXPORT_WRITER_H

#include <string.h>

#include "export.h"
#include "util.h"

enum { SUB_TRAIN, SUB_VAL, SUB_TEST, SUB_DEFAULT, SUB_N };
extern const char *const exw_subset_names[SUB_N];

/* Output is flushed to the sink whenever the buffer passes this size. */
#define EXW_FLUSH (256u << 10)

struct exw {
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
  const struct sink *out;
  int64_t total;
};

int exw_init(struct exw *x, struct store_txn *t,
             const struct export_spec *s);
void exw_done(struct exw *x);

/* Calls fn for each selected, non-missing sample in id order whose subset
 * is `sub` (-1: any).  fn's non-zero return stops the walk and is
 * returned. */
typedef int (*exw_sample_fn)(struct exw *x, const struct sample *smp, int sub,
                             void *ud);
int exw_each(struct exw *x, int sub, exw_sample_fn fn, void *ud);
/* present[i] = some selected sample is in subset i. */
int exw_subsets(struct exw *x, bool present[SUB_N]);
/* 1 if subset `sub` has a selected sample, 0 if not (also for sub < 0). */
int exw_has_subset(struct exw *x, int sub);
/* Looks up a selected sample by file name "<name><ext>" (ext NULL: the
 * extension of the sample's image in this tree, exw_image_format()); fills
 * *smp and *sub.  -ENOENT
 * when absent, missing or not selected. */
int exw_sample_file(struct exw *x, const char *file, const char *ext,
                    struct sample *smp, int *sub);
/* The export's field of a sample's labels (NULL if it has none); *l must
 * be labels_free()d by the caller. */
const struct label_field *exw_labels(struct exw *x, uint64_t id,
                                     struct labels *l);
/* ---- frame (export_spec.frame) ---- */

/* The EXIF orientation by which this export turns smp's size, boxes and
 * generated pixels: smp's own (2..8) when the export's frame is the
 * viewer's (the spec's frame, or under IMG_FRAME_AUTO the format's own:
 * YOLO and ImageNet), else 1 (as stored); img_frame_turn(). */
int exw_turn(const struct exw *x, const struct sample *smp);
/* smp's size in the frame of `turn` (width and height swapped for 5..8). */
void exw_turned_size(int turn, const struct sample *smp, uint32_t *w,
                     uint32_t *h);
/* d's box (x, y, w, h in smp's stored frame) moved into the frame of
 * `turn`, corner by corner (img_orient_box), its size kept exactly (w
 * and h swapped for 5..8); 1 leaves it bit for bit. */
void exw_turn_box(int turn, const struct sample *smp, struct detection *d);

/* ---- image files ---- */

/* The format in which this export's tree holds a picture of format f: f
 * itself (the sample's own bytes, served from its source), or the one it
 * is converted to because the tree's readers take no other.  VOC's
 * JPEGImages/ holds JPEG only (torchvision's VOCDetection hard-codes
 * ".jpg"); Ultralytics reads no GIF (it lists GIF among its video
 * formats and skips such a file in images/), so YOLO's images/ gets a
 * PNG of a GIF; COCO and every other case keep f. */
enum img_format exw_image_format(const struct exw *x, enum img_format f);
/* Marks e, the image file of smp in this tree (named already), as smp's
 * own bytes (sample_id) or, where exw_image_format() converts, as a
 * generated picture of smp (shows) whose version is a hash of what its
 * bytes come from (exw_source_hash, the target format, the encoder's
 * quality), so a label edit leaves it in the mount's content cache. */
void exw_image_mark(const struct exw *x, const struct sample *smp,
                    struct export_ent *e);
/* Opens smp's source file for its pixels (export_spec.open_source, or
 * import_open_current() below the store's root): 0 and *fd, which the
 * caller closes, or -errno (*fd = -1; -ESTALE: changed since the
 * import). */
int exw_open_source(struct exw *x, const struct sample *smp, int *fd);
/* Writes the converted picture of smp: its source decoded at full size,
 * turned into the export's frame (exw_turn: the picture has no EXIF) and
 * encoded as exw_image_format() says (a JPEG at quality 100, the least a
 * JPEG loses; a PNG losslessly).  -ENOENT where the tree serves smp's own
 * bytes; errors of the read and the decode. */
int exw_gen_image(struct exw *x, const struct sample *smp);

/* ---- versions of generated files (export_ent.version) ---- */

/* One 64-bit word, a string (with its end) or a double mixed into hash h
 * (FNV-style, not cryptographic: a cache key, not a signature). */
uint64_t exw_mix(uint64_t h, uint64_t v);
uint64_t exw_mix_str(uint64_t h, const char *s);
uint64_t exw_mix_double(uint64_t h, double v);
/* The start of the version of every picture generated from smp's file:
 * the source file as the import recorded it (size, mtime, pixel size,
 * path: what tells a changed file; the dataset root is set once for a
 * store) and the turn of the export's frame (exw_turn). */
uint64_t exw_source_hash(const struct exw *x, const struct sample *smp);

/* Name of the subset "train" etc. -> SUB_*, or -1. */
int exw_subset_parse(const char *name, size_t n);

/* ---- output ---- */
int exw_flush(struct exw *x);
/* Makes room for n more bytes; flushes when the buffer is large. */
int exw_room(struct exw *x, size_t n);
static inline void exw_raw(struct exw *x, const char *p, size_t n)
{
  memcpy(x->b.data + x->b.len, p, n);
  x->b.len += n;
}
#define EXW_LIT(x, s) exw_raw((x), (s), sizeof(s) - 1)
/* The writers below reserve their own room and return 0 or -errno. */
int exw_put(struct exw *x, const char *p, size_t n);
int exw_puts(struct exw *x, const char *s);
int exw_u64(struct exw *x, uint64_t v);
/* JSON number: shortest text that reads back to exactly v ("null" when
 * not finite). */
int exw_num(struct exw *x, double v);
int exw_json_str(struct exw *x, const char *s);
/* Text escaped for XML element content. */
int exw_xml_str(struct exw *x, const char *s);
int exw_printf(struct exw *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Walks the members of a compact JSON object text ("{...}") as stored in
 * detection.attributes.  Each call gives the next member: key (with its
 * quotes, raw) and value text spans.  Returns 1 for a member, 0 at the
 * end, -EBADMSG on malformed text. */
struct exw_attr_iter {
  const char *p, *end;
};
void exw_attr_init(struct exw_attr_iter *it, const char *obj);
int exw_attr_next(struct exw_attr_iter *it, const char **key, size_t *klen,
                  const char **val, size_t *vlen);

/* Class name -> directory name for ImageNet: '/' and '%' percent-encoded,
 * "." and ".." encoded too.  out must hold 3 * 200 + 1 bytes. */
void exw_class_dir(const char *cls, char *out, size_t outlen);

/* One export format: its name ("coco", ...) and its three functions,
 * called by export.c with a context set up for the call (exw_init).
 *   list  calls fn for each entry of directory dir ("" = the top);
 *   stat  fills *e for path (never ""); -ENOENT when absent;
 *   gen   writes the bytes of generated file path with the exw_put*
 *         writers (export.c flushes at the end). */
struct exw_format {
  const char *name;
  int (*list)(struct exw *x, const char *dir,
              int (*fn)(const struct export_ent *, void *), void *ud);
  int (*stat)(struct exw *x, const char *path, struct export_ent *e);
  int (*gen)(struct exw *x, const char *path);
};

/* The table's entries, one per format file. */
extern const struct exw_format export_coco_format;
extern const struct exw_format export_yolo_format;
extern const struct exw_format export_voc_format;
extern const struct exw_format export_imagenet_format;

/* Helpers for entries. */
int exw_ent(struct export_ent *e, const char *name, bool dir,
            uint64_t sample_id, uint64_t label_id);
int exw_ent2(struct export_ent *e, const char *name, const char *ext);
/* Lists the selected samples of subset `sub` (-1: all) as "<name><ext>"
 * (ext NULL: the extension of each sample's image in this tree,
 * exw_image_format()); image = true marks each entry as the sample's
 * bytes or a converted picture of it (exw_image_mark). */
int exw_list_samples(struct exw *x, int sub, const char *ext, bool image,
                     int (*fn)(const struct export_ent *, void *), void *ud);
/* Lists "<prefix><subset><suffix>" for each non-empty subset. */
int exw_list_subsets(struct exw *x, const char *prefix, const char *suffix,
                     bool dir, int (*fn)(const struct export_ent *, void *),
                     void *ud);
int exw_list_fixed(const struct export_ent *ents, size_t n,
                   int (*fn)(const struct export_ent *, void *), void *ud);
/* Splits "a/b/c" into its first component (copied to head, NUL-ended)
 * and the rest (*rest, "" when none).  -ENOENT when too long or empty. */
int exw_split(const char *path, char *head, size_t hlen, const char **rest);

#endif
