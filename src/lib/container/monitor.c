#include "monitor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.h"
#include "console.h"
#include "layout.h"
#include "layout.h"
#include "log.h"
#include "network.h"
#include "state.h"
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

static int read_pid_file(const char *path)
{
	cleanup_free char *text = NULL;
	if (read_file(path, &text, NULL, NULL) < 0)
		return 0;
	return atoi(text);
}

#define MONITOR_MAX_CLIENTS 16

/* CRIU restores the container's mounts but not its root's flags (the root is
 * the runtime's, passed to CRIU as is): a read-only root comes back
 * writable. Remount it read-only in the restored container's mount namespace,
 * keeping its other flags, from a child that runs no program there. */
static int remount_root_read_only(int container_pid, cryo_err *err)
{
	cleanup_free char *ns = xasprintf("/proc/%d/ns/mnt", container_pid);
	cleanup_close int ns_fd = open(ns, O_RDONLY | O_CLOEXEC);
	if (ns_fd < 0)
		return cryo_error_set(err, errno, "open `%s`", ns);
	pid_t child = fork();
	if (child < 0)
		return cryo_error_set(err, errno, "fork");
	if (child == 0) {
		struct statvfs st;
		if (setns(ns_fd, CLONE_NEWNS) < 0 || statvfs("/", &st) < 0)
			_exit(1);
		unsigned long keep = 0;
		if (st.f_flag & ST_NOSUID)
			keep |= MS_NOSUID;
		if (st.f_flag & ST_NODEV)
			keep |= MS_NODEV;
		if (st.f_flag & ST_NOEXEC)
			keep |= MS_NOEXEC;
		_exit(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL) < 0 ? 2 : 0);
	}
	int status = 0;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return cryo_error_plain(
		    err, EIO, "remount the restored container's root file system read-only failed (step %d)",
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

/* What the monitor holds for the container's stdio while it runs. */
struct monitor_io {
	int out, err;  /* the init's stdout/stderr pipes (read ends), -1 when closed */
	int master;    /* the terminal's master end (-t), -1 */
	int stdin_w;   /* the init's stdin pipe (write end, -i without -t), -1 */
	int listen_fd; /* the attach socket */
	int log_fd;
	int clients[MONITOR_MAX_CLIENTS];
	struct attach_reader *readers[MONITOR_MAX_CLIENTS];
};

static void drop_client(struct monitor_io *io, int i)
{
	close(io->clients[i]);
	io->clients[i] = -1;
	free(io->readers[i]);
	io->readers[i] = NULL;
}

/* Output of the container: to the log, and to every attached client. */
static void copy_output(struct monitor_io *io, int *fd, char type)
{
	char buf[ATTACH_MAX_PAYLOAD];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n > 0) {
		attach_write_all(io->log_fd, buf, (size_t)n);
		for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
			if (io->clients[i] >= 0 &&
			    attach_write_frame(io->clients[i], type, buf, (size_t)n) < 0)
				drop_client(io, i);
		return;
	}
	/* EIO from a terminal master: every slave end is closed. */
	if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*fd);
		*fd = -1;
	}
}

static void accept_client(struct monitor_io *io)
{
	int fd = accept4(io->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
		if (io->clients[i] < 0) {
			io->clients[i] = fd;
			io->readers[i] = xcalloc(1, sizeof(struct attach_reader));
			return;
		}
	close(fd); /* too many sessions */
}

static void client_input(struct monitor_io *io, int i)
{
	struct attach_reader *r = io->readers[i];
	ssize_t n = read(io->clients[i], r->buf + r->len, sizeof(r->buf) - r->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		drop_client(io, i);
		return;
	}
	r->len += (size_t)n;
	char type;
	const unsigned char *payload;
	size_t len;
	int got;
	while ((got = attach_reader_next(r, &type, &payload, &len)) > 0) {
		int in = io->master >= 0 ? io->master : io->stdin_w;
		if (type == ATTACH_STDIN && in >= 0) {
			if (attach_write_all(in, payload, len) < 0 && in == io->stdin_w) {
				close(io->stdin_w);
				io->stdin_w = -1;
			}
		} else if (type == ATTACH_STDIN_CLOSE && io->stdin_w >= 0) {
			close(io->stdin_w);
			io->stdin_w = -1;
		} else if (type == ATTACH_RESIZE && len == 4 && io->master >= 0) {
			uint16_t rc[2];
			memcpy(rc, payload, 4);
			attach_set_window_size(io->master, ntohs(rc[0]), ntohs(rc[1]));
		}
		attach_reader_consume(r);
	}
	if (got < 0)
		drop_client(io, i);
}

/* Forward output and input until the init has exited and its output is drained. */
static int monitor_loop(struct monitor_io *io, int sfd, int container_pid)
{
	int status = 0;
	bool exited = false;
	for (;;) {
		struct pollfd pfds[5 + MONITOR_MAX_CLIENTS];
		int *src[3] = {&io->out, &io->err, &io->master};
		const char types[3] = {ATTACH_STDOUT, ATTACH_STDERR, ATTACH_STDOUT};
		int n = 0, outputs = 0;
		for (int i = 0; i < 3; i++)
			if (*src[i] >= 0)
				pfds[n++] = (struct pollfd){.fd = *src[i], .events = POLLIN};
		outputs = n;
		if (exited && outputs == 0)
			break;
		pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfds[n++] = (struct pollfd){.fd = io->listen_fd, .events = POLLIN};
		int first_client = n;
		for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
			pfds[n++] = (struct pollfd){.fd = io->clients[i], .events = POLLIN};
		/* Once init is gone, the rest of its pid namespace dies with it and the
		 * pipes close; don't wait forever on a straggler that inherited them. */
		if (poll(pfds, (nfds_t)n, exited ? 2000 : -1) == 0 && exited)
			break;
		for (int i = 0, j = 0; i < 3; i++)
			if (*src[i] >= 0) {
				if (pfds[j].revents)
					copy_output(io, src[i], types[i]);
				j++;
			}
		if (pfds[outputs + 1].revents)
			accept_client(io);
		for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
			if (io->clients[i] >= 0 && pfds[first_client + i].fd == io->clients[i] &&
			    pfds[first_client + i].revents)
				client_input(io, i);
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
	return status;
}

/* The container is gone: write its exit file (read back into the engine state
 * by container_get), then clean up after the runtime and the mount. The
 * monitor never opens the database: it is a fork of the cryo command that
 * started it, and SQLite's state does not survive a fork. */
static void record_exit(struct cryo_engine *engine, const char *id, int status, bool auto_remove,
                        struct monitor_io *io, const char *network_generation)
{
	int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	cleanup_free char *path = layout_exit_file(engine->runroot, id);
	cleanup_free char *text =
	    xasprintf("%d %d %lld\n", exit_code, (int)getpid(), (long long)now_realtime_us());
	write_file_atomic(path, text, strlen(text), 0600, NULL);
	for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
		if (io->clients[i] >= 0)
			drop_client(io, i);

	/* Errors here are not fatal: the next start or rm tries again. */
	runtime_delete(engine, id, true, NULL);
	cleanup_free char *rootfs = layout_container_rootfs(engine->root, id);
	overlay_unmount(rootfs, NULL);
	/* Only the attachment this container ran with: after a stopping
	 * checkpoint, an in-place restore may have attached it anew. */
	if (network_generation)
		network_detach_generation(engine, id, network_generation, NULL);

	if (auto_remove) {
		char *const argv[] = {"cryo",
		                      "--root",
		                      engine->root,
		                      "--runroot",
		                      engine->runroot,
		                      "--runtime",
		                      engine->runtime_path,
		                      "rm",
		                      "-f",
		                      (char *)id,
		                      NULL};
		execv("/proc/self/exe", argv);
	}
}

static _Noreturn void monitor_main(struct cryo_engine *engine, const char *id, enum monitor_mode mode,
                                   const struct runtime_restore_opts *restore_in,
                                   const struct monitor_opts *flags, int sync_fd)
{
	int out_pipe[2], err_pipe[2], in_pipe[2] = {-1, -1};
	struct monitor_io io = {
	    .out = -1, .err = -1, .master = -1, .stdin_w = -1, .listen_fd = -1, .log_fd = -1};
	cleanup_error cryo_err err = NULL;
	cleanup_free char *run_dir = layout_run_container_dir(engine->runroot, id);
	cleanup_free char *pid_file = layout_pid_file(engine->runroot, id);
	cleanup_free char *log_path = layout_container_log(engine->root, id);
	cleanup_free char *bundle = layout_container_dir(engine->root, id);
	cleanup_free char *console_socket = NULL;
	int console_listen_fd = -1;

	cleanup_free char *network_gen = network_generation(engine, id);

	for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
		io.clients[i] = -1;
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

	io.log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	int run_dir_fd = open(run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0 || io.log_fd < 0 || run_dir_fd < 0 || pipe2(out_pipe, O_CLOEXEC) < 0 ||
	    pipe2(err_pipe, O_CLOEXEC) < 0 ||
	    (flags->interactive && !flags->terminal && pipe2(in_pipe, O_CLOEXEC) < 0)) {
		sync_report(sync_fd, "ERR monitor for `%s`: set up log and pipes: %s\n", id, strerror(errno));
		_exit(1);
	}
	/* The attach socket exists before the container does, so `run -a` can
	 * connect before the init runs and miss nothing. */
	if ((io.listen_fd = console_listen(run_dir_fd, ATTACH_SOCKET, &err)) < 0 ||
	    (flags->terminal && (console_listen_fd = console_listen(run_dir_fd, "console.sock", &err)) < 0)) {
		sync_report(sync_fd, "ERR monitor for `%s`: %s\n", id, err->msg);
		_exit(1);
	}
	if (flags->terminal)
		console_socket = console_socket_path(run_dir_fd, "console.sock");
	unlink(pid_file);

	int64_t started = now_monotonic_us();
	int r;
	if (mode == MONITOR_CREATE) {
		r = runtime_create(engine, id, bundle, pid_file, in_pipe[0], out_pipe[1], err_pipe[1],
		                   console_socket, &err);
	} else {
		struct runtime_restore_opts ro = *restore_in;
		ro.bundle = bundle;
		ro.pid_file = pid_file;
		ro.in_fd = in_pipe[0];
		ro.out_fd = out_pipe[1];
		ro.err_fd = err_pipe[1];
		ro.console_socket = console_socket;
		r = runtime_restore(engine, id, &ro, &err);
	}
	if (r == 0 && flags->terminal) {
		r = console_receive_master(console_listen_fd, 10000, 0, &io.master, &err);
		if (r < 0)
			cryo_error_wrap(&err, "%s `%s`", mode == MONITOR_CREATE ? "create" : "restore", id);
		else
			fcntl(io.master, F_SETFL, fcntl(io.master, F_GETFL) | O_NONBLOCK);
	}
	if (console_listen_fd >= 0) {
		close(console_listen_fd);
		unlinkat(run_dir_fd, "console.sock", 0);
	}
	int64_t runtime_us = now_monotonic_us() - started;
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (in_pipe[0] >= 0)
		close(in_pipe[0]);
	io.stdin_w = in_pipe[1];
	if (io.stdin_w >= 0)
		fcntl(io.stdin_w, F_SETFL, fcntl(io.stdin_w, F_GETFL) | O_NONBLOCK);
	int container_pid = r == 0 ? read_pid_file(pid_file) : 0;
	if (r == 0 && container_pid > 0 && mode == MONITOR_RESTORE && flags->read_only &&
	    (r = remount_root_read_only(container_pid, &err)) < 0)
		cryo_error_wrap(&err, "restore `%s`", id);
	if (r < 0 || container_pid <= 0) {
		if (r == 0)
			runtime_delete(engine, id, true, NULL);
		sync_report(sync_fd, "ERR %s\n",
		            err ? err->msg : "the runtime did not report the container's pid");
		_exit(1);
	}
	sync_report(sync_fd, "OK %d %lld %d\n", container_pid, (long long)runtime_us, (int)getpid());
	close(sync_fd);

	io.out = out_pipe[0];
	io.err = err_pipe[0];
	int status = monitor_loop(&io, sfd, container_pid);
	/* Clients see their connection close once the exit is recorded. */
	close(io.listen_fd);
	unlinkat(run_dir_fd, ATTACH_SOCKET, 0);
	for (int fd_i = 0; fd_i < 3; fd_i++) {
		int *fd = fd_i == 0 ? &io.out : fd_i == 1 ? &io.err : &io.master;
		if (*fd >= 0)
			close(*fd);
	}
	if (io.stdin_w >= 0)
		close(io.stdin_w);
	close(io.log_fd);
	record_exit(engine, id, status, flags->auto_remove, &io, network_gen);
	_exit(0);
}

int monitor_start(struct cryo_engine *engine, const char *id, enum monitor_mode mode,
                  const struct runtime_restore_opts *restore, const struct monitor_opts *opts,
                  struct monitor_result *result, cryo_err *err)
{
	int sync_pipe[2];
	cleanup_free char *run_dir = layout_run_container_dir(engine->runroot, id);
	int r;

	if ((r = mkdir_p(run_dir, 0700, err)) < 0)
		return r;
	if (pipe2(sync_pipe, O_CLOEXEC) < 0)
		return cryo_error_set(err, errno, "start monitor for `%s`: pipe", id);
	cleanup_free char *exit_file = layout_exit_file(engine->runroot, id);
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
		monitor_main(engine, id, mode, restore, opts, sync_pipe[1]);
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
	if (str_has_prefix(buf, "OK ") &&
	    sscanf(buf + 3, "%d %lld %d", &pid, &runtime_us, &monitor_pid) == 3) {
		result->container_pid = pid;
		result->runtime_duration_us = runtime_us;
		result->monitor_pid = monitor_pid;
		cryo_debug("monitor %d ran the runtime's %s of `%s` (init pid %d) in %.1f ms", monitor_pid,
		           mode == MONITOR_CREATE ? "create" : "restore", id, pid,
		           (double)runtime_us / 1000.0);
		return 0;
	}
	if (str_has_prefix(buf, "ERR "))
		return cryo_error_set(err, 0, "%s", buf + 4);
	return cryo_error_set(err, 0, "monitor for `%s` exited without reporting", id);
}

int monitor_read_exit(struct cryo_engine *engine, const char *id, int *exit_code, int *monitor_pid,
                      int64_t *finished_us)
{
	cleanup_free char *path = layout_exit_file(engine->runroot, id);
	cleanup_free char *text = NULL;
	long long finished = 0;
	if (read_file(path, &text, NULL, NULL) < 0)
		return -ENOENT;
	if (sscanf(text, "%d %d %lld", exit_code, monitor_pid, &finished) != 3)
		return -EINVAL;
	*finished_us = finished;
	return 0;
}
