/* Engine state in one SQLite database (root/state.db): WAL mode, a schema
 * version, transactions for every multi-row change. Concurrent cryo commands
 * are serialised by SQLite's own locking (busy timeout) for database changes,
 * and by per-object file locks (lock.h) for longer operations.
 *
 * Every SQL statement of the engine is in state.c: the other modules read and
 * write rows through the functions below, and give them meaning (image.c
 * parses an image's configuration, network.c chooses subnets). A caller that
 * makes several changes at once wraps them in state_begin/state_commit. */
#ifndef CRYO_STATE_H
#define CRYO_STATE_H

#include <stdbool.h>
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

/* ---- containers ---- */

/* A container's state. The database stores it, and JSON and the CLI show it,
 * by its name: "created", "running", "paused", "exited", "checkpointed". */
enum container_state {
	CONTAINER_CREATED,
	CONTAINER_RUNNING,
	CONTAINER_PAUSED,
	CONTAINER_EXITED,
	CONTAINER_CHECKPOINTED,
};
const char *container_state_name(enum container_state state);
/* -EINVAL for a name that is no state. */
int container_state_from_name(const char *name, enum container_state *out);

struct container {
	char *id;
	char *name;
	char *image_id;
	char *image_name;
	char *config; /* JSON: the container's configuration (container.h) */
	enum container_state state;
	int pid; /* the container's init on the host, 0 when not running */
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

/* ---- images and layers (the image store's rows; image.c gives them meaning) ---- */

/* An images row as stored: config and layers are JSON text. */
struct image_row {
	char *id;
	char *name; /* NULL when untagged */
	int64_t created;
	char *config; /* JSON object */
	char *layers; /* JSON array of layer IDs, bottom first */
	uint64_t size;
};
void image_row_free(struct image_row *row);
void image_row_list_free(struct image_row **list, size_t count);

enum image_match {
	IMAGE_MATCH_NAME,      /* the name, exactly */
	IMAGE_MATCH_ID,        /* the ID, exactly */
	IMAGE_MATCH_ID_PREFIX, /* the IDs starting with arg */
};
/* The first image matching `arg`: 1 and *out when found, 0 when none;
 * *ambiguous (when not NULL) tells whether a second one matches too. */
int state_image_find(struct cryo_engine *engine, enum image_match match, const char *arg,
                     struct image_row **out, bool *ambiguous, cryo_err *err);
/* All images, newest first. */
int state_image_list(struct cryo_engine *engine, struct image_row ***out, size_t *count, cryo_err *err);
/* Insert an image row without a name (state_image_take_name gives it one). */
int state_image_insert(struct cryo_engine *engine, const char *id, int64_t created, const char *config,
                       const char *layers, uint64_t size, cryo_err *err);
/* Give image `id` the name `name`, taking it from any other image. */
int state_image_take_name(struct cryo_engine *engine, const char *id, const char *name, cryo_err *err);
int state_image_delete(struct cryo_engine *engine, const char *id, cryo_err *err);
int state_image_exists(struct cryo_engine *engine, const char *id, bool *exists, cryo_err *err);
/* Names of the containers using an image (NULL-terminated, maybe empty). */
int state_image_users(struct cryo_engine *engine, const char *id, char ***names, cryo_err *err);
/* IDs of the untagged images no container uses (NULL-terminated, maybe empty). */
int state_image_unused_untagged(struct cryo_engine *engine, char ***ids, cryo_err *err);

/* Record a layer unless it is recorded already. */
int state_layer_insert(struct cryo_engine *engine, const char *id, uint64_t size, int64_t created,
                       cryo_err *err);
/* *known and *size: whether the layer is recorded, and its size then. */
int state_layer_size(struct cryo_engine *engine, const char *id, bool *known, uint64_t *size, cryo_err *err);
int state_layer_exists(struct cryo_engine *engine, const char *id, bool *exists, cryo_err *err);
/* Does an image use the layer? */
int state_layer_in_use(struct cryo_engine *engine, const char *id, bool *used, cryo_err *err);
int state_layer_delete(struct cryo_engine *engine, const char *id, cryo_err *err);

/* ---- networks (network.h) ---- */

struct network {
	char *name;
	char *subnet;  /* A.B.C.D/N */
	char *gateway; /* A.B.C.D */
	char *bridge;  /* the host's bridge interface */
	int64_t created;
};
void network_free(struct network *n);
void network_freep(struct network **n);
#define cleanup_network __attribute__((cleanup(network_freep)))

/* -ENOENT "no such network `name`" when there is none. */
int state_network_get(struct cryo_engine *engine, const char *name, struct network **out, cryo_err *err);
/* All networks by name, NULL-terminated. */
int state_network_list(struct cryo_engine *engine, struct network ***out, size_t *count, cryo_err *err);
int state_network_insert(struct cryo_engine *engine, const char *name, const char *subnet,
                         const char *gateway, const char *bridge, int64_t created, cryo_err *err);
int state_network_delete(struct cryo_engine *engine, const char *name, cryo_err *err);
/* *name: the oldest container whose configuration (container.h) names the
 * network, or NULL when none does. */
int state_network_user(struct cryo_engine *engine, const char *network, char **name, cryo_err *err);

#endif
