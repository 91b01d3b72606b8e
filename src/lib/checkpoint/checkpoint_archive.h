/* The checkpoint archive: one tar (pax), optionally compressed, holding a
 * prepared checkpoint directory, in this order:
 *
 *   index.json            first: every entry's name, type and size, and their
 *                         total, so a reader can refuse an archive that is too
 *                         large (or does not fit the disk) before writing a byte,
 *                         and hold each entry to its size while streaming:
 *     {"format":"cryo-checkpoint","version":2,"total_size":N,
 *      "entries":[{"name":"checkpoint","type":"directory"},
 *                 {"name":"checkpoint/pages-1.img","type":"file","size":N},...]}
 *   checkpoint/...        CRIU image files (regular files and directories)
 *   rootfs-diff.tar       rootfs_diff_capture() output (optional)
 *   deleted.files         its deleted-path list (optional)
 *   volumes/NAME.tar      one per named volume (optional)
 *   config.dump           cryo's container configuration (JSON)
 *   spec.dump             the OCI spec the container ran with (JSON)
 *   stats-dump.json       statistics (optional)
 *   stats-dump            CRIU's own statistics image, where checkpointctl and
 *                         Podman look for it (optional)
 *   manifest.json         every regular file's SHA-256 and size, index.json's
 *                         included (so the signature below covers the index):
 *     {"format":"cryo-checkpoint","version":2,
 *      "entries":{"checkpoint/pages-1.img":{"sha256":"...","size":N},...}}
 *   manifest.sig          the exporting engine's Ed25519 signature of
 *                         manifest.json's exact bytes (trust.h):
 *     {"algorithm":"ed25519","public_key":"BASE64","signature":"BASE64"}
 *
 * Podman's export (accepted only when asked, see accept_podman) has no
 * index, manifest or signature: config.dump and spec.dump (Podman's), and
 * optionally network.status, rootfs-diff.tar, deleted.files,
 * devshm-checkpoint.tar, stats-dump, ctr.log, artifacts/, checkpoint/NAME
 * (CRIU's images, one level) and volumes/NAME.tar, in any order.
 *
 * Nothing else is accepted: no other names, no symbolic or hard links, no
 * device nodes. The manifest and signature come last, so a reader that
 * streams (from a pipe) verifies them only at the end: it extracts into a
 * directory of its own and commits nothing before they verify.
 *
 * The file and its names are "checkpoint_archive" rather than "archive"
 * because libarchive's <archive.h> owns that header name and the
 * ARCHIVE_COMPRESSION_* macros. */
#ifndef CRYO_CHECKPOINT_ARCHIVE_H
#define CRYO_CHECKPOINT_ARCHIVE_H

#include <stdint.h>

#include "error.h"
#include "safe_extract.h"
#include "trust.h"

enum checkpoint_compression {
	CHECKPOINT_COMPRESSION_NONE,
	CHECKPOINT_COMPRESSION_GZIP,
	CHECKPOINT_COMPRESSION_ZSTD,
};
#define CHECKPOINT_COMPRESSION_DEFAULT CHECKPOINT_COMPRESSION_ZSTD

/* "none", "gzip" or "zstd". Returns 0, or -EINVAL for anything else. */
int checkpoint_compression_parse(const char *s, enum checkpoint_compression *out);
const char *checkpoint_compression_name(enum checkpoint_compression c);
/* The same, and "zstd:N" (N from 1 to CHECKPOINT_ZSTD_MAX_LEVEL) for zstd at
 * level N; *level is 0 (the default level) otherwise. */
#define CHECKPOINT_ZSTD_MAX_LEVEL 19
int checkpoint_compression_parse_level(const char *s, enum checkpoint_compression *out, int *level);

#define CHECKPOINT_ARCHIVE_FORMAT "cryo-checkpoint"
#define CHECKPOINT_ARCHIVE_VERSION 2

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
 * process memory), its manifest signed with key (NULL: unsigned, which an
 * import refuses unless told otherwise). The archive is written to a
 * temporary file beside target (created with O_EXCL), fsync'd and renamed
 * into place only when complete; on any failure the temporary file is removed
 * and an existing target is left untouched. A name in dir outside the layout
 * above is an error (an existing index.json, manifest.json and manifest.sig
 * are replaced by new ones). stats may be NULL. */
int checkpoint_archive_write(const char *dir, const char *target, enum checkpoint_compression c,
                             const struct signing_key *key, struct checkpoint_archive_stats *stats,
                             cryo_err *err);

/* The same archive written to fd (a pipe, a socket, stdout: written once, in
 * order, never synced, renamed or removed); what names it in messages. On
 * failure the reader at the other end has an incomplete archive, which it
 * refuses (the manifest and signature come last). stats->bytes_out counts the
 * bytes written to fd. level: zstd's compression level, 0 for the default. */
int checkpoint_archive_write_fd(const char *dir, int fd, const char *what, enum checkpoint_compression c,
                                int level, const struct signing_key *key,
                                struct checkpoint_archive_stats *stats, cryo_err *err);

/* Flags of the _flags variants. CHECKPOINT_ARCHIVE_FRAMED: the stream is
 * cut into frames, each after its length, and ends with an empty frame, so
 * that the reader consumes exactly the archive and the descriptor can carry
 * more after it (a migration's handover messages, migrate.h). */
#define CHECKPOINT_ARCHIVE_FRAMED 1U

int checkpoint_archive_write_fd_flags(const char *dir, int fd, const char *what,
                                      enum checkpoint_compression c, int level, const struct signing_key *key,
                                      unsigned flags, struct checkpoint_archive_stats *stats, cryo_err *err);

/* A file of the archive made while the archive is written, instead of read
 * from the checkpoint directory (a snapshot's tar, rootfs_diff.h: streamed
 * without a copy on disk first). The directory holds an empty regular file
 * under its name (its mode and times are the entry's); write() must
 * pass exactly `size` bytes to emit, in order, or the archive fails. */
typedef int (*checkpoint_archive_emit_fn)(void *ctx, const void *buf, size_t len, cryo_err *err);
struct checkpoint_archive_source {
	const char *name; /* relative to the directory: "rootfs-diff.tar", "volumes/data.tar" */
	int64_t size;
	int (*write)(void *data, checkpoint_archive_emit_fn emit, void *emit_ctx, cryo_err *err);
	void *data;
};

/* CHECKPOINT_ARCHIVE_NO_SYNC (checkpoint_archive_write_sources): the file
 * is not fsynced, nor its directory: renamed into place once written, it
 * may be lost or cut short should the host crash before the kernel writes
 * it back (about 30 s). Faster where the disk is the bottleneck; the
 * default is durable. */
#define CHECKPOINT_ARCHIVE_NO_SYNC 2U

int checkpoint_archive_write_sources(const char *dir, const char *target, enum checkpoint_compression c,
                                     const struct signing_key *key, unsigned flags,
                                     const struct checkpoint_archive_source *sources, size_t n_sources,
                                     struct checkpoint_archive_stats *stats, cryo_err *err);
int checkpoint_archive_write_fd_sources(const char *dir, int fd, const char *what,
                                        enum checkpoint_compression c, int level,
                                        const struct signing_key *key, unsigned flags,
                                        const struct checkpoint_archive_source *sources, size_t n_sources,
                                        struct checkpoint_archive_stats *stats, cryo_err *err);

enum checkpoint_signature {
	CHECKPOINT_UNSIGNED,  /* no manifest.sig */
	CHECKPOINT_TRUSTED,   /* signed by a key in opts->keys */
	CHECKPOINT_UNTRUSTED, /* a valid signature by a key not in opts->keys */
};

struct checkpoint_archive_read_opts {
	/* Limits on the archive (entries, sizes, names); NULL: the defaults. */
	const struct extract_limits *limits;
	/* The keys whose signatures are accepted (trust_import_keys()). */
	const struct trusted_keys *keys;
	/* Accept an unsigned archive, or one signed by a key not in keys. A
	 * signature that does not verify, or files that do not match the
	 * manifest, are refused all the same. */
	bool insecure_unsigned;
	/* Accept an archive exported by Podman 4.x (`podman container
	 * checkpoint --export`: no index, no manifest, never signed), and only
	 * with insecure_unsigned. Its entries are held to Podman's layout (below)
	 * and to limits, each file to the size its header gives and to the free
	 * space left; info->podman says it was one. */
	bool accept_podman;
};

struct checkpoint_archive_info {
	enum checkpoint_signature signature;
	unsigned char key[TRUST_KEY_LEN]; /* the signer's key, unless unsigned */
	uint64_t total_size;              /* bytes of file data, from the index */
	bool podman;                      /* an archive exported by Podman (unsigned) */
};

/* Extract a checkpoint archive (uncompressed, gzip, zstd or xz, detected)
 * into dest_dir, an existing, empty directory, verifying in the same pass:
 * - before anything is written: index.json comes first, within the limits
 *   (total size, entry count, path depth, name length), and the total (plus
 *   what the root file system and volumes will take once unpacked) fits the
 *   free space of dest_dir's file system;
 * - while streaming: every entry is in the layout and in the index with that
 *   type, and a file's data stops at the size the index gives it;
 * - at the end: the manifest and its signature come last, the signature
 *   verifies and its key is trusted (see opts), and the regular files are
 *   exactly the manifest's, with its sizes and SHA-256 digests.
 * Files are created 0600, directories 0700. On any failure the error names
 * the archive, the entry and the reason (and, for a signature, how to trust
 * its signer), and dest_dir is emptied again. opts and info may be NULL. */
int checkpoint_archive_read(const char *archive_path, const char *dest_dir,
                            const struct checkpoint_archive_read_opts *opts,
                            struct checkpoint_archive_info *info, cryo_err *err);

/* The same from fd, read once as a stream (a pipe, stdin); what names it in
 * messages. Nothing is trusted before the end: dest_dir is emptied on any
 * failure, including an archive cut short. */
int checkpoint_archive_read_fd(int fd, const char *what, const char *dest_dir,
                               const struct checkpoint_archive_read_opts *opts,
                               struct checkpoint_archive_info *info, cryo_err *err);

/* The same with flags (CHECKPOINT_ARCHIVE_FRAMED: read up to the stream's
 * end frame and not a byte further). */
int checkpoint_archive_read_fd_flags(int fd, const char *what, unsigned flags, const char *dest_dir,
                                     const struct checkpoint_archive_read_opts *opts,
                                     struct checkpoint_archive_info *info, cryo_err *err);

/* Test switch (environment), for tests only: CRYO_TEST_IMPORT_STALL_MS=N makes
 * a reader stall N ms right after the index, inside the transfer (so that a
 * test can kill a receiving cryo there). */
#define CHECKPOINT_ARCHIVE_TEST_STALL_MS "CRYO_TEST_IMPORT_STALL_MS"

#endif
