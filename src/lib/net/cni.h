/* CNI: the network plugins of Debian's containernetworking-plugins (bridge,
 * host-local, portmap, firewall, loopback), run directly as the CNI
 * specification says: one executable per plugin, the command and the
 * container's network namespace in CNI_* environment variables, the network
 * configuration as JSON on stdin, the result (or a CNI error) as JSON on
 * stdout. No daemon and no libcni: cryo chains the plugins itself (each one
 * gets the previous one's result as prevResult) and keeps the final result
 * for the DEL that undoes them.
 *
 * Also the named network namespaces cryo makes for its containers: a file
 * beneath the engine's runroot with the namespace bind-mounted on it, which
 * the OCI spec names (runc joins it; on checkpoint and restore runc tells
 * CRIU it is external, so CRIU restores into the one cryo prepared). */
#ifndef CRYO_CNI_H
#define CRYO_CNI_H

#include <json-c/json.h>

#include "error.h"

/* Where Debian installs the plugins; /opt/cni/bin (upstream's place) is the
 * fallback. */
#define CNI_PLUGIN_DIR "/usr/lib/cni"
#define CNI_PLUGIN_DIR_UPSTREAM "/opt/cni/bin"
#define CNI_VERSION "1.0.0"

/* Run one plugin: command "ADD", "DEL" or "CHECK"; `conf` is the plugin's
 * configuration as the plugin reads it (name, cniVersion, prevResult,
 * runtimeConfig already in it). For ADD, *result gets the plugin's result
 * (may be NULL for DEL). A plugin's failure is an error carrying the CNI
 * error's msg and details. */
int cni_plugin_run(const char *command, const char *container_id, const char *netns, const char *ifname,
                   struct json_object *conf, struct json_object **result, cryo_err *err);

/* A new network namespace, bind-mounted on `path` (created; must not exist). */
int cni_netns_create(const char *path, cryo_err *err);
/* Unmount and remove it; a missing one is not an error. */
int cni_netns_remove(const char *path, cryo_err *err);

#endif
