/* config_i.h - what config.c and config_cvat.c share, private to the
 * settings module. */
#ifndef CURATE_CONFIG_I_H
#define CURATE_CONFIG_I_H

#include "config.h"

/* A label field name (the rule of labels/), for keys that name one. */
int config_check_field(const struct config_key *k, const char *val,
                       char *err, size_t errlen);

#endif
