/* The engine: where its files live, its database, and how it runs the runtime
 * and CRIU on this machine. Every engine operation takes a struct cryo_engine. */
#ifndef CRYO_ENGINE_H
#define CRYO_ENGINE_H

#include <sqlite3.h>
#include <stdbool.h>

#include "config.h"
#include "error.h"
#include "scratch.h"

#define CRYO_DEFAULT_ROOT "/var/lib/cryo"
#define CRYO_DEFAULT_RUNROOT "/run/cryo"
#define CRYO_DEFAULT_RUNTIME "runc"

struct cryo_engine_opts {
	const char *root;    /* persistent state: images, containers, volumes, db */
	const char *runroot; /* per-boot state: runtime state, locks, probe caches */
	const char *runtime; /* OCI runtime name or path; NULL: the configuration's engine.runtime */
	const char *config;  /* configuration file; NULL: CRYO_DEFAULT_CONFIG if present */
};

struct cryo_engine {
	char *root;
	char *runroot;
	sqlite3 *db;
	char *runtime_path; /* absolute path of the OCI runtime */
	char *runtime_root; /* the runtime's --root, under runroot */
	struct cryo_config *config;
	struct scratch_claim *claim; /* this process's scratch (scratch.h), NULL until it has some */
	struct scratch_usage leftovers_removed; /* what dead commands had left, removed when this opened */
};

/* Open the engine: its directories, its database, and the garbage dead
 * commands left removed (scratch.h). */
int cryo_engine_open(struct cryo_engine **out, const struct cryo_engine_opts *opts, cryo_err *err);
void cryo_engine_close(struct cryo_engine *engine);
void cryo_engine_closep(struct cryo_engine **engine);
#define cleanup_engine __attribute__((cleanup(cryo_engine_closep)))

#endif
