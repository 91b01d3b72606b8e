/* Facts about this host that decide how cryo freezes and checkpoints: the
 * kernel release, the cgroup layout, the freezer the OCI runtime will use, and
 * the boot ID that keys per-boot caches. */
#ifndef CRYO_HOSTINFO_H
#define CRYO_HOSTINFO_H

#include <stdbool.h>

#include "error.h"

#define HOSTINFO_CGROUP_ROOT "/sys/fs/cgroup"

enum cgroup_mode {
	CGROUP_MODE_V1,     /* only v1 controller hierarchies */
	CGROUP_MODE_V2,     /* /sys/fs/cgroup is the unified (v2) hierarchy */
	CGROUP_MODE_HYBRID, /* v1 controllers plus a v2 hierarchy at /sys/fs/cgroup/unified */
};

/* The freezer the OCI runtime drives for a container, chosen the way runc and
 * crun manage cgroups: on a pure v2 host cgroup.freeze, otherwise (v1 or
 * hybrid) the v1 freezer controller's freezer.state when it is mounted. */
enum freezer_kind {
	FREEZER_V1,   /* freezer.state in the v1 freezer hierarchy */
	FREEZER_V2,   /* cgroup.freeze in the unified hierarchy */
	FREEZER_NONE, /* no freezer the runtime would use */
};

/* The running kernel's release (uname -r). */
int hostinfo_kernel_release(char **out, cryo_err *err);

/* /proc/sys/kernel/random/boot_id, without the newline. */
int hostinfo_boot_id(char **out, cryo_err *err);

/* The cgroup layout below HOSTINFO_CGROUP_ROOT, or below cgroup_root (for tests). */
int hostinfo_cgroup_mode(enum cgroup_mode *out, cryo_err *err);
int hostinfo_cgroup_mode_at(const char *cgroup_root, enum cgroup_mode *out, cryo_err *err);

/* The decision itself, from the file system magic of the cgroup root and
 * whether <root>/unified is a cgroup2 file system. */
enum cgroup_mode hostinfo_cgroup_mode_from_fs(unsigned long root_magic, bool unified_is_cgroup2);

/* The freezer a runtime uses in this mode on this host (or below cgroup_root). */
enum freezer_kind hostinfo_freezer_kind(enum cgroup_mode mode);
enum freezer_kind hostinfo_freezer_kind_at(const char *cgroup_root, enum cgroup_mode mode);
enum freezer_kind hostinfo_freezer_kind_from(enum cgroup_mode mode, bool v1_freezer_mounted);

/* Whether containers here can be limited by the cgroup controller `name`
 * ("memory", "pids"): on v2 it is listed in the root's cgroup.controllers, on
 * v1 and hybrid hosts its v1 hierarchy is mounted (what runc uses there). */
bool hostinfo_cgroup_controller(enum cgroup_mode mode, const char *name);
bool hostinfo_cgroup_controller_at(const char *cgroup_root, enum cgroup_mode mode, const char *name);

/* Why a checkpoint freezes with `kind` in this mode, in one sentence. */
const char *hostinfo_freezer_reason(enum cgroup_mode mode, enum freezer_kind kind);

/* "v1", "v2", "hybrid". */
const char *cgroup_mode_name(enum cgroup_mode mode);
/* The control file that freezes: "freezer.state", "cgroup.freeze", or "none". */
const char *freezer_kind_name(enum freezer_kind kind);

#endif
