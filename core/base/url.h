/* url.h - the one check of a server URL a user gives (a setting, an
 * environment variable, a command-line flag).
 *
 * Base layer: pure string inspection, no I/O.  It lives below both the
 * settings table (store/config.c), which refuses a bad URL when it is set,
 * and the HTTP client (net/http.c), so the two can never apply different
 * rules.
 */
#ifndef CURATE_URL_H
#define CURATE_URL_H

#include <stddef.h>

/* The one check of a server URL given by a user (the `cvat.url` setting,
 * CVAT_URL, `curate cvat config`): http:// or https://, a host of letters,
 * digits, '.', '-' (or an [IPv6] literal), an optional :PORT (1-65535),
 * an optional /path; no credentials, spaces or control characters.
 * 0, or -EINVAL with the reason in err. */
int url_check(const char *url, char *err, size_t errlen);

#endif
