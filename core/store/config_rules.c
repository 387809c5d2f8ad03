/* config_rules.c - validation rules more than one settings file uses
 * (config.c for the general keys, config_cvat.c for CVAT's): a label field
 * name, a size with a unit suffix.  Depends on nothing of either, so the
 * two depend on it and not on each other's rules.
 */
#include "config.h"
#include "config_i.h"

#include <errno.h>
#include <stdlib.h>

int config_check_field(const struct config_key *k, const char *val,
                       char *err, size_t errlen)
{
  if (!labels_field_name_valid(val))
    return errf(err, errlen, -EINVAL, "%s: \"%s\" is not a valid field "
                "name (1-64 of A-Z a-z 0-9 _ . -)", k->name, val);
  return 0;
}

int config_parse_size(const char *v, uint64_t max, uint64_t *ret)
{
  char *end;
  unsigned long long x;
  uint64_t mul = 1;

  if (!*v || *v == '-' || *v == '+')
    return -EINVAL;
  errno = 0;
  x = strtoull(v, &end, 10);
  if (errno || end == v)
    return -EINVAL;
  if (*end) {
    switch (*end) {
    case 'k': case 'K': mul = 1ull << 10; break;
    case 'm': case 'M': mul = 1ull << 20; break;
    case 'g': case 'G': mul = 1ull << 30; break;
    default: return -EINVAL;
    }
    end++;
    if (*end == 'i' || *end == 'B')
      end++;
    if (*end == 'B')
      end++;
  }
  if (*end || x > max / mul)
    return -EINVAL;
  *ret = x * mul;
  return 0;
}
