/* benchtool - baselines for scripts/bench.sh, in C so that they cost what
 * the real thing costs:
 *   benchtool hdr DIR    stat + 16 KiB header read of every file (recursive)
 *   benchtool read DIR   read every file whole (recursive)
 *   benchtool decode DIR [THREADS]
 *                        read and decode every JPEG with TurboJPEG at the
 *                        smallest scale whose short side is >= 64 px (the
 *                        feature scale), on THREADS threads (default 2);
 *                        no features, no store: the import's decode limit
 *   benchtool decodeany DIR [THREADS]
 *                        the same for files of any format, each decoded by
 *                        its own library called directly: JPEG as above,
 *                        PNG with libspng (full size, RGB/RGBA 8-bit),
 *                        WebP with libwebp (scaled in the decoder to the
 *                        feature scale), TIFF with libtiff (8-bit RGB
 *                        strips decoded as they are, any other layout
 *                        through its RGBA reader),
 *                        GIF with giflib (all records), BMP rows turned
 *                        from BGR into RGB by a plain C loop (there is no
 *                        library to compare with)
 *   benchtool crop LIST [THREADS] [once]
 *                        the bare ImageNet crop loop: for each line
 *                        "PATH X0 Y0 X1 Y1" of LIST, read and decode the
 *                        photo whole, cut the box, encode it (quality 90,
 *                        4:2:0, as the export) on THREADS threads (default
 *                        2); with `once`, each photo (consecutive lines of
 *                        one PATH) is decoded once for all of its boxes
 * Prints the number of files and bytes handled. */
#include <dirent.h>
#include <gif_lib.h>
#include <pthread.h>
#include <spng.h>
#include <tiffio.h>
#include <turbojpeg.h>
#include <webp/decode.h>
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

struct memsrc {
  const unsigned char *p;
  size_t n, pos;
};

static tmsize_t t_read(thandle_t h, void *b, tmsize_t n)
{
  struct memsrc *m = h;
  size_t k = m->n - m->pos < (size_t)n ? m->n - m->pos : (size_t)n;
  memcpy(b, m->p + m->pos, k);
  m->pos += k;
  return (tmsize_t)k;
}
static tmsize_t t_write(thandle_t h, void *b, tmsize_t n)
{
  (void)h; (void)b; (void)n;
  return -1;
}
static toff_t t_seek(thandle_t h, toff_t off, int wh)
{
  struct memsrc *m = h;
  m->pos = (wh == SEEK_CUR ? m->pos : wh == SEEK_END ? m->n : 0) + off;
  return m->pos;
}
static int t_close(thandle_t h) { (void)h; return 0; }
static toff_t t_size(thandle_t h) { return ((struct memsrc *)h)->n; }
static int t_map(thandle_t h, void **b, toff_t *n)
{
  *b = (void *)((struct memsrc *)h)->p;
  *n = ((struct memsrc *)h)->n;
  return 1;
}
static void t_unmap(thandle_t h, void *b, toff_t n) { (void)h; (void)b; (void)n; }

static int g_read(GifFileType *g, GifByteType *b, int n)
{
  struct memsrc *m = g->UserData;
  size_t k = m->n - m->pos < (size_t)n ? m->n - m->pos : (size_t)n;
  memcpy(b, m->p + m->pos, k);
  m->pos += k;
  return (int)k;
}

/* A TIFF with libtiff: 8-bit RGB strips decoded as stored, any other
 * layout through the RGBA reader; 0 on success. */
static int decode_tiff(const unsigned char *d, size_t n, unsigned char **px,
                       size_t *pxcap)
{
  struct memsrc m = { d, n, 0 };
  TIFF *t = TIFFClientOpen("m", "rm", &m, t_read, t_write, t_seek, t_close,
                           t_size, t_map, t_unmap);
  uint32_t w = 0, h = 0;
  uint16_t bps = 0, spp = 0, photo = 0, planar = 0;
  int r = -1;
  if (!t)
    return -1;
  TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
  TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo);
  TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
  if (!TIFFIsTiled(t) && bps == 8 && spp == 3 && photo == PHOTOMETRIC_RGB &&
      planar == PLANARCONFIG_CONTIG) {
    /* 8-bit RGB strips: decoded strips are RGB rows already, the
     * least work libtiff can do (the import reads these the same way) */
    tmsize_t ss = TIFFStripSize(t);
    if ((size_t)ss > *pxcap)
      *px = realloc(*px, *pxcap = (size_t)ss);
    r = 0;
    for (uint32_t s = 0; r == 0 && s < TIFFNumberOfStrips(t); s++)
      if (TIFFReadEncodedStrip(t, s, *px, ss) < 0)
        r = -1;
    TIFFClose(t);
    return r;
  }
  if ((size_t)w * h * 4 > *pxcap)
    *px = realloc(*px, *pxcap = (size_t)w * h * 4);
  if (TIFFReadRGBAImageOriented(t, w, h, (uint32_t *)*px,
                                ORIENTATION_TOPLEFT, 0))
    r = 0;
  TIFFClose(t);
  return r;
}

/* Decodes one non-JPEG file with its own library; 0 on success. */
static int decode_other(const unsigned char *d, size_t n, unsigned char **px,
                        size_t *pxcap)
{
  if (n >= 8 && memcmp(d, "\x89PNG", 4) == 0) {
    spng_ctx *c = spng_ctx_new(0);
    struct spng_ihdr ih;
    size_t sz;
    int fmt, r = -1;
    spng_set_png_buffer(c, d, n);
    if (spng_get_ihdr(c, &ih) == 0) {
      fmt = ih.color_type == 4 || ih.color_type == 6 ? SPNG_FMT_RGBA8
                                                     : SPNG_FMT_RGB8;
      if (spng_decoded_image_size(c, fmt, &sz) == 0) {
        if (sz > *pxcap)
          *px = realloc(*px, *pxcap = sz);
        r = spng_decode_image(c, *px, sz, fmt, 0);
      }
    }
    spng_ctx_free(c);
    return r;
  }
  if (n >= 12 && memcmp(d, "RIFF", 4) == 0) {
    WebPDecoderConfig cfg;
    int r, w, h, f;
    WebPInitDecoderConfig(&cfg);
    if (WebPGetFeatures(d, n, &cfg.input) != VP8_STATUS_OK)
      return -1;
    w = cfg.input.width;
    h = cfg.input.height;
    f = (w < h ? w : h) / 64;
    if (f > 1) {
      cfg.options.use_scaling = 1;
      cfg.options.scaled_width = w = (w + f - 1) / f;
      cfg.options.scaled_height = h = (h + f - 1) / f;
    }
    if ((size_t)w * h * 4 > *pxcap)
      *px = realloc(*px, *pxcap = (size_t)w * h * 4);
    cfg.output.colorspace = cfg.input.has_alpha ? MODE_RGBA : MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA.rgba = *px;
    cfg.output.u.RGBA.stride = w * (cfg.input.has_alpha ? 4 : 3);
    cfg.output.u.RGBA.size = *pxcap;
    r = WebPDecode(d, n, &cfg) == VP8_STATUS_OK ? 0 : -1;
    WebPFreeDecBuffer(&cfg.output);
    return r;
  }
  if (n >= 4 && (memcmp(d, "II*", 3) == 0 || memcmp(d, "MM\0*", 4) == 0))
    return decode_tiff(d, n, px, pxcap);
  if (n >= 6 && memcmp(d, "GIF8", 4) == 0) {
    struct memsrc m = { d, n, 0 };
    int err, r;
    GifFileType *g = DGifOpen(&m, g_read, &err);
    if (!g)
      return -1;
    r = DGifSlurp(g) == GIF_OK ? 0 : -1;
    DGifCloseFile(g, &err);
    return r;
  }
  if (n >= 54 && d[0] == 'B' && d[1] == 'M') {
    unsigned off = d[10] | d[11] << 8 | d[12] << 16 | (unsigned)d[13] << 24;
    int w = d[18] | d[19] << 8 | d[20] << 16 | d[21] << 24;
    int h = d[22] | d[23] << 8 | d[24] << 16 | d[25] << 24;
    int bpp = d[28] | d[29] << 8;
    size_t row = (((size_t)w * bpp + 31) / 32) * 4;
    if (h < 0)
      h = -h;
    if (bpp < 24 || off + row * h > n)
      return -1;
    if ((size_t)w * h * 3 > *pxcap)
      *px = realloc(*px, *pxcap = (size_t)w * h * 3);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        const unsigned char *s = d + off + row * (h - 1 - y) + x * (bpp / 8);
        unsigned char *o = *px + ((size_t)y * w + x) * 3;
        o[0] = s[2]; o[1] = s[1]; o[2] = s[0];
      }
    return 0;
  }
  return -1;
}

static void *decoder(void *arg)
{
  tjhandle tj = tjInitDecompress();
  unsigned char *data = NULL, *px = NULL;
  size_t cap = 0, pxcap = 0;
  unsigned long long bytes = 0, files = 0;

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
    if (arg && !(got >= 2 && data[0] == 0xFF && data[1] == 0xD8)) {
      if (decode_other(data, got, &px, &pxcap) == 0) {
        files++;
        bytes += got;
      }
      continue;
    }
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

  if (argc >= 3 && (strcmp(argv[1], "decode") == 0 ||
                    strcmp(argv[1], "decodeany") == 0)) {
    int nt = argc > 3 ? atoi(argv[3]) : 2;
    pthread_t tid[64];
    static int any = 1;
    if (nt < 1 || nt > 64)
      nt = 2;
    collect(argv[2]);
    for (int i = 0; i < nt; i++)
      pthread_create(&tid[i], NULL, decoder,
                     strcmp(argv[1], "decodeany") == 0 ? &any : NULL);
    for (int i = 0; i < nt; i++)
      pthread_join(tid[i], NULL);
    printf("%llu files, %llu bytes\n", nfiles, nbytes);
    return 0;
  }
  if (argc != 3 || (strcmp(argv[1], "hdr") && strcmp(argv[1], "read"))) {
    fprintf(stderr, "usage: benchtool hdr|read DIR | decode|decodeany DIR "
            "[THREADS] | crop LIST [THREADS] [once]\n");
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
