/* benchtool - baselines for scripts/bench.sh, in C so that they cost what
 * the real thing costs:
 *   benchtool hdr DIR    stat + 16 KiB header read of every file (recursive)
 *   benchtool read DIR   read every file whole (recursive)
 *   benchtool decode DIR [THREADS]
 *                        read and decode every JPEG with TurboJPEG at the
 *                        smallest scale whose short side is >= 64 px (the
 *                        feature scale), on THREADS threads (default 2);
 *                        no features, no store: the import's decode limit
 *   benchtool crop LIST [THREADS] [once]
 *                        the bare ImageNet crop loop: for each line
 *                        "PATH X0 Y0 X1 Y1" of LIST, read and decode the
 *                        photo whole, cut the box, encode it (quality 90,
 *                        4:2:0, as the export) on THREADS threads (default
 *                        2); with `once`, each photo (consecutive lines of
 *                        one PATH) is decoded once for all of its boxes
 * Prints the number of files and bytes handled. */
#include <dirent.h>
#include <pthread.h>
#include <turbojpeg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long long nfiles, nbytes;
static char buf[1 << 18];

static void walk(int dfd, int whole)
{
  DIR *d = fdopendir(dfd);
  struct dirent *e;

  if (!d)
    return;
  while ((e = readdir(d))) {
    struct stat st;
    int fd;
    ssize_t n;

    if (e->d_name[0] == '.')
      continue;
    if (fstatat(dirfd(d), e->d_name, &st, 0) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY);
      if (sub >= 0)
        walk(sub, whole);
      continue;
    }
    fd = openat(dirfd(d), e->d_name, O_RDONLY);
    if (fd < 0)
      continue;
    if (whole) {
      while ((n = read(fd, buf, sizeof(buf))) > 0)
        nbytes += (unsigned long long)n;
    } else {
      n = pread(fd, buf, 16384, 0);
      if (n > 0)
        nbytes += (unsigned long long)n;
    }
    close(fd);
    nfiles++;
  }
  closedir(d);
}

/* ---- decode ---- */

static char **paths;
static size_t npaths, capaths, next_path;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void collect(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;

  if (!d)
    return;
  while ((e = readdir(d))) {
    char p[4096];
    struct stat st;

    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    if (stat(p, &st) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      collect(p);
    } else {
      if (npaths == capaths) {
        capaths = capaths ? capaths * 2 : 1024;
        paths = realloc(paths, capaths * sizeof(*paths));
      }
      paths[npaths++] = strdup(p);
    }
  }
  closedir(d);
}

static void *decoder(void *arg)
{
  tjhandle tj = tjInitDecompress();
  unsigned char *data = NULL, *px = NULL;
  size_t cap = 0, pxcap = 0;
  unsigned long long bytes = 0, files = 0;

  (void)arg;
  for (;;) {
    size_t i;
    struct stat st;
    int fd, w, h, sub, cs, nsf;
    tjscalingfactor *sf, best = { 1, 1 };
    size_t got = 0;

    pthread_mutex_lock(&mu);
    i = next_path++;
    pthread_mutex_unlock(&mu);
    if (i >= npaths)
      break;
    fd = open(paths[i], O_RDONLY);
    if (fd < 0 || fstat(fd, &st) < 0)
      continue;
    if ((size_t)st.st_size > cap) {
      cap = (size_t)st.st_size;
      data = realloc(data, cap);
    }
    while (got < (size_t)st.st_size) {
      ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
      if (n <= 0)
        break;
      got += (size_t)n;
    }
    close(fd);
    if (tjDecompressHeader3(tj, data, got, &w, &h, &sub, &cs) != 0)
      continue;
    sf = tjGetScalingFactors(&nsf);
    for (int k = 0; k < nsf; k++)
      if (sf[k].num <= sf[k].denom &&
          TJSCALED(w < h ? w : h, sf[k]) >= 64 &&
          sf[k].num * best.denom < best.num * sf[k].denom)
        best = sf[k];
    w = TJSCALED(w, best);
    h = TJSCALED(h, best);
    if ((size_t)w * h * 3 > pxcap) {
      pxcap = (size_t)w * h * 3;
      px = realloc(px, pxcap);
    }
    if (tjDecompress2(tj, data, got, px, w, 0, h, TJPF_RGB, TJFLAG_FASTDCT) ==
        0) {
      files++;
      bytes += got;
    }
  }
  pthread_mutex_lock(&mu);
  nfiles += files;
  nbytes += bytes;
  pthread_mutex_unlock(&mu);
  free(data);
  free(px);
  tjDestroy(tj);
  return NULL;
}

/* ---- crop ---- */

struct box {
  char *path;
  int x0, y0, x1, y1;
};

static struct box *boxes;
static size_t nboxes;
static int crop_once;

/* The next unit of work: one box, or with `once` the run of boxes of one
 * photo. */
static int next_unit(size_t *from, size_t *to)
{
  pthread_mutex_lock(&mu);
  *from = next_path;
  *to = *from + (*from < nboxes);
  while (crop_once && *to < nboxes && strcmp(boxes[*to].path,
                                             boxes[*from].path) == 0)
    (*to)++;
  next_path = *to;
  pthread_mutex_unlock(&mu);
  return *from < nboxes;
}

static void *cropper(void *arg)
{
  tjhandle dec = tjInitDecompress(), enc = tjInitCompress();
  unsigned long long files = 0, bytes = 0;
  size_t from, to;

  (void)arg;
  while (next_unit(&from, &to)) {
    unsigned char *data = NULL, *px = NULL, *cp = NULL;
    struct stat st;
    int fd = open(boxes[from].path, O_RDONLY), w, h, sub, cs;
    size_t got = 0;

    if (fd < 0 || fstat(fd, &st) < 0)
      continue;
    data = malloc((size_t)st.st_size);
    while (got < (size_t)st.st_size) {
      ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
      if (n <= 0)
        break;
      got += (size_t)n;
    }
    close(fd);
    if (tjDecompressHeader3(dec, data, got, &w, &h, &sub, &cs) == 0 &&
        (px = malloc((size_t)w * h * 3)) &&
        tjDecompress2(dec, data, got, px, w, 0, h, TJPF_RGB,
                      TJFLAG_FASTDCT) == 0) {
      for (size_t i = from; i < to; i++) {
        const struct box *b = &boxes[i];
        int cw = b->x1 - b->x0, ch = b->y1 - b->y0;
        unsigned char *out = NULL;
        unsigned long olen = 0;
        cp = realloc(cp, (size_t)cw * ch * 3);
        for (int y = 0; y < ch; y++)
          memcpy(cp + (size_t)y * cw * 3,
                 px + ((size_t)(b->y0 + y) * w + b->x0) * 3, (size_t)cw * 3);
        if (tjCompress2(enc, cp, cw, 0, ch, TJPF_RGB, &out, &olen, TJSAMP_420,
                        90, TJFLAG_FASTDCT) == 0) {
          files++;
          bytes += olen;
        }
        tjFree(out);
      }
    }
    free(cp);
    free(px);
    free(data);
  }
  pthread_mutex_lock(&mu);
  nfiles += files;
  nbytes += bytes;
  pthread_mutex_unlock(&mu);
  tjDestroy(dec);
  tjDestroy(enc);
  return NULL;
}

static int crop_main(int argc, char **argv)
{
  FILE *f = fopen(argv[2], "r");
  int nt = argc > 3 ? atoi(argv[3]) : 2;
  char p[4096];
  struct box b;
  size_t cap = 0;
  pthread_t tid[64];

  if (!f) {
    perror(argv[2]);
    return 1;
  }
  if (nt < 1 || nt > 64)
    nt = 2;
  crop_once = argc > 4 && strcmp(argv[4], "once") == 0;
  while (fscanf(f, "%4095s %d %d %d %d", p, &b.x0, &b.y0, &b.x1, &b.y1) == 5) {
    if (nboxes == cap) {
      cap = cap ? cap * 2 : 1024;
      boxes = realloc(boxes, cap * sizeof(*boxes));
    }
    b.path = strdup(p);
    boxes[nboxes++] = b;
  }
  fclose(f);
  for (int i = 0; i < nt; i++)
    pthread_create(&tid[i], NULL, cropper, NULL);
  for (int i = 0; i < nt; i++)
    pthread_join(tid[i], NULL);
  printf("%llu files, %llu bytes\n", nfiles, nbytes);
  return 0;
}

int main(int argc, char **argv)
{
  int fd;

  if (argc >= 3 && strcmp(argv[1], "crop") == 0)
    return crop_main(argc, argv);

  if (argc >= 3 && strcmp(argv[1], "decode") == 0) {
    int nt = argc > 3 ? atoi(argv[3]) : 2;
    pthread_t tid[64];
    if (nt < 1 || nt > 64)
      nt = 2;
    collect(argv[2]);
    for (int i = 0; i < nt; i++)
      pthread_create(&tid[i], NULL, decoder, NULL);
    for (int i = 0; i < nt; i++)
      pthread_join(tid[i], NULL);
    printf("%llu files, %llu bytes\n", nfiles, nbytes);
    return 0;
  }
  if (argc != 3 || (strcmp(argv[1], "hdr") && strcmp(argv[1], "read"))) {
    fprintf(stderr, "usage: benchtool hdr|read DIR | decode DIR [THREADS] | "
            "crop LIST [THREADS] [once]\n");
    return 2;
  }
  fd = open(argv[2], O_RDONLY | O_DIRECTORY);
  if (fd < 0) {
    perror(argv[2]);
    return 1;
  }
  walk(fd, strcmp(argv[1], "read") == 0);
  printf("%llu files, %llu bytes\n", nfiles, nbytes);
  return 0;
}
