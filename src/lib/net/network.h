/* Container networks: named bridge networks (state in SQLite, the default
 * `cryo` made on first use), a container's attachment to one (its own
 * network namespace, made by cryo and named in the OCI spec, with the CNI
 * chain bridge + host-local IPAM, portmap for published ports, firewall, and
 * loopback), published ports (-p), and name resolution between the
 * containers of one network through the /etc/hosts cryo writes.
 *
 * An attachment's record, ROOT/containers/ID/network.json, holds everything
 * its teardown needs (the plugins' configurations and the chain's result), so
 * that the monitor, which never opens the database, can tear it down when the
 * container exits. Teardown (CNI DEL in reverse order, then the namespace) is
 * idempotent and claimed by renaming the record first: two cryo processes
 * never run it twice at once.
 *
 * Values that may come from an archive (network names, IPs, MACs, ports) are
 * checked here before anything uses them. */
#ifndef CRYO_NETWORK_H
#define CRYO_NETWORK_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "state.h"

#define NETWORK_NONE "none"
#define NETWORK_HOST "host"
#define NETWORK_DEFAULT "cryo"
/* Automatic subnets: 10.89.N.0/24, the first N no route and no network of
 * this engine uses. */
#define NETWORK_AUTO_PREFIX "10.89"

/* -p [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp] */
struct port_mapping {
	char *host_ip; /* "" for every address */
	int host_port;
	int container_port;
	char *protocol; /* "tcp" or "udp" */
};

int network_port_parse(const char *arg, struct port_mapping *out, cryo_err *err);
int network_port_validate(const struct port_mapping *p, cryo_err *err);
void network_port_clear(struct port_mapping *p); /* its strings */
void network_ports_free(struct port_mapping *ports, size_t n);
struct json_object *network_ports_to_json(const struct port_mapping *ports, size_t n);
/* Typed and validated: an archive's ports go through here. */
int network_ports_from_json(struct json_object *a, struct port_mapping **out, size_t *n, cryo_err *err);

bool network_ipv4_is_valid(const char *s);
bool network_mac_is_valid(const char *s); /* unicast, xx:xx:xx:xx:xx:xx */
/* A bridge network's name (not none or host). */
bool network_is_bridge(const char *network);
/* "none", "host", or a valid network name. */
bool network_name_is_valid(const char *network);

/* struct network, a network as recorded, is declared in state.h. */

/* subnet, gateway: NULL to choose. */
int network_create(struct cryo_engine *engine, const char *name, const char *subnet, const char *gateway,
                   struct network **out, cryo_err *err);
/* The default network is created the first time it is asked for. */
int network_get(struct cryo_engine *engine, const char *name, struct network **out, cryo_err *err);
int network_list(struct cryo_engine *engine, struct network ***out, size_t *count, cryo_err *err);
/* Refused while a container is configured to use it; removes the bridge
 * and the IPAM store. */
int network_remove(struct cryo_engine *engine, const char *name, cryo_err *err);
struct json_object *network_inspect_json(struct cryo_engine *engine, const struct network *n);

/* Is ip a host address of the network's subnet (not its network, broadcast
 * or gateway address)? */
int network_check_address(const struct network *net, const char *ip, cryo_err *err);

/* The network namespace cryo makes for a container on a bridge network. */
char *network_netns_path(struct cryo_engine *engine, const char *id);

/* What a container is attached with (from network.json). */
struct network_status {
	char *network;
	char *ip; /* A.B.C.D */
	int prefix;
	char *gateway;
	char *mac;
	struct port_mapping *ports;
	size_t n_ports;
};
void network_status_free(struct network_status *s);
/* -ENOENT when the container is not attached. */
int network_status_read(struct cryo_engine *engine, const char *id, struct network_status *out,
                        cryo_err *err);
struct json_object *network_status_to_json(const struct network_status *s);

struct network_attach_opts {
	const char *network;
	const char *name; /* the container's name and hostname, for /etc/hosts */
	const char *hostname;
	const char *ip;  /* NULL: host-local picks one */
	const char *mac; /* NULL: the bridge plugin picks one */
	const struct port_mapping *ports;
	size_t n_ports;
};

/* Make the container's network namespace and run the CNI chain in it. A
 * published port another container of this engine publishes, or that a host
 * process has bound, is refused naming the port; a requested IP or MAC in
 * use is refused naming it. On failure nothing is left. */
int network_attach(struct cryo_engine *engine, const char *id, const struct network_attach_opts *opts,
                   struct network_status *out, cryo_err *err);
/* CNI DEL and the namespace removed; nothing to do when not attached. Uses
 * no database (the monitor calls it). */
int network_detach(struct cryo_engine *engine, const char *id, cryo_err *err);
/* The attachment's generation (a random ID per attach), or NULL. The monitor
 * takes it when it starts and detaches only that one when its container
 * exits: a stopping checkpoint's monitor may see its container die after an
 * in-place restore attached it again. */
char *network_generation(struct cryo_engine *engine, const char *id);
int network_detach_generation(struct cryo_engine *engine, const char *id, const char *generation,
                              cryo_err *err);

/* Is this IP or MAC used by another attached container of the network? */
int network_address_in_use(struct cryo_engine *engine, const char *network, const char *self_id,
                           const char *ip, const char *mac, bool *ip_used, bool *mac_used, cryo_err *err);

/* /etc/hosts lines for the container `self_id` (its own address) and every
 * other attached container of its network. */
int network_hosts_lines(struct cryo_engine *engine, const char *self_id, char **out, cryo_err *err);
/* IDs of the containers attached to the network (from their records), but
 * except_id (NULL for none). NULL-terminated, maybe empty, allocated. */
char **network_member_ids(struct cryo_engine *engine, const char *network, const char *except_id);

#endif
