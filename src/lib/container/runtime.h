/* Driving the OCI runtime (runc, or any runtime with runc's CLI), the way
 * Podman does: create/start/kill/delete/pause/resume/state/exec, and
 * checkpoint/restore through CRIU. Runtime errors come back with the runtime's
 * own message, and CRIU's "Error" lines when CRIU failed. */
#ifndef CRYO_RUNTIME_H
#define CRYO_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include "criu_opts.h"
#include "engine.h"
#include "error.h"

/* runc create: the container's stdio are in_fd (-1: /dev/null), out_fd and
 * err_fd; or, with console_socket (a container whose spec asks for a
 * terminal), a pseudo-terminal whose master the runtime sends there. */
int runtime_create(struct cryo_engine *engine, const char *id, const char *bundle, const char *pid_file,
                   int in_fd, int out_fd, int err_fd, const char *console_socket, cryo_err *err);
int runtime_start(struct cryo_engine *engine, const char *id, cryo_err *err);
int runtime_kill(struct cryo_engine *engine, const char *id, int signal, cryo_err *err);
/* Delete the runtime's record of the container; an unknown container is not an error. */
int runtime_delete(struct cryo_engine *engine, const char *id, bool force, cryo_err *err);
int runtime_pause(struct cryo_engine *engine, const char *id, cryo_err *err);
int runtime_resume(struct cryo_engine *engine, const char *id, cryo_err *err);
/* The runtime's view: status ("created", "running", "paused", "stopped") and
 * init pid. -ENOENT when the runtime does not know the container. */
int runtime_state(struct cryo_engine *engine, const char *id, char **status, int *pid, cryo_err *err);

struct runtime_exec_opts {
	char *const *argv;
	char *const *env; /* KEY=VALUE added */
	const char *cwd;  /* NULL: the container's */
	const char *user; /* "UID[:GID]", NULL: the container's */
	bool stdin_open;  /* -i: our stdin, else /dev/null */
	bool tty;         /* -t: on a new pseudo-terminal the runtime relays to our stdio */
};

/* Run a process in the container with our stdio; *exit_code gets its status. */
int runtime_exec(struct cryo_engine *engine, const char *id, const struct runtime_exec_opts *opts,
                 int *exit_code, cryo_err *err);

/* runc checkpoint with criu's image_path, work_path (dump.log, stats),
 * leave_running, tcp_established and file_locks. */
int runtime_checkpoint(struct cryo_engine *engine, const char *id, const struct criu_opts *opts,
                       cryo_err *err);

/* A lazy dump (criu.lazy_pages with criu.page_server): runc checkpoint
 * --lazy-pages runs on in the background once CRIU has written every image
 * but the memory pages, and serves those on the page server until a
 * lazy-pages daemon (runtime_lazy_pages_start, at the destination) has taken
 * them all. leave_running keeps the tasks after that (frozen when they were
 * frozen): whoever started the dump decides whether they die or run on.
 *
 * runtime_checkpoint_lazy returns when the page server listens (0), or with
 * the dump's error (CRIU's error lines; nothing runs on then). */
struct runtime_lazy_dump {
	pid_t pid;         /* runc checkpoint; 0 when it has ended */
	int output;        /* runc's output (a memory file) */
	char *log;         /* CRIU's dump.log */
	char *page_server; /* ADDR:PORT */
	char *id;
};
int runtime_checkpoint_lazy(struct cryo_engine *engine, const char *id, const struct criu_opts *opts,
                            struct runtime_lazy_dump *dump, cryo_err *err);
/* Wait until every page was served (0) or the page server failed: the link
 * broke, or the daemon went away before it had every page. */
int runtime_lazy_dump_wait(struct runtime_lazy_dump *dump, cryo_err *err);
/* Before any destination took pages from it: make CRIU's page server fail
 * (one stray byte on a connection of our own), so that the dump ends
 * unfinished and its tasks are let go as they were; then wait for it. */
void runtime_lazy_dump_cancel(struct runtime_lazy_dump *dump);
/* Kill runc and CRIU's page server (their process group) at once, as if
 * this host died: for tests. */
void runtime_lazy_dump_kill(struct runtime_lazy_dump *dump);
void runtime_lazy_dump_release(struct runtime_lazy_dump *dump);

/* The destination's side: CRIU's lazy-pages daemon for the restore about to
 * run with image_path and work_path (its socket is there), fetching pages
 * from the page server at ADDR:PORT. It runs detached, in its own session,
 * until it has every page (its log: work_path/lazy-pages.log); returns once
 * its socket is there for the restore, with its pid in *daemon (to be killed
 * when the restore fails: it would wait for it for ever). */
int runtime_lazy_pages_start(struct cryo_engine *engine, const char *image_path, const char *work_path,
                             const char *page_server, pid_t *daemon, cryo_err *err);

struct runtime_restore_opts {
	struct criu_opts
	    criu; /* image_path, work_path (restore.log, stats-restore), tcp_established, file_locks */
	const char *bundle;
	const char *pid_file;
	int in_fd, out_fd, err_fd;  /* the restored container's stdio (in_fd -1: /dev/null) */
	const char *console_socket; /* a container with a terminal: where its new master goes */
};
int runtime_restore(struct cryo_engine *engine, const char *id, const struct runtime_restore_opts *opts,
                    cryo_err *err);

#endif
