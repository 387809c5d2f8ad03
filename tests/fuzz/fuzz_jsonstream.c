/* fuzz_jsonstream.c - the streaming scanner of core/formats/jsonstream.c
 * against jansson's parser on the same bytes.  The first byte picks how
 * many bytes each read(2) returns (1..64, so that reads end inside
 * tokens and elements); the rest is the document.  The scan must accept
 * exactly what json_loadb accepts (a key asked for given twice, and a
 * NUL byte jansson lets through, aside: the scanner refuses both on
 * purpose), and hand over each element of
 * "images" and "categories" (or of an array root), then in a second
 * pass each of "annotations", equal to the parsed tree's.  Any
 * difference aborts (elements of a list whose key comes again later
 * differ from jansson's, which keeps the last: the scan then refuses the
 * document, and nothing it handed over is used). */
#include "fuzzlib.h"

#include "jsonstream.h"

struct seen {
  bool parsed;       /* jansson accepted the document */
  bool differ[3];    /* by key index: an element unlike the parsed
                      * tree's: an abort, unless that very key is given
                      * twice (jansson keeps the last list, the scan hands
                      * over the first before it meets the second) and
                      * the scan refuses the document */
  json_t *want[3];   /* the parsed tree's arrays, by key index; [0] root */
  size_t n[3];
};

static int ignore(void *ud, int k, size_t i, json_t *e)
{
  (void)ud, (void)k, (void)i, (void)e;
  return 0;
}

/* Whether key keys[k] is itself given twice in the document at path: a
 * scan asking for it alone refuses it by name (a difference in another
 * key's list is no duplicate's doing). */
static bool key_twice(const char *path, const char *const *keys,
                      const enum jstream_mode *modes, int k)
{
  struct jstream_root root;
  char why[200], want[64];
  struct jstream *js;
  int e, r;

  if (!(js = jstream_open(path, &e, why, sizeof(why))))
    return false;   /* (an array root, slot 0 too, never refuses a key) */
  r = jstream_scan(js, &keys[k], &modes[k], 1, 0, ignore, NULL, &root, why,
                   sizeof(why));
  jstream_close(js);
  snprintf(want, sizeof(want), "duplicate key \"%s\"", keys[k]);
  return r == -EINVAL && strstr(why, want);
}

static int check(void *ud, int k, size_t i, json_t *e)
{
  struct seen *s = ud;
  int slot = k < 0 ? 0 : k;
  json_t *w = json_array_get(s->want[slot], i);

  if (!s->parsed)   /* the scan must fail later */
    return 0;
  if (!w || !json_equal(w, e) || i != s->n[slot])
    s->differ[slot] = true;
  s->n[slot]++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const keys[] = { "images", "annotations",
                                      "categories" };
  static const enum jstream_mode modes[] = { JSTREAM_EACH, JSTREAM_MARK,
                                             JSTREAM_EACH };
  struct jstream_root root;
  struct seen s = { 0 };
  char why[200];
  json_t *doc;
  struct jstream *js;
  int r, e;

  if (size < 1)
    return 0;
  doc = json_loadb((const char *)data + 1, size - 1, 0, NULL);
  const char *path = fz_file("doc.json", data + 1, size - 1);
  js = jstream_open(path, &e, why, sizeof(why));
  if (!js)
    abort();
  jstream_set_read_size(js, 1 + data[0] % 64);
  s.parsed = doc != NULL;
  if (json_is_array(doc)) {
    s.want[0] = doc;
  } else {
    for (int k = 0; k < 3; k++)
      if (k != 1)
        s.want[k] = json_object_get(doc, keys[k]);
  }
  r = jstream_scan(js, keys, modes, 3, 1, check, &s, &root, why,
                   sizeof(why));
  if (r == -EINVAL && strstr(why, "duplicate key")) {
    /* refused on purpose: jansson keeps the last; a list that differed
     * must be of a key given twice */
    for (int k = 0; k < 3; k++)
      if (s.differ[k] && !key_twice(path, keys, modes, k))
        abort();
  } else if (r < 0 && doc && memchr(data + 1, '\0', size - 1)) {
    /* refused on purpose: jansson drops a NUL byte that follows a
     * number or a literal (jsonstream.h) */
  } else if ((r == 0) != (doc != NULL) || s.differ[0] ||
             s.differ[1] || s.differ[2]) {
    abort();
  } else if (r == 0) {
    for (int k = 0; k < 3; k++)
      if (json_is_array(s.want[k]) && s.n[k] != json_array_size(s.want[k]))
        abort();
    s.want[1] = json_object_get(doc, "annotations");
    if (root.type == '{' && root.at[1].type == '[') {
      if (!json_is_array(s.want[1]) ||
          jstream_each(js, &root.at[1], 1, check, &s, why, sizeof(why)) ||
          s.n[1] != json_array_size(s.want[1]) || s.differ[1])
        abort();
    }
  }
  jstream_close(js);
  json_decref(doc);
  return 0;
}
