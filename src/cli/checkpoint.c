/* cryo checkpoint */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "commands.h"
#include "container.h"
#include "state.h"
#include "show_progress.h"
#include "util.h"

static const char usage[] =
	"Usage: cryo checkpoint [OPTIONS] CONTAINER...\n"
	"       cryo checkpoint [OPTIONS] --all|--latest\n\n"
	"Options:\n"
	"  -a, --all               every running or paused container\n"
	"  -l, --latest            the container created last\n"
	"  -R, --leave-running     keep the container running (it is frozen only while its\n"
	"                          memory, file system and volumes are captured)\n"
	"  -e, --export FILE       write the checkpoint to an archive (mode 0600); `-`: to\n"
	"                          standard output, in one pass (messages go to stderr)\n"
	"  -c, --compress ALG      zstd (default), gzip or none\n"
	"      --ignore-rootfs     do not capture the root file system's changes\n"
	"      --ignore-volumes    do not capture named volumes\n"
	"      --tcp-established   checkpoint established TCP connections\n"
	"      --tcp-skip-in-flight  drop connections not yet accepted (CRIU's skip-in-flight)\n"
	"      --file-locks        checkpoint file locks\n"
	"  -k, --keep              keep CRIU's logs and the engine's copy of the checkpoint\n"
	"      --sign KEYFILE      sign the export with this Ed25519 key (PEM) instead of the\n"
	"                          engine's own (`cryo key show`)\n"
	"      --print-stats       print statistics as JSON (times in microseconds)\n"
	"      --progress MODE     auto (default: the phases on stderr when it is a terminal and\n"
	"                          the checkpoint takes over half a second), json (one object per\n"
	"                          phase change on stderr) or none\n";

/* --all: every running or paused container; --latest: the one created last
 * (an error when it is not running). */
static int select_containers(struct cryo_engine *engine, bool latest, char ***names)
{
	cleanup_error cryo_err err = NULL;
	struct container **list = NULL;
	size_t n = 0;
	if (state_container_list(engine, &list, &n, &err) < 0)
		return cli_fail(&err);
	*names = xcalloc(1, sizeof(char *));
	const struct container *last = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!latest && container_is_active(list[i]))
			strv_push(names, list[i]->name);
		if (!last || list[i]->created > last->created)
			last = list[i];
	}
	if (latest && last)
		strv_push(names, last->name);
	container_list_free(list, n);
	if (latest && !last) {
		cryo_error_plain(&err, ENOENT, "checkpoint --latest: there are no containers");
		return cli_fail(&err);
	}
	return 0;
}

int cmd_checkpoint(struct cli *cli, int argc, char **argv)
{
	enum {
		OPT_IGNORE_ROOTFS = 256,
		OPT_IGNORE_VOLUMES,
		OPT_TCP,
		OPT_LOCKS,
		OPT_STATS,
		OPT_SIGN,
		OPT_SKIP_IN_FLIGHT,
		OPT_PROGRESS,
	};
	bool all = false, latest = false;
	static const struct option longopts[] = {
		{"leave-running", no_argument, NULL, 'R'},
		{"export", required_argument, NULL, 'e'},
		{"compress", required_argument, NULL, 'c'},
		{"ignore-rootfs", no_argument, NULL, OPT_IGNORE_ROOTFS},
		{"ignore-volumes", no_argument, NULL, OPT_IGNORE_VOLUMES},
		{"tcp-established", no_argument, NULL, OPT_TCP},
		{"tcp-skip-in-flight", no_argument, NULL, OPT_SKIP_IN_FLIGHT},
		{"file-locks", no_argument, NULL, OPT_LOCKS},
		{"keep", no_argument, NULL, 'k'},
		{"print-stats", no_argument, NULL, OPT_STATS},
		{"sign", required_argument, NULL, OPT_SIGN},
		{"progress", required_argument, NULL, OPT_PROGRESS},
		{"all", no_argument, NULL, 'a'},
		{"latest", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct checkpoint_opts opts = {.compression = CHECKPOINT_COMPRESSION_DEFAULT};
	struct cryo_engine *engine;
	bool print_stats = false, compress_given = false;
	enum cli_progress_mode progress = CLI_PROGRESS_AUTO;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "Re:c:kalh", longopts, &code)) != -1) {
		switch (c) {
		case 'R':
			opts.leave_running = true;
			break;
		case 'e':
			opts.export_path = optarg;
			break;
		case OPT_PROGRESS:
			if (!cli_progress_parse(optarg, &progress))
				return cli_usage_error(cli, "invalid --progress `%s`: use auto, json or none", optarg);
			break;
		case 'c':
			if (checkpoint_compression_parse(optarg, &opts.compression) < 0)
				return cli_usage_error(cli, "invalid --compress `%s`: use zstd, gzip or none", optarg);
			compress_given = true;
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
		case OPT_SKIP_IN_FLIGHT:
			opts.tcp_skip_in_flight = true;
			break;
		case OPT_LOCKS:
			opts.file_locks = true;
			break;
		case 'k':
			opts.keep = true;
			break;
		case 'a':
			all = true;
			break;
		case 'l':
			latest = true;
			break;
		case OPT_STATS:
			print_stats = true;
			break;
		case OPT_SIGN:
			opts.sign_key = optarg;
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			return code;
		}
	}
	if ((all || latest) && optind < argc)
		return cli_usage_error(cli, "--all and --latest take no container names");
	if (all && latest)
		return cli_usage_error(cli, "--all or --latest, not both");
	if (!all && !latest && optind >= argc)
		return cli_usage_error(cli, "at least one container is required");
	if (opts.export_path && all)
		return cli_usage_error(cli, "--export takes exactly one container, not --all");
	if (opts.export_path && argc - optind > 1)
		return cli_usage_error(cli, "--export takes exactly one container");
	if (compress_given && !opts.export_path)
		return cli_usage_error(cli, "--compress only applies with --export");
	if (opts.sign_key && !opts.export_path)
		return cli_usage_error(cli, "--sign only applies with --export");
	/* --export -: the archive gets standard output to itself; everything
	 * else cryo or its children (runc, CRIU) would write there goes to
	 * stderr instead. */
	cleanup_close int stream = -1;
	if (opts.export_path && strcmp(opts.export_path, "-") == 0) {
		if (isatty(STDOUT_FILENO))
			return cli_usage_error(cli, "--export -: standard output is a terminal, not a file or a pipe");
		fflush(stdout);
		stream = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		if (stream < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
			perror("cryo checkpoint: --export -");
			return EXIT_ENGINE;
		}
		opts.export_path = NULL;
		opts.export_stream = true;
		opts.export_fd = stream;
		opts.export_what = "standard output";
		/* A reader that goes away is an error of the export, not a signal. */
		signal(SIGPIPE, SIG_IGN);
	}
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	cleanup_strv char **names = NULL;
	if ((all || latest) && (code = select_containers(engine, latest, &names)) != 0)
		return code;
	if (names) {
		argv = names;
		argc = (int)strv_len(names);
		optind = 0;
	}
	cli_progress_start(progress);
	/* A Ctrl-C must not stop cryo inside a frozen window: hold termination
	 * signals until the checkpoint has thawed the container (the runtime and
	 * CRIU still get them, and a failing CRIU is cleaned up like any failure). */
	sigset_t hold, previous;
	sigemptyset(&hold);
	sigaddset(&hold, SIGINT);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGQUIT);
	sigprocmask(SIG_BLOCK, &hold, &previous);
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		struct checkpoint_stats stats;
		if (checkpoint_container(engine, argv[i], &opts, &stats, &err) < 0) {
			code = cli_fail(&err);
			continue;
		}
		if (print_stats) {
			struct json_object *o = checkpoint_stats_json(&stats);
			json_object_object_add(o, "container", json_object_new_string(argv[i]));
			cli_print_json(o);
			json_object_put(o);
		} else {
			printf("%s\n", argv[i]);
		}
	}
	fflush(stdout);
	sigprocmask(SIG_SETMASK, &previous, NULL);
	return code;
}
