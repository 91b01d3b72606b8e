/* What a container may ask of the kernel: its capability set and the seccomp
 * profile the runtime installs before the container's first program runs.
 *
 * Capabilities: Docker's and Podman's default set without CAP_MKNOD (a
 * container that can make device nodes can make one for the host's disk;
 * the devices cgroup keeps denying their use, but nothing in the container
 * needs them), changed by `--cap-add` / `--cap-drop` (names with or without
 * the CAP_ prefix, any case; ALL for every capability).
 *
 * Seccomp: an allow list after Docker's and Podman's default profile. What
 * is not listed fails with EPERM: new namespaces (unshare, setns, clone with
 * namespace flags; clone3 fails with ENOSYS so that C libraries fall back to
 * clone, whose flags can be checked), mount and the new mount API, keyrings
 * (keyctl, add_key, request_key), bpf, perf_event_open, kernel modules,
 * kexec, reboot, swap, clock setting, ptrace of anything but its own tasks'
 * memory, userfaultfd and io_uring (CRIU cannot checkpoint either). Calls
 * that need a capability are allowed when the container has it (mount and
 * unshare with CAP_SYS_ADMIN, reboot with CAP_SYS_BOOT, ...), as in Docker. */
#ifndef CRYO_SECURITY_H
#define CRYO_SECURITY_H

#include <json-c/json.h>
#include <stdbool.h>

#include "error.h"

/* A capability name from the command line, normalised ("net_admin" ->
 * "CAP_NET_ADMIN", "all" -> "ALL"); an unknown one is an error naming it. */
int security_cap_normalize(const char *name, char **out, cryo_err *err);

/* The container's capabilities: the default set, then cap_drop removed
 * (ALL: every one), then cap_add added (ALL: every one). Both lists hold
 * normalised names and may be NULL; a capability both added and dropped is
 * an error. *out is a NULL-terminated list of CAP_* names. */
int security_capabilities(char *const *cap_add, char *const *cap_drop, char ***out, cryo_err *err);

/* Whether a normalised name is in the default set every container has
 * (adding it grants nothing); false for "ALL". */
bool security_cap_is_default(const char *cap);

/* The OCI `linux.seccomp` object for a container with these capabilities. */
struct json_object *security_seccomp_profile(char *const *caps);

#endif
