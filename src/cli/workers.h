/* Running one engine operation on many containers at once (`checkpoint --all`,
 * `restore --all`): a bounded pool of forked worker processes.
 *
 * Why processes and not threads: each worker is what a separate `cryo
 * checkpoint NAME` command would be, and the engine is already safe for
 * concurrent commands: every container operation serialises on the
 * container's flock (lock.h), the database is SQLite in WAL mode with a busy
 * timeout, scratch space is claimed per process (scratch.h), and the monitor
 * and freeze watchdogs are per-container processes. A thread pool would have
 * to make all of that (getopt state, the progress handler, cleanup of a
 * failed CRIU run, signal masks) thread-safe first. SQLite's state does not
 * survive a fork, so the caller's connection is closed before the first
 * worker is forked, and each worker opens its own engine.
 *
 * Work comes as groups of container names: a group runs in one worker, in
 * order. Containers that share a named volume go in one group, because the
 * checkpoint of one freezes the others (and would find them busy if they
 * were being checkpointed at the same moment). */
#ifndef CRYO_CLI_WORKERS_H
#define CRYO_CLI_WORKERS_H

#include <json-c/json.h>
#include <stddef.h>

#include "cli.h"

/* Runs in a worker, on its own engine: the operation on one container. On
 * success *result may get a JSON object handed to the report (stats...). */
typedef int (*cli_job_fn)(struct cryo_engine *engine, const char *name, void *data,
                          struct json_object **result, cryo_err *err);

/* Runs in the caller as each container's result arrives: result is the
 * job's object (may be NULL) on success; error the message on failure. */
typedef void (*cli_report_fn)(const char *name, struct json_object *result, const char *error, void *data);

/* Run job on every name of every group (NULL-terminated arrays of strvs),
 * at most max_workers groups at a time. The caller's engine (cli->engine) is
 * closed first. *failed gets the names that failed, in the order they did
 * (allocated, never NULL). Returns 0, or -errno when the pool itself could
 * not run (then err is set and the names not run count as failed). */
int cli_run_workers(struct cli *cli, char ***groups, unsigned max_workers, cli_job_fn job, void *job_data,
                    cli_report_fn report, void *report_data, char ***failed, cryo_err *err);

/* The worker count: `requested` when not 0, else the engine configuration's
 * engine.parallel when not 0, else the number of online processors. */
unsigned cli_workers_default(struct cli *cli, unsigned requested);

/* Group the names so that containers sharing a named volume are one group
 * (containers the engine cannot read stay alone). */
char ***cli_group_by_volume(struct cryo_engine *engine, char **names);
void cli_groups_free(char ***groups);

/* The end of an --all run: when some failed, "Error: WHAT: N of TOTAL
 * containers failed: `a`, `b`" on stderr and EXIT_ENGINE; else 0. */
int cli_all_failed(const char *what, char **failed, size_t total);

/* Parse --parallel N: 1 to CLI_MAX_WORKERS. */
#define CLI_MAX_WORKERS 256
bool cli_parse_workers(const char *s, unsigned *out);

#endif
