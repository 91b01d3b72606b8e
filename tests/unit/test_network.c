/* Unit tests for network.c's checks of values that may come from an archive:
 * published ports, IPv4 and MAC addresses, network names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "error.h"
#include "network.h"
#include "util.h"

static void port_parse_forms(void **state)
{
	(void)state;
	struct port_mapping p;
	cryo_err err = NULL;
	assert_int_equal(network_port_parse("8080:80", &p, &err), 0);
	assert_int_equal(p.host_port, 8080);
	assert_int_equal(p.container_port, 80);
	assert_string_equal(p.protocol, "tcp");
	assert_string_equal(p.host_ip, "");
	network_port_clear(&p);
	assert_int_equal(network_port_parse("127.0.0.1:53:5353/udp", &p, &err), 0);
	assert_string_equal(p.host_ip, "127.0.0.1");
	assert_int_equal(p.host_port, 53);
	assert_int_equal(p.container_port, 5353);
	assert_string_equal(p.protocol, "udp");
	network_port_clear(&p);
}

static void port_parse_rejects(void **state)
{
	(void)state;
	const char *bad[] = {
	    "80",  "0:80",        "65536:80",        "80:65536", "-1:80",     "80:80/sctp", "a:80", "80:",
	    ":80", "1.2.3:80:80", "999.1.1.1:80:80", "80:80/",   "123456:80", "8080:80:90", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct port_mapping p;
		cryo_err err = NULL;
		assert_true(network_port_parse(bad[i], &p, &err) < 0);
		assert_non_null(err);
		assert_non_null(strstr(err->msg, "invalid port"));
		cryo_error_free(&err);
	}
}

static void ports_from_json_checks_types_and_ranges(void **state)
{
	(void)state;
	const char *bad[] = {
	    "[{\"host_port\": \"80\", \"container_port\": 80, \"protocol\": \"tcp\"}]",
	    "[{\"host_port\": 99999, \"container_port\": 80, \"protocol\": \"tcp\"}]",
	    "[{\"host_port\": 80, \"container_port\": 0, \"protocol\": \"tcp\"}]",
	    "[{\"host_port\": 80, \"container_port\": 80, \"protocol\": \"icmp\"}]",
	    "[{\"host_port\": 80, \"container_port\": 80, \"protocol\": \"tcp\", \"host_ip\": \"x\"}]",
	    "[{\"host_port\": 80, \"container_port\": 80}]",
	    "[1]",
	    "{}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct json_object *a = json_tokener_parse(bad[i]);
		struct port_mapping *ports = NULL;
		size_t n = 0;
		cryo_err err = NULL;
		assert_true(network_ports_from_json(a, &ports, &n, &err) < 0);
		assert_null(ports);
		cryo_error_free(&err);
		json_object_put(a);
	}
	struct json_object *a = json_tokener_parse("[{\"host_port\": 8080, \"container_port\": 80, "
	                                           "\"protocol\": \"tcp\", \"host_ip\": \"10.0.0.1\"}]");
	struct port_mapping *ports = NULL;
	size_t n = 0;
	assert_int_equal(network_ports_from_json(a, &ports, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ports[0].host_port, 8080);
	assert_string_equal(ports[0].host_ip, "10.0.0.1");
	network_ports_free(ports, n);
	json_object_put(a);
}

static void addresses_and_names(void **state)
{
	(void)state;
	assert_true(network_ipv4_is_valid("10.89.0.2"));
	assert_false(network_ipv4_is_valid("10.89.0.300"));
	assert_false(network_ipv4_is_valid("10.89.0"));
	assert_false(network_ipv4_is_valid("::1"));
	assert_false(network_ipv4_is_valid(""));
	assert_true(network_mac_is_valid("3e:c7:0e:20:2d:f0"));
	assert_false(network_mac_is_valid("ff:ff:ff:ff:ff:ff")); /* broadcast */
	assert_false(network_mac_is_valid("01:00:5e:00:00:01")); /* multicast */
	assert_false(network_mac_is_valid("00:00:00:00:00:00"));
	assert_false(network_mac_is_valid("3e:c7:0e:20:2d"));
	assert_false(network_mac_is_valid("3e-c7-0e-20-2d-f0"));
	assert_false(network_mac_is_valid("3e:c7:0e:20:2d:fg"));
	assert_true(network_name_is_valid("none"));
	assert_true(network_name_is_valid("host"));
	assert_true(network_name_is_valid("front-1"));
	assert_false(network_name_is_valid("../etc"));
	assert_false(network_name_is_valid("a b"));
	assert_false(network_name_is_valid(""));
	assert_false(network_is_bridge("none"));
	assert_false(network_is_bridge("host"));
	assert_true(network_is_bridge("cryo"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(port_parse_forms),
	    cmocka_unit_test(port_parse_rejects),
	    cmocka_unit_test(ports_from_json_checks_types_and_ranges),
	    cmocka_unit_test(addresses_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
