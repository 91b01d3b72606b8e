/* cryo system check: prove checkpoint/restore works on this host. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "criu_selftest.h"
#include "util.h"

static void print_report(const struct criu_selftest_report *r)
{
	printf("CRIU:              %s\n", r->criu);
	printf("CRIU environment: ");
	if (!r->env || !r->env[0])
		printf(" (none)");
	for (char **e = r->env; e && *e; e++)
		printf(" %s", *e);
	printf("\n");
	printf("process tree:      root PID %d, %d processes, a pipe, a FIFO and a file\n", (int)r->pid,
	       r->processes);
	printf("dump:              %.1f ms", (double)r->dump_us / 1000.0);
	if (r->have_dump_stats)
		printf(" (frozen %.1f ms, %" PRIu64 " pages written)",
		       (double)r->dump_stats.frozen_time / 1000.0, r->dump_stats.pages_written);
	printf("\n");
	printf("restore:           %.1f ms", (double)r->restore_us / 1000.0);
	if (r->have_restore_stats)
		printf(" (%" PRIu64 " pages restored)", r->restore_stats.pages_restored);
	printf("\n");
	printf("counter:           %" PRIu64 " at the dump, %" PRIu64 " after the restore\n",
	       r->counter_at_dump, r->counter_restored);
	printf("checkpoint/restore: ok\n");
}

int cmd_system_check(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	unsigned long long timeout_s = CRIU_SELFTEST_DEFAULT_TIMEOUT_MS / 1000;
	struct criu_selftest_report report;
	cleanup_error cryo_err err = NULL;
	struct cryo_engine *engine;
	int c, exit_code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "t:h", options, &exit_code)) != -1) {
		switch (c) {
		case 't':
			if (!cli_parse_uint64(optarg, &timeout_s) || timeout_s == 0 || timeout_s > 3600)
				return cli_usage_error(cli, "--timeout `%s`: expected 1 to 3600 seconds",
				                       optarg);
			break;
		case 'h':
			printf("Usage: cryo system check [-t|--timeout SECONDS]\n\n"
			       "Checkpoint and restore a small process tree with CRIU, the way cryo runs "
			       "CRIU on\n"
			       "this host, and check that the restored tree carries on. Each CRIU run is "
			       "killed\n"
			       "after --timeout seconds (default %d).\n",
			       CRIU_SELFTEST_DEFAULT_TIMEOUT_MS / 1000);
			return 0;
		default:
			return exit_code;
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;

	if (criu_selftest_run(engine, (int)timeout_s * 1000, &report, &err) < 0)
		return cli_fail(&err);
	print_report(&report);
	criu_selftest_report_free(&report);
	return 0;
}
