/* cryo migrate */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "criu_flags.h"
#include "migrate.h"
#include "signal_hold.h"
#include "show_progress.h"
#include "util.h"

static const char usage[] =
    "Usage: cryo migrate [OPTIONS] CONTAINER DESTINATION\n\n"
    "Moves a running container to another engine: DESTINATION is\n"
    "ssh://[user@]host[:port] (runs `cryo restore --import -` there over ssh) or\n"
    "root:DIR (another engine root on this host). The container is frozen, dumped\n"
    "and streamed while it stays frozen; the destination restores it frozen and\n"
    "reports; then the source is killed (still frozen) and removed, and the\n"
    "destination is told to run it (a two-phase handover: it never runs twice). If\n"
    "anything fails before the report, the source is thawed and runs on, and the\n"
    "destination keeps nothing; should this cryo die after it, the destination keeps\n"
    "the container frozen (paused) until `cryo unpause` or `cryo rm -f` there.\n"
    "The destination must trust this engine's key (`cryo key show` here, `cryo\n"
    "trust add` there).\n\n"
    "Options:\n"
    "  -n, --name NAME         the container's name at the destination (default: the same)\n"
    "      --keep-source       keep the stopped source container (state exited)\n"
    "  -k, --keep              keep it checkpointed, restorable here with `cryo restore`\n"
    "  -c, --compress ALG      zstd (default, level 1), zstd:LEVEL (1 to 19: smaller, slower;\n"
    "                          for a slow link), gzip or none (for a fast link)\n"
    "      --remote-cryo PATH  the destination's cryo (default: this one for root:, `cryo`\n"
    "                          in the remote PATH for ssh://)\n"
    "      --remote-root DIR   ssh://: the destination's --root\n"
    "      --remote-runroot DIR  the destination's --runroot\n"
    "      --ssh-option OPT    ssh://: pass `-o OPT` to ssh; repeatable\n" //
    CLI_CRIU_HELP_TCP_ESTABLISHED("migrate")                               //
    CLI_CRIU_HELP_FILE_LOCKS("migrate")                                    //
    "      --network NAME      the network at the destination (as for restore)\n"
    "      --ignore-static-ip  a new IP address at the destination\n"
    "      --ignore-static-mac a new MAC address at the destination\n"
    "  -p, --publish [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]  publish these ports at the\n"
    "                          destination instead of the checkpointed ones; repeatable\n"
    "      --lazy              post-copy: the destination runs before the memory is there;\n"
    "                          its pages follow from a page server here, on demand and in\n"
    "                          the background (shorter downtime for big memory). NO WAY\n"
    "                          BACK once it runs: should the link, this host or this\n"
    "                          command fail before the last page arrived, the container\n"
    "                          is lost. Not with --keep (no memory is kept here)\n"
    "      --page-server ADDR[:PORT]  --lazy: where the destination fetches the pages; the\n"
    "                          server listens on ADDR only (default: 127.0.0.1 for root:,\n"
    "                          this host's address as the ssh:// destination sees it;\n"
    "                          PORT: a free one). Unauthenticated: use a private link\n"
    "      --print-stats       print the downtime (freeze to running at the destination),\n"
    "                          split into dump, capture, transfer, restore and commit,\n"
    "                          and the bytes sent, as JSON (times in microseconds)\n"
    "      --progress MODE     auto, json or none (the source's phases on stderr)\n";

int cmd_migrate(struct cli *cli, int argc, char **argv)
{
	enum {
		OPT_KEEP_SOURCE = 256,
		OPT_REMOTE_CRYO,
		OPT_REMOTE_ROOT,
		OPT_REMOTE_RUNROOT,
		OPT_SSH_OPTION,
		OPT_NETWORK,
		OPT_IGNORE_IP,
		OPT_IGNORE_MAC,
		OPT_STATS,
		OPT_PROGRESS,
		OPT_LAZY,
		OPT_PAGE_SERVER,
	};
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"keep-source", no_argument, NULL, OPT_KEEP_SOURCE},
	    {"keep", no_argument, NULL, 'k'},
	    {"compress", required_argument, NULL, 'c'},
	    {"remote-cryo", required_argument, NULL, OPT_REMOTE_CRYO},
	    {"remote-root", required_argument, NULL, OPT_REMOTE_ROOT},
	    {"remote-runroot", required_argument, NULL, OPT_REMOTE_RUNROOT},
	    {"ssh-option", required_argument, NULL, OPT_SSH_OPTION},
	    CLI_CRIU_ROW_TCP_ESTABLISHED,
	    CLI_CRIU_ROW_FILE_LOCKS,
	    {"network", required_argument, NULL, OPT_NETWORK},
	    {"ignore-static-ip", no_argument, NULL, OPT_IGNORE_IP},
	    {"ignore-static-mac", no_argument, NULL, OPT_IGNORE_MAC},
	    {"publish", required_argument, NULL, 'p'},
	    {"print-stats", no_argument, NULL, OPT_STATS},
	    {"progress", required_argument, NULL, OPT_PROGRESS},
	    {"lazy", no_argument, NULL, OPT_LAZY},
	    {"page-server", required_argument, NULL, OPT_PAGE_SERVER},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct migrate_opts opts = {.compression = CHECKPOINT_COMPRESSION_DEFAULT};
	cleanup_strv char **publish = NULL;
	cleanup_strv char **ssh_options = NULL;
	enum cli_progress_mode progress = CLI_PROGRESS_AUTO;
	bool print_stats = false;
	struct cryo_engine *engine;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "n:kc:p:h", longopts, &code)) != -1) {
		if (cli_criu_flag(c, &opts.criu))
			continue;
		switch (c) {
		case 'n':
			opts.name = optarg;
			break;
		case OPT_KEEP_SOURCE:
			opts.keep_source = true;
			break;
		case 'k':
			opts.keep = true;
			break;
		case 'c':
			if (checkpoint_compression_parse_level(optarg, &opts.compression,
			                                       &opts.compression_level) < 0)
				return cli_usage_error(
				    cli,
				    "invalid --compress `%s`: use zstd, zstd:LEVEL (1 to %d), gzip or none",
				    optarg, CHECKPOINT_ZSTD_MAX_LEVEL);
			break;
		case OPT_REMOTE_CRYO:
			opts.remote_cryo = optarg;
			break;
		case OPT_REMOTE_ROOT:
			opts.remote_root = optarg;
			break;
		case OPT_REMOTE_RUNROOT:
			opts.remote_runroot = optarg;
			break;
		case OPT_SSH_OPTION:
			if (!ssh_options)
				ssh_options = xcalloc(1, sizeof(char *));
			strv_push(&ssh_options, optarg);
			break;
		case OPT_NETWORK:
			opts.network = optarg;
			break;
		case OPT_IGNORE_IP:
			opts.ignore_static_ip = true;
			break;
		case OPT_IGNORE_MAC:
			opts.ignore_static_mac = true;
			break;
		case 'p':
			if (!publish)
				publish = xcalloc(1, sizeof(char *));
			strv_push(&publish, optarg);
			break;
		case OPT_STATS:
			print_stats = true;
			break;
		case OPT_LAZY:
			opts.lazy = true;
			break;
		case OPT_PAGE_SERVER:
			opts.page_server = optarg;
			break;
		case OPT_PROGRESS:
			if (!cli_progress_parse(optarg, &progress))
				return cli_usage_error(cli, "invalid --progress `%s`: use auto, json or none",
				                       optarg);
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			return code;
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(cli, "a container and a destination are required");
	opts.publish = publish;
	opts.ssh_options = ssh_options;
	cleanup_error cryo_err err = NULL;
	struct migrate_destination dest;
	if (migrate_destination_parse(argv[optind + 1], &dest, &err) < 0)
		return cli_usage_error(cli, "%s", err->msg);
	if (dest.kind == MIGRATE_ROOT && (opts.remote_root || ssh_options)) {
		migrate_destination_free(&dest);
		return cli_usage_error(cli, "--remote-root and --ssh-option are for ssh:// destinations");
	}
	if (cli_engine(cli, &engine) < 0) {
		migrate_destination_free(&dest);
		return EXIT_ENGINE;
	}
	cli_progress_start(progress);
	/* A destination that goes away is an error of the transfer, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	struct migrate_stats stats;
	/* The library holds termination signals for the migration; held here
	 * across the report too, so that a Ctrl-C pressed meanwhile still lets
	 * the user read where the container went (or why it is in both places). */
	struct signal_hold hold;
	signal_hold_begin(&hold);
	int r = migrate_container(engine, argv[optind], &dest, &opts, &stats, &err);
	migrate_destination_free(&dest);
	if (r < 0) {
		r = cli_fail(&err);
	} else if (print_stats) {
		struct json_object *o = migrate_stats_json(&stats);
		cli_print_json(o);
		json_object_put(o);
		r = 0;
	} else {
		printf("%s\n", stats.dest_id[0] ? stats.dest_id : "(the destination did not report its id)");
		r = 0;
	}
	fflush(stdout);
	signal_hold_end(&hold);
	return r;
}
