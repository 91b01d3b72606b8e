/* The freeze hook: how a live checkpoint freezes the container as late as
 * consistency allows, inside CRIU's own run.
 *
 * cryo names an action script in the CRIU configuration runc hands to CRIU;
 * at `pre-dump` (after runc's start-up and CRIU's kernel probing, right
 * before CRIU seizes the tasks) the script runs `cryo __freeze-hook PARAMS`.
 * The script holds no word derived from the container: PARAMS is a JSON file
 * cryo wrote with the freezer of the cgroup cryo created, the container's
 * init, and where to report. The hook freezes that cgroup, checks that every
 * task of the container is in it or below it (else it thaws, writes why to
 * the error file and fails, which fails the dump), writes "START_US FROZEN_US"
 * (monotonic) to the stamp file, and leaves a watchdog that thaws the
 * container should the checkpointing cryo die before it writes the thawed
 * marker. */
#ifndef CRYO_FREEZE_HOOK_H
#define CRYO_FREEZE_HOOK_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "freezer.h"

#define FREEZE_HOOK_COMMAND "__freeze-hook"

struct freeze_hook_params {
	enum freezer_kind kind;
	const char *dir;    /* the freezer's cgroup directory */
	const char *cgroup; /* its path in the hierarchy, "/cryo/ID" */
	pid_t init_pid;     /* the container's init */
	pid_t cryo_pid;     /* the checkpointing cryo */
	const char *stamp, *error_file, *thawed_marker;
};

int freeze_hook_params_write(const char *path, const struct freeze_hook_params *p, cryo_err *err);

/* `cryo __freeze-hook PARAMS`: the program that links the engine dispatches
 * that command here. Returns the exit status. */
int freeze_hook_main(int argc, char **argv);

/* Leave a detached watchdog (its own session, no descriptors of ours) that
 * waits for owner_pid to end; unless the file thawed_marker exists by then,
 * it waits for criu_pid too (0: none) and thaws the n freezers, keeping them
 * thawed for two seconds. A container must never stay frozen because of
 * cryo. */
void freeze_watchdog_start(struct freezer *f, size_t n, pid_t owner_pid, pid_t criu_pid,
                           const char *thawed_marker);

#endif
