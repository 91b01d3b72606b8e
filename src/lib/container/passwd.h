/* User and group names of a container: `-u NAME[:GROUP]` resolved the way the
 * container would, from ITS /etc/passwd and /etc/group. Those files are the
 * image's (or the container's) data, so they are opened beneath the root
 * file system with RESOLVE_IN_ROOT (a symbolic link to the host's
 * /etc/shadow reads the container's own), must be regular files, and are
 * read up to PASSWD_MAX_FILE bytes; lines that do not parse are skipped. */
#ifndef CRYO_PASSWD_H
#define CRYO_PASSWD_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define PASSWD_MAX_FILE (4 << 20)

/* "UID", "UID:GID", "root": no names to resolve. */
bool passwd_user_is_numeric(const char *user);

/* A user spec that names a user or group: NAME or UID, optionally :GROUP or
 * :GID, names of letters, digits, `_`, `.`, `-` (and a trailing `$`). */
bool passwd_user_spec_is_valid(const char *user);

/* Resolve a user spec against the root file system at rootfd: a name's uid
 * and primary group from etc/passwd, a :GROUP's gid from etc/group; a bare
 * number keeps gid = uid unless etc/passwd has that uid. The result is
 * "UID:GID" (allocated) in *out. */
int passwd_resolve(int rootfd, const char *user, char **out, cryo_err *err);

#endif
