/* cryo system prune: remove what interrupted commands left behind. */
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "scratch.h"
#include "util.h"

int cmd_system_prune(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	int c, exit_code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "h", options, &exit_code)) != -1) {
		switch (c) {
		case 'h':
			printf(
			    "Usage: cryo system prune\n\n"
			    "Remove what cryo commands that were killed or crashed left behind: checkpoint\n"
			    "staging directories, unpacked imports and temporary export files whose owner\n"
			    "is gone. (Every command that opens the engine does this first; prune reports\n"
			    "it.) Scratch space of commands still running is left alone.\n");
			return 0;
		default:
			return exit_code;
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;

	struct scratch_usage removed = *engine->leftovers_removed, again = {0}, in_use = {0};
	int r = scratch_collect(engine, &again, &err);
	removed.entries += again.entries;
	removed.bytes += again.bytes;
	printf("leftovers removed: %" PRIu64 " files and directories, %" PRIu64 " bytes\n", removed.entries,
	       removed.bytes);
	if (scratch_in_use(engine, &in_use, NULL) == 0 && in_use.entries > 0)
		printf("still in use by running commands: %" PRIu64 " files and directories, %" PRIu64
		       " bytes\n",
		       in_use.entries, in_use.bytes);
	if (r < 0)
		return cli_fail(&err);
	return 0;
}
