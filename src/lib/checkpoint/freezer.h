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

/* How long a freeze may take before it is given up (and thawed again). */
#define FREEZER_TIMEOUT_US (10 * 1000 * 1000)

struct freezer {
	enum freezer_kind kind;
	char *dir;    /* the cgroup directory holding freezer.state or cgroup.freeze */
	char *cgroup; /* its path inside the hierarchy ("/cryo/ID"); NULL when unknown */
};

/* The freezer of the cgroup cryo created for a container (its cgroupsPath,
 * `cgroup_path`, "/cryo/ID"): in the v1 freezer hierarchy on a v1 or hybrid
 * host, in the unified hierarchy on a pure v2 host, the way runc places it.
 * Nothing the container controls goes into it: a container that moved its
 * tasks into a sub-cgroup of its own is still frozen whole (both freezers
 * are hierarchical). */
int freezer_for_cgroup(const char *cgroup_path, struct freezer *out, cryo_err *err);
/* The same below another cgroup root (tests). */
int freezer_for_cgroup_at(const char *cgroup_root, const char *cgroup_path, struct freezer *out,
                          cryo_err *err);

/* Check that every task of a container is in the freezer's cgroup or below
 * it, so that freezing that cgroup stops them all. The container's tasks are
 * the threads of every process in the pid namespace of `init_pid` or in one
 * nested inside it (its processes, those `exec` started, those in namespaces
 * it made). Fails with -EPERM naming the first task outside and its cgroup.
 * The freezer must know its cgroup (freezer_for_cgroup). */
int freezer_check_tasks_beneath(const struct freezer *f, pid_t init_pid, cryo_err *err);

/* Pure helpers. The hierarchy path ("/cryo/ID/sub") of the freezer `kind`
 * named in the text of a /proc/PID/cgroup file, NULL when it names none. */
char *freezer_cgroup_from_proc_cgroup(const char *proc_cgroup, enum freezer_kind kind);
/* Is cgroup path `path` equal to `ancestor` or below it ("/a/bc" is not
 * below "/a/b")? */
bool freezer_cgroup_is_beneath(const char *path, const char *ancestor);

/* The freezer cgroup of a running process, found through /proc/PID/cgroup.
 * The container controls that answer (it can move itself into a cgroup of its
 * own): checkpoints use freezer_for_cgroup. */
int freezer_for_pid(pid_t pid, struct freezer *out, cryo_err *err);
/* Pure helper behind freezer_for_pid: the cgroup directory of `kind` named in
 * the text of a /proc/PID/cgroup file, below cgroup_root (/sys/fs/cgroup).
 * NULL when the text names no such cgroup. */
char *freezer_dir_from_proc_cgroup(const char *proc_cgroup, enum freezer_kind kind, enum cgroup_mode mode,
                                   const char *cgroup_root);

/* A freezer for an explicit cgroup directory (tests). */
void freezer_init(struct freezer *f, enum freezer_kind kind, const char *dir);
/* The same with the cgroup's path in its hierarchy (for the task check). */
void freezer_init_cgroup(struct freezer *f, enum freezer_kind kind, const char *dir, const char *cgroup);
void freezer_release(struct freezer *f);

int freezer_is_frozen(const struct freezer *f, bool *frozen, cryo_err *err);
/* Freeze and wait until the kernel reports every task frozen, at most
 * timeout_us; on timeout the cgroup is thawed again and an error returned. */
int freezer_freeze(const struct freezer *f, int64_t timeout_us, cryo_err *err);
int freezer_thaw(const struct freezer *f, cryo_err *err);

#endif
