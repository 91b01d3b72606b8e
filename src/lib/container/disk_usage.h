/* What the engine's files take on disk, by kind (`cryo system df`): images
 * (their layers, each counted once however many images share it, and each
 * image's own directory: its registry blobs or checkpoint image layout),
 * containers (their own files: the upper dir and bundle, never the mounted
 * image layers), named volumes and kept checkpoints. Sizes are allocated
 * bytes (what du(1) reports), a file with several hard links counted once.
 * Trees are walked without following symbolic links or crossing mount
 * points; what cannot be read is left out (the sizes are a report, not a
 * promise).
 *
 * Active and reclaimable, per kind:
 *   images: used by a container / the layers no used image needs;
 *   containers: running or paused / the files of the others (`rm`);
 *   volumes: mounted by a container / the volumes no container mounts;
 *   checkpoints: what a stopped container would restore from / the others
 *   (kept copies of running containers' checkpoints, orphans). */
#ifndef CRYO_DISK_USAGE_H
#define CRYO_DISK_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "engine.h"
#include "error.h"

struct disk_usage_kind {
	uint64_t total;       /* how many */
	uint64_t active;      /* how many are in use */
	uint64_t size;        /* bytes */
	uint64_t reclaimable; /* bytes that removing the unused ones would free */
};

struct disk_usage {
	struct disk_usage_kind images, containers, volumes, checkpoints;
};

int disk_usage_get(struct cryo_engine *engine, struct disk_usage *out, cryo_err *err);

/* The kinds in the order `cryo system df` shows them (i < DISK_USAGE_KINDS),
 * *name receiving the kind's name there: "Images", "Containers", "Local
 * Volumes", "Checkpoints". */
#define DISK_USAGE_KINDS 4
const struct disk_usage_kind *disk_usage_kind_at(const struct disk_usage *du, size_t i, const char **name);

/* `cryo system df --format json`, built here only: an array of one object per
 * kind, in that order: {Type, Total, Active, Size, Reclaimable}, sizes in
 * bytes. The caller owns it (json_object_put). */
struct json_object *disk_usage_json(const struct disk_usage *du);

#endif
