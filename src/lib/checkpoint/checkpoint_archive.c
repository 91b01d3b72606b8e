#include "checkpoint_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <time.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "digest.h"
#include "safe_extract.h"
#include "util.h"
#include "test_hooks.h"

/* Data is moved in chunks of this size and the archive file is written in
 * blocks of this size. */
#define CHUNK_SIZE (1 << 20)
/* A framed stream (CHECKPOINT_ARCHIVE_FRAMED): frames of at most FRAME_MAX
 * bytes, each after its length (FRAME_HEADER_LEN bytes, big-endian); a frame
 * of length 0 ends it. */
#define FRAME_HEADER_LEN 4
#define FRAME_MAX (1U << 20)
#define BLOCK_SIZE (1 << 20)
/* zstd level 1 keeps up with the disk; its worker threads compress while the
 * main thread reads and checksums. */
#define ZSTD_LEVEL "1"
#define ZSTD_MAX_THREADS 4
#define GZIP_LEVEL "1"
/* The index and the manifest may take this many bytes per entry the limits
 * allow (names are short: "checkpoint/pages-1.img"), plus a little; the
 * signature is small. */
#define JSON_BYTES_PER_ENTRY 512
#define JSON_MIN_BOUND (64 << 10)
#define JSON_MAX_BOUND ((size_t)INT_MAX - 1)
#define JSON_MAX_DEPTH 8
#define SIGNATURE_MAX_SIZE 4096
#define INDEX_NAME "index.json"
#define MANIFEST_NAME "manifest.json"
#define SIGNATURE_NAME "manifest.sig"

static const char *const compression_names[] = {
    [CHECKPOINT_COMPRESSION_NONE] = "none",
    [CHECKPOINT_COMPRESSION_GZIP] = "gzip",
    [CHECKPOINT_COMPRESSION_ZSTD] = "zstd",
};

int checkpoint_compression_parse_level(const char *s, enum checkpoint_compression *out, int *level)
{
	*level = 0;
	if (s && str_has_prefix(s, "zstd:")) {
		const char *n = s + strlen("zstd:");
		char *end;
		long v = strtol(n, &end, 10);
		if (!*n || *end || v < 1 || v > CHECKPOINT_ZSTD_MAX_LEVEL)
			return -EINVAL;
		*out = CHECKPOINT_COMPRESSION_ZSTD;
		*level = (int)v;
		return 0;
	}
	return checkpoint_compression_parse(s, out);
}

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
    "rootfs-diff.tar", "deleted.files", "config.dump", "spec.dump",    "stats-dump.json",
    "stats-dump",      INDEX_NAME,      MANIFEST_NAME, SIGNATURE_NAME,
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

/* One entry of the archive, planned before anything is written so that the
 * index can come first. */
struct planned {
	char *name;
	bool dir;
	int64_t size;
};

struct ckpt_writer {
	struct archive *a;
	struct archive_entry *entry;
	char *buf;
	int rootfd;
	const struct checkpoint_archive_source *sources;
	size_t n_sources;
	struct planned *plan;
	size_t n_plan;
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
	closep(&w->rootfd);
	for (size_t i = 0; i < w->n_plan; i++)
		free(w->plan[i].name);
	free(w->plan);
	if (w->entries)
		json_object_put(w->entries);
}

static int set_filter(struct archive *a, enum checkpoint_compression c, int level, cryo_err *err)
{
	int r = ARCHIVE_OK;
	char level_text[16];
	snprintf(level_text, sizeof(level_text), "%d", level);
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
			r = archive_write_set_filter_option(a, "zstd", "compression-level",
			                                    level > 0 ? level_text : ZSTD_LEVEL);
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

static void add_manifest_entry(struct ckpt_writer *w, const char *name, const char *sha, int64_t size)
{
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "sha256", json_object_new_string(sha));
	json_object_object_add(e, "size", json_object_new_int64(size));
	json_object_object_add(w->entries, name, e);
	w->stats.entries++;
	w->stats.bytes_in += (uint64_t)size;
}

static int write_entry_header(struct ckpt_writer *w, const char *name, cryo_err *err)
{
	if (archive_write_header(w->a, w->entry) != ARCHIVE_OK)
		return archive_failure(w->a, err, "write header of `%s`", name);
	return 0;
}

/* A file the writer makes itself (index, manifest, signature). */
static int write_generated(struct ckpt_writer *w, const char *name, const char *text, bool in_manifest,
                           cryo_err *err)
{
	size_t len = strlen(text);
	struct stat st = {.st_mode = S_IFREG | 0600, .st_size = (off_t)len};
	clock_gettime(CLOCK_REALTIME, &st.st_mtim);
	entry_header(w, name, &st);
	if (write_entry_header(w, name, err) < 0)
		return -EIO;
	if (archive_write_data(w->a, text, len) < 0)
		return archive_failure(w->a, err, "write data of `%s`", name);
	if (in_manifest) {
		char sha[DIGEST_HEX_LEN + 1];
		digest_buffer(text, len, sha);
		add_manifest_entry(w, name, sha, (int64_t)len);
	} else {
		w->stats.entries++;
		w->stats.bytes_in += len;
	}
	return 0;
}

static const struct checkpoint_archive_source *find_source(const struct ckpt_writer *w, const char *name)
{
	for (size_t i = 0; i < w->n_sources; i++)
		if (strcmp(w->sources[i].name, name) == 0)
			return &w->sources[i];
	return NULL;
}

struct source_emit {
	struct ckpt_writer *w;
	struct digest *d;
	const char *name;
	int64_t written;
};

static int source_emit(void *ctx, const void *buf, size_t len, cryo_err *err)
{
	struct source_emit *e = ctx;
	digest_update(e->d, buf, len);
	if (archive_write_data(e->w->a, buf, len) < 0)
		return archive_failure(e->w->a, err, "write data of `%s`", e->name);
	e->written += (int64_t)len;
	return 0;
}

/* A file made while it is archived (checkpoint_archive_source): its
 * empty stand-in file's mode and times, the source's data, exactly the size
 * announced. */
static int write_source_entry(struct ckpt_writer *w, const struct checkpoint_archive_source *src,
                              struct stat *st, cryo_err *err)
{
	const char *name = src->name;
	st->st_size = src->size;
	entry_header(w, name, st);
	if (write_entry_header(w, name, err) < 0)
		return -EIO;
	struct source_emit e = {.w = w, .d = digest_new(), .name = name};
	int r = src->write(src->data, source_emit, &e, err);
	if (r == 0 && e.written != src->size)
		r = cryo_error_set(err, EIO, "`%s` came to %lld bytes instead of the %lld announced", name,
		                   (long long)e.written, (long long)src->size);
	char sha[DIGEST_HEX_LEN + 1];
	digest_final(e.d, sha);
	if (r < 0)
		return r;
	add_manifest_entry(w, name, sha, src->size);
	return 0;
}

/* Stream one planned regular file into the archive, checksumming it on the
 * way; it must still have the size the index announced. */
static int write_file_entry(struct ckpt_writer *w, const struct planned *p, cryo_err *err)
{
	const char *name = p->name;
	cleanup_close int fd = openat(w->rootfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "open `%s`", name);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cryo_error_set(err, errno, "stat `%s`", name);
	if (!S_ISREG(st.st_mode))
		return cryo_error_set(err, EINVAL, "`%s` is not a regular file", name);
	const struct checkpoint_archive_source *src = find_source(w, name);
	if (src)
		return write_source_entry(w, src, &st, err);
	if (st.st_size != p->size)
		return cryo_error_set(err, EIO, "`%s` changed size while being archived", name);
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
	add_manifest_entry(w, name, sha, st.st_size);
	return 0;
}

static int write_dir_entry(struct ckpt_writer *w, const struct planned *p, cryo_err *err)
{
	struct stat st;
	if (fstatat(w->rootfd, p->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cryo_error_set(err, errno, "stat `%s`", p->name);
	if (!S_ISDIR(st.st_mode))
		return cryo_error_set(err, EINVAL, "`%s` is no longer a directory", p->name);
	entry_header(w, p->name, &st);
	return write_entry_header(w, p->name, err);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of directory dirfd (name: for messages), sorted; NULL (err
 * set) when it cannot be read. */
static char **sorted_names(int dirfd, const char *name, cryo_err *err)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		cryo_error_set(err, errno, "read directory `%s`", name);
		return NULL;
	}
	cleanup_dir DIR *dir = fdopendir(fd);
	if (!dir) {
		int saved = errno;
		close(fd);
		cryo_error_set(err, saved, "read directory `%s`", name);
		return NULL;
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
	if (errno) {
		cryo_error_set(err, errno, "read directory `%s`", name);
		return NULL;
	}
	size_t n = strv_len(names);
	if (names && n > 1)
		qsort(names, n, sizeof(char *), compare_names);
	return names ? move_ptr(names) : xcalloc(1, sizeof(char *));
}

static bool is_generated(const char *name)
{
	return strcmp(name, INDEX_NAME) == 0 || strcmp(name, MANIFEST_NAME) == 0 ||
	       strcmp(name, SIGNATURE_NAME) == 0;
}

static void plan_push(struct ckpt_writer *w, const char *name, bool dir, int64_t size)
{
	w->plan = xrealloc(w->plan, (w->n_plan + 1) * sizeof(*w->plan));
	w->plan[w->n_plan++] = (struct planned){xstrdup(name), dir, size};
}

/* The entries below the directory fd (named prefix, "" for the top), in
 * order: a directory's entry, then its contents. */
static int plan_tree(struct ckpt_writer *w, int fd, const char *prefix, cryo_err *err)
{
	cleanup_strv char **names = sorted_names(fd, prefix[0] ? prefix : ".", err);
	if (!names)
		return -EIO;
	for (size_t i = 0; names[i]; i++) {
		cleanup_free char *child =
		    prefix[0] ? xasprintf("%s/%s", prefix, names[i]) : xstrdup(names[i]);
		if (!prefix[0] && is_generated(child))
			continue; /* from an earlier extraction: written anew */
		unsigned kind = layout_kind(child);
		struct stat st;
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			return cryo_error_set(err, errno, "stat `%s`", child);
		if (S_ISDIR(st.st_mode) && (kind & LAYOUT_DIR)) {
			plan_push(w, child, true, 0);
			cleanup_close int sub =
			    openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return cryo_error_set(err, errno, "open directory `%s`", child);
			if (plan_tree(w, sub, child, err) < 0)
				return -EIO;
		} else if (S_ISREG(st.st_mode) && (kind & LAYOUT_FILE)) {
			const struct checkpoint_archive_source *src = find_source(w, child);
			plan_push(w, child, false, src ? src->size : st.st_size);
		} else {
			return cryo_error_set(err, EINVAL, "`%s` does not belong in a checkpoint archive",
			                      child);
		}
	}
	return 0;
}

static char *index_text(const struct ckpt_writer *w)
{
	struct json_object *list = json_object_new_array();
	int64_t total = 0;
	for (size_t i = 0; i < w->n_plan; i++) {
		const struct planned *p = &w->plan[i];
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(p->name));
		json_object_object_add(e, "type", json_object_new_string(p->dir ? "directory" : "file"));
		if (!p->dir) {
			json_object_object_add(e, "size", json_object_new_int64(p->size));
			total += p->size;
		}
		json_object_array_add(list, e);
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "format", json_object_new_string(CHECKPOINT_ARCHIVE_FORMAT));
	json_object_object_add(o, "version", json_object_new_int(CHECKPOINT_ARCHIVE_VERSION));
	json_object_object_add(o, "total_size", json_object_new_int64(total));
	json_object_object_add(o, "entries", list);
	char *text = xasprintf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

static char *signature_text(const struct signing_key *key, const char *manifest, cryo_err *err)
{
	unsigned char pub[TRUST_KEY_LEN], sig[TRUST_SIG_LEN];
	if (signing_key_sign(key, manifest, strlen(manifest), sig, err) < 0)
		return NULL;
	signing_key_public(key, pub);
	cleanup_free char *pub64 = trust_base64(pub, sizeof(pub));
	cleanup_free char *sig64 = trust_base64(sig, sizeof(sig));
	return xasprintf("{\"algorithm\":\"" TRUST_SIG_ALGORITHM
	                 "\",\"public_key\":\"%s\",\"signature\":\"%s\"}\n",
	                 pub64, sig64);
}

static int write_manifest(struct ckpt_writer *w, const struct signing_key *key, cryo_err *err)
{
	struct json_object *m = json_object_new_object();
	json_object_object_add(m, "format", json_object_new_string(CHECKPOINT_ARCHIVE_FORMAT));
	json_object_object_add(m, "version", json_object_new_int(CHECKPOINT_ARCHIVE_VERSION));
	json_object_object_add(m, "entries", json_object_get(w->entries));
	cleanup_free char *text =
	    xasprintf("%s\n", json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN |
	                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(m);
	if (write_generated(w, MANIFEST_NAME, text, false, err) < 0)
		return -EIO;
	if (!key)
		return 0;
	cleanup_free char *sig = signature_text(key, text, err);
	if (!sig)
		return cryo_error_wrap(err, "sign `%s`", MANIFEST_NAME);
	return write_generated(w, SIGNATURE_NAME, sig, false, err);
}

static int write_contents(struct ckpt_writer *w, const char *dir, const struct signing_key *key,
                          cryo_err *err)
{
	w->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->rootfd < 0)
		return cryo_error_set(err, errno, "open checkpoint directory `%s`", dir);
	if (plan_tree(w, w->rootfd, "", err) < 0)
		return -EIO;
	cleanup_free char *index = index_text(w);
	if (write_generated(w, INDEX_NAME, index, true, err) < 0)
		return -EIO;
	for (size_t i = 0; i < w->n_plan; i++) {
		const struct planned *p = &w->plan[i];
		if ((p->dir ? write_dir_entry(w, p, err) : write_file_entry(w, p, err)) < 0)
			return -EIO;
	}
	return write_manifest(w, key, err);
}

/* The archive's output: plain writes, with writeback started every
 * WRITEBACK_CHUNK bytes so that the disk works while the compressor does and
 * the final fsync only has the tail left to flush. */
#define WRITEBACK_CHUNK (8 << 20)

struct archive_sink {
	int fd;
	bool writeback; /* a file: start its writeback as it grows */
	bool framed;    /* CHECKPOINT_ARCHIVE_FRAMED: each write is a frame */
	off_t written, writeback_started;
};

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A frame's header: its length, 4 bytes big-endian. */
static void frame_header(unsigned char h[FRAME_HEADER_LEN], uint32_t len)
{
	h[0] = (unsigned char)(len >> 24);
	h[1] = (unsigned char)(len >> 16);
	h[2] = (unsigned char)(len >> 8);
	h[3] = (unsigned char)len;
}

static la_ssize_t sink_write(struct archive *a, void *data, const void *buf, size_t len)
{
	struct archive_sink *sink = data;
	const char *p = buf;
	size_t left = len;
	while (left > 0) {
		size_t n = left;
		int r;
		if (sink->framed) {
			unsigned char h[FRAME_HEADER_LEN];
			n = left < FRAME_MAX ? left : FRAME_MAX;
			frame_header(h, (uint32_t)n);
			if ((r = write_full(sink->fd, h, sizeof(h))) < 0) {
				archive_set_error(a, -r, "write");
				return -1;
			}
			sink->written += FRAME_HEADER_LEN;
		}
		if ((r = write_full(sink->fd, p, n)) < 0) {
			archive_set_error(a, -r, "write");
			return -1;
		}
		p += n;
		left -= n;
	}
	sink->written += (off_t)len;
	if (sink->writeback && sink->written - sink->writeback_started >= WRITEBACK_CHUNK) {
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

/* The tar writer over sink, around write_contents(); what: the output's
 * name for messages. */
static int write_archive(struct ckpt_writer *w, struct archive_sink *sink, const char *what, const char *dir,
                         enum checkpoint_compression c, int level, const struct signing_key *key,
                         const struct checkpoint_archive_source *sources, size_t n_sources, cryo_err *err)
{
	int r = 0;
	w->sources = sources;
	w->n_sources = n_sources;
	w->a = archive_write_new();
	w->entry = archive_entry_new();
	w->entries = json_object_new_object();
	w->buf = xmalloc(CHUNK_SIZE);
	if (!w->a || !w->entry || !w->entries)
		oom();
	if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(w->a, BLOCK_SIZE) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK)
		r = archive_failure(w->a, err, "set up tar writer for `%s`", what);
	if (r == 0)
		r = set_filter(w->a, c, level, err);
	if (r == 0 && archive_write_open(w->a, sink, NULL, sink_write, NULL) != ARCHIVE_OK)
		r = archive_failure(w->a, err, "open `%s`", what);
	if (r == 0)
		r = write_contents(w, dir, key, err);
	if (r == 0 && archive_write_close(w->a) != ARCHIVE_OK)
		r = archive_failure(w->a, err, "finish `%s`", what);
	return r;
}

int checkpoint_archive_write(const char *dir, const char *target, enum checkpoint_compression c,
                             const struct signing_key *key, struct checkpoint_archive_stats *stats,
                             cryo_err *err)
{
	return checkpoint_archive_write_sources(dir, target, c, key, 0, NULL, 0, stats, err);
}

int checkpoint_archive_write_sources(const char *dir, const char *target, enum checkpoint_compression c,
                                     const struct signing_key *key, unsigned flags,
                                     const struct checkpoint_archive_source *sources, size_t n_sources,
                                     struct checkpoint_archive_stats *stats, cryo_err *err)
{
	bool sync = !(flags & CHECKPOINT_ARCHIVE_NO_SYNC);
	int64_t start = now_monotonic_us();
	_cleanup_(ckpt_writer_free) struct ckpt_writer w = {.rootfd = -1};
	cleanup_free char *prefix = checkpoint_archive_temp_prefix(target);
	cleanup_free char *tmp = xasprintf("%sXXXXXX", prefix);

	/* mkostemp: O_CREAT | O_EXCL, mode 0600. */
	cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "write checkpoint archive `%s`: create temporary file `%s`",
		                      target, tmp);
	int r = fchmod(fd, 0600) < 0 ? cryo_error_set(err, errno, "chmod temporary file") : 0;
	struct archive_sink sink = {.fd = fd, .writeback = sync};
	if (r == 0)
		r = write_archive(&w, &sink, tmp, dir, c, 0, key, sources, n_sources, err);
	struct stat st = {0};
	if (r == 0 && ((sync && fsync(fd) < 0) || fstat(fd, &st) < 0))
		r = cryo_error_set(err, errno, "write `%s`", tmp);
	if (r == 0 && close(move_fd(fd)) < 0)
		r = cryo_error_set(err, errno, "write `%s`", tmp);
	if (r == 0 && rename(tmp, target) < 0)
		r = cryo_error_set(err, errno, "rename `%s` to `%s`", tmp, target);
	if (r < 0) {
		unlink(tmp);
		return cryo_error_wrap(err, "write checkpoint archive `%s` from `%s`", target, dir);
	}
	if (sync && fsync_parent(target, err) < 0)
		return cryo_error_wrap(err, "write checkpoint archive `%s`", target);

	w.stats.bytes_out = (uint64_t)st.st_size;
	w.stats.duration_us = now_monotonic_us() - start;
	if (stats)
		*stats = w.stats;
	return 0;
}

int checkpoint_archive_write_fd(const char *dir, int fd, const char *what, enum checkpoint_compression c,
                                int level, const struct signing_key *key,
                                struct checkpoint_archive_stats *stats, cryo_err *err)
{
	return checkpoint_archive_write_fd_flags(dir, fd, what, c, level, key, 0, stats, err);
}

int checkpoint_archive_write_fd_flags(const char *dir, int fd, const char *what,
                                      enum checkpoint_compression c, int level, const struct signing_key *key,
                                      unsigned flags, struct checkpoint_archive_stats *stats, cryo_err *err)
{
	return checkpoint_archive_write_fd_sources(dir, fd, what, c, level, key, flags, NULL, 0, stats, err);
}

int checkpoint_archive_write_fd_sources(const char *dir, int fd, const char *what,
                                        enum checkpoint_compression c, int level,
                                        const struct signing_key *key, unsigned flags,
                                        const struct checkpoint_archive_source *sources, size_t n_sources,
                                        struct checkpoint_archive_stats *stats, cryo_err *err)
{
	int64_t start = now_monotonic_us();
	_cleanup_(ckpt_writer_free) struct ckpt_writer w = {.rootfd = -1};
	struct archive_sink sink = {.fd = fd, .framed = flags & CHECKPOINT_ARCHIVE_FRAMED};
	int r = write_archive(&w, &sink, what, dir, c, level, key, sources, n_sources, err);
	if (r == 0 && sink.framed) {
		/* The end: an empty frame. */
		unsigned char h[FRAME_HEADER_LEN];
		frame_header(h, 0);
		if ((r = write_full(fd, h, sizeof(h))) < 0)
			r = cryo_error_set(err, -r, "write the end of the stream");
		sink.written += FRAME_HEADER_LEN;
	}
	if (r < 0)
		return cryo_error_wrap(err, "write checkpoint archive to %s from `%s`", what, dir);
	w.stats.bytes_out = (uint64_t)sink.written;
	w.stats.duration_us = now_monotonic_us() - start;
	if (stats)
		*stats = w.stats;
	return 0;
}

/* ---- reading ---- */

struct ckpt_reader {
	struct archive *in;
	int destfd;
	const struct checkpoint_archive_read_opts *opts;
	struct extract_limits limits;
	size_t json_max;           /* bound of the index and the manifest */
	struct json_object *index; /* name -> {"directory": bool, "size": N, "seen": bool} */
	struct json_object *seen;  /* name -> {"sha256", "size"} of each regular file read */
	char *manifest_text;
	size_t manifest_len;
	struct json_object *manifest;
	char *sig_text;
	size_t entries_read;
	bool podman;           /* reading a Podman export (accept_podman) */
	uint64_t podman_total; /* its bytes of file data so far */
	char *prev;            /* name of the previous entry, for errors */
	struct checkpoint_archive_info info;
};

static void ckpt_reader_free(struct ckpt_reader *r)
{
	if (r->in)
		archive_read_free(r->in);
	closep(&r->destfd);
	if (r->index)
		json_object_put(r->index);
	if (r->seen)
		json_object_put(r->seen);
	free(r->manifest_text);
	if (r->manifest)
		json_object_put(r->manifest);
	free(r->sig_text);
	free(r->prev);
}

/* Parse JSON that must fill the text exactly (nothing but space after it). */
static struct json_object *parse_json(const char *text, size_t len, const char **why)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok)
		oom();
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o) {
		*why = jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr);
		return NULL;
	}
	for (; end < len; end++)
		if (!strchr(" \t\r\n", text[end])) {
			json_object_put(o);
			*why = "text after the JSON value";
			return NULL;
		}
	return o;
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

/* Stream an entry's data, at most `size` bytes (the header's, which the
 * caller has held to the index), into fd (-1: none) and/or mem, hashing it;
 * *got gets the bytes read. */
static int copy_data(struct ckpt_reader *r, int64_t size, int fd, char *mem, char sha[DIGEST_HEX_LEN + 1],
                     int64_t *got, cryo_err *err)
{
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
			return cryo_error_plain(err, EINVAL, "sparse entries are not part of the format");
		}
		/* The first byte past the announced size stops the entry. */
		if ((uint64_t)len > (uint64_t)(size - total)) {
			digest_free(d);
			return cryo_error_plain(err, EFBIG, "more data than the %lld bytes announced",
			                        (long long)size);
		}
		digest_update(d, buf, len);
		if (mem)
			memcpy(mem + total, buf, len);
		const char *p = buf;
		for (size_t left = len; fd >= 0 && left > 0;) {
			ssize_t n = write(fd, p, left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				int saved = errno;
				digest_free(d);
				return cryo_error_set(err, saved, "write file");
			}
			p += n;
			left -= (size_t)n;
		}
		total += (int64_t)len;
	}
	digest_final(d, sha);
	*got = total;
	if (total != size)
		return cryo_error_plain(err, EIO, "%lld of %lld bytes (archive truncated)", (long long)total,
		                        (long long)size);
	return 0;
}

static void record_file(struct ckpt_reader *r, const char *name, const char *sha, int64_t size)
{
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "sha256", json_object_new_string(sha));
	json_object_object_add(e, "size", json_object_new_int64(size));
	json_object_object_add(r->seen, name, e);
}

/* One of the generated files (index, manifest, signature), kept in memory. */
static int read_generated(struct ckpt_reader *r, const char *name, struct archive_entry *entry, size_t max,
                          char **text, size_t *len, cryo_err *err)
{
	if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry))
		return cryo_error_plain(err, EINVAL, "must be a regular file");
	int64_t size = archive_entry_size(entry);
	if (size < 0 || (uint64_t)size > max)
		return cryo_error_plain(err, EFBIG, "%lld bytes is more than the %zu allowed",
		                        (long long)size, max);
	cleanup_free char *buf = xmalloc((size_t)size + 1);
	char sha[DIGEST_HEX_LEN + 1];
	int64_t got;
	int rc = copy_data(r, size, -1, buf, sha, &got, err);
	if (rc < 0)
		return rc;
	buf[size] = '\0';
	if (strcmp(name, INDEX_NAME) == 0)
		record_file(r, name, sha, size);
	*len = (size_t)size;
	*text = move_ptr(buf);
	return 0;
}

/* ---- the index ---- */

static bool json_get(struct json_object *o, const char *key, enum json_type type, struct json_object **out)
{
	return json_object_object_get_ex(o, key, out) && json_object_is_type(*out, type);
}

static int check_header(struct json_object *o, const char *what, cryo_err *err)
{
	struct json_object *format, *version;
	if (!json_object_is_type(o, json_type_object) || !json_get(o, "format", json_type_string, &format) ||
	    strcmp(json_object_get_string(format), CHECKPOINT_ARCHIVE_FORMAT) != 0)
		return cryo_error_plain(err, EINVAL, "%s: not a `%s` archive", what,
		                        CHECKPOINT_ARCHIVE_FORMAT);
	if (!json_get(o, "version", json_type_int, &version) ||
	    json_object_get_int64(version) != CHECKPOINT_ARCHIVE_VERSION)
		return cryo_error_plain(
		    err, EINVAL, "%s: unsupported format version %s (this cryo reads version %d)", what,
		    json_object_object_get_ex(o, "version", &version) ? json_object_to_json_string(version)
		                                                      : "(none)",
		    CHECKPOINT_ARCHIVE_VERSION);
	return 0;
}

static int check_index_entry(struct ckpt_reader *r, struct json_object *e, size_t i, uint64_t *total,
                             uint64_t *unpacked, cryo_err *err)
{
	struct json_object *jname, *jtype, *jsize;
	if (!json_object_is_type(e, json_type_object) || !json_get(e, "name", json_type_string, &jname) ||
	    !json_get(e, "type", json_type_string, &jtype))
		return cryo_error_plain(err, EINVAL, "index: entry %zu has no name and type", i + 1);
	const char *name = json_object_get_string(jname), *type = json_object_get_string(jtype), *why = NULL;
	cleanup_free char *clean = safe_extract_clean_name(name, &why);
	if (!clean || strcmp(clean, name) != 0 || strlen(name) != (size_t)json_object_get_string_len(jname))
		return cryo_error_plain(err, EPERM, "index: entry `%s`: %s", name,
		                        clean ? "not a clean relative name" : why);
	int rc = extract_limits_check_name(&r->limits, name, err);
	if (rc < 0)
		return cryo_error_wrap(err, "index: entry `%s`", name);
	bool dir = strcmp(type, "directory") == 0;
	if (!dir && strcmp(type, "file") != 0)
		return cryo_error_plain(err, EINVAL, "index: entry `%s`: unknown type `%s`", name, type);
	unsigned kind = layout_kind(name);
	if (is_generated(name) || !(kind & (dir ? LAYOUT_DIR : LAYOUT_FILE)))
		return cryo_error_plain(
		    err, EINVAL, "index: entry `%s`: not part of a checkpoint archive (as a %s)", name, type);
	if (json_object_object_get_ex(r->index, name, NULL))
		return cryo_error_plain(err, EINVAL, "index: entry `%s` is listed twice", name);
	int64_t size = 0;
	if (!dir) {
		if (!json_get(e, "size", json_type_int, &jsize) || json_object_get_int64(jsize) < 0)
			return cryo_error_plain(err, EINVAL, "index: entry `%s` has no valid size", name);
		size = json_object_get_int64(jsize);
		if ((uint64_t)size > r->limits.max_total_size ||
		    *total > r->limits.max_total_size - (uint64_t)size)
			return cryo_error_plain(
			    err, EFBIG,
			    "index: the files add up to more than this engine accepts (%llu bytes, "
			    "`import.max_total_size` in the engine configuration)",
			    (unsigned long long)r->limits.max_total_size);
		*total += (uint64_t)size;
		/* The root file system diff and volume tars are unpacked once more. */
		if (strcmp(name, "rootfs-diff.tar") == 0 || str_has_prefix(name, "volumes/"))
			*unpacked += (uint64_t)size;
	}
	struct json_object *info = json_object_new_object();
	json_object_object_add(info, "directory", json_object_new_boolean(dir));
	json_object_object_add(info, "size", json_object_new_int64(size));
	json_object_object_add(info, "seen", json_object_new_boolean(false));
	json_object_object_add(r->index, name, info);
	return 0;
}

/* Everything that can be known before extracting: the limits, and whether
 * it all fits on the engine's file system. */
static int read_index(struct ckpt_reader *r, struct archive_entry *entry, cryo_err *err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	const char *why = NULL;
	struct json_object *list, *jtotal;
	int rc = read_generated(r, INDEX_NAME, entry, r->json_max, &text, &len, err);
	if (rc < 0)
		return rc;
	struct json_object *o = parse_json(text, len, &why);
	if (!o)
		return cryo_error_plain(err, EINVAL, "index: not valid JSON: %s", why);
	rc = check_header(o, "index", err);
	if (rc == 0 && (!json_get(o, "entries", json_type_array, &list) ||
	                !json_get(o, "total_size", json_type_int, &jtotal)))
		rc = cryo_error_plain(err, EINVAL, "index: no `entries` array and `total_size`");
	size_t n = rc == 0 ? json_object_array_length(list) : 0;
	if (rc == 0 && n > r->limits.max_entries)
		rc = cryo_error_plain(
		    err, EFBIG,
		    "index: %zu entries, more than the %llu this engine accepts (`import.max_entries` in "
		    "the engine configuration)",
		    n, (unsigned long long)r->limits.max_entries);
	uint64_t total = 0, unpacked = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = check_index_entry(r, json_object_array_get_idx(list, i), i, &total, &unpacked, err);
	if (rc == 0 && json_object_get_int64(jtotal) != (int64_t)total)
		rc = cryo_error_plain(err, EINVAL,
		                      "index: `total_size` is %lld but the entries add up to %llu",
		                      (long long)json_object_get_int64(jtotal), (unsigned long long)total);
	json_object_put(o);
	if (rc < 0)
		return rc;
	r->info.total_size = total;

	struct statvfs vfs;
	if (fstatvfs(r->destfd, &vfs) < 0)
		return cryo_error_set(err, errno, "free space of the destination");
	uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	uint64_t needed = total + unpacked;
	if (needed < total || needed > avail)
		return cryo_error_plain(
		    err, ENOSPC,
		    "needs %llu bytes (%llu of files, %llu more once the root file system and volumes "
		    "are unpacked), but the engine's file system has only %llu bytes free",
		    (unsigned long long)needed, (unsigned long long)total, (unsigned long long)unpacked,
		    (unsigned long long)avail);
	/* Test switch: stall here, inside the transfer, for a test to kill us. */
	const char *stall = test_hook_getenv(CHECKPOINT_ARCHIVE_TEST_STALL_MS);
	if (stall && atoi(stall) > 0) {
		struct timespec ts = {atoi(stall) / 1000, (long)(atoi(stall) % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* A regular file or directory of the layout, held to its index entry. */
static int read_listed(struct ckpt_reader *r, const char *name, struct archive_entry *entry, cryo_err *err)
{
	struct json_object *info, *v;
	if (!json_object_object_get_ex(r->index, name, &info))
		return cryo_error_plain(err, EINVAL, "not listed in the archive's index (archive tampered)");
	json_object_object_get_ex(info, "seen", &v);
	if (json_object_get_boolean(v))
		return cryo_error_plain(err, EEXIST, "appears twice");
	json_object_object_add(info, "seen", json_object_new_boolean(true));
	json_object_object_get_ex(info, "directory", &v);
	bool dir = json_object_get_boolean(v);
	json_object_object_get_ex(info, "size", &v);
	int64_t want = json_object_get_int64(v);
	mode_t type = archive_entry_filetype(entry);
	if (type != (dir ? AE_IFDIR : AE_IFREG))
		return cryo_error_plain(err, EINVAL, "the index says it is a %s, the archive has a %s",
		                        dir ? "directory" : "regular file",
		                        type == AE_IFDIR   ? "directory"
		                        : type == AE_IFREG ? "regular file"
		                                           : "special file");
	if (dir)
		return read_dir_entry(r, name, err);

	int64_t size = archive_entry_size(entry);
	if (size != want)
		return cryo_error_plain(err, EFBIG,
		                        "its header says %lld bytes, the index %lld (archive tampered)",
		                        (long long)size, (long long)want);
	cleanup_close int parent = open_parent(r->destfd, name, err);
	if (parent < 0)
		return parent;
	cleanup_close int fd =
	    openat(parent, base_name(name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cryo_error_set(err, errno, "create file");
	char sha[DIGEST_HEX_LEN + 1];
	int64_t got = 0;
	int rc = copy_data(r, size, fd, NULL, sha, &got, err);
	if (rc < 0)
		return rc;
	record_file(r, name, sha, size);
	return 0;
}

/* The names Podman's --export archives begin with (it writes no index). */
static bool looks_like_podman(const char *name)
{
	static const char *const podman_first[] = {"artifacts",      "config.dump",           "spec.dump",
	                                           "network.status", "devshm-checkpoint.tar", "checkpoint",
	                                           "rootfs-diff.tar"};
	for (size_t i = 0; i < ARRAY_SIZE(podman_first); i++)
		if (strcmp(name, podman_first[i]) == 0)
			return true;
	return false;
}

/* Is name part of Podman's export layout, as a directory or a file? */
static bool podman_layout_has(const char *name, bool dir)
{
	static const char *const dirs[] = {"artifacts", "checkpoint", "volumes"};
	static const char *const files[] = {"config.dump",     "spec.dump",     "network.status",
	                                    "rootfs-diff.tar", "deleted.files", "devshm-checkpoint.tar",
	                                    "stats-dump",      "ctr.log"};
	for (size_t i = 0; dir && i < ARRAY_SIZE(dirs); i++)
		if (strcmp(name, dirs[i]) == 0)
			return true;
	for (size_t i = 0; !dir && i < ARRAY_SIZE(files); i++)
		if (strcmp(name, files[i]) == 0)
			return true;
	const char *slash = strchr(name, '/');
	if (dir || !slash || strchr(slash + 1, '/') || !slash[1])
		return false;
	if (str_has_prefix(name, "checkpoint/"))
		return true;
	return str_has_prefix(name, "volumes/") && str_has_suffix(name, ".tar") && strlen(slash + 1) > 4;
}

/* One entry of a Podman export: in its layout, within the limits (Podman
 * writes no index: sizes are held to each header, the running total and the
 * free space). */
static int read_podman_entry(struct ckpt_reader *r, const char *name, struct archive_entry *entry,
                             cryo_err *err)
{
	bool dir = archive_entry_filetype(entry) == AE_IFDIR;
	if (r->entries_read > r->limits.max_entries)
		return cryo_error_plain(
		    err, EFBIG,
		    "more than the %llu entries this engine accepts (`import.max_entries` in the engine "
		    "configuration)",
		    (unsigned long long)r->limits.max_entries);
	int rc = extract_limits_check_name(&r->limits, name, err);
	if (rc < 0)
		return rc;
	if (!podman_layout_has(name, dir))
		return cryo_error_plain(err, EINVAL, "not part of a Podman checkpoint export (as a %s)",
		                        dir ? "directory" : "file");
	if (dir)
		return read_dir_entry(r, name, err);
	int64_t size = archive_entry_size(entry);
	if (size < 0 || (uint64_t)size > r->limits.max_total_size ||
	    r->podman_total > r->limits.max_total_size - (uint64_t)size)
		return cryo_error_plain(err, EFBIG,
		                        "the files add up to more than this engine accepts (%llu bytes, "
		                        "`import.max_total_size` in the engine configuration)",
		                        (unsigned long long)r->limits.max_total_size);
	r->podman_total += (uint64_t)size;
	struct statvfs vfs;
	if (fstatvfs(r->destfd, &vfs) < 0)
		return cryo_error_set(err, errno, "free space of the destination");
	if ((uint64_t)size > (uint64_t)vfs.f_bavail * vfs.f_frsize)
		return cryo_error_plain(
		    err, ENOSPC, "needs %lld bytes, but the engine's file system has only %llu free",
		    (long long)size, (unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize));
	cleanup_close int parent = open_parent(r->destfd, name, err);
	if (parent < 0)
		return parent;
	cleanup_close int fd =
	    openat(parent, base_name(name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cryo_error_set(err, errno, errno == EEXIST ? "appears twice" : "create file");
	char sha[DIGEST_HEX_LEN + 1];
	int64_t got = 0;
	return copy_data(r, size, fd, NULL, sha, &got, err);
}

static int read_entry(struct ckpt_reader *r, struct archive_entry *entry, cryo_err *err)
{
	const char *raw = archive_entry_pathname(entry);
	const char *why = NULL;
	cleanup_free char *name = safe_extract_clean_name(raw, &why);
	if (!name)
		return cryo_error_plain(err, EPERM, "entry `%s`: %s", raw ? raw : "", why);
	bool first = r->entries_read++ == 0;
	mode_t type = archive_entry_filetype(entry);
	int rc;

	if (archive_entry_hardlink(entry))
		return cryo_error_plain(
		    err, EINVAL, "entry `%s`: hard links are not allowed in a checkpoint archive", name);
	if (type == AE_IFLNK)
		return cryo_error_plain(
		    err, EINVAL, "entry `%s`: symbolic links are not allowed in a checkpoint archive", name);
	if (type != AE_IFDIR && type != AE_IFREG)
		return cryo_error_plain(err, EINVAL, "entry `%s`: a special file is not allowed here", name);
	if (first && strcmp(name, INDEX_NAME) != 0 && looks_like_podman(name) && r->opts->accept_podman) {
		if (!r->opts->insecure_unsigned)
			return cryo_error_plain(
			    err, EACCES,
			    "this is an archive exported by Podman (`podman container checkpoint "
			    "--export`), which is never signed, so nothing says who made it: accept it "
			    "with --insecure-unsigned");
		r->podman = r->info.podman = true;
	}
	if (r->podman) {
		if ((rc = read_podman_entry(r, name, entry, err)) < 0)
			return cryo_error_wrap(err, "entry `%s`", name);
		free(r->prev);
		r->prev = move_ptr(name);
		return 0;
	}
	if (first && strcmp(name, INDEX_NAME) != 0 && looks_like_podman(name))
		return cryo_error_plain(
		    err, ENOTSUP,
		    "entry `%s` comes first, where `%s` must be: this looks like an archive exported by "
		    "Podman (`podman container checkpoint --export`), which cryo reads only in `cryo "
		    "restore --import` and `cryo checkpoint inspect`",
		    name, INDEX_NAME);
	if (first && strcmp(name, INDEX_NAME) != 0)
		return cryo_error_plain(
		    err, EINVAL,
		    "entry `%s` comes first, where `%s` must be (not a cryo checkpoint archive of format "
		    "version %d)",
		    name, INDEX_NAME, CHECKPOINT_ARCHIVE_VERSION);
	if (r->sig_text)
		return cryo_error_plain(err, EINVAL, "entry `%s`: follows `%s`, which must come last", name,
		                        SIGNATURE_NAME);
	if (r->manifest_text && strcmp(name, SIGNATURE_NAME) != 0)
		return cryo_error_plain(err, EINVAL, "entry `%s`: follows the manifest, which must come last",
		                        name);

	if (first)
		rc = read_index(r, entry, err);
	else if (strcmp(name, INDEX_NAME) == 0)
		rc = cryo_error_plain(err, EEXIST, "appears twice");
	else if (strcmp(name, MANIFEST_NAME) == 0)
		rc = read_generated(r, name, entry, r->json_max, &r->manifest_text, &r->manifest_len, err);
	else if (strcmp(name, SIGNATURE_NAME) == 0 && !r->manifest_text)
		rc = cryo_error_plain(err, EINVAL, "comes before the manifest it signs");
	else if (strcmp(name, SIGNATURE_NAME) == 0)
		rc = read_generated(r, name, entry, SIGNATURE_MAX_SIZE, &r->sig_text, &(size_t){0}, err);
	else if (layout_kind(name) == LAYOUT_NONE)
		return cryo_error_plain(err, EINVAL, "entry `%s`: not part of a checkpoint archive", name);
	else
		rc = read_listed(r, name, entry, err);
	if (rc < 0)
		return cryo_error_wrap(err, "entry `%s`", name);
	free(r->prev);
	r->prev = move_ptr(name);
	return 0;
}

/* ---- verification ---- */

static int verify_signature(struct ckpt_reader *r, cryo_err *err)
{
	struct json_object *alg, *key, *sig;
	const char *why = NULL;
	unsigned char sigbytes[TRUST_SIG_LEN];
	if (!r->sig_text) {
		r->info.signature = CHECKPOINT_UNSIGNED;
		return 0;
	}
	struct json_object *o = parse_json(r->sig_text, strlen(r->sig_text), &why);
	int rc = 0;
	if (!o || !json_get(o, "algorithm", json_type_string, &alg) ||
	    !json_get(o, "public_key", json_type_string, &key) ||
	    !json_get(o, "signature", json_type_string, &sig))
		rc = cryo_error_plain(err, EINVAL, "`%s`: not a signature (%s)", SIGNATURE_NAME,
		                      o ? "fields missing" : why);
	else if (strcmp(json_object_get_string(alg), TRUST_SIG_ALGORITHM) != 0)
		rc = cryo_error_plain(err, EINVAL, "`%s`: unknown algorithm `%s`", SIGNATURE_NAME,
		                      json_object_get_string(alg));
	else if (trust_unbase64(json_object_get_string(key), r->info.key, TRUST_KEY_LEN) < 0 ||
	         trust_unbase64(json_object_get_string(sig), sigbytes, TRUST_SIG_LEN) < 0)
		rc = cryo_error_plain(err, EINVAL,
		                      "`%s`: the key or signature is not valid base64 of the right length",
		                      SIGNATURE_NAME);
	else if (!trust_verify(r->info.key, r->manifest_text, r->manifest_len, sigbytes))
		rc = cryo_error_plain(err, EBADMSG,
		                      "`%s`: the signature does not match the manifest (archive tampered)",
		                      SIGNATURE_NAME);
	if (o)
		json_object_put(o);
	if (rc < 0)
		return rc;
	r->info.signature =
	    trusted_keys_contain(r->opts->keys, r->info.key) ? CHECKPOINT_TRUSTED : CHECKPOINT_UNTRUSTED;
	return 0;
}

static int verify_manifest(struct ckpt_reader *r, cryo_err *err)
{
	struct json_object *entries;
	const char *why = NULL;
	r->manifest = parse_json(r->manifest_text, r->manifest_len, &why);
	if (!r->manifest)
		return cryo_error_plain(err, EINVAL, "manifest: not valid JSON: %s", why);
	int rc = check_header(r->manifest, "manifest", err);
	if (rc < 0)
		return rc;
	if (!json_get(r->manifest, "entries", json_type_object, &entries))
		return cryo_error_plain(err, EINVAL, "manifest: no `entries` object");

	json_object_object_foreach (r->seen, name, got) {
		struct json_object *want, *want_sha, *want_size, *got_sha, *got_size;
		if (!json_object_object_get_ex(entries, name, &want))
			return cryo_error_plain(
			    err, EINVAL, "entry `%s`: not listed in the manifest (archive tampered)", name);
		json_object_object_get_ex(got, "sha256", &got_sha);
		json_object_object_get_ex(got, "size", &got_size);
		if (!json_object_is_type(want, json_type_object) ||
		    !json_get(want, "sha256", json_type_string, &want_sha) ||
		    !json_get(want, "size", json_type_int, &want_size))
			return cryo_error_plain(err, EINVAL, "manifest: entry `%s`: no sha256 and size",
			                        name);
		if (json_object_get_int64(want_size) != json_object_get_int64(got_size))
			return cryo_error_plain(
			    err, EINVAL,
			    "entry `%s`: size %lld, the manifest says %lld (archive corrupted or tampered)",
			    name, (long long)json_object_get_int64(got_size),
			    (long long)json_object_get_int64(want_size));
		if (strcmp(json_object_get_string(want_sha), json_object_get_string(got_sha)) != 0)
			return cryo_error_plain(
			    err, EINVAL, "entry `%s`: checksum mismatch (archive corrupted or tampered)",
			    name);
	}
	json_object_object_foreach (entries, listed, unused) {
		(void)unused;
		if (!json_object_object_get_ex(r->seen, listed, NULL))
			return cryo_error_plain(
			    err, EINVAL, "entry `%s`: listed in the manifest but missing from the archive",
			    listed);
	}
	json_object_object_foreach (r->index, indexed, info) {
		struct json_object *seen;
		json_object_object_get_ex(info, "seen", &seen);
		if (!json_object_get_boolean(seen))
			return cryo_error_plain(
			    err, EINVAL, "entry `%s`: listed in the index but missing from the archive",
			    indexed);
	}
	return 0;
}

/* Last, once the archive is known to be intact: is its signer trusted? */
static int check_trust(struct ckpt_reader *r, cryo_err *err)
{
	if (r->info.signature == CHECKPOINT_TRUSTED || r->opts->insecure_unsigned)
		return 0;
	if (r->info.signature == CHECKPOINT_UNSIGNED)
		return cryo_error_plain(
		    err, EACCES,
		    "the archive is not signed, so nothing says who made it: restore archives "
		    "exported by an engine whose key you trust (`cryo key show` there, `cryo trust "
		    "add` here), or accept this one with --insecure-unsigned");
	cleanup_free char *fp = trust_fingerprint(r->info.key);
	return cryo_error_plain(
	    err, EACCES,
	    "the archive is signed by key %s, which this engine does not trust: if you trust the "
	    "engine that exported it, run `cryo key show` on that host, check that it prints that "
	    "fingerprint's key, and give its output to `cryo trust add` here (or accept this "
	    "archive once with --insecure-unsigned)",
	    fp);
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
			return cryo_error_code(*err);
	}
	if (r->podman) { /* unsigned, accepted as such (read_entry) */
		r->info.signature = CHECKPOINT_UNSIGNED;
		r->info.total_size = r->podman_total;
		return 0;
	}
	if (!r->manifest_text)
		return cryo_error_plain(err, EINVAL,
		                        "no `%s` at the end (archive truncated or not a cryo checkpoint)",
		                        MANIFEST_NAME);
	int rc;
	if ((rc = verify_signature(r, err)) < 0 || (rc = verify_manifest(r, err)) < 0)
		return rc;
	return check_trust(r, err);
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

/* Only libarchive's own decoders: an external program (lrzip, lzop, ...)
 * is never run on an archive from elsewhere. */
static int support_filters(struct archive *a)
{
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(a) != ARCHIVE_OK)
		return -ENOTSUP;
	return 0;
}

/* A framed stream (CHECKPOINT_ARCHIVE_FRAMED), read exactly: never a byte
 * past its end frame, so that what follows on the descriptor is the
 * caller's. */
struct frame_source {
	int fd;
	uint32_t left; /* of the current frame */
	bool ended;    /* its end frame was read */
	char *buf;
};

/* Read exactly len bytes; 0 at a clean end of file before any of them. */
static ssize_t read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return got == 0 ? 0 : -EPIPE;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* The next piece of the stream's data; 0 after its end frame, -errno when
 * it breaks off or a frame header is impossible. */
static ssize_t frame_read(struct frame_source *f, const void **out)
{
	if (f->ended)
		return 0;
	if (f->left == 0) {
		unsigned char h[FRAME_HEADER_LEN];
		ssize_t n = read_exact(f->fd, h, sizeof(h));
		if (n == 0)
			return -EPIPE; /* cut short: no end frame */
		if (n < 0)
			return n;
		f->left = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		if (f->left == 0) {
			f->ended = true;
			return 0;
		}
		if (f->left > FRAME_MAX)
			return -EBADMSG;
	}
	for (;;) {
		ssize_t n = read(f->fd, f->buf, f->left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		f->left -= (uint32_t)n;
		*out = f->buf;
		return n;
	}
}

static la_ssize_t frame_read_cb(struct archive *a, void *data, const void **buf)
{
	ssize_t n = frame_read(data, buf);
	if (n < 0) {
		archive_set_error(a, (int)-n, "%s",
		                  n == -EBADMSG ? "broken stream framing" : "stream cut short or broken");
		return -1;
	}
	return (la_ssize_t)n;
}

/* After the archive: the rest of its frames (compressors' trailers the tar
 * reader did not need), up to the end frame. */
static int frame_drain(struct frame_source *f, const char *what, cryo_err *err)
{
	uint64_t drained = 0;
	for (;;) {
		const void *p;
		ssize_t n = frame_read(f, &p);
		if (n == 0)
			return 0;
		if (n < 0)
			return cryo_error_set(err, (int)-n, "checkpoint archive `%s`: the stream's end",
			                      what);
		drained += (uint64_t)n;
		if (drained > FRAME_MAX)
			return cryo_error_set(
			    err, EBADMSG,
			    "checkpoint archive `%s`: more than %u bytes after the archive's end", what,
			    FRAME_MAX);
	}
}

/* The reader around read_all(); in_fd >= 0: read that descriptor (a
 * stream, read once; framed with CHECKPOINT_ARCHIVE_FRAMED in flags), else
 * the file archive_path. */
static int read_archive(const char *archive_path, int in_fd, unsigned flags, const char *dest_dir,
                        const struct checkpoint_archive_read_opts *opts, struct checkpoint_archive_info *info,
                        cryo_err *err)
{
	cleanup_free char *frame_buf = flags & CHECKPOINT_ARCHIVE_FRAMED ? xmalloc(FRAME_MAX) : NULL;
	struct frame_source frames = {.fd = in_fd, .buf = frame_buf};
	static const struct checkpoint_archive_read_opts no_opts = {0};
	_cleanup_(ckpt_reader_free) struct ckpt_reader r = {.destfd = -1, .opts = opts ? opts : &no_opts};
	int rc = 0;

	if (r.opts->limits)
		r.limits = *r.opts->limits;
	else
		extract_limits_from_config(NULL, &r.limits);
	/* json-c takes lengths as int. */
	r.json_max = r.limits.max_entries > (JSON_MAX_BOUND - JSON_MIN_BOUND) / JSON_BYTES_PER_ENTRY
	                 ? JSON_MAX_BOUND
	                 : JSON_MIN_BOUND + (size_t)r.limits.max_entries * JSON_BYTES_PER_ENTRY;
	r.destfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r.destfd < 0)
		return cryo_error_set(err, errno, "checkpoint archive `%s`: open destination `%s`",
		                      archive_path, dest_dir);
	r.in = archive_read_new();
	r.seen = json_object_new_object();
	r.index = json_object_new_object();
	if (!r.in || !r.seen || !r.index)
		oom();
	archive_read_support_format_tar(r.in);
	if (support_filters(r.in) < 0)
		rc = archive_failure(r.in, err, "%s", "set up decompression");
	else if ((frame_buf    ? archive_read_open(r.in, &frames, NULL, frame_read_cb, NULL)
	          : in_fd >= 0 ? archive_read_open_fd(r.in, in_fd, BLOCK_SIZE)
	                       : archive_read_open_filename(r.in, archive_path, BLOCK_SIZE)) != ARCHIVE_OK)
		rc = archive_failure(r.in, err, "%s",
		                     archive_errno(r.in) == EILSEQ ? "not a checkpoint archive" : "open");
	else
		rc = read_all(&r, err);
	if (rc == 0 && frame_buf)
		rc = frame_drain(&frames, archive_path, err);
	if (rc < 0) {
		empty_directory(dest_dir);
		return cryo_error_wrap(err, "checkpoint archive `%s`", archive_path);
	}
	if (info)
		*info = r.info;
	return 0;
}

int checkpoint_archive_read(const char *archive_path, const char *dest_dir,
                            const struct checkpoint_archive_read_opts *opts,
                            struct checkpoint_archive_info *info, cryo_err *err)
{
	return read_archive(archive_path, -1, 0, dest_dir, opts, info, err);
}

int checkpoint_archive_read_fd(int fd, const char *what, const char *dest_dir,
                               const struct checkpoint_archive_read_opts *opts,
                               struct checkpoint_archive_info *info, cryo_err *err)
{
	return read_archive(what, fd, 0, dest_dir, opts, info, err);
}

int checkpoint_archive_read_fd_flags(int fd, const char *what, unsigned flags, const char *dest_dir,
                                     const struct checkpoint_archive_read_opts *opts,
                                     struct checkpoint_archive_info *info, cryo_err *err)
{
	return read_archive(what, fd, flags, dest_dir, opts, info, err);
}
