/* cryo checkpoint */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "checkpoint_image.h"
#include "cli.h"
#include "commands.h"
#include "container.h"
#include "criu_flags.h"
#include "state.h"
#include "show_progress.h"
#include "signal_hold.h"
#include "util.h"
#include "workers.h"

static const char usage[] =
    "Usage: cryo checkpoint [OPTIONS] CONTAINER...\n"
    "       cryo checkpoint [OPTIONS] --all|--latest\n\n"
    "Options:\n"
    "  -a, --all               every running or paused container, several at a time\n"
    "                          (each frozen on its own)\n"
    "      --parallel N        with --all: N containers at a time (default: the\n"
    "                          configuration's engine.parallel, else the number of CPUs)\n"
    "  -l, --latest            the container created last\n"
    "  -R, --leave-running     keep the container running (it is frozen only while its\n"
    "                          memory, file system and volumes are captured)\n"
    "  -e, --export FILE       write the checkpoint to an archive (mode 0600); `-`: to\n"
    "                          standard output, in one pass (messages go to stderr)\n"
    "  -c, --compress ALG      zstd (default), gzip or none\n"
    "      --no-sync           with --export FILE: do not wait for the disk (no fsync):\n"
    "                          faster, but a host crash within about 30 s can lose or\n"
    "                          cut the archive short (default: durable before success)\n"
    "      --create-image NAME[:TAG]  store the checkpoint as a checkpoint image (an OCI\n"
    "                          image whose one layer is the signed archive) for `cryo\n"
    "                          image push` and `cryo restore IMAGE`\n"
    "      --ignore-rootfs     do not capture the root file system's changes\n"
    "      --ignore-volumes    do not capture named volumes\n" //
    CLI_CRIU_HELP_TCP_ESTABLISHED("checkpoint")                //
    CLI_CRIU_HELP_TCP_SKIP_IN_FLIGHT()                         //
    CLI_CRIU_HELP_FILE_LOCKS("checkpoint")                     //
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

struct all_report {
	bool print_stats;
};

static int checkpoint_job(struct cryo_engine *engine, const char *name, void *data,
                          struct json_object **result, cryo_err *err)
{
	const struct checkpoint_opts *opts = data;
	struct checkpoint_stats stats;
	int r = checkpoint_container(engine, name, opts, &stats, err);
	if (r < 0)
		return r;
	*result = checkpoint_stats_json(&stats);
	return 0;
}

static void checkpoint_report(const char *name, struct json_object *result, const char *error, void *data)
{
	const struct all_report *rep = data;
	if (error) {
		fprintf(stderr, "Error: %s\n", error);
		return;
	}
	if (rep->print_stats && result) {
		struct json_object *o = json_object_get(result);
		json_object_object_add(o, "container", json_object_new_string(name));
		cli_print_json(o);
		json_object_put(o);
	} else {
		printf("%s\n", name);
	}
	fflush(stdout);
}

/* --all: the containers in worker processes, each frozen on its own. */
static int checkpoint_all(struct cli *cli, struct cryo_engine *engine, char **names,
                          const struct checkpoint_opts *opts, bool print_stats,
                          enum cli_progress_mode progress, unsigned parallel)
{
	cleanup_error cryo_err err = NULL;
	cleanup_strv char **failed = NULL;
	struct all_report rep = {.print_stats = print_stats};
	char ***groups = cli_group_by_volume(engine, names);
	unsigned workers = cli_workers_default(cli, parallel);
	/* Several operations' terminal lines would interleave: auto shows
	 * nothing then; json lines name their container. */
	if (workers > 1 && progress == CLI_PROGRESS_AUTO)
		progress = CLI_PROGRESS_NONE;
	cli_progress_start(progress);
	/* The workers inherit the hold; a signal ends cryo after the reports. */
	struct signal_hold hold;
	signal_hold_begin(&hold);
	int r = cli_run_workers(cli, groups, workers, checkpoint_job, (void *)opts, checkpoint_report, &rep,
	                        &failed, &err);
	cli_groups_free(groups);
	fflush(stdout);
	signal_hold_end(&hold);
	if (r < 0)
		cli_fail(&err);
	int code = cli_all_failed("checkpoint --all", failed, strv_len(names));
	return r < 0 ? EXIT_ENGINE : code;
}

int cmd_checkpoint(struct cli *cli, int argc, char **argv)
{
	enum {
		OPT_IGNORE_ROOTFS = 256,
		OPT_IGNORE_VOLUMES,
		OPT_STATS,
		OPT_SIGN,
		OPT_PROGRESS,
		OPT_PARALLEL,
		OPT_CREATE_IMAGE,
		OPT_NO_SYNC,
	};
	const char *create_image = NULL;
	bool all = false, latest = false;
	static const struct option longopts[] = {
	    {"leave-running", no_argument, NULL, 'R'},
	    {"export", required_argument, NULL, 'e'},
	    {"compress", required_argument, NULL, 'c'},
	    {"ignore-rootfs", no_argument, NULL, OPT_IGNORE_ROOTFS},
	    {"ignore-volumes", no_argument, NULL, OPT_IGNORE_VOLUMES},
	    CLI_CRIU_ROW_TCP_ESTABLISHED,
	    CLI_CRIU_ROW_TCP_SKIP_IN_FLIGHT,
	    CLI_CRIU_ROW_FILE_LOCKS,
	    {"keep", no_argument, NULL, 'k'},
	    {"print-stats", no_argument, NULL, OPT_STATS},
	    {"sign", required_argument, NULL, OPT_SIGN},
	    {"progress", required_argument, NULL, OPT_PROGRESS},
	    {"create-image", required_argument, NULL, OPT_CREATE_IMAGE},
	    {"no-sync", no_argument, NULL, OPT_NO_SYNC},
	    {"all", no_argument, NULL, 'a'},
	    {"latest", no_argument, NULL, 'l'},
	    {"parallel", required_argument, NULL, OPT_PARALLEL},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct checkpoint_opts opts = {.compression = CHECKPOINT_COMPRESSION_DEFAULT};
	struct cryo_engine *engine;
	bool print_stats = false, compress_given = false;
	enum cli_progress_mode progress = CLI_PROGRESS_AUTO;
	unsigned parallel = 0;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "Re:c:kalh", longopts, &code)) != -1) {
		if (cli_criu_flag(c, &opts.criu))
			continue;
		switch (c) {
		case 'R':
			opts.criu.leave_running = true;
			break;
		case 'e':
			opts.export_path = optarg;
			break;
		case OPT_PROGRESS:
			if (!cli_progress_parse(optarg, &progress))
				return cli_usage_error(cli, "invalid --progress `%s`: use auto, json or none",
				                       optarg);
			break;
		case 'c':
			if (checkpoint_compression_parse(optarg, &opts.compression) < 0)
				return cli_usage_error(cli, "invalid --compress `%s`: use zstd, gzip or none",
				                       optarg);
			compress_given = true;
			break;
		case OPT_IGNORE_ROOTFS:
			opts.ignore_rootfs = true;
			break;
		case OPT_IGNORE_VOLUMES:
			opts.ignore_volumes = true;
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
		case OPT_PARALLEL:
			if (!cli_parse_workers(optarg, &parallel))
				return cli_usage_error(cli, "invalid --parallel `%s`: expected 1 to %d",
				                       optarg, CLI_MAX_WORKERS);
			break;
		case OPT_CREATE_IMAGE:
			create_image = optarg;
			break;
		case OPT_NO_SYNC:
			opts.export_no_sync = true;
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
	if (parallel && !all)
		return cli_usage_error(cli, "--parallel only applies with --all");
	if (opts.export_path && all)
		return cli_usage_error(cli, "--export takes exactly one container, not --all");
	if (opts.export_path && argc - optind > 1)
		return cli_usage_error(cli, "--export takes exactly one container");
	if (create_image && (opts.export_path || all || latest || argc - optind != 1))
		return cli_usage_error(cli, "--create-image takes exactly one container, and no --export");
	if (create_image && compress_given)
		return cli_usage_error(cli, "--create-image stores the archive uncompressed (a tar layer): "
		                            "no --compress");
	if (compress_given && !opts.export_path)
		return cli_usage_error(cli, "--compress only applies with --export");
	if (opts.export_no_sync && (!opts.export_path || strcmp(opts.export_path, "-") == 0))
		return cli_usage_error(
		    cli, "--no-sync only applies with --export FILE (a stream is never synced)");
	if (opts.sign_key && !opts.export_path && !create_image)
		return cli_usage_error(cli, "--sign only applies with --export or --create-image");
	/* --export -: the archive gets standard output to itself; everything
	 * else cryo or its children (runc, CRIU) would write there goes to
	 * stderr instead. */
	cleanup_close int stream = -1;
	if (opts.export_path && strcmp(opts.export_path, "-") == 0) {
		if (isatty(STDOUT_FILENO))
			return cli_usage_error(
			    cli, "--export -: standard output is a terminal, not a file or a pipe");
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
	if (all)
		return checkpoint_all(cli, engine, names, &opts, print_stats, progress, parallel);
	if (names) {
		argv = names;
		argc = (int)strv_len(names);
		optind = 0;
	}
	cli_progress_start(progress);
	/* checkpoint_container holds termination signals in each frozen window;
	 * held across the loop, a signal ends cryo after the last result is out. */
	struct signal_hold hold;
	signal_hold_begin(&hold);
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		struct checkpoint_stats stats;
		cleanup_free char *image_id = NULL;
		int r = create_image ? checkpoint_image_create(engine, argv[i], create_image, &opts, &stats,
		                                               &image_id, &err)
		                     : checkpoint_container(engine, argv[i], &opts, &stats, &err);
		if (r < 0) {
			code = cli_fail(&err);
			continue;
		}
		if (image_id && !print_stats) {
			printf("%s\n", image_id);
			continue;
		}
		if (print_stats) {
			struct json_object *o = checkpoint_stats_json(&stats);
			json_object_object_add(o, "container", json_object_new_string(argv[i]));
			if (image_id)
				json_object_object_add(o, "image", json_object_new_string(image_id));
			cli_print_json(o);
			json_object_put(o);
		} else {
			printf("%s\n", argv[i]);
		}
	}
	fflush(stdout);
	signal_hold_end(&hold);
	return code;
}
