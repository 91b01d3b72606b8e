#include "console.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "util.h"

static int fill_addr(struct sockaddr_un *addr, const char *path)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	strcpy(addr->sun_path, path);
	return 0;
}

int console_listen(int dir_fd, const char *name, cryo_err *err)
{
	struct sockaddr_un addr;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dir_fd, name);
	if (fill_addr(&addr, path) < 0)
		return cryo_error_set(err, ENAMETOOLONG, "socket `%s`", name);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cryo_error_set(err, errno, "socket `%s`", name);
	if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
		return cryo_error_set(err, errno, "remove old socket `%s`", name);
	/* Only root (the engine) may connect: a socket's permission check is the
	 * file's mode, set by the umask at bind time. */
	mode_t old = umask(0077);
	int r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	int saved = errno;
	umask(old);
	if (r < 0)
		return cryo_error_set(err, saved, "bind socket `%s`", name);
	if (listen(fd, 16) < 0)
		return cryo_error_set(err, errno, "listen on socket `%s`", name);
	return move_fd(fd);
}

int console_connect(const char *dir, const char *name, cryo_err *err)
{
	cleanup_close int dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return cryo_error_set(err, errno, "open `%s`", dir);
	struct sockaddr_un addr;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dir_fd, name);
	if (fill_addr(&addr, path) < 0)
		return cryo_error_set(err, ENAMETOOLONG, "socket `%s`", name);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cryo_error_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return cryo_error_set(err, errno, "connect to `%s/%s`", dir, name);
	return move_fd(fd);
}

char *console_socket_path(int dir_fd, const char *name)
{
	return xasprintf("/proc/%d/fd/%d/%s", (int)getpid(), dir_fd, name);
}

static int receive_fd(int conn, int *out, cryo_err *err)
{
	char name[256];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = control.buf,
	                     .msg_controllen = sizeof(control.buf)};
	ssize_t n;
	do
		n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return cryo_error_set(err, errno, "receive the terminal from the runtime");
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
		return cryo_error_set(err, EPROTO, "the runtime sent no terminal");
	memcpy(out, CMSG_DATA(cmsg), sizeof(int));
	if (!isatty(*out)) {
		close(*out);
		*out = -1;
		return cryo_error_set(err, EPROTO, "the runtime sent something that is not a terminal");
	}
	return 0;
}

int console_receive_master(int listen_fd, int timeout_ms, pid_t watch, int *master, cryo_err *err)
{
	int64_t deadline = now_monotonic_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		struct pollfd p = {.fd = listen_fd, .events = POLLIN};
		int r = poll(&p, 1, 50);
		if (r < 0 && errno != EINTR)
			return cryo_error_set(err, errno, "wait for the runtime's terminal");
		if (r > 0)
			break;
		if (watch > 0) {
			siginfo_t si = {0};
			if (waitid(P_PID, (id_t)watch, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			    si.si_pid == watch)
				return cryo_error_set(err, EPIPE,
				                      "the runtime exited without sending a terminal");
		}
		if (now_monotonic_us() >= deadline)
			return cryo_error_set(err, ETIMEDOUT, "the runtime sent no terminal in %d s",
			                      timeout_ms / 1000);
	}
	cleanup_close int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return cryo_error_set(err, errno, "accept the runtime's console connection");
	return receive_fd(conn, master, err);
}

int console_make_raw(int fd, struct termios *saved)
{
	struct termios t;
	if (tcgetattr(fd, saved) < 0)
		return -errno;
	t = *saved;
	cfmakeraw(&t);
	/* Keep output post-processing off too (cfmakeraw does) so the container's
	 * own terminal does all of it, like podman. */
	if (tcsetattr(fd, TCSADRAIN, &t) < 0)
		return -errno;
	return 0;
}

void console_restore(int fd, const struct termios *saved)
{
	tcsetattr(fd, TCSADRAIN, saved);
}
