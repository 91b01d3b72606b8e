#include "layout.h"

#include <string.h>

#include "util.h"

#define CONTAINERS "containers"
#define CHECKPOINTS "checkpoints"
#define STAGING_MARK ".new-"
#define IMPORT_PREFIX "import-"
#define IPAM "networks/ipam"

const char *const layout_root_dirs[] = {
    "",    CONTAINERS,          "layers",      "images", "volumes", CHECKPOINTS,
    "tmp", "checkpoint-images", "image-blobs", NULL,
};
const char *const layout_runroot_dirs[] = {"", "runtime", "locks", CONTAINERS, NULL};

bool layout_is_element(const char *name)
{
	return name && name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/');
}

char *layout_dir(const char *root, const char *rel)
{
	return rel[0] ? xasprintf("%s/%s", root, rel) : xstrdup(root);
}

/* ROOT/DIR/NAME/FILE: DIR and FILE are this file's constants, NAME is
 * checked; FILE may be NULL. */
static char *below(const char *root, const char *dir, const char *name, const char *file)
{
	if (!layout_is_element(name))
		return NULL;
	return file ? xasprintf("%s/%s/%s/%s", root, dir, name, file)
	            : xasprintf("%s/%s/%s", root, dir, name);
}

char *layout_db_file(const char *root)
{
	return xasprintf("%s/state.db", root);
}
char *layout_containers_dir(const char *root)
{
	return xasprintf("%s/" CONTAINERS, root);
}
char *layout_container_dir(const char *root, const char *id)
{
	return below(root, CONTAINERS, id, NULL);
}
char *layout_container_upper(const char *root, const char *id)
{
	return below(root, CONTAINERS, id, "upper");
}
char *layout_container_work(const char *root, const char *id)
{
	return below(root, CONTAINERS, id, "work");
}
char *layout_container_rootfs(const char *root, const char *id)
{
	return below(root, CONTAINERS, id, "rootfs");
}
char *layout_container_log(const char *root, const char *id)
{
	return below(root, CONTAINERS, id, "ctr.log");
}

char *layout_layers_dir(const char *root)
{
	return xasprintf("%s/layers", root);
}
char *layout_layer_dir(const char *root, const char *layer_id)
{
	return below(root, "layers", layer_id, NULL);
}
char *layout_images_dir(const char *root)
{
	return xasprintf("%s/images", root);
}
char *layout_image_dir(const char *root, const char *id)
{
	return below(root, "images", id, NULL);
}
char *layout_image_mnt(const char *root, const char *id)
{
	return below(root, "images", id, "mnt");
}
char *layout_checkpoint_images_dir(const char *root)
{
	return xasprintf("%s/checkpoint-images", root);
}
char *layout_checkpoint_image_dir(const char *root, const char *id)
{
	return below(root, "checkpoint-images", id, NULL);
}

char *layout_image_blobs_dir(const char *root)
{
	return xasprintf("%s/image-blobs", root);
}
char *layout_image_blobs(const char *root, const char *id)
{
	return below(root, "image-blobs", id, NULL);
}

char *layout_volume_dir(const char *root, const char *name)
{
	return below(root, "volumes", name, NULL);
}
char *layout_volume_data(const char *root, const char *name)
{
	return below(root, "volumes", name, "_data");
}

char *layout_checkpoints_dir(const char *root)
{
	return xasprintf("%s/" CHECKPOINTS, root);
}
char *layout_checkpoint_dir(const char *root, const char *id)
{
	return below(root, CHECKPOINTS, id, NULL);
}
char *layout_checkpoint_staging(const char *root, const char *id, const char *suffix)
{
	if (!layout_is_element(id) || strchr(suffix, '/'))
		return NULL;
	return xasprintf("%s/" CHECKPOINTS "/%s" STAGING_MARK "%.8s", root, id, suffix);
}
bool layout_is_checkpoint_staging(const char *name)
{
	return strstr(name, STAGING_MARK) != NULL;
}

char *layout_tmp_dir(const char *root)
{
	return xasprintf("%s/tmp", root);
}
char *layout_tmp(const char *root, const char *name)
{
	return below(root, "tmp", name, NULL);
}
char *layout_import_dir(const char *root, const char *suffix)
{
	if (strchr(suffix, '/'))
		return NULL;
	return xasprintf("%s/tmp/" IMPORT_PREFIX "%.12s", root, suffix);
}
bool layout_is_import(const char *name)
{
	return str_has_prefix(name, IMPORT_PREFIX);
}
char *layout_kept_import(const char *root, const char *id)
{
	if (!layout_is_element(id))
		return NULL;
	return xasprintf("%s/tmp/kept-%s", root, id);
}
char *layout_empty_dir(const char *root)
{
	return xasprintf("%s/empty", root);
}
char *layout_container_criu_config(const char *root, const char *id)
{
	return below(root, CONTAINERS, id, LAYOUT_CRIU_CONFIG);
}
char *layout_container_network_record(const char *root, const char *id)
{
	return below(root, CONTAINERS, id, "network.json");
}
char *layout_ipam_dir(const char *root)
{
	return xasprintf("%s/" IPAM, root);
}
char *layout_ipam_network(const char *root, const char *network)
{
	return below(root, IPAM, network, NULL);
}
char *layout_keys_dir(const char *root)
{
	return xasprintf("%s/keys", root);
}
char *layout_engine_key(const char *root)
{
	return xasprintf("%s/keys/engine.key", root);
}
char *layout_trusted_keys(const char *root)
{
	return xasprintf("%s/trusted-keys", root);
}
char *layout_claims_dir(const char *root)
{
	return xasprintf("%s/claims", root);
}

char *layout_runtime_root(const char *runroot)
{
	return xasprintf("%s/runtime", runroot);
}
char *layout_lock_file(const char *runroot, const char *name)
{
	return below(runroot, "locks", name, NULL);
}
char *layout_probe_cache(const char *runroot)
{
	return xasprintf("%s/host-probe.json", runroot);
}
char *layout_netns_dir(const char *runroot)
{
	return xasprintf("%s/netns", runroot);
}
char *layout_netns(const char *runroot, const char *id)
{
	return below(runroot, "netns", id, NULL);
}
char *layout_run_container_dir(const char *runroot, const char *id)
{
	return below(runroot, CONTAINERS, id, NULL);
}
char *layout_exit_file(const char *runroot, const char *id)
{
	return below(runroot, CONTAINERS, id, "exit");
}
char *layout_pid_file(const char *runroot, const char *id)
{
	return below(runroot, CONTAINERS, id, "pid");
}
char *layout_runtime_log(const char *runroot, const char *id, const char *op)
{
	if (!layout_is_element(op))
		return NULL;
	cleanup_free char *file = xasprintf("runtime-%s.log", op);
	return below(runroot, CONTAINERS, id, file);
}
char *layout_checkpoint_work(const char *runroot, const char *id)
{
	return below(runroot, CONTAINERS, id, "checkpoint-work");
}
char *layout_restore_work(const char *runroot, const char *id)
{
	return below(runroot, CONTAINERS, id, "restore-work");
}
char *layout_thawed_marker(const char *runroot, const char *id, pid_t pid)
{
	cleanup_free char *file = xasprintf("thawed-%d", (int)pid);
	return below(runroot, CONTAINERS, id, file);
}
char *layout_neighbour_thawed_marker(const char *runroot, const char *id, pid_t pid, size_t i)
{
	cleanup_free char *file = xasprintf("neighbour-thawed-%d-%zu", (int)pid, i);
	return below(runroot, CONTAINERS, id, file);
}
