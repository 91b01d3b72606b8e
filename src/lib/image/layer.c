#include "layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "pathsafe.h"
#include "util.h"

/* cryo_error_set appends strerror() for a non-zero errno; these messages say
 * all there is, so they keep the code without the text. */
static int keep_code(cryo_err *err, int code)
{
	if (err && *err)
		(*err)->errnum = code;
	return -code;
}
#define fail_with(err, code, ...) (cryo_error_set((err), 0, __VA_ARGS__), keep_code((err), (code)))

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_XATTR_PREFIX "trusted.overlay."

static const int extract_flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                 ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL |
                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                 ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;

static void archive_read_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
static void archive_write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}
#define cleanup_archive_read _cleanup_(archive_read_freep)
#define cleanup_archive_write _cleanup_(archive_write_freep)

/* The archive's bytes, hashed as libarchive reads them, so the digest checked
 * is the digest of exactly what was unpacked. */
struct source {
	int fd;
	struct digest *digest;
	char buf[1 << 16];
};

static la_ssize_t source_read(struct archive *a, void *data, const void **buf)
{
	struct source *src = data;
	for (;;) {
		ssize_t n = read(src->fd, src->buf, sizeof(src->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "read failed");
			return -1;
		}
		digest_update(src->digest, src->buf, (size_t)n);
		*buf = src->buf;
		return n;
	}
}

/* Hash whatever follows the end-of-archive marker (tar padding). */
static int source_drain(struct source *src)
{
	for (;;) {
		ssize_t n = read(src->fd, src->buf, sizeof(src->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		digest_update(src->digest, src->buf, (size_t)n);
	}
}

/* libarchive writes relative to the working directory: enter the destination
 * for the unpack and come back afterwards, whatever happens. */
struct cwd_guard {
	int saved;
};
static void cwd_restore(struct cwd_guard *g)
{
	if (g->saved >= 0) {
		if (fchdir(g->saved) < 0) {
			/* The saved directory is gone; stay where we are. */
		}
		close(g->saved);
		g->saved = -1;
	}
}

/* The root entry ("./") carries the root directory's metadata; applied after
 * everything else so later entries do not change its times. */
struct root_meta {
	bool present;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec times[2];
};

struct unpack {
	struct archive *in, *out;
	int rootfd; /* O_PATH descriptor of the destination */
	const struct layer_unpack_opts *opts;
	struct layer_unpack_result *res;
	struct root_meta root;
	uint64_t written; /* bytes of file data */
	uint64_t space;   /* the destination's free bytes at the start (with limits) */
};

/* One more block of file data, within the limits. */
static int account_data(struct unpack *u, size_t size, cryo_err *err)
{
	const struct extract_limits *l = u->opts->limits;
	u->written += size;
	if (!l)
		return 0;
	if (u->written > l->max_total_size)
		return fail_with(err, EFBIG,
		                 "unpacks to more than %llu bytes of file data, the most this engine "
		                 "unpacks from elsewhere (`import.max_total_size`)",
		                 (unsigned long long)l->max_total_size);
	if (u->written > u->space)
		return fail_with(err, ENOSPC,
		                 "unpacks to more than the %llu bytes free on the engine's file system",
		                 (unsigned long long)u->space);
	return 0;
}

static int record_root(struct unpack *u, struct archive_entry *entry, cryo_err *err)
{
	if (archive_entry_filetype(entry) != AE_IFDIR)
		return fail_with(err, EINVAL, "the root entry `%s` is not a directory",
		                 archive_entry_pathname(entry));
	u->root.present = true;
	u->root.mode = archive_entry_perm(entry);
	u->root.uid = (uid_t)archive_entry_uid(entry);
	u->root.gid = (gid_t)archive_entry_gid(entry);
	u->root.times[0] = (struct timespec){archive_entry_atime(entry), archive_entry_atime_nsec(entry)};
	u->root.times[1] = (struct timespec){archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
	if (!archive_entry_atime_is_set(entry))
		u->root.times[0] = u->root.times[1];
	return 0;
}

static int apply_root(struct unpack *u, const char *dest, cryo_err *err)
{
	if (!u->root.present)
		return 0;
	cleanup_close int fd = pathsafe_open_beneath(u->rootfd, ".", O_RDONLY | O_DIRECTORY, 0, err);
	if (fd < 0)
		return fd;
	if (fchown(fd, u->root.uid, u->root.gid) < 0 || fchmod(fd, u->root.mode) < 0 ||
	    futimens(fd, u->root.times) < 0)
		return cryo_error_set(err, errno, "set the metadata of `%s`", dest);
	return 0;
}

/* `dir/.wh.NAME` hides NAME of the lower layers: an overlayfs whiteout (a 0:0
 * character device). `dir/.wh..wh..opq` hides all of dir's lower contents:
 * dir gets trusted.overlay.opaque="y". A whiteout only applies to lower layers,
 * so one whose NAME this layer itself provides is dropped. */
static int apply_whiteout(struct unpack *u, const char *parent, const char *base, cryo_err *err)
{
	if (strcmp(base, WHITEOUT_OPAQUE) == 0) {
		cleanup_close int dirfd = pathsafe_mkdir_beneath(u->rootfd, parent, 0755, err);
		if (dirfd < 0)
			return dirfd;
		if (fsetxattr(dirfd, OVERLAY_XATTR_PREFIX "opaque", "y", 1, 0) < 0)
			return cryo_error_set(err, errno, "mark directory `%s` opaque", parent);
		return 0;
	}
	/* Other .wh..wh.* names are AUFS bookkeeping with no meaning here. */
	if (str_has_prefix(base, WHITEOUT_META_PREFIX))
		return 0;

	const char *name = base + strlen(WHITEOUT_PREFIX);
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return fail_with(err, EINVAL, "invalid whiteout name `%s`", base);
	cleanup_close int dirfd = pathsafe_mkdir_beneath(u->rootfd, parent, 0755, err);
	if (dirfd < 0)
		return dirfd;
	if (mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)) < 0 && errno != EEXIST)
		return cryo_error_set(err, errno, "create whiteout for `%s` in `%s`", name, parent);
	return 0;
}

/* Drop trusted.overlay.* attributes: an archive must not steer overlayfs
 * (redirects, metacopy, opaque markers) except through whiteouts. */
static void filter_xattrs(struct archive_entry *entry)
{
	const char *name;
	const void *value;
	size_t size;
	bool filtered = false;

	archive_entry_xattr_reset(entry);
	while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK)
		if (str_has_prefix(name, OVERLAY_XATTR_PREFIX))
			filtered = true;
	if (!filtered)
		return;

	struct kept {
		char *name;
		void *value;
		size_t size;
	} *kept = NULL;
	size_t n = 0;
	archive_entry_xattr_reset(entry);
	while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
		if (str_has_prefix(name, OVERLAY_XATTR_PREFIX))
			continue;
		kept = xrealloc(kept, (n + 1) * sizeof(*kept));
		kept[n].name = xstrdup(name);
		kept[n].value = xmalloc(size);
		memcpy(kept[n].value, value, size);
		kept[n].size = size;
		n++;
	}
	archive_entry_xattr_clear(entry);
	for (size_t i = 0; i < n; i++) {
		archive_entry_xattr_add_entry(entry, kept[i].name, kept[i].value, kept[i].size);
		free(kept[i].name);
		free(kept[i].value);
	}
	free(kept);
}

/* A hard link must name a regular file this archive already put inside the
 * root, and carry no data of its own: libarchive may set a link's mode and
 * times by name, which through a symbolic link reaches whatever it points at. */
static int check_hardlink(struct unpack *u, struct archive_entry *entry, const char *target, cryo_err *err)
{
	if (archive_entry_size_is_set(entry) && archive_entry_size(entry) != 0)
		return fail_with(err, EPERM, "a hard link entry carries %lld bytes of data",
		                 (long long)archive_entry_size(entry));
	cleanup_free char *norm = NULL;
	int r = pathsafe_normalize(target, &norm, err);
	if (r < 0)
		return cryo_error_wrap(err, "hard link target");
	cleanup_close int fd = pathsafe_open_beneath(u->rootfd, norm, O_PATH | O_NOFOLLOW, 0, err);
	if (fd < 0)
		return cryo_error_wrap(err, "hard link target");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cryo_error_set(err, errno, "hard link target `%s`", norm);
	if (S_ISDIR(st.st_mode))
		return fail_with(err, EPERM, "hard link target `%s` is a directory", norm);
	if (!S_ISREG(st.st_mode))
		return fail_with(err, EPERM, "hard link target `%s` is not a regular file", norm);
	archive_entry_set_hardlink(entry, norm);
	return 0;
}

/* An earlier entry may have left a symlink where this one goes: remove it, so
 * nothing is ever written through it. */
static int remove_symlink_at(struct unpack *u, const char *parent, const char *base, cryo_err *err)
{
	cleanup_close int dirfd = pathsafe_open_beneath(u->rootfd, parent, O_PATH | O_DIRECTORY, 0, err);
	if (dirfd < 0) {
		if (dirfd == -ENOENT || dirfd == -ENOTDIR) {
			cryo_error_free(err);
			return 0;
		}
		return dirfd;
	}
	struct stat st;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
	    unlinkat(dirfd, base, 0) < 0)
		return cryo_error_set(err, errno, "replace symlink `%s`", base);
	return 0;
}

static int copy_data(struct unpack *u, cryo_err *err)
{
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int r = archive_read_data_block(u->in, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return cryo_error_set(err, archive_errno(u->in) > 0 ? archive_errno(u->in) : 0,
			                      "read: %s", archive_error_string(u->in));
		if ((r = account_data(u, size, err)) < 0)
			return r;
		if (archive_write_data_block(u->out, buf, size, offset) < ARCHIVE_WARN)
			return cryo_error_set(err, 0, "write: %s", archive_error_string(u->out));
	}
}

static int unpack_entry(struct unpack *u, struct archive_entry *entry, cryo_err *err)
{
	cleanup_free char *rel = NULL, *parent = NULL, *base = NULL;
	const char *raw = archive_entry_pathname(entry);
	int r;

	if (!raw)
		return fail_with(err, EINVAL, "an entry's name cannot be decoded");
	if ((r = pathsafe_normalize(raw, &rel, err)) < 0)
		return r;
	u->res->entries++;
	const struct extract_limits *l = u->opts->limits;
	if (l && u->res->entries > l->max_entries)
		return fail_with(err, EFBIG,
		                 "more than %llu entries, the most this engine unpacks from elsewhere "
		                 "(`import.max_entries`)",
		                 (unsigned long long)l->max_entries);
	if (l && strcmp(rel, ".") != 0 && (r = extract_limits_check_name(l, rel, err)) < 0)
		return r;
	if (strcmp(rel, ".") == 0)
		return record_root(u, entry, err);

	if (u->opts->plain_only && archive_entry_hardlink(entry))
		return fail_with(err, EINVAL, "hard links are not allowed here");
	if (u->opts->plain_only && archive_entry_filetype(entry) != AE_IFREG &&
	    archive_entry_filetype(entry) != AE_IFDIR)
		return fail_with(err, EINVAL, "only regular files and directories are allowed here");

	pathsafe_split(rel, &parent, &base);
	if ((r = pathsafe_check_beneath(u->rootfd, parent, err)) < 0)
		return r;
	if (u->opts->whiteouts && str_has_prefix(base, WHITEOUT_PREFIX))
		return apply_whiteout(u, parent, base, err);
	if ((r = remove_symlink_at(u, parent, base, err)) < 0)
		return r;

	const char *target = archive_entry_hardlink(entry);
	if (target && (r = check_hardlink(u, entry, target, err)) < 0)
		return r;
	filter_xattrs(entry);
	archive_entry_set_pathname(entry, rel);

	if (archive_write_header(u->out, entry) < ARCHIVE_WARN)
		return cryo_error_set(err, archive_errno(u->out) > 0 ? archive_errno(u->out) : 0, "%s",
		                      archive_error_string(u->out));
	if (!target && archive_entry_filetype(entry) == AE_IFREG) {
		if ((r = copy_data(u, err)) < 0)
			return r;
		u->res->size += (uint64_t)archive_entry_size(entry);
	}
	if (archive_write_finish_entry(u->out) < ARCHIVE_WARN)
		return cryo_error_set(err, 0, "%s", archive_error_string(u->out));
	return 0;
}

static int unpack_all(struct unpack *u, const char *archive_path, cryo_err *err)
{
	struct archive_entry *entry;
	for (;;) {
		int r = archive_read_next_header(u->in, &entry);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN) {
			int e = archive_errno(u->in);
			return cryo_error_set(err, 0, "read archive `%s`: %s%s%s", archive_path,
			                      archive_error_string(u->in), e > 0 ? ": " : "",
			                      e > 0 ? strerror(e) : "");
		}
		const char *name = archive_entry_pathname(entry);
		cleanup_free char *shown = xstrdup(name ? name : "?");
		if ((r = unpack_entry(u, entry, err)) < 0)
			return cryo_error_wrap(err, "archive `%s`: entry `%s`", archive_path, shown);
	}
}

int layer_unpack(const char *archive_path, const char *dest, const struct layer_unpack_opts *opts,
                 struct layer_unpack_result *result, cryo_err *err)
{
	static const struct layer_unpack_opts defaults = {0};
	struct layer_unpack_result local_result;
	cleanup_archive_read struct archive *in = NULL;
	cleanup_archive_write struct archive *out = NULL;
	cleanup_close int archive_fd = -1, rootfd = -1;
	_cleanup_(cwd_restore) struct cwd_guard cwd = {.saved = -1};
	struct source *src = NULL;
	int r;

	if (!opts)
		opts = &defaults;
	if (!result)
		result = &local_result;
	memset(result, 0, sizeof(*result));

	archive_fd = open(archive_path, O_RDONLY | O_CLOEXEC);
	if (archive_fd < 0)
		return cryo_error_set(err, errno, "open archive `%s`", archive_path);
	rootfd = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cryo_error_set(err, errno, "open destination `%s`", dest);

	src = xcalloc(1, sizeof(*src));
	src->fd = archive_fd;
	src->digest = digest_new();

	in = archive_read_new();
	out = archive_write_disk_new();
	if (!in || !out)
		oom();
	/* Uncompressed, gzip, zstd or xz, with libarchive's own decoders: never
	 * an external program (lrzip, lzop, grzip...) on an archive from elsewhere. */
	if (archive_read_support_filter_gzip(in) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(in) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(in) != ARCHIVE_OK) {
		r = fail_with(err, ENOTSUP,
		              "unpack `%s`: this libarchive decompresses gzip, zstd or xz only through "
		              "an external program",
		              archive_path);
		goto out;
	}
	archive_read_support_format_tar(in);
	archive_write_disk_set_options(out, extract_flags);
	/* No user/group name lookup: layers carry the container's numeric IDs. */

	struct unpack u = {.in = in, .out = out, .rootfd = rootfd, .opts = opts, .res = result};
	if (opts->limits) {
		struct statvfs vfs;
		if (fstatvfs(rootfd, &vfs) < 0) {
			r = cryo_error_set(err, errno, "free space of `%s`", dest);
			goto out;
		}
		u.space = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	}

	cwd.saved = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd.saved < 0 || fchdir(rootfd) < 0) {
		r = cryo_error_set(err, errno, "enter destination `%s`", dest);
		goto out;
	}
	if (archive_read_open(in, src, NULL, source_read, NULL) != ARCHIVE_OK) {
		r = cryo_error_set(err, 0, "read archive `%s`: %s", archive_path, archive_error_string(in));
		goto out;
	}
	if ((r = unpack_all(&u, archive_path, err)) < 0)
		goto out;
	/* Closing the writer applies the deferred directory permissions and times. */
	if (archive_write_close(out) < ARCHIVE_WARN) {
		r = cryo_error_set(err, 0, "unpack `%s` into `%s`: %s", archive_path, dest,
		                   archive_error_string(out));
		goto out;
	}
	if ((r = apply_root(&u, dest, err)) < 0)
		goto out;
	if (opts->require_entries && result->entries == 0) {
		r = fail_with(err, EINVAL, "archive `%s` has no entries", archive_path);
		goto out;
	}
	if ((r = source_drain(src)) < 0) {
		r = cryo_error_set(err, -r, "read archive `%s`", archive_path);
		goto out;
	}
	digest_final(src->digest, result->digest);
	src->digest = NULL;
	if (opts->expected_digest && strcmp(opts->expected_digest, result->digest) != 0)
		r = fail_with(err, EBADMSG, "archive `%s` has digest sha256:%s, expected sha256:%s",
		              archive_path, result->digest, opts->expected_digest);
out:
	digest_free(src->digest);
	free(src);
	return r;
}
