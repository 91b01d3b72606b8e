/* The thin command-line layer: argument parsing and output only. Every command
 * is `int cmd_NAME(struct cli *cli, int argc, char **argv)` returning the process
 * exit code; argv[0] is the command's name. */
#ifndef CRYO_CLI_H
#define CRYO_CLI_H

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>

#include "engine_open.h"
#include "error.h"

/* Podman's exit codes. */
#define EXIT_ENGINE 125     /* cryo itself failed, or bad usage */
#define EXIT_CANNOT_RUN 126 /* the container command could not be invoked */
#define EXIT_NOT_FOUND 127  /* the container command was not found */

struct cli {
	struct cryo_engine_opts opts;
	struct cryo_engine *engine; /* opened on first use */
	const char *command;        /* "image import", "run", ... for messages */
	bool list_options;          /* `cryo __complete options`: cli_getopt lists, the command stops */
};

/* Open the engine (once); on failure print the error and return -1. */
int cli_engine(struct cli *cli, struct cryo_engine **engine);

/* Print "Error: <message>" on stderr, free the error, return EXIT_ENGINE. */
int cli_fail(cryo_err *err);

/* Print "Error: <cmd>: <message>" and a hint to --help on stderr; return EXIT_ENGINE. */
int cli_usage_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset getopt and parse: returns the getopt_long result like getopt_long, but
 * reports unknown options and missing arguments through cli_usage_error
 * (returning '?' with the exit code in *exit_code). Options stop at the first
 * non-option argument (so `run IMAGE CMD -x` passes -x to CMD). */
/* Options of a command that takes only --help, and --format json when json
 * is not NULL (then set by it). Returns -1 to go on, else the exit code. */
int cli_parse_simple(struct cli *cli, int argc, char **argv, const char *usage, bool *json);

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts, const struct option *longopts,
               int *exit_code);
void cli_getopt_reset(void);

/* `cryo __complete containers|images|volumes`: the names, one per line, for
 * shell completion. */
int cli_complete_names(struct cli *cli, const char *kind);

/* The library's log handler (log.h): "LEVEL[SECONDS] message" on stderr,
 * seconds since the command started, like Podman's. */
#include "log.h"
void cli_log_to_stderr(enum cryo_log_level level, const char *msg, void *data);

/* Print a JSON object to stdout, pretty. */
void cli_print_json(struct json_object *obj);

/* Parse a non-negative integer; false on junk. */
bool cli_parse_uint64(const char *s, unsigned long long *out);

/* Parse a byte count with an optional k, m or g suffix (--memory). */
bool cli_parse_bytes(const char *s, long long *out);

#endif
