/* cryo restore */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "checkpoint_image.h"
#include "cli.h"
#include "container.h"
#include "criu_flags.h"
#include "image.h"
#include "registry.h"
#include "commands.h"
#include "show_progress.h"
#include "restore.h"
#include "state.h"
#include "util.h"
#include "workers.h"

static const char usage[] =
    "Usage: cryo restore [OPTIONS] [CONTAINER|IMAGE]\n"
    "       cryo restore [OPTIONS] --all\n\n"
    "Restores CONTAINER from the checkpoint the engine kept, or a new container\n"
    "from an exported archive with --import, or from a checkpoint IMAGE (`cryo\n"
    "checkpoint --create-image`; pulled from its registry when it is not in the store\n"
    "and names one, like `localhost:5000/ck:1`). A checkpoint image is verified\n"
    "exactly like an archive given to --import.\n\n"
    "Options:\n"
    "  -a, --all               every container that is not running and has a checkpoint\n"
    "                          the engine kept, several at a time\n"
    "      --parallel N        with --all: N containers at a time (default: the\n"
    "                          configuration's engine.parallel, else the number of CPUs)\n"
    "  -i, --import FILE       restore from a checkpoint archive (cryo's, or Podman\n"
    "                          4.x's `podman container checkpoint --export`, which is\n"
    "                          unsigned: with --insecure-unsigned); `-`: read it from\n"
    "                          standard input, in one pass (nothing is kept unless all\n"
    "                          of it verifies)\n"
    "      --tls-verify=false  pulling IMAGE: do not verify the registry's certificate\n"
    "      --authfile FILE     pulling IMAGE: registry credentials (default: auth.json)\n"
    "  -n, --name NAME         restore as a new container with this name\n"
    "  -k, --keep              keep the checkpoint files and CRIU's logs\n"
    "      --ignore-rootfs     do not restore the root file system's changes\n"
    "      --ignore-volumes    do not restore named volumes' contents\n" //
    CLI_CRIU_HELP_TCP_ESTABLISHED("restore")                             //
    CLI_CRIU_HELP_TCP_CLOSE()                                            //
    "      --network NAME      move it to another network (none, host or a bridge\n"
    "                          network; an archive's host network needs --network host)\n"
    "      --ignore-static-ip  a new IP address instead of the checkpointed one\n"
    "      --ignore-static-mac a new MAC address instead of the checkpointed one\n"
    "  -p, --publish [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]  publish these ports instead of\n"
    "                          the checkpointed ones; repeatable\n" //
    CLI_CRIU_HELP_FILE_LOCKS("restore")                             //
    "      --lazy-pages-from ADDR:PORT  with --import of a lazy checkpoint (`cryo migrate\n"
    "                          --lazy` passes it): the memory pages come from the page\n"
    "                          server at ADDR:PORT, on demand and in the background, after\n"
    "                          the container runs; it is lost if they stop coming\n"
    "      --print-stats       print statistics as JSON (times in microseconds)\n"
    "      --progress MODE     auto (default: the phases on stderr when it is a terminal and\n"
    "                          the restore takes over half a second), json (one object per\n"
    "                          phase change on stderr) or none\n\n"
    "An archive (--import, or a checkpoint IMAGE) must be signed by this engine or a trusted key (`cryo\n"
    "trust add`); it cannot grant host directories, the host network or capabilities, or\n"
    "lift limits:\n"
    "      --insecure-unsigned accept an unsigned archive, or one signed by an untrusted\n"
    "                          key (never a tampered one)\n"
    "  -v, --volume SRC:DST[:ro]  mount at DST, which the checkpoint had: a host directory\n"
    "                          for a bind mount, or a new volume for the data of DST's\n"
    "      --ignore-bind-mounts an empty read-only directory for each bind mount not\n"
    "                          named with -v (fails if its processes had files open there)\n"
    "      --replace-volumes   overwrite existing named volumes with the archive's data\n"
    "      --memory BYTES      memory limit (default: the archive's, else the engine's\n"
    "                          import.memory_limit)\n"
    "      --pids-limit N      process limit (likewise, import.pids_limit)\n"
    "      --cap-add CAP       grant a capability the checkpoint's container was given\n"
    "                          beyond the default set (ALL: every one it asks for); repeatable\n\n"
    "Internal, for `cryo migrate`:\n"
    "      --handover          with --import -: a framed stream; restore the container\n"
    "                          frozen, report it on stdout, then run it on `commit` or\n"
    "                          remove it on `abort` read from standard input\n";

/* The longest handover message (migrate.h): "commit" or "abort". */
#define HANDOVER_LINE_MAX 64

/* One line from fd, read a byte at a time (nothing past it is consumed);
 * false at end of file, on an error or a line too long. */
static bool read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	for (;;) {
		char ch;
		ssize_t n = read(fd, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		if (ch == '\n')
			break;
		if (len + 1 >= size)
			return false;
		buf[len++] = ch;
	}
	buf[len] = '\0';
	return true;
}

/* --handover (used by `cryo migrate`): the container was restored frozen.
 * Report it on stdout in one line, then wait on the stream for the
 * source's word: `commit` (its copy is dead) runs it, `abort` removes it;
 * anything else leaves it frozen, and says what the user can do. */
static int restore_handover(struct cryo_engine *engine, struct container *ct,
                            const struct restore_stats *stats, int stream)
{
	cleanup_error cryo_err err = NULL;
	struct json_object *o = restore_stats_json(stats);
	json_object_object_add(o, "container", json_object_new_string(ct->name));
	json_object_object_add(o, "id", json_object_new_string(ct->id));
	json_object_object_add(o, "state", json_object_new_string("frozen"));
	printf("%s\n",
	       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	fflush(stdout);
	char line[HANDOVER_LINE_MAX];
	bool got = read_line(stream, line, sizeof(line));
	if (got && strcmp(line, "commit") == 0) {
		if (container_unpause(engine, ct->id, &err) < 0) {
			fprintf(
			    stderr,
			    "Error: restore `%s`: the migration's source handed the container over, but it "
			    "could not be resumed here: %s; it stays frozen: `cryo unpause %s` runs it\n",
			    ct->name, err->msg, ct->name);
			return EXIT_ENGINE;
		}
		return 0;
	}
	if (got && strcmp(line, "abort") == 0) {
		if (container_remove(engine, ct->id, true, &err) < 0) {
			fprintf(stderr,
			        "Error: restore `%s`: the migration's source aborted (its copy runs on), but "
			        "removing the frozen container here failed: %s; `cryo rm -f %s` removes it\n",
			        ct->name, err->msg, ct->name);
			return EXIT_ENGINE;
		}
		fprintf(stderr,
		        "Error: restore `%s`: the migration's source aborted (its copy runs on): "
		        "the container restored here was removed\n",
		        ct->name);
		return EXIT_ENGINE;
	}
	fprintf(stderr,
	        "Error: restore `%s`: the migration's source %s before it handed the container over: "
	        "it stays here, frozen (paused), so that it never runs twice nor gets lost. If the "
	        "source no longer runs it, `cryo unpause %s` runs it here; if it does, `cryo rm -f %s` "
	        "removes it here\n",
	        ct->name, got ? "sent something else than `commit` or `abort`" : "went away", ct->name,
	        ct->name);
	return EXIT_ENGINE;
}

static int restore_job(struct cryo_engine *engine, const char *name, void *data, struct json_object **result,
                       cryo_err *err)
{
	const struct restore_opts *opts = data;
	cleanup_container struct container *ct = NULL;
	struct restore_stats stats;
	int r = restore_container(engine, name, opts, &ct, &stats, err);
	if (r < 0)
		return r;
	struct json_object *o = restore_stats_json(&stats);
	json_object_object_add(o, "id", json_object_new_string(ct->id));
	if (stats.notice[0])
		json_object_object_add(o, "notice", json_object_new_string(stats.notice));
	*result = o;
	return 0;
}

static void restore_report(const char *name, struct json_object *result, const char *error, void *data)
{
	const bool *print_stats = data;
	struct json_object *id = NULL, *notice = NULL;
	if (error) {
		fprintf(stderr, "Error: %s\n", error);
		return;
	}
	if (result && json_object_object_get_ex(result, "notice", &notice))
		fprintf(stderr, "Warning: restore `%s`: %s\n", name, json_object_get_string(notice));
	if (*print_stats && result) {
		struct json_object *o = json_object_get(result);
		json_object_object_del(o, "notice");
		json_object_object_add(o, "container", json_object_new_string(name));
		cli_print_json(o);
		json_object_put(o);
	} else if (result && json_object_object_get_ex(result, "id", &id)) {
		printf("%s\n", json_object_get_string(id));
	}
	fflush(stdout);
}

/* --all: every container that is not running (nor paused) and has a
 * checkpoint the engine kept, in worker processes. */
static int restore_all(struct cli *cli, struct cryo_engine *engine, const struct restore_opts *opts,
                       bool print_stats, enum cli_progress_mode progress, unsigned parallel)
{
	cleanup_error cryo_err err = NULL;
	cleanup_strv char **names = xcalloc(1, sizeof(char *)), **failed = NULL;
	struct container **list = NULL;
	size_t n = 0;
	if (state_container_list(engine, &list, &n, &err) < 0)
		return cli_fail(&err);
	for (size_t i = 0; i < n; i++)
		if (list[i]->checkpoint && !container_is_active(list[i]) && path_exists(list[i]->checkpoint))
			strv_push(&names, list[i]->name);
	container_list_free(list, n);
	char ***groups = cli_group_by_volume(engine, names);
	unsigned workers = cli_workers_default(cli, parallel);
	if (workers > 1 && progress == CLI_PROGRESS_AUTO)
		progress = CLI_PROGRESS_NONE;
	cli_progress_start(progress);
	int r = cli_run_workers(cli, groups, workers, restore_job, (void *)opts, restore_report, &print_stats,
	                        &failed, &err);
	cli_groups_free(groups);
	fflush(stdout);
	if (r < 0)
		cli_fail(&err);
	int code = cli_all_failed("restore --all", failed, strv_len(names));
	return r < 0 ? EXIT_ENGINE : code;
}

/* Does `ref` name a container (restored in place) or a checkpoint image? A
 * container of that name wins; then an image in the store; then, for a
 * reference that names a registry (`HOST[:PORT]/...`, `docker://...`), the
 * image is pulled, and only a checkpoint image is stored (anything else is
 * refused and leaves the store as it was). Returns an exit code, 0 to go on. */
static int restore_source(struct cryo_engine *engine, const char *ref, const struct registry_opts *pull,
                          bool *from_image)
{
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *c = NULL;
	cleanup_image struct image *img = NULL;
	*from_image = false;
	if (container_get(engine, ref, &c, &err) == 0)
		return 0;
	if (cryo_error_code(err) != -ENOENT)
		return cli_fail(&err);
	cryo_error_free(&err);
	if (image_get(engine, ref, &img, NULL) == 0) {
		*from_image = true;
		return 0;
	}
	if (!registry_ref_names_registry(ref)) {
		cryo_error_plain(&err, ENOENT, "restore `%s`: no such container or checkpoint image", ref);
		return cli_fail(&err);
	}
	struct registry_opts opts = *pull;
	opts.checkpoint_only = true;
	cleanup_free char *name = NULL;
	if (registry_pull(engine, ref, &opts, NULL, &name, NULL, &err) < 0) {
		cryo_error_wrap(&err, "restore `%s`", ref);
		return cli_fail(&err);
	}
	*from_image = true;
	return 0;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	enum {
		OPT_IGNORE_ROOTFS = 256,
		OPT_IGNORE_VOLUMES,
		OPT_STATS,
		OPT_INSECURE,
		OPT_IGNORE_BINDS,
		OPT_REPLACE_VOLUMES,
		OPT_NETWORK,
		OPT_MEMORY,
		OPT_PIDS,
		OPT_IGNORE_IP,
		OPT_IGNORE_MAC,
		OPT_PROGRESS,
		OPT_PARALLEL,
		OPT_TLS,
		OPT_AUTHFILE,
		OPT_CAP_ADD,
		OPT_HANDOVER,
		OPT_LAZY_FROM,
	};
	static const struct option longopts[] = {
	    {"import", required_argument, NULL, 'i'},
	    {"name", required_argument, NULL, 'n'},
	    {"keep", no_argument, NULL, 'k'},
	    {"ignore-rootfs", no_argument, NULL, OPT_IGNORE_ROOTFS},
	    {"ignore-volumes", no_argument, NULL, OPT_IGNORE_VOLUMES},
	    CLI_CRIU_ROW_TCP_ESTABLISHED,
	    CLI_CRIU_ROW_FILE_LOCKS,
	    {"print-stats", no_argument, NULL, OPT_STATS},
	    {"lazy-pages-from", required_argument, NULL, OPT_LAZY_FROM},
	    {"insecure-unsigned", no_argument, NULL, OPT_INSECURE},
	    {"volume", required_argument, NULL, 'v'},
	    {"ignore-bind-mounts", no_argument, NULL, OPT_IGNORE_BINDS},
	    {"replace-volumes", no_argument, NULL, OPT_REPLACE_VOLUMES},
	    {"network", required_argument, NULL, OPT_NETWORK},
	    {"memory", required_argument, NULL, OPT_MEMORY},
	    {"pids-limit", required_argument, NULL, OPT_PIDS},
	    {"cap-add", required_argument, NULL, OPT_CAP_ADD},
	    CLI_CRIU_ROW_TCP_CLOSE,
	    {"ignore-static-ip", no_argument, NULL, OPT_IGNORE_IP},
	    {"ignore-static-mac", no_argument, NULL, OPT_IGNORE_MAC},
	    {"publish", required_argument, NULL, 'p'},
	    {"progress", required_argument, NULL, OPT_PROGRESS},
	    {"all", no_argument, NULL, 'a'},
	    {"parallel", required_argument, NULL, OPT_PARALLEL},
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
	    {"authfile", required_argument, NULL, OPT_AUTHFILE},
	    {"handover", no_argument, NULL, OPT_HANDOVER},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct restore_opts opts = {0};
	struct registry_opts pull = {.tls_verify = true};
	bool pull_given = false;
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *ct = NULL;
	struct restore_stats stats;
	cleanup_strv char **volumes = NULL, **publish = NULL, **cap_add = NULL;
	bool print_stats = false, policy_given = false, all = false;
	unsigned parallel = 0;
	enum cli_progress_mode progress = CLI_PROGRESS_AUTO;
	long long bytes;
	unsigned long long n;
	int c, code = 0;

	cli_getopt_reset();
	/* Options may follow the argument, as in `cryo restore REGISTRY/ck:1
	 * --name x` (Podman's order): arguments are collected as getopt meets them. */
	const char *args[2] = {NULL, NULL};
	int nargs = 0;
	for (;;) {
		c = cli_getopt(cli, argc, argv, "i:n:kv:p:ah", longopts, &code);
		if (c == -1) {
			bool dashdash = optind > 0 && optind <= argc && strcmp(argv[optind - 1], "--") == 0;
			if (optind >= argc)
				break;
			if (nargs == 2)
				return cli_usage_error(cli, "at most one container or image");
			args[nargs++] = argv[optind++];
			if (dashdash) {
				while (optind < argc) {
					if (nargs == 2)
						return cli_usage_error(cli, "at most one container or image");
					args[nargs++] = argv[optind++];
				}
				break;
			}
			continue;
		}
		if (cli_criu_flag(c, &opts.criu))
			continue;
		if (c == 'v' || c == OPT_IGNORE_BINDS || c == OPT_REPLACE_VOLUMES || c == OPT_MEMORY ||
		    c == OPT_PIDS || c == OPT_INSECURE || c == OPT_CAP_ADD)
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
		case OPT_STATS:
			print_stats = true;
			break;
		case OPT_PROGRESS:
			if (!cli_progress_parse(optarg, &progress))
				return cli_usage_error(cli, "invalid --progress `%s`: use auto, json or none",
				                       optarg);
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
		case OPT_LAZY_FROM:
			opts.lazy_pages_from = optarg;
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
		case OPT_CAP_ADD:
			strv_push(&cap_add, optarg);
			break;
		case 'a':
			all = true;
			break;
		case OPT_PARALLEL:
			if (!cli_parse_workers(optarg, &parallel))
				return cli_usage_error(cli, "invalid --parallel `%s`: expected 1 to %d",
				                       optarg, CLI_MAX_WORKERS);
			break;
		case OPT_MEMORY:
			if (!cli_parse_bytes(optarg, &bytes) || bytes == 0)
				return cli_usage_error(cli,
				                       "invalid --memory `%s`: expected a number of bytes "
				                       "(k, m, g suffixes allowed)",
				                       optarg);
			opts.memory_limit = bytes;
			break;
		case OPT_PIDS:
			if (!cli_parse_uint64(optarg, &n) || n == 0 || n > INT32_MAX)
				return cli_usage_error(
				    cli, "invalid --pids-limit `%s`: expected a positive number", optarg);
			opts.pids_limit = (int64_t)n;
			break;
		case OPT_TLS:
			pull_given = true;
			if (!optarg || strcmp(optarg, "true") == 0)
				pull.tls_verify = true;
			else if (strcmp(optarg, "false") == 0)
				pull.tls_verify = false;
			else
				return cli_usage_error(cli, "invalid --tls-verify `%s`: use true or false",
				                       optarg);
			break;
		case OPT_AUTHFILE:
			pull_given = true;
			pull.authfile = optarg;
			break;
		case OPT_HANDOVER:
			opts.handover = true;
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			return code;
		}
	}
	const char *ref = args[0];
	if (nargs > 1)
		return cli_usage_error(cli, "at most one container or image");
	if (all && (ref || opts.import_path || opts.name || opts.network || publish ||
	            opts.ignore_static_ip || opts.ignore_static_mac || pull_given))
		return cli_usage_error(
		    cli, "--all restores each container as it was: it takes no container, --import, "
		         "--name, --network, --publish, --ignore-static-ip/mac, --tls-verify or --authfile");
	if (opts.handover && (all || !opts.import_path || strcmp(opts.import_path, "-") != 0))
		return cli_usage_error(cli, "--handover is for `cryo migrate`'s `--import -`");
	if (parallel && !all)
		return cli_usage_error(cli, "--parallel only applies with --all");
	if (all) {
		if (cli_engine(cli, &engine) < 0)
			return EXIT_ENGINE;
		return restore_all(cli, engine, &opts, print_stats, progress, parallel);
	}
	if (!ref && !opts.import_path)
		return cli_usage_error(cli, "name a container, or give --import FILE");
	if (ref && opts.import_path)
		return cli_usage_error(
		    cli, "--import restores a new container: name it with --name, not an argument");
	if (opts.criu.tcp_established && opts.criu.tcp_close)
		return cli_usage_error(cli, "--tcp-established and --tcp-close exclude each other");
	if (opts.lazy_pages_from && !opts.import_path)
		return cli_usage_error(cli, "--lazy-pages-from goes with --import (of a lazy checkpoint)");
	if (pull_given && opts.import_path)
		return cli_usage_error(cli, "--tls-verify and --authfile apply to a checkpoint IMAGE only");
	opts.volumes = volumes;
	opts.publish = publish;
	opts.cap_add = cap_add;
	/* --import -: the archive gets standard input to itself; the runtime,
	 * CRIU and the container's monitor get /dev/null instead. */
	cleanup_close int stream = -1;
	if (opts.import_path && strcmp(opts.import_path, "-") == 0) {
		if (isatty(STDIN_FILENO))
			return cli_usage_error(
			    cli, "--import -: standard input is a terminal, not a file or a pipe");
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
	bool from_image = false;
	if (ref && (code = restore_source(engine, ref, &pull, &from_image)) != 0)
		return code;
	if (policy_given && !opts.import_path && !from_image)
		return cli_usage_error(
		    cli, "-v, --ignore-bind-mounts, --replace-volumes, --memory, "
		         "--pids-limit, --cap-add and --insecure-unsigned apply to --import and "
		         "checkpoint images only");
	if (pull_given && !from_image)
		return cli_usage_error(cli, "--tls-verify and --authfile apply to a checkpoint IMAGE only");
	cli_progress_start(progress);
	int r = from_image ? checkpoint_image_restore(engine, ref, &opts, &ct, &stats, &err)
	                   : restore_container(engine, ref, &opts, &ct, &stats, &err);
	if (r < 0)
		return cli_fail(&err);
	if (stats.notice[0])
		fprintf(stderr, "Warning: restore `%s`: %s\n", ct->name, stats.notice);
	if (opts.handover)
		return restore_handover(engine, ct, &stats, stream);
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
