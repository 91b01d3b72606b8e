#include "criu_selftest.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "hwbp.h"
#include "layout.h"
#include "proc.h"
#include "util.h"

#define TREE_START_TIMEOUT_MS 5000
#define TREE_REAP_TIMEOUT_MS 5000
#define COUNTER_ADVANCE_TIMEOUT_MS 5000
#define TREE_SHELL "/bin/bash"
/* A restored tree resumes from its checkpointed counter; the values still in
 * the pipe and those written while we poll stay far below this. A tree started
 * afresh would begin at a new clock-based value, seconds (millions) away. */
#define COUNTER_MAX_RESUME_STEP 10000
#define CRIU_LOG_ERROR_LINES 10
#define CRIU_LOG_TAIL_LINES 3

struct selftest {
	struct cryo_engine *engine;
	int timeout_ms;
	char *criu, *dir, *images, *counter, *pidfile;
	char **env;
	struct criu_stepping_choice stepping;
	pid_t root;         /* the tree's root: its session leader, so its session ID */
	int tree_size;      /* processes in the tree once it runs */
	uint64_t last_seen; /* a counter value seen while the tree ran */
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000 * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The tree is a shell pipeline of builtins only (no process comes or goes
 * while CRIU works): a writer subshell counts from `base` and sends each value
 * down the pipe, pacing itself with a timed read on a FIFO that never has
 * data; a reader subshell writes each value into `counter`. Both stop after
 * `lifetime` seconds, should cryo die before killing them. A shell, not a fork
 * of cryo: cryo's own image (its database mapping, a sanitizer's shadow
 * memory) has no place in the checkpoint. */
static char *tree_script(uint64_t base, int64_t lifetime_s)
{
	return xasprintf("exec 3<>pace.fifo\n"
	                 "{ i=%" PRIu64 "; while (( SECONDS < %" PRId64 " )); do i=$((i + 1)); echo $i; "
	                 "read -t 0.01 -u 3 _; done; } |\n"
	                 "{ while read -r v; do echo \"$v\" >counter; done; }\n",
	                 base, lifetime_s);
}

static _Noreturn void exec_tree(const char *dir, const char *script)
{
	char *argv[] = {"bash", "-c", (char *)script, NULL};
	char *envp[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};
	sigset_t none;
	int devnull;

	if (setsid() < 0 || chdir(dir) < 0)
		_exit(126);
	devnull = open("/dev/null", O_RDWR);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
		_exit(126);
	/* Nothing of cryo's (its database, the caller's pipes) belongs in the image. */
	close_range(3, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execve(TREE_SHELL, argv, envp);
	_exit(127);
}

/* A number in a file, with a newline after it when line is set (a counter
 * value caught mid-write has no newline yet). */
static bool read_number(const char *path, bool line, uint64_t *value)
{
	cleanup_error cryo_err err = NULL;
	cleanup_free char *text = NULL;
	char *end;
	if (read_file(path, &text, NULL, &err) < 0 || !*text)
		return false;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || strcmp(end, line ? "\n" : "") != 0)
		return false;
	*value = v;
	return true;
}

/* Count the processes of the tree, those in the root's session, sending
 * each of them sig when it is not 0. */
static void tree_scan(const struct selftest *s, int sig, int *all, int *running)
{
	cleanup_dir DIR *proc = opendir("/proc");
	struct dirent *de;
	*all = *running = 0;
	while (proc && s->root > 0 && (de = readdir(proc))) {
		cleanup_error cryo_err err = NULL;
		cleanup_free char *path = NULL, *text = NULL;
		int ppid, pgrp, session;
		char state;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		path = xasprintf("/proc/%s/stat", de->d_name);
		if (read_file(path, &text, NULL, &err) < 0)
			continue;
		const char *after = strrchr(text, ')');
		if (!after || sscanf(after + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4 ||
		    session != s->root)
			continue;
		(*all)++;
		if (state != 'Z' && state != 'X')
			(*running)++;
		if (sig)
			kill((pid_t)atoi(de->d_name), sig);
	}
}

/* Reap whatever of the tree has ended; we are its subreaper, so its processes
 * end up as our children. True once none is left. */
static bool reap_tree(struct selftest *s, int timeout_ms)
{
	int64_t deadline = now_monotonic_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		int status, all, running;
		pid_t w = waitpid(-1, &status, WNOHANG);
		if (w > 0 || (w < 0 && errno == EINTR))
			continue;
		tree_scan(s, 0, &all, &running);
		if (all == 0)
			return true;
		if (now_monotonic_us() >= deadline)
			return false;
		sleep_ms(1);
	}
}

static void kill_tree(struct selftest *s)
{
	int all, running;
	if (s->root <= 0)
		return;
	/* Member by member rather than by process group: a partly restored tree
	 * may not have its group yet. */
	tree_scan(s, SIGKILL, &all, &running);
	if (all > 0)
		reap_tree(s, TREE_REAP_TIMEOUT_MS);
}

static int spawn_tree(struct selftest *s, cryo_err *err)
{
	/* Generous: the tree outlives the test only if cryo itself dies. */
	int64_t lifetime_s = (int64_t)s->timeout_ms * 4 / 1000 + 60;
	cleanup_free char *script = tree_script((uint64_t)now_realtime_us(), lifetime_s);
	cleanup_free char *fifo = xasprintf("%s/pace.fifo", s->dir);

	if (access(TREE_SHELL, X_OK) < 0)
		return cryo_error_set(err, errno, "the test process tree runs in `%s`", TREE_SHELL);
	if (mkfifo(fifo, 0600) < 0)
		return cryo_error_set(err, errno, "create FIFO `%s`", fifo);
	pid_t pid = fork();
	if (pid < 0)
		return cryo_error_set(err, errno, "fork");
	if (pid == 0)
		exec_tree(s->dir, script);
	s->root = pid;

	/* Running means: all three processes are up and values are flowing. */
	int64_t start_deadline = now_monotonic_us() + TREE_START_TIMEOUT_MS * 1000;
	uint64_t first = 0, now = 0;
	for (;;) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return cryo_error_set(err, 0, "`%s -c SCRIPT` (PID %d) ended at start (status 0x%x)",
			                      TREE_SHELL, (int)pid, status);
		if (read_number(s->counter, true, &now)) {
			if (!first)
				first = now;
			else if (now >= first + 2)
				break;
		}
		if (now_monotonic_us() >= start_deadline)
			return cryo_error_set(err, 0,
			                      "the test process tree (PID %d) did not start counting in `%s`",
			                      (int)pid, s->counter);
		sleep_ms(5);
	}
	int all;
	s->last_seen = now;
	tree_scan(s, 0, &all, &s->tree_size);
	return 0;
}

/* The last lines of a log, or NULL. */
static char *log_tail(const char *path, int lines)
{
	cleanup_error cryo_err err = NULL;
	cleanup_free char *text = NULL;
	if (read_file(path, &text, NULL, &err) < 0)
		return NULL;
	str_rstrip(text);
	char *start = text + strlen(text);
	for (int n = 0; start > text; start--)
		if (start[-1] == '\n' && ++n == lines)
			break;
	return *start ? xstrdup(start) : NULL;
}

/* Run CRIU; on failure, an error naming the command, its log's error lines
 * and, for a timeout, the likely cause. */
static int run_criu(struct selftest *s, char *const argv[], const char *what, const char *log,
                    int64_t *elapsed_us, cryo_err *err)
{
	struct proc_opts opts = PROC_OPTS_INIT;
	struct proc_result res;
	opts.env = s->env;
	opts.capture_stdout = opts.capture_stderr = true;
	opts.timeout_ms = s->timeout_ms;
	int64_t start = now_monotonic_us();
	int r = proc_run(argv, &opts, &res, err);
	*elapsed_us = now_monotonic_us() - start;
	if (r < 0)
		return cryo_error_wrap(err, "%s", what);

	if (res.timed_out) {
		bool fault_set = false;
		for (char **e = s->env; e && *e; e++)
			if (str_has_prefix(*e, "CRIU_FAULT="))
				fault_set = true;
		r = cryo_error_set(
		    err, 0,
		    "%s did not finish within %d s and was killed; if hardware breakpoints do not fire "
		    "on this machine CRIU must step by syscall (CRIU_FAULT=" CRIU_FAULT_NO_BREAKPOINTS
		    "). This run stepped by %s and %s: %s",
		    what, s->timeout_ms / 1000, criu_stepping_name(s->stepping.mode),
		    fault_set ? "had CRIU_FAULT=" CRIU_FAULT_NO_BREAKPOINTS
		              : "did not set CRIU_FAULT=" CRIU_FAULT_NO_BREAKPOINTS,
		    s->stepping.reason);
	} else if (res.status != 0) {
		r = cryo_error_set(err, 0, "%s exited with status %d", what, res.status);
	}
	if (r < 0) {
		cleanup_free char *errors = criu_log_errors(log, CRIU_LOG_ERROR_LINES);
		cleanup_free char *tail = res.timed_out ? log_tail(log, CRIU_LOG_TAIL_LINES) : NULL;
		if (tail)
			cryo_error_append(err, "\nCRIU's log (%s) ends with:\n%s", log, tail);
		else if (errors)
			cryo_error_append(err, "\nCRIU errors (%s):\n%s", log, errors);
		else if (res.errout && *str_rstrip(res.errout))
			cryo_error_append(err, "\n%s", res.errout);
	}
	proc_result_free(&res);
	return r;
}

static int dump_tree(struct selftest *s, struct criu_selftest_report *report, cryo_err *err)
{
	cleanup_free char *pid = xasprintf("%d", (int)s->root);
	cleanup_free char *log = xasprintf("%s/dump.log", s->images);
	char *argv[] = {s->criu, "dump", "-t", pid, "-D", s->images, "-o", "dump.log", "-v4", NULL};
	/* A read can race with the reader's next write (the file is empty or
	 * incomplete then); the tree's start gave us an earlier value. */
	uint64_t seen = s->last_seen;
	read_number(s->counter, true, &seen);
	int r = run_criu(s, argv, "criu dump", log, &report->dump_us, err);
	if (r < 0)
		return r;
	/* The dump killed the tree; its PIDs must be free before the restore. */
	if (!reap_tree(s, TREE_REAP_TIMEOUT_MS))
		return cryo_error_set(err, EBUSY, "the dumped process tree %d is still there after criu dump",
		                      (int)s->root);
	/* The last value the tree wrote before it froze; when the dump caught the
	 * reader between truncating the file and writing it, the last value we saw. */
	if (!read_number(s->counter, true, &report->counter_at_dump))
		report->counter_at_dump = seen;
	return 0;
}

static int restore_tree(struct selftest *s, struct criu_selftest_report *report, cryo_err *err)
{
	cleanup_free char *log = xasprintf("%s/restore.log", s->images);
	char *argv[] = {s->criu,       "restore", "-d",        "-D",       s->images, "-o",
	                "restore.log", "-v4",     "--pidfile", s->pidfile, NULL};
	uint64_t pid;
	int r = run_criu(s, argv, "criu restore", log, &report->restore_us, err);
	if (r < 0)
		return r;
	if (!read_number(s->pidfile, false, &pid))
		return cryo_error_set(err, 0, "criu restore wrote no PID to `%s`", s->pidfile);
	if ((pid_t)pid != s->root)
		return cryo_error_set(err, 0, "criu restore gave the tree's root PID %" PRIu64 ", not %d",
		                      pid, (int)s->root);
	return 0;
}

static int verify_restored(struct selftest *s, struct criu_selftest_report *report, cryo_err *err)
{
	int all, running;
	tree_scan(s, 0, &all, &running);
	if (running != s->tree_size)
		return cryo_error_set(err, ESRCH,
		                      "the restored tree (root PID %d) has %d running processes, not %d",
		                      (int)s->root, running, s->tree_size);

	uint64_t from = report->counter_at_dump, value = from;
	int64_t deadline = now_monotonic_us() + COUNTER_ADVANCE_TIMEOUT_MS * 1000;
	while (!(read_number(s->counter, true, &value) && value > from)) {
		if (now_monotonic_us() >= deadline)
			return cryo_error_set(err, 0,
			                      "the restored tree did not advance its counter past %" PRIu64
			                      " within %d s (it reads %" PRIu64 ")",
			                      from, COUNTER_ADVANCE_TIMEOUT_MS / 1000, value);
		sleep_ms(1);
	}
	if (value > from + COUNTER_MAX_RESUME_STEP)
		return cryo_error_set(err, 0,
		                      "the restored tree counts from %" PRIu64 ", not on from %" PRIu64
		                      ": it did not resume its checkpointed state",
		                      value, from);
	report->counter_restored = value;
	return 0;
}

static void read_stats(struct selftest *s, struct criu_selftest_report *report)
{
	cleanup_error cryo_err err = NULL;
	cleanup_free char *dump = xasprintf("%s/" CRIU_STATS_DUMP_FILE, s->images);
	cleanup_free char *restore = xasprintf("%s/" CRIU_STATS_RESTORE_FILE, s->images);
	/* Statistics are a report's extra; the test itself has passed. */
	report->have_dump_stats = criu_stats_read_dump(dump, &report->dump_stats, &err) == 0;
	cryo_error_free(&err);
	report->have_restore_stats = criu_stats_read_restore(restore, &report->restore_stats, &err) == 0;
}

static void selftest_free(struct selftest *s)
{
	free(s->criu);
	free(s->dir);
	free(s->images);
	free(s->counter);
	free(s->pidfile);
	strv_free(s->env);
	criu_stepping_choice_free(&s->stepping);
}

static int run_steps(struct selftest *s, struct criu_selftest_report *report, cryo_err *err)
{
	int r;
	if ((r = spawn_tree(s, err)) < 0)
		return cryo_error_wrap(err, "start the test process tree");
	report->pid = s->root;
	report->processes = s->tree_size;
	if ((r = dump_tree(s, report, err)) < 0 || (r = restore_tree(s, report, err)) < 0 ||
	    (r = verify_restored(s, report, err)) < 0)
		return r;
	read_stats(s, report);
	return 0;
}

int criu_selftest_run(struct cryo_engine *engine, int timeout_ms, struct criu_selftest_report *report,
                      cryo_err *err)
{
	struct selftest s = {.engine = engine,
	                     .timeout_ms = timeout_ms > 0 ? timeout_ms : CRIU_SELFTEST_DEFAULT_TIMEOUT_MS};
	int r, was_subreaper = 0;

	memset(report, 0, sizeof(*report));
	if ((r = criu_require(engine, &s.criu, err)) < 0 || (r = criu_env(engine, &s.env, err)) < 0 ||
	    (r = criu_stepping_decide(engine, NULL, &s.stepping, err)) < 0)
		goto out;

	s.dir = layout_tmp(engine->root, "system-check-XXXXXX");
	if (!mkdtemp(s.dir)) {
		r = cryo_error_set(err, errno, "create a directory from template `%s`", s.dir);
		goto out;
	}
	s.images = xasprintf("%s/images", s.dir);
	s.counter = xasprintf("%s/counter", s.dir);
	s.pidfile = xasprintf("%s/restored.pid", s.dir);
	if ((r = mkdir_p(s.images, 0700, err)) < 0)
		goto out;

	/* Orphans of the tree (its children once the dump kills the root, the
	 * restored root once criu restore exits) come to us, so we can reap and kill them. */
	prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper, 0, 0, 0);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		r = cryo_error_set(err, errno, "become the test tree's subreaper");
		goto out;
	}
	r = run_steps(&s, report, err);
	kill_tree(&s);
	prctl(PR_SET_CHILD_SUBREAPER, was_subreaper, 0, 0, 0);

	if (r < 0) {
		cryo_error_append(err, "\n(test files kept in `%s`)", s.dir);
	} else {
		cleanup_error cryo_err rm_err = NULL;
		/* A leftover directory under tmp/ is harmless; the check itself passed. */
		rm_rf(s.dir, &rm_err);
	}
out:
	if (r < 0) {
		cryo_error_wrap(err, "CRIU self-test");
	} else {
		report->criu = move_ptr(s.criu);
		report->env = move_ptr(s.env);
	}
	selftest_free(&s);
	return r;
}

void criu_selftest_report_free(struct criu_selftest_report *report)
{
	free(report->criu);
	strv_free(report->env);
	memset(report, 0, sizeof(*report));
}
