/*
 * proctree: a small process tree for restore-fidelity tests.
 *
 *	proctree --dir DIR [--interval-ms N]
 *
 * The parent forks two children, each connected to it by a pipe. Every interval (default
 * 100 ms) each child writes its next counter value to its pipe; the parent appends
 * "child-N VALUE" to DIR/tree.log through one file descriptor it keeps open for its whole
 * life. At start the parent writes DIR/tree.pids (atomically, temp file + rename):
 *
 *	parent PID
 *	child-1 PID
 *	child-2 PID
 *
 * with the PIDs as the tree itself sees them (getpid() in its PID namespace), then prints
 * "READY". A restored tree must be the same processes (same PIDs, same pipes, same open
 * log file) and keep appending: each child's values go on increasing by one.
 *
 * A child whose parent disappears dies of SIGPIPE on its next write. When a child's pipe
 * reaches end of file, the parent appends "child-N gone" and exits with status 1, so a
 * broken tree is visible rather than silently smaller. SIGTERM ends a process at once (the
 * children then die of SIGPIPE, or with the container's PID namespace).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILDREN 2

static void die(const char *what, const char *object)
{
	fprintf(stderr, "proctree: %s %s: %s\n", what, object, strerror(errno));
	exit(1);
}

static int write_full(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t r = write(fd, buf, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

/* PID 1 of a container ignores signals it has no handler for: stop at once on request. */
static void on_stop(int sig)
{
	(void)sig;
	_exit(0);
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static _Noreturn void run_child(int wfd, unsigned long interval_ms)
{
	char line[64];
	for (uint64_t value = 1;; value++) {
		int len = snprintf(line, sizeof(line), "%" PRIu64 "\n", value);
		if (write_full(wfd, line, (size_t)len) < 0)
			_exit(1);
		sleep_ms(interval_ms);
	}
}

static void write_pids(const char *dir, const pid_t *children)
{
	char path[PATH_MAX], tmp[PATH_MAX], buf[256];
	snprintf(path, sizeof(path), "%s/tree.pids", dir);
	snprintf(tmp, sizeof(tmp), "%s/tree.pids.tmp", dir);
	int len = snprintf(buf, sizeof(buf), "parent %d\n", (int)getpid());
	for (int i = 0; i < CHILDREN; i++)
		len +=
		    snprintf(buf + len, sizeof(buf) - (size_t)len, "child-%d %d\n", i + 1, (int)children[i]);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create", tmp);
	if (write_full(fd, buf, (size_t)len) < 0)
		die("write", tmp);
	close(fd);
	if (rename(tmp, path) < 0)
		die("rename to", path);
}

/* Pass each complete line read from a child's pipe to the log as "child-N LINE". */
static int relay(int index, int rfd, int log_fd, char *pending, size_t *pending_len, size_t cap)
{
	ssize_t r;
	do
		r = read(rfd, pending + *pending_len, cap - *pending_len);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	*pending_len += (size_t)r;
	char *start = pending, *nl;
	while ((nl = memchr(start, '\n', *pending_len - (size_t)(start - pending)))) {
		char line[128];
		int len =
		    snprintf(line, sizeof(line), "child-%d %.*s\n", index + 1, (int)(nl - start), start);
		if (write_full(log_fd, line, (size_t)len) < 0)
			die("append to", "tree.log");
		start = nl + 1;
	}
	*pending_len -= (size_t)(start - pending);
	memmove(pending, start, *pending_len);
	if (*pending_len == cap) /* a line longer than any child writes */
		*pending_len = 0;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"interval-ms", required_argument, NULL, 'i'},
	    {},
	};
	const char *dir = NULL;
	unsigned long interval_ms = 100;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'd') {
			dir = optarg;
		} else if (c == 'i') {
			interval_ms = strtoul(optarg, NULL, 10);
		} else {
			fprintf(stderr, "Usage: proctree --dir DIR [--interval-ms N]\n");
			return 2;
		}
	}
	if (!dir || optind != argc || interval_ms == 0) {
		fprintf(stderr, "Usage: proctree --dir DIR [--interval-ms N]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);

	char log_path[PATH_MAX];
	snprintf(log_path, sizeof(log_path), "%s/tree.log", dir);
	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		die("open", log_path);

	pid_t children[CHILDREN];
	int read_fds[CHILDREN];
	for (int i = 0; i < CHILDREN; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			die("create pipe for", "a child");
		pid_t pid = fork();
		if (pid < 0)
			die("fork", "a child");
		if (pid == 0) {
			close(p[0]);
			close(log_fd);
			for (int j = 0; j < i; j++)
				close(read_fds[j]);
			signal(SIGPIPE, SIG_DFL);
			run_child(p[1], interval_ms);
		}
		close(p[1]);
		children[i] = pid;
		read_fds[i] = p[0];
	}
	write_pids(dir, children);
	puts("READY");

	char pending[CHILDREN][128];
	size_t pending_len[CHILDREN] = {0};
	for (;;) {
		struct pollfd pfds[CHILDREN];
		for (int i = 0; i < CHILDREN; i++)
			pfds[i] = (struct pollfd){.fd = read_fds[i], .events = POLLIN};
		if (poll(pfds, CHILDREN, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll", "children's pipes");
		}
		for (int i = 0; i < CHILDREN; i++) {
			if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (relay(i, read_fds[i], log_fd, pending[i], &pending_len[i], sizeof(pending[i])) <
			    0) {
				char line[64];
				int len = snprintf(line, sizeof(line), "child-%d gone\n", i + 1);
				write_full(log_fd, line, (size_t)len);
				fprintf(stderr, "proctree: child-%d (pid %d) is gone\n", i + 1,
				        (int)children[i]);
				for (int j = 0; j < CHILDREN; j++)
					kill(children[j], SIGKILL);
				while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
					;
				return 1;
			}
		}
	}
}
