/* Hardened tar extraction: archives that come from outside the engine
 * (checkpoint archives, volume and root file system captures) are unpacked
 * without ever writing outside the destination directory.
 *
 * An entry is rejected, with an error naming it, when its name is absolute or
 * has a `..` component, when its path (or a hard link's target) goes through a
 * symbolic link (one that existed in the destination or that the same archive
 * created earlier), when a hard link points at a missing entry or a directory,
 * when a hard link points at anything but a regular file extracted before or
 * carries data of its own, when it has an absurd size or an unsupported type,
 * or when the archive goes past the limits (entry count, total size, path
 * depth, name length). Extended attributes in the `trusted.` namespace are
 * dropped: only the engine itself sets them (overlayfs' opaque markers).
 * Only uncompressed, gzip, zstd and xz archives are read, with libarchive's
 * own decoders, never an external program. libarchive's own guards
 * (ARCHIVE_EXTRACT_SECURE_NODOTDOT, _SECURE_SYMLINKS, _SECURE_NOABSOLUTEPATHS)
 * stay on underneath as a second line of defence.
 *
 * Extraction stops at the first problem and leaves what it extracted so far in
 * place: callers extract into a fresh directory and remove it on failure. */
#ifndef CRYO_SAFE_EXTRACT_H
#define CRYO_SAFE_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

enum safe_extract_flags {
	/* Keep the extracting user as owner instead of the archive's uid/gid. */
	SAFE_EXTRACT_NO_OWNER = 1u << 0,
	/* Reject character and block device entries. */
	SAFE_EXTRACT_NO_DEVICES = 1u << 1,
};

/* Larger entries are taken as a corrupt or hostile header, not as data. */
#define SAFE_EXTRACT_MAX_ENTRY_SIZE ((int64_t)1 << 40)

/* What one archive from elsewhere may hold. */
struct extract_limits {
	uint64_t max_total_size; /* bytes of regular file data, all entries together */
	uint64_t max_entries;
	uint64_t max_path_depth;  /* components of an entry's name */
	uint64_t max_name_length; /* bytes of an entry's name */
};

/* The engine configuration's [import] section (config.c: import.max_*);
 * cfg NULL: the defaults. */
struct cryo_config;
void extract_limits_from_config(const struct cryo_config *cfg, struct extract_limits *out);
/* Is this (cleaned, relative) entry name within the depth and length limits
 * (and is every component at most NAME_MAX bytes)? */
int extract_limits_check_name(const struct extract_limits *limits, const char *name, cryo_err *err);

/* Extract the tar at tar_path (uncompressed, gzip, zstd or xz, detected from
 * its contents) into the existing directory dest_dir, preserving modes,
 * numeric owners, times (with nanoseconds), extended attributes, ACLs, hard
 * links, sparse files, device nodes and fifos. An entry named `.` applies its
 * metadata to dest_dir itself.
 *
 * The process's working directory is switched to dest_dir during extraction
 * (libarchive resolves names, including hard link targets, against it) and
 * restored before returning: do not run it concurrently with code that uses
 * relative paths in other threads. */
int safe_extract_tar(const char *tar_path, const char *dest_dir, unsigned flags, cryo_err *err);
/* The same, within limits (NULL: the defaults). */
int safe_extract_tar_limited(const char *tar_path, const char *dest_dir, unsigned flags,
                             const struct extract_limits *limits, cryo_err *err);

/* Normalise a relative archive entry name: drop `.` and empty components and a
 * leading `./`; "" means the root. Returns NULL and sets *why when the name is
 * absolute or has a `..` component. */
char *safe_extract_clean_name(const char *name, const char **why);

#endif
