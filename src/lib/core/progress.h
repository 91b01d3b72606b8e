/* Progress of long operations (checkpoint, restore) for whoever shows it.
 * Like log.h, the library only reports: the program installs a handler and
 * decides how to show the events (cryo: phases on a terminal, or JSON).
 *
 * One event per phase change, in order. A checkpoint goes through
 *   dumping    runtime + CRIU dump (the container is frozen inside it)
 *   capturing  root file system and volumes (bytes: CRIU's images)
 *   thawed     the container runs again (frozen_us; bytes: rootfs diff);
 *              "captured" instead for a stopping checkpoint
 *   writing    compressing and writing the archive (with --export)
 *   done       (bytes: the archive's size, or the images' without --export)
 * and a restore through
 *   importing  verifying and unpacking the archive (with --import)
 *   preparing  container, root file system and volumes
 *   restoring  runtime + CRIU restore
 *   done */
#ifndef CRYO_PROGRESS_H
#define CRYO_PROGRESS_H

#include <stdint.h>

struct cryo_progress {
	const char *operation; /* "checkpoint", "restore" */
	const char *container; /* as the user named it */
	const char *phase;
	int64_t elapsed_us; /* since the operation started */
	uint64_t bytes;     /* what the phase's description says, 0 when none */
	int64_t frozen_us;  /* "thawed": how long the container was frozen */
};

typedef void (*cryo_progress_handler)(const struct cryo_progress *event, void *data);

void cryo_progress_set_handler(cryo_progress_handler handler, void *data);

/* Report a phase change (does nothing without a handler). */
void cryo_progress_report(const struct cryo_progress *event);

/* The total size of the regular files below a directory (a checkpoint's
 * images), for progress events; 0 when it cannot be read. */
uint64_t cryo_progress_dir_bytes(const char *dir);

#endif
