/* cryo restore */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "restore.h"
#include "util.h"

static const char usage[] =
	"Usage: cryo restore [OPTIONS] [CONTAINER]\n\n"
	"Restores CONTAINER from the checkpoint the engine kept, or a new container\n"
	"from an exported archive with --import.\n\n"
	"Options:\n"
	"  -i, --import FILE       restore from a checkpoint archive\n"
	"  -n, --name NAME         restore as a new container with this name\n"
	"  -k, --keep              keep the checkpoint files and CRIU's logs\n"
	"      --ignore-rootfs     do not restore the root file system's changes\n"
	"      --ignore-volumes    do not restore named volumes' contents\n"
	"      --tcp-established   restore established TCP connections\n"
	"      --file-locks        restore file locks\n"
	"      --print-stats       print statistics as JSON (times in microseconds)\n";

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	enum { OPT_IGNORE_ROOTFS = 256, OPT_IGNORE_VOLUMES, OPT_TCP, OPT_LOCKS, OPT_STATS };
	static const struct option longopts[] = {
		{"import", required_argument, NULL, 'i'},
		{"name", required_argument, NULL, 'n'},
		{"keep", no_argument, NULL, 'k'},
		{"ignore-rootfs", no_argument, NULL, OPT_IGNORE_ROOTFS},
		{"ignore-volumes", no_argument, NULL, OPT_IGNORE_VOLUMES},
		{"tcp-established", no_argument, NULL, OPT_TCP},
		{"file-locks", no_argument, NULL, OPT_LOCKS},
		{"print-stats", no_argument, NULL, OPT_STATS},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct restore_opts opts = {0};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *ct = NULL;
	struct restore_stats stats;
	bool print_stats = false;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "i:n:kh", longopts, &code)) != -1) {
		switch (c) {
		case 'i':
			opts.import_path = optarg;
			break;
		case 'n':
			opts.name = optarg;
			break;
		case 'k':
			opts.keep = true;
			break;
		case OPT_IGNORE_ROOTFS:
			opts.ignore_rootfs = true;
			break;
		case OPT_IGNORE_VOLUMES:
			opts.ignore_volumes = true;
			break;
		case OPT_TCP:
			opts.tcp_established = true;
			break;
		case OPT_LOCKS:
			opts.file_locks = true;
			break;
		case OPT_STATS:
			print_stats = true;
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			return code;
		}
	}
	const char *ref = optind < argc ? argv[optind] : NULL;
	if (argc - optind > 1)
		return cli_usage_error(cli, "at most one container");
	if (!ref && !opts.import_path)
		return cli_usage_error(cli, "name a container, or give --import FILE");
	if (ref && opts.import_path)
		return cli_usage_error(cli, "--import restores a new container: name it with --name, not an argument");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (restore_container(engine, ref, &opts, &ct, &stats, &err) < 0)
		return cli_fail(&err);
	if (stats.notice[0])
		fprintf(stderr, "Warning: restore `%s`: %s\n", ct->name, stats.notice);
	if (print_stats) {
		struct json_object *o = restore_stats_json(&stats);
		json_object_object_add(o, "container", json_object_new_string(ct->name));
		json_object_object_add(o, "id", json_object_new_string(ct->id));
		cli_print_json(o);
		json_object_put(o);
	} else {
		printf("%s\n", ct->id);
	}
	return 0;
}
