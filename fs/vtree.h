/* vtree.h - the generated parts of the tree (config, classes, views/,
 * export/, cvat/, eval/, plots/) as "providers": each owns one top-level name and
 * answers stat / list / generate / write for paths below it, in plain path
 * terms.  Providers never see FUSE: ops.c turns their answers into replies.
 *
 *   top-level name    provider file      data comes from
 *   config            prov_config.c      core/config (store settings)
 *   classes           prov_classes.c     core/classes (the class schema)
 *   views/            prov_views.c       core/views (similarity, neardup,
 *                                        iou), core/evalrun for the
 *                                        evaluation views, core/draw
 *   export/           prov_export.c      core/export
 *   cvat/             prov_cvat.c        core/cvat_sync (runs in the store)
 *   eval/             prov_eval.c        core/evalrun, core/predictions
 *   plots/            prov_plots.c       core/featstore, core/plot
 *   samples.csv       prov_table.c       core/table (views, evalrun)
 *
 * Inodes of provider paths come from a table (vnode.c): a path gets an
 * inode when the kernel first looks it up and keeps it until the kernel
 * forgets it, so providers need no inode scheme of their own.
 *
 * Generated file content is produced once per (path, key) and cached
 * (gencache.c): small content in memory, large content in an unlinked
 * temporary file of the store directory, streamed as it is generated.  An
 * open file keeps the content it opened, so a reader of a changing export
 * sees one coherent version; the next open sees the new one.
 */
#ifndef CURATE_VTREE_H
#define CURATE_VTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"

enum vent_kind {
  VENT_DIR,
  VENT_SAMPLE,  /* the original bytes of sample_id (served from source) */
  VENT_FILE,    /* generated, read-only */
  VENT_CTL,     /* generated on read, writable: writes go to ->write */
};

struct vent {
  enum vent_kind kind;
  uint64_t sample_id;   /* VENT_SAMPLE; for VENT_FILE the sample it shows
                           (a rename source for tagging), or 0 */
  uint64_t key;         /* VENT_FILE/CTL: same path + same key = same
                           bytes; 0 = volatile, regenerated at every open
                           and read with direct I/O */
  int64_t mtime_ns;     /* 0 = mount time */
  uint64_t size;        /* filled in by the layer for generated files */
};

/* Output of generation: a byte sink (write returns 0 or -errno).  offer,
 * when not NULL, takes the whole content of another path of the same
 * provider (`path` below its top) and the same key, made along the way
 * (the other crops of one decoded photo): the content cache keeps it for
 * when that path is asked for. */
struct gen_sink {
  int (*write)(void *ud, const void *p, size_t n);
  void *ud;
  int (*offer)(void *ud, const char *path, const void *p, size_t n);
};

/* Listing callback: returns non-zero to stop (reply buffer full).  cookie
 * is the provider's resume point after this entry (> 0, increasing). */
typedef int (*vent_fn)(const char *name, const struct vent *e,
                       uint64_t cookie, void *ud);

struct provider {
  const char *name;    /* top-level entry */
  /* path is relative to the provider's top ("" = the top itself).
   * Returns 0 or -ENOENT (or another -errno). */
  int (*stat)(struct fs_ctx *c, struct store_txn *t, const char *path,
              struct vent *ret);
  /* Lists directory `path` starting after cookie `from` (0 = start). */
  int (*list)(struct fs_ctx *c, struct store_txn *t, const char *path,
              uint64_t from, vent_fn fn, void *ud);
  /* Streams the content of a VENT_FILE / VENT_CTL. */
  int (*generate)(struct fs_ctx *c, struct store_txn *t, const char *path,
                  const struct gen_sink *out);
  /* VENT_CTL only: a whole written document.  Returns 0 or -errno with
   * the reason already reported through fs_error(). */
  int (*write)(struct fs_ctx *c, const char *path, const char *data,
               size_t len);
  /* Optional: validates a document at each write that ends a line, so a
   * bad `echo ... >` fails at write(2); ->write applies it at close. */
  int (*check)(struct fs_ctx *c, const char *path, const char *data,
               size_t len);
  /* The control files are commands: ->write runs at the first write that
   * ends a line (its errno is write(2)'s), not at close. */
  bool command;
  /* With command: a stream of line commands.  Each write that ends a line
   * runs the complete lines written since the last run (so a document
   * written in several write(2)s, `{ echo a; echo b; } > file` or one
   * larger than a write, runs whole, each write's lines in one ->write);
   * a refused write fails with its errno and later writes too, what
   * earlier writes ran stays. */
  bool lines;
  /* Optional: called once the store is open (background work to resume)
   * and at unmount, before the store closes. */
  void (*start)(struct fs_ctx *c);
  void (*stop)(struct fs_ctx *c);
  /* Optional: generate ahead what readers will want, after the store
   * settled on a new version (warm.c's thread). */
  void (*warm)(struct fs_ctx *c);
  /* stat's answers depend on the store's content alone (settings
   * included), so they hold while the store version does: lookups of
   * known versioned files skip ->stat (vnode_lookup_verified()). */
  bool by_version;
};

/* ---- warm.c ---- */
void warm_start(struct fs_ctx *c);
void warm_stop_join(struct fs_ctx *c);
/* From a ->warm hook: generates the versioned files of directory `dir`
 * of provider p (a path below its top) that the content cache lacks, one
 * by one; nothing when it has more than max_files.  Stops early at
 * unmount, when the store changes, or when the cache is 3/4 full. */
int warm_dir(struct fs_ctx *c, const struct provider *p, const char *dir,
             size_t max_files);

/* Starts and stops the providers' background work (main.c). */
void vtree_start(struct fs_ctx *c);
void vtree_stop(struct fs_ctx *c);

/* Sample ids of a selection named as in the tree: "samples", "tags/<t>",
 * "views/<v>" (views in their listed order, the others by id), read
 * within t (core/views/selection.h).  *ret is owned by the caller.
 * -ENOENT for an unknown name. */
int vtree_selection(struct fs_ctx *c, struct store_txn *t, const char *spec,
                    uint64_t **ret, size_t *ret_n);
/* The step before: re-runs the latest evaluation for an evaluation view
 * if its labels changed (a write transaction).  Call it before beginning
 * the read transaction vtree_selection() is given. */
int vtree_selection_prepare(struct fs_ctx *c, const char *spec);

/* The registered providers (vtree.c), NULL-terminated. */
extern const struct provider *const vtree_providers[];
/* Finds the provider of a full path ("views/unique/x.jpg") and sets *rest
 * to the path below it ("unique/x.jpg", or "" for "views"). */
const struct provider *vtree_provider_of(const char *path, const char **rest);

/* The store version as a content key (never 0): for content that may
 * change with any change of the store. */
uint64_t vtree_version_key(struct store_txn *t);
/* The same in a read transaction of its own; 0 if the store cannot be
 * read. */
uint64_t vtree_store_version(struct fs_ctx *c);

/* Opens a sample's source file read-only (ops.c); reports failures
 * through fs_error(). */
int open_sample_source(struct fs_ctx *c, const struct sample *s, int *ret_fd);
/* Reads up to `size` bytes of fd into a new buffer (vtree.c). */
int read_whole(int fd, uint64_t size, uint8_t **ret, size_t *ret_len);

/* ---- fdcache.c: source descriptors for reads without a handle ---- */
struct fd_ref {
  void *slot;   /* the cache slot held, or NULL (fd is then the caller's) */
  int fd;
};
/* A descriptor of the sample's source file for one read; fdcache_put()
 * after the reply. */
int fdcache_get(struct fs_ctx *c, const struct sample *s, struct fd_ref *ret);
void fdcache_put(struct fs_ctx *c, struct fd_ref *ref);
void fdcache_free(struct fs_ctx *c);

struct gen_content;

/* ---- vnode.c: inode numbers of provider paths ---- */

/* Versions.  A generated file whose content follows the store (content
 * key != 0) gets one inode per version: the inode of (path, key).  Its
 * attributes and the kernel's page cache of it then never change, and
 * the readers of an old version keep reading it on their inode while the
 * name leads to the new one.  The kernel asks for such names at every
 * open (entry timeout 0), so an open that starts after a change always
 * finds the new version.  Each such inode records its version's size and
 * mtime at its lookup, and holds its content if in a cache file, until the
 * kernel forgets it (vnode_pin()); so its attributes never change, and
 * its readers, with a handle or without one (-o readonly), get that
 * version.  Smaller content of an old version is served while the content
 * cache has it (an open handle holds its own); a read by inode
 * (-o readonly) after that, once the kernel has dropped its pages, gets
 * ESTALE. */

/* Inode for a full path holding content `key` (0: not versioned),
 * created if needed: a record of another key is detached first.  Each
 * call counts one kernel lookup (the kernel forgets it later).  0 on out
 * of memory. */
uint64_t vnode_ino(struct fs_ctx *c, const char *path, uint64_t key);
/* Lookups by version.  For a provider whose answers follow the store
 * version alone (provider.by_version), a lookup that found the path's
 * current key at store version `ver` records it (vnode_set_verified());
 * a later lookup at the same version reuses that inode without asking the
 * provider (vnode_lookup_verified(): the inode, one lookup counted, or 0).
 * ver is the store version + 1 (never 0). */
uint64_t vnode_lookup_verified(struct fs_ctx *c, const char *path,
                               uint64_t ver);
void vnode_set_verified(struct fs_ctx *c, uint64_t ino, uint64_t ver);
/* A nonzero inode number for a plain readdir entry (which counts no
 * lookup): the path's inode if it has one, else a number derived from the
 * path.  glibc's readdir() drops entries whose inode number is 0. */
uint64_t vnode_dirent_ino(struct fs_ctx *c, const char *path);
/* The full path of an inode into out; -ENOENT if unknown. */
int vnode_path(struct fs_ctx *c, uint64_t ino, char *out, size_t outlen);
/* The kernel dropped nlookup references. */
void vnode_forget(struct fs_ctx *c, uint64_t ino, uint64_t nlookup);
/* The path's dentry was moved away by a rename: its next lookup gets a
 * fresh inode (see node.h on why moved dentries need that). */
void vnode_detach(struct fs_ctx *c, const char *path);
/* The content key an inode stands for (0: not versioned). */
uint64_t vnode_key(struct fs_ctx *c, uint64_t ino);
/* Records g as the content of inode ino, if ino stands for key and has
 * none yet: its size, the modification time to report, and g itself (a
 * reference of its own) when g is in a cache file.  Kept until the kernel
 * forgets the inode. */
void vnode_pin(struct fs_ctx *c, uint64_t ino, uint64_t key,
               struct gen_content *g, int64_t mtime_ns);
#define VNODE_SIZE_UNKNOWN UINT64_MAX
/* The recorded size and mtime of a version's inode; -ENOENT if none. */
int vnode_attrs(struct fs_ctx *c, uint64_t ino, uint64_t *size,
                int64_t *mtime_ns);
/* A new reference to the cache-file content inode ino holds; NULL if
 * none. */
struct gen_content *vnode_pinned(struct fs_ctx *c, uint64_t ino);
/* Registers an open of a generated file, whose content is in cache file
 * fd (or -1): the first open of an inode chooses how the kernel reads it,
 * by passthrough from fd where the kernel allows it (the returned backing
 * id, > 0) or through the page cache (0); later opens, of the same
 * version, follow it.  vnode_closed() at each release of a registered
 * open. */
int vnode_open(struct fs_ctx *c, uint64_t ino, int fd);
void vnode_closed(struct fs_ctx *c, uint64_t ino);
void vnode_free_all(struct fs_ctx *c);

/* ---- gencache.c: generated content ---- */

/* A cache of content by (full path, key), bounded in bytes: small content
 * in memory up to a memory bound, then in a shared spill file of the store
 * directory; large content in its own cache file; least recently used
 * leaves first.  Thread-safe; references keep content alive after it left
 * the cache. */


/* Content of a generated file, generated (once, other callers wait) when
 * (path, key) is not cached.  key == 0 generates uncached.  Returns a
 * reference (gen_put() when done). */
int gen_get(struct fs_ctx *c, const struct provider *p, struct store_txn *t,
            const char *fullpath, const char *ppath, uint64_t key,
            struct gen_content **ret);
/* The cached content of (path, key) without generating it; -ENOENT if
 * it is not cached (any more). */
int gen_find(struct fs_ctx *c, const char *fullpath, uint64_t key,
             struct gen_content **ret);
/* Another reference to g (g itself). */
struct gen_content *gen_ref(struct gen_content *g);
void gen_put(struct gen_content *g);
uint64_t gen_size(const struct gen_content *g);
/* The content's own cache file (large content, the one passthrough can
 * use), or -1. */
int gen_fd(const struct gen_content *g);
/* A file holding the content at *base: its own cache file (base 0) or the
 * shared spill file; -1 when the content is in memory (gen_mem()).  Stays
 * valid while the reference is held. */
int gen_file(const struct gen_content *g, uint64_t *base);
const char *gen_mem(const struct gen_content *g);
/* Whether (path, key) is in the cache now (no reference, no wait). */
bool gen_cached(struct fs_ctx *c, const char *fullpath, uint64_t key);

/* The cache's bound and use (status). */
struct gen_cache_stats {
  uint64_t files;
  uint64_t mem_used, mem_max, disk_used, disk_max;
  uint64_t hits, misses, evicted, spilled;
};
void gen_cache_stats(struct fs_ctx *c, struct gen_cache_stats *s);
/* The default bounds on this machine: memory from its RAM, disk from the
 * free space of `dir` (the store directory). */
void gen_cache_defaults(const char *dir, uint64_t *mem_max,
                        uint64_t *disk_max);
void gen_cache_free(struct fs_ctx *c);

#endif
