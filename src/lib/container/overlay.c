#include "overlay.h"

#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include "util.h"

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

bool overlay_is_mounted(const char *target)
{
	struct statfs st;
	return statfs(target, &st) == 0 && st.f_type == OVERLAYFS_SUPER_MAGIC;
}

int overlay_mount(char *const *lower_dirs, const char *upper, const char *work, const char *target,
                  cryo_err *err)
{
	size_t n = strv_len(lower_dirs);
	if (n == 0)
		return cryo_error_set(err, EINVAL, "mount root file system at `%s`: the image has no layers",
		                      target);
	if (overlay_is_mounted(target))
		return 0;
	/* overlayfs lists lower dirs top first. */
	cleanup_free char *lower = xstrdup("");
	for (size_t i = n; i > 0; i--) {
		char *next = xasprintf("%s%s%s", lower, i == n ? "" : ":", lower_dirs[i - 1]);
		free(lower);
		lower = next;
	}
	/* redirect_dir, metacopy and index make an upper dir depend on the exact
	 * lower dirs and inode numbers of this host; with them off, the upper dir
	 * is a plain tree that a checkpoint can carry to another host. */
	cleanup_free char *options = xasprintf(
	    "lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,index=off,metacopy=off", lower, upper, work);
	if (strlen(options) >= 4096)
		return cryo_error_set(
		    err, E2BIG, "mount root file system at `%s`: too many image layers (%zu)", target, n);
	/* nodev, nosuid: a container's own root file system needs neither.
	 * Its /dev is a tmpfs of its own (device nodes elsewhere serve no
	 * program, and the devices cgroup denies them anyway), and it runs with
	 * no_new_privs, under which set-user-ID bits do nothing. */
	if (mount("overlay", target, "overlay", MS_NODEV | MS_NOSUID, options) < 0)
		return cryo_error_set(err, errno, "mount overlay root file system at `%s`", target);
	return 0;
}

int overlay_unmount(const char *target, cryo_err *err)
{
	if (!overlay_is_mounted(target))
		return 0;
	if (umount2(target, 0) < 0) {
		if (errno == EBUSY && umount2(target, MNT_DETACH) == 0)
			return 0;
		return cryo_error_set(err, errno, "unmount root file system `%s`", target);
	}
	return 0;
}
