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

	if (json) {
		struct json_object *list = disk_usage_json(&du);
		cli_print_json(list);
		json_object_put(list);
		return 0;
	}
	printf("%-15s %-11s %-11s %-11s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
	for (size_t i = 0; i < DISK_USAGE_KINDS; i++) {
		const char *name;
		const struct disk_usage_kind *kind = disk_usage_kind_at(&du, i, &name);
		char size[32], reclaimable[32];
		format_size(kind->size, size, sizeof(size));
		format_size(kind->reclaimable, reclaimable, sizeof(reclaimable));
		unsigned percent = kind->size ? (unsigned)(kind->reclaimable * 100 / kind->size) : 0;
		printf("%-15s %-11" PRIu64 " %-11" PRIu64 " %-11s %s (%u%%)\n", name, kind->total,
		       kind->active, size, reclaimable, percent);
	}
	return 0;
}
