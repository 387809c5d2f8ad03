/* render.c - the text of the generated files at the root of the mount:
 * README.txt (what this tree is and how to use it) and status (counts,
 * import state, recent errors).  Reads the store; writes nothing.
 *
 * State: none of its own; it reads c's fields under c->mu (import
 * progress, recent errors) and the other modules' counters through their
 * own locked getters. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fs.h"
#include "passthrough.h"
#include "views.h"
#include "vtree.h"

int render_readme(struct fs_ctx *c, struct buf *out)
{
  (void)c;
  buf_reset(out);
  return buf_puts(out,
    "curatefs - this folder is an image dataset\n"
    "==========================================\n"
    "\n"
    "samples/<name>.jpg    every image, the original bytes, with the\n"
    "                      extension of its format (.jpg .png .webp .tif\n"
    "                      .bmp .gif)\n"
    "labels/<name>.json    its labels; write a whole new JSON to replace them\n"
    "tags/<tag>/           the samples carrying a tag\n"
    "views/unique/         the most unique images, ranked (0001-<name>.jpg)\n"
    "views/near-duplicates/ groups of near-identical images (<group>-<name>)\n"
    "views/dupes/          images with overlapping boxes, drawn on the image\n"
    "views/mistakes/ ...   where predictions and labels disagree (eval/)\n"
    "export/coco|yolo|voc|imagenet/  training-ready trees, generated live;\n"
    "                      export/tags/<tag>/<fmt>/, export/views/<view>/<fmt>/\n"
    "cvat/                 echo 'views/unique classes=cat,dog' > cvat/push;\n"
    "                      echo <run> > cvat/pull\n"
    "classes               the class schema: id, boxes, name (see Classes)\n"
    "eval/                 echo name > eval/run; eval/<name>/report.txt\n"
    "plots/embeddings.jpg  a map of the images: near neighbours lie close\n"
    "                      (-thumbs.jpg with small images, .csv the x,y);\n"
    "                      plots/views/<view>.jpg: contact sheets\n"
    "samples.csv           one row per image: size, tags, uniqueness,\n"
    "                      near-duplicate group and nearest distance\n"
    "                      (neardup_group, nn_distance), boxes, evaluation\n"
    "                      (pandas.read_csv, a spreadsheet)\n"
    "                      getfattr -d samples/x.jpg shows the same numbers\n"
    "config                settings: cat it; echo 'key = value' > config\n"
    "status                counts per tag and class, import state, errors\n"
    "\n"
    "Tagging\n"
    "  mkdir tags/reannotate                 create a tag\n"
    "  mv samples/x.jpg tags/reannotate/     tag a sample (samples/ keeps it)\n"
    "  mv tags/a/x.jpg tags/b/               move the tag a -> b\n"
    "  rm tags/reannotate/x.jpg              untag (rm -r tags/t/* untags all)\n"
    "  rmdir tags/reannotate                 delete an empty tag\n"
    "  mv tags/old tags/new                  rename a tag\n"
    "  mv views/dupes/x.jpg tags/reannotate/ any view file tags its sample\n"
    "\n"
    "Labels\n"
    "  Boxes are pixels: \"bbox\": [x, y, width, height] from the top-left.\n"
    "  Keep \"id\" on boxes you edit; leave it out for new boxes.  A write\n"
    "  that is not valid (bad JSON, unknown keys, boxes outside the image)\n"
    "  fails with EINVAL and changes nothing; the reason is in status.\n"
    "\n"
    "Classes\n"
    "  echo 'add cat' > classes              a new class (EEXIST if it exists)\n"
    "  echo 'rename cat -> feline' > classes its boxes follow; the id stays\n"
    "  echo 'remove dog' > classes           only while no box uses it (EBUSY)\n"
    "  A bad name or command fails with EINVAL and changes nothing.  Ids never\n"
    "  change; exports use them.  A CVAT push needs classes: name them with\n"
    "  classes=a,b,c.  A pull makes every label of the CVAT project a class.\n"
    "\n"
    "Only the store's owner (and root) change anything here; other users\n"
    "of an allow_other mount read only with -o share=group|read.\n"
    "\n"
    "Names come from the source path: a/b/c.jpg is samples/a__b__c.jpg,\n"
    "and d/e.png is samples/d__e.png (the extension follows the content).\n"
    "Unmount with: fusermount3 -u <mountpoint>\n");
}

struct status_ctx {
  struct store_txn *t;
  struct buf *out;
};

static int status_count(const char *field, uint32_t class_id, uint64_t count,
                        void *ud)
{
  struct status_ctx *sc = ud;
  const char *name = "?";

  store_class_name(sc->t, class_id, &name);
  return buf_printf(sc->out, "  %-16s %-24s %" PRIu64 "\n", field, name,
                    count) < 0;
}

/* The mount's mode and its caches: passthrough, generated content, and
 * a bucket dataset's object cache. */
static void status_caches(struct fs_ctx *c, struct buf *out)
{
  {
    uint64_t opens;
    const char *off = pt_state(c->pt, &opens);
    buf_printf(out, "\nmount: %s\n", c->no_open ? "read-only, files open "
               "without the daemon" : "normal");
    if (off)
      buf_printf(out, "kernel passthrough: off: %s\n", off);
    else
      buf_printf(out, "kernel passthrough: on, %" PRIu64 " opens of large "
                 "generated files read from their cache files\n", opens);
    buf_printf(out, "names of generated files: %s\n", notify_epoch_on(c)
               ? "kept by the kernel until the store changes"
               : !c->readonly
               ? "kept by the kernel; an open after a change finds the new "
                 "version (files showing samples: looked up at every open)"
               : "looked up at every open");
  }

  {
    struct gen_cache_stats gs;
    gen_cache_stats(c, &gs);
    buf_printf(out, "generated content cache: %" PRIu64 " files, %" PRIu64
               " of %" PRIu64 " bytes in memory, %" PRIu64 " of %" PRIu64
               " bytes on disk\n", gs.files, gs.mem_used, gs.mem_max,
               gs.disk_used, gs.disk_max);
    buf_printf(out, "generated content reads: %" PRIu64 " hits, %" PRIu64
               " misses, %" PRIu64 " evicted, %" PRIu64 " moved to disk\n",
               gs.hits, gs.misses, gs.evicted, gs.spilled);
  }

  if (!c->objsrc) {
    uint64_t hashed, refused;
    srcmemo_stats(c, &hashed, &refused);
    if (hashed || refused)
      buf_printf(out, "sources changed since the import (counts since the "
                 "mount started): %" PRIu64 " reads refused, %" PRIu64
                 " checks of touched files by their bytes; import again to "
                 "record them\n", refused, hashed);
  }

  if (c->objsrc) {
    struct objcache_stats os;
    objsource_stats(c->objsrc, &os);
    buf_printf(out, "object cache: %" PRIu64 " files, %" PRIu64 " of %"
               PRIu64 " bytes; %" PRIu64 " hits, %" PRIu64 " misses, %"
               PRIu64 " evicted\n", os.files, os.bytes, os.max_bytes,
               os.hits, os.misses, os.evictions);
  }
}

int render_status(struct fs_ctx *c, struct buf *out, uint64_t *hash)
{
  size_t caches_at, caches_end;
  struct store_txn *t;
  struct store_iter *it = NULL;
  struct status_ctx sc;
  uint64_t n = 0, next = 1, tid;
  const char *tname;
  int r;

  buf_reset(out);
  r = store_txn_begin(c->store, false, &t);
  if (r < 0)
    return r;
  store_sample_count(t, &n);
  buf_printf(out, "dataset: %s\nstore:   %s\nsamples: %" PRIu64 "\n\n",
             c->root ? c->root : "(none)", c->store_dir, n);
  pthread_mutex_lock(&c->mu);
  if (c->importing || c->imp.phase != IMPORT_SCAN || c->imp.total)
    buf_printf(out, "import: %s %" PRIu64 "/%" PRIu64 "%s%s\n\n",
               c->importing ? import_phase_name(c->imp.phase) : "done", c->imp.done,
               c->imp.total, c->import_err ? ", failed: " : "",
               c->import_err ? strerror(-c->import_err) : "");
  pthread_mutex_unlock(&c->mu);

  buf_puts(out, "tags:\n");
  r = store_iter_new(t, &it);
  while (r == 0 && store_iter_tags(it, next, &tid, &tname) == 0) {
    uint64_t cnt = 0;
    store_tag_get(t, tid, NULL, &cnt, NULL);
    buf_printf(out, "  %-40s %" PRIu64 "\n", tname, cnt);
    next = tid + 1;
  }
  store_iter_free(it);
  buf_puts(out, "\nboxes per field and class:\n");
  sc.t = t;
  sc.out = out;
  store_counts_each(t, status_count, &sc);
  store_txn_abort(t);

  caches_at = out->len;
  status_caches(c, out);
  caches_end = out->len;

  buf_puts(out, "\nviews:\n");
  if (c->views)
    views_progress(c->views, out);

  buf_puts(out, "\nrecent errors:\n");
  pthread_mutex_lock(&c->mu);
  if (c->errs_n == 0)
    buf_puts(out, "  none\n");
  for (unsigned i = 0; i < c->errs_n; i++) {
    unsigned k = (c->errs_head + FS_ERR_RING - c->errs_n + i) % FS_ERR_RING;
    buf_printf(out, "  %s\n", c->errs[k]);
  }
  pthread_mutex_unlock(&c->mu);
  if (hash)
    *hash = hash_bytes_fnv1a(hash_bytes_fnv1a(HASH_FNV1A_INIT, out->data,
                                              caches_at),
                             out->data + caches_end, out->len - caches_end);
  return 0;
}
