#include "monitor.h"

#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"
#include "network.h"
#include "overlay.h"
#include "util.h"

/* Report the outcome of create/restore to the cryo command that started us. */
static void sync_report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sync_report(int fd, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	size_t len = strlen(msg);
	const char *p = msg;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	free(msg);
}

static void copy_to_log(int *fd, int log_fd)
{
	char buf[65536];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n > 0) {
		ssize_t off = 0;
		while (off < n) {
			ssize_t w = write(log_fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += w;
		}
		return;
	}
	if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*fd);
		*fd = -1;
	}
}

static int read_pid_file(const char *path)
{
	cleanup_free char *text = NULL;
	if (read_file(path, &text, NULL, NULL) < 0)
		return 0;
	return atoi(text);
}

/* The container is gone: write its exit file (read back into the engine state
 * by container_get), then clean up after the runtime and the mount. The
 * monitor never opens the database: it is a fork of the cryo command that
 * started it, and SQLite's state does not survive a fork. */
static void record_exit(struct cryo_engine *engine, const char *id, int status, bool auto_remove,
			const char *network_generation)
{
	int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	cleanup_free char *path = engine_run_path(engine, "containers/%s/exit", id);
	cleanup_free char *text = xasprintf("%d %d %lld\n", exit_code, (int)getpid(), (long long)now_realtime_us());
	write_file_atomic(path, text, strlen(text), 0600, NULL);

	/* Errors here are not fatal: the next start or rm tries again. */
	runtime_delete(engine, id, true, NULL);
	cleanup_free char *rootfs = container_rootfs_dir(engine, id);
	overlay_unmount(rootfs, NULL);
	/* Only the attachment this container ran with: after a stopping
	 * checkpoint, an in-place restore may have attached it anew. */
	if (network_generation)
		network_detach_generation(engine, id, network_generation, NULL);

	if (auto_remove) {
		char *const argv[] = {"cryo",	      "--root", engine->root, "--runroot", engine->runroot,
				      "--runtime",    engine->runtime_path,  "rm",	  "-f",		   (char *)id,
				      NULL};
		execv("/proc/self/exe", argv);
	}
}

static _Noreturn void monitor_main(struct cryo_engine *engine, const char *id, enum monitor_mode mode,
				   const struct runtime_restore_opts *restore_in, bool auto_remove, int sync_fd)
{
	int out_pipe[2], err_pipe[2];
	cleanup_error cryo_err err = NULL;
	cleanup_free char *run_dir = engine_run_path(engine, "containers/%s", id);
	cleanup_free char *pid_file = xasprintf("%s/pid", run_dir);
	cleanup_free char *log_path = container_log_path(engine, id);
	cleanup_free char *bundle = container_bundle_dir(engine, id);

	cleanup_free char *network_gen = network_generation(engine, id);

	prctl(PR_SET_NAME, "cryo-monitor");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (sfd < 0 || log_fd < 0 || pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
		sync_report(sync_fd, "ERR monitor for `%s`: set up log and pipes: %s\n", id, strerror(errno));
		_exit(1);
	}
	unlink(pid_file);

	int64_t started = now_monotonic_us();
	int r;
	if (mode == MONITOR_CREATE) {
		r = runtime_create(engine, id, bundle, pid_file, out_pipe[1], err_pipe[1], &err);
	} else {
		struct runtime_restore_opts ro = *restore_in;
		ro.bundle = bundle;
		ro.pid_file = pid_file;
		ro.out_fd = out_pipe[1];
		ro.err_fd = err_pipe[1];
		r = runtime_restore(engine, id, &ro, &err);
	}
	int64_t runtime_us = now_monotonic_us() - started;
	close(out_pipe[1]);
	close(err_pipe[1]);
	int container_pid = r == 0 ? read_pid_file(pid_file) : 0;
	if (r < 0 || container_pid <= 0) {
		sync_report(sync_fd, "ERR %s\n", err ? err->msg : "the runtime did not report the container's pid");
		_exit(1);
	}
	sync_report(sync_fd, "OK %d %lld %d\n", container_pid, (long long)runtime_us, (int)getpid());
	close(sync_fd);

	int fds[2] = {out_pipe[0], err_pipe[0]};
	int status = 0;
	bool exited = false;
	for (;;) {
		struct pollfd pfds[3];
		int n = 0;
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				pfds[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		if (exited && n == 0)
			break;
		pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		/* Once init is gone, the rest of its pid namespace dies with it and the
		 * pipes close; don't wait forever on a straggler that inherited them. */
		if (poll(pfds, (nfds_t)n, exited ? 2000 : -1) == 0 && exited)
			break;
		for (int i = 0; i < 2; i++)
			for (int j = 0; j < n; j++)
				if (fds[i] >= 0 && pfds[j].fd == fds[i] && pfds[j].revents)
					copy_to_log(&fds[i], log_fd);
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			;
		pid_t w;
		int st;
		while ((w = waitpid(-1, &st, WNOHANG)) > 0)
			if (w == container_pid) {
				status = st;
				exited = true;
			}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	close(log_fd);
	record_exit(engine, id, status, auto_remove, network_gen);
	_exit(0);
}

int monitor_start(struct cryo_engine *engine, const char *id, enum monitor_mode mode,
		  const struct runtime_restore_opts *restore, bool auto_remove, struct monitor_result *result,
		  cryo_err *err)
{
	int sync_pipe[2];
	cleanup_free char *run_dir = engine_run_path(engine, "containers/%s", id);
	int r;

	if ((r = mkdir_p(run_dir, 0700, err)) < 0)
		return r;
	if (pipe2(sync_pipe, O_CLOEXEC) < 0)
		return cryo_error_set(err, errno, "start monitor for `%s`: pipe", id);
	cleanup_free char *exit_file = engine_run_path(engine, "containers/%s/exit", id);
	unlink(exit_file);
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		close(sync_pipe[0]);
		close(sync_pipe[1]);
		return cryo_error_set(err, errno, "start monitor for `%s`: fork", id);
	}
	if (child == 0) {
		/* Detach: new session, and a second fork so the monitor is nobody's
		 * child but its subreaper's (init). Close every inherited descriptor
		 * (database, file locks) but the sync pipe. */
		setsid();
		pid_t monitor = fork();
		if (monitor != 0)
			_exit(monitor < 0 ? 1 : 0);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		for (int fd = 3; fd < 1024; fd++)
			if (fd != sync_pipe[1])
				close(fd);
		engine->db = NULL; /* the parent's connection; never used here */
		monitor_main(engine, id, mode, restore, auto_remove, sync_pipe[1]);
	}
	close(sync_pipe[1]);
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;

	char buf[8192];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(sync_pipe[0], buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	close(sync_pipe[0]);
	buf[len] = '\0';
	str_rstrip(buf);
	long long runtime_us = 0;
	int pid = 0, monitor_pid = 0;
	if (str_has_prefix(buf, "OK ") && sscanf(buf + 3, "%d %lld %d", &pid, &runtime_us, &monitor_pid) == 3) {
		result->container_pid = pid;
		result->runtime_duration_us = runtime_us;
		result->monitor_pid = monitor_pid;
		return 0;
	}
	if (str_has_prefix(buf, "ERR "))
		return cryo_error_set(err, 0, "%s", buf + 4);
	return cryo_error_set(err, 0, "monitor for `%s` exited without reporting", id);
}

int monitor_read_exit(struct cryo_engine *engine, const char *id, int *exit_code, int *monitor_pid,
		      int64_t *finished_us)
{
	cleanup_free char *path = engine_run_path(engine, "containers/%s/exit", id);
	cleanup_free char *text = NULL;
	long long finished = 0;
	if (read_file(path, &text, NULL, NULL) < 0)
		return -ENOENT;
	if (sscanf(text, "%d %d %lld", exit_code, monitor_pid, &finished) != 3)
		return -EINVAL;
	*finished_us = finished;
	return 0;
}
