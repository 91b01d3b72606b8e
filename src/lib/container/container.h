/* Containers: configuration, lifecycle (create, start, stop, kill, pause,
 * remove), and state queries. The OCI runtime does the isolation; cryo owns the
 * root file system (overlay), volumes, the monitor and the engine state. */
#ifndef CRYO_CONTAINER_H
#define CRYO_CONTAINER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "container_config.h"
#include "network.h"
#include "state.h"

void container_config_free(struct container_config *cfg);
struct json_object *container_config_to_json(const struct container_config *cfg);
int container_config_from_json(const char *json, struct container_config *cfg, cryo_err *err);

/* The rules every configuration follows, whether it comes from the command
 * line or from a checkpoint archive: a command, KEY=VALUE environment, an
 * absolute working directory, a numeric user, a valid hostname, network none,
 * host or a valid network name (an address and published ports only with a
 * bridge network, each valid), non-negative limits, mounts at clean absolute destinations (each
 * once) of valid volume names or clean absolute host paths. */
int container_config_validate(const struct container_config *cfg, cryo_err *err);

/* Parse a -v argument: VOLUME:/path[:ro|rw] or /host/dir:/path[:ro|rw]. */
int container_mount_parse(const char *arg, struct container_mount *out, cryo_err *err);

/* Parse a --tmpfs argument: /path[:OPTIONS], OPTIONS a comma-separated list
 * of size=N[k|m|g|%], nr_inodes=N[k|m|g], mode=OCTAL, uid=N, gid=N, ro, rw,
 * exec, noexec, nosuid, nodev, atime, noatime, relatime (never suid or dev:
 * a tmpfs is always nosuid,nodev). */
int container_tmpfs_parse(const char *arg, struct container_mount *out, cryo_err *err);
/* The same rules for a tmpfs's options alone (a checkpoint's configuration). */
int container_tmpfs_options_validate(const char *options, cryo_err *err);

struct container_create_opts {
	const char *name; /* NULL: generated */
	const char *image;
	char **command; /* NULL: the image's */
	char **env;     /* added to the image's */
	const char *workdir;
	const char *user;
	char **volumes;      /* -v arguments */
	char **tmpfs;        /* --tmpfs arguments */
	const char *network; /* NULL: none */
	const char *ip, *mac;
	char **publish; /* -p arguments */
	int64_t memory_limit, pids_limit;
	bool auto_remove;
	char **cap_add; /* --cap-add / --cap-drop as given */
	char **cap_drop;
	bool terminal, interactive; /* -t, -i */
	const char *hostname;       /* NULL: the ID's first 12 characters */
	bool read_only;
	char **labels; /* KEY=VALUE */
};

/* Create the container (state "created"): rootfs directories, bundle, volumes,
 * database row. On failure nothing is left behind. */
int container_create(struct cryo_engine *engine, const struct container_create_opts *opts,
                     struct container **out, cryo_err *err);

/* Create a container from an already resolved configuration (restore uses
 * this with a checkpoint's configuration). The hostname, when empty, becomes
 * the ID's first 12 characters. */
struct image;
int container_create_from_config(struct cryo_engine *engine, const char *name, const struct image *img,
                                 struct container_config *cfg, bool write_managed, struct container **out,
                                 cryo_err *err);

/* Write /etc/hostname, /etc/hosts, /etc/resolv.conf into an upper dir (or a
 * mounted root file system), never following a symbolic link. hosts_extra:
 * more /etc/hosts lines (the network's containers), or NULL. When the container's /etc (or one of those
 * names) is not something cryo can write into (a symbolic link, a file, a
 * directory where a file belongs), what was not written is left alone and
 * *skipped (allocated) says what and why; otherwise *skipped is NULL. */
int container_write_managed_files(const char *upper, const struct container_config *cfg,
                                  const char *hosts_extra, char **skipped, cryo_err *err);

/* Attach a container on a bridge network (network.h) before its processes
 * start: its namespace, the CNI chain, and /etc/hosts in its (unmounted)
 * upper dir; the other containers of the network learn its name. */
int container_network_up(struct cryo_engine *engine, const struct container *c,
                         const struct container_config *cfg, const char *ip, const char *mac,
                         const struct port_mapping *ports, size_t n_ports, struct network_status *status,
                         cryo_err *err);
/* Rewrite /etc/hosts of every running container of the network (through its
 * mounted root file system, no symbolic link followed), after one joined or
 * left, but except_id. Best effort: a container whose /etc cryo cannot write
 * is skipped. */
void container_network_refresh_hosts(struct cryo_engine *engine, const char *network, const char *except_id);
/* Detach it (nothing to do when not attached); the network's other
 * containers forget its name. */
int container_network_down(struct cryo_engine *engine, const struct container *c, cryo_err *err);

/* Start a created/exited container: mount its rootfs, start the monitor, create
 * and start it in the runtime. */
int container_start(struct cryo_engine *engine, const char *ref, struct container **out, cryo_err *err);

/* container_start, connected to the container's stdio (attach.h) before its
 * init runs, so no output is missed: *attach_fd gets the connection. */
int container_start_attached(struct cryo_engine *engine, const char *ref, struct container **out,
                             int *attach_fd, cryo_err *err);

int container_stop(struct cryo_engine *engine, const char *ref, int timeout_seconds, cryo_err *err);
int container_kill(struct cryo_engine *engine, const char *ref, int signal, cryo_err *err);
int container_pause(struct cryo_engine *engine, const char *ref, cryo_err *err);
int container_unpause(struct cryo_engine *engine, const char *ref, cryo_err *err);
int container_remove(struct cryo_engine *engine, const char *ref, bool force, cryo_err *err);

/* Wait until the container is no longer running; *exit_code gets its code. */
int container_wait(struct cryo_engine *engine, const char *ref, int *exit_code, cryo_err *err);

/* Look up a container and bring its state up to date with reality (a monitor
 * that died, a host that rebooted). */
int container_get(struct cryo_engine *engine, const char *ref, struct container **out, cryo_err *err);

/* container_get, holding the container's lock (released by closing *lock_fd):
 * every operation that changes a container serialises on it. */
int container_get_locked(struct cryo_engine *engine, const char *ref, struct container **out, int *lock_fd,
                         cryo_err *err);

/* A user spec for `exec -u` as numbers ("UID:GID"), names resolved in the
 * running container's /etc/passwd and /etc/group (passwd.h). */
int container_resolve_user(struct cryo_engine *engine, const struct container *c, const char *user,
                           char **out, cryo_err *err);

/* What the monitor (monitor.h) takes from container `id`'s configuration:
 * its stdio and read-only root; all false when it cannot be read. */
struct monitor_opts;
void container_monitor_opts(struct cryo_engine *engine, const char *id, bool auto_remove,
                            struct monitor_opts *out);

/* The container's files (layout.h, from the engine). */
char *container_dir(struct cryo_engine *engine, const char *id);
char *container_upper_dir(struct cryo_engine *engine, const char *id);
char *container_rootfs_dir(struct cryo_engine *engine, const char *id);
char *container_log_path(struct cryo_engine *engine, const char *id);
char *container_bundle_dir(struct cryo_engine *engine, const char *id);

/* The JSON shown by `cryo inspect`. */
struct json_object *container_inspect_json(struct cryo_engine *engine, const struct container *c);

bool container_is_active(const struct container *c); /* running or paused */

/* Paths in the container that cryo writes itself (/etc/hosts, ...): never
 * captured by checkpoints. NULL-terminated. */
extern const char *const container_managed_files[];

/* Mount the container's root file system (image layers + upper dir). */
int container_mount_rootfs(struct cryo_engine *engine, const struct container *c, cryo_err *err);
#endif
