/* A container's configuration as data: what the user asked for, resolved
 * against the image. Below container.h (which parses, validates and stores
 * it) so that the modules that only read it, such as spec.h, need nothing
 * else of the container module. */
#ifndef CRYO_CONTAINER_CONFIG_H
#define CRYO_CONTAINER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct port_mapping; /* network.h */

enum mount_kind { MOUNT_VOLUME, MOUNT_BIND, MOUNT_TMPFS };

struct container_mount {
	enum mount_kind kind;
	char *source;      /* volume name, absolute host path, or a tmpfs's options ("" for none) */
	char *destination; /* absolute path in the container */
	bool readonly;
};

/* What the user asked for, resolved against the image. Stored as JSON in the
 * containers table and carried in checkpoint archives. */
struct container_config {
	char **command; /* argv: entrypoint + cmd */
	char **env;     /* KEY=VALUE */
	char *workdir;
	char *user; /* "uid[:gid]" (names given to -u are resolved at create) */
	char *hostname;
	char *network;              /* "none", "host", or a bridge network's name (network.h) */
	char *ip;                   /* requested IPv4 address on a bridge network, or NULL */
	char *mac;                  /* requested MAC address, or NULL */
	struct port_mapping *ports; /* published ports (-p) */
	size_t n_ports;
	struct container_mount *mounts;
	size_t n_mounts;
	int64_t memory_limit; /* bytes, 0 = none */
	int64_t pids_limit;   /* 0 = none */
	bool auto_remove;
	char **cap_add; /* normalised capability names (security.h), NULL-terminated */
	char **cap_drop;
	bool terminal;    /* -t: the init's stdio is a pseudo-terminal the monitor owns */
	bool interactive; /* -i: the monitor keeps the init's stdin open for `attach` */
	bool read_only;   /* --read-only: the root file system is mounted read-only */
	char **labels;    /* --label KEY=VALUE, NULL-terminated (may be NULL) */
	/* Podman's mount layout (a container restored from a Podman export,
	 * whose CRIU images hold Podman's mount tree): the destinations, among
	 * spec.h's SPEC_ENGINE_FILES, that are bind mounts of files and
	 * directories the engine keeps in the container's directory. NULL or
	 * empty: cryo's own layout. */
	char **engine_files;
};

#endif
