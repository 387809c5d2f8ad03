/* test_names.c - sample display names (core/base/names.h).
 *
 * Covers name_from_relpath(): directory separators become "__", the last
 * extension of the base name is dropped (dots in directories and a dotfile's
 * leading dot are not extensions), control bytes become '_', a leading dot is
 * replaced so the file is not hidden, and long paths are cut at
 * NAME_STEM_MAX without splitting a "__" separator.  Covers name_strip_ext()
 * for matches, near misses and a too small output buffer.  Every expected
 * string is written out by hand.
 */
#include <errno.h>

#include "names.h"
#include "testlib.h"

/* Runs name_from_relpath into a generous buffer and checks both the string
 * and the returned length. */
#define CHECK_NAME(path, want)                                             \
  do {                                                                     \
    char out_[NAME_STEM_MAX + 64];                                         \
    int r_ = name_from_relpath((path), out_, sizeof(out_));                \
    CHECK_INT_EQ(r_, (long long)strlen(want));                             \
    if (r_ >= 0)                                                           \
      CHECK_STR_EQ(out_, (want));                                          \
  } while (0)

TEST(dirs_joined_and_extension_dropped)
{
  CHECK_NAME("a/b/c.jpg", "a__b__c");
  CHECK_NAME("c.jpg", "c");
  CHECK_NAME("photos/2021/IMG_0001.JPG", "photos__2021__IMG_0001");
}

TEST(no_extension)
{
  CHECK_NAME("noext", "noext");
  CHECK_NAME("dir/noext", "dir__noext");
  /* A dot in a directory name is not an extension of the file. */
  CHECK_NAME("v1.2/file", "v1.2__file");
  CHECK_NAME("v1.2/file.jpeg", "v1.2__file");
}

TEST(only_last_extension_dropped)
{
  CHECK_NAME("x.tar.gz", "x.tar");
  CHECK_NAME("a/b.c.d.jpg", "a__b.c.d");
  /* A trailing dot is an empty extension. */
  CHECK_NAME("a/b.", "a__b");
}

TEST(dotfiles)
{
  /* ".hidden" has no extension; its leading dot is replaced at the start
   * of the name only. */
  CHECK_NAME(".hidden", "_hidden");
  CHECK_NAME("a/.hidden", "a__.hidden");
  CHECK_NAME("a/.jpg", "a__.jpg");
  /* ".x.jpg" is a dotfile with an extension. */
  CHECK_NAME(".x.jpg", "_x");
}

TEST(leading_dot_directory)
{
  CHECK_NAME(".cache/img.jpg", "_cache__img");
  CHECK_NAME("..", "_");
}

TEST(control_characters_replaced)
{
  CHECK_NAME("a\tb\x01" "c\x7f.jpg", "a_b_c_");
  CHECK_NAME("line\nbreak/x\r.jpg", "line_break__x_");
  /* Bytes >= 0x80 (UTF-8) are kept as they are. */
  CHECK_NAME("caf\xc3\xa9/\xc3\xbc.jpg", "caf\xc3\xa9__\xc3\xbc");
  /* Spaces and punctuation are fine in a file name. */
  CHECK_NAME("my pics/a (1)~2.jpg", "my pics__a (1)~2");
}

TEST(empty_path_rejected)
{
  char out[16];

  CHECK_INT_EQ(name_from_relpath("", out, sizeof(out)), -EINVAL);
}

TEST(long_path_capped)
{
  char path[400], want[NAME_STEM_MAX + 1], out[NAME_STEM_MAX + 64];
  int r;

  /* 300 'a' + ".jpg": the stem is cut at exactly NAME_STEM_MAX bytes. */
  memset(path, 'a', 300);
  memcpy(path + 300, ".jpg", 5);
  memset(want, 'a', NAME_STEM_MAX);
  want[NAME_STEM_MAX] = '\0';
  r = name_from_relpath(path, out, sizeof(out));
  CHECK_INT_EQ(r, NAME_STEM_MAX);
  CHECK_STR_EQ(out, want);

  /* Exactly NAME_STEM_MAX fits as is. */
  memset(path, 'b', NAME_STEM_MAX);
  memcpy(path + NAME_STEM_MAX, ".jpg", 5);
  r = name_from_relpath(path, out, sizeof(out));
  CHECK_INT_EQ(r, NAME_STEM_MAX);
  CHECK_INT_EQ(strlen(out), NAME_STEM_MAX);
  CHECK(out[NAME_STEM_MAX - 1] == 'b');

  /* A separator that would straddle the cap is left out whole: 199 bytes
   * of 'a' then "/b.jpg" gives the 199 'a' only, never a lone '_'. */
  memset(path, 'a', 199);
  memcpy(path + 199, "/b.jpg", 7);
  memset(want, 'a', 199);
  want[199] = '\0';
  r = name_from_relpath(path, out, sizeof(out));
  CHECK_INT_EQ(r, 199);
  CHECK_STR_EQ(out, want);

  /* 198 'a' then "/b.jpg": the separator fits, the next byte does not. */
  memset(path, 'a', 198);
  memcpy(path + 198, "/b.jpg", 7);
  memset(want, 'a', 198);
  want[198] = '_';
  want[199] = '_';
  want[200] = '\0';
  r = name_from_relpath(path, out, sizeof(out));
  CHECK_INT_EQ(r, 200);
  CHECK_STR_EQ(out, want);

  /* Long paths made of many directories are capped too. */
  for (int i = 0; i < 100; i++)
    memcpy(path + i * 3, "ab/", 3);
  memcpy(path + 300, "x.jpg", 6);
  r = name_from_relpath(path, out, sizeof(out));
  CHECK(r > 0 && r <= NAME_STEM_MAX);
  CHECK_INT_EQ(strlen(out), r);
}

TEST(small_output_buffer)
{
  char out[4];

  /* Output is cut to fit and always NUL-terminated. */
  memset(out, 'X', sizeof(out));
  CHECK_INT_EQ(name_from_relpath("abcdef.jpg", out, sizeof(out)), 3);
  CHECK_STR_EQ(out, "abc");
  /* No room for even one byte and a NUL. */
  CHECK_INT_EQ(name_from_relpath("abc", out, 1), -EINVAL);
}

TEST(strip_ext)
{
  char out[32];

  CHECK_INT_EQ(name_strip_ext("x.jpg", ".jpg", out, sizeof(out)), 0);
  CHECK_STR_EQ(out, "x");
  CHECK_INT_EQ(name_strip_ext("a__b~3.jpg", ".jpg", out, sizeof(out)), 0);
  CHECK_STR_EQ(out, "a__b~3");
  CHECK_INT_EQ(name_strip_ext("x.jpg.json", ".json", out, sizeof(out)), 0);
  CHECK_STR_EQ(out, "x.jpg");
}

TEST(strip_ext_misses)
{
  char out[32];

  CHECK_INT_EQ(name_strip_ext("x.jpeg", ".jpg", out, sizeof(out)), -ENOENT);
  CHECK_INT_EQ(name_strip_ext("x.png", ".jpg", out, sizeof(out)), -ENOENT);
  /* Case matters. */
  CHECK_INT_EQ(name_strip_ext("X.JPG", ".jpg", out, sizeof(out)), -ENOENT);
  /* Nothing but the extension: no stem. */
  CHECK_INT_EQ(name_strip_ext(".jpg", ".jpg", out, sizeof(out)), -ENOENT);
  CHECK_INT_EQ(name_strip_ext("jpg", ".jpg", out, sizeof(out)), -ENOENT);
  CHECK_INT_EQ(name_strip_ext("", ".jpg", out, sizeof(out)), -ENOENT);
  /* The extension must be at the end. */
  CHECK_INT_EQ(name_strip_ext("x.jpg~", ".jpg", out, sizeof(out)), -ENOENT);
}

TEST(strip_ext_buffer_size)
{
  char out[4];

  /* "abc" needs 4 bytes with its NUL. */
  CHECK_INT_EQ(name_strip_ext("abc.jpg", ".jpg", out, 4), 0);
  CHECK_STR_EQ(out, "abc");
  CHECK_INT_EQ(name_strip_ext("abcd.jpg", ".jpg", out, 4), -ENOENT);
  CHECK_INT_EQ(name_strip_ext("abc.jpg", ".jpg", out, 3), -ENOENT);
}

TEST_MAIN(T(dirs_joined_and_extension_dropped), T(no_extension),
          T(only_last_extension_dropped), T(dotfiles),
          T(leading_dot_directory), T(control_characters_replaced),
          T(empty_path_rejected), T(long_path_capped),
          T(small_output_buffer), T(strip_ext), T(strip_ext_misses),
          T(strip_ext_buffer_size))
