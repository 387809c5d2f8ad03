/* cvat_json.c - jansson accessors of core/cvat/ (see cvat_json.h). */
#include "cvat_json.h"

int64_t cvat_jint(json_t *o, const char *k)
{
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

const char *cvat_jstr(json_t *o, const char *k)
{
  return json_string_value(json_object_get(o, k));
}

const char *cvat_jtext(json_t *o, const char *k)
{
  const char *s = cvat_jstr(o, k);
  return s ? s : "";
}

void cvat_jset(json_t *o, const char *k, int64_t v)
{
  json_object_set_new(o, k, json_integer(v));
}
