#include "hostinfo.h"

#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>

#include "util.h"

int hostinfo_kernel_release(char **out, cryo_err *err)
{
	struct utsname uts;
	if (uname(&uts) < 0)
		return cryo_error_set(err, errno, "uname");
	*out = xstrdup(uts.release);
	return 0;
}

int hostinfo_boot_id(char **out, cryo_err *err)
{
	static const char path[] = "/proc/sys/kernel/random/boot_id";
	cleanup_free char *id = NULL;
	int r = read_file(path, &id, NULL, err);
	if (r < 0)
		return cryo_error_wrap(err, "read the boot ID");
	str_rstrip(id);
	if (!*id)
		return cryo_error_set(err, 0, "read the boot ID: `%s` is empty", path);
	*out = move_ptr(id);
	return 0;
}

enum cgroup_mode hostinfo_cgroup_mode_from_fs(unsigned long root_magic, bool unified_is_cgroup2)
{
	if (root_magic == CGROUP2_SUPER_MAGIC)
		return CGROUP_MODE_V2;
	return unified_is_cgroup2 ? CGROUP_MODE_HYBRID : CGROUP_MODE_V1;
}

static bool fs_magic_is(const char *path, unsigned long magic)
{
	struct statfs fs;
	return statfs(path, &fs) == 0 && (unsigned long)fs.f_type == magic;
}

int hostinfo_cgroup_mode_at(const char *cgroup_root, enum cgroup_mode *out, cryo_err *err)
{
	struct statfs fs;
	if (statfs(cgroup_root, &fs) < 0)
		return cryo_error_set(err, errno, "detect the cgroup layout: statfs `%s`", cgroup_root);
	cleanup_free char *unified = xasprintf("%s/unified", cgroup_root);
	*out =
	    hostinfo_cgroup_mode_from_fs((unsigned long)fs.f_type, fs_magic_is(unified, CGROUP2_SUPER_MAGIC));
	return 0;
}

int hostinfo_cgroup_mode(enum cgroup_mode *out, cryo_err *err)
{
	return hostinfo_cgroup_mode_at(HOSTINFO_CGROUP_ROOT, out, err);
}

enum freezer_kind hostinfo_freezer_kind_from(enum cgroup_mode mode, bool v1_freezer_mounted)
{
	/* runc and crun put a container in the unified hierarchy only on a pure v2
	 * host; on a hybrid host they use the v1 controllers, freezer included. */
	if (mode == CGROUP_MODE_V2)
		return FREEZER_V2;
	return v1_freezer_mounted ? FREEZER_V1 : FREEZER_NONE;
}

enum freezer_kind hostinfo_freezer_kind_at(const char *cgroup_root, enum cgroup_mode mode)
{
	cleanup_free char *freezer = xasprintf("%s/freezer", cgroup_root);
	return hostinfo_freezer_kind_from(mode, fs_magic_is(freezer, CGROUP_SUPER_MAGIC));
}

enum freezer_kind hostinfo_freezer_kind(enum cgroup_mode mode)
{
	return hostinfo_freezer_kind_at(HOSTINFO_CGROUP_ROOT, mode);
}

bool hostinfo_cgroup_controller_at(const char *cgroup_root, enum cgroup_mode mode, const char *name)
{
	if (mode != CGROUP_MODE_V2) {
		cleanup_free char *hierarchy = xasprintf("%s/%s", cgroup_root, name);
		return fs_magic_is(hierarchy, CGROUP_SUPER_MAGIC);
	}
	cleanup_free char *path = xasprintf("%s/cgroup.controllers", cgroup_root);
	cleanup_free char *list = NULL;
	size_t len = 0;
	if (read_file_bounded(path, 4096, &list, &len, NULL) < 0)
		return false;
	char *save = NULL;
	for (char *tok = strtok_r(list, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (strcmp(tok, name) == 0)
			return true;
	return false;
}

bool hostinfo_cgroup_controller(enum cgroup_mode mode, const char *name)
{
	return hostinfo_cgroup_controller_at(HOSTINFO_CGROUP_ROOT, mode, name);
}

const char *hostinfo_freezer_reason(enum cgroup_mode mode, enum freezer_kind kind)
{
	if (kind == FREEZER_V2)
		return "/sys/fs/cgroup is a cgroup v2 hierarchy: the runtime puts containers there, so a "
		       "checkpoint freezes through their cgroup.freeze";
	if (kind == FREEZER_V1)
		return mode == CGROUP_MODE_HYBRID
		           ? "hybrid cgroups: the runtime manages containers through the v1 controllers (the "
		             "v2 hierarchy at /sys/fs/cgroup/unified has none), so a checkpoint freezes "
		             "through the v1 freezer's freezer.state"
		           : "cgroup v1: a checkpoint freezes through the v1 freezer's freezer.state";
	return "no freezer: not a cgroup v2 host and no v1 freezer hierarchy at /sys/fs/cgroup/freezer, so a "
	       "live checkpoint cannot be made consistent and fails";
}

const char *cgroup_mode_name(enum cgroup_mode mode)
{
	switch (mode) {
	case CGROUP_MODE_V1:
		return "v1";
	case CGROUP_MODE_V2:
		return "v2";
	case CGROUP_MODE_HYBRID:
		return "hybrid";
	}
	return "unknown";
}

const char *freezer_kind_name(enum freezer_kind kind)
{
	switch (kind) {
	case FREEZER_V1:
		return "freezer.state";
	case FREEZER_V2:
		return "cgroup.freeze";
	case FREEZER_NONE:
		return "none";
	}
	return "none";
}
