/* cvat_json.h - the few jansson accessors every file of core/cvat/ uses
 * (a missing or mistyped member reads as 0, NULL or ""); private to
 * core/cvat/.  Defined in cvat_json.c.
 */
#ifndef CURATE_CVAT_JSON_H
#define CURATE_CVAT_JSON_H

#include <jansson.h>
#include <stdint.h>

int64_t cvat_jint(json_t *o, const char *k);   /* 0 if not an integer */
const char *cvat_jstr(json_t *o, const char *k);  /* NULL if no string */
const char *cvat_jtext(json_t *o, const char *k); /* "" if no string */
void cvat_jset(json_t *o, const char *k, int64_t v);

#endif
