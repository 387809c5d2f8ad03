/* test_nodeops.c - the node-kind handlers of the daemon (fs/nodeops.h)
 * called directly, with no mount, against a real LMDB store in a fresh
 * temporary directory and real source files beneath a dataset root.
 *
 * Covered: labels/<n>.json writes (a valid document stores its boxes at
 * flush; a schema error fails the write with EINVAL, the flush too, and
 * the stored labels stay as they were, with the reason in the error ring;
 * a write off the end of the document is refused; truncation to 0 starts
 * over), the tag gestures (mkdir with valid and invalid names, mv of a
 * sample into a tag and between tags, NOREPLACE, a renaming move refused,
 * rm untagging, rmdir of a tag that is not empty, renaming a tag, mv back
 * into samples/), lookups and listings through the handlers, and reading
 * a sample's source bytes through its handle.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "nodeops.h"
#include "testlib.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#define DOC1(dets) "{\"fields\": {\"gt\": [" dets "]}}"

struct fx {
  char dir[96];      /* the temporary directory: store/ and data/ */
  char store_dir[128];
  struct fs_ctx c;
  uint64_t a, b;     /* sample ids of a.jpg, b.jpg */
};

static const char bytes_a[] = "not really a JPEG, but the bytes of a.jpg";

static uint64_t add_sample(struct fx *f, const char *name, const char *rel,
                           uint64_t size)
{
  struct store_txn *t;
  struct sample s = { .size = size, .mtime_ns = 1, .width = 640,
                      .height = 480, .precision = 8, .components = 3,
                      .orientation = 1, .name = name, .relpath = rel };
  uint64_t id = 0;

  CHECK_INT_EQ(store_txn_begin(f->c.store, true, &t), 0);
  CHECK_INT_EQ(store_sample_put(t, &s, &id), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  return id;
}

static int fx_init(struct fx *f)
{
  static const struct store_opts fast = { .nosync = true };
  char path[256];
  int fd;

  memset(f, 0, sizeof(*f));
  if (tl_tmpdir(f->dir, sizeof(f->dir), "nodeops") < 0) {
    tl_failed = 1;
    return -1;
  }
  snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->dir);
  snprintf(path, sizeof(path), "%s/data", f->dir);
  mkdir(f->store_dir, 0700);
  mkdir(path, 0700);
  f->c.root = strdup(path);
  snprintf(path, sizeof(path), "%s/data/a.jpg", f->dir);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0 && write(fd, bytes_a, sizeof(bytes_a)) ==
                       (ssize_t)sizeof(bytes_a));
  if (fd >= 0) {
    /* The time the samples' records hold (add_sample): the mount serves
     * only the file the import recorded. */
    struct timespec ts[2] = { { 0, 1 }, { 0, 1 } };
    CHECK(futimens(fd, ts) == 0);
    close(fd);
  }
  pthread_mutex_init(&f->c.mu, NULL);
  f->c.ttl = 86400;
  f->c.mount_ns = 1;
  f->c.store_dir = f->store_dir;
  /* The daemon's tables, as main sets them up before the session. */
  if (state_init(&f->c) < 0 || label_memo_new(&f->c) < 0 ||
      store_open(f->store_dir, &fast, &f->c.store) < 0) {
    tl_failed = 1;
    return -1;
  }
  f->a = add_sample(f, "a", "a.jpg", sizeof(bytes_a));
  f->b = add_sample(f, "b", "b.jpg", 10);
  return 0;
}

static void fx_free(struct fx *f)
{
  label_memo_free(&f->c);
  state_free(&f->c);
  store_close(f->c.store);
  free(f->c.root);
  pthread_mutex_destroy(&f->c.mu);
  tl_rm_rf(f->dir);
}

/* The number of boxes stored for a sample, or -errno. */
static long boxes_of(struct fx *f, uint64_t id)
{
  struct store_txn *t;
  struct labels l;
  long n = 0;
  int r = store_txn_begin(f->c.store, false, &t);

  if (r < 0)
    return r;
  r = store_labels_get(t, id, &l);
  for (size_t i = 0; r == 0 && i < l.n; i++)
    n += (long)l.f[i].n;
  labels_free(&l);
  store_txn_abort(t);
  return r < 0 ? r : n;
}

static int tagged(struct fx *f, const char *tag, uint64_t sample)
{
  struct store_txn *t;
  uint64_t tid;
  int r = store_txn_begin(f->c.store, false, &t);

  if (r < 0)
    return r;
  r = store_tag_lookup(t, tag, &tid);
  if (r == 0)
    r = store_tag_has(t, tid, sample);
  store_txn_abort(t);
  return r;
}

/* Opens labels/<id>.json through its kind's handler. */
static struct nh *open_label(struct fx *f, uint64_t id, int flags)
{
  struct node n = { .kind = NODE_LABEL, .id = id };
  struct open_out o = { 0 };
  struct store_txn *t;
  struct nh *h = NULL;

  CHECK_INT_EQ(store_txn_begin(f->c.store, false, &t), 0);
  CHECK_INT_EQ(nodeops_of(&n)->open(&f->c, t, &n, node_ino_of(&n), flags,
                                    &h, &o), 0);
  store_txn_abort(t);
  CHECK(o.direct_io);  /* label files are never read from the page cache */
  return h;
}

static int write_str(struct fx *f, struct nh *h, const char *s, off_t off)
{
  return h->ops->write(&f->c, NULL, h, s, strlen(s), off);
}

static const char *last_error(struct fx *f)
{
  return f->c.errs_n ? f->c.errs[(f->c.errs_head + FS_ERR_RING - 1) %
                                 FS_ERR_RING]
                     : "";
}

TEST(label_write_stores_boxes)
{
  struct fx f;
  const char *doc = DOC1("{\"label\": \"cat\", \"bbox\": [10, 20, 30, 40]},"
                         "{\"label\": \"dog\", \"bbox\": [1, 2, 3, 4]}");
  struct read_out o;
  struct nh *h;

  if (fx_init(&f) < 0)
    return;
  CHECK_INT_EQ(boxes_of(&f, f.a), 0);
  h = open_label(&f, f.a, O_WRONLY | O_TRUNC);
  if (h) {
    CHECK_INT_EQ(write_str(&f, h, doc, 0), (int)strlen(doc));
    /* Nothing is stored before the close. */
    CHECK_INT_EQ(boxes_of(&f, f.a), 0);
    CHECK_INT_EQ(h->ops->flush(&f.c, NULL, h), 0);
    nh_put(h);
  }
  CHECK_INT_EQ(boxes_of(&f, f.a), 2);
  CHECK_INT_EQ(boxes_of(&f, f.b), 0);
  /* A reader gets the stored boxes back, with their ids. */
  h = open_label(&f, f.a, O_RDONLY);
  if (h) {
    CHECK_INT_EQ(h->ops->read(h, 1 << 20, 0, &o), 0);
    CHECK(o.fd < 0 && o.len > 0);
    CHECK(o.mem && memmem(o.mem, o.len, "\"dog\"", 5) != NULL);
    CHECK(o.mem && memmem(o.mem, o.len, "\"id\"", 4) != NULL);
    CHECK_INT_EQ(h->ops->write(&f.c, NULL, h, "x", 1, 0), -EBADF);
    nh_put(h);
  }
  fx_free(&f);
}

TEST(label_write_invalid_changes_nothing)
{
  struct fx f;
  const char *good = DOC1("{\"label\": \"cat\", \"bbox\": [10, 20, 30, 40]}");
  /* Valid JSON, but the box leaves the 640x480 image. */
  const char *bad = DOC1("{\"label\": \"cat\", \"bbox\": [600, 20, 300, 40]}");
  struct nh *h;

  if (fx_init(&f) < 0)
    return;
  h = open_label(&f, f.a, O_WRONLY | O_TRUNC);
  if (h) {
    CHECK_INT_EQ(write_str(&f, h, good, 0), (int)strlen(good));
    CHECK_INT_EQ(h->ops->flush(&f.c, NULL, h), 0);
    nh_put(h);
  }
  CHECK_INT_EQ(boxes_of(&f, f.a), 1);
  h = open_label(&f, f.a, O_WRONLY | O_TRUNC);
  if (h) {
    CHECK_INT_EQ(write_str(&f, h, bad, 0), -EINVAL);
    CHECK(strstr(last_error(&f), "labels/a.json: write rejected") != NULL);
    /* The close reports it again, and commits nothing. */
    CHECK_INT_EQ(h->ops->flush(&f.c, NULL, h), -EINVAL);
    nh_put(h);
  }
  CHECK_INT_EQ(boxes_of(&f, f.a), 1);
  /* Syntax errors wait for the close: the rest may be on its way. */
  h = open_label(&f, f.a, O_WRONLY | O_TRUNC);
  if (h) {
    CHECK_INT_EQ(write_str(&f, h, "{\"fields\": {\"gt\": [", 0), 19);
    CHECK_INT_EQ(h->ops->flush(&f.c, NULL, h), -EINVAL);
    nh_put(h);
  }
  CHECK_INT_EQ(boxes_of(&f, f.a), 1);
  fx_free(&f);
}

TEST(label_write_front_to_back)
{
  struct fx f;
  const char *doc = DOC1("");
  struct nh *h;

  if (fx_init(&f) < 0)
    return;
  h = open_label(&f, f.a, O_WRONLY | O_TRUNC);
  if (h) {
    /* A write that does not continue the document is refused. */
    CHECK_INT_EQ(write_str(&f, h, doc, 5), -EINVAL);
    CHECK_INT_EQ(write_str(&f, h, "{\"fields\"", 0), 9);
    CHECK_INT_EQ(write_str(&f, h, ": {}}", 3), -EINVAL);
    /* Truncation to 0 starts over; to anything else it is refused. */
    CHECK_INT_EQ(h->ops->truncate(h, 3), -EINVAL);
    CHECK_INT_EQ(h->ops->truncate(h, 0), 0);
    CHECK_INT_EQ(write_str(&f, h, doc, 0), (int)strlen(doc));
    CHECK_INT_EQ(h->ops->flush(&f.c, NULL, h), 0);
    nh_put(h);
  }
  fx_free(&f);
}

static int mkdir_tag(struct fx *f, const char *name, struct node *ret)
{
  struct node tags = { .kind = NODE_DIR, .id = DIR_TAGS };

  return nodeops_of(&tags)->mkdir(&f->c, &tags, name, ret);
}

TEST(tag_gestures)
{
  struct fx f;
  struct node samples = { .kind = NODE_DIR, .id = DIR_SAMPLES };
  struct node tags = { .kind = NODE_DIR, .id = DIR_TAGS };
  struct node t1, t2, other;
  uint16_t gen;

  if (fx_init(&f) < 0)
    return;
  CHECK_INT_EQ(mkdir_tag(&f, "keep", &t1), 0);
  CHECK(t1.kind == NODE_TAG && t1.id != 0);
  CHECK_INT_EQ(mkdir_tag(&f, "keep", &other), -EEXIST);
  CHECK_INT_EQ(mkdir_tag(&f, "bad/name", &other), -EINVAL);
  CHECK_INT_EQ(mkdir_tag(&f, "other", &t2), 0);

  /* mv samples/a.jpg tags/keep/: tags it, and samples/a.jpg gets a new
   * inode generation (node.h). */
  gen = fs_sample_gen(&f.c, f.a);
  CHECK_INT_EQ(nodeops_of(&t1)->rename_into(&f.c, &samples, "a.jpg", &t1,
                                            "a.jpg", 0), 0);
  CHECK_INT_EQ(tagged(&f, "keep", f.a), 1);
  CHECK_INT_EQ(tagged(&f, "keep", f.b), 0);
  CHECK(fs_sample_gen(&f.c, f.a) != gen);
  /* Again with NOREPLACE: already a member. */
  CHECK_INT_EQ(nodeops_of(&t1)->rename_into(&f.c, &samples, "a.jpg", &t1,
                                            "a.jpg", RENAME_NOREPLACE),
               -EEXIST);
  /* Samples keep their names; an unknown file is not found. */
  CHECK_INT_EQ(nodeops_of(&t2)->rename_into(&f.c, &samples, "b.jpg", &t2,
                                            "c.jpg", 0), -EINVAL);
  CHECK_INT_EQ(tagged(&f, "other", f.b), 0);
  CHECK_INT_EQ(nodeops_of(&t2)->rename_into(&f.c, &samples, "zz.jpg", &t2,
                                            "zz.jpg", 0), -ENOENT);
  /* mv tags/keep/a.jpg tags/other/: moves the membership. */
  CHECK_INT_EQ(nodeops_of(&t2)->rename_into(&f.c, &t1, "a.jpg", &t2,
                                            "a.jpg", 0), 0);
  CHECK_INT_EQ(tagged(&f, "keep", f.a), 0);
  CHECK_INT_EQ(tagged(&f, "other", f.a), 1);
  /* rmdir of a tag with members is refused; an empty one goes. */
  CHECK_INT_EQ(nodeops_of(&tags)->rmdir(&f.c, &tags, "other"), -ENOTEMPTY);
  CHECK_INT_EQ(nodeops_of(&tags)->rmdir(&f.c, &tags, "keep"), 0);
  CHECK_INT_EQ(tagged(&f, "keep", f.a), -ENOENT);
  /* mv tags/other tags/best renames the tag, members included. */
  CHECK_INT_EQ(nodeops_of(&tags)->rename_into(&f.c, &tags, "other", &tags,
                                              "best", 0), 0);
  CHECK_INT_EQ(tagged(&f, "best", f.a), 1);
  /* mv tags/best/a.jpg samples/ untags; rm of a member untags too. */
  CHECK_INT_EQ(nodeops_of(&samples)->rename_into(&f.c, &t2, "a.jpg",
                                                 &samples, "a.jpg", 0), 0);
  CHECK_INT_EQ(tagged(&f, "best", f.a), 0);
  CHECK_INT_EQ(nodeops_of(&t2)->rename_into(&f.c, &samples, "b.jpg", &t2,
                                            "b.jpg", 0), 0);
  CHECK_INT_EQ(tagged(&f, "best", f.b), 1);
  CHECK_INT_EQ(nodeops_of(&t2)->unlink(&f.c, &t2, "b.jpg"), 0);
  CHECK_INT_EQ(tagged(&f, "best", f.b), 0);
  /* Moves no kind takes. */
  CHECK(nodeops_of(&samples)->mkdir == NULL);
  CHECK_INT_EQ(nodeops_of(&samples)->rename_into(&f.c, &samples, "a.jpg",
                                                 &samples, "a.jpg", 0),
               -EPERM);
  fx_free(&f);
}

/* A dir_fill that collects names. */
struct names {
  struct dir_fill d;
  char all[512];
};

static bool collect(struct dir_fill *d, const char *name,
                    const struct node *n, off_t next)
{
  struct names *nm = (struct names *)d;

  (void)n;
  (void)next;
  strncat(nm->all, name, sizeof(nm->all) - strlen(nm->all) - 2);
  strcat(nm->all, " ");
  return true;
}

TEST(lookup_list_and_read_samples)
{
  struct fx f;
  struct node samples = { .kind = NODE_DIR, .id = DIR_SAMPLES };
  struct node labels = { .kind = NODE_DIR, .id = DIR_LABELS };
  struct names nm = { .d = { .add = collect } };
  struct open_out oo = { 0 };
  struct store_txn *t;
  struct read_out o;
  struct node n;
  struct nh *h = NULL;
  bool versioned;
  char got[64] = "";

  if (fx_init(&f) < 0)
    return;
  CHECK_INT_EQ(store_txn_begin(f.c.store, false, &t), 0);
  nm.d.c = &f.c;
  nm.d.t = t;
  CHECK_INT_EQ(nodeops_of(&samples)->readdir(&nm.d, &samples, 0), 0);
  CHECK_STR_EQ(nm.all, "a.jpg b.jpg ");
  nm.all[0] = '\0';
  CHECK_INT_EQ(nodeops_of(&labels)->readdir(&nm.d, &labels, 0), 0);
  CHECK_STR_EQ(nm.all, "a.json b.json ");
  /* The extension must be the one of the sample's format. */
  CHECK_INT_EQ(nodeops_of(&samples)->lookup(&f.c, t, &samples, "a.png", &n,
                                            &versioned), -ENOENT);
  CHECK_INT_EQ(nodeops_of(&samples)->lookup(&f.c, t, &samples, "a.jpg", &n,
                                            &versioned), 0);
  CHECK(n.kind == NODE_SAMPLE && n.id == f.a);
  CHECK_INT_EQ(nodeops_of(&n)->open(&f.c, t, &n, node_ino_of(&n),
                                    O_WRONLY, &h, &oo), -EACCES);
  CHECK_INT_EQ(nodeops_of(&n)->open(&f.c, t, &n, node_ino_of(&n),
                                    O_RDONLY, &h, &oo), 0);
  store_txn_abort(t);
  if (h) {
    CHECK_INT_EQ(h->ops->read(h, 8, 4, &o), 0);
    CHECK(o.fd >= 0 && o.pos == 4 && o.len == 8);
    CHECK_INT_EQ(pread(o.fd, got, o.len, o.pos), 8);
    CHECK_STR_EQ(got, "really a");
    nh_put(nh_ref(h));  /* a reply's reference leaves the handle open */
    CHECK(fcntl(o.fd, F_GETFD) >= 0);
    nh_put(h);
  }
  fx_free(&f);
}

TEST_MAIN(T(label_write_stores_boxes), T(label_write_invalid_changes_nothing),
          T(label_write_front_to_back), T(tag_gestures),
          T(lookup_list_and_read_samples))
