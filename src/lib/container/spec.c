#include "spec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "network.h"
#include "security.h"
#include "util.h"
#include "volume.h"

/* Every mount in the container's mount namespace costs CRIU about 18 ms at
 * checkpoint and restore (ENVIRONMENT.md), so cryo keeps the set small: the
 * file systems programs need, and masks only for the /proc entries that leak
 * host information. */
static const char *const masked_paths[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list"};
/* /sys/firmware is masked too, but not through maskedPaths: runc masks a
 * directory with a read-only tmpfs, and CRIU archives every tmpfs with tar
 * inside its frozen time (about 16 ms each here, bench/criu-floor-results.md),
 * empty or not. A read-only bind of an empty directory of the engine's, made
 * like that tmpfs (mode 1777, root's; layout_empty_dir()), hides the same and
 * costs CRIU nothing (runc declares bind mounts external). */
static const char *const readonly_paths[] = {"/proc/sys", "/proc/sysrq-trigger"};

/* Podman's mount layout (container_config.engine_files): what Podman 4.3.1
 * gives every container, which its CRIU images then hold. Its masks are
 * Podman's defaults: /sys/firmware as a masked path (a tmpfs) rather than
 * cryo's bind of an empty directory. */
static const char *const podman_masked_paths[] = {
    "/proc/acpi",       "/proc/kcore",       "/proc/keys",        "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware",    "/sys/fs/selinux",   "/sys/dev/block"};
static const char *const podman_readonly_paths[] = {"/proc/asound", "/proc/bus", "/proc/fs",
                                                    "/proc/irq",    "/proc/sys", "/proc/sysrq-trigger"};

/* Each destination the engine can provide, and its file's name in the
 * container's directory (never a name taken from a checkpoint). */
static const struct {
	const char *destination, *name;
	bool directory;
} engine_files[] = {
    {"/etc/hosts", "hosts", false},
    {"/etc/hostname", "hostname", false},
    {"/etc/resolv.conf", "resolv.conf", false},
    {"/run/.containerenv", "containerenv", false},
    {"/dev/shm", "shm", true},
};

const char *spec_engine_file_name(const char *destination)
{
	for (size_t i = 0; i < ARRAY_SIZE(engine_files); i++)
		if (strcmp(engine_files[i].destination, destination) == 0)
			return engine_files[i].name;
	return NULL;
}

char *spec_engine_file_path(struct cryo_engine *engine, const char *id, const char *destination)
{
	const char *name = spec_engine_file_name(destination);
	if (!name)
		return NULL;
	cleanup_free char *dir = layout_container_dir(engine->root, id);
	return xasprintf("%s/" SPEC_ENGINE_FILES_DIR "/%s", dir, name);
}

static bool has_engine_files(const struct container_config *cfg)
{
	return cfg->engine_files && cfg->engine_files[0];
}

/* The first content of an engine file (kept once written: the restore of a
 * Podman export puts its /dev/shm there). */
static char *engine_file_content(const char *id, const struct container_config *cfg, const char *name)
{
	const char *host = cfg->hostname && *cfg->hostname ? cfg->hostname : id;
	if (strcmp(name, "hostname") == 0)
		return xasprintf("%s\n", host);
	if (strcmp(name, "hosts") == 0)
		return xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		                 "127.0.1.1\t%s\n",
		                 host);
	if (strcmp(name, "containerenv") == 0)
		return xasprintf("engine=\"cryo\"\nid=\"%s\"\n", id);
	char *text = NULL;
	if (strcmp(name, "resolv.conf") == 0 && cfg->network && strcmp(cfg->network, NETWORK_NONE) != 0 &&
	    read_file("/etc/resolv.conf", &text, NULL, NULL) == 0)
		return text;
	free(text);
	return xstrdup("");
}

/* The container's engine files, made where missing: below its directory,
 * no symbolic link followed. */
static int ensure_engine_files(struct cryo_engine *engine, const char *id, const struct container_config *cfg,
                               cryo_err *err)
{
	cleanup_free char *cdir = layout_container_dir(engine->root, id);
	cleanup_close int cfd = open(cdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return cryo_error_set(err, errno, "open `%s`", cdir);
	if (mkdirat(cfd, SPEC_ENGINE_FILES_DIR, 0755) < 0 && errno != EEXIST)
		return cryo_error_set(err, errno, "create `%s/" SPEC_ENGINE_FILES_DIR "`", cdir);
	cleanup_close int dfd =
	    openat(cfd, SPEC_ENGINE_FILES_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return cryo_error_set(err, errno, "open `%s/" SPEC_ENGINE_FILES_DIR "`", cdir);
	for (size_t i = 0; cfg->engine_files && cfg->engine_files[i]; i++) {
		for (size_t j = 0; j < ARRAY_SIZE(engine_files); j++) {
			if (strcmp(engine_files[j].destination, cfg->engine_files[i]) != 0)
				continue;
			const char *name = engine_files[j].name;
			if (engine_files[j].directory) {
				if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
					return cryo_error_set(err, errno, "create `%s/%s`", cdir, name);
				if (fchmodat(dfd, name, 01777, AT_SYMLINK_NOFOLLOW) < 0)
					return cryo_error_set(err, errno, "chmod `%s/%s`", cdir, name);
				continue;
			}
			cleanup_close int fd =
			    openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd < 0 && errno == EEXIST)
				continue;
			if (fd < 0)
				return cryo_error_set(err, errno, "create `%s/%s`", cdir, name);
			cleanup_free char *text = engine_file_content(id, cfg, name);
			size_t len = strlen(text);
			if (write(fd, text, len) != (ssize_t)len)
				return cryo_error_set(err, errno ? errno : EIO, "write `%s/%s`", cdir, name);
		}
	}
	return 0;
}

char *spec_cgroup_path(const char *id)
{
	return xasprintf("/cryo/%s", id);
}

static struct json_object *strv_json(char *const *strv)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; strv && strv[i]; i++)
		json_object_array_add(a, json_object_new_string(strv[i]));
	return a;
}

static struct json_object *const_strv_json(const char *const *strv, size_t n)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(strv[i]));
	return a;
}

static void add_mount(struct json_object *mounts, const char *dest, const char *type, const char *source,
                      const char *const *options, size_t n_options)
{
	struct json_object *m = json_object_new_object();
	json_object_object_add(m, "destination", json_object_new_string(dest));
	json_object_object_add(m, "type", json_object_new_string(type));
	json_object_object_add(m, "source", json_object_new_string(source));
	json_object_object_add(m, "options", const_strv_json(options, n_options));
	json_object_array_add(mounts, m);
}

static int parse_user(const char *user, int64_t *uid, int64_t *gid, cryo_err *err)
{
	*uid = 0;
	*gid = 0;
	if (!user || !*user || strcmp(user, "root") == 0 || strcmp(user, "0") == 0)
		return 0;
	char *end;
	long long u = strtoll(user, &end, 10);
	if (end == user || u < 0 || (*end != '\0' && *end != ':'))
		return cryo_error_set(err, EINVAL, "user `%s`: only numeric uid[:gid] or root is supported",
		                      user);
	*uid = u;
	*gid = u;
	if (*end == ':') {
		const char *g = end + 1;
		long long gv = strtoll(g, &end, 10);
		if (end == g || gv < 0 || *end != '\0')
			return cryo_error_set(err, EINVAL, "user `%s`: invalid gid", user);
		*gid = gv;
	}
	return 0;
}

static struct json_object *process_json(const struct container_config *cfg, char *const *caps, int64_t uid,
                                        int64_t gid)
{
	struct json_object *process = json_object_new_object();
	struct json_object *juser = json_object_new_object();
	json_object_object_add(juser, "uid", json_object_new_int64(uid));
	json_object_object_add(juser, "gid", json_object_new_int64(gid));
	json_object_object_add(process, "terminal", json_object_new_boolean(cfg->terminal));
	json_object_object_add(process, "user", juser);
	json_object_object_add(process, "args", strv_json(cfg->command));
	json_object_object_add(process, "env", strv_json(cfg->env));
	json_object_object_add(process, "cwd", json_object_new_string(cfg->workdir ? cfg->workdir : "/"));

	struct json_object *capabilities = json_object_new_object();
	const char *sets[] = {"bounding", "effective", "permitted"};
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++)
		json_object_object_add(capabilities, sets[i], strv_json(caps));
	json_object_object_add(process, "capabilities", capabilities);

	/* Ask for no more open files than this host lets us have: runc fails
	 * with "error setting rlimit" otherwise (no CAP_SYS_RESOURCE here). */
	struct rlimit rl = {0};
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t nofile = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
	struct json_object *rlimits = json_object_new_array();
	struct json_object *nf = json_object_new_object();
	json_object_object_add(nf, "type", json_object_new_string("RLIMIT_NOFILE"));
	json_object_object_add(nf, "hard", json_object_new_int64((int64_t)nofile));
	json_object_object_add(nf, "soft", json_object_new_int64((int64_t)nofile));
	json_object_array_add(rlimits, nf);
	json_object_object_add(process, "rlimits", rlimits);
	json_object_object_add(process, "noNewPrivileges", json_object_new_boolean(1));
	return process;
}

/* --tmpfs: always nosuid and nodev (container_tmpfs_options_validate
 * refuses suid and dev), then the user's validated options, which the kernel
 * applies left to right. */
static void add_tmpfs(struct json_object *mounts, const struct container_mount *m)
{
	cleanup_strv char **opts = xcalloc(1, sizeof(char *));
	strv_push(&opts, "nosuid");
	strv_push(&opts, "nodev");
	cleanup_free char *copy = xstrdup(m->source);
	char *save = NULL;
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
		strv_push(&opts, o);
	add_mount(mounts, m->destination, "tmpfs", "tmpfs", (const char *const *)opts, strv_len(opts));
}

static void user_mounts(struct json_object *mounts, struct cryo_engine *engine,
                        const struct container_config *cfg);

/* Podman's layout after /proc and /dev: devpts, mqueue, sysfs, the cgroup
 * file system (runc binds the container's own cgroups there) and the
 * engine's files, as bind mounts (runc declares them external to CRIU). */
static void podman_mounts(struct json_object *mounts, struct cryo_engine *engine, const char *id,
                          const struct container_config *cfg)
{
	static const char *const pts_opts[] = {"nosuid",        "noexec",    "newinstance",
	                                       "ptmxmode=0666", "mode=0620", "gid=5"};
	static const char *const mq_opts[] = {"nosuid", "noexec", "nodev"};
	static const char *const sys_opts[] = {"nosuid", "noexec", "nodev", "ro"};
	static const char *const cg_opts[] = {"rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"};
	static const char *const file_opts[] = {"bind", "rprivate"};
	static const char *const shm_opts[] = {"bind", "rprivate", "nosuid", "noexec", "nodev"};
	add_mount(mounts, "/dev/pts", "devpts", "devpts", pts_opts, ARRAY_SIZE(pts_opts));
	add_mount(mounts, "/dev/mqueue", "mqueue", "mqueue", mq_opts, ARRAY_SIZE(mq_opts));
	add_mount(mounts, "/sys", "sysfs", "sysfs", sys_opts, ARRAY_SIZE(sys_opts));
	add_mount(mounts, "/sys/fs/cgroup", "cgroup", "cgroup", cg_opts, ARRAY_SIZE(cg_opts));
	for (size_t i = 0; cfg->engine_files[i]; i++) {
		cleanup_free char *source = spec_engine_file_path(engine, id, cfg->engine_files[i]);
		if (!source)
			continue; /* container_config_validate() refuses it */
		bool shm = strcmp(cfg->engine_files[i], "/dev/shm") == 0;
		add_mount(mounts, cfg->engine_files[i], "bind", source, shm ? shm_opts : file_opts,
		          shm ? ARRAY_SIZE(shm_opts) : ARRAY_SIZE(file_opts));
	}
}

static struct json_object *mounts_json(struct cryo_engine *engine, const char *id,
                                       const struct container_config *cfg)
{
	struct json_object *mounts = json_object_new_array();
	static const char *const proc_opts[] = {"nosuid", "noexec", "nodev"};
	static const char *const dev_opts[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
	static const char *const shm_opts[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
	static const char *const sys_opts[] = {"nosuid", "noexec", "nodev", "ro"};
	static const char *const pts_opts[] = {"nosuid",        "noexec",    "newinstance",
	                                       "ptmxmode=0666", "mode=0620", "gid=5"};
	static const char *const sys_bind_opts[] = {"bind", "nosuid", "noexec", "nodev", "ro"};
	bool host_net = cfg->network && strcmp(cfg->network, "host") == 0;

	add_mount(mounts, "/proc", "proc", "proc", proc_opts, ARRAY_SIZE(proc_opts));
	add_mount(mounts, "/dev", "tmpfs", "tmpfs", dev_opts, ARRAY_SIZE(dev_opts));
	if (has_engine_files(cfg)) {
		podman_mounts(mounts, engine, id, cfg);
		user_mounts(mounts, engine, cfg);
		return mounts;
	}
	add_mount(mounts, "/dev/shm", "tmpfs", "shm", shm_opts, ARRAY_SIZE(shm_opts));
	/* A terminal needs its own devpts (runc links /dev/ptmx to it); only -t
	 * containers get one, a mount being a cost at every checkpoint. */
	if (cfg->terminal)
		add_mount(mounts, "/dev/pts", "devpts", "devpts", pts_opts, ARRAY_SIZE(pts_opts));
	/* sysfs can only be mounted fresh in a network namespace of our own;
	 * with the host's network, bind the host's (not recursively). */
	if (host_net)
		add_mount(mounts, "/sys", "bind", "/sys", sys_bind_opts, ARRAY_SIZE(sys_bind_opts));
	else
		add_mount(mounts, "/sys", "sysfs", "sysfs", sys_opts, ARRAY_SIZE(sys_opts));

	static const char *const mask_opts[] = {"rbind", "ro", "rprivate", "nosuid", "nodev", "noexec"};
	cleanup_free char *empty = layout_empty_dir(engine->root);
	add_mount(mounts, "/sys/firmware", "bind", empty, mask_opts, ARRAY_SIZE(mask_opts));
	user_mounts(mounts, engine, cfg);
	return mounts;
}

/* The volumes, bind mounts and tmpfs the container was given. */
static void user_mounts(struct json_object *mounts, struct cryo_engine *engine,
                        const struct container_config *cfg)
{
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct container_mount *m = &cfg->mounts[i];
		if (m->kind == MOUNT_TMPFS) {
			add_tmpfs(mounts, m);
			continue;
		}
		cleanup_free char *source =
		    m->kind == MOUNT_VOLUME ? volume_data_dir(engine, m->source) : xstrdup(m->source);
		/* nodev, nosuid on volumes and bind mounts too, for the same
		 * reasons as the root file system (overlay.c) */
		const char *opts[] = {"rbind", m->readonly ? "ro" : "rw", "rprivate", "nosuid", "nodev"};
		add_mount(mounts, m->destination, "bind", source, opts, ARRAY_SIZE(opts));
	}
}

static struct json_object *linux_json(struct cryo_engine *engine, const char *id,
                                      const struct container_config *cfg, char *const *caps)
{
	struct json_object *lx = json_object_new_object();
	struct json_object *ns = json_object_new_array();
	const char *types[] = {"pid", "ipc", "uts", "mount", "network"};
	bool host_net = cfg->network && strcmp(cfg->network, "host") == 0;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if (host_net && strcmp(types[i], "network") == 0)
			continue;
		struct json_object *n = json_object_new_object();
		json_object_object_add(n, "type", json_object_new_string(types[i]));
		/* A bridge network's namespace is cryo's (network.c): runc joins
		 * it, and tells CRIU it is external on checkpoint and restore. */
		if (strcmp(types[i], "network") == 0 && network_is_bridge(cfg->network)) {
			cleanup_free char *netns = network_netns_path(engine, id);
			json_object_object_add(n, "path", json_object_new_string(netns));
		}
		json_object_array_add(ns, n);
	}
	json_object_object_add(lx, "namespaces", ns);
	cleanup_free char *cgpath = spec_cgroup_path(id);
	json_object_object_add(lx, "cgroupsPath", json_object_new_string(cgpath));

	struct json_object *res = json_object_new_object();
	struct json_object *devices = json_object_new_array();
	struct json_object *deny_all = json_object_new_object();
	json_object_object_add(deny_all, "allow", json_object_new_boolean(0));
	json_object_object_add(deny_all, "access", json_object_new_string("rwm"));
	json_object_array_add(devices, deny_all);
	json_object_object_add(res, "devices", devices);
	if (cfg->memory_limit > 0) {
		struct json_object *mem = json_object_new_object();
		json_object_object_add(mem, "limit", json_object_new_int64(cfg->memory_limit));
		json_object_object_add(res, "memory", mem);
	}
	if (cfg->pids_limit > 0) {
		struct json_object *pids = json_object_new_object();
		json_object_object_add(pids, "limit", json_object_new_int64(cfg->pids_limit));
		json_object_object_add(res, "pids", pids);
	}
	json_object_object_add(lx, "resources", res);
	if (has_engine_files(cfg)) {
		json_object_object_add(lx, "maskedPaths",
		                       const_strv_json(podman_masked_paths, ARRAY_SIZE(podman_masked_paths)));
		json_object_object_add(
		    lx, "readonlyPaths",
		    const_strv_json(podman_readonly_paths, ARRAY_SIZE(podman_readonly_paths)));
	} else {
		json_object_object_add(lx, "maskedPaths",
		                       const_strv_json(masked_paths, ARRAY_SIZE(masked_paths)));
		json_object_object_add(lx, "readonlyPaths",
		                       const_strv_json(readonly_paths, ARRAY_SIZE(readonly_paths)));
	}
	json_object_object_add(lx, "seccomp", security_seccomp_profile(caps));
	return lx;
}

/* The empty directory that masks /sys/firmware: made again should anything
 * have changed it (it must stay empty, root's, mode 1777 like runc's tmpfs). */
static int ensure_empty_dir(struct cryo_engine *engine, cryo_err *err)
{
	cleanup_free char *path = layout_empty_dir(engine->root);
	if (mkdir(path, 01777) < 0 && errno != EEXIST)
		return cryo_error_set(err, errno, "create `%s`", path);
	cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "open `%s`", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cryo_error_set(err, errno, "stat `%s`", path);
	cleanup_dir DIR *dir = fdopendir(dup(fd));
	if (!dir)
		return cryo_error_set(err, errno, "read `%s`", path);
	for (struct dirent *de; (de = readdir(dir));)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			return cryo_error_set(err, ENOTEMPTY,
			                      "`%s` masks /sys/firmware and must be empty, but holds `%s`",
			                      path, de->d_name);
	if ((st.st_uid != 0 || st.st_gid != 0) && fchown(fd, 0, 0) < 0)
		return cryo_error_set(err, errno, "chown `%s`", path);
	if ((st.st_mode & 07777) != 01777 && fchmod(fd, 01777) < 0)
		return cryo_error_set(err, errno, "chmod `%s`", path);
	return 0;
}

int spec_generate(struct cryo_engine *engine, const char *id, const struct container_config *cfg,
                  const char *rootfs, struct json_object **out, cryo_err *err)
{
	int64_t uid, gid;
	cleanup_strv char **caps = NULL;
	int r = ensure_empty_dir(engine, err);
	if (r < 0 || (has_engine_files(cfg) && (r = ensure_engine_files(engine, id, cfg, err)) < 0))
		return r;
	r = parse_user(cfg->user, &uid, &gid, err);
	if (r < 0 || (r = security_capabilities(cfg->cap_add, cfg->cap_drop, &caps, err)) < 0)
		return r;
	struct json_object *spec = json_object_new_object();
	json_object_object_add(spec, "ociVersion", json_object_new_string("1.0.2"));
	json_object_object_add(spec, "process", process_json(cfg, caps, uid, gid));
	struct json_object *root = json_object_new_object();
	json_object_object_add(root, "path", json_object_new_string(rootfs));
	json_object_object_add(root, "readonly", json_object_new_boolean(cfg->read_only));
	json_object_object_add(spec, "root", root);
	json_object_object_add(spec, "hostname", json_object_new_string(cfg->hostname ? cfg->hostname : id));
	json_object_object_add(spec, "mounts", mounts_json(engine, id, cfg));
	json_object_object_add(spec, "linux", linux_json(engine, id, cfg, caps));
	/* runc hands this file to CRIU (its `org.criu.config` annotation); cryo
	 * writes it before each checkpoint (checkpoint.c). */
	struct json_object *annotations = json_object_new_object();
	cleanup_free char *criu_conf = layout_container_criu_config(engine->root, id);
	json_object_object_add(annotations, "org.criu.config", json_object_new_string(criu_conf));
	json_object_object_add(spec, "annotations", annotations);
	*out = spec;
	return 0;
}

int spec_write_criu_config(const char *bundle_dir, const char *text, cryo_err *err)
{
	cleanup_free char *path = xasprintf("%s/" SPEC_CRIU_CONFIG, bundle_dir);
	return write_file_atomic(path, text, strlen(text), 0644, err);
}

int spec_write(const char *bundle_dir, struct json_object *spec, cryo_err *err)
{
	cleanup_free char *path = xasprintf("%s/config.json", bundle_dir);
	const char *text =
	    json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	return write_file_atomic(path, text, strlen(text), 0600, err);
}
