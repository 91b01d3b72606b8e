/* Safe unpacking of layer tarballs (plain, gzip, zstd or xz) into a
 * directory that overlayfs then uses as a read-only lower directory.
 *
 * Every entry is checked before anything is written: an absolute path, a `..`
 * component, a parent that resolves (through a symlink from an earlier entry)
 * outside the destination, or a hard link to something outside it, fails the
 * whole unpack with an error naming the entry; so does a hard link to
 * anything but a regular file unpacked before, or one that carries data.
 * Other compressions (bzip2, lz4, lzop, ...) are refused: libarchive would
 * run an external program for some of them. libarchive's own
 * ARCHIVE_EXTRACT_SECURE_* checks run as a second line of defence.
 *
 * OCI whiteouts become overlayfs ones, so overlayfs applies them natively:
 * `dir/.wh.NAME` becomes a 0:0 character device `dir/NAME`, and
 * `dir/.wh..wh..opq` sets trusted.overlay.opaque="y" on `dir`. Any
 * trusted.overlay.* extended attribute carried by the archive itself is
 * dropped: only whiteouts may steer overlayfs. */
#ifndef CRYO_LAYER_H
#define CRYO_LAYER_H

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "safe_extract.h"

struct layer_unpack_opts {
	/* sha256 hex the archive file's bytes (as stored, compressed or not) must
	 * have; checked over the very bytes unpacked. NULL: not checked. */
	const char *expected_digest;
	/* Convert OCI whiteouts (.wh.*) into overlayfs whiteouts. Off: such
	 * entries are unpacked as ordinary files. */
	bool whiteouts;
	/* Fail when the archive has no entries at all. */
	bool require_entries;
	/* Accept only regular files and directories (no links, devices, FIFOs):
	 * for archives that carry data, not a root file system. */
	bool plain_only;
	/* What the archive may unpack to (the engine's import.max_* keys,
	 * safe_extract.h): the bytes of file data written, the entries, each
	 * name's depth and length; and never more file data than the
	 * destination's file system has free when the unpack starts. A layer
	 * that goes over fails, naming the limit. NULL: none of these. */
	const struct extract_limits *limits;
};

struct layer_unpack_result {
	uint64_t size;                   /* bytes of regular file content written */
	uint64_t entries;                /* entries processed, whiteouts included */
	char digest[DIGEST_HEX_LEN + 1]; /* sha256 hex of the archive file */
};

/* Unpack the tar archive at `archive_path` into the existing directory `dest`
 * (normally an empty temporary directory), preserving owners (numeric),
 * permissions, times, extended attributes and device nodes. On failure the
 * destination may hold a partial tree: the caller removes it. `result` may be
 * NULL. */
int layer_unpack(const char *archive_path, const char *dest, const struct layer_unpack_opts *opts,
                 struct layer_unpack_result *result, cryo_err *err);

#endif
