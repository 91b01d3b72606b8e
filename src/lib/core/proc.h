/* Running other programs (the OCI runtime, CRIU, tar tools in tests). */
#ifndef CRYO_PROC_H
#define CRYO_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

struct proc_opts {
	/* Extra "KEY=VALUE" entries added to (or replacing in) our environment. */
	char *const *env;
	/* File descriptors for the child's stdio. -1 means: stdin from /dev/null,
	 * stdout/stderr captured into proc_result (when capture is set) or /dev/null. */
	int stdin_fd, stdout_fd, stderr_fd;
	bool capture_stdout, capture_stderr;
	/* Kill the child (SIGKILL) after this many milliseconds; 0 = no limit. */
	int timeout_ms;
	/* While the child runs, call watch(watch_data) every watch_ms
	 * milliseconds; when it returns true the
	 * child is killed (SIGKILL) and res->stopped is set. NULL: no watch. */
	bool (*watch)(void *watch_data);
	void *watch_data;
	int watch_ms;
	/* The child's RLIMIT_FSIZE (no file it writes grows beyond these many
	 * bytes); 0 = inherited. */
	unsigned long long max_file_size;
};
#define PROC_OPTS_INIT                                           \
	{                                                        \
		.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 \
	}

struct proc_result {
	int status; /* exit code, or 128 + signal number */
	bool timed_out;
	bool stopped;       /* killed because opts->watch said so */
	char *out, *errout; /* captured output, NUL-terminated, or NULL */
};

/* Run argv[0] (looked up in PATH) and wait for it. Returns 0 when it ran (whatever
 * its exit status, which is in res->status), negative when it could not be run. */
int proc_run(char *const argv[], const struct proc_opts *opts, struct proc_result *res, cryo_err *err);
void proc_result_free(struct proc_result *res);

/* Find an executable in PATH (or check an explicit path). Returns an allocated path
 * or NULL. */
char *proc_find_executable(const char *name);

/* Wait for a child (through EINTR): its exit status, 128 + the signal that
 * killed it, or 255 when it cannot be waited for. */
int proc_wait_status(pid_t pid);

/* The last max bytes of what a file descriptor (a memfd a child wrote its
 * output to) holds, NUL-terminated; "" when it cannot be read. */
char *proc_read_tail(int fd, size_t max);

/* "a b c" rendering of argv for messages. */
char *proc_argv_string(char *const argv[]);

#endif
