#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "criu.h"
#include "layout.h"
#include "proc.h"
#include "util.h"

#define RUNTIME_TIMEOUT_MS (5 * 60 * 1000)

/* runc logs in logrus text form: time="..." level=error msg="what failed".
 * Pull out the msg of the last error line, unescaped; else the last line. */
static char *runtime_error_message(const char *output)
{
	cleanup_free char *copy = xstrdup(output ? output : "");
	char *last = NULL, *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *msg = strstr(line, "msg=\"");
		if (msg && strstr(line, "level=") && !strstr(line, "level=error") &&
		    !strstr(line, "level=fatal"))
			continue;
		if (msg) {
			msg += 5;
			char *end = strrchr(msg, '"');
			if (end && end > msg)
				*end = '\0';
			/* undo the \" and \n escapes */
			char *w = msg;
			for (char *p = msg; *p; p++) {
				if (p[0] == '\\' && p[1] == 'n') {
					*w++ = '\n';
					p++;
				} else if (p[0] == '\\' && (p[1] == '"' || p[1] == '\\')) {
					*w++ = p[1];
					p++;
				} else {
					*w++ = *p;
				}
			}
			*w = '\0';
			free(last);
			last = xstrdup(msg);
		} else if (*line) {
			free(last);
			last = xstrdup(line);
		}
	}
	return last ? last : xstrdup("no error message");
}

/* Same for runc's --log-format json log file. */
static char *runtime_log_error(const char *log_path)
{
	cleanup_free char *text = NULL;
	if (read_file(log_path, &text, NULL, NULL) < 0)
		return NULL;
	char *last = NULL, *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct json_object *o = json_tokener_parse(line), *level, *msg;
		if (!o)
			continue;
		if (json_object_object_get_ex(o, "level", &level) &&
		    json_object_object_get_ex(o, "msg", &msg)) {
			const char *l = json_object_get_string(level);
			if (strcmp(l, "error") == 0 || strcmp(l, "fatal") == 0) {
				free(last);
				last = xstrdup(json_object_get_string(msg));
			}
		}
		json_object_put(o);
	}
	return last;
}

static void push_base_args(struct cryo_engine *engine, char ***argv)
{
	strv_push(argv, engine->runtime_path);
	strv_push(argv, "--root");
	strv_push(argv, engine->runtime_root);
}

/* Run the runtime with captured output; a non-zero exit becomes an error
 * "runtime <verb> <id>: <runtime's message>". */
static int runtime_run(struct cryo_engine *engine, char **argv, char *const *env, const char *verb,
                       const char *id, struct proc_result *res_out, cryo_err *err)
{
	struct proc_opts opts = PROC_OPTS_INIT;
	struct proc_result res;
	opts.capture_stdout = true;
	opts.capture_stderr = true;
	opts.timeout_ms = RUNTIME_TIMEOUT_MS;
	opts.env = env;
	int r = proc_run(argv, &opts, &res, err);
	if (r < 0)
		return cryo_error_wrap(err, "runtime %s `%s`", verb, id);
	if (res.timed_out) {
		proc_result_free(&res);
		return cryo_error_set(err, ETIMEDOUT, "runtime %s `%s`: `%s` did not finish in %d s", verb,
		                      id, engine->runtime_path, RUNTIME_TIMEOUT_MS / 1000);
	}
	if (res.status != 0) {
		cleanup_free char *msg =
		    runtime_error_message(res.errout && *res.errout ? res.errout : res.out);
		int code = strstr(msg, "does not exist") || strstr(msg, "not exist") ? ENOENT : 0;
		proc_result_free(&res);
		r = cryo_error_set(err, 0, "runtime %s `%s`: %s", verb, id, msg);
		if (code && err && *err)
			(*err)->errnum = code;
		return code ? -code : r;
	}
	if (res_out)
		*res_out = res;
	else
		proc_result_free(&res);
	return 0;
}

static int runtime_simple(struct cryo_engine *engine, const char *verb, const char *id, const char *extra,
                          cryo_err *err)
{
	cleanup_strv char **argv = NULL;
	push_base_args(engine, &argv);
	strv_push(&argv, verb);
	strv_push(&argv, id);
	if (extra)
		strv_push(&argv, extra);
	return runtime_run(engine, argv, NULL, verb, id, NULL, err);
}

int runtime_create(struct cryo_engine *engine, const char *id, const char *bundle, const char *pid_file,
                   int in_fd, int out_fd, int err_fd, const char *console_socket, cryo_err *err)
{
	cleanup_strv char **argv = NULL;
	cleanup_free char *log = layout_runtime_log(engine->runroot, id, "create");
	struct proc_opts opts = PROC_OPTS_INIT;
	struct proc_result res;

	unlink(log);
	push_base_args(engine, &argv);
	strv_push(&argv, "--log");
	strv_push(&argv, log);
	strv_push(&argv, "--log-format");
	strv_push(&argv, "json");
	strv_push(&argv, "create");
	strv_push(&argv, "--bundle");
	strv_push(&argv, bundle);
	strv_push(&argv, "--pid-file");
	strv_push(&argv, pid_file);
	if (console_socket) {
		strv_push(&argv, "--console-socket");
		strv_push(&argv, console_socket);
	}
	strv_push(&argv, id);
	/* The runtime hands its stdio to the container's init. */
	opts.stdin_fd = in_fd;
	opts.stdout_fd = out_fd;
	opts.stderr_fd = err_fd;
	opts.timeout_ms = RUNTIME_TIMEOUT_MS;
	int r = proc_run(argv, &opts, &res, err);
	if (r < 0)
		return cryo_error_wrap(err, "runtime create `%s`", id);
	if (res.status != 0) {
		cleanup_free char *msg = runtime_log_error(log);
		proc_result_free(&res);
		return cryo_error_set(err, 0, "runtime create `%s`: %s", id,
		                      msg ? msg : "failed without an error message");
	}
	proc_result_free(&res);
	return 0;
}

int runtime_start(struct cryo_engine *engine, const char *id, cryo_err *err)
{
	return runtime_simple(engine, "start", id, NULL, err);
}

int runtime_kill(struct cryo_engine *engine, const char *id, int signal, cryo_err *err)
{
	char sig[16];
	snprintf(sig, sizeof(sig), "%d", signal);
	return runtime_simple(engine, "kill", id, sig, err);
}

int runtime_delete(struct cryo_engine *engine, const char *id, bool force, cryo_err *err)
{
	cleanup_strv char **argv = NULL;
	push_base_args(engine, &argv);
	strv_push(&argv, "delete");
	if (force)
		strv_push(&argv, "--force");
	strv_push(&argv, id);
	int r = runtime_run(engine, argv, NULL, "delete", id, NULL, err);
	if (r == -ENOENT) {
		cryo_error_free(err);
		return 0;
	}
	return r;
}

int runtime_pause(struct cryo_engine *engine, const char *id, cryo_err *err)
{
	return runtime_simple(engine, "pause", id, NULL, err);
}

int runtime_resume(struct cryo_engine *engine, const char *id, cryo_err *err)
{
	return runtime_simple(engine, "resume", id, NULL, err);
}

int runtime_state(struct cryo_engine *engine, const char *id, char **status, int *pid, cryo_err *err)
{
	cleanup_strv char **argv = NULL;
	struct proc_result res;
	push_base_args(engine, &argv);
	strv_push(&argv, "state");
	strv_push(&argv, id);
	int r = runtime_run(engine, argv, NULL, "state", id, &res, err);
	if (r < 0)
		return r;
	struct json_object *o = json_tokener_parse(res.out), *v;
	proc_result_free(&res);
	if (!o)
		return cryo_error_set(err, 0, "runtime state `%s`: unreadable output", id);
	if (status)
		*status = xstrdup(json_object_object_get_ex(o, "status", &v) ? json_object_get_string(v)
		                                                             : "unknown");
	if (pid)
		*pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int(v) : 0;
	json_object_put(o);
	return 0;
}

static void push_exec_args(struct cryo_engine *engine, const char *id, const struct runtime_exec_opts *o,
                           char ***argv)
{
	push_base_args(engine, argv);
	strv_push(argv, "exec");
	for (size_t i = 0; o->env && o->env[i]; i++) {
		strv_push(argv, "--env");
		strv_push(argv, o->env[i]);
	}
	if (o->cwd) {
		strv_push(argv, "--cwd");
		strv_push(argv, o->cwd);
	}
	if (o->user) {
		strv_push(argv, "--user");
		strv_push(argv, o->user);
	}
	if (o->tty)
		strv_push(argv, "--tty");
	strv_push(argv, id);
	for (size_t i = 0; o->argv[i]; i++)
		strv_push(argv, o->argv[i]);
}

int runtime_exec(struct cryo_engine *engine, const char *id, const struct runtime_exec_opts *o,
                 int *exit_code, cryo_err *err)
{
	cleanup_strv char **argv = NULL;
	struct proc_opts opts = PROC_OPTS_INIT;
	struct proc_result res;
	push_exec_args(engine, id, o, &argv);
	/* With a terminal, the runtime makes the pty, puts ours in raw mode and
	 * forwards window sizes itself; it needs our stdin for that. */
	opts.stdin_fd = o->stdin_open || o->tty ? STDIN_FILENO : -1;
	opts.stdout_fd = STDOUT_FILENO;
	opts.stderr_fd = STDERR_FILENO;
	int r = proc_run(argv, &opts, &res, err);
	if (r < 0)
		return cryo_error_wrap(err, "exec in `%s`", id);
	*exit_code = res.status;
	proc_result_free(&res);
	return 0;
}

/* Environment and --criu for runs that involve CRIU. */
static int criu_setup(struct cryo_engine *engine, char ***argv, char ***env, cryo_err *err)
{
	cleanup_free char *criu = NULL;
	int r;
	if ((r = criu_find(&criu, err)) < 0)
		return r;
	if ((r = criu_env(engine, env, err)) < 0)
		return r;
	push_base_args(engine, argv);
	strv_push(argv, "--criu");
	strv_push(argv, criu);
	return 0;
}

static int criu_failure(cryo_err *err, const char *log_path)
{
	cleanup_free char *lines = criu_log_errors(log_path, 12);
	if (lines)
		cryo_error_append(err, "\nCRIU errors (from %s):\n%s", log_path, lines);
	return cryo_error_code(err ? *err : NULL);
}

/* `checkpoint` and the flags every runc checkpoint of ours takes from o. */
static void push_checkpoint_args(char ***argv, const struct criu_opts *o)
{
	strv_push(argv, "checkpoint");
	strv_push(argv, "--image-path");
	strv_push(argv, o->image_path);
	strv_push(argv, "--work-path");
	strv_push(argv, o->work_path);
	if (o->leave_running)
		strv_push(argv, "--leave-running");
	if (o->tcp_established)
		strv_push(argv, "--tcp-established");
	if (o->file_locks)
		strv_push(argv, "--file-locks");
}

int runtime_checkpoint(struct cryo_engine *engine, const char *id, const struct criu_opts *o, cryo_err *err)
{
	cleanup_strv char **argv = NULL;
	cleanup_strv char **env = NULL;
	int r;
	if ((r = criu_setup(engine, &argv, &env, err)) < 0)
		return cryo_error_wrap(err, "checkpoint `%s`", id);
	push_checkpoint_args(&argv, o);
	strv_push(&argv, id);
	r = runtime_run(engine, argv, env, "checkpoint", id, NULL, err);
	if (r < 0) {
		cleanup_free char *log = xasprintf("%s/dump.log", o->work_path);
		return criu_failure(err, log);
	}
	return 0;
}

int runtime_restore(struct cryo_engine *engine, const char *id, const struct runtime_restore_opts *o,
                    cryo_err *err)
{
	cleanup_strv char **argv = NULL;
	cleanup_strv char **env = NULL;
	cleanup_free char *log = layout_runtime_log(engine->runroot, id, "restore");
	struct proc_opts opts = PROC_OPTS_INIT;
	struct proc_result res;
	int r;

	if ((r = criu_setup(engine, &argv, &env, err)) < 0)
		return cryo_error_wrap(err, "restore `%s`", id);
	unlink(log);
	/* Global options come before the command. */
	strv_push(&argv, "--log");
	strv_push(&argv, log);
	strv_push(&argv, "--log-format");
	strv_push(&argv, "json");
	strv_push(&argv, "restore");
	strv_push(&argv, "--detach");
	strv_push(&argv, "--image-path");
	strv_push(&argv, o->criu.image_path);
	strv_push(&argv, "--work-path");
	strv_push(&argv, o->criu.work_path);
	strv_push(&argv, "--bundle");
	strv_push(&argv, o->bundle);
	strv_push(&argv, "--pid-file");
	strv_push(&argv, o->pid_file);
	if (o->criu.tcp_established)
		strv_push(&argv, "--tcp-established");
	if (o->criu.file_locks)
		strv_push(&argv, "--file-locks");
	if (o->criu.lazy_pages)
		strv_push(&argv, "--lazy-pages");
	if (o->console_socket) {
		strv_push(&argv, "--console-socket");
		strv_push(&argv, o->console_socket);
	}
	strv_push(&argv, id);
	opts.env = env;
	opts.stdin_fd = o->in_fd;
	opts.stdout_fd = o->out_fd;
	opts.stderr_fd = o->err_fd;
	opts.timeout_ms = RUNTIME_TIMEOUT_MS;
	if ((r = proc_run(argv, &opts, &res, err)) < 0)
		return cryo_error_wrap(err, "restore `%s`", id);
	if (res.status != 0 || res.timed_out) {
		cleanup_free char *msg = runtime_log_error(log);
		bool timed_out = res.timed_out;
		proc_result_free(&res);
		cryo_error_set(err, timed_out ? ETIMEDOUT : 0, "runtime restore `%s`: %s", id,
		               timed_out ? "did not finish in time"
		               : msg     ? msg
		                         : "failed without an error message");
		cleanup_free char *criu_log = xasprintf("%s/restore.log", o->criu.work_path);
		return criu_failure(err, criu_log);
	}
	proc_result_free(&res);
	return 0;
}

/* Fork and exec argv with env added, stdout and stderr into output (a memory
 * file), keep_fd (when >= 0) kept open at the same number; own session when
 * detach. */
static pid_t spawn_with_env(char **argv, char **env, int output, int keep_fd, bool detach)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (detach)
		setsid();
	else
		setpgid(0, 0); /* runc and its CRIU: one group (runtime_lazy_dump_kill) */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(output, STDOUT_FILENO) < 0 ||
	    dup2(output, STDERR_FILENO) < 0)
		_exit(127);
	if (keep_fd >= 0)
		fcntl(keep_fd, F_SETFD, 0);
	for (size_t i = 0; env && env[i]; i++)
		putenv(env[i]);
	execvp(argv[0], argv);
	dprintf(STDERR_FILENO, "cannot run `%s`: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* runc's message and CRIU's error lines, once runc checkpoint has ended with status. */
static int lazy_dump_failure(struct runtime_lazy_dump *d, int status, cryo_err *err)
{
	cleanup_free char *out = proc_read_tail(d->output, 64 << 10);
	cleanup_free char *msg = runtime_error_message(out);
	cryo_error_set(err, 0, "runtime checkpoint `%s` (lazy, page server %s): %s (exit status %d)", d->id,
	               d->page_server, msg, status);
	return criu_failure(err, d->log);
}

int runtime_checkpoint_lazy(struct cryo_engine *engine, const char *id, const struct criu_opts *o,
                            struct runtime_lazy_dump *d, cryo_err *err)
{
	cleanup_strv char **argv = NULL;
	cleanup_strv char **env = NULL;
	int r;
	memset(d, 0, sizeof(*d));
	d->output = -1;
	if (!o->lazy_pages || !o->page_server)
		return cryo_error_set(err, EINVAL, "lazy checkpoint `%s`: no page server", id);
	if ((r = criu_setup(engine, &argv, &env, err)) < 0)
		return cryo_error_wrap(err, "checkpoint `%s`", id);
	int status_pipe[2];
	d->output = memfd_create("cryo-lazy-dump", MFD_CLOEXEC);
	if (d->output < 0)
		return cryo_error_set(err, errno, "lazy checkpoint `%s`: memory file", id);
	if (pipe2(status_pipe, O_CLOEXEC) < 0)
		return cryo_error_set(err, errno, "lazy checkpoint `%s`: pipe", id);
	cleanup_free char *status_fd = xasprintf("%d", status_pipe[1]);
	push_checkpoint_args(&argv, o);
	strv_push(&argv, "--lazy-pages");
	strv_push(&argv, "--page-server");
	strv_push(&argv, o->page_server);
	strv_push(&argv, "--status-fd");
	strv_push(&argv, status_fd);
	strv_push(&argv, id);
	d->id = xstrdup(id);
	d->page_server = xstrdup(o->page_server);
	d->log = xasprintf("%s/dump.log", o->work_path);
	d->pid = spawn_with_env(argv, env, d->output, status_pipe[1], false);
	int e = errno;
	close(status_pipe[1]);
	if (d->pid < 0) {
		close(status_pipe[0]);
		d->pid = 0;
		return cryo_error_set(err, e, "lazy checkpoint `%s`: fork", id);
	}
	/* CRIU writes one byte once its page server listens; EOF: it failed. */
	char c;
	ssize_t n;
	while ((n = read(status_pipe[0], &c, 1)) < 0 && errno == EINTR)
		;
	close(status_pipe[0]);
	if (n == 1)
		return 0;
	int status = proc_wait_status(d->pid);
	d->pid = 0;
	return lazy_dump_failure(d, status, err);
}

int runtime_lazy_dump_wait(struct runtime_lazy_dump *d, cryo_err *err)
{
	if (d->pid <= 0)
		return 0;
	int status = proc_wait_status(d->pid);
	d->pid = 0;
	return status == 0 ? 0 : lazy_dump_failure(d, status, err);
}

/* A connection of our own to ADDR:PORT; -1 when none could be made. */
static int connect_page_server(const char *page_server)
{
	cleanup_free char *host = xstrdup(page_server);
	char *colon = strrchr(host, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	char *h = host;
	if (h[0] == '[' && colon > h + 1 && colon[-1] == ']') {
		h++;
		colon[-1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	if (getaddrinfo(h, colon + 1, &hints, &ai) != 0)
		return -1;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

void runtime_lazy_dump_cancel(struct runtime_lazy_dump *d)
{
	if (d->pid <= 0)
		return;
	/* CRIU's page server reads a whole request or fails; a lone byte and
	 * the end of the connection make it fail, and a failed lazy dump lets
	 * the tasks go as they were. A destination that took the connection
	 * first ends it itself when it fails. */
	int fd = connect_page_server(d->page_server);
	if (fd >= 0) {
		ssize_t n = write(fd, "", 1);
		(void)n;
		close(fd);
	}
	proc_wait_status(d->pid);
	d->pid = 0;
}

void runtime_lazy_dump_kill(struct runtime_lazy_dump *d)
{
	if (d->pid > 0)
		kill(-d->pid, SIGKILL);
}

void runtime_lazy_dump_release(struct runtime_lazy_dump *d)
{
	if (d->pid > 0)
		runtime_lazy_dump_cancel(d);
	if (d->output >= 0)
		close(d->output);
	free(d->log);
	free(d->page_server);
	free(d->id);
	memset(d, 0, sizeof(*d));
	d->output = -1;
}

int runtime_lazy_pages_start(struct cryo_engine *engine, const char *image_path, const char *work_path,
                             const char *page_server, pid_t *daemon, cryo_err *err)
{
	*daemon = 0;
	cleanup_free char *criu = NULL;
	cleanup_strv char **env = NULL;
	cleanup_strv char **argv = NULL;
	int r;
	if ((r = criu_find(&criu, err)) < 0 || (r = criu_env(engine, &env, err)) < 0)
		return cryo_error_wrap(err, "lazy pages from %s", page_server);
	cleanup_free char *host = xstrdup(page_server);
	char *colon = strrchr(host, ':');
	if (!colon || !colon[1])
		return cryo_error_set(err, EINVAL, "lazy pages from `%s`: give ADDR:PORT", page_server);
	*colon = '\0';
	char *h = host;
	if (h[0] == '[' && colon > h + 1 && colon[-1] == ']') {
		h++;
		colon[-1] = '\0';
	}
	cleanup_free char *socket_path = xasprintf("%s/lazy-pages.socket", work_path);
	unlink(socket_path);
	strv_push(&argv, criu);
	strv_push(&argv, "lazy-pages");
	strv_push(&argv, "--page-server");
	strv_push(&argv, "--address");
	strv_push(&argv, h);
	strv_push(&argv, "--port");
	strv_push(&argv, colon + 1);
	strv_push(&argv, "--images-dir");
	strv_push(&argv, image_path);
	strv_push(&argv, "--work-dir");
	strv_push(&argv, work_path);
	strv_push(&argv, "--log-file");
	strv_push(&argv, "lazy-pages.log");
	strv_push(&argv, "-v4");
	cleanup_close int output = open("/dev/null", O_WRONLY | O_CLOEXEC);
	/* Detached twice: it outlives this cryo, and nobody waits for it; the
	 * middle process tells its pid. */
	int pid_pipe[2];
	if (pipe2(pid_pipe, O_CLOEXEC) < 0)
		return cryo_error_set(err, errno, "lazy pages from `%s`: pipe", page_server);
	pid_t mid = fork();
	if (mid < 0) {
		int e = errno;
		close(pid_pipe[0]);
		close(pid_pipe[1]);
		return cryo_error_set(err, e, "lazy pages from `%s`: fork", page_server);
	}
	if (mid == 0) {
		pid_t pid = spawn_with_env(argv, env, output, -1, true);
		ssize_t n = write(pid_pipe[1], &pid, sizeof(pid));
		_exit(pid < 0 || n != sizeof(pid) ? 127 : 0);
	}
	close(pid_pipe[1]);
	pid_t pid = -1;
	ssize_t n;
	while ((n = read(pid_pipe[0], &pid, sizeof(pid))) < 0 && errno == EINTR)
		;
	close(pid_pipe[0]);
	if (proc_wait_status(mid) != 0 || n != sizeof(pid) || pid <= 0)
		return cryo_error_set(err, EIO, "lazy pages from `%s`: could not start `%s lazy-pages`",
		                      page_server, criu);
	*daemon = pid;
	/* Its socket is there before it waits for the restore. */
	for (int i = 0; i < 1000; i++) {
		struct stat st;
		if (stat(socket_path, &st) == 0)
			return 0;
		usleep(10000);
	}
	cleanup_free char *log = xasprintf("%s/lazy-pages.log", work_path);
	kill(pid, SIGKILL);
	*daemon = 0;
	cryo_error_set(err, ETIMEDOUT, "lazy pages from `%s`: `%s lazy-pages` made no socket in 10 s",
	               page_server, criu);
	return criu_failure(err, log);
}
