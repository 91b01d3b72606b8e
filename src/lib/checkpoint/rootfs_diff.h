/* A container's own file-system changes: the overlayfs upper dir, captured
 * into an uncompressed tar plus a list of deleted paths, and rebuilt into a new
 * container's upper dir on restore. Named volumes are captured the same way.
 *
 * Capture runs while the container is frozen, so it is one pass over the tree
 * that streams file data straight into the tar (large buffered writes, sparse
 * files by their data extents, no compression, no fsync).
 *
 * The tree is the container's (or a volume's) and treated as hostile: the walk
 * is iterative with one directory open at a time (any depth, bounded
 * descriptors), never follows a symbolic link, opens only regular files and
 * directories (O_NOFOLLOW | O_NONBLOCK | O_NOATIME) and refuses the capture
 * when the object opened is not the one listed (type, inode: something
 * outside the frozen container is changing the tree). Fifos and device nodes
 * are recorded as such and never opened; sockets are left out. A path longer
 * than PATH_MAX inside the container is refused (-ENAMETOOLONG). */
#ifndef CRYO_ROOTFS_DIFF_H
#define CRYO_ROOTFS_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "safe_extract.h"

struct rootfs_diff_stats {
	uint64_t files;   /* non-directory entries written (files, links, devices, fifos) */
	uint64_t dirs;    /* directory entries written, the root included */
	uint64_t bytes;   /* file data bytes written */
	uint64_t deleted; /* entries in the deleted list */
	int64_t duration_us;
};

/* Capture upper_dir (an overlayfs upper dir) into:
 *   out_tar: a pax tar of every entry except whiteouts, named relative to the
 *     root file system ("etc/motd"; the upper dir itself is the entry "."),
 *     with numeric owners, modes, nanosecond mtimes and extended attributes
 *     (overlayfs' own trusted.overlay.* ones left out);
 *   out_deleted: a JSON array of the absolute in-container paths that the
 *     container deleted (whiteouts) or replaced (opaque directories), such as
 *     ["/etc/issue", "/var/cache"].
 * skip_paths (NULL-terminated, may be NULL) are absolute in-container paths
 * never captured, nor listed as deleted; a directory is skipped with its
 * contents. An upper dir written by overlayfs with redirect_dir or metacopy
 * cannot be captured from the upper dir alone and is refused.
 * Both outputs are created mode 0600 (replacing existing files) and removed
 * again on failure. stats may be NULL. */
int rootfs_diff_capture(const char *upper_dir, char *const *skip_paths, const char *out_tar,
                        const char *out_deleted, struct rootfs_diff_stats *stats, cryo_err *err);

/* Rebuild a container's upper dir (an empty directory) from a capture: the
 * tar is extracted with safe_extract_tar(); then each deleted path becomes an
 * opaque directory (trusted.overlay.opaque="y") where the tar provided a
 * directory, and a whiteout (character device 0:0) otherwise, parents created
 * as needed. A deleted path that is relative, has a `..` component, is "/"
 * or goes through a symbolic link is refused with an error naming it, before
 * anything is written for it. deleted_json may be NULL: nothing deleted.
 * The tar and the deleted list (read with a bound) are held to limits (NULL:
 * the defaults). On failure upper_dir holds a partial result: the caller
 * removes it. */
int rootfs_diff_apply(const char *diff_tar, const char *deleted_json, const char *upper_dir,
                      const struct extract_limits *limits, cryo_err *err);

/* A named volume's data directory: the same tar as rootfs_diff_capture()
 * without overlayfs semantics (every entry and extended attribute kept). */
int volume_capture(const char *data_dir, const char *out_tar, cryo_err *err);
/* Extract a volume_capture() tar into data_dir (normally an empty directory)
 * with safe_extract_tar_limited() (limits NULL: the defaults); data_dir takes
 * the captured root's mode, owner and times. On failure data_dir holds a
 * partial result. */
int volume_restore(const char *volume_tar, const char *data_dir, const struct extract_limits *limits,
                   cryo_err *err);

/* A capture in two steps, for file systems that clone blocks between files
 * (XFS with reflink=1, Btrfs): inside the frozen window only a snapshot is
 * taken (the same walk, with the same checks, records every header and
 * clones the files' data into one unnamed file beside the checkpoint); the
 * tar is written from it after the thaw, while the container runs and writes
 * to its own copies of the blocks.
 *
 * The snapshot's data lives in an O_TMPFILE: it has no name, so nothing is
 * left behind on any path (failure, kill -9, reboot) and no garbage
 * collection is needed; its blocks are freed when it is closed. */
struct capture_snapshot;

struct capture_snapshot_stats {
	uint64_t files;           /* entries recorded */
	uint64_t cloned_bytes;    /* data shared with the tree by reflinks */
	uint64_t copied_bytes;    /* data copied by capture_snapshot_take() */
	uint64_t precopied_bytes; /* data copied ahead by capture_snapshot_precopy() */
	uint64_t reused_bytes;    /* of which capture_snapshot_take() took over (unchanged files) */
	uint64_t bytes;           /* file data in the snapshot, once taken (the tar's data) */
	int64_t duration_us;      /* of capture_snapshot_take() */
	int64_t precopy_duration_us;
};

/* Prepare a snapshot of root (overlay: an overlayfs upper dir, with
 * rootfs_diff_capture()'s semantics and skip_paths; otherwise a volume's
 * data directory, as volume_capture()) whose data goes into an unnamed file
 * in scratch_dir. Whether reflinks work is found out by trying one (between
 * two unnamed files in scratch_dir, which must be on root's file system).
 * Where they do not, the snapshot copies the data instead when copy_fallback
 * is set (see capture_snapshot_precopy), else *out is NULL and 0 is returned
 * (capture the usual way). Call it before the freeze: it costs a few system
 * calls. */
int capture_snapshot_open(const char *root, bool overlay, char *const *skip_paths, const char *scratch_dir,
                          bool copy_fallback, struct capture_snapshot **out, cryo_err *err);
/* Whether copying root ahead of the freeze pays (capture_snapshot_precopy),
 * from a walk of its metadata (never following a link, at most 64 levels
 * deep): it does for a tree whose bytes are mostly in
 * larger files, not for many small ones (the frozen walk visits every entry
 * either way). out (may be NULL): what the walk found. */
struct capture_survey {
	uint64_t entries;     /* everything below root, root included */
	uint64_t large_bytes; /* in regular files of 64 KiB or more */
};
bool capture_snapshot_precopy_pays(const char *root, struct capture_survey *out);
/* Whether the snapshot clones (else it copies). */
bool capture_snapshot_clones(const struct capture_snapshot *s);
/* A copying snapshot, filled ahead of the freeze while the tree is still
 * being written: every file is copied into the snapshot now, and
 * capture_snapshot_take() (in the frozen window) copies only the files that
 * changed since; the others' copies are taken over.
 *
 * A copy is taken over only when the file's size, mtime and ctime are the
 * same at the freeze, its ctime was older than the moment this call started
 * (by two ticks of the coarse clock that stamps changes, plus 10 ms), and no
 * process on the host had it mapped shared and writable when this call
 * started: a store through such a mapping can change a file without setting
 * its times. A realtime clock set back in between voids every copy.
 * Best effort: a tree that changes under the walk (the container runs), a
 * full disk, an unreadable /proc/PID/maps leave the snapshot empty, to be
 * filled in the frozen window (the reason goes to the debug log). Does
 * nothing for a cloning snapshot. */
void capture_snapshot_precopy(struct capture_snapshot *s);
/* Walk the tree (the frozen window's part). A second call does nothing. */
int capture_snapshot_take(struct capture_snapshot *s, cryo_err *err);
/* Write the tar and the deleted list (out_deleted may be NULL) as
 * rootfs_diff_capture() would have from the tree when it was taken. */
int capture_snapshot_write(struct capture_snapshot *s, const char *out_tar, const char *out_deleted,
                           struct rootfs_diff_stats *stats, cryo_err *err);
/* The same tar streamed instead of written to a file (into a checkpoint
 * archive, without a copy on disk first): emit gets it in order, in chunks;
 * a negative return stops it (its error is the one returned).
 * capture_snapshot_tar_size() finds its exact size first (reading none of
 * the data: the tar's layout does not depend on it; stats as
 * capture_snapshot_write's); capture_snapshot_emit_tar() fails should it
 * come to another size. The deleted list is written on its own. */
typedef int (*capture_emit_fn)(void *ctx, const void *buf, size_t len, cryo_err *err);
int capture_snapshot_tar_size(struct capture_snapshot *s, int64_t *size, struct rootfs_diff_stats *stats,
                              cryo_err *err);
int capture_snapshot_emit_tar(struct capture_snapshot *s, capture_emit_fn emit, void *ctx, int64_t size,
                              cryo_err *err);
int capture_snapshot_write_deleted(struct capture_snapshot *s, const char *out_deleted, cryo_err *err);
void capture_snapshot_stats(const struct capture_snapshot *s, struct capture_snapshot_stats *out);
void capture_snapshot_free(struct capture_snapshot *s);

/* Test switches (test_hooks.h), the negative controls of the copies made
 * ahead: CRYO_TEST_PRECOPY_IGNORE_MAPS=1 trusts files mapped shared and
 * writable too; CRYO_TEST_PRECOPY_TRUST_ALL=1 takes over every earlier copy
 * of a file of the same size, its times changed or not. */
#define ROOTFS_TEST_PRECOPY_IGNORE_MAPS "CRYO_TEST_PRECOPY_IGNORE_MAPS"
#define ROOTFS_TEST_PRECOPY_TRUST_ALL "CRYO_TEST_PRECOPY_TRUST_ALL"

#endif
