/* Unit tests for attach.c's frame reader and detach-key parsing, and for
 * passwd.c's user resolution on a scratch root file system. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <fcntl.h>

#include "attach.h"
#include "passwd.h"
#include "util.h"

static void frames_are_decoded_across_partial_reads(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(pipe(sv), 0);
	assert_int_equal(attach_write_frame(sv[1], ATTACH_STDIN, "hello", 5), 0);
	assert_int_equal(attach_write_frame(sv[1], ATTACH_STDIN_CLOSE, NULL, 0), 0);
	unsigned char all[64];
	ssize_t n = read(sv[0], all, sizeof(all));
	assert_int_equal(n, 5 + 5 + 5);
	close(sv[0]);
	close(sv[1]);

	static struct attach_reader r;
	char type;
	const unsigned char *payload;
	size_t len;
	/* one byte at a time: no frame until the first is complete */
	for (ssize_t i = 0; i < 9; i++) {
		r.buf[r.len++] = all[i];
		assert_int_equal(attach_reader_next(&r, &type, &payload, &len), 0);
	}
	r.buf[r.len++] = all[9];
	assert_int_equal(attach_reader_next(&r, &type, &payload, &len), 1);
	assert_int_equal(type, ATTACH_STDIN);
	assert_int_equal(len, 5);
	assert_memory_equal(payload, "hello", 5);
	attach_reader_consume(&r);
	memcpy(r.buf + r.len, all + 10, 5);
	r.len += 5;
	assert_int_equal(attach_reader_next(&r, &type, &payload, &len), 1);
	assert_int_equal(type, ATTACH_STDIN_CLOSE);
	assert_int_equal(len, 0);
	attach_reader_consume(&r);
	assert_int_equal(r.len, 0);
}

static void oversized_frames_are_refused(void **state)
{
	(void)state;
	static struct attach_reader r;
	unsigned char head[5] = {'i', 0x00, 0x01, 0x00, 0x01}; /* 65537 bytes */
	memcpy(r.buf, head, 5);
	r.len = 5;
	char type;
	const unsigned char *payload;
	size_t len;
	assert_int_equal(attach_reader_next(&r, &type, &payload, &len), -EPROTO);
}

static void detach_keys_parse_like_podman(void **state)
{
	(void)state;
	unsigned char keys[ATTACH_MAX_DETACH_KEYS];
	size_t n;
	cryo_err err = NULL;
	assert_int_equal(attach_parse_detach_keys("ctrl-p,ctrl-q", keys, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(keys[0], 0x10);
	assert_int_equal(keys[1], 0x11);
	assert_int_equal(attach_parse_detach_keys("ctrl-@,ctrl-[,x", keys, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(keys[0], 0);
	assert_int_equal(keys[1], 0x1b);
	assert_int_equal(keys[2], 'x');
	assert_int_equal(attach_parse_detach_keys("", keys, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_true(attach_parse_detach_keys("ctrl-1", keys, &n, &err) < 0);
	assert_non_null(strstr(err->msg, "invalid detach key `ctrl-1`"));
	cryo_error_free(&err);
	assert_true(attach_parse_detach_keys("ab", keys, &n, &err) < 0);
	cryo_error_free(&err);
	assert_true(attach_parse_detach_keys("a,a,a,a,a,a,a,a,a", keys, &n, &err) < 0);
	cryo_error_free(&err);
}

/* A scratch root with etc/passwd and etc/group. */
static int make_root(char *dir, const char *passwd, const char *group)
{
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/etc", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	if (passwd) {
		snprintf(path, sizeof(path), "%s/etc/passwd", dir);
		assert_int_equal(write_file(path, passwd, strlen(passwd), 0644, NULL), 0);
	}
	if (group) {
		snprintf(path, sizeof(path), "%s/etc/group", dir);
		assert_int_equal(write_file(path, group, strlen(group), 0644, NULL), 0);
	}
	int fd = open(dir, O_PATH | O_DIRECTORY);
	assert_true(fd >= 0);
	return fd;
}

static void expect_user(int rootfd, const char *user, const char *want)
{
	cryo_err err = NULL;
	char *out = NULL;
	int r = passwd_resolve(rootfd, user, &out, &err);
	if (r < 0)
		fail_msg("%s: %s", user, err->msg);
	assert_string_equal(out, want);
	free(out);
}

static void expect_user_error(int rootfd, const char *user, const char *msg_part)
{
	cryo_err err = NULL;
	char *out = NULL;
	assert_true(passwd_resolve(rootfd, user, &out, &err) < 0);
	assert_null(out);
	assert_non_null(strstr(err->msg, msg_part));
	cryo_error_free(&err);
}

static void users_and_groups_resolve(void **state)
{
	(void)state;
	char dir[] = "/tmp/cryo-passwd-XXXXXX";
	int fd = make_root(dir,
	                   "root:x:0:0:root:/root:/bin/sh\n"
	                   "garbage line\n"
	                   "bad:x:notanumber:1::/:/bin/sh\n"
	                   "app:x:1000:1001::/home/app:/bin/sh\n",
	                   "root:x:0:\nstaff:x:50:app\n");
	expect_user(fd, "app", "1000:1001");
	expect_user(fd, "app:staff", "1000:50");
	expect_user(fd, "app:7", "1000:7");
	expect_user(fd, "1000:staff", "1000:50");
	expect_user(fd, "root:staff", "0:50");
	expect_user_error(fd, "bad", "no user `bad`");
	expect_user_error(fd, "ghost", "no user `ghost` in the container's /etc/passwd");
	expect_user_error(fd, "app:nogroup", "no group `nogroup`");
	expect_user_error(fd, "a;b", "expected NAME or UID");
	expect_user_error(fd, "-x", "expected NAME or UID");
	assert_true(passwd_user_is_numeric("1000"));
	assert_true(passwd_user_is_numeric("1000:50"));
	assert_true(passwd_user_is_numeric("root"));
	assert_false(passwd_user_is_numeric("app"));
	assert_false(passwd_user_is_numeric("1000:staff"));
	close(fd);
	rm_rf(dir, NULL);
}

static void passwd_links_stay_in_the_root(void **state)
{
	(void)state;
	char dir[] = "/tmp/cryo-passwd-XXXXXX";
	int fd = make_root(dir, NULL, NULL);
	char path[256];
	/* An absolute link resolves inside the root: to the root's own file. */
	snprintf(path, sizeof(path), "%s/etc/real", dir);
	assert_int_equal(write_file(path, "linked:x:5:6::/:/bin/sh\n", 24, 0644, NULL), 0);
	snprintf(path, sizeof(path), "%s/etc/passwd", dir);
	assert_int_equal(symlink("/etc/real", path), 0);
	expect_user(fd, "linked", "5:6");
	/* A link climbing out ends at the root's top, never the host's file. */
	unlink(path);
	assert_int_equal(symlink("../../../../../../../../etc/group", path), 0);
	expect_user_error(fd, "root", "no user `root` in the container's /etc/passwd (it has none)");
	close(fd);
	rm_rf(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(frames_are_decoded_across_partial_reads),
	    cmocka_unit_test(oversized_frames_are_refused),
	    cmocka_unit_test(detach_keys_parse_like_podman),
	    cmocka_unit_test(users_and_groups_resolve),
	    cmocka_unit_test(passwd_links_stay_in_the_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
