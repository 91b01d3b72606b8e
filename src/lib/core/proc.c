#include "proc.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "util.h"

extern char **environ;

static char **build_env(char *const *extra)
{
	char **env = NULL;
	for (char **e = environ; e && *e; e++) {
		bool overridden = false;
		const char *eq = strchr(*e, '=');
		size_t keylen = eq ? (size_t)(eq - *e) : strlen(*e);
		for (char *const *x = extra; x && *x; x++)
			if (strncmp(*x, *e, keylen) == 0 && (*x)[keylen] == '=')
				overridden = true;
		if (!overridden)
			strv_push(&env, *e);
	}
	for (char *const *x = extra; x && *x; x++)
		strv_push(&env, *x);
	if (!env)
		env = xcalloc(1, sizeof(char *));
	return env;
}

char *proc_find_executable(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	cleanup_free char *copy =
	    xstrdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *candidate = xasprintf("%s/%s", dir, name);
		struct stat st;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0)
			return candidate;
		free(candidate);
	}
	return NULL;
}

char *proc_argv_string(char *const argv[])
{
	char *s = xstrdup("");
	for (size_t i = 0; argv[i]; i++) {
		char *next = xasprintf("%s%s%s", s, i ? " " : "", argv[i]);
		free(s);
		s = next;
	}
	return s;
}

struct capture {
	int fd;
	char *buf;
	size_t len, cap;
};

static void capture_read(struct capture *c)
{
	char tmp[8192];
	ssize_t n = read(c->fd, tmp, sizeof(tmp));
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			close(c->fd);
			c->fd = -1;
		}
		return;
	}
	if (c->len + (size_t)n + 1 > c->cap) {
		c->cap = (c->len + (size_t)n + 1) * 2;
		c->buf = xrealloc(c->buf, c->cap);
	}
	memcpy(c->buf + c->len, tmp, (size_t)n);
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
}

/* Debug log: every external command, its extra environment, how it ended and
 * how long it took. */
static void log_run(char *const argv[], const struct proc_opts *opts, const struct proc_result *res,
                    int64_t duration_us)
{
	if (!cryo_log_enabled(CRYO_LOG_DEBUG))
		return;
	cleanup_free char *cmd = proc_argv_string(argv);
	cleanup_free char *env = xstrdup("");
	for (size_t i = 0; opts->env && opts->env[i]; i++) {
		char *next = xasprintf("%s%s%s", env, *env ? " " : "", opts->env[i]);
		free(env);
		env = next;
	}
	cleanup_free char *how = res->timed_out
	                             ? xasprintf("killed after its %d ms timeout", opts->timeout_ms)
	                         : res->stopped ? xstrdup("killed by its watch")
	                                        : xasprintf("exit %d", res->status);
	cryo_debug("ran `%s`%s%s%s: %s in %.1f ms", cmd, *env ? " (with " : "", env, *env ? ")" : "", how,
	           (double)duration_us / 1000.0);
}

int proc_run(char *const argv[], const struct proc_opts *opts, struct proc_result *res, cryo_err *err)
{
	struct proc_opts defaults = PROC_OPTS_INIT;
	int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	cleanup_strv char **env = NULL;
	cleanup_free char *exe = NULL;

	if (!opts)
		opts = &defaults;
	memset(res, 0, sizeof(*res));
	int64_t started = now_monotonic_us();
	exe = proc_find_executable(argv[0]);
	if (!exe)
		return cryo_error_set(err, ENOENT, "run `%s`: executable not found", argv[0]);
	env = build_env(opts->env);
	if (opts->capture_stdout && pipe2(out_pipe, O_CLOEXEC) < 0)
		return cryo_error_set(err, errno, "pipe");
	if (opts->capture_stderr && pipe2(err_pipe, O_CLOEXEC) < 0) {
		int saved = errno;
		if (out_pipe[0] >= 0) {
			close(out_pipe[0]);
			close(out_pipe[1]);
		}
		return cryo_error_set(err, saved, "pipe");
	}

	pid_t pid = fork();
	if (pid < 0) {
		int saved = errno;
		for (int i = 0; i < 2; i++) {
			if (out_pipe[i] >= 0)
				close(out_pipe[i]);
			if (err_pipe[i] >= 0)
				close(err_pipe[i]);
		}
		return cryo_error_set(err, saved, "fork for `%s`", argv[0]);
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		int in = opts->stdin_fd >= 0 ? opts->stdin_fd : devnull;
		int out = opts->stdout_fd >= 0 ? opts->stdout_fd : (out_pipe[1] >= 0 ? out_pipe[1] : devnull);
		int er = opts->stderr_fd >= 0 ? opts->stderr_fd : (err_pipe[1] >= 0 ? err_pipe[1] : devnull);
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(er, 2) < 0)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (opts->max_file_size) {
			const struct rlimit lim = {opts->max_file_size, opts->max_file_size};
			if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
				_exit(127);
		}
		execve(exe, argv, env);
		_exit(127);
	}

	struct capture caps[2] = {{.fd = out_pipe[0]}, {.fd = err_pipe[0]}};
	if (out_pipe[1] >= 0)
		close(out_pipe[1]);
	if (err_pipe[1] >= 0)
		close(err_pipe[1]);

	int64_t deadline = opts->timeout_ms > 0 ? now_monotonic_us() + (int64_t)opts->timeout_ms * 1000 : 0;
	int64_t watch_us = opts->watch ? (int64_t)(opts->watch_ms > 0 ? opts->watch_ms : 100) * 1000 : 0;
	int64_t next_watch = watch_us ? now_monotonic_us() + watch_us : 0;
	int status = 0;
	bool reaped = false;
	for (;;) {
		int64_t now = now_monotonic_us();
		if (next_watch && now >= next_watch) {
			if (opts->watch(opts->watch_data))
				goto stop;
			next_watch = now + watch_us;
		}
		/* The next moment to act without output: the deadline or the watch. */
		int64_t wake = deadline;
		if (next_watch && (!wake || next_watch < wake))
			wake = next_watch;
		struct pollfd pfds[2];
		int n = 0;
		for (int i = 0; i < 2; i++)
			if (caps[i].fd >= 0)
				pfds[n++] = (struct pollfd){.fd = caps[i].fd, .events = POLLIN};
		if (n == 0) {
			/* No more output to read: wait for the process itself. */
			if (!wake) {
				while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
					;
				reaped = true;
				break;
			}
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid) {
				reaped = true;
				break;
			}
			if (deadline && now_monotonic_us() >= deadline)
				goto timeout;
			struct timespec ts = {0, 2 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		int wait_ms = -1;
		if (wake) {
			int64_t left = wake - now_monotonic_us();
			if (deadline && now_monotonic_us() >= deadline)
				goto timeout;
			wait_ms = left > 0 ? (int)(left / 1000) + 1 : 0;
		}
		int r = poll(pfds, (nfds_t)n, wait_ms);
		if (r < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (caps[i].fd < 0)
				continue;
			for (int j = 0; j < n; j++)
				if (pfds[j].fd == caps[i].fd && pfds[j].revents)
					capture_read(&caps[i]);
		}
	}
	goto done;
stop:
	res->stopped = true;
	goto end_child;
timeout:
	res->timed_out = true;
end_child:
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	reaped = true;
done:
	for (int i = 0; i < 2; i++)
		if (caps[i].fd >= 0) {
			while (caps[i].fd >= 0 && !res->timed_out && !res->stopped)
				capture_read(&caps[i]);
			if (caps[i].fd >= 0)
				close(caps[i].fd);
		}
	if (!reaped)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	if (WIFEXITED(status))
		res->status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->status = 128 + WTERMSIG(status);
	res->out = caps[0].buf ? caps[0].buf : (opts->capture_stdout ? xstrdup("") : NULL);
	res->errout = caps[1].buf ? caps[1].buf : (opts->capture_stderr ? xstrdup("") : NULL);
	log_run(argv, opts, res, now_monotonic_us() - started);
	return 0;
}

void proc_result_free(struct proc_result *res)
{
	free(res->out);
	free(res->errout);
	res->out = res->errout = NULL;
}

int proc_wait_status(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 255;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *proc_read_tail(int fd, size_t max)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return xstrdup("");
	size_t len = (size_t)st.st_size > max ? max : (size_t)st.st_size;
	char *buf = xcalloc(1, len + 1);
	ssize_t n = pread(fd, buf, len, (off_t)st.st_size - (off_t)len);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}
