/* Unit tests for container.c's --tmpfs parsing: the options a tmpfs may have
 * come from the command line and from archives, so junk must never pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "container.h"
#include "error.h"
#include "util.h"

static void accepts_the_allowed_options(void **state)
{
	(void)state;
	static const char *const good[] = {
	    "",
	    "size=64m",
	    "size=10%",
	    "size=1048576",
	    "nr_inodes=1k,mode=1777",
	    "uid=1000,gid=1000",
	    "ro,noexec,nosuid,nodev",
	    "rw,exec,noatime",
	    "relatime,atime,size=2G",
	    "mode=0700",
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		cleanup_error cryo_err err = NULL;
		if (container_tmpfs_options_validate(good[i], &err) != 0)
			fail_msg("`%s` refused: %s", good[i], err ? err->msg : "?");
	}
}

static void refuses_everything_else(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "suid",        "dev",     "size=",          "size=1z",    "size=-1",
	    "size=1mm",    "mode=",   "mode=8",         "mode=17777", "uid=4294967296",
	    "gid=x",       ",",       "size=1m,",       ",size=1m",   "size=1m,,ro",
	    "nosymfollow", "x-foo=1", "size=1m;reboot", "SIZE=1m",    "size=99999999999999999999",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_error cryo_err err = NULL;
		if (container_tmpfs_options_validate(bad[i], &err) != -EINVAL)
			fail_msg("`%s` accepted", bad[i]);
		assert_non_null(err);
	}
}

static void parse_splits_path_and_options(void **state)
{
	(void)state;
	struct container_mount m;
	cleanup_error cryo_err err = NULL;
	assert_int_equal(container_tmpfs_parse("/scratch:size=1m,mode=1770", &m, &err), 0);
	assert_int_equal(m.kind, MOUNT_TMPFS);
	assert_string_equal(m.destination, "/scratch");
	assert_string_equal(m.source, "size=1m,mode=1770");
	free(m.source);
	free(m.destination);
	assert_int_equal(container_tmpfs_parse("/run/x", &m, &err), 0);
	assert_string_equal(m.source, "");
	free(m.source);
	free(m.destination);
	static const char *const bad[] = {"", "/", "relative", "/a/../b", "/a:suid"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_error cryo_err e = NULL;
		if (container_tmpfs_parse(bad[i], &m, &e) == 0)
			fail_msg("`%s` accepted", bad[i]);
	}
}

/* A mount destination (and a bind mount's source) must be clean: the one
 * spelling of its path, so that `/data`, `/data/` and `//data` cannot be
 * taken for three places and `//` for anything but the root. */
static void destinations_must_be_clean(void **state)
{
	(void)state;
	static const char *const bad[] = {"//",   "//a", "/a/",   "/a//b", "/a/./b", "/.",
	                                  "/a/.", "/..", "/a/..", "a/b",   "/a/b/",  "///"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct container_mount m = {0};
		cleanup_error cryo_err e = NULL;
		if (container_tmpfs_parse(bad[i], &m, &e) == 0)
			fail_msg("tmpfs at `%s` accepted", bad[i]);
		cleanup_free char *vol = xasprintf("v:%s", bad[i]);
		cleanup_error cryo_err e2 = NULL;
		if (container_mount_parse(vol, &m, &e2) == 0)
			fail_msg("volume `%s` accepted", vol);
	}
	static const char *const good[] = {"/a", "/a/b", "/a.b/..c/...", "/a b"};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct container_mount m = {0};
		cleanup_error cryo_err e = NULL;
		if (container_tmpfs_parse(good[i], &m, &e) != 0)
			fail_msg("tmpfs at `%s` refused: %s", good[i], e ? e->msg : "?");
		assert_string_equal(m.destination, good[i]);
		free(m.source);
		free(m.destination);
	}
}

/* Configurations stored by an older cryo (and archives it wrote) may spell
 * a mount path with `//`, `.` or a trailing `/`, which it accepted: they are
 * read in their clean spelling and still restore. `..` is still refused. */
static void stored_paths_are_tidied(void **state)
{
	(void)state;
	static const char *json = "{\"command\":[\"sh\"],\"mounts\":["
	                          "{\"type\":\"volume\",\"source\":\"v\",\"destination\":\"/data/\"},"
	                          "{\"type\":\"bind\",\"source\":\"/srv//x/\",\"destination\":\"//b/./c\"}]}";
	struct container_config cfg = {0};
	cryo_err err = NULL;
	assert_int_equal(container_config_from_json(json, &cfg, &err), 0);
	assert_string_equal(cfg.mounts[0].destination, "/data");
	assert_string_equal(cfg.mounts[0].source, "v");
	assert_string_equal(cfg.mounts[1].destination, "/b/c");
	assert_string_equal(cfg.mounts[1].source, "/srv/x");
	if (container_config_validate(&cfg, &err) != 0)
		fail_msg("tidied configuration refused: %s", err->msg);
	container_config_free(&cfg);

	static const char *const refused[] = {"/a/../b", "//", "/./", "/.."};
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		cleanup_free char *bad =
		    xasprintf("{\"command\":[\"sh\"],\"mounts\":[{\"type\":\"volume\",\"source\":\"v\","
		              "\"destination\":\"%s\"}]}",
		              refused[i]);
		cleanup_error cryo_err e = NULL;
		assert_int_equal(container_config_from_json(bad, &cfg, &e), 0);
		if (container_config_validate(&cfg, &e) == 0)
			fail_msg("stored destination `%s` accepted as `%s`", refused[i],
			         cfg.mounts[0].destination);
		container_config_free(&cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(accepts_the_allowed_options),   cmocka_unit_test(refuses_everything_else),
	    cmocka_unit_test(parse_splits_path_and_options), cmocka_unit_test(destinations_must_be_clean),
	    cmocka_unit_test(stored_paths_are_tidied),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
