/* Engine state in one SQLite database (root/state.db): WAL mode, a schema
 * version, transactions for every multi-row change. Concurrent cryo commands
 * are serialised by SQLite's own locking (busy timeout) for database changes,
 * and by per-object file locks (lock.h) for longer operations. */
#ifndef CRYO_STATE_H
#define CRYO_STATE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"

#define CRYO_SCHEMA_VERSION 1

int state_open(struct cryo_engine *engine, cryo_err *err);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int state_begin(struct cryo_engine *engine, cryo_err *err);
int state_commit(struct cryo_engine *engine, cryo_err *err);
void state_rollback(struct cryo_engine *engine);

int state_exec(struct cryo_engine *engine, const char *sql, cryo_err *err);
int state_prepare(struct cryo_engine *engine, sqlite3_stmt **stmt, const char *sql, cryo_err *err);
/* Error from the database's last failure, with context. */
int state_error(struct cryo_engine *engine, cryo_err *err, const char *what);
#if defined(__clang_analyzer__) && !defined(CRYO_STATE_DEFINITIONS)
/* For clang's static analyzer only, as in error.h: it fails, negative. */
#define state_error(...) cryo_error_negative_(state_error(__VA_ARGS__))
#endif
/* Copy a text column (NULL stays NULL). */
char *state_column_text(sqlite3_stmt *stmt, int col);

static inline void sqlite3_finalizep(sqlite3_stmt **stmt)
{
	if (*stmt)
		sqlite3_finalize(*stmt);
}
#define cleanup_stmt __attribute__((cleanup(sqlite3_finalizep)))

/* ---- containers ---- */

struct container {
	char *id;
	char *name;
	char *image_id;
	char *image_name;
	char *config; /* JSON: the container's configuration (container.h) */
	char *state;  /* "created", "running", "paused", "exited", "checkpointed" */
	int pid;      /* the container's init on the host, 0 when not running */
	int monitor_pid;
	int exit_code;                                    /* -1 when none recorded */
	int64_t created, started, finished, checkpointed; /* realtime microseconds, 0 = never */
	char *checkpoint;                                 /* engine-kept checkpoint directory, or NULL */
};

void container_free(struct container *c);
void container_freep(struct container **c);
#define cleanup_container __attribute__((cleanup(container_freep)))

int state_container_insert(struct cryo_engine *engine, const struct container *c, cryo_err *err);
/* Look up by exact name, exact ID, or unique ID prefix. -ENOENT when none. */
int state_container_get(struct cryo_engine *engine, const char *ref, struct container **out, cryo_err *err);
int state_container_list(struct cryo_engine *engine, struct container ***out, size_t *count, cryo_err *err);
void container_list_free(struct container **list, size_t count);
/* Write the mutable fields (state, pid, monitor_pid, exit_code, times, checkpoint, config). */
int state_container_update(struct cryo_engine *engine, const struct container *c, cryo_err *err);
int state_container_delete(struct cryo_engine *engine, const char *id, cryo_err *err);

/* Named volumes a container uses (for "volume in use" checks). */
int state_container_volumes_set(struct cryo_engine *engine, const char *id, char *const *volumes,
                                cryo_err *err);

/* ---- volumes ---- */

struct volume {
	char *name;
	int64_t created;
};
void volume_free(struct volume *v);

int state_volume_insert(struct cryo_engine *engine, const char *name, int64_t created, cryo_err *err);
int state_volume_get(struct cryo_engine *engine, const char *name, struct volume **out, cryo_err *err);
int state_volume_list(struct cryo_engine *engine, struct volume ***out, size_t *count, cryo_err *err);
int state_volume_delete(struct cryo_engine *engine, const char *name, cryo_err *err);
/* Names of containers using the volume (NULL-terminated; empty when unused). */
int state_volume_users(struct cryo_engine *engine, const char *name, char ***names, cryo_err *err);

#endif
