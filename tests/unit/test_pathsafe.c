/* Unit tests for pathsafe.c: lexical normalisation and containment, and
 * resolution beneath a root on a real scratch tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <fcntl.h>

#include "pathsafe.h"
#include "util.h"

static void expect_normal(const char *in, const char *want)
{
	cryo_err err = NULL;
	char *out = NULL;
	assert_int_equal(pathsafe_normalize(in, &out, &err), 0);
	assert_null(err);
	assert_string_equal(out, want);
	free(out);
}

static void expect_rejected(const char *in, const char *msg_part)
{
	cryo_err err = NULL;
	char *out = NULL;
	assert_int_equal(pathsafe_normalize(in, &out, &err), -EINVAL);
	assert_null(out);
	assert_non_null(err);
	assert_non_null(strstr(err->msg, msg_part));
	cryo_error_free(&err);
}

static void normalize_cleans(void **state)
{
	(void)state;
	expect_normal("a", "a");
	expect_normal("./a//b/./c/", "a/b/c");
	expect_normal("./", ".");
	expect_normal(".", ".");
	expect_normal(".//.", ".");
	expect_normal("...", "...");
	expect_normal("a/..b/c..", "a/..b/c..");
	expect_normal(".wh..wh..opq", ".wh..wh..opq");
}

static void normalize_rejects(void **state)
{
	(void)state;
	expect_rejected("", "empty");
	expect_rejected("/etc/passwd", "absolute");
	expect_rejected("//x", "absolute");
	expect_rejected("..", "`..`");
	expect_rejected("../evil", "`..`");
	expect_rejected("a/../b", "`..`");
	expect_rejected("a/b/..", "`..`");
	expect_rejected("./../x", "`..`");
}

static void clean_absolute(void **state)
{
	(void)state;
	struct {
		const char *in, *out;
	} cases[] = {
	    {"/", "/"},         {"/a/../b/", "/b"},   {"/..", "/"},
	    {"/../../x", "/x"}, {"//x//y/.", "/x/y"}, {"/a/b/c/../../d", "/a/d"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *out = pathsafe_clean_absolute(cases[i].in);
		assert_string_equal(out, cases[i].out);
		free(out);
	}
	assert_null(pathsafe_clean_absolute("relative/path"));
}

static void is_inside(void **state)
{
	(void)state;
	assert_true(pathsafe_is_inside("/a/b", "/a/b"));
	assert_true(pathsafe_is_inside("/a/b", "/a/b/c"));
	assert_true(pathsafe_is_inside("/a/b/", "/a/b/c/../d"));
	assert_true(pathsafe_is_inside("/", "/anything"));
	assert_false(pathsafe_is_inside("/a/b", "/a/bc"));
	assert_false(pathsafe_is_inside("/a/b", "/a"));
	assert_false(pathsafe_is_inside("/a/b", "/a/b/../c"));
	assert_false(pathsafe_is_inside("/a/b", "/a/b/../../etc"));
	assert_false(pathsafe_is_inside("/a/b", "relative"));
}

static void split(void **state)
{
	(void)state;
	char *parent, *base;
	pathsafe_split("a/b/c", &parent, &base);
	assert_string_equal(parent, "a/b");
	assert_string_equal(base, "c");
	free(parent);
	free(base);
	pathsafe_split("c", &parent, &base);
	assert_string_equal(parent, ".");
	assert_string_equal(base, "c");
	free(parent);
	free(base);
}

/* A scratch tree: outside/ (a sentinel area) and root/ with symlinks that stay
 * inside or escape. */
struct tree {
	char dir[64];
	char *root, *outside;
	int rootfd;
};

static int tree_setup(void **state)
{
	struct tree *t = xcalloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/cryo-test-pathsafe.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	t->root = xasprintf("%s/root", t->dir);
	t->outside = xasprintf("%s/outside", t->dir);
	assert_int_equal(mkdir(t->root, 0755), 0);
	assert_int_equal(mkdir(t->outside, 0755), 0);
	cleanup_free char *sub = xasprintf("%s/sub", t->root);
	assert_int_equal(mkdir(sub, 0755), 0);
	const char *links[][2] = {
	    {"up", "/"}, {"out", NULL}, {"rel", "../.."}, {"in", "sub"}, {"inabs", "/sub"}, {"loop", "loop"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		cleanup_free char *l = xasprintf("%s/%s", t->root, links[i][0]);
		assert_int_equal(symlink(links[i][1] ? links[i][1] : t->outside, l), 0);
	}
	t->rootfd = open(t->root, O_PATH | O_DIRECTORY);
	assert_true(t->rootfd >= 0);
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	close(t->rootfd);
	rm_rf(t->dir, NULL);
	free(t->root);
	free(t->outside);
	free(t);
	return 0;
}

static void expect_beneath(int rootfd, const char *rel, int want)
{
	cryo_err err = NULL;
	int r = pathsafe_check_beneath(rootfd, rel, &err);
	assert_int_equal(r, want);
	if (want == 0) {
		assert_null(err);
	} else {
		assert_non_null(err);
		assert_non_null(strstr(err->msg, rel));
		cryo_error_free(&err);
	}
}

static void check_beneath(void **state)
{
	struct tree *t = *state;
	expect_beneath(t->rootfd, ".", 0);
	expect_beneath(t->rootfd, "sub", 0);
	expect_beneath(t->rootfd, "in/x", 0);
	expect_beneath(t->rootfd, "missing/deeper/x", 0);
	expect_beneath(t->rootfd, "up/etc", -EXDEV);
	expect_beneath(t->rootfd, "up", -EXDEV);
	expect_beneath(t->rootfd, "out/x", -EXDEV);
	expect_beneath(t->rootfd, "rel/x", -EXDEV);
	/* Absolute symlinks are refused even when they would land inside: the
	 * kernel cannot know they are meant relative to the root. */
	expect_beneath(t->rootfd, "inabs/x", -EXDEV);
	expect_beneath(t->rootfd, "loop/x", -ELOOP);
}

static void open_beneath(void **state)
{
	struct tree *t = *state;
	cryo_err err = NULL;
	int fd = pathsafe_open_beneath(t->rootfd, "in", O_RDONLY | O_DIRECTORY, 0, &err);
	assert_true(fd >= 0);
	close(fd);
	fd = pathsafe_open_beneath(t->rootfd, "out/newfile", O_WRONLY | O_CREAT, 0644, &err);
	assert_int_equal(fd, -EXDEV);
	assert_non_null(strstr(err->msg, "resolves outside"));
	cryo_error_free(&err);
	cleanup_free char *sentinel = xasprintf("%s/newfile", t->outside);
	assert_false(path_exists(sentinel));
}

static void mkdir_beneath(void **state)
{
	struct tree *t = *state;
	cryo_err err = NULL;
	int fd = pathsafe_mkdir_beneath(t->rootfd, "a/b/c", 0755, &err);
	assert_true(fd >= 0);
	close(fd);
	cleanup_free char *abc = xasprintf("%s/a/b/c", t->root);
	assert_true(path_exists(abc));

	fd = pathsafe_mkdir_beneath(t->rootfd, "in/new", 0755, &err);
	assert_true(fd >= 0);
	close(fd);
	cleanup_free char *subnew = xasprintf("%s/sub/new", t->root);
	assert_true(path_exists(subnew));

	fd = pathsafe_mkdir_beneath(t->rootfd, "out/evil", 0755, &err);
	assert_int_equal(fd, -EXDEV);
	cryo_error_free(&err);
	cleanup_free char *evil = xasprintf("%s/evil", t->outside);
	assert_false(path_exists(evil));

	fd = pathsafe_mkdir_beneath(t->rootfd, "../evil", 0755, &err);
	assert_int_equal(fd, -EINVAL);
	cryo_error_free(&err);
	cleanup_free char *evil2 = xasprintf("%s/evil", t->dir);
	assert_false(path_exists(evil2));

	fd = pathsafe_mkdir_beneath(t->rootfd, ".", 0755, &err);
	assert_true(fd >= 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(normalize_cleans),
	    cmocka_unit_test(normalize_rejects),
	    cmocka_unit_test(clean_absolute),
	    cmocka_unit_test(is_inside),
	    cmocka_unit_test(split),
	    cmocka_unit_test_setup_teardown(check_beneath, tree_setup, tree_teardown),
	    cmocka_unit_test_setup_teardown(open_beneath, tree_setup, tree_teardown),
	    cmocka_unit_test_setup_teardown(mkdir_beneath, tree_setup, tree_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
