/* Where every file of the engine lives: the one place that spells a path
 * under the engine's roots. ROOT is the persistent root (images, layers,
 * containers, volumes, checkpoints, the database), RUNROOT the per-boot one
 * (the runtime's state, locks, exit files, work directories).
 *
 *   ROOT/state.db                       the database (state.h)
 *   ROOT/containers/ID/{upper,work,rootfs,ctr.log,network.json,criu.conf}
 *   (the container directory is also its OCI bundle: config.json, spec.h)
 *   ROOT/layers/LAYER  ROOT/images/ID/mnt  ROOT/checkpoint-images/ID
 *   ROOT/image-blobs/ID (an ordinary image's registry blobs, image.h)
 *   ROOT/volumes/NAME/_data
 *   ROOT/checkpoints/ID  ROOT/checkpoints/ID.new-SUFFIX (staging)
 *   ROOT/tmp/NAME  ROOT/claims (scratch.h)  ROOT/empty
 *   ROOT/networks/ipam/NETWORK  ROOT/keys/engine.key  ROOT/trusted-keys
 *   RUNROOT/runtime (the OCI runtime's --root)  RUNROOT/locks/NAME
 *   RUNROOT/netns/ID  RUNROOT/host-probe.json (probe_cache.h)
 *   RUNROOT/containers/ID/{exit,runtime-OP.log,checkpoint-work,restore-work,...}
 *
 * Every function takes plain roots (no engine), so that any module can ask
 * without depending on the engine, and returns an allocated path (free it).
 * An ID or a name must be one path element: a name that is empty, `.`, `..`
 * or holds a `/` gives NULL, never a path outside its directory. Callers
 * validate names before (name_is_valid, engine-made IDs); NULL is the last
 * line of defence, not an error report. */
#ifndef CRYO_LAYOUT_H
#define CRYO_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CRYO_DEFAULT_ROOT "/var/lib/cryo"
#define CRYO_DEFAULT_RUNROOT "/run/cryo"

/* One path element: not empty, not `.` or `..`, no `/`. */
bool layout_is_element(const char *name);

/* The directories the engine makes when it opens, relative to ROOT and
 * RUNROOT ("" is the root itself), NULL-terminated. */
extern const char *const layout_root_dirs[];
extern const char *const layout_runroot_dirs[];
/* ROOT/REL for one of those ("" gives ROOT). */
char *layout_dir(const char *root, const char *rel);

/* ---- ROOT ---- */
char *layout_db_file(const char *root);
char *layout_containers_dir(const char *root);
char *layout_container_dir(const char *root, const char *id); /* also the OCI bundle */
char *layout_container_upper(const char *root, const char *id);
char *layout_container_work(const char *root, const char *id);
char *layout_container_rootfs(const char *root, const char *id);
char *layout_container_log(const char *root, const char *id);
char *layout_layers_dir(const char *root);
char *layout_layer_dir(const char *root, const char *layer_id);
char *layout_images_dir(const char *root);
char *layout_image_dir(const char *root, const char *id);
char *layout_image_mnt(const char *root, const char *id);
char *layout_checkpoint_images_dir(const char *root);
char *layout_checkpoint_image_dir(const char *root, const char *id);
char *layout_image_blobs_dir(const char *root);
char *layout_image_blobs(const char *root, const char *id);
char *layout_volume_dir(const char *root, const char *name);
char *layout_volume_data(const char *root, const char *name);
char *layout_checkpoints_dir(const char *root);
char *layout_checkpoint_dir(const char *root, const char *id);
/* ROOT/checkpoints/ID.new-SUFFIX (the first 8 characters of suffix), where
 * a checkpoint is staged before it replaces ROOT/checkpoints/ID. */
char *layout_checkpoint_staging(const char *root, const char *id, const char *suffix);
/* Recognise a staging directory's name (ID.new-...) in ROOT/checkpoints. */
bool layout_is_checkpoint_staging(const char *name);
char *layout_tmp_dir(const char *root);
char *layout_tmp(const char *root, const char *name); /* ROOT/tmp/NAME */
/* ROOT/tmp/import-SUFFIX (the first 12 characters): an archive being
 * imported; and how the leftover collector recognises one by its name. */
char *layout_import_dir(const char *root, const char *suffix);
bool layout_is_import(const char *name);
/* ROOT/tmp/kept-ID: an import kept on purpose (restore --keep). */
char *layout_kept_import(const char *root, const char *id);
char *layout_claims_dir(const char *root);
/* ROOT/empty: the empty directory bind-mounted over masked paths. */
char *layout_empty_dir(const char *root);
/* The CRIU configuration runc hands to CRIU, in the container's bundle. */
#define LAYOUT_CRIU_CONFIG "criu.conf"
char *layout_container_criu_config(const char *root, const char *id);
/* The container's network attachment record (network.h). */
char *layout_container_network_record(const char *root, const char *id);
char *layout_ipam_dir(const char *root);
char *layout_ipam_network(const char *root, const char *network);
char *layout_keys_dir(const char *root);
char *layout_engine_key(const char *root);
char *layout_trusted_keys(const char *root);

/* ---- RUNROOT ---- */
char *layout_runtime_root(const char *runroot);
char *layout_lock_file(const char *runroot, const char *name);
char *layout_probe_cache(const char *runroot);
char *layout_netns_dir(const char *runroot);
char *layout_netns(const char *runroot, const char *id);
char *layout_run_container_dir(const char *runroot, const char *id);
/* The monitor's record of the container's exit (monitor.h). */
char *layout_exit_file(const char *runroot, const char *id);
/* The runtime's pid file for the container's init. */
char *layout_pid_file(const char *runroot, const char *id);
/* The runtime's log of one operation: "create" or "restore". */
char *layout_runtime_log(const char *runroot, const char *id, const char *op);
char *layout_checkpoint_work(const char *runroot, const char *id);
char *layout_restore_work(const char *runroot, const char *id);
/* Markers the freeze hook leaves when it thawed the container (pid: the
 * checkpointing cryo) or the neighbour number `i`. */
char *layout_thawed_marker(const char *runroot, const char *id, pid_t pid);
char *layout_neighbour_thawed_marker(const char *runroot, const char *id, pid_t pid, size_t i);

#endif
