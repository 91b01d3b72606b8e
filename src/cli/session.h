/* An attached session on the user's terminal: raw mode when -t and stdin is
 * a terminal, window sizes and signals forwarded, detach keys (ctrl-p,ctrl-q
 * by default, like Podman). Shared by run, start -a and attach. */
#ifndef CRYO_CLI_SESSION_H
#define CRYO_CLI_SESSION_H

#include <stdbool.h>

#include "engine.h"
#include "error.h"

#define CLI_DEFAULT_DETACH_KEYS "ctrl-p,ctrl-q"

struct cli_session {
	struct cryo_engine *engine;
	const char *id;          /* the container (signals go to it) */
	const char *name;        /* for the detach message */
	int peer;                /* the monitor's attach socket */
	bool stdin_open;         /* -i */
	bool tty;                /* -t */
	const char *detach_keys; /* NULL: the default; "" none */
};

/* Run the session until the peer closes or the user detaches (*detached). */
int cli_session_run(const struct cli_session *s, bool *detached, cryo_err *err);

/* Check a --detach-keys value early (usage errors before anything starts). */
bool cli_detach_keys_valid(const char *spec, cryo_err *err);

#endif
