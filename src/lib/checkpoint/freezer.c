#include "freezer.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

void freezer_init(struct freezer *f, enum freezer_kind kind, const char *dir)
{
	f->kind = kind;
	f->dir = xstrdup(dir);
	f->cgroup = NULL;
}

void freezer_init_cgroup(struct freezer *f, enum freezer_kind kind, const char *dir, const char *cgroup)
{
	freezer_init(f, kind, dir);
	f->cgroup = xstrdup(cgroup);
}

void freezer_release(struct freezer *f)
{
	free(f->dir);
	free(f->cgroup);
	f->dir = NULL;
	f->cgroup = NULL;
}

int freezer_for_cgroup_at(const char *cgroup_root, const char *cgroup_path, struct freezer *out,
                          cryo_err *err)
{
	enum cgroup_mode mode;
	int r = hostinfo_cgroup_mode_at(cgroup_root, &mode, err);
	if (r < 0)
		return r;
	enum freezer_kind kind = hostinfo_freezer_kind_at(cgroup_root, mode);
	if (kind == FREEZER_NONE)
		return cryo_error_set(
		    err, ENOTSUP, "this host has no cgroup freezer (no v1 freezer hierarchy, no cgroup v2)");
	if (cgroup_path[0] != '/' || strstr(cgroup_path, "/../") || str_has_suffix(cgroup_path, "/.."))
		return cryo_error_set(err, EINVAL, "cgroup path `%s` is not a clean absolute path",
		                      cgroup_path);
	cleanup_free char *dir =
	    xasprintf("%s%s%s", cgroup_root, kind == FREEZER_V1 ? "/freezer" : "", cgroup_path);
	freezer_init_cgroup(out, kind, dir, cgroup_path);
	return 0;
}

int freezer_for_cgroup(const char *cgroup_path, struct freezer *out, cryo_err *err)
{
	return freezer_for_cgroup_at(CGROUP_ROOT, cgroup_path, out, err);
}

char *freezer_cgroup_from_proc_cgroup(const char *proc_cgroup, enum freezer_kind kind)
{
	cleanup_free char *copy = xstrdup(proc_cgroup);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* hierarchy-ID:controller-list:cgroup-path; the kernel refuses cgroup
		 * names with a newline, so every line is one hierarchy. */
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = '\0';
		*c2 = '\0';
		const char *controllers = c1 + 1, *path = c2 + 1;
		if (kind == FREEZER_V1) {
			cleanup_free char *list = xstrdup(controllers);
			char *s2 = NULL;
			for (char *ctl = strtok_r(list, ",", &s2); ctl; ctl = strtok_r(NULL, ",", &s2))
				if (strcmp(ctl, "freezer") == 0)
					return xstrdup(path);
		} else if (kind == FREEZER_V2 && strcmp(line, "0") == 0 && *controllers == '\0') {
			return xstrdup(path);
		}
	}
	return NULL;
}

bool freezer_cgroup_is_beneath(const char *path, const char *ancestor)
{
	size_t n = strlen(ancestor);
	while (n > 1 && ancestor[n - 1] == '/')
		n--;
	if (n == 1 && ancestor[0] == '/')
		return path[0] == '/';
	return strncmp(path, ancestor, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

char *freezer_dir_from_proc_cgroup(const char *proc_cgroup, enum freezer_kind kind, enum cgroup_mode mode,
                                   const char *cgroup_root)
{
	cleanup_free char *path = freezer_cgroup_from_proc_cgroup(proc_cgroup, kind);
	if (!path)
		return NULL;
	if (kind == FREEZER_V1)
		return xasprintf("%s/freezer%s", cgroup_root, path);
	if (mode == CGROUP_MODE_HYBRID)
		return xasprintf("%s/unified%s", cgroup_root, path);
	return xasprintf("%s%s", cgroup_root, path);
}

int freezer_for_pid(pid_t pid, struct freezer *out, cryo_err *err)
{
	enum cgroup_mode mode;
	int r = hostinfo_cgroup_mode(&mode, err);
	if (r < 0)
		return r;
	enum freezer_kind kind = hostinfo_freezer_kind(mode);
	if (kind == FREEZER_NONE)
		return cryo_error_set(
		    err, ENOTSUP, "this host has no cgroup freezer (no v1 freezer hierarchy, no cgroup v2)");
	cleanup_free char *path = xasprintf("/proc/%d/cgroup", (int)pid);
	cleanup_free char *text = NULL;
	if ((r = read_file(path, &text, NULL, err)) < 0)
		return cryo_error_wrap(err, "find the cgroup of process %d", (int)pid);
	char *dir = freezer_dir_from_proc_cgroup(text, kind, mode, CGROUP_ROOT);
	if (!dir)
		return cryo_error_set(err, ENOENT, "process %d is in no %s cgroup", (int)pid,
		                      freezer_kind_name(kind));
	out->kind = kind;
	out->dir = dir;
	out->cgroup = NULL;
	return 0;
}

static const char *control_file(const struct freezer *f)
{
	return f->kind == FREEZER_V1 ? "freezer.state" : "cgroup.freeze";
}

static int write_control(const struct freezer *f, const char *value, cryo_err *err)
{
	cleanup_free char *path = xasprintf("%s/%s", f->dir, control_file(f));
	return write_file(path, value, strlen(value), 0644, err);
}

int freezer_is_frozen(const struct freezer *f, bool *frozen, cryo_err *err)
{
	cleanup_free char *text = NULL;
	cleanup_free char *path =
	    xasprintf("%s/%s", f->dir, f->kind == FREEZER_V1 ? "freezer.state" : "cgroup.events");
	int r = read_file(path, &text, NULL, err);
	if (r < 0)
		return r;
	if (f->kind == FREEZER_V1) {
		*frozen = strcmp(str_rstrip(text), "FROZEN") == 0;
		return 0;
	}
	/* cgroup.events: "populated 1\nfrozen 1\n" */
	char *line = strstr(text, "frozen ");
	*frozen = line && line[7] == '1';
	return 0;
}

int freezer_freeze(const struct freezer *f, int64_t timeout_us, cryo_err *err)
{
	int r = write_control(f, f->kind == FREEZER_V1 ? "FROZEN" : "1", err);
	if (r < 0)
		return cryo_error_wrap(err, "freeze cgroup `%s`", f->dir);
	/* Tasks in uninterruptible sleep delay the freeze (v1 reports FREEZING
	 * meanwhile); poll with a short, growing interval. */
	int64_t deadline = now_monotonic_us() + timeout_us;
	long interval_ns = 20 * 1000;
	for (;;) {
		bool frozen = false;
		if ((r = freezer_is_frozen(f, &frozen, err)) < 0) {
			freezer_thaw(f, NULL);
			return cryo_error_wrap(err, "freeze cgroup `%s`", f->dir);
		}
		if (frozen)
			return 0;
		if (f->kind == FREEZER_V1)
			write_control(f, "FROZEN", NULL); /* v1 retries the freeze on each write */
		if (now_monotonic_us() >= deadline) {
			freezer_thaw(f, NULL);
			return cryo_error_set(
			    err, ETIMEDOUT,
			    "freeze cgroup `%s`: its tasks did not all freeze within %lld ms "
			    "(a task stuck in uninterruptible sleep?); thawed it again",
			    f->dir, (long long)(timeout_us / 1000));
		}
		struct timespec ts = {0, interval_ns};
		nanosleep(&ts, NULL);
		if (interval_ns < 1000 * 1000)
			interval_ns *= 2;
	}
}

int freezer_thaw(const struct freezer *f, cryo_err *err)
{
	int r = write_control(f, f->kind == FREEZER_V1 ? "THAWED" : "0", err);
	if (r < 0)
		return cryo_error_wrap(err, "thaw cgroup `%s`", f->dir);
	return 0;
}

/* ---- every task of a container beneath its cgroup ---- */

/* The inode of a process's pid namespace, 0 when the process is gone. */
static ino_t pid_ns_inode(const char *pid)
{
	cleanup_free char *path = xasprintf("/proc/%s/ns/pid", pid);
	struct stat st;
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Is pid namespace `ns` (a process's, by its /proc entry) the container's or
 * nested inside it? Walks the namespace's parents with NS_GET_PARENT. */
static bool pid_ns_within(const char *pid, ino_t container_ns, ino_t host_ns)
{
	cleanup_free char *path = xasprintf("/proc/%s/ns/pid", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	for (int depth = 0; depth < 64; depth++) {
		struct stat st;
		if (fstat(fd, &st) < 0 || st.st_ino == host_ns)
			break;
		if (st.st_ino == container_ns) {
			close(fd);
			return true;
		}
		int parent = ioctl(fd, NS_GET_PARENT);
		close(fd);
		if (parent < 0)
			return false;
		fd = parent;
	}
	close(fd);
	return false;
}

/* A small memo of pid namespaces already classified. */
struct ns_memo {
	ino_t ino[64];
	bool inside[64];
	size_t n;
};

static bool ns_is_container(struct ns_memo *memo, const char *pid, ino_t ns, ino_t container_ns,
                            ino_t host_ns)
{
	if (ns == container_ns)
		return true;
	if (ns == host_ns)
		return false;
	for (size_t i = 0; i < memo->n; i++)
		if (memo->ino[i] == ns)
			return memo->inside[i];
	bool inside = pid_ns_within(pid, container_ns, host_ns);
	if (memo->n < ARRAY_SIZE(memo->ino)) {
		memo->ino[memo->n] = ns;
		memo->inside[memo->n++] = inside;
	}
	return inside;
}

/* Has this thread exited (a zombie, or gone)? */
static bool task_is_dead(const char *pid, const char *tid)
{
	cleanup_free char *path = xasprintf("/proc/%s/task/%s/stat", pid, tid);
	cleanup_free char *text = NULL;
	if (read_file(path, &text, NULL, NULL) < 0)
		return true;
	const char *end = strrchr(text, ')');
	return !end || end[1] != ' ' || end[2] == 'Z' || end[2] == 'X' || end[2] == 'x';
}

/* Check every thread of process `pid`. A thread that is gone is no concern. */
static int check_process_threads(const struct freezer *f, const char *pid, cryo_err *err)
{
	cleanup_free char *task_dir = xasprintf("/proc/%s/task", pid);
	cleanup_dir DIR *d = opendir(task_dir);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		cleanup_free char *path = xasprintf("/proc/%s/task/%s/cgroup", pid, de->d_name);
		cleanup_free char *text = NULL;
		if (read_file(path, &text, NULL, NULL) < 0)
			continue;
		cleanup_free char *cg = freezer_cgroup_from_proc_cgroup(text, f->kind);
		if (!cg)
			return cryo_error_set(err, EPERM,
			                      "task %s of the container (process %s) is in no %s cgroup",
			                      de->d_name, pid, freezer_kind_name(f->kind));
		/* cgroup v1 shows an exited task (a zombie) in the root cgroup:
		 * it cannot run, so it is no concern wherever it is shown. */
		if (!freezer_cgroup_is_beneath(cg, f->cgroup) && !task_is_dead(pid, de->d_name))
			return cryo_error_set(
			    err, EPERM,
			    "task %s of the container (process %s) is in cgroup `%s`, outside the "
			    "container's cgroup `%s`: freezing it would not stop that task",
			    de->d_name, pid, cg, f->cgroup);
	}
	return 0;
}

int freezer_check_tasks_beneath(const struct freezer *f, pid_t init_pid, cryo_err *err)
{
	if (!f->cgroup)
		return cryo_error_set(err, EINVAL, "freezer `%s`: its cgroup path is unknown", f->dir);
	char init[16];
	snprintf(init, sizeof(init), "%d", (int)init_pid);
	ino_t container_ns = pid_ns_inode(init), host_ns = pid_ns_inode("self");
	if (!container_ns)
		return cryo_error_set(err, ESRCH, "the container's init (process %d) is gone", (int)init_pid);
	if (container_ns == host_ns)
		return cryo_error_set(err, EPERM,
		                      "the container's init (process %d) shares the host's pid namespace",
		                      (int)init_pid);
	cleanup_dir DIR *proc = opendir("/proc");
	if (!proc)
		return cryo_error_set(err, errno, "list processes: open `/proc`");
	struct ns_memo memo = {.n = 0};
	struct dirent *de;
	while ((de = readdir(proc))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		ino_t ns = pid_ns_inode(de->d_name);
		if (!ns || !ns_is_container(&memo, de->d_name, ns, container_ns, host_ns))
			continue;
		int r = check_process_threads(f, de->d_name, err);
		if (r < 0)
			return r;
	}
	return 0;
}
