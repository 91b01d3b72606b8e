/* Freezing a container's cgroup: the step that makes a live checkpoint
 * consistent. cryo freezes before the runtime's checkpoint and thaws only after
 * the root file system and volumes are captured, so nothing in the container
 * can run between the memory dump and the file-system capture.
 *
 * Both kernels' freezers: cgroup v1 `freezer.state` (FROZEN/THAWED, read back
 * until the kernel reports FROZEN) and cgroup v2 `cgroup.freeze` (1/0, waiting
 * for "frozen 1" in cgroup.events). */
#ifndef CRYO_FREEZER_H
#define CRYO_FREEZER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "hostinfo.h"

struct freezer {
	enum freezer_kind kind;
	char *dir; /* the cgroup directory holding freezer.state or cgroup.freeze */
};

/* The freezer cgroup of a running process, found through /proc/PID/cgroup. */
int freezer_for_pid(pid_t pid, struct freezer *out, cryo_err *err);
/* Pure helper behind freezer_for_pid: the cgroup directory of `kind` named in
 * the text of a /proc/PID/cgroup file, below cgroup_root (/sys/fs/cgroup).
 * NULL when the text names no such cgroup. */
char *freezer_dir_from_proc_cgroup(const char *proc_cgroup, enum freezer_kind kind, enum cgroup_mode mode,
				   const char *cgroup_root);

/* A freezer for an explicit cgroup directory (tests). */
void freezer_init(struct freezer *f, enum freezer_kind kind, const char *dir);
void freezer_release(struct freezer *f);

int freezer_is_frozen(const struct freezer *f, bool *frozen, cryo_err *err);
/* Freeze and wait until the kernel reports every task frozen, at most
 * timeout_us; on timeout the cgroup is thawed again and an error returned. */
int freezer_freeze(const struct freezer *f, int64_t timeout_us, cryo_err *err);
int freezer_thaw(const struct freezer *f, cryo_err *err);

#endif
