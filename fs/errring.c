/* errring.c - the recent errors shown in `status`, and the log line of
 * each.  Every part of the daemon reports a refused or failed request here
 * (fs_error()), with the reason a user can act on; the errno itself goes
 * back to the caller.  The ring lives in struct fs_ctx (errs, errs_head,
 * errs_n, last_err), under c->mu; render.c reads it for `status`.
 *
 * Below every other fs/ file: it calls only the core log.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "store.h"
#include "util.h"

/* Errors quote names users gave (a refused tag name may hold any byte):
 * status and the log stay one line of valid UTF-8 each. */
static void printable(char *s)
{
  size_t n = strlen(s);

  for (size_t i = 0; i < n;) {
    size_t len = 1;
    unsigned char b = (unsigned char)s[i];
    if (b >= 0xc2 && b <= 0xf4)
      len = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    if (len > n - i || !utf8_valid(s + i, len) ||
        !no_control_chars(s + i, len)) {
      s[i] = '?';
      len = 1;
    }
    i += len;
  }
}

void fs_error(struct fs_ctx *c, const char *fmt, ...)
{
  char line[200];
  char when[16];
  time_t now = time(NULL);
  struct tm tm;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  printable(line);
  pthread_mutex_lock(&c->mu);
  /* A client that retries a rejected write repeats the same error. */
  if (strcmp(line, c->last_err) == 0 && now - c->last_err_time < 2) {
    pthread_mutex_unlock(&c->mu);
    return;
  }
  snprintf(c->last_err, sizeof(c->last_err), "%s", line);
  c->last_err_time = now;
  pthread_mutex_unlock(&c->mu);
  log_msg(LOG_LVL_ERROR, "%s", line);
  localtime_r(&now, &tm);
  strftime(when, sizeof(when), "%H:%M:%S", &tm);
  pthread_mutex_lock(&c->mu);
  snprintf(c->errs[c->errs_head], sizeof(c->errs[0]), "%s %s", when, line);
  c->errs_head = (c->errs_head + 1) % FS_ERR_RING;
  if (c->errs_n < FS_ERR_RING)
    c->errs_n++;
  pthread_mutex_unlock(&c->mu);
}

int fs_report_full(struct fs_ctx *c, int r, const char *what,
                   const char *name)
{
  const char *hint = r == -ENOSPC ? store_full_hint() : NULL;

  if (hint)
    fs_error(c, "%s%s: nothing changed: %s", what, name, hint);
  return r;
}
