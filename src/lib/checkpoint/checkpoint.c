#include "checkpoint.h"

#include <fcntl.h>
#include <stdio.h>
#include <libgen.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "container.h"
#include "freeze_hook.h"
#include "freezer.h"
#include "layout.h"
#include "progress.h"
#include "lock.h"
#include "overlay.h"
#include "rootfs_diff.h"
#include "scratch.h"
#include "signal_hold.h"
#include "runtime.h"
#include "runtime_info.h"
#include "spec.h"
#include "state.h"
#include "test_hooks.h"
#include "trust.h"
#include "util.h"
#include "volume.h"

/* How a checkpoint keeps the container still from the dump to the end of the
 * capture; decided once, before anything is touched
 * (checkpoint_decide_freeze_mode). */
enum freeze_mode {
	FREEZE_STOPPING,      /* a stopping checkpoint: frozen before the capture that precedes its
	                       * dump (a watchdog thaws it should cryo die); the dump ends the
	                       * tasks, so it has no frozen window */
	FREEZE_PAUSED,        /* paused by the user: frozen already; checked, never thawed by cryo */
	FREEZE_IN_HOOK,       /* CRIU's pre-dump action runs the freeze hook (freeze_hook.h) */
	FREEZE_BEFORE_DUMP,   /* the spec names no CRIU configuration (an older cryo's container):
	                       * frozen before the runtime starts */
	FREEZE_TEST_DISABLED, /* a live checkpoint without cryo's freeze (CRYO_TEST_DISABLE_FREEZE) */
};

/* Everything one checkpoint run knows and owns. */
struct checkpoint_run {
	struct cryo_engine *engine;
	const struct checkpoint_opts *opts;
	struct checkpoint_stats *stats;
	struct container *c;
	struct container_config cfg;
	bool was_paused;
	enum freeze_mode freeze_mode;
	bool test_thaw_after_archive;

	char *dir;       /* the checkpoint directory being built */
	char *final_dir; /* where the engine keeps it */
	char *work_dir;  /* CRIU's logs */

	struct freezer freezer;
	struct freeze_hook hook; /* FREEZE_IN_HOOK */
	char *thawed_marker;     /* tells the hook's watchdog that we thawed */
	bool frozen_by_us;       /* frozen now by cryo or its hook: the thaw's business */
	int64_t frozen_at;
	bool monitor_detached;
	int saved_monitor_pid;
	bool exported;
	bool handed_over;                /* the handoff succeeded: the container runs elsewhere */
	bool tasks_ended;                /* a stopping dump succeeded: only the checkpoint holds it */
	bool files_kept;                 /* the checkpoint directory is at final_dir */
	struct signing_key *signing_key; /* signs the exported archive's manifest */
	struct runtime_lazy_dump lazy;   /* criu.lazy_pages: the dump serving the memory pages */
	char *lazy_failure;              /* why the pages did not all reach the destination */

	/* Reflink snapshots of the root file system's changes and of the
	 * volumes (rootfs_diff.h), where the file system has them: taken in the
	 * frozen window, written as tars after the thaw. NULL snap: captured
	 * the usual way. */
	struct pending_capture {
		struct capture_snapshot *snap;
		char *volume; /* NULL: the root file system */
		char *name;   /* streamed: its name in the archive */
		int64_t size; /* streamed: its tar's size */
	} * captures;
	size_t n_captures;
	/* The snapshots' tars streamed into the exported archive instead of
	 * written as files first (checkpoint_archive_source). */
	struct checkpoint_archive_source *sources;
	size_t n_sources;

	/* Other running containers that use a volume being captured: locked,
	 * and frozen while it is captured (see checkpoint_freeze_volume_users). */
	struct volume_neighbour {
		char *name;
		struct freezer freezer;
		int lock;
		bool frozen_by_us;
		char *thawed_marker; /* tells its watchdog that we thawed it */
	} * neighbours;
	size_t n_neighbours;
};

/* Test switch `name`=N: wait N ms. */
static void test_delay(const char *name)
{
	const char *ms = test_hook_getenv(name);
	if (!ms || atoi(ms) <= 0)
		return;
	struct timespec ts = {atoi(ms) / 1000, (long)(atoi(ms) % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Test switch: stay in the frozen window a while, so a test can kill cryo there. */
static void test_delay_in_frozen_window(void)
{
	test_delay(CHECKPOINT_TEST_FROZEN_DELAY_MS);
}

static int check_export_target(const char *path, cryo_err *err)
{
	cleanup_free char *copy = xstrdup(path);
	const char *dir = dirname(copy);
	struct stat st;
	if (stat(dir, &st) < 0)
		return cryo_error_set(err, errno, "export to `%s`: directory `%s`", path, dir);
	if (!S_ISDIR(st.st_mode))
		return cryo_error_set(err, ENOTDIR, "export to `%s`: `%s` is not a directory", path, dir);
	if (access(dir, W_OK) < 0)
		return cryo_error_set(err, errno, "export to `%s`: directory `%s` is not writable", path,
		                      dir);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return cryo_error_set(err, EISDIR, "export to `%s`: it is a directory", path);
	return 0;
}

static int write_json_file(const char *path, struct json_object *o, cryo_err *err)
{
	const char *text =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	return write_file(path, text, strlen(text), 0600, err);
}

/* Go's time.Time in JSON (RFC 3339 with nanoseconds, UTC), as checkpointctl
 * and Podman read config.dump's createdTime and checkpointedTime. */
static struct json_object *rfc3339_json(int64_t realtime_us)
{
	time_t t = (time_t)(realtime_us / 1000000);
	struct tm tm;
	char date[32];
	if (!gmtime_r(&t, &tm) || !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm))
		return json_object_new_string("0001-01-01T00:00:00Z");
	cleanup_free char *s = xasprintf("%s.%06lldZ", date, (long long)(realtime_us % 1000000));
	return json_object_new_string(s);
}

/* The fields checkpointctl reads from config.dump (its ContainerConfig: id,
 * name, rootfsImageName, runtime, createdTime, checkpointedTime), beside
 * cryo's own, and the versions of the runtime and CRIU that made it. */
static void add_checkpointctl_fields(struct checkpoint_run *run, struct json_object *o, int64_t checkpointed)
{
	json_object_object_add(o, "rootfsImageName", json_object_new_string(run->c->image_name));
	json_object_object_add(o, "rootfsImageID", json_object_new_string(run->c->image_id));
	json_object_object_add(o, "createdTime", rfc3339_json(run->c->created));
	json_object_object_add(o, "checkpointedTime", rfc3339_json(checkpointed));
	struct runtime_info rt = {0};
	if (runtime_info_get(run->engine, &rt, NULL) == 0) {
		json_object_object_add(o, "runtime", json_object_new_string(rt.name));
		if (rt.version)
			json_object_object_add(o, "runtime_version", json_object_new_string(rt.version));
	}
	runtime_info_free(&rt);
	struct criu_info ci = {0};
	if (criu_info_get(run->engine, &ci, NULL) == 0 && ci.version)
		json_object_object_add(o, "criu_version", json_object_new_string(ci.version));
	criu_info_free(&ci);
}

/* config.dump: what a restore needs to rebuild the container elsewhere. */
static int write_config_dump(struct checkpoint_run *run, cryo_err *err)
{
	int64_t checkpointed = now_realtime_us();
	struct json_object *o = json_object_new_object();
	struct json_object *volumes = json_object_new_array();
	json_object_object_add(o, "format", json_object_new_string("cryo-checkpoint"));
	json_object_object_add(o, "cryo_version", json_object_new_string(CRYO_VERSION));
	json_object_object_add(o, "id", json_object_new_string(run->c->id));
	json_object_object_add(o, "name", json_object_new_string(run->c->name));
	json_object_object_add(o, "image_id", json_object_new_string(run->c->image_id));
	json_object_object_add(o, "image_name", json_object_new_string(run->c->image_name));
	json_object_object_add(o, "created", json_object_new_int64(run->c->created));
	json_object_object_add(o, "checkpointed", json_object_new_int64(checkpointed));
	add_checkpointctl_fields(run, o, checkpointed);
	json_object_object_add(o, "leave_running", json_object_new_boolean(run->opts->criu.leave_running));
	json_object_object_add(o, "was_paused", json_object_new_boolean(run->was_paused));
	json_object_object_add(o, "rootfs_included", json_object_new_boolean(!run->opts->ignore_rootfs));
	for (size_t i = 0; i < run->cfg.n_mounts && !run->opts->ignore_volumes; i++)
		if (run->cfg.mounts[i].kind == MOUNT_VOLUME)
			json_object_array_add(volumes, json_object_new_string(run->cfg.mounts[i].source));
	json_object_object_add(o, "volumes_included", volumes);
	json_object_object_add(o, "config", container_config_to_json(&run->cfg));
	/* The address and MAC the container had: a restore asks for them back. */
	struct network_status net = {0};
	if (network_status_read(run->engine, run->c->id, &net, NULL) == 0)
		json_object_object_add(o, "network_status", network_status_to_json(&net));
	network_status_free(&net);
	cleanup_free char *path = xasprintf("%s/" CHECKPOINT_CONFIG, run->dir);
	int r = write_json_file(path, o, err);
	json_object_put(o);
	return r;
}

/* spec.dump: the spec the container ran with, annotated with the engine
 * that checkpointed it (checkpointctl tells engines apart by it). */
static int write_spec_dump(const char *path, const char *text, size_t len, cryo_err *err)
{
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		oom();
	struct json_object *spec = json_tokener_parse_ex(tok, text, (int)len), *ann;
	json_tokener_free(tok);
	if (!spec || !json_object_is_type(spec, json_type_object)) {
		if (spec)
			json_object_put(spec);
		return cryo_error_plain(err, EINVAL, "the container's OCI spec is not a JSON object");
	}
	if (!json_object_object_get_ex(spec, "annotations", &ann) ||
	    !json_object_is_type(ann, json_type_object)) {
		ann = json_object_new_object();
		json_object_object_add(spec, "annotations", ann);
	}
	json_object_object_add(ann, CHECKPOINT_MANAGER_ANNOTATION,
	                       json_object_new_string(CHECKPOINT_MANAGER));
	int r = write_json_file(path, spec, err);
	json_object_put(spec);
	return r;
}

static bool spec_names_criu_config(const char *bundle, const char *criu_conf)
{
	cleanup_free char *path = xasprintf("%s/config.json", bundle);
	cleanup_free char *text = NULL;
	if (read_file(path, &text, NULL, NULL) < 0)
		return false;
	struct json_object *spec = json_tokener_parse(text), *annotations, *conf;
	bool named = spec && json_object_object_get_ex(spec, "annotations", &annotations) &&
	             json_object_object_get_ex(annotations, "org.criu.config", &conf) &&
	             strcmp(json_object_get_string(conf), criu_conf) == 0;
	if (spec)
		json_object_put(spec);
	return named;
}

/* Whether process pid's network namespace has no interface but the loopback
 * (/proc/PID/net/dev lists the interfaces of its namespace): nothing from
 * outside can send to it. False when it cannot be read. */
static bool netns_only_loopback(int pid)
{
	cleanup_free char *path = xasprintf("/proc/%d/net/dev", pid);
	cleanup_free char *text = NULL;
	if (pid <= 0 || read_file(path, &text, NULL, NULL) < 0)
		return false;
	int interfaces = 0;
	bool other = false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue; /* the two header lines */
		*colon = '\0';
		line += strspn(line, " ");
		interfaces++;
		other = other || strcmp(line, "lo") != 0;
	}
	return interfaces > 0 && !other;
}

/* CRIU's network lock keeps packets from reaching the namespace's sockets
 * while it dumps them (iptables rules: about 50 ms of its frozen time here).
 * A container on `--network none` whose namespace still has only `lo` cannot
 * receive anything from outside, and everything inside is frozen: no lock is
 * needed. A bridge network's namespace (a veth to the host) and the host's
 * own keep it. */
static bool checkpoint_needs_network_lock(struct checkpoint_run *run)
{
	if (!run->cfg.network || strcmp(run->cfg.network, NETWORK_NONE) != 0)
		return true;
	return !netns_only_loopback(run->c->pid);
}

/* Freeze as late as consistency allows: not before the runtime starts, but in
 * CRIU's pre-dump action script, which runs after runc's start-up and CRIU's
 * kernel probing and right before CRIU seizes the tasks. CRIU then finds the
 * cgroup frozen and puts it back to frozen before it lets go of any task, so
 * nothing runs between the dump and the file-system capture. Containers whose
 * spec does not hand runc a CRIU configuration (created by an older cryo) are
 * frozen before the runtime starts instead. */
static enum freeze_mode checkpoint_decide_freeze_mode(struct checkpoint_run *run)
{
	if (!run->opts->criu.leave_running)
		return run->was_paused ? FREEZE_PAUSED : FREEZE_STOPPING;
	if (test_switch_on(CHECKPOINT_TEST_DISABLE_FREEZE))
		return FREEZE_TEST_DISABLED;
	if (run->was_paused)
		return FREEZE_PAUSED;
	cleanup_free char *bundle = container_bundle_dir(run->engine, run->c->id);
	cleanup_free char *criu_conf = xasprintf("%s/" SPEC_CRIU_CONFIG, bundle);
	cleanup_free char *exe = realpath("/proc/self/exe", NULL);
	if (!exe || !spec_names_criu_config(bundle, criu_conf))
		return FREEZE_BEFORE_DUMP;
	run->hook.exe = move_ptr(exe);
	return FREEZE_IN_HOOK;
}

/* Whether the container must be frozen from the dump to the end of the
 * capture (and checked to be). */
static bool freeze_mode_keeps_frozen(enum freeze_mode mode)
{
	return mode == FREEZE_PAUSED || mode == FREEZE_IN_HOOK || mode == FREEZE_BEFORE_DUMP;
}

/* The CRIU configuration for the dump: the options runc has no flag for, and
 * for FREEZE_IN_HOOK the action script. */
static int checkpoint_arm_freeze_hook(struct checkpoint_run *run, cryo_err *err)
{
	cleanup_free char *bundle = container_bundle_dir(run->engine, run->c->id);
	int r;

	/* runc has no flag for CRIU's skip-in-flight, nor for its network lock:
	 * the configuration file (CRIU reads `network-lock` there with
	 * patches/criu/0001). */
	run->stats->network_lock = checkpoint_needs_network_lock(run);
	cleanup_free char *criu_lines = criu_opts_config_lines(&run->opts->criu);
	cleanup_free char *options =
	    xasprintf("%s%s", criu_lines, run->stats->network_lock ? "" : "network-lock skip\n");
	if (run->freeze_mode != FREEZE_IN_HOOK)
		return spec_write_criu_config(bundle, options, err);
	run->thawed_marker = layout_thawed_marker(run->engine->runroot, run->c->id, getpid());
	unlink(run->thawed_marker);
	cleanup_free char *hook_line = NULL;
	if ((r = freeze_hook_arm(&run->hook, run->work_dir, &run->freezer, run->c->pid, run->thawed_marker,
	                         &hook_line, err)) < 0)
		return r;
	cleanup_free char *conf = xasprintf("%s%s", options, hook_line);
	if ((r = spec_write_criu_config(bundle, conf, err)) < 0)
		return r;
	run->hook.armed = true;
	return 0;
}

/* The next CRIU run for this container (a stopping checkpoint, a restore)
 * must not freeze it. */
static void checkpoint_disarm_freeze_hook(struct checkpoint_run *run)
{
	if (!run->hook.armed)
		return;
	cleanup_free char *bundle = container_bundle_dir(run->engine, run->c->id);
	spec_write_criu_config(bundle, "", NULL);
}

/* After the dump: the hook must have frozen the container, it must still be
 * frozen, and every one of its tasks must be in the frozen cgroup, or the
 * capture that follows would not be consistent. */
static int checkpoint_check_frozen(struct checkpoint_run *run, cryo_err *err)
{
	/* A stopping dump ended the tasks: nothing is left to be frozen. */
	if (!freeze_mode_keeps_frozen(run->freeze_mode) || !run->opts->criu.leave_running)
		return 0;
	bool frozen = false;
	int64_t frozen_at = 0, frozen_after = 0;
	if (run->freeze_mode == FREEZE_IN_HOOK &&
	    freeze_hook_frozen_at(&run->hook, &frozen_at, &frozen_after)) {
		run->frozen_by_us = true;
		run->frozen_at = frozen_at;
		run->stats->freeze_duration = frozen_after - frozen_at;
	}
	int r = freezer_is_frozen(&run->freezer, &frozen, err);
	if (r < 0)
		return r;
	if (run->freeze_mode == FREEZE_IN_HOOK && (!run->frozen_by_us || !frozen))
		return cryo_error_set(
		    err, EIO,
		    "the container is not frozen after the runtime's checkpoint (freeze hook %s): "
		    "refusing a checkpoint that could be inconsistent",
		    run->frozen_by_us ? "ran" : "did not run");
	if (!frozen)
		return cryo_error_set(err, EIO,
		                      "cgroup `%s` is not frozen after the runtime's checkpoint: refusing a "
		                      "checkpoint that could be inconsistent",
		                      run->freezer.cgroup);
	if ((r = freezer_check_tasks_beneath(&run->freezer, run->c->pid, err)) < 0)
		return cryo_error_wrap(err, "after the dump");
	return 0;
}

static struct capture_snapshot *find_snapshot(struct checkpoint_run *run, const char *volume)
{
	for (size_t i = 0; i < run->n_captures; i++)
		if ((volume == NULL) == (run->captures[i].volume == NULL) &&
		    (!volume || strcmp(volume, run->captures[i].volume) == 0))
			return run->captures[i].snap;
	return NULL;
}

static int open_snapshot(struct checkpoint_run *run, const char *root, bool overlay, char *const *skip,
                         const char *volume, cryo_err *err)
{
	struct capture_snapshot *snap = NULL;
	/* Where reflinks are absent, a copy made ahead of the freeze keeps
	 * the unchanged files' data out of the frozen window, where it pays
	 * (most bytes in larger files); not for a paused container, which
	 * cannot change its files anyway. */
	bool precopy = run->freeze_mode != FREEZE_PAUSED && !test_switch_on(CHECKPOINT_TEST_NO_PRECOPY) &&
	               capture_snapshot_precopy_pays(root, NULL);
	int r = capture_snapshot_open(root, overlay, skip, run->dir, precopy, &snap, err);
	if (r < 0)
		return r;
	run->captures = xrealloc(run->captures, (run->n_captures + 1) * sizeof(*run->captures));
	run->captures[run->n_captures++] =
	    (struct pending_capture){.snap = snap, .volume = volume ? xstrdup(volume) : NULL};
	return 0;
}

/* Before the freeze: find out whether the trees can be snapshotted by
 * reflinks (by trying one), and write back their dirty data now: a clone
 * first writes back the range it clones, which would otherwise happen in the
 * frozen window. Where they cannot, copy the trees now (rootfs_diff.h,
 * capture_snapshot_precopy): the frozen window then copies only what
 * changes from here on. */
static int checkpoint_open_snapshots(struct checkpoint_run *run, cryo_err *err)
{
	int r;
	cleanup_free char *upper = container_upper_dir(run->engine, run->c->id);
	if (!run->opts->ignore_rootfs &&
	    (r = open_snapshot(run, upper, true, (char *const *)container_managed_files, NULL, err)) < 0)
		return cryo_error_wrap(err, "snapshot root file system changes");
	for (size_t i = 0; i < run->cfg.n_mounts && !run->opts->ignore_volumes; i++) {
		const struct container_mount *m = &run->cfg.mounts[i];
		if (m->kind != MOUNT_VOLUME || find_snapshot(run, m->source))
			continue;
		cleanup_free char *data = volume_data_dir(run->engine, m->source);
		if ((r = open_snapshot(run, data, false, NULL, m->source, err)) < 0)
			return cryo_error_wrap(err, "snapshot volume `%s`", m->source);
	}
	size_t snapshots = 0, cloned = 0;
	for (size_t i = 0; i < run->n_captures; i++) {
		snapshots += run->captures[i].snap != NULL;
		cloned += run->captures[i].snap && capture_snapshot_clones(run->captures[i].snap);
	}
	run->stats->capture_method = !run->n_captures                          ? CAPTURE_NONE
	                             : !snapshots                              ? CAPTURE_COPY
	                             : cloned == run->n_captures               ? CAPTURE_REFLINK
	                             : !cloned && snapshots == run->n_captures ? CAPTURE_PRECOPY
	                                                                       : CAPTURE_MIXED;
	if (cloned) {
		int64_t start = now_monotonic_us();
		cleanup_close int fd = open(run->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			syncfs(fd);
		run->stats->capture_flush_duration = now_monotonic_us() - start;
	}
	if (snapshots > cloned) {
		int64_t start = now_monotonic_us();
		for (size_t i = 0; i < run->n_captures; i++) {
			struct capture_snapshot *snap = run->captures[i].snap;
			if (snap && !capture_snapshot_clones(snap))
				capture_snapshot_precopy(snap);
			if (snap) {
				struct capture_snapshot_stats ss;
				capture_snapshot_stats(snap, &ss);
				run->stats->capture_precopied_bytes += ss.precopied_bytes;
			}
		}
		run->stats->capture_precopy_duration = now_monotonic_us() - start;
		test_delay(CHECKPOINT_TEST_PRECOPY_DELAY_MS);
	}
	return 0;
}

static int snapshot_source_write(void *data, checkpoint_archive_emit_fn emit, void *ctx, cryo_err *err)
{
	struct pending_capture *pc = data;
	return capture_snapshot_emit_tar(pc->snap, emit, ctx, pc->size, err);
}

/* Whether the snapshots' tars go straight into the exported archive: an
 * export of a live checkpoint whose directory is not kept, after the thaw. */
static bool stream_snapshots(const struct checkpoint_run *run)
{
	const struct checkpoint_opts *o = run->opts;
	return o->criu.leave_running && (o->export_path || o->export_stream) && !o->keep && !o->handoff &&
	       !run->test_thaw_after_archive;
}

/* A snapshot's tar as a source of the archive: its deleted list written,
 * its tar's size found (no data read), an empty file of that name in its
 * place (its mode and times go into the archive entry). */
static int stream_snapshot(struct checkpoint_run *run, struct pending_capture *pc, const char *tar,
                           const char *deleted, struct rootfs_diff_stats *ds, cryo_err *err)
{
	int r;
	if (deleted && (r = capture_snapshot_write_deleted(pc->snap, deleted, err)) < 0)
		return r;
	if ((r = capture_snapshot_tar_size(pc->snap, &pc->size, ds, err)) < 0)
		return r;
	if ((r = write_file(tar, "", 0, 0600, err)) < 0)
		return r;
	pc->name = pc->volume ? xasprintf(CHECKPOINT_VOLUMES_DIR "/%s.tar", pc->volume)
	                      : xstrdup(CHECKPOINT_ROOTFS_DIFF);
	run->sources = xrealloc(run->sources, (run->n_sources + 1) * sizeof(*run->sources));
	run->sources[run->n_sources++] = (struct checkpoint_archive_source){
	    .name = pc->name, .size = pc->size, .write = snapshot_source_write, .data = pc};
	return 0;
}

/* After the thaw: the tars of the snapshots, or, for an export that keeps
 * no directory, what it takes to stream them into the archive. */
static int checkpoint_write_snapshots(struct checkpoint_run *run, cryo_err *err)
{
	if (run->stats->capture_method != CAPTURE_REFLINK && run->stats->capture_method != CAPTURE_MIXED &&
	    run->stats->capture_method != CAPTURE_PRECOPY)
		return 0;
	int64_t start = now_monotonic_us();
	bool stream = stream_snapshots(run);
	for (size_t i = 0; i < run->n_captures; i++) {
		struct pending_capture *pc = &run->captures[i];
		if (!pc->snap || pc->name)
			continue;
		struct rootfs_diff_stats ds = {0};
		cleanup_free char *tar =
		    pc->volume ? xasprintf("%s/" CHECKPOINT_VOLUMES_DIR "/%s.tar", run->dir, pc->volume)
		               : xasprintf("%s/" CHECKPOINT_ROOTFS_DIFF, run->dir);
		cleanup_free char *deleted =
		    pc->volume ? NULL : xasprintf("%s/" CHECKPOINT_DELETED_FILES, run->dir);
		int r = stream ? stream_snapshot(run, pc, tar, deleted, &ds, err)
		               : capture_snapshot_write(pc->snap, tar, deleted, &ds, err);
		if (r < 0)
			return pc->volume ? cryo_error_wrap(err, "capture volume `%s`", pc->volume)
			                  : cryo_error_wrap(err, "capture root file system changes");
		if (!pc->volume)
			run->stats->rootfs_diff_bytes = ds.bytes;
		run->stats->capture_streamed = stream;
		if (!stream) {
			capture_snapshot_free(pc->snap);
			pc->snap = NULL; /* its blocks are freed now */
		}
	}
	run->stats->capture_write_duration += now_monotonic_us() - start;
	return 0;
}

static void note_snapshot(struct checkpoint_run *run, struct capture_snapshot *snap)
{
	struct capture_snapshot_stats ss;
	capture_snapshot_stats(snap, &ss);
	run->stats->reflink_bytes += ss.cloned_bytes;
	run->stats->capture_copied_bytes += ss.copied_bytes;
	run->stats->capture_reused_bytes += ss.reused_bytes;
}

/* The key an export is signed with: --sign's, else this engine's own (made on
 * first use). Loaded before the container is touched. */
static int checkpoint_load_signing_key(struct checkpoint_run *run, cryo_err *err)
{
	int r;
	if (!run->opts->export_path && !run->opts->export_stream && !run->opts->handoff)
		return 0;
	if (run->opts->sign_key)
		r = signing_key_load(run->opts->sign_key, &run->signing_key, err);
	else
		r = trust_engine_key(run->engine, &run->signing_key, err);
	return r < 0 ? cryo_error_wrap(err, "sign the export") : 0;
}

/* The export's temporary file, by the prefix it will have (absolute). */
static int claim_export_temp(struct checkpoint_run *run, cryo_err *err)
{
	if (!run->opts->export_path)
		return 0;
	cleanup_free char *prefix = checkpoint_archive_temp_prefix(run->opts->export_path);
	if (prefix[0] != '/') {
		cleanup_free char *cwd = getcwd(NULL, 0);
		if (!cwd)
			return cryo_error_set(err, errno, "export to `%s`: current directory",
			                      run->opts->export_path);
		char *abs = xasprintf("%s/%s", cwd, prefix);
		free(prefix);
		prefix = abs;
	}
	return scratch_claim_prefix(run->engine, prefix, err);
}

/* Step 1: directories, metadata, and everything that can fail before we touch
 * the container. */
static int checkpoint_prepare(struct checkpoint_run *run, cryo_err *err)
{
	struct cryo_engine *engine = run->engine;
	int r;

	if (run->opts->export_path && (r = check_export_target(run->opts->export_path, err)) < 0)
		return r;
	if ((r = checkpoint_load_signing_key(run, err)) < 0)
		return r;
	if ((r = container_config_from_json(run->c->config, &run->cfg, err)) < 0)
		return r;
	cleanup_free char *suffix = random_id();
	run->dir = layout_checkpoint_staging(engine->root, run->c->id, suffix);
	run->final_dir = layout_checkpoint_dir(engine->root, run->c->id);
	run->work_dir = layout_checkpoint_work(engine->runroot, run->c->id);
	cleanup_free char *images = xasprintf("%s/" CHECKPOINT_IMAGES_DIR, run->dir);
	cleanup_free char *volumes = xasprintf("%s/" CHECKPOINT_VOLUMES_DIR, run->dir);
	/* Claimed before they exist: should this cryo be killed, the next
	 * command removes them (scratch.h). */
	if ((r = scratch_claim_path(engine, run->dir, err)) < 0 || (r = claim_export_temp(run, err)) < 0)
		return r;
	if ((r = rm_rf(run->work_dir, err)) < 0 || (r = mkdir_p(images, 0700, err)) < 0 ||
	    (r = mkdir_p(volumes, 0700, err)) < 0 || (r = mkdir_p(run->work_dir, 0700, err)) < 0)
		return r;
	cleanup_free char *bundle = container_bundle_dir(engine, run->c->id);
	cleanup_free char *bundle_spec = xasprintf("%s/config.json", bundle);
	cleanup_free char *spec_dump = xasprintf("%s/" CHECKPOINT_SPEC, run->dir);
	cleanup_free char *spec_text = NULL;
	size_t len = 0;
	if ((r = read_file(bundle_spec, &spec_text, &len, err)) < 0 ||
	    (r = write_spec_dump(spec_dump, spec_text, len, err)) < 0)
		return r;
	if ((r = write_config_dump(run, err)) < 0)
		return r;
	/* The cgroup cryo created for the container, never one named by the
	 * container (it can move itself into a sub-cgroup it made). */
	cleanup_free char *cgroup = spec_cgroup_path(run->c->id);
	if (run->freeze_mode != FREEZE_TEST_DISABLED &&
	    (r = freezer_for_cgroup(cgroup, &run->freezer, err)) < 0)
		return r;
	if ((r = checkpoint_open_snapshots(run, err)) < 0)
		return r;
	return checkpoint_arm_freeze_hook(run, err);
}

/* Before cryo freezes f itself: a watchdog that thaws it should this cryo
 * die first (freeze_hook.h), started before the freeze so that no moment
 * exists where it is frozen and unwatched. Returns marker, the file that
 * tells the watchdog we thawed. */
static char *watch_freeze(struct freezer *f, char *marker)
{
	unlink(marker);
	freeze_watchdog_start(f, 1, getpid(), 0, marker);
	return marker;
}

/* Step 2: freeze the cgroup, so nothing runs between the memory dump and the
 * file-system capture. A paused container is frozen already. A stopping
 * checkpoint freezes here, before the capture that precedes its dump (and a
 * watchdog thaws it should this cryo die); its freeze ends with its tasks, so
 * it has no frozen window. */
static int checkpoint_freeze(struct checkpoint_run *run, cryo_err *err)
{
	if (run->freeze_mode != FREEZE_BEFORE_DUMP && run->freeze_mode != FREEZE_STOPPING)
		return 0;
	run->thawed_marker =
	    watch_freeze(&run->freezer, layout_thawed_marker(run->engine->runroot, run->c->id, getpid()));
	int64_t start = now_monotonic_us();
	run->frozen_by_us = true; /* thawed on failure, even half frozen */
	int r = freezer_freeze(&run->freezer, FREEZER_TIMEOUT_US, err);
	if (r < 0)
		return r;
	if (run->opts->criu.leave_running)
		run->frozen_at = start;
	run->stats->freeze_duration = now_monotonic_us() - start;
	if ((r = freezer_check_tasks_beneath(&run->freezer, run->c->pid, err)) < 0)
		return cryo_error_wrap(err, "before the dump");
	return 0;
}

/* A stopping checkpoint ends the container's processes: its monitor must not
 * record that as an exit. Clearing monitor_pid tells it so. */
static int detach_monitor(struct checkpoint_run *run, cryo_err *err)
{
	run->saved_monitor_pid = run->c->monitor_pid;
	run->c->monitor_pid = 0;
	int r = state_container_update(run->engine, run->c, err);
	if (r < 0)
		return r;
	run->monitor_detached = true;
	return 0;
}

static void reattach_monitor(struct checkpoint_run *run)
{
	if (!run->monitor_detached)
		return;
	run->c->monitor_pid = run->saved_monitor_pid;
	state_container_update(run->engine, run->c, NULL);
	run->monitor_detached = false;
}

/* Step 3: the runtime's checkpoint (CRIU dump). */
static int checkpoint_dump(struct checkpoint_run *run, cryo_err *err)
{
	cleanup_free char *images = xasprintf("%s/" CHECKPOINT_IMAGES_DIR, run->dir);
	struct criu_opts ro = run->opts->criu;
	ro.image_path = images;
	ro.work_path = run->work_dir;
	int r;
	if (!run->opts->criu.leave_running && (r = detach_monitor(run, err)) < 0)
		return r;
	int64_t start = now_monotonic_us();
	r = ro.lazy_pages ? runtime_checkpoint_lazy(run->engine, run->c->id, &ro, &run->lazy, err)
	                  : runtime_checkpoint(run->engine, run->c->id, &ro, err);
	run->stats->runtime_checkpoint_duration = now_monotonic_us() - start;
	cleanup_free char *refused = r < 0 ? freeze_hook_refusal(&run->hook) : NULL;
	if (refused) {
		/* The hook's reason says more than CRIU's "pre-dump script failed". */
		cryo_error_free(err);
		return cryo_error_set(err, EPERM, "before the dump: %s", str_rstrip(refused));
	}
	if (r < 0)
		return r;
	run->tasks_ended = !run->opts->criu.leave_running;
	/* A lazy dump holds the tasks (ptrace) while it serves their pages,
	 * with their cgroup thawed until it lets them go: frozen again here,
	 * so that they stay frozen whenever CRIU lets go of them, and the
	 * check below holds as for any live checkpoint. */
	if (ro.lazy_pages && freeze_mode_keeps_frozen(run->freeze_mode) &&
	    (r = freezer_freeze(&run->freezer, FREEZER_TIMEOUT_US, err)) < 0)
		return cryo_error_wrap(err, "after the lazy dump");
	if ((r = checkpoint_check_frozen(run, err)) < 0)
		return r;
	/* Frozen in the hook: the dump's start-up (runc, CRIU's probing) ran before. */
	run->stats->frozen_dump_duration = run->frozen_at > 0 && run->frozen_at >= start
	                                       ? now_monotonic_us() - run->frozen_at
	                                       : run->stats->runtime_checkpoint_duration;
	return 0;
}

/* Step 4: the root file system's changes (the overlay upper dir). */
static int checkpoint_capture_rootfs(struct checkpoint_run *run, cryo_err *err)
{
	if (run->opts->ignore_rootfs)
		return 0;
	cleanup_free char *upper = container_upper_dir(run->engine, run->c->id);
	cleanup_free char *tar = xasprintf("%s/" CHECKPOINT_ROOTFS_DIFF, run->dir);
	cleanup_free char *deleted = xasprintf("%s/" CHECKPOINT_DELETED_FILES, run->dir);
	struct rootfs_diff_stats ds = {0};
	struct capture_snapshot *snap = find_snapshot(run, NULL);
	int64_t start = now_monotonic_us();
	int r = test_switch_on(CHECKPOINT_TEST_FAIL_ROOTFS_CAPTURE)
	            ? cryo_error_plain(
	                  err, EIO,
	                  "failed by the test switch " TEST_HOOK_NAME(CHECKPOINT_TEST_FAIL_ROOTFS_CAPTURE))
	        : snap ? capture_snapshot_take(snap, err)
	               : rootfs_diff_capture(upper, (char *const *)container_managed_files, tar, deleted, &ds,
	                                     err);
	run->stats->rootfs_capture_duration = now_monotonic_us() - start;
	run->stats->rootfs_diff_bytes = ds.bytes;
	if (snap && r == 0) {
		note_snapshot(run, snap);
		/* known now, though its tar is written after the thaw */
		struct capture_snapshot_stats ss;
		capture_snapshot_stats(snap, &ss);
		run->stats->rootfs_diff_bytes = ss.bytes;
	}
	if (r < 0)
		return cryo_error_wrap(err, "capture root file system changes");
	return 0;
}

/* Step 5: every named volume. */
static int checkpoint_capture_volumes(struct checkpoint_run *run, cryo_err *err)
{
	if (run->opts->ignore_volumes)
		return 0;
	int64_t start = now_monotonic_us();
	for (size_t i = 0; i < run->cfg.n_mounts; i++) {
		const struct container_mount *m = &run->cfg.mounts[i];
		if (m->kind != MOUNT_VOLUME)
			continue;
		cleanup_free char *data = volume_data_dir(run->engine, m->source);
		cleanup_free char *tar =
		    xasprintf("%s/" CHECKPOINT_VOLUMES_DIR "/%s.tar", run->dir, m->source);
		struct capture_snapshot *snap = find_snapshot(run, m->source);
		int r = snap ? capture_snapshot_take(snap, err) : volume_capture(data, tar, err);
		if (snap && r == 0)
			note_snapshot(run, snap);
		if (r < 0)
			return cryo_error_wrap(err, "capture volume `%s`", m->source);
	}
	run->stats->volumes_capture_duration = now_monotonic_us() - start;
	return 0;
}

static int checkpoint_freeze_volume_users(struct checkpoint_run *run, cryo_err *err);
static int checkpoint_check_volume_users(struct checkpoint_run *run, cryo_err *err);
static int checkpoint_write_snapshots(struct checkpoint_run *run, cryo_err *err);
static void thaw_neighbours(struct checkpoint_run *run);

/* Steps 4 and 5: the root file system's changes and the volumes, with every
 * other running user of a volume frozen meanwhile. A stopping checkpoint
 * captures before its dump ends the container's tasks, tars included: once
 * they are gone, nothing about the file systems may fail. */
static int checkpoint_capture(struct checkpoint_run *run, cryo_err *err)
{
	int r;
	if ((r = checkpoint_capture_rootfs(run, err)) < 0 ||
	    (r = checkpoint_freeze_volume_users(run, err)) < 0 ||
	    (r = checkpoint_capture_volumes(run, err)) < 0 ||
	    (r = checkpoint_check_volume_users(run, err)) < 0)
		return r;
	if (run->opts->criu.leave_running)
		return 0;
	thaw_neighbours(run); /* the volumes are captured */
	return checkpoint_write_snapshots(run, err);
}

/* The running (or paused) containers other than this one that use volume
 * `name`, as allocated names. */
static int volume_active_users(struct checkpoint_run *run, const char *volume, char ***out, cryo_err *err)
{
	cleanup_strv char **names = NULL;
	int r = state_volume_users(run->engine, volume, &names, err);
	if (r < 0)
		return r;
	char **active = xcalloc(1, sizeof(char *));
	for (size_t i = 0; names[i]; i++) {
		cleanup_container struct container *other = NULL;
		if (strcmp(names[i], run->c->name) == 0)
			continue;
		if (container_get(run->engine, names[i], &other, NULL) == 0 && container_is_active(other))
			strv_push(&active, other->name);
	}
	*out = active;
	return 0;
}

static struct volume_neighbour *find_neighbour(struct checkpoint_run *run, const char *name)
{
	for (size_t i = 0; i < run->n_neighbours; i++)
		if (strcmp(run->neighbours[i].name, name) == 0)
			return &run->neighbours[i];
	return NULL;
}

/* Take one neighbour: its lock (without waiting: it may be busy with its own
 * checkpoint, which could be waiting for ours), and its freezer. */
static int take_neighbour(struct checkpoint_run *run, const char *volume, const char *name, cryo_err *err)
{
	cleanup_container struct container *other = NULL;
	cleanup_close int lock = -1;
	int r;
	if ((r = container_get(run->engine, name, &other, err)) < 0)
		return r;
	r = lock_try_acquire(run->engine, other->id, &lock, err);
	if (r == -EWOULDBLOCK)
		return cryo_error_set(
		    err, EBUSY,
		    "volume `%s` is also used by running container `%s`, which is busy with another "
		    "operation: try again, stop `%s`, or checkpoint with --ignore-volumes",
		    volume, other->name, other->name);
	if (r < 0)
		return r;
	/* Read it again under its lock. */
	container_free(move_ptr(other));
	if ((r = container_get(run->engine, name, &other, err)) < 0)
		return r;
	run->neighbours = xrealloc(run->neighbours, (run->n_neighbours + 1) * sizeof(*run->neighbours));
	struct volume_neighbour *n = &run->neighbours[run->n_neighbours++];
	*n = (struct volume_neighbour){.name = xstrdup(other->name), .lock = move_fd(lock)};
	if (!container_is_active(other))
		return 0; /* stopped meanwhile: nothing to freeze */
	cleanup_free char *cgroup = spec_cgroup_path(other->id);
	if ((r = freezer_for_cgroup(cgroup, &n->freezer, err)) < 0)
		return r;
	if (other->state == CONTAINER_PAUSED)
		return 0; /* frozen already, and stays so */
	/* A watchdog thaws it should this cryo die before it does: started
	 * first, so that no moment exists where it is frozen and unwatched. */
	n->thawed_marker =
	    watch_freeze(&n->freezer, layout_neighbour_thawed_marker(run->engine->runroot, run->c->id,
	                                                             getpid(), run->n_neighbours));
	n->frozen_by_us = true; /* from here on, thaw_neighbours thaws it (and tells the watchdog) */
	if ((r = freezer_freeze(&n->freezer, FREEZER_TIMEOUT_US, err)) < 0)
		return cryo_error_wrap(err, "volume `%s` is also used by running container `%s`: freeze it",
		                       volume, other->name);
	if ((r = freezer_check_tasks_beneath(&n->freezer, other->pid, err)) < 0)
		return cryo_error_wrap(err, "volume `%s` is also used by running container `%s`", volume,
		                       other->name);
	return 0;
}

/* Before the volumes are captured: every other running container that uses
 * one of them could write to it while it is read (or swap a file for a fifo
 * or a device between the check and the open). Each is locked and frozen
 * along with this one until the thaw, or the checkpoint is refused naming it.
 * A paused neighbour is frozen already and stays paused. */
static int checkpoint_freeze_volume_users(struct checkpoint_run *run, cryo_err *err)
{
	if (run->opts->ignore_volumes)
		return 0;
	for (size_t i = 0; i < run->cfg.n_mounts; i++) {
		const struct container_mount *m = &run->cfg.mounts[i];
		if (m->kind != MOUNT_VOLUME)
			continue;
		cleanup_strv char **users = NULL;
		int r = volume_active_users(run, m->source, &users, err);
		if (r < 0)
			return r;
		for (size_t j = 0; users[j]; j++)
			if (!find_neighbour(run, users[j]) &&
			    (r = take_neighbour(run, m->source, users[j], err)) < 0)
				return r;
	}
	return 0;
}

/* After the capture: a container that started using a captured volume while
 * it was read (it was not frozen) makes the capture unreliable. */
static int checkpoint_check_volume_users(struct checkpoint_run *run, cryo_err *err)
{
	if (run->opts->ignore_volumes)
		return 0;
	for (size_t i = 0; i < run->cfg.n_mounts; i++) {
		const struct container_mount *m = &run->cfg.mounts[i];
		if (m->kind != MOUNT_VOLUME)
			continue;
		cleanup_strv char **users = NULL;
		int r = volume_active_users(run, m->source, &users, err);
		if (r < 0)
			return r;
		for (size_t j = 0; users[j]; j++)
			if (!find_neighbour(run, users[j]))
				return cryo_error_set(
				    err, EBUSY,
				    "volume `%s`: container `%s` started using it while it was captured; "
				    "checkpoint again",
				    m->source, users[j]);
	}
	return 0;
}

static void thaw_neighbours(struct checkpoint_run *run)
{
	for (size_t i = 0; i < run->n_neighbours; i++) {
		struct volume_neighbour *n = &run->neighbours[i];
		if (!n->frozen_by_us)
			continue;
		for (int attempt = 0; attempt < 3; attempt++)
			if (freezer_thaw(&n->freezer, NULL) == 0)
				break;
		n->frozen_by_us = false;
		write_file(n->thawed_marker, "", 0, 0600, NULL);
	}
}

static void release_neighbours(struct checkpoint_run *run)
{
	thaw_neighbours(run);
	for (size_t i = 0; i < run->n_neighbours; i++) {
		free(run->neighbours[i].name);
		free(run->neighbours[i].thawed_marker);
		freezer_release(&run->neighbours[i].freezer);
		if (run->neighbours[i].lock >= 0)
			close(run->neighbours[i].lock);
	}
	free(run->neighbours);
	run->neighbours = NULL;
	run->n_neighbours = 0;
}

/* Step 6: thaw — the end of the frozen window. */
static void checkpoint_thaw(struct checkpoint_run *run)
{
	thaw_neighbours(run);
	if (!run->frozen_by_us)
		return;
	cleanup_error cryo_err err = NULL;
	/* A thaw that fails is retried: a container must never stay frozen
	 * because of cryo. */
	for (int attempt = 0; attempt < 3; attempt++)
		if (freezer_thaw(&run->freezer, &err) == 0)
			break;
	if (run->frozen_at > 0)
		run->stats->frozen_window = now_monotonic_us() - run->frozen_at;
	run->frozen_by_us = false;
	if (run->thawed_marker)
		write_file(run->thawed_marker, "", 0, 0600, NULL);
}

static int checkpoint_write_stats(struct checkpoint_run *run, cryo_err *err)
{
	cleanup_free char *criu_stats = xasprintf("%s/" CHECKPOINT_IMAGES_DIR "/stats-dump", run->dir);
	cleanup_free char *criu_stats_work = xasprintf("%s/stats-dump", run->work_dir);
	const char *found = NULL;
	if (criu_stats_read_dump(criu_stats, &run->stats->criu, NULL) == 0)
		found = criu_stats;
	else if (criu_stats_read_dump(criu_stats_work, &run->stats->criu, NULL) == 0)
		found = criu_stats_work;
	run->stats->have_criu_stats = found != NULL;
	/* CRIU's own image too, where checkpointctl and Podman look for it. */
	cleanup_free char *stats_copy = xasprintf("%s/" CHECKPOINT_CRIU_STATS, run->dir);
	cleanup_free char *stats_data = NULL;
	size_t stats_len = 0;
	int rs = 0;
	if (found && ((rs = read_file_bounded(found, 1 << 16, &stats_data, &stats_len, err)) < 0 ||
	              (rs = write_file(stats_copy, stats_data, stats_len, 0600, err)) < 0))
		return rs;
	struct json_object *o = checkpoint_stats_json(run->stats);
	cleanup_free char *path = xasprintf("%s/" CHECKPOINT_STATS, run->dir);
	int r = write_json_file(path, o, err);
	json_object_put(o);
	return r;
}

/* Step 7: the archive, compressed, while the container runs again. */
static int checkpoint_export(struct checkpoint_run *run, cryo_err *err)
{
	if ((!run->opts->export_path && !run->opts->export_stream) || run->exported)
		return 0;
	struct checkpoint_archive_stats ws = {0};
	int64_t start = now_monotonic_us();
	int r;
	if (run->opts->export_stream)
		r = checkpoint_archive_write_fd_sources(
		    run->dir, run->opts->export_fd,
		    run->opts->export_what ? run->opts->export_what : "the stream", run->opts->compression, 0,
		    run->signing_key, 0, run->sources, run->n_sources, &ws, err);
	else
		r = checkpoint_archive_write_sources(
		    run->dir, run->opts->export_path, run->opts->compression, run->signing_key,
		    run->opts->export_no_sync ? CHECKPOINT_ARCHIVE_NO_SYNC : 0, run->sources, run->n_sources,
		    &ws, err);
	run->stats->archive_duration = now_monotonic_us() - start;
	if (r < 0)
		return cryo_error_wrap(err, "export checkpoint");
	struct stat st;
	if (run->opts->export_stream)
		run->stats->archive_size = ws.bytes_out;
	else if (stat(run->opts->export_path, &st) == 0)
		run->stats->archive_size = (uint64_t)st.st_size;
	run->stats->archive_synced = !run->opts->export_stream && !run->opts->export_no_sync;
	run->exported = true;
	return 0;
}

/* Step 6b (migration): hand the frozen container over, in two phases
 * (migrate.h): the handoff streams it to the destination, which restores it
 * frozen and reports. Then its copy here is killed while still frozen (a
 * frozen task dies on SIGKILL without running another instruction of its
 * own once thawed), its monitor told not to record the end, and only then
 * does the destination hear "commit" and run it. A kill that fails tells
 * the destination to remove its copy, and this one is thawed.
 *
 * Lazy pages (criu.lazy_pages) turn the order around: the memory is still
 * here, served by the page server from the frozen tasks, so the destination
 * hears "commit" first and the tasks here die once every page has left.
 * From that commit on there is no way back: whatever the page server says,
 * the source dies, and a failure says the container is lost. */
static int checkpoint_handoff(struct checkpoint_run *run, cryo_err *err)
{
	if (!run->opts->handoff)
		return 0;
	int64_t start = now_monotonic_us();
	int r = run->opts->handoff(run->opts->handoff_data, run->dir, run->signing_key, err);
	run->stats->handoff_duration = now_monotonic_us() - start;
	if (r < 0)
		return r;
	bool lazy = run->opts->criu.lazy_pages;
	int lazy_r = 0;
	cleanup_error cryo_err lazy_err = NULL;
	if (lazy) {
		run->handed_over = true;
		if (run->opts->handoff_finish)
			run->opts->handoff_finish(run->opts->handoff_data, true);
		if (run->frozen_at > 0)
			run->stats->handoff_downtime = now_monotonic_us() - run->frozen_at;
		int64_t pages_start = now_monotonic_us();
		if (test_switch_on(CHECKPOINT_TEST_LAZY_KILL_PAGE_SERVER))
			runtime_lazy_dump_kill(&run->lazy);
		lazy_r = runtime_lazy_dump_wait(&run->lazy, &lazy_err);
		run->stats->lazy_pages_duration = now_monotonic_us() - pages_start;
	}
	/* From here on, nothing may thaw it alive (unless its kill fails before
	 * a commit, and the destination is told to remove its frozen copy). */
	if (detach_monitor(run, NULL) < 0) {
		run->c->monitor_pid = 0;
		run->monitor_detached = true;
	}
	cleanup_error cryo_err kill_err = NULL;
	r = test_switch_on(CHECKPOINT_TEST_FAIL_HANDOFF_KILL)
	        ? cryo_error_plain(&kill_err, EIO, "failed by the test switch %s",
	                           TEST_HOOK_NAME(CHECKPOINT_TEST_FAIL_HANDOFF_KILL))
	        : runtime_kill(run->engine, run->c->id, SIGKILL, &kill_err);
	if (r < 0 && !lazy && run->opts->handoff_finish) {
		run->opts->handoff_finish(run->opts->handoff_data, false);
		return cryo_error_plain(err, -r,
		                        "the destination holds the container frozen, but killing its copy "
		                        "here failed (%s): the destination removed its copy",
		                        kill_err->msg);
	}
	run->handed_over = true;
	/* runc kills every task of the cgroup and deletes the container. */
	runtime_delete(run->engine, run->c->id, true, NULL);
	if (!lazy) {
		if (run->opts->handoff_finish)
			run->opts->handoff_finish(run->opts->handoff_data, true);
		if (run->frozen_at > 0)
			run->stats->handoff_downtime = now_monotonic_us() - run->frozen_at;
	}
	/* Handed over all the same: the source is recorded as gone, then
	 * the command fails with this. */
	if (lazy_r < 0) {
		run->stats->lazy_pages_lost = true;
		run->lazy_failure = xstrdup(lazy_err->msg);
	}
	return 0;
}

/* Step 8: record the result. A stopping checkpoint leaves the container
 * "checkpointed" with its checkpoint kept in the engine for `cryo restore`. */
static int checkpoint_commit(struct checkpoint_run *run, cryo_err *err)
{
	struct cryo_engine *engine = run->engine;
	bool exporting = run->opts->export_path || run->opts->export_stream;
	bool stopping = !run->opts->criu.leave_running || run->handed_over;
	bool keep_in_engine = run->handed_over
	                          ? run->opts->keep
	                          : !run->opts->criu.leave_running || !exporting || run->opts->keep;
	int r;

	/* Called again by checkpoint_keep_stopped when a later step failed:
	 * the files it kept the first time are the checkpoint. */
	if (keep_in_engine && !run->files_kept) {
		if ((r = rm_rf(run->final_dir, err)) < 0)
			return r;
		if (rename(run->dir, run->final_dir) < 0)
			return cryo_error_set(err, errno, "keep checkpoint at `%s`", run->final_dir);
		run->files_kept = true;
		free(run->c->checkpoint);
		run->c->checkpoint = xstrdup(run->final_dir);
	} else if (!keep_in_engine) {
		rm_rf(run->dir, NULL);
	}
	run->c->checkpointed = now_realtime_us();
	if (stopping) {
		run->c->state = keep_in_engine ? CONTAINER_CHECKPOINTED : CONTAINER_EXITED;
		run->c->pid = 0;
		run->c->monitor_pid = 0;
		run->monitor_detached = false;
		runtime_delete(engine, run->c->id, true, NULL);
		cleanup_free char *rootfs = container_rootfs_dir(engine, run->c->id);
		overlay_unmount(rootfs, NULL);
		/* Its network is prepared again by the restore (with the same
		 * address when it is free). */
		container_network_down(engine, run->c, NULL);
	}
	if (test_switch_on(CHECKPOINT_TEST_FAIL_RECORD))
		return cryo_error_plain(err, EIO, "record container `%s`: failed by the test switch %s",
		                        run->c->name, TEST_HOOK_NAME(CHECKPOINT_TEST_FAIL_RECORD));
	if ((r = state_container_update(engine, run->c, err)) < 0)
		return r;
	checkpoint_disarm_freeze_hook(run);
	if (!run->opts->keep)
		rm_rf(run->work_dir, NULL);
	return 0;
}

/* On failure: the container runs on, unfrozen unless the user had paused it,
 * and no partial checkpoint or archive is left. CRIU's logs stay for the user. */
static void checkpoint_abort(struct checkpoint_run *run)
{
	/* A lazy dump still serving pages nobody took: ended first, which
	 * lets the tasks go (still frozen) for the thaw below. */
	runtime_lazy_dump_cancel(&run->lazy);
	/* The hook may have frozen the container before the dump failed. */
	if (run->hook.armed)
		run->frozen_by_us = true;
	checkpoint_thaw(run);
	/* Handed over: it is dead here, and runs elsewhere. */
	if (!run->handed_over)
		reattach_monitor(run);
	checkpoint_disarm_freeze_hook(run);
	if (run->dir)
		rm_rf(run->dir, NULL);
	if (run->exported && run->opts->export_path && !run->opts->export_stream)
		unlink(run->opts->export_path);
}

/* On failure after a stopping dump: the container's tasks have ended and the
 * checkpoint directory holds all of it (the file systems were captured
 * before the dump). What failed (its statistics, the export) must not lose
 * it: it is kept in the engine as after a successful checkpoint, and the
 * error says so. */
static int checkpoint_keep_stopped(struct checkpoint_run *run, cryo_err *err)
{
	cleanup_error cryo_err keep_err = NULL;
	checkpoint_thaw(run); /* its cgroup is gone: this tells the watchdog */
	if (checkpoint_commit(run, &keep_err) < 0)
		return cryo_error_wrap(
		    err,
		    "the container's processes were dumped and have ended, but its "
		    "checkpoint could not be kept in the engine (%s): CRIU's images are in `%s`",
		    keep_err->msg, run->files_kept ? run->final_dir : run->dir);
	return cryo_error_wrap(err,
	                       "the container was checkpointed and stopped all the same, its checkpoint "
	                       "kept in the engine (`cryo restore %s` runs it again); what failed",
	                       run->c->name);
}

static void checkpoint_run_release(struct checkpoint_run *run)
{
	release_neighbours(run);
	for (size_t i = 0; i < run->n_captures; i++) {
		capture_snapshot_free(run->captures[i].snap);
		free(run->captures[i].volume);
		free(run->captures[i].name);
	}
	free(run->captures);
	free(run->sources);
	container_config_free(&run->cfg);
	freezer_release(&run->freezer);
	runtime_lazy_dump_release(&run->lazy);
	freeze_hook_release(&run->hook);
	free(run->thawed_marker);
	free(run->dir);
	free(run->final_dir);
	free(run->work_dir);
	signing_key_free(run->signing_key);
}

/* A phase change for progress.h (phase NULL: none); never fails, returns 0
 * to sit in the list of steps. bytes CHECKPOINT_PROGRESS_IMAGES stands for
 * the size of CRIU's images. */
#define CHECKPOINT_PROGRESS_IMAGES UINT64_MAX
static int checkpoint_progress(struct checkpoint_run *run, const char *phase, int64_t start, uint64_t bytes)
{
	if (!phase)
		return 0;
	if (bytes == CHECKPOINT_PROGRESS_IMAGES) {
		cleanup_free char *images = xasprintf("%s/" CHECKPOINT_IMAGES_DIR, run->dir);
		bytes = cryo_progress_dir_bytes(images);
	}
	struct cryo_progress p = {
	    .operation = "checkpoint",
	    .container = run->c->name,
	    .phase = phase,
	    .elapsed_us = now_monotonic_us() - start,
	    .bytes = bytes,
	    .frozen_us = strcmp(phase, "thawed") == 0 || strcmp(phase, "handed over") == 0
	                     ? run->stats->frozen_window
	                     : 0,
	};
	cryo_progress_report(&p);
	return 0;
}

static int checkpoint_container_held(struct cryo_engine *engine, const char *ref,
                                     const struct checkpoint_opts *opts, struct checkpoint_stats *stats,
                                     cryo_err *err)
{
	cleanup_close int lock = -1;
	cleanup_container struct container *c = NULL;
	struct checkpoint_run run = {.engine = engine, .opts = opts, .stats = stats, .lazy = {.output = -1}};
	int64_t start = now_monotonic_us();
	int r;

	memset(stats, 0, sizeof(*stats));
	if ((r = container_get_locked(engine, ref, &c, &lock, err)) < 0)
		return r;
	if (!container_is_active(c))
		return cryo_error_set(err, EINVAL, "checkpoint container `%s`: it is %s, not running",
		                      c->name, container_state_name(c->state));
	if (opts->handoff && (!opts->criu.leave_running || opts->export_path || opts->export_stream))
		return cryo_error_set(
		    err, EINVAL, "checkpoint container `%s`: a handoff needs a live checkpoint and no export",
		    c->name);
	if (opts->criu.lazy_pages && (!opts->handoff || !opts->criu.page_server))
		return cryo_error_set(err, EINVAL,
		                      "checkpoint container `%s`: lazy pages are for a migration (a handoff "
		                      "with a page server)",
		                      c->name);

	run.c = c;
	run.was_paused = c->state == CONTAINER_PAUSED;
	run.freeze_mode = checkpoint_decide_freeze_mode(&run);
	if (opts->criu.lazy_pages) {
		/* The page server's address goes in the CRIU configuration the
		 * spec names (criu_opts.h): without one it would listen on every
		 * address. */
		cleanup_free char *bundle = container_bundle_dir(engine, c->id);
		cleanup_free char *criu_conf = xasprintf("%s/" SPEC_CRIU_CONFIG, bundle);
		if (!spec_names_criu_config(bundle, criu_conf))
			return cryo_error_set(
			    err, EINVAL,
			    "checkpoint container `%s`: its spec names no CRIU configuration "
			    "(created by an older cryo), so a lazy dump's page server could "
			    "not be held to one address: recreate it, or migrate without --lazy",
			    c->name);
	}
	run.test_thaw_after_archive = test_switch_on(CHECKPOINT_TEST_THAW_AFTER_ARCHIVE);

	/* A stopping checkpoint's dump ends the container's tasks: it captures
	 * the file systems first (frozen, so still consistent), so that a failed
	 * capture leaves the container running. */
	if ((r = checkpoint_prepare(&run, err)) < 0 || (r = checkpoint_freeze(&run, err)) < 0 ||
	    (!opts->criu.leave_running && (r = checkpoint_capture(&run, err)) < 0) ||
	    (r = checkpoint_progress(&run, "dumping", start, 0)) < 0 ||
	    (r = checkpoint_dump(&run, err)) < 0 ||
	    (r = checkpoint_progress(&run, "capturing", start, CHECKPOINT_PROGRESS_IMAGES)) < 0 ||
	    (opts->criu.leave_running && (r = checkpoint_capture(&run, err)) < 0))
		goto fail;
	test_delay_in_frozen_window();
	/* A handoff streams the archive while the container is still frozen:
	 * the snapshots' tars must exist before it. */
	if ((run.test_thaw_after_archive || opts->handoff) && (r = checkpoint_write_snapshots(&run, err)) < 0)
		goto fail;
	if (opts->handoff &&
	    ((r = checkpoint_write_stats(&run, err)) < 0 || (r = checkpoint_handoff(&run, err)) < 0))
		goto fail;
	if (run.test_thaw_after_archive && (r = checkpoint_write_stats(&run, err)) < 0)
		goto fail;
	if (run.test_thaw_after_archive && (r = checkpoint_export(&run, err)) < 0)
		goto fail;
	checkpoint_thaw(&run);
	checkpoint_progress(&run,
	                    run.handed_over            ? "handed over"
	                    : opts->criu.leave_running ? "thawed"
	                                               : "captured",
	                    start, run.stats->rootfs_diff_bytes);
	if ((r = checkpoint_write_snapshots(&run, err)) < 0 ||
	    (!run.handed_over && (r = checkpoint_write_stats(&run, err)) < 0) ||
	    (r = checkpoint_progress(&run, opts->export_path || opts->export_stream ? "writing" : NULL, start,
	                             0)) < 0 ||
	    (r = checkpoint_export(&run, err)) < 0 || (r = checkpoint_commit(&run, err)) < 0)
		goto fail;
	stats->checkpoint_duration = now_monotonic_us() - start;
	checkpoint_progress(&run, "done", start,
	                    opts->export_path || opts->export_stream ? stats->archive_size
	                                                             : CHECKPOINT_PROGRESS_IMAGES);
	if (run.lazy_failure) {
		r = cryo_error_plain(err, EIO,
		                     "the destination started the container, but not all of its memory "
		                     "reached it: the container is lost (its memory was only here, and it "
		                     "ran there): %s",
		                     run.lazy_failure);
		free(run.lazy_failure);
		checkpoint_run_release(&run);
		return r;
	}
	checkpoint_run_release(&run);
	return 0;
fail:
	free(run.lazy_failure);
	if (run.tasks_ended)
		checkpoint_keep_stopped(&run, err);
	else
		checkpoint_abort(&run);
	checkpoint_run_release(&run);
	return cryo_error_wrap(err, "checkpoint container `%s`", c->name);
}

int checkpoint_container(struct cryo_engine *engine, const char *ref, const struct checkpoint_opts *opts,
                         struct checkpoint_stats *stats, cryo_err *err)
{
	/* A termination signal must not stop cryo inside the frozen window. */
	struct signal_hold hold;
	signal_hold_begin(&hold);
	int r = checkpoint_container_held(engine, ref, opts, stats, err);
	signal_hold_end(&hold);
	return r;
}

struct json_object *checkpoint_stats_json(const struct checkpoint_stats *s)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "checkpoint_duration", json_object_new_int64(s->checkpoint_duration));
	json_object_object_add(o, "runtime_checkpoint_duration",
	                       json_object_new_int64(s->runtime_checkpoint_duration));
	json_object_object_add(o, "frozen_window", json_object_new_int64(s->frozen_window));
	json_object_object_add(o, "freeze_duration", json_object_new_int64(s->freeze_duration));
	json_object_object_add(o, "rootfs_capture_duration",
	                       json_object_new_int64(s->rootfs_capture_duration));
	json_object_object_add(o, "volumes_capture_duration",
	                       json_object_new_int64(s->volumes_capture_duration));
	json_object_object_add(o, "archive_duration", json_object_new_int64(s->archive_duration));
	json_object_object_add(o, "rootfs_diff_bytes", json_object_new_int64((int64_t)s->rootfs_diff_bytes));
	json_object_object_add(o, "archive_size", json_object_new_int64((int64_t)s->archive_size));
	json_object_object_add(o, "archive_synced", json_object_new_boolean(s->archive_synced));
	static const char *const methods[] = {[CAPTURE_NONE] = "none",
	                                      [CAPTURE_COPY] = "copy",
	                                      [CAPTURE_REFLINK] = "reflink",
	                                      [CAPTURE_MIXED] = "mixed",
	                                      [CAPTURE_PRECOPY] = "precopy"};
	json_object_object_add(o, "network_lock", json_object_new_boolean(s->network_lock));
	json_object_object_add(o, "capture_method", json_object_new_string(methods[s->capture_method]));
	json_object_object_add(o, "capture_flush_duration", json_object_new_int64(s->capture_flush_duration));
	json_object_object_add(o, "capture_write_duration", json_object_new_int64(s->capture_write_duration));
	json_object_object_add(o, "reflink_bytes", json_object_new_int64((int64_t)s->reflink_bytes));
	json_object_object_add(o, "capture_copied_bytes",
	                       json_object_new_int64((int64_t)s->capture_copied_bytes));
	json_object_object_add(o, "capture_precopy_duration",
	                       json_object_new_int64(s->capture_precopy_duration));
	json_object_object_add(o, "capture_precopied_bytes",
	                       json_object_new_int64((int64_t)s->capture_precopied_bytes));
	json_object_object_add(o, "capture_reused_bytes",
	                       json_object_new_int64((int64_t)s->capture_reused_bytes));
	json_object_object_add(o, "capture_streamed", json_object_new_boolean(s->capture_streamed));
	if (s->have_criu_stats) {
		json_object_object_add(o, "freezing_time", json_object_new_int64(s->criu.freezing_time));
		json_object_object_add(o, "frozen_time", json_object_new_int64(s->criu.frozen_time));
		json_object_object_add(o, "memdump_time", json_object_new_int64(s->criu.memdump_time));
		json_object_object_add(o, "memwrite_time", json_object_new_int64(s->criu.memwrite_time));
		json_object_object_add(o, "pages_scanned",
		                       json_object_new_int64((int64_t)s->criu.pages_scanned));
		json_object_object_add(o, "pages_written",
		                       json_object_new_int64((int64_t)s->criu.pages_written));
	}
	return o;
}
