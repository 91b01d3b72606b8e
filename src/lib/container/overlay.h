/* The container's root file system: an overlayfs mount of the image layers
 * (read-only lower dirs) and the container's own upper dir, which is what a
 * checkpoint captures. */
#ifndef CRYO_OVERLAY_H
#define CRYO_OVERLAY_H

#include <stdbool.h>

#include "error.h"

/* lower_dirs: NULL-terminated, bottom layer first. */
int overlay_mount(char *const *lower_dirs, const char *upper, const char *work, const char *target,
                  cryo_err *err);
/* Unmount; a target that is not mounted is not an error. */
int overlay_unmount(const char *target, cryo_err *err);
bool overlay_is_mounted(const char *target);

#endif
