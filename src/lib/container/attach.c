#include "attach.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"
#include "layout.h"
#include "util.h"

int attach_reader_next(struct attach_reader *r, char *type, const unsigned char **payload, size_t *len)
{
	if (r->len < 5)
		return 0;
	uint32_t n;
	memcpy(&n, r->buf + 1, 4);
	n = ntohl(n);
	if (n > ATTACH_MAX_PAYLOAD)
		return -EPROTO;
	if (r->len < 5 + (size_t)n)
		return 0;
	*type = (char)r->buf[0];
	*payload = r->buf + 5;
	*len = n;
	return 1;
}

void attach_reader_consume(struct attach_reader *r)
{
	uint32_t n;
	memcpy(&n, r->buf + 1, 4);
	size_t used = 5 + ntohl(n);
	memmove(r->buf, r->buf + used, r->len - used);
	r->len -= used;
}

int attach_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	int64_t deadline = now_monotonic_us() + 5 * 1000000LL;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			if (now_monotonic_us() >= deadline)
				return -ETIMEDOUT;
			poll(&pfd, 1, 100);
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int attach_write_frame(int fd, char type, const void *payload, size_t len)
{
	unsigned char head[5];
	uint32_t n = htonl((uint32_t)len);
	head[0] = (unsigned char)type;
	memcpy(head + 1, &n, 4);
	int r = attach_write_all(fd, head, sizeof(head));
	return r < 0 || len == 0 ? r : attach_write_all(fd, payload, len);
}

int attach_connect(struct cryo_engine *engine, const char *id, cryo_err *err)
{
	cleanup_free char *dir = layout_run_container_dir(engine->runroot, id);
	return console_connect(dir, ATTACH_SOCKET, err);
}

int attach_parse_detach_keys(const char *spec, unsigned char *keys, size_t *n_keys, cryo_err *err)
{
	*n_keys = 0;
	if (!*spec)
		return 0;
	cleanup_free char *copy = xstrdup(spec);
	char *save = NULL;
	for (char *key = strtok_r(copy, ",", &save); key; key = strtok_r(NULL, ",", &save)) {
		unsigned char b;
		if (strlen(key) == 1) {
			b = (unsigned char)key[0];
		} else if (str_has_prefix(key, "ctrl-") && strlen(key) == 6) {
			unsigned char c = (unsigned char)key[5];
			if (c >= 'a' && c <= 'z')
				b = (unsigned char)(c - 'a' + 1);
			else if (c >= '@' && c <= '_')
				b = (unsigned char)(c - '@');
			else
				return cryo_error_plain(
				    err, EINVAL,
				    "invalid detach key `%s`: expected ctrl-a..ctrl-z, ctrl-@, ctrl-[, "
				    "ctrl-\\, ctrl-], ctrl-^, ctrl-_ or one character",
				    key);
		} else {
			return cryo_error_plain(
			    err, EINVAL, "invalid detach key `%s`: expected a character or ctrl-KEY", key);
		}
		if (*n_keys == ATTACH_MAX_DETACH_KEYS)
			return cryo_error_plain(err, EINVAL, "detach keys `%s`: at most %d keys", spec,
			                        ATTACH_MAX_DETACH_KEYS);
		keys[(*n_keys)++] = b;
	}
	return 0;
}

int attach_window_size(int tty_fd, unsigned short *rows, unsigned short *cols)
{
	struct winsize ws;
	if (tty_fd < 0 || ioctl(tty_fd, TIOCGWINSZ, &ws) < 0)
		return -errno;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}

int attach_set_window_size(int master, unsigned short rows, unsigned short cols)
{
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	return ioctl(master, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

static int send_input(const struct attach_proxy_opts *o, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	return attach_write_frame(o->peer, ATTACH_STDIN, data, len);
}

static int send_window_size(const struct attach_proxy_opts *o)
{
	unsigned short rows = 0, cols = 0;
	if (attach_window_size(o->tty_fd, &rows, &cols) < 0)
		return 0;
	uint16_t payload[2] = {htons(rows), htons(cols)};
	return attach_write_frame(o->peer, ATTACH_RESIZE, payload, sizeof(payload));
}

/* Pass input through, holding back a partial detach sequence: *matched keys
 * typed so far. Returns 1 when the whole sequence was typed. */
static int filter_detach(const struct attach_proxy_opts *o, const unsigned char *in, size_t n,
                         size_t *matched, unsigned char *out, size_t *out_len)
{
	*out_len = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == o->detach_keys[*matched]) {
			if (++*matched == o->n_detach_keys)
				return 1;
			continue;
		}
		/* Not the sequence after all: what was held back is input. */
		memcpy(out + *out_len, o->detach_keys, *matched);
		*out_len += *matched;
		*matched = 0;
		if (in[i] == o->detach_keys[0])
			*matched = 1;
		else
			out[(*out_len)++] = in[i];
	}
	return 0;
}

int attach_proxy(const struct attach_proxy_opts *o, bool *detached, cryo_err *err)
{
	static struct attach_reader reader; /* one session per process */
	unsigned char buf[ATTACH_MAX_PAYLOAD], filtered[ATTACH_MAX_PAYLOAD + ATTACH_MAX_DETACH_KEYS];
	size_t matched = 0;
	bool input_open = o->in_fd >= 0;
	int r;

	*detached = false;
	reader.len = 0;
	if (o->tty_fd >= 0 && (r = send_window_size(o)) < 0)
		return cryo_error_set(err, -r, "send the terminal's size");
	for (;;) {
		struct pollfd p[3] = {{.fd = o->peer, .events = POLLIN},
		                      {.fd = input_open ? o->in_fd : -1, .events = POLLIN},
		                      {.fd = o->signal_fd, .events = POLLIN}};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return cryo_error_set(err, errno, "poll");
		}
		if (p[2].revents) {
			struct signalfd_siginfo si;
			while (read(o->signal_fd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH)
					send_window_size(o);
				else if (o->on_signal)
					o->on_signal((int)si.ssi_signo, o->data);
			}
		}
		if (p[1].revents) {
			ssize_t n = read(o->in_fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				input_open = false;
				/* The user's input ended (on a terminal, ^D is a byte
				 * like any other): close the container's stdin. */
				attach_write_frame(o->peer, ATTACH_STDIN_CLOSE, NULL, 0);
			} else if (o->n_detach_keys > 0) {
				size_t out_len;
				int done = filter_detach(o, buf, (size_t)n, &matched, filtered, &out_len);
				if (send_input(o, filtered, out_len) < 0)
					input_open = false;
				if (done) {
					*detached = true;
					return 0;
				}
			} else if (send_input(o, buf, (size_t)n) < 0) {
				input_open = false;
			}
		}
		if (p[0].revents) {
			ssize_t n = read(o->peer, reader.buf + reader.len, sizeof(reader.buf) - reader.len);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				return 0;
			reader.len += (size_t)n;
			char type;
			const unsigned char *payload;
			size_t len;
			while ((r = attach_reader_next(&reader, &type, &payload, &len)) > 0) {
				int fd = type == ATTACH_STDERR ? o->err_fd : o->out_fd;
				if (attach_write_all(fd, payload, len) < 0) {
					attach_reader_consume(&reader);
					return cryo_error_set(err, errno, "write the container's output");
				}
				attach_reader_consume(&reader);
			}
			if (r < 0)
				return cryo_error_set(err, EPROTO, "the monitor sent a malformed frame");
		}
	}
}
