/* cryo system df: what images, containers, volumes and checkpoints take on disk. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "disk_usage.h"
#include "util.h"

static const char usage[] = "Usage: cryo system df [--format table|json]\n\n"
                            "Show how much disk space images, containers, volumes and kept checkpoints\n"
                            "take, how many of each are in use, and how much removing the unused ones\n"
                            "would free (RECLAIMABLE). Sizes are allocated bytes, like du(1).\n\n"
                            "Options:\n"
                            "      --format FORMAT     table (default) or json (sizes in bytes)\n";

/* Podman's sizes: decimal units, three significant digits. */
static void format_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1000.0 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 "B", bytes);
	else
		snprintf(buf, size, "%.4g%s", v, units[u]);
}

static const char *const kind_names[] = {"Images", "Containers", "Local Volumes", "Checkpoints"};

int cmd_system_df(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	struct disk_usage du;
	bool json = false;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "h", options, &code)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "table") == 0)
				json = false;
			else
				return cli_usage_error(cli, "unsupported format `%s`: use table or json",
				                       optarg);
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			return code;
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (disk_usage_get(engine, &du, &err) < 0)
		return cli_fail(&err);

	const struct disk_usage_kind *kinds[] = {&du.images, &du.containers, &du.volumes, &du.checkpoints};
	if (json) {
		struct json_object *list = json_object_new_array();
		for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "Type", json_object_new_string(kind_names[i]));
			json_object_object_add(o, "Total", json_object_new_int64((int64_t)kinds[i]->total));
			json_object_object_add(o, "Active", json_object_new_int64((int64_t)kinds[i]->active));
			json_object_object_add(o, "Size", json_object_new_int64((int64_t)kinds[i]->size));
			json_object_object_add(o, "Reclaimable",
			                       json_object_new_int64((int64_t)kinds[i]->reclaimable));
			json_object_array_add(list, o);
		}
		cli_print_json(list);
		json_object_put(list);
		return 0;
	}
	printf("%-15s %-11s %-11s %-11s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		char size[32], reclaimable[32];
		format_size(kinds[i]->size, size, sizeof(size));
		format_size(kinds[i]->reclaimable, reclaimable, sizeof(reclaimable));
		unsigned percent =
		    kinds[i]->size ? (unsigned)(kinds[i]->reclaimable * 100 / kinds[i]->size) : 0;
		printf("%-15s %-11" PRIu64 " %-11" PRIu64 " %-11s %s (%u%%)\n", kind_names[i],
		       kinds[i]->total, kinds[i]->active, size, reclaimable, percent);
	}
	return 0;
}
