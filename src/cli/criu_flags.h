/* The CRIU flags that `cryo checkpoint`, `cryo restore` and `cryo migrate`
 * share: one getopt row, one help line and one parser per flag, setting the
 * struct criu_opts (criu_opts.h) the library takes. A command lists the rows
 * it accepts in its longopts and the help lines in its usage (the verb says
 * what the command does with the flag), and hands every option to
 * cli_criu_flag() before its own switch. */
#ifndef CRYO_CLI_CRIU_FLAGS_H
#define CRYO_CLI_CRIU_FLAGS_H

#include <getopt.h>
#include <stdbool.h>

#include "criu_opts.h"

/* getopt values, clear of the commands' own (256 on) and of characters. */
enum {
	CLI_OPT_TCP_ESTABLISHED = 1024,
	CLI_OPT_TCP_SKIP_IN_FLIGHT,
	CLI_OPT_TCP_CLOSE,
	CLI_OPT_FILE_LOCKS,
};

#define CLI_CRIU_ROW_TCP_ESTABLISHED                                          \
	{                                                                     \
		"tcp-established", no_argument, NULL, CLI_OPT_TCP_ESTABLISHED \
	}
#define CLI_CRIU_ROW_TCP_SKIP_IN_FLIGHT                                             \
	{                                                                           \
		"tcp-skip-in-flight", no_argument, NULL, CLI_OPT_TCP_SKIP_IN_FLIGHT \
	}
#define CLI_CRIU_ROW_TCP_CLOSE                                    \
	{                                                         \
		"tcp-close", no_argument, NULL, CLI_OPT_TCP_CLOSE \
	}
#define CLI_CRIU_ROW_FILE_LOCKS                                     \
	{                                                           \
		"file-locks", no_argument, NULL, CLI_OPT_FILE_LOCKS \
	}

/* Help lines; VERB is a string literal ("checkpoint", "restore", "migrate"). */
#define CLI_CRIU_HELP_TCP_ESTABLISHED(VERB) "      --tcp-established   " VERB " established TCP connections\n"
#define CLI_CRIU_HELP_TCP_SKIP_IN_FLIGHT() \
	"      --tcp-skip-in-flight  drop connections not yet accepted (CRIU's skip-in-flight)\n"
#define CLI_CRIU_HELP_TCP_CLOSE() "      --tcp-close         restore established TCP connections closed\n"
#define CLI_CRIU_HELP_FILE_LOCKS(VERB) "      --file-locks        " VERB " file locks\n"

/* When c (a getopt result) is one of the flags above: set it in o, true. */
bool cli_criu_flag(int c, struct criu_opts *o);

#endif
