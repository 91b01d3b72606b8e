/* Restoring a container from a checkpoint: the one the engine kept for it
 * (same host), or an exported archive (another host, or several copies side by
 * side under new names). The restored container is a full citizen: monitored,
 * logged, waitable, and checkpointable again. */
#ifndef CRYO_RESTORE_H
#define CRYO_RESTORE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "criu.h"
#include "criu_opts.h"
#include "engine.h"
#include "error.h"
#include "state.h"

struct restore_opts {
	const char *import_path; /* an exported archive; NULL: the engine's checkpoint of `ref` */
	/* Import from a stream (import_path then only names it in messages):
	 * read import_fd once, in one pass; nothing is kept unless the whole
	 * archive verifies. */
	bool import_stream;
	int import_fd;
	const char *name; /* a new container with this name (always new with import) */
	bool keep;        /* keep the checkpoint files and logs after restoring */
	bool ignore_rootfs;
	bool ignore_volumes;
	/* tcp_established, tcp_close, file_locks; the paths are the engine's. */
	struct criu_opts criu;

	/* Networking (Podman's restore flags). The checkpointed IP and MAC are
	 * asked for again when they are free on the network. */
	bool ignore_static_ip;  /* a new address instead */
	bool ignore_static_mac; /* a new MAC instead */
	char **publish;         /* -p arguments: replace the published ports; NULL: the checkpoint's */

	/* Import policy (docs/trust.md): what an archive may not decide alone. */
	bool insecure_unsigned;  /* accept an unsigned archive, or one from an untrusted key */
	char **volumes;          /* -v HOSTDIR:/dest re-names a bind mount, -v NEWVOL:/dest a volume */
	bool ignore_bind_mounts; /* each bind mount not re-named becomes an empty read-only directory */
	bool replace_volumes;    /* an existing named volume may get the archive's data */
	const char *network;     /* NULL: the checkpoint's (an archive's only if it is not host) */
	int64_t memory_limit;    /* 0: the archive's, or the engine's import.memory_limit */
	int64_t pids_limit;      /* 0: the archive's, or the engine's import.pids_limit */
	/* Capabilities beyond the default set that the archive's container was
	 * given (--cap-add at run), granted again by name ("net_admin",
	 * "CAP_NET_ADMIN"; "ALL": all it asks for); an archive cannot grant them
	 * alone. */
	char **cap_add;

	/* A migration's handover (migrate.h): the stream is framed
	 * (CHECKPOINT_ARCHIVE_FRAMED), and the container is restored FROZEN:
	 * CRIU's pre-resume action script freezes its cgroup before any of its
	 * tasks runs an instruction, and it is recorded paused (`cryo unpause`
	 * runs it). A restore whose freeze cannot be confirmed fails, and its
	 * container is removed. Needs import_stream. */
	bool handover;
	/* A lazy checkpoint's pages come from the page server at this
	 * "ADDR:PORT" (CRIU's lazy-pages daemon, started beside the restore,
	 * fetches them until it has every one); NULL: they are in the images. */
	const char *lazy_pages_from;
};

/* In the container's bundle directory: the handover's action script, and
 * the stamp it writes once it froze the container. */
#define RESTORE_HANDOVER_SCRIPT "handover-freeze"
#define RESTORE_HANDOVER_STAMP "handover-frozen"

struct restore_stats {
	int64_t restore_duration;
	int64_t runtime_restore_duration;
	int64_t import_duration; /* verifying and unpacking the archive */
	int64_t rootfs_apply_duration;
	int64_t volumes_restore_duration;
	bool have_criu_stats;
	struct criu_restore_stats criu;
	/* What the restore left undone and why (empty when nothing), for the
	 * user: e.g. managed files not written because the container's /etc is
	 * a symbolic link. */
	char notice[1024];
};

int restore_container(struct cryo_engine *engine, const char *ref, const struct restore_opts *opts,
                      struct container **out, struct restore_stats *stats, cryo_err *err);

struct json_object *restore_stats_json(const struct restore_stats *stats);

#endif
