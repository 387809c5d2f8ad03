/* url.c - the check of a user-given server URL (see url.h). */
#include "url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int url_check(const char *url, char *err, size_t errlen)
{
  const char *h, *p;
  size_t hl;

  if (strncmp(url, "http://", 7) == 0)
    h = url + 7;
  else if (strncmp(url, "https://", 8) == 0)
    h = url + 8;
  else
    return errf(err, errlen, -EINVAL, "url: expected http://HOST[:PORT] or "
                "https://HOST[:PORT]");
  for (p = url; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '\\')
      return errf(err, errlen, -EINVAL, "url: no spaces, backslashes or "
                  "control characters");
  if (strchr(h, '@'))
    return errf(err, errlen, -EINVAL, "url: put credentials in "
                "username/password or token, not in the URL");
  if (*h == '[') {
    p = strchr(h, ']');
    if (!p || p == h + 1)
      return errf(err, errlen, -EINVAL, "url: unterminated [IPv6] host");
    for (const char *q = h + 1; q < p; q++)
      if (!strchr("0123456789abcdefABCDEF:.", *q))
        return errf(err, errlen, -EINVAL, "url: bad [IPv6] host");
    p++;
  } else {
    hl = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789.-");
    if (hl == 0)
      return errf(err, errlen, -EINVAL, "url: no host name");
    p = h + hl;
  }
  if (*p == ':') {
    char *end;
    unsigned long port;
    if (!(p[1] >= '0' && p[1] <= '9'))
      return errf(err, errlen, -EINVAL, "url: bad port");
    port = strtoul(p + 1, &end, 10);
    if (port < 1 || port > 65535 || (*end && *end != '/'))
      return errf(err, errlen, -EINVAL, "url: bad port");
    p = end;
  }
  if (*p && *p != '/')
    return errf(err, errlen, -EINVAL, "url: unexpected '%c' after the host",
                *p);
  return 0;
}
