/* export_helper - test helper for the export suite, over core/ directly:
 *   export_helper tag STORE TAG NAME...     tag samples (one transaction)
 *   export_helper dump STORE FIELD           one JSON line per box, sorted
 *                                            by sample name then box order
 *   export_helper gen STORE FORMAT PATH [TAG]
 *                                            export_generate() to stdout
 *   export_helper stat STORE FORMAT PATH     prints "dir", "image <id>",
 *                                            "file" or the errno name
 *   export_helper samples STORE all          one line per sample: name,
 *                                            format, stored width and
 *                                            height, EXIF orientation
 *                                            (tab-separated; the import's
 *                                            header read, as recorded)
 * Exit status 0, or 1 with a message on stderr. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "store.h"
#include "util.h"

static int die(const char *what, int r)
{
  fprintf(stderr, "export_helper: %s: %s\n", what, strerror(-r));
  return 1;
}

static int out_write(void *ud, const void *p, size_t n)
{
  (void)ud;
  return fwrite(p, 1, n, stdout) == n ? 0 : -EIO;
}

static int do_tag(struct store *s, int argc, char **argv)
{
  struct store_txn *t;
  uint64_t tag;
  int r = store_txn_begin(s, true, &t);

  if (r == 0 && store_tag_lookup(t, argv[0], &tag) == -ENOENT)
    r = store_tag_create(t, argv[0], &tag);
  for (int i = 1; r == 0 && i < argc; i++) {
    struct sample smp;
    r = store_sample_by_name(t, argv[i], &smp);
    if (r == 0)
      r = store_tag_add(t, tag, smp.id);
    if (r > 0)
      r = 0;
  }
  if (r < 0) {
    store_txn_abort(t);
    return die("tag", r);
  }
  r = store_txn_commit(t);
  return r < 0 ? die("commit", r) : 0;
}

static int do_dump(struct store *s, const char *field)
{
  struct store_txn *t;
  struct store_iter *it;
  struct sample smp;
  uint64_t next = 1;
  struct buf b;
  int r = store_txn_begin(s, false, &t);

  if (r < 0)
    return die("begin", r);
  buf_init(&b, 1u << 30);
  r = store_iter_new(t, &it);
  while (r == 0 && (r = store_iter_samples(it, next, &smp)) == 0) {
    struct labels l;
    const struct label_field *f;
    next = smp.id + 1;
    if (store_labels_get(t, smp.id, &l) < 0)
      break;
    f = labels_field(&l, field, false);
    for (size_t i = 0; f && i < f->n; i++) {
      const struct detection *d = &f->d[i];
      buf_reset(&b);
      buf_puts(&b, "{\"sample\":");
      buf_json_str(&b, smp.name, strlen(smp.name));
      buf_printf(&b, ",\"w\":%u,\"h\":%u,\"i\":%zu,\"label\":", smp.width,
                 smp.height, i);
      buf_json_str(&b, d->label, strlen(d->label));
      buf_puts(&b, ",\"box\":[");
      buf_json_double(&b, d->x);
      buf_puts(&b, ",");
      buf_json_double(&b, d->y);
      buf_puts(&b, ",");
      buf_json_double(&b, d->w);
      buf_puts(&b, ",");
      buf_json_double(&b, d->h);
      buf_puts(&b, "],\"confidence\":");
      buf_json_double(&b, d->confidence);
      buf_printf(&b, ",\"iscrowd\":%d,\"attributes\":%s}\n", d->iscrowd,
                 d->attributes ? d->attributes : "null");
      fputs(b.data, stdout);
    }
    labels_free(&l);
  }
  store_iter_free(it);
  buf_free(&b);
  store_txn_abort(t);
  return r == -ENOENT ? 0 : die("dump", r);
}

static int do_samples(struct store *s)
{
  struct store_txn *t;
  struct store_iter *it;
  struct sample smp;
  uint64_t next = 1;
  int r = store_txn_begin(s, false, &t);

  if (r < 0)
    return die("begin", r);
  r = store_iter_new(t, &it);
  while (r == 0 && (r = store_iter_samples(it, next, &smp)) == 0) {
    next = smp.id + 1;
    printf("%s\t%u\t%u\t%u\t%u\n", smp.name, smp.format, smp.width,
           smp.height, smp.orientation);
  }
  store_iter_free(it);
  store_txn_abort(t);
  return r == -ENOENT ? 0 : die("samples", r);
}

static int tag_members(struct store_txn *t, const char *tag, uint64_t **ids,
                       size_t *n)
{
  struct store_iter *it;
  uint64_t tid, next = 1, id;
  size_t cap = 0;
  int r = store_tag_lookup(t, tag, &tid);

  *ids = calloc(1, sizeof(**ids));
  *n = 0;
  if (r < 0)
    return r;
  r = store_iter_new(t, &it);
  while (r == 0 && (r = store_iter_tag(it, tid, next, &id)) == 0) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 64;
      *ids = realloc(*ids, cap * sizeof(**ids));
    }
    (*ids)[(*n)++] = id;
    next = id + 1;
  }
  store_iter_free(it);
  return r == -ENOENT ? 0 : r;
}

int main(int argc, char **argv)
{
  struct store_opts o = { 0 };
  struct store *s;
  int r;

  if (argc < 4) {
    fprintf(stderr, "usage: see the comment atop export_helper.c\n");
    return 2;
  }
  o.readonly = strcmp(argv[1], "tag") != 0;
  r = store_open(argv[2], &o, &s);
  if (r < 0)
    return die(argv[2], r);
  if (strcmp(argv[1], "tag") == 0) {
    r = do_tag(s, argc - 3, argv + 3);
  } else if (strcmp(argv[1], "dump") == 0) {
    r = do_dump(s, argv[3]);
  } else if (strcmp(argv[1], "samples") == 0) {
    r = do_samples(s);
  } else if ((strcmp(argv[1], "gen") == 0 || strcmp(argv[1], "stat") == 0) &&
             argc >= 5) {
    struct export_spec spec = { 0 };
    struct store_txn *t;
    uint64_t *ids = NULL;
    int e = export_format_parse(argv[3], &spec.fmt);
    if (e == 0)
      e = store_txn_begin(s, false, &t);
    if (e == 0 && argc > 5) {
      e = tag_members(t, argv[5], &ids, &spec.n_ids);
      spec.ids = ids;
    }
    if (e < 0) {
      r = die("spec", e);
    } else if (argv[1][0] == 'g') {
      struct sink sink = { out_write, NULL, NULL };
      int64_t n = export_generate(t, &spec, argv[4], &sink);
      r = n < 0 ? die(argv[4], (int)n) : 0;
    } else {
      struct export_ent ent;
      e = export_stat(t, &spec, argv[4], &ent);
      if (e < 0)
        printf("%s\n", e == -ENOENT ? "ENOENT" : strerror(-e));
      else if (ent.dir)
        printf("dir\n");
      else if (ent.sample_id)
        printf("image %" PRIu64 "\n", ent.sample_id);
      else
        printf("file\n");
      r = 0;
    }
    free(ids);
    if (e == 0)
      store_txn_abort(t);
  } else {
    fprintf(stderr, "export_helper: unknown command '%s'\n", argv[1]);
    r = 2;
  }
  store_close(s);
  return r;
}
