#include "restore.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint_archive.h"
#include "checkpoint.h"
#include "container.h"
#include "freezer.h"
#include "image.h"
#include "lock.h"
#include "monitor.h"
#include "overlay.h"
#include "rootfs_diff.h"
#include "scratch.h"
#include "spec.h"
#include "util.h"
#include "volume.h"

/* Everything one restore run knows and owns. */
struct restore_run {
	struct cryo_engine *engine;
	const struct restore_opts *opts;
	struct restore_stats *stats;

	char *dir;          /* the checkpoint directory restored from */
	bool dir_is_import; /* an unpacked archive we own */
	struct json_object *dump; /* config.dump */
	struct container_config cfg;

	struct container *c; /* the container being restored into */
	bool created;        /* c was created by this restore */
	bool same_container; /* restoring the container the checkpoint was taken of */
	bool upper_reused;   /* its upper dir is still exactly what was captured */
	int lock;
	struct monitor_result mon;
	/* Trees replaced by this restore (the upper dir, volumes' data): the old
	 * ones are kept beside them until the restore commits, and put back if it
	 * fails, so a failed restore loses nothing. */
	char **replaced; /* pairs: live path, its previous contents */
};

/* Put `fresh` in place of `live`, keeping the previous tree as LIVE.old. */
static int swap_in(struct restore_run *run, const char *live, const char *fresh, cryo_err *err)
{
	cleanup_free char *old = xasprintf("%s.old", live);
	int r = rm_rf(old, err);
	if (r < 0)
		return r;
	if (rename(live, old) < 0 && errno != ENOENT)
		return cryo_error_set(err, errno, "move `%s` aside", live);
	if (rename(fresh, live) < 0) {
		int saved = errno;
		rename(old, live);
		return cryo_error_set(err, saved, "put `%s` in place", live);
	}
	strv_push(&run->replaced, live);
	strv_push(&run->replaced, old);
	return 0;
}

static void replaced_commit(struct restore_run *run)
{
	for (size_t i = 0; run->replaced && run->replaced[i]; i += 2)
		rm_rf(run->replaced[i + 1], NULL);
}

static void replaced_roll_back(struct restore_run *run)
{
	for (size_t i = 0; run->replaced && run->replaced[i]; i += 2) {
		if (!path_exists(run->replaced[i + 1]))
			continue;
		rm_rf(run->replaced[i], NULL);
		rename(run->replaced[i + 1], run->replaced[i]);
	}
}

static int read_config_dump(struct restore_run *run, cryo_err *err)
{
	cleanup_free char *path = xasprintf("%s/" CHECKPOINT_CONFIG, run->dir);
	cleanup_free char *text = NULL;
	int r = read_file(path, &text, NULL, err);
	if (r < 0)
		return cryo_error_wrap(err, "read the checkpoint's configuration");
	run->dump = json_tokener_parse(text);
	struct json_object *cfg;
	if (!run->dump || !json_object_object_get_ex(run->dump, "config", &cfg))
		return cryo_error_set(err, EINVAL, "checkpoint configuration `%s` is not valid", path);
	return container_config_from_json(json_object_to_json_string(cfg), &run->cfg, err);
}

static const char *dump_str(struct restore_run *run, const char *key)
{
	struct json_object *v;
	if (json_object_object_get_ex(run->dump, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

/* Step 1: where the checkpoint comes from. An archive is verified (checksums)
 * and unpacked with the hardened reader into a fresh directory. */
static int restore_locate(struct restore_run *run, const char *ref, cryo_err *err)
{
	struct cryo_engine *engine = run->engine;
	int r;

	if (run->opts->import_path) {
		cleanup_free char *suffix = random_id();
		run->dir = engine_path(engine, "tmp/import-%.12s", suffix);
		run->dir_is_import = true;
		/* claimed first: a killed restore's import is collected (scratch.h) */
		if ((r = scratch_claim_path(engine, run->dir, err)) < 0 || (r = mkdir_p(run->dir, 0700, err)) < 0)
			return r;
		int64_t start = now_monotonic_us();
		r = checkpoint_archive_read(run->opts->import_path, run->dir, err);
		run->stats->import_duration = now_monotonic_us() - start;
		if (r < 0)
			return cryo_error_wrap(err, "import `%s`", run->opts->import_path);
		return read_config_dump(run, err);
	}
	if (!ref)
		return cryo_error_set(err, EINVAL, "restore: name a container, or give --import FILE");
	if ((r = container_get_locked(engine, ref, &run->c, &run->lock, err)) < 0)
		return r;
	if (!run->c->checkpoint || !path_exists(run->c->checkpoint))
		return cryo_error_set(err, ENOENT, "container `%s` has no checkpoint to restore", run->c->name);
	run->dir = xstrdup(run->c->checkpoint);
	if ((r = read_config_dump(run, err)) < 0)
		return r;
	if (!run->opts->name) {
		if (container_is_active(run->c))
			return cryo_error_set(err, EBUSY,
					      "restore container `%s`: it is %s; stop it first, or restore a copy with --name",
					      run->c->name, run->c->state);
		run->same_container = true;
		run->upper_reused = strcmp(run->c->state, CONTAINER_CHECKPOINTED) == 0;
		return 0;
	}
	container_free(run->c);
	run->c = NULL;
	return 0;
}

/* Step 2: the container to restore into — the same one, or a new one from the
 * checkpoint's configuration (its image must be in this engine). */
static int restore_prepare_container(struct restore_run *run, cryo_err *err)
{
	cleanup_image struct image *img = NULL;
	const char *image_id = dump_str(run, "image_id"), *image_name = dump_str(run, "image_name");
	int r;

	if (run->same_container)
		return 0;
	if (image_get(run->engine, image_id, &img, NULL) < 0 && image_get(run->engine, image_name, &img, NULL) < 0)
		return cryo_error_set(err, ENOENT,
				      "the checkpoint needs image `%s` (ID %.12s), which is not in this engine: "
				      "import or load it first",
				      image_name, image_id);
	const char *name = run->opts->name ? run->opts->name : dump_str(run, "name");
	r = container_create_from_config(run->engine, name, img, &run->cfg, false, &run->c, err);
	if (r == -EEXIST && !run->opts->name)
		return cryo_error_wrap(err, "restore: give the restored container another name with --name");
	if (r < 0)
		return r;
	run->created = true;
	if ((r = lock_acquire(run->engine, run->c->id, &run->lock, err)) < 0)
		return r;
	return 0;
}

/* Step 3: the root file system's changes, rebuilt as the container's upper
 * dir. Built beside it and swapped in, so a failure leaves the old one intact. */
static int restore_rootfs(struct restore_run *run, cryo_err *err)
{
	cleanup_free char *upper = container_upper_dir(run->engine, run->c->id);
	cleanup_free char *fresh = xasprintf("%s.restore", upper);
	cleanup_free char *tar = xasprintf("%s/" CHECKPOINT_ROOTFS_DIFF, run->dir);
	cleanup_free char *deleted = xasprintf("%s/" CHECKPOINT_DELETED_FILES, run->dir);
	int64_t start = now_monotonic_us();
	int r;

	if (run->upper_reused)
		return 0;
	if ((r = rm_rf(fresh, err)) < 0 || (r = mkdir_p(fresh, 0755, err)) < 0)
		return r;
	if (!run->opts->ignore_rootfs && path_exists(tar) &&
	    (r = rootfs_diff_apply(tar, path_exists(deleted) ? deleted : NULL, fresh, err)) < 0) {
		rm_rf(fresh, NULL);
		return cryo_error_wrap(err, "restore root file system changes");
	}
	cleanup_free char *skipped = NULL;
	if ((r = container_write_managed_files(fresh, &run->cfg, &skipped, err)) < 0) {
		rm_rf(fresh, NULL);
		return r;
	}
	if (skipped)
		snprintf(run->stats->notice, sizeof(run->stats->notice), "%s", skipped);
	if ((r = swap_in(run, upper, fresh, err)) < 0) {
		rm_rf(fresh, NULL);
		return cryo_error_wrap(err, "restore root file system changes");
	}
	run->stats->rootfs_apply_duration = now_monotonic_us() - start;
	return 0;
}

static int volume_users_active(struct restore_run *run, const char *volume, char **user, cryo_err *err)
{
	cleanup_strv char **names = NULL;
	int r = state_volume_users(run->engine, volume, &names, err);
	if (r < 0)
		return r;
	for (size_t i = 0; names[i]; i++) {
		cleanup_container struct container *other = NULL;
		if (strcmp(names[i], run->c->name) == 0)
			continue;
		if (container_get(run->engine, names[i], &other, NULL) == 0 && container_is_active(other)) {
			*user = xstrdup(names[i]);
			return 1;
		}
	}
	return 0;
}

/* Step 4: named volumes get the checkpoint's contents. A volume that a
 * running container uses is never overwritten under it. */
static int restore_volumes(struct restore_run *run, cryo_err *err)
{
	if (run->opts->ignore_volumes)
		return 0;
	int64_t start = now_monotonic_us();
	for (size_t i = 0; i < run->cfg.n_mounts; i++) {
		const struct container_mount *m = &run->cfg.mounts[i];
		if (m->kind != MOUNT_VOLUME)
			continue;
		cleanup_free char *tar = xasprintf("%s/" CHECKPOINT_VOLUMES_DIR "/%s.tar", run->dir, m->source);
		if (!path_exists(tar))
			continue;
		cleanup_free char *user = NULL;
		int r = volume_users_active(run, m->source, &user, err);
		if (r < 0)
			return r;
		if (r > 0)
			return cryo_error_set(err, EBUSY,
					      "restore volume `%s`: container `%s` is using it; stop that container, or "
					      "restore with --ignore-volumes to use the volume as it is",
					      m->source, user);
		if ((r = volume_create(run->engine, m->source, true, err)) < 0)
			return r;
		cleanup_free char *data = volume_data_dir(run->engine, m->source);
		cleanup_free char *fresh = xasprintf("%s.restore", data);
		/* Unpack beside the volume, then swap (swap_in keeps the old data
		 * until the restore commits). */
		rm_rf(fresh, NULL);
		if ((r = mkdir_p(fresh, 0755, err)) < 0)
			return r;
		if ((r = volume_restore(tar, fresh, err)) < 0) {
			rm_rf(fresh, NULL);
			return cryo_error_wrap(err, "restore volume `%s`", m->source);
		}
		if ((r = swap_in(run, data, fresh, err)) < 0) {
			rm_rf(fresh, NULL);
			return cryo_error_wrap(err, "restore volume `%s`", m->source);
		}
	}
	run->stats->volumes_restore_duration = now_monotonic_us() - start;
	return 0;
}

/* Step 5: the bundle for this container (paths of this engine and host), and
 * its root file system mounted. */
static int restore_bundle(struct restore_run *run, cryo_err *err)
{
	struct json_object *spec = NULL;
	cleanup_free char *rootfs = container_rootfs_dir(run->engine, run->c->id);
	cleanup_free char *bundle = container_bundle_dir(run->engine, run->c->id);
	int r = spec_generate(run->engine, run->c->id, &run->cfg, rootfs, &spec, err);
	if (r == 0)
		r = spec_write(bundle, spec, err);
	if (spec)
		json_object_put(spec);
	if (r < 0)
		return r;
	/* The spec names a CRIU configuration file; a restore needs none of its own. */
	if ((r = spec_write_criu_config(bundle, "", err)) < 0)
		return r;
	runtime_delete(run->engine, run->c->id, true, NULL);
	return container_mount_rootfs(run->engine, run->c, err);
}

/* Step 6: the runtime's restore, under a monitor like any container. */
static int restore_processes(struct restore_run *run, cryo_err *err)
{
	cleanup_free char *images = xasprintf("%s/" CHECKPOINT_IMAGES_DIR, run->dir);
	cleanup_free char *work = engine_run_path(run->engine, "containers/%s/restore-work", run->c->id);
	int r;
	if ((r = rm_rf(work, err)) < 0 || (r = mkdir_p(work, 0700, err)) < 0)
		return r;
	struct runtime_restore_opts ro = {
		.image_path = images,
		.work_path = work,
		.tcp_established = run->opts->tcp_established,
		.file_locks = run->opts->file_locks,
	};
	if ((r = monitor_start(run->engine, run->c->id, MONITOR_RESTORE, &ro, run->cfg.auto_remove, &run->mon, err)) < 0)
		return r;
	run->stats->runtime_restore_duration = run->mon.runtime_duration_us;
	cleanup_free char *criu_stats = xasprintf("%s/stats-restore", work);
	if (criu_stats_read_restore(criu_stats, &run->stats->criu, NULL) == 0)
		run->stats->have_criu_stats = true;
	if (!run->opts->keep)
		rm_rf(work, NULL);
	return 0;
}

/* Step 7: running, and recorded as such. CRIU puts a v1 freezer cgroup back
 * the way it was dumped, and a live checkpoint is dumped frozen: a restored
 * container must run, so thaw it if it came back frozen. */
static int restore_commit(struct restore_run *run, cryo_err *err)
{
	struct freezer f = {0};
	cleanup_free char *cgroup = spec_cgroup_path(run->c->id);
	if (freezer_for_cgroup(cgroup, &f, NULL) == 0) {
		bool frozen = false;
		if (freezer_is_frozen(&f, &frozen, NULL) == 0 && frozen)
			freezer_thaw(&f, NULL);
		freezer_release(&f);
	}
	free(run->c->state);
	run->c->state = xstrdup(CONTAINER_RUNNING);
	run->c->pid = run->mon.container_pid;
	run->c->monitor_pid = run->mon.monitor_pid;
	run->c->exit_code = -1;
	run->c->started = now_realtime_us();
	run->c->finished = 0;
	if (run->same_container && !run->opts->keep) {
		free(run->c->checkpoint);
		run->c->checkpoint = NULL;
	}
	int r = state_container_update(run->engine, run->c, err);
	if (r < 0)
		return r;
	replaced_commit(run);
	if (run->same_container && !run->opts->keep)
		rm_rf(run->dir, NULL);
	return 0;
}

/* On failure: a container this restore created is removed again; the
 * container restored in place goes back to its previous state. */
static void restore_abort(struct restore_run *run)
{
	if (!run->c)
		return;
	if (run->mon.container_pid > 0)
		runtime_kill(run->engine, run->c->id, 9, NULL);
	runtime_delete(run->engine, run->c->id, true, NULL);
	cleanup_free char *rootfs = container_rootfs_dir(run->engine, run->c->id);
	overlay_unmount(rootfs, NULL);
	replaced_roll_back(run);
	if (run->created) {
		if (run->lock >= 0) {
			close(run->lock);
			run->lock = -1;
		}
		container_remove(run->engine, run->c->id, true, NULL);
	}
}

static void restore_run_release(struct restore_run *run)
{
	if (run->dir_is_import && (!run->opts->keep || !run->c)) {
		rm_rf(run->dir, NULL);
	} else if (run->dir_is_import) {
		/* kept on purpose: out of the leftover collector's way (scratch.h) */
		cleanup_free char *kept = engine_path(run->engine, "tmp/kept-%s", run->c->id);
		rm_rf(kept, NULL);
		rename(run->dir, kept);
	}
	free(run->dir);
	if (run->dump)
		json_object_put(run->dump);
	container_config_free(&run->cfg);
	container_free(run->c);
	strv_free(run->replaced);
	if (run->lock >= 0)
		close(run->lock);
}

int restore_container(struct cryo_engine *engine, const char *ref, const struct restore_opts *opts,
		      struct container **out, struct restore_stats *stats, cryo_err *err)
{
	struct restore_run run = {.engine = engine, .opts = opts, .stats = stats, .lock = -1};
	int64_t start = now_monotonic_us();
	int r;

	memset(stats, 0, sizeof(*stats));
	if ((r = restore_locate(&run, ref, err)) < 0 ||
	    (r = restore_prepare_container(&run, err)) < 0 ||
	    (r = restore_rootfs(&run, err)) < 0 ||
	    (r = restore_volumes(&run, err)) < 0 ||
	    (r = restore_bundle(&run, err)) < 0 ||
	    (r = restore_processes(&run, err)) < 0 ||
	    (r = restore_commit(&run, err)) < 0)
		goto fail;
	stats->restore_duration = now_monotonic_us() - start;
	if (out)
		*out = move_ptr(run.c);
	restore_run_release(&run);
	return 0;
fail:
	restore_abort(&run);
	if (run.c)
		cryo_error_wrap(err, "restore container `%s`", run.c->name);
	restore_run_release(&run);
	return r;
}

struct json_object *restore_stats_json(const struct restore_stats *s)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "restore_duration", json_object_new_int64(s->restore_duration));
	json_object_object_add(o, "runtime_restore_duration", json_object_new_int64(s->runtime_restore_duration));
	json_object_object_add(o, "import_duration", json_object_new_int64(s->import_duration));
	json_object_object_add(o, "rootfs_apply_duration", json_object_new_int64(s->rootfs_apply_duration));
	json_object_object_add(o, "volumes_restore_duration", json_object_new_int64(s->volumes_restore_duration));
	if (s->have_criu_stats) {
		json_object_object_add(o, "forking_time", json_object_new_int64(s->criu.forking_time));
		json_object_object_add(o, "restore_time", json_object_new_int64(s->criu.restore_time));
		json_object_object_add(o, "pages_restored", json_object_new_int64((int64_t)s->criu.pages_restored));
	}
	if (s->notice[0])
		json_object_object_add(o, "notice", json_object_new_string(s->notice));
	return o;
}
