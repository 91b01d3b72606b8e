/* What a checkpoint holds, without restoring or extracting it: `cryo checkpoint
 * inspect`, cryo's counterpart of checkpointctl's show/inspect.
 *
 * It reads a checkpoint archive as a stream (libarchive; uncompressed, gzip,
 * zstd or xz) and never writes a byte of it to disk: cryo's own archives
 * (checkpoint_archive.h) and those of `podman container checkpoint --export`
 * (config.dump, spec.dump, rootfs-diff.tar, checkpoint/... with no index or
 * manifest), or the checkpoint directory the engine keeps for a container.
 *
 * The archive is hostile input held to the import limits (extract_limits:
 * entry count, total size, name depth and length). Only the small files it
 * shows are held in memory, each at most CHECKPOINT_INSPECT_MAX_FILE bytes and
 * all together at most CHECKPOINT_INSPECT_MAX_HELD; memory pages, the root file
 * system diff and volumes are only counted and hashed. Links and special files
 * are refused as import refuses them.
 *
 * The result is one JSON object (the CLI prints it or a table from it):
 *   {"engine": "cryo"|"Podman"|"CRI-O"|"unknown", "engine_version",
 *    "container": {"name","id","image","image_id","runtime","runtime_version",
 *                  "created","checkpointed"},            times RFC 3339, UTC
 *    "criu_version",
 *    "signature": {"status": "verified"|"unsigned"|"untrusted key"|"bad"|"not an archive",
 *                  "key": FINGERPRINT, "reason": TEXT},  key, reason when known
 *    "sizes": {"memory_pages","checkpoint","rootfs_diff","volumes","total"}, bytes
 *    "processes": [{"pid","ppid","pgid","sid","threads","command"}],  --ps-tree
 *    "files": [{"pid","fd","type","path"}],                           --files
 *    "mounts": [{"mountpoint","root","source","fstype","options"}],   --mounts
 *    "stats": {CRIU's dump statistics, from stats-dump}}               --stats
 * Absent facts are left out. */
#ifndef CRYO_CHECKPOINT_INSPECT_H
#define CRYO_CHECKPOINT_INSPECT_H

#include <json-c/json.h>
#include <stdbool.h>

#include "error.h"
#include "safe_extract.h"
#include "trust.h"

#define CHECKPOINT_INSPECT_MAX_FILE (64u << 20)
#define CHECKPOINT_INSPECT_MAX_HELD (256u << 20)
/* Open files listed, all processes together (tasks can share descriptor tables). */
#define CHECKPOINT_INSPECT_MAX_ROWS (1u << 20)

struct checkpoint_inspect_opts {
	const struct extract_limits *limits; /* NULL: the defaults */
	const struct trusted_keys *keys;     /* what "verified" means (trust_import_keys()) */
	bool ps_tree, files, mounts, stats;  /* the optional sections */
};

/* An archive file. */
int checkpoint_inspect_archive(const char *path, const struct checkpoint_inspect_opts *opts,
                               struct json_object **out, cryo_err *err);

/* An archive in memory (the fuzz target's entry point); name is for errors. */
int checkpoint_inspect_memory(const void *data, size_t len, const char *name,
                              const struct checkpoint_inspect_opts *opts, struct json_object **out,
                              cryo_err *err);

/* A checkpoint directory (the engine's copy of a container's checkpoint);
 * symbolic links and special files in it are refused. */
int checkpoint_inspect_dir(const char *dir, const struct checkpoint_inspect_opts *opts,
                           struct json_object **out, cryo_err *err);

#endif
