#include "safe_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "util.h"

#define READ_BLOCK_SIZE (1 << 20)
#define TRUSTED_XATTR_PREFIX "trusted."

void extract_limits_from_config(const struct cryo_config *cfg, struct extract_limits *out)
{
	out->max_total_size = config_uint(cfg, "import.max_total_size");
	out->max_entries = config_uint(cfg, "import.max_entries");
	out->max_path_depth = config_uint(cfg, "import.max_path_depth");
	out->max_name_length = config_uint(cfg, "import.max_name_length");
}

int extract_limits_check_name(const struct extract_limits *limits, const char *name, cryo_err *err)
{
	size_t len = strlen(name);
	if (len > limits->max_name_length)
		return cryo_error_plain(err, ENAMETOOLONG,
		                        "name of %zu bytes, longer than the %llu this engine accepts "
		                        "(`import.max_name_length`)",
		                        len, (unsigned long long)limits->max_name_length);
	uint64_t depth = 0;
	for (const char *p = name; *p;) {
		const char *end = strchrnul(p, '/');
		if (end - p > NAME_MAX)
			return cryo_error_plain(err, ENAMETOOLONG, "a component longer than %d bytes",
			                        NAME_MAX);
		if (end > p)
			depth++;
		p = *end ? end + 1 : end;
	}
	if (depth > limits->max_path_depth)
		return cryo_error_plain(err, ELOOP,
		                        "%llu levels deep, deeper than the %llu this engine accepts "
		                        "(`import.max_path_depth`)",
		                        (unsigned long long)depth,
		                        (unsigned long long)limits->max_path_depth);
	return 0;
}

/* libarchive's errno, when it is a system error: format errors come as
 * EILSEQ, whose strerror text would only confuse. */
static int archive_errnum(struct archive *a)
{
	int e = archive_errno(a);
	return e > 0 && e != EILSEQ ? e : 0;
}

char *safe_extract_clean_name(const char *name, const char **why)
{
	if (name == NULL || name[0] == '\0') {
		*why = "empty name";
		return NULL;
	}
	if (name[0] == '/') {
		*why = "absolute path";
		return NULL;
	}
	size_t len = strlen(name);
	char *out = xmalloc(len + 1);
	size_t n = 0;
	const char *p = name;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t clen = (size_t)(end - p);
		if (clen == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			*why = "`..` path component";
			return NULL;
		}
		if (clen > 0 && !(clen == 1 && p[0] == '.')) {
			if (n > 0)
				out[n++] = '/';
			memcpy(out + n, p, clen);
			n += clen;
		}
		p = *end ? end + 1 : end;
	}
	out[n] = '\0';
	return out;
}

enum walk_result {
	WALK_OK,           /* every component checked is a real directory */
	WALK_MISSING,      /* a component does not exist (yet) */
	WALK_NOT_DIR,      /* a component is neither a directory nor a symlink */
	WALK_SYMLINK,      /* a component is a symbolic link */
	WALK_LAST_DIR,     /* (with check_last) the last component is a directory */
	WALK_LAST_SPECIAL, /* (with check_last) the last component is not a regular file */
};

/* Walk rel below rootfd without following anything. With check_last the last
 * component is examined too (it must exist and be a regular file: a hard link
 * target); otherwise only the parents are. *where gets the prefix of rel at
 * which the walk stopped. */
static int walk_beneath(int rootfd, const char *rel, bool check_last, char **where, cryo_err *err)
{
	cleanup_free char *copy = xstrdup(rel);
	cleanup_close int cur = -1;
	char *p = copy;

	for (;;) {
		char *slash = strchr(p, '/');
		bool last = slash == NULL;
		if (last && !check_last)
			return WALK_OK;
		if (slash)
			*slash = '\0';
		int fd = openat(cur >= 0 ? cur : rootfd, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT) {
				*where = xstrdup(copy);
				return WALK_MISSING;
			}
			return cryo_error_set(err, errno, "open `%s`", copy);
		}
		closep(&cur);
		cur = fd;
		struct stat st;
		if (fstat(cur, &st) < 0)
			return cryo_error_set(err, errno, "stat `%s`", copy);
		if (S_ISLNK(st.st_mode)) {
			*where = xstrdup(copy);
			return WALK_SYMLINK;
		}
		if (last) {
			if (S_ISDIR(st.st_mode)) {
				*where = xstrdup(copy);
				return WALK_LAST_DIR;
			}
			if (!S_ISREG(st.st_mode)) {
				*where = xstrdup(copy);
				return WALK_LAST_SPECIAL;
			}
			return WALK_OK;
		}
		if (!S_ISDIR(st.st_mode)) {
			*where = xstrdup(copy);
			return WALK_NOT_DIR;
		}
		*slash = '/';
		p = slash + 1;
	}
}

struct extract {
	const char *tar_path;
	const char *dest_dir;
	unsigned flags;
	struct archive *in;
	struct archive *out;
	int destfd;
	int saved_cwd;
	bool in_dest;
	/* Parent directory of the previous entry, known to contain no symlink;
	 * forgotten whenever the archive creates a symlink or a hard link. */
	char *checked_parent;
	/* Times of the "." entry: libarchive sets an existing directory's times
	 * at once, and extracting its contents changes them again. */
	bool root_times_set;
	struct timespec root_times[2];
	struct extract_limits limits;
	uint64_t entries, total_size;
};

/* The disk writer applies deferred directory permissions and times, by
 * relative name, when it is closed: that must happen while the working
 * directory is still dest_dir, so it is freed before the directory changes
 * back. */
static int extract_leave(struct extract *x, cryo_err *err)
{
	if (x->out) {
		archive_write_free(x->out);
		x->out = NULL;
	}
	if (x->in_dest) {
		x->in_dest = false;
		if (fchdir(x->saved_cwd) < 0)
			return cryo_error_set(err, errno, "return to the previous working directory");
	}
	return 0;
}

static void extract_cleanup(struct extract *x)
{
	extract_leave(x, NULL);
	if (x->in)
		archive_read_free(x->in);
	closep(&x->destfd);
	closep(&x->saved_cwd);
	free(x->checked_parent);
}

/* Extended attributes in the trusted namespace steer the kernel (overlayfs
 * reads trusted.overlay.*): only the engine sets them, never an archive. */
static void drop_trusted_xattrs(struct archive_entry *entry)
{
	const char *name;
	const void *value;
	size_t size;
	bool found = false;

	archive_entry_xattr_reset(entry);
	while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK)
		found = found || str_has_prefix(name, TRUSTED_XATTR_PREFIX);
	if (!found)
		return;
	struct archive_entry *kept = archive_entry_new();
	if (!kept)
		oom();
	archive_entry_xattr_reset(entry);
	while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK)
		if (!str_has_prefix(name, TRUSTED_XATTR_PREFIX))
			archive_entry_xattr_add_entry(kept, name, value, size);
	archive_entry_xattr_clear(entry);
	archive_entry_xattr_reset(kept);
	while (archive_entry_xattr_next(kept, &name, &value, &size) == ARCHIVE_OK)
		archive_entry_xattr_add_entry(entry, name, value, size);
	archive_entry_free(kept);
}

/* The archive as a whole stays within the limits. */
static int check_limits(struct extract *x, struct archive_entry *entry, const char *shown, cryo_err *err)
{
	if (++x->entries > x->limits.max_entries)
		return cryo_error_plain(err, EFBIG,
		                        "entry `%s`: more than the %llu entries this engine accepts "
		                        "(`import.max_entries`)",
		                        shown, (unsigned long long)x->limits.max_entries);
	if (extract_limits_check_name(&x->limits, shown, err) < 0)
		return cryo_error_wrap(err, "entry `%s`", shown);
	if (archive_entry_filetype(entry) == AE_IFREG && !archive_entry_hardlink(entry) &&
	    archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0) {
		uint64_t size = (uint64_t)archive_entry_size(entry);
		if (size > x->limits.max_total_size || x->total_size > x->limits.max_total_size - size)
			return cryo_error_plain(
			    err, EFBIG,
			    "entry `%s`: the files add up to more than the %llu bytes this "
			    "engine accepts (`import.max_total_size`)",
			    shown, (unsigned long long)x->limits.max_total_size);
		x->total_size += size;
	}
	return 0;
}

static int check_entry(struct extract *x, struct archive_entry *entry, cryo_err *err)
{
	const char *raw = archive_entry_pathname(entry);
	const char *why = NULL;
	cleanup_free char *name = safe_extract_clean_name(raw, &why);
	if (!name)
		return cryo_error_set(err, EPERM, "entry `%s`: %s", raw ? raw : "", why);
	const char *shown = name[0] ? name : ".";

	mode_t type = archive_entry_filetype(entry);
	const char *hardlink = archive_entry_hardlink(entry);
	switch (type) {
	case AE_IFREG:
	case AE_IFDIR:
	case AE_IFLNK:
	case AE_IFIFO:
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		if (x->flags & SAFE_EXTRACT_NO_DEVICES)
			return cryo_error_set(err, EPERM, "entry `%s`: device nodes are not allowed here",
			                      shown);
		break;
	default:
		if (!hardlink)
			return cryo_error_set(err, EPERM, "entry `%s`: unsupported file type 0%o", shown,
			                      (unsigned)type);
	}
	if (name[0] == '\0' && (type != AE_IFDIR || hardlink))
		return cryo_error_set(err, EPERM, "entry `.`: the root entry must be a directory");
	if (name[0] == '\0' && archive_entry_mtime_is_set(entry)) {
		x->root_times_set = true;
		x->root_times[0].tv_nsec = UTIME_OMIT;
		if (archive_entry_atime_is_set(entry))
			x->root_times[0] =
			    (struct timespec){archive_entry_atime(entry), archive_entry_atime_nsec(entry)};
		x->root_times[1] =
		    (struct timespec){archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
	}
	if (archive_entry_size_is_set(entry) &&
	    (archive_entry_size(entry) < 0 || archive_entry_size(entry) > SAFE_EXTRACT_MAX_ENTRY_SIZE))
		return cryo_error_set(err, EFBIG, "entry `%s`: implausible size %lld", shown,
		                      (long long)archive_entry_size(entry));
	if (check_limits(x, entry, shown, err) < 0)
		return cryo_error_code(*err);

	/* Parents: no symbolic link on the way. */
	char *slash = strrchr(name, '/');
	cleanup_free char *parent = slash ? xstrndup(name, (size_t)(slash - name)) : NULL;
	if (parent && !(x->checked_parent && strcmp(x->checked_parent, parent) == 0)) {
		cleanup_free char *where = NULL;
		int r = walk_beneath(x->destfd, name, false, &where, err);
		if (r < 0)
			return cryo_error_wrap(err, "entry `%s`", shown);
		if (r == WALK_SYMLINK)
			return cryo_error_set(err, EPERM, "entry `%s`: path goes through symbolic link `%s`",
			                      shown, where);
		free(x->checked_parent);
		x->checked_parent = r == WALK_OK ? xstrdup(parent) : NULL;
	}

	if (hardlink) {
		cleanup_free char *target = safe_extract_clean_name(hardlink, &why);
		if (!target)
			return cryo_error_set(err, EPERM, "entry `%s`: hard link target `%s`: %s", shown,
			                      hardlink, why);
		if (target[0] == '\0')
			return cryo_error_set(err, EPERM, "entry `%s`: hard link to the root directory",
			                      shown);
		if (archive_entry_size_is_set(entry) && archive_entry_size(entry) != 0)
			return cryo_error_plain(err, EPERM,
			                        "entry `%s`: a hard link entry carries %lld bytes of data",
			                        shown, (long long)archive_entry_size(entry));
		cleanup_free char *where = NULL;
		int r = walk_beneath(x->destfd, target, true, &where, err);
		if (r < 0)
			return cryo_error_wrap(err, "entry `%s`: hard link target `%s`", shown, target);
		switch (r) {
		case WALK_SYMLINK:
			if (strcmp(where, target) != 0)
				return cryo_error_set(
				    err, EPERM,
				    "entry `%s`: hard link target `%s` goes through symbolic link `%s`",
				    shown, target, where);
			/* libarchive may set a link's mode and times by name: through a
			 * symbolic link, that reaches whatever it points at. */
			return cryo_error_plain(
			    err, EPERM,
			    "entry `%s`: hard link target `%s` is a symbolic link (only regular "
			    "files may be hard-linked)",
			    shown, target);
		case WALK_LAST_SPECIAL:
			return cryo_error_plain(err, EPERM,
			                        "entry `%s`: hard link target `%s` is not a regular file",
			                        shown, target);
		case WALK_MISSING:
		case WALK_NOT_DIR:
			return cryo_error_set(err, ENOENT,
			                      "entry `%s`: hard link target `%s` is not in the archive",
			                      shown, target);
		case WALK_LAST_DIR:
			return cryo_error_set(err, EPERM, "entry `%s`: hard link target `%s` is a directory",
			                      shown, target);
		}
		archive_entry_copy_hardlink(entry, target);
		free(x->checked_parent);
		x->checked_parent = NULL;
	}
	if (type == AE_IFLNK) {
		free(x->checked_parent);
		x->checked_parent = NULL;
	}
	drop_trusted_xattrs(entry);
	archive_entry_copy_pathname(entry, name[0] ? name : ".");
	return 0;
}

static int copy_entry_data(struct extract *x, const char *name, cryo_err *err)
{
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t offset;
		int r = archive_read_data_block(x->in, &buf, &len, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK)
			return cryo_error_set(err, archive_errnum(x->in), "entry `%s`: read data: %s", name,
			                      archive_error_string(x->in));
		if (archive_write_data_block(x->out, buf, len, offset) != ARCHIVE_OK)
			return cryo_error_set(err, archive_errnum(x->out), "entry `%s`: write data: %s", name,
			                      archive_error_string(x->out));
	}
}

static int extract_all(struct extract *x, cryo_err *err)
{
	cleanup_free char *prev = NULL;
	for (;;) {
		struct archive_entry *entry;
		int r = archive_read_next_header(x->in, &entry);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK) {
			const char *msg = archive_error_string(x->in);
			if (prev)
				return cryo_error_set(
				    err, 0, "read the entry after `%s`: %s (truncated or corrupt archive?)",
				    prev, msg ? msg : "unknown error");
			return cryo_error_set(err, 0,
			                      "read the first entry: %s (not a tar archive, or corrupt?)",
			                      msg ? msg : "unknown error");
		}
		if (check_entry(x, entry, err) < 0)
			return cryo_error_code(*err);
		free(prev);
		prev = xstrdup(archive_entry_pathname(entry));

		if (archive_write_header(x->out, entry) != ARCHIVE_OK)
			return cryo_error_set(err, archive_errnum(x->out), "entry `%s`: %s", prev,
			                      archive_error_string(x->out));
		if (archive_entry_size(entry) > 0 && copy_entry_data(x, prev, err) < 0)
			return cryo_error_code(*err);
		if (archive_write_finish_entry(x->out) != ARCHIVE_OK)
			return cryo_error_set(err, archive_errnum(x->out), "entry `%s`: %s", prev,
			                      archive_error_string(x->out));
	}
}

int safe_extract_tar(const char *tar_path, const char *dest_dir, unsigned flags, cryo_err *err)
{
	return safe_extract_tar_limited(tar_path, dest_dir, flags, NULL, err);
}

int safe_extract_tar_limited(const char *tar_path, const char *dest_dir, unsigned flags,
                             const struct extract_limits *limits, cryo_err *err)
{
	_cleanup_(extract_cleanup) struct extract x = {
	    .tar_path = tar_path,
	    .dest_dir = dest_dir,
	    .flags = flags,
	    .destfd = -1,
	    .saved_cwd = -1,
	};
	if (limits)
		x.limits = *limits;
	else
		extract_limits_from_config(NULL, &x.limits);

	x.destfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x.destfd < 0)
		return cryo_error_set(err, errno, "extract `%s`: open destination `%s`", tar_path, dest_dir);
	x.saved_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (x.saved_cwd < 0)
		return cryo_error_set(err, errno, "extract `%s`: open the current working directory",
		                      tar_path);

	x.in = archive_read_new();
	if (!x.in)
		oom();
	archive_read_support_format_tar(x.in);
	/* libarchive's own decoders only: never an external program. */
	if (archive_read_support_filter_gzip(x.in) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(x.in) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(x.in) != ARCHIVE_OK)
		return cryo_error_set(err, ENOTSUP,
		                      "extract `%s`: this libarchive decompresses gzip, zstd or xz only "
		                      "through an external program",
		                      tar_path);
	if (archive_read_open_filename(x.in, tar_path, READ_BLOCK_SIZE) != ARCHIVE_OK)
		return cryo_error_set(err, archive_errnum(x.in), "extract `%s`: %s", tar_path,
		                      archive_error_string(x.in));

	x.out = archive_write_disk_new();
	if (!x.out)
		oom();
	int disk_flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
	                 ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	                 ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
	if (!(flags & SAFE_EXTRACT_NO_OWNER))
		disk_flags |= ARCHIVE_EXTRACT_OWNER;
	archive_write_disk_set_options(x.out, disk_flags);

	if (fchdir(x.destfd) < 0)
		return cryo_error_set(err, errno, "extract `%s`: enter `%s`", tar_path, dest_dir);
	x.in_dest = true;

	if (extract_all(&x, err) < 0)
		return cryo_error_wrap(err, "extract `%s` into `%s`", tar_path, dest_dir);
	if (archive_write_close(x.out) != ARCHIVE_OK)
		return cryo_error_set(err, archive_errnum(x.out),
		                      "extract `%s` into `%s`: finish directories: %s", tar_path, dest_dir,
		                      archive_error_string(x.out));
	if (x.root_times_set && futimens(x.destfd, x.root_times) < 0)
		return cryo_error_set(err, errno, "extract `%s`: set the times of `%s`", tar_path, dest_dir);
	if (extract_leave(&x, err) < 0)
		return cryo_error_wrap(err, "extract `%s`", tar_path);
	return 0;
}
