#include "checkpoint_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "safe_extract.h"
#include "util.h"

/* Data is moved in chunks of this size and the archive file is written in
 * blocks of this size. */
#define CHUNK_SIZE (1 << 20)
#define BLOCK_SIZE (1 << 20)
/* zstd level 1 keeps up with the disk; its worker threads compress while the
 * main thread reads and checksums. */
#define ZSTD_LEVEL "1"
#define ZSTD_MAX_THREADS 4
#define GZIP_LEVEL "1"
/* A manifest of a few thousand entries is a few hundred KiB. */
#define MANIFEST_MAX_SIZE (16 << 20)
#define MANIFEST_NAME "manifest.json"

static const char *const compression_names[] = {
    [CHECKPOINT_COMPRESSION_NONE] = "none",
    [CHECKPOINT_COMPRESSION_GZIP] = "gzip",
    [CHECKPOINT_COMPRESSION_ZSTD] = "zstd",
};

int checkpoint_compression_parse(const char *s, enum checkpoint_compression *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(compression_names); i++) {
		if (s && strcmp(s, compression_names[i]) == 0) {
			*out = (enum checkpoint_compression)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *checkpoint_compression_name(enum checkpoint_compression c)
{
	if ((size_t)c < ARRAY_SIZE(compression_names))
		return compression_names[c];
	return "unknown";
}

/* ---- layout ---- */

enum layout_kind {
	LAYOUT_NONE = 0,
	LAYOUT_DIR = 1 << 0,
	LAYOUT_FILE = 1 << 1,
};

static const char *const layout_files[] = {
    "rootfs-diff.tar", "deleted.files", "config.dump", "spec.dump", "stats-dump.json", MANIFEST_NAME,
};

/* What a (cleaned, relative) name may be in a checkpoint archive. */
static unsigned layout_kind(const char *name)
{
	if (strcmp(name, "checkpoint") == 0 || strcmp(name, "volumes") == 0)
		return LAYOUT_DIR;
	if (str_has_prefix(name, "checkpoint/") && name[strlen("checkpoint/")] != '\0')
		return LAYOUT_DIR | LAYOUT_FILE;
	if (str_has_prefix(name, "volumes/") && str_has_suffix(name, ".tar")) {
		const char *base = name + strlen("volumes/");
		cleanup_free char *volume = xstrndup(base, strlen(base) - strlen(".tar"));
		return name_is_valid(volume) ? LAYOUT_FILE : LAYOUT_NONE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(layout_files); i++)
		if (strcmp(name, layout_files[i]) == 0)
			return LAYOUT_FILE;
	return LAYOUT_NONE;
}

/* libarchive's errno, when it is a system error: format errors come as
 * EILSEQ, whose strerror text would only confuse. */
static int archive_errnum(struct archive *a)
{
	int e = archive_errno(a);
	return e > 0 && e != EILSEQ ? e : 0;
}

static int archive_failure(struct archive *a, cryo_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int archive_failure(struct archive *a, cryo_err *err, const char *fmt, ...)
{
	const char *msg = archive_error_string(a);
	cleanup_free char *what = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		oom();
	va_end(ap);
	return cryo_error_set(err, archive_errnum(a), "%s: %s", what, msg ? msg : "unknown error");
}

/* ---- writing ---- */

struct ckpt_writer {
	struct archive *a;
	struct archive_entry *entry;
	char *buf;
	struct json_object *entries; /* manifest entries */
	struct checkpoint_archive_stats stats;
};

static void ckpt_writer_free(struct ckpt_writer *w)
{
	if (w->a)
		archive_write_free(w->a);
	if (w->entry)
		archive_entry_free(w->entry);
	free(w->buf);
	if (w->entries)
		json_object_put(w->entries);
}

static int set_filter(struct archive *a, enum checkpoint_compression c, cryo_err *err)
{
	int r = ARCHIVE_OK;
	switch (c) {
	case CHECKPOINT_COMPRESSION_NONE:
		r = archive_write_add_filter_none(a);
		break;
	case CHECKPOINT_COMPRESSION_GZIP:
		r = archive_write_add_filter_gzip(a);
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(a, "gzip", "compression-level", GZIP_LEVEL);
		break;
	case CHECKPOINT_COMPRESSION_ZSTD: {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		char threads[16];
		snprintf(threads, sizeof(threads), "%ld",
		         cpus < 1                  ? 1
		         : cpus > ZSTD_MAX_THREADS ? ZSTD_MAX_THREADS
		                                   : cpus);
		r = archive_write_add_filter_zstd(a);
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(a, "zstd", "compression-level", ZSTD_LEVEL);
		/* Multi-threaded compression needs a libzstd built with it; a
		 * single-threaded one refuses the option, which is fine. */
		if (r == ARCHIVE_OK &&
		    archive_write_set_filter_option(a, "zstd", "threads", threads) != ARCHIVE_OK)
			r = ARCHIVE_OK;
		break;
	}
	default:
		return cryo_error_set(err, EINVAL, "unknown compression %d", (int)c);
	}
	if (r != ARCHIVE_OK)
		return archive_failure(a, err, "set up %s compression", checkpoint_compression_name(c));
	return 0;
}

static void entry_header(struct ckpt_writer *w, const char *name, const struct stat *st)
{
	archive_entry_clear(w->entry);
	archive_entry_copy_pathname(w->entry, name);
	archive_entry_set_filetype(w->entry, S_ISDIR(st->st_mode) ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(w->entry, st->st_mode & 0777);
	archive_entry_set_mtime(w->entry, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	archive_entry_set_size(w->entry, S_ISDIR(st->st_mode) ? 0 : st->st_size);
}

static int add_manifest_entry(struct ckpt_writer *w, const char *name, const char *sha, int64_t size)
{
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "sha256", json_object_new_string(sha));
	json_object_object_add(e, "size", json_object_new_int64(size));
	json_object_object_add(w->entries, name, e);
	w->stats.entries++;
	w->stats.bytes_in += (uint64_t)size;
	return 0;
}

static int write_entry_header(struct ckpt_writer *w, const char *name, cryo_err *err)
{
	if (archive_write_header(w->a, w->entry) != ARCHIVE_OK)
		return archive_failure(w->a, err, "write header of `%s`", name);
	return 0;
}

/* Stream one regular file into the archive, checksumming it on the way. */
static int write_file_entry(struct ckpt_writer *w, int dirfd, const char *base, const char *name,
                            cryo_err *err)
{
	cleanup_close int fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "open `%s`", name);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cryo_error_set(err, errno, "stat `%s`", name);
	if (!S_ISREG(st.st_mode))
		return cryo_error_set(err, EINVAL, "`%s` is not a regular file", name);
	entry_header(w, name, &st);
	if (write_entry_header(w, name, err) < 0)
		return -EIO;
	if (st.st_size > CHUNK_SIZE)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	struct digest *d = digest_new();
	off_t left = st.st_size;
	while (left > 0) {
		ssize_t n = read(fd, w->buf, left < CHUNK_SIZE ? (size_t)left : CHUNK_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = n < 0 ? errno : 0;
			digest_free(d);
			if (saved)
				return cryo_error_set(err, saved, "read `%s`", name);
			return cryo_error_set(err, EIO, "`%s` shrank while being archived", name);
		}
		digest_update(d, w->buf, (size_t)n);
		if (archive_write_data(w->a, w->buf, (size_t)n) < 0) {
			digest_free(d);
			return archive_failure(w->a, err, "write data of `%s`", name);
		}
		left -= n;
	}
	char sha[DIGEST_HEX_LEN + 1];
	digest_final(d, sha);
	return add_manifest_entry(w, name, sha, st.st_size);
}

static int write_dir_entry(struct ckpt_writer *w, int fd, const char *name, cryo_err *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cryo_error_set(err, errno, "stat `%s`", name);
	entry_header(w, name, &st);
	return write_entry_header(w, name, err);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int sorted_names(int dirfd, const char *name, char ***out, cryo_err *err)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return cryo_error_set(err, errno, "read directory `%s`", name);
	cleanup_dir DIR *dir = fdopendir(fd);
	if (!dir) {
		int saved = errno;
		close(fd);
		return cryo_error_set(err, saved, "read directory `%s`", name);
	}
	rewinddir(dir);
	cleanup_strv char **names = NULL;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			strv_push(&names, de->d_name);
		errno = 0;
	}
	if (errno)
		return cryo_error_set(err, errno, "read directory `%s`", name);
	size_t n = strv_len(names);
	if (n > 1)
		qsort(names, n, sizeof(char *), compare_names);
	*out = names ? move_ptr(names) : xcalloc(1, sizeof(char *));
	return 0;
}

/* A directory of the layout (checkpoint/ and below, volumes/): its entry,
 * then its contents. */
static int write_tree(struct ckpt_writer *w, int parentfd, const char *base, const char *name, cryo_err *err)
{
	cleanup_close int fd = openat(parentfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "open directory `%s`", name);
	if (write_dir_entry(w, fd, name, err) < 0)
		return -EIO;
	cleanup_strv char **names = NULL;
	if (sorted_names(fd, name, &names, err) < 0)
		return -EIO;
	for (size_t i = 0; names[i]; i++) {
		cleanup_free char *child = xasprintf("%s/%s", name, names[i]);
		unsigned kind = layout_kind(child);
		struct stat st;
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			return cryo_error_set(err, errno, "stat `%s`", child);
		if (S_ISDIR(st.st_mode) && (kind & LAYOUT_DIR)) {
			if (write_tree(w, fd, names[i], child, err) < 0)
				return -EIO;
		} else if (S_ISREG(st.st_mode) && (kind & LAYOUT_FILE)) {
			if (write_file_entry(w, fd, names[i], child, err) < 0)
				return -EIO;
		} else {
			return cryo_error_set(err, EINVAL, "`%s` does not belong in a checkpoint archive",
			                      child);
		}
	}
	return 0;
}

static int write_manifest(struct ckpt_writer *w, cryo_err *err)
{
	struct json_object *m = json_object_new_object();
	json_object_object_add(m, "format", json_object_new_string(CHECKPOINT_ARCHIVE_FORMAT));
	json_object_object_add(m, "version", json_object_new_int(CHECKPOINT_ARCHIVE_VERSION));
	json_object_object_add(m, "entries", json_object_get(w->entries));
	cleanup_free char *text =
	    xasprintf("%s\n", json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN));
	json_object_put(m);

	size_t len = strlen(text);
	struct stat st = {.st_mode = S_IFREG | 0600, .st_size = (off_t)len};
	clock_gettime(CLOCK_REALTIME, &st.st_mtim);
	entry_header(w, MANIFEST_NAME, &st);
	if (write_entry_header(w, MANIFEST_NAME, err) < 0)
		return -EIO;
	if (archive_write_data(w->a, text, len) < 0)
		return archive_failure(w->a, err, "write data of `%s`", MANIFEST_NAME);
	w->stats.entries++;
	w->stats.bytes_in += len;
	return 0;
}

static int write_contents(struct ckpt_writer *w, const char *dir, cryo_err *err)
{
	cleanup_close int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return cryo_error_set(err, errno, "open checkpoint directory `%s`", dir);
	cleanup_strv char **names = NULL;
	if (sorted_names(dirfd, dir, &names, err) < 0)
		return -EIO;
	for (size_t i = 0; names[i]; i++) {
		const char *name = names[i];
		if (strcmp(name, MANIFEST_NAME) == 0)
			continue; /* from an earlier extraction: written anew, last */
		unsigned kind = layout_kind(name);
		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return cryo_error_set(err, errno, "stat `%s`", name);
		if (S_ISDIR(st.st_mode) && (kind & LAYOUT_DIR)) {
			if (write_tree(w, dirfd, name, name, err) < 0)
				return -EIO;
		} else if (S_ISREG(st.st_mode) && (kind & LAYOUT_FILE)) {
			if (write_file_entry(w, dirfd, name, name, err) < 0)
				return -EIO;
		} else {
			return cryo_error_set(err, EINVAL, "`%s` does not belong in a checkpoint archive",
			                      name);
		}
	}
	return write_manifest(w, err);
}

/* The archive's output: plain writes, with writeback started every
 * WRITEBACK_CHUNK bytes so that the disk works while the compressor does and
 * the final fsync only has the tail left to flush. */
#define WRITEBACK_CHUNK (8 << 20)

struct archive_sink {
	int fd;
	off_t written, writeback_started;
};

static la_ssize_t sink_write(struct archive *a, void *data, const void *buf, size_t len)
{
	struct archive_sink *sink = data;
	const char *p = buf;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(sink->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "write");
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	sink->written += (off_t)len;
	if (sink->written - sink->writeback_started >= WRITEBACK_CHUNK) {
		/* Best effort: a file system without it just flushes at fsync. */
		sync_file_range(sink->fd, sink->writeback_started, sink->written - sink->writeback_started,
				SYNC_FILE_RANGE_WRITE);
		sink->writeback_started = sink->written;
	}
	return (la_ssize_t)len;
}

static int fsync_parent(const char *path, cryo_err *err)
{
	cleanup_free char *copy = xstrdup(path);
	cleanup_close int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return cryo_error_set(err, errno, "sync directory of `%s`", path);
	return 0;
}

char *checkpoint_archive_temp_prefix(const char *target)
{
	cleanup_free char *dir_copy = xstrdup(target);
	cleanup_free char *base_copy = xstrdup(target);
	return xasprintf("%s/.%s.tmp-", dirname(dir_copy), basename(base_copy));
}

int checkpoint_archive_write(const char *dir, const char *target, enum checkpoint_compression c,
                             struct checkpoint_archive_stats *stats, cryo_err *err)
{
	int64_t start = now_monotonic_us();
	_cleanup_(ckpt_writer_free) struct ckpt_writer w = {0};
	cleanup_free char *prefix = checkpoint_archive_temp_prefix(target);
	cleanup_free char *tmp = xasprintf("%sXXXXXX", prefix);

	/* mkostemp: O_CREAT | O_EXCL, mode 0600. */
	cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "write checkpoint archive `%s`: create temporary file `%s`",
		                      target, tmp);
	int r = fchmod(fd, 0600) < 0 ? cryo_error_set(err, errno, "chmod temporary file") : 0;

	w.a = archive_write_new();
	w.entry = archive_entry_new();
	w.entries = json_object_new_object();
	w.buf = xmalloc(CHUNK_SIZE);
	if (!w.a || !w.entry || !w.entries)
		oom();
	if (r == 0 && (archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
	               archive_write_set_bytes_per_block(w.a, BLOCK_SIZE) != ARCHIVE_OK ||
	               archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK))
		r = archive_failure(w.a, err, "set up tar writer for `%s`", target);
	if (r == 0)
		r = set_filter(w.a, c, err);
	struct archive_sink sink = {.fd = fd};
	if (r == 0 && archive_write_open(w.a, &sink, NULL, sink_write, NULL) != ARCHIVE_OK)
		r = archive_failure(w.a, err, "open `%s`", tmp);
	if (r == 0)
		r = write_contents(&w, dir, err);
	if (r == 0 && archive_write_close(w.a) != ARCHIVE_OK)
		r = archive_failure(w.a, err, "finish `%s`", tmp);
	struct stat st = {0};
	if (r == 0 && (fsync(fd) < 0 || fstat(fd, &st) < 0))
		r = cryo_error_set(err, errno, "write `%s`", tmp);
	if (r == 0 && close(move_fd(fd)) < 0)
		r = cryo_error_set(err, errno, "write `%s`", tmp);
	if (r == 0 && rename(tmp, target) < 0)
		r = cryo_error_set(err, errno, "rename `%s` to `%s`", tmp, target);
	if (r < 0) {
		unlink(tmp);
		return cryo_error_wrap(err, "write checkpoint archive `%s` from `%s`", target, dir);
	}
	if (fsync_parent(target, err) < 0)
		return cryo_error_wrap(err, "write checkpoint archive `%s`", target);

	w.stats.bytes_out = (uint64_t)st.st_size;
	w.stats.duration_us = now_monotonic_us() - start;
	if (stats)
		*stats = w.stats;
	return 0;
}

/* ---- reading ---- */

struct ckpt_reader {
	struct archive *in;
	int destfd;
	char *buf;
	struct json_object *seen; /* name -> {"sha256", "size"} of each file read */
	struct json_object *manifest;
	char *prev; /* name of the previous entry, for errors */
};

static void ckpt_reader_free(struct ckpt_reader *r)
{
	if (r->in)
		archive_read_free(r->in);
	closep(&r->destfd);
	free(r->buf);
	if (r->seen)
		json_object_put(r->seen);
	if (r->manifest)
		json_object_put(r->manifest);
	free(r->prev);
}

/* Open the parent directory of rel below destfd, creating missing ones
 * (0700); symbolic links are never followed. */
static int open_parent(int destfd, const char *rel, cryo_err *err)
{
	cleanup_free char *copy = xstrdup(rel);
	int cur = fcntl(destfd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return cryo_error_set(err, errno, "duplicate descriptor");
	char *p = copy;
	for (char *slash; (slash = strchr(p, '/')); p = slash + 1) {
		*slash = '\0';
		if (mkdirat(cur, p, 0700) < 0 && errno != EEXIST) {
			int saved = errno;
			close(cur);
			return cryo_error_set(err, saved, "create directory `%s`", copy);
		}
		int next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int saved = errno;
		close(cur);
		if (next < 0)
			return cryo_error_set(err, saved, "open directory `%s`", copy);
		cur = next;
		*slash = '/';
	}
	return cur;
}

static const char *base_name(const char *rel)
{
	const char *slash = strrchr(rel, '/');
	return slash ? slash + 1 : rel;
}

static int read_dir_entry(struct ckpt_reader *r, const char *name, cryo_err *err)
{
	cleanup_close int parent = open_parent(r->destfd, name, err);
	if (parent < 0)
		return parent;
	if (mkdirat(parent, base_name(name), 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return cryo_error_set(err, errno, "create directory");
	struct stat st;
	if (fstatat(parent, base_name(name), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return cryo_error_set(err, EEXIST,
		                      "create directory: a file of that name was extracted before");
	return 0; /* created as the parent of an earlier entry */
}

/* Copy an entry's data to a new file, returning its digest; the manifest
 * itself is also kept in memory. */
static int read_file_entry(struct ckpt_reader *r, const char *name, struct archive_entry *entry,
                           cryo_err *err)
{
	if (json_object_object_get_ex(r->seen, name, NULL))
		return cryo_error_set(err, EEXIST, "appears twice");
	cleanup_close int parent = open_parent(r->destfd, name, err);
	if (parent < 0)
		return parent;
	cleanup_close int fd =
	    openat(parent, base_name(name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cryo_error_set(err, errno, "create file");

	bool is_manifest = strcmp(name, MANIFEST_NAME) == 0;
	int64_t size = archive_entry_size(entry);
	if (size < 0 || size > SAFE_EXTRACT_MAX_ENTRY_SIZE)
		return cryo_error_set(err, EFBIG, "implausible size %lld", (long long)size);
	if (is_manifest && size > MANIFEST_MAX_SIZE)
		return cryo_error_set(err, EFBIG, "manifest of %lld bytes is implausibly large",
		                      (long long)size);
	cleanup_free char *manifest_text = is_manifest ? xmalloc((size_t)size + 1) : NULL;

	struct digest *d = digest_new();
	int64_t total = 0;
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t offset;
		int ar = archive_read_data_block(r->in, &buf, &len, &offset);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK) {
			digest_free(d);
			return archive_failure(r->in, err, "%s", "read data (archive truncated or corrupt)");
		}
		if (offset != total) {
			digest_free(d);
			return cryo_error_set(err, EINVAL, "sparse entries are not part of the format");
		}
		if (total + (int64_t)len > size) {
			digest_free(d);
			return cryo_error_set(err, EINVAL, "more data than its header announces");
		}
		digest_update(d, buf, len);
		if (manifest_text)
			memcpy(manifest_text + total, buf, len);
		for (const char *p = buf; len > 0;) {
			ssize_t n = write(fd, p, len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				int saved = errno;
				digest_free(d);
				return cryo_error_set(err, saved, "write file");
			}
			p += n;
			len -= (size_t)n;
			total += n;
		}
	}
	char sha[DIGEST_HEX_LEN + 1];
	digest_final(d, sha);
	if (total != size)
		return cryo_error_set(err, EIO, "%lld of %lld bytes (archive truncated)", (long long)total,
		                      (long long)size);

	if (is_manifest) {
		manifest_text[total] = '\0';
		enum json_tokener_error jerr;
		r->manifest = json_tokener_parse_verbose(manifest_text, &jerr);
		if (!r->manifest)
			return cryo_error_set(err, EINVAL, "not valid JSON: %s",
			                      json_tokener_error_desc(jerr));
		return 0;
	}
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "sha256", json_object_new_string(sha));
	json_object_object_add(e, "size", json_object_new_int64(size));
	json_object_object_add(r->seen, name, e);
	return 0;
}

static int read_entry(struct ckpt_reader *r, struct archive_entry *entry, cryo_err *err)
{
	const char *raw = archive_entry_pathname(entry);
	const char *why = NULL;
	cleanup_free char *name = safe_extract_clean_name(raw, &why);
	if (!name)
		return cryo_error_set(err, EPERM, "entry `%s`: %s", raw ? raw : "", why);
	if (r->manifest)
		return cryo_error_set(err, EINVAL, "entry `%s`: follows the manifest, which must come last",
		                      name);

	unsigned kind = layout_kind(name);
	mode_t type = archive_entry_filetype(entry);
	int rc;
	if (kind == LAYOUT_NONE)
		return cryo_error_set(err, EINVAL, "entry `%s`: not part of a checkpoint archive", name);
	if (archive_entry_hardlink(entry))
		return cryo_error_set(err, EINVAL,
		                      "entry `%s`: hard links are not allowed in a checkpoint archive", name);
	if (type == AE_IFDIR && (kind & LAYOUT_DIR))
		rc = read_dir_entry(r, name, err);
	else if (type == AE_IFREG && (kind & LAYOUT_FILE))
		rc = read_file_entry(r, name, entry, err);
	else if (type == AE_IFLNK)
		return cryo_error_set(
		    err, EINVAL, "entry `%s`: symbolic links are not allowed in a checkpoint archive", name);
	else
		return cryo_error_set(err, EINVAL, "entry `%s`: a %s is not allowed here", name,
		                      type == AE_IFDIR   ? "directory"
		                      : type == AE_IFREG ? "regular file"
		                                         : "special file");
	if (rc < 0)
		return cryo_error_wrap(err, "entry `%s`", name);
	free(r->prev);
	r->prev = move_ptr(name);
	return 0;
}

static int verify_manifest(struct ckpt_reader *r, cryo_err *err)
{
	struct json_object *format, *version, *entries;
	if (!json_object_object_get_ex(r->manifest, "format", &format) ||
	    !json_object_is_type(format, json_type_string) ||
	    strcmp(json_object_get_string(format), CHECKPOINT_ARCHIVE_FORMAT) != 0)
		return cryo_error_set(err, EINVAL, "manifest: not a `%s` archive", CHECKPOINT_ARCHIVE_FORMAT);
	if (!json_object_object_get_ex(r->manifest, "version", &version) ||
	    !json_object_is_type(version, json_type_int) ||
	    json_object_get_int64(version) != CHECKPOINT_ARCHIVE_VERSION)
		return cryo_error_set(
		    err, EINVAL, "manifest: unsupported format version %s (this cryo reads version %d)",
		    version ? json_object_to_json_string(version) : "(none)", CHECKPOINT_ARCHIVE_VERSION);
	if (!json_object_object_get_ex(r->manifest, "entries", &entries) ||
	    !json_object_is_type(entries, json_type_object))
		return cryo_error_set(err, EINVAL, "manifest: no `entries` object");

	json_object_object_foreach (r->seen, name, got) {
		struct json_object *want, *want_sha, *want_size, *got_sha, *got_size;
		if (!json_object_object_get_ex(entries, name, &want))
			return cryo_error_set(
			    err, EINVAL, "entry `%s`: not listed in the manifest (archive tampered)", name);
		json_object_object_get_ex(got, "sha256", &got_sha);
		json_object_object_get_ex(got, "size", &got_size);
		if (!json_object_object_get_ex(want, "sha256", &want_sha) ||
		    !json_object_is_type(want_sha, json_type_string) ||
		    !json_object_object_get_ex(want, "size", &want_size) ||
		    !json_object_is_type(want_size, json_type_int))
			return cryo_error_set(err, EINVAL, "manifest: entry `%s`: no sha256 and size", name);
		if (json_object_get_int64(want_size) != json_object_get_int64(got_size))
			return cryo_error_set(
			    err, EINVAL,
			    "entry `%s`: size %lld, the manifest says %lld (archive corrupted or "
			    "tampered)",
			    name, (long long)json_object_get_int64(got_size),
			    (long long)json_object_get_int64(want_size));
		if (strcmp(json_object_get_string(want_sha), json_object_get_string(got_sha)) != 0)
			return cryo_error_set(err, EINVAL,
			                      "entry `%s`: checksum mismatch (archive corrupted or tampered)",
			                      name);
	}
	json_object_object_foreach (entries, listed, unused) {
		(void)unused;
		if (!json_object_object_get_ex(r->seen, listed, NULL))
			return cryo_error_set(
			    err, EINVAL, "entry `%s`: listed in the manifest but missing from the archive",
			    listed);
	}
	return 0;
}

static int read_all(struct ckpt_reader *r, cryo_err *err)
{
	for (;;) {
		struct archive_entry *entry;
		int ar = archive_read_next_header(r->in, &entry);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK) {
			if (r->prev)
				return archive_failure(
				    r->in, err, "read the entry after `%s` (archive truncated or corrupt)",
				    r->prev);
			return archive_failure(r->in, err, "%s",
			                       "read the first entry (not a checkpoint archive?)");
		}
		if (read_entry(r, entry, err) < 0)
			return -EIO;
	}
	if (!r->manifest)
		return cryo_error_set(err, EINVAL,
		                      "no `%s` at the end (archive truncated or not a cryo checkpoint)",
		                      MANIFEST_NAME);
	return verify_manifest(r, err);
}

/* Remove what an aborted extraction left, keeping dest_dir itself. */
static void empty_directory(const char *dest_dir)
{
	cleanup_dir DIR *dir = opendir(dest_dir);
	if (!dir)
		return;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		cleanup_free char *path = xasprintf("%s/%s", dest_dir, de->d_name);
		rm_rf(path, NULL);
	}
}

int checkpoint_archive_read(const char *archive_path, const char *dest_dir, cryo_err *err)
{
	_cleanup_(ckpt_reader_free) struct ckpt_reader r = {.destfd = -1};
	int rc = 0;

	r.destfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r.destfd < 0)
		return cryo_error_set(err, errno, "checkpoint archive `%s`: open destination `%s`",
		                      archive_path, dest_dir);
	r.in = archive_read_new();
	r.seen = json_object_new_object();
	if (!r.in || !r.seen)
		oom();
	archive_read_support_format_tar(r.in);
	archive_read_support_filter_gzip(r.in);
	archive_read_support_filter_zstd(r.in);
	if (archive_read_open_filename(r.in, archive_path, BLOCK_SIZE) != ARCHIVE_OK)
		rc = archive_failure(r.in, err, "%s",
		                     archive_errno(r.in) == EILSEQ ? "not a checkpoint archive" : "open");
	else
		rc = read_all(&r, err);
	if (rc < 0) {
		empty_directory(dest_dir);
		return cryo_error_wrap(err, "checkpoint archive `%s`", archive_path);
	}
	return 0;
}
