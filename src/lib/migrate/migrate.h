/* Moving a running container to another engine: this host's (`root:DIR`,
 * another engine root) or another host's over OpenSSH (`ssh://[user@]host[:port]`).
 *
 * The sequence keeps one rule: the container never runs twice and is never
 * lost. It is frozen as for a live checkpoint, dumped and captured, and stays
 * frozen while the signed archive streams (framed, no intermediate file) into
 * `cryo restore --import - --handover` at the destination, which verifies it,
 * restores it FROZEN and reports that. Only then is the source killed (still
 * frozen, so it runs no further instruction), and the destination is sent
 * `commit` on the same stream: it resumes the container and exits 0. The
 * source is then removed, or kept (keep_source; keep: with its checkpoint,
 * for `cryo restore`). Any failure before the destination's report thaws the
 * source, which runs on, and the destination's own restore removes what it
 * had made (a killed destination leaves claimed scratch files that its next
 * command collects); a kill of the source's copy that fails sends `abort`
 * (the destination removes its copy) and thaws the source.
 *
 * Should this cryo die between the report and the commit, the source's
 * freeze watchdog thaws the source and the destination keeps its copy frozen
 * (paused): not twice. Should it die after the kill, the destination keeps
 * it frozen: not lost (`cryo unpause` there). See docs/design.md.
 *
 * Commands at the destination are run as argv: for root: the program is
 * executed directly; for ssh: the ssh binary is executed directly and the
 * remote command line is built from single-quoted words (the remote sshd
 * hands it to a shell), never from unquoted text.
 *
 * Lazy (post-copy): the dump leaves the memory pages here, served by CRIU's
 * page server; the destination restores with CRIU's lazy-pages daemon, which
 * fetches them on demand and in the background. Until the destination runs,
 * rollback is as above (the page server is ended unserved, the source
 * thawed); once it runs, the source's pages are its only memory: the source
 * is killed after the last page left, or when the transfer failed (then the
 * container is lost, and the error says so).
 *
 * migrate_container holds termination signals for its whole run
 * (signal_hold.h). */
#ifndef CRYO_MIGRATE_H
#define CRYO_MIGRATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "checkpoint_archive.h"
#include "criu_opts.h"
#include "engine.h"
#include "error.h"

enum migrate_kind {
	MIGRATE_ROOT, /* root:DIR */
	MIGRATE_SSH,  /* ssh://[user@]host[:port] */
};

struct migrate_destination {
	enum migrate_kind kind;
	char *root; /* root: the destination engine's root */
	char *user; /* ssh: NULL for ssh's default */
	char *host; /* ssh */
	char *port; /* ssh: digits, NULL for 22 */
};

/* Parse DESTINATION. Returns 0, or -EINVAL with a message naming what is wrong
 * (a host or user that could be taken for an ssh option is refused). */
int migrate_destination_parse(const char *s, struct migrate_destination *out, cryo_err *err);
void migrate_destination_free(struct migrate_destination *d);

struct migrate_opts {
	const char *remote_cryo;    /* the destination's cryo: NULL for this one (root:) or "cryo" (ssh) */
	const char *remote_root;    /* ssh: the destination's --root; NULL: its default */
	const char *remote_runroot; /* the destination's --runroot; NULL: its default */
	char **ssh_options;         /* ssh: each passed as `-o OPTION`; NULL: none */
	const char *name;           /* the container's name at the destination; NULL: the same */
	bool keep_source;           /* keep the stopped source container (state exited) */
	bool keep;                  /* keep it "checkpointed", its checkpoint kept for `cryo restore` */
	enum checkpoint_compression compression;
	int compression_level; /* zstd's level; 0: the default (1) */
	/* tcp_established, file_locks: for the dump here and the restore there
	 * (the dump is always live: leave_running is the engine's). */
	struct criu_opts criu;
	/* Networking at the destination, as for `cryo restore`. */
	const char *network;
	bool ignore_static_ip;
	bool ignore_static_mac;
	char **publish;
	/* Post-copy: the destination runs before the memory is there; its
	 * pages follow from this host's page server (no way back once it
	 * runs: should the link or this host fail before the last page, the
	 * container is lost). page_server: "ADDR[:PORT]" the destination
	 * connects to, the server binds to ADDR only; NULL: 127.0.0.1 and a
	 * free port for root:, and for ssh:// the address this host has as
	 * seen by the destination (its SSH_CONNECTION). */
	bool lazy;
	const char *page_server;
};

/* All times in microseconds. */
struct migrate_stats {
	int64_t downtime; /* from the freeze to the destination's "running" */
	int64_t dump;     /* the runtime's checkpoint (CRIU dump) from the freeze on */
	int64_t capture;  /* root file system and volumes */
	int64_t transfer; /* archive written and sent (compression and the destination's
	                   * verification overlap it) */
	int64_t restore;  /* from the end of the stream to the destination's report:
	                   * restored, frozen */
	int64_t commit;   /* from the kill of the source's copy to the destination's
	                   * "running" (its resume on the commit message) */
	int64_t pages;    /* lazy: from "running" until the destination had every page */
	uint64_t bytes_sent;
	int64_t total;    /* the whole command */
	char dest_id[65]; /* the container's id at the destination */
	char dest_name[256];
};

int migrate_container(struct cryo_engine *engine, const char *ref, const struct migrate_destination *dest,
                      const struct migrate_opts *opts, struct migrate_stats *stats, cryo_err *err);

struct json_object *migrate_stats_json(const struct migrate_stats *stats);

/* Test switch (environment): CRYO_TEST_MIGRATE_NO_ROLLBACK=1 makes a failed
 * handoff report success, as if rollback did not exist (the negative control
 * of the rollback tests: the source is then lost). */
#define MIGRATE_TEST_NO_ROLLBACK "CRYO_TEST_MIGRATE_NO_ROLLBACK" /* test builds only (test_hooks.h) */
/* CRYO_TEST_MIGRATE_STOP_BEFORE_COMMIT=1: stop for good once the destination
 * reported the container restored frozen, before the source's copy is
 * killed (a test kills the migrating cryo there). */
#define MIGRATE_TEST_STOP_BEFORE_COMMIT "CRYO_TEST_MIGRATE_STOP_BEFORE_COMMIT"

#endif
