/* Terminals: the OCI runtime's console socket (runc creates the container's
 * pseudo-terminal and sends its master end over an AF_UNIX socket with
 * SCM_RIGHTS) and the helpers to reach sockets whose paths are long.
 *
 * Socket paths under an engine's runroot can exceed sun_path's 108 bytes, so
 * every socket here is bound and connected through a directory descriptor:
 * "/proc/self/fd/DIRFD/NAME" (or /proc/PID/fd/... for a path another process
 * must use), which the kernel resolves like the real path. */
#ifndef CRYO_CONSOLE_H
#define CRYO_CONSOLE_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* Listen on a new AF_UNIX stream socket NAME in directory dir_fd (an existing
 * socket file of that name is replaced). Returns the listening descriptor
 * (close-on-exec, mode 0600) or a negative errno. */
int console_listen(int dir_fd, const char *name, cryo_err *err);

/* Connect to socket NAME in directory `dir`. Returns the connected descriptor. */
int console_connect(const char *dir, const char *name, cryo_err *err);

/* The path a child process (the runtime) can use for socket NAME in dir_fd of
 * this process: /proc/PID/fd/DIRFD/NAME. Allocated. */
char *console_socket_path(int dir_fd, const char *name);

/* Accept one connection on `listen_fd` and receive the terminal master the
 * runtime sends. Gives up after timeout_ms, or as soon as process `watch`
 * (the runtime; 0 for none) has exited without sending one. */
int console_receive_master(int listen_fd, int timeout_ms, pid_t watch, int *master, cryo_err *err);

/* Put a terminal into raw mode, saving the old settings in *saved (restore
 * with console_restore). */
struct termios;
int console_make_raw(int fd, struct termios *saved);
void console_restore(int fd, const struct termios *saved);

#endif
