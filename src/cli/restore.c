/* cryo restore */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "show_progress.h"
#include "restore.h"
#include "util.h"

static const char usage[] =
	"Usage: cryo restore [OPTIONS] [CONTAINER]\n\n"
	"Restores CONTAINER from the checkpoint the engine kept, or a new container\n"
	"from an exported archive with --import.\n\n"
	"Options:\n"
	"  -i, --import FILE       restore from a checkpoint archive; `-`: read it from\n"
	"                          standard input, in one pass (nothing is kept unless all\n"
	"                          of it verifies)\n"
	"  -n, --name NAME         restore as a new container with this name\n"
	"  -k, --keep              keep the checkpoint files and CRIU's logs\n"
	"      --ignore-rootfs     do not restore the root file system's changes\n"
	"      --ignore-volumes    do not restore named volumes' contents\n"
	"      --tcp-established   restore established TCP connections\n"
	"      --tcp-close         restore established TCP connections closed\n"
	"      --network NAME      move it to another network (none, host or a bridge\n"
	"                          network; an archive's host network needs --network host)\n"
	"      --ignore-static-ip  a new IP address instead of the checkpointed one\n"
	"      --ignore-static-mac a new MAC address instead of the checkpointed one\n"
	"  -p, --publish [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]  publish these ports instead of\n"
	"                          the checkpointed ones; repeatable\n"
	"      --file-locks        restore file locks\n"
	"      --print-stats       print statistics as JSON (times in microseconds)\n"
	"      --progress MODE     auto (default: the phases on stderr when it is a terminal and\n"
	"                          the restore takes over half a second), json (one object per\n"
	"                          phase change on stderr) or none\n\n"
	"An archive (--import) must be signed by this engine or a trusted key (`cryo\n"
	"trust add`); it cannot grant host directories, the host network or lift limits:\n"
	"      --insecure-unsigned accept an unsigned archive, or one signed by an untrusted\n"
	"                          key (never a tampered one)\n"
	"  -v, --volume SRC:DST[:ro]  mount at DST, which the checkpoint had: a host directory\n"
	"                          for a bind mount, or a new volume for the data of DST's\n"
	"      --ignore-bind-mounts an empty read-only directory for each bind mount not\n"
	"                          named with -v (fails if its processes had files open there)\n"
	"      --replace-volumes   overwrite existing named volumes with the archive's data\n"
	"      --memory BYTES      memory limit (default: the archive's, else the engine's\n"
	"                          import.memory_limit)\n"
	"      --pids-limit N      process limit (likewise, import.pids_limit)\n";

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	enum {
		OPT_IGNORE_ROOTFS = 256,
		OPT_IGNORE_VOLUMES,
		OPT_TCP,
		OPT_LOCKS,
		OPT_STATS,
		OPT_INSECURE,
		OPT_IGNORE_BINDS,
		OPT_REPLACE_VOLUMES,
		OPT_NETWORK,
		OPT_MEMORY,
		OPT_PIDS,
		OPT_TCP_CLOSE,
		OPT_IGNORE_IP,
		OPT_IGNORE_MAC,
		OPT_PROGRESS,
	};
	static const struct option longopts[] = {
		{"import", required_argument, NULL, 'i'},
		{"name", required_argument, NULL, 'n'},
		{"keep", no_argument, NULL, 'k'},
		{"ignore-rootfs", no_argument, NULL, OPT_IGNORE_ROOTFS},
		{"ignore-volumes", no_argument, NULL, OPT_IGNORE_VOLUMES},
		{"tcp-established", no_argument, NULL, OPT_TCP},
		{"file-locks", no_argument, NULL, OPT_LOCKS},
		{"print-stats", no_argument, NULL, OPT_STATS},
		{"insecure-unsigned", no_argument, NULL, OPT_INSECURE},
		{"volume", required_argument, NULL, 'v'},
		{"ignore-bind-mounts", no_argument, NULL, OPT_IGNORE_BINDS},
		{"replace-volumes", no_argument, NULL, OPT_REPLACE_VOLUMES},
		{"network", required_argument, NULL, OPT_NETWORK},
		{"memory", required_argument, NULL, OPT_MEMORY},
		{"pids-limit", required_argument, NULL, OPT_PIDS},
		{"tcp-close", no_argument, NULL, OPT_TCP_CLOSE},
		{"ignore-static-ip", no_argument, NULL, OPT_IGNORE_IP},
		{"ignore-static-mac", no_argument, NULL, OPT_IGNORE_MAC},
		{"publish", required_argument, NULL, 'p'},
		{"progress", required_argument, NULL, OPT_PROGRESS},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct restore_opts opts = {0};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *ct = NULL;
	struct restore_stats stats;
	cleanup_strv char **volumes = NULL, **publish = NULL;
	bool print_stats = false, policy_given = false;
	enum cli_progress_mode progress = CLI_PROGRESS_AUTO;
	long long bytes;
	unsigned long long n;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "i:n:kv:p:h", longopts, &code)) != -1) {
		if (c == 'v' || c == OPT_IGNORE_BINDS || c == OPT_REPLACE_VOLUMES ||
		    c == OPT_MEMORY || c == OPT_PIDS || c == OPT_INSECURE)
			policy_given = true;
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
		case OPT_PROGRESS:
			if (!cli_progress_parse(optarg, &progress))
				return cli_usage_error(cli, "invalid --progress `%s`: use auto, json or none", optarg);
			break;
		case OPT_INSECURE:
			opts.insecure_unsigned = true;
			break;
		case 'v':
			strv_push(&volumes, optarg);
			break;
		case OPT_IGNORE_BINDS:
			opts.ignore_bind_mounts = true;
			break;
		case OPT_REPLACE_VOLUMES:
			opts.replace_volumes = true;
			break;
		case OPT_NETWORK:
			opts.network = optarg;
			break;
		case OPT_TCP_CLOSE:
			opts.tcp_close = true;
			break;
		case OPT_IGNORE_IP:
			opts.ignore_static_ip = true;
			break;
		case OPT_IGNORE_MAC:
			opts.ignore_static_mac = true;
			break;
		case 'p':
			strv_push(&publish, optarg);
			break;
		case OPT_MEMORY:
			if (!cli_parse_bytes(optarg, &bytes) || bytes == 0)
				return cli_usage_error(cli, "invalid --memory `%s`: expected a number of bytes (k, m, g suffixes allowed)",
						       optarg);
			opts.memory_limit = bytes;
			break;
		case OPT_PIDS:
			if (!cli_parse_uint64(optarg, &n) || n == 0 || n > INT32_MAX)
				return cli_usage_error(cli, "invalid --pids-limit `%s`: expected a positive number", optarg);
			opts.pids_limit = (int64_t)n;
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
	if (policy_given && !opts.import_path)
		return cli_usage_error(cli, "-v, --ignore-bind-mounts, --replace-volumes, --memory, "
					    "--pids-limit and --insecure-unsigned apply to --import only");
	if (opts.tcp_established && opts.tcp_close)
		return cli_usage_error(cli, "--tcp-established and --tcp-close exclude each other");
	opts.volumes = volumes;
	opts.publish = publish;
	/* --import -: the archive gets standard input to itself; the runtime,
	 * CRIU and the container's monitor get /dev/null instead. */
	cleanup_close int stream = -1;
	if (opts.import_path && strcmp(opts.import_path, "-") == 0) {
		if (isatty(STDIN_FILENO))
			return cli_usage_error(cli, "--import -: standard input is a terminal, not a file or a pipe");
		cleanup_close int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		stream = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
		if (null < 0 || stream < 0 || dup2(null, STDIN_FILENO) < 0) {
			perror("cryo restore: --import -");
			return EXIT_ENGINE;
		}
		opts.import_path = "standard input";
		opts.import_stream = true;
		opts.import_fd = stream;
	}
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	cli_progress_start(progress);
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
