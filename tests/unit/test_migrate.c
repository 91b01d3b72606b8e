/* Tests for migrate.c: DESTINATION parsing (what could become an ssh option
 * or a shell word is refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "migrate.h"
#include "util.h"

static void parses_ssh_and_root(void **state)
{
	(void)state;
	struct migrate_destination d;
	assert_int_equal(migrate_destination_parse("ssh://host2", &d, NULL), 0);
	assert_int_equal(d.kind, MIGRATE_SSH);
	assert_string_equal(d.host, "host2");
	assert_null(d.user);
	assert_null(d.port);
	migrate_destination_free(&d);

	assert_int_equal(migrate_destination_parse("ssh://root@10.0.0.2:2222", &d, NULL), 0);
	assert_string_equal(d.user, "root");
	assert_string_equal(d.host, "10.0.0.2");
	assert_string_equal(d.port, "2222");
	migrate_destination_free(&d);

	assert_int_equal(migrate_destination_parse("ssh://[fe80::1]:22", &d, NULL), 0);
	assert_string_equal(d.host, "fe80::1");
	assert_string_equal(d.port, "22");
	migrate_destination_free(&d);

	assert_int_equal(migrate_destination_parse("root:/srv/cryo2", &d, NULL), 0);
	assert_int_equal(d.kind, MIGRATE_ROOT);
	assert_string_equal(d.root, "/srv/cryo2");
	migrate_destination_free(&d);
}

static void refuses_hostile_destinations(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "ssh://-oProxyCommand=touch /tmp/x", /* an ssh option */
	    "ssh://-host",
	    "ssh://user@-oProxyCommand=x",
	    "ssh://-l@host", /* a user that is an option */
	    "ssh://us;er@host",
	    "ssh://host;reboot",
	    "ssh://host name",
	    "ssh://host$(id)",
	    "ssh://host/path",
	    "ssh://host:",
	    "ssh://host:0",
	    "ssh://host:65536",
	    "ssh://host:22x",
	    "ssh://",
	    "ssh://@host",
	    "ssh://[::1",
	    "root:relative/dir",
	    "root:",
	    "host:/dir",
	    "",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct migrate_destination d;
		cryo_err err = NULL;
		if (migrate_destination_parse(bad[i], &d, &err) == 0)
			fail_msg("accepted `%s`", bad[i]);
		assert_non_null(err);
		cryo_error_free(&err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_ssh_and_root),
	    cmocka_unit_test(refuses_hostile_destinations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
