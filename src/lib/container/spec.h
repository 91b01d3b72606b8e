/* The OCI runtime spec (config.json) cryo writes for a container. */
#ifndef CRYO_SPEC_H
#define CRYO_SPEC_H

#include <json-c/json.h>

#include "container_config.h"
#include "engine.h"
#include "error.h"
#include "layout.h"

/* Build the spec for container `id` whose root file system is mounted at
 * `rootfs`. */
int spec_generate(struct cryo_engine *engine, const char *id, const struct container_config *cfg,
                  const char *rootfs, struct json_object **out, cryo_err *err);

/* Write it as BUNDLE/config.json. */
int spec_write(const char *bundle_dir, struct json_object *spec, cryo_err *err);

/* CRIU's configuration file for a container, in its bundle. The spec names
 * it in the `org.criu.config` annotation, which runc hands to CRIU. */
#define SPEC_CRIU_CONFIG LAYOUT_CRIU_CONFIG
/* Write it (text: CRIU configuration lines, "" for none). */
int spec_write_criu_config(const char *bundle_dir, const char *text, cryo_err *err);

/* Podman's mount layout (container_config.engine_files): the file name
 * (below the container's directory, in SPEC_ENGINE_FILES_DIR) of the engine
 * file at this destination, or NULL when the engine provides none there:
 * /etc/hosts, /etc/hostname, /etc/resolv.conf, /run/.containerenv (files)
 * and /dev/shm (a directory). spec_generate() creates those missing. */
#define SPEC_ENGINE_FILES_DIR "engine-files"
const char *spec_engine_file_name(const char *destination);
/* Its path (allocated), or NULL as above. */
char *spec_engine_file_path(struct cryo_engine *engine, const char *id, const char *destination);

/* The cgroup path (cgroupsPath) cryo gives the runtime for a container. */
char *spec_cgroup_path(const char *id);

#endif
