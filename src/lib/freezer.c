#include "freezer.h"

#include <string.h>
#include <time.h>

#include "util.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

void freezer_init(struct freezer *f, enum freezer_kind kind, const char *dir)
{
	f->kind = kind;
	f->dir = xstrdup(dir);
}

void freezer_release(struct freezer *f)
{
	free(f->dir);
	f->dir = NULL;
}

char *freezer_dir_from_proc_cgroup(const char *proc_cgroup, enum freezer_kind kind, enum cgroup_mode mode,
				   const char *cgroup_root)
{
	cleanup_free char *copy = xstrdup(proc_cgroup);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* hierarchy-ID:controller-list:cgroup-path */
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
					return xasprintf("%s/freezer%s", cgroup_root, path);
		} else if (kind == FREEZER_V2 && strcmp(line, "0") == 0 && *controllers == '\0') {
			if (mode == CGROUP_MODE_HYBRID)
				return xasprintf("%s/unified%s", cgroup_root, path);
			return xasprintf("%s%s", cgroup_root, path);
		}
	}
	return NULL;
}

int freezer_for_pid(pid_t pid, struct freezer *out, cryo_err *err)
{
	enum cgroup_mode mode;
	int r = hostinfo_cgroup_mode(&mode, err);
	if (r < 0)
		return r;
	enum freezer_kind kind = hostinfo_freezer_kind(mode);
	if (kind == FREEZER_NONE)
		return cryo_error_set(err, ENOTSUP, "this host has no cgroup freezer (no v1 freezer hierarchy, no cgroup v2)");
	cleanup_free char *path = xasprintf("/proc/%d/cgroup", (int)pid);
	cleanup_free char *text = NULL;
	if ((r = read_file(path, &text, NULL, err)) < 0)
		return cryo_error_wrap(err, "find the cgroup of process %d", (int)pid);
	char *dir = freezer_dir_from_proc_cgroup(text, kind, mode, CGROUP_ROOT);
	if (!dir)
		return cryo_error_set(err, ENOENT, "process %d is in no %s cgroup", (int)pid, freezer_kind_name(kind));
	out->kind = kind;
	out->dir = dir;
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
			return cryo_error_set(err, ETIMEDOUT,
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
