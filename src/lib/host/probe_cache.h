/* The per-boot cache of host probes: host-probe.json in the engine's runroot.
 *
 * Probing is slow next to what a command should cost (`criu check` alone takes
 * over 100 ms), and its answers only change when the machine reboots or a
 * binary is replaced. The file holds the boot ID it was written in
 * (/proc/sys/kernel/random/boot_id: /run is not a tmpfs on every host, so a
 * file there can outlive a boot) and named sections; a section may carry a key
 * (the fingerprint of the binary it describes) that must match on lookup.
 *
 *   {"boot_id": "...",
 *    "hardware_breakpoints": {"key": null, "status": "no-fire"},
 *    "criu": {"key": "/usr/local/sbin/criu:1718000000000000000:4563120", ...}}
 *
 * A missing, unreadable or stale cache is not an error: the caller probes. */
#ifndef CRYO_PROBE_CACHE_H
#define CRYO_PROBE_CACHE_H

#include <json-c/json.h>

#include "engine.h"
#include "error.h"

/* "PATH:MTIME_NS:SIZE" of a file, or NULL when it cannot be stat'ed. */
char *probe_cache_fingerprint(const char *path);

/* Section `name` of this boot's cache (a new reference), or NULL when there is
 * none, it was written in another boot, or key is not NULL and differs. */
struct json_object *probe_cache_get(struct cryo_engine *engine, const char *name, const char *key);

/* Store value (the caller keeps its reference) as section `name` with key,
 * under a lock, replacing the file atomically. */
int probe_cache_put(struct cryo_engine *engine, const char *name, const char *key, struct json_object *value,
                    cryo_err *err);

/* The same on an explicit file and boot ID, without locking (for tests). */
struct json_object *probe_cache_get_at(const char *file, const char *boot_id, const char *name,
                                       const char *key);
int probe_cache_put_at(const char *file, const char *boot_id, const char *name, const char *key,
                       struct json_object *value, cryo_err *err);

#endif
