/* The checkpoint archive: one tar (pax), optionally compressed, holding a
 * prepared checkpoint directory:
 *
 *   checkpoint/...        CRIU image files (regular files and directories)
 *   rootfs-diff.tar       rootfs_diff_capture() output (optional)
 *   deleted.files         its deleted-path list (optional)
 *   volumes/NAME.tar      one per named volume (optional)
 *   config.dump           cryo's container configuration (JSON)
 *   spec.dump             the OCI spec the container ran with (JSON)
 *   stats-dump.json       statistics (optional)
 *   manifest.json         written last by the archive writer:
 *     {"format":"cryo-checkpoint","version":1,
 *      "entries":{"checkpoint/pages-1.img":{"sha256":"...","size":N},...}}
 *
 * Nothing else is accepted: no other names, no symbolic or hard links, no
 * device nodes. The file and its names are "checkpoint_archive" rather than
 * "archive" because libarchive's <archive.h> owns that header name and the
 * ARCHIVE_COMPRESSION_* macros. */
#ifndef CRYO_CHECKPOINT_ARCHIVE_H
#define CRYO_CHECKPOINT_ARCHIVE_H

#include <stdint.h>

#include "error.h"

enum checkpoint_compression {
	CHECKPOINT_COMPRESSION_NONE,
	CHECKPOINT_COMPRESSION_GZIP,
	CHECKPOINT_COMPRESSION_ZSTD,
};
#define CHECKPOINT_COMPRESSION_DEFAULT CHECKPOINT_COMPRESSION_ZSTD

/* "none", "gzip" or "zstd". Returns 0, or -EINVAL for anything else. */
int checkpoint_compression_parse(const char *s, enum checkpoint_compression *out);
const char *checkpoint_compression_name(enum checkpoint_compression c);

#define CHECKPOINT_ARCHIVE_FORMAT "cryo-checkpoint"
#define CHECKPOINT_ARCHIVE_VERSION 1

struct checkpoint_archive_stats {
	uint64_t entries;   /* regular files stored, the manifest included */
	uint64_t bytes_in;  /* their total size */
	uint64_t bytes_out; /* size of the archive file */
	int64_t duration_us;
};

/* The archive is written to a temporary file beside its target, named
 * PREFIX + six random characters, and renamed into place: this is PREFIX
 * ("DIR/.NAME.tmp-"), allocated. */
char *checkpoint_archive_temp_prefix(const char *target);

/* Archive the checkpoint directory dir into target, mode 0600 (it holds
 * process memory). The archive is written to a temporary file beside target
 * (created with O_EXCL), fsync'd and renamed into place only when complete;
 * on any failure the temporary file is removed and an existing target is
 * left untouched. A name in dir outside the layout above is an error (an
 * existing manifest.json is replaced by the new one). stats may be NULL. */
int checkpoint_archive_write(const char *dir, const char *target, enum checkpoint_compression c,
                             struct checkpoint_archive_stats *stats, cryo_err *err);

/* Extract a checkpoint archive (any of the compressions, detected) into
 * dest_dir, an existing, empty directory, verifying in the same pass that
 * every entry is in the layout, that the manifest comes last with a known
 * format and version, and that the regular files are exactly the manifest's,
 * with its sizes and sha256 digests. Files are created 0600, directories
 * 0700. On any failure the error names the archive, the entry and the reason,
 * and dest_dir is emptied again. */
int checkpoint_archive_read(const char *archive_path, const char *dest_dir, cryo_err *err);

#endif
