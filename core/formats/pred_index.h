/* pred_index.h - which sample a predictions file names (predictions.c):
 * an index of the store's samples by source path, file name, their stems,
 * a number in the file name, and the name an export gives the sample.
 * Private to the predictions module.
 *
 * Matching rules (docs/USER-GUIDE.md, "Importing predictions"): an
 * image's file_name is its exact source path, else the name an export
 * gives the sample ("dir__photo.jpg", its own extension), else a unique
 * file name; a YOLO txt's path without ".txt" is the source path without
 * extension, else an export's sample name, else a unique stem; a COCO
 * image id alone matches a sample whose file name stem is that number.
 * A key two samples share is ambiguous and matches neither.
 *
 * Ownership: pred_index_build() fills *ix, which owns its arrays and
 * copies of the source paths until pred_index_free().  Lookups only read
 * it; the store transaction given to them must stay open for the call.
 * Not shared between threads. */
#ifndef CURATE_PRED_INDEX_H
#define CURATE_PRED_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct pred_sample {
  uint64_t id;
  uint32_t w, h;
  uint8_t orientation; /* EXIF 1..8: YOLO rows are in the turned frame */
  char *rel; /* owned copy of the source path */
};

struct kent {   /* a key of one lookup table */
  const char *key; /* points into an sref's rel or into keybuf */
  size_t len;
  size_t ref;      /* index into refs; SIZE_MAX = ambiguous */
};

struct nument {   /* a number in a file name stem */
  uint64_t num;
  size_t ref;
};

struct pred_index {
  struct pred_sample *refs;
  size_t n;
  struct kent *by_rel, *by_base, *by_relstem, *by_basestem;
  struct nument *by_num;
  size_t n_num;
};


/* Reads every sample of t that is not missing, in id order, into *ix.
 * 0, -ENOMEM or a store error (*ix is then still safe to free). */
int pred_index_build(struct store_txn *t, struct pred_index *ix);
void pred_index_free(struct pred_index *ix);

/* The index entry (into ix->refs) the name matches, or SIZE_MAX. */
size_t pred_match_file_name(const struct pred_index *ix, struct store_txn *t,
                            const char *fn);
size_t pred_match_stem(const struct pred_index *ix, struct store_txn *t,
                       const char *rel, size_t len);
size_t pred_match_number(const struct pred_index *ix, uint64_t num);

#endif
