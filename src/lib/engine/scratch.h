/* Scratch space of running commands, and the garbage dead ones left.
 *
 * A checkpoint stages its files in ROOT/checkpoints/ID.new-*, an import
 * unpacks into ROOT/tmp/import-*, an export writes DIR/.NAME.tmp-XXXXXX
 * beside its target: each as large as the container's memory and file
 * system. A cryo that is killed (kill -9, OOM, a reboot) leaves them behind.
 *
 * Every process that creates scratch first claims it: a claim file
 * ROOT/claims/PID-RANDOM.claim, flock()ed for the process's whole life, whose
 * first line says who owns it ("PID STARTTIME BOOT_ID") and whose next lines
 * name the paths it may leave behind, each added *before* the path is
 * created. A claim whose lock is free and whose owner process is gone is
 * dead: what it names is garbage. Staging and import directories that no live
 * claim names are garbage too (left by a cryo without claims, or after the
 * claim file itself was lost).
 *
 * The garbage is collected every time the engine is opened (every command),
 * and by `cryo system prune`. */
#ifndef CRYO_SCRATCH_H
#define CRYO_SCRATCH_H

#include <stdint.h>

#include "error.h"

struct cryo_engine;
struct scratch_claim;

struct scratch_usage {
	uint64_t entries; /* directories and files */
	uint64_t bytes;   /* their allocated size */
};

/* Add `path` to this process's claim (created on first use, kept by the
 * engine until it is closed). Call it before creating the path. An export
 * temporary file is claimed by its prefix (DIR/.NAME.tmp-): the collector
 * removes the regular files that start with it and end in six random
 * characters, as mkstemp makes them. */
int scratch_claim_path(struct cryo_engine *engine, const char *path, cryo_err *err);
int scratch_claim_prefix(struct cryo_engine *engine, const char *prefix, cryo_err *err);

/* A new directory ROOT/tmp/WHAT-XXXXXXXXXXXX for this process, claimed before
 * it exists, so that a killed cryo's is collected. */
int scratch_make_dir(struct cryo_engine *engine, const char *what, char **out, cryo_err *err);

/* Release this process's claim (the engine does it when it is closed): what
 * it named is gone or committed by now. NULL is fine. */
void scratch_claim_release(struct scratch_claim *claim);

/* Remove what dead commands left; *removed (may be NULL) says how much. A
 * path that cannot be removed is reported in err after the others are done. */
int scratch_collect(struct cryo_engine *engine, struct scratch_usage *removed, cryo_err *err);

/* The scratch space commands that are still running use now. */
int scratch_in_use(struct cryo_engine *engine, struct scratch_usage *in_use, cryo_err *err);

#endif
