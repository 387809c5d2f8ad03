/* coco_i.h - the record keys shared by coco.c (the import, which writes
 * them) and coco_rec.c (the reads of coco.h's two record namespaces, and
 * the end of a field's COCO listing).  Private to core/formats/.
 * Errors: negative errno. */
#ifndef CURATE_COCO_I_H
#define CURATE_COCO_I_H

#include <stddef.h>
#include <stdint.h>

/* Key of an image's record in COCO_NS_MISSING: "<field>\0" be64(id), into
 * k (LABELS_MAX_FIELD_NAME + 9 bytes); its length. */
size_t coco_missing_key(uint8_t *k, const char *field, int64_t id);
/* Key of a sample's record in COCO_NS_IMAGE: be64(sample id) "<field>"
 * (no terminator: the bare 8 bytes are an earlier build's field-less
 * record), into k (LABELS_MAX_FIELD_NAME + 8 bytes); its length, or 0 for
 * a field name too long to be one. */
size_t coco_image_key(uint8_t *k, uint64_t sample_id, const char *field);
/* The file name of a COCO_NS_MISSING record (key klen bytes, value v of
 * vlen) into name (4097 bytes); the length of the value before the
 * encoded field, or -EIO for a damaged record. */
int coco_missing_name(size_t klen, const uint8_t *v, size_t vlen,
                      char *name);

#endif
