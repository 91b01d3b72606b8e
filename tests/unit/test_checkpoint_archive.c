/* Tests for checkpoint_archive.c: round trips for each compression, and
 * corrupted, tampered and hostile archives (built here with libarchive's write
 * API), which must all be refused with a message naming the entry and leave
 * the destination empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "checkpoint_archive.h"
#include "digest.h"
#include "error.h"
#include "testutil.h"
#include "util.h"

/* The fixtures' short names in this file (testutil.h). */
#define join testutil_join
#define put testutil_put
#define put_text testutil_put_text

#define PAGES_SIZE (3 << 20)

/* Reading unsigned archives: what most tests here make. */
static const struct checkpoint_archive_read_opts insecure = {.insecure_unsigned = true};
#define PAGES_MARK "PAGES-MARK:"

struct fixture {
	char *base;
	char *dir;     /* the prepared checkpoint directory */
	char *dest;    /* extraction target */
	char *outside; /* must never change */
	char *target;  /* archive path */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = xstrdup("/var/tmp/cryo-test-checkpoint-archive.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	f->dir = join(f->base, "ckpt");
	f->dest = join(f->base, "dest");
	f->outside = join(f->base, "outside");
	f->target = join(f->base, "checkpoint.tar");
	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(mkdir(f->dest, 0700), 0);
	assert_int_equal(mkdir(f->outside, 0700), 0);
	put_text(f->outside, "sentinel", "untouched");

	cleanup_free char *images = join(f->dir, "checkpoint");
	cleanup_free char *volumes = join(f->dir, "volumes");
	assert_int_equal(mkdir(images, 0700), 0);
	assert_int_equal(mkdir(volumes, 0700), 0);
	/* pages: a marker, then pseudo-random bytes (incompressible) */
	char *pages = xmalloc(PAGES_SIZE);
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < PAGES_SIZE; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pages + i, &x, 8);
	}
	memcpy(pages + 4096, PAGES_MARK, strlen(PAGES_MARK));
	put(f->dir, "checkpoint/pages-1.img", pages, PAGES_SIZE);
	free(pages);
	put_text(f->dir, "checkpoint/inventory.img", "inventory");
	put(f->dir, "checkpoint/empty.img", "", 0);
	put_text(f->dir, "checkpoint/descriptors.json", "[\"/dev/null\"]");
	put_text(f->dir, "rootfs-diff.tar", "not really a tar, opaque to the archive");
	put_text(f->dir, "deleted.files", "[\"/etc/issue\"]\n");
	put_text(f->dir, "volumes/data.tar", "volume bytes");
	put_text(f->dir, "config.dump", "{\"name\":\"web\"}");
	put_text(f->dir, "spec.dump", "{\"ociVersion\":\"1.0.2\"}");
	put_text(f->dir, "stats-dump.json", "{\"frozen_us\":1}");
	put_text(f->dir, "stats-dump", "CRIU's stats image, opaque to the archive");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rm_rf(f->base, NULL), 0);
	free(f->base);
	free(f->dir);
	free(f->dest);
	free(f->outside);
	free(f->target);
	free(f);
	return 0;
}

static size_t count_entries(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	return n;
}

static void assert_same_file(const char *a_dir, const char *b_dir, const char *rel)
{
	cleanup_free char *a = join(a_dir, rel);
	cleanup_free char *b = join(b_dir, rel);
	char sa[DIGEST_HEX_LEN + 1], sb[DIGEST_HEX_LEN + 1];
	assert_int_equal(digest_file(a, sa, NULL), 0);
	assert_int_equal(digest_file(b, sb, NULL), 0);
	assert_string_equal(sa, sb);
}

static const char *const layout[] = {
    "checkpoint/pages-1.img",
    "checkpoint/inventory.img",
    "checkpoint/empty.img",
    "checkpoint/descriptors.json",
    "rootfs-diff.tar",
    "deleted.files",
    "volumes/data.tar",
    "config.dump",
    "spec.dump",
    "stats-dump.json",
    "stats-dump",
};

static int filter_of(const char *path)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	struct archive_entry *e;
	assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
	int code = archive_filter_code(a, 0);
	archive_read_free(a);
	return code;
}

/* The contents of one member of a (possibly compressed) tar. */
static char *archive_member(const char *path, const char *name)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	struct archive_entry *e;
	char *text = NULL;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (strcmp(archive_entry_pathname(e), name) != 0)
			continue;
		size_t len = (size_t)archive_entry_size(e);
		text = xcalloc(1, len + 1);
		assert_int_equal(archive_read_data(a, text, len), (la_ssize_t)len);
		break;
	}
	archive_read_free(a);
	assert_non_null(text);
	return text;
}

static void roundtrip(struct fixture *f, enum checkpoint_compression c, int filter)
{
	struct checkpoint_archive_stats stats = {0};
	cryo_err err = NULL;
	int r = checkpoint_archive_write(f->dir, f->target, c, NULL, &stats, &err);
	assert_null(err ? err->msg : NULL);
	assert_int_equal(r, 0);
	struct stat st;
	assert_int_equal(stat(f->target, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stats.bytes_out, (uint64_t)st.st_size);
	assert_int_equal(stats.entries, ARRAY_SIZE(layout) + 2); /* + index, manifest */
	assert_true(stats.bytes_in > PAGES_SIZE);
	assert_int_equal(filter_of(f->target), filter);
	assert_int_equal(count_entries(f->base), 4); /* ckpt, dest, outside, the archive: no temporary */

	r = checkpoint_archive_read(f->target, f->dest, &insecure, NULL, &err);
	assert_null(err ? err->msg : NULL);
	assert_int_equal(r, 0);
	for (size_t i = 0; i < ARRAY_SIZE(layout); i++)
		assert_same_file(f->dir, f->dest, layout[i]);
	cleanup_free char *pages = join(f->dest, "checkpoint/pages-1.img");
	assert_int_equal(stat(pages, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* the manifest: last, complete, right digests */
	cleanup_free char *text = archive_member(f->target, "manifest.json");
	struct json_object *m = json_tokener_parse(text);
	assert_non_null(m);
	struct json_object *v, *entries;
	assert_true(json_object_object_get_ex(m, "format", &v));
	assert_string_equal(json_object_get_string(v), "cryo-checkpoint");
	assert_true(json_object_object_get_ex(m, "version", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(m, "entries", &entries));
	assert_int_equal(json_object_object_length(entries), ARRAY_SIZE(layout) + 1); /* + index.json */
	for (size_t i = 0; i < ARRAY_SIZE(layout); i++) {
		struct json_object *e, *sha, *size;
		assert_true(json_object_object_get_ex(entries, layout[i], &e));
		assert_true(json_object_object_get_ex(e, "sha256", &sha));
		assert_true(json_object_object_get_ex(e, "size", &size));
		cleanup_free char *src = join(f->dir, layout[i]);
		char want[DIGEST_HEX_LEN + 1];
		assert_int_equal(digest_file(src, want, NULL), 0);
		assert_string_equal(json_object_get_string(sha), want);
		assert_int_equal(stat(src, &st), 0);
		assert_int_equal(json_object_get_int64(size), st.st_size);
	}
	json_object_put(m);
}

static void roundtrip_none(void **state)
{
	roundtrip(*state, CHECKPOINT_COMPRESSION_NONE, ARCHIVE_FILTER_NONE);
}

static void roundtrip_gzip(void **state)
{
	roundtrip(*state, CHECKPOINT_COMPRESSION_GZIP, ARCHIVE_FILTER_GZIP);
}

static void roundtrip_zstd(void **state)
{
	roundtrip(*state, CHECKPOINT_COMPRESSION_ZSTD, ARCHIVE_FILTER_ZSTD);
}

/* Writing again over an existing archive (and an existing manifest.json in
 * the directory, as after an extraction) works. */
static void rewrite_replaces_target(void **state)
{
	struct fixture *f = *state;
	put_text(f->dir, "manifest.json", "{\"stale\": true}");
	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_NONE, NULL, NULL, NULL), 0);
	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_ZSTD, NULL, NULL, NULL), 0);
	assert_int_equal(filter_of(f->target), ARCHIVE_FILTER_ZSTD);
	assert_int_equal(checkpoint_archive_read(f->target, f->dest, &insecure, NULL, NULL), 0);
}

static void compression_names(void **state)
{
	(void)state;
	enum checkpoint_compression c;
	assert_int_equal(checkpoint_compression_parse("none", &c), 0);
	assert_int_equal(c, CHECKPOINT_COMPRESSION_NONE);
	assert_int_equal(checkpoint_compression_parse("gzip", &c), 0);
	assert_int_equal(c, CHECKPOINT_COMPRESSION_GZIP);
	assert_int_equal(checkpoint_compression_parse("zstd", &c), 0);
	assert_int_equal(c, CHECKPOINT_COMPRESSION_ZSTD);
	assert_int_equal(checkpoint_compression_parse("xz", &c), -EINVAL);
	assert_int_equal(checkpoint_compression_parse("", &c), -EINVAL);
	assert_string_equal(checkpoint_compression_name(CHECKPOINT_COMPRESSION_ZSTD), "zstd");
}

/* ---- refused archives ---- */

static void assert_read_fails(struct fixture *f, const char *needle)
{
	cryo_err err = NULL;
	assert_true(checkpoint_archive_read(f->target, f->dest, &insecure, NULL, &err) < 0);
	assert_non_null(err);
	cleanup_free char *prefix = xasprintf("checkpoint archive `%s`: ", f->target);
	if (!str_has_prefix(err->msg, prefix) || !strstr(err->msg, needle))
		fail_msg("error `%s` does not start with `%s` and mention `%s`", err->msg, prefix, needle);
	cryo_error_free(&err);
	assert_int_equal(count_entries(f->dest), 0);
	assert_int_equal(count_entries(f->outside), 1);
	cleanup_free char *sentinel = join(f->outside, "sentinel");
	cleanup_free char *text = NULL;
	assert_int_equal(read_file(sentinel, &text, NULL, NULL), 0);
	assert_string_equal(text, "untouched");
}

static void flipped_byte_detected(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_NONE, NULL, NULL, NULL), 0);
	/* Negative control: the untouched archive reads fine. */
	assert_int_equal(checkpoint_archive_read(f->target, f->dest, &insecure, NULL, NULL), 0);
	assert_int_equal(rm_rf(f->dest, NULL), 0);
	assert_int_equal(mkdir(f->dest, 0700), 0);

	cleanup_free char *data = NULL;
	size_t len = 0;
	assert_int_equal(read_file(f->target, &data, &len, NULL), 0);
	char *mark = memmem(data, len, PAGES_MARK, strlen(PAGES_MARK));
	assert_non_null(mark);
	cleanup_close int fd = open(f->target, O_WRONLY);
	char flipped = (char)(mark[0] ^ 0x20);
	assert_int_equal(pwrite(fd, &flipped, 1, mark - data), 1);
	assert_read_fails(
	    f, "entry `checkpoint/pages-1.img`: checksum mismatch (archive corrupted or tampered)");
}

static void truncated_detected(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_NONE, NULL, NULL, NULL), 0);
	struct stat st;
	assert_int_equal(stat(f->target, &st), 0);
	assert_int_equal(truncate(f->target, st.st_size / 2), 0);
	assert_read_fails(f, "truncated");

	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_ZSTD, NULL, NULL, NULL), 0);
	assert_int_equal(stat(f->target, &st), 0);
	assert_int_equal(truncate(f->target, st.st_size - 100), 0);
	assert_read_fails(f, "truncated");
}

struct item {
	mode_t type;
	const char *name;
	const char *data; /* regular files */
	const char *link; /* symlink target, or hard link target with type 0 */
};

/* The index a writer would make for these items (regular files and
 * directories, each name once). */
static char *index_for(const struct item *items, size_t n)
{
	struct json_object *list = json_object_new_array(), *names = json_object_new_object();
	int64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		const struct item *it = &items[i];
		if ((it->type != AE_IFREG && it->type != AE_IFDIR) ||
		    json_object_object_get_ex(names, it->name, NULL) ||
		    strcmp(it->name, "manifest.json") == 0 || strcmp(it->name, "manifest.sig") == 0)
			continue;
		json_object_object_add(names, it->name, NULL);
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(it->name));
		json_object_object_add(e, "type",
		                       json_object_new_string(it->type == AE_IFDIR ? "directory" : "file"));
		if (it->type == AE_IFREG) {
			int64_t size = it->data ? (int64_t)strlen(it->data) : 0;
			json_object_object_add(e, "size", json_object_new_int64(size));
			total += size;
		}
		json_object_array_add(list, e);
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "format", json_object_new_string("cryo-checkpoint"));
	json_object_object_add(o, "version", json_object_new_int(2));
	json_object_object_add(o, "total_size", json_object_new_int64(total));
	json_object_object_add(o, "entries", list);
	char *text = xstrdup(json_object_to_json_string(o));
	json_object_put(o);
	json_object_put(names);
	return text;
}

/* A hand-made archive: index.json (index NULL: the one index_for() makes;
 * else that text), the items, then manifest.json: manifest NULL: none, ""
 * (empty string): a correct one for the regular files, else that text, in
 * which @INDEX@ becomes index.json's manifest entry. */
static void make_archive_with_index(struct fixture *f, const char *index, const struct item *items, size_t n,
                                    const char *manifest)
{
	cleanup_free char *index_text = index ? xstrdup(index) : index_for(items, n);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, f->target), ARCHIVE_OK);
	struct json_object *entries = json_object_new_object();
	for (size_t i = 0; i <= n + 1; i++) {
		struct item index_item = {AE_IFREG, "index.json", index_text, NULL};
		struct item manifest_item = {AE_IFREG, "manifest.json", NULL, NULL};
		cleanup_free char *generated = NULL;
		const struct item *it = i == 0 ? &index_item : i <= n ? &items[i - 1] : &manifest_item;
		if (i == n + 1) {
			if (!manifest)
				break;
			if (manifest[0] == '\0') {
				struct json_object *m = json_object_new_object();
				json_object_object_add(m, "format",
				                       json_object_new_string("cryo-checkpoint"));
				json_object_object_add(m, "version", json_object_new_int(2));
				json_object_object_add(m, "entries", json_object_get(entries));
				generated = xstrdup(json_object_to_json_string(m));
				json_object_put(m);
			} else {
				struct json_object *ie;
				assert_true(json_object_object_get_ex(entries, "index.json", &ie));
				cleanup_free char *entry =
				    xasprintf("\"index.json\":%s", json_object_to_json_string(ie));
				const char *at = strstr(manifest, "@INDEX@");
				generated =
				    at ? xasprintf("%.*s%s%s", (int)(at - manifest), manifest, entry, at + 7)
				       : xstrdup(manifest);
			}
			manifest_item.data = generated;
		}
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, it->name);
		archive_entry_set_perm(e, 0600);
		if (it->type == 0) {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, it->link);
		} else {
			archive_entry_set_filetype(e, it->type);
		}
		if (it->type == AE_IFLNK)
			archive_entry_set_symlink(e, it->link);
		size_t len = it->data ? strlen(it->data) : 0;
		archive_entry_set_size(e, (la_int64_t)len);
		assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
		if (len)
			assert_int_equal(archive_write_data(a, it->data, len), (la_ssize_t)len);
		if (it->type == AE_IFREG && i <= n) {
			char sha[DIGEST_HEX_LEN + 1];
			digest_buffer(it->data ? it->data : "", len, sha);
			struct json_object *me = json_object_new_object();
			json_object_object_add(me, "sha256", json_object_new_string(sha));
			json_object_object_add(me, "size", json_object_new_int64((int64_t)len));
			json_object_object_add(entries, it->name, me);
		}
		archive_entry_free(e);
	}
	json_object_put(entries);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void make_archive(struct fixture *f, const struct item *items, size_t n, const char *manifest)
{
	make_archive_with_index(f, NULL, items, n, manifest);
}

static void hand_made_archive_accepted(void **state)
{
	/* Negative control for the hostile ones below: the builder itself
	 * makes archives the reader accepts. */
	struct fixture *f = *state;
	const struct item items[] = {
	    {AE_IFDIR, "checkpoint", NULL, NULL},
	    {AE_IFREG, "checkpoint/core-1.img", "core", NULL},
	    {AE_IFREG, "config.dump", "{}", NULL},
	};
	make_archive(f, items, ARRAY_SIZE(items), "");
	cryo_err err = NULL;
	int r = checkpoint_archive_read(f->target, f->dest, &insecure, NULL, &err);
	assert_null(err ? err->msg : NULL);
	assert_int_equal(r, 0);
}

static void missing_manifest(void **state)
{
	struct fixture *f = *state;
	const struct item items[] = {{AE_IFREG, "config.dump", "{}", NULL}};
	make_archive(f, items, 1, NULL);
	assert_read_fails(f, "no `manifest.json` at the end");
}

static void entry_not_in_manifest(void **state)
{
	struct fixture *f = *state;
	const struct item items[] = {{AE_IFREG, "config.dump", "{}", NULL},
	                             {AE_IFREG, "spec.dump", "{}", NULL}};
	char sha[DIGEST_HEX_LEN + 1];
	digest_buffer("{}", 2, sha);
	cleanup_free char *manifest =
	    xasprintf("{\"format\":\"cryo-checkpoint\",\"version\":2,\"entries\":{@INDEX@,"
	              "\"config.dump\":{\"sha256\":\"%s\",\"size\":2}}}",
	              sha);
	make_archive(f, items, 2, manifest);
	assert_read_fails(f, "entry `spec.dump`: not listed in the manifest");
}

static void manifest_entry_missing(void **state)
{
	struct fixture *f = *state;
	const struct item items[] = {{AE_IFREG, "config.dump", "{}", NULL}};
	char sha[DIGEST_HEX_LEN + 1];
	digest_buffer("{}", 2, sha);
	cleanup_free char *manifest =
	    xasprintf("{\"format\":\"cryo-checkpoint\",\"version\":2,\"entries\":{@INDEX@,"
	              "\"config.dump\":{\"sha256\":\"%s\",\"size\":2},"
	              "\"checkpoint/pages-1.img\":{\"sha256\":\"%s\",\"size\":2}}}",
	              sha, sha);
	make_archive(f, items, 1, manifest);
	assert_read_fails(
	    f, "entry `checkpoint/pages-1.img`: listed in the manifest but missing from the archive");
}

static void wrong_size_in_manifest(void **state)
{
	struct fixture *f = *state;
	const struct item items[] = {{AE_IFREG, "config.dump", "{}", NULL}};
	char sha[DIGEST_HEX_LEN + 1];
	digest_buffer("{}", 2, sha);
	cleanup_free char *manifest =
	    xasprintf("{\"format\":\"cryo-checkpoint\",\"version\":2,\"entries\":{@INDEX@,"
	              "\"config.dump\":{\"sha256\":\"%s\",\"size\":3}}}",
	              sha);
	make_archive(f, items, 1, manifest);
	assert_read_fails(f, "entry `config.dump`: size 2, the manifest says 3");
}

static void unknown_format_or_version(void **state)
{
	struct fixture *f = *state;
	const struct item items[] = {{AE_IFREG, "config.dump", "{}", NULL}};
	make_archive(f, items, 1, "{\"format\":\"cryo-checkpoint\",\"version\":1,\"entries\":{}}");
	assert_read_fails(f, "unsupported format version 1");
	make_archive(f, items, 1, "{\"format\":\"other\",\"version\":1,\"entries\":{}}");
	assert_read_fails(f, "not a `cryo-checkpoint` archive");
	make_archive(f, items, 1, "{not json");
	assert_read_fails(f, "manifest: not valid JSON");
}

static void entry_after_manifest(void **state)
{
	struct fixture *f = *state;
	const struct item items[] = {
	    {AE_IFREG, "config.dump", "{}", NULL},
	    {AE_IFREG, "manifest.json", "{\"format\":\"cryo-checkpoint\",\"version\":1,\"entries\":{}}",
	     NULL},
	    {AE_IFREG, "spec.dump", "{}", NULL},
	};
	make_archive(f, items, ARRAY_SIZE(items), NULL);
	assert_read_fails(f, "entry `spec.dump`: follows the manifest");
}

static void hostile_names(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *abs = join(f->outside, "evil");

	const struct item dotdot[] = {{AE_IFREG, "../outside/evil", "x", NULL}};
	make_archive(f, dotdot, 1, "");
	assert_read_fails(f, "entry `../outside/evil`: `..` path component");

	const struct item inner_dotdot[] = {{AE_IFREG, "checkpoint/../../outside/evil", "x", NULL}};
	make_archive(f, inner_dotdot, 1, "");
	assert_read_fails(f, "`..` path component");

	const struct item absolute[] = {{AE_IFREG, abs, "x", NULL}};
	make_archive(f, absolute, 1, "");
	assert_read_fails(f, "absolute path");

	const struct item symlink_entry[] = {
	    {AE_IFDIR, "checkpoint", NULL, NULL},
	    {AE_IFLNK, "checkpoint/link", NULL, "/etc"},
	};
	make_archive(f, symlink_entry, 2, "");
	assert_read_fails(f,
	                  "entry `checkpoint/link`: symbolic links are not allowed in a checkpoint archive");

	const struct item hardlink_entry[] = {
	    {AE_IFREG, "config.dump", "{}", NULL},
	    {0, "spec.dump", NULL, "config.dump"},
	};
	make_archive(f, hardlink_entry, 2, "");
	assert_read_fails(f, "entry `spec.dump`: hard links are not allowed");

	const struct item device[] = {{AE_IFCHR, "checkpoint/tty", NULL, NULL}};
	make_archive(f, device, 1, "");
	assert_read_fails(f, "entry `checkpoint/tty`: a special file is not allowed here");

	const struct item unknown[] = {{AE_IFREG, "config.dump", "{}", NULL},
	                               {AE_IFREG, "evil.sh", "x", NULL}};
	make_archive(f, unknown, 2, "");
	assert_read_fails(f, "entry `evil.sh`: not part of a checkpoint archive");

	const struct item bad_volume[] = {{AE_IFREG, "volumes/.hidden.tar", "x", NULL}};
	make_archive(f, bad_volume, 1, "");
	assert_read_fails(f, "entry `volumes/.hidden.tar`: not part of a checkpoint archive");

	const struct item dir_as_file[] = {{AE_IFDIR, "config.dump", NULL, NULL}};
	make_archive(f, dir_as_file, 1, "");
	assert_read_fails(f, "entry `config.dump`: not part of a checkpoint archive (as a directory)");

	const struct item duplicate[] = {{AE_IFREG, "config.dump", "{}", NULL},
	                                 {AE_IFREG, "config.dump", "{}", NULL}};
	make_archive(f, duplicate, 2, "");
	assert_read_fails(f, "entry `config.dump`: appears twice");
}

static void not_an_archive(void **state)
{
	struct fixture *f = *state;
	put_text(f->base, "checkpoint.tar", "this is not a tar archive at all, not even close............");
	assert_read_fails(f, "not a checkpoint archive");
}

/* ---- failed writes ---- */

static size_t count_temporaries(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".tmp-"))
			n++;
	return n;
}

static void failed_write_keeps_target(void **state)
{
	struct fixture *f = *state;
	put_text(f->base, "checkpoint.tar", "the previous archive");

	/* nonexistent target directory */
	cryo_err err = NULL;
	cleanup_free char *nowhere = join(f->base, "missing/checkpoint.tar");
	assert_true(checkpoint_archive_write(f->dir, nowhere, CHECKPOINT_COMPRESSION_ZSTD, NULL, NULL, &err) <
	            0);
	assert_non_null(strstr(err->msg, "create temporary file"));
	cryo_error_free(&err);

	/* a failure half-way through: something outside the layout */
	cleanup_free char *evil = join(f->dir, "checkpoint/zz-link");
	assert_int_equal(symlink("/etc/passwd", evil), 0);
	assert_true(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_ZSTD, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "`checkpoint/zz-link` does not belong in a checkpoint archive"));
	cryo_error_free(&err);
	assert_int_equal(count_temporaries(f->base), 0);
	cleanup_free char *text = NULL;
	assert_int_equal(read_file(f->target, &text, NULL, NULL), 0);
	assert_string_equal(text, "the previous archive");
	assert_int_equal(unlink(evil), 0);

	put_text(f->dir, "unknown.txt", "x");
	assert_true(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_NONE, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "`unknown.txt` does not belong in a checkpoint archive"));
	cryo_error_free(&err);
	assert_int_equal(count_temporaries(f->base), 0);
	free(text);
	text = NULL;
	assert_int_equal(read_file(f->target, &text, NULL, NULL), 0);
	assert_string_equal(text, "the previous archive");
}

/* A directory root cannot write to: immutable (chattr +i). */
static void unwritable_directory(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *locked = join(f->base, "locked");
	assert_int_equal(mkdir(locked, 0700), 0);
	put_text(locked, "checkpoint.tar", "the previous archive");
	cleanup_close int fd = open(locked, O_RDONLY | O_DIRECTORY);
	int attr = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &attr) < 0) {
		skip(); /* no attribute support on this file system */
		return;
	}
	attr |= FS_IMMUTABLE_FL;
	if (ioctl(fd, FS_IOC_SETFLAGS, &attr) < 0) {
		skip();
		return;
	}
	cleanup_free char *target = join(locked, "checkpoint.tar");
	cryo_err err = NULL;
	int r = checkpoint_archive_write(f->dir, target, CHECKPOINT_COMPRESSION_ZSTD, NULL, NULL, &err);
	attr &= ~FS_IMMUTABLE_FL;
	assert_int_equal(ioctl(fd, FS_IOC_SETFLAGS, &attr), 0);
	assert_true(r < 0);
	assert_non_null(strstr(err->msg, "Operation not permitted"));
	cryo_error_free(&err);
	assert_int_equal(count_entries(locked), 1);
	cleanup_free char *text = NULL;
	assert_int_equal(read_file(target, &text, NULL, NULL), 0);
	assert_string_equal(text, "the previous archive");
}

/* ---- signatures ---- */

static struct signing_key *new_key(struct fixture *f, const char *name, unsigned char pub[TRUST_KEY_LEN])
{
	cleanup_free char *path = join(f->base, name);
	return testutil_signing_key(path, pub);
}

static int read_with(struct fixture *f, const struct trusted_keys *keys, bool insecure_unsigned,
                     struct checkpoint_archive_info *info, cryo_err *err)
{
	const struct checkpoint_archive_read_opts opts = {.keys = keys,
	                                                  .insecure_unsigned = insecure_unsigned};
	rm_rf(f->dest, NULL);
	assert_int_equal(mkdir(f->dest, 0700), 0);
	return checkpoint_archive_read(f->target, f->dest, &opts, info, err);
}

static void signed_archive_trust(void **state)
{
	struct fixture *f = *state;
	unsigned char pub[TRUST_KEY_LEN], other_pub[TRUST_KEY_LEN];
	struct signing_key *key = new_key(f, "k.pem", pub);
	struct signing_key *other = new_key(f, "other.pem", other_pub);
	struct trusted_key tk = {.comment = (char *)"test"};
	memcpy(tk.key, pub, TRUST_KEY_LEN);
	const struct trusted_keys trusted = {&tk, 1}, nobody = {NULL, 0};
	struct checkpoint_archive_info info;
	cryo_err err = NULL;

	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_ZSTD, key, NULL, NULL), 0);
	/* trusted: accepted */
	assert_int_equal(read_with(f, &trusted, false, &info, &err), 0);
	assert_int_equal(info.signature, CHECKPOINT_TRUSTED);
	assert_memory_equal(info.key, pub, TRUST_KEY_LEN);
	/* untrusted: refused with the fingerprint and how to trust it... */
	assert_true(read_with(f, &nobody, false, &info, &err) < 0);
	cleanup_free char *fp = trust_fingerprint(pub);
	assert_non_null(strstr(err->msg, fp));
	assert_non_null(strstr(err->msg, "cryo trust add"));
	cryo_error_free(&err);
	assert_int_equal(count_entries(f->dest), 0);
	/* ...unless the user says so */
	assert_int_equal(read_with(f, &nobody, true, &info, &err), 0);
	assert_int_equal(info.signature, CHECKPOINT_UNTRUSTED);

	/* unsigned: refused, or accepted with insecure_unsigned */
	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_NONE, NULL, NULL, NULL), 0);
	assert_true(read_with(f, &trusted, false, &info, &err) < 0);
	assert_non_null(strstr(err->msg, "not signed"));
	assert_non_null(strstr(err->msg, "--insecure-unsigned"));
	cryo_error_free(&err);
	assert_int_equal(read_with(f, &trusted, true, &info, &err), 0);
	assert_int_equal(info.signature, CHECKPOINT_UNSIGNED);

	/* tampered after signing: refused even with insecure_unsigned */
	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_NONE, key, NULL, NULL), 0);
	cleanup_free char *data = NULL;
	size_t len = 0;
	assert_int_equal(read_file(f->target, &data, &len, NULL), 0);
	char *mark = memmem(data, len, PAGES_MARK, strlen(PAGES_MARK));
	assert_non_null(mark);
	{
		cleanup_close int fd = open(f->target, O_WRONLY);
		char flipped = (char)(mark[0] ^ 0x20);
		assert_int_equal(pwrite(fd, &flipped, 1, mark - data), 1);
	}
	assert_true(read_with(f, &trusted, true, &info, &err) < 0);
	assert_non_null(strstr(err->msg, "checksum mismatch"));
	cryo_error_free(&err);
	assert_int_equal(count_entries(f->dest), 0);

	/* a signature by another key over the same manifest does not verify */
	signing_key_free(other);
	signing_key_free(key);
}

static void forged_signature_refused(void **state)
{
	struct fixture *f = *state;
	unsigned char pub[TRUST_KEY_LEN], other_pub[TRUST_KEY_LEN];
	struct signing_key *key = new_key(f, "k.pem", pub);
	struct signing_key *other = new_key(f, "other.pem", other_pub);
	const struct item items[] = {{AE_IFREG, "config.dump", "{}", NULL}};
	make_archive(f, items, 1, "");
	/* Append a signature made by `other` but claiming `key`'s public key. */
	cleanup_free char *manifest = archive_member(f->target, "manifest.json");
	unsigned char sig[TRUST_SIG_LEN];
	assert_int_equal(signing_key_sign(other, manifest, strlen(manifest), sig, NULL), 0);
	cleanup_free char *pub64 = trust_base64(pub, TRUST_KEY_LEN);
	cleanup_free char *sig64 = trust_base64(sig, TRUST_SIG_LEN);
	cleanup_free char *sigjson =
	    xasprintf("{\"algorithm\":\"ed25519\",\"public_key\":\"%s\",\"signature\":\"%s\"}", pub64, sig64);
	const struct item with_sig[] = {{AE_IFREG, "config.dump", "{}", NULL},
	                                {AE_IFREG, "manifest.json", manifest, NULL},
	                                {AE_IFREG, "manifest.sig", sigjson, NULL}};
	cleanup_free char *index = archive_member(f->target, "index.json");
	make_archive_with_index(f, index, with_sig, 3, NULL);
	struct trusted_key tk = {.comment = (char *)"test"};
	memcpy(tk.key, pub, TRUST_KEY_LEN);
	const struct trusted_keys trusted = {&tk, 1};
	cryo_err err = NULL;
	assert_true(read_with(f, &trusted, true, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "the signature does not match the manifest"));
	cryo_error_free(&err);
	signing_key_free(other);
	signing_key_free(key);
}

/* ---- limits and the index ---- */

static void limits_refuse_before_writing(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_NONE, NULL, NULL, NULL), 0);
	struct extract_limits ok;
	extract_limits_from_config(NULL, &ok);
	struct {
		struct extract_limits limits;
		const char *needle;
	} cases[] = {
	    {{ok.max_total_size, 5, ok.max_path_depth, ok.max_name_length}, "`import.max_entries`"},
	    {{PAGES_SIZE, ok.max_entries, ok.max_path_depth, ok.max_name_length}, "`import.max_total_size`"},
	    {{ok.max_total_size, ok.max_entries, 1, ok.max_name_length}, "`import.max_path_depth`"},
	    {{ok.max_total_size, ok.max_entries, ok.max_path_depth, 12}, "`import.max_name_length`"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct checkpoint_archive_read_opts opts = {.limits = &cases[i].limits,
		                                                  .insecure_unsigned = true};
		cryo_err err = NULL;
		assert_true(checkpoint_archive_read(f->target, f->dest, &opts, NULL, &err) < 0);
		if (!strstr(err->msg, cases[i].needle) || !strstr(err->msg, "entry `index.json`: index"))
			fail_msg("case %zu: `%s` does not mention %s in the index", i, err->msg,
			         cases[i].needle);
		cryo_error_free(&err);
		assert_int_equal(count_entries(f->dest), 0);
	}
}

static void header_must_match_index(void **state)
{
	struct fixture *f = *state;
	const struct item items[] = {{AE_IFREG, "config.dump", "{\"a\":1}", NULL}};
	/* The index announces 2 bytes, the entry's header 7. */
	make_archive_with_index(f,
	                        "{\"format\":\"cryo-checkpoint\",\"version\":2,\"total_size\":2,\"entries\":"
	                        "[{\"name\":\"config.dump\",\"type\":\"file\",\"size\":2}]}",
	                        items, 1, "");
	assert_read_fails(f, "entry `config.dump`: its header says 7 bytes, the index 2");

	/* Not in the index at all. */
	make_archive_with_index(
	    f, "{\"format\":\"cryo-checkpoint\",\"version\":2,\"total_size\":0,\"entries\":[]}", items, 1,
	    "");
	assert_read_fails(f, "entry `config.dump`: not listed in the archive's index");

	/* In the index, never in the archive. */
	make_archive_with_index(f,
	                        "{\"format\":\"cryo-checkpoint\",\"version\":2,\"total_size\":7,\"entries\":"
	                        "[{\"name\":\"config.dump\",\"type\":\"file\",\"size\":7},"
	                        "{\"name\":\"checkpoint\",\"type\":\"directory\"}]}",
	                        items, 1, "");
	assert_read_fails(f, "entry `checkpoint`: listed in the index but missing from the archive");

	/* The index must come first. */
	const struct item late[] = {{AE_IFREG, "index.json", "{}", NULL}};
	make_archive_with_index(f, "{}", late, 1, "");
	assert_read_fails(f, "entry `index.json`");
}

static void compression_levels(void **state)
{
	(void)state;
	enum checkpoint_compression c;
	int level;
	assert_int_equal(checkpoint_compression_parse_level("zstd:19", &c, &level), 0);
	assert_int_equal(c, CHECKPOINT_COMPRESSION_ZSTD);
	assert_int_equal(level, 19);
	assert_int_equal(checkpoint_compression_parse_level("none", &c, &level), 0);
	assert_int_equal(c, CHECKPOINT_COMPRESSION_NONE);
	assert_int_equal(level, 0);
	static const char *const bad[] = {"zstd:",   "zstd:0", "zstd:20", "zstd:3x",
	                                  "zstd:-1", "gzip:5", "zstd9"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (checkpoint_compression_parse_level(bad[i], &c, &level) == 0)
			fail_msg("accepted `%s`", bad[i]);
}

/* The stream form: written into a pipe by one process, read from it by
 * another, in one pass (the pages are larger than a pipe's buffer, so both
 * must run at once). */
static void stream_roundtrip(void **state)
{
	struct fixture *f = *state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		int r = checkpoint_archive_write_fd(f->dir, p[1], "the pipe", CHECKPOINT_COMPRESSION_ZSTD, 3,
		                                    NULL, NULL, NULL);
		_exit(r == 0 ? 0 : 1);
	}
	close(p[1]);
	struct checkpoint_archive_info info;
	cryo_err err = NULL;
	int r = checkpoint_archive_read_fd(p[0], "the pipe", f->dest, &insecure, &info, &err);
	if (r < 0)
		fail_msg("%s", err->msg);
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(layout); i++)
		assert_same_file(f->dir, f->dest, layout[i]);
}

/* A stream cut short anywhere (here: at half its length) is refused with the
 * stream named, and nothing of it is kept. */
static void stream_cut_short_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(
	    checkpoint_archive_write(f->dir, f->target, CHECKPOINT_COMPRESSION_NONE, NULL, NULL, NULL), 0);
	cleanup_free char *data = NULL;
	size_t len = 0;
	assert_int_equal(read_file(f->target, &data, &len, NULL), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		size_t off = 0, half = len / 2;
		while (off < half) {
			ssize_t n = write(p[1], data + off, half - off);
			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
		_exit(0);
	}
	close(p[1]);
	cryo_err err = NULL;
	assert_true(checkpoint_archive_read_fd(p[0], "the pipe", f->dest, &insecure, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "the pipe"));
	cryo_error_free(&err);
	close(p[0]);
	waitpid(pid, NULL, 0);
	assert_int_equal(count_entries(f->dest), 0);
}

/* Write len bytes of data into a pipe from a child; returns its pid and the
 * read end. */
static pid_t feed_pipe(const char *data, size_t len, int *read_end)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		size_t off = 0;
		while (off < len) {
			ssize_t n = write(p[1], data + off, len - off);
			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
		_exit(0);
	}
	close(p[1]);
	*read_end = p[0];
	return pid;
}

/* A framed stream (a migration's handover): the reader takes exactly the
 * archive, whatever the compressor's trailer, and leaves what follows it on
 * the descriptor (the handover's message); without its end frame it is
 * refused. */
static void framed_stream_leaves_what_follows(void **state)
{
	struct fixture *f = *state;
	static const enum checkpoint_compression algs[] = {
	    CHECKPOINT_COMPRESSION_NONE, CHECKPOINT_COMPRESSION_GZIP, CHECKPOINT_COMPRESSION_ZSTD};
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
		int fd = open(f->target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(checkpoint_archive_write_fd_flags(f->dir, fd, "the file", algs[i], 0, NULL,
		                                                   CHECKPOINT_ARCHIVE_FRAMED, NULL, NULL),
		                 0);
		assert_int_equal(write(fd, "commit\n", 7), 7);
		close(fd);
		cleanup_free char *data = NULL;
		size_t len = 0;
		assert_int_equal(read_file(f->target, &data, &len, NULL), 0);

		int in;
		pid_t pid = feed_pipe(data, len, &in);
		cleanup_free char *dest = xasprintf("%s-framed%zu", f->dest, i);
		assert_int_equal(mkdir(dest, 0700), 0);
		cryo_err err = NULL;
		int r = checkpoint_archive_read_fd_flags(in, "the pipe", CHECKPOINT_ARCHIVE_FRAMED, dest,
		                                         &insecure, NULL, &err);
		if (r < 0)
			fail_msg("%s", err->msg);
		char rest[16] = {0};
		assert_int_equal(read(in, rest, sizeof(rest) - 1), 7);
		assert_string_equal(rest, "commit\n");
		close(in);
		waitpid(pid, NULL, 0);
		for (size_t j = 0; j < ARRAY_SIZE(layout); j++)
			assert_same_file(f->dir, dest, layout[j]);
		rm_rf(dest, NULL);

		/* without its end frame (the 4 bytes before the message) */
		pid = feed_pipe(data, len - 7 - 4, &in);
		assert_int_equal(mkdir(dest, 0700), 0);
		assert_true(checkpoint_archive_read_fd_flags(in, "the pipe", CHECKPOINT_ARCHIVE_FRAMED, dest,
		                                             &insecure, NULL, &err) < 0);
		assert_non_null(strstr(err->msg, "the pipe"));
		cryo_error_free(&err);
		assert_int_equal(count_entries(dest), 0);
		close(in);
		waitpid(pid, NULL, 0);
		rm_rf(dest, NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(compression_names),
	    cmocka_unit_test(compression_levels),
	    cmocka_unit_test_setup_teardown(roundtrip_none, setup, teardown),
	    cmocka_unit_test_setup_teardown(roundtrip_gzip, setup, teardown),
	    cmocka_unit_test_setup_teardown(roundtrip_zstd, setup, teardown),
	    cmocka_unit_test_setup_teardown(stream_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(stream_cut_short_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(framed_stream_leaves_what_follows, setup, teardown),
	    cmocka_unit_test_setup_teardown(rewrite_replaces_target, setup, teardown),
	    cmocka_unit_test_setup_teardown(flipped_byte_detected, setup, teardown),
	    cmocka_unit_test_setup_teardown(truncated_detected, setup, teardown),
	    cmocka_unit_test_setup_teardown(hand_made_archive_accepted, setup, teardown),
	    cmocka_unit_test_setup_teardown(missing_manifest, setup, teardown),
	    cmocka_unit_test_setup_teardown(entry_not_in_manifest, setup, teardown),
	    cmocka_unit_test_setup_teardown(manifest_entry_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(wrong_size_in_manifest, setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_format_or_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(entry_after_manifest, setup, teardown),
	    cmocka_unit_test_setup_teardown(hostile_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(not_an_archive, setup, teardown),
	    cmocka_unit_test_setup_teardown(failed_write_keeps_target, setup, teardown),
	    cmocka_unit_test_setup_teardown(unwritable_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(signed_archive_trust, setup, teardown),
	    cmocka_unit_test_setup_teardown(forged_signature_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(limits_refuse_before_writing, setup, teardown),
	    cmocka_unit_test_setup_teardown(header_must_match_index, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
