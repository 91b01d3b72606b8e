/* cryo create / run / start */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "container.h"
#include "logs.h"
#include "session.h"
#include "util.h"

static const char create_usage_head[] = "Usage: cryo %s [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
                                        "Options:\n";
static const char run_only_usage[] =
    "  -d, --detach              run in the background and print the container ID\n"
    "      --detach-keys KEYS    keys that detach an attached run (default ctrl-p,ctrl-q; \"\" for none)\n";
static const char create_usage[] =
    "  -i, --interactive         keep stdin open (attached: forward it)\n"
    "  -t, --tty                 give the container a pseudo-terminal\n"
    "      --name NAME           the container's name\n"
    "      --hostname NAME       the container's host name (default: its ID's first 12 characters)\n"
    "      --label KEY=VALUE     a label, kept in the container's configuration; repeatable\n"
    "      --read-only           mount the root file system read-only (volumes keep their mode)\n"
    "  -v, --volume SRC:DST[:ro] a named volume (created if missing) or an absolute host path\n"
    "      --tmpfs DST[:OPTIONS] a tmpfs at DST (always nosuid,nodev; OPTIONS: size=N[k|m|g|%],\n"
    "                            nr_inodes=N, mode=OCTAL, uid=N, gid=N, ro, noexec, ...);\n"
    "                            checkpoints keep its contents; repeatable\n"
    "  -e, --env KEY=VALUE       set an environment variable\n"
    "  -w, --workdir DIR         working directory in the container\n"
    "  -u, --user USER[:GROUP]   user to run as: names from the image's /etc/passwd\n"
    "                            and /etc/group, or numbers\n"
    "  -m, --memory BYTES        memory limit (suffixes k, m, g allowed)\n"
    "      --pids-limit N        process limit\n"
    "      --network NAME        none (default: a private namespace without interfaces),\n"
    "                            host, or a bridge network (`cryo` is made on first use)\n"
    "      --ip ADDR             a static IPv4 address on the bridge network\n"
    "      --mac-address MAC     a static MAC address on the bridge network\n"
    "  -p, --publish [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]  publish a port (bridge networks); repeatable\n"
    "      --cap-add CAP         add a capability (CAP_NET_ADMIN, net_admin, ALL); repeatable\n"
    "      --cap-drop CAP        drop a capability from the default set; repeatable\n"
    "      --rm                  remove the container when it exits\n\n"
    "The default capabilities are Docker's without CAP_MKNOD; a default seccomp\n"
    "profile refuses namespaces, mounts, keyrings and other host-level calls unless\n"
    "the capability they need is added. `man cryo-run` tells about terminals (-t),\n"
    "stdin (-i) and attaching.\n";

/* Parse create/run options; returns -1 on success (continue), or an exit code. */
static int parse_create(struct cli *cli, int argc, char **argv, bool allow_detach,
                        struct container_create_opts *o, bool *detach, const char **detach_keys)
{
#define CREATE_OPTIONS                                                                               \
	{"name", required_argument, NULL, 'n'}, {"volume", required_argument, NULL, 'v'},            \
	    {"env", required_argument, NULL, 'e'}, {"workdir", required_argument, NULL, 'w'},        \
	    {"user", required_argument, NULL, 'u'}, {"memory", required_argument, NULL, 'm'},        \
	    {"pids-limit", required_argument, NULL, 'L'}, {"network", required_argument, NULL, 'N'}, \
	    {"rm", no_argument, NULL, 'r'}, {"cap-add", required_argument, NULL, 'A'},               \
	    {"cap-drop", required_argument, NULL, 'D'}, {"interactive", no_argument, NULL, 'i'},     \
	    {"tty", no_argument, NULL, 't'}, {"hostname", required_argument, NULL, 'H'},             \
	    {"read-only", no_argument, NULL, 'R'}, {"label", required_argument, NULL, 'l'},          \
	    {"publish", required_argument, NULL, 'p'}, {"ip", required_argument, NULL, 'I'},         \
	    {"mac-address", required_argument, NULL, 'M'}, {"tmpfs", required_argument, NULL, 'T'},  \
	{                                                                                            \
		"help", no_argument, NULL, 'h'                                                       \
	}
	static const struct option create_longopts[] = {CREATE_OPTIONS, {}};
	static const struct option run_longopts[] = {{"detach", no_argument, NULL, 'd'},
	                                             {"detach-keys", required_argument, NULL, 'K'},
	                                             CREATE_OPTIONS,
	                                             {}};
#undef CREATE_OPTIONS
	int c, code = 0;
	long long bytes;
	unsigned long long n;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, allow_detach ? "dv:e:w:u:m:p:hit" : "v:e:w:u:m:p:hit",
	                       allow_detach ? run_longopts : create_longopts, &code)) != -1) {
		switch (c) {
		case 'd':
			*detach = true;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'v':
			strv_push(&o->volumes, optarg);
			break;
		case 'T':
			strv_push(&o->tmpfs, optarg);
			break;
		case 'e':
			strv_push(&o->env, optarg);
			break;
		case 'w':
			o->workdir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'm':
			if (!cli_parse_bytes(optarg, &bytes) || bytes == 0)
				return cli_usage_error(cli,
				                       "invalid --memory `%s`: expected a number of bytes "
				                       "(k, m, g suffixes allowed)",
				                       optarg);
			o->memory_limit = bytes;
			break;
		case 'p':
			strv_push(&o->publish, optarg);
			break;
		case 'I':
			o->ip = optarg;
			break;
		case 'M':
			o->mac = optarg;
			break;
		case 'L':
			if (!cli_parse_uint64(optarg, &n) || n == 0 || n > INT32_MAX)
				return cli_usage_error(
				    cli, "invalid --pids-limit `%s`: expected a positive number", optarg);
			o->pids_limit = (int64_t)n;
			break;
		case 'N':
			o->network = optarg;
			break;
		case 'r':
			o->auto_remove = true;
			break;
		case 'A':
			strv_push(&o->cap_add, optarg);
			break;
		case 'D':
			strv_push(&o->cap_drop, optarg);
			break;
		case 'i':
			o->interactive = true;
			break;
		case 'H':
			o->hostname = optarg;
			break;
		case 'R':
			o->read_only = true;
			break;
		case 'l':
			strv_push(&o->labels, optarg);
			break;
		case 't':
			o->terminal = true;
			break;
		case 'K': {
			cleanup_error cryo_err kerr = NULL;
			if (!cli_detach_keys_valid(optarg, &kerr))
				return cli_usage_error(cli, "%s", kerr->msg);
			*detach_keys = optarg;
			break;
		}
		case 'h':
			printf(create_usage_head, argv[0]);
			fputs(allow_detach ? run_only_usage : "", stdout);
			fputs(create_usage, stdout);
			return 0;
		default:
			return code;
		}
	}
	if (optind >= argc)
		return cli_usage_error(cli, "an image is required");
	o->image = argv[optind];
	for (int i = optind + 1; i < argc; i++)
		strv_push(&o->command, argv[i]);
	return -1;
}

static void free_create_opts(struct container_create_opts *o)
{
	strv_free(o->volumes);
	strv_free(o->tmpfs);
	strv_free(o->env);
	strv_free(o->command);
	strv_free(o->cap_add);
	strv_free(o->cap_drop);
	strv_free(o->publish);
	strv_free(o->labels);
}

int cmd_create(struct cli *cli, int argc, char **argv)
{
	struct container_create_opts o = {0};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *c = NULL;
	bool detach = false;
	const char *detach_keys = NULL;
	int code = parse_create(cli, argc, argv, false, &o, &detach, &detach_keys);
	if (code >= 0)
		goto out;
	if (cli_engine(cli, &engine) < 0) {
		code = EXIT_ENGINE;
		goto out;
	}
	if (container_create(engine, &o, &c, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	printf("%s\n", c->id);
	code = 0;
out:
	free_create_opts(&o);
	return code;
}

/* While attached, Ctrl-C and friends go to the container, like podman's sig-proxy. */
static volatile sig_atomic_t pending_signal;
static void remember_signal(int sig)
{
	pending_signal = sig;
}

struct attach_ctx {
	struct cryo_engine *engine;
	const char *id;
};

static void forward_signals(void *data)
{
	struct attach_ctx *ctx = data;
	int sig = pending_signal;
	if (sig) {
		pending_signal = 0;
		container_kill(ctx->engine, ctx->id, sig, NULL);
	}
}

/* run/start -a of a container with -i or -t: the monitor's attach socket
 * carries its stdio. Returns the exit code. */
static int attached_session(struct cryo_engine *engine, const struct container *c, int sock, bool interactive,
                            bool tty, const char *detach_keys, bool remove_after)
{
	cleanup_error cryo_err err = NULL;
	struct cli_session s = {
	    .engine = engine,
	    .id = c->id,
	    .name = c->name,
	    .peer = sock,
	    .stdin_open = interactive,
	    .tty = tty,
	    .detach_keys = detach_keys,
	};
	bool detached = false;
	int exit_code = 0;
	if (cli_session_run(&s, &detached, &err) < 0)
		return cli_fail(&err);
	if (detached)
		return 0;
	if (container_wait(engine, c->id, &exit_code, &err) < 0)
		return cli_fail(&err);
	if (remove_after && container_remove(engine, c->id, true, &err) < 0)
		return cli_fail(&err);
	return exit_code < 0 ? EXIT_ENGINE : exit_code;
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	struct container_create_opts o = {0};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *c = NULL;
	/* Declared before the first goto: its cleanup runs at `out`. */
	cleanup_close int sock = -1;
	bool detach = false;
	const char *detach_keys = NULL;
	int code = parse_create(cli, argc, argv, true, &o, &detach, &detach_keys);
	if (code >= 0)
		goto out;
	/* Attached, we remove the container ourselves once we have its exit code. */
	bool remove_after = o.auto_remove && !detach;
	if (remove_after)
		o.auto_remove = false;
	if (cli_engine(cli, &engine) < 0) {
		code = EXIT_ENGINE;
		goto out;
	}
	if (container_create(engine, &o, &c, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	bool session = !detach && (o.interactive || o.terminal);
	if ((session ? container_start_attached(engine, c->id, NULL, &sock, &err)
	             : container_start(engine, c->id, NULL, &err)) < 0) {
		code = cli_fail(&err);
		/* A container that never started is removed again. */
		container_remove(engine, c->id, true, NULL);
		goto out;
	}
	if (detach) {
		printf("%s\n", c->id);
		code = 0;
		goto out;
	}
	if (session) {
		code =
		    attached_session(engine, c, sock, o.interactive, o.terminal, detach_keys, remove_after);
		goto out;
	}
	struct attach_ctx ctx = {engine, c->id};
	struct sigaction sa = {.sa_handler = remember_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	int exit_code = 0;
	if (logs_copy(engine, c->id, stdout, true, forward_signals, &ctx, &err) < 0 ||
	    container_wait(engine, c->id, &exit_code, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	code = exit_code < 0 ? EXIT_ENGINE : exit_code;
	if (remove_after && container_remove(engine, c->id, true, &err) < 0)
		code = cli_fail(&err);
out:
	free_create_opts(&o);
	return code;
}

int cmd_start(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {{"attach", no_argument, NULL, 'a'},
	                                         {"interactive", no_argument, NULL, 'i'},
	                                         {"detach-keys", required_argument, NULL, 'K'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {}};
	struct cryo_engine *engine;
	bool attach = false, interactive = false;
	const char *detach_keys = NULL;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "aih", longopts, &code)) != -1) {
		if (c == 'a')
			attach = true;
		else if (c == 'i')
			interactive = true;
		else if (c == 'K') {
			cleanup_error cryo_err kerr = NULL;
			if (!cli_detach_keys_valid(optarg, &kerr))
				return cli_usage_error(cli, "%s", kerr->msg);
			detach_keys = optarg;
		} else if (c == 'h') {
			printf("Usage: cryo start [OPTIONS] CONTAINER...\n\n"
			       "Options:\n"
			       "  -a, --attach              attach to the container's output (and terminal)\n"
			       "  -i, --interactive         forward stdin (a container created with -i)\n"
			       "      --detach-keys KEYS    keys that detach (default ctrl-p,ctrl-q; \"\" "
			       "for none)\n");
			return 0;
		} else
			return code;
	}
	if (interactive)
		attach = true;
	if (optind >= argc)
		return cli_usage_error(cli, "at least one container is required");
	if (attach && argc - optind != 1)
		return cli_usage_error(cli, "--attach takes exactly one container");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		cleanup_container struct container *ct = NULL;
		if (attach) {
			struct container_config cfg = {0};
			cleanup_container struct container *look = NULL;
			if (container_get(engine, argv[i], &look, &err) < 0 ||
			    container_config_from_json(look->config, &cfg, &err) < 0)
				return cli_fail(&err);
			bool tty = cfg.terminal, created_interactive = cfg.interactive;
			container_config_free(&cfg);
			if (tty || created_interactive) {
				cleanup_close int sock = -1;
				if (container_start_attached(engine, argv[i], &ct, &sock, &err) < 0)
					return cli_fail(&err);
				return attached_session(engine, ct, sock, created_interactive && interactive,
				                        tty, detach_keys, false);
			}
		}
		if (container_start(engine, argv[i], &ct, &err) < 0) {
			code = cli_fail(&err);
			continue;
		}
		if (!attach) {
			printf("%s\n", argv[i]);
			continue;
		}
		int exit_code = 0;
		if (logs_copy(engine, ct->id, stdout, true, NULL, NULL, &err) < 0 ||
		    container_wait(engine, ct->id, &exit_code, &err) < 0)
			return cli_fail(&err);
		return exit_code < 0 ? EXIT_ENGINE : exit_code;
	}
	return code;
}
