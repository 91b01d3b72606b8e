/* Opening and closing the engine (engine.h): its directories (layout.h), its
 * database (state.h), the OCI runtime, the configuration, and the garbage
 * dead commands left removed (scratch.h). The CLI opens one per command. */
#ifndef CRYO_ENGINE_OPEN_H
#define CRYO_ENGINE_OPEN_H

#include "engine.h"
#include "error.h"
#include "layout.h"

#define CRYO_DEFAULT_RUNTIME "runc"

struct cryo_engine_opts {
	const char *root;    /* persistent state: images, containers, volumes, db */
	const char *runroot; /* per-boot state: runtime state, locks, probe caches */
	const char *runtime; /* OCI runtime name or path; NULL: the configuration's engine.runtime */
	const char *config;  /* configuration file; NULL: CRYO_DEFAULT_CONFIG if present */
};

/* Open the engine: its directories, its database, and the garbage dead
 * commands left removed (scratch.h). */
int cryo_engine_open(struct cryo_engine **out, const struct cryo_engine_opts *opts, cryo_err *err);
void cryo_engine_close(struct cryo_engine *engine);
void cryo_engine_closep(struct cryo_engine **engine);
#define cleanup_engine __attribute__((cleanup(cryo_engine_closep)))

#endif
