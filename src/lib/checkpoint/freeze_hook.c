#include "freeze_hook.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "util.h"

static bool process_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static pid_t parent_of(pid_t pid)
{
	cleanup_free char *path = xasprintf("/proc/%d/stat", (int)pid);
	cleanup_free char *stat = NULL;
	int ppid = 0;
	if (read_file(path, &stat, NULL, NULL) < 0)
		return 0;
	char *end = strrchr(stat, ')');
	if (!end || sscanf(end + 2, "%*c %d", &ppid) != 1)
		return 0;
	return ppid;
}

/* CRIU runs the hook through `sh -c`, which may or may not fork: look for
 * the nearest ancestor that is CRIU itself. */
static pid_t criu_ancestor(void)
{
	pid_t pid = getppid();
	for (int depth = 0; pid > 1 && depth < 4; depth++) {
		cleanup_free char *path = xasprintf("/proc/%d/comm", (int)pid);
		cleanup_free char *comm = NULL;
		if (read_file(path, &comm, NULL, NULL) == 0 && strcmp(str_rstrip(comm), "criu") == 0)
			return pid;
		pid = parent_of(pid);
	}
	return getppid();
}

/* Should the owner (the checkpointing cryo) die without thawing, wait until
 * CRIU is done with the container too (it puts the cgroup back to frozen
 * when it finishes; criu_pid 0: no CRIU involved), then thaw. */
static _Noreturn void freeze_watchdog(struct freezer *f, size_t n, pid_t owner_pid, pid_t criu_pid,
                                      const char *thawed_marker)
{
	int64_t give_up = now_monotonic_us() + 15LL * 60 * 1000 * 1000;
	struct timespec tick = {0, 50 * 1000 * 1000};
	while (process_alive(owner_pid) && now_monotonic_us() < give_up)
		nanosleep(&tick, NULL);
	if (!path_exists(thawed_marker)) {
		while (process_alive(criu_pid) && now_monotonic_us() < give_up)
			nanosleep(&tick, NULL);
		/* Thaw, and keep it thawed a little while in case a straggler of the
		 * dump puts the freezer back. */
		for (int i = 0; i < 40; i++) {
			for (size_t j = 0; j < n; j++) {
				bool frozen = false;
				if (freezer_is_frozen(&f[j], &frozen, NULL) == 0 && frozen)
					freezer_thaw(&f[j], NULL);
			}
			nanosleep(&tick, NULL);
		}
	}
	unlink(thawed_marker);
	_exit(0);
}

void freeze_watchdog_start(struct freezer *f, size_t n, pid_t owner_pid, pid_t criu_pid,
                           const char *thawed_marker)
{
	pid_t watchdog = fork();
	if (watchdog == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		int devnull = open("/dev/null", O_RDWR);
		for (int i = 0; i < 1024; i++)
			if (i != devnull)
				close(i);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		freeze_watchdog(f, n, owner_pid, criu_pid, thawed_marker);
	}
	if (watchdog > 0)
		waitpid(watchdog, NULL, 0);
}

static const char *params_str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : NULL;
}

static int params_int(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int)
	           ? json_object_get_int(v)
	           : 0;
}

int freeze_hook_params_write(const char *path, const struct freeze_hook_params *p, cryo_err *err)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string(freezer_kind_name(p->kind)));
	json_object_object_add(o, "dir", json_object_new_string(p->dir));
	json_object_object_add(o, "cgroup", json_object_new_string(p->cgroup));
	json_object_object_add(o, "init_pid", json_object_new_int((int)p->init_pid));
	json_object_object_add(o, "cryo_pid", json_object_new_int((int)p->cryo_pid));
	json_object_object_add(o, "stamp", json_object_new_string(p->stamp));
	json_object_object_add(o, "error_file", json_object_new_string(p->error_file));
	json_object_object_add(o, "thawed_marker", json_object_new_string(p->thawed_marker));
	const char *text =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	int r = write_file(path, text, strlen(text), 0600, err);
	json_object_put(o);
	return r;
}

int freeze_hook_arm(struct freeze_hook *h, const char *work_dir, const struct freezer *f, pid_t init_pid,
                    const char *thawed_marker, char **criu_config, cryo_err *err)
{
	h->params = xasprintf("%s/freeze-hook.json", work_dir);
	h->error_file = xasprintf("%s/freeze-hook.error", work_dir);
	h->stamp = xasprintf("%s/frozen-at", work_dir);
	h->script = xasprintf("%s/freeze-hook", work_dir);
	/* A file, not words of the script: CRIU runs the action script
	 * through /bin/sh, so nothing that could carry shell syntax goes into
	 * it. */
	struct freeze_hook_params p = {
	    .kind = f->kind,
	    .dir = f->dir,
	    .cgroup = f->cgroup,
	    .init_pid = init_pid,
	    .cryo_pid = getpid(),
	    .stamp = h->stamp,
	    .error_file = h->error_file,
	    .thawed_marker = thawed_marker,
	};
	int r = freeze_hook_params_write(h->params, &p, err);
	if (r < 0)
		return r;
	/* CRIU runs the script at every action, several inside its own frozen
	 * time: only pre-dump may cost more than a shell's start. */
	cleanup_free char *exe_word = shell_quote(h->exe);
	cleanup_free char *params_word = shell_quote(h->params);
	cleanup_free char *text =
	    xasprintf("#!/bin/sh\n"
	              "# Written by cryo: freeze the container right before CRIU seizes it.\n"
	              "[ \"$CRTOOLS_SCRIPT_ACTION\" = pre-dump ] || exit 0\n"
	              "exec %s " FREEZE_HOOK_COMMAND " %s\n",
	              exe_word, params_word);
	if ((r = write_file(h->script, text, strlen(text), 0700, err)) < 0)
		return r;
	*criu_config = xasprintf("action-script %s\n", h->script);
	return 0;
}

bool freeze_hook_frozen_at(const struct freeze_hook *h, int64_t *start, int64_t *frozen)
{
	cleanup_free char *stamp = NULL;
	long long s = 0, f = 0;
	if (!h->stamp || read_file(h->stamp, &stamp, NULL, NULL) < 0 ||
	    sscanf(stamp, "%lld %lld", &s, &f) != 2)
		return false;
	*start = s;
	*frozen = f;
	return true;
}

char *freeze_hook_refusal(const struct freeze_hook *h)
{
	char *refused = NULL;
	if (!h->error_file || read_file(h->error_file, &refused, NULL, NULL) < 0)
		return NULL;
	if (!*refused) {
		free(refused);
		return NULL;
	}
	return refused;
}

void freeze_hook_release(struct freeze_hook *h)
{
	free(h->exe);
	free(h->params);
	free(h->error_file);
	free(h->stamp);
	free(h->script);
	*h = (struct freeze_hook){0};
}

/* The parameters as read back; the strings point into json. */
struct hook_params {
	struct json_object *json;
	const char *kind, *dir, *cgroup, *stamp, *error_file, *thawed_marker;
	pid_t init_pid, cryo_pid;
};

static int read_hook_params(const char *path, struct hook_params *p)
{
	cleanup_free char *text = NULL;
	if (read_file(path, &text, NULL, NULL) < 0 || !(p->json = json_tokener_parse(text)))
		return -EINVAL;
	p->kind = params_str(p->json, "kind");
	p->dir = params_str(p->json, "dir");
	p->cgroup = params_str(p->json, "cgroup");
	p->stamp = params_str(p->json, "stamp");
	p->error_file = params_str(p->json, "error_file");
	p->thawed_marker = params_str(p->json, "thawed_marker");
	p->init_pid = params_int(p->json, "init_pid");
	p->cryo_pid = params_int(p->json, "cryo_pid");
	if (!p->kind || !p->dir || !p->cgroup || !p->stamp || !p->error_file || !p->thawed_marker ||
	    p->init_pid <= 0 || p->cryo_pid <= 0)
		return -EINVAL;
	return 0;
}

int freeze_hook_main(int argc, char **argv)
{
	/* CRIU runs its action scripts for every action; only pre-dump freezes. */
	const char *action = getenv("CRTOOLS_SCRIPT_ACTION");
	if (!action || strcmp(action, "pre-dump") != 0)
		return 0;
	if (argc != 2)
		return 2;
	struct hook_params p = {0};
	if (read_hook_params(argv[1], &p) < 0) {
		fprintf(stderr, "cryo freeze hook: cannot read its parameters `%s`\n", argv[1]);
		if (p.json)
			json_object_put(p.json);
		return 2;
	}
	struct freezer f;
	cleanup_error cryo_err err = NULL;
	freezer_init_cgroup(&f, strcmp(p.kind, freezer_kind_name(FREEZER_V2)) == 0 ? FREEZER_V2 : FREEZER_V1,
	                    p.dir, p.cgroup);
	int status = 1;
	/* CRIU may run the hook more than once: the first run is the one that counts. */
	cleanup_close int fd = open(p.stamp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		status = errno == EEXIST ? 0 : 1;
		goto out;
	}
	int64_t start = now_monotonic_us();
	int r = freezer_freeze(&f, FREEZER_TIMEOUT_US, &err);
	int64_t done = now_monotonic_us();
	/* Frozen: no task can move now. Every one must be in the cgroup that
	 * was frozen, or the dump and the capture would see a running task. */
	if (r == 0 && (r = freezer_check_tasks_beneath(&f, p.init_pid, &err)) < 0)
		freezer_thaw(&f, NULL);
	if (r < 0) {
		fprintf(stderr, "cryo freeze hook: %s\n", err->msg);
		write_file(p.error_file, err->msg, strlen(err->msg), 0600, NULL);
		goto out;
	}
	char line[64];
	int n = snprintf(line, sizeof(line), "%lld %lld\n", (long long)start, (long long)done);
	if (write(fd, line, (size_t)n) != n) {
		freezer_thaw(&f, NULL);
		goto out;
	}
	freeze_watchdog_start(&f, 1, p.cryo_pid, criu_ancestor(), p.thawed_marker);
	status = 0;
out:
	freezer_release(&f);
	json_object_put(p.json);
	return status;
}
