/* cryo ps */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "container.h"
#include "util.h"

static char *status_text(const struct container *c)
{
	if (c->state == CONTAINER_EXITED)
		return xasprintf("Exited (%d)", c->exit_code);
	if (c->state == CONTAINER_RUNNING)
		return xstrdup("Up");
	if (c->state == CONTAINER_PAUSED)
		return xstrdup("Paused");
	if (c->state == CONTAINER_CHECKPOINTED)
		return xstrdup("Checkpointed");
	return xstrdup("Created");
}

int cmd_ps(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {{"all", no_argument, NULL, 'a'},
	                                         {"format", required_argument, NULL, 'f'},
	                                         {"quiet", no_argument, NULL, 'q'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {}};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	bool all = false, json = false, quiet = false;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "aqh", longopts, &code)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'f':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0)
				return cli_usage_error(cli, "unsupported format `%s`: use table or json",
				                       optarg);
			json = strcmp(optarg, "json") == 0;
			break;
		case 'h':
			printf("Usage: cryo ps [-a|--all] [-q|--quiet] [--format table|json]\n");
			return 0;
		default:
			return code;
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	struct container **list = NULL;
	size_t n = 0;
	if (state_container_list(engine, &list, &n, &err) < 0)
		return cli_fail(&err);
	struct json_object *arr = json_object_new_array();
	if (!json && !quiet)
		printf("%-12s  %-20s  %-24s  %-14s  %s\n", "CONTAINER ID", "IMAGE", "COMMAND", "STATUS",
		       "NAMES");
	for (size_t i = 0; i < n; i++) {
		cleanup_container struct container *fresh = NULL;
		/* bring each container's state up to date (a dead monitor) */
		if (container_get(engine, list[i]->id, &fresh, NULL) < 0)
			continue;
		if (!all && !container_is_active(fresh))
			continue;
		if (json) {
			json_object_array_add(arr, container_inspect_json(engine, fresh));
			continue;
		}
		if (quiet) {
			printf("%.12s\n", fresh->id);
			continue;
		}
		struct container_config cfg = {0};
		cleanup_free char *cmd = NULL;
		if (container_config_from_json(fresh->config, &cfg, NULL) == 0) {
			cmd = xstrdup("");
			for (size_t j = 0; cfg.command && cfg.command[j]; j++) {
				char *next = xasprintf("%s%s%s", cmd, j ? " " : "", cfg.command[j]);
				free(cmd);
				cmd = next;
			}
		}
		container_config_free(&cfg);
		cleanup_free char *status = status_text(fresh);
		printf("%.12s  %-20.20s  %-24.24s  %-14s  %s\n", fresh->id, fresh->image_name, cmd ? cmd : "",
		       status, fresh->name);
	}
	if (json)
		cli_print_json(arr);
	json_object_put(arr);
	container_list_free(list, n);
	return 0;
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {}};
	struct cryo_engine *engine;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "h", longopts, &code)) != -1) {
		if (c == 'h') {
			printf("Usage: cryo inspect CONTAINER...\n");
			return 0;
		}
		return code;
	}
	if (optind >= argc)
		return cli_usage_error(cli, "at least one container is required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	struct json_object *arr = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		cleanup_container struct container *ct = NULL;
		if (container_get(engine, argv[i], &ct, &err) < 0) {
			code = cli_fail(&err);
			continue;
		}
		json_object_array_add(arr, container_inspect_json(engine, ct));
	}
	if (json_object_array_length(arr) > 0)
		cli_print_json(arr);
	json_object_put(arr);
	return code;
}
