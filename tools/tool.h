/* tool.h - what every subcommand of the `curate` tool shares (tool.c).
 *
 * The subcommand files (cmd_*.c) and curate.c include this (through
 * curate.h); tool.c includes none of them, so no subcommand depends on
 * curate.c.  Single-threaded: the tool runs one command per process. */
#ifndef CURATE_TOOL_COMMON_H
#define CURATE_TOOL_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include "imgcodec.h"   /* enum img_frame */

/* The program name in messages ("curate"). */
extern const char *prog;

struct store;
struct smatch_folds;

/* The top-level usage text, to f (stdout for --help, else stderr). */
void tool_usage(FILE *f);

/* --frame VALUE (auto, stored, viewer) into *ret: true, or false after
 * printing the one-line usage error (exit status 2). */
bool tool_frame_arg(const char *s, enum img_frame *ret);

/* Opens STORE (creating the folder with create), printing the one-line
 * error itself; returns 0 or -errno. */
int tool_open_store(const char *dir, bool create, bool ro, struct store **s);

/* After an import's summary, on stdout: the line of the names it matched
 * only ignoring letter case (sample_match.h), where there were any. */
void tool_print_folds(const struct smatch_folds *f);

#endif
