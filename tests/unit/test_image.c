/* Unit tests for image names: NAME[:TAG] parsing and validation, and
 * registry references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "image.h"
#include "registry.h"
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
	expect_bad_ref("busybox:a/b", "tag"); /* `busybox:a` is no registry */
	/* a `:` before a `/` is only a registry's port */
	expect_bad_ref("localhost:50x0/busybox", "tag");
	expect_bad_ref("localhost:/busybox", "tag");
	expect_bad_ref("localhost:123456/busybox", "tag");
	expect_bad_ref("Host:5000/busybox", "repository");
	expect_bad_ref("host:5000/Busybox", "repository");
	expect_bad_ref("host:5000/", "repository");
	expect_bad_ref("a:1/b:2/c", "repository");
}

/* Registry references name images in the store by HOST[:PORT]/PATH:TAG. */
static void ref_parse_registry(void **state)
{
	(void)state;
	expect_ref("localhost:5000/busybox", "localhost:5000/busybox", "latest");
	expect_ref("127.0.0.1:5000/team/ck:1", "127.0.0.1:5000/team/ck", "1");
	expect_ref("registry.example/ck:v2", "registry.example/ck", "v2");
}

static void expect_registry_ref(const char *ref, const char *name, const char *skopeo_ref)
{
	cryo_err err = NULL;
	char *n = NULL, *s = NULL;
	assert_int_equal(registry_ref_parse(ref, &n, &s, &err), 0);
	assert_string_equal(n, name);
	assert_string_equal(s, skopeo_ref);
	free(n);
	free(s);
}

static void expect_bad_registry_ref(const char *ref, const char *msg_part)
{
	cryo_err err = NULL;
	char *n = NULL, *s = NULL;
	assert_int_equal(registry_ref_parse(ref, &n, &s, &err), -EINVAL);
	assert_null(n);
	assert_null(s);
	if (!strstr(err->msg, msg_part))
		fail_msg("error `%s` lacks `%s`", err->msg, msg_part);
	cryo_error_free(&err);
}

static void registry_refs(void **state)
{
	(void)state;
	static const char digest[] =
	    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char ref[256], skopeo_ref[256];
	expect_registry_ref("docker://localhost:5000/ck:1", "localhost:5000/ck:1",
	                    "docker://localhost:5000/ck:1");
	expect_registry_ref("localhost:5000/ck", "localhost:5000/ck:latest",
	                    "docker://localhost:5000/ck:latest");
	snprintf(ref, sizeof(ref), "docker://reg.example/ck@%s", digest);
	snprintf(skopeo_ref, sizeof(skopeo_ref), "docker://reg.example/ck@%s", digest);
	expect_registry_ref(ref, "reg.example/ck:latest", skopeo_ref);
	expect_bad_registry_ref("oci:/tmp/layout", "only the docker:// transport");
	expect_bad_registry_ref("docker-archive:/tmp/x.tar", "only the docker:// transport");
	expect_bad_registry_ref("https://reg.example/ck", "only the docker:// transport");
	expect_bad_registry_ref("docker://", "invalid registry reference");
	expect_bad_registry_ref("docker://-x", "invalid registry reference");
	expect_bad_registry_ref("docker://reg.example/ck@sha256:12", "a digest is sha256:");
	expect_bad_registry_ref("docker://reg.example/Ck", "repository must match");
	assert_true(registry_ref_names_registry("docker://busybox"));
	assert_true(registry_ref_names_registry("localhost/ck"));
	assert_true(registry_ref_names_registry("127.0.0.1:5000/ck:1"));
	assert_true(registry_ref_names_registry("reg.example/ck"));
	assert_false(registry_ref_names_registry("ck:1"));
	assert_false(registry_ref_names_registry("team/ck:1"));
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
	assert_true(image_repository_is_valid("a:1/b"));
	assert_false(image_repository_is_valid("a:b/c"));
	assert_true(image_tag_is_valid("V1.0-rc_1"));
	assert_false(image_tag_is_valid("v1/0"));
	assert_false(image_tag_is_valid(""));
}

/* The JSON of `cryo images --format json`: keys, order, nulls of an untagged
 * image, the tag split at the last `:` (a registry port is no tag). */
static void list_json(void **state)
{
	(void)state;
	char *layers[] = {"l1", NULL};
	struct image tagged = {.id = "aa",
	                       .name = "localhost:5000/team/app:v1",
	                       .created = 1000000,
	                       .layers = layers,
	                       .size = 42};
	struct image untagged = {
	    .id = "bb", .created = 0, .layers = layers, .size = 0, .checkpoint_layer = "cc"};
	struct image *list[] = {&tagged, &untagged};
	struct json_object *a = image_list_json(list, 2);
	assert_string_equal(
	    json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
	    "[{\"id\":\"aa\",\"name\":\"localhost:5000/team/app:v1\","
	    "\"repository\":\"localhost:5000/team/app\",\"tag\":\"v1\","
	    "\"created\":\"1970-01-01T00:00:01.000000Z\",\"size\":42,\"checkpoint\":false},"
	    "{\"id\":\"bb\",\"name\":null,\"repository\":null,\"tag\":null,"
	    "\"created\":\"1970-01-01T00:00:00.000000Z\",\"size\":0,\"checkpoint\":true}]");
	json_object_put(a);

	char *repository, *tag;
	image_name_split(&untagged, &repository, &tag);
	assert_string_equal(repository, "<none>");
	assert_string_equal(tag, "<none>");
	free(repository);
	free(tag);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ref_parse_valid),    cmocka_unit_test(ref_parse_invalid),
	    cmocka_unit_test(ref_parse_registry), cmocka_unit_test(registry_refs),
	    cmocka_unit_test(length_limits),      cmocka_unit_test(validators),
	    cmocka_unit_test(list_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
