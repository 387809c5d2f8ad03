/* benchtool - baselines for scripts/bench.sh, in C so that they cost what
 * the real thing costs:
 *   benchtool hdr DIR    stat + 16 KiB header read of every file (recursive)
 *   benchtool read DIR   read every file whole (recursive)
 * Prints the number of files and bytes handled. */
#include <dirent.h>
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

int main(int argc, char **argv)
{
  int fd;

  if (argc != 3 || (strcmp(argv[1], "hdr") && strcmp(argv[1], "read"))) {
    fprintf(stderr, "usage: benchtool hdr|read DIR\n");
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
