/* util.h - small helpers shared by every module: logging, a bounded
 * growable buffer, time and string helpers.
 *
 * Error convention for all of core/: functions that can fail return an int,
 * >= 0 on success and a negative errno on failure.  Pointer-returning
 * functions return NULL only when the failure has one meaning (no memory).
 *
 * Logging: core never prints.  It reports through log_msg(), which forwards
 * to a sink installed by the program (the daemon writes to its log file and
 * keeps recent errors for `status`; tools print to stderr).
 */
#ifndef CURATE_UTIL_H
#define CURATE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* The sink gets one formatted line without a trailing newline. */
typedef void (*log_sink_fn)(enum log_level lvl, const char *line, void *ud);

/* Install the process-wide sink (NULL restores the default: stderr for
 * WARN and above).  Not thread-safe against concurrent log_msg(); call it
 * once at startup. */
void log_set_sink(log_sink_fn fn, void *ud, enum log_level min_level);
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Secrets (passwords, tokens, session keys): the one way to clear them.
 * secret_wipe() zeroes n bytes with explicit_bzero, which the compiler may
 * not drop as a dead store; secret_free() wipes a NUL-terminated string and
 * frees it (NULL is fine).  Every owner of a secret frees it with these. */
void secret_wipe(void *p, size_t n);
void secret_free(char *s);

/* struct buf: a growable byte buffer with a hard maximum (after curl's
 * dynbuf).  Appending past `max` fails with -E2BIG and leaves the buffer as
 * it was; running out of memory gives -ENOMEM.  The buffer always keeps a
 * NUL after its content, so `data` can be used as a C string. */
struct buf {
  char *data;   /* owned; NULL until the first append */
  size_t len;
  size_t cap;
  size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);             /* frees data, keeps max */
void buf_reset(struct buf *b);            /* len = 0, keeps memory */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes ownership of the content; the buffer becomes empty. */
char *buf_steal(struct buf *b, size_t *ret_len);

/* The error-reason convention: writes a one-line reason into err (if
 * errlen > 0) and returns r, so `return errf(err, errlen, -EINVAL, ...)`
 * reports and fails in one step. */
int errf(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* qsort/bsearch comparison of uint64_t values, ascending. */
int cmp_u64(const void *a, const void *b);

/* Wall-clock time in nanoseconds since the epoch. */
int64_t time_now_ns(void);
/* A time (st_mtim ...) in nanoseconds since the epoch. */
int64_t timespec_ns(struct timespec ts);
/* Whether two fstat()s show one file in one state: the same device,
 * inode, size, and modification and change times (a write moves the
 * change time, which no program can set back). */
bool stat_same_state(const struct stat *a, const struct stat *b);

/* 64-bit FNV-1a of a NUL-terminated string: table slots and short stable
 * names (not for security). */
uint64_t hash_str_fnv1a(const char *s);
/* The same over n bytes, continuing from h (start with
 * HASH_FNV1A_INIT), so several pieces hash as one. */
#define HASH_FNV1A_INIT 1469598103934665603ULL
uint64_t hash_bytes_fnv1a(uint64_t h, const void *p, size_t n);
/* Monotonic time in seconds. */
double time_mono(void);

/* Opens root/relpath read-only for serving a dataset file, refusing any
 * path that resolves outside root (a symlink to /etc/shadow placed in the
 * dataset folder, "..", an absolute link): the kernel resolves it beneath
 * root (openat2 RESOLVE_BENEATH); where openat2 is missing, the opened
 * file's own path is checked instead.  Returns the fd, -EXDEV for a path
 * that leaves root, or another -errno. */
int dataset_open(const char *root, const char *relpath);

/* Opens `path` for reading only if it is a regular file: a FIFO, device,
 * socket or directory gives -EINVAL at once instead of blocking the caller
 * (a FIFO with no writer would hang a daemon thread forever).  The open
 * itself never blocks (O_NONBLOCK, cleared again on success).  Returns the
 * descriptor or a negative errno; fopen_regular() returns NULL with errno
 * set.  fd_regular() applies the same check to a descriptor opened with
 * O_NONBLOCK, closing it on failure. */
int fd_regular(int fd);
int open_regular(const char *path);
FILE *fopen_regular(const char *path);

/* All n bytes of p to fd, at offset off (pwrite), or at its current
 * position when off < 0 (write), retrying short writes and EINTR.  0 or
 * -errno. */
int fd_write_all(int fd, const void *p, size_t n, off_t off);
/* Exactly n bytes of fd from offset off into p (pread), retrying short
 * reads and EINTR.  0, -errno, or -EBADMSG when the file ends first. */
int fd_pread_all(int fd, void *p, size_t n, off_t off);

/* Join a directory and a relative path into a new string (owned). */
char *path_join(const char *dir, const char *rel);
/* Reads the whole file at `path` into a new buffer (*ret malloc'd, owned by
 * the caller; *ret_len its length).  An empty file is -EBADMSG (no image
 * or document is empty); -errno from open, fstat or read, -ENOMEM. */
int file_read_all(const char *path, uint8_t **ret, size_t *ret_len);
/* The same for an open file, read from its start (pread: its offset is
 * left as it was). */
int fd_read_all(int fd, uint8_t **ret, size_t *ret_len);
/* A new empty file with no name, open for reading and writing (mode
 * 0600), for data too large to hold in memory: in $TMPDIR when it names
 * an absolute folder, else /var/tmp (on disk where /tmp is a tmpfs in
 * memory), else /tmp.  Made with O_TMPFILE, or where a filesystem refuses
 * it, made and unlinked at once (mkstemp).  Closing it frees its space.
 * The descriptor, or -errno of the last place tried. */
int tmpfile_anon(void);

/* Zeroed memory for large buffers that a task fills once and then reuses
 * (the import's read buffers and result rings), asked to be backed by
 * transparent huge pages: its first write costs one page fault per 2 MiB
 * instead of one per 4 KiB.  A fault is dear (on the virtual machines
 * measured, about 17 us for a 4 KiB page, 0.3 ms for a 2 MiB one), and
 * the import touched every page of a 1 MB read buffer and of its result
 * slots afresh.  Where the kernel gives no huge pages it is plain mapped
 * memory.  NULL when out of memory.  huge_free takes the same n. */
void *huge_alloc(size_t n);
void huge_free(void *p, size_t n);

/* Appends `s` as a JSON string literal (with quotes and escapes). */
int buf_json_str(struct buf *b, const char *s, size_t n);
/* Appends the shortest decimal form of `v` that reads back exactly. */
int buf_json_double(struct buf *b, double v);
/* The first "%.Ng" of a finite v, N from min_prec up to 17, that reads
 * back exactly, with a JSON exponent ("1e-7", "1e21"), into out (32 bytes
 * at least); its length.  The result depends on min_prec for some values
 * (subnormals, integers from 1e6 on): callers keep theirs fixed so their
 * output stays the same from release to release. */
size_t fmt_double_shortest(char *out, double v, int min_prec);

/* Is s[0..n) well-formed UTF-8 (no overlong forms, no surrogates, nothing
 * above U+10FFFF)? */
bool utf8_valid(const char *s, size_t n);
/* The length of the longest prefix of s of at most max bytes that does
 * not end inside a multi-byte character: where to cut a name for a
 * caption, so the cut is not drawn as a replacement character. */
size_t utf8_cut(const char *s, size_t max);
/* Trims spaces, tabs and CRs at both ends of s, in place (the end by
 * writing a NUL); returns the first byte kept.  For the lines of command
 * and settings files. */
char *str_trim(char *s);
/* Is s[0..n) free of control characters: C0 (below 0x20), DEL and the C1
 * range U+0080..U+009F?  Expects valid UTF-8. */
bool no_control_chars(const char *s, size_t n);

/* A JSON parser's error text without what it quotes of the input: jansson
 * ends many messages with "near '<token>'", and the token of a file a user
 * named (perhaps one they may not read) must not reach a log or status.
 * Copies into out (at least 1 byte) and returns out. */
const char *json_err_text(const char *text, char *out, size_t outlen);

#endif
