/* Showing checkpoint/restore progress (progress.h's events): --progress=auto
 * prints the phases on stderr when stderr is a terminal and the operation
 * has taken over CLI_PROGRESS_DELAY_US (nothing for a quick one, nothing when
 * stderr is not a terminal); --progress=json prints one JSON object per
 * phase change on stderr, always; --progress=none nothing. */
#ifndef CRYO_CLI_SHOW_PROGRESS_H
#define CRYO_CLI_SHOW_PROGRESS_H

#include <stdbool.h>

#define CLI_PROGRESS_DELAY_US 500000

enum cli_progress_mode { CLI_PROGRESS_AUTO, CLI_PROGRESS_JSON, CLI_PROGRESS_NONE };

bool cli_progress_parse(const char *s, enum cli_progress_mode *mode);

/* Install the handler for the command's operations. */
void cli_progress_start(enum cli_progress_mode mode);

#endif
