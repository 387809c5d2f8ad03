/* tool.h - what every subcommand of the `curate` tool shares (tool.c).
 *
 * The subcommand files (cmd_*.c) and curate.c include this (through
 * curate.h); tool.c includes none of them, so no subcommand depends on
 * curate.c.  Single-threaded: the tool runs one command per process. */
#ifndef CURATE_TOOL_COMMON_H
#define CURATE_TOOL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "imgcodec.h"   /* enum img_frame */

/* The program name in messages ("curate"). */
extern const char *prog;

struct store;
struct smatch_folds;

/* The top-level usage text, to f (stdout for --help, else stderr). */
void tool_usage(FILE *f);

/* A usage error of a command: "PROG CMD: REASON" on one line, then that
 * command's short usage ("usage: PROG" and `usage`, which goes on from the
 * program name), both to stderr.  Returns 2, the exit status of a usage error. */
int tool_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The reason for a command line whose options were read (getopt's optind)
 * but whose required option or operands are wrong: "--store STORE is
 * required" when !store, else the count of operands against want (0 or
 * 1, named `operand`), into buf.  NULL when the line is right. */
const char *tool_args_problem(bool store, int argc, char **argv, int want,
                              const char *operand, char *buf, size_t len);

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
