#include "migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "container.h"
#include "layout.h"
#include "proc.h"
#include "signal_hold.h"
#include "util.h"
#include "test_hooks.h"

/* What the destination may print about itself, at most. */
#define DEST_OUTPUT_MAX (256 << 10)

static bool host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '-' || c == '_' || c == ':';
}

static bool word_ok(const char *s, size_t len, bool host)
{
	if (len == 0 || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (host ? !host_char_ok(s[i]) : !(host_char_ok(s[i]) && s[i] != ':'))
			return false;
	return true;
}

int migrate_destination_parse(const char *s, struct migrate_destination *out, cryo_err *err)
{
	memset(out, 0, sizeof(*out));
	if (str_has_prefix(s, "root:")) {
		const char *dir = s + strlen("root:");
		if (dir[0] != '/')
			return cryo_error_set(err, EINVAL,
			                      "destination `%s`: root:DIR needs an absolute directory", s);
		out->kind = MIGRATE_ROOT;
		out->root = xstrdup(dir);
		return 0;
	}
	if (!str_has_prefix(s, "ssh://"))
		return cryo_error_set(
		    err, EINVAL,
		    "destination `%s`: use ssh://[user@]host[:port] or root:DIR (another engine root)", s);
	const char *p = s + strlen("ssh://");
	const char *at = strchr(p, '@');
	if (at) {
		if (!word_ok(p, (size_t)(at - p), false))
			return cryo_error_set(err, EINVAL, "destination `%s`: invalid user name", s);
		out->user = xstrndup(p, (size_t)(at - p));
		p = at + 1;
	}
	/* host, [v6]:port or host:port; no path */
	const char *port = NULL;
	size_t host_len;
	if (p[0] == '[') {
		const char *close = strchr(p, ']');
		if (!close)
			goto bad_host;
		host_len = (size_t)(close - p - 1);
		if (!word_ok(p + 1, host_len, true))
			goto bad_host;
		out->host = xstrndup(p + 1, host_len);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			goto bad_host;
	} else {
		const char *colon = strchr(p, ':');
		host_len = colon ? (size_t)(colon - p) : strlen(p);
		if (!word_ok(p, host_len, false))
			goto bad_host;
		out->host = xstrndup(p, host_len);
		if (colon)
			port = colon + 1;
	}
	if (port) {
		size_t n = strlen(port);
		if (n == 0 || n > 5 || strspn(port, "0123456789") != n || atoi(port) < 1 ||
		    atoi(port) > 65535) {
			migrate_destination_free(out);
			return cryo_error_set(err, EINVAL, "destination `%s`: invalid port", s);
		}
		out->port = xstrdup(port);
	}
	out->kind = MIGRATE_SSH;
	return 0;
bad_host:
	migrate_destination_free(out);
	return cryo_error_set(err, EINVAL, "destination `%s`: invalid host (letters, digits, `.`, `-`, `_`)",
	                      s);
}

void migrate_destination_free(struct migrate_destination *d)
{
	free(d->root);
	free(d->user);
	free(d->host);
	free(d->port);
	memset(d, 0, sizeof(*d));
}

struct migrate_run {
	struct cryo_engine *engine;
	const struct migrate_destination *dest;
	const struct migrate_opts *opts;
	struct migrate_stats *stats;
	const char *source_name;
	char **argv;       /* the destination's command */
	char *what;        /* the destination, for messages */
	char *page_server; /* lazy: ADDR:PORT of this host's page server */
	bool test_no_rollback;
	bool handed_over; /* the destination reported the container frozen there */
	char **cap_add;   /* the container's own, granted again on the destination */
	/* Between the report and the second message: the destination's command,
	 * its stdin (the stream, then the message) and its stderr. */
	pid_t pid;
	int in_w, errout;
	/* After the commit: the destination did not say it runs (its exit
	 * status, and what it said). */
	int commit_status;
	char *commit_err;
};

/* The destination's `cryo restore --import -` command, as argv. */
static char **restore_words(struct migrate_run *m)
{
	const struct migrate_opts *o = m->opts;
	char **w = xcalloc(1, sizeof(char *));
	if (m->dest->kind == MIGRATE_ROOT) {
		cleanup_free char *self = realpath("/proc/self/exe", NULL);
		strv_push(&w, o->remote_cryo ? o->remote_cryo : self ? self : "/proc/self/exe");
		strv_push(&w, "--root");
		strv_push(&w, m->dest->root);
	} else {
		strv_push(&w, o->remote_cryo ? o->remote_cryo : "cryo");
		if (o->remote_root) {
			strv_push(&w, "--root");
			strv_push(&w, o->remote_root);
		}
	}
	if (o->remote_runroot) {
		strv_push(&w, "--runroot");
		strv_push(&w, o->remote_runroot);
	}
	const char *fixed[] = {"restore",      "--import",   "-",      "--progress",
	                       "none",         "--handover", "--name", o->name ? o->name : m->source_name,
	                       "--print-stats"};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		strv_push(&w, fixed[i]);
	if (o->criu.tcp_established)
		strv_push(&w, "--tcp-established");
	if (o->criu.file_locks)
		strv_push(&w, "--file-locks");
	if (o->network) {
		strv_push(&w, "--network");
		strv_push(&w, o->network);
	}
	if (o->ignore_static_ip)
		strv_push(&w, "--ignore-static-ip");
	if (o->ignore_static_mac)
		strv_push(&w, "--ignore-static-mac");
	if (m->page_server) {
		strv_push(&w, "--lazy-pages-from");
		strv_push(&w, m->page_server);
	}
	for (size_t i = 0; o->publish && o->publish[i]; i++) {
		strv_push(&w, "--publish");
		strv_push(&w, o->publish[i]);
	}
	/* The capabilities this engine's operator gave the container: the
	 * destination's import policy asks for each by name. */
	for (size_t i = 0; m->cap_add && m->cap_add[i]; i++) {
		strv_push(&w, "--cap-add");
		strv_push(&w, m->cap_add[i]);
	}
	return w;
}

/* ssh's words up to and including the host. */
static char **ssh_words(struct migrate_run *m)
{
	char **a = xcalloc(1, sizeof(char *));
	strv_push(&a, "ssh");
	strv_push(&a, "-o");
	strv_push(&a, "BatchMode=yes");
	for (size_t i = 0; m->opts->ssh_options && m->opts->ssh_options[i]; i++) {
		strv_push(&a, "-o");
		strv_push(&a, m->opts->ssh_options[i]);
	}
	if (m->dest->port) {
		strv_push(&a, "-p");
		strv_push(&a, m->dest->port);
	}
	if (m->dest->user) {
		strv_push(&a, "-l");
		strv_push(&a, m->dest->user);
	}
	strv_push(&a, "--");
	strv_push(&a, m->dest->host);
	return a;
}

/* The whole argv: the restore itself (root:), or ssh running it (ssh://):
 * ssh joins its arguments into one line for the remote shell, so each word
 * is single-quoted into that line here. */
static void build_command(struct migrate_run *m)
{
	cleanup_strv char **words = restore_words(m);
	if (m->dest->kind == MIGRATE_ROOT) {
		m->argv = strv_copy(words);
		m->what = xasprintf("root:%s", m->dest->root);
		return;
	}
	char **a = ssh_words(m);
	size_t len = 1;
	for (size_t i = 0; words[i]; i++) {
		cleanup_free char *q = shell_quote(words[i]);
		len += strlen(q) + 1;
	}
	char *line = xcalloc(1, len);
	for (size_t i = 0; words[i]; i++) {
		cleanup_free char *q = shell_quote(words[i]);
		if (i)
			strcat(line, " ");
		strcat(line, q);
	}
	strv_push(&a, line);
	free(line);
	m->argv = a;
	m->what = m->dest->port ? xasprintf("ssh://%s%s%s:%s", m->dest->user ? m->dest->user : "",
	                                    m->dest->user ? "@" : "", m->dest->host, m->dest->port)
	                        : xasprintf("ssh://%s%s%s", m->dest->user ? m->dest->user : "",
	                                    m->dest->user ? "@" : "", m->dest->host);
}

/* Start the destination's command with a pipe on its stdin, a pipe on its
 * stdout (its one-line report) and its stderr in a memory file (read after
 * it exits: no deadlock however much it says). */
static int spawn_destination(struct migrate_run *m, pid_t *pid, int *in_w, int *out_fd, int *err_fd,
                             cryo_err *err)
{
	int pipefd[2], outpipe[2];
	cleanup_close int errout = memfd_create("cryo-migrate-err", MFD_CLOEXEC);
	if (errout < 0)
		return cryo_error_set(err, errno, "migrate to `%s`: memory file", m->what);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cryo_error_set(err, errno, "migrate to `%s`: pipe", m->what);
	if (pipe2(outpipe, O_CLOEXEC) < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return cryo_error_set(err, e, "migrate to `%s`: pipe", m->what);
	}
	cleanup_close int out = outpipe[1];
	pid_t child = fork();
	if (child < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		close(outpipe[0]);
		return cryo_error_set(err, e, "migrate to `%s`: fork", m->what);
	}
	if (child == 0) {
		/* migrate_container holds termination signals (signal_hold.h):
		 * the destination gets the default mask and dispositions. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (dup2(pipefd[0], STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
		    dup2(errout, STDERR_FILENO) < 0)
			_exit(127);
		execvp(m->argv[0], m->argv);
		dprintf(STDERR_FILENO, "cannot run `%s`: %s\n", m->argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[0]);
	*pid = child;
	*in_w = pipefd[1];
	*out_fd = outpipe[0];
	*err_fd = move_fd(errout);
	return 0;
}

/* The destination's first line on stdout (its report), NULL when it ended
 * its output without one. */
static char *read_report(int fd)
{
	char *buf = xmalloc(DEST_OUTPUT_MAX + 1);
	size_t len = 0;
	while (len < DEST_OUTPUT_MAX) {
		ssize_t n = read(fd, buf + len, DEST_OUTPUT_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf[len + (size_t)n] = '\0';
		char *nl = strchr(buf + len, '\n');
		len += (size_t)n;
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

/* The destination's report (its --print-stats JSON, one line) names the
 * container; what it cannot tell stays empty. Returns whether it says the
 * container is restored frozen. */
static bool parse_report(struct migrate_run *m, const char *out)
{
	struct json_object *o = out ? json_tokener_parse(out) : NULL, *id, *name, *state;
	if (o && json_object_object_get_ex(o, "id", &id) && json_object_is_type(id, json_type_string))
		snprintf(m->stats->dest_id, sizeof(m->stats->dest_id), "%s", json_object_get_string(id));
	if (o && json_object_object_get_ex(o, "container", &name) &&
	    json_object_is_type(name, json_type_string))
		snprintf(m->stats->dest_name, sizeof(m->stats->dest_name), "%s",
		         json_object_get_string(name));
	bool frozen = o && json_object_object_get_ex(o, "state", &state) &&
	              json_object_is_type(state, json_type_string) &&
	              strcmp(json_object_get_string(state), "frozen") == 0;
	if (o)
		json_object_put(o);
	return frozen;
}

/* Test switch: stop for good between the destination's report and the
 * kill of the source's copy (a test kills this cryo there). */
static void test_stop_before_commit(void)
{
	if (!test_switch_on(MIGRATE_TEST_STOP_BEFORE_COMMIT))
		return;
	for (;;)
		pause();
}

/* Inside the frozen window: stream the checkpoint to the destination and
 * wait for it to report the container restored, frozen. The destination
 * then waits for migrate_handoff_finish's message. */
static int migrate_handoff(void *data, const char *dir, const struct signing_key *key, cryo_err *err)
{
	struct migrate_run *m = data;
	pid_t pid = -1;
	int in_w = -1;
	cleanup_close int out = -1, errout = -1;
	int r = spawn_destination(m, &pid, &in_w, &out, &errout, err);
	if (r < 0)
		return r;
	struct checkpoint_archive_stats ws = {0};
	cleanup_error cryo_err werr = NULL;
	int64_t start = now_monotonic_us();
	cleanup_free char *what = xasprintf("`%s`", m->what);
	int wr = checkpoint_archive_write_fd_flags(dir, in_w, what, m->opts->compression,
	                                           m->opts->compression_level, key, CHECKPOINT_ARCHIVE_FRAMED,
	                                           &ws, &werr);
	int64_t sent = now_monotonic_us();
	m->stats->transfer = sent - start;
	m->stats->bytes_sent = ws.bytes_out;
	/* After a failed write the destination finds the stream incomplete
	 * (no end, no manifest, no signature) and refuses it: no report. */
	cleanup_free char *report = wr == 0 ? read_report(out) : NULL;
	m->stats->restore = now_monotonic_us() - sent;
	bool frozen = report && parse_report(m, report);
	if (frozen || m->test_no_rollback) {
		m->pid = pid;
		m->in_w = in_w;
		m->errout = move_fd(errout);
		m->handed_over = true;
		test_stop_before_commit();
		return 0;
	}
	/* Closing ends the stream. */
	close(in_w);
	int status = proc_wait_status(pid);
	cleanup_free char *dest_err = proc_read_tail(errout, DEST_OUTPUT_MAX);
	str_rstrip(dest_err);
	const char *why = status == 127 ? "could not be run" : status > 128 ? "was killed" : "failed";
	if (m->dest->kind == MIGRATE_SSH && status == 255 && !*dest_err)
		why = "could not be reached (ssh failed)";
	if (status == 0)
		why = "ended without reporting the container restored (is it a cryo without --handover?)";
	return cryo_error_plain(err, EIO, "the destination `%s` %s (exit status %d)%s%s%s%s", m->what, why,
	                        status, *dest_err ? ": " : "", dest_err, wr < 0 && werr ? "; sending: " : "",
	                        wr < 0 && werr ? werr->msg : "");
}

/* The second message, once the source's copy is dead (commit) or could not
 * be killed (abort), and the destination's end. */
static void migrate_handoff_finish(void *data, bool commit)
{
	struct migrate_run *m = data;
	int64_t start = now_monotonic_us();
	const char *msg = commit ? "commit\n" : "abort\n";
	/* A destination that is gone finds out nothing (EPIPE: SIGPIPE is
	 * ignored): the status below says it. */
	ssize_t n = write(m->in_w, msg, strlen(msg));
	(void)n;
	close(m->in_w);
	m->in_w = -1;
	int status = proc_wait_status(m->pid);
	m->pid = -1;
	if (commit) {
		m->stats->commit = now_monotonic_us() - start;
		if (status != 0) {
			m->commit_status = status;
			m->commit_err = proc_read_tail(m->errout, DEST_OUTPUT_MAX);
			str_rstrip(m->commit_err);
		}
	}
	closep(&m->errout);
	if (!commit)
		m->handed_over = false; /* the source runs on */
}

/* CRIU's page server copies pages through a pipe it sizes to
 * PIPE_MAX_SIZE pages (819 of 4 KiB): without CAP_SYS_RESOURCE that size
 * must be within fs.pipe-max-size, or CRIU 4.1's server fails its first
 * request ("page-pipe: splice: -1: Bad file descriptor": its F_SETPIPE_SZ
 * failed unreported) and the destination never gets a page. */
#define LAZY_PIPE_BYTES (819L * 4096)
static int check_lazy_host(cryo_err *err)
{
	cleanup_free char *text = NULL;
	long max = 0;
	if (read_file("/proc/sys/fs/pipe-max-size", &text, NULL, NULL) == 0)
		max = atol(text);
	if (max >= LAZY_PIPE_BYTES)
		return 0;
	cleanup_free char *status = NULL;
	if (read_file("/proc/self/status", &status, NULL, NULL) == 0) {
		const char *cap = strstr(status, "CapEff:");
		unsigned long long eff = cap ? strtoull(cap + strlen("CapEff:"), NULL, 16) : 0;
		if (eff & (1ULL << 24)) /* CAP_SYS_RESOURCE */
			return 0;
	}
	return cryo_error_set(err, EPERM,
	                      "lazy migration: CRIU's page server needs pipes of %ld bytes, and without "
	                      "CAP_SYS_RESOURCE fs.pipe-max-size (%ld) must allow them: "
	                      "`sysctl fs.pipe-max-size=4194304` on this host",
	                      LAZY_PIPE_BYTES, max);
}

/* A free TCP port on addr (numeric), chosen by the kernel. */
static int free_port(const char *addr, int *port, cryo_err *err)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		len = sizeof(struct sockaddr_in6);
	} else {
		return cryo_error_set(err, EINVAL, "page server `%s`: not a numeric IPv4 or IPv6 address",
		                      addr);
	}
	cleanup_close int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return cryo_error_set(err, errno, "page server on `%s`: no port to bind there", addr);
	*port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* This host's address as the destination sees it: the client address of
 * SSH_CONNECTION ("client port server port") over the same ssh. */
static int ssh_source_address(struct migrate_run *m, char **out, cryo_err *err)
{
	cleanup_strv char **argv = ssh_words(m);
	strv_push(&argv, "printf %s \"$SSH_CONNECTION\"");
	struct proc_opts po = PROC_OPTS_INIT;
	po.capture_stdout = true;
	po.capture_stderr = true;
	po.timeout_ms = 60000;
	struct proc_result res;
	int r = proc_run(argv, &po, &res, err);
	if (r < 0)
		return cryo_error_wrap(err, "page server address from `%s`", m->what);
	cleanup_free char *word = NULL;
	if (res.status == 0 && res.out) {
		size_t n = strcspn(res.out, " ");
		word = xstrndup(res.out, n);
	}
	proc_result_free(&res);
	char buf[sizeof(struct in6_addr)];
	if (!word || (inet_pton(AF_INET, word, buf) != 1 && inet_pton(AF_INET6, word, buf) != 1))
		return cryo_error_set(err, EINVAL,
		                      "lazy migration to `%s`: this host's address as the destination sees "
		                      "it is unknown (no SSH_CONNECTION there): give --page-server ADDR",
		                      m->what);
	*out = move_ptr(word);
	return 0;
}

/* "ADDR[:PORT]", "[V6][:PORT]" or NULL (the default) into m->page_server. */
static int choose_page_server(struct migrate_run *m, cryo_err *err)
{
	const char *given = m->opts->page_server;
	cleanup_free char *addr = NULL;
	int port = 0;
	if (given && given[0] == '[') {
		const char *close = strchr(given, ']');
		if (!close || (close[1] && close[1] != ':'))
			return cryo_error_set(err, EINVAL, "page server `%s`: use ADDR[:PORT] or [V6][:PORT]",
			                      given);
		addr = xstrndup(given + 1, (size_t)(close - given - 1));
		if (close[1])
			port = atoi(close + 2);
	} else if (given) {
		const char *colon = strchr(given, ':');
		if (colon && strchr(colon + 1, ':')) {
			addr = xstrdup(given); /* a bare IPv6 address */
		} else {
			addr = colon ? xstrndup(given, (size_t)(colon - given)) : xstrdup(given);
			if (colon)
				port = atoi(colon + 1);
		}
	}
	if (given && strchr(given, ':') && !strchr(addr, ':') && (port < 1 || port > 65535))
		return cryo_error_set(err, EINVAL, "page server `%s`: invalid port", given);
	int r;
	if (!addr && m->dest->kind == MIGRATE_ROOT)
		addr = xstrdup("127.0.0.1");
	else if (!addr && (r = ssh_source_address(m, &addr, err)) < 0)
		return r;
	if (port == 0 && (r = free_port(addr, &port, err)) < 0)
		return r;
	m->page_server =
	    strchr(addr, ':') ? xasprintf("[%s]:%d", addr, port) : xasprintf("%s:%d", addr, port);
	return 0;
}

static int migrate_container_held(struct cryo_engine *engine, const char *ref,
                                  const struct migrate_destination *dest, const struct migrate_opts *opts,
                                  struct migrate_stats *stats, cryo_err *err)
{
	int64_t start = now_monotonic_us();
	memset(stats, 0, sizeof(*stats));
	cleanup_container struct container *c = NULL;
	int r = container_get(engine, ref, &c, err);
	if (r < 0)
		return r;
	if (dest->kind == MIGRATE_ROOT) {
		cleanup_free char *a = realpath(dest->root, NULL);
		cleanup_free char *b = realpath(engine->root, NULL);
		if (a && b && strcmp(a, b) == 0)
			return cryo_error_set(err, EINVAL,
			                      "migrate container `%s`: `root:%s` is this engine's own root",
			                      c->name, dest->root);
		/* Two engines on one host each need their own per-boot state. */
		cleanup_free char *rr =
		    realpath(opts->remote_runroot ? opts->remote_runroot : CRYO_DEFAULT_RUNROOT, NULL);
		cleanup_free char *ours = realpath(engine->runroot, NULL);
		if (rr && ours && strcmp(rr, ours) == 0)
			return cryo_error_set(
			    err, EINVAL,
			    "migrate container `%s`: `root:%s` would share this engine's runroot `%s`: "
			    "give it its own with --remote-runroot",
			    c->name, dest->root, engine->runroot);
		if (opts->remote_root)
			return cryo_error_set(
			    err, EINVAL,
			    "migrate: --remote-root is for ssh:// destinations (root:DIR names it)");
	}
	if (opts->page_server && !opts->lazy)
		return cryo_error_set(err, EINVAL, "migrate: --page-server is for --lazy");
	if (opts->lazy && opts->keep)
		return cryo_error_set(
		    err, EINVAL,
		    "migrate container `%s`: --keep cannot go with --lazy (a lazy checkpoint "
		    "has no memory pages to restore from)",
		    c->name);
	if (opts->lazy && (r = check_lazy_host(err)) < 0)
		return cryo_error_wrap(err, "migrate container `%s`", c->name);
	struct migrate_run m = {
	    .engine = engine,
	    .dest = dest,
	    .opts = opts,
	    .stats = stats,
	    .source_name = c->name,
	    .test_no_rollback = test_switch_on(MIGRATE_TEST_NO_ROLLBACK),
	    .pid = -1,
	    .in_w = -1,
	    .errout = -1,
	};
	if (opts->lazy) {
		m.what = xstrdup(dest->kind == MIGRATE_ROOT ? dest->root : dest->host);
		r = choose_page_server(&m, err);
		free(m.what);
		m.what = NULL;
		if (r < 0)
			return cryo_error_wrap(err, "migrate container `%s`", c->name);
	}
	struct container_config cfg = {0};
	if ((r = container_config_from_json(c->config, &cfg, err)) < 0) {
		free(m.page_server);
		return cryo_error_wrap(err, "migrate container `%s`", c->name);
	}
	m.cap_add = move_ptr(cfg.cap_add);
	container_config_free(&cfg);
	build_command(&m);
	struct checkpoint_opts co = {
	    .criu = opts->criu,
	    .compression = opts->compression,
	    .keep = opts->keep,
	    .handoff = migrate_handoff,
	    .handoff_data = &m,
	    .handoff_finish = migrate_handoff_finish,
	};
	co.criu.leave_running = true;
	co.criu.lazy_pages = opts->lazy;
	co.criu.page_server = m.page_server;
	struct checkpoint_stats cs;
	cleanup_free char *name = xstrdup(c->name);
	r = checkpoint_container(engine, c->id, &co, &cs, err);
	strv_free(m.argv);
	strv_free(m.cap_add);
	if (m.pid > 0) { /* reported, but the checkpoint failed before its kill */
		closep(&m.in_w);
		proc_wait_status(m.pid);
	}
	closep(&m.errout);
	cleanup_free char *commit_err = m.commit_err;
	free(m.page_server);
	stats->pages = cs.lazy_pages_duration;
	if (r < 0 && cs.lazy_pages_lost) {
		/* Dead here, broken there: the record here goes, the error stays. */
		if (!opts->keep_source)
			container_remove(engine, c->id, true, NULL);
		free(m.what);
		return cryo_error_wrap(err, "migrate container `%s` lazily", name);
	}
	if (r < 0 && m.handed_over) {
		/* Moved all the same: only this engine's record of it failed. */
		r = cryo_error_wrap(
		    err,
		    "migrated container `%s`: it runs at `%s`%s%s%s, and nothing of it runs here "
		    "any more; but its record here could not be updated (it may still say "
		    "running: `cryo rm -f %s` removes it)",
		    name, m.what, stats->dest_name[0] ? " as `" : "", stats->dest_name,
		    stats->dest_name[0] ? "`" : "", name);
		free(m.what);
		return r;
	}
	if (r < 0) {
		free(m.what);
		return cryo_error_wrap(err, "migrate container `%s`", name);
	}
	stats->dump = cs.frozen_dump_duration;
	stats->capture = cs.rootfs_capture_duration + cs.volumes_capture_duration;
	stats->downtime = cs.handoff_downtime > 0
	                      ? cs.handoff_downtime
	                      : stats->dump + stats->capture + cs.handoff_duration + stats->commit;
	if (!opts->keep && !opts->keep_source && (r = container_remove(engine, c->id, true, err)) < 0) {
		free(m.what);
		return cryo_error_wrap(err, "migrated container `%s`, but removing the source", name);
	}
	stats->total = now_monotonic_us() - start;
	if (m.commit_status != 0) {
		/* Its copy here is dead: the destination's frozen one is the
		 * container now, whatever went wrong there. */
		r = cryo_error_plain(
		    err, EIO,
		    "migrate container `%s`: its copy here was killed and the destination `%s` holds it "
		    "frozen%s%s%s, but did not confirm it runs (exit status %d)%s%s: check it there; "
		    "`cryo unpause %s` there runs it",
		    name, m.what, stats->dest_name[0] ? " as `" : "", stats->dest_name,
		    stats->dest_name[0] ? "`" : "", m.commit_status, commit_err && *commit_err ? ": " : "",
		    commit_err ? commit_err : "", stats->dest_name[0] ? stats->dest_name : name);
		free(m.what);
		return r;
	}
	free(m.what);
	return 0;
}

int migrate_container(struct cryo_engine *engine, const char *ref, const struct migrate_destination *dest,
                      const struct migrate_opts *opts, struct migrate_stats *stats, cryo_err *err)
{
	/* As for a checkpoint: a termination signal must not stop cryo inside
	 * the frozen window (the destination's command gets the default mask). */
	struct signal_hold hold;
	signal_hold_begin(&hold);
	int r = migrate_container_held(engine, ref, dest, opts, stats, err);
	signal_hold_end(&hold);
	return r;
}

struct json_object *migrate_stats_json(const struct migrate_stats *s)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "container", json_object_new_string(s->dest_name));
	json_object_object_add(o, "id", json_object_new_string(s->dest_id));
	json_object_object_add(o, "downtime", json_object_new_int64(s->downtime));
	json_object_object_add(o, "dump_duration", json_object_new_int64(s->dump));
	json_object_object_add(o, "capture_duration", json_object_new_int64(s->capture));
	json_object_object_add(o, "transfer_duration", json_object_new_int64(s->transfer));
	json_object_object_add(o, "restore_duration", json_object_new_int64(s->restore));
	json_object_object_add(o, "commit_duration", json_object_new_int64(s->commit));
	json_object_object_add(o, "lazy_pages_duration", json_object_new_int64(s->pages));
	json_object_object_add(o, "bytes_sent", json_object_new_int64((int64_t)s->bytes_sent));
	json_object_object_add(o, "total_duration", json_object_new_int64(s->total));
	return o;
}
