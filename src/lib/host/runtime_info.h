/* What the engine's OCI runtime is and whether it can checkpoint here. */
#ifndef CRYO_RUNTIME_INFO_H
#define CRYO_RUNTIME_INFO_H

#include <stdbool.h>

#include "engine.h"
#include "error.h"

struct runtime_info {
	char *name;    /* "runc", "crun", or the executable's base name */
	char *path;    /* engine->runtime_path */
	char *version; /* first line of `RUNTIME --version` */
	/* runc: `runc checkpoint --help` works; crun: `crun --version` lists +CRIU;
	 * and in both cases a CRIU >= CRIU_MIN_VERSION that passes `criu check`. */
	bool checkpoint;
	char *checkpoint_problem; /* why checkpoint is false, else NULL */
	bool cached;              /* version and features came from the per-boot cache */
};

/* Cached per boot, keyed by the runtime binary's path, mtime and size. */
int runtime_info_get(struct cryo_engine *engine, struct runtime_info *info, cryo_err *err);
void runtime_info_free(struct runtime_info *info);

/* From `--version` output: the runtime's name ("runc version 1.1.5" -> "runc"),
 * or NULL when the first word is not followed by "version". */
char *runtime_info_parse_name(const char *version_output);

#endif
