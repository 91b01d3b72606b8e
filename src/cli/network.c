/* cryo network create / ls / inspect / rm */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "network.h"
#include "util.h"

static const char create_usage[] =
    "Usage: cryo network create [--subnet A.B.C.D/N] [--gateway A.B.C.D] NAME\n\n"
    "A bridge network (CNI bridge, host-local addresses, NAT to the outside).\n"
    "Without --subnet, the first free " NETWORK_AUTO_PREFIX ".N.0/24; the gateway defaults to\n"
    "the subnet's first address.\n";

int cmd_network_create(struct cli *cli, int argc, char **argv)
{
	enum { OPT_SUBNET = 256, OPT_GATEWAY };
	static const struct option longopts[] = {
	    {"subnet", required_argument, NULL, OPT_SUBNET},
	    {"gateway", required_argument, NULL, OPT_GATEWAY},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *subnet = NULL, *gateway = NULL;
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_network struct network *net = NULL;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "h", longopts, &code)) != -1) {
		switch (c) {
		case OPT_SUBNET:
			subnet = optarg;
			break;
		case OPT_GATEWAY:
			gateway = optarg;
			break;
		case 'h':
			printf("%s", create_usage);
			return 0;
		default:
			return code;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(cli, "exactly one network name is required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (network_create(engine, argv[optind], subnet, gateway, &net, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", net->name);
	return 0;
}

int cmd_network_ls(struct cli *cli, int argc, char **argv)
{
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	bool json = false;
	int code = cli_parse_simple(cli, argc, argv, "Usage: cryo network ls [--format json]", &json);
	if (code >= 0)
		return code;
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	struct network **list = NULL;
	size_t n = 0;
	if (network_list(engine, &list, &n, &err) < 0)
		return cli_fail(&err);
	struct json_object *arr = json_object_new_array();
	if (!json)
		printf("%-20s  %-18s  %-15s  %s\n", "NAME", "SUBNET", "GATEWAY", "BRIDGE");
	for (size_t i = 0; i < n; i++) {
		if (json)
			json_object_array_add(arr, network_inspect_json(engine, list[i]));
		else
			printf("%-20s  %-18s  %-15s  %s\n", list[i]->name, list[i]->subnet, list[i]->gateway,
			       list[i]->bridge);
		network_free(list[i]);
	}
	free(list);
	if (json)
		cli_print_json(arr);
	json_object_put(arr);
	return 0;
}

int cmd_network_inspect(struct cli *cli, int argc, char **argv)
{
	struct cryo_engine *engine;
	int code = cli_parse_simple(cli, argc, argv, "Usage: cryo network inspect NAME...", NULL);
	if (code >= 0)
		return code;
	if (optind >= argc)
		return cli_usage_error(cli, "at least one network name is required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	struct json_object *arr = json_object_new_array();
	code = 0;
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		cleanup_network struct network *net = NULL;
		if (network_get(engine, argv[i], &net, &err) < 0) {
			code = cli_fail(&err);
			continue;
		}
		json_object_array_add(arr, network_inspect_json(engine, net));
	}
	if (json_object_array_length(arr) > 0)
		cli_print_json(arr);
	json_object_put(arr);
	return code;
}

int cmd_network_rm(struct cli *cli, int argc, char **argv)
{
	struct cryo_engine *engine;
	int code = cli_parse_simple(cli, argc, argv, "Usage: cryo network rm NAME...", NULL);
	if (code >= 0)
		return code;
	if (optind >= argc)
		return cli_usage_error(cli, "at least one network name is required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	code = 0;
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		if (network_remove(engine, argv[i], &err) < 0)
			code = cli_fail(&err);
		else
			printf("%s\n", argv[i]);
	}
	return code;
}
