/* Attaching to a container's stdio, and proxying a terminal.
 *
 * The monitor listens on RUNROOT/containers/ID/attach. What travels on a
 * connection is framed: one byte of type, four of length (network order),
 * then the payload (at most ATTACH_MAX_PAYLOAD bytes).
 *   client -> monitor: 'i' stdin data, 'c' stdin closed, 'w' window size
 *                      (rows, cols: two 16-bit numbers, network order)
 *   monitor -> client: 'o' stdout (the terminal's output with -t), 'e' stderr
 * The monitor closes the connection once the container has exited and its
 * output is drained; the exit code is in the container's state as always.
 *
 * attach_proxy() is the client's side: it copies the user's stdin to the
 * container and the container's output to the user, forwards window size
 * changes, and stops at the detach keys. */
#ifndef CRYO_ATTACH_H
#define CRYO_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"

#define ATTACH_SOCKET "attach"
#define ATTACH_MAX_PAYLOAD 65536
#define ATTACH_MAX_DETACH_KEYS 8

enum attach_frame {
	ATTACH_STDIN = 'i',
	ATTACH_STDIN_CLOSE = 'c',
	ATTACH_RESIZE = 'w',
	ATTACH_STDOUT = 'o',
	ATTACH_STDERR = 'e',
};

/* Incremental frame decoding (the monitor reads client frames with it). */
struct attach_reader {
	unsigned char buf[5 + ATTACH_MAX_PAYLOAD];
	size_t len;
};
/* Take the next complete frame out of r: 1 with *type, *payload (pointing into
 * r until the next call) and *len set; 0 when more bytes are needed; -EPROTO
 * on a frame too long. Call attach_reader_consume() after using it. */
int attach_reader_next(struct attach_reader *r, char *type, const unsigned char **payload, size_t *len);
void attach_reader_consume(struct attach_reader *r);

/* Write all of data to fd (a non-blocking one too: waits up to 5 s for room). */
int attach_write_all(int fd, const void *data, size_t len);

/* Write one frame, completely (retrying on EINTR/EAGAIN for up to 5 s). */
int attach_write_frame(int fd, char type, const void *payload, size_t len);

/* Connect to container `id`'s monitor. */
int attach_connect(struct cryo_engine *engine, const char *id, cryo_err *err);

/* Parse Podman's detach-key syntax ("ctrl-p,ctrl-q", letters, "ctrl-@",
 * "ctrl-[" ...; "" for none) into bytes. */
int attach_parse_detach_keys(const char *spec, unsigned char *keys, size_t *n_keys, cryo_err *err);

struct attach_proxy_opts {
	int peer;  /* the connection to the monitor */
	int in_fd; /* the user's input, -1 for none */
	int out_fd, err_fd;
	int tty_fd;    /* the user's terminal for window sizes, -1 for none */
	int signal_fd; /* a signalfd (SIGWINCH: send the window size; others: on_signal), -1 */
	void (*on_signal)(int sig, void *data);
	void *data;
	const unsigned char *detach_keys; /* NULL or n_detach_keys == 0: none */
	size_t n_detach_keys;
};

/* Copy until the peer closes (returns 0), the detach keys are typed (returns
 * 0, *detached = true), or an error. */
int attach_proxy(const struct attach_proxy_opts *o, bool *detached, cryo_err *err);

/* The user's terminal's size; a terminal master's size (the monitor's side). */
int attach_window_size(int tty_fd, unsigned short *rows, unsigned short *cols);
int attach_set_window_size(int master, unsigned short rows, unsigned short cols);

#endif
