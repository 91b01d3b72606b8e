/* cryo volume create / ls / inspect / rm */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "state.h"
#include "util.h"
#include "volume.h"

int cmd_volume_create(struct cli *cli, int argc, char **argv)
{
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	int code = cli_parse_simple(cli, argc, argv, "Usage: cryo volume create NAME", NULL);
	if (code >= 0)
		return code;
	if (argc - optind != 1)
		return cli_usage_error(cli, "exactly one volume name is required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (volume_create(engine, argv[optind], false, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", argv[optind]);
	return 0;
}

int cmd_volume_ls(struct cli *cli, int argc, char **argv)
{
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	bool json = false;
	int code = cli_parse_simple(cli, argc, argv, "Usage: cryo volume ls [--format json]", &json);
	if (code >= 0)
		return code;
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	struct volume **list = NULL;
	size_t n = 0;
	if (state_volume_list(engine, &list, &n, &err) < 0)
		return cli_fail(&err);
	struct json_object *arr = json_object_new_array();
	if (!json)
		printf("%-8s  %s\n", "DRIVER", "VOLUME NAME");
	for (size_t i = 0; i < n; i++) {
		if (json)
			json_object_array_add(arr,
			                      volume_inspect_json(engine, list[i]->name, list[i]->created));
		else
			printf("%-8s  %s\n", "local", list[i]->name);
		volume_free(list[i]);
	}
	free(list);
	if (json)
		cli_print_json(arr);
	json_object_put(arr);
	return 0;
}

int cmd_volume_inspect(struct cli *cli, int argc, char **argv)
{
	struct cryo_engine *engine;
	int code = cli_parse_simple(cli, argc, argv, "Usage: cryo volume inspect NAME...", NULL);
	if (code >= 0)
		return code;
	if (optind >= argc)
		return cli_usage_error(cli, "at least one volume name is required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	code = 0;
	struct json_object *arr = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		struct volume *v = NULL;
		if (state_volume_get(engine, argv[i], &v, &err) < 0) {
			code = cli_fail(&err);
			continue;
		}
		json_object_array_add(arr, volume_inspect_json(engine, v->name, v->created));
		volume_free(v);
	}
	if (json_object_array_length(arr) > 0)
		cli_print_json(arr);
	json_object_put(arr);
	return code;
}

int cmd_volume_rm(struct cli *cli, int argc, char **argv)
{
	struct cryo_engine *engine;
	int code = cli_parse_simple(cli, argc, argv, "Usage: cryo volume rm NAME...", NULL);
	if (code >= 0)
		return code;
	if (optind >= argc)
		return cli_usage_error(cli, "at least one volume name is required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	code = 0;
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		if (volume_remove(engine, argv[i], &err) < 0) {
			code = cli_fail(&err);
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return code;
}
