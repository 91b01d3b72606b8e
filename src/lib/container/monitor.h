/* The per-container monitor: a small process (forked from cryo, detached from
 * the terminal) that owns the container's stdio (stdout/stderr pipes, a stdin
 * pipe with -i, or the pseudo-terminal's master with -t), writes the output
 * to the container's log and to the clients attached on its attach socket
 * (attach.h), feeds their input to the container, is the child subreaper that reaps the container's init,
 * and records its exit in an exit file (RUNROOT/containers/ID/exit: "CODE
 * MONITOR_PID FINISHED_US") that container_get() folds into the engine state. It starts the container through
 * the runtime (create, or restore from a checkpoint), so the runtime hands the
 * monitor's pipes to the container in both cases. */
#ifndef CRYO_MONITOR_H
#define CRYO_MONITOR_H

#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "runtime.h"

enum monitor_mode {
	MONITOR_CREATE,  /* runtime create (the caller then runs runtime start) */
	MONITOR_RESTORE, /* runtime restore --detach from a checkpoint */
};

struct monitor_result {
	int monitor_pid;
	int container_pid;
	int64_t runtime_duration_us; /* how long the runtime's create/restore took */
};

/* What the monitor takes from the container's configuration (read by
 * container_monitor_opts(), container.h). */
struct monitor_opts {
	bool auto_remove; /* `cryo rm -f` the container after it exits */
	bool terminal;    /* the init gets a pseudo-terminal (the spec's process.terminal) */
	bool interactive; /* keep the init's stdin open for attached clients */
	bool read_only;   /* the root file system is read-only (--read-only) */
};

/* Start the monitor for container `id` and wait until the runtime has created
 * or restored the container. For MONITOR_RESTORE, `restore` gives the images
 * (its fds and pid_file are filled in by the monitor). */
int monitor_start(struct cryo_engine *engine, const char *id, enum monitor_mode mode,
                  const struct runtime_restore_opts *restore, const struct monitor_opts *opts,
                  struct monitor_result *result, cryo_err *err);

/* The exit file the monitor writes: parse it. Returns 0 when present. */
int monitor_read_exit(struct cryo_engine *engine, const char *id, int *exit_code, int *monitor_pid,
                      int64_t *finished_us);

#endif
