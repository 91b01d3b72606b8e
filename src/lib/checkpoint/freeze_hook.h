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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* The checkpoint's side of one hook: the files it writes in the dump's work
 * directory, and whether they are in place. */
struct freeze_hook {
	char *exe;        /* this program, which the script runs; set by the caller */
	char *params;     /* freeze-hook.json: what the hook is told, never through the shell */
	char *error_file; /* freeze-hook.error: why the hook refused */
	char *stamp;      /* frozen-at: when the hook froze */
	char *script;     /* freeze-hook: the action script CRIU runs */
	bool armed;       /* the CRIU configuration names the script */
};

/* Write the parameters (for f, init_pid, this process and thawed_marker) and
 * the action script into work_dir; *criu_config gets the CRIU configuration
 * line that names the script, for the caller to write (spec.h) and then set
 * h->armed. Every word of the script is quoted; none comes from the
 * container. */
int freeze_hook_arm(struct freeze_hook *h, const char *work_dir, const struct freezer *f, pid_t init_pid,
                    const char *thawed_marker, char **criu_config, cryo_err *err);
/* After the dump: whether the hook froze, and then when (its stamp: the
 * monotonic start and end of the freeze, in microseconds). */
bool freeze_hook_frozen_at(const struct freeze_hook *h, int64_t *start, int64_t *frozen);
/* Why the hook refused to freeze (its error file), or NULL. */
char *freeze_hook_refusal(const struct freeze_hook *h);
void freeze_hook_release(struct freeze_hook *h);

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
