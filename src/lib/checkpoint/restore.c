#include "restore.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint_archive.h"
#include "checkpoint.h"
#include "container.h"
#include "criu_images.h"
#include "freezer.h"
#include "hostinfo.h"
#include "image.h"
#include "layout.h"
#include "lock.h"
#include "monitor.h"
#include "network.h"
#include "progress.h"
#include "overlay.h"
#include "podman_import.h"
#include "rootfs_diff.h"
#include "scratch.h"
#include "security.h"
#include "spec.h"
#include "trust.h"
#include "util.h"
#include "volume.h"

/* config.dump is a few KiB; a huge one is not a checkpoint's. */
#define CONFIG_DUMP_MAX (4 << 20)

/* Everything one restore run knows and owns. */
struct restore_run {
	struct cryo_engine *engine;
	const struct restore_opts *opts;
	struct restore_stats *stats;

	char *dir;                /* the checkpoint directory restored from */
	bool dir_is_import;       /* an unpacked archive we own */
	bool podman;              /* ... exported by Podman (podman_import.h) */
	struct json_object *dump; /* config.dump */
	struct container_config cfg;
	struct extract_limits limits; /* for everything unpacked from an archive */
	/* Imports: for each of cfg.mounts, the volume whose data the archive
	 * carries for it ("" for none); NULL: the mounts' own names. */
	char **archived_volumes;

	struct container *c; /* the container being restored into */
	bool created;        /* c was created by this restore */
	bool same_container; /* restoring the container the checkpoint was taken of */
	bool upper_reused;   /* its upper dir is still exactly what was captured */
	bool network_attached;
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

/* Every value of a checkpoint's configuration has the type cryo writes:
 * container_config_from_json() would quietly take a number for a string. */
static int check_config_types(struct json_object *cfg, cryo_err *err)
{
	static const struct {
		const char *key;
		enum json_type type;
	} fields[] = {
	    {"command", json_type_array},       {"env", json_type_array},
	    {"workdir", json_type_string},      {"user", json_type_string},
	    {"hostname", json_type_string},     {"network", json_type_string},
	    {"mounts", json_type_array},        {"memory_limit", json_type_int},
	    {"pids_limit", json_type_int},      {"auto_remove", json_type_boolean},
	    {"ip", json_type_string},           {"mac", json_type_string},
	    {"ports", json_type_array},         {"terminal", json_type_boolean},
	    {"interactive", json_type_boolean}, {"read_only", json_type_boolean},
	    {"labels", json_type_array},        {"engine_files", json_type_array},
	};
	struct json_object *v;
	if (!json_object_is_type(cfg, json_type_object))
		return cryo_error_plain(err, EINVAL, "`config` is not an object");
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (json_object_object_get_ex(cfg, fields[i].key, &v) &&
		    !json_object_is_type(v, fields[i].type))
			return cryo_error_plain(err, EINVAL, "`%s` is not a %s", fields[i].key,
			                        json_type_to_name(fields[i].type));
	const char *lists[] = {"command", "env", "labels", "engine_files"};
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		if (json_object_object_get_ex(cfg, lists[i], &v))
			for (size_t j = 0; j < json_object_array_length(v); j++)
				if (!json_object_is_type(json_object_array_get_idx(v, j), json_type_string))
					return cryo_error_plain(
					    err, EINVAL, "`%s` holds a value that is not a string", lists[i]);
	if (json_object_object_get_ex(cfg, "mounts", &v))
		for (size_t j = 0; j < json_object_array_length(v); j++) {
			struct json_object *m = json_object_array_get_idx(v, j), *f;
			const char *type = NULL;
			if (!json_object_is_type(m, json_type_object) ||
			    !json_object_object_get_ex(m, "type", &f) ||
			    !json_object_is_type(f, json_type_string) ||
			    !json_object_object_get_ex(m, "source", &f) ||
			    !json_object_is_type(f, json_type_string) ||
			    !json_object_object_get_ex(m, "destination", &f) ||
			    !json_object_is_type(f, json_type_string) ||
			    (json_object_object_get_ex(m, "readonly", &f) &&
			     !json_object_is_type(f, json_type_boolean)))
				return cryo_error_plain(
				    err, EINVAL, "mount %zu: needs string type, source and destination",
				    j + 1);
			json_object_object_get_ex(m, "type", &f);
			type = json_object_get_string(f);
			if (strcmp(type, "volume") != 0 && strcmp(type, "bind") != 0 &&
			    strcmp(type, "tmpfs") != 0)
				return cryo_error_plain(err, EINVAL, "mount %zu: unknown type `%s`", j + 1,
				                        type);
		}
	return 0;
}

static int read_config_dump(struct restore_run *run, cryo_err *err)
{
	cleanup_free char *path = xasprintf("%s/" CHECKPOINT_CONFIG, run->dir);
	cleanup_free char *text = NULL;
	int r = read_file_bounded(path, CONFIG_DUMP_MAX, &text, NULL, err);
	if (r < 0)
		return cryo_error_wrap(err, "read the checkpoint's configuration");
	run->dump = json_tokener_parse(text);
	struct json_object *cfg;
	if (!run->dump || !json_object_is_type(run->dump, json_type_object) ||
	    !json_object_object_get_ex(run->dump, "config", &cfg))
		return cryo_error_set(err, EINVAL, "checkpoint configuration `%s` is not valid", path);
	if (run->dir_is_import && (r = check_config_types(cfg, err)) < 0)
		return cryo_error_wrap(err, "checkpoint configuration `%s`", CHECKPOINT_CONFIG);
	return container_config_from_json(json_object_to_json_string(cfg), &run->cfg, err);
}

/* A Podman export's configuration (podman_import.h) as the container's;
 * run->dump gets what the rest of the restore reads of a config.dump. */
static int read_podman_config(struct restore_run *run, cryo_err *err)
{
	struct podman_import pi;
	int r = podman_import_read(run->dir, &pi, err);
	if (r < 0)
		return r;
	if (run->opts->network && strcmp(run->opts->network, NETWORK_NONE) != 0) {
		podman_import_free(&pi);
		return cryo_error_plain(err, ENOTSUP,
		                        "--network `%s`: a container restored from a Podman export keeps "
		                        "the network namespace of its checkpoint (`none`)",
		                        run->opts->network);
	}
	run->cfg = pi.cfg;
	memset(&pi.cfg, 0, sizeof(pi.cfg));
	run->dump = json_object_new_object();
	json_object_object_add(run->dump, "name", json_object_new_string(pi.name));
	json_object_object_add(run->dump, "image_name", json_object_new_string(pi.image_name));
	json_object_object_add(run->dump, "image_id", json_object_new_string(pi.image_id));
	podman_import_free(&pi);
	return 0;
}

/* ---- import policy: what an archive cannot decide alone ---- */

static char *join_quoted(char *const *items)
{
	char *list = xstrdup("");
	for (size_t i = 0; items && items[i]; i++) {
		char *next = xasprintf("%s%s`%s`", list, i ? ", " : "", items[i]);
		free(list);
		list = next;
	}
	return list;
}

static void mounts_free(struct container_mount *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].source);
		free(m[i].destination);
	}
	free(m);
}

/* Where an ignored bind mount points instead: empty, read-only. */
static int empty_bind_source(struct restore_run *run, char **out, cryo_err *err)
{
	cleanup_free char *dir = layout_empty_dir(run->engine->root);
	if (mkdir(dir, 0555) < 0 && errno != EEXIST)
		return cryo_error_set(err, errno, "create `%s`", dir);
	*out = move_ptr(dir);
	return 0;
}

/* Host bind mounts are never taken from an archive: each is named again
 * with -v HOSTDIR:/dest, or (--ignore-bind-mounts) replaced by an empty
 * read-only directory, since CRIU needs the mount point back. -v NEWVOL:/dest
 * restores a volume's data into another volume. */
static int policy_mounts(struct restore_run *run, cryo_err *err)
{
	size_t n_given = strv_len(run->opts->volumes);
	struct container_mount *given = xcalloc(n_given + 1, sizeof(*given));
	cleanup_free bool *used = xcalloc(n_given + 1, sizeof(bool));
	cleanup_strv char **unnamed = NULL;
	size_t parsed = 0;
	int r = 0;

	for (; parsed < n_given; parsed++)
		if ((r = container_mount_parse(run->opts->volumes[parsed], &given[parsed], err)) < 0) {
			cryo_error_wrap(err, "restore -v");
			goto out;
		}
	run->archived_volumes = xcalloc(run->cfg.n_mounts + 1, sizeof(char *));
	for (size_t i = 0; i < run->cfg.n_mounts; i++) {
		struct container_mount *m = &run->cfg.mounts[i];
		run->archived_volumes[i] = xstrdup(m->kind == MOUNT_VOLUME ? m->source : "");
		size_t j = 0;
		while (j < n_given && strcmp(given[j].destination, m->destination) != 0)
			j++;
		if (j < n_given && m->kind == MOUNT_TMPFS) {
			r = cryo_error_plain(
			    err, EINVAL,
			    "-v `%s`: `%s` is a tmpfs in the checkpoint, restored with its contents",
			    run->opts->volumes[j], m->destination);
			goto out;
		}
		if (j < n_given) {
			used[j] = true;
			if (given[j].kind == MOUNT_BIND) {
				/* Archive data never goes into a host directory. */
				free(run->archived_volumes[i]);
				run->archived_volumes[i] = xstrdup("");
			}
			free(m->source);
			m->source = xstrdup(given[j].source);
			m->kind = given[j].kind;
			m->readonly = given[j].readonly;
		} else if (m->kind == MOUNT_BIND && run->opts->ignore_bind_mounts) {
			free(m->source);
			if ((r = empty_bind_source(run, &m->source, err)) < 0)
				goto out;
			m->readonly = true;
		} else if (m->kind == MOUNT_BIND) {
			strv_push(&unnamed, m->destination);
		}
	}
	for (size_t j = 0; j < n_given; j++)
		if (!used[j]) {
			r = cryo_error_plain(
			    err, EINVAL,
			    "-v `%s`: the checkpoint has no mount at `%s` (a restored container has "
			    "the mounts it was checkpointed with)",
			    run->opts->volumes[j], given[j].destination);
			goto out;
		}
	if (unnamed) {
		cleanup_free char *list = join_quoted(unnamed);
		r = cryo_error_plain(
		    err, EPERM,
		    "the checkpoint's container had host bind mounts at %s, and an archive cannot "
		    "choose host directories: name each again with -v HOSTDIR:DEST, or restore "
		    "with --ignore-bind-mounts (an empty read-only directory in its place)",
		    list);
	}
out:
	mounts_free(given, parsed);
	return r;
}

/* The host network, like host directories, is the operator's to give. */
static int policy_network(struct restore_run *run, cryo_err *err)
{
	if (run->opts->network) {
		if (!network_name_is_valid(run->opts->network))
			return cryo_error_plain(err, EINVAL, "invalid --network `%s`", run->opts->network);
		free(run->cfg.network);
		run->cfg.network = xstrdup(run->opts->network);
		return 0;
	}
	if (strcmp(run->cfg.network, "host") == 0)
		return cryo_error_plain(
		    err, EPERM,
		    "the checkpoint's container used the host's network, which an archive "
		    "cannot grant: restore with --network host to allow it");
	return 0;
}

/* Capabilities beyond the default set, like host directories, are the
 * operator's to give: each is named again with --cap-add (they also open
 * the system calls the seccomp profile keeps for them). A Podman export's
 * are held to Podman's own default set by podman_import.c. */
static int policy_capabilities(struct restore_run *run, cryo_err *err)
{
	cleanup_strv char **given = xcalloc(1, sizeof(char *));
	for (size_t i = 0; run->opts->cap_add && run->opts->cap_add[i]; i++) {
		cleanup_free char *cap = NULL;
		int r = security_cap_normalize(run->opts->cap_add[i], &cap, err);
		if (r < 0)
			return cryo_error_wrap(err, "--cap-add");
		strv_push(&given, cap);
	}
	bool all_given = strv_has(given, "ALL");
	for (size_t i = 0; given && given[i]; i++)
		if (strcmp(given[i], "ALL") != 0 && !security_cap_is_default(given[i]) &&
		    !strv_has(run->cfg.cap_add, given[i]) && !strv_has(run->cfg.cap_add, "ALL"))
			return cryo_error_plain(err, EINVAL,
			                        "--cap-add `%s`: the checkpoint's container did not have it, "
			                        "and a restore cannot add capabilities (only grant those "
			                        "the archive asks for)",
			                        given[i]);
	if (run->podman)
		return 0;
	cleanup_strv char **missing = xcalloc(1, sizeof(char *));
	for (size_t i = 0; run->cfg.cap_add && run->cfg.cap_add[i]; i++) {
		const char *cap = run->cfg.cap_add[i];
		if (!security_cap_is_default(cap) && !all_given && !strv_has(given, cap))
			strv_push(&missing, cap);
	}
	if (!missing[0])
		return 0;
	cleanup_free char *list = join_quoted(missing);
	cleanup_free char *flags = xstrdup("");
	for (size_t i = 0; missing[i]; i++) {
		char *next = xasprintf("%s --cap-add %s", flags, missing[i]);
		free(flags);
		flags = next;
	}
	return cryo_error_plain(err, EPERM,
	                        "the checkpoint's container was given the capabilities %s, which an "
	                        "archive cannot grant: restore with%s to allow them",
	                        list, flags);
}

/* Limits come from the command line, else the archive; an archive without
 * one gets the engine's (an archive cannot lift limits). */
/* Adds a sentence to what the restore tells the user besides its result. */
__attribute__((format(printf, 2, 3))) static void restore_notice(struct restore_run *run, const char *fmt,
                                                                 ...)
{
	size_t used = strlen(run->stats->notice);
	if (used && used + 2 < sizeof(run->stats->notice)) {
		strcpy(run->stats->notice + used, "; ");
		used += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(run->stats->notice + used, sizeof(run->stats->notice) - used, fmt, ap);
	va_end(ap);
}

/* A limit missing from the archive gets the engine's import default, where
 * this host can enforce it at all: without the controller no container here
 * is limited, and asking runc for the limit would only fail the restore. */
static void policy_default_limit(struct restore_run *run, enum cgroup_mode mode, const char *controller,
                                 const char *key, int64_t *limit)
{
	if (*limit != 0)
		return;
	if (hostinfo_cgroup_controller(mode, controller)) {
		*limit = (int64_t)config_uint(run->engine->config, key);
		return;
	}
	restore_notice(run,
	               "the archive sets no %s limit and this host's cgroups have no %s controller, so the "
	               "default %s is not applied",
	               controller, controller, key);
}

static void policy_limits(struct restore_run *run)
{
	if (run->opts->memory_limit > 0)
		run->cfg.memory_limit = run->opts->memory_limit;
	if (run->opts->pids_limit > 0)
		run->cfg.pids_limit = run->opts->pids_limit;
	enum cgroup_mode mode;
	if (hostinfo_cgroup_mode(&mode, NULL) < 0)
		mode = CGROUP_MODE_V1; /* no cgroup root: no controller found either */
	policy_default_limit(run, mode, "memory", "import.memory_limit", &run->cfg.memory_limit);
	policy_default_limit(run, mode, "pids", "import.pids_limit", &run->cfg.pids_limit);
}

/* An existing named volume is not overwritten by an import unless asked. */
static int policy_volumes(struct restore_run *run, cryo_err *err)
{
	if (run->opts->ignore_volumes || run->opts->replace_volumes)
		return 0;
	for (size_t i = 0; i < run->cfg.n_mounts; i++) {
		const struct container_mount *m = &run->cfg.mounts[i];
		if (m->kind != MOUNT_VOLUME || !run->archived_volumes[i][0])
			continue;
		cleanup_free char *tar =
		    xasprintf("%s/" CHECKPOINT_VOLUMES_DIR "/%s.tar", run->dir, run->archived_volumes[i]);
		struct volume *v = NULL;
		if (!path_exists(tar) || state_volume_get(run->engine, m->source, &v, NULL) < 0)
			continue;
		volume_free(v);
		return cryo_error_plain(
		    err, EEXIST,
		    "volume `%s` already exists in this engine, and an import does not "
		    "overwrite it: restore into a new volume with -v NEWVOL:%s, or overwrite "
		    "it with --replace-volumes",
		    m->source, m->destination);
	}
	return 0;
}

/* Step 1b (imports): the checkpoint's configuration, held to the rules of
 * the command line and to the import policy. */
static int restore_apply_policy(struct restore_run *run, cryo_err *err)
{
	int r;
	if ((r = container_config_validate(&run->cfg, err)) < 0)
		return cryo_error_wrap(err, "the archive's configuration (`%s`)", CHECKPOINT_CONFIG);
	if ((r = policy_mounts(run, err)) < 0 || (r = policy_network(run, err)) < 0 ||
	    (r = policy_capabilities(run, err)) < 0)
		return r;
	policy_limits(run);
	if ((r = container_config_validate(&run->cfg, err)) < 0)
		return r;
	return policy_volumes(run, err);
}

/* Step 1a (imports): the archive, verified (signature, limits, checksums)
 * and unpacked into a fresh directory of the engine. */
static int restore_import(struct restore_run *run, cryo_err *err)
{
	struct trusted_keys keys = {0};
	cleanup_free char *suffix = random_id();
	int r;

	run->dir = layout_import_dir(run->engine->root, suffix);
	run->dir_is_import = true;
	/* claimed first: a killed restore's import is collected (scratch.h) */
	if ((r = scratch_claim_path(run->engine, run->dir, err)) < 0 ||
	    (r = mkdir_p(run->dir, 0700, err)) < 0 || (r = trust_import_keys(run->engine, &keys, err)) < 0)
		return r;
	const struct checkpoint_archive_read_opts ro = {
	    .limits = &run->limits,
	    .keys = &keys,
	    .insecure_unsigned = run->opts->insecure_unsigned,
	    .accept_podman = true,
	};
	struct checkpoint_archive_info info = {0};
	int64_t start = now_monotonic_us();
	if (run->opts->import_stream)
		r = checkpoint_archive_read_fd_flags(run->opts->import_fd, run->opts->import_path,
		                                     run->opts->handover ? CHECKPOINT_ARCHIVE_FRAMED : 0,
		                                     run->dir, &ro, &info, err);
	else
		r = checkpoint_archive_read(run->opts->import_path, run->dir, &ro, &info, err);
	run->stats->import_duration = now_monotonic_us() - start;
	trusted_keys_clear(&keys);
	if (r < 0)
		return r; /* the error names the archive */
	run->podman = info.podman;
	if ((r = run->podman ? read_podman_config(run, err) : read_config_dump(run, err)) < 0 ||
	    (r = restore_apply_policy(run, err)) < 0)
		return cryo_error_wrap(err, "import `%s`", run->opts->import_path);
	return 0;
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

	if (run->opts->import_path)
		return restore_import(run, err);
	if (!ref)
		return cryo_error_set(err, EINVAL, "restore: name a container, or give --import FILE");
	if ((r = container_get_locked(engine, ref, &run->c, &run->lock, err)) < 0)
		return r;
	if (!run->c->checkpoint || !path_exists(run->c->checkpoint))
		return cryo_error_set(err, ENOENT, "container `%s` has no checkpoint to restore",
		                      run->c->name);
	run->dir = xstrdup(run->c->checkpoint);
	if ((r = read_config_dump(run, err)) < 0)
		return r;
	if (run->opts->network) { /* --network moves it */
		free(run->cfg.network);
		run->cfg.network = xstrdup(run->opts->network);
		if ((r = container_config_validate(&run->cfg, err)) < 0)
			return r;
	}
	if (!run->opts->name) {
		if (container_is_active(run->c))
			return cryo_error_set(
			    err, EBUSY,
			    "restore container `%s`: it is %s; stop it first, or restore a copy with --name",
			    run->c->name, container_state_name(run->c->state));
		run->same_container = true;
		run->upper_reused = run->c->state == CONTAINER_CHECKPOINTED;
		return 0;
	}
	container_free(run->c);
	run->c = NULL;
	run->same_container = false; /* a copy (said again: &run->c went to container_get_locked) */
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
	/* A checkpoint image is never a root file system (container creation
	 * refuses it, naming it). */
	if (image_get(run->engine, image_id, &img, NULL) < 0 &&
	    image_get(run->engine, image_name, &img, NULL) < 0)
		return cryo_error_set(
		    err, ENOENT,
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

/* CRIU checks that a task's root directory has the mode it was dumped with.
 * containers/storage gives a Podman container's root mode 0555 where cryo's
 * has its image's: the upper dir (whose mode overlayfs shows at the root)
 * gets the dumped one, its permission bits only. */
static int podman_root_mode(struct restore_run *run, const char *upper, cryo_err *err)
{
	cleanup_free char *path = xasprintf("%s/" CHECKPOINT_IMAGES_DIR "/files.img", run->dir);
	cleanup_free char *data = NULL;
	size_t len = 0;
	int r = read_file_bounded(path, 64 << 20, &data, &len, err);
	if (r < 0)
		return cryo_error_wrap(err, "read CRIU's `files.img`");
	struct json_object *files = json_object_new_object();
	r = criu_image_files(data, len, files, err);
	int64_t mode = -1;
	json_object_object_foreach (files, id, f) {
		(void)id;
		struct json_object *p, *m;
		if (json_object_object_get_ex(f, "path", &p) && json_object_object_get_ex(f, "mode", &m) &&
		    (strcmp(json_object_get_string(p), "/") == 0 ||
		     strcmp(json_object_get_string(p), ".") == 0) &&
		    S_ISDIR((mode_t)json_object_get_int64(m)))
			mode = json_object_get_int64(m) & 0777;
	}
	json_object_put(files);
	if (r < 0)
		return cryo_error_wrap(err, "read CRIU's `files.img`");
	if (mode >= 0 && chmod(upper, (mode_t)mode) < 0)
		return cryo_error_set(err, errno, "chmod `%s`", upper);
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
	    (r = rootfs_diff_apply(tar, path_exists(deleted) ? deleted : NULL, fresh, &run->limits, err)) <
	        0) {
		rm_rf(fresh, NULL);
		return cryo_error_wrap(err, "restore root file system changes");
	}
	if (run->podman && (r = podman_root_mode(run, fresh, err)) < 0) {
		rm_rf(fresh, NULL);
		return r;
	}
	cleanup_free char *skipped = NULL;
	if ((r = container_write_managed_files(fresh, &run->cfg, NULL, &skipped, err)) < 0) {
		rm_rf(fresh, NULL);
		return r;
	}
	if (skipped)
		restore_notice(run, "%s", skipped);
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
		const char *archived = run->archived_volumes ? run->archived_volumes[i] : m->source;
		if (m->kind != MOUNT_VOLUME || !archived[0])
			continue;
		cleanup_free char *tar =
		    xasprintf("%s/" CHECKPOINT_VOLUMES_DIR "/%s.tar", run->dir, archived);
		if (!path_exists(tar))
			continue;
		cleanup_free char *user = NULL;
		int r = volume_users_active(run, m->source, &user, err);
		if (r < 0)
			return r;
		if (r > 0)
			return cryo_error_set(
			    err, EBUSY,
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
		if ((r = volume_restore(tar, fresh, &run->limits, err)) < 0) {
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

/* The checkpoint's address and MAC, when it was on a bridge network. An
 * archive's are checked like the command line's. */
static int checkpointed_network(struct restore_run *run, struct network_status *out, cryo_err *err)
{
	struct json_object *st;
	memset(out, 0, sizeof(*out));
	if (!json_object_object_get_ex(run->dump, "network_status", &st))
		return 0;
	struct json_object *net, *ip, *mac;
	if (!json_object_is_type(st, json_type_object) || !json_object_object_get_ex(st, "network", &net) ||
	    !json_object_is_type(net, json_type_string) || !json_object_object_get_ex(st, "ip", &ip) ||
	    !json_object_is_type(ip, json_type_string) || !json_object_object_get_ex(st, "mac", &mac) ||
	    !json_object_is_type(mac, json_type_string))
		return cryo_error_plain(err, EINVAL, "`network_status` needs strings network, ip and mac");
	const char *n = json_object_get_string(net), *i = json_object_get_string(ip),
	           *m = json_object_get_string(mac);
	if (!network_name_is_valid(n) || (*i && !network_ipv4_is_valid(i)) ||
	    (*m && !network_mac_is_valid(m)))
		return cryo_error_plain(err, EINVAL,
		                        "`network_status` holds an invalid network name, IP or MAC address");
	out->network = xstrdup(n);
	out->ip = xstrdup(i);
	out->mac = xstrdup(m);
	return 0;
}

static void add_notice(struct restore_run *run, const char *text)
{
	size_t len = strlen(run->stats->notice);
	snprintf(run->stats->notice + len, sizeof(run->stats->notice) - len, "%s%s", len ? "; " : "", text);
}

/* Step 4b: the container's network, before its processes come back: the
 * namespace CRIU restores into, the address (the checkpointed one when it is
 * free and not ignored), the published ports (-p replaces them). */
static int restore_network(struct restore_run *run, cryo_err *err)
{
	struct network_status was = {0};
	int r;

	if ((r = checkpointed_network(run, &was, err)) < 0)
		return cryo_error_wrap(err, "checkpoint configuration `%s`", CHECKPOINT_CONFIG);
	if (run->opts->publish) {
		size_t n = strv_len(run->opts->publish);
		struct port_mapping *ports = xcalloc(n + 1, sizeof(*ports));
		for (size_t i = 0; i < n; i++)
			if ((r = network_port_parse(run->opts->publish[i], &ports[i], err)) < 0) {
				network_ports_free(ports, n);
				network_status_free(&was);
				return cryo_error_wrap(err, "restore -p");
			}
		network_ports_free(run->cfg.ports, run->cfg.n_ports);
		run->cfg.ports = ports;
		run->cfg.n_ports = n;
	}
	if (run->opts->ignore_static_ip) {
		free(run->cfg.ip);
		run->cfg.ip = NULL;
	}
	if (run->opts->ignore_static_mac) {
		free(run->cfg.mac);
		run->cfg.mac = NULL;
	}
	if (!network_is_bridge(run->cfg.network)) { /* moved off a bridge network */
		free(run->cfg.ip);
		free(run->cfg.mac);
		network_ports_free(run->cfg.ports, run->cfg.n_ports);
		run->cfg.ip = run->cfg.mac = NULL;
		run->cfg.ports = NULL;
		run->cfg.n_ports = 0;
	}
	if ((r = container_config_validate(&run->cfg, err)) < 0 || !network_is_bridge(run->cfg.network)) {
		network_status_free(&was);
		return r;
	}
	/* The checkpointed address and MAC on the same network, unless ignored
	 * or taken (then new ones, and the restore says so). */
	const char *ip = run->cfg.ip, *mac = run->cfg.mac;
	if (was.network && strcmp(was.network, run->cfg.network) == 0) {
		if (!run->opts->ignore_static_ip && !ip && *was.ip)
			ip = was.ip;
		if (!run->opts->ignore_static_mac && !mac && *was.mac)
			mac = was.mac;
		bool ip_used = false, mac_used = false;
		network_address_in_use(run->engine, run->cfg.network, run->c->id, ip, mac, &ip_used,
		                       &mac_used, NULL);
		if (ip_used && ip == was.ip) {
			cleanup_free char *text =
			    xasprintf("the checkpointed IP address %s is in use: a new one was chosen", ip);
			add_notice(run, text);
			ip = NULL;
		}
		if (mac_used && mac == was.mac) {
			cleanup_free char *text =
			    xasprintf("the checkpointed MAC address %s is in use: a new one was chosen", mac);
			add_notice(run, text);
			mac = NULL;
		}
	}
	r = container_network_up(run->engine, run->c, &run->cfg, ip, mac, run->cfg.ports, run->cfg.n_ports,
	                         NULL, err);
	network_status_free(&was);
	if (r < 0)
		return r;
	run->network_attached = true;
	return 0;
}

/* The CRIU configuration for the restore (the file the spec names). runc
 * before 1.2 tells CRIU the container's new cgroup only on cgroup v1 hosts: on
 * a v2 host CRIU would put the restored tasks into the cgroup they were dumped
 * from (the source container's: frozen if that one is paused, shared with it
 * if it runs) rather than this container's. Name it, as runc 1.2 does over
 * RPC; ":" moves only the unified hierarchy. */
static char *restore_criu_config(const struct restore_run *run)
{
	enum cgroup_mode mode;
	/* runc 1.1 has no flag for CRIU's tcp-close. And a container on
	 * `--network none` gets a network namespace nobody outside holds: no
	 * packet can arrive while its sockets are restored, so CRIU's network
	 * lock (iptables rules set and removed: about 50 ms here) is skipped. */
	bool isolated = run->cfg.network && strcmp(run->cfg.network, NETWORK_NONE) == 0;
	cleanup_free char *criu_lines = criu_opts_config_lines(&run->opts->criu);
	cleanup_free char *opts = xasprintf("%s%s", criu_lines, isolated ? "network-lock skip\n" : "");
	if (hostinfo_cgroup_mode(&mode, NULL) < 0 || mode != CGROUP_MODE_V2)
		return move_ptr(opts);
	cleanup_free char *cgroup = spec_cgroup_path(run->c->id);
	return xasprintf("%scgroup-root :%s\n", opts, cgroup);
}

/* A Podman export's /dev/shm (which CRIU does not dump: a bind mount of
 * Podman's) into the container's engine file, extracted like a volume. */
static int restore_podman_shm(struct restore_run *run, cryo_err *err)
{
	cleanup_free char *tar = xasprintf("%s/" PODMAN_DEVSHM_TAR, run->dir);
	cleanup_free char *shm = spec_engine_file_path(run->engine, run->c->id, "/dev/shm");
	bool wanted = false;
	for (size_t i = 0; run->cfg.engine_files && run->cfg.engine_files[i]; i++)
		wanted |= strcmp(run->cfg.engine_files[i], "/dev/shm") == 0;
	if (!wanted || !path_exists(tar))
		return 0;
	int r = volume_restore(tar, shm, &run->limits, err);
	if (r < 0)
		return cryo_error_wrap(err, "restore Podman's /dev/shm (`%s`)", PODMAN_DEVSHM_TAR);
	return 0;
}

/* A handover (restore_opts.handover): the action script CRIU runs at
 * `pre-resume`, when every task is restored but still stopped by CRIU,
 * before any runs an instruction of its own: it freezes the container's
 * cgroup (created by the runtime for this restore, named by the engine:
 * no word of the script comes from the checkpoint), then writes the stamp
 * that tells restore_commit it did. Returns the CRIU configuration line. */
static int restore_handover_script(const struct restore_run *run, const char *bundle, char **line,
                                   cryo_err *err)
{
	struct freezer f = {0};
	cleanup_free char *cgroup = spec_cgroup_path(run->c->id);
	int r = freezer_for_cgroup(cgroup, &f, err);
	if (r < 0)
		return cryo_error_wrap(err, "restore container `%s` frozen", run->c->name);
	cleanup_free char *state_file =
	    xasprintf("%s/%s", f.dir, f.kind == FREEZER_V1 ? "freezer.state" : "cgroup.freeze");
	/* f.dir is the hierarchy's root, then f.cgroup. */
	size_t root_len =
	    strlen(f.dir) - (f.cgroup && str_has_suffix(f.dir, f.cgroup) ? strlen(f.cgroup) : 0);
	cleanup_free char *root_procs = xasprintf("%.*s/cgroup.procs", (int)root_len, f.dir);
	freezer_release(&f);
	cleanup_free char *script = xasprintf("%s/" RESTORE_HANDOVER_SCRIPT, bundle);
	cleanup_free char *stamp = xasprintf("%s/" RESTORE_HANDOVER_STAMP, bundle);
	unlink(stamp);
	cleanup_free char *state_word = shell_quote(state_file);
	cleanup_free char *stamp_word = shell_quote(stamp);
	cleanup_free char *procs_word = shell_quote(root_procs);
	/* The runtime put CRIU itself into the container's cgroup (its tasks
	 * are born there), and this script is CRIU's child: both leave the
	 * freezer's cgroup first, or the freeze would stop CRIU too. */
	cleanup_free char *text =
	    xasprintf("#!/bin/sh\n"
	              "# Written by cryo: a migration's handover restores the container frozen.\n"
	              "[ \"$CRTOOLS_SCRIPT_ACTION\" = pre-resume ] || exit 0\n"
	              "[ \"$(cat /proc/$PPID/comm)\" = criu ] || exit 1\n"
	              "echo $PPID > %s && echo $$ > %s && echo %s > %s && : > %s\n",
	              procs_word, procs_word, strstr(state_file, "freezer.state") ? "FROZEN" : "1",
	              state_word, stamp_word);
	if ((r = write_file(script, text, strlen(text), 0700, err)) < 0)
		return r;
	*line = xasprintf("action-script %s\n", script);
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
	if (r < 0 || (run->podman && (r = restore_podman_shm(run, err)) < 0))
		return r;
	cleanup_free char *criu_config = restore_criu_config(run);
	if (run->opts->handover) {
		cleanup_free char *line = NULL;
		if ((r = restore_handover_script(run, bundle, &line, err)) < 0)
			return r;
		char *both = xasprintf("%s%s", criu_config, line);
		free(criu_config);
		criu_config = both;
	}
	if ((r = spec_write_criu_config(bundle, criu_config, err)) < 0)
		return r;
	runtime_delete(run->engine, run->c->id, true, NULL);
	return container_mount_rootfs(run->engine, run->c, err);
}

/* Step 6: the runtime's restore, under a monitor like any container. */
static int restore_processes(struct restore_run *run, cryo_err *err)
{
	cleanup_free char *images = xasprintf("%s/" CHECKPOINT_IMAGES_DIR, run->dir);
	cleanup_free char *work = layout_restore_work(run->engine->runroot, run->c->id);
	int r;
	if ((r = rm_rf(work, err)) < 0 || (r = mkdir_p(work, 0700, err)) < 0)
		return r;
	struct runtime_restore_opts ro = {.criu = run->opts->criu};
	ro.criu.image_path = images;
	ro.criu.work_path = work;
	pid_t lazy_daemon = 0;
	if (run->opts->lazy_pages_from) {
		ro.criu.lazy_pages = true;
		if ((r = runtime_lazy_pages_start(run->engine, images, work, run->opts->lazy_pages_from,
		                                  &lazy_daemon, err)) < 0)
			return r;
	}
	struct monitor_opts mon_opts;
	container_monitor_opts(run->engine, run->c->id, run->cfg.auto_remove, &mon_opts);
	if ((r = monitor_start(run->engine, run->c->id, MONITOR_RESTORE, &ro, &mon_opts, &run->mon, err)) <
	    0) {
		/* it would wait for a restore for ever */
		if (lazy_daemon > 0)
			kill(lazy_daemon, SIGKILL);
		return r;
	}
	run->stats->runtime_restore_duration = run->mon.runtime_duration_us;
	cleanup_free char *criu_stats = xasprintf("%s/stats-restore", work);
	if (criu_stats_read_restore(criu_stats, &run->stats->criu, NULL) == 0)
		run->stats->have_criu_stats = true;
	/* Lazy: the lazy-pages daemon works there (and logs) after this. */
	if (!run->opts->keep && !run->opts->lazy_pages_from)
		rm_rf(work, NULL);
	return 0;
}

/* A handover's restore: the action script froze the container before it
 * resumed (its stamp), and the cgroup is frozen now. Otherwise its tasks
 * may have run: the restore fails, and restore_abort kills them. */
static int restore_check_frozen(struct restore_run *run, cryo_err *err)
{
	cleanup_free char *bundle = container_bundle_dir(run->engine, run->c->id);
	cleanup_free char *stamp = xasprintf("%s/" RESTORE_HANDOVER_STAMP, bundle);
	cleanup_free char *cgroup = spec_cgroup_path(run->c->id);
	struct freezer f = {0};
	bool frozen = false;
	int r;
	if (!path_exists(stamp))
		return cryo_error_set(
		    err, EIO,
		    "restore container `%s` frozen: CRIU's pre-resume action did not freeze "
		    "it (no `%s`), so it may have run",
		    run->c->name, stamp);
	if ((r = freezer_for_cgroup(cgroup, &f, err)) < 0)
		return r;
	r = freezer_is_frozen(&f, &frozen, err);
	if (r == 0 && !frozen) /* still freezing: wait for the kernel to finish */
		r = freezer_freeze(&f, FREEZER_TIMEOUT_US, err);
	freezer_release(&f);
	unlink(stamp);
	if (r < 0)
		return cryo_error_wrap(err, "restore container `%s` frozen", run->c->name);
	return 0;
}

/* Step 7: running, and recorded as such. CRIU puts a v1 freezer cgroup back
 * the way it was dumped, and a live checkpoint is dumped frozen: a restored
 * container must run, so thaw it if it came back frozen. */
static int restore_commit(struct restore_run *run, cryo_err *err)
{
	struct freezer f = {0};
	cleanup_free char *cgroup = spec_cgroup_path(run->c->id);
	if (run->opts->handover) {
		int r;
		if ((r = restore_check_frozen(run, err)) < 0)
			return r;
	} else if (freezer_for_cgroup(cgroup, &f, NULL) == 0) {
		bool frozen = false;
		if (freezer_is_frozen(&f, &frozen, NULL) == 0 && frozen)
			freezer_thaw(&f, NULL);
		freezer_release(&f);
	}
	run->c->state = run->opts->handover ? CONTAINER_PAUSED : CONTAINER_RUNNING;
	run->c->pid = run->mon.container_pid;
	run->c->monitor_pid = run->mon.monitor_pid;
	run->c->exit_code = -1;
	run->c->started = now_realtime_us();
	run->c->finished = 0;
	if (run->same_container && !run->opts->keep) {
		free(run->c->checkpoint);
		run->c->checkpoint = NULL;
	}
	/* The network and ports the restore gave it are its own from now on. */
	struct json_object *cfg_json = container_config_to_json(&run->cfg);
	free(run->c->config);
	run->c->config = xstrdup(json_object_to_json_string_ext(cfg_json, JSON_C_TO_STRING_PLAIN));
	json_object_put(cfg_json);
	int r = state_container_update(run->engine, run->c, err);
	if (r < 0)
		return r;
	if (run->network_attached) /* the network's other containers learn its name */
		container_network_refresh_hosts(run->engine, run->cfg.network, run->c->id);
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
	if (run->network_attached)
		container_network_down(run->engine, run->c, NULL);
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
		cleanup_free char *kept = layout_kept_import(run->engine->root, run->c->id);
		rm_rf(kept, NULL);
		rename(run->dir, kept);
	}
	free(run->dir);
	if (run->dump)
		json_object_put(run->dump);
	container_config_free(&run->cfg);
	container_free(run->c);
	strv_free(run->replaced);
	strv_free(run->archived_volumes);
	if (run->lock >= 0)
		close(run->lock);
}

/* A phase change for progress.h (phase NULL: none); returns 0, to sit in the
 * list of steps. The restored container's name once it has one. */
static int restore_progress(struct restore_run *run, const char *ref, const char *phase, int64_t start)
{
	if (!phase)
		return 0;
	struct cryo_progress p = {
	    .operation = "restore",
	    .container = run->c            ? run->c->name
	                 : run->opts->name ? run->opts->name
	                 : ref             ? ref
	                                   : "",
	    .phase = phase,
	    .elapsed_us = now_monotonic_us() - start,
	};
	struct stat st;
	if (strcmp(phase, "importing") == 0 && !run->opts->import_stream &&
	    stat(run->opts->import_path, &st) == 0)
		p.bytes = (uint64_t)st.st_size;
	cryo_progress_report(&p);
	return 0;
}

int restore_container(struct cryo_engine *engine, const char *ref, const struct restore_opts *opts,
                      struct container **out, struct restore_stats *stats, cryo_err *err)
{
	struct restore_run run = {.engine = engine, .opts = opts, .stats = stats, .lock = -1};
	int64_t start = now_monotonic_us();
	int r;

	memset(stats, 0, sizeof(*stats));
	extract_limits_from_config(engine->config, &run.limits);
	if ((r = restore_progress(&run, ref, opts->import_path ? "importing" : NULL, start)) < 0 ||
	    (r = restore_locate(&run, ref, err)) < 0 ||
	    (r = restore_progress(&run, ref, "preparing", start)) < 0 ||
	    (r = restore_prepare_container(&run, err)) < 0 || (r = restore_rootfs(&run, err)) < 0 ||
	    (r = restore_volumes(&run, err)) < 0 || (r = restore_network(&run, err)) < 0 ||
	    (r = restore_bundle(&run, err)) < 0 ||
	    (r = restore_progress(&run, ref, "restoring", start)) < 0 ||
	    (r = restore_processes(&run, err)) < 0 || (r = restore_commit(&run, err)) < 0)
		goto fail;
	stats->restore_duration = now_monotonic_us() - start;
	restore_progress(&run, ref, "done", start);
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
	json_object_object_add(o, "runtime_restore_duration",
	                       json_object_new_int64(s->runtime_restore_duration));
	json_object_object_add(o, "import_duration", json_object_new_int64(s->import_duration));
	json_object_object_add(o, "rootfs_apply_duration", json_object_new_int64(s->rootfs_apply_duration));
	json_object_object_add(o, "volumes_restore_duration",
	                       json_object_new_int64(s->volumes_restore_duration));
	if (s->have_criu_stats) {
		json_object_object_add(o, "forking_time", json_object_new_int64(s->criu.forking_time));
		json_object_object_add(o, "restore_time", json_object_new_int64(s->criu.restore_time));
		json_object_object_add(o, "pages_restored",
		                       json_object_new_int64((int64_t)s->criu.pages_restored));
	}
	if (s->notice[0])
		json_object_object_add(o, "notice", json_object_new_string(s->notice));
	return o;
}
