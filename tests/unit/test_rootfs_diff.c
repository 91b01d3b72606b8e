/* Tests for rootfs_diff.c and safe_extract.c: capture a fake overlayfs upper
 * dir, apply it to a fresh one and compare the trees; hostile deleted lists
 * and hostile tars must be refused without writing outside the destination.
 * Needs root (mknod, chown, trusted.* extended attributes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "rootfs_diff.h"
#include "safe_extract.h"
#include "util.h"

struct fixture {
	char *base;
	char *upper;    /* the captured upper dir */
	char *restored; /* where a capture is applied */
	char *outside;  /* must never change: holds a sentinel */
	char *tar;
	char *deleted;
};

static char *join(const char *a, const char *b)
{
	return xasprintf("%s/%s", a, b);
}

static void write_text(const char *dir, const char *rel, const char *text, mode_t mode)
{
	cleanup_free char *path = join(dir, rel);
	assert_int_equal(write_file(path, text, strlen(text), mode, NULL), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void make_dir(const char *dir, const char *rel, mode_t mode)
{
	cleanup_free char *path = join(dir, rel);
	assert_int_equal(mkdir(path, mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void set_mtime(const char *dir, const char *rel, time_t sec, long nsec)
{
	cleanup_free char *path = join(dir, rel);
	struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = xstrdup("/var/tmp/cryo-test-rootfs-diff.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	f->upper = join(f->base, "upper");
	f->restored = join(f->base, "restored");
	f->outside = join(f->base, "outside");
	f->tar = join(f->base, "rootfs-diff.tar");
	f->deleted = join(f->base, "deleted.files");
	assert_int_equal(mkdir(f->upper, 0755), 0);
	assert_int_equal(mkdir(f->restored, 0700), 0);
	assert_int_equal(mkdir(f->outside, 0755), 0);
	write_text(f->outside, "sentinel", "untouched", 0644);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rm_rf(f->base, NULL), 0);
	free(f->base);
	free(f->upper);
	free(f->restored);
	free(f->outside);
	free(f->tar);
	free(f->deleted);
	free(f);
	return 0;
}

/* The outside directory holds exactly its sentinel, unchanged. */
static void assert_outside_untouched(struct fixture *f)
{
	cleanup_dir DIR *dir = opendir(f->outside);
	assert_non_null(dir);
	int entries = 0;
	struct dirent *de;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			entries++;
	assert_int_equal(entries, 1);
	cleanup_free char *path = join(f->outside, "sentinel");
	cleanup_free char *text = NULL;
	assert_int_equal(read_file(path, &text, NULL, NULL), 0);
	assert_string_equal(text, "untouched");
}

/* A fake upper dir with one of everything the capture must handle. */
static void build_upper(struct fixture *f)
{
	const char *u = f->upper;
	make_dir(u, "etc", 0755);
	write_text(u, "etc/added", "a new file\n", 0640);
	cleanup_free char *added = join(u, "etc/added");
	assert_int_equal(chown(added, 1000, 1001), 0);
	write_text(u, "etc/motd", "modified message of the day\n", 0644);
	cleanup_free char *issue = join(u, "etc/issue");
	assert_int_equal(mknod(issue, S_IFCHR | 0000, makedev(0, 0)), 0);
	cleanup_free char *raw_whiteout = join(u, "etc/raw\xfe name");
	assert_int_equal(mknod(raw_whiteout, S_IFCHR | 0000, makedev(0, 0)), 0);
	write_text(u, "etc/hostname", "skipped\n", 0644);

	make_dir(u, "var", 0755);
	make_dir(u, "var/cache", 0700);
	cleanup_free char *cache = join(u, "var/cache");
	assert_int_equal(setxattr(cache, "trusted.overlay.opaque", "y", 1, 0), 0);
	assert_int_equal(chown(cache, 123, 456), 0);
	write_text(u, "var/cache/fresh", "new content in a replaced dir\n", 0600);

	make_dir(u, "usr", 0755);
	make_dir(u, "usr/bin", 0755);
	cleanup_free char *sh = join(u, "usr/bin/sh");
	assert_int_equal(symlink("/bin/busybox", sh), 0);

	make_dir(u, "data", 0755);
	write_text(u, "data/first", "shared inode\n", 0644);
	cleanup_free char *first = join(u, "data/first");
	cleanup_free char *second = join(u, "data/second");
	assert_int_equal(link(first, second), 0);
	cleanup_free char *fifo = join(u, "data/fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	cleanup_free char *dev = join(u, "data/null");
	assert_int_equal(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0);
	write_text(u, "data/attrs", "with extended attributes\n", 0644);
	cleanup_free char *attrs = join(u, "data/attrs");
	assert_int_equal(setxattr(attrs, "user.x", "value\0binary", 12, 0), 0);
	/* overlayfs bookkeeping that must not travel */
	assert_int_equal(setxattr(attrs, "trusted.overlay.origin", "\0\1\2", 3, 0), 0);
	write_text(u, "data/setuid", "#!/bin/sh\n", 04755);

	/* 8 MiB sparse file: 4 KiB of data at 2 MiB. */
	cleanup_free char *sparse = join(u, "data/sparse");
	cleanup_close int fd = open(sparse, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	char block[4096];
	memset(block, 'S', sizeof(block));
	assert_int_equal(pwrite(fd, block, sizeof(block), 2 << 20), sizeof(block));
	assert_int_equal(ftruncate(fd, 8 << 20), 0);
	/* all hole; and data at the very end */
	cleanup_free char *hole = join(u, "data/hole");
	cleanup_close int hole_fd = open(hole, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(ftruncate(hole_fd, 8 << 20), 0);
	cleanup_free char *tail = join(u, "data/tail");
	cleanup_close int tail_fd = open(tail, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(pwrite(tail_fd, block, sizeof(block), 4 << 20), sizeof(block));

	/* A name longer than ustar's 100 bytes and names that are not ASCII. */
	char longname[200];
	memset(longname, 'l', 150);
	longname[150] = '\0';
	cleanup_free char *longrel = xasprintf("data/%s", longname);
	write_text(u, longrel, "long\n", 0644);
	write_text(u, "data/caf\xc3\xa9", "utf-8\n", 0644);
	write_text(u, "data/raw\xff", "latin-1\n", 0644);

	set_mtime(u, "etc/motd", 1600000000, 123456789);
	set_mtime(u, "usr/bin/sh", 1500000000, 42);
	set_mtime(u, "var/cache", 1400000000, 999999999);
	set_mtime(u, "etc", 1300000000, 1);
	assert_int_equal(chmod(u, 0751), 0);
}

static void read_xattrs(const char *path, struct json_object *out)
{
	char names[4096];
	ssize_t n = llistxattr(path, names, sizeof(names));
	assert_true(n >= 0);
	for (char *name = names; name < names + n; name += strlen(name) + 1) {
		if (str_has_prefix(name, "trusted.overlay.") && strcmp(name, "trusted.overlay.opaque") != 0)
			continue;
		char value[4096];
		ssize_t len = lgetxattr(path, name, value, sizeof(value));
		assert_true(len >= 0);
		cleanup_free char *hex = xmalloc((size_t)len * 2 + 1);
		for (ssize_t i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", (unsigned char)value[i]);
		hex[len * 2] = '\0';
		json_object_object_add(out, name, json_object_new_string(hex));
	}
}

/* Describe one entry (type, mode, owner, mtime, content, xattrs, inode group)
 * as JSON so that two trees compare as strings. */
static struct json_object *describe(const char *path, const struct stat *st)
{
	struct json_object *d = json_object_new_object();
	json_object_object_add(d, "mode", json_object_new_int((int)st->st_mode));
	json_object_object_add(d, "uid", json_object_new_int((int)st->st_uid));
	json_object_object_add(d, "gid", json_object_new_int((int)st->st_gid));
	/* A whiteout's own times are invisible in the container and not kept. */
	bool whiteout = S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
	cleanup_free char *mtime =
	    xasprintf("%lld.%09ld", (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	if (!whiteout)
		json_object_object_add(d, "mtime", json_object_new_string(mtime));
	if (S_ISREG(st->st_mode)) {
		char sha[DIGEST_HEX_LEN + 1];
		assert_int_equal(digest_file(path, sha, NULL), 0);
		json_object_object_add(d, "size", json_object_new_int64((int64_t)st->st_size));
		json_object_object_add(d, "sha256", json_object_new_string(sha));
		json_object_object_add(d, "nlink", json_object_new_int((int)st->st_nlink));
	}
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		assert_true(n >= 0);
		target[n] = '\0';
		json_object_object_add(d, "target", json_object_new_string(target));
	}
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		cleanup_free char *rdev = xasprintf("%u:%u", major(st->st_rdev), minor(st->st_rdev));
		json_object_object_add(d, "rdev", json_object_new_string(rdev));
	}
	struct json_object *x = json_object_new_object();
	read_xattrs(path, x);
	json_object_object_add(d, "xattrs", x);
	return d;
}

static void describe_tree(const char *root, const char *rel, char ***lines)
{
	cleanup_free char *path = rel[0] ? join(root, rel) : xstrdup(root);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	struct json_object *d = describe(path, &st);
	cleanup_free char *line = xasprintf("%s %s", rel[0] ? rel : ".", json_object_to_json_string(d));
	json_object_put(d);
	strv_push(lines, line);
	if (!S_ISDIR(st.st_mode))
		return;
	cleanup_dir DIR *dir = opendir(path);
	assert_non_null(dir);
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		cleanup_free char *child = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		describe_tree(root, child, lines);
	}
}

static int compare_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line per entry, sorted by name. */
static char *tree_json(const char *root)
{
	cleanup_strv char **lines = NULL;
	describe_tree(root, "", &lines);
	qsort(lines, strv_len(lines), sizeof(char *), compare_lines);
	char *out = xstrdup("");
	for (size_t i = 0; lines[i]; i++) {
		char *next = xasprintf("%s%s\n", out, lines[i]);
		free(out);
		out = next;
	}
	return out;
}

static char **tar_names(const char *tar_path)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, tar_path, 1 << 16), ARCHIVE_OK);
	char **names = NULL;
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		strv_push(&names, archive_entry_pathname(e));
		const char *name, *value;
		size_t size;
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &name, (const void **)&value, &size) == ARCHIVE_OK)
			assert_false(str_has_prefix(name, "trusted.overlay."));
	}
	assert_int_equal(r, ARCHIVE_EOF);
	archive_read_free(a);
	return names;
}

static bool strv_contains(char **strv, const char *s)
{
	for (size_t i = 0; strv && strv[i]; i++)
		if (strcmp(strv[i], s) == 0)
			return true;
	return false;
}

static void assert_same_tree(const char *want_root, const char *got_root)
{
	cleanup_free char *want = tree_json(want_root);
	cleanup_free char *got = tree_json(got_root);
	if (strcmp(want, got) != 0) {
		write_file("/tmp/cryo-test-tree-want", want, strlen(want), 0644, NULL);
		write_file("/tmp/cryo-test-tree-got", got, strlen(got), 0644, NULL);
		fail_msg("trees differ: diff /tmp/cryo-test-tree-want /tmp/cryo-test-tree-got");
	}
}

static void capture_apply_roundtrip(void **state)
{
	struct fixture *f = *state;
	build_upper(f);
	char *skip[] = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", NULL};
	struct rootfs_diff_stats stats = {0};
	cryo_err err = NULL;
	int r = rootfs_diff_capture(f->upper, skip, f->tar, f->deleted, &stats, &err);
	assert_null(err ? err->msg : NULL);
	assert_int_equal(r, 0);
	assert_int_equal(stats.deleted, 3);
	assert_int_equal(stats.dirs, 7); /* ., etc, var, var/cache, usr, usr/bin, data */
	assert_true(stats.files >= 13);

	/* deleted.files: exactly the whiteouts and the opaque dir */
	cleanup_free char *text = NULL;
	assert_int_equal(read_file(f->deleted, &text, NULL, NULL), 0);
	struct json_object *list = json_tokener_parse(text);
	assert_non_null(list);
	assert_int_equal(json_object_array_length(list), 3);
	cleanup_strv char **deleted = NULL;
	for (size_t i = 0; i < 3; i++)
		strv_push(&deleted, json_object_get_string(json_object_array_get_idx(list, i)));
	assert_true(strv_contains(deleted, "/etc/issue"));
	assert_true(strv_contains(deleted, "/etc/raw\xfe name"));
	assert_true(strv_contains(deleted, "/var/cache"));
	json_object_put(list);

	/* the tar: no whiteout, no skipped file, no overlayfs attributes */
	cleanup_strv char **names = tar_names(f->tar);
	assert_true(strv_contains(names, "etc/motd"));
	assert_true(strv_contains(names, "var/cache/"));
	assert_false(strv_contains(names, "etc/hostname"));
	assert_false(strv_contains(names, "etc/issue"));
	struct stat st;
	assert_int_equal(stat(f->tar, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_size < (1 << 20)); /* the sparse file's hole is not stored */

	r = rootfs_diff_apply(f->tar, f->deleted, f->restored, NULL, &err);
	assert_null(err ? err->msg : NULL);
	assert_int_equal(r, 0);

	/* Same tree, minus the skipped file. */
	cleanup_free char *hostname = join(f->upper, "etc/hostname");
	assert_int_equal(unlink(hostname), 0);
	set_mtime(f->upper, "etc", 1300000000, 1); /* unlink touched it */
	assert_same_tree(f->upper, f->restored);

	/* things tree_json does not show */
	cleanup_free char *first = join(f->restored, "data/first");
	cleanup_free char *second = join(f->restored, "data/second");
	struct stat a, b;
	assert_int_equal(stat(first, &a), 0);
	assert_int_equal(stat(second, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	cleanup_free char *sparse = join(f->restored, "data/sparse");
	assert_int_equal(stat(sparse, &a), 0);
	assert_int_equal(a.st_size, 8 << 20);
	assert_true(a.st_blocks * 512 < (1 << 20));
	cleanup_free char *sparse_text = NULL;
	size_t len = 0;
	assert_int_equal(read_file(sparse, &sparse_text, &len, NULL), 0);
	assert_int_equal(len, 8 << 20);
	assert_int_equal(sparse_text[(2 << 20) - 1], 0);
	assert_int_equal(sparse_text[2 << 20], 'S');
	assert_int_equal(sparse_text[(2 << 20) + 4095], 'S');
	assert_int_equal(sparse_text[(2 << 20) + 4096], 0);
	assert_outside_untouched(f);
}

/* Negative control for the comparison itself: a change in the restored tree
 * must show. */
static void tree_comparison_sees_differences(void **state)
{
	struct fixture *f = *state;
	write_text(f->upper, "file", "x", 0644);
	write_text(f->restored, "file", "x", 0644);
	assert_int_equal(chmod(f->restored, 0755), 0);
	set_mtime(f->upper, "file", 1, 0);
	set_mtime(f->restored, "file", 1, 0);
	set_mtime(f->upper, ".", 1, 0);
	set_mtime(f->restored, ".", 1, 0);
	cleanup_free char *same_a = tree_json(f->upper);
	cleanup_free char *same_b = tree_json(f->restored);
	assert_string_equal(same_a, same_b);
	cleanup_free char *path = join(f->restored, "file");
	assert_int_equal(setxattr(path, "user.y", "1", 1, 0), 0);
	cleanup_free char *diff = tree_json(f->restored);
	assert_string_not_equal(same_a, diff);
}

static void skip_paths_validated(void **state)
{
	struct fixture *f = *state;
	cryo_err err = NULL;
	char *relative[] = {"etc/hostname", NULL};
	assert_true(rootfs_diff_capture(f->upper, relative, f->tar, f->deleted, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "not an absolute path"));
	cryo_error_free(&err);
	char *dotdot[] = {"/etc/../x", NULL};
	assert_true(rootfs_diff_capture(f->upper, dotdot, f->tar, f->deleted, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "`..`"));
	cryo_error_free(&err);
	assert_false(path_exists(f->tar));
}

static void redirect_dirs_refused(void **state)
{
	struct fixture *f = *state;
	make_dir(f->upper, "moved", 0755);
	cleanup_free char *moved = join(f->upper, "moved");
	assert_int_equal(setxattr(moved, "trusted.overlay.redirect", "/orig", 5, 0), 0);
	cryo_err err = NULL;
	assert_true(rootfs_diff_capture(f->upper, NULL, f->tar, f->deleted, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "trusted.overlay.redirect"));
	cryo_error_free(&err);
	assert_false(path_exists(f->tar));
	assert_false(path_exists(f->deleted));
}

static void write_deleted(struct fixture *f, const char *json)
{
	assert_int_equal(write_file(f->deleted, json, strlen(json), 0600, NULL), 0);
}

/* A capture whose tar holds a symlink to the outside directory. */
static void capture_with_escape_link(struct fixture *f)
{
	cleanup_free char *evil = join(f->upper, "evil");
	assert_int_equal(symlink(f->outside, evil), 0);
	cleanup_free char *rel = join(f->upper, "relevil");
	assert_int_equal(symlink("../outside", rel), 0);
	make_dir(f->upper, "ok", 0755);
	assert_int_equal(rootfs_diff_capture(f->upper, NULL, f->tar, f->deleted, NULL, NULL), 0);
}

static void assert_apply_fails(struct fixture *f, const char *deleted_json, const char *needle)
{
	cleanup_free char *fresh = join(f->base, "fresh");
	rm_rf(fresh, NULL);
	assert_int_equal(mkdir(fresh, 0700), 0);
	write_deleted(f, deleted_json);
	cryo_err err = NULL;
	assert_true(rootfs_diff_apply(f->tar, f->deleted, fresh, NULL, &err) < 0);
	assert_non_null(err);
	if (!strstr(err->msg, needle))
		fail_msg("error `%s` does not mention `%s`", err->msg, needle);
	cryo_error_free(&err);
	assert_outside_untouched(f);
}

static void hostile_deleted_lists(void **state)
{
	struct fixture *f = *state;
	capture_with_escape_link(f);

	assert_apply_fails(f, "[\"../x\"]", "deleted path `../x`: not an absolute path");
	assert_apply_fails(f, "[\"/ok/x\", \"/../../outside/x\"]", "deleted path `/../../outside/x`: `..`");
	assert_apply_fails(f, "[\"/ok/../../outside/x\"]", "`..`");
	assert_apply_fails(f, "[\"/evil/x\"]", "deleted path `/evil/x`: goes through symbolic link `evil`");
	assert_apply_fails(f, "[\"/relevil/x\"]", "goes through symbolic link `relevil`");
	assert_apply_fails(f, "[\"/evil/sub/x\"]", "symbolic link `evil`");
	assert_apply_fails(f, "[\"/\"]", "the root cannot be deleted");
	assert_apply_fails(f, "{\"x\": 1}", "not a JSON array");
	assert_apply_fails(f, "[1]", "not a string");
	/* a whiteout over the symlink itself is fine: it is inside */
	cleanup_free char *fresh = join(f->base, "fresh2");
	assert_int_equal(mkdir(fresh, 0700), 0);
	write_deleted(f, "[\"/ok/x\", \"/new/parent/y\"]");
	cryo_err err = NULL;
	assert_int_equal(rootfs_diff_apply(f->tar, f->deleted, fresh, NULL, &err), 0);
	cleanup_free char *wh = join(fresh, "new/parent/y");
	struct stat st;
	assert_int_equal(lstat(wh, &st), 0);
	assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
	assert_outside_untouched(f);
}

/* ---- hostile tars for safe_extract_tar ---- */

struct tar_item {
	mode_t type;
	const char *name;
	const char *link; /* symlink target or hard link target */
	const char *data;
};

static void write_tar(const char *path, const struct tar_item *items, size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, items[i].name);
		archive_entry_set_filetype(e, items[i].type);
		archive_entry_set_perm(e, 0644);
		if (items[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, items[i].link);
		else if (items[i].link)
			archive_entry_set_hardlink(e, items[i].link);
		size_t len = items[i].data ? strlen(items[i].data) : 0;
		archive_entry_set_size(e, (la_int64_t)len);
		assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
		if (len)
			assert_int_equal(archive_write_data(a, items[i].data, len), (la_ssize_t)len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void assert_extract_fails(struct fixture *f, const struct tar_item *items, size_t n,
                                 const char *needle)
{
	cleanup_free char *tar = join(f->base, "hostile.tar");
	write_tar(tar, items, n);
	cleanup_free char *dest = join(f->base, "dest");
	rm_rf(dest, NULL);
	assert_int_equal(mkdir(dest, 0700), 0);
	char cwd_before[4096], cwd_after[4096];
	assert_non_null(getcwd(cwd_before, sizeof(cwd_before)));
	cryo_err err = NULL;
	assert_true(safe_extract_tar(tar, dest, 0, &err) < 0);
	assert_non_null(err);
	if (!strstr(err->msg, needle))
		fail_msg("error `%s` does not mention `%s`", err->msg, needle);
	cryo_error_free(&err);
	assert_non_null(getcwd(cwd_after, sizeof(cwd_after)));
	assert_string_equal(cwd_before, cwd_after);
	assert_outside_untouched(f);
}

static void hostile_tars(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *abs_target = join(f->outside, "abs");
	cleanup_free char *abs_sentinel = join(f->outside, "sentinel");
	const struct tar_item dotdot[] = {{AE_IFREG, "../outside/evil", NULL, "x"}};
	assert_extract_fails(f, dotdot, 1, "entry `../outside/evil`: `..` path component");
	const struct tar_item deep_dotdot[] = {{AE_IFDIR, "a", NULL, NULL},
	                                       {AE_IFREG, "a/../../evil", NULL, "x"}};
	assert_extract_fails(f, deep_dotdot, 2, "entry `a/../../evil`: `..`");
	const struct tar_item absolute[] = {{AE_IFREG, abs_target, NULL, "x"}};
	assert_extract_fails(f, absolute, 1, "absolute path");
	const struct tar_item through_link[] = {
	    {AE_IFLNK, "link", f->outside, NULL},
	    {AE_IFREG, "link/evil", NULL, "x"},
	};
	assert_extract_fails(f, through_link, 2, "entry `link/evil`: path goes through symbolic link `link`");
	const struct tar_item through_relative_link[] = {
	    {AE_IFDIR, "d", NULL, NULL},
	    {AE_IFLNK, "d/up", "../../outside", NULL},
	    {AE_IFREG, "d/up/evil", NULL, "x"},
	};
	assert_extract_fails(f, through_relative_link, 3, "symbolic link `d/up`");
	const struct tar_item hardlink_out[] = {{AE_IFREG, "h", "../outside/sentinel", NULL}};
	assert_extract_fails(f, hardlink_out, 1, "entry `h`: hard link target `../outside/sentinel`: `..`");
	const struct tar_item hardlink_abs[] = {{AE_IFREG, "h", abs_sentinel, NULL}};
	assert_extract_fails(f, hardlink_abs, 1, "hard link target");
	const struct tar_item hardlink_via_link[] = {
	    {AE_IFLNK, "link", f->outside, NULL},
	    {AE_IFREG, "h", "link/sentinel", NULL},
	};
	assert_extract_fails(f, hardlink_via_link, 2,
	                     "hard link target `link/sentinel` goes through symbolic link");
	const struct tar_item hardlink_missing[] = {{AE_IFREG, "h", "nothing", NULL}};
	assert_extract_fails(f, hardlink_missing, 1, "is not in the archive");
	/* Hard links only to regular files. (A link entry with data of its own
	 * is refused too, but libarchive's writer cannot make one.) */
	const struct tar_item hardlink_to_symlink[] = {
	    {AE_IFLNK, "s", abs_sentinel, NULL},
	    {AE_IFREG, "h", "s", NULL},
	};
	assert_extract_fails(f, hardlink_to_symlink, 2, "entry `h`: hard link target `s` is a symbolic link");
	const struct tar_item hardlink_to_fifo[] = {
	    {AE_IFIFO, "p", NULL, NULL},
	    {AE_IFREG, "h", "p", NULL},
	};
	assert_extract_fails(f, hardlink_to_fifo, 2, "entry `h`: hard link target `p` is not a regular file");

	/* A directory entry over a symlink replaces the link; it is never
	 * followed, so the file lands inside. */
	const struct tar_item dir_over_link[] = {
	    {AE_IFLNK, "a", f->outside, NULL},
	    {AE_IFDIR, "a", NULL, NULL},
	    {AE_IFREG, "a/inside", NULL, "x"},
	};
	cleanup_free char *over_tar = join(f->base, "over.tar");
	write_tar(over_tar, dir_over_link, ARRAY_SIZE(dir_over_link));
	cleanup_free char *over_dest = join(f->base, "dest-over");
	assert_int_equal(mkdir(over_dest, 0700), 0);
	assert_int_equal(safe_extract_tar(over_tar, over_dest, 0, NULL), 0);
	cleanup_free char *inside = join(over_dest, "a/inside");
	assert_true(path_exists(inside));
	assert_outside_untouched(f);

	/* Negative control: the same shapes without escaping extract fine. */
	const struct tar_item fine[] = {
	    {AE_IFDIR, "d", NULL, NULL},
	    {AE_IFLNK, "d/link", "../outside", NULL},
	    {AE_IFREG, "d/file", NULL, "data"},
	    {AE_IFREG, "d/hard", "d/file", NULL},
	    {AE_IFREG, "./dot/./slash//name", NULL, "ok"},
	};
	cleanup_free char *tar = join(f->base, "fine.tar");
	write_tar(tar, fine, ARRAY_SIZE(fine));
	cleanup_free char *dest = join(f->base, "dest-fine");
	assert_int_equal(mkdir(dest, 0700), 0);
	cryo_err err = NULL;
	int r = safe_extract_tar(tar, dest, 0, &err);
	assert_null(err ? err->msg : NULL);
	assert_int_equal(r, 0);
	cleanup_free char *hard = join(dest, "d/hard");
	cleanup_free char *content = NULL;
	assert_int_equal(read_file(hard, &content, NULL, NULL), 0);
	assert_string_equal(content, "data");
	cleanup_free char *odd = join(dest, "dot/slash/name");
	assert_true(path_exists(odd));
	assert_outside_untouched(f);
}

static void limits_enforced(void **state)
{
	struct fixture *f = *state;
	const struct tar_item items[] = {
	    {AE_IFDIR, "a", NULL, NULL},
	    {AE_IFDIR, "a/b", NULL, NULL},
	    {AE_IFREG, "a/b/file-with-a-long-name", NULL, "0123456789"},
	};
	cleanup_free char *tar = join(f->base, "limits.tar");
	write_tar(tar, items, ARRAY_SIZE(items));
	struct extract_limits ok;
	extract_limits_from_config(NULL, &ok);
	struct {
		struct extract_limits limits;
		const char *needle;
	} cases[] = {
	    {{ok.max_total_size, 2, ok.max_path_depth, ok.max_name_length}, "`import.max_entries`"},
	    {{9, ok.max_entries, ok.max_path_depth, ok.max_name_length}, "`import.max_total_size`"},
	    {{ok.max_total_size, ok.max_entries, 2, ok.max_name_length}, "`import.max_path_depth`"},
	    {{ok.max_total_size, ok.max_entries, ok.max_path_depth, 10}, "`import.max_name_length`"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *dest = xasprintf("%s/dest-limits-%zu", f->base, i);
		assert_int_equal(mkdir(dest, 0700), 0);
		cryo_err err = NULL;
		assert_true(safe_extract_tar_limited(tar, dest, 0, &cases[i].limits, &err) < 0);
		if (!strstr(err->msg, cases[i].needle))
			fail_msg("case %zu: `%s` does not mention %s", i, err->msg, cases[i].needle);
		cryo_error_free(&err);
	}
	/* Negative control: the defaults take it. */
	cleanup_free char *dest = join(f->base, "dest-limits-ok");
	assert_int_equal(mkdir(dest, 0700), 0);
	assert_int_equal(safe_extract_tar_limited(tar, dest, 0, &ok, NULL), 0);
}

static void devices_can_be_refused(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *tar = join(f->base, "dev.tar");
	const struct tar_item dev[] = {{AE_IFCHR, "null", NULL, NULL}};
	write_tar(tar, dev, 1);
	cleanup_free char *dest = join(f->base, "dest-dev");
	assert_int_equal(mkdir(dest, 0700), 0);
	cryo_err err = NULL;
	assert_true(safe_extract_tar(tar, dest, SAFE_EXTRACT_NO_DEVICES, &err) < 0);
	assert_non_null(strstr(err->msg, "entry `null`: device nodes are not allowed"));
	cryo_error_free(&err);
}

static void truncated_tar_refused(void **state)
{
	struct fixture *f = *state;
	write_text(f->upper, "big", "", 0644);
	cleanup_free char *big = join(f->upper, "big");
	cleanup_close int fd = open(big, O_WRONLY);
	char buf[65536];
	memset(buf, 'b', sizeof(buf));
	for (int i = 0; i < 8; i++)
		assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(volume_capture(f->upper, f->tar, NULL), 0);
	assert_int_equal(truncate(f->tar, 100000), 0);
	cryo_err err = NULL;
	assert_true(volume_restore(f->tar, f->restored, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "big"));
	cryo_error_free(&err);
}

static void volume_roundtrip(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(chmod(f->upper, 0700), 0);
	assert_int_equal(chown(f->upper, 999, 999), 0);
	write_text(f->upper, "PG_VERSION", "15\n", 0600);
	make_dir(f->upper, "base", 0700);
	cleanup_free char *dev = join(f->upper, "base/not-a-whiteout");
	assert_int_equal(mknod(dev, S_IFCHR | 0600, makedev(0, 0)), 0);
	cleanup_free char *base = join(f->upper, "base");
	assert_int_equal(setxattr(base, "trusted.overlay.opaque", "y", 1, 0), 0);
	assert_int_equal(setxattr(base, "trusted.other", "z", 1, 0), 0);
	assert_int_equal(setxattr(base, "user.note", "kept", 4, 0), 0);
	set_mtime(f->upper, "base", 1234567890, 5);
	set_mtime(f->upper, ".", 1234567890, 6);
	cryo_err err = NULL;
	assert_int_equal(volume_capture(f->upper, f->tar, &err), 0);
	assert_int_equal(volume_restore(f->tar, f->restored, NULL, &err), 0);
	/* The capture keeps every attribute; a restore drops the trusted.*
	 * ones (only the engine sets those) and keeps the rest. */
	char value[8];
	assert_int_equal(lgetxattr(base, "trusted.other", value, sizeof(value)), 1);
	assert_int_equal(removexattr(base, "trusted.overlay.opaque"), 0);
	assert_int_equal(removexattr(base, "trusted.other"), 0);
	set_mtime(f->upper, "base", 1234567890, 5);
	assert_same_tree(f->upper, f->restored);

	/* the same tar applied as a root file system diff without a deleted
	 * list gives the same tree */
	cleanup_free char *again = join(f->base, "again");
	assert_int_equal(mkdir(again, 0700), 0);
	assert_int_equal(rootfs_diff_apply(f->tar, NULL, again, NULL, &err), 0);
	assert_same_tree(f->upper, again);
}

/* Build a chain of `levels` directories named `name` below dir, with a file
 * "leaf" at the bottom. Built fd-relative: its paths outgrow PATH_MAX. */
static void build_chain(const char *dir, const char *name, int levels)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (int i = 0; i < levels; i++) {
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	int leaf = openat(fd, "leaf", O_WRONLY | O_CREAT, 0644);
	assert_true(leaf >= 0);
	assert_int_equal(write(leaf, "bottom\n", 7), 7);
	close(leaf);
	close(fd);
}

/* The names and types in a tar, one "TYPE NAME" line each. */
static char **tar_listing(const char *tar)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_all(a);
	assert_int_equal(archive_read_open_filename(a, tar, 1 << 16), ARCHIVE_OK);
	struct archive_entry *e;
	char **lines = xcalloc(1, sizeof(char *));
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		char *line = xasprintf("%o %s %lld", (unsigned)archive_entry_filetype(e),
		                       archive_entry_pathname(e), (long long)archive_entry_size(e));
		strv_push(&lines, line);
		free(line);
	}
	archive_read_free(a);
	return lines;
}

/* A deep tree (1500 levels, paths of 3000 bytes) is captured with a handful
 * of descriptors: the walk keeps one directory open, not one per level. */
static void deep_tree_few_descriptors(void **state)
{
	struct fixture *f = *state;
	build_chain(f->upper, "d", 1500);
	struct rlimit saved, tight;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	tight = saved;
	tight.rlim_cur = 32;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	cryo_err err = NULL;
	struct rootfs_diff_stats st;
	int r = rootfs_diff_capture(f->upper, NULL, f->tar, f->deleted, &st, &err);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	if (r < 0)
		fail_msg("capture failed: %s", err->msg);
	assert_int_equal(st.dirs, 1501);
	assert_int_equal(st.files, 1);
	cleanup_strv char **lines = tar_listing(f->tar);
	assert_int_equal(strv_len(lines), 1502);
	cleanup_free char *deepest = xstrdup("");
	for (int i = 0; i < 1500; i++) {
		char *next = xasprintf("%sd/", deepest);
		free(deepest);
		deepest = next;
	}
	cleanup_free char *want = xasprintf("100000 %sleaf 7", deepest);
	assert_string_equal(lines[1501], want);
}

/* Deeper than PATH_MAX (2100 levels of "d/"): refused cleanly and quickly,
 * naming the reason; no tar left. (The system tests try 30,000 levels.) */
static void too_deep_tree_refused(void **state)
{
	struct fixture *f = *state;
	build_chain(f->upper, "d", 2100);
	cryo_err err = NULL;
	int64_t start = now_monotonic_us();
	assert_int_equal(volume_capture(f->upper, f->tar, &err), -ENAMETOOLONG);
	assert_true(now_monotonic_us() - start < 5 * 1000000);
	assert_non_null(strstr(err->msg, "is longer than 4095 bytes inside the container"));
	assert_non_null(strstr(err->msg, "`/d/d/d/d/"));
	cryo_error_free(&err);
	assert_false(path_exists(f->tar));
}

/* Fifos and device nodes are recorded as what they are and never opened:
 * opening the fifo would block, reading the device would copy host data. */
static void special_files_recorded_not_opened(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *fifo = join(f->upper, "fifo");
	cleanup_free char *chr = join(f->upper, "zero");
	cleanup_free char *blk = join(f->upper, "loop0");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	assert_int_equal(mknod(chr, S_IFCHR | 0644, makedev(1, 5)), 0);
	assert_int_equal(mknod(blk, S_IFBLK | 0644, makedev(7, 0)), 0);
	cryo_err err = NULL;
	alarm(20); /* a blocked open would hang here */
	assert_int_equal(volume_capture(f->upper, f->tar, &err), 0);
	alarm(0);
	cleanup_strv char **lines = tar_listing(f->tar);
	bool saw_fifo = false, saw_chr = false, saw_blk = false;
	for (size_t i = 0; lines[i]; i++) {
		saw_fifo |= strcmp(lines[i], "10000 fifo 0") == 0;
		saw_chr |= strcmp(lines[i], "20000 zero 0") == 0;
		saw_blk |= strcmp(lines[i], "60000 loop0 0") == 0;
	}
	assert_true(saw_fifo && saw_chr && saw_blk);
}

/* A neighbour that keeps swapping regular files with fifos while the tree is
 * captured (a second container sharing a volume, a host process): every
 * capture ends, either with a tar where each name is a whole regular file or
 * a fifo, or refusing with a clear error. */
static void swaps_during_capture(void **state)
{
	struct fixture *f = *state;
	enum { PAIRS = 1000 };
	for (int i = 0; i < PAIRS; i++) {
		cleanup_free char *reg = xasprintf("%s/f%d", f->upper, i);
		cleanup_free char *fifo = xasprintf("%s/x%d", f->upper, i);
		assert_int_equal(write_file(reg, "regular\n", 8, 0644, NULL), 0);
		assert_int_equal(mkfifo(fifo, 0644), 0);
	}
	pid_t swapper = fork();
	if (swapper == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that hung */
		int dirfd = open(f->upper, O_RDONLY | O_DIRECTORY);
		char a[16], b[16];
		for (unsigned n = 0;; n++) {
			snprintf(a, sizeof(a), "f%u", n % PAIRS);
			snprintf(b, sizeof(b), "x%u", n % PAIRS);
			renameat2(dirfd, a, dirfd, b, RENAME_EXCHANGE);
		}
	}
	assert_true(swapper > 0);
	int refused = 0, captured = 0;
	alarm(60);
	for (int round = 0; round < 20; round++) {
		cryo_err err = NULL;
		if (volume_capture(f->upper, f->tar, &err) < 0) {
			if (!strstr(err->msg, "changed while it was captured"))
				fail_msg("unexpected capture error: %s", err->msg);
			cryo_error_free(&err);
			refused++;
			continue;
		}
		captured++;
		cleanup_strv char **lines = tar_listing(f->tar);
		for (size_t i = 0; lines[i]; i++)
			if (!str_has_prefix(lines[i], "40000 ") && !str_has_prefix(lines[i], "10000 ") &&
			    !(str_has_prefix(lines[i], "100000 ") && str_has_suffix(lines[i], " 8")))
				fail_msg("unexpected entry: %s", lines[i]);
	}
	alarm(0);
	kill(swapper, SIGKILL);
	waitpid(swapper, NULL, 0);
	print_message("swaps during capture: %d captured, %d refused\n", captured, refused);
	assert_int_equal(captured + refused, 20);
}

/* ---- reflink snapshots ---- */

static int run_argv(char *const argv[])
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A loop-mounted file system of `type` (xfs: with reflink=1) at DIR/mnt;
 * false when this machine cannot make one (no mkfs, no loop device). */
static bool mount_loop_fs(const char *dir, const char *type)
{
	cleanup_free char *img = join(dir, "fs.img");
	cleanup_free char *mnt = join(dir, "mnt");
	cleanup_close int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 320 << 20), 0);
	assert_int_equal(mkdir(mnt, 0755), 0);
	int r;
	if (strcmp(type, "xfs") == 0)
		r = run_argv((char *[]){"mkfs.xfs", "-q", "-m", "reflink=1", img, NULL});
	else
		r = run_argv((char *[]){"mkfs.ext4", "-q", "-F", img, NULL});
	return r == 0 && run_argv((char *[]){"mount", "-o", "loop", "-t", (char *)type, img, mnt, NULL}) == 0;
}

static void unmount_loop_fs(const char *dir)
{
	cleanup_free char *mnt = join(dir, "mnt");
	if (access(mnt, F_OK) == 0)
		run_argv((char *[]){"umount", "-l", mnt, NULL});
}

/* A file of `size` bytes of `fill`. */
static void write_big(const char *dir, const char *rel, size_t size, char fill)
{
	cleanup_free char *data = xmalloc(size);
	memset(data, fill, size);
	cleanup_free char *path = join(dir, rel);
	assert_int_equal(write_file(path, data, size, 0644, NULL), 0);
}

/* On XFS with reflink=1 the snapshot is taken by clones, and the tar it
 * writes later is the tree as it was when the snapshot was taken, even after
 * the tree changed: the same tree a direct capture at that moment restores. */
static void snapshot_by_reflink_is_the_tree_when_taken(void **state)
{
	struct fixture *f = *state;
	if (!mount_loop_fs(f->base, "xfs"))
		skip(); /* no mkfs.xfs or no loop devices here */
	cleanup_free char *mnt = join(f->base, "mnt");
	cleanup_free char *upper = join(mnt, "upper");
	cleanup_free char *scratch = join(mnt, "scratch");
	assert_int_equal(mkdir(scratch, 0700), 0);
	free(f->upper);
	f->upper = xstrdup(upper);
	assert_int_equal(mkdir(f->upper, 0755), 0);
	build_upper(f);
	write_big(f->upper, "data/big", (3 << 20) + 123, 'B'); /* cloned, and a partial last block copied */
	write_big(f->upper, "data/replaced", 200 << 10, 'R');
	char *skip[] = {"/etc/hostname", NULL};

	struct capture_snapshot *snap = NULL;
	cryo_err err = NULL;
	assert_int_equal(capture_snapshot_open(f->upper, true, skip, scratch, false, &snap, &err), 0);
	assert_non_null(snap);
	int r = capture_snapshot_take(snap, &err);
	assert_null(err ? err->msg : NULL);
	assert_int_equal(r, 0);
	/* what a direct capture sees at the same moment */
	cleanup_free char *direct_tar = join(f->base, "direct.tar");
	cleanup_free char *direct_deleted = join(f->base, "direct.deleted");
	assert_int_equal(rootfs_diff_capture(f->upper, skip, direct_tar, direct_deleted, NULL, &err), 0);
	struct capture_snapshot_stats ss;
	capture_snapshot_stats(snap, &ss);
	assert_true(ss.cloned_bytes >= (3 << 20) + (200 << 10) - 4096);
	assert_true(ss.copied_bytes > 0);

	/* the container writes on: in place, by replacing, by deleting */
	cleanup_free char *big = join(f->upper, "data/big");
	cleanup_close int fd = open(big, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "changed", 7, 1 << 20), 7);
	assert_int_equal(ftruncate(fd, 5000), 0);
	cleanup_free char *replaced = join(f->upper, "data/replaced");
	assert_int_equal(unlink(replaced), 0);
	write_big(f->upper, "data/replaced", 100, 'N');
	cleanup_free char *motd = join(f->upper, "etc/motd");
	assert_int_equal(unlink(motd), 0);

	struct rootfs_diff_stats stats;
	assert_int_equal(capture_snapshot_write(snap, f->tar, f->deleted, &stats, &err), 0);
	assert_null(err);
	capture_snapshot_free(snap);
	cleanup_free char *from_direct = join(f->base, "from-direct");
	assert_int_equal(mkdir(from_direct, 0700), 0);
	assert_int_equal(rootfs_diff_apply(direct_tar, direct_deleted, from_direct, NULL, &err), 0);
	assert_int_equal(rootfs_diff_apply(f->tar, f->deleted, f->restored, NULL, &err), 0);
	assert_same_tree(from_direct, f->restored);
	cleanup_free char *want = NULL, *got = NULL;
	assert_int_equal(read_file(direct_deleted, &want, NULL, NULL), 0);
	assert_int_equal(read_file(f->deleted, &got, NULL, NULL), 0);
	assert_string_equal(want, got);
	cleanup_free char *restored_big = join(f->restored, "data/big");
	struct stat st;
	assert_int_equal(stat(restored_big, &st), 0);
	assert_int_equal(st.st_size, (3 << 20) + 123);
}

/* Where the file system cannot clone (ext4), no snapshot is offered: the
 * caller captures the usual way. */
static void snapshot_needs_reflinks(void **state)
{
	struct fixture *f = *state;
	if (!mount_loop_fs(f->base, "ext4"))
		skip();
	cleanup_free char *mnt = join(f->base, "mnt");
	cleanup_free char *upper = join(mnt, "upper");
	assert_int_equal(mkdir(upper, 0755), 0);
	write_big(upper, "big", 1 << 20, 'B');
	struct capture_snapshot *snap = (struct capture_snapshot *)1;
	cryo_err err = NULL;
	assert_int_equal(capture_snapshot_open(upper, true, NULL, mnt, false, &snap, &err), 0);
	assert_null(snap);
	assert_null(err);
}

/* A copying snapshot on ext4 (f->upper on the loop file system), filled
 * ahead and taken now: its tar, restored into `into`. */
static struct capture_snapshot *precopy_snapshot(struct fixture *f, const char *scratch)
{
	struct capture_snapshot *snap = NULL;
	cryo_err err = NULL;
	assert_int_equal(capture_snapshot_open(f->upper, true, NULL, scratch, true, &snap, &err), 0);
	assert_non_null(snap);
	assert_false(capture_snapshot_clones(snap));
	capture_snapshot_precopy(snap);
	return snap;
}

static void take_write_restore(struct fixture *f, struct capture_snapshot *snap, const char *into,
                               struct capture_snapshot_stats *ss)
{
	cryo_err err = NULL;
	int r = capture_snapshot_take(snap, &err);
	assert_null(err ? err->msg : NULL);
	assert_int_equal(r, 0);
	capture_snapshot_stats(snap, ss);
	struct rootfs_diff_stats stats;
	assert_int_equal(capture_snapshot_write(snap, f->tar, f->deleted, &stats, &err), 0);
	assert_null(err);
	assert_int_equal(mkdir(into, 0700), 0);
	assert_int_equal(rootfs_diff_apply(f->tar, f->deleted, into, NULL, &err), 0);
	assert_null(err);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* f->upper (and *scratch beside it) on a fresh loop-mounted ext4; false
 * where none can be made. */
static bool mount_ext4_upper(struct fixture *f, char **scratch)
{
	if (!mount_loop_fs(f->base, "ext4"))
		return false;
	cleanup_free char *mnt = join(f->base, "mnt");
	cleanup_free char *upper = join(mnt, "upper");
	*scratch = join(mnt, "scratch");
	assert_int_equal(mkdir(*scratch, 0700), 0);
	free(f->upper);
	f->upper = xstrdup(upper);
	assert_int_equal(mkdir(f->upper, 0755), 0);
	return true;
}

/* Without reflinks (ext4) a snapshot copies the tree ahead of the freeze;
 * the frozen walk takes over the copies of unchanged files and copies the
 * files changed since (in place with the same size, replaced, new), and the
 * tar is the tree as it was then: the same as a direct capture then. */
static void snapshot_copied_ahead_is_the_tree_when_taken(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *scratch = NULL;
	if (!mount_ext4_upper(f, &scratch))
		skip(); /* no mkfs.ext4 or no loop devices here */
	build_upper(f);
	write_big(f->upper, "data/old", (3 << 20) + 123, 'O');
	write_big(f->upper, "data/inplace", 200 << 10, 'I');
	write_big(f->upper, "data/replaced", 200 << 10, 'R');
	sleep_ms(100); /* older than the copy's cutoff */

	struct capture_snapshot *snap = precopy_snapshot(f, scratch);
	struct capture_snapshot_stats ss;
	capture_snapshot_stats(snap, &ss);
	assert_true(ss.precopied_bytes >= (3 << 20) + (400 << 10));

	/* the container writes on between the copy and the freeze */
	cleanup_free char *inplace = join(f->upper, "data/inplace");
	cleanup_close int fd = open(inplace, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "changed", 7, 100 << 10), 7);
	cleanup_free char *replaced = join(f->upper, "data/replaced");
	assert_int_equal(unlink(replaced), 0);
	write_big(f->upper, "data/replaced", 200 << 10, 'N');
	write_big(f->upper, "data/new", 5000, 'W');
	cleanup_free char *motd = join(f->upper, "etc/motd");
	assert_int_equal(unlink(motd), 0);

	cryo_err err = NULL;
	cleanup_free char *direct_tar = join(f->base, "direct.tar");
	cleanup_free char *direct_deleted = join(f->base, "direct.deleted");
	assert_int_equal(rootfs_diff_capture(f->upper, NULL, direct_tar, direct_deleted, NULL, &err), 0);
	cleanup_free char *restored = join(f->base, "restored-ahead");
	take_write_restore(f, snap, restored, &ss);
	capture_snapshot_free(snap);
	/* data/old was taken over; the three changed files were copied again */
	assert_true(ss.reused_bytes >= (3 << 20) + 123);
	assert_int_equal(ss.copied_bytes, (400 << 10) + 5000);

	cleanup_free char *from_direct = join(f->base, "from-direct");
	assert_int_equal(mkdir(from_direct, 0700), 0);
	assert_int_equal(rootfs_diff_apply(direct_tar, direct_deleted, from_direct, NULL, &err), 0);
	assert_same_tree(from_direct, restored);
	cleanup_free char *restored_inplace = join(restored, "data/inplace");
	cleanup_free char *got = NULL;
	size_t len = 0;
	assert_int_equal(read_file(restored_inplace, &got, &len, NULL), 0);
	assert_int_equal(len, 200 << 10);
	assert_memory_equal(got + (100 << 10), "changed", 7);
}

/* A store through a shared writable mapping whose page is dirty already sets
 * no time on the file: a file some process has mapped so is copied in the
 * frozen window. The negative control (CRYO_TEST_PRECOPY_IGNORE_MAPS) trusts
 * it and restores the stale copy: the hazard is real on this kernel. */
static void snapshot_copied_ahead_recopies_mapped_files(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *scratch = NULL;
	if (!mount_ext4_upper(f, &scratch))
		skip(); /* no mkfs.ext4 or no loop devices here */
	write_big(f->upper, "mapped", 8192, 'A');
	cleanup_free char *mapped = join(f->upper, "mapped");
	cleanup_close int fd = open(mapped, O_RDWR);
	assert_true(fd >= 0);
	char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	map[0] = '1'; /* the page is dirty and writable from here on */
	sleep_ms(100);

	for (int control = CRYO_TEST_HOOKS; control >= 0; control--) {
		if (control)
			setenv(ROOTFS_TEST_PRECOPY_IGNORE_MAPS, "1", 1);
		struct capture_snapshot *snap = precopy_snapshot(f, scratch);
		unsetenv(ROOTFS_TEST_PRECOPY_IGNORE_MAPS);
		struct stat before, after;
		assert_int_equal(fstat(fd, &before), 0);
		map[1] = control ? 'C' : 'M'; /* no fault, no time set */
		assert_int_equal(fstat(fd, &after), 0);
		assert_int_equal(before.st_ctim.tv_nsec, after.st_ctim.tv_nsec);
		cleanup_free char *into = join(f->base, control ? "control" : "restored-mapped");
		struct capture_snapshot_stats ss;
		take_write_restore(f, snap, into, &ss);
		capture_snapshot_free(snap);
		cleanup_free char *restored = join(into, "mapped");
		cleanup_free char *got = NULL;
		assert_int_equal(read_file(restored, &got, NULL, NULL), 0);
		if (control) {
			assert_int_equal(ss.reused_bytes, 8192);
			assert_int_equal(got[1], 'A'); /* stale: what the control must show */
		} else {
			assert_int_equal(ss.reused_bytes, 0);
			assert_int_equal(got[1], 'M');
		}
	}
	munmap(map, 8192);
}

/* The times are what tell a changed file: the negative control
 * (CRYO_TEST_PRECOPY_TRUST_ALL, sizes alone) takes over the copy of a file
 * rewritten in place, and restores it stale. */
static void snapshot_copied_ahead_control_trusts_all(void **state)
{
#if CRYO_TEST_HOOKS
	struct fixture *f = *state;
	cleanup_free char *scratch = NULL;
	if (!mount_ext4_upper(f, &scratch))
		skip(); /* no mkfs.ext4 or no loop devices here */
	write_big(f->upper, "file", 8192, 'A');
	sleep_ms(100);
	struct capture_snapshot *snap = precopy_snapshot(f, scratch);
	cleanup_free char *path = join(f->upper, "file");
	cleanup_close int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "B", 1, 1), 1);
	setenv(ROOTFS_TEST_PRECOPY_TRUST_ALL, "1", 1);
	cleanup_free char *into = join(f->base, "control");
	struct capture_snapshot_stats ss;
	take_write_restore(f, snap, into, &ss);
	unsetenv(ROOTFS_TEST_PRECOPY_TRUST_ALL);
	capture_snapshot_free(snap);
	cleanup_free char *restored = join(into, "file");
	cleanup_free char *got = NULL;
	assert_int_equal(read_file(restored, &got, NULL, NULL), 0);
	assert_int_equal(got[1], 'A'); /* stale */
	assert_int_equal(ss.reused_bytes, 8192);
#else
	(void)state;
	skip(); /* test switches are not in this build */
#endif
}

static int emit_to_fd(void *ctx, const void *buf, size_t len, cryo_err *err)
{
	int fd = *(int *)ctx;
	if (write(fd, buf, len) != (ssize_t)len)
		return cryo_error_set(err, errno, "write");
	return 0;
}

static int emit_fails(void *ctx, const void *buf, size_t len, cryo_err *err)
{
	(void)ctx, (void)buf, (void)len;
	return cryo_error_set(err, ENOSPC, "the sink is full");
}

/* A snapshot's tar streamed (to a checkpoint archive) is byte for byte the
 * tar it writes to a file, and the size found first (without reading the
 * data) is its exact size: hard links, a sparse file, deleted paths. A sink
 * that fails stops it with the sink's error. */
static void snapshot_tar_streamed_is_the_file(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *scratch = NULL;
	if (!mount_ext4_upper(f, &scratch))
		skip(); /* no mkfs.ext4 or no loop devices here */
	build_upper(f);
	write_big(f->upper, "data/big", (2 << 20) + 77, 'B');
	cleanup_free char *sparse = join(f->upper, "data/sparse");
	cleanup_close int sfd = open(sparse, O_WRONLY | O_CREAT, 0644);
	assert_true(sfd >= 0);
	assert_int_equal(pwrite(sfd, "x", 1, 8 << 20), 1);
	sleep_ms(50);
	struct capture_snapshot *snap = precopy_snapshot(f, scratch);
	cryo_err err = NULL;
	assert_int_equal(capture_snapshot_take(snap, &err), 0);
	int64_t size = -1;
	struct rootfs_diff_stats ds;
	assert_int_equal(capture_snapshot_tar_size(snap, &size, &ds, &err), 0);
	assert_true(ds.bytes >= (2 << 20) + 77);
	cleanup_free char *streamed = join(f->base, "streamed.tar");
	cleanup_close int fd = open(streamed, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(capture_snapshot_emit_tar(snap, emit_to_fd, &fd, size, &err), 0);
	assert_null(err);
	/* announced a size it will not come to: refused */
	assert_true(capture_snapshot_emit_tar(snap, emit_to_fd, &fd, size + 1, &err) < 0);
	assert_non_null(strstr(err->msg, "instead of"));
	cryo_error_free(&err);
	assert_true(capture_snapshot_emit_tar(snap, emit_fails, NULL, size, &err) < 0);
	assert_non_null(strstr(err->msg, "the sink is full"));
	cryo_error_free(&err);
	assert_int_equal(capture_snapshot_write(snap, f->tar, f->deleted, NULL, &err), 0);
	capture_snapshot_free(snap);
	cleanup_free char *a = NULL, *b = NULL;
	size_t la = 0, lb = 0;
	assert_int_equal(read_file(f->tar, &a, &la, NULL), 0);
	assert_int_equal(read_file(streamed, &b, &lb, NULL), 0);
	assert_int_equal(la, (size_t)size);
	assert_true(lb >= la);
	assert_memory_equal(a, b, la); /* the first emit; the refused second one follows */
}

/* Copying ahead pays for a tree whose bytes are in larger files, not for
 * many small ones, nor for a small tree. */
static void precopy_pays_for_large_files_only(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *small = join(f->base, "small");
	cleanup_free char *big = join(f->base, "big");
	assert_int_equal(mkdir(small, 0755), 0);
	assert_int_equal(mkdir(big, 0755), 0);
	for (int i = 0; i < 300; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%d", i);
		write_big(small, name, 4096, 's');
		write_big(big, name, 4096, 's');
	}
	write_big(small, "medium", 200 << 10, 'm');
	struct capture_survey sv;
	assert_false(capture_snapshot_precopy_pays(small, &sv));
	assert_int_equal(sv.entries, 302);
	assert_int_equal(sv.large_bytes, 200 << 10);
	write_big(big, "large", 8 << 20, 'L');
	assert_true(capture_snapshot_precopy_pays(big, &sv));
	assert_int_equal(sv.large_bytes, 8 << 20);
	/* a link to the big tree is not followed */
	cleanup_free char *link = join(small, "link");
	assert_int_equal(symlink(big, link), 0);
	assert_false(capture_snapshot_precopy_pays(small, &sv));
	assert_int_equal(sv.large_bytes, 200 << 10);
	cleanup_free char *missing = join(f->base, "missing");
	assert_false(capture_snapshot_precopy_pays(missing, NULL));
}

static int teardown_loop_fs(void **state)
{
	struct fixture *f = *state;
	unmount_loop_fs(f->base);
	return teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(capture_apply_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(tree_comparison_sees_differences, setup, teardown),
	    cmocka_unit_test_setup_teardown(skip_paths_validated, setup, teardown),
	    cmocka_unit_test_setup_teardown(redirect_dirs_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(hostile_deleted_lists, setup, teardown),
	    cmocka_unit_test_setup_teardown(limits_enforced, setup, teardown),
	    cmocka_unit_test_setup_teardown(hostile_tars, setup, teardown),
	    cmocka_unit_test_setup_teardown(devices_can_be_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(truncated_tar_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(volume_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(deep_tree_few_descriptors, setup, teardown),
	    cmocka_unit_test_setup_teardown(too_deep_tree_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(special_files_recorded_not_opened, setup, teardown),
	    cmocka_unit_test_setup_teardown(swaps_during_capture, setup, teardown),
	    cmocka_unit_test_setup_teardown(snapshot_by_reflink_is_the_tree_when_taken, setup,
	                                    teardown_loop_fs),
	    cmocka_unit_test_setup_teardown(snapshot_needs_reflinks, setup, teardown_loop_fs),
	    cmocka_unit_test_setup_teardown(snapshot_copied_ahead_is_the_tree_when_taken, setup,
	                                    teardown_loop_fs),
	    cmocka_unit_test_setup_teardown(snapshot_copied_ahead_recopies_mapped_files, setup,
	                                    teardown_loop_fs),
	    cmocka_unit_test_setup_teardown(snapshot_copied_ahead_control_trusts_all, setup,
	                                    teardown_loop_fs),
	    cmocka_unit_test_setup_teardown(snapshot_tar_streamed_is_the_file, setup, teardown_loop_fs),
	    cmocka_unit_test_setup_teardown(precopy_pays_for_large_files_only, setup, teardown),
	};
	if (getenv("CMOCKA_FILTER")) /* run a subset while working on one */
		cmocka_set_test_filter(getenv("CMOCKA_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
