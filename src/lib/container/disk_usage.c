#include "disk_usage.h"

#include <errno.h>
#include <fts.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "container.h"
#include "image.h"
#include "layout.h"
#include "state.h"
#include "util.h"

struct inode_key {
	dev_t dev;
	ino_t ino;
};

static int inode_cmp(const void *a, const void *b)
{
	const struct inode_key *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino ? 1 : 0;
}

/* Files with several links seen so far, across every tree of one report. */
struct usage_walk {
	void *hardlinks; /* tsearch tree of struct inode_key */
};

static void walk_free(struct usage_walk *w)
{
	tdestroy(w->hardlinks, free);
	w->hardlinks = NULL;
}

/* Allocated bytes below `path` (0 when it does not exist). fts without
 * FTS_NOCHDIR descends by directory descriptors, so trees deeper than
 * PATH_MAX are measured too; FTS_PHYSICAL never follows a symbolic link,
 * FTS_XDEV never leaves the file system (a container's mounted root). */
static uint64_t tree_usage(struct usage_walk *w, const char *path)
{
	char *const roots[] = {(char *)path, NULL};
	uint64_t bytes = 0;
	if (!path_exists(path))
		return 0;
	FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_XDEV, NULL);
	if (!fts)
		return 0;
	FTSENT *e;
	while ((e = fts_read(fts))) {
		if (e->fts_info == FTS_DP || e->fts_info == FTS_NS || e->fts_info == FTS_ERR ||
		    e->fts_info == FTS_DNR || !e->fts_statp)
			continue;
		const struct stat *st = e->fts_statp;
		if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
			struct inode_key *k = xmalloc(sizeof(*k));
			*k = (struct inode_key){.dev = st->st_dev, .ino = st->st_ino};
			struct inode_key **found = tsearch(k, &w->hardlinks, inode_cmp);
			if (!found)
				oom();
			if (*found != k) { /* counted already */
				free(k);
				continue;
			}
		}
		bytes += (uint64_t)st->st_blocks * 512;
	}
	fts_close(fts);
	return bytes;
}

static uint64_t layer_usage(struct cryo_engine *engine, struct usage_walk *w, const char *layer)
{
	cleanup_free char *path = image_layer_path(engine, layer);
	return tree_usage(w, path);
}

struct layer_entry {
	char *id;
	bool used;
};

static int images_usage(struct cryo_engine *engine, struct usage_walk *w, struct container **cts,
                        size_t n_cts, struct disk_usage_kind *out, cryo_err *err)
{
	struct image **images = NULL;
	size_t n = 0;
	int r = image_list(engine, &images, &n, err);
	if (r < 0)
		return r;
	/* Every layer once, used when an image a container was made of has it. */
	struct layer_entry *layers = NULL;
	size_t n_layers = 0;
	for (size_t i = 0; i < n; i++) {
		bool used = false;
		for (size_t c = 0; c < n_cts && !used; c++)
			used = strcmp(cts[c]->image_id, images[i]->id) == 0;
		out->total++;
		out->active += used;
		/* Its own directory: an ordinary image's registry blobs, a
		 * checkpoint image's layout. */
		cleanup_free char *own = images[i]->checkpoint_layer
		                             ? image_checkpoint_dir(engine, images[i]->id)
		                             : image_blobs_dir(engine, images[i]->id);
		uint64_t own_bytes = tree_usage(w, own);
		out->size += own_bytes;
		if (!used)
			out->reclaimable += own_bytes;
		for (char **l = images[i]->layers; l && *l; l++) {
			size_t k = 0;
			while (k < n_layers && strcmp(layers[k].id, *l) != 0)
				k++;
			if (k == n_layers) {
				layers = xrealloc(layers, (n_layers + 1) * sizeof(*layers));
				layers[n_layers++] = (struct layer_entry){.id = xstrdup(*l)};
			}
			layers[k].used |= used;
		}
	}
	for (size_t k = 0; k < n_layers; k++) {
		uint64_t bytes = layer_usage(engine, w, layers[k].id);
		out->size += bytes;
		if (!layers[k].used)
			out->reclaimable += bytes;
		free(layers[k].id);
	}
	free(layers);
	image_list_free(images, n);
	return 0;
}

static void containers_usage(struct cryo_engine *engine, struct usage_walk *w, struct container **cts,
                             size_t n_cts, struct disk_usage_kind *out)
{
	for (size_t i = 0; i < n_cts; i++) {
		cleanup_free char *dir = container_dir(engine, cts[i]->id);
		cleanup_free char *run_dir = layout_run_container_dir(engine->runroot, cts[i]->id);
		uint64_t bytes = tree_usage(w, dir) + tree_usage(w, run_dir);
		bool active = container_is_active(cts[i]);
		out->total++;
		out->active += active;
		out->size += bytes;
		if (!active)
			out->reclaimable += bytes;
	}
}

static int volumes_usage(struct cryo_engine *engine, struct usage_walk *w, struct disk_usage_kind *out,
                         cryo_err *err)
{
	struct volume **vols = NULL;
	size_t n = 0;
	int r = state_volume_list(engine, &vols, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		cleanup_strv char **users = NULL;
		cleanup_free char *dir = layout_volume_dir(engine->root, vols[i]->name);
		if ((r = state_volume_users(engine, vols[i]->name, &users, err)) < 0)
			break;
		uint64_t bytes = tree_usage(w, dir);
		bool active = users && users[0];
		out->total++;
		out->active += active;
		out->size += bytes;
		if (!active)
			out->reclaimable += bytes;
	}
	for (size_t i = 0; i < n; i++)
		volume_free(vols[i]);
	free(vols);
	return r;
}

/* The kept checkpoints, checkpoints/<container ID>: staging directories
 * (".new-") are scratch, which `system prune` reports. */
static void checkpoints_usage(struct cryo_engine *engine, struct usage_walk *w, struct container **cts,
                              size_t n_cts, struct disk_usage_kind *out)
{
	cleanup_free char *dir = layout_checkpoints_dir(engine->root);
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strstr(de->d_name, ".new-") || de->d_type != DT_DIR)
			continue;
		cleanup_free char *path = xasprintf("%s/%s", dir, de->d_name);
		bool active = false;
		for (size_t i = 0; i < n_cts && !active; i++)
			active = cts[i]->checkpoint && strcmp(cts[i]->checkpoint, path) == 0 &&
			         !container_is_active(cts[i]);
		uint64_t bytes = tree_usage(w, path);
		out->total++;
		out->active += active;
		out->size += bytes;
		if (!active)
			out->reclaimable += bytes;
	}
}

int disk_usage_get(struct cryo_engine *engine, struct disk_usage *out, cryo_err *err)
{
	struct usage_walk w = {0};
	struct container **cts = NULL;
	size_t n_cts = 0;
	int r;
	*out = (struct disk_usage){0};
	if ((r = state_container_list(engine, &cts, &n_cts, err)) < 0)
		return cryo_error_wrap(err, "disk usage: list containers");
	if ((r = images_usage(engine, &w, cts, n_cts, &out->images, err)) < 0) {
		cryo_error_wrap(err, "disk usage: images");
		goto out;
	}
	containers_usage(engine, &w, cts, n_cts, &out->containers);
	if ((r = volumes_usage(engine, &w, &out->volumes, err)) < 0) {
		cryo_error_wrap(err, "disk usage: volumes");
		goto out;
	}
	checkpoints_usage(engine, &w, cts, n_cts, &out->checkpoints);
out:
	walk_free(&w);
	container_list_free(cts, n_cts);
	return r;
}

const struct disk_usage_kind *disk_usage_kind_at(const struct disk_usage *du, size_t i, const char **name)
{
	static const char *const names[DISK_USAGE_KINDS] = {"Images", "Containers", "Local Volumes",
	                                                    "Checkpoints"};
	const struct disk_usage_kind *kinds[DISK_USAGE_KINDS] = {&du->images, &du->containers, &du->volumes,
	                                                         &du->checkpoints};
	if (i >= DISK_USAGE_KINDS)
		return NULL;
	*name = names[i];
	return kinds[i];
}

struct json_object *disk_usage_json(const struct disk_usage *du)
{
	struct json_object *list = json_object_new_array();
	for (size_t i = 0; i < DISK_USAGE_KINDS; i++) {
		const char *name;
		const struct disk_usage_kind *kind = disk_usage_kind_at(du, i, &name);
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "Type", json_object_new_string(name));
		json_object_object_add(o, "Total", json_object_new_int64((int64_t)kind->total));
		json_object_object_add(o, "Active", json_object_new_int64((int64_t)kind->active));
		json_object_object_add(o, "Size", json_object_new_int64((int64_t)kind->size));
		json_object_object_add(o, "Reclaimable", json_object_new_int64((int64_t)kind->reclaimable));
		json_object_array_add(list, o);
	}
	return list;
}
