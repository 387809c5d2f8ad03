/* replay.c - the main() of a fuzzing harness in the ordinary builds: runs
 * LLVMFuzzerTestOneInput once on every file of the folders given (the
 * committed corpus, tests/fuzz/corpus/NAME/), so each harness compiles
 * with the project's warnings and every input that once crashed is
 * replayed by `meson test`, under ASan+UBSan in that build, without
 * clang or libFuzzer.  Exit 0, or 1 with the reason on a file that cannot
 * be read (a crash is the sanitizer's or the signal's own report).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  uint8_t *data = NULL;
  size_t n = 0, cap = 0;

  if (!f) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  for (;;) {
    if (n == cap) {
      uint8_t *p = realloc(data, cap ? cap * 2 : 4096);
      if (!p) {
        free(data);
        fclose(f);
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return -1;
      }
      data = p;
      cap = cap ? cap * 2 : 4096;
    }
    size_t got = fread(data + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(data, n);
  free(data);
  return 0;
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular entry of dir, in name order (the same order each run). */
static int replay_dir(const char *dir, int *count)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0;
  int r = 0;

  if (!d) {
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      char **p = realloc(names, (cap ? cap * 2 : 16) * sizeof(*names));
      if (!p) {
        r = -1;
        break;
      }
      names = p;
      cap = cap ? cap * 2 : 16;
    }
    if (!(names[n] = strdup(e->d_name))) {
      r = -1;
      break;
    }
    n++;
  }
  closedir(d);
  if (n)
    qsort(names, n, sizeof(*names), cmp_names);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    if (r == 0 && replay_file(path) < 0)
      r = -1;
    else if (r == 0)
      (*count)++;
    free(names[i]);
  }
  free(names);
  if (r < 0 && n == 0)
    fprintf(stderr, "replay: %s: out of memory\n", dir);
  return r;
}

int main(int argc, char **argv)
{
  int count = 0;

  for (int i = 1; i < argc; i++)
    if (replay_dir(argv[i], &count) < 0)
      return 1;
  if (count == 0) {
    fprintf(stderr, "replay: no inputs in the folders given\n");
    return 1;
  }
  printf("replayed %d inputs\n", count);
  return 0;
}
