/* cryo info: the host facts that decide how cryo checkpoints. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "info.h"
#include "util.h"

/* The text format: the JSON document as an indented "key: value" listing. */
static void print_text(struct json_object *obj, int depth)
{
	json_object_object_foreach (obj, key, value) {
		printf("%*s%s:", depth * 2, "", key);
		if (!value) {
			printf(" -\n");
		} else if (json_object_is_type(value, json_type_object)) {
			printf("\n");
			print_text(value, depth + 1);
		} else if (json_object_is_type(value, json_type_array)) {
			size_t n = json_object_array_length(value);
			printf(n ? "\n" : " []\n");
			for (size_t i = 0; i < n; i++)
				printf("%*s- %s\n", depth * 2 + 2, "",
				       json_object_get_string(json_object_array_get_idx(value, i)));
		} else if (json_object_is_type(value, json_type_string) &&
		           strchr(json_object_get_string(value), '\n')) {
			/* Multi-line text (CRIU's check output): indent its lines. */
			cleanup_free char *copy = xstrdup(json_object_get_string(value));
			char *save = NULL;
			printf(" |\n");
			for (char *line = strtok_r(copy, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save))
				printf("%*s%s\n", depth * 2 + 2, "", line);
		} else {
			printf(" %s\n", json_object_get_string(value));
		}
	}
}

int cmd_info(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *format = "text";
	struct cryo_engine *engine;
	int c, exit_code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "f:h", options, &exit_code)) != -1) {
		switch (c) {
		case 'f':
			format = optarg;
			break;
		case 'h':
			printf(
			    "Usage: cryo info [-f|--format json|text]\n\n"
			    "Show the host's facts that decide how cryo checkpoints: kernel, cgroup mode,\n"
			    "whether hardware breakpoints fire; which freezer a checkpoint uses and how\n"
			    "CRIU steps (criu.stepping: breakpoints, or syscall with CRIU_FAULT=130), and\n"
			    "why; CRIU and the OCI runtime, and the engine's directories.\n");
			return 0;
		default:
			return exit_code;
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (strcmp(format, "json") != 0 && strcmp(format, "text") != 0)
		return cli_usage_error(cli, "unknown format `%s` (expected json or text)", format);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;

	struct json_object *info = info_json(engine);
	if (strcmp(format, "json") == 0)
		cli_print_json(info);
	else
		print_text(info, 0);
	json_object_put(info);
	return 0;
}
