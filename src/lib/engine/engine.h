/* The engine handle every engine operation takes: where its files live (the
 * two roots; layout.h spells the paths below them), its database, the OCI
 * runtime and the configuration. A plain record: opening and closing it
 * (engine_open.h) sit above the modules that use it (state.h, scratch.h). */
#ifndef CRYO_ENGINE_H
#define CRYO_ENGINE_H

#include <sqlite3.h>
#include <stdbool.h>

#include "config.h"
#include "error.h"

struct scratch_claim;
struct scratch_usage;

struct cryo_engine {
	char *root;
	char *runroot;
	sqlite3 *db;
	char *runtime_path; /* absolute path of the OCI runtime */
	char *runtime_root; /* the runtime's --root, under runroot */
	struct cryo_config *config;
	struct scratch_claim *claim; /* this process's scratch (scratch.h), NULL until it has some */
	struct scratch_usage *leftovers_removed; /* what dead commands had left, removed when this
	                                            opened (never NULL once open) */
};

#endif
