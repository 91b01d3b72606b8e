/* Unit tests for image names: NAME[:TAG] parsing and validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "image.h"
#include "util.h"

static void expect_ref(const char *ref, const char *repo, const char *tag)
{
	cryo_err err = NULL;
	char *r = NULL, *t = NULL;
	assert_int_equal(image_ref_parse(ref, &r, &t, &err), 0);
	assert_null(err);
	assert_string_equal(r, repo);
	assert_string_equal(t, tag);
	free(r);
	free(t);
}

static void expect_bad_ref(const char *ref, const char *msg_part)
{
	cryo_err err = NULL;
	char *r = NULL, *t = NULL;
	assert_int_equal(image_ref_parse(ref, &r, &t, &err), -EINVAL);
	assert_null(r);
	assert_null(t);
	if (!strstr(err->msg, msg_part))
		fail_msg("error `%s` lacks `%s`", err->msg, msg_part);
	cryo_error_free(&err);
}

static void ref_parse_valid(void **state)
{
	(void)state;
	expect_ref("busybox", "busybox", "latest");
	expect_ref("busybox:1.36", "busybox", "1.36");
	expect_ref("docker.io/library/busybox:v1_X-y.z", "docker.io/library/busybox", "v1_X-y.z");
	expect_ref("a", "a", "latest");
	expect_ref("0app:_x", "0app", "_x");
	expect_ref("my-app_1.2", "my-app_1.2", "latest");
}

static void ref_parse_invalid(void **state)
{
	(void)state;
	expect_bad_ref("", "repository");
	expect_bad_ref("BusyBox", "repository");
	expect_bad_ref("-lead", "repository");
	expect_bad_ref(".hidden", "repository");
	expect_bad_ref("/abs", "repository");
	expect_bad_ref("sp ace", "repository");
	expect_bad_ref(":tag", "repository");
	expect_bad_ref("busybox:", "tag");
	expect_bad_ref("busybox:.x", "tag");
	expect_bad_ref("busybox:-x", "tag");
	expect_bad_ref("busybox:a:b", "tag");
	expect_bad_ref("busybox:a/b", "tag");
	expect_bad_ref("localhost:5000/busybox", "tag");
}

static void length_limits(void **state)
{
	(void)state;
	char name[130];
	memset(name, 'a', sizeof(name));
	name[128] = '\0';
	assert_true(image_repository_is_valid(name));
	assert_true(image_tag_is_valid(name));
	name[128] = 'a';
	name[129] = '\0';
	assert_false(image_repository_is_valid(name));
	assert_false(image_tag_is_valid(name));
}

static void validators(void **state)
{
	(void)state;
	assert_true(image_repository_is_valid("a/b.c_d-e"));
	assert_false(image_repository_is_valid("A"));
	assert_false(image_repository_is_valid("a:b"));
	assert_true(image_tag_is_valid("V1.0-rc_1"));
	assert_false(image_tag_is_valid("v1/0"));
	assert_false(image_tag_is_valid(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ref_parse_valid),
	    cmocka_unit_test(ref_parse_invalid),
	    cmocka_unit_test(length_limits),
	    cmocka_unit_test(validators),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
