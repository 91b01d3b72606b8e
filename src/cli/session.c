#include "session.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "attach.h"
#include "console.h"
#include "container.h"
#include "util.h"

bool cli_detach_keys_valid(const char *spec, cryo_err *err)
{
	unsigned char keys[ATTACH_MAX_DETACH_KEYS];
	size_t n;
	return attach_parse_detach_keys(spec, keys, &n, err) == 0;
}

static void forward_signal(int sig, void *data)
{
	const struct cli_session *s = data;
	container_kill(s->engine, s->id, sig, NULL);
}

int cli_session_run(const struct cli_session *s, bool *detached, cryo_err *err)
{
	unsigned char keys[ATTACH_MAX_DETACH_KEYS];
	size_t n_keys = 0;
	int r;
	if ((r = attach_parse_detach_keys(s->detach_keys ? s->detach_keys : CLI_DEFAULT_DETACH_KEYS, keys,
	                                  &n_keys, err)) < 0)
		return r;

	bool raw = s->tty && s->stdin_open && isatty(STDIN_FILENO);
	struct termios saved;
	if (raw && console_make_raw(STDIN_FILENO, &saved) < 0)
		raw = false;

	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGWINCH);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, &old);
	cleanup_close int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	struct attach_proxy_opts o = {
	    .peer = s->peer,
	    .in_fd = s->stdin_open ? STDIN_FILENO : -1,
	    .out_fd = STDOUT_FILENO,
	    .err_fd = STDERR_FILENO,
	    .tty_fd = s->tty && isatty(STDIN_FILENO) ? STDIN_FILENO : -1,
	    .signal_fd = sfd,
	    .on_signal = forward_signal,
	    .data = (void *)s,
	    .detach_keys = keys,
	    .n_detach_keys = s->stdin_open ? n_keys : 0,
	};
	fflush(stdout);
	r = attach_proxy(&o, detached, err);
	if (raw)
		console_restore(STDIN_FILENO, &saved);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r == 0 && *detached)
		fprintf(stderr, "\nDetached from `%s`: `cryo attach %s` to return.\n", s->name, s->name);
	return r;
}
