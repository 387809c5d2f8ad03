/* curate.h - the subcommands of the `curate` tool, for curate.c's command
 * table, and (through tool.h) what they share.
 *
 * Each subcommand is `int cmd_<name>(int argc, char **argv)` in its own
 * file cmd_<name>.c, with argv[0] the subcommand's name; it returns the
 * process exit status (0 ok, 1 a failure reported on stderr in one line,
 * 2 a usage error).  Subcommands call tool.c, never curate.c. */
#ifndef CURATE_TOOL_H
#define CURATE_TOOL_H

#include "tool.h"

/* Imports a folder or an s3://bucket/prefix (tools/import_src.c): 0 or
 * -errno with a reason in err ("" when strerror says it all). */
struct import_opts;
struct import_stats;
int tool_import(struct store *s, const char *path,
                const struct import_opts *io, struct import_stats *st,
                char *err, size_t errlen);

struct command {
  const char *name;
  int (*fn)(int argc, char **argv);
};

int cmd_import(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import_labels(int argc, char **argv);
int cmd_cvat(int argc, char **argv);
int cmd_predictions(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embeddings(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_table(int argc, char **argv);
int cmd_classes(int argc, char **argv);

#endif
