/* vocname.h - the ids of a Pascal VOC tree (vocname.c): the name an
 * exported sample goes by in Annotations/<id>.xml, JPEGImages/<id>.jpg
 * and the ImageSets/Main/<set>.txt lists, and back.
 *
 * VOC readers read an image set line by line and strip each line
 * (torchvision's VOCDetection, then open JPEGImages/<stripped>.jpg;
 * datumaro also skips a line starting with '#' as a comment), so a
 * sample name with whitespace at either end, or starting with '#', does
 * not survive as a line.  Such bytes are percent-encoded: the whitespace
 * at either end of the name (every code point Python's str.strip()
 * removes), a leading '#', and, so that the encoding can be undone
 * without doubt, a '%' followed by two hex digits.  Every other name,
 * '%' signs included, is its own id.
 *
 * No state; any thread. */
#ifndef CURATE_VOCNAME_H
#define CURATE_VOCNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of an id at most: a file name (NAME_MAX, 255) less ".xml". */
#define VOC_ID_MAX 251

/* Whether text starts or ends with a code point Python's str.strip()
 * removes (ASCII blanks, U+00A0, U+3000 ...): such text does not survive
 * as a stripped line. */
bool voc_has_end_space(const char *text);
/* The id of sample name `name` into out (NUL-terminated).  -ENAMETOOLONG
 * when it does not fit in outlen bytes. */
int voc_id_encode(const char *name, char *out, size_t outlen);
/* The sample name of an id: each "%XX" (two hex digits) as its byte,
 * every other byte as it is.  Ids that voc_id_encode() did not write may
 * decode to the name of another id; callers compare the name's id with
 * the one they were given.  -ENAMETOOLONG when it does not fit. */
int voc_id_decode(const char *id, char *out, size_t outlen);

/* The id of a sample (its name, its store id) into out: voc_id_encode()'s,
 * unless that is longer than VOC_ID_MAX (a 200-byte name with many '%XX'
 * or spaces at an end: each encoded byte takes three), then its start,
 * cut before a character or an encoded byte, "%7E" and the sample id in
 * 16 hex digits.  "%7E" is in no encoded name ('~' is never encoded, and
 * a '%' before "7E" is), so the long form names one sample of one store
 * without doubt.  -ENAMETOOLONG when outlen is too small for either. */
int voc_sample_id(const char *name, uint64_t sample_id, char *out,
                  size_t outlen);
/* The sample id an id of the long form names, or 0 for any other id. */
uint64_t voc_id_sample(const char *id);

#endif
