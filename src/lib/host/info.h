/* What `cryo info` reports: the host's facts that decide how cryo
 * checkpoints (kernel, cgroup mode, freezer, whether hardware breakpoints
 * fire), how a checkpoint here will freeze and how CRIU will step, and why;
 * CRIU and the OCI runtime; the engine's directories and scratch space. Built
 * here only, as one JSON object; the CLI prints it (as JSON, or as text).
 *
 * A fact that cannot be found does not fail the report: its keys are null
 * and its section gets an "error" key with the reason. Probes answer from
 * the per-boot cache when they can (probe_cache.h; "cached" says which). */
#ifndef CRYO_INFO_H
#define CRYO_INFO_H

#include <json-c/json.h>

#include "engine.h"

/* The object {version, host, checkpoint, criu, runtime, store}; the caller
 * owns it (json_object_put). */
struct json_object *info_json(struct cryo_engine *engine);

#endif
