/* test_sample_match.c - which sample a name refers to
 * (core/formats/sample_match.h), on a real store.
 *
 * The store holds the awkward cases of real trees: the same file name in
 * two splits (images/train/1.jpg, images/val/1.jpg), a file that vanished
 * beside another of its name (a/x.jpg missing, b/x.jpg there), two
 * pictures with one stem in one folder (p/y.jpg, p/y.png), a PNG deep in
 * folders, numbered COCO-style files, and a path of which every tail ends
 * another path (q/r/s.jpg beside r/s.jpg).  Each rule of the header is
 * checked where it decides, and where it must not: an ambiguous or
 * missing match never falls through to a looser rule.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "imgfmt.h"
#include "names.h"
#include "sample_match.h"
#include "store.h"
#include "testlib.h"

static char dir[64];
static struct store *st;

/* The awkward cases of the header comment; a/x.jpg (2) is missing. */
static const char *const files[] = {
  "images/train/1.jpg",     /* 0 */
  "images/val/1.jpg",       /* 1 */
  "a/x.jpg",                /* 2 */
  "b/x.jpg",                /* 3 */
  "p/y.jpg",                /* 4 */
  "p/y.png",                /* 5 */
  "c/d/e.png",              /* 6 */
  "coco/000000000139.jpg",  /* 7 */
  "q/r/s.jpg",              /* 8 */
  "r/s.jpg",                /* 9 */
};
#define NF (sizeof(files) / sizeof(files[0]))
static uint64_t ids[NF];

static void store_of(const char *const *rels, size_t n, const char *root,
                     int missing, uint64_t *id);

static void setup(void)
{
  store_of(files, NF, NULL, 2, ids);
}

static void teardown(void)
{
  store_close(st);
  st = NULL;
  tl_rm_rf(dir);
}

/* The store id a lookup found, or its negative result. */
static int64_t id_of(int r, const struct smatch_hit *hit)
{
  return r < 0 ? r : (int64_t)hit->id;
}

static int64_t image(struct smatch *m, const char *fn)
{
  struct smatch_hit hit;
  int r = smatch_image(m, fn, &hit);

  return id_of(r, &hit);
}

static int64_t stem(struct smatch *m, const char *p)
{
  struct smatch_hit hit;
  int r = smatch_stem(m, p, strlen(p), &hit);

  return id_of(r, &hit);
}

static int64_t number(struct smatch *m, uint64_t num)
{
  struct smatch_hit hit;
  int r = smatch_number(m, num, &hit);

  return id_of(r, &hit);
}

#define IS(got, i) CHECK_INT_EQ((got), (int64_t)ids[i])

/* A store of the samples at rels (ids into id; a ".png" path a PNG, the
 * rest JPEGs; rels[missing] marked missing, -1 none), with the dataset
 * root root (NULL: none); left open in st. */
static void store_of(const char *const *rels, size_t n, const char *root,
                     int missing, uint64_t *id)
{
  struct store_opts o = { .nosync = true };
  struct store_txn *t;

  if (tl_tmpdir(dir, sizeof(dir), "test-sample-match") < 0)
    abort();
  CHECK_INT_EQ(store_open(dir, &o, &st), 0);
  CHECK_INT_EQ(store_txn_begin(st, true, &t), 0);
  for (size_t i = 0; i < n; i++) {
    char name[256];
    struct sample s = { 0 };
    CHECK(name_from_relpath(rels[i], name, sizeof(name)) > 0);
    s.width = s.height = 8;
    s.orientation = 1;
    s.format = strstr(rels[i], ".png") ? IMG_PNG : IMG_JPEG;
    s.flags = (int)i == missing ? SAMPLE_MISSING : 0;
    s.name = name;
    s.relpath = rels[i];
    CHECK_INT_EQ(store_sample_put(t, &s, &id[i]), 0);
  }
  if (root)
    CHECK_INT_EQ(store_setting_set(t, "root", root), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
}

TEST(rules_in_order)
{
  struct store_txn *t;
  struct smatch m;

  setup();
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  /* 1. the source path, and its stem */
  IS(image(&m, "images/val/1.jpg"), 1);
  IS(stem(&m, "images/train/1"), 0);
  IS(image(&m, "r/s.jpg"), 9);      /* exact, though q/r/s.jpg ends so */
  /* 2. the longest tail that ends one path: Ultralytics' labels/ tree,
   * another root, a tail equal to a whole path */
  IS(stem(&m, "labels/train/1"), 0);
  IS(stem(&m, "labels/val/1"), 1);
  IS(image(&m, "data/train/1.jpg"), 0);
  IS(image(&m, "train/1.jpg"), 0);  /* a shorter path that ends one */
  IS(stem(&m, "val/1"), 1);
  IS(image(&m, "z/d/e.png"), 6);
  IS(image(&m, "x/q/r/s.jpg"), 8);  /* the longer tail decides */
  CHECK_INT_EQ(image(&m, "x/r/s.jpg"), -ENOTUNIQ);   /* r/s.jpg ends both */
  CHECK_INT_EQ(image(&m, "z/d/e.jpg"), -ENOENT);  /* another extension */
  /* a tail must end on a component: "ain/1" is not "train/1" */
  CHECK_INT_EQ(stem(&m, "ain/1"), -ENOTUNIQ);     /* rule 4: two 1s */
  /* 3. the name an export gives, its extension checked for images */
  IS(image(&m, "c__d__e.png"), 6);
  CHECK_INT_EQ(image(&m, "c__d__e.jpg"), -ENOENT);
  IS(stem(&m, "labels/images__val__1"), 1);
  IS(image(&m, "export/images__train__1.jpg"), 0);
  /* 4. the file name alone, when one sample has it */
  IS(image(&m, "e.png"), 6);
  IS(stem(&m, "labels/e"), 6);
  CHECK_INT_EQ(image(&m, "1.jpg"), -ENOTUNIQ);
  CHECK_INT_EQ(stem(&m, "labels/test/1"), -ENOTUNIQ);
  CHECK_INT_EQ(image(&m, "nothing.jpg"), -ENOENT);
  /* a stem two pictures share is ambiguous at the first rule */
  CHECK_INT_EQ(stem(&m, "p/y"), -ENOTUNIQ);
  IS(image(&m, "p/y.png"), 5);
  /* numbers */
  IS(number(&m, 139), 7);
  CHECK_INT_EQ(number(&m, 2), -ENOENT);
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

TEST(missing_files_stop_the_rules)
{
  struct store_txn *t;
  struct smatch m;

  setup();
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  /* a/x.jpg vanished: no rule hands its names on to b/x.jpg, and x.jpg
   * stays the name of two samples */
  CHECK_INT_EQ(image(&m, "a/x.jpg"), -ENOENT);
  CHECK_INT_EQ(stem(&m, "a/x"), -ENOENT);
  CHECK_INT_EQ(image(&m, "data/a/x.jpg"), -ENOENT);
  CHECK_INT_EQ(image(&m, "a__x.jpg"), -ENOENT);
  IS(image(&m, "b/x.jpg"), 3);
  IS(image(&m, "data/b/x.jpg"), 3);
  CHECK_INT_EQ(image(&m, "x.jpg"), -ENOTUNIQ);
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

/* A sample "1" at the root and one at train/1.jpg: an export writes the
 * first's YOLO rows as labels/train/1.txt, where the tail finds the
 * second.  Nothing tells which was meant, so neither is taken. */
TEST(tail_and_export_name_disagree)
{
  static const char *const rels[] = { "1.jpg", "train/1.jpg" };
  struct store_txn *t;
  struct smatch m;
  uint64_t id[2];

  store_of(rels, 2, NULL, -1, id);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  CHECK_INT_EQ(stem(&m, "labels/train/1"), -ENOTUNIQ);
  CHECK_INT_EQ(image(&m, "data/train/1.jpg"), -ENOTUNIQ);
  CHECK_INT_EQ(stem(&m, "labels/train/train__1"), (int64_t)id[1]);
  CHECK_INT_EQ(stem(&m, "labels/1"), (int64_t)id[0]);
  CHECK_INT_EQ(image(&m, "train/1.jpg"), (int64_t)id[1]);   /* rule 1 */
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

/* x.jpg and x.png at the root are samples "x" and "x~<id>": their stem
 * "x" is both pictures' (rule 1), but an export wrote sample x's rows as
 * x.txt and x.png's as x~<id>.txt, so the export name decides among
 * them; ignoring case as well.  Where it names none of them (p/y.jpg
 * and p/y.png are samples p__y and p__y~<id>) the stem stays ambiguous,
 * and a missing picture of that name is not replaced by the other. */
TEST(export_name_among_a_stems_pictures)
{
  static const char *const rels[] = { "x.jpg", "x.png", "p/y.jpg",
                                      "p/y.png", "q/z.jpg", "q/z.png" };
  struct store_txn *t;
  struct smatch m;
  uint64_t id[6];
  char name[64];

  store_of(rels, 6, NULL, 4, id);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  CHECK_INT_EQ(stem(&m, "x"), (int64_t)id[0]);
  CHECK_INT_EQ(stem(&m, "./x"), (int64_t)id[0]);   /* its normal form */
  snprintf(name, sizeof(name), "x~%llu", (unsigned long long)id[1]);
  CHECK_INT_EQ(stem(&m, name), (int64_t)id[1]);
  CHECK_INT_EQ(stem(&m, "X"), (int64_t)id[0]);     /* rule 5 */
  CHECK_INT_EQ(image(&m, "x.png"), (int64_t)id[1]);
  CHECK_INT_EQ(stem(&m, "p/y"), -ENOTUNIQ);
  CHECK_INT_EQ(stem(&m, "y"), -ENOTUNIQ);
  CHECK_INT_EQ(stem(&m, "q__z"), -ENOENT);         /* q/z.jpg is missing */
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

/* The pairing is on whole paths: a label folder given below the root,
 * or outside it (an export's), pairs as Ultralytics would there. */
TEST(label_pairing_on_whole_paths)
{
  static const char *const rels[] = { "images/1.jpg", "extra/images/1.jpg",
                                      "1.jpg", "images/train/1.jpg" };
  struct store_txn *t;
  struct smatch m;
  struct smatch_hit hit;
  uint64_t id[4];

  store_of(rels, 4, "/data/ds", -1, id);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
#define AT(b, p) \
  id_of(smatch_label_stem(&m, (b), (p), strlen(p), &hit), &hit)
  CHECK_INT_EQ(AT("/data/ds/extra", "labels/1"), (int64_t)id[1]);
  CHECK_INT_EQ(AT("/data/ds", "extra/labels/1"), (int64_t)id[1]);
  CHECK_INT_EQ(AT("/data/ds/labels", "train/1"), (int64_t)id[3]);
  /* an export's labels/train/1.txt of sample 1, read from outside: no
   * pairing, and the rules find it ambiguous (tail and export name) */
  CHECK_INT_EQ(AT("/tmp/export", "labels/train/1"), -ENOTUNIQ);
  CHECK_INT_EQ(AT("", "labels/train/1"), -ENOTUNIQ);   /* unknown base */
#undef AT
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

/* Samples whose names hold a backslash (a Linux file may): a name with
 * one is first read with it as part of the name, so an export name or a
 * tail with one finds its own sample and not another "v.jpg"; where that
 * finds nothing, the backslash separates as in a Windows path. */
TEST(backslashes_in_stored_names)
{
  static const char *const rels[] = { "d/w\\v.jpg", "k/v.jpg", "w\\v.jpg",
                                      "images/1.jpg" };
  struct store_txn *t;
  struct smatch m;
  uint64_t id[4];

  store_of(rels, 4, "/data/ds", -1, id);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  CHECK_INT_EQ(image(&m, "w\\v.jpg"), (int64_t)id[2]);
  CHECK_INT_EQ(image(&m, "d__w\\v.jpg"), (int64_t)id[0]);
  CHECK_INT_EQ(stem(&m, "labels/d__w\\v"), (int64_t)id[0]);
  CHECK_INT_EQ(image(&m, "other/w\\v.jpg"), (int64_t)id[2]);
  CHECK_INT_EQ(image(&m, "./w\\v.jpg"), (int64_t)id[2]);
  CHECK_INT_EQ(image(&m, "/data/ds/w\\v.jpg"), (int64_t)id[2]);
  /* where no name holds it as written, a backslash still separates:
   * a Windows path of another picture, and d/w/v.jpg's file name */
  CHECK_INT_EQ(image(&m, "images\\1.jpg"), (int64_t)id[3]);
  CHECK_INT_EQ(image(&m, "C:\\ds\\images\\1.jpg"), (int64_t)id[3]);
  CHECK_INT_EQ(image(&m, "d\\w\\v.jpg"), (int64_t)id[1]);
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

/* A root whose own name holds a backslash is put in the same form as the
 * names compared with it; a name under the root names one file, found or
 * not, never another one by a looser rule. */
TEST(names_under_the_root)
{
  static const char *const rels[] = { "c/x.jpg", "b/c/x.jpg", "y/z.jpg" };
  struct store_txn *t;
  struct smatch m;
  uint64_t id[3];

  store_of(rels, 3, "/data/a\\b", -1, id);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  CHECK_INT_EQ(image(&m, "/data/a\\b/c/x.jpg"), (int64_t)id[0]);
  CHECK_INT_EQ(image(&m, "/data/a\\b/b/c/x.jpg"), (int64_t)id[1]);
  CHECK_INT_EQ(image(&m, "/data/a/b/y/z.jpg"), (int64_t)id[2]);
  /* not imported (a hidden folder, or added since): not z.jpg */
  CHECK_INT_EQ(image(&m, "/data/a\\b/.new/z.jpg"), -ENOENT);
  CHECK_INT_EQ(image(&m, "/data/a\\b/w/z.jpg"), -ENOENT);
  CHECK_INT_EQ(image(&m, "/elsewhere/w/z.jpg"), (int64_t)id[2]);   /* rule 4 */
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

/* A name too long for its normal form goes on as written. */
TEST(long_names)
{
  static const char *const rels[] = { "a/only.jpg", "b/other.jpg" };
  struct store_txn *t;
  struct smatch m;
  uint64_t id[2];
  char name[4200];

  store_of(rels, 2, "/data/ds", -1, id);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  for (size_t n = 4090; n <= 4110; n++) {
    memset(name, 'z', n - 9);
    memcpy(name + n - 9, "/only.jpg", 10);
    CHECK_INT_EQ(image(&m, name), (int64_t)id[0]);
  }
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

/* Names as other tools write them: FiftyOne's absolute paths, Windows'
 * backslashes and drive letters, "./" and "..".  The dataset's root is
 * /data/ds. */
TEST(names_as_other_tools_write_them)
{
  struct store_txn *t;
  struct smatch m;

  setup();
  CHECK_INT_EQ(store_txn_begin(st, true, &t), 0);
  CHECK_INT_EQ(store_setting_set(t, "root", "/data/ds"), 0);
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  /* spellings of a source path: still rule 1 */
  IS(image(&m, "./images/val/1.jpg"), 1);
  IS(image(&m, "images//val/./1.jpg"), 1);
  IS(image(&m, "images\\val\\1.jpg"), 1);
  IS(image(&m, "images/val/../train/1.jpg"), 0);
  IS(image(&m, "./r/s.jpg"), 9);      /* exact, not ambiguous as a tail */
  IS(stem(&m, ".\\images\\train\\1"), 0);
  /* under the root: the path below it */
  IS(image(&m, "/data/ds/images/train/1.jpg"), 0);
  IS(image(&m, "/data//ds/./r/s.jpg"), 9);
  CHECK_INT_EQ(image(&m, "/data/ds/a/x.jpg"), -ENOENT);   /* missing */
  /* elsewhere: only a tail, which r/s.jpg is of two paths; a root that
   * is a prefix of a name but not of its components is elsewhere too */
  CHECK_INT_EQ(image(&m, "/other/r/s.jpg"), -ENOTUNIQ);
  CHECK_INT_EQ(image(&m, "/data/dsr/s.jpg"), -ENOTUNIQ);
  IS(image(&m, "/other/q/r/s.jpg"), 8);
  IS(image(&m, "/mnt/x/images/val/1.jpg"), 1);
  IS(image(&m, "C:\\Users\\me\\images\\train\\1.jpg"), 0);
  IS(image(&m, "D:/c/d/e.png"), 6);
  CHECK_INT_EQ(image(&m, "../r/s.jpg"), -ENOTUNIQ);
  IS(image(&m, "../images/val/1.jpg"), 1);
  IS(stem(&m, "../labels/val/1"), 1);
  /* nothing left of the name */
  CHECK_INT_EQ(image(&m, "/"), -ENOENT);
  CHECK_INT_EQ(image(&m, ".."), -ENOENT);
  CHECK_INT_EQ(image(&m, "./"), -ENOENT);
  CHECK_INT_EQ(image(&m, ""), -ENOENT);
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

/* The image Ultralytics pairs with a label file (its last images/ folder
 * as labels/): the Roboflow layout, where splits hold images/ and labels/
 * and number their pictures alike. */
TEST(label_files_paired_as_ultralytics_does)
{
  static const char *const rels[] = {
    "train/images/5.jpg", "valid/images/5.jpg", "gone/images/6.jpg",
    "other/6.jpg", "p/images/7.jpg", "p/images/7.png", "images/train/8.jpg",
    "images/val/8.jpg", "x/images/images/9.jpg", "valid/images/10.jpg",
  };
  enum { N = sizeof(rels) / sizeof(rels[0]) };
  struct store_txn *t;
  struct smatch m;
  struct smatch_hit hit;
  uint64_t id[N];

  store_of(rels, N, NULL, 2, id);   /* gone/images/6.jpg is missing */
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
#define LABEL(p) \
  id_of(smatch_label_stem(&m, NULL, (p), strlen(p), &hit), &hit)
  CHECK_INT_EQ(LABEL("train/labels/5"), (int64_t)id[0]);
  CHECK_INT_EQ(LABEL("valid/labels/5"), (int64_t)id[1]);
  CHECK_INT_EQ(stem(&m, "train/labels/5"), -ENOTUNIQ);   /* the rules */
  /* the paired image decides: missing, or two pictures of the stem */
  CHECK_INT_EQ(LABEL("gone/labels/6"), -ENOENT);
  CHECK_INT_EQ(LABEL("p/labels/7"), -ENOTUNIQ);
  /* no image where the pairing points: the rules */
  CHECK_INT_EQ(LABEL("labels/train/8"), (int64_t)id[6]);
  CHECK_INT_EQ(LABEL("labels/val/8"), (int64_t)id[7]);
  CHECK_INT_EQ(LABEL("test/labels/5"), -ENOTUNIQ);
  /* a picture absent from a folder of pictures (not imported: a format
   * this tool does not read) is not another folder's picture */
  CHECK_INT_EQ(LABEL("train/labels/10"), -ENOENT);
  CHECK_INT_EQ(stem(&m, "train/labels/10"), (int64_t)id[9]);   /* rule 4 */
  CHECK_INT_EQ(LABEL("labels/train/10"), -ENOENT);
  /* images/ holds pictures (in folders): its 6 is absent */
  CHECK_INT_EQ(LABEL("labels/6"), -ENOENT);
  /* the last labels/ folder is the one swapped */
  CHECK_INT_EQ(LABEL("x/images/labels/9"), (int64_t)id[8]);
  /* "labels" as the file's own name is no folder */
  CHECK_INT_EQ(LABEL("labels"), -ENOENT);
#undef LABEL
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

/* The hit of a lookup that found a sample, with whether rule 5 did. */
static int64_t image_folded(struct smatch *m, const char *fn, bool *folded)
{
  struct smatch_hit hit = { 0, 0, false };
  int r = smatch_image(m, fn, &hit);

  *folded = r == 0 && hit.folded;
  return id_of(r, &hit);
}

/* Rule 5: names that differ from the source paths only in letter case
 * (a camera's IMG_1.JPG named IMG_1.jpg in a file written on Windows),
 * each rule again ignoring case, only where rules 1 to 4 found nothing
 * at all. */
TEST(letter_case)
{
  static const char *const rels[] = {
    "images/IMG_0001.JPG",   /* 0 */
    "Photos/Train/a.jpg",    /* 1 */
    "c/Dup.jpg",             /* 2: two paths equal but for case */
    "c/dup.jpg",             /* 3 */
    "x/b.jpg",               /* 4 */
    "X/B.jpg",               /* 5 */
    "gone/z.jpg",            /* 6: missing */
    "GONE/Z.jpg",            /* 7: present, equal to 6 but for case */
    "m/Lost.jpg",            /* 8: missing, alone of its name */
    "sets/train/Cat.jpg",    /* 9 */
    "sets/val/Cat.jpg",      /* 10 */
    "deep/Q/R/S.png",        /* 11 */
    "R/S.png",               /* 12 */
  };
  enum { N = sizeof(rels) / sizeof(rels[0]) };
  struct store_txn *t;
  struct smatch m;
  struct smatch_hit hit;
  uint64_t id[N];
  bool f;
  char line[400];
  struct smatch_folds folds = { 0 }, more = { 0 };

  store_of(rels, N, "/data/ds", 6, id);
  CHECK_INT_EQ(store_txn_begin(st, true, &t), 0);   /* 8 vanished too */
  {
    struct sample s;
    CHECK_INT_EQ(store_sample_get(t, id[8], &s), 0);
    s.flags |= SAMPLE_MISSING;
    CHECK_INT_EQ(store_sample_put(t, &s, &id[8]), 0);
  }
  CHECK_INT_EQ(store_txn_commit(t), 0);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
#define HAS(got, i, folded_want)                  \
  do {                                            \
    CHECK_INT_EQ((got), (int64_t)id[i]);          \
    CHECK_INT_EQ(f, (folded_want));               \
  } while (0)
  /* names found as written are not folded, and build no fold tables */
  HAS(image_folded(&m, "images/IMG_0001.JPG", &f), 0, false);
  HAS(image_folded(&m, "data/sets/val/Cat.jpg", &f), 10, false);
  CHECK(!m.fold_built);
  /* rule 1: a path that differs in case */
  HAS(image_folded(&m, "images/IMG_0001.jpg", &f), 0, true);
  CHECK(m.fold_built);
  HAS(image_folded(&m, "photos/train/A.JPG", &f), 1, true);
  HAS(image_folded(&m, "PHOTOS\\train\\A.jpg", &f), 1, true);
  /* under the root, rule 1 alone, ignoring case */
  HAS(image_folded(&m, "/data/ds/IMAGES/img_0001.jpg", &f), 0, true);
  CHECK_INT_EQ(image(&m, "/data/ds/other/img_0001.jpg"), -ENOENT);
  /* rule 2: the longest tail, ignoring case; an ambiguous tail stays so */
  HAS(image_folded(&m, "export/IMAGES/img_0001.jpg", &f), 0, true);
  HAS(image_folded(&m, "z/Q/r/s.PNG", &f), 11, true);
  CHECK_INT_EQ(image(&m, "z/r/S.PNG"), -ENOTUNIQ);
  CHECK_INT_EQ(stem(&m, "labels/TRAIN/cat"), (int64_t)id[9]);
  CHECK_INT_EQ(stem(&m, "LABELS/VAL/CAT"), (int64_t)id[10]);
  /* an ambiguity as written decides: Cat is two file names (rule 4) */
  CHECK_INT_EQ(stem(&m, "labels/Train/Cat"), -ENOTUNIQ);
  /* rule 3: the export name, its extension ignoring case too */
  HAS(image_folded(&m, "out/IMAGES__img_0001.jpg", &f), 0, true);
  CHECK_INT_EQ(image(&m, "out/images__img_0001.png"), -ENOENT);
  CHECK_INT_EQ(stem(&m, "labels/photos__train__A"), (int64_t)id[1]);
  /* rule 4: the file name alone */
  HAS(image_folded(&m, "img_0001.jpg", &f), 0, true);
  CHECK_INT_EQ(stem(&m, "Img_0001"), (int64_t)id[0]);
  /* two stored paths equal but for case: ambiguous, never a pick; each
   * as written is its own */
  CHECK_INT_EQ(image(&m, "c/DUP.jpg"), -ENOTUNIQ);
  CHECK_INT_EQ(image(&m, "DUP.JPG"), -ENOTUNIQ);
  CHECK_INT_EQ(stem(&m, "C/DUP"), -ENOTUNIQ);
  HAS(image_folded(&m, "c/Dup.jpg", &f), 2, false);
  HAS(image_folded(&m, "c/dup.jpg", &f), 3, false);
  /* an exact rule, even a looser one, comes before rule 5: B.jpg is one
   * file name as written (rule 4), x/b.jpg only ignoring case (rule 1) */
  HAS(image_folded(&m, "x/B.jpg", &f), 5, false);
  CHECK_INT_EQ(image(&m, "y/X/b.JPG"), -ENOTUNIQ);
  /* a missing file: found as written, it decides (not GONE/Z.jpg); found
   * only ignoring case, it matches nothing either */
  CHECK_INT_EQ(image(&m, "gone/z.jpg"), -ENOENT);
  CHECK_INT_EQ(stem(&m, "gone/z"), -ENOENT);
  HAS(image_folded(&m, "GONE/Z.jpg", &f), 7, false);
  CHECK_INT_EQ(image(&m, "M/lost.JPG"), -ENOENT);
  CHECK_INT_EQ(image(&m, "LOST.jpg"), -ENOENT);
  CHECK_INT_EQ(image(&m, "nothing/here.jpg"), -ENOENT);
  /* a label file outside the dataset: the rules, ignoring case; one
   * inside it pairs as Ultralytics does, exactly: images/ holds
   * pictures, and img_0001 is none of them */
  CHECK_INT_EQ(id_of(smatch_label_stem(&m, "/tmp/run", "labels/img_0001",
                                       15, &hit), &hit), (int64_t)id[0]);
  CHECK(hit.folded);
  CHECK_INT_EQ(id_of(smatch_label_stem(&m, "/data/ds", "labels/img_0001",
                                       15, &hit), &hit), -ENOENT);
#undef HAS
  smatch_free(&m);
  CHECK(!m.fold_built && !m.keys[SMATCH_TABLES - 1]);
  /* what the importers show */
  CHECK(!smatch_folds_line(&folds, line, sizeof(line)));
  CHECK_STR_EQ(line, "");
  smatch_folds_add(&folds, "IMG_1.jpg", "d/IMG_1.JPG");
  CHECK(smatch_folds_line(&folds, line, sizeof(line)));
  CHECK_STR_EQ(line, "1 name matched a file only ignoring letter case "
               "(e.g. IMG_1.jpg -> d/IMG_1.JPG)");
  smatch_folds_add(&more, "A.jpg", "a.jpg");
  smatch_folds_add(&more, "B.jpg", "b.jpg");
  smatch_folds_merge(&folds, &more);
  CHECK(smatch_folds_line(&folds, line, sizeof(line)));
  CHECK_STR_EQ(line, "3 names matched a file only ignoring letter case "
               "(e.g. IMG_1.jpg -> d/IMG_1.JPG)");
  store_txn_abort(t);
  teardown();
}

/* Rule 5's edges: where names equal but for case share a sample name
 * (rule 3), the extension tells their pictures apart; a lookup asked not
 * to fold stops at rule 4; and between two names of one input on one
 * sample, the one found as written keeps it. */
TEST(letter_case_choices)
{
  static const char *const rels[] = {
    "a.jpg",       /* 0: sample "a" */
    "A.png",       /* 1: sample "A" */
    "d.jpg",       /* 2: sample "d" */
    "D.jpg",       /* 3: sample "D", the same extension */
    "IMG_1.jpg",   /* 4 */
  };
  enum { N = sizeof(rels) / sizeof(rels[0]) };
  struct store_txn *t;
  struct smatch m;
  uint64_t id[N];
  bool f;
  char why[200];

  store_of(rels, N, NULL, -1, id);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  /* rule 3 ignoring case: "A" is two names, its extension one picture */
  CHECK_INT_EQ(image_folded(&m, "q/A.JPG", &f), (int64_t)id[0]);
  CHECK(f);
  CHECK_INT_EQ(image_folded(&m, "q/a.PNG", &f), (int64_t)id[1]);
  CHECK(f);
  CHECK_INT_EQ(image(&m, "q/A.gif"), -ENOENT);
  CHECK_INT_EQ(image(&m, "q/d.JPG"), -ENOTUNIQ);   /* both JPEGs */
  /* no_fold: rules 1 to 4 alone, no fold tables built */
  smatch_free(&m);
  m.no_fold = true;
  CHECK_INT_EQ(image(&m, "img_1.JPG"), -ENOENT);
  CHECK_INT_EQ(stem(&m, "img_1"), -ENOENT);
  CHECK_INT_EQ(image(&m, "IMG_1.jpg"), (int64_t)id[4]);
  CHECK(!m.fold_built);
  m.no_fold = false;
  CHECK_INT_EQ(image_folded(&m, "img_1.JPG", &f), (int64_t)id[4]);
  CHECK(f);
  smatch_free(&m);
  /* an exact name keeps its sample from a folded one, in either order;
   * two of a kind are left to the importer */
  CHECK_INT_EQ(smatch_pick(false, true), SMATCH_FIRST);
  CHECK_INT_EQ(smatch_pick(true, false), SMATCH_SECOND);
  CHECK_INT_EQ(smatch_pick(false, false), SMATCH_BOTH);
  CHECK_INT_EQ(smatch_pick(true, true), SMATCH_BOTH);
  smatch_fold_lost(why, sizeof(why), "IMG_1.jpg", "a.json: IMG_1.jpg");
  CHECK_STR_EQ(why, "matches IMG_1.jpg only ignoring letter case, which "
               "a.json: IMG_1.jpg names exactly; no sample");
  store_txn_abort(t);
  teardown();
}

TEST(empty_store)
{
  struct store_opts o = { .nosync = true };
  struct store_txn *t;
  struct smatch m;

  if (tl_tmpdir(dir, sizeof(dir), "test-sample-match") < 0)
    abort();
  CHECK_INT_EQ(store_open(dir, &o, &st), 0);
  CHECK_INT_EQ(store_txn_begin(st, false, &t), 0);
  smatch_init(&m, t);
  CHECK_INT_EQ(image(&m, "a/b.jpg"), -ENOENT);
  CHECK_INT_EQ(stem(&m, "a/b"), -ENOENT);
  CHECK_INT_EQ(number(&m, 1), -ENOENT);
  smatch_free(&m);
  store_txn_abort(t);
  teardown();
}

TEST_MAIN(T(rules_in_order), T(missing_files_stop_the_rules),
          T(tail_and_export_name_disagree),
          T(export_name_among_a_stems_pictures),
          T(names_as_other_tools_write_them),
          T(label_files_paired_as_ultralytics_does),
          T(label_pairing_on_whole_paths),
          T(backslashes_in_stored_names), T(names_under_the_root),
          T(long_names), T(letter_case), T(letter_case_choices),
          T(empty_store))
