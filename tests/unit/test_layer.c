/* Unit tests for layer.c: tarballs built here with libarchive, unpacked into a
 * scratch directory. Hostile entries must fail the unpack, name the entry,
 * and write nothing outside the destination. Needs root (whiteouts are device
 * nodes, the opaque marker a trusted.* attribute). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "digest.h"
#include "layer.h"
#include "util.h"

enum kind { DIR_, FILE_, SYMLINK, HARDLINK };
struct spec {
	enum kind kind;
	const char *path;
	const char *arg; /* file content, or link target */
	const char *xattr_name;
};

struct scratch {
	char dir[64];
	char *dest, *outside, *tar;
};

static int scratch_setup(void **state)
{
	struct scratch *s = xcalloc(1, sizeof(*s));
	strcpy(s->dir, "/tmp/cryo-test-layer.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	s->dest = xasprintf("%s/dest", s->dir);
	s->outside = xasprintf("%s/outside", s->dir);
	s->tar = xasprintf("%s/layer.tar", s->dir);
	assert_int_equal(mkdir(s->dest, 0755), 0);
	assert_int_equal(mkdir(s->outside, 0755), 0);
	*state = s;
	return 0;
}

static int scratch_teardown(void **state)
{
	struct scratch *s = *state;
	rm_rf(s->dir, NULL);
	free(s->dest);
	free(s->outside);
	free(s->tar);
	free(s);
	return 0;
}

static void write_tar(const char *path, const struct spec *specs, size_t n, bool gzip)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (gzip)
		archive_write_add_filter_gzip(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, specs[i].path);
		archive_entry_set_mtime(e, 1700000000, 0);
		switch (specs[i].kind) {
		case DIR_:
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
			break;
		case FILE_:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, (la_int64_t)strlen(specs[i].arg));
			break;
		case SYMLINK:
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, specs[i].arg);
			break;
		case HARDLINK:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_hardlink(e, specs[i].arg);
			break;
		}
		if (specs[i].xattr_name)
			archive_entry_xattr_add_entry(e, specs[i].xattr_name, "y", 1);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (specs[i].kind == FILE_)
			assert_int_equal(archive_write_data(a, specs[i].arg, strlen(specs[i].arg)),
			                 (la_ssize_t)strlen(specs[i].arg));
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static bool exists_in(const char *dir, const char *rel)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, rel);
	return path_exists(p);
}

/* Unpack must fail with a message naming `entry` and giving `reason`, and
 * leave `outside` empty. */
static void expect_rejected(struct scratch *s, const struct spec *specs, size_t n, const char *entry,
                            const char *reason)
{
	cryo_err err = NULL;
	const struct layer_unpack_opts opts = {.whiteouts = true};
	write_tar(s->tar, specs, n, false);
	int r = layer_unpack(s->tar, s->dest, &opts, NULL, &err);
	assert_true(r < 0);
	assert_non_null(err);
	cleanup_free char *quoted = xasprintf("entry `%s`", entry);
	if (!strstr(err->msg, quoted) || !strstr(err->msg, reason))
		fail_msg("error `%s` does not name %s or lacks `%s`", err->msg, quoted, reason);
	cryo_error_free(&err);
	cleanup_dir DIR *d = opendir(s->outside);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			fail_msg("`%s` was written outside the destination", de->d_name);
	assert_false(exists_in(s->dir, "evil"));
}

static void whiteouts_become_overlay_ones(void **state)
{
	struct scratch *s = *state;
	const struct spec specs[] = {
	    {DIR_, "./", NULL, NULL},
	    {FILE_, "a", "A", NULL},
	    {DIR_, "dir/", NULL, NULL},
	    {FILE_, ".wh.b", "", NULL},
	    {FILE_, "dir/.wh..wh..opq", "", NULL},
	    {FILE_, "dir/y", "Y", NULL},
	    {FILE_, "deep/.wh.gone", "", NULL},
	    {FILE_, ".wh..wh.plnk", "", NULL},
	};
	write_tar(s->tar, specs, ARRAY_SIZE(specs), true);
	cryo_err err = NULL;
	struct layer_unpack_result res;
	const struct layer_unpack_opts opts = {.whiteouts = true};
	assert_int_equal(layer_unpack(s->tar, s->dest, &opts, &res, &err), 0);
	assert_null(err);

	struct stat st;
	cleanup_free char *b = xasprintf("%s/b", s->dest);
	assert_int_equal(lstat(b, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	cleanup_free char *gone = xasprintf("%s/deep/gone", s->dest);
	assert_int_equal(lstat(gone, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_false(exists_in(s->dest, ".wh.b"));
	assert_false(exists_in(s->dest, "dir/.wh..wh..opq"));
	assert_false(exists_in(s->dest, ".wh..wh.plnk"));
	assert_true(exists_in(s->dest, "dir/y"));

	cleanup_free char *dir = xasprintf("%s/dir", s->dest);
	char value[8] = {0};
	assert_int_equal(getxattr(dir, "trusted.overlay.opaque", value, sizeof(value)), 1);
	assert_string_equal(value, "y");

	assert_int_equal(res.size, 2);
	char want[DIGEST_HEX_LEN + 1];
	assert_int_equal(digest_file(s->tar, want, &err), 0);
	assert_string_equal(res.digest, want);
}

static void whiteouts_off_keeps_files(void **state)
{
	struct scratch *s = *state;
	const struct spec specs[] = {{FILE_, ".wh.b", "", NULL}};
	write_tar(s->tar, specs, ARRAY_SIZE(specs), false);
	cryo_err err = NULL;
	assert_int_equal(layer_unpack(s->tar, s->dest, NULL, NULL, &err), 0);
	assert_true(exists_in(s->dest, ".wh.b"));
	assert_false(exists_in(s->dest, "b"));
}

static void plain_only_refuses_links(void **state)
{
	struct scratch *s = *state;
	const struct spec specs[] = {{FILE_, "blob", "data", NULL}, {SYMLINK, "link", "/etc/passwd", NULL}};
	write_tar(s->tar, specs, ARRAY_SIZE(specs), false);
	const struct layer_unpack_opts opts = {.plain_only = true};
	cryo_err err = NULL;
	assert_true(layer_unpack(s->tar, s->dest, &opts, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "entry `link`: only regular files and directories"));
	cryo_error_free(&err);
	const struct spec hard[] = {{FILE_, "blob", "data", NULL}, {HARDLINK, "again", "blob", NULL}};
	write_tar(s->tar, hard, ARRAY_SIZE(hard), false);
	assert_true(layer_unpack(s->tar, s->dest, &opts, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "entry `again`: hard links"));
	cryo_error_free(&err);
	/* Negative control: the same archive without the option unpacks. */
	assert_int_equal(layer_unpack(s->tar, s->dest, NULL, NULL, &err), 0);
}

static void overlay_xattrs_are_dropped(void **state)
{
	struct scratch *s = *state;
	const struct spec specs[] = {
	    {DIR_, "d/", NULL, "trusted.overlay.redirect"},
	    {FILE_, "f", "x", "user.kept"},
	};
	write_tar(s->tar, specs, ARRAY_SIZE(specs), false);
	cryo_err err = NULL;
	assert_int_equal(layer_unpack(s->tar, s->dest, NULL, NULL, &err), 0);
	cleanup_free char *d = xasprintf("%s/d", s->dest);
	cleanup_free char *f = xasprintf("%s/f", s->dest);
	char value[8];
	assert_int_equal(getxattr(d, "trusted.overlay.redirect", value, sizeof(value)), -1);
	assert_int_equal(getxattr(f, "user.kept", value, sizeof(value)), 1);
}

static void rejects_dotdot(void **state)
{
	const struct spec specs[] = {{FILE_, "ok", "fine", NULL}, {FILE_, "../evil", "x", NULL}};
	expect_rejected(*state, specs, ARRAY_SIZE(specs), "../evil", "has a `..` component");
}

static void rejects_inner_dotdot(void **state)
{
	const struct spec specs[] = {{DIR_, "a/", NULL, NULL}, {FILE_, "a/../../evil", "x", NULL}};
	expect_rejected(*state, specs, ARRAY_SIZE(specs), "a/../../evil", "has a `..` component");
}

static void rejects_absolute(void **state)
{
	struct scratch *s = *state;
	cleanup_free char *abs = xasprintf("%s/evil", s->outside);
	const struct spec specs[] = {{FILE_, abs, "x", NULL}};
	expect_rejected(s, specs, ARRAY_SIZE(specs), abs, "absolute path");
}

static void rejects_symlink_escape(void **state)
{
	struct scratch *s = *state;
	const struct spec specs[] = {
	    {SYMLINK, "link", s->outside, NULL},
	    {FILE_, "link/evil", "x", NULL},
	};
	expect_rejected(s, specs, ARRAY_SIZE(specs), "link/evil", "resolves outside");
	/* The symlink itself is fine: absolute symlinks are normal in a rootfs. */
	assert_true(exists_in(s->dest, "link"));
}

static void rejects_relative_symlink_escape(void **state)
{
	struct scratch *s = *state;
	const struct spec specs[] = {
	    {DIR_, "d/", NULL, NULL},
	    {SYMLINK, "d/up", "../../outside", NULL},
	    {DIR_, "d/up/sub/", NULL, NULL},
	};
	expect_rejected(s, specs, ARRAY_SIZE(specs), "d/up/sub/", "resolves outside");
}

static void rejects_whiteout_through_symlink(void **state)
{
	struct scratch *s = *state;
	const struct spec specs[] = {
	    {SYMLINK, "link", s->outside, NULL},
	    {FILE_, "link/.wh.x", "", NULL},
	    {FILE_, "link/.wh..wh..opq", "", NULL},
	};
	expect_rejected(s, specs, ARRAY_SIZE(specs), "link/.wh.x", "resolves outside");
}

static void rejects_hardlink_outside(void **state)
{
	struct scratch *s = *state;
	cleanup_free char *target = xasprintf("%s/victim", s->outside);
	assert_int_equal(write_file(target, "v", 1, 0644, NULL), 0);
	const struct spec specs[] = {
	    {SYMLINK, "link", s->outside, NULL},
	    {HARDLINK, "hl", "link/victim", NULL},
	};
	write_tar(s->tar, specs, ARRAY_SIZE(specs), false);
	cryo_err err = NULL;
	assert_true(layer_unpack(s->tar, s->dest, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "entry `hl`"));
	assert_non_null(strstr(err->msg, "hard link target"));
	cryo_error_free(&err);
	assert_false(exists_in(s->dest, "hl"));

	const struct spec dotdot[] = {{HARDLINK, "hl2", "../outside/victim", NULL}};
	write_tar(s->tar, dotdot, ARRAY_SIZE(dotdot), false);
	assert_true(layer_unpack(s->tar, s->dest, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "entry `hl2`"));
	cryo_error_free(&err);
	assert_false(exists_in(s->dest, "hl2"));
}

static void hardlink_inside_works(void **state)
{
	struct scratch *s = *state;
	const struct spec specs[] = {{FILE_, "orig", "data", NULL}, {HARDLINK, "copy", "./orig", NULL}};
	write_tar(s->tar, specs, ARRAY_SIZE(specs), false);
	cryo_err err = NULL;
	assert_int_equal(layer_unpack(s->tar, s->dest, NULL, NULL, &err), 0);
	struct stat a, b;
	cleanup_free char *pa = xasprintf("%s/orig", s->dest);
	cleanup_free char *pb = xasprintf("%s/copy", s->dest);
	assert_int_equal(stat(pa, &a), 0);
	assert_int_equal(stat(pb, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
}

static void replaces_planted_symlink(void **state)
{
	struct scratch *s = *state;
	cleanup_free char *victim = xasprintf("%s/victim", s->outside);
	assert_int_equal(write_file(victim, "original", 8, 0644, NULL), 0);
	const struct spec specs[] = {
	    {SYMLINK, "f", victim, NULL},
	    {FILE_, "f", "overwritten", NULL},
	};
	write_tar(s->tar, specs, ARRAY_SIZE(specs), false);
	cryo_err err = NULL;
	assert_int_equal(layer_unpack(s->tar, s->dest, NULL, NULL, &err), 0);
	cleanup_free char *data = NULL;
	assert_int_equal(read_file(victim, &data, NULL, &err), 0);
	assert_string_equal(data, "original");
	struct stat st;
	cleanup_free char *f = xasprintf("%s/f", s->dest);
	assert_int_equal(lstat(f, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

static void digest_mismatch(void **state)
{
	struct scratch *s = *state;
	const struct spec specs[] = {{FILE_, "a", "A", NULL}};
	write_tar(s->tar, specs, ARRAY_SIZE(specs), false);
	const struct layer_unpack_opts opts = {
	    .expected_digest = "0000000000000000000000000000000000000000000000000000000000000000"};
	cryo_err err = NULL;
	assert_int_equal(layer_unpack(s->tar, s->dest, &opts, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err->msg, "expected sha256:0000"));
	cryo_error_free(&err);
}

static void corrupt_and_empty_archives(void **state)
{
	struct scratch *s = *state;
	cryo_err err = NULL;
	assert_int_equal(write_file(s->tar, "this is not a tarball at all, just text\n", 40, 0644, NULL), 0);
	assert_true(layer_unpack(s->tar, s->dest, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, s->tar));
	cryo_error_free(&err);

	/* A tarball cut in the middle of a file's data. */
	char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const struct spec specs[] = {{FILE_, "big", big, NULL}};
	write_tar(s->tar, specs, ARRAY_SIZE(specs), false);
	assert_int_equal(truncate(s->tar, 2048), 0);
	assert_true(layer_unpack(s->tar, s->dest, NULL, NULL, &err) < 0);
	assert_non_null(err);
	cryo_error_free(&err);

	const struct layer_unpack_opts opts = {.require_entries = true};
	write_tar(s->tar, specs, 0, false);
	assert_true(layer_unpack(s->tar, s->dest, &opts, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "no entries"));
	cryo_error_free(&err);

	assert_true(layer_unpack("/nonexistent/layer.tar", s->dest, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err->msg, "/nonexistent/layer.tar"));
	cryo_error_free(&err);
}

#define SCRATCH(f) cmocka_unit_test_setup_teardown(f, scratch_setup, scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    SCRATCH(whiteouts_become_overlay_ones),
	    SCRATCH(whiteouts_off_keeps_files),
	    SCRATCH(plain_only_refuses_links),
	    SCRATCH(overlay_xattrs_are_dropped),
	    SCRATCH(rejects_dotdot),
	    SCRATCH(rejects_inner_dotdot),
	    SCRATCH(rejects_absolute),
	    SCRATCH(rejects_symlink_escape),
	    SCRATCH(rejects_relative_symlink_escape),
	    SCRATCH(rejects_whiteout_through_symlink),
	    SCRATCH(rejects_hardlink_outside),
	    SCRATCH(hardlink_inside_works),
	    SCRATCH(replaces_planted_symlink),
	    SCRATCH(digest_mismatch),
	    SCRATCH(corrupt_and_empty_archives),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
