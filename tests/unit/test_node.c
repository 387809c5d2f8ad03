/* test_node.c - inode numbers of the mounted tree (fs/node.h).
 *
 * Checks the documented bit layout with hand-written inode numbers (kind in
 * bits 63..56; tag files pack the tag id in 55..40 and the sample id in
 * 39..0), round trips for every kind including the largest ids, that the
 * root is inode 1 whatever ids are passed, and that numbers the daemon never
 * hands out are refused by node_from_ino().  node.h is a pure header, so no
 * FUSE is needed.
 */
#include "node.h"
#include "testlib.h"

/* Decodes `ino` and checks that it is valid with the given fields. */
#define CHECK_DECODES(ino, k, i, smp)                                      \
  do {                                                                     \
    struct node n_;                                                        \
    CHECK(node_from_ino((ino), &n_));                                      \
    CHECK_INT_EQ(n_.kind, (k));                                            \
    CHECK(n_.id == (uint64_t)(i));                                         \
    CHECK(n_.sample == (uint64_t)(smp));                                   \
  } while (0)

TEST(root_is_one)
{
  struct node n;

  CHECK(NODE_ROOT_INO == 1);
  CHECK(node_ino(NODE_ROOT, 0, 0) == 1);
  /* Ids are ignored for the root. */
  CHECK(node_ino(NODE_ROOT, 77, 99) == 1);
  n.kind = NODE_TAG;
  n.id = 5;
  n.sample = 6;
  CHECK(node_from_ino(1, &n));
  CHECK_INT_EQ(n.kind, NODE_ROOT);
  CHECK(n.id == 0);
  CHECK(n.sample == 0);
}

TEST(fixed_dirs_and_ctl_files)
{
  CHECK(node_ino(NODE_DIR, DIR_SAMPLES, 0) == 0x0100000000000001ULL);
  CHECK(node_ino(NODE_DIR, DIR_LABELS, 0) == 0x0100000000000002ULL);
  CHECK(node_ino(NODE_DIR, DIR_TAGS, 0) == 0x0100000000000003ULL);
  CHECK(node_ino(NODE_CTL, CTL_README, 0) == 0x0200000000000001ULL);
  CHECK(node_ino(NODE_CTL, CTL_STATUS, 0) == 0x0200000000000002ULL);

  CHECK_DECODES(0x0100000000000001ULL, NODE_DIR, DIR_SAMPLES, 0);
  CHECK_DECODES(0x0100000000000002ULL, NODE_DIR, DIR_LABELS, 0);
  CHECK_DECODES(0x0100000000000003ULL, NODE_DIR, DIR_TAGS, 0);
  CHECK_DECODES(0x0200000000000001ULL, NODE_CTL, CTL_README, 0);
  CHECK_DECODES(0x0200000000000002ULL, NODE_CTL, CTL_STATUS, 0);
}

TEST(sample_label_tag)
{
  CHECK(node_ino(NODE_SAMPLE, 1, 0) == 0x0300000000000001ULL);
  CHECK(node_ino(NODE_LABEL, 42, 0) == 0x040000000000002AULL);
  CHECK(node_ino(NODE_TAG, 0xffff, 0) == 0x050000000000FFFFULL);
  CHECK_DECODES(0x0300000000000001ULL, NODE_SAMPLE, 1, 0);
  CHECK_DECODES(0x040000000000002AULL, NODE_LABEL, 42, 0);
  CHECK_DECODES(0x050000000000FFFFULL, NODE_TAG, 0xffff, 0);

  /* The largest sample id the tag files can carry, and the largest id a
   * plain sample inode can carry (56 bits). */
  CHECK(node_ino(NODE_SAMPLE, NODE_SAMPLE_MAX, 0) == 0x030000FFFFFFFFFFULL);
  CHECK_DECODES(0x030000FFFFFFFFFFULL, NODE_SAMPLE, 0xFFFFFFFFFFULL, 0);
  CHECK(node_ino(NODE_LABEL, 0x00FFFFFFFFFFFFFFULL, 0) ==
        0x04FFFFFFFFFFFFFFULL);
  CHECK_DECODES(0x04FFFFFFFFFFFFFFULL, NODE_LABEL, 0x00FFFFFFFFFFFFFFULL, 0);
  /* An id wider than 56 bits never leaks into the kind byte. */
  CHECK(node_ino(NODE_SAMPLE, 0xAB00000000000005ULL, 0) ==
        0x0300000000000005ULL);
}

TEST(tag_files)
{
  CHECK(node_ino(NODE_TAGFILE, 1, 1) == 0x0600010000000001ULL);
  CHECK(node_ino(NODE_TAGFILE, 0x1234, 0x56789ABCDEULL) ==
        0x06123456789ABCDEULL);
  /* Both at their maxima. */
  CHECK(NODE_TAG_MAX == 0xffff);
  CHECK(NODE_SAMPLE_MAX == 0xFFFFFFFFFFULL);
  CHECK(node_ino(NODE_TAGFILE, NODE_TAG_MAX, NODE_SAMPLE_MAX) ==
        0x06FFFFFFFFFFFFFFULL);

  CHECK_DECODES(0x0600010000000001ULL, NODE_TAGFILE, 1, 1);
  CHECK_DECODES(0x06123456789ABCDEULL, NODE_TAGFILE, 0x1234, 0x56789ABCDEULL);
  CHECK_DECODES(0x06FFFFFFFFFFFFFFULL, NODE_TAGFILE, 0xffff, 0xFFFFFFFFFFULL);
  CHECK_DECODES(0x06FFFF0000000001ULL, NODE_TAGFILE, 0xffff, 1);
  CHECK_DECODES(0x060001FFFFFFFFFFULL, NODE_TAGFILE, 1, 0xFFFFFFFFFFULL);
}

TEST(distinct_inodes_per_view)
{
  /* One sample: its samples/ inode and its files under two tags must all
   * differ, or the kernel would turn a move between tags into a no-op. */
  uint64_t s = node_ino(NODE_SAMPLE, 7, 0);
  uint64_t a = node_ino(NODE_TAGFILE, 1, 7);
  uint64_t b = node_ino(NODE_TAGFILE, 2, 7);
  uint64_t l = node_ino(NODE_LABEL, 7, 0);

  CHECK(s != a);
  CHECK(s != b);
  CHECK(a != b);
  CHECK(l != s);
  /* Two samples under one tag differ too. */
  CHECK(node_ino(NODE_TAGFILE, 1, 8) != a);
}

TEST(round_trip_every_kind)
{
  static const struct {
    enum node_kind kind;
    uint64_t id, sample;
  } cases[] = {
    { NODE_ROOT, 0, 0 },
    { NODE_DIR, DIR_SAMPLES, 0 },
    { NODE_DIR, DIR_LABELS, 0 },
    { NODE_DIR, DIR_TAGS, 0 },
    { NODE_CTL, CTL_README, 0 },
    { NODE_CTL, CTL_STATUS, 0 },
    { NODE_SAMPLE, 1, 0 },
    { NODE_SAMPLE, 123456789, 0 },
    { NODE_SAMPLE, NODE_SAMPLE_MAX, 0 },
    { NODE_LABEL, 1, 0 },
    { NODE_LABEL, NODE_SAMPLE_MAX, 0 },
    { NODE_TAG, 1, 0 },
    { NODE_TAG, NODE_TAG_MAX, 0 },
    { NODE_TAGFILE, 1, 1 },
    { NODE_TAGFILE, 300, 1000000 },
    { NODE_TAGFILE, NODE_TAG_MAX, 1 },
    { NODE_TAGFILE, 1, NODE_SAMPLE_MAX },
    { NODE_TAGFILE, NODE_TAG_MAX, NODE_SAMPLE_MAX },
  };

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint64_t ino = node_ino(cases[i].kind, cases[i].id, cases[i].sample);
    struct node n;

    CHECK(ino != 0);
    CHECK(node_from_ino(ino, &n));
    CHECK_INT_EQ(n.kind, cases[i].kind);
    CHECK(n.id == cases[i].id);
    CHECK(n.sample == cases[i].sample);
    /* ...and back again to the same number. */
    CHECK(node_ino(n.kind, n.id, n.sample) == ino);
  }
}

TEST(invalid_inodes_rejected)
{
  static const uint64_t bad[] = {
    0,                      /* never a FUSE inode */
    2,                      /* kind 0 is only the root, which is 1 */
    0x00000000FFFFFFFFULL,
    0x0100000000000000ULL,  /* dir 0 */
    0x0100000000000004ULL,  /* dir past DIR_TAGS */
    0x01000000000000FFULL,
    0x0200000000000000ULL,  /* ctl 0 */
    0x0200000000000003ULL,  /* ctl past CTL_STATUS */
    0x0300000000000000ULL,  /* sample 0 */
    0x0400000000000000ULL,  /* label of sample 0 */
    0x0500000000000000ULL,  /* tag 0 */
    0x0600000000000001ULL,  /* tag file with tag 0 */
    0x0600010000000000ULL,  /* tag file with sample 0 */
    0x0600000000000000ULL,
    0x0700000000000000ULL,  /* a vnode number 0 is never handed out */
    0x0900000000000001ULL,  /* unknown kinds */
    0x0800000000000001ULL,
    0xFF00000000000001ULL,
    0xFFFFFFFFFFFFFFFFULL,
  };

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct node n;
    if (node_from_ino(bad[i], &n)) {
      fprintf(stderr, "inode 0x%016" PRIx64 " accepted\n", bad[i]);
      tl_failed = 1;
    }
  }
}

TEST(lists_samples)
{
  struct node n = { .kind = NODE_DIR, .id = DIR_SAMPLES };

  CHECK(node_lists_samples(&n));
  n.id = DIR_LABELS;
  CHECK(!node_lists_samples(&n));
  n.id = DIR_TAGS;
  CHECK(!node_lists_samples(&n));
  n.kind = NODE_TAG;
  n.id = 3;
  CHECK(node_lists_samples(&n));
  n.kind = NODE_TAGFILE;
  n.sample = 4;
  CHECK(!node_lists_samples(&n));
  n.kind = NODE_ROOT;
  n.id = 0;
  n.sample = 0;
  CHECK(!node_lists_samples(&n));
  n.kind = NODE_SAMPLE;
  n.id = DIR_SAMPLES;  /* a sample whose id happens to equal DIR_SAMPLES */
  CHECK(!node_lists_samples(&n));
}

TEST_MAIN(T(root_is_one), T(fixed_dirs_and_ctl_files), T(sample_label_tag),
          T(tag_files), T(distinct_inodes_per_view), T(round_trip_every_kind),
          T(invalid_inodes_rejected), T(lists_samples))
