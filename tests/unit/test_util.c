/* Unit tests for util.c and error.c: pure helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "error.h"
#include "proc.h"
#include "util.h"

static void name_validation(void **state)
{
	(void)state;
	assert_true(name_is_valid("web"));
	assert_true(name_is_valid("a1_b.c-d"));
	assert_false(name_is_valid(""));
	assert_false(name_is_valid("-lead"));
	assert_false(name_is_valid("has/slash"));
	assert_false(name_is_valid("../x"));
	assert_false(name_is_valid("sp ace"));
	char long_name[200];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_false(name_is_valid(long_name));
}

static void error_wrap_keeps_cause(void **state)
{
	(void)state;
	cryo_err err = NULL;
	int r = cryo_error_set(&err, ENOENT, "open `%s`", "/x");
	assert_int_equal(r, -ENOENT);
	r = cryo_error_wrap(&err, "checkpoint %s", "web");
	assert_int_equal(r, -ENOENT);
	assert_string_equal(err->msg, "checkpoint web: open `/x`: No such file or directory");
	cryo_error_append(&err, "\nCRIU: %s", "Error (x): y");
	assert_non_null(strstr(err->msg, "\nCRIU: Error (x): y"));
	cryo_error_free(&err);
	assert_null(err);
	assert_int_equal(cryo_error_set(&err, 0, "plain"), -EIO);
	cryo_error_free(&err);
}

static void strv_ops(void **state)
{
	(void)state;
	char **v = NULL;
	strv_push(&v, "a");
	strv_push(&v, "b");
	assert_int_equal(strv_len(v), 2);
	char **copy = strv_copy(v);
	assert_string_equal(copy[1], "b");
	assert_null(copy[2]);
	strv_free(v);
	strv_free(copy);
}

static void random_ids_differ(void **state)
{
	(void)state;
	cleanup_free char *a = random_id();
	cleanup_free char *b = random_id();
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, "0123456789abcdef"), 64);
	assert_string_not_equal(a, b);
}

static void timestamp_format(void **state)
{
	(void)state;
	cleanup_free char *ts = format_timestamp(1700000000123456LL);
	assert_string_equal(ts, "2023-11-14T22:13:20.123456Z");
}

/* read_file_bounded: up to the bound is read; one byte more is -EFBIG. */
static void bounded_read(void **state)
{
	(void)state;
	char path[] = "/var/tmp/cryo-test-bounded.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char big[20000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(write_file(path, big, sizeof(big), 0600, NULL), 0);
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(read_file_bounded(path, sizeof(big), &text, &len, NULL), 0);
	assert_int_equal(len, sizeof(big));
	assert_int_equal(text[len], '\0');
	free(text);
	text = NULL;
	cryo_err err = NULL;
	assert_int_equal(read_file_bounded(path, sizeof(big) - 1, &text, &len, &err), -EFBIG);
	assert_null(text);
	assert_non_null(strstr(err->msg, "larger than the 19999 bytes allowed"));
	cryo_error_free(&err);
	assert_int_equal(read_file_bounded(path, 0, &text, &len, NULL), -EFBIG);
	assert_int_equal(write_file(path, "", 0, 0600, NULL), 0);
	assert_int_equal(read_file_bounded(path, 0, &text, &len, NULL), 0);
	assert_int_equal(len, 0);
	free(text);
	unlink(path);
}

static void shell_quoting(void **state)
{
	(void)state;
	cleanup_free char *a = shell_quote("/plain/path");
	assert_string_equal(a, "'/plain/path'");
	cleanup_free char *b = shell_quote("x'$(id)'y");
	assert_string_equal(b, "'x'\\''$(id)'\\''y'");
	/* what /bin/sh makes of it: the same bytes, nothing run */
	cleanup_free char *cmd = xasprintf("printf %%s %s", b);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char out[64] = {0};
	assert_non_null(fgets(out, sizeof(out), p));
	pclose(p);
	assert_string_equal(out, "x'$(id)'y");
}

/* A tree far deeper than PATH_MAX, with a file at every level, goes whole. */
static void rm_rf_any_depth(void **state)
{
	(void)state;
	char base[] = "/var/tmp/cryo-test-rm.XXXXXX";
	assert_non_null(mkdtemp(base));
	int fd = open(base, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (int i = 0; i < 3000; i++) {
		assert_int_equal(mkdirat(fd, "level", 0755), 0);
		int f = openat(fd, "file", O_WRONLY | O_CREAT, 0644);
		assert_true(f >= 0);
		close(f);
		assert_int_equal(symlinkat("/etc/passwd", fd, "link"), 0);
		int next = openat(fd, "level", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);
	assert_int_equal(rm_rf(base, NULL), 0);
	assert_false(path_exists(base));
	/* a symlink is removed, never followed */
	assert_true(path_exists("/etc/passwd"));
	assert_int_equal(rm_rf(base, NULL), 0); /* missing: fine */
}

static bool watch_counts(void *data)
{
	int *calls = data;
	return ++*calls >= 3;
}

/* proc_run's watch: called while the child runs, and the child is killed
 * when it says so (stdout captured or not: both wait paths). */
static void proc_watch_stops_child(void **state)
{
	(void)state;
	for (int capture = 0; capture < 2; capture++) {
		char *argv[] = {"sleep", "30", NULL};
		struct proc_opts po = PROC_OPTS_INIT;
		struct proc_result res;
		int calls = 0;
		po.capture_stdout = capture;
		po.watch = watch_counts;
		po.watch_data = &calls;
		po.watch_ms = 10;
		int64_t start = now_monotonic_us();
		assert_int_equal(proc_run(argv, &po, &res, NULL), 0);
		assert_true(res.stopped);
		assert_false(res.timed_out);
		assert_int_equal(res.status, 128 + 9);
		assert_int_equal(calls, 3);
		assert_true(now_monotonic_us() - start < 10 * 1000 * 1000);
		proc_result_free(&res);
	}
	/* the negative control: a watch that never stops lets it finish */
	char *argv[] = {"true", NULL};
	struct proc_opts po = PROC_OPTS_INIT;
	struct proc_result res;
	int calls = -1000;
	po.watch = watch_counts;
	po.watch_data = &calls;
	po.watch_ms = 1;
	assert_int_equal(proc_run(argv, &po, &res, NULL), 0);
	assert_false(res.stopped);
	assert_int_equal(res.status, 0);
	proc_result_free(&res);
}

/* max_file_size: the child cannot write a file past it. */
static void proc_max_file_size(void **state)
{
	(void)state;
	char dir[] = "/var/tmp/cryo-test-fsize.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *out = xasprintf("of=%s/f", dir), *path = xasprintf("%s/f", dir);
	char *argv[] = {"dd", "if=/dev/zero", out, "bs=4096", "count=16", "status=none", NULL};
	struct proc_opts po = PROC_OPTS_INIT;
	struct proc_result res;
	struct stat st;
	po.max_file_size = 8192;
	assert_int_equal(proc_run(argv, &po, &res, NULL), 0);
	assert_int_not_equal(res.status, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 8192);
	proc_result_free(&res);
	/* the negative control: without the limit, all of it */
	po.max_file_size = 0;
	assert_int_equal(proc_run(argv, &po, &res, NULL), 0);
	assert_int_equal(res.status, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 16 * 4096);
	proc_result_free(&res);
	assert_int_equal(rm_rf(dir, NULL), 0);
	free(out);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(name_validation),
	    cmocka_unit_test(error_wrap_keeps_cause),
	    cmocka_unit_test(strv_ops),
	    cmocka_unit_test(random_ids_differ),
	    cmocka_unit_test(timestamp_format),
	    cmocka_unit_test(bounded_read),
	    cmocka_unit_test(shell_quoting),
	    cmocka_unit_test(rm_rf_any_depth),
	    cmocka_unit_test(proc_watch_stops_child),
	    cmocka_unit_test(proc_max_file_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
