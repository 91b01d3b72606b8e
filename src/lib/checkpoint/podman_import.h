/* An archive exported by Podman 4.x (`podman container checkpoint --export`),
 * unpacked by checkpoint_archive_read() (accept_podman), mapped to a cryo
 * container. Every value comes from elsewhere and is held to what cryo
 * allows; anything cryo cannot give the restored container the same way is
 * refused with its reason rather than approximated:
 *
 * - config.dump (Podman's container): `name`, `rootfsImageName` (the image
 *   the restore looks up in this engine), `rootfsImageID` and
 *   `namedVolumes`; a privileged
 *   container, one made from a root file system directory, or one with
 *   user-namespace ID mappings is refused.
 * - spec.dump (the OCI spec it ran with): the process (args, env, cwd,
 *   numeric user, no terminal), hostname, read-only root, memory and pids
 *   limits; capabilities at most Podman's defaults (cryo's plus CAP_MKNOD);
 *   the namespaces pid, ipc, uts, mount and network, none joined by path (a
 *   user or cgroup namespace, or a shared one, is refused). Its mounts must be
 *   Podman's own: /proc, /dev, /dev/pts, /dev/mqueue, /sys, /sys/fs/cgroup
 *   (cryo mounts its own there) and bind mounts at /etc/hosts, /etc/hostname,
 *   /etc/resolv.conf, /run/.containerenv and /dev/shm, which become the
 *   engine files of container_config.engine_files (files the engine makes in
 *   the new container's directory: the archive's host paths are never used),
 *   and bind mounts of config.dump's `namedVolumes`, which become cryo volume
 *   mounts of the same names (the restore fills them from volumes/NAME.tar
 *   under the import policy: an existing volume is not overwritten unless
 *   asked, -v NEWVOL:DEST renames one). Any other mount (a host directory, a
 *   tmpfs, another file system) is refused.
 * - network.status: absent or empty (Podman's `--network none`); a container
 *   that was on a Podman network is refused.
 * The rest of the spec (seccomp, devices, masks, cgroup path, annotations) is
 * cryo's own, as for any container of its. */
#ifndef CRYO_PODMAN_IMPORT_H
#define CRYO_PODMAN_IMPORT_H

#include "container_config.h"
#include "error.h"

/* Podman's name for the devshm tar in an export (restored into the new
 * container's /dev/shm engine file). */
#define PODMAN_DEVSHM_TAR "devshm-checkpoint.tar"

struct podman_import {
	struct container_config cfg;
	char *name;       /* Podman's container name */
	char *image_name; /* rootfsImageName */
	char *image_id;   /* rootfsImageID ("" when absent) */
	char *id;         /* Podman's 64-hex container ID (not kept: cryo gives a new one) */
};

/* Read dir's config.dump, spec.dump and network.status into *out. On error
 * (naming the file and the value), *out holds nothing to free. */
int podman_import_read(const char *dir, struct podman_import *out, cryo_err *err);
void podman_import_free(struct podman_import *p);

#endif
