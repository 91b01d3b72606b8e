/* Prove that checkpoint/restore works on this host, with the engine's CRIU
 * settings (criu_env()), before a container depends on it.
 *
 * A small process tree is started in its own session: a shell pipeline whose
 * writer sends an incrementing counter down a pipe and whose reader publishes
 * each value in a file. CRIU dumps the tree (killing it), restores it from the
 * images, and the test passes when all of the restored tree runs and the
 * counter carries on from the value it had at the dump. */
#ifndef CRYO_CRIU_SELFTEST_H
#define CRYO_CRIU_SELFTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "criu.h"
#include "engine.h"
#include "error.h"

#define CRIU_SELFTEST_DEFAULT_TIMEOUT_MS 30000

struct criu_selftest_report {
	char *criu;                  /* the CRIU binary used */
	char **env;                  /* the extra environment it ran with (criu_env()) */
	pid_t pid;                   /* the tree's root, before and after the restore */
	int processes;               /* how many processes the tree has */
	int64_t dump_us, restore_us; /* wall time of `criu dump` and `criu restore` */
	uint64_t counter_at_dump;    /* the counter in the file once the tree was dumped */
	uint64_t counter_restored;   /* a later value written by the restored tree */
	bool have_dump_stats, have_restore_stats;
	struct criu_dump_stats dump_stats;
	struct criu_restore_stats restore_stats;
};

/* Run the test in a temporary directory under the engine root. Each CRIU run
 * is killed after timeout_ms; the directory is removed on success and kept
 * (named in the error) on failure, for its CRIU logs. While it runs the caller
 * is a child subreaper and reaps any of its children that end: call it from a
 * process that has no other children to wait for (the CLI). */
int criu_selftest_run(struct cryo_engine *engine, int timeout_ms, struct criu_selftest_report *report,
                      cryo_err *err);
void criu_selftest_report_free(struct criu_selftest_report *report);

#endif
