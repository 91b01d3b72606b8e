/* Checkpointing a container: memory and kernel state through the runtime and
 * CRIU, the root file system's changes, and its named volumes.
 *
 * A live checkpoint (criu.leave_running) is consistent: the container's cgroup is
 * frozen before the runtime's checkpoint and thawed only after the file system
 * and volumes are captured. Compression and archive writing happen after the
 * thaw, so the container is frozen only as long as consistency needs.
 * checkpoint_container holds termination signals for its whole run
 * (signal_hold.h): a Ctrl-C never leaves a container frozen. */
#ifndef CRYO_CHECKPOINT_H
#define CRYO_CHECKPOINT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "checkpoint_archive.h"
#include "criu.h"
#include "criu_opts.h"
#include "engine.h"
#include "error.h"

struct checkpoint_opts {
	/* leave_running (a live checkpoint), tcp_established, tcp_skip_in_flight,
	 * file_locks; the paths are the engine's. */
	struct criu_opts criu;
	const char *export_path; /* NULL: keep the checkpoint in the engine */
	/* Export to a stream instead of a file (export_path NULL): the archive
	 * is written to export_fd (stdout, a pipe) in one pass; export_what
	 * names it in messages. */
	bool export_stream;
	int export_fd;
	const char *export_what;
	enum checkpoint_compression compression;
	bool ignore_rootfs;
	bool ignore_volumes;
	bool keep;            /* keep CRIU's logs and the engine copy even when exported */
	bool export_no_sync;  /* export_path: not fsynced (CHECKPOINT_ARCHIVE_NO_SYNC) */
	const char *sign_key; /* sign the export with this Ed25519 PEM key; NULL: the engine's own */

	/* Hand the container over (migrate.h): called inside the frozen window,
	 * after the capture, with the finished checkpoint directory and this
	 * engine's signing key, while the container stays frozen. Returning 0
	 * means the container is now held elsewhere: it is killed while still
	 * frozen (it never runs here again; see handoff_finish) and left
	 * "checkpointed" with its checkpoint kept when keep is set, "exited"
	 * without it otherwise.
	 * Returning an error aborts the checkpoint: the container is thawed and
	 * runs on. Needs criu.leave_running, and no export. */
	int (*handoff)(void *data, const char *dir, const struct signing_key *key, cryo_err *err);
	void *handoff_data;
	/* A two-phase handoff (migrate.h): the handoff's success means the
	 * destination holds the container FROZEN. Then the container is killed
	 * here, still frozen, and handoff_finish is called with commit true (the
	 * destination may run it now); should that kill fail, with commit false
	 * (the destination removes its copy), and the checkpoint fails: the
	 * container is thawed and runs on here. NULL: none. */
	void (*handoff_finish)(void *data, bool commit);
};

/* All times in microseconds. */
struct checkpoint_stats {
	int64_t checkpoint_duration;         /* the whole operation */
	int64_t runtime_checkpoint_duration; /* the runtime + CRIU dump */
	int64_t frozen_window;               /* from cryo's freeze to its thaw; 0 for a stopping checkpoint */
	int64_t freeze_duration;             /* until the kernel reported the cgroup frozen */
	int64_t rootfs_capture_duration;
	int64_t volumes_capture_duration;
	int64_t archive_duration;
	int64_t handoff_duration;     /* inside the frozen window, the handoff callback */
	int64_t handoff_downtime;     /* from the freeze to the handoff's success; 0 if unknown */
	int64_t frozen_dump_duration; /* the part of the dump inside the frozen window */
	int64_t lazy_pages_duration;  /* lazy handoff: from its success until every page was served */
	bool lazy_pages_lost;         /* lazy handoff: the destination runs without all of its memory
	                               * (the error says why); the source was killed all the same */
	uint64_t rootfs_diff_bytes;
	uint64_t archive_size;
	bool archive_synced; /* the exported file was fsynced (durable) before success */
	/* How the file systems were captured in the frozen window: copied into
	 * tars, reflink snapshots, or snapshots copied ahead of the freeze
	 * whose unchanged files are taken over (precopy); the snapshots' tars
	 * are written after the thaw (rootfs_diff.h); mixed when some trees
	 * were cloned and others copied. */
	enum { CAPTURE_NONE, CAPTURE_COPY, CAPTURE_REFLINK, CAPTURE_MIXED, CAPTURE_PRECOPY } capture_method;
	int64_t capture_flush_duration;   /* writing back dirty data before the freeze (reflink only) */
	int64_t capture_precopy_duration; /* the copies made ahead of the freeze (no reflinks) */
	int64_t capture_write_duration;   /* the snapshots' tars, after the thaw */
	uint64_t reflink_bytes;           /* data the snapshots share with the trees */
	uint64_t capture_copied_bytes;    /* data the snapshots copied in the frozen window */
	uint64_t capture_precopied_bytes; /* data copied ahead of the freeze */
	uint64_t capture_reused_bytes;    /* of which the frozen window took over (unchanged files) */
	bool capture_streamed;            /* the snapshots' tars went straight into the exported
	                                   * archive (no tar files written first) */
	bool network_lock;                /* CRIU locked the container's network during the dump */
	bool have_criu_stats;
	struct criu_dump_stats criu;
};

int checkpoint_container(struct cryo_engine *engine, const char *ref, const struct checkpoint_opts *opts,
                         struct checkpoint_stats *stats, cryo_err *err);

struct json_object *checkpoint_stats_json(const struct checkpoint_stats *stats);

/* Internal switches for tests and benchmarks only (environment variables, not
 * user options; read only in builds with -Dtest_hooks=true, test_hooks.h):
 *   CRYO_TEST_DISABLE_FREEZE=1      live checkpoint without cryo's freeze (the
 *                                   negative control of the consistency test);
 *   CRYO_TEST_THAW_AFTER_ARCHIVE=1  keep the container frozen until the archive
 *                                   is written (Podman 6.0's behaviour, the
 *                                   benchmark's comparison mode). */
#define CHECKPOINT_TEST_DISABLE_FREEZE "CRYO_TEST_DISABLE_FREEZE"
#define CHECKPOINT_TEST_THAW_AFTER_ARCHIVE "CRYO_TEST_THAW_AFTER_ARCHIVE"
/*   CRYO_TEST_FROZEN_DELAY_MS=N     wait N ms inside the frozen window (to test
 *                                   that a killed cryo leaves no frozen container). */
#define CHECKPOINT_TEST_FROZEN_DELAY_MS "CRYO_TEST_FROZEN_DELAY_MS"
/*   CRYO_TEST_FAIL_ROOTFS_CAPTURE=1 the capture of the root file system's
 *                                   changes fails (nothing may be lost then). */
#define CHECKPOINT_TEST_FAIL_ROOTFS_CAPTURE "CRYO_TEST_FAIL_ROOTFS_CAPTURE"
/*   CRYO_TEST_FAIL_RECORD=1         recording the result in the engine's state
 *                                   fails (after a handoff: migrate must say
 *                                   that the container moved all the same). */
#define CHECKPOINT_TEST_FAIL_RECORD "CRYO_TEST_FAIL_RECORD"
/* CRYO_TEST_FAIL_HANDOFF_KILL=1: after a successful handoff, the kill of the
 * container's frozen copy fails (the rollback of a two-phase handoff). */
#define CHECKPOINT_TEST_FAIL_HANDOFF_KILL "CRYO_TEST_FAIL_HANDOFF_KILL"
/*   CRYO_TEST_LAZY_KILL_PAGE_SERVER=1  a lazy handoff's page server (runc and
 *                                   CRIU) is killed as soon as the destination
 *                                   runs: the source's death before the last
 *                                   page (the lazy tests' negative control). */
#define CHECKPOINT_TEST_LAZY_KILL_PAGE_SERVER "CRYO_TEST_LAZY_KILL_PAGE_SERVER"
/*   CRYO_TEST_NO_PRECOPY=1          where reflinks are absent, capture in the
 *                                   frozen window the old way (tars written
 *                                   there; no copies made ahead): the
 *                                   benchmark's and the tests' baseline;
 *   CRYO_TEST_PRECOPY_DELAY_MS=N    wait N ms between the copies made ahead
 *                                   and the freeze (the container writes on). */
#define CHECKPOINT_TEST_NO_PRECOPY "CRYO_TEST_NO_PRECOPY"
#define CHECKPOINT_TEST_PRECOPY_DELAY_MS "CRYO_TEST_PRECOPY_DELAY_MS"

/* The freeze itself happens in CRIU's pre-dump action script (freeze_hook.h). */

/* Names inside a checkpoint directory (and archive). */
#define CHECKPOINT_IMAGES_DIR "checkpoint"
#define CHECKPOINT_ROOTFS_DIFF "rootfs-diff.tar"
#define CHECKPOINT_DELETED_FILES "deleted.files"
#define CHECKPOINT_VOLUMES_DIR "volumes"
#define CHECKPOINT_CONFIG "config.dump"
#define CHECKPOINT_SPEC "spec.dump"
#define CHECKPOINT_STATS "stats-dump.json"
#define CHECKPOINT_CRIU_STATS "stats-dump" /* CRIU's image, named as checkpointctl and Podman name it */
/* The annotation of spec.dump that tells checkpointctl which engine made a
 * checkpoint (Podman writes "libpod"). */
#define CHECKPOINT_MANAGER_ANNOTATION "io.container.manager"
#define CHECKPOINT_MANAGER "cryo"

#endif
